//! Accounts, sessions and access checks (throttling: `throttling.rs`), through the real HTTP router.

mod common;

use chrono::Duration;
use common::{DEMO_PASSWORD, PLAYER_EMAIL, spawn_app, spawn_app_with};
use sqlx::PgPool;

const NEW_PASSWORD: &str = "a perfectly fine password";

// Proves registration creates a player and a session, refuses the same email again (in any
// letter case) in the same tenant, and accepts it in another tenant.
#[sqlx::test(migrations = "../migrations")]
async fn registration_refuses_duplicate_email_per_tenant(pool: PgPool) {
    let app = spawn_app(pool).await;
    let form = [
        ("email", "Ana@Example.com"),
        ("display_name", "Ana"),
        ("password", NEW_PASSWORD),
    ];
    let first = app.call("auth/register", &form, None).await;
    assert_eq!(first.status, 200, "{first:?}");
    assert_eq!(first.json["email"], "ana@example.com");
    assert!(first.session_cookie().is_some());

    let again = app
        .call(
            "auth/register",
            &[
                ("email", "ANA@example.com"),
                ("display_name", "Ana 2"),
                ("password", NEW_PASSWORD),
            ],
            None,
        )
        .await;
    assert_eq!((again.status, again.code()), (409, "email_taken"));
    assert_eq!(again.json["field"], "email");

    let second_host = format!("second.localhost:{}", app.port);
    let second_origin = format!("http://second.localhost:{}", app.port);
    let other_tenant = app
        .call_as(
            "auth/register",
            &form,
            None,
            Some(&second_origin),
            Some(&second_host),
        )
        .await;
    assert_eq!(other_tenant.status, 200, "{other_tenant:?}");
    assert_eq!(other_tenant.json["tenant_slug"], "second-brand");
    assert_eq!(
        app.count("SELECT count(*) FROM players WHERE email = 'ana@example.com'")
            .await,
        2
    );
}

// Proves weak or malformed registration input is refused with the field named and writes nothing.
#[sqlx::test(migrations = "../migrations")]
async fn registration_refuses_weak_input(pool: PgPool) {
    let app = spawn_app(pool).await;
    let before = app.count("SELECT count(*) FROM players").await;
    for (email, name, password, field) in [
        ("not-an-email", "Ana", NEW_PASSWORD, "email"),
        ("ana@example.com", "", NEW_PASSWORD, "display_name"),
        ("ana@example.com", "Ana", "short", "password"),
        ("ana@example.com", "Ana", "aaaaaaaaaaaaaa", "password"),
    ] {
        let reply = app
            .call(
                "auth/register",
                &[
                    ("email", email),
                    ("display_name", name),
                    ("password", password),
                ],
                None,
            )
            .await;
        assert_eq!(
            (reply.status, reply.code()),
            (422, "invalid_input"),
            "{email} {name} {password}"
        );
        assert_eq!(reply.json["field"], field);
        assert!(reply.set_cookie().is_none());
    }
    let missing = app
        .call("auth/register", &[("email", "ana@example.com")], None)
        .await;
    assert_eq!((missing.status, missing.code()), (422, "invalid_input"));
    assert_eq!(app.count("SELECT count(*) FROM players").await, before);
}

// Proves the session cookie carries HttpOnly, SameSite=Lax and Path=/ (and no Secure in
// development), that log-in rotates the session id, and that log-out deletes it server-side.
#[sqlx::test(migrations = "../migrations")]
async fn session_cookie_flags_rotation_and_logout(pool: PgPool) {
    let app = spawn_app_with(pool, &[("KASA_ENVIRONMENT", "development")]).await;
    let login = app
        .call(
            "auth/login",
            &[("email", PLAYER_EMAIL), ("password", DEMO_PASSWORD)],
            None,
        )
        .await;
    assert_eq!(login.status, 200);
    let set_cookie = login.set_cookie().unwrap();
    for flag in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=43200"] {
        assert!(set_cookie.contains(flag), "{flag} missing in {set_cookie}");
    }
    assert!(!set_cookie.contains("Secure"));
    let first = login.session_cookie().unwrap();

    // Logging in again from the same browser replaces the session: a new id, the old one gone.
    let again = app
        .call(
            "auth/login",
            &[("email", PLAYER_EMAIL), ("password", DEMO_PASSWORD)],
            Some(&first),
        )
        .await;
    let second = again.session_cookie().unwrap();
    assert_ne!(first, second);
    assert_eq!(app.count("SELECT count(*) FROM sessions").await, 1);
    assert_eq!(
        app.call("auth/me", &[], Some(&first)).await.json,
        serde_json::Value::Null
    );
    assert_eq!(
        app.call("auth/me", &[], Some(&second)).await.json["email"],
        PLAYER_EMAIL
    );

    let logout = app.call("auth/logout", &[], Some(&second)).await;
    assert_eq!(logout.status, 200);
    assert!(logout.set_cookie().unwrap().contains("Max-Age=0"));
    assert_eq!(app.count("SELECT count(*) FROM sessions").await, 0);
    assert_eq!(
        app.call("auth/me", &[], Some(&second)).await.json,
        serde_json::Value::Null
    );
}

