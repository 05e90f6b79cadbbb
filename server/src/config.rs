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

/// The file layer: every field optional, unknown keys refused so that typos are caught.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileLayer {
    environment: Option<Environment>,
    bind: Option<SocketAddr>,
    public_origin: Option<String>,
    extra_origins: Option<Vec<String>>,
    cors_allowed_origins: Option<Vec<String>>,
    trusted_proxies: Option<Vec<String>>,
    database_url: Option<String>,
    app_database_url: Option<String>,
    data_dir: Option<PathBuf>,
    embedded_fast: Option<bool>,
    session_secret: Option<String>,
    session_idle_minutes: Option<u32>,
    session_absolute_hours: Option<u32>,
    secure_cookies: Option<bool>,
    demo_data: Option<bool>,
    demo_password: Option<String>,
    mock_psp: Option<bool>,
    mock_psp_secret: Option<String>,
    stripe_secret_key: Option<String>,
    stripe_webhook_secret: Option<String>,
    stripe_api_base: Option<String>,
    checkout_expiry_minutes: Option<u32>,
    test_endpoints: Option<bool>,
    tenant_hosts: Option<BTreeMap<String, String>>,
    default_tenant: Option<String>,
    site_root: Option<PathBuf>,
    body_limit_bytes: Option<usize>,
    log_format: Option<LogFormat>,
    audit_checkpoint_key: Option<String>,
    audit_checkpoint_path: Option<PathBuf>,
    audit_checkpoint_interval_seconds: Option<u32>,
    staff_second_factor: Option<SecondFactorRule>,
}

impl Config {
    /// Loads from the process environment and the configuration file.
    pub fn load() -> anyhow::Result<Config> {
        let file = match std::env::var_os("KASA_CONFIG") {
            Some(path) => Some(PathBuf::from(path)),
            None => Some(PathBuf::from("kasa.toml")).filter(|path| path.exists()),
        };
        let file_layer = match file {
            Some(path) => {
                let text = std::fs::read_to_string(&path)
                    .with_context(|| format!("reading {}", path.display()))?;
                toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?
            }
            None => FileLayer::default(),
        };
        Config::from_layers(file_layer, |name| std::env::var(name).ok())
    }

