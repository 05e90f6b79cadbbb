//! The back office's dashboard (`/admin`): who is signed in, the ledger integrity check and the
//! manual adjustment form. Every server function here checks the staff role itself; the page only
//! reflects what the server allows.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use super::IntegritySummary;
use super::pages::{BackofficeNav, staff_section};
use crate::auth::StaffRole;
use crate::components::{FieldError, FormError, action_error, action_idempotency_key};
use crate::domain::money::SignedMoney;
use crate::error::AppError;

/// The dashboard's header facts for the logged-in staff member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaffOverview {
    pub display_name: String,
    pub role: StaffRole,
    pub tenant_name: String,
    pub player_count: i64,
}

/// Which way a manual adjustment moves money, seen from the player.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AdjustmentDirection {
    Credit,
    Debit,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdjustmentReceipt {
    /// The journal a debit posted at once; `None` while a credit waits for approval.
    pub journal_id: Option<uuid::Uuid>,
    /// The request a credit became: it posts only when a second, different finance or owner
    /// staff member approves it (`/admin/credits`).
    pub credit_request_id: Option<uuid::Uuid>,
    /// True when this key was already used for the same adjustment: nothing happened again.
    pub replayed: bool,
    /// The player's available balance in the adjustment's currency afterwards.
    pub available_after: SignedMoney,
}

/// Longest reason staff may give for an adjustment.
pub const ADJUSTMENT_REASON_LENGTH_MAX: usize = 500;

#[cfg(feature = "ssr")]
#[async_trait::async_trait]
pub trait DashboardApi: Send + Sync {
    async fn overview(&self, ctx: &crate::api::RequestCtx) -> Result<StaffOverview, AppError>;
    #[allow(clippy::too_many_arguments)]
    async fn post_adjustment(
        &self,
        ctx: &crate::api::RequestCtx,
        player_email: String,
        currency: String,
        amount: String,
        direction: AdjustmentDirection,
        reason: String,
        idempotency_key: String,
    ) -> Result<AdjustmentReceipt, AppError>;
    async fn integrity_check(
        &self,
        ctx: &crate::api::RequestCtx,
    ) -> Result<IntegritySummary, AppError>;
}

/// Any staff role may read the overview; players and anonymous callers may not.
#[server(endpoint = "admin/overview")]
pub async fn admin_overview() -> Result<StaffOverview, AppError> {
    crate::api::serve!(DashboardApi::overview())
}

/// Finance or owner: a manual correction of a player's balance, with a required reason, against
/// the adjustments account. A debit posts at once as its own `adjustment` journal; a credit is a
/// request that a second, different finance or owner staff member must approve before it posts.
#[server(endpoint = "admin/adjustments")]
pub async fn post_adjustment(
    player_email: String,
    currency: String,
    amount: String,
    direction: AdjustmentDirection,
    reason: String,
    idempotency_key: String,
) -> Result<AdjustmentReceipt, AppError> {
    crate::api::serve!(DashboardApi::post_adjustment(
        player_email,
        currency,
        amount,
        direction,
        reason,
        idempotency_key
    ))
}

/// Any staff role: runs the ledger integrity check for this tenant.
#[server(endpoint = "admin/integrity-check")]
pub async fn run_integrity_check() -> Result<IntegritySummary, AppError> {
    crate::api::serve!(DashboardApi::integrity_check())
}

#[component]
pub fn AdminDashboardPage() -> impl IntoView {
    let overview = Resource::new(|| (), |_| admin_overview());
    // An anonymous viewer is shown the staff log-in link (see `page_error`).
    staff_section(overview, |overview| {
        let may_adjust = overview.role >= StaffRole::Finance;
        view! {
            <BackofficeNav current="/admin"/>
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
            <IntegrityCard/>
            {may_adjust.then(|| view! { <AdjustmentCard/> })}
        }
    })
}

