//! Configuration, layered: built-in defaults, then a TOML file (`KASA_CONFIG`, or `kasa.toml`
//! in the working directory when present), then `KASA_*` environment variables. Secrets are
//! wrapped so they never reach a log line. Production refuses every development convenience.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, bail};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::client_address::Cidr;

mod load;
#[cfg(test)]
mod tests;

/// The session secret used when none is configured; production refuses to start with it.
const DEVELOPMENT_SESSION_SECRET: &str = "kasa-development-session-secret-not-for-production";
const SESSION_SECRET_LENGTH_MIN: usize = 32;
const AUDIT_CHECKPOINT_KEY_LENGTH_MIN: usize = 32;
/// How often `kasa serve` writes signed audit checkpoints, unless configured.
const AUDIT_CHECKPOINT_INTERVAL_SECONDS_DEFAULT: u32 = 60;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    Development,
    Test,
    Production,
}

impl Environment {
    fn parse(value: &str) -> anyhow::Result<Environment> {
        match value {
            "development" => Ok(Environment::Development),
            "test" => Ok(Environment::Test),
            "production" => Ok(Environment::Production),
            other => bail!("environment must be development, test or production, not {other:?}"),
        }
    }
}

/// Whether the tenants' rule "finance and owner log in with a second factor" is in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SecondFactorRule {
    /// Each tenant's setting decides (on by default). Always so in production.
    Required,
    /// Nobody must, though staff may enrol and, once enrolled, always give a code.
    Optional,
}

