//! An unknown payout is never paid twice: the PSP's "no such payout" is believed only after the
//! call has certainly ended plus the grace period, a late `pending` reopens an attempt failed by
//! inference, reject and mark-paid wait while any attempt is open, a retry after an inferred
//! failure re-sends the same PSP key, and a success nobody held funds for any more is booked as
//! a recovery from the player (cash, then a receivable) with a critical reconciliation finding.
//! Also: a staff action key replayed with other parameters is refused.

mod common;
mod withdrawals_support;

use common::spawn_app;
use sqlx::PgPool;
use uuid::Uuid;
use withdrawals_support::*;

/// Sets a short recheck age and no cooldown, so the tests decide when time passes.
async fn quick_policy(app: &common::TestApp, owner: &str) {
    set_policy(
        app,
        owner,
        &[
            ("retry_cooldown_s", "0"),
            ("recheck_age_s", "1"),
            ("not_found_grace_s", "900"),
        ],
    )
    .await;
}

/// The hung call reaches the PSP late: the mock now has the payout, in `status`.
async fn arrives_late(pool: &PgPool, id: Uuid, key: &str, status: &str) {
    sqlx::query(
        "INSERT INTO mock_psp_payouts
             (id, idempotency_key, tenant_id, withdrawal_id, amount_minor, currency, status,
              created_at, updated_at)
         SELECT 'mpo_late_' || md5($2), $2, tenant_id, id, amount_minor, currency, $3, now(), now()
           FROM withdrawals WHERE id = $1
         ON CONFLICT (idempotency_key) DO UPDATE SET status = EXCLUDED.status",
    )
    .bind(id)
    .bind(key)
    .bind(status)
    .execute(pool)
    .await
    .unwrap();
}

/// Asks for a recheck (the background job may get there first) until the attempt has failed.
async fn recheck_until_failed(app: &common::TestApp, finance: &str, pool: &PgPool, id: Uuid) {
    recheck(app, finance, id).await;
    eventually("the recheck to fail the attempt", || async {
        state(pool, id).await == "payout_failed"
    })
    .await;
}

async fn reject(app: &common::TestApp, cookie: &str, id: Uuid, key: &str) -> common::Reply {
    act(
        app,
        cookie,
        "reject",
        id,
        key,
        &[("reason", "player asked")],
    )
    .await
}

async fn mark_paid(app: &common::TestApp, cookie: &str, id: Uuid) -> common::Reply {
    act(
        app,
        cookie,
        "mark-paid",
        id,
        &format!("mark_paid:{id}"),
        &[("reason", "paid by bank"), ("external_reference", "BANK-1")],
    )
    .await
}

/// (player_cash, player_receivable) balances of the demo player in EUR, in minor units.
async fn player_books(pool: &PgPool, id: Uuid) -> (i64, i64) {
    sqlx::query_as(
        "SELECT coalesce(sum(b.balance_minor) FILTER (WHERE b.kind = 'player_cash'), 0)::bigint,
                coalesce(sum(b.balance_minor) FILTER (WHERE b.kind = 'player_receivable'), 0)::bigint
           FROM ledger_account_balances b
           JOIN withdrawals w ON w.player_id = b.player_id AND w.currency = b.currency
          WHERE w.id = $1",
    )
    .bind(id)
    .fetch_one(pool)
    .await
    .unwrap()
}

/// What the PSP paid out for the withdrawal and what the ledger books as paid out to it
/// (journals into psp_clearing:mock referencing it): equal when no payout is lost.
async fn paid_at_psp_and_in_ledger(pool: &PgPool, id: Uuid) -> (i64, i64) {
    let psp: i64 = sqlx::query_scalar(
        "SELECT coalesce(sum(amount_minor), 0)::bigint FROM mock_psp_payouts
          WHERE withdrawal_id = $1 AND status = 'succeeded'",
    )
    .bind(id)
    .fetch_one(pool)
    .await
    .unwrap();
    let ledger: i64 = sqlx::query_scalar(
        "SELECT coalesce(sum(t.amount_minor), 0)::bigint
           FROM ledger_transfers t
           JOIN ledger_journals j ON j.id = t.journal_id
           JOIN ledger_accounts a ON a.id = t.credit_account_id
          WHERE j.reference = 'withdrawal:' || $1 AND a.kind = 'psp_clearing'",
    )
    .bind(id.to_string())
    .fetch_one(pool)
    .await
    .unwrap();
    (psp, ledger)
}

