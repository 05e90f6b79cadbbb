//! Throttles that slow an attacker down without letting one lock users out.
//!
//! Every counter belongs to one brand and one [`Scope`], whose [`Rule`] gives a free allowance
//! (counted until a quiet period, or per fixed window, see [`Restart`]); past it, each attempt
//! sets a delay that doubles from the first delay up to a cap.
//! There is no hard lock: after the delay the next attempt is always heard.
//!
//! [`acquire`] checks and counts in one statement per key, under the counter row's lock, before
//! the expensive work (a password hash) starts: N concurrent guesses get at most the free
//! allowance of hashes, the rest are refused without one. A log-in that then succeeds takes its
//! attempt back ([`forgive`] for the account, [`refund`] for the address).
//!
//! A log-in counts against three keys: the account from this address (5 free, then 1 min, 2,
//! 4, … 15 min), the account from anywhere (20 free: a distributed guesser, without letting one
//! address's failures delay the owner elsewhere) and the address across accounts (20 free).

use std::fmt;

use app::backoffice::players::ThrottledLogIn;
use app::domain::ids::{StaffId, TenantId};
use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::client_address::ClientAddress;

/// What a counter counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Log-in attempts for one account (realm and email) from one client address.
    LoginAccountAddress,
    /// Log-in attempts for one account from any address.
    LoginAccount,
    /// Log-in attempts from one client address, any account.
    LoginAddress,
    /// Registrations from one client address.
    RegisterAddress,
    /// Registrations at the brand: a cap on the Argon2 work anyone can make the brand do.
    RegisterBrand,
    /// Second-factor codes for one staff member.
    SecondFactor,
    /// One heavy staff operation (integrity check, audit verification, export) by one member.
    StaffOperation,
}

/// How a scope's counter behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// Attempts per window before delays start.
    pub free: i32,
    /// The delay after the attempt that reaches the allowance; each further attempt doubles it.
    pub first_delay_s: i32,
    pub max_delay_s: i32,
    /// How long until counting starts afresh (never while a delay runs).
    pub window_s: i32,
    pub restart: Restart,
}

/// When a counter starts afresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restart {
    /// After `window_s` without any attempt: a guesser who keeps going keeps growing delays.
    AfterQuiet,
    /// When the window that began with the first attempt is over: steady traffic from many
    /// honest callers (a brand's registrations) never adds up to a delay.
    AfterWindow,
}

const MINUTE: i32 = 60;
const HOUR: i32 = 60 * MINUTE;

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::LoginAccountAddress => "login_account_address",
            Scope::LoginAccount => "login_account",
            Scope::LoginAddress => "login_address",
            Scope::RegisterAddress => "register_address",
            Scope::RegisterBrand => "register_brand",
            Scope::SecondFactor => "second_factor",
            Scope::StaffOperation => "staff_operation",
        }
    }

    pub const fn rule(self) -> Rule {
        match self {
            Scope::LoginAccountAddress | Scope::SecondFactor => Rule {
                free: 5,
                first_delay_s: MINUTE,
                max_delay_s: 15 * MINUTE,
                window_s: HOUR,
                restart: Restart::AfterQuiet,
            },
            Scope::LoginAccount | Scope::LoginAddress => Rule {
                free: 20,
                first_delay_s: MINUTE,
                max_delay_s: 15 * MINUTE,
                window_s: HOUR,
                restart: Restart::AfterQuiet,
            },
            Scope::RegisterAddress => Rule {
                free: 10,
                first_delay_s: MINUTE,
                max_delay_s: HOUR,
                window_s: HOUR,
                restart: Restart::AfterQuiet,
            },
            // A busy brand registers many players a minute; the window is short so that steady
            // traffic never accumulates into a delay, while a burst of thousands does.
            Scope::RegisterBrand => Rule {
                free: 120,
                first_delay_s: 5,
                max_delay_s: MINUTE,
                window_s: MINUTE,
                restart: Restart::AfterWindow,
            },
            Scope::StaffOperation => Rule {
                free: 10,
                first_delay_s: 30,
                max_delay_s: 5 * MINUTE,
                window_s: 10 * MINUTE,
                restart: Restart::AfterQuiet,
            },
        }
    }

    /// What the caller is told when this counter refuses.
    fn refusal_message(self, wait: &str) -> String {
        match self {
            Scope::LoginAccountAddress | Scope::LoginAccount => {
                format!("Too many failed log-ins for this account. Try again in {wait}.")
            }
            Scope::LoginAddress => {
                format!("Too many failed log-ins from your network. Try again in {wait}.")
            }
            Scope::RegisterAddress => {
                format!("Too many new accounts from your network. Try again in {wait}.")
            }
            Scope::RegisterBrand => {
                format!("Too many new accounts right now. Try again in {wait}.")
            }
            Scope::SecondFactor => {
                format!("Too many wrong codes. Try again in {wait}.")
            }
            Scope::StaffOperation => {
                format!("You ran this too often. Try again in {wait}.")
            }
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One counter: a scope and a subject within a brand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    tenant_id: TenantId,
    scope: Scope,
    subject: String,
}

impl Key {
    pub fn login_account_address(
        tenant_id: TenantId,
        realm: &str,
        email: &str,
        address: &ClientAddress,
    ) -> Key {
        Key::new(
            tenant_id,
            Scope::LoginAccountAddress,
            format!("{realm} {email} {}", address.throttle_key()),
        )
    }

    pub fn login_account(tenant_id: TenantId, realm: &str, email: &str) -> Key {
        Key::new(tenant_id, Scope::LoginAccount, format!("{realm} {email}"))
    }

    pub fn login_address(tenant_id: TenantId, address: &ClientAddress) -> Key {
        Key::new(tenant_id, Scope::LoginAddress, address.throttle_key())
    }

    pub fn register_address(tenant_id: TenantId, address: &ClientAddress) -> Key {
        Key::new(tenant_id, Scope::RegisterAddress, address.throttle_key())
    }

    pub fn register_brand(tenant_id: TenantId) -> Key {
        Key::new(tenant_id, Scope::RegisterBrand, "-".to_owned())
    }

    pub fn second_factor(tenant_id: TenantId, staff_id: StaffId) -> Key {
        Key::new(tenant_id, Scope::SecondFactor, staff_id.to_string())
    }

    pub fn staff_operation(tenant_id: TenantId, staff_id: StaffId, operation: &str) -> Key {
        Key::new(
            tenant_id,
            Scope::StaffOperation,
            format!("{operation} {staff_id}"),
        )
    }

    fn new(tenant_id: TenantId, scope: Scope, subject: String) -> Key {
        Key {
            tenant_id,
            scope,
            subject,
        }
    }
}

/// A counter said no: which one, and for how long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub scope: Scope,
    pub retry_after_s: u64,
}

