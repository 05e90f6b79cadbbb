//! Several stateless servers on one database: two real `kasa serve` processes take deposits,
//! their webhooks (each delivered twice), withdrawals and payouts whose answers are lost (so the
//! recheck jobs must settle them) and audit chaining, all at once; one is killed midway. Every
//! job's work is done once, by whichever server claimed it, and nothing is lost.

mod common;
mod withdrawals_support;

use common::PLAYER_EMAIL;
use sqlx::PgPool;
use uuid::Uuid;
use withdrawals_support::*;

const DEPOSITS: usize = 6;
const WITHDRAWALS: usize = 4;

/// A deposit started on `start`, paid on the mock PSP's page served by `pay` (whose pipeline then
/// delivers the webhook twice).
async fn deposit(start: &KasaProcess, pay: &KasaProcess, player: &str, number: usize) -> Uuid {
    let key = format!("two-servers-deposit-{number}");
    let form = [
        ("amount", "20.00"),
        ("currency", "EUR"),
        ("provider", "mock"),
        ("idempotency_key", key.as_str()),
    ];
    let (started, _) = start.call("deposits/start", &form, Some(player)).await;
    let redirect = started["redirect_url"].as_str().unwrap();
    let paid = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(format!("{}{redirect}", pay.base))
        .header("origin", &pay.base)
        .form(&[("outcome", "pay"), ("delivery", "duplicate")])
        .send()
        .await
        .unwrap();
    assert_eq!(paid.status(), 303, "the mock page takes the payment");
    started["deposit_id"].as_str().unwrap().parse().unwrap()
}

/// A withdrawal requested on `on`, approved on `other`, and paid out from `on` with the PSP's
/// answer lost (scripted), so its attempt is left `unknown` for a recheck job.
async fn withdraw_with_lost_answer(
    pool: &PgPool,
    on: &KasaProcess,
    other: &KasaProcess,
    player: &str,
    finance: &str,
    number: usize,
) -> Uuid {
    let key = format!("two-servers-withdrawal-{number}");
    let form = [
        ("amount", "15.00"),
        ("currency", "EUR"),
        ("idempotency_key", key.as_str()),
    ];
    let (requested, _) = on.call("withdrawals/request", &form, Some(player)).await;
    let id: Uuid = requested["id"].as_str().unwrap().parse().unwrap();
    let id_text = id.to_string();
    let approve_key = format!("approve:{id}");
    let approve = [
        ("withdrawal_id", id_text.as_str()),
        ("idempotency_key", approve_key.as_str()),
    ];
    other
        .call("admin/withdrawals/approve", &approve, Some(finance))
        .await;
    // The PSP pays, and its answer never reaches Kasa: the attempt is `unknown`.
    script(pool, id, "lose_answer", None, 0).await;
    let start_key = format!("start_payout:{id}");
    let start = [
        ("withdrawal_id", id_text.as_str()),
        ("idempotency_key", start_key.as_str()),
    ];
    on.call("admin/withdrawals/start-payout", &start, Some(finance))
        .await;
    id
}

async fn count(pool: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}

// Proves two servers on one database share the work exactly once: six deposits started on one
// server and paid on the other are each captured once (one capture journal, one
// `deposit.captured` event) although every webhook is delivered twice; four withdrawals whose
// payout answers are lost are left `unknown`, one server is killed, and the survivor's recheck
// job pays each once (one payout journal, one PSP payout); both servers' chainers link every
// queued audit event once and the chain verifies; the ledger is whole.
#[sqlx::test(migrations = "../migrations")]
async fn two_servers_share_the_work_and_lose_nothing_when_one_stops(pool: PgPool) {
    let first = KasaProcess::start(&pool).await;
    let mut second = KasaProcess::start(&pool).await;
    let servers = [&first, &second];
    // Sessions live in the database: a log-in on one server is valid on the other.
    let finance = first.log_in("admin/login", FINANCE).await;
    let owner = second.log_in("admin/login", OWNER).await;
    let player = first.log_in("auth/login", PLAYER_EMAIL).await;
    second.verify_identity(&owner).await;
    let policy = [
        ("amount_min", "10"),
        ("amount_max", "10000"),
        ("approval_threshold", "1000"),
        ("payout_attempts_max", "3"),
        ("retry_cooldown_s", "0"),
        ("recheck_age_s", "1"),
        ("not_found_grace_s", "900"),
        ("payout_provider", "mock"),
    ];
    second
        .call("admin/settings/withdrawals/save", &policy, Some(&owner))
        .await;

    // All at once: each started on one server and paid on the other.
    let deposits = futures::future::join_all((0..DEPOSITS).map(|number| {
        let (start, pay) = (servers[number % 2], servers[(number + 1) % 2]);
        deposit(start, pay, &player, number)
    }))
    .await;
    eventually("every deposit to be captured", || async {
        count(
            &pool,
            "SELECT count(*) FROM deposits WHERE state = 'captured'",
        )
        .await
            == DEPOSITS as i64
    })
    .await;

    let withdrawals = futures::future::join_all((0..WITHDRAWALS).map(|number| {
        let (on, other) = (servers[number % 2], servers[(number + 1) % 2]);
        withdraw_with_lost_answer(&pool, on, other, &player, &finance, number)
    }))
    .await;
    // Midway: the second server stops for good, with payouts still to be settled.
    second.child.kill().await.unwrap();
    eventually(
        "the surviving server's recheck job to pay every withdrawal",
        || async {
            count(
                &pool,
                "SELECT count(*) FROM withdrawals WHERE state = 'paid'",
            )
            .await
                == WITHDRAWALS as i64
        },
    )
    .await;
    eventually("the chainers to link every queued audit event", || async {
        count(&pool, "SELECT count(*) FROM audit_pending").await == 0
    })
    .await;

    for id in &deposits {
        let reference = format!("deposit:{id}");
        let captures: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM ledger_journals WHERE kind = 'deposit_capture' AND reference = $1",
        )
        .bind(&reference)
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!(captures, 1, "deposit {id} is captured once");
        let events: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM audit_events
              WHERE action = 'deposit.captured' AND target_id = $1",
        )
        .bind(id.to_string())
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!(events, 1, "deposit {id} has one capture event");
    }
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM psp_webhook_events WHERE deliveries < 2"
        )
        .await,
        0,
        "every webhook was delivered twice"
    );
    for id in &withdrawals {
        assert_eq!(journals(&pool, *id, "withdrawal_payout").await, 1);
        let payouts: i64 =
            sqlx::query_scalar("SELECT count(*) FROM mock_psp_payouts WHERE withdrawal_id = $1")
                .bind(id)
                .fetch_one(&pool)
                .await
                .unwrap();
        assert_eq!(payouts, 1, "withdrawal {id} was paid out once");
        let paid_events: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM audit_events WHERE action = 'withdrawal.paid' AND target_id = $1",
        )
        .bind(id.to_string())
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!(paid_events, 1, "withdrawal {id} has one paid event");
    }
    let (balances, _) = first.call("wallet/balances", &[], Some(&player)).await;
    assert_eq!(balances[0]["available"]["amount"], "60.00");
    assert_eq!(balances[0]["held"]["amount"], "0.00");
    let report = kasa_server::audit::verify_chain(&pool, None).await.unwrap();
    assert!(report.ok, "{report:?}");
    assert_eq!(
        report.events_checked,
        count(&pool, "SELECT count(*) FROM audit_events").await
    );
    assert_ledger_whole(&pool).await;
}
