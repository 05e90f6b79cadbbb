//! Reconciliation's vocabulary: what the PSPs say about checkouts and payouts, the findings a
//! comparison stores (kind, severity, status), the credit requests that correct them (four
//! eyes), and the statuses of stored PSP events. Each is an enum decoded once from its stored
//! text; the text (`as_str`, and serde on the wire) is exactly what the database holds, and an
//! unknown stored value is an error, never a default.

use serde::{Deserialize, Serialize};

/// A stored text that names no variant of the enum it was read as.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what}: {value:?}")]
pub struct UnknownValue {
    pub what: &'static str,
    pub value: String,
}

/// An enum stored as text: each variant with its one spelling, used by `as_str`, `parse`,
/// `TryFrom<String>` (rows decode through it) and serde alike.
macro_rules! text_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident ($what:literal) {
            $($(#[$variant_meta:meta])* $variant:ident = $text:literal,)+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$variant_meta])* #[serde(rename = $text)] $variant,)+
        }

        impl $name {
            /// Every variant, in the order offered to staff.
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }

            pub fn parse(text: &str) -> Option<$name> {
                match text {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl TryFrom<String> for $name {
            type Error = UnknownValue;

            fn try_from(text: String) -> Result<$name, UnknownValue> {
                $name::parse(&text).ok_or(UnknownValue { what: $what, value: text })
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                formatter.write_str(self.as_str())
            }
        }
    };
}

text_enum! {
    /// What a finding says is wrong.
    pub enum FindingKind ("finding kind") {
        /// The PSP took or paid money that no journal records.
        MissingInLedger = "missing_in_ledger",
        /// We have a checkout or payout the PSP does not know.
        MissingAtPsp = "missing_at_psp",
        /// The PSP's amount differs from ours, or from what the ledger moved.
        AmountMismatch = "amount_mismatch",
        /// The two sides' states disagree.
        StatusMismatch = "status_mismatch",
    }
}

text_enum! {
    /// How much a finding matters: `high` when money may be wrong (`medium` and `critical` are
    /// reserved for rules that need judgement).
    pub enum FindingSeverity ("finding severity") {
        Low = "low",
        Medium = "medium",
        High = "high",
        Critical = "critical",
    }
}

text_enum! {
    pub enum FindingStatus ("finding status") {
        Open = "open",
        Resolved = "resolved",
    }
}

text_enum! {
    /// A checkout as the PSP reports it.
    pub enum PspCheckoutStatus ("PSP checkout status") {
        Open = "open",
        Processing = "processing",
        Paid = "paid",
        Failed = "failed",
        Expired = "expired",
    }
}

text_enum! {
    /// A payout as the PSP reports it.
    pub enum PspPayoutStatus ("PSP payout status") {
        Pending = "pending",
        Succeeded = "succeeded",
        Failed = "failed",
    }
}

text_enum! {
    /// A credit request waits for a second staff member, who approves (it posts) or declines it.
    pub enum CreditRequestState ("credit request state") {
        Pending = "pending",
        Approved = "approved",
        Declined = "declined",
    }
}

text_enum! {
    /// Where a credit request comes from.
    pub enum CreditRequestSource ("credit request source") {
        /// A manual credit from the dashboard's adjustment form.
        Adjustment = "adjustment",
        /// A correction that resolves a reconciliation finding.
        Reconciliation = "reconciliation",
    }
}

text_enum! {
    /// A stored PSP event, in pipeline order.
    pub enum WebhookEventStatus ("webhook event status") {
        Received = "received",
        Applied = "applied",
        Ignored = "ignored",
        Unmatched = "unmatched",
        Failed = "failed",
    }
}

impl WebhookEventStatus {
    /// Events that did not apply may be applied again.
    pub fn may_reapply(self) -> bool {
        matches!(
            self,
            WebhookEventStatus::Received
                | WebhookEventStatus::Failed
                | WebhookEventStatus::Unmatched
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trips<T>(all: &[T])
    where
        T: Copy + PartialEq + std::fmt::Debug + Serialize + TryFrom<String> + std::fmt::Display,
    {
        for value in all {
            let text = value.to_string();
            assert_eq!(serde_json::to_value(value).unwrap(), text.as_str());
            assert!(T::try_from(text).is_ok_and(|parsed| parsed == *value));
        }
    }

    // Proves every state's wire spelling is its stored text, and both read back to the state.
    #[test]
    fn stored_text_and_wire_agree() {
        round_trips(FindingKind::ALL);
        round_trips(FindingSeverity::ALL);
        round_trips(FindingStatus::ALL);
        round_trips(PspCheckoutStatus::ALL);
        round_trips(PspPayoutStatus::ALL);
        round_trips(CreditRequestState::ALL);
        round_trips(CreditRequestSource::ALL);
        round_trips(WebhookEventStatus::ALL);
    }

    // Proves a stored value no variant names is refused, not defaulted.
    #[test]
    fn unknown_text_is_an_error() {
        assert_eq!(
            FindingSeverity::try_from("urgent".to_owned()),
            Err(UnknownValue {
                what: "finding severity",
                value: "urgent".into()
            })
        );
    }
}
