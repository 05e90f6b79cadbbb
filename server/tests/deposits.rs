//! Deposits through the mock PSP and the webhook pipeline: the state machine, exactly-once
//! credit whatever the delivery order, idempotent creation, bad input, and no mock PSP in
//! production.

mod common;

use std::time::Duration as StdDuration;

use common::{
    DEMO_PASSWORD, PLAYER_EMAIL, Reply, SECOND_PLAYER_EMAIL, TestApp, spawn_app, spawn_app_with,
};
use kasa_server::psp::signature;
use serde_json::json;
use sqlx::PgPool;

/// Starts a mock PSP deposit and returns (deposit id, redirect URL).
async fn start(app: &TestApp, cookie: &str, amount: &str, key: &str) -> (String, String) {
    let reply = start_reply(app, cookie, amount, "EUR", "mock", key).await;
    assert_eq!(reply.status, 200, "deposit start failed: {reply:?}");
    (
        reply.json["deposit_id"].as_str().unwrap().to_owned(),
        reply.json["redirect_url"].as_str().unwrap().to_owned(),
    )
}

async fn start_reply(
    app: &TestApp,
    cookie: &str,
    amount: &str,
    currency: &str,
    provider: &str,
    key: &str,
) -> Reply {
    app.call(
        "deposits/start",
        &[
            ("amount", amount),
            ("currency", currency),
            ("provider", provider),
            ("idempotency_key", key),
        ],
        Some(cookie),
    )
    .await
}

