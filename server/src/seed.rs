//! Demo data for development and demos: two brands, so that tenant isolation is visible from
//! the start, each with a player and one staff member per role. Created once; the credentials
//! are printed only when the accounts are created. Production refuses to start with it.

use base64::Engine;
use secrecy::{ExposeSecret, SecretString};
use sqlx::PgPool;
use uuid::Uuid;

use crate::auth::password;
use crate::config::{Config, SecondFactorRule};
use crate::tenants;

struct DemoTenant {
    slug: &'static str,
    name: &'static str,
    domain: &'static str,
}

const DEMO_TENANTS: [DemoTenant; 2] = [
    DemoTenant {
        slug: "kasa-demo",
        name: "Kasa Demo Casino",
        domain: "demo.kasa.test",
    },
    DemoTenant {
        slug: "second-brand",
        name: "Second Brand Casino",
        domain: "second.kasa.test",
    },
];

/// Creates the demo tenants and accounts that do not exist yet.
pub async fn demo_data(pool: &PgPool, config: &Config) -> anyhow::Result<()> {
    let password = match &config.demo_password {
        Some(password) => password.clone(),
        None => SecretString::from(
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 12]>()),
        ),
    };
    // One hash for every demo account: Argon2 is deliberately slow.
    let password_hash = password::hash(password.clone()).await?;
    let mut created = Vec::new();
    for demo in &DEMO_TENANTS {
        let tenant = tenants::ensure(pool, demo.slug, demo.name).await?;
        if config.demo_games {
            crate::games::demo::seed_game(pool, tenant.id).await?;
        }
        let player_email = format!("player@{}", demo.domain);
        let inserted = sqlx::query(
            "INSERT INTO players (id, tenant_id, email, display_name, password_hash) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT ON CONSTRAINT players_tenant_email_key DO NOTHING",
        )
        .bind(Uuid::new_v4())
        .bind(tenant.id)
        .bind(&player_email)
        .bind("Demo Player")
        .bind(&password_hash)
        .execute(pool)
        .await?;
        if inserted.rows_affected() == 1 {
            created.push((demo.name, "player", player_email, "/login"));
        }
        for role in ["support", "finance", "owner"] {
            let email = format!("{role}@{}", demo.domain);
            let inserted = sqlx::query(
                "INSERT INTO staff (id, tenant_id, email, display_name, role, password_hash) VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT ON CONSTRAINT staff_tenant_email_key DO NOTHING",
            )
            .bind(Uuid::new_v4())
            .bind(tenant.id)
            .bind(&email)
            .bind(format!("Demo {role}"))
            .bind(role)
            .bind(&password_hash)
            .execute(pool)
            .await?;
            if inserted.rows_affected() == 1 {
                created.push((demo.name, role, email, "/admin/login"));
            }
        }
    }
    if created.is_empty() {
        tracing::info!(
            "demo data already present (its credentials were printed when it was created)"
        );
        return Ok(());
    }
    println!(
        "\nDemo accounts created (shown once). Password for all of them: {}",
        password.expose_secret()
    );
    for (tenant, role, email, page) in created {
        println!("  {tenant:<20} {role:<8} {email:<28} log in at {page}");
    }
    println!("  The second brand is served at http://second.localhost:<port>/");
    match config.staff_second_factor {
        SecondFactorRule::Optional => println!(
            "  Two-factor log-in: optional here (KASA_STAFF_SECOND_FACTOR=optional). Staff set it up\n  \
             under Security (/admin/security) with any authenticator app; from then on their\n  \
             log-in asks for its code.\n"
        ),
        SecondFactorRule::Required => println!(
            "  Two-factor log-in: required for finance and owner. Their first log-in shows a QR code\n  \
             to scan with any authenticator app and asks for its code; support staff may set it up\n  \
             under Security (/admin/security).\n"
        ),
    }
    Ok(())
}
