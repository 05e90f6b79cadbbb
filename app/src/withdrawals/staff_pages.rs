//! The staff pages: the withdrawal queue with its filters, one withdrawal with its attempts,
//! timeline and actions, and the owner's withdrawal settings. The pages only show what the
//! server allows; every action is checked again on the server.

use leptos::prelude::*;
use leptos_router::components::Form;
use leptos_router::hooks::{use_params_map, use_query_map};

use super::api::{
    ApproveWithdrawal, MarkWithdrawalPaid, RecheckPayout, RejectWithdrawal, RetryPayout,
    SaveWithdrawalPolicy, ScriptMockPayout, StartPayout, list_withdrawals, load_withdrawal,
    load_withdrawal_policy,
};
use super::pages::state_tone;
use super::{
    MOCK_OUTCOMES, WithdrawalDetail, WithdrawalPolicy, WithdrawalReceipt, WithdrawalSummary,
    action_key,
};
use crate::backoffice::pages::page_error;
use crate::components::{FieldError, FormError, action_error};
use crate::domain::ids::WithdrawalId;
use crate::domain::withdrawal::{ActionKind, AttemptState, WithdrawalState, duration_words};
use crate::error::AppError;

/// While a payout is at the provider, the detail page asks again this often.
const PAYING_POLL_INTERVAL_MS: u64 = 2000;

#[component]
fn StateBadge(state: WithdrawalState) -> impl IntoView {
    view! { <span class=state_tone(state) data-state=state.as_str()>{state.staff_label()}</span> }
}