/// Submits the mock PSP's hosted page; returns where it redirects the browser.
async fn choose(app: &TestApp, redirect_url: &str, outcome: &str, delivery: &str) -> String {
    let response = app
        .http
        .post(format!("{}{redirect_url}", app.base))
        .form(&[("outcome", outcome), ("delivery", delivery)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 303, "the mock page redirects");
    response.headers()["location"].to_str().unwrap().to_owned()
}

async fn deposit_state(app: &TestApp, cookie: &str, id: &str) -> String {
    let reply = app
        .call("deposits/status", &[("deposit_id", id)], Some(cookie))
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    reply.json["state"].as_str().unwrap().to_owned()
}

/// Waits (the mock delivers its webhooks in the background) until the deposit reaches `state`.
async fn wait_for_state(app: &TestApp, cookie: &str, id: &str, state: &str) {
    for _ in 0..100 {
        if deposit_state(app, cookie, id).await == state {
            return;
        }
        tokio::time::sleep(StdDuration::from_millis(100)).await;
    }
    panic!(
        "deposit {id} never reached {state}; it is {}",
        deposit_state(app, cookie, id).await
    );
}

/// Waits until `events` events are applied (or ignored) after `deliveries` deliveries in all.
async fn wait_for_quiet(app: &TestApp, events: i64, deliveries_expected: i64) {
    for _ in 0..100 {
        let done = app
            .count("SELECT count(*) FROM psp_webhook_events WHERE status IN ('applied', 'ignored')")
            .await;
        let deliveries = app
            .count("SELECT COALESCE(sum(deliveries), 0)::bigint FROM psp_webhook_events")
            .await;
        if done == events && deliveries == deliveries_expected {
            return;
        }
        tokio::time::sleep(StdDuration::from_millis(100)).await;
    }
    panic!("webhook events did not settle");
}

async fn available(app: &TestApp, cookie: &str) -> String {
    let reply = app.call("wallet/balances", &[], Some(cookie)).await;
    reply
        .json
        .as_array()
        .unwrap()
        .iter()
        .find(|balance| balance["currency"] == "EUR")
        .map(|balance| balance["available"]["amount"].as_str().unwrap().to_owned())
        .unwrap_or_else(|| "0.00".to_owned())
}

async fn capture_journals(app: &TestApp, deposit_id: &str) -> i64 {
    app.count(&format!(
        "SELECT count(*) FROM ledger_journals WHERE kind = 'deposit_capture' AND reference = 'deposit:{deposit_id}'"
    ))
    .await
}

async fn assert_integrity(pool: &PgPool) {
    let report = kasa_server::ledger::check_integrity(pool, None)
        .await
        .unwrap();
    assert!(report.ok, "integrity violations: {:?}", report.violations);
}

// Proves the happy path: the hosted page's Pay sends a signed webhook that captures the deposit
// once, credits the player's cash from the mock's clearing account, and marks the event applied.
#[sqlx::test(migrations = "../migrations")]
async fn mock_payment_captures_once(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let cookie = app.log_in("auth/login", PLAYER_EMAIL).await;
    let (id, redirect) = start(&app, &cookie, "25.00", "key-1").await;
    assert!(
        redirect.starts_with("/mock-psp/checkout/mcs_"),
        "{redirect}"
    );
    assert_eq!(deposit_state(&app, &cookie, &id).await, "pending");

    let page = app
        .http
        .get(format!("{}{redirect}", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status().as_u16(), 200);
    assert!(page.text().await.unwrap().contains("25.00 EUR"));

    let back = choose(&app, &redirect, "pay", "normal").await;
    assert!(
        back.contains(&format!("/deposit/return?deposit={id}")),
        "{back}"
    );
    assert!(
        !back.contains("{CHECKOUT_SESSION_ID}"),
        "the session id is filled in: {back}"
    );
    wait_for_state(&app, &cookie, &id, "captured").await;
    assert_eq!(available(&app, &cookie).await, "25.00");
    assert_eq!(capture_journals(&app, &id).await, 1);
    assert_eq!(
        app.count(
            "SELECT count(*) FROM psp_webhook_events WHERE provider = 'mock' AND status = 'applied'"
        )
        .await,
        1
    );
    let clearing: i64 = sqlx::query_scalar(
        "SELECT balance_minor FROM ledger_account_balances
          WHERE kind = 'psp_clearing' AND provider = 'mock' AND currency = 'EUR'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        clearing, -2500,
        "the clearing account owes what the player received"
    );
    // The page cannot be paid twice.
    let again = app
        .http
        .post(format!("{}{redirect}", app.base))
        .form(&[("outcome", "pay")])
        .send()
        .await
        .unwrap();
    assert_eq!(again.headers()["location"], redirect.as_str());
    assert_eq!(capture_journals(&app, &id).await, 1);
    assert_integrity(&pool).await;
}

// Proves duplicated and reordered deliveries end in the state of one clean delivery: one credit.
#[sqlx::test(migrations = "../migrations")]
async fn duplicated_and_reordered_webhooks_credit_once(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let cookie = app.log_in("auth/login", PLAYER_EMAIL).await;
    let (first, redirect) = start(&app, &cookie, "10.00", "dup").await;
    choose(&app, &redirect, "pay", "duplicate").await;
    wait_for_state(&app, &cookie, &first, "captured").await;
    let (second, redirect) = start(&app, &cookie, "5.00", "reorder").await;
    // processing then paid, delivered paid first: the late "processing" changes nothing.
    choose(&app, &redirect, "pay_async", "reorder").await;
    wait_for_state(&app, &cookie, &second, "captured").await;
    wait_for_quiet(&app, 3, 5).await;
    assert_eq!(
        app.count("SELECT COALESCE(sum(deliveries), 0)::bigint FROM psp_webhook_events")
            .await,
        5,
        "3 deliveries of one event plus 2 events"
    );
    assert_eq!(capture_journals(&app, &first).await, 1);
    assert_eq!(capture_journals(&app, &second).await, 1);
    assert_eq!(available(&app, &cookie).await, "15.00");
    assert_eq!(deposit_state(&app, &cookie, &second).await, "captured");
    assert_integrity(&pool).await;
}

// Proves a declined payment fails the deposit, a cancelled checkout expires it and returns to the
// cancel page, and neither credits anything.
#[sqlx::test(migrations = "../migrations")]
async fn decline_and_cancel_credit_nothing(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let cookie = app.log_in("auth/login", PLAYER_EMAIL).await;
    let (declined, redirect) = start(&app, &cookie, "30.00", "decline").await;
    choose(&app, &redirect, "decline", "normal").await;
    wait_for_state(&app, &cookie, &declined, "failed").await;
    let reply = app
        .call(
            "deposits/status",
            &[("deposit_id", &declined)],
            Some(&cookie),
        )
        .await;
    assert_eq!(reply.json["failure_message"], "The card was declined.");

    let (cancelled, redirect) = start(&app, &cookie, "40.00", "cancel").await;
    let back = choose(&app, &redirect, "cancel", "normal").await;
    assert!(
        back.contains(&format!("/deposit/cancelled?deposit={cancelled}")),
        "{back}"
    );
    wait_for_state(&app, &cookie, &cancelled, "expired").await;

    let (async_failed, redirect) = start(&app, &cookie, "50.00", "async-fail").await;
    choose(&app, &redirect, "fail_async", "normal").await;
    wait_for_state(&app, &cookie, &async_failed, "failed").await;

    assert_eq!(available(&app, &cookie).await, "0.00");
    assert_eq!(app.count("SELECT count(*) FROM ledger_journals").await, 0);
    assert_integrity(&pool).await;
}

// Proves the per-click key: a double click (two concurrent calls, one key) makes one deposit and
// one checkout, and the same key with another amount is refused with 409 and changes nothing.
#[sqlx::test(migrations = "../migrations")]
async fn one_key_one_deposit(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let cookie = app.log_in("auth/login", PLAYER_EMAIL).await;
    let (a, b) = tokio::join!(
        start_reply(&app, &cookie, "12.00", "EUR", "mock", "click-1"),
        start_reply(&app, &cookie, "12.00", "EUR", "mock", "click-1"),
    );
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(b.status, 200, "{b:?}");
    assert_eq!(a.json["deposit_id"], b.json["deposit_id"]);
    assert_eq!(a.json["redirect_url"], b.json["redirect_url"]);
    assert_eq!(app.count("SELECT count(*) FROM deposits").await, 1);
    assert_eq!(
        app.count("SELECT count(*) FROM mock_psp_checkouts").await,
        1
    );

    let reused = start_reply(&app, &cookie, "13.00", "EUR", "mock", "click-1").await;
    assert_eq!(reused.status, 409);
    assert_eq!(reused.code(), "idempotency_key_reused");
    assert_eq!(app.count("SELECT count(*) FROM deposits").await, 1);
}

// Proves every kind of bad deposit input gets a clear, stable error and writes nothing.
#[sqlx::test(migrations = "../migrations")]
async fn bad_deposit_input_is_refused(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let cookie = app.log_in("auth/login", PLAYER_EMAIL).await;
    for (amount, currency, provider, code) in [
        ("0", "EUR", "mock", "invalid_amount"),
        ("-5.00", "EUR", "mock", "invalid_amount"),
        ("1.001", "EUR", "mock", "invalid_amount"),
        ("10.5", "JPY", "mock", "invalid_amount"),
        ("100000.01", "EUR", "mock", "invalid_amount"),
        ("abc", "EUR", "mock", "invalid_amount"),
        ("10.00", "XXX", "mock", "invalid_input"),
        ("10.00", "CHF", "mock", "invalid_input"),
        ("10.00", "EUR", "paypal", "invalid_input"),
        ("10.00", "EUR", "stripe", "invalid_input"),
    ] {
        let reply = start_reply(&app, &cookie, amount, currency, provider, "bad").await;
        assert_eq!(
            reply.status, 422,
            "{amount} {currency} {provider}: {reply:?}"
        );
        assert_eq!(reply.code(), code, "{amount} {currency} {provider}");
    }
    let no_key = start_reply(&app, &cookie, "10.00", "EUR", "mock", " ").await;
    assert_eq!(no_key.status, 422);
    assert_eq!(app.count("SELECT count(*) FROM deposits").await, 0);
    assert_eq!(
        app.count("SELECT count(*) FROM mock_psp_checkouts").await,
        0
    );
}

// Proves who may see a deposit: its player only; another player, another tenant's player,
// staff and anonymous callers get 404/403/401 and learn nothing.
#[sqlx::test(migrations = "../migrations")]
async fn deposits_are_private(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let cookie = app.log_in("auth/login", PLAYER_EMAIL).await;
    let (id, _) = start(&app, &cookie, "20.00", "mine").await;

    let other = app
        .call(
            "auth/register",
            &[
                ("email", "other@demo.kasa.test"),
                ("display_name", "Other"),
                ("password", DEMO_PASSWORD),
            ],
            None,
        )
        .await
        .session_cookie()
        .unwrap();
    let reply = app
        .call("deposits/status", &[("deposit_id", &id)], Some(&other))
        .await;
    assert_eq!((reply.status, reply.code()), (404, "not_found"));

    let second_tenant = app
        .call_as(
            "auth/login",
            &[("email", SECOND_PLAYER_EMAIL), ("password", DEMO_PASSWORD)],
            None,
            Some(&format!("http://second.localhost:{}", app.port)),
            Some(&format!("second.localhost:{}", app.port)),
        )
        .await
        .session_cookie()
        .unwrap();
    let reply = app
        .call_as(
            "deposits/status",
            &[("deposit_id", &id)],
            Some(&second_tenant),
            Some(&format!("http://second.localhost:{}", app.port)),
            Some(&format!("second.localhost:{}", app.port)),
        )
        .await;
    assert_eq!((reply.status, reply.code()), (404, "not_found"));

    let unknown = app
        .call(
            "deposits/status",
            &[("deposit_id", &uuid::Uuid::new_v4().to_string())],
            Some(&cookie),
        )
        .await;
    assert_eq!(unknown.status, 404);
    let staff = app.log_in("admin/login", "support@demo.kasa.test").await;
    let reply = app
        .call("deposits/status", &[("deposit_id", &id)], Some(&staff))
        .await;
    assert_eq!(reply.status, 403);
    let reply = app
        .call("deposits/status", &[("deposit_id", &id)], None)
        .await;
    assert_eq!(reply.status, 401);
    let reply = app
        .call(
            "deposits/start",
            &[
                ("amount", "1.00"),
                ("currency", "EUR"),
                ("provider", "mock"),
                ("idempotency_key", "x"),
            ],
            None,
        )
        .await;
    assert_eq!(reply.status, 401);
    assert_eq!(app.count("SELECT count(*) FROM deposits").await, 1);
}

/// A mock webhook event about `checkout`, as the mock PSP would build it.
fn mock_event(
    event_id: &str,
    event_type: &str,
    checkout: &str,
    deposit: &str,
    amount_minor: i64,
) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "id": event_id,
        "type": event_type,
        "created": chrono::Utc::now().timestamp(),
        "data": {"object": {
            "object": "checkout", "id": checkout, "deposit_id": deposit,
            "amount_minor": amount_minor, "currency": "EUR",
        }}
    }))
    .unwrap()
}

