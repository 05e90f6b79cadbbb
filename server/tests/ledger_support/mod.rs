//! Helpers shared by the ledger's integration tests: tenants and players to post for, journals
//! built from short descriptions, row counts, and the integrity check every test ends with.
#![allow(dead_code)]

use app::domain::ids::{PlayerId, TenantId};
use app::domain::money::{Currency, Money};
use kasa_server::ledger::{
    self, AccountRef, IdempotencyKey, JournalKind, LedgerError, NewJournal, NewTransfer,
    PostedJournal,
};
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use uuid::Uuid;

/// A pool wide enough for real concurrency (the default test pool has 5 connections).
pub async fn wide_pool(connect_options: PgConnectOptions, connections: u32) -> PgPool {
    PgPoolOptions::new()
        .max_connections(connections)
        .acquire_timeout(std::time::Duration::from_secs(60))
        .connect_with(connect_options)
        .await
        .expect("the test database accepts connections")
}

pub async fn tenant(pool: &PgPool, slug: &str) -> TenantId {
    sqlx::query_scalar("INSERT INTO tenants (id, slug, name) VALUES ($1, $2, $2) RETURNING id")
        .bind(Uuid::new_v4())
        .bind(slug)
        .fetch_one(pool)
        .await
        .expect("tenant inserted")
}

pub async fn player(pool: &PgPool, tenant_id: TenantId) -> PlayerId {
    let id = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO players (id, tenant_id, email, display_name, password_hash)
         VALUES ($1, $2, $3, 'Player', 'not-a-hash')",
    )
    .bind(id)
    .bind(tenant_id)
    .bind(format!("{}@example.test", id.simple()))
    .execute(pool)
    .await
    .expect("player inserted");
    PlayerId(id)
}

pub fn eur(amount: &str) -> Money {
    Money::parse(amount, Currency::Eur).expect("a valid EUR amount")
}

pub fn key(text: &str) -> IdempotencyKey {
    IdempotencyKey::parse(text).expect("a valid idempotency key")
}

pub fn transfer(debit: AccountRef, credit: AccountRef, amount: Money) -> NewTransfer {
    NewTransfer {
        debit,
        credit,
        amount,
    }
}

pub fn one_transfer(
    key_text: &str,
    kind: JournalKind,
    debit: AccountRef,
    credit: AccountRef,
    amount: Money,
) -> NewJournal {
    NewJournal::new(key(key_text), kind, vec![transfer(debit, credit, amount)])
}

/// Credits a player's cash from the mock PSP's clearing account as a captured deposit does: a
/// `deposit_capture` journal referencing a `captured` deposit row that names it, so that the
/// integrity check's cross-object rules hold too.
pub async fn deposit(
    pool: &PgPool,
    tenant_id: TenantId,
    player_id: PlayerId,
    amount: Money,
) -> PostedJournal {
    let deposit_id = Uuid::new_v4();
    let journal = NewJournal {
        reference: Some(format!("deposit:{deposit_id}")),
        ..one_transfer(
            &format!("deposit:{deposit_id}:capture"),
            JournalKind::DEPOSIT_CAPTURE,
            AccountRef::PspClearing(ledger::ProviderName::parse("mock").unwrap()),
            AccountRef::PlayerCash(player_id),
            amount,
        )
    };
    let posted = ledger::post_journal(pool, tenant_id, &journal)
        .await
        .expect("deposit posted");
    sqlx::query(
        "INSERT INTO deposits (id, tenant_id, player_id, provider, amount_minor, currency, state,
                               idempotency_key, request_sha256, provider_session_id,
                               capture_journal_id, created_at, updated_at, captured_at)
         VALUES ($1, $2, $3, 'mock', $4, $5, 'captured', $6, decode(repeat('00', 32), 'hex'),
                 $6, $7, now(), now(), now())",
    )
    .bind(deposit_id)
    .bind(tenant_id)
    .bind(player_id)
    .bind(amount.to_minor_units())
    .bind(amount.currency().code())
    .bind(format!("mcs_{}", deposit_id.simple()))
    .bind(posted.journal_id.0)
    .execute(pool)
    .await
    .expect("deposit row inserted");
    posted
}

