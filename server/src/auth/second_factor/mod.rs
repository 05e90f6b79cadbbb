//! Staff two-factor log-in on the server: the log-in's second step ([`Services::second_factor_gate`],
//! called by `log_in` once the password is right and before any session exists), enrolment,
//! recovery codes, an owner's reset and the tenant's rule. Wrong codes are throttled like wrong
//! passwords; every change of a second factor or of the rule is audited.
//!
//! The rule: finance and owner staff must have a second factor when their tenant says so (the
//! default) and this installation applies the tenants' setting (always in production,
//! `Config::staff_second_factor`). Whoever has a confirmed authenticator needs a code at every
//! log-in, whatever the rule.

pub mod codes;
mod store;

pub use store::purge_tickets;

use std::future::Future;

use app::api::RequestCtx;
use app::auth::StaffRole;
use app::auth::second_factor::api::SecondFactorApi;
use app::auth::second_factor::{
    EnrolmentDone, EnrolmentStart, SecondFactorPolicy, SecondFactorStatus, StaffSecondFactor,
    role_needs_second_factor,
};
use app::error::{AppError, ErrorCode};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::session::Subject;
use super::throttle;
use crate::audit::{self, Actor, AuditEvent};
use crate::config::SecondFactorRule;
use crate::services::{Services, internal};
use crate::tenants::Tenant;
use codes::TotpSecret;

/// Who is setting up a second factor, and on what authority.
enum Authority {
    /// An enrolment ticket from a log-in that needs a second factor first (the cookie's token).
    Ticket(String),
    /// A staff session.
    Session,
}

struct Enroller {
    tenant: Tenant,
    staff_id: Uuid,
    email: String,
    authority: Authority,
}

impl Services {
    /// Whether the rule, as this installation applies it, makes `role` log in with a second factor.
    async fn second_factor_required(
        &self,
        tenant_id: Uuid,
        role: StaffRole,
    ) -> Result<bool, AppError> {
        if !role_needs_second_factor(role)
            || self.config().staff_second_factor != SecondFactorRule::Required
        {
            return Ok(false);
        }
        store::tenant_requires(self.pool(), tenant_id)
            .await
            .map_err(internal)
    }

    /// The log-in's second step, after the password was right and before any session: `Ok` lets
    /// the session start. A staff member with an authenticator must send a code that proves it
    /// (`second_factor_required` without one, `invalid_second_factor` for a wrong, old or used
    /// one, throttled); one whose role the rule covers and who has none gets no session but an
    /// enrolment ticket (`second_factor_enrolment_required`).
    pub(super) async fn second_factor_gate(
        &self,
        ctx: &RequestCtx,
        tenant: &Tenant,
        staff_id: Uuid,
        code: Option<String>,
    ) -> Result<(), AppError> {
        let state = store::staff_state(self.pool(), tenant.id, staff_id)
            .await
            .map_err(internal)?
            .ok_or_else(AppError::internal)?;
        if state.enrolled_at.is_some() {
            let Some(code) = code.filter(|code| !code.trim().is_empty()) else {
                return Err(AppError::new(
                    ErrorCode::SecondFactorRequired,
                    "Enter the code from your authenticator app, or one of your recovery codes.",
                ));
            };
            if self
                .prove_second_factor(ctx, tenant, staff_id, &code)
                .await?
            {
                return Ok(());
            }
            tracing::info!(tenant = %tenant.slug, staff = %staff_id, "wrong second factor at log-in");
            return Err(invalid_second_factor());
        }
        let role = StaffRole::parse(&state.role).ok_or_else(AppError::internal)?;
        if !self.second_factor_required(tenant.id, role).await? {
            return Ok(());
        }
        let token = store::issue_ticket(self.pool(), tenant.id, staff_id, self.now())
            .await
            .map_err(internal)?;
        self.set_ticket_cookie(ctx, &token, store::TICKET_LIFETIME_MINUTES * 60);
        tracing::info!(tenant = %tenant.slug, staff = %staff_id, "log-in waits for a second factor's enrolment");
        Err(AppError::new(
            ErrorCode::SecondFactorEnrolmentRequired,
            "Your role logs in with a second factor. Set up an authenticator app to finish logging in.",
        ))
    }

