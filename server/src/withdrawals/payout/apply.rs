//! The one path that applies what a PSP says about an attempt (webhook, recheck or API answer):
//! the attempt's transition table decides, then the withdrawal follows.

use app::domain::withdrawal::{AttemptStep, Report, WithdrawalState};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::recover::recover;
use crate::audit::Actor;
use crate::ledger::{
    self, AccountRef, IdempotencyKey, JournalKind, NewJournal, NewTransfer, ProviderName,
};
use crate::psp::webhooks::{ApplyError, Outcome};
use crate::psp::{PayoutOutcome, PayoutStatus};
use crate::withdrawals::model::{Change, PayoutAttempt, Withdrawal, lock_withdrawal_of, record};
use crate::withdrawals::policy;

/// What a PSP says about a payout attempt, applied inside the caller's transaction: the one
/// path for webhooks, rechecks and API answers.
///
/// Transitions: `Succeeded` settles a withdrawal that is not paid yet (also after the attempt
/// was reported failed: the PSP paid) with one journal `hold -> psp_clearing:<provider>`;
/// `Failed` ends an attempt still `pending`/`unknown`, and the withdrawal becomes
/// `payout_failed` with its funds still held; `Pending` tells that an `unknown` attempt reached
/// the PSP. A succeeded attempt never changes again.
pub async fn apply_payout_status(
    tx: &mut sqlx::PgConnection,
    provider: &str,
    status: &PayoutStatus,
    now: DateTime<Utc>,
) -> Result<Outcome, ApplyError> {
    let withdrawal_id: Option<Uuid> = sqlx::query_scalar(
        "SELECT withdrawal_id FROM payout_attempts WHERE provider = $1 AND idempotency_key = $2",
    )
    .bind(provider)
    .bind(&status.idempotency_key)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(withdrawal_id) = withdrawal_id else {
        return Ok(Outcome::unmatched(format!(
            "no {provider} payout attempt with key {}",
            status.idempotency_key
        )));
    };
    // Always the withdrawal first, then the attempt: the order every writer uses.
    let withdrawal = lock_withdrawal_of(tx, withdrawal_id.into()).await?;
    let attempt: PayoutAttempt = sqlx::query_as(
        "SELECT * FROM payout_attempts
          WHERE provider = $1 AND idempotency_key = $2 FOR UPDATE",
    )
    .bind(provider)
    .bind(&status.idempotency_key)
    .fetch_one(&mut *tx)
    .await?;
    let amount = withdrawal.amount;
    if let Some(reported) = &status.amount
        && reported != &amount
    {
        return Err(ApplyError::Mismatch(format!(
            "{provider} reports {reported} for withdrawal {} of {amount}",
            withdrawal.id
        )));
    }
    let ignored =
        |note: &str| Outcome::ignored(withdrawal.tenant_id, "withdrawal", withdrawal.id.0, note);
    let report = match &status.outcome {
        PayoutOutcome::Pending => Report::Pending,
        PayoutOutcome::Succeeded => Report::Succeeded,
        PayoutOutcome::Failed { .. } => Report::Failed,
    };
    match attempt.state.on_report(report, attempt.failure_inferred()) {
        AttemptStep::Ignore(note) => Ok(ignored(note)),
        AttemptStep::Succeed => settle(tx, &withdrawal, &attempt, status, now).await,
        AttemptStep::Fail => fail(tx, &withdrawal, &attempt, status, now).await,
        AttemptStep::Reopen => reopen(tx, &withdrawal, &attempt, status, now).await,
        AttemptStep::MarkUnknown => Ok(ignored("a report is an answer")),
        AttemptStep::MarkPending => {
            sqlx::query(
                "UPDATE payout_attempts
                    SET state = 'pending', provider_reference = COALESCE($2, provider_reference),
                        updated_at = $3
                  WHERE id = $1",
            )
            .bind(attempt.id.0)
            .bind(&status.provider_reference)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            record(
                tx,
                provider_change(
                    &withdrawal,
                    "payout_pending",
                    withdrawal.state,
                    provider,
                    &attempt,
                    status,
                    now,
                ),
            )
            .await?;
            Ok(Outcome::applied(
                withdrawal.tenant_id,
                "withdrawal",
                withdrawal.id.0,
            ))
        }
    }
}

