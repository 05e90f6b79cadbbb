//! Throttles that an attacker cannot turn against users, through the real HTTP router: per
//! brand, per account with growing delays and no hard lock, atomic under concurrency, keyed on
//! the real client behind a trusted proxy, and on registration and heavy staff operations.

mod common;

use chrono::Duration;
use common::{DEMO_PASSWORD, PLAYER_EMAIL, Reply, TestApp, spawn_app, spawn_app_with};
use sqlx::PgPool;

const OWNER: &str = "owner@second.kasa.test";
const SUPPORT: &str = "support@demo.kasa.test";
const FINANCE: &str = "finance@demo.kasa.test";

fn retry_after(reply: &Reply) -> i64 {
    let header: i64 = reply.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(reply.json["retry_after_s"], header, "{reply:?}");
    header
}

async fn wrong_login(app: &TestApp, email: &str) -> Reply {
    app.call(
        "auth/login",
        &[("email", email), ("password", "not the password")],
        None,
    )
    .await
}

async fn right_login(app: &TestApp) -> Reply {
    app.call(
        "auth/login",
        &[("email", PLAYER_EMAIL), ("password", DEMO_PASSWORD)],
        None,
    )
    .await
}

// Proves the reported lock-out is gone: 12 failed log-ins with made-up emails from one address
// slow nobody down, neither the other brand's owner nor this brand's player.
#[sqlx::test(migrations = "../migrations")]
async fn failures_with_random_emails_lock_nobody_out(pool: PgPool) {
    let app = spawn_app(pool).await;
    for attempt in 0..12 {
        let email = format!(
            "guess-{attempt}-{}@example.com",
            uuid::Uuid::new_v4().simple()
        );
        // Players' and staff's log-in forms alike.
        let endpoint = if attempt % 2 == 0 {
            "auth/login"
        } else {
            "admin/login"
        };
        let reply = app
            .call(
                endpoint,
                &[("email", email.as_str()), ("password", "x")],
                None,
            )
            .await;
        assert_eq!(reply.status, 401, "attempt {attempt}: {reply:?}");
    }
    // The same address, the other brand, the right password.
    app.log_in_at_second_brand("admin/login", OWNER).await;
    // The same address, the same brand, the right password.
    let player = right_login(&app).await;
    assert_eq!(player.status, 200, "{player:?}");
    // The counters are this brand's only.
    let other_brand_counters = app
        .count(
            "SELECT count(*) FROM throttles t JOIN tenants b ON b.id = t.tenant_id
             WHERE b.slug = 'second-brand' AND t.scope <> 'login_address'",
        )
        .await;
    assert_eq!(other_brand_counters, 0);
}

