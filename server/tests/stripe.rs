//! The Stripe adapter against a fake Stripe on 127.0.0.1 (`stripe_support`), and Stripe's
//! signed webhooks through the real router: a paid checkout credits the player exactly once,
//! whatever the number and order of deliveries, and an unsigned or stale event changes nothing.

mod common;
mod stripe_support;

use app::domain::ids::{PlayerId, TenantId};
use app::domain::money::{Currency, Money};
use chrono::{DateTime, Duration, Utc};
use common::{PLAYER_EMAIL, TestApp, spawn_app_with};
use kasa_server::psp::stripe::Stripe;
use kasa_server::psp::{
    CheckoutOutcome, CheckoutRequest, CheckoutStatus, PaymentProvider, PspError, signature,
};
use rust_decimal::Decimal;
use secrecy::SecretString;
use serde_json::{Value, json};
use sqlx::PgPool;
use stripe_support::{FakeStripe, event_fixture, session_fixture};
use uuid::Uuid;

const SECRET_KEY: &str = "sk_test_kasa_fake_key";
const WEBHOOK_SECRET: &str = "whsec_kasa_fake_secret";

fn adapter(fake: &FakeStripe) -> Stripe {
    Stripe::new(
        &fake.base,
        SecretString::from(SECRET_KEY),
        SecretString::from(WEBHOOK_SECRET),
    )
}

fn checkout_request(amount: Money) -> CheckoutRequest {
    let deposit_id = app::domain::ids::DepositId(Uuid::new_v4());
    CheckoutRequest {
        deposit_id,
        tenant_id: TenantId(Uuid::new_v4()),
        player_id: PlayerId(Uuid::new_v4()),
        amount,
        success_url: format!(
            "https://casino.test/deposit/return?deposit={deposit_id}&session_id={{CHECKOUT_SESSION_ID}}"
        ),
        cancel_url: format!("https://casino.test/deposit/cancelled?deposit={deposit_id}"),
        expires_at: Utc::now() + Duration::hours(1),
        idempotency_key: format!("deposit:{deposit_id}"),
        description: "Deposit to Kasa Demo Casino".into(),
    }
}

fn money(minor_units: i64, currency: Currency) -> Money {
    Money::from_minor_units(minor_units, currency).unwrap()
}

fn sorted(mut pairs: Vec<(String, String)>) -> Vec<(String, String)> {
    pairs.sort();
    pairs
}

fn pairs(fields: &[(&str, String)]) -> Vec<(String, String)> {
    sorted(
        fields
            .iter()
            .map(|(key, value)| ((*key).to_owned(), value.clone()))
            .collect(),
    )
}