// Proves that outside development the cookie is Secure with the __Host- prefix.
#[sqlx::test(migrations = "../migrations")]
async fn session_cookie_is_secure_outside_development(pool: PgPool) {
    let app = spawn_app(pool).await;
    let login = app
        .call(
            "auth/login",
            &[("email", PLAYER_EMAIL), ("password", DEMO_PASSWORD)],
            None,
        )
        .await;
    let set_cookie = login.set_cookie().unwrap();
    assert!(
        set_cookie.starts_with("__Host-kasa_session="),
        "{set_cookie}"
    );
    assert!(set_cookie.contains("; Secure"));
}

// Proves idle and absolute expiry end a session (and remove its row) using the injected clock.
#[sqlx::test(migrations = "../migrations")]
async fn sessions_expire_when_idle_and_at_their_absolute_limit(pool: PgPool) {
    let app = spawn_app(pool).await;
    let cookie = app.log_in("auth/login", PLAYER_EMAIL).await;
    app.advance(Duration::minutes(29));
    assert_eq!(
        app.call("auth/me", &[], Some(&cookie)).await.json["email"],
        PLAYER_EMAIL
    );
    app.advance(Duration::minutes(31));
    let stale = app.call("auth/me", &[], Some(&cookie)).await;
    assert_eq!(stale.json, serde_json::Value::Null);
    assert_eq!(app.count("SELECT count(*) FROM sessions").await, 0);
    // A stale session cannot call a protected function either.
    let overview = app.call("admin/overview", &[], Some(&cookie)).await;
    assert_eq!((overview.status, overview.code()), (401, "unauthenticated"));

    // Absolute: kept busy every 20 minutes, it still ends after 12 hours.
    let cookie = app.log_in("auth/login", PLAYER_EMAIL).await;
    for _ in 0..35 {
        app.advance(Duration::minutes(20));
        assert_eq!(
            app.call("auth/me", &[], Some(&cookie)).await.json["email"],
            PLAYER_EMAIL
        );
    }
    app.advance(Duration::minutes(20));
    assert_eq!(
        app.call("auth/me", &[], Some(&cookie)).await.json,
        serde_json::Value::Null
    );
}

// Proves an unknown email and a wrong password get the identical answer.
#[sqlx::test(migrations = "../migrations")]
async fn unknown_email_and_wrong_password_look_the_same(pool: PgPool) {
    let app = spawn_app(pool).await;
    let unknown = app
        .call(
            "auth/login",
            &[("email", "nobody@example.com"), ("password", DEMO_PASSWORD)],
            None,
        )
        .await;
    let wrong = app
        .call(
            "auth/login",
            &[("email", PLAYER_EMAIL), ("password", "not the password")],
            None,
        )
        .await;
    assert_eq!((unknown.status, wrong.status), (401, 401));
    assert_eq!(unknown.json, wrong.json);
    assert_eq!(unknown.code(), "invalid_credentials");
}

// Proves state-changing calls from another origin are refused with 403 and write nothing.
#[sqlx::test(migrations = "../migrations")]
async fn cross_origin_posts_are_refused(pool: PgPool) {
    let app = spawn_app(pool).await;
    let form = [
        ("email", "eve@example.com"),
        ("display_name", "Eve"),
        ("password", NEW_PASSWORD),
    ];
    let reply = app
        .call_as(
            "auth/register",
            &form,
            None,
            Some("https://evil.example"),
            None,
        )
        .await;
    assert_eq!((reply.status, reply.code()), (403, "cross_origin"));

    let request = app
        .http
        .post(format!("{}/api/auth/register", app.base))
        .header("sec-fetch-site", "cross-site")
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(request.status().as_u16(), 403);
    assert_eq!(
        app.count("SELECT count(*) FROM players WHERE email = 'eve@example.com'")
            .await,
        0
    );

    // A cookie-carrying cross-site log-out is refused too: the session survives.
    let cookie = app.log_in("auth/login", PLAYER_EMAIL).await;
    let reply = app
        .call_as(
            "auth/logout",
            &[],
            Some(&cookie),
            Some("https://evil.example"),
            None,
        )
        .await;
    assert_eq!(reply.status, 403);
    assert_eq!(app.count("SELECT count(*) FROM sessions").await, 1);
}

