//! Withdrawals and payouts through the real HTTP router: funds are held at request and released
//! on rejection, staff actions are idempotent and decided one at a time, maker-checker holds,
//! the retry policy is enforced, a payout success writes exactly one final journal whichever
//! way it arrives, an unknown attempt is rechecked and never retried blind, and the real binary
//! killed mid-payout pays exactly once after a restart.

mod common;
mod withdrawals_support;

use std::time::Duration;

use common::{SECOND_PLAYER_EMAIL, spawn_app};
use sqlx::PgPool;
use uuid::Uuid;
use withdrawals_support::*;

// Proves a request moves 60.00 from available to held in one step (one row `requested`, one
// `withdrawal_request` journal), that a rejection needs a reason, and that a rejection returns
// the 60.00 to available with one `withdrawal_reject` journal, visible to the player.
#[sqlx::test(migrations = "../migrations")]
async fn rejected_withdrawal_returns_the_funds(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let actors = log_in_all(&app).await;
    fund(&app, &actors.finance, "100.00").await;

    let id = requested(&app, &actors.player, "60.00").await;
    assert_eq!(
        balances(&app, &actors.player).await,
        ("40.00".into(), "60.00".into())
    );
    assert_eq!(journals(&pool, id, "withdrawal_request").await, 1);

    let no_reason = act(
        &app,
        &actors.finance,
        "reject",
        id,
        &format!("reject:{id}"),
        &[("reason", "  ")],
    )
    .await;
    assert_eq!((no_reason.status, no_reason.code()), (422, "invalid_input"));
    assert_eq!(no_reason.json["field"], "reason");
    assert_eq!(state(&pool, id).await, "requested");

    let rejected = act(
        &app,
        &actors.finance,
        "reject",
        id,
        &format!("reject:{id}"),
        &[("reason", "bank details do not match the account holder")],
    )
    .await;
    assert_eq!(rejected.status, 200, "{rejected:?}");
    assert_eq!(rejected.json["state"], "rejected");
    assert_eq!(
        balances(&app, &actors.player).await,
        ("100.00".into(), "0.00".into())
    );
    assert_eq!(journals(&pool, id, "withdrawal_reject").await, 1);

    let mine = app
        .call("withdrawals/mine", &[], Some(&actors.player))
        .await;
    assert_eq!(mine.json[0]["state"], "rejected");
    assert_eq!(
        mine.json[0]["reject_reason"],
        "bank details do not match the account holder"
    );
    // A rejected withdrawal cannot be approved or paid any more.
    let late = approve(&app, &actors.owner, id).await;
    assert_eq!(
        (late.status, late.code()),
        (409, "invalid_state_transition")
    );
    assert!(
        late.json["message"]
            .as_str()
            .unwrap()
            .contains("already rejected")
    );
    assert_ledger_whole(&pool).await;
}

// Proves a request above the available balance is refused with insufficient_funds and writes
// nothing, and that the player's key replays one request and refuses a different one.
#[sqlx::test(migrations = "../migrations")]
async fn above_available_is_refused_and_keys_replay(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let actors = log_in_all(&app).await;
    fund(&app, &actors.finance, "50.00").await;

    let refused = request(&app, &actors.player, "60.00", "too-much").await;
    assert_eq!(
        (refused.status, refused.code()),
        (409, "insufficient_funds")
    );
    assert!(
        refused.json["message"]
            .as_str()
            .unwrap()
            .contains("50.00 EUR")
    );
    assert_eq!(app.count("SELECT count(*) FROM withdrawals").await, 0);
    assert_eq!(
        balances(&app, &actors.player).await,
        ("50.00".into(), "0.00".into())
    );

    let first = request(&app, &actors.player, "20.00", "one-click").await;
    let again = request(&app, &actors.player, "20.00", "one-click").await;
    assert_eq!(first.status, 200);
    assert_eq!(first.json["id"], again.json["id"]);
    let other = request(&app, &actors.player, "30.00", "one-click").await;
    assert_eq!(
        (other.status, other.code()),
        (409, "idempotency_key_reused")
    );
    assert_eq!(app.count("SELECT count(*) FROM withdrawals").await, 1);
    assert_eq!(
        balances(&app, &actors.player).await,
        ("30.00".into(), "20.00".into())
    );
    assert_ledger_whole(&pool).await;
}

