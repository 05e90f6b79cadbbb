//! Withdrawals: the player asks for money out (it is held at once), staff approve or reject it
//! (two people above the tenant's threshold), and payout attempts at a PSP pay it, retried and
//! rechecked within the tenant's policy. The pages are in `pages` (player) and `admin` (staff);
//! every server function checks the session and role itself.

mod admin;
mod pages;

use chrono::{DateTime, Utc};
use leptos::prelude::*;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::withdrawal::{
    ActionKind, AttemptState, Facts, Refusal, RefusalCode, WithdrawalState,
};
use crate::error::{AppError, ErrorCode};
use crate::money::{Currency, Money, SignedMoney};

pub use admin::{WithdrawalDetailPage, WithdrawalQueuePage, WithdrawalSettingsPage};
pub use pages::WithdrawPage;

/// Most withdrawals the player's list and the staff queue show.
pub const WITHDRAWALS_LISTED_MAX: u32 = 100;
/// Longest reason staff may give for a rejection or a manual payout.
pub const REASON_LENGTH_MAX: usize = 500;
/// Longest external reference of a manual payout (a bank transfer id).
pub const EXTERNAL_REFERENCE_LENGTH_MAX: usize = 200;

/// One of the player's withdrawals, as the player sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WithdrawalView {
    pub id: Uuid,
    pub amount: Money,
    pub state: WithdrawalState,
    pub created_at: DateTime<Utc>,
    pub paid_at: Option<DateTime<Utc>>,
    pub reject_reason: Option<String>,
}

/// What the player may withdraw: per currency the available and held funds, and the tenant's
/// limits (major units, any currency).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WithdrawOptions {
    pub balances: Vec<WithdrawableBalance>,
    pub amount_min: Decimal,
    pub amount_max: Decimal,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WithdrawableBalance {
    pub currency: Currency,
    pub available: SignedMoney,
    pub held: SignedMoney,
}

/// One row of the staff queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WithdrawalSummary {
    pub id: Uuid,
    pub player_email: String,
    pub amount: Money,
    pub state: WithdrawalState,
    /// Above the threshold with one approval given: waits for a second staff member.
    pub awaiting_second_approval: bool,
    pub created_at: DateTime<Utc>,
    /// Seconds since the request, on the server's clock (so the page renders it identically).
    pub age_s: i64,
    pub attempts: i64,
}

/// A withdrawal with everything staff need to decide: attempts, timeline, the actions the
/// viewer may take now, and the policy that applies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WithdrawalDetail {
    pub summary: WithdrawalSummary,
    pub needs_two_approvals: bool,
    pub first_approved_by: Option<String>,
    pub approved_by: Option<String>,
    pub reject_reason: Option<String>,
    pub external_reference: Option<String>,
    pub paid_at: Option<DateTime<Utc>>,
    pub attempts: Vec<PayoutAttemptView>,
    pub timeline: Vec<TimelineEntry>,
    pub actions: AllowedActions,
    /// When the retry cooldown ends, while it runs.
    pub retry_allowed_at: Option<DateTime<Utc>>,
    pub attempts_max: u32,
    /// The mock PSP is enabled: staff may script its next payout outcome.
    pub mock_scripting: bool,
    /// The mock's scripted outcomes not used yet for this withdrawal.
    pub pending_scripts: Vec<String>,
    /// Payouts the PSP made although nothing was held for them any more.
    pub duplicate_payouts: Vec<DuplicatePayout>,
}

/// A payout the PSP made twice (a late success after the withdrawal was rejected or paid by
/// another attempt), booked against the player by a recovery journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DuplicatePayout {
    pub attempt_number: i32,
    pub journal_id: Uuid,
    pub booked_at: DateTime<Utc>,
    /// Taken back from the player's available cash.
    pub from_cash: SignedMoney,
    /// What the cash did not cover: the player owes it (their receivable).
    pub receivable: SignedMoney,
}

/// What the viewer may do with the withdrawal now (the server checks again on every call).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AllowedActions {
    pub approve: bool,
    pub reject: bool,
    pub start_payout: bool,
    pub retry_payout: bool,
    pub recheck: bool,
    pub mark_paid: bool,
}

impl AllowedActions {
    /// The buttons of a withdrawal in `state`: what the transition table offers, and nothing to
    /// a viewer whose role may not act.
    pub fn offered(state: WithdrawalState, facts: &Facts, may_act: bool) -> AllowedActions {
        let offers = |action| may_act && state.offers(action, facts);
        AllowedActions {
            approve: offers(ActionKind::Approve),
            reject: offers(ActionKind::Reject),
            start_payout: offers(ActionKind::StartPayout),
            retry_payout: offers(ActionKind::RetryPayout),
            recheck: offers(ActionKind::Recheck),
            mark_paid: offers(ActionKind::MarkPaid),
        }
    }
}

