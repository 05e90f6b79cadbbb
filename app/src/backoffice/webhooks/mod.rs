//! The webhook log (`/admin/webhooks`): every verified PSP event about this brand's payments, with
//! what applying it did; finance and owner can re-apply one that failed or matched nothing
//! (idempotent: an event applies at most once, whoever asks).

pub mod api;
pub mod pages;

use crate::domain::reconciliation::WebhookEventStatus;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Events per page.
pub const WEBHOOK_PAGE_SIZE: i64 = 50;

/// The statuses an event can be in, in pipeline order.
pub const WEBHOOK_STATUSES: [&str; 5] = ["received", "applied", "ignored", "unmatched", "failed"];

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookFilter {
    pub provider: Option<String>,
    pub status: Option<String>,
    /// Rows to skip (multiples of the page size).
    pub offset: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookEventRow {
    pub id: Uuid,
    pub provider: String,
    pub event_id: String,
    pub event_type: String,
    /// Only events whose signature verified are stored, so this is always true today; refused
    /// deliveries are answered 400 and kept nowhere.
    pub signature_verified: bool,
    pub status: WebhookEventStatus,
    pub attempts: i32,
    pub deliveries: i32,
    pub last_error: Option<String>,
    pub object_type: Option<String>,
    pub object_id: Option<Uuid>,
    pub received_at: DateTime<Utc>,
    pub last_delivery_at: DateTime<Utc>,
    pub applied_at: Option<DateTime<Utc>>,
}

impl WebhookEventRow {
    /// Events that did not apply may be applied again.
    pub fn may_reapply(&self) -> bool {
        self.status.may_reapply()
    }
}

/// How many of this brand's events a provider has in one status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookCount {
    pub provider: String,
    pub status: WebhookEventStatus,
    pub count: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookEventPage {
    pub counts: Vec<WebhookCount>,
    pub events: Vec<WebhookEventRow>,
    /// The offset of the next page, if there may be one.
    pub next_offset: Option<i64>,
    /// The viewer may re-apply events (finance or owner).
    pub can_act: bool,
}

/// What a re-apply did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReapplyOutcome {
    pub event_id: Uuid,
    /// The event's status afterwards.
    pub status: WebhookEventStatus,
    /// Why it still did not apply, if it did not.
    pub error: Option<String>,
}
