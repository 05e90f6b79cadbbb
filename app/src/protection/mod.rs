//! Player protection, as the player and support staff see it: the player's KYC state, deposit
//! and loss limits, play reminder and self-exclusion on the Account page (`/account`), and the
//! staff KYC page (`/admin/kyc`). The rules themselves are enforced on the server
//! (`kasa_server::protection`).

pub mod api;
pub mod pages;

use crate::domain::ids::PlayerId;
use crate::domain::text::text_enum;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::money::{Currency, Money, SignedMoney};
use crate::error::AppError;

/// Longest note staff may write with a KYC decision.
pub const KYC_NOTE_LENGTH_MAX: usize = 1000;

text_enum! {
    /// Where a player stands with identity verification.
    pub enum KycState ("KYC state") {
        Unverified = "unverified",
        Pending = "pending",
        Verified = "verified",
        Rejected = "rejected",
    }
}

impl KycState {
    pub fn label(self) -> &'static str {
        match self {
            KycState::Unverified => "Not verified",
            KycState::Pending => "Verification in progress",
            KycState::Verified => "Verified",
            KycState::Rejected => "Verification rejected",
        }
    }

    /// The states staff may move a player to from this one: documents are reviewed
    /// (`pending`) before a decision, and a rejected player may send new documents.
    pub fn next_states(self) -> &'static [KycState] {
        match self {
            KycState::Unverified | KycState::Rejected => &[KycState::Pending],
            KycState::Pending => &[KycState::Verified, KycState::Rejected],
            KycState::Verified => &[],
        }
    }

    pub fn can_move_to(self, next: KycState) -> bool {
        self.next_states().contains(&next)
    }
}

/// Which limits: on deposits, or on the net loss of play (bets minus wins minus rollbacks). Both
/// kinds follow the same rules (one currency, a rolling window, cooling-off before an increase or
/// a removal applies); only what counts as used differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitKind {
    Deposit,
    Loss,
}

impl LimitKind {
    /// How the player's messages and the page's ids name it ("deposit", "loss").
    pub const fn noun(self) -> &'static str {
        match self {
            LimitKind::Deposit => "deposit",
            LimitKind::Loss => "loss",
        }
    }
}

/// The shortest and longest interval between two play reminders (`play_reminders` checks them
/// too).
pub const PLAY_REMINDER_MINUTES_MIN: u32 = 5;
pub const PLAY_REMINDER_MINUTES_MAX: u32 = 720;

/// Reads the Account page's reminder field: empty or "0" turns the reminder off, anything else
/// must be a whole number of minutes within the bounds.
pub fn parse_play_reminder_minutes(value: &str) -> Result<Option<u32>, AppError> {
    let value = value.trim();
    if value.is_empty() || value == "0" {
        return Ok(None);
    }
    value
        .parse::<u32>()
        .ok()
        .filter(|minutes| (PLAY_REMINDER_MINUTES_MIN..=PLAY_REMINDER_MINUTES_MAX).contains(minutes))
        .map(Some)
        .ok_or_else(|| {
            AppError::invalid(
                "minutes",
                format!(
                    "Choose a reminder every {PLAY_REMINDER_MINUTES_MIN} to {PLAY_REMINDER_MINUTES_MAX} minutes, or off."
                ),
            )
        })
}

text_enum! {
    /// The rolling window a deposit or loss limit applies to.
    pub enum LimitPeriod ("limit period") {
        Day = "day",
        Week = "week",
        Month = "month",
    }
}

impl LimitPeriod {
    /// "daily", as in "your daily deposit limit".
    pub fn adjective(self) -> &'static str {
        match self {
            LimitPeriod::Day => "daily",
            LimitPeriod::Week => "weekly",
            LimitPeriod::Month => "monthly",
        }
    }

    /// The window's length: rolling, so a deposit or a bet counts for exactly this long after it
    /// was made.
    pub fn window(self) -> chrono::Duration {
        match self {
            LimitPeriod::Day => chrono::Duration::hours(24),
            LimitPeriod::Week => chrono::Duration::days(7),
            LimitPeriod::Month => chrono::Duration::days(30),
        }
    }

    pub fn window_label(self) -> &'static str {
        match self {
            LimitPeriod::Day => "24 hours",
            LimitPeriod::Week => "7 days",
            LimitPeriod::Month => "30 days",
        }
    }
}

/// A change of a limit that waits for its cooling-off period to end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingLimitChange {
    /// The new limit; `None` when the limit is being removed.
    pub amount: Option<Money>,
    pub effective_at: DateTime<Utc>,
}

/// One deposit or loss limit with what the rolling window has used of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimitView {
    pub period: LimitPeriod,
    pub limit: Money,
    pub used: SignedMoney,
    pub remaining: SignedMoney,
    pub pending: Option<PendingLimitChange>,
}

text_enum! {
    /// How long a self-exclusion lasts.
    pub enum ExclusionPeriod ("self-exclusion period") {
        Hours24 = "24h",
        Days7 = "7d",
        Days30 = "30d",
        Months6 = "6m",
        Indefinite = "indefinite",
    }
}

