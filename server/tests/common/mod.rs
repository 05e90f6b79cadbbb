//! Test support: `spawn_app` serves the real router on a random port against the test's own
//! freshly migrated database, with demo data and a clock the test controls. The server's pool
//! connects as the application role `kasa_app`, as `kasa serve` does; the test's own `pool`
//! stays the superuser's, for setting up and inspecting what the application may not touch.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use kasa_server::config::Config;
use kasa_server::services::Services;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

pub const DEMO_PASSWORD: &str = "demo-password-for-tests";
pub const PLAYER_EMAIL: &str = "player@demo.kasa.test";
pub const SECOND_PLAYER_EMAIL: &str = "player@second.kasa.test";
/// The mock PSP's signing secret in tests that sign their own mock webhooks (the old published
/// development value; a real install without one configured generates its own). A test that
/// wants the install's generated secret passes `("KASA_MOCK_PSP_SECRET", "")`.
pub const MOCK_PSP_SECRET: &str = "kasa-development-mock-psp-secret";

pub struct TestApp {
    pub base: String,
    pub port: u16,
    /// The superuser's pool on the test database.
    pub pool: PgPool,
    /// The server's pool, as the application role.
    pub app_pool: PgPool,
    pub http: reqwest::Client,
    /// The app's services (same database, configuration and clock), for calling jobs directly.
    pub services: Services,
    now: Arc<Mutex<DateTime<Utc>>>,
}

/// A response reduced to what tests assert on.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub json: serde_json::Value,
    pub headers: reqwest::header::HeaderMap,
}

impl Reply {
    pub fn code(&self) -> &str {
        self.json["code"].as_str().unwrap_or_default()
    }

    /// The session token from a `Set-Cookie` header, if one was set.
    pub fn session_cookie(&self) -> Option<String> {
        self.set_cookie()
            .and_then(|cookie| cookie.split(';').next().map(str::to_owned))
    }

    pub fn set_cookie(&self) -> Option<String> {
        self.headers
            .get("set-cookie")
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
    }
}

pub async fn spawn_app(pool: PgPool) -> TestApp {
    spawn_app_with(pool, &[]).await
}

/// Like `spawn_app`, with extra `KASA_*` settings.
pub async fn spawn_app_with(pool: PgPool, settings: &[(&str, &str)]) -> TestApp {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let base = format!("http://127.0.0.1:{port}");
    let mut env: Vec<(String, String)> = vec![
        ("KASA_ENVIRONMENT".into(), "test".into()),
        ("KASA_BIND".into(), format!("127.0.0.1:{port}")),
        ("KASA_PUBLIC_ORIGIN".into(), base.clone()),
        ("KASA_DEMO_PASSWORD".into(), DEMO_PASSWORD.into()),
        // Production refuses to start without one; tests that configure production need it.
        (
            "KASA_AUDIT_CHECKPOINT_KEY".into(),
            "audit-checkpoint-key-for-the-tests-0123456789".into(),
        ),
        ("KASA_MOCK_PSP_SECRET".into(), MOCK_PSP_SECRET.into()),
        ("KASA_DEMO_GAMES_KEY".into(), demo_games_key().into()),
    ];
    env.extend(
        settings
            .iter()
            .map(|(key, value)| (key.to_string(), value.to_string())),
    );
    let mut config = Config::from_sources("", move |name| {
        env.iter()
            .rev()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
    })
    .expect("test configuration is valid");
    let app_pool = app_role_pool(&pool).await;
    // As `kasa serve` does: without a configured secret, the installation's own.
    kasa_server::psp::mock::resolve_secret(&mut config, &app_pool)
        .await
        .expect("the mock PSP's secret loads");
    kasa_server::games::demo::resolve_key(&mut config, &app_pool)
        .await
        .expect("the demo studio's key loads");
    kasa_server::seed::demo_data(&app_pool, &config)
        .await
        .expect("demo data seeds");
    let now = Arc::new(Mutex::new(Utc::now()));
    let clock_now = now.clone();
    let services = Services::with_clock(
        app_pool.clone(),
        Arc::new(config.clone()),
        Arc::new(move || *clock_now.lock().unwrap()),
    );
    let router = kasa_server::http::router(services.clone(), &config);
    tokio::spawn(async move {
        axum::serve(
            kasa_server::http::without_nagle(listener),
            router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await
        .unwrap();
    });
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    TestApp {
        base,
        port,
        pool,
        app_pool,
        http,
        services,
        now,
    }
}

/// The demo game studio's private key, generated once per test binary (an RSA key takes a
/// moment to make; a real install generates its own once and keeps it in the database).
fn demo_games_key() -> &'static str {
    static KEY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    KEY.get_or_init(|| {
        kasa_server::games::signature::RequestSigner::generate()
            .and_then(|signer| signer.private_pem())
            .expect("an RSA key is generated")
    })
}

