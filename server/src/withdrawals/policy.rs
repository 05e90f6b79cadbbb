//! Each tenant's withdrawal policy: limits, the maker-checker threshold, the payout retry policy,
//! the recheck age and the payout provider. A tenant without a row uses [`Policy::DEFAULT`].

use std::collections::BTreeMap;
use std::str::FromStr;

use crate::audit::{self, Actor, AuditEvent};
use crate::auth::StaffMember;
use crate::error::{ServerError, ServerResult};
use crate::services::Services;
use crate::tenants::Tenant;
use app::api::RequestCtx;
use app::auth::StaffRole;
use app::domain::ids::{StaffId, TenantId};
use app::domain::money::Currency;
use app::error::AppError;
use app::withdrawals::{PolicyUpdate, WithdrawalPolicy};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

/// Policy amounts are stored with at most this many decimal places (`numeric(20, 4)`).
const POLICY_AMOUNT_SCALE_MAX: u32 = 4;
/// The largest payout attempt limit the table allows.
pub const PAYOUT_ATTEMPTS_MAX_LIMIT: u32 = 20;
/// The longest retry cooldown the table allows (a week).
pub const RETRY_COOLDOWN_S_LIMIT: u32 = 7 * 24 * 3600;
/// The longest recheck age the table allows (a day).
pub const RECHECK_AGE_S_LIMIT: u32 = 24 * 3600;
/// The longest not-found grace period the table allows (a week).
pub const NOT_FOUND_GRACE_S_LIMIT: u32 = 7 * 24 * 3600;
/// The default not-found grace period: a PSP's books may lag its API by minutes.
pub const NOT_FOUND_GRACE_S_DEFAULT: u32 = 15 * 60;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub amount_min: Decimal,
    pub amount_max: Decimal,
    pub approval_threshold: Decimal,
    /// The maker-checker threshold of a currency that has its own (major units of it); the
    /// others use `approval_threshold`.
    pub approval_thresholds: BTreeMap<Currency, Decimal>,
    pub payout_attempts_max: u32,
    pub retry_cooldown_s: u32,
    pub recheck_age_s: u32,
    /// A PSP's "no such payout" fails an attempt only this long after its call certainly
    /// ended; never shorter than the payout call's timeout.
    pub not_found_grace_s: u32,
    pub payout_provider: String,
    pub updated_at: Option<DateTime<Utc>>,
}

impl Policy {
    pub const DEFAULT_PROVIDER: &'static str = "mock";

    pub fn default_policy() -> Policy {
        Policy {
            amount_min: Decimal::from(10),
            amount_max: Decimal::from(10_000),
            approval_threshold: Decimal::from(1_000),
            // About the value of 1,000 EUR; Kasa keeps no exchange rates, so these are set here.
            approval_thresholds: BTreeMap::from([
                (Currency::Jpy, Decimal::from(150_000)),
                (Currency::Try, Decimal::from(40_000)),
            ]),
            payout_attempts_max: 3,
            retry_cooldown_s: 300,
            recheck_age_s: 120,
            not_found_grace_s: NOT_FOUND_GRACE_S_DEFAULT,
            payout_provider: Policy::DEFAULT_PROVIDER.to_owned(),
            updated_at: None,
        }
    }

