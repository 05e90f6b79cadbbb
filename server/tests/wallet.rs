//! The wallet and the staff adjustment through the real HTTP router: balances and history come
//! from the ledger, adjustments are validated, authorised, idempotent and leave the ledger whole.
//! A credit is a request that a second staff member approves (four eyes) before it posts.

mod common;

use common::{PLAYER_EMAIL, SECOND_PLAYER_EMAIL, TestApp, spawn_app};
use sqlx::PgPool;

async fn adjust(
    app: &TestApp,
    cookie: &str,
    amount: &str,
    direction: &str,
    key: &str,
) -> common::Reply {
    adjust_in(app, cookie, PLAYER_EMAIL, "EUR", amount, direction, key).await
}

async fn adjust_in(
    app: &TestApp,
    cookie: &str,
    email: &str,
    currency: &str,
    amount: &str,
    direction: &str,
    key: &str,
) -> common::Reply {
    let form = [
        ("player_email", email),
        ("currency", currency),
        ("amount", amount),
        ("direction", direction),
        ("reason", "goodwill credit after a support case"),
        ("idempotency_key", key),
    ];
    app.call("admin/adjustments", &form, Some(cookie)).await
}

/// A credit of `amount` EUR to the demo player asked by `finance` and approved by `owner`.
async fn credit(
    app: &TestApp,
    finance: &str,
    owner: &str,
    amount: &str,
    key: &str,
) -> common::Reply {
    app.credit_with_approval(
        finance,
        owner,
        PLAYER_EMAIL,
        "EUR",
        amount,
        "goodwill credit after a support case",
        key,
    )
    .await
}

async fn journal_count(app: &TestApp) -> i64 {
    app.count("SELECT count(*) FROM ledger_journals").await
}

