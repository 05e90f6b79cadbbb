//! Players (`/admin/players`, `/admin/players/:id`): search by email, id or name fragment, and one
//! player's page with balances (from the ledger), KYC state, deposit limits and self-exclusion,
//! recent ledger movements, deposits, withdrawals, and the staff's notes.

pub mod api;
pub mod pages;

use crate::domain::ids::PlayerId;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::money::SignedMoney;

/// Players per search page.
pub const PLAYER_PAGE_SIZE: i64 = 25;

/// Rows of each list on a player's page.
pub const PLAYER_RECENT_ROWS: i64 = 20;

/// Longest staff note.
pub const NOTE_LENGTH_MAX: usize = 2000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlayerRow {
    pub id: PlayerId,
    pub email: String,
    pub display_name: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlayerSearchPage {
    pub players: Vec<PlayerRow>,
    pub next_offset: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlayerFunds {
    pub available: SignedMoney,
    pub held: SignedMoney,
    /// What the player owes the operator (a payout the PSP made twice, beyond their cash).
    pub owed: SignedMoney,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DepositLimitRow {
    /// `day`, `week` or `month`.
    pub period: String,
    pub amount: SignedMoney,
    /// A raised limit waiting for its cooling-off period, and when it applies.
    pub pending: Option<SignedMoney>,
    pub pending_effective_at: Option<DateTime<Utc>>,
}

/// One movement of one of the player's accounts (credits positive).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlayerMovement {
    pub journal_id: Uuid,
    pub kind: String,
    pub reference: Option<String>,
    /// The withdrawal hold rather than the cash account.
    pub held: bool,
    pub amount: SignedMoney,
    pub balance_after: SignedMoney,
    pub posted_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlayerPayment {
    pub id: Uuid,
    /// The PSP (deposits) or the payout provider of the last attempt (withdrawals), if any.
    pub provider: Option<String>,
    pub amount: SignedMoney,
    pub state: String,
    pub created_at: DateTime<Utc>,
    /// Captured (deposits) or paid (withdrawals).
    pub completed_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaffNote {
    pub id: Uuid,
    pub body: String,
    pub staff_email: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlayerDetail {
    pub id: PlayerId,
    pub email: String,
    pub display_name: String,
    pub created_at: DateTime<Utc>,
    pub funds: Vec<PlayerFunds>,
    /// `unverified`, `pending`, `verified` or `rejected`.
    pub kyc_state: String,
    pub kyc_updated_at: Option<DateTime<Utc>>,
    pub deposit_limits: Vec<DepositLimitRow>,
    /// A self-exclusion in force: when it ends (`None` inside: indefinitely).
    pub self_excluded: Option<Option<DateTime<Utc>>>,
    pub movements: Vec<PlayerMovement>,
    /// The latest game rounds, each with its bets, wins and rollbacks and their journals.
    pub rounds: Vec<crate::games::RoundView>,
    pub deposits: Vec<PlayerPayment>,
    pub withdrawals: Vec<PlayerPayment>,
    pub notes: Vec<StaffNote>,
    /// The viewer may add notes (finance or owner).
    pub can_act: bool,
}

/// An account of this brand whose log-ins are being slowed down after failed attempts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThrottledLogIn {
    /// `player` or `staff`.
    pub realm: String,
    pub email: String,
    /// The client address (an IPv6 /64) the failures came from; `None`: from all addresses
    /// together (a guesser spread over many addresses).
    pub address: Option<String>,
    pub failures: i32,
    pub last_failure_at: DateTime<Utc>,
    /// When the next attempt is heard; `None` when no delay runs now.
    pub delayed_until: Option<DateTime<Utc>>,
}
