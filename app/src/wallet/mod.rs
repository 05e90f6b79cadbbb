//! The player's wallet: balances per currency (available and held) and the history of every
//! movement, both read from the ledger.

pub mod api;
pub mod pages;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::money::{Currency, SignedMoney};

/// History rows per page on the wallet screen.
pub const HISTORY_PAGE_SIZE: u32 = 20;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalletBalance {
    pub currency: Currency,
    pub available: SignedMoney,
    pub held: SignedMoney,
}

/// One movement of the player's money, as the player sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalletMovement {
    /// Orders the history; also the paging cursor.
    pub cursor: i64,
    /// The business event (`deposit_capture`, `adjustment`, …).
    pub kind: String,
    /// Which of the player's balances moved.
    pub held: bool,
    pub amount: SignedMoney,
    pub balance_after: SignedMoney,
    pub posted_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MovementPage {
    pub movements: Vec<WalletMovement>,
    /// Pass as `before` to get the next (older) page; `None` on the last page.
    pub next: Option<i64>,
}

/// A journal kind as a player reads it.
pub fn describe_kind(kind: &str) -> &'static str {
    match kind {
        "deposit_capture" => "Deposit",
        "withdrawal_request" => "Withdrawal requested",
        "withdrawal_reject" => "Withdrawal rejected",
        "withdrawal_payout" => "Withdrawal paid",
        "bet" => "Bet",
        "win" => "Win",
        "bet_rollback" => "Bet refunded",
        "fee" => "Fee",
        "adjustment" => "Adjustment",
        _ => "Other",
    }
}