async fn post_webhook(
    app: &TestApp,
    provider: &str,
    body: &[u8],
    signature: Option<String>,
) -> Reply {
    let mut request = app
        .http
        .post(format!("{}/api/v1/payments/webhook/{provider}", app.base))
        .header("content-type", "application/json")
        .body(body.to_vec());
    if let Some(signature) = signature {
        request = request.header("kasa-mock-signature", signature);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let json = response.json().await.unwrap_or_default();
    Reply {
        status,
        json,
        headers,
    }
}

const MOCK_SECRET: &str = "kasa-development-mock-psp-secret";

// Proves the webhook endpoint verifies before it stores: a bad signature, a stale timestamp, a
// tampered body and a missing header are 400 and store nothing; a good one applies; a replay is
// acknowledged and changes nothing; an event for an unknown deposit is kept as unmatched, and a
// mismatched amount is never captured.
#[sqlx::test(migrations = "../migrations")]
async fn webhook_endpoint_verifies_then_applies_once(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let cookie = app.log_in("auth/login", PLAYER_EMAIL).await;
    let (id, redirect) = start(&app, &cookie, "7.00", "hook").await;
    let checkout = redirect.rsplit('/').next().unwrap().to_owned();
    let now = app.now().timestamp();
    let body = mock_event("mevt_1", "checkout.paid", &checkout, &id, 700);

    for (signature, case) in [
        (
            Some(signature::sign(&body, "wrong-secret", now)),
            "wrong secret",
        ),
        (
            Some(signature::sign(&body, MOCK_SECRET, now - 301)),
            "301 s old",
        ),
        (None, "no header"),
    ] {
        let reply = post_webhook(&app, "mock", &body, signature).await;
        assert_eq!(
            (reply.status, reply.code()),
            (400, "signature_invalid"),
            "{case}"
        );
    }
    let truncated = &body[..body.len() - 5];
    let reply = post_webhook(
        &app,
        "mock",
        truncated,
        Some(signature::sign(&body, MOCK_SECRET, now)),
    )
    .await;
    assert_eq!(
        reply.status, 400,
        "a truncated body does not match its signature"
    );
    let reply = post_webhook(
        &app,
        "mock",
        truncated,
        Some(signature::sign(truncated, MOCK_SECRET, now)),
    )
    .await;
    assert_eq!(
        (reply.status, reply.code()),
        (400, "signature_invalid"),
        "signed but not JSON"
    );
    assert_eq!(
        app.count("SELECT count(*) FROM psp_webhook_events").await,
        0
    );
    assert_eq!(deposit_state(&app, &cookie, &id).await, "pending");

    let wrong_amount = mock_event("mevt_2", "checkout.paid", &checkout, &id, 70_000);
    let reply = post_webhook(
        &app,
        "mock",
        &wrong_amount,
        Some(signature::sign(&wrong_amount, MOCK_SECRET, now)),
    )
    .await;
    assert_eq!(reply.status, 500, "stored, not applied: the PSP retries");
    assert_eq!(
        app.count("SELECT count(*) FROM psp_webhook_events WHERE status = 'failed'")
            .await,
        1
    );
    assert_eq!(deposit_state(&app, &cookie, &id).await, "pending");

    for delivery in 0..3 {
        let reply = post_webhook(
            &app,
            "mock",
            &body,
            Some(signature::sign(&body, MOCK_SECRET, now)),
        )
        .await;
        assert_eq!(reply.status, 200, "{reply:?}");
        assert_eq!(reply.json["duplicate"], delivery > 0);
    }
    assert_eq!(deposit_state(&app, &cookie, &id).await, "captured");
    assert_eq!(capture_journals(&app, &id).await, 1);
    assert_eq!(
        app.count("SELECT deliveries::bigint FROM psp_webhook_events WHERE event_id = 'mevt_1'")
            .await,
        3
    );

    let unknown = mock_event(
        "mevt_3",
        "checkout.paid",
        "mcs_unknown",
        &uuid::Uuid::new_v4().to_string(),
        100,
    );
    let reply = post_webhook(
        &app,
        "mock",
        &unknown,
        Some(signature::sign(&unknown, MOCK_SECRET, now)),
    )
    .await;
    assert_eq!(
        (reply.status, reply.json["status"].as_str()),
        (200, Some("unmatched"))
    );

    let other_type = serde_json::to_vec(
        &json!({"id": "mevt_4", "type": "balance.available", "data": {"object": {}}}),
    )
    .unwrap();
    let reply = post_webhook(
        &app,
        "mock",
        &other_type,
        Some(signature::sign(&other_type, MOCK_SECRET, now)),
    )
    .await;
    assert_eq!(
        (reply.status, reply.json["status"].as_str()),
        (200, Some("ignored"))
    );

    let reply = post_webhook(&app, "paypal", &body, None).await;
    assert_eq!(reply.status, 404, "an unknown provider has no endpoint");
    let reply = post_webhook(&app, "stripe", &body, None).await;
    assert_eq!(reply.status, 404, "Stripe is not configured here");
    assert_eq!(available(&app, &cookie).await, "7.00");
    assert_integrity(&pool).await;
}

// Proves a mock PSP payment reported without its amount and currency is a failed apply, not a
// capture: stored as failed and answered 500, the deposit stays pending, nothing is credited;
// an expiry needs no amount and still applies.
#[sqlx::test(migrations = "../migrations")]
async fn a_mock_payment_without_its_amount_is_not_captured(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let cookie = app.log_in("auth/login", PLAYER_EMAIL).await;
    let (id, redirect) = start(&app, &cookie, "8.00", "no-amount").await;
    let checkout = redirect.rsplit('/').next().unwrap().to_owned();
    let now = app.now().timestamp();
    let event = |event_id: &str, event_type: &str| {
        serde_json::to_vec(&json!({
            "id": event_id, "type": event_type, "created": now,
            "data": {"object": {"object": "checkout", "id": checkout, "deposit_id": id}}
        }))
        .unwrap()
    };

    let paid = event("mevt_na_1", "checkout.paid");
    let reply = post_webhook(
        &app,
        "mock",
        &paid,
        Some(signature::sign(&paid, MOCK_SECRET, now)),
    )
    .await;
    assert_eq!(reply.status, 500, "stored, not applied: {reply:?}");
    assert_eq!(
        app.count("SELECT count(*) FROM psp_webhook_events WHERE event_id = 'mevt_na_1' AND status = 'failed'")
            .await,
        1
    );
    assert_eq!(deposit_state(&app, &cookie, &id).await, "pending");
    assert_eq!(capture_journals(&app, &id).await, 0);
    assert_eq!(available(&app, &cookie).await, "0.00");

    let expired = event("mevt_na_2", "checkout.expired");
    let reply = post_webhook(
        &app,
        "mock",
        &expired,
        Some(signature::sign(&expired, MOCK_SECRET, now)),
    )
    .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(deposit_state(&app, &cookie, &id).await, "expired");
    assert_eq!(available(&app, &cookie).await, "0.00");
    assert_integrity(&pool).await;
}

// Proves an install without a configured mock PSP secret cannot be credited with the old
// published development secret: a "paid" webhook signed with it is 400 signature_invalid and
// stores nothing; the install's own secret is random, generated once and kept (the same on a
// second start); and the hosted page's Pay, signed inside the server, still captures.
#[sqlx::test(migrations = "../migrations")]
async fn the_published_mock_secret_signs_nothing(pool: PgPool) {
    let app = spawn_app_with(pool.clone(), &[("KASA_MOCK_PSP_SECRET", "")]).await;
    let cookie = app.log_in("auth/login", PLAYER_EMAIL).await;
    let (id, redirect) = start(&app, &cookie, "6.00", "forged").await;
    let checkout = redirect.rsplit('/').next().unwrap().to_owned();
    let now = app.now().timestamp();
    let body = mock_event("mevt_forged", "checkout.paid", &checkout, &id, 600);
    let reply = post_webhook(
        &app,
        "mock",
        &body,
        Some(signature::sign(&body, MOCK_SECRET, now)),
    )
    .await;
    assert_eq!(
        (reply.status, reply.code()),
        (400, "signature_invalid"),
        "{reply:?}"
    );
    assert_eq!(
        app.count("SELECT count(*) FROM psp_webhook_events").await,
        0
    );
    assert_eq!(deposit_state(&app, &cookie, &id).await, "pending");
    assert_eq!(available(&app, &cookie).await, "0.00");

    let generated: String = sqlx::query_scalar(
        "SELECT value FROM installation_secrets WHERE name = 'mock_psp_webhook'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(generated.len(), 64, "32 random bytes, hex");
    assert_ne!(generated, MOCK_SECRET);
    let again = kasa_server::psp::mock::installation_secret(&pool)
        .await
        .unwrap();
    assert_eq!(secrecy::ExposeSecret::expose_secret(&again), generated);
    let signed = post_webhook(
        &app,
        "mock",
        &body,
        Some(signature::sign(&body, &generated, now)),
    )
    .await;
    assert_eq!(signed.status, 200, "the install's own secret verifies");
    assert_eq!(deposit_state(&app, &cookie, &id).await, "captured");

    let (second, redirect) = start(&app, &cookie, "4.00", "page-pay").await;
    choose(&app, &redirect, "pay", "normal").await;
    wait_for_state(&app, &cookie, &second, "captured").await;
    assert_eq!(available(&app, &cookie).await, "10.00");
    assert_integrity(&pool).await;
}

// Proves the mock PSP's hosted page refuses to pay a checkout past its expiry: Pay answers 409
// with a page saying it expired and nothing was paid, the mock's books keep it unpaid, no
// webhook is sent, the deposit is not captured and the page itself offers no Pay button.
#[sqlx::test(migrations = "../migrations")]
async fn an_expired_checkout_cannot_be_paid(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let cookie = app.log_in("auth/login", PLAYER_EMAIL).await;
    let (id, redirect) = start(&app, &cookie, "12.00", "late-pay").await;
    app.advance(chrono::Duration::minutes(30) + chrono::Duration::seconds(1));
    let cookie = app.log_in("auth/login", PLAYER_EMAIL).await;

    let response = app
        .http
        .post(format!("{}{redirect}", app.base))
        .form(&[("outcome", "pay"), ("delivery", "normal")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 409);
    let text = response.text().await.unwrap();
    assert!(text.contains("This checkout expired at"), "{text}");
    assert!(text.contains("Nothing was paid"), "{text}");
    let checkout = redirect.rsplit('/').next().unwrap();
    let status: String = sqlx::query_scalar("SELECT status FROM mock_psp_checkouts WHERE id = $1")
        .bind(checkout)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(status, "open", "the mock took no payment");
    let page = app
        .http
        .get(format!("{}{redirect}", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("data-testid=\"mock-expired\""), "{page}");
    assert!(!page.contains("value=\"pay\""), "{page}");
    assert_eq!(
        app.count("SELECT count(*) FROM psp_webhook_events").await,
        0
    );
    assert_eq!(deposit_state(&app, &cookie, &id).await, "pending");
    assert_eq!(available(&app, &cookie).await, "0.00");
}

// Proves the deposit sweep takes due deposits in turn: fifty pending deposits whose PSP keeps
// answering "processing" are due before a fifty-first whose checkout simply lapsed, and within two
// sweeps the fifty-first is expired anyway, while the fifty stay pending and wait their turn.
#[sqlx::test(migrations = "../migrations")]
async fn the_sweep_takes_due_deposits_in_turn(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let cookie = app.log_in("auth/login", PLAYER_EMAIL).await;
    for index in 0..50 {
        start(&app, &cookie, "1.00", &format!("stuck-{index}")).await;
    }
    sqlx::query("UPDATE mock_psp_checkouts SET status = 'processing'")
        .execute(&pool)
        .await
        .unwrap();
    app.advance(chrono::Duration::minutes(1));
    let (fresh, _) = start(&app, &cookie, "2.00", "fresh").await;
    app.advance(chrono::Duration::minutes(45));

    for _ in 0..2 {
        app.services.sweep_deposits().await.unwrap();
    }
    let cookie = app.log_in("auth/login", PLAYER_EMAIL).await;
    assert_eq!(deposit_state(&app, &cookie, &fresh).await, "expired");
    assert_eq!(
        app.count("SELECT count(*) FROM deposits WHERE state = 'pending'")
            .await,
        50
    );
    assert_eq!(available(&app, &cookie).await, "0.00");
}

// Proves a deposit whose checkout was never created is expired by the sweep after an hour, with
// a failure code saying so and a `deposit.expired` audit event in the same chain (which still
// verifies), that a younger one is left alone, and that such a deposit does not stop the sweep
// from rechecking a pending deposit in the same run.
#[sqlx::test(migrations = "../migrations")]
async fn an_abandoned_deposit_expires_with_its_audit_event(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let cookie = app.log_in("auth/login", PLAYER_EMAIL).await;
    let (lapsed, _) = start(&app, &cookie, "3.00", "lapsed").await;
    app.advance(chrono::Duration::minutes(41));
    let (tenant_id, player_id): (app::domain::ids::TenantId, app::domain::ids::PlayerId) =
        sqlx::query_as("SELECT tenant_id, id FROM players WHERE email = $1")
            .bind(PLAYER_EMAIL)
            .fetch_one(&pool)
            .await
            .unwrap();
    let now = app.now();
    let mut ids = Vec::new();
    for (key, age) in [
        ("abandoned", chrono::Duration::minutes(61)),
        ("young", chrono::Duration::minutes(59)),
    ] {
        let id = uuid::Uuid::new_v4();
        sqlx::query(
            "INSERT INTO deposits (id, tenant_id, player_id, provider, amount_minor, currency,
                 state, idempotency_key, request_sha256, created_at, updated_at)
             VALUES ($1, $2, $3, 'mock', 500, 'EUR', 'created', $4, sha256($4::bytea), $5, $5)",
        )
        .bind(id)
        .bind(tenant_id)
        .bind(player_id)
        .bind(key)
        .bind(now - age)
        .execute(&pool)
        .await
        .unwrap();
        ids.push(id);
    }

    app.services.sweep_deposits().await.unwrap();
    let states: Vec<String> =
        sqlx::query_scalar("SELECT state FROM deposits WHERE id = ANY($1) ORDER BY created_at")
            .bind(&ids)
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(states, ["expired", "created"]);
    let failure_code: Option<String> =
        sqlx::query_scalar("SELECT failure_code FROM deposits WHERE id = $1")
            .bind(ids[0])
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(failure_code.as_deref(), Some("checkout_not_created"));
    let lapsed_state: String = sqlx::query_scalar("SELECT state FROM deposits WHERE id = $1::uuid")
        .bind(&lapsed)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(
        lapsed_state, "expired",
        "the same sweep rechecked the pending deposit"
    );
    kasa_server::audit::chain_pending(&pool).await.unwrap();
    let events: Vec<(String, String, String, serde_json::Value, serde_json::Value)> =
        sqlx::query_as(
            "SELECT actor_type, actor_id, action, before, after FROM audit_events
              WHERE target_type = 'deposit' AND target_id = $1",
        )
        .bind(ids[0].to_string())
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    let (actor_type, actor_id, action, before, after) = &events[0];
    assert_eq!(
        (actor_type.as_str(), actor_id.as_str(), action.as_str()),
        ("system", "deposit-sweep", "deposit.expired")
    );
    assert_eq!(
        (&before["state"], &after["state"]),
        (&json!("created"), &json!("expired"))
    );
    let chain = kasa_server::audit::verify_chain(&pool, Some(tenant_id))
        .await
        .unwrap();
    assert!(chain.ok, "{chain:?}");
    app.services.sweep_deposits().await.unwrap();
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM audit_events WHERE action = 'deposit.expired' AND target_id = '{}'",
            ids[0]
        ))
        .await,
        1,
        "expired once"
    );
}

