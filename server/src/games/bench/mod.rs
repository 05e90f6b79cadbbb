//! `kasa bench wallet`: what the seamless wallet costs per game round, over HTTP as a provider
//! calls it, next to the same journals posted straight to the ledger. 64 clients play rounds (a
//! signed bet, and on one round in three a signed win for it) against the real router served
//! in-process; then 64 tasks post the same bet and win journals with `post_journal`. Every bet of
//! both goes to the one house account, so both measure the hot-account path. A retry storm (one
//! bet sent twenty times at once) must cost exactly one journal.
//!
//! Runs in a scratch database created here and dropped at the end; commits are durable
//! (`synchronous_commit=on` on every session). Each workload is measured twice for half the
//! time, in the order wallet, ledger, ledger, wallet, so that neither gains from running first.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use app::domain::ids::{PlayerId, TenantId};
use app::domain::money::Currency;
use chrono::Utc;
use futures::StreamExt;
use serde_json::Value;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, PgPool};

use super::hub88;
use super::sessions;
use super::signature::RequestSigner;
use crate::config::Config;
use crate::db::scratch;
use crate::ledger::{self, check_integrity};
use crate::services::Services;
use rounds::{Round, WalletClient, run_ledger, run_wallet, transaction_body};

/// Concurrent clients, over HTTP and straight to the ledger alike.
const CLIENTS: usize = 64;
/// Players of each tenant, each with a live session of the one game.
const PLAYER_COUNT: usize = 2_000;
/// Each player's opening balance, in cents: far more than any run can stake.
const OPENING_BALANCE_MINOR: i64 = 100_000_000;
/// Copies of the one bet the retry storm sends at once.
const STORM_COPIES: usize = 20;
/// Sessions opened at once while seeding.
const SEED_CONCURRENCY: usize = 16;
/// Measured seconds per workload when `--seconds` is not given; each is measured in two halves.
const PHASE_SECONDS_DEFAULT: u64 = 20;
/// Longest run accepted, so that the whole benchmark stays within a few minutes.
const PHASE_SECONDS_MAX: u64 = 60;
/// Unmeasured time before each measured half-run: connections open, statements are prepared.
const WARM_UP: Duration = Duration::from_secs(1);
/// A wallet call that takes longer than this is a failure, not a latency.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Connections the in-process server's pool keeps beyond one per client, for its workers.
const SERVER_SPARE_CONNECTIONS: u32 = 8;
/// The game every session plays.
const GAME_CODE: &str = "bench_slot";

/// The size of one run: the command's, or a small one for the tests.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    pub clients: usize,
    pub players: usize,
    /// Measured time per workload, split into two halves.
    pub phase: Duration,
    pub warm_up: Duration,
}

/// Figures of one workload.
#[derive(Debug, Default)]
pub struct Figures {
    pub rounds: u64,
    pub wins: u64,
    pub errors: u64,
    pub elapsed: Duration,
    /// Of the bets only: a win's call is the same work without the balance check.
    pub bet_latencies_us: Vec<u32>,
    /// Client-side time spent signing requests (wallet only): it shares the machine's cores with
    /// the server, so it is reported next to the throughput it holds down.
    pub signing: Duration,
    pub signatures: u64,
}

impl Figures {
    fn absorb(&mut self, other: Figures) {
        self.rounds += other.rounds;
        self.wins += other.wins;
        self.errors += other.errors;
        self.elapsed += other.elapsed;
        self.bet_latencies_us.extend(other.bet_latencies_us);
        self.bet_latencies_us.sort_unstable();
        self.signing += other.signing;
        self.signatures += other.signatures;
    }

    pub fn rounds_per_second(&self) -> f64 {
        if self.elapsed.is_zero() {
            return 0.0;
        }
        self.rounds as f64 / self.elapsed.as_secs_f64()
    }

    pub fn percentile_ms(&self, percentile: f64) -> f64 {
        scratch::percentile_ms(&self.bet_latencies_us, percentile)
    }
}

/// Everything one run measured.
#[derive(Debug)]
pub struct Outcome {
    pub wallet_http: Figures,
    pub ledger: Figures,
    /// Journals the retry storm wrote (must be one).
    pub storm_journals: i64,
    /// Distinct answers the storm's copies got (must be one: the first answer, replayed).
    pub storm_answers_distinct: usize,
}

