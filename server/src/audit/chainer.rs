//! Audit chaining off the commit path (`migrations/0016_audit_chainer.sql`). A money movement
//! [`queue`]s its event in its own transaction; the chainer links what has committed into the
//! brand's chain, one block per transaction:
//!
//! 1. claim the brand with a transaction-scoped advisory lock (a brand another server is chaining
//!    is skipped until the next pass), then lock its chain head (waiting for an event a
//!    [`super::record`] is linking directly);
//! 2. read the brand's queued events (committed ones only: read committed), oldest first;
//! 3. link each after the head and insert the block into `audit_events` in one statement (the
//!    append trigger checks every link); delete the linked events from the queue, which the queue's guard allows only for an
//!    event that now stands in the chain with the same content;
//! 4. commit. A crash anywhere before the commit rolls the whole block back: nothing is lost,
//!    nothing is linked twice, and the next pass starts from the same head.
//!
//! Order: a block holds what had committed when it was read, so an event whose transaction
//! committed before another's was read is never linked after it; within one block, events stand
//! in queue order.

use std::time::Duration;

use app::domain::ids::TenantId;
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use super::canonical::{Hash32, StoredEvent};
use super::{AuditEvent, bind_content};

/// How many events one chaining transaction links at most.
pub const BLOCK: i64 = 500;
/// How long the chainer waits after a pass that found nothing to link.
pub const CHAIN_INTERVAL: Duration = Duration::from_millis(200);
/// A queued event older than this is reported by verification: the chainer is behind or down.
pub const UNCHAINED_GRACE: Duration = Duration::from_secs(60);

/// Queues `event` in the caller's transaction; the chainer links it once the caller commits.
/// Takes no lock that another transaction of the brand waits on.
pub async fn queue(conn: &mut sqlx::PgConnection, event: &AuditEvent) -> Result<Uuid, sqlx::Error> {
    let stored = StoredEvent::from_event(event, 0, Uuid::new_v4(), [0; 32]);
    let query = sqlx::query(
        "INSERT INTO audit_pending (tenant_id, id, actor_type, actor_id, action, target_type,
             target_id, before, after, reason, request_id, idempotency_key, ip, at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
    )
    .bind(stored.tenant_id)
    .bind(stored.id);
    bind_content(query, &stored).execute(&mut *conn).await?;
    Ok(stored.id)
}

/// A queued event: everything its hash covers, read as a [`StoredEvent`] whose link (`seq`,
/// `prev_hash`, `hash`) is still zero, and its place in the queue.
#[derive(sqlx::FromRow)]
struct Queued {
    pos: i64,
    #[sqlx(flatten)]
    event: StoredEvent,
}

/// The queue's columns as [`Queued`] reads them (the link is set when the event is linked).
const QUEUED_COLUMNS: &str = "pos, tenant_id, 0::bigint AS seq, id, actor_type, actor_id, action, \
    target_type, target_id, before, after, reason, request_id, idempotency_key, ip, at, \
    decode(repeat('00', 32), 'hex') AS prev_hash, decode(repeat('00', 32), 'hex') AS hash";

#[derive(sqlx::FromRow)]
struct Head {
    last_seq: i64,
    #[sqlx(try_from = "Vec<u8>")]
    last_hash: Hash32,
}

/// Links one block of `tenant_id`'s queued events. `None`: another chainer holds the brand (a
/// transaction-scoped advisory lock per brand), so this pass leaves it alone.
pub async fn chain_block(pool: &PgPool, tenant_id: TenantId) -> Result<Option<u64>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let claimed: bool = sqlx::query_scalar(
        "SELECT pg_try_advisory_xact_lock(hashtext('kasa.audit_chainer'), hashtext($1::text))",
    )
    .bind(tenant_id)
    .fetch_one(&mut *tx)
    .await?;
    if !claimed {
        return Ok(None);
    }
    // Waits for an event being linked directly (`record`) to commit; a chainer that skipped a
    // held head would never get a turn on a brand whose staff record events back to back.
    let Head {
        last_seq,
        last_hash: Hash32(mut prev_hash),
    } = sqlx::query_as(
        "SELECT last_seq, last_hash FROM audit_chain_heads WHERE tenant_id = $1 FOR UPDATE",
    )
    .bind(tenant_id)
    .fetch_one(&mut *tx)
    .await?;
    let queued: Vec<Queued> = sqlx::query_as(&format!(
        "SELECT {QUEUED_COLUMNS} FROM audit_pending WHERE tenant_id = $1 ORDER BY pos LIMIT $2"
    ))
    .bind(tenant_id)
    .bind(BLOCK)
    .fetch_all(&mut *tx)
    .await?;
    if queued.is_empty() {
        return Ok(Some(0));
    }
    let positions: Vec<i64> = queued.iter().map(|event| event.pos).collect();
    let mut block = Block::default();
    for (
        seq,
        Queued {
            event: mut linked, ..
        },
    ) in (last_seq + 1..).zip(queued)
    {
        linked.seq = seq;
        linked.prev_hash = Hash32(prev_hash);
        prev_hash = linked.compute_hash();
        linked.hash = Hash32(prev_hash);
        block.push(linked);
    }
    block.insert(&mut tx, tenant_id).await?;
    sqlx::query("DELETE FROM audit_pending WHERE pos = ANY($1)")
        .bind(&positions)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Some(positions.len() as u64))
}