    /// Whether `code` (a TOTP code or a recovery code) proves the staff member's confirmed
    /// authenticator. A TOTP code is accepted once and only for a later time step than the last
    /// one; a recovery code is spent (and audited). Throttled.
    async fn prove_second_factor(
        &self,
        ctx: &RequestCtx,
        tenant: &Tenant,
        staff_id: Uuid,
        code: &str,
    ) -> Result<bool, AppError> {
        let now = self.now();
        self.throttle_second_factor(ctx, tenant, staff_id, async {
            if let Some(code) = codes::as_totp_code(code) {
                return store::accept_code(self.pool(), tenant.id, staff_id, &code, now)
                    .await
                    .map_err(internal);
            }
            let Some(normalised) = codes::normalise_recovery_code(code) else {
                return Ok(false);
            };
            let mut tx = self.pool().begin().await.map_err(internal)?;
            let Some(left) =
                store::spend_recovery_code(&mut tx, tenant.id, staff_id, &normalised, now)
                    .await
                    .map_err(internal)?
            else {
                return Ok(false);
            };
            let event = AuditEvent {
                after: Some(serde_json::json!({ "recovery_codes_left": left })),
                ..staff_event(
                    ctx,
                    tenant.id,
                    staff_id,
                    staff_id,
                    "staff.second_factor.recovery_code_used",
                    now,
                )
            };
            audit::record(&mut tx, &event).await.map_err(internal)?;
            tx.commit().await.map_err(internal)?;
            tracing::info!(tenant = %tenant.slug, staff = %staff_id, left, "recovery code used");
            Ok(true)
        })
        .await
    }

    /// The one place second-factor codes meet the throttle (`auth::throttle`): a code counts
    /// like a password, against the staff member's second factor and the client's address,
    /// checked and counted before the code is even looked at. A right code takes its attempt
    /// back (forgets the staff member's count, refunds the address's).
    async fn throttle_second_factor(
        &self,
        ctx: &RequestCtx,
        tenant: &Tenant,
        staff_id: Uuid,
        check: impl Future<Output = Result<bool, AppError>>,
    ) -> Result<bool, AppError> {
        let keys = [
            throttle::Key::second_factor(tenant.id, staff_id),
            throttle::Key::login_address(tenant.id, &Self::client_address(ctx)),
        ];
        throttle::acquire(self.pool(), &keys, self.now())
            .await
            .map_err(internal)?
            .map_err(throttle::Refusal::into_error)?;
        let accepted = check.await?;
        if accepted {
            let [staff_member, address] = &keys;
            throttle::forgive(self.pool(), staff_member)
                .await
                .map_err(internal)?;
            throttle::refund(self.pool(), address)
                .await
                .map_err(internal)?;
        }
        Ok(accepted)
    }

    /// The staff member setting up a second factor: the holder of a live enrolment ticket, or
    /// else the staff session's.
    async fn enroller(&self, ctx: &RequestCtx) -> Result<Enroller, AppError> {
        let tenant = self.tenant(ctx)?;
        if let Some(token) = self.ticket_token(ctx) {
            let holder = store::ticket_holder(self.pool(), tenant.id, &token, self.now())
                .await
                .map_err(internal)?;
            if let Some(staff_id) = holder {
                let state = store::staff_state(self.pool(), tenant.id, staff_id)
                    .await
                    .map_err(internal)?
                    .ok_or_else(AppError::unauthenticated)?;
                return Ok(Enroller {
                    tenant,
                    staff_id,
                    email: state.email,
                    authority: Authority::Ticket(token),
                });
            }
        }
        let (tenant, staff) = self.require_staff(ctx, StaffRole::Support).await?;
        Ok(Enroller {
            tenant,
            staff_id: staff.id,
            email: staff.email,
            authority: Authority::Session,
        })
    }

