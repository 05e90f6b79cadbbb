//! The stored form of an event and its canonical text, byte for byte as the module docs say:
//! what the hash covers.

use app::domain::ids::TenantId;
use chrono::{DateTime, SubsecRound, Utc};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::*;

/// An event as stored: what the hash covers, plus its link.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StoredEvent {
    pub tenant_id: TenantId,
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
    pub(super) fn from_event(
        event: &AuditEvent,
        seq: i64,
        id: Uuid,
        prev_hash: [u8; 32],
    ) -> StoredEvent {
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
