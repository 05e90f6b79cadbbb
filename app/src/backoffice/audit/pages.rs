//! The audit log page: the filter form, the events table and the "Verify chain" card.

use leptos::prelude::*;
use leptos_router::components::Form;
use leptos_router::hooks::use_query_map;

use super::api::{VerifyAuditChain, list_audit_events};
use super::{AuditEventPage, AuditEventRow, AuditFilter, ChainCheck};
use crate::backoffice::pages::{BackofficeNav, staff_section};
use crate::backoffice::{query_string, query_text};

#[component]
pub fn AuditLogPage() -> impl IntoView {
    let query = use_query_map();
    let filter = Memo::new(move |_| {
        query.with(|query| AuditFilter {
            actor: query_text(query, "actor"),
            action: query_text(query, "action"),
            target: query_text(query, "target"),
            from: query_text(query, "from"),
            until: query_text(query, "until"),
            before: query_text(query, "before").and_then(|value| value.parse().ok()),
        })
    });
    let events = Resource::new(
        move || filter.get(),
        |filter| {
            list_audit_events(
                filter.actor,
                filter.action,
                filter.target,
                filter.from,
                filter.until,
                filter.before,
            )
        },
    );
    let value = move |name: &'static str| {
        move || query.with(|query| query_text(query, name).unwrap_or_default())
    };
    view! {
        <BackofficeNav current="/admin/audit"/>
        <section class="card" data-testid="audit-log">
            <h1>"Audit log"</h1>
            <p class="muted">"Every staff action and every money state change, in the order they were chained."</p>
            <Form method="GET" action="/admin/audit" attr:class="filters" attr:aria-label="Filter the audit log">
                <label>"Actor" <input name="actor" type="search" placeholder="email, id or provider" value=value("actor")/></label>
                <label>"Action" <input name="action" type="search" placeholder="deposit.captured" value=value("action")/></label>
                <label>"Target" <input name="target" type="search" placeholder="deposit:<id>" value=value("target")/></label>
                <label>"From" <input name="from" type="date" value=value("from")/></label>
                <label>"Until" <input name="until" type="date" value=value("until")/></label>
                <button class="button" type="submit">"Search"</button>
                <a class="button ghost" href="/admin/audit">"Clear"</a>
            </Form>
            {staff_section(events, move |page| view! { <AuditTable page filter=filter.get_untracked()/> })}
        </section>
        <ChainCard/>
    }
}

#[component]
fn AuditTable(page: AuditEventPage, filter: AuditFilter) -> impl IntoView {
    if page.events.is_empty() {
        return view! { <p class="empty" data-testid="audit-empty">"No audit events match."</p> }
            .into_any();
    }
    let next = page.next_before.map(|before| {
        let href = format!(
            "/admin/audit{}",
            query_string(&[
                ("actor", filter.actor.clone()),
                ("action", filter.action.clone()),
                ("target", filter.target.clone()),
                ("from", filter.from.clone()),
                ("until", filter.until.clone()),
                ("before", Some(before.to_string())),
            ])
        );
        view! { <p><a class="button small" href=href data-testid="audit-next">"Older events"</a></p> }
    });
    let export = format!(
        "/admin/export/audit.csv{}",
        query_string(&[
            ("actor", filter.actor),
            ("action", filter.action),
            ("target", filter.target),
            ("from", filter.from),
            ("until", filter.until),
        ])
    );
    view! {
        <div class="table-wrap">
            <table class="table" data-testid="audit-events">
                <thead>
                    <tr>
                        <th>"#"</th><th>"When (UTC)"</th><th>"Actor"</th><th>"Action"</th>
                        <th>"Target"</th><th class="hide-small">"Details"</th>
                    </tr>
                </thead>
                <tbody>
                    {page.events.into_iter().map(|event| view! { <AuditRow event/> }).collect_view()}
                </tbody>
            </table>
        </div>
        {next}
        <p><a class="button small" href=export rel="external" data-testid="audit-export">"Export CSV"</a></p>
    }
    .into_any()
}

#[component]
fn AuditRow(event: AuditEventRow) -> impl IntoView {
    let actor = match &event.actor_label {
        Some(label) => format!("{} {label}", event.actor_type),
        None => format!("{} {}", event.actor_type, event.actor_id),
    };
    let has_details = event.before.is_some()
        || event.after.is_some()
        || event.reason.is_some()
        || event.request_id.is_some();
    view! {
        <tr data-testid="audit-event" data-action=event.action.clone()>
            <td>{event.seq}</td>
            <td>{event.at.format("%Y-%m-%d %H:%M:%S").to_string()}</td>
            <td>{actor}</td>
            <td><code>{event.action.clone()}</code></td>
            <td>{format!("{}:{}", event.target_type, event.target_id)}</td>
            <td class="hide-small">
                {has_details.then(|| view! {
                    <details>
                        <summary>"Details"</summary>
                        <dl class="facts">
                            {event.reason.clone().map(|reason| view! { <dt>"Reason"</dt><dd>{reason}</dd> })}
                            {event.before.clone().map(|before| view! { <dt>"Before"</dt><dd><pre>{before}</pre></dd> })}
                            {event.after.clone().map(|after| view! { <dt>"After"</dt><dd><pre>{after}</pre></dd> })}
                            {event.request_id.clone().map(|id| view! { <dt>"Request"</dt><dd><code>{id}</code></dd> })}
                            {event.idempotency_key.clone().map(|key| view! { <dt>"Key"</dt><dd><code>{key}</code></dd> })}
                            {event.ip.clone().map(|ip| view! { <dt>"Address"</dt><dd>{ip}</dd> })}
                            <dt>"Hash"</dt><dd><code class="hash">{event.hash.clone()}</code></dd>
                        </dl>
                    </details>
                })}
            </td>
        </tr>
    }
}

#[component]
fn ChainCard() -> impl IntoView {
    let action = ServerAction::<VerifyAuditChain>::new();
    view! {
        <section class="card" data-testid="audit-chain">
            <h2>"Chain integrity"</h2>
            <p class="muted">"Recomputes every event's hash from the first one and checks each link to its predecessor."</p>
            <ActionForm action=action attr:class="inline">
                <button class="button" type="submit" disabled=move || action.pending().get()>
                    {move || if action.pending().get() { "Verifying…" } else { "Verify chain" }}
                </button>
            </ActionForm>
            {move || action.value().get().map(|result| match result {
                Ok(check) => view! { <ChainResult check/> }.into_any(),
                Err(error) => view! { <p class="form-error" role="alert">{error.message}</p> }.into_any(),
            })}
        </section>
    }
}

#[component]
fn ChainResult(check: ChainCheck) -> impl IntoView {
    let summary = format!(
        " {} events checked (head at {}, {} waiting to be chained) at {}",
        check.events_checked,
        check.head_seq,
        check.unchained,
        check.checked_at.format("%Y-%m-%d %H:%M:%S UTC")
    );
    view! {
        <div class="result" role="status">
            {if check.ok {
                view! { <span class="badge success" data-testid="chain-result">"intact"</span> }.into_any()
            } else {
                view! { <span class="badge danger" data-testid="chain-result">"broken"</span> }.into_any()
            }}
            <span class="muted">{summary}</span>
            {check.first_break.map(|broken| view! {
                <p class="form-error" data-testid="chain-break">
                    {format!("First broken link: event {} ({}): {}", broken.seq, broken.kind, broken.detail)}
                </p>
            })}
        </div>
    }
}
