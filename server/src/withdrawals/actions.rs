//! The staff actions that decide a withdrawal (approve with maker-checker, reject, mark paid)
//! and the one entry all staff actions go through: each in one transaction that locks the
//! withdrawal first, replays a key already used, and asks the transition table. A staff
//! action's key is unique per staff member: the same key replays the action's answer, and two
//! people acting at once get one winner and one clear refusal.

use app::api::RequestCtx;
use app::domain::ids::WithdrawalId;
use app::domain::withdrawal::{Next, WithdrawalState};
use app::error::AppError;
use app::withdrawals::{
    EXTERNAL_REFERENCE_LENGTH_MAX, REASON_LENGTH_MAX, StaffAction, WithdrawalReceipt,
};
use chrono::{DateTime, Utc};

use super::model::{Change, Withdrawal, attempts_of, facts, lock_withdrawal, record};
use super::payout::{MANUAL_PROVIDER, apply_payout_status, insert_attempt, send_payout};
use super::payout_actions::{
    begin_attempt, payout_receipt, recheck_before_retry, require_provider,
};
use super::policy::{self, Policy};
use super::replay::replay;
use super::request::client_key;
use super::request_id;
use crate::audit::Actor;
use crate::auth::StaffMember;
use crate::error::{ServerError, ServerResult};
use crate::ledger::{self, AccountRef, IdempotencyKey, JournalKind, NewJournal, NewTransfer};
use crate::psp::{PayoutOutcome, PayoutStatus};
use crate::services::Services;
use crate::tenants::Tenant;

/// Who acts, for whom, in which request.
pub(super) struct Acting {
    pub tenant: Tenant,
    pub staff: StaffMember,
    pub request_id: Option<String>,
    pub key: String,
}

impl Acting {
    pub fn actor(&self) -> Actor {
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

pub(super) fn receipt(
    withdrawal_id: WithdrawalId,
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

/// The action's reason and reference, trimmed and within their lengths.
fn validated(action: StaffAction) -> ServerResult<StaffAction> {
    Ok(match action {
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
    })
}

pub(super) fn not_found() -> AppError {
    AppError::not_found("Withdrawal")
}

/// Runs one staff action. The replay check and the state check happen under the
/// withdrawal's row lock, so concurrent calls are decided one after the other.
pub async fn act(
    services: &Services,
    ctx: &RequestCtx,
    tenant: Tenant,
    staff: StaffMember,
    withdrawal_id: WithdrawalId,
    action: StaffAction,
    idempotency_key: String,
) -> Result<WithdrawalReceipt, ServerError> {
    let acting = Acting {
        tenant,
        staff,
        request_id: request_id(ctx),
        key: client_key(&idempotency_key)?,
    };
    // Validate the form before anything is locked.
    let action = validated(action)?;
    if action == StaffAction::RetryPayout
        && let Some(settled) = recheck_before_retry(services, &acting, withdrawal_id).await?
    {
        return Ok(settled);
    }
    let mut tx = services.pool().begin().await?;
    let withdrawal = lock_withdrawal(&mut tx, acting.tenant.id, withdrawal_id)
        .await?
        .ok_or_else(not_found)?;
    if let Some(replayed) = replay(&mut tx, &acting, &withdrawal, &action).await? {
        tx.commit().await?;
        return Ok(replayed);
    }
    let policy = policy::load(&mut tx, acting.tenant.id).await?;
    let now = services.now();
    let attempts = attempts_of(&mut tx, withdrawal.id).await?;
    let facts = facts(&withdrawal, &attempts, &policy, acting.staff.id, now);
    let next = withdrawal.state.decide(action.kind(), &facts)?;
    let result = match &action {
        StaffAction::Approve => approve(&mut tx, &acting, &withdrawal, next, &policy, now).await,
        StaffAction::Reject { reason } => reject(&mut tx, &acting, &withdrawal, reason, now).await,
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
            require_provider(services, &policy)?;
            let new =
                begin_attempt(&mut tx, &acting, withdrawal, &action, next, &policy, now).await?;
            tx.commit().await?;
            // The PSP is called outside any transaction; a crash from here on leaves a
            // pending attempt that the recheck job resolves.
            send_payout(services, &new).await?;
            return payout_receipt(services, &new).await;
        }
    };
    let receipt = result?;
    tx.commit().await?;
    Ok(receipt)
}

pub(super) fn staff_change<'a>(
    acting: &Acting,
    withdrawal: &'a Withdrawal,
    action: &'a str,
    staff_action: &'a StaffAction,
    to_state: WithdrawalState,
    now: DateTime<Utc>,
) -> Change<'a> {
    Change {
        withdrawal,
        action,
        from_state: Some(withdrawal.state),
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
    withdrawal: &Withdrawal,
    next: Next,
    policy: &Policy,
    now: DateTime<Utc>,
) -> Result<WithdrawalReceipt, ServerError> {
    let amount = withdrawal.amount;
    let threshold = policy.approval_threshold_for(amount.currency());
    let staff_id = acting.staff.id;
    let (action, to_state, message) = if next == Next::FirstApproval {
        sqlx::query(
            "UPDATE withdrawals SET first_approved_by = $2, first_approved_at = $3, updated_at = $3
              WHERE id = $1",
        )
        .bind(withdrawal.id.0)
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
        .bind(withdrawal.id.0)
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
    withdrawal: &Withdrawal,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<WithdrawalReceipt, ServerError> {
    let action = StaffAction::Reject {
        reason: reason.to_owned(),
    };
    let amount = withdrawal.amount;
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
    .bind(withdrawal.id.0)
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
    withdrawal: &Withdrawal,
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
        .bind(withdrawal.id.0)
        .bind(external_reference)
        .execute(&mut *tx)
        .await?;
    let status = PayoutStatus {
        provider_reference: Some(external_reference.to_owned()),
        idempotency_key: attempt.idempotency_key.clone(),
        outcome: PayoutOutcome::Succeeded,
        amount: Some(withdrawal.amount),
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
