//! Database roles (migrations/0011_database_roles.sql): the application's role can do what its
//! code does and cannot rewrite history, every table's privileges are accounted for, and both
//! the test server and the real `kasa serve` connect as that role.

mod common;
mod ledger_support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use app::domain::ids::TenantId;
use common::*;
use kasa_server::audit::{self, Actor, AuditEvent};
use kasa_server::ledger;
use sqlx::PgPool;
use uuid::Uuid;

/// What the application role may do on each relation: S(elect), I(nsert), U(pdate), D(elete).
/// A table a later migration adds fails `every_relation_grants_exactly_what_the_code_needs`
/// until it is listed here, with the privileges its code needs and no more.
const PRIVILEGES: &[(&str, &str)] = &[
    ("_sqlx_migrations", ""),
    ("audit_chain_heads", "SIU"),
    ("audit_events", "SI"),
    ("audit_pending", "SID"),
    ("credit_requests", "SIU"),
    ("deposit_limits", "SIUD"),
    ("deposits", "SIU"),
    ("game_sessions", "SI"),
    ("game_transactions", "SI"),
    ("games", "SI"),
    ("installation_secrets", "SI"),
    ("ledger_account_balances", "S"),
    ("ledger_accounts", "SIU"),
    ("ledger_balance_deltas", "SID"),
    ("ledger_journals", "SI"),
    ("ledger_transfers", "SI"),
    ("loss_limits", "SIUD"),
    ("mock_psp_checkouts", "SIU"),
    ("mock_psp_payout_scripts", "SIU"),
    ("mock_psp_payouts", "SI"),
    ("payout_attempts", "SIU"),
    ("play_reminders", "SIUD"),
    ("player_kyc", "SIU"),
    ("player_kyc_reviews", "SI"),
    ("players", "SIU"),
    ("protection_policies", "SI"),
    ("psp_webhook_events", "SIU"),
    ("reconciliation_findings", "SIU"),
    ("reconciliation_runs", "SIU"),
    ("self_exclusions", "SI"),
    ("sessions", "SIUD"),
    ("staff", "SI"),
    ("staff_enrolment_tickets", "SIUD"),
    ("staff_notes", "SI"),
    ("staff_recovery_codes", "SIU"),
    ("staff_second_factors", "SIUD"),
    ("staff_security_policies", "SIU"),
    ("tenants", "SI"),
    ("throttles", "SIUD"),
    ("withdrawal_events", "SI"),
    ("withdrawal_approval_thresholds", "SID"),
    ("withdrawal_policies", "SIU"),
    ("withdrawals", "SIU"),
];

fn sql_state(error: &sqlx::Error) -> String {
    error
        .as_database_error()
        .and_then(|error| error.code())
        .map(|code| code.into_owned())
        .unwrap_or_else(|| format!("not a database error: {error}"))
}

/// A journal, its transfers and two audit events, all written as the application role.
async fn history(app_pool: &PgPool) -> TenantId {
    let tenant_id = ledger_support::tenant(app_pool, "history").await;
    let player_id = ledger_support::player(app_pool, tenant_id).await;
    ledger_support::deposit(app_pool, tenant_id, player_id, ledger_support::eur("25.00")).await;
    for number in 1..=2 {
        let event = AuditEvent {
            tenant_id,
            actor: Actor::System("roles-test".into()),
            action: "deposit.captured".into(),
            target_type: "deposit".into(),
            target_id: format!("deposit-{number}"),
            before: None,
            after: Some(serde_json::json!({"state": "captured"})),
            reason: None,
            request_id: None,
            idempotency_key: None,
            ip: None,
            at: chrono::Utc::now(),
        };
        audit::record_alone(app_pool, &event).await.unwrap();
    }
    tenant_id
}

async fn rows(pool: &PgPool) -> (i64, i64, i64, i64, Vec<u8>) {
    sqlx::query_as(
        "SELECT (SELECT count(*) FROM ledger_journals), (SELECT count(*) FROM ledger_transfers),
                (SELECT count(*) FROM audit_events), (SELECT sum(last_seq)::bigint FROM audit_chain_heads),
                (SELECT string_agg(hash, ''::bytea ORDER BY tenant_id, seq) FROM audit_events)",
    )
    .fetch_one(pool)
    .await
    .unwrap()
}

