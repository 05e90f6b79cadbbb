//! Audit chaining off the commit path (`migrations/0016_audit_chainer.sql`,
//! `server/src/audit/chainer.rs`): queued events are linked after their transaction commits, in
//! commit order, exactly once under concurrent chainers, and a chainer killed mid-block loses
//! nothing; the queue refuses every other way out, and verification reports events left waiting.

mod common;
mod ledger_support;

use std::collections::BTreeSet;
use std::time::Duration;

use app::domain::ids::TenantId;
use chrono::Utc;
use common::*;
use kasa_server::audit::{self, Actor, AuditEvent, chainer};
use ledger_support::tenant;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use uuid::Uuid;

fn event(tenant_id: TenantId, target: &str) -> AuditEvent {
    AuditEvent {
        tenant_id,
        actor: Actor::Provider("mock".into()),
        action: "deposit.captured".into(),
        target_type: "deposit".into(),
        target_id: target.into(),
        before: Some(serde_json::json!({"state": "pending", "amount_minor": 1050})),
        after: Some(serde_json::json!({"state": "captured", "note": "ünïcode \"quoted\""})),
        reason: None,
        request_id: Some(format!("request-{target}")),
        idempotency_key: None,
        ip: Some("192.0.2.1".into()),
        at: Utc::now(),
    }
}

/// Queues `event` in a transaction of its own, committed.
async fn queue_alone(pool: &PgPool, event: &AuditEvent) -> Uuid {
    let mut tx = pool.begin().await.unwrap();
    let id = audit::queue(&mut tx, event).await.unwrap();
    tx.commit().await.unwrap();
    id
}

/// The tenant's chained events' targets in chain order.
async fn chained_targets(pool: &PgPool, tenant_id: TenantId) -> Vec<String> {
    sqlx::query_scalar("SELECT target_id FROM audit_events WHERE tenant_id = $1 ORDER BY seq")
        .bind(tenant_id)
        .fetch_all(pool)
        .await
        .unwrap()
}

async fn queued(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM audit_pending")
        .fetch_one(pool)
        .await
        .unwrap()
}

async fn verified(pool: &PgPool, tenant_id: TenantId) -> audit::TenantChainReport {
    let report = audit::verify_chain(pool, Some(tenant_id)).await.unwrap();
    report.tenants.into_iter().next().unwrap()
}

// Proves an event whose transaction is still open when the chainer passes is not skipped: the
// pass links only what had committed (the later-queued `b`), the next pass links `a` after it,
// and the chain verifies with consecutive links.
#[sqlx::test(migrations = "../migrations")]
async fn an_event_that_commits_late_is_chained_after_what_committed_before_it(pool: PgPool) {
    let tenant_id = tenant(&pool, "late").await;
    let mut late = pool.begin().await.unwrap();
    audit::queue(&mut late, &event(tenant_id, "a"))
        .await
        .unwrap();
    queue_alone(&pool, &event(tenant_id, "b")).await;

    assert_eq!(audit::chain_pending(&pool).await.unwrap(), 1);
    assert_eq!(chained_targets(&pool, tenant_id).await, ["b"]);
    late.commit().await.unwrap();
    assert_eq!(audit::chain_pending(&pool).await.unwrap(), 1);

    assert_eq!(chained_targets(&pool, tenant_id).await, ["b", "a"]);
    assert_eq!(queued(&pool).await, 0);
    let chain = verified(&pool, tenant_id).await;
    assert!(chain.ok(), "{chain:?}");
    assert_eq!((chain.events_checked, chain.head_seq), (2, 2));
}