impl Outcome {
    /// The figures as printed, one per line.
    pub fn lines(&self) -> Vec<String> {
        let wallet = &self.wallet_http;
        let signing_ms = if wallet.signatures == 0 {
            0.0
        } else {
            wallet.signing.as_secs_f64() * 1000.0 / wallet.signatures as f64
        };
        let ratio = if self.ledger.rounds_per_second() > 0.0 {
            wallet.rounds_per_second() / self.ledger.rounds_per_second()
        } else {
            0.0
        };
        vec![
            format!(
                "wallet-http: {:.1} rounds/s, bet p50 {:.2} ms, p99 {:.2} ms ({} rounds, {} wins, \
                 {} errors; client-side signing {signing_ms:.2} ms per request)",
                wallet.rounds_per_second(),
                wallet.percentile_ms(0.50),
                wallet.percentile_ms(0.99),
                wallet.rounds,
                wallet.wins,
                wallet.errors
            ),
            format!(
                "ledger: {:.1} rounds/s, bet p50 {:.2} ms, p99 {:.2} ms ({} rounds, {} wins, {} errors)",
                self.ledger.rounds_per_second(),
                self.ledger.percentile_ms(0.50),
                self.ledger.percentile_ms(0.99),
                self.ledger.rounds,
                self.ledger.wins,
                self.ledger.errors
            ),
            format!(
                "retry storm ({STORM_COPIES} × one tx): {} journal(s), {} distinct answer(s)",
                self.storm_journals, self.storm_answers_distinct
            ),
            format!("ratio wallet-http/ledger: {ratio:.2}"),
        ]
    }

    /// Whether the run is a pass: no failed call and a storm that cost exactly one journal.
    pub fn passed(&self) -> bool {
        self.wallet_http.errors == 0
            && self.ledger.errors == 0
            && self.storm_journals == 1
            && self.storm_answers_distinct == 1
    }
}

/// Runs the benchmark and prints its figures; see the module documentation.
pub async fn run(
    db: &crate::db::Database,
    config: &Config,
    seconds: Option<u64>,
) -> anyhow::Result<ExitCode> {
    let phase_seconds = seconds
        .unwrap_or(PHASE_SECONDS_DEFAULT)
        .clamp(2, PHASE_SECONDS_MAX);
    let admin = &scratch::admin_pool(db.owner_url()).await?;
    let settings = scratch::server_settings(admin).await?;
    println!(
        "kasa wallet benchmark: {CLIENTS} clients, {PLAYER_COUNT} players, {phase_seconds} s per \
         workload; PostgreSQL {}, fsync={}, synchronous_commit=on",
        settings.version, settings.fsync
    );
    settings.warn_unless_durable();
    let plan = Plan {
        clients: CLIENTS,
        players: PLAYER_COUNT,
        phase: Duration::from_secs(phase_seconds),
        warm_up: WARM_UP,
    };
    let outcome = scratch::with_scratch_database(admin, "kasa_bench_wallet", async |database| {
        let options = PgConnectOptions::from_str(db.owner_url())?.database(database);
        measure(options, config, plan).await
    })
    .await;
    admin.close().await;
    let outcome = outcome?;
    if outcome.passed() {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!(
            "kasa: the benchmark failed: {} wallet call(s) and {} post(s) failed, the retry storm \
             wrote {} journal(s) with {} distinct answer(s)",
            outcome.wallet_http.errors,
            outcome.ledger.errors,
            outcome.storm_journals,
            outcome.storm_answers_distinct
        );
        Ok(ExitCode::FAILURE)
    }
}

/// The two seeded tenants: the wallet's, played over HTTP, and the ledger's, posted to directly.
struct Seeded {
    wallet_tenant: TenantId,
    /// Each player of the wallet's tenant with its session's token.
    wallet_players: Vec<(PlayerId, String)>,
    ledger_tenant: TenantId,
    ledger_players: Vec<PlayerId>,
}

