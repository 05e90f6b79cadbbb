//! Staff two-factor log-in (TOTP, RFC 6238): setting up an authenticator app, the recovery codes
//! that stand in for a lost device, an owner's reset, and the tenant's rule that finance and
//! owner staff must have one. The log-in itself is `auth::staff_log_in` with its `code` field.
//!
//! Every function here is called either with a staff session or, during a log-in that must set
//! up a second factor first, with the enrolment ticket cookie that log-in handed out (which
//! admits to `start_enrolment` and `confirm_enrolment` only).

mod pages;
pub use pages::{EnrolmentFlow, SecondFactorPolicyCard, SecurityPage};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::auth::StaffRole;
use crate::error::AppError;
use leptos::prelude::*;

/// The roles the tenant's rule covers: those that move money or change policies and staff.
pub fn role_needs_second_factor(role: StaffRole) -> bool {
    role >= StaffRole::Finance
}

/// An enrolment in progress: what the authenticator app needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrolmentStart {
    /// The `otpauth://` URI as a QR code, an SVG drawn by the server (only paths and numbers).
    pub qr_svg: String,
    /// The secret in base32, in groups of four, for typing into the app by hand.
    pub secret: String,
    /// The URI itself, for authenticator apps on the same device.
    pub otpauth_uri: String,
}

/// A confirmed enrolment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrolmentDone {
    /// Shown this once; the server keeps only their hashes.
    pub recovery_codes: Vec<String>,
    /// True when this confirmation finished a log-in (an enrolment ticket): a session started.
    pub logged_in: bool,
}

/// The logged-in staff member's second factor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecondFactorStatus {
    /// When the authenticator was confirmed; `None`: no second factor.
    pub enrolled_at: Option<DateTime<Utc>>,
    pub recovery_codes_left: i64,
    /// Whether the tenant's rule (in force here) requires one for this staff member's role.
    pub required: bool,
}

/// One staff member's second factor, as an owner sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaffSecondFactor {
    pub staff_id: Uuid,
    pub email: String,
    pub display_name: String,
    pub role: StaffRole,
    pub enrolled_at: Option<DateTime<Utc>>,
    /// The owner looking at the list (who cannot reset their own).
    pub is_viewer: bool,
}

/// The tenant's rule for finance and owner staff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecondFactorPolicy {
    /// The tenant's setting (on unless an owner turned it off).
    pub required: bool,
    /// Whether this installation applies the setting (always in production;
    /// elsewhere with `KASA_STAFF_SECOND_FACTOR=required`).
    pub in_force: bool,
    /// Whether the viewer may change it (owners).
    pub editable: bool,
}

#[cfg(feature = "ssr")]
#[async_trait::async_trait]
pub trait SecondFactorApi: Send + Sync {
    async fn status(&self, ctx: &crate::api::RequestCtx) -> Result<SecondFactorStatus, AppError>;
    async fn start_enrolment(
        &self,
        ctx: &crate::api::RequestCtx,
    ) -> Result<EnrolmentStart, AppError>;
    async fn confirm_enrolment(
        &self,
        ctx: &crate::api::RequestCtx,
        code: String,
    ) -> Result<EnrolmentDone, AppError>;
    async fn disable(
        &self,
        ctx: &crate::api::RequestCtx,
        code: String,
    ) -> Result<SecondFactorStatus, AppError>;
    async fn staff(&self, ctx: &crate::api::RequestCtx)
    -> Result<Vec<StaffSecondFactor>, AppError>;
    async fn reset(
        &self,
        ctx: &crate::api::RequestCtx,
        staff_id: Uuid,
    ) -> Result<StaffSecondFactor, AppError>;
    async fn policy(&self, ctx: &crate::api::RequestCtx) -> Result<SecondFactorPolicy, AppError>;
    async fn save_policy(
        &self,
        ctx: &crate::api::RequestCtx,
        required: String,
    ) -> Result<SecondFactorPolicy, AppError>;
}

/// Any staff role: the caller's own second factor.
#[server(endpoint = "admin/second-factor/status")]
pub async fn load_second_factor_status() -> Result<SecondFactorStatus, AppError> {
    crate::api::call::<dyn SecondFactorApi, _, _, _>(
        |api, ctx| async move { api.status(&ctx).await },
    )
    .await
}

/// Any staff role, or an enrolment ticket: a new secret for the caller's authenticator app
/// (replacing an unconfirmed one; refused while a confirmed one exists).
#[server(endpoint = "admin/second-factor/start")]
pub async fn start_enrolment() -> Result<EnrolmentStart, AppError> {
    crate::api::call::<dyn SecondFactorApi, _, _, _>(|api, ctx| async move {
        api.start_enrolment(&ctx).await
    })
    .await
}

/// Any staff role, or an enrolment ticket: confirms the enrolment with a code from the app and
/// returns the recovery codes; with a ticket it spends the ticket and starts the session.
#[server(endpoint = "admin/second-factor/confirm")]
pub async fn confirm_enrolment(code: String) -> Result<EnrolmentDone, AppError> {
    crate::api::call::<dyn SecondFactorApi, _, _, _>(|api, ctx| async move {
        api.confirm_enrolment(&ctx, code).await
    })
    .await
}

/// Any staff role whose role the rule does not cover: removes the caller's second factor,
/// proven with a current code or a recovery code (audited).
#[server(endpoint = "admin/second-factor/disable")]
pub async fn disable_second_factor(code: String) -> Result<SecondFactorStatus, AppError> {
    crate::api::call::<dyn SecondFactorApi, _, _, _>(|api, ctx| async move {
        api.disable(&ctx, code).await
    })
    .await
}

/// Owner: every staff member of the tenant with their second factor's state.
#[server(endpoint = "admin/second-factor/staff")]
pub async fn staff_second_factors() -> Result<Vec<StaffSecondFactor>, AppError> {
    crate::api::call::<dyn SecondFactorApi, _, _, _>(
        |api, ctx| async move { api.staff(&ctx).await },
    )
    .await
}

/// Owner: removes another staff member's second factor (a lost device), audited; their next
/// log-in sets up a new one where the rule requires it.
#[server(endpoint = "admin/second-factor/reset")]
pub async fn reset_second_factor(staff_id: Uuid) -> Result<StaffSecondFactor, AppError> {
    crate::api::call::<dyn SecondFactorApi, _, _, _>(|api, ctx| async move {
        api.reset(&ctx, staff_id).await
    })
    .await
}

/// Any staff role: the tenant's second-factor rule.
#[server(endpoint = "admin/settings/second-factor")]
pub async fn load_second_factor_policy() -> Result<SecondFactorPolicy, AppError> {
    crate::api::call::<dyn SecondFactorApi, _, _, _>(
        |api, ctx| async move { api.policy(&ctx).await },
    )
    .await
}

/// Owner: turns the rule on or off for this tenant (`required` is `on` or `off`), audited.
#[server(endpoint = "admin/settings/second-factor/save")]
pub async fn save_second_factor_policy(required: String) -> Result<SecondFactorPolicy, AppError> {
    crate::api::call::<dyn SecondFactorApi, _, _, _>(|api, ctx| async move {
        api.save_policy(&ctx, required).await
    })
    .await
}
