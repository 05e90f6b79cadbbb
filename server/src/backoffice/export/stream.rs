//! The response body of an export: the header line, then batch after batch until the list ends
//! or `EXPORT_ROWS_MAX` rows were sent. A batch that fails ends the body with an error (the
//! download is cut short rather than silently incomplete).

use app::domain::ids::TenantId;
use app::error::AppError;
use axum::body::{Body, Bytes};
use futures::StreamExt;
use sqlx::PgPool;

use super::EXPORT_ROWS_MAX;
use super::csv::csv_line;
use super::lists::{Filter, List};
use super::rows::{Cursor, batch};

pub fn body(pool: PgPool, tenant_id: TenantId, list: List, filter: Filter) -> Body {
    let header = csv_line(list.header());
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
    Body::from_stream(first.chain(rows))
}
