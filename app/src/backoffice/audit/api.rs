//! The audit log's server functions: a page of events for a filter, and the chain check.

use leptos::prelude::*;

use super::{AuditEventPage, ChainCheck};
// Only the server builds the filter from the arguments.
#[cfg(feature = "ssr")]
use super::AuditFilter;
#[cfg(feature = "ssr")]
use crate::backoffice::api::BackofficeApi;
use crate::error::AppError;

/// Any staff role: one page of the tenant's audit events, newest first.
#[server(endpoint = "backoffice/audit-events")]
pub async fn list_audit_events(
    actor: Option<String>,
    action: Option<String>,
    target: Option<String>,
    from: Option<String>,
    until: Option<String>,
    before: Option<i64>,
) -> Result<AuditEventPage, AppError> {
    let filter = AuditFilter {
        actor,
        action,
        target,
        from,
        until,
        before,
    };
    crate::api::serve!(BackofficeApi::audit_events(filter))
}

/// Any staff role: recomputes the tenant's audit chain and reports its first broken link.
#[server(endpoint = "backoffice/audit-verify")]
pub async fn verify_audit_chain() -> Result<ChainCheck, AppError> {
    crate::api::serve!(BackofficeApi::verify_audit_chain())
}
