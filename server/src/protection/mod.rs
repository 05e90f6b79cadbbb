//! Player protection: KYC, deposit limits and self-exclusion (being written). The money flows
//! call these checks inside their own transaction, after locking the player's row, so that two
//! requests at once cannot both pass a limit.

use app::error::AppError;
use app::money::Money;
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// May this player start a deposit of `amount` now? Deposits created, pending and captured in
/// the rolling windows count towards the limits.
pub async fn check_deposit(
    conn: &mut sqlx::PgConnection,
    tenant_id: Uuid,
    player_id: Uuid,
    amount: &Money,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let _ = (conn, tenant_id, player_id, amount, now);
    Ok(())
}

/// May this player request a withdrawal of `amount` now?
pub async fn check_withdrawal(
    conn: &mut sqlx::PgConnection,
    tenant_id: Uuid,
    player_id: Uuid,
    amount: &Money,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let _ = (conn, tenant_id, player_id, amount, now);
    Ok(())
}
