//! `kasa reconcile`: compares PSP records with the ledger and prints the run's report.

/// Exit code of a reconciliation that found differences (distinct from 1, a failed run).
const EXIT_FINDINGS: u8 = 3;

/// `kasa reconcile [--provider P] [--since DAY|RFC3339] [--tenant SLUG] [--dry-run]`: compares
/// and prints a JSON report; exits 3 when the run found any difference. A dry run stores
/// nothing.
pub async fn command(
    pool: &sqlx::PgPool,
    config: std::sync::Arc<crate::config::Config>,
    provider: Option<String>,
    since: Option<&str>,
    tenant_slug: Option<&str>,
    dry_run: bool,
) -> anyhow::Result<std::process::ExitCode> {
    use anyhow::Context;
    let since = since.map(parse_since).transpose()?;
    let tenant_id = match tenant_slug {
        None => None,
        Some(slug) => Some(
            sqlx::query_scalar::<_, app::domain::ids::TenantId>(
                "SELECT id FROM tenants WHERE slug = $1",
            )
            .bind(slug)
            .fetch_optional(pool)
            .await
            .context("looking up the tenant")?
            .with_context(|| format!("no tenant with slug {slug:?}"))?,
        ),
    };
    let services = crate::services::Services::new(pool.clone(), config);
    if let Some(provider) = &provider
        && services.providers().get(provider).is_none()
    {
        anyhow::bail!("the provider {provider:?} is not enabled in this configuration");
    }
    let scope = crate::backoffice::reconciliation::run::RunScope {
        tenant_id,
        provider,
        since,
    };
    let report =
        crate::backoffice::reconciliation::run::run(&services, &scope, "system:cli", dry_run)
            .await
            .map_err(|error| anyhow::anyhow!("{}", app::error::AppError::from(error).message))?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    eprintln!(
        "kasa: {} record(s) checked, {} finding(s){}",
        report.records_checked,
        report.findings.len(),
        if dry_run {
            " (dry run: nothing stored)"
        } else {
            ""
        }
    );
    if report.findings.is_empty() {
        Ok(std::process::ExitCode::SUCCESS)
    } else {
        Ok(std::process::ExitCode::from(EXIT_FINDINGS))
    }
}

/// `2025-01-31` (midnight UTC) or an RFC 3339 instant.
fn parse_since(text: &str) -> anyhow::Result<chrono::DateTime<chrono::Utc>> {
    if let Ok(day) = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(day.and_time(chrono::NaiveTime::MIN).and_utc());
    }
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|at| at.with_timezone(&chrono::Utc))
        .map_err(|_| {
            anyhow::anyhow!("--since: give a day (YYYY-MM-DD) or an RFC 3339 time, not {text:?}")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    // Proves --since takes a day or an instant and refuses anything else.
    #[test]
    fn since_takes_days_and_instants() {
        assert_eq!(
            parse_since("2025-01-31").unwrap().to_rfc3339(),
            "2025-01-31T00:00:00+00:00"
        );
        assert_eq!(
            parse_since("2025-01-31T10:00:00+02:00")
                .unwrap()
                .to_rfc3339(),
            "2025-01-31T08:00:00+00:00"
        );
        assert!(parse_since("yesterday").is_err());
    }
}
