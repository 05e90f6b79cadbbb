//! The back office's landing page: who is signed in, for which brand, and how many players the
//! brand has.

use app::backoffice::dashboard::StaffOverview;

use crate::auth::StaffMember;
use crate::error::ServerResult;
use crate::services::Services;
use crate::tenants::Tenant;

pub async fn overview(
    services: &Services,
    tenant: Tenant,
    staff: StaffMember,
) -> ServerResult<StaffOverview> {
    let player_count: i64 = sqlx::query_scalar("SELECT count(*) FROM players WHERE tenant_id = $1")
        .bind(tenant.id)
        .fetch_one(services.pool())
        .await?;
    Ok(StaffOverview {
        display_name: staff.display_name,
        role: staff.role,
        tenant_name: tenant.name,
        player_count,
    })
}