// Proves zero, negative, too many decimals, too large (globally and for the tenant's policy),
// below the minimum and an unknown currency are refused and hold nothing; unknown ids and
// another tenant's withdrawal are 404 for every staff call; players cannot use staff calls.
#[sqlx::test(migrations = "../migrations")]
async fn bad_input_and_foreign_ids_are_refused(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let actors = log_in_all(&app).await;
    fund(&app, &actors.finance, "100.00").await;

    for amount in [
        "0",
        "0.00",
        "-5.00",
        "10.001",
        "abc",
        "2000000000",
        "10000.01",
        "9.99",
    ] {
        let reply = request(&app, &actors.player, amount, &format!("bad-{amount}")).await;
        assert_eq!(
            (reply.status, reply.code()),
            (422, "invalid_amount"),
            "{amount}: {reply:?}"
        );
        assert_eq!(reply.json["field"], "amount");
    }
    let currency = app
        .call(
            "withdrawals/request",
            &[
                ("amount", "10.00"),
                ("currency", "XXX"),
                ("idempotency_key", "k"),
            ],
            Some(&actors.player),
        )
        .await;
    assert_eq!((currency.status, currency.code()), (422, "invalid_input"));
    assert_eq!(app.count("SELECT count(*) FROM withdrawals").await, 0);
    assert_eq!(
        balances(&app, &actors.player).await,
        ("100.00".into(), "0.00".into())
    );

    let id = requested(&app, &actors.player, "30.00").await;
    let unknown = Uuid::new_v4();
    assert_eq!(detail(&app, &actors.finance, unknown).await.status, 404);
    assert_eq!(approve(&app, &actors.finance, unknown).await.status, 404);
    let malformed = app
        .call(
            "admin/withdrawals/detail",
            &[("withdrawal_id", "not-a-uuid")],
            Some(&actors.finance),
        )
        .await;
    assert_eq!(malformed.status, 422);

    let foreign = log_in_second(&app, "admin/login", SECOND_FINANCE).await;
    let id_text = id.to_string();
    let foreign_detail = call_second(
        &app,
        "admin/withdrawals/detail",
        &[("withdrawal_id", &id_text)],
        Some(&foreign),
    )
    .await;
    assert_eq!(
        (foreign_detail.status, foreign_detail.code()),
        (404, "not_found")
    );
    for endpoint in [
        "approve",
        "reject",
        "start-payout",
        "retry-payout",
        "mark-paid",
        "recheck",
    ] {
        let form = [
            ("withdrawal_id", id_text.as_str()),
            ("idempotency_key", endpoint),
            ("reason", "x"),
            ("external_reference", "x"),
        ];
        let path = format!("admin/withdrawals/{endpoint}");
        let reply = call_second(&app, &path, &form, Some(&foreign)).await;
        assert_eq!(
            (reply.status, reply.code()),
            (404, "not_found"),
            "{endpoint}: {reply:?}"
        );
    }
    let listed = call_second(&app, "admin/withdrawals/list", &[], Some(&foreign)).await;
    assert_eq!(listed.json, serde_json::json!([]));
    let foreign_player = log_in_second(&app, "auth/login", SECOND_PLAYER_EMAIL).await;
    assert_eq!(
        call_second(&app, "withdrawals/mine", &[], Some(&foreign_player))
            .await
            .json,
        serde_json::json!([])
    );
    let player_as_staff = approve(&app, &actors.player, id).await;
    assert_eq!(
        (player_as_staff.status, player_as_staff.code()),
        (403, "forbidden")
    );
    assert_eq!(state(&pool, id).await, "requested");
    assert_ledger_whole(&pool).await;
}

// Proves support sees the queue and the detail but every action is refused (403), with the
// detail offering no action; finance sees the actions a requested withdrawal allows.
#[sqlx::test(migrations = "../migrations")]
async fn support_sees_but_cannot_act(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let actors = log_in_all(&app).await;
    fund(&app, &actors.finance, "100.00").await;
    let id = requested(&app, &actors.player, "25.00").await;
    let support = app.log_in("admin/login", SUPPORT).await;

    let queue = app
        .call("admin/withdrawals/list", &[], Some(&support))
        .await;
    assert_eq!(queue.json[0]["id"], id.to_string());
    assert_eq!(queue.json[0]["player_email"], "player@demo.kasa.test");
    assert_eq!(queue.json[0]["amount"]["amount"], "25.00");
    let seen = detail(&app, &support, id).await;
    assert_eq!(seen.status, 200);
    assert!(
        seen.json["actions"]
            .as_object()
            .unwrap()
            .values()
            .all(|allowed| allowed == false)
    );
    let refused = approve(&app, &support, id).await;
    assert_eq!((refused.status, refused.code()), (403, "forbidden"));
    assert_eq!(recheck(&app, &support, id).await.status, 403);

    let finance_view = detail(&app, &actors.finance, id).await;
    assert_eq!(finance_view.json["actions"]["approve"], true);
    assert_eq!(finance_view.json["actions"]["reject"], true);
    assert_eq!(finance_view.json["actions"]["start_payout"], false);
    assert_eq!(finance_view.json["timeline"][0]["action"], "requested");
    assert_eq!(state(&pool, id).await, "requested");
}

