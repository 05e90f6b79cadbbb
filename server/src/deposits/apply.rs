//! The one path that applies what a PSP says about a checkout, and staff's settling of a
//! deposit by an approved correction.

use app::deposits::DepositState;
use app::domain::ids::{DepositId, StaffId, TenantId};
use app::domain::money::Money;
use app::error::{AppError, ErrorCode};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::audit::{self, Actor, AuditEvent};
use crate::error::ServerError;
use crate::ledger::{
    self, AccountRef, IdempotencyKey, JournalKind, NewJournal, NewTransfer, ProviderName,
};
use crate::psp::webhooks::{ApplyError, Outcome};
use crate::psp::{CheckoutOutcome, CheckoutStatus};

use super::*;

/// Applies what `provider` says about a checkout to its deposit, inside `tx`. The deposit row is
/// locked first, so concurrent deliveries of any events about one deposit apply one at a time.
///
/// Transitions: `Paid` captures a deposit that is not captured yet (also after `failed` or
/// `expired`: the PSP has the money) with one journal `psp_clearing -> player_cash`; `Failed`
/// and `Expired` end a deposit that is still `created` or `pending`; `Processing` keeps it
/// pending. Anything else changes nothing. A captured deposit never changes again.
pub async fn apply_checkout_status(
    tx: &mut sqlx::PgConnection,
    provider: &str,
    status: &CheckoutStatus,
    now: DateTime<Utc>,
) -> Result<Outcome, ApplyError> {
    let by_id = status.deposit_id;
    let deposit: Option<DepositRow> = sqlx::query_as(&format!(
        "SELECT {DEPOSIT_COLUMNS} FROM deposits
          WHERE provider = $1 AND (id = $2 OR provider_session_id = $3)
          ORDER BY (id = $2) DESC LIMIT 1
          FOR UPDATE"
    ))
    .bind(provider)
    .bind(by_id)
    .bind(&status.session_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(deposit) = deposit else {
        return Ok(Outcome::unmatched(format!(
            "no {provider} deposit for checkout {}",
            status.session_id
        )));
    };
    if let Some(session) = &deposit.provider_session_id
        && session != &status.session_id
    {
        return Err(ApplyError::Mismatch(format!(
            "deposit {} belongs to checkout {session}, not {}",
            deposit.id, status.session_id
        )));
    }
    let amount = deposit
        .amount()
        .map_err(|_| ApplyError::Mismatch("the deposit's amount is unreadable".into()))?;
    let state = deposit.state;
    match &status.amount {
        Some(reported) if reported != &amount => {
            return Err(ApplyError::Mismatch(format!(
                "{provider} reports {reported} for deposit {} of {amount}",
                deposit.id
            )));
        }
        // Money is only credited in the amount and currency the PSP says it took: a payment
        // reported without them is kept as a failed apply for staff, never captured on trust.
        None if status.outcome == CheckoutOutcome::Paid && state != DepositState::Captured => {
            return Err(ApplyError::Mismatch(format!(
                "{provider} reports checkout {} paid without its amount and currency; deposit {} of {amount} is not captured",
                status.session_id, deposit.id
            )));
        }
        _ => {}
    }
    let object = |note: &str| Outcome::ignored(deposit.tenant_id, "deposit", deposit.id.0, note);
    let (new_state, action) = match (&status.outcome, state) {
        (_, DepositState::Captured) => return Ok(object("the deposit is already captured")),
        (CheckoutOutcome::Paid, _) => (DepositState::Captured, "deposit.captured"),
        (CheckoutOutcome::Failed { .. }, DepositState::Created | DepositState::Pending) => {
            (DepositState::Failed, "deposit.failed")
        }
        (CheckoutOutcome::Expired, DepositState::Created | DepositState::Pending) => {
            (DepositState::Expired, "deposit.expired")
        }
        (CheckoutOutcome::Processing, DepositState::Created) => {
            (DepositState::Pending, "deposit.pending")
        }
        (CheckoutOutcome::Processing, DepositState::Pending) => {
            return Ok(object(
                "the payment is processing; the deposit stays pending",
            ));
        }
        (CheckoutOutcome::Open, _) => return Ok(object("the checkout is still open")),
        (_, DepositState::Failed | DepositState::Expired) => {
            return Ok(object("the deposit has already ended"));
        }
    };
    let mut journal_id = None;
    if new_state == DepositState::Captured {
        let provider_name = ProviderName::parse(provider)?;
        let journal = NewJournal {
            idempotency_key: IdempotencyKey::parse(format!("deposit:{}:capture", deposit.id))?,
            kind: JournalKind::DEPOSIT_CAPTURE,
            reference: Some(format!("deposit:{}", deposit.id)),
            transfers: vec![NewTransfer {
                debit: AccountRef::PspClearing(provider_name),
                credit: AccountRef::PlayerCash(deposit.player_id),
                amount,
            }],
            metadata: serde_json::Map::from_iter([
                ("deposit_id".to_owned(), deposit.id.to_string().into()),
                ("provider".to_owned(), provider.into()),
                (
                    "provider_session_id".to_owned(),
                    status.session_id.clone().into(),
                ),
                ("actor".to_owned(), format!("provider:{provider}").into()),
            ]),
        };
        let posted = ledger::post_journal_in_transaction(tx, deposit.tenant_id, &journal).await?;
        journal_id = Some(posted.journal_id.0);
    }
    let (failure_code, failure_message) = match &status.outcome {
        CheckoutOutcome::Failed { code, message } => (Some(code.clone()), Some(message.clone())),
        _ => (
            deposit.failure_code.clone(),
            deposit.failure_message.clone(),
        ),
    };
    sqlx::query(
        "UPDATE deposits
            SET state = $2, capture_journal_id = COALESCE($3, capture_journal_id),
                captured_at = CASE WHEN $2 = 'captured' THEN $4 ELSE captured_at END,
                provider_session_id = COALESCE(provider_session_id, $5),
                failure_code = $6, failure_message = $7, updated_at = $4,
                next_check_at = CASE WHEN $2 = 'pending' THEN COALESCE(next_check_at, $8)
                                     ELSE next_check_at END
          WHERE id = $1",
    )
    .bind(deposit.id)
    .bind(new_state.as_str())
    .bind(journal_id)
    .bind(now)
    .bind(&status.session_id)
    .bind(&failure_code)
    .bind(&failure_message)
    .bind(now + PENDING_RECHECK_GRACE)
    .execute(&mut *tx)
    .await?;
    audit::queue(
        tx,
        &AuditEvent {
            tenant_id: deposit.tenant_id,
            actor: Actor::Provider(provider.to_owned()),
            action: action.into(),
            target_type: "deposit".into(),
            target_id: deposit.id.to_string(),
            before: Some(deposit.snapshot()),
            after: Some(serde_json::json!({
                "state": new_state.as_str(),
                "capture_journal_id": journal_id,
                "failure_code": failure_code,
            })),
            reason: failure_message.clone(),
            request_id: None,
            idempotency_key: None,
            ip: None,
            at: now,
        },
    )
    .await?;
    tracing::info!(deposit = %deposit.id, from = %deposit.state, to = new_state.as_str(), "deposit state changed");
    Ok(Outcome::applied(deposit.tenant_id, "deposit", deposit.id.0))
}

/// Captures a deposit that was never captured with an approved reconciliation correction (the
/// four-eyes path in `backoffice::credits`): the capture journal `psp_clearing -> player_cash` of
/// the deposit's amount under the correction's ledger key, and the deposit marked captured with
/// it, so the PSP's later word about the deposit finds it captured and credits nothing more.
/// Returns `None` (and changes nothing) when the deposit is captured already. The deposit row is
/// locked first, like `apply_checkout_status` does, so the two never both capture.
pub async fn capture_by_correction(
    tx: &mut sqlx::PgConnection,
    tenant_id: TenantId,
    deposit_id: DepositId,
    idempotency_key: &IdempotencyKey,
    amount: Money,
    staff_id: StaffId,
    now: DateTime<Utc>,
) -> Result<Option<Uuid>, ServerError> {
    let deposit: DepositRow = sqlx::query_as(&format!(
        "SELECT {DEPOSIT_COLUMNS} FROM deposits WHERE tenant_id = $1 AND id = $2 FOR UPDATE"
    ))
    .bind(tenant_id)
    .bind(deposit_id)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| AppError::not_found("Deposit"))?;
    if deposit.state == DepositState::Captured {
        return Ok(None);
    }
    let deposit_amount = deposit.amount()?;
    if deposit_amount != amount {
        return Err(AppError {
            field: Some("amount".into()),
            ..AppError::new(
                ErrorCode::InvalidAmount,
                format!(
                    "A correction that captures deposit {} credits its whole amount, {deposit_amount}.",
                    deposit.id
                ),
            )
        }.into());
    }
    let provider_name = ProviderName::parse(deposit.provider.clone())?;
    let journal = NewJournal {
        idempotency_key: idempotency_key.clone(),
        kind: JournalKind::DEPOSIT_CAPTURE,
        reference: Some(format!("deposit:{}", deposit.id)),
        transfers: vec![NewTransfer {
            debit: AccountRef::PspClearing(provider_name),
            credit: AccountRef::PlayerCash(deposit.player_id),
            amount,
        }],
        metadata: serde_json::Map::from_iter([
            ("deposit_id".to_owned(), deposit.id.to_string().into()),
            ("provider".to_owned(), deposit.provider.clone().into()),
            ("actor".to_owned(), format!("staff:{staff_id}").into()),
            (
                "correction".to_owned(),
                idempotency_key.as_str().to_owned().into(),
            ),
        ]),
    };
    let posted = ledger::post_journal_in_transaction(tx, tenant_id, &journal).await?;
    sqlx::query(
        "UPDATE deposits
            SET state = 'captured', capture_journal_id = $2, captured_at = $3, updated_at = $3
          WHERE id = $1",
    )
    .bind(deposit.id)
    .bind(posted.journal_id.0)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    audit::queue(
        tx,
        &AuditEvent {
            tenant_id,
            actor: Actor::Staff(staff_id),
            action: "deposit.captured".into(),
            target_type: "deposit".into(),
            target_id: deposit.id.to_string(),
            before: Some(deposit.snapshot()),
            after: Some(serde_json::json!({
                "state": "captured",
                "capture_journal_id": posted.journal_id.0,
                "by": "reconciliation_correction",
            })),
            reason: None,
            request_id: None,
            idempotency_key: Some(idempotency_key.as_str().to_owned()),
            ip: None,
            at: now,
        },
    )
    .await?;
    tracing::info!(deposit = %deposit.id, from = %deposit.state, "deposit captured by an approved correction");
    Ok(Some(posted.journal_id.0))
}
