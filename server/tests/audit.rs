//! The hash-chained audit log: appending, the database's refusal to change it, verification
//! against logs tampered with as a superuser can, per-tenant chains under concurrency, and the
//! events staff actions write.

mod common;

use app::domain::ids::TenantId;
use chrono::Utc;
use common::*;
use kasa_server::audit::{self, Actor, AuditEvent, BreakKind, ChainReport};
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use uuid::Uuid;

async fn tenant(pool: &PgPool, slug: &str) -> TenantId {
    sqlx::query_scalar("INSERT INTO tenants (id, slug, name) VALUES ($1, $2, $2) RETURNING id")
        .bind(Uuid::new_v4())
        .bind(slug)
        .fetch_one(pool)
        .await
        .unwrap()
}

fn event(tenant_id: TenantId, number: usize) -> AuditEvent {
    AuditEvent {
        tenant_id,
        actor: Actor::Provider("mock".into()),
        action: "deposit.captured".into(),
        target_type: "deposit".into(),
        target_id: format!("deposit-{number}"),
        before: Some(serde_json::json!({"state": "pending", "amount_minor": 1000 + number})),
        after: Some(serde_json::json!({"state": "captured", "note": "ünïcode \"quoted\""})),
        reason: None,
        request_id: Some(format!("request-{number}")),
        idempotency_key: Some(format!("key-{number}")),
        ip: Some("192.0.2.1".into()),
        at: Utc::now(),
    }
}

/// Appends `count` events for `tenant_id`, each in its own committed transaction.
async fn append_events(pool: &PgPool, tenant_id: TenantId, count: usize) {
    for number in 1..=count {
        let mut tx = pool.begin().await.unwrap();
        audit::record(&mut tx, &event(tenant_id, number))
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }
}

/// Runs `statement` as a superuser with the append-only triggers switched off, as an attacker
/// with database access could.
async fn tamper(pool: &PgPool, statement: &str) {
    let mut connection = pool.acquire().await.unwrap();
    sqlx::query("SET session_replication_role = replica")
        .execute(&mut *connection)
        .await
        .unwrap();
    sqlx::query(statement)
        .execute(&mut *connection)
        .await
        .unwrap();
    sqlx::query("RESET session_replication_role")
        .execute(&mut *connection)
        .await
        .unwrap();
}

fn tenant_report(report: &ChainReport, tenant_id: TenantId) -> &audit::TenantChainReport {
    report
        .tenants
        .iter()
        .find(|tenant| tenant.tenant_id == tenant_id)
        .expect("the tenant's chain is in the report")
}

fn sql_state(error: &sqlx::Error) -> Option<String> {
    error
        .as_database_error()
        .and_then(|error| error.code())
        .map(|code| code.into_owned())
}

// Proves events are chained per tenant from the genesis hash with consecutive seqs, and an
// intact log verifies.
#[sqlx::test(migrations = "../migrations")]
async fn appended_events_form_a_verified_chain(pool: PgPool) {
    let tenant_id = tenant(&pool, "chain").await;
    append_events(&pool, tenant_id, 4).await;
    let links: Vec<(i64, Vec<u8>, Vec<u8>)> = sqlx::query_as(
        "SELECT seq, prev_hash, hash FROM audit_events WHERE tenant_id = $1 ORDER BY seq",
    )
    .bind(tenant_id)
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        links.iter().map(|link| link.0).collect::<Vec<_>>(),
        [1, 2, 3, 4]
    );
    assert_eq!(links[0].1, audit::GENESIS_HASH.to_vec());
    for pair in links.windows(2) {
        assert_eq!(
            pair[1].1, pair[0].2,
            "each prev_hash is its predecessor's hash"
        );
    }
    let head: (i64, Vec<u8>) =
        sqlx::query_as("SELECT last_seq, last_hash FROM audit_chain_heads WHERE tenant_id = $1")
            .bind(tenant_id)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(head, (4, links[3].2.clone()));
    let report = audit::verify_chain(&pool, Some(tenant_id)).await.unwrap();
    assert!(report.ok, "{report:?}");
    assert_eq!(report.events_checked, 4);
    assert_eq!(
        kasa_server::cli::audit::verify_command(&pool, None, None)
            .await
            .unwrap(),
        std::process::ExitCode::SUCCESS
    );
}

