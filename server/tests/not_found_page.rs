//! The page for an address Kasa has no route for (the browser's automatic `/favicon.ico` on a
//! page without an icon link, such as the mock PSP's checkout, or a mistyped link) renders with
//! the request and the services in context, like every routed page: its server functions see
//! the session, so the header names the logged-in player instead of failing without context.

mod common;

use common::{PLAYER_EMAIL, spawn_app};
use sqlx::PgPool;

// Proves an unrouted address answers 404 with the app's page, rendered for the logged-in
// player (their name in the header, `nav-viewer`), exactly as a routed page renders it.
#[sqlx::test(migrations = "../migrations")]
async fn an_unrouted_address_renders_with_the_session(pool: PgPool) {
    let app = spawn_app(pool).await;
    let player = app.log_in("auth/login", PLAYER_EMAIL).await;

    let (status, _, routed) = app.get_page("/wallet", Some(&player)).await;
    assert_eq!(status, 200);
    assert!(routed.contains("data-testid=\"nav-viewer\""), "{routed}");

    for path in ["/favicon.ico", "/no-such-page"] {
        let (status, _, body) = app.get_page(path, Some(&player)).await;
        assert_eq!(status, 404, "{path}");
        assert!(
            body.contains("data-testid=\"nav-viewer\""),
            "{path} rendered without the session: {body}"
        );
    }
}
