//! One reconciliation run: compare every source in scope, then store the run and its findings
//! in one transaction (unless it is a dry run). A finding is unique per `(provider, reference,
//! kind)`, so a re-run refreshes what it finds again and never duplicates it.

use app::domain::ids::TenantId;
use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::compare::Finding;
use super::sources;
use crate::error::ServerResult;
use crate::services::Services;

/// Which records a run compares.
#[derive(Debug, Clone, Default)]
pub struct RunScope {
    /// `None`: every tenant (the command line).
    pub tenant_id: Option<TenantId>,
    /// `None`: every enabled provider.
    pub provider: Option<String>,
    /// Only records created at or after this instant.
    pub since: Option<DateTime<Utc>>,
}

impl RunScope {
    pub fn includes(&self, provider: &str) -> bool {
        self.provider
            .as_deref()
            .is_none_or(|chosen| chosen == provider)
    }
}

/// What a run did.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// `None` for a dry run (nothing stored).
    pub run_id: Option<Uuid>,
    pub records_checked: i64,
    pub findings_new: i64,
    pub findings_seen: i64,
    pub findings: Vec<Finding>,
    /// Providers that could not be read (a Stripe outage), with the reason.
    pub errors: Vec<String>,
}

/// Compares every PSP record in `scope` with ours; stores the findings unless `dry_run`.
pub async fn run(
    services: &Services,
    scope: &RunScope,
    actor: &str,
    dry_run: bool,
) -> ServerResult<RunReport> {
    let started_at = services.now();
    let compared = compare_all(services, scope).await?;
    if dry_run {
        return Ok(RunReport {
            run_id: None,
            records_checked: compared.checked,
            findings_new: 0,
            findings_seen: 0,
            findings: compared.findings,
            errors: compared.errors,
        });
    }
    record(services, scope, actor, started_at, compared).await
}

/// What the sources in scope said together.
struct Compared {
    checked: i64,
    findings: Vec<Finding>,
    errors: Vec<String>,
}

/// Reads and compares every source in scope. The mock PSP's tables are ours, so their failure
/// fails the run; a PSP's API that cannot be read is an error of the run, not its end.
async fn compare_all(services: &Services, scope: &RunScope) -> ServerResult<Compared> {
    let pool = services.pool();
    let (mut checked, mut findings, mut errors) = (0, Vec::new(), Vec::new());
    let mut add = |(count, found): sources::Compared| {
        checked += count;
        findings.extend(found);
    };
    if scope.includes(crate::psp::mock::NAME) && services.mock_psp().is_some() {
        add(sources::mock_checkouts(pool, scope).await?);
        add(sources::mock_payouts(pool, scope).await?);
    }
    if scope.includes("stripe")
        && let Some(stripe) = services.providers().get("stripe")
    {
        match sources::provider_checkouts(pool, scope, stripe.as_ref()).await {
            Ok(found) => add(found),
            Err(error) => errors.push(format!("stripe: {error}")),
        }
    }
    Ok(Compared {
        checked,
        findings,
        errors,
    })
}

/// Stores the run and its findings in one transaction.
async fn record(
    services: &Services,
    scope: &RunScope,
    actor: &str,
    started_at: DateTime<Utc>,
    compared: Compared,
) -> ServerResult<RunReport> {
    let Compared {
        checked,
        findings,
        errors,
    } = compared;
    let run_id = Uuid::new_v4();
    let mut tx = services.pool().begin().await?;
    sqlx::query(
        "INSERT INTO reconciliation_runs (id, tenant_id, provider, since, started_at, actor)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(run_id)
    .bind(scope.tenant_id)
    .bind(&scope.provider)
    .bind(scope.since)
    .bind(started_at)
    .bind(actor)
    .execute(&mut *tx)
    .await?;
    let mut new = 0;
    for finding in &findings {
        if store(&mut tx, run_id, finding, started_at).await? {
            new += 1;
        }
    }
    let seen = findings.len() as i64 - new;
    sqlx::query(
        "UPDATE reconciliation_runs
            SET finished_at = $2, records_checked = $3, findings_new = $4, findings_seen = $5,
                error = $6
          WHERE id = $1",
    )
    .bind(run_id)
    .bind(services.now())
    .bind(checked as i32)
    .bind(new as i32)
    .bind(seen as i32)
    .bind((!errors.is_empty()).then(|| errors.join("; ")))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    tracing::info!(run = %run_id, checked, new, seen, "reconciliation run finished");
    Ok(RunReport {
        run_id: Some(run_id),
        records_checked: checked,
        findings_new: new,
        findings_seen: seen,
        findings,
        errors,
    })
}

/// Inserts the finding, or refreshes the one already stored for its key; true when new. A
/// resolved finding stays resolved.
async fn store(
    tx: &mut sqlx::PgConnection,
    run_id: Uuid,
    finding: &Finding,
    now: DateTime<Utc>,
) -> ServerResult<bool> {
    let inserted: bool = sqlx::query_scalar(
        "INSERT INTO reconciliation_findings
             (id, tenant_id, provider, reference, kind, severity, object_type, object_id, player_id,
              currency, psp_amount_minor, ledger_amount_minor, psp_status, ledger_status, message,
              raw, first_seen_at, last_seen_at, first_run_id, last_run_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $17,
                 $18, $18)
         ON CONFLICT ON CONSTRAINT reconciliation_findings_key DO UPDATE
            SET last_seen_at = EXCLUDED.last_seen_at, last_run_id = EXCLUDED.last_run_id,
                severity = EXCLUDED.severity, message = EXCLUDED.message, raw = EXCLUDED.raw,
                psp_amount_minor = EXCLUDED.psp_amount_minor,
                ledger_amount_minor = EXCLUDED.ledger_amount_minor,
                psp_status = EXCLUDED.psp_status, ledger_status = EXCLUDED.ledger_status
         RETURNING xmax = 0",
    )
    .bind(Uuid::new_v4())
    .bind(finding.tenant_id)
    .bind(&finding.provider)
    .bind(&finding.reference)
    .bind(finding.kind.as_str())
    .bind(finding.severity.as_str())
    .bind(finding.object_type)
    .bind(finding.object_id)
    .bind(finding.player_id)
    .bind(&finding.currency)
    .bind(finding.psp_amount_minor)
    .bind(finding.ledger_amount_minor)
    .bind(&finding.psp_status)
    .bind(&finding.ledger_status)
    .bind(&finding.message)
    .bind(&finding.raw)
    .bind(now)
    .bind(run_id)
    .fetch_one(&mut *tx)
    .await?;
    Ok(inserted)
}
