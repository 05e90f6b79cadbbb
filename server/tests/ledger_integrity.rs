//! The integrity check and the rebuild tool against ledgers damaged on purpose (as a superuser
//! can: editing snapshots, slipping in deltas, switching off the guards), and the append-only
//! guards themselves.

mod ledger_support;

use std::process::ExitCode;

use app::domain::ids::{PlayerId, TenantId};
use kasa_server::ledger::{self, IntegrityViolation};
use ledger_support::*;
use sqlx::PgPool;
use uuid::Uuid;

/// Every account's (id, debits_posted, credits_posted, version), and every delta, in a fixed order.
async fn ledger_state(pool: &PgPool) -> (Vec<(Uuid, i64, i64, i64)>, Vec<(Uuid, i64, i64)>) {
    let accounts = sqlx::query_as(
        "SELECT id, debits_posted_minor, credits_posted_minor, version FROM ledger_accounts ORDER BY id",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let deltas = sqlx::query_as("SELECT account_id, debits_minor, credits_minor FROM ledger_balance_deltas ORDER BY 1, 2, 3")
        .fetch_all(pool)
        .await
        .unwrap();
    (accounts, deltas)
}

async fn house_id(pool: &PgPool, tenant_id: TenantId) -> Uuid {
    sqlx::query_scalar("SELECT id FROM ledger_accounts WHERE tenant_id = $1 AND kind = 'house'")
        .bind(tenant_id)
        .fetch_one(pool)
        .await
        .unwrap()
}

async fn cash_id(pool: &PgPool, player_id: PlayerId) -> Uuid {
    sqlx::query_scalar(
        "SELECT id FROM ledger_accounts WHERE player_id = $1 AND kind = 'player_cash'",
    )
    .bind(player_id)
    .fetch_one(pool)
    .await
    .unwrap()
}

/// A tenant with one player who deposited 100.00, bet 30.00 and won 5.00 (house deltas unfolded).
async fn small_ledger(pool: &PgPool, slug: &str) -> (TenantId, PlayerId) {
    let tenant_id = tenant(pool, slug).await;
    let player_id = player(pool, tenant_id).await;
    deposit(pool, tenant_id, player_id, eur("100.00")).await;
    let bet = format!("{slug}-bet");
    game_call(pool, tenant_id, player_id, &bet, None, eur("30.00")).await;
    game_call(
        pool,
        tenant_id,
        player_id,
        &format!("{slug}-win"),
        Some(&bet),
        eur("5.00"),
    )
    .await;
    (tenant_id, player_id)
}

// Proves a corrupted player snapshot and a forged house delta are both caught (snapshot mismatch
// with exact figures, unbalanced currency), that the dry run reports the repair but changes no
// row, and that the real rebuild restores every balance and a clean check, for one tenant only.
#[sqlx::test(migrations = "../migrations")]
async fn corruption_is_caught_and_rebuild_repairs_it(pool: PgPool) {
    let (tenant_id, player_id) = small_ledger(&pool, "damaged").await;
    let (healthy_tenant, healthy_player) = small_ledger(&pool, "healthy").await;
    assert_integrity(&pool).await;
    let cash = cash_id(&pool, player_id).await;
    let house = house_id(&pool, tenant_id).await;

    sqlx::query("UPDATE ledger_accounts SET credits_posted_minor = credits_posted_minor + 500 WHERE id = $1")
        .bind(cash)
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("INSERT INTO ledger_balance_deltas (account_id, debits_minor, credits_minor) VALUES ($1, 0, 700)")
        .bind(house)
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(
        eur_funds(&pool, tenant_id, player_id).await,
        (7_500 + 500, 0),
        "the damage shows in the balance"
    );

    let report = ledger::check_integrity(&pool, Some(tenant_id))
        .await
        .unwrap();
    assert!(!report.ok);
    assert!(
        report
            .violations
            .contains(&IntegrityViolation::SnapshotMismatch {
                account_id: ledger::AccountId(cash),
                tenant_id,
                kind: "player_cash".into(),
                currency: "EUR".into(),
                snapshot_debits_minor: 3_000,
                snapshot_credits_minor: 10_500 + 500,
                unfolded_debits_minor: 0,
                unfolded_credits_minor: 0,
                transfer_debits_minor: 3_000,
                transfer_credits_minor: 10_500,
            })
    );
    assert!(report.violations.iter().any(|violation| matches!(violation,
        IntegrityViolation::SnapshotMismatch { account_id, unfolded_credits_minor: 3_700, transfer_credits_minor: 3_000, .. }
            if account_id.0 == house)));
    assert!(
        report
            .violations
            .contains(&IntegrityViolation::CurrencyUnbalanced {
                tenant_id,
                currency: "EUR".into(),
                net_minor: 1_200
            })
    );
    assert_eq!(report.violations.len(), 3, "{:#?}", report.violations);
    assert!(
        ledger::check_integrity(&pool, Some(healthy_tenant))
            .await
            .unwrap()
            .ok,
        "the other tenant is untouched"
    );
    assert_eq!(
        kasa_server::cli::ledger::integrity_check(&pool, Some("damaged"))
            .await
            .unwrap(),
        ExitCode::from(3),
        "the operator command exits non-zero"
    );

    let state_before = ledger_state(&pool).await;
    let dry_run = ledger::rebuild_balances(&pool, Some(tenant_id), true)
        .await
        .unwrap();
    assert_eq!(dry_run.corrections.len(), 2);
    assert_eq!(dry_run.accounts_rewritten, 0);
    assert_eq!(
        kasa_server::cli::ledger::rebuild_balances(&pool, Some("damaged"), true)
            .await
            .unwrap(),
        ExitCode::SUCCESS
    );
    assert_eq!(
        ledger_state(&pool).await,
        state_before,
        "a dry run writes nothing"
    );
    assert!(
        !ledger::check_integrity(&pool, Some(tenant_id))
            .await
            .unwrap()
            .ok
    );

    let rebuilt = ledger::rebuild_balances(&pool, Some(tenant_id), false)
        .await
        .unwrap();
    assert_eq!(
        rebuilt.corrections, dry_run.corrections,
        "the dry run predicted the repair"
    );
    let cash_fix = rebuilt
        .corrections
        .iter()
        .find(|correction| correction.account_id.0 == cash)
        .unwrap();
    assert_eq!(
        (cash_fix.credits_before_minor, cash_fix.credits_after_minor),
        (11_000, 10_500)
    );
    assert_integrity(&pool).await;
    assert_eq!(eur_funds(&pool, tenant_id, player_id).await, (7_500, 0));
    assert_eq!(
        eur_funds(&pool, healthy_tenant, healthy_player).await,
        (7_500, 0)
    );
    let house_balance = ledger::account_balance(&pool, tenant_id, ledger::AccountId(house))
        .await
        .unwrap();
    assert_eq!(
        (
            house_balance.balance.minor_units(),
            house_balance.debits_minor,
            house_balance.credits_minor
        ),
        (2_500, 500, 3_000)
    );
    let remaining_deltas: i64 = sqlx::query_scalar("SELECT count(*) FROM ledger_balance_deltas d JOIN ledger_accounts a ON a.id = d.account_id WHERE a.tenant_id = $1")
        .bind(tenant_id)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(
        remaining_deltas, 0,
        "the rebuild folded the tenant's deltas"
    );
    assert_eq!(
        kasa_server::cli::ledger::integrity_check(&pool, None)
            .await
            .unwrap(),
        ExitCode::SUCCESS
    );
}

// Proves the checks that posting normally makes unreachable still fire when rows are forged and
// the guards switched off: a journal without transfers, a transfer joining two currencies, a
// transfer from another tenant's account, a negative player balance, deltas on a player account
// and deltas of a missing account.
#[sqlx::test(migrations = "../migrations")]
async fn every_invariant_is_checked(pool: PgPool) {
    let (tenant_id, player_id) = small_ledger(&pool, "guarded").await;
    let (_, stranger) = small_ledger(&pool, "elsewhere").await;
    let stranger_cash = cash_id(&pool, stranger).await;
    let cash = cash_id(&pool, player_id).await;
    let house = house_id(&pool, tenant_id).await;
    let usd_house: Uuid = sqlx::query_scalar(
        "INSERT INTO ledger_accounts (tenant_id, currency, kind, allow_negative) VALUES ($1, 'USD', 'fees', true) RETURNING id",
    )
    .bind(tenant_id)
    .fetch_one(&pool)
    .await
    .unwrap();
    let empty_journal = Uuid::new_v4();
    let mixed_journal = Uuid::new_v4();
    let crossing_journal = Uuid::new_v4();
    let missing_account = Uuid::new_v4();
    let mut connection = pool.acquire().await.unwrap();
    // As a superuser: no foreign keys, no triggers, no balance constraint.
    sqlx::query("SET session_replication_role = replica")
        .execute(&mut *connection)
        .await
        .unwrap();
    sqlx::query("ALTER TABLE ledger_accounts DROP CONSTRAINT ledger_accounts_balance_not_negative")
        .execute(&mut *connection)
        .await
        .unwrap();
    for (journal_id, key_text) in [
        (empty_journal, "forged-empty"),
        (mixed_journal, "forged-mixed"),
        (crossing_journal, "forged-crossing"),
    ] {
        sqlx::query("INSERT INTO ledger_journals (id, tenant_id, kind, idempotency_key, request_sha256) VALUES ($1, $2, 'adjustment', $3, decode(repeat('00', 32), 'hex'))")
            .bind(journal_id)
            .bind(tenant_id)
            .bind(key_text)
            .execute(&mut *connection)
            .await
            .unwrap();
    }
    sqlx::query(
        "INSERT INTO ledger_transfers (journal_id, ordinal, tenant_id, currency, debit_account_id, credit_account_id, amount_minor)
         VALUES ($1, 1, $2, 'EUR', $3, $4, 100)",
    )
    .bind(mixed_journal)
    .bind(tenant_id)
    .bind(house)
    .bind(usd_house)
    .execute(&mut *connection)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO ledger_transfers (journal_id, ordinal, tenant_id, currency, debit_account_id, credit_account_id, amount_minor)
         VALUES ($1, 1, $2, 'EUR', $3, $4, 100)",
    )
    .bind(crossing_journal)
    .bind(tenant_id)
    .bind(stranger_cash)
    .bind(house)
    .execute(&mut *connection)
    .await
    .unwrap();
    sqlx::query(
        "UPDATE ledger_accounts SET debits_posted_minor = credits_posted_minor + 1 WHERE id = $1",
    )
    .bind(cash)
    .execute(&mut *connection)
    .await
    .unwrap();
    sqlx::query("INSERT INTO ledger_balance_deltas VALUES ($1, 0, 0), ($2, 5, 0)")
        .bind(cash)
        .bind(missing_account)
        .execute(&mut *connection)
        .await
        .unwrap();
    drop(connection);

    let report = ledger::check_integrity(&pool, None).await.unwrap();
    assert!(!report.ok);
    let checks: std::collections::BTreeSet<String> = report
        .violations
        .iter()
        .map(|violation| {
            serde_json::to_value(violation).unwrap()["check"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    let expected = [
        "currency_unbalanced",
        "deltas_on_limited_account",
        "journal_unbalanced",
        "journal_without_transfers",
        "negative_player_balance",
        "orphan_deltas",
        "snapshot_mismatch",
        "transfer_misplaced",
        // The forged adjustments move house -> fees and player_cash -> house.
        "transfer_not_allowed_for_kind",
    ];
    assert_eq!(
        checks.iter().map(String::as_str).collect::<Vec<_>>(),
        expected,
        "{:#?}",
        report.violations
    );
    assert!(
        report
            .violations
            .contains(&IntegrityViolation::TransferMisplaced {
                journal_id: ledger::JournalId(mixed_journal),
                ordinal: 1,
                problem: "credit account in another currency".into()
            })
    );
    assert!(
        report
            .violations
            .contains(&IntegrityViolation::TransferMisplaced {
                journal_id: ledger::JournalId(crossing_journal),
                ordinal: 1,
                problem: "debit account in another tenant".into()
            })
    );
    assert!(
        report
            .violations
            .contains(&IntegrityViolation::JournalWithoutTransfers {
                journal_id: ledger::JournalId(empty_journal)
            })
    );
    assert!(
        report
            .violations
            .contains(&IntegrityViolation::JournalUnbalanced {
                journal_id: ledger::JournalId(mixed_journal),
                currency: "USD".into(),
                net_minor: 100
            })
    );
    assert!(
        report
            .violations
            .contains(&IntegrityViolation::NegativePlayerBalance {
                account_id: ledger::AccountId(cash),
                tenant_id,
                player_id: Some(player_id),
                currency: "EUR".into(),
                balance_minor: -1
            })
    );
}

// Proves the guards in the database itself, even for a superuser: journals and transfers refuse
// UPDATE, DELETE and TRUNCATE; accounts refuse removal and any change of identity (tenant,
// currency, kind, owner, limit); and the rows are unchanged afterwards.
#[sqlx::test(migrations = "../migrations")]
async fn journals_and_transfers_are_append_only(pool: PgPool) {
    let (tenant_id, _) = small_ledger(&pool, "append").await;
    let before = row_counts(&pool).await;
    let accounts_before: Vec<(Uuid, String, String, bool)> = sqlx::query_as(
        "SELECT id, currency, kind, allow_negative FROM ledger_accounts ORDER BY id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let amounts_before: Vec<i64> =
        sqlx::query_scalar("SELECT amount_minor FROM ledger_transfers ORDER BY sequence")
            .fetch_all(&pool)
            .await
            .unwrap();
    for statement in [
        "UPDATE ledger_transfers SET amount_minor = amount_minor + 1",
        "DELETE FROM ledger_transfers",
        "TRUNCATE ledger_transfers",
        "UPDATE ledger_journals SET kind = 'adjustment'",
        "DELETE FROM ledger_journals",
        "TRUNCATE ledger_journals CASCADE",
        "DELETE FROM ledger_accounts",
        "TRUNCATE ledger_accounts CASCADE",
        "UPDATE ledger_accounts SET currency = 'USD'",
        "UPDATE ledger_accounts SET tenant_id = tenant_id",
        "UPDATE ledger_accounts SET allow_negative = true",
        "UPDATE ledger_accounts SET player_id = NULL, kind = 'house'",
    ] {
        let error = sqlx::query(statement).execute(&pool).await.unwrap_err();
        assert_eq!(
            error.as_database_error().and_then(|e| e.code()).as_deref(),
            Some("KL009"),
            "{statement}"
        );
    }
    assert_eq!(row_counts(&pool).await, before);
    let amounts_after: Vec<i64> =
        sqlx::query_scalar("SELECT amount_minor FROM ledger_transfers ORDER BY sequence")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(amounts_after, amounts_before);
    let accounts_after: Vec<(Uuid, String, String, bool)> = sqlx::query_as(
        "SELECT id, currency, kind, allow_negative FROM ledger_accounts ORDER BY id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(accounts_after, accounts_before);
    assert!(
        ledger::check_integrity(&pool, Some(tenant_id))
            .await
            .unwrap()
            .ok
    );
}

// Proves the CHECK constraints hold even for rows written around the posting function: a zero or
// negative amount, a transfer from an account to itself, a negative balance after a transfer and
// a player snapshot below zero are all refused (SQLSTATE 23514), and nothing changes.
#[sqlx::test(migrations = "../migrations")]
async fn check_constraints_refuse_bad_rows(pool: PgPool) {
    let (tenant_id, player_id) = small_ledger(&pool, "checked").await;
    let cash = cash_id(&pool, player_id).await;
    let house = house_id(&pool, tenant_id).await;
    let journal_id: Uuid = sqlx::query_scalar("SELECT id FROM ledger_journals LIMIT 1")
        .fetch_one(&pool)
        .await
        .unwrap();
    let before = row_counts(&pool).await;
    let insert =
        "INSERT INTO ledger_transfers (journal_id, ordinal, tenant_id, currency, debit_account_id,
                      credit_account_id, amount_minor, debit_balance_after_minor)
                  VALUES ($1, 99, $2, 'EUR', $3, $4, $5, $6)";
    for (debit, credit, amount_minor, balance_after) in [
        (cash, house, 0_i64, None),
        (cash, house, -100, None),
        (cash, cash, 100, None),
        (cash, house, 100, Some(-1_i64)),
    ] {
        let error = sqlx::query(insert)
            .bind(journal_id)
            .bind(tenant_id)
            .bind(debit)
            .bind(credit)
            .bind(amount_minor)
            .bind(balance_after)
            .execute(&pool)
            .await
            .unwrap_err();
        assert_eq!(
            error.as_database_error().and_then(|e| e.code()).as_deref(),
            Some("23514"),
            "{amount_minor} {balance_after:?}"
        );
    }
    let error = sqlx::query(
        "UPDATE ledger_accounts SET debits_posted_minor = credits_posted_minor + 1 WHERE id = $1",
    )
    .bind(cash)
    .execute(&pool)
    .await
    .unwrap_err();
    assert_eq!(
        error.as_database_error().and_then(|e| e.constraint()),
        Some("ledger_accounts_balance_not_negative")
    );
    assert_eq!(row_counts(&pool).await, before);
    assert_eq!(eur_funds(&pool, tenant_id, player_id).await, (7_500, 0));
    assert_integrity(&pool).await;
}
