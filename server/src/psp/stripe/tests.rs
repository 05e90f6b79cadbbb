use super::*;
use app::domain::ids::{DepositId, PlayerId, TenantId};
use serde_json::{Value, json};
use uuid::Uuid;

const EVENT: &str = include_str!("../../../tests/stripe_support/fixtures/event.json");
const SESSION: &str = include_str!("../../../tests/stripe_support/fixtures/checkout_session.json");
const PAYMENT_INTENT: &str =
    include_str!("../../../tests/stripe_support/fixtures/payment_intent.json");
const SESSION_ID: &str = "cs_test_a1YS1URlnyQCN5fUUduORoQ7Pw41PJqDWkIVQCpJPqkfIhd6tVY8XB1OLY";

/// Stripe's published event envelope around `object`, as `event_type`.
fn event(event_type: &str, object: Value) -> Vec<u8> {
    let mut event: Value = serde_json::from_str(EVENT).unwrap();
    event["type"] = event_type.into();
    event["data"]["object"] = object;
    serde_json::to_vec(&event).unwrap()
}

/// Stripe's published Checkout Session with `fields` replaced.
fn session(fields: Value) -> Value {
    let mut session: Value = serde_json::from_str(SESSION).unwrap();
    for (key, value) in fields.as_object().unwrap() {
        session[key] = value.clone();
    }
    session
}

fn checkout(body: &[u8]) -> CheckoutStatus {
    match parse_event(body).unwrap().update {
        Some(ProviderUpdate::Checkout(status)) => status,
        other => panic!("expected a checkout update, got {other:?}"),
    }
}

fn eur(minor_units: i64) -> Money {
    Money::from_minor_units(minor_units, Currency::Eur).unwrap()
}

// Proves Stripe's published event (a plan.created) parses with its id and type and is
// acknowledged without an update, as is a payment_intent.succeeded around the published
// PaymentIntent: Kasa only acts on Checkout Session events.
#[test]
fn published_events_of_unused_types_parse_without_update() {
    let plan = parse_event(EVENT.as_bytes()).unwrap();
    assert_eq!(plan.event_id, "evt_1Pgc76B7WZ01zgkWwyRHS12y");
    assert_eq!(plan.event_type, "plan.created");
    assert_eq!(plan.update, None);
    assert_eq!(plan.payload["data"]["object"]["object"], "plan");

    let intent = parse_event(&event(
        "payment_intent.succeeded",
        serde_json::from_str(PAYMENT_INTENT).unwrap(),
    ))
    .unwrap();
    assert_eq!(intent.event_type, "payment_intent.succeeded");
    assert_eq!(intent.update, None);
}

// Proves the published Checkout Session, untouched (unpaid, no total, no reference), parses
// inside a completed event: still processing, matched by session id only.
#[test]
fn published_session_parses_as_processing() {
    let status = checkout(&event(
        "checkout.session.completed",
        serde_json::from_str(SESSION).unwrap(),
    ));
    assert_eq!(
        status,
        CheckoutStatus {
            session_id: SESSION_ID.into(),
            deposit_id: None,
            outcome: CheckoutOutcome::Processing,
            amount: None,
        }
    );
}

// Proves each checkout event type maps to its outcome, with the deposit id from
// client_reference_id and the exact amount from amount_total and currency.
#[test]
fn checkout_events_map_to_outcomes() {
    let deposit_id = DepositId(Uuid::new_v4());
    let paid = session(json!({
        "client_reference_id": deposit_id.to_string(), "amount_total": 2500,
        "currency": "eur", "status": "complete", "payment_status": "paid",
    }));
    let unpaid = session(json!({
        "client_reference_id": deposit_id.to_string(), "amount_total": 2500,
        "currency": "eur", "status": "complete", "payment_status": "unpaid",
    }));
    let free = session(json!({
        "client_reference_id": deposit_id.to_string(), "amount_total": 2500,
        "currency": "eur", "status": "complete", "payment_status": "no_payment_required",
    }));
    let cases = [
        ("checkout.session.completed", &paid, CheckoutOutcome::Paid),
        ("checkout.session.completed", &free, CheckoutOutcome::Paid),
        (
            "checkout.session.completed",
            &unpaid,
            CheckoutOutcome::Processing,
        ),
        (
            "checkout.session.async_payment_succeeded",
            &paid,
            CheckoutOutcome::Paid,
        ),
        (
            "checkout.session.async_payment_failed",
            &unpaid,
            CheckoutOutcome::Failed {
                code: "async_payment_failed".into(),
                message: "The payment did not go through.".into(),
            },
        ),
        (
            "checkout.session.expired",
            &unpaid,
            CheckoutOutcome::Expired,
        ),
    ];
    for (event_type, object, outcome) in cases {
        assert_eq!(
            checkout(&event(event_type, object.clone())),
            CheckoutStatus {
                session_id: SESSION_ID.into(),
                deposit_id: Some(deposit_id),
                outcome,
                amount: Some(eur(2500)),
            },
            "{event_type} {}",
            object["payment_status"]
        );
    }
}

// Proves the deposit id falls back to metadata.deposit_id, and a reference that is not ours
// (not a UUID) leaves the match to the session id.
#[test]
fn deposit_id_comes_from_reference_or_metadata() {
    let deposit_id = DepositId(Uuid::new_v4());
    let by_metadata = session(json!({"metadata": {"deposit_id": deposit_id.to_string()}}));
    assert_eq!(
        checkout(&event("checkout.session.expired", by_metadata)).deposit_id,
        Some(deposit_id)
    );
    let foreign = session(json!({"client_reference_id": "order-17"}));
    assert_eq!(
        checkout(&event("checkout.session.expired", foreign)).deposit_id,
        None
    );
}

