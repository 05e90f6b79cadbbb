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
mod enrolment;
mod store;
mod team;

use app::domain::ids::{StaffId, TenantId};
use enrolment::{confirm_enrolment, disable, start_enrolment};
use team::{reset, save_policy, staff};

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

use super::throttle;
use crate::audit::{self, Actor, AuditEvent};
use crate::config::SecondFactorRule;
use crate::error::ServerError;
use crate::services::Services;
use crate::tenants::Tenant;

/// Who is setting up a second factor, and on what authority.
enum Authority {
    /// An enrolment ticket from a log-in that needs a second factor first (the cookie's token).
    Ticket(String),
    /// A staff session.
    Session,
}

struct Enroller {
    tenant: Tenant,
    staff_id: StaffId,
    email: String,
    authority: Authority,
}

impl Services {
    /// Whether the rule, as this installation applies it, makes `role` log in with a second factor.
    async fn second_factor_required(
        &self,
        tenant_id: TenantId,
        role: StaffRole,
    ) -> Result<bool, ServerError> {
        if !role_needs_second_factor(role)
            || self.config().staff_second_factor != SecondFactorRule::Required
        {
            return Ok(false);
        }
        Ok(store::tenant_requires(self.pool(), tenant_id).await?)
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
        staff_id: StaffId,
        code: Option<String>,
    ) -> Result<(), ServerError> {
        let state = store::staff_state(self.pool(), tenant.id, staff_id)
            .await?
            .ok_or_else(AppError::internal)?;
        if state.enrolled_at.is_some() {
            let Some(code) = code.filter(|code| !code.trim().is_empty()) else {
                return Err(AppError::new(
                    ErrorCode::SecondFactorRequired,
                    "Enter the code from your authenticator app, or one of your recovery codes.",
                )
                .into());
            };
            if self
                .prove_second_factor(ctx, tenant, staff_id, &code)
                .await?
            {
                return Ok(());
            }
            tracing::info!(tenant = %tenant.slug, staff = %staff_id, "wrong second factor at log-in");
            return Err(invalid_second_factor().into());
        }
        let role = state.role;
        if !self.second_factor_required(tenant.id, role).await? {
            return Ok(());
        }
        let token = store::issue_ticket(self.pool(), tenant.id, staff_id, self.now()).await?;
        self.set_ticket_cookie(ctx, &token, store::TICKET_LIFETIME_MINUTES * 60);
        tracing::info!(tenant = %tenant.slug, staff = %staff_id, "log-in waits for a second factor's enrolment");
        Err(AppError::new(
            ErrorCode::SecondFactorEnrolmentRequired,
            "Your role logs in with a second factor. Set up an authenticator app to finish logging in.",
        ).into())
    }

    /// Whether `code` (a TOTP code or a recovery code) proves the staff member's confirmed
    /// authenticator. A TOTP code is accepted once and only for a later time step than the last
    /// one; a recovery code is spent (and audited). Throttled.
    async fn prove_second_factor(
        &self,
        ctx: &RequestCtx,
        tenant: &Tenant,
        staff_id: StaffId,
        code: &str,
    ) -> Result<bool, ServerError> {
        let now = self.now();
        self.throttle_second_factor(ctx, tenant, staff_id, async {
            if let Some(code) = codes::as_totp_code(code) {
                return Ok(store::accept_code(self.pool(), tenant.id, staff_id, &code, now).await?);
            }
            let Some(normalised) = codes::normalise_recovery_code(code) else {
                return Ok(false);
            };
            let mut tx = self.pool().begin().await?;
            let Some(left) =
                store::spend_recovery_code(&mut tx, tenant.id, staff_id, &normalised, now).await?
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
            audit::record(&mut tx, &event).await?;
            tx.commit().await?;
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
        staff_id: StaffId,
        check: impl Future<Output = Result<bool, ServerError>>,
    ) -> Result<bool, ServerError> {
        let keys = [
            throttle::Key::second_factor(tenant.id, staff_id),
            throttle::Key::login_address(tenant.id, &Self::client_address(ctx)),
        ];
        throttle::acquire(self.pool(), &keys, self.now())
            .await?
            .map_err(throttle::Refusal::into_error)?;
        let accepted = check.await?;
        if accepted {
            let [staff_member, address] = &keys;
            throttle::forgive(self.pool(), staff_member).await?;
            throttle::refund(self.pool(), address).await?;
        }
        Ok(accepted)
    }

    /// The staff member setting up a second factor: the holder of a live enrolment ticket, or
    /// else the staff session's.
    async fn enroller(&self, ctx: &RequestCtx) -> Result<Enroller, ServerError> {
        let tenant = self.tenant(ctx)?;
        if let Some(token) = self.ticket_token(ctx) {
            let holder = store::ticket_holder(self.pool(), tenant.id, &token, self.now()).await?;
            if let Some(staff_id) = holder {
                let state = store::staff_state(self.pool(), tenant.id, staff_id)
                    .await?
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
        staff_id: StaffId,
        role: StaffRole,
    ) -> Result<SecondFactorStatus, ServerError> {
        let state = store::staff_state(self.pool(), tenant.id, staff_id)
            .await?
            .ok_or_else(AppError::unauthenticated)?;
        let mut conn = self.pool().acquire().await?;
        let recovery_codes_left =
            store::recovery_codes_left(&mut conn, tenant.id, staff_id).await?;
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
    ) -> Result<SecondFactorPolicy, ServerError> {
        Ok(SecondFactorPolicy {
            required: store::tenant_requires(self.pool(), tenant.id).await?,
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
    tenant_id: TenantId,
    actor: StaffId,
    target: StaffId,
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
        Ok(self.own_status(&tenant, staff.id, staff.role).await?)
    }

    async fn start_enrolment(&self, ctx: &RequestCtx) -> Result<EnrolmentStart, AppError> {
        let enroller = self.enroller(ctx).await?;
        Ok(start_enrolment(self, enroller).await?)
    }

    async fn confirm_enrolment(
        &self,
        ctx: &RequestCtx,
        code: String,
    ) -> Result<EnrolmentDone, AppError> {
        Ok(confirm_enrolment(self, ctx, code).await?)
    }

    async fn disable(
        &self,
        ctx: &RequestCtx,
        code: String,
    ) -> Result<SecondFactorStatus, AppError> {
        let (tenant, staff) = self.require_staff(ctx, StaffRole::Support).await?;
        Ok(disable(self, ctx, tenant, staff, code).await?)
    }

    async fn staff(&self, ctx: &RequestCtx) -> Result<Vec<StaffSecondFactor>, AppError> {
        let (tenant, owner) = self.require_staff(ctx, StaffRole::Owner).await?;
        Ok(staff(self, tenant, owner).await?)
    }

    async fn reset(
        &self,
        ctx: &RequestCtx,
        staff_id: StaffId,
    ) -> Result<StaffSecondFactor, AppError> {
        let (tenant, owner) = self.require_staff(ctx, StaffRole::Owner).await?;
        Ok(reset(self, ctx, tenant, owner, staff_id).await?)
    }

    async fn policy(&self, ctx: &RequestCtx) -> Result<SecondFactorPolicy, AppError> {
        let (tenant, staff) = self.require_staff(ctx, StaffRole::Support).await?;
        Ok(self.policy_for(&tenant, staff.role).await?)
    }

    async fn save_policy(
        &self,
        ctx: &RequestCtx,
        required: String,
    ) -> Result<SecondFactorPolicy, AppError> {
        let (tenant, owner) = self.require_staff(ctx, StaffRole::Owner).await?;
        Ok(save_policy(self, ctx, tenant, owner, required).await?)
    }
}
