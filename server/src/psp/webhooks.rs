//! The webhook pipeline shared by every provider, and the background workers that deliver the
//! mock's webhooks, retry what did not apply and sweep deposits (`crate::deposits`) whose
//! outcome is overdue. The HTTP routes for webhooks and the mock PSP's hosted page are in
//! `psp::routes`.
//!
//! The pipeline: verify the signature over the raw body → store the event under its unique
//! `(provider, event_id)` → apply it in its own transaction, where the object's state change,
//! its ledger journal, its audit event and the event's `applied` mark commit together. A replay
//! finds the stored row and changes nothing; an apply that fails is marked `failed` and retried.

use std::time::Duration;

use app::domain::ids::TenantId;
use app::domain::reconciliation::WebhookEventStatus;
use app::error::{AppError, ErrorCode};
use chrono::{DateTime, Utc};
use http::HeaderMap;
use uuid::Uuid;

use crate::ledger::LedgerError;
use crate::psp::{ProviderUpdate, WebhookError};
use crate::services::Services;

/// How often the worker looks for events to retry and deposits to sweep.
pub const RETRY_INTERVAL: Duration = Duration::from_secs(10);
/// An event that still fails after this many applies is left for staff (webhook log).
pub const APPLY_ATTEMPTS_MAX: i32 = 20;

/// What applying one update did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub status: WebhookEventStatus,
    pub tenant_id: Option<TenantId>,
    pub object_type: Option<&'static str>,
    pub object_id: Option<Uuid>,
    /// Why nothing changed, or what was noticed (shown in the webhook log).
    pub note: Option<String>,
}

impl Outcome {
    pub fn applied(tenant_id: TenantId, object_type: &'static str, object_id: Uuid) -> Outcome {
        Outcome {
            status: WebhookEventStatus::Applied,
            tenant_id: Some(tenant_id),
            object_type: Some(object_type),
            object_id: Some(object_id),
            note: None,
        }
    }

    /// About a known object, but nothing to change (a duplicate, an older state).
    pub fn ignored(
        tenant_id: TenantId,
        object_type: &'static str,
        object_id: Uuid,
        note: impl Into<String>,
    ) -> Outcome {
        Outcome {
            status: WebhookEventStatus::Ignored,
            note: Some(note.into()),
            ..Outcome::applied(tenant_id, object_type, object_id)
        }
    }

    /// About no object we know (yet): kept, shown to staff and retried.
    pub fn unmatched(note: impl Into<String>) -> Outcome {
        Outcome {
            status: WebhookEventStatus::Unmatched,
            tenant_id: None,
            object_type: None,
            object_id: None,
            note: Some(note.into()),
        }
    }
}

/// A stored event as the pipeline reads it to apply it.
#[derive(sqlx::FromRow)]
struct StoredWebhook {
    provider: String,
    raw_body: String,
    #[sqlx(try_from = "String")]
    status: WebhookEventStatus,
}

/// A stored event delivered again: its id and where it stands.
#[derive(sqlx::FromRow)]
struct Redelivered {
    id: Uuid,
    #[sqlx(try_from = "String")]
    status: WebhookEventStatus,
}

/// Why applying an update failed; the event is marked `failed` and retried.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error("ledger: {0}")]
    Ledger(#[from] LedgerError),
    /// The PSP reports something that contradicts our records (another amount or currency).
    #[error("{0}")]
    Mismatch(String),
}

/// A PSP's contradiction is refused as a state the records do not allow.
impl From<ApplyError> for crate::error::ServerError {
    fn from(error: ApplyError) -> crate::error::ServerError {
        match error {
            ApplyError::Database(error) => error.into(),
            ApplyError::Ledger(error) => error.into(),
            ApplyError::Mismatch(message) => {
                AppError::new(ErrorCode::InvalidStateTransition, message).into()
            }
        }
    }
}

