//! The server's one error type. Every fallible step on the server returns [`ServerError`], so
//! `?` carries a database, ledger or app error up unchanged; it becomes the [`AppError`] the
//! browser sees exactly once, at a service trait's boundary. There, a named constraint that a
//! request can trip becomes its stable code, and every other failure is logged whole and shown
//! as `internal`: database and library text never reach the caller.

use std::fmt::Display;

use app::error::{AppError, ErrorCode};

use crate::ledger::LedgerError;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// An answer for the caller: its code and message are final.
    #[error(transparent)]
    App(#[from] AppError),
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("ledger: {0}")]
    Ledger(#[from] LedgerError),
    /// Anything else that should not happen (a corrupt row, a library failure).
    #[error("{0}")]
    Internal(String),
}

pub type ServerResult<T> = Result<T, ServerError>;

/// A money value that does not decode can only come from a stored row (user input is parsed
/// with its own field error), so it is a defect, not an answer.
impl From<app::domain::money::MoneyError> for ServerError {
    fn from(error: app::domain::money::MoneyError) -> ServerError {
        ServerError::internal(error)
    }
}

impl ServerError {
    /// An unexpected failure, described for the log only.
    pub fn internal(error: impl Display) -> ServerError {
        ServerError::Internal(error.to_string())
    }

    /// A stored value that no known state or kind decodes from: the row is corrupt, and nothing
    /// may guess what it meant.
    pub fn unknown_stored(what: &str, value: &str) -> ServerError {
        ServerError::Internal(format!("unknown stored {what} {value:?}"))
    }

    /// The database constraint that refused the statement, if that is what failed.
    pub fn constraint(&self) -> Option<&str> {
        match self {
            ServerError::Db(error) | ServerError::Ledger(LedgerError::Database(error)) => {
                error.as_database_error()?.constraint()
            }
            _ => None,
        }
    }
}

/// Named constraints that a well-formed request can still trip (two people racing, one person
/// trying to be both maker and checker), with what the caller is told. Any other constraint
/// firing is a defect and shows as `internal`.
const CONSTRAINTS: &[(&str, ErrorCode, &str)] = &[
    (
        "withdrawals_two_people",
        ErrorCode::InvalidStateTransition,
        "The second approval must come from another staff member.",
    ),
    (
        "credit_requests_one_pending_per_finding",
        ErrorCode::InvalidStateTransition,
        "A correction of this finding already waits for approval.",
    ),
    (
        "players_tenant_email_key",
        ErrorCode::EmailTaken,
        "An account with this email already exists.",
    ),
];

/// The answer for a constraint in [`CONSTRAINTS`].
fn constraint_answer(name: &str) -> Option<AppError> {
    CONSTRAINTS
        .iter()
        .find(|(constraint, _, _)| *constraint == name)
        .map(|(_, code, message)| AppError::new(*code, *message))
}

/// Logs an unexpected failure with its full chain and returns the generic answer.
fn logged(error: &dyn Display) -> AppError {
    tracing::error!(error = %error, "internal error");
    AppError::internal()
}

impl From<ServerError> for AppError {
    fn from(error: ServerError) -> AppError {
        if let Some(answer) = error.constraint().and_then(constraint_answer) {
            return answer;
        }
        match error {
            ServerError::App(error) => error,
            ServerError::Ledger(error) => ledger_answer(error),
            ServerError::Db(error) => logged(&error),
            ServerError::Internal(detail) => logged(&detail),
        }
    }
}

impl From<LedgerError> for AppError {
    fn from(error: LedgerError) -> AppError {
        AppError::from(ServerError::Ledger(error))
    }
}

/// Ledger errors as the browser sees them: a stable code and a plain message.
fn ledger_answer(error: LedgerError) -> AppError {
    match error {
        LedgerError::InsufficientFunds { .. } => AppError::new(
            ErrorCode::InsufficientFunds,
            "Insufficient funds: the available balance does not cover this amount.",
        ),
        LedgerError::InvalidAmount { reason } => AppError {
            field: Some("amount".into()),
            ..AppError::new(
                ErrorCode::InvalidAmount,
                format!("Invalid amount: {reason}."),
            )
        },
        LedgerError::CurrencyMismatch { .. } => {
            AppError::invalid("currency", "The currencies do not match.")
        }
        LedgerError::UnknownAccount => AppError::not_found("Account"),
        LedgerError::IdempotencyKeyReused => AppError::new(
            ErrorCode::IdempotencyKeyReused,
            "This request's key was already used for a different request; nothing was changed.",
        ),
        LedgerError::InvalidJournal { reason } => AppError::new(
            ErrorCode::InvalidInput,
            format!("Invalid request: {reason}."),
        ),
        LedgerError::Database(error) => logged(&error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_mapped_constraint_exists_in_the_migrations() {
        let migrations: String =
            std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../migrations"))
                .expect("migrations folder")
                .map(|entry| {
                    std::fs::read_to_string(entry.expect("entry").path()).expect("readable")
                })
                .collect();
        for (name, _, _) in CONSTRAINTS {
            assert!(migrations.contains(name), "{name} is not in any migration");
        }
    }

    #[test]
    fn an_unexpected_failure_says_nothing_of_its_cause() {
        let answer = AppError::from(ServerError::internal("relation \"players\" is locked"));
        assert_eq!(answer.code, ErrorCode::Internal);
        assert!(!answer.message.contains("players"));
    }

    #[test]
    fn an_app_answer_passes_unchanged() {
        let answer = AppError::from(ServerError::from(AppError::not_found("Withdrawal")));
        assert_eq!(answer.code, ErrorCode::NotFound);
        assert_eq!(answer.message, "Withdrawal not found.");
    }
}
