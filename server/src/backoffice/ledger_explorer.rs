//! The ledger explorer's reads: accounts with balances (through the balance view, so unfolded
//! deltas are included), one account's transfers, and one journal with its business object.

use app::backoffice::ledger::{
    ACCOUNT_KINDS, ACCOUNT_PAGE_SIZE, AccountPage, AccountRow, AccountTransfer, AccountTransfers,
    BusinessObject, JournalDetail, JournalTransfer, TRANSFER_PAGE_SIZE,
};
use app::domain::ids::{PlayerId, TenantId};
use app::domain::money::{Currency, SignedMoney};
use app::error::AppError;
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use super::{filter_text, next_offset, page_offset};
use crate::error::ServerError;
use crate::ledger::{self, JournalId};

#[derive(sqlx::FromRow)]
struct AccountSqlRow {
    id: Uuid,
    kind: String,
    provider: Option<String>,
    player_id: Option<PlayerId>,
    player_email: Option<String>,
    currency: String,
    debits_minor: i64,
    credits_minor: i64,
    balance_minor: i64,
}

impl AccountSqlRow {
    fn into_row(self) -> Result<AccountRow, ServerError> {
        let currency = Currency::parse(&self.currency)?;
        let money = |minor| SignedMoney::from_minor_units(minor, currency);
        Ok(AccountRow {
            id: self.id,
            kind: self.kind,
            provider: self.provider,
            player_id: self.player_id,
            player_email: self.player_email,
            currency,
            balance: money(self.balance_minor),
            debits: money(self.debits_minor),
            credits: money(self.credits_minor),
        })
    }
}

const ACCOUNT_SELECT: &str = "SELECT b.id, b.kind::text, b.provider::text, b.player_id,
        p.email AS player_email, b.currency::text, b.debits_minor, b.credits_minor, b.balance_minor
   FROM ledger_account_balances b
   LEFT JOIN players p ON p.tenant_id = b.tenant_id AND p.id = b.player_id";

pub async fn accounts(
    pool: &PgPool,
    tenant_id: TenantId,
    kind: Option<String>,
    currency: Option<String>,
    offset: Option<i64>,
) -> Result<AccountPage, ServerError> {
    let kind = filter_text(&kind);
    if kind
        .as_ref()
        .is_some_and(|kind| !ACCOUNT_KINDS.contains(&kind.as_str()))
    {
        return Err(AppError::invalid("kind", "Choose one of the account kinds offered.").into());
    }
    let currency = filter_text(&currency)
        .map(|code| {
            Currency::parse(&code)
                .map(|currency| currency.code())
                .map_err(|_| AppError::invalid("currency", "Choose a supported currency."))
        })
        .transpose()?;
    let offset = page_offset(offset);
    let rows: Vec<AccountSqlRow> = sqlx::query_as(&format!(
        "{ACCOUNT_SELECT}
          WHERE b.tenant_id = $1 AND ($2::text IS NULL OR b.kind = $2)
            AND ($3::text IS NULL OR b.currency = $3)
          ORDER BY b.player_id IS NOT NULL, b.kind, b.provider, p.email, b.currency, b.id
          LIMIT $4 OFFSET $5"
    ))
    .bind(tenant_id)
    .bind(&kind)
    .bind(currency)
    .bind(ACCOUNT_PAGE_SIZE)
    .bind(offset)
    .fetch_all(pool)
    .await?;
    let next_offset = next_offset(rows.len(), offset, ACCOUNT_PAGE_SIZE);
    Ok(AccountPage {
        accounts: rows
            .into_iter()
            .map(AccountSqlRow::into_row)
            .collect::<Result<_, _>>()?,
        next_offset,
    })
}

