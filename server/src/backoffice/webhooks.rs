//! The webhook log: this brand's stored PSP events, and the staff action that applies one again
//! through the payments pipeline (`Services::apply_webhook_event`, which applies an event at most
//! once whoever calls it).
//!
//! An event is this brand's when applying it named the brand (`tenant_id`), or, for events that
//! never applied (received, failed, unmatched), when its payload refers to one of the brand's
//! deposits, checkouts or payout attempts, or names the brand in its metadata. An event that
//! refers to nothing any brand knows is shown to no brand.

use app::backoffice::webhooks::{
    ReapplyOutcome, WEBHOOK_PAGE_SIZE, WebhookCount, WebhookEventPage, WebhookEventRow,
    WebhookFilter,
};
use app::domain::ids::{StaffId, TenantId};
use app::domain::reconciliation::WebhookEventStatus;
use app::error::{AppError, ErrorCode};
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use super::{checked_idempotency_key, filter_text, next_offset, page_offset};
use crate::audit::{self, Actor, AuditEvent};
use crate::error::ServerError;
use crate::psp::webhooks::ApplyError;
use crate::services::Services;

/// `w` (a `psp_webhook_events` row) belongs to tenant `$1`. The second branch only looks at
/// events that never applied, which the partial status index finds.
const VISIBLE_TO_TENANT: &str = "(w.tenant_id = $1 OR (w.tenant_id IS NULL
    AND w.status IN ('received', 'unmatched', 'failed')
    AND (w.payload #>> '{data,object,metadata,tenant_id}' = $1::text
      OR EXISTS (SELECT 1 FROM deposits d
                  WHERE d.tenant_id = $1 AND d.provider = w.provider
                    AND (d.provider_session_id = w.payload #>> '{data,object,id}'
                      OR d.id::text IN (w.payload #>> '{data,object,deposit_id}',
                                        w.payload #>> '{data,object,client_reference_id}',
                                        w.payload #>> '{data,object,metadata,deposit_id}')))
      OR EXISTS (SELECT 1 FROM mock_psp_checkouts m
                  WHERE w.provider = 'mock' AND m.tenant_id = $1 AND m.id = w.payload #>> '{data,object,id}')
      OR EXISTS (SELECT 1 FROM payout_attempts a
                  WHERE a.tenant_id = $1 AND a.provider = w.provider
                    AND a.idempotency_key = w.payload #>> '{data,object,idempotency_key}'))))";

#[derive(sqlx::FromRow)]
struct EventRow {
    id: Uuid,
    provider: String,
    event_id: String,
    event_type: String,
    #[sqlx(try_from = "String")]
    status: WebhookEventStatus,
    attempts: i32,
    deliveries: i32,
    last_error: Option<String>,
    object_type: Option<String>,
    object_id: Option<Uuid>,
    received_at: DateTime<Utc>,
    last_delivery_at: DateTime<Utc>,
    applied_at: Option<DateTime<Utc>>,
}

impl From<EventRow> for WebhookEventRow {
    fn from(row: EventRow) -> WebhookEventRow {
        WebhookEventRow {
            id: row.id,
            provider: row.provider,
            event_id: row.event_id,
            event_type: row.event_type,
            signature_verified: true,
            status: row.status,
            attempts: row.attempts,
            deliveries: row.deliveries,
            last_error: row.last_error,
            object_type: row.object_type,
            object_id: row.object_id,
            received_at: row.received_at,
            last_delivery_at: row.last_delivery_at,
            applied_at: row.applied_at,
        }
    }
}

/// One page of the webhook log, with the counts per provider and status.
pub async fn page(
    pool: &PgPool,
    tenant_id: TenantId,
    filter: &WebhookFilter,
    can_act: bool,
) -> Result<WebhookEventPage, ServerError> {
    let provider = filter_text(&filter.provider);
    let status = filter_text(&filter.status)
        .map(|status| {
            WebhookEventStatus::parse(&status)
                .ok_or_else(|| AppError::invalid("status", "Choose one of the statuses offered."))
        })
        .transpose()?;
    let offset = page_offset(filter.offset);
    let counts: Vec<CountRow> = sqlx::query_as(&format!(
        "SELECT w.provider, w.status, count(*) FROM psp_webhook_events w
          WHERE {VISIBLE_TO_TENANT}
          GROUP BY w.provider, w.status ORDER BY w.provider, w.status"
    ))
    .bind(tenant_id)
    .fetch_all(pool)
    .await?;
    let rows: Vec<EventRow> = sqlx::query_as(&format!(
        "SELECT w.id, w.provider, w.event_id, w.event_type, w.status, w.attempts, w.deliveries,
                w.last_error, w.object_type, w.object_id, w.received_at, w.last_delivery_at,
                w.applied_at
           FROM psp_webhook_events w
          WHERE {VISIBLE_TO_TENANT}
            AND ($2::text IS NULL OR w.provider = $2)
            AND ($3::text IS NULL OR w.status = $3)
          ORDER BY w.received_at DESC, w.id DESC
          LIMIT $4 OFFSET $5"
    ))
    .bind(tenant_id)
    .bind(&provider)
    .bind(status.map(WebhookEventStatus::as_str))
    .bind(WEBHOOK_PAGE_SIZE)
    .bind(offset)
    .fetch_all(pool)
    .await?;
    let next_offset = next_offset(rows.len(), offset, WEBHOOK_PAGE_SIZE);
    Ok(WebhookEventPage {
        counts: counts
            .into_iter()
            .map(|row| WebhookCount {
                provider: row.provider,
                status: row.status,
                count: row.count,
            })
            .collect(),
        events: rows.into_iter().map(WebhookEventRow::from).collect(),
        next_offset,
        can_act,
    })
}

/// How many of the tenant's events a provider has in one status.
#[derive(sqlx::FromRow)]
struct CountRow {
    provider: String,
    #[sqlx(try_from = "String")]
    status: WebhookEventStatus,
    count: i64,
}

/// Where an event stands.
#[derive(Debug, Clone, Copy, sqlx::FromRow)]
struct EventState {
    #[sqlx(try_from = "String")]
    status: WebhookEventStatus,
    attempts: i32,
}

/// The event's status and attempts, if it is this tenant's.
async fn visible_event(
    pool: &PgPool,
    tenant_id: TenantId,
    event_id: Uuid,
) -> Result<Option<EventState>, ServerError> {
    Ok(sqlx::query_as(&format!(
        "SELECT w.status, w.attempts FROM psp_webhook_events w
          WHERE {VISIBLE_TO_TENANT} AND w.id = $2"
    ))
    .bind(tenant_id)
    .bind(event_id)
    .fetch_optional(pool)
    .await?)
}

/// Applies the event again for a staff member and audits the action. The same click (same key)
/// again reports the event's status without a second audit event.
pub async fn reapply(
    services: &Services,
    ctx: &app::api::RequestCtx,
    tenant_id: TenantId,
    staff_id: StaffId,
    event_id: Uuid,
    idempotency_key: &str,
) -> Result<ReapplyOutcome, ServerError> {
    let idempotency_key = checked_idempotency_key(idempotency_key)?;
    let pool = services.pool();
    let before = visible_event(pool, tenant_id, event_id)
        .await?
        .ok_or_else(|| AppError::not_found("Webhook event"))?;
    let scoped_key = format!("webhook-reapply:{idempotency_key}");
    let already: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM audit_events
                         WHERE tenant_id = $1 AND actor_id = $2 AND action = 'webhook.reapplied'
                           AND idempotency_key = $3)",
    )
    .bind(tenant_id)
    .bind(staff_id.to_string())
    .bind(&scoped_key)
    .fetch_one(pool)
    .await?;
    if already {
        return Ok(ReapplyOutcome {
            event_id,
            status: before.status,
            error: None,
        });
    }
    if !before.status.may_reapply() {
        return Err(AppError::new(
            ErrorCode::InvalidStateTransition,
            format!(
                "This event is already {}; there is nothing to apply again.",
                before.status
            ),
        )
        .into());
    }
    let error = match services.apply_webhook_event(event_id).await {
        Ok(_) => None,
        Err(ApplyError::Database(error)) => {
            tracing::warn!(event = %event_id, %error, "re-applying a webhook event failed");
            Some("a database error (details in the server log)".to_owned())
        }
        Err(error) => Some(error.to_string()),
    };
    let after = visible_event(pool, tenant_id, event_id)
        .await?
        .unwrap_or(before);
    let event = AuditEvent {
        tenant_id,
        actor: Actor::Staff(staff_id),
        action: "webhook.reapplied".into(),
        target_type: "webhook_event".into(),
        target_id: event_id.to_string(),
        before: Some(serde_json::json!({"status": before.status, "attempts": before.attempts})),
        after: Some(
            serde_json::json!({"status": after.status, "attempts": after.attempts, "error": error}),
        ),
        reason: None,
        request_id: audit::request_id(ctx),
        idempotency_key: Some(scoped_key),
        ip: audit::client_ip(ctx),
        at: services.now(),
    };
    audit::record_alone(pool, &event).await?;
    tracing::info!(event = %event_id, staff = %staff_id, status = %after.status, "webhook event re-applied by staff");
    Ok(ReapplyOutcome {
        event_id,
        status: after.status,
        error,
    })
}