// Proves the create call for EUR 25.00 and JPY 500 is exactly Stripe's form (unit_amount 2500
// and 500 in minor units, lower-case currency, the deposit's ids, the literal
// {CHECKOUT_SESSION_ID}, the expiry in Unix seconds), with the secret key as Bearer and the
// deposit's Idempotency-Key, and that Stripe's answer becomes the checkout.
#[tokio::test]
async fn create_checkout_sends_stripes_exact_form() {
    let fake = FakeStripe::start().await;
    let stripe = adapter(&fake);
    for (amount, currency, unit_amount) in [
        (money(2500, Currency::Eur), "eur", "2500"),
        (money(500, Currency::Jpy), "jpy", "500"),
    ] {
        let request = checkout_request(amount);
        let checkout = stripe.create_checkout(&request).await.unwrap();

        let sent = fake.requests().pop().unwrap();
        assert_eq!(sent.method, "POST");
        assert_eq!(sent.path, "/v1/checkout/sessions");
        assert_eq!(
            sent.header("authorization"),
            Some(format!("Bearer {SECRET_KEY}").as_str())
        );
        assert_eq!(
            sent.header("idempotency-key"),
            Some(request.idempotency_key.as_str())
        );
        assert_eq!(
            sent.header("content-type"),
            Some("application/x-www-form-urlencoded")
        );
        assert_eq!(
            sorted(sent.form.clone()),
            pairs(&[
                ("mode", "payment".into()),
                ("line_items[0][quantity]", "1".into()),
                ("line_items[0][price_data][currency]", currency.into()),
                ("line_items[0][price_data][unit_amount]", unit_amount.into()),
                (
                    "line_items[0][price_data][product_data][name]",
                    "Deposit to Kasa Demo Casino".into()
                ),
                ("client_reference_id", request.deposit_id.to_string()),
                ("metadata[deposit_id]", request.deposit_id.to_string()),
                ("metadata[tenant_id]", request.tenant_id.to_string()),
                ("metadata[player_id]", request.player_id.to_string()),
                ("success_url", request.success_url.clone()),
                ("cancel_url", request.cancel_url.clone()),
                ("expires_at", request.expires_at.timestamp().to_string()),
            ])
        );
        assert!(
            sent.field("success_url")
                .unwrap()
                .ends_with("session_id={CHECKOUT_SESSION_ID}")
        );

        let session = fake.session(&checkout.session_id);
        assert!(checkout.session_id.starts_with("cs_test_"));
        assert_eq!(checkout.redirect_url, session["url"]);
        assert_eq!(
            checkout.expires_at,
            DateTime::from_timestamp(request.expires_at.timestamp(), 0)
        );
    }
    assert_eq!(fake.requests().len(), 2);
}

// Proves a 500 and a 429 are retried with the same Idempotency-Key and the
// same form, so the second try returns the one session; and that three failures in a row end as
// Unknown (the deposit may exist at Stripe), never as a refusal.
#[tokio::test]
async fn unanswered_creates_are_retried_with_the_same_key() {
    let fake = FakeStripe::start().await;
    let stripe = adapter(&fake);
    let request = checkout_request(money(2500, Currency::Eur));
    fake.answer_next(
        500,
        json!({"error": {"type": "api_error", "message": "Oops."}}),
    );
    fake.answer_next(429, json!({"error": {"type": "rate_limit_error"}}));
    let checkout = stripe.create_checkout(&request).await.unwrap();
    let sent = fake.requests();
    assert_eq!(sent.len(), 3);
    for retry in &sent {
        assert_eq!(
            retry.header("idempotency-key"),
            Some(request.idempotency_key.as_str())
        );
        assert_eq!(retry.form, sent[0].form);
    }
    // A retry of the whole create (the player clicks again) gets the same session back.
    assert_eq!(stripe.create_checkout(&request).await.unwrap(), checkout);

    let other = checkout_request(money(1000, Currency::Eur));
    for _ in 0..3 {
        fake.answer_next(503, json!({}));
    }
    let error = stripe.create_checkout(&other).await.unwrap_err();
    assert!(matches!(error, PspError::Unknown { .. }), "{error:?}");
    assert_eq!(fake.requests().len(), 4 + 3);
}

// Proves a Stripe 400 error answer is a refusal with Stripe's code and message, sent once
// (a definite answer is not retried).
#[tokio::test]
async fn a_stripe_error_answer_is_a_refusal() {
    let fake = FakeStripe::start().await;
    let stripe = adapter(&fake);
    fake.answer_next(400, amount_too_small());
    let error = stripe
        .create_checkout(&checkout_request(money(10, Currency::Eur)))
        .await
        .unwrap_err();
    assert_eq!(
        error,
        PspError::Rejected {
            provider: "stripe".into(),
            code: "amount_too_small".into(),
            message: "Amount must be at least €0.50 eur".into(),
        }
    );
    assert_eq!(fake.requests().len(), 1);
}

fn amount_too_small() -> Value {
    json!({"error": {
        "type": "invalid_request_error",
        "code": "amount_too_small",
        "message": "Amount must be at least €0.50 eur",
        "param": "line_items[0][price_data][unit_amount]",
    }})
}

