//! Reconciliation through the real router: a scripted scenario in which the mock PSP's books and
//! ours disagree in each of the four ways, re-runs that add no duplicates, and resolutions that
//! are audited and fix the money through the normal paths.

mod common;
mod stripe_support;
mod withdrawals_support;

use common::*;
use kasa_server::psp::signature;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;
use withdrawals_support::{approve, log_in_all, requested, script, start_payout};

const MOCK_SECRET: &str = "kasa-development-mock-psp-secret";

/// A mock PSP deposit of `amount` EUR: (deposit id, checkout id).
async fn start_deposit(app: &TestApp, player: &str, amount: &str, key: &str) -> (String, String) {
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
    (
        reply.json["deposit_id"].as_str().unwrap().to_owned(),
        reply.json["redirect_url"]
            .as_str()
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap()
            .to_owned(),
    )
}

/// Captures the deposit the way the mock PSP does: its books say paid, and its signed webhook
/// arrives.
async fn capture(app: &TestApp, deposit: &str, checkout: &str, amount_minor: i64) {
    sqlx::query(
        "UPDATE mock_psp_checkouts SET status = 'paid', completed_at = now() WHERE id = $1",
    )
    .bind(checkout)
    .execute(&app.pool)
    .await
    .unwrap();
    let body = serde_json::to_vec(&json!({
        "id": format!("mevt_{checkout}"), "type": "checkout.paid", "created": app.now().timestamp(),
        "data": {"object": {"object": "checkout", "id": checkout, "deposit_id": deposit,
                            "amount_minor": amount_minor, "currency": "EUR"}}
    }))
    .unwrap();
    let status = app
        .http
        .post(format!("{}/api/v1/payments/webhook/mock", app.base))
        .header(
            "kasa-mock-signature",
            signature::sign(&body, MOCK_SECRET, app.now().timestamp()),
        )
        .body(body)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status.as_u16(), 200);
}

async fn mock_books(app: &TestApp, statement: &str, checkout: &str) {
    sqlx::query(statement)
        .bind(checkout)
        .execute(&app.pool)
        .await
        .unwrap();
}

