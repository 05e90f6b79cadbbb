//! Deposits in a real browser through the mock PSP's hosted page: paid, declined and cancelled.
//! The return page only shows what the server's webhook processing decided.

mod common;

use common::{
    Chromium, KasaServer, click, document_is_marked, expect_text, expect_visible, log_in_player,
    mark_document, open, start_deposit,
};

// Proves a 25.00 payment at the mock PSP returns to a page that waits for the webhook and then
// shows the credit, and the wallet shows 25.00 available with the deposit in its history.
#[tokio::test]
async fn paid_deposit_is_credited() {
    let server = KasaServer::start().await;
    let chromium = Chromium::launch().await;
    let page = chromium.new_page().await;
    log_in_player(&page, &server).await;
    expect_visible(&page, "[data-testid=balances-empty]").await;

    start_deposit(&page, &server, "25.00").await;
    click(&page, "button[value=pay]").await;
    expect_visible(&page, "[data-testid=deposit-state][data-state=captured]").await;
    expect_text(
        &page,
        "[data-testid=deposit-state]",
        "25.00 EUR has been credited",
    )
    .await;

    open(&page, &server.url("/wallet")).await;
    expect_text(
        &page,
        "[data-testid=balance-EUR] [data-testid=available]",
        "25.00",
    )
    .await;
    expect_text(&page, "[data-testid=movement]", "Deposit").await;
}

// Proves a declined payment shows as failed with the balance unchanged, and a cancelled checkout
// returns to the cancel page with nothing credited; the deposit list shows both outcomes.
#[tokio::test]
async fn declined_and_cancelled_deposits_credit_nothing() {
    let server = KasaServer::start().await;
    let chromium = Chromium::launch().await;
    let page = chromium.new_page().await;
    log_in_player(&page, &server).await;

    start_deposit(&page, &server, "30.00").await;
    click(&page, "button[value=decline]").await;
    expect_visible(&page, "[data-testid=deposit-state][data-state=failed]").await;
    expect_text(
        &page,
        "[data-testid=deposit-state]",
        "The card was declined",
    )
    .await;

    start_deposit(&page, &server, "40.00").await;
    click(&page, "button[value=cancel]").await;
    expect_visible(&page, "[data-testid=deposit-cancelled]").await;

    open(&page, &server.url("/deposit")).await;
    expect_visible(&page, "[data-testid=deposits] [data-state=failed]").await;
    expect_visible(&page, "[data-testid=deposits] [data-state=expired]").await;
    open(&page, &server.url("/wallet")).await;
    expect_visible(&page, "[data-testid=balances-empty]").await;
}

// Proves the deposit list follows a pending deposit to its outcome without a reload: /deposit
// shows the deposit pending while its checkout is open, the checkout is then paid in another tab,
// and the same document shows it captured.
#[tokio::test]
async fn the_deposit_list_follows_a_pending_deposit() {
    let server = KasaServer::start().await;
    let chromium = Chromium::launch().await;
    let page = chromium.new_page().await;
    log_in_player(&page, &server).await;
    start_deposit(&page, &server, "15.00").await;
    let checkout_url = page.url();

    open(&page, &server.url("/deposit")).await;
    expect_visible(&page, "[data-testid=deposits] [data-state=pending]").await;
    mark_document(&page).await;
    let payer = chromium.new_page().await;
    payer
        .goto(&checkout_url, None)
        .await
        .unwrap_or_else(|error| panic!("opening {checkout_url}: {error}"));
    click(&payer, "button[value=pay]").await;

    expect_visible(&page, "[data-testid=deposits] [data-state=captured]").await;
    assert!(
        document_is_marked(&page).await,
        "the list changed without a reload"
    );
}