// Proves a read-back session maps to the checkout's state (open, paid with its exact amount
// and deposit id, processing, expired) and an unknown session is NotFound.
#[tokio::test]
async fn read_checkout_reports_the_sessions_state() {
    let fake = FakeStripe::start().await;
    let stripe = adapter(&fake);
    let request = checkout_request(money(2500, Currency::Eur));
    let checkout = stripe.create_checkout(&request).await.unwrap();
    let read = |fields: Value| {
        fake.update_session(&checkout.session_id, fields);
        stripe.read_checkout(&checkout.session_id)
    };
    let status = |outcome| CheckoutStatus {
        session_id: checkout.session_id.clone(),
        deposit_id: Some(request.deposit_id),
        outcome,
        amount: Some(request.amount),
    };
    assert_eq!(
        read(json!({})).await.unwrap(),
        status(CheckoutOutcome::Open)
    );
    assert_eq!(
        read(json!({"status": "complete", "payment_status": "unpaid"}))
            .await
            .unwrap(),
        status(CheckoutOutcome::Processing)
    );
    assert_eq!(
        read(json!({"status": "complete", "payment_status": "paid"}))
            .await
            .unwrap(),
        status(CheckoutOutcome::Paid)
    );
    assert_eq!(
        read(json!({"status": "expired", "payment_status": "unpaid"}))
            .await
            .unwrap(),
        status(CheckoutOutcome::Expired)
    );
    let read_back = fake.requests().pop().unwrap();
    assert_eq!(read_back.method, "GET");
    assert_eq!(
        read_back.path,
        format!("/v1/checkout/sessions/{}", checkout.session_id)
    );
    assert_eq!(
        read_back.header("authorization"),
        Some(format!("Bearer {SECRET_KEY}").as_str())
    );
    assert!(matches!(
        stripe.read_checkout("cs_test_missing").await,
        Err(PspError::NotFound { .. })
    ));
    assert!(matches!(
        stripe.read_checkout("../v1/customers").await,
        Err(PspError::NotFound { .. })
    ));
}

