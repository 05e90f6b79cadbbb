//! Staff two-factor log-in (TOTP, RFC 6238) through the real router: enrolment, log-in with a
//! code, wrong, replayed and throttled codes, recovery codes, the rule that keeps a finance
//! log-in without a second factor from getting a session, the tenant's setting and an owner's
//! reset. Codes are computed here with `totp-rs` from the secret the server handed out, at the
//! app's clock, which the tests step forward.

mod common;

use app::domain::ids::{StaffId, TenantId};
use chrono::{DateTime, Duration, Utc};
use common::{DEMO_PASSWORD, Reply, TestApp, spawn_app, spawn_app_with};
use sha2::{Digest, Sha256};
use sqlx::PgPool;

const SUPPORT: &str = "support@demo.kasa.test";
const FINANCE: &str = "finance@demo.kasa.test";
const OWNER: &str = "owner@demo.kasa.test";
/// The rule in force, as in production (the test environment leaves it off by default).
const RULE_IN_FORCE: (&str, &str) = ("KASA_STAFF_SECOND_FACTOR", "required");
/// Test servers set Secure cookies, hence the `__Host-` prefix.
const SESSION_COOKIE: &str = "__Host-kasa_session";
const TICKET_COOKIE: &str = "__Host-kasa_enrolment";

/// The code an authenticator app holding `secret` shows at `time`.
fn code_at(secret: &[u8], time: DateTime<Utc>) -> String {
    totp_rs::Builder::new()
        .with_algorithm(totp_rs::Algorithm::SHA1)
        .with_digits(6)
        .with_step_duration(30)
        .with_secret(secret.to_vec())
        .build()
        .unwrap()
        .generate(time.timestamp() as u64)
        .to_string()
}

/// Another six digits than `code`.
fn wrong(code: &str) -> String {
    format!("{:06}", (code.parse::<u32>().unwrap() + 1) % 1_000_000)
}

/// The `name=value` of each cookie the reply sets, with its attributes.
fn set_cookies(reply: &Reply) -> Vec<String> {
    reply
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|value| value.to_str().unwrap().to_owned())
        .collect()
}

/// The cookie `name` the reply sets with a value (not a deletion), as `name=value`.
fn cookie(reply: &Reply, name: &str) -> Option<String> {
    set_cookies(reply)
        .into_iter()
        .filter_map(|cookie| cookie.split(';').next().map(str::to_owned))
        .find(|pair| pair.starts_with(&format!("{name}=")) && pair.len() > name.len() + 1)
}

async fn staff_id(app: &TestApp, email: &str) -> StaffId {
    sqlx::query_scalar("SELECT id FROM staff WHERE email = $1")
        .bind(email)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

async fn sessions_of(app: &TestApp, email: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM sessions WHERE staff_id = (SELECT id FROM staff WHERE email = $1)",
    )
    .bind(email)
    .fetch_one(&app.pool)
    .await
    .unwrap()
}

async fn audit_events(
    app: &TestApp,
    action: &str,
    target: impl std::fmt::Display,
) -> Vec<serde_json::Value> {
    sqlx::query_scalar(
        "SELECT json_build_object('actor_id', actor_id, 'before', before, 'after', after)
           FROM audit_events WHERE action = $1 AND target_id = $2 ORDER BY seq",
    )
    .bind(action)
    .bind(target.to_string())
    .fetch_all(&app.pool)
    .await
    .unwrap()
}

async fn log_in(app: &TestApp, email: &str, code: Option<&str>) -> Reply {
    let mut form = vec![("email", email), ("password", DEMO_PASSWORD)];
    if let Some(code) = code {
        form.push(("code", code));
    }
    app.call("admin/login", &form, None).await
}

/// Asserts the reply started no session: no session cookie set and the staff member's
/// sessions unchanged.
async fn assert_no_session(app: &TestApp, reply: &Reply, email: &str, sessions_before: i64) {
    assert_eq!(cookie(reply, SESSION_COOKIE), None, "{reply:?}");
    assert_eq!(sessions_of(app, email).await, sessions_before);
}

