//! Origins per brand: a state-changing request is accepted only from an origin of the brand
//! whose host it was sent to. Another brand's page on the same server, an unknown origin (even at
//! a host that falls back to the default brand) and `Sec-Fetch-Site: cross-site` are refused
//! with 403 `cross_origin`, and nothing is written.

mod common;

use common::{PLAYER_EMAIL, Reply, SECOND_PLAYER_EMAIL, TestApp, spawn_app};
use sqlx::PgPool;

async fn sessions(app: &TestApp) -> i64 {
    app.count("SELECT count(*) FROM sessions").await
}

/// A log-out of `cookie` sent to `host` with exactly `headers`.
async fn log_out(app: &TestApp, cookie: &str, host: &str, headers: &[(&str, &str)]) -> Reply {
    let mut all: Vec<(&str, &[u8])> = vec![("host", host.as_bytes())];
    all.extend(
        headers
            .iter()
            .map(|(name, value)| (*name, value.as_bytes())),
    );
    app.post_with_headers("auth/logout", &[], Some(cookie), &all)
        .await
}

fn assert_cross_origin(what: &str, reply: &Reply) {
    assert_eq!(
        (reply.status, reply.code()),
        (403, "cross_origin"),
        "{what}: {reply:?}"
    );
}

// Proves brand A's log-out posted from brand B's page (B's origin, A's host) is refused and the
// session survives, and the same for B's log-out from A's page; `Sec-Fetch-Site: cross-site`
// without an Origin is refused too; then each brand's own origin logs out.
#[sqlx::test(migrations = "../migrations")]
async fn another_brands_page_cannot_act_on_this_brand(pool: PgPool) {
    let app = spawn_app(pool).await;
    let (second_host, second_origin) = app.second_brand();
    let first_host = format!("127.0.0.1:{}", app.port);
    let first = app.log_in("auth/login", PLAYER_EMAIL).await;
    let second = app
        .log_in_at_second_brand("auth/login", SECOND_PLAYER_EMAIL)
        .await;
    assert_eq!(sessions(&app).await, 2);

    let refused = [
        (
            "brand B's origin at brand A",
            &first,
            &first_host,
            vec![("origin", second_origin.as_str())],
        ),
        (
            "brand A's origin at brand B",
            &second,
            &second_host,
            vec![("origin", app.base.as_str())],
        ),
        (
            "cross-site without an origin",
            &first,
            &first_host,
            vec![("sec-fetch-site", "cross-site")],
        ),
        (
            "cross-site beside the brand's own origin",
            &first,
            &first_host,
            vec![
                ("origin", app.base.as_str()),
                ("sec-fetch-site", "cross-site"),
            ],
        ),
        (
            "same-site without an origin",
            &second,
            &second_host,
            vec![("sec-fetch-site", "same-site")],
        ),
        (
            "an opaque origin",
            &first,
            &first_host,
            vec![("origin", "null")],
        ),
    ];
    for (what, cookie, host, headers) in &refused {
        assert_cross_origin(what, &log_out(&app, cookie, host, headers).await);
    }
    assert_eq!(sessions(&app).await, 2, "nothing was logged out");
    let me = app.call("auth/me", &[], Some(&first)).await;
    assert_eq!(me.json["email"], PLAYER_EMAIL, "{me:?}");

    let own = log_out(&app, &first, &first_host, &[("origin", &app.base)]).await;
    assert_eq!(own.status, 200, "{own:?}");
    let own = log_out(
        &app,
        &second,
        &second_host,
        &[
            ("origin", &second_origin),
            ("sec-fetch-site", "same-origin"),
        ],
    )
    .await;
    assert_eq!(own.status, 200, "{own:?}");
    assert_eq!(sessions(&app).await, 0);
}

// Proves another host name of the same brand (`localhost` beside `127.0.0.1`) is that brand's
// origin, while an unknown origin is nobody's: not at an unknown host that falls back to the
// default brand, not at the default brand's own host.
#[sqlx::test(migrations = "../migrations")]
async fn unknown_origins_never_count_as_the_default_brand(pool: PgPool) {
    let app = spawn_app(pool).await;
    let port = app.port;
    let first_host = format!("127.0.0.1:{port}");
    let unknown_host = format!("unknown.example:{port}");
    let unknown_origin = format!("http://{unknown_host}");
    let player = app.log_in("auth/login", PLAYER_EMAIL).await;

    // The unknown host falls back to the default brand, whose session this is.
    let me = app
        .post_with_headers(
            "auth/me",
            &[],
            Some(&player),
            &[("host", unknown_host.as_bytes())],
        )
        .await;
    assert_eq!(me.json["email"], PLAYER_EMAIL, "{me:?}");
    for (host, origin) in [
        (&unknown_host, &unknown_origin),
        (&first_host, &unknown_origin),
        (&first_host, &"http://127.0.0.1.evil.example".to_owned()),
        (&first_host, &format!("https://127.0.0.1:{port}")),
    ] {
        let reply = log_out(&app, &player, host, &[("origin", origin)]).await;
        assert_cross_origin(&format!("{origin} at {host}"), &reply);
    }
    assert_eq!(sessions(&app).await, 1);

    let other_host_of_the_brand = format!("http://localhost:{port}");
    let reply = log_out(
        &app,
        &player,
        &first_host,
        &[("origin", &other_host_of_the_brand)],
    )
    .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(sessions(&app).await, 0);
}
