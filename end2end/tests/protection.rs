//! Player protection in a real browser: a deposit limit set on the Account page refuses a
//! deposit that would break it and says the room left; a self-exclusion shows on every page and
//! refuses deposits; a withdrawal is refused until support staff verify the player's identity on
//! the KYC page, and then goes through.

mod common;

use common::{
    Chromium, KasaServer, click, deposit_paid, expect_text, expect_visible, fill, find_player_kyc,
    log_in_player, log_in_staff, open, submit_deposit, submit_withdrawal, verify_found_player,
};

// Proves a player's daily limit of 50.00 set on the Account page shows there, a 60.00 deposit is
// then refused next to the amount with the 50.00 room left, and after a confirmed 7-day
// self-exclusion the banner shows and the deposit page is closed.
#[tokio::test]
async fn daily_limit_and_self_exclusion_refuse_deposits() {
    let server = KasaServer::start().await;
    let chromium = Chromium::launch().await;
    let page = chromium.new_page().await;
    log_in_player(&page, &server).await;

    open(&page, &server.url("/account")).await;
    expect_visible(&page, "[data-testid=limits-empty]").await;
    fill(&page, "#limit-amount", "50.00").await;
    click(&page, "[data-testid=limit-submit]").await;
    expect_text(
        &page,
        "[data-testid=limit-day] [data-testid=limit-amount]",
        "50.00 EUR",
    )
    .await;
    expect_text(
        &page,
        "[data-testid=limit-day] [data-testid=limit-remaining]",
        "50.00 EUR",
    )
    .await;

    submit_deposit(&page, &server, "60.00").await;
    let refusal = ".field-error[data-code=deposit_limit_exceeded]";
    expect_text(&page, refusal, "daily deposit limit of 50.00 EUR").await;
    expect_text(&page, refusal, "You can deposit up to 50.00 EUR more").await;

    open(&page, &server.url("/account")).await;
    click(&page, "[data-testid=exclusion-7d]").await;
    expect_text(&page, "[data-testid=exclusion-warning]", "cannot be undone").await;
    click(&page, "[data-testid=exclusion-confirm]").await;
    click(&page, "[data-testid=exclusion-submit]").await;
    expect_text(
        &page,
        "[data-testid=exclusion-active]",
        "You have excluded yourself until",
    )
    .await;

    // The deposit page offers no form while excluded (the server refuses one anyway: see the
    // protection server tests).
    open(&page, &server.url("/deposit")).await;
    expect_visible(&page, "[data-testid=exclusion-banner]").await;
    expect_text(
        &page,
        "[data-testid=deposits-excluded]",
        "you can still withdraw your balance",
    )
    .await;
}

// Proves a funded but unverified player's withdrawal is refused with the KYC message; support
// staff find the player on the KYC page and move them through pending to verified with a note;
// the same withdrawal then goes through and holds the amount.
#[tokio::test]
async fn withdrawal_goes_through_once_staff_verify_identity() {
    let server = KasaServer::start().await;
    let chromium = Chromium::launch().await;
    let player = chromium.new_page().await;
    let support = chromium.new_page().await;

    log_in_player(&player, &server).await;
    deposit_paid(&player, &server, "100.00").await;

    open(&player, &server.url("/withdraw")).await;
    fill(&player, "#amount", "30.00").await;
    click(&player, "[data-testid=withdraw-submit]").await;
    expect_text(
        &player,
        ".form-error[data-code=kyc_required]",
        "Withdrawals need a verified identity",
    )
    .await;

    log_in_staff(&support, &server, "support@demo.kasa.test").await;
    find_player_kyc(&support, &server).await;
    expect_visible(&support, "[data-testid=kyc-state][data-state=unverified]").await;
    verify_found_player(&support, "passport and proof of address checked").await;
    expect_text(
        &support,
        "[data-testid=kyc-history]",
        "passport and proof of address checked",
    )
    .await;

    open(&player, &server.url("/account")).await;
    expect_visible(&player, "[data-testid=kyc-state][data-state=verified]").await;
    open(&player, &server.url("/withdraw")).await;
    submit_withdrawal(&player, "30.00").await;
    expect_text(
        &player,
        "[data-testid=withdrawable-EUR] [data-testid=available]",
        "70.00",
    )
    .await;
    expect_text(
        &player,
        "[data-testid=withdrawable-EUR] [data-testid=held]",
        "30.00",
    )
    .await;
    expect_visible(
        &player,
        "[data-testid=withdrawal-row][data-state=requested]",
    )
    .await;
}
