//! The services behind the app's server functions: one value holding the pool, configuration,
//! session store and clock, implementing every feature's service trait (`AuthApi` in `auth`,
//! `AdminApi` in `admin`, …).

use std::sync::Arc;

use app::error::AppError;
use chrono::{DateTime, Utc};
use leptos::prelude::provide_context;
use sqlx::PgPool;

use crate::auth::session::SessionStore;
use crate::config::Config;

/// Where "now" comes from; tests inject a fixed or moving clock.
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

#[derive(Clone)]
pub struct Services {
    inner: Arc<Inner>,
}

struct Inner {
    pool: PgPool,
    config: Arc<Config>,
    sessions: SessionStore,
    clock: Clock,
}

impl Services {
    pub fn new(pool: PgPool, config: Arc<Config>) -> Services {
        Services::with_clock(pool, config, Arc::new(Utc::now))
    }

    pub fn with_clock(pool: PgPool, config: Arc<Config>, clock: Clock) -> Services {
        let sessions = SessionStore::new(pool.clone(), &config);
        Services {
            inner: Arc::new(Inner {
                pool,
                config,
                sessions,
                clock,
            }),
        }
    }

    pub fn pool(&self) -> &PgPool {
        &self.inner.pool
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    pub fn sessions(&self) -> &SessionStore {
        &self.inner.sessions
    }

    pub fn now(&self) -> DateTime<Utc> {
        (self.inner.clock)()
    }

    /// Makes every service trait available to server functions and page rendering.
    pub fn provide(&self) {
        let services = Arc::new(self.clone());
        provide_context::<Arc<dyn app::auth::AuthApi>>(services.clone());
        provide_context::<Arc<dyn app::admin::AdminApi>>(services.clone());
        provide_context::<Arc<dyn app::wallet::WalletApi>>(services);
    }
}

/// Logs an unexpected failure with its full chain and returns the generic message: the browser
/// never sees database or library error text.
pub fn internal(error: impl std::fmt::Display) -> AppError {
    tracing::error!(error = %error, "internal error");
    AppError::internal()
}
