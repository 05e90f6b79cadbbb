//! Folding: moving the balance deltas of accounts that may go negative (house, fees, PSP
//! clearing, adjustments) into their snapshot columns. Posting never touches those accounts'
//! rows, so that a hot account is not a lock every transfer queues on; the fold keeps the
//! number of unfolded deltas, and so the cost of reading those balances, small. Balances are
//! exact whether or not a fold has run: readers add the unfolded deltas themselves.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use sqlx::PgPool;

use super::LedgerError;
use super::error::is_transient;

/// How often the server's background folder runs.
pub const BALANCE_FOLD_INTERVAL: Duration = Duration::from_secs(1);
/// Attempts per fold when Postgres reports a serialisation failure or deadlock.
const FOLD_ATTEMPTS_MAX: u32 = 5;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FoldSummary {
    pub accounts_folded: i32,
    pub deltas_folded: i64,
}

/// Folds the deltas of every account that has some, in one transaction. An account that another
/// fold or a rebuild holds is skipped and folded next time.
pub async fn fold_balance_deltas(pool: &PgPool) -> Result<FoldSummary, LedgerError> {
    let mut attempt = 1;
    loop {
        let result: Result<(i32, i64), sqlx::Error> = sqlx::query_as(
            "SELECT accounts_folded, deltas_folded FROM ledger_fold_balance_deltas()",
        )
        .fetch_one(pool)
        .await;
        match result {
            Ok((accounts_folded, deltas_folded)) => {
                return Ok(FoldSummary {
                    accounts_folded,
                    deltas_folded,
                });
            }
            Err(error) if is_transient(&error) && attempt < FOLD_ATTEMPTS_MAX => attempt += 1,
            Err(error) => return Err(LedgerError::from_database(error)),
        }
    }
}

/// Runs `fold_balance_deltas` every `interval` until the returned task is aborted. The server
/// starts one at start-up; several running at once are harmless (they skip each other's accounts).
pub fn spawn_balance_folder(pool: PgPool, interval: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            match fold_balance_deltas(&pool).await {
                Ok(summary) if summary.deltas_folded > 0 => {
                    tracing::debug!(
                        accounts = summary.accounts_folded,
                        deltas = summary.deltas_folded,
                        "balance deltas folded"
                    );
                }
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(error = %error, source = ?std::error::Error::source(&error), "balance fold failed")
                }
            }
        }
    })
}
