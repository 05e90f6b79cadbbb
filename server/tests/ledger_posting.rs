//! Posting under concurrency and abuse: overdraw races, opposite-transfer storms, idempotent
//! replays and conflicts, bad input, posting inside a caller's transaction, the hot house
//! account, and the read side (balances, history, journals).

mod ledger_support;

use std::collections::BTreeSet;

use app::domain::ids::PlayerId;
use app::domain::money::{Currency, Money};
use futures::future::join_all;
use kasa_server::ledger::{
    self, AccountId, AccountKind, AccountRef, HistoryQuery, JournalKind, LedgerError, NewJournal,
};
use ledger_support::*;
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use uuid::Uuid;

async fn account_id(pool: &PgPool, player_id: PlayerId, kind: &str, currency: &str) -> AccountId {
    sqlx::query_scalar(
        "SELECT id FROM ledger_accounts WHERE player_id = $1 AND kind = $2 AND currency = $3",
    )
    .bind(player_id)
    .bind(kind)
    .bind(currency)
    .fetch_one(pool)
    .await
    .map(AccountId)
    .expect("the account exists")
}

// Proves a balance cannot be overdrawn by a race: 50 concurrent 10.00 bets on 100.00, five
// rounds, each ending with exactly 10 successes, 40 insufficient_funds, 0.00 left, and the ten
// recorded balances-after being exactly 90.00 down to 0.00 (the debits were serialised).
#[sqlx::test(migrations = "../migrations")]
async fn overdraw_race_never_goes_negative(_: PgPoolOptions, connect_options: PgConnectOptions) {
    let pool = wide_pool(connect_options, 25).await;
    let tenant_id = tenant(&pool, "race").await;
    for round in 0..5 {
        let player_id = player(&pool, tenant_id).await;
        deposit(&pool, tenant_id, player_id, eur("100.00")).await;
        let bets = (0..50).map(|attempt| {
            let journal = one_transfer(
                &format!("bet-{round}-{attempt}"),
                JournalKind::BET,
                AccountRef::PlayerCash(player_id),
                AccountRef::House,
                eur("10.00"),
            );
            let pool = pool.clone();
            async move { ledger::post_journal(&pool, tenant_id, &journal).await }
        });
        let results = join_all(bets).await;
        let succeeded = results.iter().filter(|result| result.is_ok()).count();
        let refused = results
            .iter()
            .filter(|result| code_of(result) == "insufficient_funds")
            .count();
        assert_eq!(
            (succeeded, refused),
            (10, 40),
            "round {round}: {:?}",
            results.iter().map(code_of).collect::<Vec<_>>()
        );
        let cash_account = account_id(&pool, player_id, "player_cash", "EUR").await;
        for result in &results {
            if let Err(LedgerError::InsufficientFunds { account_id }) = result {
                assert_eq!(
                    *account_id,
                    Some(cash_account),
                    "the error names the overdrawn account"
                );
            }
        }
        assert_eq!(eur_funds(&pool, tenant_id, player_id).await, (0, 0));
        let balances_after: BTreeSet<i64> = sqlx::query_scalar(
            "SELECT debit_balance_after_minor FROM ledger_transfers WHERE debit_account_id = $1",
        )
        .bind(cash_account)
        .fetch_all(&pool)
        .await
        .unwrap()
        .into_iter()
        .collect();
        assert_eq!(
            balances_after,
            (0..10).map(|step| step * 1000).collect::<BTreeSet<i64>>()
        );
    }
    assert_ledger_integrity(&pool).await;
    pool.close().await;
}

