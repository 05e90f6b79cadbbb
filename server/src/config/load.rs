//! Reading the layers: built-in defaults, then the TOML file, then `KASA_*` variables.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, bail};
use secrecy::SecretString;
use serde::Deserialize;

use super::*;
use crate::client_address::Cidr;

/// The file layer: every field optional, unknown keys refused so that typos are caught.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileLayer {
    environment: Option<Environment>,
    bind: Option<SocketAddr>,
    metrics_bind: Option<SocketAddr>,
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
    hub88_public_key: Option<String>,
    demo_games: Option<bool>,
    demo_games_key: Option<String>,
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
        let metrics_bind: SocketAddr = match var("METRICS_BIND") {
            Some(value) => value
                .parse()
                .with_context(|| format!("KASA_METRICS_BIND: not an address: {value}"))?,
            None => file
                .metrics_bind
                .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 3100))),
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
            metrics_bind,
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
            demo_games: flag("DEMO_GAMES")?
                .or(file.demo_games)
                .unwrap_or(development_like),
            demo_games_key: var("DEMO_GAMES_KEY")
                .or(file.demo_games_key)
                .filter(|pem| !pem.trim().is_empty())
                .map(SecretString::from),
            hub88_public_key: var("HUB88_PUBLIC_KEY")
                .or(file.hub88_public_key)
                .filter(|pem| !pem.trim().is_empty()),
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
}
