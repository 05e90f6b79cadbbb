//! The finance back office in a real browser: finding a player and their money, the integrity
//! check, and a CSV export with the staff session.

mod common;

use common::{
    Chromium, KasaServer, click, deposit_paid, expect_text, expect_visible, fill, log_in_player,
    log_in_staff, open, submit_withdrawal, verify_player,
};

// Proves the back office end to end: after the player deposits 100.00 at the mock PSP and asks
// to withdraw 30.00, finance finds the player by email, opens the player's page and sees the
// captured deposit, the requested withdrawal and the balances (70.00 available, 30.00 held),
// runs the integrity check from the figures page and sees it pass, and downloads the
// withdrawals as CSV with the filter in the file name.
#[tokio::test]
async fn finance_finds_the_player_checks_integrity_and_exports() {
    let server = KasaServer::start().await;
    let chromium = Chromium::launch().await;
    let owner = chromium.new_page().await;
    let player = chromium.new_page().await;
    let finance = chromium.new_page().await;

    log_in_staff(&owner, &server, "owner@demo.kasa.test").await;
    verify_player(&owner, &server, "documents checked").await;

    log_in_player(&player, &server).await;
    deposit_paid(&player, &server, "100.00").await;
    open(&player, &server.url("/withdraw")).await;
    submit_withdrawal(&player, "30.00").await;

    log_in_staff(&finance, &server, "finance@demo.kasa.test").await;
    open(&finance, &server.url("/admin/players")).await;
    fill(
        &finance,
        "[data-testid=player-search]",
        "player@demo.kasa.test",
    )
    .await;
    click(&finance, "[data-testid=player-search-submit]").await;
    expect_text(
        &finance,
        "[data-testid=player-results]",
        "player@demo.kasa.test",
    )
    .await;
    click(&finance, "[data-testid=player-link]").await;
    expect_text(
        &finance,
        "[data-testid=player-email]",
        "player@demo.kasa.test",
    )
    .await;
    expect_text(&finance, "[data-testid=player-kyc]", "verified").await;
    expect_text(
        &finance,
        "[data-testid=player-deposits] [data-state=captured]",
        "100.00 EUR",
    )
    .await;
    expect_text(
        &finance,
        "[data-testid=player-withdrawals] [data-state=requested]",
        "30.00 EUR",
    )
    .await;
    expect_text(&finance, "[data-testid=player-balances]", "70.00").await;
    expect_text(&finance, "[data-testid=player-balances]", "30.00").await;

    open(&finance, &server.url("/admin/figures")).await;
    expect_text(&finance, "[data-testid=figure-deposits]", "100.00 EUR").await;
    expect_text(&finance, "[data-testid=figure-pending]", "30.00 EUR").await;
    expect_visible(&finance, "[data-testid=flow-chart]").await;
    click(
        &finance,
        "[data-testid=figures-integrity] button[type=submit]",
    )
    .await;
    expect_text(&finance, "[data-testid=figures-integrity-result]", "passed").await;

    // The export form downloads; the same request from the page's own session gives the file.
    expect_visible(&finance, "[data-testid=export-withdrawals]").await;
    let export = finance
        .evaluate::<(), String>(
            "async () => {
                 const response = await fetch('/admin/export/withdrawals.csv?state=requested');
                 return JSON.stringify({
                     status: response.status,
                     disposition: response.headers.get('content-disposition'),
                     body: await response.text(),
                 });
             }",
            None,
        )
        .await
        .expect("the export answers");
    let export: serde_json::Value = serde_json::from_str(&export).unwrap();
    assert_eq!(export["status"], 200, "{export}");
    assert_eq!(
        export["disposition"],
        "attachment; filename=\"withdrawals_state-requested.csv\""
    );
    let lines: Vec<&str> = export["body"]
        .as_str()
        .unwrap()
        .split("\r\n")
        .filter(|line| !line.is_empty())
        .collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines[1].contains("player@demo.kasa.test,30.00,EUR,requested"),
        "{}",
        lines[1]
    );
}
