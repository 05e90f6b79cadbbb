//! The back office's side: the queue and the detail page, and the staff actions (approve with
//! maker-checker, reject, start and retry payouts, recheck, mark paid), each in one transaction
//! that locks the withdrawal first. A staff action's key is unique per staff member: the same
//! key replays the action's answer, and two people acting at once get one winner and one clear
//! refusal.

use app::api::RequestCtx;
use app::auth::StaffRole;
use app::domain::withdrawal::{ActionKind, AttemptState, Next, WithdrawalState};
use app::error::{AppError, ErrorCode};
use app::money::{Currency, SignedMoney};
use app::withdrawals::{
    AllowedActions, DuplicatePayout, EXTERNAL_REFERENCE_LENGTH_MAX, QueueFilter, REASON_LENGTH_MAX,
    StaffAction, TimelineEntry, WITHDRAWALS_LISTED_MAX, WithdrawalDetail, WithdrawalPolicy,
    WithdrawalReceipt, WithdrawalSummary,
};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use uuid::Uuid;

use super::model::{
    ATTEMPT_COLUMNS, AttemptRow, Change, WITHDRAWAL_COLUMNS, WithdrawalRow, actor_id, attempts_of,
    facts, latest_attempt, lock_withdrawal, record,
};
use super::payout::{MANUAL_PROVIDER, NewAttempt, apply_payout_status, insert_attempt};
use super::policy::{self, Policy};
use super::request::client_key;
use super::request_id;
use crate::audit::{self, Actor, AuditEvent};
use crate::auth::StaffMember;
use crate::error::ServerError;
use crate::ledger::{self, AccountRef, IdempotencyKey, JournalKind, NewJournal, NewTransfer};
use crate::psp::{PayoutOutcome, PayoutStatus};
use crate::services::Services;
use crate::tenants::Tenant;

/// The mock outcomes staff may script; `crash` only with test endpoints.
const MOCK_OUTCOMES: [&str; 4] = ["succeed", "fail", "hang", "lose_answer"];
const MOCK_CRASH_OUTCOME: &str = "crash";

/// Who acts, for whom, in which request.
struct Acting {
    tenant: Tenant,
    staff: StaffMember,
    request_id: Option<String>,
    key: String,
}

impl Acting {
    fn actor(&self) -> Actor {
        Actor::Staff(self.staff.id)
    }
}

fn reason_text(field: &str, text: &str, length_max: usize) -> Result<String, ServerError> {
    let text = text.trim();
    if text.is_empty() || text.chars().count() > length_max {
        return Err(
            AppError::invalid(field, format!("Enter 1 to {length_max} characters.")).into(),
        );
    }
    Ok(text.to_owned())
}

fn receipt(
    withdrawal_id: Uuid,
    state: WithdrawalState,
    message: impl Into<String>,
) -> WithdrawalReceipt {
    WithdrawalReceipt {
        withdrawal_id,
        state,
        replayed: false,
        message: message.into(),
    }
}

fn not_found() -> AppError {
    AppError::not_found("Withdrawal")
}

impl Services {
    pub(super) async fn withdrawal_queue(
        &self,
        ctx: &RequestCtx,
        filter: QueueFilter,
    ) -> Result<Vec<WithdrawalSummary>, ServerError> {
        let (tenant, _staff) = self.require_staff(ctx, StaffRole::Support).await?;
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
            older_than_hours.map(|hours| self.now() - chrono::Duration::hours(i64::from(hours)));
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
        .fetch_all(self.pool())
        .await?;
        let now = self.now();
        rows.into_iter().map(|row| row.summary(now)).collect()
    }

