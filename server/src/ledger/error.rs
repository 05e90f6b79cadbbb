//! The ledger's one error type: what a caller can act on, each with a stable code, and the
//! database failures that are none of the caller's business (logged whole, shown as `internal`).

use app::domain::money::MoneyError;

use super::AccountId;

/// Why a post or a read failed. Apart from `Database`, nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// A player account would go below zero.
    #[error("insufficient funds")]
    InsufficientFunds { account_id: Option<AccountId> },
    #[error("invalid amount: {reason}")]
    InvalidAmount { reason: String },
    /// The amount's currency differs from an account's, or a transfer joins two currencies.
    #[error("currency mismatch: {detail}")]
    CurrencyMismatch { detail: String },
    /// No such account in this tenant (another tenant's account is reported the same way).
    #[error("unknown account")]
    UnknownAccount,
    /// The idempotency key was used before for a different request.
    #[error("idempotency key already used for a different request")]
    IdempotencyKeyReused,
    /// The journal itself is malformed (no transfers, same account twice, bad key or kind).
    #[error("invalid journal: {reason}")]
    InvalidJournal { reason: String },
    /// The database failed. The message stays generic; the source carries the detail for logs.
    #[error("ledger database error")]
    Database(#[source] sqlx::Error),
}

impl LedgerError {
    /// The stable machine code, as documented in the error table.
    pub fn code(&self) -> &'static str {
        match self {
            LedgerError::InsufficientFunds { .. } => "insufficient_funds",
            LedgerError::InvalidAmount { .. } => "invalid_amount",
            LedgerError::CurrencyMismatch { .. } => "currency_mismatch",
            LedgerError::UnknownAccount => "unknown_account",
            LedgerError::IdempotencyKeyReused => "idempotency_key_reused",
            LedgerError::InvalidJournal { .. } => "invalid_journal",
            LedgerError::Database(_) => "internal",
        }
    }

    /// Maps the SQLSTATEs raised by the ledger's SQL functions (migrations/0003) to typed errors.
    pub(crate) fn from_database(error: sqlx::Error) -> LedgerError {
        let Some(database_error) = error.as_database_error() else {
            return LedgerError::Database(error);
        };
        let message = database_error.message().to_owned();
        match database_error.code().as_deref() {
            Some("KL001") => {
                let account_id = match &error {
                    sqlx::Error::Database(inner) => inner
                        .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
                        .and_then(|pg| pg.detail())
                        .and_then(|detail| detail.parse().ok())
                        .map(AccountId),
                    _ => None,
                };
                LedgerError::InsufficientFunds { account_id }
            }
            // A foreign key violation can only mean an account or player outside the tenant.
            Some("KL002") | Some("23503") => LedgerError::UnknownAccount,
            Some("KL003") => LedgerError::IdempotencyKeyReused,
            Some("KL004") => LedgerError::CurrencyMismatch {
                detail: strip_code(&message),
            },
            Some("KL005") => LedgerError::InvalidJournal {
                reason: strip_code(&message),
            },
            Some("KL006") => LedgerError::InvalidAmount {
                reason: strip_code(&message),
            },
            _ => LedgerError::Database(error),
        }
    }
}

impl From<MoneyError> for LedgerError {
    fn from(error: MoneyError) -> LedgerError {
        match error {
            MoneyError::CurrencyMismatch { .. } => LedgerError::CurrencyMismatch {
                detail: error.to_string(),
            },
            other => LedgerError::InvalidAmount {
                reason: other.to_string(),
            },
        }
    }
}

/// Serialisation failures and deadlocks: the transaction did nothing and may simply run again.
pub(crate) fn is_transient(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .and_then(|database_error| database_error.code())
        .is_some_and(|code| code == "40001" || code == "40P01")
}

/// The SQL functions prefix their messages with the code ("currency_mismatch: ..."); the
/// typed error already says it.
fn strip_code(message: &str) -> String {
    message
        .split_once(": ")
        .map_or(message, |(_, rest)| rest)
        .to_owned()
}