// Proves that with eight writers queueing 400 events and three chainers running at once, every
// queued event is linked exactly once (same ids, no gaps in the chain), the queue ends empty, and
// events recorded directly meanwhile share the same intact chain.
#[sqlx::test(migrations = "../migrations")]
async fn concurrent_chainers_link_every_event_exactly_once(pool: PgPool) {
    let options = pool.connect_options().as_ref().clone();
    let pool = PgPoolOptions::new()
        .max_connections(16)
        .connect_with(options)
        .await
        .unwrap();
    let app_pool = app_role_pool(&pool).await;
    let tenant_id = tenant(&pool, "busy").await;
    let writers: Vec<_> = (0..8)
        .map(|writer| {
            let pool = app_pool.clone();
            tokio::spawn(async move {
                let mut ids = Vec::new();
                for number in 0..50 {
                    let event = event(tenant_id, &format!("w{writer}-{number}"));
                    ids.push(queue_alone(&pool, &event).await);
                }
                let mut tx = pool.begin().await.unwrap();
                audit::record(&mut tx, &event(tenant_id, &format!("direct-{writer}")))
                    .await
                    .unwrap();
                tx.commit().await.unwrap();
                ids
            })
        })
        .collect();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let chainers: Vec<_> = (0..3)
        .map(|_| {
            let (pool, done) = (app_pool.clone(), done.clone());
            tokio::spawn(async move {
                let mut linked = 0;
                while !done.load(std::sync::atomic::Ordering::SeqCst) {
                    linked += audit::chain_pending(&pool).await.unwrap();
                    tokio::task::yield_now().await;
                }
                linked
            })
        })
        .collect();
    let mut queued_ids = BTreeSet::new();
    for writer in writers {
        queued_ids.extend(writer.await.unwrap());
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let mut linked = 0;
    for chainer in chainers {
        linked += chainer.await.unwrap();
    }
    linked += audit::chain_pending(&app_pool).await.unwrap();

    assert_eq!(linked, 400);
    assert_eq!(queued(&pool).await, 0);
    let chained: Vec<Uuid> = sqlx::query_scalar(
        "SELECT id FROM audit_events WHERE tenant_id = $1 AND target_id LIKE 'w%'",
    )
    .bind(tenant_id)
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(chained.len(), 400);
    assert_eq!(chained.into_iter().collect::<BTreeSet<_>>(), queued_ids);
    let chain = verified(&pool, tenant_id).await;
    assert!(chain.ok(), "{chain:?}");
    assert_eq!((chain.events_checked, chain.head_seq), (408, 408));
}

// Proves a chainer killed in the middle of a block (its links inserted, its queue delete
// waiting) leaves nothing half done: no event is chained, all are still queued, the head has not
// moved; the next pass links all of them once and the chain verifies.
#[sqlx::test(migrations = "../migrations")]
async fn a_chainer_killed_mid_block_loses_nothing(pool: PgPool) {
    let tenant_id = tenant(&pool, "crash").await;
    for number in 0..20 {
        queue_alone(&pool, &event(tenant_id, &format!("e{number}"))).await;
    }
    // Holding the newest queued row makes the chainer's final DELETE wait, after it has inserted
    // all twenty links in its transaction.
    let mut holder = pool.begin().await.unwrap();
    sqlx::query(
        "SELECT pos FROM audit_pending WHERE pos = (SELECT max(pos) FROM audit_pending) FOR UPDATE",
    )
    .execute(&mut *holder)
    .await
    .unwrap();
    let chainer_pool = pool.clone();
    let chaining =
        tokio::spawn(async move { chainer::chain_block(&chainer_pool, tenant_id).await });
    let chainer_pid = wait_for_blocked(&pool, "DELETE FROM audit_pending").await;
    let linked_in_flight: i64 =
        sqlx::query_scalar("SELECT last_seq FROM audit_chain_heads WHERE tenant_id = $1")
            .bind(tenant_id)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(
        linked_in_flight, 0,
        "the chainer's links are not visible before it commits"
    );
    let killed: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)")
        .bind(chainer_pid)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(killed);
    assert!(
        chaining.await.unwrap().is_err(),
        "the killed chainer reports its failure"
    );
    holder.rollback().await.unwrap();

    assert_eq!(chained_targets(&pool, tenant_id).await.len(), 0);
    assert_eq!(queued(&pool).await, 20);
    assert_eq!(audit::chain_pending(&pool).await.unwrap(), 20);
    assert_eq!(
        chained_targets(&pool, tenant_id).await,
        (0..20)
            .map(|number| format!("e{number}"))
            .collect::<Vec<_>>()
    );
    assert_eq!(queued(&pool).await, 0);
    let chain = verified(&pool, tenant_id).await;
    assert!(chain.ok(), "{chain:?}");
    assert_eq!(chain.head_seq, 20);
}

