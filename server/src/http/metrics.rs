//! Prometheus metrics: `GET /metrics` in the text exposition format, on a listener of its own
//! (`METRICS_BIND`, default `127.0.0.1:3100`), never on the public port.
//!
//! Two kinds of figure:
//! - **counted as they happen** (the `metrics` crate's global recorder): HTTP requests per route,
//!   method and status with their latency, ledger postings per journal kind, webhook deliveries
//!   per provider and outcome, audit events linked by this server's chainer;
//! - **read from the database at each scrape** (shared by every server on the database, so any
//!   one server's figures are the whole picture): deposits, withdrawals and payout attempts per
//!   state, the age of the oldest `unknown` payout attempt, the oldest webhook not applied yet,
//!   the audit events waiting for the chainer, the balance deltas waiting for the fold; and this
//!   server's database pool.
//!
//! `server/grafana/kasa.json` is a dashboard over these names (README, "Metrics").

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Instant;

use anyhow::Context;
use app::deposits::DepositState;
use app::domain::withdrawal::{AttemptState, WithdrawalState};
use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use sqlx::PgPool;

/// Latency buckets in seconds: 1 ms to 10 s.
const LATENCY_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 7.5, 10.0,
];

static RECORDER: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process's recorder, installed on first use (one per process: the test binaries start
/// several servers and share it).
pub fn recorder() -> &'static PrometheusHandle {
    RECORDER.get_or_init(|| {
        PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &LATENCY_BUCKETS)
            .and_then(|builder| builder.install_recorder())
            .expect("the Prometheus recorder is installed once, by this function")
    })
}

/// Counts one request and its latency under its route's pattern (`/admin/players/{id}`, never
/// the id itself, so that the number of series stays bounded).
pub async fn track_requests(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = method_label(request.method());
    let pattern = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| path.as_str().to_owned());
    let response = next.run(request).await;
    let labels = [
        ("route", route_label(pattern.as_deref())),
        ("method", method.to_owned()),
        ("status", response.status().as_u16().to_string()),
    ];
    metrics::counter!("kasa_http_requests_total", &labels).increment(1);
    metrics::histogram!("kasa_http_request_duration_seconds", &labels)
        .record(started.elapsed().as_secs_f64());
    response
}

fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        _ => "other",
    }
}

/// The route a request is counted under: its pattern (every server function has a route of its
/// own), or `unmatched` for what no route took (the not-found page): a scanner's paths never
/// become series.
fn route_label(pattern: Option<&str>) -> String {
    pattern.unwrap_or("unmatched").to_owned()
}

/// Counts a journal the ledger posted (a replay of an earlier post is not counted again).
pub fn count_posting(kind: &str) {
    metrics::counter!("kasa_ledger_postings_total", "kind" => kind.to_owned()).increment(1);
}

/// Counts one webhook delivery and what became of it (`applied`, `ignored`, `unmatched`,
/// `failed`, `duplicate`, `rejected`, `unknown_provider`, `error`).
pub fn count_webhook(provider: &str, outcome: &'static str) {
    metrics::counter!(
        "kasa_webhook_deliveries_total",
        "provider" => provider.to_owned(),
        "outcome" => outcome
    )
    .increment(1);
}

/// Counts the audit events a chainer pass linked.
pub fn count_chained(events: u64) {
    metrics::counter!("kasa_audit_events_chained_total").increment(events);
}

/// Serves `GET /metrics` on `bind` until the task is aborted.
pub async fn spawn_listener(
    bind: SocketAddr,
    pool: PgPool,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .with_context(|| format!("binding the metrics listener to {bind}"))?;
    tracing::info!(address = %bind, "metrics are served at /metrics");
    Ok(tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, routes(pool)).await {
            tracing::error!(%error, "the metrics listener stopped");
        }
    }))
}

/// The metrics listener's router: `/metrics` only.
pub fn routes(pool: PgPool) -> Router {
    recorder();
    Router::new()
        .route("/metrics", get(scrape))
        .with_state(pool)
}

