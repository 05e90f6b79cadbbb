//! The wallet service (`WalletApi`) and its server functions: balances and the paged history.

use leptos::prelude::*;

use super::{MovementPage, WalletBalance};
use crate::error::AppError;

#[cfg(feature = "ssr")]
#[async_trait::async_trait]
pub trait WalletApi: Send + Sync {
    async fn balances(&self, ctx: &crate::api::RequestCtx) -> Result<Vec<WalletBalance>, AppError>;
    async fn history(
        &self,
        ctx: &crate::api::RequestCtx,
        before: Option<i64>,
        kind: Option<String>,
    ) -> Result<MovementPage, AppError>;
}

/// The logged-in player's balances, one row per currency they have used.
#[server(endpoint = "wallet/balances")]
pub async fn wallet_balances() -> Result<Vec<WalletBalance>, AppError> {
    crate::api::serve!(WalletApi::balances())
}

/// The logged-in player's movements, newest first; `before` pages, `kind` filters.
#[server(endpoint = "wallet/history")]
pub async fn wallet_history(
    before: Option<i64>,
    kind: Option<String>,
) -> Result<MovementPage, AppError> {
    crate::api::serve!(WalletApi::history(before, kind))
}
