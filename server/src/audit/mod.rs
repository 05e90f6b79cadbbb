//! The append-only, hash-chained audit log (`migrations/0005_audit.sql`). Every feature calls
//! [`record`] in the same transaction as the change it records; [`verify_chain`] recomputes the
//! chains (`kasa audit-verify`, the back office's "Verify chain") and names the first broken link.
//!
//! Each tenant has its own chain: event `n` stores `prev_hash` (the hash of event `n-1`, or 32
//! zero bytes for the first) and `hash = sha256(prev_hash ‖ canonical event)`. The canonical event
//! is a JSON object written by [`canonical_event`], byte for byte:
//! - keys `action, actor_id, actor_type, after, at, before, id, idempotency_key, ip, reason,
//!   request_id, seq, target_id, target_type, tenant_id`, in that (byte-wise sorted) order;
//! - no whitespace; strings escaped as JSON requires (`"`, `\` and control characters; other
//!   characters as UTF-8); absent values are `null`; `seq` is a decimal integer;
//! - `before`/`after` are the stored JSON values, written the same way with their object keys
//!   sorted byte-wise at every depth, numbers in their shortest round-trip form;
//! - `at` is `YYYY-MM-DDTHH:MM:SS.ffffffZ` (UTC, exactly six fractional digits: the stored
//!   precision); ids are lower-case hyphenated UUIDs.
//!
//! A removed tail with its head patched back leaves a shorter chain that is just as consistent;
//! [`checkpoint`] signs the heads into a file outside the database, and verification against it
//! catches that too.
//!
//! Two ways in:
//! - [`queue`] (money movements: deposits, withdrawals and payouts) writes the whole event to
//!   `audit_pending` in the caller's transaction and takes no shared lock; the [`chainer`] links
//!   committed events into the chain in blocks, within about a second (`migrations/0016`).
//! - [`record`] links the event at once: for staff actions that a later read of the log depends
//!   on (a note's id, a re-applied webhook's idempotency key). It locks the tenant's chain head
//!   until the caller commits, so record the event LAST in the transaction, after every other
//!   lock: the head is then held for the shortest time, and no transaction can hold the head
//!   while waiting for a lock another holder of a player account wants (no lock-order deadlocks).

pub mod bench;
mod canonical;
pub mod chainer;
pub mod checkpoint;
mod verify;

pub use canonical::{EVENT_COLUMNS, Hash32, StoredEvent, canonical_event, write_canonical};
pub use chainer::{UNCHAINED_GRACE, chain_pending, queue, spawn_chainer};
pub use verify::{
    BreakKind, ChainBreak, ChainReport, CheckpointChecked, CheckpointFileReport, TenantChainReport,
    verify_chain, verify_chain_with,
};

use app::domain::ids::{PlayerId, StaffId, TenantId};
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

/// The `prev_hash` of a chain's first event.
pub const GENESIS_HASH: [u8; 32] = [0; 32];

/// Who did it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    Staff(StaffId),
    Player(PlayerId),
    /// A PSP's webhook or an answer from its API (`stripe`, `mock`).
    Provider(String),
    /// A background job or the command line (`recheck-job`, `cli`).
    System(String),
}

impl Actor {
    /// The stored `actor_type`.
    pub fn kind(&self) -> &'static str {
        match self {
            Actor::Staff(_) => "staff",
            Actor::Player(_) => "player",
            Actor::Provider(_) => "provider",
            Actor::System(_) => "system",
        }
    }

    /// The stored `actor_id`: a UUID for people, a name for providers and jobs.
    pub fn id(&self) -> String {
        match self {
            Actor::Staff(id) => id.to_string(),
            Actor::Player(id) => id.to_string(),
            Actor::Provider(name) | Actor::System(name) => name.clone(),
        }
    }
}

/// One audit event; `before`/`after` are the object's relevant fields as JSON.
#[derive(Debug, Clone)]
pub struct AuditEvent {
    pub tenant_id: TenantId,
    pub actor: Actor,
    /// What happened, `object.verb` (`deposit.captured`, `withdrawal.approved`, …).
    pub action: String,
    pub target_type: String,
    pub target_id: String,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
    pub reason: Option<String>,
    pub request_id: Option<String>,
    pub idempotency_key: Option<String>,
    pub ip: Option<String>,
    pub at: DateTime<Utc>,
}

/// Where an appended event landed in its tenant's chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub id: Uuid,
    pub seq: i64,
    pub hash: [u8; 32],
}

