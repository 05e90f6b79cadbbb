//! Stripe: one hosted Checkout Session per deposit over Stripe's HTTP API, and Stripe's signed
//! webhooks about those sessions. The session is priced inline (`price_data`), so nothing has to
//! exist in the Stripe dashboard, and it carries the deposit id as `client_reference_id`, which
//! every session object Stripe sends back echoes.
//!
//! Webhook types used: `checkout.session.completed` (paid, or unpaid while an asynchronous payment
//! method settles), `checkout.session.async_payment_succeeded|failed` and
//! `checkout.session.expired`. Every other type is acknowledged and stored as ignored.
use app::domain::ids::DepositId;

use std::time::Duration;

use app::domain::money::{Currency, Money};
use chrono::{DateTime, Utc};
use http::HeaderMap;
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::signature;
use super::{
    Checkout, CheckoutOutcome, CheckoutRequest, CheckoutStatus, PaymentProvider, ProviderUpdate,
    PspError, WebhookError, WebhookEvent,
};
use crate::config::Config;

pub const NAME: &str = "stripe";
pub const SIGNATURE_HEADER: &str = "stripe-signature";
/// How long one call to Stripe may take, answer included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);
/// The pauses before the retries of a call that got no usable answer. A retry sends the same
/// idempotency key, so Stripe never creates a second session for one deposit.
const RETRY_DELAYS: [Duration; 2] = [Duration::from_millis(250), Duration::from_millis(1000)];
/// Stripe accepts a session expiry from 30 minutes to 24 hours after it creates the session,
/// by its own clock. The requested expiry is kept inside these margins so that network time and
/// retries cannot push it out of Stripe's window (the default of 30 minutes sits on the edge).
const SESSION_LIFETIME_MIN: chrono::Duration = chrono::Duration::minutes(31);
const SESSION_LIFETIME_MAX: chrono::Duration = chrono::Duration::minutes(24 * 60 - 5);
/// The event types Kasa acts on; each carries a Checkout Session.
const CHECKOUT_EVENT_TYPES: [&str; 4] = [
    "checkout.session.completed",
    "checkout.session.async_payment_succeeded",
    "checkout.session.async_payment_failed",
    "checkout.session.expired",
];

pub struct Stripe {
    http: reqwest::Client,
    api_base: String,
    secret_key: SecretString,
    webhook_secret: SecretString,
}

impl Stripe {
    /// Stripe is enabled when both its secret key and its webhook signing secret are set.
    pub fn from_config(config: &Config) -> Option<Stripe> {
        Some(Stripe::new(
            &config.stripe_api_base,
            config.stripe_secret_key.clone()?,
            config.stripe_webhook_secret.clone()?,
        ))
    }

    pub fn new(api_base: &str, secret_key: SecretString, webhook_secret: SecretString) -> Stripe {
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            // Stripe's API never redirects; not following keeps the key on the configured host.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("kasa/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect(
                "the HTTP client builds: rustls with bundled roots needs nothing from the host",
            );
        Stripe {
            http,
            api_base: api_base.trim_end_matches('/').to_owned(),
            secret_key,
            webhook_secret,
        }
    }

    /// Sends the request `build` makes, again after a pause while Stripe gives no usable answer
    /// (connection error, timeout, 5xx, 429, 409), and decodes the JSON answer.
    /// `object` names what a 404 means, for reads; a create has no object to miss.
    async fn call<T: DeserializeOwned>(
        &self,
        build: impl Fn() -> reqwest::RequestBuilder,
        object: Option<&str>,
    ) -> Result<T, PspError> {
        let mut last_problem = String::new();
        for (attempt, delay) in [Duration::ZERO].into_iter().chain(RETRY_DELAYS).enumerate() {
            tokio::time::sleep(delay).await;
            let request = build().bearer_auth(self.secret_key.expose_secret());
            match attempt_once(request, object).await {
                Attempt::Done(result) => return result,
                Attempt::Retry(problem) => {
                    tracing::warn!(attempt = attempt + 1, %problem, "Stripe gave no usable answer");
                    last_problem = problem;
                }
            }
        }
        Err(unknown(last_problem))
    }
}

