//! Reconciliation (`/admin/reconciliation`): the findings of comparing each PSP's records with
//! our deposits, payout attempts and journals, filtered by status, kind and provider; a button
//! that runs the comparison; and resolving a finding with a note, optionally fixing the money
//! (apply what the PSP says through the payments path, or post a correcting adjustment).

pub mod api;
pub mod pages;

use crate::domain::ids::PlayerId;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::money::SignedMoney;
use crate::domain::reconciliation::{FindingKind, FindingSeverity, FindingStatus};

/// Findings per page.
pub const FINDING_PAGE_SIZE: i64 = 50;

pub const FINDING_KINDS: [&str; 4] = [
    "missing_in_ledger",
    "missing_at_psp",
    "amount_mismatch",
    "status_mismatch",
];

pub const FINDING_STATUSES: [&str; 2] = ["open", "resolved"];

/// How a resolution may fix the money, as (value, label).
pub const CORRECTIONS: [(&str, &str); 4] = [
    ("none", "Note only (nothing to fix in our books)"),
    (
        "apply_psp",
        "Apply what the PSP reports (through the payments path)",
    ),
    (
        "credit",
        "Credit the player (asks a second staff member to approve)",
    ),
    ("debit", "Debit the player (correcting adjustment)"),
];

/// Longest resolution note.
pub const RESOLUTION_NOTE_LENGTH_MAX: usize = 2000;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindingFilter {
    pub status: Option<String>,
    pub kind: Option<String>,
    pub provider: Option<String>,
    pub offset: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindingRow {
    pub id: Uuid,
    pub provider: String,
    pub reference: String,
    pub kind: FindingKind,
    pub severity: FindingSeverity,
    pub status: FindingStatus,
    pub object_type: Option<String>,
    pub object_id: Option<Uuid>,
    pub player_id: Option<PlayerId>,
    pub player_email: Option<String>,
    pub psp_amount: Option<SignedMoney>,
    pub ledger_amount: Option<SignedMoney>,
    pub psp_status: Option<String>,
    pub ledger_status: Option<String>,
    pub message: String,
    pub first_seen_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub resolved_by: Option<String>,
    pub resolution_note: Option<String>,
    pub correcting_journal_id: Option<Uuid>,
    /// A correcting credit that waits for a second staff member's approval.
    pub pending_credit_request_id: Option<Uuid>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunSummary {
    pub id: Uuid,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub actor: String,
    pub records_checked: i32,
    pub findings_new: i32,
    pub findings_seen: i32,
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindingPage {
    pub findings: Vec<FindingRow>,
    pub next_offset: Option<i64>,
    /// The viewer may run reconciliation and resolve findings (finance or owner).
    pub can_act: bool,
    /// The latest run that covered this brand.
    pub last_run: Option<RunSummary>,
}
