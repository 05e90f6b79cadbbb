//! The ledger's vocabulary: ids, account kinds and references, and the journal a caller posts.
//! Every value here is validated when it is built, so posting code can trust it.

use std::borrow::Cow;
use std::fmt;

use app::domain::ids::PlayerId;
use app::domain::money::Money;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::LedgerError;

/// Most transfers one journal may carry (one business event rarely needs more than three; the
/// bound leaves room for batch adjustments).
pub const TRANSFERS_PER_JOURNAL_MAX: usize = 1000;
/// Longest idempotency key, in bytes.
pub const IDEMPOTENCY_KEY_LENGTH_MAX: usize = 255;
/// Longest journal reference ("withdrawal:<uuid>"), in characters.
pub const REFERENCE_LENGTH_MAX: usize = 200;
/// Largest journal metadata, in bytes of JSON.
pub const METADATA_BYTES_MAX: usize = 16 * 1024;

/// Identifies one ledger account.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, sqlx::Type,
)]
#[serde(transparent)]
#[sqlx(transparent)]
pub struct AccountId(pub Uuid);

/// Identifies one journal (one business event's money movement).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, sqlx::Type,
)]
#[serde(transparent)]
#[sqlx(transparent)]
pub struct JournalId(pub Uuid);

impl fmt::Display for AccountId {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(formatter)
    }
}

impl fmt::Display for JournalId {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(formatter)
    }
}

/// The caller's idempotency key: 1 to 255 visible ASCII characters, unique per tenant.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub fn parse(key: impl Into<String>) -> Result<IdempotencyKey, LedgerError> {
        let key = key.into();
        let visible_ascii = key.bytes().all(|byte| byte.is_ascii_graphic());
        if key.is_empty() || key.len() > IDEMPOTENCY_KEY_LENGTH_MAX || !visible_ascii {
            return Err(LedgerError::InvalidJournal {
                reason: format!(
                    "an idempotency key is 1 to {IDEMPOTENCY_KEY_LENGTH_MAX} visible ASCII characters"
                ),
            });
        }
        Ok(IdempotencyKey(key))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for IdempotencyKey {
    type Error = LedgerError;
    fn try_from(key: String) -> Result<Self, Self::Error> {
        IdempotencyKey::parse(key)
    }
}

impl From<IdempotencyKey> for String {
    fn from(key: IdempotencyKey) -> String {
        key.0
    }
}

/// What business event a journal records: lower-case snake case, at most 63 characters. The
/// kinds the money flows use are the associated constants; features may add their own.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct JournalKind(Cow<'static, str>);

impl JournalKind {
    /// A PSP confirmed a deposit: psp_clearing -> player_cash.
    pub const DEPOSIT_CAPTURE: JournalKind = JournalKind(Cow::Borrowed("deposit_capture"));
    /// A player asked to withdraw: player_cash -> player_withdrawal_hold.
    pub const WITHDRAWAL_REQUEST: JournalKind = JournalKind(Cow::Borrowed("withdrawal_request"));
    /// Staff rejected a withdrawal: player_withdrawal_hold -> player_cash.
    pub const WITHDRAWAL_REJECT: JournalKind = JournalKind(Cow::Borrowed("withdrawal_reject"));
    /// The PSP paid a withdrawal out: player_withdrawal_hold -> psp_clearing.
    pub const WITHDRAWAL_PAYOUT: JournalKind = JournalKind(Cow::Borrowed("withdrawal_payout"));
    /// A payout the PSP made although nothing was held for it any more (the withdrawal was
    /// rejected or paid by another attempt): the player owes it back.
    pub const WITHDRAWAL_PAYOUT_RECOVERY: JournalKind =
        JournalKind(Cow::Borrowed("withdrawal_payout_recovery"));
    /// A game provider's bet: player_cash -> house.
    pub const BET: JournalKind = JournalKind(Cow::Borrowed("bet"));
    /// A game provider's win: house -> player_cash.
    pub const WIN: JournalKind = JournalKind(Cow::Borrowed("win"));
    /// A game provider rolled a bet back: house -> player_cash.
    pub const BET_ROLLBACK: JournalKind = JournalKind(Cow::Borrowed("bet_rollback"));
    /// A fee the operator charges: player account -> fees.
    pub const FEE: JournalKind = JournalKind(Cow::Borrowed("fee"));
    /// A manual correction by staff, always through the adjustments account.
    pub const ADJUSTMENT: JournalKind = JournalKind(Cow::Borrowed("adjustment"));