// Proves opposite transfers between two accounts never surface a deadlock: 500 A->B and 500 B->A
// posts of 1.00 fired together all succeed, and both balances end exactly where they started.
#[sqlx::test(migrations = "../migrations")]
async fn opposite_transfer_storm_has_no_deadlocks(
    _: PgPoolOptions,
    connect_options: PgConnectOptions,
) {
    let pool = wide_pool(connect_options, 25).await;
    let tenant_id = tenant(&pool, "storm").await;
    let alice = player(&pool, tenant_id).await;
    let bob = player(&pool, tenant_id).await;
    deposit(&pool, tenant_id, alice, eur("1000.00")).await;
    deposit(&pool, tenant_id, bob, eur("1000.00")).await;
    let transfers = (0..1000).map(|index| {
        let (from, to) = if index % 2 == 0 {
            (alice, bob)
        } else {
            (bob, alice)
        };
        // Two legs per journal, in both orders, so that a lock-order bug would deadlock at once.
        let journal = NewJournal::new(
            key(&format!("storm-{index}")),
            JournalKind::parse("transfer").unwrap(),
            vec![
                transfer(
                    AccountRef::PlayerCash(from),
                    AccountRef::PlayerCash(to),
                    eur("1.50"),
                ),
                transfer(
                    AccountRef::PlayerCash(to),
                    AccountRef::PlayerCash(from),
                    eur("0.50"),
                ),
            ],
        );
        let pool = pool.clone();
        async move { ledger::post_journal(&pool, tenant_id, &journal).await }
    });
    let results = join_all(transfers).await;
    let failures: Vec<&str> = results
        .iter()
        .filter(|result| result.is_err())
        .map(code_of)
        .collect();
    assert!(
        failures.is_empty(),
        "failures reached the callers: {failures:?}"
    );
    assert_eq!(eur_funds(&pool, tenant_id, alice).await, (100_000, 0));
    assert_eq!(eur_funds(&pool, tenant_id, bob).await, (100_000, 0));
    assert_eq!(row_counts(&pool).await.journals, 1002);
    assert_ledger_integrity(&pool).await;
    pool.close().await;
}

// Proves one key means one journal: 20 concurrent identical posts yield a single journal, the
// same id and time for every caller, one original and 19 replays, and the money moved once.
#[sqlx::test(migrations = "../migrations")]
async fn concurrent_posts_with_one_key_make_one_journal(
    _: PgPoolOptions,
    connect_options: PgConnectOptions,
) {
    let pool = wide_pool(connect_options, 20).await;
    let tenant_id = tenant(&pool, "idem").await;
    let player_id = player(&pool, tenant_id).await;
    let mut journal = one_transfer(
        "withdrawal-request-1",
        JournalKind::WITHDRAWAL_REQUEST,
        AccountRef::PlayerCash(player_id),
        AccountRef::PlayerWithdrawalHold(player_id),
        eur("30.00"),
    );
    journal.reference = Some("withdrawal:1".into());
    journal
        .metadata
        .insert("actor".into(), serde_json::json!("player"));
    deposit(&pool, tenant_id, player_id, eur("50.00")).await;
    let before = row_counts(&pool).await;

    let posts = (0..20).map(|_| {
        let (pool, journal) = (pool.clone(), journal.clone());
        async move { ledger::post_journal(&pool, tenant_id, &journal).await }
    });
    let results: Vec<_> = join_all(posts)
        .await
        .into_iter()
        .map(|result| result.expect("every caller succeeds"))
        .collect();
    let ids: BTreeSet<_> = results
        .iter()
        .map(|posted| (posted.journal_id, posted.posted_at))
        .collect();
    assert_eq!(ids.len(), 1, "every caller sees the same journal");
    assert_eq!(results.iter().filter(|posted| !posted.replayed).count(), 1);
    let after = row_counts(&pool).await;
    assert_eq!(
        (after.journals, after.transfers),
        (before.journals + 1, before.transfers + 1)
    );
    assert_eq!(eur_funds(&pool, tenant_id, player_id).await, (2_000, 3_000));

    // A later replay returns the same journal and moves nothing.
    let replay = ledger::post_journal(&pool, tenant_id, &journal)
        .await
        .unwrap();
    assert_eq!(
        (replay.journal_id, replay.replayed),
        (results[0].journal_id, true)
    );
    assert_eq!(row_counts(&pool).await, after);
    assert_eq!(eur_funds(&pool, tenant_id, player_id).await, (2_000, 3_000));
    let by_reference = ledger::journals_by_reference(&pool, tenant_id, "withdrawal:1")
        .await
        .unwrap();
    assert_eq!(
        by_reference.len(),
        1,
        "the withdrawal has exactly one journal"
    );
    assert_eq!(by_reference[0].journal_id, results[0].journal_id);
    assert_ledger_integrity(&pool).await;
    pool.close().await;
}

