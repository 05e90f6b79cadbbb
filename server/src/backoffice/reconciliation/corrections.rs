//! The fixes a resolution may make, each capped at the finding's own discrepancy: what the PSP
//! says now (applied through the payments path), a correcting debit, or the credit request of a
//! correcting credit.

use app::deposits::DepositState;
use app::domain::ids::{PlayerId, TenantId};
use app::domain::money::{Currency, Money, SignedMoney};
use app::domain::reconciliation::CreditRequestSource;
use app::error::{AppError, ErrorCode};
use uuid::Uuid;

use super::resolve::{FindingKey, Resolution};
use crate::auth::StaffMember;
use crate::backoffice::adjustments::debit_journal;
use crate::backoffice::credits::request::{FindingLink, NewCreditRequest};
use crate::error::ServerResult;
use crate::ledger::{self, IdempotencyKey};
use crate::psp::ProviderUpdate;
use crate::services::Services;

/// How a resolution fixes the money.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Correction {
    None,
    ApplyPsp,
    Credit,
    Debit,
}

impl Correction {
    pub fn parse(value: Option<&str>) -> ServerResult<Correction> {
        match value.map(str::trim).unwrap_or("none") {
            "" | "none" => Ok(Correction::None),
            "apply_psp" => Ok(Correction::ApplyPsp),
            "credit" => Ok(Correction::Credit),
            "debit" => Ok(Correction::Debit),
            _ => Err(AppError::invalid("correction", "Choose one of the fixes offered.").into()),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Correction::None => "none",
            Correction::ApplyPsp => "apply_psp",
            Correction::Credit => "credit",
            Correction::Debit => "debit",
        }
    }
}

/// What the PSP says now about the finding's object, as an update the payments path applies.
pub async fn psp_update(
    services: &Services,
    conn: &mut sqlx::PgConnection,
    key: &FindingKey,
) -> ServerResult<ProviderUpdate> {
    let FindingKey {
        provider: provider_name,
        reference,
        object_type,
        object_id,
        ..
    } = key;
    let provider = services.providers().get(provider_name).ok_or_else(|| {
        AppError::new(
            ErrorCode::ProviderUnavailable,
            format!("{provider_name} is not enabled here."),
        )
    })?;
    let unavailable = |error: crate::psp::PspError| {
        AppError::new(
            ErrorCode::ProviderUnavailable,
            format!("{provider_name} could not be asked: {error}"),
        )
    };
    match object_type.as_deref() {
        Some("deposit") => Ok(ProviderUpdate::Checkout(
            provider
                .read_checkout(reference)
                .await
                .map_err(unavailable)?,
        )),
        Some("payout_attempt") => {
            let attempt_key: String =
                sqlx::query_scalar("SELECT idempotency_key FROM payout_attempts WHERE id = $1")
                    .bind(object_id)
                    .fetch_one(&mut *conn)
                    .await?;
            Ok(ProviderUpdate::Payout(
                provider
                    .read_payout(&attempt_key)
                    .await
                    .map_err(unavailable)?,
            ))
        }
        _ => Err(AppError::invalid(
            "correction",
            "This finding has no deposit or payout of ours to apply the PSP's word to.",
        )
        .into()),
    }
}

/// The journal that now carries the money of the finding's object (after applying the PSP).
pub async fn object_journal(
    conn: &mut sqlx::PgConnection,
    key: &FindingKey,
) -> ServerResult<Option<Uuid>> {
    let (object_type, object_id) = (&key.object_type, key.object_id);
    let sql = match object_type.as_deref() {
        Some("deposit") => "SELECT capture_journal_id FROM deposits WHERE id = $1",
        Some("payout_attempt") => {
            "SELECT w.payout_journal_id FROM payout_attempts a
               JOIN withdrawals w ON w.id = a.withdrawal_id WHERE a.id = $1"
        }
        _ => return Ok(None),
    };
    Ok(sqlx::query_scalar::<_, Option<Uuid>>(sql)
        .bind(object_id)
        .fetch_optional(&mut *conn)
        .await
        .map(Option::flatten)?)
}

/// The player and amount of a correcting adjustment, in the finding's currency.
pub fn correction_amount(key: &FindingKey, amount: &str) -> ServerResult<(PlayerId, Money)> {
    let (player_id, currency) = (key.player_id, &key.currency);
    let player_id = player_id.ok_or_else(|| {
        AppError::invalid("correction", "This finding names no player to adjust.")
    })?;
    let currency = currency
        .as_deref()
        .and_then(|code| Currency::parse(code).ok())
        .ok_or_else(|| AppError::invalid("correction", "This finding has no currency."))?;
    let amount = Money::parse(amount, currency).map_err(|error| AppError {
        field: Some("amount".into()),
        ..AppError::new(
            ErrorCode::InvalidAmount,
            format!("Invalid amount: {error}."),
        )
    })?;
    Ok((player_id, amount))
}

