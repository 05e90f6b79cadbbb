//! Four eyes on money that staff create. A manual credit or a reconciliation correction that
//! credits a player is a request (`credit_requests`); it posts only when a second, different
//! finance or owner staff member approves it. Approval posts the journal exactly once (ledger
//! key `credit-request:<id>`) in the same transaction as the request's state change and its
//! audit event; the table's `credit_requests_four_eyes` CHECK refuses one person as both.

use app::api::RequestCtx;
use app::backoffice::credits::{
    CREDIT_REQUEST_PAGE_SIZE, CREDIT_REQUEST_STATES, CreditDecision, CreditDecisionReceipt,
    CreditRequestFilter, CreditRequestPage, CreditRequestRow, DECISION_NOTE_LENGTH_MAX,
};
use app::domain::money::{Currency, Money};
use app::error::{AppError, ErrorCode};
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use uuid::Uuid;

use super::filter_text;
use crate::audit::{self, Actor, AuditEvent};
use crate::auth::StaffMember;
use crate::error::ServerError;
use crate::ledger::{self, AccountRef, IdempotencyKey, JournalKind, NewJournal, NewTransfer};
use crate::services::Services;

/// Deepest page offered.
const OFFSET_MAX: i64 = 10_000;
/// Longest idempotency key a decision may carry.
const DECISION_KEY_LENGTH_MAX: usize = 200;

/// Where a credit request comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Adjustment,
    Reconciliation,
}

impl Source {
    fn as_str(self) -> &'static str {
        match self {
            Source::Adjustment => "adjustment",
            Source::Reconciliation => "reconciliation",
        }
    }
}

/// The finding a correction resolves, and the object of ours it corrects.
#[derive(Debug, Clone)]
pub struct FindingLink {
    pub finding_id: Uuid,
    pub object_type: Option<String>,
    pub object_id: Option<Uuid>,
}

/// A credit to ask for; `idempotency_key` is already scoped by its source.
#[derive(Debug, Clone)]
pub struct NewCreditRequest<'a> {
    pub source: Source,
    pub player_id: Uuid,
    pub amount: Money,
    pub reason: &'a str,
    pub idempotency_key: String,
    pub finding: Option<FindingLink>,
}

impl NewCreditRequest<'_> {
    pub fn sha256(&self) -> Vec<u8> {
        Sha256::digest(format!(
            "{}|{}|{}|{}|{}|{}",
            self.source.as_str(),
            self.player_id,
            self.amount.to_minor_units(),
            self.amount.currency().code(),
            self.finding
                .as_ref()
                .map(|link| link.finding_id.to_string())
                .unwrap_or_default(),
            self.reason,
        ))
        .to_vec()
    }
}

/// A request as stored: its id, and whether this key had made it already.
#[derive(Debug, Clone, Copy)]
pub struct Requested {
    pub id: Uuid,
    pub replayed: bool,
}

fn key_reused() -> AppError {
    AppError::new(
        ErrorCode::IdempotencyKeyReused,
        "This request's key was already used for a different request; nothing was changed.",
    )
}

/// The request `staff` made with this (scoped) key, if any, and whether `same` matches it.
pub async fn existing_request(
    conn: &mut sqlx::PgConnection,
    tenant_id: Uuid,
    staff_id: Uuid,
    idempotency_key: &str,
) -> Result<Option<(Uuid, Vec<u8>)>, ServerError> {
    Ok(sqlx::query_as(
        "SELECT id, request_sha256 FROM credit_requests
          WHERE tenant_id = $1 AND requested_by = $2 AND idempotency_key = $3",
    )
    .bind(tenant_id)
    .bind(staff_id)
    .bind(idempotency_key)
    .fetch_optional(&mut *conn)
    .await?)
}

