//! Accounts and sessions: who is logged in, registration, log-in and log-out for players and
//! staff. Sessions live server-side; the browser only holds an opaque HttpOnly cookie.

mod pages;
pub mod second_factor;
pub use pages::{
    AuthProvider, LoginPage, LogoutButton, RegisterPage, StaffLoginPage, player_resource, use_auth,
};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::AppError;
use leptos::prelude::*;

/// Staff roles, weakest first: a role may do everything the roles before it may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StaffRole {
    Support,
    Finance,
    Owner,
}

impl StaffRole {
    pub fn as_str(self) -> &'static str {
        match self {
            StaffRole::Support => "support",
            StaffRole::Finance => "finance",
            StaffRole::Owner => "owner",
        }
    }

    pub fn parse(value: &str) -> Option<StaffRole> {
        match value {
            "support" => Some(StaffRole::Support),
            "finance" => Some(StaffRole::Finance),
            "owner" => Some(StaffRole::Owner),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "role")]
pub enum ViewerKind {
    Player,
    Staff(StaffRole),
}

/// The logged-in person as the pages see them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Viewer {
    pub id: Uuid,
    pub kind: ViewerKind,
    pub email: String,
    pub display_name: String,
    pub tenant_slug: String,
    pub tenant_name: String,
    /// A player's self-exclusion in force: every page shows it; deposits and play are refused.
    #[serde(default)]
    pub self_exclusion: Option<crate::protection::SelfExclusion>,
}

impl Viewer {
    pub fn staff_role(&self) -> Option<StaffRole> {
        match self.kind {
            ViewerKind::Staff(role) => Some(role),
            ViewerKind::Player => None,
        }
    }
}

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

/// Which kind of account a log-in form is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Realm {
    Player,
    Staff,
}

/// The logged-in viewer, or `None` when anonymous (never an error for anonymity).
#[server(endpoint = "auth/me")]
pub async fn current_viewer() -> Result<Option<Viewer>, AppError> {
    crate::api::call::<dyn AuthApi, _, _, _>(|api, ctx| async move { api.viewer(&ctx).await }).await
}

#[server(endpoint = "auth/register")]
pub async fn register(
    email: String,
    display_name: String,
    password: String,
) -> Result<Viewer, AppError> {
    crate::api::call::<dyn AuthApi, _, _, _>(|api, ctx| async move {
        api.register_player(&ctx, email, display_name, password)
            .await
    })
    .await
}

#[server(endpoint = "auth/login")]
pub async fn log_in(email: String, password: String) -> Result<Viewer, AppError> {
    crate::api::call::<dyn AuthApi, _, _, _>(|api, ctx| async move {
        api.log_in(&ctx, Realm::Player, email, password, None).await
    })
    .await
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
    crate::api::call::<dyn AuthApi, _, _, _>(|api, ctx| async move {
        api.log_in(&ctx, Realm::Staff, email, password, code).await
    })
    .await
}

#[server(endpoint = "auth/logout")]
pub async fn log_out() -> Result<(), AppError> {
    crate::api::call::<dyn AuthApi, _, _, _>(|api, ctx| async move { api.log_out(&ctx).await })
        .await
}

/// Rules a registration must meet, shared by the form (instant feedback) and the server (the
/// authority). Returns the normalised email.
pub fn validate_registration(
    email: &str,
    display_name: &str,
    password: &str,
) -> Result<String, AppError> {
    let email = normalise_email(email)?;
    let name_length = display_name.trim().chars().count();
    if !(1..=DISPLAY_NAME_LENGTH_MAX).contains(&name_length) {
        return Err(AppError::invalid(
            "display_name",
            format!("Enter a name of 1 to {DISPLAY_NAME_LENGTH_MAX} characters."),
        ));
    }
    let password_length = password.chars().count();
    if password_length < PASSWORD_LENGTH_MIN {
        return Err(AppError::invalid(
            "password",
            format!("Choose a password of at least {PASSWORD_LENGTH_MIN} characters."),
        ));
    }
    if password_length > PASSWORD_LENGTH_MAX {
        return Err(AppError::invalid(
            "password",
            format!("Choose a password of at most {PASSWORD_LENGTH_MAX} characters."),
        ));
    }
    if password.to_lowercase() == email
        || password
            .chars()
            .all(|c| c == password.chars().next().unwrap_or(c))
    {
        return Err(AppError::invalid(
            "password",
            "This password is too easy to guess.",
        ));
    }
    Ok(email)
}

/// Trims and lower-cases an email address and checks its basic shape.
pub fn normalise_email(email: &str) -> Result<String, AppError> {
    let email = email.trim().to_lowercase();
    let valid_shape = email.len() <= EMAIL_LENGTH_MAX
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        })
        && !email.chars().any(char::is_whitespace);
    if valid_shape {
        Ok(email)
    } else {
        Err(AppError::invalid("email", "Enter a valid email address."))
    }
}

pub const PASSWORD_LENGTH_MIN: usize = 10;
/// Argon2 hashes any length, but an unbounded input is free work for an attacker.
pub const PASSWORD_LENGTH_MAX: usize = 128;
pub const DISPLAY_NAME_LENGTH_MAX: usize = 100;
pub const EMAIL_LENGTH_MAX: usize = 254;

#[cfg(test)]
mod tests {
    use super::*;

    // Proves registration input is normalised and weak input is refused with the field named.
    #[test]
    fn registration_rules() {
        assert_eq!(
            validate_registration(" Ana@Example.COM ", "Ana", "correct horse").unwrap(),
            "ana@example.com"
        );
        assert_eq!(
            validate_registration("ana", "Ana", "correct horse")
                .unwrap_err()
                .field
                .as_deref(),
            Some("email")
        );
        assert_eq!(
            validate_registration("a@b.co", "", "correct horse")
                .unwrap_err()
                .field
                .as_deref(),
            Some("display_name")
        );
        assert_eq!(
            validate_registration("a@b.co", "A", "short")
                .unwrap_err()
                .field
                .as_deref(),
            Some("password")
        );
        assert_eq!(
            validate_registration("a@b.co", "A", "aaaaaaaaaaaa")
                .unwrap_err()
                .field
                .as_deref(),
            Some("password")
        );
        assert_eq!(
            validate_registration("a@b.co", "A", &"x".repeat(129))
                .unwrap_err()
                .field
                .as_deref(),
            Some("password")
        );
    }
}