pub(super) fn provider_change<'a>(
    withdrawal: &'a Withdrawal,
    action: &'a str,
    to_state: WithdrawalState,
    provider: &str,
    attempt: &PayoutAttempt,
    status: &PayoutStatus,
    now: DateTime<Utc>,
) -> Change<'a> {
    let (code, message) = match &status.outcome {
        PayoutOutcome::Failed { code, message } => (Some(code.clone()), Some(message.clone())),
        _ => (None, None),
    };
    Change {
        withdrawal,
        action,
        from_state: Some(withdrawal.state),
        to_state,
        actor: Actor::Provider(provider.to_owned()),
        attempt_number: Some(attempt.attempt_number),
        reason: message.clone(),
        detail: Some(serde_json::json!({
            "provider": provider,
            "provider_reference": status.provider_reference,
            "outcome": outcome_name(&status.outcome),
            "error_code": code,
            "error_message": message,
        })),
        staff_action: None,
        idempotency_key: None,
        request_id: None,
        at: now,
    }
}

fn outcome_name(outcome: &PayoutOutcome) -> &'static str {
    match outcome {
        PayoutOutcome::Pending => "pending",
        PayoutOutcome::Succeeded => "succeeded",
        PayoutOutcome::Failed { .. } => "failed",
    }
}

/// The attempt succeeded: the withdrawal is paid with its one final journal, unless it already
/// is (a second attempt also paid: recorded for reconciliation, nothing moves).
async fn settle(
    tx: &mut sqlx::PgConnection,
    withdrawal: &Withdrawal,
    attempt: &PayoutAttempt,
    status: &PayoutStatus,
    now: DateTime<Utc>,
) -> Result<Outcome, ApplyError> {
    sqlx::query(
        "UPDATE payout_attempts
            SET state = 'succeeded', provider_reference = COALESCE($2, provider_reference),
                error_code = NULL, error_message = NULL, finished_at = $3, updated_at = $3,
                next_check_at = NULL
          WHERE id = $1",
    )
    .bind(attempt.id.0)
    .bind(&status.provider_reference)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let provider = attempt.provider.as_str();
    if !withdrawal.state.holds_funds() {
        return recover(tx, withdrawal, attempt, status, now).await;
    }
    let amount = withdrawal.amount;
    let journal = NewJournal {
        idempotency_key: IdempotencyKey::parse(format!("withdrawal:{}:payout", withdrawal.id))?,
        kind: JournalKind::WITHDRAWAL_PAYOUT,
        reference: Some(format!("withdrawal:{}", withdrawal.id)),
        transfers: vec![NewTransfer {
            debit: AccountRef::PlayerWithdrawalHold(withdrawal.player_id),
            credit: AccountRef::PspClearing(ProviderName::parse(provider)?),
            amount,
        }],
        metadata: serde_json::Map::from_iter([
            ("withdrawal_id".to_owned(), withdrawal.id.to_string().into()),
            ("attempt_number".to_owned(), attempt.attempt_number.into()),
            ("provider".to_owned(), provider.into()),
            (
                "provider_reference".to_owned(),
                status.provider_reference.clone().into(),
            ),
            ("actor".to_owned(), format!("provider:{provider}").into()),
        ]),
    };
    let posted = ledger::post_journal_in_transaction(tx, withdrawal.tenant_id, &journal).await?;
    sqlx::query(
        "UPDATE withdrawals
            SET state = 'paid', payout_journal_id = $2, paid_at = $3, updated_at = $3
          WHERE id = $1",
    )
    .bind(withdrawal.id.0)
    .bind(posted.journal_id.0)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    record(
        tx,
        provider_change(
            withdrawal,
            "paid",
            WithdrawalState::Paid,
            provider,
            attempt,
            status,
            now,
        ),
    )
    .await?;
    tracing::info!(withdrawal = %withdrawal.id, attempt = attempt.attempt_number, %provider, "withdrawal paid");
    Ok(Outcome::applied(
        withdrawal.tenant_id,
        "withdrawal",
        withdrawal.id.0,
    ))
}

