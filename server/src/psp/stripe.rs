//! Stripe: Checkout Sessions over Stripe's HTTP API and its signed webhooks.
//! (Being written: the adapter is not enabled until this file implements it.)

use chrono::{DateTime, Utc};
use http::HeaderMap;

use super::{
    Checkout, CheckoutRequest, CheckoutStatus, PaymentProvider, PspError, WebhookError,
    WebhookEvent,
};
use crate::config::Config;

pub struct Stripe {}

impl Stripe {
    pub fn from_config(config: &Config) -> Option<Stripe> {
        let _ = config;
        None
    }
}

#[async_trait::async_trait]
impl PaymentProvider for Stripe {
    fn name(&self) -> &'static str {
        "stripe"
    }

    fn display_name(&self) -> &'static str {
        "Card (Stripe)"
    }

    async fn create_checkout(&self, _request: &CheckoutRequest) -> Result<Checkout, PspError> {
        Err(PspError::Unsupported {
            provider: "stripe".into(),
            operation: "checkout",
        })
    }

    async fn read_checkout(&self, _session_id: &str) -> Result<CheckoutStatus, PspError> {
        Err(PspError::Unsupported {
            provider: "stripe".into(),
            operation: "checkout",
        })
    }

    fn verify_webhook(
        &self,
        _headers: &HeaderMap,
        _body: &[u8],
        _now: DateTime<Utc>,
    ) -> Result<(), WebhookError> {
        Err(WebhookError::Signature("not implemented".into()))
    }

    fn parse_webhook(&self, _body: &[u8]) -> Result<WebhookEvent, WebhookError> {
        Err(WebhookError::Malformed("not implemented".into()))
    }
}
