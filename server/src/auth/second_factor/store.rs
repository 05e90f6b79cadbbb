//! The second factor's rows (`migrations/0012_staff_second_factor.sql`). Every decision that
//! must happen once (a time step accepted, a recovery code or a ticket spent, an enrolment
//! confirmed) is one conditional UPDATE, so two requests at the same moment cannot both win.

use app::auth::StaffRole;
use app::domain::ids::{StaffId, TenantId};
use chrono::{DateTime, Duration, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::codes::{self, TotpSecret};

/// How long an enrolment ticket admits to the enrolment functions.
pub const TICKET_LIFETIME_MINUTES: i64 = 10;

/// A staff member as the log-in's second step needs them.
#[derive(Debug, sqlx::FromRow)]
pub struct StaffFactorState {
    #[sqlx(try_from = "String")]
    pub role: StaffRole,
    pub email: String,
    /// A confirmed authenticator: log-ins need a code.
    pub enrolled_at: Option<DateTime<Utc>>,
}

pub async fn staff_state(
    pool: &PgPool,
    tenant_id: TenantId,
    staff_id: StaffId,
) -> Result<Option<StaffFactorState>, sqlx::Error> {
    sqlx::query_as(
        "SELECT s.role, s.email, f.confirmed_at AS enrolled_at
           FROM staff s
           LEFT JOIN staff_second_factors f ON f.tenant_id = s.tenant_id AND f.staff_id = s.id
          WHERE s.tenant_id = $1 AND s.id = $2",
    )
    .bind(tenant_id)
    .bind(staff_id)
    .fetch_optional(pool)
    .await
}

/// Accepts a TOTP code for a confirmed authenticator when it is right at a time step later than
/// the last accepted one, and makes that step the last accepted one in the same UPDATE: a code
/// (or an older one) never works twice.
pub async fn accept_code(
    pool: &PgPool,
    tenant_id: TenantId,
    staff_id: StaffId,
    code: &str,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let secret: Option<Vec<u8>> = sqlx::query_scalar(
        "SELECT secret FROM staff_second_factors
          WHERE tenant_id = $1 AND staff_id = $2 AND confirmed_at IS NOT NULL",
    )
    .bind(tenant_id)
    .bind(staff_id)
    .fetch_optional(pool)
    .await?;
    let Some(secret) = secret.as_deref().and_then(TotpSecret::from_stored) else {
        return Ok(false);
    };
    let Some(step) = secret.matching_step(code, now) else {
        return Ok(false);
    };
    let accepted = sqlx::query(
        "UPDATE staff_second_factors SET last_used_step = $3
          WHERE tenant_id = $1 AND staff_id = $2 AND confirmed_at IS NOT NULL
            AND (last_used_step IS NULL OR last_used_step < $3)",
    )
    .bind(tenant_id)
    .bind(staff_id)
    .bind(step as i64)
    .execute(pool)
    .await?;
    Ok(accepted.rows_affected() == 1)
}

/// Spends an unused recovery code; returns how many are left, or `None` when the code is not
/// one of this staff member's unused ones.
pub async fn spend_recovery_code(
    conn: &mut PgConnection,
    tenant_id: TenantId,
    staff_id: StaffId,
    normalised: &str,
    now: DateTime<Utc>,
) -> Result<Option<i64>, sqlx::Error> {
    let spent: Option<Uuid> = sqlx::query_scalar(
        "UPDATE staff_recovery_codes SET used_at = $4
          WHERE tenant_id = $1 AND staff_id = $2 AND code_sha256 = $3 AND used_at IS NULL
          RETURNING id",
    )
    .bind(tenant_id)
    .bind(staff_id)
    .bind(&codes::recovery_code_sha256(normalised)[..])
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?;
    if spent.is_none() {
        return Ok(None);
    }
    recovery_codes_left(&mut *conn, tenant_id, staff_id)
        .await
        .map(Some)
}

pub async fn recovery_codes_left(
    conn: &mut PgConnection,
    tenant_id: TenantId,
    staff_id: StaffId,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT count(*) FROM staff_recovery_codes
          WHERE tenant_id = $1 AND staff_id = $2 AND used_at IS NULL",
    )
    .bind(tenant_id)
    .bind(staff_id)
    .fetch_one(conn)
    .await
}