    /// Validates the settings form; `providers` are the names that may pay out here.
    pub fn from_update(update: &PolicyUpdate, providers: &[String]) -> Result<Policy, ServerError> {
        let amount_min = policy_amount("amount_min", &update.amount_min)?;
        let amount_max = policy_amount("amount_max", &update.amount_max)?;
        if amount_max < amount_min {
            return Err(AppError::invalid(
                "amount_max",
                "The maximum must be at least the minimum.",
            )
            .into());
        }
        let approval_threshold = policy_amount("approval_threshold", &update.approval_threshold)?;
        let approval_thresholds = currency_thresholds(&update.approval_thresholds)?;
        let payout_provider = update.payout_provider.trim().to_owned();
        if !providers.contains(&payout_provider) {
            return Err(AppError::invalid(
                "payout_provider",
                "Choose one of the enabled payment providers.",
            )
            .into());
        }
        Ok(Policy {
            amount_min,
            amount_max,
            approval_threshold,
            approval_thresholds,
            payout_attempts_max: whole_number(
                "payout_attempts_max",
                &update.payout_attempts_max,
                1,
                PAYOUT_ATTEMPTS_MAX_LIMIT,
            )?,
            retry_cooldown_s: whole_number(
                "retry_cooldown_s",
                &update.retry_cooldown_s,
                0,
                RETRY_COOLDOWN_S_LIMIT,
            )?,
            recheck_age_s: whole_number(
                "recheck_age_s",
                &update.recheck_age_s,
                1,
                RECHECK_AGE_S_LIMIT,
            )?,
            not_found_grace_s: whole_number(
                "not_found_grace_s",
                &update.not_found_grace_s,
                super::payout::PAYOUT_CALL_TIMEOUT.as_secs() as u32,
                NOT_FOUND_GRACE_S_LIMIT,
            )?,
            payout_provider,
            updated_at: None,
        })
    }
}

impl Policy {
    /// Above this amount of `currency` a second, different staff member must approve.
    pub fn approval_threshold_for(&self, currency: Currency) -> Decimal {
        self.approval_thresholds
            .get(&currency)
            .copied()
            .unwrap_or(self.approval_threshold)
    }
}

/// Per-currency thresholds as typed on the settings page: `JPY 150000, TRY 40000` (a comma,
/// semicolon or line between entries; `=` or a space between code and amount).
pub fn currency_thresholds(text: &str) -> Result<BTreeMap<Currency, Decimal>, ServerError> {
    const FIELD: &str = "approval_thresholds";
    let mut thresholds = BTreeMap::new();
    for entry in text
        .split([',', ';', '\n'])
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
    {
        let (code, amount) = entry.split_once(['=', ' ', ':']).ok_or_else(|| {
            AppError::invalid(
                FIELD,
                "Write each entry as a currency code and an amount, e.g. JPY 150000.",
            )
        })?;
        let currency = Currency::parse(code.trim().to_uppercase().as_str()).map_err(|_| {
            AppError::invalid(
                FIELD,
                format!("{} is not a supported currency.", code.trim()),
            )
        })?;
        let amount = policy_amount(FIELD, amount.trim_start_matches(['=', ':']).trim())?;
        if thresholds.insert(currency, amount).is_some() {
            return Err(AppError::invalid(FIELD, format!("{currency} is given twice.")).into());
        }
    }
    Ok(thresholds)
}