// Proves the reported sequence pays once: hang, a recheck that finds nothing at the PSP inside the
// grace period leaves the attempt unknown (the withdrawal stays paying), the late `pending`
// keeps it open, reject and mark-paid are refused while it is open, and the late success pays
// with the one payout journal; the player's 60.00 is never given back.
#[sqlx::test(migrations = "../migrations")]
async fn not_found_inside_the_grace_period_stays_unknown(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let actors = log_in_all(&app).await;
    quick_policy(&app, &actors.owner).await;
    fund(&app, &actors.finance, "100.00").await;
    let id = requested(&app, &actors.player, "60.00").await;
    approve(&app, &actors.finance, id).await;
    script(&pool, id, "hang", None, 0).await;
    start_payout(&app, &actors.finance, id).await;
    assert_eq!(attempts(&pool, id).await, [(1, "unknown".into(), None)]);

    // Older than the recheck age, well inside the grace period: "not found" proves nothing.
    app.advance(chrono::Duration::seconds(12));
    let rechecked = recheck(&app, &actors.finance, id).await;
    assert_eq!(
        rechecked.code(),
        "invalid_state_transition",
        "{rechecked:?}"
    );
    assert_eq!(attempts(&pool, id).await, [(1, "unknown".into(), None)]);
    assert_eq!(state(&pool, id).await, "paying");
    let retry = retry_payout(&app, &actors.finance, id, 2).await;
    assert_eq!(retry.code(), "invalid_state_transition", "{retry:?}");

    let key = format!("payout:{id}:1");
    arrives_late(&pool, id, &key, "pending").await;
    assert_eq!(
        deliver_payout_event(&app, &pool, &key, "pending").await,
        200
    );
    assert_eq!(attempts(&pool, id).await, [(1, "pending".into(), None)]);

    let refused = reject(&app, &actors.finance, id, &format!("reject:{id}")).await;
    assert_eq!(
        (refused.status, refused.code()),
        (409, "invalid_state_transition"),
        "{refused:?}"
    );
    let refused = mark_paid(&app, &actors.finance, id).await;
    assert_eq!(
        (refused.status, refused.code()),
        (409, "invalid_state_transition"),
        "{refused:?}"
    );
    assert_eq!(
        balances(&app, &actors.player).await,
        ("40.00".into(), "60.00".into())
    );

    arrives_late(&pool, id, &key, "succeeded").await;
    assert_eq!(
        deliver_payout_event(&app, &pool, &key, "succeeded").await,
        200
    );
    assert_eq!(state(&pool, id).await, "paid");
    assert_eq!(journals(&pool, id, "withdrawal_payout").await, 1);
    assert_eq!(journals(&pool, id, "withdrawal_payout_recovery").await, 0);
    assert_eq!(
        balances(&app, &actors.player).await,
        ("40.00".into(), "0.00".into())
    );
    assert_eq!(paid_at_psp_and_in_ledger(&pool, id).await, (6000, 6000));
    assert_ledger_whole(&pool).await;
}