    fn ticket_cookie_name(&self) -> &'static str {
        // Like the session cookie: the __Host- prefix wherever cookies are Secure.
        if self.config().secure_cookies {
            "__Host-kasa_enrolment"
        } else {
            "kasa_enrolment"
        }
    }

    fn ticket_token(&self, ctx: &RequestCtx) -> Option<String> {
        super::request_cookie(ctx, self.ticket_cookie_name())
    }

    /// The ticket's cookie: HttpOnly (no script reads it) and SameSite=Strict (only this site's
    /// own pages send it).
    fn set_ticket_cookie(&self, ctx: &RequestCtx, token: &str, max_age_s: i64) {
        self.set_cookie(
            ctx,
            self.ticket_cookie_name(),
            token,
            super::SameSite::Strict,
            max_age_s,
        );
    }

    async fn own_status(
        &self,
        tenant: &Tenant,
        staff_id: Uuid,
        role: StaffRole,
    ) -> Result<SecondFactorStatus, AppError> {
        let state = store::staff_state(self.pool(), tenant.id, staff_id)
            .await
            .map_err(internal)?
            .ok_or_else(AppError::unauthenticated)?;
        let mut conn = self.pool().acquire().await.map_err(internal)?;
        let recovery_codes_left = store::recovery_codes_left(&mut conn, tenant.id, staff_id)
            .await
            .map_err(internal)?;
        Ok(SecondFactorStatus {
            enrolled_at: state.enrolled_at,
            recovery_codes_left,
            required: self.second_factor_required(tenant.id, role).await?,
        })
    }

    async fn policy_for(
        &self,
        tenant: &Tenant,
        role: StaffRole,
    ) -> Result<SecondFactorPolicy, AppError> {
        Ok(SecondFactorPolicy {
            required: store::tenant_requires(self.pool(), tenant.id)
                .await
                .map_err(internal)?,
            in_force: self.config().staff_second_factor == SecondFactorRule::Required,
            editable: role == StaffRole::Owner,
        })
    }
}

fn invalid_second_factor() -> AppError {
    AppError::new(
        ErrorCode::InvalidSecondFactor,
        "That code is not right, or was already used. Enter the current code from your authenticator app, or an unused recovery code.",
    )
}

/// An audit event about `target`'s second factor, by `actor`.
fn staff_event(
    ctx: &RequestCtx,
    tenant_id: Uuid,
    actor: Uuid,
    target: Uuid,
    action: &str,
    at: DateTime<Utc>,
) -> AuditEvent {
    AuditEvent {
        actor: Actor::Staff(actor),
        target_id: target.to_string(),
        ..audit::staff_session_event(ctx, tenant_id, target, action, at)
    }
}

#[async_trait::async_trait]
impl SecondFactorApi for Services {
    async fn status(&self, ctx: &RequestCtx) -> Result<SecondFactorStatus, AppError> {
        let (tenant, staff) = self.require_staff(ctx, StaffRole::Support).await?;
        self.own_status(&tenant, staff.id, staff.role).await
    }

    async fn start_enrolment(&self, ctx: &RequestCtx) -> Result<EnrolmentStart, AppError> {
        let enroller = self.enroller(ctx).await?;
        let secret = TotpSecret::generate();
        let begun = store::begin_enrolment(
            self.pool(),
            enroller.tenant.id,
            enroller.staff_id,
            &secret,
            self.now(),
        )
        .await
        .map_err(internal)?;
        if !begun {
            return Err(AppError::new(
                ErrorCode::InvalidStateTransition,
                "Two-factor log-in is already set up for this account. To move it to another device, turn it off first or ask an owner to reset it.",
            ));
        }
        let issuer = format!("Kasa {}", enroller.tenant.name);
        let otpauth_uri = codes::otpauth_uri(&secret, &issuer, &enroller.email);
        let qr_svg = codes::qr_svg(&otpauth_uri).map_err(internal)?;
        Ok(EnrolmentStart {
            qr_svg,
            secret: codes::grouped(&secret.base32()),
            otpauth_uri,
        })
    }

