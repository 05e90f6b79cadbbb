//! Reconciliation's vocabulary: what the PSPs say about checkouts and payouts, the findings a
//! comparison stores (kind, severity, status), the credit requests that correct them (four
//! eyes), and the statuses of stored PSP events. Each is an enum decoded once from its stored
//! text; the text (`as_str`, and serde on the wire) is exactly what the database holds, and an
//! unknown stored value is an error, never a default.

use super::text::text_enum;

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
