//! The back office's server side (`app::backoffice`): each page's reads and
//! actions, in one file per feature. Every method of [`BackofficeApi`] and [`DashboardApi`] checks
//! the staff role first (support reads; finance and owner act) and scopes every query by the
//! staff member's tenant, so another tenant's ids look exactly like ids that do not exist.

pub mod adjustments;
pub mod audit_log;
pub mod credits;
pub mod dashboard;
pub mod export;
pub mod figures;
pub mod ledger_explorer;
pub mod players;
pub mod reconciliation;
pub mod webhooks;

use app::api::RequestCtx;
use app::auth::StaffRole;
use app::backoffice::IntegritySummary;
use app::backoffice::api::BackofficeApi;
use app::backoffice::audit::{AuditEventPage, AuditFilter, ChainCheck};
use app::backoffice::credits::{
    CreditDecision, CreditDecisionReceipt, CreditRequestFilter, CreditRequestPage,
};
use app::backoffice::dashboard::{
    AdjustmentDirection, AdjustmentReceipt, DashboardApi, StaffOverview,
};
use app::backoffice::figures::{Figures, FiguresQuery};
use app::backoffice::ledger::{AccountPage, AccountTransfers, JournalDetail};
use app::backoffice::players::{PlayerDetail, PlayerSearchPage, StaffNote, ThrottledLogIn};
use app::backoffice::reconciliation::{FindingFilter, FindingPage, FindingRow, RunSummary};
use app::backoffice::webhooks::{ReapplyOutcome, WebhookEventPage, WebhookFilter};
use app::domain::ids::PlayerId;
use app::error::AppError;
use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

use crate::error::ServerError;
use crate::services::Services;

/// Most slowed-down log-ins listed on the players page.
const THROTTLED_LOG_INS_SHOWN: i64 = 100;

#[async_trait::async_trait]
impl BackofficeApi for Services {
    async fn audit_events(
        &self,
        ctx: &RequestCtx,
        filter: AuditFilter,
    ) -> Result<AuditEventPage, AppError> {
        let (tenant, _staff) = self.require_staff(ctx, StaffRole::Support).await?;
        let search = audit_log::AuditSearch::resolve(self.pool(), tenant.id, &filter).await?;
        Ok(audit_log::page(self.pool(), tenant.id, &search, filter.before).await?)
    }

    async fn verify_audit_chain(&self, ctx: &RequestCtx) -> Result<ChainCheck, AppError> {
        let (tenant, staff) = self.require_staff(ctx, StaffRole::Support).await?;
        self.limit_staff_operation(tenant.id, staff.id, "audit_verification")
            .await?;
        Ok(audit_log::verify(self.pool(), tenant.id).await?)
    }

    async fn webhook_events(
        &self,
        ctx: &RequestCtx,
        filter: WebhookFilter,
    ) -> Result<WebhookEventPage, AppError> {
        let (tenant, staff) = self.require_staff(ctx, StaffRole::Support).await?;
        Ok(webhooks::page(
            self.pool(),
            tenant.id,
            &filter,
            staff.role >= StaffRole::Finance,
        )
        .await?)
    }

    async fn reapply_webhook_event(
        &self,
        ctx: &RequestCtx,
        event: Uuid,
        idempotency_key: String,
    ) -> Result<ReapplyOutcome, AppError> {
        let (tenant, staff) = self.require_staff(ctx, StaffRole::Finance).await?;
        Ok(webhooks::reapply(self, ctx, tenant.id, staff.id, event, &idempotency_key).await?)
    }

    async fn figures(&self, ctx: &RequestCtx, query: FiguresQuery) -> Result<Figures, AppError> {
        let (tenant, _staff) = self.require_staff(ctx, StaffRole::Support).await?;
        Ok(figures::figures(self, tenant.id, &query).await?)
    }

    async fn check_ledger_integrity(&self, ctx: &RequestCtx) -> Result<IntegritySummary, AppError> {
        let (tenant, staff) = self.require_staff(ctx, StaffRole::Support).await?;
        Ok(figures::check_integrity(self, ctx, tenant.id, staff.id).await?)
    }

    async fn search_players(
        &self,
        ctx: &RequestCtx,
        q: Option<String>,
        offset: Option<i64>,
    ) -> Result<PlayerSearchPage, AppError> {
        let (tenant, _staff) = self.require_staff(ctx, StaffRole::Support).await?;
        Ok(players::search(self.pool(), tenant.id, q, offset).await?)
    }

