//! The player's Account page: KYC state, deposit limits (set, lower, raise, remove, with pending
//! increases shown) and self-exclusion with a confirmation. And the staff KYC page (`/admin/kyc`):
//! find a player by email, see their KYC history, limits and self-exclusion, and move their KYC
//! state on with a note; staff can see a self-exclusion but nothing here can shorten it.

use leptos::prelude::*;

use super::api::{ExcludeMyself, FindPlayerKyc, SetDepositLimit, SetKycState, load_account};
use super::{
    AccountOverview, DepositLimitView, ExclusionPeriod, KYC_NOTE_LENGTH_MAX, KycState, LimitPeriod,
    PlayerProtectionView,
};
use crate::auth::pages::{Gate, gated_page, player_resource};
use crate::components::{FieldError, FormError, Wait, action_error, error_panel, load_view};
use crate::domain::money::Currency;
use crate::error::AppError;

/// The currencies a limit may be set in before the first one fixes it.
const LIMIT_CURRENCIES: [Currency; 5] = [
    Currency::Eur,
    Currency::Usd,
    Currency::Gbp,
    Currency::Try,
    Currency::Jpy,
];

#[component]
pub fn AccountPage() -> impl IntoView {
    // Created here, once, not in the Suspend below (see `player_resource`).
    let set_limit = ServerAction::<SetDepositLimit>::new();
    let exclude = ServerAction::<ExcludeMyself>::new();
    // Read again after every change, so the page always shows what the server decided.
    let account = player_resource(
        move || (set_limit.version().get(), exclude.version().get()),
        |_| load_account(),
    );
    gated_page(
        Gate::player(
            "Loading your account…",
            "The account page is for player accounts; staff use the back office.",
            "Your account",
            " to see your account.",
        ),
        move |_| view! { <Account account set_limit exclude/> },
    )
}

#[component]
fn Account(
    account: Resource<Result<AccountOverview, AppError>>,
    set_limit: ServerAction<SetDepositLimit>,
    exclude: ServerAction<ExcludeMyself>,
) -> impl IntoView {
    load_view(
        account,
        Wait::Transition,
        "Loading…",
        error_panel,
        move |account| {
            view! {
                <Verification account=account.clone()/>
                <Limits account=account.clone() action=set_limit/>
                <Exclusion account action=exclude/>
            }
        },
    )
}

#[component]
fn Verification(account: AccountOverview) -> impl IntoView {
    let rules = account.rules;
    view! {
        <section class="card" data-testid="account-kyc">
            <h1>"Your account"</h1>
            <dl class="facts">
                <dt>"Identity"</dt>
                <dd><KycBadge state=account.kyc/></dd>
            </dl>
            <p class="muted">
                {rules.kyc_required_for_withdrawal.then_some("Withdrawals need a verified identity. ")}
                {format!(
                    "Deposits beyond a total of {} in one currency need a verified identity too. Our support team verifies your documents.",
                    rules.kyc_deposit_threshold_major
                )}
            </p>
        </section>
    }
}

#[component]
fn Limits(account: AccountOverview, action: ServerAction<SetDepositLimit>) -> impl IntoView {
    let error = action_error(action);
    let cooldown_hours = account.rules.limit_increase_cooldown_hours;
    let currencies: Vec<Currency> = match account.limit_currency {
        Some(currency) => vec![currency],
        None => LIMIT_CURRENCIES.to_vec(),
    };
    view! {
        <section class="card" data-testid="account-limits">
            <h2>"Deposit limits"</h2>
            <p class="muted">{format!(
                "Limits count every deposit that is not failed or expired over a rolling window. Lowering a limit applies at once; raising or removing one takes effect after {cooldown_hours} hours."
            )}</p>
            {if account.limits.is_empty() {
                view! { <p class="empty" data-testid="limits-empty">"No deposit limits set."</p> }.into_any()
            } else {
                view! { <LimitTable limits=account.limits/> }.into_any()
            }}
            <ActionForm action=action attr:class="form" attr:aria-label="Deposit limit">
                <FormError error/>
                <label for="limit-period">"Limit"</label>
                <select id="limit-period" name="period">
                    {LimitPeriod::ALL.into_iter().map(|period| view! {
                        <option value=period.as_str()>{format!("Per {} (rolling {})", period.as_str(), period.window_label())}</option>
                    }).collect_view()}
                </select>
                <label for="limit-amount">"Amount"</label>
                <div class="amount-row">
                    <input id="limit-amount" name="amount" type="text" inputmode="decimal" autocomplete="off"
                        placeholder="50.00" pattern="[0-9]+([.][0-9]+)?"/>
                    <select name="currency" aria-label="Currency">
                        {currencies.into_iter().map(|currency| view! {
                            <option value=currency.to_string()>{currency.to_string()}</option>
                        }).collect_view()}
                    </select>
                </div>
                <p class="hint">"Leave the amount empty to remove the limit."</p>
                <FieldError error field="amount"/>
                <FieldError error field="currency"/>
                <button class="button primary" type="submit" data-testid="limit-submit" disabled=move || action.pending().get()>
                    {move || if action.pending().get() { "Saving…" } else { "Save limit" }}
                </button>
            </ActionForm>
        </section>
    }
}

