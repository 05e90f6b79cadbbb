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
//! Appending locks the tenant's chain head until the caller commits, so one tenant's audited
//! transactions commit one at a time (different tenants never wait for each other). Record the
//! event LAST in the transaction, after every other lock: the head is then held for the shortest
//! time, and no transaction can hold the head while waiting for a lock another holder of a
//! player account wants (no lock-order deadlocks).

pub mod bench;
pub mod checkpoint;

use chrono::{DateTime, SubsecRound, Utc};
use futures::TryStreamExt;
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use uuid::Uuid;

/// The `prev_hash` of a chain's first event.
pub const GENESIS_HASH: [u8; 32] = [0; 32];

/// Who did it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    Staff(Uuid),
    Player(Uuid),
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
            Actor::Staff(id) | Actor::Player(id) => id.to_string(),
            Actor::Provider(name) | Actor::System(name) => name.clone(),
        }
    }
}

/// One audit event; `before`/`after` are the object's relevant fields as JSON.
#[derive(Debug, Clone)]
pub struct AuditEvent {
    pub tenant_id: Uuid,
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
    let hash = stored.compute_hash();
    sqlx::query(
        "INSERT INTO audit_events (tenant_id, seq, id, actor_type, actor_id, action, target_type,
             target_id, before, after, reason, request_id, idempotency_key, ip, at, prev_hash, hash)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
    )
    .bind(stored.tenant_id)
    .bind(stored.seq)
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
    .bind(&stored.prev_hash[..])
    .bind(&hash[..])
    .execute(&mut *conn)
    .await?;
    Ok(Recorded {
        id: stored.id,
        seq: stored.seq,
        hash,
    })
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
    tenant_id: Uuid,
    staff_id: Uuid,
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

/// An event as stored: what the hash covers, plus its link.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StoredEvent {
    pub tenant_id: Uuid,
    pub seq: i64,
    pub id: Uuid,
    pub actor_type: String,
    pub actor_id: String,
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
    #[sqlx(try_from = "Vec<u8>")]
    pub prev_hash: Hash32,
    #[sqlx(try_from = "Vec<u8>")]
    pub hash: Hash32,
}

/// A SHA-256 as stored in `bytea` columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hash32(pub [u8; 32]);

impl TryFrom<Vec<u8>> for Hash32 {
    type Error = String;
    fn try_from(bytes: Vec<u8>) -> Result<Hash32, String> {
        bytes
            .try_into()
            .map(Hash32)
            .map_err(|bytes: Vec<u8>| format!("a hash of {} bytes", bytes.len()))
    }
}

impl std::ops::Deref for Hash32 {
    type Target = [u8; 32];
    fn deref(&self) -> &[u8; 32] {
        &self.0
    }
}

/// The columns of [`StoredEvent`], for queries that read whole events.
pub const EVENT_COLUMNS: &str = "tenant_id, seq, id, actor_type, actor_id, action, target_type, \
    target_id, before, after, reason, request_id, idempotency_key, ip, at, prev_hash, hash";

impl StoredEvent {
    fn from_event(event: &AuditEvent, seq: i64, id: Uuid, prev_hash: [u8; 32]) -> StoredEvent {
        StoredEvent {
            tenant_id: event.tenant_id,
            seq,
            id,
            actor_type: event.actor.kind().to_owned(),
            actor_id: event.actor.id(),
            action: event.action.clone(),
            target_type: event.target_type.clone(),
            target_id: event.target_id.clone(),
            before: event.before.clone(),
            after: event.after.clone(),
            reason: event.reason.clone(),
            request_id: event.request_id.clone(),
            idempotency_key: event.idempotency_key.clone(),
            ip: event.ip.clone(),
            // Postgres keeps microseconds; the hash must cover exactly what is stored.
            at: event.at.trunc_subsecs(6),
            prev_hash: Hash32(prev_hash),
            hash: Hash32([0; 32]),
        }
    }

    /// `sha256(prev_hash ‖ canonical event)`.
    pub fn compute_hash(&self) -> [u8; 32] {
        let mut hasher = Sha256::new();
        hasher.update(self.prev_hash.0);
        hasher.update(canonical_event(self).as_bytes());
        hasher.finalize().into()
    }
}

