//! CSV exports of the back office's filtered lists: `GET /admin/export/<list>.csv?<filter>` for
//! `withdrawals`, `deposits`, `journals`, `findings` and `audit`. They are plain axum routes (a
//! download, not a server function), behind the same session and role check as the pages
//! (any staff role; each download is audited). Rows are streamed in keyset-paged batches, so an
//! export never holds a connection or the whole list in memory; at most `EXPORT_ROWS_MAX` rows.
//!
//! Cells are written per RFC 4180 (quoted when they hold a comma, quote or line break), and a
//! cell that a spreadsheet could run as a formula (starting with `=`, `+`, `-`, `@`, tab or
//! carriage return) gets a leading `'`, unless it is a plain number such as `-10.50`.

use std::collections::HashMap;

use app::api::RequestCtx;
use app::auth::StaffRole;
use app::backoffice::audit::AuditFilter;
use app::backoffice::reconciliation::FindingFilter;
use app::error::AppError;
use app::money::{Currency, SignedMoney};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use super::reconciliation::findings;
use super::{audit_log, filter_text, parse_day};
use crate::audit::{self, Actor, AuditEvent};
use crate::error::ServerError;
use crate::services::Services;

/// Rows fetched per query while streaming.
const EXPORT_BATCH_ROWS: i64 = 500;
/// Most rows one export holds.
pub const EXPORT_ROWS_MAX: usize = 100_000;
/// Longest file name offered.
const FILE_NAME_LENGTH_MAX: usize = 150;

pub fn routes(services: Services) -> Router {
    Router::new()
        .route("/admin/export/{file}", get(export))
        .with_state(services)
}

/// The lists that can be exported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum List {
    Withdrawals,
    Deposits,
    Journals,
    Findings,
    Audit,
}

impl List {
    fn from_file(file: &str) -> Option<List> {
        Some(match file.strip_suffix(".csv")? {
            "withdrawals" => List::Withdrawals,
            "deposits" => List::Deposits,
            "journals" => List::Journals,
            "findings" => List::Findings,
            "audit" => List::Audit,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            List::Withdrawals => "withdrawals",
            List::Deposits => "deposits",
            List::Journals => "journals",
            List::Findings => "findings",
            List::Audit => "audit",
        }
    }

    /// The query parameters this list filters by, in file-name order.
    fn filter_names(self) -> &'static [&'static str] {
        match self {
            List::Withdrawals => &["state", "currency", "from", "until"],
            List::Deposits => &["state", "provider", "currency", "from", "until"],
            List::Journals => &["kind", "reference", "from", "until"],
            List::Findings => &["status", "kind", "provider"],
            List::Audit => &["actor", "action", "target", "from", "until"],
        }
    }

    fn header(self) -> &'static [&'static str] {
        match self {
            List::Withdrawals => &[
                "id",
                "created_at",
                "player_email",
                "amount",
                "currency",
                "state",
                "approved_at",
                "paid_at",
                "reject_reason",
                "external_reference",
            ],
            List::Deposits => &[
                "id",
                "created_at",
                "player_email",
                "provider",
                "amount",
                "currency",
                "state",
                "provider_session_id",
                "captured_at",
                "failure_code",
            ],
            List::Journals => &[
                "journal_id",
                "posted_at",
                "kind",
                "reference",
                "idempotency_key",
                "ordinal",
                "debit_account",
                "credit_account",
                "amount",
                "currency",
            ],
            List::Findings => &[
                "id",
                "provider",
                "reference",
                "kind",
                "severity",
                "status",
                "psp_status",
                "ledger_status",
                "psp_amount",
                "ledger_amount",
                "currency",
                "message",
                "first_seen_at",
                "last_seen_at",
                "resolved_at",
                "resolved_by",
                "resolution_note",
            ],
            List::Audit => &[
                "seq",
                "at",
                "actor_type",
                "actor_id",
                "actor",
                "action",
                "target_type",
                "target_id",
                "reason",
                "request_id",
                "idempotency_key",
                "ip",
                "before",
                "after",
                "hash",
            ],
        }
    }
}

/// Where the next batch starts: after this `seq`, or after this (time, id).
#[derive(Debug, Clone, Copy)]
enum Cursor {
    Start,
    Seq(i64),
    Time(DateTime<Utc>, Uuid),
}

/// A list's filter, checked once before streaming starts.
#[derive(Debug, Clone)]
struct Filter {
    values: HashMap<String, String>,
    from: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
    audit: Option<audit_log::AuditSearch>,
    findings: Option<findings::CheckedFilter>,
}

