//! Withdrawals and payouts on the server: the player's request (funds held at once), the staff
//! queue and actions with maker-checker (`staff`), payout attempts at a PSP with the retry
//! policy, the one path that applies what a PSP says, and the recheck job (`payout`), and each
//! tenant's policy (`policy`). States and transitions are described in
//! `migrations/0006_withdrawals.sql`.

mod model;
mod payout;
pub mod policy;
mod request;
mod staff;

use app::api::RequestCtx;
use app::error::AppError;
use app::withdrawals::{
    PolicyUpdate, QueueFilter, StaffAction, WithdrawOptions, WithdrawalDetail, WithdrawalPolicy,
    WithdrawalReceipt, WithdrawalSummary, WithdrawalView, WithdrawalsApi,
};
use uuid::Uuid;

pub use payout::{
    MANUAL_PROVIDER, NOT_FOUND_AT_PROVIDER, PAYOUT_CALL_TIMEOUT, RECHECK_INTERVAL,
    apply_payout_status,
};

use crate::error::ServerError;
use crate::services::Services;

/// A refusal of the withdrawal's transition table is an answer for the caller.
impl From<app::domain::withdrawal::Refusal> for ServerError {
    fn from(refusal: app::domain::withdrawal::Refusal) -> ServerError {
        ServerError::App(refusal.into())
    }
}

use crate::audit::request_id;

#[async_trait::async_trait]
impl WithdrawalsApi for Services {
    async fn options(&self, ctx: &RequestCtx) -> Result<WithdrawOptions, AppError> {
        Ok(self.withdraw_options(ctx).await?)
    }

    async fn request(
        &self,
        ctx: &RequestCtx,
        amount: String,
        currency: String,
        idempotency_key: String,
    ) -> Result<WithdrawalView, AppError> {
        Ok(self
            .request_withdrawal(ctx, amount, currency, idempotency_key)
            .await?)
    }

    async fn mine(&self, ctx: &RequestCtx) -> Result<Vec<WithdrawalView>, AppError> {
        Ok(self.my_withdrawals(ctx).await?)
    }

    async fn queue(
        &self,
        ctx: &RequestCtx,
        filter: QueueFilter,
    ) -> Result<Vec<WithdrawalSummary>, AppError> {
        Ok(self.withdrawal_queue(ctx, filter).await?)
    }

    async fn detail(
        &self,
        ctx: &RequestCtx,
        withdrawal_id: Uuid,
    ) -> Result<WithdrawalDetail, AppError> {
        Ok(self.withdrawal_detail(ctx, withdrawal_id).await?)
    }

    async fn act(
        &self,
        ctx: &RequestCtx,
        withdrawal_id: Uuid,
        action: StaffAction,
        idempotency_key: String,
    ) -> Result<WithdrawalReceipt, AppError> {
        Ok(self
            .withdrawal_action(ctx, withdrawal_id, action, idempotency_key)
            .await?)
    }

    async fn recheck(
        &self,
        ctx: &RequestCtx,
        withdrawal_id: Uuid,
    ) -> Result<WithdrawalReceipt, AppError> {
        Ok(self.staff_recheck(ctx, withdrawal_id).await?)
    }

    async fn script_mock_payout(
        &self,
        ctx: &RequestCtx,
        withdrawal_id: Uuid,
        outcome: String,
        failure_code: Option<String>,
    ) -> Result<WithdrawalReceipt, AppError> {
        Ok(self
            .script_mock(ctx, withdrawal_id, outcome, failure_code)
            .await?)
    }

    async fn policy(&self, ctx: &RequestCtx) -> Result<WithdrawalPolicy, AppError> {
        Ok(self.policy_view(ctx).await?)
    }

    async fn save_policy(
        &self,
        ctx: &RequestCtx,
        update: PolicyUpdate,
    ) -> Result<WithdrawalPolicy, AppError> {
        Ok(self.save_withdrawal_policy(ctx, update).await?)
    }
}