/// The canonical text of an event (see the module documentation), which its hash covers.
pub fn canonical_event(event: &StoredEvent) -> String {
    let text = |value: &str| serde_json::Value::String(value.to_owned());
    let optional = |value: &Option<String>| value.as_deref().map_or(serde_json::Value::Null, text);
    let json = |value: &Option<serde_json::Value>| value.clone().unwrap_or_default();
    let fields: serde_json::Map<String, serde_json::Value> = [
        ("action", text(&event.action)),
        ("actor_id", text(&event.actor_id)),
        ("actor_type", text(&event.actor_type)),
        ("after", json(&event.after)),
        (
            "at",
            text(&event.at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()),
        ),
        ("before", json(&event.before)),
        ("id", text(&event.id.to_string())),
        ("idempotency_key", optional(&event.idempotency_key)),
        ("ip", optional(&event.ip)),
        ("reason", optional(&event.reason)),
        ("request_id", optional(&event.request_id)),
        ("seq", serde_json::Value::from(event.seq)),
        ("target_id", text(&event.target_id)),
        ("target_type", text(&event.target_type)),
        ("tenant_id", text(&event.tenant_id.to_string())),
    ]
    .into_iter()
    .map(|(key, value)| (key.to_owned(), value))
    .collect();
    let mut out = String::with_capacity(512);
    // `write_canonical` sorts the keys itself: the order never depends on serde_json's features.
    write_canonical(&serde_json::Value::Object(fields), &mut out);
    out
}

/// Writes `value` as canonical JSON: object keys sorted byte-wise at every depth, no whitespace.
pub fn write_canonical(value: &serde_json::Value, out: &mut String) {
    use serde_json::Value;
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(flag) => out.push_str(if *flag { "true" } else { "false" }),
        Value::Number(number) => {
            out.push_str(&serde_json::to_string(number).expect("a number serialises"))
        }
        Value::String(string) => write_string(string, out),
        Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|left, right| left.0.as_bytes().cmp(right.0.as_bytes()));
            out.push('{');
            for (index, (key, item)) in entries.into_iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_string(key, out);
                out.push(':');
                write_canonical(item, out);
            }
            out.push('}');
        }
    }
}

fn write_string(string: &str, out: &mut String) {
    out.push_str(&serde_json::to_string(string).expect("a string serialises"));
}

/// Why a chain is broken at an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakKind {
    /// The event's content no longer matches its hash: it was edited.
    HashMismatch,
    /// The event's `prev_hash` is not its predecessor's hash: an event before it was replaced.
    BrokenLink,
    /// An event with this `seq` is missing: it was removed (or the rest renumbered).
    MissingEvent,
    /// The last events are missing or replaced: the stored chain ends before, or differently
    /// from, its head.
    HeadMismatch,
    /// The chain ends before the event a signed checkpoint recorded: its tail was removed (and
    /// the head patched back to match).
    CheckpointMissing,
    /// The event at a signed checkpoint's place is not the one it recorded: the chain was cut
    /// there and written anew.
    CheckpointMismatch,
}

impl BreakKind {
    pub fn as_str(self) -> &'static str {
        match self {
            BreakKind::HashMismatch => "hash_mismatch",
            BreakKind::BrokenLink => "broken_link",
            BreakKind::MissingEvent => "missing_event",
            BreakKind::HeadMismatch => "head_mismatch",
            BreakKind::CheckpointMissing => "checkpoint_missing",
            BreakKind::CheckpointMismatch => "checkpoint_mismatch",
        }
    }
}

/// The first broken link of one tenant's chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainBreak {
    pub seq: i64,
    /// The event found at that place, if any.
    pub event_id: Option<Uuid>,
    pub kind: BreakKind,
    pub detail: String,
}

/// One tenant's chain, verified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TenantChainReport {
    pub tenant_id: Uuid,
    pub tenant_slug: String,
    pub events_checked: i64,
    pub head_seq: i64,
    /// The latest validly signed checkpoint the chain was checked against, if any.
    pub checkpoint: Option<CheckpointChecked>,
    pub first_break: Option<ChainBreak>,
}

/// A checkpoint a chain was verified against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckpointChecked {
    pub seq: i64,
    pub at: DateTime<Utc>,
}

