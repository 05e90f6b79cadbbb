//! The players' server functions: search, one player, staff notes and the slowed-down log-ins.

use crate::domain::ids::PlayerId;
use leptos::prelude::*;

use super::{PlayerDetail, PlayerSearchPage, StaffNote, ThrottledLogIn};
#[cfg(feature = "ssr")]
use crate::backoffice::api::BackofficeApi;
use crate::error::AppError;

/// Any staff role: the brand's accounts whose log-ins are slowed down now, most recent first.
#[server(endpoint = "backoffice/throttled-log-ins")]
pub async fn throttled_log_ins() -> Result<Vec<ThrottledLogIn>, AppError> {
    crate::api::serve!(BackofficeApi::throttled_log_ins())
}

/// Any staff role: players matching an email, an id or a name fragment.
#[server(endpoint = "backoffice/players")]
pub async fn search_players(
    q: Option<String>,
    offset: Option<i64>,
) -> Result<PlayerSearchPage, AppError> {
    crate::api::serve!(BackofficeApi::search_players(q, offset))
}

/// Any staff role: one player of this brand (another brand's player is not found).
#[server(endpoint = "backoffice/player")]
pub async fn load_player(player: PlayerId) -> Result<PlayerDetail, AppError> {
    crate::api::serve!(BackofficeApi::player_detail(player))
}

/// Finance or owner: adds a note to a player (append-only, audited; one note per key).
#[server(endpoint = "backoffice/player/notes")]
pub async fn add_staff_note(
    player: PlayerId,
    body: String,
    idempotency_key: String,
) -> Result<StaffNote, AppError> {
    crate::api::serve!(BackofficeApi::add_staff_note(player, body, idempotency_key))
}
