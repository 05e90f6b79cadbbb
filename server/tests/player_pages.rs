//! The player's pages as the server renders them: every resource a page reads is created once
//! per render, with the request and the services in context, whatever the timing.

mod common;

use common::{PLAYER_EMAIL, TestApp, spawn_app};
use sqlx::PgPool;

/// Renders of each page: a duplicate resource appeared in most renders before the fix, so a few
/// dozen catch it.
const RENDERS_PER_PAGE: usize = 20;

/// The resources whose values a rendered page hands to the browser (`__RESOLVED_RESOURCES[n]`).
fn resolved_resources(html: &str) -> usize {
    html.matches("__RESOLVED_RESOURCES[").count()
}

async fn render(app: &TestApp, path: &str, cookie: &str) -> String {
    let (status, _, html) = app.get_page(path, Some(cookie)).await;
    assert_eq!(status, 200, "{path}");
    html
}

// Proves the player's pages create each resource once per server render: /deposit, /wallet,
// /withdraw and /account, rendered twenty times each (five at once), always hand the browser the
// viewer plus their own resources and nothing else (a resource created inside a Suspend after an
// await was created again by every walk of its Suspense, some copies under a dropped owner), and
// never show the internal error a server function without its context answers.
#[sqlx::test(migrations = "../migrations")]
async fn player_pages_create_each_resource_once(pool: PgPool) {
    let app = spawn_app(pool).await;
    let cookie = app.log_in("auth/login", PLAYER_EMAIL).await;
    let started = app
        .call(
            "deposits/start",
            &[
                ("amount", "30.00"),
                ("currency", "EUR"),
                ("provider", "mock"),
                ("idempotency_key", "pages-1"),
            ],
            Some(&cookie),
        )
        .await;
    assert_eq!(started.status, 200, "{started:?}");

    // The viewer, then each page's own resources.
    for (path, expected) in [
        ("/deposit", 3),
        // Balances, the first history page and the game rounds.
        ("/wallet", 4),
        ("/withdraw", 3),
        ("/account", 2),
        ("/games", 2),
    ] {
        for _ in 0..RENDERS_PER_PAGE / 5 {
            let pages =
                futures::future::join_all((0..5).map(|_| render(&app, path, &cookie))).await;
            for html in pages {
                assert_eq!(resolved_resources(&html), expected, "{path}: {html}");
                assert!(
                    !html.contains("Something went wrong on our side"),
                    "{path}: {html}"
                );
            }
        }
    }
    let deposit_page = render(&app, "/deposit", &cookie).await;
    assert!(
        deposit_page.contains("data-testid=\"deposit-row\""),
        "the list shows the deposit: {deposit_page}"
    );
}
