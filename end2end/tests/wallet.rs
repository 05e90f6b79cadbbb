//! Money in a real browser: a finance staff member asks for a credit from the back office, the
//! owner approves it on the credit approvals page (four eyes), the integrity check passes, and
//! the player's wallet shows the new balance and history.

mod common;

use common::{
    Chromium, KasaServer, click, expect_text, expect_visible, fill, log_in_staff, open,
    submit_log_in,
};

// Proves the wallet's empty state, then a 25.00 EUR credit asked through the back office form
// (with the browser's idempotency key) posts nothing until a second staff member approves it,
// then shows as 25.00 available and one history row, and the integrity check passes.
#[tokio::test]
async fn staff_adjustment_reaches_the_player_wallet() {
    let server = KasaServer::start().await;
    let chromium = Chromium::launch().await;

    let player = chromium.new_page().await;
    submit_log_in(&player, &server, "/login", "player@demo.kasa.test").await;
    expect_visible(&player, "[data-testid=balances-empty]").await;
    expect_visible(&player, "[data-testid=history-empty]").await;

    let staff = chromium.new_page().await;
    submit_log_in(&staff, &server, "/admin/login", "finance@demo.kasa.test").await;
    expect_visible(&staff, "[data-testid=adjustment]").await;
    fill(&staff, "#player_email", "player@demo.kasa.test").await;
    fill(&staff, "#amount", "25.00").await;
    fill(&staff, "#reason", "welcome bonus correction").await;
    click(&staff, "[data-testid=adjustment] button[type=submit]").await;
    expect_text(&staff, "[data-testid=adjustment-result]", "Requested").await;
    expect_text(&staff, "[data-testid=adjustment-result]", "0.00 EUR").await;

    let owner = chromium.new_page().await;
    log_in_staff(&owner, &server, "owner@demo.kasa.test").await;
    open(&owner, &server.url("/admin/credits")).await;
    expect_text(
        &owner,
        "[data-testid=credit-request]",
        "welcome bonus correction",
    )
    .await;
    click(&owner, "[data-testid=credit-approve]").await;
    expect_text(&owner, "[data-testid=credit-decided]", "approved").await;

    click(&staff, "[data-testid=integrity] button[type=submit]").await;
    expect_text(&staff, "[data-testid=integrity-result]", "passed").await;

    open(&player, &server.url("/wallet")).await;
    expect_text(
        &player,
        "[data-testid=balance-EUR] [data-testid=available]",
        "25.00",
    )
    .await;
    expect_text(
        &player,
        "[data-testid=balance-EUR] [data-testid=held]",
        "0.00",
    )
    .await;
    expect_text(&player, "[data-testid=movement]", "Adjustment").await;
    expect_text(&player, "[data-testid=movement]", "25.00 EUR").await;
}
