//! Kasa's pages, components and server functions, compiled to WASM for the browser (`hydrate`)
//! and into the server binary (`ssr`). Organised by feature: `auth/`, `wallet/`, `admin/`.
// Deep view types (the back office's tables) need more than the default 128 in the WASM build.
#![recursion_limit = "256"]

pub mod account;
pub mod admin;
#[cfg(feature = "ssr")]
pub mod api;
pub mod auth;
pub mod backoffice;
pub mod components;
pub mod deposits;
pub mod domain;
pub mod error;
pub mod money;
pub mod wallet;
pub mod withdrawals;

use leptos::prelude::*;
use leptos_meta::{MetaTags, Stylesheet, Title, provide_meta_context};
use leptos_router::components::{A, Route, Router, Routes};
use leptos_router::{SsrMode, path};

use crate::auth::{
    AuthProvider, LoginPage, LogoutButton, RegisterPage, StaffLoginPage, ViewerKind, use_auth,
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
                            <Route path=path!("/wallet") view=wallet::WalletPage/>
                            <Route path=path!("/deposit") view=deposits::DepositPage/>
                            <Route path=path!("/deposit/return") view=deposits::DepositReturnPage/>
                            <Route path=path!("/deposit/cancelled") view=deposits::DepositCancelledPage/>
                            <Route path=path!("/withdraw") view=withdrawals::pages::WithdrawPage/>
                            <Route path=path!("/account") view=account::AccountPage/>
                            <Route path=path!("/admin/login") view=StaffLoginPage/>
                            <Route path=path!("/admin/kyc") view=account::StaffKycPage/>
                            <Route path=path!("/admin/withdrawals") view=withdrawals::staff_pages::WithdrawalQueuePage/>
                            <Route path=path!("/admin/withdrawals/:id") view=withdrawals::staff_pages::WithdrawalDetailPage/>
                            <Route path=path!("/admin/settings") view=withdrawals::staff_pages::WithdrawalSettingsPage/>
                            <Route path=path!("/admin/security") view=auth::second_factor::SecurityPage/>
                            // Async: the page's HTTP status (401/403) is known before the first byte.
                            <Route path=path!("/admin") view=admin::AdminDashboardPage ssr=SsrMode::Async/>
                            <Route path=path!("/admin/figures") view=backoffice::FiguresPage ssr=SsrMode::Async/>
                            <Route path=path!("/admin/players") view=backoffice::PlayersPage ssr=SsrMode::Async/>
                            <Route path=path!("/admin/players/:id") view=backoffice::PlayerPage ssr=SsrMode::Async/>
                            <Route path=path!("/admin/ledger") view=backoffice::LedgerAccountsPage ssr=SsrMode::Async/>
                            <Route path=path!("/admin/ledger/accounts/:id") view=backoffice::LedgerAccountPage ssr=SsrMode::Async/>
                            <Route path=path!("/admin/ledger/journals/:id") view=backoffice::LedgerJournalPage ssr=SsrMode::Async/>
                            <Route path=path!("/admin/reconciliation") view=backoffice::ReconciliationPage ssr=SsrMode::Async/>
                            <Route path=path!("/admin/credits") view=backoffice::CreditRequestsPage ssr=SsrMode::Async/>
                            <Route path=path!("/admin/audit") view=backoffice::AuditLogPage ssr=SsrMode::Async/>
                            <Route path=path!("/admin/webhooks") view=backoffice::WebhookLogPage ssr=SsrMode::Async/>
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
