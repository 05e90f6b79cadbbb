//! An owner's side: the team's second factors, resetting a lost one, and the brand's rule.

use app::api::RequestCtx;
use app::auth::second_factor::{SecondFactorPolicy, StaffSecondFactor};
use app::domain::ids::StaffId;
use app::error::{AppError, ErrorCode};

use crate::audit::{self, Actor, AuditEvent};
use crate::auth::StaffMember;
use crate::error::ServerResult;
use crate::services::Services;
use crate::tenants::Tenant;

use super::*;

pub(super) async fn staff(
    services: &Services,
    tenant: Tenant,
    owner: StaffMember,
) -> ServerResult<Vec<StaffSecondFactor>> {
    let rows = store::staff_list(services.pool(), tenant.id).await?;
    rows.into_iter()
        .map(|row| {
            Ok(StaffSecondFactor {
                is_viewer: row.id == owner.id,
                staff_id: row.id,
                email: row.email,
                display_name: row.display_name,
                role: row.role,
                enrolled_at: row.enrolled_at,
            })
        })
        .collect()
}

pub(super) async fn reset(
    services: &Services,
    ctx: &RequestCtx,
    tenant: Tenant,
    owner: StaffMember,
    staff_id: StaffId,
) -> ServerResult<StaffSecondFactor> {
    let target = store::staff_list(services.pool(), tenant.id)
        .await?
        .into_iter()
        .find(|row| row.id == staff_id)
        .ok_or_else(|| AppError::not_found("Staff member"))?;
    if target.id == owner.id {
        return Err(AppError::new(
            ErrorCode::Forbidden,
            "You cannot reset your own second factor: log in with a recovery code, or ask another owner.",
        ).into());
    }
    let now = services.now();
    let mut tx = services.pool().begin().await?;
    let removed = store::remove(&mut tx, tenant.id, target.id).await?;
    let Some(enrolled_at) = removed else {
        return Err(AppError::new(
            ErrorCode::InvalidStateTransition,
            "This staff member has no second factor to reset.",
        )
        .into());
    };
    let event = AuditEvent {
        before: Some(serde_json::json!({ "enrolled_at": enrolled_at })),
        after: None,
        ..staff_event(
            ctx,
            tenant.id,
            owner.id,
            target.id,
            "staff.second_factor.reset",
            now,
        )
    };
    audit::record(&mut tx, &event).await?;
    // A lost device may be a stolen one: the member's open sessions end with it, and the
    // next log-in sets a second factor up again.
    sqlx::query("DELETE FROM sessions WHERE tenant_id = $1 AND staff_id = $2")
        .bind(tenant.id)
        .bind(target.id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    tracing::info!(tenant = %tenant.slug, owner = %owner.id, staff = %target.id, "second factor reset, sessions ended");
    Ok(StaffSecondFactor {
        staff_id: target.id,
        email: target.email,
        display_name: target.display_name,
        role: target.role,
        enrolled_at: None,
        is_viewer: false,
    })
}

pub(super) async fn save_policy(
    services: &Services,
    ctx: &RequestCtx,
    tenant: Tenant,
    owner: StaffMember,
    required: String,
) -> ServerResult<SecondFactorPolicy> {
    let required = match required.trim() {
        "on" => true,
        "off" => false,
        _ => {
            return Err(AppError::invalid(
                "required",
                "Choose whether the second factor is required.",
            )
            .into());
        }
    };
    let now = services.now();
    let mut tx = services.pool().begin().await?;
    let before = store::set_tenant_requires(&mut tx, tenant.id, required, owner.id, now).await?;
    if before != required {
        let event = AuditEvent {
            tenant_id: tenant.id,
            actor: Actor::Staff(owner.id),
            action: "staff_security_policy.updated".into(),
            target_type: "tenant".into(),
            target_id: tenant.id.to_string(),
            before: Some(serde_json::json!({ "second_factor_required": before })),
            after: Some(serde_json::json!({ "second_factor_required": required })),
            reason: None,
            request_id: audit::request_id(ctx),
            idempotency_key: None,
            ip: audit::client_ip(ctx),
            at: now,
        };
        audit::record(&mut tx, &event).await?;
    }
    tx.commit().await?;
    services.policy_for(&tenant, owner.role).await
}
