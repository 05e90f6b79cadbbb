//! The database: the connection pool, migrations, and the embedded Postgres cluster used when
//! no `DATABASE_URL` is configured.
//!
//! Two roles (README, "Database roles"): migrations run as the owner of the schema
//! (`DATABASE_URL`, or `kasa_owner` in the embedded cluster); everything else, `kasa serve`
//! included, connects as the application role `kasa_app` (migrations/0011_database_roles.sql),
//! which may not rewrite journals, transfers or audit events and cannot switch their triggers off.

pub mod embedded;
pub mod scratch;

use std::str::FromStr;
use std::time::Duration;

use anyhow::{Context, bail};
use secrecy::ExposeSecret;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgPool};

use crate::config::Config;

/// The application's role; migrations grant to it by this name.
pub const APP_ROLE: &str = "kasa_app";
/// The `application_name` of the application's connections (visible in `pg_stat_activity`).
pub const APPLICATION_NAME: &str = "kasa";
const MIGRATION_APPLICATION_NAME: &str = "kasa-migrate";

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

/// Connections per server process: enough for 2 cores and the benchmark's 64 clients.
const POOL_CONNECTIONS_MAX: u32 = 80;

/// An open database, and the embedded cluster behind it when we started one.
pub struct Database {
    /// Connected as the application role.
    pool: PgPool,
    /// The owner's URL: migrations and the benchmarks' scratch databases.
    owner_url: String,
    embedded: Option<embedded::Cluster>,
}

impl Database {
    /// Starts (or reuses) the embedded cluster unless `DATABASE_URL` names a database, and
    /// connects the pool as the application role, refusing one that could rewrite history.
    pub async fn open(config: &Config) -> anyhow::Result<Database> {
        let (owner_url, app_url, embedded) = locate(config).await?;
        let options = PgConnectOptions::from_str(&app_url)
            .context("the application's database URL (KASA_APP_DATABASE_URL) is not valid")?
            .application_name(APPLICATION_NAME);
        let pool = PgPoolOptions::new()
            .max_connections(POOL_CONNECTIONS_MAX)
            .acquire_timeout(Duration::from_secs(10))
            // A ping before every acquire would add a round trip to every query; a broken
            // connection fails its query instead and is replaced.
            .test_before_acquire(false)
            .connect_with(options)
            .await
            .with_context(|| {
                format!(
                    "connecting to the database as the application role ({APP_ROLE}, or KASA_APP_DATABASE_URL)"
                )
            })?;
        check_application_role(&pool).await?;
        Ok(Database {
            pool,
            owner_url,
            embedded,
        })
    }

    /// The application role's pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The owner's connection URL (with a `host=` socket directory for the embedded cluster).
    pub fn owner_url(&self) -> &str {
        &self.owner_url
    }

    /// Applies the migrations on a connection of the owner's.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        migrate_as_owner(&self.owner_url).await
    }

    /// Closes the pool, then stops the embedded cluster if this process started it.
    pub async fn close(self) {
        self.pool.close().await;
        if let Some(cluster) = self.embedded {
            cluster.stop_if_started().await;
        }
    }
}

/// `kasa migrate`: applies the migrations as the owner without logging in as the application
/// role, which may not exist before the first migration ran.
pub async fn migrate_only(config: &Config) -> anyhow::Result<()> {
    let (owner_url, _, embedded) = locate(config).await?;
    let result = migrate_as_owner(&owner_url).await;
    if let Some(cluster) = embedded {
        cluster.stop_if_started().await;
    }
    result
}

