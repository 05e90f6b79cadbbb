//! The operator's ledger commands: `kasa integrity-check` and `kasa rebuild-balances`. Both print
//! a JSON report on stdout; the check exits non-zero when any invariant is broken.

use std::process::ExitCode;

use anyhow::Context;
use app::domain::ids::TenantId;
use sqlx::PgPool;

/// Exit code of an integrity check that found violations (distinct from 1, a failed run).
const EXIT_VIOLATIONS_FOUND: u8 = 3;

/// `kasa integrity-check [--tenant SLUG]`.
pub async fn integrity_check(pool: &PgPool, tenant_slug: Option<&str>) -> anyhow::Result<ExitCode> {
    let tenant_id = resolve_tenant(pool, tenant_slug).await?;
    let report = crate::ledger::check_integrity(pool, tenant_id)
        .await
        .context("running the integrity check")?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    if report.ok {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!(
            "kasa: integrity check failed: {} violation(s)",
            report.violations.len()
        );
        Ok(ExitCode::from(EXIT_VIOLATIONS_FOUND))
    }
}

/// `kasa rebuild-balances [--tenant SLUG] [--dry-run]`.
pub async fn rebuild_balances(
    pool: &PgPool,
    tenant_slug: Option<&str>,
    dry_run: bool,
) -> anyhow::Result<ExitCode> {
    let tenant_id = resolve_tenant(pool, tenant_slug).await?;
    let report = crate::ledger::rebuild_balances(pool, tenant_id, dry_run)
        .await
        .context("rebuilding balances")?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    let verb = if dry_run {
        "would correct"
    } else {
        "corrected"
    };
    eprintln!(
        "kasa: {verb} {} account balance(s)",
        report.corrections.len()
    );
    Ok(ExitCode::SUCCESS)
}

async fn resolve_tenant(
    pool: &PgPool,
    tenant_slug: Option<&str>,
) -> anyhow::Result<Option<TenantId>> {
    let Some(slug) = tenant_slug else {
        return Ok(None);
    };
    let id: Option<TenantId> = sqlx::query_scalar("SELECT id FROM tenants WHERE slug = $1")
        .bind(slug)
        .fetch_optional(pool)
        .await
        .context("looking up the tenant")?;
    id.map(Some)
        .with_context(|| format!("no tenant with slug {slug:?}"))
}
