//! The findings page: this brand's findings, filtered by status, kind and provider, with the
//! latest run; and the run button, which runs reconciliation for the brand and audits it.

use app::api::RequestCtx;
use app::backoffice::reconciliation::{
    FINDING_PAGE_SIZE, FindingFilter, FindingPage, FindingRow, RunSummary,
};
use app::domain::ids::{PlayerId, TenantId};
use app::domain::money::{Currency, SignedMoney};
use app::domain::reconciliation::{FindingKind, FindingSeverity, FindingStatus};
use app::error::AppError;
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use super::run::{self, RunScope};
use crate::audit::{self, Actor, AuditEvent};
use crate::auth::StaffMember;
use crate::backoffice::{filter_text, next_offset, page_offset};
use crate::error::ServerResult;
use crate::services::Services;

#[derive(sqlx::FromRow)]
struct FindingSqlRow {
    id: Uuid,
    provider: String,
    reference: String,
    #[sqlx(try_from = "String")]
    kind: FindingKind,
    #[sqlx(try_from = "String")]
    severity: FindingSeverity,
    #[sqlx(try_from = "String")]
    status: FindingStatus,
    object_type: Option<String>,
    object_id: Option<Uuid>,
    player_id: Option<PlayerId>,
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
    pub status: Option<FindingStatus>,
    pub kind: Option<FindingKind>,
    pub provider: Option<String>,
}

impl CheckedFilter {
    pub fn status(&self) -> Option<&'static str> {
        self.status.map(FindingStatus::as_str)
    }

    pub fn kind(&self) -> Option<&'static str> {
        self.kind.map(FindingKind::as_str)
    }
}

pub fn checked_filter(filter: &FindingFilter) -> ServerResult<CheckedFilter> {
    let status = filter_text(&filter.status)
        .map(|status| {
            FindingStatus::parse(&status)
                .ok_or_else(|| AppError::invalid("status", "Choose open or resolved."))
        })
        .transpose()?;
    let kind = filter_text(&filter.kind)
        .map(|kind| {
            FindingKind::parse(&kind).ok_or_else(|| {
                AppError::invalid("kind", "Choose one of the finding kinds offered.")
            })
        })
        .transpose()?;
    Ok(CheckedFilter {
        status,
        kind,
        provider: filter_text(&filter.provider),
    })
}

pub async fn page(
    pool: &PgPool,
    tenant_id: TenantId,
    filter: &FindingFilter,
    can_act: bool,
) -> ServerResult<FindingPage> {
    let checked = checked_filter(filter)?;
    let offset = page_offset(filter.offset);
    let rows: Vec<FindingSqlRow> = sqlx::query_as(&format!(
        "{FINDING_SELECT}
          WHERE f.tenant_id = $1 AND ($2::text IS NULL OR f.status = $2)
            AND ($3::text IS NULL OR f.kind = $3) AND ($4::text IS NULL OR f.provider = $4)
          ORDER BY f.status = 'resolved', f.last_seen_at DESC, f.id
          LIMIT $5 OFFSET $6"
    ))
    .bind(tenant_id)
    .bind(checked.status())
    .bind(checked.kind())
    .bind(&checked.provider)
    .bind(FINDING_PAGE_SIZE)
    .bind(offset)
    .fetch_all(pool)
    .await?;
    Ok(FindingPage {
        next_offset: next_offset(rows.len(), offset, FINDING_PAGE_SIZE),
        findings: rows.into_iter().map(FindingSqlRow::into_row).collect(),
        can_act,
        last_run: run_summary(pool, tenant_id, None).await?,
    })
}

/// One finding as the page shows it.
pub async fn finding_row(
    pool: &PgPool,
    tenant_id: TenantId,
    finding_id: Uuid,
) -> ServerResult<FindingRow> {
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

#[derive(sqlx::FromRow)]
struct RunSqlRow {
    id: Uuid,
    started_at: DateTime<Utc>,
    finished_at: Option<DateTime<Utc>>,
    actor: String,
    records_checked: i32,
    findings_new: i32,
    findings_seen: i32,
    error: Option<String>,
}

impl From<RunSqlRow> for RunSummary {
    fn from(row: RunSqlRow) -> RunSummary {
        RunSummary {
            id: row.id,
            started_at: row.started_at,
            finished_at: row.finished_at,
            actor: row.actor,
            records_checked: row.records_checked,
            findings_new: row.findings_new,
            findings_seen: row.findings_seen,
            error: row.error,
        }
    }
}

/// The latest run of this tenant's back office (command-line runs cover every tenant and are
/// reported by the command itself), or the run `run_id`.
async fn run_summary(
    pool: &PgPool,
    tenant_id: TenantId,
    run_id: Option<Uuid>,
) -> ServerResult<Option<RunSummary>> {
    let row: Option<RunSqlRow> = sqlx::query_as(
        "SELECT r.id, r.started_at, r.finished_at, coalesce(s.email, r.actor) AS actor,
                r.records_checked, r.findings_new, r.findings_seen, r.error
           FROM reconciliation_runs r
           LEFT JOIN staff s ON s.tenant_id = r.tenant_id AND 'staff:' || s.id::text = r.actor
          WHERE r.tenant_id = $1 AND ($2::uuid IS NULL OR r.id = $2)
          ORDER BY r.started_at DESC LIMIT 1",
    )
    .bind(tenant_id)
    .bind(run_id)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(RunSummary::from))
}

/// The run button: this tenant, every enabled provider; the run is audited.
pub async fn run_for_tenant(
    services: &Services,
    ctx: &RequestCtx,
    tenant_id: TenantId,
    staff: &StaffMember,
    idempotency_key: &str,
) -> ServerResult<RunSummary> {
    let scope = RunScope {
        tenant_id: Some(tenant_id),
        ..RunScope::default()
    };
    let report = run::run(services, &scope, &format!("staff:{}", staff.id), false).await?;
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