/// A `pending` answer about an attempt failed only by inference: the PSP has it after all, so
/// the attempt is open again (and the withdrawal paying, when this is its latest attempt). Never
/// while another attempt of the withdrawal is open: one attempt at the PSP at a time.
async fn reopen(
    tx: &mut sqlx::PgConnection,
    withdrawal: &Withdrawal,
    attempt: &PayoutAttempt,
    status: &PayoutStatus,
    now: DateTime<Utc>,
) -> Result<Outcome, ApplyError> {
    let other_open: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM payout_attempts
                         WHERE withdrawal_id = $1 AND id <> $2 AND state IN ('pending', 'unknown'))",
    )
    .bind(withdrawal.id.0)
    .bind(attempt.id.0)
    .fetch_one(&mut *tx)
    .await?;
    if other_open {
        return Ok(Outcome::ignored(
            withdrawal.tenant_id,
            "withdrawal",
            withdrawal.id.0,
            "another attempt is open; its answer decides",
        ));
    }
    let recheck_age_s = policy::load(&mut *tx, withdrawal.tenant_id)
        .await?
        .recheck_age_s;
    sqlx::query(
        "UPDATE payout_attempts
            SET state = 'pending', error_code = NULL, error_message = NULL, finished_at = NULL,
                provider_reference = COALESCE($2, provider_reference), updated_at = $3,
                next_check_at = $4, checks = 0
          WHERE id = $1",
    )
    .bind(attempt.id.0)
    .bind(&status.provider_reference)
    .bind(now)
    .bind(now + chrono::Duration::seconds(i64::from(recheck_age_s)))
    .execute(&mut *tx)
    .await?;
    let latest = is_latest(tx, attempt).await?;
    let to_state = move_to(
        tx,
        withdrawal,
        withdrawal.state.after_attempt_reopened(latest),
        now,
    )
    .await?;
    record(
        tx,
        Change {
            reason: Some(
                "The provider reports the payout as pending: it was not lost after all.".into(),
            ),
            ..provider_change(
                withdrawal,
                "payout_reopened",
                to_state,
                &attempt.provider,
                attempt,
                status,
                now,
            )
        },
    )
    .await?;
    tracing::warn!(withdrawal = %withdrawal.id, attempt = attempt.attempt_number, "payout attempt failed by inference reopened");
    Ok(Outcome::applied(
        withdrawal.tenant_id,
        "withdrawal",
        withdrawal.id.0,
    ))
}

/// The attempt failed: the funds stay held, and the withdrawal waits for a retry (when this was
/// its latest attempt and it was being paid).
async fn fail(
    tx: &mut sqlx::PgConnection,
    withdrawal: &Withdrawal,
    attempt: &PayoutAttempt,
    status: &PayoutStatus,
    now: DateTime<Utc>,
) -> Result<Outcome, ApplyError> {
    let (code, message) = match &status.outcome {
        PayoutOutcome::Failed { code, message } => (code.as_str(), message.as_str()),
        _ => ("failed", ""),
    };
    sqlx::query(
        "UPDATE payout_attempts
            SET state = 'failed', provider_reference = COALESCE($2, provider_reference),
                error_code = $3, error_message = $4, finished_at = $5, updated_at = $5,
                next_check_at = NULL
          WHERE id = $1",
    )
    .bind(attempt.id.0)
    .bind(&status.provider_reference)
    .bind(code)
    .bind(message)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let latest = is_latest(tx, attempt).await?;
    let to_state = move_to(
        tx,
        withdrawal,
        withdrawal.state.after_attempt_failed(latest),
        now,
    )
    .await?;
    record(
        tx,
        provider_change(
            withdrawal,
            "payout_failed",
            to_state,
            &attempt.provider,
            attempt,
            status,
            now,
        ),
    )
    .await?;
    tracing::info!(withdrawal = %withdrawal.id, attempt = attempt.attempt_number, code, "payout attempt failed");
    Ok(Outcome::applied(
        withdrawal.tenant_id,
        "withdrawal",
        withdrawal.id.0,
    ))
}

/// Whether `attempt` is its withdrawal's latest (the one its state is about).
async fn is_latest(
    tx: &mut sqlx::PgConnection,
    attempt: &PayoutAttempt,
) -> Result<bool, sqlx::Error> {
    let latest: i32 = sqlx::query_scalar(
        "SELECT max(attempt_number) FROM payout_attempts WHERE withdrawal_id = $1",
    )
    .bind(attempt.withdrawal_id.0)
    .fetch_one(&mut *tx)
    .await?;
    Ok(latest == attempt.attempt_number)
}

/// Moves `withdrawal` to `to_state` when that is a change; returns `to_state`.
async fn move_to(
    tx: &mut sqlx::PgConnection,
    withdrawal: &Withdrawal,
    to_state: WithdrawalState,
    now: DateTime<Utc>,
) -> Result<WithdrawalState, sqlx::Error> {
    if to_state != withdrawal.state {
        sqlx::query("UPDATE withdrawals SET state = $2, updated_at = $3 WHERE id = $1")
            .bind(withdrawal.id.0)
            .bind(to_state.as_str())
            .bind(now)
            .execute(&mut *tx)
            .await?;
    }
    Ok(to_state)
}