    async fn throttled_log_ins(&self, ctx: &RequestCtx) -> Result<Vec<ThrottledLogIn>, AppError> {
        let (tenant, _staff) = self.require_staff(ctx, StaffRole::Support).await?;
        Ok(crate::auth::throttle::throttled_accounts(
            self.pool(),
            tenant.id,
            self.now(),
            THROTTLED_LOG_INS_SHOWN,
        )
        .await
        .map_err(ServerError::from)?)
    }

    async fn player_detail(
        &self,
        ctx: &RequestCtx,
        player: PlayerId,
    ) -> Result<PlayerDetail, AppError> {
        let (tenant, staff) = self.require_staff(ctx, StaffRole::Support).await?;
        Ok(players::detail(self, tenant.id, player, staff.role >= StaffRole::Finance).await?)
    }

    async fn add_staff_note(
        &self,
        ctx: &RequestCtx,
        player: PlayerId,
        body: String,
        idempotency_key: String,
    ) -> Result<StaffNote, AppError> {
        let (tenant, staff) = self.require_staff(ctx, StaffRole::Finance).await?;
        Ok(players::add_note(
            self,
            ctx,
            tenant.id,
            &staff,
            player,
            &body,
            &idempotency_key,
        )
        .await?)
    }

    async fn ledger_accounts(
        &self,
        ctx: &RequestCtx,
        kind: Option<String>,
        currency: Option<String>,
        offset: Option<i64>,
    ) -> Result<AccountPage, AppError> {
        let (tenant, _staff) = self.require_staff(ctx, StaffRole::Support).await?;
        Ok(ledger_explorer::accounts(self.pool(), tenant.id, kind, currency, offset).await?)
    }

    async fn account_transfers(
        &self,
        ctx: &RequestCtx,
        account: Uuid,
        before: Option<i64>,
    ) -> Result<AccountTransfers, AppError> {
        let (tenant, _staff) = self.require_staff(ctx, StaffRole::Support).await?;
        Ok(ledger_explorer::transfers(self.pool(), tenant.id, account, before).await?)
    }

    async fn journal_detail(
        &self,
        ctx: &RequestCtx,
        journal: Uuid,
    ) -> Result<JournalDetail, AppError> {
        let (tenant, _staff) = self.require_staff(ctx, StaffRole::Support).await?;
        Ok(ledger_explorer::journal(self.pool(), tenant.id, journal).await?)
    }

    async fn findings(
        &self,
        ctx: &RequestCtx,
        filter: FindingFilter,
    ) -> Result<FindingPage, AppError> {
        let (tenant, staff) = self.require_staff(ctx, StaffRole::Support).await?;
        Ok(reconciliation::findings::page(
            self.pool(),
            tenant.id,
            &filter,
            staff.role >= StaffRole::Finance,
        )
        .await?)
    }

    async fn run_reconciliation(
        &self,
        ctx: &RequestCtx,
        idempotency_key: String,
    ) -> Result<RunSummary, AppError> {
        let (tenant, staff) = self.require_staff(ctx, StaffRole::Finance).await?;
        self.limit_staff_operation(tenant.id, staff.id, "reconciliation")
            .await?;
        Ok(
            reconciliation::findings::run_for_tenant(
                self,
                ctx,
                tenant.id,
                &staff,
                &idempotency_key,
            )
            .await?,
        )
    }

    async fn resolve_finding(
        &self,
        ctx: &RequestCtx,
        finding: Uuid,
        note: String,
        correction: Option<String>,
        amount: Option<String>,
        idempotency_key: String,
    ) -> Result<FindingRow, AppError> {
        let (tenant, staff) = self.require_staff(ctx, StaffRole::Finance).await?;
        Ok(reconciliation::resolve::resolve(
            self,
            ctx,
            tenant.id,
            &staff,
            finding,
            &note,
            correction.as_deref(),
            amount.as_deref(),
            &idempotency_key,
        )
        .await?)
    }

    async fn credit_requests(
        &self,
        ctx: &RequestCtx,
        filter: CreditRequestFilter,
    ) -> Result<CreditRequestPage, AppError> {
        let (tenant, staff) = self.require_staff(ctx, StaffRole::Support).await?;
        Ok(credits::queries::page(self.pool(), tenant.id, &staff, &filter).await?)
    }

