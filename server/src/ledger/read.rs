//! Reading the ledger: account balances, a player's available and held funds, a player's
//! history and one journal with its transfers. Every balance comes from the view
//! `ledger_account_balances` (snapshot plus unfolded deltas), and every query is scoped by tenant.

use app::domain::ids::{PlayerId, TenantId};
use app::domain::money::{Currency, Money, SignedMoney};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{FromRow, PgExecutor};
use uuid::Uuid;

use super::{AccountId, AccountKind, JournalId, JournalKind, LedgerError};

/// Most history entries one page may hold.
pub const HISTORY_PAGE_SIZE_MAX: u32 = 200;
/// Most journals `journals_by_reference` returns (a business object has a handful).
pub const JOURNALS_PER_REFERENCE_MAX: i64 = 100;
/// Page size when the caller asks for none.
const HISTORY_PAGE_SIZE_DEFAULT: u32 = 50;

/// One account and its balance (credits minus debits, so a player's funds are positive).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountBalance {
    pub account_id: AccountId,
    pub kind: AccountKind,
    /// The PSP of a `psp_clearing` account.
    pub provider: Option<String>,
    pub player_id: Option<PlayerId>,
    pub currency: Currency,
    pub balance: SignedMoney,
    pub debits_minor: i64,
    pub credits_minor: i64,
    pub allow_negative: bool,
}

/// A player's funds in one currency (or, from `player_liabilities`, all players' together).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlayerBalance {
    pub currency: Currency,
    /// In `player_cash`: what the player can play with or withdraw.
    pub available: SignedMoney,
    /// In `player_withdrawal_hold`: requested withdrawals not yet paid out or released.
    pub held: SignedMoney,
    /// In `player_receivable`: what the player owes the operator (a payout made twice beyond
    /// their cash), as a positive amount.
    pub owed: SignedMoney,
}

/// Where a history page ends; pass it back as `HistoryQuery::before` for the next, older page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct HistoryCursor(pub i64);

/// Filters and paging of a player's history. Empty `kinds` means every kind; `from` is
/// inclusive and `until` exclusive.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryQuery {
    pub currency: Option<Currency>,
    /// `PlayerCash` or `PlayerWithdrawalHold`; `None` for both.
    pub account_kind: Option<AccountKind>,
    pub kinds: Vec<JournalKind>,
    pub from: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub before: Option<HistoryCursor>,
    /// 1 to `HISTORY_PAGE_SIZE_MAX`; 0 means the default (50).
    pub limit: u32,
}

/// One movement of one of the player's accounts: credits positive, debits negative.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub cursor: HistoryCursor,
    pub journal_id: JournalId,
    pub kind: JournalKind,
    pub reference: Option<String>,
    pub account_id: AccountId,
    pub account_kind: AccountKind,
    pub amount: SignedMoney,
    /// The account's balance right after this movement.
    pub balance_after: SignedMoney,
    pub posted_at: DateTime<Utc>,
}

/// Newest first; `next` is set when an older page may exist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryPage {
    pub entries: Vec<HistoryEntry>,
    pub next: Option<HistoryCursor>,
}

/// A journal and its transfers, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalView {
    pub journal_id: JournalId,
    pub kind: JournalKind,
    pub reference: Option<String>,
    pub idempotency_key: String,
    pub metadata: serde_json::Value,
    pub posted_at: DateTime<Utc>,
    pub transfers: Vec<TransferView>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferView {
    pub ordinal: i16,
    pub debit_account_id: AccountId,
    pub debit_kind: AccountKind,
    pub credit_account_id: AccountId,
    pub credit_kind: AccountKind,
    pub amount: Money,
    /// Kept for player accounts (exact, as they are locked while posting); `None` otherwise.
    pub debit_balance_after: Option<SignedMoney>,
    pub credit_balance_after: Option<SignedMoney>,
}

