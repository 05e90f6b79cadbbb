//! A staff member's own second factor: setting one up (secret, QR code, confirmation with a
//! first code, recovery codes) and turning it off.

use app::api::RequestCtx;
use app::auth::second_factor::{EnrolmentDone, EnrolmentStart, SecondFactorStatus};
use app::error::{AppError, ErrorCode};

use super::codes::TotpSecret;
use crate::audit::{self, AuditEvent};
use crate::auth::StaffMember;
use crate::auth::session::Subject;
use crate::error::{ServerError, ServerResult};
use crate::services::Services;
use crate::tenants::Tenant;

use super::*;

pub(super) async fn start_enrolment(
    services: &Services,
    enroller: Enroller,
) -> ServerResult<EnrolmentStart> {
    let secret = TotpSecret::generate();
    let begun = store::begin_enrolment(
        services.pool(),
        enroller.tenant.id,
        enroller.staff_id,
        &secret,
        services.now(),
    )
    .await?;
    if !begun {
        return Err(AppError::new(
            ErrorCode::InvalidStateTransition,
            "Two-factor log-in is already set up for this account. To move it to another device, turn it off first or ask an owner to reset it.",
        ).into());
    }
    let issuer = format!("Kasa {}", enroller.tenant.name);
    let otpauth_uri = codes::otpauth_uri(&secret, &issuer, &enroller.email);
    let qr_svg = codes::qr_svg(&otpauth_uri).map_err(ServerError::internal)?;
    Ok(EnrolmentStart {
        qr_svg,
        secret: codes::grouped(&secret.base32()),
        otpauth_uri,
    })
}

pub(super) async fn confirm_enrolment(
    services: &Services,
    ctx: &RequestCtx,
    code: String,
) -> ServerResult<EnrolmentDone> {
    let Enroller {
        tenant,
        staff_id,
        authority,
        ..
    } = services.enroller(ctx).await?;
    let now = services.now();
    let mut tx = services.pool().begin().await?;
    // Spent first and in the same transaction: a wrong code rolls it back, a right one
    // leaves it spent, and two confirmations with one ticket cannot both log in.
    if let Authority::Ticket(token) = &authority
        && !store::spend_ticket(&mut tx, tenant.id, staff_id, token, now).await?
    {
        return Err(AppError::unauthenticated().into());
    }
    let Some(secret) = store::pending_secret_for_update(&mut tx, tenant.id, staff_id).await? else {
        return Err(AppError::new(
            ErrorCode::InvalidStateTransition,
            "There is no set-up in progress to confirm: start setting up two-factor log-in first.",
        )
        .into());
    };
    // No throttle here: whoever confirms was just shown the secret, so a guess gains nothing.
    let Some(step) = codes::as_totp_code(&code).and_then(|code| secret.matching_step(&code, now))
    else {
        return Err(AppError::new(
            ErrorCode::InvalidSecondFactor,
            "That code is not right. Check that the app shows the code for this account, and enter the current one.",
        ).into());
    };
    let recovery_codes = codes::generate_recovery_codes();
    if !store::confirm(&mut tx, tenant.id, staff_id, step, &recovery_codes, now).await? {
        return Err(AppError::new(
            ErrorCode::InvalidStateTransition,
            "Two-factor log-in was already confirmed.",
        )
        .into());
    }
    let during_log_in = matches!(authority, Authority::Ticket(_));
    let event = AuditEvent {
        after: Some(serde_json::json!({
            "recovery_codes": recovery_codes.len(),
            "during_log_in": during_log_in,
        })),
        ..staff_event(
            ctx,
            tenant.id,
            staff_id,
            staff_id,
            "staff.second_factor.enrolled",
            now,
        )
    };
    audit::record(&mut tx, &event).await?;
    tx.commit().await?;
    tracing::info!(tenant = %tenant.slug, staff = %staff_id, during_log_in, "second factor enrolled");
    if during_log_in {
        services.set_ticket_cookie(ctx, "", 0);
        services
            .start_session(ctx, &tenant, Subject::Staff(staff_id))
            .await?;
        let event = audit::staff_session_event(ctx, tenant.id, staff_id, "staff.logged_in", now);
        audit::record_alone(services.pool(), &event).await?;
    }
    Ok(EnrolmentDone {
        recovery_codes,
        logged_in: during_log_in,
    })
}

pub(super) async fn disable(
    services: &Services,
    ctx: &RequestCtx,
    tenant: Tenant,
    staff: StaffMember,
    code: String,
) -> ServerResult<SecondFactorStatus> {
    if services
        .second_factor_required(tenant.id, staff.role)
        .await?
    {
        return Err(AppError::new(
            ErrorCode::Forbidden,
            "Your role must keep its second factor. If you lost your device, an owner can reset it.",
        ).into());
    }
    let state = store::staff_state(services.pool(), tenant.id, staff.id)
        .await?
        .ok_or_else(AppError::unauthenticated)?;
    if state.enrolled_at.is_none() {
        return Err(AppError::new(
            ErrorCode::InvalidStateTransition,
            "Two-factor log-in is not on for this account.",
        )
        .into());
    }
    if !services
        .prove_second_factor(ctx, &tenant, staff.id, &code)
        .await?
    {
        return Err(invalid_second_factor().into());
    }
    let now = services.now();
    let mut tx = services.pool().begin().await?;
    let removed = store::remove(&mut tx, tenant.id, staff.id).await?;
    if let Some(enrolled_at) = removed {
        let event = AuditEvent {
            before: Some(serde_json::json!({ "enrolled_at": enrolled_at })),
            ..staff_event(
                ctx,
                tenant.id,
                staff.id,
                staff.id,
                "staff.second_factor.disabled",
                now,
            )
        };
        audit::record(&mut tx, &event).await?;
    }
    tx.commit().await?;
    services.own_status(&tenant, staff.id, staff.role).await
}
