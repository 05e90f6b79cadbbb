//! The ledger's invariants, checked on demand (admin screen, `kasa integrity-check`, every test),
//! and the repair of balance snapshots from the transfers (`kasa rebuild-balances`).
//!
//! Checked, for one tenant or all:
//! - every journal has transfers and nets to zero in each currency;
//! - every transfer's journal and accounts exist in its tenant, and its accounts hold its currency
//!   (transfers have no foreign keys to accounts, see migrations/0002);
//! - the balances of each tenant and currency add up to zero;
//! - every account's snapshot plus its unfolded deltas equals the sums of its transfers, and for
//!   an account that cannot go negative (no deltas allowed) the snapshot alone does;
//! - no player account is negative;
//!
//! and, across business objects (`integrity_objects.rs`, which holds the rule table):
//! - every captured deposit has exactly one capture journal of its amount and currency, and a
//!   deposit in any other state has none;
//! - every withdrawal has exactly one request journal, every paid one exactly one payout journal
//!   and every rejected one exactly one release, and no other state has either;
//! - each player's hold balance, per currency, equals the sum of their open withdrawals;
//! - every journal's kind is known, and each of its transfers moves between account kinds the
//!   rule table allows for that kind;
//! - every journal of a business kind names an existing deposit or withdrawal of its tenant.
//!
//! The check runs in one REPEATABLE READ snapshot, so concurrent posting cannot fake a violation.

