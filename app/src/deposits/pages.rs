//! The deposit form, the return page that follows the deposit's state, and the cancel page.

use crate::domain::ids::DepositId;
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use super::api::{StartDeposit, deposit_choices, deposit_status, recent_deposits};
use super::{DepositOptions, DepositState, DepositView};
use crate::auth::pages::{Gate, gated_page, player_resource};
use crate::components::{FieldError, FormError, action_error, action_idempotency_key, go_to};
use crate::error::AppError;

/// How often the return page and the deposit list ask again while a deposit is not final.
const POLL_INTERVAL_MS: u64 = 1000;
/// The deposit list stops asking after this many polls (five minutes); a reload asks again.
const LIST_POLLS_MAX: u32 = 300;

#[component]
pub fn DepositPage() -> impl IntoView {
    // Created here, once, not in the Suspend below (see `player_resource`).
    let options = player_resource(|| (), |_| deposit_choices());
    // The PSP's answer arrives by webhook, after the browser came back: while a listed deposit
    // is not final, the list asks again, so it shows the outcome without a reload.
    let list_polls = RwSignal::new(0_u32);
    let deposits = player_resource(move || list_polls.get(), |_| recent_deposits());
    Effect::new(move |_| {
        if let Some(Ok(list)) = deposits.get()
            && list.iter().any(|deposit| !deposit.state.is_final())
            && list_polls.get_untracked() < LIST_POLLS_MAX
        {
            set_timeout(
                move || list_polls.update(|polls| *polls += 1),
                std::time::Duration::from_millis(POLL_INTERVAL_MS),
            );
        }
    });
    gated_page(
        Gate::player(
            "Loading…",
            "Deposits are for player accounts.",
            "Deposit",
            " to deposit.",
        ),
        move |viewer| {
            match viewer.self_exclusion {
            // The server refuses the deposit anyway; the page says so up front.
            Some(exclusion) => view! {
                <section class="card narrow" data-testid="deposits-excluded">
                    <h1>"Deposit"</h1>
                    <p>"You have excluded yourself " {exclusion.until_text()} ". Deposits are closed until then; you can still withdraw your balance."</p>
                </section>
                <RecentDeposits deposits/>
            }.into_any(),
            None => view! {
                <DepositForm options/>
                <RecentDeposits deposits/>
            }.into_any(),
        }
        },
    )
}

