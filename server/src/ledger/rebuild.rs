//! The repair of balance snapshots from the transfers (`kasa rebuild-balances`): the one
//! operator write the integrity check's snapshot findings call for.

use app::domain::ids::TenantId;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;

use super::integrity::ACCOUNT_SUMS_SQL;
use super::integrity::rows::SnapshotMismatch;
use super::{AccountId, LedgerError};

/// What a rebuild changed (or, in a dry run, would change).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RebuildReport {
    pub dry_run: bool,
    pub tenant_id: Option<TenantId>,
    /// Accounts whose balance (snapshot plus unfolded deltas) differed from their transfers.
    pub corrections: Vec<BalanceCorrection>,
    /// Accounts whose snapshot was rewritten, including those that only had deltas folded.
    pub accounts_rewritten: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BalanceCorrection {
    pub account_id: AccountId,
    pub tenant_id: TenantId,
    pub kind: String,
    pub currency: String,
    pub debits_before_minor: i64,
    pub credits_before_minor: i64,
    pub debits_after_minor: i64,
    pub credits_after_minor: i64,
}

/// Recomputes the snapshots of `tenant_id`'s accounts (or all) from their transfers, folding
/// their deltas on the way. A dry run reports the corrections and writes nothing.
///
/// The real run locks every account in scope (in id order, like posting), which holds back
/// posts to player accounts of that scope until it commits; posts that only touch accounts that
/// may go negative continue, and stay consistent because their transfers and deltas commit
/// together and the rewrite reads both in one snapshot.
pub async fn rebuild_balances(
    pool: &PgPool,
    tenant_id: Option<TenantId>,
    dry_run: bool,
) -> Result<RebuildReport, LedgerError> {
    run_rebuild(pool, tenant_id, dry_run)
        .await
        .map_err(LedgerError::from_database)
}

async fn run_rebuild(
    pool: &PgPool,
    tenant_id: Option<TenantId>,
    dry_run: bool,
) -> Result<RebuildReport, sqlx::Error> {
    let mut transaction = pool.begin().await?;
    if dry_run {
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *transaction)
            .await?;
    } else {
        sqlx::query("SELECT 1 FROM ledger_accounts WHERE ($1::uuid IS NULL OR tenant_id = $1) ORDER BY id FOR NO KEY UPDATE")
            .bind(tenant_id)
            .execute(&mut *transaction)
            .await?;
    }
    let rows: Vec<SnapshotMismatch> = sqlx::query_as(ACCOUNT_SUMS_SQL)
        .bind(tenant_id)
        .fetch_all(&mut *transaction)
        .await?;
    let corrections: Vec<BalanceCorrection> = rows
        .into_iter()
        .map(|row| BalanceCorrection {
            account_id: row.account_id,
            tenant_id: row.tenant_id,
            kind: row.kind,
            currency: row.currency,
            debits_before_minor: row.snapshot_debits_minor + row.unfolded_debits_minor,
            credits_before_minor: row.snapshot_credits_minor + row.unfolded_credits_minor,
            debits_after_minor: row.transfer_debits_minor,
            credits_after_minor: row.transfer_credits_minor,
        })
        .collect();

    let mut accounts_rewritten = 0;
    if !dry_run {
        // One statement, so the deltas it removes and the transfers it sums are read in the same
        // snapshot.
        accounts_rewritten = sqlx::query(
            "WITH scope AS (
                 SELECT a.id FROM ledger_accounts a WHERE ($1::uuid IS NULL OR a.tenant_id = $1)
             ), removed AS (
                 DELETE FROM ledger_balance_deltas d USING scope WHERE d.account_id = scope.id
                 RETURNING d.account_id
             ), transfer_sums AS (
                 SELECT legs.account_id, sum(legs.debits_minor) AS debits_minor, sum(legs.credits_minor) AS credits_minor
                 FROM (
                     SELECT t.debit_account_id AS account_id, t.amount_minor AS debits_minor, 0 AS credits_minor
                     FROM ledger_transfers t WHERE ($1::uuid IS NULL OR t.tenant_id = $1)
                     UNION ALL
                     SELECT t.credit_account_id, 0, t.amount_minor
                     FROM ledger_transfers t WHERE ($1::uuid IS NULL OR t.tenant_id = $1)
                 ) legs
                 GROUP BY legs.account_id
             )
             UPDATE ledger_accounts a
             SET debits_posted_minor = coalesce(s.debits_minor, 0),
                 credits_posted_minor = coalesce(s.credits_minor, 0),
                 version = a.version + 1
             FROM scope LEFT JOIN transfer_sums s ON s.account_id = scope.id
             WHERE a.id = scope.id
               AND (a.debits_posted_minor <> coalesce(s.debits_minor, 0)
                    OR a.credits_posted_minor <> coalesce(s.credits_minor, 0))",
        )
        .bind(tenant_id)
        .execute(&mut *transaction)
        .await?
        .rows_affected() as i64;
    }
    transaction.commit().await?;
    Ok(RebuildReport {
        dry_run,
        tenant_id,
        corrections,
        accounts_rewritten,
    })
}