// Proves the queue filters: by state, by amount range and by age.
#[sqlx::test(migrations = "../migrations")]
async fn queue_filters_by_state_amount_and_age(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let actors = log_in_all(&app).await;
    fund(&app, &actors.finance, "500.00").await;
    let small = requested(&app, &actors.player, "20.00").await;
    sqlx::query(
        "UPDATE withdrawals SET created_at = created_at - interval '5 hours' WHERE id = $1",
    )
    .bind(small)
    .execute(&pool)
    .await
    .unwrap();
    let large = requested(&app, &actors.player, "200.00").await;
    assert_eq!(approve(&app, &actors.finance, large).await.status, 200);

    let ids = |reply: common::Reply| -> Vec<String> {
        reply
            .json
            .as_array()
            .unwrap()
            .iter()
            .map(|row| row["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let list = async |form: &[(&str, &str)]| {
        app.call("admin/withdrawals/list", form, Some(&actors.finance))
            .await
    };
    assert_eq!(ids(list(&[]).await), [small.to_string(), large.to_string()]);
    assert_eq!(
        ids(list(&[("state", "approved")]).await),
        [large.to_string()]
    );
    assert_eq!(
        ids(list(&[("amount_min", "100")]).await),
        [large.to_string()]
    );
    assert_eq!(
        ids(list(&[("amount_max", "20.00")]).await),
        [small.to_string()]
    );
    assert_eq!(
        ids(list(&[("older_than_hours", "4")]).await),
        [small.to_string()]
    );
    let bad = list(&[("state", "lost")]).await;
    assert_eq!((bad.status, bad.code()), (422, "invalid_input"));
}

// Proves 20 concurrent calls (10 approvals by finance, 10 rejections by the owner, each with
// its action key) make exactly one transition: the winner's side all answer 200 (one real, the
// rest replays), the loser's side all get invalid_state_transition, and the ledger matches.
#[sqlx::test(migrations = "../migrations")]
async fn concurrent_approve_and_reject_make_one_transition(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let actors = log_in_all(&app).await;
    fund(&app, &actors.finance, "100.00").await;
    let id = requested(&app, &actors.player, "60.00").await;

    let approve_key = format!("approve:{id}");
    let reject_key = format!("reject:{id}");
    let calls = (0..20).map(|index| {
        let (cookie, endpoint, key) = if index % 2 == 0 {
            (&actors.finance, "approve", &approve_key)
        } else {
            (&actors.owner, "reject", &reject_key)
        };
        let app = &app;
        async move {
            let reply = act(
                app,
                cookie,
                endpoint,
                id,
                key,
                &[("reason", "duplicate request")],
            )
            .await;
            (endpoint, reply)
        }
    });
    let replies = futures::future::join_all(calls).await;

    let final_state = state(&pool, id).await;
    let winner = if final_state == "approved" {
        "approve"
    } else {
        "reject"
    };
    assert!(
        final_state == "approved" || final_state == "rejected",
        "{final_state}"
    );
    for (endpoint, reply) in &replies {
        if *endpoint == winner {
            assert_eq!(reply.status, 200, "{endpoint}: {reply:?}");
        } else {
            assert_eq!(
                (reply.status, reply.code()),
                (409, "invalid_state_transition"),
                "{endpoint}: {reply:?}"
            );
            assert!(reply.json["message"].as_str().unwrap().contains("already"));
        }
    }
    let real = replies
        .iter()
        .filter(|(_, reply)| reply.json["replayed"] == false)
        .count();
    assert_eq!(real, 1, "exactly one call acted");
    let transitions: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM withdrawal_events WHERE withdrawal_id = $1 AND action IN ('approved', 'rejected')",
    )
    .bind(id)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(transitions, 1);
    let released = journals(&pool, id, "withdrawal_reject").await;
    assert_eq!(released, i64::from(final_state == "rejected"));
    let expected = if final_state == "rejected" {
        ("100.00", "0.00")
    } else {
        ("40.00", "60.00")
    };
    assert_eq!(
        balances(&app, &actors.player).await,
        (expected.0.into(), expected.1.into())
    );
    assert_ledger_whole(&pool).await;
}

// Proves maker-checker above the threshold: the first approval leaves the withdrawal
// requested, the same person cannot give the second (a replay of their own click changes
// nothing, a new key is refused 403), and a different staff member's approval approves it.
#[sqlx::test(migrations = "../migrations")]
async fn maker_checker_refuses_self_approval(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let actors = log_in_all(&app).await;
    set_policy(&app, &actors.owner, &[("approval_threshold", "50")]).await;
    fund(&app, &actors.finance, "200.00").await;
    let below = requested(&app, &actors.player, "50.00").await;
    let above = requested(&app, &actors.player, "50.01").await;

    assert_eq!(
        approve(&app, &actors.finance, below).await.json["state"],
        "approved"
    );

    let first = approve(&app, &actors.finance, above).await;
    assert_eq!(first.status, 200, "{first:?}");
    assert_eq!(first.json["state"], "requested");
    assert!(
        first.json["message"]
            .as_str()
            .unwrap()
            .contains("second staff member")
    );
    let double_click = approve(&app, &actors.finance, above).await;
    assert_eq!(
        (double_click.status, double_click.json["replayed"].clone()),
        (200, true.into())
    );
    let self_approval = act(
        &app,
        &actors.finance,
        "approve",
        above,
        "approve-again",
        &[],
    )
    .await;
    assert_eq!(
        (self_approval.status, self_approval.code()),
        (403, "forbidden")
    );
    assert_eq!(state(&pool, above).await, "requested");
    let queue = app
        .call(
            "admin/withdrawals/list",
            &[("state", "requested")],
            Some(&actors.owner),
        )
        .await;
    assert_eq!(queue.json[0]["awaiting_second_approval"], true);
    assert_eq!(
        detail(&app, &actors.finance, above).await.json["actions"]["approve"],
        false
    );

    let second = approve(&app, &actors.owner, above).await;
    assert_eq!(second.json["state"], "approved", "{second:?}");
    let (first_by, second_by): (Uuid, Uuid) =
        sqlx::query_as("SELECT first_approved_by, approved_by FROM withdrawals WHERE id = $1")
            .bind(above)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_ne!(first_by, second_by);
}

// Proves a failed attempt keeps the funds held and the withdrawal `payout_failed`; a retry
// inside the cooldown is refused 429 with retry_after_s and the time in the message; the
// (max+1)-th attempt is refused retry_limit_reached; marking paid by hand then settles through
// the same path with one payout journal.
#[sqlx::test(migrations = "../migrations")]
async fn retry_policy_is_enforced_and_failures_keep_funds_held(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let actors = log_in_all(&app).await;
    set_policy(
        &app,
        &actors.owner,
        &[("payout_attempts_max", "2"), ("retry_cooldown_s", "300")],
    )
    .await;
    fund(&app, &actors.finance, "100.00").await;
    let id = requested(&app, &actors.player, "60.00").await;
    approve(&app, &actors.finance, id).await;
    script(&pool, id, "fail", Some("account_closed"), 0).await;
    script(&pool, id, "fail", Some("invalid_account_number"), 0).await;

    let started = start_payout(&app, &actors.finance, id).await;
    assert_eq!(started.status, 200, "{started:?}");
    assert_eq!(started.json["state"], "payout_failed");
    assert!(
        started.json["message"]
            .as_str()
            .unwrap()
            .contains("account is closed")
    );
    assert_eq!(
        attempts(&pool, id).await,
        [(1, "failed".into(), Some("account_closed".into()))]
    );
    assert_eq!(
        balances(&app, &actors.player).await,
        ("40.00".into(), "60.00".into())
    );
    assert_eq!(journals(&pool, id, "withdrawal_payout").await, 0);

    let early = retry_payout(&app, &actors.finance, id, 2).await;
    assert_eq!(
        (early.status, early.code()),
        (429, "retry_cooldown"),
        "{early:?}"
    );
    assert_eq!(early.json["retry_after_s"], 300);
    assert_eq!(early.headers["retry-after"], "300");
    assert!(
        early.json["message"]
            .as_str()
            .unwrap()
            .contains("next retry is allowed at")
    );
    let view = detail(&app, &actors.finance, id).await;
    assert!(view.json["retry_allowed_at"].is_string());

    app.advance(chrono::Duration::seconds(299));
    let still_early = retry_payout(&app, &actors.finance, id, 2).await;
    assert_eq!(
        (
            still_early.status,
            still_early.json["retry_after_s"].clone()
        ),
        (429, 1.into())
    );
    app.advance(chrono::Duration::seconds(1));
    let retried = retry_payout(&app, &actors.finance, id, 2).await;
    assert_eq!(retried.json["state"], "payout_failed", "{retried:?}");
    assert_eq!(attempts(&pool, id).await.len(), 2);

    app.advance(chrono::Duration::seconds(600));
    let third = retry_payout(&app, &actors.finance, id, 3).await;
    assert_eq!(
        (third.status, third.code()),
        (409, "retry_limit_reached"),
        "{third:?}"
    );
    assert_eq!(attempts(&pool, id).await.len(), 2);
    assert_eq!(
        balances(&app, &actors.player).await,
        ("40.00".into(), "60.00".into())
    );

    let no_reference = act(
        &app,
        &actors.finance,
        "mark-paid",
        id,
        &format!("mark_paid:{id}"),
        &[
            ("reason", "paid by bank transfer"),
            ("external_reference", ""),
        ],
    )
    .await;
    assert_eq!(
        (no_reference.status, no_reference.json["field"].clone()),
        (422, "external_reference".into())
    );
    let marked = act(
        &app,
        &actors.finance,
        "mark-paid",
        id,
        &format!("mark_paid:{id}"),
        &[
            ("reason", "paid by bank transfer"),
            ("external_reference", "SEPA-2024-0042"),
        ],
    )
    .await;
    assert_eq!(marked.json["state"], "paid", "{marked:?}");
    assert_eq!(journals(&pool, id, "withdrawal_payout").await, 1);
    let clearing: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM ledger_accounts WHERE kind = 'psp_clearing' AND provider = 'manual'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(clearing, 1);
    assert_eq!(
        balances(&app, &actors.player).await,
        ("40.00".into(), "0.00".into())
    );
    assert_ledger_whole(&pool).await;
}

// Proves one success delivered at once by the API answer, five webhooks (each a new event)
// and five staff rechecks writes exactly one payout journal: the withdrawal is paid once, its
// attempt succeeded, the player holds nothing, and the ledger is whole.
#[sqlx::test(migrations = "../migrations")]
async fn success_from_every_path_at_once_pays_once(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let actors = log_in_all(&app).await;
    fund(&app, &actors.finance, "100.00").await;
    let id = requested(&app, &actors.player, "60.00").await;
    approve(&app, &actors.finance, id).await;
    // The mock records the payout, then takes 800 ms to answer: the window for the others.
    script(&pool, id, "succeed", None, 800).await;
    let key = format!("payout:{id}:1");

    let (start, ()) = tokio::join!(start_payout(&app, &actors.finance, id), async {
        eventually("the mock PSP to record the payout", || async {
            app.count(&format!(
                "SELECT count(*) FROM mock_psp_payouts WHERE idempotency_key = '{key}'"
            ))
            .await
                == 1
        })
        .await;
        let webhooks = (0..5).map(|_| deliver_payout_event(&app, &pool, &key, "succeeded"));
        let rechecks = (0..5).map(|_| recheck(&app, &actors.finance, id));
        let (webhooks, rechecks) = tokio::join!(
            futures::future::join_all(webhooks),
            futures::future::join_all(rechecks)
        );
        assert!(webhooks.iter().all(|status| *status == 200), "{webhooks:?}");
        for reply in rechecks {
            assert!(
                reply.status == 200 || reply.code() == "invalid_state_transition",
                "{reply:?}"
            );
        }
    });
    assert_eq!(start.status, 200, "{start:?}");
    assert_eq!(start.json["state"], "paid");
    // The mock's own webhook arrives too; give it time to apply (it must change nothing).
    tokio::time::sleep(Duration::from_millis(500)).await;

    assert_eq!(state(&pool, id).await, "paid");
    assert_eq!(journals(&pool, id, "withdrawal_payout").await, 1);
    assert_eq!(attempts(&pool, id).await, [(1, "succeeded".into(), None)]);
    let paid_events: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM withdrawal_events WHERE withdrawal_id = $1 AND action = 'paid'",
    )
    .bind(id)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(paid_events, 1);
    assert_eq!(
        balances(&app, &actors.player).await,
        ("40.00".into(), "0.00".into())
    );
    let mine = app
        .call("withdrawals/mine", &[], Some(&actors.player))
        .await;
    assert_eq!(mine.json[0]["state"], "paid");
    assert_ledger_whole(&pool).await;
}

