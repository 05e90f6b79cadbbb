//! The figures page: every number is a sum over the ledger's journals and transfers (or its
//! balance view) for one tenant and currency, never a counter kept elsewhere.

use app::backoffice::IntegritySummary;
use app::backoffice::figures::{
    DailyFlow, Figures, FiguresQuery, GamePlay, IntegrityRun, PERIOD_DAYS_MAX,
};
use app::domain::ids::{StaffId, TenantId};
use app::domain::money::{Currency, SignedMoney};
use app::error::AppError;
use chrono::{DateTime, Days, NaiveDate, Utc};
use sqlx::PgPool;

use super::{filter_text, parse_day};
use crate::audit::{self, Actor, AuditEvent};
use crate::error::ServerError;
use crate::ledger;
use crate::services::Services;

/// The audit action that records an integrity check run from the back office.
const INTEGRITY_ACTION: &str = "ledger.integrity_checked";

/// A resolved period: `[from, until)`, and its name.
struct Period {
    name: String,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
}

fn resolve_period(query: &FiguresQuery, now: DateTime<Utc>) -> Result<Period, ServerError> {
    let name = filter_text(&query.period).unwrap_or_else(|| "7d".to_owned());
    let today = now.date_naive();
    let start = |day: NaiveDate| day.and_time(chrono::NaiveTime::MIN).and_utc();
    let last_days = |days: u64| Period {
        name: name.clone(),
        from: start(today - Days::new(days - 1)),
        until: start(today + Days::new(1)),
    };
    let period = match name.as_str() {
        "today" => last_days(1),
        "7d" => last_days(7),
        "30d" => last_days(30),
        "custom" => {
            let from = parse_day("from", query.from.as_deref(), false)?
                .ok_or_else(|| AppError::invalid("from", "Give the first day of the period."))?;
            let until = parse_day("until", query.until.as_deref(), true)?
                .ok_or_else(|| AppError::invalid("until", "Give the last day of the period."))?;
            if until <= from {
                return Err(AppError::invalid("until", "The period ends before it starts.").into());
            }
            if (until - from).num_days() > PERIOD_DAYS_MAX {
                return Err(AppError::invalid(
                    "until",
                    format!("A period is at most {PERIOD_DAYS_MAX} days."),
                )
                .into());
            }
            Period {
                name: name.clone(),
                from,
                until,
            }
        }
        _ => {
            return Err(AppError::invalid("period", "Choose one of the periods offered.").into());
        }
    };
    Ok(period)
}

/// The tenant's currencies (any ledger account), and the one to show.
async fn currencies(
    pool: &PgPool,
    tenant_id: TenantId,
    requested: Option<String>,
) -> Result<(Vec<Currency>, Currency), ServerError> {
    let codes: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT currency::text FROM ledger_accounts WHERE tenant_id = $1 ORDER BY 1",
    )
    .bind(tenant_id)
    .fetch_all(pool)
    .await?;
    let mut known: Vec<Currency> = codes
        .iter()
        .filter_map(|code| Currency::parse(code).ok())
        .collect();
    let chosen = match requested {
        Some(code) => Currency::parse(&code)
            .map_err(|_| AppError::invalid("currency", "Choose a supported currency."))?,
        None if known.contains(&Currency::Eur) || known.is_empty() => Currency::Eur,
        None => known[0],
    };
    if !known.contains(&chosen) {
        known.push(chosen);
        known.sort();
    }
    Ok((known, chosen))
}

/// Sums over the period's journals: (deposit count, deposits, payout count, payouts, house net,
/// fees net), all in minor units.
type PeriodSums = (i64, i64, i64, i64, i64, i64);