/// A pool on the test's database (that of `pool`) as the application role `kasa_app`, which
/// migration 0011 grants to. `kasa db start` gives the test cluster the role with LOGIN; a role
/// the migration had to create without it is allowed to log in here.
pub async fn app_role_pool(pool: &PgPool) -> PgPool {
    sqlx::query(
        "DO $$ BEGIN
             IF NOT (SELECT rolcanlogin FROM pg_roles WHERE rolname = 'kasa_app') THEN
                 ALTER ROLE kasa_app LOGIN;
             END IF;
         EXCEPTION WHEN OTHERS THEN NULL; -- another test did it at the same moment
         END $$",
    )
    .execute(pool)
    .await
    .expect("the application role can be allowed to log in");
    let options = pool
        .connect_options()
        .as_ref()
        .clone()
        .username(kasa_server::db::APP_ROLE)
        .application_name(kasa_server::db::APPLICATION_NAME);
    // As wide as the pool the test gave (some tests hand in a wide one for real concurrency).
    let app_pool = PgPoolOptions::new()
        .max_connections(pool.options().get_max_connections())
        .acquire_timeout(pool.options().get_acquire_timeout())
        .connect_with(options)
        .await
        .expect("the application role logs in to the test database");
    kasa_server::db::check_application_role(&app_pool)
        .await
        .expect("the application role is neither superuser nor owner");
    app_pool
}

impl TestApp {
    /// The app's current time (its clock only moves with `advance`).
    pub fn now(&self) -> DateTime<Utc> {
        *self.now.lock().unwrap()
    }

    pub fn advance(&self, by: Duration) {
        *self.now.lock().unwrap() += by;
    }

    /// Calls a server function the way the browser does (form-encoded POST from our origin).
    pub async fn call(&self, endpoint: &str, form: &[(&str, &str)], cookie: Option<&str>) -> Reply {
        self.call_as(endpoint, form, cookie, Some(&self.base.clone()), None)
            .await
    }

    /// Calls a server function with a chosen `Origin` and `Host` (None: header left out).
    pub async fn call_as(
        &self,
        endpoint: &str,
        form: &[(&str, &str)],
        cookie: Option<&str>,
        origin: Option<&str>,
        host: Option<&str>,
    ) -> Reply {
        let headers: Vec<(&str, &[u8])> = [("origin", origin), ("host", host)]
            .into_iter()
            .filter_map(|(name, value)| value.map(|value| (name, value.as_bytes())))
            .collect();
        self.post_with_headers(endpoint, form, cookie, &headers)
            .await
    }

    /// Calls a server function from our origin with extra request headers (a proxy's
    /// `X-Forwarded-For`, say).
    pub async fn call_with_headers(
        &self,
        endpoint: &str,
        form: &[(&str, &str)],
        cookie: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let headers: Vec<(&str, &[u8])> = std::iter::once(("origin", self.base.as_bytes()))
            .chain(
                headers
                    .iter()
                    .map(|(name, value)| (*name, value.as_bytes())),
            )
            .collect();
        self.post_with_headers(endpoint, form, cookie, &headers)
            .await
    }

    /// Logs in a player (or staff member, with `admin/login`) with the demo password.
    pub async fn log_in(&self, endpoint: &str, email: &str) -> String {
        let reply = self
            .call(
                endpoint,
                &[("email", email), ("password", DEMO_PASSWORD)],
                None,
            )
            .await;
        assert_eq!(reply.status, 200, "log-in failed: {reply:?}");
        reply
            .session_cookie()
            .expect("log-in sets the session cookie")
    }

