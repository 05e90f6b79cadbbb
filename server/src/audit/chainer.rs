//! Audit chaining off the commit path (`migrations/0016_audit_chainer.sql`). A money movement
//! [`queue`]s its event in its own transaction; the chainer links what has committed into the
//! brand's chain, one block per transaction:
//!
//! 1. claim the brand: its chain head row `FOR UPDATE SKIP LOCKED` (a brand another server is
//!    chaining, or whose head a [`super::record`] holds, is skipped until the next pass);
//! 2. read the brand's queued events (committed ones only: read committed), oldest first;
//! 3. link each after the head and insert it into `audit_events` (the append trigger checks every
//!    link); delete the linked events from the queue, which the queue's guard allows only for an
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
use super::{AuditEvent, insert_linked};

/// How many events one chaining transaction links at most.
pub const BLOCK: i64 = 500;
/// How often the chainer looks for queued events.
pub const CHAIN_INTERVAL: Duration = Duration::from_millis(200);
/// A queued event older than this is reported by verification: the chainer is behind or down.
pub const UNCHAINED_GRACE: Duration = Duration::from_secs(60);

/// Queues `event` in the caller's transaction; the chainer links it once the caller commits.
/// Takes no lock that another transaction of the brand waits on.
pub async fn queue(conn: &mut sqlx::PgConnection, event: &AuditEvent) -> Result<Uuid, sqlx::Error> {
    let stored = StoredEvent::from_event(event, 0, Uuid::new_v4(), [0; 32]);
    sqlx::query(
        "INSERT INTO audit_pending (tenant_id, id, actor_type, actor_id, action, target_type,
             target_id, before, after, reason, request_id, idempotency_key, ip, at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
    )
    .bind(stored.tenant_id)
    .bind(stored.id)
    .bind(&stored.actor_type)
    .bind(&stored.actor_id)
    .bind(&stored.action)
    .bind(&stored.target_type)
    .bind(&stored.target_id)
    .bind(&stored.before)
    .bind(&stored.after)
    .bind(&stored.reason)
    .bind(&stored.request_id)
    .bind(&stored.idempotency_key)
    .bind(&stored.ip)
    .bind(stored.at)
    .execute(&mut *conn)
    .await?;
    Ok(stored.id)
}

/// A queued event: everything its hash covers, without its link.
#[derive(sqlx::FromRow)]
struct Queued {
    pos: i64,
    tenant_id: TenantId,
    id: Uuid,
    actor_type: String,
    actor_id: String,
    action: String,
    target_type: String,
    target_id: String,
    before: Option<serde_json::Value>,
    after: Option<serde_json::Value>,
    reason: Option<String>,
    request_id: Option<String>,
    idempotency_key: Option<String>,
    ip: Option<String>,
    at: DateTime<Utc>,
}

impl Queued {
    fn linked(self, seq: i64, prev_hash: [u8; 32]) -> StoredEvent {
        StoredEvent {
            tenant_id: self.tenant_id,
            seq,
            id: self.id,
            actor_type: self.actor_type,
            actor_id: self.actor_id,
            action: self.action,
            target_type: self.target_type,
            target_id: self.target_id,
            before: self.before,
            after: self.after,
            reason: self.reason,
            request_id: self.request_id,
            idempotency_key: self.idempotency_key,
            ip: self.ip,
            at: self.at,
            prev_hash: Hash32(prev_hash),
            hash: Hash32([0; 32]),
        }
    }
}

#[derive(sqlx::FromRow)]
struct Head {
    last_seq: i64,
    #[sqlx(try_from = "Vec<u8>")]
    last_hash: Hash32,
}

/// Links one block of `tenant_id`'s queued events. `None`: another transaction holds the brand's
/// head (another chainer, or an event being recorded directly), so this pass leaves it alone.
pub async fn chain_block(pool: &PgPool, tenant_id: TenantId) -> Result<Option<u64>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let head: Option<Head> = sqlx::query_as(
        "SELECT last_seq, last_hash FROM audit_chain_heads
          WHERE tenant_id = $1 FOR UPDATE SKIP LOCKED",
    )
    .bind(tenant_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(Head {
        last_seq,
        last_hash: Hash32(mut prev_hash),
    }) = head
    else {
        return Ok(None);
    };
    let queued: Vec<Queued> = sqlx::query_as(
        "SELECT pos, tenant_id, id, actor_type, actor_id, action, target_type, target_id, before,
                after, reason, request_id, idempotency_key, ip, at
           FROM audit_pending WHERE tenant_id = $1 ORDER BY pos LIMIT $2",
    )
    .bind(tenant_id)
    .bind(BLOCK)
    .fetch_all(&mut *tx)
    .await?;
    let positions: Vec<i64> = queued.iter().map(|event| event.pos).collect();
    for (seq, event) in (last_seq + 1..).zip(queued) {
        prev_hash = insert_linked(&mut tx, event.linked(seq, prev_hash))
            .await?
            .hash;
    }
    sqlx::query("DELETE FROM audit_pending WHERE pos = ANY($1)")
        .bind(&positions)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Some(positions.len() as u64))
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

/// Runs [`chain_pending`] every [`CHAIN_INTERVAL`] until aborted. Several servers may run it on
/// one database: each brand is chained by one of them at a time.
pub fn spawn_chainer(pool: PgPool) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(CHAIN_INTERVAL);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            if let Err(error) = chain_pending(&pool).await {
                tracing::warn!(%error, "audit chaining failed; retrying at the next pass");
            }
        }
    })
}