// Proves an attempt whose answer was lost is `unknown`, that a retry rechecks it first and
// finds it paid without a second attempt, and that the mock saw one payout for the key.
#[sqlx::test(migrations = "../migrations")]
async fn unknown_attempt_is_rechecked_never_retried_blind(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let actors = log_in_all(&app).await;
    fund(&app, &actors.finance, "100.00").await;
    let id = requested(&app, &actors.player, "60.00").await;
    approve(&app, &actors.finance, id).await;
    script(&pool, id, "lose_answer", None, 0).await;

    let started = start_payout(&app, &actors.finance, id).await;
    assert_eq!(started.json["state"], "paying", "{started:?}");
    assert!(
        started.json["message"]
            .as_str()
            .unwrap()
            .contains("unknown")
    );
    assert_eq!(attempts(&pool, id).await, [(1, "unknown".into(), None)]);
    assert_eq!(
        detail(&app, &actors.finance, id).await.json["actions"]["retry_payout"],
        true
    );

    let retried = retry_payout(&app, &actors.finance, id, 2).await;
    assert_eq!(retried.status, 200, "{retried:?}");
    assert_eq!(retried.json["state"], "paid");
    assert!(
        retried.json["message"]
            .as_str()
            .unwrap()
            .contains("nothing was retried")
    );
    assert_eq!(attempts(&pool, id).await, [(1, "succeeded".into(), None)]);
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM mock_psp_payouts WHERE withdrawal_id = '{id}'"
        ))
        .await,
        1
    );
    assert_eq!(journals(&pool, id, "withdrawal_payout").await, 1);
    assert_ledger_whole(&pool).await;
}

