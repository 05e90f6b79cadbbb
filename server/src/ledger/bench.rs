//! `kasa bench ledger`: posting throughput and latency with 64 concurrent clients, on uniform
//! random player pairs and on a hot house account, next to pgbench's TPC-B on the same Postgres
//! server. The ledger runs in a scratch database and pgbench in another, both created here and
//! dropped at the end, so the application's own data is never touched. Commits are durable
//! (`synchronous_commit=on` on every session).
//!
//! Workloads, each a journal of exactly one transfer, posted through `post_journal` as the app does:
//! - uniform: player_cash -> player_cash between two distinct players drawn uniformly from 10,000;
//! - hot: a bet (player_cash -> house) or a win (house -> player_cash), a player drawn uniformly,
//!   so every transfer touches the one house account.
//!
//! Each of the three (uniform, hot, pgbench) is measured for `--seconds` (default 30) in two
//! halves, in the order pgbench, uniform, hot, hot, uniform, pgbench, so that no system gains from
//! running first, on a smaller database, or while the machine is less busy.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use app::domain::ids::{PlayerId, TenantId};
use app::domain::money::{Currency, Money};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, PgPool};

use super::{
    AccountRef, IdempotencyKey, JournalKind, NewJournal, NewTransfer, check_integrity,
    post_journal, spawn_balance_folder,
};
use crate::db::scratch::{self, Tally};

/// Concurrent clients, for the ledger and for pgbench alike.
const CLIENTS: usize = 64;
/// Player accounts the transfers are spread over.
const PLAYER_COUNT: usize = 10_000;
/// Each player's opening balance, in cents: far more than any run can move out.
const OPENING_BALANCE_MINOR: i64 = 100_000_000;
/// Transfers are 0.01 to 10.00 EUR.
const TRANSFER_AMOUNT_MINOR_MAX: i64 = 1_000;
/// Measured seconds per workload (ledger uniform, ledger hot, pgbench) when `--seconds` is not
/// given; each is measured in two halves.
const PHASE_SECONDS_DEFAULT: u64 = 30;
/// Longest run accepted, so that the whole benchmark stays within a few minutes.
const PHASE_SECONDS_MAX: u64 = 60;
/// Unmeasured time before each measured half-run: connections prepare their statements, caches
/// fill, the previous workload's posts drain.
const WARM_UP: Duration = Duration::from_secs(1);
/// Numbers the benchmark's idempotency keys, so that no post replays another.
static NEXT_KEY_NUMBER: AtomicU64 = AtomicU64::new(0);
/// pgbench scale factor: at least the client count, as pgbench's documentation advises, so that
/// TPC-B measures the server rather than 64 clients queueing on a handful of branch rows.
const PGBENCH_SCALE: u32 = 64;

/// Runs the benchmark and prints its figures; see the module documentation.
pub async fn run(
    db: &crate::db::Database,
    _config: &crate::config::Config,
    seconds: Option<u64>,
) -> anyhow::Result<ExitCode> {
    let phase_seconds = seconds
        .unwrap_or(PHASE_SECONDS_DEFAULT)
        .clamp(2, PHASE_SECONDS_MAX);
    let phase = Duration::from_secs(phase_seconds);
    let server = ServerAddress::from_url(db.owner_url())?;
    let admin = &scratch::admin_pool(db.owner_url()).await?;
    let settings = scratch::server_settings(admin).await?;
    println!(
        "kasa ledger benchmark: {CLIENTS} clients, {PLAYER_COUNT} player accounts, {phase_seconds} s per run; \
         PostgreSQL {}, fsync={}, wal_sync_method={}, synchronous_commit=on",
        settings.version, settings.fsync, settings.wal_sync_method
    );
    settings.warn_unless_durable();

    let ledger_database = scratch::scratch_name("kasa_bench_ledger");
    let pgbench_database = scratch::scratch_name("kasa_bench_pgbench");

    // pgbench runs twice for half the time, before and after the ledger's runs, so that both
    // systems are measured across the same stretch of time on a shared machine.
    let outcome = async {
        let pgbench = find_pgbench(admin).await?;
        initialise_pgbench(admin, &server, &pgbench, &pgbench_database).await?;
        let first_seconds = phase_seconds / 2;
        let second_seconds = phase_seconds - first_seconds;
        let first_tps = run_pgbench(&pgbench, &server, &pgbench_database, first_seconds).await?;
        let (uniform, hot) = run_ledger(admin, db.owner_url(), &ledger_database, phase).await?;
        let second_tps = run_pgbench(&pgbench, &server, &pgbench_database, second_seconds).await?;
        let pgbench_tps = (first_tps * first_seconds as f64 + second_tps * second_seconds as f64)
            / phase_seconds as f64;
        print_phase("ledger uniform (player -> player)", &uniform);
        print_phase("ledger hot (player <-> one house)", &hot);
        println!(
            "pgbench tpc-b (scale {PGBENCH_SCALE}, {CLIENTS} clients, 2 threads): {pgbench_tps:.1} tps \
             ({first_tps:.1} before, {second_tps:.1} after the ledger runs)"
        );
        println!("ratio ledger/pgbench: {:.2}", uniform.per_second() / pgbench_tps);
        println!("ratio hot/uniform: {:.2}", hot.per_second() / uniform.per_second());
        anyhow::Ok(uniform.errors + hot.errors)
    }
    .await;

    for database in [&ledger_database, &pgbench_database] {
        scratch::drop_database(admin, database).await;
    }
    admin.close().await;
    match outcome? {
        0 => Ok(ExitCode::SUCCESS),
        errors => {
            eprintln!("kasa: {errors} post(s) failed during the benchmark");
            Ok(ExitCode::FAILURE)
        }
    }
}

