//! Withdrawals and payout attempts as stored, decoded once into their domain types (an
//! unknown stored state or an unreadable amount is an error, never a state to guess), and the
//! one way a change is recorded: a timeline row for staff and an audit event, in the
//! transaction that makes the change.

use app::domain::ids::{AttemptId, PlayerId, StaffId, TenantId, WithdrawalId};
use app::domain::money::{Currency, Money};
use app::domain::withdrawal::{AttemptState, Facts, FirstApproval, LatestAttempt, WithdrawalState};
use app::withdrawals::{PayoutAttemptView, WithdrawalView};
use chrono::{DateTime, Utc};
use sqlx::FromRow;
use sqlx::postgres::PgRow;
use uuid::Uuid;

use super::payout::{MANUAL_PROVIDER, NOT_FOUND_AT_PROVIDER};
use super::policy::Policy;
use crate::audit::{self, Actor, AuditEvent};

/// A withdrawal: its amount is money, its state one of the six.
#[derive(Debug, Clone)]
pub struct Withdrawal {
    pub id: WithdrawalId,
    pub tenant_id: TenantId,
    pub player_id: PlayerId,
    pub amount: Money,
    pub state: WithdrawalState,
    pub request_sha256: Vec<u8>,
    pub first_approved_by: Option<StaffId>,
    pub approved_by: Option<StaffId>,
    pub reject_reason: Option<String>,
    pub paid_at: Option<DateTime<Utc>>,
    pub external_reference: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// The `withdrawals` columns a [`Withdrawal`] is made of.
#[derive(FromRow)]
struct WithdrawalRecord {
    #[sqlx(try_from = "Uuid")]
    id: WithdrawalId,
    tenant_id: TenantId,
    player_id: PlayerId,
    amount_minor: i64,
    currency: String,
    #[sqlx(try_from = "String")]
    state: WithdrawalState,
    request_sha256: Vec<u8>,
    first_approved_by: Option<StaffId>,
    approved_by: Option<StaffId>,
    reject_reason: Option<String>,
    paid_at: Option<DateTime<Utc>>,
    external_reference: Option<String>,
    created_at: DateTime<Utc>,
}

impl<'r> FromRow<'r, PgRow> for Withdrawal {
    fn from_row(row: &'r PgRow) -> Result<Withdrawal, sqlx::Error> {
        let record = WithdrawalRecord::from_row(row)?;
        let amount = Currency::parse(&record.currency)
            .and_then(|currency| Money::from_minor_units(record.amount_minor, currency))
            .map_err(|error| sqlx::Error::ColumnDecode {
                index: "amount_minor".into(),
                source: Box::new(error),
            })?;
        Ok(Withdrawal {
            id: record.id,
            tenant_id: record.tenant_id,
            player_id: record.player_id,
            amount,
            state: record.state,
            request_sha256: record.request_sha256,
            first_approved_by: record.first_approved_by,
            approved_by: record.approved_by,
            reject_reason: record.reject_reason,
            paid_at: record.paid_at,
            external_reference: record.external_reference,
            created_at: record.created_at,
        })
    }
}

impl Withdrawal {
    pub fn view(&self) -> WithdrawalView {
        WithdrawalView {
            id: self.id,
            amount: self.amount,
            state: self.state,
            created_at: self.created_at,
            paid_at: self.paid_at,
            reject_reason: self.reject_reason.clone(),
        }
    }

    /// The fields an audit event's `before` shows.
    pub fn snapshot(&self) -> serde_json::Value {
        serde_json::json!({
            "state": self.state.as_str(),
            "amount_minor": self.amount.to_minor_units(),
            "currency": self.amount.currency().code(),
            "first_approved_by": self.first_approved_by,
            "approved_by": self.approved_by,
        })
    }
}

/// One of the tenant's withdrawals; another tenant's id is not found.
pub async fn find_withdrawal(
    conn: &mut sqlx::PgConnection,
    tenant_id: TenantId,
    withdrawal_id: WithdrawalId,
) -> Result<Option<Withdrawal>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM withdrawals WHERE tenant_id = $1 AND id = $2")
        .bind(tenant_id)
        .bind(withdrawal_id.0)
        .fetch_optional(conn)
        .await
}

