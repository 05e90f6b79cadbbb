//! The pure comparison of what a PSP says about one checkout or payout with our records of it:
//! no database, no clock, so each rule is tested on its own. The rules that say when two states
//! tell the same story are the tables [`checkout_agrees`] and [`payout_agrees`].

use app::deposits::DepositState;
use app::domain::ids::{PlayerId, TenantId};
use app::domain::reconciliation::{
    FindingKind, FindingSeverity, PspCheckoutStatus, PspPayoutStatus,
};
use app::domain::withdrawal::AttemptState;
use serde::Serialize;
use serde_json::json;
use uuid::Uuid;

/// One difference found by a run, before it is stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub tenant_id: TenantId,
    pub provider: String,
    pub reference: String,
    pub kind: FindingKind,
    pub severity: FindingSeverity,
    pub object_type: Option<&'static str>,
    pub object_id: Option<Uuid>,
    pub player_id: Option<PlayerId>,
    pub currency: Option<String>,
    pub psp_amount_minor: Option<i64>,
    pub ledger_amount_minor: Option<i64>,
    /// The PSP's status and ours, as stored (a checkout's or a payout's vocabulary).
    pub psp_status: Option<String>,
    pub ledger_status: Option<String>,
    pub message: String,
    pub raw: serde_json::Value,
}

/// What the PSP says about a checkout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PspCheckout {
    pub reference: String,
    pub status: PspCheckoutStatus,
    pub amount_minor: Option<i64>,
    pub currency: Option<String>,
}

/// Our deposit, with what the ledger credited for it (`deposit_capture` journals).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OurDeposit {
    pub id: Uuid,
    pub tenant_id: TenantId,
    pub player_id: PlayerId,
    pub amount_minor: i64,
    pub currency: String,
    pub state: DepositState,
    pub credited_minor: i64,
}

/// What the PSP says about a payout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PspPayout {
    pub reference: String,
    pub status: PspPayoutStatus,
    pub amount_minor: i64,
    pub currency: String,
}

/// Our payout attempt and its withdrawal, with what the ledger paid out for the withdrawal
/// (`withdrawal_payout` journals).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OurPayout {
    pub attempt_id: Uuid,
    pub attempt_state: AttemptState,
    pub idempotency_key: String,
    pub withdrawal_id: Uuid,
    pub tenant_id: TenantId,
    pub player_id: PlayerId,
    pub amount_minor: i64,
    pub currency: String,
    pub withdrawal_state: String,
    pub paid_out_minor: i64,
}

/// Do a checkout's status at the PSP and our deposit's state tell the same story?
pub fn checkout_agrees(psp: PspCheckoutStatus, ours: DepositState) -> bool {
    use DepositState as Ours;
    use PspCheckoutStatus as Psp;
    matches!(
        (psp, ours),
        (Psp::Paid, Ours::Captured)
            | (Psp::Failed, Ours::Failed)
            | (Psp::Expired, Ours::Expired | Ours::Failed)
            | (Psp::Open, Ours::Created | Ours::Pending | Ours::Expired)
            | (Psp::Processing, Ours::Pending)
    )
}

/// Do a payout's status at the PSP and our attempt's state tell the same story?
pub fn payout_agrees(psp: PspPayoutStatus, ours: AttemptState) -> bool {
    use AttemptState as Ours;
    use PspPayoutStatus as Psp;
    matches!(
        (psp, ours),
        (Psp::Succeeded, Ours::Succeeded)
            | (Psp::Failed, Ours::Failed)
            | (Psp::Pending, Ours::Pending | Ours::Unknown)
    )
}

/// What every finding about one record says besides its kind, severity and message.
struct Subject {
    tenant_id: TenantId,
    provider: String,
    reference: String,
    object_type: Option<&'static str>,
    object_id: Option<Uuid>,
    player_id: Option<PlayerId>,
    currency: Option<String>,
    psp_amount_minor: Option<i64>,
    ledger_amount_minor: Option<i64>,
    psp_status: Option<String>,
    ledger_status: Option<String>,
    raw: serde_json::Value,
}

impl Subject {
    fn finding(&self, kind: FindingKind, severity: FindingSeverity, message: String) -> Finding {
        Finding {
            tenant_id: self.tenant_id,
            provider: self.provider.clone(),
            reference: self.reference.clone(),
            kind,
            severity,
            object_type: self.object_type,
            object_id: self.object_id,
            player_id: self.player_id,
            currency: self.currency.clone(),
            psp_amount_minor: self.psp_amount_minor,
            ledger_amount_minor: self.ledger_amount_minor,
            psp_status: self.psp_status.clone(),
            ledger_status: self.ledger_status.clone(),
            message,
            raw: self.raw.clone(),
        }
    }
}

