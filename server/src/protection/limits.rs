//! Deposit and loss limits per rolling day (24 h), week (7 days) and month (30 days). A lower
//! limit applies at once; a higher one, or removing one, waits for the tenant's cooling-off
//! period, stored as the row's pending change and read as the limit from its effective time on.
//! Both kinds follow the same rules ([`LimitKind`]); they differ in their table and in what
//! counts as used: deposits on their way or arrived, or the net loss of play (bets minus wins
//! minus rollbacks, so winnings give room back).
//!
//! All of a player's limits of one kind are in one currency: Kasa keeps no exchange rates, so a
//! limit can only count money in its own currency, and deposits or bets in another currency are
//! refused while a limit applies (otherwise a second currency would be a way round the limit).

use app::domain::ids::{PlayerId, TenantId};
use app::domain::money::{Currency, Money, SignedMoney};
use app::error::{AppError, ErrorCode};
use app::protection::{LimitKind, LimitPeriod, LimitView, PendingLimitChange};
use chrono::{DateTime, Duration, Utc};

use super::COUNTED_DEPOSIT_STATES;
use crate::error::ServerError;

/// The largest limit a player may set, in major units.
pub const LIMIT_AMOUNT_MAX_MAJOR: i64 = 1_000_000;

/// The table holding the limits of `kind`.
const fn table(kind: LimitKind) -> &'static str {
    match kind {
        LimitKind::Deposit => "deposit_limits",
        LimitKind::Loss => "loss_limits",
    }
}

/// What one window used: `$1` tenant, `$2` player, `$3` currency, `$4` the window's start.
fn used_sql(kind: LimitKind) -> String {
    match kind {
        // A deposit counts from its capture when it has one, else from its creation: one
        // that expired or failed (freeing its room) and was captured later anyway counts
        // again from the moment the money arrived, so a late capture cannot slip past the
        // window it lands in.
        LimitKind::Deposit => format!(
            "SELECT COALESCE(SUM(amount_minor), 0)::bigint FROM deposits
              WHERE tenant_id = $1 AND player_id = $2 AND currency = $3
                AND state IN {COUNTED_DEPOSIT_STATES}
                AND COALESCE(captured_at, created_at) > $4"
        ),
        // Rollbacks carry their bet's amount (tombstones nothing).
        LimitKind::Loss => "SELECT COALESCE(SUM(CASE kind WHEN 'bet' THEN amount_minor
                                                ELSE -amount_minor END), 0)::bigint
              FROM game_transactions
             WHERE tenant_id = $1 AND player_id = $2 AND currency = $3 AND created_at > $4"
            .to_owned(),
    }
}

/// One row of `deposit_limits` or `loss_limits`.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LimitRow {
    pub period: String,
    pub currency: String,
    pub amount_minor: i64,
    pub pending_amount_minor: Option<i64>,
    pub pending_effective_at: Option<DateTime<Utc>>,
}

impl LimitRow {
    /// The limit in force at `now` (in minor units); `None` once a removal has taken effect.
    pub fn effective_minor(&self, now: DateTime<Utc>) -> Option<i64> {
        match self.pending_effective_at {
            Some(effective_at) if effective_at <= now => self.pending_amount_minor,
            _ => Some(self.amount_minor),
        }
    }

    /// The change still waiting at `now`: the new amount (`None`: removal) and when it applies.
    pub fn waiting(&self, now: DateTime<Utc>) -> Option<(Option<i64>, DateTime<Utc>)> {
        self.pending_effective_at
            .filter(|effective_at| *effective_at > now)
            .map(|effective_at| (self.pending_amount_minor, effective_at))
    }

    fn period(&self) -> Result<LimitPeriod, ServerError> {
        Ok(LimitPeriod::parse(&self.period).ok_or_else(AppError::internal)?)
    }

    fn currency(&self) -> Result<Currency, ServerError> {
        Ok(Currency::parse(&self.currency)?)
    }

    /// Whether this row still limits anything (a removal that took effect leaves a dead row).
    fn in_use(&self, now: DateTime<Utc>) -> bool {
        self.effective_minor(now).is_some()
    }
}

pub async fn rows(
    conn: &mut sqlx::PgConnection,
    kind: LimitKind,
    tenant_id: TenantId,
    player_id: PlayerId,
) -> Result<Vec<LimitRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT period, currency, amount_minor, pending_amount_minor, pending_effective_at
           FROM {} WHERE tenant_id = $1 AND player_id = $2
          ORDER BY array_position(ARRAY['day', 'week', 'month'], period)",
        table(kind)
    ))
    .bind(tenant_id)
    .bind(player_id)
    .fetch_all(conn)
    .await
}

