//! Deposits: the player picks an amount and a provider, goes to the PSP's hosted checkout, and
//! comes back to a page that shows the deposit's live state. Nothing here credits anything: only
//! the PSP's verified webhook does, on the server.

pub mod api;
pub mod pages;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::ids::DepositId;
use crate::domain::money::{Currency, Money};
use crate::domain::text::text_enum;

text_enum! {
    /// A deposit from checkout to its end.
    pub enum DepositState ("deposit state") {
        Created = "created",
        Pending = "pending",
        Captured = "captured",
        Failed = "failed",
        Expired = "expired",
    }
}

impl DepositState {
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
    pub deposit_id: DepositId,
    pub redirect_url: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DepositView {
    pub id: DepositId,
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
