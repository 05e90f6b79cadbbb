//! The audit log page (`/admin/audit`): every staff action and money state change, searchable by
//! actor, action, target and period, newest first, and a "Verify chain" action that recomputes
//! the tenant's hash chain and names the first broken link.

use chrono::{DateTime, Utc};
use leptos::prelude::*;
use leptos_router::components::Form;
use leptos_router::hooks::use_query_map;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::nav::{BackofficeNav, page_error, query_string, query_text};
use crate::error::AppError;

/// Events per page.
pub const AUDIT_PAGE_SIZE: i64 = 50;

/// The audit page's filters, as typed into its form. Empty means "any".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditFilter {
    /// A staff or player email, a staff/player id, or a provider or job name.
    pub actor: Option<String>,
    /// An action or its prefix: `deposit` matches `deposit.captured`.
    pub action: Option<String>,
    /// `type:id`, a type alone (`deposit`) or an id alone.
    pub target: Option<String>,
    /// First day (`YYYY-MM-DD`, UTC), inclusive.
    pub from: Option<String>,
    /// Last day (`YYYY-MM-DD`, UTC), inclusive.
    pub until: Option<String>,
    /// Events older than this `seq` (the next page).
    pub before: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEventRow {
    pub seq: i64,
    pub id: Uuid,
    pub at: DateTime<Utc>,
    pub actor_type: String,
    pub actor_id: String,
    /// The staff member's or player's email, when the actor is a person.
    pub actor_label: Option<String>,
    pub action: String,
    pub target_type: String,
    pub target_id: String,
    /// `before` and `after` as indented JSON.
    pub before: Option<String>,
    pub after: Option<String>,
    pub reason: Option<String>,
    pub request_id: Option<String>,
    pub idempotency_key: Option<String>,
    pub ip: Option<String>,
    /// The event's hash, hex.
    pub hash: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEventPage {
    pub events: Vec<AuditEventRow>,
    /// Pass as `before` for the next (older) page; `None` on the last page.
    pub next_before: Option<i64>,
}

/// The tenant's audit chain, recomputed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainCheck {
    pub ok: bool,
    pub checked_at: DateTime<Utc>,
    pub events_checked: i64,
    pub head_seq: i64,
    pub first_break: Option<ChainBreakView>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainBreakView {
    pub seq: i64,
    /// `hash_mismatch`, `broken_link`, `missing_event` or `head_mismatch`.
    pub kind: String,
    pub detail: String,
    pub event_id: Option<Uuid>,
}

/// Any staff role: one page of the tenant's audit events, newest first.
#[server(endpoint = "backoffice/audit-events")]
pub async fn list_audit_events(
    actor: Option<String>,
    action: Option<String>,
    target: Option<String>,
    from: Option<String>,
    until: Option<String>,
    before: Option<i64>,
) -> Result<AuditEventPage, AppError> {
    let filter = AuditFilter {
        actor,
        action,
        target,
        from,
        until,
        before,
    };
    crate::api::call::<dyn super::BackofficeApi, _, _, _>(|api, ctx| async move {
        api.audit_events(&ctx, filter).await
    })
    .await
}

/// Any staff role: recomputes the tenant's audit chain and reports its first broken link.
#[server(endpoint = "backoffice/audit-verify")]
pub async fn verify_audit_chain() -> Result<ChainCheck, AppError> {
    crate::api::call::<dyn super::BackofficeApi, _, _, _>(|api, ctx| async move {
        api.verify_audit_chain(&ctx).await
    })
    .await
}

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
            <Suspense fallback=|| view! { <p class="loading" aria-busy="true">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match events.await {
                        Ok(page) => view! { <AuditTable page filter=filter.get_untracked()/> }.into_any(),
                        Err(error) => page_error(error),
                    }
                })}
            </Suspense>
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
        " {} events checked (head at {}) at {}",
        check.events_checked,
        check.head_seq,
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