/// The checkpoint file as verification read it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckpointFileReport {
    pub path: String,
    pub lines: usize,
    /// Lines that are not validly signed checkpoints (a forged or damaged file): each makes the
    /// report not ok.
    pub invalid: Vec<checkpoint::InvalidCheckpoint>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainReport {
    pub ok: bool,
    pub checked_at: DateTime<Utc>,
    pub events_checked: i64,
    pub tenants: Vec<TenantChainReport>,
    /// Absent when verified without checkpoints.
    pub checkpoints: Option<CheckpointFileReport>,
}

/// Recomputes the chain of `tenant_id` (or of every tenant) from the first event, streaming the
/// events in `seq` order, and reports each chain's first broken link.
pub async fn verify_chain(
    pool: &PgPool,
    tenant_id: Option<Uuid>,
) -> Result<ChainReport, sqlx::Error> {
    verify_chain_with(pool, tenant_id, None).await
}

/// Like [`verify_chain`], and checks each chain against its latest checkpoint in `checkpoints`
/// (read before this call: a checkpoint then never names a head newer than the snapshot).
///
/// Heads and events are read in one REPEATABLE READ, READ ONLY transaction: one snapshot, so
/// events committed while the verification runs are neither half seen nor taken for a break.
pub async fn verify_chain_with(
    pool: &PgPool,
    tenant_id: Option<Uuid>,
    checkpoints: Option<&checkpoint::CheckpointLog>,
) -> Result<ChainReport, sqlx::Error> {
    let mut snapshot = pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *snapshot)
        .await?;
    let heads: Vec<(Uuid, String, i64, Vec<u8>)> = sqlx::query_as(
        "SELECT h.tenant_id, t.slug, h.last_seq, h.last_hash
           FROM audit_chain_heads h JOIN tenants t ON t.id = h.tenant_id
          WHERE $1::uuid IS NULL OR h.tenant_id = $1
          ORDER BY t.slug",
    )
    .bind(tenant_id)
    .fetch_all(&mut *snapshot)
    .await?;
    let mut tenants = Vec::with_capacity(heads.len());
    for (tenant_id, tenant_slug, head_seq, head_hash) in heads {
        let checkpointed = checkpoints.and_then(|log| log.latest.get(&tenant_id).copied());
        let mut chain = ChainWalk::new(head_seq, &head_hash);
        chain.checkpoint = checkpointed;
        {
            let sql = format!(
                "SELECT {EVENT_COLUMNS} FROM audit_events WHERE tenant_id = $1 ORDER BY seq"
            );
            let mut events = sqlx::query_as::<_, StoredEvent>(&sql)
                .bind(tenant_id)
                .fetch(&mut *snapshot);
            while let Some(event) = events.try_next().await? {
                if !chain.step(&event) {
                    break;
                }
            }
        }
        let (events_checked, first_break) = chain.finish();
        tenants.push(TenantChainReport {
            tenant_id,
            tenant_slug,
            events_checked,
            head_seq,
            checkpoint: checkpointed.map(|head| CheckpointChecked {
                seq: head.seq,
                at: head.at,
            }),
            first_break,
        });
    }
    snapshot.commit().await?;
    let checkpoints = checkpoints.map(|log| CheckpointFileReport {
        path: log.path.display().to_string(),
        lines: log.lines,
        invalid: log.invalid.clone(),
    });
    Ok(ChainReport {
        ok: tenants.iter().all(|tenant| tenant.first_break.is_none())
            && checkpoints
                .as_ref()
                .is_none_or(|file| file.invalid.is_empty()),
        checked_at: Utc::now(),
        events_checked: tenants.iter().map(|tenant| tenant.events_checked).sum(),
        tenants,
        checkpoints,
    })
}

/// Exit code of an audit verification that found a broken chain (distinct from 1, a failed run).
const EXIT_CHAIN_BROKEN: u8 = 3;