/// The owner's and the application's URLs, starting (or reusing) the embedded cluster when no
/// `DATABASE_URL` is configured.
async fn locate(config: &Config) -> anyhow::Result<(String, String, Option<embedded::Cluster>)> {
    let configured_app_url = config
        .app_database_url
        .as_ref()
        .map(|url| url.expose_secret().to_owned());
    Ok(match &config.database_url {
        Some(url) => {
            let owner_url = url.expose_secret().to_owned();
            let app_url = match configured_app_url {
                Some(app_url) => app_url,
                None => with_user(&owner_url, APP_ROLE)?,
            };
            (owner_url, app_url, None)
        }
        None => {
            let cluster = embedded::Cluster::start(config).await?;
            let app_url = configured_app_url.unwrap_or_else(|| cluster.url_as(APP_ROLE));
            (cluster.url_as(embedded::OWNER_ROLE), app_url, Some(cluster))
        }
    })
}

async fn migrate_as_owner(owner_url: &str) -> anyhow::Result<()> {
    let options = PgConnectOptions::from_str(owner_url)
        .context("the database URL is not valid")?
        .application_name(MIGRATION_APPLICATION_NAME);
    let mut connection = sqlx::PgConnection::connect_with(&options)
        .await
        .context("connecting to the database as its owner (DATABASE_URL)")?;
    MIGRATOR
        .run(&mut connection)
        .await
        .context("running migrations")?;
    connection.close().await?;
    Ok(())
}

/// Refuses a pool whose role could rewrite history: a superuser (it can switch triggers off with
/// `session_replication_role`), a role that bypasses row-level security, or the owner (or a member
/// of the owner) of the database or of any of its tables (it can `DISABLE TRIGGER`). Returns the
/// role's name.
pub async fn check_application_role(pool: &PgPool) -> anyhow::Result<String> {
    let (role, superuser, bypass_rls, owner): (String, bool, bool, bool) = sqlx::query_as(
        "SELECT current_user::text, r.rolsuper, r.rolbypassrls,
                pg_has_role(current_user, d.datdba, 'MEMBER')
                OR EXISTS (SELECT 1 FROM pg_class c
                            WHERE c.relnamespace = 'public'::regnamespace
                              AND pg_has_role(current_user, c.relowner, 'MEMBER'))
           FROM pg_roles r, pg_database d
          WHERE r.rolname = current_user AND d.datname = current_database()",
    )
    .fetch_one(pool)
    .await
    .context("reading the application role's attributes")?;
    let mut problems = Vec::new();
    if superuser {
        problems.push("is a superuser");
    }
    if bypass_rls {
        problems.push("bypasses row-level security");
    }
    if owner {
        problems.push("owns the database or its tables");
    }
    if !problems.is_empty() {
        bail!(
            "refusing to run as the database role {role}: it {}; connect as {APP_ROLE} (README, \"Database roles\")",
            problems.join(" and ")
        );
    }
    Ok(role)
}

/// `url` with its user (and password) replaced by `user`: the application role's URL on the same
/// server when only the owner's is configured (trust, peer or `.pgpass` authentication).
pub fn with_user(url: &str, user: &str) -> anyhow::Result<String> {
    let (scheme, rest) = url
        .split_once("://")
        .context("the database URL has no scheme (postgres://…)")?;
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    Ok(format!("{scheme}://{user}@{host}{path}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Proves the application's URL keeps the owner's server, database and options and drops its
    // user name and password.
    #[test]
    fn application_url_replaces_only_the_user() {
        assert_eq!(
            with_user(
                "postgres://owner:secret@db.example:5433/kasa?sslmode=require",
                "kasa_app"
            )
            .unwrap(),
            "postgres://kasa_app@db.example:5433/kasa?sslmode=require"
        );
        assert_eq!(
            with_user(
                "postgres://postgres@localhost/kasa?host=/tmp/socket&port=5432",
                "kasa_app"
            )
            .unwrap(),
            "postgres://kasa_app@localhost/kasa?host=/tmp/socket&port=5432"
        );
        assert_eq!(
            with_user("postgresql://localhost", "kasa_app").unwrap(),
            "postgresql://kasa_app@localhost"
        );
        assert!(with_user("localhost/kasa", "kasa_app").is_err());
    }
}
