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
    assert!(Config::from_sources("audit_checkpoint_interval_seconds = 0", env_of(&[])).is_err());
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
        config.secure_cookies && !config.demo_data && !config.mock_psp && !config.test_endpoints
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
