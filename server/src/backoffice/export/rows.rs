//! Each list's rows, one keyset-paged batch at a time: the query, the named row it decodes
//! into, and the CSV cells it becomes (in the order of the list's header).

use app::domain::ids::TenantId;
use app::domain::reconciliation::{FindingKind, FindingSeverity, FindingStatus};
use chrono::{DateTime, Utc};
use sqlx::postgres::PgArguments;
use sqlx::query::QueryAs;
use sqlx::{PgPool, Postgres};
use uuid::Uuid;

use super::EXPORT_BATCH_ROWS;
use super::csv::{amount, text, time};
use super::lists::{Filter, List};
use crate::backoffice::audit_log;
use crate::error::ServerResult;

/// Where the next batch starts: after this `seq`, or after this (time, id).
#[derive(Debug, Clone, Copy)]
pub enum Cursor {
    Start,
    Seq(i64),
    Time(DateTime<Utc>, Uuid),
}

impl Cursor {
    fn time(self) -> (Option<DateTime<Utc>>, Option<Uuid>) {
        match self {
            Cursor::Time(at, id) => (Some(at), Some(id)),
            _ => (None, None),
        }
    }
}

/// The last binds of a dated list's batch query: the period (`from`, `until`), the cursor's
/// time and id, and the batch size.
trait BindPeriodAndCursor {
    fn bind_period_and_cursor(self, filter: &Filter, cursor: Cursor) -> Self;
}

impl<R> BindPeriodAndCursor for QueryAs<'_, Postgres, R, PgArguments> {
    fn bind_period_and_cursor(self, filter: &Filter, cursor: Cursor) -> Self {
        let (time_cursor, id_cursor) = cursor.time();
        self.bind(filter.from)
            .bind(filter.until)
            .bind(time_cursor)
            .bind(id_cursor)
            .bind(EXPORT_BATCH_ROWS)
    }
}

/// A batch's lines of cells, and the cursor after them (`None`: the list ended).
pub type Batch = (Vec<Vec<String>>, Option<Cursor>);

/// A row of an exported list.
trait CsvRow {
    /// Where the batch after this row starts.
    fn cursor(&self) -> Cursor;
    /// The row's cells, in the list's header order.
    fn cells(self) -> Vec<String>;
}

/// The cells of a batch's rows and the cursor after the last one.
fn lines<R: CsvRow>(rows: Vec<R>) -> Batch {
    let next = rows.last().map(CsvRow::cursor);
    (rows.into_iter().map(CsvRow::cells).collect(), next)
}

/// The next batch of rows after `cursor`.
pub async fn batch(
    pool: &PgPool,
    tenant_id: TenantId,
    list: List,
    filter: &Filter,
    cursor: Cursor,
) -> ServerResult<Batch> {
    let (rows, next) = match list {
        List::Audit => audit(pool, tenant_id, filter, cursor).await?,
        List::Withdrawals => lines(withdrawals(pool, tenant_id, filter, cursor).await?),
        List::Deposits => lines(deposits(pool, tenant_id, filter, cursor).await?),
        List::Journals => lines(journals(pool, tenant_id, filter, cursor).await?),
        List::Findings => lines(findings(pool, tenant_id, filter, cursor).await?),
    };
    // The stream stops at the first empty batch.
    let next = if rows.is_empty() { None } else { next };
    Ok((rows, next))
}

async fn audit(
    pool: &PgPool,
    tenant_id: TenantId,
    filter: &Filter,
    cursor: Cursor,
) -> ServerResult<Batch> {
    let before = match cursor {
        Cursor::Seq(seq) => Some(seq),
        _ => None,
    };
    let search = filter.audit.clone().unwrap_or_default();
    let events = audit_log::events(pool, tenant_id, &search, before, EXPORT_BATCH_ROWS).await?;
    let next = events.last().map(|event| Cursor::Seq(event.seq));
    let rows = events
        .into_iter()
        .map(|event| {
            vec![
                event.seq.to_string(),
                time(Some(event.at)),
                event.actor_type,
                event.actor_id,
                text(event.actor_label),
                event.action,
                event.target_type,
                event.target_id,
                text(event.reason),
                text(event.request_id),
                text(event.idempotency_key),
                text(event.ip),
                text(event.before.map(|json| json.replace('\n', " "))),
                text(event.after.map(|json| json.replace('\n', " "))),
                event.hash,
            ]
        })
        .collect();
    Ok((rows, next))
}

#[derive(sqlx::FromRow)]
struct WithdrawalCsvRow {
    id: Uuid,
    created_at: DateTime<Utc>,
    email: String,
    amount_minor: i64,
    currency: String,
    state: String,
    approved_at: Option<DateTime<Utc>>,
    paid_at: Option<DateTime<Utc>>,
    reject_reason: Option<String>,
    external_reference: Option<String>,
}

impl CsvRow for WithdrawalCsvRow {
    fn cursor(&self) -> Cursor {
        Cursor::Time(self.created_at, self.id)
    }