impl Refusal {
    /// The `429 rate_limited` answer, with `Retry-After`.
    pub fn into_error(self) -> app::error::AppError {
        app::error::AppError {
            retry_after_s: Some(self.retry_after_s),
            ..app::error::AppError::new(
                app::error::ErrorCode::RateLimited,
                self.scope
                    .refusal_message(&human_duration(self.retry_after_s)),
            )
        }
    }
}

/// Counts one attempt against every key, unless one of them is in a delay: then nothing is
/// counted at all and the longest-waiting key's refusal is returned. One transaction, keys
/// taken in the order given (callers list them in a fixed order, so no two lock cycles form).
pub async fn acquire(
    pool: &PgPool,
    keys: &[Key],
    now: DateTime<Utc>,
) -> Result<Result<(), Refusal>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    for key in keys {
        let rule = key.scope.rule();
        // `fresh` (counting restarts): the window or the quiet period is over; a running
        // delay has already been ruled out by WHERE.
        let fresh = match rule.restart {
            Restart::AfterQuiet => "t.last_attempt_at + make_interval(secs => $8) <= $4",
            Restart::AfterWindow => "t.window_started_at + make_interval(secs => $8) <= $4",
        };
        let statement = format!(
            "INSERT INTO throttles AS t (tenant_id, scope, subject, attempts, window_started_at, last_attempt_at, blocked_until)
             VALUES ($1, $2, $3, 1, $4, $4,
                     CASE WHEN 1 >= $5 THEN $4 + make_interval(secs => $6) END)
             ON CONFLICT (tenant_id, scope, subject) DO UPDATE SET
                 attempts = CASE WHEN {fresh} THEN 1 ELSE t.attempts + 1 END,
                 window_started_at = CASE WHEN {fresh} THEN $4 ELSE t.window_started_at END,
                 last_attempt_at = $4,
                 blocked_until = CASE
                     WHEN {fresh} THEN
                         CASE WHEN 1 >= $5 THEN $4 + make_interval(secs => $6) END
                     WHEN t.attempts + 1 >= $5 THEN
                         $4 + make_interval(secs => least($6 * power(2, t.attempts + 1 - $5), $7))
                     END
             WHERE t.blocked_until IS NULL OR t.blocked_until <= $4
             RETURNING attempts"
        );
        let counted: Option<i32> = sqlx::query_scalar(&statement)
            .bind(key.tenant_id)
            .bind(key.scope.as_str())
            .bind(&key.subject)
            .bind(now)
            .bind(rule.free)
            .bind(f64::from(rule.first_delay_s))
            .bind(f64::from(rule.max_delay_s))
            .bind(f64::from(rule.window_s))
            .fetch_optional(&mut *tx)
            .await?;
        if counted.is_none() {
            let blocked_until: Option<DateTime<Utc>> = sqlx::query_scalar(
                "SELECT blocked_until FROM throttles WHERE tenant_id = $1 AND scope = $2 AND subject = $3",
            )
            .bind(key.tenant_id)
            .bind(key.scope.as_str())
            .bind(&key.subject)
            .fetch_one(&mut *tx)
            .await?;
            tx.rollback().await?;
            let wait_s = blocked_until.map_or(1, |until| (until - now).num_seconds().max(1));
            return Ok(Err(Refusal {
                scope: key.scope,
                retry_after_s: wait_s as u64,
            }));
        }
    }
    tx.commit().await?;
    Ok(Ok(()))
}