// Proves the database refuses UPDATE, DELETE and TRUNCATE of audit events, a direct move of the
// chain head and an event that is not the next link, and that the log is unchanged afterwards.
#[sqlx::test(migrations = "../migrations")]
async fn the_log_cannot_be_changed_through_the_application(pool: PgPool) {
    let tenant_id = tenant(&pool, "guarded").await;
    append_events(&pool, tenant_id, 3).await;
    let before: Vec<(i64, Option<String>, Vec<u8>)> =
        sqlx::query_as("SELECT seq, reason, hash FROM audit_events ORDER BY seq")
            .fetch_all(&pool)
            .await
            .unwrap();
    for statement in [
        "UPDATE audit_events SET reason = 'rewritten' WHERE seq = 2",
        "DELETE FROM audit_events WHERE seq = 3",
        "TRUNCATE audit_events",
        "UPDATE audit_chain_heads SET last_seq = 2",
        "DELETE FROM audit_chain_heads",
        "TRUNCATE audit_chain_heads CASCADE",
    ] {
        let error = sqlx::query(statement).execute(&pool).await.unwrap_err();
        assert_eq!(sql_state(&error).as_deref(), Some("KL009"), "{statement}");
    }
    // A forged event appended straight into the table must link to the head, or it is refused.
    let error = sqlx::query(
        "INSERT INTO audit_events (tenant_id, seq, id, actor_type, actor_id, action, target_type,
             target_id, at, prev_hash, hash)
         VALUES ($1, 2, gen_random_uuid(), 'system', 'x', 'forged', 'x', 'x', now(), $2, $2)",
    )
    .bind(tenant_id)
    .bind(vec![0_u8; 32])
    .execute(&pool)
    .await
    .unwrap_err();
    assert_eq!(sql_state(&error).as_deref(), Some("KA001"));
    let after: Vec<(i64, Option<String>, Vec<u8>)> =
        sqlx::query_as("SELECT seq, reason, hash FROM audit_events ORDER BY seq")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(after, before);
    assert!(audit::verify_chain(&pool, None).await.unwrap().ok);
}

// Proves an event edited by a superuser (triggers switched off) is reported at exactly that
// event, as an edit, and the events before it count as checked.
#[sqlx::test(migrations = "../migrations")]
async fn an_edited_event_is_reported_at_that_event(pool: PgPool) {
    let tenant_id = tenant(&pool, "edited").await;
    append_events(&pool, tenant_id, 5).await;
    tamper(
        &pool,
        "UPDATE audit_events SET after = '{\"state\": \"failed\"}' WHERE seq = 3",
    )
    .await;
    let report = audit::verify_chain(&pool, Some(tenant_id)).await.unwrap();
    assert!(!report.ok);
    assert_eq!(
        kasa_server::cli::audit::verify_command(&pool, Some("edited"), None)
            .await
            .unwrap(),
        std::process::ExitCode::from(3),
        "kasa audit-verify exits non-zero"
    );
    let chain = tenant_report(&report, tenant_id);
    let broken = chain.first_break.as_ref().expect("a break is reported");
    let edited_id: Uuid =
        sqlx::query_scalar("SELECT id FROM audit_events WHERE tenant_id = $1 AND seq = 3")
            .bind(tenant_id)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!((broken.seq, broken.kind), (3, BreakKind::HashMismatch));
    assert_eq!(broken.event_id, Some(edited_id));
    assert_eq!(chain.events_checked, 2);
}

