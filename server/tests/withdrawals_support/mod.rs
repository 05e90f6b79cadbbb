//! Helpers for the withdrawal tests: money for the demo player, the player's and staff's calls,
//! scripted mock payouts, signed payout webhooks, and the assertions every money test ends with.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use crate::common::{PLAYER_EMAIL, Reply, TestApp};

pub const FINANCE: &str = "finance@demo.kasa.test";
pub const OWNER: &str = "owner@demo.kasa.test";
pub const SUPPORT: &str = "support@demo.kasa.test";
pub const SECOND_FINANCE: &str = "finance@second.kasa.test";
/// The mock PSP's signing secret when none is configured (tests run with the default).
const MOCK_PSP_SECRET: &str = "kasa-development-mock-psp-secret";

/// The logged-in actors of one test.
pub struct Actors {
    pub player: String,
    pub finance: String,
    pub owner: String,
}

/// Logs in the demo player (with verified identity: withdrawals need it) and two staff members.
pub async fn log_in_all(app: &TestApp) -> Actors {
    let actors = Actors {
        player: app.log_in("auth/login", PLAYER_EMAIL).await,
        finance: app.log_in("admin/login", FINANCE).await,
        owner: app.log_in("admin/login", OWNER).await,
    };
    verify_identity(app, &actors.owner, PLAYER_EMAIL).await;
    actors
}

/// Moves the player's KYC to verified through the staff KYC calls (pending, then verified).
pub async fn verify_identity(app: &TestApp, staff: &str, email: &str) {
    let found = app
        .call("admin/kyc/find", &[("email", email)], Some(staff))
        .await;
    assert_eq!(found.status, 200, "finding the player failed: {found:?}");
    let player_id = found.json["player_id"].as_str().unwrap().to_owned();
    for state in ["pending", "verified"] {
        let reply = app
            .call(
                "admin/kyc/set",
                &[
                    ("player_id", &player_id),
                    ("state", state),
                    ("note", "documents checked"),
                ],
                Some(staff),
            )
            .await;
        assert_eq!(reply.status, 200, "KYC {state} failed: {reply:?}");
    }
}

/// Credits the demo player through a finance adjustment, approved by the owner (four eyes).
pub async fn fund(app: &TestApp, finance: &str, amount: &str) {
    let key = format!("fund-{}", Uuid::new_v4());
    let owner = app.log_in("admin/login", OWNER).await;
    app.credit_with_approval(
        finance,
        &owner,
        PLAYER_EMAIL,
        "EUR",
        amount,
        "test funds",
        &key,
    )
    .await;
}

pub async fn request(app: &TestApp, player: &str, amount: &str, key: &str) -> Reply {
    app.call(
        "withdrawals/request",
        &[
            ("amount", amount),
            ("currency", "EUR"),
            ("idempotency_key", key),
        ],
        Some(player),
    )
    .await
}

/// Requests `amount` EUR and returns the new withdrawal's id.
pub async fn requested(app: &TestApp, player: &str, amount: &str) -> Uuid {
    let reply = request(app, player, amount, &Uuid::new_v4().to_string()).await;
    assert_eq!(reply.status, 200, "request failed: {reply:?}");
    assert_eq!(reply.json["state"], "requested");
    reply.json["id"].as_str().unwrap().parse().unwrap()
}

/// A staff action by `endpoint` (`approve`, `reject`, …) with its action key and fields.
pub async fn act(
    app: &TestApp,
    cookie: &str,
    endpoint: &str,
    id: Uuid,
    key: &str,
    fields: &[(&str, &str)],
) -> Reply {
    let id = id.to_string();
    let mut form = vec![("withdrawal_id", id.as_str()), ("idempotency_key", key)];
    form.extend_from_slice(fields);
    app.call(
        &format!("admin/withdrawals/{endpoint}"),
        &form,
        Some(cookie),
    )
    .await
}

pub async fn approve(app: &TestApp, cookie: &str, id: Uuid) -> Reply {
    act(app, cookie, "approve", id, &format!("approve:{id}"), &[]).await
}

