//! Both sides of a run, read as the comparison wants them: what each PSP says (the mock PSP's
//! own tables; Stripe's checkout sessions through its API) beside our deposits and payout
//! attempts with what the ledger moved for them. Rows decode once into the comparison's typed
//! records; a stored state no variant names is an internal error.

use app::deposits::DepositState;
use app::domain::ids::{PlayerId, TenantId};
use app::domain::reconciliation::{PspCheckoutStatus, PspPayoutStatus};
use app::domain::withdrawal::AttemptState;
use app::error::{AppError, ErrorCode};
use sqlx::PgPool;
use uuid::Uuid;

use super::compare::{
    Finding, OurDeposit, OurPayout, PspCheckout, PspPayout, compare_checkout, compare_payout,
};
use super::run::RunScope;
use crate::error::{ServerError, ServerResult};
use crate::psp::{CheckoutOutcome, PaymentProvider, PspError};

/// Most Stripe checkout sessions one run reads back (each is an API call).
pub const STRIPE_SESSIONS_PER_RUN_MAX: i64 = 500;

/// How many records a source compared, and what it found.
pub type Compared = (i64, Vec<Finding>);

/// The credited sum of a deposit's capture journals, as a SQL expression over `d`.
const CREDITED: &str = "(SELECT coalesce(sum(t.amount_minor), 0)::bigint
     FROM ledger_journals j JOIN ledger_transfers t ON t.journal_id = j.id
    WHERE j.tenant_id = d.tenant_id AND j.reference = 'deposit:' || d.id::text
      AND j.kind = 'deposit_capture')";

/// What the ledger paid out for `w`'s withdrawal, as a SQL expression.
const PAID_OUT: &str = "(SELECT coalesce(sum(t.amount_minor), 0)::bigint
     FROM ledger_journals j JOIN ledger_transfers t ON t.journal_id = j.id
    WHERE j.tenant_id = w.tenant_id AND j.reference = 'withdrawal:' || w.id::text
      AND j.kind = 'withdrawal_payout')";

/// A stored state, decoded with its enum's parser; anything else is a corrupt row.
fn stored<T>(parse: fn(&str) -> Option<T>, what: &str, text: &str) -> ServerResult<T> {
    parse(text).ok_or_else(|| ServerError::Internal(format!("unknown {what}: {text:?}")))
}

/// Our deposit's columns, all `NULL` when a PSP record matches no deposit of ours.
#[derive(sqlx::FromRow)]
struct DepositColumns {
    id: Option<Uuid>,
    player_id: Option<PlayerId>,
    amount_minor: Option<i64>,
    currency: Option<String>,
    state: Option<String>,
    credited_minor: Option<i64>,
}

impl DepositColumns {
    fn into_deposit(self, tenant_id: TenantId) -> ServerResult<Option<OurDeposit>> {
        let (Some(id), Some(player_id), Some(amount_minor), Some(currency), Some(state)) = (
            self.id,
            self.player_id,
            self.amount_minor,
            self.currency,
            self.state,
        ) else {
            return Ok(None);
        };
        Ok(Some(OurDeposit {
            id,
            tenant_id,
            player_id,
            amount_minor,
            currency,
            state: stored(DepositState::parse, "deposit state", &state)?,
            credited_minor: self.credited_minor.unwrap_or(0),
        }))
    }
}

/// Our payout attempt's and withdrawal's columns, all `NULL` when a PSP payout matches no
/// attempt of ours.
#[derive(sqlx::FromRow)]
struct PayoutColumns {
    attempt_id: Option<Uuid>,
    attempt_state: Option<String>,
    idempotency_key: Option<String>,
    withdrawal_id: Option<Uuid>,
    player_id: Option<PlayerId>,
    amount_minor: Option<i64>,
    currency: Option<String>,
    withdrawal_state: Option<String>,
    paid_out_minor: Option<i64>,
}

impl PayoutColumns {
    fn into_payout(self, tenant_id: TenantId) -> ServerResult<Option<OurPayout>> {
        let Some(attempt_state) = self.attempt_state else {
            return Ok(None);
        };
        let attempt_state = stored(AttemptState::parse, "payout attempt state", &attempt_state)?;
        let payout = || {
            Some(OurPayout {
                attempt_id: self.attempt_id?,
                attempt_state,
                idempotency_key: self.idempotency_key?,
                withdrawal_id: self.withdrawal_id?,
                tenant_id,
                player_id: self.player_id?,
                amount_minor: self.amount_minor?,
                currency: self.currency?,
                withdrawal_state: self.withdrawal_state?,
                paid_out_minor: self.paid_out_minor.unwrap_or(0),
            })
        };
        Ok(payout())
    }
}

/// A deposit of ours found from our side (no PSP record joined), under the reference the PSP
/// would know it by.
#[derive(sqlx::FromRow)]
struct OurDepositRow {
    reference: String,
    tenant_id: TenantId,
    #[sqlx(flatten)]
    deposit: DepositColumns,
}

impl OurDepositRow {
    fn split(self) -> ServerResult<(String, OurDeposit)> {
        let deposit = self
            .deposit
            .into_deposit(self.tenant_id)?
            .ok_or_else(|| ServerError::internal("a deposit row without its columns"))?;
        Ok((self.reference, deposit))
    }
}

