//! `kasa audit-verify` and `kasa audit-checkpoint`.

use app::domain::ids::TenantId;
use chrono::Utc;
use sqlx::PgPool;

use crate::audit::{UNCHAINED_GRACE, checkpoint, verify_chain_with};

/// Exit code of an audit verification that found a broken chain (distinct from 1, a failed run).
const EXIT_CHAIN_BROKEN: u8 = 3;

/// `kasa audit-verify [--tenant SLUG]`: prints the JSON report, verified against the checkpoint
/// file when given one; exits 3 when a chain is broken or a checkpoint line is not validly signed.
pub async fn verify_command(
    pool: &PgPool,
    tenant_slug: Option<&str>,
    checkpoints: Option<&checkpoint::Checkpoints>,
) -> anyhow::Result<std::process::ExitCode> {
    use anyhow::Context;
    let tenant_id = match tenant_slug {
        None => None,
        Some(slug) => Some(
            sqlx::query_scalar::<_, TenantId>("SELECT id FROM tenants WHERE slug = $1")
                .bind(slug)
                .fetch_optional(pool)
                .await
                .context("looking up the tenant")?
                .with_context(|| format!("no tenant with slug {slug:?}"))?,
        ),
    };
    // The file first, then the snapshot: every checkpoint read names a committed head.
    let log = checkpoints
        .map(|checkpoints| checkpoints.read())
        .transpose()?;
    let report = verify_chain_with(pool, tenant_id, log.as_ref())
        .await
        .context("verifying the audit chains")?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    if report.ok {
        return Ok(std::process::ExitCode::SUCCESS);
    }
    for tenant in &report.tenants {
        if let Some(broken) = &tenant.first_break {
            eprintln!(
                "kasa: the audit chain of {} is broken at event {}: {}",
                tenant.tenant_slug, broken.seq, broken.detail
            );
        }
        if tenant.unchained_overdue > 0 {
            eprintln!(
                "kasa: {} audit events of {} have waited more than {} s to be chained (is a server's chainer running?)",
                tenant.unchained_overdue,
                tenant.tenant_slug,
                UNCHAINED_GRACE.as_secs()
            );
        }
    }
    for invalid in report.checkpoints.iter().flat_map(|file| &file.invalid) {
        eprintln!(
            "kasa: checkpoint line {} is not valid: {}",
            invalid.line, invalid.reason
        );
    }
    Ok(std::process::ExitCode::from(EXIT_CHAIN_BROKEN))
}

/// `kasa audit-checkpoint`: signs the chain heads that moved into the checkpoint file now.
pub async fn checkpoint_command(
    pool: &PgPool,
    checkpoints: &checkpoint::Checkpoints,
) -> anyhow::Result<std::process::ExitCode> {
    let written = checkpoints.write(pool, Utc::now()).await?;
    println!(
        "{}",
        serde_json::json!({"written": written, "path": checkpoints.path().display().to_string()})
    );
    Ok(std::process::ExitCode::SUCCESS)
}
