//! Asking for a credit: the request row and its audit event, written in the caller's
//! transaction (a manual adjustment's or a finding's resolution), idempotent per staff member
//! and key.

use app::api::RequestCtx;
use app::domain::ids::{PlayerId, StaffId, TenantId};
use app::domain::money::Money;
use app::domain::reconciliation::CreditRequestSource;
use app::error::AppError;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::key_reused;
use crate::audit::{self, Actor, AuditEvent};
use crate::auth::StaffMember;
use crate::error::ServerResult;

/// The finding a correction resolves, and the object of ours it corrects.
#[derive(Debug, Clone)]
pub struct FindingLink {
    pub finding_id: Uuid,
    pub object_type: Option<String>,
    pub object_id: Option<Uuid>,
}

/// A credit to ask for; `idempotency_key` is already scoped by its source.
#[derive(Debug, Clone)]
pub struct NewCreditRequest<'a> {
    pub source: CreditRequestSource,
    pub player_id: PlayerId,
    pub amount: Money,
    pub reason: &'a str,
    pub idempotency_key: String,
    pub finding: Option<FindingLink>,
}

impl NewCreditRequest<'_> {
    pub fn sha256(&self) -> Vec<u8> {
        Sha256::digest(format!(
            "{}|{}|{}|{}|{}|{}",
            self.source.as_str(),
            self.player_id,
            self.amount.to_minor_units(),
            self.amount.currency().code(),
            self.finding
                .as_ref()
                .map(|link| link.finding_id.to_string())
                .unwrap_or_default(),
            self.reason,
        ))
        .to_vec()
    }
}

/// A request as stored: its id, and whether this key had made it already.
#[derive(Debug, Clone, Copy)]
pub struct Requested {
    pub id: Uuid,
    pub replayed: bool,
}

/// A request already made with a key: its id, and the hash of what it asked for.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ExistingRequest {
    pub id: Uuid,
    pub request_sha256: Vec<u8>,
}

/// The request `staff` made with this (scoped) key, if any.
pub async fn existing_request(
    conn: &mut sqlx::PgConnection,
    tenant_id: TenantId,
    staff_id: StaffId,
    idempotency_key: &str,
) -> ServerResult<Option<ExistingRequest>> {
    Ok(sqlx::query_as(
        "SELECT id, request_sha256 FROM credit_requests
          WHERE tenant_id = $1 AND requested_by = $2 AND idempotency_key = $3",
    )
    .bind(tenant_id)
    .bind(staff_id)
    .bind(idempotency_key)
    .fetch_optional(&mut *conn)
    .await?)
}

/// Asks for a credit inside the caller's transaction, with its audit event. The same key with
/// the same request returns the first request (`replayed`); with another request (amount,
/// reason, player, finding) it is `idempotency_key_reused` and writes nothing.
pub async fn request(
    tx: &mut sqlx::PgConnection,
    ctx: &RequestCtx,
    tenant_id: TenantId,
    staff: &StaffMember,
    new: &NewCreditRequest<'_>,
    now: DateTime<Utc>,
) -> ServerResult<Requested> {
    let hash = new.sha256();
    let id = Uuid::new_v4();
    let link = new.finding.as_ref();
    let inserted: Option<Uuid> = sqlx::query_scalar(
        "INSERT INTO credit_requests
             (id, tenant_id, player_id, currency, amount_minor, reason, source, finding_id,
              object_type, object_id, requested_by, requested_at, idempotency_key, request_sha256)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
         ON CONFLICT ON CONSTRAINT credit_requests_idempotency_key DO NOTHING
         RETURNING id",
    )
    .bind(id)
    .bind(tenant_id)
    .bind(new.player_id)
    .bind(new.amount.currency().code())
    .bind(new.amount.to_minor_units())
    .bind(new.reason)
    .bind(new.source.as_str())
    .bind(link.map(|link| link.finding_id))
    .bind(link.and_then(|link| link.object_type.clone()))
    .bind(link.and_then(|link| link.object_id))
    .bind(staff.id)
    .bind(now)
    .bind(&new.idempotency_key)
    .bind(&hash)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(id) = inserted else {
        let existing = existing_request(tx, tenant_id, staff.id, &new.idempotency_key)
            .await?
            .ok_or_else(AppError::internal)?;
        if existing.request_sha256 != hash {
            return Err(key_reused().into());
        }
        return Ok(Requested {
            id: existing.id,
            replayed: true,
        });
    };
    let event = AuditEvent {
        tenant_id,
        actor: Actor::Staff(staff.id),
        action: "credit.requested".into(),
        target_type: "credit_request".into(),
        target_id: id.to_string(),
        before: None,
        after: Some(serde_json::json!({
            "state": "pending",
            "source": new.source.as_str(),
            "player_id": new.player_id,
            "amount_minor": new.amount.to_minor_units(),
            "currency": new.amount.currency().code(),
            "finding_id": link.map(|link| link.finding_id),
            "object_type": link.and_then(|link| link.object_type.clone()),
            "object_id": link.and_then(|link| link.object_id),
        })),
        reason: Some(new.reason.to_owned()),
        request_id: audit::request_id(ctx),
        idempotency_key: Some(new.idempotency_key.clone()),
        ip: audit::client_ip(ctx),
        at: now,
    };
    audit::record(tx, &event).await?;
    tracing::info!(tenant = %tenant_id, staff = %staff.id, request = %id, "credit requested");
    Ok(Requested {
        id,
        replayed: false,
    })
}
