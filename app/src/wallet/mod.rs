//! The player's wallet: who is logged in now; balances and history arrive with the ledger.

use leptos::prelude::*;

use crate::auth::{ViewerKind, use_auth};
use crate::components::ErrorPanel;
use crate::error::AppError;

#[component]
pub fn WalletPage() -> impl IntoView {
    let auth = use_auth();
    view! {
        <Transition fallback=|| view! { <p class="loading" aria-busy="true">"Loading your wallet…"</p> }>
            {move || Suspend::new(async move {
                match auth.viewer.await {
                    Ok(Some(viewer)) if viewer.kind == ViewerKind::Player => view! {
                        <section class="card" data-testid="wallet">
                            <h1>"Your wallet"</h1>
                            <p>"Signed in as " <strong data-testid="viewer-email">{viewer.email.clone()}</strong>
                               " at " {viewer.tenant_name.clone()} "."</p>
                            <p class="muted">"Balances and history appear here once money moves."</p>
                        </section>
                    }.into_any(),
                    Ok(Some(_)) => view! { <ErrorPanel error=AppError::new(crate::error::ErrorCode::Forbidden, "The wallet is for player accounts; staff use the back office.")/> }.into_any(),
                    Ok(None) => view! {
                        <section class="card narrow">
                            <h1>"Your wallet"</h1>
                            <p>"Please " <a href="/login">"log in"</a> " to see your wallet."</p>
                        </section>
                    }.into_any(),
                    Err(error) => view! { <ErrorPanel error/> }.into_any(),
                }
            })}
        </Transition>
    }
}
