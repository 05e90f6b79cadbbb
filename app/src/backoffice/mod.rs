//! The finance back office under `/admin/…`: the dashboard, the figures, players, the ledger
//! explorer, reconciliation, the credit approvals, the webhook log and the audit log. Each section
//! keeps its types (`mod.rs`), server functions (`api.rs`) and pages (`pages.rs`) together; the
//! server implements `api::BackofficeApi`. Every server function checks the staff role on the
//! server: support reads, finance and owner act. Here: what the sections share.

#[cfg(feature = "ssr")]
pub mod api;
pub mod audit;
pub mod credits;
pub mod dashboard;
pub mod exports;
pub mod figures;
pub mod ledger;
pub mod pages;
pub mod players;
pub mod reconciliation;
pub mod webhooks;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The payment providers a list can be filtered by.
pub const PROVIDERS: [&str; 2] = ["mock", "stripe"];

/// The ledger integrity check's result, for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntegritySummary {
    pub ok: bool,
    pub checked_at: DateTime<Utc>,
    pub accounts_checked: i64,
    pub journals_checked: i64,
    pub transfers_checked: i64,
    /// One line per violation (kind and ids).
    pub violations: Vec<String>,
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