fn print_phase(label: &str, result: &Tally) {
    println!(
        "{label}: {:.1} transfers/s, p50 {:.2} ms, p99 {:.2} ms ({} transfers, {} errors)",
        result.per_second(),
        result.percentile_ms(0.50),
        result.percentile_ms(0.99),
        result.ok,
        result.errors
    );
}

#[derive(Clone, Copy)]
enum Workload {
    Uniform,
    Hot,
}

async fn run_ledger(
    admin: &PgPool,
    url: &str,
    database: &str,
    phase: Duration,
) -> anyhow::Result<(Tally, Tally)> {
    scratch::create_database(admin, database).await?;
    let options = PgConnectOptions::from_str(url)?
        .database(database)
        .options([("synchronous_commit", "on")])
        .disable_statement_logging();
    // No ping before each acquire: it would add a round trip to every post.
    let pool = PgPoolOptions::new()
        .max_connections(CLIENTS as u32 + 2)
        .min_connections(CLIENTS as u32)
        .test_before_acquire(false)
        .acquire_timeout(Duration::from_secs(60))
        .connect_with(options)
        .await?;
    let result = async {
        crate::db::MIGRATOR
            .run(&pool)
            .await
            .context("migrating the scratch database")?;
        let started = Instant::now();
        let (tenant_id, players) = seed(&pool).await?;
        println!(
            "seeded {} players in {:.1} s",
            players.len(),
            started.elapsed().as_secs_f64()
        );
        let players = Arc::new(players);
        // The house account's deltas are folded while the clients post, as in the running server.
        let folder = spawn_balance_folder(pool.clone(), super::BALANCE_FOLD_INTERVAL);
        // Each workload runs twice for half the time, in the order uniform, hot, hot, uniform, so
        // that neither gains from running first on a smaller database or loses to a checkpoint.
        let runs = async {
            let half = phase / 2;
            let run =
                |workload, duration| run_phase(&pool, tenant_id, &players, workload, duration);
            let mut uniform = run(Workload::Uniform, half).await?;
            let mut hot = run(Workload::Hot, half).await?;
            hot.absorb(run(Workload::Hot, phase - half).await?);
            uniform.absorb(run(Workload::Uniform, phase - half).await?);
            anyhow::Ok((uniform, hot))
        }
        .await;
        folder.abort();
        let (uniform, hot) = runs?;
        // The ledger's own invariants only: the hot workload posts bet and win journals with no
        // game transaction behind them, which the checks across business objects rightly report.
        let report = check_integrity(&pool, None).await?;
        let violations: Vec<_> = report
            .violations
            .iter()
            .filter(|violation| !violation.concerns_business_objects())
            .collect();
        println!(
            "integrity after the runs: {} ({} journals, {} transfers; the ledger's own invariants)",
            if violations.is_empty() {
                "ok"
            } else {
                "VIOLATED"
            },
            report.journals_checked,
            report.transfers_checked
        );
        if !violations.is_empty() {
            bail!(
                "integrity check failed after the benchmark: {}",
                serde_json::to_string(&violations)?
            );
        }
        anyhow::Ok((uniform, hot))
    }
    .await;
    pool.close().await;
    result
}

