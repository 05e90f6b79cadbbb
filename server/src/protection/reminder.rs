//! The player's play reminder (`play_reminders`): how often the game pages tell the player how
//! long they have been playing. No row means no reminder, so turning it off deletes the row.

use app::domain::ids::{PlayerId, TenantId};
use chrono::{DateTime, Utc};

use crate::error::ServerError;

/// The player's reminder interval in minutes; `None` when the player wants no reminder.
pub async fn interval_minutes(
    conn: &mut sqlx::PgConnection,
    tenant_id: TenantId,
    player_id: PlayerId,
) -> Result<Option<u32>, ServerError> {
    let minutes: Option<i32> = sqlx::query_scalar(
        "SELECT interval_minutes FROM play_reminders WHERE tenant_id = $1 AND player_id = $2",
    )
    .bind(tenant_id)
    .bind(player_id)
    .fetch_optional(conn)
    .await?;
    // The table's CHECK keeps the interval within 5..=720, so it always fits.
    Ok(minutes.and_then(|minutes| u32::try_from(minutes).ok()))
}

/// Sets the reminder to `minutes` (`None`: off), already validated by the caller. Returns
/// whether anything changed, so a repeated save writes no audit event.
pub async fn set(
    conn: &mut sqlx::PgConnection,
    tenant_id: TenantId,
    player_id: PlayerId,
    minutes: Option<u32>,
    now: DateTime<Utc>,
) -> Result<bool, ServerError> {
    let changed = match minutes {
        // `IS DISTINCT FROM` leaves an unchanged row alone, so it reports no change.
        Some(minutes) => sqlx::query(
            "INSERT INTO play_reminders (tenant_id, player_id, interval_minutes, updated_at)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (tenant_id, player_id) DO UPDATE
                SET interval_minutes = EXCLUDED.interval_minutes, updated_at = EXCLUDED.updated_at
              WHERE play_reminders.interval_minutes IS DISTINCT FROM EXCLUDED.interval_minutes",
        )
        .bind(tenant_id)
        .bind(player_id)
        .bind(i64::from(minutes))
        .bind(now),
        None => sqlx::query("DELETE FROM play_reminders WHERE tenant_id = $1 AND player_id = $2")
            .bind(tenant_id)
            .bind(player_id),
    }
    .execute(conn)
    .await?
    .rows_affected();
    Ok(changed > 0)
}
