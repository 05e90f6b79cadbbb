//! Reconciliation (`/admin/reconciliation`): the findings of comparing each PSP's records with
//! our deposits, payout attempts and journals, filtered by status, kind and provider; a button
//! that runs the comparison; and resolving a finding with a note, optionally fixing the money
//! (apply what the PSP says through the payments path, or post a correcting adjustment).

use chrono::{DateTime, Utc};
use leptos::prelude::*;
use leptos_router::components::Form;
use leptos_router::hooks::use_query_map;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::nav::{BackofficeNav, page_error, query_string, query_text};
use crate::components::{FieldError, FormError, action_error, action_idempotency_key};
use crate::domain::reconciliation::{FindingKind, FindingSeverity, FindingStatus};
use crate::error::AppError;
use crate::money::SignedMoney;

/// Findings per page.
pub const FINDING_PAGE_SIZE: i64 = 50;
pub const FINDING_KINDS: [&str; 4] = [
    "missing_in_ledger",
    "missing_at_psp",
    "amount_mismatch",
    "status_mismatch",
];
pub const FINDING_STATUSES: [&str; 2] = ["open", "resolved"];
/// How a resolution may fix the money, as (value, label).
pub const CORRECTIONS: [(&str, &str); 4] = [
    ("none", "Note only (nothing to fix in our books)"),
    (
        "apply_psp",
        "Apply what the PSP reports (through the payments path)",
    ),
    (
        "credit",
        "Credit the player (asks a second staff member to approve)",
    ),
    ("debit", "Debit the player (correcting adjustment)"),
];
/// Longest resolution note.
pub const RESOLUTION_NOTE_LENGTH_MAX: usize = 2000;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindingFilter {
    pub status: Option<String>,
    pub kind: Option<String>,
    pub provider: Option<String>,
    pub offset: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindingRow {
    pub id: Uuid,
    pub provider: String,
    pub reference: String,
    pub kind: FindingKind,
    pub severity: FindingSeverity,
    pub status: FindingStatus,
    pub object_type: Option<String>,
    pub object_id: Option<Uuid>,
    pub player_id: Option<Uuid>,
    pub player_email: Option<String>,
    pub psp_amount: Option<SignedMoney>,
    pub ledger_amount: Option<SignedMoney>,
    pub psp_status: Option<String>,
    pub ledger_status: Option<String>,
    pub message: String,
    pub first_seen_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub resolved_by: Option<String>,
    pub resolution_note: Option<String>,
    pub correcting_journal_id: Option<Uuid>,
    /// A correcting credit that waits for a second staff member's approval.
    pub pending_credit_request_id: Option<Uuid>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunSummary {
    pub id: Uuid,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub actor: String,
    pub records_checked: i32,
    pub findings_new: i32,
    pub findings_seen: i32,
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindingPage {
    pub findings: Vec<FindingRow>,
    pub next_offset: Option<i64>,
    /// The viewer may run reconciliation and resolve findings (finance or owner).
    pub can_act: bool,
    /// The latest run that covered this brand.
    pub last_run: Option<RunSummary>,
}

/// Any staff role: this brand's findings, newest first.
#[server(endpoint = "backoffice/reconciliation/findings")]
pub async fn list_findings(
    status: Option<String>,
    kind: Option<String>,
    provider: Option<String>,
    offset: Option<i64>,
) -> Result<FindingPage, AppError> {
    let filter = FindingFilter {
        status,
        kind,
        provider,
        offset,
    };
    crate::api::call::<dyn super::BackofficeApi, _, _, _>(|api, ctx| async move {
        api.findings(&ctx, filter).await
    })
    .await
}

/// Finance or owner: compares every enabled PSP's records for this brand with ours now.
#[server(endpoint = "backoffice/reconciliation/run")]
pub async fn run_reconciliation(idempotency_key: String) -> Result<RunSummary, AppError> {
    crate::api::call::<dyn super::BackofficeApi, _, _, _>(|api, ctx| async move {
        api.run_reconciliation(&ctx, idempotency_key).await
    })
    .await
}

/// Finance or owner: resolves an open finding with a note and, when `correction` says so, a fix
/// of the money (`apply_psp`, or `credit`/`debit` of `amount`). Audited; one resolution per key.
#[server(endpoint = "backoffice/reconciliation/resolve")]
pub async fn resolve_finding(
    finding: Uuid,
    note: String,
    correction: Option<String>,
    amount: Option<String>,
    idempotency_key: String,
) -> Result<FindingRow, AppError> {
    crate::api::call::<dyn super::BackofficeApi, _, _, _>(|api, ctx| async move {
        api.resolve_finding(&ctx, finding, note, correction, amount, idempotency_key)
            .await
    })
    .await
}

#[component]
pub fn ReconciliationPage() -> impl IntoView {
    let query = use_query_map();
    let filter = Memo::new(move |_| {
        query.with(|query| FindingFilter {
            status: query_text(query, "status"),
            kind: query_text(query, "kind"),
            provider: query_text(query, "provider"),
            offset: query_text(query, "offset").and_then(|value| value.parse().ok()),
        })
    });
    let run = ServerAction::<RunReconciliation>::new();
    let findings = Resource::new(
        move || (filter.get(), run.version().get()),
        |(filter, _)| list_findings(filter.status, filter.kind, filter.provider, filter.offset),
    );
    let selected = move |name: &'static str, value: &'static str| {
        move || query.with(|query| query_text(query, name).as_deref() == Some(value))
    };
    view! {
        <BackofficeNav current="/admin/reconciliation"/>
        <section class="card" data-testid="reconciliation">
            <h1>"Reconciliation"</h1>
            <p class="muted">"What each PSP reports, compared with our deposits, payout attempts and journals. A re-run refreshes what it finds again; it never adds a finding twice."</p>
            <Form method="GET" action="/admin/reconciliation" attr:class="filters" attr:aria-label="Filter findings">
                <label>"Status"
                    <select name="status">
                        <option value="">"Any"</option>
                        {FINDING_STATUSES.iter().map(|status| view! {
                            <option value=*status selected=selected("status", status)>{*status}</option>
                        }).collect_view()}
                    </select>
                </label>
                <label>"Kind"
                    <select name="kind">
                        <option value="">"Any"</option>
                        {FINDING_KINDS.iter().map(|kind| view! {
                            <option value=*kind selected=selected("kind", kind)>{*kind}</option>
                        }).collect_view()}
                    </select>
                </label>
                <label>"Provider"
                    <select name="provider">
                        <option value="">"Any"</option>
                        <option value="mock" selected=selected("provider", "mock")>"mock"</option>
                        <option value="stripe" selected=selected("provider", "stripe")>"stripe"</option>
                    </select>
                </label>
                <button class="button" type="submit">"Show"</button>
            </Form>
            <Suspense fallback=|| view! { <p class="loading" aria-busy="true">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match findings.await {
                        Ok(page) => view! { <FindingsView page filter=filter.get_untracked() run/> }.into_any(),
                        Err(error) => page_error(error),
                    }
                })}
            </Suspense>
        </section>
    }
}

#[component]
fn FindingsView(
    page: FindingPage,
    filter: FindingFilter,
    run: ServerAction<RunReconciliation>,
) -> impl IntoView {
    let key = action_idempotency_key(run);
    let can_act = page.can_act;
    let last_run = page.last_run.map(|run| {
        format!(
            "Last run {} by {}: {} records checked, {} new finding(s), {} seen again{}.",
            run.started_at.format("%Y-%m-%d %H:%M:%S UTC"),
            run.actor,
            run.records_checked,
            run.findings_new,
            run.findings_seen,
            run.error
                .map(|error| format!(" ({error})"))
                .unwrap_or_default()
        )
    });
    let next = page.next_offset.map(|offset| {
        let href = format!(
            "/admin/reconciliation{}",
            query_string(&[
                ("status", filter.status.clone()),
                ("kind", filter.kind.clone()),
                ("provider", filter.provider.clone()),
                ("offset", Some(offset.to_string())),
            ])
        );
        view! { <p class="pager"><a class="button small" href=href>"More findings"</a></p> }
    });
    let export = format!(
        "/admin/export/findings.csv{}",
        query_string(&[
            ("status", filter.status),
            ("kind", filter.kind),
            ("provider", filter.provider),
        ])
    );
    view! {
        <p data-testid="last-run">{last_run.unwrap_or_else(|| "Reconciliation has not run for this brand yet.".to_owned())}</p>
        {can_act.then(|| view! {
            <ActionForm action=run attr:class="inline">
                <input type="hidden" name="idempotency_key" prop:value=move || key.get()/>
                <button class="button primary" type="submit" data-testid="run-reconciliation"
                    disabled=move || run.pending().get() || key.with(String::is_empty)>
                    {move || if run.pending().get() { "Comparing…" } else { "Run reconciliation" }}
                </button>
            </ActionForm>
        })}
        {move || run.value().get().and_then(Result::err).map(|error| view! {
            <p class="form-error" role="alert">{error.message}</p>
        })}
        <p><a class="button small" href=export rel="external" data-testid="findings-export">"Export CSV"</a></p>
        {if page.findings.is_empty() {
            view! { <p class="empty" data-testid="findings-empty">"No findings match."</p> }.into_any()
        } else {
            view! {
                <div class="table-wrap">
                    <table class="table" data-testid="findings">
                        <thead>
                            <tr>
                                <th>"Kind"</th><th>"Provider / reference"</th><th>"PSP"</th><th>"Ours"</th>
                                <th>"What"</th><th>"Seen"</th><th>"Status"</th>
                            </tr>
                        </thead>
                        <tbody>
                            {page.findings.into_iter().map(|finding| view! { <FindingRowView finding can_act/> }).collect_view()}
                        </tbody>
                    </table>
                </div>
            }.into_any()
        }}
        {next}
    }
}

#[component]
fn FindingRowView(finding: FindingRow, can_act: bool) -> impl IntoView {
    let severity = if matches!(finding.severity.as_str(), "high" | "critical") {
        "badge danger"
    } else {
        "badge warning"
    };
    let side = |status: Option<String>, amount: Option<SignedMoney>| {
        [status, amount.map(|amount| amount.to_string())]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" · ")
    };
    let open = finding.status == FindingStatus::Open;
    let id = finding.id;
    view! {
        <tr data-testid="finding" data-kind=finding.kind.as_str() data-status=finding.status.as_str()>
            <td><span class=severity>{finding.kind.as_str()}</span></td>
            <td>{finding.provider.clone()}<br/><span class="mono">{finding.reference.clone()}</span></td>
            <td>{side(finding.psp_status.clone(), finding.psp_amount)}</td>
            <td>
                {side(finding.ledger_status.clone(), finding.ledger_amount)}
                {finding.player_id.map(|player| view! {
                    <br/><a href=format!("/admin/players/{player}")>{finding.player_email.clone().unwrap_or_default()}</a>
                })}
            </td>
            <td>{finding.message.clone()}</td>
            <td>{format!("{} – {}", finding.first_seen_at.format("%Y-%m-%d %H:%M"), finding.last_seen_at.format("%Y-%m-%d %H:%M"))}</td>
            <td>
                {if open {
                    let waiting = finding.pending_credit_request_id.is_some();
                    view! {
                        <span class="badge">"open"</span>
                        {waiting.then(|| view! { <p class="muted"><a href="/admin/credits">"A correcting credit waits for approval"</a></p> })}
                        {(can_act && !waiting).then(|| view! { <ResolveForm finding=id/> })}
                    }.into_any()
                } else {
                    view! {
                        <span class="badge success">"resolved"</span>
                        <p class="muted">
                            {format!("{} by {}: {}",
                                finding.resolved_at.map(|at| at.format("%Y-%m-%d %H:%M").to_string()).unwrap_or_default(),
                                finding.resolved_by.clone().unwrap_or_default(),
                                finding.resolution_note.clone().unwrap_or_default())}
                        </p>
                        {finding.correcting_journal_id.map(|journal| view! {
                            <a href=format!("/admin/ledger/journals/{journal}")>"Correcting journal"</a>
                        })}
                    }.into_any()
                }}
            </td>
        </tr>
    }
}