use app::domain::ids::{PlayerId, TenantId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{FromRow, PgPool};
use uuid::Uuid;

use super::{AccountId, JournalId, LedgerError};

/// Most violations one report lists (the count of each check stops there too).
pub const VIOLATIONS_REPORTED_MAX: i64 = 1000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntegrityReport {
    pub ok: bool,
    /// The tenant checked; `None` for all tenants.
    pub tenant_id: Option<TenantId>,
    pub checked_at: DateTime<Utc>,
    pub accounts_checked: i64,
    pub journals_checked: i64,
    pub transfers_checked: i64,
    pub violations: Vec<IntegrityViolation>,
    /// True when at least one check found more than `VIOLATIONS_REPORTED_MAX` violations.
    pub violations_truncated: bool,
}

/// Declares the violations: the enum, and for each variant a row of the same fields (in
/// `rows`, under the variant's name) that its check decodes by column name and turns into the
/// violation, so that a query's columns and the report's fields cannot drift apart by position.
macro_rules! violations {
    ($($(#[$meta:meta])* $variant:ident { $($field:ident: $ty:ty,)* })*) => {
        /// One broken invariant, tagged by `check` in JSON.
        #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(tag = "check", rename_all = "snake_case")]
        pub enum IntegrityViolation {
            $($(#[$meta])* $variant { $($field: $ty,)* },)*
        }

        /// Each check's row: its query's columns, named as the violation's fields.
        pub(super) mod rows {
            use super::*;

            $(
                #[derive(sqlx::FromRow)]
                pub(in crate::ledger) struct $variant {
                    $(pub(in crate::ledger) $field: $ty,)*
                }

                impl From<$variant> for IntegrityViolation {
                    fn from(row: $variant) -> IntegrityViolation {
                        IntegrityViolation::$variant { $($field: row.$field,)* }
                    }
                }
            )*
        }
    };
}

violations! {
    JournalWithoutTransfers {
        journal_id: JournalId,
    }
    /// A transfer whose journal or account is missing, in another tenant, or (accounts) in
    /// another currency.
    TransferMisplaced {
        journal_id: JournalId,
        ordinal: i16,
        problem: String,
    }
    /// The journal's legs do not net to zero in this currency (credits minus debits).
    JournalUnbalanced {
        journal_id: JournalId,
        currency: String,
        net_minor: i64,
    }
    /// The balances of this tenant and currency do not add up to zero.
    CurrencyUnbalanced {
        tenant_id: TenantId,
        currency: String,
        net_minor: i64,
    }
    /// Snapshot plus unfolded deltas differs from the sums of the account's transfers.
    SnapshotMismatch {
        account_id: AccountId,
        tenant_id: TenantId,
        kind: String,
        currency: String,
        snapshot_debits_minor: i64,
        snapshot_credits_minor: i64,
        unfolded_debits_minor: i64,
        unfolded_credits_minor: i64,
        transfer_debits_minor: i64,
        transfer_credits_minor: i64,
    }
    /// An account that cannot go negative has deltas: posting reads only its snapshot.
    DeltasOnLimitedAccount {
        account_id: AccountId,
        tenant_id: TenantId,
    }
    /// Deltas of an account that does not exist.
    OrphanDeltas {
        account_id: AccountId,
    }
    NegativePlayerBalance {
        account_id: AccountId,
        tenant_id: TenantId,
        player_id: Option<PlayerId>,
        currency: String,
        balance_minor: i64,
    }
    /// A deposit whose capture journals do not match its state: a captured deposit needs
    /// exactly one, of its amount, currency, player and provider, named by `capture_journal_id`;
    /// any other state none.
    DepositCaptureMismatch {
        deposit_id: Uuid,
        tenant_id: TenantId,
        state: String,
        capture_journals: i64,
        problem: String,
    }
    /// A withdrawal whose journals of `kind` (request, reject or payout) do not match its state,
    /// its amount and currency, its player, or its `*_journal_id` column.
    WithdrawalJournalMismatch {
        withdrawal_id: Uuid,
        tenant_id: TenantId,
        state: String,
        kind: String,
        journals: i64,
        problem: String,
    }
    /// The player's hold balance differs from the sum of their open withdrawals (requested,
    /// approved, paying, payout_failed) in this currency.
    HoldBalanceMismatch {
        tenant_id: TenantId,
        player_id: PlayerId,
        currency: String,
        hold_balance_minor: i64,
        open_withdrawals_minor: i64,
    }
    /// A journal of a kind the rule table does not list.
    UnknownJournalKind {
        journal_id: JournalId,
        tenant_id: TenantId,
        kind: String,
    }
    /// A transfer between account kinds the rule table does not allow for its journal's kind.
    TransferNotAllowedForKind {
        journal_id: JournalId,
        ordinal: i16,
        kind: String,
        debit_account_kind: String,
        credit_account_kind: String,
    }
    /// A game provider's transaction without exactly its one journal (a tombstone has none): a
    /// bet, win or rollback journal of its kind, amount, currency and player, named by
    /// `journal_id`; and for a rollback, the reversal of exactly its bet.
    GameTransactionMismatch {
        transaction_id: Uuid,
        tenant_id: TenantId,
        kind: String,
        journals: i64,
        problem: String,
    }
    /// A journal of a business kind whose reference names no deposit or withdrawal of its tenant.
    JournalWithoutBusinessObject {
        journal_id: JournalId,
        tenant_id: TenantId,
        kind: String,
        reference: Option<String>,
    }
}

impl IntegrityViolation {
    /// True for the checks across business objects (deposits, withdrawals, the rule table), false
    /// for the ledger's own double-entry invariants.
    pub fn concerns_business_objects(&self) -> bool {
        matches!(
            self,
            IntegrityViolation::DepositCaptureMismatch { .. }
                | IntegrityViolation::WithdrawalJournalMismatch { .. }
                | IntegrityViolation::HoldBalanceMismatch { .. }
                | IntegrityViolation::GameTransactionMismatch { .. }
                | IntegrityViolation::UnknownJournalKind { .. }
                | IntegrityViolation::TransferNotAllowedForKind { .. }
                | IntegrityViolation::JournalWithoutBusinessObject { .. }
        )
    }
}

/// Per account in scope: the snapshot, the unfolded deltas and the sums of its transfers.
/// `$1` is the tenant (NULL for all); sums are numeric so that no intermediate overflows.
pub(super) const ACCOUNT_SUMS_SQL: &str = "
    WITH scope AS (
        SELECT a.id, a.tenant_id, a.kind, a.currency, a.debits_posted_minor, a.credits_posted_minor
        FROM ledger_accounts a WHERE ($1::uuid IS NULL OR a.tenant_id = $1)
    ), transfer_sums AS (
        SELECT legs.account_id, sum(legs.debits_minor) AS debits_minor, sum(legs.credits_minor) AS credits_minor
        FROM (
            SELECT t.debit_account_id AS account_id, t.amount_minor::numeric AS debits_minor, 0::numeric AS credits_minor
            FROM ledger_transfers t WHERE ($1::uuid IS NULL OR t.tenant_id = $1)
            UNION ALL
            SELECT t.credit_account_id, 0, t.amount_minor
            FROM ledger_transfers t WHERE ($1::uuid IS NULL OR t.tenant_id = $1)
        ) legs
        GROUP BY legs.account_id
    ), unfolded AS (
        SELECT d.account_id, sum(d.debits_minor) AS debits_minor, sum(d.credits_minor) AS credits_minor
        FROM ledger_balance_deltas d JOIN scope ON scope.id = d.account_id
        GROUP BY d.account_id
    )
    SELECT scope.id AS account_id, scope.tenant_id, scope.kind, scope.currency,
           scope.debits_posted_minor AS snapshot_debits_minor,
           scope.credits_posted_minor AS snapshot_credits_minor,
           coalesce(unfolded.debits_minor, 0)::bigint AS unfolded_debits_minor,
           coalesce(unfolded.credits_minor, 0)::bigint AS unfolded_credits_minor,
           coalesce(transfer_sums.debits_minor, 0)::bigint AS transfer_debits_minor,
           coalesce(transfer_sums.credits_minor, 0)::bigint AS transfer_credits_minor
    FROM scope
    LEFT JOIN transfer_sums ON transfer_sums.account_id = scope.id
    LEFT JOIN unfolded ON unfolded.account_id = scope.id
    WHERE scope.debits_posted_minor + coalesce(unfolded.debits_minor, 0) <> coalesce(transfer_sums.debits_minor, 0)
       OR scope.credits_posted_minor + coalesce(unfolded.credits_minor, 0) <> coalesce(transfer_sums.credits_minor, 0)
    ORDER BY scope.id";

/// Checks every invariant for `tenant_id` (or all tenants) and reports what is broken.
pub async fn check_integrity(
    pool: &PgPool,
    tenant_id: Option<TenantId>,
) -> Result<IntegrityReport, LedgerError> {
    run_check(pool, tenant_id)
        .await
        .map_err(LedgerError::Database)
}

async fn run_check(
    pool: &PgPool,
    tenant_id: Option<TenantId>,
) -> Result<IntegrityReport, sqlx::Error> {
    let mut transaction = pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *transaction)
        .await?;
    let limit = VIOLATIONS_REPORTED_MAX + 1;

    let (accounts_checked, journals_checked, transfers_checked): (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM ledger_accounts WHERE $1::uuid IS NULL OR tenant_id = $1),
                (SELECT count(*) FROM ledger_journals WHERE $1::uuid IS NULL OR tenant_id = $1),
                (SELECT count(*) FROM ledger_transfers WHERE $1::uuid IS NULL OR tenant_id = $1)",
    )
    .bind(tenant_id)
    .fetch_one(&mut *transaction)
    .await?;

    let mut scan = Scan {
        conn: &mut transaction,
        tenant_id,
        violations: Vec::new(),
        truncated: false,
    };
    scan.find::<rows::JournalWithoutTransfers>(
        "SELECT j.id AS journal_id FROM ledger_journals j
         WHERE ($1::uuid IS NULL OR j.tenant_id = $1)
           AND NOT EXISTS (SELECT 1 FROM ledger_transfers t WHERE t.journal_id = j.id)
         ORDER BY j.id LIMIT $2",
    )
    .await?;

    scan.find::<rows::TransferMisplaced>(
        "SELECT t.journal_id, t.ordinal, p.problem
         FROM ledger_transfers t
         LEFT JOIN ledger_journals j ON j.id = t.journal_id
         LEFT JOIN ledger_accounts d ON d.id = t.debit_account_id
         LEFT JOIN ledger_accounts c ON c.id = t.credit_account_id
         CROSS JOIN LATERAL (VALUES
             (CASE WHEN j.id IS NULL THEN 'journal missing'
                   WHEN j.tenant_id <> t.tenant_id THEN 'journal in another tenant' END),
             (CASE WHEN d.id IS NULL THEN 'debit account missing'
                   WHEN d.tenant_id <> t.tenant_id THEN 'debit account in another tenant'
                   WHEN d.currency <> t.currency THEN 'debit account in another currency' END),
             (CASE WHEN c.id IS NULL THEN 'credit account missing'
                   WHEN c.tenant_id <> t.tenant_id THEN 'credit account in another tenant'
                   WHEN c.currency <> t.currency THEN 'credit account in another currency' END)
         ) AS p (problem)
         WHERE p.problem IS NOT NULL AND ($1::uuid IS NULL OR t.tenant_id = $1)
         ORDER BY 1, 2, 3 LIMIT $2",
    )
    .await?;

    // Legs are valued in their account's currency, so a transfer joining two currencies, or an
    // account missing altogether ('???'), shows up here as an unbalanced journal.
    scan.find::<rows::JournalUnbalanced>(
"SELECT legs.journal_id, coalesce(a.currency, '???') AS currency, sum(legs.signed_minor)::bigint AS net_minor
         FROM (
             SELECT t.journal_id, t.debit_account_id AS account_id, -t.amount_minor::numeric AS signed_minor
             FROM ledger_transfers t WHERE ($1::uuid IS NULL OR t.tenant_id = $1)
             UNION ALL
             SELECT t.journal_id, t.credit_account_id, t.amount_minor::numeric
             FROM ledger_transfers t WHERE ($1::uuid IS NULL OR t.tenant_id = $1)
         ) legs
         LEFT JOIN ledger_accounts a ON a.id = legs.account_id
         GROUP BY legs.journal_id, coalesce(a.currency, '???')
         HAVING sum(legs.signed_minor) <> 0
         ORDER BY 1, 2 LIMIT $2",
    )
    .await?;

    scan.find::<rows::CurrencyUnbalanced>(
        "SELECT tenant_id, currency, sum(balance_minor)::bigint AS net_minor
         FROM ledger_account_balances
         WHERE ($1::uuid IS NULL OR tenant_id = $1)
         GROUP BY tenant_id, currency
         HAVING sum(balance_minor) <> 0
         ORDER BY 1, 2 LIMIT $2",
    )
    .await?;

    scan.find::<rows::SnapshotMismatch>(&format!("{ACCOUNT_SUMS_SQL} LIMIT $2"))
        .await?;

    scan.find::<rows::DeltasOnLimitedAccount>(
        "SELECT DISTINCT a.id AS account_id, a.tenant_id
         FROM ledger_balance_deltas d JOIN ledger_accounts a ON a.id = d.account_id
         WHERE NOT a.allow_negative AND ($1::uuid IS NULL OR a.tenant_id = $1)
         ORDER BY a.id LIMIT $2",
    )
    .await?;

    // Orphan deltas belong to no tenant, so only the all-tenants check can see them.
    if tenant_id.is_none() {
        scan.find::<rows::OrphanDeltas>(
            "SELECT DISTINCT d.account_id FROM ledger_balance_deltas d
             WHERE $1::uuid IS NULL
               AND NOT EXISTS (SELECT 1 FROM ledger_accounts a WHERE a.id = d.account_id)
             ORDER BY 1 LIMIT $2",
        )
        .await?;
    }

    scan.find::<rows::NegativePlayerBalance>(
        "SELECT id AS account_id, tenant_id, player_id, currency, balance_minor
         FROM ledger_account_balances
         WHERE ($1::uuid IS NULL OR tenant_id = $1)
           AND NOT allow_negative AND balance_minor < 0
         ORDER BY id LIMIT $2",
    )
    .await?;

    for found in super::integrity_objects::check_objects(scan.conn, tenant_id, limit).await? {
        scan.keep(found);
    }
    let Scan {
        violations,
        truncated,
        ..
    } = scan;

    transaction.commit().await?;
    Ok(IntegrityReport {
        ok: violations.is_empty(),
        tenant_id,
        checked_at: Utc::now(),
        accounts_checked,
        journals_checked,
        transfers_checked,
        violations,
        violations_truncated: truncated,
    })
}

/// The checks' shared scope inside the snapshot: each reads at most one row more than a report
/// lists, so a cut list is noticed and said.
struct Scan<'c> {
    conn: &'c mut sqlx::PgConnection,
    tenant_id: Option<TenantId>,
    violations: Vec<IntegrityViolation>,
    truncated: bool,
}

impl Scan<'_> {
    /// Runs one check's query (`$1` the tenant or NULL for all, `$2` the row limit) and keeps
    /// what it found.
    /// Runs one check: `sql` selects the columns of the violation row `T`, for tenant `$1`
    /// (NULL for all), at most `$2` of them.
    async fn find<T>(&mut self, sql: &str) -> Result<(), sqlx::Error>
    where
        T: for<'r> FromRow<'r, sqlx::postgres::PgRow> + Into<IntegrityViolation> + Send + Unpin,
    {
        let found: Vec<T> = sqlx::query_as(sql)
            .bind(self.tenant_id)
            .bind(VIOLATIONS_REPORTED_MAX + 1)
            .fetch_all(&mut *self.conn)
            .await?;
        self.keep(found.into_iter().map(Into::into).collect());
        Ok(())
    }

    fn keep(&mut self, found: Vec<IntegrityViolation>) {
        if found.len() as i64 > VIOLATIONS_REPORTED_MAX {
            self.truncated = true;
        }
        self.violations
            .extend(found.into_iter().take(VIOLATIONS_REPORTED_MAX as usize));
    }
}
