//! The axum application: pages and server functions from `app`, the health check, and the
//! layers every request passes (request id and tracing, security headers, body limit, tenant,
//! CSRF, CORS).

pub mod bench;
mod guards;
pub(crate) mod hosted;
pub mod metrics;
mod request_id;
pub mod security;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use app::{App, shell};
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderName, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use leptos::config::{Env, LeptosOptions};
use leptos_axum::{LeptosRoutes, generate_route_list};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::config::{Config, LogFormat};
use crate::db::Database;
use crate::services::Services;
use crate::tenants::TenantResolver;

const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");
/// How often expired sessions, spent throttle counters and enrolment tickets are swept.
const SESSION_PURGE_INTERVAL: Duration = Duration::from_secs(15 * 60);

/// Runs the web server until Ctrl-C or SIGTERM, then finishes in-flight requests, closes the
/// pool and stops the embedded database if it started one.
pub async fn serve(mut config: Config) -> anyhow::Result<()> {
    // Before the database: a missing checkpoint key stops the start-up at once.
    let checkpoints = crate::audit::checkpoint::Checkpoints::from_config(&config)?;
    let db = Database::open(&config).await?;
    db.migrate().await?;
    crate::psp::mock::resolve_secret(&mut config, db.pool())
        .await
        .context("loading the mock PSP's signing secret")?;
    crate::games::demo::resolve_key(&mut config, db.pool())
        .await
        .context("loading the demo game studio's key")?;
    let config = Arc::new(config);
    if config.demo_data {
        crate::seed::demo_data(db.pool(), &config).await?;
    }
    let services = Services::new(db.pool().clone(), config.clone());
    let purge = tokio::spawn(purge_spent(services.clone()));
    // Keeps the unfolded balance deltas of operator accounts few (see migrations/0002_ledger.sql).
    let folder = crate::ledger::spawn_balance_folder(
        db.pool().clone(),
        crate::ledger::BALANCE_FOLD_INTERVAL,
    );
    // Signed heads outside the database, so that a removed tail of the audit log shows.
    let checkpointer = crate::audit::checkpoint::spawn_checkpointer(
        db.pool().clone(),
        checkpoints,
        Duration::from_secs(config.audit_checkpoint_interval_seconds.into()),
    );
    // Links the money movements' queued audit events into their brands' chains.
    let chainer = crate::audit::spawn_chainer(db.pool().clone());
    let metrics = metrics::spawn_listener(config.metrics_bind, db.pool().clone()).await?;
    let router = router(services, &config);
    let listener = tokio::net::TcpListener::bind(config.bind)
        .await
        .with_context(|| format!("binding {}", config.bind))?;
    let listener = without_nagle(listener);
    tracing::info!(address = %config.bind, origin = %config.public_origin, environment = ?config.environment, "Kasa is listening");
    println!(
        "Kasa is running at {} (Ctrl-C to stop)",
        config.public_origin
    );
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await
    .context("serving HTTP")?;
    purge.abort();
    folder.abort();
    checkpointer.abort();
    chainer.abort();
    metrics.abort();
    tracing::info!("shutting down");
    db.close().await;
    Ok(())
}

/// The listener Kasa serves on: every accepted connection with `TCP_NODELAY`. A response goes out
/// in several writes (headers, then the body's chunks); with Nagle's algorithm on, a write behind
/// one the client has not acknowledged waits for that ACK, and a client on keep-alive delays its
/// ACK by up to 40 ms, so every server-rendered page took 40 ms longer than its work
/// (`kasa bench http` measures both).
pub fn without_nagle(listener: tokio::net::TcpListener) -> NoDelayListener {
    use axum::serve::ListenerExt;
    listener.tap_io(set_nodelay)
}

/// [`without_nagle`]'s listener (named, so that connect info still sees a TCP listener).
pub type NoDelayListener =
    axum::serve::TapIo<tokio::net::TcpListener, fn(&mut tokio::net::TcpStream)>;

fn set_nodelay(stream: &mut tokio::net::TcpStream) {
    if let Err(error) = stream.set_nodelay(true) {
        tracing::warn!(%error, "could not set TCP_NODELAY on an accepted connection");
    }
}

