//! Deciding a credit request: a second, different finance or owner staff member approves it
//! (the credit posts exactly once, with the request's state change and its audit events, and a
//! correction resolves its finding) or declines it (nothing posts).

use app::api::RequestCtx;
use app::backoffice::credits::{CreditDecision, CreditDecisionReceipt, DECISION_NOTE_LENGTH_MAX};
use app::domain::ids::{DepositId, TenantId};
use app::domain::money::Money;
use app::domain::reconciliation::CreditRequestState;
use app::error::{AppError, ErrorCode};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::key_reused;
use super::queries::{RequestSqlRow, request_row, row};
use crate::audit::{self, Actor, AuditEvent};
use crate::auth::StaffMember;
use crate::backoffice::checked_idempotency_key;
use crate::error::ServerResult;
use crate::ledger::{self, AccountRef, IdempotencyKey, JournalKind, NewJournal, NewTransfer};
use crate::services::Services;

/// The state a decision moves a pending request to.
fn decided_state(decision: CreditDecision) -> CreditRequestState {
    match decision {
        CreditDecision::Approve => CreditRequestState::Approved,
        CreditDecision::Decline => CreditRequestState::Declined,
    }
}

/// A decision as the staff member sent it, checked.
struct Decision<'a> {
    decision: CreditDecision,
    state: CreditRequestState,
    note: Option<&'a str>,
    idempotency_key: &'a str,
}

impl<'a> Decision<'a> {
    fn checked(
        decision: CreditDecision,
        note: Option<&'a str>,
        idempotency_key: &'a str,
    ) -> ServerResult<Decision<'a>> {
        let note = note.map(str::trim).filter(|note| !note.is_empty());
        if note.is_some_and(|note| note.chars().count() > DECISION_NOTE_LENGTH_MAX) {
            return Err(AppError::invalid(
                "note",
                format!("Write a note of at most {DECISION_NOTE_LENGTH_MAX} characters."),
            )
            .into());
        }
        Ok(Decision {
            decision,
            state: decided_state(decision),
            note,
            idempotency_key: checked_idempotency_key(idempotency_key)?,
        })
    }
}

/// Approves (posts the credit once) or declines a pending request, as a staff member who did not
/// ask for it. The request row is locked, so of two deciders one wins and the other is told the
/// request is decided; the same key again returns the decision (`replayed`), the same key with
/// another decision or note is `idempotency_key_reused`.
#[allow(clippy::too_many_arguments)] // the trait method's arguments, as the staff member sent them
pub async fn decide(
    services: &Services,
    ctx: &RequestCtx,
    tenant_id: TenantId,
    staff: &StaffMember,
    request_id: Uuid,
    decision: CreditDecision,
    note: Option<&str>,
    idempotency_key: &str,
) -> ServerResult<CreditDecisionReceipt> {
    let decision = Decision::checked(decision, note, idempotency_key)?;
    let now = services.now();
    let pool = services.pool();
    let mut tx = pool.begin().await?;
    let request = request_row(&mut tx, tenant_id, request_id, true).await?;
    if decision.decision == CreditDecision::Decline && decision.note.is_none() {
        return Err(AppError::invalid("note", "Say why the credit is declined.").into());
    }
    if request.state != CreditRequestState::Pending {
        tx.commit().await?;
        replay(&request, staff, &decision)?;
        return Ok(CreditDecisionReceipt {
            request: row(pool, tenant_id, request_id, Some(staff)).await?,
            replayed: true,
        });
    }
    if request.requested_by_id == staff.id {
        return Err(AppError::new(
            ErrorCode::Forbidden,
            "You asked for this credit: a different staff member must approve or decline it.",
        )
        .into());
    }
    let amount = request.amount()?;
    let journal_id = match decision.decision {
        CreditDecision::Decline => None,
        CreditDecision::Approve => {
            Some(post_credit(&mut tx, tenant_id, staff, &request, amount, now).await?)
        }
    };
    let decided = Decided {
        ctx,
        tenant_id,
        staff,
        request: &request,
        journal_id,
        now,
    };
    record_decision(&mut tx, &decided, &decision).await?;
    audit_adjustment(&mut tx, &decided).await?;
    if let (Some(finding_id), Some(journal_id)) = (request.finding_id, journal_id) {
        resolve_finding(
            &mut tx, tenant_id, staff, &request, finding_id, journal_id, now,
        )
        .await?;
    }
    tx.commit().await?;
    tracing::info!(
        tenant = %tenant_id, staff = %staff.id, request = %request_id,
        decision = decision.state.as_str(), journal = ?journal_id, "credit request decided"
    );
    Ok(CreditDecisionReceipt {
        request: row(pool, tenant_id, request_id, Some(staff)).await?,
        replayed: false,
    })
}

