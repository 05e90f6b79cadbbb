//! `kasa bench http`: requests per second and latency of what a logged-in player's browser asks
//! for, over kept-alive connections as browsers and proxies keep them: the server-rendered wallet
//! page, the balances server function and `/api/health`.
//!
//! The application's own router serves a scratch database in-process, on the listener
//! `kasa serve` uses ([`super::without_nagle`]). `CLIENTS` clients each send their next request as
//! soon as the last is answered; each endpoint runs twice for half the time (in the order health,
//! balances, page, page, balances, health), so that the ratios are measured across the same
//! stretch of a shared machine. Between the two halves, one connection alone asks for the wallet
//! page on that listener and on a plain one, where Nagle's algorithm meets the client's delayed
//! ACKs: alone, the page's latency is its own work, and the difference is what Nagle cost.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::config::Config;
use crate::db::scratch::{self, Tally};
use crate::services::Services;

/// Concurrent kept-alive connections (as `wrk -c32`).
const CLIENTS: usize = 32;
/// Measured seconds per endpoint when `--seconds` is not given.
const PHASE_SECONDS_DEFAULT: u64 = 10;
const PHASE_SECONDS_MAX: u64 = 60;
/// Unmeasured time before each measured half-run: connections open, caches fill.
const WARM_UP: Duration = Duration::from_secs(1);
/// The demo player the clients are logged in as, and the password the run gives them.
const PLAYER_EMAIL: &str = "player@demo.kasa.test";
const PASSWORD: &str = "bench-http-password";

/// What one client asks for, again and again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Health,
    Balances,
    WalletPage,
}

fn line(label: &str, tally: &Tally) -> String {
    format!(
        "{label}: {:.1} requests/s, p50 {:.2} ms, p99 {:.2} ms ({} requests, {} errors)",
        tally.per_second(),
        tally.percentile_ms(0.50),
        tally.percentile_ms(0.99),
        tally.ok,
        tally.errors
    )
}

/// Runs the benchmark and prints its figures; see the module documentation.
pub async fn run(db: &crate::db::Database, seconds: Option<u64>) -> anyhow::Result<ExitCode> {
    let phase_seconds = seconds
        .unwrap_or(PHASE_SECONDS_DEFAULT)
        .clamp(2, PHASE_SECONDS_MAX);
    let admin = &scratch::admin_pool(db.owner_url()).await?;
    let settings = scratch::server_settings(admin).await?;
    println!(
        "kasa http benchmark: {CLIENTS} kept-alive connections, {phase_seconds} s per endpoint; \
         PostgreSQL {}, fsync={}",
        settings.version, settings.fsync
    );
    let phase = Duration::from_secs(phase_seconds);
    let errors = scratch::with_scratch_database(admin, "kasa_bench_http", async |database| {
        let options = PgConnectOptions::from_str(db.owner_url())?.database(database);
        let pool = PgPoolOptions::new()
            .max_connections(CLIENTS as u32 + 8)
            .connect_with(options)
            .await
            .context("connecting to the scratch database")?;
        let outcome = measure(&pool, phase).await;
        pool.close().await;
        outcome
    })
    .await;
    admin.close().await;
    match errors? {
        0 => Ok(ExitCode::SUCCESS),
        errors => {
            eprintln!("kasa: {errors} request(s) failed during the benchmark");
            Ok(ExitCode::FAILURE)
        }
    }
}

/// A server of the application on its own port: `nagle` leaves Nagle's algorithm on.
struct Served {
    base: String,
    stop: tokio::sync::oneshot::Sender<()>,
}

async fn serve(
    pool: &PgPool,
    listener: tokio::net::TcpListener,
    nagle: bool,
) -> anyhow::Result<Served> {
    let base = format!("http://{}", listener.local_addr()?);
    let config = bench_config(&base)?;
    let router = super::router(
        Services::new(pool.clone(), Arc::new(config.clone())),
        &config,
    )
    .into_make_service_with_connect_info::<SocketAddr>();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let shutdown = async {
        let _ = stopped.await;
    };
    if nagle {
        tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(shutdown)
                .await
        });
    } else {
        tokio::spawn(async move {
            axum::serve(super::without_nagle(listener), router)
                .with_graceful_shutdown(shutdown)
                .await
        });
    }
    Ok(Served { base, stop })
}

/// A test-environment configuration for a server at `base` (its origin and the demo brand's
/// host), with the demo accounts' password set for this run and no demo studio.
fn bench_config(base: &str) -> anyhow::Result<Config> {
    let settings = [
        ("KASA_ENVIRONMENT", "test".to_owned()),
        ("KASA_PUBLIC_ORIGIN", base.to_owned()),
        ("KASA_DEMO_PASSWORD", PASSWORD.to_owned()),
        ("KASA_DEMO_GAMES", "false".to_owned()),
        (
            "KASA_MOCK_PSP_SECRET",
            "bench-http-mock-psp-secret".to_owned(),
        ),
    ];
    Config::from_sources("", move |name| {
        settings
            .iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.clone())
    })
}