/// The per-currency thresholds in the settings form's notation.
pub fn thresholds_text(thresholds: &BTreeMap<Currency, Decimal>) -> String {
    thresholds
        .iter()
        .map(|(currency, amount)| format!("{currency} {amount}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn policy_amount(field: &str, text: &str) -> Result<Decimal, ServerError> {
    let amount = Decimal::from_str(text.trim())
        .ok()
        .filter(|amount| {
            *amount > Decimal::ZERO
                && amount.normalize().scale() <= POLICY_AMOUNT_SCALE_MAX
                && *amount <= app::domain::money::AMOUNT_MAX_MAJOR
        })
        .ok_or_else(|| {
            AppError::invalid(
                field,
                format!("Enter a positive amount with at most {POLICY_AMOUNT_SCALE_MAX} decimals."),
            )
        })?;
    Ok(amount.normalize())
}

fn whole_number(field: &str, text: &str, min: u32, max: u32) -> Result<u32, ServerError> {
    Ok(text
        .trim()
        .parse::<u32>()
        .ok()
        .filter(|value| (min..=max).contains(value))
        .ok_or_else(|| {
            AppError::invalid(field, format!("Enter a whole number from {min} to {max}."))
        })?)
}

type PolicyRecord = (
    Decimal,
    Decimal,
    Decimal,
    i32,
    i32,
    i32,
    i32,
    String,
    DateTime<Utc>,
);

/// The tenant's policy, or the defaults.
pub async fn load(
    conn: &mut sqlx::PgConnection,
    tenant_id: TenantId,
) -> Result<Policy, sqlx::Error> {
    let row: Option<PolicyRecord> = sqlx::query_as(
        "SELECT amount_min, amount_max, approval_threshold, payout_attempts_max,
                retry_cooldown_s, recheck_age_s, not_found_grace_s, payout_provider, updated_at
           FROM withdrawal_policies WHERE tenant_id = $1",
    )
    .bind(tenant_id)
    .fetch_optional(&mut *conn)
    .await?;
    let mut policy = match row {
        None => return Ok(Policy::default_policy()),
        Some((min, max, threshold, attempts, cooldown, recheck, grace, provider, updated_at)) => {
            Policy {
                amount_min: min.normalize(),
                amount_max: max.normalize(),
                approval_threshold: threshold.normalize(),
                // The table's CHECKs keep these positive and small.
                payout_attempts_max: attempts.unsigned_abs(),
                retry_cooldown_s: cooldown.unsigned_abs(),
                recheck_age_s: recheck.unsigned_abs(),
                not_found_grace_s: grace.unsigned_abs(),
                approval_thresholds: BTreeMap::new(),
                payout_provider: provider,
                updated_at: Some(updated_at),
            }
        }
    };
    policy.approval_thresholds = load_thresholds(conn, tenant_id).await?;
    Ok(policy)
}

/// The tenant's per-currency maker-checker thresholds (`withdrawal_approval_thresholds`).
async fn load_thresholds(
    conn: &mut sqlx::PgConnection,
    tenant_id: TenantId,
) -> Result<BTreeMap<Currency, Decimal>, sqlx::Error> {
    let rows: Vec<(String, Decimal)> = sqlx::query_as(
        "SELECT currency::text, threshold_major FROM withdrawal_approval_thresholds
          WHERE tenant_id = $1",
    )
    .bind(tenant_id)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(code, amount)| Some((Currency::parse(&code).ok()?, amount.normalize())))
        .collect())
}