/// The app with Stripe enabled against `fake`, and the time just before it was spawned (its
/// clock starts at the real time when spawned and is never advanced here).
async fn stripe_app(pool: PgPool, fake: &FakeStripe) -> (TestApp, DateTime<Utc>) {
    let before = Utc::now();
    let app = spawn_app_with(
        pool,
        &[
            ("KASA_STRIPE_SECRET_KEY", SECRET_KEY),
            ("KASA_STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET),
            ("KASA_STRIPE_API_BASE", &fake.base),
        ],
    )
    .await;
    (app, before)
}

/// A deposit of `amount` EUR by the demo player through Stripe.
async fn start_deposit(app: &TestApp, cookie: &str, amount: &str, key: &str) -> common::Reply {
    let form = [
        ("amount", amount),
        ("currency", "EUR"),
        ("provider", "stripe"),
        ("idempotency_key", key),
    ];
    app.call("deposits/start", &form, Some(cookie)).await
}

#[derive(Debug, sqlx::FromRow)]
struct DepositRow {
    id: Uuid,
    tenant_id: TenantId,
    player_id: PlayerId,
    state: String,
    provider_session_id: Option<String>,
    failure_code: Option<String>,
    failure_message: Option<String>,
}

async fn deposit(pool: &PgPool, id: Uuid) -> DepositRow {
    sqlx::query_as(
        "SELECT id, tenant_id, player_id, state, provider_session_id, failure_code,
                failure_message
           FROM deposits WHERE id = $1",
    )
    .bind(id)
    .fetch_one(pool)
    .await
    .unwrap()
}

/// Starts a 25.00 EUR deposit and returns its row (pending, with its Stripe session).
async fn pending_deposit(app: &TestApp, cookie: &str, key: &str) -> DepositRow {
    let reply = start_deposit(app, cookie, "25.00", key).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let id: Uuid = reply.json["deposit_id"].as_str().unwrap().parse().unwrap();
    let row = deposit(&app.pool, id).await;
    assert_eq!(row.state, "pending");
    row
}

/// The session Stripe would send in an event about `deposit`, with `fields` on top.
fn session_of(deposit: &DepositRow, fields: Value) -> Value {
    let mut session = session_fixture(&json!({
        "id": deposit.provider_session_id.as_deref().unwrap(),
        "client_reference_id": deposit.id.to_string(),
        "amount_total": 2500,
        "currency": "eur",
        "status": "complete",
        "payment_status": "paid",
    }));
    for (key, value) in fields.as_object().unwrap() {
        session[key] = value.clone();
    }
    session
}

/// Delivers `body` to the Stripe webhook endpoint with `signature` as `Stripe-Signature`.
async fn deliver(app: &TestApp, body: &[u8], signature: Option<String>) -> common::Reply {
    let mut request = app
        .http
        .post(format!("{}/api/v1/payments/webhook/stripe", app.base))
        .header("content-type", "application/json")
        .body(body.to_vec());
    if let Some(signature) = signature {
        request = request.header("stripe-signature", signature);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let json = response.json().await.unwrap_or(Value::Null);
    common::Reply {
        status,
        json,
        headers,
    }
}

/// Signs `event` now (the app's clock runs with the real one) and delivers it.
async fn deliver_signed(app: &TestApp, event: &Value) -> common::Reply {
    let body = serde_json::to_vec(event).unwrap();
    let header = signature::sign(&body, WEBHOOK_SECRET, Utc::now().timestamp());
    deliver(app, &body, Some(header)).await
}

async fn available(app: &TestApp, deposit: &DepositRow) -> Decimal {
    kasa_server::ledger::player_balances(&app.pool, deposit.tenant_id, deposit.player_id)
        .await
        .unwrap()
        .into_iter()
        .find(|balance| balance.currency == Currency::Eur)
        .map(|balance| balance.available.amount())
        .unwrap_or_default()
}

async fn capture_journals(app: &TestApp, deposit: &DepositRow) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM ledger_journals WHERE kind = 'deposit_capture' AND reference = $1",
    )
    .bind(format!("deposit:{}", deposit.id))
    .fetch_one(&app.pool)
    .await
    .unwrap()
}

/// The stored event's status and delivery count.
async fn stored_event(app: &TestApp, event: &Value) -> (String, i32) {
    sqlx::query_as(
        "SELECT status, deliveries FROM psp_webhook_events
          WHERE provider = 'stripe' AND event_id = $1",
    )
    .bind(event["id"].as_str().unwrap())
    .fetch_one(&app.pool)
    .await
    .unwrap()
}

async fn assert_ledger_whole(pool: &PgPool) {
    let report = kasa_server::ledger::check_integrity(pool, None)
        .await
        .unwrap();
    assert!(report.ok, "{report:?}");
}

// Proves Stripe's refusal of a create, through deposits/start: the deposit ends failed with
// Stripe's code and message, and the player gets provider_unavailable saying why.
#[sqlx::test(migrations = "../migrations")]
async fn a_refused_checkout_fails_the_deposit(pool: PgPool) {
    let fake = FakeStripe::start().await;
    let (app, _) = stripe_app(pool.clone(), &fake).await;
    let player = app.log_in("auth/login", PLAYER_EMAIL).await;
    fake.answer_next(400, amount_too_small());

    let reply = start_deposit(&app, &player, "25.00", "refused-1").await;
    assert_eq!(reply.status, 503, "{reply:?}");
    assert_eq!(reply.code(), "provider_unavailable");
    assert_eq!(
        reply.json["message"],
        "The payment provider refused the deposit: Amount must be at least €0.50 eur"
    );
    let id: Uuid =
        sqlx::query_scalar("SELECT id FROM deposits WHERE idempotency_key = 'refused-1'")
            .fetch_one(&pool)
            .await
            .unwrap();
    let row = deposit(&pool, id).await;
    assert_eq!(row.state, "failed");
    assert_eq!(row.failure_code.as_deref(), Some("amount_too_small"));
    assert_eq!(
        row.failure_message.as_deref(),
        Some("Amount must be at least €0.50 eur")
    );
    assert_eq!(row.provider_session_id, None);
    assert_eq!(app.count("SELECT count(*) FROM ledger_journals").await, 0);
    assert_ledger_whole(&pool).await;
}

