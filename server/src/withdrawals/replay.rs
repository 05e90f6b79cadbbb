//! A staff action's key used again: the first answer, or a refusal when the key named another
//! action.

use app::error::{AppError, ErrorCode};
use app::withdrawals::{StaffAction, WithdrawalReceipt};
use uuid::Uuid;

use super::actions::Acting;
use super::model::{Withdrawal, actor_id};
use crate::error::ServerResult;

/// A recorded staff action: (withdrawal, action name, reason, external reference).
type RecordedAction = (Uuid, Option<String>, Option<String>, Option<String>);

/// The same staff member's key again: the first answer if it was this action on this
/// withdrawal, else a refusal (a key names one action).
pub(super) async fn replay(
    tx: &mut sqlx::PgConnection,
    acting: &Acting,
    withdrawal: &Withdrawal,
    action: &StaffAction,
) -> ServerResult<Option<WithdrawalReceipt>> {
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
            if id == withdrawal.id.0
                && name == action.name()
                && same_parameters(action, reason.as_deref(), reference.as_deref()) =>
        {
            Ok(Some(WithdrawalReceipt {
                withdrawal_id: withdrawal.id,
                state: withdrawal.state,
                replayed: true,
                message: format!(
                    "Already done: you made this {} request before; nothing happened again. The withdrawal is {}.",
                    action.name().replace('_', " "),
                    withdrawal.state.staff_label()
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
