//! Creating an attempt and sending it to its PSP; no usable answer leaves it `unknown`.

use app::domain::ids::StaffId;
use app::domain::withdrawal::{AttemptStep, Report};
use app::error::{AppError, ErrorCode};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{MANUAL_PROVIDER, PAYOUT_CALL_TIMEOUT, apply_payout_status};
use crate::audit::Actor;
use crate::error::ServerResult;
use crate::psp::webhooks::Outcome;
use crate::psp::{PayoutOutcome, PayoutRequest, PayoutStatus, PspError};
use crate::services::Services;
use crate::withdrawals::model::{Change, PayoutAttempt, Withdrawal, lock_withdrawal_of, record};

/// An attempt Kasa created: what the caller needs to send it.
pub struct NewAttempt {
    pub withdrawal: Withdrawal,
    pub attempt: PayoutAttempt,
}

/// Creates attempt `number` of `withdrawal` (locked by the caller) at `provider`, `pending`, and
/// moves the withdrawal to `paying`. The key sent to the PSP names the withdrawal and the attempt,
/// so it is unique everywhere and the same attempt is never sent under two keys.
pub async fn insert_attempt(
    tx: &mut sqlx::PgConnection,
    withdrawal: &Withdrawal,
    provider: &str,
    staff_id: StaffId,
    recheck_age_s: u32,
    now: DateTime<Utc>,
) -> Result<PayoutAttempt, sqlx::Error> {
    let number: i32 = sqlx::query_scalar(
        "SELECT COALESCE(max(attempt_number), 0) + 1 FROM payout_attempts WHERE withdrawal_id = $1",
    )
    .bind(withdrawal.id.0)
    .fetch_one(&mut *tx)
    .await?;
    let key_prefix = if provider == MANUAL_PROVIDER {
        "manual"
    } else {
        "payout"
    };
    sqlx::query_as(
        "INSERT INTO payout_attempts
             (id, tenant_id, withdrawal_id, attempt_number, provider, idempotency_key, state,
              started_by, created_at, updated_at, next_check_at)
         VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7, $8, $8, $9)
         RETURNING *",
    )
    .bind(Uuid::new_v4())
    .bind(withdrawal.tenant_id)
    .bind(withdrawal.id.0)
    .bind(number)
    .bind(provider)
    .bind(format!("{key_prefix}:{}:{number}", withdrawal.id))
    .bind(staff_id)
    .bind(now)
    .bind(now + chrono::Duration::seconds(i64::from(recheck_age_s)))
    .fetch_one(&mut *tx)
    .await
}

/// Sends a committed `pending` attempt to its PSP and applies the answer through the same path
/// as a webhook. No answer (timeout, connection error) leaves the attempt `unknown`, for a
/// recheck: it is never retried blind.
pub async fn send_payout(services: &Services, new: &NewAttempt) -> ServerResult<()> {
    let attempt = &new.attempt;
    let provider = services.providers().get(&attempt.provider).ok_or_else(|| {
        AppError::new(
            ErrorCode::ProviderUnavailable,
            format!("The payout provider {} is not enabled.", attempt.provider),
        )
    })?;
    let request = PayoutRequest {
        tenant_id: new.withdrawal.tenant_id,
        withdrawal_id: new.withdrawal.id.0,
        attempt_id: attempt.id.0,
        player_id: new.withdrawal.player_id,
        amount: new.withdrawal.amount,
        idempotency_key: attempt.idempotency_key.clone(),
    };
    // When the call starts: "not found" is believed only after it has certainly ended.
    sqlx::query("UPDATE payout_attempts SET sent_at = $2 WHERE id = $1")
        .bind(attempt.id.0)
        .bind(services.now())
        .execute(services.pool())
        .await?;
    let answer = tokio::time::timeout(PAYOUT_CALL_TIMEOUT, provider.create_payout(&request))
        .await
        .unwrap_or_else(|_| {
            Err(PspError::Unknown {
                provider: attempt.provider.clone(),
                message: format!("no answer within {} s", PAYOUT_CALL_TIMEOUT.as_secs()),
            })
        });
    let status = match answer {
        Ok(status) => status,
        Err(PspError::Rejected { code, message, .. }) => failed_status(attempt, code, message),
        Err(PspError::Unsupported { operation, .. }) => failed_status(
            attempt,
            "unsupported".into(),
            format!("{} does not support {operation}.", attempt.provider),
        ),
        Err(error) => {
            tracing::warn!(attempt = %attempt.idempotency_key, %error, "payout answer unknown");
            return mark_unknown(services, attempt, &error.to_string()).await;
        }
    };
    apply_answer(services, attempt, status).await.map(|_| ())
}

/// Applies a PSP's answer about `attempt` in its own transaction (always under our key).
pub(super) async fn apply_answer(
    services: &Services,
    attempt: &PayoutAttempt,
    mut status: PayoutStatus,
) -> ServerResult<Outcome> {
    status.idempotency_key = attempt.idempotency_key.clone();
    let mut tx = services.pool().begin().await?;
    let outcome = apply_payout_status(&mut tx, &attempt.provider, &status, services.now()).await?;
    tx.commit().await?;
    Ok(outcome)
}

/// No usable answer: a `pending` attempt becomes `unknown` (if nothing settled it meanwhile).
async fn mark_unknown(
    services: &Services,
    attempt: &PayoutAttempt,
    message: &str,
) -> ServerResult<()> {
    let now = services.now();
    let mut tx = services.pool().begin().await?;
    let withdrawal = lock_withdrawal_of(&mut tx, attempt.withdrawal_id).await?;
    let current: PayoutAttempt =
        sqlx::query_as("SELECT * FROM payout_attempts WHERE id = $1 FOR UPDATE")
            .bind(attempt.id.0)
            .fetch_one(&mut *tx)
            .await?;
    let step = current
        .state
        .on_report(Report::NoAnswer, current.failure_inferred());
    if step == AttemptStep::MarkUnknown {
        sqlx::query(
            "UPDATE payout_attempts SET state = 'unknown', error_message = $2, updated_at = $3
              WHERE id = $1",
        )
        .bind(attempt.id.0)
        .bind(message)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        record(
            &mut tx,
            Change {
                withdrawal: &withdrawal,
                action: "payout_unknown",
                from_state: Some(withdrawal.state),
                to_state: withdrawal.state,
                actor: Actor::Provider(attempt.provider.clone()),
                attempt_number: Some(attempt.attempt_number),
                reason: Some(message.to_owned()),
                detail: None,
                staff_action: None,
                idempotency_key: None,
                request_id: None,
                at: now,
            },
        )
        .await?;
    }
    Ok(tx.commit().await?)
}

pub(super) fn failed_status(
    attempt: &PayoutAttempt,
    code: String,
    message: String,
) -> PayoutStatus {
    PayoutStatus {
        provider_reference: attempt.provider_reference.clone(),
        idempotency_key: attempt.idempotency_key.clone(),
        outcome: PayoutOutcome::Failed { code, message },
        amount: None,
    }
}