/// Replaces the tenant's per-currency thresholds.
async fn save_thresholds(
    conn: &mut sqlx::PgConnection,
    tenant_id: TenantId,
    thresholds: &BTreeMap<Currency, Decimal>,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM withdrawal_approval_thresholds WHERE tenant_id = $1")
        .bind(tenant_id)
        .execute(&mut *conn)
        .await?;
    for (currency, amount) in thresholds {
        sqlx::query(
            "INSERT INTO withdrawal_approval_thresholds (tenant_id, currency, threshold_major)
             VALUES ($1, $2, $3)",
        )
        .bind(tenant_id)
        .bind(currency.code())
        .bind(amount)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Writes the tenant's policy (inserted on first save).
pub async fn save_policy(
    conn: &mut sqlx::PgConnection,
    tenant_id: TenantId,
    policy: &Policy,
    staff_id: StaffId,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO withdrawal_policies
             (tenant_id, amount_min, amount_max, approval_threshold, payout_attempts_max,
              retry_cooldown_s, recheck_age_s, payout_provider, updated_at, updated_by,
              not_found_grace_s)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
         ON CONFLICT (tenant_id) DO UPDATE SET
             amount_min = EXCLUDED.amount_min, amount_max = EXCLUDED.amount_max,
             approval_threshold = EXCLUDED.approval_threshold,
             payout_attempts_max = EXCLUDED.payout_attempts_max,
             retry_cooldown_s = EXCLUDED.retry_cooldown_s, recheck_age_s = EXCLUDED.recheck_age_s,
             payout_provider = EXCLUDED.payout_provider, updated_at = EXCLUDED.updated_at,
             updated_by = EXCLUDED.updated_by, not_found_grace_s = EXCLUDED.not_found_grace_s",
    )
    .bind(tenant_id)
    .bind(policy.amount_min)
    .bind(policy.amount_max)
    .bind(policy.approval_threshold)
    .bind(policy.payout_attempts_max as i32)
    .bind(policy.retry_cooldown_s as i32)
    .bind(policy.recheck_age_s as i32)
    .bind(&policy.payout_provider)
    .bind(now)
    .bind(staff_id)
    .bind(policy.not_found_grace_s as i32)
    .execute(&mut *conn)
    .await?;
    save_thresholds(conn, tenant_id, &policy.approval_thresholds).await
}

/// The policy as JSON, for the audit log.
pub fn snapshot(policy: &Policy) -> serde_json::Value {
    serde_json::json!({
        "amount_min": policy.amount_min.to_string(),
        "amount_max": policy.amount_max.to_string(),
        "approval_threshold": policy.approval_threshold.to_string(),
        "approval_thresholds": thresholds_text(&policy.approval_thresholds),
        "payout_attempts_max": policy.payout_attempts_max,
        "retry_cooldown_s": policy.retry_cooldown_s,
        "recheck_age_s": policy.recheck_age_s,
        "not_found_grace_s": policy.not_found_grace_s,
        "payout_provider": policy.payout_provider,
    })
}

/// The tenant's policy as the settings page shows it.
fn policy_out(services: &Services, policy: Policy, editable: bool) -> WithdrawalPolicy {
    WithdrawalPolicy {
        amount_min: policy.amount_min,
        amount_max: policy.amount_max,
        approval_threshold: policy.approval_threshold,
        approval_thresholds: policy.approval_thresholds.into_iter().collect(),
        payout_attempts_max: policy.payout_attempts_max,
        retry_cooldown_s: policy.retry_cooldown_s,
        recheck_age_s: policy.recheck_age_s,
        not_found_grace_s: policy.not_found_grace_s,
        payout_provider: policy.payout_provider,
        providers: payout_provider_names(services),
        updated_at: policy.updated_at,
        editable,
    }
}

fn payout_provider_names(services: &Services) -> Vec<String> {
    services
        .providers()
        .all()
        .map(|provider| provider.name().to_owned())
        .collect()
}

/// Any staff role: the tenant's policy, editable by an owner.
pub async fn view(
    services: &Services,
    tenant: &Tenant,
    staff: &StaffMember,
) -> ServerResult<WithdrawalPolicy> {
    let mut conn = services.pool().acquire().await?;
    let policy = load(&mut conn, tenant.id).await?;
    Ok(policy_out(services, policy, staff.role == StaffRole::Owner))
}

/// Owner only: changes the tenant's policy (audited).
pub async fn save(
    services: &Services,
    ctx: &RequestCtx,
    tenant: &Tenant,
    staff: &StaffMember,
    update: app::withdrawals::PolicyUpdate,
) -> ServerResult<WithdrawalPolicy> {
    let policy = Policy::from_update(&update, &payout_provider_names(services))?;
    let now = services.now();
    let mut tx = services.pool().begin().await?;
    let before = load(&mut tx, tenant.id).await?;
    save_policy(&mut tx, tenant.id, &policy, staff.id, now).await?;
    audit::record(
        &mut tx,
        &AuditEvent {
            tenant_id: tenant.id,
            actor: Actor::Staff(staff.id),
            action: "withdrawal_policy.updated".into(),
            target_type: "withdrawal_policy".into(),
            target_id: tenant.id.to_string(),
            before: Some(snapshot(&before)),
            after: Some(snapshot(&policy)),
            reason: None,
            request_id: super::request_id(ctx),
            idempotency_key: None,
            ip: None,
            at: now,
        },
    )
    .await?;
    tx.commit().await?;
    tracing::info!(tenant = %tenant.slug, staff = %staff.id, "withdrawal policy updated");
    Ok(policy_out(
        services,
        Policy {
            updated_at: Some(now),
            ..policy
        },
        true,
    ))
}