async fn account(
    pool: &PgPool,
    tenant_id: TenantId,
    account_id: Uuid,
) -> Result<AccountRow, ServerError> {
    let row: Option<AccountSqlRow> = sqlx::query_as(&format!(
        "{ACCOUNT_SELECT} WHERE b.tenant_id = $1 AND b.id = $2"
    ))
    .bind(tenant_id)
    .bind(account_id)
    .fetch_optional(pool)
    .await?;
    row.ok_or_else(|| AppError::not_found("Account"))?
        .into_row()
}

#[derive(sqlx::FromRow)]
struct TransferSqlRow {
    sequence: i64,
    journal_id: Uuid,
    journal_kind: String,
    reference: Option<String>,
    posted_at: DateTime<Utc>,
    amount_minor: i64,
    balance_after_minor: Option<i64>,
    counterparty_id: Uuid,
    counterparty_kind: String,
    counterparty_provider: Option<String>,
    counterparty_email: Option<String>,
}

/// One side of the account's transfers (`debit` or `credit`), newest first. For player accounts
/// the `balance_after IS NOT NULL` condition lets the partial (account, sequence) index serve it.
fn transfer_leg(side: &str, other: &str, sign: &str, indexed: bool) -> String {
    let indexed = if indexed {
        format!("AND t.{side}_balance_after_minor IS NOT NULL")
    } else {
        String::new()
    };
    format!(
        "(SELECT t.sequence, t.journal_id, j.kind::text AS journal_kind, j.reference::text AS reference,
                 j.created_at AS posted_at, {sign}t.amount_minor AS amount_minor,
                 t.{side}_balance_after_minor::bigint AS balance_after_minor,
                 o.id AS counterparty_id, o.kind::text AS counterparty_kind,
                 o.provider::text AS counterparty_provider, op.email AS counterparty_email
            FROM ledger_transfers t
            JOIN ledger_journals j ON j.id = t.journal_id
            JOIN ledger_accounts o ON o.id = t.{other}_account_id
            LEFT JOIN players op ON op.tenant_id = o.tenant_id AND op.id = o.player_id
           WHERE t.{side}_account_id = $2 AND t.tenant_id = $1 {indexed}
             AND ($3::bigint IS NULL OR t.sequence < $3)
           ORDER BY t.sequence DESC LIMIT $4)"
    )
}

pub async fn transfers(
    pool: &PgPool,
    tenant_id: TenantId,
    account_id: Uuid,
    before: Option<i64>,
) -> Result<AccountTransfers, ServerError> {
    let account = account(pool, tenant_id, account_id).await?;
    let player_account = account.player_id.is_some();
    let sql = format!(
        "SELECT * FROM ({} UNION ALL {}) legs ORDER BY sequence DESC LIMIT $4",
        transfer_leg("debit", "credit", "-", player_account),
        transfer_leg("credit", "debit", "", player_account)
    );
    let rows: Vec<TransferSqlRow> = sqlx::query_as(&sql)
        .bind(tenant_id)
        .bind(account_id)
        .bind(before)
        .bind(TRANSFER_PAGE_SIZE)
        .fetch_all(pool)
        .await?;
    let currency = account.currency;
    let next_before = (rows.len() as i64 == TRANSFER_PAGE_SIZE)
        .then(|| rows.last().map(|row| row.sequence))
        .flatten();
    let transfers = rows
        .into_iter()
        .map(|row| AccountTransfer {
            sequence: row.sequence,
            journal_id: row.journal_id,
            journal_kind: row.journal_kind,
            reference: row.reference,
            posted_at: row.posted_at,
            amount: SignedMoney::from_minor_units(row.amount_minor, currency),
            balance_after: row
                .balance_after_minor
                .map(|minor| SignedMoney::from_minor_units(minor, currency)),
            counterparty_id: row.counterparty_id,
            counterparty: label(
                &row.counterparty_kind,
                row.counterparty_provider.as_deref(),
                row.counterparty_email.as_deref(),
            ),
        })
        .collect();
    Ok(AccountTransfers {
        account,
        transfers,
        next_before,
    })
}

