//! The figures page: the period and currency form, the figures, the daily chart and the last
//! integrity check.

use chrono::{DateTime, Utc};
use leptos::prelude::*;
use leptos_router::components::Form;
use leptos_router::hooks::use_query_map;

use super::api::{CheckLedgerIntegrity, load_figures};
use super::{DailyFlow, Figures, FiguresQuery, GamePlay, IntegrityRun, PERIODS, human_age};
use crate::backoffice::pages::{BackofficeNav, staff_section};
use crate::backoffice::query_text;
use crate::domain::money::{Currency, SignedMoney};

/// Chart geometry, in SVG user units.
const CHART_WIDTH: i64 = 720;
const CHART_HEIGHT: i64 = 200;
const CHART_PAD: i64 = 24;

#[component]
pub fn FiguresPage() -> impl IntoView {
    let query = use_query_map();
    let figures_query = Memo::new(move |_| {
        query.with(|query| FiguresQuery {
            period: query_text(query, "period"),
            from: query_text(query, "from"),
            until: query_text(query, "until"),
            currency: query_text(query, "currency"),
        })
    });
    let figures = Resource::new(
        move || figures_query.get(),
        |query| load_figures(query.period, query.from, query.until, query.currency),
    );
    view! {
        <BackofficeNav current="/admin/figures"/>
        {staff_section(figures, move |figures| view! { <FiguresView figures query=figures_query.get_untracked()/> })}
    }
}

#[component]
fn FiguresView(figures: Figures, query: FiguresQuery) -> impl IntoView {
    let period = figures.period.clone();
    let currency = figures.currency;
    let day = |at: DateTime<Utc>| at.format("%Y-%m-%d").to_string();
    let last_day = figures.until - chrono::Duration::microseconds(1);
    let money = |amount: SignedMoney| amount.to_string();
    let pending_age = figures
        .pending_oldest_at
        .map(|oldest| human_age(figures.generated_at.signed_duration_since(oldest)));
    let consistent = figures.pending_sum == figures.player_held;
    view! {
        <section class="card" data-testid="figures">
            <h1>"Figures"</h1>
            <Form method="GET" action="/admin/figures" attr:class="filters" attr:aria-label="Choose the period and currency">
                <label>"Period"
                    <select name="period">
                        {PERIODS.iter().map(|(value, label)| view! {
                            <option value=*value selected=period == *value>{*label}</option>
                        }).collect_view()}
                    </select>
                </label>
                <label>"From" <input name="from" type="date" value=query.from.clone().unwrap_or_default()/></label>
                <label>"Until" <input name="until" type="date" value=query.until.clone().unwrap_or_default()/></label>
                <label>"Currency"
                    <select name="currency">
                        {figures.currencies.iter().map(|code| view! {
                            <option value=code.code() selected=*code == currency>{code.code()}</option>
                        }).collect_view()}
                    </select>
                </label>
                <button class="button" type="submit">"Show"</button>
            </Form>
            <p class="muted" data-testid="figures-period">
                {format!("{} to {} (UTC), {}. From the ledger's journals and transfers.",
                    day(figures.from), day(last_day), currency.code())}
            </p>
            <h2>"In the period"</h2>
            <div class="figures">
                <Figure label="Deposits" value=money(figures.deposits) testid="deposits"
                    note=format!("{} captured", figures.deposit_count)/>
                <Figure label="Withdrawals paid" value=money(figures.withdrawals_paid) testid="withdrawals-paid"
                    note=format!("{} paid out", figures.withdrawals_paid_count)/>
                <Figure label="Net deposits" value=money(figures.net_deposits) testid="net-deposits"
                    note="deposits − withdrawals paid".to_owned()/>
                <Figure label="Game revenue (house)" value=money(figures.game_revenue) testid="game-revenue"
                    note="net change of the house account".to_owned()/>
                <Figure label="Fees" value=money(figures.fees) testid="fees"
                    note="net change of the fees account".to_owned()/>
            </div>
            <h2>"Now"</h2>
            <div class="figures">
                <Figure label="Withdrawals pending" value=money(figures.pending_sum) testid="pending"
                    note=format!("{} requested, oldest {}", figures.pending_count,
                        pending_age.unwrap_or_else(|| "–".to_owned()))/>
                <Figure label="Player liability" value=money(figures.player_liability) testid="liability"
                    note=format!("of which held for withdrawals {}", money(figures.player_held))/>
            </div>
            {(!consistent).then(|| view! {
                <p class="form-error" role="alert">
                    "Pending withdrawals and the funds held for them differ: run the integrity check."
                </p>
            })}
            <h2>"Play per game"</h2>
            <PlayTable play=figures.play.clone()/>
            <h2>"Deposits and withdrawals per day"</h2>
            <FlowChart daily=figures.daily.clone() currency/>
        </section>
        <IntegrityStatus last=figures.last_integrity_check.clone()/>
        <crate::backoffice::exports::ExportsCard/>
    }
}

