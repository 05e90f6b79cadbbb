//! Payout attempts: sending one to the PSP, applying what the PSP says (by webhook, recheck or
//! API answer, all through [`apply_payout_status`]), and the job that rechecks attempts stuck in
//! `pending` or `unknown`.
//!
//! Exactly once: every apply locks the withdrawal row, then the attempt row, and decides from
//! their states; the final journal has the ledger key `withdrawal:<id>:payout`. A success is the
//! only thing that writes it, and a withdrawal that is paid never changes again.
//!
//! Never twice: a PSP's "no such payout" fails an attempt only once its call has certainly ended
//! plus the tenant's grace period, and such an inferred failure is reopened by a later `pending`
//! and re-sent under the same PSP key by a retry. A success nobody holds funds for any more
//! (rejected, or paid by another attempt) is still booked: the player owes it back.

use std::time::Duration;

use app::domain::withdrawal::{AttemptStep, Report, WithdrawalState};
use app::error::{AppError, ErrorCode};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::model::{
    ATTEMPT_COLUMNS, AttemptRow, Change, WITHDRAWAL_COLUMNS, WithdrawalRow, record,
};
use super::policy;
use crate::audit::Actor;
use crate::error::ServerError;
use crate::ledger::{
    self, AccountRef, IdempotencyKey, JournalKind, NewJournal, NewTransfer, ProviderName,
};
use crate::payments::{ApplyError, Outcome};
use crate::psp::{PayoutOutcome, PayoutRequest, PayoutStatus, PspError};
use crate::services::Services;
use app::money::Money;

/// How long Kasa waits for a PSP to answer a payout call before the attempt becomes `unknown`.
pub const PAYOUT_CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// How often the recheck job looks for stuck attempts.
pub const RECHECK_INTERVAL: Duration = Duration::from_secs(5);
/// Most attempts one run of the recheck job claims.
pub const RECHECK_BATCH_MAX: i64 = 20;
/// The recheck backoff doubles from the tenant's recheck age up to this.
pub const RECHECK_BACKOFF_MAX_S: i64 = 3600;
/// The provider name of payouts staff made outside any PSP ("mark paid").
pub const MANUAL_PROVIDER: &str = "manual";
/// The error code of an attempt the PSP has no record of, once it is old enough to be sure.
pub const NOT_FOUND_AT_PROVIDER: &str = "not_found_at_provider";

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
    let withdrawal: WithdrawalRow = sqlx::query_as(&format!(
        "SELECT {WITHDRAWAL_COLUMNS} FROM withdrawals WHERE id = $1 FOR UPDATE"
    ))
    .bind(withdrawal_id)
    .fetch_one(&mut *tx)
    .await?;
    let attempt: AttemptRow = sqlx::query_as(&format!(
        "SELECT {ATTEMPT_COLUMNS} FROM payout_attempts
          WHERE provider = $1 AND idempotency_key = $2 FOR UPDATE"
    ))
    .bind(provider)
    .bind(&status.idempotency_key)
    .fetch_one(&mut *tx)
    .await?;
    let amount = withdrawal
        .amount()
        .map_err(|_| ApplyError::Mismatch("the withdrawal's amount is unreadable".into()))?;
    if let Some(reported) = &status.amount
        && reported != &amount
    {
        return Err(ApplyError::Mismatch(format!(
            "{provider} reports {reported} for withdrawal {} of {amount}",
            withdrawal.id
        )));
    }
    let ignored =
        |note: &str| Outcome::ignored(withdrawal.tenant_id, "withdrawal", withdrawal.id, note);
    let report = match &status.outcome {
        PayoutOutcome::Pending => Report::Pending,
        PayoutOutcome::Succeeded => Report::Succeeded,
        PayoutOutcome::Failed { .. } => Report::Failed,
    };
    match attempt
        .state()
        .on_report(report, attempt.failure_inferred())
    {
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
            .bind(attempt.id)
            .bind(&status.provider_reference)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            record(
                tx,
                provider_change(
                    &withdrawal,
                    "payout_pending",
                    withdrawal.state(),
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
                withdrawal.id,
            ))
        }
    }
}