pub async fn start_payout(app: &TestApp, cookie: &str, id: Uuid) -> Reply {
    act(
        app,
        cookie,
        "start-payout",
        id,
        &format!("start_payout:{id}"),
        &[],
    )
    .await
}

pub async fn retry_payout(app: &TestApp, cookie: &str, id: Uuid, attempt: u32) -> Reply {
    act(
        app,
        cookie,
        "retry-payout",
        id,
        &format!("retry_payout:{id}:{attempt}"),
        &[],
    )
    .await
}

pub async fn recheck(app: &TestApp, cookie: &str, id: Uuid) -> Reply {
    app.call(
        "admin/withdrawals/recheck",
        &[("withdrawal_id", &id.to_string())],
        Some(cookie),
    )
    .await
}

pub async fn detail(app: &TestApp, cookie: &str, id: Uuid) -> Reply {
    app.call(
        "admin/withdrawals/detail",
        &[("withdrawal_id", &id.to_string())],
        Some(cookie),
    )
    .await
}

/// Saves the tenant's policy as the owner; `changes` override the defaults.
pub async fn set_policy(app: &TestApp, owner: &str, changes: &[(&str, &str)]) {
    let mut form = vec![
        ("amount_min", "10"),
        ("amount_max", "10000"),
        ("approval_threshold", "1000"),
        ("payout_attempts_max", "3"),
        ("retry_cooldown_s", "300"),
        ("recheck_age_s", "120"),
        ("not_found_grace_s", "900"),
        ("payout_provider", "mock"),
    ];
    for (key, value) in changes {
        form.retain(|(existing, _)| existing != key);
        form.push((key, value));
    }
    let reply = app
        .call("admin/settings/withdrawals/save", &form, Some(owner))
        .await;
    assert_eq!(reply.status, 200, "saving the policy failed: {reply:?}");
}

/// Tells the mock PSP how to answer the withdrawal's next payout.
pub async fn script(
    pool: &PgPool,
    id: Uuid,
    outcome: &str,
    failure_code: Option<&str>,
    delay_ms: i32,
) {
    sqlx::query(
        "INSERT INTO mock_psp_payout_scripts (tenant_id, withdrawal_id, outcome, failure_code, delay_ms, created_at)
         SELECT tenant_id, id, $2, $3, $4, now() FROM withdrawals WHERE id = $1",
    )
    .bind(id)
    .bind(outcome)
    .bind(failure_code)
    .bind(delay_ms)
    .execute(pool)
    .await
    .unwrap();
}

/// (available, held) of the demo player in EUR, as the wallet shows them.
pub async fn balances(app: &TestApp, player: &str) -> (String, String) {
    let reply = app.call("wallet/balances", &[], Some(player)).await;
    let eur = reply
        .json
        .as_array()
        .unwrap()
        .iter()
        .find(|balance| balance["currency"] == "EUR")
        .cloned()
        .unwrap_or_else(|| json!({"available": {"amount": "0.00"}, "held": {"amount": "0.00"}}));
    (
        eur["available"]["amount"].as_str().unwrap().to_owned(),
        eur["held"]["amount"].as_str().unwrap().to_owned(),
    )
}

pub async fn state(pool: &PgPool, id: Uuid) -> String {
    sqlx::query_scalar("SELECT state FROM withdrawals WHERE id = $1")
        .bind(id)
        .fetch_one(pool)
        .await
        .unwrap()
}

/// How many journals of `kind` belong to the withdrawal.
pub async fn journals(pool: &PgPool, id: Uuid, kind: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM ledger_journals WHERE reference = $1 AND kind = $2")
        .bind(format!("withdrawal:{id}"))
        .bind(kind)
        .fetch_one(pool)
        .await
        .unwrap()
}

/// The withdrawal's attempts as (number, state, error code), in order.
pub async fn attempts(pool: &PgPool, id: Uuid) -> Vec<(i32, String, Option<String>)> {
    sqlx::query_as(
        "SELECT attempt_number, state, error_code FROM payout_attempts
          WHERE withdrawal_id = $1 ORDER BY attempt_number",
    )
    .bind(id)
    .fetch_all(pool)
    .await
    .unwrap()
}