// Proves check and count are one step: 40 concurrent wrong passwords for one account get at
// most 5 password checks (401), the rest 429 without one; the right password then waits out
// the delay and works; the delays grow and never become a lock.
#[sqlx::test(migrations = "../migrations")]
async fn concurrent_guesses_get_at_most_the_free_checks(pool: PgPool) {
    let app = spawn_app(pool).await;
    let replies = futures::future::join_all((0..40).map(|_| wrong_login(&app, PLAYER_EMAIL))).await;
    let checked = replies.iter().filter(|reply| reply.status == 401).count();
    let refused = replies.iter().filter(|reply| reply.status == 429).count();
    assert_eq!(
        (checked, refused),
        (5, 35),
        "{:?}",
        replies.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    assert!(
        replies
            .iter()
            .filter(|reply| reply.status == 429)
            .all(|reply| reply.code() == "rate_limited")
    );
    let counted = app
        .count("SELECT attempts::bigint FROM throttles WHERE scope = 'login_account_address'")
        .await;
    assert_eq!(counted, 5, "refused guesses are not counted");

    // The right password is refused too, until the first delay (1 minute) has passed.
    let waiting = right_login(&app).await;
    assert_eq!((waiting.status, waiting.code()), (429, "rate_limited"));
    assert!((1..=60).contains(&retry_after(&waiting)));
    assert!(
        waiting.json["message"]
            .as_str()
            .unwrap()
            .contains("this account")
    );
    assert!(waiting.set_cookie().is_none());

    // Each further failure doubles the delay: 2 minutes, then 4; there is no hard lock.
    app.advance(Duration::seconds(61));
    assert_eq!(wrong_login(&app, PLAYER_EMAIL).await.status, 401);
    let second = right_login(&app).await;
    assert!((61..=120).contains(&retry_after(&second)), "{second:?}");
    app.advance(Duration::seconds(121));
    assert_eq!(wrong_login(&app, PLAYER_EMAIL).await.status, 401);
    let third = right_login(&app).await;
    assert!((121..=240).contains(&retry_after(&third)), "{third:?}");

    app.advance(Duration::seconds(241));
    let after = right_login(&app).await;
    assert_eq!(after.status, 200, "{after:?}");
    assert!(after.session_cookie().is_some());
    // Success clears the account's counters; the address keeps its (refunded) failures.
    assert_eq!(
        app.count("SELECT count(*) FROM throttles WHERE scope IN ('login_account', 'login_account_address')").await,
        0
    );
    assert_eq!(
        app.count("SELECT attempts::bigint FROM throttles WHERE scope = 'login_address'")
            .await,
        7
    );
}

// Proves the delays cap at 15 minutes however long a guesser keeps going (counting restarts
// only after an hour without attempts).
#[sqlx::test(migrations = "../migrations")]
async fn delays_grow_to_a_cap(pool: PgPool) {
    let app = spawn_app(pool).await;
    for _ in 0..5 {
        assert_eq!(wrong_login(&app, PLAYER_EMAIL).await.status, 401);
    }
    for _ in 0..8 {
        app.advance(Duration::minutes(16));
        assert_eq!(wrong_login(&app, PLAYER_EMAIL).await.status, 401);
    }
    let capped = right_login(&app).await;
    assert!((840..=900).contains(&retry_after(&capped)), "{capped:?}");
}

/// A failed log-in for a made-up email, through a proxy that says the client is `forwarded`.
async fn guess(app: &TestApp, forwarded: &str, n: usize) -> Reply {
    let email = format!("nobody-{n}@example.com");
    app.call_with_headers(
        "auth/login",
        &[("email", email.as_str()), ("password", "x")],
        None,
        &[("x-forwarded-for", forwarded)],
    )
    .await
}

// Proves the client address: behind a trusted proxy, two clients with different forwarded
// addresses are throttled apart (and the audit log records the forwarded one); an untrusted
// peer's X-Forwarded-For is ignored.
#[sqlx::test(migrations = "../migrations")]
async fn forwarded_clients_count_only_behind_trusted_proxies(pool: PgPool) {
    let proxied = spawn_app_with(
        pool.clone(),
        &[("KASA_TRUSTED_PROXIES", "127.0.0.0/8, ::1")],
    )
    .await;
    for n in 0..20 {
        assert_eq!(guess(&proxied, "203.0.113.5", n).await.status, 401);
    }
    let first = guess(&proxied, "203.0.113.5", 99).await;
    assert_eq!(first.status, 429, "{first:?}");
    assert!(
        first.json["message"]
            .as_str()
            .unwrap()
            .contains("your network")
    );
    // The forged leftmost entry is the client's own claim; the proxy appended the real one.
    let forged = guess(&proxied, "203.0.113.6, 203.0.113.5", 100).await;
    assert_eq!(forged.status, 429, "{forged:?}");
    let other = guess(&proxied, "198.51.100.23", 101).await;
    assert_eq!(other.status, 401, "{other:?}");
    let keys: Vec<String> = sqlx::query_scalar(
        "SELECT subject FROM throttles WHERE scope = 'login_address' ORDER BY subject",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(keys, ["198.51.100.23", "203.0.113.5"]);
    // A staff log-in through the proxy is audited with the client's address.
    let staff = proxied
        .call_with_headers(
            "admin/login",
            &[("email", SUPPORT), ("password", DEMO_PASSWORD)],
            None,
            &[("x-forwarded-for", "2001:db8:1:2::77")],
        )
        .await;
    assert_eq!(staff.status, 200, "{staff:?}");
    let ip: Option<String> = sqlx::query_scalar(
        "SELECT ip FROM audit_events WHERE action = 'staff.logged_in' ORDER BY at DESC LIMIT 1",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(ip.as_deref(), Some("2001:db8:1:2::77"));

    // Without trusted proxies the header is the client's word and changes nothing.
    sqlx::query("DELETE FROM throttles")
        .execute(&pool)
        .await
        .unwrap();
    let direct = spawn_app(pool.clone()).await;
    for n in 0..20 {
        let forwarded = ["198.51.100.1", "198.51.100.2", "198.51.100.3"][n % 3];
        assert_eq!(guess(&direct, forwarded, n).await.status, 401);
    }
    assert_eq!(guess(&direct, "198.51.100.200", 50).await.status, 429);
    let keys: Vec<String> =
        sqlx::query_scalar("SELECT subject FROM throttles WHERE scope = 'login_address'")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(keys, ["127.0.0.1"]);
}

// Proves registration is throttled per address: a burst of 60 from one address meets 429s,
// exactly the free allowance of accounts is created, and refused attempts write nothing.
#[sqlx::test(migrations = "../migrations")]
async fn a_registration_burst_meets_429(pool: PgPool) {
    let app = spawn_app(pool).await;
    let players_before = app.count("SELECT count(*) FROM players").await;
    let replies = futures::future::join_all((0..60).map(|n| {
        let email = format!("burst-{n}@example.com");
        let app = &app;
        async move {
            app.call(
                "auth/register",
                &[
                    ("email", email.as_str()),
                    ("display_name", "Burst"),
                    ("password", "a perfectly fine password"),
                ],
                None,
            )
            .await
        }
    }))
    .await;
    let created = replies.iter().filter(|reply| reply.status == 200).count();
    let refused = replies
        .iter()
        .filter(|reply| reply.status == 429 && reply.code() == "rate_limited")
        .count();
    assert_eq!((created, refused), (10, 50));
    assert_eq!(
        app.count("SELECT count(*) FROM players").await,
        players_before + 10
    );
    // Another brand's registrations are not slowed by this one's.
    let (host, origin) = app.second_brand();
    let elsewhere = app
        .call_as(
            "auth/register",
            &[
                ("email", "elsewhere@example.com"),
                ("display_name", "Elsewhere"),
                ("password", "a perfectly fine password"),
            ],
            None,
            Some(&origin),
            Some(&host),
        )
        .await;
    assert_eq!(elsewhere.status, 200, "{elsewhere:?}");
}

// Proves an email longer than 254 characters is a 422 invalid_input on every form that takes
// one (never a 500), and writes nothing, not even a throttle counter.
#[sqlx::test(migrations = "../migrations")]
async fn overlong_emails_are_invalid_input_everywhere(pool: PgPool) {
    let app = spawn_app(pool).await;
    let long = format!("{}@example.com", "a".repeat(10_000));
    let finance = app.log_in("admin/login", FINANCE).await;
    let support = app.log_in("admin/login", SUPPORT).await;
    let players = app.count("SELECT count(*) FROM players").await;
    let counters = app.count("SELECT count(*) FROM throttles").await;
    // (endpoint, form, cookie, the field named in the error)
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, Option<&'a str>, &'a str);
    let forms: Vec<Case> = vec![
        (
            "auth/login",
            vec![("email", &long), ("password", "x")],
            None,
            "email",
        ),
        (
            "admin/login",
            vec![("email", &long), ("password", "x")],
            None,
            "email",
        ),
        (
            "auth/register",
            vec![
                ("email", &long),
                ("display_name", "Long"),
                ("password", "a perfectly fine password"),
            ],
            None,
            "email",
        ),
        (
            "admin/kyc/find",
            vec![("email", &long)],
            Some(&support),
            "email",
        ),
        (
            "admin/adjustments",
            vec![
                ("player_email", &long),
                ("currency", "EUR"),
                ("amount", "1.00"),
                ("direction", "debit"),
                ("reason", "test"),
                ("idempotency_key", "long-email"),
            ],
            Some(&finance),
            "player_email",
        ),
    ];
    for (endpoint, form, cookie, field) in forms {
        let reply = app.call(endpoint, &form, cookie).await;
        assert_eq!(
            (reply.status, reply.code(), reply.json["field"].as_str()),
            (422, "invalid_input", Some(field)),
            "{endpoint}: {reply:?}"
        );
    }
    assert_eq!(app.count("SELECT count(*) FROM players").await, players);
    assert_eq!(app.count("SELECT count(*) FROM throttles").await, counters);
}

// Proves heavy staff operations are rate limited per staff member: after the free runs the
// integrity check waits, while another staff member still runs it.
#[sqlx::test(migrations = "../migrations")]
async fn heavy_staff_operations_are_limited_per_member(pool: PgPool) {
    let app = spawn_app(pool).await;
    let support = app.log_in("admin/login", SUPPORT).await;
    let finance = app.log_in("admin/login", FINANCE).await;
    for run in 0..10 {
        let reply = app.call("admin/integrity-check", &[], Some(&support)).await;
        assert_eq!(reply.status, 200, "run {run}: {reply:?}");
    }
    let audited = app
        .count("SELECT count(*) FROM audit_events WHERE action LIKE '%integrity%'")
        .await;
    let refused = app.call("admin/integrity-check", &[], Some(&support)).await;
    assert_eq!(
        (refused.status, refused.code()),
        (429, "rate_limited"),
        "{refused:?}"
    );
    assert!((1..=30).contains(&retry_after(&refused)));
    assert_eq!(
        app.count("SELECT count(*) FROM audit_events WHERE action LIKE '%integrity%'")
            .await,
        audited,
        "a refused run is neither run nor audited"
    );
    let verify = app
        .call("backoffice/audit-verify", &[], Some(&support))
        .await;
    assert_eq!(
        verify.status, 200,
        "another operation has its own budget: {verify:?}"
    );
    let other = app.call("admin/integrity-check", &[], Some(&finance)).await;
    assert_eq!(other.status, 200, "{other:?}");
    app.advance(Duration::seconds(31));
    assert_eq!(
        app.call("admin/integrity-check", &[], Some(&support))
            .await
            .status,
        200
    );

    // Exports count too, and say when to come back.
    for run in 0..10 {
        let (status, _, body) = app
            .get_page("/admin/export/audit.csv", Some(&finance))
            .await;
        assert_eq!(status, 200, "export {run}: {body}");
    }
    let downloads = app
        .count("SELECT count(*) FROM audit_events WHERE action = 'export.downloaded'")
        .await;
    let (status, headers, body) = app
        .get_page("/admin/export/audit.csv", Some(&finance))
        .await;
    assert_eq!(status, 429, "{body}");
    assert!(body.contains("rate_limited"), "{body}");
    let wait: i64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=30).contains(&wait), "{wait}");
    assert_eq!(
        app.count("SELECT count(*) FROM audit_events WHERE action = 'export.downloaded'")
            .await,
        downloads,
        "a refused export is not audited as downloaded"
    );
}