fn label(kind: &str, provider: Option<&str>, email: Option<&str>) -> String {
    match (provider, email) {
        (Some(provider), _) => format!("{kind}:{provider}"),
        (None, Some(email)) => format!("{kind} · {email}"),
        (None, None) => kind.to_owned(),
    }
}

pub async fn journal(
    pool: &PgPool,
    tenant_id: TenantId,
    journal_id: Uuid,
) -> Result<JournalDetail, ServerError> {
    let journal = ledger::journal(pool, tenant_id, JournalId(journal_id))
        .await?
        .ok_or_else(|| AppError::not_found("Journal"))?;
    // Labels for the accounts the transfers name.
    let ids: Vec<Uuid> = journal
        .transfers
        .iter()
        .flat_map(|transfer| [transfer.debit_account_id.0, transfer.credit_account_id.0])
        .collect();
    let labels: Vec<AccountLabelRow> = sqlx::query_as(
        "SELECT a.id, a.kind::text, a.provider::text, p.email
           FROM ledger_accounts a LEFT JOIN players p ON p.tenant_id = a.tenant_id AND p.id = a.player_id
          WHERE a.tenant_id = $1 AND a.id = ANY ($2)",
    )
    .bind(tenant_id)
    .bind(&ids)
    .fetch_all(pool)
    .await?;
    let label_of = |id: Uuid| {
        labels
            .iter()
            .find(|row| row.id == id)
            .map(|row| label(&row.kind, row.provider.as_deref(), row.email.as_deref()))
            .unwrap_or_else(|| id.to_string())
    };
    let transfers = journal
        .transfers
        .iter()
        .map(|transfer| JournalTransfer {
            ordinal: transfer.ordinal,
            debit_id: transfer.debit_account_id.0,
            debit: label_of(transfer.debit_account_id.0),
            credit_id: transfer.credit_account_id.0,
            credit: label_of(transfer.credit_account_id.0),
            amount: transfer.amount.into(),
            debit_balance_after: transfer.debit_balance_after,
            credit_balance_after: transfer.credit_balance_after,
        })
        .collect();
    let object = match journal.reference.as_deref() {
        Some(reference) => business_object(pool, tenant_id, reference).await?,
        None => None,
    };
    Ok(JournalDetail {
        id: journal_id,
        kind: journal.kind.to_string(),
        reference: journal.reference,
        idempotency_key: journal.idempotency_key,
        metadata: serde_json::to_string_pretty(&journal.metadata).unwrap_or_default(),
        posted_at: journal.posted_at,
        transfers,
        object,
    })
}

/// What `reference` (`deposit:<id>`, `withdrawal:<id>`, `player:<id>`) points at, if it is one
/// of this tenant's objects.
async fn business_object(
    pool: &PgPool,
    tenant_id: TenantId,
    reference: &str,
) -> Result<Option<BusinessObject>, ServerError> {
    let Some((kind, id)) = reference.split_once(':') else {
        return Ok(None);
    };
    let Ok(object_id) = Uuid::parse_str(id) else {
        return Ok(None);
    };
    match kind {
        "deposit" => deposit_object(pool, tenant_id, object_id, id).await,
        "withdrawal" => withdrawal_object(pool, tenant_id, object_id, id).await,
        "player" => player_object(pool, tenant_id, object_id, id).await,
        _ => Ok(None),
    }
}

fn money(minor: i64, currency: &str) -> String {
    Currency::parse(currency)
        .map(|currency| SignedMoney::from_minor_units(minor, currency).to_string())
        .unwrap_or_else(|_| format!("{minor} {currency} (minor units)"))
}

fn time(at: Option<DateTime<Utc>>) -> String {
    at.map_or_else(
        || "–".to_owned(),
        |at| at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
    )
}

