//! Scripting the mock PSP's next payout outcome for a withdrawal (mock PSP only, never in
//! production).

use app::api::RequestCtx;
use app::domain::ids::WithdrawalId;
use app::error::AppError;
use app::withdrawals::WithdrawalReceipt;

use super::actions::{not_found, receipt};
use super::model::{Change, lock_withdrawal, record};
use super::request_id;
use crate::audit::Actor;
use crate::auth::StaffMember;
use crate::error::ServerResult;
use crate::services::Services;
use crate::tenants::Tenant;

/// The mock outcomes staff may script; `crash` only with test endpoints.
const MOCK_OUTCOMES: [&str; 4] = ["succeed", "fail", "hang", "lose_answer"];

const MOCK_CRASH_OUTCOME: &str = "crash";

pub async fn script(
    services: &Services,
    ctx: &RequestCtx,
    tenant: &Tenant,
    staff: &StaffMember,
    withdrawal_id: WithdrawalId,
    outcome: String,
    failure_code: Option<String>,
) -> ServerResult<WithdrawalReceipt> {
    if services.mock_psp().is_none() {
        return Err(AppError::not_found("Mock PSP").into());
    }
    let outcome = outcome.trim();
    let allowed = MOCK_OUTCOMES.contains(&outcome)
        || (outcome == MOCK_CRASH_OUTCOME && services.config().scripted_crash_allowed());
    if !allowed {
        return Err(AppError::invalid("outcome", "Choose one of the outcomes offered.").into());
    }
    let failure_code = failure_code
        .map(|code| code.trim().to_owned())
        .filter(|code| !code.is_empty())
        .or_else(|| (outcome == "fail").then(|| "account_closed".to_owned()));
    if let Some(code) = &failure_code
        && (code.len() > 64
            || !code
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
    {
        return Err(AppError::invalid(
            "failure_code",
            "Use lower-case letters, digits and underscores.",
        )
        .into());
    }
    let now = services.now();
    let mut tx = services.pool().begin().await?;
    let withdrawal = lock_withdrawal(&mut tx, tenant.id, withdrawal_id)
        .await?
        .ok_or_else(not_found)?;
    sqlx::query(
        "INSERT INTO mock_psp_payout_scripts (tenant_id, withdrawal_id, outcome, failure_code, created_at)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(tenant.id)
    .bind(withdrawal.id.0)
    .bind(outcome)
    .bind(&failure_code)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    record(
        &mut tx,
        Change {
            withdrawal: &withdrawal,
            action: "mock_payout_scripted",
            from_state: Some(withdrawal.state),
            to_state: withdrawal.state,
            actor: Actor::Staff(staff.id),
            attempt_number: None,
            reason: None,
            detail: Some(serde_json::json!({"outcome": outcome, "failure_code": failure_code})),
            staff_action: None,
            idempotency_key: None,
            request_id: request_id(ctx),
            at: now,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(receipt(
        withdrawal.id,
        withdrawal.state,
        format!(
            "The mock PSP will answer this withdrawal's next payout with: {outcome}{}.",
            failure_code
                .map(|code| format!(" ({code})"))
                .unwrap_or_default()
        ),
    ))
}