/// Locks one of the tenant's withdrawals for the rest of the transaction; another tenant's id is
/// not found.
pub async fn lock_withdrawal(
    conn: &mut sqlx::PgConnection,
    tenant_id: TenantId,
    withdrawal_id: WithdrawalId,
) -> Result<Option<Withdrawal>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM withdrawals WHERE tenant_id = $1 AND id = $2 FOR UPDATE")
        .bind(tenant_id)
        .bind(withdrawal_id.0)
        .fetch_optional(conn)
        .await
}

/// Locks the withdrawal an attempt belongs to (any tenant: the attempt names it).
pub async fn lock_withdrawal_of(
    conn: &mut sqlx::PgConnection,
    withdrawal_id: WithdrawalId,
) -> Result<Withdrawal, sqlx::Error> {
    sqlx::query_as("SELECT * FROM withdrawals WHERE id = $1 FOR UPDATE")
        .bind(withdrawal_id.0)
        .fetch_one(conn)
        .await
}

/// A payout attempt.
#[derive(Debug, Clone, FromRow)]
pub struct PayoutAttempt {
    #[sqlx(try_from = "Uuid")]
    pub id: AttemptId,
    pub tenant_id: TenantId,
    #[sqlx(try_from = "Uuid")]
    pub withdrawal_id: WithdrawalId,
    pub attempt_number: i32,
    pub provider: String,
    pub idempotency_key: String,
    pub provider_reference: Option<String>,
    #[sqlx(try_from = "String")]
    pub state: AttemptState,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub checks: i32,
    /// When the call that sent it to the PSP last started (`None`: at `created_at`).
    pub sent_at: Option<DateTime<Utc>>,
}

impl PayoutAttempt {
    /// Failed only because the PSP had no record of it, not by the PSP's own word: the payout
    /// may still exist, so it is never given up on for a new key.
    pub fn failure_inferred(&self) -> bool {
        self.state == AttemptState::Failed
            && self.error_code.as_deref() == Some(NOT_FOUND_AT_PROVIDER)
    }

    pub fn view(&self) -> PayoutAttemptView {
        PayoutAttemptView {
            number: self.attempt_number,
            provider: self.provider.clone(),
            idempotency_key: self.idempotency_key.clone(),
            provider_reference: self.provider_reference.clone(),
            state: self.state,
            error_code: self.error_code.clone(),
            error_message: self.error_message.clone(),
            created_at: self.created_at,
            finished_at: self.finished_at,
            checks: self.checks,
        }
    }
}

/// One attempt, as it is now.
pub async fn attempt(
    conn: &mut sqlx::PgConnection,
    attempt_id: AttemptId,
) -> Result<PayoutAttempt, sqlx::Error> {
    sqlx::query_as("SELECT * FROM payout_attempts WHERE id = $1")
        .bind(attempt_id.0)
        .fetch_one(conn)
        .await
}

/// The withdrawal's latest attempt (the one a retry or recheck is about).
pub async fn latest_attempt(
    conn: &mut sqlx::PgConnection,
    withdrawal_id: WithdrawalId,
) -> Result<Option<PayoutAttempt>, sqlx::Error> {
    sqlx::query_as(
        "SELECT * FROM payout_attempts WHERE withdrawal_id = $1
          ORDER BY attempt_number DESC LIMIT 1",
    )
    .bind(withdrawal_id.0)
    .fetch_optional(conn)
    .await
}

/// The withdrawal's attempts, first to latest.
pub async fn attempts_of(
    conn: &mut sqlx::PgConnection,
    withdrawal_id: WithdrawalId,
) -> Result<Vec<PayoutAttempt>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM payout_attempts WHERE withdrawal_id = $1 ORDER BY attempt_number")
        .bind(withdrawal_id.0)
        .fetch_all(conn)
        .await
}