    fn cells(self) -> Vec<String> {
        vec![
            self.id.to_string(),
            time(Some(self.created_at)),
            self.email,
            amount(Some(self.amount_minor), &self.currency),
            self.currency,
            self.state,
            time(self.approved_at),
            time(self.paid_at),
            text(self.reject_reason),
            text(self.external_reference),
        ]
    }
}

async fn withdrawals(
    pool: &PgPool,
    tenant_id: TenantId,
    filter: &Filter,
    cursor: Cursor,
) -> ServerResult<Vec<WithdrawalCsvRow>> {
    Ok(sqlx::query_as(
        "SELECT w.id, w.created_at, p.email, w.amount_minor, w.currency::text, w.state,
                w.approved_at, w.paid_at, w.reject_reason, w.external_reference
           FROM withdrawals w JOIN players p ON p.tenant_id = w.tenant_id AND p.id = w.player_id
          WHERE w.tenant_id = $1 AND ($2::text IS NULL OR w.state = $2)
            AND ($3::text IS NULL OR w.currency = $3)
            AND ($4::timestamptz IS NULL OR w.created_at >= $4)
            AND ($5::timestamptz IS NULL OR w.created_at < $5)
            AND ($6::timestamptz IS NULL OR (w.created_at, w.id) < ($6, $7))
          ORDER BY w.created_at DESC, w.id DESC LIMIT $8",
    )
    .bind(tenant_id)
    .bind(filter.text("state"))
    .bind(filter.text("currency"))
    .bind_period_and_cursor(filter, cursor)
    .fetch_all(pool)
    .await?)
}

#[derive(sqlx::FromRow)]
struct DepositCsvRow {
    id: Uuid,
    created_at: DateTime<Utc>,
    email: String,
    provider: String,
    amount_minor: i64,
    currency: String,
    state: String,
    provider_session_id: Option<String>,
    captured_at: Option<DateTime<Utc>>,
    failure_code: Option<String>,
}

impl CsvRow for DepositCsvRow {
    fn cursor(&self) -> Cursor {
        Cursor::Time(self.created_at, self.id)
    }

    fn cells(self) -> Vec<String> {
        vec![
            self.id.to_string(),
            time(Some(self.created_at)),
            self.email,
            self.provider,
            amount(Some(self.amount_minor), &self.currency),
            self.currency,
            self.state,
            text(self.provider_session_id),
            time(self.captured_at),
            text(self.failure_code),
        ]
    }
}

async fn deposits(
    pool: &PgPool,
    tenant_id: TenantId,
    filter: &Filter,
    cursor: Cursor,
) -> ServerResult<Vec<DepositCsvRow>> {
    Ok(sqlx::query_as(
        "SELECT d.id, d.created_at, p.email, d.provider::text, d.amount_minor, d.currency::text,
                d.state, d.provider_session_id, d.captured_at, d.failure_code
           FROM deposits d JOIN players p ON p.tenant_id = d.tenant_id AND p.id = d.player_id
          WHERE d.tenant_id = $1 AND ($2::text IS NULL OR d.state = $2)
            AND ($3::text IS NULL OR d.provider = $3) AND ($4::text IS NULL OR d.currency = $4)
            AND ($5::timestamptz IS NULL OR d.created_at >= $5)
            AND ($6::timestamptz IS NULL OR d.created_at < $6)
            AND ($7::timestamptz IS NULL OR (d.created_at, d.id) < ($7, $8))
          ORDER BY d.created_at DESC, d.id DESC LIMIT $9",
    )
    .bind(tenant_id)
    .bind(filter.text("state"))
    .bind(filter.text("provider"))
    .bind(filter.text("currency"))
    .bind_period_and_cursor(filter, cursor)
    .fetch_all(pool)
    .await?)
}

/// One transfer of a journal, with the journal's columns and both accounts' labels.
#[derive(sqlx::FromRow)]
struct JournalCsvRow {
    id: Uuid,
    created_at: DateTime<Utc>,
    kind: String,
    reference: Option<String>,
    idempotency_key: String,
    ordinal: i16,
    debit_account: String,
    credit_account: String,
    amount_minor: i64,
    currency: String,
}

impl CsvRow for JournalCsvRow {
    fn cursor(&self) -> Cursor {
        Cursor::Time(self.created_at, self.id)
    }

    fn cells(self) -> Vec<String> {
        vec![
            self.id.to_string(),
            time(Some(self.created_at)),
            self.kind,
            text(self.reference),
            self.idempotency_key,
            self.ordinal.to_string(),
            self.debit_account,
            self.credit_account,
            amount(Some(self.amount_minor), &self.currency),
            self.currency,
        ]
    }
}

