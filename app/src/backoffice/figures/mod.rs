//! The finance figures (`/admin/figures`): for a period and a currency, money in and out, what
//! the operator earned and what it owes its players, all computed from the ledger's journals and
//! transfers (never from a second store), a daily chart drawn on the server as SVG, and the last
//! ledger integrity check with a button to run it.

pub mod api;
pub mod pages;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::money::{Currency, SignedMoney};

/// The periods offered, as (query value, label).
pub const PERIODS: [(&str, &str); 4] = [
    ("today", "Today"),
    ("7d", "Last 7 days"),
    ("30d", "Last 30 days"),
    ("custom", "Custom"),
];

/// Longest custom period, in days (the chart has one group of bars per day).
pub const PERIOD_DAYS_MAX: i64 = 366;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FiguresQuery {
    /// `today`, `7d`, `30d` or `custom` (default `7d`).
    pub period: Option<String>,
    /// For `custom`: first and last day (`YYYY-MM-DD`, UTC), inclusive.
    pub from: Option<String>,
    pub until: Option<String>,
    /// ISO code; default EUR, else the tenant's first currency.
    pub currency: Option<String>,
}

/// One day of the chart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DailyFlow {
    /// `YYYY-MM-DD` (UTC).
    pub day: String,
    pub deposits_minor: i64,
    pub withdrawals_minor: i64,
}

/// Play of one game in the period, from its journals: stakes taken, wins paid, stakes returned
/// by rollbacks, and the gross gaming revenue (bets − rollbacks − wins), which for all games
/// together is the house account's net change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GamePlay {
    pub provider: String,
    pub game: String,
    /// Rounds with a bet in the period.
    pub rounds: i64,
    pub bets: SignedMoney,
    pub wins: SignedMoney,
    pub rollbacks: SignedMoney,
    pub ggr: SignedMoney,
}

/// The last integrity check someone ran from the back office.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntegrityRun {
    pub at: DateTime<Utc>,
    pub ok: bool,
    pub violations: i64,
    /// Who ran it (email).
    pub by: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Figures {
    pub currency: Currency,
    /// Every currency this brand has ledger accounts in.
    pub currencies: Vec<Currency>,
    pub period: String,
    /// The period: `from` inclusive, `until` exclusive.
    pub from: DateTime<Utc>,
    pub until: DateTime<Utc>,
    /// Captured deposits: transfers of `deposit_capture` journals in the period.
    pub deposits: SignedMoney,
    pub deposit_count: i64,
    /// Paid withdrawals: transfers of `withdrawal_payout` journals in the period.
    pub withdrawals_paid: SignedMoney,
    pub withdrawals_paid_count: i64,
    /// Deposits minus paid withdrawals.
    pub net_deposits: SignedMoney,
    /// Net change of the house account in the period (gross gaming revenue).
    pub game_revenue: SignedMoney,
    /// Net change of the fees account in the period.
    pub fees: SignedMoney,
    /// Withdrawals requested and neither paid nor rejected yet, now: `withdrawal_request`
    /// journals without a payout or reject journal for the same withdrawal.
    pub pending_count: i64,
    pub pending_sum: SignedMoney,
    pub pending_oldest_at: Option<DateTime<Utc>>,
    /// What the operator owes all players now (every player account), and the part held for
    /// withdrawals (equal to `pending_sum` when the books are consistent).
    pub player_liability: SignedMoney,
    pub player_held: SignedMoney,
    pub daily: Vec<DailyFlow>,
    /// Play per provider and game, highest revenue first.
    pub play: Vec<GamePlay>,
    pub last_integrity_check: Option<IntegrityRun>,
    pub generated_at: DateTime<Utc>,
}

/// "3 h", "2 d 4 h": how long ago, roughly.
fn human_age(age: chrono::Duration) -> String {
    let minutes = age.num_minutes().max(0);
    match minutes {
        0..60 => format!("{minutes} min"),
        60..1440 => format!("{} h", minutes / 60),
        _ => format!("{} d {} h", minutes / 1440, minutes % 1440 / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Proves ages read as people say them, from minutes to days.
    #[test]
    fn ages_are_readable() {
        assert_eq!(human_age(chrono::Duration::seconds(59)), "0 min");
        assert_eq!(human_age(chrono::Duration::minutes(150)), "2 h");
        assert_eq!(human_age(chrono::Duration::hours(52)), "2 d 4 h");
    }
}