// Proves the whole Stripe deposit: the player sees "Card (Stripe)", deposits/start creates the
// session at Stripe (redirect to its URL, expiry moved inside Stripe's window), and a signed
// checkout.session.completed with payment_status=paid credits 25.00 EUR once: deposit captured,
// one deposit_capture journal, the event stored as applied.
#[sqlx::test(migrations = "../migrations")]
async fn a_paid_checkout_credits_the_player(pool: PgPool) {
    let fake = FakeStripe::start().await;
    let (app, _) = stripe_app(pool.clone(), &fake).await;
    let player = app.log_in("auth/login", PLAYER_EMAIL).await;
    let options = app.call("deposits/options", &[], Some(&player)).await;
    assert!(
        options.json["providers"]
            .as_array()
            .unwrap()
            .contains(&json!({"name": "stripe", "display_name": "Card (Stripe)"})),
        "{options:?}"
    );

    let reply = start_deposit(&app, &player, "25.00", "paid-1").await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let id: Uuid = reply.json["deposit_id"].as_str().unwrap().parse().unwrap();
    let row = deposit(&pool, id).await;
    assert_eq!(row.state, "pending");
    let session_id = row.provider_session_id.clone().unwrap();
    assert_eq!(reply.json["redirect_url"], fake.session(&session_id)["url"]);
    let created = fake.requests().pop().unwrap();
    assert_eq!(
        created.header("idempotency-key"),
        Some(format!("deposit:{id}").as_str())
    );
    assert_eq!(
        created.field("line_items[0][price_data][unit_amount]"),
        Some("2500")
    );
    assert_eq!(
        created.field("client_reference_id"),
        Some(id.to_string().as_str())
    );
    // The default 30-minute expiry is on Stripe's minimum; the adapter sends 31 minutes.
    let expires_at: i64 = created.field("expires_at").unwrap().parse().unwrap();
    let lifetime = expires_at - Utc::now().timestamp();
    assert!((30 * 60..=31 * 60).contains(&lifetime), "{lifetime}");

    let event = event_fixture("checkout.session.completed", session_of(&row, json!({})));
    let ack = deliver_signed(&app, &event).await;
    assert_eq!(ack.status, 200, "{ack:?}");
    assert_eq!(ack.json["status"], "applied");

    assert_eq!(available(&app, &row).await, Decimal::new(2500, 2));
    assert_eq!(deposit(&pool, id).await.state, "captured");
    assert_eq!(capture_journals(&app, &row).await, 1);
    assert_eq!(stored_event(&app, &event).await, ("applied".into(), 1));
    assert_ledger_whole(&pool).await;
}

// Proves a capture needs Stripe's amount and currency: a signed "completed, paid" event whose
// session lacks amount_total or currency is stored as a failed apply (answered 500), the deposit
// stays pending and nothing is credited; the same session with its total then captures.
#[sqlx::test(migrations = "../migrations")]
async fn a_payment_without_its_amount_is_not_captured(pool: PgPool) {
    let fake = FakeStripe::start().await;
    let (app, _) = stripe_app(pool.clone(), &fake).await;
    let player = app.log_in("auth/login", PLAYER_EMAIL).await;
    let row = pending_deposit(&app, &player, "no-amount-1").await;

    for (case, fields) in [
        ("no amount_total", json!({"amount_total": null})),
        ("no currency", json!({"currency": null})),
        ("neither", json!({"amount_total": null, "currency": null})),
    ] {
        let event = event_fixture("checkout.session.completed", session_of(&row, fields));
        let reply = deliver_signed(&app, &event).await;
        assert_eq!(reply.status, 500, "{case}: stored, not applied: {reply:?}");
        assert_eq!(stored_event(&app, &event).await.0, "failed", "{case}");
        assert_eq!(deposit(&pool, row.id).await.state, "pending", "{case}");
    }
    assert_eq!(available(&app, &row).await, Decimal::ZERO);
    assert_eq!(capture_journals(&app, &row).await, 0);

    let whole = event_fixture("checkout.session.completed", session_of(&row, json!({})));
    let reply = deliver_signed(&app, &whole).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(available(&app, &row).await, Decimal::new(2500, 2));
    assert_eq!(capture_journals(&app, &row).await, 1);
    assert_ledger_whole(&pool).await;
}