// Proves a payout that never reached the PSP (hang) stays unknown while it is young (a retry is
// refused), and once its call has certainly ended plus the grace period the background job finds
// no payout at the PSP and fails the attempt; a retry then re-sends that attempt under its own
// key (the PSP could still have it), which pays it.
#[sqlx::test(migrations = "../migrations")]
async fn recheck_job_resolves_a_payout_that_never_arrived(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let actors = log_in_all(&app).await;
    set_policy(
        &app,
        &actors.owner,
        &[("retry_cooldown_s", "0"), ("recheck_age_s", "60")],
    )
    .await;
    fund(&app, &actors.finance, "100.00").await;
    let id = requested(&app, &actors.player, "60.00").await;
    approve(&app, &actors.finance, id).await;
    script(&pool, id, "hang", None, 0).await;

    start_payout(&app, &actors.finance, id).await;
    assert_eq!(attempts(&pool, id).await, [(1, "unknown".into(), None)]);
    let too_soon = retry_payout(&app, &actors.finance, id, 2).await;
    assert_eq!(
        (too_soon.status, too_soon.code()),
        (409, "invalid_state_transition"),
        "{too_soon:?}"
    );
    assert_eq!(attempts(&pool, id).await.len(), 1);

    // The call's 30 s timeout plus the default 900 s grace period.
    app.advance(chrono::Duration::seconds(931));
    eventually("the recheck job to fail the lost attempt", || async {
        state(&pool, id).await == "payout_failed"
    })
    .await;
    assert_eq!(
        attempts(&pool, id).await,
        [(1, "failed".into(), Some("not_found_at_provider".into()))]
    );
    let retried = retry_payout(&app, &actors.finance, id, 2).await;
    assert_eq!(retried.json["state"], "paid", "{retried:?}");
    assert_eq!(attempts(&pool, id).await, [(1, "succeeded".into(), None)]);
    assert_eq!(journals(&pool, id, "withdrawal_payout").await, 1);
    assert_eq!(
        balances(&app, &actors.player).await,
        ("40.00".into(), "0.00".into())
    );
    assert_ledger_whole(&pool).await;
}