#[component]
pub fn WithdrawalQueuePage() -> impl IntoView {
    let query = use_query_map();
    let field = move |name: &str| query.with(|query| query.get(name));
    let rows = Resource::new(
        move || {
            (
                field("state"),
                field("amount_min"),
                field("amount_max"),
                field("older_than_hours"),
            )
        },
        |(state, amount_min, amount_max, older_than_hours)| {
            list_withdrawals(state, amount_min, amount_max, older_than_hours)
        },
    );
    let selected = move || field("state").unwrap_or_else(|| "open".to_owned());
    view! {
        <crate::backoffice::pages::BackofficeNav current="/admin/withdrawals"/>
        <section class="card" data-testid="withdrawal-queue">
            <h1>"Withdrawals"</h1>
            <Form method="GET" action="" attr:class="filters" attr:aria-label="Filter withdrawals">
                <label>"State"
                    <select name="state" prop:value=selected>
                        <option value="open">"Open (needs action)"</option>
                        <option value="all">"All"</option>
                        {WithdrawalState::ALL.into_iter().map(|state| view! {
                            <option value=state.as_str()>{state.staff_label()}</option>
                        }).collect_view()}
                    </select>
                </label>
                <label>"Amount from"
                    <input name="amount_min" type="text" inputmode="decimal" size="8" prop:value=move || field("amount_min").unwrap_or_default()/>
                </label>
                <label>"to"
                    <input name="amount_max" type="text" inputmode="decimal" size="8" prop:value=move || field("amount_max").unwrap_or_default()/>
                </label>
                <label>"Older than (hours)"
                    <input name="older_than_hours" type="text" inputmode="numeric" size="4" prop:value=move || field("older_than_hours").unwrap_or_default()/>
                </label>
                <button class="button small" type="submit">"Filter"</button>
            </Form>
            <Transition fallback=|| view! { <p class="loading" aria-busy="true">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match rows.await {
                        Ok(rows) if rows.is_empty() => view! {
                            <p class="empty" data-testid="queue-empty">"No withdrawals match."</p>
                        }.into_any(),
                        Ok(rows) => view! { <QueueTable rows/> }.into_any(),
                        Err(error) => page_error(error),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn QueueTable(rows: Vec<WithdrawalSummary>) -> impl IntoView {
    view! {
        <div class="table-wrap">
            <table class="table" data-testid="queue">
                <thead>
                    <tr>
                        <th>"Player"</th><th class="amount">"Amount"</th><th class="hide-small">"Requested at"</th>
                        <th>"Age"</th><th>"State"</th><th class="amount">"Attempts"</th>
                    </tr>
                </thead>
                <tbody>
                    {rows.into_iter().map(|row| view! {
                        <tr data-testid="queue-row" data-state=row.state.as_str()>
                            <td><a href=format!("/admin/withdrawals/{}", row.id)>{row.player_email.clone()}</a></td>
                            <td class="amount">{row.amount.to_string()}</td>
                            <td class="hide-small">{row.created_at.format("%Y-%m-%d %H:%M").to_string()}</td>
                            <td>{duration_words(row.age_s)}</td>
                            <td>
                                <StateBadge state=row.state/>
                                {row.awaiting_second_approval.then(|| view! { <span class="badge">"1 of 2 approvals"</span> })}
                            </td>
                            <td class="amount">{row.attempts}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

/// Every action of the detail page, created once so their results outlive the re-render
/// that follows each of them.
#[derive(Clone, Copy)]
struct Actions {
    approve: ServerAction<ApproveWithdrawal>,
    reject: ServerAction<RejectWithdrawal>,
    start: ServerAction<StartPayout>,
    retry: ServerAction<RetryPayout>,
    recheck: ServerAction<RecheckPayout>,
    mark_paid: ServerAction<MarkWithdrawalPaid>,
    script: ServerAction<ScriptMockPayout>,
}

impl Actions {
    fn new() -> Actions {
        Actions {
            approve: ServerAction::new(),
            reject: ServerAction::new(),
            start: ServerAction::new(),
            retry: ServerAction::new(),
            recheck: ServerAction::new(),
            mark_paid: ServerAction::new(),
            script: ServerAction::new(),
        }
    }

    /// Changes whenever any action finishes: the detail reloads.
    fn versions(self) -> usize {
        self.approve.version().get()
            + self.reject.version().get()
            + self.start.version().get()
            + self.retry.version().get()
            + self.recheck.version().get()
            + self.mark_paid.version().get()
            + self.script.version().get()
    }

    fn pending(self) -> bool {
        self.approve.pending().get()
            || self.reject.pending().get()
            || self.start.pending().get()
            || self.retry.pending().get()
            || self.recheck.pending().get()
            || self.mark_paid.pending().get()
    }
}

#[component]
pub fn WithdrawalDetailPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || {
        params.with(|params| {
            params
                .get("id")
                .and_then(|id| id.parse::<WithdrawalId>().ok())
        })
    };
    let actions = Actions::new();
    let tick = RwSignal::new(0_u32);
    let detail = Resource::new(
        move || (id(), actions.versions(), tick.get()),
        |(id, _, _)| async move {
            match id {
                Some(id) => load_withdrawal(id).await,
                None => Err(AppError::not_found("Withdrawal")),
            }
        },
    );
    // While a payout is at the provider, follow it (webhooks and the recheck job move it on).
    Effect::new(move |_| {
        if let Some(Ok(detail)) = detail.get()
            && detail.summary.state == WithdrawalState::Paying
        {
            set_timeout(
                move || tick.update(|tick| *tick += 1),
                std::time::Duration::from_millis(PAYING_POLL_INTERVAL_MS),
            );
        }
    });
    view! {
        <crate::backoffice::pages::BackofficeNav current="/admin/withdrawals"/>
        <ActionResults actions/>
        <Transition fallback=|| view! { <p class="loading" aria-busy="true">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match detail.await {
                    Ok(detail) => view! { <Detail detail actions/> }.into_any(),
                    Err(error) => page_error(error),
                }
            })}
        </Transition>
    }
}

/// The latest answer of each action, so the person who clicked sees what happened.
#[component]
fn ActionResults(actions: Actions) -> impl IntoView {
    view! {
        <div class="action-results" aria-live="polite">
            {receipt_line(actions.approve, "approve")}
            {receipt_line(actions.reject, "reject")}
            {receipt_line(actions.start, "start-payout")}
            {receipt_line(actions.retry, "retry-payout")}
            {receipt_line(actions.recheck, "recheck")}
            {receipt_line(actions.mark_paid, "mark-paid")}
            {receipt_line(actions.script, "mock-script")}
        </div>
    }
}

fn receipt_line<A>(action: ServerAction<A>, name: &'static str) -> impl IntoView
where
    A: leptos::server_fn::ServerFn<Output = WithdrawalReceipt, Error = AppError>
        + Clone
        + Send
        + Sync
        + 'static,
{
    move || {
        action.value().get().map(|result| match result {
            Ok(receipt) => view! {
                <p class="result" role="status" data-testid=format!("result-{name}") data-replayed=receipt.replayed.to_string()>
                    {receipt.message}
                </p>
            }
            .into_any(),
            Err(error) => view! {
                <p class="form-error" role="alert" data-testid=format!("result-{name}") data-code=error.code.as_str()>
                    {error.message}
                </p>
            }
            .into_any(),
        })
    }
}

#[component]
fn Detail(detail: WithdrawalDetail, actions: Actions) -> impl IntoView {
    let summary = detail.summary.clone();
    let id = summary.id;
    let next_attempt = summary.attempts + 1;
    let allowed = detail.actions;
    view! {
        <section class="card" data-testid="withdrawal-detail">
            <h1>"Withdrawal " <span class="amount">{summary.amount.to_string()}</span></h1>
            <dl class="facts">
                <dt>"State"</dt>
                <dd data-testid="withdrawal-state" data-state=summary.state.as_str()>
                    <StateBadge state=summary.state/>
                    {summary.awaiting_second_approval.then(|| view! { <span class="badge">"1 of 2 approvals"</span> })}
                </dd>
                <dt>"Player"</dt><dd>{summary.player_email.clone()}</dd>
                <dt>"Requested at"</dt>
                <dd>{summary.created_at.format("%Y-%m-%d %H:%M:%S UTC").to_string()} " (" {duration_words(summary.age_s)} " ago)"</dd>
                <dt>"Approval"</dt>
                <dd>
                    {if detail.needs_two_approvals { "Two staff members (above the threshold)" } else { "One staff member" }}
                    {detail.first_approved_by.clone().map(|name| format!("; first approval: {name}"))}
                    {detail.approved_by.clone().map(|name| format!("; approved by {name}"))}
                </dd>
                <dt>"Payout attempts"</dt>
                <dd data-testid="attempt-count">{format!("{} of {}", summary.attempts, detail.attempts_max)}</dd>
                {detail.retry_allowed_at.map(|at| view! {
                    <dt>"Retry cooldown"</dt>
                    <dd data-testid="retry-cooldown">{format!("next retry allowed at {} UTC", at.format("%H:%M:%S"))}</dd>
                })}
                {detail.reject_reason.clone().map(|reason| view! { <dt>"Rejected because"</dt><dd>{reason}</dd> })}
                {detail.external_reference.clone().map(|reference| view! { <dt>"Paid outside a PSP"</dt><dd>{reference}</dd> })}
                {detail.paid_at.map(|at| view! { <dt>"Paid at"</dt><dd>{at.format("%Y-%m-%d %H:%M:%S UTC").to_string()}</dd> })}
            </dl>
            {detail.duplicate_payouts.iter().map(|duplicate| view! {
                <p class="form-error" role="alert" data-testid="duplicate-payout">
                    {format!(
                        "Paid out twice: attempt {} succeeded at the provider after this withdrawal was already settled. Taken back from the player's cash: {}; owed by the player: {}. See the critical reconciliation finding.",
                        duplicate.attempt_number, duplicate.from_cash, duplicate.receivable
                    )}
                </p>
            }).collect_view()}
            <div class="withdrawal-actions">
                {allowed.approve.then(|| view! {
                    <ActionForm action=actions.approve attr:class="inline">
                        <input type="hidden" name="withdrawal_id" value=id.to_string()/>
                        <input type="hidden" name="idempotency_key" value=action_key(ActionKind::Approve, id, None)/>
                        <button class="button primary" type="submit" data-testid="approve" disabled=move || actions.pending()>"Approve"</button>
                    </ActionForm>
                })}
                {allowed.start_payout.then(|| view! {
                    <ActionForm action=actions.start attr:class="inline">
                        <input type="hidden" name="withdrawal_id" value=id.to_string()/>
                        <input type="hidden" name="idempotency_key" value=action_key(ActionKind::StartPayout, id, None)/>
                        <button class="button primary" type="submit" data-testid="start-payout" disabled=move || actions.pending()>"Start payout"</button>
                    </ActionForm>
                })}
                {allowed.retry_payout.then(|| view! {
                    <ActionForm action=actions.retry attr:class="inline">
                        <input type="hidden" name="withdrawal_id" value=id.to_string()/>
                        <input type="hidden" name="idempotency_key" value=action_key(ActionKind::RetryPayout, id, Some(next_attempt))/>
                        <button class="button primary" type="submit" data-testid="retry-payout" disabled=move || actions.pending()>"Retry payout"</button>
                    </ActionForm>
                })}
                {allowed.recheck.then(|| view! {
                    <ActionForm action=actions.recheck attr:class="inline">
                        <input type="hidden" name="withdrawal_id" value=id.to_string()/>
                        <button class="button" type="submit" data-testid="recheck" disabled=move || actions.pending()>"Recheck with the provider"</button>
                    </ActionForm>
                })}
            </div>
            {allowed.reject.then(|| view! { <RejectForm id actions/> })}
            {allowed.mark_paid.then(|| view! { <MarkPaidForm id actions/> })}
            {detail.mock_scripting.then(|| view! { <MockScriptForm id actions pending=detail.pending_scripts.clone()/> })}
        </section>
        <AttemptsCard detail=detail.clone()/>
        <TimelineCard detail/>
    }
}

#[component]
fn RejectForm(id: WithdrawalId, actions: Actions) -> impl IntoView {
    let error = action_error(actions.reject);
    view! {
        <details class="action-form">
            <summary>"Reject…"</summary>
            <ActionForm action=actions.reject attr:class="form" attr:aria-label="Reject">
                <FormError error/>
                <input type="hidden" name="withdrawal_id" value=id.to_string()/>
                <input type="hidden" name="idempotency_key" value=action_key(ActionKind::Reject, id, None)/>
                <label for="reject-reason">"Reason (the player sees it)"</label>
                <textarea id="reject-reason" name="reason" required maxlength="500"></textarea>
                <FieldError error field="reason"/>
                <button class="button danger" type="submit" data-testid="reject" disabled=move || actions.pending()>"Reject and return the funds"</button>
            </ActionForm>
        </details>
    }
}

#[component]
fn MarkPaidForm(id: WithdrawalId, actions: Actions) -> impl IntoView {
    let error = action_error(actions.mark_paid);
    view! {
        <details class="action-form">
            <summary>"Mark paid manually…"</summary>
            <ActionForm action=actions.mark_paid attr:class="form" attr:aria-label="Mark paid">
                <FormError error/>
                <input type="hidden" name="withdrawal_id" value=id.to_string()/>
                <input type="hidden" name="idempotency_key" value=action_key(ActionKind::MarkPaid, id, None)/>
                <label for="paid-reason">"Reason"</label>
                <textarea id="paid-reason" name="reason" required maxlength="500"></textarea>
                <FieldError error field="reason"/>
                <label for="external-reference">"External reference (bank transfer id)"</label>
                <input id="external-reference" name="external_reference" type="text" required maxlength="200"/>
                <FieldError error field="external_reference"/>
                <button class="button" type="submit" data-testid="mark-paid" disabled=move || actions.pending()>"Mark paid"</button>
            </ActionForm>
        </details>
    }
}

#[component]
fn MockScriptForm(id: WithdrawalId, actions: Actions, pending: Vec<String>) -> impl IntoView {
    view! {
        <details class="action-form" data-testid="mock-controls">
            <summary>"Mock PSP: script the next payout (test payments only)"</summary>
            <ActionForm action=actions.script attr:class="form" attr:aria-label="Script the mock PSP">
                <input type="hidden" name="withdrawal_id" value=id.to_string()/>
                <label for="mock-outcome">"Outcome"</label>
                <select id="mock-outcome" name="outcome">
                    {MOCK_OUTCOMES.into_iter().map(|(value, label)| view! { <option value=value>{label}</option> }).collect_view()}
                </select>
                <label for="mock-failure-code">"Failure code (for a failure)"</label>
                <input id="mock-failure-code" name="failure_code" type="text" placeholder="account_closed"/>
                <button class="button small" type="submit" data-testid="mock-script">"Script it"</button>
            </ActionForm>
            {(!pending.is_empty()).then(|| view! {
                <p class="muted" data-testid="mock-pending">"Scripted next: " {pending.join(", ")}</p>
            })}
        </details>
    }
}

#[component]
fn AttemptsCard(detail: WithdrawalDetail) -> impl IntoView {
    view! {
        <section class="card">
            <h2>"Payout attempts"</h2>
            {if detail.attempts.is_empty() {
                view! { <p class="empty">"No payout attempted yet."</p> }.into_any()
            } else {
                view! {
                    <div class="table-wrap">
                        <table class="table" data-testid="attempts">
                            <thead>
                                <tr>
                                    <th>"#"</th><th>"Provider"</th><th>"State"</th><th>"Provider's answer"</th>
                                    <th class="hide-small">"Key sent"</th><th class="hide-small">"Reference"</th>
                                    <th>"Started"</th><th class="hide-small">"Ended"</th>
                                </tr>
                            </thead>
                            <tbody>
                                {detail.attempts.into_iter().map(|attempt| {
                                    let tone = match attempt.state {
                                        AttemptState::Succeeded => "badge success",
                                        AttemptState::Failed => "badge danger",
                                        AttemptState::Pending | AttemptState::Unknown => "badge warning",
                                    };
                                    view! {
                                        <tr data-testid="attempt-row" data-state=attempt.state.as_str()>
                                            <td>{attempt.number}</td>
                                            <td>{attempt.provider.clone()}</td>
                                            <td><span class=tone>{attempt.state.as_str()}</span></td>
                                            <td data-testid="attempt-error">
                                                {attempt.error_code.clone().map(|code| view! { <code>{code}</code> " " })}
                                                {attempt.error_message.clone()}
                                            </td>
                                            <td class="hide-small"><code>{attempt.idempotency_key.clone()}</code></td>
                                            <td class="hide-small">{attempt.provider_reference.clone()}</td>
                                            <td>{attempt.created_at.format("%H:%M:%S").to_string()}</td>
                                            <td class="hide-small">{attempt.finished_at.map(|at| at.format("%H:%M:%S").to_string())}</td>
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                }.into_any()
            }}
        </section>
    }
}

#[component]
fn TimelineCard(detail: WithdrawalDetail) -> impl IntoView {
    view! {
        <section class="card">
            <h2>"Timeline"</h2>
            <ol class="timeline" data-testid="timeline">
                {detail.timeline.into_iter().map(|entry| view! {
                    <li data-testid="timeline-entry" data-action=entry.action.clone()>
                        <time>{entry.at.format("%Y-%m-%d %H:%M:%S").to_string()}</time>
                        " " <strong>{entry.action.replace('_', " ")}</strong>
                        {entry.attempt_number.map(|number| format!(" (attempt {number})"))}
                        " by " {entry.actor}
                        {match entry.from_state.filter(|from| *from != entry.to_state) {
                            Some(from) => format!(": {from} → {}", entry.to_state),
                            None => String::new(),
                        }}
                        {entry.reason.map(|reason| view! { <div class="muted">{reason}</div> })}
                        {entry.detail.map(|detail| view! { <div><code class="detail">{detail}</code></div> })}
                    </li>
                }).collect_view()}
            </ol>
        </section>
    }
}

#[component]
pub fn WithdrawalSettingsPage() -> impl IntoView {
    let save = ServerAction::<SaveWithdrawalPolicy>::new();
    let policy = Resource::new(move || save.version().get(), |_| load_withdrawal_policy());
    view! {
        <crate::backoffice::pages::BackofficeNav current="/admin/settings"/>
        <section class="card narrow" data-testid="withdrawal-settings">
            <h1>"Withdrawal settings"</h1>
            <Transition fallback=|| view! { <p class="loading" aria-busy="true">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match policy.await {
                        Ok(policy) if policy.editable => view! { <PolicyForm policy save/> }.into_any(),
                        Ok(policy) => view! { <PolicyFacts policy/> }.into_any(),
                        Err(error) => page_error(error),
                    }
                })}
            </Transition>
            {move || save.value().get().and_then(Result::ok).map(|_| view! {
                <p class="result" role="status" data-testid="settings-saved">"Saved. The new policy applies from now on."</p>
            })}
        </section>
        <crate::auth::second_factor::pages::SecondFactorPolicyCard/>
    }
}

/// Per-currency thresholds as the settings form writes them.
fn thresholds_text(
    thresholds: &[(crate::domain::money::Currency, rust_decimal::Decimal)],
) -> String {
    if thresholds.is_empty() {
        return String::new();
    }
    thresholds
        .iter()
        .map(|(currency, amount)| format!("{currency} {amount}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[component]
fn PolicyFacts(policy: WithdrawalPolicy) -> impl IntoView {
    view! {
        <p class="muted">"Only an owner can change these."</p>
        <dl class="facts">
            <dt>"Amount per withdrawal"</dt><dd>{format!("{} to {}", policy.amount_min, policy.amount_max)}</dd>
            <dt>"Two approvals above"</dt><dd>{policy.approval_threshold.to_string()}</dd>
            <dt>"Per currency"</dt><dd data-testid="approval-thresholds">{thresholds_text(&policy.approval_thresholds)}</dd>
            <dt>"Payout attempts at most"</dt><dd>{policy.payout_attempts_max}</dd>
            <dt>"Cooldown between attempts"</dt><dd>{duration_words(i64::from(policy.retry_cooldown_s))}</dd>
            <dt>"Recheck stuck attempts after"</dt><dd>{duration_words(i64::from(policy.recheck_age_s))}</dd>
            <dt>"Believe \"no such payout\" after"</dt><dd>{duration_words(i64::from(policy.not_found_grace_s))}</dd>
            <dt>"Payout provider"</dt><dd>{policy.payout_provider}</dd>
        </dl>
    }
}

#[component]
fn PolicyForm(policy: WithdrawalPolicy, save: ServerAction<SaveWithdrawalPolicy>) -> impl IntoView {
    let error = action_error(save);
    let number_field =
        move |id: &'static str, label: &'static str, value: String, hint: &'static str| {
            view! {
                <label for=id>{label}</label>
                <input id=id name=id type="text" inputmode="decimal" required value=value/>
                <p class="muted">{hint}</p>
                <FieldError error field=id/>
            }
        };
    view! {
        <ActionForm action=save attr:class="form" attr:aria-label="Withdrawal settings">
            <FormError error/>
            {number_field("amount_min", "Smallest withdrawal", policy.amount_min.to_string(), "In major units (10 = 10.00), for every currency.")}
            {number_field("amount_max", "Largest withdrawal", policy.amount_max.to_string(), "")}
            {number_field("approval_threshold", "Two approvals above", policy.approval_threshold.to_string(), "Above this amount a second, different staff member must approve (currencies without their own threshold).")}
            <label for="approval_thresholds">"Two approvals above, per currency"</label>
            <input id="approval_thresholds" name="approval_thresholds" type="text" value=thresholds_text(&policy.approval_thresholds) placeholder="JPY 150000, TRY 40000"/>
            <p class="muted">"In each currency's own major units (1,000 EUR and 1,000 JPY are not the same money), e.g. JPY 150000, TRY 40000."</p>
            <FieldError error field="approval_thresholds"/>
            {number_field("payout_attempts_max", "Payout attempts at most", policy.payout_attempts_max.to_string(), "1 to 20.")}
            {number_field("retry_cooldown_s", "Cooldown between attempts (seconds)", policy.retry_cooldown_s.to_string(), "Counted from the end of the previous attempt.")}
            {number_field("recheck_age_s", "Recheck stuck attempts after (seconds)", policy.recheck_age_s.to_string(), "Attempts pending or unknown this long are asked about again, with a doubling backoff.")}
            {number_field("not_found_grace_s", "Believe \"no such payout\" after (seconds)", policy.not_found_grace_s.to_string(), "An attempt the provider has no record of stays unknown until its call certainly ended this long ago (at least 30 s, the call timeout); only then it counts as failed.")}
            <label for="payout_provider">"Payout provider"</label>
            <select id="payout_provider" name="payout_provider">
                {policy.providers.iter().map(|name| view! {
                    <option value=name.clone() selected=*name == policy.payout_provider>{name.clone()}</option>
                }).collect_view()}
            </select>
            <FieldError error field="payout_provider"/>
            <button class="button primary" type="submit" data-testid="settings-save" disabled=move || save.pending().get()>
                {move || if save.pending().get() { "Saving…" } else { "Save settings" }}
            </button>
        </ActionForm>
    }
}
