//! The Account page's and the staff KYC page's server functions (`app::protection::api::ProtectionApi`).
//! Every change locks the player's row first (the lock the money flows take before their
//! checks), writes its rows and its audit event, and commits them together.

use app::api::RequestCtx;
use app::auth::StaffRole;
use app::domain::ids::{PlayerId, TenantId};
use app::domain::money::{Currency, Money};
use app::error::{AppError, ErrorCode};
use app::protection::api::ProtectionApi;
use app::protection::{
    AccountOverview, ExclusionPeriod, KYC_NOTE_LENGTH_MAX, KycState, LimitKind, LimitPeriod,
    PlayerProtectionView, parse_play_reminder_minutes,
};
use rust_decimal::Decimal;

use super::limits::{self, LIMIT_AMOUNT_MAX_MAJOR, LimitChange, LimitRequest};
use super::{ProtectionPolicy, exclusion, kyc, lock_player, reminder};
use crate::audit::{self, Actor, AuditEvent, request_id};
use crate::auth::StaffMember;
use crate::error::{ServerError, ServerResult};
use crate::services::Services;
use crate::tenants::Tenant;

impl Services {
    async fn account_overview(
        &self,
        tenant_id: TenantId,
        player_id: PlayerId,
    ) -> Result<AccountOverview, ServerError> {
        let now = self.now();
        let mut conn = self.pool().acquire().await?;
        let policy = ProtectionPolicy::load(&mut conn, tenant_id).await?;
        let kyc = kyc::state(&mut conn, tenant_id, player_id).await?;
        let (limit_currency, limits) =
            limits::views(&mut conn, LimitKind::Deposit, tenant_id, player_id, now).await?;
        let (loss_limit_currency, loss_limits) =
            limits::views(&mut conn, LimitKind::Loss, tenant_id, player_id, now).await?;
        let play_reminder_minutes =
            reminder::interval_minutes(&mut conn, tenant_id, player_id).await?;
        let self_exclusion = exclusion::active(&mut conn, tenant_id, player_id, now).await?;
        Ok(AccountOverview {
            kyc,
            limit_currency,
            limits,
            loss_limit_currency,
            loss_limits,
            play_reminder_minutes,
            self_exclusion,
            rules: policy.rules(),
        })
    }

    async fn player_protection(
        &self,
        tenant_id: TenantId,
        player_id: PlayerId,
    ) -> Result<PlayerProtectionView, ServerError> {
        let now = self.now();
        let mut conn = self.pool().acquire().await?;
        let player: Option<(String, String)> = sqlx::query_as(
            "SELECT email, display_name FROM players WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant_id)
        .bind(player_id)
        .fetch_optional(&mut *conn)
        .await?;
        let (email, display_name) = player.ok_or_else(|| AppError::not_found("Player"))?;
        Ok(PlayerProtectionView {
            player_id,
            email,
            display_name,
            kyc: kyc::state(&mut conn, tenant_id, player_id).await?,
            kyc_history: kyc::history(&mut conn, tenant_id, player_id).await?,
            limits: limits::views(&mut conn, LimitKind::Deposit, tenant_id, player_id, now)
                .await?
                .1,
            self_exclusion: exclusion::active(&mut conn, tenant_id, player_id, now).await?,
        })
    }
}

fn parse_limit_amount(amount: &str, currency: Currency) -> Result<Option<Money>, ServerError> {
    let amount = amount.trim();
    if amount.is_empty() {
        return Ok(None);
    }
    Ok(
        Money::parse_with_max(amount, currency, Decimal::from(LIMIT_AMOUNT_MAX_MAJOR))
            .map(Some)
            .map_err(|error| AppError {
                field: Some("amount".into()),
                ..AppError::new(
                    ErrorCode::InvalidAmount,
                    format!("Enter a limit as a plain amount: {error}."),
                )
            })?,
    )
}

#[async_trait::async_trait]
impl ProtectionApi for Services {
    async fn overview(&self, ctx: &RequestCtx) -> Result<AccountOverview, AppError> {
        let (tenant, player_id) = self.require_player(ctx).await?;
        Ok(self.account_overview(tenant.id, player_id).await?)
    }

    async fn set_limit(
        &self,
        ctx: &RequestCtx,
        kind: LimitKind,
        period: LimitPeriod,
        currency: String,
        amount: String,
    ) -> Result<AccountOverview, AppError> {
        let (tenant, player_id) = self.require_player(ctx).await?;
        let wish = LimitWish {
            kind,
            period,
            currency,
            amount,
        };
        Ok(set_limit(self, ctx, tenant, player_id, wish).await?)
    }