#[component]
fn DepositForm(options: Resource<Result<DepositOptions, AppError>>) -> impl IntoView {
    let action = ServerAction::<StartDeposit>::new();
    let key = action_idempotency_key(action);
    let error = action_error(action);
    // The checkout exists: hand the browser to the PSP's page.
    Effect::new(move |_| {
        if let Some(Ok(started)) = action.value().get() {
            go_to(&started.redirect_url);
        }
    });
    view! {
        <section class="card narrow">
            <h1>"Deposit"</h1>
            <Suspense fallback=|| view! { <p class="loading" aria-busy="true">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match options.await {
                        Ok(options) if options.providers.is_empty() => view! {
                            <p class="empty" data-testid="no-providers">"Deposits are not available right now."</p>
                        }.into_any(),
                        Ok(options) => {
                            let first_provider = options.providers.first().map(|provider| provider.name.clone());
                            view! {
                                <ActionForm action=action attr:class="form" attr:aria-label="Deposit">
                                    <FormError error/>
                                    <input type="hidden" name="idempotency_key" prop:value=move || key.get()/>
                                    <label for="amount">"Amount"</label>
                                    <div class="amount-row">
                                        <input id="amount" name="amount" type="text" inputmode="decimal"
                                            autocomplete="off" required placeholder="25.00" pattern="[0-9]+([.][0-9]+)?"/>
                                        <select name="currency" aria-label="Currency">
                                            {options.currencies.iter().map(|currency| view! {
                                                <option value=currency.to_string()>{currency.to_string()}</option>
                                            }).collect_view()}
                                        </select>
                                    </div>
                                    <FieldError error field="amount"/>
                                    <fieldset class="choices">
                                        <legend>"Pay with"</legend>
                                        {options.providers.into_iter().map(|provider| {
                                            let checked = first_provider.as_deref() == Some(provider.name.as_str());
                                            view! {
                                                <label class="choice">
                                                    <input type="radio" name="provider" value=provider.name.clone() checked=checked/>
                                                    {provider.display_name}
                                                </label>
                                            }
                                        }).collect_view()}
                                    </fieldset>
                                    <FieldError error field="provider"/>
                                    <button class="button primary" type="submit" data-testid="deposit-submit"
                                        disabled=move || action.pending().get() || key.with(String::is_empty)>
                                        {move || if action.pending().get() { "Opening checkout…" } else { "Continue to payment" }}
                                    </button>
                                </ActionForm>
                            }.into_any()
                        }
                        Err(error) => view! { <p class="form-error" role="alert">{error.message}</p> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

#[component]
fn RecentDeposits(deposits: Resource<Result<Vec<DepositView>, AppError>>) -> impl IntoView {
    view! {
        <section class="card">
            <h2>"Recent deposits"</h2>
            // A Transition: the list stays on screen while it is asked again.
            <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match deposits.await {
                        Ok(list) if list.is_empty() => view! {
                            <p class="empty" data-testid="deposits-empty">"No deposits yet."</p>
                        }.into_any(),
                        Ok(list) => view! {
                            <div class="table-wrap">
                                <table class="table" data-testid="deposits">
                                    <thead><tr><th>"When"</th><th>"Via"</th><th>"State"</th><th class="amount">"Amount"</th></tr></thead>
                                    <tbody>
                                        {list.into_iter().map(|deposit| view! {
                                            <tr data-testid="deposit-row">
                                                <td>{deposit.created_at.format("%Y-%m-%d %H:%M").to_string()}</td>
                                                <td>{deposit.provider.clone()}</td>
                                                <td><StateBadge state=deposit.state/></td>
                                                <td class="amount">{deposit.amount.to_string()}</td>
                                            </tr>
                                        }).collect_view()}
                                    </tbody>
                                </table>
                            </div>
                        }.into_any(),
                        Err(error) => view! { <p class="form-error" role="alert">{error.message}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn StateBadge(state: DepositState) -> impl IntoView {
    let tone = match state {
        DepositState::Captured => "badge success",
        DepositState::Failed | DepositState::Expired => "badge danger",
        DepositState::Created | DepositState::Pending => "badge warning",
    };
    view! { <span class=tone data-state=state.as_str()>{state.label()}</span> }
}

/// Where the PSP sends the player back after paying: shows the deposit's state, asking again
/// every second until it is final. It never credits anything: only the PSP's webhook does.
#[component]
pub fn DepositReturnPage() -> impl IntoView {
    let query = use_query_map();
    let deposit_id = move || {
        query.with(|query| {
            query
                .get("deposit")
                .and_then(|id| id.parse::<DepositId>().ok())
        })
    };
    let tick = RwSignal::new(0_u32);
    let status = Resource::new(
        move || (deposit_id(), tick.get()),
        |(deposit_id, _)| async move {
            match deposit_id {
                Some(id) => deposit_status(id).await,
                None => Err(AppError::not_found("Deposit")),
            }
        },
    );
    // While the deposit is not final, ask again shortly.
    Effect::new(move |_| {
        if let Some(Ok(deposit)) = status.get()
            && !deposit.state.is_final()
        {
            set_timeout(
                move || tick.update(|tick| *tick += 1),
                std::time::Duration::from_millis(POLL_INTERVAL_MS),
            );
        }
    });
    view! {
        <section class="card narrow" data-testid="deposit-return">
            <h1>"Your deposit"</h1>
            <Transition fallback=|| view! { <p class="loading" aria-busy="true">"Checking your deposit…"</p> }>
                {move || Suspend::new(async move {
                    match status.await {
                        Ok(deposit) => view! { <DepositOutcome deposit/> }.into_any(),
                        Err(error) => view! {
                            <p class="form-error" role="alert" data-code=error.code.as_str()>{error.message}</p>
                        }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn DepositOutcome(deposit: DepositView) -> impl IntoView {
    let amount = deposit.amount.to_string();
    let message = match deposit.state {
        DepositState::Created | DepositState::Pending => {
            "Waiting for the payment provider to confirm your payment. This page updates by itself."
                .to_owned()
        }
        DepositState::Captured => format!("{amount} has been credited to your wallet."),
        DepositState::Failed => format!(
            "The payment failed: {}. Nothing was charged to your wallet.",
            deposit
                .failure_message
                .clone()
                .unwrap_or_else(|| "the provider declined it".to_owned())
                .trim_end_matches('.')
        ),
        DepositState::Expired => {
            "The checkout expired or was cancelled. Nothing was charged.".to_owned()
        }
    };
    let busy = !deposit.state.is_final();
    view! {
        <div class="deposit-outcome" data-testid="deposit-state" data-state=deposit.state.as_str() aria-live="polite" aria-busy=busy.to_string()>
            <p class="deposit-amount">{amount}</p>
            <StateBadge state=deposit.state/>
            <p>{message}</p>
        </div>
        <p class="actions">
            <a class="button primary" href="/wallet">"Go to your wallet"</a>
            <a class="button" href="/deposit">"Make another deposit"</a>
        </p>
    }
}

/// Where the PSP sends the player who cancelled the checkout.
#[component]
pub fn DepositCancelledPage() -> impl IntoView {
    view! {
        <section class="card narrow" data-testid="deposit-cancelled">
            <h1>"Deposit cancelled"</h1>
            <p>"You cancelled the payment. Nothing was charged and nothing was credited."</p>
            <p class="actions">
                <a class="button primary" href="/deposit">"Try again"</a>
                <a class="button" href="/wallet">"Go to your wallet"</a>
            </p>
        </section>
    }
}
