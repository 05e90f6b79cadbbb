//! Play: Kasa as the seamless wallet of game providers. Studios and aggregators do not run
//! inside the operator; they call its wallet over HTTP for every bet, win and rollback, signed,
//! retried on timeouts.
//!
//! - [`wallet`] is the provider-neutral core: every call one Postgres transaction and one ledger
//!   journal (`bet`: player_cash → house, `win` and `bet_rollback`: house → player_cash), keyed
//!   by the provider's transaction id in `game_transactions`.
//! - [`sessions`] opens the game sessions whose tokens the providers send back.
//! - [`hub88`] speaks Hub88's operator wallet protocol, mounted per provider under
//!   `/api/v1/games/{provider}/`, verified with [`signature`].
//! - The providers this installation accepts, with their public keys, are [`GameProviders`]:
//!   Hub88 when `KASA_HUB88_PUBLIC_KEY` is set, and outside production the built-in demo studio
//!   ([`demo`]), which calls the wallet over HTTP like any other.
//! - [`bench`] is `kasa bench wallet`: rounds per second through the signed adapter next to the
//!   same journals posted straight to the ledger.

pub mod bench;
pub mod demo;
pub mod hub88;
mod lobby;
mod model;
pub mod rounds;
pub mod sessions;
pub mod signature;
pub mod wallet;

use std::collections::BTreeMap;

pub use model::{
    Applied, Balance, Bet, Caller, PROVIDER_ID_LENGTH_MAX, ProviderId, Refusal, Refused, Rollback,
    WalletError, Win,
};
use signature::RequestVerifier;
use sqlx::PgPool;
use uuid::Uuid;

use crate::config::Config;

/// The provider name Hub88's own calls come under.
pub const HUB88: &str = "hub88";

/// The game providers whose calls this installation accepts, by name, with the key that
/// verifies their signatures.
#[derive(Clone, Default)]
pub struct GameProviders {
    verifiers: BTreeMap<String, RequestVerifier>,
    demo: Option<demo::DemoStudio>,
}

impl GameProviders {
    pub fn from_config(config: &Config) -> GameProviders {
        let mut verifiers = BTreeMap::new();
        if let Some(pem) = &config.hub88_public_key {
            match RequestVerifier::from_pem(pem) {
                Ok(verifier) => {
                    verifiers.insert(HUB88.to_owned(), verifier);
                }
                // Configuration loading already refused a key that does not parse.
                Err(error) => tracing::error!(%error, "the Hub88 public key does not parse"),
            }
        }
        let demo = demo::DemoStudio::from_config(config);
        if let Some(studio) = &demo {
            match RequestVerifier::from_pem(studio.signer().public_pem()) {
                Ok(verifier) => {
                    verifiers.insert(demo::DEMO_PROVIDER.to_owned(), verifier);
                }
                Err(error) => {
                    tracing::error!(%error, "the demo studio's public key does not parse")
                }
            }
        }
        GameProviders { verifiers, demo }
    }

    /// The built-in demo studio, when demo games are on.
    pub fn demo(&self) -> Option<&demo::DemoStudio> {
        self.demo.as_ref()
    }

    /// The verifier of `provider`'s signatures; `None` for a provider this installation does
    /// not accept.
    pub fn verifier(&self, provider: &str) -> Option<&RequestVerifier> {
        self.verifiers.get(provider)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.verifiers.keys().map(String::as_str)
    }
}

/// Whether `user` is a player this provider was given (by a game session's launch).
pub async fn player_of_provider(
    pool: &PgPool,
    provider: &str,
    user: &str,
) -> Result<bool, sqlx::Error> {
    let Ok(player_id) = Uuid::parse_str(user) else {
        return Ok(false);
    };
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM game_sessions WHERE provider = $1 AND player_id = $2)",
    )
    .bind(provider)
    .bind(player_id)
    .fetch_one(pool)
    .await
}