/// Seeds, measures both workloads and the retry storm on the migrated (or to be migrated)
/// database of `options`, prints the figures and checks the ledger; see the module documentation.
pub async fn measure(
    options: PgConnectOptions,
    config: &Config,
    plan: Plan,
) -> anyhow::Result<Outcome> {
    let options = options
        .options([("synchronous_commit", "on")])
        .disable_statement_logging();
    // No ping before each acquire: it would add a round trip to every call. One pool for the
    // server and the direct posts: they never run at the same time.
    let pool = PgPoolOptions::new()
        .max_connections(plan.clients as u32 + SERVER_SPARE_CONNECTIONS)
        .min_connections(plan.clients as u32)
        .test_before_acquire(false)
        .acquire_timeout(Duration::from_secs(60))
        .connect_with(options)
        .await
        .context("connecting to the scratch database")?;
    let result = measure_on(&pool, config, plan).await;
    pool.close().await;
    result
}

async fn measure_on(pool: &PgPool, config: &Config, plan: Plan) -> anyhow::Result<Outcome> {
    crate::db::MIGRATOR
        .run(pool)
        .await
        .context("migrating the scratch database")?;
    let started = Instant::now();
    let seeded = Arc::new(seed(pool, plan.players).await?);
    println!(
        "seeded 2 tenants of {} players, each wallet player with a game session, in {:.1} s",
        plan.players,
        started.elapsed().as_secs_f64()
    );

    // The provider is Hub88 as far as the router knows, with a key made for this run; the demo
    // studio is off so that no key of the installation's is needed.
    let signer = Arc::new(RequestSigner::generate()?);
    let mut config = config.clone();
    config.hub88_public_key = Some(signer.public_pem().to_owned());
    config.demo_games = false;
    let services = Services::new(pool.clone(), Arc::new(config.clone()));
    let router = crate::http::router(services, &config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!(
        "http://{}/api/v1/games/{}",
        listener.local_addr()?,
        super::HUB88
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(
            crate::http::without_nagle(listener),
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async {
            let _ = stopped.await;
        })
        .await
    });
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(plan.clients)
        .tcp_nodelay(true)
        .timeout(CALL_TIMEOUT)
        .build()?;
    let client = WalletClient {
        http,
        base: Arc::new(base),
        signer,
    };

    // The hot house account's deltas are folded while the clients play, as in the running server.
    let folder = ledger::spawn_balance_folder(pool.clone(), ledger::BALANCE_FOLD_INTERVAL);
    let measured = async {
        let half = plan.phase / 2;
        let rest = plan.phase - half;
        let mut wallet = run_wallet(&client, &seeded, plan, half).await?;
        let mut direct = run_ledger(pool, &seeded, plan, half).await?;
        direct.absorb(run_ledger(pool, &seeded, plan, rest).await?);
        wallet.absorb(run_wallet(&client, &seeded, plan, rest).await?);
        let (storm_journals, storm_answers_distinct) = retry_storm(pool, &client, &seeded).await?;
        anyhow::Ok(Outcome {
            wallet_http: wallet,
            ledger: direct,
            storm_journals,
            storm_answers_distinct,
        })
    }
    .await;
    folder.abort();
    let _ = stop.send(());
    match server.await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => eprintln!("kasa: the benchmark's server failed: {error}"),
        Err(error) => eprintln!("kasa: the benchmark's server panicked: {error}"),
    }
    let outcome = measured?;
    for line in outcome.lines() {
        println!("{line}");
    }
    check_ledger(pool, &seeded).await?;
    Ok(outcome)
}

