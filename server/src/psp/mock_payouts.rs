//! The mock PSP's payouts (being written with the withdrawals feature).

use super::mock::MockPsp;
use super::{PayoutRequest, PayoutStatus, PspError};

pub async fn create(psp: &MockPsp, request: &PayoutRequest) -> Result<PayoutStatus, PspError> {
    let _ = (psp, request);
    Err(PspError::Unsupported {
        provider: super::mock::NAME.into(),
        operation: "payouts",
    })
}

pub async fn read(psp: &MockPsp, idempotency_key: &str) -> Result<PayoutStatus, PspError> {
    let _ = (psp, idempotency_key);
    Err(PspError::Unsupported {
        provider: super::mock::NAME.into(),
        operation: "payouts",
    })
}