fn provider_change<'a>(
    withdrawal: &'a WithdrawalRow,
    action: &'a str,
    to_state: WithdrawalState,
    provider: &str,
    attempt: &AttemptRow,
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
        from_state: Some(withdrawal.state()),
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
    withdrawal: &WithdrawalRow,
    attempt: &AttemptRow,
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
    .bind(attempt.id)
    .bind(&status.provider_reference)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let provider = attempt.provider.as_str();
    if !withdrawal.state().holds_funds() {
        return recover(tx, withdrawal, attempt, status, now).await;
    }
    let amount = withdrawal
        .amount()
        .map_err(|_| ApplyError::Mismatch("the withdrawal's amount is unreadable".into()))?;
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
    .bind(withdrawal.id)
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
        withdrawal.id,
    ))
}

/// The attempt succeeded at the PSP, but the withdrawal is already rejected (its funds went back
/// to the player) or paid by another attempt: the PSP paid money Kasa no longer held for it.
/// The recovery journal books that payout against the player, who owes it back: from their cash
/// as far as it goes, the rest as a receivable. A critical reconciliation finding and the
/// withdrawal's timeline make staff see it; the player row lock keeps the cash figure true.
async fn recover(
    tx: &mut sqlx::PgConnection,
    withdrawal: &WithdrawalRow,
    attempt: &AttemptRow,
    status: &PayoutStatus,
    now: DateTime<Utc>,
) -> Result<Outcome, ApplyError> {
    let provider = attempt.provider.as_str();
    sqlx::query("SELECT 1 FROM players WHERE tenant_id = $1 AND id = $2 FOR UPDATE")
        .bind(withdrawal.tenant_id)
        .bind(withdrawal.player_id)
        .execute(&mut *tx)
        .await?;
    let cash_minor: i64 = sqlx::query_scalar(
        "SELECT coalesce(sum(balance_minor), 0)::bigint FROM ledger_account_balances
          WHERE tenant_id = $1 AND player_id = $2 AND currency = $3 AND kind = 'player_cash'",
    )
    .bind(withdrawal.tenant_id)
    .bind(withdrawal.player_id)
    .bind(&withdrawal.currency)
    .fetch_one(&mut *tx)
    .await?;
    let amount = withdrawal
        .amount()
        .map_err(|_| ApplyError::Mismatch("the withdrawal's amount is unreadable".into()))?;
    let from_cash_minor = cash_minor.clamp(0, withdrawal.amount_minor);
    let receivable_minor = withdrawal.amount_minor - from_cash_minor;
    let part = |minor: i64| {
        Money::from_minor_units(minor, amount.currency())
            .map_err(|_| ApplyError::Mismatch("a recovery part is unreadable".into()))
    };
    let clearing = AccountRef::PspClearing(ProviderName::parse(provider)?);
    let mut transfers = Vec::new();
    let mut words = Vec::new();
    if from_cash_minor > 0 {
        let from_cash = part(from_cash_minor)?;
        words.push(format!("{from_cash} taken back from the player's cash"));
        transfers.push(NewTransfer {
            debit: AccountRef::PlayerCash(withdrawal.player_id),
            credit: clearing.clone(),
            amount: from_cash,
        });
    }
    if receivable_minor > 0 {
        let owed = part(receivable_minor)?;
        words.push(format!("{owed} owed by the player"));
        transfers.push(NewTransfer {
            debit: AccountRef::PlayerReceivable(withdrawal.player_id),
            credit: clearing,
            amount: owed,
        });
    }
    let journal = NewJournal {
        idempotency_key: IdempotencyKey::parse(format!("payout_attempt:{}:recovery", attempt.id))?,
        kind: JournalKind::WITHDRAWAL_PAYOUT_RECOVERY,
        reference: Some(format!("withdrawal:{}", withdrawal.id)),
        transfers,
        metadata: serde_json::Map::from_iter([
            ("withdrawal_id".to_owned(), withdrawal.id.to_string().into()),
            ("attempt_id".to_owned(), attempt.id.to_string().into()),
            ("attempt_number".to_owned(), attempt.attempt_number.into()),
            ("provider".to_owned(), provider.into()),
            (
                "provider_reference".to_owned(),
                status.provider_reference.clone().into(),
            ),
            ("from_cash_minor".to_owned(), from_cash_minor.into()),
            ("receivable_minor".to_owned(), receivable_minor.into()),
            ("actor".to_owned(), format!("provider:{provider}").into()),
        ]),
    };
    let posted = ledger::post_journal_in_transaction(tx, withdrawal.tenant_id, &journal).await?;
    sqlx::query("UPDATE payout_attempts SET recovery_journal_id = $2 WHERE id = $1")
        .bind(attempt.id)
        .bind(posted.journal_id.0)
        .execute(&mut *tx)
        .await?;
    let note = format!(
        "Attempt {} succeeded at {provider} although the withdrawal is already {}: {amount} was paid out twice; {}.",
        attempt.attempt_number,
        withdrawal.state,
        words.join(" and ")
    );
    tracing::error!(withdrawal = %withdrawal.id, attempt = attempt.attempt_number, %note, "duplicate payout recovered");
    raise_duplicate_finding(tx, withdrawal, attempt, &note, status, now).await?;
    record(
        tx,
        Change {
            reason: Some(note.clone()),
            detail: Some(serde_json::json!({
                "provider": provider,
                "provider_reference": status.provider_reference,
                "outcome": "succeeded",
                "recovery_journal_id": posted.journal_id.0,
                "from_cash_minor": from_cash_minor,
                "receivable_minor": receivable_minor,
            })),
            ..provider_change(
                withdrawal,
                "payout_succeeded_again",
                withdrawal.state(),
                provider,
                attempt,
                status,
                now,
            )
        },
    )
    .await?;
    Ok(Outcome {
        note: Some(note),
        ..Outcome::applied(withdrawal.tenant_id, "withdrawal", withdrawal.id)
    })
}

