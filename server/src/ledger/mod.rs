//! The double-entry ledger, Kasa's single source of truth for money: accounts, journals and
//! their transfers in Postgres, posted atomically and idempotently, the balances read from them,
//! and the operator's integrity check, rebuild and benchmark.
//!
//! How other features use it:
//! - Move money only with [`post_journal`] (its own, durable transaction) or
//!   [`post_journal_in_transaction`] (inside the caller's transaction, next to the feature's own
//!   state change). A journal is one business event: an idempotency key, a [`JournalKind`], an
//!   optional reference to the business object, transfers between [`AccountRef`]s (created on
//!   first use) and metadata. Errors are [`LedgerError`], each with a stable `code()`.
//! - Read balances and history only with the functions of [`read`]; show amounts as
//!   `app::domain::money::SignedMoney` / `Money`.
//! - The server runs [`spawn_balance_folder`] at start-up (see below); the admin screen can call
//!   [`check_integrity`] and show its [`IntegrityReport`].
//!
//! Design (details at the top of `migrations/0002_ledger.sql` and `0003_ledger_posting.sql`):
//! - Balances are credits minus debits; every account keeps a snapshot (`debits_posted_minor`,
//!   `credits_posted_minor`, `version`).
//! - Player accounts may never go negative. Posting locks them in id order and checks and writes
//!   their snapshot in one conditional `UPDATE` each, in the journal's transaction.
//! - Operator accounts (house, fees, PSP clearing, adjustments) may go negative, so they never
//!   limit a transfer: posting neither locks nor updates their rows (no hot row), but appends
//!   their change to `ledger_balance_deltas`, which a fold moves into the snapshot in one
//!   statement. Every balance read adds the unfolded deltas, so it is exact at all times; the
//!   integrity check verifies `snapshot + unfolded deltas = sum of transfers` for every account.
//! - One post is one SQL function call (`ledger_post_journal`): one round trip.

pub mod bench;
mod error;
mod fold;
pub mod integrity;
mod integrity_objects;
mod model;
mod post;
pub mod read;
mod rebuild;

pub use error::LedgerError;
pub use fold::{BALANCE_FOLD_INTERVAL, FoldSummary, fold_balance_deltas, spawn_balance_folder};
pub use integrity::{IntegrityReport, IntegrityViolation, check_integrity};
pub use integrity_objects::{BusinessObject, JOURNAL_KIND_RULES, JournalKindRule};
pub use model::{
    AccountId, AccountKind, AccountRef, IDEMPOTENCY_KEY_LENGTH_MAX, IdempotencyKey, JournalId,
    JournalKind, METADATA_BYTES_MAX, NewJournal, NewTransfer, PostedJournal, ProviderName,
    REFERENCE_LENGTH_MAX, TRANSFERS_PER_JOURNAL_MAX,
};
pub use post::{post_journal, post_journal_in_transaction};
pub use read::{
    AccountBalance, HISTORY_PAGE_SIZE_MAX, HistoryCursor, HistoryEntry, HistoryPage, HistoryQuery,
    JournalSummary, JournalView, PlayerBalance, TransferView, account_balance, journal,
    journals_by_reference, operator_balances, player_balances, player_history, player_liabilities,
};
pub use rebuild::{BalanceCorrection, RebuildReport, rebuild_balances};
