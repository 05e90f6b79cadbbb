//! The operator's back office under `/admin`. Every server function here checks the staff role
//! itself; the pages only reflect what the server allows.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::auth::StaffRole;
use crate::components::ErrorPanel;
use crate::error::AppError;

/// The dashboard's header facts for the logged-in staff member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaffOverview {
    pub display_name: String,
    pub role: StaffRole,
    pub tenant_name: String,
    pub player_count: i64,
}

#[cfg(feature = "ssr")]
#[async_trait::async_trait]
pub trait AdminApi: Send + Sync {
    async fn overview(&self, ctx: &crate::api::RequestCtx) -> Result<StaffOverview, AppError>;
}

/// Any staff role may read the overview; players and anonymous callers may not.
#[server(endpoint = "admin/overview")]
pub async fn admin_overview() -> Result<StaffOverview, AppError> {
    crate::api::call::<dyn AdminApi, _, _, _>(|api, ctx| async move { api.overview(&ctx).await })
        .await
}

#[component]
pub fn AdminDashboardPage() -> impl IntoView {
    let overview = Resource::new(|| (), |_| admin_overview());
    view! {
        <Suspense fallback=|| view! { <p class="loading" aria-busy="true">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match overview.await {
                    Ok(overview) => view! {
                        <section class="card" data-testid="admin-dashboard">
                            <h1>"Back office"</h1>
                            <p>{overview.tenant_name.clone()}</p>
                            <dl class="facts">
                                <dt>"Signed in as"</dt><dd>{overview.display_name.clone()}</dd>
                                <dt>"Role"</dt>
                                <dd><span class="badge" data-testid="staff-role">{overview.role.as_str()}</span></dd>
                                <dt>"Players"</dt><dd>{overview.player_count}</dd>
                            </dl>
                        </section>
                    }.into_any(),
                    Err(error) if error.code == crate::error::ErrorCode::Unauthenticated => view! {
                        <section class="card narrow">
                            <h1>"Back office"</h1>
                            <p>"Please " <a href="/admin/login">"log in with your staff account"</a> "."</p>
                        </section>
                    }.into_any(),
                    Err(error) => view! { <ErrorPanel error/> }.into_any(),
                }
            })}
        </Suspense>
    }
}