/// The credit request a correcting credit of this finding makes.
pub fn credit_request<'a>(
    key: &FindingKey,
    finding_id: Uuid,
    resolution: &Resolution<'a>,
) -> ServerResult<NewCreditRequest<'a>> {
    let (player_id, amount) = correction_amount(key, resolution.amount)?;
    let (object_type, object_id) = (&key.object_type, key.object_id);
    Ok(NewCreditRequest {
        source: CreditRequestSource::Reconciliation,
        player_id,
        amount,
        reason: resolution.note,
        idempotency_key: resolution.scoped_key.clone(),
        finding: Some(FindingLink {
            finding_id,
            object_type: object_type
                .clone()
                .filter(|kind| kind == "deposit" || kind == "payout_attempt"),
            object_id: object_id
                .filter(|_| matches!(object_type.as_deref(), Some("deposit" | "payout_attempt"))),
        }),
    })
}

/// A deposit's state and amount, for the cap of a correcting credit.
#[derive(sqlx::FromRow)]
struct DepositAmount {
    state: String,
    amount_minor: i64,
}

/// Refuses a correction larger than the finding's own discrepancy, or in the direction that
/// does not fix it; a credit of a deposit that was never captured must be its whole amount (the
/// approval captures the deposit with it).
pub async fn check_cap(
    tx: &mut sqlx::PgConnection,
    tenant_id: TenantId,
    finding_id: Uuid,
    key: &FindingKey,
    correction: Correction,
    amount: Money,
) -> ServerResult<()> {
    // What the finding says the player is owed (positive) or holds too much (negative): for a
    // checkout, what the PSP took less what the ledger credited; for a payout, what the ledger
    // paid out less what the PSP paid.
    let owed: i64 = sqlx::query_scalar(
        "SELECT CASE WHEN object_type = 'payout_attempt'
                     THEN coalesce(ledger_amount_minor, 0)
                          - CASE WHEN psp_status = 'succeeded' THEN coalesce(psp_amount_minor, 0) ELSE 0 END
                     ELSE CASE WHEN psp_status = 'paid' THEN coalesce(psp_amount_minor, 0) ELSE 0 END
                          - coalesce(ledger_amount_minor, 0)
                END
           FROM reconciliation_findings WHERE tenant_id = $1 AND id = $2",
    )
    .bind(tenant_id)
    .bind(finding_id)
    .fetch_one(&mut *tx)
    .await?;
    let allowed = match correction {
        Correction::Credit => owed.max(0),
        _ => owed.saturating_neg().max(0),
    };
    let currency = amount.currency();
    let too_much = |message: String| AppError {
        field: Some("amount".into()),
        ..AppError::new(ErrorCode::InvalidAmount, message)
    };
    if allowed == 0 {
        return Err(too_much(format!(
            "This finding's discrepancy is not fixed by a {}: nothing to {} here.",
            correction.as_str(),
            correction.as_str()
        ))
        .into());
    }
    if amount.to_minor_units() > allowed {
        return Err(too_much(format!(
            "A {} fixing this finding is at most its discrepancy, {}.",
            correction.as_str(),
            SignedMoney::from_minor_units(allowed, currency)
        ))
        .into());
    }
    let (object_type, object_id) = (&key.object_type, key.object_id);
    if correction == Correction::Credit && object_type.as_deref() == Some("deposit") {
        let deposit: Option<DepositAmount> = sqlx::query_as(
            "SELECT state, amount_minor FROM deposits WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant_id)
        .bind(object_id)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(DepositAmount {
            state,
            amount_minor: deposit_minor,
        }) = deposit
            && state != DepositState::Captured.as_str()
            && deposit_minor != amount.to_minor_units()
        {
            return Err(too_much(format!(
                "A credit for a deposit that was never captured captures it with its whole amount, {}.",
                SignedMoney::from_minor_units(deposit_minor, currency)
            )).into());
        }
    }
    Ok(())
}

/// Posts the correcting debit of a resolution (the player's cash -> adjustments), keyed by the
/// finding so it can only ever be posted once. Debits stay immediate: they create no money.
pub async fn debit(
    tx: &mut sqlx::PgConnection,
    tenant_id: TenantId,
    staff: &StaffMember,
    finding_id: Uuid,
    player_id: PlayerId,
    amount: Money,
    note: &str,
) -> ServerResult<Uuid> {
    let journal = debit_journal(
        IdempotencyKey::parse(format!("reconciliation:{finding_id}:correction"))?,
        player_id,
        amount,
        serde_json::Map::from_iter([
            ("finding_id".to_owned(), finding_id.to_string().into()),
            ("actor_staff_id".to_owned(), staff.id.to_string().into()),
            ("actor_email".to_owned(), staff.email.clone().into()),
            ("reason".to_owned(), note.into()),
        ]),
    );
    let posted = ledger::post_journal_in_transaction(tx, tenant_id, &journal).await?;
    Ok(posted.journal_id.0)
}
