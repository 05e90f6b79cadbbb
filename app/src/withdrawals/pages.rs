//! The player's withdraw page.

use leptos::prelude::*;

#[component]
pub fn WithdrawPage() -> impl IntoView {
    view! { <section class="card narrow"><h1>"Withdraw"</h1></section> }
}