/// The findings about one checkout; `psp` or `ours` is `None` when that side has no record.
pub fn compare_checkout(
    tenant_id: TenantId,
    provider: &str,
    reference: &str,
    psp: Option<&PspCheckout>,
    ours: Option<&OurDeposit>,
) -> Vec<Finding> {
    let subject = Subject {
        tenant_id,
        provider: provider.to_owned(),
        reference: reference.to_owned(),
        object_type: ours.map(|_| "deposit"),
        object_id: ours.map(|deposit| deposit.id),
        player_id: ours.map(|deposit| deposit.player_id),
        currency: ours
            .map(|deposit| deposit.currency.clone())
            .or_else(|| psp.and_then(|checkout| checkout.currency.clone())),
        psp_amount_minor: psp.and_then(|checkout| checkout.amount_minor),
        ledger_amount_minor: ours.map(|deposit| deposit.credited_minor),
        psp_status: psp.map(|checkout| checkout.status.as_str().to_owned()),
        ledger_status: ours.map(|deposit| deposit.state.as_str().to_owned()),
        raw: json!({"psp": psp, "ours": ours}),
    };
    match (psp, ours) {
        (None, None) => Vec::new(),
        (Some(checkout), None) => (checkout.status == PspCheckoutStatus::Paid)
            .then(|| {
                subject.finding(
                    FindingKind::MissingInLedger,
                    FindingSeverity::High,
                    format!("{provider} reports checkout {reference} paid, but no deposit of ours matches it"),
                )
            })
            .into_iter()
            .collect(),
        (None, Some(deposit)) => {
            let credited = deposit.credited_minor > 0 || deposit.state == DepositState::Captured;
            (credited || deposit.state == DepositState::Pending)
                .then(|| {
                    subject.finding(
                        FindingKind::MissingAtPsp,
                        if credited {
                            FindingSeverity::High
                        } else {
                            FindingSeverity::Low
                        },
                        format!(
                            "{provider} has no checkout {reference} for our {} deposit {}",
                            deposit.state.as_str(),
                            deposit.id
                        ),
                    )
                })
                .into_iter()
                .collect()
        }
        (Some(checkout), Some(deposit)) => compare_both_checkouts(&subject, checkout, deposit),
    }
}

/// A checkout both sides know: money the ledger did not credit or should not have, another
/// amount, or (when nothing else is wrong) states that lag.
fn compare_both_checkouts(
    subject: &Subject,
    checkout: &PspCheckout,
    deposit: &OurDeposit,
) -> Vec<Finding> {
    let (provider, reference) = (&subject.provider, &subject.reference);
    let high = |kind, message| subject.finding(kind, FindingSeverity::High, message);
    let mut findings = Vec::new();
    let paid = checkout.status == PspCheckoutStatus::Paid;
    let credited = deposit.credited_minor > 0;
    if paid && !credited {
        findings.push(high(
            FindingKind::MissingInLedger,
            format!(
                "{provider} reports checkout {reference} paid; deposit {} is {} and nothing was credited",
                deposit.id,
                deposit.state.as_str()
            ),
        ));
    }
    if !paid && credited {
        findings.push(high(
            FindingKind::StatusMismatch,
            format!(
                "deposit {} was credited, but {provider} reports checkout {reference} {}",
                deposit.id, checkout.status
            ),
        ));
    }
    let same_amount = checkout
        .amount_minor
        .is_none_or(|amount| amount == deposit.amount_minor)
        && checkout
            .currency
            .as_deref()
            .is_none_or(|currency| currency == deposit.currency);
    if !same_amount {
        findings.push(high(
            FindingKind::AmountMismatch,
            format!(
                "{provider} reports {} {} for checkout {reference}; deposit {} is {} {}",
                checkout.amount_minor.unwrap_or_default(),
                checkout.currency.clone().unwrap_or_default(),
                deposit.id,
                deposit.amount_minor,
                deposit.currency
            ),
        ));
    } else if credited && deposit.credited_minor != deposit.amount_minor {
        findings.push(high(
            FindingKind::AmountMismatch,
            format!(
                "the ledger credited {} for deposit {} of {} (minor units)",
                deposit.credited_minor, deposit.id, deposit.amount_minor
            ),
        ));
    }
    if findings.is_empty() && !checkout_agrees(checkout.status, deposit.state) {
        findings.push(subject.finding(
            FindingKind::StatusMismatch,
            FindingSeverity::Low,
            format!(
                "{provider} reports checkout {reference} {}; deposit {} is {}",
                checkout.status,
                deposit.id,
                deposit.state.as_str()
            ),
        ));
    }
    findings
}