/// The whole application as an axum router (tests serve it on a random port).
pub fn router(services: Services, config: &Config) -> Router {
    let leptos_options = leptos_options(config);
    let routes = generate_route_list(App);
    let tenants = TenantResolver::new(services.pool().clone(), config);
    let guard_state = Arc::new(guards::GuardState::new(config, tenants));
    // `AutoReload` renders its script (and its socket) only under `cargo leptos watch`.
    let live_reload_port = std::env::var("LEPTOS_WATCH")
        .is_ok()
        .then_some(leptos_options.reload_port);
    let security_headers = Arc::new(security::SecurityHeaders::new(config, live_reload_port));
    // What every render and server-function call has in context: the services, and the nonce
    // of the response's CSP for the inline scripts Leptos writes.
    let render_context = {
        let services = services.clone();
        move || {
            services.provide();
            security::provide_request_nonce();
        }
    };
    let pages = Router::new()
        .leptos_routes_with_context(&leptos_options, routes, render_context.clone(), {
            let options = leptos_options.clone();
            move || shell(options.clone())
        })
        // The not-found page is the whole app too (the browser's automatic /favicon.ico on a
        // page without an icon link lands here): its server functions need the same context as
        // every routed page, or they run without the request and the services.
        .fallback(leptos_axum::file_and_error_handler_with_context(
            render_context,
            shell,
        ))
        .with_state(leptos_options);
    services.start_payment_workers();
    services.start_withdrawal_workers();
    Router::new()
        .route("/api/health", get(health).with_state(services.clone()))
        .merge(crate::backoffice::export::routes(services.clone()))
        .merge(crate::psp::routes::routes(services.clone()))
        .merge(crate::games::hub88::routes(services.clone()))
        .merge(crate::games::demo::routes(services))
        .merge(pages)
        .layer(axum::middleware::from_fn(guards::error_status))
        .layer(axum::middleware::from_fn_with_state(guard_state.clone(), guards::csrf))
        .layer(axum::middleware::from_fn_with_state(guard_state.clone(), guards::tenant))
        .layer(guards::cors(config))
        .layer(axum::middleware::from_fn_with_state(
            Arc::new(config.trusted_proxies.clone()),
            crate::client_address::layer,
        ))
        .layer(RequestBodyLimitLayer::new(config.body_limit_bytes))
        // Outside the guards and the body limit, so that their refusals carry the headers too.
        .layer(axum::middleware::from_fn_with_state(
            security_headers,
            security::security_headers,
        ))
        // Counts every answer, the guards' refusals included, under its route's pattern.
        .layer(axum::middleware::from_fn(metrics::track_requests))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID_HEADER))
        .layer(TraceLayer::new_for_http().make_span_with(|request: &axum::http::Request<_>| {
            let request_id = request.headers().get(REQUEST_ID_HEADER).and_then(|value| value.to_str().ok()).unwrap_or("-");
            tracing::info_span!("request", id = %request_id, method = %request.method(), path = %request.uri().path())
        }))
        .layer(SetRequestIdLayer::new(REQUEST_ID_HEADER, MakeRequestUuid))
        // First of all: a client's id that is not a short token is dropped (and so replaced).
        .layer(axum::middleware::from_fn(request_id::keep_only_tokens))
}

fn leptos_options(config: &Config) -> LeptosOptions {
    // DEV makes pages connect to cargo-leptos' live-reload socket; only `cargo leptos watch` wants that.
    let env = if std::env::var("LEPTOS_ENV").is_ok_and(|value| value.eq_ignore_ascii_case("dev")) {
        Env::DEV
    } else {
        Env::PROD
    };
    LeptosOptions::builder()
        .output_name("kasa")
        .site_root(config.site_root.to_string_lossy().into_owned())
        .site_pkg_dir("pkg")
        .site_addr(config.bind)
        .env(env)
        .build()
}

/// `200 {"status":"ok","db":"ok"}` when the database answers, 503 otherwise.
async fn health(State(services): State<Services>) -> impl IntoResponse {
    let db_ok = tokio::time::timeout(
        Duration::from_secs(2),
        sqlx::query("SELECT 1").execute(services.pool()),
    )
    .await
    .is_ok_and(|result| result.is_ok());
    if db_ok {
        (
            StatusCode::OK,
            axum::Json(serde_json::json!({"status": "ok", "db": "ok"})),
        )
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(serde_json::json!({"status": "degraded", "db": "unavailable"})),
        )
    }
}

async fn purge_spent(services: Services) {
    let mut interval = tokio::time::interval(SESSION_PURGE_INTERVAL);
    loop {
        interval.tick().await;
        match services.sessions().purge_expired(services.now()).await {
            Ok(0) => {}
            Ok(count) => tracing::info!(count, "expired sessions removed"),
            Err(error) => tracing::warn!(%error, "purging expired sessions failed"),
        }
        match crate::auth::throttle::purge(services.pool(), services.now()).await {
            Ok(0) => {}
            Ok(count) => tracing::info!(count, "spent throttle counters removed"),
            Err(error) => tracing::warn!(%error, "purging throttle counters failed"),
        }
        match crate::auth::second_factor::purge_tickets(services.pool(), services.now()).await {
            Ok(0) => {}
            Ok(count) => tracing::info!(count, "spent enrolment tickets removed"),
            Err(error) => tracing::warn!(%error, "purging enrolment tickets failed"),
        }
    }
}

async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
}

/// Structured logs: text for people, JSON for log collectors; `RUST_LOG` filters.
pub fn init_tracing(config: &Config) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match config.log_format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

#[cfg(test)]
mod tests {
    use axum::serve::Listener;

    // Proves the listener `kasa serve` uses hands out connections with Nagle's algorithm off: a
    // plain `TcpListener` (what serve used before) accepts them with it on, and a kept-alive
    // response then waited up to 40 ms for the client's delayed ACK (`kasa bench http`).
    #[tokio::test]
    async fn accepted_connections_have_tcp_nodelay() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let mut listener = super::without_nagle(listener);
        let client = tokio::spawn(tokio::net::TcpStream::connect(address));
        let (stream, _) = listener.accept().await;
        assert!(
            stream.nodelay().unwrap(),
            "the accepted connection still uses Nagle"
        );
        client.await.unwrap().unwrap();

        let plain = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = plain.local_addr().unwrap();
        let client = tokio::spawn(tokio::net::TcpStream::connect(address));
        let (stream, _) = plain.accept().await.unwrap();
        assert!(
            !stream.nodelay().unwrap(),
            "the control: a plain listener leaves Nagle on"
        );
        client.await.unwrap().unwrap();
    }
}
