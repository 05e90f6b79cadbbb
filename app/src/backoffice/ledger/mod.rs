//! The ledger explorer: accounts with their balances (`/admin/ledger`, filtered by kind and
//! currency), one account's transfers (`/admin/ledger/accounts/:id`, paged) and one journal with
//! its transfers and the business object it belongs to (`/admin/ledger/journals/:id`).

pub mod api;
pub mod pages;

use crate::domain::ids::PlayerId;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::money::{Currency, SignedMoney};

/// Accounts per page.
pub const ACCOUNT_PAGE_SIZE: i64 = 50;

/// Transfers per page of an account.
pub const TRANSFER_PAGE_SIZE: i64 = 50;

/// The account kinds, as stored.
pub const ACCOUNT_KINDS: [&str; 6] = [
    "player_cash",
    "player_withdrawal_hold",
    "psp_clearing",
    "house",
    "fees",
    "adjustments",
];

/// The currencies offered in the filter.
pub const EXPLORER_CURRENCIES: [&str; 5] = ["EUR", "USD", "GBP", "TRY", "JPY"];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountRow {
    pub id: Uuid,
    pub kind: String,
    pub provider: Option<String>,
    pub player_id: Option<PlayerId>,
    pub player_email: Option<String>,
    pub currency: Currency,
    /// Credits minus debits (a player's funds are positive; what a PSP owes us is negative).
    pub balance: SignedMoney,
    pub debits: SignedMoney,
    pub credits: SignedMoney,
}

impl AccountRow {
    /// `psp_clearing:mock`, `player_cash · player@example.com`, `house`.
    pub fn label(&self) -> String {
        match (&self.provider, &self.player_email) {
            (Some(provider), _) => format!("{}:{provider}", self.kind),
            (None, Some(email)) => format!("{} · {email}", self.kind),
            (None, None) => self.kind.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountPage {
    pub accounts: Vec<AccountRow>,
    pub next_offset: Option<i64>,
}

/// One transfer seen from one account: credits positive, debits negative.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountTransfer {
    pub sequence: i64,
    pub journal_id: Uuid,
    pub journal_kind: String,
    pub reference: Option<String>,
    pub posted_at: DateTime<Utc>,
    pub amount: SignedMoney,
    /// Kept for player accounts only.
    pub balance_after: Option<SignedMoney>,
    pub counterparty_id: Uuid,
    pub counterparty: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountTransfers {
    pub account: AccountRow,
    pub transfers: Vec<AccountTransfer>,
    /// Pass as `before` for the next (older) page.
    pub next_before: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalTransfer {
    pub ordinal: i16,
    pub debit_id: Uuid,
    pub debit: String,
    pub credit_id: Uuid,
    pub credit: String,
    pub amount: SignedMoney,
    pub debit_balance_after: Option<SignedMoney>,
    pub credit_balance_after: Option<SignedMoney>,
}

/// The business object a journal belongs to (its `reference`), as staff need to see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BusinessObject {
    /// `deposit`, `withdrawal`, `player`, …
    pub kind: String,
    pub id: String,
    /// (label, value) facts about it.
    pub facts: Vec<(String, String)>,
    /// Where staff can see more of it.
    pub link: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalDetail {
    pub id: Uuid,
    pub kind: String,
    pub reference: Option<String>,
    pub idempotency_key: String,
    /// Indented JSON.
    pub metadata: String,
    pub posted_at: DateTime<Utc>,
    pub transfers: Vec<JournalTransfer>,
    pub object: Option<BusinessObject>,
}
