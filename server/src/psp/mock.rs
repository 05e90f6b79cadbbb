//! The built-in mock PSP, for development, demos and tests (never enabled in production): it
//! keeps its own books in `mock_psp_*` tables like a real PSP, serves a hosted checkout page
//! (`psp::routes`), and sends webhooks signed like Stripe's (`Kasa-Mock-Signature`)
//! through an outbox that the server delivers to its own webhook pipeline.
//!
//! Event JSON: `{"id":"mevt_…","type":"checkout.paid","created":<unix>,"data":{"object":{…}}}`
//! with types `checkout.processing|paid|failed|expired` (object: a checkout) and
//! `payout.pending|succeeded|failed` (object: a payout).

use std::time::Duration;

use app::domain::ids::{DepositId, TenantId};
use app::domain::money::{Currency, Money};
use chrono::{DateTime, Utc};
use http::HeaderMap;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use super::{
    Checkout, CheckoutOutcome, CheckoutRequest, CheckoutStatus, PaymentProvider, PayoutOutcome,
    PayoutRequest, PayoutStatus, ProviderUpdate, PspError, WebhookError, WebhookEvent,
};
use crate::config::Config;

pub const NAME: &str = "mock";
/// The header carrying the mock PSP's signature (same scheme as `Stripe-Signature`).
pub const SIGNATURE_HEADER: &str = "kasa-mock-signature";
/// The row of `installation_secrets` holding the generated signing secret.
const INSTALLATION_SECRET_NAME: &str = "mock_psp_webhook";
/// Random bytes in a generated signing secret (hex-encoded: 64 characters).
const GENERATED_SECRET_BYTES: usize = 32;

/// The secret this installation's mock PSP signs with when none is configured: generated once,
/// at random, and kept in the database, so every process of the installation signs alike and no
/// published value (the old development default) can sign a webhook that credits anyone.
pub async fn installation_secret(pool: &PgPool) -> Result<SecretString, sqlx::Error> {
    sqlx::query(
        "INSERT INTO installation_secrets (name, value, created_at) VALUES ($1, $2, now())
         ON CONFLICT (name) DO NOTHING",
    )
    .bind(INSTALLATION_SECRET_NAME)
    .bind(random_secret())
    .execute(pool)
    .await?;
    let value: String =
        sqlx::query_scalar("SELECT value FROM installation_secrets WHERE name = $1")
            .bind(INSTALLATION_SECRET_NAME)
            .fetch_one(pool)
            .await?;
    Ok(SecretString::from(value))
}

/// Puts the installation's secret into `config` when the mock PSP is on and no secret is
/// configured (`kasa serve` does this before it builds its services).
pub async fn resolve_secret(config: &mut Config, pool: &PgPool) -> Result<(), sqlx::Error> {
    if config.mock_psp && config.mock_psp_secret.is_none() {
        config.mock_psp_secret = Some(installation_secret(pool).await?);
    }
    Ok(())
}

fn random_secret() -> String {
    hex::encode(rand::random::<[u8; GENERATED_SECRET_BYTES]>())
}

/// One webhook the mock PSP wants delivered, after `delay`. The server signs it at delivery
/// time (with its clock) and passes it through the same pipeline as an HTTP delivery.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub body: Vec<u8>,
    pub delay: Duration,
}

pub type Outbox = tokio::sync::mpsc::UnboundedSender<Delivery>;

/// How the mock PSP delivers a sequence of webhooks (the hosted page and tests choose).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryMode {
    /// Each event once, in order, at once.
    #[default]
    Normal,
    /// Each event three times, two of them concurrently.
    Duplicate,
    /// The events in reverse order.
    Reorder,
    /// Each event after two seconds.
    Delay,
}

impl DeliveryMode {
    pub fn parse(value: &str) -> DeliveryMode {
        match value {
            "duplicate" => DeliveryMode::Duplicate,
            "reorder" => DeliveryMode::Reorder,
            "delay" => DeliveryMode::Delay,
            _ => DeliveryMode::Normal,
        }
    }
}

