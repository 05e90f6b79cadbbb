//! The credit approvals' server functions: the queue, and one approver's decision.

use leptos::prelude::*;
use uuid::Uuid;

use super::{CreditDecision, CreditDecisionReceipt, CreditRequestPage};
// Only the server builds the filter from the arguments.
#[cfg(feature = "ssr")]
use super::CreditRequestFilter;
#[cfg(feature = "ssr")]
use crate::backoffice::api::BackofficeApi;
use crate::error::AppError;

/// Any staff role: this brand's credit requests, pending first.
#[server(endpoint = "backoffice/credit-requests")]
pub async fn list_credit_requests(
    state: Option<String>,
    offset: Option<i64>,
) -> Result<CreditRequestPage, AppError> {
    let filter = CreditRequestFilter { state, offset };
    crate::api::serve!(BackofficeApi::credit_requests(filter))
}

/// Finance or owner, never the requester: approves (posts the credit, once) or declines (posts
/// nothing; a note is required) a pending credit request. Audited.
#[server(endpoint = "backoffice/credit-requests/decide")]
pub async fn decide_credit_request(
    request: Uuid,
    decision: CreditDecision,
    note: Option<String>,
    idempotency_key: String,
) -> Result<CreditDecisionReceipt, AppError> {
    crate::api::serve!(BackofficeApi::decide_credit_request(
        request,
        decision,
        note,
        idempotency_key
    ))
}