/// Starts an enrolment with `cookie` (a session or a ticket): the secret's bytes and the reply.
async fn start(app: &TestApp, cookie: &str) -> (Vec<u8>, Reply) {
    let reply = app
        .call("admin/second-factor/start", &[], Some(cookie))
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let secret =
        totp_rs::Secret::try_from_base32(reply.json["secret"].as_str().unwrap().replace(' ', ""))
            .unwrap()
            .as_bytes()
            .to_vec();
    (secret, reply)
}

/// Finishes a log-in that needed enrolment: the secret and the session the confirmation started.
async fn enrol_with_ticket(app: &TestApp, ticket: &str) -> (Vec<u8>, String) {
    let (secret, _) = start(app, ticket).await;
    let confirmed = app
        .call(
            "admin/second-factor/confirm",
            &[("code", &code_at(&secret, app.now()))],
            Some(ticket),
        )
        .await;
    assert_eq!(confirmed.status, 200, "{confirmed:?}");
    let session = cookie(&confirmed, SESSION_COOKIE).expect("the confirmation starts a session");
    (secret, session)
}

/// Enrols the staff member logged in with `session`: their secret and recovery codes.
async fn enrol(app: &TestApp, session: &str) -> (Vec<u8>, Vec<String>) {
    let (secret, _) = start(app, session).await;
    let code = code_at(&secret, app.now());
    let confirmed = app
        .call(
            "admin/second-factor/confirm",
            &[("code", &code)],
            Some(session),
        )
        .await;
    assert_eq!(confirmed.status, 200, "{confirmed:?}");
    let codes = confirmed.json["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|code| code.as_str().unwrap().to_owned())
        .collect();
    (secret, codes)
}

// Proves enrolment hands out a QR code (plain SVG) and the secret, stores nothing confirmed until
// a right code comes back, then confirms the row, returns ten distinct recovery codes once, keeps
// only their SHA-256, audits it, and refuses a second enrolment over the confirmed one.
#[sqlx::test(migrations = "../migrations")]
async fn enrolment_confirms_with_a_code_and_returns_recovery_codes_once(pool: PgPool) {
    let app = spawn_app(pool).await;
    let session = app.log_in("admin/login", SUPPORT).await;
    let support = staff_id(&app, SUPPORT).await;

    let (first_secret, started) = start(&app, &session).await;
    let svg = started.json["qr_svg"].as_str().unwrap();
    assert!(svg.starts_with("<svg"), "{svg}");
    for absent in ["<script", "style=", "support@"] {
        assert!(!svg.contains(absent), "{absent} in {svg}");
    }
    let uri = started.json["otpauth_uri"].as_str().unwrap();
    assert!(
        uri.starts_with(
            "otpauth://totp/Kasa%20Kasa%20Demo%20Casino:support%40demo.kasa.test?secret="
        ),
        "{uri}"
    );
    assert_eq!(first_secret.len(), 20);
    let (stored, confirmed_at): (Vec<u8>, Option<DateTime<Utc>>) =
        sqlx::query_as("SELECT secret, confirmed_at FROM staff_second_factors WHERE staff_id = $1")
            .bind(support)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!((stored, confirmed_at), (first_secret.clone(), None));

    // A wrong code confirms nothing.
    let wrong_code = wrong(&code_at(&first_secret, app.now()));
    let refused = app
        .call(
            "admin/second-factor/confirm",
            &[("code", &wrong_code)],
            Some(&session),
        )
        .await;
    assert_eq!(
        (refused.status, refused.code()),
        (401, "invalid_second_factor")
    );
    assert_eq!(
        app.count("SELECT count(*) FROM staff_second_factors WHERE confirmed_at IS NOT NULL")
            .await,
        0
    );
    assert_eq!(
        app.count("SELECT count(*) FROM staff_recovery_codes").await,
        0
    );

    // Starting again replaces the unconfirmed secret; the code of the first is worthless now.
    let (secret, _) = start(&app, &session).await;
    assert_ne!(secret, first_secret);
    let stale = app
        .call(
            "admin/second-factor/confirm",
            &[("code", &code_at(&first_secret, app.now()))],
            Some(&session),
        )
        .await;
    assert_eq!(stale.code(), "invalid_second_factor");
    let code = code_at(&secret, app.now());
    let confirmed = app
        .call(
            "admin/second-factor/confirm",
            &[("code", &code)],
            Some(&session),
        )
        .await;
    assert_eq!(confirmed.status, 200, "{confirmed:?}");
    assert_eq!(confirmed.json["logged_in"], false);
    let codes: Vec<String> = confirmed.json["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|code| code.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(codes.len(), 10);
    assert_eq!(
        codes
            .iter()
            .collect::<std::collections::BTreeSet<_>>()
            .len(),
        10
    );
    for code in &codes {
        assert_eq!(code.len(), 19, "{code}");
    }

    let (confirmed_at, last_used_step): (Option<DateTime<Utc>>, Option<i64>) = sqlx::query_as(
        "SELECT confirmed_at, last_used_step FROM staff_second_factors WHERE staff_id = $1",
    )
    .bind(support)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert!(confirmed_at.is_some());
    assert_eq!(last_used_step, Some(app.now().timestamp() / 30));
    let stored: Vec<Vec<u8>> = sqlx::query_scalar(
        "SELECT code_sha256 FROM staff_recovery_codes WHERE staff_id = $1 AND used_at IS NULL",
    )
    .bind(support)
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(stored.len(), 10);
    for code in &codes {
        let digest = Sha256::digest(code.replace('-', "").as_bytes()).to_vec();
        assert!(stored.contains(&digest), "{code} is not stored as its hash");
        assert!(!stored.contains(&code.as_bytes().to_vec()));
    }
    let events = audit_events(&app, "staff.second_factor.enrolled", support).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["after"]["recovery_codes"], 10);

    let again = app
        .call("admin/second-factor/start", &[], Some(&session))
        .await;
    assert_eq!(
        (again.status, again.code()),
        (409, "invalid_state_transition")
    );
    let still: Vec<u8> =
        sqlx::query_scalar("SELECT secret FROM staff_second_factors WHERE staff_id = $1")
            .bind(support)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(still, secret);
    let status = app
        .call("admin/second-factor/status", &[], Some(&session))
        .await;
    assert_eq!(status.json["recovery_codes_left"], 10);
    assert_eq!(status.json["required"], false);
    assert!(status.json["enrolled_at"].is_string());
}

// Proves an enrolled staff member's right password alone starts no session (it asks for the
// code), that the password and a right code do, and that a wrong or malformed code starts none
// and counts against the throttle; a wrong password with a right code spends nothing.
#[sqlx::test(migrations = "../migrations")]
async fn log_in_needs_the_code_and_refuses_a_wrong_one(pool: PgPool) {
    let app = spawn_app(pool).await;
    let session = app.log_in("admin/login", SUPPORT).await;
    let support = staff_id(&app, SUPPORT).await;
    let (secret, _) = enrol(&app, &session).await;
    app.advance(Duration::seconds(30));
    let sessions = sessions_of(&app, SUPPORT).await;

    let asked = log_in(&app, SUPPORT, None).await;
    assert_eq!(
        (asked.status, asked.code()),
        (401, "second_factor_required")
    );
    assert_no_session(&app, &asked, SUPPORT, sessions).await;
    let empty = log_in(&app, SUPPORT, Some("  ")).await;
    assert_eq!(empty.code(), "second_factor_required");

    let code = code_at(&secret, app.now());
    for bad in [wrong(&code).as_str(), "12345", "not a code"] {
        let refused = log_in(&app, SUPPORT, Some(bad)).await;
        assert_eq!(
            (refused.status, refused.code()),
            (401, "invalid_second_factor"),
            "{bad}"
        );
        assert_no_session(&app, &refused, SUPPORT, sessions).await;
    }
    let counted: i64 = sqlx::query_scalar(
        "SELECT coalesce(max(attempts), 0)::bigint FROM throttles WHERE scope = 'second_factor' AND subject = $1",
    )
    .bind(support.to_string())
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        counted, 3,
        "the wrong codes are counted for this staff member"
    );

    let wrong_password = app
        .call(
            "admin/login",
            &[
                ("email", SUPPORT),
                ("password", "not the password"),
                ("code", &code),
            ],
            None,
        )
        .await;
    assert_eq!(wrong_password.code(), "invalid_credentials");
    assert_no_session(&app, &wrong_password, SUPPORT, sessions).await;

    let logins_before = audit_events(&app, "staff.logged_in", support).await.len();
    let logged_in = log_in(&app, SUPPORT, Some(&code)).await;
    assert_eq!(logged_in.status, 200, "{logged_in:?}");
    let new_session = cookie(&logged_in, SESSION_COOKIE).expect("a session cookie");
    assert_eq!(sessions_of(&app, SUPPORT).await, sessions + 1);
    assert_eq!(
        audit_events(&app, "staff.logged_in", support).await.len(),
        logins_before + 1
    );
    let overview = app.call("admin/overview", &[], Some(&new_session)).await;
    assert_eq!(overview.json["role"], "support");
    let cleared = app
        .count("SELECT count(*) FROM throttles WHERE scope = 'second_factor'")
        .await;
    assert_eq!(cleared, 0, "a right code clears the staff member's count");
}

