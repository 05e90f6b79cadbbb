//! The player's Account page: KYC state, deposit and loss limits (set, lower, raise, remove, with
//! pending increases shown; one form and table for both kinds), the play reminder and
//! self-exclusion with a confirmation. And the staff KYC page (`/admin/kyc`):
//! find a player by email, see their KYC history, limits and self-exclusion, and move their KYC
//! state on with a note; staff can see a self-exclusion but nothing here can shorten it.

use leptos::prelude::*;

use super::api::{
    ExcludeMyself, FindPlayerKyc, SetDepositLimit, SetKycState, SetLossLimit, SetPlayReminder,
    load_account,
};
use super::{
    AccountOverview, ExclusionPeriod, KYC_NOTE_LENGTH_MAX, KycState, LimitKind, LimitPeriod,
    LimitView, PlayerProtectionView,
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

/// The reminder intervals the Account page offers, in minutes (the server accepts any within
/// `PLAY_REMINDER_MINUTES_MIN..=PLAY_REMINDER_MINUTES_MAX`).
const PLAY_REMINDER_CHOICES_MINUTES: [u32; 4] = [15, 30, 60, 120];

/// The Account page's actions, created once by the page and handed to the sections.
#[derive(Clone, Copy)]
struct AccountActions {
    set_deposit_limit: ServerAction<SetDepositLimit>,
    set_loss_limit: ServerAction<SetLossLimit>,
    set_reminder: ServerAction<SetPlayReminder>,
    exclude: ServerAction<ExcludeMyself>,
}

/// One kind's limit form: the two server functions take the same fields, so the form and table
/// are shared and only the action they post to differs.
#[derive(Clone, Copy)]
enum LimitAction {
    Deposit(ServerAction<SetDepositLimit>),
    Loss(ServerAction<SetLossLimit>),
}

impl LimitAction {
    fn kind(self) -> LimitKind {
        match self {
            LimitAction::Deposit(_) => LimitKind::Deposit,
            LimitAction::Loss(_) => LimitKind::Loss,
        }
    }

    fn error(self) -> Signal<Option<AppError>> {
        match self {
            LimitAction::Deposit(action) => action_error(action),
            LimitAction::Loss(action) => action_error(action),
        }
    }

    fn pending(self) -> Signal<bool> {
        match self {
            LimitAction::Deposit(action) => action.pending().into(),
            LimitAction::Loss(action) => action.pending().into(),
        }
    }
}

/// A test id or element id for one kind's section: the deposit limits keep their plain names
/// (the browser tests use them), the loss limits' are prefixed.
fn limit_id(kind: LimitKind, name: &str) -> String {
    match kind {
        LimitKind::Deposit => name.to_owned(),
        LimitKind::Loss => format!("loss-{name}"),
    }
}

#[component]
pub fn AccountPage() -> impl IntoView {
    // Created here, once, not in the Suspend below (see `player_resource`).
    let actions = AccountActions {
        set_deposit_limit: ServerAction::new(),
        set_loss_limit: ServerAction::new(),
        set_reminder: ServerAction::new(),
        exclude: ServerAction::new(),
    };
    // Read again after every change, so the page always shows what the server decided.
    let account = player_resource(
        move || {
            (
                actions.set_deposit_limit.version().get(),
                actions.set_loss_limit.version().get(),
                actions.set_reminder.version().get(),
                actions.exclude.version().get(),
            )
        },
        |_| load_account(),
    );
    gated_page(
        Gate::player(
            "Loading your account…",
            "The account page is for player accounts; staff use the back office.",
            "Your account",
            " to see your account.",
        ),
        move |_| view! { <Account account actions/> },
    )
}

#[component]
fn Account(
    account: Resource<Result<AccountOverview, AppError>>,
    actions: AccountActions,
) -> impl IntoView {
    load_view(
        account,
        Wait::Transition,
        "Loading…",
        error_panel,
        move |account| {
            let cooldown_hours = account.rules.limit_increase_cooldown_hours;
            view! {
                <Verification account=account.clone()/>
                <Limits
                    action=LimitAction::Deposit(actions.set_deposit_limit)
                    currency=account.limit_currency
                    limits=account.limits.clone()
                    cooldown_hours
                />
                <Limits
                    action=LimitAction::Loss(actions.set_loss_limit)
                    currency=account.loss_limit_currency
                    limits=account.loss_limits.clone()
                    cooldown_hours
                />
                <Reminder minutes=account.play_reminder_minutes action=actions.set_reminder/>
                <Exclusion account action=actions.exclude/>
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

/// One kind's limits: what is set, and the form that sets, lowers, raises or removes one.
#[component]
fn Limits(
    action: LimitAction,
    /// The currency the kind's limits are in, once one is set; the form then offers only it.
    currency: Option<Currency>,
    limits: Vec<LimitView>,
    cooldown_hours: i64,
) -> impl IntoView {
    let kind = action.kind();
    let error = action.error();
    let pending = action.pending();
    let currencies: Vec<Currency> = match currency {
        Some(currency) => vec![currency],
        None => LIMIT_CURRENCIES.to_vec(),
    };
    let (title, label, counts) = match kind {
        LimitKind::Deposit => (
            "Deposit limits",
            "Deposit limit",
            "Limits count every deposit that is not failed or expired over a rolling window.",
        ),
        LimitKind::Loss => (
            "Loss limits",
            "Loss limit",
            "Limits count your net loss over a rolling window: your bets minus your wins (and bets cancelled by the game). While a bet would take you past a limit, the game refuses it.",
        ),
    };
    let period_id = limit_id(kind, "limit-period");
    let amount_id = limit_id(kind, "limit-amount");
    let fields = view! {
        <FormError error/>
        <label for=period_id.clone()>"Limit"</label>
        <select id=period_id name="period">
            {LimitPeriod::ALL.into_iter().map(|period| view! {
                <option value=period.as_str()>{format!("Per {} (rolling {})", period.as_str(), period.window_label())}</option>
            }).collect_view()}
        </select>
        <label for=amount_id.clone()>"Amount"</label>
        <div class="amount-row">
            <input id=amount_id name="amount" type="text" inputmode="decimal" autocomplete="off"
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
        <button class="button primary" type="submit" data-testid=limit_id(kind, "limit-submit") disabled=move || pending.get()>
            {move || if pending.get() { "Saving…" } else { "Save limit" }}
        </button>
    };
    let form = match action {
        LimitAction::Deposit(action) => view! {
            <ActionForm action attr:class="form" attr:aria-label=label>{fields}</ActionForm>
        }
        .into_any(),
        LimitAction::Loss(action) => view! {
            <ActionForm action attr:class="form" attr:aria-label=label>{fields}</ActionForm>
        }
        .into_any(),
    };
    view! {
        <section class="card" data-testid=limit_id(kind, "account-limits")>
            <h2>{title}</h2>
            <p class="muted">{format!(
                "{counts} Lowering a limit applies at once; raising or removing one takes effect after {cooldown_hours} hours."
            )}</p>
            {if limits.is_empty() {
                view! {
                    <p class="empty" data-testid=limit_id(kind, "limits-empty")>{format!("No {} limits set.", kind.noun())}</p>
                }.into_any()
            } else {
                view! { <LimitTable kind limits/> }.into_any()
            }}
            {form}
        </section>
    }
}

/// The play reminder: off, or one of a few intervals, shown as currently chosen.
#[component]
fn Reminder(minutes: Option<u32>, action: ServerAction<SetPlayReminder>) -> impl IntoView {
    let error = action_error(action);
    // A value set some other way than this page (any within the bounds) stays selectable.
    let mut choices = PLAY_REMINDER_CHOICES_MINUTES.to_vec();
    if let Some(current) = minutes.filter(|current| !choices.contains(current)) {
        choices.push(current);
        choices.sort_unstable();
    }
    view! {
        <section class="card" data-testid="account-reminder">
            <h2>"Reminder while playing"</h2>
            <p class="muted">"While you play, we can remind you how long you have been playing at a regular interval."</p>
            <ActionForm action=action attr:class="form" attr:aria-label="Play reminder">
                <FormError error/>
                <label for="reminder-minutes">"Remind me"</label>
                <select id="reminder-minutes" name="minutes">
                    <option value="0" selected=minutes.is_none()>"Off"</option>
                    {choices.into_iter().map(|choice| view! {
                        <option value=choice.to_string() selected=minutes == Some(choice)>
                            {format!("Every {choice} minutes")}
                        </option>
                    }).collect_view()}
                </select>
                <FieldError error field="minutes"/>
                <button class="button primary" type="submit" data-testid="reminder-submit" disabled=move || action.pending().get()>
                    {move || if action.pending().get() { "Saving…" } else { "Save reminder" }}
                </button>
            </ActionForm>
        </section>
    }
}

#[component]
fn LimitTable(kind: LimitKind, limits: Vec<LimitView>) -> impl IntoView {
    view! {
        <div class="table-wrap">
            <table class="table" data-testid=limit_id(kind, "limits")>
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
                            <tr data-testid=limit_id(kind, &format!("limit-{}", limit.period.as_str()))>
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