pub async fn figures(
    services: &Services,
    tenant_id: TenantId,
    query: &FiguresQuery,
) -> Result<Figures, ServerError> {
    let pool = services.pool();
    let now = services.now();
    let period = resolve_period(query, now)?;
    let (currencies, currency) = currencies(pool, tenant_id, filter_text(&query.currency)).await?;
    let code = currency.code();
    let money = |minor: i64| SignedMoney::from_minor_units(minor, currency);

    let (deposit_count, deposits, payout_count, payouts, house, fees): PeriodSums = sqlx::query_as(
        "SELECT count(DISTINCT j.id) FILTER (WHERE j.kind = 'deposit_capture'),
                coalesce(sum(t.amount_minor) FILTER (WHERE j.kind = 'deposit_capture'), 0)::bigint,
                count(DISTINCT j.id) FILTER (WHERE j.kind = 'withdrawal_payout'),
                coalesce(sum(t.amount_minor) FILTER (WHERE j.kind = 'withdrawal_payout'), 0)::bigint,
                (coalesce(sum(t.amount_minor) FILTER (WHERE c.kind = 'house'), 0)
                 - coalesce(sum(t.amount_minor) FILTER (WHERE d.kind = 'house'), 0))::bigint,
                (coalesce(sum(t.amount_minor) FILTER (WHERE c.kind = 'fees'), 0)
                 - coalesce(sum(t.amount_minor) FILTER (WHERE d.kind = 'fees'), 0))::bigint
           FROM ledger_journals j
           JOIN ledger_transfers t ON t.journal_id = j.id
           JOIN ledger_accounts d ON d.id = t.debit_account_id
           JOIN ledger_accounts c ON c.id = t.credit_account_id
          WHERE j.tenant_id = $1 AND t.currency = $2 AND j.created_at >= $3 AND j.created_at < $4",
    )
    .bind(tenant_id)
    .bind(code)
    .bind(period.from)
    .bind(period.until)
    .fetch_one(pool)
    .await?;

    let pending: PendingRow = sqlx::query_as(
            "SELECT count(DISTINCT j.id) AS count, coalesce(sum(t.amount_minor), 0)::bigint AS amount_minor,
                    min(j.created_at) AS oldest_at
               FROM ledger_journals j
               JOIN ledger_transfers t ON t.journal_id = j.id
              WHERE j.tenant_id = $1 AND j.kind = 'withdrawal_request' AND t.currency = $2
                AND NOT EXISTS (SELECT 1 FROM ledger_journals k
                                 WHERE k.tenant_id = j.tenant_id AND k.reference = j.reference
                                   AND k.kind IN ('withdrawal_payout', 'withdrawal_reject'))",
        )
        .bind(tenant_id)
        .bind(code)
        .fetch_one(pool)
        .await?;

    let liabilities = ledger::player_liabilities(pool, tenant_id).await?;
    let (available, held) = liabilities
        .iter()
        .find(|balance| balance.currency == currency)
        .map(|balance| (balance.available.minor_units(), balance.held.minor_units()))
        .unwrap_or((0, 0));

    Ok(Figures {
        currency,
        currencies,
        period: period.name.clone(),
        from: period.from,
        until: period.until,
        deposits: money(deposits),
        deposit_count,
        withdrawals_paid: money(payouts),
        withdrawals_paid_count: payout_count,
        net_deposits: money(deposits - payouts),
        game_revenue: money(house),
        fees: money(fees),
        pending_count: pending.count,
        pending_sum: money(pending.amount_minor),
        pending_oldest_at: pending.oldest_at,
        player_liability: money(available + held),
        player_held: money(held),
        daily: daily_flows(pool, tenant_id, code, &period).await?,
        play: play(pool, tenant_id, currency, &period).await?,
        last_integrity_check: last_integrity_check(pool, tenant_id).await?,
        generated_at: now,
    })
}

/// One row of the play table, in minor units.
#[derive(sqlx::FromRow)]
struct PlayRow {
    provider: String,
    game_code: String,
    rounds: i64,
    bets_minor: i64,
    wins_minor: i64,
    rollbacks_minor: i64,
}

