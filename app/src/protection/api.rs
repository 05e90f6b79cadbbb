//! The protection service (`ProtectionApi`) and its server functions: the player's own overview,
//! deposit and loss limits, play reminder and self-exclusion, and the staff's KYC search and
//! state change.

use crate::domain::ids::PlayerId;
use leptos::prelude::*;

use super::{AccountOverview, ExclusionPeriod, KycState, LimitPeriod, PlayerProtectionView};
use crate::error::AppError;

#[cfg(feature = "ssr")]
#[async_trait::async_trait]
pub trait ProtectionApi: Send + Sync {
    async fn overview(&self, ctx: &crate::api::RequestCtx) -> Result<AccountOverview, AppError>;
    /// Both kinds of limit, which follow the same rules (see [`set_deposit_limit`]).
    async fn set_limit(
        &self,
        ctx: &crate::api::RequestCtx,
        kind: super::LimitKind,
        period: LimitPeriod,
        currency: String,
        amount: String,
    ) -> Result<AccountOverview, AppError>;
    async fn set_play_reminder(
        &self,
        ctx: &crate::api::RequestCtx,
        minutes: String,
    ) -> Result<AccountOverview, AppError>;
    async fn exclude(
        &self,
        ctx: &crate::api::RequestCtx,
        period: ExclusionPeriod,
        confirmed: bool,
    ) -> Result<AccountOverview, AppError>;
    async fn find_player(
        &self,
        ctx: &crate::api::RequestCtx,
        email: String,
    ) -> Result<PlayerProtectionView, AppError>;
    async fn set_kyc_state(
        &self,
        ctx: &crate::api::RequestCtx,
        player_id: PlayerId,
        state: KycState,
        note: String,
    ) -> Result<PlayerProtectionView, AppError>;
}

/// The logged-in player's KYC state, deposit and loss limits, play reminder and self-exclusion.
#[server(endpoint = "account/overview")]
pub async fn load_account() -> Result<AccountOverview, AppError> {
    crate::api::serve!(ProtectionApi::overview())
}

/// Sets, lowers, raises or (with an empty amount) removes one deposit limit. Lowering applies at
/// once; raising and removing wait for the tenant's cooling-off period.
#[server(endpoint = "account/deposit-limit")]
pub async fn set_deposit_limit(
    period: LimitPeriod,
    currency: String,
    amount: String,
) -> Result<AccountOverview, AppError> {
    crate::api::serve!(ProtectionApi::set_limit(
        super::LimitKind::Deposit,
        period,
        currency,
        amount
    ))
}

/// Sets, lowers, raises or removes one loss limit (bets minus wins and rollbacks over the
/// window), with the same cooling-off as a deposit limit.
#[server(endpoint = "account/loss-limit")]
pub async fn set_loss_limit(
    period: LimitPeriod,
    currency: String,
    amount: String,
) -> Result<AccountOverview, AppError> {
    crate::api::serve!(ProtectionApi::set_limit(
        super::LimitKind::Loss,
        period,
        currency,
        amount
    ))
}

/// Sets how often the game pages remind the player how long they have played, in minutes;
/// empty or "0" turns the reminder off.
#[server(endpoint = "account/play-reminder")]
pub async fn set_play_reminder(minutes: String) -> Result<AccountOverview, AppError> {
    crate::api::serve!(ProtectionApi::set_play_reminder(minutes))
}

/// Excludes the player from deposits and play for `period`. `confirm` must be "yes": the page
/// asks first, because an exclusion can never be shortened.
#[server(endpoint = "account/self-exclude")]
pub async fn exclude_myself(
    period: ExclusionPeriod,
    confirm: Option<String>,
) -> Result<AccountOverview, AppError> {
    let confirmed = confirm.as_deref() == Some("yes");
    crate::api::serve!(ProtectionApi::exclude(period, confirmed))
}

/// Support or above: a player's protection state, found by email in this tenant.
#[server(endpoint = "admin/kyc/find")]
pub async fn find_player_kyc(email: String) -> Result<PlayerProtectionView, AppError> {
    crate::api::serve!(ProtectionApi::find_player(email))
}

/// Support or above: moves a player's KYC state on (see `KycState::next_states`), with a note.
/// Asking for the state the player is already in changes nothing.
#[server(endpoint = "admin/kyc/set")]
pub async fn set_kyc_state(
    player_id: PlayerId,
    state: KycState,
    note: String,
) -> Result<PlayerProtectionView, AppError> {
    crate::api::serve!(ProtectionApi::set_kyc_state(player_id, state, note))
}
