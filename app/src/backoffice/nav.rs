//! The back office's navigation, and how its pages answer a viewer who may not see them.

use leptos::prelude::*;

use crate::components::ErrorPanel;
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

/// A query-string parameter as a filter: trimmed, and absent when empty.
pub fn query_text(query: &leptos_router::params::ParamsMap, name: &str) -> Option<String> {
    query
        .get(name)
        .map(|value| value.trim().to_owned())
        .filter(|value| !value.is_empty())
}

/// A query string from `(name, value)` pairs, leaving out absent values.
pub fn query_string(pairs: &[(&str, Option<String>)]) -> String {
    let encoded: Vec<String> = pairs
        .iter()
        .filter_map(|(name, value)| {
            value
                .as_ref()
                .map(|value| format!("{name}={}", encode_component(value)))
        })
        .collect();
    if encoded.is_empty() {
        String::new()
    } else {
        format!("?{}", encoded.join("&"))
    }
}

/// Percent-encodes everything but unreserved characters (RFC 3986).
fn encode_component(value: &str) -> String {
    let mut encoded = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    use super::*;

    // Proves filter links keep every given filter, encoded, and drop absent ones.
    #[test]
    fn query_strings_encode_and_skip_absent_values() {
        assert_eq!(
            query_string(&[
                ("actor", Some("finance@demo.kasa.test".into())),
                ("action", None),
                ("target", Some("deposit:1 2&3".into())),
            ]),
            "?actor=finance%40demo.kasa.test&target=deposit%3A1%202%263"
        );
        assert_eq!(query_string(&[("actor", None)]), "");
    }
}