/// The findings about one payout; `psp` or `ours` is `None` when that side has no record.
pub fn compare_payout(
    tenant_id: TenantId,
    provider: &str,
    reference: &str,
    psp: Option<&PspPayout>,
    ours: Option<&OurPayout>,
) -> Vec<Finding> {
    let subject = Subject {
        tenant_id,
        provider: provider.to_owned(),
        reference: reference.to_owned(),
        object_type: ours.map(|_| "payout_attempt"),
        object_id: ours.map(|payout| payout.attempt_id),
        player_id: ours.map(|payout| payout.player_id),
        currency: ours
            .map(|payout| payout.currency.clone())
            .or_else(|| psp.map(|payout| payout.currency.clone())),
        psp_amount_minor: psp.map(|payout| payout.amount_minor),
        ledger_amount_minor: ours.map(|payout| payout.paid_out_minor),
        psp_status: psp.map(|payout| payout.status.as_str().to_owned()),
        ledger_status: ours.map(|payout| payout.attempt_state.as_str().to_owned()),
        raw: json!({"psp": psp, "ours": ours}),
    };
    match (psp, ours) {
        (None, None) => Vec::new(),
        (Some(payout), None) => {
            let paid = payout.status == PspPayoutStatus::Succeeded;
            vec![subject.finding(
                if paid {
                    FindingKind::MissingInLedger
                } else {
                    FindingKind::StatusMismatch
                },
                if paid {
                    FindingSeverity::High
                } else {
                    FindingSeverity::Low
                },
                format!(
                    "{provider} has a {} payout {reference} that no payout attempt of ours matches",
                    payout.status
                ),
            )]
        }
        (None, Some(attempt)) => (attempt.attempt_state == AttemptState::Succeeded)
            .then(|| {
                subject.finding(
                    FindingKind::MissingAtPsp,
                    FindingSeverity::High,
                    format!(
                        "payout attempt {} succeeded, but {provider} has no payout for it",
                        attempt.attempt_id
                    ),
                )
            })
            .into_iter()
            .collect(),
        (Some(payout), Some(attempt)) => compare_both_payouts(&subject, payout, attempt),
    }
}

/// A payout both sides know: money paid that the ledger did not pay out, a success we record
/// and the PSP does not, another amount, or (when nothing else is wrong) states that lag.
fn compare_both_payouts(
    subject: &Subject,
    payout: &PspPayout,
    attempt: &OurPayout,
) -> Vec<Finding> {
    let (provider, reference) = (&subject.provider, &subject.reference);
    let high = |kind, message| subject.finding(kind, FindingSeverity::High, message);
    let mut findings = Vec::new();
    let paid = payout.status == PspPayoutStatus::Succeeded;
    if paid && attempt.paid_out_minor == 0 {
        findings.push(high(
            FindingKind::MissingInLedger,
            format!(
                "{provider} paid out {reference}; withdrawal {} is {} and the ledger paid nothing",
                attempt.withdrawal_id, attempt.withdrawal_state
            ),
        ));
    }
    if !paid && attempt.attempt_state == AttemptState::Succeeded {
        findings.push(high(
            FindingKind::StatusMismatch,
            format!(
                "attempt {} is recorded as succeeded, but {provider} reports {reference} {}",
                attempt.attempt_id, payout.status
            ),
        ));
    }
    if payout.amount_minor != attempt.amount_minor || payout.currency != attempt.currency {
        findings.push(high(
            FindingKind::AmountMismatch,
            format!(
                "{provider} paid {} {} in {reference}; withdrawal {} is {} {}",
                payout.amount_minor,
                payout.currency,
                attempt.withdrawal_id,
                attempt.amount_minor,
                attempt.currency
            ),
        ));
    } else if paid && attempt.paid_out_minor > 0 && attempt.paid_out_minor != attempt.amount_minor {
        findings.push(high(
            FindingKind::AmountMismatch,
            format!(
                "the ledger paid out {} for withdrawal {} of {} (minor units)",
                attempt.paid_out_minor, attempt.withdrawal_id, attempt.amount_minor
            ),
        ));
    }
    if findings.is_empty() && !payout_agrees(payout.status, attempt.attempt_state) {
        findings.push(subject.finding(
            FindingKind::StatusMismatch,
            FindingSeverity::Low,
            format!(
                "{provider} reports payout {reference} {}; attempt {} is {}",
                payout.status,
                attempt.attempt_id,
                attempt.attempt_state.as_str()
            ),
        ));
    }
    findings
}
#[cfg(test)]
mod tests {
    use super::*;

    fn deposit(state: &str, amount_minor: i64, credited_minor: i64) -> OurDeposit {
        OurDeposit {
            id: Uuid::nil(),
            tenant_id: TenantId(Uuid::nil()),
            player_id: PlayerId(Uuid::nil()),
            amount_minor,
            currency: "EUR".into(),
            state: DepositState::parse(state).unwrap(),
            credited_minor,
        }
    }