// Proves a code is accepted once: neither the code that confirmed the enrolment nor a code that
// logged in works again in its window, nor an older one; the next step's code does.
#[sqlx::test(migrations = "../migrations")]
async fn a_code_is_never_accepted_twice(pool: PgPool) {
    let app = spawn_app(pool).await;
    let session = app.log_in("admin/login", SUPPORT).await;
    let (secret, _) = enrol(&app, &session).await;
    let sessions = sessions_of(&app, SUPPORT).await;

    let confirming_code = code_at(&secret, app.now());
    let replayed = log_in(&app, SUPPORT, Some(&confirming_code)).await;
    assert_eq!(
        (replayed.status, replayed.code()),
        (401, "invalid_second_factor")
    );
    assert_no_session(&app, &replayed, SUPPORT, sessions).await;

    app.advance(Duration::seconds(30));
    let code = code_at(&secret, app.now());
    assert_ne!(code, confirming_code);
    let first = log_in(&app, SUPPORT, Some(&code)).await;
    assert_eq!(first.status, 200, "{first:?}");
    assert_eq!(sessions_of(&app, SUPPORT).await, sessions + 1);
    let step: i64 = sqlx::query_scalar("SELECT last_used_step FROM staff_second_factors")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(step, app.now().timestamp() / 30);

    let again = log_in(&app, SUPPORT, Some(&code)).await;
    assert_eq!((again.status, again.code()), (401, "invalid_second_factor"));
    assert_no_session(&app, &again, SUPPORT, sessions + 1).await;
    // Still inside the window (one step of skew), but older than the last accepted step.
    let older = log_in(&app, SUPPORT, Some(&confirming_code)).await;
    assert_eq!(older.code(), "invalid_second_factor");

    app.advance(Duration::seconds(30));
    let next = log_in(&app, SUPPORT, Some(&code_at(&secret, app.now()))).await;
    assert_eq!(next.status, 200, "{next:?}");
    assert_eq!(sessions_of(&app, SUPPORT).await, sessions + 2);
}