pub struct MockPsp {
    pool: PgPool,
    secret: String,
    outbox: Outbox,
    /// Test endpoints are on: scripted payouts may crash the process (`mock_payouts`).
    /// The `crash` payout outcome (SIGKILL of this process): the `test` environment only.
    crash_allowed: bool,
}

impl MockPsp {
    /// The mock with the configured secret. Without one, `kasa serve` has put the
    /// installation's secret into the configuration (`installation_secret`); a process that did
    /// not (a test, an operator command) signs with a random secret of its own.
    pub fn new(pool: PgPool, config: &Config, outbox: Outbox) -> MockPsp {
        MockPsp {
            pool,
            secret: config
                .mock_psp_secret
                .as_ref()
                .map(|secret| secret.expose_secret().to_owned())
                .unwrap_or_else(random_secret),
            outbox,
            crash_allowed: config.scripted_crash_allowed(),
        }
    }

    pub fn crash_allowed(&self) -> bool {
        self.crash_allowed
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Queues `events` (already-built event JSON) for delivery in `mode`.
    pub fn send(&self, mut events: Vec<serde_json::Value>, mode: DeliveryMode) {
        if mode == DeliveryMode::Reorder {
            events.reverse();
        }
        for (index, event) in events.into_iter().enumerate() {
            let body = serde_json::to_vec(&event).expect("JSON values serialise");
            // Spaced a little so that "in order" and "reversed" are the order of arrival.
            let base = Duration::from_millis(150 * index as u64);
            let delays: &[Duration] = match mode {
                DeliveryMode::Normal | DeliveryMode::Reorder => &[Duration::ZERO],
                DeliveryMode::Duplicate => {
                    &[Duration::ZERO, Duration::ZERO, Duration::from_millis(500)]
                }
                DeliveryMode::Delay => &[Duration::from_secs(2)],
            };
            for delay in delays {
                let _ = self.outbox.send(Delivery {
                    body: body.clone(),
                    delay: base + *delay,
                });
            }
        }
    }

    /// The header value for `body` at `now`.
    pub fn sign(&self, body: &[u8], now: DateTime<Utc>) -> String {
        super::signature::sign(body, &self.secret, now.timestamp())
    }

    /// Builds a checkout event for the mock's own checkout row.
    pub fn checkout_event(
        checkout: &MockCheckout,
        event_type: &str,
        now: DateTime<Utc>,
    ) -> serde_json::Value {
        let (failure_code, failure_message) = match event_type {
            "checkout.failed" => (Some("card_declined"), Some("The card was declined.")),
            _ => (None, None),
        };
        json!({
            "id": format!("mevt_{}", Uuid::new_v4().simple()),
            "type": event_type,
            "created": now.timestamp(),
            "data": {"object": {
                "object": "checkout",
                "id": checkout.id,
                "deposit_id": checkout.deposit_id,
                "amount_minor": checkout.amount_minor,
                "currency": checkout.currency,
                "status": event_type.trim_start_matches("checkout."),
                "failure_code": failure_code,
                "failure_message": failure_message,
            }}
        })
    }

    pub async fn checkout(&self, id: &str) -> Result<Option<MockCheckout>, sqlx::Error> {
        sqlx::query_as::<_, MockCheckout>(
            "SELECT id, tenant_id, deposit_id, amount_minor, currency, success_url, cancel_url,
                    status, expires_at
               FROM mock_psp_checkouts WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await
    }

    /// Moves an open checkout to `status`; false when it was no longer open (paid twice, …) or
    /// is past its expiry (an expired checkout takes no payment).
    pub async fn complete_checkout(
        &self,
        id: &str,
        status: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, sqlx::Error> {
        let updated = sqlx::query(
            "UPDATE mock_psp_checkouts SET status = $2, completed_at = $3
              WHERE id = $1 AND status IN ('open', 'processing') AND expires_at > $3",
        )
        .bind(id)
        .bind(status)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(updated.rows_affected() == 1)
    }
}

/// The mock PSP's record of one checkout.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MockCheckout {
    pub id: String,
    pub tenant_id: TenantId,
    pub deposit_id: DepositId,
    pub amount_minor: i64,
    pub currency: String,
    pub success_url: String,
    pub cancel_url: String,
    pub status: String,
    pub expires_at: DateTime<Utc>,
}

impl MockCheckout {
    pub fn amount(&self) -> Option<Money> {
        let currency = Currency::parse(&self.currency).ok()?;
        Money::from_minor_units(self.amount_minor, currency).ok()
    }
}

#[derive(Debug, Deserialize)]
struct EventEnvelope {
    id: String,
    #[serde(rename = "type")]
    event_type: String,
    data: EventData,
}

#[derive(Debug, Deserialize)]
struct EventData {
    object: serde_json::Value,
}

#[derive(Debug, Deserialize)]
struct CheckoutObject {
    id: String,
    deposit_id: Option<DepositId>,
    /// Optional here, as in Stripe's sessions: only a capture needs them, and applying refuses
    /// a payment reported without them (`deposits::apply_checkout_status`).
    amount_minor: Option<i64>,
    currency: Option<String>,
    failure_code: Option<String>,
    failure_message: Option<String>,
}

#[derive(Debug, Deserialize)]
struct PayoutObject {
    id: Option<String>,
    idempotency_key: String,
    amount_minor: i64,
    currency: String,
    failure_code: Option<String>,
    failure_message: Option<String>,
}

fn money(amount_minor: i64, currency: &str) -> Result<Money, WebhookError> {
    let currency = Currency::parse(currency)
        .map_err(|_| WebhookError::Malformed(format!("unknown currency {currency:?}")))?;
    Money::from_minor_units(amount_minor, currency)
        .map_err(|error| WebhookError::Malformed(format!("amount: {error}")))
}

/// Parses a verified mock event body.
pub fn parse_event(body: &[u8]) -> Result<WebhookEvent, WebhookError> {
    let payload: serde_json::Value =
        serde_json::from_slice(body).map_err(|error| WebhookError::Malformed(error.to_string()))?;
    let envelope: EventEnvelope = serde_json::from_value(payload.clone())
        .map_err(|error| WebhookError::Malformed(error.to_string()))?;
    let parse = |error: serde_json::Error| WebhookError::Malformed(error.to_string());
    let update = match envelope.event_type.split_once('.') {
        Some(("checkout", status)) => {
            let object: CheckoutObject =
                serde_json::from_value(envelope.data.object).map_err(parse)?;
            let outcome = match status {
                "processing" => CheckoutOutcome::Processing,
                "paid" => CheckoutOutcome::Paid,
                "failed" => CheckoutOutcome::Failed {
                    code: object
                        .failure_code
                        .unwrap_or_else(|| "payment_failed".into()),
                    message: object
                        .failure_message
                        .unwrap_or_else(|| "The payment failed.".into()),
                },
                "expired" => CheckoutOutcome::Expired,
                _ => return Ok(ignored(envelope.id, envelope.event_type, payload)),
            };
            Some(ProviderUpdate::Checkout(CheckoutStatus {
                session_id: object.id,
                deposit_id: object.deposit_id,
                outcome,
                amount: match (object.amount_minor, object.currency.as_deref()) {
                    (Some(amount_minor), Some(currency)) => Some(money(amount_minor, currency)?),
                    _ => None,
                },
            }))
        }
        Some(("payout", status)) => {
            let object: PayoutObject =
                serde_json::from_value(envelope.data.object).map_err(parse)?;
            let outcome = match status {
                "pending" => PayoutOutcome::Pending,
                "succeeded" => PayoutOutcome::Succeeded,
                "failed" => PayoutOutcome::Failed {
                    code: object
                        .failure_code
                        .unwrap_or_else(|| "payout_failed".into()),
                    message: object
                        .failure_message
                        .unwrap_or_else(|| "The payout failed.".into()),
                },
                _ => return Ok(ignored(envelope.id, envelope.event_type, payload)),
            };
            Some(ProviderUpdate::Payout(PayoutStatus {
                provider_reference: object.id,
                idempotency_key: object.idempotency_key,
                outcome,
                amount: Some(money(object.amount_minor, &object.currency)?),
            }))
        }
        _ => None,
    };
    Ok(WebhookEvent {
        event_id: envelope.id,
        event_type: envelope.event_type,
        payload,
        update,
    })
}

fn ignored(event_id: String, event_type: String, payload: serde_json::Value) -> WebhookEvent {
    WebhookEvent {
        event_id,
        event_type,
        payload,
        update: None,
    }
}

#[async_trait::async_trait]
impl PaymentProvider for MockPsp {
    fn name(&self) -> &'static str {
        NAME
    }

    fn display_name(&self) -> &'static str {
        "Mock PSP (test payments)"
    }

