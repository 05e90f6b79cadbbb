//! The staff's payout actions: start and retry (the next attempt, within the retry policy the
//! transition table applies) and recheck; a retry of an attempt whose outcome is unknown asks
//! the PSP first, never retrying blind.

use app::api::RequestCtx;
use app::domain::ids::{StaffId, WithdrawalId};
use app::domain::withdrawal::{ActionKind, AttemptState, Next, WithdrawalState};
use app::error::{AppError, ErrorCode};
use app::withdrawals::{StaffAction, WithdrawalReceipt};
use chrono::{DateTime, Utc};

use super::actions::{Acting, not_found, receipt, staff_change};
use super::model::{
    self, Change, PayoutAttempt, Withdrawal, attempts_of, facts, find_withdrawal, latest_attempt,
    lock_withdrawal, record,
};
use super::payout::{NewAttempt, insert_attempt, recheck_attempt};
use super::policy::{self, Policy};
use super::request_id;
use crate::audit::Actor;
use crate::auth::StaffMember;
use crate::error::{ServerError, ServerResult};
use crate::services::Services;
use crate::tenants::Tenant;

/// A retry of a withdrawal whose latest attempt is still open (`unknown`) first asks the
/// PSP: an attempt is never retried blind. Returns a receipt when the recheck settled it.
pub(super) async fn recheck_before_retry(
    services: &Services,
    acting: &Acting,
    withdrawal_id: WithdrawalId,
) -> ServerResult<Option<WithdrawalReceipt>> {
    let mut conn = services.pool().acquire().await?;
    let withdrawal = find_withdrawal(&mut conn, acting.tenant.id, withdrawal_id)
        .await?
        .ok_or_else(not_found)?;
    let policy = policy::load(&mut conn, acting.tenant.id).await?;
    let attempts = attempts_of(&mut conn, withdrawal_id).await?;
    drop(conn);
    let facts = facts(
        &withdrawal,
        &attempts,
        &policy,
        acting.staff.id,
        services.now(),
    );
    if withdrawal.state.check(ActionKind::RetryPayout, &facts) != Ok(Next::RecheckFirst) {
        return Ok(None);
    }
    let Some(attempt) = attempts.last() else {
        return Ok(None);
    };
    recheck_attempt(services, attempt).await?;
    let state: String = sqlx::query_scalar("SELECT state FROM withdrawals WHERE id = $1")
        .bind(withdrawal_id.0)
        .fetch_one(services.pool())
        .await?;
    Ok((state == WithdrawalState::Paid.as_str()).then(|| {
        receipt(
            withdrawal_id,
            WithdrawalState::Paid,
            format!(
                "The recheck found attempt {} paid; nothing was retried.",
                attempt.attempt_number
            ),
        )
    }))
}

/// What a payout action ended in, for the person who clicked.
pub(super) async fn payout_receipt(
    services: &Services,
    new: &NewAttempt,
) -> ServerResult<WithdrawalReceipt> {
    let mut conn = services.pool().acquire().await?;
    let state: String = sqlx::query_scalar("SELECT state FROM withdrawals WHERE id = $1")
        .bind(new.withdrawal.id.0)
        .fetch_one(&mut *conn)
        .await?;
    let attempt: PayoutAttempt = sqlx::query_as("SELECT * FROM payout_attempts WHERE id = $1")
        .bind(new.attempt.id.0)
        .fetch_one(&mut *conn)
        .await?;
    let policy = policy::load(&mut conn, new.withdrawal.tenant_id).await?;
    let state = WithdrawalState::try_from(state).map_err(ServerError::internal)?;
    let number = attempt.attempt_number;
    let message = match (state, attempt.state) {
        (WithdrawalState::Paid, _) => format!("Paid out by attempt {number}."),
        (_, AttemptState::Failed) => format!(
            "Attempt {number} failed: {} ({}). The funds stay held. {}",
            attempt
                .error_message
                .as_deref()
                .unwrap_or("no reason given")
                .trim_end_matches('.'),
            attempt.error_code.as_deref().unwrap_or("failed"),
            retry_hint(number, &attempt, &policy)
        ),
        (_, AttemptState::Unknown) => format!(
            "Attempt {number} got no answer from the provider: its outcome is unknown. It is rechecked, never retried blind."
        ),
        _ => format!("Attempt {number} was accepted and is pending at the provider."),
    };
    Ok(receipt(new.withdrawal.id, state, message))
}

