//! Reconciliation's server functions: the findings, a run of the comparison, resolving a finding.

use leptos::prelude::*;
use uuid::Uuid;

use super::{FindingPage, FindingRow, RunSummary};
// Only the server builds the filter from the arguments.
#[cfg(feature = "ssr")]
use super::FindingFilter;
#[cfg(feature = "ssr")]
use crate::backoffice::api::BackofficeApi;
use crate::error::AppError;

/// Any staff role: this brand's findings, newest first.
#[server(endpoint = "backoffice/reconciliation/findings")]
pub async fn list_findings(
    status: Option<String>,
    kind: Option<String>,
    provider: Option<String>,
    offset: Option<i64>,
) -> Result<FindingPage, AppError> {
    let filter = FindingFilter {
        status,
        kind,
        provider,
        offset,
    };
    crate::api::serve!(BackofficeApi::findings(filter))
}

/// Finance or owner: compares every enabled PSP's records for this brand with ours now.
#[server(endpoint = "backoffice/reconciliation/run")]
pub async fn run_reconciliation(idempotency_key: String) -> Result<RunSummary, AppError> {
    crate::api::serve!(BackofficeApi::run_reconciliation(idempotency_key))
}

/// Finance or owner: resolves an open finding with a note and, when `correction` says so, a fix
/// of the money (`apply_psp`, or `credit`/`debit` of `amount`). Audited; one resolution per key.
#[server(endpoint = "backoffice/reconciliation/resolve")]
pub async fn resolve_finding(
    finding: Uuid,
    note: String,
    correction: Option<String>,
    amount: Option<String>,
    idempotency_key: String,
) -> Result<FindingRow, AppError> {
    crate::api::serve!(BackofficeApi::resolve_finding(
        finding,
        note,
        correction,
        amount,
        idempotency_key
    ))
}
