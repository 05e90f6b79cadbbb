//! The audit log page (`/admin/audit`): every staff action and money state change, searchable by
//! actor, action, target and period, newest first, and a "Verify chain" action that recomputes
//! the tenant's hash chain and names the first broken link.

pub mod api;
pub mod pages;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Events per page.
pub const AUDIT_PAGE_SIZE: i64 = 50;

/// The audit page's filters, as typed into its form. Empty means "any".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditFilter {
    /// A staff or player email, a staff/player id, or a provider or job name.
    pub actor: Option<String>,
    /// An action or its prefix: `deposit` matches `deposit.captured`.
    pub action: Option<String>,
    /// `type:id`, a type alone (`deposit`) or an id alone.
    pub target: Option<String>,
    /// First day (`YYYY-MM-DD`, UTC), inclusive.
    pub from: Option<String>,
    /// Last day (`YYYY-MM-DD`, UTC), inclusive.
    pub until: Option<String>,
    /// Events older than this `seq` (the next page).
    pub before: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEventRow {
    pub seq: i64,
    pub id: Uuid,
    pub at: DateTime<Utc>,
    pub actor_type: String,
    pub actor_id: String,
    /// The staff member's or player's email, when the actor is a person.
    pub actor_label: Option<String>,
    pub action: String,
    pub target_type: String,
    pub target_id: String,
    /// `before` and `after` as indented JSON.
    pub before: Option<String>,
    pub after: Option<String>,
    pub reason: Option<String>,
    pub request_id: Option<String>,
    pub idempotency_key: Option<String>,
    pub ip: Option<String>,
    /// The event's hash, hex.
    pub hash: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEventPage {
    pub events: Vec<AuditEventRow>,
    /// Pass as `before` for the next (older) page; `None` on the last page.
    pub next_before: Option<i64>,
}

/// The tenant's audit chain, recomputed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainCheck {
    pub ok: bool,
    pub checked_at: DateTime<Utc>,
    pub events_checked: i64,
    pub head_seq: i64,
    /// Money movements' events not linked into the chain yet (the chainer links them within
    /// about a second; a minute's wait makes the check fail).
    pub unchained: i64,
    pub first_break: Option<ChainBreakView>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainBreakView {
    pub seq: i64,
    /// `hash_mismatch`, `broken_link`, `missing_event` or `head_mismatch`.
    pub kind: String,
    pub detail: String,
    pub event_id: Option<Uuid>,
}
