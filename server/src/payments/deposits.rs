//! Deposits on the server: creating one with its PSP checkout (idempotent per click), reading
//! them for the player, and applying what a PSP says about a checkout (the only way a deposit is
//! captured).

use app::api::RequestCtx;
use app::deposits::api::DepositsApi;
use app::deposits::{
    DepositOptions, DepositStarted, DepositState, DepositView, ProviderChoice, RECENT_DEPOSITS,
};
use app::domain::money::{Currency, Money};
use app::error::{AppError, ErrorCode};
use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{ApplyError, Outcome};
use crate::audit::{self, Actor, AuditEvent, request_id};
use crate::ledger::{
    self, AccountRef, IdempotencyKey, JournalKind, NewJournal, NewTransfer, ProviderName,
};
use crate::psp::{CheckoutOutcome, CheckoutRequest, CheckoutStatus, PspError};
use crate::services::{Services, internal};

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
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub player_id: Uuid,
    pub provider: String,
    pub amount_minor: i64,
    pub currency: String,
    pub state: String,
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
    pub fn amount(&self) -> Result<Money, AppError> {
        let currency = Currency::parse(&self.currency).map_err(internal)?;
        Money::from_minor_units(self.amount_minor, currency).map_err(internal)
    }

    fn state(&self) -> DepositState {
        DepositState::parse(&self.state).unwrap_or(DepositState::Failed)
    }

    fn view(&self) -> Result<DepositView, AppError> {
        Ok(DepositView {
            id: self.id,
            amount: self.amount()?,
            provider: self.provider.clone(),
            state: self.state(),
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
        let provider = self.providers().get(provider.trim()).ok_or_else(|| {
            AppError::invalid("provider", "Choose one of the payment methods offered.")
        })?;
        let currency = Currency::parse(currency.trim())
            .ok()
            .filter(|currency| DEPOSIT_CURRENCIES.contains(currency))
            .ok_or_else(|| {
                AppError::invalid("currency", "Choose one of the currencies offered.")
            })?;
        let amount = Money::parse_with_max(
            amount.trim(),
            currency,
            Decimal::from(DEPOSIT_AMOUNT_MAX_MAJOR),
        )
        .map_err(|error| AppError {
            field: Some("amount".into()),
            ..AppError::new(ErrorCode::InvalidAmount, capitalised(&error.to_string()))
        })?;
        let idempotency_key = idempotency_key.trim().to_owned();
        if idempotency_key.is_empty() || idempotency_key.len() > 200 {
            return Err(AppError::invalid(
                "idempotency_key",
                "The request has no valid idempotency key.",
            ));
        }
        let hash = request_hash(provider.name(), &amount);
        let now = self.now();

        let mut tx = self.pool().begin().await.map_err(internal)?;
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
        .await
        .map_err(internal)?;
        let deposit = match existing {
            Some(existing) => {
                tx.commit().await.map_err(internal)?;
                if existing.request_sha256 != hash {
                    return Err(AppError::new(
                        ErrorCode::IdempotencyKeyReused,
                        "This request's key was already used for a different deposit; nothing was changed.",
                    ));
                }
                existing
            }
            None => {
                crate::protection::check_deposit(&mut tx, tenant.id, player_id, &amount, now)
                    .await?;
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
                .await
                .map_err(internal)?;
                audit::record(
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
                .await
                .map_err(internal)?;
                tx.commit().await.map_err(internal)?;
                deposit
            }
        };
        if let Some(url) = &deposit.checkout_url {
            return Ok(DepositStarted {
                deposit_id: deposit.id,
                redirect_url: url.clone(),
            });
        }
        if deposit.state != "created" {
            return Err(AppError::new(
                ErrorCode::ProviderUnavailable,
                deposit
                    .failure_message
                    .clone()
                    .unwrap_or_else(|| "This deposit could not be started.".into()),
            ));
        }
        // The checkout is created outside any transaction (a network call); the PSP's own
        // idempotency key makes a retry of this step return the same checkout.
        let origin = self.browser_origin(ctx);
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
            expires_at: now + Duration::minutes(i64::from(self.config().checkout_expiry_minutes)),
            idempotency_key: format!("deposit:{}", deposit.id),
            description: format!("Deposit to {}", tenant.name),
        };
        match provider.create_checkout(&request).await {
            Ok(checkout) => {
                let mut tx = self.pool().begin().await.map_err(internal)?;
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
                .bind(self.now())
                .bind(expires_at + PENDING_RECHECK_GRACE)
                .execute(&mut *tx)
                .await
                .map_err(internal)?;
                if updated.rows_affected() == 1 {
                    audit::record(
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
                            at: self.now(),
                        },
                    )
                    .await
                    .map_err(internal)?;
                }
                tx.commit().await.map_err(internal)?;
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
                    .bind(self.now())
                    .execute(self.pool())
                    .await
                    .map_err(internal)?;
                }
                Err(provider_error(&error))
            }
        }
    }

    async fn status(&self, ctx: &RequestCtx, deposit_id: Uuid) -> Result<DepositView, AppError> {
        let (tenant, player_id) = self.require_player(ctx).await?;
        let row: Option<DepositRow> = sqlx::query_as(&format!(
            "SELECT {DEPOSIT_COLUMNS} FROM deposits
              WHERE tenant_id = $1 AND player_id = $2 AND id = $3"
        ))
        .bind(tenant.id)
        .bind(player_id)
        .bind(deposit_id)
        .fetch_optional(self.pool())
        .await
        .map_err(internal)?;
        row.ok_or_else(|| AppError::not_found("Deposit"))?.view()
    }

    async fn recent(&self, ctx: &RequestCtx) -> Result<Vec<DepositView>, AppError> {
        let (tenant, player_id) = self.require_player(ctx).await?;
        let rows: Vec<DepositRow> = sqlx::query_as(&format!(
            "SELECT {DEPOSIT_COLUMNS} FROM deposits
              WHERE tenant_id = $1 AND player_id = $2
              ORDER BY created_at DESC, id LIMIT $3"
        ))
        .bind(tenant.id)
        .bind(player_id)
        .bind(i64::from(RECENT_DEPOSITS))
        .fetch_all(self.pool())
        .await
        .map_err(internal)?;
        rows.iter().map(DepositRow::view).collect()
    }
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

    /// Closes deposits nobody will finish: `created` ones whose checkout never came into being
    /// are expired (each with its audit event), and due `pending` ones past their checkout's
    /// expiry are rechecked with their PSP and settled through the same path as a webhook.
    ///
    /// Rechecks go in turn: a deposit is claimed by moving its `next_check_at` forward (a backoff
    /// doubling from 1 minute to 1 hour) before its PSP is asked, and the sweep takes the
    /// earliest `next_check_at` first, so deposits that never resolve cannot starve the others.
    /// Claims skip rows another server holds, so several servers can sweep side by side.
    pub async fn sweep_deposits(&self) -> Result<usize, ApplyError> {
        let now = self.now();
        let expired = self.expire_abandoned_deposits(now).await?;
        let due: Vec<(Uuid, String, String)> = sqlx::query_as(
            "UPDATE deposits
                SET next_check_at = $1 + make_interval(secs =>
                        LEAST($2 * power(2, LEAST(check_count, 20)), $3)),
                    check_count = check_count + 1
              WHERE id IN (SELECT id FROM deposits
                            WHERE state = 'pending' AND next_check_at <= $1
                            ORDER BY next_check_at, id
                            LIMIT $4
                              FOR UPDATE SKIP LOCKED)
          RETURNING id, provider, provider_session_id",
        )
        .bind(now)
        .bind(RECHECK_BACKOFF_MIN_S as f64)
        .bind(RECHECK_BACKOFF_MAX_S as f64)
        .bind(SWEEP_RECHECKS_MAX)
        .fetch_all(self.pool())
        .await?;
        let mut rechecked = 0;
        for (deposit_id, provider_name, session_id) in due {
            let Some(provider) = self.providers().get(&provider_name) else {
                tracing::warn!(deposit = %deposit_id, provider = %provider_name, "a pending deposit's provider is not enabled; it waits");
                continue;
            };
            match provider.read_checkout(&session_id).await {
                Ok(mut status) => {
                    // The PSP's page is past its expiry: an open checkout will never be paid.
                    if status.outcome == CheckoutOutcome::Open {
                        status.outcome = CheckoutOutcome::Expired;
                    }
                    let mut tx = self.pool().begin().await?;
                    match apply_checkout_status(&mut tx, provider.name(), &status, self.now()).await
                    {
                        Ok(_) => {
                            tx.commit().await?;
                            rechecked += 1;
                        }
                        // One deposit that cannot be applied (a mismatch) must not stop the
                        // sweep: it is due again after its backoff.
                        Err(error) => {
                            tx.rollback().await?;
                            tracing::warn!(deposit = %deposit_id, %error, "applying a rechecked deposit failed");
                        }
                    }
                }
                Err(error) => {
                    tracing::warn!(deposit = %deposit_id, %session_id, %error, "rechecking a stale deposit failed")
                }
            }
        }
        Ok(expired + rechecked)
    }

    /// Expires `created` deposits older than an hour (their checkout was never created), each
    /// with a `deposit.expired` audit event in the same transaction. The failure code says why
    /// (and is what lets a deposit without a checkout end: `deposits_session_when_pending`).
    async fn expire_abandoned_deposits(&self, now: DateTime<Utc>) -> Result<usize, ApplyError> {
        let mut tx = self.pool().begin().await?;
        let mut rows: Vec<DepositRow> = sqlx::query_as(&format!(
            "UPDATE deposits
                SET state = 'expired', updated_at = $2, failure_code = 'checkout_not_created',
                    failure_message = 'No checkout was created for this deposit.'
              WHERE id IN (SELECT id FROM deposits
                            WHERE state = 'created' AND created_at < $1
                            ORDER BY created_at, id
                            LIMIT $3
                              FOR UPDATE SKIP LOCKED)
          RETURNING {DEPOSIT_COLUMNS}"
        ))
        .bind(now - CREATED_DEPOSIT_EXPIRY)
        .bind(now)
        .bind(SWEEP_EXPIRIES_MAX)
        .fetch_all(&mut *tx)
        .await?;
        // Audit chain heads are locked per tenant: always in tenant order, like account rows.
        rows.sort_by_key(|row| (row.tenant_id, row.id));
        for row in &rows {
            let before = DepositRow {
                state: DepositState::Created.as_str().to_owned(),
                ..row.clone()
            };
            audit::record(
                &mut tx,
                &AuditEvent {
                    tenant_id: row.tenant_id,
                    actor: Actor::System("deposit-sweep".into()),
                    action: "deposit.expired".into(),
                    target_type: "deposit".into(),
                    target_id: row.id.to_string(),
                    before: Some(before.snapshot()),
                    after: Some(row.snapshot()),
                    reason: Some("no checkout was created for this deposit within an hour".into()),
                    request_id: None,
                    idempotency_key: None,
                    ip: None,
                    at: now,
                },
            )
            .await?;
        }
        tx.commit().await?;
        if !rows.is_empty() {
            tracing::info!(count = rows.len(), "abandoned deposits expired");
        }
        Ok(rows.len())
    }
}

