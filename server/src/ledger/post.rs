//! Posting a journal: validation in Rust, then one call of the SQL function
//! `ledger_post_journal` (migrations/0003), which claims the idempotency key, locks the accounts
//! that carry a limit in id order, checks the limits and writes everything in one statement.
//! Serialisation failures and deadlocks are retried here, so none reaches a caller.

use std::collections::BTreeMap;
use std::time::Duration;

use app::domain::ids::TenantId;
use app::domain::money::Currency;

use sha2::{Digest, Sha256};
use sqlx::{Acquire, PgExecutor, PgPool};
use uuid::Uuid;

use super::error::is_transient;
use super::{
    AccountRef, LedgerError, METADATA_BYTES_MAX, NewJournal, PostedJournal, REFERENCE_LENGTH_MAX,
    TRANSFERS_PER_JOURNAL_MAX,
};

/// How many times one post is attempted when Postgres reports a serialisation failure or a
/// deadlock (both mean the attempt wrote nothing).
const POST_ATTEMPTS_MAX: u32 = 25;
/// Upper bound of the random pause before a retry grows by this much per attempt, so that
/// colliding posts spread out.
const RETRY_PAUSE_STEP_MS: u64 = 2;

const POST_SQL: &str = "SELECT posted_journal_id AS journal_id, posted_at, replayed FROM ledger_post_journal(\
    $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)";

/// Posts `journal` for `tenant_id` in its own transaction, durably committed when this returns.
/// A refused post (any error) writes nothing and leaves the idempotency key unused, so the caller
/// may retry it with the same key once the cause is gone.
///
/// The same idempotency key with the same request returns the first post's journal (with
/// `replayed = true`) and moves nothing; with a different request it fails with
/// `IdempotencyKeyReused` and writes nothing. Concurrent posts with one key produce exactly one
/// journal, and every caller gets its id.
#[tracing::instrument(name = "ledger.post_journal", skip_all,
    fields(tenant_id = %tenant_id, kind = %journal.kind, idempotency_key = %journal.idempotency_key.as_str()))]
pub async fn post_journal(
    pool: &PgPool,
    tenant_id: TenantId,
    journal: &NewJournal,
) -> Result<PostedJournal, LedgerError> {
    let prepared = PreparedJournal::new(journal)?;
    let mut attempt = 1;
    loop {
        match prepared.execute(pool, tenant_id).await {
            Err(error) if is_transient(&error) && attempt < POST_ATTEMPTS_MAX => {
                tracing::debug!(attempt, %error, "retrying a ledger post");
                pause_before_retry(attempt).await;
                attempt += 1;
            }
            result => return finish(result),
        }
    }
}

/// Posts `journal` inside the caller's transaction, so that a feature's own state change and its
/// journal commit or roll back together. Runs under a savepoint: on any error the caller's
/// transaction is left as it was and still usable. Use READ COMMITTED (the default); nothing is
/// durable until the caller commits.
#[tracing::instrument(name = "ledger.post_journal", skip_all,
    fields(tenant_id = %tenant_id, kind = %journal.kind, idempotency_key = %journal.idempotency_key.as_str()))]
pub async fn post_journal_in_transaction(
    transaction: &mut sqlx::PgConnection,
    tenant_id: TenantId,
    journal: &NewJournal,
) -> Result<PostedJournal, LedgerError> {
    let prepared = PreparedJournal::new(journal)?;
    let mut attempt = 1;
    loop {
        let mut savepoint = (&mut *transaction)
            .begin()
            .await
            .map_err(LedgerError::Database)?;
        let result = prepared.execute(&mut *savepoint, tenant_id).await;
        match result {
            Ok(posted) => {
                savepoint.commit().await.map_err(LedgerError::Database)?;
                if !posted.replayed {
                    crate::http::metrics::count_posting(journal.kind.as_str());
                }
                return Ok(posted);
            }
            Err(error) => {
                savepoint.rollback().await.map_err(LedgerError::Database)?;
                if is_transient(&error) && attempt < POST_ATTEMPTS_MAX {
                    tracing::debug!(attempt, %error, "retrying a ledger post");
                    pause_before_retry(attempt).await;
                    attempt += 1;
                } else {
                    return finish(Err(error));
                }
            }
        }
    }
}

/// Logs the outcome inside the post's span. Success is logged at debug level: the journal itself
/// is the durable record, and a busy casino posts thousands per second.
fn finish(result: Result<PostedJournal, sqlx::Error>) -> Result<PostedJournal, LedgerError> {
    let outcome = result.map_err(LedgerError::from_database);
    match &outcome {
        Ok(posted) => {
            tracing::debug!(journal_id = %posted.journal_id, replayed = posted.replayed, "journal posted")
        }
        Err(LedgerError::Database(error)) => tracing::error!(%error, "ledger post failed"),
        Err(error) => tracing::info!(code = error.code(), "ledger post refused"),
    }
    outcome
}

