//! Kasa's pages, components and server functions, compiled to WASM for the browser (`hydrate`)
//! and into the server binary (`ssr`). Organised by feature: `auth/`, `wallet/`, `backoffice/`, …
// Deep view types (the back office's tables) need more than the default 128 in the WASM build.
#![recursion_limit = "256"]

#[cfg(feature = "ssr")]
pub mod api;
pub mod auth;
pub mod backoffice;
pub mod components;
pub mod deposits;
pub mod domain;
pub mod error;
pub mod games;
pub mod protection;
pub mod wallet;
pub mod withdrawals;

use leptos::prelude::*;
use leptos_meta::{MetaTags, Stylesheet, Title, provide_meta_context};
use leptos_router::components::{A, Route, Router, Routes};
use leptos_router::{SsrMode, path};

use crate::auth::ViewerKind;
use crate::auth::pages::{
    AuthProvider, LoginPage, LogoutButton, RegisterPage, StaffLoginPage, use_auth,
};
use crate::backoffice::{
    audit, credits, dashboard, figures, ledger, players, reconciliation, webhooks,
};

/// The HTML document around the app, rendered on the server.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <AutoReload options=options.clone()/>
                <HydrationScripts options/>
                <link rel="icon" href="/favicon.svg" type="image/svg+xml"/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    // Set only once the WASM has hydrated the page: tests wait for it before clicking.
    let hydrated = RwSignal::new(false);
    Effect::new(move |_| hydrated.set(true));
    view! {
        <Stylesheet id="leptos" href="/pkg/kasa.css"/>
        <Title text="Kasa"/>
        <AuthProvider>
            <Router>
                <div class="app" data-hydrated=move || hydrated.get().to_string()>
                    <Header/>
                    <main id="main" class="container">
                        <Routes fallback=|| view! { <section class="card narrow"><h1>"Page not found"</h1></section> }>
                            <Route path=path!("/") view=HomePage/>
                            <Route path=path!("/login") view=LoginPage/>
                            <Route path=path!("/register") view=RegisterPage/>
                            <Route path=path!("/wallet") view=wallet::pages::WalletPage/>
                            <Route path=path!("/deposit") view=deposits::pages::DepositPage/>
                            <Route path=path!("/deposit/return") view=deposits::pages::DepositReturnPage/>
                            <Route path=path!("/deposit/cancelled") view=deposits::pages::DepositCancelledPage/>
                            <Route path=path!("/withdraw") view=withdrawals::pages::WithdrawPage/>
                            <Route path=path!("/account") view=protection::pages::AccountPage/>
                            <Route path=path!("/games") view=games::pages::GamesPage/>
                            <Route path=path!("/admin/login") view=StaffLoginPage/>
                            <Route path=path!("/admin/kyc") view=protection::pages::StaffKycPage/>
                            <Route path=path!("/admin/withdrawals") view=withdrawals::staff_pages::WithdrawalQueuePage/>
                            <Route path=path!("/admin/withdrawals/:id") view=withdrawals::staff_pages::WithdrawalDetailPage/>
                            <Route path=path!("/admin/settings") view=withdrawals::staff_pages::WithdrawalSettingsPage/>
                            <Route path=path!("/admin/security") view=auth::second_factor::pages::SecurityPage/>
                            // Async: the page's HTTP status (401/403) is known before the first byte.
                            <Route path=path!("/admin") view=dashboard::AdminDashboardPage ssr=SsrMode::Async/>
                            <Route path=path!("/admin/figures") view=figures::pages::FiguresPage ssr=SsrMode::Async/>
                            <Route path=path!("/admin/players") view=players::pages::PlayersPage ssr=SsrMode::Async/>
                            <Route path=path!("/admin/players/:id") view=players::pages::PlayerPage ssr=SsrMode::Async/>
                            <Route path=path!("/admin/ledger") view=ledger::pages::LedgerAccountsPage ssr=SsrMode::Async/>
                            <Route path=path!("/admin/ledger/accounts/:id") view=ledger::pages::LedgerAccountPage ssr=SsrMode::Async/>
                            <Route path=path!("/admin/ledger/journals/:id") view=ledger::pages::LedgerJournalPage ssr=SsrMode::Async/>
                            <Route path=path!("/admin/reconciliation") view=reconciliation::pages::ReconciliationPage ssr=SsrMode::Async/>
                            <Route path=path!("/admin/credits") view=credits::pages::CreditRequestsPage ssr=SsrMode::Async/>
                            <Route path=path!("/admin/audit") view=audit::pages::AuditLogPage ssr=SsrMode::Async/>
                            <Route path=path!("/admin/webhooks") view=webhooks::pages::WebhookLogPage ssr=SsrMode::Async/>
                        </Routes>
                    </main>
                </div>
            </Router>
        </AuthProvider>
    }
}

#[component]
fn Header() -> impl IntoView {
    let auth = use_auth();
    view! {
        <header class="topbar">
            <a class="skip-link" href="#main">"Skip to content"</a>
            <A href="/" attr:class="brand">"Kasa"</A>
            <nav aria-label="Main">
                <Transition fallback=|| ()>
                    {move || Suspend::new(async move {
                        match auth.viewer.await {
                            Ok(Some(viewer)) => {
                                let home = if viewer.kind == ViewerKind::Player { "/wallet" } else { "/admin" };
                                view! {
                                    <A href=home>{if viewer.kind == ViewerKind::Player { "Wallet" } else { "Back office" }}</A>
                                    {(viewer.kind == ViewerKind::Player).then(|| view! { <A href="/games">"Games"</A> })}
                                    <span class="muted" data-testid="nav-viewer">{viewer.display_name.clone()}</span>
                                    <LogoutButton/>
                                }.into_any()
                            }
                            _ => view! {
                                <A href="/login">"Log in"</A>
                                <A href="/register" attr:class="button primary small">"Register"</A>
                            }.into_any(),
                        }
                    })}
                </Transition>
            </nav>
        </header>
    }
}

#[component]
fn HomePage() -> impl IntoView {
    view! {
        <section class="hero">
            <h1>"Your casino wallet"</h1>
            <p class="lead">"Deposit, play and withdraw with balances you can trust."</p>
            <p class="actions">
                <a class="button primary" href="/register">"Create an account"</a>
                <a class="button" href="/login">"Log in"</a>
            </p>
            <p class="muted"><a href="/admin/login">"Staff: back office"</a></p>
        </section>
    }
}
