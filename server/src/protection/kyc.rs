//! KYC state per player: the current state (`player_kyc`, no row = unverified) and the history
//! of staff decisions with their notes (`player_kyc_reviews`, append-only).

use app::domain::ids::{PlayerId, StaffId, TenantId};
use app::protection::{KycReview, KycState};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::error::{ServerError, ServerResult};

/// Most decisions the staff page lists.
pub const KYC_HISTORY_MAX: i64 = 50;

pub async fn state(
    conn: &mut sqlx::PgConnection,
    tenant_id: TenantId,
    player_id: PlayerId,
) -> ServerResult<KycState> {
    let state: Option<String> =
        sqlx::query_scalar("SELECT state FROM player_kyc WHERE tenant_id = $1 AND player_id = $2")
            .bind(tenant_id)
            .bind(player_id)
            .fetch_optional(conn)
            .await?;
    // No row yet: the player never sent anything to review.
    let Some(state) = state else {
        return Ok(KycState::Unverified);
    };
    KycState::parse(&state).ok_or_else(|| ServerError::unknown_stored("KYC state", &state))
}

/// A staff member's decision: the new current state and its history row. The caller checked
/// the transition and holds the player's row lock.
pub struct Decision<'a> {
    pub tenant_id: TenantId,
    pub player_id: PlayerId,
    pub staff_id: StaffId,
    pub from: KycState,
    pub to: KycState,
    pub note: &'a str,
    pub at: DateTime<Utc>,
}

pub async fn record(
    conn: &mut sqlx::PgConnection,
    decision: &Decision<'_>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO player_kyc (tenant_id, player_id, state, note, staff_id, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (tenant_id, player_id) DO UPDATE
            SET state = EXCLUDED.state, note = EXCLUDED.note, staff_id = EXCLUDED.staff_id,
                updated_at = EXCLUDED.updated_at",
    )
    .bind(decision.tenant_id)
    .bind(decision.player_id)
    .bind(decision.to.as_str())
    .bind(decision.note)
    .bind(decision.staff_id)
    .bind(decision.at)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO player_kyc_reviews
             (id, tenant_id, player_id, from_state, to_state, note, staff_id, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(Uuid::new_v4())
    .bind(decision.tenant_id)
    .bind(decision.player_id)
    .bind(decision.from.as_str())
    .bind(decision.to.as_str())
    .bind(decision.note)
    .bind(decision.staff_id)
    .bind(decision.at)
    .execute(conn)
    .await?;
    Ok(())
}

/// The player's KYC decisions, newest first.
pub async fn history(
    conn: &mut sqlx::PgConnection,
    tenant_id: TenantId,
    player_id: PlayerId,
) -> ServerResult<Vec<KycReview>> {
    Ok(sqlx::query_as(
        "SELECT r.from_state AS \"from\", r.to_state AS \"to\", r.note, s.display_name AS staff_name,
                r.created_at AS at
           FROM player_kyc_reviews r
           JOIN staff s ON s.tenant_id = r.tenant_id AND s.id = r.staff_id
          WHERE r.tenant_id = $1 AND r.player_id = $2
          ORDER BY r.seq DESC LIMIT $3",
    )
    .bind(tenant_id)
    .bind(player_id)
    .bind(KYC_HISTORY_MAX)
    .fetch_all(conn)
    .await?)
}