/// Applies what `provider` says about a checkout to its deposit, inside `tx`. The deposit row is
/// locked first, so concurrent deliveries of any events about one deposit apply one at a time.
///
/// Transitions: `Paid` captures a deposit that is not captured yet (also after `failed` or
/// `expired`: the PSP has the money) with one journal `psp_clearing -> player_cash`; `Failed`
/// and `Expired` end a deposit that is still `created` or `pending`; `Processing` keeps it
/// pending. Anything else changes nothing. A captured deposit never changes again.
pub async fn apply_checkout_status(
    tx: &mut sqlx::PgConnection,
    provider: &str,
    status: &CheckoutStatus,
    now: DateTime<Utc>,
) -> Result<Outcome, ApplyError> {
    let by_id = status.deposit_id;
    let deposit: Option<DepositRow> = sqlx::query_as(&format!(
        "SELECT {DEPOSIT_COLUMNS} FROM deposits
          WHERE provider = $1 AND (id = $2 OR provider_session_id = $3)
          ORDER BY (id = $2) DESC LIMIT 1
          FOR UPDATE"
    ))
    .bind(provider)
    .bind(by_id)
    .bind(&status.session_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(deposit) = deposit else {
        return Ok(Outcome::unmatched(format!(
            "no {provider} deposit for checkout {}",
            status.session_id
        )));
    };
    if let Some(session) = &deposit.provider_session_id
        && session != &status.session_id
    {
        return Err(ApplyError::Mismatch(format!(
            "deposit {} belongs to checkout {session}, not {}",
            deposit.id, status.session_id
        )));
    }
    let amount = deposit
        .amount()
        .map_err(|_| ApplyError::Mismatch("the deposit's amount is unreadable".into()))?;
    match &status.amount {
        Some(reported) if reported != &amount => {
            return Err(ApplyError::Mismatch(format!(
                "{provider} reports {reported} for deposit {} of {amount}",
                deposit.id
            )));
        }
        // Money is only credited in the amount and currency the PSP says it took: a payment
        // reported without them is kept as a failed apply for staff, never captured on trust.
        None if status.outcome == CheckoutOutcome::Paid
            && deposit.state() != DepositState::Captured =>
        {
            return Err(ApplyError::Mismatch(format!(
                "{provider} reports checkout {} paid without its amount and currency; deposit {} of {amount} is not captured",
                status.session_id, deposit.id
            )));
        }
        _ => {}
    }
    let object = |note: &str| Outcome::ignored(deposit.tenant_id, "deposit", deposit.id, note);
    let state = deposit.state();
    let (new_state, action) = match (&status.outcome, state) {
        (_, DepositState::Captured) => return Ok(object("the deposit is already captured")),
        (CheckoutOutcome::Paid, _) => (DepositState::Captured, "deposit.captured"),
        (CheckoutOutcome::Failed { .. }, DepositState::Created | DepositState::Pending) => {
            (DepositState::Failed, "deposit.failed")
        }
        (CheckoutOutcome::Expired, DepositState::Created | DepositState::Pending) => {
            (DepositState::Expired, "deposit.expired")
        }
        (CheckoutOutcome::Processing, DepositState::Created) => {
            (DepositState::Pending, "deposit.pending")
        }
        (CheckoutOutcome::Processing, DepositState::Pending) => {
            return Ok(object(
                "the payment is processing; the deposit stays pending",
            ));
        }
        (CheckoutOutcome::Open, _) => return Ok(object("the checkout is still open")),
        (_, DepositState::Failed | DepositState::Expired) => {
            return Ok(object("the deposit has already ended"));
        }
    };
    let mut journal_id = None;
    if new_state == DepositState::Captured {
        let provider_name = ProviderName::parse(provider)?;
        let journal = NewJournal {
            idempotency_key: IdempotencyKey::parse(format!("deposit:{}:capture", deposit.id))?,
            kind: JournalKind::DEPOSIT_CAPTURE,
            reference: Some(format!("deposit:{}", deposit.id)),
            transfers: vec![NewTransfer {
                debit: AccountRef::PspClearing(provider_name),
                credit: AccountRef::PlayerCash(deposit.player_id),
                amount,
            }],
            metadata: serde_json::Map::from_iter([
                ("deposit_id".to_owned(), deposit.id.to_string().into()),
                ("provider".to_owned(), provider.into()),
                (
                    "provider_session_id".to_owned(),
                    status.session_id.clone().into(),
                ),
                ("actor".to_owned(), format!("provider:{provider}").into()),
            ]),
        };
        let posted = ledger::post_journal_in_transaction(tx, deposit.tenant_id, &journal).await?;
        journal_id = Some(posted.journal_id.0);
    }
    let (failure_code, failure_message) = match &status.outcome {
        CheckoutOutcome::Failed { code, message } => (Some(code.clone()), Some(message.clone())),
        _ => (
            deposit.failure_code.clone(),
            deposit.failure_message.clone(),
        ),
    };
    sqlx::query(
        "UPDATE deposits
            SET state = $2, capture_journal_id = COALESCE($3, capture_journal_id),
                captured_at = CASE WHEN $2 = 'captured' THEN $4 ELSE captured_at END,
                provider_session_id = COALESCE(provider_session_id, $5),
                failure_code = $6, failure_message = $7, updated_at = $4,
                next_check_at = CASE WHEN $2 = 'pending' THEN COALESCE(next_check_at, $8)
                                     ELSE next_check_at END
          WHERE id = $1",
    )
    .bind(deposit.id)
    .bind(new_state.as_str())
    .bind(journal_id)
    .bind(now)
    .bind(&status.session_id)
    .bind(&failure_code)
    .bind(&failure_message)
    .bind(now + PENDING_RECHECK_GRACE)
    .execute(&mut *tx)
    .await?;
    audit::record(
        tx,
        &AuditEvent {
            tenant_id: deposit.tenant_id,
            actor: Actor::Provider(provider.to_owned()),
            action: action.into(),
            target_type: "deposit".into(),
            target_id: deposit.id.to_string(),
            before: Some(deposit.snapshot()),
            after: Some(serde_json::json!({
                "state": new_state.as_str(),
                "capture_journal_id": journal_id,
                "failure_code": failure_code,
            })),
            reason: failure_message.clone(),
            request_id: None,
            idempotency_key: None,
            ip: None,
            at: now,
        },
    )
    .await?;
    tracing::info!(deposit = %deposit.id, from = %deposit.state, to = new_state.as_str(), "deposit state changed");
    Ok(Outcome::applied(deposit.tenant_id, "deposit", deposit.id))
}

/// Captures a deposit that was never captured with an approved reconciliation correction (the
/// four-eyes path in `backoffice::credits`): the capture journal `psp_clearing -> player_cash` of
/// the deposit's amount under the correction's ledger key, and the deposit marked captured with
/// it, so the PSP's later word about the deposit finds it captured and credits nothing more.
/// Returns `None` (and changes nothing) when the deposit is captured already. The deposit row is
/// locked first, like `apply_checkout_status` does, so the two never both capture.
pub async fn capture_by_correction(
    tx: &mut sqlx::PgConnection,
    tenant_id: Uuid,
    deposit_id: Uuid,
    idempotency_key: &IdempotencyKey,
    amount: Money,
    staff_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Option<Uuid>, AppError> {
    let deposit: DepositRow = sqlx::query_as(&format!(
        "SELECT {DEPOSIT_COLUMNS} FROM deposits WHERE tenant_id = $1 AND id = $2 FOR UPDATE"
    ))
    .bind(tenant_id)
    .bind(deposit_id)
    .fetch_optional(&mut *tx)
    .await
    .map_err(internal)?
    .ok_or_else(|| AppError::not_found("Deposit"))?;
    if deposit.state() == DepositState::Captured {
        return Ok(None);
    }
    let deposit_amount = deposit.amount()?;
    if deposit_amount != amount {
        return Err(AppError {
            field: Some("amount".into()),
            ..AppError::new(
                ErrorCode::InvalidAmount,
                format!(
                    "A correction that captures deposit {} credits its whole amount, {deposit_amount}.",
                    deposit.id
                ),
            )
        });
    }
    let provider_name = ProviderName::parse(deposit.provider.clone())?;
    let journal = NewJournal {
        idempotency_key: idempotency_key.clone(),
        kind: JournalKind::DEPOSIT_CAPTURE,
        reference: Some(format!("deposit:{}", deposit.id)),
        transfers: vec![NewTransfer {
            debit: AccountRef::PspClearing(provider_name),
            credit: AccountRef::PlayerCash(deposit.player_id),
            amount,
        }],
        metadata: serde_json::Map::from_iter([
            ("deposit_id".to_owned(), deposit.id.to_string().into()),
            ("provider".to_owned(), deposit.provider.clone().into()),
            ("actor".to_owned(), format!("staff:{staff_id}").into()),
            (
                "correction".to_owned(),
                idempotency_key.as_str().to_owned().into(),
            ),
        ]),
    };
    let posted = ledger::post_journal_in_transaction(tx, tenant_id, &journal).await?;
    sqlx::query(
        "UPDATE deposits
            SET state = 'captured', capture_journal_id = $2, captured_at = $3, updated_at = $3
          WHERE id = $1",
    )
    .bind(deposit.id)
    .bind(posted.journal_id.0)
    .bind(now)
    .execute(&mut *tx)
    .await
    .map_err(internal)?;
    audit::record(
        tx,
        &AuditEvent {
            tenant_id,
            actor: Actor::Staff(staff_id),
            action: "deposit.captured".into(),
            target_type: "deposit".into(),
            target_id: deposit.id.to_string(),
            before: Some(deposit.snapshot()),
            after: Some(serde_json::json!({
                "state": "captured",
                "capture_journal_id": posted.journal_id.0,
                "by": "reconciliation_correction",
            })),
            reason: None,
            request_id: None,
            idempotency_key: Some(idempotency_key.as_str().to_owned()),
            ip: None,
            at: now,
        },
    )
    .await
    .map_err(internal)?;
    tracing::info!(deposit = %deposit.id, from = %deposit.state, "deposit captured by an approved correction");
    Ok(Some(posted.journal_id.0))
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}