/// Forgets a counter: a successful log-in clears its account's failures.
pub async fn forgive(pool: &PgPool, key: &Key) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM throttles WHERE tenant_id = $1 AND scope = $2 AND subject = $3")
        .bind(key.tenant_id)
        .bind(key.scope.as_str())
        .bind(&key.subject)
        .execute(pool)
        .await?;
    Ok(())
}

/// Takes back the attempt just counted (a successful log-in is not a failure of its address)
/// without forgetting the others, so one good password does not reset a guesser's budget. The
/// attempt was let through, so any delay before it was over: none runs after it either.
pub async fn refund(pool: &PgPool, key: &Key) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query(
        "DELETE FROM throttles WHERE tenant_id = $1 AND scope = $2 AND subject = $3 AND attempts <= 1",
    )
    .bind(key.tenant_id)
    .bind(key.scope.as_str())
    .bind(&key.subject)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "UPDATE throttles SET attempts = attempts - 1, blocked_until = NULL
         WHERE tenant_id = $1 AND scope = $2 AND subject = $3",
    )
    .bind(key.tenant_id)
    .bind(key.scope.as_str())
    .bind(&key.subject)
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}

/// The longest window or delay a counter can matter for; older counters are spent.
const SPENT_AFTER_S: i32 = 2 * HOUR;

/// Removes spent counters; returns how many.
pub async fn purge(pool: &PgPool, now: DateTime<Utc>) -> Result<u64, sqlx::Error> {
    let result = sqlx::query(
        "DELETE FROM throttles
         WHERE last_attempt_at + make_interval(secs => $2) <= $1
           AND (blocked_until IS NULL OR blocked_until <= $1)",
    )
    .bind(now)
    .bind(f64::from(SPENT_AFTER_S))
    .execute(pool)
    .await?;
    Ok(result.rows_affected())
}

/// The brand's accounts that have reached a delay in their current window, most recent first.
pub async fn throttled_accounts(
    pool: &PgPool,
    tenant_id: TenantId,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<ThrottledLogIn>, sqlx::Error> {
    #[derive(sqlx::FromRow)]
    struct Row {
        subject: String,
        attempts: i32,
        last_attempt_at: DateTime<Utc>,
        blocked_until: Option<DateTime<Utc>>,
    }
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT subject, attempts, last_attempt_at, blocked_until FROM throttles
         WHERE tenant_id = $1
           AND ((scope = 'login_account_address' AND attempts >= $2)
             OR (scope = 'login_account' AND attempts >= $3))
           AND (blocked_until > $4 OR last_attempt_at + make_interval(secs => $5) > $4)
         ORDER BY last_attempt_at DESC, subject
         LIMIT $6",
    )
    .bind(tenant_id)
    .bind(Scope::LoginAccountAddress.rule().free)
    .bind(Scope::LoginAccount.rule().free)
    .bind(now)
    .bind(f64::from(Scope::LoginAccount.rule().window_s))
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|row| {
            let mut parts = row.subject.splitn(3, ' ');
            Some(ThrottledLogIn {
                realm: parts.next()?.to_owned(),
                email: parts.next()?.to_owned(),
                address: parts.next().map(str::to_owned),
                failures: row.attempts,
                last_failure_at: row.last_attempt_at,
                delayed_until: row.blocked_until.filter(|until| *until > now),
            })
        })
        .collect())
}

/// "45 seconds", "a minute", "15 minutes".
pub fn human_duration(seconds: u64) -> String {
    match seconds {
        0..=59 => format!("{seconds} seconds"),
        60..=119 => "a minute".to_owned(),
        _ => format!("{} minutes", seconds.div_ceil(60)),
    }
}
