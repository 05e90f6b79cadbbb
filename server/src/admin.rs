//! The back office's server side; each function checks the staff role itself.

use app::admin::{AdminApi, StaffOverview};
use app::api::RequestCtx;
use app::auth::StaffRole;
use app::error::AppError;

use crate::services::{Services, internal};

#[async_trait::async_trait]
impl AdminApi for Services {
    async fn overview(&self, ctx: &RequestCtx) -> Result<StaffOverview, AppError> {
        let (tenant, staff) = self.require_staff(ctx, StaffRole::Support).await?;
        let player_count: i64 =
            sqlx::query_scalar("SELECT count(*) FROM players WHERE tenant_id = $1")
                .bind(tenant.id)
                .fetch_one(self.pool())
                .await
                .map_err(internal)?;
        Ok(StaffOverview {
            display_name: staff.display_name,
            role: staff.role,
            tenant_name: tenant.name,
            player_count,
        })
    }
}
