//! The withdrawals service (`WithdrawalsApi`) and its server functions: the player's options,
//! request and list, the staff queue, detail and actions, the mock PSP's scripting and the
//! tenant's policy. Every server function checks the session and role on the server.

use leptos::prelude::*;

#[cfg(feature = "ssr")]
use super::{PolicyUpdate, QueueFilter, StaffAction};
use super::{
    WithdrawOptions, WithdrawalDetail, WithdrawalPolicy, WithdrawalReceipt, WithdrawalSummary,
    WithdrawalView,
};
use crate::domain::ids::WithdrawalId;
use crate::error::AppError;

#[cfg(feature = "ssr")]
#[async_trait::async_trait]
pub trait WithdrawalsApi: Send + Sync {
    async fn options(&self, ctx: &crate::api::RequestCtx) -> Result<WithdrawOptions, AppError>;
    async fn request(
        &self,
        ctx: &crate::api::RequestCtx,
        amount: String,
        currency: String,
        idempotency_key: String,
    ) -> Result<WithdrawalView, AppError>;
    async fn mine(&self, ctx: &crate::api::RequestCtx) -> Result<Vec<WithdrawalView>, AppError>;
    async fn queue(
        &self,
        ctx: &crate::api::RequestCtx,
        filter: QueueFilter,
    ) -> Result<Vec<WithdrawalSummary>, AppError>;
    async fn detail(
        &self,
        ctx: &crate::api::RequestCtx,
        withdrawal_id: WithdrawalId,
    ) -> Result<WithdrawalDetail, AppError>;
    async fn act(
        &self,
        ctx: &crate::api::RequestCtx,
        withdrawal_id: WithdrawalId,
        action: StaffAction,
        idempotency_key: String,
    ) -> Result<WithdrawalReceipt, AppError>;
    async fn recheck(
        &self,
        ctx: &crate::api::RequestCtx,
        withdrawal_id: WithdrawalId,
    ) -> Result<WithdrawalReceipt, AppError>;
    async fn script_mock_payout(
        &self,
        ctx: &crate::api::RequestCtx,
        withdrawal_id: WithdrawalId,
        outcome: String,
        failure_code: Option<String>,
    ) -> Result<WithdrawalReceipt, AppError>;
    async fn policy(&self, ctx: &crate::api::RequestCtx) -> Result<WithdrawalPolicy, AppError>;
    async fn save_policy(
        &self,
        ctx: &crate::api::RequestCtx,
        update: PolicyUpdate,
    ) -> Result<WithdrawalPolicy, AppError>;
}

/// What the logged-in player may withdraw.
#[server(endpoint = "withdrawals/options")]
pub async fn load_withdraw_options() -> Result<WithdrawOptions, AppError> {
    crate::api::serve!(WithdrawalsApi::options())
}

/// Requests a withdrawal: the amount is held at once. The key is one per click intent.
#[server(endpoint = "withdrawals/request")]
pub async fn request_withdrawal(
    amount: String,
    currency: String,
    idempotency_key: String,
) -> Result<WithdrawalView, AppError> {
    crate::api::serve!(WithdrawalsApi::request(amount, currency, idempotency_key))
}

/// The logged-in player's withdrawals, newest first.
#[server(endpoint = "withdrawals/mine")]
pub async fn my_withdrawals() -> Result<Vec<WithdrawalView>, AppError> {
    crate::api::serve!(WithdrawalsApi::mine())
}

/// Any staff role: the queue, filtered by state, amount (major units) and age.
#[server(endpoint = "admin/withdrawals/list")]
pub async fn list_withdrawals(
    state: Option<String>,
    amount_min: Option<String>,
    amount_max: Option<String>,
    older_than_hours: Option<String>,
) -> Result<Vec<WithdrawalSummary>, AppError> {
    let filter = QueueFilter {
        state,
        amount_min,
        amount_max,
        older_than_hours,
    };
    crate::api::serve!(WithdrawalsApi::queue(filter))
}

/// Any staff role: one withdrawal with its attempts and timeline.
#[server(endpoint = "admin/withdrawals/detail")]
pub async fn load_withdrawal(withdrawal_id: WithdrawalId) -> Result<WithdrawalDetail, AppError> {
    crate::api::serve!(WithdrawalsApi::detail(withdrawal_id))
}

#[cfg(feature = "ssr")]
async fn act(
    withdrawal_id: WithdrawalId,
    action: StaffAction,
    idempotency_key: String,
) -> Result<WithdrawalReceipt, AppError> {
    crate::api::serve!(WithdrawalsApi::act(withdrawal_id, action, idempotency_key))
}