// Proves one event delivered ten times (five of them at once) credits once: one journal, one
// stored event with deliveries = 10, every delivery answered 200.
#[sqlx::test(migrations = "../migrations")]
async fn a_replayed_event_credits_once(pool: PgPool) {
    let fake = FakeStripe::start().await;
    let (app, _) = stripe_app(pool.clone(), &fake).await;
    let player = app.log_in("auth/login", PLAYER_EMAIL).await;
    let row = pending_deposit(&app, &player, "replay-1").await;
    let event = event_fixture("checkout.session.completed", session_of(&row, json!({})));

    let concurrent = futures::future::join_all((0..5).map(|_| deliver_signed(&app, &event))).await;
    let mut replies = concurrent;
    for _ in 0..5 {
        replies.push(deliver_signed(&app, &event).await);
    }
    for reply in &replies {
        assert_eq!(reply.status, 200, "{reply:?}");
        assert_eq!(reply.json["status"], "applied");
    }
    assert_eq!(
        replies
            .iter()
            .filter(|reply| reply.json["duplicate"] == false)
            .count(),
        1
    );

    assert_eq!(available(&app, &row).await, Decimal::new(2500, 2));
    assert_eq!(capture_journals(&app, &row).await, 1);
    assert_eq!(stored_event(&app, &event).await, ("applied".into(), 10));
    assert_eq!(
        app.count("SELECT count(*) FROM psp_webhook_events").await,
        1
    );
    assert_ledger_whole(&pool).await;
}

// Proves every order of {completed but unpaid, async_payment_succeeded, expired} ends in the
// same state, captured with one credit: Stripe reporting the money as received captures even
// after an expiry was applied (apply_checkout_status), and nothing moves a captured deposit.
#[sqlx::test(migrations = "../migrations")]
async fn every_order_of_async_events_captures_once(pool: PgPool) {
    let fake = FakeStripe::start().await;
    let (app, _) = stripe_app(pool.clone(), &fake).await;
    let player = app.log_in("auth/login", PLAYER_EMAIL).await;
    const ORDERS: [[usize; 3]; 6] = [
        [0, 1, 2],
        [0, 2, 1],
        [1, 0, 2],
        [1, 2, 0],
        [2, 0, 1],
        [2, 1, 0],
    ];
    for (index, order) in ORDERS.iter().enumerate() {
        let row = pending_deposit(&app, &player, &format!("order-{index}")).await;
        let events = [
            event_fixture(
                "checkout.session.completed",
                session_of(&row, json!({"payment_status": "unpaid"})),
            ),
            event_fixture(
                "checkout.session.async_payment_succeeded",
                session_of(&row, json!({})),
            ),
            event_fixture(
                "checkout.session.expired",
                session_of(
                    &row,
                    json!({"status": "expired", "payment_status": "unpaid"}),
                ),
            ),
        ];
        for &which in order {
            let ack = deliver_signed(&app, &events[which]).await;
            assert_eq!(ack.status, 200, "order {order:?}: {ack:?}");
        }
        let after = deposit(&pool, row.id).await;
        assert_eq!(after.state, "captured", "order {order:?}");
        assert_eq!(capture_journals(&app, &row).await, 1, "order {order:?}");
        for event in &events {
            let (status, _) = stored_event(&app, event).await;
            assert!(
                status == "applied" || status == "ignored",
                "order {order:?}: {status}"
            );
        }
        assert_eq!(
            available(&app, &row).await,
            Decimal::new(2500 * (index as i64 + 1), 2),
            "order {order:?}"
        );
    }
    assert_ledger_whole(&pool).await;
}

