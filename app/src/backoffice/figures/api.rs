//! The figures' server functions: the figures for a period and currency, and a fresh integrity check.

use leptos::prelude::*;

use super::Figures;
// Only the server builds the filter from the arguments.
#[cfg(feature = "ssr")]
use super::FiguresQuery;
use crate::backoffice::IntegritySummary;
#[cfg(feature = "ssr")]
use crate::backoffice::api::BackofficeApi;
use crate::error::AppError;

/// Any staff role: the figures for a period and currency.
#[server(endpoint = "backoffice/figures")]
pub async fn load_figures(
    period: Option<String>,
    from: Option<String>,
    until: Option<String>,
    currency: Option<String>,
) -> Result<Figures, AppError> {
    let query = FiguresQuery {
        period,
        from,
        until,
        currency,
    };
    crate::api::serve!(BackofficeApi::figures(query))
}

/// Any staff role: runs the ledger integrity check for this brand and records its result (the
/// figures page shows the last one).
#[server(endpoint = "backoffice/integrity-check")]
pub async fn check_ledger_integrity() -> Result<IntegritySummary, AppError> {
    crate::api::serve!(BackofficeApi::check_ledger_integrity())
}
