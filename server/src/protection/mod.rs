//! Player protection: identity verification (KYC), deposit and loss limits, the play reminder and
//! self-exclusion, with each tenant's policy. The money flows call `check_deposit` /
//! `check_withdrawal` (and the game API `check_play`) inside their own transaction, after locking
//! the player's row; every change made here locks the same row, so a check always sees the
//! limits, exclusions and deposits committed before it, and two requests at once cannot both pass
//! a limit.

pub mod exclusion;
pub mod kyc;
pub mod limits;
pub mod policy;
pub mod reminder;
mod service;

use app::domain::ids::{PlayerId, TenantId};
use app::domain::money::{Money, SignedMoney};
use app::error::{AppError, ErrorCode};
use app::protection::{KycState, SelfExclusion};
use chrono::{DateTime, Utc};

pub use policy::ProtectionPolicy;

use crate::error::ServerError;

/// Locks the player's row for the rest of the caller's transaction; the money flows take it
/// before their checks, and every change here takes it too. Another tenant's or an unknown id is
/// 404.
pub async fn lock_player(
    conn: &mut sqlx::PgConnection,
    tenant_id: TenantId,
    player_id: PlayerId,
) -> Result<(), ServerError> {
    let found: Option<i32> =
        sqlx::query_scalar("SELECT 1 FROM players WHERE tenant_id = $1 AND id = $2 FOR UPDATE")
            .bind(tenant_id)
            .bind(player_id)
            .fetch_optional(conn)
            .await?;
    Ok(found
        .map(|_| ())
        .ok_or_else(|| AppError::not_found("Player"))?)
}

/// Deposit states that count towards limits and the KYC threshold: the money is on its way or
/// arrived. Failed and expired deposits never took money, so they free their room.
pub(crate) const COUNTED_DEPOSIT_STATES: &str = "('created', 'pending', 'captured')";

/// May this player start a deposit of `amount` now? Refused while self-excluded
/// (`self_excluded`), beyond any deposit limit (`deposit_limit_exceeded`, saying the room left)
/// and, without a verified identity, beyond the tenant's cumulative KYC threshold
/// (`kyc_required`). Deposits created, pending and captured count.
pub async fn check_deposit(
    conn: &mut sqlx::PgConnection,
    tenant_id: TenantId,
    player_id: PlayerId,
    amount: &Money,
    now: DateTime<Utc>,
) -> Result<(), ServerError> {
    refuse_if_excluded(conn, tenant_id, player_id, now, "Deposits").await?;
    limits::check(conn, tenant_id, player_id, amount, now).await?;
    let policy = ProtectionPolicy::load(conn, tenant_id).await?;
    let threshold_minor = policy.kyc_deposit_threshold_minor(amount.currency());
    let deposited_minor = deposited_total_minor(conn, tenant_id, player_id, amount).await?;
    if deposited_minor.saturating_add(amount.to_minor_units()) <= threshold_minor {
        return Ok(());
    }
    let state = kyc::state(conn, tenant_id, player_id).await?;
    if state == KycState::Verified {
        return Ok(());
    }
    let currency = amount.currency();
    Err(AppError {
        field: Some("amount".into()),
        ..AppError::new(
            ErrorCode::KycRequired,
            format!(
                "Deposits beyond a total of {} need a verified identity, and you have deposited {} so far. {}",
                SignedMoney::from_minor_units(threshold_minor, currency),
                SignedMoney::from_minor_units(deposited_minor, currency),
                kyc_next_step(state)
            ),
        )
    }.into())
}

/// May this player request a withdrawal of `amount` now? Needs a verified identity when the
/// tenant's policy says so (the default). A self-exclusion never blocks withdrawing the balance.
/// The amount and time do not matter yet; they are part of the call so that rules which need
/// them (a KYC threshold for withdrawals) do not change the withdrawal flow.
pub async fn check_withdrawal(
    conn: &mut sqlx::PgConnection,
    tenant_id: TenantId,
    player_id: PlayerId,
    _amount: &Money,
    _now: DateTime<Utc>,
) -> Result<(), ServerError> {
    let policy = ProtectionPolicy::load(conn, tenant_id).await?;
    if !policy.kyc_required_for_withdrawal {
        return Ok(());
    }
    let state = kyc::state(conn, tenant_id, player_id).await?;
    if state == KycState::Verified {
        return Ok(());
    }
    Err(AppError::new(
        ErrorCode::KycRequired,
        format!(
            "Withdrawals need a verified identity. {}",
            kyc_next_step(state)
        ),
    )
    .into())
}

/// May this player place a bet now? For the game provider API: refused while self-excluded.
pub async fn check_play(
    conn: &mut sqlx::PgConnection,
    tenant_id: TenantId,
    player_id: PlayerId,
    now: DateTime<Utc>,
) -> Result<(), ServerError> {
    refuse_if_excluded(conn, tenant_id, player_id, now, "Play").await
}

pub(crate) async fn refuse_if_excluded(
    conn: &mut sqlx::PgConnection,
    tenant_id: TenantId,
    player_id: PlayerId,
    now: DateTime<Utc>,
    what: &str,
) -> Result<(), ServerError> {
    match exclusion::active(conn, tenant_id, player_id, now).await? {
        Some(exclusion) => Err(self_excluded(&exclusion, what).into()),
        None => Ok(()),
    }
}

fn self_excluded(exclusion: &SelfExclusion, what: &str) -> AppError {
    AppError::new(
        ErrorCode::SelfExcluded,
        format!(
            "You have excluded yourself {}. {what} are closed until then; you can still withdraw your balance.",
            exclusion.until_text()
        ),
    )
}

/// What the player can do about an identity that is not verified.
fn kyc_next_step(state: KycState) -> &'static str {
    match state {
        KycState::Pending => "Your documents are being reviewed; we will let you know.",
        KycState::Rejected => {
            "Your verification was rejected: please contact support to send new documents."
        }
        KycState::Unverified | KycState::Verified => {
            "Please contact support to verify your identity."
        }
    }
}

/// Everything the player has deposited in `amount`'s currency that counts (see
/// `COUNTED_DEPOSIT_STATES`), ever. The KYC threshold compares it in that currency alone.
async fn deposited_total_minor(
    conn: &mut sqlx::PgConnection,
    tenant_id: TenantId,
    player_id: PlayerId,
    amount: &Money,
) -> Result<i64, ServerError> {
    Ok(sqlx::query_scalar(&format!(
        "SELECT COALESCE(SUM(amount_minor), 0)::bigint FROM deposits
          WHERE tenant_id = $1 AND player_id = $2 AND currency = $3
            AND state IN {COUNTED_DEPOSIT_STATES}"
    ))
    .bind(tenant_id)
    .bind(player_id)
    .bind(amount.currency().code())
    .fetch_one(conn)
    .await?)
}