    pub fn parse(kind: impl Into<String>) -> Result<JournalKind, LedgerError> {
        let kind = kind.into();
        let mut bytes = kind.bytes();
        let starts_with_letter = bytes.next().is_some_and(|byte| byte.is_ascii_lowercase());
        let rest_valid =
            bytes.all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'_');
        if !starts_with_letter || !rest_valid || kind.len() > 63 {
            return Err(LedgerError::InvalidJournal {
                reason: "a journal kind is lower-case snake case, at most 63 characters".to_owned(),
            });
        }
        Ok(JournalKind(Cow::Owned(kind)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for JournalKind {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

impl TryFrom<String> for JournalKind {
    type Error = LedgerError;
    fn try_from(kind: String) -> Result<Self, Self::Error> {
        JournalKind::parse(kind)
    }
}

impl From<JournalKind> for String {
    fn from(kind: JournalKind) -> String {
        kind.0.into_owned()
    }
}

/// The name of a payment service provider as the ledger knows it ("stripe", "mock").
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ProviderName(String);

impl ProviderName {
    pub fn parse(name: impl Into<String>) -> Result<ProviderName, LedgerError> {
        let name = name.into();
        let mut bytes = name.bytes();
        let starts_with_letter = bytes.next().is_some_and(|byte| byte.is_ascii_lowercase());
        let rest_valid = bytes.all(|byte| {
            byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'_' || byte == b'-'
        });
        if !starts_with_letter || !rest_valid || name.len() > 32 {
            return Err(LedgerError::InvalidJournal {
                reason: "a provider name is lower case, at most 32 characters".to_owned(),
            });
        }
        Ok(ProviderName(name))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ProviderName {
    type Error = LedgerError;
    fn try_from(name: String) -> Result<Self, Self::Error> {
        ProviderName::parse(name)
    }
}

impl From<ProviderName> for String {
    fn from(name: ProviderName) -> String {
        name.0
    }
}

/// The kind of an account, as stored in `ledger_accounts.kind`. A PSP clearing account's
/// provider is a separate column (`provider`); its display form is `psp_clearing:<provider>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountKind {
    /// What the operator owes the player, spendable and withdrawable. Never negative.
    PlayerCash,
    /// Funds the player asked to withdraw, until paid out or released. Never negative.
    PlayerWithdrawalHold,
    /// What the player owes the operator (a payout the PSP made twice, beyond the player's
    /// cash). The only player account that may go negative: its debit balance is the debt.
    PlayerReceivable,
    /// Money in transit at one PSP.
    PspClearing,
    /// Game results (the operator's gross gaming revenue).
    House,
    /// Fees the operator charges.
    Fees,
    /// The counterpart of manual corrections.
    Adjustments,
}

impl AccountKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            AccountKind::PlayerCash => "player_cash",
            AccountKind::PlayerWithdrawalHold => "player_withdrawal_hold",
            AccountKind::PlayerReceivable => "player_receivable",
            AccountKind::PspClearing => "psp_clearing",
            AccountKind::House => "house",
            AccountKind::Fees => "fees",
            AccountKind::Adjustments => "adjustments",
        }
    }

    pub fn parse(kind: &str) -> Option<AccountKind> {
        [
            AccountKind::PlayerCash,
            AccountKind::PlayerWithdrawalHold,
            AccountKind::PlayerReceivable,
            AccountKind::PspClearing,
            AccountKind::House,
            AccountKind::Fees,
            AccountKind::Adjustments,
        ]
        .into_iter()
        .find(|candidate| candidate.as_str() == kind)
    }

    /// Player accounts belong to a player; all but the receivable may never go below zero.
    pub const fn is_player_account(self) -> bool {
        matches!(
            self,
            AccountKind::PlayerCash
                | AccountKind::PlayerWithdrawalHold
                | AccountKind::PlayerReceivable
        )
    }
}

impl fmt::Display for AccountKind {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// Names the account a transfer debits or credits. Accounts addressed by kind and owner are
/// created on first use (a player account only for a player of the posting tenant); the
/// currency is always the transfer's. An id of another tenant's account, or of none, is
/// refused as `unknown_account`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountRef {
    Id(AccountId),
    PlayerCash(PlayerId),
    PlayerWithdrawalHold(PlayerId),
    PlayerReceivable(PlayerId),
    PspClearing(ProviderName),
    House,
    Fees,
    Adjustments,
}

impl AccountRef {
    /// The account's key columns: (kind, player, provider); `None` for a reference by id.
    pub(crate) fn key(&self) -> Option<(AccountKind, Option<PlayerId>, Option<&str>)> {
        match self {
            AccountRef::Id(_) => None,
            AccountRef::PlayerCash(player_id) => {
                Some((AccountKind::PlayerCash, Some(*player_id), None))
            }
            AccountRef::PlayerWithdrawalHold(player_id) => {
                Some((AccountKind::PlayerWithdrawalHold, Some(*player_id), None))
            }
            AccountRef::PlayerReceivable(player_id) => {
                Some((AccountKind::PlayerReceivable, Some(*player_id), None))
            }
            AccountRef::PspClearing(provider) => {
                Some((AccountKind::PspClearing, None, Some(provider.as_str())))
            }
            AccountRef::House => Some((AccountKind::House, None, None)),
            AccountRef::Fees => Some((AccountKind::Fees, None, None)),
            AccountRef::Adjustments => Some((AccountKind::Adjustments, None, None)),
        }
    }
}

impl fmt::Display for AccountRef {
    /// A stable text form, used in the request hash: "house", "player_cash:<uuid>", "id:<uuid>".
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AccountRef::Id(id) => write!(formatter, "id:{id}"),
            AccountRef::PlayerCash(player_id) => write!(formatter, "player_cash:{player_id}"),
            AccountRef::PlayerWithdrawalHold(player_id) => {
                write!(formatter, "player_withdrawal_hold:{player_id}")
            }
            AccountRef::PlayerReceivable(player_id) => {
                write!(formatter, "player_receivable:{player_id}")
            }
            AccountRef::PspClearing(provider) => {
                write!(formatter, "psp_clearing:{}", provider.as_str())
            }
            AccountRef::House => formatter.write_str("house"),
            AccountRef::Fees => formatter.write_str("fees"),
            AccountRef::Adjustments => formatter.write_str("adjustments"),
        }
    }
}