/// The backend of the chainer once its statement starting with `statement` waits on a lock
/// (a chainer that never blocks fails the test after 20 s instead of hanging it).
async fn wait_for_blocked(pool: &PgPool, statement: &str) -> i32 {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        assert!(
            std::time::Instant::now() < deadline,
            "the chainer never waited on: {statement}"
        );
        let pid: Option<i32> = sqlx::query_scalar(
            "SELECT pid FROM pg_stat_activity
              WHERE wait_event_type = 'Lock' AND starts_with(query, $1)",
        )
        .bind(statement)
        .fetch_optional(pool)
        .await
        .unwrap();
        if let Some(pid) = pid {
            return pid;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

// Proves a chainer waits for an event being linked directly instead of skipping the brand (a
// brand whose staff record events back to back would otherwise never be chained): the pass
// blocks on the held head, links the queued event once the direct one commits, after it.
#[sqlx::test(migrations = "../migrations")]
async fn a_chainer_waits_for_a_direct_link_instead_of_skipping_the_brand(pool: PgPool) {
    let tenant_id = tenant(&pool, "direct").await;
    queue_alone(&pool, &event(tenant_id, "queued")).await;
    let mut direct = pool.begin().await.unwrap();
    audit::record(&mut direct, &event(tenant_id, "direct"))
        .await
        .unwrap();
    let chainer_pool = pool.clone();
    let chaining =
        tokio::spawn(async move { chainer::chain_block(&chainer_pool, tenant_id).await });
    wait_for_blocked(&pool, "SELECT last_seq, last_hash FROM audit_chain_heads").await;
    direct.commit().await.unwrap();

    assert_eq!(chaining.await.unwrap().unwrap(), Some(1));
    assert_eq!(
        chained_targets(&pool, tenant_id).await,
        ["direct", "queued"]
    );
    assert_eq!(queued(&pool).await, 0);
    assert!(verified(&pool, tenant_id).await.ok());
}

// Proves the application role cannot make a queued event disappear before it is chained: DELETE
// and UPDATE are refused by the queue's guard and TRUNCATE by its privileges; the event is still
// queued and is then chained.
#[sqlx::test(migrations = "../migrations")]
async fn a_queued_event_leaves_the_queue_only_by_being_chained(pool: PgPool) {
    let app_pool = app_role_pool(&pool).await;
    let tenant_id = tenant(&pool, "guard").await;
    queue_alone(&app_pool, &event(tenant_id, "kept")).await;
    for statement in [
        "DELETE FROM audit_pending",
        "UPDATE audit_pending SET target_id = 'covered-up'",
        "TRUNCATE audit_pending",
    ] {
        let error = sqlx::query(statement)
            .execute(&app_pool)
            .await
            .expect_err(statement);
        let code = error.as_database_error().and_then(|error| error.code());
        assert!(
            matches!(code.as_deref(), Some("KL009" | "42501")),
            "{statement}: {error}"
        );
    }
    assert_eq!(queued(&pool).await, 1);
    assert_eq!(audit::chain_pending(&app_pool).await.unwrap(), 1);
    assert_eq!(chained_targets(&pool, tenant_id).await, ["kept"]);
    assert_eq!(queued(&pool).await, 0);
}

// Proves verification counts queued events and fails once one has waited longer than the grace
// period (the chainer is down), and passes again once the chainer has linked it.
#[sqlx::test(migrations = "../migrations")]
async fn verification_reports_events_left_waiting(pool: PgPool) {
    let tenant_id = tenant(&pool, "waiting").await;
    queue_alone(&pool, &event(tenant_id, "fresh")).await;
    let fresh = verified(&pool, tenant_id).await;
    assert_eq!((fresh.unchained, fresh.unchained_overdue), (1, 0));
    assert!(fresh.ok());

    let mut stale = event(tenant_id, "stale");
    stale.at = Utc::now() - chrono::Duration::from_std(audit::UNCHAINED_GRACE * 2).unwrap();
    queue_alone(&pool, &stale).await;
    let report = audit::verify_chain(&pool, Some(tenant_id)).await.unwrap();
    assert!(!report.ok);
    assert_eq!(
        (
            report.tenants[0].unchained,
            report.tenants[0].unchained_overdue
        ),
        (2, 1)
    );

    assert_eq!(audit::chain_pending(&pool).await.unwrap(), 2);
    let chained = verified(&pool, tenant_id).await;
    assert_eq!((chained.unchained, chained.unchained_overdue), (0, 0));
    assert!(chained.ok());
    assert_eq!(chained.events_checked, 2);
}
