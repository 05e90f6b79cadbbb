//! A success nobody holds funds for any more (the withdrawal was rejected, or paid by another
//! attempt): the PSP paid twice, and the payout is booked against the player.

use app::domain::money::Money;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::apply::provider_change;
use crate::ledger::{
    self, AccountRef, IdempotencyKey, JournalKind, NewJournal, NewTransfer, ProviderName,
};
use crate::psp::PayoutStatus;
use crate::psp::webhooks::{ApplyError, Outcome};
use crate::withdrawals::model::{Change, PayoutAttempt, Withdrawal, record};

/// The attempt succeeded at the PSP, but the withdrawal is already rejected (its funds went back
/// to the player) or paid by another attempt: the PSP paid money Kasa no longer held for it.
/// The recovery journal books that payout against the player, who owes it back: from their cash
/// as far as it goes, the rest as a receivable. A critical reconciliation finding and the
/// withdrawal's timeline make staff see it; the player row lock keeps the cash figure true.
pub(super) async fn recover(
    tx: &mut sqlx::PgConnection,
    withdrawal: &Withdrawal,
    attempt: &PayoutAttempt,
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
    .bind(withdrawal.amount.currency().code())
    .fetch_one(&mut *tx)
    .await?;
    let amount = withdrawal.amount;
    let from_cash_minor = cash_minor.clamp(0, amount.to_minor_units());
    let receivable_minor = amount.to_minor_units() - from_cash_minor;
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
        .bind(attempt.id.0)
        .bind(posted.journal_id.0)
        .execute(&mut *tx)
        .await?;
    let note = format!(
        "Attempt {} succeeded at {provider} although the withdrawal is already {}: {amount} was paid out twice; {}.",
        attempt.attempt_number,
        withdrawal.state.as_str(),
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
                withdrawal.state,
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
        ..Outcome::applied(withdrawal.tenant_id, "withdrawal", withdrawal.id.0)
    })
}

/// A duplicate payout is a critical reconciliation finding (one per attempt), raised by the
/// settlement itself rather than by a reconciliation run: finance must chase the money.
async fn raise_duplicate_finding(
    tx: &mut sqlx::PgConnection,
    withdrawal: &Withdrawal,
    attempt: &PayoutAttempt,
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
    .bind(attempt.id.0)
    .bind(withdrawal.player_id)
    .bind(withdrawal.amount.currency().code())
    .bind(withdrawal.amount.to_minor_units())
    .bind(withdrawal.state.as_str())
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
