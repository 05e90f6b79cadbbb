//! HTTP routes outside the Leptos app: `POST /api/v1/payments/webhook/{provider}` for every PSP,
//! and the mock PSP's hosted checkout page under `/mock-psp/` (mounted only when the mock PSP is
//! enabled, which production refuses: there it does not exist, 404).

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::webhooks::ReceiveError;
use crate::http::hosted::{self, Frame, html_escape};
use crate::psp::mock::{DeliveryMode, MockCheckout, MockPsp};
use crate::services::Services;
use crate::tenants::Tenant;
use app::error::{AppError, ErrorCode};

pub fn routes(services: Services) -> Router {
    let mut router = Router::new().route("/api/v1/payments/webhook/{provider}", post(webhook));
    if services.mock_psp().is_some() {
        router = router.route(
            "/mock-psp/checkout/{id}",
            get(mock_checkout_page).post(mock_checkout_submit),
        );
    }
    router.with_state(services)
}

fn json_error(error: AppError) -> Response {
    let status =
        StatusCode::from_u16(error.code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, axum::Json(error)).into_response()
}

async fn webhook(
    State(services): State<Services>,
    Path(provider): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match services.receive_webhook(&provider, &headers, &body).await {
        Ok(ack) => (StatusCode::OK, axum::Json(ack)).into_response(),
        Err(ReceiveError::UnknownProvider) => json_error(AppError::not_found("Payment provider")),
        Err(ReceiveError::Rejected(error)) => {
            tracing::warn!(%provider, %error, "webhook refused");
            json_error(AppError::new(
                ErrorCode::SignatureInvalid,
                format!("The webhook was refused: {error}."),
            ))
        }
        Err(ReceiveError::ApplyFailed(error)) => {
            tracing::warn!(%provider, %error, "webhook stored, apply failed");
            json_error(AppError::internal())
        }
        Err(ReceiveError::Database(error)) => {
            json_error(AppError::from(crate::error::ServerError::from(error)))
        }
    }
}

/// The checkout, if it exists and belongs to the brand this page is served for.
async fn find_checkout<'a>(
    services: &'a Services,
    tenant: Option<&Tenant>,
    id: &str,
) -> Result<(&'a MockPsp, MockCheckout), Response> {
    let not_found = || {
        (
            StatusCode::NOT_FOUND,
            Html(page(
                "Checkout not found",
                "<p>This checkout does not exist.</p>",
            )),
        )
            .into_response()
    };
    let mock = services.mock_psp().ok_or_else(not_found)?;
    let checkout = mock
        .checkout(id)
        .await
        .map_err(|error| json_error(AppError::from(crate::error::ServerError::from(error))))?
        .filter(|checkout| tenant.is_some_and(|tenant| tenant.id == checkout.tenant_id))
        .ok_or_else(not_found)?;
    Ok((mock, checkout))
}

async fn mock_checkout_page(
    State(services): State<Services>,
    tenant: Option<axum::Extension<Tenant>>,
    Path(id): Path<String>,
) -> Response {
    let (_, checkout) = match find_checkout(&services, tenant.as_deref(), &id).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let amount = checkout
        .amount()
        .map(|amount| amount.to_string())
        .unwrap_or_default();
    let body = if checkout.status == "open" && checkout.expires_at > services.now() {
        format!(
            r#"<p class="lead">Pay <strong data-testid="mock-amount">{amount}</strong></p>
<form method="post" class="form" aria-label="Mock payment">
  <button class="button primary" type="submit" name="outcome" value="pay">Pay</button>
  <button class="button" type="submit" name="outcome" value="decline">Decline</button>
  <button class="button ghost" type="submit" name="outcome" value="cancel">Cancel</button>
  <details>
    <summary>Test options</summary>
    <label for="delivery">Webhook delivery</label>
    <select id="delivery" name="delivery">
      <option value="normal">Once, in order</option>
      <option value="duplicate">Duplicated</option>
      <option value="reorder">Reordered</option>
      <option value="delay">Delayed by 2 seconds</option>
    </select>
    <button class="button small" type="submit" name="outcome" value="pay_async">Pay later (pending, then paid)</button>
    <button class="button small" type="submit" name="outcome" value="fail_async">Pay later (pending, then failed)</button>
  </details>
</form>"#
        )
    } else if checkout.status == "open" {
        expired_body(&checkout)
    } else {
        format!(
            r#"<p>This checkout is closed ({}).</p><p><a class="button" href="{}">Back to the casino</a></p>"#,
            html_escape(&checkout.status),
            html_escape(&checkout.cancel_url)
        )
    };
    Html(page("Mock PSP checkout", &body)).into_response()
}

