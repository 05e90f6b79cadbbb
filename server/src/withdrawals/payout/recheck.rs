//! Rechecking attempts with their PSP: on demand, and the job that looks at attempts stuck in
//! `pending` or `unknown` with a doubling backoff.

use app::error::{AppError, ErrorCode};
use chrono::{DateTime, Utc};

use super::attempt::{apply_answer, failed_status};
use super::{
    MANUAL_PROVIDER, NOT_FOUND_AT_PROVIDER, PAYOUT_CALL_TIMEOUT, RECHECK_BACKOFF_MAX_S,
    RECHECK_BATCH_MAX, RECHECK_INTERVAL,
};
use crate::error::ServerResult;
use crate::psp::PspError;
use crate::psp::webhooks::Outcome;
use crate::services::Services;
use crate::withdrawals::model::PayoutAttempt;
use crate::withdrawals::policy;

/// Asks the PSP for `attempt`'s real state and applies it through the same path as a
/// webhook. A PSP that has no record of it is believed only once the call that sent it has
/// certainly ended (its start plus the call timeout) and the tenant's grace period has
/// passed too (a create may still be on its way, or the PSP's books behind its API); then
/// the attempt failed by inference, which a later `pending` reopens.
pub async fn recheck_attempt(
    services: &Services,
    attempt: &PayoutAttempt,
) -> ServerResult<Outcome> {
    let provider = services.providers().get(&attempt.provider).ok_or_else(|| {
        AppError::new(
            ErrorCode::ProviderUnavailable,
            format!("The payout provider {} is not enabled.", attempt.provider),
        )
    })?;
    let answer = tokio::time::timeout(
        PAYOUT_CALL_TIMEOUT,
        provider.read_payout(&attempt.idempotency_key),
    )
    .await
    .unwrap_or_else(|_| {
        Err(PspError::Unknown {
            provider: attempt.provider.clone(),
            message: "no answer".into(),
        })
    });
    let now = services.now();
    sqlx::query(
        "UPDATE payout_attempts SET checks = checks + 1, last_checked_at = $2 WHERE id = $1",
    )
    .bind(attempt.id.0)
    .bind(now)
    .execute(services.pool())
    .await?;
    match answer {
        Ok(status) => apply_answer(services, attempt, status).await,
        Err(PspError::NotFound { .. }) => {
            let mut conn = services.pool().acquire().await?;
            let policy = policy::load(&mut conn, attempt.tenant_id).await?;
            drop(conn);
            let believed_from = not_found_believed_from(attempt, &policy);
            if now < believed_from {
                return Err(AppError::new(
                    ErrorCode::InvalidStateTransition,
                    format!(
                        "The provider has no record of attempt {} yet; it may still be on its way, so it stays unknown until {} UTC.",
                        attempt.attempt_number,
                        believed_from.format("%Y-%m-%d %H:%M:%S")
                    ),
                ).into());
            }
            let status = failed_status(
                attempt,
                NOT_FOUND_AT_PROVIDER.into(),
                "The provider has no record of this payout: it was never made.".into(),
            );
            apply_answer(services, attempt, status).await
        }
        Err(error) => {
            tracing::warn!(attempt = %attempt.idempotency_key, %error, "payout recheck failed");
            Err(AppError::new(
                ErrorCode::ProviderUnavailable,
                "The payout provider could not be reached; nothing changed. Try again later.",
            )
            .into())
        }
    }
}

impl Services {
    /// Starts the job that rechecks stuck payout attempts. Called once when the router is built.
    pub fn start_withdrawal_workers(&self) {
        let services = self.clone();
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(RECHECK_INTERVAL);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                interval.tick().await;
                match recheck_stuck_payouts(&services).await {
                    Ok(0) => {}
                    Ok(count) => tracing::info!(count, "stuck payout attempts rechecked"),
                    Err(error) => tracing::warn!(%error, "rechecking payout attempts failed"),
                }
            }
        });
    }
}

/// One run of the recheck job: claims attempts in `pending`/`unknown` whose next check is
/// due (`FOR UPDATE SKIP LOCKED`, so several servers share the work), moves their next check
/// out by a doubling backoff (the claim: a crash mid-check just delays it), then rechecks
/// each. Returns how many were rechecked.
pub async fn recheck_stuck_payouts(services: &Services) -> Result<usize, sqlx::Error> {
    let now = services.now();
    let claimed: Vec<PayoutAttempt> = sqlx::query_as(
        "WITH due AS (
             SELECT id FROM payout_attempts
              WHERE state IN ('pending', 'unknown') AND next_check_at <= $1 AND provider <> $5
              ORDER BY next_check_at
              LIMIT $2
              FOR UPDATE SKIP LOCKED)
         UPDATE payout_attempts AS a
            SET next_check_at = $1 + make_interval(secs => least(
                    COALESCE((SELECT p.recheck_age_s FROM withdrawal_policies p
                               WHERE p.tenant_id = a.tenant_id), $3)::float8
                    * power(2, least(a.checks, 16)), $4))
           FROM due WHERE a.id = due.id
         RETURNING a.*",
    )
    .bind(now)
    .bind(RECHECK_BATCH_MAX)
    .bind(policy::Policy::default_policy().recheck_age_s as i32)
    .bind(RECHECK_BACKOFF_MAX_S as f64)
    .bind(MANUAL_PROVIDER)
    .fetch_all(services.pool())
    .await?;
    let mut rechecked = 0;
    for attempt in &claimed {
        match recheck_attempt(services, attempt).await {
            Ok(outcome) => {
                rechecked += 1;
                tracing::info!(attempt = %attempt.idempotency_key, status = outcome.status.as_str(), "payout attempt rechecked");
            }
            Err(error) => {
                tracing::info!(attempt = %attempt.idempotency_key, %error, "payout attempt still unresolved")
            }
        }
    }
    Ok(rechecked)
}

/// When a PSP's "no such payout" about `attempt` is believed: its call certainly ended (the
/// call's start plus the timeout) and the grace period passed.
pub fn not_found_believed_from(attempt: &PayoutAttempt, policy: &policy::Policy) -> DateTime<Utc> {
    let call_timeout = chrono::Duration::from_std(PAYOUT_CALL_TIMEOUT).unwrap_or_default();
    attempt.sent_at.unwrap_or(attempt.created_at)
        + call_timeout
        + chrono::Duration::seconds(i64::from(policy.not_found_grace_s))
}
