//! The back office through the real router: who may read and act, tenant isolation, and what
//! each page's server functions return (audit log, webhook log, players, ledger explorer).

mod common;

use common::*;
use sqlx::PgPool;

const SUPPORT: &str = "support@demo.kasa.test";
const FINANCE: &str = "finance@demo.kasa.test";
const SECOND_FINANCE: &str = "finance@second.kasa.test";

/// A finance adjustment crediting the demo player `amount` EUR; returns its journal id.
async fn credit_player(app: &TestApp, finance: &str, amount: &str, key: &str) -> String {
    let reply = app
        .call(
            "admin/adjustments",
            &[
                ("player_email", PLAYER_EMAIL),
                ("currency", "EUR"),
                ("amount", amount),
                ("direction", "credit"),
                ("reason", "welcome credit"),
                ("idempotency_key", key),
            ],
            Some(finance),
        )
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    reply.json["journal_id"].as_str().unwrap().to_owned()
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
        ["adjustment.posted", "staff.logged_in", "staff.logged_in"]
    );
    let adjustment = &all.json["events"][0];
    assert_eq!(adjustment["actor_label"], FINANCE);
    assert_eq!(adjustment["reason"], "welcome credit");

    let by_actor = app
        .call(
            "backoffice/audit-events",
            &[("actor", FINANCE)],
            Some(&support),
        )
        .await;
    assert_eq!(actions(&by_actor), ["adjustment.posted", "staff.logged_in"]);
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
    assert_eq!(intact.json["events_checked"], 2);

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