/// A duplicate payout is a critical reconciliation finding (one per attempt), raised by the
/// settlement itself rather than by a reconciliation run: finance must chase the money.
async fn raise_duplicate_finding(
    tx: &mut sqlx::PgConnection,
    withdrawal: &WithdrawalRow,
    attempt: &AttemptRow,
    note: &str,
    status: &PayoutStatus,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let run_id = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO reconciliation_runs
             (id, tenant_id, provider, started_at, finished_at, actor, records_checked, findings_new)
         VALUES ($1, $2, $3, $4, $4, 'system:payouts', 1, 1)",
    )
    .bind(run_id)
    .bind(withdrawal.tenant_id)
    .bind(&attempt.provider)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    // The PSP's side is the second payout; the ledger's is what it booked against the player.
    sqlx::query(
        "INSERT INTO reconciliation_findings
             (id, tenant_id, provider, reference, kind, severity, object_type, object_id, player_id,
              currency, psp_amount_minor, ledger_amount_minor, psp_status, ledger_status, message,
              raw, first_seen_at, last_seen_at, first_run_id, last_run_id)
         VALUES ($1, $2, $3, $4, 'duplicate_payout', 'critical', 'payout_attempt', $5, $6, $7, $8,
                 $8, 'succeeded', $9, $10, $11, $12, $12, $13, $13)
         ON CONFLICT ON CONSTRAINT reconciliation_findings_key DO NOTHING",
    )
    .bind(Uuid::new_v4())
    .bind(withdrawal.tenant_id)
    .bind(&attempt.provider)
    .bind(&attempt.idempotency_key)
    .bind(attempt.id)
    .bind(withdrawal.player_id)
    .bind(&withdrawal.currency)
    .bind(withdrawal.amount_minor)
    .bind(&withdrawal.state)
    .bind(note)
    .bind(serde_json::json!({
        "withdrawal_id": withdrawal.id,
        "attempt_number": attempt.attempt_number,
        "provider_reference": status.provider_reference,
    }))
    .bind(now)
    .bind(run_id)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// A `pending` answer about an attempt failed only by inference: the PSP has it after all, so