async fn pause_before_retry(attempt: u32) {
    let pause_ms = rand::random_range(0..=RETRY_PAUSE_STEP_MS * u64::from(attempt));
    tokio::time::sleep(Duration::from_millis(pause_ms)).await;
}

/// A validated journal in the shape of `ledger_post_journal`'s parameters: the distinct
/// (account, currency) references in a fixed order, and the transfers pointing at them.
struct PreparedJournal {
    idempotency_key: String,
    request_sha256: Vec<u8>,
    kind: String,
    reference: Option<String>,
    metadata: serde_json::Value,
    account_ids: Vec<Option<Uuid>>,
    account_kinds: Vec<Option<&'static str>>,
    account_player_ids: Vec<Option<Uuid>>,
    account_providers: Vec<Option<String>>,
    account_currencies: Vec<&'static str>,
    debit_refs: Vec<i32>,
    credit_refs: Vec<i32>,
    amounts_minor: Vec<i64>,
}

impl PreparedJournal {
    fn new(journal: &NewJournal) -> Result<PreparedJournal, LedgerError> {
        let invalid = |reason: String| Err(LedgerError::InvalidJournal { reason });
        if journal.transfers.is_empty() || journal.transfers.len() > TRANSFERS_PER_JOURNAL_MAX {
            return invalid(format!(
                "a journal has 1 to {TRANSFERS_PER_JOURNAL_MAX} transfers"
            ));
        }
        if let Some(reference) = &journal.reference {
            let length = reference.chars().count();
            if length == 0
                || length > REFERENCE_LENGTH_MAX
                || reference.chars().any(char::is_control)
            {
                return invalid(format!(
                    "a reference is 1 to {REFERENCE_LENGTH_MAX} printable characters"
                ));
            }
        }
        let metadata = canonical_json(&serde_json::Value::Object(journal.metadata.clone()));
        let metadata_text = metadata.to_string();
        if metadata_text.len() > METADATA_BYTES_MAX {
            return invalid(format!(
                "metadata is at most {METADATA_BYTES_MAX} bytes of JSON"
            ));
        }
        for (position, transfer) in journal.transfers.iter().enumerate() {
            if transfer.debit == transfer.credit {
                return invalid(format!(
                    "transfer {} has the same debit and credit account",
                    position + 1
                ));
            }
        }

        // Distinct references in a fixed order: accounts created on first use are then always
        // inserted in the same order, so two journals creating the same accounts cannot deadlock.
        let mut references: BTreeMap<(Currency, &AccountRef), i32> = BTreeMap::new();
        for transfer in &journal.transfers {
            let currency = transfer.amount.currency();
            references.insert((currency, &transfer.debit), 0);
            references.insert((currency, &transfer.credit), 0);
        }
        let mut prepared = PreparedJournal {
            idempotency_key: journal.idempotency_key.as_str().to_owned(),
            request_sha256: Vec::new(),
            kind: journal.kind.as_str().to_owned(),
            reference: journal.reference.clone(),
            metadata,
            account_ids: Vec::with_capacity(references.len()),
            account_kinds: Vec::with_capacity(references.len()),
            account_player_ids: Vec::with_capacity(references.len()),
            account_providers: Vec::with_capacity(references.len()),
            account_currencies: Vec::with_capacity(references.len()),
            debit_refs: Vec::with_capacity(journal.transfers.len()),
            credit_refs: Vec::with_capacity(journal.transfers.len()),
            amounts_minor: Vec::with_capacity(journal.transfers.len()),
        };
        for (position, ((currency, reference), index)) in references.iter_mut().enumerate() {
            // SQL arrays count from 1.
            *index = i32::try_from(position + 1).expect("at most 2000 references");
            prepared.account_currencies.push(currency.code());
            match reference.key() {
                None => {
                    let AccountRef::Id(id) = reference else {
                        unreachable!("only ids have no key")
                    };
                    prepared.account_ids.push(Some(id.0));
                    prepared.account_kinds.push(None);
                    prepared.account_player_ids.push(None);
                    prepared.account_providers.push(None);
                }
                Some((kind, player_id, provider)) => {
                    prepared.account_ids.push(None);
                    prepared.account_kinds.push(Some(kind.as_str()));
                    prepared.account_player_ids.push(player_id.map(Uuid::from));
                    prepared.account_providers.push(provider.map(str::to_owned));
                }
            }
        }
        for transfer in &journal.transfers {
            let currency = transfer.amount.currency();
            prepared
                .debit_refs
                .push(references[&(currency, &transfer.debit)]);
            prepared
                .credit_refs
                .push(references[&(currency, &transfer.credit)]);
            prepared
                .amounts_minor
                .push(transfer.amount.to_minor_units());
        }
        prepared.request_sha256 = request_sha256(journal, &prepared.metadata);
        Ok(prepared)
    }

