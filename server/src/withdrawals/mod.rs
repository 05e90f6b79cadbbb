//! Withdrawals and payouts on the server: the player's request (funds held at once, `request`),
//! the staff queue and detail (`queue`, `detail`), the staff actions with maker-checker
//! (`actions`, `payout_actions`, `replay`), payout attempts at a PSP with the one path that
//! applies what a PSP says and the recheck job (`payout`), the mock PSP's scripting
//! (`mock_script`) and each tenant's policy (`policy`). Every rule about states is the
//! transition table in `app::domain::withdrawal`; states are described in
//! `migrations/0006_withdrawals.sql`. Each service method below authenticates, then calls the
//! function that does the work.

mod actions;
mod detail;
mod mock_script;
mod model;
mod payout;
mod payout_actions;
pub mod policy;
mod queue;
mod replay;
mod request;

use app::api::RequestCtx;
use app::auth::StaffRole;
use app::domain::ids::WithdrawalId;
use app::domain::withdrawal::Refusal;
use app::error::AppError;
use app::withdrawals::api::WithdrawalsApi;
use app::withdrawals::{
    PolicyUpdate, QueueFilter, StaffAction, WithdrawOptions, WithdrawalDetail, WithdrawalPolicy,
    WithdrawalReceipt, WithdrawalSummary, WithdrawalView,
};

pub use payout::{
    MANUAL_PROVIDER, NOT_FOUND_AT_PROVIDER, PAYOUT_CALL_TIMEOUT, RECHECK_INTERVAL,
    apply_payout_status,
};

use crate::audit::request_id;
use crate::error::ServerError;
use crate::services::Services;

/// A refusal of the withdrawal's transition table is an answer for the caller.
impl From<Refusal> for ServerError {
    fn from(refusal: Refusal) -> ServerError {
        ServerError::App(refusal.into())
    }
}

#[async_trait::async_trait]
impl WithdrawalsApi for Services {
    async fn options(&self, ctx: &RequestCtx) -> Result<WithdrawOptions, AppError> {
        let (tenant, player_id) = self.require_player(ctx).await?;
        Ok(request::options(self, &tenant, player_id).await?)
    }

    async fn request(
        &self,
        ctx: &RequestCtx,
        amount: String,
        currency: String,
        idempotency_key: String,
    ) -> Result<WithdrawalView, AppError> {
        let (tenant, player_id) = self.require_player(ctx).await?;
        Ok(request::request(
            self,
            ctx,
            &tenant,
            player_id,
            amount,
            currency,
            idempotency_key,
        )
        .await?)
    }

    async fn mine(&self, ctx: &RequestCtx) -> Result<Vec<WithdrawalView>, AppError> {
        let (tenant, player_id) = self.require_player(ctx).await?;
        Ok(request::mine(self, &tenant, player_id).await?)
    }

    async fn queue(
        &self,
        ctx: &RequestCtx,
        filter: QueueFilter,
    ) -> Result<Vec<WithdrawalSummary>, AppError> {
        let (tenant, _staff) = self.require_staff(ctx, StaffRole::Support).await?;
        Ok(queue::queue(self, &tenant, filter).await?)
    }

    async fn detail(
        &self,
        ctx: &RequestCtx,
        withdrawal_id: WithdrawalId,
    ) -> Result<WithdrawalDetail, AppError> {
        let (tenant, staff) = self.require_staff(ctx, StaffRole::Support).await?;
        Ok(detail::detail(self, &tenant, &staff, withdrawal_id).await?)
    }

    async fn act(
        &self,
        ctx: &RequestCtx,
        withdrawal_id: WithdrawalId,
        action: StaffAction,
        idempotency_key: String,
    ) -> Result<WithdrawalReceipt, AppError> {
        let (tenant, staff) = self.require_staff(ctx, StaffRole::Finance).await?;
        Ok(actions::act(
            self,
            ctx,
            tenant,
            staff,
            withdrawal_id,
            action,
            idempotency_key,
        )
        .await?)
    }

    async fn recheck(
        &self,
        ctx: &RequestCtx,
        withdrawal_id: WithdrawalId,
    ) -> Result<WithdrawalReceipt, AppError> {
        let (tenant, staff) = self.require_staff(ctx, StaffRole::Finance).await?;
        Ok(payout_actions::recheck(self, ctx, &tenant, &staff, withdrawal_id).await?)
    }

    async fn script_mock_payout(
        &self,
        ctx: &RequestCtx,
        withdrawal_id: WithdrawalId,
        outcome: String,
        failure_code: Option<String>,
    ) -> Result<WithdrawalReceipt, AppError> {
        let (tenant, staff) = self.require_staff(ctx, StaffRole::Finance).await?;
        Ok(mock_script::script(
            self,
            ctx,
            &tenant,
            &staff,
            withdrawal_id,
            outcome,
            failure_code,
        )
        .await?)
    }

    async fn policy(&self, ctx: &RequestCtx) -> Result<WithdrawalPolicy, AppError> {
        let (tenant, staff) = self.require_staff(ctx, StaffRole::Support).await?;
        Ok(policy::view(self, &tenant, &staff).await?)
    }

    async fn save_policy(
        &self,
        ctx: &RequestCtx,
        update: PolicyUpdate,
    ) -> Result<WithdrawalPolicy, AppError> {
        let (tenant, staff) = self.require_staff(ctx, StaffRole::Owner).await?;
        Ok(policy::save(self, ctx, &tenant, &staff, update).await?)
    }
}