/// the attempt is open again (and the withdrawal paying, when this is its latest attempt). Never
/// while another attempt of the withdrawal is open: one attempt at the PSP at a time.
async fn reopen(
    tx: &mut sqlx::PgConnection,
    withdrawal: &WithdrawalRow,
    attempt: &AttemptRow,
    status: &PayoutStatus,
    now: DateTime<Utc>,
) -> Result<Outcome, ApplyError> {
    let other_open: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM payout_attempts
                         WHERE withdrawal_id = $1 AND id <> $2 AND state IN ('pending', 'unknown'))",
    )
    .bind(withdrawal.id)
    .bind(attempt.id)
    .fetch_one(&mut *tx)
    .await?;
    if other_open {
        return Ok(Outcome::ignored(
            withdrawal.tenant_id,
            "withdrawal",
            withdrawal.id,
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
    .bind(attempt.id)
    .bind(&status.provider_reference)
    .bind(now)
    .bind(now + chrono::Duration::seconds(i64::from(recheck_age_s)))
    .execute(&mut *tx)
    .await?;
    let latest = is_latest(tx, attempt).await?;
    let to_state = move_to(
        tx,
        withdrawal,
        withdrawal.state().after_attempt_reopened(latest),
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
        withdrawal.id,
    ))
}

/// The attempt failed: the funds stay held, and the withdrawal waits for a retry (when this was
/// its latest attempt and it was being paid).
async fn fail(
    tx: &mut sqlx::PgConnection,
    withdrawal: &WithdrawalRow,
    attempt: &AttemptRow,
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
    .bind(attempt.id)
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
        withdrawal.state().after_attempt_failed(latest),
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
        withdrawal.id,
    ))
}

/// Whether `attempt` is its withdrawal's latest (the one its state is about).
async fn is_latest(tx: &mut sqlx::PgConnection, attempt: &AttemptRow) -> Result<bool, sqlx::Error> {
    let latest: i32 = sqlx::query_scalar(
        "SELECT max(attempt_number) FROM payout_attempts WHERE withdrawal_id = $1",
    )
    .bind(attempt.withdrawal_id)
    .fetch_one(&mut *tx)
    .await?;
    Ok(latest == attempt.attempt_number)
}

/// Moves `withdrawal` to `to_state` when that is a change; returns `to_state`.
async fn move_to(
    tx: &mut sqlx::PgConnection,
    withdrawal: &WithdrawalRow,
    to_state: WithdrawalState,
    now: DateTime<Utc>,
) -> Result<WithdrawalState, sqlx::Error> {
    if to_state != withdrawal.state() {
        sqlx::query("UPDATE withdrawals SET state = $2, updated_at = $3 WHERE id = $1")
            .bind(withdrawal.id)
            .bind(to_state.as_str())
            .bind(now)
            .execute(&mut *tx)
            .await?;
    }
    Ok(to_state)
}

/// An attempt Kasa created: what the caller needs to send it.
pub struct NewAttempt {
    pub withdrawal: WithdrawalRow,
    pub attempt: AttemptRow,
}