/// What one HTTP exchange with Stripe came to.
enum Attempt<T> {
    Done(Result<T, PspError>),
    /// No usable answer; the same request may be sent again.
    Retry(String),
}

async fn attempt_once<T: DeserializeOwned>(
    request: reqwest::RequestBuilder,
    object: Option<&str>,
) -> Attempt<T> {
    let response = match request.send().await {
        Ok(response) => response,
        Err(error) => return Attempt::Retry(error.to_string()),
    };
    let status = response.status();
    // Stripe says when a retry is (not) worth it; without the header, judge by the status.
    let should_retry = response
        .headers()
        .get("stripe-should-retry")
        .and_then(|value| value.to_str().ok())
        .map(|value| value == "true");
    let body = match response.bytes().await {
        Ok(body) => body,
        Err(error) => return Attempt::Retry(error.to_string()),
    };
    if status.is_success() {
        return Attempt::Done(
            serde_json::from_slice(&body)
                .map_err(|error| unknown(format!("unreadable answer: {error}"))),
        );
    }
    let error = serde_json::from_slice::<ErrorBody>(&body)
        .map(|body| body.error)
        .unwrap_or_default();
    let retryable = status.is_server_error()
        || status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::CONFLICT;
    if should_retry.unwrap_or(retryable) {
        return Attempt::Retry(format!("HTTP {status}: {}", error.describe()));
    }
    Attempt::Done(Err(refusal(status, error, object)))
}

/// Stripe's error answer: `{"error": {"type": …, "code": …, "message": …}}`.
#[derive(Debug, Default, Deserialize)]
struct ErrorBody {
    error: StripeError,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct StripeError {
    #[serde(rename = "type")]
    error_type: Option<String>,
    code: Option<String>,
    message: Option<String>,
}

impl StripeError {
    fn describe(&self) -> String {
        format!(
            "{}: {}",
            self.code
                .as_deref()
                .or(self.error_type.as_deref())
                .unwrap_or("no code"),
            self.message.as_deref().unwrap_or("no message")
        )
    }
}

/// Classifies an answer that will not be retried.
fn refusal(status: StatusCode, error: StripeError, object: Option<&str>) -> PspError {
    let idempotency_conflict = error.error_type.as_deref() == Some("idempotency_error");
    if status.is_server_error() || status == StatusCode::CONFLICT || idempotency_conflict {
        // An idempotency conflict means an earlier request with this key reached Stripe (with
        // other parameters, such as a later expiry): a session may exist, so this is no refusal.
        return unknown(format!("HTTP {status}: {}", error.describe()));
    }
    if let (StatusCode::NOT_FOUND, Some(object)) = (status, object) {
        return PspError::NotFound {
            provider: NAME.into(),
            what: object.to_owned(),
        };
    }
    let code = error
        .code
        .clone()
        .or(error.error_type.clone())
        .unwrap_or_else(|| format!("http_{}", status.as_u16()));
    let message = if matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
        // About our API key, not the player's payment; Stripe's text names the key.
        tracing::error!(%status, stripe = %error.describe(), "Stripe refused our credentials");
        "Card payments are not available at the moment.".to_owned()
    } else {
        error
            .message
            .unwrap_or_else(|| format!("Stripe refused the request (HTTP {}).", status.as_u16()))
    };
    PspError::Rejected {
        provider: NAME.into(),
        code,
        message,
    }
}

fn unknown(message: impl Into<String>) -> PspError {
    PspError::Unknown {
        provider: NAME.into(),
        message: message.into(),
    }
}