#[component]
fn IntegrityCard() -> impl IntoView {
    let action = ServerAction::<RunIntegrityCheck>::new();
    view! {
        <section class="card" data-testid="integrity">
            <h2>"Ledger integrity"</h2>
            <p class="muted">"Every journal sums to zero, balances sum to zero per currency, snapshots equal their transfers, no player is negative."</p>
            <ActionForm action=action attr:class="inline">
                <button class="button" type="submit" disabled=move || action.pending().get()>
                    {move || if action.pending().get() { "Checking…" } else { "Run integrity check" }}
                </button>
            </ActionForm>
            {move || action.value().get().map(|result| match result {
                Ok(summary) => view! {
                    <div class="result" role="status">
                        {if summary.ok {
                            view! { <span class="badge success" data-testid="integrity-result">"passed"</span> }.into_any()
                        } else {
                            view! { <span class="badge danger" data-testid="integrity-result">"failed"</span> }.into_any()
                        }}
                        <span class="muted">
                            {format!(" {} journals, {} transfers, {} accounts checked at {}",
                                summary.journals_checked, summary.transfers_checked, summary.accounts_checked,
                                summary.checked_at.format("%Y-%m-%d %H:%M:%S UTC"))}
                        </span>
                        <ul>{summary.violations.into_iter().map(|violation| view! { <li>{violation}</li> }).collect_view()}</ul>
                    </div>
                }.into_any(),
                Err(error) => view! { <p class="form-error" role="alert">{error.message}</p> }.into_any(),
            })}
        </section>
    }
}

#[component]
fn AdjustmentCard() -> impl IntoView {
    let action = ServerAction::<PostAdjustment>::new();
    let key = action_idempotency_key(action);
    let error = action_error(action);
    view! {
        <section class="card" data-testid="adjustment">
            <h2>"Manual adjustment"</h2>
            <p class="muted">"Corrects a player's balance through the adjustments account. A debit posts at once; a credit waits until a second staff member approves it on "<a href="/admin/credits">"Credit approvals"</a>". The reason is kept with the journal."</p>
            <ActionForm action=action attr:class="form" attr:aria-label="Manual adjustment">
                <FormError error/>
                <input type="hidden" name="idempotency_key" prop:value=move || key.get()/>
                <label for="player_email">"Player email"</label>
                <input id="player_email" name="player_email" type="email" required/>
                <label for="direction">"Direction"</label>
                <select id="direction" name="direction">
                    <option value="credit">"Credit the player"</option>
                    <option value="debit">"Debit the player"</option>
                </select>
                <label for="currency">"Currency"</label>
                <select id="currency" name="currency">
                    <option value="EUR">"EUR"</option>
                    <option value="USD">"USD"</option>
                    <option value="GBP">"GBP"</option>
                    <option value="TRY">"TRY"</option>
                    <option value="JPY">"JPY"</option>
                </select>
                <label for="amount">"Amount"</label>
                <input id="amount" name="amount" type="text" inputmode="decimal" required placeholder="25.00"/>
                <FieldError error field="amount"/>
                <label for="reason">"Reason"</label>
                <textarea id="reason" name="reason" required maxlength="500"></textarea>
                <FieldError error field="reason"/>
                <button class="button primary" type="submit" disabled=move || action.pending().get() || key.with(String::is_empty)>
                    {move || if action.pending().get() { "Sending…" } else { "Post adjustment" }}
                </button>
            </ActionForm>
            {move || action.value().get().and_then(Result::ok).map(|receipt| view! {
                <p class="result" role="status" data-testid="adjustment-result">
                    {match (receipt.credit_request_id.is_some(), receipt.replayed) {
                        (true, true) => "Already requested. ",
                        (true, false) => "Requested: a second staff member must approve this credit before it posts. ",
                        (false, true) => "Already posted. ",
                        (false, false) => "Posted. ",
                    }}
                    "Available now: " {receipt.available_after.to_string()}
                </p>
            })}
        </section>
    }
}
