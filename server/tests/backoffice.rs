//! The back office through the real router: who may read and act, tenant isolation, and what
//! each page's server functions return (audit log, webhook log, players, ledger explorer).

mod common;
mod withdrawals_support;

use common::*;
use kasa_server::psp::signature;
use serde_json::json;
use sqlx::PgPool;

const SUPPORT: &str = "support@demo.kasa.test";
const FINANCE: &str = "finance@demo.kasa.test";
const SECOND_FINANCE: &str = "finance@second.kasa.test";
const MOCK_SECRET: &str = "kasa-development-mock-psp-secret";

const OWNER: &str = "owner@demo.kasa.test";

/// A finance adjustment crediting the demo player `amount` EUR, approved by the owner (four
/// eyes); returns its journal id.
async fn credit_player(app: &TestApp, finance: &str, amount: &str, key: &str) -> String {
    let owner = app.log_in("admin/login", OWNER).await;
    let approved = app
        .credit_with_approval(
            finance,
            &owner,
            PLAYER_EMAIL,
            "EUR",
            amount,
            "welcome credit",
            key,
        )
        .await;
    approved.json["request"]["journal_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn actions(reply: &Reply) -> Vec<String> {
    reply.json["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event| event["action"].as_str().unwrap().to_owned())
        .collect()
}

// Proves the audit log is for staff only (anonymous 401, player 403), support may read it, its
// filters narrow by actor email, action prefix and target, and the other brand's staff see none
// of this brand's events.
#[sqlx::test(migrations = "../migrations")]
async fn audit_log_search_is_staff_only_and_tenant_scoped(pool: PgPool) {
    let app = spawn_app(pool).await;
    let finance = app.log_in("admin/login", FINANCE).await;
    let support = app.log_in("admin/login", SUPPORT).await;
    credit_player(&app, &finance, "10.00", "audit-search-1").await;
    let player_id: String = sqlx::query_scalar("SELECT id::text FROM players WHERE email = $1")
        .bind(PLAYER_EMAIL)
        .fetch_one(&app.pool)
        .await
        .unwrap();

    assert_eq!(
        app.call("backoffice/audit-events", &[], None).await.status,
        401
    );
    let player = app.log_in("auth/login", PLAYER_EMAIL).await;
    assert_eq!(
        app.call("backoffice/audit-events", &[], Some(&player))
            .await
            .status,
        403
    );

    let all = app
        .call("backoffice/audit-events", &[], Some(&support))
        .await;
    assert_eq!(all.status, 200, "{all:?}");
    assert_eq!(
        actions(&all),
        [
            "adjustment.posted",
            "credit.approved",
            "credit.requested",
            "staff.logged_in",
            "staff.logged_in",
            "staff.logged_in"
        ]
    );
    let adjustment = &all.json["events"][0];
    assert_eq!(adjustment["actor_label"], OWNER);
    assert_eq!(adjustment["reason"], "welcome credit");
    let requested = &all.json["events"][2];
    assert_eq!(requested["actor_label"], FINANCE);
    assert_eq!(requested["reason"], "welcome credit");

    let by_actor = app
        .call(
            "backoffice/audit-events",
            &[("actor", FINANCE)],
            Some(&support),
        )
        .await;
    assert_eq!(actions(&by_actor), ["credit.requested", "staff.logged_in"]);
    let by_action = app
        .call(
            "backoffice/audit-events",
            &[("action", "adjustment")],
            Some(&support),
        )
        .await;
    assert_eq!(actions(&by_action), ["adjustment.posted"]);
    let target = format!("player:{player_id}");
    let by_target = app
        .call(
            "backoffice/audit-events",
            &[("target", &target)],
            Some(&support),
        )
        .await;
    assert_eq!(actions(&by_target), ["adjustment.posted"]);
    let bad_day = app
        .call(
            "backoffice/audit-events",
            &[("from", "yesterday")],
            Some(&support),
        )
        .await;
    assert_eq!(
        (bad_day.status, bad_day.json["field"].as_str()),
        (422, Some("from"))
    );

    let second = app
        .log_in_at_second_brand("admin/login", SECOND_FINANCE)
        .await;
    let other = app
        .call_at_second_brand("backoffice/audit-events", &[], Some(&second))
        .await;
    assert_eq!(actions(&other), ["staff.logged_in"]);
    assert_eq!(other.json["events"][0]["actor_label"], SECOND_FINANCE);
}

// Proves "Verify chain" reports an intact chain, then, after a superuser edits one event, the
// first broken link at exactly that event; the other brand's chain stays intact.
#[sqlx::test(migrations = "../migrations")]
async fn verify_chain_reports_the_first_broken_link(pool: PgPool) {
    let app = spawn_app(pool).await;
    let finance = app.log_in("admin/login", FINANCE).await;
    credit_player(&app, &finance, "5.00", "verify-1").await;
    let intact = app
        .call("backoffice/audit-verify", &[], Some(&finance))
        .await;
    assert_eq!(intact.status, 200, "{intact:?}");
    assert_eq!(intact.json["ok"], true);
    // Finance's log-in, the request, the owner's log-in, the approval and the posting.
    assert_eq!(intact.json["events_checked"], 5);

    let edited_seq: i64 =
        sqlx::query_scalar("SELECT seq FROM audit_events WHERE action = 'adjustment.posted'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    let mut connection = app.pool.acquire().await.unwrap();
    for statement in [
        "SET session_replication_role = replica",
        "UPDATE audit_events SET reason = 'nothing to see' WHERE action = 'adjustment.posted'",
        "RESET session_replication_role",
    ] {
        sqlx::query(statement)
            .execute(&mut *connection)
            .await
            .unwrap();
    }
    drop(connection);
    let broken = app
        .call("backoffice/audit-verify", &[], Some(&finance))
        .await;
    assert_eq!(broken.json["ok"], false);
    assert_eq!(broken.json["first_break"]["seq"], edited_seq);
    assert_eq!(broken.json["first_break"]["kind"], "hash_mismatch");

    let second = app
        .log_in_at_second_brand("admin/login", SECOND_FINANCE)
        .await;
    let other = app
        .call_at_second_brand("backoffice/audit-verify", &[], Some(&second))
        .await;
    assert_eq!(other.json["ok"], true);
}

// Proves the audit page renders on the server, readable without JavaScript, with the events in
// the HTML, and that an anonymous visitor is asked to log in instead.
#[sqlx::test(migrations = "../migrations")]
async fn audit_page_renders_on_the_server(pool: PgPool) {
    let app = spawn_app(pool).await;
    let finance = app.log_in("admin/login", FINANCE).await;
    credit_player(&app, &finance, "7.00", "page-1").await;
    let (status, _, html) = app
        .get_page("/admin/audit?action=adjustment", Some(&finance))
        .await;
    assert_eq!(status, 200);
    assert!(html.contains("adjustment.posted"), "{html}");
    assert!(!html.contains("staff.logged_in"));
    let (_, _, anonymous) = app.get_page("/admin/audit", None).await;
    assert!(anonymous.contains("log in with your staff account"));
}

/// Starts a mock PSP deposit of `amount` EUR for the demo player: (deposit id, checkout id).
async fn start_mock_deposit(
    app: &TestApp,
    player: &str,
    amount: &str,
    key: &str,
) -> (String, String) {
    let reply = app
        .call(
            "deposits/start",
            &[
                ("amount", amount),
                ("currency", "EUR"),
                ("provider", "mock"),
                ("idempotency_key", key),
            ],
            Some(player),
        )
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let redirect = reply.json["redirect_url"].as_str().unwrap();
    (
        reply.json["deposit_id"].as_str().unwrap().to_owned(),
        redirect.rsplit('/').next().unwrap().to_owned(),
    )
}

/// A mock PSP `checkout.paid` event body.
fn paid_event(event_id: &str, checkout: &str, deposit: &str, amount_minor: i64) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "id": event_id, "type": "checkout.paid", "created": chrono::Utc::now().timestamp(),
        "data": {"object": {
            "object": "checkout", "id": checkout, "deposit_id": deposit,
            "amount_minor": amount_minor, "currency": "EUR",
        }}
    }))
    .unwrap()
}