/// Stores `secret` as the staff member's enrolment in progress, replacing an unconfirmed one.
/// False when a confirmed authenticator exists (it is never replaced silently).
pub async fn begin_enrolment(
    pool: &PgPool,
    tenant_id: TenantId,
    staff_id: StaffId,
    secret: &TotpSecret,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let stored = sqlx::query(
        "INSERT INTO staff_second_factors AS f (tenant_id, staff_id, secret, created_at)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT (tenant_id, staff_id) DO UPDATE
            SET secret = EXCLUDED.secret, created_at = EXCLUDED.created_at
          WHERE f.confirmed_at IS NULL",
    )
    .bind(tenant_id)
    .bind(staff_id)
    .bind(secret.as_bytes())
    .bind(now)
    .execute(pool)
    .await?;
    Ok(stored.rows_affected() == 1)
}

/// The enrolment in progress, locked until the caller's transaction ends.
pub async fn pending_secret_for_update(
    conn: &mut PgConnection,
    tenant_id: TenantId,
    staff_id: StaffId,
) -> Result<Option<TotpSecret>, sqlx::Error> {
    let secret: Option<Vec<u8>> = sqlx::query_scalar(
        "SELECT secret FROM staff_second_factors
          WHERE tenant_id = $1 AND staff_id = $2 AND confirmed_at IS NULL
          FOR UPDATE",
    )
    .bind(tenant_id)
    .bind(staff_id)
    .fetch_optional(conn)
    .await?;
    Ok(secret.as_deref().and_then(TotpSecret::from_stored))
}

/// Confirms the enrolment in progress with the step its first code was right at (so that code
/// cannot log in afterwards) and stores the recovery codes' hashes.
pub async fn confirm(
    conn: &mut PgConnection,
    tenant_id: TenantId,
    staff_id: StaffId,
    step: u64,
    recovery_codes: &[String],
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let confirmed = sqlx::query(
        "UPDATE staff_second_factors SET confirmed_at = $3, last_used_step = $4
          WHERE tenant_id = $1 AND staff_id = $2 AND confirmed_at IS NULL",
    )
    .bind(tenant_id)
    .bind(staff_id)
    .bind(now)
    .bind(step as i64)
    .execute(&mut *conn)
    .await?;
    if confirmed.rows_affected() != 1 {
        return Ok(false);
    }
    for code in recovery_codes {
        let normalised = codes::normalise_recovery_code(code).ok_or_else(|| {
            sqlx::Error::Protocol("a generated recovery code is malformed".into())
        })?;
        sqlx::query(
            "INSERT INTO staff_recovery_codes (id, tenant_id, staff_id, code_sha256, created_at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(Uuid::new_v4())
        .bind(tenant_id)
        .bind(staff_id)
        .bind(&codes::recovery_code_sha256(&normalised)[..])
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }
    Ok(true)
}

/// Removes the staff member's authenticator (confirmed or not) with its recovery codes;
/// returns when it had been confirmed, `None` if there was none.
pub async fn remove(
    conn: &mut PgConnection,
    tenant_id: TenantId,
    staff_id: StaffId,
) -> Result<Option<Option<DateTime<Utc>>>, sqlx::Error> {
    sqlx::query_scalar(
        "DELETE FROM staff_second_factors WHERE tenant_id = $1 AND staff_id = $2
         RETURNING confirmed_at",
    )
    .bind(tenant_id)
    .bind(staff_id)
    .fetch_optional(conn)
    .await
}

/// Issues an enrolment ticket for a staff member; returns the token for the cookie.
pub async fn issue_ticket(
    pool: &PgPool,
    tenant_id: TenantId,
    staff_id: StaffId,
    now: DateTime<Utc>,
) -> Result<String, sqlx::Error> {
    let (token, digest) = codes::new_ticket();
    sqlx::query(
        "INSERT INTO staff_enrolment_tickets (token_sha256, tenant_id, staff_id, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&digest[..])
    .bind(tenant_id)
    .bind(staff_id)
    .bind(now)
    .bind(now + Duration::minutes(TICKET_LIFETIME_MINUTES))
    .execute(pool)
    .await?;
    Ok(token)
}

/// The staff member a live, unspent ticket of this tenant belongs to.
pub async fn ticket_holder(
    pool: &PgPool,
    tenant_id: TenantId,
    token: &str,
    now: DateTime<Utc>,
) -> Result<Option<StaffId>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT staff_id FROM staff_enrolment_tickets
          WHERE token_sha256 = $1 AND tenant_id = $2 AND used_at IS NULL AND expires_at > $3",
    )
    .bind(&codes::ticket_sha256(token)[..])
    .bind(tenant_id)
    .bind(now)
    .fetch_optional(pool)
    .await
}

