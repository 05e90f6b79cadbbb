//! The player's side: what may be withdrawn, the request (funds held in the same transaction as
//! the withdrawal row), and the player's own withdrawals.

use app::api::RequestCtx;
use app::domain::ids::PlayerId;
use app::domain::money::{Currency, Money, SignedMoney};
use app::domain::withdrawal::WithdrawalState;
use app::error::{AppError, ErrorCode};
use app::withdrawals::{
    WITHDRAWALS_LISTED_MAX, WithdrawOptions, WithdrawableBalance, WithdrawalView,
};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::model::{Change, Withdrawal, record};
use super::{policy, request_id};
use crate::audit::Actor;
use crate::error::{ServerError, ServerResult};
use crate::ledger::{
    self, AccountRef, IdempotencyKey, JournalKind, LedgerError, NewJournal, NewTransfer,
};
use crate::services::Services;
use crate::tenants::Tenant;

/// Longest idempotency key a client may send.
const CLIENT_KEY_LENGTH_MAX: usize = 200;

fn request_hash(amount: &Money) -> Vec<u8> {
    Sha256::digest(format!(
        "{}|{}",
        amount.to_minor_units(),
        amount.currency().code()
    ))
    .to_vec()
}

fn invalid_amount(message: impl Into<String>) -> AppError {
    AppError {
        field: Some("amount".into()),
        ..AppError::new(ErrorCode::InvalidAmount, message)
    }
}

fn insufficient(available: SignedMoney) -> AppError {
    AppError {
        field: Some("amount".into()),
        ..AppError::new(
            ErrorCode::InsufficientFunds,
            format!("Insufficient funds: you have {available} available."),
        )
    }
}

/// Checks a client's key and scopes nothing: withdrawals are unique per (tenant, player, key).
pub fn client_key(key: &str) -> Result<String, ServerError> {
    let key = key.trim();
    if key.is_empty() || key.len() > CLIENT_KEY_LENGTH_MAX {
        return Err(AppError::invalid(
            "idempotency_key",
            "The request has no valid idempotency key.",
        )
        .into());
    }
    Ok(key.to_owned())
}

pub async fn options(
    services: &Services,
    tenant: &Tenant,
    player_id: PlayerId,
) -> ServerResult<WithdrawOptions> {
    let mut conn = services.pool().acquire().await?;
    let policy = policy::load(&mut conn, tenant.id).await?;
    let balances = ledger::player_balances(&mut *conn, tenant.id, player_id).await?;
    Ok(WithdrawOptions {
        balances: balances
            .into_iter()
            .map(|balance| WithdrawableBalance {
                currency: balance.currency,
                available: balance.available,
                held: balance.held,
            })
            .collect(),
        amount_min: policy.amount_min,
        amount_max: policy.amount_max,
    })
}

