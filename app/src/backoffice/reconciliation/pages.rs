//! The reconciliation page: the run button, the findings table and the resolve form.

use leptos::prelude::*;
use leptos_router::components::Form;
use leptos_router::hooks::use_query_map;
use uuid::Uuid;

use super::api::{ResolveFinding, RunReconciliation, list_findings};
use super::{
    CORRECTIONS, FINDING_KINDS, FINDING_STATUSES, FindingFilter, FindingPage, FindingRow,
    RESOLUTION_NOTE_LENGTH_MAX,
};
use crate::backoffice::pages::{BackofficeNav, FilterSelect, pager, staff_section};
use crate::backoffice::{PROVIDERS, query_string, query_text};
use crate::components::{FieldError, FormError, action_error, action_idempotency_key};
use crate::domain::money::SignedMoney;
use crate::domain::reconciliation::FindingStatus;

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
    view! {
        <BackofficeNav current="/admin/reconciliation"/>
        <section class="card" data-testid="reconciliation">
            <h1>"Reconciliation"</h1>
            <p class="muted">"What each PSP reports, compared with our deposits, payout attempts and journals. A re-run refreshes what it finds again; it never adds a finding twice."</p>
            <Form method="GET" action="/admin/reconciliation" attr:class="filters" attr:aria-label="Filter findings">
                <FilterSelect label="Status" name="status" options=&FINDING_STATUSES/>
                <FilterSelect label="Kind" name="kind" options=&FINDING_KINDS/>
                <FilterSelect label="Provider" name="provider" options=&PROVIDERS/>
                <button class="button" type="submit">"Show"</button>
            </Form>
            {staff_section(findings, move |page| view! { <FindingsView page filter=filter.get_untracked() run/> })}
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
        pager(href, "More findings")
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