/// Asks for a credit inside the caller's transaction, with its audit event. The same key with
/// the same request returns the first request (`replayed`); with another request (amount,
/// reason, player, finding) it is `idempotency_key_reused` and writes nothing.
pub async fn request(
    tx: &mut sqlx::PgConnection,
    ctx: &RequestCtx,
    tenant_id: Uuid,
    staff: &StaffMember,
    new: &NewCreditRequest<'_>,
    now: DateTime<Utc>,
) -> Result<Requested, ServerError> {
    let hash = new.sha256();
    let id = Uuid::new_v4();
    let link = new.finding.as_ref();
    let inserted: Option<Uuid> = sqlx::query_scalar(
        "INSERT INTO credit_requests
             (id, tenant_id, player_id, currency, amount_minor, reason, source, finding_id,
              object_type, object_id, requested_by, requested_at, idempotency_key, request_sha256)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
         ON CONFLICT ON CONSTRAINT credit_requests_idempotency_key DO NOTHING
         RETURNING id",
    )
    .bind(id)
    .bind(tenant_id)
    .bind(new.player_id)
    .bind(new.amount.currency().code())
    .bind(new.amount.to_minor_units())
    .bind(new.reason)
    .bind(new.source.as_str())
    .bind(link.map(|link| link.finding_id))
    .bind(link.and_then(|link| link.object_type.clone()))
    .bind(link.and_then(|link| link.object_id))
    .bind(staff.id)
    .bind(now)
    .bind(&new.idempotency_key)
    .bind(&hash)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(id) = inserted else {
        let (existing, existing_hash) =
            existing_request(tx, tenant_id, staff.id, &new.idempotency_key)
                .await?
                .ok_or_else(AppError::internal)?;
        if existing_hash != hash {
            return Err(key_reused().into());
        }
        return Ok(Requested {
            id: existing,
            replayed: true,
        });
    };
    let event = AuditEvent {
        tenant_id,
        actor: Actor::Staff(staff.id),
        action: "credit.requested".into(),
        target_type: "credit_request".into(),
        target_id: id.to_string(),
        before: None,
        after: Some(serde_json::json!({
            "state": "pending",
            "source": new.source.as_str(),
            "player_id": new.player_id,
            "amount_minor": new.amount.to_minor_units(),
            "currency": new.amount.currency().code(),
            "finding_id": link.map(|link| link.finding_id),
            "object_type": link.and_then(|link| link.object_type.clone()),
            "object_id": link.and_then(|link| link.object_id),
        })),
        reason: Some(new.reason.to_owned()),
        request_id: audit::request_id(ctx),
        idempotency_key: Some(new.idempotency_key.clone()),
        ip: audit::client_ip(ctx),
        at: now,
    };
    audit::record(tx, &event).await?;
    tracing::info!(tenant = %tenant_id, staff = %staff.id, request = %id, "credit requested");
    Ok(Requested {
        id,
        replayed: false,
    })
}

#[derive(Debug, Clone, sqlx::FromRow)]
struct RequestSqlRow {
    id: Uuid,
    state: String,
    source: String,
    player_id: Uuid,
    player_email: String,
    currency: String,
    amount_minor: i64,
    reason: String,
    requested_by_id: Uuid,
    requested_by: String,
    requested_at: DateTime<Utc>,
    decided_by_id: Option<Uuid>,
    decided_by: Option<String>,
    decided_at: Option<DateTime<Utc>>,
    decision_note: Option<String>,
    decision_key: Option<String>,
    journal_id: Option<Uuid>,
    finding_id: Option<Uuid>,
    object_type: Option<String>,
    object_id: Option<Uuid>,
}

const REQUEST_SELECT: &str = "SELECT c.id, c.state, c.source, c.player_id, p.email AS player_email,
        c.currency::text AS currency, c.amount_minor, c.reason, c.requested_by AS requested_by_id,
        r.email AS requested_by, c.requested_at, c.decided_by AS decided_by_id,
        d.email AS decided_by, c.decided_at, c.decision_note, c.decision_key, c.journal_id,
        c.finding_id, c.object_type, c.object_id
   FROM credit_requests c
   JOIN players p ON p.tenant_id = c.tenant_id AND p.id = c.player_id
   JOIN staff r ON r.tenant_id = c.tenant_id AND r.id = c.requested_by
   LEFT JOIN staff d ON d.tenant_id = c.tenant_id AND d.id = c.decided_by";

impl RequestSqlRow {
    fn amount(&self) -> Result<Money, ServerError> {
        let currency = Currency::parse(&self.currency)?;
        Ok(Money::from_minor_units(self.amount_minor, currency)?)
    }

    fn into_row(self, viewer: Option<&StaffMember>) -> Result<CreditRequestRow, ServerError> {
        let may_decide = viewer.is_some_and(|viewer| {
            viewer.role >= app::auth::StaffRole::Finance
                && viewer.id != self.requested_by_id
                && self.state == "pending"
        });
        Ok(CreditRequestRow {
            amount: self.amount()?,
            id: self.id,
            state: self.state,
            source: self.source,
            player_id: self.player_id,
            player_email: self.player_email,
            reason: self.reason,
            requested_by: self.requested_by,
            requested_at: self.requested_at,
            decided_by: self.decided_by,
            decided_at: self.decided_at,
            decision_note: self.decision_note,
            journal_id: self.journal_id,
            finding_id: self.finding_id,
            object_type: self.object_type,
            object_id: self.object_id,
            may_decide,
        })
    }
}

async fn request_row(
    conn: &mut sqlx::PgConnection,
    tenant_id: Uuid,
    request_id: Uuid,
    lock: bool,
) -> Result<RequestSqlRow, ServerError> {
    Ok(sqlx::query_as(&format!(
        "{REQUEST_SELECT} WHERE c.tenant_id = $1 AND c.id = $2{}",
        if lock { " FOR UPDATE OF c" } else { "" }
    ))
    .bind(tenant_id)
    .bind(request_id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| AppError::not_found("Credit request"))?)
}

