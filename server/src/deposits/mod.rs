//! Deposits on the server: creating one with its PSP checkout (idempotent per click), reading
//! them for the player, and applying what a PSP says about a checkout (the only way a deposit is
//! captured).

mod apply;
mod sweep;

pub use apply::{apply_checkout_status, capture_by_correction};

use app::api::RequestCtx;
use app::deposits::api::DepositsApi;
use app::deposits::{
    DepositOptions, DepositStarted, DepositState, DepositView, ProviderChoice, RECENT_DEPOSITS,
};
use app::domain::ids::{DepositId, PlayerId, TenantId};
use app::domain::money::{Currency, Money};
use app::error::{AppError, ErrorCode};
use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::audit::{self, Actor, AuditEvent, request_id};
use crate::error::{ServerError, ServerResult};
use crate::psp::{CheckoutRequest, PspError};
use crate::services::Services;
use crate::tenants::Tenant;

/// The currencies players may deposit in.
pub const DEPOSIT_CURRENCIES: [Currency; 5] = [
    Currency::Eur,
    Currency::Usd,
    Currency::Gbp,
    Currency::Try,
    Currency::Jpy,
];
/// The largest single deposit, in major units.
pub const DEPOSIT_AMOUNT_MAX_MAJOR: i64 = 100_000;
/// A deposit whose checkout could never be created is expired after this long.
const CREATED_DEPOSIT_EXPIRY: Duration = Duration::hours(1);
/// A pending deposit this long past its checkout's expiry is rechecked with its PSP.
const PENDING_RECHECK_GRACE: Duration = Duration::minutes(10);
/// The wait after a deposit's first recheck; it doubles with every further one, up to the max.
const RECHECK_BACKOFF_MIN_S: i64 = 60;
const RECHECK_BACKOFF_MAX_S: i64 = 60 * 60;
/// Deposits one sweep rechecks with their PSPs, and abandoned ones it expires.
const SWEEP_RECHECKS_MAX: i64 = 50;
const SWEEP_EXPIRIES_MAX: i64 = 200;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DepositRow {
    pub id: DepositId,
    pub tenant_id: TenantId,
    pub player_id: PlayerId,
    pub provider: String,
    pub amount_minor: i64,
    pub currency: String,
    #[sqlx(try_from = "String")]
    pub state: DepositState,
    pub request_sha256: Vec<u8>,
    pub provider_session_id: Option<String>,
    pub checkout_url: Option<String>,
    pub failure_code: Option<String>,
    pub failure_message: Option<String>,
    pub created_at: DateTime<Utc>,
    pub captured_at: Option<DateTime<Utc>>,
}

const DEPOSIT_COLUMNS: &str = "id, tenant_id, player_id, provider, amount_minor, currency, state,
    request_sha256, provider_session_id, checkout_url, failure_code, failure_message, created_at,
    captured_at";

impl DepositRow {
    pub fn amount(&self) -> Result<Money, ServerError> {
        let currency = Currency::parse(&self.currency)?;
        Ok(Money::from_minor_units(self.amount_minor, currency)?)
    }

    fn view(&self) -> Result<DepositView, ServerError> {
        Ok(DepositView {
            id: self.id,
            amount: self.amount()?,
            provider: self.provider.clone(),
            state: self.state,
            failure_message: self.failure_message.clone(),
            created_at: self.created_at,
            captured_at: self.captured_at,
        })
    }

    fn snapshot(&self) -> serde_json::Value {
        serde_json::json!({
            "state": self.state,
            "amount_minor": self.amount_minor,
            "currency": self.currency,
            "provider": self.provider,
            "provider_session_id": self.provider_session_id,
        })
    }
}

fn request_hash(provider: &str, amount: &Money) -> Vec<u8> {
    Sha256::digest(format!(
        "{provider}|{}|{}",
        amount.to_minor_units(),
        amount.currency().code()
    ))
    .to_vec()
}

fn provider_error(error: &PspError) -> AppError {
    match error {
        PspError::Rejected { message, .. } => AppError::new(
            ErrorCode::ProviderUnavailable,
            format!("The payment provider refused the deposit: {message}"),
        ),
        _ => AppError::new(
            ErrorCode::ProviderUnavailable,
            "The payment provider could not be reached. Please try again.",
        ),
    }
}

#[async_trait::async_trait]
impl DepositsApi for Services {
    async fn options(&self, ctx: &RequestCtx) -> Result<DepositOptions, AppError> {
        self.require_player(ctx).await?;
        Ok(DepositOptions {
            providers: self
                .providers()
                .all()
                .map(|provider| ProviderChoice {
                    name: provider.name().to_owned(),
                    display_name: provider.display_name().to_owned(),
                })
                .collect(),
            currencies: DEPOSIT_CURRENCIES.to_vec(),
        })
    }