#[component]
fn LimitTable(limits: Vec<DepositLimitView>) -> impl IntoView {
    view! {
        <div class="table-wrap">
            <table class="table" data-testid="limits">
                <thead>
                    <tr>
                        <th>"Period"</th><th class="amount">"Limit"</th><th class="amount">"Used"</th>
                        <th class="amount">"Left"</th><th>"Change waiting"</th>
                    </tr>
                </thead>
                <tbody>
                    {limits.into_iter().map(|limit| {
                        let pending = limit.pending.map(|pending| {
                            let when = pending.effective_at.format("%Y-%m-%d %H:%M UTC");
                            match pending.amount {
                                Some(amount) => format!("Rises to {amount} on {when}"),
                                None => format!("Removed on {when}"),
                            }
                        });
                        view! {
                            <tr data-testid=format!("limit-{}", limit.period.as_str())>
                                <td>{limit.period.adjective()}</td>
                                <td class="amount" data-testid="limit-amount">{limit.limit.to_string()}</td>
                                <td class="amount">{limit.used.to_string()}</td>
                                <td class="amount" data-testid="limit-remaining">{limit.remaining.to_string()}</td>
                                <td data-testid="limit-pending">{pending.unwrap_or_else(|| "–".to_owned())}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

#[component]
fn Exclusion(account: AccountOverview, action: ServerAction<ExcludeMyself>) -> impl IntoView {
    let error = action_error(action);
    let chosen = RwSignal::new(None::<ExclusionPeriod>);
    let current = account.self_exclusion.clone();
    let indefinite = current
        .as_ref()
        .is_some_and(|exclusion| exclusion.ends_at.is_none());
    view! {
        <section class="card" data-testid="account-exclusion">
            <h2>"Take a break"</h2>
            {match &current {
                Some(exclusion) => view! {
                    <p class="form-error" role="status" data-testid="exclusion-active">
                        {format!(
                            "You have excluded yourself {}. Deposits and play are closed; you can still withdraw your balance.",
                            exclusion.until_text()
                        )}
                    </p>
                }.into_any(),
                None => view! {
                    <p class="muted">"Exclude yourself from deposits and play for a while. You can still withdraw your balance. An exclusion cannot be shortened or cancelled, by you or by us."</p>
                }.into_any(),
            }}
            {(!indefinite).then(|| view! {
                <ActionForm action=action attr:class="form" attr:aria-label="Self-exclusion">
                    <FormError error/>
                    <fieldset class="choices">
                        <legend>{if current.is_some() { "Extend my exclusion to" } else { "Exclude me for" }}</legend>
                        {ExclusionPeriod::ALL.into_iter().map(|period| view! {
                            <label class="choice">
                                <input type="radio" name="period" value=period.as_str() required
                                    data-testid=format!("exclusion-{}", period.as_str())
                                    on:change=move |_| chosen.set(Some(period))/>
                                {period.label()}
                            </label>
                        }).collect_view()}
                    </fieldset>
                    {move || chosen.get().map(|period| view! {
                        <p class="form-error" role="alert" data-testid="exclusion-warning">
                            {match period {
                                ExclusionPeriod::Indefinite => "You will not be able to deposit or play again. ".to_owned(),
                                _ => format!("You will not be able to deposit or play for {}. ", period.label()),
                            }}
                            "This cannot be undone or shortened."
                        </p>
                    })}
                    <label class="choice">
                        <input type="checkbox" name="confirm" value="yes" required data-testid="exclusion-confirm"/>
                        "I understand, and I want to exclude myself."
                    </label>
                    <button class="button danger" type="submit" data-testid="exclusion-submit" disabled=move || action.pending().get()>
                        {move || if action.pending().get() { "Saving…" } else { "Exclude me" }}
                    </button>
                </ActionForm>
            })}
        </section>
    }
}

#[component]
pub fn StaffKycPage() -> impl IntoView {
    view! {
        <crate::backoffice::pages::BackofficeNav current="/admin/kyc"/>
        {gated_page(
        Gate {
            admits: |viewer| viewer.staff_role().is_some(),
            loading: "Loading…",
            forbidden: "This page is for staff accounts.",
            title: "Identity verification",
            log_in: ("/admin/login", "log in with your staff account", "."),
        },
        move |_| view! { <KycSearch/> },
    )}
    }
}

#[component]
fn KycSearch() -> impl IntoView {
    let find = ServerAction::<FindPlayerKyc>::new();
    let set = ServerAction::<SetKycState>::new();
    // The player on screen: the latest search result, replaced by the answer to each decision.
    let shown = RwSignal::new(None::<PlayerProtectionView>);
    Effect::new(move |_| {
        if let Some(Ok(player)) = find.value().get() {
            shown.set(Some(player));
        }
    });
    Effect::new(move |_| {
        if let Some(Ok(player)) = set.value().get() {
            shown.set(Some(player));
        }
    });
    let find_error = action_error(find);
    view! {
        <section class="card" data-testid="staff-kyc">
            <h1>"Identity verification"</h1>
            <p class="muted">"Find a player by email to see and change their KYC state. Self-exclusions are shown here; only time ends them."</p>
            <ActionForm action=find attr:class="form" attr:aria-label="Find a player">
                <FormError error=find_error/>
                <label for="kyc-email">"Player email"</label>
                <input id="kyc-email" name="email" type="email" required/>
                <FieldError error=find_error field="email"/>
                <button class="button" type="submit" data-testid="kyc-find" disabled=move || find.pending().get()>"Find"</button>
            </ActionForm>
        </section>
        {move || shown.get().map(|player| view! { <PlayerProtection player set/> })}
    }
}

#[component]
fn PlayerProtection(player: PlayerProtectionView, set: ServerAction<SetKycState>) -> impl IntoView {
    let error = action_error(set);
    let next = player.kyc.next_states();
    view! {
        <section class="card" data-testid="kyc-player">
            <h2>{player.display_name.clone()} " " <span class="muted">{player.email.clone()}</span></h2>
            <dl class="facts">
                <dt>"KYC"</dt>
                <dd><KycBadge state=player.kyc/></dd>
                <dt>"Self-exclusion"</dt>
                <dd data-testid="kyc-exclusion">{match &player.self_exclusion {
                    Some(exclusion) => format!("Excluded {} (chosen {})", exclusion.until_text(), exclusion.period.label().to_lowercase()),
                    None => "None".to_owned(),
                }}</dd>
                <dt>"Deposit limits"</dt>
                <dd>{if player.limits.is_empty() {
                    "None".to_owned()
                } else {
                    player.limits.iter().map(|limit| format!("{} {}", limit.period.adjective(), limit.limit)).collect::<Vec<_>>().join(", ")
                }}</dd>
            </dl>
            {if next.is_empty() {
                view! { <p class="muted">"Verified players need no further decision."</p> }.into_any()
            } else {
                view! {
                    <ActionForm action=set attr:class="form" attr:aria-label="KYC decision">
                        <FormError error/>
                        <input type="hidden" name="player_id" value=player.player_id.to_string()/>
                        <fieldset class="choices">
                            <legend>"New state"</legend>
                            {next.iter().enumerate().map(|(index, state)| view! {
                                <label class="choice">
                                    <input type="radio" name="state" value=state.as_str() checked=index == 0
                                        data-testid=format!("kyc-state-{}", state.as_str())/>
                                    {state.label()}
                                </label>
                            }).collect_view()}
                        </fieldset>
                        <label for="kyc-note">"Note"</label>
                        <textarea id="kyc-note" name="note" required maxlength=KYC_NOTE_LENGTH_MAX></textarea>
                        <FieldError error field="note"/>
                        <button class="button primary" type="submit" data-testid="kyc-submit" disabled=move || set.pending().get()>
                            {move || if set.pending().get() { "Saving…" } else { "Save decision" }}
                        </button>
                    </ActionForm>
                }.into_any()
            }}
            <h3>"History"</h3>
            {if player.kyc_history.is_empty() {
                view! { <p class="empty">"No decisions yet."</p> }.into_any()
            } else {
                view! {
                    <div class="table-wrap">
                        <table class="table" data-testid="kyc-history">
                            <thead><tr><th>"When"</th><th>"Change"</th><th>"By"</th><th>"Note"</th></tr></thead>
                            <tbody>
                                {player.kyc_history.into_iter().map(|review| view! {
                                    <tr>
                                        <td>{review.at.format("%Y-%m-%d %H:%M").to_string()}</td>
                                        <td>{review.from.as_str()} " → " {review.to.as_str()}</td>
                                        <td>{review.staff_name}</td>
                                        <td class="note">{review.note}</td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                }.into_any()
            }}
        </section>
    }
}

/// A KYC state as a coloured badge.
#[component]
pub fn KycBadge(state: KycState) -> impl IntoView {
    let tone = match state {
        KycState::Verified => "badge success",
        KycState::Rejected => "badge danger",
        KycState::Pending => "badge warning",
        KycState::Unverified => "badge",
    };
    view! { <span class=tone data-testid="kyc-state" data-state=state.as_str()>{state.label()}</span> }
}