// Proves a recovery code logs in once (typed in capitals without dashes), is marked used and
// audited with the count left, and is refused the second time; another code still works.
#[sqlx::test(migrations = "../migrations")]
async fn a_recovery_code_logs_in_once(pool: PgPool) {
    let app = spawn_app(pool).await;
    let session = app.log_in("admin/login", SUPPORT).await;
    let support = staff_id(&app, SUPPORT).await;
    let (_, codes) = enrol(&app, &session).await;
    let sessions = sessions_of(&app, SUPPORT).await;

    let typed = codes[0].replace('-', "").to_uppercase();
    let used = log_in(&app, SUPPORT, Some(&typed)).await;
    assert_eq!(used.status, 200, "{used:?}");
    assert!(cookie(&used, SESSION_COOKIE).is_some());
    assert_eq!(sessions_of(&app, SUPPORT).await, sessions + 1);
    assert_eq!(
        app.count("SELECT count(*) FROM staff_recovery_codes WHERE used_at IS NOT NULL")
            .await,
        1
    );
    let events = audit_events(&app, "staff.second_factor.recovery_code_used", support).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["after"]["recovery_codes_left"], 9);

    let again = log_in(&app, SUPPORT, Some(&codes[0])).await;
    assert_eq!((again.status, again.code()), (401, "invalid_second_factor"));
    assert_no_session(&app, &again, SUPPORT, sessions + 1).await;
    assert_eq!(
        app.count("SELECT count(*) FROM staff_recovery_codes WHERE used_at IS NOT NULL")
            .await,
        1
    );

    let other = log_in(&app, SUPPORT, Some(&codes[1])).await;
    assert_eq!(other.status, 200, "{other:?}");
    let status = app
        .call("admin/second-factor/status", &[], Some(&session))
        .await;
    assert_eq!(status.json["recovery_codes_left"], 8);
}