/// Bets, wins and rollbacks per provider and game in the period: the journals' transfers,
/// attributed to their game through the game transaction each journal names.
async fn play(
    pool: &PgPool,
    tenant_id: TenantId,
    currency: Currency,
    period: &Period,
) -> Result<Vec<GamePlay>, ServerError> {
    let rows: Vec<PlayRow> = sqlx::query_as(
        "SELECT g.provider, g.game_code,
                count(DISTINCT g.round_id) FILTER (WHERE j.kind = 'bet') AS rounds,
                coalesce(sum(t.amount_minor) FILTER (WHERE j.kind = 'bet'), 0)::bigint AS bets_minor,
                coalesce(sum(t.amount_minor) FILTER (WHERE j.kind = 'win'), 0)::bigint AS wins_minor,
                coalesce(sum(t.amount_minor) FILTER (WHERE j.kind = 'bet_rollback'), 0)::bigint
                    AS rollbacks_minor
           FROM ledger_journals j
           JOIN ledger_transfers t ON t.journal_id = j.id
           JOIN game_transactions g ON g.journal_id = j.id AND g.tenant_id = j.tenant_id
          WHERE j.tenant_id = $1 AND t.currency = $2 AND j.created_at >= $3 AND j.created_at < $4
            AND j.kind IN ('bet', 'win', 'bet_rollback')
          GROUP BY g.provider, g.game_code",
    )
    .bind(tenant_id)
    .bind(currency.code())
    .bind(period.from)
    .bind(period.until)
    .fetch_all(pool)
    .await?;
    let money = |minor: i64| SignedMoney::from_minor_units(minor, currency);
    let mut play: Vec<GamePlay> = rows
        .into_iter()
        .map(|row| GamePlay {
            ggr: money(row.bets_minor - row.rollbacks_minor - row.wins_minor),
            provider: row.provider,
            game: row.game_code,
            rounds: row.rounds,
            bets: money(row.bets_minor),
            wins: money(row.wins_minor),
            rollbacks: money(row.rollbacks_minor),
        })
        .collect();
    play.sort_by(|a, b| {
        b.ggr
            .minor_units()
            .cmp(&a.ggr.minor_units())
            .then_with(|| (&a.provider, &a.game).cmp(&(&b.provider, &b.game)))
    });
    Ok(play)
}

/// Deposits and paid withdrawals per UTC day of the period, every day present.
async fn daily_flows(
    pool: &PgPool,
    tenant_id: TenantId,
    currency: &str,
    period: &Period,
) -> Result<Vec<DailyFlow>, ServerError> {
    let rows: Vec<DayRow> = sqlx::query_as(
        "SELECT (j.created_at AT TIME ZONE 'UTC')::date AS day,
                coalesce(sum(t.amount_minor) FILTER (WHERE j.kind = 'deposit_capture'), 0)::bigint
                    AS deposits_minor,
                coalesce(sum(t.amount_minor) FILTER (WHERE j.kind = 'withdrawal_payout'), 0)::bigint
                    AS withdrawals_minor
           FROM ledger_journals j
           JOIN ledger_transfers t ON t.journal_id = j.id
          WHERE j.tenant_id = $1 AND t.currency = $2 AND j.created_at >= $3 AND j.created_at < $4
            AND j.kind IN ('deposit_capture', 'withdrawal_payout')
          GROUP BY 1",
    )
    .bind(tenant_id)
    .bind(currency)
    .bind(period.from)
    .bind(period.until)
    .fetch_all(pool)
    .await?;
    let mut day = period.from.date_naive();
    let last = (period.until - chrono::Duration::microseconds(1)).date_naive();
    let mut flows = Vec::new();
    while day <= last {
        let (deposits_minor, withdrawals_minor) = rows
            .iter()
            .find(|row| row.day == day)
            .map(|row| (row.deposits_minor, row.withdrawals_minor))
            .unwrap_or((0, 0));
        flows.push(DailyFlow {
            day: day.format("%Y-%m-%d").to_string(),
            deposits_minor,
            withdrawals_minor,
        });
        day = day + Days::new(1);
    }
    Ok(flows)
}

async fn last_integrity_check(
    pool: &PgPool,
    tenant_id: TenantId,
) -> Result<Option<IntegrityRun>, ServerError> {
    let row: Option<IntegrityRow> = sqlx::query_as(
        "SELECT e.at, e.after, s.email AS by
           FROM audit_events e
           LEFT JOIN staff s ON s.tenant_id = e.tenant_id AND s.id::text = e.actor_id
          WHERE e.tenant_id = $1 AND e.action = $2
          ORDER BY e.seq DESC LIMIT 1",
    )
    .bind(tenant_id)
    .bind(INTEGRITY_ACTION)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|row| {
        let after = row.after.unwrap_or_default();
        IntegrityRun {
            at: row.at,
            ok: after["ok"].as_bool().unwrap_or(false),
            violations: after["violations"].as_i64().unwrap_or(0),
            by: row.by,
        }
    }))
}

