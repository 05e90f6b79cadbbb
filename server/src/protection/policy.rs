//! Each tenant's protection policy: the defaults below, overridden per tenant by a row in
//! `protection_policies` (a NULL column keeps the default).

use app::domain::ids::TenantId;
use app::domain::money::Currency;
use app::protection::ProtectionRules;

/// Withdrawals need a verified identity unless the tenant turns it off.
pub const KYC_REQUIRED_FOR_WITHDRAWAL_DEFAULT: bool = true;
/// Total deposits (whole units of the deposit's currency) beyond which KYC is required: €2,000.
pub const KYC_DEPOSIT_THRESHOLD_MAJOR_DEFAULT: i64 = 2_000;
/// How long a raised or removed deposit limit waits before it applies.
pub const LIMIT_INCREASE_COOLDOWN_HOURS_DEFAULT: i32 = 24;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtectionPolicy {
    pub kyc_required_for_withdrawal: bool,
    pub kyc_deposit_threshold_major: i64,
    pub limit_increase_cooldown_hours: i32,
}

impl Default for ProtectionPolicy {
    fn default() -> Self {
        ProtectionPolicy {
            kyc_required_for_withdrawal: KYC_REQUIRED_FOR_WITHDRAWAL_DEFAULT,
            kyc_deposit_threshold_major: KYC_DEPOSIT_THRESHOLD_MAJOR_DEFAULT,
            limit_increase_cooldown_hours: LIMIT_INCREASE_COOLDOWN_HOURS_DEFAULT,
        }
    }
}

/// A brand's stored policy row: a column left NULL takes the default.
#[derive(Default, sqlx::FromRow)]
struct StoredPolicy {
    kyc_required_for_withdrawal: Option<bool>,
    kyc_deposit_threshold_major: Option<i64>,
    deposit_limit_increase_cooldown_hours: Option<i32>,
}

impl ProtectionPolicy {
    pub async fn load(
        conn: &mut sqlx::PgConnection,
        tenant_id: TenantId,
    ) -> Result<ProtectionPolicy, sqlx::Error> {
        let stored: Option<StoredPolicy> = sqlx::query_as(
            "SELECT kyc_required_for_withdrawal, kyc_deposit_threshold_major,
                    deposit_limit_increase_cooldown_hours
               FROM protection_policies WHERE tenant_id = $1",
        )
        .bind(tenant_id)
        .fetch_optional(conn)
        .await?;
        let stored = stored.unwrap_or_default();
        let defaults = ProtectionPolicy::default();
        Ok(ProtectionPolicy {
            kyc_required_for_withdrawal: stored
                .kyc_required_for_withdrawal
                .unwrap_or(defaults.kyc_required_for_withdrawal),
            kyc_deposit_threshold_major: stored
                .kyc_deposit_threshold_major
                .unwrap_or(defaults.kyc_deposit_threshold_major),
            limit_increase_cooldown_hours: stored
                .deposit_limit_increase_cooldown_hours
                .unwrap_or(defaults.limit_increase_cooldown_hours),
        })
    }

    /// The KYC threshold in minor units of `currency`. Kasa keeps no exchange rates, so the
    /// threshold's number applies in each currency's own units: 2,000 EUR, 2,000 USD, 2,000 JPY.
    /// That is about right for USD and GBP and stricter (never looser) for TRY and JPY.
    pub fn kyc_deposit_threshold_minor(&self, currency: Currency) -> i64 {
        self.kyc_deposit_threshold_major
            .saturating_mul(currency.minor_units_per_major())
    }

    pub fn limit_increase_cooldown(&self) -> chrono::Duration {
        chrono::Duration::hours(i64::from(self.limit_increase_cooldown_hours))
    }

    /// The rules as the player is told them.
    pub fn rules(&self) -> ProtectionRules {
        ProtectionRules {
            kyc_required_for_withdrawal: self.kyc_required_for_withdrawal,
            kyc_deposit_threshold_major: self.kyc_deposit_threshold_major,
            limit_increase_cooldown_hours: i64::from(self.limit_increase_cooldown_hours),
        }
    }
}
