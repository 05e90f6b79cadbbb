//! Manual adjustments: a debit posts at once (it creates no money); a credit becomes a credit
//! request that a second staff member approves (`credits`). One idempotency key names one of
//! the two, never both.

use app::api::RequestCtx;
use app::backoffice::dashboard::{
    ADJUSTMENT_REASON_LENGTH_MAX, AdjustmentDirection, AdjustmentReceipt,
};
use app::domain::ids::{PlayerId, TenantId};
use app::domain::money::{Currency, Money, SignedMoney};
use app::domain::reconciliation::CreditRequestSource;
use app::error::AppError;

use super::credits::request::{self as credits, NewCreditRequest};
use crate::audit::{self, Actor, AuditEvent};
use crate::auth::StaffMember;
use crate::error::ServerResult;
use crate::ledger::{self, AccountRef, IdempotencyKey, JournalKind, NewJournal, NewTransfer};
use crate::services::Services;
use crate::tenants::Tenant;

/// An adjustment as the staff member typed it, before it is checked.
#[derive(Debug, Clone)]
pub struct AdjustmentForm {
    pub player_email: String,
    pub currency: String,
    pub amount: String,
    pub direction: AdjustmentDirection,
    pub reason: String,
    pub idempotency_key: String,
}

/// A checked adjustment of one player's cash.
struct Adjustment<'a> {
    player_id: PlayerId,
    amount: Money,
    reason: &'a str,
    /// Scoped per actor: two staff members' keys can never collide.
    idempotency_key: IdempotencyKey,
}

pub async fn post_adjustment(
    services: &Services,
    ctx: &RequestCtx,
    tenant: &Tenant,
    staff: &StaffMember,
    form: &AdjustmentForm,
) -> ServerResult<AdjustmentReceipt> {
    let reason = checked_reason(&form.reason)?;
    let amount = checked_amount(&form.currency, &form.amount)?;
    let idempotency_key = scoped_key(staff, &form.idempotency_key)?;
    let player_id = player_by_email(services, tenant, &form.player_email).await?;
    let adjustment = Adjustment {
        player_id,
        amount,
        reason,
        idempotency_key,
    };
    match form.direction {
        AdjustmentDirection::Credit => {
            request_credit(services, ctx, tenant, staff, adjustment).await
        }
        AdjustmentDirection::Debit => post_debit(services, ctx, tenant, staff, adjustment).await,
    }
}

fn checked_reason(reason: &str) -> ServerResult<&str> {
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > ADJUSTMENT_REASON_LENGTH_MAX {
        return Err(AppError::invalid(
            "reason",
            format!("Give a reason of 1 to {ADJUSTMENT_REASON_LENGTH_MAX} characters."),
        )
        .into());
    }
    Ok(reason)
}

fn checked_amount(currency: &str, amount: &str) -> ServerResult<Money> {
    let currency = Currency::parse(currency.trim())
        .map_err(|_| AppError::invalid("currency", "Choose a supported currency."))?;
    Ok(Money::parse(amount.trim(), currency).map_err(|error| AppError::invalid_amount(&error))?)
}

fn scoped_key(staff: &StaffMember, idempotency_key: &str) -> ServerResult<IdempotencyKey> {
    let idempotency_key = idempotency_key.trim();
    if idempotency_key.is_empty() {
        return Err(
            AppError::invalid("idempotency_key", "The request has no idempotency key.").into(),
        );
    }
    Ok(
        IdempotencyKey::parse(format!("adjustment:{}:{idempotency_key}", staff.id)).map_err(
            |_| {
                AppError::invalid(
                    "idempotency_key",
                    "The request has no valid idempotency key.",
                )
            },
        )?,
    )
}

async fn player_by_email(
    services: &Services,
    tenant: &Tenant,
    player_email: &str,
) -> ServerResult<PlayerId> {
    let email = app::auth::normalise_email(player_email).map_err(|error| AppError {
        field: Some("player_email".into()),
        ..error
    })?;
    Ok(
        sqlx::query_scalar("SELECT id FROM players WHERE tenant_id = $1 AND email = $2")
            .bind(tenant.id)
            .bind(&email)
            .fetch_optional(services.pool())
            .await?
            .ok_or_else(|| AppError::not_found("Player"))?,
    )
}