// Proves wrong codes are throttled like wrong passwords: after five, even the right code is
// refused with 429 and Retry-After (and not spent); once the delay has passed it logs in.
#[sqlx::test(migrations = "../migrations")]
async fn wrong_codes_are_throttled(pool: PgPool) {
    let app = spawn_app(pool).await;
    let session = app.log_in("admin/login", SUPPORT).await;
    let (secret, _) = enrol(&app, &session).await;
    app.advance(Duration::seconds(30));
    let sessions = sessions_of(&app, SUPPORT).await;
    let code = code_at(&secret, app.now());
    for _ in 0..5 {
        let refused = log_in(&app, SUPPORT, Some(&wrong(&code))).await;
        assert_eq!(refused.code(), "invalid_second_factor");
    }
    let throttled = log_in(&app, SUPPORT, Some(&code)).await;
    assert_eq!((throttled.status, throttled.code()), (429, "rate_limited"));
    assert!(
        throttled.headers.get("retry-after").is_some(),
        "{throttled:?}"
    );
    assert_no_session(&app, &throttled, SUPPORT, sessions).await;
    let step: i64 = sqlx::query_scalar("SELECT last_used_step FROM staff_second_factors")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert!(
        step < app.now().timestamp() / 30,
        "the throttled code was not spent"
    );

    app.advance(Duration::seconds(61));
    let later = log_in(&app, SUPPORT, Some(&code_at(&secret, app.now()))).await;
    assert_eq!(later.status, 200, "{later:?}");
    assert_eq!(sessions_of(&app, SUPPORT).await, sessions + 1);
}

