//! Deposits: the player picks an amount and a provider, goes to the PSP's hosted checkout, and
//! comes back to a page that shows the deposit's live state. Nothing here credits anything: only
//! the PSP's verified webhook does, on the server.

mod pages;

use chrono::{DateTime, Utc};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::AppError;
use crate::money::{Currency, Money};

pub use pages::{DepositCancelledPage, DepositPage, DepositReturnPage};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DepositState {
    Created,
    Pending,
    Captured,
    Failed,
    Expired,
}

impl DepositState {
    pub fn parse(value: &str) -> Option<DepositState> {
        Some(match value {
            "created" => DepositState::Created,
            "pending" => DepositState::Pending,
            "captured" => DepositState::Captured,
            "failed" => DepositState::Failed,
            "expired" => DepositState::Expired,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            DepositState::Created => "created",
            DepositState::Pending => "pending",
            DepositState::Captured => "captured",
            DepositState::Failed => "failed",
            DepositState::Expired => "expired",
        }
    }

    /// No further change can happen (apart from a late capture, which the server handles).
    pub fn is_final(self) -> bool {
        matches!(
            self,
            DepositState::Captured | DepositState::Failed | DepositState::Expired
        )
    }

    /// As the player reads it.
    pub fn label(self) -> &'static str {
        match self {
            DepositState::Created | DepositState::Pending => "Waiting for payment",
            DepositState::Captured => "Credited",
            DepositState::Failed => "Failed",
            DepositState::Expired => "Expired",
        }
    }
}

/// A payment provider the player may choose.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderChoice {
    pub name: String,
    pub display_name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DepositOptions {
    pub providers: Vec<ProviderChoice>,
    pub currencies: Vec<Currency>,
}

/// A deposit whose checkout exists: the browser goes to `redirect_url`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DepositStarted {
    pub deposit_id: Uuid,
    pub redirect_url: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DepositView {
    pub id: Uuid,
    pub amount: Money,
    pub provider: String,
    pub state: DepositState,
    /// Why it failed, in words the player can act on.
    pub failure_message: Option<String>,
    pub created_at: DateTime<Utc>,
    pub captured_at: Option<DateTime<Utc>>,
}

/// Most deposits the player's list shows.
pub const RECENT_DEPOSITS: u32 = 10;

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
        deposit_id: Uuid,
    ) -> Result<DepositView, AppError>;
    async fn recent(&self, ctx: &crate::api::RequestCtx) -> Result<Vec<DepositView>, AppError>;
}

/// The providers and currencies the logged-in player may deposit with.
#[server(endpoint = "deposits/options")]
pub async fn deposit_choices() -> Result<DepositOptions, AppError> {
    crate::api::call::<dyn DepositsApi, _, _, _>(|api, ctx| async move { api.options(&ctx).await })
        .await
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
    crate::api::call::<dyn DepositsApi, _, _, _>(|api, ctx| async move {
        api.start(&ctx, amount, currency, provider, idempotency_key)
            .await
    })
    .await
}

/// One of the player's deposits (another player's or tenant's id is 404).
#[server(endpoint = "deposits/status")]
pub async fn deposit_status(deposit_id: Uuid) -> Result<DepositView, AppError> {
    crate::api::call::<dyn DepositsApi, _, _, _>(|api, ctx| async move {
        api.status(&ctx, deposit_id).await
    })
    .await
}

/// The player's latest deposits, newest first.
#[server(endpoint = "deposits/recent")]
pub async fn recent_deposits() -> Result<Vec<DepositView>, AppError> {
    crate::api::call::<dyn DepositsApi, _, _, _>(|api, ctx| async move { api.recent(&ctx).await })
        .await
}
