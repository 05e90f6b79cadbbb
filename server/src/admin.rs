//! The back office's server side; each function checks the staff role itself.

use app::api::RequestCtx;
use app::auth::StaffRole;
use app::backoffice::IntegritySummary;
use app::backoffice::dashboard::{
    ADJUSTMENT_REASON_LENGTH_MAX, AdjustmentDirection, AdjustmentReceipt, DashboardApi,
    StaffOverview,
};
use app::domain::money::{Currency, Money, SignedMoney};
use app::error::{AppError, ErrorCode};
use uuid::Uuid;

use crate::audit::{self, Actor, AuditEvent};
use crate::auth::StaffMember;
use crate::error::{ServerError, ServerResult};
use crate::ledger::{self, AccountRef, IdempotencyKey, JournalKind, NewJournal, NewTransfer};
use crate::services::Services;
use crate::tenants::Tenant;

#[async_trait::async_trait]
impl DashboardApi for Services {
    async fn overview(&self, ctx: &RequestCtx) -> Result<StaffOverview, AppError> {
        let (tenant, staff) = self.require_staff(ctx, StaffRole::Support).await?;
        Ok(overview(self, tenant, staff).await?)
    }

    async fn post_adjustment(
        &self,
        ctx: &RequestCtx,
        player_email: String,
        currency: String,
        amount: String,
        direction: AdjustmentDirection,
        reason: String,
        idempotency_key: String,
    ) -> Result<AdjustmentReceipt, AppError> {
        let (tenant, staff) = self.require_staff(ctx, StaffRole::Finance).await?;
        Ok(post_adjustment(
            self,
            ctx,
            tenant,
            staff,
            player_email,
            currency,
            amount,
            direction,
            reason,
            idempotency_key,
        )
        .await?)
    }

    async fn integrity_check(&self, ctx: &RequestCtx) -> Result<IntegritySummary, AppError> {
        let (tenant, staff) = self.require_staff(ctx, StaffRole::Support).await?;
        // Recorded like a run from the figures page, so "last integrity check" covers both.
        Ok(crate::backoffice::figures::check_integrity(self, ctx, tenant.id, staff.id).await?)
    }
}

async fn overview(
    services: &Services,
    tenant: Tenant,
    staff: StaffMember,
) -> ServerResult<StaffOverview> {
    let player_count: i64 = sqlx::query_scalar("SELECT count(*) FROM players WHERE tenant_id = $1")
        .bind(tenant.id)
        .fetch_one(services.pool())
        .await?;
    Ok(StaffOverview {
        display_name: staff.display_name,
        role: staff.role,
        tenant_name: tenant.name,
        player_count,
    })
}