/// Moves a bet's stake (`bet`: cash → house) or a win (`win`: house → cash for the bet
/// `reference_tx`) as the game wallet does: a journal referencing the game transaction row that
/// names it, so that the integrity check's cross-object rules hold too.
pub async fn game_call(
    pool: &PgPool,
    tenant_id: TenantId,
    player_id: PlayerId,
    tx_id: &str,
    reference_tx: Option<&str>,
    amount: Money,
) -> PostedJournal {
    let id = Uuid::new_v4();
    let (kind, journal_kind, debit, credit) = match reference_tx {
        None => (
            "bet",
            JournalKind::BET,
            AccountRef::PlayerCash(player_id),
            AccountRef::House,
        ),
        Some(_) => (
            "win",
            JournalKind::WIN,
            AccountRef::House,
            AccountRef::PlayerCash(player_id),
        ),
    };
    let journal = NewJournal {
        reference: Some(format!("game_transaction:{id}")),
        ..one_transfer(
            &format!("game:test:{tx_id}"),
            journal_kind,
            debit,
            credit,
            amount,
        )
    };
    let posted = ledger::post_journal(pool, tenant_id, &journal)
        .await
        .expect("game journal posted");
    sqlx::query(
        "INSERT INTO game_transactions (id, tenant_id, provider, tx_id, kind, player_id, round_id,
                                        game_code, currency, amount_minor, reference_tx, tombstone,
                                        journal_id, request_sha256, response, created_at)
         VALUES ($1, $2, 'test', $3, $4, $5, 'round', 'game', $6, $7, $8, false, $9,
                 decode(repeat('00', 32), 'hex'), '{}', now())",
    )
    .bind(id)
    .bind(tenant_id)
    .bind(tx_id)
    .bind(kind)
    .bind(player_id)
    .bind(amount.currency().code())
    .bind(amount.to_minor_units())
    .bind(reference_tx)
    .bind(posted.journal_id.0)
    .execute(pool)
    .await
    .expect("game transaction row inserted");
    posted
}

/// The player's available and held funds in EUR, in cents.
pub async fn eur_funds(pool: &PgPool, tenant_id: TenantId, player_id: PlayerId) -> (i64, i64) {
    let balances = ledger::player_balances(pool, tenant_id, player_id)
        .await
        .expect("balances read");
    balances
        .iter()
        .find(|balance| balance.currency == Currency::Eur)
        .map_or((0, 0), |balance| {
            (balance.available.minor_units(), balance.held.minor_units())
        })
}

/// Rows in every ledger table: (accounts, journals, transfers, balance deltas).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowCounts {
    pub accounts: i64,
    pub journals: i64,
    pub transfers: i64,
    pub deltas: i64,
}

pub async fn row_counts(pool: &PgPool) -> RowCounts {
    let (accounts, journals, transfers, deltas) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM ledger_accounts), (SELECT count(*) FROM ledger_journals),
                (SELECT count(*) FROM ledger_transfers), (SELECT count(*) FROM ledger_balance_deltas)",
    )
    .fetch_one(pool)
    .await
    .expect("counts read");
    RowCounts {
        accounts,
        journals,
        transfers,
        deltas,
    }
}

/// Fails the test with the report's violations unless every invariant holds.
pub async fn assert_integrity(pool: &PgPool) {
    let report = ledger::check_integrity(pool, None)
        .await
        .expect("integrity check runs");
    assert!(
        report.ok,
        "ledger invariants violated: {:#?}",
        report.violations
    );
}

/// Fails the test unless the ledger's own double-entry invariants hold. For the tests that drive
/// the posting engine with synthetic journals (kinds such as `transfer`, withdrawal journals with
/// no withdrawal behind them), which the cross-object checks rightly report; the business flows'
/// tests assert the whole report with [`assert_integrity`].
pub async fn assert_ledger_integrity(pool: &PgPool) {
    let report = ledger::check_integrity(pool, None)
        .await
        .expect("integrity check runs");
    let ledger_violations: Vec<_> = report
        .violations
        .iter()
        .filter(|violation| !violation.concerns_business_objects())
        .collect();
    assert!(
        ledger_violations.is_empty() && !report.violations_truncated,
        "ledger invariants violated: {ledger_violations:#?}"
    );
}

/// The error code of a failed post, for assertions.
pub fn code_of(result: &Result<PostedJournal, LedgerError>) -> &'static str {
    match result {
        Ok(_) => "ok",
        Err(error) => error.code(),
    }
}
