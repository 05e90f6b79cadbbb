//! The credit approvals queue: this brand's requests with who asked and who decided, and
//! whether the viewer may decide each.

use app::auth::StaffRole;
use app::backoffice::credits::{
    CREDIT_REQUEST_PAGE_SIZE, CreditRequestFilter, CreditRequestPage, CreditRequestRow,
};
use app::domain::ids::{PlayerId, StaffId, TenantId};
use app::domain::money::{Currency, Money};
use app::domain::reconciliation::{CreditRequestSource, CreditRequestState};
use app::error::AppError;
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use crate::auth::StaffMember;
use crate::backoffice::{filter_text, next_offset, page_offset};
use crate::error::ServerResult;

/// A credit request with the emails of its player, requester and decider.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RequestSqlRow {
    pub id: Uuid,
    #[sqlx(try_from = "String")]
    pub state: CreditRequestState,
    #[sqlx(try_from = "String")]
    pub source: CreditRequestSource,
    pub player_id: PlayerId,
    pub player_email: String,
    pub currency: String,
    pub amount_minor: i64,
    pub reason: String,
    pub requested_by_id: StaffId,
    pub requested_by: String,
    pub requested_at: DateTime<Utc>,
    pub decided_by_id: Option<StaffId>,
    pub decided_by: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
    pub decision_note: Option<String>,
    pub decision_key: Option<String>,
    pub journal_id: Option<Uuid>,
    pub finding_id: Option<Uuid>,
    pub object_type: Option<String>,
    pub object_id: Option<Uuid>,
}

const REQUEST_SELECT: &str = "SELECT c.id, c.state, c.source, c.player_id, p.email AS player_email,
        c.currency::text AS currency, c.amount_minor, c.reason, c.requested_by AS requested_by_id,
        r.email AS requested_by, c.requested_at, c.decided_by AS decided_by_id,
        d.email AS decided_by, c.decided_at, c.decision_note, c.decision_key, c.journal_id,
        c.finding_id, c.object_type, c.object_id
   FROM credit_requests c
   JOIN players p ON p.tenant_id = c.tenant_id AND p.id = c.player_id
   JOIN staff r ON r.tenant_id = c.tenant_id AND r.id = c.requested_by
   LEFT JOIN staff d ON d.tenant_id = c.tenant_id AND d.id = c.decided_by";

impl RequestSqlRow {
    pub fn amount(&self) -> ServerResult<Money> {
        let currency = Currency::parse(&self.currency)?;
        Ok(Money::from_minor_units(self.amount_minor, currency)?)
    }

    fn into_row(self, viewer: Option<&StaffMember>) -> ServerResult<CreditRequestRow> {
        let may_decide = viewer.is_some_and(|viewer| {
            viewer.role >= StaffRole::Finance
                && viewer.id != self.requested_by_id
                && self.state == CreditRequestState::Pending
        });
        Ok(CreditRequestRow {
            amount: self.amount()?,
            id: self.id,
            state: self.state,
            source: self.source,
            player_id: self.player_id,
            player_email: self.player_email,
            reason: self.reason,
            requested_by: self.requested_by,
            requested_at: self.requested_at,
            decided_by: self.decided_by,
            decided_at: self.decided_at,
            decision_note: self.decision_note,
            journal_id: self.journal_id,
            finding_id: self.finding_id,
            object_type: self.object_type,
            object_id: self.object_id,
            may_decide,
        })
    }
}

pub async fn request_row(
    conn: &mut sqlx::PgConnection,
    tenant_id: TenantId,
    request_id: Uuid,
    lock: bool,
) -> ServerResult<RequestSqlRow> {
    Ok(sqlx::query_as(&format!(
        "{REQUEST_SELECT} WHERE c.tenant_id = $1 AND c.id = $2{}",
        if lock { " FOR UPDATE OF c" } else { "" }
    ))
    .bind(tenant_id)
    .bind(request_id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| AppError::not_found("Credit request"))?)
}

/// The queue: this brand's requests, pending first, newest first.
pub async fn page(
    pool: &PgPool,
    tenant_id: TenantId,
    viewer: &StaffMember,
    filter: &CreditRequestFilter,
) -> ServerResult<CreditRequestPage> {
    let state = filter_text(&filter.state)
        .map(|state| {
            CreditRequestState::parse(&state)
                .ok_or_else(|| AppError::invalid("state", "Choose pending, approved or declined."))
        })
        .transpose()?;
    let offset = page_offset(filter.offset);
    let rows: Vec<RequestSqlRow> = sqlx::query_as(&format!(
        "{REQUEST_SELECT}
          WHERE c.tenant_id = $1 AND ($2::text IS NULL OR c.state = $2)
          ORDER BY c.state <> 'pending', c.requested_at DESC, c.id
          LIMIT $3 OFFSET $4"
    ))
    .bind(tenant_id)
    .bind(state.map(CreditRequestState::as_str))
    .bind(CREDIT_REQUEST_PAGE_SIZE)
    .bind(offset)
    .fetch_all(pool)
    .await?;
    let next_offset = next_offset(rows.len(), offset, CREDIT_REQUEST_PAGE_SIZE);
    Ok(CreditRequestPage {
        requests: rows
            .into_iter()
            .map(|row| row.into_row(Some(viewer)))
            .collect::<Result<_, _>>()?,
        next_offset,
        can_act: viewer.role >= StaffRole::Finance,
    })
}

/// One request for its requester's receipt.
pub async fn row(
    pool: &PgPool,
    tenant_id: TenantId,
    request_id: Uuid,
    viewer: Option<&StaffMember>,
) -> ServerResult<CreditRequestRow> {
    let mut conn = pool.acquire().await?;
    request_row(&mut conn, tenant_id, request_id, false)
        .await?
        .into_row(viewer)
}
