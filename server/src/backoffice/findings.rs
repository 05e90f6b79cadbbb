//! Reconciliation findings for staff: the list, the run button, and resolving a finding (with a
//! note, and where the money is wrong a fix through the normal paths) in one audited transaction.

use app::api::RequestCtx;
use app::backoffice::reconciliation::{
    FINDING_KINDS, FINDING_PAGE_SIZE, FINDING_STATUSES, FindingFilter, FindingPage, FindingRow,
    RESOLUTION_NOTE_LENGTH_MAX, RunSummary,
};
use app::domain::money::{Currency, Money, SignedMoney};
use app::error::{AppError, ErrorCode};
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use super::credits::{self, FindingLink, NewCreditRequest};
use super::filter_text;
use super::reconciliation::{self, RunScope};
use crate::audit::{self, Actor, AuditEvent};
use crate::auth::StaffMember;
use crate::error::ServerError;
use crate::ledger::{self, AccountRef, IdempotencyKey, JournalKind, NewJournal, NewTransfer};
use crate::psp::ProviderUpdate;
use crate::psp::webhooks::EventStatus;
use crate::services::Services;

/// Deepest page offered.
const OFFSET_MAX: i64 = 10_000;
/// The audit action of a resolution.
pub const RESOLVED_ACTION: &str = "reconciliation.finding_resolved";

#[derive(sqlx::FromRow)]
struct FindingSqlRow {
    id: Uuid,
    provider: String,
    reference: String,
    kind: String,
    severity: String,
    status: String,
    object_type: Option<String>,
    object_id: Option<Uuid>,
    player_id: Option<Uuid>,
    player_email: Option<String>,
    currency: Option<String>,
    psp_amount_minor: Option<i64>,
    ledger_amount_minor: Option<i64>,
    psp_status: Option<String>,
    ledger_status: Option<String>,
    message: String,
    first_seen_at: DateTime<Utc>,
    last_seen_at: DateTime<Utc>,
    resolved_at: Option<DateTime<Utc>>,
    resolved_by: Option<String>,
    resolution_note: Option<String>,
    correcting_journal_id: Option<Uuid>,
    pending_credit_request_id: Option<Uuid>,
}

impl FindingSqlRow {
    fn into_row(self) -> FindingRow {
        let currency = self
            .currency
            .as_deref()
            .and_then(|code| Currency::parse(code).ok());
        let money = |minor: Option<i64>| {
            minor
                .zip(currency)
                .map(|(minor, currency)| SignedMoney::from_minor_units(minor, currency))
        };
        FindingRow {
            id: self.id,
            provider: self.provider,
            reference: self.reference,
            kind: self.kind,
            severity: self.severity,
            status: self.status,
            object_type: self.object_type,
            object_id: self.object_id,
            player_id: self.player_id,
            player_email: self.player_email,
            psp_amount: money(self.psp_amount_minor),
            ledger_amount: money(self.ledger_amount_minor),
            psp_status: self.psp_status,
            ledger_status: self.ledger_status,
            message: self.message,
            first_seen_at: self.first_seen_at,
            last_seen_at: self.last_seen_at,
            resolved_at: self.resolved_at,
            resolved_by: self.resolved_by,
            resolution_note: self.resolution_note,
            correcting_journal_id: self.correcting_journal_id,
            pending_credit_request_id: self.pending_credit_request_id,
        }
    }
}

/// Findings with the player's and resolver's emails; filter with `f.` columns.
pub const FINDING_SELECT: &str = "SELECT f.id, f.provider::text, f.reference, f.kind, f.severity,
        f.status, f.object_type, f.object_id, f.player_id, p.email AS player_email,
        f.currency::text AS currency, f.psp_amount_minor, f.ledger_amount_minor, f.psp_status,
        f.ledger_status, f.message, f.first_seen_at, f.last_seen_at, f.resolved_at,
        s.email AS resolved_by, f.resolution_note, f.correcting_journal_id,
        (SELECT c.id FROM credit_requests c
          WHERE c.finding_id = f.id AND c.state = 'pending') AS pending_credit_request_id
   FROM reconciliation_findings f
   LEFT JOIN players p ON p.tenant_id = f.tenant_id AND p.id = f.player_id
   LEFT JOIN staff s ON s.tenant_id = f.tenant_id AND s.id = f.resolved_by";

/// A findings filter whose values are known to be valid.
#[derive(Debug, Clone, Default)]
pub struct CheckedFilter {
    pub status: Option<String>,
    pub kind: Option<String>,
    pub provider: Option<String>,
}

