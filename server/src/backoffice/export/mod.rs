//! CSV exports of the back office's filtered lists: `GET /admin/export/<list>.csv?<filter>` for
//! `withdrawals`, `deposits`, `journals`, `findings` and `audit`. They are plain axum routes (a
//! download, not a server function), behind the same session and role check as the pages
//! (any staff role; each download is audited). Rows are streamed in keyset-paged batches, so an
//! export never holds a connection or the whole list in memory; at most `EXPORT_ROWS_MAX` rows.
//!
//! Cells are written per RFC 4180 (quoted when they hold a comma, quote or line break), and a
//! cell that a spreadsheet could run as a formula (starting with `=`, `+`, `-`, `@`, tab or
//! carriage return) gets a leading `'`, unless it is a plain number such as `-10.50`.
//!
//! `lists` says what can be exported and checks the filter, `rows` reads each list's batches,
//! `csv` writes cells, `stream` sends the body.

mod csv;
mod lists;
mod rows;
mod stream;

use std::collections::HashMap;

use app::api::RequestCtx;
use app::auth::StaffRole;
use app::error::AppError;
use axum::Router;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use self::lists::List;
use crate::audit::{self, Actor, AuditEvent};
use crate::error::ServerResult;
use crate::services::Services;

/// Rows fetched per query while streaming.
pub const EXPORT_BATCH_ROWS: i64 = 500;
/// Most rows one export holds.
pub const EXPORT_ROWS_MAX: usize = 100_000;
/// Longest file name offered.
pub const FILE_NAME_LENGTH_MAX: usize = 150;

pub fn routes(services: Services) -> Router {
    Router::new()
        .route("/admin/export/{file}", get(export))
        .with_state(services)
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
) -> ServerResult<Response> {
    let (tenant, staff) = services.require_staff(ctx, StaffRole::Support).await?;
    let pool = services.pool().clone();
    let filter = lists::check_filter(&pool, tenant.id, list, query).await?;
    services
        .limit_staff_operation(tenant.id, staff.id, "export")
        .await?;
    let file_name = lists::file_name(list, &filter);
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
    let body = stream::body(pool, tenant.id, list, filter);
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