    /// Builds a configuration from a TOML text and an environment lookup (tests use this).
    pub fn from_sources(
        toml_text: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> anyhow::Result<Config> {
        Config::from_layers(
            toml::from_str(toml_text).context("parsing configuration")?,
            env,
        )
    }

    fn from_layers(
        file: FileLayer,
        env: impl Fn(&str) -> Option<String>,
    ) -> anyhow::Result<Config> {
        let var = |name: &str| env(&format!("KASA_{name}")).filter(|value| !value.is_empty());
        let flag = |name: &str| -> anyhow::Result<Option<bool>> {
            var(name)
                .map(|value| match value.as_str() {
                    "1" | "true" | "yes" | "on" => Ok(true),
                    "0" | "false" | "no" | "off" => Ok(false),
                    other => bail!("KASA_{name} must be true or false, not {other:?}"),
                })
                .transpose()
        };
        let number = |name: &str| -> anyhow::Result<Option<u64>> {
            var(name)
                .map(|value| {
                    value
                        .parse()
                        .with_context(|| format!("KASA_{name} must be a number"))
                })
                .transpose()
        };
        let list = |value: String| {
            value
                .split(',')
                .map(|item| item.trim().to_owned())
                .filter(|item| !item.is_empty())
                .collect()
        };

        let environment = match var("ENVIRONMENT") {
            Some(value) => Environment::parse(&value)?,
            None => file.environment.unwrap_or(Environment::Development),
        };
        let development_like = environment != Environment::Production;
        let bind: SocketAddr = match var("BIND").or_else(|| env("LEPTOS_SITE_ADDR")) {
            Some(value) => value
                .parse()
                .with_context(|| format!("KASA_BIND: not an address: {value}"))?,
            None => file
                .bind
                .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 3000))),
        };
        let public_origin = var("PUBLIC_ORIGIN")
            .or(file.public_origin)
            .unwrap_or_else(|| format!("http://{bind}"))
            .trim_end_matches('/')
            .to_owned();
        let mut tenant_hosts = file.tenant_hosts.unwrap_or_else(|| {
            BTreeMap::from([
                ("127.0.0.1".to_owned(), "kasa-demo".to_owned()),
                ("localhost".to_owned(), "kasa-demo".to_owned()),
                ("second.localhost".to_owned(), "second-brand".to_owned()),
            ])
        });
        // KASA_TENANT_HOSTS="casino.example=brand-a,other.example=brand-b" replaces the map.
        if let Some(value) = var("TENANT_HOSTS") {
            tenant_hosts = BTreeMap::new();
            for pair in value.split(',').filter(|pair| !pair.trim().is_empty()) {
                let (host, slug) = pair
                    .split_once('=')
                    .context("KASA_TENANT_HOSTS entries are host=slug")?;
                tenant_hosts.insert(host.trim().to_lowercase(), slug.trim().to_owned());
            }
        }
        let config = Config {
            environment,
            bind,
            public_origin,
            extra_origins: var("EXTRA_ORIGINS")
                .map(list)
                .or(file.extra_origins)
                .unwrap_or_default(),
            cors_allowed_origins: var("CORS_ALLOWED_ORIGINS")
                .map(list)
                .or(file.cors_allowed_origins)
                .unwrap_or_default(),
            trusted_proxies: var("TRUSTED_PROXIES")
                .map(list)
                .or(file.trusted_proxies)
                .unwrap_or_default()
                .iter()
                .map(|text| {
                    text.parse::<Cidr>()
                        .map_err(|error| anyhow::anyhow!("KASA_TRUSTED_PROXIES: {error}"))
                })
                .collect::<anyhow::Result<Vec<Cidr>>>()?,
            database_url: env("DATABASE_URL")
                .or_else(|| var("DATABASE_URL"))
                .filter(|value| !value.is_empty())
                .or(file.database_url)
                .map(SecretString::from),
            app_database_url: var("APP_DATABASE_URL")
                .or(file.app_database_url)
                .map(SecretString::from),
            data_dir: var("DATA_DIR")
                .map(PathBuf::from)
                .or(file.data_dir)
                .unwrap_or_else(|| PathBuf::from("target/kasa-db")),
            embedded_fast: flag("EMBEDDED_FAST")?
                .or(file.embedded_fast)
                .unwrap_or(false),
            session_secret: SecretString::from(
                var("SESSION_SECRET")
                    .or(file.session_secret)
                    .unwrap_or_else(|| DEVELOPMENT_SESSION_SECRET.to_owned()),
            ),
            session_idle_minutes: number("SESSION_IDLE_MINUTES")?
                .map(|value| value as u32)
                .or(file.session_idle_minutes)
                .unwrap_or(30),
            session_absolute_hours: number("SESSION_ABSOLUTE_HOURS")?
                .map(|value| value as u32)
                .or(file.session_absolute_hours)
                .unwrap_or(12),
            secure_cookies: flag("SECURE_COOKIES")?
                .or(file.secure_cookies)
                .unwrap_or(environment != Environment::Development),
            demo_data: flag("DEMO_DATA")?
                .or(file.demo_data)
                .unwrap_or(development_like),
            demo_password: var("DEMO_PASSWORD")
                .or(file.demo_password)
                .map(SecretString::from),
            mock_psp: flag("MOCK_PSP")?
                .or(file.mock_psp)
                .unwrap_or(development_like),
            mock_psp_secret: var("MOCK_PSP_SECRET")
                .or(file.mock_psp_secret.filter(|secret| !secret.is_empty()))
                .map(SecretString::from),
            stripe_secret_key: var("STRIPE_SECRET_KEY")
                .or(file.stripe_secret_key)
                .map(SecretString::from),
            stripe_webhook_secret: var("STRIPE_WEBHOOK_SECRET")
                .or(file.stripe_webhook_secret)
                .map(SecretString::from),
            stripe_api_base: var("STRIPE_API_BASE")
                .or(file.stripe_api_base)
                .unwrap_or_else(|| "https://api.stripe.com".to_owned())
                .trim_end_matches('/')
                .to_owned(),
            checkout_expiry_minutes: number("CHECKOUT_EXPIRY_MINUTES")?
                .map(|value| value as u32)
                .or(file.checkout_expiry_minutes)
                .unwrap_or(30),
            test_endpoints: flag("TEST_ENDPOINTS")?
                .or(file.test_endpoints)
                .unwrap_or(environment == Environment::Test),
            tenant_hosts,
            default_tenant: var("DEFAULT_TENANT")
                .or(file.default_tenant)
                .or_else(|| Some("kasa-demo".to_owned()).filter(|_| development_like)),
            site_root: var("SITE_ROOT")
                .or_else(|| env("LEPTOS_SITE_ROOT"))
                .map(PathBuf::from)
                .or(file.site_root)
                .unwrap_or_else(|| PathBuf::from("target/site")),
            body_limit_bytes: number("BODY_LIMIT_BYTES")?
                .map(|value| value as usize)
                .or(file.body_limit_bytes)
                .unwrap_or(64 * 1024),
            log_format: match var("LOG_FORMAT").as_deref() {
                Some("json") => LogFormat::Json,
                Some("text") => LogFormat::Text,
                Some(other) => bail!("KASA_LOG_FORMAT must be text or json, not {other:?}"),
                None => file.log_format.unwrap_or(LogFormat::Text),
            },
            audit_checkpoint_key: var("AUDIT_CHECKPOINT_KEY")
                .or(file.audit_checkpoint_key)
                .map(SecretString::from),
            audit_checkpoint_path: var("AUDIT_CHECKPOINT_PATH")
                .map(PathBuf::from)
                .or(file.audit_checkpoint_path),
            audit_checkpoint_interval_seconds: number("AUDIT_CHECKPOINT_INTERVAL_SECONDS")?
                .map(|value| value as u32)
                .or(file.audit_checkpoint_interval_seconds)
                .unwrap_or(AUDIT_CHECKPOINT_INTERVAL_SECONDS_DEFAULT),
            staff_second_factor: match var("STAFF_SECOND_FACTOR") {
                Some(value) => SecondFactorRule::parse(&value)?,
                None => file.staff_second_factor.unwrap_or(if development_like {
                    SecondFactorRule::Optional
                } else {
                    SecondFactorRule::Required
                }),
            },
        };
        config.validate()?;
        Ok(config)
    }

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

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    // Proves the layering order: defaults, then the file, then KASA_* variables win.
    #[test]
    fn environment_overrides_file_overrides_defaults() {
        let config = Config::from_sources(
            "session_idle_minutes = 10\nbind = \"127.0.0.1:4000\"",
            env_of(&[("KASA_BIND", "127.0.0.1:5000")]),
        )
        .unwrap();
        assert_eq!(config.session_idle_minutes, 10);
        assert_eq!(config.bind.port(), 5000);
        assert_eq!(config.public_origin, "http://127.0.0.1:5000");
        assert_eq!(config.environment, Environment::Development);
        assert!(config.demo_data && config.mock_psp && !config.secure_cookies);
        assert_eq!(config.audit_checkpoint_interval_seconds, 60);
        assert!(config.app_database_url.is_none() && config.audit_checkpoint_key.is_none());
    }

    // Proves the database-role and audit-checkpoint keys layer like the others.
    #[test]
    fn role_and_checkpoint_keys_are_configurable() {
        let config = Config::from_sources(
            "audit_checkpoint_interval_seconds = 5\naudit_checkpoint_path = \"/var/lib/kasa/checkpoints.jsonl\"",
            env_of(&[
                ("KASA_APP_DATABASE_URL", "postgres://kasa_app:pw@db/kasa"),
                ("KASA_AUDIT_CHECKPOINT_INTERVAL_SECONDS", "30"),
            ]),
        )
        .unwrap();
        assert_eq!(config.audit_checkpoint_interval_seconds, 30);
        assert_eq!(
            config.audit_checkpoint_path,
            Some(PathBuf::from("/var/lib/kasa/checkpoints.jsonl"))
        );
        assert_eq!(
            config
                .app_database_url
                .as_ref()
                .map(|url| url.expose_secret()),
            Some("postgres://kasa_app:pw@db/kasa")
        );
        assert!(
            !format!("{config:?}").contains(":pw@"),
            "the URL is a secret"
        );
        assert!(
            Config::from_sources("audit_checkpoint_interval_seconds = 0", env_of(&[])).is_err()
        );
    }

    // Proves production refuses each insecure setting, and names them all.
    #[test]
    fn production_refuses_insecure_settings() {
        let error = Config::from_sources(
            "",
            env_of(&[
                ("KASA_ENVIRONMENT", "production"),
                ("KASA_DEMO_DATA", "true"),
                ("KASA_MOCK_PSP", "true"),
                ("KASA_SECURE_COOKIES", "false"),
            ]),
        )
        .unwrap_err()
        .to_string();
        for expected in [
            "demo data",
            "mock PSP",
            "not Secure",
            "session secret",
            "not https",
            "audit checkpoint key",
        ] {
            assert!(
                error.contains(expected),
                "{expected:?} missing from: {error}"
            );
        }
        let secure = [
            ("KASA_ENVIRONMENT", "production"),
            (
                "KASA_SESSION_SECRET",
                "0123456789abcdef0123456789abcdef-prod",
            ),
            ("KASA_PUBLIC_ORIGIN", "https://casino.example"),
            (
                "KASA_AUDIT_CHECKPOINT_KEY",
                "fedcba9876543210fedcba9876543210-audit",
            ),
        ];
        let config = Config::from_sources("", env_of(&secure)).unwrap();
        assert!(
            config.secure_cookies
                && !config.demo_data
                && !config.mock_psp
                && !config.test_endpoints
        );
        assert_eq!(config.session_cookie_name(), "__Host-kasa_session");
        assert_eq!(config.default_tenant, None);
        let with_test_endpoints = [secure.as_slice(), &[("KASA_TEST_ENDPOINTS", "1")]].concat();
        assert!(Config::from_sources("", env_of(&with_test_endpoints)).is_err());
    }

    // Proves the staff second-factor rule is optional outside production unless asked for, in
    // force by default in production, and that production refuses to waive it by configuration.
    #[test]
    fn staff_second_factor_rule_is_required_in_production() {
        let development = Config::from_sources("", env_of(&[])).unwrap();
        assert_eq!(development.staff_second_factor, SecondFactorRule::Optional);
        let test_required = Config::from_sources(
            "",
            env_of(&[
                ("KASA_ENVIRONMENT", "test"),
                ("KASA_STAFF_SECOND_FACTOR", "required"),
            ]),
        )
        .unwrap();
        assert_eq!(
            test_required.staff_second_factor,
            SecondFactorRule::Required
        );
        let from_file = Config::from_sources("staff_second_factor = \"required\"", env_of(&[]));
        assert_eq!(
            from_file.unwrap().staff_second_factor,
            SecondFactorRule::Required
        );
        assert!(
            Config::from_sources("", env_of(&[("KASA_STAFF_SECOND_FACTOR", "sometimes")])).is_err()
        );
        let secure = [
            ("KASA_ENVIRONMENT", "production"),
            (
                "KASA_SESSION_SECRET",
                "0123456789abcdef0123456789abcdef-prod",
            ),
            ("KASA_PUBLIC_ORIGIN", "https://casino.example"),
            (
                "KASA_AUDIT_CHECKPOINT_KEY",
                "fedcba9876543210fedcba9876543210-audit",
            ),
        ];
        let production = Config::from_sources("", env_of(&secure)).unwrap();
        assert_eq!(production.staff_second_factor, SecondFactorRule::Required);
        let waived = [
            secure.as_slice(),
            &[("KASA_STAFF_SECOND_FACTOR", "optional")],
        ]
        .concat();
        let error = Config::from_sources("", env_of(&waived))
            .unwrap_err()
            .to_string();
        assert!(error.contains("KASA_STAFF_SECOND_FACTOR"), "{error}");
    }

    // Proves each brand's host is accepted as an origin at the public origin's scheme and port.
    #[test]
    fn brand_hosts_are_allowed_origins() {
        let config = Config::from_sources(
            "",
            env_of(&[("KASA_PUBLIC_ORIGIN", "http://127.0.0.1:3000")]),
        )
        .unwrap();
        let origins = config.allowed_origins();
        for expected in [
            "http://127.0.0.1:3000",
            "http://localhost:3000",
            "http://second.localhost:3000",
        ] {
            assert!(
                origins.contains(&expected.to_owned()),
                "{expected} missing from {origins:?}"
            );
        }
        assert!(!origins.contains(&"http://evil.example:3000".to_owned()));
    }

    // Proves each allowed origin belongs to its own brand: brand hosts to their brands, the
    // public and extra origins at unmapped hosts to the default tenant, nothing else to anyone.
    #[test]
    fn origins_belong_to_one_brand() {
        let config = Config::from_sources(
            "",
            env_of(&[
                ("KASA_PUBLIC_ORIGIN", "https://casino.example"),
                (
                    "KASA_TENANT_HOSTS",
                    "casino.example=brand-a,other.example=brand-b",
                ),
                (
                    "KASA_EXTRA_ORIGINS",
                    "https://other.example:8443,https://cdn-less.example",
                ),
                ("KASA_DEFAULT_TENANT", "brand-a"),
            ]),
        )
        .unwrap();
        let tenants = config.origin_tenants();
        let brand = |origin: &str| {
            tenants
                .iter()
                .find(|(each, _)| each == origin)
                .map(|(_, slug)| slug.as_str())
        };
        assert_eq!(brand("https://casino.example"), Some("brand-a"));
        assert_eq!(brand("https://other.example"), Some("brand-b"));
        assert_eq!(brand("https://other.example:8443"), Some("brand-b"));
        assert_eq!(brand("https://cdn-less.example"), Some("brand-a"));
        assert_eq!(brand("https://evil.example"), None);

        // As in production, where no default tenant is configured unless asked for.
        let mut without_default = Config::from_sources(
            "",
            env_of(&[
                ("KASA_PUBLIC_ORIGIN", "https://unmapped.example"),
                ("KASA_TENANT_HOSTS", "casino.example=brand-a"),
            ]),
        )
        .unwrap();
        without_default.default_tenant = None;
        assert_eq!(
            without_default.origin_tenants(),
            vec![("https://casino.example".to_owned(), "brand-a".to_owned())]
        );
        assert_eq!(origin_host("http://[::1]:3000"), "::1");
        assert_eq!(
            origin_host("http://Second.Localhost:3000"),
            "second.localhost"
        );
    }

    // Proves an unknown key in the file is an error rather than silently ignored.
    #[test]
    fn unknown_file_keys_are_refused() {
        assert!(Config::from_sources("sesion_secret = \"x\"", env_of(&[])).is_err());
    }

    // Proves secrets do not appear in debug output.
    #[test]
    fn secrets_are_not_printed() {
        let config = Config::from_sources(
            "",
            env_of(&[("KASA_SESSION_SECRET", "super-secret-value-1234567890abcdef")]),
        )
        .unwrap();
        assert!(!format!("{config:?}").contains("super-secret-value"));
    }
}