/// What the player used of `kind` in `currency` during the window of `period` ending at `now`
/// (a net loss may be negative: the player won).
async fn used_minor(
    conn: &mut sqlx::PgConnection,
    kind: LimitKind,
    tenant_id: TenantId,
    player_id: PlayerId,
    currency: Currency,
    period: LimitPeriod,
    now: DateTime<Utc>,
) -> Result<i64, ServerError> {
    Ok(sqlx::query_scalar(&used_sql(kind))
        .bind(tenant_id)
        .bind(player_id)
        .bind(currency.code())
        .bind(now - period.window())
        .fetch_one(conn)
        .await?)
}

/// The player's limits of `kind` in force or waiting at `now`, with their use, and the limits'
/// currency.
pub async fn views(
    conn: &mut sqlx::PgConnection,
    kind: LimitKind,
    tenant_id: TenantId,
    player_id: PlayerId,
    now: DateTime<Utc>,
) -> Result<(Option<Currency>, Vec<LimitView>), ServerError> {
    let rows = rows(conn, kind, tenant_id, player_id).await?;
    let mut currency_in_use = None;
    let mut views = Vec::new();
    for row in rows.iter().filter(|row| row.in_use(now)) {
        let currency = row.currency()?;
        currency_in_use = Some(currency);
        let Some(limit_minor) = row.effective_minor(now) else {
            continue;
        };
        let period = row.period()?;
        let used = used_minor(conn, kind, tenant_id, player_id, currency, period, now).await?;
        let pending = match row.waiting(now) {
            Some((amount_minor, effective_at)) => Some(PendingLimitChange {
                amount: amount_minor
                    .map(|minor| Money::from_minor_units(minor, currency))
                    .transpose()?,
                effective_at,
            }),
            None => None,
        };
        views.push(LimitView {
            period,
            limit: Money::from_minor_units(limit_minor, currency)?,
            used: SignedMoney::from_minor_units(used, currency),
            remaining: SignedMoney::from_minor_units(
                limit_minor.saturating_sub(used).max(0),
                currency,
            ),
            pending,
        });
    }
    Ok((currency_in_use, views))
}

/// Refuses a deposit of `amount` that does not fit every limit in force, naming the tightest
/// limit and the room left in it.
pub async fn check(
    conn: &mut sqlx::PgConnection,
    tenant_id: TenantId,
    player_id: PlayerId,
    amount: &Money,
    now: DateTime<Utc>,
) -> Result<(), ServerError> {
    let (currency, limits) = views(conn, LimitKind::Deposit, tenant_id, player_id, now).await?;
    let Some(currency) = currency.filter(|_| !limits.is_empty()) else {
        return Ok(());
    };
    if currency != amount.currency() {
        return Err(refusal(format!(
            "Your deposit limits are in {currency}, so deposits in {} are not possible while they apply. Please deposit in {currency}.",
            amount.currency()
        )).into());
    }
    let tightest = limits
        .iter()
        .filter(|limit| limit.remaining.minor_units() < amount.to_minor_units())
        .min_by_key(|limit| limit.remaining.minor_units());
    match tightest {
        None => Ok(()),
        Some(limit) => Err(refusal(format!(
            "This deposit would exceed your {} deposit limit of {}. You can deposit up to {} more in the current {}.",
            limit.period.adjective(),
            limit.limit,
            limit.remaining,
            limit.period.window_label()
        )).into()),
    }
}

/// Why a bet of some amount does not fit the player's loss limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LossLimitRefusal {
    /// The limits are in another currency than the bet.
    OtherCurrency(Currency),
    /// The tightest limit the bet would break, with the room left in it.
    Exceeded(LimitView),
}

/// Whether a bet of `amount` fits every loss limit in force at `now`: the net loss of each
/// window plus the bet may not exceed its limit. The caller holds the player's row lock.
pub async fn check_loss(
    conn: &mut sqlx::PgConnection,
    tenant_id: TenantId,
    player_id: PlayerId,
    amount: &Money,
    now: DateTime<Utc>,
) -> Result<Result<(), LossLimitRefusal>, ServerError> {
    let (currency, limits) = views(conn, LimitKind::Loss, tenant_id, player_id, now).await?;
    let Some(currency) = currency.filter(|_| !limits.is_empty()) else {
        return Ok(Ok(()));
    };
    if currency != amount.currency() {
        return Ok(Err(LossLimitRefusal::OtherCurrency(currency)));
    }
    let tightest = limits
        .into_iter()
        .filter(|limit| limit.remaining.minor_units() < amount.to_minor_units())
        .min_by_key(|limit| limit.remaining.minor_units());
    Ok(tightest.map_or(Ok(()), |limit| Err(LossLimitRefusal::Exceeded(limit))))
}

fn refusal(message: String) -> AppError {
    AppError {
        field: Some("amount".into()),
        ..AppError::new(ErrorCode::DepositLimitExceeded, message)
    }
}