/// One tenant, 10,000 players, each with an opening balance posted from the adjustments account.
async fn seed(pool: &PgPool) -> anyhow::Result<(TenantId, Vec<PlayerId>)> {
    scratch::seed_tenant(pool, "bench", PLAYER_COUNT, OPENING_BALANCE_MINOR).await
}

async fn run_phase(
    pool: &PgPool,
    tenant_id: TenantId,
    players: &Arc<Vec<PlayerId>>,
    workload: Workload,
    phase: Duration,
) -> anyhow::Result<Tally> {
    let transfer_kind = JournalKind::parse("bench_transfer")?;
    let (pool, players) = (pool.clone(), Arc::clone(players));
    let calls = scratch::closed_loop(CLIENTS, WARM_UP, phase, move |_| {
        let (pool, players, transfer_kind) =
            (pool.clone(), Arc::clone(&players), transfer_kind.clone());
        async move {
            let key_number = NEXT_KEY_NUMBER.fetch_add(1, Ordering::Relaxed);
            let journal = next_journal(workload, &players, &transfer_kind, key_number);
            post_journal(&pool, tenant_id, &journal)
                .await
                .map(|_| ())
                .map_err(|error| format!("{} ({error})", error.code()))
        }
    })
    .await?;
    Ok(Tally::of(calls, phase, "a benchmark post"))
}

fn next_journal(
    workload: Workload,
    players: &[PlayerId],
    transfer_kind: &JournalKind,
    key_number: u64,
) -> NewJournal {
    let amount = Money::from_minor_units(
        rand::random_range(1..=TRANSFER_AMOUNT_MINOR_MAX),
        Currency::Eur,
    )
    .expect("a positive amount below the maximum");
    let player = players[rand::random_range(0..players.len())];
    let (kind, debit, credit, label) = match workload {
        Workload::Uniform => {
            let mut other = rand::random_range(0..players.len() - 1);
            if players[other] == player {
                other = players.len() - 1;
            }
            let transfer = (
                AccountRef::PlayerCash(player),
                AccountRef::PlayerCash(players[other]),
            );
            (transfer_kind.clone(), transfer.0, transfer.1, "uniform")
        }
        Workload::Hot if rand::random::<bool>() => (
            JournalKind::BET,
            AccountRef::PlayerCash(player),
            AccountRef::House,
            "hot",
        ),
        Workload::Hot => (
            JournalKind::WIN,
            AccountRef::House,
            AccountRef::PlayerCash(player),
            "hot",
        ),
    };
    let key = IdempotencyKey::parse(format!("bench-{label}-{key_number}")).expect("a valid key");
    NewJournal::new(
        key,
        kind,
        vec![NewTransfer {
            debit,
            credit,
            amount,
        }],
    )
}

/// Where pgbench should connect: the application's server, taken from its database URL.
struct ServerAddress {
    /// A host name, or the directory of the Unix socket.
    host: String,
    port: u16,
    user: String,
    password: Option<String>,
}

impl ServerAddress {
    fn from_url(url: &str) -> anyhow::Result<ServerAddress> {
        let options = PgConnectOptions::from_str(url).context("parsing the database URL")?;
        let host = match options.get_socket() {
            Some(socket) => socket_directory(socket).display().to_string(),
            None => options.get_host().to_owned(),
        };
        Ok(ServerAddress {
            host,
            port: options.get_port(),
            user: options.get_username().to_owned(),
            password: url_password(url),
        })
    }
}

/// sqlx accepts either the socket directory or the socket file itself; pgbench wants the directory.
fn socket_directory(socket: &Path) -> PathBuf {
    let is_socket_file = socket
        .file_name()
        .and_then(|name| name.to_str())
        .is_some_and(|name| name.starts_with(".s.PGSQL."));
    match socket.parent() {
        Some(parent) if is_socket_file => parent.to_path_buf(),
        _ => socket.to_path_buf(),
    }
}

