//! Enums stored as text. Each variant has one spelling, shared by the database, the wire and
//! the code; an unknown stored value is an error, never a default.

/// A stored text that names no variant of the enum it was read as.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what}: {value:?}")]
pub struct UnknownValue {
    pub what: &'static str,
    pub value: String,
}

/// An enum stored as text: each variant with its one spelling, used by `as_str`, `parse`,
/// `TryFrom<String>` (rows decode through it with `#[sqlx(try_from = "String")]`), `Display`
/// and serde alike. Variants order as declared (`Ord`), so a ladder such as staff roles compares.
macro_rules! text_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident ($what:literal) {
            $($(#[$variant_meta:meta])* $variant:ident = $text:literal,)+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, ::serde::Serialize, ::serde::Deserialize)]
        pub enum $name {
            $($(#[$variant_meta])* #[serde(rename = $text)] $variant,)+
        }

        impl $name {
            /// Every variant, in declaration order (the order offered to people).
            pub const ALL: [$name; [$($text),+].len()] = [$($name::$variant,)+];

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
            type Error = $crate::domain::text::UnknownValue;

            fn try_from(text: String) -> Result<$name, $crate::domain::text::UnknownValue> {
                $name::parse(&text).ok_or($crate::domain::text::UnknownValue { what: $what, value: text })
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                formatter.write_str(self.as_str())
            }
        }
    };
}

pub(crate) use text_enum;

#[cfg(test)]
mod tests {
    use super::UnknownValue;
    use crate::auth::StaffRole;
    use crate::deposits::DepositState;
    use crate::domain::reconciliation::*;
    use crate::domain::withdrawal::{AttemptState, WithdrawalState};
    use crate::protection::{ExclusionPeriod, KycState, LimitPeriod};

    fn round_trips<T>(all: &[T])
    where
        T: Copy
            + PartialEq
            + std::fmt::Debug
            + serde::Serialize
            + TryFrom<String>
            + std::fmt::Display,
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
        round_trips(&FindingKind::ALL);
        round_trips(&FindingSeverity::ALL);
        round_trips(&FindingStatus::ALL);
        round_trips(&PspCheckoutStatus::ALL);
        round_trips(&PspPayoutStatus::ALL);
        round_trips(&CreditRequestState::ALL);
        round_trips(&CreditRequestSource::ALL);
        round_trips(&WebhookEventStatus::ALL);
        round_trips(&StaffRole::ALL);
        round_trips(&DepositState::ALL);
        round_trips(&WithdrawalState::ALL);
        round_trips(&AttemptState::ALL);
        round_trips(&KycState::ALL);
        round_trips(&LimitPeriod::ALL);
        round_trips(&ExclusionPeriod::ALL);
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
        assert_eq!(
            ExclusionPeriod::try_from("forever".to_owned()),
            Err(UnknownValue {
                what: "self-exclusion period",
                value: "forever".into()
            })
        );
    }
}
