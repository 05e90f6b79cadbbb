//! The ledger explorer: accounts with their balances (`/admin/ledger`, filtered by kind and
//! currency), one account's transfers (`/admin/ledger/accounts/:id`, paged) and one journal with
//! its transfers and the business object it belongs to (`/admin/ledger/journals/:id`).

use chrono::{DateTime, Utc};
use leptos::prelude::*;
use leptos_router::components::Form;
use leptos_router::hooks::{use_params_map, use_query_map};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::nav::{BackofficeNav, page_error, query_string, query_text};
use crate::error::AppError;
use crate::money::{Currency, SignedMoney};

/// Accounts per page.
pub const ACCOUNT_PAGE_SIZE: i64 = 50;
/// Transfers per page of an account.
pub const TRANSFER_PAGE_SIZE: i64 = 50;
/// The account kinds, as stored.
pub const ACCOUNT_KINDS: [&str; 6] = [
    "player_cash",
    "player_withdrawal_hold",
    "psp_clearing",
    "house",
    "fees",
    "adjustments",
];
/// The currencies offered in the filter.
pub const EXPLORER_CURRENCIES: [&str; 5] = ["EUR", "USD", "GBP", "TRY", "JPY"];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountRow {
    pub id: Uuid,
    pub kind: String,
    pub provider: Option<String>,
    pub player_id: Option<Uuid>,
    pub player_email: Option<String>,
    pub currency: Currency,
    /// Credits minus debits (a player's funds are positive; what a PSP owes us is negative).
    pub balance: SignedMoney,
    pub debits: SignedMoney,
    pub credits: SignedMoney,
}