impl SecondFactorRule {
    fn parse(value: &str) -> anyhow::Result<SecondFactorRule> {
        match value {
            "required" => Ok(SecondFactorRule::Required),
            "optional" => Ok(SecondFactorRule::Optional),
            other => bail!("KASA_STAFF_SECOND_FACTOR must be required or optional, not {other:?}"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub environment: Environment,
    /// Where the HTTP server listens.
    pub bind: SocketAddr,
    /// Where `GET /metrics` is served (Prometheus); keep it off the public network.
    pub metrics_bind: SocketAddr,
    /// The origin browsers use to reach Kasa (scheme://host[:port]); state-changing requests
    /// from any other origin are refused.
    pub public_origin: String,
    /// Further accepted origins (other brands' host names).
    pub extra_origins: Vec<String>,
    /// Origins allowed to call the JSON API from a browser (CORS); empty by default.
    pub cors_allowed_origins: Vec<String>,
    /// Proxies whose `Forwarded`/`X-Forwarded-For` name the client (`KASA_TRUSTED_PROXIES`,
    /// comma-separated CIDRs; none by default, so the TCP peer is the client).
    pub trusted_proxies: Vec<Cidr>,
    /// An external database, as its owner (migrations run with it); when absent an embedded
    /// cluster is started under `data_dir`.
    pub database_url: Option<SecretString>,
    /// The application's own login (the role `kasa_app` or a member of it); when absent it is
    /// `database_url` with the user name `kasa_app` and no password.
    pub app_database_url: Option<SecretString>,
    pub data_dir: PathBuf,
    /// Trade durability for speed in the embedded cluster (tests only).
    pub embedded_fast: bool,
    /// Keys the session token hashes: a leaked sessions table is useless without it.
    pub session_secret: SecretString,
    pub session_idle_minutes: u32,
    pub session_absolute_hours: u32,
    pub secure_cookies: bool,
    pub demo_data: bool,
    /// Fixes the demo accounts' password instead of generating one (tests and demos).
    pub demo_password: Option<SecretString>,
    pub mock_psp: bool,
    /// Keys the mock PSP's webhook signatures (it signs like Stripe: `t=…,v1=…`). Unset: the
    /// installation's own random secret, generated once and kept in the database
    /// (`psp::mock::installation_secret`), so no published value can sign for a dev install.
    pub mock_psp_secret: Option<SecretString>,
    /// Stripe: enabled when both the secret key and the webhook signing secret are set.
    pub stripe_secret_key: Option<SecretString>,
    pub stripe_webhook_secret: Option<SecretString>,
    /// Stripe's API base URL; tests point it at a local fake.
    pub stripe_api_base: String,
    /// The built-in demo game studio (`games::demo`); refused in production.
    pub demo_games: bool,
    /// The demo studio's private key (PEM); unset: the installation's own, generated once and
    /// kept in the database (`games::demo::resolve_key`).
    pub demo_games_key: Option<SecretString>,
    /// Hub88's public key (PEM `PUBLIC KEY`), which verifies its wallet calls; unset: Hub88's
    /// calls are not accepted (404).
    pub hub88_public_key: Option<String>,
    /// How long a deposit's checkout stays open (Stripe accepts 30 minutes to 24 hours).
    pub checkout_expiry_minutes: u32,
    pub test_endpoints: bool,
    /// Host name (without port) to tenant slug.
    pub tenant_hosts: BTreeMap<String, String>,
    /// The tenant for host names not in `tenant_hosts`; none means such requests get 404.
    pub default_tenant: Option<String>,
    pub site_root: PathBuf,
    pub body_limit_bytes: usize,
    pub log_format: LogFormat,
    /// Keys the HMAC of audit checkpoints; outside production a generated key file in
    /// `data_dir` stands in for it (see `audit::checkpoint`).
    pub audit_checkpoint_key: Option<SecretString>,
    /// The append-only file of signed checkpoints; default `data_dir/audit-checkpoints.jsonl`.
    pub audit_checkpoint_path: Option<PathBuf>,
    /// How often `kasa serve` checkpoints the audit chain heads.
    pub audit_checkpoint_interval_seconds: u32,
    /// Whether the tenants' second-factor rule for finance and owner staff is in force:
    /// `required` by default in production (which refuses `optional`), `optional` elsewhere.
    pub staff_second_factor: SecondFactorRule,
}
impl Config {
    /// Refuses combinations that would be unsafe; in production, every development convenience.
    fn validate(&self) -> anyhow::Result<()> {
        if self.session_idle_minutes == 0 || self.session_absolute_hours == 0 {
            bail!("session lifetimes must be positive");
        }
        if !(30..=24 * 60).contains(&self.checkout_expiry_minutes) {
            bail!("checkout_expiry_minutes must be between 30 and 1440 (Stripe's bounds)");
        }
        if self.stripe_secret_key.is_some() != self.stripe_webhook_secret.is_some() {
            bail!("Stripe needs both KASA_STRIPE_SECRET_KEY and KASA_STRIPE_WEBHOOK_SECRET");
        }
        if let Some(pem) = &self.hub88_public_key {
            crate::games::signature::RequestVerifier::from_pem(pem)
                .context("KASA_HUB88_PUBLIC_KEY is not a PEM RSA public key")?;
        }
        if self.audit_checkpoint_interval_seconds == 0 {
            bail!("audit_checkpoint_interval_seconds must be positive");
        }
        if self.environment != Environment::Production {
            return Ok(());
        }
        let mut problems = Vec::new();
        if self.demo_data {
            problems.push("demo data is enabled (KASA_DEMO_DATA)");
        }
        if self.mock_psp {
            problems.push("the mock PSP is enabled (KASA_MOCK_PSP)");
        }
        if self.demo_games {
            problems.push("the demo game studio is enabled (KASA_DEMO_GAMES)");
        }
        if self.test_endpoints {
            problems.push("test-only endpoints are enabled (KASA_TEST_ENDPOINTS)");
        }
        if !self.secure_cookies {
            problems.push("cookies are not Secure (KASA_SECURE_COOKIES)");
        }
        let secret = self.session_secret.expose_secret();
        if secret == DEVELOPMENT_SESSION_SECRET || secret.len() < SESSION_SECRET_LENGTH_MIN {
            problems.push("the session secret is the default or shorter than 32 characters (KASA_SESSION_SECRET)");
        }
        if !self.public_origin.starts_with("https://") {
            problems.push("the public origin is not https (KASA_PUBLIC_ORIGIN)");
        }
        if !self.stripe_api_base.starts_with("https://") {
            problems.push("the Stripe API base is not https (KASA_STRIPE_API_BASE)");
        }
        if self
            .audit_checkpoint_key
            .as_ref()
            .is_none_or(|key| key.expose_secret().len() < AUDIT_CHECKPOINT_KEY_LENGTH_MIN)
        {
            problems.push(
                "no audit checkpoint key of at least 32 characters (KASA_AUDIT_CHECKPOINT_KEY)",
            );
        }
        if self.demo_password.is_some() {
            problems.push("a demo password is set (KASA_DEMO_PASSWORD)");
        }
        // Only a tenant's own (audited) setting may waive the rule in production.
        if self.staff_second_factor != SecondFactorRule::Required {
            problems.push("the staff second factor is optional (KASA_STAFF_SECOND_FACTOR)");
        }
        if !problems.is_empty() {
            bail!("refusing to start in production: {}", problems.join("; "));
        }
        Ok(())
    }

    /// Every origin of one of the brands: the public origin, the extra ones, and each brand's
    /// host name at the public origin's scheme and port. A state-changing request is accepted
    /// only from those of its own brand (`origin_tenants`).
    pub fn allowed_origins(&self) -> Vec<String> {
        let (scheme, rest) = self
            .public_origin
            .split_once("://")
            .unwrap_or(("https", &self.public_origin));
        let port = rest
            .rsplit_once(':')
            .map(|(_, port)| format!(":{port}"))
            .unwrap_or_default();
        let brand_origins = self
            .tenant_hosts
            .keys()
            .map(|host| format!("{scheme}://{host}{port}"));
        let mut origins: Vec<String> = std::iter::once(self.public_origin.clone())
            .chain(self.extra_origins.iter().cloned())
            .chain(brand_origins)
            .collect();
        origins.sort();
        origins.dedup();
        origins
    }

    /// Whether the mock PSP may script a `crash` (SIGKILL of the server mid-payout): only in the
    /// `test` environment, never in development or production, whatever else is enabled.
    pub fn scripted_crash_allowed(&self) -> bool {
        self.environment == Environment::Test
    }

    /// Which brand each allowed origin belongs to: `(origin, tenant slug)`. An origin belongs to
    /// the brand its host name is mapped to in `tenant_hosts`; a configured origin (the public
    /// one or an extra one) whose host is not mapped belongs to the default tenant, and to no
    /// brand when there is none. An origin that is not configured belongs to nobody, whatever its
    /// host: the default tenant's fallback for unknown hosts never makes their pages ours.
    pub fn origin_tenants(&self) -> Vec<(String, String)> {
        self.allowed_origins()
            .into_iter()
            .filter_map(|origin| {
                let host = origin_host(&origin);
                let slug = self
                    .tenant_hosts
                    .get(&host)
                    .or(self.default_tenant.as_ref())?
                    .clone();
                Some((origin, slug))
            })
            .collect()
    }

    /// Whether Stripe is configured (both its secret key and its webhook signing secret).
    pub fn stripe_enabled(&self) -> bool {
        self.stripe_secret_key.is_some() && self.stripe_webhook_secret.is_some()
    }

    pub fn session_cookie_name(&self) -> &'static str {
        // The __Host- prefix makes browsers insist on Secure, Path=/ and no Domain.
        if self.secure_cookies {
            "__Host-kasa_session"
        } else {
            "kasa_session"
        }
    }
}

/// The host name of an origin (`scheme://host[:port]`), lower case, without the port.
fn origin_host(origin: &str) -> String {
    let authority = origin.split_once("://").map_or(origin, |(_, rest)| rest);
    let host = match authority.strip_prefix('[') {
        // An IPv6 literal: the brackets' content.
        Some(literal) => literal.split(']').next().unwrap_or_default(),
        None => authority
            .rsplit_once(':')
            .filter(|(_, port)| port.chars().all(|c| c.is_ascii_digit()))
            .map_or(authority, |(host, _)| host),
    };
    host.to_lowercase()
}
