//! The player's withdraw page: what may be withdrawn, the request form, and the player's
//! withdrawals with their state. A request cannot be cancelled by the player (funds requested
//! out are not gambled again); staff approve or reject it.

use leptos::prelude::*;

use super::api::{RequestWithdrawal, load_withdraw_options, my_withdrawals};
use super::{WithdrawOptions, WithdrawalView};
use crate::auth::ViewerKind;
use crate::auth::pages::{player_resource, use_auth};
use crate::components::{ErrorPanel, FieldError, FormError, action_error, action_idempotency_key};
use crate::domain::withdrawal::WithdrawalState;
use crate::error::{AppError, ErrorCode};

/// A state as the player reads it.
fn player_label(state: WithdrawalState) -> &'static str {
    match state {
        WithdrawalState::Requested => "Waiting for approval",
        WithdrawalState::Approved => "Approved",
        WithdrawalState::Paying => "Being paid out",
        WithdrawalState::Paid => "Paid",
        WithdrawalState::Rejected => "Rejected, funds returned",
        WithdrawalState::PayoutFailed => "Payout delayed",
    }
}

/// A state's badge colour class (the player's and the staff pages').
pub(super) fn state_tone(state: WithdrawalState) -> &'static str {
    match state {
        WithdrawalState::Paid => "badge success",
        WithdrawalState::Rejected | WithdrawalState::PayoutFailed => "badge danger",
        WithdrawalState::Requested | WithdrawalState::Approved | WithdrawalState::Paying => {
            "badge warning"
        }
    }
}

#[component]
pub fn WithdrawPage() -> impl IntoView {
    let auth = use_auth();
    // Created here, once, not in the Suspend below (see `player_resource`).
    let action = ServerAction::<RequestWithdrawal>::new();
    // Balances and the list follow every request.
    let options = player_resource(move || action.version().get(), |_| load_withdraw_options());
    let withdrawals = player_resource(move || action.version().get(), |_| my_withdrawals());
    view! {
        <Transition fallback=|| view! { <p class="loading" aria-busy="true">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match auth.viewer.await {
                    Ok(Some(viewer)) if viewer.kind == ViewerKind::Player => view! { <Withdraw action options withdrawals/> }.into_any(),
                    Ok(Some(_)) => view! {
                        <ErrorPanel error=AppError::new(ErrorCode::Forbidden, "Withdrawals are for player accounts.")/>
                    }.into_any(),
                    Ok(None) => view! {
                        <section class="card narrow">
                            <h1>"Withdraw"</h1>
                            <p>"Please " <a href="/login">"log in"</a> " to withdraw."</p>
                        </section>
                    }.into_any(),
                    Err(error) => view! { <ErrorPanel error/> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn Withdraw(
    action: ServerAction<RequestWithdrawal>,
    options: Resource<Result<WithdrawOptions, AppError>>,
    withdrawals: Resource<Result<Vec<WithdrawalView>, AppError>>,
) -> impl IntoView {
    let key = action_idempotency_key(action);
    let error = action_error(action);
    view! {
        <section class="card narrow" data-testid="withdraw">
            <h1>"Withdraw"</h1>
            <Transition fallback=|| view! { <p class="loading" aria-busy="true">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match options.await {
                        Ok(options) if options.balances.is_empty() => view! {
                            <p class="empty" data-testid="nothing-to-withdraw">"You have no funds to withdraw yet."</p>
                        }.into_any(),
                        Ok(options) => view! { <WithdrawForm options action key error/> }.into_any(),
                        Err(error) => view! { <p class="form-error" role="alert" data-code=error.code.as_str()>{error.message}</p> }.into_any(),
                    }
                })}
            </Transition>
            {move || action.value().get().and_then(Result::ok).map(|withdrawal| view! {
                <p class="result" role="status" data-testid="withdraw-result">
                    "Withdrawal of " {withdrawal.amount.to_string()} " requested. The amount is held until it is paid out or rejected."
                </p>
            })}
        </section>
        <section class="card">
            <h2>"Your withdrawals"</h2>
            <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match withdrawals.await {
                        Ok(list) if list.is_empty() => view! {
                            <p class="empty" data-testid="withdrawals-empty">"No withdrawals yet."</p>
                        }.into_any(),
                        Ok(list) => view! { <WithdrawalList list/> }.into_any(),
                        Err(error) => view! { <p class="form-error" role="alert">{error.message}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn WithdrawForm(
    options: WithdrawOptions,
    action: ServerAction<RequestWithdrawal>,
    key: RwSignal<String>,
    error: Signal<Option<AppError>>,
) -> impl IntoView {
    view! {
        <div class="balances">
            {options.balances.iter().map(|balance| view! {
                <div class="balance" data-testid=format!("withdrawable-{}", balance.currency)>
                    <span class="balance-currency">{balance.currency.to_string()}</span>
                    <span class="balance-label">"Available"</span>
                    <strong class="balance-amount" data-testid="available">{balance.available.format_amount()}</strong>
                    <span class="balance-label">"Held for withdrawals"</span>
                    <span class="balance-amount" data-testid="held">{balance.held.format_amount()}</span>
                </div>
            }).collect_view()}
        </div>
        <ActionForm action=action attr:class="form" attr:aria-label="Withdraw">
            <FormError error/>
            <input type="hidden" name="idempotency_key" prop:value=move || key.get()/>
            <label for="amount">"Amount"</label>
            <div class="amount-row">
                <input id="amount" name="amount" type="text" inputmode="decimal" autocomplete="off"
                    required placeholder="50.00" pattern="[0-9]+([.][0-9]+)?"/>
                <select name="currency" aria-label="Currency">
                    {options.balances.iter().map(|balance| view! {
                        <option value=balance.currency.to_string()>{balance.currency.to_string()}</option>
                    }).collect_view()}
                </select>
            </div>
            <FieldError error field="amount"/>
            <p class="muted">
                {format!("Between {} and {} per withdrawal. ", options.amount_min, options.amount_max)}
                "Once requested, a withdrawal cannot be cancelled; our team reviews it before it is paid out."
            </p>
            <button class="button primary" type="submit" data-testid="withdraw-submit"
                disabled=move || action.pending().get() || key.with(String::is_empty)>
                {move || if action.pending().get() { "Requesting…" } else { "Request withdrawal" }}
            </button>
        </ActionForm>
    }
}

#[component]
fn WithdrawalList(list: Vec<WithdrawalView>) -> impl IntoView {
    view! {
        <div class="table-wrap">
            <table class="table" data-testid="withdrawals">
                <thead><tr><th>"Requested"</th><th>"State"</th><th class="amount">"Amount"</th></tr></thead>
                <tbody>
                    {list.into_iter().map(|withdrawal| view! {
                        <tr data-testid="withdrawal-row" data-state=withdrawal.state.as_str()>
                            <td>{withdrawal.created_at.format("%Y-%m-%d %H:%M").to_string()}</td>
                            <td>
                                <span class=state_tone(withdrawal.state) data-state=withdrawal.state.as_str()>{player_label(withdrawal.state)}</span>
                                {withdrawal.reject_reason.map(|reason| view! { <span class="muted">" " {reason}</span> })}
                            </td>
                            <td class="amount">{withdrawal.amount.to_string()}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}