#[derive(FromRow)]
struct BalanceRow {
    id: Uuid,
    kind: String,
    provider: Option<String>,
    player_id: Option<PlayerId>,
    currency: String,
    allow_negative: bool,
    debits_minor: i64,
    credits_minor: i64,
    balance_minor: i64,
}

impl BalanceRow {
    fn into_balance(self) -> Result<AccountBalance, LedgerError> {
        let currency = decode_currency(&self.currency)?;
        Ok(AccountBalance {
            account_id: AccountId(self.id),
            kind: decode_account_kind(&self.kind)?,
            provider: self.provider,
            player_id: self.player_id,
            currency,
            balance: SignedMoney::from_minor_units(self.balance_minor, currency),
            debits_minor: self.debits_minor,
            credits_minor: self.credits_minor,
            allow_negative: self.allow_negative,
        })
    }
}

const BALANCE_COLUMNS: &str = "id, kind, provider, player_id, currency, allow_negative, \
    debits_minor, credits_minor, balance_minor";

/// One account's balance; `UnknownAccount` if it is not an account of this tenant.
pub async fn account_balance<'e>(
    executor: impl PgExecutor<'e>,
    tenant_id: TenantId,
    account_id: AccountId,
) -> Result<AccountBalance, LedgerError> {
    let sql = format!(
        "SELECT {BALANCE_COLUMNS} FROM ledger_account_balances WHERE tenant_id = $1 AND id = $2"
    );
    let row: Option<BalanceRow> = sqlx::query_as(&sql)
        .bind(tenant_id)
        .bind(account_id)
        .fetch_optional(executor)
        .await
        .map_err(LedgerError::Database)?;
    row.ok_or(LedgerError::UnknownAccount)?.into_balance()
}

/// The balances of the tenant's operator accounts (PSP clearing, house, fees, adjustments).
pub async fn operator_balances<'e>(
    executor: impl PgExecutor<'e>,
    tenant_id: TenantId,
) -> Result<Vec<AccountBalance>, LedgerError> {
    let sql = format!(
        "SELECT {BALANCE_COLUMNS} FROM ledger_account_balances \
         WHERE tenant_id = $1 AND player_id IS NULL ORDER BY kind, provider, currency"
    );
    let rows: Vec<BalanceRow> = sqlx::query_as(&sql)
        .bind(tenant_id)
        .fetch_all(executor)
        .await
        .map_err(LedgerError::Database)?;
    rows.into_iter().map(BalanceRow::into_balance).collect()
}

/// Player funds per currency from the balances view: cash is available, the withdrawal hold is
/// held, and a receivable (a debit balance) is owed.
const FUNDS_BY_CURRENCY: &str = "SELECT currency,
        coalesce(sum(balance_minor) FILTER (WHERE kind = 'player_cash'), 0)::bigint AS available_minor,
        coalesce(sum(balance_minor) FILTER (WHERE kind = 'player_withdrawal_hold'), 0)::bigint AS held_minor,
        coalesce(-sum(balance_minor) FILTER (WHERE kind = 'player_receivable'), 0)::bigint AS owed_minor
    FROM ledger_account_balances";

#[derive(FromRow)]
struct FundsRow {
    currency: String,
    available_minor: i64,
    held_minor: i64,
    owed_minor: i64,
}

impl FundsRow {
    fn into_balance(self) -> Result<PlayerBalance, LedgerError> {
        let currency = decode_currency(&self.currency)?;
        Ok(PlayerBalance {
            currency,
            available: SignedMoney::from_minor_units(self.available_minor, currency),
            held: SignedMoney::from_minor_units(self.held_minor, currency),
            owed: SignedMoney::from_minor_units(self.owed_minor, currency),
        })
    }
}