    async fn decide_credit_request(
        &self,
        ctx: &RequestCtx,
        request: Uuid,
        decision: CreditDecision,
        note: Option<String>,
        idempotency_key: String,
    ) -> Result<CreditDecisionReceipt, AppError> {
        let (tenant, staff) = self.require_staff(ctx, StaffRole::Finance).await?;
        Ok(credits::decide::decide(
            self,
            ctx,
            tenant.id,
            &staff,
            request,
            decision,
            note.as_deref(),
            &idempotency_key,
        )
        .await?)
    }
}

#[async_trait::async_trait]
impl DashboardApi for Services {
    async fn overview(&self, ctx: &RequestCtx) -> Result<StaffOverview, AppError> {
        let (tenant, staff) = self.require_staff(ctx, StaffRole::Support).await?;
        Ok(dashboard::overview(self, tenant, staff).await?)
    }

    async fn post_adjustment(
        &self,
        ctx: &RequestCtx,
        player_email: String,
        currency: String,
        amount: String,
        direction: AdjustmentDirection,
        reason: String,
        idempotency_key: String,
    ) -> Result<AdjustmentReceipt, AppError> {
        let (tenant, staff) = self.require_staff(ctx, StaffRole::Finance).await?;
        let form = adjustments::AdjustmentForm {
            player_email,
            currency,
            amount,
            direction,
            reason,
            idempotency_key,
        };
        Ok(adjustments::post_adjustment(self, ctx, &tenant, &staff, &form).await?)
    }

    async fn integrity_check(&self, ctx: &RequestCtx) -> Result<IntegritySummary, AppError> {
        let (tenant, staff) = self.require_staff(ctx, StaffRole::Support).await?;
        // Recorded like a run from the figures page, so "last integrity check" covers both.
        Ok(figures::check_integrity(self, ctx, tenant.id, staff.id).await?)
    }
}

/// A day typed into a filter (`YYYY-MM-DD`), as the instant it starts (UTC); `end_of_day` gives
/// the start of the next day, so a period's last day is included.
pub fn parse_day(
    field: &str,
    value: Option<&str>,
    end_of_day: bool,
) -> Result<Option<DateTime<Utc>>, ServerError> {
    let Some(value) = value.map(str::trim).filter(|value| !value.is_empty()) else {
        return Ok(None);
    };
    let day = NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .map_err(|_| AppError::invalid(field, "Give a date as YYYY-MM-DD."))?;
    let day = if end_of_day {
        day.succ_opt()
            .ok_or_else(|| AppError::invalid(field, "Give a date as YYYY-MM-DD."))?
    } else {
        day
    };
    Ok(Some(day.and_time(chrono::NaiveTime::MIN).and_utc()))
}

/// The trimmed text of an optional filter, `None` when empty.
pub fn filter_text(value: &Option<String>) -> Option<String> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|value| !value.is_empty())
        .map(str::to_owned)
}

/// Deepest page offered (paging further is a sign the filter is too wide).
pub const OFFSET_MAX: i64 = 10_000;
/// Longest idempotency key a back-office action may carry.
pub const IDEMPOTENCY_KEY_LENGTH_MAX: usize = 200;

/// Where a page starts: the offset asked for, within `0..=OFFSET_MAX`.
pub fn page_offset(offset: Option<i64>) -> i64 {
    offset.unwrap_or(0).clamp(0, OFFSET_MAX)
}

/// The offset of the next page, when this one was full and the next is not too deep.
pub fn next_offset(rows: usize, offset: i64, page_size: i64) -> Option<i64> {
    (rows as i64 == page_size && offset + page_size <= OFFSET_MAX).then_some(offset + page_size)
}

/// An action's idempotency key, trimmed; refused when empty or longer than
/// [`IDEMPOTENCY_KEY_LENGTH_MAX`].
pub fn checked_idempotency_key(idempotency_key: &str) -> Result<&str, ServerError> {
    let idempotency_key = idempotency_key.trim();
    if idempotency_key.is_empty() || idempotency_key.len() > IDEMPOTENCY_KEY_LENGTH_MAX {
        return Err(AppError::invalid(
            "idempotency_key",
            "The request has no valid idempotency key.",
        )
        .into());
    }
    Ok(idempotency_key)
}
