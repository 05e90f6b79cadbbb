//! The seamless wallet's core: balance, bet, win and rollback, knowing no provider's protocol.
//!
//! Every money-moving call is one Postgres transaction that locks the player's row (the lock
//! the deposit, withdrawal and protection flows take too), looks for an earlier call with the
//! same provider transaction id, checks, posts one journal and records the call with the answer
//! it gives, so that:
//! - an exact replay returns the first answer (the same balance figure) and moves nothing, and
//!   the same id for a different call is `duplicate_transaction`, whatever the concurrency;
//! - a bet sees the balance, limits and exclusions of everything committed before it, and
//!   concurrent bets cannot together overdraw the player;
//! - the house account is never locked: the ledger appends its side as a delta.
//!
//! Rules: a bet needs a live session of its game and currency, an available balance, no
//! self-exclusion and room in every loss limit. A win pays a bet that was taken and not rolled
//! back, always (even after the session ended or an exclusion began). A rollback returns a bet's
//! stake exactly once and is refused once its round was won; a rollback of a bet Kasa never saw
//! is recorded as a tombstone and answered with success, and the bet, should it arrive later, is
//! refused.

use app::domain::ids::PlayerId;
use app::domain::money::{Currency, Money};
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::model::{
    Applied, Balance, Bet, Caller, ProviderId, Refusal, Rollback, WalletError, Win, request_sha256,
};
use super::sessions::{self, GameSession};
use crate::ledger::{
    self, AccountRef, IdempotencyKey, JournalKind, LedgerError, NewJournal, NewTransfer,
};
use crate::protection::limits::{self, LossLimitRefusal};
use crate::protection::{exclusion, lock_player};

type WalletResult<T> = Result<T, WalletError>;

/// The player's balance in the session's currency (any session the token names, live or not).
pub async fn balance(pool: &PgPool, caller: Caller<'_>) -> WalletResult<Balance> {
    let session = session_of(pool, caller).await?;
    let mut conn = pool.acquire().await?;
    cash_balance(&mut conn, &session).await
}

/// Takes a stake: `player_cash → house`.
pub async fn bet(
    pool: &PgPool,
    now: DateTime<Utc>,
    caller: Caller<'_>,
    bet: &Bet,
) -> WalletResult<Applied> {
    let session = session_of(pool, caller).await?;
    let request = request_sha256(
        "bet",
        session.player_id,
        &bet.round_id,
        &bet.game,
        Some(&bet.amount),
        bet.amount.currency(),
        None,
    );
    let mut tx = pool.begin().await?;
    lock_player(&mut tx, session.tenant_id, session.player_id).await?;
    if let Some(applied) = earlier_call(&mut tx, &session, &bet.tx_id, &request).await? {
        return Ok(applied);
    }
    let before = cash_balance(&mut tx, &session).await?;
    let refuse = |refusal| Err(WalletError::refused(refusal, Some(before)));
    if !session.is_live(now) {
        return refuse(Refusal::TokenExpired);
    }
    if bet.game.as_str() != session.game_code {
        return refuse(Refusal::InvalidGame);
    }
    if bet.amount.currency() != session.currency {
        return refuse(Refusal::WrongCurrency);
    }
    if rollback_of(&mut tx, &session, &bet.tx_id).await?.is_some() {
        return refuse(Refusal::TransactionRolledBack);
    }
    if exclusion::active(&mut tx, session.tenant_id, session.player_id, now)
        .await?
        .is_some()
    {
        return refuse(Refusal::PlayerExcluded);
    }
    match limits::check_loss(
        &mut tx,
        session.tenant_id,
        session.player_id,
        &bet.amount,
        now,
    )
    .await?
    {
        Ok(()) => {}
        Err(LossLimitRefusal::OtherCurrency(_)) => {
            return refuse(Refusal::LossLimitReached { room_minor: 0 });
        }
        Err(LossLimitRefusal::Exceeded(limit)) => {
            let room_minor = limit.remaining.minor_units();
            return refuse(Refusal::LossLimitReached { room_minor });
        }
    }
    if before.balance_minor < bet.amount.to_minor_units() {
        return refuse(Refusal::NotEnoughMoney);
    }
    let player = AccountRef::PlayerCash(session.player_id);
    let after = Balance {
        balance_minor: before.balance_minor - bet.amount.to_minor_units(),
        ..before
    };
    let call = NewCall {
        kind: "bet",
        tx_id: &bet.tx_id,
        round_id: &bet.round_id,
        game: &bet.game,
        amount: Some(bet.amount),
        reference_tx: None,
        request,
        answer: after,
    };
    let journal = (JournalKind::BET, player, AccountRef::House);
    record(&mut tx, &session, &call, Some(journal), now).await?;
    tx.commit().await?;
    Ok(Applied {
        balance: after,
        replayed: false,
    })
}