// Proves only the owner may change the policy, invalid values are refused with their field,
// and a saved policy applies (the new minimum refuses a smaller request) and is audited.
#[sqlx::test(migrations = "../migrations")]
async fn policy_is_owner_only_validated_and_applied(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let actors = log_in_all(&app).await;
    let read = app
        .call("admin/settings/withdrawals", &[], Some(&actors.finance))
        .await;
    assert_eq!(read.json["payout_attempts_max"], 3);
    assert_eq!(read.json["editable"], false);
    let form = [
        ("amount_min", "25"),
        ("amount_max", "500"),
        ("approval_threshold", "100"),
        ("payout_attempts_max", "5"),
        ("retry_cooldown_s", "60"),
        ("recheck_age_s", "30"),
        ("not_found_grace_s", "900"),
        ("payout_provider", "mock"),
    ];
    let by_finance = app
        .call(
            "admin/settings/withdrawals/save",
            &form,
            Some(&actors.finance),
        )
        .await;
    assert_eq!(by_finance.status, 403);
    let mut invalid = form.to_vec();
    invalid[4] = ("retry_cooldown_s", "-1");
    let refused = app
        .call(
            "admin/settings/withdrawals/save",
            &invalid,
            Some(&actors.owner),
        )
        .await;
    assert_eq!(
        (refused.status, refused.json["field"].clone()),
        (422, "retry_cooldown_s".into())
    );
    let mut upside_down = form.to_vec();
    upside_down[1] = ("amount_max", "20");
    let refused = app
        .call(
            "admin/settings/withdrawals/save",
            &upside_down,
            Some(&actors.owner),
        )
        .await;
    assert_eq!(
        (refused.status, refused.json["field"].clone()),
        (422, "amount_max".into())
    );

    let saved = app
        .call(
            "admin/settings/withdrawals/save",
            &form,
            Some(&actors.owner),
        )
        .await;
    assert_eq!(saved.status, 200, "{saved:?}");
    assert_eq!(saved.json["payout_attempts_max"], 5);
    fund(&app, &actors.finance, "100.00").await;
    let small = request(&app, &actors.player, "20.00", "small").await;
    assert_eq!((small.status, small.code()), (422, "invalid_amount"));
    assert!(small.json["message"].as_str().unwrap().contains("25 EUR"));
    let audited: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_events WHERE action = 'withdrawal_policy.updated'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(audited, 1);
}