impl Filter {
    fn text(&self, name: &str) -> Option<String> {
        filter_text(&self.values.get(name).cloned())
    }
}

async fn check_filter(
    pool: &PgPool,
    tenant_id: Uuid,
    list: List,
    query: &HashMap<String, String>,
) -> Result<Filter, ServerError> {
    let values: HashMap<String, String> = list
        .filter_names()
        .iter()
        .filter_map(|name| {
            filter_text(&query.get(*name).cloned()).map(|value| ((*name).to_owned(), value))
        })
        .collect();
    if let Some(currency) = values.get("currency") {
        Currency::parse(currency)
            .map_err(|_| AppError::invalid("currency", "Choose a supported currency."))?;
    }
    let get = |name: &str| values.get(name).cloned();
    let audit = match list {
        List::Audit => Some(
            audit_log::AuditSearch::resolve(
                pool,
                tenant_id,
                &AuditFilter {
                    actor: get("actor"),
                    action: get("action"),
                    target: get("target"),
                    from: get("from"),
                    until: get("until"),
                    before: None,
                },
            )
            .await?,
        ),
        _ => None,
    };
    let findings = match list {
        List::Findings => Some(findings::checked_filter(&FindingFilter {
            status: get("status"),
            kind: get("kind"),
            provider: get("provider"),
            offset: None,
        })?),
        _ => None,
    };
    Ok(Filter {
        from: parse_day("from", values.get("from").map(String::as_str), false)?,
        until: parse_day("until", values.get("until").map(String::as_str), true)?,
        values,
        audit,
        findings,
    })
}

/// `withdrawals_state-requested_from-2025-01-01.csv`: the list and its filter, in characters
/// that are safe in any file system.
fn file_name(list: List, filter: &Filter) -> String {
    let mut name = list.name().to_owned();
    for key in list.filter_names() {
        if let Some(value) = filter.values.get(*key) {
            let value: String = value
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                        c
                    } else {
                        '-'
                    }
                })
                .collect();
            name.push_str(&format!("_{key}-{value}"));
        }
    }
    name.truncate(FILE_NAME_LENGTH_MAX);
    name.push_str(".csv");
    name
}