/// Pays a win for a bet that was taken: `house → player_cash`.
pub async fn win(
    pool: &PgPool,
    now: DateTime<Utc>,
    caller: Caller<'_>,
    win: &Win,
) -> WalletResult<Applied> {
    let session = session_of(pool, caller).await?;
    let request = request_sha256(
        "win",
        session.player_id,
        &win.round_id,
        &win.game,
        Some(&win.amount),
        win.amount.currency(),
        Some(&win.reference_tx),
    );
    let mut tx = pool.begin().await?;
    lock_player(&mut tx, session.tenant_id, session.player_id).await?;
    if let Some(applied) = earlier_call(&mut tx, &session, &win.tx_id, &request).await? {
        return Ok(applied);
    }
    let before = cash_balance(&mut tx, &session).await?;
    let refuse = |refusal| Err(WalletError::refused(refusal, Some(before)));
    let Some(bet) = bet_of(&mut tx, &session, &win.reference_tx).await? else {
        return refuse(Refusal::UnknownTransaction);
    };
    if bet.round_id != win.round_id.as_str() {
        return refuse(Refusal::UnknownTransaction);
    }
    if win.amount.currency() != bet.currency || bet.currency != session.currency {
        return refuse(Refusal::WrongCurrency);
    }
    if rollback_of(&mut tx, &session, &win.reference_tx)
        .await?
        .is_some()
    {
        return refuse(Refusal::TransactionRolledBack);
    }
    let after = Balance {
        balance_minor: before.balance_minor + win.amount.to_minor_units(),
        ..before
    };
    let call = NewCall {
        kind: "win",
        tx_id: &win.tx_id,
        round_id: &win.round_id,
        game: &win.game,
        amount: Some(win.amount),
        reference_tx: Some(&win.reference_tx),
        request,
        answer: after,
    };
    let player = AccountRef::PlayerCash(session.player_id);
    let journal = (JournalKind::WIN, AccountRef::House, player);
    record(&mut tx, &session, &call, Some(journal), now).await?;
    tx.commit().await?;
    Ok(Applied {
        balance: after,
        replayed: false,
    })
}

/// Returns a bet's stake (`house → player_cash`), or records a tombstone for a bet never seen.
pub async fn rollback(
    pool: &PgPool,
    now: DateTime<Utc>,
    caller: Caller<'_>,
    rollback: &Rollback,
) -> WalletResult<Applied> {
    let session = session_of(pool, caller).await?;
    let request = request_sha256(
        "rollback",
        session.player_id,
        &rollback.round_id,
        &rollback.game,
        None,
        session.currency,
        Some(&rollback.reference_tx),
    );
    let mut tx = pool.begin().await?;
    lock_player(&mut tx, session.tenant_id, session.player_id).await?;
    if let Some(applied) = earlier_call(&mut tx, &session, &rollback.tx_id, &request).await? {
        return Ok(applied);
    }
    let before = cash_balance(&mut tx, &session).await?;
    let refuse = |refusal| Err(WalletError::refused(refusal, Some(before)));
    let referenced = call_of(&mut tx, &session, &rollback.reference_tx).await?;
    let bet = match referenced {
        Some(call) if call.kind == "bet" && call.player_id == session.player_id => Some(call),
        // Only bets are rolled back, and only the caller's own.
        Some(_) => return refuse(Refusal::UnknownTransaction),
        None => None,
    };
    if rollback_of(&mut tx, &session, &rollback.reference_tx)
        .await?
        .is_some()
    {
        return refuse(Refusal::TransactionRolledBack);
    }
    let Some(bet) = bet else {
        // The bet never arrived (it timed out on its way): a tombstone refuses it from now on.
        let call = NewCall {
            kind: "rollback",
            tx_id: &rollback.tx_id,
            round_id: &rollback.round_id,
            game: &rollback.game,
            amount: None,
            reference_tx: Some(&rollback.reference_tx),
            request,
            answer: before,
        };
        record(&mut tx, &session, &call, None, now).await?;
        tx.commit().await?;
        return Ok(Applied {
            balance: before,
            replayed: false,
        });
    };
    if round_won(&mut tx, &session, &bet).await? {
        return refuse(Refusal::RoundSettled);
    }
    let stake = Money::from_minor_units(bet.amount_minor, bet.currency)
        .map_err(|_| WalletError::Server(crate::error::ServerError::internal("bet amount")))?;
    let after = Balance {
        balance_minor: before.balance_minor + bet.amount_minor,
        ..before
    };
    let round_id = ProviderId::parse(bet.round_id.clone())
        .ok_or_else(|| crate::error::ServerError::unknown_stored("round id", &bet.round_id))?;
    let game = ProviderId::parse(bet.game_code.clone())
        .ok_or_else(|| crate::error::ServerError::unknown_stored("game code", &bet.game_code))?;
    let call = NewCall {
        kind: "rollback",
        tx_id: &rollback.tx_id,
        round_id: &round_id,
        game: &game,
        amount: Some(stake),
        reference_tx: Some(&rollback.reference_tx),
        request,
        answer: after,
    };
    let player = AccountRef::PlayerCash(session.player_id);
    let journal = (JournalKind::BET_ROLLBACK, AccountRef::House, player);
    record(&mut tx, &session, &call, Some(journal), now).await?;
    tx.commit().await?;
    Ok(Applied {
        balance: after,
        replayed: false,
    })
}