// Proves crash safety with the real binary: the mock PSP records a payout and the server is
// killed with SIGKILL before Kasa records the answer (a test-only scripted crash); after a
// restart the recheck job finds the payout, the withdrawal is paid once, the PSP saw one payout
// for the attempt's key, and the ledger is whole.
#[sqlx::test(migrations = "../migrations")]
async fn killed_mid_payout_pays_once_after_restart(pool: PgPool) {
    use std::os::unix::process::ExitStatusExt;

    let server = KasaProcess::start(&pool).await;
    let finance = server.log_in("admin/login", FINANCE).await;
    let owner = server.log_in("admin/login", OWNER).await;
    let player = server.log_in("auth/login", common::PLAYER_EMAIL).await;
    server.verify_identity(&owner).await;
    server.fund(&finance, &owner, "100.00").await;
    let (requested, _) = server
        .call(
            "withdrawals/request",
            &[
                ("amount", "60.00"),
                ("currency", "EUR"),
                ("idempotency_key", "crash"),
            ],
            Some(&player),
        )
        .await;
    let id: Uuid = requested["id"].as_str().unwrap().parse().unwrap();
    let id_text = id.to_string();
    let approve_key = format!("approve:{id}");
    server
        .call(
            "admin/withdrawals/approve",
            &[
                ("withdrawal_id", &id_text),
                ("idempotency_key", &approve_key),
            ],
            Some(&finance),
        )
        .await;
    let policy = [
        ("amount_min", "10"),
        ("amount_max", "10000"),
        ("approval_threshold", "1000"),
        ("payout_attempts_max", "3"),
        ("retry_cooldown_s", "300"),
        ("recheck_age_s", "1"),
        ("not_found_grace_s", "900"),
        ("payout_provider", "mock"),
    ];
    server
        .call("admin/settings/withdrawals/save", &policy, Some(&owner))
        .await;
    script(&pool, id, "crash", None, 0).await;

    let start_key = format!("start_payout:{id}");
    let mut server = server;
    let answer = server
        .try_call(
            "admin/withdrawals/start-payout",
            &[("withdrawal_id", &id_text), ("idempotency_key", &start_key)],
            Some(&finance),
        )
        .await;
    assert!(
        answer.is_none(),
        "the server answered instead of dying: {answer:?}"
    );
    let exit = server.child.wait().await.unwrap();
    assert_eq!(exit.signal(), Some(9), "killed by SIGKILL: {exit:?}");

    // What the crash left: the PSP paid, Kasa only knows it sent attempt 1.
    let key = format!("payout:{id}:1");
    let paid_at_psp: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM mock_psp_payouts WHERE idempotency_key = $1 AND status = 'succeeded'",
    )
    .bind(&key)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(paid_at_psp, 1);
    assert_eq!(state(&pool, id).await, "paying");
    assert_eq!(attempts(&pool, id).await, [(1, "pending".into(), None)]);
    assert_eq!(journals(&pool, id, "withdrawal_payout").await, 0);

    let restarted = KasaProcess::start(&pool).await;
    eventually("the recheck job to settle the payout", || async {
        state(&pool, id).await == "paid"
    })
    .await;
    assert_eq!(attempts(&pool, id).await, [(1, "succeeded".into(), None)]);
    assert_eq!(journals(&pool, id, "withdrawal_payout").await, 1);
    let payouts_for_key: i64 =
        sqlx::query_scalar("SELECT count(*) FROM mock_psp_payouts WHERE withdrawal_id = $1")
            .bind(id)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(payouts_for_key, 1);
    let (balances, _) = restarted.call("wallet/balances", &[], Some(&player)).await;
    assert_eq!(balances[0]["available"]["amount"], "40.00");
    assert_eq!(balances[0]["held"]["amount"], "0.00");
    assert_ledger_whole(&pool).await;
}