async fn journals(
    pool: &PgPool,
    tenant_id: TenantId,
    filter: &Filter,
    cursor: Cursor,
) -> ServerResult<Vec<JournalCsvRow>> {
    Ok(sqlx::query_as(
        "WITH page AS (
             SELECT j.id, j.created_at, j.kind::text AS kind, j.reference::text AS reference,
                    j.idempotency_key::text AS idempotency_key
               FROM ledger_journals j
              WHERE j.tenant_id = $1 AND ($2::text IS NULL OR j.kind = $2)
                AND ($3::text IS NULL OR j.reference = $3)
                AND ($4::timestamptz IS NULL OR j.created_at >= $4)
                AND ($5::timestamptz IS NULL OR j.created_at < $5)
                AND ($6::timestamptz IS NULL OR (j.created_at, j.id) < ($6, $7))
              ORDER BY j.created_at DESC, j.id DESC LIMIT $8)
         SELECT page.id, page.created_at, page.kind, page.reference, page.idempotency_key,
                t.ordinal,
                d.kind::text || coalesce(':' || d.provider, '') || coalesce(':' || dp.email, '')
                    AS debit_account,
                c.kind::text || coalesce(':' || c.provider, '') || coalesce(':' || cp.email, '')
                    AS credit_account,
                t.amount_minor, t.currency::text AS currency
           FROM page
           JOIN ledger_transfers t ON t.journal_id = page.id
           JOIN ledger_accounts d ON d.id = t.debit_account_id
           JOIN ledger_accounts c ON c.id = t.credit_account_id
           LEFT JOIN players dp ON dp.tenant_id = d.tenant_id AND dp.id = d.player_id
           LEFT JOIN players cp ON cp.tenant_id = c.tenant_id AND cp.id = c.player_id
          ORDER BY page.created_at DESC, page.id DESC, t.ordinal",
    )
    .bind(tenant_id)
    .bind(filter.text("kind"))
    .bind(filter.text("reference"))
    .bind_period_and_cursor(filter, cursor)
    .fetch_all(pool)
    .await?)
}

#[derive(sqlx::FromRow)]
struct FindingCsvRow {
    id: Uuid,
    last_seen_at: DateTime<Utc>,
    provider: String,
    reference: String,
    #[sqlx(try_from = "String")]
    kind: FindingKind,
    #[sqlx(try_from = "String")]
    severity: FindingSeverity,
    #[sqlx(try_from = "String")]
    status: FindingStatus,
    psp_status: Option<String>,
    ledger_status: Option<String>,
    psp_amount_minor: Option<i64>,
    ledger_amount_minor: Option<i64>,
    currency: String,
    message: String,
    first_seen_at: DateTime<Utc>,
    resolved_at: Option<DateTime<Utc>>,
    resolved_by: Option<String>,
    resolution_note: Option<String>,
}

impl CsvRow for FindingCsvRow {
    fn cursor(&self) -> Cursor {
        Cursor::Time(self.last_seen_at, self.id)
    }

    fn cells(self) -> Vec<String> {
        vec![
            self.id.to_string(),
            self.provider,
            self.reference,
            self.kind.as_str().to_owned(),
            self.severity.as_str().to_owned(),
            self.status.as_str().to_owned(),
            text(self.psp_status),
            text(self.ledger_status),
            amount(self.psp_amount_minor, &self.currency),
            amount(self.ledger_amount_minor, &self.currency),
            self.currency,
            self.message,
            time(Some(self.first_seen_at)),
            time(Some(self.last_seen_at)),
            time(self.resolved_at),
            text(self.resolved_by),
            text(self.resolution_note),
        ]
    }
}

async fn findings(
    pool: &PgPool,
    tenant_id: TenantId,
    filter: &Filter,
    cursor: Cursor,
) -> ServerResult<Vec<FindingCsvRow>> {
    let (time_cursor, id_cursor) = cursor.time();
    let checked = filter.findings.clone().unwrap_or_default();
    Ok(sqlx::query_as(
        "SELECT f.id, f.last_seen_at, f.provider::text, f.reference, f.kind, f.severity,
                f.status, f.psp_status, f.ledger_status, f.psp_amount_minor,
                f.ledger_amount_minor, coalesce(f.currency::text, '') AS currency, f.message,
                f.first_seen_at, f.resolved_at, s.email AS resolved_by, f.resolution_note
           FROM reconciliation_findings f
           LEFT JOIN staff s ON s.tenant_id = f.tenant_id AND s.id = f.resolved_by
          WHERE f.tenant_id = $1 AND ($2::text IS NULL OR f.status = $2)
            AND ($3::text IS NULL OR f.kind = $3) AND ($4::text IS NULL OR f.provider = $4)
            AND ($5::timestamptz IS NULL OR (f.last_seen_at, f.id) < ($5, $6))
          ORDER BY f.last_seen_at DESC, f.id DESC LIMIT $7",
    )
    .bind(tenant_id)
    .bind(checked.status())
    .bind(checked.kind())
    .bind(&checked.provider)
    .bind(time_cursor)
    .bind(id_cursor)
    .bind(EXPORT_BATCH_ROWS)
    .fetch_all(pool)
    .await?)
}
