//! The ledger explorer's pages: the account list, one account and one journal.

use leptos::prelude::*;
use leptos_router::components::Form;
use leptos_router::hooks::use_query_map;

use super::api::{list_ledger_accounts, load_account_transfers, load_journal};
use super::{ACCOUNT_KINDS, AccountPage, AccountTransfers, EXPLORER_CURRENCIES, JournalDetail};
use crate::backoffice::pages::{BackofficeNav, FilterSelect, pager, staff_section};
use crate::backoffice::{query_string, query_text};
use crate::components::route_resource;

#[component]
pub fn LedgerAccountsPage() -> impl IntoView {
    let query = use_query_map();
    let filter = Memo::new(move |_| {
        query.with(|query| {
            (
                query_text(query, "kind"),
                query_text(query, "currency"),
                query_text(query, "offset").and_then(|value| value.parse::<i64>().ok()),
            )
        })
    });
    let accounts = Resource::new(
        move || filter.get(),
        |(kind, currency, offset)| list_ledger_accounts(kind, currency, offset),
    );
    view! {
        <BackofficeNav current="/admin/ledger"/>
        <section class="card" data-testid="ledger-accounts">
            <h1>"Ledger accounts"</h1>
            <Form method="GET" action="/admin/ledger" attr:class="filters" attr:aria-label="Filter accounts">
                <FilterSelect label="Kind" name="kind" options=&ACCOUNT_KINDS/>
                <FilterSelect label="Currency" name="currency" options=&EXPLORER_CURRENCIES/>
                <button class="button" type="submit">"Show"</button>
            </Form>
            {staff_section(accounts, move |page| {
                let (kind, currency, _) = filter.get_untracked();
                view! { <AccountTable page kind currency/> }
            })}
        </section>
    }
}