// Proves a key reused for different content is refused with idempotency_key_reused and writes
// nothing, whether the amount, the accounts, the kind or the metadata differ; and that keys are
// scoped per tenant.
#[sqlx::test(migrations = "../migrations")]
async fn reused_key_with_different_content_is_refused(pool: PgPool) {
    let tenant_id = tenant(&pool, "idem").await;
    let other_tenant = tenant(&pool, "other").await;
    let player_id = player(&pool, tenant_id).await;
    let other_player = player(&pool, other_tenant).await;
    deposit(&pool, tenant_id, player_id, eur("50.00")).await;
    let original = one_transfer(
        "k",
        JournalKind::BET,
        AccountRef::PlayerCash(player_id),
        AccountRef::House,
        eur("5.00"),
    );
    let first = ledger::post_journal(&pool, tenant_id, &original)
        .await
        .unwrap();
    let before = row_counts(&pool).await;

    let mut variants = Vec::new();
    let mut amount = original.clone();
    amount.transfers[0].amount = eur("5.01");
    variants.push(amount);
    let mut account = original.clone();
    account.transfers[0].credit = AccountRef::Fees;
    variants.push(account);
    let mut kind = original.clone();
    kind.kind = JournalKind::FEE;
    variants.push(kind);
    let mut metadata = original.clone();
    metadata
        .metadata
        .insert("round".into(), serde_json::json!(7));
    variants.push(metadata);
    let mut reference = original.clone();
    reference.reference = Some("game-round:7".into());
    variants.push(reference);
    for variant in &variants {
        let result = ledger::post_journal(&pool, tenant_id, variant).await;
        assert!(
            matches!(result, Err(LedgerError::IdempotencyKeyReused)),
            "{variant:?}: {result:?}"
        );
    }
    assert_eq!(row_counts(&pool).await, before);
    assert_eq!(eur_funds(&pool, tenant_id, player_id).await, (4_500, 0));
    let replay = ledger::post_journal(&pool, tenant_id, &original)
        .await
        .unwrap();
    assert_eq!(
        (replay.journal_id, replay.replayed),
        (first.journal_id, true)
    );

    // The same key in another tenant is another key.
    deposit(&pool, other_tenant, other_player, eur("10.00")).await;
    let elsewhere = one_transfer(
        "k",
        JournalKind::BET,
        AccountRef::PlayerCash(other_player),
        AccountRef::House,
        eur("5.00"),
    );
    let posted = ledger::post_journal(&pool, other_tenant, &elsewhere)
        .await
        .unwrap();
    assert!(!posted.replayed);
    assert_ne!(posted.journal_id, first.journal_id);
    assert_ledger_integrity(&pool).await;
}

