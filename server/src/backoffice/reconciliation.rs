//! Reconciliation: what each PSP says about money (the mock PSP's own books; Stripe's checkout
//! sessions read through its API) compared with our deposits, payout attempts and ledger
//! journals. Each difference is a finding, unique per `(provider, reference, kind)`, so a re-run
//! refreshes what it finds again and never duplicates it. Staff resolve findings with a note; where
//! the money is wrong, resolving applies the PSP's word through the payments path (which posts
//! the journal) or posts a correcting adjustment, in the same transaction as the resolution.
//!
//! Kinds (the PSP's reference is the checkout or payout id; ours when the PSP has none):
//! - `missing_in_ledger`: the PSP took or paid money that no journal records (high);
//! - `missing_at_psp`: we have a checkout or payout the PSP does not know (high when money
//!   moved in our ledger, else low);
//! - `amount_mismatch`: the PSP's amount differs from ours, or from what the ledger moved (high);
//! - `status_mismatch`: the states disagree; high when our ledger moved money the PSP says did
//!   not move, else low (typically a webhook that never arrived).

use app::error::AppError;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use crate::error::ServerError;
use crate::psp::{CheckoutOutcome, PspError};
use crate::services::Services;

/// Most Stripe checkout sessions one run reads back (each is an API call).
pub const STRIPE_SESSIONS_PER_RUN_MAX: i64 = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    MissingInLedger,
    MissingAtPsp,
    AmountMismatch,
    StatusMismatch,
}

impl FindingKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FindingKind::MissingInLedger => "missing_in_ledger",
            FindingKind::MissingAtPsp => "missing_at_psp",
            FindingKind::AmountMismatch => "amount_mismatch",
            FindingKind::StatusMismatch => "status_mismatch",
        }
    }
}

/// One difference found by a run, before it is stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub tenant_id: Uuid,
    pub provider: String,
    pub reference: String,
    pub kind: FindingKind,
    /// `high` or `low` (`medium` is reserved for rules that need judgement).
    pub severity: &'static str,
    pub object_type: Option<&'static str>,
    pub object_id: Option<Uuid>,
    pub player_id: Option<Uuid>,
    pub currency: Option<String>,
    pub psp_amount_minor: Option<i64>,
    pub ledger_amount_minor: Option<i64>,
    pub psp_status: Option<String>,
    pub ledger_status: Option<String>,
    pub message: String,
    pub raw: serde_json::Value,
}

/// What the PSP says about a checkout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PspCheckout {
    pub reference: String,
    /// `open`, `processing`, `paid`, `failed` or `expired`.
    pub status: String,
    pub amount_minor: Option<i64>,
    pub currency: Option<String>,
}

/// Our deposit, with what the ledger credited for it (`deposit_capture` journals).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct OurDeposit {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub player_id: Uuid,
    pub amount_minor: i64,
    pub currency: String,
    pub state: String,
    pub credited_minor: i64,
}

/// What the PSP says about a payout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PspPayout {
    pub reference: String,
    /// `pending`, `succeeded` or `failed`.
    pub status: String,
    pub amount_minor: i64,
    pub currency: String,
}

/// Our payout attempt and its withdrawal, with what the ledger paid out for the withdrawal
/// (`withdrawal_payout` journals).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct OurPayout {
    pub attempt_id: Uuid,
    pub attempt_state: String,
    pub idempotency_key: String,
    pub withdrawal_id: Uuid,
    pub tenant_id: Uuid,
    pub player_id: Uuid,
    pub amount_minor: i64,
    pub currency: String,
    pub withdrawal_state: String,
    pub paid_out_minor: i64,
}

/// Do a checkout's status at the PSP and our deposit's state tell the same story?
fn checkout_agrees(psp_status: &str, deposit_state: &str) -> bool {
    matches!(
        (psp_status, deposit_state),
        ("paid", "captured")
            | ("failed", "failed")
            | ("expired", "expired" | "failed")
            | ("open", "created" | "pending" | "expired")
            | ("processing", "pending")
    )
}

