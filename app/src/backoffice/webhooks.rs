//! The webhook log (`/admin/webhooks`): every verified PSP event about this brand's payments, with
//! what applying it did; finance and owner can re-apply one that failed or matched nothing
//! (idempotent: an event applies at most once, whoever asks).

use chrono::{DateTime, Utc};
use leptos::prelude::*;
use leptos_router::components::Form;
use leptos_router::hooks::use_query_map;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::nav::{BackofficeNav, page_error, query_string, query_text};
use crate::components::action_idempotency_key;
use crate::domain::reconciliation::WebhookEventStatus;
use crate::error::AppError;

/// Events per page.
pub const WEBHOOK_PAGE_SIZE: i64 = 50;
/// The statuses an event can be in, in pipeline order.
pub const WEBHOOK_STATUSES: [&str; 5] = ["received", "applied", "ignored", "unmatched", "failed"];

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookFilter {
    pub provider: Option<String>,
    pub status: Option<String>,
    /// Rows to skip (multiples of the page size).
    pub offset: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookEventRow {
    pub id: Uuid,
    pub provider: String,
    pub event_id: String,
    pub event_type: String,
    /// Only events whose signature verified are stored, so this is always true today; refused
    /// deliveries are answered 400 and kept nowhere.
    pub signature_verified: bool,
    pub status: WebhookEventStatus,
    pub attempts: i32,
    pub deliveries: i32,
    pub last_error: Option<String>,
    pub object_type: Option<String>,
    pub object_id: Option<Uuid>,
    pub received_at: DateTime<Utc>,
    pub last_delivery_at: DateTime<Utc>,
    pub applied_at: Option<DateTime<Utc>>,
}

impl WebhookEventRow {
    /// Events that did not apply may be applied again.
    pub fn may_reapply(&self) -> bool {
        self.status.may_reapply()
    }
}

/// How many of this brand's events a provider has in one status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookCount {
    pub provider: String,
    pub status: WebhookEventStatus,
    pub count: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookEventPage {
    pub counts: Vec<WebhookCount>,
    pub events: Vec<WebhookEventRow>,
    /// The offset of the next page, if there may be one.
    pub next_offset: Option<i64>,
    /// The viewer may re-apply events (finance or owner).
    pub can_act: bool,
}

/// What a re-apply did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReapplyOutcome {
    pub event_id: Uuid,
    /// The event's status afterwards.
    pub status: WebhookEventStatus,
    /// Why it still did not apply, if it did not.
    pub error: Option<String>,
}

/// Any staff role: this brand's webhook events, newest first.
#[server(endpoint = "backoffice/webhooks")]
pub async fn list_webhook_events(
    provider: Option<String>,
    status: Option<String>,
    offset: Option<i64>,
) -> Result<WebhookEventPage, AppError> {
    let filter = WebhookFilter {
        provider,
        status,
        offset,
    };
    crate::api::call::<dyn super::BackofficeApi, _, _, _>(|api, ctx| async move {
        api.webhook_events(&ctx, filter).await
    })
    .await
}

/// Finance or owner: applies a stored event again (at most once in effect), audited.
#[server(endpoint = "backoffice/webhooks/reapply")]
pub async fn reapply_webhook_event(
    event: Uuid,
    idempotency_key: String,
) -> Result<ReapplyOutcome, AppError> {
    crate::api::call::<dyn super::BackofficeApi, _, _, _>(|api, ctx| async move {
        api.reapply_webhook_event(&ctx, event, idempotency_key)
            .await
    })
    .await
}

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
    let selected = move |name: &'static str, value: &'static str| {
        move || query.with(|query| query_text(query, name).as_deref() == Some(value))
    };
    view! {
        <BackofficeNav current="/admin/webhooks"/>
        <section class="card" data-testid="webhook-log">
            <h1>"Webhook log"</h1>
            <p class="muted">"PSP events whose signature verified, stored before anything was applied. Refused deliveries are answered 400 and not kept."</p>
            <Form method="GET" action="/admin/webhooks" attr:class="filters" attr:aria-label="Filter the webhook log">
                <label>"Provider"
                    <select name="provider">
                        <option value="">"Any"</option>
                        <option value="mock" selected=selected("provider", "mock")>"mock"</option>
                        <option value="stripe" selected=selected("provider", "stripe")>"stripe"</option>
                    </select>
                </label>
                <label>"Status"
                    <select name="status">
                        <option value="">"Any"</option>
                        {WEBHOOK_STATUSES.iter().map(|status| view! {
                            <option value=*status selected=selected("status", status)>{*status}</option>
                        }).collect_view()}
                    </select>
                </label>
                <button class="button" type="submit">"Show"</button>
            </Form>
            <Suspense fallback=|| view! { <p class="loading" aria-busy="true">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match events.await {
                        Ok(page) => view! { <WebhookTables page filter=filter.get_untracked()/> }.into_any(),
                        Err(error) => page_error(error),
                    }
                })}
            </Suspense>
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
        view! { <p class="pager"><a class="button small" href=href>"Older events"</a></p> }
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