pub fn checked_filter(filter: &FindingFilter) -> Result<CheckedFilter, ServerError> {
    let status = filter_text(&filter.status);
    if status
        .as_ref()
        .is_some_and(|status| !FINDING_STATUSES.contains(&status.as_str()))
    {
        return Err(AppError::invalid("status", "Choose open or resolved.").into());
    }
    let kind = filter_text(&filter.kind);
    if kind
        .as_ref()
        .is_some_and(|kind| !FINDING_KINDS.contains(&kind.as_str()))
    {
        return Err(AppError::invalid("kind", "Choose one of the finding kinds offered.").into());
    }
    Ok(CheckedFilter {
        status,
        kind,
        provider: filter_text(&filter.provider),
    })
}

pub async fn page(
    pool: &PgPool,
    tenant_id: Uuid,
    filter: &FindingFilter,
    can_act: bool,
) -> Result<FindingPage, ServerError> {
    let checked = checked_filter(filter)?;
    let offset = filter.offset.unwrap_or(0).clamp(0, OFFSET_MAX);
    let rows: Vec<FindingSqlRow> = sqlx::query_as(&format!(
        "{FINDING_SELECT}
          WHERE f.tenant_id = $1 AND ($2::text IS NULL OR f.status = $2)
            AND ($3::text IS NULL OR f.kind = $3) AND ($4::text IS NULL OR f.provider = $4)
          ORDER BY f.status = 'resolved', f.last_seen_at DESC, f.id
          LIMIT $5 OFFSET $6"
    ))
    .bind(tenant_id)
    .bind(&checked.status)
    .bind(&checked.kind)
    .bind(&checked.provider)
    .bind(FINDING_PAGE_SIZE)
    .bind(offset)
    .fetch_all(pool)
    .await?;
    let next_offset = (rows.len() as i64 == FINDING_PAGE_SIZE
        && offset + FINDING_PAGE_SIZE <= OFFSET_MAX)
        .then_some(offset + FINDING_PAGE_SIZE);
    Ok(FindingPage {
        findings: rows.into_iter().map(FindingSqlRow::into_row).collect(),
        next_offset,
        can_act,
        last_run: run_summary(pool, tenant_id, None).await?,
    })
}

type RunRow = (
    Uuid,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
    String,
    i32,
    i32,
    i32,
    Option<String>,
);

/// The latest run of this tenant's back office (command-line runs cover every tenant and are
/// reported by the command itself), or the run `run_id`.
async fn run_summary(
    pool: &PgPool,
    tenant_id: Uuid,
    run_id: Option<Uuid>,
) -> Result<Option<RunSummary>, ServerError> {
    let row: Option<RunRow> = sqlx::query_as(
        "SELECT r.id, r.started_at, r.finished_at, coalesce(s.email, r.actor), r.records_checked,
                r.findings_new, r.findings_seen, r.error
           FROM reconciliation_runs r
           LEFT JOIN staff s ON s.tenant_id = r.tenant_id AND 'staff:' || s.id::text = r.actor
          WHERE r.tenant_id = $1 AND ($2::uuid IS NULL OR r.id = $2)
          ORDER BY r.started_at DESC LIMIT 1",
    )
    .bind(tenant_id)
    .bind(run_id)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(
        |(
            id,
            started_at,
            finished_at,
            actor,
            records_checked,
            findings_new,
            findings_seen,
            error,
        )| {
            RunSummary {
                id,
                started_at,
                finished_at,
                actor,
                records_checked,
                findings_new,
                findings_seen,
                error,
            }
        },
    ))
}

/// The run button: this tenant, every enabled provider; the run is audited.
pub async fn run_for_tenant(
    services: &Services,
    ctx: &RequestCtx,
    tenant_id: Uuid,
    staff: &StaffMember,
    idempotency_key: &str,
) -> Result<RunSummary, ServerError> {
    let scope = RunScope {
        tenant_id: Some(tenant_id),
        ..RunScope::default()
    };
    let report =
        reconciliation::run(services, &scope, &format!("staff:{}", staff.id), false).await?;
    let event = AuditEvent {
        tenant_id,
        actor: Actor::Staff(staff.id),
        action: "reconciliation.run".into(),
        target_type: "reconciliation_run".into(),
        target_id: report.run_id.map(|id| id.to_string()).unwrap_or_default(),
        before: None,
        after: Some(serde_json::json!({
            "records_checked": report.records_checked,
            "findings_new": report.findings_new,
            "findings_seen": report.findings_seen,
            "errors": report.errors,
        })),
        reason: None,
        request_id: audit::request_id(ctx),
        idempotency_key: Some(idempotency_key.trim().to_owned()).filter(|key| !key.is_empty()),
        ip: audit::client_ip(ctx),
        at: services.now(),
    };
    audit::record_alone(services.pool(), &event).await?;
    Ok(run_summary(services.pool(), tenant_id, report.run_id)
        .await?
        .ok_or_else(AppError::internal)?)
}