    pub async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sql).fetch_one(&self.pool).await.unwrap()
    }
}

/// Back-office helpers: the second brand's host, and plain GETs of pages and exports.
impl TestApp {
    /// `(host, origin)` of the second brand on this server.
    pub fn second_brand(&self) -> (String, String) {
        let host = format!("second.localhost:{}", self.port);
        let origin = format!("http://{host}");
        (host, origin)
    }

    /// Calls a server function at the second brand.
    pub async fn call_at_second_brand(
        &self,
        endpoint: &str,
        form: &[(&str, &str)],
        cookie: Option<&str>,
    ) -> Reply {
        let (host, origin) = self.second_brand();
        self.call_as(endpoint, form, cookie, Some(&origin), Some(&host))
            .await
    }

    /// Logs in at the second brand with the demo password.
    pub async fn log_in_at_second_brand(&self, endpoint: &str, email: &str) -> String {
        let reply = self
            .call_at_second_brand(
                endpoint,
                &[("email", email), ("password", DEMO_PASSWORD)],
                None,
            )
            .await;
        assert_eq!(reply.status, 200, "log-in failed: {reply:?}");
        reply
            .session_cookie()
            .expect("log-in sets the session cookie")
    }

    /// GETs `path` (a page or an export) with an optional cookie: status, headers and body.
    pub async fn get_page(
        &self,
        path: &str,
        cookie: Option<&str>,
    ) -> (u16, reqwest::header::HeaderMap, String) {
        let mut request = self.http.get(format!("{}{path}", self.base));
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        let response = request.send().await.expect("the server answers");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        (status, headers, response.text().await.unwrap())
    }
}

/// Four eyes: a manual credit is a request that a second staff member approves.
impl TestApp {
    /// `requester` asks for a credit of `amount` `currency` to `email` (the adjustment form) and
    /// `approver`, a different finance or owner staff member, approves it; returns the approval.
    #[allow(clippy::too_many_arguments)]
    pub async fn credit_with_approval(
        &self,
        requester: &str,
        approver: &str,
        email: &str,
        currency: &str,
        amount: &str,
        reason: &str,
        key: &str,
    ) -> Reply {
        let requested = self
            .call(
                "admin/adjustments",
                &[
                    ("player_email", email),
                    ("currency", currency),
                    ("amount", amount),
                    ("direction", "credit"),
                    ("reason", reason),
                    ("idempotency_key", key),
                ],
                Some(requester),
            )
            .await;
        assert_eq!(
            requested.status, 200,
            "asking for a credit failed: {requested:?}"
        );
        let request = requested.json["credit_request_id"]
            .as_str()
            .expect("a credit becomes a request")
            .to_owned();
        let approved = self
            .call(
                "backoffice/credit-requests/decide",
                &[
                    ("request", request.as_str()),
                    ("decision", "approve"),
                    ("idempotency_key", &format!("approve-{key}")),
                ],
                Some(approver),
            )
            .await;
        assert_eq!(
            approved.status, 200,
            "approving a credit failed: {approved:?}"
        );
        approved
    }
}

/// Requests with headers of the test's choosing (origins, `Sec-Fetch-Site`, request ids).
impl TestApp {
    /// POSTs a server function's form with exactly these extra headers (no `Origin` unless one
    /// is among them; `host` among them names the brand).
    pub async fn post_with_headers(
        &self,
        endpoint: &str,
        form: &[(&str, &str)],
        cookie: Option<&str>,
        headers: &[(&str, &[u8])],
    ) -> Reply {
        let mut request = self
            .http
            .post(format!("{}/api/{endpoint}", self.base))
            .form(form)
            .header("accept", "application/json");
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        for (name, value) in headers {
            let value = reqwest::header::HeaderValue::from_bytes(value).expect("a header value");
            request = request.header(*name, value);
        }
        let response = request.send().await.expect("the server answers");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let json = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
        Reply {
            status,
            json,
            headers,
        }
    }
}
