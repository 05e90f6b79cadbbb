//! Play, as the player sees it: the lobby (`/games`) lists the brand's enabled games, and
//! launching one opens a game session and the provider's game with its token. The wallet that
//! the games call lives on the server (`kasa_server::games`).

pub mod api;
pub mod pages;

use serde::{Deserialize, Serialize};

use crate::domain::money::Currency;

/// One game of the lobby.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