impl ExclusionPeriod {
    pub fn label(self) -> &'static str {
        match self {
            ExclusionPeriod::Hours24 => "24 hours",
            ExclusionPeriod::Days7 => "7 days",
            ExclusionPeriod::Days30 => "30 days",
            ExclusionPeriod::Months6 => "6 months",
            ExclusionPeriod::Indefinite => "Indefinitely",
        }
    }

    /// When an exclusion chosen at `start` ends; `None` for an indefinite one.
    pub fn ends_at(self, start: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            ExclusionPeriod::Hours24 => Some(start + chrono::Duration::hours(24)),
            ExclusionPeriod::Days7 => Some(start + chrono::Duration::days(7)),
            ExclusionPeriod::Days30 => Some(start + chrono::Duration::days(30)),
            ExclusionPeriod::Months6 => start.checked_add_months(chrono::Months::new(6)),
            ExclusionPeriod::Indefinite => None,
        }
    }
}

/// The self-exclusion in force (on the server, also its stored row).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(sqlx::FromRow))]
pub struct SelfExclusion {
    #[cfg_attr(feature = "ssr", sqlx(try_from = "String"))]
    pub period: ExclusionPeriod,
    pub started_at: DateTime<Utc>,
    /// `None`: indefinite.
    pub ends_at: Option<DateTime<Utc>>,
}

impl SelfExclusion {
    /// "until 2025-06-01 14:00 UTC" or "indefinitely".
    pub fn until_text(&self) -> String {
        match self.ends_at {
            Some(ends_at) => format!("until {}", ends_at.format("%Y-%m-%d %H:%M UTC")),
            None => "indefinitely".to_owned(),
        }
    }
}

/// The tenant's protection rules, as the player is told them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProtectionRules {
    pub kyc_required_for_withdrawal: bool,
    /// Total deposits (in whole units of the deposit's currency) beyond which KYC is required.
    pub kyc_deposit_threshold_major: i64,
    pub limit_increase_cooldown_hours: i64,
}

/// Everything the Account page shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountOverview {
    pub kyc: KycState,
    /// The currency every deposit limit is in, once one is set.
    pub limit_currency: Option<Currency>,
    pub limits: Vec<LimitView>,
    /// The currency every loss limit is in, once one is set (each kind fixes its own).
    pub loss_limit_currency: Option<Currency>,
    pub loss_limits: Vec<LimitView>,
    /// How often the game pages remind the player how long they have played; `None`: never.
    pub play_reminder_minutes: Option<u32>,
    pub self_exclusion: Option<SelfExclusion>,
    pub rules: ProtectionRules,
}

/// One KYC decision in a player's history (on the server, also its stored row).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(sqlx::FromRow))]
pub struct KycReview {
    #[cfg_attr(feature = "ssr", sqlx(try_from = "String"))]
    pub from: KycState,
    #[cfg_attr(feature = "ssr", sqlx(try_from = "String"))]
    pub to: KycState,
    pub note: String,
    pub staff_name: String,
    pub at: DateTime<Utc>,
}

/// A player's protection state as support staff see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlayerProtectionView {
    pub player_id: PlayerId,
    pub email: String,
    pub display_name: String,
    pub kyc: KycState,
    pub kyc_history: Vec<KycReview>,
    pub limits: Vec<LimitView>,
    pub self_exclusion: Option<SelfExclusion>,
}

#[cfg(test)]
mod tests {
    use super::*;

    // Proves KYC moves only forward through review: never straight to verified, never back from it.
    #[test]
    fn kyc_transitions() {
        assert!(KycState::Unverified.can_move_to(KycState::Pending));
        assert!(!KycState::Unverified.can_move_to(KycState::Verified));
        assert!(KycState::Pending.can_move_to(KycState::Verified));
        assert!(KycState::Pending.can_move_to(KycState::Rejected));
        assert!(KycState::Rejected.can_move_to(KycState::Pending));
        assert!(!KycState::Verified.can_move_to(KycState::Pending));
    }

    // Proves each exclusion period ends when the player was told, six months by the calendar.
    #[test]
    fn exclusion_periods_end_as_labelled() {
        let start = "2025-01-31T12:00:00Z".parse::<DateTime<Utc>>().unwrap();
        assert_eq!(
            ExclusionPeriod::Hours24.ends_at(start).unwrap(),
            "2025-02-01T12:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert_eq!(
            ExclusionPeriod::Months6.ends_at(start).unwrap(),
            "2025-07-31T12:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert_eq!(ExclusionPeriod::Indefinite.ends_at(start), None);
        assert_eq!(ExclusionPeriod::parse("30d"), Some(ExclusionPeriod::Days30));
    }

    // Proves the reminder field turns off when empty or "0", keeps its bounds inclusive, and
    // refuses anything else on the `minutes` field.
    #[test]
    fn play_reminder_minutes_parse() {
        assert_eq!(parse_play_reminder_minutes(" "), Ok(None));
        assert_eq!(parse_play_reminder_minutes("0"), Ok(None));
        assert_eq!(parse_play_reminder_minutes("5"), Ok(Some(5)));
        assert_eq!(parse_play_reminder_minutes("720"), Ok(Some(720)));
        for refused in ["4", "721", "-5", "30.5", "soon"] {
            let error = parse_play_reminder_minutes(refused).unwrap_err();
            assert_eq!(error.field.as_deref(), Some("minutes"), "{refused}");
        }
    }
}