// Proves the other ways of tampering are caught where they happen: an event rewritten with a
// recomputed hash (its successor's link breaks), a removed event (a gap), removed last events
// (the head no longer matches).
#[sqlx::test(migrations = "../migrations")]
async fn rewritten_removed_and_truncated_chains_are_reported(pool: PgPool) {
    let rewritten = tenant(&pool, "rewritten").await;
    let removed = tenant(&pool, "removed").await;
    let truncated = tenant(&pool, "truncated").await;
    for tenant_id in [rewritten, removed, truncated] {
        append_events(&pool, tenant_id, 4).await;
    }
    // A careful attacker recomputes the edited event's own hash (sha256 over prev_hash and any
    // bytes): the next event's prev_hash still names the original.
    tamper(
        &pool,
        &format!(
            "UPDATE audit_events SET reason = 'covered up', hash = sha256(prev_hash || 'x'::bytea)
              WHERE tenant_id = '{rewritten}' AND seq = 2"
        ),
    )
    .await;
    tamper(
        &pool,
        &format!("DELETE FROM audit_events WHERE tenant_id = '{removed}' AND seq = 2"),
    )
    .await;
    tamper(
        &pool,
        &format!("DELETE FROM audit_events WHERE tenant_id = '{truncated}' AND seq >= 3"),
    )
    .await;
    let report = audit::verify_chain(&pool, None).await.unwrap();
    let first_break = |tenant_id| {
        let broken = tenant_report(&report, tenant_id)
            .first_break
            .clone()
            .unwrap();
        (broken.seq, broken.kind)
    };
    assert_eq!(first_break(rewritten), (2, BreakKind::HashMismatch));
    assert_eq!(first_break(removed), (2, BreakKind::MissingEvent));
    assert_eq!(first_break(truncated), (3, BreakKind::HeadMismatch));

    // With the edited event's hash made consistent, the break moves to the link that still
    // names the original: event 3.
    let resealed = tenant(&pool, "resealed").await;
    append_events(&pool, resealed, 4).await;
    let mut event: audit::StoredEvent = sqlx::query_as(&format!(
        "SELECT {} FROM audit_events WHERE tenant_id = $1 AND seq = 2",
        audit::EVENT_COLUMNS
    ))
    .bind(resealed)
    .fetch_one(&pool)
    .await
    .unwrap();
    event.reason = Some("covered up".into());
    let resealed_hash = event.compute_hash();
    tamper(
        &pool,
        &format!(
            "UPDATE audit_events SET reason = 'covered up', hash = '\\x{}'
              WHERE tenant_id = '{resealed}' AND seq = 2",
            hex::encode(resealed_hash)
        ),
    )
    .await;
    let report = audit::verify_chain(&pool, Some(resealed)).await.unwrap();
    let broken = tenant_report(&report, resealed)
        .first_break
        .clone()
        .unwrap();
    assert_eq!((broken.seq, broken.kind), (3, BreakKind::BrokenLink));
}

// Proves two tenants' chains are independent: each numbers its own events from 1, and tampering
// with one leaves the other verified.
#[sqlx::test(migrations = "../migrations")]
async fn tenants_have_independent_chains(pool: PgPool) {
    let first = tenant(&pool, "first").await;
    let second = tenant(&pool, "second").await;
    for number in 1..=3 {
        for tenant_id in [first, second] {
            let mut tx = pool.begin().await.unwrap();
            audit::record(&mut tx, &event(tenant_id, number))
                .await
                .unwrap();
            tx.commit().await.unwrap();
        }
    }
    let seqs: Vec<(Uuid, i64)> =
        sqlx::query_as("SELECT tenant_id, max(seq) FROM audit_events GROUP BY tenant_id")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(seqs.len(), 2);
    assert!(seqs.iter().all(|(_, last)| *last == 3));
    tamper(
        &pool,
        &format!("UPDATE audit_events SET action = 'x' WHERE tenant_id = '{first}' AND seq = 1"),
    )
    .await;
    let report = audit::verify_chain(&pool, None).await.unwrap();
    assert!(!report.ok);
    assert_eq!(
        tenant_report(&report, first)
            .first_break
            .as_ref()
            .unwrap()
            .seq,
        1
    );
    assert!(tenant_report(&report, second).first_break.is_none());
    assert!(audit::verify_chain(&pool, Some(second)).await.unwrap().ok);
}