    async fn start(
        &self,
        ctx: &RequestCtx,
        amount: String,
        currency: String,
        provider: String,
        idempotency_key: String,
    ) -> Result<DepositStarted, AppError> {
        let (tenant, player_id) = self.require_player(ctx).await?;
        Ok(start(
            self,
            ctx,
            tenant,
            player_id,
            amount,
            currency,
            provider,
            idempotency_key,
        )
        .await?)
    }

    async fn status(
        &self,
        ctx: &RequestCtx,
        deposit_id: DepositId,
    ) -> Result<DepositView, AppError> {
        let (tenant, player_id) = self.require_player(ctx).await?;
        Ok(status(self, tenant, player_id, deposit_id).await?)
    }

    async fn recent(&self, ctx: &RequestCtx) -> Result<Vec<DepositView>, AppError> {
        let (tenant, player_id) = self.require_player(ctx).await?;
        Ok(recent(self, tenant, player_id).await?)
    }
}

#[allow(clippy::too_many_arguments)] // the trait method's arguments, as the player sent them
async fn start(
    services: &Services,
    ctx: &RequestCtx,
    tenant: Tenant,
    player_id: PlayerId,
    amount: String,
    currency: String,
    provider: String,
    idempotency_key: String,
) -> ServerResult<DepositStarted> {
    let provider = services.providers().get(provider.trim()).ok_or_else(|| {
        AppError::invalid("provider", "Choose one of the payment methods offered.")
    })?;
    let currency = Currency::parse(currency.trim())
        .ok()
        .filter(|currency| DEPOSIT_CURRENCIES.contains(currency))
        .ok_or_else(|| AppError::invalid("currency", "Choose one of the currencies offered."))?;
    let amount = Money::parse_with_max(
        amount.trim(),
        currency,
        Decimal::from(DEPOSIT_AMOUNT_MAX_MAJOR),
    )
    .map_err(|error| AppError::invalid_amount(&error))?;
    let idempotency_key = idempotency_key.trim().to_owned();
    if idempotency_key.is_empty() || idempotency_key.len() > 200 {
        return Err(AppError::invalid(
            "idempotency_key",
            "The request has no valid idempotency key.",
        )
        .into());
    }
    let hash = request_hash(provider.name(), &amount);
    let now = services.now();

    let mut tx = services.pool().begin().await?;
    // One deposit decision at a time per player: the limit checks below see every deposit
    // that a concurrent request (another tab) created before them.
    crate::protection::lock_player(&mut tx, tenant.id, player_id).await?;
    let existing: Option<DepositRow> = sqlx::query_as(&format!(
        "SELECT {DEPOSIT_COLUMNS} FROM deposits
          WHERE tenant_id = $1 AND player_id = $2 AND idempotency_key = $3"
    ))
    .bind(tenant.id)
    .bind(player_id)
    .bind(&idempotency_key)
    .fetch_optional(&mut *tx)
    .await?;
    let deposit = match existing {
        Some(existing) => {
            tx.commit().await?;
            if existing.request_sha256 != hash {
                return Err(AppError::new(
                    ErrorCode::IdempotencyKeyReused,
                    "This request's key was already used for a different deposit; nothing was changed.",
                ).into());
            }
            existing
        }
        None => {
            crate::protection::check_deposit(&mut tx, tenant.id, player_id, &amount, now).await?;
            let deposit: DepositRow = sqlx::query_as(&format!(
                "INSERT INTO deposits (id, tenant_id, player_id, provider, amount_minor, currency,
                     state, idempotency_key, request_sha256, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, 'created', $7, $8, $9, $9)
                 RETURNING {DEPOSIT_COLUMNS}"
            ))
            .bind(Uuid::new_v4())
            .bind(tenant.id)
            .bind(player_id)
            .bind(provider.name())
            .bind(amount.to_minor_units())
            .bind(currency.code())
            .bind(&idempotency_key)
            .bind(&hash)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
            audit::queue(
                &mut tx,
                &AuditEvent {
                    tenant_id: tenant.id,
                    actor: Actor::Player(player_id),
                    action: "deposit.created".into(),
                    target_type: "deposit".into(),
                    target_id: deposit.id.to_string(),
                    before: None,
                    after: Some(deposit.snapshot()),
                    reason: None,
                    request_id: request_id(ctx),
                    idempotency_key: Some(idempotency_key.clone()),
                    ip: None,
                    at: now,
                },
            )
            .await?;
            tx.commit().await?;
            deposit
        }
    };
    if let Some(url) = &deposit.checkout_url {
        return Ok(DepositStarted {
            deposit_id: deposit.id,
            redirect_url: url.clone(),
        });
    }
    if deposit.state != DepositState::Created {
        return Err(AppError::new(
            ErrorCode::ProviderUnavailable,
            deposit
                .failure_message
                .clone()
                .unwrap_or_else(|| "This deposit could not be started.".into()),
        )
        .into());
    }
    // The checkout is created outside any transaction (a network call); the PSP's own
    // idempotency key makes a retry of this step return the same checkout.
    let origin = services.browser_origin(ctx);
    let request = CheckoutRequest {
        deposit_id: deposit.id,
        tenant_id: tenant.id,
        player_id,
        amount,
        success_url: format!(
            "{origin}/deposit/return?deposit={}&session_id={{CHECKOUT_SESSION_ID}}",
            deposit.id
        ),
        cancel_url: format!("{origin}/deposit/cancelled?deposit={}", deposit.id),
        expires_at: now + Duration::minutes(i64::from(services.config().checkout_expiry_minutes)),
        idempotency_key: format!("deposit:{}", deposit.id),
        description: format!("Deposit to {}", tenant.name),
    };
    match provider.create_checkout(&request).await {
        Ok(checkout) => {
            let mut tx = services.pool().begin().await?;
            let expires_at = checkout.expires_at.unwrap_or(request.expires_at);
            let updated = sqlx::query(
                "UPDATE deposits
                    SET state = 'pending', provider_session_id = $2, checkout_url = $3,
                        checkout_expires_at = $4, next_check_at = $6, updated_at = $5
                  WHERE id = $1 AND state = 'created'",
            )
            .bind(deposit.id)
            .bind(&checkout.session_id)
            .bind(&checkout.redirect_url)
            .bind(expires_at)
            .bind(services.now())
            .bind(expires_at + PENDING_RECHECK_GRACE)
            .execute(&mut *tx)
            .await?;
            if updated.rows_affected() == 1 {
                audit::queue(
                    &mut tx,
                    &AuditEvent {
                        tenant_id: tenant.id,
                        actor: Actor::Provider(provider.name().to_owned()),
                        action: "deposit.pending".into(),
                        target_type: "deposit".into(),
                        target_id: deposit.id.to_string(),
                        before: Some(deposit.snapshot()),
                        after: Some(serde_json::json!({
                            "state": "pending", "provider_session_id": checkout.session_id,
                        })),
                        reason: None,
                        request_id: request_id(ctx),
                        idempotency_key: Some(request.idempotency_key.clone()),
                        ip: None,
                        at: services.now(),
                    },
                )
                .await?;
            }
            tx.commit().await?;
            Ok(DepositStarted {
                deposit_id: deposit.id,
                redirect_url: checkout.redirect_url,
            })
        }
        Err(error) => {
            tracing::warn!(deposit = %deposit.id, %error, "creating the checkout failed");
            if let PspError::Rejected { code, message, .. } = &error {
                // A definite refusal: the deposit failed and says why.
                sqlx::query(
                    "UPDATE deposits SET state = 'failed', failure_code = $2,
                            failure_message = $3, updated_at = $4
                      WHERE id = $1 AND state = 'created'",
                )
                .bind(deposit.id)
                .bind(code)
                .bind(message)
                .bind(services.now())
                .execute(services.pool())
                .await?;
            }
            Err(provider_error(&error).into())
        }
    }
}