#[component]
fn AccountTable(
    page: AccountPage,
    kind: Option<String>,
    currency: Option<String>,
) -> impl IntoView {
    if page.accounts.is_empty() {
        return view! { <p class="empty">"No accounts match."</p> }.into_any();
    }
    let next = page.next_offset.map(|offset| {
        let href = format!(
            "/admin/ledger{}",
            query_string(&[
                ("kind", kind),
                ("currency", currency),
                ("offset", Some(offset.to_string()))
            ])
        );
        pager(href, "More accounts")
    });
    view! {
        <div class="table-wrap">
            <table class="table" data-testid="account-table">
                <thead><tr><th>"Account"</th><th>"Currency"</th><th class="amount">"Debits"</th><th class="amount">"Credits"</th><th class="amount">"Balance"</th></tr></thead>
                <tbody>
                    {page.accounts.into_iter().map(|account| view! {
                        <tr data-testid="account-row">
                            <td><a href=format!("/admin/ledger/accounts/{}", account.id)>{account.label()}</a></td>
                            <td>{account.currency.code()}</td>
                            <td class="amount">{account.debits.format_amount()}</td>
                            <td class="amount">{account.credits.format_amount()}</td>
                            <td class="amount">{account.balance.format_amount()}</td>
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
pub fn LedgerAccountPage() -> impl IntoView {
    let query = use_query_map();
    let before = Memo::new(move |_| {
        query.with(|query| query_text(query, "before").and_then(|value| value.parse::<i64>().ok()))
    });
    let transfers = route_resource("Account", move || before.get(), load_account_transfers);
    view! {
        <BackofficeNav current="/admin/ledger"/>
        {staff_section(transfers, move |page| view! { <AccountView page/> })}
    }
}

#[component]
fn AccountView(page: AccountTransfers) -> impl IntoView {
    let account = page.account.clone();
    let next = page.next_before.map(|before| {
        let href = format!("/admin/ledger/accounts/{}?before={before}", account.id);
        pager(href, "Older transfers")
    });
    view! {
        <section class="card" data-testid="ledger-account">
            <h1>{account.label()}</h1>
            <dl class="facts">
                <dt>"Id"</dt><dd class="mono">{account.id.to_string()}</dd>
                <dt>"Balance"</dt><dd data-testid="account-balance">{account.balance.to_string()}</dd>
                <dt>"Debits / credits"</dt><dd>{format!("{} / {}", account.debits.format_amount(), account.credits.format_amount())}</dd>
                {account.player_id.map(|player| view! {
                    <dt>"Player"</dt><dd><a href=format!("/admin/players/{player}")>{account.player_email.clone().unwrap_or_default()}</a></dd>
                })}
            </dl>
            <h2>"Transfers"</h2>
            {if page.transfers.is_empty() {
                view! { <p class="empty">"No transfers."</p> }.into_any()
            } else {
                view! {
                    <div class="table-wrap">
                        <table class="table" data-testid="account-transfers">
                            <thead><tr><th>"#"</th><th>"When (UTC)"</th><th>"Journal"</th><th>"Counterparty"</th><th class="amount">"Amount"</th><th class="amount">"Balance after"</th></tr></thead>
                            <tbody>
                                {page.transfers.into_iter().map(|transfer| view! {
                                    <tr>
                                        <td>{transfer.sequence}</td>
                                        <td>{transfer.posted_at.format("%Y-%m-%d %H:%M:%S").to_string()}</td>
                                        <td><a href=format!("/admin/ledger/journals/{}", transfer.journal_id)>{transfer.journal_kind.clone()}</a></td>
                                        <td><a href=format!("/admin/ledger/accounts/{}", transfer.counterparty_id)>{transfer.counterparty.clone()}</a></td>
                                        <td class="amount">{transfer.amount.format_amount()}</td>
                                        <td class="amount">{transfer.balance_after.map(|balance| balance.format_amount())}</td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                }.into_any()
            }}
            {next}
        </section>
    }
}

#[component]
pub fn LedgerJournalPage() -> impl IntoView {
    let detail = route_resource("Journal", || (), |journal, ()| load_journal(journal));
    view! {
        <BackofficeNav current="/admin/ledger"/>
        {staff_section(detail, move |detail| view! { <JournalView detail/> })}
    }
}

#[component]
fn JournalView(detail: JournalDetail) -> impl IntoView {
    let audit_link = detail.object.as_ref().map(|object| {
        format!(
            "/admin/audit{}",
            query_string(&[("target", Some(format!("{}:{}", object.kind, object.id)))])
        )
    });
    view! {
        <section class="card" data-testid="ledger-journal">
            <h1>{format!("Journal: {}", detail.kind)}</h1>
            <dl class="facts">
                <dt>"Id"</dt><dd class="mono">{detail.id.to_string()}</dd>
                <dt>"Posted"</dt><dd>{detail.posted_at.format("%Y-%m-%d %H:%M:%S UTC").to_string()}</dd>
                <dt>"Reference"</dt><dd class="mono">{detail.reference.clone().unwrap_or_else(|| "–".to_owned())}</dd>
                <dt>"Idempotency key"</dt><dd class="mono">{detail.idempotency_key.clone()}</dd>
            </dl>
            <h2>"Transfers"</h2>
            <div class="table-wrap">
                <table class="table" data-testid="journal-transfers">
                    <thead><tr><th>"#"</th><th>"Debit"</th><th>"Credit"</th><th class="amount">"Amount"</th></tr></thead>
                    <tbody>
                        {detail.transfers.into_iter().map(|transfer| view! {
                            <tr>
                                <td>{transfer.ordinal}</td>
                                <td><a href=format!("/admin/ledger/accounts/{}", transfer.debit_id)>{transfer.debit.clone()}</a></td>
                                <td><a href=format!("/admin/ledger/accounts/{}", transfer.credit_id)>{transfer.credit.clone()}</a></td>
                                <td class="amount">{transfer.amount.to_string()}</td>
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
            <h2>"Metadata"</h2>
            <pre class="mono">{detail.metadata.clone()}</pre>
        </section>
        {detail.object.map(|object| view! {
            <section class="card" data-testid="journal-object">
                <h2>{format!("Belongs to {} {}", object.kind, object.id)}</h2>
                <dl class="facts">
                    {object.facts.into_iter().map(|(label, value)| view! { <dt>{label}</dt><dd>{value}</dd> }).collect_view()}
                </dl>
                <p class="actions">
                    {object.link.map(|link| view! { <a class="button small" href=link>"Open"</a> })}
                    {audit_link.map(|link| view! { <a class="button small" href=link>"Audit trail"</a> })}
                </p>
            </section>
        })}
    }
}
