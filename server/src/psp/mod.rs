//! Payment service providers. One [`PaymentProvider`] implementation per PSP (Stripe in
//! `stripe`, the built-in mock in `mock`); [`Providers`] holds the ones this configuration
//! enables. Providers only talk to their PSP and translate its objects into ours: what a checkout
//! or payout status means for a deposit or withdrawal is decided by the payments code, in one
//! place, whether the status came by webhook, by recheck or in an API answer.

pub mod mock;
mod mock_payouts;
pub mod routes;
pub mod signature;
pub mod stripe;
pub mod webhooks;

use std::collections::BTreeMap;
use std::sync::Arc;

use app::domain::ids::{DepositId, PlayerId, TenantId};
use app::domain::money::Money;
use chrono::{DateTime, Utc};
use http::HeaderMap;
use uuid::Uuid;

use crate::config::Config;

/// Everything a PSP needs to open a hosted checkout for one deposit.
#[derive(Debug, Clone)]
pub struct CheckoutRequest {
    pub deposit_id: DepositId,
    pub tenant_id: TenantId,
    pub player_id: PlayerId,
    pub amount: Money,
    /// Where the PSP sends the browser after payment. Stripe replaces `{CHECKOUT_SESSION_ID}`.
    pub success_url: String,
    pub cancel_url: String,
    pub expires_at: DateTime<Utc>,
    /// Sent to the PSP so that a retried create returns the same checkout (`deposit:<id>`).
    pub idempotency_key: String,
    /// Shown to the player on the PSP's page.
    pub description: String,
}

/// A checkout the PSP created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkout {
    pub session_id: String,
    /// The PSP's hosted page the browser goes to.
    pub redirect_url: String,
    pub expires_at: Option<DateTime<Utc>>,
}

/// What a PSP says about a checkout (from a webhook, or read back on a recheck).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckoutStatus {
    pub session_id: String,
    /// Our deposit id, when the PSP echoes it (Stripe's `client_reference_id`).
    pub deposit_id: Option<DepositId>,
    pub outcome: CheckoutOutcome,
    /// The amount the PSP reports, when it does; a mismatch with the deposit is never captured.
    pub amount: Option<Money>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckoutOutcome {
    /// Still open: nothing to do.
    Open,
    /// Completed but the money has not arrived (Stripe: `payment_status = unpaid`, an async
    /// payment method): the deposit becomes `pending` and waits.
    Processing,
    /// The money arrived: capture.
    Paid,
    /// The payment failed (declined, async payment failed).
    Failed { code: String, message: String },
    /// The checkout expired (or the player cancelled at the mock PSP).
    Expired,
}

/// A payout of one withdrawal attempt.
#[derive(Debug, Clone)]
pub struct PayoutRequest {
    pub tenant_id: TenantId,
    pub withdrawal_id: Uuid,
    pub attempt_id: Uuid,
    pub player_id: PlayerId,
    pub amount: Money,
    /// Sent to the PSP; the same key never pays twice.
    pub idempotency_key: String,
}

/// What a PSP says about a payout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayoutStatus {
    /// The PSP's id for the payout, when it has one.
    pub provider_reference: Option<String>,
    /// The idempotency key the payout was created with (identifies the attempt).
    pub idempotency_key: String,
    pub outcome: PayoutOutcome,
    pub amount: Option<Money>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayoutOutcome {
    Pending,
    Succeeded,
    Failed { code: String, message: String },
}

/// A verified, parsed webhook event.
#[derive(Debug, Clone)]
pub struct WebhookEvent {
    /// The PSP's event id: `(provider, event_id)` is stored once.
    pub event_id: String,
    pub event_type: String,
    /// The whole event as JSON, stored for staff and reconciliation.
    pub payload: serde_json::Value,
    /// What the event means for us; `None` for event types Kasa does not use (acknowledged).
    pub update: Option<ProviderUpdate>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderUpdate {
    Checkout(CheckoutStatus),
    Payout(PayoutStatus),
}

/// Why a webhook was refused (answered 400, nothing stored as applied).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error("signature did not verify: {0}")]
    Signature(String),
    #[error("malformed event: {0}")]
    Malformed(String),
}

