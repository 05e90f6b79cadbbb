//! The export forms: plain GET forms that download a filtered list as CSV from
//! `/admin/export/<list>.csv` (the server checks the staff session and streams the file).
//! They are ordinary HTML forms, not router forms, so the browser downloads the answer.

use leptos::prelude::*;

/// The withdrawal states, for the export filter.
const WITHDRAWAL_STATES: [&str; 6] = [
    "requested",
    "approved",
    "paying",
    "paid",
    "rejected",
    "payout_failed",
];
/// The deposit states, for the export filter.
const DEPOSIT_STATES: [&str; 5] = ["created", "pending", "captured", "failed", "expired"];

#[component]
pub fn ExportsCard() -> impl IntoView {
    view! {
        <section class="card" data-testid="exports">
            <h2>"Export as CSV"</h2>
            <p class="muted">"The file name carries the filter. Dates are UTC days, both included."</p>
            <form method="get" action="/admin/export/withdrawals.csv" class="filters" aria-label="Export withdrawals" data-testid="export-withdrawals">
                <label>"Withdrawals in state"
                    <select name="state">
                        <option value="">"Any"</option>
                        {WITHDRAWAL_STATES.iter().map(|state| view! { <option value=*state>{*state}</option> }).collect_view()}
                    </select>
                </label>
                <label>"From" <input name="from" type="date"/></label>
                <label>"Until" <input name="until" type="date"/></label>
                <button class="button" type="submit">"Export withdrawals"</button>
            </form>
            <form method="get" action="/admin/export/deposits.csv" class="filters" aria-label="Export deposits">
                <label>"Deposits in state"
                    <select name="state">
                        <option value="">"Any"</option>
                        {DEPOSIT_STATES.iter().map(|state| view! { <option value=*state>{*state}</option> }).collect_view()}
                    </select>
                </label>
                <label>"From" <input name="from" type="date"/></label>
                <label>"Until" <input name="until" type="date"/></label>
                <button class="button" type="submit">"Export deposits"</button>
            </form>
            <form method="get" action="/admin/export/journals.csv" class="filters" aria-label="Export journals">
                <label>"Journals of kind" <input name="kind" type="text" placeholder="deposit_capture"/></label>
                <label>"From" <input name="from" type="date"/></label>
                <label>"Until" <input name="until" type="date"/></label>
                <button class="button" type="submit">"Export journals"</button>
            </form>
        </section>
    }
}
