//! The wallet page: the player's balances and the history of ledger movements, page by page.

use leptos::prelude::*;

use super::api::{wallet_balances, wallet_history};
use super::{MovementPage, WalletBalance, describe_kind};
use crate::auth::pages::{Gate, gated_page, player_resource};
use crate::components::{Wait, error_line, load_view};
use crate::error::AppError;

#[component]
pub fn WalletPage() -> impl IntoView {
    // Created here, once, not in the Suspend below (see `player_resource`); older history pages
    // are loaded in the browser when asked for.
    let balances = player_resource(|| (), |_| wallet_balances());
    let first_history_page = player_resource(|| (), |_| wallet_history(None, None));
    let rounds = player_resource(|| (), |_| crate::games::api::game_rounds());
    gated_page(
        Gate::player(
            "Loading your wallet…",
            "The wallet is for player accounts; staff use the back office.",
            "Your wallet",
            " to see your wallet.",
        ),
        move |viewer| {
            view! {
                <section class="card" data-testid="wallet">
                    <h1>"Your wallet"</h1>
                    <p class="muted">
                        "Signed in as " <strong data-testid="viewer-email">{viewer.email.clone()}</strong>
                        " at " {viewer.tenant_name.clone()} "."
                    </p>
                    <p class="actions">
                        <a class="button primary" href="/deposit" data-testid="deposit-link">"Deposit"</a>
                        <a class="button" href="/withdraw" data-testid="withdraw-link">"Withdraw"</a>
                        <a class="button ghost" href="/account" data-testid="account-link">"Limits and account"</a>
                    </p>
                    <Balances balances/>
                </section>
                <section class="card" data-testid="wallet-rounds">
                    <h2>"Game rounds"</h2>
                    {load_view(rounds, Wait::Suspense, "Loading your rounds…", error_line, |rounds| view! {
                        <crate::games::pages::RoundsTable rounds journal_links=false/>
                    })}
                </section>
                <History first_page=first_history_page/>
            }
        },
    )
}

#[component]
fn Balances(balances: Resource<Result<Vec<WalletBalance>, AppError>>) -> impl IntoView {
    load_view(
        balances,
        Wait::Suspense,
        "Loading balances…",
        error_line,
        |balances| {
            if balances.is_empty() {
                return view! {
                <p class="empty" data-testid="balances-empty">"No money here yet. Your balance appears after your first deposit."</p>
            }
            .into_any();
            }
            view! {
            <div class="balances">
                {balances.into_iter().map(|balance| view! {
                    <div class="balance" data-testid=format!("balance-{}", balance.currency)>
                        <span class="balance-currency">{balance.currency.to_string()}</span>
                        <span class="balance-label">"Available"</span>
                        <strong class="balance-amount" data-testid="available">{balance.available.format_amount()}</strong>
                        <span class="balance-label">"Held for withdrawals"</span>
                        <span class="balance-amount" data-testid="held">{balance.held.format_amount()}</span>
                    </div>
                }).collect_view()}
            </div>
        }
        .into_any()
        },
    )
}

#[component]
fn History(first_page: Resource<Result<MovementPage, AppError>>) -> impl IntoView {
    // Pages already shown, oldest page last; "Show older" appends the next one.
    let cursors = RwSignal::new(vec![None::<i64>]);
    view! {
        <section class="card">
            <h2>"History"</h2>
            <div class="table-wrap">
                <table class="table" data-testid="history">
                    <thead>
                        <tr>
                            <th>"When"</th><th>"What"</th><th class="hide-small">"Balance"</th>
                            <th class="amount">"Amount"</th><th class="amount hide-small">"Balance after"</th>
                        </tr>
                    </thead>
                    <For each=move || cursors.get() key=|cursor| *cursor let:cursor>
                        <HistoryPage before=cursor first_page on_next=move |next| cursors.update(|pages| {
                            if !pages.contains(&Some(next)) { pages.push(Some(next)) }
                        })/>
                    </For>
                </table>
            </div>
        </section>
    }
}

#[component]
fn HistoryPage(
    before: Option<i64>,
    first_page: Resource<Result<MovementPage, AppError>>,
    on_next: impl Fn(i64) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    // The first page is the page's own resource; older ones exist only in the browser, after
    // "Show older" (never while the server renders).
    let page = match before {
        None => first_page,
        Some(_) => Resource::new(move || before, |before| wallet_history(before, None)),
    };
    view! {
        <Suspense fallback=|| view! { <tbody><tr><td colspan="5" class="loading">"Loading…"</td></tr></tbody> }>
            {move || Suspend::new(async move {
                match page.await {
                    Ok(history) if history.movements.is_empty() && before.is_none() => view! {
                        <tbody><tr><td colspan="5" class="empty" data-testid="history-empty">"No movements yet."</td></tr></tbody>
                    }.into_any(),
                    Ok(history) => {
                        let next = history.next;
                        view! {
                            <tbody>
                                {history.movements.into_iter().map(|movement| view! {
                                    <tr data-testid="movement">
                                        <td>{movement.posted_at.format("%Y-%m-%d %H:%M").to_string()}</td>
                                        <td>{describe_kind(&movement.kind)}</td>
                                        <td class="hide-small">{if movement.held { "Held" } else { "Available" }}</td>
                                        <td class="amount">{movement.amount.to_string()}</td>
                                        <td class="amount hide-small">{movement.balance_after.to_string()}</td>
                                    </tr>
                                }).collect_view()}
                                {next.map(|next| view! {
                                    <tr><td colspan="5">
                                        <button class="button small" on:click=move |_| on_next(next)>"Show older"</button>
                                    </td></tr>
                                })}
                            </tbody>
                        }.into_any()
                    }
                    Err(error) => view! {
                        <tbody><tr><td colspan="5" class="form-error" role="alert">{error.message}</td></tr></tbody>
                    }.into_any(),
                }
            })}
        </Suspense>
    }
}
