//! The money path in a real browser, end to end: a deposit through the mock PSP, a withdrawal
//! request that holds the funds, a staff approval, a payout attempt that fails (scripted at the
//! mock PSP), the retry cooldown, a retry that pays, and the ledger integrity check.

mod common;

use std::time::Duration;

use common::{
    Chromium, KasaServer, click, deposit_paid, expect_text, expect_visible, fill, log_in_player,
    log_in_staff, open, submit_withdrawal, verify_player,
};
use playwright_rs::Page;

/// The retry cooldown this test sets: long enough to see it refuse a retry, short enough to wait.
const COOLDOWN_S: u64 = 10;

async fn expect_balance(page: &Page, scope: &str, available: &str, held: &str) {
    expect_text(page, &format!("{scope} [data-testid=available]"), available).await;
    expect_text(page, &format!("{scope} [data-testid=held]"), held).await;
}

/// The owner verifies the player's identity (withdrawals need it) and sets the retry cooldown.
async fn prepare_tenant(owner: &Page, server: &KasaServer) {
    verify_player(owner, server, "passport and proof of address checked").await;
    open(owner, &server.url("/admin/settings")).await;
    fill(owner, "#retry_cooldown_s", &COOLDOWN_S.to_string()).await;
    click(owner, "[data-testid=settings-save]").await;
    expect_visible(owner, "[data-testid=settings-saved]").await;
}

// Proves the whole path: 100.00 deposited at the mock PSP; 60.00 requested (40.00 available,
// 60.00 held); finance approves; attempt 1 fails as scripted and the page shows the failure and
// the cooldown, which refuses an early retry; the retry after it pays; the player sees 40.00
// available, 0.00 held and the withdrawal paid; the integrity check passes.
#[tokio::test]
async fn deposit_withdraw_fail_retry_paid() {
    let server = KasaServer::start().await;
    let chromium = Chromium::launch().await;
    let player = chromium.new_page().await;
    let owner = chromium.new_page().await;
    let finance = chromium.new_page().await;

    log_in_staff(&owner, &server, "owner@demo.kasa.test").await;
    prepare_tenant(&owner, &server).await;

    log_in_player(&player, &server).await;
    deposit_paid(&player, &server, "100.00").await;

    open(&player, &server.url("/withdraw")).await;
    expect_balance(&player, "[data-testid=withdrawable-EUR]", "100.00", "0.00").await;
    submit_withdrawal(&player, "60.00").await;
    expect_balance(&player, "[data-testid=withdrawable-EUR]", "40.00", "60.00").await;
    expect_visible(
        &player,
        "[data-testid=withdrawal-row][data-state=requested]",
    )
    .await;

    log_in_staff(&finance, &server, "finance@demo.kasa.test").await;
    open(&finance, &server.url("/admin/withdrawals")).await;
    expect_text(&finance, "[data-testid=queue-row]", "60.00 EUR").await;
    click(&finance, "[data-testid=queue-row] a").await;
    expect_visible(
        &finance,
        "[data-testid=withdrawal-state][data-state=requested]",
    )
    .await;

    // The mock PSP will fail the first payout of this withdrawal.
    click(&finance, "[data-testid=mock-controls] summary").await;
    finance
        .locator("#mock-outcome")
        .select_option("fail", None)
        .await
        .expect("the outcome can be chosen");
    fill(&finance, "#mock-failure-code", "account_closed").await;
    click(&finance, "[data-testid=mock-script]").await;
    expect_text(
        &finance,
        "[data-testid=result-mock-script]",
        "fail (account_closed)",
    )
    .await;

    click(&finance, "[data-testid=approve]").await;
    expect_visible(
        &finance,
        "[data-testid=withdrawal-state][data-state=approved]",
    )
    .await;
    click(&finance, "[data-testid=start-payout]").await;
    expect_visible(
        &finance,
        "[data-testid=withdrawal-state][data-state=payout_failed]",
    )
    .await;
    expect_text(
        &finance,
        "[data-testid=result-start-payout]",
        "Attempt 1 failed",
    )
    .await;
    expect_text(
        &finance,
        "[data-testid=attempt-row][data-state=failed] [data-testid=attempt-error]",
        "account_closed",
    )
    .await;
    expect_text(
        &finance,
        "[data-testid=retry-cooldown]",
        "next retry allowed at",
    )
    .await;

    click(&finance, "[data-testid=retry-payout]").await;
    expect_visible(
        &finance,
        "[data-testid=result-retry-payout][data-code=retry_cooldown]",
    )
    .await;
    expect_text(
        &finance,
        "[data-testid=result-retry-payout]",
        "next retry is allowed at",
    )
    .await;
    expect_visible(
        &finance,
        "[data-testid=withdrawal-state][data-state=payout_failed]",
    )
    .await;

    tokio::time::sleep(Duration::from_secs(COOLDOWN_S + 1)).await;
    click(&finance, "[data-testid=retry-payout]").await;
    expect_visible(&finance, "[data-testid=withdrawal-state][data-state=paid]").await;
    expect_text(
        &finance,
        "[data-testid=result-retry-payout]",
        "Paid out by attempt 2",
    )
    .await;
    expect_visible(&finance, "[data-testid=attempt-row][data-state=succeeded]").await;

    open(&player, &server.url("/wallet")).await;
    expect_balance(&player, "[data-testid=balance-EUR]", "40.00", "0.00").await;
    open(&player, &server.url("/withdraw")).await;
    expect_visible(&player, "[data-testid=withdrawal-row][data-state=paid]").await;

    open(&finance, &server.url("/admin")).await;
    click(&finance, "[data-testid=integrity] button[type=submit]").await;
    expect_text(&finance, "[data-testid=integrity-result]", "passed").await;
}