// Proves that after the grace period "not found" fails the attempt by inference, that a late
// `pending` reopens it (the withdrawal is paying again, reject refused), and that a retry of an
// inferred failure re-sends the same PSP key: one attempt row, one payout at the PSP, one journal.
#[sqlx::test(migrations = "../migrations")]
async fn inferred_failure_reopens_and_retries_under_the_same_key(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let actors = log_in_all(&app).await;
    quick_policy(&app, &actors.owner).await;
    fund(&app, &actors.finance, "100.00").await;
    let id = requested(&app, &actors.player, "60.00").await;
    approve(&app, &actors.finance, id).await;
    script(&pool, id, "hang", None, 0).await;
    start_payout(&app, &actors.finance, id).await;
    let key = format!("payout:{id}:1");

    // Past the call timeout (30 s) plus the grace period (900 s): believed.
    app.advance(chrono::Duration::seconds(931));
    recheck_until_failed(&app, &actors.finance, &pool, id).await;
    assert_eq!(
        attempts(&pool, id).await,
        [(1, "failed".into(), Some("not_found_at_provider".into()))]
    );
    assert_eq!(state(&pool, id).await, "payout_failed");

    // The PSP had it after all: a `pending` answer reopens the attempt.
    arrives_late(&pool, id, &key, "pending").await;
    assert_eq!(
        deliver_payout_event(&app, &pool, &key, "pending").await,
        200
    );
    assert_eq!(attempts(&pool, id).await, [(1, "pending".into(), None)]);
    assert_eq!(state(&pool, id).await, "paying");
    let refused = reject(&app, &actors.finance, id, &format!("reject:{id}")).await;
    assert_eq!(refused.code(), "invalid_state_transition", "{refused:?}");

    // The PSP drops it for good this time (its own answer: a definite failure is not reopened).
    sqlx::query("DELETE FROM mock_psp_payouts WHERE idempotency_key = $1")
        .bind(&key)
        .execute(&pool)
        .await
        .unwrap();
    app.advance(chrono::Duration::seconds(931));
    recheck_until_failed(&app, &actors.finance, &pool, id).await;

    // A retry of an inferred failure sends the same key again: the PSP deduplicates.
    let retried = retry_payout(&app, &actors.finance, id, 2).await;
    assert_eq!(retried.status, 200, "{retried:?}");
    assert_eq!(retried.json["state"], "paid", "{retried:?}");
    assert_eq!(attempts(&pool, id).await, [(1, "succeeded".into(), None)]);
    let keys: Vec<String> =
        sqlx::query_scalar("SELECT idempotency_key FROM mock_psp_payouts WHERE withdrawal_id = $1")
            .bind(id)
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(keys, [key]);
    assert_eq!(journals(&pool, id, "withdrawal_payout").await, 1);
    assert_eq!(paid_at_psp_and_in_ledger(&pool, id).await, (6000, 6000));
    assert_ledger_whole(&pool).await;
}

// Proves a late success of attempt 1 after attempt 2 paid is not lost: one payout journal, one
// recovery journal taking the 40.00 the player has from cash and the other 20.00 as a
// receivable, a critical finding, the detail page showing it, and the ledger booking every
// payout the PSP made.
#[sqlx::test(migrations = "../migrations")]
async fn late_success_after_another_attempt_paid_is_recovered(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let actors = log_in_all(&app).await;
    quick_policy(&app, &actors.owner).await;
    fund(&app, &actors.finance, "100.00").await;
    let id = requested(&app, &actors.player, "60.00").await;
    approve(&app, &actors.finance, id).await;
    script(&pool, id, "fail", Some("account_closed"), 0).await;
    start_payout(&app, &actors.finance, id).await;
    assert_eq!(
        attempts(&pool, id).await,
        [(1, "failed".into(), Some("account_closed".into()))]
    );
    let retried = retry_payout(&app, &actors.finance, id, 2).await;
    assert_eq!(retried.json["state"], "paid", "{retried:?}");
    assert_eq!(
        balances(&app, &actors.player).await,
        ("40.00".into(), "0.00".into())
    );

    // The PSP reverses its answer on attempt 1: it paid that one too.
    let first_key = format!("payout:{id}:1");
    arrives_late(&pool, id, &first_key, "succeeded").await;
    assert_eq!(
        deliver_payout_event(&app, &pool, &first_key, "succeeded").await,
        200
    );
    assert_eq!(state(&pool, id).await, "paid");
    assert_eq!(journals(&pool, id, "withdrawal_payout").await, 1);
    assert_eq!(journals(&pool, id, "withdrawal_payout_recovery").await, 1);
    assert_eq!(player_books(&pool, id).await, (0, -2000));
    assert_eq!(paid_at_psp_and_in_ledger(&pool, id).await, (12000, 12000));
    // A second delivery of the same success books nothing more.
    assert_eq!(
        deliver_payout_event(&app, &pool, &first_key, "succeeded").await,
        200
    );
    assert_eq!(journals(&pool, id, "withdrawal_payout_recovery").await, 1);

    let findings: Vec<(String, String, Option<i64>)> = sqlx::query_as(
        "SELECT kind, severity, psp_amount_minor FROM reconciliation_findings
          WHERE object_type = 'payout_attempt' AND status = 'open'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        findings,
        [("duplicate_payout".into(), "critical".into(), Some(6000))]
    );
    let shown = detail(&app, &actors.finance, id).await;
    let duplicates = &shown.json["duplicate_payouts"];
    assert_eq!(duplicates[0]["attempt_number"], 1, "{shown:?}");
    assert_eq!(duplicates[0]["from_cash"]["amount"], "40.00");
    assert_eq!(duplicates[0]["receivable"]["amount"], "20.00");
    assert_ledger_whole(&pool).await;
}