    pub(super) async fn withdrawal_detail(
        &self,
        ctx: &RequestCtx,
        withdrawal_id: Uuid,
    ) -> Result<WithdrawalDetail, ServerError> {
        let (tenant, staff) = self.require_staff(ctx, StaffRole::Support).await?;
        let mut conn = self.pool().acquire().await?;
        let withdrawal: WithdrawalRow = sqlx::query_as(&format!(
            "SELECT {WITHDRAWAL_COLUMNS} FROM withdrawals WHERE tenant_id = $1 AND id = $2"
        ))
        .bind(tenant.id)
        .bind(withdrawal_id)
        .fetch_optional(&mut *conn)
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
        .bind(withdrawal.id)
        .fetch_all(&mut *conn)
        .await?;
        let pending_scripts: Vec<String> = if self.mock_psp().is_some() {
            sqlx::query_scalar(
                "SELECT outcome || COALESCE(' (' || failure_code || ')', '')
                   FROM mock_psp_payout_scripts
                  WHERE tenant_id = $1 AND withdrawal_id = $2 AND used_at IS NULL ORDER BY id",
            )
            .bind(tenant.id)
            .bind(withdrawal.id)
            .fetch_all(&mut *conn)
            .await?
        } else {
            Vec::new()
        };
        let names = staff_names(&mut conn, tenant.id, &withdrawal).await?;
        let duplicate_payouts = duplicate_payouts(&mut conn, &withdrawal).await?;
        drop(conn);

        let state = withdrawal.state();
        let amount = withdrawal.amount()?;
        let now = self.now();
        let facts = facts(&withdrawal, &attempts, &policy, staff.id, now)?;
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
                age_s: (self.now() - withdrawal.created_at).num_seconds(),
                attempts: attempts.len() as i64,
            },
            needs_two_approvals: facts.needs_two_approvals,
            first_approved_by: names.0,
            approved_by: names.1,
            reject_reason: withdrawal.reject_reason.clone(),
            external_reference: withdrawal.external_reference.clone(),
            paid_at: withdrawal.paid_at,
            attempts: attempts.iter().map(AttemptRow::view).collect(),
            timeline: timeline.into_iter().map(TimelineRecord::entry).collect(),
            actions,
            retry_allowed_at,
            attempts_max: policy.payout_attempts_max,
            mock_scripting: self.mock_psp().is_some() && may_act,
            pending_scripts,
            duplicate_payouts,
        })
    }

    /// Runs one staff action. The replay check and the state check happen under the
    /// withdrawal's row lock, so concurrent calls are decided one after the other.
    pub(super) async fn withdrawal_action(
        &self,
        ctx: &RequestCtx,
        withdrawal_id: Uuid,
        action: StaffAction,
        idempotency_key: String,
    ) -> Result<WithdrawalReceipt, ServerError> {
        let (tenant, staff) = self.require_staff(ctx, StaffRole::Finance).await?;
        let acting = Acting {
            tenant,
            staff,
            request_id: request_id(ctx),
            key: client_key(&idempotency_key)?,
        };
        // Validate the form before anything is locked.
        let action = match action {
            StaffAction::Reject { reason } => StaffAction::Reject {
                reason: reason_text("reason", &reason, REASON_LENGTH_MAX)?,
            },
            StaffAction::MarkPaid {
                reason,
                external_reference,
            } => StaffAction::MarkPaid {
                reason: reason_text("reason", &reason, REASON_LENGTH_MAX)?,
                external_reference: reason_text(
                    "external_reference",
                    &external_reference,
                    EXTERNAL_REFERENCE_LENGTH_MAX,
                )?,
            },
            other => other,
        };
        if action == StaffAction::RetryPayout
            && let Some(settled) = self.recheck_before_retry(&acting, withdrawal_id).await?
        {
            return Ok(settled);
        }
        let mut tx = self.pool().begin().await?;
        let withdrawal = lock_withdrawal(&mut tx, acting.tenant.id, withdrawal_id)
            .await?
            .ok_or_else(not_found)?;
        if let Some(replayed) = replay(&mut tx, &acting, &withdrawal, &action).await? {
            tx.commit().await?;
            return Ok(replayed);
        }
        let policy = policy::load(&mut tx, acting.tenant.id).await?;
        let now = self.now();
        let attempts = attempts_of(&mut tx, withdrawal.id).await?;
        let facts = facts(&withdrawal, &attempts, &policy, acting.staff.id, now)?;
        let next = withdrawal.state().decide(action.kind(), &facts)?;
        let result = match &action {
            StaffAction::Approve => {
                approve(&mut tx, &acting, &withdrawal, next, &policy, now).await
            }
            StaffAction::Reject { reason } => {
                reject(&mut tx, &acting, &withdrawal, reason, now).await
            }
            StaffAction::MarkPaid {
                reason,
                external_reference,
            } => {
                mark_paid(
                    &mut tx,
                    &acting,
                    &withdrawal,
                    reason,
                    external_reference,
                    now,
                )
                .await
            }
            StaffAction::StartPayout | StaffAction::RetryPayout => {
                let provider_enabled = self.providers().get(&policy.payout_provider).is_some();
                let new = begin_attempt(
                    &mut tx,
                    &acting,
                    withdrawal,
                    &action,
                    next,
                    &policy,
                    provider_enabled,
                    now,
                )
                .await?;
                tx.commit().await?;
                // The PSP is called outside any transaction; a crash from here on leaves a
                // pending attempt that the recheck job resolves.
                self.send_payout(&new).await?;
                return self.payout_receipt(&new).await;
            }
        };
        let receipt = result?;
        tx.commit().await?;
        Ok(receipt)
    }
}