/// What setting a limit did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitChange {
    /// A new or lower limit (or the same one, cancelling a waiting increase), in force now.
    Applied,
    /// A higher limit or a removal, in force from the given time.
    Scheduled(DateTime<Utc>),
    /// The same change was already in force or waiting: nothing changed.
    Unchanged,
}

/// A player's wish for one limit: `amount` `None` removes it.
#[derive(Debug, Clone, Copy)]
pub struct LimitRequest {
    pub period: LimitPeriod,
    pub currency: Currency,
    pub amount: Option<Money>,
}

/// Sets one of the player's limits as `request` asks. The caller holds the player's row lock,
/// so no deposit check runs between reading and writing the limits.
pub async fn set(
    conn: &mut sqlx::PgConnection,
    kind: LimitKind,
    tenant_id: TenantId,
    player_id: PlayerId,
    request: LimitRequest,
    cooldown: Duration,
    now: DateTime<Utc>,
) -> Result<LimitChange, ServerError> {
    let LimitRequest {
        period,
        currency,
        amount,
    } = request;
    let rows = rows(conn, kind, tenant_id, player_id).await?;
    if amount.is_some()
        && let Some(other) = rows
            .iter()
            .find(|row| row.in_use(now) && row.currency != currency.code())
    {
        return Err(AppError::invalid(
            "currency",
            format!(
                "Your {1} limits are in {0}: set this one in {0} too, or remove them first to use another currency.",
                other.currency,
                kind.noun()
            ),
        ).into());
    }
    let this = rows
        .into_iter()
        .find(|row| row.in_use(now) && row.period == period.as_str());
    let current_minor = this.as_ref().and_then(|row| row.effective_minor(now));
    let waiting = this.as_ref().and_then(|row| row.waiting(now));
    let requested_minor = amount.map(|amount| amount.to_minor_units());
    match (current_minor, requested_minor) {
        (None, None) => {
            delete(conn, kind, tenant_id, player_id, period).await?;
            Ok(LimitChange::Unchanged)
        }
        (None, Some(requested)) => {
            write(
                conn, kind, tenant_id, player_id, period, currency, requested, None, now,
            )
            .await?;
            Ok(LimitChange::Applied)
        }
        (Some(current), Some(requested)) if requested <= current => {
            if requested == current && waiting.is_none() {
                return Ok(LimitChange::Unchanged);
            }
            write(
                conn, kind, tenant_id, player_id, period, currency, requested, None, now,
            )
            .await?;
            Ok(LimitChange::Applied)
        }
        (Some(current), requested) => {
            // An increase or a removal: the same change already waiting keeps its time.
            if let Some((waiting_minor, _)) = waiting
                && waiting_minor == requested
            {
                return Ok(LimitChange::Unchanged);
            }
            let effective_at = now + cooldown;
            let row_currency = this.as_ref().map_or(Ok(currency), LimitRow::currency)?;
            write(
                conn,
                kind,
                tenant_id,
                player_id,
                period,
                row_currency,
                current,
                Some((requested, effective_at)),
                now,
            )
            .await?;
            Ok(LimitChange::Scheduled(effective_at))
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn write(
    conn: &mut sqlx::PgConnection,
    kind: LimitKind,
    tenant_id: TenantId,
    player_id: PlayerId,
    period: LimitPeriod,
    currency: Currency,
    amount_minor: i64,
    pending: Option<(Option<i64>, DateTime<Utc>)>,
    now: DateTime<Utc>,
) -> Result<(), ServerError> {
    let (pending_minor, pending_at) = pending.map_or((None, None), |(minor, at)| (minor, Some(at)));
    sqlx::query(&format!(
        "INSERT INTO {} (tenant_id, player_id, period, currency, amount_minor,
                         pending_amount_minor, pending_effective_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (tenant_id, player_id, period) DO UPDATE
            SET currency = EXCLUDED.currency, amount_minor = EXCLUDED.amount_minor,
                pending_amount_minor = EXCLUDED.pending_amount_minor,
                pending_effective_at = EXCLUDED.pending_effective_at,
                updated_at = EXCLUDED.updated_at",
        table(kind)
    ))
    .bind(tenant_id)
    .bind(player_id)
    .bind(period.as_str())
    .bind(currency.code())
    .bind(amount_minor)
    .bind(pending_minor)
    .bind(pending_at)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

async fn delete(
    conn: &mut sqlx::PgConnection,
    kind: LimitKind,
    tenant_id: TenantId,
    player_id: PlayerId,
    period: LimitPeriod,
) -> Result<(), ServerError> {
    sqlx::query(&format!(
        "DELETE FROM {} WHERE tenant_id = $1 AND player_id = $2 AND period = $3",
        table(kind)
    ))
    .bind(tenant_id)
    .bind(player_id)
    .bind(period.as_str())
    .execute(conn)
    .await?;
    Ok(())
}
