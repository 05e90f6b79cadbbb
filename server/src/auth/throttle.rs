//! Log-in throttling, per account and per client address: after 5 failures in the window every
//! further attempt is refused with 429 until a short delay passes; after 10 the account or
//! address is locked for 30 minutes. Counts live in Postgres so every server process shares them.

use chrono::{DateTime, Duration, Utc};
use sqlx::PgPool;

/// Failures counted together; an older first failure starts a fresh window.
const WINDOW_MINUTES: i64 = 15;
const FAILURES_BEFORE_DELAY: i32 = 5;
const FAILURES_BEFORE_LOCKOUT: i32 = 10;
/// While between the two thresholds: wait this long after the last failure.
const DELAY_SECONDS: i64 = 60;
const LOCKOUT_MINUTES: i64 = 30;

/// One throttled subject: an account or a client address.
#[derive(Debug, Clone)]
pub struct Key {
    scope: &'static str,
    subject: String,
}

impl Key {
    pub fn account(tenant_slug: &str, realm: &str, email: &str) -> Key {
        Key {
            scope: "account",
            subject: format!("{tenant_slug}/{realm}/{email}"),
        }
    }

    pub fn address(address: &str) -> Key {
        Key {
            scope: "ip",
            subject: address.to_owned(),
        }
    }
}

#[derive(sqlx::FromRow)]
struct ThrottleRow {
    failures: i32,
    window_started_at: DateTime<Utc>,
    last_failure_at: DateTime<Utc>,
    locked_until: Option<DateTime<Utc>>,
}

/// If any key is throttled now, the seconds until it may try again.
pub async fn retry_after(
    pool: &PgPool,
    keys: &[Key],
    now: DateTime<Utc>,
) -> Result<Option<u64>, sqlx::Error> {
    let mut wait_s: Option<i64> = None;
    for key in keys {
        let row: Option<ThrottleRow> = sqlx::query_as(
            "SELECT failures, window_started_at, last_failure_at, locked_until FROM login_throttle WHERE scope = $1 AND subject = $2",
        )
        .bind(key.scope)
        .bind(&key.subject)
        .fetch_optional(pool)
        .await?;
        let Some(ThrottleRow {
            failures,
            window_started_at,
            last_failure_at,
            locked_until,
        }) = row
        else {
            continue;
        };
        let until = match locked_until {
            Some(locked_until) if locked_until > now => Some(locked_until),
            _ if window_started_at + Duration::minutes(WINDOW_MINUTES) <= now => None,
            _ if failures >= FAILURES_BEFORE_DELAY => {
                Some(last_failure_at + Duration::seconds(DELAY_SECONDS))
            }
            _ => None,
        };
        if let Some(until) = until.filter(|until| *until > now) {
            let seconds = (until - now).num_seconds().max(1);
            wait_s = Some(wait_s.map_or(seconds, |current| current.max(seconds)));
        }
    }
    Ok(wait_s.map(|seconds| seconds as u64))
}

/// Counts a failed attempt against every key, starting a new window when the old one is over
/// and locking the key once it reaches the lockout threshold.
pub async fn record_failure(
    pool: &PgPool,
    keys: &[Key],
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    for key in keys {
        sqlx::query(
            "INSERT INTO login_throttle AS t (scope, subject, failures, window_started_at, last_failure_at)
             VALUES ($1, $2, 1, $3, $3)
             ON CONFLICT (scope, subject) DO UPDATE SET
                 failures = CASE WHEN t.window_started_at + make_interval(mins => $4) <= $3
                                  AND (t.locked_until IS NULL OR t.locked_until <= $3)
                                 THEN 1 ELSE t.failures + 1 END,
                 window_started_at = CASE WHEN t.window_started_at + make_interval(mins => $4) <= $3
                                          AND (t.locked_until IS NULL OR t.locked_until <= $3)
                                          THEN $3 ELSE t.window_started_at END,
                 last_failure_at = $3",
        )
        .bind(key.scope)
        .bind(&key.subject)
        .bind(now)
        .bind(WINDOW_MINUTES as i32)
        .execute(pool)
        .await?;
        sqlx::query(
            "UPDATE login_throttle SET locked_until = $3 + make_interval(mins => $4), failures = 0, window_started_at = $3
             WHERE scope = $1 AND subject = $2 AND failures >= $5",
        )
        .bind(key.scope)
        .bind(&key.subject)
        .bind(now)
        .bind(LOCKOUT_MINUTES as i32)
        .bind(FAILURES_BEFORE_LOCKOUT)
        .execute(pool)
        .await?;
    }
    Ok(())
}

/// A successful log-in clears the account's count (not the address's: one good password
/// must not reset an attacker's budget for other accounts).
pub async fn record_success(pool: &PgPool, account: &Key) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM login_throttle WHERE scope = $1 AND subject = $2 AND (locked_until IS NULL OR locked_until <= now())")
        .bind(account.scope)
        .bind(&account.subject)
        .execute(pool)
        .await?;
    Ok(())
}