/// What the hosted page says about a checkout past its expiry: like a real PSP, it takes no
/// payment any more (the deposit is closed by its expiry, never paid late through this page).
fn expired_body(checkout: &MockCheckout) -> String {
    format!(
        r#"<p class="form-error" role="alert" data-testid="mock-expired">This checkout expired at {} UTC. Nothing was paid; please start a new deposit.</p><p><a class="button" href="{}">Back to the casino</a></p>"#,
        checkout.expires_at.format("%Y-%m-%d %H:%M"),
        html_escape(&checkout.cancel_url)
    )
}

#[derive(Debug, Deserialize)]
struct CheckoutChoice {
    outcome: String,
    #[serde(default)]
    delivery: Option<String>,
}

async fn mock_checkout_submit(
    State(services): State<Services>,
    tenant: Option<axum::Extension<Tenant>>,
    Path(id): Path<String>,
    Form(choice): Form<CheckoutChoice>,
) -> Response {
    let (mock, checkout) = match find_checkout(&services, tenant.as_deref(), &id).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let now = services.now();
    if checkout.status == "open" && checkout.expires_at <= now {
        return (
            StatusCode::CONFLICT,
            Html(page("Checkout expired", &expired_body(&checkout))),
        )
            .into_response();
    }
    // The mock's own books first, like a PSP: the checkout can be completed once.
    let (status, events): (&str, &[&str]) = match choice.outcome.as_str() {
        "pay" => ("paid", &["checkout.paid"]),
        "pay_async" => ("processing", &["checkout.processing", "checkout.paid"]),
        "fail_async" => ("processing", &["checkout.processing", "checkout.failed"]),
        "decline" => ("failed", &["checkout.failed"]),
        "cancel" => ("expired", &["checkout.expired"]),
        _ => return (StatusCode::UNPROCESSABLE_ENTITY, "unknown outcome").into_response(),
    };
    let final_status = match choice.outcome.as_str() {
        "pay_async" => "paid",
        "fail_async" => "failed",
        _ => status,
    };
    match mock
        .complete_checkout(&checkout.id, final_status, now)
        .await
    {
        Ok(true) => {}
        Ok(false) => {
            return Redirect::to(&format!("/mock-psp/checkout/{}", checkout.id)).into_response();
        }
        Err(error) => return json_error(AppError::from(crate::error::ServerError::from(error))),
    }
    let mode = DeliveryMode::parse(choice.delivery.as_deref().unwrap_or("normal"));
    mock.send(
        events
            .iter()
            .map(|event| MockPsp::checkout_event(&checkout, event, now))
            .collect(),
        mode,
    );
    let target = if choice.outcome == "cancel" {
        checkout.cancel_url.clone()
    } else {
        checkout
            .success_url
            .replace("{CHECKOUT_SESSION_ID}", &checkout.id)
    };
    Redirect::to(&target).into_response()
}

/// The hosted page's HTML: no script and no inline style, so the app's CSP fits it as is. It
/// names its icon, or the browser asks for `/favicon.ico` (a 404 it reports as an error).
const MOCK_PSP_FRAME: Frame = Frame {
    brand: "Mock PSP",
    tagline: "test payments only: no real money moves",
    card_class: "card narrow",
    test_id: "mock-psp",
};

fn page(title: &str, body: &str) -> String {
    hosted::page(&MOCK_PSP_FRAME, title, body)
}