/// Appends `event` to its tenant's chain, inside the caller's transaction (call it last).
pub async fn record(conn: &mut sqlx::PgConnection, event: &AuditEvent) -> Result<(), sqlx::Error> {
    append(conn, event).await.map(|_| ())
}

/// Like [`record`], and says where the event landed.
pub async fn append(
    conn: &mut sqlx::PgConnection,
    event: &AuditEvent,
) -> Result<Recorded, sqlx::Error> {
    // Locks the head until the caller's transaction ends: the next event of this tenant waits.
    let (last_seq, last_hash): (i64, Vec<u8>) = sqlx::query_as(
        "SELECT last_seq, last_hash FROM audit_chain_heads WHERE tenant_id = $1 FOR UPDATE",
    )
    .bind(event.tenant_id)
    .fetch_one(&mut *conn)
    .await?;
    let prev_hash: [u8; 32] = last_hash
        .try_into()
        .map_err(|_| sqlx::Error::Decode("an audit chain head hash is not 32 bytes".into()))?;
    let stored = StoredEvent::from_event(event, last_seq + 1, Uuid::new_v4(), prev_hash);
    insert_linked(conn, stored).await
}

/// Inserts `stored` (its `seq` and `prev_hash` set: the next link of its chain) with its hash;
/// the append trigger checks the link and moves the head.
async fn insert_linked(
    conn: &mut sqlx::PgConnection,
    stored: StoredEvent,
) -> Result<Recorded, sqlx::Error> {
    let hash = stored.compute_hash();
    let query = sqlx::query(
        "INSERT INTO audit_events (tenant_id, seq, id, actor_type, actor_id, action, target_type,
             target_id, before, after, reason, request_id, idempotency_key, ip, at, prev_hash, hash)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
    )
    .bind(stored.tenant_id)
    .bind(stored.seq)
    .bind(stored.id);
    let query = bind_content(query, &stored)
        .bind(&stored.prev_hash[..])
        .bind(&hash[..]);
    query.execute(&mut *conn).await?;
    Ok(Recorded {
        id: stored.id,
        seq: stored.seq,
        hash,
    })
}

/// Binds what an event says, in the column order both `audit_events` and `audit_pending` use
/// after their ids: `actor_type` … `at`.
fn bind_content<'q>(
    query: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
    event: &'q StoredEvent,
) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
    query
        .bind(&event.actor_type)
        .bind(&event.actor_id)
        .bind(&event.action)
        .bind(&event.target_type)
        .bind(&event.target_id)
        .bind(&event.before)
        .bind(&event.after)
        .bind(&event.reason)
        .bind(&event.request_id)
        .bind(&event.idempotency_key)
        .bind(&event.ip)
        .bind(event.at)
}

/// The request's id (`x-request-id`, set by the router for every request), for `request_id`.
pub fn request_id(ctx: &app::api::RequestCtx) -> Option<String> {
    ctx.parts
        .headers
        .get("x-request-id")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
}

/// The client's address, for `ip`: the TCP peer, or the forwarded client behind a trusted
/// proxy (`crate::client_address`).
pub fn client_ip(ctx: &app::api::RequestCtx) -> Option<String> {
    ctx.parts
        .extensions
        .get::<crate::client_address::ClientAddress>()
        .map(ToString::to_string)
        .or_else(|| {
            ctx.parts
                .extensions
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .map(|info| info.0.ip().to_string())
        })
}

/// Records `event` in a transaction of its own: for actions that change nothing else (a staff
/// log-in, a report someone ran).
pub async fn record_alone(pool: &PgPool, event: &AuditEvent) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    record(&mut tx, event).await?;
    tx.commit().await
}

/// A staff member's log-in or log-out (`staff.logged_in`, `staff.logged_out`).
pub fn staff_session_event(
    ctx: &app::api::RequestCtx,
    tenant_id: TenantId,
    staff_id: StaffId,
    action: &str,
    at: DateTime<Utc>,
) -> AuditEvent {
    AuditEvent {
        tenant_id,
        actor: Actor::Staff(staff_id),
        action: action.to_owned(),
        target_type: "staff".into(),
        target_id: staff_id.to_string(),
        before: None,
        after: None,
        reason: None,
        request_id: request_id(ctx),
        idempotency_key: None,
        ip: client_ip(ctx),
        at,
    }
}

#[cfg(test)]
mod tests;