/// One CSV cell: formulas neutralised, quoted when needed.
pub fn csv_cell(value: &str) -> String {
    let formula = value.starts_with(['=', '+', '-', '@', '\t', '\r']) && !is_plain_number(value);
    let value = if formula {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

/// `-10.50`, `42`: a number a spreadsheet reads as a number, never as a formula.
fn is_plain_number(value: &str) -> bool {
    let digits = value.strip_prefix('-').unwrap_or(value);
    let mut parts = digits.splitn(2, '.');
    let whole = parts.next().unwrap_or_default();
    let fraction = parts.next();
    !whole.is_empty()
        && whole.bytes().all(|byte| byte.is_ascii_digit())
        && fraction.is_none_or(|fraction| {
            !fraction.is_empty() && fraction.bytes().all(|byte| byte.is_ascii_digit())
        })
}

/// One CSV line (CRLF-terminated, as RFC 4180 asks).
pub fn csv_line<S: AsRef<str>>(cells: &[S]) -> String {
    let mut line = cells
        .iter()
        .map(|cell| csv_cell(cell.as_ref()))
        .collect::<Vec<_>>()
        .join(",");
    line.push_str("\r\n");
    line
}

fn time(at: Option<DateTime<Utc>>) -> String {
    at.map(|at| at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string())
        .unwrap_or_default()
}

fn amount(minor: Option<i64>, currency: &str) -> String {
    match (minor, Currency::parse(currency)) {
        (Some(minor), Ok(currency)) => {
            SignedMoney::from_minor_units(minor, currency).format_amount()
        }
        (Some(minor), Err(_)) => minor.to_string(),
        (None, _) => String::new(),
    }
}

fn text(value: Option<String>) -> String {
    value.unwrap_or_default()
}

type Batch = (Vec<Vec<String>>, Option<Cursor>);

/// The next batch of rows after `cursor`, and the cursor after them (`None`: the list ended).
async fn batch(
    pool: &PgPool,
    tenant_id: Uuid,
    list: List,
    filter: &Filter,
    cursor: Cursor,
) -> Result<Batch, ServerError> {
    let (time_cursor, id_cursor) = match cursor {
        Cursor::Time(at, id) => (Some(at), Some(id)),
        _ => (None, None),
    };
    let (rows, next): Batch = match list {
        List::Audit => {
            let before = match cursor {
                Cursor::Seq(seq) => Some(seq),
                _ => None,
            };
            let search = filter.audit.clone().unwrap_or_default();
            let events =
                audit_log::events(pool, tenant_id, &search, before, EXPORT_BATCH_ROWS).await?;
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
            (rows, next)
        }
        List::Withdrawals => {
            let rows: Vec<WithdrawalCsvRow> = sqlx::query_as(
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
            .bind(filter.from)
            .bind(filter.until)
            .bind(time_cursor)
            .bind(id_cursor)
            .bind(EXPORT_BATCH_ROWS)
            .fetch_all(pool)
            .await?;
            let next = rows.last().map(|row| Cursor::Time(row.1, row.0));
            let rows = rows
                .into_iter()
                .map(
                    |(
                        id,
                        created,
                        email,
                        minor,
                        currency,
                        state,
                        approved,
                        paid,
                        reason,
                        reference,
                    )| {
                        vec![
                            id.to_string(),
                            time(Some(created)),
                            email,
                            amount(Some(minor), &currency),
                            currency,
                            state,
                            time(approved),
                            time(paid),
                            text(reason),
                            text(reference),
                        ]
                    },
                )
                .collect();
            (rows, next)
        }
        List::Deposits => {
            let rows: Vec<DepositCsvRow> = sqlx::query_as(
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
            .bind(filter.from)
            .bind(filter.until)
            .bind(time_cursor)
            .bind(id_cursor)
            .bind(EXPORT_BATCH_ROWS)
            .fetch_all(pool)
            .await?;
            let next = rows.last().map(|row| Cursor::Time(row.1, row.0));
            let rows = rows
                .into_iter()
                .map(
                    |(
                        id,
                        created,
                        email,
                        provider,
                        minor,
                        currency,
                        state,
                        session,
                        captured,
                        failure,
                    )| {
                        vec![
                            id.to_string(),
                            time(Some(created)),
                            email,
                            provider,
                            amount(Some(minor), &currency),
                            currency,
                            state,
                            text(session),
                            time(captured),
                            text(failure),
                        ]
                    },
                )
                .collect();
            (rows, next)
        }
        List::Journals => {
            let rows: Vec<JournalCsvRow> = sqlx::query_as(
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
                        t.ordinal, d.kind::text || coalesce(':' || d.provider, '') || coalesce(':' || dp.email, ''),
                        c.kind::text || coalesce(':' || c.provider, '') || coalesce(':' || cp.email, ''),
                        t.amount_minor, t.currency::text
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
            .bind(filter.from)
            .bind(filter.until)
            .bind(time_cursor)
            .bind(id_cursor)
            .bind(EXPORT_BATCH_ROWS)
            .fetch_all(pool)
            .await?;
            let next = rows.last().map(|row| Cursor::Time(row.1, row.0));
            let rows = rows
                .into_iter()
                .map(
                    |(
                        id,
                        posted,
                        kind,
                        reference,
                        key,
                        ordinal,
                        debit,
                        credit,
                        minor,
                        currency,
                    )| {
                        vec![
                            id.to_string(),
                            time(Some(posted)),
                            kind,
                            text(reference),
                            key,
                            ordinal.to_string(),
                            debit,
                            credit,
                            amount(Some(minor), &currency),
                            currency,
                        ]
                    },
                )
                .collect();
            (rows, next)
        }
        List::Findings => {
            let checked = filter.findings.clone().unwrap_or_default();
            let rows: Vec<FindingCsvRow> = sqlx::query_as(
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
            .await?;
            let next = rows
                .last()
                .map(|row| Cursor::Time(row.last_seen_at, row.id));
            let rows = rows
                .into_iter()
                .map(|row| {
                    vec![
                        row.id.to_string(),
                        row.provider,
                        row.reference,
                        row.kind,
                        row.severity,
                        row.status,
                        text(row.psp_status),
                        text(row.ledger_status),
                        amount(row.psp_amount_minor, &row.currency),
                        amount(row.ledger_amount_minor, &row.currency),
                        row.currency,
                        row.message,
                        time(Some(row.first_seen_at)),
                        time(Some(row.last_seen_at)),
                        time(row.resolved_at),
                        text(row.resolved_by),
                        text(row.resolution_note),
                    ]
                })
                .collect();
            (rows, next)
        }
    };
    // The stream stops at the first empty batch.
    let next = if rows.is_empty() { None } else { next };
    Ok((rows, next))
}

type WithdrawalCsvRow = (
    Uuid,
    DateTime<Utc>,
    String,
    i64,
    String,
    String,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
    Option<String>,
    Option<String>,
);
type DepositCsvRow = (
    Uuid,
    DateTime<Utc>,
    String,
    String,
    i64,
    String,
    String,
    Option<String>,
    Option<DateTime<Utc>>,
    Option<String>,
);
type JournalCsvRow = (
    Uuid,
    DateTime<Utc>,
    String,
    Option<String>,
    String,
    i16,
    String,
    String,
    i64,
    String,
);
#[derive(sqlx::FromRow)]
struct FindingCsvRow {
    id: Uuid,
    last_seen_at: DateTime<Utc>,
    provider: String,
    reference: String,
    kind: String,
    severity: String,
    status: String,
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

fn error_response(error: AppError) -> Response {
    let status =
        StatusCode::from_u16(error.code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let retry_after = error.retry_after_s;
    let mut response = (status, axum::Json(error)).into_response();
    if let Some(seconds) = retry_after {
        response
            .headers_mut()
            .insert(http::header::RETRY_AFTER, http::HeaderValue::from(seconds));
    }
    response
}

/// `GET /admin/export/{file}`: checks the staff session like every back-office page, audits the
/// download, then streams the CSV.
async fn export(
    State(services): State<Services>,
    Path(file): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    request: Request,
) -> Response {
    let Some(list) = List::from_file(&file) else {
        return error_response(AppError::not_found("Export"));
    };
    let (parts, _) = request.into_parts();
    let ctx = RequestCtx {
        parts,
        response: leptos_axum::ResponseOptions::default(),
    };
    match start(&services, &ctx, list, &query).await {
        Ok(response) => response,
        Err(error) => error_response(error.into()),
    }
}

async fn start(
    services: &Services,
    ctx: &RequestCtx,
    list: List,
    query: &HashMap<String, String>,
) -> Result<Response, ServerError> {
    let (tenant, staff) = services.require_staff(ctx, StaffRole::Support).await?;
    let pool = services.pool().clone();
    let filter = check_filter(&pool, tenant.id, list, query).await?;
    services
        .limit_staff_operation(tenant.id, staff.id, "export")
        .await?;
    let file_name = file_name(list, &filter);
    let event = AuditEvent {
        tenant_id: tenant.id,
        actor: Actor::Staff(staff.id),
        action: "export.downloaded".into(),
        target_type: "export".into(),
        target_id: list.name().into(),
        before: None,
        after: Some(serde_json::json!({"file": file_name, "filter": filter.values})),
        reason: None,
        request_id: audit::request_id(ctx),
        idempotency_key: None,
        ip: audit::client_ip(ctx),
        at: services.now(),
    };
    audit::record_alone(&pool, &event).await?;
    let header = csv_line(list.header());
    let tenant_id = tenant.id;
    let first =
        futures::stream::once(async move { Ok::<Bytes, std::io::Error>(Bytes::from(header)) });
    let rows = futures::stream::unfold((Some(Cursor::Start), 0_usize), move |(cursor, sent)| {
        let pool = pool.clone();
        let filter = filter.clone();
        async move {
            let cursor = cursor?;
            if sent >= EXPORT_ROWS_MAX {
                return None;
            }
            match batch(&pool, tenant_id, list, &filter, cursor).await {
                Ok((rows, next)) if !rows.is_empty() => {
                    let room = EXPORT_ROWS_MAX - sent;
                    let taken = rows.len().min(room);
                    let chunk: String = rows[..taken].iter().map(|row| csv_line(row)).collect();
                    Some((Ok(Bytes::from(chunk)), (next, sent + taken)))
                }
                Ok(_) => None,
                Err(error) => Some((
                    Err(std::io::Error::other(AppError::from(error).message)),
                    (None, sent),
                )),
            }
        }
    });
    let body = Body::from_stream(futures::StreamExt::chain(first, rows));
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{file_name}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Proves cells that a spreadsheet would run as formulas are neutralised, plain numbers are
    // left as numbers, and cells with separators are quoted per RFC 4180.
    #[test]
    fn cells_are_neutralised_and_quoted() {
        assert_eq!(csv_cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_cell("+1"), "'+1");
        assert_eq!(csv_cell("-2+3"), "'-2+3");
        assert_eq!(csv_cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(csv_cell("\tcmd"), "'\tcmd");
        assert_eq!(csv_cell("-10.50"), "-10.50");
        assert_eq!(csv_cell("42"), "42");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("two\nlines"), "\"two\nlines\"");
        assert_eq!(csv_line(&["a", "b"]), "a,b\r\n");
        assert!(!is_plain_number("-"));
        assert!(!is_plain_number("1."));
        assert!(!is_plain_number("-1e5"));
    }
}
