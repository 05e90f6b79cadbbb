//! `kasa bench audit`: what the hash-chained audit log costs the money path. 64 clients post
//! ledger journals (one player -> player transfer each, drawn uniformly, so the ledger itself has
//! no hot row) in their own transaction, with and without one audit event per journal, on one
//! tenant and spread over several tenants. The audit event is queued for the chainer, as money
//! movements do (`audit::queue`), while the chainer runs as in `kasa serve`; one more variant
//! links each event at once (`audit::record`, the head locked until commit: one brand's posts
//! commit one at a time), the path money movements took before the chainer.
//!
//! Runs in a scratch database created here and dropped at the end; commits are durable
//! (`synchronous_commit=on`). Each variant is measured twice for half the time, the second round
//! in reverse order, so that none gains from running first.

use std::process::ExitCode;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::bail;
use app::domain::ids::{PlayerId, TenantId};
use app::domain::money::{Currency, Money};
use chrono::Utc;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, PgPool};

use super::{Actor, AuditEvent};
use crate::db::scratch::{self, Tally};
use crate::ledger::{
    AccountRef, IdempotencyKey, JournalKind, NewJournal, NewTransfer, post_journal_in_transaction,
};

const CLIENTS: usize = 64;
/// Tenants of the spread-out variants; clients are assigned to them round robin.
const TENANT_COUNT: usize = 8;
const PLAYERS_PER_TENANT: usize = 1_000;
const OPENING_BALANCE_MINOR: i64 = 100_000_000;
const PHASE_SECONDS_DEFAULT: u64 = 20;
const PHASE_SECONDS_MAX: u64 = 60;
const WARM_UP: Duration = Duration::from_secs(1);
static NEXT_KEY_NUMBER: AtomicU64 = AtomicU64::new(0);

#[derive(Clone, Copy, PartialEq, Eq)]
enum Audit {
    None,
    /// `audit::queue`, linked by the chainer.
    Queued,
    /// `audit::record`, linked in the posting transaction.
    Linked,
}

#[derive(Clone, Copy, PartialEq, Eq)]
struct Variant {
    audit: Audit,
    tenants: usize,
}

impl Variant {
    fn label(self) -> String {
        format!(
            "{}, {} tenant{}",
            match self.audit {
                Audit::None => "without an audit event",
                Audit::Queued => "with a queued audit event",
                Audit::Linked => "with an audit event linked at once",
            },
            self.tenants,
            if self.tenants == 1 { "" } else { "s" }
        )
    }
}

const VARIANTS: [Variant; 5] = [
    Variant {
        audit: Audit::None,
        tenants: 1,
    },
    Variant {
        audit: Audit::Queued,
        tenants: 1,
    },
    Variant {
        audit: Audit::Linked,
        tenants: 1,
    },
    Variant {
        audit: Audit::None,
        tenants: TENANT_COUNT,
    },
    Variant {
        audit: Audit::Queued,
        tenants: TENANT_COUNT,
    },
];
/// Runs the benchmark and prints its figures; see the module documentation.
pub async fn run(db: &crate::db::Database, seconds: Option<u64>) -> anyhow::Result<ExitCode> {
    let phase_seconds = seconds
        .unwrap_or(PHASE_SECONDS_DEFAULT)
        .clamp(2, PHASE_SECONDS_MAX);
    let admin = &scratch::admin_pool(db.owner_url()).await?;
    let settings = scratch::server_settings(admin).await?;
    println!(
        "kasa audit benchmark: {CLIENTS} clients, {PLAYERS_PER_TENANT} players per tenant, \
         {phase_seconds} s per variant; PostgreSQL {}, fsync={}, synchronous_commit=on",
        settings.version, settings.fsync
    );
    settings.warn_unless_durable();
    let outcome = scratch::with_scratch_database(admin, "kasa_bench_audit", async |database| {
        measure(db.owner_url(), database, Duration::from_secs(phase_seconds)).await
    })
    .await;
    admin.close().await;
    match outcome? {
        0 => Ok(ExitCode::SUCCESS),
        errors => {
            eprintln!("kasa: {errors} post(s) failed during the benchmark");
            Ok(ExitCode::FAILURE)
        }
    }
}