/// One movement of a positive amount from `debit` to `credit`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewTransfer {
    pub debit: AccountRef,
    pub credit: AccountRef,
    pub amount: Money,
}

/// Everything one business event moves, posted atomically under one idempotency key. Transfers
/// apply in order, and every player account must stay at zero or above after each of them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewJournal {
    pub idempotency_key: IdempotencyKey,
    pub kind: JournalKind,
    /// The business object it belongs to ("deposit:<id>"), at most 200 characters.
    pub reference: Option<String>,
    pub transfers: Vec<NewTransfer>,
    /// Context for people (actor, reason, PSP ids); part of the idempotency comparison.
    pub metadata: serde_json::Map<String, serde_json::Value>,
}

impl NewJournal {
    /// A journal with no reference and no metadata.
    pub fn new(
        idempotency_key: IdempotencyKey,
        kind: JournalKind,
        transfers: Vec<NewTransfer>,
    ) -> NewJournal {
        NewJournal {
            idempotency_key,
            kind,
            reference: None,
            transfers,
            metadata: serde_json::Map::new(),
        }
    }
}

/// The outcome of a post: the journal, and whether this call replayed an earlier identical post
/// (in which case nothing moved now). Every caller with the same key gets the same journal id
/// and time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct PostedJournal {
    pub journal_id: JournalId,
    pub posted_at: DateTime<Utc>,
    pub replayed: bool,
}
