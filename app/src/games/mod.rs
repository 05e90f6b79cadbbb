//! Play, as the player sees it: the lobby (`/games`) lists the brand's enabled games, and
//! launching one opens a game session and the provider's game with its token. The wallet that
//! the games call lives on the server (`kasa_server::games`).

pub mod api;
pub mod pages;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::money::{Currency, SignedMoney};

/// How many of a player's latest rounds the wallet and the staff player page show.
pub const RECENT_ROUNDS: i64 = 20;

/// One game of the lobby.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(sqlx::FromRow))]
pub struct GameView {
    pub provider: String,
    pub code: String,
    pub name: String,
    /// The published return to player, in percent ("98.00"), when the provider publishes one.
    pub rtp_percent: Option<String>,
}

/// The lobby: the games, and the currencies the player can play in (those they hold money in;
/// the first is the one with the largest balance).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lobby {
    pub games: Vec<GameView>,
    pub currencies: Vec<Currency>,
}

/// Where a launched game is played: the provider's page with the session's token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LaunchedGame {
    pub url: String,
}

/// One game round as its calls left it: what the player staked, won and got back, one line on
/// the wallet and the staff player page, expandable into its calls.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoundView {
    pub provider: String,
    pub round_id: String,
    pub game: String,
    pub started_at: DateTime<Utc>,
    pub staked: SignedMoney,
    pub won: SignedMoney,
    /// Stakes returned by rollbacks.
    pub returned: SignedMoney,
    /// For the player: won + returned − staked.
    pub net: SignedMoney,
    pub calls: Vec<RoundCall>,
}

/// One call of a round: a bet, a win or a rollback (a tombstone when its bet never arrived).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoundCall {
    pub kind: String,
    pub tx_id: String,
    pub amount: SignedMoney,
    /// The journal that moved its money; none for a tombstone.
    pub journal_id: Option<Uuid>,
    pub at: DateTime<Utc>,
}

impl RoundCall {
    pub fn label(&self) -> &'static str {
        match (self.kind.as_str(), self.journal_id.is_some()) {
            ("bet", _) => "Bet",
            ("win", _) => "Win",
            ("rollback", true) => "Bet refunded",
            ("rollback", false) => "Rollback of a bet never taken",
            _ => "Other",
        }
    }
}
