//! Credit approvals (`/admin/credits`): the four-eyes queue. A manual credit (the dashboard's
//! adjustment form) or a reconciliation correction that credits a player is a request here; it
//! posts only when a second, different finance or owner staff member approves it. Declined
//! requests post nothing.

pub mod api;
pub mod pages;

use crate::domain::ids::PlayerId;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::money::Money;
use crate::domain::reconciliation::{CreditRequestSource, CreditRequestState};

/// Requests per page.
pub const CREDIT_REQUEST_PAGE_SIZE: i64 = 50;

/// The states a request can be in.
pub const CREDIT_REQUEST_STATES: [&str; 3] = ["pending", "approved", "declined"];

/// Longest note an approver may give.
pub const DECISION_NOTE_LENGTH_MAX: usize = 2000;

/// What the second staff member decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CreditDecision {
    Approve,
    Decline,
}

impl CreditDecision {
    pub fn as_str(self) -> &'static str {
        match self {
            CreditDecision::Approve => "approve",
            CreditDecision::Decline => "decline",
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreditRequestFilter {
    pub state: Option<String>,
    pub offset: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreditRequestRow {
    pub id: Uuid,
    pub state: CreditRequestState,
    pub source: CreditRequestSource,
    pub player_id: PlayerId,
    pub player_email: String,
    pub amount: Money,
    pub reason: String,
    pub requested_by: String,
    pub requested_at: DateTime<Utc>,
    pub decided_by: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
    pub decision_note: Option<String>,
    /// The journal the approval posted.
    pub journal_id: Option<Uuid>,
    /// The finding a correction resolves, and the deposit or payout attempt it corrects.
    pub finding_id: Option<Uuid>,
    pub object_type: Option<String>,
    pub object_id: Option<Uuid>,
    /// The viewer may approve or decline it (pending, finance or owner, and not the requester).
    pub may_decide: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreditRequestPage {
    pub requests: Vec<CreditRequestRow>,
    pub next_offset: Option<i64>,
    /// The viewer may decide requests (finance or owner).
    pub can_act: bool,
}

/// The answer to a decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreditDecisionReceipt {
    pub request: CreditRequestRow,
    /// True when this key had already decided the request: nothing happened again.
    pub replayed: bool,
}