/// A request already decided: the same decider's same key with the same decision is a replay
/// (`Ok`); the same key with another decision or note is reused; anyone else is told it is
/// decided.
fn replay(
    request: &RequestSqlRow,
    staff: &StaffMember,
    decision: &Decision<'_>,
) -> ServerResult<()> {
    if request.decided_by_id == Some(staff.id)
        && request.decision_key.as_deref() == Some(decision.idempotency_key)
    {
        if request.state != decision.state || request.decision_note.as_deref() != decision.note {
            return Err(key_reused().into());
        }
        return Ok(());
    }
    Err(AppError::new(
        ErrorCode::InvalidStateTransition,
        format!("This credit request was already {}.", request.state),
    )
    .into())
}

/// A decision being recorded: who decided which request, and the journal it posted.
struct Decided<'a> {
    ctx: &'a RequestCtx,
    tenant_id: TenantId,
    staff: &'a StaffMember,
    request: &'a RequestSqlRow,
    journal_id: Option<Uuid>,
    now: DateTime<Utc>,
}

/// The request's state change and its audit event.
async fn record_decision(
    tx: &mut sqlx::PgConnection,
    decided: &Decided<'_>,
    decision: &Decision<'_>,
) -> ServerResult<()> {
    let Decided {
        ctx,
        tenant_id,
        staff,
        request,
        journal_id,
        now,
    } = *decided;
    sqlx::query(
        "UPDATE credit_requests
            SET state = $3, decided_by = $4, decided_at = $5, decision_note = $6,
                decision_key = $7, journal_id = $8
          WHERE tenant_id = $1 AND id = $2",
    )
    .bind(tenant_id)
    .bind(request.id)
    .bind(decision.state.as_str())
    .bind(staff.id)
    .bind(now)
    .bind(decision.note)
    .bind(decision.idempotency_key)
    .bind(journal_id)
    .execute(&mut *tx)
    .await?;
    let event = AuditEvent {
        tenant_id,
        actor: Actor::Staff(staff.id),
        action: format!("credit.{}", decision.state),
        target_type: "credit_request".into(),
        target_id: request.id.to_string(),
        before: Some(serde_json::json!({
            "state": CreditRequestState::Pending,
            "requested_by": request.requested_by_id,
        })),
        after: Some(serde_json::json!({
            "state": decision.state,
            "journal_id": journal_id,
            "player_id": request.player_id,
            "amount_minor": request.amount_minor,
            "currency": request.currency,
        })),
        reason: decision.note.map(str::to_owned),
        request_id: audit::request_id(ctx),
        idempotency_key: Some(decision.idempotency_key.to_owned()),
        ip: audit::client_ip(ctx),
        at: now,
    };
    audit::record(tx, &event).await?;
    Ok(())
}

/// The player's own trail names every adjustment posted to them, credits and debits alike (a
/// correction that captured a deposit is that deposit's `deposit.captured` instead).
async fn audit_adjustment(tx: &mut sqlx::PgConnection, decided: &Decided<'_>) -> ServerResult<()> {
    let (tenant_id, request) = (decided.tenant_id, decided.request);
    let Some(journal_id) = decided.journal_id else {
        return Ok(());
    };
    let captured_deposit = request.object_type.as_deref() == Some("deposit")
        && sqlx::query_scalar::<_, bool>(
            "SELECT EXISTS (SELECT 1 FROM deposits WHERE tenant_id = $1 AND id = $2
                                                     AND capture_journal_id = $3)",
        )
        .bind(tenant_id)
        .bind(request.object_id)
        .bind(journal_id)
        .fetch_one(&mut *tx)
        .await?;
    if captured_deposit {
        return Ok(());
    }
    let posted = AuditEvent {
        tenant_id,
        actor: Actor::Staff(decided.staff.id),
        action: "adjustment.posted".into(),
        target_type: "player".into(),
        target_id: request.player_id.to_string(),
        before: None,
        after: Some(serde_json::json!({
            "journal_id": journal_id,
            "direction": "credit",
            "amount_minor": request.amount_minor,
            "currency": request.currency,
            "credit_request_id": request.id,
            "requested_by": request.requested_by_id,
        })),
        reason: Some(request.reason.clone()),
        request_id: audit::request_id(decided.ctx),
        idempotency_key: Some(format!("credit-request:{}", request.id)),
        ip: audit::client_ip(decided.ctx),
        at: decided.now,
    };
    audit::record(tx, &posted).await?;
    Ok(())
}