/// The form of `POST /v1/checkout/sessions` for `request`, Stripe's bracket notation for nested
/// fields. `now` bounds the expiry to what Stripe accepts.
fn checkout_form(request: &CheckoutRequest, now: DateTime<Utc>) -> Vec<(&'static str, String)> {
    let expires_at = request
        .expires_at
        .clamp(now + SESSION_LIFETIME_MIN, now + SESSION_LIFETIME_MAX);
    vec![
        ("mode", "payment".into()),
        ("line_items[0][quantity]", "1".into()),
        (
            "line_items[0][price_data][currency]",
            request.amount.currency().code().to_ascii_lowercase(),
        ),
        (
            "line_items[0][price_data][unit_amount]",
            request.amount.to_minor_units().to_string(),
        ),
        (
            "line_items[0][price_data][product_data][name]",
            request.description.clone(),
        ),
        ("client_reference_id", request.deposit_id.to_string()),
        ("metadata[deposit_id]", request.deposit_id.to_string()),
        ("metadata[tenant_id]", request.tenant_id.to_string()),
        ("metadata[player_id]", request.player_id.to_string()),
        ("success_url", request.success_url.clone()),
        ("cancel_url", request.cancel_url.clone()),
        ("expires_at", expires_at.timestamp().to_string()),
    ]
}

/// The fields of a Checkout Session Kasa reads. Stripe adds fields over time and sends many as
/// null, so everything but the id is optional and unknown fields are ignored.
#[derive(Debug, Deserialize)]
struct Session {
    id: String,
    url: Option<String>,
    expires_at: Option<i64>,
    /// `open`, `complete` or `expired`.
    status: Option<String>,
    /// `paid`, `unpaid` or `no_payment_required`.
    payment_status: Option<String>,
    mode: Option<String>,
    amount_total: Option<i64>,
    currency: Option<String>,
    client_reference_id: Option<String>,
    metadata: Option<serde_json::Map<String, serde_json::Value>>,
}

impl Session {
    /// Our deposit id: the session's `client_reference_id`, else its metadata.
    fn deposit_id(&self) -> Option<DepositId> {
        let from_metadata = || {
            self.metadata
                .as_ref()?
                .get("deposit_id")?
                .as_str()?
                .parse()
                .ok()
        };
        self.client_reference_id
            .as_deref()
            .and_then(|id| id.parse().ok())
            .or_else(from_metadata)
    }

    /// The session's total, when Stripe reports one. A total Kasa cannot represent is an error,
    /// never dropped: the amount is what keeps a mismatched payment from being captured.
    fn amount(&self) -> Result<Option<Money>, String> {
        let (Some(minor_units), Some(currency)) = (self.amount_total, self.currency.as_deref())
        else {
            return Ok(None);
        };
        let currency = Currency::parse(currency).map_err(|error| error.to_string())?;
        Money::from_minor_units(minor_units, currency)
            .map(Some)
            .map_err(|error| format!("amount_total {minor_units} {currency}: {error}"))
    }

    /// Whether the money of a completed session has arrived.
    fn completion_outcome(&self) -> CheckoutOutcome {
        match self.payment_status.as_deref() {
            Some("paid" | "no_payment_required") => CheckoutOutcome::Paid,
            // `unpaid`: an asynchronous payment method (bank debit) settles later.
            _ => CheckoutOutcome::Processing,
        }
    }

    /// What the session's current state means, when it is read back.
    fn current_outcome(&self) -> CheckoutOutcome {
        match self.status.as_deref() {
            Some("complete") => self.completion_outcome(),
            Some("expired") => CheckoutOutcome::Expired,
            _ => CheckoutOutcome::Open,
        }
    }

    fn checkout_status(&self, outcome: CheckoutOutcome, amount: Option<Money>) -> CheckoutStatus {
        CheckoutStatus {
            session_id: self.id.clone(),
            deposit_id: self.deposit_id(),
            outcome,
            amount,
        }
    }
}

#[derive(Debug, Deserialize)]
struct EventEnvelope {
    id: Option<String>,
    #[serde(rename = "type")]
    event_type: Option<String>,
    data: Option<EventData>,
}

#[derive(Debug, Deserialize)]
struct EventData {
    object: Option<serde_json::Value>,
}