/// Two tenants of `players` players, each funded; the wallet's have a session of the one game.
async fn seed(pool: &PgPool, players: usize) -> anyhow::Result<Seeded> {
    let (wallet_tenant, wallet_player_ids) =
        scratch::seed_tenant(pool, "bench-wallet", players, OPENING_BALANCE_MINOR).await?;
    let (ledger_tenant, ledger_players) =
        scratch::seed_tenant(pool, "bench-ledger", players, OPENING_BALANCE_MINOR).await?;
    sqlx::query(
        "INSERT INTO games (tenant_id, provider, code, name, rtp_percent, enabled, created_at)
         VALUES ($1, $2, $3, 'Benchmark slot', 96.00, true, now())",
    )
    .bind(wallet_tenant)
    .bind(super::HUB88)
    .bind(GAME_CODE)
    .execute(pool)
    .await?;
    let now = Utc::now();
    let launched: Vec<anyhow::Result<(PlayerId, String)>> =
        futures::stream::iter(wallet_player_ids)
            .map(|player_id| async move {
                let launched = sessions::launch(
                    pool,
                    wallet_tenant,
                    player_id,
                    super::HUB88,
                    GAME_CODE,
                    Currency::Eur,
                    now,
                )
                .await?
                .context("the benchmark's game is not enabled")?;
                anyhow::Ok((player_id, launched.token))
            })
            .buffer_unordered(SEED_CONCURRENCY)
            .collect()
            .await;
    let wallet_players = launched.into_iter().collect::<anyhow::Result<Vec<_>>>()?;
    Ok(Seeded {
        wallet_tenant,
        wallet_players,
        ledger_tenant,
        ledger_players,
    })
}

/// Sends one bet `STORM_COPIES` times at once, byte for byte, as a provider retrying on
/// timeouts does; returns the journals it cost and how many distinct answers came back.
async fn retry_storm(
    pool: &PgPool,
    client: &WalletClient,
    seeded: &Seeded,
) -> anyhow::Result<(i64, usize)> {
    let (player_id, token) = seeded
        .wallet_players
        .first()
        .context("no player was seeded")?;
    let round = Round::next();
    let bet = client.sign(&transaction_body(
        *player_id,
        token,
        &format!("bench-storm-{}", round.number),
        &format!("bench-storm-round-{}", round.number),
        round.bet_minor,
        None,
    ));
    // Nothing else posts to the wallet's tenant now, so its journal count moves by the storm's.
    let before = journal_count(pool, seeded.wallet_tenant).await?;
    let answers =
        futures::future::join_all((0..STORM_COPIES).map(|_| client.call("transaction/bet", &bet)))
            .await;
    let after = journal_count(pool, seeded.wallet_tenant).await?;
    let answers = answers
        .into_iter()
        .collect::<anyhow::Result<Vec<Value>>>()?;
    if let Some(refused) = answers
        .iter()
        .find(|answer| answer["status"] != hub88::RS_OK)
    {
        eprintln!("kasa: the retry storm's bet was refused: {refused}");
    }
    let distinct: BTreeSet<String> = answers.iter().map(Value::to_string).collect();
    Ok((after - before, distinct.len()))
}

async fn journal_count(pool: &PgPool, tenant_id: TenantId) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT count(*) FROM ledger_journals WHERE tenant_id = $1")
        .bind(tenant_id)
        .fetch_one(pool)
        .await
}

/// The integrity check after the runs. The wallet's tenant is checked in full: each of its bet
/// and win journals must be its game transaction's. The ledger tenant's bets and wins were posted
/// without any game transaction, on purpose (that is the workload being compared), so there the
/// check's business-object rules would report every journal; only the ledger's own invariants
/// (balanced journals, balances equal to their transfers, no negative player cash) apply.
async fn check_ledger(pool: &PgPool, seeded: &Seeded) -> anyhow::Result<()> {
    let wallet = check_integrity(pool, Some(seeded.wallet_tenant)).await?;
    let direct = check_integrity(pool, Some(seeded.ledger_tenant)).await?;
    let direct_violations: Vec<_> = direct
        .violations
        .iter()
        .filter(|violation| !violation.concerns_business_objects())
        .collect();
    let ok = wallet.ok && direct_violations.is_empty();
    println!(
        "integrity after the runs: {} (wallet tenant: {} journals, every rule; ledger tenant: {} \
         journals, the ledger's own invariants)",
        if ok { "ok" } else { "VIOLATED" },
        wallet.journals_checked,
        direct.journals_checked
    );
    if !ok {
        bail!(
            "integrity check failed after the benchmark: wallet tenant {}, ledger tenant {}",
            serde_json::to_string(&wallet.violations)?,
            serde_json::to_string(&direct_violations)?
        );
    }
    Ok(())
}

mod rounds;
#[cfg(test)]
mod tests;