/// Withdrawals whose money is held and not yet paid out or released.
#[derive(sqlx::FromRow)]
struct PendingRow {
    count: i64,
    amount_minor: i64,
    oldest_at: Option<DateTime<Utc>>,
}

/// One day's money in and out.
#[derive(sqlx::FromRow)]
struct DayRow {
    day: NaiveDate,
    deposits_minor: i64,
    withdrawals_minor: i64,
}

/// The audit event of the latest integrity check, with who ran it.
#[derive(sqlx::FromRow)]
struct IntegrityRow {
    at: DateTime<Utc>,
    after: Option<serde_json::Value>,
    by: Option<String>,
}

/// Runs the integrity check for the tenant and records the run (who, when, result).
pub async fn check_integrity(
    services: &Services,
    ctx: &app::api::RequestCtx,
    tenant_id: TenantId,
    staff_id: StaffId,
) -> Result<IntegritySummary, ServerError> {
    services
        .limit_staff_operation(tenant_id, staff_id, "integrity_check")
        .await?;
    let report = ledger::check_integrity(services.pool(), Some(tenant_id)).await?;
    let violations: Vec<String> = report
        .violations
        .iter()
        .map(|violation| {
            serde_json::to_string(violation).unwrap_or_else(|_| format!("{violation:?}"))
        })
        .collect();
    let event = AuditEvent {
        tenant_id,
        actor: Actor::Staff(staff_id),
        action: INTEGRITY_ACTION.into(),
        target_type: "tenant".into(),
        target_id: tenant_id.to_string(),
        before: None,
        after: Some(serde_json::json!({
            "ok": report.ok,
            "violations": violations.len(),
            "journals_checked": report.journals_checked,
            "transfers_checked": report.transfers_checked,
            "accounts_checked": report.accounts_checked,
        })),
        reason: None,
        request_id: audit::request_id(ctx),
        idempotency_key: None,
        ip: audit::client_ip(ctx),
        at: services.now(),
    };
    audit::record_alone(services.pool(), &event).await?;
    Ok(IntegritySummary {
        ok: report.ok,
        checked_at: report.checked_at,
        accounts_checked: report.accounts_checked,
        journals_checked: report.journals_checked,
        transfers_checked: report.transfers_checked,
        violations,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    // Proves the periods are whole UTC days ending with today, and custom periods include their
    // last day and are bounded.
    #[test]
    fn periods_are_whole_days() {
        let now = at("2025-03-10T15:00:00Z");
        let query = |period: &str, from: Option<&str>, until: Option<&str>| FiguresQuery {
            period: Some(period.into()),
            from: from.map(Into::into),
            until: until.map(Into::into),
            currency: None,
        };
        let today = resolve_period(&query("today", None, None), now).unwrap();
        assert_eq!(
            (today.from, today.until),
            (at("2025-03-10T00:00:00Z"), at("2025-03-11T00:00:00Z"))
        );
        let week = resolve_period(&query("7d", None, None), now).unwrap();
        assert_eq!(week.from, at("2025-03-04T00:00:00Z"));
        let custom = resolve_period(
            &query("custom", Some("2025-01-01"), Some("2025-01-31")),
            now,
        )
        .unwrap();
        assert_eq!(
            (custom.from, custom.until),
            (at("2025-01-01T00:00:00Z"), at("2025-02-01T00:00:00Z"))
        );
        assert!(
            resolve_period(
                &query("custom", Some("2025-02-01"), Some("2025-01-01")),
                now
            )
            .is_err()
        );
        assert!(
            resolve_period(
                &query("custom", Some("2020-01-01"), Some("2025-01-01")),
                now
            )
            .is_err()
        );
        assert!(resolve_period(&query("year", None, None), now).is_err());
    }
}