// Proves a webhook signed with another secret, signed 301 s before the app's clock, truncated
// after signing, or without Stripe-Signature is refused with 400 signature_invalid, and
// nothing is stored or credited.
#[sqlx::test(migrations = "../migrations")]
async fn unverified_webhooks_change_nothing(pool: PgPool) {
    let fake = FakeStripe::start().await;
    let (app, spawned_after) = stripe_app(pool.clone(), &fake).await;
    let player = app.log_in("auth/login", PLAYER_EMAIL).await;
    let row = pending_deposit(&app, &player, "unsigned-1").await;
    let event = event_fixture("checkout.session.completed", session_of(&row, json!({})));
    let body = serde_json::to_vec(&event).unwrap();
    let now = Utc::now().timestamp();
    // The app's clock started at or after `spawned_after`: 301 s before that is out of tolerance.
    let stale = spawned_after.timestamp() - 301;
    let attempts: [(&[u8], Option<String>); 4] = [
        (
            &body,
            Some(signature::sign(&body, "whsec_someone_else", now)),
        ),
        (&body, Some(signature::sign(&body, WEBHOOK_SECRET, stale))),
        (
            &body[..body.len() - 10],
            Some(signature::sign(&body, WEBHOOK_SECRET, now)),
        ),
        (&body, None),
    ];
    for (body, header) in attempts {
        let reply = deliver(&app, body, header.clone()).await;
        assert_eq!(reply.status, 400, "{header:?}: {reply:?}");
        assert_eq!(reply.code(), "signature_invalid");
    }
    assert_eq!(
        app.count("SELECT count(*) FROM psp_webhook_events").await,
        0
    );
    assert_eq!(deposit(&pool, row.id).await.state, "pending");
    assert_eq!(available(&app, &row).await, Decimal::ZERO);
    assert_eq!(app.count("SELECT count(*) FROM ledger_journals").await, 0);
    assert_ledger_whole(&pool).await;
}

// Proves an event type Kasa does not use (payment_intent.succeeded) is answered 200 and stored
// as ignored, and a paid checkout for a session and deposit Kasa does not know is answered 200
// and stored as unmatched; neither moves money or a deposit.
#[sqlx::test(migrations = "../migrations")]
async fn unused_and_unknown_events_are_acknowledged(pool: PgPool) {
    let fake = FakeStripe::start().await;
    let (app, _) = stripe_app(pool.clone(), &fake).await;
    let player = app.log_in("auth/login", PLAYER_EMAIL).await;
    let row = pending_deposit(&app, &player, "unused-1").await;

    let intent: Value = serde_json::from_str(stripe_support::PAYMENT_INTENT_FIXTURE).unwrap();
    let unused = event_fixture("payment_intent.succeeded", intent);
    let ack = deliver_signed(&app, &unused).await;
    assert_eq!(ack.status, 200, "{ack:?}");
    assert_eq!(stored_event(&app, &unused).await, ("ignored".into(), 1));

    let pending_id = row.id;
    let stranger = DepositRow {
        id: Uuid::new_v4(),
        provider_session_id: Some("cs_test_not_ours".into()),
        ..row
    };
    let unknown = event_fixture(
        "checkout.session.completed",
        session_of(&stranger, json!({})),
    );
    let ack = deliver_signed(&app, &unknown).await;
    assert_eq!(ack.status, 200, "{ack:?}");
    assert_eq!(stored_event(&app, &unknown).await, ("unmatched".into(), 1));

    assert_eq!(deposit(&pool, pending_id).await.state, "pending");
    assert_eq!(app.count("SELECT count(*) FROM ledger_journals").await, 0);
    assert_ledger_whole(&pool).await;
}