/// The answer to a webhook delivery.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct WebhookAck {
    pub event_id: String,
    pub status: WebhookEventStatus,
    /// True when this event had been received before.
    pub duplicate: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ReceiveError {
    #[error("no such payment provider is enabled")]
    UnknownProvider,
    #[error(transparent)]
    Rejected(#[from] WebhookError),
    /// Stored, but applying failed: answered 500 so the PSP delivers again.
    #[error("the event was stored but could not be applied: {0}")]
    ApplyFailed(String),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

impl Services {
    /// The webhook pipeline's entry: verify, store once, apply once; each delivery is counted by
    /// provider and outcome (`kasa_webhook_deliveries_total`).
    pub async fn receive_webhook(
        &self,
        provider_name: &str,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<WebhookAck, ReceiveError> {
        let result = self.receive(provider_name, headers, body).await;
        let outcome = match &result {
            Ok(ack) if ack.duplicate => "duplicate",
            Ok(ack) => ack.status.as_str(),
            Err(ReceiveError::UnknownProvider) => "unknown_provider",
            Err(ReceiveError::Rejected(_)) => "rejected",
            Err(ReceiveError::ApplyFailed(_) | ReceiveError::Database(_)) => "error",
        };
        // The path names the provider: only an enabled one becomes a label.
        let provider = match &result {
            Err(ReceiveError::UnknownProvider) => "unknown",
            _ => provider_name,
        };
        crate::http::metrics::count_webhook(provider, outcome);
        result
    }

    async fn receive(
        &self,
        provider_name: &str,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<WebhookAck, ReceiveError> {
        let provider = self
            .providers()
            .get(provider_name)
            .ok_or(ReceiveError::UnknownProvider)?;
        let now = self.now();
        provider.verify_webhook(headers, body, now)?;
        let event = provider.parse_webhook(body)?;
        let raw_body = std::str::from_utf8(body)
            .map_err(|_| WebhookError::Malformed("the body is not UTF-8".into()))?;
        let inserted: Option<Uuid> = sqlx::query_scalar(
            "INSERT INTO psp_webhook_events
                 (id, provider, event_id, event_type, payload, raw_body, status, received_at,
                  last_delivery_at)
             VALUES ($1, $2, $3, $4, $5, $6, 'received', $7, $7)
             ON CONFLICT (provider, event_id) DO NOTHING
             RETURNING id",
        )
        .bind(Uuid::new_v4())
        .bind(provider.name())
        .bind(&event.event_id)
        .bind(&event.event_type)
        .bind(&event.payload)
        .bind(raw_body)
        .bind(now)
        .fetch_optional(self.pool())
        .await?;
        let (id, duplicate) = match inserted {
            Some(id) => (id, false),
            None => {
                let Redelivered { id, status } = sqlx::query_as(
                    "UPDATE psp_webhook_events
                        SET deliveries = deliveries + 1, last_delivery_at = $3
                      WHERE provider = $1 AND event_id = $2
                  RETURNING id, status",
                )
                .bind(provider.name())
                .bind(&event.event_id)
                .bind(now)
                .fetch_one(self.pool())
                .await?;
                tracing::info!(provider = provider.name(), event = %event.event_id, %status, "webhook delivered again");
                if matches!(
                    status,
                    WebhookEventStatus::Applied | WebhookEventStatus::Ignored
                ) {
                    return Ok(WebhookAck {
                        event_id: event.event_id,
                        status,
                        duplicate: true,
                    });
                }
                (id, true)
            }
        };
        let status = self
            .apply_webhook_event(id)
            .await
            .map_err(|error| ReceiveError::ApplyFailed(error.to_string()))?;
        Ok(WebhookAck {
            event_id: event.event_id,
            status,
            duplicate,
        })
    }

    /// Applies a stored event, at most once: the event row is locked, and its status checked,
    /// in the transaction that applies it. Returns the event's status afterwards.
    pub async fn apply_webhook_event(&self, id: Uuid) -> Result<WebhookEventStatus, ApplyError> {
        let now = self.now();
        let mut tx = self.pool().begin().await?;
        let StoredWebhook {
            provider: provider_name,
            raw_body,
            status,
        } = sqlx::query_as(
            "SELECT provider, raw_body, status FROM psp_webhook_events WHERE id = $1 FOR UPDATE",
        )
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
        if matches!(
            status,
            WebhookEventStatus::Applied | WebhookEventStatus::Ignored
        ) {
            tx.commit().await?;
            return Ok(status);
        }
        let result = match self.providers().get(&provider_name) {
            None => Err(ApplyError::Mismatch(format!(
                "the provider {provider_name} is not enabled"
            ))),
            Some(provider) => match provider.parse_webhook(raw_body.as_bytes()) {
                Err(error) => Err(ApplyError::Mismatch(error.to_string())),
                Ok(event) => match &event.update {
                    None => Ok(Outcome {
                        status: WebhookEventStatus::Ignored,
                        tenant_id: None,
                        object_type: None,
                        object_id: None,
                        note: Some(format!("event type {} is not used", event.event_type)),
                    }),
                    Some(update) => {
                        self.apply_update(&mut tx, provider.name(), update, now)
                            .await
                    }
                },
            },
        };
        match result {
            Ok(outcome) => {
                sqlx::query(
                    "UPDATE psp_webhook_events
                        SET status = $2, tenant_id = COALESCE($3, tenant_id),
                            object_type = COALESCE($4, object_type),
                            object_id = COALESCE($5, object_id), attempts = attempts + 1,
                            last_error = $6,
                            applied_at = CASE WHEN $2 IN ('applied', 'ignored') THEN $7 END
                      WHERE id = $1",
                )
                .bind(id)
                .bind(outcome.status.as_str())
                .bind(outcome.tenant_id)
                .bind(outcome.object_type)
                .bind(outcome.object_id)
                .bind(&outcome.note)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(outcome.status)
            }
            Err(error) => {
                tx.rollback().await?;
                tracing::warn!(event = %id, %error, "applying a webhook event failed");
                sqlx::query(
                    "UPDATE psp_webhook_events
                        SET status = 'failed', attempts = attempts + 1, last_error = $2
                      WHERE id = $1 AND status NOT IN ('applied', 'ignored')",
                )
                .bind(id)
                .bind(error.to_string())
                .execute(self.pool())
                .await?;
                Err(error)
            }
        }
    }

    /// What a PSP says about one of our objects, applied inside `tx`. Webhooks, rechecks and API
    /// answers all come through here.
    pub async fn apply_update(
        &self,
        tx: &mut sqlx::PgConnection,
        provider: &str,
        update: &ProviderUpdate,
        now: DateTime<Utc>,
    ) -> Result<Outcome, ApplyError> {
        match update {
            ProviderUpdate::Checkout(status) => {
                crate::deposits::apply_checkout_status(tx, provider, status, now).await
            }
            ProviderUpdate::Payout(status) => {
                crate::withdrawals::apply_payout_status(tx, provider, status, now).await
            }
        }
    }

    /// Starts the payment workers: the mock PSP's webhook delivery, and the retry of events
    /// that did not apply. Called once when the router is built.
    pub fn start_payment_workers(&self) {
        if let Some(mut deliveries) = self.take_mock_deliveries() {
            let services = self.clone();
            tokio::spawn(async move {
                while let Some(delivery) = deliveries.recv().await {
                    let services = services.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep(delivery.delay).await;
                        services.deliver_mock_webhook(&delivery.body).await;
                    });
                }
            });
            let services = self.clone();
            tokio::spawn(async move {
                let mut interval = tokio::time::interval(RETRY_INTERVAL);
                interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    interval.tick().await;
                    if let Err(error) = services.retry_pending_events().await {
                        tracing::warn!(%error, "retrying webhook events failed");
                    }
                    if let Err(error) = services.sweep_deposits().await {
                        tracing::warn!(%error, "sweeping stale deposits failed");
                    }
                }
            });
        }
    }

    /// Signs the mock PSP's event with the current time and hands it to the pipeline, as an
    /// HTTP delivery would.
    async fn deliver_mock_webhook(&self, body: &[u8]) {
        let Some(mock) = self.mock_psp() else {
            return;
        };
        let mut headers = HeaderMap::new();
        if let Ok(value) = http::HeaderValue::from_str(&mock.sign(body, self.now())) {
            headers.insert(crate::psp::mock::SIGNATURE_HEADER, value);
        }
        match self
            .receive_webhook(crate::psp::mock::NAME, &headers, body)
            .await
        {
            Ok(ack) => {
                tracing::info!(event = %ack.event_id, status = %ack.status, duplicate = ack.duplicate, "mock PSP webhook delivered")
            }
            Err(error) => tracing::warn!(%error, "mock PSP webhook delivery failed"),
        }
    }

    /// The mock PSP, when enabled.
    pub fn mock_psp(&self) -> Option<&crate::psp::mock::MockPsp> {
        self.providers().mock().map(|mock| mock.as_ref())
    }

    /// Re-applies stored events that are not applied yet (failed, unmatched, or left behind by a
    /// crash between storing and applying), oldest first. Several servers may run this at once:
    /// applying locks the event row and re-checks its status, so each event applies once.
    pub async fn retry_pending_events(&self) -> Result<usize, ApplyError> {
        let ids: Vec<Uuid> = sqlx::query_scalar(
            "SELECT id FROM psp_webhook_events
              WHERE status IN ('received', 'failed', 'unmatched') AND attempts < $1
                AND last_delivery_at < $2
              ORDER BY received_at
              LIMIT 100",
        )
        .bind(APPLY_ATTEMPTS_MAX)
        .bind(self.now() - chrono::Duration::seconds(5))
        .fetch_all(self.pool())
        .await?;
        let mut retried = 0;
        for id in ids {
            if self.apply_webhook_event(id).await.is_ok() {
                retried += 1;
            }
        }
        Ok(retried)
    }
}