async fn measure(url: &str, database: &str, phase: Duration) -> anyhow::Result<u64> {
    let options = PgConnectOptions::from_str(url)?
        .database(database)
        .options([("synchronous_commit", "on")])
        .disable_statement_logging();
    let pool = PgPoolOptions::new()
        .max_connections(CLIENTS as u32 + 2)
        .min_connections(CLIENTS as u32)
        .test_before_acquire(false)
        .acquire_timeout(Duration::from_secs(60))
        .connect_with(options)
        .await?;
    let result = async {
        crate::db::MIGRATOR.run(&pool).await?;
        let tenants = Arc::new(seed(&pool).await?);
        let folder =
            crate::ledger::spawn_balance_folder(pool.clone(), crate::ledger::BALANCE_FOLD_INTERVAL);
        let chainer = super::spawn_chainer(pool.clone());
        let mut backlog = Backlog::default();
        let half = phase / 2;
        let mut figures: Vec<Tally> = VARIANTS.iter().map(|_| Tally::default()).collect();
        let rounds = async {
            for (round, duration) in [(0, half), (1, phase - half)] {
                let order: Vec<usize> = if round == 0 {
                    (0..VARIANTS.len()).collect()
                } else {
                    (0..VARIANTS.len()).rev().collect()
                };
                for index in order {
                    let sampler = (VARIANTS[index].audit == Audit::Queued)
                        .then(|| spawn_backlog_sampler(pool.clone()));
                    let run = run_variant(&pool, &tenants, VARIANTS[index], duration).await?;
                    figures[index].absorb(run);
                    if let Some(sampler) = sampler {
                        backlog.absorb(sampler.finish());
                    }
                }
            }
            anyhow::Ok(())
        }
        .await;
        folder.abort();
        chainer.abort();
        rounds?;
        for (variant, result) in VARIANTS.iter().zip(&figures) {
            println!(
                "{}: {:.1} posts/s, p50 {:.2} ms, p99 {:.2} ms ({} posts, {} errors)",
                variant.label(),
                result.per_second(),
                result.percentile_ms(0.50),
                result.percentile_ms(0.99),
                result.ok,
                result.errors
            );
        }
        println!(
            "ratio audited/unaudited (one brand): {:.2}",
            figures[1].per_second() / figures[0].per_second()
        );
        println!(
            "ratio linked-at-once/unaudited (one brand, the path before the chainer): {:.2}",
            figures[2].per_second() / figures[0].per_second()
        );
        println!(
            "ratio audited/unaudited ({TENANT_COUNT} brands): {:.2}",
            figures[4].per_second() / figures[3].per_second()
        );
        println!(
            "chain lag under the queued variants (age of the oldest queued event, sampled every \
             100 ms): p50 {:.2} s, p99 {:.2} s, max {:.2} s; at most {} events queued",
            backlog.lag_percentile(0.50),
            backlog.lag_percentile(0.99),
            backlog.lag_percentile(1.0),
            backlog.most_queued
        );
        let drained = std::time::Instant::now();
        while super::chain_pending(&pool).await? > 0 {}
        println!(
            "chainer: the queue left after the runs was linked in {:.2} s",
            drained.elapsed().as_secs_f64()
        );
        let report = super::verify_chain(&pool, None).await?;
        println!(
            "audit chains after the runs: {} ({} events in {} chains)",
            if report.ok { "intact" } else { "BROKEN" },
            report.events_checked,
            report.tenants.len()
        );
        if !report.ok {
            bail!("the audit chain is broken after the benchmark");
        }
        anyhow::Ok(figures.iter().map(|figures| figures.errors).sum())
    }
    .await;
    pool.close().await;
    result
}

/// `TENANT_COUNT` tenants, each with its players and their opening balances.
async fn seed(pool: &PgPool) -> anyhow::Result<Vec<(TenantId, Vec<PlayerId>)>> {
    let mut tenants = Vec::with_capacity(TENANT_COUNT);
    for number in 0..TENANT_COUNT {
        let slug = format!("bench-{number}");
        tenants.push(
            scratch::seed_tenant(pool, &slug, PLAYERS_PER_TENANT, OPENING_BALANCE_MINOR).await?,
        );
    }
    Ok(tenants)
}

async fn run_variant(
    pool: &PgPool,
    tenants: &Arc<Vec<(TenantId, Vec<PlayerId>)>>,
    variant: Variant,
    phase: Duration,
) -> anyhow::Result<Tally> {
    let (pool, tenants) = (pool.clone(), Arc::clone(tenants));
    let calls = scratch::closed_loop(CLIENTS, WARM_UP, phase, move |client| {
        let (pool, tenants) = (pool.clone(), Arc::clone(&tenants));
        async move {
            let (tenant_id, players) = &tenants[client % variant.tenants];
            post_once(&pool, *tenant_id, players, variant.audit).await
        }
    })
    .await?;
    Ok(Tally::of(calls, phase, "a benchmark post"))
}