/// A refusal of the transition table, as the caller reads it.
impl From<Refusal> for AppError {
    fn from(refusal: Refusal) -> AppError {
        let code = match refusal.code() {
            RefusalCode::InvalidStateTransition => ErrorCode::InvalidStateTransition,
            RefusalCode::Forbidden => ErrorCode::Forbidden,
            RefusalCode::RetryLimitReached => ErrorCode::RetryLimitReached,
            RefusalCode::RetryCooldown => ErrorCode::RetryCooldown,
        };
        AppError {
            retry_after_s: refusal.retry_after_s(),
            ..AppError::new(code, refusal.message())
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayoutAttemptView {
    pub number: i32,
    pub provider: String,
    pub idempotency_key: String,
    pub provider_reference: Option<String>,
    pub state: AttemptState,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub checks: i32,
}

/// One line of a withdrawal's history: a state change or a staff action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineEntry {
    pub at: DateTime<Utc>,
    pub action: String,
    pub from_state: Option<String>,
    pub to_state: String,
    /// Who: a staff member's name, "player", or the provider or job.
    pub actor: String,
    pub attempt_number: Option<i32>,
    pub reason: Option<String>,
    /// The provider's answer or other context, as JSON text.
    pub detail: Option<String>,
}

/// The answer to a staff action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WithdrawalReceipt {
    pub withdrawal_id: Uuid,
    pub state: WithdrawalState,
    /// True when this action's key had been used already: nothing happened again.
    pub replayed: bool,
    pub message: String,
}

/// A tenant's withdrawal policy (amounts in major units, any currency).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WithdrawalPolicy {
    pub amount_min: Decimal,
    pub amount_max: Decimal,
    /// Above this amount two different staff members must approve (currencies without their own).
    pub approval_threshold: Decimal,
    /// Currencies with their own two-approval threshold (major units of that currency).
    pub approval_thresholds: Vec<(crate::money::Currency, Decimal)>,
    pub payout_attempts_max: u32,
    pub retry_cooldown_s: u32,
    pub recheck_age_s: u32,
    /// How long after a payout call certainly ended the PSP's "no such payout" is believed.
    pub not_found_grace_s: u32,
    pub payout_provider: String,
    /// The providers this server can pay out with.
    pub providers: Vec<String>,
    pub updated_at: Option<DateTime<Utc>>,
    /// The viewer is an owner.
    pub editable: bool,
}

/// An outcome the mock PSP can be told to give a withdrawal's next payout.
pub const MOCK_OUTCOMES: [(&str, &str); 4] = [
    ("succeed", "Succeed"),
    ("fail", "Fail with a code"),
    ("hang", "Hang (no answer: unknown)"),
    ("lose_answer", "Pay but lose the answer"),
];

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
        withdrawal_id: Uuid,
    ) -> Result<WithdrawalDetail, AppError>;
    async fn act(
        &self,
        ctx: &crate::api::RequestCtx,
        withdrawal_id: Uuid,
        action: StaffAction,
        idempotency_key: String,
    ) -> Result<WithdrawalReceipt, AppError>;
    async fn recheck(
        &self,
        ctx: &crate::api::RequestCtx,
        withdrawal_id: Uuid,
    ) -> Result<WithdrawalReceipt, AppError>;
    async fn script_mock_payout(
        &self,
        ctx: &crate::api::RequestCtx,
        withdrawal_id: Uuid,
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

/// The staff queue's filters, as typed in the form (validated on the server).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueFilter {
    pub state: Option<String>,
    pub amount_min: Option<String>,
    pub amount_max: Option<String>,
    pub older_than_hours: Option<String>,
}

/// A staff action that changes a withdrawal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum StaffAction {
    Approve,
    Reject {
        reason: String,
    },
    StartPayout,
    RetryPayout,
    MarkPaid {
        reason: String,
        external_reference: String,
    },
}

impl StaffAction {
    pub fn kind(&self) -> ActionKind {
        match self {
            StaffAction::Approve => ActionKind::Approve,
            StaffAction::Reject { .. } => ActionKind::Reject,
            StaffAction::StartPayout => ActionKind::StartPayout,
            StaffAction::RetryPayout => ActionKind::RetryPayout,
            StaffAction::MarkPaid { .. } => ActionKind::MarkPaid,
        }
    }

    /// The action's name in keys, the timeline and the audit log.
    pub fn name(&self) -> &'static str {
        self.kind().name()
    }
}

/// The settings form, as typed (validated on the server).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyUpdate {
    pub amount_min: String,
    pub amount_max: String,
    pub approval_threshold: String,
    /// Per-currency thresholds, `JPY 150000, TRY 40000`; empty: none.
    #[serde(default)]
    pub approval_thresholds: String,
    pub payout_attempts_max: String,
    pub retry_cooldown_s: String,
    pub recheck_age_s: String,
    pub not_found_grace_s: String,
    pub payout_provider: String,
}

/// The action key a button sends: one per withdrawal and action (and attempt, for a retry), so
/// a double click or a second tab acts once.
pub fn action_key(action: &str, withdrawal_id: Uuid, attempt_number: Option<i64>) -> String {
    match attempt_number {
        Some(number) => format!("{action}:{withdrawal_id}:{number}"),
        None => format!("{action}:{withdrawal_id}"),
    }
}