async fn status(
    services: &Services,
    tenant: Tenant,
    player_id: PlayerId,
    deposit_id: DepositId,
) -> ServerResult<DepositView> {
    let row: Option<DepositRow> = sqlx::query_as(&format!(
        "SELECT {DEPOSIT_COLUMNS} FROM deposits
          WHERE tenant_id = $1 AND player_id = $2 AND id = $3"
    ))
    .bind(tenant.id)
    .bind(player_id)
    .bind(deposit_id)
    .fetch_optional(services.pool())
    .await?;
    row.ok_or_else(|| AppError::not_found("Deposit"))?.view()
}

async fn recent(
    services: &Services,
    tenant: Tenant,
    player_id: PlayerId,
) -> ServerResult<Vec<DepositView>> {
    let rows: Vec<DepositRow> = sqlx::query_as(&format!(
        "SELECT {DEPOSIT_COLUMNS} FROM deposits
          WHERE tenant_id = $1 AND player_id = $2
          ORDER BY created_at DESC, id LIMIT $3"
    ))
    .bind(tenant.id)
    .bind(player_id)
    .bind(i64::from(RECENT_DEPOSITS))
    .fetch_all(services.pool())
    .await?;
    rows.iter().map(DepositRow::view).collect()
}

impl Services {
    /// The origin the player's browser uses for this brand: the request's host name when it is
    /// one of the brand hosts, at the public origin's scheme and port; else the public origin.
    pub fn browser_origin(&self, ctx: &RequestCtx) -> String {
        let host = ctx
            .parts
            .headers
            .get(http::header::HOST)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default();
        let config = self.config();
        let origins = config.allowed_origins();
        let scheme = config
            .public_origin
            .split_once("://")
            .map(|(scheme, _)| scheme)
            .unwrap_or("https");
        let candidate = format!("{scheme}://{host}");
        if origins.contains(&candidate) {
            candidate
        } else {
            config.public_origin.clone()
        }
    }
}