// Proves the production rule: a finance log-in with the right password and no second factor
// gets no session, only an enrolment ticket (HttpOnly, SameSite=Strict, stored hashed) that is no
// session and admits to enrolment alone; a wrong code leaves it unspent; a right one spends it
// and only then starts the session. From then on the log-in asks for a code. Support, whom the
// rule does not cover, logs in with the password alone.
#[sqlx::test(migrations = "../migrations")]
async fn the_rule_refuses_a_finance_log_in_without_a_second_factor(pool: PgPool) {
    let app = spawn_app_with(pool, &[RULE_IN_FORCE]).await;
    let finance = staff_id(&app, FINANCE).await;

    let refused = log_in(&app, FINANCE, None).await;
    assert_eq!(
        (refused.status, refused.code()),
        (403, "second_factor_enrolment_required")
    );
    assert_no_session(&app, &refused, FINANCE, 0).await;
    assert_eq!(app.count("SELECT count(*) FROM sessions").await, 0);
    let ticket = cookie(&refused, TICKET_COOKIE).expect("an enrolment ticket");
    let attributes = set_cookies(&refused).join("\n");
    for flag in [
        "HttpOnly",
        "SameSite=Strict",
        "Path=/",
        "Max-Age=600",
        "Secure",
    ] {
        assert!(attributes.contains(flag), "{flag} missing: {attributes}");
    }
    let token = ticket.split_once('=').unwrap().1;
    let stored: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM staff_enrolment_tickets
          WHERE token_sha256 = $1 AND staff_id = $2 AND used_at IS NULL",
    )
    .bind(Sha256::digest(token.as_bytes()).to_vec())
    .bind(finance)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(stored, 1, "the ticket is stored as its hash");
    // A code sent along changes nothing for someone who has no second factor yet.
    let with_code = log_in(&app, FINANCE, Some("123456")).await;
    assert_eq!(with_code.code(), "second_factor_enrolment_required");
    assert_no_session(&app, &with_code, FINANCE, 0).await;

    // The ticket is no session.
    let overview = app.call("admin/overview", &[], Some(&ticket)).await;
    assert_eq!((overview.status, overview.code()), (401, "unauthenticated"));
    let status = app
        .call("admin/second-factor/status", &[], Some(&ticket))
        .await;
    assert_eq!(status.code(), "unauthenticated");

    let (secret, _) = start(&app, &ticket).await;
    let code = code_at(&secret, app.now());
    let wrong_code = app
        .call(
            "admin/second-factor/confirm",
            &[("code", &wrong(&code))],
            Some(&ticket),
        )
        .await;
    assert_eq!(wrong_code.code(), "invalid_second_factor");
    assert_no_session(&app, &wrong_code, FINANCE, 0).await;
    assert_eq!(
        app.count("SELECT count(*) FROM staff_enrolment_tickets WHERE used_at IS NULL")
            .await,
        2,
        "a wrong code spends no ticket"
    );

    let confirmed = app
        .call(
            "admin/second-factor/confirm",
            &[("code", &code)],
            Some(&ticket),
        )
        .await;
    assert_eq!(confirmed.status, 200, "{confirmed:?}");
    assert_eq!(confirmed.json["logged_in"], true);
    assert_eq!(
        confirmed.json["recovery_codes"].as_array().unwrap().len(),
        10
    );
    let session = cookie(&confirmed, SESSION_COOKIE).expect("the session starts now");
    assert_eq!(sessions_of(&app, FINANCE).await, 1);
    assert!(
        set_cookies(&confirmed)
            .iter()
            .any(|cookie| cookie.starts_with(&format!("{TICKET_COOKIE}=;"))
                && cookie.contains("Max-Age=0")),
        "the ticket cookie is cleared"
    );
    let spent: Option<DateTime<Utc>> =
        sqlx::query_scalar("SELECT used_at FROM staff_enrolment_tickets WHERE token_sha256 = $1")
            .bind(Sha256::digest(token.as_bytes()).to_vec())
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert!(spent.is_some());
    let overview = app.call("admin/overview", &[], Some(&session)).await;
    assert_eq!(overview.json["role"], "finance");
    let enrolled = audit_events(&app, "staff.second_factor.enrolled", finance).await;
    assert_eq!(enrolled.len(), 1);
    assert_eq!(enrolled[0]["after"]["during_log_in"], true);
    assert_eq!(
        audit_events(&app, "staff.logged_in", finance).await.len(),
        1
    );

    // A spent ticket admits to nothing.
    let reused = app
        .call("admin/second-factor/start", &[], Some(&ticket))
        .await;
    assert_eq!(reused.code(), "unauthenticated");

    let asked = log_in(&app, FINANCE, None).await;
    assert_eq!(asked.code(), "second_factor_required");
    assert_no_session(&app, &asked, FINANCE, 1).await;
    app.advance(Duration::seconds(30));
    let again = log_in(&app, FINANCE, Some(&code_at(&secret, app.now()))).await;
    assert_eq!(again.status, 200, "{again:?}");
    assert_eq!(sessions_of(&app, FINANCE).await, 2);

    // Support is not covered by the rule; the owner is.
    app.log_in("admin/login", SUPPORT).await;
    let owner = log_in(&app, OWNER, None).await;
    assert_eq!(owner.code(), "second_factor_enrolment_required");
    assert_no_session(&app, &owner, OWNER, 0).await;
}

// Proves an enrolment ticket lasts ten minutes and never works at another brand.
#[sqlx::test(migrations = "../migrations")]
async fn an_enrolment_ticket_expires_and_stays_in_its_brand(pool: PgPool) {
    let app = spawn_app_with(pool, &[RULE_IN_FORCE]).await;
    let refused = log_in(&app, FINANCE, None).await;
    let ticket = cookie(&refused, TICKET_COOKIE).unwrap();

    let elsewhere = app
        .call_at_second_brand("admin/second-factor/start", &[], Some(&ticket))
        .await;
    assert_eq!(elsewhere.code(), "unauthenticated");
    assert_eq!(
        app.count("SELECT count(*) FROM staff_second_factors").await,
        0
    );

    let (secret, _) = start(&app, &ticket).await;
    app.advance(Duration::minutes(11));
    let late = app
        .call(
            "admin/second-factor/confirm",
            &[("code", &code_at(&secret, app.now()))],
            Some(&ticket),
        )
        .await;
    assert_eq!((late.status, late.code()), (401, "unauthenticated"));
    assert_no_session(&app, &late, FINANCE, 0).await;
    assert_eq!(
        app.count("SELECT count(*) FROM staff_second_factors WHERE confirmed_at IS NOT NULL")
            .await,
        0
    );

    // The purge (as the application role) removes the expired ticket, and only that.
    let live = log_in(&app, FINANCE, None).await;
    assert!(cookie(&live, TICKET_COOKIE).is_some());
    assert_eq!(
        app.count("SELECT count(*) FROM staff_enrolment_tickets")
            .await,
        2
    );
    let purged = kasa_server::auth::second_factor::purge_tickets(&app.app_pool, app.now())
        .await
        .unwrap();
    assert_eq!(purged, 1);
    assert_eq!(
        app.count("SELECT count(*) FROM staff_enrolment_tickets")
            .await,
        1
    );
}