/// Spends a live ticket of `staff_id`; false when it is spent, expired or someone else's.
pub async fn spend_ticket(
    conn: &mut PgConnection,
    tenant_id: TenantId,
    staff_id: StaffId,
    token: &str,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let spent = sqlx::query(
        "UPDATE staff_enrolment_tickets SET used_at = $4
          WHERE token_sha256 = $1 AND tenant_id = $2 AND staff_id = $3
            AND used_at IS NULL AND expires_at > $4",
    )
    .bind(&codes::ticket_sha256(token)[..])
    .bind(tenant_id)
    .bind(staff_id)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(spent.rows_affected() == 1)
}

/// The tenant's setting; a tenant that never saved one has the default, required.
/// Removes enrolment tickets that were spent or have expired; returns how many.
pub async fn purge_tickets(pool: &PgPool, now: DateTime<Utc>) -> Result<u64, sqlx::Error> {
    let result = sqlx::query(
        "DELETE FROM staff_enrolment_tickets WHERE used_at IS NOT NULL OR expires_at <= $1",
    )
    .bind(now)
    .execute(pool)
    .await?;
    Ok(result.rows_affected())
}

pub async fn tenant_requires(pool: &PgPool, tenant_id: TenantId) -> Result<bool, sqlx::Error> {
    let required: Option<bool> = sqlx::query_scalar(
        "SELECT second_factor_required FROM staff_security_policies WHERE tenant_id = $1",
    )
    .bind(tenant_id)
    .fetch_optional(pool)
    .await?;
    Ok(required.unwrap_or(true))
}

/// Sets the tenant's setting; returns the one before (locked, so concurrent saves queue and
/// each audit event's "before" is true).
pub async fn set_tenant_requires(
    conn: &mut PgConnection,
    tenant_id: TenantId,
    required: bool,
    staff_id: StaffId,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    // The row must exist before it can be locked: a first save creates it with the default.
    sqlx::query(
        "INSERT INTO staff_security_policies (tenant_id, second_factor_required, updated_at, updated_by)
         VALUES ($1, true, $2, $3) ON CONFLICT (tenant_id) DO NOTHING",
    )
    .bind(tenant_id)
    .bind(now)
    .bind(staff_id)
    .execute(&mut *conn)
    .await?;
    let before: bool = sqlx::query_scalar(
        "SELECT second_factor_required FROM staff_security_policies WHERE tenant_id = $1 FOR UPDATE",
    )
    .bind(tenant_id)
    .fetch_one(&mut *conn)
    .await?;
    sqlx::query(
        "UPDATE staff_security_policies SET second_factor_required = $2, updated_at = $3, updated_by = $4
          WHERE tenant_id = $1",
    )
    .bind(tenant_id)
    .bind(required)
    .bind(now)
    .bind(staff_id)
    .execute(&mut *conn)
    .await?;
    Ok(before)
}

/// One staff member's second factor, for the owner's list.
#[derive(Debug, sqlx::FromRow)]
pub struct StaffRow {
    pub id: StaffId,
    pub email: String,
    pub display_name: String,
    #[sqlx(try_from = "String")]
    pub role: StaffRole,
    pub enrolled_at: Option<DateTime<Utc>>,
}

/// The owner's list is every staff member of a brand; more than this is not a back office.
pub const STAFF_LIST_LENGTH_MAX: i64 = 500;

pub async fn staff_list(pool: &PgPool, tenant_id: TenantId) -> Result<Vec<StaffRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT s.id, s.email, s.display_name, s.role, f.confirmed_at AS enrolled_at
           FROM staff s
           LEFT JOIN staff_second_factors f ON f.tenant_id = s.tenant_id AND f.staff_id = s.id
          WHERE s.tenant_id = $1
          ORDER BY s.email
          LIMIT $2",
    )
    .bind(tenant_id)
    .bind(STAFF_LIST_LENGTH_MAX)
    .fetch_all(pool)
    .await
}
