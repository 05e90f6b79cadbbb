//! The services behind the app's server functions: one value holding the pool, configuration,
//! session store and clock, implementing every feature's service trait (`AuthApi` in `auth`,
//! `DashboardApi` in `backoffice::dashboard`, …).

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use leptos::prelude::provide_context;
use sqlx::PgPool;

use crate::auth::session::SessionStore;
use crate::config::Config;
use crate::games::GameProviders;
use crate::psp::Providers;
use crate::psp::mock::Delivery;

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
    providers: Providers,
    game_providers: GameProviders,
    /// The mock PSP's webhooks waiting for delivery; taken by the delivery worker.
    mock_deliveries: Mutex<Option<tokio::sync::mpsc::UnboundedReceiver<Delivery>>>,
}

impl Services {
    pub fn new(pool: PgPool, config: Arc<Config>) -> Services {
        Services::with_clock(pool, config, Arc::new(Utc::now))
    }

    pub fn with_clock(pool: PgPool, config: Arc<Config>, clock: Clock) -> Services {
        let sessions = SessionStore::new(pool.clone(), &config);
        let (outbox, deliveries) = tokio::sync::mpsc::unbounded_channel();
        let providers = Providers::from_config(&config, pool.clone(), outbox);
        let game_providers = GameProviders::from_config(&config);
        Services {
            inner: Arc::new(Inner {
                pool,
                config,
                sessions,
                clock,
                providers,
                game_providers,
                mock_deliveries: Mutex::new(Some(deliveries)),
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

    /// The game providers whose wallet calls this configuration accepts.
    pub fn game_providers(&self) -> &GameProviders {
        &self.inner.game_providers
    }

    /// The payment providers this configuration enables.
    pub fn providers(&self) -> &Providers {
        &self.inner.providers
    }

    /// Takes the mock PSP's delivery queue (once: the first caller runs the delivery worker).
    pub(crate) fn take_mock_deliveries(
        &self,
    ) -> Option<tokio::sync::mpsc::UnboundedReceiver<Delivery>> {
        self.inner
            .mock_deliveries
            .lock()
            .ok()
            .and_then(|mut slot| slot.take())
    }

    pub fn now(&self) -> DateTime<Utc> {
        (self.inner.clock)()
    }

    /// Makes every service trait available to server functions and page rendering.
    pub fn provide(&self) {
        let services = Arc::new(self.clone());
        provide_context::<Arc<dyn app::auth::api::AuthApi>>(services.clone());
        provide_context::<Arc<dyn app::auth::second_factor::api::SecondFactorApi>>(
            services.clone(),
        );
        provide_context::<Arc<dyn app::protection::api::ProtectionApi>>(services.clone());
        provide_context::<Arc<dyn app::backoffice::dashboard::DashboardApi>>(services.clone());
        provide_context::<Arc<dyn app::backoffice::api::BackofficeApi>>(services.clone());
        provide_context::<Arc<dyn app::wallet::api::WalletApi>>(services.clone());
        provide_context::<Arc<dyn app::games::api::GamesApi>>(services.clone());
        provide_context::<Arc<dyn app::withdrawals::api::WithdrawalsApi>>(services.clone());
        provide_context::<Arc<dyn app::deposits::api::DepositsApi>>(services);
    }
}
