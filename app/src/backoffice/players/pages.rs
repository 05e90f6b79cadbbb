//! The players' pages: the search with the slowed-down log-ins, and one player with the staff
//! notes.

use crate::domain::ids::PlayerId;
use leptos::prelude::*;
use leptos_router::components::Form;
use leptos_router::hooks::use_query_map;

use super::api::{AddStaffNote, load_player, search_players, throttled_log_ins};
use super::{NOTE_LENGTH_MAX, PlayerDetail, PlayerPayment, PlayerSearchPage, StaffNote};
use crate::backoffice::pages::{BackofficeNav, pager, staff_section};
use crate::backoffice::{query_string, query_text};
use crate::components::{
    FieldError, FormError, action_error, action_idempotency_key, route_resource,
};

#[component]
pub fn PlayersPage() -> impl IntoView {
    let query = use_query_map();
    let search = Memo::new(move |_| {
        query.with(|query| {
            (
                query_text(query, "q"),
                query_text(query, "offset").and_then(|value| value.parse::<i64>().ok()),
            )
        })
    });
    let results = Resource::new(
        move || search.get(),
        |(q, offset)| search_players(q, offset),
    );
    view! {
        <BackofficeNav current="/admin/players"/>
        <section class="card" data-testid="players">
            <h1>"Players"</h1>
            <Form method="GET" action="/admin/players" attr:class="filters" attr:aria-label="Search players">
                <label>"Email, id or name"
                    <input name="q" type="search" data-testid="player-search"
                        value=move || query.with(|query| query_text(query, "q").unwrap_or_default())/>
                </label>
                <button class="button primary" type="submit" data-testid="player-search-submit">"Search"</button>
            </Form>
            {staff_section(results, move |page| view! { <PlayerTable page q=search.get_untracked().0/> })}
        </section>
        <ThrottledLogIns/>
    }
}

/// Who is being slowed down at log-in: what support sees when someone calls about it.
#[component]
fn ThrottledLogIns() -> impl IntoView {
    let throttled = Resource::new(|| (), |()| throttled_log_ins());
    view! {
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                // An error here is the players' section's error too; it shows there.
                let rows = throttled.await.unwrap_or_default();
                view! {
                    <section class="card" data-testid="throttled-log-ins">
                        <h2>"Slowed-down log-ins"</h2>
                        {if rows.is_empty() {
                            view! { <p class="empty" data-testid="throttled-empty">"No account's log-ins are being slowed down."</p> }.into_any()
                        } else {
                            view! {
                                <p class="hint">"After 5 failed log-ins from one address (or 20 from all together) each further attempt waits a growing delay, up to 15 minutes; a successful log-in clears it."</p>
                                <div class="table-wrap">
                                    <table class="table">
                                        <thead><tr><th>"Account"</th><th>"Kind"</th><th>"From"</th><th>"Failures"</th><th>"Last failure"</th><th>"Next attempt"</th></tr></thead>
                                        <tbody>
                                            {rows.into_iter().map(|row| view! {
                                                <tr data-testid="throttled-row">
                                                    <td>{row.email}</td>
                                                    <td>{row.realm}</td>
                                                    <td class="mono">{row.address.unwrap_or_else(|| "all addresses".to_owned())}</td>
                                                    <td>{row.failures}</td>
                                                    <td>{row.last_failure_at.format("%Y-%m-%d %H:%M:%S UTC").to_string()}</td>
                                                    <td>{row.delayed_until.map_or_else(|| "now".to_owned(), |until| until.format("%H:%M:%S UTC").to_string())}</td>
                                                </tr>
                                            }).collect_view()}
                                        </tbody>
                                    </table>
                                </div>
                            }.into_any()
                        }}
                    </section>
                }
            })}
        </Suspense>
    }
}