impl Services {
    /// A retry of a withdrawal whose latest attempt is still open (`unknown`) first asks the
    /// PSP: an attempt is never retried blind. Returns a receipt when the recheck settled it.
    async fn recheck_before_retry(
        &self,
        acting: &Acting,
        withdrawal_id: Uuid,
    ) -> Result<Option<WithdrawalReceipt>, ServerError> {
        let mut conn = self.pool().acquire().await?;
        let withdrawal: WithdrawalRow = sqlx::query_as(&format!(
            "SELECT {WITHDRAWAL_COLUMNS} FROM withdrawals WHERE tenant_id = $1 AND id = $2"
        ))
        .bind(acting.tenant.id)
        .bind(withdrawal_id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(not_found)?;
        let policy = policy::load(&mut conn, acting.tenant.id).await?;
        let attempts = attempts_of(&mut conn, withdrawal_id).await?;
        drop(conn);
        let facts = facts(&withdrawal, &attempts, &policy, acting.staff.id, self.now())?;
        if withdrawal.state().check(ActionKind::RetryPayout, &facts) != Ok(Next::RecheckFirst) {
            return Ok(None);
        }
        let Some(attempt) = attempts.last() else {
            return Ok(None);
        };
        self.recheck_attempt(attempt).await?;
        let state: String = sqlx::query_scalar("SELECT state FROM withdrawals WHERE id = $1")
            .bind(withdrawal_id)
            .fetch_one(self.pool())
            .await?;
        Ok((state == WithdrawalState::Paid.as_str()).then(|| {
            receipt(
                withdrawal_id,
                WithdrawalState::Paid,
                format!(
                    "The recheck found attempt {} paid; nothing was retried.",
                    attempt.attempt_number
                ),
            )
        }))
    }

    /// What a payout action ended in, for the person who clicked.
    async fn payout_receipt(&self, new: &NewAttempt) -> Result<WithdrawalReceipt, ServerError> {
        let mut conn = self.pool().acquire().await?;
        let state: String = sqlx::query_scalar("SELECT state FROM withdrawals WHERE id = $1")
            .bind(new.withdrawal.id)
            .fetch_one(&mut *conn)
            .await?;
        let attempt: AttemptRow = sqlx::query_as(&format!(
            "SELECT {ATTEMPT_COLUMNS} FROM payout_attempts WHERE id = $1"
        ))
        .bind(new.attempt.id)
        .fetch_one(&mut *conn)
        .await?;
        let policy = policy::load(&mut conn, new.withdrawal.tenant_id).await?;
        let state = WithdrawalState::parse(&state).unwrap_or(WithdrawalState::Paying);
        let number = attempt.attempt_number;
        let message = match (state, attempt.state()) {
            (WithdrawalState::Paid, _) => format!("Paid out by attempt {number}."),
            (_, AttemptState::Failed) => format!(
                "Attempt {number} failed: {} ({}). The funds stay held. {}",
                attempt
                    .error_message
                    .as_deref()
                    .unwrap_or("no reason given")
                    .trim_end_matches('.'),
                attempt.error_code.as_deref().unwrap_or("failed"),
                retry_hint(number, &attempt, &policy)
            ),
            (_, AttemptState::Unknown) => format!(
                "Attempt {number} got no answer from the provider: its outcome is unknown. It is rechecked, never retried blind."
            ),
            _ => format!("Attempt {number} was accepted and is pending at the provider."),
        };
        Ok(receipt(new.withdrawal.id, state, message))
    }

    pub(super) async fn staff_recheck(
        &self,
        ctx: &RequestCtx,
        withdrawal_id: Uuid,
    ) -> Result<WithdrawalReceipt, ServerError> {
        let (tenant, staff) = self.require_staff(ctx, StaffRole::Finance).await?;
        let mut conn = self.pool().acquire().await?;
        let withdrawal: WithdrawalRow = sqlx::query_as(&format!(
            "SELECT {WITHDRAWAL_COLUMNS} FROM withdrawals WHERE tenant_id = $1 AND id = $2"
        ))
        .bind(tenant.id)
        .bind(withdrawal_id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(not_found)?;
        let policy = policy::load(&mut conn, tenant.id).await?;
        let mut attempts = attempts_of(&mut conn, withdrawal_id).await?;
        drop(conn);
        let facts = facts(&withdrawal, &attempts, &policy, staff.id, self.now())?;
        withdrawal.state().check(ActionKind::Recheck, &facts)?;
        let Some(attempt) = attempts.pop() else {
            return Err(ServerError::internal("a recheck without an attempt"));
        };
        let outcome = self.recheck_attempt(&attempt).await?;
        let now = self.now();
        let mut tx = self.pool().begin().await?;
        let withdrawal = lock_withdrawal(&mut tx, tenant.id, withdrawal_id)
            .await?
            .ok_or_else(not_found)?;
        let after: AttemptRow = sqlx::query_as(&format!(
            "SELECT {ATTEMPT_COLUMNS} FROM payout_attempts WHERE id = $1"
        ))
        .bind(attempt.id)
        .fetch_one(&mut *tx)
        .await?;
        record(
            &mut tx,
            Change {
                withdrawal: &withdrawal,
                action: "rechecked",
                from_state: Some(withdrawal.state()),
                to_state: withdrawal.state(),
                actor: Actor::Staff(staff.id),
                attempt_number: Some(attempt.attempt_number),
                reason: None,
                detail: Some(serde_json::json!({
                    "attempt_state": after.state,
                    "applied": outcome.status.as_str(),
                    "note": outcome.note,
                })),
                staff_action: None,
                idempotency_key: None,
                request_id: request_id(ctx),
                at: now,
            },
        )
        .await?;
        tx.commit().await?;
        let message = match after.state() {
            AttemptState::Succeeded => format!(
                "The provider says attempt {} succeeded: the withdrawal is {}.",
                after.attempt_number,
                withdrawal.state().staff_label()
            ),
            AttemptState::Failed => format!(
                "The provider says attempt {} failed: {}. The funds stay held.",
                after.attempt_number,
                after
                    .error_message
                    .as_deref()
                    .unwrap_or("no reason given")
                    .trim_end_matches('.')
            ),
            AttemptState::Pending | AttemptState::Unknown => format!(
                "The provider is still processing attempt {}.",
                after.attempt_number
            ),
        };
        Ok(receipt(withdrawal.id, withdrawal.state(), message))
    }

    pub(super) async fn script_mock(
        &self,
        ctx: &RequestCtx,
        withdrawal_id: Uuid,
        outcome: String,
        failure_code: Option<String>,
    ) -> Result<WithdrawalReceipt, ServerError> {
        let (tenant, staff) = self.require_staff(ctx, StaffRole::Finance).await?;
        if self.mock_psp().is_none() {
            return Err(AppError::not_found("Mock PSP").into());
        }
        let outcome = outcome.trim();
        let allowed = MOCK_OUTCOMES.contains(&outcome)
            || (outcome == MOCK_CRASH_OUTCOME && self.config().scripted_crash_allowed());
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
        let now = self.now();
        let mut tx = self.pool().begin().await?;
        let withdrawal = lock_withdrawal(&mut tx, tenant.id, withdrawal_id)
            .await?
            .ok_or_else(not_found)?;
        sqlx::query(
            "INSERT INTO mock_psp_payout_scripts (tenant_id, withdrawal_id, outcome, failure_code, created_at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(tenant.id)
        .bind(withdrawal.id)
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
                from_state: Some(withdrawal.state()),
                to_state: withdrawal.state(),
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
            withdrawal.state(),
            format!(
                "The mock PSP will answer this withdrawal's next payout with: {outcome}{}.",
                failure_code
                    .map(|code| format!(" ({code})"))
                    .unwrap_or_default()
            ),
        ))
    }

    fn policy_out(&self, policy: Policy, editable: bool) -> WithdrawalPolicy {
        WithdrawalPolicy {
            amount_min: policy.amount_min,
            amount_max: policy.amount_max,
            approval_threshold: policy.approval_threshold,
            approval_thresholds: policy.approval_thresholds.into_iter().collect(),
            payout_attempts_max: policy.payout_attempts_max,
            retry_cooldown_s: policy.retry_cooldown_s,
            recheck_age_s: policy.recheck_age_s,
            not_found_grace_s: policy.not_found_grace_s,
            payout_provider: policy.payout_provider,
            providers: self.payout_provider_names(),
            updated_at: policy.updated_at,
            editable,
        }
    }

    fn payout_provider_names(&self) -> Vec<String> {
        self.providers()
            .all()
            .map(|provider| provider.name().to_owned())
            .collect()
    }

    pub(super) async fn policy_view(
        &self,
        ctx: &RequestCtx,
    ) -> Result<WithdrawalPolicy, ServerError> {
        let (tenant, staff) = self.require_staff(ctx, StaffRole::Support).await?;
        let mut conn = self.pool().acquire().await?;
        let policy = policy::load(&mut conn, tenant.id).await?;
        Ok(self.policy_out(policy, staff.role == StaffRole::Owner))
    }

    pub(super) async fn save_withdrawal_policy(
        &self,
        ctx: &RequestCtx,
        update: app::withdrawals::PolicyUpdate,
    ) -> Result<WithdrawalPolicy, ServerError> {
        let (tenant, staff) = self.require_staff(ctx, StaffRole::Owner).await?;
        let policy = Policy::from_update(&update, &self.payout_provider_names())?;
        let now = self.now();
        let mut tx = self.pool().begin().await?;
        let before = policy::load(&mut tx, tenant.id).await?;
        policy::save(&mut tx, tenant.id, &policy, staff.id, now).await?;
        audit::record(
            &mut tx,
            &AuditEvent {
                tenant_id: tenant.id,
                actor: Actor::Staff(staff.id),
                action: "withdrawal_policy.updated".into(),
                target_type: "withdrawal_policy".into(),
                target_id: tenant.id.to_string(),
                before: Some(policy::snapshot(&before)),
                after: Some(policy::snapshot(&policy)),
                reason: None,
                request_id: request_id(ctx),
                idempotency_key: None,
                ip: None,
                at: now,
            },
        )
        .await?;
        tx.commit().await?;
        tracing::info!(tenant = %tenant.slug, staff = %staff.id, "withdrawal policy updated");
        Ok(self.policy_out(
            Policy {
                updated_at: Some(now),
                ..policy
            },
            true,
        ))
    }
}

/// A recorded staff action: (withdrawal, action name, reason, external reference).
type RecordedAction = (Uuid, Option<String>, Option<String>, Option<String>);

/// The same staff member's key again: the first answer if it was this action on this
/// withdrawal, else a refusal (a key names one action).
async fn replay(
    tx: &mut sqlx::PgConnection,
    acting: &Acting,
    withdrawal: &WithdrawalRow,
    action: &StaffAction,
) -> Result<Option<WithdrawalReceipt>, ServerError> {
    let found: Option<RecordedAction> = sqlx::query_as(
        "SELECT withdrawal_id, staff_action, reason, detail ->> 'external_reference'
           FROM withdrawal_events
          WHERE tenant_id = $1 AND actor_id = $2 AND idempotency_key = $3",
    )
    .bind(acting.tenant.id)
    .bind(actor_id(&acting.actor()))
    .bind(&acting.key)
    .fetch_optional(&mut *tx)
    .await?;
    match found {
        None => Ok(None),
        Some((id, Some(name), reason, reference))
            if id == withdrawal.id
                && name == action.name()
                && same_parameters(action, reason.as_deref(), reference.as_deref()) =>
        {
            Ok(Some(WithdrawalReceipt {
                withdrawal_id: withdrawal.id,
                state: withdrawal.state(),
                replayed: true,
                message: format!(
                    "Already done: you made this {} request before; nothing happened again. The withdrawal is {}.",
                    action.name().replace('_', " "),
                    withdrawal.state().staff_label()
                ),
            }))
        }
        Some(_) => Err(AppError::new(
            ErrorCode::IdempotencyKeyReused,
            "This request's key was already used for a different action; nothing was changed.",
        )
        .into()),
    }
}

/// Whether a replayed action asks for what the recorded one did: a key names one action with
/// its reason and reference, not just its name.
fn same_parameters(action: &StaffAction, reason: Option<&str>, reference: Option<&str>) -> bool {
    match action {
        StaffAction::Reject { reason: asked } => reason == Some(asked.as_str()),
        StaffAction::MarkPaid {
            reason: asked,
            external_reference,
        } => reason == Some(asked.as_str()) && reference == Some(external_reference.as_str()),
        _ => true,
    }
}

fn staff_change<'a>(
    acting: &Acting,
    withdrawal: &'a WithdrawalRow,
    action: &'a str,
    staff_action: &'a StaffAction,
    to_state: WithdrawalState,
    now: DateTime<Utc>,
) -> Change<'a> {
    Change {
        withdrawal,
        action,
        from_state: Some(withdrawal.state()),
        to_state,
        actor: acting.actor(),
        attempt_number: None,
        reason: None,
        detail: None,
        staff_action: Some(staff_action.name()),
        idempotency_key: Some(acting.key.clone()),
        request_id: acting.request_id.clone(),
        at: now,
    }
}