// Proves bad input is refused with a typed error and writes nothing: zero, negative, too many
// decimals and over-maximum amounts (refused while building Money, and by the database itself),
// mixed currencies, unknown accounts, another tenant's accounts, one account on both sides, and
// an empty journal; row counts and balances are compared before and after.
#[sqlx::test(migrations = "../migrations")]
async fn bad_input_is_refused_and_writes_nothing(pool: PgPool) {
    let tenant_id = tenant(&pool, "main").await;
    let other_tenant = tenant(&pool, "other").await;
    let player_id = player(&pool, tenant_id).await;
    let stranger = player(&pool, other_tenant).await;
    deposit(&pool, tenant_id, player_id, eur("100.00")).await;
    deposit(&pool, other_tenant, stranger, eur("100.00")).await;
    let usd_journal = one_transfer(
        "usd-deposit",
        JournalKind::DEPOSIT_CAPTURE,
        AccountRef::House,
        AccountRef::PlayerCash(player_id),
        Money::parse("20.00", Currency::Usd).unwrap(),
    );
    ledger::post_journal(&pool, tenant_id, &usd_journal)
        .await
        .unwrap();
    let eur_cash = account_id(&pool, player_id, "player_cash", "EUR").await;
    let usd_cash = account_id(&pool, player_id, "player_cash", "USD").await;
    let stranger_cash = account_id(&pool, stranger, "player_cash", "EUR").await;
    let before = row_counts(&pool).await;

    // Amounts: the API cannot even express them, and each is refused as invalid_amount.
    for (text, currency) in [
        ("0", Currency::Eur),
        ("0.00", Currency::Eur),
        ("-5.00", Currency::Eur),
        ("1.001", Currency::Eur),
        ("10.5", Currency::Jpy),
        ("1000000000.01", Currency::Eur),
        ("1e3", Currency::Eur),
    ] {
        let error = LedgerError::from(Money::parse(text, currency).unwrap_err());
        assert_eq!(error.code(), "invalid_amount", "{text} {currency}");
    }
    // The database refuses non-positive amounts too, should anything bypass the type.
    for amount_minor in [0_i64, -500] {
        let error = sqlx::query(
            "SELECT * FROM ledger_post_journal($1, 'raw', decode(repeat('00', 32), 'hex'), 'bet', NULL, '{}',
                 ARRAY[NULL, NULL]::uuid[], ARRAY['player_cash', 'house'], ARRAY[$2, NULL]::uuid[],
                 ARRAY[NULL, NULL]::text[], ARRAY['EUR', 'EUR'], ARRAY[1], ARRAY[2], ARRAY[$3]::bigint[])",
        )
        .bind(tenant_id)
        .bind(player_id)
        .bind(amount_minor)
        .execute(&pool)
        .await
        .unwrap_err();
        assert_eq!(
            error.as_database_error().and_then(|e| e.code()).as_deref(),
            Some("KL006")
        );
    }

    let house = || AccountRef::House;
    let cases: Vec<(&str, NewJournal)> = vec![
        (
            "currency_mismatch",
            one_transfer(
                "c1",
                JournalKind::BET,
                AccountRef::Id(usd_cash),
                house(),
                eur("1.00"),
            ),
        ),
        (
            "currency_mismatch",
            one_transfer(
                "c2",
                JournalKind::parse("transfer").unwrap(),
                AccountRef::Id(eur_cash),
                AccountRef::Id(usd_cash),
                eur("1.00"),
            ),
        ),
        (
            "unknown_account",
            one_transfer(
                "u1",
                JournalKind::BET,
                AccountRef::Id(AccountId(Uuid::new_v4())),
                house(),
                eur("1.00"),
            ),
        ),
        (
            "unknown_account",
            one_transfer(
                "u2",
                JournalKind::WIN,
                house(),
                AccountRef::PlayerCash(PlayerId(Uuid::new_v4())),
                eur("1.00"),
            ),
        ),
        (
            "unknown_account",
            one_transfer(
                "t1",
                JournalKind::BET,
                AccountRef::Id(stranger_cash),
                house(),
                eur("1.00"),
            ),
        ),
        (
            "unknown_account",
            one_transfer(
                "t2",
                JournalKind::WIN,
                house(),
                AccountRef::Id(stranger_cash),
                eur("1.00"),
            ),
        ),
        (
            "unknown_account",
            one_transfer(
                "t3",
                JournalKind::BET,
                AccountRef::PlayerCash(stranger),
                house(),
                eur("1.00"),
            ),
        ),
        (
            "unknown_account",
            one_transfer(
                "t4",
                JournalKind::WIN,
                house(),
                AccountRef::PlayerWithdrawalHold(stranger),
                eur("1.00"),
            ),
        ),
        (
            "invalid_journal",
            one_transfer(
                "s1",
                JournalKind::BET,
                AccountRef::PlayerCash(player_id),
                AccountRef::PlayerCash(player_id),
                eur("1.00"),
            ),
        ),
        (
            "invalid_journal",
            one_transfer(
                "s2",
                JournalKind::BET,
                AccountRef::Id(eur_cash),
                AccountRef::PlayerCash(player_id),
                eur("1.00"),
            ),
        ),
        (
            "invalid_journal",
            NewJournal::new(key("e1"), JournalKind::BET, Vec::new()),
        ),
        (
            "insufficient_funds",
            one_transfer(
                "i1",
                JournalKind::BET,
                AccountRef::PlayerCash(player_id),
                house(),
                eur("100.01"),
            ),
        ),
    ];
    for (expected, journal) in &cases {
        let result = ledger::post_journal(&pool, tenant_id, journal).await;
        assert_eq!(code_of(&result), *expected, "{journal:?}");
        assert_eq!(
            row_counts(&pool).await,
            before,
            "{journal:?} wrote something"
        );
    }
    // A valid leg first does not sneak through when a later one fails.
    let half_valid = NewJournal::new(
        key("h1"),
        JournalKind::BET,
        vec![
            transfer(AccountRef::PlayerCash(player_id), house(), eur("10.00")),
            transfer(house(), AccountRef::Id(stranger_cash), eur("10.00")),
        ],
    );
    assert_eq!(
        code_of(&ledger::post_journal(&pool, tenant_id, &half_valid).await),
        "unknown_account"
    );
    assert_eq!(row_counts(&pool).await, before);
    assert_eq!(eur_funds(&pool, tenant_id, player_id).await, (10_000, 0));
    assert_eq!(eur_funds(&pool, other_tenant, stranger).await, (10_000, 0));
    // Keys and kinds are validated too.
    assert_eq!(
        ledger::IdempotencyKey::parse("").unwrap_err().code(),
        "invalid_journal"
    );
    assert_eq!(
        ledger::IdempotencyKey::parse("has space")
            .unwrap_err()
            .code(),
        "invalid_journal"
    );
    assert_eq!(
        JournalKind::parse("Bet!").unwrap_err().code(),
        "invalid_journal"
    );
    assert_ledger_integrity(&pool).await;
}