// Proves a new player's wallet is empty, and that after a finance adjustment of 25.00 EUR the
// wallet shows 25.00 available, 0.00 held and one history row with the resulting balance.
#[sqlx::test(migrations = "../migrations")]
async fn adjustment_shows_in_the_wallet(pool: PgPool) {
    let app = spawn_app(pool).await;
    let player = app.log_in("auth/login", PLAYER_EMAIL).await;
    assert_eq!(
        app.call("wallet/balances", &[], Some(&player)).await.json,
        serde_json::json!([])
    );
    assert_eq!(
        app.call("wallet/history", &[], Some(&player)).await.json["movements"],
        serde_json::json!([])
    );

    let finance = app.log_in("admin/login", "finance@demo.kasa.test").await;
    let owner = app.log_in("admin/login", "owner@demo.kasa.test").await;
    let receipt = credit(&app, &finance, &owner, "25.00", "key-1").await;
    assert_eq!(receipt.json["replayed"], false);
    assert_eq!(receipt.json["request"]["state"], "approved");

    let balances = app.call("wallet/balances", &[], Some(&player)).await.json;
    assert_eq!(balances.as_array().unwrap().len(), 1);
    assert_eq!(balances[0]["currency"], "EUR");
    assert_eq!(balances[0]["available"]["amount"], "25.00");
    assert_eq!(balances[0]["held"]["amount"], "0.00");

    let history = app.call("wallet/history", &[], Some(&player)).await.json;
    let movements = history["movements"].as_array().unwrap();
    assert_eq!(movements.len(), 1);
    assert_eq!(movements[0]["kind"], "adjustment");
    assert_eq!(movements[0]["amount"]["amount"], "25.00");
    assert_eq!(movements[0]["balance_after"]["amount"], "25.00");
    assert_eq!(movements[0]["held"], false);

    let reason: String = sqlx::query_scalar(
        "SELECT metadata->>'reason' FROM ledger_journals WHERE kind = 'adjustment'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(reason, "goodwill credit after a support case");
    let integrity = app.call("admin/integrity-check", &[], Some(&finance)).await;
    assert_eq!(integrity.json["ok"], true, "{integrity:?}");
}

// Proves a repeated adjustment key asks for one credit, the same key with another amount is
// refused as a conflict with nothing written, and nothing posts before the approval.
#[sqlx::test(migrations = "../migrations")]
async fn adjustments_are_idempotent(pool: PgPool) {
    let app = spawn_app(pool).await;
    let finance = app.log_in("admin/login", "finance@demo.kasa.test").await;
    let first = adjust(&app, &finance, "10.00", "credit", "same-key").await;
    let again = adjust(&app, &finance, "10.00", "credit", "same-key").await;
    assert_eq!((first.status, again.status), (200, 200));
    assert_eq!(again.json["replayed"], true);
    assert_eq!(
        first.json["credit_request_id"],
        again.json["credit_request_id"]
    );
    assert_eq!(again.json["available_after"]["amount"], "0.00");

    let conflict = adjust(&app, &finance, "11.00", "credit", "same-key").await;
    assert_eq!(
        (conflict.status, conflict.code()),
        (409, "idempotency_key_reused")
    );
    assert_eq!(journal_count(&app).await, 0);
    assert_eq!(app.count("SELECT count(*) FROM credit_requests").await, 1);

    // Another staff member's identical key is a different request.
    let owner = app.log_in("admin/login", "owner@demo.kasa.test").await;
    let other = adjust(&app, &owner, "10.00", "credit", "same-key").await;
    assert_eq!(other.status, 200, "{other:?}");
    assert_ne!(
        other.json["credit_request_id"],
        first.json["credit_request_id"]
    );
    assert_eq!(app.count("SELECT count(*) FROM credit_requests").await, 2);
}

// Proves every kind of bad amount is refused with invalid_amount on the amount field and
// nothing written: zero, negative, too many decimals (EUR and JPY), over the maximum, not a number.
#[sqlx::test(migrations = "../migrations")]
async fn bad_amounts_are_refused(pool: PgPool) {
    let app = spawn_app(pool).await;
    let finance = app.log_in("admin/login", "finance@demo.kasa.test").await;
    for (currency, amount) in [
        ("EUR", "0"),
        ("EUR", "0.00"),
        ("EUR", "-5.00"),
        ("EUR", "1.234"),
        ("JPY", "1.5"),
        ("EUR", "1000000000.01"),
        ("EUR", "ten"),
        ("EUR", ""),
    ] {
        let reply = adjust_in(
            &app,
            &finance,
            PLAYER_EMAIL,
            currency,
            amount,
            "credit",
            &format!("k-{currency}-{amount}"),
        )
        .await;
        assert_eq!(
            (reply.status, reply.code()),
            (422, "invalid_amount"),
            "{currency} {amount:?}: {reply:?}"
        );
        assert_eq!(reply.json["field"], "amount");
    }
    let unknown_currency = adjust_in(
        &app,
        &finance,
        PLAYER_EMAIL,
        "XXX",
        "1.00",
        "credit",
        "k-xxx",
    )
    .await;
    assert_eq!(
        (
            unknown_currency.status,
            unknown_currency.json["field"].as_str()
        ),
        (422, Some("currency"))
    );
    assert_eq!(journal_count(&app).await, 0);
    assert_eq!(app.count("SELECT count(*) FROM ledger_accounts").await, 0);
}

// Proves a debit larger than the balance is refused as insufficient funds and moves nothing.
#[sqlx::test(migrations = "../migrations")]
async fn debit_beyond_the_balance_is_refused(pool: PgPool) {
    let app = spawn_app(pool).await;
    let finance = app.log_in("admin/login", "finance@demo.kasa.test").await;
    let owner = app.log_in("admin/login", "owner@demo.kasa.test").await;
    credit(&app, &finance, &owner, "5.00", "credit-5").await;
    let reply = adjust(&app, &finance, "5.01", "debit", "debit-5.01").await;
    assert_eq!((reply.status, reply.code()), (409, "insufficient_funds"));
    assert_eq!(journal_count(&app).await, 1);
    let exact = adjust(&app, &finance, "5.00", "debit", "debit-5").await;
    assert_eq!(exact.json["available_after"]["amount"], "0.00");
}

// Proves who may adjust: anonymous 401, a player 403, support 403; another tenant's player and
// an unknown email are "not found"; a missing reason is refused. Nothing is written by any.
#[sqlx::test(migrations = "../migrations")]
async fn adjustments_are_authorised_and_tenant_scoped(pool: PgPool) {
    let app = spawn_app(pool).await;
    let form = [
        ("player_email", PLAYER_EMAIL),
        ("currency", "EUR"),
        ("amount", "1.00"),
        ("direction", "credit"),
        ("reason", "test"),
        ("idempotency_key", "k"),
    ];
    assert_eq!(app.call("admin/adjustments", &form, None).await.status, 401);
    let player = app.log_in("auth/login", PLAYER_EMAIL).await;
    assert_eq!(
        app.call("admin/adjustments", &form, Some(&player))
            .await
            .status,
        403
    );
    let support = app.log_in("admin/login", "support@demo.kasa.test").await;
    assert_eq!(
        app.call("admin/adjustments", &form, Some(&support))
            .await
            .status,
        403
    );

    let finance = app.log_in("admin/login", "finance@demo.kasa.test").await;
    let other_tenant = adjust_in(
        &app,
        &finance,
        SECOND_PLAYER_EMAIL,
        "EUR",
        "1.00",
        "credit",
        "k2",
    )
    .await;
    assert_eq!(
        (other_tenant.status, other_tenant.code()),
        (404, "not_found")
    );
    let unknown = adjust_in(
        &app,
        &finance,
        "nobody@example.com",
        "EUR",
        "1.00",
        "credit",
        "k3",
    )
    .await;
    assert_eq!((unknown.status, unknown.code()), (404, "not_found"));
    let mut no_reason = form;
    no_reason[4] = ("reason", " ");
    let no_reason = app
        .call("admin/adjustments", &no_reason, Some(&finance))
        .await;
    assert_eq!(no_reason.status, 422);
    let mut no_key = form;
    no_key[5] = ("idempotency_key", "");
    let no_key = app.call("admin/adjustments", &no_key, Some(&finance)).await;
    assert_eq!(
        (no_key.status, no_key.json["field"].as_str()),
        (422, Some("idempotency_key"))
    );
    assert_eq!(journal_count(&app).await, 0);

    // The wallet is a player's: staff get 403 there.
    assert_eq!(
        app.call("wallet/balances", &[], Some(&finance))
            .await
            .status,
        403
    );
    assert_eq!(app.call("wallet/balances", &[], None).await.status, 401);
}

// Proves history pages newest first, 20 at a time, with a cursor to the older rows.
#[sqlx::test(migrations = "../migrations")]
async fn history_pages_newest_first(pool: PgPool) {
    let app = spawn_app(pool).await;
    let finance = app.log_in("admin/login", "finance@demo.kasa.test").await;
    let owner = app.log_in("admin/login", "owner@demo.kasa.test").await;
    for cents in 1..=25 {
        let amount = format!("0.{cents:02}");
        credit(&app, &finance, &owner, &amount, &format!("page-{cents}")).await;
    }
    let player = app.log_in("auth/login", PLAYER_EMAIL).await;
    let first = app.call("wallet/history", &[], Some(&player)).await.json;
    let movements = first["movements"].as_array().unwrap();
    assert_eq!(movements.len(), 20);
    assert_eq!(movements[0]["amount"]["amount"], "0.25");
    assert_eq!(movements[0]["balance_after"]["amount"], "3.25");
    let next = first["next"].as_i64().expect("a second page");
    let second = app
        .call(
            "wallet/history",
            &[("before", &next.to_string())],
            Some(&player),
        )
        .await
        .json;
    let older = second["movements"].as_array().unwrap();
    assert_eq!(older.len(), 5);
    assert_eq!(older[4]["amount"]["amount"], "0.01");
    assert_eq!(older[4]["balance_after"]["amount"], "0.01");
    assert!(second["next"].is_null());
    let filtered = app
        .call("wallet/history", &[("kind", "bet")], Some(&player))
        .await
        .json;
    assert_eq!(filtered["movements"], serde_json::json!([]));
}
