//! Game sessions: a player's launch of one game creates an opaque token, bound to the tenant,
//! the player, the currency and the game, with an expiry. Only the token's SHA-256 is stored, so
//! the table cannot be used to play; the provider sends the token back on every call.

use app::domain::ids::{PlayerId, TenantId};
use app::domain::money::Currency;
use chrono::{DateTime, Duration, Utc};
use sha2::{Digest, Sha256};
use sqlx::{PgExecutor, PgPool};
use uuid::Uuid;

use crate::error::{ServerError, ServerResult};

/// How long a game session takes bets after its launch.
pub const GAME_SESSION_HOURS: i64 = 8;

/// A game session as the wallet calls find it.
#[derive(Debug, Clone)]
pub struct GameSession {
    pub id: Uuid,
    pub tenant_id: TenantId,
    pub player_id: PlayerId,
    pub provider: String,
    pub game_code: String,
    pub currency: Currency,
    pub expires_at: DateTime<Utc>,
}

impl GameSession {
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        now < self.expires_at
    }
}

/// A new session and the token to hand to the provider (shown once, never stored).
#[derive(Debug, Clone)]
pub struct Launched {
    pub session: GameSession,
    pub token: String,
}

fn token_sha256(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Opens a session of `game` for the player, in `currency`, from `now`. The game must be an
/// enabled game of the player's tenant (`Ok(None)` otherwise).
pub async fn launch(
    pool: &PgPool,
    tenant_id: TenantId,
    player_id: PlayerId,
    provider: &str,
    game_code: &str,
    currency: Currency,
    now: DateTime<Utc>,
) -> ServerResult<Option<Launched>> {
    let token = hex::encode(rand::random::<[u8; 32]>());
    let session = GameSession {
        id: Uuid::new_v4(),
        tenant_id,
        player_id,
        provider: provider.to_owned(),
        game_code: game_code.to_owned(),
        currency,
        expires_at: now + Duration::hours(GAME_SESSION_HOURS),
    };
    let inserted = sqlx::query(
        "INSERT INTO game_sessions (id, tenant_id, player_id, provider, game_code, currency,
                                    token_sha256, created_at, expires_at)
         SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9
           FROM games
          WHERE tenant_id = $2 AND provider = $4 AND code = $5 AND enabled",
    )
    .bind(session.id)
    .bind(tenant_id)
    .bind(player_id)
    .bind(provider)
    .bind(game_code)
    .bind(currency.code())
    .bind(token_sha256(&token))
    .bind(now)
    .bind(session.expires_at)
    .execute(pool)
    .await?
    .rows_affected();
    Ok((inserted == 1).then_some(Launched { session, token }))
}

/// One row of `game_sessions`, as stored.
#[derive(sqlx::FromRow)]
struct SessionRow {
    id: Uuid,
    tenant_id: TenantId,
    player_id: PlayerId,
    provider: String,
    game_code: String,
    currency: String,
    expires_at: DateTime<Utc>,
}

/// The session of `provider` with `token`, live or not; `None` for an unknown token or another
/// provider's.
pub async fn find<'e>(
    executor: impl PgExecutor<'e>,
    provider: &str,
    token: &str,
) -> ServerResult<Option<GameSession>> {
    let row: Option<SessionRow> = sqlx::query_as(
        "SELECT id, tenant_id, player_id, provider, game_code, currency, expires_at
           FROM game_sessions WHERE token_sha256 = $1 AND provider = $2",
    )
    .bind(token_sha256(token))
    .bind(provider)
    .fetch_optional(executor)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    Ok(Some(GameSession {
        currency: Currency::parse(&row.currency)
            .map_err(|_| ServerError::unknown_stored("game session currency", &row.currency))?,
        id: row.id,
        tenant_id: row.tenant_id,
        player_id: row.player_id,
        provider: row.provider,
        game_code: row.game_code,
        expires_at: row.expires_at,
    }))
}