/// The queue: this brand's requests, pending first, newest first.
pub async fn page(
    pool: &PgPool,
    tenant_id: Uuid,
    viewer: &StaffMember,
    filter: &CreditRequestFilter,
) -> Result<CreditRequestPage, ServerError> {
    let state = filter_text(&filter.state);
    if state
        .as_ref()
        .is_some_and(|state| !CREDIT_REQUEST_STATES.contains(&state.as_str()))
    {
        return Err(AppError::invalid("state", "Choose pending, approved or declined.").into());
    }
    let offset = filter.offset.unwrap_or(0).clamp(0, OFFSET_MAX);
    let rows: Vec<RequestSqlRow> = sqlx::query_as(&format!(
        "{REQUEST_SELECT}
          WHERE c.tenant_id = $1 AND ($2::text IS NULL OR c.state = $2)
          ORDER BY c.state <> 'pending', c.requested_at DESC, c.id
          LIMIT $3 OFFSET $4"
    ))
    .bind(tenant_id)
    .bind(&state)
    .bind(CREDIT_REQUEST_PAGE_SIZE)
    .bind(offset)
    .fetch_all(pool)
    .await?;
    let next_offset = (rows.len() as i64 == CREDIT_REQUEST_PAGE_SIZE
        && offset + CREDIT_REQUEST_PAGE_SIZE <= OFFSET_MAX)
        .then_some(offset + CREDIT_REQUEST_PAGE_SIZE);
    Ok(CreditRequestPage {
        requests: rows
            .into_iter()
            .map(|row| row.into_row(Some(viewer)))
            .collect::<Result<_, _>>()?,
        next_offset,
        can_act: viewer.role >= app::auth::StaffRole::Finance,
    })
}

/// One request for its requester's receipt.
pub async fn row(
    pool: &PgPool,
    tenant_id: Uuid,
    request_id: Uuid,
    viewer: Option<&StaffMember>,
) -> Result<CreditRequestRow, ServerError> {
    let mut conn = pool.acquire().await?;
    request_row(&mut conn, tenant_id, request_id, false)
        .await?
        .into_row(viewer)
}