// Proves the application's role is refused every way of rewriting history: UPDATE, DELETE and
// TRUNCATE of journals, transfers and audit events, a direct move of the chain head, disabling
// their triggers, replica mode, taking another role, or creating objects; and nothing changed.
#[sqlx::test(migrations = "../migrations")]
async fn the_application_role_cannot_rewrite_history(pool: PgPool) {
    let app_pool = app_role_pool(&pool).await;
    let tenant_id = history(&app_pool).await;
    let before = rows(&pool).await;
    assert_eq!((before.0, before.2), (1, 2), "the history was written");
    let privilege = "42501";
    let attempts: Vec<(String, &str)> = vec![
        ("UPDATE ledger_journals SET metadata = '{}'".into(), privilege),
        ("DELETE FROM ledger_journals".into(), privilege),
        ("TRUNCATE ledger_journals CASCADE".into(), privilege),
        ("UPDATE ledger_transfers SET amount_minor = 1".into(), privilege),
        ("DELETE FROM ledger_transfers".into(), privilege),
        ("TRUNCATE ledger_transfers".into(), privilege),
        ("UPDATE audit_events SET reason = 'covered up'".into(), privilege),
        ("DELETE FROM audit_events".into(), privilege),
        ("TRUNCATE audit_events".into(), privilege),
        // The head is updatable only for the append trigger, which refuses anyone else.
        (
            format!("UPDATE audit_chain_heads SET last_seq = 1 WHERE tenant_id = '{tenant_id}'"),
            "KL009",
        ),
        ("DELETE FROM audit_chain_heads".into(), privilege),
        ("TRUNCATE audit_chain_heads".into(), privilege),
        ("ALTER TABLE audit_events DISABLE TRIGGER ALL".into(), privilege),
        (
            "ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only".into(),
            privilege,
        ),
        ("ALTER TABLE ledger_transfers DISABLE TRIGGER USER".into(), privilege),
        ("ALTER TABLE ledger_journals DISABLE TRIGGER USER".into(), privilege),
        ("SET session_replication_role = replica".into(), privilege),
        ("SET ROLE postgres".into(), privilege),
        ("ALTER ROLE kasa_app SUPERUSER".into(), privilege),
        ("DROP TRIGGER audit_events_append_only ON audit_events".into(), privilege),
        (
            "CREATE TABLE public.shadow_audit_events (id int)".into(),
            privilege,
        ),
        (
            "CREATE FUNCTION public.now() RETURNS timestamptz LANGUAGE sql AS 'SELECT NULL::timestamptz'"
                .into(),
            privilege,
        ),
    ];
    for (statement, expected) in &attempts {
        let mut connection = app_pool.acquire().await.unwrap();
        let error = sqlx::query(statement)
            .execute(&mut *connection)
            .await
            .expect_err(&format!("the application role could run: {statement}"));
        assert_eq!(
            &sql_state(&error),
            expected,
            "{statement} was refused for another reason: {error}"
        );
    }
    assert_eq!(rows(&pool).await, before, "the history is unchanged");
    let report = audit::verify_chain(&app_pool, None).await.unwrap();
    assert!(report.ok, "{report:?}");
}

// Proves the role can do what the server does beyond posting: fold balance deltas, rebuild
// snapshots and run the integrity check.
#[sqlx::test(migrations = "../migrations")]
async fn the_application_role_runs_the_ledger_jobs(pool: PgPool) {
    let app_pool = app_role_pool(&pool).await;
    history(&app_pool).await;
    let folded = ledger::fold_balance_deltas(&app_pool).await.unwrap();
    assert_eq!(
        folded.deltas_folded, 1,
        "the deposit's clearing delta is folded"
    );
    ledger::rebuild_balances(&app_pool, None, false)
        .await
        .unwrap();
    let report = ledger::check_integrity(&app_pool, None).await.unwrap();
    assert!(report.ok, "{:?}", report.violations);
}

