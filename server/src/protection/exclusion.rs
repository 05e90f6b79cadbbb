//! Self-exclusion: append-only rows in `self_exclusions`; the one in force is the one that ends
//! last. A new choice is accepted only if it ends later, and the table refuses UPDATE and DELETE,
//! so nothing (player, staff or a bug) can shorten an exclusion.

use app::domain::ids::{PlayerId, TenantId};
use app::error::{AppError, ErrorCode};
use app::protection::{ExclusionPeriod, SelfExclusion};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::error::ServerError;

/// The exclusion in force at `now`, if any.
pub async fn active(
    conn: &mut sqlx::PgConnection,
    tenant_id: TenantId,
    player_id: PlayerId,
    now: DateTime<Utc>,
) -> Result<Option<SelfExclusion>, sqlx::Error> {
    sqlx::query_as(
        "SELECT period, starts_at AS started_at, ends_at FROM self_exclusions
          WHERE tenant_id = $1 AND player_id = $2 AND starts_at <= $3
            AND (ends_at IS NULL OR ends_at > $3)
          ORDER BY ends_at DESC NULLS FIRST LIMIT 1",
    )
    .bind(tenant_id)
    .bind(player_id)
    .bind(now)
    .fetch_optional(conn)
    .await
}

/// Starts or extends the player's exclusion with `period` from `now`. Refused when it would not
/// end later than the exclusion in force. The caller holds the player's row lock.
pub async fn add(
    conn: &mut sqlx::PgConnection,
    tenant_id: TenantId,
    player_id: PlayerId,
    period: ExclusionPeriod,
    now: DateTime<Utc>,
) -> Result<SelfExclusion, ServerError> {
    let ends_at = period.ends_at(now);
    if let Some(current) = active(conn, tenant_id, player_id, now).await? {
        let extends = match (current.ends_at, ends_at) {
            (None, _) => false,
            (Some(_), None) => true,
            (Some(current_end), Some(new_end)) => new_end > current_end,
        };
        if !extends {
            return Err(AppError::new(
                ErrorCode::InvalidStateTransition,
                format!(
                    "You are already excluded {}. An exclusion can only be extended, never shortened.",
                    current.until_text()
                ),
            ).into());
        }
    }
    sqlx::query(
        "INSERT INTO self_exclusions (id, tenant_id, player_id, period, starts_at, ends_at, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $5)",
    )
    .bind(Uuid::new_v4())
    .bind(tenant_id)
    .bind(player_id)
    .bind(period.as_str())
    .bind(now)
    .bind(ends_at)
    .execute(conn)
    .await?;
    Ok(SelfExclusion {
        period,
        started_at: now,
        ends_at,
    })
}
