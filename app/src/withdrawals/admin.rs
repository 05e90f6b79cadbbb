//! The staff pages.

use leptos::prelude::*;

#[component]
pub fn WithdrawalQueuePage() -> impl IntoView {
    view! { <section class="card"><h1>"Withdrawals"</h1></section> }
}

#[component]
pub fn WithdrawalDetailPage() -> impl IntoView {
    view! { <section class="card"><h1>"Withdrawal"</h1></section> }
}

#[component]
pub fn WithdrawalSettingsPage() -> impl IntoView {
    view! { <section class="card"><h1>"Settings"</h1></section> }
}