/// A deposit's facts, for the journal page.
async fn deposit_object(
    pool: &PgPool,
    tenant_id: TenantId,
    object_id: Uuid,
    id: &str,
) -> Result<Option<BusinessObject>, ServerError> {
    let row: Option<DepositFacts> = sqlx::query_as(
        "SELECT d.state, d.provider::text, d.amount_minor, d.currency::text,
                d.provider_session_id, p.email, p.id AS player_id, d.created_at,
                d.captured_at
           FROM deposits d JOIN players p ON p.tenant_id = d.tenant_id AND p.id = d.player_id
          WHERE d.tenant_id = $1 AND d.id = $2",
    )
    .bind(tenant_id)
    .bind(object_id)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|row| BusinessObject {
        kind: "deposit".to_owned(),
        id: id.to_owned(),
        facts: vec![
            ("State".into(), row.state),
            ("Amount".into(), money(row.amount_minor, &row.currency)),
            ("Provider".into(), row.provider),
            (
                "PSP checkout".into(),
                row.provider_session_id.unwrap_or_default(),
            ),
            ("Player".into(), row.email),
            ("Created".into(), time(Some(row.created_at))),
            ("Captured".into(), time(row.captured_at)),
        ],
        link: Some(format!("/admin/players/{}", row.player_id)),
    }))
}

/// A withdrawal's facts, for the journal page.
async fn withdrawal_object(
    pool: &PgPool,
    tenant_id: TenantId,
    object_id: Uuid,
    id: &str,
) -> Result<Option<BusinessObject>, ServerError> {
    let row: Option<WithdrawalFacts> = sqlx::query_as(
        "SELECT w.state, w.amount_minor, w.currency::text, p.email, w.created_at, w.paid_at
           FROM withdrawals w JOIN players p ON p.tenant_id = w.tenant_id AND p.id = w.player_id
          WHERE w.tenant_id = $1 AND w.id = $2",
    )
    .bind(tenant_id)
    .bind(object_id)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|row| BusinessObject {
        kind: "withdrawal".to_owned(),
        id: id.to_owned(),
        facts: vec![
            ("State".into(), row.state),
            ("Amount".into(), money(row.amount_minor, &row.currency)),
            ("Player".into(), row.email),
            ("Requested".into(), time(Some(row.created_at))),
            ("Paid".into(), time(row.paid_at)),
        ],
        link: Some(format!("/admin/withdrawals/{object_id}")),
    }))
}

/// A player's facts, for the journal page.
async fn player_object(
    pool: &PgPool,
    tenant_id: TenantId,
    object_id: Uuid,
    id: &str,
) -> Result<Option<BusinessObject>, ServerError> {
    let row: Option<PlayerNameRow> =
        sqlx::query_as("SELECT email, display_name FROM players WHERE tenant_id = $1 AND id = $2")
            .bind(tenant_id)
            .bind(object_id)
            .fetch_optional(pool)
            .await?;
    Ok(row.map(|row| BusinessObject {
        kind: "player".to_owned(),
        id: id.to_owned(),
        facts: vec![
            ("Email".into(), row.email),
            ("Name".into(), row.display_name),
        ],
        link: Some(format!("/admin/players/{object_id}")),
    }))
}

/// A deposit with its player, for the journal page.
#[derive(sqlx::FromRow)]
struct DepositFacts {
    state: String,
    provider: String,
    amount_minor: i64,
    currency: String,
    provider_session_id: Option<String>,
    email: String,
    player_id: PlayerId,
    created_at: DateTime<Utc>,
    captured_at: Option<DateTime<Utc>>,
}

/// A withdrawal with its player's email, for the journal page.
#[derive(sqlx::FromRow)]
struct WithdrawalFacts {
    state: String,
    amount_minor: i64,
    currency: String,
    email: String,
    created_at: DateTime<Utc>,
    paid_at: Option<DateTime<Utc>>,
}

/// An account's kind and owner, for its label.
#[derive(sqlx::FromRow)]
struct AccountLabelRow {
    id: Uuid,
    kind: String,
    provider: Option<String>,
    email: Option<String>,
}

#[derive(sqlx::FromRow)]
struct PlayerNameRow {
    email: String,
    display_name: String,
}