#[allow(clippy::too_many_arguments)] // the trait method's arguments, as the staff member sent them
async fn post_adjustment(
    services: &Services,
    ctx: &RequestCtx,
    tenant: Tenant,
    staff: StaffMember,
    player_email: String,
    currency: String,
    amount: String,
    direction: AdjustmentDirection,
    reason: String,
    idempotency_key: String,
) -> ServerResult<AdjustmentReceipt> {
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > ADJUSTMENT_REASON_LENGTH_MAX {
        return Err(AppError::invalid(
            "reason",
            format!("Give a reason of 1 to {ADJUSTMENT_REASON_LENGTH_MAX} characters."),
        )
        .into());
    }
    let currency = Currency::parse(currency.trim())
        .map_err(|_| AppError::invalid("currency", "Choose a supported currency."))?;
    let amount = Money::parse(amount.trim(), currency).map_err(|error| AppError {
        field: Some("amount".into()),
        ..AppError::new(ErrorCode::InvalidAmount, capitalise(&error.to_string()))
    })?;
    let idempotency_key = idempotency_key.trim();
    if idempotency_key.is_empty() {
        return Err(
            AppError::invalid("idempotency_key", "The request has no idempotency key.").into(),
        );
    }
    // Keys are scoped per actor: two staff members' keys can never collide.
    let idempotency_key =
        IdempotencyKey::parse(format!("adjustment:{}:{idempotency_key}", staff.id)).map_err(
            |_| {
                AppError::invalid(
                    "idempotency_key",
                    "The request has no valid idempotency key.",
                )
            },
        )?;
    let email = app::auth::normalise_email(&player_email).map_err(|error| AppError {
        field: Some("player_email".into()),
        ..error
    })?;
    let player_id: Uuid =
        sqlx::query_scalar("SELECT id FROM players WHERE tenant_id = $1 AND email = $2")
            .bind(tenant.id)
            .bind(&email)
            .fetch_optional(services.pool())
            .await?
            .ok_or_else(|| AppError::not_found("Player"))?;
    if direction == AdjustmentDirection::Credit {
        return services
            .request_credit(
                ctx,
                &tenant,
                &staff,
                player_id,
                amount,
                reason,
                idempotency_key,
            )
            .await;
    }
    // Debits stay immediate (they create no money). A key that already asked for a credit
    // is not reused for a debit.
    let mut conn = services.pool().acquire().await?;
    if crate::backoffice::credits::existing_request(
        &mut conn,
        tenant.id,
        staff.id,
        idempotency_key.as_str(),
    )
    .await?
    .is_some()
    {
        return Err(ledger::LedgerError::IdempotencyKeyReused.into());
    }
    drop(conn);
    let (debit, credit) = (AccountRef::PlayerCash(player_id), AccountRef::Adjustments);
    let mut metadata = serde_json::Map::new();
    metadata.insert("actor_staff_id".into(), staff.id.to_string().into());
    metadata.insert("actor_email".into(), staff.email.clone().into());
    metadata.insert("reason".into(), reason.into());
    let journal = NewJournal {
        idempotency_key,
        kind: JournalKind::ADJUSTMENT,
        reference: Some(format!("player:{player_id}")),
        transfers: vec![NewTransfer {
            debit,
            credit,
            amount,
        }],
        metadata,
    };
    // The journal and its audit event commit together; a replay (same key) records nothing.
    let mut tx = services.pool().begin().await?;
    let posted = ledger::post_journal_in_transaction(&mut tx, tenant.id, &journal).await?;
    let available_after = ledger::player_balances(&mut *tx, tenant.id, player_id)
        .await?
        .into_iter()
        .find(|balance| balance.currency == currency)
        .map(|balance| balance.available)
        .unwrap_or(SignedMoney::zero(currency));
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
                "currency": currency.code(),
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

impl Services {
    /// A manual credit: a request that a second, different finance or owner staff member
    /// approves on `/admin/credits` before anything posts. The player's balance is unchanged.
    #[allow(clippy::too_many_arguments)]
    async fn request_credit(
        &self,
        ctx: &RequestCtx,
        tenant: &crate::tenants::Tenant,
        staff: &crate::auth::StaffMember,
        player_id: Uuid,
        amount: Money,
        reason: &str,
        idempotency_key: IdempotencyKey,
    ) -> Result<AdjustmentReceipt, ServerError> {
        let currency = amount.currency();
        let mut tx = self.pool().begin().await?;
        // A key that already posted a debit is not reused for a credit.
        let debited: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM ledger_journals
                             WHERE tenant_id = $1 AND idempotency_key = $2)",
        )
        .bind(tenant.id)
        .bind(idempotency_key.as_str())
        .fetch_one(&mut *tx)
        .await?;
        if debited {
            return Err(ledger::LedgerError::IdempotencyKeyReused.into());
        }
        let request = crate::backoffice::credits::NewCreditRequest {
            source: crate::backoffice::credits::Source::Adjustment,
            player_id,
            amount,
            reason,
            idempotency_key: idempotency_key.as_str().to_owned(),
            finding: None,
        };
        let requested = crate::backoffice::credits::request(
            &mut tx,
            ctx,
            tenant.id,
            staff,
            &request,
            self.now(),
        )
        .await?;
        let available_after = ledger::player_balances(&mut *tx, tenant.id, player_id)
            .await?
            .into_iter()
            .find(|balance| balance.currency == currency)
            .map(|balance| balance.available)
            .unwrap_or(SignedMoney::zero(currency));
        tx.commit().await?;
        Ok(AdjustmentReceipt {
            journal_id: None,
            credit_request_id: Some(requested.id),
            replayed: requested.replayed,
            available_after,
        })
    }
}

fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}