    async fn execute<'e>(
        &self,
        executor: impl PgExecutor<'e>,
        tenant_id: TenantId,
    ) -> Result<PostedJournal, sqlx::Error> {
        sqlx::query_as(POST_SQL)
            .bind(tenant_id)
            .bind(&self.idempotency_key)
            .bind(&self.request_sha256)
            .bind(&self.kind)
            .bind(&self.reference)
            .bind(&self.metadata)
            .bind(&self.account_ids)
            .bind(&self.account_kinds)
            .bind(&self.account_player_ids)
            .bind(&self.account_providers)
            .bind(&self.account_currencies)
            .bind(&self.debit_refs)
            .bind(&self.credit_refs)
            .bind(&self.amounts_minor)
            .fetch_one(executor)
            .await
    }
}

/// SHA-256 of the request's canonical form: kind, reference, the transfers in order (accounts
/// in their stable text form, amounts at the currency's scale) and the metadata with sorted keys.
fn request_sha256(journal: &NewJournal, canonical_metadata: &serde_json::Value) -> Vec<u8> {
    let transfers: Vec<serde_json::Value> = journal
        .transfers
        .iter()
        .map(|transfer| {
            serde_json::json!([
                transfer.debit.to_string(),
                transfer.credit.to_string(),
                transfer.amount.format_amount(),
                transfer.amount.currency().code(),
            ])
        })
        .collect();
    let canonical = serde_json::json!([
        journal.kind.as_str(),
        journal.reference,
        transfers,
        canonical_metadata
    ]);
    Sha256::digest(canonical.to_string().as_bytes()).to_vec()
}

/// Rebuilds objects with their keys inserted in sorted order, so the text form does not depend
/// on the order the caller built them in (whichever map type serde_json was compiled with).
fn canonical_json(value: &serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let mut sorted = serde_json::Map::new();
            for key in keys {
                sorted.insert(key.clone(), canonical_json(&map[key]));
            }
            serde_json::Value::Object(sorted)
        }
        serde_json::Value::Array(items) => {
            serde_json::Value::Array(items.iter().map(canonical_json).collect())
        }
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use app::domain::money::Money;

    use super::*;
    use crate::ledger::{IdempotencyKey, JournalKind, NewTransfer};

    fn journal(metadata: serde_json::Value, amount: &str) -> NewJournal {
        let serde_json::Value::Object(metadata) = metadata else {
            panic!("an object")
        };
        NewJournal {
            idempotency_key: IdempotencyKey::parse("k-1").unwrap(),
            kind: JournalKind::ADJUSTMENT,
            reference: Some("adjustment:1".into()),
            transfers: vec![NewTransfer {
                debit: AccountRef::Adjustments,
                credit: AccountRef::PlayerCash(app::domain::ids::PlayerId(Uuid::nil())),
                amount: Money::parse(amount, Currency::Eur).unwrap(),
            }],
            metadata,
        }
    }

    // Proves the request hash ignores metadata key order but sees every change of content.
    #[test]
    fn request_hash_is_canonical() {
        let hash = |metadata, amount| {
            PreparedJournal::new(&journal(metadata, amount))
                .unwrap()
                .request_sha256
        };
        let base = hash(serde_json::json!({"a": 1, "b": {"x": 1, "y": 2}}), "10.00");
        assert_eq!(
            base,
            hash(serde_json::json!({"b": {"y": 2, "x": 1}, "a": 1}), "10")
        );
        assert_ne!(
            base,
            hash(serde_json::json!({"a": 2, "b": {"x": 1, "y": 2}}), "10.00")
        );
        assert_ne!(
            base,
            hash(serde_json::json!({"a": 1, "b": {"x": 1, "y": 2}}), "10.01")
        );
    }

    // Proves references are deduplicated and transfers point at the right 1-based positions.
    #[test]
    fn references_are_distinct_and_ordered() {
        let mut journal = journal(serde_json::json!({}), "1");
        journal.transfers.push(NewTransfer {
            debit: AccountRef::PlayerCash(app::domain::ids::PlayerId(Uuid::nil())),
            credit: AccountRef::House,
            amount: Money::parse("0.5", Currency::Eur).unwrap(),
        });
        let prepared = PreparedJournal::new(&journal).unwrap();
        assert_eq!(prepared.account_currencies.len(), 3);
        let kinds: Vec<_> = [prepared.debit_refs.clone(), prepared.credit_refs.clone()]
            .concat()
            .into_iter()
            .map(|index| prepared.account_kinds[index as usize - 1].unwrap())
            .collect();
        assert_eq!(
            kinds,
            ["adjustments", "player_cash", "player_cash", "house"]
        );
        assert_eq!(prepared.amounts_minor, [100, 50]);
    }
}