/// (kind, reference, status) of every stored finding, sorted.
async fn stored(app: &TestApp) -> Vec<(String, String, String)> {
    sqlx::query_as(
        "SELECT kind, reference, status FROM reconciliation_findings ORDER BY kind, reference",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap()
}

fn finding_id(page: &Reply, kind: &str) -> String {
    page.json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|finding| finding["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} finding in {page:?}"))["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

// Proves one run finds each kind exactly where the books disagree (and nothing where they
// agree), a second run adds no duplicate and counts them as seen again, support may look but
// not run, and the other brand sees none of it.
#[sqlx::test(migrations = "../migrations")]
async fn each_kind_is_found_once_however_often_it_runs(pool: PgPool) {
    let app = spawn_app(pool).await;
    let actors = log_in_all(&app).await;
    let player = &actors.player;
    // Paid at the PSP, but its webhook never arrived: missing in the ledger.
    let (_, unpaid) = start_deposit(&app, player, "10.00", "rec-a").await;
    mock_books(
        &app,
        "UPDATE mock_psp_checkouts SET status = 'paid' WHERE id = $1",
        &unpaid,
    )
    .await;
    // Captured here; the PSP lost its record: missing at the PSP.
    let (lost_deposit, lost) = start_deposit(&app, player, "11.00", "rec-b").await;
    capture(&app, &lost_deposit, &lost, 1_100).await;
    mock_books(&app, "DELETE FROM mock_psp_checkouts WHERE id = $1", &lost).await;
    // Captured here; the PSP's books say another amount.
    let (other_deposit, other) = start_deposit(&app, player, "12.00", "rec-c").await;
    capture(&app, &other_deposit, &other, 1_200).await;
    mock_books(
        &app,
        "UPDATE mock_psp_checkouts SET amount_minor = 1300 WHERE id = $1",
        &other,
    )
    .await;
    // Failed at the PSP, still pending here: the states disagree.
    let (_, failed) = start_deposit(&app, player, "13.00", "rec-d").await;
    mock_books(
        &app,
        "UPDATE mock_psp_checkouts SET status = 'failed' WHERE id = $1",
        &failed,
    )
    .await;
    // Agreeing books.
    let (fine_deposit, fine) = start_deposit(&app, player, "14.00", "rec-e").await;
    capture(&app, &fine_deposit, &fine, 1_400).await;

    let support = app.log_in("admin/login", "support@demo.kasa.test").await;
    let refused = app
        .call(
            "backoffice/reconciliation/run",
            &[("idempotency_key", "r0")],
            Some(&support),
        )
        .await;
    assert_eq!(refused.status, 403);

    let first = app
        .call(
            "backoffice/reconciliation/run",
            &[("idempotency_key", "r1")],
            Some(&actors.finance),
        )
        .await;
    assert_eq!(first.status, 200, "{first:?}");
    assert_eq!(
        (
            first.json["findings_new"].as_i64(),
            first.json["findings_seen"].as_i64()
        ),
        (Some(4), Some(0))
    );
    let expected = vec![
        (
            "amount_mismatch".to_owned(),
            other.clone(),
            "open".to_owned(),
        ),
        ("missing_at_psp".to_owned(), lost.clone(), "open".to_owned()),
        (
            "missing_in_ledger".to_owned(),
            unpaid.clone(),
            "open".to_owned(),
        ),
        (
            "status_mismatch".to_owned(),
            failed.clone(),
            "open".to_owned(),
        ),
    ];
    assert_eq!(stored(&app).await, expected);

    app.advance(chrono::Duration::seconds(1));
    let second = app
        .call(
            "backoffice/reconciliation/run",
            &[("idempotency_key", "r2")],
            Some(&actors.finance),
        )
        .await;
    assert_eq!(
        (
            second.json["findings_new"].as_i64(),
            second.json["findings_seen"].as_i64()
        ),
        (Some(0), Some(4))
    );
    assert_eq!(stored(&app).await, expected);
    assert_eq!(
        app.count("SELECT count(*) FROM reconciliation_runs").await,
        2
    );
    assert_eq!(
        app.count("SELECT count(*) FROM audit_events WHERE action = 'reconciliation.run'")
            .await,
        2
    );

    // The operator's command: a dry run reports the same findings and stores nothing; a real
    // run stores no duplicate either. Both exit 3 (differences found).
    let config = std::sync::Arc::new(
        kasa_server::config::Config::from_sources("", |name| {
            (name == "KASA_ENVIRONMENT").then(|| "test".to_owned())
        })
        .unwrap(),
    );
    for dry_run in [true, false] {
        let code = kasa_server::cli::reconcile::command(
            &app.pool,
            config.clone(),
            Some("mock".into()),
            Some("2000-01-01"),
            Some("kasa-demo"),
            dry_run,
        )
        .await
        .unwrap();
        assert_eq!(code, std::process::ExitCode::from(3));
    }
    assert_eq!(
        app.count("SELECT count(*) FROM reconciliation_runs").await,
        3
    );
    assert_eq!(stored(&app).await, expected);

    let page = app
        .call(
            "backoffice/reconciliation/findings",
            &[("kind", "amount_mismatch")],
            Some(&support),
        )
        .await;
    assert_eq!(page.status, 200, "{page:?}");
    assert_eq!(page.json["can_act"], false);
    assert_eq!(page.json["findings"].as_array().unwrap().len(), 1);
    assert_eq!(page.json["findings"][0]["psp_amount"]["amount"], "13.00");
    assert_eq!(page.json["findings"][0]["ledger_amount"]["amount"], "12.00");
    assert_eq!(page.json["findings"][0]["severity"], "high");
    assert_eq!(page.json["last_run"]["findings_seen"], 4);

    let second_brand = app
        .log_in_at_second_brand("admin/login", "finance@second.kasa.test")
        .await;
    let other_brand = app
        .call_at_second_brand(
            "backoffice/reconciliation/findings",
            &[],
            Some(&second_brand),
        )
        .await;
    assert_eq!(other_brand.json["findings"], json!([]));
    let foreign = app
        .call_at_second_brand(
            "backoffice/reconciliation/resolve",
            &[
                ("finding", finding_id(&page, "amount_mismatch").as_str()),
                ("note", "not mine"),
                ("idempotency_key", "x"),
            ],
            Some(&second_brand),
        )
        .await;
    assert_eq!(foreign.status, 404);
}

// Proves resolutions: a note is required; a note alone resolves (audited with the note); the
// money fixes go through the normal paths (the PSP's "paid" captures the deposit with its one
// journal; a correcting adjustment debits the player), each audited in the same transaction; the
// same click twice resolves once (the same key with another note is refused); a resolved finding
// stays resolved when the run finds it again.
#[sqlx::test(migrations = "../migrations")]
async fn resolutions_are_audited_and_fix_money_through_the_ledger(pool: PgPool) {
    let app = spawn_app(pool).await;
    let actors = log_in_all(&app).await;
    let (unpaid_deposit, unpaid) = start_deposit(&app, &actors.player, "10.00", "res-a").await;
    mock_books(
        &app,
        "UPDATE mock_psp_checkouts SET status = 'paid' WHERE id = $1",
        &unpaid,
    )
    .await;
    let (double_deposit, double) = start_deposit(&app, &actors.player, "12.00", "res-b").await;
    capture(&app, &double_deposit, &double, 1_200).await;
    mock_books(
        &app,
        "UPDATE mock_psp_checkouts SET amount_minor = 1100 WHERE id = $1",
        &double,
    )
    .await;
    let (_, failed) = start_deposit(&app, &actors.player, "13.00", "res-c").await;
    mock_books(
        &app,
        "UPDATE mock_psp_checkouts SET status = 'failed' WHERE id = $1",
        &failed,
    )
    .await;
    let finance = &actors.finance;
    app.call(
        "backoffice/reconciliation/run",
        &[("idempotency_key", "run-1")],
        Some(finance),
    )
    .await;
    let page = app
        .call("backoffice/reconciliation/findings", &[], Some(finance))
        .await;
    let resolve = |finding: String,
                   note: &'static str,
                   correction: &'static str,
                   amount: &'static str,
                   key: &'static str| {
        let app = &app;
        async move {
            app.call(
                "backoffice/reconciliation/resolve",
                &[
                    ("finding", finding.as_str()),
                    ("note", note),
                    ("correction", correction),
                    ("amount", amount),
                    ("idempotency_key", key),
                ],
                Some(finance),
            )
            .await
        }
    };

    let no_note = resolve(finding_id(&page, "status_mismatch"), " ", "none", "", "k0").await;
    assert_eq!(
        (no_note.status, no_note.json["field"].as_str()),
        (422, Some("note"))
    );

    let noted = resolve(
        finding_id(&page, "status_mismatch"),
        "PSP declined the card; the deposit expires on its own",
        "none",
        "",
        "k1",
    )
    .await;
    assert_eq!(noted.status, 200, "{noted:?}");
    assert_eq!(noted.json["status"], "resolved");
    assert_eq!(noted.json["resolved_by"], "finance@demo.kasa.test");

    let applied = resolve(
        finding_id(&page, "missing_in_ledger"),
        "webhook lost; applied the PSP's paid status",
        "apply_psp",
        "",
        "k2",
    )
    .await;
    assert_eq!(applied.status, 200, "{applied:?}");
    let (state, journal): (String, Option<Uuid>) =
        sqlx::query_as("SELECT state, capture_journal_id FROM deposits WHERE id::text = $1")
            .bind(&unpaid_deposit)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(state, "captured");
    assert_eq!(applied.json["correcting_journal_id"], json!(journal));
    let again = resolve(
        finding_id(&page, "missing_in_ledger"),
        "webhook lost; applied the PSP's paid status",
        "apply_psp",
        "",
        "k2",
    )
    .await;
    assert_eq!(again.status, 200);
    // The same key with another note is not the same click.
    let reused = resolve(
        finding_id(&page, "missing_in_ledger"),
        "again",
        "apply_psp",
        "",
        "k2",
    )
    .await;
    assert_eq!(
        (reused.status, reused.code()),
        (409, "idempotency_key_reused")
    );
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM ledger_journals WHERE reference = 'deposit:{unpaid_deposit}'"
        ))
        .await,
        1
    );
    let other_click = resolve(
        finding_id(&page, "missing_in_ledger"),
        "again",
        "none",
        "",
        "k9",
    )
    .await;
    assert_eq!(
        (other_click.status, other_click.code()),
        (409, "invalid_state_transition")
    );

    let adjusted = resolve(
        finding_id(&page, "amount_mismatch"),
        "the PSP settled 11.00; take back the 1.00 credited too much",
        "debit",
        "1.00",
        "k3",
    )
    .await;
    assert_eq!(adjusted.status, 200, "{adjusted:?}");
    let correction: (String, i64) = sqlx::query_as(
        "SELECT j.kind, t.amount_minor FROM ledger_journals j JOIN ledger_transfers t ON t.journal_id = j.id
          WHERE j.id::text = $1",
    )
    .bind(adjusted.json["correcting_journal_id"].as_str().unwrap())
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(correction, ("adjustment".to_owned(), 100));
    let balances = withdrawals_support::balances(&app, &actors.player).await;
    assert_eq!(
        balances.0, "21.00",
        "10.00 applied + 12.00 captured - 1.00 corrected"
    );

    let audited: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT action, reason FROM audit_events
          WHERE action IN ('reconciliation.finding_resolved', 'deposit.captured') ORDER BY seq",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    let resolutions: Vec<&str> = audited
        .iter()
        .filter(|(action, _)| action == "reconciliation.finding_resolved")
        .map(|(_, reason)| reason.as_deref().unwrap())
        .collect();
    assert_eq!(resolutions.len(), 3, "{audited:?}");
    assert!(resolutions[0].starts_with("PSP declined"));

    let rerun = app
        .call(
            "backoffice/reconciliation/run",
            &[("idempotency_key", "run-2")],
            Some(finance),
        )
        .await;
    assert_eq!(rerun.json["findings_new"], 0, "{rerun:?}");
    assert_eq!(
        app.count("SELECT count(*) FROM reconciliation_findings WHERE status = 'open'")
            .await,
        0
    );
    withdrawals_support::assert_ledger_whole(&app.pool).await;
}

