//! What can be exported: each list's file name, header and filter, the filter checked once
//! before streaming starts.

use std::collections::HashMap;

use app::backoffice::audit::AuditFilter;
use app::backoffice::reconciliation::FindingFilter;
use app::domain::ids::TenantId;
use app::domain::money::Currency;
use app::error::AppError;
use chrono::{DateTime, Utc};
use sqlx::PgPool;

use super::FILE_NAME_LENGTH_MAX;
use crate::backoffice::reconciliation::findings;
use crate::backoffice::{audit_log, filter_text, parse_day};
use crate::error::ServerResult;

/// The lists that can be exported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum List {
    Withdrawals,
    Deposits,
    Journals,
    Findings,
    Audit,
}

impl List {
    pub fn from_file(file: &str) -> Option<List> {
        Some(match file.strip_suffix(".csv")? {
            "withdrawals" => List::Withdrawals,
            "deposits" => List::Deposits,
            "journals" => List::Journals,
            "findings" => List::Findings,
            "audit" => List::Audit,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            List::Withdrawals => "withdrawals",
            List::Deposits => "deposits",
            List::Journals => "journals",
            List::Findings => "findings",
            List::Audit => "audit",
        }
    }

    /// The query parameters this list filters by, in file-name order.
    fn filter_names(self) -> &'static [&'static str] {
        match self {
            List::Withdrawals => &["state", "currency", "from", "until"],
            List::Deposits => &["state", "provider", "currency", "from", "until"],
            List::Journals => &["kind", "reference", "from", "until"],
            List::Findings => &["status", "kind", "provider"],
            List::Audit => &["actor", "action", "target", "from", "until"],
        }
    }

    pub fn header(self) -> &'static [&'static str] {
        match self {
            List::Withdrawals => &[
                "id",
                "created_at",
                "player_email",
                "amount",
                "currency",
                "state",
                "approved_at",
                "paid_at",
                "reject_reason",
                "external_reference",
            ],
            List::Deposits => &[
                "id",
                "created_at",
                "player_email",
                "provider",
                "amount",
                "currency",
                "state",
                "provider_session_id",
                "captured_at",
                "failure_code",
            ],
            List::Journals => &[
                "journal_id",
                "posted_at",
                "kind",
                "reference",
                "idempotency_key",
                "ordinal",
                "debit_account",
                "credit_account",
                "amount",
                "currency",
            ],
            List::Findings => &[
                "id",
                "provider",
                "reference",
                "kind",
                "severity",
                "status",
                "psp_status",
                "ledger_status",
                "psp_amount",
                "ledger_amount",
                "currency",
                "message",
                "first_seen_at",
                "last_seen_at",
                "resolved_at",
                "resolved_by",
                "resolution_note",
            ],
            List::Audit => &[
                "seq",
                "at",
                "actor_type",
                "actor_id",
                "actor",
                "action",
                "target_type",
                "target_id",
                "reason",
                "request_id",
                "idempotency_key",
                "ip",
                "before",
                "after",
                "hash",
            ],
        }
    }
}

/// A list's filter, checked once before streaming starts.
#[derive(Debug, Clone)]
pub struct Filter {
    pub values: HashMap<String, String>,
    pub from: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub audit: Option<audit_log::AuditSearch>,
    pub findings: Option<findings::CheckedFilter>,
}

impl Filter {
    pub fn text(&self, name: &str) -> Option<String> {
        filter_text(&self.values.get(name).cloned())
    }
}

pub async fn check_filter(
    pool: &PgPool,
    tenant_id: TenantId,
    list: List,
    query: &HashMap<String, String>,
) -> ServerResult<Filter> {
    let values: HashMap<String, String> = list
        .filter_names()
        .iter()
        .filter_map(|name| {
            filter_text(&query.get(*name).cloned()).map(|value| ((*name).to_owned(), value))
        })
        .collect();
    if let Some(currency) = values.get("currency") {
        Currency::parse(currency)
            .map_err(|_| AppError::invalid("currency", "Choose a supported currency."))?;
    }
    let get = |name: &str| values.get(name).cloned();
    let audit = match list {
        List::Audit => Some(
            audit_log::AuditSearch::resolve(
                pool,
                tenant_id,
                &AuditFilter {
                    actor: get("actor"),
                    action: get("action"),
                    target: get("target"),
                    from: get("from"),
                    until: get("until"),
                    before: None,
                },
            )
            .await?,
        ),
        _ => None,
    };
    let findings = match list {
        List::Findings => Some(findings::checked_filter(&FindingFilter {
            status: get("status"),
            kind: get("kind"),
            provider: get("provider"),
            offset: None,
        })?),
        _ => None,
    };
    Ok(Filter {
        from: parse_day("from", values.get("from").map(String::as_str), false)?,
        until: parse_day("until", values.get("until").map(String::as_str), true)?,
        values,
        audit,
        findings,
    })
}

/// `withdrawals_state-requested_from-2025-01-01.csv`: the list and its filter, in characters
/// that are safe in any file system.
pub fn file_name(list: List, filter: &Filter) -> String {
    let mut name = list.name().to_owned();
    for key in list.filter_names() {
        if let Some(value) = filter.values.get(*key) {
            let value: String = value
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                        c
                    } else {
                        '-'
                    }
                })
                .collect();
            name.push_str(&format!("_{key}-{value}"));
        }
    }
    name.truncate(FILE_NAME_LENGTH_MAX);
    name.push_str(".csv");
    name
}