// Proves staff see the brand's slowed-down accounts (and only their brand's), and that spent
// counters are purged.
#[sqlx::test(migrations = "../migrations")]
async fn staff_see_throttled_accounts_and_old_counters_are_purged(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let support = app.log_in("admin/login", SUPPORT).await;
    let empty = app
        .call("backoffice/throttled-log-ins", &[], Some(&support))
        .await;
    assert_eq!(
        (empty.status, empty.json.clone()),
        (200, serde_json::json!([]))
    );
    for _ in 0..5 {
        wrong_login(&app, PLAYER_EMAIL).await;
    }
    let listed = app
        .call("backoffice/throttled-log-ins", &[], Some(&support))
        .await;
    assert_eq!(listed.status, 200, "{listed:?}");
    let rows = listed.json.as_array().unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["email"], PLAYER_EMAIL);
    assert_eq!(rows[0]["realm"], "player");
    assert_eq!(rows[0]["address"], "127.0.0.1");
    assert_eq!(rows[0]["failures"], 5);
    assert!(rows[0]["delayed_until"].is_string());
    let (_, _, page) = app.get_page("/admin/players", Some(&support)).await;
    assert!(
        page.contains("Slowed-down log-ins"),
        "the players page lists them"
    );

    let other_brand = app.log_in_at_second_brand("admin/login", OWNER).await;
    let theirs = app
        .call_at_second_brand("backoffice/throttled-log-ins", &[], Some(&other_brand))
        .await;
    assert_eq!(theirs.json, serde_json::json!([]));

    let fresh = kasa_server::auth::throttle::purge(&pool, app.now())
        .await
        .unwrap();
    assert_eq!(fresh, 0, "live counters stay");
    let purged = kasa_server::auth::throttle::purge(&pool, app.now() + Duration::hours(3))
        .await
        .unwrap();
    assert!(purged >= 3, "{purged}");
    assert_eq!(app.count("SELECT count(*) FROM throttles").await, 0);
}