/// A failed call to a PSP.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PspError {
    /// The PSP answered with a definite refusal (invalid request, card declined, …): the
    /// operation did not happen.
    #[error("{provider} refused: {code}: {message}")]
    Rejected {
        provider: String,
        code: String,
        message: String,
    },
    /// No usable answer (timeout, connection error, 5xx, unreadable body): the operation may or
    /// may not have happened at the PSP. Never retried blind with a new key.
    #[error("{provider} unreachable or answered unclearly: {message}")]
    Unknown { provider: String, message: String },
    /// The PSP does not know the object.
    #[error("{provider} does not know {what}")]
    NotFound { provider: String, what: String },
    /// This provider does not offer the operation.
    #[error("{provider} does not support {operation}")]
    Unsupported {
        provider: String,
        operation: &'static str,
    },
}

#[async_trait::async_trait]
pub trait PaymentProvider: Send + Sync {
    /// The provider's name as the ledger and the URLs know it (`stripe`, `mock`).
    fn name(&self) -> &'static str;

    /// What the player sees on the deposit page.
    fn display_name(&self) -> &'static str;

    async fn create_checkout(&self, request: &CheckoutRequest) -> Result<Checkout, PspError>;

    async fn read_checkout(&self, session_id: &str) -> Result<CheckoutStatus, PspError>;

    /// Verifies a webhook's signature over the raw body (and its timestamp against `now`);
    /// nothing is parsed before this passes.
    fn verify_webhook(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<(), WebhookError>;

    /// Parses a verified webhook body (also used to re-apply a stored event).
    fn parse_webhook(&self, body: &[u8]) -> Result<WebhookEvent, WebhookError>;

    async fn create_payout(&self, request: &PayoutRequest) -> Result<PayoutStatus, PspError> {
        let _ = request;
        Err(PspError::Unsupported {
            provider: self.name().to_owned(),
            operation: "payouts",
        })
    }

    /// Reads a payout back by the idempotency key it was created with.
    async fn read_payout(&self, idempotency_key: &str) -> Result<PayoutStatus, PspError> {
        let _ = idempotency_key;
        Err(PspError::Unsupported {
            provider: self.name().to_owned(),
            operation: "payouts",
        })
    }
}

/// The providers this configuration enables, by name.
#[derive(Clone, Default)]
pub struct Providers {
    by_name: BTreeMap<&'static str, Arc<dyn PaymentProvider>>,
    mock: Option<Arc<mock::MockPsp>>,
}

impl Providers {
    pub fn from_config(
        config: &Config,
        pool: sqlx::PgPool,
        mock_outbox: mock::Outbox,
    ) -> Providers {
        let mut providers = Providers::default();
        if config.mock_psp {
            let mock = Arc::new(mock::MockPsp::new(pool, config, mock_outbox));
            providers.insert(mock.clone());
            providers.mock = Some(mock);
        }
        if let Some(stripe) = stripe::Stripe::from_config(config) {
            providers.insert(Arc::new(stripe));
        }
        providers
    }

    pub fn insert(&mut self, provider: Arc<dyn PaymentProvider>) {
        self.by_name.insert(provider.name(), provider);
    }

    pub fn get(&self, name: &str) -> Option<Arc<dyn PaymentProvider>> {
        self.by_name.get(name).cloned()
    }

    /// The mock PSP, when enabled (its hosted page needs more than the trait).
    pub fn mock(&self) -> Option<&Arc<mock::MockPsp>> {
        self.mock.as_ref()
    }

    /// Enabled providers, in name order.
    pub fn all(&self) -> impl Iterator<Item = &Arc<dyn PaymentProvider>> {
        self.by_name.values()
    }
}