/// Every ledger invariant holds, and every paid withdrawal has exactly one payout journal.
pub async fn assert_ledger_whole(pool: &PgPool) {
    let report = kasa_server::ledger::check_integrity(pool, None)
        .await
        .unwrap();
    assert!(report.ok, "integrity violations: {:?}", report.violations);
    let broken: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM withdrawals w
          WHERE (SELECT count(*) FROM ledger_journals j
                  WHERE j.reference = 'withdrawal:' || w.id AND j.kind = 'withdrawal_payout')
                <> CASE WHEN w.state = 'paid' THEN 1 ELSE 0 END",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(
        broken, 0,
        "a withdrawal's payout journals do not match its state"
    );
}

/// Waits (up to 20 s) until `check` holds.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(20);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Delivers a `payout.<status>` event about the mock payout with `key`, signed like the mock
/// PSP signs at the app's clock (tests move it), with a fresh event id each time.
pub async fn deliver_payout_event(app: &TestApp, pool: &PgPool, key: &str, status: &str) -> u16 {
    let (id, amount_minor, currency): (String, i64, String) = sqlx::query_as(
        "SELECT id, amount_minor, currency FROM mock_psp_payouts WHERE idempotency_key = $1",
    )
    .bind(key)
    .fetch_one(pool)
    .await
    .unwrap();
    let body = serde_json::to_vec(&json!({
        "id": format!("mevt_{}", Uuid::new_v4().simple()),
        "type": format!("payout.{status}"),
        "created": app.now().timestamp(),
        "data": {"object": {
            "object": "payout", "id": id, "idempotency_key": key,
            "amount_minor": amount_minor, "currency": currency,
            "failure_code": null, "failure_message": null,
        }}
    }))
    .unwrap();
    let signature =
        kasa_server::psp::signature::sign(&body, MOCK_PSP_SECRET, app.now().timestamp());
    app.http
        .post(format!("{}/api/v1/payments/webhook/mock", app.base))
        .header("kasa-mock-signature", signature)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Calls a server function on the second brand's host (its own tenant).
pub async fn call_second(
    app: &TestApp,
    endpoint: &str,
    form: &[(&str, &str)],
    cookie: Option<&str>,
) -> Reply {
    let host = format!("second.localhost:{}", app.port);
    app.call_as(
        endpoint,
        form,
        cookie,
        Some(&format!("http://{host}")),
        Some(&host),
    )
    .await
}

/// Logs in at the second brand (`auth/login` or `admin/login`) with the demo password.
pub async fn log_in_second(app: &TestApp, endpoint: &str, email: &str) -> String {
    let reply = call_second(
        app,
        endpoint,
        &[("email", email), ("password", crate::common::DEMO_PASSWORD)],
        None,
    )
    .await;
    reply
        .session_cookie()
        .expect("the second brand's log-in sets a cookie")
}

/// A `kasa serve` process on a free port against the database of `pool` (the real binary, so
/// that a test can kill it), killed when dropped.
pub struct KasaProcess {
    pub base: String,
    /// Where its `/metrics` listener answers (`KASA_METRICS_BIND`).
    pub metrics: String,
    pub child: tokio::process::Child,
}

impl KasaProcess {
    pub async fn start(pool: &PgPool) -> KasaProcess {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let base = format!("http://127.0.0.1:{port}");
        let metrics_port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let metrics = format!("http://127.0.0.1:{metrics_port}");
        let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_kasa"))
            .arg("serve")
            .env("DATABASE_URL", database_url(pool))
            .env("KASA_ENVIRONMENT", "test")
            .env("KASA_BIND", format!("127.0.0.1:{port}"))
            .env("KASA_METRICS_BIND", format!("127.0.0.1:{metrics_port}"))
            .env("KASA_PUBLIC_ORIGIN", &base)
            .env("KASA_DEMO_PASSWORD", crate::common::DEMO_PASSWORD)
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("the kasa binary starts");
        let process = KasaProcess {
            base,
            metrics,
            child,
        };
        let client = reqwest::Client::new();
        eventually("kasa to answer its health check", || async {
            client
                .get(format!("{}/api/health", process.base))
                .send()
                .await
                .is_ok_and(|response| response.status().is_success())
        })
        .await;
        process
    }

    /// Moves the demo player's KYC to `verified` (through `pending`), as `staff` (support or
    /// above), so that they may withdraw.
    pub async fn verify_identity(&self, staff: &str) {
        let (found, _) = self
            .call(
                "admin/kyc/find",
                &[("email", crate::common::PLAYER_EMAIL)],
                Some(staff),
            )
            .await;
        let player_id = found["player_id"].as_str().unwrap().to_owned();
        for state in ["pending", "verified"] {
            let form = [
                ("player_id", player_id.as_str()),
                ("state", state),
                ("note", "checked"),
            ];
            self.call("admin/kyc/set", &form, Some(staff)).await;
        }
    }

    /// Credits the demo player `amount` EUR: finance's adjustment, approved by the owner (four
    /// eyes), posted as one ledger journal.
    pub async fn fund(&self, finance: &str, owner: &str, amount: &str) {
        let adjustment = [
            ("player_email", crate::common::PLAYER_EMAIL),
            ("currency", "EUR"),
            ("amount", amount),
            ("direction", "credit"),
            ("reason", "test funds"),
            ("idempotency_key", "fund"),
        ];
        let (credit, _) = self
            .call("admin/adjustments", &adjustment, Some(finance))
            .await;
        let request = credit["credit_request_id"].as_str().unwrap().to_owned();
        let decision = [
            ("request", request.as_str()),
            ("decision", "approve"),
            ("idempotency_key", "fund-approval"),
        ];
        self.call("backoffice/credit-requests/decide", &decision, Some(owner))
            .await;
    }

    /// Posts a server function like the browser; `None` when the connection broke.
    pub async fn try_call(
        &self,
        endpoint: &str,
        form: &[(&str, &str)],
        cookie: Option<&str>,
    ) -> Option<(u16, serde_json::Value, Option<String>)> {
        let mut request = reqwest::Client::new()
            .post(format!("{}/api/{endpoint}", self.base))
            .form(form)
            .header("accept", "application/json")
            .header("origin", &self.base);
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        let response = request.send().await.ok()?;
        let status = response.status().as_u16();
        let cookie = response
            .headers()
            .get("set-cookie")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split(';').next())
            .map(str::to_owned);
        let json = response.json().await.unwrap_or(serde_json::Value::Null);
        Some((status, json, cookie))
    }

    /// Like `try_call`, and the call must succeed.
    pub async fn call(
        &self,
        endpoint: &str,
        form: &[(&str, &str)],
        cookie: Option<&str>,
    ) -> (serde_json::Value, Option<String>) {
        let (status, json, cookie) = self
            .try_call(endpoint, form, cookie)
            .await
            .expect("kasa answers");
        assert_eq!(status, 200, "{endpoint} failed: {json}");
        (json, cookie)
    }

    pub async fn log_in(&self, endpoint: &str, email: &str) -> String {
        let form = [("email", email), ("password", crate::common::DEMO_PASSWORD)];
        self.call(endpoint, &form, None)
            .await
            .1
            .expect("log-in sets a cookie")
    }
}

/// The URL of `pool`'s database on the test cluster (`DATABASE_URL` names the cluster).
fn database_url(pool: &PgPool) -> String {
    let cluster = std::env::var("DATABASE_URL").expect("DATABASE_URL names the test cluster");
    let name = pool
        .connect_options()
        .get_database()
        .expect("the test database has a name")
        .to_owned();
    let (before_query, query) = cluster.split_once('?').unwrap_or((cluster.as_str(), ""));
    let (server, _) = before_query
        .rsplit_once('/')
        .expect("DATABASE_URL names a database");
    if query.is_empty() {
        format!("{server}/{name}")
    } else {
        format!("{server}/{name}?{query}")
    }
}
