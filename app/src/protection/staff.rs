//! The staff KYC page (`/admin/kyc`): find a player by email, see their KYC history, limits and
//! self-exclusion, and move their KYC state on with a note. Support or above; staff can see a
//! self-exclusion but nothing here can shorten it.

use leptos::prelude::*;
use uuid::Uuid;

#[cfg(feature = "ssr")]
use super::ProtectionApi;
use super::{KYC_NOTE_LENGTH_MAX, KycState, PlayerProtectionView};
use crate::auth::use_auth;
use crate::components::{ErrorPanel, FieldError, FormError, action_error};
use crate::error::{AppError, ErrorCode};

/// Support or above: a player's protection state, found by email in this tenant.
#[server(endpoint = "admin/kyc/find")]
pub async fn find_player_kyc(email: String) -> Result<PlayerProtectionView, AppError> {
    crate::api::call::<dyn ProtectionApi, _, _, _>(|api, ctx| async move {
        api.find_player(&ctx, email).await
    })
    .await
}

/// Support or above: moves a player's KYC state on (see `KycState::next_states`), with a note.
/// Asking for the state the player is already in changes nothing.
#[server(endpoint = "admin/kyc/set")]
pub async fn set_kyc_state(
    player_id: Uuid,
    state: KycState,
    note: String,
) -> Result<PlayerProtectionView, AppError> {
    crate::api::call::<dyn ProtectionApi, _, _, _>(|api, ctx| async move {
        api.set_kyc_state(&ctx, player_id, state, note).await
    })
    .await
}

#[component]
pub fn StaffKycPage() -> impl IntoView {
    let auth = use_auth();
    view! {
        <crate::backoffice::BackofficeNav current="/admin/kyc"/>
        <Transition fallback=|| view! { <p class="loading" aria-busy="true">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match auth.viewer.await {
                    Ok(Some(viewer)) if viewer.staff_role().is_some() => view! { <KycSearch/> }.into_any(),
                    Ok(Some(_)) => view! {
                        <ErrorPanel error=AppError::new(ErrorCode::Forbidden, "This page is for staff accounts.")/>
                    }.into_any(),
                    Ok(None) => view! {
                        <section class="card narrow">
                            <h1>"Identity verification"</h1>
                            <p>"Please " <a href="/admin/login">"log in with your staff account"</a> "."</p>
                        </section>
                    }.into_any(),
                    Err(error) => view! { <ErrorPanel error/> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn KycSearch() -> impl IntoView {
    let find = ServerAction::<FindPlayerKyc>::new();
    let set = ServerAction::<SetKycState>::new();
    // The player on screen: the latest search result, replaced by the answer to each decision.
    let shown = RwSignal::new(None::<PlayerProtectionView>);
    Effect::new(move |_| {
        if let Some(Ok(player)) = find.value().get() {
            shown.set(Some(player));
        }
    });
    Effect::new(move |_| {
        if let Some(Ok(player)) = set.value().get() {
            shown.set(Some(player));
        }
    });
    let find_error = action_error(find);
    view! {
        <section class="card" data-testid="staff-kyc">
            <h1>"Identity verification"</h1>
            <p class="muted">"Find a player by email to see and change their KYC state. Self-exclusions are shown here; only time ends them."</p>
            <ActionForm action=find attr:class="form" attr:aria-label="Find a player">
                <FormError error=find_error/>
                <label for="kyc-email">"Player email"</label>
                <input id="kyc-email" name="email" type="email" required/>
                <FieldError error=find_error field="email"/>
                <button class="button" type="submit" data-testid="kyc-find" disabled=move || find.pending().get()>"Find"</button>
            </ActionForm>
        </section>
        {move || shown.get().map(|player| view! { <PlayerProtection player set/> })}
    }
}

#[component]
fn PlayerProtection(player: PlayerProtectionView, set: ServerAction<SetKycState>) -> impl IntoView {
    let error = action_error(set);
    let next = player.kyc.next_states();
    view! {
        <section class="card" data-testid="kyc-player">
            <h2>{player.display_name.clone()} " " <span class="muted">{player.email.clone()}</span></h2>
            <dl class="facts">
                <dt>"KYC"</dt>
                <dd><KycBadge state=player.kyc/></dd>
                <dt>"Self-exclusion"</dt>
                <dd data-testid="kyc-exclusion">{match &player.self_exclusion {
                    Some(exclusion) => format!("Excluded {} (chosen {})", exclusion.until_text(), exclusion.period.label().to_lowercase()),
                    None => "None".to_owned(),
                }}</dd>
                <dt>"Deposit limits"</dt>
                <dd>{if player.limits.is_empty() {
                    "None".to_owned()
                } else {
                    player.limits.iter().map(|limit| format!("{} {}", limit.period.adjective(), limit.limit)).collect::<Vec<_>>().join(", ")
                }}</dd>
            </dl>
            {if next.is_empty() {
                view! { <p class="muted">"Verified players need no further decision."</p> }.into_any()
            } else {
                view! {
                    <ActionForm action=set attr:class="form" attr:aria-label="KYC decision">
                        <FormError error/>
                        <input type="hidden" name="player_id" value=player.player_id.to_string()/>
                        <fieldset class="choices">
                            <legend>"New state"</legend>
                            {next.iter().enumerate().map(|(index, state)| view! {
                                <label class="choice">
                                    <input type="radio" name="state" value=state.as_str() checked=index == 0
                                        data-testid=format!("kyc-state-{}", state.as_str())/>
                                    {state.label()}
                                </label>
                            }).collect_view()}
                        </fieldset>
                        <label for="kyc-note">"Note"</label>
                        <textarea id="kyc-note" name="note" required maxlength=KYC_NOTE_LENGTH_MAX></textarea>
                        <FieldError error field="note"/>
                        <button class="button primary" type="submit" data-testid="kyc-submit" disabled=move || set.pending().get()>
                            {move || if set.pending().get() { "Saving…" } else { "Save decision" }}
                        </button>
                    </ActionForm>
                }.into_any()
            }}
            <h3>"History"</h3>
            {if player.kyc_history.is_empty() {
                view! { <p class="empty">"No decisions yet."</p> }.into_any()
            } else {
                view! {
                    <div class="table-wrap">
                        <table class="table" data-testid="kyc-history">
                            <thead><tr><th>"When"</th><th>"Change"</th><th>"By"</th><th>"Note"</th></tr></thead>
                            <tbody>
                                {player.kyc_history.into_iter().map(|review| view! {
                                    <tr>
                                        <td>{review.at.format("%Y-%m-%d %H:%M").to_string()}</td>
                                        <td>{review.from.as_str()} " → " {review.to.as_str()}</td>
                                        <td>{review.staff_name}</td>
                                        <td class="note">{review.note}</td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                }.into_any()
            }}
        </section>
    }
}

/// A KYC state as a coloured badge.
#[component]
pub fn KycBadge(state: KycState) -> impl IntoView {
    let tone = match state {
        KycState::Verified => "badge success",
        KycState::Rejected => "badge danger",
        KycState::Pending => "badge warning",
        KycState::Unverified => "badge",
    };
    view! { <span class=tone data-testid="kyc-state" data-state=state.as_str()>{state.label()}</span> }
}