/// The password of `postgres://user:password@host/...`, percent-decoded.
fn url_password(url: &str) -> Option<String> {
    let after_scheme = url.split_once("://")?.1;
    let authority = after_scheme.split(['/', '?']).next()?;
    let (user_info, _) = authority.rsplit_once('@')?;
    let (_, password) = user_info.split_once(':')?;
    Some(percent_decode(password))
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let hex = bytes
            .get(index + 1..index + 3)
            .and_then(|pair| std::str::from_utf8(pair).ok());
        match (
            bytes[index],
            hex.and_then(|pair| u8::from_str_radix(pair, 16).ok()),
        ) {
            (b'%', Some(byte)) => {
                decoded.push(byte);
                index += 3;
            }
            (byte, _) => {
                decoded.push(byte);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

/// Creates the scratch database and initialises TPC-B in it at `PGBENCH_SCALE`.
async fn initialise_pgbench(
    admin: &PgPool,
    server: &ServerAddress,
    pgbench: &Path,
    database: &str,
) -> anyhow::Result<()> {
    scratch::create_database(admin, database).await?;
    let started = Instant::now();
    let initialise = pgbench_command(pgbench, server)
        .args(["-i", "-q", "-s", &PGBENCH_SCALE.to_string(), database])
        .output()
        .await
        .context("running pgbench -i")?;
    if !initialise.status.success() {
        bail!(
            "pgbench -i failed: {}",
            String::from_utf8_lossy(&initialise.stderr)
        );
    }
    println!(
        "pgbench initialised scale {PGBENCH_SCALE} in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Runs pgbench's built-in TPC-B for `seconds`; returns its tps.
async fn run_pgbench(
    pgbench: &Path,
    server: &ServerAddress,
    database: &str,
    seconds: u64,
) -> anyhow::Result<f64> {
    let run = pgbench_command(pgbench, server)
        .args([
            "-c",
            &CLIENTS.to_string(),
            "-j",
            "2",
            "-T",
            &seconds.to_string(),
            database,
        ])
        .output()
        .await
        .context("running pgbench")?;
    let stdout = String::from_utf8_lossy(&run.stdout);
    if !run.status.success() {
        bail!(
            "pgbench failed: {}{}",
            stdout,
            String::from_utf8_lossy(&run.stderr)
        );
    }
    parse_pgbench_tps(&stdout).with_context(|| format!("no tps in pgbench's output:\n{stdout}"))
}

fn pgbench_command(pgbench: &Path, server: &ServerAddress) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(pgbench);
    command
        .env("PGHOST", &server.host)
        .env("PGPORT", server.port.to_string())
        .env("PGUSER", &server.user)
        .env("PGOPTIONS", "-c synchronous_commit=on")
        .kill_on_drop(true);
    if let Some(password) = &server.password {
        command.env("PGPASSWORD", password);
    }
    command
}

/// pgbench of the server's major version, else any installed one, else the one on PATH.
async fn find_pgbench(admin: &PgPool) -> anyhow::Result<PathBuf> {
    let version_number: String = sqlx::query_scalar("SELECT current_setting('server_version_num')")
        .fetch_one(admin)
        .await?;
    let major = version_number.parse::<u32>().unwrap_or(0) / 10_000;
    let mut candidates = vec![PathBuf::from(format!(
        "/usr/lib/postgresql/{major}/bin/pgbench"
    ))];
    if let Ok(entries) = std::fs::read_dir("/usr/lib/postgresql") {
        let mut installed: Vec<PathBuf> = entries
            .flatten()
            .map(|entry| entry.path().join("bin/pgbench"))
            .collect();
        installed.sort();
        candidates.extend(installed.into_iter().rev());
    }
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path).map(|directory| directory.join("pgbench")));
    }
    candidates
        .into_iter()
        .find(|candidate| candidate.is_file())
        .context("pgbench not found (Debian: apt-get install postgresql-contrib)")
}

/// Reads "tps = 1509.202305 (without initial connection time)".
fn parse_pgbench_tps(output: &str) -> Option<f64> {
    output
        .lines()
        .filter_map(|line| line.trim().strip_prefix("tps = "))
        .find_map(|rest| rest.split_whitespace().next()?.parse().ok())
}

#[cfg(test)]
mod tests;
