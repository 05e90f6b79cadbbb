//! The ledger explorer's server functions: accounts, one account's transfers, one journal.

use leptos::prelude::*;
use uuid::Uuid;

use super::{AccountPage, AccountTransfers, JournalDetail};
#[cfg(feature = "ssr")]
use crate::backoffice::api::BackofficeApi;
use crate::error::AppError;

/// Any staff role: this brand's ledger accounts with balances.
#[server(endpoint = "backoffice/ledger/accounts")]
pub async fn list_ledger_accounts(
    kind: Option<String>,
    currency: Option<String>,
    offset: Option<i64>,
) -> Result<AccountPage, AppError> {
    crate::api::serve!(BackofficeApi::ledger_accounts(kind, currency, offset))
}

/// Any staff role: one account's transfers, newest first.
#[server(endpoint = "backoffice/ledger/account")]
pub async fn load_account_transfers(
    account: Uuid,
    before: Option<i64>,
) -> Result<AccountTransfers, AppError> {
    crate::api::serve!(BackofficeApi::account_transfers(account, before))
}

/// Any staff role: one journal with its transfers and business object.
#[server(endpoint = "backoffice/ledger/journal")]
pub async fn load_journal(journal: Uuid) -> Result<JournalDetail, AppError> {
    crate::api::serve!(BackofficeApi::journal_detail(journal))
}
