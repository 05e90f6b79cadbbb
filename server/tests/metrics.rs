//! Prometheus metrics (`server/src/http/metrics.rs`) from the real `kasa serve`: served on
//! `KASA_METRICS_BIND` and not on the public port, requests counted under their route's pattern,
//! webhook deliveries by provider and outcome, ledger postings by kind, and the database's
//! figures equal to its rows.

mod common;
mod withdrawals_support;

use std::collections::BTreeMap;

use sqlx::PgPool;
use withdrawals_support::{FINANCE, KasaProcess, OWNER};

/// One scrape: every sample by its name and labels (`name{a="x",b="y"}` with labels sorted).
struct Scrape(BTreeMap<String, f64>);

impl Scrape {
    async fn take(process: &KasaProcess) -> Scrape {
        let response = reqwest::get(format!("{}/metrics", process.metrics))
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let text = response.text().await.unwrap();
        let mut samples = BTreeMap::new();
        for line in text
            .lines()
            .filter(|line| !line.starts_with('#') && !line.is_empty())
        {
            let (series, value) = line.rsplit_once(' ').expect("a sample is `series value`");
            samples.insert(normalise(series), value.parse::<f64>().expect(line));
        }
        Scrape(samples)
    }

    /// The sample of `name` with exactly `labels`; 0 when the series does not exist (yet).
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let mut labels: Vec<_> = labels.to_vec();
        labels.sort();
        let key = if labels.is_empty() {
            name.to_owned()
        } else {
            let inner: Vec<String> = labels
                .iter()
                .map(|(key, value)| format!("{key}=\"{value}\""))
                .collect();
            format!("{name}{{{}}}", inner.join(","))
        };
        self.0.get(&key).copied().unwrap_or(0.0)
    }

    fn has(&self, name: &str) -> bool {
        self.0
            .keys()
            .any(|series| series == name || series.starts_with(&format!("{name}{{")))
    }
}

/// `name{b="2",a="1"}` → `name{a="1",b="2"}` (the exporter keeps the labels' recording order).
fn normalise(series: &str) -> String {
    let Some((name, labels)) = series.split_once('{') else {
        return series.to_owned();
    };
    let mut labels: Vec<&str> = labels.trim_end_matches('}').split("\",").collect();
    let mut pairs: Vec<String> = labels
        .drain(..)
        .map(|pair| format!("{}\"", pair.trim_end_matches('"')))
        .collect();
    pairs.sort();
    format!("{name}{{{}}}", pairs.join(","))
}

async fn state_counts(pool: &PgPool, table: &str) -> Vec<(String, i64)> {
    sqlx::query_as(&format!(
        "SELECT state, count(*) FROM {table} GROUP BY state ORDER BY state"
    ))
    .fetch_all(pool)
    .await
    .unwrap()
}

// Proves /metrics answers on the metrics address only; three health checks and a not-found page
// are counted under `/api/health` and `unmatched`; a webhook with a bad signature and one for a
// provider that is not enabled are counted by outcome (the unknown name never becomes a label);
// every journal the server posted is counted under its kind; deposits, withdrawals and payout
// attempts per state equal the database's rows; the backlog and pool gauges are there.
#[sqlx::test(migrations = "../migrations")]
async fn kasa_serve_exports_its_figures_on_the_metrics_address_only(pool: PgPool) {
    let process = KasaProcess::start(&pool).await;
    let finance = process.log_in("admin/login", FINANCE).await;
    let owner = process.log_in("admin/login", OWNER).await;
    process.fund(&finance, &owner, "25.00").await;
    let http = reqwest::Client::new();
    let before = Scrape::take(&process).await;
    let health = [
        ("route", "/api/health"),
        ("method", "GET"),
        ("status", "200"),
    ];
    for _ in 0..3 {
        let answer = http
            .get(format!("{}/api/health", process.base))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
    }
    let missing = http
        .get(format!("{}/no-such-page", process.base))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let public = http
        .get(format!("{}/metrics", process.base))
        .send()
        .await
        .unwrap();
    assert_eq!(public.status(), 404);
    assert!(
        !public
            .text()
            .await
            .unwrap()
            .contains("kasa_http_requests_total")
    );
    for provider in ["mock", "no-such-psp"] {
        let refused = http
            .post(format!(
                "{}/api/v1/payments/webhook/{provider}",
                process.base
            ))
            .header("content-type", "application/json")
            .body("{\"id\":\"evt_unsigned\"}")
            .send()
            .await
            .unwrap();
        assert!(
            refused.status().is_client_error(),
            "{provider}: {}",
            refused.status()
        );
    }

    let after = Scrape::take(&process).await;
    assert_eq!(
        after.value("kasa_http_requests_total", &health)
            - before.value("kasa_http_requests_total", &health),
        3.0
    );
    assert!(after.has("kasa_http_request_duration_seconds_bucket"));
    assert!(
        after.value(
            "kasa_http_requests_total",
            &[("route", "unmatched"), ("method", "GET"), ("status", "404")]
        ) >= 2.0,
        "the not-found page and the public /metrics"
    );
    assert_eq!(
        after.value(
            "kasa_webhook_deliveries_total",
            &[("provider", "mock"), ("outcome", "rejected")]
        ),
        1.0
    );
    assert_eq!(
        after.value(
            "kasa_webhook_deliveries_total",
            &[("provider", "unknown"), ("outcome", "unknown_provider")]
        ),
        1.0
    );
    assert!(!after.0.keys().any(|series| series.contains("no-such-psp")));

    let journals: Vec<(String, i64)> =
        sqlx::query_as("SELECT kind, count(*) FROM ledger_journals GROUP BY kind ORDER BY kind")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert!(!journals.is_empty(), "the credit posted a journal");
    for (kind, count) in &journals {
        assert_eq!(
            after.value("kasa_ledger_postings_total", &[("kind", kind)]),
            *count as f64,
            "journals of kind {kind}"
        );
    }
    for (gauge, table) in [
        ("kasa_deposits", "deposits"),
        ("kasa_withdrawals", "withdrawals"),
        ("kasa_payout_attempts", "payout_attempts"),
    ] {
        for (state, count) in state_counts(&pool, table).await {
            assert_eq!(
                after.value(gauge, &[("state", &state)]),
                count as f64,
                "{table} in {state}"
            );
        }
    }
    for gauge in [
        "kasa_payout_attempt_oldest_unknown_age_seconds",
        "kasa_webhook_oldest_unapplied_age_seconds",
        "kasa_audit_unchained_events",
        "kasa_audit_oldest_unchained_age_seconds",
        "kasa_ledger_unfolded_deltas",
        "kasa_db_pool_connections",
    ] {
        assert!(after.has(gauge), "{gauge} is exported");
    }
    assert!(after.value("kasa_db_pool_max_connections", &[]) > 0.0);
}
