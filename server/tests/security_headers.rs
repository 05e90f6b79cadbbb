//! The browser security headers: every page (each route of the app, the not-found page, the mock
//! PSP's checkout), every server-function answer, the health check and the static bundle carry
//! the CSP and its companions; the CSP's script nonce is fresh per response and is the one on
//! every inline script; pages and server functions are never cached; HSTS only in production;
//! and a client's request id reaches the audit log only when it is a short token.

mod common;

use std::path::PathBuf;

use common::{PLAYER_EMAIL, TestApp, spawn_app, spawn_app_with};
use reqwest::header::HeaderMap;
use sqlx::PgPool;
use uuid::Uuid;

/// What every response must say, whatever answered it; `cacheable` for the static bundle.
fn assert_security_headers(what: &str, headers: &HeaderMap, cacheable: bool) {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_else(|| panic!("{what}: no {name} header in {headers:?}"))
            .to_owned()
    };
    let policy = header("content-security-policy");
    for directive in [
        "default-src 'self'",
        "frame-ancestors 'none'",
        "object-src 'none'",
        "base-uri 'none'",
        "style-src 'self'",
    ] {
        assert!(
            policy.split(';').any(|each| each.trim() == directive),
            "{what}: {directive} missing from {policy}"
        );
    }
    let script_src = policy
        .split(';')
        .map(str::trim)
        .find(|directive| directive.starts_with("script-src "))
        .unwrap_or_else(|| panic!("{what}: no script-src in {policy}"));
    assert!(
        !script_src.contains("unsafe-inline") && !script_src.contains("'unsafe-eval'"),
        "{what}: {script_src}"
    );
    assert!(script_src.contains("'nonce-"), "{what}: {script_src}");
    assert_eq!(header("x-content-type-options"), "nosniff", "{what}");
    assert_eq!(header("referrer-policy"), "same-origin", "{what}");
    assert!(header("permissions-policy").contains("camera=()"), "{what}");
    assert_eq!(header("x-frame-options"), "DENY", "{what}");
    let cache_control = headers
        .get("cache-control")
        .and_then(|value| value.to_str().ok());
    if cacheable {
        assert_ne!(cache_control, Some("no-store"), "{what}");
    } else {
        assert_eq!(cache_control, Some("no-store"), "{what}");
    }
    assert!(
        headers.get("strict-transport-security").is_none(),
        "{what}: HSTS outside production"
    );
}

/// The nonce the response's CSP allows scripts with.
fn csp_nonce(headers: &HeaderMap) -> String {
    let policy = headers["content-security-policy"].to_str().unwrap();
    let start = policy.find("'nonce-").expect("a nonce") + "'nonce-".len();
    policy[start..policy[start..].find('\'').unwrap() + start].to_owned()
}

/// Checks a page's HTML against its policy: each `<script>` carries the response's nonce, and
/// there is no inline style (`style-src 'self'` would refuse it).
fn assert_page_fits_its_policy(what: &str, headers: &HeaderMap, body: &str) {
    let nonce = csp_nonce(headers);
    for (index, _) in body.match_indices("<script") {
        let tag = &body[index..index + body[index..].find('>').unwrap()];
        assert!(
            tag.contains(&format!(" nonce=\"{nonce}\"")),
            "{what}: a script without this response's nonce {nonce}: {tag}"
        );
    }
    assert!(!body.contains("<style"), "{what}: a <style> element");
    assert!(!body.contains(" style="), "{what}: a style attribute");
}

/// A site root holding one static file, `/pkg/kasa.css`, for the app to serve.
fn site_root() -> PathBuf {
    let root = std::env::temp_dir().join(format!("kasa-site-{}", Uuid::new_v4().simple()));
    std::fs::create_dir_all(root.join("pkg")).unwrap();
    std::fs::write(root.join("pkg/kasa.css"), "body { margin: 0; }").unwrap();
    root
}