// Proves the in-transaction variant commits and rolls back with the caller's transaction, and
// that a refused post leaves the caller's transaction usable with its own writes intact.
#[sqlx::test(migrations = "../migrations")]
async fn posting_inside_a_callers_transaction(pool: PgPool) {
    let tenant_id = tenant(&pool, "tx").await;
    let player_id = player(&pool, tenant_id).await;
    deposit(&pool, tenant_id, player_id, eur("100.00")).await;
    let request = |key_text: &str, amount| {
        one_transfer(
            key_text,
            JournalKind::WITHDRAWAL_REQUEST,
            AccountRef::PlayerCash(player_id),
            AccountRef::PlayerWithdrawalHold(player_id),
            amount,
        )
    };
    let before = row_counts(&pool).await;

    let mut transaction = pool.begin().await.unwrap();
    ledger::post_journal_in_transaction(&mut transaction, tenant_id, &request("w1", eur("40.00")))
        .await
        .unwrap();
    transaction.rollback().await.unwrap();
    assert_eq!(row_counts(&pool).await, before);
    assert_eq!(eur_funds(&pool, tenant_id, player_id).await, (10_000, 0));

    let mut transaction = pool.begin().await.unwrap();
    sqlx::query("CREATE TEMPORARY TABLE feature_state (state text) ON COMMIT DROP")
        .execute(&mut *transaction)
        .await
        .unwrap();
    sqlx::query("INSERT INTO feature_state VALUES ('requested')")
        .execute(&mut *transaction)
        .await
        .unwrap();
    let refused = ledger::post_journal_in_transaction(
        &mut transaction,
        tenant_id,
        &request("w2", eur("500.00")),
    )
    .await;
    assert_eq!(code_of(&refused), "insufficient_funds");
    let posted = ledger::post_journal_in_transaction(
        &mut transaction,
        tenant_id,
        &request("w3", eur("40.00")),
    )
    .await
    .unwrap();
    let state: String = sqlx::query_scalar("SELECT state FROM feature_state")
        .fetch_one(&mut *transaction)
        .await
        .unwrap();
    assert_eq!(
        state, "requested",
        "the caller's own write survived the refused post"
    );
    transaction.commit().await.unwrap();

    assert_eq!(eur_funds(&pool, tenant_id, player_id).await, (6_000, 4_000));
    let after = row_counts(&pool).await;
    assert_eq!(
        (after.journals, after.transfers),
        (before.journals + 1, before.transfers + 1)
    );
    let replay = ledger::post_journal(&pool, tenant_id, &request("w3", eur("40.00")))
        .await
        .unwrap();
    assert_eq!(
        (replay.journal_id, replay.replayed),
        (posted.journal_id, true)
    );
    assert_ledger_integrity(&pool).await;
}

