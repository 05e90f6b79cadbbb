//! The game lobby's service (`GamesApi`) and its server functions.

use leptos::prelude::*;

use super::{LaunchedGame, Lobby, RoundView};
use crate::error::AppError;

#[cfg(feature = "ssr")]
#[async_trait::async_trait]
pub trait GamesApi: Send + Sync {
    async fn lobby(&self, ctx: &crate::api::RequestCtx) -> Result<Lobby, AppError>;
    async fn rounds(&self, ctx: &crate::api::RequestCtx) -> Result<Vec<RoundView>, AppError>;
    async fn launch(
        &self,
        ctx: &crate::api::RequestCtx,
        provider: String,
        code: String,
        currency: String,
    ) -> Result<LaunchedGame, AppError>;
}

/// The logged-in player's lobby: the brand's enabled games.
#[server(endpoint = "games/lobby")]
pub async fn games_lobby() -> Result<Lobby, AppError> {
    crate::api::serve!(GamesApi::lobby())
}

/// The logged-in player's latest game rounds, newest first.
#[server(endpoint = "games/rounds")]
pub async fn game_rounds() -> Result<Vec<RoundView>, AppError> {
    crate::api::serve!(GamesApi::rounds())
}

/// Opens a game session of one game in one of the player's currencies.
#[server(endpoint = "games/launch")]
pub async fn launch_game(
    provider: String,
    code: String,
    currency: String,
) -> Result<LaunchedGame, AppError> {
    crate::api::serve!(GamesApi::launch(provider, code, currency))
}