/// A player's available and held funds, one entry per currency they have an account in.
pub async fn player_balances<'e>(
    executor: impl PgExecutor<'e>,
    tenant_id: TenantId,
    player_id: PlayerId,
) -> Result<Vec<PlayerBalance>, LedgerError> {
    let rows: Vec<FundsRow> = sqlx::query_as(&format!(
        "{FUNDS_BY_CURRENCY} WHERE tenant_id = $1 AND player_id = $2 GROUP BY currency ORDER BY currency"
    ))
    .bind(tenant_id)
    .bind(player_id)
    .fetch_all(executor)
    .await
    .map_err(LedgerError::Database)?;
    rows.into_iter().map(FundsRow::into_balance).collect()
}

/// What the operator owes all its players together, per currency: available and held.
pub async fn player_liabilities<'e>(
    executor: impl PgExecutor<'e>,
    tenant_id: TenantId,
) -> Result<Vec<PlayerBalance>, LedgerError> {
    let rows: Vec<FundsRow> = sqlx::query_as(&format!(
        "{FUNDS_BY_CURRENCY} WHERE tenant_id = $1 AND player_id IS NOT NULL GROUP BY currency ORDER BY currency"
    ))
    .bind(tenant_id)
    .fetch_all(executor)
    .await
    .map_err(LedgerError::Database)?;
    rows.into_iter().map(FundsRow::into_balance).collect()
}

#[derive(FromRow)]
struct HistoryRow {
    position: i64,
    journal_id: Uuid,
    journal_kind: String,
    reference: Option<String>,
    account_id: Uuid,
    account_kind: String,
    currency: String,
    amount_minor: i64,
    balance_after_minor: Option<i64>,
    posted_at: DateTime<Utc>,
}

