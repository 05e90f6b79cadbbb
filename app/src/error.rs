//! The one error type every server function returns: a stable machine code, an HTTP status and a
//! message written for the person on the other side. Database text never reaches it.

use serde::{Deserialize, Serialize};
use server_fn::codec::JsonEncoding;
use server_fn::error::{FromServerFnError, ServerFnErrorErr};

/// Stable error codes. The table in README.md lists them with their HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// No valid session (never logged in, logged out, idle or absolute expiry).
    Unauthenticated,
    /// Logged in, but this role or kind of account may not do this.
    Forbidden,
    /// A state-changing call from another origin.
    CrossOrigin,
    /// The object does not exist in this tenant (also what another tenant's ids look like).
    NotFound,
    /// A field failed validation; `field` names it.
    InvalidInput,
    InvalidAmount,
    EmailTaken,
    InvalidCredentials,
    /// Too many failed log-ins; `retry_after_s` says when to try again.
    RateLimited,
    /// The password was right and this staff member has a second factor: send the code from
    /// the authenticator app (or a recovery code) with the password. No session was started.
    SecondFactorRequired,
    /// The authenticator or recovery code is wrong, already used or out of its time window.
    InvalidSecondFactor,
    /// The password was right, but this staff member's role must log in with a second factor
    /// and has none: no session, only a short-lived enrolment ticket (an HttpOnly cookie) that
    /// admits to setting one up.
    SecondFactorEnrolmentRequired,
    IdempotencyKeyReused,
    RequestInProgress,
    InsufficientFunds,
    InvalidStateTransition,
    /// Identity must be verified first (withdrawals; deposits beyond the KYC threshold).
    KycRequired,
    /// The amount would break one of the player's deposit limits; the message says the room left.
    DepositLimitExceeded,
    /// The player has excluded themselves; only withdrawal and the account page work.
    SelfExcluded,
    /// No more payout attempts are allowed for this withdrawal.
    RetryLimitReached,
    /// The retry cooldown has not passed; `retry_after_s` says when.
    RetryCooldown,
    /// A webhook's signature, timestamp or body did not verify.
    SignatureInvalid,
    /// The payment provider is not enabled here, refused the call or could not be reached.
    ProviderUnavailable,
    /// The server could not reach the server function (network) or decode its answer.
    Transport,
    Internal,
}

impl ErrorCode {
    pub fn status(self) -> u16 {
        match self {
            ErrorCode::Unauthenticated => 401,
            ErrorCode::Forbidden | ErrorCode::CrossOrigin => 403,
            ErrorCode::NotFound => 404,
            ErrorCode::EmailTaken
            | ErrorCode::IdempotencyKeyReused
            | ErrorCode::RequestInProgress
            | ErrorCode::InsufficientFunds
            | ErrorCode::InvalidStateTransition
            | ErrorCode::RetryLimitReached => 409,
            ErrorCode::KycRequired | ErrorCode::DepositLimitExceeded | ErrorCode::SelfExcluded => {
                403
            }
            ErrorCode::RetryCooldown => 429,
            ErrorCode::SignatureInvalid => 400,
            ErrorCode::ProviderUnavailable => 503,
            ErrorCode::InvalidInput | ErrorCode::InvalidAmount => 422,
            ErrorCode::InvalidCredentials
            | ErrorCode::SecondFactorRequired
            | ErrorCode::InvalidSecondFactor => 401,
            ErrorCode::SecondFactorEnrolmentRequired => 403,
            ErrorCode::RateLimited => 429,
            ErrorCode::Transport => 502,
            ErrorCode::Internal => 500,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Unauthenticated => "unauthenticated",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::CrossOrigin => "cross_origin",
            ErrorCode::NotFound => "not_found",
            ErrorCode::InvalidInput => "invalid_input",
            ErrorCode::InvalidAmount => "invalid_amount",
            ErrorCode::EmailTaken => "email_taken",
            ErrorCode::InvalidCredentials => "invalid_credentials",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::SecondFactorRequired => "second_factor_required",
            ErrorCode::InvalidSecondFactor => "invalid_second_factor",
            ErrorCode::SecondFactorEnrolmentRequired => "second_factor_enrolment_required",
            ErrorCode::IdempotencyKeyReused => "idempotency_key_reused",
            ErrorCode::RequestInProgress => "request_in_progress",
            ErrorCode::InsufficientFunds => "insufficient_funds",
            ErrorCode::InvalidStateTransition => "invalid_state_transition",
            ErrorCode::KycRequired => "kyc_required",
            ErrorCode::DepositLimitExceeded => "deposit_limit_exceeded",
            ErrorCode::SelfExcluded => "self_excluded",
            ErrorCode::RetryLimitReached => "retry_limit_reached",
            ErrorCode::RetryCooldown => "retry_cooldown",
            ErrorCode::SignatureInvalid => "signature_invalid",
            ErrorCode::ProviderUnavailable => "provider_unavailable",
            ErrorCode::Transport => "transport",
            ErrorCode::Internal => "internal",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct AppError {
    pub code: ErrorCode,
    pub message: String,
    /// The form field the error is about, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// For `rate_limited` and `retry_cooldown`: seconds until the next attempt is allowed (also sent as `Retry-After`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_s: Option<u64>,
}

impl AppError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        AppError {
            code,
            message: message.into(),
            field: None,
            retry_after_s: None,
        }
    }

    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        AppError {
            field: Some(field.to_owned()),
            ..AppError::new(ErrorCode::InvalidInput, message)
        }
    }

    pub fn unauthenticated() -> Self {
        AppError::new(ErrorCode::Unauthenticated, "Please log in to continue.")
    }

    pub fn forbidden() -> Self {
        AppError::new(ErrorCode::Forbidden, "Your account may not do this.")
    }

    pub fn not_found(what: &str) -> Self {
        AppError::new(ErrorCode::NotFound, format!("{what} not found."))
    }

    /// An amount the person typed that does not parse, in their words, on the `amount` field.
    pub fn invalid_amount(error: &crate::domain::money::MoneyError) -> Self {
        let text = error.to_string();
        let mut chars = text.chars();
        let message: String = chars
            .next()
            .map(|first| first.to_uppercase().chain(chars).collect())
            .unwrap_or_default();
        AppError {
            field: Some("amount".into()),
            ..AppError::new(ErrorCode::InvalidAmount, message)
        }
    }

    /// The message for failures the user cannot act on; the details go to the server log only.
    pub fn internal() -> Self {
        AppError::new(
            ErrorCode::Internal,
            "Something went wrong on our side. Please try again.",
        )
    }
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            ServerFnErrorErr::Args(_) | ServerFnErrorErr::MissingArg(_) => AppError::new(
                ErrorCode::InvalidInput,
                "The request was incomplete or malformed.",
            ),
            ServerFnErrorErr::Request(_) => AppError::new(
                ErrorCode::Transport,
                "Could not reach the server. Check your connection and try again.",
            ),
            ServerFnErrorErr::Deserialization(_) | ServerFnErrorErr::Response(_) => AppError::new(
                ErrorCode::Transport,
                "The server's answer could not be read.",
            ),
            _ => AppError::internal(),
        }
    }
}