// Proves there is no mock PSP in production: its hosted page and its webhook endpoint answer 404
// even for a checkout that exists in the database, while the same page works in test mode.
#[sqlx::test(migrations = "../migrations")]
async fn no_mock_psp_in_production(pool: PgPool) {
    let test_app = spawn_app(pool.clone()).await;
    let cookie = test_app.log_in("auth/login", PLAYER_EMAIL).await;
    let (_, redirect) = start(&test_app, &cookie, "9.00", "prod").await;
    let page = test_app
        .http
        .get(format!("{}{redirect}", test_app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status().as_u16(), 200);

    let production = spawn_app_with(
        pool.clone(),
        &[
            ("KASA_ENVIRONMENT", "production"),
            (
                "KASA_SESSION_SECRET",
                "0123456789abcdef0123456789abcdef-production",
            ),
            ("KASA_PUBLIC_ORIGIN", "https://casino.example"),
            ("KASA_DEMO_PASSWORD", ""),
            ("KASA_TENANT_HOSTS", "127.0.0.1=kasa-demo"),
        ],
    )
    .await;
    let health = production
        .http
        .get(format!("{}/api/health", production.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status().as_u16(), 200, "the production app is up");
    let page = production
        .http
        .get(format!("{}{redirect}", production.base))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status().as_u16(), 404);
    let submit = production
        .http
        .post(format!("{}{redirect}", production.base))
        .form(&[("outcome", "pay")])
        .send()
        .await
        .unwrap();
    assert_eq!(submit.status().as_u16(), 404);
    let body = mock_event(
        "mevt_p",
        "checkout.paid",
        "mcs_x",
        &uuid::Uuid::new_v4().to_string(),
        900,
    );
    let now = production.now().timestamp();
    let reply = post_webhook(
        &production,
        "mock",
        &body,
        Some(signature::sign(&body, MOCK_SECRET, now)),
    )
    .await;
    assert_eq!(reply.status, 404);
    assert_eq!(
        production
            .count("SELECT count(*) FROM psp_webhook_events")
            .await,
        0
    );
}
