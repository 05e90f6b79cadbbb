//! Four eyes on money that staff create, through the real router: a manual credit or a
//! reconciliation correction that credits is a request a second, different staff member approves
//! before it posts (once); a correction is capped at its finding's discrepancy and settles the
//! deposit it corrects, so the PSP's later capture credits nothing more; the maker-checker
//! threshold of withdrawals is per currency.

mod common;
mod withdrawals_support;

use common::*;
use kasa_server::psp::signature;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;
use withdrawals_support::{FINANCE, OWNER, SUPPORT, approve, log_in_all, set_policy};

const MOCK_SECRET: &str = "kasa-development-mock-psp-secret";

/// Asks for a credit of `amount` `currency` to the demo player with the adjustment form.
async fn ask(
    app: &TestApp,
    cookie: &str,
    currency: &str,
    amount: &str,
    reason: &str,
    key: &str,
) -> Reply {
    app.call(
        "admin/adjustments",
        &[
            ("player_email", PLAYER_EMAIL),
            ("currency", currency),
            ("amount", amount),
            ("direction", "credit"),
            ("reason", reason),
            ("idempotency_key", key),
        ],
        Some(cookie),
    )
    .await
}

async fn decide(
    app: &TestApp,
    cookie: &str,
    request: &str,
    decision: &str,
    note: Option<&str>,
    key: &str,
) -> Reply {
    let mut form = vec![
        ("request", request),
        ("decision", decision),
        ("idempotency_key", key),
    ];
    if let Some(note) = note {
        form.push(("note", note));
    }
    app.call("backoffice/credit-requests/decide", &form, Some(cookie))
        .await
}

/// The demo player's cash in `currency`, in minor units, from the ledger.
async fn cash(app: &TestApp, currency: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT coalesce(sum(b.balance_minor), 0)::bigint FROM ledger_account_balances b
           JOIN players p ON p.id = b.player_id
          WHERE p.email = $1 AND b.kind = 'player_cash' AND b.currency = $2",
    )
    .bind(PLAYER_EMAIL)
    .bind(currency)
    .fetch_one(&app.pool)
    .await
    .unwrap()
}

async fn journals(app: &TestApp, kind: &str) -> i64 {
    app.count(&format!(
        "SELECT count(*) FROM ledger_journals WHERE kind = '{kind}'"
    ))
    .await
}