/// Debits stay immediate (they create no money). The journal and its audit event commit
/// together; a replay (same key) records nothing.
async fn post_debit(
    services: &Services,
    ctx: &RequestCtx,
    tenant: &Tenant,
    staff: &StaffMember,
    adjustment: Adjustment<'_>,
) -> ServerResult<AdjustmentReceipt> {
    let Adjustment {
        player_id,
        amount,
        reason,
        idempotency_key,
    } = adjustment;
    // A key that already asked for a credit is not reused for a debit.
    let mut conn = services.pool().acquire().await?;
    let requested =
        credits::existing_request(&mut conn, tenant.id, staff.id, idempotency_key.as_str()).await?;
    drop(conn);
    if requested.is_some() {
        return Err(ledger::LedgerError::IdempotencyKeyReused.into());
    }
    let journal = debit_journal(
        idempotency_key,
        player_id,
        amount,
        serde_json::Map::from_iter([
            ("actor_staff_id".to_owned(), staff.id.to_string().into()),
            ("actor_email".to_owned(), staff.email.clone().into()),
            ("reason".to_owned(), reason.into()),
        ]),
    );
    let mut tx = services.pool().begin().await?;
    let posted = ledger::post_journal_in_transaction(&mut tx, tenant.id, &journal).await?;
    let available_after = available(&mut tx, tenant.id, player_id, amount.currency()).await?;
    if !posted.replayed {
        let event = AuditEvent {
            tenant_id: tenant.id,
            actor: Actor::Staff(staff.id),
            action: "adjustment.posted".into(),
            target_type: "player".into(),
            target_id: player_id.to_string(),
            before: None,
            after: Some(serde_json::json!({
                "journal_id": posted.journal_id,
                "direction": "debit",
                "amount_minor": amount.to_minor_units(),
                "currency": amount.currency().code(),
                "available_after_minor": available_after.minor_units(),
            })),
            reason: Some(reason.to_owned()),
            request_id: audit::request_id(ctx),
            idempotency_key: Some(journal.idempotency_key.as_str().to_owned()),
            ip: audit::client_ip(ctx),
            at: services.now(),
        };
        audit::record(&mut tx, &event).await?;
    }
    tx.commit().await?;
    tracing::info!(
        tenant = %tenant.slug, staff = %staff.id, player = %player_id, journal = %posted.journal_id,
        replayed = posted.replayed, "manual adjustment posted"
    );
    Ok(AdjustmentReceipt {
        journal_id: Some(posted.journal_id.0),
        credit_request_id: None,
        replayed: posted.replayed,
        available_after,
    })
}

/// A debit of the player's cash into the adjustments account: a manual debit, or a correction
/// of a finding.
pub fn debit_journal(
    idempotency_key: IdempotencyKey,
    player_id: PlayerId,
    amount: Money,
    metadata: serde_json::Map<String, serde_json::Value>,
) -> NewJournal {
    NewJournal {
        idempotency_key,
        kind: JournalKind::ADJUSTMENT,
        reference: Some(format!("player:{player_id}")),
        transfers: vec![NewTransfer {
            debit: AccountRef::PlayerCash(player_id),
            credit: AccountRef::Adjustments,
            amount,
        }],
        metadata,
    }
}

/// A manual credit: a request that a second, different finance or owner staff member
/// approves on `/admin/credits` before anything posts. The player's balance is unchanged.
async fn request_credit(
    services: &Services,
    ctx: &RequestCtx,
    tenant: &Tenant,
    staff: &StaffMember,
    adjustment: Adjustment<'_>,
) -> ServerResult<AdjustmentReceipt> {
    let mut tx = services.pool().begin().await?;
    // A key that already posted a debit is not reused for a credit.
    let debited: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM ledger_journals
                         WHERE tenant_id = $1 AND idempotency_key = $2)",
    )
    .bind(tenant.id)
    .bind(adjustment.idempotency_key.as_str())
    .fetch_one(&mut *tx)
    .await?;
    if debited {
        return Err(ledger::LedgerError::IdempotencyKeyReused.into());
    }
    let request = NewCreditRequest {
        source: CreditRequestSource::Adjustment,
        player_id: adjustment.player_id,
        amount: adjustment.amount,
        reason: adjustment.reason,
        idempotency_key: adjustment.idempotency_key.as_str().to_owned(),
        finding: None,
    };
    let requested =
        credits::request(&mut tx, ctx, tenant.id, staff, &request, services.now()).await?;
    let currency = adjustment.amount.currency();
    let available_after = available(&mut tx, tenant.id, adjustment.player_id, currency).await?;
    tx.commit().await?;
    Ok(AdjustmentReceipt {
        journal_id: None,
        credit_request_id: Some(requested.id),
        replayed: requested.replayed,
        available_after,
    })
}

/// The player's available balance in `currency` as the transaction sees it (zero when the
/// player holds none of it yet).
async fn available(
    conn: &mut sqlx::PgConnection,
    tenant_id: TenantId,
    player_id: PlayerId,
    currency: Currency,
) -> ServerResult<SignedMoney> {
    Ok(ledger::player_balances(&mut *conn, tenant_id, player_id)
        .await?
        .into_iter()
        .find(|balance| balance.currency == currency)
        .map(|balance| balance.available)
        .unwrap_or(SignedMoney::zero(currency)))
}