/// How a resolution fixes the money.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Correction {
    None,
    ApplyPsp,
    Credit,
    Debit,
}

impl Correction {
    fn parse(value: Option<&str>) -> Result<Correction, ServerError> {
        match value.map(str::trim).unwrap_or("none") {
            "" | "none" => Ok(Correction::None),
            "apply_psp" => Ok(Correction::ApplyPsp),
            "credit" => Ok(Correction::Credit),
            "debit" => Ok(Correction::Debit),
            _ => Err(AppError::invalid("correction", "Choose one of the fixes offered.").into()),
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Correction::None => "none",
            Correction::ApplyPsp => "apply_psp",
            Correction::Credit => "credit",
            Correction::Debit => "debit",
        }
    }
}

/// What resolving needs to know of a finding: (status, provider, reference, object type, object
/// id, player, currency).
type FindingKey = (
    String,
    String,
    String,
    Option<String>,
    Option<Uuid>,
    Option<Uuid>,
    Option<String>,
);

async fn finding_key(
    conn: &mut sqlx::PgConnection,
    tenant_id: Uuid,
    finding_id: Uuid,
    lock: bool,
) -> Result<FindingKey, ServerError> {
    let sql = format!(
        "SELECT status, provider::text, reference, object_type, object_id, player_id, currency::text
           FROM reconciliation_findings WHERE tenant_id = $1 AND id = $2{}",
        if lock { " FOR UPDATE" } else { "" }
    );
    sqlx::query_as(&sql)
        .bind(tenant_id)
        .bind(finding_id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| AppError::not_found("Finding").into())
}

async fn finding_row(
    pool: &PgPool,
    tenant_id: Uuid,
    finding_id: Uuid,
) -> Result<FindingRow, ServerError> {
    let row: FindingSqlRow = sqlx::query_as(&format!(
        "{FINDING_SELECT} WHERE f.tenant_id = $1 AND f.id = $2"
    ))
    .bind(tenant_id)
    .bind(finding_id)
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| AppError::not_found("Finding"))?;
    Ok(row.into_row())
}

/// What the PSP says now about the finding's object, as an update the payments path applies.
async fn psp_update(
    services: &Services,
    conn: &mut sqlx::PgConnection,
    key: &FindingKey,
) -> Result<ProviderUpdate, ServerError> {
    let (_, provider_name, reference, object_type, object_id, _, _) = key;
    let provider = services.providers().get(provider_name).ok_or_else(|| {
        AppError::new(
            ErrorCode::ProviderUnavailable,
            format!("{provider_name} is not enabled here."),
        )
    })?;
    let unavailable = |error: crate::psp::PspError| {
        AppError::new(
            ErrorCode::ProviderUnavailable,
            format!("{provider_name} could not be asked: {error}"),
        )
    };
    match object_type.as_deref() {
        Some("deposit") => Ok(ProviderUpdate::Checkout(
            provider
                .read_checkout(reference)
                .await
                .map_err(unavailable)?,
        )),
        Some("payout_attempt") => {
            let attempt_key: String =
                sqlx::query_scalar("SELECT idempotency_key FROM payout_attempts WHERE id = $1")
                    .bind(object_id)
                    .fetch_one(&mut *conn)
                    .await?;
            Ok(ProviderUpdate::Payout(
                provider
                    .read_payout(&attempt_key)
                    .await
                    .map_err(unavailable)?,
            ))
        }
        _ => Err(AppError::invalid(
            "correction",
            "This finding has no deposit or payout of ours to apply the PSP's word to.",
        )
        .into()),
    }
}