/// Approves (posts the credit once) or declines a pending request, as a staff member who did not
/// ask for it. The request row is locked, so of two deciders one wins and the other is told the
/// request is decided; the same key again returns the decision (`replayed`), the same key with
/// another decision or note is `idempotency_key_reused`.
#[allow(clippy::too_many_arguments)]
pub async fn decide(
    services: &Services,
    ctx: &RequestCtx,
    tenant_id: Uuid,
    staff: &StaffMember,
    request_id: Uuid,
    decision: CreditDecision,
    note: Option<&str>,
    idempotency_key: &str,
) -> Result<CreditDecisionReceipt, ServerError> {
    let note = note.map(str::trim).filter(|note| !note.is_empty());
    if note.is_some_and(|note| note.chars().count() > DECISION_NOTE_LENGTH_MAX) {
        return Err(AppError::invalid(
            "note",
            format!("Write a note of at most {DECISION_NOTE_LENGTH_MAX} characters."),
        )
        .into());
    }
    let idempotency_key = idempotency_key.trim();
    if idempotency_key.is_empty() || idempotency_key.len() > DECISION_KEY_LENGTH_MAX {
        return Err(AppError::invalid(
            "idempotency_key",
            "The request has no valid idempotency key.",
        )
        .into());
    }
    let now = services.now();
    let pool = services.pool();
    let mut tx = pool.begin().await?;
    let request = request_row(&mut tx, tenant_id, request_id, true).await?;
    if decision == CreditDecision::Decline && note.is_none() {
        return Err(AppError::invalid("note", "Say why the credit is declined.").into());
    }
    let decided_state = match decision {
        CreditDecision::Approve => "approved",
        CreditDecision::Decline => "declined",
    };
    if request.state != "pending" {
        tx.commit().await?;
        if request.decided_by_id == Some(staff.id)
            && request.decision_key.as_deref() == Some(idempotency_key)
        {
            if request.state != decided_state || request.decision_note.as_deref() != note {
                return Err(key_reused().into());
            }
            return Ok(CreditDecisionReceipt {
                request: row(pool, tenant_id, request_id, Some(staff)).await?,
                replayed: true,
            });
        }
        return Err(AppError::new(
            ErrorCode::InvalidStateTransition,
            format!("This credit request was already {}.", request.state),
        )
        .into());
    }
    if request.requested_by_id == staff.id {
        return Err(AppError::new(
            ErrorCode::Forbidden,
            "You asked for this credit: a different staff member must approve or decline it.",
        )
        .into());
    }
    let amount = request.amount()?;
    let journal_id = match decision {
        CreditDecision::Decline => None,
        CreditDecision::Approve => {
            Some(post_credit(&mut tx, tenant_id, staff, &request, amount, now).await?)
        }
    };
    sqlx::query(
        "UPDATE credit_requests
            SET state = $3, decided_by = $4, decided_at = $5, decision_note = $6,
                decision_key = $7, journal_id = $8
          WHERE tenant_id = $1 AND id = $2",
    )
    .bind(tenant_id)
    .bind(request_id)
    .bind(decided_state)
    .bind(staff.id)
    .bind(now)
    .bind(note)
    .bind(idempotency_key)
    .bind(journal_id)
    .execute(&mut *tx)
    .await?;
    let event = AuditEvent {
        tenant_id,
        actor: Actor::Staff(staff.id),
        action: format!("credit.{decided_state}"),
        target_type: "credit_request".into(),
        target_id: request_id.to_string(),
        before: Some(serde_json::json!({
            "state": "pending",
            "requested_by": request.requested_by_id,
        })),
        after: Some(serde_json::json!({
            "state": decided_state,
            "journal_id": journal_id,
            "player_id": request.player_id,
            "amount_minor": request.amount_minor,
            "currency": request.currency,
        })),
        reason: note.map(str::to_owned),
        request_id: audit::request_id(ctx),
        idempotency_key: Some(idempotency_key.to_owned()),
        ip: audit::client_ip(ctx),
        at: now,
    };
    audit::record(&mut tx, &event).await?;
    // The player's own trail names every adjustment posted to them, credits and debits alike (a
    // correction that captured a deposit is that deposit's `deposit.captured` instead).
    let captured_deposit = request.object_type.as_deref() == Some("deposit")
        && journal_id.is_some()
        && sqlx::query_scalar::<_, bool>(
            "SELECT EXISTS (SELECT 1 FROM deposits WHERE tenant_id = $1 AND id = $2
                                                     AND capture_journal_id = $3)",
        )
        .bind(tenant_id)
        .bind(request.object_id)
        .bind(journal_id)
        .fetch_one(&mut *tx)
        .await?;
    if let Some(journal_id) = journal_id.filter(|_| !captured_deposit) {
        let posted = AuditEvent {
            tenant_id,
            actor: Actor::Staff(staff.id),
            action: "adjustment.posted".into(),
            target_type: "player".into(),
            target_id: request.player_id.to_string(),
            before: None,
            after: Some(serde_json::json!({
                "journal_id": journal_id,
                "direction": "credit",
                "amount_minor": request.amount_minor,
                "currency": request.currency,
                "credit_request_id": request_id,
                "requested_by": request.requested_by_id,
            })),
            reason: Some(request.reason.clone()),
            request_id: audit::request_id(ctx),
            idempotency_key: Some(format!("credit-request:{request_id}")),
            ip: audit::client_ip(ctx),
            at: now,
        };
        audit::record(&mut tx, &posted).await?;
    }
    if let (Some(finding_id), Some(journal_id)) = (request.finding_id, journal_id) {
        resolve_finding(
            &mut tx, tenant_id, staff, &request, finding_id, journal_id, now,
        )
        .await?;
    }
    tx.commit().await?;
    tracing::info!(
        tenant = %tenant_id, staff = %staff.id, request = %request_id, decision = decided_state,
        journal = ?journal_id, "credit request decided"
    );
    Ok(CreditDecisionReceipt {
        request: row(pool, tenant_id, request_id, Some(staff)).await?,
        replayed: false,
    })
}

/// Posts an approved credit: a correction of a deposit that was never captured captures THAT
/// deposit (its capture journal, through the payments path), so the PSP's later word about it
/// credits nothing more; anything else is an adjustment `adjustments -> player_cash`. Both carry
/// the ledger key `credit-request:<id>`.
async fn post_credit(
    tx: &mut sqlx::PgConnection,
    tenant_id: Uuid,
    staff: &StaffMember,
    request: &RequestSqlRow,
    amount: Money,
    now: DateTime<Utc>,
) -> Result<Uuid, ServerError> {
    let idempotency_key = IdempotencyKey::parse(format!("credit-request:{}", request.id))?;
    if let (Some("deposit"), Some(deposit_id)) = (request.object_type.as_deref(), request.object_id)
    {
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
                    app::domain::money::SignedMoney::from_minor_units(
                        owed.max(0),
                        amount.currency()
                    )
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
    tenant_id: Uuid,
    finding_id: Uuid,
    deposit_id: Uuid,
) -> Result<i64, ServerError> {
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
    tenant_id: Uuid,
    staff: &StaffMember,
    request: &RequestSqlRow,
    finding_id: Uuid,
    journal_id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), ServerError> {
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
            action: super::findings::RESOLVED_ACTION.into(),
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