async fn measure(pool: &PgPool, phase: Duration) -> anyhow::Result<u64> {
    crate::db::MIGRATOR
        .run(pool)
        .await
        .context("migrating the scratch database")?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let nagle_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    crate::seed::demo_data(pool, &bench_config("http://127.0.0.1")?).await?;
    let served = serve(pool, listener, false).await?;
    let with_nagle = serve(pool, nagle_listener, true).await?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(CLIENTS)
        .tcp_nodelay(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()?;
    // Both servers run the same test configuration, so one cookie name serves both.
    let cookie_name = bench_config(&served.base)?.session_cookie_name();
    let cookie = log_in(&http, &served.base, cookie_name).await?;
    let nagle_cookie = log_in(&http, &with_nagle.base, cookie_name).await?;
    let client = Client {
        http,
        base: Arc::new(served.base.clone()),
        cookie: Arc::new(cookie),
    };
    let nagle_client = Client {
        base: Arc::new(with_nagle.base.clone()),
        cookie: Arc::new(nagle_cookie),
        ..client.clone()
    };

    let half = phase / 2;
    let mut health = run_clients(&client, CLIENTS, Endpoint::Health, half).await?;
    let mut balances = run_clients(&client, CLIENTS, Endpoint::Balances, half).await?;
    let mut page = run_clients(&client, CLIENTS, Endpoint::WalletPage, half).await?;
    let alone = run_clients(&client, 1, Endpoint::WalletPage, half).await?;
    let nagle_alone = run_clients(&nagle_client, 1, Endpoint::WalletPage, half).await?;
    page.absorb(run_clients(&client, CLIENTS, Endpoint::WalletPage, phase - half).await?);
    balances.absorb(run_clients(&client, CLIENTS, Endpoint::Balances, phase - half).await?);
    health.absorb(run_clients(&client, CLIENTS, Endpoint::Health, phase - half).await?);
    let _ = served.stop.send(());
    let _ = with_nagle.stop.send(());

    println!("{}", line("GET /api/health", &health));
    println!(
        "{}",
        line("POST /api/wallet/balances (logged in)", &balances)
    );
    println!(
        "{}",
        line("GET /wallet, server-rendered (logged in)", &page)
    );
    println!(
        "{}",
        line("GET /wallet, one connection, TCP_NODELAY", &alone)
    );
    println!(
        "{}",
        line(
            "GET /wallet, one connection, Nagle's algorithm on (no TCP_NODELAY)",
            &nagle_alone
        )
    );
    println!(
        "ratio wallet-page/health: {:.2}",
        page.per_second() / health.per_second()
    );
    println!(
        "ratio balances/health: {:.2}",
        balances.per_second() / health.per_second()
    );
    println!(
        "ratio one-connection wallet-page TCP_NODELAY/Nagle: {:.2}",
        alone.per_second() / nagle_alone.per_second()
    );
    Ok(health.errors + balances.errors + page.errors + alone.errors + nagle_alone.errors)
}

/// Logs the demo player in; returns the session cookie.
async fn log_in(http: &reqwest::Client, base: &str, cookie_name: &str) -> anyhow::Result<String> {
    let response = http
        .post(format!("{base}/api/auth/login"))
        .header("origin", base)
        .header("accept", "application/json")
        .form(&[("email", PLAYER_EMAIL), ("password", PASSWORD)])
        .send()
        .await?;
    if !response.status().is_success() {
        bail!("logging in answered {}", response.status());
    }
    let cookie_prefix = format!("{cookie_name}=");
    let cookie = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find(|value| value.starts_with(&cookie_prefix))
        .and_then(|value| value.split(';').next())
        .context("logging in set no session cookie")?;
    Ok(cookie.to_owned())
}

/// The clients' shared HTTP client (one kept-alive connection per client) and session.
#[derive(Clone)]
struct Client {
    http: reqwest::Client,
    base: Arc<String>,
    cookie: Arc<String>,
}

impl Client {
    /// One request; an error unless the answer is 200 with the body read to its end.
    async fn request(&self, endpoint: Endpoint) -> anyhow::Result<()> {
        let request = match endpoint {
            Endpoint::Health => self.http.get(format!("{}/api/health", self.base)),
            Endpoint::Balances => self
                .http
                .post(format!("{}/api/wallet/balances", self.base))
                .header("origin", self.base.as_str())
                .header("accept", "application/json")
                .header("cookie", self.cookie.as_str()),
            Endpoint::WalletPage => self
                .http
                .get(format!("{}/wallet", self.base))
                .header("cookie", self.cookie.as_str()),
        };
        let response = request.send().await?;
        let status = response.status();
        response.bytes().await?;
        if status != reqwest::StatusCode::OK {
            bail!("{endpoint:?} answered {status}");
        }
        Ok(())
    }
}

/// `clients` clients asking for `endpoint` back to back for `duration` after the warm-up.
async fn run_clients(
    client: &Client,
    clients: usize,
    endpoint: Endpoint,
    duration: Duration,
) -> anyhow::Result<Tally> {
    let client = client.clone();
    let calls = scratch::closed_loop(clients, WARM_UP, duration, move |_| {
        let client = client.clone();
        async move { client.request(endpoint).await }
    })
    .await?;
    Ok(Tally::of(calls, duration, "a benchmark request"))
}