#[derive(sqlx::FromRow)]
struct MockCheckoutRow {
    reference: String,
    tenant_id: TenantId,
    #[sqlx(try_from = "String")]
    status: PspCheckoutStatus,
    psp_amount_minor: i64,
    psp_currency: String,
    #[sqlx(flatten)]
    ours: DepositColumns,
}

/// The mock PSP's checkouts against our deposits, and our mock deposits it does not know.
pub async fn mock_checkouts(pool: &PgPool, scope: &RunScope) -> ServerResult<Compared> {
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
            status: row.status,
            amount_minor: Some(row.psp_amount_minor),
            currency: Some(row.psp_currency.clone()),
        };
        let ours = row.ours.into_deposit(row.tenant_id)?;
        findings.extend(compare_checkout(
            row.tenant_id,
            provider,
            &row.reference,
            Some(&psp),
            ours.as_ref(),
        ));
    }
    let orphans: Vec<OurDepositRow> = sqlx::query_as(&format!(
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
    .await?;
    let orphans_checked = orphans.len() as i64;
    for row in orphans {
        let (reference, deposit) = row.split()?;
        findings.extend(compare_checkout(
            deposit.tenant_id,
            provider,
            &reference,
            None,
            Some(&deposit),
        ));
    }
    Ok((checked + orphans_checked, findings))
}

/// A provider's checkouts read back one by one through its API (Stripe), for our deposits with
/// that provider in scope, newest first, at most `STRIPE_SESSIONS_PER_RUN_MAX`.
pub async fn provider_checkouts(
    pool: &PgPool,
    scope: &RunScope,
    provider: &dyn PaymentProvider,
) -> ServerResult<Compared> {
    let deposits: Vec<OurDepositRow> = sqlx::query_as(&format!(
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
    let checked = deposits.len() as i64;
    let mut findings = Vec::new();
    for row in deposits {
        let (reference, deposit) = row.split()?;
        let psp = read_checkout(provider, &reference).await?;
        findings.extend(compare_checkout(
            deposit.tenant_id,
            provider.name(),
            &reference,
            psp.as_ref(),
            Some(&deposit),
        ));
    }
    Ok((checked, findings))
}

/// What the provider says about one checkout now; `None` when it does not know it.
async fn read_checkout(
    provider: &dyn PaymentProvider,
    reference: &str,
) -> ServerResult<Option<PspCheckout>> {
    match provider.read_checkout(reference).await {
        Ok(status) => Ok(Some(PspCheckout {
            reference: reference.to_owned(),
            status: match status.outcome {
                CheckoutOutcome::Open => PspCheckoutStatus::Open,
                CheckoutOutcome::Processing => PspCheckoutStatus::Processing,
                CheckoutOutcome::Paid => PspCheckoutStatus::Paid,
                CheckoutOutcome::Failed { .. } => PspCheckoutStatus::Failed,
                CheckoutOutcome::Expired => PspCheckoutStatus::Expired,
            },
            amount_minor: status.amount.map(|amount| amount.to_minor_units()),
            currency: status
                .amount
                .map(|amount| amount.currency().code().to_owned()),
        })),
        Err(PspError::NotFound { .. }) => Ok(None),
        Err(error) => Err(AppError::new(
            ErrorCode::ProviderUnavailable,
            format!("{} could not be read: {error}", provider.name()),
        )
        .into()),
    }
}

#[derive(sqlx::FromRow)]
struct MockPayoutRow {
    reference: String,
    tenant_id: TenantId,
    #[sqlx(try_from = "String")]
    status: PspPayoutStatus,
    psp_amount_minor: i64,
    psp_currency: String,
    #[sqlx(flatten)]
    ours: PayoutColumns,
}

/// A payout attempt of ours found from our side (no PSP record joined).
#[derive(sqlx::FromRow)]
struct OurPayoutRow {
    tenant_id: TenantId,
    #[sqlx(flatten)]
    payout: PayoutColumns,
}

/// The mock PSP's payouts against our payout attempts, and our succeeded mock attempts it does
/// not know.
pub async fn mock_payouts(pool: &PgPool, scope: &RunScope) -> ServerResult<Compared> {
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
            status: row.status,
            amount_minor: row.psp_amount_minor,
            currency: row.psp_currency.clone(),
        };
        let ours = row.ours.into_payout(row.tenant_id)?;
        findings.extend(compare_payout(
            row.tenant_id,
            provider,
            &row.reference,
            Some(&psp),
            ours.as_ref(),
        ));
    }
    let orphans: Vec<OurPayoutRow> = sqlx::query_as(&format!(
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
    let orphans_checked = orphans.len() as i64;
    for row in orphans {
        let attempt = row
            .payout
            .into_payout(row.tenant_id)?
            .ok_or_else(|| ServerError::internal("a payout attempt row without its columns"))?;
        findings.extend(compare_payout(
            attempt.tenant_id,
            provider,
            &attempt.idempotency_key,
            None,
            Some(&attempt),
        ));
    }
    Ok((checked + orphans_checked, findings))
}