// Proves concurrent transactions appending to one tenant's chain produce one unbroken chain
// (seq 1..n, no fork), and a rolled-back append leaves no trace.
#[sqlx::test(migrations = "../migrations")]
async fn concurrent_appends_form_one_chain(_: PgPoolOptions, connect_options: PgConnectOptions) {
    let pool = PgPoolOptions::new()
        .max_connections(16)
        .connect_with(connect_options)
        .await
        .unwrap();
    let tenant_id = tenant(&pool, "busy").await;
    let appends = (0..40).map(|number| {
        let pool = pool.clone();
        tokio::spawn(async move {
            let mut tx = pool.begin().await.unwrap();
            audit::record(&mut tx, &event(tenant_id, number))
                .await
                .unwrap();
            if number % 10 == 9 {
                tx.rollback().await.unwrap();
            } else {
                tx.commit().await.unwrap();
            }
        })
    });
    for append in futures::future::join_all(appends).await {
        append.unwrap();
    }
    let seqs: Vec<i64> =
        sqlx::query_scalar("SELECT seq FROM audit_events WHERE tenant_id = $1 ORDER BY seq")
            .bind(tenant_id)
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(seqs, (1..=36).collect::<Vec<i64>>());
    let report = audit::verify_chain(&pool, Some(tenant_id)).await.unwrap();
    assert!(report.ok, "{report:?}");
    assert_eq!(report.events_checked, 36);
}

