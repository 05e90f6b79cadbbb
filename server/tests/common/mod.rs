//! Test support: `spawn_app` serves the real router on a random port against the test's own
//! freshly migrated database, with demo data and a clock the test controls.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use kasa_server::config::Config;
use kasa_server::services::Services;
use sqlx::PgPool;

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
    pub pool: PgPool,
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
        ("KASA_MOCK_PSP_SECRET".into(), MOCK_PSP_SECRET.into()),
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
    // As `kasa serve` does: without a configured secret, the installation's own.
    kasa_server::psp::mock::resolve_secret(&mut config, &pool)
        .await
        .expect("the mock PSP's secret loads");
    kasa_server::seed::demo_data(&pool, &config)
        .await
        .expect("demo data seeds");
    let now = Arc::new(Mutex::new(Utc::now()));
    let clock_now = now.clone();
    let services = Services::with_clock(
        pool.clone(),
        Arc::new(config.clone()),
        Arc::new(move || *clock_now.lock().unwrap()),
    );
    let router = kasa_server::http::router(services.clone(), &config);
    tokio::spawn(async move {
        axum::serve(
            listener,
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
        http,
        services,
        now,
    }
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
        let mut request = self
            .http
            .post(format!("{}/api/{endpoint}", self.base))
            .form(form)
            .header("accept", "application/json");
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        if let Some(host) = host {
            request = request.header("host", host);
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