/// Every path the app routes, with `id` parameters filled in: `(path, needs staff)`.
fn app_pages() -> Vec<(String, bool)> {
    let mut pages: Vec<(String, bool)> = leptos_axum::generate_route_list(app::App)
        .iter()
        .map(|route| {
            let path = route
                .path()
                .split('/')
                .map(|segment| {
                    if segment.starts_with(':') || segment.starts_with('{') {
                        Uuid::new_v4().to_string()
                    } else {
                        segment.to_owned()
                    }
                })
                .collect::<Vec<_>>()
                .join("/");
            let staff = path.starts_with("/admin") && path != "/admin/login";
            (path, staff)
        })
        .collect();
    pages.sort();
    pages.dedup();
    pages
}

async fn mock_checkout_path(app: &TestApp, player: &str) -> String {
    let started = app
        .call(
            "deposits/start",
            &[
                ("amount", "10.00"),
                ("currency", "EUR"),
                ("provider", "mock"),
                ("idempotency_key", "security-headers"),
            ],
            Some(player),
        )
        .await;
    assert_eq!(started.status, 200, "{started:?}");
    started.json["redirect_url"].as_str().unwrap().to_owned()
}

// Proves every routed page (as its viewer and anonymously), the not-found page, the mock PSP's
// checkout, server-function answers (success, refusal, a guard's 403), the health check and a
// static file carry the CSP with its directives, nosniff, Referrer-Policy, Permissions-Policy and
// no framing; everything but the static file is no-store; and every page's scripts carry the
// response's nonce with no inline style anywhere.
#[sqlx::test(migrations = "../migrations")]
async fn every_response_carries_the_security_headers(pool: PgPool) {
    let root = site_root();
    let app = spawn_app_with(pool, &[("KASA_SITE_ROOT", root.to_str().unwrap())]).await;
    let player = app.log_in("auth/login", PLAYER_EMAIL).await;
    let staff = app.log_in("admin/login", "owner@demo.kasa.test").await;

    let pages = app_pages();
    assert!(pages.len() > 20, "the route list is complete: {pages:?}");
    let checkout = mock_checkout_path(&app, &player).await;
    let extra_pages = [("/no-such-page".to_owned(), false), (checkout, false)];
    for (path, needs_staff) in pages.iter().chain(&extra_pages) {
        let viewer = if *needs_staff { &staff } else { &player };
        for cookie in [Some(viewer.as_str()), None] {
            let what = format!("GET {path} (logged in: {})", cookie.is_some());
            let (status, headers, body) = app.get_page(path, cookie).await;
            assert!(status < 500, "{what}: {status}");
            assert_security_headers(&what, &headers, false);
            if headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
            {
                assert_page_fits_its_policy(&what, &headers, &body);
            }
        }
    }

    let calls = [
        ("auth/me", None),
        ("auth/me", Some(player.as_str())),
        ("wallet/balances", Some(player.as_str())),
        ("wallet/balances", None),
        ("admin/overview", Some(staff.as_str())),
        ("admin/overview", Some(player.as_str())),
    ];
    for (endpoint, cookie) in calls {
        let reply = app.call(endpoint, &[], cookie).await;
        assert_security_headers(
            &format!("POST {endpoint}: {}", reply.status),
            &reply.headers,
            false,
        );
    }
    let refused = app
        .call_as(
            "auth/logout",
            &[],
            Some(&player),
            Some("http://evil.example"),
            None,
        )
        .await;
    assert_eq!(refused.status, 403);
    assert_security_headers("a refused cross-origin POST", &refused.headers, false);

    let (status, headers, _) = app.get_page("/api/health", None).await;
    assert_eq!(status, 200);
    assert_security_headers("GET /api/health", &headers, false);
    let (status, headers, body) = app.get_page("/pkg/kasa.css", None).await;
    assert_eq!((status, body.as_str()), (200, "body { margin: 0; }"));
    assert_security_headers("GET /pkg/kasa.css", &headers, true);
    std::fs::remove_dir_all(root).unwrap();
}

