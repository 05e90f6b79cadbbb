//! What the server provides for the back office ([`BackofficeApi`]): one service behind every
//! section's server functions, which live with their section (`credits::api`, `ledger::api`, …).

use super::{IntegritySummary, audit, credits, figures, ledger, players, reconciliation, webhooks};
use crate::error::AppError;

/// What the server provides for the back office. Each method checks the session and role.
#[async_trait::async_trait]
pub trait BackofficeApi: Send + Sync {
    async fn audit_events(
        &self,
        ctx: &crate::api::RequestCtx,
        filter: audit::AuditFilter,
    ) -> Result<audit::AuditEventPage, AppError>;
    async fn verify_audit_chain(
        &self,
        ctx: &crate::api::RequestCtx,
    ) -> Result<audit::ChainCheck, AppError>;
    async fn webhook_events(
        &self,
        ctx: &crate::api::RequestCtx,
        filter: webhooks::WebhookFilter,
    ) -> Result<webhooks::WebhookEventPage, AppError>;
    async fn reapply_webhook_event(
        &self,
        ctx: &crate::api::RequestCtx,
        event: uuid::Uuid,
        idempotency_key: String,
    ) -> Result<webhooks::ReapplyOutcome, AppError>;
    async fn figures(
        &self,
        ctx: &crate::api::RequestCtx,
        query: figures::FiguresQuery,
    ) -> Result<figures::Figures, AppError>;
    async fn check_ledger_integrity(
        &self,
        ctx: &crate::api::RequestCtx,
    ) -> Result<IntegritySummary, AppError>;
    async fn search_players(
        &self,
        ctx: &crate::api::RequestCtx,
        q: Option<String>,
        offset: Option<i64>,
    ) -> Result<players::PlayerSearchPage, AppError>;
    async fn throttled_log_ins(
        &self,
        ctx: &crate::api::RequestCtx,
    ) -> Result<Vec<players::ThrottledLogIn>, AppError>;
    async fn player_detail(
        &self,
        ctx: &crate::api::RequestCtx,
        player: crate::domain::ids::PlayerId,
    ) -> Result<players::PlayerDetail, AppError>;
    async fn add_staff_note(
        &self,
        ctx: &crate::api::RequestCtx,
        player: crate::domain::ids::PlayerId,
        body: String,
        idempotency_key: String,
    ) -> Result<players::StaffNote, AppError>;
    async fn ledger_accounts(
        &self,
        ctx: &crate::api::RequestCtx,
        kind: Option<String>,
        currency: Option<String>,
        offset: Option<i64>,
    ) -> Result<ledger::AccountPage, AppError>;
    async fn account_transfers(
        &self,
        ctx: &crate::api::RequestCtx,
        account: uuid::Uuid,
        before: Option<i64>,
    ) -> Result<ledger::AccountTransfers, AppError>;
    async fn journal_detail(
        &self,
        ctx: &crate::api::RequestCtx,
        journal: uuid::Uuid,
    ) -> Result<ledger::JournalDetail, AppError>;
    async fn findings(
        &self,
        ctx: &crate::api::RequestCtx,
        filter: reconciliation::FindingFilter,
    ) -> Result<reconciliation::FindingPage, AppError>;
    async fn run_reconciliation(
        &self,
        ctx: &crate::api::RequestCtx,
        idempotency_key: String,
    ) -> Result<reconciliation::RunSummary, AppError>;
    #[allow(clippy::too_many_arguments)]
    async fn resolve_finding(
        &self,
        ctx: &crate::api::RequestCtx,
        finding: uuid::Uuid,
        note: String,
        correction: Option<String>,
        amount: Option<String>,
        idempotency_key: String,
    ) -> Result<reconciliation::FindingRow, AppError>;
    async fn credit_requests(
        &self,
        ctx: &crate::api::RequestCtx,
        filter: credits::CreditRequestFilter,
    ) -> Result<credits::CreditRequestPage, AppError>;
    async fn decide_credit_request(
        &self,
        ctx: &crate::api::RequestCtx,
        request: uuid::Uuid,
        decision: credits::CreditDecision,
        note: Option<String>,
        idempotency_key: String,
    ) -> Result<credits::CreditDecisionReceipt, AppError>;
}