/// `kasa audit-verify [--tenant SLUG]`: prints the JSON report, verified against the checkpoint
/// file when given one; exits 3 when a chain is broken or a checkpoint line is not validly signed.
pub async fn verify_command(
    pool: &PgPool,
    tenant_slug: Option<&str>,
    checkpoints: Option<&checkpoint::Checkpoints>,
) -> anyhow::Result<std::process::ExitCode> {
    use anyhow::Context;
    let tenant_id = match tenant_slug {
        None => None,
        Some(slug) => Some(
            sqlx::query_scalar::<_, Uuid>("SELECT id FROM tenants WHERE slug = $1")
                .bind(slug)
                .fetch_optional(pool)
                .await
                .context("looking up the tenant")?
                .with_context(|| format!("no tenant with slug {slug:?}"))?,
        ),
    };
    // The file first, then the snapshot: every checkpoint read names a committed head.
    let log = checkpoints
        .map(|checkpoints| checkpoints.read())
        .transpose()?;
    let report = verify_chain_with(pool, tenant_id, log.as_ref())
        .await
        .context("verifying the audit chains")?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    if report.ok {
        return Ok(std::process::ExitCode::SUCCESS);
    }
    for tenant in &report.tenants {
        if let Some(broken) = &tenant.first_break {
            eprintln!(
                "kasa: the audit chain of {} is broken at event {}: {}",
                tenant.tenant_slug, broken.seq, broken.detail
            );
        }
    }
    for invalid in report.checkpoints.iter().flat_map(|file| &file.invalid) {
        eprintln!(
            "kasa: checkpoint line {} is not valid: {}",
            invalid.line, invalid.reason
        );
    }
    Ok(std::process::ExitCode::from(EXIT_CHAIN_BROKEN))
}

/// `kasa audit-checkpoint`: signs the chain heads that moved into the checkpoint file now.
pub async fn checkpoint_command(
    pool: &PgPool,
    checkpoints: &checkpoint::Checkpoints,
) -> anyhow::Result<std::process::ExitCode> {
    let written = checkpoints.write(pool, Utc::now()).await?;
    println!(
        "{}",
        serde_json::json!({"written": written, "path": checkpoints.path().display().to_string()})
    );
    Ok(std::process::ExitCode::SUCCESS)
}

/// Walks one chain event by event; stops at the first break.
struct ChainWalk {
    head_seq: i64,
    head_hash: Vec<u8>,
    expected_seq: i64,
    prev_hash: [u8; 32],
    checked: i64,
    first_break: Option<ChainBreak>,
    /// The latest signed checkpoint: the chain must reach it and hold its event.
    checkpoint: Option<checkpoint::CheckpointedHead>,
}

impl ChainWalk {
    fn new(head_seq: i64, head_hash: &[u8]) -> ChainWalk {
        ChainWalk {
            head_seq,
            head_hash: head_hash.to_vec(),
            expected_seq: 1,
            prev_hash: GENESIS_HASH,
            checked: 0,
            first_break: None,
            checkpoint: None,
        }
    }

    /// Checks the next event; false once the chain is broken.
    fn step(&mut self, event: &StoredEvent) -> bool {
        let broken = |kind, seq, detail: String| ChainBreak {
            seq,
            event_id: Some(event.id),
            kind,
            detail,
        };
        self.first_break = if event.seq != self.expected_seq {
            Some(ChainBreak {
                event_id: None,
                ..broken(
                    BreakKind::MissingEvent,
                    self.expected_seq,
                    format!(
                        "event {} is missing; the next stored event is {}",
                        self.expected_seq, event.seq
                    ),
                )
            })
        } else if *event.prev_hash != self.prev_hash {
            Some(broken(
                BreakKind::BrokenLink,
                event.seq,
                format!(
                    "prev_hash {} is not the hash of event {} ({})",
                    hex::encode(*event.prev_hash),
                    event.seq - 1,
                    hex::encode(self.prev_hash)
                ),
            ))
        } else if event.compute_hash() != *event.hash {
            Some(broken(
                BreakKind::HashMismatch,
                event.seq,
                format!(
                    "the event's content does not match its hash {}: it was changed after it was written",
                    hex::encode(*event.hash)
                ),
            ))
        } else {
            self.checkpoint
                .filter(|checkpoint| checkpoint.seq == event.seq && checkpoint.hash != *event.hash)
                .map(|checkpoint| {
                    broken(
                        BreakKind::CheckpointMismatch,
                        event.seq,
                        format!(
                            "the checkpoint of {} recorded event {} with hash {}; the chain holds {} there: it was cut and written anew",
                            checkpoint.at.to_rfc3339(),
                            checkpoint.seq,
                            hex::encode(checkpoint.hash),
                            hex::encode(*event.hash)
                        ),
                    )
                })
        };
        if self.first_break.is_some() {
            return false;
        }
        self.checked += 1;
        self.expected_seq += 1;
        self.prev_hash = *event.hash;
        true
    }

