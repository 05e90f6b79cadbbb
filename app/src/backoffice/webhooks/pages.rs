//! The webhook log page: the counts, the events table and the re-apply button.

use leptos::prelude::*;
use leptos_router::components::Form;
use leptos_router::hooks::use_query_map;
use uuid::Uuid;

use super::api::{ReapplyWebhookEvent, list_webhook_events};
use super::{WEBHOOK_STATUSES, WebhookEventPage, WebhookEventRow, WebhookFilter};
use crate::backoffice::pages::{BackofficeNav, FilterSelect, pager, staff_section};
use crate::backoffice::{PROVIDERS, query_string, query_text};
use crate::components::action_idempotency_key;

#[component]
pub fn WebhookLogPage() -> impl IntoView {
    let query = use_query_map();
    let filter = Memo::new(move |_| {
        query.with(|query| WebhookFilter {
            provider: query_text(query, "provider"),
            status: query_text(query, "status"),
            offset: query_text(query, "offset").and_then(|value| value.parse().ok()),
        })
    });
    let events = Resource::new(
        move || filter.get(),
        |filter| list_webhook_events(filter.provider, filter.status, filter.offset),
    );
    view! {
        <BackofficeNav current="/admin/webhooks"/>
        <section class="card" data-testid="webhook-log">
            <h1>"Webhook log"</h1>
            <p class="muted">"PSP events whose signature verified, stored before anything was applied. Refused deliveries are answered 400 and not kept."</p>
            <Form method="GET" action="/admin/webhooks" attr:class="filters" attr:aria-label="Filter the webhook log">
                <FilterSelect label="Provider" name="provider" options=&PROVIDERS/>
                <FilterSelect label="Status" name="status" options=&WEBHOOK_STATUSES/>
                <button class="button" type="submit">"Show"</button>
            </Form>
            {staff_section(events, move |page| view! { <WebhookTables page filter=filter.get_untracked()/> })}
        </section>
    }
}

#[component]
fn WebhookTables(page: WebhookEventPage, filter: WebhookFilter) -> impl IntoView {
    let can_act = page.can_act;
    let next = page.next_offset.map(|offset| {
        let href = format!(
            "/admin/webhooks{}",
            query_string(&[
                ("provider", filter.provider.clone()),
                ("status", filter.status.clone()),
                ("offset", Some(offset.to_string())),
            ])
        );
        pager(href, "Older events")
    });
    view! {
        <h2>"By provider and status"</h2>
        {if page.counts.is_empty() {
            view! { <p class="empty">"No events yet."</p> }.into_any()
        } else {
            view! {
                <table class="table" data-testid="webhook-counts">
                    <thead><tr><th>"Provider"</th><th>"Status"</th><th class="amount">"Events"</th></tr></thead>
                    <tbody>
                        {page.counts.into_iter().map(|count| view! {
                            <tr><td>{count.provider}</td><td>{count.status.as_str()}</td><td class="amount">{count.count}</td></tr>
                        }).collect_view()}
                    </tbody>
                </table>
            }.into_any()
        }}
        <h2>"Events"</h2>
        <div class="table-wrap">
            <table class="table" data-testid="webhook-events">
                <thead>
                    <tr>
                        <th>"Received (UTC)"</th><th>"Provider"</th><th>"Event"</th><th>"Signature"</th>
                        <th>"Status"</th><th class="amount">"Attempts"</th><th class="amount">"Deliveries"</th>
                        <th>"Object"</th><th>"Error"</th><th></th>
                    </tr>
                </thead>
                <tbody>
                    {page.events.into_iter().map(|event| view! { <WebhookRow event can_act/> }).collect_view()}
                </tbody>
            </table>
        </div>
        {next}
    }
}

#[component]
fn WebhookRow(event: WebhookEventRow, can_act: bool) -> impl IntoView {
    let badge = match event.status.as_str() {
        "applied" => "badge success",
        "ignored" | "received" => "badge",
        "unmatched" => "badge warning",
        _ => "badge danger",
    };
    let object = match (&event.object_type, event.object_id) {
        (Some(kind), Some(id)) => format!("{kind}:{id}"),
        _ => String::new(),
    };
    let reapply =
        (can_act && event.may_reapply()).then(|| view! { <ReapplyButton event=event.id/> });
    view! {
        <tr data-testid="webhook-event" data-status=event.status.as_str()>
            <td>{event.received_at.format("%Y-%m-%d %H:%M:%S").to_string()}</td>
            <td>{event.provider.clone()}</td>
            <td><code>{event.event_type.clone()}</code><br/><span class="muted mono">{event.event_id.clone()}</span></td>
            <td>{if event.signature_verified { "verified" } else { "refused" }}</td>
            <td><span class=badge>{event.status.as_str()}</span></td>
            <td class="amount">{event.attempts}</td>
            <td class="amount">{event.deliveries}</td>
            <td class="mono">{object}</td>
            <td>{event.last_error.clone().unwrap_or_default()}</td>
            <td>{reapply}</td>
        </tr>
    }
}

#[component]
fn ReapplyButton(event: Uuid) -> impl IntoView {
    let action = ServerAction::<ReapplyWebhookEvent>::new();
    let key = action_idempotency_key(action);
    view! {
        <ActionForm action=action attr:class="inline">
            <input type="hidden" name="event" value=event.to_string()/>
            <input type="hidden" name="idempotency_key" prop:value=move || key.get()/>
            <button class="button small" type="submit" disabled=move || action.pending().get() || key.with(String::is_empty)>
                {move || if action.pending().get() { "Applying…" } else { "Re-apply" }}
            </button>
        </ActionForm>
        {move || action.value().get().map(|result| match result {
            Ok(outcome) => view! {
                <span class="muted" role="status" data-testid="reapply-result">
                    {format!(" now {}", outcome.status)}
                    {outcome.error.map(|error| format!(": {error}"))}
                </span>
            }.into_any(),
            Err(error) => view! { <span class="form-error" role="alert">{error.message}</span> }.into_any(),
        })}
    }
}