// Proves a success that arrives after the withdrawal was rejected (the attempt failed by
// inference after the grace period) takes the 60.00 back from the player's cash: the player
// does not keep the money twice, and nothing is owed beyond it.
#[sqlx::test(migrations = "../migrations")]
async fn late_success_after_rejection_is_recovered(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let actors = log_in_all(&app).await;
    quick_policy(&app, &actors.owner).await;
    fund(&app, &actors.finance, "100.00").await;
    let id = requested(&app, &actors.player, "60.00").await;
    approve(&app, &actors.finance, id).await;
    script(&pool, id, "hang", None, 0).await;
    start_payout(&app, &actors.finance, id).await;
    app.advance(chrono::Duration::seconds(931));
    recheck_until_failed(&app, &actors.finance, &pool, id).await;
    let rejected = reject(&app, &actors.finance, id, &format!("reject:{id}")).await;
    assert_eq!(rejected.json["state"], "rejected", "{rejected:?}");
    assert_eq!(
        balances(&app, &actors.player).await,
        ("100.00".into(), "0.00".into())
    );

    let key = format!("payout:{id}:1");
    arrives_late(&pool, id, &key, "succeeded").await;
    assert_eq!(
        deliver_payout_event(&app, &pool, &key, "succeeded").await,
        200
    );
    assert_eq!(state(&pool, id).await, "rejected");
    assert_eq!(journals(&pool, id, "withdrawal_payout_recovery").await, 1);
    assert_eq!(player_books(&pool, id).await, (4000, 0));
    assert_eq!(
        balances(&app, &actors.player).await,
        ("40.00".into(), "0.00".into())
    );
    assert_eq!(paid_at_psp_and_in_ledger(&pool, id).await, (6000, 6000));
    assert_ledger_whole(&pool).await;
}

// Proves a staff action's key names the action with its parameters: the same reject key with
// another reason, or the same mark-paid key with another reference, is idempotency_key_reused
// (409) and changes nothing, while the same key with the same parameters replays.
#[sqlx::test(migrations = "../migrations")]
async fn replayed_key_with_other_parameters_is_refused(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let actors = log_in_all(&app).await;
    fund(&app, &actors.finance, "100.00").await;

    let rejected = requested(&app, &actors.player, "20.00").await;
    let key = format!("reject:{rejected}");
    let first = act(
        &app,
        &actors.finance,
        "reject",
        rejected,
        &key,
        &[("reason", "duplicate request")],
    )
    .await;
    assert_eq!(first.json["state"], "rejected", "{first:?}");
    let other = act(
        &app,
        &actors.finance,
        "reject",
        rejected,
        &key,
        &[("reason", "fraud suspected")],
    )
    .await;
    assert_eq!(
        (other.status, other.code()),
        (409, "idempotency_key_reused"),
        "{other:?}"
    );
    let same = act(
        &app,
        &actors.finance,
        "reject",
        rejected,
        &key,
        &[("reason", "duplicate request")],
    )
    .await;
    assert_eq!(
        (same.status, same.json["replayed"].clone()),
        (200, true.into()),
        "{same:?}"
    );
    let reason: String = sqlx::query_scalar("SELECT reject_reason FROM withdrawals WHERE id = $1")
        .bind(rejected)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(reason, "duplicate request");

    let paid = requested(&app, &actors.player, "30.00").await;
    approve(&app, &actors.finance, paid).await;
    let key = format!("mark_paid:{paid}");
    let fields = |reference| {
        [
            ("reason", "paid by bank"),
            ("external_reference", reference),
        ]
    };
    let first = act(
        &app,
        &actors.finance,
        "mark-paid",
        paid,
        &key,
        &fields("BANK-1"),
    )
    .await;
    assert_eq!(first.json["state"], "paid", "{first:?}");
    let other = act(
        &app,
        &actors.finance,
        "mark-paid",
        paid,
        &key,
        &fields("BANK-2"),
    )
    .await;
    assert_eq!(
        (other.status, other.code()),
        (409, "idempotency_key_reused"),
        "{other:?}"
    );
    let same = act(
        &app,
        &actors.finance,
        "mark-paid",
        paid,
        &key,
        &fields("BANK-1"),
    )
    .await;
    assert_eq!(same.status, 200, "{same:?}");
    assert_eq!(journals(&pool, paid, "withdrawal_payout").await, 1);
    let reference: String =
        sqlx::query_scalar("SELECT external_reference FROM withdrawals WHERE id = $1")
            .bind(paid)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(reference, "BANK-1");
    assert_ledger_whole(&pool).await;
}