pub async fn recheck(
    services: &Services,
    ctx: &RequestCtx,
    tenant: &Tenant,
    staff: &StaffMember,
    withdrawal_id: WithdrawalId,
) -> ServerResult<WithdrawalReceipt> {
    let mut conn = services.pool().acquire().await?;
    let withdrawal = find_withdrawal(&mut conn, tenant.id, withdrawal_id)
        .await?
        .ok_or_else(not_found)?;
    let policy = policy::load(&mut conn, tenant.id).await?;
    let mut attempts = attempts_of(&mut conn, withdrawal_id).await?;
    drop(conn);
    let facts = facts(&withdrawal, &attempts, &policy, staff.id, services.now());
    withdrawal.state.check(ActionKind::Recheck, &facts)?;
    let Some(attempt) = attempts.pop() else {
        return Err(ServerError::internal("a recheck without an attempt"));
    };
    let outcome = recheck_attempt(services, &attempt).await?;
    let now = services.now();
    let mut tx = services.pool().begin().await?;
    let withdrawal = lock_withdrawal(&mut tx, tenant.id, withdrawal_id)
        .await?
        .ok_or_else(not_found)?;
    let after = model::attempt(&mut tx, attempt.id).await?;
    record(
        &mut tx,
        Change {
            withdrawal: &withdrawal,
            action: "rechecked",
            from_state: Some(withdrawal.state),
            to_state: withdrawal.state,
            actor: Actor::Staff(staff.id),
            attempt_number: Some(attempt.attempt_number),
            reason: None,
            detail: Some(serde_json::json!({
                "attempt_state": after.state,
                "applied": outcome.status.as_str(),
                "note": outcome.note,
            })),
            staff_action: None,
            idempotency_key: None,
            request_id: request_id(ctx),
            at: now,
        },
    )
    .await?;
    tx.commit().await?;
    let message = match after.state {
        AttemptState::Succeeded => format!(
            "The provider says attempt {} succeeded: the withdrawal is {}.",
            after.attempt_number,
            withdrawal.state.staff_label()
        ),
        AttemptState::Failed => format!(
            "The provider says attempt {} failed: {}. The funds stay held.",
            after.attempt_number,
            after
                .error_message
                .as_deref()
                .unwrap_or("no reason given")
                .trim_end_matches('.')
        ),
        AttemptState::Pending | AttemptState::Unknown => format!(
            "The provider is still processing attempt {}.",
            after.attempt_number
        ),
    };
    Ok(receipt(withdrawal.id, withdrawal.state, message))
}

fn retry_hint(number: i32, latest: &PayoutAttempt, policy: &Policy) -> String {
    if number as u32 >= policy.payout_attempts_max {
        return "No payout attempts are left: mark it paid manually or reject it.".to_owned();
    }
    format!(
        "A retry is allowed from {} UTC.",
        (latest.finished_at.unwrap_or(latest.created_at)
            + chrono::Duration::seconds(i64::from(policy.retry_cooldown_s)))
        .format("%H:%M:%S")
    )
}

/// Refuses a payout the tenant's provider cannot send, before an attempt exists: an attempt no
/// provider can send would stay pending.
pub(super) fn require_provider(services: &Services, policy: &Policy) -> ServerResult<()> {
    if services.providers().get(&policy.payout_provider).is_none() {
        return Err(AppError::new(
            ErrorCode::ProviderUnavailable,
            format!(
                "The payout provider {} is not enabled here: choose another in the withdrawal settings.",
                policy.payout_provider
            ),
        )
        .into());
    }
    Ok(())
}

/// Checks the retry policy and creates the next attempt (`pending`), moving the withdrawal to
/// `paying`, all under the withdrawal's lock.
pub(super) async fn begin_attempt(
    tx: &mut sqlx::PgConnection,
    acting: &Acting,
    withdrawal: Withdrawal,
    action: &StaffAction,
    next: Next,
    policy: &Policy,
    now: DateTime<Utc>,
) -> Result<NewAttempt, ServerError> {
    let attempt = match next {
        Next::Resend { number } => {
            let latest = latest_attempt(tx, withdrawal.id)
                .await?
                .filter(|latest| latest.attempt_number == number)
                .ok_or_else(|| ServerError::internal("the attempt to resend is gone"))?;
            reopen_for_resend(tx, &latest, acting.staff.id, policy, now).await?
        }
        _ => {
            insert_attempt(
                tx,
                &withdrawal,
                &policy.payout_provider,
                acting.staff.id,
                policy.recheck_age_s,
                now,
            )
            .await?
        }
    };
    sqlx::query("UPDATE withdrawals SET state = 'paying', updated_at = $2 WHERE id = $1")
        .bind(withdrawal.id.0)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    let verb = match (action, next) {
        (StaffAction::StartPayout, _) => "payout_started",
        (_, Next::Resend { .. }) => "payout_resent",
        _ => "payout_retried",
    };
    record(
        tx,
        Change {
            attempt_number: Some(attempt.attempt_number),
            detail: Some(serde_json::json!({
                "provider": attempt.provider,
                "idempotency_key": attempt.idempotency_key,
            })),
            ..staff_change(
                acting,
                &withdrawal,
                verb,
                action,
                WithdrawalState::Paying,
                now,
            )
        },
    )
    .await?;
    Ok(NewAttempt {
        withdrawal,
        attempt,
    })
}

/// Opens an attempt that failed only by inference again, to be sent under its own PSP key.
async fn reopen_for_resend(
    tx: &mut sqlx::PgConnection,
    attempt: &PayoutAttempt,
    staff_id: StaffId,
    policy: &Policy,
    now: DateTime<Utc>,
) -> Result<PayoutAttempt, sqlx::Error> {
    sqlx::query_as(
        "UPDATE payout_attempts
            SET state = 'pending', error_code = NULL, error_message = NULL, finished_at = NULL,
                started_by = $2, updated_at = $3, next_check_at = $4, checks = 0
          WHERE id = $1
         RETURNING *",
    )
    .bind(attempt.id.0)
    .bind(staff_id)
    .bind(now)
    .bind(now + chrono::Duration::seconds(i64::from(policy.recheck_age_s)))
    .fetch_one(&mut *tx)
    .await
}