    async fn set_play_reminder(
        &self,
        ctx: &RequestCtx,
        minutes: String,
    ) -> Result<AccountOverview, AppError> {
        let (tenant, player_id) = self.require_player(ctx).await?;
        Ok(set_play_reminder(self, ctx, tenant, player_id, &minutes).await?)
    }

    async fn exclude(
        &self,
        ctx: &RequestCtx,
        period: ExclusionPeriod,
        confirmed: bool,
    ) -> Result<AccountOverview, AppError> {
        let (tenant, player_id) = self.require_player(ctx).await?;
        Ok(exclude(self, ctx, tenant, player_id, period, confirmed).await?)
    }

    async fn find_player(
        &self,
        ctx: &RequestCtx,
        email: String,
    ) -> Result<PlayerProtectionView, AppError> {
        let (tenant, _) = self.require_staff(ctx, StaffRole::Support).await?;
        Ok(find_player(self, tenant, email).await?)
    }

    async fn set_kyc_state(
        &self,
        ctx: &RequestCtx,
        player_id: PlayerId,
        state: KycState,
        note: String,
    ) -> Result<PlayerProtectionView, AppError> {
        let (tenant, staff) = self.require_staff(ctx, StaffRole::Support).await?;
        Ok(set_kyc_state(self, ctx, tenant, staff, player_id, state, note).await?)
    }
}

/// A player's limit form as sent: which kind and window, and the currency and amount still to
/// be parsed (an empty amount removes the limit).
struct LimitWish {
    kind: LimitKind,
    period: LimitPeriod,
    currency: String,
    amount: String,
}

/// Sets one deposit or loss limit: both kinds share the cooling-off rules (`limits::set`), and
/// their audit events differ only in the kind's name (`deposit_limit.applied`,
/// `loss_limit.scheduled`, …).
async fn set_limit(
    services: &Services,
    ctx: &RequestCtx,
    tenant: Tenant,
    player_id: PlayerId,
    wish: LimitWish,
) -> ServerResult<AccountOverview> {
    let LimitWish {
        kind,
        period,
        currency,
        amount,
    } = wish;
    let currency = Currency::parse(currency.trim())
        .map_err(|_| AppError::invalid("currency", "Choose one of the currencies offered."))?;
    let amount = parse_limit_amount(&amount, currency)?;
    let now = services.now();
    let mut tx = services.pool().begin().await?;
    lock_player(&mut tx, tenant.id, player_id).await?;
    let policy = ProtectionPolicy::load(&mut tx, tenant.id).await?;
    let request = LimitRequest {
        period,
        currency,
        amount,
    };
    let cooldown = policy.limit_increase_cooldown();
    let change = limits::set(&mut tx, kind, tenant.id, player_id, request, cooldown, now).await?;
    let (outcome, effective_at) = match change {
        LimitChange::Applied => ("applied", now),
        LimitChange::Scheduled(at) => ("scheduled", at),
        LimitChange::Unchanged => {
            tx.commit().await?;
            return services.account_overview(tenant.id, player_id).await;
        }
    };
    audit::record(
        &mut tx,
        &player_event(
            ctx,
            &tenant,
            player_id,
            format!("{}_limit.{outcome}", kind.noun()),
            None,
            Some(serde_json::json!({
                "period": period.as_str(),
                "amount_minor": amount.map(|amount| amount.to_minor_units()),
                "currency": currency.code(),
                "effective_at": effective_at,
            })),
            now,
        ),
    )
    .await?;
    tx.commit().await?;
    services.account_overview(tenant.id, player_id).await
}

/// Sets or turns off the play reminder. It only reminds, so unlike a limit it needs no
/// cooling-off; the player's row lock orders it with the other changes all the same.
async fn set_play_reminder(
    services: &Services,
    ctx: &RequestCtx,
    tenant: Tenant,
    player_id: PlayerId,
    minutes: &str,
) -> ServerResult<AccountOverview> {
    let minutes = parse_play_reminder_minutes(minutes)?;
    let now = services.now();
    let mut tx = services.pool().begin().await?;
    lock_player(&mut tx, tenant.id, player_id).await?;
    let before = reminder::interval_minutes(&mut tx, tenant.id, player_id).await?;
    if reminder::set(&mut tx, tenant.id, player_id, minutes, now).await? {
        audit::record(
            &mut tx,
            &player_event(
                ctx,
                &tenant,
                player_id,
                "play_reminder.set",
                Some(serde_json::json!({ "interval_minutes": before })),
                Some(serde_json::json!({ "interval_minutes": minutes })),
                now,
            ),
        )
        .await?;
    }
    tx.commit().await?;
    services.account_overview(tenant.id, player_id).await
}

/// The audit event of a player's own change to their protection settings.
fn player_event(
    ctx: &RequestCtx,
    tenant: &Tenant,
    player_id: PlayerId,
    action: impl Into<String>,
    before: Option<serde_json::Value>,
    after: Option<serde_json::Value>,
    at: chrono::DateTime<chrono::Utc>,
) -> AuditEvent {
    AuditEvent {
        tenant_id: tenant.id,
        actor: Actor::Player(player_id),
        action: action.into(),
        target_type: "player".into(),
        target_id: player_id.to_string(),
        before,
        after,
        reason: None,
        request_id: request_id(ctx),
        idempotency_key: None,
        ip: None,
        at,
    }
}

async fn exclude(
    services: &Services,
    ctx: &RequestCtx,
    tenant: Tenant,
    player_id: PlayerId,
    period: ExclusionPeriod,
    confirmed: bool,
) -> ServerResult<AccountOverview> {
    if !confirmed {
        return Err(AppError::invalid(
            "confirm",
            "Please confirm: a services-exclusion cannot be undone or shortened.",
        )
        .into());
    }
    let now = services.now();
    let mut tx = services.pool().begin().await?;
    lock_player(&mut tx, tenant.id, player_id).await?;
    let exclusion = exclusion::add(&mut tx, tenant.id, player_id, period, now).await?;
    audit::record(
        &mut tx,
        &player_event(
            ctx,
            &tenant,
            player_id,
            "self_exclusion.started",
            None,
            Some(serde_json::json!({
                "period": period.as_str(),
                "starts_at": exclusion.started_at,
                "ends_at": exclusion.ends_at,
            })),
            now,
        ),
    )
    .await?;
    tx.commit().await?;
    tracing::info!(tenant = %tenant.slug, player = %player_id, period = period.as_str(), "services-exclusion");
    services.account_overview(tenant.id, player_id).await
}

async fn find_player(
    services: &Services,
    tenant: Tenant,
    email: String,
) -> ServerResult<PlayerProtectionView> {
    let email = app::auth::normalise_email(&email)?;
    let player_id: Option<PlayerId> =
        sqlx::query_scalar("SELECT id FROM players WHERE tenant_id = $1 AND email = $2")
            .bind(tenant.id)
            .bind(&email)
            .fetch_optional(services.pool())
            .await?;
    let player_id = player_id.ok_or_else(|| AppError::not_found("Player"))?;
    services.player_protection(tenant.id, player_id).await
}

async fn set_kyc_state(
    services: &Services,
    ctx: &RequestCtx,
    tenant: Tenant,
    staff: StaffMember,
    player_id: PlayerId,
    state: KycState,
    note: String,
) -> ServerResult<PlayerProtectionView> {
    let note = note.trim();
    if note.is_empty() || note.chars().count() > KYC_NOTE_LENGTH_MAX {
        return Err(AppError::invalid(
            "note",
            format!("Write a note of 1 to {KYC_NOTE_LENGTH_MAX} characters."),
        )
        .into());
    }
    let now = services.now();
    let mut tx = services.pool().begin().await?;
    lock_player(&mut tx, tenant.id, player_id).await?;
    let from = kyc::state(&mut tx, tenant.id, player_id).await?;
    // The state asked for is already there (a double click, a second tab): nothing to do.
    if from == state {
        tx.commit().await?;
        return services.player_protection(tenant.id, player_id).await;
    }
    if !from.can_move_to(state) {
        return Err(AppError::new(
            ErrorCode::InvalidStateTransition,
            format!(
                "KYC cannot move from {} to {}.",
                from.as_str(),
                state.as_str()
            ),
        )
        .into());
    }
    kyc::record(
        &mut tx,
        &kyc::Decision {
            tenant_id: tenant.id,
            player_id,
            staff_id: staff.id,
            from,
            to: state,
            note,
            at: now,
        },
    )
    .await?;
    audit::record(
        &mut tx,
        &AuditEvent {
            tenant_id: tenant.id,
            actor: Actor::Staff(staff.id),
            action: format!("kyc.{}", state.as_str()),
            target_type: "player".into(),
            target_id: player_id.to_string(),
            before: Some(serde_json::json!({ "kyc": from.as_str() })),
            after: Some(serde_json::json!({ "kyc": state.as_str() })),
            reason: Some(note.to_owned()),
            request_id: request_id(ctx),
            idempotency_key: None,
            ip: None,
            at: now,
        },
    )
    .await?;
    tx.commit().await?;
    tracing::info!(tenant = %tenant.slug, player = %player_id, staff = %staff.id, kyc = state.as_str(), "KYC decision");
    services.player_protection(tenant.id, player_id).await
}
