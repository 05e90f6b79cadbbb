//! Withdrawals and payouts (being written).

use chrono::{DateTime, Utc};

use crate::payments::{ApplyError, Outcome};
use crate::psp::PayoutStatus;

/// What a PSP says about a payout attempt, applied inside the caller's transaction: the one
/// path for webhooks, rechecks and API answers.
pub async fn apply_payout_status(
    tx: &mut sqlx::PgConnection,
    provider: &str,
    status: &PayoutStatus,
    now: DateTime<Utc>,
) -> Result<Outcome, ApplyError> {
    let _ = (tx, provider, now);
    Ok(Outcome::unmatched(format!(
        "no payout attempt with key {}",
        status.idempotency_key
    )))
}