/// Parses a (verified) Stripe event body.
pub fn parse_event(body: &[u8]) -> Result<WebhookEvent, WebhookError> {
    let malformed = |error: &dyn std::fmt::Display| WebhookError::Malformed(error.to_string());
    let payload: serde_json::Value =
        serde_json::from_slice(body).map_err(|error| malformed(&error))?;
    let envelope: EventEnvelope =
        serde_json::from_value(payload.clone()).map_err(|error| malformed(&error))?;
    let event_id = envelope
        .id
        .filter(|id| !id.is_empty())
        .ok_or_else(|| malformed(&"the event has no id"))?;
    let event_type = envelope
        .event_type
        .ok_or_else(|| malformed(&"the event has no type"))?;
    let update = if CHECKOUT_EVENT_TYPES.contains(&event_type.as_str()) {
        let object = envelope
            .data
            .and_then(|data| data.object)
            .ok_or_else(|| malformed(&"the event has no data.object"))?;
        let session: Session = serde_json::from_value(object).map_err(|error| malformed(&error))?;
        checkout_update(&event_type, &session).map_err(|error| malformed(&error))?
    } else {
        None
    };
    Ok(WebhookEvent {
        event_id,
        event_type,
        payload,
        update,
    })
}

/// What a checkout event says about its session. Sessions in another mode than `payment`
/// (subscriptions, saved cards) are not Kasa's deposits: acknowledged, nothing to apply.
fn checkout_update(event_type: &str, session: &Session) -> Result<Option<ProviderUpdate>, String> {
    if session
        .mode
        .as_deref()
        .is_some_and(|mode| mode != "payment")
    {
        return Ok(None);
    }
    let outcome = match event_type {
        "checkout.session.completed" => session.completion_outcome(),
        "checkout.session.async_payment_succeeded" => CheckoutOutcome::Paid,
        "checkout.session.async_payment_failed" => CheckoutOutcome::Failed {
            code: "async_payment_failed".into(),
            message: "The payment did not go through.".into(),
        },
        _ => CheckoutOutcome::Expired,
    };
    let amount = session.amount()?;
    Ok(Some(ProviderUpdate::Checkout(
        session.checkout_status(outcome, amount),
    )))
}

#[async_trait::async_trait]
impl PaymentProvider for Stripe {
    fn name(&self) -> &'static str {
        NAME
    }

    fn display_name(&self) -> &'static str {
        "Card (Stripe)"
    }

    async fn create_checkout(&self, request: &CheckoutRequest) -> Result<Checkout, PspError> {
        // Built once: every retry sends exactly the same parameters with the same key, as
        // Stripe requires for an idempotent replay.
        let form = checkout_form(request, Utc::now());
        let url = format!("{}/v1/checkout/sessions", self.api_base);
        let session: Session = self
            .call(
                || {
                    self.http
                        .post(&url)
                        .header("Idempotency-Key", &request.idempotency_key)
                        .form(&form)
                },
                None,
            )
            .await?;
        let redirect_url = session
            .url
            .ok_or_else(|| unknown(format!("session {} has no url", session.id)))?;
        Ok(Checkout {
            session_id: session.id,
            redirect_url,
            expires_at: session
                .expires_at
                .and_then(|seconds| DateTime::from_timestamp(seconds, 0)),
        })
    }

    async fn read_checkout(&self, session_id: &str) -> Result<CheckoutStatus, PspError> {
        let what = format!("checkout session {session_id}");
        // Session ids are `cs_` and letters and digits: anything else cannot be one, and must
        // not reach the URL's path.
        if session_id.is_empty()
            || !session_id
                .chars()
                .all(|char| char.is_ascii_alphanumeric() || char == '_')
        {
            return Err(PspError::NotFound {
                provider: NAME.into(),
                what,
            });
        }
        let url = format!("{}/v1/checkout/sessions/{session_id}", self.api_base);
        let session: Session = self.call(|| self.http.get(&url), Some(&what)).await?;
        let amount = session.amount().map_err(unknown)?;
        Ok(session.checkout_status(session.current_outcome(), amount))
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
        signature::verify(
            header,
            body,
            self.webhook_secret.expose_secret(),
            now,
            signature::TOLERANCE_SECONDS,
        )
        .map_err(|error| WebhookError::Signature(error.to_string()))
    }

    fn parse_webhook(&self, body: &[u8]) -> Result<WebhookEvent, WebhookError> {
        parse_event(body)
    }
}

#[cfg(test)]
mod tests;