// Proves the hot house account is neither locked nor updated by posting: 200 concurrent bets and
// wins leave its row untouched (same version), its balance is still exact through the deltas,
// and a fold moves them into the snapshot with every invariant holding before and after.
#[sqlx::test(migrations = "../migrations")]
async fn house_account_is_not_a_hot_row(_: PgPoolOptions, connect_options: PgConnectOptions) {
    let pool = wide_pool(connect_options, 20).await;
    let tenant_id = tenant(&pool, "hot").await;
    let mut players = Vec::new();
    for _ in 0..10 {
        let player_id = player(&pool, tenant_id).await;
        deposit(&pool, tenant_id, player_id, eur("100.00")).await;
        players.push(player_id);
    }
    // Opens the house account, and folds so that it starts from a clean snapshot.
    ledger::post_journal(
        &pool,
        tenant_id,
        &one_transfer(
            "open",
            JournalKind::BET,
            AccountRef::PlayerCash(players[0]),
            AccountRef::House,
            eur("1.00"),
        ),
    )
    .await
    .unwrap();
    ledger::fold_balance_deltas(&pool).await.unwrap();
    let house_row = || async {
        sqlx::query_as::<_, (Uuid, i64, i64, i64)>(
            "SELECT id, debits_posted_minor, credits_posted_minor, version FROM ledger_accounts WHERE kind = 'house'",
        )
        .fetch_one(&pool)
        .await
        .unwrap()
    };
    let (house_id, debits, credits, version) = house_row().await;
    assert_eq!((debits, credits, version), (0, 100, 1));

    let posts = (0..200).map(|index| {
        let player_id = players[index % players.len()];
        let journal = if index % 2 == 0 {
            one_transfer(
                &format!("bet-{index}"),
                JournalKind::BET,
                AccountRef::PlayerCash(player_id),
                AccountRef::House,
                eur("3.00"),
            )
        } else {
            one_transfer(
                &format!("win-{index}"),
                JournalKind::WIN,
                AccountRef::House,
                AccountRef::PlayerCash(player_id),
                eur("1.00"),
            )
        };
        let pool = pool.clone();
        async move { ledger::post_journal(&pool, tenant_id, &journal).await }
    });
    assert!(join_all(posts).await.iter().all(Result::is_ok));
    assert_eq!(
        house_row().await,
        (house_id, 0, 100, 1),
        "posting did not touch the house row"
    );
    let house = ledger::account_balance(&pool, tenant_id, AccountId(house_id))
        .await
        .unwrap();
    assert_eq!(house.balance.minor_units(), 100 + 100 * 300 - 100 * 100);
    assert_eq!(row_counts(&pool).await.deltas, 200);
    assert_ledger_integrity(&pool).await;

    let summary = ledger::fold_balance_deltas(&pool).await.unwrap();
    assert_eq!(summary.deltas_folded, 200);
    assert_eq!(house_row().await, (house_id, 100 * 100, 100 + 100 * 300, 2));
    assert_eq!(row_counts(&pool).await.deltas, 0);
    assert_eq!(
        ledger::account_balance(&pool, tenant_id, AccountId(house_id))
            .await
            .unwrap(),
        house
    );
    let psp = ledger::operator_balances(&pool, tenant_id).await.unwrap();
    let psp = psp
        .iter()
        .find(|balance| balance.kind == AccountKind::PspClearing)
        .unwrap();
    assert_eq!(
        (psp.balance.minor_units(), psp.provider.as_deref()),
        (-100_000, Some("mock"))
    );
    assert_ledger_integrity(&pool).await;
    pool.close().await;
}