// Proves every relation of the schema grants the application role exactly the privileges listed
// in PRIVILEGES (TRUNCATE, REFERENCES and TRIGGER nowhere), and that none is left unlisted.
#[sqlx::test(migrations = "../migrations")]
async fn every_relation_grants_exactly_what_the_code_needs(pool: PgPool) {
    let actual: Vec<(String, String)> = sqlx::query_as(
        "SELECT c.relname::text,
                concat(CASE WHEN has_table_privilege('kasa_app', c.oid, 'SELECT') THEN 'S' END,
                       CASE WHEN has_table_privilege('kasa_app', c.oid, 'INSERT') THEN 'I' END,
                       CASE WHEN has_table_privilege('kasa_app', c.oid, 'UPDATE') THEN 'U' END,
                       CASE WHEN has_table_privilege('kasa_app', c.oid, 'DELETE') THEN 'D' END,
                       CASE WHEN has_table_privilege('kasa_app', c.oid, 'TRUNCATE') THEN 'T' END,
                       CASE WHEN has_table_privilege('kasa_app', c.oid, 'REFERENCES') THEN 'R' END,
                       CASE WHEN has_table_privilege('kasa_app', c.oid, 'TRIGGER') THEN 'G' END)
           FROM pg_class c
          WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm')
          ORDER BY 1",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let expected: BTreeMap<&str, &str> = PRIVILEGES.iter().copied().collect();
    let unlisted: Vec<&str> = actual
        .iter()
        .map(|(name, _)| name.as_str())
        .filter(|name| !expected.contains_key(name))
        .collect();
    assert!(
        unlisted.is_empty(),
        "relations without a rule in PRIVILEGES (list each with what its code needs): {unlisted:?}"
    );
    let wrong: Vec<String> = actual
        .iter()
        .filter(|(name, privileges)| expected[name.as_str()] != privileges)
        .map(|(name, privileges)| {
            format!(
                "{name}: has {privileges:?}, expected {:?}",
                expected[name.as_str()]
            )
        })
        .collect();
    assert!(wrong.is_empty(), "{wrong:#?}");
    let functions_without_search_path: Vec<String> = sqlx::query_scalar(
        "SELECT p.oid::regprocedure::text FROM pg_proc p
          WHERE p.pronamespace = 'public'::regnamespace
            AND NOT EXISTS (SELECT 1 FROM unnest(p.proconfig) setting
                             WHERE setting LIKE 'search\\_path=%')",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert!(
        functions_without_search_path.is_empty(),
        "functions without a pinned search_path: {functions_without_search_path:?}"
    );
}

// Proves row-level security does not hide the protection tables from the application role (it
// scopes by tenant itself; other roles stay bound, see protection.rs): self-exclusions set
// through the server at both brands are stored and read back by kasa_app.
#[sqlx::test(migrations = "../migrations")]
async fn the_application_role_sees_every_tenants_protection_rows(pool: PgPool) {
    let app = spawn_app(pool).await;
    let form = [("period", "24h"), ("confirm", "yes")];
    let player = app.log_in("auth/login", PLAYER_EMAIL).await;
    let first = app.call("account/self-exclude", &form, Some(&player)).await;
    let second_player = app
        .log_in_at_second_brand("auth/login", SECOND_PLAYER_EMAIL)
        .await;
    let second = app
        .call_at_second_brand("account/self-exclude", &form, Some(&second_player))
        .await;
    assert_eq!(
        (first.status, second.status),
        (200, 200),
        "{first:?} {second:?}"
    );
    let seen: i64 = sqlx::query_scalar("SELECT count(DISTINCT tenant_id) FROM self_exclusions")
        .fetch_one(&app.app_pool)
        .await
        .unwrap();
    assert_eq!(seen, 2);
}

// Proves the test server's pool is the application role: not a superuser, not an owner, and
// unable to switch triggers off, while the test's own pool is the superuser.
#[sqlx::test(migrations = "../migrations")]
async fn the_test_server_runs_as_the_application_role(pool: PgPool) {
    let app = spawn_app(pool).await;
    let player = app.log_in("auth/login", PLAYER_EMAIL).await;
    assert!(!player.is_empty());
    let (role, superuser): (String, bool) = sqlx::query_as(
        "SELECT current_user::text, rolsuper FROM pg_roles WHERE rolname = current_user",
    )
    .fetch_one(&app.app_pool)
    .await
    .unwrap();
    assert_eq!((role.as_str(), superuser), ("kasa_app", false));
    assert!(
        kasa_server::db::check_application_role(&app.pool)
            .await
            .is_err(),
        "the superuser's pool is refused as an application pool"
    );
}

/// The URL of `pool`'s database on the test cluster as the superuser.
fn database_url(pool: &PgPool) -> String {
    let cluster = std::env::var("DATABASE_URL").expect("DATABASE_URL names the test cluster");
    let name = pool.connect_options().get_database().unwrap().to_owned();
    let (before_query, query) = cluster.split_once('?').unwrap_or((cluster.as_str(), ""));
    let (server, _) = before_query.rsplit_once('/').unwrap();
    if query.is_empty() {
        format!("{server}/{name}")
    } else {
        format!("{server}/{name}?{query}")
    }
}

fn kasa_serve(pool: &PgPool, data_dir: &std::path::Path, port: u16) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_kasa"));
    command
        .arg("serve")
        .env("DATABASE_URL", database_url(pool))
        .env_remove("KASA_APP_DATABASE_URL")
        .env("KASA_ENVIRONMENT", "test")
        .env("KASA_BIND", format!("127.0.0.1:{port}"))
        .env("KASA_METRICS_BIND", "127.0.0.1:0")
        .env("KASA_PUBLIC_ORIGIN", format!("http://127.0.0.1:{port}"))
        .env("KASA_DEMO_PASSWORD", DEMO_PASSWORD)
        .env("KASA_DATA_DIR", data_dir)
        .env("KASA_AUDIT_CHECKPOINT_INTERVAL_SECONDS", "1")
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true);
    command
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Polls `check` every 100 ms until it holds or `seconds` pass.
async fn within<F: std::future::Future<Output = bool>>(
    seconds: u64,
    what: &str,
    mut check: impl FnMut() -> F,
) {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// Proves the real `kasa serve`, given only the owner's DATABASE_URL, migrates as the owner and
// serves as kasa_app (every connection it keeps is kasa_app's, none a superuser's), and writes a
// signed checkpoint of an audited log-in that verifies against the chain.
#[sqlx::test(migrations = "../migrations")]
async fn kasa_serve_connects_as_the_application_role(pool: PgPool) {
    let data_dir = std::env::temp_dir().join(format!("kasa-roles-{}", Uuid::new_v4().simple()));
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let _server = kasa_serve(&pool, &data_dir, port).spawn().unwrap();
    let client = reqwest::Client::new();
    within(60, "kasa to answer its health check", || async {
        client
            .get(format!("{base}/api/health"))
            .send()
            .await
            .is_ok_and(|response| response.status().is_success())
    })
    .await;
    let login = client
        .post(format!("{base}/api/admin/login"))
        .header("origin", &base)
        .form(&[
            ("email", "owner@demo.kasa.test"),
            ("password", DEMO_PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200, "the staff log-in works");

    let connections: Vec<(String, bool)> = sqlx::query_as(
        "SELECT a.usename::text, r.rolsuper FROM pg_stat_activity a JOIN pg_roles r ON r.oid = a.usesysid
          WHERE a.datname = current_database() AND a.application_name = 'kasa'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert!(!connections.is_empty(), "the server holds connections");
    assert!(
        connections
            .iter()
            .all(|(user, superuser)| user == "kasa_app" && !superuser),
        "{connections:?}"
    );

    let tenant_id: TenantId = sqlx::query_scalar("SELECT id FROM tenants WHERE slug = 'kasa-demo'")
        .fetch_one(&pool)
        .await
        .unwrap();
    let config = kasa_server::config::Config::from_sources("", |name| {
        (name == "KASA_DATA_DIR").then(|| data_dir.to_string_lossy().into_owned())
    })
    .unwrap();
    let checkpoints = audit::checkpoint::Checkpoints::from_config(&config).unwrap();
    within(20, "a checkpoint of the log-in", || async {
        checkpoints
            .read()
            .unwrap()
            .latest
            .get(&tenant_id)
            .is_some_and(|head| head.seq >= 1)
    })
    .await;
    let log = checkpoints.read().unwrap();
    assert!(log.invalid.is_empty(), "{:?}", log.invalid);
    let report = audit::verify_chain_with(&pool, Some(tenant_id), Some(&log))
        .await
        .unwrap();
    assert!(report.ok, "{report:#?}");
    assert!(report.tenants[0].checkpoint.is_some());
    std::fs::remove_dir_all(&data_dir).unwrap();
}

// Proves `kasa serve` refuses to run when its application login is a superuser.
#[sqlx::test(migrations = "../migrations")]
async fn kasa_serve_refuses_a_superuser_application_login(pool: PgPool) {
    let data_dir = std::env::temp_dir().join(format!("kasa-roles-{}", Uuid::new_v4().simple()));
    let output = tokio::time::timeout(
        Duration::from_secs(60),
        kasa_serve(&pool, &data_dir, free_port())
            .env("KASA_APP_DATABASE_URL", database_url(&pool))
            .stderr(std::process::Stdio::piped())
            .output(),
    )
    .await
    .expect("kasa exits")
    .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("refusing to run as the database role postgres")
            && stderr.contains("superuser"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&data_dir);
}