/// Approves, or above the threshold records the first of two approvals. One person can never
/// give both (checked here, and by the table's `withdrawals_two_people`).
async fn approve(
    tx: &mut sqlx::PgConnection,
    acting: &Acting,
    withdrawal: &WithdrawalRow,
    next: Next,
    policy: &Policy,
    now: DateTime<Utc>,
) -> Result<WithdrawalReceipt, ServerError> {
    let amount = withdrawal.amount()?;
    let threshold = policy.approval_threshold_for(amount.currency());
    let staff_id = acting.staff.id;
    let (action, to_state, message) = if next == Next::FirstApproval {
        sqlx::query(
            "UPDATE withdrawals SET first_approved_by = $2, first_approved_at = $3, updated_at = $3
              WHERE id = $1",
        )
        .bind(withdrawal.id)
        .bind(staff_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        (
            "first_approval",
            WithdrawalState::Requested,
            format!(
                "First approval recorded. {amount} is above the two-person threshold of {threshold} {}: a second staff member must approve.",
                amount.currency()
            ),
        )
    } else {
        sqlx::query(
            "UPDATE withdrawals SET state = 'approved', approved_by = $2, approved_at = $3,
                    updated_at = $3
              WHERE id = $1",
        )
        .bind(withdrawal.id)
        .bind(staff_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let message = if next == (Next::Approved { second: true }) {
            "Second approval given: approved."
        } else {
            "Approved."
        };
        ("approved", WithdrawalState::Approved, message.to_owned())
    };
    record(
        tx,
        staff_change(
            acting,
            withdrawal,
            action,
            &StaffAction::Approve,
            to_state,
            now,
        ),
    )
    .await?;
    Ok(receipt(withdrawal.id, to_state, message))
}

/// Rejects with a reason and releases the held funds (journal `hold -> player_cash`): the
/// decision on a requested withdrawal (approval and rejection exclude each other, so two staff
/// deciding at once get one winner), or giving the funds back after a failed payout.
async fn reject(
    tx: &mut sqlx::PgConnection,
    acting: &Acting,
    withdrawal: &WithdrawalRow,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<WithdrawalReceipt, ServerError> {
    let action = StaffAction::Reject {
        reason: reason.to_owned(),
    };
    let amount = withdrawal.amount()?;
    let journal = NewJournal {
        idempotency_key: IdempotencyKey::parse(format!("withdrawal:{}:reject", withdrawal.id))?,
        kind: JournalKind::WITHDRAWAL_REJECT,
        reference: Some(format!("withdrawal:{}", withdrawal.id)),
        transfers: vec![NewTransfer {
            debit: AccountRef::PlayerWithdrawalHold(withdrawal.player_id),
            credit: AccountRef::PlayerCash(withdrawal.player_id),
            amount,
        }],
        metadata: serde_json::Map::from_iter([
            ("withdrawal_id".to_owned(), withdrawal.id.to_string().into()),
            (
                "actor_staff_id".to_owned(),
                acting.staff.id.to_string().into(),
            ),
            ("reason".to_owned(), reason.into()),
        ]),
    };
    let posted = ledger::post_journal_in_transaction(tx, withdrawal.tenant_id, &journal).await?;
    sqlx::query(
        "UPDATE withdrawals
            SET state = 'rejected', rejected_by = $2, rejected_at = $3, reject_reason = $4,
                release_journal_id = $5, updated_at = $3
          WHERE id = $1",
    )
    .bind(withdrawal.id)
    .bind(acting.staff.id)
    .bind(now)
    .bind(reason)
    .bind(posted.journal_id.0)
    .execute(&mut *tx)
    .await?;
    record(
        tx,
        Change {
            reason: Some(reason.to_owned()),
            ..staff_change(
                acting,
                withdrawal,
                "rejected",
                &action,
                WithdrawalState::Rejected,
                now,
            )
        },
    )
    .await?;
    Ok(receipt(
        withdrawal.id,
        WithdrawalState::Rejected,
        format!("Rejected: {amount} went back to the player's available balance."),
    ))
}

/// Records a payout made outside any PSP: a `manual` attempt that succeeds through the same
/// settlement path as a PSP's success.
async fn mark_paid(
    tx: &mut sqlx::PgConnection,
    acting: &Acting,
    withdrawal: &WithdrawalRow,
    reason: &str,
    external_reference: &str,
    now: DateTime<Utc>,
) -> Result<WithdrawalReceipt, ServerError> {
    let action = StaffAction::MarkPaid {
        reason: reason.to_owned(),
        external_reference: external_reference.to_owned(),
    };
    let attempt = insert_attempt(tx, withdrawal, MANUAL_PROVIDER, acting.staff.id, 1, now).await?;
    sqlx::query("UPDATE withdrawals SET external_reference = $2 WHERE id = $1")
        .bind(withdrawal.id)
        .bind(external_reference)
        .execute(&mut *tx)
        .await?;
    let status = PayoutStatus {
        provider_reference: Some(external_reference.to_owned()),
        idempotency_key: attempt.idempotency_key.clone(),
        outcome: PayoutOutcome::Succeeded,
        amount: Some(withdrawal.amount()?),
    };
    apply_payout_status(tx, MANUAL_PROVIDER, &status, now).await?;
    record(
        tx,
        Change {
            reason: Some(reason.to_owned()),
            attempt_number: Some(attempt.attempt_number),
            detail: Some(serde_json::json!({"external_reference": external_reference})),
            ..staff_change(
                acting,
                withdrawal,
                "marked_paid",
                &action,
                WithdrawalState::Paid,
                now,
            )
        },
    )
    .await?;
    Ok(receipt(
        withdrawal.id,
        WithdrawalState::Paid,
        format!("Marked paid (reference {external_reference})."),
    ))
}

fn retry_hint(number: i32, latest: &AttemptRow, policy: &Policy) -> String {
    if number as u32 >= policy.payout_attempts_max {
        return "No payout attempts are left: mark it paid manually or reject it.".to_owned();
    }
    format!(
        "A retry is allowed from {} UTC.",
        (latest.finished_at.unwrap_or(latest.created_at)
            + chrono::Duration::seconds(i64::from(policy.retry_cooldown_s)))
        .format("%H:%M:%S")
    )
}

/// Checks the retry policy and creates the next attempt (`pending`), moving the withdrawal to
/// `paying`, all under the withdrawal's lock.
async fn begin_attempt(
    tx: &mut sqlx::PgConnection,
    acting: &Acting,
    withdrawal: WithdrawalRow,
    action: &StaffAction,
    next: Next,
    policy: &Policy,
    provider_enabled: bool,
    now: DateTime<Utc>,
) -> Result<NewAttempt, ServerError> {
    // Checked before an attempt exists: an attempt no provider can send would stay pending.
    if !provider_enabled {
        return Err(AppError::new(
            ErrorCode::ProviderUnavailable,
            format!(
                "The payout provider {} is not enabled here: choose another in the withdrawal settings.",
                policy.payout_provider
            ),
        ).into());
    }
    let attempt = match next {
        Next::Resend { number } => {
            let latest = latest_attempt(tx, withdrawal.id)
                .await?
                .filter(|latest| latest.attempt_number == number)
                .ok_or_else(|| ServerError::internal("the attempt to resend is gone"))?;
            reopen_for_resend(tx, &latest, acting.staff.id, policy, now).await?
        }
        _ => {
            insert_attempt(
                tx,
                &withdrawal,
                &policy.payout_provider,
                acting.staff.id,
                policy.recheck_age_s,
                now,
            )
            .await?
        }
    };
    sqlx::query("UPDATE withdrawals SET state = 'paying', updated_at = $2 WHERE id = $1")
        .bind(withdrawal.id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    let verb = match (action, next) {
        (StaffAction::StartPayout, _) => "payout_started",
        (_, Next::Resend { .. }) => "payout_resent",
        _ => "payout_retried",
    };
    record(
        tx,
        Change {
            attempt_number: Some(attempt.attempt_number),
            detail: Some(serde_json::json!({
                "provider": attempt.provider,
                "idempotency_key": attempt.idempotency_key,
            })),
            ..staff_change(
                acting,
                &withdrawal,
                verb,
                action,
                WithdrawalState::Paying,
                now,
            )
        },
    )
    .await?;
    Ok(NewAttempt {
        withdrawal,
        attempt,
    })
}

/// The withdrawal's payouts the PSP made twice, with how each was booked against the player
/// (from the recovery journal's transfers: cash taken back, and the receivable).
async fn duplicate_payouts(
    conn: &mut sqlx::PgConnection,
    withdrawal: &WithdrawalRow,
) -> Result<Vec<DuplicatePayout>, ServerError> {
    let rows: Vec<(i32, Uuid, DateTime<Utc>, i64, i64)> = sqlx::query_as(
        "SELECT a.attempt_number, j.id, j.created_at,
                coalesce(sum(t.amount_minor) FILTER (WHERE d.kind = 'player_cash'), 0)::bigint,
                coalesce(sum(t.amount_minor) FILTER (WHERE d.kind = 'player_receivable'), 0)::bigint
           FROM payout_attempts a
           JOIN ledger_journals j ON j.id = a.recovery_journal_id
           JOIN ledger_transfers t ON t.journal_id = j.id
           JOIN ledger_accounts d ON d.id = t.debit_account_id
          WHERE a.withdrawal_id = $1
          GROUP BY a.attempt_number, j.id, j.created_at
          ORDER BY a.attempt_number",
    )
    .bind(withdrawal.id)
    .fetch_all(&mut *conn)
    .await?;
    let currency = withdrawal.amount()?.currency();
    let money = |minor: i64| SignedMoney::from_minor_units(minor, currency);
    Ok(rows
        .into_iter()
        .map(
            |(attempt_number, journal_id, booked_at, cash_minor, receivable_minor)| {
                DuplicatePayout {
                    attempt_number,
                    journal_id,
                    booked_at,
                    from_cash: money(cash_minor),
                    receivable: money(receivable_minor),
                }
            },
        )
        .collect())
}

/// Opens an attempt that failed only by inference again, to be sent under its own PSP key.
async fn reopen_for_resend(
    tx: &mut sqlx::PgConnection,
    attempt: &AttemptRow,
    staff_id: Uuid,
    policy: &Policy,
    now: DateTime<Utc>,
) -> Result<AttemptRow, sqlx::Error> {
    sqlx::query_as(&format!(
        "UPDATE payout_attempts
            SET state = 'pending', error_code = NULL, error_message = NULL, finished_at = NULL,
                started_by = $2, updated_at = $3, next_check_at = $4, checks = 0
          WHERE id = $1
         RETURNING {ATTEMPT_COLUMNS}"
    ))
    .bind(attempt.id)
    .bind(staff_id)
    .bind(now)
    .bind(now + chrono::Duration::seconds(i64::from(policy.recheck_age_s)))
    .fetch_one(&mut *tx)
    .await
}

async fn staff_names(
    conn: &mut sqlx::PgConnection,
    tenant_id: Uuid,
    withdrawal: &WithdrawalRow,
) -> Result<(Option<String>, Option<String>), ServerError> {
    let mut name = async |id: Option<Uuid>| -> Result<Option<String>, ServerError> {
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
struct SummaryRecord {
    id: Uuid,
    email: String,
    amount_minor: i64,
    currency: String,
    state: String,
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
            amount: app::money::Money::from_minor_units(self.amount_minor, currency)?,
            state: WithdrawalState::parse(&self.state).unwrap_or(WithdrawalState::Requested),
            awaiting_second_approval: self.awaiting_second_approval,
            created_at: self.created_at,
            age_s: (now - self.created_at).num_seconds(),
            attempts: self.attempts,
        })
    }
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