pub async fn request(
    services: &Services,
    ctx: &RequestCtx,
    tenant: &Tenant,
    player_id: PlayerId,
    amount: String,
    currency: String,
    idempotency_key: String,
) -> ServerResult<WithdrawalView> {
    let currency = Currency::parse(currency.trim())
        .map_err(|_| AppError::invalid("currency", "Choose one of your currencies."))?;
    let amount =
        Money::parse(amount.trim(), currency).map_err(|error| AppError::invalid_amount(&error))?;
    let idempotency_key = client_key(&idempotency_key)?;
    let hash = request_hash(&amount);
    let now = services.now();

    let mut tx = services.pool().begin().await?;
    // One withdrawal decision at a time per player: the checks below see every earlier one.
    crate::protection::lock_player(&mut tx, tenant.id, player_id).await?;
    let existing: Option<Withdrawal> = sqlx::query_as(
        "SELECT * FROM withdrawals
          WHERE tenant_id = $1 AND player_id = $2 AND idempotency_key = $3",
    )
    .bind(tenant.id)
    .bind(player_id)
    .bind(&idempotency_key)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(existing) = existing {
        tx.commit().await?;
        if existing.request_sha256 != hash {
            return Err(AppError::new(
                ErrorCode::IdempotencyKeyReused,
                "This request's key was already used for a different withdrawal; nothing was changed.",
            ).into());
        }
        return Ok(existing.view());
    }
    crate::protection::check_withdrawal(&mut tx, tenant.id, player_id, &amount, now).await?;
    let policy = policy::load(&mut tx, tenant.id).await?;
    if amount.amount() < policy.amount_min {
        return Err(invalid_amount(format!(
            "The smallest withdrawal is {} {currency}.",
            policy.amount_min
        ))
        .into());
    }
    if amount.amount() > policy.amount_max {
        return Err(invalid_amount(format!(
            "The largest withdrawal is {} {currency}.",
            policy.amount_max
        ))
        .into());
    }
    let available = ledger::player_balances(&mut *tx, tenant.id, player_id)
        .await?
        .into_iter()
        .find(|balance| balance.currency == currency)
        .map(|balance| balance.available)
        .unwrap_or(SignedMoney::zero(currency));
    if available.minor_units() < amount.to_minor_units() {
        return Err(insufficient(available).into());
    }
    let id = Uuid::new_v4();
    let journal = NewJournal {
        idempotency_key: IdempotencyKey::parse(format!("withdrawal:{id}:request"))?,
        kind: JournalKind::WITHDRAWAL_REQUEST,
        reference: Some(format!("withdrawal:{id}")),
        transfers: vec![NewTransfer {
            debit: AccountRef::PlayerCash(player_id),
            credit: AccountRef::PlayerWithdrawalHold(player_id),
            amount,
        }],
        metadata: serde_json::Map::from_iter([
            ("withdrawal_id".to_owned(), id.to_string().into()),
            ("actor".to_owned(), format!("player:{player_id}").into()),
        ]),
    };
    let posted = ledger::post_journal_in_transaction(&mut tx, tenant.id, &journal)
        .await
        .map_err(|error| match error {
            // The ledger is the last word on funds, whatever was read above.
            LedgerError::InsufficientFunds { .. } => insufficient(available),
            error => error.into(),
        })?;
    let withdrawal: Withdrawal = sqlx::query_as(
        "INSERT INTO withdrawals (id, tenant_id, player_id, amount_minor, currency, state,
             idempotency_key, request_sha256, request_journal_id, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, 'requested', $6, $7, $8, $9, $9)
         RETURNING *",
    )
    .bind(id)
    .bind(tenant.id)
    .bind(player_id)
    .bind(amount.to_minor_units())
    .bind(currency.code())
    .bind(&idempotency_key)
    .bind(&hash)
    .bind(posted.journal_id.0)
    .bind(now)
    .fetch_one(&mut *tx)
    .await?;
    record(
        &mut tx,
        Change {
            withdrawal: &withdrawal,
            action: "requested",
            from_state: None,
            to_state: WithdrawalState::Requested,
            actor: Actor::Player(player_id),
            attempt_number: None,
            reason: None,
            detail: Some(serde_json::json!({"amount": amount.to_string()})),
            staff_action: None,
            idempotency_key: Some(idempotency_key),
            request_id: request_id(ctx),
            at: now,
        },
    )
    .await?;
    tx.commit().await?;
    tracing::info!(withdrawal = %id, player = %player_id, %amount, "withdrawal requested");
    Ok(withdrawal.view())
}

pub async fn mine(
    services: &Services,
    tenant: &Tenant,
    player_id: PlayerId,
) -> ServerResult<Vec<WithdrawalView>> {
    let rows: Vec<Withdrawal> = sqlx::query_as(
        "SELECT * FROM withdrawals
          WHERE tenant_id = $1 AND player_id = $2
          ORDER BY created_at DESC, id LIMIT $3",
    )
    .bind(tenant.id)
    .bind(player_id)
    .bind(i64::from(WITHDRAWALS_LISTED_MAX))
    .fetch_all(services.pool())
    .await?;
    Ok(rows.iter().map(Withdrawal::view).collect())
}