/// Creates attempt `number` of `withdrawal` (locked by the caller) at `provider`, `pending`, and
/// moves the withdrawal to `paying`. The key sent to the PSP names the withdrawal and the attempt,
/// so it is unique everywhere and the same attempt is never sent under two keys.
pub async fn insert_attempt(
    tx: &mut sqlx::PgConnection,
    withdrawal: &WithdrawalRow,
    provider: &str,
    staff_id: Uuid,
    recheck_age_s: u32,
    now: DateTime<Utc>,
) -> Result<AttemptRow, sqlx::Error> {
    let number: i32 = sqlx::query_scalar(
        "SELECT COALESCE(max(attempt_number), 0) + 1 FROM payout_attempts WHERE withdrawal_id = $1",
    )
    .bind(withdrawal.id)
    .fetch_one(&mut *tx)
    .await?;
    let key_prefix = if provider == MANUAL_PROVIDER {
        "manual"
    } else {
        "payout"
    };
    sqlx::query_as(&format!(
        "INSERT INTO payout_attempts
             (id, tenant_id, withdrawal_id, attempt_number, provider, idempotency_key, state,
              started_by, created_at, updated_at, next_check_at)
         VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7, $8, $8, $9)
         RETURNING {ATTEMPT_COLUMNS}"
    ))
    .bind(Uuid::new_v4())
    .bind(withdrawal.tenant_id)
    .bind(withdrawal.id)
    .bind(number)
    .bind(provider)
    .bind(format!("{key_prefix}:{}:{number}", withdrawal.id))
    .bind(staff_id)
    .bind(now)
    .bind(now + chrono::Duration::seconds(i64::from(recheck_age_s)))
    .fetch_one(&mut *tx)
    .await
}

