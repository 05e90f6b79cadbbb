//! What the benchmarks share: a connection of their own to the server they measure (whose
//! settings they print with their figures), scratch databases created for one run and dropped
//! after it, a brand of funded players to move money between, and how latencies are kept and
//! read (microseconds, percentiles of the sorted list).

use std::str::FromStr;
use std::time::{Duration, Instant};

use anyhow::Context;
use app::domain::ids::{PlayerId, TenantId};
use app::domain::money::{Currency, Money};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, PgPool};
use uuid::Uuid;

use crate::ledger::{
    self, AccountRef, IdempotencyKey, JournalKind, NewJournal, NewTransfer, post_journal,
};

/// The settings that decide what a benchmark's figures mean.
#[derive(Debug, sqlx::FromRow)]
pub struct ServerSettings {
    pub version: String,
    pub fsync: String,
    pub wal_sync_method: String,
}

impl ServerSettings {
    /// Warns, under the figures' heading, that commits were not durable.
    pub fn warn_unless_durable(&self) {
        if self.fsync != "on" {
            println!(
                "warning: fsync is off on this server: commits are not durable and the figures mean little"
            );
        }
    }
}

/// A pool of the benchmark's own for creating and dropping scratch databases, without the
/// slow-statement warnings that `DROP DATABASE` would raise in the application's pool.
pub async fn admin_pool(owner_url: &str) -> anyhow::Result<PgPool> {
    PgPoolOptions::new()
        .max_connections(2)
        .connect_with(PgConnectOptions::from_str(owner_url)?.disable_statement_logging())
        .await
        .context("connecting to the database")
}

pub async fn server_settings(admin: &PgPool) -> anyhow::Result<ServerSettings> {
    Ok(sqlx::query_as(
        "SELECT current_setting('server_version') AS version, current_setting('fsync') AS fsync,
                current_setting('wal_sync_method') AS wal_sync_method",
    )
    .fetch_one(admin)
    .await?)
}

/// A fresh database name for one run: `prefix`, this process and a random part.
pub fn scratch_name(prefix: &str) -> String {
    format!(
        "{prefix}_{}_{}",
        std::process::id(),
        &Uuid::new_v4().simple().to_string()[..8]
    )
}

pub async fn create_database(admin: &PgPool, database: &str) -> Result<(), sqlx::Error> {
    sqlx::query(&format!("CREATE DATABASE {}", quote_identifier(database)))
        .execute(admin)
        .await
        .map(|_| ())
}

/// Drops a scratch database, saying so when it cannot (the run's own outcome matters more).
pub async fn drop_database(admin: &PgPool, database: &str) {
    let dropped = sqlx::query(&format!(
        "DROP DATABASE IF EXISTS {} WITH (FORCE)",
        quote_identifier(database)
    ))
    .execute(admin)
    .await;
    if let Err(error) = dropped {
        eprintln!("kasa: could not drop the scratch database {database}: {error}");
    }
}

/// Creates a scratch database, runs `run` on its name, and drops it whatever `run` returned.
pub async fn with_scratch_database<T>(
    admin: &PgPool,
    prefix: &str,
    run: impl AsyncFnOnce(&str) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let database = scratch_name(prefix);
    create_database(admin, &database).await?;
    let outcome = run(&database).await;
    drop_database(admin, &database).await;
    outcome
}

/// A brand `slug` with `players` players, each given `opening_minor` EUR cents from the
/// adjustments account (in journals of at most the ledger's transfer limit).
pub async fn seed_tenant(
    pool: &PgPool,
    slug: &str,
    players: usize,
    opening_minor: i64,
) -> anyhow::Result<(TenantId, Vec<PlayerId>)> {
    let tenant_id = TenantId(Uuid::new_v4());
    sqlx::query("INSERT INTO tenants (id, slug, name) VALUES ($1, $2, $2)")
        .bind(tenant_id)
        .bind(slug)
        .execute(pool)
        .await?;
    let player_ids: Vec<PlayerId> = sqlx::query_scalar(
        "INSERT INTO players (id, tenant_id, email, display_name, password_hash)
         SELECT gen_random_uuid(), $1, 'player' || n || '@bench.invalid', 'Player ' || n, '-'
         FROM generate_series(1, $2) AS n RETURNING id",
    )
    .bind(tenant_id)
    .bind(i32::try_from(players)?)
    .fetch_all(pool)
    .await?;
    let opening = Money::from_minor_units(opening_minor, Currency::Eur)?;
    for (batch, chunk) in player_ids
        .chunks(ledger::TRANSFERS_PER_JOURNAL_MAX)
        .enumerate()
    {
        let transfers = chunk
            .iter()
            .map(|player| NewTransfer {
                debit: AccountRef::Adjustments,
                credit: AccountRef::PlayerCash(*player),
                amount: opening,
            })
            .collect();
        let key = IdempotencyKey::parse(format!("bench-seed-{slug}-{batch}"))?;
        post_journal(
            pool,
            tenant_id,
            &NewJournal::new(key, JournalKind::ADJUSTMENT, transfers),
        )
        .await?;
    }
    Ok((tenant_id, player_ids))
}

fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A latency as the benchmarks keep it: whole microseconds (saturating).
pub fn micros(latency: Duration) -> u32 {
    u32::try_from(latency.as_micros()).unwrap_or(u32::MAX)
}

/// The `percentile` (0 to 1) of `sorted_us`, in milliseconds; 0 for no samples.
pub fn percentile_ms(sorted_us: &[u32], percentile: f64) -> f64 {
    if sorted_us.is_empty() {
        return 0.0;
    }
    let rank = ((sorted_us.len() - 1) as f64 * percentile).round() as usize;
    f64::from(sorted_us[rank]) / 1000.0
}

/// `clients` tasks, each making `call(client)` back to back until `warm_up` and then `duration`
/// have passed. Returns each call that started and ended inside the measured window with what it
/// answered and how long it took; the warm-up's calls and one straddling the end are dropped.
pub async fn closed_loop<R, F, Fut>(
    clients: usize,
    warm_up: Duration,
    duration: Duration,
    call: F,
) -> anyhow::Result<Vec<(R, Duration)>>
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = R> + Send,
    R: Send + 'static,
{
    let measure_from = Instant::now() + warm_up;
    let measure_until = measure_from + duration;
    let mut workers = tokio::task::JoinSet::new();
    for client in 0..clients {
        let call = call.clone();
        workers.spawn(async move {
            let mut measured = Vec::new();
            loop {
                let started = Instant::now();
                if started >= measure_until {
                    break;
                }
                let answer = call(client).await;
                let finished = Instant::now();
                if started >= measure_from && finished <= measure_until {
                    measured.push((answer, finished - started));
                }
            }
            measured
        });
    }
    let mut measured = Vec::new();
    while let Some(joined) = workers.join_next().await {
        measured.extend(joined.context("a benchmark client panicked")?);
    }
    Ok(measured)
}

/// The figures of calls that either succeed or fail: how many of each over how long, and the
/// successes' latencies, sorted.
#[derive(Debug, Default)]
pub struct Tally {
    pub ok: u64,
    pub errors: u64,
    pub elapsed: Duration,
    pub latencies_us: Vec<u32>,
}

impl Tally {
    /// Counts a closed loop's calls over `elapsed`, printing the first failure (`what` failed).
    pub fn of<E: std::fmt::Display>(
        calls: Vec<(Result<(), E>, Duration)>,
        elapsed: Duration,
        what: &str,
    ) -> Tally {
        let mut tally = Tally {
            elapsed,
            ..Tally::default()
        };
        for (answer, latency) in calls {
            match answer {
                Ok(()) => {
                    tally.ok += 1;
                    tally.latencies_us.push(micros(latency));
                }
                Err(error) => {
                    tally.errors += 1;
                    if tally.errors == 1 {
                        eprintln!("kasa: {what} failed: {error:#}");
                    }
                }
            }
        }
        tally.latencies_us.sort_unstable();
        tally
    }

    /// Adds another run of the same workload.
    pub fn absorb(&mut self, other: Tally) {
        self.ok += other.ok;
        self.errors += other.errors;
        self.elapsed += other.elapsed;
        self.latencies_us.extend(other.latencies_us);
        self.latencies_us.sort_unstable();
    }

    pub fn per_second(&self) -> f64 {
        if self.elapsed.is_zero() {
            return 0.0;
        }
        self.ok as f64 / self.elapsed.as_secs_f64()
    }

    pub fn percentile_ms(&self, percentile: f64) -> f64 {
        percentile_ms(&self.latencies_us, percentile)
    }
}