#[component]
fn PlayTable(play: Vec<GamePlay>) -> impl IntoView {
    if play.is_empty() {
        return view! { <p class="empty" data-testid="play-empty">"No play in this period."</p> }
            .into_any();
    }
    view! {
        <div class="table-wrap">
            <table class="table" data-testid="play-table">
                <caption class="muted">"Gross gaming revenue (GGR) is bets − rollbacks − wins, from the game journals."</caption>
                <thead>
                    <tr>
                        <th scope="col">"Provider"</th><th scope="col">"Game"</th><th scope="col" class="amount">"Rounds"</th>
                        <th scope="col" class="amount">"Bets"</th><th scope="col" class="amount">"Wins"</th>
                        <th scope="col" class="amount">"Rollbacks"</th><th scope="col" class="amount">"GGR"</th>
                    </tr>
                </thead>
                <tbody>
                    {play.into_iter().map(|game| {
                        let test_id = format!("play-{}-{}", game.provider, game.game);
                        view! {
                        <tr data-testid=test_id>
                            <td>{game.provider}</td><td>{game.game}</td>
                            <td class="amount">{game.rounds}</td>
                            <td class="amount">{game.bets.to_string()}</td>
                            <td class="amount">{game.wins.to_string()}</td>
                            <td class="amount">{game.rollbacks.to_string()}</td>
                            <td class="amount" data-testid="ggr">{game.ggr.to_string()}</td>
                        </tr>
                    }}).collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}

#[component]
fn Figure(label: &'static str, value: String, note: String, testid: &'static str) -> impl IntoView {
    view! {
        <div class="figure" data-testid=format!("figure-{testid}")>
            <span class="figure-label">{label}</span>
            <span class="figure-value">{value}</span>
            <span class="figure-note">{note}</span>
        </div>
    }
}

/// Two bars per day (deposits, withdrawals paid), scaled to the period's largest day; drawn on
/// the server, so it needs no JavaScript. The same numbers follow as a table.
#[component]
fn FlowChart(daily: Vec<DailyFlow>, currency: Currency) -> impl IntoView {
    let largest = daily
        .iter()
        .map(|day| day.deposits_minor.max(day.withdrawals_minor))
        .max()
        .unwrap_or(0)
        .max(1);
    let days = daily.len().max(1) as i64;
    let slot = (CHART_WIDTH - 2 * CHART_PAD) / days;
    let bar = (slot / 2 - 1).max(1);
    let plot_height = CHART_HEIGHT - 2 * CHART_PAD;
    let height = move |minor: i64| minor * plot_height / largest;
    let format = move |minor: i64| SignedMoney::from_minor_units(minor, currency).to_string();
    let baseline = CHART_HEIGHT - CHART_PAD;
    let first = daily.first().map(|day| day.day.clone()).unwrap_or_default();
    let last = daily.last().map(|day| day.day.clone()).unwrap_or_default();
    let label = format!("Deposits and withdrawals paid per day, {first} to {last}");
    let bars = daily
        .iter()
        .enumerate()
        .map(|(index, day)| {
            let x = CHART_PAD + index as i64 * slot;
            let deposits = height(day.deposits_minor);
            let withdrawals = height(day.withdrawals_minor);
            view! {
                <g>
                    <rect class="deposits" x=x y=baseline - deposits width=bar height=deposits>
                        <title>{format!("{}: deposits {}", day.day, format(day.deposits_minor))}</title>
                    </rect>
                    <rect class="withdrawals" x=x + bar + 1 y=baseline - withdrawals width=bar height=withdrawals>
                        <title>{format!("{}: withdrawals paid {}", day.day, format(day.withdrawals_minor))}</title>
                    </rect>
                </g>
            }
        })
        .collect_view();
    view! {
        <p class="legend">
            <span><span class="swatch deposits"></span>"Deposits"</span>
            <span><span class="swatch withdrawals"></span>"Withdrawals paid"</span>
        </p>
        <svg class="chart" data-testid="flow-chart" role="img" viewBox=format!("0 0 {CHART_WIDTH} {CHART_HEIGHT}")
            aria-label=label>
            <line class="axis" x1=CHART_PAD y1=baseline x2=CHART_WIDTH - CHART_PAD y2=baseline/>
            <text x=CHART_PAD y=CHART_PAD - 8>{format!("max {}", format(largest))}</text>
            <text x=CHART_PAD y=CHART_HEIGHT - 6>{first}</text>
            <text x=CHART_WIDTH - CHART_PAD y=CHART_HEIGHT - 6 text-anchor="end">{last}</text>
            {bars}
        </svg>
        <details>
            <summary>"Per day as a table"</summary>
            <table class="table" data-testid="flow-table">
                <thead><tr><th>"Day"</th><th class="amount">"Deposits"</th><th class="amount">"Withdrawals paid"</th></tr></thead>
                <tbody>
                    {daily.into_iter().map(|day| view! {
                        <tr>
                            <td>{day.day.clone()}</td>
                            <td class="amount">{format(day.deposits_minor)}</td>
                            <td class="amount">{format(day.withdrawals_minor)}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </details>
    }
}

#[component]
fn IntegrityStatus(last: Option<IntegrityRun>) -> impl IntoView {
    let action = ServerAction::<CheckLedgerIntegrity>::new();
    let last_text = match &last {
        Some(run) => format!(
            "Last run {} by {}: {}.",
            run.at.format("%Y-%m-%d %H:%M:%S UTC"),
            run.by.clone().unwrap_or_else(|| "staff".to_owned()),
            if run.ok {
                "passed".to_owned()
            } else {
                format!("failed with {} violation(s)", run.violations)
            }
        ),
        None => "No integrity check has been run from the back office yet.".to_owned(),
    };
    view! {
        <section class="card" data-testid="figures-integrity">
            <h2>"Ledger integrity"</h2>
            <p data-testid="last-integrity-check">{last_text}</p>
            <ActionForm action=action attr:class="inline">
                <button class="button" type="submit" disabled=move || action.pending().get()>
                    {move || if action.pending().get() { "Checking…" } else { "Run integrity check" }}
                </button>
            </ActionForm>
            {move || action.value().get().map(|result| match result {
                Ok(summary) => view! {
                    <p class="result" role="status">
                        {if summary.ok {
                            view! { <span class="badge success" data-testid="figures-integrity-result">"passed"</span> }.into_any()
                        } else {
                            view! { <span class="badge danger" data-testid="figures-integrity-result">"failed"</span> }.into_any()
                        }}
                        <span class="muted">{format!(" {} journals, {} transfers checked", summary.journals_checked, summary.transfers_checked)}</span>
                    </p>
                }.into_any(),
                Err(error) => view! { <p class="form-error" role="alert">{error.message}</p> }.into_any(),
            })}
        </section>
    }
}
