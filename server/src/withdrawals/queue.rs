//! The staff queue: the tenant's withdrawals filtered by state, amount (major units of each
//! currency) and age, open ones oldest first.

use app::domain::ids::WithdrawalId;
use app::domain::money::Currency;
use app::domain::withdrawal::WithdrawalState;
use app::error::AppError;
use app::withdrawals::{QueueFilter, WITHDRAWALS_LISTED_MAX, WithdrawalSummary};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use uuid::Uuid;

use crate::error::{ServerError, ServerResult};
use crate::services::Services;
use crate::tenants::Tenant;

pub async fn queue(
    services: &Services,
    tenant: &Tenant,
    filter: QueueFilter,
) -> ServerResult<Vec<WithdrawalSummary>> {
    let state_filter = filter.state.as_deref().map(str::trim).unwrap_or("");
    let (states, oldest_first): (Vec<&str>, bool) = match state_filter {
        "" | "open" => (
            vec!["requested", "approved", "paying", "payout_failed"],
            true,
        ),
        "all" => (
            WithdrawalState::ALL
                .iter()
                .map(|state| state.as_str())
                .collect(),
            false,
        ),
        other => (
            vec![
                WithdrawalState::parse(other)
                    .ok_or_else(|| AppError::invalid("state", "Unknown state."))?
                    .as_str(),
            ],
            false,
        ),
    };
    let amount = |field: &str, text: &Option<String>| -> Result<Option<Decimal>, ServerError> {
        match text
            .as_deref()
            .map(str::trim)
            .filter(|text| !text.is_empty())
        {
            None => Ok(None),
            Some(text) => Ok(text
                .parse::<Decimal>()
                .ok()
                .filter(|amount| *amount >= Decimal::ZERO)
                .map(Some)
                .ok_or_else(|| AppError::invalid(field, "Enter an amount such as 100.00."))?),
        }
    };
    let amount_min = amount("amount_min", &filter.amount_min)?;
    let amount_max = amount("amount_max", &filter.amount_max)?;
    let older_than_hours = match filter
        .older_than_hours
        .as_deref()
        .map(str::trim)
        .filter(|text| !text.is_empty())
    {
        None => None,
        Some(text) => Some(
            text.parse::<u32>()
                .ok()
                .filter(|hours| *hours <= 24 * 366)
                .ok_or_else(|| AppError::invalid("older_than_hours", "Enter whole hours."))?,
        ),
    };
    let created_before =
        older_than_hours.map(|hours| services.now() - chrono::Duration::hours(i64::from(hours)));
    let (codes, scales): (Vec<&str>, Vec<i32>) = Currency::ALL
        .iter()
        .map(|currency| (currency.code(), currency.minor_unit_scale() as i32))
        .unzip();
    let rows: Vec<SummaryRecord> = sqlx::query_as(&format!(
        "SELECT w.id, p.email, w.amount_minor, w.currency, w.state,
                (w.first_approved_by IS NOT NULL AND w.approved_by IS NULL
                    AND w.state = 'requested') AS awaiting_second_approval,
                w.created_at,
                (SELECT count(*) FROM payout_attempts a WHERE a.withdrawal_id = w.id) AS attempts
           FROM withdrawals w
           JOIN players p ON p.tenant_id = w.tenant_id AND p.id = w.player_id
           JOIN unnest($2::text[], $3::int[]) AS c(code, scale) ON c.code = w.currency
          WHERE w.tenant_id = $1 AND w.state = ANY($4)
            AND ($5::numeric IS NULL OR w.amount_minor >= $5 * power(10::numeric, c.scale))
            AND ($6::numeric IS NULL OR w.amount_minor <= $6 * power(10::numeric, c.scale))
            AND ($7::timestamptz IS NULL OR w.created_at <= $7)
          ORDER BY w.created_at {}, w.id
          LIMIT $8",
        if oldest_first { "ASC" } else { "DESC" }
    ))
    .bind(tenant.id)
    .bind(&codes)
    .bind(&scales)
    .bind(&states)
    .bind(amount_min)
    .bind(amount_max)
    .bind(created_before)
    .bind(i64::from(WITHDRAWALS_LISTED_MAX))
    .fetch_all(services.pool())
    .await?;
    let now = services.now();
    rows.into_iter().map(|row| row.summary(now)).collect()
}

#[derive(sqlx::FromRow)]
struct SummaryRecord {
    #[sqlx(try_from = "Uuid")]
    id: WithdrawalId,
    email: String,
    amount_minor: i64,
    currency: String,
    #[sqlx(try_from = "String")]
    state: WithdrawalState,
    awaiting_second_approval: bool,
    created_at: DateTime<Utc>,
    attempts: i64,
}

impl SummaryRecord {
    fn summary(self, now: DateTime<Utc>) -> Result<WithdrawalSummary, ServerError> {
        let currency = Currency::parse(&self.currency)?;
        Ok(WithdrawalSummary {
            id: self.id,
            player_email: self.email,
            amount: app::domain::money::Money::from_minor_units(self.amount_minor, currency)?,
            state: self.state,
            awaiting_second_approval: self.awaiting_second_approval,
            created_at: self.created_at,
            age_s: (now - self.created_at).num_seconds(),
            attempts: self.attempts,
        })
    }
}