// Proves the tenant's setting: support reads it, the owner turns it off (audited once, stored),
// and then finance logs in with the password alone; an invalid value changes nothing. Without
// the rule in force the page says so.
#[sqlx::test(migrations = "../migrations")]
async fn the_owner_sets_the_tenant_rule(pool: PgPool) {
    let app = spawn_app_with(pool, &[RULE_IN_FORCE]).await;
    let tenant: TenantId = sqlx::query_scalar("SELECT id FROM tenants WHERE slug = 'kasa-demo'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let support = app.log_in("admin/login", SUPPORT).await;
    let policy = app
        .call("admin/settings/second-factor", &[], Some(&support))
        .await;
    assert_eq!(
        (
            &policy.json["required"],
            &policy.json["in_force"],
            &policy.json["editable"]
        ),
        (
            &serde_json::json!(true),
            &serde_json::json!(true),
            &serde_json::json!(false)
        )
    );
    let by_support = app
        .call(
            "admin/settings/second-factor/save",
            &[("required", "off")],
            Some(&support),
        )
        .await;
    assert_eq!(by_support.code(), "forbidden");

    // The owner has to enrol first, through the log-in.
    let refused = log_in(&app, OWNER, None).await;
    let ticket = cookie(&refused, TICKET_COOKIE).unwrap();
    let (_, owner) = enrol_with_ticket(&app, &ticket).await;

    let invalid = app
        .call(
            "admin/settings/second-factor/save",
            &[("required", "maybe")],
            Some(&owner),
        )
        .await;
    assert_eq!((invalid.status, invalid.code()), (422, "invalid_input"));
    let off = app
        .call(
            "admin/settings/second-factor/save",
            &[("required", "off")],
            Some(&owner),
        )
        .await;
    assert_eq!(off.status, 200, "{off:?}");
    assert_eq!(off.json["required"], false);
    let stored: bool = sqlx::query_scalar(
        "SELECT second_factor_required FROM staff_security_policies WHERE tenant_id = $1",
    )
    .bind(tenant)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert!(!stored);
    app.call(
        "admin/settings/second-factor/save",
        &[("required", "off")],
        Some(&owner),
    )
    .await;
    let events = audit_events(&app, "staff_security_policy.updated", tenant).await;
    assert_eq!(
        events.len(),
        1,
        "an unchanged save is not an event: {events:?}"
    );
    assert_eq!(events[0]["before"]["second_factor_required"], true);
    assert_eq!(events[0]["after"]["second_factor_required"], false);

    app.log_in("admin/login", FINANCE).await;
    // The owner, enrolled, still needs the code: the setting waives the rule, not a factor.
    assert_eq!(
        log_in(&app, OWNER, None).await.code(),
        "second_factor_required"
    );
}

// Proves the rule is off outside production unless configured: finance logs in without a code,
// and the settings say the installation does not apply the tenant's setting.
#[sqlx::test(migrations = "../migrations")]
async fn the_rule_is_optional_in_the_test_environment(pool: PgPool) {
    let app = spawn_app(pool).await;
    let finance = app.log_in("admin/login", FINANCE).await;
    let policy = app
        .call("admin/settings/second-factor", &[], Some(&finance))
        .await;
    assert_eq!(policy.json["in_force"], false);
    assert_eq!(policy.json["required"], true);
    assert_eq!(
        app.count("SELECT count(*) FROM staff_enrolment_tickets")
            .await,
        0
    );
}

// Proves an owner resets another staff member's lost second factor (authenticator and recovery
// codes gone, audited with the owner as actor), after which that member logs in with the
// password alone; an owner cannot reset their own, and a member without one has nothing to reset.
// A staff member the rule does not cover turns their own off with a code (audited); one it
// covers cannot.
#[sqlx::test(migrations = "../migrations")]
async fn an_owner_resets_and_support_turns_off_a_second_factor(pool: PgPool) {
    let app = spawn_app(pool).await;
    let owner = app.log_in("admin/login", OWNER).await;
    let finance_session = app.log_in("admin/login", FINANCE).await;
    let finance = staff_id(&app, FINANCE).await;
    let owner_id = staff_id(&app, OWNER).await;
    enrol(&app, &finance_session).await;

    let list = app
        .call("admin/second-factor/staff", &[], Some(&owner))
        .await;
    let row = list
        .json
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["email"] == FINANCE)
        .unwrap()
        .clone();
    assert!(row["enrolled_at"].is_string());
    assert_eq!(
        list.json.as_array().unwrap().len(),
        3,
        "only this brand's staff"
    );

    let reset = app
        .call(
            "admin/second-factor/reset",
            &[("staff_id", &finance.to_string())],
            Some(&owner),
        )
        .await;
    assert_eq!(reset.status, 200, "{reset:?}");
    assert_eq!(
        app.count("SELECT count(*) FROM staff_second_factors").await,
        0
    );
    assert_eq!(
        sessions_of(&app, FINANCE).await,
        0,
        "the reset ends the member's open sessions"
    );
    let ended = app
        .call("admin/overview", &[], Some(&finance_session))
        .await;
    assert_eq!(ended.status, 401, "{ended:?}");
    assert_eq!(
        app.call("admin/overview", &[], Some(&owner)).await.status,
        200,
        "the owner's own session stays"
    );
    assert_eq!(
        app.count("SELECT count(*) FROM staff_recovery_codes").await,
        0
    );
    let events = audit_events(&app, "staff.second_factor.reset", finance).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["actor_id"], owner_id.to_string());
    assert!(events[0]["before"]["enrolled_at"].is_string());
    app.log_in("admin/login", FINANCE).await;

    let nothing = app
        .call(
            "admin/second-factor/reset",
            &[("staff_id", &finance.to_string())],
            Some(&owner),
        )
        .await;
    assert_eq!(nothing.code(), "invalid_state_transition");
    let own = app
        .call(
            "admin/second-factor/reset",
            &[("staff_id", &owner_id.to_string())],
            Some(&owner),
        )
        .await;
    assert_eq!(own.code(), "forbidden");

    let support_session = app.log_in("admin/login", SUPPORT).await;
    let support = staff_id(&app, SUPPORT).await;
    let (secret, codes) = enrol(&app, &support_session).await;
    app.advance(Duration::seconds(30));
    let wrong_code = wrong(&code_at(&secret, app.now()));
    let refused = app
        .call(
            "admin/second-factor/disable",
            &[("code", &wrong_code)],
            Some(&support_session),
        )
        .await;
    assert_eq!(refused.code(), "invalid_second_factor");
    assert_eq!(
        app.count("SELECT count(*) FROM staff_second_factors").await,
        1
    );
    let disabled = app
        .call(
            "admin/second-factor/disable",
            &[("code", &codes[3])],
            Some(&support_session),
        )
        .await;
    assert_eq!(disabled.status, 200, "{disabled:?}");
    assert!(disabled.json["enrolled_at"].is_null());
    assert_eq!(
        app.count("SELECT count(*) FROM staff_second_factors").await,
        0
    );
    assert_eq!(
        audit_events(&app, "staff.second_factor.disabled", support)
            .await
            .len(),
        1
    );
    app.log_in("admin/login", SUPPORT).await;
}

// Proves a staff member the rule covers cannot turn their own second factor off.
#[sqlx::test(migrations = "../migrations")]
async fn finance_cannot_turn_off_a_required_second_factor(pool: PgPool) {
    let app = spawn_app_with(pool, &[RULE_IN_FORCE]).await;
    let refused = log_in(&app, FINANCE, None).await;
    let ticket = cookie(&refused, TICKET_COOKIE).unwrap();
    let (_, session) = enrol_with_ticket(&app, &ticket).await;
    let disabled = app
        .call(
            "admin/second-factor/disable",
            &[("code", "123456")],
            Some(&session),
        )
        .await;
    assert_eq!((disabled.status, disabled.code()), (403, "forbidden"));
    assert_eq!(
        app.count("SELECT count(*) FROM staff_second_factors WHERE confirmed_at IS NOT NULL")
            .await,
        1
    );
}
