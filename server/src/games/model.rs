//! The wallet core's vocabulary, free of any provider's protocol: the ids a provider sends, the
//! calls, the balance every answer carries, and the refusals with their stable codes.

use app::domain::ids::PlayerId;
use app::domain::money::{Currency, Money};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::ServerError;

/// Longest transaction, round or game id a provider may send, in characters.
pub const PROVIDER_ID_LENGTH_MAX: usize = 100;

/// A provider's transaction, round or game id: 1 to 100 visible ASCII characters (providers
/// send UUIDs or short codes; anything else is refused before it reaches the database).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ProviderId(String);

impl ProviderId {
    pub fn parse(id: impl Into<String>) -> Option<ProviderId> {
        let id = id.into();
        let valid = !id.is_empty()
            && id.len() <= PROVIDER_ID_LENGTH_MAX
            && id.bytes().all(|byte| byte.is_ascii_graphic());
        valid.then_some(ProviderId(id))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ProviderId {
    type Error = &'static str;
    fn try_from(id: String) -> Result<Self, Self::Error> {
        ProviderId::parse(id).ok_or("an id is 1 to 100 visible ASCII characters")
    }
}

impl From<ProviderId> for String {
    fn from(id: ProviderId) -> String {
        id.0
    }
}

/// Who calls: the provider (as configured, "hub88", "kasa-demo"), the game session's token and,
/// when the protocol names one, the player id the provider was given at launch.
#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    pub provider: &'a str,
    pub token: &'a str,
    pub user: Option<&'a str>,
}

/// A stake taken from the player: `player_cash → house`.
#[derive(Debug, Clone)]
pub struct Bet {
    pub tx_id: ProviderId,
    pub round_id: ProviderId,
    pub game: ProviderId,
    pub amount: Money,
}

/// A payout for a bet: `house → player_cash`, always credited once its bet was taken.
#[derive(Debug, Clone)]
pub struct Win {
    pub tx_id: ProviderId,
    pub round_id: ProviderId,
    pub game: ProviderId,
    /// The bet this win pays.
    pub reference_tx: ProviderId,
    pub amount: Money,
}

/// The reversal of a bet the provider could not confirm: its stake goes back, exactly once.
#[derive(Debug, Clone)]
pub struct Rollback {
    pub tx_id: ProviderId,
    pub round_id: ProviderId,
    pub game: ProviderId,
    /// The bet to reverse.
    pub reference_tx: ProviderId,
}

/// The player's spendable balance after a call, in the session's currency: what every answer
/// carries, stored with the call so that a replay returns the very same figure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Balance {
    pub player_id: PlayerId,
    #[serde(with = "currency_code")]
    pub currency: Currency,
    pub balance_minor: i64,
}

mod currency_code {
    use app::domain::money::Currency;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(currency: &Currency, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(currency.code())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Currency, D::Error> {
        let code = String::deserialize(deserializer)?;
        Currency::parse(&code).map_err(serde::de::Error::custom)
    }
}

/// A call that was applied, now or (`replayed`) by an identical earlier call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Applied {
    pub balance: Balance,
    pub replayed: bool,
}

/// Why a call was refused. A refused call writes nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No game session of this provider has the token, or it is another player's.
    InvalidToken,
    /// The session ended: no new bets (wins and rollbacks still apply).
    TokenExpired,
    /// The bet is for another game than the session's.
    InvalidGame,
    /// The call's currency is not the session's (or the bet's, for a win).
    WrongCurrency,
    /// The bet is more than the player's balance.
    NotEnoughMoney,
    /// The player is self-excluded: no bets.
    PlayerExcluded,
    /// The bet would break a loss limit; the room left in the tightest one, in minor units of
    /// the bet's currency (0 when the limits are in another currency).
    LossLimitReached { room_minor: i64 },
    /// The transaction id was used for a different call.
    DuplicateTransaction,
    /// The bet a win or rollback refers to is not known (or is another player's or round's).
    UnknownTransaction,
    /// The bet was rolled back (or a rollback for its id arrived first): it cannot be taken or won.
    TransactionRolledBack,
    /// The round was already won: its bets can no longer be rolled back.
    RoundSettled,
}

impl Refusal {
    /// The stable code (logs, the provider adapters' mapping, the README's table).
    pub const fn code(self) -> &'static str {
        match self {
            Refusal::InvalidToken => "invalid_token",
            Refusal::TokenExpired => "token_expired",
            Refusal::InvalidGame => "invalid_game",
            Refusal::WrongCurrency => "wrong_currency",
            Refusal::NotEnoughMoney => "not_enough_money",
            Refusal::PlayerExcluded => "player_excluded",
            Refusal::LossLimitReached { .. } => "loss_limit_reached",
            Refusal::DuplicateTransaction => "duplicate_transaction",
            Refusal::UnknownTransaction => "unknown_transaction",
            Refusal::TransactionRolledBack => "transaction_rolled_back",
            Refusal::RoundSettled => "round_settled",
        }
    }
}

/// A refused call, with the player's balance when the player is known (a provider shows it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused {
    pub refusal: Refusal,
    pub balance: Option<Balance>,
}

/// What a wallet call can end in besides success.
#[derive(Debug, thiserror::Error)]
pub enum WalletError {
    #[error("refused: {}", .0.refusal.code())]
    Refused(Refused),
    #[error(transparent)]
    Server(#[from] ServerError),
}

impl From<sqlx::Error> for WalletError {
    fn from(error: sqlx::Error) -> WalletError {
        WalletError::Server(error.into())
    }
}

impl From<crate::ledger::LedgerError> for WalletError {
    fn from(error: crate::ledger::LedgerError) -> WalletError {
        WalletError::Server(error.into())
    }
}

impl WalletError {
    pub(crate) fn refused(refusal: Refusal, balance: Option<Balance>) -> WalletError {
        WalletError::Refused(Refused { refusal, balance })
    }
}

/// The hash of what a call asks for, compared on replay: the same id with any other kind,
/// player, round, game, currency, amount or reference is a different call.
pub(crate) fn request_sha256(
    kind: &str,
    player_id: PlayerId,
    round_id: &ProviderId,
    game: &ProviderId,
    amount: Option<&Money>,
    currency: Currency,
    reference_tx: Option<&ProviderId>,
) -> Vec<u8> {
    let canonical = serde_json::json!([
        kind,
        player_id,
        round_id.as_str(),
        game.as_str(),
        currency.code(),
        amount.map(Money::to_minor_units),
        reference_tx.map(ProviderId::as_str),
    ]);
    Sha256::digest(canonical.to_string().as_bytes()).to_vec()
}