impl AccountRow {
    /// `psp_clearing:mock`, `player_cash · player@example.com`, `house`.
    pub fn label(&self) -> String {
        match (&self.provider, &self.player_email) {
            (Some(provider), _) => format!("{}:{provider}", self.kind),
            (None, Some(email)) => format!("{} · {email}", self.kind),
            (None, None) => self.kind.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountPage {
    pub accounts: Vec<AccountRow>,
    pub next_offset: Option<i64>,
}

/// One transfer seen from one account: credits positive, debits negative.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountTransfer {
    pub sequence: i64,
    pub journal_id: Uuid,
    pub journal_kind: String,
    pub reference: Option<String>,
    pub posted_at: DateTime<Utc>,
    pub amount: SignedMoney,
    /// Kept for player accounts only.
    pub balance_after: Option<SignedMoney>,
    pub counterparty_id: Uuid,
    pub counterparty: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountTransfers {
    pub account: AccountRow,
    pub transfers: Vec<AccountTransfer>,
    /// Pass as `before` for the next (older) page.
    pub next_before: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalTransfer {
    pub ordinal: i16,
    pub debit_id: Uuid,
    pub debit: String,
    pub credit_id: Uuid,
    pub credit: String,
    pub amount: SignedMoney,
    pub debit_balance_after: Option<SignedMoney>,
    pub credit_balance_after: Option<SignedMoney>,
}

/// The business object a journal belongs to (its `reference`), as staff need to see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BusinessObject {
    /// `deposit`, `withdrawal`, `player`, …
    pub kind: String,
    pub id: String,
    /// (label, value) facts about it.
    pub facts: Vec<(String, String)>,
    /// Where staff can see more of it.
    pub link: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalDetail {
    pub id: Uuid,
    pub kind: String,
    pub reference: Option<String>,
    pub idempotency_key: String,
    /// Indented JSON.
    pub metadata: String,
    pub posted_at: DateTime<Utc>,
    pub transfers: Vec<JournalTransfer>,
    pub object: Option<BusinessObject>,
}

/// Any staff role: this brand's ledger accounts with balances.
#[server(endpoint = "backoffice/ledger/accounts")]
pub async fn list_ledger_accounts(
    kind: Option<String>,
    currency: Option<String>,
    offset: Option<i64>,
) -> Result<AccountPage, AppError> {
    crate::api::call::<dyn super::BackofficeApi, _, _, _>(|api, ctx| async move {
        api.ledger_accounts(&ctx, kind, currency, offset).await
    })
    .await
}

/// Any staff role: one account's transfers, newest first.
#[server(endpoint = "backoffice/ledger/account")]
pub async fn load_account_transfers(
    account: Uuid,
    before: Option<i64>,
) -> Result<AccountTransfers, AppError> {
    crate::api::call::<dyn super::BackofficeApi, _, _, _>(|api, ctx| async move {
        api.account_transfers(&ctx, account, before).await
    })
    .await
}

/// Any staff role: one journal with its transfers and business object.
#[server(endpoint = "backoffice/ledger/journal")]
pub async fn load_journal(journal: Uuid) -> Result<JournalDetail, AppError> {
    crate::api::call::<dyn super::BackofficeApi, _, _, _>(|api, ctx| async move {
        api.journal_detail(&ctx, journal).await
    })
    .await
}

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
    let selected = move |name: &'static str, value: &'static str| {
        move || query.with(|query| query_text(query, name).as_deref() == Some(value))
    };
    view! {
        <BackofficeNav current="/admin/ledger"/>
        <section class="card" data-testid="ledger-accounts">
            <h1>"Ledger accounts"</h1>
            <Form method="GET" action="/admin/ledger" attr:class="filters" attr:aria-label="Filter accounts">
                <label>"Kind"
                    <select name="kind">
                        <option value="">"Any"</option>
                        {ACCOUNT_KINDS.iter().map(|kind| view! {
                            <option value=*kind selected=selected("kind", kind)>{*kind}</option>
                        }).collect_view()}
                    </select>
                </label>
                <label>"Currency"
                    <select name="currency">
                        <option value="">"Any"</option>
                        {EXPLORER_CURRENCIES.iter().map(|code| view! {
                            <option value=*code selected=selected("currency", code)>{*code}</option>
                        }).collect_view()}
                    </select>
                </label>
                <button class="button" type="submit">"Show"</button>
            </Form>
            <Suspense fallback=|| view! { <p class="loading" aria-busy="true">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match accounts.await {
                        Ok(page) => {
                            let (kind, currency, _) = filter.get_untracked();
                            view! { <AccountTable page kind currency/> }.into_any()
                        }
                        Err(error) => page_error(error),
                    }
                })}
            </Suspense>
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
        view! { <p class="pager"><a class="button small" href=href>"More accounts"</a></p> }
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
    let params = use_params_map();
    let query = use_query_map();
    let key = Memo::new(move |_| {
        (
            params.with(|params| params.get("id").and_then(|id| Uuid::parse_str(&id).ok())),
            query.with(|query| {
                query_text(query, "before").and_then(|value| value.parse::<i64>().ok())
            }),
        )
    });
    let transfers = Resource::new(
        move || key.get(),
        |(account, before)| async move {
            match account {
                Some(account) => load_account_transfers(account, before).await,
                None => Err(AppError::not_found("Account")),
            }
        },
    );
    view! {
        <BackofficeNav current="/admin/ledger"/>
        <Suspense fallback=|| view! { <p class="loading" aria-busy="true">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match transfers.await {
                    Ok(page) => view! { <AccountView page/> }.into_any(),
                    Err(error) => page_error(error),
                }
            })}
        </Suspense>
    }
}

#[component]
fn AccountView(page: AccountTransfers) -> impl IntoView {
    let account = page.account.clone();
    let next = page.next_before.map(|before| {
        let href = format!("/admin/ledger/accounts/{}?before={before}", account.id);
        view! { <p class="pager"><a class="button small" href=href>"Older transfers"</a></p> }
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
    let params = use_params_map();
    let journal = Memo::new(move |_| {
        params.with(|params| params.get("id").and_then(|id| Uuid::parse_str(&id).ok()))
    });
    let detail = Resource::new(
        move || journal.get(),
        |journal| async move {
            match journal {
                Some(journal) => load_journal(journal).await,
                None => Err(AppError::not_found("Journal")),
            }
        },
    );
    view! {
        <BackofficeNav current="/admin/ledger"/>
        <Suspense fallback=|| view! { <p class="loading" aria-busy="true">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match detail.await {
                    Ok(detail) => view! { <JournalView detail/> }.into_any(),
                    Err(error) => page_error(error),
                }
            })}
        </Suspense>
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
