//! What every back-office page shows around its content: the section navigation, and the answer to
//! a viewer who may not see the page.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use super::query_text;
use crate::components::{ErrorPanel, Wait, load_view};
use crate::error::{AppError, ErrorCode};

/// The back office's sections, as (path, label).
const SECTIONS: [(&str, &str); 12] = [
    ("/admin", "Overview"),
    ("/admin/figures", "Figures"),
    ("/admin/withdrawals", "Withdrawals"),
    ("/admin/players", "Players"),
    ("/admin/kyc", "KYC"),
    ("/admin/ledger", "Ledger"),
    ("/admin/reconciliation", "Reconciliation"),
    ("/admin/credits", "Credit approvals"),
    ("/admin/webhooks", "Webhooks"),
    ("/admin/audit", "Audit log"),
    ("/admin/settings", "Settings"),
    ("/admin/security", "Security"),
];

/// Links to every back-office section; `current` is the path of the page showing it.
#[component]
pub fn BackofficeNav(current: &'static str) -> impl IntoView {
    view! {
        <nav class="backoffice-nav" aria-label="Back office">
            <ul>
                {SECTIONS.iter().map(|(path, label)| {
                    let here = *path == current;
                    view! {
                        <li>
                            <a href=*path aria-current=here.then_some("page") class:current=here>{*label}</a>
                        </li>
                    }
                }).collect_view()}
            </ul>
        </nav>
    }
}

/// A back-office page's answer to an error loading it: a log-in link for anonymous viewers,
/// else the error panel.
pub fn page_error(error: AppError) -> AnyView {
    if error.code == ErrorCode::Unauthenticated {
        view! {
            <section class="card narrow">
                <h1>"Back office"</h1>
                <p>"Please " <a href="/admin/login">"log in with your staff account"</a> "."</p>
            </section>
        }
        .into_any()
    } else {
        view! { <ErrorPanel error/> }.into_any()
    }
}

/// A back-office section that loads `resource`: `Loading…` meanwhile, then `view` of the value,
/// or [`page_error`] of the error.
pub fn staff_section<T, V>(
    resource: Resource<Result<T, AppError>>,
    view: impl Fn(T) -> V + Clone + Send + Sync + 'static,
) -> AnyView
where
    T: Clone + Send + Sync + 'static,
    V: IntoView + 'static,
{
    load_view(resource, Wait::Suspense, "Loading…", page_error, view)
}

/// One filter of a back-office list: a select named `name` offering "Any" and `options`, with
/// the option the query string names selected.
#[component]
pub fn FilterSelect(
    label: &'static str,
    name: &'static str,
    options: &'static [&'static str],
) -> impl IntoView {
    let query = use_query_map();
    let selected = move |value: &'static str| {
        move || query.with(|query| query_text(query, name).as_deref() == Some(value))
    };
    view! {
        <label>{label}
            <select name=name>
                <option value="">"Any"</option>
                {options.iter().map(|option| view! {
                    <option value=*option selected=selected(option)>{*option}</option>
                }).collect_view()}
            </select>
        </label>
    }
}

/// The link to a list's next page.
pub fn pager(href: String, label: &'static str) -> impl IntoView {
    view! { <p class="pager"><a class="button small" href=href>{label}</a></p> }
}