// Proves the read side: available and held funds, history newest first with signed amounts and
// balances after, filters by kind and date, keyset paging without gaps or repeats, one journal
// with its transfers, and that another tenant sees none of it.
#[sqlx::test(migrations = "../migrations")]
async fn balances_history_and_journals_read_back(pool: PgPool) {
    let tenant_id = tenant(&pool, "read").await;
    let other_tenant = tenant(&pool, "other").await;
    let player_id = player(&pool, tenant_id).await;
    deposit(&pool, tenant_id, player_id, eur("100.00")).await;
    let cash = AccountRef::PlayerCash(player_id);
    let hold = AccountRef::PlayerWithdrawalHold(player_id);
    let steps = [
        one_transfer(
            "bet-1",
            JournalKind::BET,
            cash.clone(),
            AccountRef::House,
            eur("10.00"),
        ),
        one_transfer(
            "win-1",
            JournalKind::WIN,
            AccountRef::House,
            cash.clone(),
            eur("25.50"),
        ),
        one_transfer(
            "withdraw-1",
            JournalKind::WITHDRAWAL_REQUEST,
            cash.clone(),
            hold.clone(),
            eur("40.00"),
        ),
    ];
    let mut posted = Vec::new();
    for step in &steps {
        posted.push(ledger::post_journal(&pool, tenant_id, step).await.unwrap());
    }
    let balances = ledger::player_balances(&pool, tenant_id, player_id)
        .await
        .unwrap();
    assert_eq!(balances.len(), 1);
    assert_eq!(
        (
            balances[0].available.to_string(),
            balances[0].held.to_string()
        ),
        ("75.50 EUR".into(), "40.00 EUR".into())
    );
    assert!(
        ledger::player_balances(&pool, other_tenant, player_id)
            .await
            .unwrap()
            .is_empty()
    );

    let everything = ledger::player_history(&pool, tenant_id, player_id, &HistoryQuery::default())
        .await
        .unwrap();
    let rows: Vec<(String, AccountKind, String, String)> = everything
        .entries
        .iter()
        .map(|entry| {
            (
                entry.kind.to_string(),
                entry.account_kind,
                entry.amount.format_amount(),
                entry.balance_after.format_amount(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            (
                "withdrawal_request".into(),
                AccountKind::PlayerWithdrawalHold,
                "40.00".into(),
                "40.00".into()
            ),
            (
                "withdrawal_request".into(),
                AccountKind::PlayerCash,
                "-40.00".into(),
                "75.50".into()
            ),
            (
                "win".into(),
                AccountKind::PlayerCash,
                "25.50".into(),
                "115.50".into()
            ),
            (
                "bet".into(),
                AccountKind::PlayerCash,
                "-10.00".into(),
                "90.00".into()
            ),
            (
                "deposit_capture".into(),
                AccountKind::PlayerCash,
                "100.00".into(),
                "100.00".into()
            ),
        ]
    );
    assert_eq!(everything.next, None);

    // Paging two at a time walks the same entries in the same order.
    let mut paged = Vec::new();
    let mut query = HistoryQuery {
        limit: 2,
        ..HistoryQuery::default()
    };
    loop {
        let page = ledger::player_history(&pool, tenant_id, player_id, &query)
            .await
            .unwrap();
        paged.extend(page.entries.iter().map(|entry| entry.cursor));
        match page.next {
            Some(cursor) => query.before = Some(cursor),
            None => break,
        }
    }
    assert_eq!(
        paged,
        everything
            .entries
            .iter()
            .map(|entry| entry.cursor)
            .collect::<Vec<_>>()
    );

    let bets_and_wins = HistoryQuery {
        kinds: vec![JournalKind::BET, JournalKind::WIN],
        ..HistoryQuery::default()
    };
    let filtered = ledger::player_history(&pool, tenant_id, player_id, &bets_and_wins)
        .await
        .unwrap();
    assert_eq!(
        filtered
            .entries
            .iter()
            .map(|entry| entry.kind.to_string())
            .collect::<Vec<_>>(),
        ["win", "bet"]
    );
    let held_only = HistoryQuery {
        account_kind: Some(AccountKind::PlayerWithdrawalHold),
        ..HistoryQuery::default()
    };
    assert_eq!(
        ledger::player_history(&pool, tenant_id, player_id, &held_only)
            .await
            .unwrap()
            .entries
            .len(),
        1
    );
    let first_time = everything.entries.last().unwrap().posted_at;
    let before_all = HistoryQuery {
        until: Some(first_time),
        ..HistoryQuery::default()
    };
    assert!(
        ledger::player_history(&pool, tenant_id, player_id, &before_all)
            .await
            .unwrap()
            .entries
            .is_empty()
    );
    let from_start = HistoryQuery {
        from: Some(first_time),
        ..HistoryQuery::default()
    };
    assert_eq!(
        ledger::player_history(&pool, tenant_id, player_id, &from_start)
            .await
            .unwrap()
            .entries
            .len(),
        5
    );
    let in_usd = HistoryQuery {
        currency: Some(Currency::Usd),
        ..HistoryQuery::default()
    };
    assert!(
        ledger::player_history(&pool, tenant_id, player_id, &in_usd)
            .await
            .unwrap()
            .entries
            .is_empty()
    );
    assert!(
        ledger::player_history(&pool, other_tenant, player_id, &HistoryQuery::default())
            .await
            .unwrap()
            .entries
            .is_empty()
    );

    let journal = ledger::journal(&pool, tenant_id, posted[2].journal_id)
        .await
        .unwrap()
        .expect("journal found");
    assert_eq!(
        (journal.kind.as_str(), journal.idempotency_key.as_str()),
        ("withdrawal_request", "withdraw-1")
    );
    assert_eq!(journal.transfers.len(), 1);
    let leg = &journal.transfers[0];
    assert_eq!(
        (leg.debit_kind, leg.credit_kind, leg.amount),
        (
            AccountKind::PlayerCash,
            AccountKind::PlayerWithdrawalHold,
            eur("40.00")
        )
    );
    assert_eq!(
        leg.debit_balance_after.map(|balance| balance.minor_units()),
        Some(7_550)
    );
    assert_eq!(
        ledger::journal(&pool, other_tenant, posted[2].journal_id)
            .await
            .unwrap(),
        None
    );
    let cash_account = account_id(&pool, player_id, "player_cash", "EUR").await;
    assert!(matches!(
        ledger::account_balance(&pool, other_tenant, cash_account).await,
        Err(LedgerError::UnknownAccount)
    ));
    assert_ledger_integrity(&pool).await;
}

// Proves accounts are created exactly once under racing first use: 30 concurrent first deposits
// for one player (and the PSP account) leave one cash account and one clearing account.
#[sqlx::test(migrations = "../migrations")]
async fn accounts_are_created_once_under_races(
    _: PgPoolOptions,
    connect_options: PgConnectOptions,
) {
    let pool = wide_pool(connect_options, 20).await;
    let tenant_id = tenant(&pool, "create").await;
    let player_id = player(&pool, tenant_id).await;
    let deposits = (0..30).map(|_| {
        let pool = pool.clone();
        async move { deposit(&pool, tenant_id, player_id, eur("1.00")).await }
    });
    join_all(deposits).await;
    let kinds: Vec<(String, i64)> =
        sqlx::query_as("SELECT kind, count(*) FROM ledger_accounts GROUP BY kind ORDER BY kind")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(
        kinds,
        [
            ("player_cash".to_owned(), 1),
            ("psp_clearing".to_owned(), 1)
        ]
    );
    assert_eq!(eur_funds(&pool, tenant_id, player_id).await, (3_000, 0));
    assert_ledger_integrity(&pool).await;
    pool.close().await;
}