/// A block of linked events as columns, inserted in one statement (in chain order: the append
/// trigger checks each link against the head as it moves).
#[derive(Default)]
struct Block {
    seq: Vec<i64>,
    id: Vec<Uuid>,
    actor_type: Vec<String>,
    actor_id: Vec<String>,
    action: Vec<String>,
    target_type: Vec<String>,
    target_id: Vec<String>,
    before: Vec<Option<serde_json::Value>>,
    after: Vec<Option<serde_json::Value>>,
    reason: Vec<Option<String>>,
    request_id: Vec<Option<String>>,
    idempotency_key: Vec<Option<String>>,
    ip: Vec<Option<String>>,
    at: Vec<DateTime<Utc>>,
    prev_hash: Vec<Vec<u8>>,
    hash: Vec<Vec<u8>>,
}

impl Block {
    fn push(&mut self, event: StoredEvent) {
        self.seq.push(event.seq);
        self.id.push(event.id);
        self.actor_type.push(event.actor_type);
        self.actor_id.push(event.actor_id);
        self.action.push(event.action);
        self.target_type.push(event.target_type);
        self.target_id.push(event.target_id);
        self.before.push(event.before);
        self.after.push(event.after);
        self.reason.push(event.reason);
        self.request_id.push(event.request_id);
        self.idempotency_key.push(event.idempotency_key);
        self.ip.push(event.ip);
        self.at.push(event.at);
        self.prev_hash.push(event.prev_hash.0.to_vec());
        self.hash.push(event.hash.0.to_vec());
    }

    async fn insert(
        self,
        conn: &mut sqlx::PgConnection,
        tenant_id: TenantId,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO audit_events (tenant_id, seq, id, actor_type, actor_id, action,
                 target_type, target_id, before, after, reason, request_id, idempotency_key, ip,
                 at, prev_hash, hash)
             SELECT $1, e.* FROM unnest($2::bigint[], $3::uuid[], $4::text[], $5::text[],
                 $6::text[], $7::text[], $8::text[], $9::jsonb[], $10::jsonb[], $11::text[],
                 $12::text[], $13::text[], $14::text[], $15::timestamptz[], $16::bytea[],
                 $17::bytea[])
                 AS e (seq, id, actor_type, actor_id, action, target_type, target_id, before,
                       after, reason, request_id, idempotency_key, ip, at, prev_hash, hash)
             ORDER BY e.seq",
        )
        .bind(tenant_id)
        .bind(self.seq)
        .bind(self.id)
        .bind(self.actor_type)
        .bind(self.actor_id)
        .bind(self.action)
        .bind(self.target_type)
        .bind(self.target_id)
        .bind(self.before)
        .bind(self.after)
        .bind(self.reason)
        .bind(self.request_id)
        .bind(self.idempotency_key)
        .bind(self.ip)
        .bind(self.at)
        .bind(self.prev_hash)
        .bind(self.hash)
        .execute(conn)
        .await?;
        Ok(())
    }
}

/// One pass over every brand with queued events: links blocks until each brand's queue is
/// empty or held elsewhere. Returns how many events this pass linked.
pub async fn chain_pending(pool: &PgPool) -> Result<u64, sqlx::Error> {
    let tenants: Vec<TenantId> = sqlx::query_scalar("SELECT DISTINCT tenant_id FROM audit_pending")
        .fetch_all(pool)
        .await?;
    let mut linked = 0;
    for tenant_id in tenants {
        while let Some(count) = chain_block(pool, tenant_id).await? {
            linked += count;
            if count < BLOCK as u64 {
                break;
            }
        }
    }
    Ok(linked)
}

/// Runs [`chain_pending`] until aborted: again at once after a pass that linked events, else
/// after [`CHAIN_INTERVAL`]. Several servers may run it on one database: each brand is chained
/// by one of them at a time.
pub fn spawn_chainer(pool: PgPool) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(CHAIN_INTERVAL);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            match chain_pending(&pool).await {
                // Events keep coming: the next pass starts at once, so the lag stays one pass.
                Ok(linked) if linked > 0 => {
                    crate::http::metrics::count_chained(linked);
                    tokio::task::yield_now().await;
                    continue;
                }
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(%error, "audit chaining failed; retrying at the next pass")
                }
            }
            ticks.tick().await;
        }
    })
}