/// The findings about one checkout; `psp` or `ours` is `None` when that side has no record.
pub fn compare_checkout(
    tenant_id: Uuid,
    provider: &str,
    reference: &str,
    psp: Option<&PspCheckout>,
    ours: Option<&OurDeposit>,
) -> Vec<Finding> {
    let finding = |kind, severity, message: String| Finding {
        tenant_id,
        provider: provider.to_owned(),
        reference: reference.to_owned(),
        kind,
        severity,
        object_type: ours.map(|_| "deposit"),
        object_id: ours.map(|deposit| deposit.id),
        player_id: ours.map(|deposit| deposit.player_id),
        currency: ours
            .map(|deposit| deposit.currency.clone())
            .or_else(|| psp.and_then(|checkout| checkout.currency.clone())),
        psp_amount_minor: psp.and_then(|checkout| checkout.amount_minor),
        ledger_amount_minor: ours.map(|deposit| deposit.credited_minor),
        psp_status: psp.map(|checkout| checkout.status.clone()),
        ledger_status: ours.map(|deposit| deposit.state.clone()),
        message,
        raw: json!({"psp": psp, "ours": ours}),
    };
    let mut findings = Vec::new();
    match (psp, ours) {
        (None, None) => {}
        (Some(checkout), None) => {
            if checkout.status == "paid" {
                findings.push(finding(
                    FindingKind::MissingInLedger,
                    "high",
                    format!("{provider} reports checkout {reference} paid, but no deposit of ours matches it"),
                ));
            }
        }
        (None, Some(deposit)) => {
            let credited = deposit.credited_minor > 0 || deposit.state == "captured";
            if credited || deposit.state == "pending" {
                findings.push(finding(
                    FindingKind::MissingAtPsp,
                    if credited { "high" } else { "low" },
                    format!(
                        "{provider} has no checkout {reference} for our {} deposit {}",
                        deposit.state, deposit.id
                    ),
                ));
            }
        }
        (Some(checkout), Some(deposit)) => {
            let paid = checkout.status == "paid";
            let credited = deposit.credited_minor > 0;
            if paid && !credited {
                findings.push(finding(
                    FindingKind::MissingInLedger,
                    "high",
                    format!(
                        "{provider} reports checkout {reference} paid; deposit {} is {} and nothing was credited",
                        deposit.id, deposit.state
                    ),
                ));
            }
            if !paid && credited {
                findings.push(finding(
                    FindingKind::StatusMismatch,
                    "high",
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
                findings.push(finding(
                    FindingKind::AmountMismatch,
                    "high",
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
                findings.push(finding(
                    FindingKind::AmountMismatch,
                    "high",
                    format!(
                        "the ledger credited {} for deposit {} of {} (minor units)",
                        deposit.credited_minor, deposit.id, deposit.amount_minor
                    ),
                ));
            }
            if findings.is_empty() && !checkout_agrees(&checkout.status, &deposit.state) {
                findings.push(finding(
                    FindingKind::StatusMismatch,
                    "low",
                    format!(
                        "{provider} reports checkout {reference} {}; deposit {} is {}",
                        checkout.status, deposit.id, deposit.state
                    ),
                ));
            }
        }
    }
    findings
}

/// The findings about one payout; `psp` or `ours` is `None` when that side has no record.
pub fn compare_payout(
    tenant_id: Uuid,
    provider: &str,
    reference: &str,
    psp: Option<&PspPayout>,
    ours: Option<&OurPayout>,
) -> Vec<Finding> {
    let finding = |kind, severity, message: String| Finding {
        tenant_id,
        provider: provider.to_owned(),
        reference: reference.to_owned(),
        kind,
        severity,
        object_type: ours.map(|_| "payout_attempt"),
        object_id: ours.map(|payout| payout.attempt_id),
        player_id: ours.map(|payout| payout.player_id),
        currency: ours
            .map(|payout| payout.currency.clone())
            .or_else(|| psp.map(|payout| payout.currency.clone())),
        psp_amount_minor: psp.map(|payout| payout.amount_minor),
        ledger_amount_minor: ours.map(|payout| payout.paid_out_minor),
        psp_status: psp.map(|payout| payout.status.clone()),
        ledger_status: ours.map(|payout| payout.attempt_state.clone()),
        message,
        raw: json!({"psp": psp, "ours": ours}),
    };
    let mut findings = Vec::new();
    match (psp, ours) {
        (None, None) => {}
        (Some(payout), None) => {
            let paid = payout.status == "succeeded";
            findings.push(finding(
                if paid {
                    FindingKind::MissingInLedger
                } else {
                    FindingKind::StatusMismatch
                },
                if paid { "high" } else { "low" },
                format!(
                    "{provider} has a {} payout {reference} that no payout attempt of ours matches",
                    payout.status
                ),
            ));
        }
        (None, Some(attempt)) => {
            if attempt.attempt_state == "succeeded" {
                findings.push(finding(
                    FindingKind::MissingAtPsp,
                    "high",
                    format!(
                        "payout attempt {} succeeded, but {provider} has no payout for it",
                        attempt.attempt_id
                    ),
                ));
            }
        }
        (Some(payout), Some(attempt)) => {
            let paid = payout.status == "succeeded";
            if paid && attempt.paid_out_minor == 0 {
                findings.push(finding(
                    FindingKind::MissingInLedger,
                    "high",
                    format!(
                        "{provider} paid out {reference}; withdrawal {} is {} and the ledger paid nothing",
                        attempt.withdrawal_id, attempt.withdrawal_state
                    ),
                ));
            }
            if !paid && attempt.attempt_state == "succeeded" {
                findings.push(finding(
                    FindingKind::StatusMismatch,
                    "high",
                    format!(
                        "attempt {} is recorded as succeeded, but {provider} reports {reference} {}",
                        attempt.attempt_id, payout.status
                    ),
                ));
            }
            if payout.amount_minor != attempt.amount_minor || payout.currency != attempt.currency {
                findings.push(finding(
                    FindingKind::AmountMismatch,
                    "high",
                    format!(
                        "{provider} paid {} {} in {reference}; withdrawal {} is {} {}",
                        payout.amount_minor,
                        payout.currency,
                        attempt.withdrawal_id,
                        attempt.amount_minor,
                        attempt.currency
                    ),
                ));
            } else if paid
                && attempt.paid_out_minor > 0
                && attempt.paid_out_minor != attempt.amount_minor
            {
                findings.push(finding(
                    FindingKind::AmountMismatch,
                    "high",
                    format!(
                        "the ledger paid out {} for withdrawal {} of {} (minor units)",
                        attempt.paid_out_minor, attempt.withdrawal_id, attempt.amount_minor
                    ),
                ));
            }
            let agrees = matches!(
                (payout.status.as_str(), attempt.attempt_state.as_str()),
                ("succeeded", "succeeded")
                    | ("failed", "failed")
                    | ("pending", "pending" | "unknown")
            );
            if findings.is_empty() && !agrees {
                findings.push(finding(
                    FindingKind::StatusMismatch,
                    "low",
                    format!(
                        "{provider} reports payout {reference} {}; attempt {} is {}",
                        payout.status, attempt.attempt_id, attempt.attempt_state
                    ),
                ));
            }
        }
    }
    findings
}

/// Which records a run compares.
#[derive(Debug, Clone, Default)]
pub struct RunScope {
    /// `None`: every tenant (the command line).
    pub tenant_id: Option<Uuid>,
    /// `None`: every enabled provider.
    pub provider: Option<String>,
    /// Only records created at or after this instant.
    pub since: Option<DateTime<Utc>>,
}

impl RunScope {
    fn includes(&self, provider: &str) -> bool {
        self.provider
            .as_deref()
            .is_none_or(|chosen| chosen == provider)
    }
}

/// What a run did.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// `None` for a dry run (nothing stored).
    pub run_id: Option<Uuid>,
    pub records_checked: i64,
    pub findings_new: i64,
    pub findings_seen: i64,
    pub findings: Vec<Finding>,
    /// Providers that could not be read (a Stripe outage), with the reason.
    pub errors: Vec<String>,
}

/// Compares every PSP record in `scope` with ours; stores the findings unless `dry_run`.
pub async fn run(
    services: &Services,
    scope: &RunScope,
    actor: &str,
    dry_run: bool,
) -> Result<RunReport, ServerError> {
    let pool = services.pool();
    let started_at = services.now();
    let mut findings = Vec::new();
    let mut checked = 0;
    let mut errors = Vec::new();
    if scope.includes(crate::psp::mock::NAME) && services.mock_psp().is_some() {
        let (count, found) = mock_checkouts(pool, scope).await?;
        checked += count;
        findings.extend(found);
        let (count, found) = mock_payouts(pool, scope).await?;
        checked += count;
        findings.extend(found);
    }
    if scope.includes("stripe")
        && let Some(stripe) = services.providers().get("stripe")
    {
        match provider_checkouts(pool, scope, stripe.as_ref()).await {
            Ok((count, found)) => {
                checked += count;
                findings.extend(found);
            }
            Err(error) => errors.push(format!("stripe: {error}")),
        }
    }
    if dry_run {
        return Ok(RunReport {
            run_id: None,
            records_checked: checked,
            findings_new: 0,
            findings_seen: 0,
            findings,
            errors,
        });
    }
    let run_id = Uuid::new_v4();
    let mut tx = pool.begin().await?;
    sqlx::query(
        "INSERT INTO reconciliation_runs (id, tenant_id, provider, since, started_at, actor)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(run_id)
    .bind(scope.tenant_id)
    .bind(&scope.provider)
    .bind(scope.since)
    .bind(started_at)
    .bind(actor)
    .execute(&mut *tx)
    .await?;
    let mut new = 0;
    for finding in &findings {
        if store(&mut tx, run_id, finding, started_at).await? {
            new += 1;
        }
    }
    let seen = findings.len() as i64 - new;
    sqlx::query(
        "UPDATE reconciliation_runs
            SET finished_at = $2, records_checked = $3, findings_new = $4, findings_seen = $5,
                error = $6
          WHERE id = $1",
    )
    .bind(run_id)
    .bind(services.now())
    .bind(checked as i32)
    .bind(new as i32)
    .bind(seen as i32)
    .bind((!errors.is_empty()).then(|| errors.join("; ")))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    tracing::info!(run = %run_id, checked, new, seen, "reconciliation run finished");
    Ok(RunReport {
        run_id: Some(run_id),
        records_checked: checked,
        findings_new: new,
        findings_seen: seen,
        findings,
        errors,
    })
}

/// Inserts the finding, or refreshes the one already stored for its key; true when new. A
/// resolved finding stays resolved.
async fn store(
    tx: &mut sqlx::PgConnection,
    run_id: Uuid,
    finding: &Finding,
    now: DateTime<Utc>,
) -> Result<bool, ServerError> {
    let inserted: bool = sqlx::query_scalar(
        "INSERT INTO reconciliation_findings
             (id, tenant_id, provider, reference, kind, severity, object_type, object_id, player_id,
              currency, psp_amount_minor, ledger_amount_minor, psp_status, ledger_status, message,
              raw, first_seen_at, last_seen_at, first_run_id, last_run_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $17,
                 $18, $18)
         ON CONFLICT ON CONSTRAINT reconciliation_findings_key DO UPDATE
            SET last_seen_at = EXCLUDED.last_seen_at, last_run_id = EXCLUDED.last_run_id,
                severity = EXCLUDED.severity, message = EXCLUDED.message, raw = EXCLUDED.raw,
                psp_amount_minor = EXCLUDED.psp_amount_minor,
                ledger_amount_minor = EXCLUDED.ledger_amount_minor,
                psp_status = EXCLUDED.psp_status, ledger_status = EXCLUDED.ledger_status
         RETURNING xmax = 0",
    )
    .bind(Uuid::new_v4())
    .bind(finding.tenant_id)
    .bind(&finding.provider)
    .bind(&finding.reference)
    .bind(finding.kind.as_str())
    .bind(finding.severity)
    .bind(finding.object_type)
    .bind(finding.object_id)
    .bind(finding.player_id)
    .bind(&finding.currency)
    .bind(finding.psp_amount_minor)
    .bind(finding.ledger_amount_minor)
    .bind(&finding.psp_status)
    .bind(&finding.ledger_status)
    .bind(&finding.message)
    .bind(&finding.raw)
    .bind(now)
    .bind(run_id)
    .fetch_one(&mut *tx)
    .await?;
    Ok(inserted)
}

/// The credited sum of a deposit's capture journals, as a SQL expression over `d`.
const CREDITED: &str = "(SELECT coalesce(sum(t.amount_minor), 0)::bigint
     FROM ledger_journals j JOIN ledger_transfers t ON t.journal_id = j.id
    WHERE j.tenant_id = d.tenant_id AND j.reference = 'deposit:' || d.id::text
      AND j.kind = 'deposit_capture')";

#[derive(sqlx::FromRow)]
struct MockCheckoutRow {
    reference: String,
    tenant_id: Uuid,
    status: String,
    psp_amount_minor: i64,
    psp_currency: String,
    id: Option<Uuid>,
    player_id: Option<Uuid>,
    amount_minor: Option<i64>,
    currency: Option<String>,
    state: Option<String>,
    credited_minor: Option<i64>,
}

/// The mock PSP's checkouts against our deposits, and our mock deposits it does not know.
async fn mock_checkouts(
    pool: &PgPool,
    scope: &RunScope,
) -> Result<(i64, Vec<Finding>), ServerError> {
    let provider = crate::psp::mock::NAME;
    let rows: Vec<MockCheckoutRow> = sqlx::query_as(&format!(
        "SELECT c.id AS reference, c.tenant_id, c.status, c.amount_minor AS psp_amount_minor,
                c.currency::text AS psp_currency, d.id, d.player_id, d.amount_minor,
                d.currency::text AS currency, d.state, {CREDITED} AS credited_minor
           FROM mock_psp_checkouts c
           LEFT JOIN deposits d ON d.tenant_id = c.tenant_id AND d.id = c.deposit_id AND d.provider = 'mock'
          WHERE ($1::uuid IS NULL OR c.tenant_id = $1) AND ($2::timestamptz IS NULL OR c.created_at >= $2)
          ORDER BY c.created_at, c.id"
    ))
    .bind(scope.tenant_id)
    .bind(scope.since)
    .fetch_all(pool)
    .await?;
    let mut findings = Vec::new();
    let checked = rows.len() as i64;
    for row in rows {
        let psp = PspCheckout {
            reference: row.reference.clone(),
            status: row.status.clone(),
            amount_minor: Some(row.psp_amount_minor),
            currency: Some(row.psp_currency.clone()),
        };
        let ours = match (
            row.id,
            row.player_id,
            row.amount_minor,
            row.currency,
            row.state,
        ) {
            (Some(id), Some(player_id), Some(amount_minor), Some(currency), Some(state)) => {
                Some(OurDeposit {
                    id,
                    tenant_id: row.tenant_id,
                    player_id,
                    amount_minor,
                    currency,
                    state,
                    credited_minor: row.credited_minor.unwrap_or(0),
                })
            }
            _ => None,
        };
        findings.extend(compare_checkout(
            row.tenant_id,
            provider,
            &row.reference,
            Some(&psp),
            ours.as_ref(),
        ));
    }
    let orphans: Vec<(String, OurDeposit)> = sqlx::query_as::<_, OrphanDepositRow>(&format!(
        "SELECT coalesce(d.provider_session_id, d.id::text) AS reference, d.id, d.tenant_id,
                d.player_id, d.amount_minor, d.currency::text AS currency, d.state,
                {CREDITED} AS credited_minor
           FROM deposits d
          WHERE d.provider = 'mock' AND d.state IN ('pending', 'captured')
            AND ($1::uuid IS NULL OR d.tenant_id = $1) AND ($2::timestamptz IS NULL OR d.created_at >= $2)
            AND NOT EXISTS (SELECT 1 FROM mock_psp_checkouts c WHERE c.deposit_id = d.id)"
    ))
    .bind(scope.tenant_id)
    .bind(scope.since)
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(OrphanDepositRow::split)
    .collect();
    for (reference, deposit) in &orphans {
        findings.extend(compare_checkout(
            deposit.tenant_id,
            provider,
            reference,
            None,
            Some(deposit),
        ));
    }
    Ok((checked + orphans.len() as i64, findings))
}

#[derive(sqlx::FromRow)]
struct OrphanDepositRow {
    reference: String,
    #[sqlx(flatten)]
    deposit: OurDeposit,
}

impl OrphanDepositRow {
    fn split(self) -> (String, OurDeposit) {
        (self.reference, self.deposit)
    }
}

/// A provider's checkouts read back one by one through its API (Stripe), for our deposits with
/// that provider in scope, newest first, at most `STRIPE_SESSIONS_PER_RUN_MAX`.
async fn provider_checkouts(
    pool: &PgPool,
    scope: &RunScope,
    provider: &dyn crate::psp::PaymentProvider,
) -> Result<(i64, Vec<Finding>), ServerError> {
    let deposits: Vec<OrphanDepositRow> = sqlx::query_as(&format!(
        "SELECT d.provider_session_id AS reference, d.id, d.tenant_id, d.player_id, d.amount_minor,
                d.currency::text AS currency, d.state, {CREDITED} AS credited_minor
           FROM deposits d
          WHERE d.provider = $3 AND d.provider_session_id IS NOT NULL
            AND ($1::uuid IS NULL OR d.tenant_id = $1) AND ($2::timestamptz IS NULL OR d.created_at >= $2)
          ORDER BY d.created_at DESC LIMIT $4"
    ))
    .bind(scope.tenant_id)
    .bind(scope.since)
    .bind(provider.name())
    .bind(STRIPE_SESSIONS_PER_RUN_MAX)
    .fetch_all(pool)
    .await?;
    let mut findings = Vec::new();
    for row in &deposits {
        let psp = match provider.read_checkout(&row.reference).await {
            Ok(status) => Some(PspCheckout {
                reference: row.reference.clone(),
                status: match status.outcome {
                    CheckoutOutcome::Open => "open",
                    CheckoutOutcome::Processing => "processing",
                    CheckoutOutcome::Paid => "paid",
                    CheckoutOutcome::Failed { .. } => "failed",
                    CheckoutOutcome::Expired => "expired",
                }
                .to_owned(),
                amount_minor: status.amount.map(|amount| amount.to_minor_units()),
                currency: status
                    .amount
                    .map(|amount| amount.currency().code().to_owned()),
            }),
            Err(PspError::NotFound { .. }) => None,
            Err(error) => {
                return Err(AppError::new(
                    app::error::ErrorCode::ProviderUnavailable,
                    format!("{} could not be read: {error}", provider.name()),
                )
                .into());
            }
        };
        findings.extend(compare_checkout(
            row.deposit.tenant_id,
            provider.name(),
            &row.reference,
            psp.as_ref(),
            Some(&row.deposit),
        ));
    }
    Ok((deposits.len() as i64, findings))
}

#[derive(sqlx::FromRow)]
struct MockPayoutRow {
    reference: String,
    tenant_id: Uuid,
    status: String,
    psp_amount_minor: i64,
    psp_currency: String,
    #[sqlx(flatten)]
    ours: OptionalPayout,
}

#[derive(sqlx::FromRow)]
struct OptionalPayout {
    attempt_id: Option<Uuid>,
    attempt_state: Option<String>,
    idempotency_key: Option<String>,
    withdrawal_id: Option<Uuid>,
    player_id: Option<Uuid>,
    amount_minor: Option<i64>,
    currency: Option<String>,
    withdrawal_state: Option<String>,
    paid_out_minor: Option<i64>,
}

impl OptionalPayout {
    fn into_payout(self, tenant_id: Uuid) -> Option<OurPayout> {
        Some(OurPayout {
            attempt_id: self.attempt_id?,
            attempt_state: self.attempt_state?,
            idempotency_key: self.idempotency_key?,
            withdrawal_id: self.withdrawal_id?,
            tenant_id,
            player_id: self.player_id?,
            amount_minor: self.amount_minor?,
            currency: self.currency?,
            withdrawal_state: self.withdrawal_state?,
            paid_out_minor: self.paid_out_minor.unwrap_or(0),
        })
    }
}

/// What the ledger paid out for `w`'s withdrawal, as a SQL expression.
const PAID_OUT: &str = "(SELECT coalesce(sum(t.amount_minor), 0)::bigint
     FROM ledger_journals j JOIN ledger_transfers t ON t.journal_id = j.id
    WHERE j.tenant_id = w.tenant_id AND j.reference = 'withdrawal:' || w.id::text
      AND j.kind = 'withdrawal_payout')";

/// The mock PSP's payouts against our payout attempts, and our succeeded mock attempts it does
/// not know.
async fn mock_payouts(pool: &PgPool, scope: &RunScope) -> Result<(i64, Vec<Finding>), ServerError> {
    let provider = crate::psp::mock::NAME;
    let rows: Vec<MockPayoutRow> = sqlx::query_as(&format!(
        "SELECT p.id AS reference, p.tenant_id, p.status, p.amount_minor AS psp_amount_minor,
                p.currency::text AS psp_currency, a.id AS attempt_id, a.state AS attempt_state,
                a.idempotency_key, w.id AS withdrawal_id, w.player_id, w.amount_minor,
                w.currency::text AS currency, w.state AS withdrawal_state, {PAID_OUT} AS paid_out_minor
           FROM mock_psp_payouts p
           LEFT JOIN payout_attempts a ON a.provider = 'mock' AND a.idempotency_key = p.idempotency_key
                                      AND a.tenant_id = p.tenant_id
           LEFT JOIN withdrawals w ON w.tenant_id = a.tenant_id AND w.id = a.withdrawal_id
          WHERE ($1::uuid IS NULL OR p.tenant_id = $1) AND ($2::timestamptz IS NULL OR p.created_at >= $2)
          ORDER BY p.created_at, p.id"
    ))
    .bind(scope.tenant_id)
    .bind(scope.since)
    .fetch_all(pool)
    .await?;
    let checked = rows.len() as i64;
    let mut findings = Vec::new();
    for row in rows {
        let psp = PspPayout {
            reference: row.reference.clone(),
            status: row.status.clone(),
            amount_minor: row.psp_amount_minor,
            currency: row.psp_currency.clone(),
        };
        let ours = row.ours.into_payout(row.tenant_id);
        findings.extend(compare_payout(
            row.tenant_id,
            provider,
            &row.reference,
            Some(&psp),
            ours.as_ref(),
        ));
    }
    let orphans: Vec<OurPayout> = sqlx::query_as(&format!(
        "SELECT a.id AS attempt_id, a.state AS attempt_state, a.idempotency_key,
                w.id AS withdrawal_id, w.tenant_id, w.player_id, w.amount_minor,
                w.currency::text AS currency, w.state AS withdrawal_state, {PAID_OUT} AS paid_out_minor
           FROM payout_attempts a
           JOIN withdrawals w ON w.tenant_id = a.tenant_id AND w.id = a.withdrawal_id
          WHERE a.provider = 'mock' AND a.state = 'succeeded'
            AND ($1::uuid IS NULL OR a.tenant_id = $1) AND ($2::timestamptz IS NULL OR a.created_at >= $2)
            AND NOT EXISTS (SELECT 1 FROM mock_psp_payouts p WHERE p.idempotency_key = a.idempotency_key)"
    ))
    .bind(scope.tenant_id)
    .bind(scope.since)
    .fetch_all(pool)
    .await?;
    for attempt in &orphans {
        findings.extend(compare_payout(
            attempt.tenant_id,
            provider,
            &attempt.idempotency_key,
            None,
            Some(attempt),
        ));
    }
    Ok((checked + orphans.len() as i64, findings))
}

/// Exit code of a reconciliation that found differences (distinct from 1, a failed run).
const EXIT_FINDINGS: u8 = 3;

/// `kasa reconcile [--provider P] [--since DAY|RFC3339] [--tenant SLUG] [--dry-run]`: compares
/// and prints a JSON report; exits 3 when the run found any difference. A dry run stores
/// nothing.
pub async fn command(
    pool: &PgPool,
    config: std::sync::Arc<crate::config::Config>,
    provider: Option<String>,
    since: Option<&str>,
    tenant_slug: Option<&str>,
    dry_run: bool,
) -> anyhow::Result<std::process::ExitCode> {
    use anyhow::Context;
    let since = since.map(parse_since).transpose()?;
    let tenant_id = match tenant_slug {
        None => None,
        Some(slug) => Some(
            sqlx::query_scalar::<_, Uuid>("SELECT id FROM tenants WHERE slug = $1")
                .bind(slug)
                .fetch_optional(pool)
                .await
                .context("looking up the tenant")?
                .with_context(|| format!("no tenant with slug {slug:?}"))?,
        ),
    };
    let services = Services::new(pool.clone(), config);
    if let Some(provider) = &provider
        && services.providers().get(provider).is_none()
    {
        anyhow::bail!("the provider {provider:?} is not enabled in this configuration");
    }
    let scope = RunScope {
        tenant_id,
        provider,
        since,
    };
    let report = run(&services, &scope, "system:cli", dry_run)
        .await
        .map_err(|error| anyhow::anyhow!("{}", AppError::from(error).message))?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    eprintln!(
        "kasa: {} record(s) checked, {} finding(s){}",
        report.records_checked,
        report.findings.len(),
        if dry_run {
            " (dry run: nothing stored)"
        } else {
            ""
        }
    );
    if report.findings.is_empty() {
        Ok(std::process::ExitCode::SUCCESS)
    } else {
        Ok(std::process::ExitCode::from(EXIT_FINDINGS))
    }
}

/// `2025-01-31` (midnight UTC) or an RFC 3339 instant.
fn parse_since(text: &str) -> anyhow::Result<DateTime<Utc>> {
    if let Ok(day) = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(day.and_time(chrono::NaiveTime::MIN).and_utc());
    }
    DateTime::parse_from_rfc3339(text)
        .map(|at| at.with_timezone(&Utc))
        .map_err(|_| {
            anyhow::anyhow!("--since: give a day (YYYY-MM-DD) or an RFC 3339 time, not {text:?}")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deposit(state: &str, amount_minor: i64, credited_minor: i64) -> OurDeposit {
        OurDeposit {
            id: Uuid::nil(),
            tenant_id: Uuid::nil(),
            player_id: Uuid::nil(),
            amount_minor,
            currency: "EUR".into(),
            state: state.into(),
            credited_minor,
        }
    }

    fn checkout(status: &str, amount_minor: i64) -> PspCheckout {
        PspCheckout {
            reference: "mcs_1".into(),
            status: status.into(),
            amount_minor: Some(amount_minor),
            currency: Some("EUR".into()),
        }
    }

    fn kinds(
        psp: Option<&PspCheckout>,
        ours: Option<&OurDeposit>,
    ) -> Vec<(&'static str, &'static str)> {
        compare_checkout(Uuid::nil(), "mock", "mcs_1", psp, ours)
            .into_iter()
            .map(|finding| (finding.kind.as_str(), finding.severity))
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

    // Proves --since takes a day or an instant and refuses anything else.
    #[test]
    fn since_takes_days_and_instants() {
        assert_eq!(
            parse_since("2025-01-31").unwrap().to_rfc3339(),
            "2025-01-31T00:00:00+00:00"
        );
        assert_eq!(
            parse_since("2025-01-31T10:00:00+02:00")
                .unwrap()
                .to_rfc3339(),
            "2025-01-31T08:00:00+00:00"
        );
        assert!(parse_since("yesterday").is_err());
    }

    // Proves each payout discrepancy yields its kind: paid at the PSP but not in the ledger,
    // succeeded here but unknown or failed there, another amount, and a state that lags.
    #[test]
    fn payouts_compare_to_the_documented_kinds() {
        let attempt = |state: &str, paid_out_minor| OurPayout {
            attempt_id: Uuid::nil(),
            attempt_state: state.into(),
            idempotency_key: "key".into(),
            withdrawal_id: Uuid::nil(),
            tenant_id: Uuid::nil(),
            player_id: Uuid::nil(),
            amount_minor: 700,
            currency: "EUR".into(),
            withdrawal_state: "paying".into(),
            paid_out_minor,
        };
        let payout = |status: &str, amount_minor| PspPayout {
            reference: "mpo_1".into(),
            status: status.into(),
            amount_minor,
            currency: "EUR".into(),
        };
        let kinds = |psp: Option<&PspPayout>, ours: Option<&OurPayout>| {
            compare_payout(Uuid::nil(), "mock", "mpo_1", psp, ours)
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