    async fn create_checkout(&self, request: &CheckoutRequest) -> Result<Checkout, PspError> {
        let unknown = |error: sqlx::Error| PspError::Unknown {
            provider: NAME.into(),
            message: error.to_string(),
        };
        // Keyed by the idempotency key, like Stripe: a retried create returns the same checkout.
        let id = format!("mcs_{}", Uuid::new_v4().simple());
        sqlx::query(
            "INSERT INTO mock_psp_checkouts
                 (id, idempotency_key, tenant_id, deposit_id, amount_minor, currency,
                  success_url, cancel_url, status, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'open', now(), $9)
             ON CONFLICT (idempotency_key) DO NOTHING",
        )
        .bind(&id)
        .bind(&request.idempotency_key)
        .bind(request.tenant_id)
        .bind(request.deposit_id)
        .bind(request.amount.to_minor_units())
        .bind(request.amount.currency().code())
        .bind(&request.success_url)
        .bind(&request.cancel_url)
        .bind(request.expires_at)
        .execute(&self.pool)
        .await
        .map_err(unknown)?;
        let (id, expires_at): (String, DateTime<Utc>) = sqlx::query_as(
            "SELECT id, expires_at FROM mock_psp_checkouts WHERE idempotency_key = $1",
        )
        .bind(&request.idempotency_key)
        .fetch_one(&self.pool)
        .await
        .map_err(unknown)?;
        Ok(Checkout {
            redirect_url: format!("/mock-psp/checkout/{id}"),
            session_id: id,
            expires_at: Some(expires_at),
        })
    }