    fn finish(mut self) -> (i64, Option<ChainBreak>) {
        let last_seq = self.expected_seq - 1;
        if let Some(checkpoint) = self.checkpoint
            && self.first_break.is_none()
            && checkpoint.seq > last_seq
        {
            self.first_break = Some(ChainBreak {
                seq: last_seq + 1,
                event_id: None,
                kind: BreakKind::CheckpointMissing,
                detail: format!(
                    "the chain ends at event {last_seq}, but the checkpoint of {} recorded event {}: events {} to {} were removed",
                    checkpoint.at.to_rfc3339(),
                    checkpoint.seq,
                    last_seq + 1,
                    checkpoint.seq
                ),
            });
        }
        if self.first_break.is_none()
            && (last_seq != self.head_seq || self.prev_hash[..] != self.head_hash[..])
        {
            self.first_break = Some(ChainBreak {
                seq: if last_seq < self.head_seq {
                    last_seq + 1
                } else {
                    self.head_seq
                },
                event_id: None,
                kind: BreakKind::HeadMismatch,
                detail: format!(
                    "the chain head is at event {} ({}), the stored chain ends at event {last_seq} ({})",
                    self.head_seq,
                    hex::encode(&self.head_hash),
                    hex::encode(self.prev_hash)
                ),
            });
        }
        (self.checked, self.first_break)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> StoredEvent {
        StoredEvent {
            tenant_id: Uuid::nil(),
            seq: 1,
            id: Uuid::from_u128(1),
            actor_type: "staff".into(),
            actor_id: "a".into(),
            action: "deposit.captured".into(),
            target_type: "deposit".into(),
            target_id: "d\"1".into(),
            before: None,
            after: Some(serde_json::json!({"z": 1, "a": [true, null, 1.5], "é": "x"})),
            reason: None,
            request_id: Some("r".into()),
            idempotency_key: None,
            ip: None,
            at: DateTime::parse_from_rfc3339("2025-01-02T03:04:05.123456Z")
                .unwrap()
                .with_timezone(&Utc),
            prev_hash: Hash32(GENESIS_HASH),
            hash: Hash32([0; 32]),
        }
    }

    // Proves the canonical text is exactly the documented one: sorted keys at every depth, no
    // whitespace, nulls for absent values, six fractional digits in UTC.
    #[test]
    fn canonical_text_is_the_documented_one() {
        assert_eq!(
            canonical_event(&sample()),
            "{\"action\":\"deposit.captured\",\"actor_id\":\"a\",\"actor_type\":\"staff\",\
             \"after\":{\"a\":[true,null,1.5],\"z\":1,\"é\":\"x\"},\"at\":\"2025-01-02T03:04:05.123456Z\",\
             \"before\":null,\"id\":\"00000000-0000-0000-0000-000000000001\",\"idempotency_key\":null,\
             \"ip\":null,\"reason\":null,\"request_id\":\"r\",\"seq\":1,\"target_id\":\"d\\\"1\",\
             \"target_type\":\"deposit\",\"tenant_id\":\"00000000-0000-0000-0000-000000000000\"}"
        );
    }

    // Proves the walk names the edited event, not a later one, and accepts an intact chain.
    #[test]
    fn walk_reports_the_edited_event() {
        let mut first = sample();
        first.hash = Hash32(first.compute_hash());
        let mut second = sample();
        second.seq = 2;
        second.prev_hash = first.hash;
        second.hash = Hash32(second.compute_hash());
        let mut intact = ChainWalk::new(2, &second.hash[..]);
        assert!(intact.step(&first) && intact.step(&second));
        assert_eq!(intact.finish(), (2, None));

        let mut edited = first.clone();
        edited.reason = Some("changed".into());
        let mut walk = ChainWalk::new(2, &second.hash[..]);
        assert!(!walk.step(&edited));
        let (checked, broken) = walk.finish();
        assert_eq!(checked, 0);
        let broken = broken.unwrap();
        assert_eq!((broken.seq, broken.kind), (1, BreakKind::HashMismatch));
    }
}
