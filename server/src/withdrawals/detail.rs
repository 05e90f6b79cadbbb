//! One withdrawal as staff see it: attempts, timeline, the buttons the transition table offers
//! the viewer, the retry policy, the mock's scripts and any duplicate payout.

use app::auth::StaffRole;
use app::domain::ids::{StaffId, TenantId, WithdrawalId};
use app::domain::money::SignedMoney;
use app::domain::withdrawal::WithdrawalState;
use app::withdrawals::{
    AllowedActions, DuplicatePayout, TimelineEntry, WithdrawalDetail, WithdrawalSummary,
};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::actions::not_found;
use super::model::{PayoutAttempt, Withdrawal, attempts_of, facts, find_withdrawal};
use super::policy;
use crate::auth::StaffMember;
use crate::error::{ServerError, ServerResult};
use crate::services::Services;
use crate::tenants::Tenant;

pub async fn detail(
    services: &Services,
    tenant: &Tenant,
    staff: &StaffMember,
    withdrawal_id: WithdrawalId,
) -> ServerResult<WithdrawalDetail> {
    let mut conn = services.pool().acquire().await?;
    let withdrawal = find_withdrawal(&mut conn, tenant.id, withdrawal_id)
        .await?
        .ok_or_else(not_found)?;
    let policy = policy::load(&mut conn, tenant.id).await?;
    let player_email: String =
        sqlx::query_scalar("SELECT email FROM players WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.id)
            .bind(withdrawal.player_id)
            .fetch_one(&mut *conn)
            .await?;
    let attempts = attempts_of(&mut conn, withdrawal.id).await?;
    let timeline: Vec<TimelineRecord> = sqlx::query_as(
        "SELECT e.at, e.action, e.from_state, e.to_state, e.actor_type, e.actor_id,
                s.display_name, e.attempt_number, e.reason, e.detail
           FROM withdrawal_events e
           LEFT JOIN staff s ON e.actor_type = 'staff' AND s.tenant_id = e.tenant_id
                            AND s.id::text = e.actor_id
          WHERE e.tenant_id = $1 AND e.withdrawal_id = $2
          ORDER BY e.at, e.id",
    )
    .bind(tenant.id)
    .bind(withdrawal.id.0)
    .fetch_all(&mut *conn)
    .await?;
    let pending_scripts: Vec<String> = if services.mock_psp().is_some() {
        sqlx::query_scalar(
            "SELECT outcome || COALESCE(' (' || failure_code || ')', '')
               FROM mock_psp_payout_scripts
              WHERE tenant_id = $1 AND withdrawal_id = $2 AND used_at IS NULL ORDER BY id",
        )
        .bind(tenant.id)
        .bind(withdrawal.id.0)
        .fetch_all(&mut *conn)
        .await?
    } else {
        Vec::new()
    };
    let names = staff_names(&mut conn, tenant.id, &withdrawal).await?;
    let duplicate_payouts = duplicate_payouts(&mut conn, &withdrawal).await?;
    drop(conn);

    let state = withdrawal.state;
    let amount = withdrawal.amount;
    let now = services.now();
    let facts = facts(&withdrawal, &attempts, &policy, staff.id, now);
    let may_act = staff.role >= StaffRole::Finance;
    let actions = AllowedActions::offered(state, &facts, may_act);
    let retry_allowed_at = facts
        .retry_allowed_at()
        .filter(|allowed_at| state == WithdrawalState::PayoutFailed && *allowed_at > now);
    Ok(WithdrawalDetail {
        summary: WithdrawalSummary {
            id: withdrawal.id,
            player_email,
            amount,
            state,
            awaiting_second_approval: state == WithdrawalState::Requested
                && withdrawal.first_approved_by.is_some(),
            created_at: withdrawal.created_at,
            age_s: (services.now() - withdrawal.created_at).num_seconds(),
            attempts: attempts.len() as i64,
        },
        needs_two_approvals: facts.needs_two_approvals,
        first_approved_by: names.0,
        approved_by: names.1,
        reject_reason: withdrawal.reject_reason.clone(),
        external_reference: withdrawal.external_reference.clone(),
        paid_at: withdrawal.paid_at,
        attempts: attempts.iter().map(PayoutAttempt::view).collect(),
        timeline: timeline.into_iter().map(TimelineRecord::entry).collect(),
        actions,
        retry_allowed_at,
        attempts_max: policy.payout_attempts_max,
        mock_scripting: services.mock_psp().is_some() && may_act,
        pending_scripts,
        duplicate_payouts,
    })
}

/// A recovery journal of a payout made twice, summed by the account it took the money from.
#[derive(sqlx::FromRow)]
struct RecoveryRow {
    attempt_number: i32,
    journal_id: Uuid,
    booked_at: DateTime<Utc>,
    cash_minor: i64,
    receivable_minor: i64,
}

/// The withdrawal's payouts the PSP made twice, with how each was booked against the player
/// (from the recovery journal's transfers: cash taken back, and the receivable).
async fn duplicate_payouts(
    conn: &mut sqlx::PgConnection,
    withdrawal: &Withdrawal,
) -> Result<Vec<DuplicatePayout>, ServerError> {
    let rows: Vec<RecoveryRow> = sqlx::query_as(
        "SELECT a.attempt_number, j.id AS journal_id, j.created_at AS booked_at,
                coalesce(sum(t.amount_minor) FILTER (WHERE d.kind = 'player_cash'), 0)::bigint
                    AS cash_minor,
                coalesce(sum(t.amount_minor) FILTER (WHERE d.kind = 'player_receivable'), 0)::bigint
                    AS receivable_minor
           FROM payout_attempts a
           JOIN ledger_journals j ON j.id = a.recovery_journal_id
           JOIN ledger_transfers t ON t.journal_id = j.id
           JOIN ledger_accounts d ON d.id = t.debit_account_id
          WHERE a.withdrawal_id = $1
          GROUP BY a.attempt_number, j.id, j.created_at
          ORDER BY a.attempt_number",
    )
    .bind(withdrawal.id.0)
    .fetch_all(&mut *conn)
    .await?;
    let currency = withdrawal.amount.currency();
    let money = |minor: i64| SignedMoney::from_minor_units(minor, currency);
    Ok(rows
        .into_iter()
        .map(|row| DuplicatePayout {
            attempt_number: row.attempt_number,
            journal_id: row.journal_id,
            booked_at: row.booked_at,
            from_cash: money(row.cash_minor),
            receivable: money(row.receivable_minor),
        })
        .collect())
}

async fn staff_names(
    conn: &mut sqlx::PgConnection,
    tenant_id: TenantId,
    withdrawal: &Withdrawal,
) -> Result<(Option<String>, Option<String>), ServerError> {
    let mut name = async |id: Option<StaffId>| -> Result<Option<String>, ServerError> {
        match id {
            None => Ok(None),
            Some(id) => Ok(sqlx::query_scalar(
                "SELECT display_name FROM staff WHERE tenant_id = $1 AND id = $2",
            )
            .bind(tenant_id)
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?),
        }
    };
    let first = name(withdrawal.first_approved_by).await?;
    let second = name(withdrawal.approved_by).await?;
    Ok((first, second))
}

#[derive(sqlx::FromRow)]
struct TimelineRecord {
    at: DateTime<Utc>,
    action: String,
    from_state: Option<String>,
    to_state: String,
    actor_type: String,
    actor_id: String,
    display_name: Option<String>,
    attempt_number: Option<i32>,
    reason: Option<String>,
    detail: Option<serde_json::Value>,
}

impl TimelineRecord {
    fn entry(self) -> TimelineEntry {
        let actor = match (self.actor_type.as_str(), self.display_name) {
            ("staff", Some(name)) => name,
            ("player", _) => "player".to_owned(),
            ("provider", _) => format!("provider {}", self.actor_id),
            _ => self.actor_id,
        };
        TimelineEntry {
            at: self.at,
            action: self.action,
            from_state: self.from_state,
            to_state: self.to_state,
            actor,
            attempt_number: self.attempt_number,
            reason: self.reason,
            detail: self.detail.map(|detail| detail.to_string()),
        }
    }
}
