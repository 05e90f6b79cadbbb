//! The second factor's service (`SecondFactorApi`) and its server functions: status, enrolment,
//! disabling, the owner's list and reset, and the tenant's rule.

use crate::domain::ids::StaffId;
use leptos::prelude::*;

use super::{
    EnrolmentDone, EnrolmentStart, SecondFactorPolicy, SecondFactorStatus, StaffSecondFactor,
};
use crate::error::AppError;

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
        staff_id: StaffId,
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
    crate::api::serve!(SecondFactorApi::status())
}

/// Any staff role, or an enrolment ticket: a new secret for the caller's authenticator app
/// (replacing an unconfirmed one; refused while a confirmed one exists).
#[server(endpoint = "admin/second-factor/start")]
pub async fn start_enrolment() -> Result<EnrolmentStart, AppError> {
    crate::api::serve!(SecondFactorApi::start_enrolment())
}

/// Any staff role, or an enrolment ticket: confirms the enrolment with a code from the app and
/// returns the recovery codes; with a ticket it spends the ticket and starts the session.
#[server(endpoint = "admin/second-factor/confirm")]
pub async fn confirm_enrolment(code: String) -> Result<EnrolmentDone, AppError> {
    crate::api::serve!(SecondFactorApi::confirm_enrolment(code))
}

/// Any staff role whose role the rule does not cover: removes the caller's second factor,
/// proven with a current code or a recovery code (audited).
#[server(endpoint = "admin/second-factor/disable")]
pub async fn disable_second_factor(code: String) -> Result<SecondFactorStatus, AppError> {
    crate::api::serve!(SecondFactorApi::disable(code))
}

/// Owner: every staff member of the tenant with their second factor's state.
#[server(endpoint = "admin/second-factor/staff")]
pub async fn staff_second_factors() -> Result<Vec<StaffSecondFactor>, AppError> {
    crate::api::serve!(SecondFactorApi::staff())
}

/// Owner: removes another staff member's second factor (a lost device), audited; their next
/// log-in sets up a new one where the rule requires it.
#[server(endpoint = "admin/second-factor/reset")]
pub async fn reset_second_factor(staff_id: StaffId) -> Result<StaffSecondFactor, AppError> {
    crate::api::serve!(SecondFactorApi::reset(staff_id))
}

/// Any staff role: the tenant's second-factor rule.
#[server(endpoint = "admin/settings/second-factor")]
pub async fn load_second_factor_policy() -> Result<SecondFactorPolicy, AppError> {
    crate::api::serve!(SecondFactorApi::policy())
}

/// Owner: turns the rule on or off for this tenant (`required` is `on` or `off`), audited.
#[server(endpoint = "admin/settings/second-factor/save")]
pub async fn save_second_factor_policy(required: String) -> Result<SecondFactorPolicy, AppError> {
    crate::api::serve!(SecondFactorApi::save_policy(required))
}
