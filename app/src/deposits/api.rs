//! The deposits service (`DepositsApi`) and its server functions: the options, starting a deposit,
//! one deposit's state and the recent ones.

use leptos::prelude::*;

use super::{DepositOptions, DepositStarted, DepositView};
use crate::domain::ids::DepositId;
use crate::error::AppError;

#[cfg(feature = "ssr")]
#[async_trait::async_trait]
pub trait DepositsApi: Send + Sync {
    async fn options(&self, ctx: &crate::api::RequestCtx) -> Result<DepositOptions, AppError>;
    async fn start(
        &self,
        ctx: &crate::api::RequestCtx,
        amount: String,
        currency: String,
        provider: String,
        idempotency_key: String,
    ) -> Result<DepositStarted, AppError>;
    async fn status(
        &self,
        ctx: &crate::api::RequestCtx,
        deposit_id: DepositId,
    ) -> Result<DepositView, AppError>;
    async fn recent(&self, ctx: &crate::api::RequestCtx) -> Result<Vec<DepositView>, AppError>;
}

/// The providers and currencies the logged-in player may deposit with.
#[server(endpoint = "deposits/options")]
pub async fn deposit_choices() -> Result<DepositOptions, AppError> {
    crate::api::serve!(DepositsApi::options())
}

/// Creates a deposit and its PSP checkout. The key is one per click intent: the same key
/// returns the same deposit, so a double click makes one deposit.
#[server(endpoint = "deposits/start")]
pub async fn start_deposit(
    amount: String,
    currency: String,
    provider: String,
    idempotency_key: String,
) -> Result<DepositStarted, AppError> {
    crate::api::serve!(DepositsApi::start(
        amount,
        currency,
        provider,
        idempotency_key
    ))
}

/// One of the player's deposits (another player's or tenant's id is 404).
#[server(endpoint = "deposits/status")]
pub async fn deposit_status(deposit_id: DepositId) -> Result<DepositView, AppError> {
    crate::api::serve!(DepositsApi::status(deposit_id))
}

/// The player's latest deposits, newest first.
#[server(endpoint = "deposits/recent")]
pub async fn recent_deposits() -> Result<Vec<DepositView>, AppError> {
    crate::api::serve!(DepositsApi::recent())
}