/// A player's movements, newest first, one entry per transfer leg on one of the player's
/// accounts. The cursor orders legs exactly as the account's balance changed: it is the
/// transfer's sequence number (drawn while the account is locked) times two, plus one for the
/// credit leg.
pub async fn player_history<'e>(
    executor: impl PgExecutor<'e>,
    tenant_id: TenantId,
    player_id: PlayerId,
    query: &HistoryQuery,
) -> Result<HistoryPage, LedgerError> {
    let limit = match query.limit {
        0 => HISTORY_PAGE_SIZE_DEFAULT,
        limit => limit.min(HISTORY_PAGE_SIZE_MAX),
    };
    if query
        .account_kind
        .is_some_and(|kind| !kind.is_player_account())
    {
        return Ok(HistoryPage {
            entries: Vec::new(),
            next: None,
        });
    }
    let kinds: Vec<&str> = query.kinds.iter().map(JournalKind::as_str).collect();
    // Each side is read newest first from its (account, sequence) index and cut at the page size
    // before the two are merged.
    let rows: Vec<HistoryRow> = sqlx::query_as(
        "WITH accounts AS (
             SELECT a.id, a.kind, a.currency FROM ledger_accounts a
             WHERE a.tenant_id = $1 AND a.player_id = $2
               AND ($3::text IS NULL OR a.currency = $3)
               AND ($4::text IS NULL OR a.kind = $4)
         ), legs AS (
             (SELECT t.sequence * 2 AS position, t.journal_id, acc.id AS account_id, acc.kind AS account_kind,
                     acc.currency, -t.amount_minor AS amount_minor, t.debit_balance_after_minor AS balance_after_minor,
                     j.kind AS journal_kind, j.reference, j.created_at AS posted_at
              FROM accounts acc
              JOIN ledger_transfers t ON t.debit_account_id = acc.id AND t.debit_balance_after_minor IS NOT NULL
              JOIN ledger_journals j ON j.id = t.journal_id
              WHERE ($8::bigint IS NULL OR (t.sequence <= $8 / 2 AND t.sequence * 2 < $8))
                AND (cardinality($5::text[]) = 0 OR j.kind = ANY ($5))
                AND ($6::timestamptz IS NULL OR j.created_at >= $6)
                AND ($7::timestamptz IS NULL OR j.created_at < $7)
              ORDER BY t.sequence DESC LIMIT $9)
             UNION ALL
             (SELECT t.sequence * 2 + 1, t.journal_id, acc.id, acc.kind,
                     acc.currency, t.amount_minor, t.credit_balance_after_minor,
                     j.kind, j.reference, j.created_at
              FROM accounts acc
              JOIN ledger_transfers t ON t.credit_account_id = acc.id AND t.credit_balance_after_minor IS NOT NULL
              JOIN ledger_journals j ON j.id = t.journal_id
              WHERE ($8::bigint IS NULL OR (t.sequence <= $8 / 2 AND t.sequence * 2 + 1 < $8))
                AND (cardinality($5::text[]) = 0 OR j.kind = ANY ($5))
                AND ($6::timestamptz IS NULL OR j.created_at >= $6)
                AND ($7::timestamptz IS NULL OR j.created_at < $7)
              ORDER BY t.sequence DESC LIMIT $9)
         )
         SELECT position, journal_id, journal_kind, reference, account_id, account_kind, currency,
                amount_minor, balance_after_minor, posted_at
         FROM legs ORDER BY position DESC LIMIT $9",
    )
    .bind(tenant_id)
    .bind(player_id)
    .bind(query.currency.map(Currency::code))
    .bind(query.account_kind.map(AccountKind::as_str))
    .bind(&kinds)
    .bind(query.from)
    .bind(query.until)
    .bind(query.before.map(|cursor| cursor.0))
    .bind(i64::from(limit))
    .fetch_all(executor)
    .await
    .map_err(LedgerError::Database)?;

    let mut entries = Vec::with_capacity(rows.len());
    for row in rows {
        let currency = decode_currency(&row.currency)?;
        let balance_after_minor = row.balance_after_minor.ok_or_else(|| {
            decode_error(format!(
                "transfer of journal {} has no balance for a player account",
                row.journal_id
            ))
        })?;
        entries.push(HistoryEntry {
            cursor: HistoryCursor(row.position),
            journal_id: JournalId(row.journal_id),
            kind: JournalKind::parse(row.journal_kind)
                .map_err(|error| decode_error(error.to_string()))?,
            reference: row.reference,
            account_id: AccountId(row.account_id),
            account_kind: decode_account_kind(&row.account_kind)?,
            amount: SignedMoney::from_minor_units(row.amount_minor, currency),
            balance_after: SignedMoney::from_minor_units(balance_after_minor, currency),
            posted_at: row.posted_at,
        });
    }
    let next = if entries.len() == limit as usize {
        entries.last().map(|entry| entry.cursor)
    } else {
        None
    };
    Ok(HistoryPage { entries, next })
}

/// kind, reference, idempotency key, metadata, time.
type JournalHeaderRow = (
    String,
    Option<String>,
    String,
    serde_json::Value,
    DateTime<Utc>,
);

/// One journal without its transfers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalSummary {
    pub journal_id: JournalId,
    pub kind: JournalKind,
    pub posted_at: DateTime<Utc>,
}

#[derive(FromRow)]
struct JournalSummaryRow {
    id: Uuid,
    kind: String,
    created_at: DateTime<Utc>,
}

/// The journals posted for one business object (`reference`, e.g. "deposit:<id>"), oldest first:
/// how a feature proves that a captured deposit was credited exactly once.
pub async fn journals_by_reference<'e>(
    executor: impl PgExecutor<'e>,
    tenant_id: TenantId,
    reference: &str,
) -> Result<Vec<JournalSummary>, LedgerError> {
    let rows: Vec<JournalSummaryRow> = sqlx::query_as(
        "SELECT id, kind, created_at FROM ledger_journals
         WHERE tenant_id = $1 AND reference = $2 ORDER BY created_at, id LIMIT $3",
    )
    .bind(tenant_id)
    .bind(reference)
    .bind(JOURNALS_PER_REFERENCE_MAX)
    .fetch_all(executor)
    .await
    .map_err(LedgerError::Database)?;
    rows.into_iter()
        .map(|row| {
            Ok(JournalSummary {
                journal_id: JournalId(row.id),
                kind: JournalKind::parse(row.kind)
                    .map_err(|error| decode_error(error.to_string()))?,
                posted_at: row.created_at,
            })
        })
        .collect()
}

