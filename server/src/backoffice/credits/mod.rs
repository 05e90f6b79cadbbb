//! Four eyes on money that staff create. A manual credit or a reconciliation correction that
//! credits a player is a request (`credit_requests`); it posts only when a second, different
//! finance or owner staff member approves it. Approval posts the journal exactly once (ledger
//! key `credit-request:<id>`) in the same transaction as the request's state change and its
//! audit event; the table's `credit_requests_four_eyes` CHECK refuses one person as both.
//!
//! `request` asks (inside the caller's transaction), `queries` reads the queue, `decide`
//! approves or declines.

pub mod decide;
pub mod queries;
pub mod request;

use app::error::{AppError, ErrorCode};

fn key_reused() -> AppError {
    AppError::new(
        ErrorCode::IdempotencyKeyReused,
        "This request's key was already used for a different request; nothing was changed.",
    )
}