/// What the transition table needs besides the withdrawal's state, as `staff_id` about to act
/// sees it; `attempts` first to latest.
pub fn facts(
    withdrawal: &Withdrawal,
    attempts: &[PayoutAttempt],
    policy: &Policy,
    staff_id: StaffId,
    now: DateTime<Utc>,
) -> Facts {
    let amount = withdrawal.amount;
    let first_approval = match withdrawal.first_approved_by {
        None => FirstApproval::NotGiven,
        Some(id) if id == staff_id => FirstApproval::ByActor,
        Some(_) => FirstApproval::ByOther,
    };
    Facts {
        needs_two_approvals: amount.amount() > policy.approval_threshold_for(amount.currency()),
        first_approval,
        open_attempt: attempts
            .iter()
            .find(|attempt| attempt.state.is_open())
            .map(|attempt| attempt.attempt_number),
        latest: attempts.last().map(|latest| LatestAttempt {
            number: latest.attempt_number,
            state: latest.state,
            failure_inferred: latest.failure_inferred(),
            ended_at: latest.finished_at.unwrap_or(latest.created_at),
        }),
        attempts_at_provider: attempts
            .iter()
            .filter(|attempt| attempt.provider != MANUAL_PROVIDER)
            .count() as i64,
        attempts_max: policy.payout_attempts_max,
        retry_cooldown_s: policy.retry_cooldown_s,
        now,
    }
}

/// One change to a withdrawal, as the timeline and the audit log record it.
pub struct Change<'a> {
    pub withdrawal: &'a Withdrawal,
    /// `approved`, `payout_failed`, …: the timeline's action, and `withdrawal.<action>` in the
    /// audit log.
    pub action: &'a str,
    /// `None` when the change creates the withdrawal.
    pub from_state: Option<WithdrawalState>,
    pub to_state: WithdrawalState,
    pub actor: Actor,
    pub attempt_number: Option<i32>,
    pub reason: Option<String>,
    pub detail: Option<serde_json::Value>,
    /// The staff action and its key, when a staff action made the change.
    pub staff_action: Option<&'a str>,
    pub idempotency_key: Option<String>,
    pub request_id: Option<String>,
    pub at: DateTime<Utc>,
}

/// Writes the timeline row of `change` and queues its audit event for the chainer (no lock on
/// the brand's chain head: withdrawals of one brand do not wait for each other's commits).
pub async fn record(conn: &mut sqlx::PgConnection, change: Change<'_>) -> Result<(), sqlx::Error> {
    let withdrawal = change.withdrawal;
    sqlx::query(
        "INSERT INTO withdrawal_events
             (id, tenant_id, withdrawal_id, action, from_state, to_state, actor_type, actor_id,
              attempt_number, reason, detail, staff_action, idempotency_key, at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
    )
    .bind(Uuid::new_v4())
    .bind(withdrawal.tenant_id)
    .bind(withdrawal.id.0)
    .bind(change.action)
    .bind(change.from_state.map(WithdrawalState::as_str))
    .bind(change.to_state.as_str())
    .bind(actor_type(&change.actor))
    .bind(actor_id(&change.actor))
    .bind(change.attempt_number)
    .bind(&change.reason)
    .bind(&change.detail)
    .bind(change.staff_action)
    .bind(&change.idempotency_key)
    .bind(change.at)
    .execute(&mut *conn)
    .await?;
    let mut after = serde_json::json!({"state": change.to_state.as_str()});
    if let Some(number) = change.attempt_number {
        after["attempt_number"] = number.into();
    }
    if let Some(detail) = &change.detail {
        after["detail"] = detail.clone();
    }
    audit::queue(
        conn,
        &AuditEvent {
            tenant_id: withdrawal.tenant_id,
            actor: change.actor,
            action: format!("withdrawal.{}", change.action),
            target_type: "withdrawal".into(),
            target_id: withdrawal.id.to_string(),
            before: change.from_state.map(|_| withdrawal.snapshot()),
            after: Some(after),
            reason: change.reason,
            request_id: change.request_id,
            idempotency_key: change.idempotency_key,
            ip: None,
            at: change.at,
        },
    )
    .await?;
    Ok(())
}

fn actor_type(actor: &Actor) -> &'static str {
    match actor {
        Actor::Staff(_) => "staff",
        Actor::Player(_) => "player",
        Actor::Provider(_) => "provider",
        Actor::System(_) => "system",
    }
}

/// A UUID for people, a name for providers and jobs (also the scope of staff action keys).
pub fn actor_id(actor: &Actor) -> String {
    match actor {
        Actor::Staff(id) => id.to_string(),
        Actor::Player(id) => id.to_string(),
        Actor::Provider(name) | Actor::System(name) => name.clone(),
    }
}