// Proves a zero-decimal currency is read in whole units (JPY 500 is 500, not 5.00).
#[test]
fn zero_decimal_amounts_are_exact() {
    let object = session(json!({"amount_total": 500, "currency": "jpy"}));
    assert_eq!(
        checkout(&event("checkout.session.expired", object)).amount,
        Some(Money::from_minor_units(500, Currency::Jpy).unwrap())
    );
}

// Proves sessions that are not payments (subscriptions) are acknowledged without an update.
#[test]
fn other_session_modes_are_not_deposits() {
    let object = session(json!({"mode": "subscription", "amount_total": 0, "currency": "usd"}));
    let event = parse_event(&event("checkout.session.completed", object)).unwrap();
    assert_eq!(event.update, None);
}

// Proves bodies that are not an event are refused as malformed: not JSON, no id, a checkout
// event without its session, and a total Kasa cannot represent (never captured unchecked).
#[test]
fn malformed_events_are_refused() {
    let refused = |body: &[u8]| matches!(parse_event(body), Err(WebhookError::Malformed(_)));
    assert!(refused(b"{\"id\": \"evt_1\", \"type\""));
    assert!(refused(br#"{"type": "checkout.session.completed"}"#));
    assert!(refused(br#"{"id": "", "type": "plan.created"}"#));
    assert!(refused(
        br#"{"id": "evt_1", "type": "checkout.session.completed", "data": {}}"#
    ));
    let session_without_id = session(json!({"id": null}));
    assert!(refused(&event(
        "checkout.session.expired",
        session_without_id
    )));
    let unknown_currency = session(json!({"amount_total": 2500, "currency": "xts"}));
    assert!(refused(&event(
        "checkout.session.completed",
        unknown_currency
    )));
}

// Proves a read-back session maps status and payment_status to the outcome.
#[test]
fn read_back_outcomes() {
    let outcome = |status: &str, payment_status: &str| {
        let object = session(json!({"status": status, "payment_status": payment_status}));
        serde_json::from_value::<Session>(object)
            .unwrap()
            .current_outcome()
    };
    assert_eq!(outcome("open", "unpaid"), CheckoutOutcome::Open);
    assert_eq!(outcome("complete", "paid"), CheckoutOutcome::Paid);
    assert_eq!(
        outcome("complete", "no_payment_required"),
        CheckoutOutcome::Paid
    );
    assert_eq!(outcome("complete", "unpaid"), CheckoutOutcome::Processing);
    assert_eq!(outcome("expired", "unpaid"), CheckoutOutcome::Expired);
}

fn request(amount: Money, expires_in: chrono::Duration, now: DateTime<Utc>) -> CheckoutRequest {
    CheckoutRequest {
        deposit_id: DepositId(Uuid::new_v4()),
        tenant_id: TenantId(Uuid::new_v4()),
        player_id: PlayerId(Uuid::new_v4()),
        amount,
        success_url: "https://casino.test/deposit/return?session_id={CHECKOUT_SESSION_ID}".into(),
        cancel_url: "https://casino.test/deposit/cancelled".into(),
        expires_at: now + expires_in,
        idempotency_key: "deposit:1".into(),
        description: "Deposit to Kasa".into(),
    }
}

fn field<'a>(form: &'a [(&str, String)], name: &str) -> &'a str {
    form.iter()
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.as_str())
        .unwrap_or_else(|| panic!("no field {name}"))
}

// Proves the session's expiry is sent as asked when Stripe accepts it, and otherwise moved
// inside Stripe's 30 minutes to 24 hours (with margins).
#[test]
fn expiry_stays_inside_stripes_window() {
    let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
    let expiry = |minutes: i64| {
        let form = checkout_form(
            &request(eur(2500), chrono::Duration::minutes(minutes), now),
            now,
        );
        field(&form, "expires_at").parse::<i64>().unwrap() - now.timestamp()
    };
    assert_eq!(expiry(60), 3600);
    assert_eq!(expiry(30), 31 * 60);
    assert_eq!(expiry(24 * 60), (24 * 60 - 5) * 60);
}

// Proves the webhook signature is checked on the Stripe-Signature header with the webhook
// secret: the right one passes, another secret or no header fails.
#[test]
fn webhooks_verify_with_the_webhook_secret() {
    let stripe = Stripe::new(
        "https://api.stripe.test/",
        SecretString::from("sk_test_1"),
        SecretString::from("whsec_1"),
    );
    assert_eq!(stripe.api_base, "https://api.stripe.test");
    let now = Utc::now();
    let body = EVENT.as_bytes();
    let headers = |secret: &str| {
        let mut headers = HeaderMap::new();
        let value = signature::sign(body, secret, now.timestamp());
        headers.insert(SIGNATURE_HEADER, value.parse().unwrap());
        headers
    };
    assert_eq!(
        stripe.verify_webhook(&headers("whsec_1"), body, now),
        Ok(())
    );
    assert!(matches!(
        stripe.verify_webhook(&headers("sk_test_1"), body, now),
        Err(WebhookError::Signature(_))
    ));
    assert!(matches!(
        stripe.verify_webhook(&HeaderMap::new(), body, now),
        Err(WebhookError::Signature(_))
    ));
}
