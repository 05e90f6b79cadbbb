//! Play in a real browser: a player deposits, opens the lobby, plays the demo studio's dice game
//! for several rounds (each round's bet and win go through the signed game wallet over HTTP),
//! and sees the rounds in the wallet; finance sees the game revenue and a passing integrity check.

mod common;

use common::{
    Chromium, KasaServer, click, deposit_paid, expect_text, expect_visible, log_in_player,
    log_in_staff, open,
};

/// The demo page's balance, in cents, and the payouts of the rounds it lists.
async fn dice_state(page: &playwright_rs::Page) -> (i64, Vec<String>) {
    let balance = page
        .locator("[data-testid=dice-balance]")
        .inner_text()
        .await
        .unwrap();
    let cents = |text: &str| -> i64 {
        let amount = text.split_whitespace().next().unwrap().replace('.', "");
        amount.parse().unwrap()
    };
    let outcomes = page
        .locator("[data-testid=dice-round] td:nth-child(4)")
        .all_inner_texts()
        .await
        .unwrap();
    (cents(&balance), outcomes)
}

// Proves a player can deposit 50.00, open Kasa Dice from the lobby and play four rounds of 2.00,
// the balance moving by the stake on every round and by twice the stake on every win, with the
// bets and wins in the wallet history; finance then sees the game revenue on the figures page,
// equal to what the player lost, and the integrity check passes.
#[tokio::test]
async fn a_player_deposits_plays_and_finance_sees_the_revenue() {
    let server = KasaServer::start().await;
    let chromium = Chromium::launch().await;
    let page = chromium.new_page().await;
    log_in_player(&page, &server).await;
    deposit_paid(&page, &server, "50.00").await;

    open(&page, &server.url("/games")).await;
    expect_visible(&page, "[data-testid=game-kasa_dice]").await;
    click(
        &page,
        "[data-testid=game-kasa_dice] [data-testid=game-play]",
    )
    .await;
    expect_text(&page, "[data-testid=dice-balance]", "50.00 EUR").await;

    let mut expected = 5_000;
    for round in 1..=4 {
        page.locator("#stake")
            .select_option("200", None::<playwright_rs::protocol::SelectOptions>)
            .await
            .unwrap();
        click(&page, "[data-testid=dice-roll]").await;
        expect_visible(&page, "[data-testid=dice-result]").await;
        let (balance, outcomes) = dice_state(&page).await;
        assert_eq!(outcomes.len(), round, "{outcomes:?}");
        expected -= 200;
        if outcomes[0] == "won" {
            expected += 400;
        } else {
            assert_eq!(outcomes[0], "lost");
        }
        assert_eq!(balance, expected, "after round {round}: {outcomes:?}");
    }
    let (_, outcomes) = dice_state(&page).await;
    let wins = outcomes.iter().filter(|outcome| *outcome == "won").count();

    open(&page, &server.url("/wallet")).await;
    let available = format!("{}.{:02}", expected / 100, expected % 100);
    expect_text(
        &page,
        "[data-testid=balance-EUR] [data-testid=available]",
        &available,
    )
    .await;
    let movements = page
        .locator("[data-testid=movement]")
        .all_inner_texts()
        .await
        .unwrap();
    let count = |what: &str| movements.iter().filter(|text| text.contains(what)).count();
    assert_eq!((count("Bet"), count("Win")), (4, wins), "{movements:#?}");
    // The rounds, one line each, open into their calls.
    let rounds = page
        .locator("[data-testid=wallet-rounds] [data-testid=round]")
        .all_inner_texts()
        .await
        .unwrap();
    assert_eq!(rounds.len(), 4, "{rounds:#?}");
    let newest = "[data-testid=wallet-rounds] [data-testid=round]:first-child";
    click(&page, &format!("{newest} summary")).await;
    expect_text(
        &page,
        &format!("{newest} [data-testid=round-call]:first-child"),
        "Bet",
    )
    .await;

    let finance = chromium.new_page().await;
    log_in_staff(&finance, &server, "finance@demo.kasa.test").await;
    open(&finance, &server.url("/admin/figures")).await;
    let revenue = 5_000 - expected;
    let shown = format!(
        "{}{}.{:02}",
        if revenue < 0 { "-" } else { "" },
        revenue.abs() / 100,
        revenue.abs() % 100
    );
    expect_text(&finance, "[data-testid=figure-game-revenue]", &shown).await;
    click(
        &finance,
        "[data-testid=figures-integrity] button[type=submit]",
    )
    .await;
    expect_text(&finance, "[data-testid=figures-integrity-result]", "passed").await;
}