    fn checkout(status: &str, amount_minor: i64) -> PspCheckout {
        PspCheckout {
            reference: "mcs_1".into(),
            status: PspCheckoutStatus::parse(status).unwrap(),
            amount_minor: Some(amount_minor),
            currency: Some("EUR".into()),
        }
    }

    fn kinds(
        psp: Option<&PspCheckout>,
        ours: Option<&OurDeposit>,
    ) -> Vec<(&'static str, &'static str)> {
        compare_checkout(TenantId(Uuid::nil()), "mock", "mcs_1", psp, ours)
            .into_iter()
            .map(|finding| (finding.kind.as_str(), finding.severity.as_str()))
            .collect()
    }

    // Proves each checkout discrepancy yields its kind and severity, and agreeing records none.
    #[test]
    fn checkouts_compare_to_the_documented_kinds() {
        let agree = kinds(
            Some(&checkout("paid", 500)),
            Some(&deposit("captured", 500, 500)),
        );
        assert!(agree.is_empty());
        assert!(
            kinds(
                Some(&checkout("open", 500)),
                Some(&deposit("pending", 500, 0))
            )
            .is_empty()
        );
        assert_eq!(
            kinds(
                Some(&checkout("paid", 500)),
                Some(&deposit("pending", 500, 0))
            ),
            [("missing_in_ledger", "high")]
        );
        assert_eq!(
            kinds(Some(&checkout("paid", 500)), None),
            [("missing_in_ledger", "high")]
        );
        assert_eq!(
            kinds(None, Some(&deposit("captured", 500, 500))),
            [("missing_at_psp", "high")]
        );
        assert_eq!(
            kinds(None, Some(&deposit("pending", 500, 0))),
            [("missing_at_psp", "low")]
        );
        assert_eq!(
            kinds(
                Some(&checkout("paid", 600)),
                Some(&deposit("captured", 500, 500))
            ),
            [("amount_mismatch", "high")]
        );
        assert_eq!(
            kinds(
                Some(&checkout("paid", 500)),
                Some(&deposit("captured", 500, 1000))
            ),
            [("amount_mismatch", "high")],
            "credited twice"
        );
        assert_eq!(
            kinds(
                Some(&checkout("failed", 500)),
                Some(&deposit("pending", 500, 0))
            ),
            [("status_mismatch", "low")]
        );
        assert_eq!(
            kinds(
                Some(&checkout("expired", 500)),
                Some(&deposit("captured", 500, 500))
            ),
            [("status_mismatch", "high")]
        );
    }

    // Proves each payout discrepancy yields its kind: paid at the PSP but not in the ledger,
    // succeeded here but unknown or failed there, another amount, and a state that lags.
    #[test]
    fn payouts_compare_to_the_documented_kinds() {
        let attempt = |state: &str, paid_out_minor| OurPayout {
            attempt_id: Uuid::nil(),
            attempt_state: AttemptState::parse(state).unwrap(),
            idempotency_key: "key".into(),
            withdrawal_id: Uuid::nil(),
            tenant_id: TenantId(Uuid::nil()),
            player_id: PlayerId(Uuid::nil()),
            amount_minor: 700,
            currency: "EUR".into(),
            withdrawal_state: "paying".into(),
            paid_out_minor,
        };
        let payout = |status: &str, amount_minor| PspPayout {
            reference: "mpo_1".into(),
            status: PspPayoutStatus::parse(status).unwrap(),
            amount_minor,
            currency: "EUR".into(),
        };
        let kinds = |psp: Option<&PspPayout>, ours: Option<&OurPayout>| {
            compare_payout(TenantId(Uuid::nil()), "mock", "mpo_1", psp, ours)
                .into_iter()
                .map(|finding| finding.kind.as_str())
                .collect::<Vec<_>>()
        };
        assert!(
            kinds(
                Some(&payout("succeeded", 700)),
                Some(&attempt("succeeded", 700))
            )
            .is_empty()
        );
        assert_eq!(
            kinds(
                Some(&payout("succeeded", 700)),
                Some(&attempt("unknown", 0))
            ),
            ["missing_in_ledger"]
        );
        assert_eq!(
            kinds(None, Some(&attempt("succeeded", 700))),
            ["missing_at_psp"]
        );
        assert_eq!(
            kinds(
                Some(&payout("succeeded", 800)),
                Some(&attempt("succeeded", 700))
            ),
            ["amount_mismatch"]
        );
        assert_eq!(
            kinds(
                Some(&payout("failed", 700)),
                Some(&attempt("succeeded", 700))
            ),
            ["status_mismatch"]
        );
        assert_eq!(
            kinds(Some(&payout("failed", 700)), Some(&attempt("pending", 0))),
            ["status_mismatch"]
        );
    }
}