/// The journal that now carries the money of the finding's object (after applying the PSP).
async fn object_journal(
    conn: &mut sqlx::PgConnection,
    key: &FindingKey,
) -> Result<Option<Uuid>, ServerError> {
    let (_, _, _, object_type, object_id, _, _) = key;
    let sql = match object_type.as_deref() {
        Some("deposit") => "SELECT capture_journal_id FROM deposits WHERE id = $1",
        Some("payout_attempt") => {
            "SELECT w.payout_journal_id FROM payout_attempts a
               JOIN withdrawals w ON w.id = a.withdrawal_id WHERE a.id = $1"
        }
        _ => return Ok(None),
    };
    Ok(sqlx::query_scalar::<_, Option<Uuid>>(sql)
        .bind(object_id)
        .fetch_optional(&mut *conn)
        .await
        .map(Option::flatten)?)
}

/// Resolves an open finding: the fix (if any), the resolution and its audit event commit
/// together. The finding's row is locked, so two resolutions cannot both happen; the same key
/// again returns the finding, the same key with another note, fix or amount is
/// `idempotency_key_reused`. A fix is capped at the finding's own discrepancy. A credit is not
/// posted here: it becomes a credit request that a second staff member approves (the finding
/// resolves with that approval); a debit posts at once.
#[allow(clippy::too_many_arguments)]
pub async fn resolve(
    services: &Services,
    ctx: &RequestCtx,
    tenant_id: Uuid,
    staff: &StaffMember,
    finding_id: Uuid,
    note: &str,
    correction: Option<&str>,
    amount: Option<&str>,
    idempotency_key: &str,
) -> Result<FindingRow, ServerError> {
    let note = note.trim();
    if note.is_empty() || note.chars().count() > RESOLUTION_NOTE_LENGTH_MAX {
        return Err(AppError::invalid(
            "note",
            format!("Write a note of 1 to {RESOLUTION_NOTE_LENGTH_MAX} characters."),
        )
        .into());
    }
    let correction = Correction::parse(correction)?;
    let amount_text = amount.map(str::trim).unwrap_or_default();
    let idempotency_key = idempotency_key.trim();
    if idempotency_key.is_empty() || idempotency_key.len() > 200 {
        return Err(AppError::invalid(
            "idempotency_key",
            "The request has no valid idempotency key.",
        )
        .into());
    }
    let scoped_key = format!("finding-resolve:{idempotency_key}");
    let pool = services.pool();
    // The PSP is asked before the transaction: no lock is held across the network call.
    let mut conn = pool.acquire().await?;
    let key = finding_key(&mut conn, tenant_id, finding_id, false).await?;
    let update = match correction {
        Correction::ApplyPsp if key.0 == "open" => {
            Some(psp_update(services, &mut conn, &key).await?)
        }
        _ => None,
    };
    drop(conn);

    let now = services.now();
    let mut tx = pool.begin().await?;
    let key = finding_key(&mut tx, tenant_id, finding_id, true).await?;
    // This key already asked for a credit: the same resolution again, or a reused key.
    if let Some((_, hash)) =
        credits::existing_request(&mut tx, tenant_id, staff.id, &scoped_key).await?
    {
        let same = correction == Correction::Credit
            && credit_request(&key, finding_id, amount_text, note, &scoped_key)
                .is_ok_and(|request| request.sha256() == hash);
        tx.commit().await?;
        if !same {
            return Err(key_reused().into());
        }
        return finding_row(pool, tenant_id, finding_id).await;
    }
    if key.0 != "open" {
        let earlier: Option<(Option<String>, Option<serde_json::Value>)> = sqlx::query_as(
            "SELECT reason, after FROM audit_events
              WHERE tenant_id = $1 AND actor_id = $2 AND action = $3
                AND idempotency_key = $4 AND target_id = $5
              LIMIT 1",
        )
        .bind(tenant_id)
        .bind(staff.id.to_string())
        .bind(RESOLVED_ACTION)
        .bind(&scoped_key)
        .bind(finding_id.to_string())
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        if let Some((reason, after)) = earlier {
            let after = after.unwrap_or_default();
            let same = reason.as_deref() == Some(note)
                && after["correction"].as_str() == Some(correction.as_str())
                && after["amount"].as_str().unwrap_or_default() == amount_text;
            if !same {
                return Err(key_reused().into());
            }
            return finding_row(pool, tenant_id, finding_id).await;
        }
        return Err(AppError::new(
            ErrorCode::InvalidStateTransition,
            "This finding is already resolved.",
        )
        .into());
    }
    let waiting: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM credit_requests
                         WHERE tenant_id = $1 AND finding_id = $2 AND state = 'pending')",
    )
    .bind(tenant_id)
    .bind(finding_id)
    .fetch_one(&mut *tx)
    .await?;
    if waiting {
        return Err(AppError::new(
            ErrorCode::InvalidStateTransition,
            "A correction of this finding waits for approval (Credit approvals): decide it first.",
        )
        .into());
    }
    let journal_id = match correction {
        Correction::None => None,
        Correction::ApplyPsp => {
            let update = update.ok_or_else(AppError::internal)?;
            let outcome = services.apply_update(&mut tx, &key.1, &update, now).await?;
            if outcome.status != EventStatus::Applied {
                return Err(AppError::new(
                    ErrorCode::InvalidStateTransition,
                    format!(
                        "What the PSP reports changes nothing here ({}); resolve with a note or an adjustment.",
                        outcome.note.unwrap_or_default()
                    ),
                ).into());
            }
            object_journal(&mut tx, &key).await?
        }
        Correction::Debit => {
            let (player_id, amount) = correction_amount(&key, amount_text)?;
            check_cap(&mut tx, tenant_id, finding_id, &key, correction, amount).await?;
            Some(
                debit(
                    &mut tx, tenant_id, staff, finding_id, player_id, amount, note,
                )
                .await?,
            )
        }
        Correction::Credit => {
            let request = credit_request(&key, finding_id, amount_text, note, &scoped_key)?;
            check_cap(
                &mut tx,
                tenant_id,
                finding_id,
                &key,
                correction,
                request.amount,
            )
            .await?;
            credits::request(&mut tx, ctx, tenant_id, staff, &request, now).await?;
            // The finding stays open until a second staff member approves the credit.
            tx.commit().await?;
            return finding_row(pool, tenant_id, finding_id).await;
        }
    };
    sqlx::query(
        "UPDATE reconciliation_findings
            SET status = 'resolved', resolved_at = $3, resolved_by = $4, resolution_note = $5,
                correcting_journal_id = $6
          WHERE tenant_id = $1 AND id = $2",
    )
    .bind(tenant_id)
    .bind(finding_id)
    .bind(now)
    .bind(staff.id)
    .bind(note)
    .bind(journal_id)
    .execute(&mut *tx)
    .await?;
    let event = AuditEvent {
        tenant_id,
        actor: Actor::Staff(staff.id),
        action: RESOLVED_ACTION.into(),
        target_type: "reconciliation_finding".into(),
        target_id: finding_id.to_string(),
        before: Some(serde_json::json!({"status": "open", "provider": key.1, "reference": key.2})),
        after: Some(serde_json::json!({
            "status": "resolved",
            "correction": correction.as_str(),
            "amount": amount_text,
            "correcting_journal_id": journal_id,
        })),
        reason: Some(note.to_owned()),
        request_id: audit::request_id(ctx),
        idempotency_key: Some(scoped_key),
        ip: audit::client_ip(ctx),
        at: now,
    };
    audit::record(&mut tx, &event).await?;
    tx.commit().await?;
    finding_row(pool, tenant_id, finding_id).await
}