/// One money movement as a feature writes it: its journal, then (optionally) its audit event,
/// in one transaction.
async fn post_once(
    pool: &PgPool,
    tenant_id: TenantId,
    players: &[PlayerId],
    audit: Audit,
) -> anyhow::Result<()> {
    let from = players[rand::random_range(0..players.len())];
    let mut to = players[rand::random_range(0..players.len())];
    if to == from {
        to = players[(players
            .iter()
            .position(|player| *player == from)
            .unwrap_or(0)
            + 1)
            % players.len()];
    }
    let amount = Money::from_minor_units(rand::random_range(1..=1_000), Currency::Eur)?;
    let key_number = NEXT_KEY_NUMBER.fetch_add(1, Ordering::Relaxed);
    let journal = NewJournal::new(
        IdempotencyKey::parse(format!("bench-audit-{key_number}"))?,
        JournalKind::parse("bench_transfer")?,
        vec![NewTransfer {
            debit: AccountRef::PlayerCash(from),
            credit: AccountRef::PlayerCash(to),
            amount,
        }],
    );
    let mut tx = pool.begin().await?;
    let posted = post_journal_in_transaction(&mut tx, tenant_id, &journal).await?;
    if audit != Audit::None {
        let event = AuditEvent {
            tenant_id,
            actor: Actor::System("bench".into()),
            action: "transfer.posted".into(),
            target_type: "journal".into(),
            target_id: posted.journal_id.to_string(),
            before: None,
            after: Some(serde_json::json!({
                "from": from, "to": to, "amount_minor": amount.to_minor_units(), "currency": "EUR",
            })),
            reason: None,
            request_id: None,
            idempotency_key: Some(journal.idempotency_key.as_str().to_owned()),
            ip: None,
            at: Utc::now(),
        };
        if audit == Audit::Queued {
            super::queue(&mut tx, &event).await?;
        } else {
            super::record(&mut tx, &event).await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

/// The chainer's backlog as sampled during the queued variants.
#[derive(Default)]
struct Backlog {
    most_queued: i64,
    /// The oldest queued event's age at each sample, in microseconds (0: the queue was empty).
    oldest_waits_us: Vec<u32>,
}

impl Backlog {
    fn absorb(&mut self, other: Backlog) {
        self.most_queued = self.most_queued.max(other.most_queued);
        self.oldest_waits_us.extend(other.oldest_waits_us);
    }

    /// In seconds.
    fn lag_percentile(&self, quantile: f64) -> f64 {
        let mut sorted = self.oldest_waits_us.clone();
        sorted.sort_unstable();
        scratch::percentile_ms(&sorted, quantile) / 1000.0
    }
}

/// Samples the chainer's queue every 100 ms until [`BacklogSampler::finish`].
fn spawn_backlog_sampler(pool: PgPool) -> BacklogSampler {
    let figures = Arc::new(std::sync::Mutex::new(Backlog::default()));
    let shared = Arc::clone(&figures);
    let task = tokio::spawn(async move {
        let mut ticks = tokio::time::interval(Duration::from_millis(100));
        loop {
            ticks.tick().await;
            let sample: Result<(i64, i64), sqlx::Error> = sqlx::query_as(
                "SELECT count(*),
                        coalesce((extract(epoch FROM clock_timestamp() - min(at)) * 1e6)::bigint, 0)
                   FROM audit_pending",
            )
            .fetch_one(&pool)
            .await;
            if let (Ok((queued, oldest)), Ok(mut figures)) = (sample, shared.lock()) {
                figures.most_queued = figures.most_queued.max(queued);
                figures
                    .oldest_waits_us
                    .push(u32::try_from(oldest.max(0)).unwrap_or(u32::MAX));
            }
        }
    });
    BacklogSampler { task, figures }
}

struct BacklogSampler {
    task: tokio::task::JoinHandle<()>,
    figures: Arc<std::sync::Mutex<Backlog>>,
}

impl BacklogSampler {
    fn finish(self) -> Backlog {
        self.task.abort();
        std::mem::take(
            &mut *self
                .figures
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        )
    }
}