// Proves the staff function's access matrix: anonymous 401, player 403, every staff role 200
// with its own role, and a session from another tenant is not accepted.
#[sqlx::test(migrations = "../migrations")]
async fn staff_functions_check_the_session_and_role(pool: PgPool) {
    let app = spawn_app(pool).await;
    let anonymous = app.call("admin/overview", &[], None).await;
    assert_eq!(
        (anonymous.status, anonymous.code()),
        (401, "unauthenticated")
    );

    let player = app.log_in("auth/login", PLAYER_EMAIL).await;
    let as_player = app.call("admin/overview", &[], Some(&player)).await;
    assert_eq!((as_player.status, as_player.code()), (403, "forbidden"));

    // A player's credentials do not open the staff log-in.
    let staff_login_as_player = app
        .call(
            "admin/login",
            &[("email", PLAYER_EMAIL), ("password", DEMO_PASSWORD)],
            None,
        )
        .await;
    assert_eq!(staff_login_as_player.status, 401);

    for role in ["support", "finance", "owner"] {
        let cookie = app
            .log_in("admin/login", &format!("{role}@demo.kasa.test"))
            .await;
        let overview = app.call("admin/overview", &[], Some(&cookie)).await;
        assert_eq!(overview.status, 200, "{overview:?}");
        assert_eq!(overview.json["role"], role);
        assert_eq!(overview.json["tenant_name"], "Kasa Demo Casino");
        assert_eq!(overview.json["player_count"], 1);
    }

    // The demo brand's owner cookie, presented to the second brand's host, is no session there.
    let owner = app.log_in("admin/login", "owner@demo.kasa.test").await;
    let other_host = format!("second.localhost:{}", app.port);
    let elsewhere = app
        .call_as("admin/overview", &[], Some(&owner), None, Some(&other_host))
        .await;
    assert_eq!(
        (elsewhere.status, elsewhere.code()),
        (401, "unauthenticated")
    );
}

// Proves the admin page itself answers 403 to a player and 200 to staff (server-side check).
#[sqlx::test(migrations = "../migrations")]
async fn admin_page_status_follows_the_role(pool: PgPool) {
    let app = spawn_app(pool).await;
    let page = |cookie: Option<String>| {
        let mut request = app.http.get(format!("{}/admin", app.base));
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        request.send()
    };
    assert_eq!(page(None).await.unwrap().status().as_u16(), 401);
    let player = app.log_in("auth/login", PLAYER_EMAIL).await;
    let as_player = page(Some(player)).await.unwrap();
    assert_eq!(as_player.status().as_u16(), 403);
    assert!(!as_player.text().await.unwrap().contains("admin-dashboard"));
    let support = app.log_in("admin/login", "support@demo.kasa.test").await;
    let as_staff = page(Some(support)).await.unwrap();
    assert_eq!(as_staff.status().as_u16(), 200);
    assert!(
        as_staff
            .text()
            .await
            .unwrap()
            .contains("data-testid=\"admin-dashboard\"")
    );
}

// Proves the health check reports the database, and oversized bodies are refused.
#[sqlx::test(migrations = "../migrations")]
async fn health_and_body_limit(pool: PgPool) {
    let app = spawn_app(pool).await;
    let health = app
        .http
        .get(format!("{}/api/health", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status().as_u16(), 200);
    assert!(health.headers().contains_key("x-request-id"));
    assert_eq!(
        health.json::<serde_json::Value>().await.unwrap(),
        serde_json::json!({"status": "ok", "db": "ok"})
    );

    let big = "x".repeat(100 * 1024);
    let reply = app
        .call(
            "auth/login",
            &[("email", PLAYER_EMAIL), ("password", big.as_str())],
            None,
        )
        .await;
    assert_eq!(reply.status, 413);

    // The server's pool (the application role's) closed: the database is unreachable for it.
    app.app_pool.close().await;
    let down = app
        .http
        .get(format!("{}/api/health", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(down.status().as_u16(), 503);
}
