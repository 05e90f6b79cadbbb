//! The log-in service (`AuthApi`) and its server functions: who is logged in, registration, log-in
//! for players and staff, log-out.

use leptos::prelude::*;

use super::Viewer;
// Only the server side (the trait, the bodies) names the realm.
#[cfg(feature = "ssr")]
use super::Realm;
use crate::error::AppError;

/// What the server side provides for this feature.
#[cfg(feature = "ssr")]
#[async_trait::async_trait]
pub trait AuthApi: Send + Sync {
    async fn viewer(&self, ctx: &crate::api::RequestCtx) -> Result<Option<Viewer>, AppError>;
    async fn register_player(
        &self,
        ctx: &crate::api::RequestCtx,
        email: String,
        display_name: String,
        password: String,
    ) -> Result<Viewer, AppError>;
    /// `second_factor`: the staff member's authenticator or recovery code, once asked for.
    async fn log_in(
        &self,
        ctx: &crate::api::RequestCtx,
        realm: Realm,
        email: String,
        password: String,
        second_factor: Option<String>,
    ) -> Result<Viewer, AppError>;
    async fn log_out(&self, ctx: &crate::api::RequestCtx) -> Result<(), AppError>;
}

/// The logged-in viewer, or `None` when anonymous (never an error for anonymity).
#[server(endpoint = "auth/me")]
pub async fn current_viewer() -> Result<Option<Viewer>, AppError> {
    crate::api::serve!(AuthApi::viewer())
}

#[server(endpoint = "auth/register")]
pub async fn register(
    email: String,
    display_name: String,
    password: String,
) -> Result<Viewer, AppError> {
    crate::api::serve!(AuthApi::register_player(email, display_name, password))
}

#[server(endpoint = "auth/login")]
pub async fn log_in(email: String, password: String) -> Result<Viewer, AppError> {
    crate::api::serve!(AuthApi::log_in(Realm::Player, email, password, None))
}

/// A staff log-in. A staff member with a second factor first gets `second_factor_required` and
/// sends the form again with `code`; one whose role needs a second factor and has none gets
/// `second_factor_enrolment_required` and an enrolment ticket instead of a session.
#[server(endpoint = "admin/login")]
pub async fn staff_log_in(
    email: String,
    password: String,
    code: Option<String>,
) -> Result<Viewer, AppError> {
    crate::api::serve!(AuthApi::log_in(Realm::Staff, email, password, code))
}

#[server(endpoint = "auth/logout")]
pub async fn log_out() -> Result<(), AppError> {
    crate::api::serve!(AuthApi::log_out())
}