async fn scrape(State(pool): State<PgPool>) -> Response {
    if let Err(error) = sample_database(&pool).await {
        tracing::warn!(%error, "reading the database's figures for /metrics failed");
        metrics::counter!("kasa_metrics_database_errors_total").increment(1);
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        recorder().render(),
    )
        .into_response()
}

#[derive(sqlx::FromRow)]
struct StateCount {
    state: String,
    count: i64,
}

#[derive(sqlx::FromRow)]
struct Backlogs {
    oldest_unknown_attempt_s: f64,
    oldest_unapplied_webhook_s: f64,
    unapplied_webhooks: i64,
    unchained_audit_events: i64,
    oldest_unchained_audit_event_s: f64,
    unfolded_balance_deltas: i64,
}

/// Sets the gauges read from the database: one snapshot per query, every state present (a state
/// with no rows is 0, not a stale figure from the last scrape).
async fn sample_database(pool: &PgPool) -> Result<(), sqlx::Error> {
    let states =
        |table: &str| format!("SELECT state, count(*) AS count FROM {table} GROUP BY state");
    let gauge_states = |name: &'static str, all: &[&'static str], counts: Vec<StateCount>| {
        for state in all {
            let count = counts
                .iter()
                .find(|row| row.state == *state)
                .map_or(0, |row| row.count);
            metrics::gauge!(name, "state" => *state).set(count as f64);
        }
    };
    gauge_states(
        "kasa_deposits",
        &DepositState::ALL.map(DepositState::as_str),
        sqlx::query_as(&states("deposits")).fetch_all(pool).await?,
    );
    gauge_states(
        "kasa_withdrawals",
        &WithdrawalState::ALL.map(WithdrawalState::as_str),
        sqlx::query_as(&states("withdrawals"))
            .fetch_all(pool)
            .await?,
    );
    gauge_states(
        "kasa_payout_attempts",
        &AttemptState::ALL.map(AttemptState::as_str),
        sqlx::query_as(&states("payout_attempts"))
            .fetch_all(pool)
            .await?,
    );
    let backlogs: Backlogs = sqlx::query_as(
        "SELECT
           coalesce((SELECT extract(epoch FROM now() - min(created_at))
                       FROM payout_attempts WHERE state = 'unknown'), 0)::float8
             AS oldest_unknown_attempt_s,
           coalesce((SELECT extract(epoch FROM now() - min(received_at))
                       FROM psp_webhook_events WHERE status IN ('received', 'failed')), 0)::float8
             AS oldest_unapplied_webhook_s,
           (SELECT count(*) FROM psp_webhook_events WHERE status IN ('received', 'failed'))
             AS unapplied_webhooks,
           (SELECT count(*) FROM audit_pending) AS unchained_audit_events,
           coalesce((SELECT extract(epoch FROM now() - min(at)) FROM audit_pending), 0)::float8
             AS oldest_unchained_audit_event_s,
           (SELECT count(*) FROM ledger_balance_deltas) AS unfolded_balance_deltas",
    )
    .fetch_one(pool)
    .await?;
    metrics::gauge!("kasa_payout_attempt_oldest_unknown_age_seconds")
        .set(backlogs.oldest_unknown_attempt_s);
    metrics::gauge!("kasa_webhook_oldest_unapplied_age_seconds")
        .set(backlogs.oldest_unapplied_webhook_s);
    metrics::gauge!("kasa_webhook_unapplied").set(backlogs.unapplied_webhooks as f64);
    metrics::gauge!("kasa_audit_unchained_events").set(backlogs.unchained_audit_events as f64);
    metrics::gauge!("kasa_audit_oldest_unchained_age_seconds")
        .set(backlogs.oldest_unchained_audit_event_s);
    metrics::gauge!("kasa_ledger_unfolded_deltas").set(backlogs.unfolded_balance_deltas as f64);
    let idle = pool.num_idle() as f64;
    let open = f64::from(pool.size());
    metrics::gauge!("kasa_db_pool_connections", "state" => "in_use").set(open - idle);
    metrics::gauge!("kasa_db_pool_connections", "state" => "idle").set(idle);
    metrics::gauge!("kasa_db_pool_max_connections")
        .set(f64::from(pool.options().get_max_connections()));
    Ok(())
}