/// The session the caller's token names; the player the protocol names, if any, must be its.
async fn session_of(pool: &PgPool, caller: Caller<'_>) -> WalletResult<GameSession> {
    let session = sessions::find(pool, caller.provider, caller.token).await?;
    match session {
        Some(session)
            if caller
                .user
                .is_none_or(|user| user == session.player_id.to_string()) =>
        {
            Ok(session)
        }
        _ => Err(WalletError::refused(Refusal::InvalidToken, None)),
    }
}

async fn cash_balance(conn: &mut PgConnection, session: &GameSession) -> WalletResult<Balance> {
    let balance_minor: Option<i64> = sqlx::query_scalar(
        "SELECT balance_minor FROM ledger_account_balances
          WHERE tenant_id = $1 AND player_id = $2 AND kind = 'player_cash' AND currency = $3",
    )
    .bind(session.tenant_id)
    .bind(session.player_id)
    .bind(session.currency.code())
    .fetch_optional(conn)
    .await?;
    Ok(Balance {
        player_id: session.player_id,
        currency: session.currency,
        balance_minor: balance_minor.unwrap_or(0),
    })
}

/// A call recorded earlier, as the checks need it.
#[derive(Debug, sqlx::FromRow)]
struct StoredCall {
    kind: String,
    player_id: PlayerId,
    round_id: String,
    game_code: String,
    currency: String,
    amount_minor: i64,
    request_sha256: Vec<u8>,
    response: sqlx::types::Json<Balance>,
}

struct Call {
    kind: String,
    player_id: PlayerId,
    round_id: String,
    game_code: String,
    currency: Currency,
    amount_minor: i64,
}

impl TryFrom<StoredCall> for Call {
    type Error = WalletError;
    fn try_from(stored: StoredCall) -> WalletResult<Call> {
        let currency = Currency::parse(&stored.currency).map_err(|_| {
            crate::error::ServerError::unknown_stored("game currency", &stored.currency)
        })?;
        Ok(Call {
            kind: stored.kind,
            player_id: stored.player_id,
            round_id: stored.round_id,
            game_code: stored.game_code,
            currency,
            amount_minor: stored.amount_minor,
        })
    }
}

const CALL_COLUMNS: &str = "kind, player_id, round_id, game_code, currency, amount_minor, \
    request_sha256, response";

async fn stored_call(
    conn: &mut PgConnection,
    session: &GameSession,
    tx_id: &ProviderId,
) -> WalletResult<Option<StoredCall>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {CALL_COLUMNS} FROM game_transactions
          WHERE tenant_id = $1 AND provider = $2 AND tx_id = $3"
    ))
    .bind(session.tenant_id)
    .bind(&session.provider)
    .bind(tx_id.as_str())
    .fetch_optional(conn)
    .await?)
}

/// The answer to an earlier call with this id: the same one for the same request, a refusal
/// for a different one.
async fn earlier_call(
    conn: &mut PgConnection,
    session: &GameSession,
    tx_id: &ProviderId,
    request: &[u8],
) -> WalletResult<Option<Applied>> {
    match stored_call(conn, session, tx_id).await? {
        None => Ok(None),
        Some(stored) if stored.request_sha256 == request => Ok(Some(Applied {
            balance: stored.response.0,
            replayed: true,
        })),
        Some(_) => {
            let balance = cash_balance(conn, session).await?;
            Err(WalletError::refused(
                Refusal::DuplicateTransaction,
                Some(balance),
            ))
        }
    }
}

async fn call_of(
    conn: &mut PgConnection,
    session: &GameSession,
    tx_id: &ProviderId,
) -> WalletResult<Option<Call>> {
    stored_call(conn, session, tx_id)
        .await?
        .map(Call::try_from)
        .transpose()
}