    async fn read_checkout(&self, session_id: &str) -> Result<CheckoutStatus, PspError> {
        let checkout = self
            .checkout(session_id)
            .await
            .map_err(|error| PspError::Unknown {
                provider: NAME.into(),
                message: error.to_string(),
            })?
            .ok_or_else(|| PspError::NotFound {
                provider: NAME.into(),
                what: format!("checkout {session_id}"),
            })?;
        let outcome = match checkout.status.as_str() {
            "processing" => CheckoutOutcome::Processing,
            "paid" => CheckoutOutcome::Paid,
            "failed" => CheckoutOutcome::Failed {
                code: "card_declined".into(),
                message: "The card was declined.".into(),
            },
            "expired" => CheckoutOutcome::Expired,
            _ => CheckoutOutcome::Open,
        };
        Ok(CheckoutStatus {
            amount: checkout.amount(),
            session_id: checkout.id,
            deposit_id: Some(checkout.deposit_id),
            outcome,
        })
    }

    fn verify_webhook(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<(), WebhookError> {
        let header = headers
            .get(SIGNATURE_HEADER)
            .and_then(|value| value.to_str().ok());
        super::signature::verify(
            header,
            body,
            &self.secret,
            now,
            super::signature::TOLERANCE_SECONDS,
        )
        .map_err(|error| WebhookError::Signature(error.to_string()))
    }

    fn parse_webhook(&self, body: &[u8]) -> Result<WebhookEvent, WebhookError> {
        parse_event(body)
    }

    async fn create_payout(&self, request: &PayoutRequest) -> Result<PayoutStatus, PspError> {
        super::mock_payouts::create(self, request).await
    }

    async fn read_payout(&self, idempotency_key: &str) -> Result<PayoutStatus, PspError> {
        super::mock_payouts::read(self, idempotency_key).await
    }
}
