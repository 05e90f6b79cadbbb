//! Withdrawals: the player asks for money out (it is held at once), staff approve or reject it
//! (two people above the tenant's threshold), and payout attempts at a PSP pay it, retried and
//! rechecked within the tenant's policy. Here: the types both sides exchange and their rules
//! (the states and the transition table are in `domain::withdrawal`); the service and its server
//! functions are in `api`, the player's page in `pages` and the staff's in `staff_pages`.

pub mod api;
pub mod pages;
pub mod staff_pages;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::ids::WithdrawalId;
use crate::domain::money::{Currency, Money, SignedMoney};
use crate::domain::withdrawal::{
    ActionKind, AttemptState, Facts, Refusal, RefusalCode, WithdrawalState,
};
use crate::error::{AppError, ErrorCode};

/// Most withdrawals the player's list and the staff queue show.
pub const WITHDRAWALS_LISTED_MAX: u32 = 100;
/// Longest reason staff may give for a rejection or a manual payout.
pub const REASON_LENGTH_MAX: usize = 500;
/// Longest external reference of a manual payout (a bank transfer id).
pub const EXTERNAL_REFERENCE_LENGTH_MAX: usize = 200;

/// One of the player's withdrawals, as the player sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WithdrawalView {
    pub id: WithdrawalId,
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
    pub id: WithdrawalId,
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
    pub withdrawal_id: WithdrawalId,
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
    pub approval_thresholds: Vec<(crate::domain::money::Currency, Decimal)>,
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
pub fn action_key(
    action: ActionKind,
    withdrawal_id: WithdrawalId,
    attempt_number: Option<i64>,
) -> String {
    match attempt_number {
        Some(number) => format!("{}:{withdrawal_id}:{number}", action.name()),
        None => format!("{}:{withdrawal_id}", action.name()),
    }
}
