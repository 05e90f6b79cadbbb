//! A withdrawal and its payout attempts as state machines.
//!
//! A withdrawal is `requested` (its amount held at once), `approved` by staff (above the
//! tenant's threshold by two different people), `paying` while an attempt is at a PSP, and ends
//! `paid` (the one final journal) or `rejected` (the hold released). A failed attempt leaves it
//! `payout_failed`, funds still held, until a retry, a manual payout or a rejection. `paid` and
//! `rejected` never change again.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WithdrawalState {
    Requested,
    Approved,
    Paying,
    Paid,
    Rejected,
    PayoutFailed,
}

impl WithdrawalState {
    pub const ALL: [WithdrawalState; 6] = [
        WithdrawalState::Requested,
        WithdrawalState::Approved,
        WithdrawalState::Paying,
        WithdrawalState::PayoutFailed,
        WithdrawalState::Paid,
        WithdrawalState::Rejected,
    ];

    pub fn parse(value: &str) -> Option<WithdrawalState> {
        WithdrawalState::ALL
            .into_iter()
            .find(|state| state.as_str() == value)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            WithdrawalState::Requested => "requested",
            WithdrawalState::Approved => "approved",
            WithdrawalState::Paying => "paying",
            WithdrawalState::Paid => "paid",
            WithdrawalState::Rejected => "rejected",
            WithdrawalState::PayoutFailed => "payout_failed",
        }
    }

    /// As staff read it (the back office, and the server's answers to staff).
    pub fn staff_label(self) -> &'static str {
        match self {
            WithdrawalState::Requested => "requested",
            WithdrawalState::Approved => "approved",
            WithdrawalState::Paying => "paying",
            WithdrawalState::Paid => "paid",
            WithdrawalState::Rejected => "rejected",
            WithdrawalState::PayoutFailed => "payout failed",
        }
    }
}

/// A stored state that is none of the known ones: a defect, never a state to guess.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} state {value:?}")]
pub struct UnknownState {
    pub kind: &'static str,
    pub value: String,
}

impl TryFrom<String> for WithdrawalState {
    type Error = UnknownState;

    fn try_from(value: String) -> Result<WithdrawalState, UnknownState> {
        WithdrawalState::parse(&value).ok_or(UnknownState {
            kind: "withdrawal",
            value,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptState {
    Pending,
    Succeeded,
    Failed,
    Unknown,
}

impl AttemptState {
    pub const ALL: [AttemptState; 4] = [
        AttemptState::Pending,
        AttemptState::Succeeded,
        AttemptState::Failed,
        AttemptState::Unknown,
    ];

    pub fn parse(value: &str) -> Option<AttemptState> {
        AttemptState::ALL
            .into_iter()
            .find(|state| state.as_str() == value)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AttemptState::Pending => "pending",
            AttemptState::Succeeded => "succeeded",
            AttemptState::Failed => "failed",
            AttemptState::Unknown => "unknown",
        }
    }

    /// Still at the PSP: neither retried nor given up on before a recheck.
    pub fn is_open(self) -> bool {
        matches!(self, AttemptState::Pending | AttemptState::Unknown)
    }
}

impl TryFrom<String> for AttemptState {
    type Error = UnknownState;

    fn try_from(value: String) -> Result<AttemptState, UnknownState> {
        AttemptState::parse(&value).ok_or(UnknownState {
            kind: "payout attempt",
            value,
        })
    }
}

/// Seconds as people say them: "45 s", "4 min 30 s", "2 h 5 min", "3 d 4 h".
pub fn duration_words(seconds: i64) -> String {
    let seconds = seconds.max(0);
    match seconds {
        ..60 => format!("{seconds} s"),
        60..3600 if seconds % 60 == 0 => format!("{} min", seconds / 60),
        60..3600 => format!("{} min {} s", seconds / 60, seconds % 60),
        3600..86400 => format!("{} h {} min", seconds / 3600, (seconds % 3600) / 60),
        _ => format!("{} d {} h", seconds / 86400, (seconds % 86400) / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_decode_what_they_store_and_nothing_else() {
        for state in WithdrawalState::ALL {
            assert_eq!(
                WithdrawalState::try_from(state.as_str().to_owned()),
                Ok(state)
            );
        }
        for state in AttemptState::ALL {
            assert_eq!(AttemptState::try_from(state.as_str().to_owned()), Ok(state));
        }
        assert!(WithdrawalState::try_from("cancelled".to_owned()).is_err());
        assert!(AttemptState::try_from("Pending".to_owned()).is_err());
    }

    #[test]
    fn durations_read_as_people_say_them() {
        assert_eq!(duration_words(-5), "0 s");
        assert_eq!(duration_words(45), "45 s");
        assert_eq!(duration_words(120), "2 min");
        assert_eq!(duration_words(270), "4 min 30 s");
        assert_eq!(duration_words(7500), "2 h 5 min");
        assert_eq!(duration_words(273_600), "3 d 4 h");
    }
}