/// Finance or owner: approves (above the threshold, the first or the second approval).
#[server(endpoint = "admin/withdrawals/approve")]
pub async fn approve_withdrawal(
    withdrawal_id: WithdrawalId,
    idempotency_key: String,
) -> Result<WithdrawalReceipt, AppError> {
    act(withdrawal_id, StaffAction::Approve, idempotency_key).await
}

/// Finance or owner: rejects with a reason; the held funds go back to the player.
#[server(endpoint = "admin/withdrawals/reject")]
pub async fn reject_withdrawal(
    withdrawal_id: WithdrawalId,
    reason: String,
    idempotency_key: String,
) -> Result<WithdrawalReceipt, AppError> {
    act(
        withdrawal_id,
        StaffAction::Reject { reason },
        idempotency_key,
    )
    .await
}

/// Finance or owner: sends the first payout attempt to the tenant's payout provider.
#[server(endpoint = "admin/withdrawals/start-payout")]
pub async fn start_payout(
    withdrawal_id: WithdrawalId,
    idempotency_key: String,
) -> Result<WithdrawalReceipt, AppError> {
    act(withdrawal_id, StaffAction::StartPayout, idempotency_key).await
}

/// Finance or owner: a new attempt after a failed one, within the retry policy. An attempt
/// whose outcome is unknown is rechecked first, never retried blind.
#[server(endpoint = "admin/withdrawals/retry-payout")]
pub async fn retry_payout(
    withdrawal_id: WithdrawalId,
    idempotency_key: String,
) -> Result<WithdrawalReceipt, AppError> {
    act(withdrawal_id, StaffAction::RetryPayout, idempotency_key).await
}

/// Finance or owner: records a payout made outside any PSP (reason and reference required).
#[server(endpoint = "admin/withdrawals/mark-paid")]
pub async fn mark_withdrawal_paid(
    withdrawal_id: WithdrawalId,
    reason: String,
    external_reference: String,
    idempotency_key: String,
) -> Result<WithdrawalReceipt, AppError> {
    act(
        withdrawal_id,
        StaffAction::MarkPaid {
            reason,
            external_reference,
        },
        idempotency_key,
    )
    .await
}

/// Finance or owner: asks the PSP for the latest attempt's real state and applies it.
#[server(endpoint = "admin/withdrawals/recheck")]
pub async fn recheck_payout(withdrawal_id: WithdrawalId) -> Result<WithdrawalReceipt, AppError> {
    crate::api::serve!(WithdrawalsApi::recheck(withdrawal_id))
}

/// Finance or owner, mock PSP only (never in production): the outcome of this withdrawal's
/// next payout at the mock.
#[server(endpoint = "admin/withdrawals/mock-script")]
pub async fn script_mock_payout(
    withdrawal_id: WithdrawalId,
    outcome: String,
    failure_code: Option<String>,
) -> Result<WithdrawalReceipt, AppError> {
    crate::api::serve!(WithdrawalsApi::script_mock_payout(
        withdrawal_id,
        outcome,
        failure_code
    ))
}

/// Any staff role: the tenant's withdrawal policy.
#[server(endpoint = "admin/settings/withdrawals")]
pub async fn load_withdrawal_policy() -> Result<WithdrawalPolicy, AppError> {
    crate::api::serve!(WithdrawalsApi::policy())
}

/// The settings form's save in its own module: it takes one argument per form field, more than
/// clippy's default count, and the server macro's browser half does not keep a function's allow.
#[allow(clippy::too_many_arguments)]
mod policy_save {
    use super::*;

    /// Owner only: changes the tenant's withdrawal policy (audited).
    #[server(endpoint = "admin/settings/withdrawals/save")]
    pub async fn save_withdrawal_policy(
        amount_min: String,
        amount_max: String,
        approval_threshold: String,
        payout_attempts_max: String,
        retry_cooldown_s: String,
        recheck_age_s: String,
        not_found_grace_s: String,
        payout_provider: String,
        approval_thresholds: Option<String>,
    ) -> Result<WithdrawalPolicy, AppError> {
        let update = PolicyUpdate {
            amount_min,
            amount_max,
            approval_threshold,
            approval_thresholds: approval_thresholds.unwrap_or_default(),
            payout_attempts_max,
            retry_cooldown_s,
            recheck_age_s,
            not_found_grace_s,
            payout_provider,
        };
        crate::api::serve!(WithdrawalsApi::save_policy(update))
    }
}
pub use policy_save::*;