/// Posts an approved credit: a correction of a deposit that was never captured captures THAT
/// deposit (its capture journal, through the payments path), so the PSP's later word about it
/// credits nothing more; anything else is an adjustment `adjustments -> player_cash`. Both carry
/// the ledger key `credit-request:<id>`.
async fn post_credit(
    tx: &mut sqlx::PgConnection,
    tenant_id: TenantId,
    staff: &StaffMember,
    request: &RequestSqlRow,
    amount: Money,
    now: DateTime<Utc>,
) -> ServerResult<Uuid> {
    let idempotency_key = IdempotencyKey::parse(format!("credit-request:{}", request.id))?;
    if let (Some("deposit"), Some(object_id)) = (request.object_type.as_deref(), request.object_id)
    {
        let deposit_id = DepositId(object_id);
        let finding_id = request.finding_id.ok_or_else(AppError::internal)?;
        let settled = crate::deposits::capture_by_correction(
            tx,
            tenant_id,
            deposit_id,
            &idempotency_key,
            amount,
            staff.id,
            now,
        )
        .await?;
        if let Some(journal_id) = settled {
            return Ok(journal_id);
        }
        // Captured meanwhile (the PSP's webhook or the sweep came first): only what the finding
        // still owes the player may be credited.
        let owed = owed_now(tx, tenant_id, finding_id, deposit_id).await?;
        if amount.to_minor_units() > owed {
            return Err(AppError::new(
                ErrorCode::InvalidStateTransition,
                format!(
                    "The deposit was credited meanwhile: {} is left to credit for this finding. Decline this request.",
                    app::domain::money::SignedMoney::from_minor_units(owed.max(0), amount.currency())
                ),
            ).into());
        }
    }
    let journal = NewJournal {
        idempotency_key,
        kind: JournalKind::ADJUSTMENT,
        reference: Some(format!("player:{}", request.player_id)),
        transfers: vec![NewTransfer {
            debit: AccountRef::Adjustments,
            credit: AccountRef::PlayerCash(request.player_id),
            amount,
        }],
        metadata: serde_json::Map::from_iter([
            (
                "credit_request_id".to_owned(),
                request.id.to_string().into(),
            ),
            (
                "requested_by".to_owned(),
                request.requested_by_id.to_string().into(),
            ),
            ("approved_by".to_owned(), staff.id.to_string().into()),
            ("reason".to_owned(), request.reason.clone().into()),
        ]),
    };
    let posted = ledger::post_journal_in_transaction(tx, tenant_id, &journal).await?;
    Ok(posted.journal_id.0)
}

/// What a deposit finding still owes the player now: what the PSP took for the deposit (as the
/// finding recorded it) less every credit the ledger holds for it (capture journals and approved
/// corrections).
async fn owed_now(
    tx: &mut sqlx::PgConnection,
    tenant_id: TenantId,
    finding_id: Uuid,
    deposit_id: DepositId,
) -> ServerResult<i64> {
    Ok(sqlx::query_scalar(
        "SELECT (CASE WHEN f.psp_status = 'paid' THEN coalesce(f.psp_amount_minor, 0) ELSE 0 END)
                - (SELECT coalesce(sum(t.amount_minor), 0)::bigint
                     FROM ledger_journals j JOIN ledger_transfers t ON t.journal_id = j.id
                    WHERE j.tenant_id = f.tenant_id
                      AND ((j.kind = 'deposit_capture' AND j.reference = 'deposit:' || $3::text)
                           OR j.id IN (SELECT c.journal_id FROM credit_requests c
                                        WHERE c.tenant_id = f.tenant_id AND c.object_id = $3
                                          AND c.state = 'approved')))
           FROM reconciliation_findings f WHERE f.tenant_id = $1 AND f.id = $2",
    )
    .bind(tenant_id)
    .bind(finding_id)
    .bind(deposit_id)
    .fetch_one(&mut *tx)
    .await?)
}

/// An approved correction resolves its finding, with the requester's note and the journal.
async fn resolve_finding(
    tx: &mut sqlx::PgConnection,
    tenant_id: TenantId,
    staff: &StaffMember,
    request: &RequestSqlRow,
    finding_id: Uuid,
    journal_id: Uuid,
    now: DateTime<Utc>,
) -> ServerResult<()> {
    let resolved = sqlx::query(
        "UPDATE reconciliation_findings
            SET status = 'resolved', resolved_at = $3, resolved_by = $4, resolution_note = $5,
                correcting_journal_id = $6
          WHERE tenant_id = $1 AND id = $2 AND status = 'open'",
    )
    .bind(tenant_id)
    .bind(finding_id)
    .bind(now)
    .bind(request.requested_by_id)
    .bind(&request.reason)
    .bind(journal_id)
    .execute(&mut *tx)
    .await?;
    if resolved.rows_affected() == 1 {
        let event = AuditEvent {
            tenant_id,
            actor: Actor::Staff(staff.id),
            action: crate::backoffice::reconciliation::resolve::RESOLVED_ACTION.into(),
            target_type: "reconciliation_finding".into(),
            target_id: finding_id.to_string(),
            before: Some(serde_json::json!({"status": "open"})),
            after: Some(serde_json::json!({
                "status": "resolved",
                "correction": "credit",
                "credit_request_id": request.id,
                "correcting_journal_id": journal_id,
            })),
            reason: Some(request.reason.clone()),
            request_id: None,
            idempotency_key: None,
            ip: None,
            at: now,
        };
        audit::record(tx, &event).await?;
    }
    Ok(())
}
