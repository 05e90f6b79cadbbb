//! The sweep that closes deposits nobody will finish: abandoned ones expire, overdue pending
//! ones are rechecked with their PSP.

use app::deposits::DepositState;
use app::domain::ids::DepositId;
use chrono::{DateTime, Utc};

use crate::audit::{self, Actor, AuditEvent};
use crate::psp::CheckoutOutcome;
use crate::psp::webhooks::ApplyError;
use crate::services::Services;

use super::*;

/// A pending deposit whose PSP is due to be asked again.
#[derive(sqlx::FromRow)]
struct DueCheck {
    id: DepositId,
    provider: String,
    provider_session_id: String,
}

impl Services {
    /// Closes deposits nobody will finish: `created` ones whose checkout never came into being
    /// are expired (each with its audit event), and due `pending` ones past their checkout's
    /// expiry are rechecked with their PSP and settled through the same path as a webhook.
    ///
    /// Rechecks go in turn: a deposit is claimed by moving its `next_check_at` forward (a backoff
    /// doubling from 1 minute to 1 hour) before its PSP is asked, and the sweep takes the
    /// earliest `next_check_at` first, so deposits that never resolve cannot starve the others.
    /// Claims skip rows another server holds, so several servers can sweep side by side.
    pub async fn sweep_deposits(&self) -> Result<usize, ApplyError> {
        let now = self.now();
        let expired = self.expire_abandoned_deposits(now).await?;
        let due: Vec<DueCheck> = sqlx::query_as(
            "UPDATE deposits
                SET next_check_at = $1 + make_interval(secs =>
                        LEAST($2 * power(2, LEAST(check_count, 20)), $3)),
                    check_count = check_count + 1
              WHERE id IN (SELECT id FROM deposits
                            WHERE state = 'pending' AND next_check_at <= $1
                            ORDER BY next_check_at, id
                            LIMIT $4
                              FOR UPDATE SKIP LOCKED)
          RETURNING id, provider, provider_session_id",
        )
        .bind(now)
        .bind(RECHECK_BACKOFF_MIN_S as f64)
        .bind(RECHECK_BACKOFF_MAX_S as f64)
        .bind(SWEEP_RECHECKS_MAX)
        .fetch_all(self.pool())
        .await?;
        let mut rechecked = 0;
        for DueCheck {
            id: deposit_id,
            provider: provider_name,
            provider_session_id: session_id,
        } in due
        {
            let Some(provider) = self.providers().get(&provider_name) else {
                tracing::warn!(deposit = %deposit_id, provider = %provider_name, "a pending deposit's provider is not enabled; it waits");
                continue;
            };
            match provider.read_checkout(&session_id).await {
                Ok(mut status) => {
                    // The PSP's page is past its expiry: an open checkout will never be paid.
                    if status.outcome == CheckoutOutcome::Open {
                        status.outcome = CheckoutOutcome::Expired;
                    }
                    let mut tx = self.pool().begin().await?;
                    match apply_checkout_status(&mut tx, provider.name(), &status, self.now()).await
                    {
                        Ok(_) => {
                            tx.commit().await?;
                            rechecked += 1;
                        }
                        // One deposit that cannot be applied (a mismatch) must not stop the
                        // sweep: it is due again after its backoff.
                        Err(error) => {
                            tx.rollback().await?;
                            tracing::warn!(deposit = %deposit_id, %error, "applying a rechecked deposit failed");
                        }
                    }
                }
                Err(error) => {
                    tracing::warn!(deposit = %deposit_id, %session_id, %error, "rechecking a stale deposit failed")
                }
            }
        }
        Ok(expired + rechecked)
    }

    /// Expires `created` deposits older than an hour (their checkout was never created), each
    /// with a `deposit.expired` audit event in the same transaction. The failure code says why
    /// (and is what lets a deposit without a checkout end: `deposits_session_when_pending`).
    async fn expire_abandoned_deposits(&self, now: DateTime<Utc>) -> Result<usize, ApplyError> {
        let mut tx = self.pool().begin().await?;
        let mut rows: Vec<DepositRow> = sqlx::query_as(&format!(
            "UPDATE deposits
                SET state = 'expired', updated_at = $2, failure_code = 'checkout_not_created',
                    failure_message = 'No checkout was created for this deposit.'
              WHERE id IN (SELECT id FROM deposits
                            WHERE state = 'created' AND created_at < $1
                            ORDER BY created_at, id
                            LIMIT $3
                              FOR UPDATE SKIP LOCKED)
          RETURNING {DEPOSIT_COLUMNS}"
        ))
        .bind(now - CREATED_DEPOSIT_EXPIRY)
        .bind(now)
        .bind(SWEEP_EXPIRIES_MAX)
        .fetch_all(&mut *tx)
        .await?;
        // Queued in tenant and id order, so that the chain lists one sweep's expiries in order.
        rows.sort_by_key(|row| (row.tenant_id, row.id));
        for row in &rows {
            let before = DepositRow {
                state: DepositState::Created,
                ..row.clone()
            };
            audit::queue(
                &mut tx,
                &AuditEvent {
                    tenant_id: row.tenant_id,
                    actor: Actor::System("deposit-sweep".into()),
                    action: "deposit.expired".into(),
                    target_type: "deposit".into(),
                    target_id: row.id.to_string(),
                    before: Some(before.snapshot()),
                    after: Some(row.snapshot()),
                    reason: Some("no checkout was created for this deposit within an hour".into()),
                    request_id: None,
                    idempotency_key: None,
                    ip: None,
                    at: now,
                },
            )
            .await?;
        }
        tx.commit().await?;
        if !rows.is_empty() {
            tracing::info!(count = rows.len(), "abandoned deposits expired");
        }
        Ok(rows.len())
    }
}