fn key_reused() -> AppError {
    AppError::new(
        ErrorCode::IdempotencyKeyReused,
        "This request's key was already used for a different resolution; nothing was changed.",
    )
}

/// The player and amount of a correcting adjustment, in the finding's currency.
fn correction_amount(key: &FindingKey, amount: &str) -> Result<(Uuid, Money), ServerError> {
    let (_, _, _, _, _, player_id, currency) = key;
    let player_id = player_id.ok_or_else(|| {
        AppError::invalid("correction", "This finding names no player to adjust.")
    })?;
    let currency = currency
        .as_deref()
        .and_then(|code| Currency::parse(code).ok())
        .ok_or_else(|| AppError::invalid("correction", "This finding has no currency."))?;
    let amount = Money::parse(amount, currency).map_err(|error| AppError {
        field: Some("amount".into()),
        ..AppError::new(
            ErrorCode::InvalidAmount,
            format!("Invalid amount: {error}."),
        )
    })?;
    Ok((player_id, amount))
}

/// The credit request a correcting credit of this finding makes.
fn credit_request<'a>(
    key: &FindingKey,
    finding_id: Uuid,
    amount: &str,
    note: &'a str,
    scoped_key: &str,
) -> Result<NewCreditRequest<'a>, ServerError> {
    let (player_id, amount) = correction_amount(key, amount)?;
    let (_, _, _, object_type, object_id, _, _) = key;
    Ok(NewCreditRequest {
        source: credits::Source::Reconciliation,
        player_id,
        amount,
        reason: note,
        idempotency_key: scoped_key.to_owned(),
        finding: Some(FindingLink {
            finding_id,
            object_type: object_type
                .clone()
                .filter(|kind| kind == "deposit" || kind == "payout_attempt"),
            object_id: object_id
                .filter(|_| matches!(object_type.as_deref(), Some("deposit" | "payout_attempt"))),
        }),
    })
}