// Proves a payout the PSP made but whose answer was lost is found missing in the ledger, and
// resolving it by applying the PSP's word pays the withdrawal with its one payout journal.
#[sqlx::test(migrations = "../migrations")]
async fn a_lost_payout_answer_is_found_and_settled(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let actors = log_in_all(&app).await;
    withdrawals_support::fund(&app, &actors.finance, "100.00").await;
    let withdrawal = requested(&app, &actors.player, "60.00").await;
    approve(&app, &actors.finance, withdrawal).await;
    script(&pool, withdrawal, "lose_answer", None, 0).await;
    let started = start_payout(&app, &actors.finance, withdrawal).await;
    assert_eq!(started.status, 200, "{started:?}");

    let run = app
        .call(
            "backoffice/reconciliation/run",
            &[("idempotency_key", "p1")],
            Some(&actors.finance),
        )
        .await;
    assert_eq!(run.json["findings_new"], 1, "{run:?}");
    let page = app
        .call(
            "backoffice/reconciliation/findings",
            &[],
            Some(&actors.finance),
        )
        .await;
    assert_eq!(page.json["findings"][0]["kind"], "missing_in_ledger");
    assert_eq!(page.json["findings"][0]["object_type"], "payout_attempt");
    let resolved = app
        .call(
            "backoffice/reconciliation/resolve",
            &[
                ("finding", finding_id(&page, "missing_in_ledger").as_str()),
                ("note", "the PSP paid; its answer was lost"),
                ("correction", "apply_psp"),
                ("idempotency_key", "p2"),
            ],
            Some(&actors.finance),
        )
        .await;
    assert_eq!(resolved.status, 200, "{resolved:?}");
    assert_eq!(withdrawals_support::state(&pool, withdrawal).await, "paid");
    assert_eq!(
        withdrawals_support::journals(&pool, withdrawal, "withdrawal_payout").await,
        1
    );
    assert!(resolved.json["correcting_journal_id"].is_string());
    withdrawals_support::assert_ledger_whole(&pool).await;
}