    async fn confirm_enrolment(
        &self,
        ctx: &RequestCtx,
        code: String,
    ) -> Result<EnrolmentDone, AppError> {
        let Enroller {
            tenant,
            staff_id,
            authority,
            ..
        } = self.enroller(ctx).await?;
        let now = self.now();
        let mut tx = self.pool().begin().await.map_err(internal)?;
        // Spent first and in the same transaction: a wrong code rolls it back, a right one
        // leaves it spent, and two confirmations with one ticket cannot both log in.
        if let Authority::Ticket(token) = &authority
            && !store::spend_ticket(&mut tx, tenant.id, staff_id, token, now)
                .await
                .map_err(internal)?
        {
            return Err(AppError::unauthenticated());
        }
        let Some(secret) = store::pending_secret_for_update(&mut tx, tenant.id, staff_id)
            .await
            .map_err(internal)?
        else {
            return Err(AppError::new(
                ErrorCode::InvalidStateTransition,
                "There is no set-up in progress to confirm: start setting up two-factor log-in first.",
            ));
        };
        // No throttle here: whoever confirms was just shown the secret, so a guess gains nothing.
        let Some(step) =
            codes::as_totp_code(&code).and_then(|code| secret.matching_step(&code, now))
        else {
            return Err(AppError::new(
                ErrorCode::InvalidSecondFactor,
                "That code is not right. Check that the app shows the code for this account, and enter the current one.",
            ));
        };
        let recovery_codes = codes::generate_recovery_codes();
        if !store::confirm(&mut tx, tenant.id, staff_id, step, &recovery_codes, now)
            .await
            .map_err(internal)?
        {
            return Err(AppError::new(
                ErrorCode::InvalidStateTransition,
                "Two-factor log-in was already confirmed.",
            ));
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
        audit::record(&mut tx, &event).await.map_err(internal)?;
        tx.commit().await.map_err(internal)?;
        tracing::info!(tenant = %tenant.slug, staff = %staff_id, during_log_in, "second factor enrolled");
        if during_log_in {
            self.set_ticket_cookie(ctx, "", 0);
            self.start_session(ctx, &tenant, Subject::Staff(staff_id))
                .await?;
            let event =
                audit::staff_session_event(ctx, tenant.id, staff_id, "staff.logged_in", now);
            audit::record_alone(self.pool(), &event)
                .await
                .map_err(internal)?;
        }
        Ok(EnrolmentDone {
            recovery_codes,
            logged_in: during_log_in,
        })
    }

    async fn disable(
        &self,
        ctx: &RequestCtx,
        code: String,
    ) -> Result<SecondFactorStatus, AppError> {
        let (tenant, staff) = self.require_staff(ctx, StaffRole::Support).await?;
        if self.second_factor_required(tenant.id, staff.role).await? {
            return Err(AppError::new(
                ErrorCode::Forbidden,
                "Your role must keep its second factor. If you lost your device, an owner can reset it.",
            ));
        }
        let state = store::staff_state(self.pool(), tenant.id, staff.id)
            .await
            .map_err(internal)?
            .ok_or_else(AppError::unauthenticated)?;
        if state.enrolled_at.is_none() {
            return Err(AppError::new(
                ErrorCode::InvalidStateTransition,
                "Two-factor log-in is not on for this account.",
            ));
        }
        if !self
            .prove_second_factor(ctx, &tenant, staff.id, &code)
            .await?
        {
            return Err(invalid_second_factor());
        }
        let now = self.now();
        let mut tx = self.pool().begin().await.map_err(internal)?;
        let removed = store::remove(&mut tx, tenant.id, staff.id)
            .await
            .map_err(internal)?;
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
            audit::record(&mut tx, &event).await.map_err(internal)?;
        }
        tx.commit().await.map_err(internal)?;
        self.own_status(&tenant, staff.id, staff.role).await
    }