#[derive(FromRow)]
struct TransferRow {
    ordinal: i16,
    debit_account_id: Uuid,
    debit_kind: String,
    credit_account_id: Uuid,
    credit_kind: String,
    currency: String,
    amount_minor: i64,
    debit_balance_after_minor: Option<i64>,
    credit_balance_after_minor: Option<i64>,
}

/// One journal of this tenant with its transfers; `None` if there is no such journal here.
pub async fn journal<'a>(
    database: impl sqlx::Acquire<'a, Database = sqlx::Postgres>,
    tenant_id: TenantId,
    journal_id: JournalId,
) -> Result<Option<JournalView>, LedgerError> {
    let mut connection = database.acquire().await.map_err(LedgerError::Database)?;
    let header: Option<JournalHeaderRow> = sqlx::query_as(
        "SELECT kind, reference, idempotency_key, metadata, created_at
         FROM ledger_journals WHERE tenant_id = $1 AND id = $2",
    )
    .bind(tenant_id)
    .bind(journal_id)
    .fetch_optional(&mut *connection)
    .await
    .map_err(LedgerError::Database)?;
    let Some((kind, reference, idempotency_key, metadata, posted_at)) = header else {
        return Ok(None);
    };
    let rows: Vec<TransferRow> = sqlx::query_as(
        "SELECT t.ordinal, t.debit_account_id, d.kind AS debit_kind, t.credit_account_id, c.kind AS credit_kind,
                t.currency, t.amount_minor, t.debit_balance_after_minor, t.credit_balance_after_minor
         FROM ledger_transfers t
         JOIN ledger_accounts d ON d.id = t.debit_account_id
         JOIN ledger_accounts c ON c.id = t.credit_account_id
         WHERE t.tenant_id = $1 AND t.journal_id = $2
         ORDER BY t.ordinal",
    )
    .bind(tenant_id)
    .bind(journal_id)
    .fetch_all(&mut *connection)
    .await
    .map_err(LedgerError::Database)?;
    let mut transfers = Vec::with_capacity(rows.len());
    for row in rows {
        let currency = decode_currency(&row.currency)?;
        transfers.push(TransferView {
            ordinal: row.ordinal,
            debit_account_id: AccountId(row.debit_account_id),
            debit_kind: decode_account_kind(&row.debit_kind)?,
            credit_account_id: AccountId(row.credit_account_id),
            credit_kind: decode_account_kind(&row.credit_kind)?,
            amount: Money::from_minor_units(row.amount_minor, currency)
                .map_err(|error| decode_error(error.to_string()))?,
            debit_balance_after: row
                .debit_balance_after_minor
                .map(|minor| SignedMoney::from_minor_units(minor, currency)),
            credit_balance_after: row
                .credit_balance_after_minor
                .map(|minor| SignedMoney::from_minor_units(minor, currency)),
        });
    }
    Ok(Some(JournalView {
        journal_id,
        kind: JournalKind::parse(kind).map_err(|error| decode_error(error.to_string()))?,
        reference,
        idempotency_key,
        metadata,
        posted_at,
        transfers,
    }))
}

pub(crate) fn decode_currency(code: &str) -> Result<Currency, LedgerError> {
    Currency::parse(code).map_err(|error| decode_error(error.to_string()))
}

pub(crate) fn decode_account_kind(kind: &str) -> Result<AccountKind, LedgerError> {
    AccountKind::parse(kind).ok_or_else(|| decode_error(format!("unknown account kind {kind:?}")))
}

/// A row the Rust side cannot represent (a currency or kind added to the database only).
fn decode_error(message: String) -> LedgerError {
    LedgerError::Database(sqlx::Error::Decode(message.into()))
}