/// What the logged-in player may withdraw.
#[server(endpoint = "withdrawals/options")]
pub async fn load_withdraw_options() -> Result<WithdrawOptions, AppError> {
    crate::api::call::<dyn WithdrawalsApi, _, _, _>(
        |api, ctx| async move { api.options(&ctx).await },
    )
    .await
}

/// Requests a withdrawal: the amount is held at once. The key is one per click intent.
#[server(endpoint = "withdrawals/request")]
pub async fn request_withdrawal(
    amount: String,
    currency: String,
    idempotency_key: String,
) -> Result<WithdrawalView, AppError> {
    crate::api::call::<dyn WithdrawalsApi, _, _, _>(|api, ctx| async move {
        api.request(&ctx, amount, currency, idempotency_key).await
    })
    .await
}

/// The logged-in player's withdrawals, newest first.
#[server(endpoint = "withdrawals/mine")]
pub async fn my_withdrawals() -> Result<Vec<WithdrawalView>, AppError> {
    crate::api::call::<dyn WithdrawalsApi, _, _, _>(|api, ctx| async move { api.mine(&ctx).await })
        .await
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
    crate::api::call::<dyn WithdrawalsApi, _, _, _>(|api, ctx| async move {
        api.queue(&ctx, filter).await
    })
    .await
}

/// Any staff role: one withdrawal with its attempts and timeline.
#[server(endpoint = "admin/withdrawals/detail")]
pub async fn load_withdrawal(withdrawal_id: Uuid) -> Result<WithdrawalDetail, AppError> {
    crate::api::call::<dyn WithdrawalsApi, _, _, _>(|api, ctx| async move {
        api.detail(&ctx, withdrawal_id).await
    })
    .await
}

#[cfg(feature = "ssr")]
async fn act(
    withdrawal_id: Uuid,
    action: StaffAction,
    idempotency_key: String,
) -> Result<WithdrawalReceipt, AppError> {
    crate::api::call::<dyn WithdrawalsApi, _, _, _>(|api, ctx| async move {
        api.act(&ctx, withdrawal_id, action, idempotency_key).await
    })
    .await
}

/// Finance or owner: approves (above the threshold, the first or the second approval).
#[server(endpoint = "admin/withdrawals/approve")]
pub async fn approve_withdrawal(
    withdrawal_id: Uuid,
    idempotency_key: String,
) -> Result<WithdrawalReceipt, AppError> {
    act(withdrawal_id, StaffAction::Approve, idempotency_key).await
}

/// Finance or owner: rejects with a reason; the held funds go back to the player.
#[server(endpoint = "admin/withdrawals/reject")]
pub async fn reject_withdrawal(
    withdrawal_id: Uuid,
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
    withdrawal_id: Uuid,
    idempotency_key: String,
) -> Result<WithdrawalReceipt, AppError> {
    act(withdrawal_id, StaffAction::StartPayout, idempotency_key).await
}

/// Finance or owner: a new attempt after a failed one, within the retry policy. An attempt
/// whose outcome is unknown is rechecked first, never retried blind.
#[server(endpoint = "admin/withdrawals/retry-payout")]
pub async fn retry_payout(
    withdrawal_id: Uuid,
    idempotency_key: String,
) -> Result<WithdrawalReceipt, AppError> {
    act(withdrawal_id, StaffAction::RetryPayout, idempotency_key).await
}

/// Finance or owner: records a payout made outside any PSP (reason and reference required).
#[server(endpoint = "admin/withdrawals/mark-paid")]
pub async fn mark_withdrawal_paid(
    withdrawal_id: Uuid,
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
pub async fn recheck_payout(withdrawal_id: Uuid) -> Result<WithdrawalReceipt, AppError> {
    crate::api::call::<dyn WithdrawalsApi, _, _, _>(|api, ctx| async move {
        api.recheck(&ctx, withdrawal_id).await
    })
    .await
}

/// Finance or owner, mock PSP only (never in production): the outcome of this withdrawal's
/// next payout at the mock.
#[server(endpoint = "admin/withdrawals/mock-script")]
pub async fn script_mock_payout(
    withdrawal_id: Uuid,
    outcome: String,
    failure_code: Option<String>,
) -> Result<WithdrawalReceipt, AppError> {
    crate::api::call::<dyn WithdrawalsApi, _, _, _>(|api, ctx| async move {
        api.script_mock_payout(&ctx, withdrawal_id, outcome, failure_code)
            .await
    })
    .await
}

/// Any staff role: the tenant's withdrawal policy.
#[server(endpoint = "admin/settings/withdrawals")]
pub async fn load_withdrawal_policy() -> Result<WithdrawalPolicy, AppError> {
    crate::api::call::<dyn WithdrawalsApi, _, _, _>(
        |api, ctx| async move { api.policy(&ctx).await },
    )
    .await
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
        crate::api::call::<dyn WithdrawalsApi, _, _, _>(|api, ctx| async move {
            api.save_policy(&ctx, update).await
        })
        .await
    }
}
pub use policy_save::*;
