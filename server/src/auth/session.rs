//! Server-side sessions. The browser holds a random 256-bit token in an HttpOnly cookie; the
//! database holds only its keyed hash. A session ends at log-out (deleted), after an idle
//! period, or at its absolute expiry, whichever comes first.

use app::domain::ids::{PlayerId, StaffId, TenantId};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use sqlx::PgPool;

use crate::config::Config;

/// Writing `last_seen_at` on every request would turn reads into writes; a minute's precision
/// is plenty for a 30-minute idle limit.
const TOUCH_INTERVAL_SECONDS: i64 = 60;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    Player(PlayerId),
    Staff(StaffId),
}

#[derive(Debug, Clone)]
pub struct Session {
    pub tenant_id: TenantId,
    pub subject: Subject,
}

#[derive(sqlx::FromRow)]
struct SessionRow {
    tenant_id: TenantId,
    player_id: Option<PlayerId>,
    staff_id: Option<StaffId>,
    last_seen_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
}

pub struct SessionStore {
    pool: PgPool,
    secret: SecretString,
    idle: Duration,
    absolute: Duration,
}

impl SessionStore {
    pub fn new(pool: PgPool, config: &Config) -> SessionStore {
        SessionStore {
            pool,
            secret: config.session_secret.clone(),
            idle: Duration::minutes(config.session_idle_minutes.into()),
            absolute: Duration::hours(config.session_absolute_hours.into()),
        }
    }

    pub fn absolute_lifetime(&self) -> Duration {
        self.absolute
    }

    /// Creates a session and returns the token for the cookie.
    pub async fn create(
        &self,
        tenant_id: TenantId,
        subject: Subject,
        now: DateTime<Utc>,
    ) -> Result<String, sqlx::Error> {
        let token = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
        let (player_id, staff_id) = match subject {
            Subject::Player(id) => (Some(id), None),
            Subject::Staff(id) => (None, Some(id)),
        };
        sqlx::query(
            "INSERT INTO sessions (token_sha256, tenant_id, player_id, staff_id, created_at, last_seen_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $5, $6)",
        )
        .bind(self.digest(&token))
        .bind(tenant_id)
        .bind(player_id)
        .bind(staff_id)
        .bind(now)
        .bind(now + self.absolute)
        .execute(&self.pool)
        .await?;
        Ok(token)
    }

    /// The live session for a token in this tenant. Expired sessions are deleted when seen.
    pub async fn find(
        &self,
        token: &str,
        tenant_id: TenantId,
        now: DateTime<Utc>,
    ) -> Result<Option<Session>, sqlx::Error> {
        let digest = self.digest(token);
        let row: Option<SessionRow> = sqlx::query_as(
            "SELECT tenant_id, player_id, staff_id, last_seen_at, expires_at FROM sessions WHERE token_sha256 = $1",
        )
        .bind(&digest)
        .fetch_optional(&self.pool)
        .await?;
        let Some(SessionRow {
            tenant_id: session_tenant,
            player_id,
            staff_id,
            last_seen_at,
            expires_at,
        }) = row
        else {
            return Ok(None);
        };
        if expires_at <= now || last_seen_at + self.idle <= now {
            self.delete_digest(&digest).await?;
            return Ok(None);
        }
        // A cookie from one brand's site is worthless on another's.
        if session_tenant != tenant_id {
            return Ok(None);
        }
        if now - last_seen_at >= Duration::seconds(TOUCH_INTERVAL_SECONDS) {
            sqlx::query("UPDATE sessions SET last_seen_at = $2 WHERE token_sha256 = $1")
                .bind(&digest)
                .bind(now)
                .execute(&self.pool)
                .await?;
        }
        let subject = match (player_id, staff_id) {
            (Some(id), None) => Subject::Player(id),
            (None, Some(id)) => Subject::Staff(id),
            _ => return Ok(None),
        };
        Ok(Some(Session {
            tenant_id: session_tenant,
            subject,
        }))
    }

    pub async fn delete(&self, token: &str) -> Result<(), sqlx::Error> {
        self.delete_digest(&self.digest(token)).await
    }

    async fn delete_digest(&self, digest: &[u8]) -> Result<(), sqlx::Error> {
        sqlx::query("DELETE FROM sessions WHERE token_sha256 = $1")
            .bind(digest)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Removes expired sessions (run periodically by the server).
    pub async fn purge_expired(&self, now: DateTime<Utc>) -> Result<u64, sqlx::Error> {
        let result =
            sqlx::query("DELETE FROM sessions WHERE expires_at <= $1 OR last_seen_at <= $2")
                .bind(now)
                .bind(now - self.idle)
                .execute(&self.pool)
                .await?;
        Ok(result.rows_affected())
    }

    fn digest(&self, token: &str) -> Vec<u8> {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.secret.expose_secret().as_bytes())
            .expect("HMAC takes any key length");
        mac.update(token.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }
}