/// The bet with this id, if the caller's player placed it.
async fn bet_of(
    conn: &mut PgConnection,
    session: &GameSession,
    tx_id: &ProviderId,
) -> WalletResult<Option<Call>> {
    Ok(call_of(conn, session, tx_id)
        .await?
        .filter(|call| call.kind == "bet" && call.player_id == session.player_id))
}

/// The id of the rollback (or tombstone) that names this bet, if any.
async fn rollback_of(
    conn: &mut PgConnection,
    session: &GameSession,
    bet_tx_id: &ProviderId,
) -> WalletResult<Option<Uuid>> {
    Ok(sqlx::query_scalar(
        "SELECT id FROM game_transactions
          WHERE tenant_id = $1 AND provider = $2 AND reference_tx = $3 AND kind = 'rollback'",
    )
    .bind(session.tenant_id)
    .bind(&session.provider)
    .bind(bet_tx_id.as_str())
    .fetch_optional(conn)
    .await?)
}

/// Whether the bet's round has a win: its stake then stays taken.
async fn round_won(
    conn: &mut PgConnection,
    session: &GameSession,
    bet: &Call,
) -> WalletResult<bool> {
    Ok(sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM game_transactions
                         WHERE tenant_id = $1 AND provider = $2 AND round_id = $3
                           AND player_id = $4 AND kind = 'win')",
    )
    .bind(session.tenant_id)
    .bind(&session.provider)
    .bind(&bet.round_id)
    .bind(session.player_id)
    .fetch_one(conn)
    .await?)
}

/// A call about to be recorded, with the answer it gives.
struct NewCall<'a> {
    kind: &'static str,
    tx_id: &'a ProviderId,
    round_id: &'a ProviderId,
    game: &'a ProviderId,
    amount: Option<Money>,
    reference_tx: Option<&'a ProviderId>,
    request: Vec<u8>,
    answer: Balance,
}

/// Posts the call's journal (`(kind, debit, credit)`; none for a tombstone) and records the
/// call, in the caller's transaction.
async fn record(
    conn: &mut PgConnection,
    session: &GameSession,
    call: &NewCall<'_>,
    journal: Option<(JournalKind, AccountRef, AccountRef)>,
    now: DateTime<Utc>,
) -> WalletResult<()> {
    let id = Uuid::new_v4();
    let journal_id =
        match (journal, call.amount) {
            (Some((kind, debit, credit)), Some(amount)) => {
                let key = IdempotencyKey::parse(format!(
                    "game:{}:{}",
                    session.provider,
                    call.tx_id.as_str()
                ))?;
                let mut journal = NewJournal::new(
                    key,
                    kind,
                    vec![NewTransfer {
                        debit,
                        credit,
                        amount,
                    }],
                );
                journal.reference = Some(format!("game_transaction:{id}"));
                journal.metadata = serde_json::json!({
                    "provider": session.provider,
                    "tx_id": call.tx_id.as_str(),
                    "round_id": call.round_id.as_str(),
                    "game": call.game.as_str(),
                })
                .as_object()
                .cloned()
                .unwrap_or_default();
                let posted =
                    match ledger::post_journal_in_transaction(conn, session.tenant_id, &journal)
                        .await
                    {
                        Err(LedgerError::InsufficientFunds { .. }) => {
                            return Err(WalletError::refused(
                                Refusal::NotEnoughMoney,
                                Some(cash_balance(conn, session).await?),
                            ));
                        }
                        posted => posted?,
                    };
                Some(posted.journal_id.0)
            }
            _ => None,
        };
    let currency = call
        .amount
        .map_or(session.currency, |amount| amount.currency());
    sqlx::query(
        "INSERT INTO game_transactions (id, tenant_id, provider, tx_id, kind, player_id,
                session_id, round_id, game_code, currency, amount_minor, reference_tx,
                tombstone, journal_id, request_sha256, response, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
    )
    .bind(id)
    .bind(session.tenant_id)
    .bind(&session.provider)
    .bind(call.tx_id.as_str())
    .bind(call.kind)
    .bind(session.player_id)
    .bind(session.id)
    .bind(call.round_id.as_str())
    .bind(call.game.as_str())
    .bind(currency.code())
    .bind(call.amount.map_or(0, |amount| amount.to_minor_units()))
    .bind(call.reference_tx.map(ProviderId::as_str))
    .bind(journal_id.is_none())
    .bind(journal_id)
    .bind(&call.request)
    .bind(sqlx::types::Json(call.answer))
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}