// Proves the pages render on the server with the viewer's data: the player's withdraw page
// with the balance and the request, the staff queue, the detail with its state and actions,
// and the owner's settings form.
#[sqlx::test(migrations = "../migrations")]
async fn pages_render_for_their_viewers(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let actors = log_in_all(&app).await;
    fund(&app, &actors.finance, "100.00").await;
    let id = requested(&app, &actors.player, "60.00").await;
    let page = async |path: &str, cookie: &str| -> (u16, String) {
        let response = app
            .http
            .get(format!("{}{path}", app.base))
            .header("cookie", cookie)
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    };

    let (status, withdraw) = page("/withdraw", &actors.player).await;
    assert_eq!(status, 200);
    assert!(
        withdraw.contains("data-testid=\"withdraw-submit\""),
        "{withdraw}"
    );
    assert!(withdraw.contains("40.00") && withdraw.contains("60.00"));
    assert!(withdraw.contains("Waiting for approval"));
    let (_, queue) = page("/admin/withdrawals", &actors.finance).await;
    assert!(queue.contains("data-testid=\"queue-row\""), "{queue}");
    let (_, detail) = page(&format!("/admin/withdrawals/{id}"), &actors.finance).await;
    assert!(detail.contains("data-state=\"requested\""), "{detail}");
    assert!(detail.contains("data-testid=\"approve\""));
    let (_, settings) = page("/admin/settings", &actors.owner).await;
    assert!(
        settings.contains("data-testid=\"settings-save\""),
        "{settings}"
    );
    let (_, read_only) = page("/admin/settings", &actors.finance).await;
    assert!(
        read_only.contains("Only an owner can change these."),
        "{read_only}"
    );
}

// Proves the mock PSP's payout script is a staff (finance) control that exists only with the
// mock PSP, and that the crash outcome exists only in the test environment (refused in
// development even with test endpoints on, and nothing scripted); a scripted failure then
// decides the next payout.
#[sqlx::test(migrations = "../migrations")]
async fn mock_payout_scripts_are_guarded(pool: PgPool) {
    let app = common::spawn_app_with(
        pool.clone(),
        &[
            ("KASA_ENVIRONMENT", "development"),
            ("KASA_TEST_ENDPOINTS", "true"),
        ],
    )
    .await;
    let actors = log_in_all(&app).await;
    fund(&app, &actors.finance, "100.00").await;
    let id = requested(&app, &actors.player, "60.00").await;
    let id_text = id.to_string();
    let script_as = async |cookie: &str, outcome: &str| {
        let form = [
            ("withdrawal_id", id_text.as_str()),
            ("outcome", outcome),
            ("failure_code", ""),
        ];
        app.call("admin/withdrawals/mock-script", &form, Some(cookie))
            .await
    };
    let support = app.log_in("admin/login", SUPPORT).await;
    assert_eq!(script_as(&support, "fail").await.status, 403);
    let crash = script_as(&actors.finance, "crash").await;
    assert_eq!(
        (crash.status, crash.json["field"].clone()),
        (422, "outcome".into())
    );
    assert_eq!(
        app.count("SELECT count(*) FROM mock_psp_payout_scripts")
            .await,
        0
    );
    let fail = script_as(&actors.finance, "fail").await;
    assert_eq!(fail.status, 200, "{fail:?}");
    assert!(
        fail.json["message"]
            .as_str()
            .unwrap()
            .contains("fail (account_closed)")
    );
    approve(&app, &actors.finance, id).await;
    let started = start_payout(&app, &actors.finance, id).await;
    assert_eq!(started.json["state"], "payout_failed", "{started:?}");

    let without_mock = common::spawn_app_with(pool.clone(), &[("KASA_MOCK_PSP", "false")]).await;
    let finance = without_mock.log_in("admin/login", FINANCE).await;
    let form = [("withdrawal_id", id_text.as_str()), ("outcome", "succeed")];
    let reply = without_mock
        .call("admin/withdrawals/mock-script", &form, Some(&finance))
        .await;
    assert_eq!((reply.status, reply.code()), (404, "not_found"));
}