/// Refuses a correction larger than the finding's own discrepancy, or in the direction that
/// does not fix it; a credit of a deposit that was never captured must be its whole amount (the
/// approval captures the deposit with it).
async fn check_cap(
    tx: &mut sqlx::PgConnection,
    tenant_id: Uuid,
    finding_id: Uuid,
    key: &FindingKey,
    correction: Correction,
    amount: Money,
) -> Result<(), ServerError> {
    // What the finding says the player is owed (positive) or holds too much (negative): for a
    // checkout, what the PSP took less what the ledger credited; for a payout, what the ledger
    // paid out less what the PSP paid.
    let owed: i64 = sqlx::query_scalar(
        "SELECT CASE WHEN object_type = 'payout_attempt'
                     THEN coalesce(ledger_amount_minor, 0)
                          - CASE WHEN psp_status = 'succeeded' THEN coalesce(psp_amount_minor, 0) ELSE 0 END
                     ELSE CASE WHEN psp_status = 'paid' THEN coalesce(psp_amount_minor, 0) ELSE 0 END
                          - coalesce(ledger_amount_minor, 0)
                END
           FROM reconciliation_findings WHERE tenant_id = $1 AND id = $2",
    )
    .bind(tenant_id)
    .bind(finding_id)
    .fetch_one(&mut *tx)
    .await?;
    let allowed = match correction {
        Correction::Credit => owed.max(0),
        _ => owed.saturating_neg().max(0),
    };
    let currency = amount.currency();
    let too_much = |message: String| AppError {
        field: Some("amount".into()),
        ..AppError::new(ErrorCode::InvalidAmount, message)
    };
    if allowed == 0 {
        return Err(too_much(format!(
            "This finding's discrepancy is not fixed by a {}: nothing to {} here.",
            correction.as_str(),
            correction.as_str()
        ))
        .into());
    }
    if amount.to_minor_units() > allowed {
        return Err(too_much(format!(
            "A {} fixing this finding is at most its discrepancy, {}.",
            correction.as_str(),
            SignedMoney::from_minor_units(allowed, currency)
        ))
        .into());
    }
    let (_, _, _, object_type, object_id, _, _) = key;
    if correction == Correction::Credit && object_type.as_deref() == Some("deposit") {
        let deposit: Option<(String, i64)> = sqlx::query_as(
            "SELECT state, amount_minor FROM deposits WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant_id)
        .bind(object_id)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some((state, deposit_minor)) = deposit
            && state != "captured"
            && deposit_minor != amount.to_minor_units()
        {
            return Err(too_much(format!(
                "A credit for a deposit that was never captured captures it with its whole amount, {}.",
                SignedMoney::from_minor_units(deposit_minor, currency)
            )).into());
        }
    }
    Ok(())
}

/// Posts the correcting debit of a resolution (the player's cash -> adjustments), keyed by the
/// finding so it can only ever be posted once. Debits stay immediate: they create no money.
async fn debit(
    tx: &mut sqlx::PgConnection,
    tenant_id: Uuid,
    staff: &StaffMember,
    finding_id: Uuid,
    player_id: Uuid,
    amount: Money,
    note: &str,
) -> Result<Uuid, ServerError> {
    let journal = NewJournal {
        idempotency_key: IdempotencyKey::parse(format!("reconciliation:{finding_id}:correction"))?,
        kind: JournalKind::ADJUSTMENT,
        reference: Some(format!("player:{player_id}")),
        transfers: vec![NewTransfer {
            debit: AccountRef::PlayerCash(player_id),
            credit: AccountRef::Adjustments,
            amount,
        }],
        metadata: serde_json::Map::from_iter([
            ("finding_id".to_owned(), finding_id.to_string().into()),
            ("actor_staff_id".to_owned(), staff.id.to_string().into()),
            ("actor_email".to_owned(), staff.email.clone().into()),
            ("reason".to_owned(), note.into()),
        ]),
    };
    let posted = ledger::post_journal_in_transaction(tx, tenant_id, &journal).await?;
    Ok(posted.journal_id.0)
}