/// Delivers a signed mock PSP webhook; returns the HTTP status.
async fn deliver(app: &TestApp, body: &[u8]) -> u16 {
    app.http
        .post(format!("{}/api/v1/payments/webhook/mock", app.base))
        .header("content-type", "application/json")
        .header(
            "kasa-mock-signature",
            signature::sign(body, MOCK_SECRET, app.now().timestamp()),
        )
        .body(body.to_vec())
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

// Proves the webhook log shows this brand's events (also one that failed before any brand was
// recorded on it, found through its deposit), not events about nobody's objects, and not to
// the other brand; support reads but may not re-apply.
#[sqlx::test(migrations = "../migrations")]
async fn webhook_log_shows_the_brands_events_only(pool: PgPool) {
    let app = spawn_app(pool).await;
    let player = app.log_in("auth/login", PLAYER_EMAIL).await;
    let (deposit, checkout) = start_mock_deposit(&app, &player, "20.00", "hook-log-1").await;
    let wrong_amount = paid_event("mevt_wrong", &checkout, &deposit, 99_999);
    assert_eq!(deliver(&app, &wrong_amount).await, 500);
    let nobodys = paid_event(
        "mevt_nobody",
        "mcs_unknown",
        &uuid::Uuid::new_v4().to_string(),
        100,
    );
    assert_eq!(deliver(&app, &nobodys).await, 200);

    let support = app.log_in("admin/login", SUPPORT).await;
    let log = app.call("backoffice/webhooks", &[], Some(&support)).await;
    assert_eq!(log.status, 200, "{log:?}");
    assert_eq!(log.json["can_act"], false);
    let events = log.json["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["event_id"], "mevt_wrong");
    assert_eq!(events[0]["status"], "failed");
    assert_eq!(events[0]["signature_verified"], true);
    assert!(
        events[0]["last_error"]
            .as_str()
            .unwrap()
            .contains("reports")
    );
    assert_eq!(
        log.json["counts"],
        json!([{"provider": "mock", "status": "failed", "count": 1}])
    );
    let id = events[0]["id"].as_str().unwrap().to_owned();
    let refused = app
        .call(
            "backoffice/webhooks/reapply",
            &[("event", &id), ("idempotency_key", "k1")],
            Some(&support),
        )
        .await;
    assert_eq!(refused.status, 403);

    let second = app
        .log_in_at_second_brand("admin/login", SECOND_FINANCE)
        .await;
    let other = app
        .call_at_second_brand("backoffice/webhooks", &[], Some(&second))
        .await;
    assert_eq!(other.json["events"], json!([]));
    let other_reapply = app
        .call_at_second_brand(
            "backoffice/webhooks/reapply",
            &[("event", &id), ("idempotency_key", "k1")],
            Some(&second),
        )
        .await;
    assert_eq!(other_reapply.status, 404);

    let filtered = app
        .call(
            "backoffice/webhooks",
            &[("status", "applied")],
            Some(&support),
        )
        .await;
    assert_eq!(filtered.json["events"], json!([]));
}

// Proves finance re-applies an event left unapplied (stored, then the server stopped): the
// deposit is captured once, the staff action is audited once per click, and an applied event
// cannot be re-applied again.
#[sqlx::test(migrations = "../migrations")]
async fn finance_reapplies_an_event_once_and_it_is_audited(pool: PgPool) {
    let app = spawn_app(pool).await;
    let player = app.log_in("auth/login", PLAYER_EMAIL).await;
    let (deposit, checkout) = start_mock_deposit(&app, &player, "15.00", "hook-reapply-1").await;
    let body = paid_event("mevt_left_behind", &checkout, &deposit, 1_500);
    let event_id = uuid::Uuid::new_v4();
    sqlx::query(
        "INSERT INTO psp_webhook_events (id, provider, event_id, event_type, payload, raw_body,
             status, received_at, last_delivery_at)
         VALUES ($1, 'mock', 'mevt_left_behind', 'checkout.paid', $2, $3, 'received', now(), now())",
    )
    .bind(event_id)
    .bind(serde_json::from_slice::<serde_json::Value>(&body).unwrap())
    .bind(String::from_utf8(body).unwrap())
    .execute(&app.pool)
    .await
    .unwrap();

    let finance = app.log_in("admin/login", FINANCE).await;
    let id = event_id.to_string();
    let form = [("event", id.as_str()), ("idempotency_key", "click-1")];
    let reply = app
        .call("backoffice/webhooks/reapply", &form, Some(&finance))
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.json["status"], "applied");
    let state: String = sqlx::query_scalar("SELECT state FROM deposits WHERE id::text = $1")
        .bind(&deposit)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(state, "captured");
    let again = app
        .call("backoffice/webhooks/reapply", &form, Some(&finance))
        .await;
    assert_eq!(
        (again.status, again.json["status"].as_str()),
        (200, Some("applied"))
    );
    let new_click = app
        .call(
            "backoffice/webhooks/reapply",
            &[("event", id.as_str()), ("idempotency_key", "click-2")],
            Some(&finance),
        )
        .await;
    assert_eq!(
        (new_click.status, new_click.code()),
        (409, "invalid_state_transition")
    );

    assert_eq!(
        app.count("SELECT count(*) FROM ledger_journals WHERE kind = 'deposit_capture'")
            .await,
        1
    );
    // The capture's event is queued and linked by the chainer, after the directly recorded one.
    kasa_server::audit::chain_pending(&app.pool).await.unwrap();
    let audited: Vec<(String, serde_json::Value)> = sqlx::query_as(
        "SELECT action, after FROM audit_events WHERE action IN ('webhook.reapplied', 'deposit.captured')
          ORDER BY action",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(audited.len(), 2, "{audited:?}");
    assert_eq!(audited[0].0, "deposit.captured");
    assert_eq!(audited[1].0, "webhook.reapplied");
    assert_eq!(audited[1].1["status"], "applied");
}

// Proves staff find players by email fragment, id or name (never the other brand's, and LIKE
// wildcards match literally), and the player page shows the ledger balances, KYC, deposits,
// withdrawals and movements; the other brand's staff get 404 for this player.
#[sqlx::test(migrations = "../migrations")]
async fn players_are_found_and_shown_with_their_money(pool: PgPool) {
    let app = spawn_app(pool).await;
    let actors = withdrawals_support::log_in_all(&app).await;
    withdrawals_support::fund(&app, &actors.finance, "100.00").await;
    let (deposit, checkout) = start_mock_deposit(&app, &actors.player, "20.00", "players-1").await;
    assert_eq!(
        deliver(
            &app,
            &paid_event("mevt_players", &checkout, &deposit, 2_000)
        )
        .await,
        200
    );
    let withdrawal = withdrawals_support::requested(&app, &actors.player, "30.00").await;

    let support = app.log_in("admin/login", SUPPORT).await;
    let search = |q: &'static str| {
        let app = &app;
        let support = support.clone();
        async move {
            let reply = app
                .call("backoffice/players", &[("q", q)], Some(&support))
                .await;
            assert_eq!(reply.status, 200, "{reply:?}");
            reply.json["players"]
                .as_array()
                .unwrap()
                .iter()
                .map(|player| player["email"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(search("PLAYER@demo").await, [PLAYER_EMAIL]);
    assert_eq!(search("demo pl").await, [PLAYER_EMAIL]);
    assert_eq!(
        search("player@").await,
        [PLAYER_EMAIL],
        "the other brand's player is not found"
    );
    assert_eq!(search("%").await, Vec::<String>::new());
    let player_id: String = sqlx::query_scalar("SELECT id::text FROM players WHERE email = $1")
        .bind(PLAYER_EMAIL)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let by_id = app
        .call("backoffice/players", &[("q", &player_id)], Some(&support))
        .await;
    assert_eq!(by_id.json["players"][0]["email"], PLAYER_EMAIL);

    let detail = app
        .call(
            "backoffice/player",
            &[("player", &player_id)],
            Some(&support),
        )
        .await;
    assert_eq!(detail.status, 200, "{detail:?}");
    assert_eq!(
        detail.json["funds"],
        json!([{
            "available": {"amount": "90.00", "currency": "EUR"},
            "held": {"amount": "30.00", "currency": "EUR"},
            "owed": {"amount": "0.00", "currency": "EUR"},
        }])
    );
    assert_eq!(detail.json["kyc_state"], "verified");
    assert_eq!(detail.json["can_act"], false);
    assert_eq!(detail.json["deposits"][0]["id"], deposit);
    assert_eq!(detail.json["deposits"][0]["state"], "captured");
    assert_eq!(detail.json["withdrawals"][0]["id"], withdrawal.to_string());
    assert_eq!(detail.json["withdrawals"][0]["state"], "requested");
    let kinds: Vec<&str> = detail.json["movements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|movement| movement["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "withdrawal_request",
            "withdrawal_request",
            "deposit_capture",
            "adjustment"
        ],
        "newest first; a request moves cash and hold"
    );

    let second = app
        .log_in_at_second_brand("admin/login", SECOND_FINANCE)
        .await;
    let foreign = app
        .call_at_second_brand(
            "backoffice/player",
            &[("player", &player_id)],
            Some(&second),
        )
        .await;
    assert_eq!(foreign.status, 404);
    let (status, _, html) = app
        .get_page(&format!("/admin/players/{player_id}"), Some(&support))
        .await;
    assert_eq!(status, 200);
    assert!(html.contains(PLAYER_EMAIL) && html.contains("captured"));
}

// Proves notes are for finance and owner (support 403), one click adds one note even when sent
// twice, the note is audited with the player as target, and it shows on the player's page.
#[sqlx::test(migrations = "../migrations")]
async fn staff_notes_are_added_once_and_audited(pool: PgPool) {
    let app = spawn_app(pool).await;
    let support = app.log_in("admin/login", SUPPORT).await;
    let finance = app.log_in("admin/login", FINANCE).await;
    let player_id: String = sqlx::query_scalar("SELECT id::text FROM players WHERE email = $1")
        .bind(PLAYER_EMAIL)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let form = [
        ("player", player_id.as_str()),
        ("body", "Called about a late payout; explained the recheck."),
        ("idempotency_key", "note-1"),
    ];
    assert_eq!(
        app.call("backoffice/player/notes", &form, Some(&support))
            .await
            .status,
        403
    );
    let first = app
        .call("backoffice/player/notes", &form, Some(&finance))
        .await;
    assert_eq!(first.status, 200, "{first:?}");
    let again = app
        .call("backoffice/player/notes", &form, Some(&finance))
        .await;
    assert_eq!(again.json["id"], first.json["id"]);
    assert_eq!(app.count("SELECT count(*) FROM staff_notes").await, 1);
    let audited: (String, serde_json::Value) = sqlx::query_as(
        "SELECT target_id, after FROM audit_events WHERE action = 'player.note_added'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(audited.0, player_id);
    assert_eq!(audited.1["note_id"], first.json["id"]);
    let empty = app
        .call(
            "backoffice/player/notes",
            &[
                ("player", player_id.as_str()),
                ("body", "  "),
                ("idempotency_key", "note-2"),
            ],
            Some(&finance),
        )
        .await;
    assert_eq!(
        (empty.status, empty.json["field"].as_str()),
        (422, Some("body"))
    );
    let detail = app
        .call(
            "backoffice/player",
            &[("player", &player_id)],
            Some(&finance),
        )
        .await;
    assert_eq!(detail.json["notes"][0]["staff_email"], FINANCE);
    assert_eq!(detail.json["can_act"], true);
}

// Proves the ledger explorer lists this brand's accounts with balances (filtered by kind and
// currency), pages an account's transfers from its own side with balances after, shows a
// journal with its business object, and answers 404 to the other brand's staff for any of it.
#[sqlx::test(migrations = "../migrations")]
async fn ledger_explorer_shows_accounts_transfers_and_journals(pool: PgPool) {
    let app = spawn_app(pool).await;
    let finance = app.log_in("admin/login", FINANCE).await;
    let player = app.log_in("auth/login", PLAYER_EMAIL).await;
    credit_player(&app, &finance, "100.00", "explorer-1").await;
    let (deposit, checkout) = start_mock_deposit(&app, &player, "20.00", "explorer-2").await;
    assert_eq!(
        deliver(
            &app,
            &paid_event("mevt_explorer", &checkout, &deposit, 2_000)
        )
        .await,
        200
    );
    let support = app.log_in("admin/login", SUPPORT).await;

    let all = app
        .call("backoffice/ledger/accounts", &[], Some(&support))
        .await;
    assert_eq!(all.status, 200, "{all:?}");
    let balances: Vec<(String, String)> = all.json["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|account| {
            let label = match (
                account["provider"].as_str(),
                account["player_email"].as_str(),
            ) {
                (Some(provider), _) => format!("{}:{provider}", account["kind"].as_str().unwrap()),
                (None, Some(email)) => format!("{}:{email}", account["kind"].as_str().unwrap()),
                _ => account["kind"].as_str().unwrap().to_owned(),
            };
            (
                label,
                account["balance"]["amount"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        balances,
        [
            ("adjustments".to_owned(), "-100.00".to_owned()),
            ("psp_clearing:mock".to_owned(), "-20.00".to_owned()),
            (format!("player_cash:{PLAYER_EMAIL}"), "120.00".to_owned()),
        ]
    );
    let cash = app
        .call(
            "backoffice/ledger/accounts",
            &[("kind", "player_cash")],
            Some(&support),
        )
        .await;
    assert_eq!(cash.json["accounts"].as_array().unwrap().len(), 1);
    let usd = app
        .call(
            "backoffice/ledger/accounts",
            &[("currency", "USD")],
            Some(&support),
        )
        .await;
    assert_eq!(usd.json["accounts"], json!([]));
    let cash_id = cash.json["accounts"][0]["id"].as_str().unwrap().to_owned();
    let clearing_id = all.json["accounts"][1]["id"].as_str().unwrap().to_owned();

    let cash_transfers = app
        .call(
            "backoffice/ledger/account",
            &[("account", &cash_id)],
            Some(&support),
        )
        .await;
    assert_eq!(cash_transfers.status, 200, "{cash_transfers:?}");
    let rows: Vec<(String, String, String)> = cash_transfers.json["transfers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|transfer| {
            (
                transfer["journal_kind"].as_str().unwrap().to_owned(),
                transfer["amount"]["amount"].as_str().unwrap().to_owned(),
                transfer["balance_after"]["amount"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            (
                "deposit_capture".to_owned(),
                "20.00".to_owned(),
                "120.00".to_owned()
            ),
            (
                "adjustment".to_owned(),
                "100.00".to_owned(),
                "100.00".to_owned()
            ),
        ]
    );
    assert_eq!(
        cash_transfers.json["transfers"][0]["counterparty"],
        "psp_clearing:mock"
    );
    let clearing = app
        .call(
            "backoffice/ledger/account",
            &[("account", &clearing_id)],
            Some(&support),
        )
        .await;
    assert_eq!(clearing.json["transfers"][0]["amount"]["amount"], "-20.00");
    assert_eq!(clearing.json["transfers"][0]["balance_after"], json!(null));

    let journal_id = cash_transfers.json["transfers"][0]["journal_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let journal = app
        .call(
            "backoffice/ledger/journal",
            &[("journal", &journal_id)],
            Some(&support),
        )
        .await;
    assert_eq!(journal.status, 200, "{journal:?}");
    assert_eq!(journal.json["kind"], "deposit_capture");
    assert_eq!(journal.json["reference"], format!("deposit:{deposit}"));
    assert_eq!(journal.json["object"]["kind"], "deposit");
    assert_eq!(
        journal.json["object"]["facts"][0],
        json!(["State", "captured"])
    );
    assert_eq!(journal.json["transfers"][0]["debit"], "psp_clearing:mock");

    let second = app
        .log_in_at_second_brand("admin/login", SECOND_FINANCE)
        .await;
    for (endpoint, field, id) in [
        ("backoffice/ledger/account", "account", &cash_id),
        ("backoffice/ledger/journal", "journal", &journal_id),
    ] {
        let foreign = app
            .call_at_second_brand(endpoint, &[(field, id.as_str())], Some(&second))
            .await;
        assert_eq!(foreign.status, 404, "{endpoint}");
    }
    let (status, _, html) = app
        .get_page(
            &format!("/admin/ledger/journals/{journal_id}"),
            Some(&support),
        )
        .await;
    assert_eq!(status, 200);
    assert!(html.contains("deposit_capture") && html.contains("captured"));
}

/// The CSV's lines (without the trailing CRLF).
fn csv_lines(body: &str) -> Vec<&str> {
    body.split("\r\n").filter(|line| !line.is_empty()).collect()
}

// Proves the CSV exports are for staff only (anonymous 401, player 403, unknown list 404), carry
// the filter in the file name, neutralise formulas in cells, hold only this brand's rows, and
// are audited.
#[sqlx::test(migrations = "../migrations")]
async fn csv_exports_are_filtered_neutralised_and_private(pool: PgPool) {
    let app = spawn_app(pool).await;
    let actors = withdrawals_support::log_in_all(&app).await;
    withdrawals_support::fund(&app, &actors.finance, "100.00").await;
    let rejected = withdrawals_support::requested(&app, &actors.player, "60.00").await;
    let reply = withdrawals_support::act(
        &app,
        &actors.finance,
        "reject",
        rejected,
        &format!("reject:{rejected}"),
        &[("reason", "=HYPERLINK(\"http://evil.example\",\"click\")")],
    )
    .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    app.advance(chrono::Duration::seconds(1));
    let pending = withdrawals_support::requested(&app, &actors.player, "10.00").await;

    assert_eq!(
        app.get_page("/admin/export/withdrawals.csv", None).await.0,
        401
    );
    assert_eq!(
        app.get_page("/admin/export/withdrawals.csv", Some(&actors.player))
            .await
            .0,
        403
    );
    assert_eq!(
        app.get_page("/admin/export/secrets.csv", Some(&actors.finance))
            .await
            .0,
        404
    );
    let (status, headers, body) = app
        .get_page(
            "/admin/export/withdrawals.csv?state=rejected&from=2000-01-01",
            Some(&actors.finance),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers["content-type"], "text/csv; charset=utf-8");
    assert_eq!(
        headers["content-disposition"],
        "attachment; filename=\"withdrawals_state-rejected_from-2000-01-01.csv\""
    );
    let lines = csv_lines(&body);
    assert_eq!(
        lines[0],
        "id,created_at,player_email,amount,currency,state,approved_at,paid_at,reject_reason,external_reference"
    );
    assert_eq!(lines.len(), 2, "{body}");
    assert!(lines[1].starts_with(&rejected.to_string()));
    assert!(lines[1].contains(",60.00,EUR,rejected,"));
    assert!(
        lines[1].contains("\"'=HYPERLINK(\"\"http://evil.example\"\",\"\"click\"\")\""),
        "the formula is neutralised: {}",
        lines[1]
    );
    let (_, _, all) = app
        .get_page("/admin/export/withdrawals.csv", Some(&actors.finance))
        .await;
    assert_eq!(csv_lines(&all).len(), 3);
    assert!(
        csv_lines(&all)[1].starts_with(&pending.to_string()),
        "newest first"
    );

    let (_, _, journals) = app
        .get_page(
            "/admin/export/journals.csv?kind=withdrawal_request",
            Some(&actors.finance),
        )
        .await;
    let journal_lines = csv_lines(&journals);
    assert_eq!(journal_lines.len(), 3, "{journals}");
    assert!(journal_lines[1].contains(&format!(
        ",player_cash:{PLAYER_EMAIL},player_withdrawal_hold:{PLAYER_EMAIL},10.00,EUR"
    )));
    let (_, _, deposits) = app
        .get_page("/admin/export/deposits.csv", Some(&actors.finance))
        .await;
    assert_eq!(
        csv_lines(&deposits).len(),
        1,
        "only the header: no deposits yet"
    );
    let (_, _, findings) = app
        .get_page(
            "/admin/export/findings.csv?status=open",
            Some(&actors.finance),
        )
        .await;
    assert_eq!(csv_lines(&findings).len(), 1);
    let (bad, _, _) = app
        .get_page(
            "/admin/export/findings.csv?kind=nonsense",
            Some(&actors.finance),
        )
        .await;
    assert_eq!(bad, 422);

    let second = app
        .log_in_at_second_brand("admin/login", SECOND_FINANCE)
        .await;
    let (host, _) = app.second_brand();
    let other = app
        .http
        .get(format!("{}/admin/export/withdrawals.csv", app.base))
        .header("host", host)
        .header("cookie", second)
        .send()
        .await
        .unwrap();
    assert_eq!(other.status().as_u16(), 200);
    assert_eq!(
        csv_lines(&other.text().await.unwrap()).len(),
        1,
        "the other brand sees only the header"
    );

    assert_eq!(
        app.count("SELECT count(*) FROM audit_events WHERE action = 'export.downloaded'")
            .await,
        6
    );
}

// Proves an export streams past one batch (keyset paging) with every row exactly once.
#[sqlx::test(migrations = "../migrations")]
async fn audit_export_streams_every_row_once(pool: PgPool) {
    let app = spawn_app(pool).await;
    let tenant_id: app::domain::ids::TenantId =
        sqlx::query_scalar("SELECT id FROM tenants WHERE slug = 'kasa-demo'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    let mut tx = app.pool.begin().await.unwrap();
    for number in 0..1_234 {
        let event = kasa_server::audit::AuditEvent {
            tenant_id,
            actor: kasa_server::audit::Actor::System("test".into()),
            action: "test.event".into(),
            target_type: "test".into(),
            target_id: number.to_string(),
            before: None,
            after: None,
            reason: Some(format!("+{number}")),
            request_id: None,
            idempotency_key: None,
            ip: None,
            at: chrono::Utc::now(),
        };
        kasa_server::audit::record(&mut tx, &event).await.unwrap();
    }
    tx.commit().await.unwrap();
    let support = app.log_in("admin/login", SUPPORT).await;
    let (status, headers, body) = app
        .get_page("/admin/export/audit.csv?action=test", Some(&support))
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        headers["content-disposition"],
        "attachment; filename=\"audit_action-test.csv\""
    );
    let lines = csv_lines(&body);
    assert_eq!(lines.len(), 1 + 1_234);
    let mut targets: Vec<i64> = lines[1..]
        .iter()
        .map(|line| line.split(',').nth(7).unwrap().parse().unwrap())
        .collect();
    targets.sort_unstable();
    assert_eq!(targets, (0..1_234).collect::<Vec<i64>>());
    assert!(
        lines[1].contains(",'+1233,"),
        "reasons starting with + are neutralised: {}",
        lines[1]
    );
}