#[component]
fn ResolveForm(finding: Uuid) -> impl IntoView {
    let action = ServerAction::<ResolveFinding>::new();
    let key = action_idempotency_key(action);
    let error = action_error(action);
    view! {
        <details>
            <summary>"Resolve"</summary>
            <ActionForm action=action attr:class="form" attr:aria-label="Resolve the finding">
                <FormError error/>
                <input type="hidden" name="finding" value=finding.to_string()/>
                <input type="hidden" name="idempotency_key" prop:value=move || key.get()/>
                <label>"Note" <textarea name="note" required maxlength=RESOLUTION_NOTE_LENGTH_MAX></textarea></label>
                <FieldError error field="note"/>
                <label>"Fix"
                    <select name="correction">
                        {CORRECTIONS.iter().map(|(value, label)| view! { <option value=*value>{*label}</option> }).collect_view()}
                    </select>
                </label>
                <label>"Amount (for an adjustment)" <input name="amount" type="text" inputmode="decimal" placeholder="1.00"/></label>
                <FieldError error field="amount"/>
                <button class="button" type="submit" disabled=move || action.pending().get() || key.with(String::is_empty)>
                    {move || if action.pending().get() { "Resolving…" } else { "Resolve" }}
                </button>
            </ActionForm>
            {move || action.value().get().and_then(Result::ok).map(|row| if row.pending_credit_request_id.is_some() {
                view! {
                    <p class="result" role="status">"Credit requested: it posts and resolves the finding when a second staff member approves it on "<a href="/admin/credits">"Credit approvals"</a>"."</p>
                }.into_any()
            } else {
                view! {
                    <p class="result" role="status">{format!("Resolved: {}", row.resolution_note.unwrap_or_default())}</p>
                }.into_any()
            })}
        </details>
    }
}
