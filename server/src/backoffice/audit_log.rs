//! Searching a tenant's audit log (the audit page and its CSV export) and verifying its chain.

use app::backoffice::audit::{
    AUDIT_PAGE_SIZE, AuditEventPage, AuditEventRow, AuditFilter, ChainBreakView, ChainCheck,
};
use app::domain::ids::TenantId;
use app::error::AppError;
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use super::{filter_text, parse_day};
use crate::audit;
use crate::error::ServerError;

/// An audit filter resolved against the tenant: emails turned into actor ids, days into instants.
#[derive(Debug, Clone, Default)]
pub struct AuditSearch {
    /// `None`: any actor; an empty list: nobody matches.
    pub actor_ids: Option<Vec<String>>,
    pub action: Option<String>,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

impl AuditSearch {
    pub async fn resolve(
        pool: &PgPool,
        tenant_id: TenantId,
        filter: &AuditFilter,
    ) -> Result<AuditSearch, ServerError> {
        let actor_ids = match filter_text(&filter.actor) {
            None => None,
            Some(actor) if actor.contains('@') => Some(
                sqlx::query_scalar(
                    "SELECT id::text FROM staff WHERE tenant_id = $1 AND email = $2
                     UNION ALL
                     SELECT id::text FROM players WHERE tenant_id = $1 AND email = $2",
                )
                .bind(tenant_id)
                .bind(actor.to_lowercase())
                .fetch_all(pool)
                .await?,
            ),
            Some(actor) => Some(vec![actor]),
        };
        let (target_type, target_id) = match filter_text(&filter.target) {
            None => (None, None),
            Some(target) => match target.split_once(':') {
                Some((kind, id)) => (Some(kind.to_owned()), Some(id.to_owned())),
                None if Uuid::parse_str(&target).is_ok() => (None, Some(target)),
                None => (Some(target), None),
            },
        };
        Ok(AuditSearch {
            actor_ids,
            action: filter_text(&filter.action),
            target_type,
            target_id,
            from: parse_day("from", filter.from.as_deref(), false)?,
            until: parse_day("until", filter.until.as_deref(), true)?,
        })
    }
}

#[derive(sqlx::FromRow)]
struct EventRow {
    seq: i64,
    id: Uuid,
    at: DateTime<Utc>,
    actor_type: String,
    actor_id: String,
    actor_label: Option<String>,
    action: String,
    target_type: String,
    target_id: String,
    before: Option<serde_json::Value>,
    after: Option<serde_json::Value>,
    reason: Option<String>,
    request_id: Option<String>,
    idempotency_key: Option<String>,
    ip: Option<String>,
    hash: Vec<u8>,
}

impl EventRow {
    fn into_view(self) -> AuditEventRow {
        let pretty = |value: Option<serde_json::Value>| {
            value.map(|value| serde_json::to_string_pretty(&value).unwrap_or_default())
        };
        AuditEventRow {
            seq: self.seq,
            id: self.id,
            at: self.at,
            actor_type: self.actor_type,
            actor_id: self.actor_id,
            actor_label: self.actor_label,
            action: self.action,
            target_type: self.target_type,
            target_id: self.target_id,
            before: pretty(self.before),
            after: pretty(self.after),
            reason: self.reason,
            request_id: self.request_id,
            idempotency_key: self.idempotency_key,
            ip: self.ip,
            hash: hex::encode(self.hash),
        }
    }
}

/// Up to `limit` events matching `search` with `seq < before`, newest first.
pub async fn events(
    pool: &PgPool,
    tenant_id: TenantId,
    search: &AuditSearch,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<AuditEventRow>, ServerError> {
    let rows: Vec<EventRow> = sqlx::query_as(
        "SELECT e.seq, e.id, e.at, e.actor_type, e.actor_id, coalesce(s.email, p.email) AS actor_label,
                e.action, e.target_type, e.target_id, e.before, e.after, e.reason, e.request_id,
                e.idempotency_key, e.ip, e.hash
           FROM audit_events e
           LEFT JOIN staff s
                  ON e.actor_type = 'staff' AND s.tenant_id = e.tenant_id AND s.id::text = e.actor_id
           LEFT JOIN players p
                  ON e.actor_type = 'player' AND p.tenant_id = e.tenant_id AND p.id::text = e.actor_id
          WHERE e.tenant_id = $1
            AND ($2::text[] IS NULL OR e.actor_id = ANY ($2))
            AND ($3::text IS NULL OR starts_with(e.action, $3))
            AND ($4::text IS NULL OR e.target_type = $4)
            AND ($5::text IS NULL OR e.target_id = $5)
            AND ($6::timestamptz IS NULL OR e.at >= $6)
            AND ($7::timestamptz IS NULL OR e.at < $7)
            AND ($8::bigint IS NULL OR e.seq < $8)
          ORDER BY e.seq DESC
          LIMIT $9",
    )
    .bind(tenant_id)
    .bind(&search.actor_ids)
    .bind(&search.action)
    .bind(&search.target_type)
    .bind(&search.target_id)
    .bind(search.from)
    .bind(search.until)
    .bind(before)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(EventRow::into_view).collect())
}

/// One page of the audit screen.
pub async fn page(
    pool: &PgPool,
    tenant_id: TenantId,
    search: &AuditSearch,
    before: Option<i64>,
) -> Result<AuditEventPage, ServerError> {
    let events = events(pool, tenant_id, search, before, AUDIT_PAGE_SIZE).await?;
    let next_before = if events.len() as i64 == AUDIT_PAGE_SIZE {
        events.last().map(|event| event.seq)
    } else {
        None
    };
    Ok(AuditEventPage {
        events,
        next_before,
    })
}

/// Recomputes the tenant's chain for the back office.
pub async fn verify(pool: &PgPool, tenant_id: TenantId) -> Result<ChainCheck, ServerError> {
    let report = audit::verify_chain(pool, Some(tenant_id)).await?;
    let chain = report
        .tenants
        .into_iter()
        .next()
        .ok_or_else(|| AppError::not_found("Audit chain"))?;
    Ok(ChainCheck {
        ok: chain.ok(),
        unchained: chain.unchained,
        checked_at: report.checked_at,
        events_checked: chain.events_checked,
        head_seq: chain.head_seq,
        first_break: chain.first_break.map(|broken| ChainBreakView {
            seq: broken.seq,
            kind: broken.kind.as_str().to_owned(),
            detail: broken.detail,
            event_id: broken.event_id,
        }),
    })
}