// Proves the CSP nonce is new for each response and is exactly the one on that page's scripts
// (the hydration script and the streamed resources' scripts of a logged-in page).
#[sqlx::test(migrations = "../migrations")]
async fn the_nonce_is_fresh_per_response_and_on_every_script(pool: PgPool) {
    let app = spawn_app(pool).await;
    let player = app.log_in("auth/login", PLAYER_EMAIL).await;
    let mut nonces = Vec::new();
    for (path, cookie) in [
        ("/login", None),
        ("/login", None),
        ("/wallet", Some(player.as_str())),
        ("/wallet", Some(player.as_str())),
    ] {
        let (status, headers, body) = app.get_page(path, cookie).await;
        assert_eq!(status, 200, "{path}");
        let nonce = csp_nonce(&headers);
        assert!(
            body.matches(&format!(" nonce=\"{nonce}\"")).count() >= 2,
            "{path}: the hydration and resource scripts carry {nonce}: {body}"
        );
        assert_page_fits_its_policy(path, &headers, &body);
        nonces.push(nonce);
    }
    let distinct: std::collections::BTreeSet<&String> = nonces.iter().collect();
    assert_eq!(distinct.len(), nonces.len(), "{nonces:?}");
}

// Proves Strict-Transport-Security is sent in production (on pages and the health check) and
// in no other environment.
#[sqlx::test(migrations = "../migrations")]
async fn hsts_only_in_production(pool: PgPool) {
    let test_app = spawn_app(pool.clone()).await;
    let (_, headers, _) = test_app.get_page("/api/health", None).await;
    assert!(headers.get("strict-transport-security").is_none());

    let production = spawn_app_with(
        pool,
        &[
            ("KASA_ENVIRONMENT", "production"),
            (
                "KASA_SESSION_SECRET",
                "0123456789abcdef0123456789abcdef-production",
            ),
            ("KASA_PUBLIC_ORIGIN", "https://casino.example"),
            ("KASA_DEMO_PASSWORD", ""),
            ("KASA_TENANT_HOSTS", "127.0.0.1=kasa-demo"),
        ],
    )
    .await;
    for path in ["/api/health", "/login"] {
        let (status, headers, _) = production.get_page(path, None).await;
        assert_eq!(status, 200, "{path}");
        let hsts = headers
            .get("strict-transport-security")
            .unwrap_or_else(|| panic!("{path}: no HSTS in production"))
            .to_str()
            .unwrap();
        assert_eq!(hsts, "max-age=31536000", "{path}");
    }
}

/// The request id of the latest staff log-in's audit event.
async fn last_login_request_id(app: &TestApp) -> Option<String> {
    sqlx::query_scalar(
        "SELECT request_id FROM audit_events WHERE action = 'staff.logged_in'
          ORDER BY at DESC, seq DESC LIMIT 1",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap()
}

// Proves a client's X-Request-Id is kept (in the answer and in the audit event) only when it is
// a short token; a long one, free text or non-ASCII bytes are replaced by a fresh id, and two
// ids in one request are replaced too.
#[sqlx::test(migrations = "../migrations")]
async fn only_short_token_request_ids_reach_the_audit_log(pool: PgPool) {
    let app = spawn_app(pool).await;
    let origin = app.base.clone();
    let form = [
        ("email", "support@demo.kasa.test"),
        ("password", common::DEMO_PASSWORD),
    ];
    let log_in = async |ids: &[&[u8]]| {
        let mut headers: Vec<(&str, &[u8])> = vec![("origin", origin.as_bytes())];
        headers.extend(ids.iter().map(|id| ("x-request-id", *id)));
        let reply = app
            .post_with_headers("admin/login", &form, None, &headers)
            .await;
        assert_eq!(reply.status, 200, "{reply:?}");
        let answered = reply.headers["x-request-id"].to_str().unwrap().to_owned();
        let stored = last_login_request_id(&app).await;
        assert_eq!(stored.as_deref(), Some(answered.as_str()));
        answered
    };

    let token = "lb-7f3a.trace_42";
    assert_eq!(log_in(&[token.as_bytes()]).await, token);
    let long = "a".repeat(65);
    for refused in [
        long.as_bytes(),
        b"hello world".as_slice(),
        b"x\"; DROP TABLE audit_events; --".as_slice(),
        b"caf\xc3\xa9".as_slice(),
    ] {
        let answered = log_in(&[refused]).await;
        assert_ne!(answered.as_bytes(), refused);
        assert!(Uuid::parse_str(&answered).is_ok(), "a fresh id: {answered}");
    }
    let answered = log_in(&[b"first-id".as_slice(), b"second-id".as_slice()]).await;
    assert!(Uuid::parse_str(&answered).is_ok(), "{answered}");
}