#[component]
fn PlayerTable(page: PlayerSearchPage, q: Option<String>) -> impl IntoView {
    if page.players.is_empty() {
        return view! { <p class="empty" data-testid="players-empty">"No players match."</p> }
            .into_any();
    }
    let next = page.next_offset.map(|offset| {
        let href = format!(
            "/admin/players{}",
            query_string(&[("q", q), ("offset", Some(offset.to_string()))])
        );
        pager(href, "More players")
    });
    view! {
        <div class="table-wrap">
            <table class="table" data-testid="player-results">
                <thead><tr><th>"Email"</th><th>"Name"</th><th class="hide-small">"Registered"</th><th class="hide-small">"Id"</th></tr></thead>
                <tbody>
                    {page.players.into_iter().map(|player| view! {
                        <tr data-testid="player-row">
                            <td><a href=format!("/admin/players/{}", player.id) data-testid="player-link">{player.email.clone()}</a></td>
                            <td>{player.display_name.clone()}</td>
                            <td class="hide-small">{player.created_at.format("%Y-%m-%d").to_string()}</td>
                            <td class="hide-small mono">{player.id.to_string()}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </div>
        {next}
    }
    .into_any()
}

#[component]
pub fn PlayerPage() -> impl IntoView {
    let detail = route_resource("Player", || (), |player, ()| load_player(player));
    view! {
        <BackofficeNav current="/admin/players"/>
        {staff_section(detail, move |detail| view! { <PlayerView detail/> })}
    }
}

#[component]
fn PlayerView(detail: PlayerDetail) -> impl IntoView {
    let exclusion = match detail.self_excluded {
        None => "none".to_owned(),
        Some(None) => "excluded indefinitely".to_owned(),
        Some(Some(until)) => format!("excluded until {}", until.format("%Y-%m-%d %H:%M UTC")),
    };
    let kyc_badge = match detail.kyc_state.as_str() {
        "verified" => "badge success",
        "rejected" => "badge danger",
        "pending" => "badge warning",
        _ => "badge",
    };
    let player_id = detail.id;
    view! {
        <section class="card" data-testid="player-detail">
            <h1 data-testid="player-email">{detail.email.clone()}</h1>
            <dl class="facts">
                <dt>"Name"</dt><dd>{detail.display_name.clone()}</dd>
                <dt>"Id"</dt><dd class="mono">{detail.id.to_string()}</dd>
                <dt>"Registered"</dt><dd>{detail.created_at.format("%Y-%m-%d %H:%M UTC").to_string()}</dd>
                <dt>"KYC"</dt>
                <dd>
                    <span class=kyc_badge data-testid="player-kyc">{detail.kyc_state.clone()}</span>
                    {detail.kyc_updated_at.map(|at| format!(" since {}", at.format("%Y-%m-%d")))}
                    " " <a href="/admin/kyc">"KYC reviews"</a>
                </dd>
                <dt>"Self-exclusion"</dt><dd data-testid="player-exclusion">{exclusion}</dd>
                <dt>"Deposit limits"</dt>
                <dd>
                    {if detail.deposit_limits.is_empty() {
                        "none".to_owned()
                    } else {
                        detail.deposit_limits.iter().map(|limit| {
                            let pending = limit.pending.map(|pending| format!(" (raising to {pending} from {})",
                                limit.pending_effective_at.map(|at| at.format("%Y-%m-%d %H:%M").to_string()).unwrap_or_default()))
                                .unwrap_or_default();
                            format!("{} per {}{pending}", limit.amount, limit.period)
                        }).collect::<Vec<_>>().join("; ")
                    }}
                </dd>
            </dl>
            <h2>"Balances"</h2>
            {if detail.funds.is_empty() {
                view! { <p class="empty">"No ledger accounts yet."</p> }.into_any()
            } else {
                view! {
                    <table class="table" data-testid="player-balances">
                        <thead><tr><th>"Currency"</th><th class="amount">"Available"</th><th class="amount">"Held for withdrawals"</th><th class="amount">"Owed by the player"</th></tr></thead>
                        <tbody>
                            {detail.funds.iter().map(|funds| view! {
                                <tr>
                                    <td>{funds.available.currency().code()}</td>
                                    <td class="amount">{funds.available.format_amount()}</td>
                                    <td class="amount">{funds.held.format_amount()}</td>
                                    <td class="amount" data-testid="player-owed">{funds.owed.format_amount()}</td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any()
            }}
        </section>
        <section class="card">
            <h2>"Deposits"</h2>
            <PaymentTable rows=detail.deposits.clone() testid="player-deposits" empty="No deposits."/>
            <h2>"Withdrawals"</h2>
            <PaymentTable rows=detail.withdrawals.clone() testid="player-withdrawals" empty="No withdrawals."/>
        </section>
        <section class="card">
            <h2>"Recent ledger movements"</h2>
            {if detail.movements.is_empty() {
                view! { <p class="empty">"No movements."</p> }.into_any()
            } else {
                view! {
                    <div class="table-wrap">
                        <table class="table" data-testid="player-movements">
                            <thead><tr><th>"When (UTC)"</th><th>"Journal"</th><th>"Account"</th><th class="amount">"Amount"</th><th class="amount">"Balance after"</th></tr></thead>
                            <tbody>
                                {detail.movements.iter().map(|movement| view! {
                                    <tr>
                                        <td>{movement.posted_at.format("%Y-%m-%d %H:%M:%S").to_string()}</td>
                                        <td><a href=format!("/admin/ledger/journals/{}", movement.journal_id)>{movement.kind.clone()}</a></td>
                                        <td>{if movement.held { "held" } else { "cash" }}</td>
                                        <td class="amount">{movement.amount.to_string()}</td>
                                        <td class="amount">{movement.balance_after.to_string()}</td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                }.into_any()
            }}
        </section>
        <section class="card">
            <h2>"Game rounds"</h2>
            <crate::games::pages::RoundsTable rounds=detail.rounds.clone() journal_links=true/>
        </section>
        <NotesCard player=player_id notes=detail.notes.clone() can_act=detail.can_act/>
    }
}

#[component]
fn PaymentTable(
    rows: Vec<PlayerPayment>,
    testid: &'static str,
    empty: &'static str,
) -> impl IntoView {
    if rows.is_empty() {
        return view! { <p class="empty">{empty}</p> }.into_any();
    }
    view! {
        <div class="table-wrap">
            <table class="table" data-testid=testid>
                <thead><tr><th>"Created (UTC)"</th><th>"Provider"</th><th>"State"</th><th class="amount">"Amount"</th><th class="hide-small">"Completed"</th></tr></thead>
                <tbody>
                    {rows.into_iter().map(|row| view! {
                        <tr data-testid="payment-row" data-state=row.state.clone()>
                            <td>{row.created_at.format("%Y-%m-%d %H:%M").to_string()}</td>
                            <td>{row.provider.clone().unwrap_or_default()}</td>
                            <td><span class="badge">{row.state.clone()}</span></td>
                            <td class="amount">{row.amount.to_string()}</td>
                            <td class="hide-small">{row.completed_at.map(|at| at.format("%Y-%m-%d %H:%M").to_string())}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}

#[component]
fn NotesCard(player: PlayerId, notes: Vec<StaffNote>, can_act: bool) -> impl IntoView {
    let action = ServerAction::<AddStaffNote>::new();
    let key = action_idempotency_key(action);
    let error = action_error(action);
    // Notes added on this visit, newest first, above the ones the page loaded with.
    let added = move || {
        action
            .value()
            .get()
            .and_then(Result::ok)
            .map(|note| view! { <NoteItem note/> })
    };
    view! {
        <section class="card" data-testid="staff-notes">
            <h2>"Staff notes"</h2>
            <ul class="notes">
                {added}
                {notes.into_iter().map(|note| view! { <NoteItem note/> }).collect_view()}
            </ul>
            {can_act.then(|| view! {
                <ActionForm action=action attr:class="form" attr:aria-label="Add a note">
                    <FormError error/>
                    <input type="hidden" name="player" value=player.to_string()/>
                    <input type="hidden" name="idempotency_key" prop:value=move || key.get()/>
                    <label for="note-body">"New note"</label>
                    <textarea id="note-body" name="body" required maxlength=NOTE_LENGTH_MAX></textarea>
                    <FieldError error field="body"/>
                    <button class="button" type="submit" disabled=move || action.pending().get() || key.with(String::is_empty)>
                        {move || if action.pending().get() { "Saving…" } else { "Add note" }}
                    </button>
                </ActionForm>
            })}
        </section>
    }
}

#[component]
fn NoteItem(note: StaffNote) -> impl IntoView {
    view! {
        <li data-testid="staff-note">
            <p>{note.body}</p>
            <span class="muted">{format!("{} · {}", note.staff_email, note.created_at.format("%Y-%m-%d %H:%M UTC"))}</span>
        </li>
    }
}