// Proves a staff credit writes its audit events (the request by its asker with reason and
// amount; the approval and the posting, with the journal, by the approver), a replay of the
// same key writes none, and staff log-in and log-out are audited.
#[sqlx::test(migrations = "../migrations")]
async fn staff_actions_are_audited(pool: PgPool) {
    let app = spawn_app(pool).await;
    let finance = app.log_in("admin/login", "finance@demo.kasa.test").await;
    let form = [
        ("player_email", PLAYER_EMAIL),
        ("currency", "EUR"),
        ("amount", "12.50"),
        ("direction", "credit"),
        ("reason", "goodwill for a lost session"),
        ("idempotency_key", "audit-test-1"),
    ];
    let reply = app.call("admin/adjustments", &form, Some(&finance)).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let replay = app.call("admin/adjustments", &form, Some(&finance)).await;
    assert_eq!(replay.json["replayed"], true);
    let events: Vec<(String, String, Option<String>, Option<serde_json::Value>)> = sqlx::query_as(
        "SELECT e.action, e.actor_id, e.reason, e.after FROM audit_events e
           JOIN staff s ON s.id::text = e.actor_id
          WHERE s.email = 'finance@demo.kasa.test' ORDER BY e.seq",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    let actions: Vec<&str> = events.iter().map(|event| event.0.as_str()).collect();
    assert_eq!(actions, ["staff.logged_in", "credit.requested"]);
    let requested = &events[1];
    assert_eq!(requested.2.as_deref(), Some("goodwill for a lost session"));
    let after = requested.3.clone().unwrap();
    assert_eq!(after["amount_minor"], 1250);
    assert_eq!(after["state"], "pending");

    let owner = app.log_in("admin/login", "owner@demo.kasa.test").await;
    let request = reply.json["credit_request_id"].as_str().unwrap();
    let approved = app
        .call(
            "backoffice/credit-requests/decide",
            &[
                ("request", request),
                ("decision", "approve"),
                ("idempotency_key", "audit-approve-1"),
            ],
            Some(&owner),
        )
        .await;
    assert_eq!(approved.status, 200, "{approved:?}");
    let by_owner: Vec<(String, Option<serde_json::Value>)> = sqlx::query_as(
        "SELECT e.action, e.after FROM audit_events e
           JOIN staff s ON s.id::text = e.actor_id
          WHERE s.email = 'owner@demo.kasa.test' ORDER BY e.seq",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    let actions: Vec<&str> = by_owner.iter().map(|event| event.0.as_str()).collect();
    assert_eq!(
        actions,
        ["staff.logged_in", "credit.approved", "adjustment.posted"]
    );
    let posted = by_owner[2].1.clone().unwrap();
    assert_eq!(posted["journal_id"], approved.json["request"]["journal_id"]);
    assert_eq!(posted["amount_minor"], 1250);

    let reply = app.call("auth/logout", &[], Some(&finance)).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(
        app.count("SELECT count(*) FROM audit_events WHERE action = 'staff.logged_out'")
            .await,
        1
    );
    assert!(audit::verify_chain(&app.pool, None).await.unwrap().ok);
}

// Proves verification reads the heads and the events in one snapshot: while a task appends
// audited events to two tenants in a loop, every one of several verifications finds every chain
// intact (reading the heads first and the events later reported the newer events as a break).
#[sqlx::test(migrations = "../migrations")]
async fn verification_stays_clean_while_events_are_appended(pool: PgPool) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    const VERIFICATIONS: usize = 12;
    let busy = tenant(&pool, "busy").await;
    let also_busy = tenant(&pool, "also-busy").await;
    append_events(&pool, busy, 3).await;
    let stop = Arc::new(AtomicBool::new(false));
    let appended = Arc::new(AtomicUsize::new(0));
    let appender = tokio::spawn({
        let (pool, stop, appended) = (pool.clone(), stop.clone(), appended.clone());
        async move {
            let mut number = 0;
            while !stop.load(Ordering::Relaxed) {
                number += 1;
                for tenant_id in [busy, also_busy] {
                    let mut tx = pool.begin().await.unwrap();
                    audit::record(&mut tx, &event(tenant_id, number))
                        .await
                        .unwrap();
                    tx.commit().await.unwrap();
                    appended.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    });
    while appended.load(Ordering::Relaxed) < 10 {
        tokio::task::yield_now().await;
    }
    let mut reports = Vec::new();
    for _ in 0..VERIFICATIONS {
        reports.push(audit::verify_chain(&pool, None).await.unwrap());
    }
    stop.store(true, Ordering::Relaxed);
    appender.await.unwrap();
    let appended_during = appended.load(Ordering::Relaxed);
    for report in &reports {
        assert!(report.ok, "a false break while appending: {report:#?}");
    }
    let final_report = audit::verify_chain(&pool, None).await.unwrap();
    assert!(final_report.ok);
    assert_eq!(final_report.events_checked as usize, 3 + appended_during);
    assert!(
        reports.first().unwrap().events_checked < final_report.events_checked,
        "events were appended while the verifications ran"
    );
}

fn scratch_checkpoints(key: &[u8]) -> audit::checkpoint::Checkpoints {
    let path = std::env::temp_dir()
        .join(format!("kasa-audit-{}", Uuid::new_v4().simple()))
        .join("audit-checkpoints.jsonl");
    audit::checkpoint::Checkpoints::new(path, key)
}

/// Removes the events after `keep` as the owner can (triggers off) and patches the head back to
/// the last kept event, so that the shorter chain is consistent.
async fn cut_tail(pool: &PgPool, tenant_id: TenantId, keep: i64) {
    tamper(
        pool,
        &format!("DELETE FROM audit_events WHERE tenant_id = '{tenant_id}' AND seq > {keep}"),
    )
    .await;
    tamper(
        pool,
        &format!(
            "UPDATE audit_chain_heads h SET last_seq = e.seq, last_hash = e.hash
               FROM audit_events e
              WHERE h.tenant_id = '{tenant_id}' AND e.tenant_id = h.tenant_id AND e.seq = {keep}"
        ),
    )
    .await;
}

// Proves a removed tail with its head patched back verifies clean on the chain alone but is
// reported against a signed checkpoint: as missing events when the chain is shorter, and as a
// mismatch when new events were appended past the checkpoint's place; `kasa audit-verify` exits 3.
#[sqlx::test(migrations = "../migrations")]
async fn a_removed_tail_is_caught_by_the_checkpoint(pool: PgPool) {
    let shortened = tenant(&pool, "shortened").await;
    let rewritten = tenant(&pool, "rewritten").await;
    let untouched = tenant(&pool, "untouched").await;
    for tenant_id in [shortened, rewritten, untouched] {
        append_events(&pool, tenant_id, 5).await;
    }
    let checkpoints = scratch_checkpoints(b"a key that is not in the database");
    assert_eq!(checkpoints.write(&pool, Utc::now()).await.unwrap(), 3);
    assert_eq!(
        checkpoints.write(&pool, Utc::now()).await.unwrap(),
        0,
        "unmoved heads are not written again"
    );
    cut_tail(&pool, shortened, 3).await;
    cut_tail(&pool, rewritten, 3).await;
    append_events(&pool, rewritten, 3).await;

    let without = audit::verify_chain(&pool, None).await.unwrap();
    assert!(
        without.ok,
        "without a checkpoint the cut chains look whole: {without:#?}"
    );
    let log = checkpoints.read().unwrap();
    let report = audit::verify_chain_with(&pool, None, Some(&log))
        .await
        .unwrap();
    assert!(!report.ok);
    let first_break = |tenant_id| {
        tenant_report(&report, tenant_id)
            .first_break
            .clone()
            .map(|broken| (broken.seq, broken.kind))
    };
    assert_eq!(
        first_break(shortened),
        Some((4, BreakKind::CheckpointMissing))
    );
    assert_eq!(
        first_break(rewritten),
        Some((5, BreakKind::CheckpointMismatch))
    );
    assert_eq!(first_break(untouched), None);
    assert_eq!(
        tenant_report(&report, untouched)
            .checkpoint
            .as_ref()
            .map(|checkpoint| checkpoint.seq),
        Some(5)
    );
    assert_eq!(
        kasa_server::cli::audit::verify_command(&pool, Some("shortened"), Some(&checkpoints))
            .await
            .unwrap(),
        std::process::ExitCode::from(3)
    );
    // The head behind its checkpoint is not signed again, so the evidence stays.
    assert_eq!(checkpoints.write(&pool, Utc::now()).await.unwrap(), 1);
    let again =
        audit::verify_chain_with(&pool, Some(shortened), Some(&checkpoints.read().unwrap()))
            .await
            .unwrap();
    assert!(!again.ok);
    std::fs::remove_dir_all(checkpoints.path().parent().unwrap()).unwrap();
}

// Proves a checkpoint line with a bad signature (a raised seq, or one signed with another key)
// is reported and never used, while the intact chain still verifies against the valid lines.
#[sqlx::test(migrations = "../migrations")]
async fn a_checkpoint_with_a_bad_signature_is_reported(pool: PgPool) {
    let tenant_id = tenant(&pool, "signed").await;
    append_events(&pool, tenant_id, 2).await;
    let checkpoints = scratch_checkpoints(b"the installation's key");
    checkpoints.write(&pool, Utc::now()).await.unwrap();
    append_events(&pool, tenant_id, 1).await;
    let forger = audit::checkpoint::Checkpoints::new(
        checkpoints.path().to_owned(),
        b"a key the forger chose",
    );
    forger.write(&pool, Utc::now()).await.unwrap();
    let text = std::fs::read_to_string(checkpoints.path()).unwrap();
    let raised = text
        .lines()
        .next()
        .unwrap()
        .replace("\"seq\":2", "\"seq\":9");
    std::fs::write(checkpoints.path(), format!("{text}{raised}\n")).unwrap();

    let log = checkpoints.read().unwrap();
    assert_eq!(
        log.invalid.iter().map(|line| line.line).collect::<Vec<_>>(),
        [2, 3],
        "{:?}",
        log.invalid
    );
    let report = audit::verify_chain_with(&pool, Some(tenant_id), Some(&log))
        .await
        .unwrap();
    let chain = tenant_report(&report, tenant_id);
    assert_eq!(chain.first_break, None, "the chain itself is intact");
    assert_eq!(
        chain.checkpoint.as_ref().map(|checkpoint| checkpoint.seq),
        Some(2)
    );
    assert!(!report.ok, "invalid checkpoint lines make the report fail");
    assert_eq!(report.checkpoints.as_ref().unwrap().invalid.len(), 2);
    std::fs::remove_dir_all(checkpoints.path().parent().unwrap()).unwrap();
}
