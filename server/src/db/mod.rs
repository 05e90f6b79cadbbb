//! The database: the connection pool, migrations, and the embedded Postgres cluster used when
//! no `DATABASE_URL` is configured.

pub mod embedded;

use std::time::Duration;

use anyhow::Context;
use secrecy::ExposeSecret;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

use crate::config::Config;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

/// Connections per server process: enough for 2 cores and the benchmark's 64 clients.
const POOL_CONNECTIONS_MAX: u32 = 80;

/// An open database, and the embedded cluster behind it when we started one.
pub struct Database {
    pool: PgPool,
    url: String,
    embedded: Option<embedded::Cluster>,
}

impl Database {
    /// Connects to `DATABASE_URL`, or starts (or reuses) the embedded cluster.
    pub async fn open(config: &Config) -> anyhow::Result<Database> {
        let (url, embedded) = match &config.database_url {
            Some(url) => (url.expose_secret().to_owned(), None),
            None => {
                let cluster = embedded::Cluster::start(config).await?;
                (cluster.url(), Some(cluster))
            }
        };
        let pool = PgPoolOptions::new()
            .max_connections(POOL_CONNECTIONS_MAX)
            .acquire_timeout(Duration::from_secs(10))
            // A ping before every acquire would add a round trip to every query; a broken
            // connection fails its query instead and is replaced.
            .test_before_acquire(false)
            .connect(&url)
            .await
            .context("connecting to the database")?;
        Ok(Database {
            pool,
            url,
            embedded,
        })
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The connection URL (with a `host=` socket directory for the embedded cluster).
    pub fn url(&self) -> &str {
        &self.url
    }

    pub async fn migrate(&self) -> anyhow::Result<()> {
        MIGRATOR.run(&self.pool).await.context("running migrations")
    }

    /// Closes the pool, then stops the embedded cluster if this process started it.
    pub async fn close(self) {
        self.pool.close().await;
        if let Some(cluster) = self.embedded {
            cluster.stop_if_started().await;
        }
    }
}
