//! Payout attempts: sending one to the PSP, applying what the PSP says (by webhook, recheck or
//! API answer, all through [`apply_payout_status`]), and the job that rechecks attempts stuck in
//! `pending` or `unknown`.
//!
//! Exactly once: every apply locks the withdrawal row, then the attempt row, and decides from
//! their states; the final journal has the ledger key `withdrawal:<id>:payout`. A success is the
//! only thing that writes it, and a withdrawal that is paid never changes again.
//!
//! Never twice: a PSP's "no such payout" fails an attempt only once its call has certainly ended
//! plus the tenant's grace period, and such an inferred failure is reopened by a later `pending`
//! and re-sent under the same PSP key by a retry. A success nobody holds funds for any more
//! (rejected, or paid by another attempt) is still booked: the player owes it back.

use std::time::Duration;

mod apply;
mod attempt;
mod recheck;
mod recover;

pub use apply::apply_payout_status;
pub use attempt::{NewAttempt, insert_attempt, send_payout};
pub use recheck::recheck_attempt;

/// How long Kasa waits for a PSP to answer a payout call before the attempt becomes `unknown`.
pub const PAYOUT_CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// How often the recheck job looks for stuck attempts.
pub const RECHECK_INTERVAL: Duration = Duration::from_secs(5);
/// Most attempts one run of the recheck job claims.
pub const RECHECK_BATCH_MAX: i64 = 20;
/// The recheck backoff doubles from the tenant's recheck age up to this.
pub const RECHECK_BACKOFF_MAX_S: i64 = 3600;
/// The provider name of payouts staff made outside any PSP ("mark paid").
pub const MANUAL_PROVIDER: &str = "manual";
/// The error code of an attempt the PSP has no record of, once it is old enough to be sure.
pub const NOT_FOUND_AT_PROVIDER: &str = "not_found_at_provider";
