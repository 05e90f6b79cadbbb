//! The credit approvals page: the queue, filtered by state, and the approve and decline forms.

use leptos::prelude::*;
use leptos_router::components::Form;
use leptos_router::hooks::use_query_map;
use uuid::Uuid;

use super::api::{DecideCreditRequest, list_credit_requests};
use super::{
    CREDIT_REQUEST_STATES, CreditRequestFilter, CreditRequestPage, CreditRequestRow,
    DECISION_NOTE_LENGTH_MAX,
};
use crate::backoffice::pages::{BackofficeNav, FilterSelect, pager, staff_section};
use crate::backoffice::{query_string, query_text};
use crate::components::{FormError, action_error, action_idempotency_key};
use crate::domain::reconciliation::CreditRequestSource;

#[component]
pub fn CreditRequestsPage() -> impl IntoView {
    let query = use_query_map();
    let filter = Memo::new(move |_| {
        query.with(|query| CreditRequestFilter {
            state: query_text(query, "state"),
            offset: query_text(query, "offset").and_then(|value| value.parse().ok()),
        })
    });
    let requests = Resource::new(
        move || filter.get(),
        |filter| list_credit_requests(filter.state, filter.offset),
    );
    view! {
        <BackofficeNav current="/admin/credits"/>
        <section class="card" data-testid="credit-requests">
            <h1>"Credit approvals"</h1>
            <p class="muted">"Money that staff give a player (a manual credit or a reconciliation correction) posts only when a second, different finance or owner staff member approves it."</p>
            <Form method="GET" action="/admin/credits" attr:class="filters" attr:aria-label="Filter credit requests">
                <FilterSelect label="State" name="state" options=&CREDIT_REQUEST_STATES/>
                <button class="button" type="submit">"Show"</button>
            </Form>
            {staff_section(requests, move |page| view! { <CreditRequestsView page filter=filter.get_untracked()/> })}
        </section>
    }
}

#[component]
fn CreditRequestsView(page: CreditRequestPage, filter: CreditRequestFilter) -> impl IntoView {
    let next = page.next_offset.map(|offset| {
        let href = format!(
            "/admin/credits{}",
            query_string(&[
                ("state", filter.state.clone()),
                ("offset", Some(offset.to_string())),
            ])
        );
        pager(href, "More requests")
    });
    if page.requests.is_empty() {
        return view! { <p class="empty" data-testid="credit-requests-empty">"No credit requests match."</p> }.into_any();
    }
    view! {
        <div class="table-wrap">
            <table class="table" data-testid="credit-request-table">
                <thead>
                    <tr>
                        <th>"Asked"</th><th>"Player"</th><th>"Amount"</th><th>"Reason"</th>
                        <th>"Asked by"</th><th>"State"</th>
                    </tr>
                </thead>
                <tbody>
                    {page.requests.into_iter().map(|request| view! { <CreditRequestRowView request/> }).collect_view()}
                </tbody>
            </table>
        </div>
        {next}
    }
    .into_any()
}

#[component]
fn CreditRequestRowView(request: CreditRequestRow) -> impl IntoView {
    let badge = match request.state.as_str() {
        "approved" => "badge success",
        "declined" => "badge danger",
        _ => "badge warning",
    };
    let source = if request.source == CreditRequestSource::Reconciliation {
        "reconciliation correction"
    } else {
        "manual credit"
    };
    let decided = request.decided_by.clone().map(|by| {
        format!(
            "{} by {}{}",
            request
                .decided_at
                .map(|at| at.format("%Y-%m-%d %H:%M").to_string())
                .unwrap_or_default(),
            by,
            request
                .decision_note
                .clone()
                .map(|note| format!(": {note}"))
                .unwrap_or_default()
        )
    });
    let id = request.id;
    view! {
        <tr data-testid="credit-request" data-state=request.state.as_str()>
            <td>{request.requested_at.format("%Y-%m-%d %H:%M").to_string()}</td>
            <td><a href=format!("/admin/players/{}", request.player_id)>{request.player_email.clone()}</a></td>
            <td class="num">{request.amount.to_string()}</td>
            <td>
                {request.reason.clone()}<br/><span class="muted">{source}</span>
                {request.finding_id.map(|_| view! { <br/><a href="/admin/reconciliation">"Finding"</a> })}
            </td>
            <td>{request.requested_by.clone()}</td>
            <td>
                <span class=badge>{request.state.as_str()}</span>
                {decided.map(|text| view! { <p class="muted">{text}</p> })}
                {request.journal_id.map(|journal| view! {
                    <a href=format!("/admin/ledger/journals/{journal}")>"Journal"</a>
                })}
                {request.may_decide.then(|| view! { <DecideForms request=id/> })}
            </td>
        </tr>
    }
}

#[component]
fn DecideForms(request: Uuid) -> impl IntoView {
    let approve = ServerAction::<DecideCreditRequest>::new();
    let decline = ServerAction::<DecideCreditRequest>::new();
    let approve_key = action_idempotency_key(approve);
    let decline_key = action_idempotency_key(decline);
    let approve_error = action_error(approve);
    let decline_error = action_error(decline);
    let done = move || {
        approve
            .value()
            .get()
            .and_then(Result::ok)
            .or_else(|| decline.value().get().and_then(Result::ok))
    };
    view! {
        {move || match done() {
            Some(receipt) => view! {
                <p class="result" role="status" data-testid="credit-decided">{format!("Done: {}.", receipt.request.state)}</p>
            }.into_any(),
            None => view! {
                <ActionForm action=approve attr:class="inline" attr:aria-label="Approve the credit">
                    <FormError error=approve_error/>
                    <input type="hidden" name="request" value=request.to_string()/>
                    <input type="hidden" name="decision" value="approve"/>
                    <input type="hidden" name="idempotency_key" prop:value=move || approve_key.get()/>
                    <button class="button primary small" type="submit" data-testid="credit-approve"
                        disabled=move || approve.pending().get() || approve_key.with(String::is_empty)>"Approve"</button>
                </ActionForm>
                <details>
                    <summary>"Decline"</summary>
                    <ActionForm action=decline attr:class="form" attr:aria-label="Decline the credit">
                        <FormError error=decline_error/>
                        <input type="hidden" name="request" value=request.to_string()/>
                        <input type="hidden" name="decision" value="decline"/>
                        <input type="hidden" name="idempotency_key" prop:value=move || decline_key.get()/>
                        <label>"Why" <textarea name="note" required maxlength=DECISION_NOTE_LENGTH_MAX></textarea></label>
                        <button class="button small" type="submit" data-testid="credit-decline"
                            disabled=move || decline.pending().get() || decline_key.with(String::is_empty)>"Decline"</button>
                    </ActionForm>
                </details>
            }.into_any(),
        }}
    }
}
