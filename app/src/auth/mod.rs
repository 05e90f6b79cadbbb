//! Accounts and sessions: who is logged in, registration, log-in and log-out for players and
//! staff. Sessions live server-side; the browser only holds an opaque HttpOnly cookie.

pub mod api;
pub mod pages;
pub mod second_factor;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::text::text_enum;
use crate::error::AppError;

text_enum! {
    /// Staff roles, weakest first: a role may do everything the roles before it may.
    pub enum StaffRole ("staff role") {
        Support = "support",
        Finance = "finance",
        Owner = "owner",
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

/// Which kind of account a log-in form is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Realm {
    Player,
    Staff,
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