/// A mock deposit of 10.00 EUR that the PSP reports paid while its webhook never arrived, and
/// the `missing_in_ledger` finding a run records for it: (deposit, checkout, finding).
async fn paid_deposit_finding(
    app: &TestApp,
    player: &str,
    finance: &str,
) -> (String, String, String) {
    let reply = app
        .call(
            "deposits/start",
            &[
                ("amount", "10.00"),
                ("currency", "EUR"),
                ("provider", "mock"),
                ("idempotency_key", "lost-webhook"),
            ],
            Some(player),
        )
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let deposit = reply.json["deposit_id"].as_str().unwrap().to_owned();
    let checkout = reply.json["redirect_url"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    sqlx::query(
        "UPDATE mock_psp_checkouts SET status = 'paid', completed_at = now() WHERE id = $1",
    )
    .bind(&checkout)
    .execute(&app.pool)
    .await
    .unwrap();
    let run = app
        .call(
            "backoffice/reconciliation/run",
            &[("idempotency_key", "run-1")],
            Some(finance),
        )
        .await;
    assert_eq!(run.status, 200, "{run:?}");
    let finding: String = sqlx::query_scalar(
        "SELECT id::text FROM reconciliation_findings WHERE kind = 'missing_in_ledger'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    (deposit, checkout, finding)
}

/// The mock PSP's signed `checkout.paid` webhook for the deposit, as it arrives late.
async fn late_webhook(app: &TestApp, deposit: &str, checkout: &str) {
    let body = serde_json::to_vec(&json!({
        "id": format!("mevt_{checkout}"), "type": "checkout.paid", "created": app.now().timestamp(),
        "data": {"object": {"object": "checkout", "id": checkout, "deposit_id": deposit,
                            "amount_minor": 1000, "currency": "EUR"}}
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

async fn resolve(
    app: &TestApp,
    cookie: &str,
    finding: &str,
    note: &str,
    correction: &str,
    amount: &str,
    key: &str,
) -> Reply {
    app.call(
        "backoffice/reconciliation/resolve",
        &[
            ("finding", finding),
            ("note", note),
            ("correction", correction),
            ("amount", amount),
            ("idempotency_key", key),
        ],
        Some(cookie),
    )
    .await
}

/// The pending credit request of a finding.
async fn request_of(app: &TestApp, finding: &str) -> String {
    sqlx::query_scalar(
        "SELECT id::text FROM credit_requests WHERE finding_id::text = $1 AND state = 'pending'",
    )
    .bind(finding)
    .fetch_one(&app.pool)
    .await
    .unwrap()
}

// Proves (a) one staff member cannot approve their own credit: the server refuses it (403,
// nothing posted) for finance and for the owner, and the database refuses it too (a direct
// UPDATE naming the requester as decider hits credit_requests_four_eyes).
#[sqlx::test(migrations = "../migrations")]
async fn nobody_approves_their_own_credit(pool: PgPool) {
    let app = spawn_app(pool).await;
    let finance = app.log_in("admin/login", FINANCE).await;
    let owner = app.log_in("admin/login", OWNER).await;
    for (cookie, key) in [(&finance, "own-finance"), (&owner, "own-owner")] {
        let asked = ask(&app, cookie, "EUR", "100.00", "goodwill", key).await;
        assert_eq!(asked.status, 200, "{asked:?}");
        let request = asked.json["credit_request_id"].as_str().unwrap().to_owned();
        let own = decide(&app, cookie, &request, "approve", None, "approve-own").await;
        assert_eq!((own.status, own.code()), (403, "forbidden"), "{own:?}");
    }
    assert_eq!(cash(&app, "EUR").await, 0);
    assert_eq!(journals(&app, "adjustment").await, 0);
    assert_eq!(
        app.count("SELECT count(*) FROM credit_requests WHERE state = 'pending'")
            .await,
        2
    );

    let refused = sqlx::query(
        "UPDATE credit_requests
            SET state = 'approved', decided_by = requested_by, decided_at = now(),
                decision_key = 'sql', journal_id = gen_random_uuid()",
    )
    .execute(&app.pool)
    .await
    .expect_err("the database refuses one person as requester and decider");
    let constraint = refused
        .as_database_error()
        .and_then(|error| error.constraint())
        .map(str::to_owned);
    assert_eq!(constraint.as_deref(), Some("credit_requests_four_eyes"));
    assert_eq!(cash(&app, "EUR").await, 0);
}

// Proves (e) a credit request posts nothing until approved (the balance is unchanged and the
// queue shows it with reason, amount, player and who asked), support sees the queue but may not
// decide, and of concurrent approvals (a double click and a second tab) exactly one posts, once.
#[sqlx::test(migrations = "../migrations")]
async fn a_credit_posts_once_and_only_after_a_second_approval(pool: PgPool) {
    let app = spawn_app(pool).await;
    let finance = app.log_in("admin/login", FINANCE).await;
    let owner = app.log_in("admin/login", OWNER).await;
    let support = app.log_in("admin/login", SUPPORT).await;
    let asked = ask(
        &app,
        &finance,
        "EUR",
        "250.00",
        "lost session refund",
        "credit-1",
    )
    .await;
    assert_eq!(asked.status, 200, "{asked:?}");
    assert_eq!(asked.json["journal_id"], json!(null));
    assert_eq!(asked.json["available_after"]["amount"], "0.00");
    let request = asked.json["credit_request_id"].as_str().unwrap().to_owned();
    assert_eq!(cash(&app, "EUR").await, 0);
    assert_eq!(journals(&app, "adjustment").await, 0);

    let queue = app
        .call(
            "backoffice/credit-requests",
            &[("state", "pending")],
            Some(&support),
        )
        .await;
    assert_eq!(queue.status, 200, "{queue:?}");
    let listed = &queue.json["requests"][0];
    assert_eq!(listed["id"], request.as_str());
    assert_eq!(listed["reason"], "lost session refund");
    assert_eq!(
        listed["amount"],
        json!({"amount": "250.00", "currency": "EUR"})
    );
    assert_eq!(listed["player_email"], PLAYER_EMAIL);
    assert_eq!(listed["requested_by"], FINANCE);
    assert_eq!(listed["may_decide"], false, "support may not decide");
    let by_owner = app
        .call("backoffice/credit-requests", &[], Some(&owner))
        .await;
    assert_eq!(by_owner.json["requests"][0]["may_decide"], true);
    let support_decides = decide(&app, &support, &request, "approve", None, "s").await;
    assert_eq!(support_decides.status, 403);

    // A double click (same key) and a second tab (another key) at once.
    let (first, second, third) = tokio::join!(
        decide(&app, &owner, &request, "approve", None, "tab-1"),
        decide(&app, &owner, &request, "approve", None, "tab-1"),
        decide(&app, &owner, &request, "approve", None, "tab-2"),
    );
    let replies = [&first, &second, &third];
    let won = replies
        .iter()
        .filter(|reply| reply.status == 200 && reply.json["replayed"] == false)
        .count();
    assert_eq!(won, 1, "exactly one approval acts: {replies:?}");
    for reply in replies {
        assert!(
            reply.status == 200 || reply.code() == "invalid_state_transition",
            "a losing approval is told the request is decided: {reply:?}"
        );
    }
    assert_eq!(cash(&app, "EUR").await, 25_000);
    assert_eq!(journals(&app, "adjustment").await, 1);
    let key: String = sqlx::query_scalar(
        "SELECT j.idempotency_key FROM ledger_journals j
           JOIN credit_requests c ON c.journal_id = j.id WHERE c.id::text = $1",
    )
    .bind(&request)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(key, format!("credit-request:{request}"));

    // Later clicks change nothing; declining an approved request is refused.
    let replay = decide(&app, &owner, &request, "approve", None, "tab-1").await;
    let late = decide(&app, &owner, &request, "decline", Some("no"), "tab-3").await;
    assert!(replay.status == 200 || replay.status == 409, "{replay:?}");
    assert_eq!(
        (late.status, late.code()),
        (409, "invalid_state_transition")
    );
    assert_eq!(cash(&app, "EUR").await, 25_000);
    let audited: Vec<String> = sqlx::query_scalar(
        "SELECT action FROM audit_events WHERE target_type = 'credit_request' ORDER BY seq",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(audited, ["credit.requested", "credit.approved"]);

    // A declined request posts nothing, and needs a reason.
    let asked = ask(&app, &finance, "EUR", "5.00", "second thoughts", "credit-2").await;
    let request = asked.json["credit_request_id"].as_str().unwrap().to_owned();
    let no_note = decide(&app, &owner, &request, "decline", None, "d-1").await;
    assert_eq!(
        (no_note.status, no_note.json["field"].as_str()),
        (422, Some("note"))
    );
    let declined = decide(&app, &owner, &request, "decline", Some("not agreed"), "d-1").await;
    assert_eq!(declined.status, 200, "{declined:?}");
    assert_eq!(declined.json["request"]["state"], "declined");
    assert_eq!(cash(&app, "EUR").await, 25_000);
    assert_eq!(journals(&app, "adjustment").await, 1);

    // Another brand's staff do not see or decide this brand's requests.
    let foreign = app
        .log_in_at_second_brand("admin/login", "owner@second.kasa.test")
        .await;
    let foreign_decide = app
        .call_at_second_brand(
            "backoffice/credit-requests/decide",
            &[
                ("request", request.as_str()),
                ("decision", "approve"),
                ("idempotency_key", "x"),
            ],
            Some(&foreign),
        )
        .await;
    assert_eq!(
        (foreign_decide.status, foreign_decide.code()),
        (404, "not_found")
    );
    let foreign_queue = app
        .call_at_second_brand("backoffice/credit-requests", &[], Some(&foreign))
        .await;
    assert_eq!(foreign_queue.json["requests"], json!([]));
}

// Proves (f) a staff action replayed with the same key but other parameters is
// idempotency_key_reused (409) and writes nothing: a credit request with another reason or
// amount, a debit with a key that asked for a credit, a decision with another note, and a
// finding's resolution with another note.
#[sqlx::test(migrations = "../migrations")]
async fn the_same_key_with_other_parameters_is_refused(pool: PgPool) {
    let app = spawn_app(pool).await;
    let actors = log_in_all(&app).await;
    let finance = &actors.finance;
    let first = ask(&app, finance, "EUR", "20.00", "goodwill", "k1").await;
    assert_eq!(first.status, 200, "{first:?}");
    let same = ask(&app, finance, "EUR", "20.00", "goodwill", "k1").await;
    assert_eq!(same.json["replayed"], true);
    assert_eq!(
        same.json["credit_request_id"],
        first.json["credit_request_id"]
    );
    for (amount, reason) in [("20.00", "another reason"), ("21.00", "goodwill")] {
        let reused = ask(&app, finance, "EUR", amount, reason, "k1").await;
        assert_eq!(
            (reused.status, reused.code()),
            (409, "idempotency_key_reused"),
            "{amount} {reason}: {reused:?}"
        );
    }
    let debit = app
        .call(
            "admin/adjustments",
            &[
                ("player_email", PLAYER_EMAIL),
                ("currency", "EUR"),
                ("amount", "1.00"),
                ("direction", "debit"),
                ("reason", "goodwill"),
                ("idempotency_key", "k1"),
            ],
            Some(finance),
        )
        .await;
    assert_eq!(
        (debit.status, debit.code()),
        (409, "idempotency_key_reused")
    );
    assert_eq!(app.count("SELECT count(*) FROM credit_requests").await, 1);

    let request = first.json["credit_request_id"].as_str().unwrap();
    let declined = decide(
        &app,
        &actors.owner,
        request,
        "decline",
        Some("no ticket"),
        "d",
    )
    .await;
    assert_eq!(declined.status, 200, "{declined:?}");
    let replayed = decide(
        &app,
        &actors.owner,
        request,
        "decline",
        Some("no ticket"),
        "d",
    )
    .await;
    assert_eq!(
        (replayed.status, replayed.json["replayed"].as_bool()),
        (200, Some(true))
    );
    let other_note = decide(&app, &actors.owner, request, "decline", Some("other"), "d").await;
    assert_eq!(
        (other_note.status, other_note.code()),
        (409, "idempotency_key_reused")
    );

    let (_, _, finding) = paid_deposit_finding(&app, &actors.player, finance).await;
    let noted = resolve(&app, finance, &finding, "PSP will resend", "none", "", "r1").await;
    assert_eq!(noted.status, 200, "{noted:?}");
    let again = resolve(&app, finance, &finding, "PSP will resend", "none", "", "r1").await;
    assert_eq!(again.status, 200, "{again:?}");
    let reused = resolve(&app, finance, &finding, "another note", "none", "", "r1").await;
    assert_eq!(
        (reused.status, reused.code()),
        (409, "idempotency_key_reused")
    );
    assert_eq!(cash(&app, "EUR").await, 0);
    assert_eq!(journals(&app, "adjustment").await, 0);
}

// Proves (b) a correction is capped at its finding's own discrepancy: a credit above it, a debit
// where the finding owes the player money, and a partial credit of a deposit that was never
// captured are refused with invalid_amount and write nothing (no request, no journal, the
// finding still open).
#[sqlx::test(migrations = "../migrations")]
async fn a_correction_above_the_discrepancy_is_refused(pool: PgPool) {
    let app = spawn_app(pool).await;
    let actors = log_in_all(&app).await;
    let (_, _, finding) = paid_deposit_finding(&app, &actors.player, &actors.finance).await;
    for (correction, amount) in [
        ("credit", "10.01"),
        ("credit", "1000000.00"),
        ("debit", "1.00"),
        ("credit", "5.00"),
    ] {
        let reply = resolve(
            &app,
            &actors.finance,
            &finding,
            "correct it",
            correction,
            amount,
            &format!("{correction}-{amount}"),
        )
        .await;
        assert_eq!(
            (reply.status, reply.code(), reply.json["field"].as_str()),
            (422, "invalid_amount", Some("amount")),
            "{correction} {amount}: {reply:?}"
        );
    }
    assert_eq!(app.count("SELECT count(*) FROM credit_requests").await, 0);
    assert_eq!(app.count("SELECT count(*) FROM ledger_journals").await, 0);
    assert_eq!(
        app.count("SELECT count(*) FROM reconciliation_findings WHERE status = 'open'")
            .await,
        1
    );
    // Exactly the discrepancy is accepted, as a request.
    let asked = resolve(
        &app,
        &actors.finance,
        &finding,
        "webhook lost",
        "credit",
        "10.00",
        "ok",
    )
    .await;
    assert_eq!(asked.status, 200, "{asked:?}");
    assert_eq!(asked.json["status"], "open");
    assert!(asked.json["pending_credit_request_id"].is_string());
    assert_eq!(cash(&app, "EUR").await, 0);
}

// Proves (c) resolve-then-capture credits once: a correction crediting a deposit the PSP paid
// is approved, which captures THAT deposit with the correction's journal; the late webhook and
// the sweep then find it captured. One capture journal, no adjustment, 10.00 on the player's
// account, the finding resolved, the ledger whole. Before the fix the player got 20.00.
#[sqlx::test(migrations = "../migrations")]
async fn resolve_then_capture_credits_once(pool: PgPool) {
    let app = spawn_app(pool).await;
    let actors = log_in_all(&app).await;
    let (deposit, checkout, finding) =
        paid_deposit_finding(&app, &actors.player, &actors.finance).await;
    let asked = resolve(
        &app,
        &actors.finance,
        &finding,
        "webhook lost: credit the player",
        "credit",
        "10.00",
        "fix",
    )
    .await;
    assert_eq!(asked.status, 200, "{asked:?}");
    assert_eq!(cash(&app, "EUR").await, 0, "nothing before the approval");
    let again = resolve(
        &app,
        &actors.owner,
        &finding,
        "me too",
        "credit",
        "10.00",
        "fix-2",
    )
    .await;
    assert_eq!(
        (again.status, again.code()),
        (409, "invalid_state_transition")
    );

    let request = request_of(&app, &finding).await;
    let approved = decide(&app, &actors.owner, &request, "approve", None, "ok").await;
    assert_eq!(approved.status, 200, "{approved:?}");
    let (state, capture): (String, Option<Uuid>) =
        sqlx::query_as("SELECT state, capture_journal_id FROM deposits WHERE id::text = $1")
            .bind(&deposit)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(state, "captured");
    assert_eq!(
        approved.json["request"]["journal_id"],
        json!(capture.map(|id| id.to_string()))
    );

    late_webhook(&app, &deposit, &checkout).await;
    // The sweep, two hours on (past the checkout's expiry), rechecks nothing: the deposit is
    // captured.
    let services = kasa_server::services::Services::with_clock(
        app.pool.clone(),
        std::sync::Arc::new(
            kasa_server::config::Config::from_sources("", |name| {
                (name == "KASA_ENVIRONMENT").then(|| "test".to_owned())
            })
            .unwrap(),
        ),
        std::sync::Arc::new(|| chrono::Utc::now() + chrono::Duration::hours(2)),
    );
    services.sweep_deposits().await.unwrap();

    assert_eq!(cash(&app, "EUR").await, 1_000, "one credit in total");
    assert_eq!(journals(&app, "deposit_capture").await, 1);
    assert_eq!(journals(&app, "adjustment").await, 0);
    let (status, correcting): (String, Option<Uuid>) = sqlx::query_as(
        "SELECT status, correcting_journal_id FROM reconciliation_findings WHERE id::text = $1",
    )
    .bind(&finding)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!((status.as_str(), correcting), ("resolved", capture));
    let webhook_status: String =
        sqlx::query_scalar("SELECT status FROM psp_webhook_events WHERE event_id = $1")
            .bind(format!("mevt_{checkout}"))
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(webhook_status, "ignored");
    withdrawals_support::assert_ledger_whole(&app.pool).await;
}

// Proves (c, the other order) a capture that arrives while the correction waits leaves the
// correction nothing to credit: its approval is refused and the player has the deposit once.
#[sqlx::test(migrations = "../migrations")]
async fn capture_while_the_correction_waits_credits_once(pool: PgPool) {
    let app = spawn_app(pool).await;
    let actors = log_in_all(&app).await;
    let (deposit, checkout, finding) =
        paid_deposit_finding(&app, &actors.player, &actors.finance).await;
    let asked = resolve(
        &app,
        &actors.finance,
        &finding,
        "webhook lost: credit the player",
        "credit",
        "10.00",
        "fix",
    )
    .await;
    assert_eq!(asked.status, 200, "{asked:?}");
    late_webhook(&app, &deposit, &checkout).await;
    assert_eq!(cash(&app, "EUR").await, 1_000);

    let request = request_of(&app, &finding).await;
    let approved = decide(&app, &actors.owner, &request, "approve", None, "ok").await;
    assert_eq!(
        (approved.status, approved.code()),
        (409, "invalid_state_transition"),
        "{approved:?}"
    );
    assert_eq!(cash(&app, "EUR").await, 1_000, "one credit in total");
    assert_eq!(journals(&app, "deposit_capture").await, 1);
    assert_eq!(journals(&app, "adjustment").await, 0);
    let declined = decide(
        &app,
        &actors.owner,
        &request,
        "decline",
        Some("captured by the PSP meanwhile"),
        "no",
    )
    .await;
    assert_eq!(declined.status, 200, "{declined:?}");
    withdrawals_support::assert_ledger_whole(&app.pool).await;
}

// Proves (d) the maker-checker threshold is per currency: with EUR at the general 1,000 and JPY
// at its own 500, a withdrawal of 800 JPY needs two approvals while 800 EUR needs one; the
// settings page round-trips the per-currency thresholds and refuses a bad one.
#[sqlx::test(migrations = "../migrations")]
async fn the_approval_threshold_is_per_currency(pool: PgPool) {
    let app = spawn_app(pool).await;
    let actors = log_in_all(&app).await;
    let refused = app
        .call(
            "admin/settings/withdrawals/save",
            &[
                ("amount_min", "10"),
                ("amount_max", "10000"),
                ("approval_threshold", "1000"),
                ("approval_thresholds", "XXX 5"),
                ("payout_attempts_max", "3"),
                ("retry_cooldown_s", "300"),
                ("recheck_age_s", "120"),
                ("not_found_grace_s", "900"),
                ("payout_provider", "mock"),
            ],
            Some(&actors.owner),
        )
        .await;
    assert_eq!(
        (refused.status, refused.json["field"].as_str()),
        (422, Some("approval_thresholds"))
    );
    set_policy(&app, &actors.owner, &[("approval_thresholds", "JPY 500")]).await;
    let policy = app
        .call("admin/settings/withdrawals", &[], Some(&actors.owner))
        .await;
    assert_eq!(
        policy.json["approval_thresholds"],
        json!([["JPY", "500"]]),
        "{policy:?}"
    );

    for currency in ["EUR", "JPY"] {
        app.credit_with_approval(
            &actors.finance,
            &actors.owner,
            PLAYER_EMAIL,
            currency,
            "2000",
            "funds",
            &format!("fund-{currency}"),
        )
        .await;
    }
    let mut ids = Vec::new();
    for currency in ["EUR", "JPY"] {
        let reply = app
            .call(
                "withdrawals/request",
                &[
                    ("amount", "800"),
                    ("currency", currency),
                    ("idempotency_key", &format!("w-{currency}")),
                ],
                Some(&actors.player),
            )
            .await;
        assert_eq!(reply.status, 200, "{reply:?}");
        ids.push(reply.json["id"].as_str().unwrap().parse::<Uuid>().unwrap());
    }
    let eur = approve(&app, &actors.finance, ids[0]).await;
    assert_eq!(
        eur.json["state"], "approved",
        "800 EUR is under 1,000: {eur:?}"
    );
    let jpy = approve(&app, &actors.finance, ids[1]).await;
    assert_eq!(
        jpy.json["state"], "requested",
        "800 JPY is over 500: {jpy:?}"
    );
    let second = approve(&app, &actors.owner, ids[1]).await;
    assert_eq!(second.json["state"], "approved", "{second:?}");
}