// Proves Stripe's side is read through its API: a session paid at Stripe whose webhook never
// came is found missing in the ledger, a session Stripe no longer knows is missing at the PSP,
// and applying what Stripe reports captures the deposit once.
#[sqlx::test(migrations = "../migrations")]
async fn stripe_sessions_are_read_back_and_compared(pool: PgPool) {
    let fake = stripe_support::FakeStripe::start().await;
    let app = spawn_app_with(
        pool,
        &[
            ("KASA_STRIPE_SECRET_KEY", "sk_test_kasa_fake_key"),
            ("KASA_STRIPE_WEBHOOK_SECRET", "whsec_kasa_fake_secret"),
            ("KASA_STRIPE_API_BASE", &fake.base),
        ],
    )
    .await;
    let player = app.log_in("auth/login", PLAYER_EMAIL).await;
    let mut sessions = Vec::new();
    for key in ["stripe-rec-1", "stripe-rec-2"] {
        let reply = app
            .call(
                "deposits/start",
                &[
                    ("amount", "25.00"),
                    ("currency", "EUR"),
                    ("provider", "stripe"),
                    ("idempotency_key", key),
                ],
                Some(&player),
            )
            .await;
        assert_eq!(reply.status, 200, "{reply:?}");
        let session: String =
            sqlx::query_scalar("SELECT provider_session_id FROM deposits WHERE id::text = $1")
                .bind(reply.json["deposit_id"].as_str().unwrap())
                .fetch_one(&app.pool)
                .await
                .unwrap();
        sessions.push(session);
    }
    fake.update_session(
        &sessions[0],
        json!({"status": "complete", "payment_status": "paid"}),
    );
    // Stripe answers 404 for the second session from now on.
    sqlx::query("UPDATE deposits SET provider_session_id = 'cs_test_unknown_to_stripe' WHERE provider_session_id = $1")
        .bind(&sessions[1])
        .execute(&app.pool)
        .await
        .unwrap();

    let finance = app.log_in("admin/login", "finance@demo.kasa.test").await;
    let run = app
        .call(
            "backoffice/reconciliation/run",
            &[("idempotency_key", "s1")],
            Some(&finance),
        )
        .await;
    assert_eq!(run.status, 200, "{run:?}");
    let found: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT provider::text, kind, reference FROM reconciliation_findings ORDER BY kind",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        found,
        [
            (
                "stripe".to_owned(),
                "missing_at_psp".to_owned(),
                "cs_test_unknown_to_stripe".to_owned()
            ),
            (
                "stripe".to_owned(),
                "missing_in_ledger".to_owned(),
                sessions[0].clone()
            ),
        ]
    );
    let page = app
        .call(
            "backoffice/reconciliation/findings",
            &[("provider", "stripe")],
            Some(&finance),
        )
        .await;
    let resolved = app
        .call(
            "backoffice/reconciliation/resolve",
            &[
                ("finding", finding_id(&page, "missing_in_ledger").as_str()),
                ("note", "paid at Stripe; the webhook never arrived"),
                ("correction", "apply_psp"),
                ("idempotency_key", "s2"),
            ],
            Some(&finance),
        )
        .await;
    assert_eq!(resolved.status, 200, "{resolved:?}");
    assert_eq!(
        app.count("SELECT count(*) FROM deposits WHERE state = 'captured'")
            .await,
        1
    );
    withdrawals_support::assert_ledger_whole(&app.pool).await;
}
