//! The lobby (`/games`): the brand's games, each launched in one of the player's currencies.

use leptos::prelude::*;

use super::api::{LaunchGame, games_lobby};
use super::{GameView, Lobby, RoundView};
use crate::auth::pages::{Gate, gated_page, player_resource};
use crate::components::{FormError, Wait, action_error, error_line, go_to, load_view};
use crate::domain::money::Currency;
use crate::error::AppError;

#[component]
pub fn GamesPage() -> impl IntoView {
    let lobby = player_resource(|| (), |_| games_lobby());
    gated_page(
        Gate::player(
            "Loading the games…",
            "Games are for player accounts; staff use the back office.",
            "Games",
            " to play.",
        ),
        move |_viewer| {
            view! {
                <section class="card" data-testid="lobby">
                    <h1>"Games"</h1>
                    <p class="muted">
                        "Bets and wins move your wallet balance at once. Your loss limits, self-exclusion and reminder apply while you play ("
                        <a href="/account">"limits and account"</a>")."
                    </p>
                    <Games lobby/>
                </section>
            }
        },
    )
}

#[component]
fn Games(lobby: Resource<Result<Lobby, AppError>>) -> impl IntoView {
    load_view(
        lobby,
        Wait::Suspense,
        "Loading the games…",
        error_line,
        |lobby| {
            if lobby.games.is_empty() {
                return view! { <p class="empty" data-testid="games-empty">"No games are offered here yet."</p> }
                .into_any();
            }
            if lobby.currencies.is_empty() {
                return view! {
                <p class="empty" data-testid="games-no-money">
                    "Deposit first: games play with your wallet balance. " <a href="/deposit">"Deposit"</a>
                </p>
            }
            .into_any();
            }
            let currencies = lobby.currencies;
            view! {
            <ul class="games">
                {lobby.games.into_iter().map(|game| view! { <GameCard game currencies=currencies.clone()/> }).collect_view()}
            </ul>
        }
        .into_any()
        },
    )
}

/// A player's rounds, one line each, expanding into its calls; `journal_links` links each call
/// to its journal in the ledger explorer (staff).
#[component]
pub fn RoundsTable(rounds: Vec<RoundView>, journal_links: bool) -> impl IntoView {
    if rounds.is_empty() {
        return view! { <p class="empty" data-testid="rounds-empty">"No game rounds yet."</p> }
            .into_any();
    }
    view! {
        <ul class="rounds" data-testid="rounds">
            {rounds.into_iter().map(|round| view! {
                <li data-testid="round">
                    <details>
                        <summary>
                            <span>{round.started_at.format("%Y-%m-%d %H:%M").to_string()}</span>" "
                            <span>{round.game.clone()}</span>" · "
                            <span>{format!("staked {}, won {}", round.staked, round.won)}</span>
                            {(!round.returned.is_zero()).then(|| format!(", refunded {}", round.returned))}
                            " · "<strong data-testid="round-net">{format!("net {}", round.net)}</strong>
                        </summary>
                        <table class="table">
                            <caption class="muted">{format!("Round {} at {}", round.round_id, round.provider)}</caption>
                            <thead><tr><th scope="col">"When (UTC)"</th><th scope="col">"Call"</th><th scope="col">"Transaction"</th><th scope="col" class="amount">"Amount"</th></tr></thead>
                            <tbody>
                                {round.calls.into_iter().map(|call| view! {
                                    <tr data-testid="round-call">
                                        <td>{call.at.format("%H:%M:%S").to_string()}</td>
                                        <td>{match (journal_links, call.journal_id) {
                                            (true, Some(journal)) => view! {
                                                <a href=format!("/admin/ledger/journals/{journal}")>{call.label()}</a>
                                            }.into_any(),
                                            _ => view! { <span>{call.label()}</span> }.into_any(),
                                        }}</td>
                                        <td><code>{call.tx_id.clone()}</code></td>
                                        <td class="amount">{call.amount.to_string()}</td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                    </details>
                </li>
            }).collect_view()}
        </ul>
    }
    .into_any()
}

#[component]
fn GameCard(game: GameView, currencies: Vec<Currency>) -> impl IntoView {
    let launch = ServerAction::<LaunchGame>::new();
    let error = action_error(launch);
    Effect::new(move || {
        if let Some(Ok(launched)) = launch.value().get() {
            go_to(&launched.url);
        }
    });
    let currency_id = format!("currency-{}-{}", game.provider, game.code);
    let test_id = format!("game-{}", game.code);
    let label = format!("Play {}", game.name);
    view! {
        <li class="game" data-testid=test_id>
            <h2>{game.name.clone()}</h2>
            {game.rtp_percent.clone().map(|rtp| view! { <p class="muted">{format!("Return to player {rtp} %")}</p> })}
            <ActionForm action=launch attr:class="form" attr:aria-label=label>
                <FormError error/>
                <input type="hidden" name="provider" value=game.provider/>
                <input type="hidden" name="code" value=game.code/>
                <label for=currency_id.clone()>"Play in"</label>
                <select id=currency_id name="currency">
                    {currencies.into_iter().map(|currency| view! {
                        <option value=currency.to_string()>{currency.to_string()}</option>
                    }).collect_view()}
                </select>
                <button class="button primary" type="submit" data-testid="game-play" disabled=move || launch.pending().get()>
                    {move || if launch.pending().get() { "Opening…" } else { "Play" }}
                </button>
            </ActionForm>
        </li>
    }
}
