//! Player protection through the real router: KYC decided by staff and required for withdrawals
//! and for deposits beyond the threshold, deposit and loss limits with their rolling windows and
//! cooling-off, the play reminder, and self-exclusion that blocks deposits and play but never
//! withdrawal.

mod common;

use app::domain::ids::{PlayerId, TenantId};
use chrono::{DateTime, Duration, Utc};
use common::{PLAYER_EMAIL, SECOND_PLAYER_EMAIL, TestApp, spawn_app};
use kasa_server::protection;
use sqlx::PgPool;
use uuid::Uuid;

use app::domain::money::{Currency, Money};
use app::error::{AppError, ErrorCode};

const SUPPORT_EMAIL: &str = "support@demo.kasa.test";

/// The (tenant, player) ids of a demo player.
async fn player_ids(app: &TestApp, email: &str) -> (TenantId, PlayerId) {
    sqlx::query_as("SELECT tenant_id, id FROM players WHERE email = $1")
        .bind(email)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

async fn deposit(app: &TestApp, cookie: &str, amount: &str, key: &str) -> common::Reply {
    deposit_in(app, cookie, amount, "EUR", key).await
}

async fn deposit_in(
    app: &TestApp,
    cookie: &str,
    amount: &str,
    currency: &str,
    key: &str,
) -> common::Reply {
    let form = [
        ("amount", amount),
        ("currency", currency),
        ("provider", "mock"),
        ("idempotency_key", key),
    ];
    app.call("deposits/start", &form, Some(cookie)).await
}

async fn set_limit(app: &TestApp, cookie: &str, period: &str, amount: &str) -> common::Reply {
    let form = [("period", period), ("currency", "EUR"), ("amount", amount)];
    app.call("account/deposit-limit", &form, Some(cookie)).await
}

async fn set_loss_limit(
    app: &TestApp,
    cookie: &str,
    period: &str,
    currency: &str,
    amount: &str,
) -> common::Reply {
    let form = [
        ("period", period),
        ("currency", currency),
        ("amount", amount),
    ];
    app.call("account/loss-limit", &form, Some(cookie)).await
}

async fn set_reminder(app: &TestApp, cookie: &str, minutes: &str) -> common::Reply {
    app.call(
        "account/play-reminder",
        &[("minutes", minutes)],
        Some(cookie),
    )
    .await
}

/// The (amount, pending amount, pending since) of the demo player's loss limit for `period`.
async fn loss_limit_row(app: &TestApp, period: &str) -> Option<(i64, Option<i64>, bool)> {
    sqlx::query_as(
        "SELECT amount_minor, pending_amount_minor, pending_effective_at IS NOT NULL
           FROM loss_limits WHERE period = $1
            AND player_id = (SELECT id FROM players WHERE email = $2)",
    )
    .bind(period)
    .bind(PLAYER_EMAIL)
    .fetch_optional(&app.pool)
    .await
    .unwrap()
}

async fn audit_count(app: &TestApp, action: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM audit_events WHERE action = $1")
        .bind(action)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

async fn set_kyc(app: &TestApp, staff: &str, player_id: PlayerId, state: &str) -> common::Reply {
    let player_id = player_id.to_string();
    let form = [
        ("player_id", player_id.as_str()),
        ("state", state),
        ("note", "passport and utility bill checked"),
    ];
    app.call("admin/kyc/set", &form, Some(staff)).await
}

/// Support staff move the player through pending to verified.
async fn verify(app: &TestApp, player_id: PlayerId) {
    let support = app.log_in("admin/login", SUPPORT_EMAIL).await;
    for state in ["pending", "verified"] {
        let reply = set_kyc(app, &support, player_id, state).await;
        assert_eq!(reply.status, 200, "{reply:?}");
    }
}

fn eur(amount: &str) -> Money {
    Money::parse(amount, Currency::Eur).unwrap()
}

async fn withdrawal_check(app: &TestApp, email: &str, now: DateTime<Utc>) -> Result<(), ErrorCode> {
    let (tenant_id, player_id) = player_ids(app, email).await;
    let mut tx = app.pool.begin().await.unwrap();
    protection::check_withdrawal(&mut tx, tenant_id, player_id, &eur("10.00"), now)
        .await
        .map_err(|error| AppError::from(error).code)
}

/// Deposits created: a refused deposit leaves no row.
async fn deposit_rows(app: &TestApp) -> i64 {
    app.count("SELECT count(*) FROM deposits").await
}

/// Pays a started mock deposit on the mock PSP's page and waits for its capture, so that the
/// deposit keeps counting however far the test moves the clock (the payment worker expires
/// unpaid checkouts).
async fn pay(app: &TestApp, started: &common::Reply) {
    assert_eq!(started.status, 200, "{started:?}");
    let redirect_url = started.json["redirect_url"].as_str().unwrap();
    let response = app
        .http
        .post(format!("{}{redirect_url}", app.base))
        .form(&[("outcome", "pay"), ("delivery", "normal")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 303, "the mock page redirects");
    let deposit_id: Uuid = started.json["deposit_id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    for _ in 0..100 {
        let state: String = sqlx::query_scalar("SELECT state FROM deposits WHERE id = $1")
            .bind(deposit_id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
        if state == "captured" {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("deposit {deposit_id} was never captured");
}

/// Finance credits the demo player `amount` EUR, approved by the owner.
async fn fund(app: &TestApp, amount: &str) {
    let finance = app.log_in("admin/login", "finance@demo.kasa.test").await;
    let owner = app.log_in("admin/login", "owner@demo.kasa.test").await;
    let key = format!("fund-{}", Uuid::new_v4());
    app.credit_with_approval(
        &finance,
        &owner,
        PLAYER_EMAIL,
        "EUR",
        amount,
        "test funds",
        &key,
    )
    .await;
}

async fn withdraw(app: &TestApp, cookie: &str, amount: &str, key: &str) -> common::Reply {
    let form = [
        ("amount", amount),
        ("currency", "EUR"),
        ("idempotency_key", key),
    ];
    app.call("withdrawals/request", &form, Some(cookie)).await
}

/// The player's (available, held) EUR balance.
async fn balance(app: &TestApp, cookie: &str) -> (String, String) {
    let balances = app.call("wallet/balances", &[], Some(cookie)).await.json;
    let eur = &balances[0];
    assert_eq!(eur["currency"], "EUR");
    (
        eur["available"]["amount"].as_str().unwrap().to_owned(),
        eur["held"]["amount"].as_str().unwrap().to_owned(),
    )
}

// Proves a withdrawal check refuses an unverified, a pending and a rejected player with
// kyc_required and a message saying what to do, passes once staff verified the player, and
// passes for anyone when the tenant's policy turns the requirement off.
#[sqlx::test(migrations = "../migrations")]
async fn withdrawal_requires_verified_identity(pool: PgPool) {
    let app = spawn_app(pool).await;
    let now = Utc::now();
    let (tenant_id, player_id) = player_ids(&app, PLAYER_EMAIL).await;
    let mut tx = app.pool.begin().await.unwrap();
    let refused: AppError =
        protection::check_withdrawal(&mut tx, tenant_id, player_id, &eur("10.00"), now)
            .await
            .unwrap_err()
            .into();
    drop(tx);
    assert_eq!(refused.code, ErrorCode::KycRequired);
    assert_eq!(refused.code.status(), 403);
    assert!(
        refused.message.contains("verified identity"),
        "{}",
        refused.message
    );

    let support = app.log_in("admin/login", SUPPORT_EMAIL).await;
    assert_eq!(
        set_kyc(&app, &support, player_id, "pending").await.status,
        200
    );
    assert_eq!(
        withdrawal_check(&app, PLAYER_EMAIL, now).await,
        Err(ErrorCode::KycRequired)
    );
    assert_eq!(
        set_kyc(&app, &support, player_id, "verified").await.status,
        200
    );
    assert_eq!(withdrawal_check(&app, PLAYER_EMAIL, now).await, Ok(()));

    // The other brand's player is still unverified; with the policy off there, it passes.
    assert_eq!(
        withdrawal_check(&app, SECOND_PLAYER_EMAIL, now).await,
        Err(ErrorCode::KycRequired)
    );
    let (second_tenant, _) = player_ids(&app, SECOND_PLAYER_EMAIL).await;
    sqlx::query(
        "INSERT INTO protection_policies (tenant_id, kyc_required_for_withdrawal) VALUES ($1, false)",
    )
    .bind(second_tenant)
    .execute(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        withdrawal_check(&app, SECOND_PLAYER_EMAIL, now).await,
        Ok(())
    );
}

// Proves, through the withdrawal server function, that an unverified player's withdrawal is
// refused with kyc_required and a clear message, holding nothing, and that after staff verify
// the player the same withdrawal goes through and holds the amount.
#[sqlx::test(migrations = "../migrations")]
async fn unverified_withdrawal_is_refused_until_staff_verify(pool: PgPool) {
    let app = spawn_app(pool).await;
    fund(&app, "100.00").await;
    let player = app.log_in("auth/login", PLAYER_EMAIL).await;
    let refused = withdraw(&app, &player, "20.00", "w-1").await;
    assert_eq!((refused.status, refused.code()), (403, "kyc_required"));
    assert_eq!(
        refused.json["message"],
        "Withdrawals need a verified identity. Please contact support to verify your identity."
    );
    assert_eq!(app.count("SELECT count(*) FROM withdrawals").await, 0);
    assert_eq!(
        balance(&app, &player).await,
        ("100.00".into(), "0.00".into())
    );

    let (_, player_id) = player_ids(&app, PLAYER_EMAIL).await;
    verify(&app, player_id).await;
    let accepted = withdraw(&app, &player, "20.00", "w-2").await;
    assert_eq!(accepted.status, 200, "{accepted:?}");
    assert_eq!(accepted.json["state"], "requested");
    assert_eq!(
        balance(&app, &player).await,
        ("80.00".into(), "20.00".into())
    );
}

// Proves staff KYC decisions follow unverified → pending → verified | rejected, need a note, are
// kept with the staff member's name, are audited, repeat harmlessly, and that players and
// another tenant's ids get 403 and 404.
#[sqlx::test(migrations = "../migrations")]
async fn kyc_decisions_are_ordered_noted_and_scoped(pool: PgPool) {
    let app = spawn_app(pool).await;
    let (_, player_id) = player_ids(&app, PLAYER_EMAIL).await;
    let (_, other_tenant_player) = player_ids(&app, SECOND_PLAYER_EMAIL).await;
    let support = app.log_in("admin/login", SUPPORT_EMAIL).await;

    let found = app
        .call("admin/kyc/find", &[("email", PLAYER_EMAIL)], Some(&support))
        .await;
    assert_eq!(found.status, 200, "{found:?}");
    assert_eq!(found.json["kyc"], "unverified");
    assert_eq!(found.json["player_id"], player_id.to_string());

    let skipped = set_kyc(&app, &support, player_id, "verified").await;
    assert_eq!(
        (skipped.status, skipped.code()),
        (409, "invalid_state_transition")
    );

    let no_note = app
        .call(
            "admin/kyc/set",
            &[
                ("player_id", &player_id.to_string()),
                ("state", "pending"),
                ("note", "  "),
            ],
            Some(&support),
        )
        .await;
    assert_eq!(
        (no_note.status, no_note.json["field"].as_str()),
        (422, Some("note"))
    );

    assert_eq!(
        set_kyc(&app, &support, player_id, "pending").await.status,
        200
    );
    let rejected = set_kyc(&app, &support, player_id, "rejected").await;
    assert_eq!(rejected.json["kyc"], "rejected");
    assert_eq!(
        set_kyc(&app, &support, player_id, "pending").await.status,
        200
    );
    let verified = set_kyc(&app, &support, player_id, "verified").await;
    assert_eq!(verified.json["kyc"], "verified");
    // A double click: the same state again changes nothing.
    let again = set_kyc(&app, &support, player_id, "verified").await;
    assert_eq!(again.status, 200);
    let history = again.json["kyc_history"].as_array().unwrap();
    assert_eq!(history.len(), 4);
    assert_eq!(history[0]["from"], "pending");
    assert_eq!(history[0]["to"], "verified");
    assert_eq!(history[0]["note"], "passport and utility bill checked");
    assert!(
        history[0]["staff_name"]
            .as_str()
            .is_some_and(|name| !name.is_empty())
    );
    assert_eq!(
        app.count("SELECT count(*) FROM player_kyc_reviews").await,
        4
    );
    assert_eq!(
        app.count("SELECT count(*) FROM player_kyc WHERE state = 'verified'")
            .await,
        1
    );
    assert_eq!(
        app.count("SELECT count(*) FROM audit_events WHERE action LIKE 'kyc.%'")
            .await,
        4
    );
    let backwards = set_kyc(&app, &support, player_id, "pending").await;
    assert_eq!(
        (backwards.status, backwards.code()),
        (409, "invalid_state_transition")
    );

    let player = app.log_in("auth/login", PLAYER_EMAIL).await;
    let by_player = set_kyc(&app, &player, player_id, "pending").await;
    assert_eq!((by_player.status, by_player.code()), (403, "forbidden"));
    let account = app.call("account/overview", &[], Some(&player)).await;
    assert_eq!(account.json["kyc"], "verified");

    let foreign = set_kyc(&app, &support, other_tenant_player, "pending").await;
    let unknown = set_kyc(&app, &support, PlayerId(Uuid::new_v4()), "pending").await;
    assert_eq!((foreign.status, foreign.code()), (404, "not_found"));
    assert_eq!(foreign.json, unknown.json);
    let foreign_email = app
        .call(
            "admin/kyc/find",
            &[("email", SECOND_PLAYER_EMAIL)],
            Some(&support),
        )
        .await;
    assert_eq!(foreign_email.status, 404);
    assert_eq!(
        app.count("SELECT count(*) FROM player_kyc_reviews WHERE player_id IN (SELECT id FROM players WHERE email = 'player@second.kasa.test')")
            .await,
        0
    );
}

// Proves a daily limit refuses the deposit that would break it, with the room left in the
// message, counting created and pending deposits, while failed ones free their room.
#[sqlx::test(migrations = "../migrations")]
async fn daily_limit_refuses_a_deposit_and_says_the_room_left(pool: PgPool) {
    let app = spawn_app(pool).await;
    let player = app.log_in("auth/login", PLAYER_EMAIL).await;
    let limit = set_limit(&app, &player, "day", "50.00").await;
    assert_eq!(limit.status, 200, "{limit:?}");
    assert_eq!(limit.json["limits"][0]["limit"]["amount"], "50.00");
    assert!(limit.json["limits"][0]["pending"].is_null());

    let first = deposit(&app, &player, "30.00", "d-1").await;
    assert_eq!(first.status, 200, "{first:?}");
    let second = deposit(&app, &player, "30.00", "d-2").await;
    assert_eq!(
        (second.status, second.code()),
        (403, "deposit_limit_exceeded")
    );
    let message = second.json["message"].as_str().unwrap();
    assert!(
        message.contains("daily deposit limit of 50.00 EUR"),
        "{message}"
    );
    assert!(message.contains("up to 20.00 EUR more"), "{message}");
    assert_eq!(deposit_rows(&app).await, 1);
    assert_eq!(deposit(&app, &player, "20.00", "d-3").await.status, 200);

    let account = app.call("account/overview", &[], Some(&player)).await;
    assert_eq!(account.json["limits"][0]["used"]["amount"], "50.00");
    assert_eq!(account.json["limits"][0]["remaining"]["amount"], "0.00");

    // A deposit that failed took no money: its room comes back.
    sqlx::query("UPDATE deposits SET state = 'failed', failure_code = 'declined' WHERE idempotency_key = 'd-1'")
        .execute(&app.pool)
        .await
        .unwrap();
    assert_eq!(deposit(&app, &player, "30.00", "d-4").await.status, 200);
    // The rolling window: 24 hours later the day's deposits no longer count.
    app.advance(Duration::hours(24) + Duration::seconds(1));
    let player = app.log_in("auth/login", PLAYER_EMAIL).await;
    assert_eq!(deposit(&app, &player, "50.00", "d-5").await.status, 200);
    assert_eq!(deposit_rows(&app).await, 4);
}

// Proves a deposit that expired and was captured a day later counts against the daily limit
// from its capture: an 80.00 deposit is cancelled at the mock PSP (expired, its room freed),
// the PSP reports it paid 25 hours later, and a 30.00 deposit is then refused with 20.00 left;
// a day after the capture the room is back.
#[sqlx::test(migrations = "../migrations")]
async fn a_late_capture_counts_from_its_capture(pool: PgPool) {
    let app = spawn_app(pool).await;
    let player = app.log_in("auth/login", PLAYER_EMAIL).await;
    assert_eq!(set_limit(&app, &player, "day", "100.00").await.status, 200);
    let started = deposit(&app, &player, "80.00", "late-1").await;
    assert_eq!(started.status, 200, "{started:?}");
    let deposit_id = started.json["deposit_id"].as_str().unwrap().to_owned();
    let redirect_url = started.json["redirect_url"].as_str().unwrap().to_owned();
    let checkout = redirect_url.rsplit('/').next().unwrap().to_owned();
    let cancelled = app
        .http
        .post(format!("{}{redirect_url}", app.base))
        .form(&[("outcome", "cancel"), ("delivery", "normal")])
        .send()
        .await
        .unwrap();
    assert_eq!(cancelled.status().as_u16(), 303);
    wait_for_deposit_state(&app, &deposit_id, "expired").await;

    app.advance(Duration::hours(25));
    let now = app.now();
    let body = serde_json::to_vec(&serde_json::json!({
        "id": "mevt_late_paid", "type": "checkout.paid", "created": now.timestamp(),
        "data": {"object": {"object": "checkout", "id": checkout, "deposit_id": deposit_id,
                            "amount_minor": 8000, "currency": "EUR"}}
    }))
    .unwrap();
    let header = kasa_server::psp::signature::sign(&body, common::MOCK_PSP_SECRET, now.timestamp());
    let delivered = app
        .http
        .post(format!("{}/api/v1/payments/webhook/mock", app.base))
        .header("content-type", "application/json")
        .header("kasa-mock-signature", header)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(delivered.status().as_u16(), 200);
    wait_for_deposit_state(&app, &deposit_id, "captured").await;

    let player = app.log_in("auth/login", PLAYER_EMAIL).await;
    let refused = deposit(&app, &player, "30.00", "late-2").await;
    assert_eq!(
        (refused.status, refused.code()),
        (403, "deposit_limit_exceeded"),
        "{refused:?}"
    );
    assert!(
        refused.json["message"]
            .as_str()
            .unwrap()
            .contains("up to 20.00 EUR more"),
        "{refused:?}"
    );
    let account = app.call("account/overview", &[], Some(&player)).await;
    assert_eq!(account.json["limits"][0]["used"]["amount"], "80.00");
    assert_eq!(deposit(&app, &player, "20.00", "late-3").await.status, 200);

    app.advance(Duration::hours(24) + Duration::seconds(1));
    let player = app.log_in("auth/login", PLAYER_EMAIL).await;
    assert_eq!(deposit(&app, &player, "30.00", "late-4").await.status, 200);
}

/// Waits (the mock PSP delivers in the background) until the deposit reaches `state`.
async fn wait_for_deposit_state(app: &TestApp, deposit_id: &str, state: &str) {
    let id: Uuid = deposit_id.parse().unwrap();
    for _ in 0..100 {
        let current: String = sqlx::query_scalar("SELECT state FROM deposits WHERE id = $1")
            .bind(id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
        if current == state {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("deposit {deposit_id} never reached {state}");
}

// Proves two concurrent deposits that together exceed the daily limit cannot both pass: exactly
// one is accepted and one deposit row exists.
#[sqlx::test(migrations = "../migrations")]
async fn concurrent_deposits_cannot_exceed_the_limit(pool: PgPool) {
    let app = spawn_app(pool).await;
    let player = app.log_in("auth/login", PLAYER_EMAIL).await;
    assert_eq!(set_limit(&app, &player, "day", "50.00").await.status, 200);
    for round in 0..5_i64 {
        let player = app.log_in("auth/login", PLAYER_EMAIL).await;
        let (key_a, key_b) = (format!("a-{round}"), format!("b-{round}"));
        let (a, b) = tokio::join!(
            deposit(&app, &player, "30.00", &key_a),
            deposit(&app, &player, "30.00", &key_b),
        );
        let mut statuses = [a.status, b.status];
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 403], "{a:?} {b:?}");
        assert_eq!(deposit_rows(&app).await, round + 1);
        // Frees the day for the next round.
        app.advance(Duration::hours(25));
    }
}

// Proves a raised limit applies only after the 24-hour cooling-off period (shown as waiting
// meanwhile), a lowered one at once, and a removal waits like an increase.
#[sqlx::test(migrations = "../migrations")]
async fn limit_increase_waits_for_cooling_off_and_decrease_applies_at_once(pool: PgPool) {
    let app = spawn_app(pool).await;
    let player = app.log_in("auth/login", PLAYER_EMAIL).await;
    assert_eq!(set_limit(&app, &player, "day", "50.00").await.status, 200);

    let raised = set_limit(&app, &player, "day", "100.00").await;
    assert_eq!(raised.status, 200, "{raised:?}");
    assert_eq!(raised.json["limits"][0]["limit"]["amount"], "50.00");
    assert_eq!(
        raised.json["limits"][0]["pending"]["amount"]["amount"],
        "100.00"
    );
    let effective_at: DateTime<Utc> = raised.json["limits"][0]["pending"]["effective_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    // Asking again for the same increase does not restart the clock.
    app.advance(Duration::hours(1));
    let player = app.log_in("auth/login", PLAYER_EMAIL).await;
    let repeated = set_limit(&app, &player, "day", "100.00").await;
    assert_eq!(
        repeated.json["limits"][0]["pending"]["effective_at"]
            .as_str()
            .unwrap()
            .parse::<DateTime<Utc>>()
            .unwrap(),
        effective_at
    );
    assert_eq!(
        deposit(&app, &player, "60.00", "k-1").await.code(),
        "deposit_limit_exceeded"
    );
    app.advance(Duration::hours(22));
    let player = app.log_in("auth/login", PLAYER_EMAIL).await;
    assert_eq!(
        deposit(&app, &player, "60.00", "k-2").await.code(),
        "deposit_limit_exceeded"
    );
    app.advance(Duration::hours(1) + Duration::seconds(1));
    let player = app.log_in("auth/login", PLAYER_EMAIL).await;
    assert_eq!(deposit(&app, &player, "60.00", "k-3").await.status, 200);

    // Lowering applies at once: 60.00 of the new 70.00 is used, so 20.00 does not fit.
    let lowered = set_limit(&app, &player, "day", "70.00").await;
    assert_eq!(lowered.json["limits"][0]["limit"]["amount"], "70.00");
    assert!(lowered.json["limits"][0]["pending"].is_null());
    let refused = deposit(&app, &player, "20.00", "k-4").await;
    assert!(
        refused.json["message"]
            .as_str()
            .unwrap()
            .contains("up to 10.00 EUR more"),
        "{refused:?}"
    );

    // Removing the limit waits too; until then it still applies.
    let removal = set_limit(&app, &player, "day", "").await;
    assert_eq!(removal.json["limits"][0]["limit"]["amount"], "70.00");
    assert!(removal.json["limits"][0]["pending"]["amount"].is_null());
    assert_eq!(deposit(&app, &player, "20.00", "k-5").await.status, 403);
    app.advance(Duration::hours(24) + Duration::seconds(1));
    let player = app.log_in("auth/login", PLAYER_EMAIL).await;
    let account = app.call("account/overview", &[], Some(&player)).await;
    assert_eq!(account.json["limits"], serde_json::json!([]));
    assert_eq!(deposit(&app, &player, "500.00", "k-6").await.status, 200);
    assert_eq!(
        app.count("SELECT count(*) FROM audit_events WHERE action LIKE 'deposit_limit.%'")
            .await,
        4
    );
}

// Proves weekly and monthly limits count their own windows, that the tightest one is reported,
// and that deposits in another currency than the limits' are refused while they apply.
#[sqlx::test(migrations = "../migrations")]
async fn every_window_counts_and_other_currencies_are_refused(pool: PgPool) {
    let app = spawn_app(pool).await;
    let player = app.log_in("auth/login", PLAYER_EMAIL).await;
    assert_eq!(set_limit(&app, &player, "week", "100.00").await.status, 200);
    assert_eq!(
        set_limit(&app, &player, "month", "150.00").await.status,
        200
    );
    pay(&app, &deposit(&app, &player, "80.00", "w-1").await).await;
    app.advance(Duration::days(3));
    let player = app.log_in("auth/login", PLAYER_EMAIL).await;
    let weekly = deposit(&app, &player, "30.00", "w-2").await;
    assert!(
        weekly.json["message"]
            .as_str()
            .unwrap()
            .contains("weekly deposit limit of 100.00 EUR"),
        "{weekly:?}"
    );
    app.advance(Duration::days(5));
    let player = app.log_in("auth/login", PLAYER_EMAIL).await;
    assert_eq!(deposit(&app, &player, "60.00", "w-3").await.status, 200);
    let monthly = deposit(&app, &player, "20.00", "w-4").await;
    assert!(
        monthly.json["message"]
            .as_str()
            .unwrap()
            .contains("up to 10.00 EUR more in the current 30 days"),
        "{monthly:?}"
    );

    let dollars = deposit_in(&app, &player, "5.00", "USD", "w-5").await;
    assert_eq!(
        (dollars.status, dollars.code()),
        (403, "deposit_limit_exceeded")
    );
    assert!(dollars.json["message"].as_str().unwrap().contains("in EUR"));
    let mixed = app
        .call(
            "account/deposit-limit",
            &[("period", "day"), ("currency", "USD"), ("amount", "10.00")],
            Some(&player),
        )
        .await;
    assert_eq!(
        (mixed.status, mixed.json["field"].as_str()),
        (422, Some("currency"))
    );
    let bad_amount = set_limit(&app, &player, "day", "10.001").await;
    assert_eq!(
        (bad_amount.status, bad_amount.code()),
        (422, "invalid_amount")
    );
}

// Proves deposits beyond the cumulative KYC threshold (2,000 in the deposit's currency) need a
// verified identity, that the threshold counts each currency on its own, and that verification
// lifts it.
#[sqlx::test(migrations = "../migrations")]
async fn deposits_beyond_the_threshold_need_kyc(pool: PgPool) {
    let app = spawn_app(pool).await;
    let player = app.log_in("auth/login", PLAYER_EMAIL).await;
    assert_eq!(deposit(&app, &player, "1500.00", "t-1").await.status, 200);
    assert_eq!(deposit(&app, &player, "500.00", "t-2").await.status, 200);
    let beyond = deposit(&app, &player, "0.01", "t-3").await;
    assert_eq!((beyond.status, beyond.code()), (403, "kyc_required"));
    let message = beyond.json["message"].as_str().unwrap();
    assert!(message.contains("2000.00 EUR"), "{message}");
    assert_eq!(
        deposit_in(&app, &player, "100.00", "USD", "t-4")
            .await
            .status,
        200
    );

    let (_, player_id) = player_ids(&app, PLAYER_EMAIL).await;
    verify(&app, player_id).await;
    assert_eq!(deposit(&app, &player, "5000.00", "t-5").await.status, 200);
    assert_eq!(deposit_rows(&app).await, 4);
}

// Proves a self-excluded player is refused deposits (self_excluded) and play at once, can still
// pass the withdrawal check and use the account page, sees the exclusion when logging in, cannot
// shorten it (nor can anyone through the database), can extend it, and is free once it ends.
#[sqlx::test(migrations = "../migrations")]
async fn self_exclusion_blocks_deposits_and_play_but_not_withdrawal(pool: PgPool) {
    let app = spawn_app(pool).await;
    let (tenant_id, player_id) = player_ids(&app, PLAYER_EMAIL).await;
    verify(&app, player_id).await;
    let player = app.log_in("auth/login", PLAYER_EMAIL).await;

    let unconfirmed = app
        .call("account/self-exclude", &[("period", "7d")], Some(&player))
        .await;
    assert_eq!(
        (unconfirmed.status, unconfirmed.json["field"].as_str()),
        (422, Some("confirm"))
    );
    assert_eq!(app.count("SELECT count(*) FROM self_exclusions").await, 0);

    let excluded = app
        .call(
            "account/self-exclude",
            &[("period", "7d"), ("confirm", "yes")],
            Some(&player),
        )
        .await;
    assert_eq!(excluded.status, 200, "{excluded:?}");
    assert_eq!(excluded.json["self_exclusion"]["period"], "7d");

    let refused = deposit(&app, &player, "10.00", "x-1").await;
    assert_eq!((refused.status, refused.code()), (403, "self_excluded"));
    assert_eq!(deposit_rows(&app).await, 0);
    let now = Utc::now() + Duration::minutes(1);
    let mut tx = app.pool.begin().await.unwrap();
    let play = protection::check_play(&mut tx, tenant_id, player_id, now).await;
    assert_eq!(
        AppError::from(play.unwrap_err()).code,
        ErrorCode::SelfExcluded
    );
    drop(tx);
    assert_eq!(withdrawal_check(&app, PLAYER_EMAIL, now).await, Ok(()));
    fund(&app, "50.00").await;
    let withdrawal = withdraw(&app, &player, "50.00", "x-w").await;
    assert_eq!(withdrawal.status, 200, "{withdrawal:?}");
    assert_eq!(
        balance(&app, &player).await,
        ("0.00".into(), "50.00".into())
    );
    assert_eq!(
        app.call("account/overview", &[], Some(&player))
            .await
            .status,
        200
    );
    assert_eq!(set_limit(&app, &player, "day", "10.00").await.status, 200);

    // Logging in again shows the exclusion.
    let login = app
        .call(
            "auth/login",
            &[("email", PLAYER_EMAIL), ("password", common::DEMO_PASSWORD)],
            None,
        )
        .await;
    assert_eq!(login.json["self_exclusion"]["period"], "7d");

    let shorter = app
        .call(
            "account/self-exclude",
            &[("period", "24h"), ("confirm", "yes")],
            Some(&player),
        )
        .await;
    assert_eq!(
        (shorter.status, shorter.code()),
        (409, "invalid_state_transition")
    );
    let staff = app.log_in("admin/login", SUPPORT_EMAIL).await;
    let seen = app
        .call("admin/kyc/find", &[("email", PLAYER_EMAIL)], Some(&staff))
        .await;
    assert_eq!(seen.json["self_exclusion"]["period"], "7d");
    for statement in [
        "UPDATE self_exclusions SET ends_at = starts_at + interval '1 hour'",
        "DELETE FROM self_exclusions",
    ] {
        assert!(
            sqlx::query(statement).execute(&app.pool).await.is_err(),
            "{statement}"
        );
    }

    let longer = app
        .call(
            "account/self-exclude",
            &[("period", "30d"), ("confirm", "yes")],
            Some(&player),
        )
        .await;
    assert_eq!(longer.json["self_exclusion"]["period"], "30d");
    app.advance(Duration::days(8));
    let player = app.log_in("auth/login", PLAYER_EMAIL).await;
    assert_eq!(
        deposit(&app, &player, "10.00", "x-2").await.code(),
        "self_excluded"
    );
    app.advance(Duration::days(23));
    let player = app.log_in("auth/login", PLAYER_EMAIL).await;
    assert_eq!(deposit(&app, &player, "10.00", "x-3").await.status, 200);
    assert!(app.call("auth/me", &[], Some(&player)).await.json["self_exclusion"].is_null());
}

// Proves an indefinite exclusion can be neither shortened nor replaced, and stays in force.
#[sqlx::test(migrations = "../migrations")]
async fn indefinite_exclusion_never_ends(pool: PgPool) {
    let app = spawn_app(pool).await;
    let player = app.log_in("auth/login", PLAYER_EMAIL).await;
    let form = |period| [("period", period), ("confirm", "yes")];
    assert_eq!(
        app.call("account/self-exclude", &form("indefinite"), Some(&player))
            .await
            .status,
        200
    );
    let replaced = app
        .call("account/self-exclude", &form("6m"), Some(&player))
        .await;
    assert_eq!(replaced.code(), "invalid_state_transition");
    app.advance(Duration::days(3650));
    let player = app.log_in("auth/login", PLAYER_EMAIL).await;
    assert_eq!(
        deposit(&app, &player, "10.00", "i-1").await.code(),
        "self_excluded"
    );
}

// Proves row-level security on the protection tables: a role other than the owner sees only the
// tenant named in `kasa.tenant_id`, and nothing without it.
#[sqlx::test(migrations = "../migrations")]
async fn row_level_security_scopes_protection_rows_by_tenant(pool: PgPool) {
    let app = spawn_app(pool).await;
    let mut players = Vec::new();
    for email in [PLAYER_EMAIL, SECOND_PLAYER_EMAIL] {
        let (tenant_id, player_id) = player_ids(&app, email).await;
        sqlx::query(
            "INSERT INTO self_exclusions (id, tenant_id, player_id, period, starts_at, ends_at, created_at)
             VALUES ($1, $2, $3, 'indefinite', now(), NULL, now())",
        )
        .bind(Uuid::new_v4())
        .bind(tenant_id)
        .bind(player_id)
        .execute(&app.pool)
        .await
        .unwrap();
        players.push((tenant_id, player_id));
    }
    let role = format!("kasa_rls_probe_{}", Uuid::new_v4().simple());
    let mut conn = app.pool.acquire().await.unwrap();
    sqlx::query(&format!("CREATE ROLE {role} NOLOGIN"))
        .execute(&mut *conn)
        .await
        .unwrap();
    sqlx::query(&format!("GRANT SELECT ON self_exclusions TO {role}"))
        .execute(&mut *conn)
        .await
        .unwrap();
    let seen = async |tenant: Option<TenantId>| -> Vec<PlayerId> {
        let mut tx = app.pool.begin().await.unwrap();
        sqlx::query(&format!("SET LOCAL ROLE {role}"))
            .execute(&mut *tx)
            .await
            .unwrap();
        if let Some(tenant) = tenant {
            sqlx::query("SELECT set_config('kasa.tenant_id', $1, true)")
                .bind(tenant.to_string())
                .execute(&mut *tx)
                .await
                .unwrap();
        }
        sqlx::query_scalar("SELECT player_id FROM self_exclusions")
            .fetch_all(&mut *tx)
            .await
            .unwrap()
    };
    let first = seen(Some(players[0].0)).await;
    let second = seen(Some(players[1].0)).await;
    let none = seen(None).await;
    sqlx::query(&format!("DROP OWNED BY {role}"))
        .execute(&mut *conn)
        .await
        .unwrap();
    sqlx::query(&format!("DROP ROLE {role}"))
        .execute(&mut *conn)
        .await
        .unwrap();
    assert_eq!(first, vec![players[0].1]);
    assert_eq!(second, vec![players[1].1]);
    assert!(none.is_empty());
}

// Proves a new or lowered loss limit applies at once, an increase waits for the 24-hour
// cooling-off (shown as pending, its time kept when asked again) and a removal waits too, with
// the rows and audit events each step writes, and that deposit limits are left alone.
#[sqlx::test(migrations = "../migrations")]
async fn loss_limit_lowers_at_once_and_raises_or_goes_after_cooling_off(pool: PgPool) {
    let app = spawn_app(pool).await;
    let player = app.log_in("auth/login", PLAYER_EMAIL).await;
    let set = set_loss_limit(&app, &player, "day", "EUR", "50.00").await;
    assert_eq!(set.status, 200, "{set:?}");
    assert_eq!(set.json["loss_limit_currency"], "EUR");
    assert_eq!(set.json["loss_limits"][0]["limit"]["amount"], "50.00");
    assert_eq!(set.json["loss_limits"][0]["used"]["amount"], "0.00");
    assert!(set.json["loss_limits"][0]["pending"].is_null());
    assert_eq!(set.json["limits"], serde_json::json!([]));
    assert_eq!(loss_limit_row(&app, "day").await, Some((5000, None, false)));

    let lowered = set_loss_limit(&app, &player, "day", "EUR", "30.00").await;
    assert_eq!(lowered.json["loss_limits"][0]["limit"]["amount"], "30.00");
    assert!(lowered.json["loss_limits"][0]["pending"].is_null());
    assert_eq!(loss_limit_row(&app, "day").await, Some((3000, None, false)));

    let raised = set_loss_limit(&app, &player, "day", "EUR", "80.00").await;
    assert_eq!(raised.json["loss_limits"][0]["limit"]["amount"], "30.00");
    assert_eq!(
        raised.json["loss_limits"][0]["pending"]["amount"]["amount"],
        "80.00"
    );
    assert_eq!(
        loss_limit_row(&app, "day").await,
        Some((3000, Some(8000), true))
    );
    let effective_at = raised.json["loss_limits"][0]["pending"]["effective_at"].clone();
    app.advance(Duration::hours(1));
    let player = app.log_in("auth/login", PLAYER_EMAIL).await;
    let repeated = set_loss_limit(&app, &player, "day", "EUR", "80.00").await;
    assert_eq!(
        repeated.json["loss_limits"][0]["pending"]["effective_at"],
        effective_at
    );
    app.advance(Duration::hours(23) + Duration::seconds(1));
    let player = app.log_in("auth/login", PLAYER_EMAIL).await;
    let account = app.call("account/overview", &[], Some(&player)).await;
    assert_eq!(account.json["loss_limits"][0]["limit"]["amount"], "80.00");
    assert!(account.json["loss_limits"][0]["pending"].is_null());

    let removal = set_loss_limit(&app, &player, "day", "EUR", "").await;
    assert_eq!(removal.status, 200, "{removal:?}");
    assert_eq!(removal.json["loss_limits"][0]["limit"]["amount"], "80.00");
    assert!(removal.json["loss_limits"][0]["pending"]["amount"].is_null());
    assert!(
        removal.json["loss_limits"][0]["pending"]["effective_at"].is_string(),
        "{removal:?}"
    );
    app.advance(Duration::hours(24) + Duration::seconds(1));
    let player = app.log_in("auth/login", PLAYER_EMAIL).await;
    let account = app.call("account/overview", &[], Some(&player)).await;
    assert_eq!(account.json["loss_limits"], serde_json::json!([]));
    assert!(account.json["loss_limit_currency"].is_null());

    // 50.00 and 30.00 applied at once; 80.00 and the removal were scheduled.
    assert_eq!(audit_count(&app, "loss_limit.applied").await, 2);
    assert_eq!(audit_count(&app, "loss_limit.scheduled").await, 2);
    assert_eq!(
        app.count("SELECT count(*) FROM audit_events WHERE action LIKE 'deposit_limit.%'")
            .await,
        0
    );
    assert_eq!(app.count("SELECT count(*) FROM deposit_limits").await, 0);
}

// Proves loss limits keep one currency of their own: another currency than the loss limits' is
// refused on the currency field and writes nothing, while deposit limits may be in another.
#[sqlx::test(migrations = "../migrations")]
async fn loss_limits_refuse_a_second_currency(pool: PgPool) {
    let app = spawn_app(pool).await;
    let player = app.log_in("auth/login", PLAYER_EMAIL).await;
    assert_eq!(set_limit(&app, &player, "day", "100.00").await.status, 200);
    let dollars = set_loss_limit(&app, &player, "day", "USD", "40.00").await;
    assert_eq!(dollars.status, 200, "{dollars:?}");
    assert_eq!(dollars.json["limit_currency"], "EUR");
    assert_eq!(dollars.json["loss_limit_currency"], "USD");

    let euros = set_loss_limit(&app, &player, "week", "EUR", "100.00").await;
    assert_eq!(
        (euros.status, euros.code(), euros.json["field"].as_str()),
        (422, "invalid_input", Some("currency"))
    );
    let message = euros.json["message"].as_str().unwrap();
    assert!(message.contains("loss limits are in USD"), "{message}");
    assert_eq!(app.count("SELECT count(*) FROM loss_limits").await, 1);
    assert_eq!(loss_limit_row(&app, "week").await, None);
    assert_eq!(audit_count(&app, "loss_limit.applied").await, 1);

    let bad_amount = set_loss_limit(&app, &player, "day", "USD", "0.001").await;
    assert_eq!(
        (bad_amount.status, bad_amount.code()),
        (422, "invalid_amount")
    );
    assert_eq!(loss_limit_row(&app, "day").await, Some((4000, None, false)));
}

// Proves the play reminder is set, changed and turned off (by "0" or an empty field) with one
// audit event per change and none for a repeat, and that an interval out of 5..=720 minutes or
// not a number is refused on the minutes field, leaving the row and the audit log as they were.
#[sqlx::test(migrations = "../migrations")]
async fn play_reminder_is_set_cleared_and_bounded(pool: PgPool) {
    let app = spawn_app(pool).await;
    let player = app.log_in("auth/login", PLAYER_EMAIL).await;
    let reminder_rows = || app.count("SELECT count(*) FROM play_reminders");
    let interval = async || -> Option<i32> {
        sqlx::query_scalar("SELECT interval_minutes FROM play_reminders")
            .fetch_optional(&app.pool)
            .await
            .unwrap()
    };
    let account = app.call("account/overview", &[], Some(&player)).await;
    assert!(account.json["play_reminder_minutes"].is_null());

    let set = set_reminder(&app, &player, "30").await;
    assert_eq!(set.status, 200, "{set:?}");
    assert_eq!(set.json["play_reminder_minutes"], 30);
    assert_eq!(interval().await, Some(30));
    assert_eq!(set_reminder(&app, &player, "30").await.status, 200);
    assert_eq!(audit_count(&app, "play_reminder.set").await, 1);
    let changed = set_reminder(&app, &player, "60").await;
    assert_eq!(changed.json["play_reminder_minutes"], 60);
    assert_eq!(interval().await, Some(60));
    assert_eq!(reminder_rows().await, 1);

    for refused in ["4", "721", "-30", "half an hour"] {
        let reply = set_reminder(&app, &player, refused).await;
        assert_eq!(
            (reply.status, reply.code(), reply.json["field"].as_str()),
            (422, "invalid_input", Some("minutes")),
            "{refused}: {reply:?}"
        );
    }
    assert_eq!(interval().await, Some(60));
    assert_eq!(audit_count(&app, "play_reminder.set").await, 2);

    let off = set_reminder(&app, &player, "0").await;
    assert_eq!(off.status, 200, "{off:?}");
    assert!(off.json["play_reminder_minutes"].is_null());
    assert_eq!(reminder_rows().await, 0);
    assert_eq!(
        set_reminder(&app, &player, "5").await.json["play_reminder_minutes"],
        5
    );
    let cleared = set_reminder(&app, &player, "").await;
    assert!(cleared.json["play_reminder_minutes"].is_null());
    assert_eq!(reminder_rows().await, 0);
    // 30, 60, off, 5, off; the repeated 30 changed nothing.
    assert_eq!(audit_count(&app, "play_reminder.set").await, 5);
    let last: serde_json::Value = sqlx::query_scalar(
        "SELECT jsonb_build_object('before', before, 'after', after) FROM audit_events
          WHERE action = 'play_reminder.set' ORDER BY seq DESC LIMIT 1",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        last,
        serde_json::json!({
            "before": {"interval_minutes": 5},
            "after": {"interval_minutes": null}
        })
    );
}
