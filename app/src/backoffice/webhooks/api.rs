//! The webhook log's server functions: a page of events, and re-applying one.

use leptos::prelude::*;
use uuid::Uuid;

use super::{ReapplyOutcome, WebhookEventPage};
// Only the server builds the filter from the arguments.
#[cfg(feature = "ssr")]
use super::WebhookFilter;
#[cfg(feature = "ssr")]
use crate::backoffice::api::BackofficeApi;
use crate::error::AppError;

/// Any staff role: this brand's webhook events, newest first.
#[server(endpoint = "backoffice/webhooks")]
pub async fn list_webhook_events(
    provider: Option<String>,
    status: Option<String>,
    offset: Option<i64>,
) -> Result<WebhookEventPage, AppError> {
    let filter = WebhookFilter {
        provider,
        status,
        offset,
    };
    crate::api::serve!(BackofficeApi::webhook_events(filter))
}

/// Finance or owner: applies a stored event again (at most once in effect), audited.
#[server(endpoint = "backoffice/webhooks/reapply")]
pub async fn reapply_webhook_event(
    event: Uuid,
    idempotency_key: String,
) -> Result<ReapplyOutcome, AppError> {
    crate::api::serve!(BackofficeApi::reapply_webhook_event(event, idempotency_key))
}