impl Services {
    /// Sends a committed `pending` attempt to its PSP and applies the answer through the same path
    /// as a webhook. No answer (timeout, connection error) leaves the attempt `unknown`, for a
    /// recheck: it is never retried blind.
    pub async fn send_payout(&self, new: &NewAttempt) -> Result<(), ServerError> {
        let attempt = &new.attempt;
        let provider = self.providers().get(&attempt.provider).ok_or_else(|| {
            AppError::new(
                ErrorCode::ProviderUnavailable,
                format!("The payout provider {} is not enabled.", attempt.provider),
            )
        })?;
        let request = PayoutRequest {
            tenant_id: new.withdrawal.tenant_id,
            withdrawal_id: new.withdrawal.id,
            attempt_id: attempt.id,
            player_id: new.withdrawal.player_id,
            amount: new.withdrawal.amount()?,
            idempotency_key: attempt.idempotency_key.clone(),
        };
        // When the call starts: "not found" is believed only after it has certainly ended.
        sqlx::query("UPDATE payout_attempts SET sent_at = $2 WHERE id = $1")
            .bind(attempt.id)
            .bind(self.now())
            .execute(self.pool())
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
                return self.mark_unknown(attempt, &error.to_string()).await;
            }
        };
        self.apply_answer(attempt, status).await.map(|_| ())
    }

    /// Applies a PSP's answer about `attempt` in its own transaction (always under our key).
    async fn apply_answer(
        &self,
        attempt: &AttemptRow,
        mut status: PayoutStatus,
    ) -> Result<Outcome, ServerError> {
        status.idempotency_key = attempt.idempotency_key.clone();
        let mut tx = self.pool().begin().await?;
        let outcome = apply_payout_status(&mut tx, &attempt.provider, &status, self.now()).await?;
        tx.commit().await?;
        Ok(outcome)
    }

    /// No usable answer: a `pending` attempt becomes `unknown` (if nothing settled it meanwhile).
    async fn mark_unknown(&self, attempt: &AttemptRow, message: &str) -> Result<(), ServerError> {
        let now = self.now();
        let mut tx = self.pool().begin().await?;
        let withdrawal: WithdrawalRow = sqlx::query_as(&format!(
            "SELECT {WITHDRAWAL_COLUMNS} FROM withdrawals WHERE id = $1 FOR UPDATE"
        ))
        .bind(attempt.withdrawal_id)
        .fetch_one(&mut *tx)
        .await?;
        let current: AttemptRow = sqlx::query_as(&format!(
            "SELECT {ATTEMPT_COLUMNS} FROM payout_attempts WHERE id = $1 FOR UPDATE"
        ))
        .bind(attempt.id)
        .fetch_one(&mut *tx)
        .await?;
        let step = current
            .state()
            .on_report(Report::NoAnswer, current.failure_inferred());
        if step == AttemptStep::MarkUnknown {
            sqlx::query(
                "UPDATE payout_attempts SET state = 'unknown', error_message = $2, updated_at = $3
                  WHERE id = $1",
            )
            .bind(attempt.id)
            .bind(message)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            record(
                &mut tx,
                Change {
                    withdrawal: &withdrawal,
                    action: "payout_unknown",
                    from_state: Some(withdrawal.state()),
                    to_state: withdrawal.state(),
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

    /// Asks the PSP for `attempt`'s real state and applies it through the same path as a
    /// webhook. A PSP that has no record of it is believed only once the call that sent it has
    /// certainly ended (its start plus the call timeout) and the tenant's grace period has
    /// passed too (a create may still be on its way, or the PSP's books behind its API); then
    /// the attempt failed by inference, which a later `pending` reopens.
    pub async fn recheck_attempt(&self, attempt: &AttemptRow) -> Result<Outcome, ServerError> {
        let provider = self.providers().get(&attempt.provider).ok_or_else(|| {
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
        let now = self.now();
        sqlx::query(
            "UPDATE payout_attempts SET checks = checks + 1, last_checked_at = $2 WHERE id = $1",
        )
        .bind(attempt.id)
        .bind(now)
        .execute(self.pool())
        .await?;
        match answer {
            Ok(status) => self.apply_answer(attempt, status).await,
            Err(PspError::NotFound { .. }) => {
                let mut conn = self.pool().acquire().await?;
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
                self.apply_answer(attempt, status).await
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

    /// Starts the job that rechecks stuck payout attempts. Called once when the router is built.
    pub fn start_withdrawal_workers(&self) {
        let services = self.clone();
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(RECHECK_INTERVAL);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                interval.tick().await;
                match services.recheck_stuck_payouts().await {
                    Ok(0) => {}
                    Ok(count) => tracing::info!(count, "stuck payout attempts rechecked"),
                    Err(error) => tracing::warn!(%error, "rechecking payout attempts failed"),
                }
            }
        });
    }

    /// One run of the recheck job: claims attempts in `pending`/`unknown` whose next check is
    /// due (`FOR UPDATE SKIP LOCKED`, so several servers share the work), moves their next check
    /// out by a doubling backoff (the claim: a crash mid-check just delays it), then rechecks
    /// each. Returns how many were rechecked.
    pub async fn recheck_stuck_payouts(&self) -> Result<usize, sqlx::Error> {
        let now = self.now();
        let claimed: Vec<AttemptRow> = sqlx::query_as(&format!(
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
             RETURNING {}",
            ATTEMPT_COLUMNS
                .split(',')
                .map(|column| format!("a.{}", column.trim()))
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .bind(now)
        .bind(RECHECK_BATCH_MAX)
        .bind(policy::Policy::default_policy().recheck_age_s as i32)
        .bind(RECHECK_BACKOFF_MAX_S as f64)
        .bind(MANUAL_PROVIDER)
        .fetch_all(self.pool())
        .await?;
        let mut rechecked = 0;
        for attempt in &claimed {
            match self.recheck_attempt(attempt).await {
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
}

/// When a PSP's "no such payout" about `attempt` is believed: its call certainly ended (the
/// call's start plus the timeout) and the grace period passed.
pub fn not_found_believed_from(attempt: &AttemptRow, policy: &policy::Policy) -> DateTime<Utc> {
    let call_timeout = chrono::Duration::from_std(PAYOUT_CALL_TIMEOUT).unwrap_or_default();
    attempt.sent_at.unwrap_or(attempt.created_at)
        + call_timeout
        + chrono::Duration::seconds(i64::from(policy.not_found_grace_s))
}

fn failed_status(attempt: &AttemptRow, code: String, message: String) -> PayoutStatus {
    PayoutStatus {
        provider_reference: attempt.provider_reference.clone(),
        idempotency_key: attempt.idempotency_key.clone(),
        outcome: PayoutOutcome::Failed { code, message },
        amount: None,
    }
}