    async fn staff(&self, ctx: &RequestCtx) -> Result<Vec<StaffSecondFactor>, AppError> {
        let (tenant, owner) = self.require_staff(ctx, StaffRole::Owner).await?;
        let rows = store::staff_list(self.pool(), tenant.id)
            .await
            .map_err(internal)?;
        rows.into_iter()
            .map(|row| {
                Ok(StaffSecondFactor {
                    is_viewer: row.id == owner.id,
                    staff_id: row.id,
                    email: row.email,
                    display_name: row.display_name,
                    role: StaffRole::parse(&row.role).ok_or_else(AppError::internal)?,
                    enrolled_at: row.enrolled_at,
                })
            })
            .collect()
    }

    async fn reset(&self, ctx: &RequestCtx, staff_id: Uuid) -> Result<StaffSecondFactor, AppError> {
        let (tenant, owner) = self.require_staff(ctx, StaffRole::Owner).await?;
        let target = store::staff_list(self.pool(), tenant.id)
            .await
            .map_err(internal)?
            .into_iter()
            .find(|row| row.id == staff_id)
            .ok_or_else(|| AppError::not_found("Staff member"))?;
        if target.id == owner.id {
            return Err(AppError::new(
                ErrorCode::Forbidden,
                "You cannot reset your own second factor: log in with a recovery code, or ask another owner.",
            ));
        }
        let now = self.now();
        let mut tx = self.pool().begin().await.map_err(internal)?;
        let removed = store::remove(&mut tx, tenant.id, target.id)
            .await
            .map_err(internal)?;
        let Some(enrolled_at) = removed else {
            return Err(AppError::new(
                ErrorCode::InvalidStateTransition,
                "This staff member has no second factor to reset.",
            ));
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
        audit::record(&mut tx, &event).await.map_err(internal)?;
        // A lost device may be a stolen one: the member's open sessions end with it, and the
        // next log-in sets a second factor up again.
        sqlx::query("DELETE FROM sessions WHERE tenant_id = $1 AND staff_id = $2")
            .bind(tenant.id)
            .bind(target.id)
            .execute(&mut *tx)
            .await
            .map_err(internal)?;
        tx.commit().await.map_err(internal)?;
        tracing::info!(tenant = %tenant.slug, owner = %owner.id, staff = %target.id, "second factor reset, sessions ended");
        Ok(StaffSecondFactor {
            staff_id: target.id,
            email: target.email,
            display_name: target.display_name,
            role: StaffRole::parse(&target.role).ok_or_else(AppError::internal)?,
            enrolled_at: None,
            is_viewer: false,
        })
    }

    async fn policy(&self, ctx: &RequestCtx) -> Result<SecondFactorPolicy, AppError> {
        let (tenant, staff) = self.require_staff(ctx, StaffRole::Support).await?;
        self.policy_for(&tenant, staff.role).await
    }

    async fn save_policy(
        &self,
        ctx: &RequestCtx,
        required: String,
    ) -> Result<SecondFactorPolicy, AppError> {
        let (tenant, owner) = self.require_staff(ctx, StaffRole::Owner).await?;
        let required = match required.trim() {
            "on" => true,
            "off" => false,
            _ => {
                return Err(AppError::invalid(
                    "required",
                    "Choose whether the second factor is required.",
                ));
            }
        };
        let now = self.now();
        let mut tx = self.pool().begin().await.map_err(internal)?;
        let before = store::set_tenant_requires(&mut tx, tenant.id, required, owner.id, now)
            .await
            .map_err(internal)?;
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
            audit::record(&mut tx, &event).await.map_err(internal)?;
        }
        tx.commit().await.map_err(internal)?;
        self.policy_for(&tenant, owner.role).await
    }
}
