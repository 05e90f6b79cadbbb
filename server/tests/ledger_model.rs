//! Property test: random sequences of money movements (deposits, bets, wins, fees, transfers,
//! withdrawal requests, rejections and payouts, in two currencies, with replays, key reuse and
//! folds) posted to the ledger and applied to a simple in-memory model must agree on every
//! outcome and every balance, and the ledger's own integrity checks must pass after every step.

mod ledger_support;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use app::domain::ids::{PlayerId, TenantId};
use app::domain::money::{Currency, Money};
use kasa_server::ledger::{
    self, AccountKind, AccountRef, JournalId, JournalKind, NewJournal, ProviderName,
};
use ledger_support::*;
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestCaseError, TestRunner};
use sqlx::PgPool;

const PLAYERS: usize = 3;
const CASES: u32 = 24;
const OPERATIONS_PER_CASE_MAX: usize = 24;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Account {
    Cash(usize),
    Hold(usize),
    Psp,
    House,
    Fees,
}

impl Account {
    fn may_go_negative(self) -> bool {
        !matches!(self, Account::Cash(_) | Account::Hold(_))
    }
}

#[derive(Debug, Clone)]
enum Operation {
    /// One journal: its kind and its legs (debit, credit, amount in minor units), all in `currency`.
    Post {
        kind: &'static str,
        currency: Currency,
        legs: Vec<(Account, Account, i64)>,
    },
    /// Posts the last accepted journal again: a replay that must move nothing.
    ReplayLast,
    /// Posts the last accepted journal's key with a different amount: refused, nothing moves.
    ReuseLastKey,
    Fold,
}

fn operation() -> impl Strategy<Value = Operation> {
    type Legs = fn(usize, usize, i64, i64) -> Vec<(Account, Account, i64)>;
    let post = |kind: &'static str, legs: Legs| {
        let currency = prop_oneof![Just(Currency::Eur), Just(Currency::Jpy)];
        (0..PLAYERS, 0..PLAYERS, 1..=5_000_i64, 1..=500_i64, currency)
            .prop_map(
                move |(first, second, amount, fee, currency)| Operation::Post {
                    kind,
                    currency,
                    legs: legs(first, second, amount, fee),
                },
            )
            .boxed()
    };
    prop_oneof![
        4 => post("deposit_capture", |player, _, amount, _| vec![(Account::Psp, Account::Cash(player), amount)]),
        3 => post("bet", |player, _, amount, _| vec![(Account::Cash(player), Account::House, amount)]),
        2 => post("win", |player, _, amount, _| vec![(Account::House, Account::Cash(player), amount)]),
        2 => post("bet_with_fee", |player, _, amount, fee| vec![
            (Account::Cash(player), Account::House, amount),
            (Account::Cash(player), Account::Fees, fee),
        ]),
        2 => post("transfer", |from, to, amount, _| vec![(Account::Cash(from), Account::Cash(to), amount)]),
        2 => post("withdrawal_request", |player, _, amount, _| vec![(Account::Cash(player), Account::Hold(player), amount)]),
        1 => post("withdrawal_reject", |player, _, amount, _| vec![(Account::Hold(player), Account::Cash(player), amount)]),
        1 => post("withdrawal_payout", |player, _, amount, _| vec![(Account::Hold(player), Account::Psp, amount)]),
        1 => Just(Operation::ReplayLast).boxed(),
        1 => Just(Operation::ReuseLastKey).boxed(),
        1 => Just(Operation::Fold).boxed(),
    ]
}

struct Case {
    tenant_id: TenantId,
    players: Vec<PlayerId>,
    model: BTreeMap<(Account, Currency), i64>,
    last_accepted: Option<(NewJournal, JournalId)>,
}

impl Case {
    fn reference(&self, account: Account) -> AccountRef {
        match account {
            Account::Cash(player) => AccountRef::PlayerCash(self.players[player]),
            Account::Hold(player) => AccountRef::PlayerWithdrawalHold(self.players[player]),
            Account::Psp => AccountRef::PspClearing(ProviderName::parse("mock").unwrap()),
            Account::House => AccountRef::House,
            Account::Fees => AccountRef::Fees,
        }
    }

    /// The model's verdict: the balances after the journal, or the error code it must fail with.
    fn expect(
        &self,
        currency: Currency,
        legs: &[(Account, Account, i64)],
    ) -> Result<BTreeMap<(Account, Currency), i64>, &'static str> {
        if legs.iter().any(|(debit, credit, _)| debit == credit) {
            return Err("invalid_journal");
        }
        let mut model = self.model.clone();
        for &(debit, credit, amount) in legs {
            let debit_balance = model.entry((debit, currency)).or_insert(0);
            *debit_balance -= amount;
            if *debit_balance < 0 && !debit.may_go_negative() {
                return Err("insufficient_funds");
            }
            *model.entry((credit, currency)).or_insert(0) += amount;
        }
        Ok(model)
    }

    async fn verify(&self, pool: &PgPool) -> Result<(), TestCaseError> {
        let model = |account, currency| self.model.get(&(account, currency)).copied().unwrap_or(0);
        for (index, player_id) in self.players.iter().enumerate() {
            let balances = ledger::player_balances(pool, self.tenant_id, *player_id)
                .await
                .unwrap();
            for currency in [Currency::Eur, Currency::Jpy] {
                let found = balances.iter().find(|balance| balance.currency == currency);
                let actual = found.map_or((0, 0), |balance| {
                    (balance.available.minor_units(), balance.held.minor_units())
                });
                prop_assert_eq!(
                    actual,
                    (
                        model(Account::Cash(index), currency),
                        model(Account::Hold(index), currency)
                    )
                );
            }
        }
        let operators = ledger::operator_balances(pool, self.tenant_id)
            .await
            .unwrap();
        for (account, kind) in [
            (Account::Psp, AccountKind::PspClearing),
            (Account::House, AccountKind::House),
            (Account::Fees, AccountKind::Fees),
        ] {
            for currency in [Currency::Eur, Currency::Jpy] {
                let actual = operators
                    .iter()
                    .find(|balance| balance.kind == kind && balance.currency == currency)
                    .map_or(0, |balance| balance.balance.minor_units());
                prop_assert_eq!(
                    actual,
                    model(account, currency),
                    "{:?} {}",
                    account,
                    currency
                );
            }
        }
        // The ledger's own invariants only: these journals are synthetic (kinds such as
        // `transfer`, withdrawal journals with no withdrawal behind them), which the checks
        // across business objects rightly report.
        let report = ledger::check_integrity(pool, Some(self.tenant_id))
            .await
            .unwrap();
        let ledger_violations: Vec<_> = report
            .violations
            .iter()
            .filter(|violation| !violation.concerns_business_objects())
            .collect();
        prop_assert!(ledger_violations.is_empty(), "{:#?}", ledger_violations);
        Ok(())
    }
}

async fn run_case(
    pool: &PgPool,
    case_number: usize,
    operations: &[Operation],
) -> Result<(), TestCaseError> {
    let tenant_id = tenant(pool, &format!("case-{case_number}")).await;
    let mut players = Vec::new();
    for _ in 0..PLAYERS {
        players.push(player(pool, tenant_id).await);
    }
    let mut case = Case {
        tenant_id,
        players,
        model: BTreeMap::new(),
        last_accepted: None,
    };
    for (step, operation) in operations.iter().enumerate() {
        let counts_before = row_counts(pool).await;
        match operation {
            Operation::Post {
                kind,
                currency,
                legs,
            } => {
                let transfers = legs
                    .iter()
                    .map(|&(debit, credit, amount)| {
                        transfer(
                            case.reference(debit),
                            case.reference(credit),
                            Money::from_minor_units(amount, *currency).unwrap(),
                        )
                    })
                    .collect();
                let journal = NewJournal::new(
                    key(&format!("step-{step}")),
                    JournalKind::parse(*kind).unwrap(),
                    transfers,
                );
                let result = ledger::post_journal(pool, tenant_id, &journal).await;
                match case.expect(*currency, legs) {
                    Ok(model) => {
                        let posted = result.map_err(|error| {
                            TestCaseError::fail(format!("step {step}: {error:?}"))
                        })?;
                        prop_assert!(!posted.replayed);
                        case.model = model;
                        case.last_accepted = Some((journal, posted.journal_id));
                    }
                    Err(code) => {
                        prop_assert_eq!(code_of(&result), code, "step {}", step);
                        prop_assert_eq!(row_counts(pool).await, counts_before);
                    }
                }
            }
            Operation::ReplayLast => {
                if let Some((journal, journal_id)) = &case.last_accepted {
                    let posted = ledger::post_journal(pool, tenant_id, journal)
                        .await
                        .unwrap();
                    prop_assert_eq!((posted.journal_id, posted.replayed), (*journal_id, true));
                    prop_assert_eq!(row_counts(pool).await, counts_before);
                }
            }
            Operation::ReuseLastKey => {
                if let Some((journal, _)) = &case.last_accepted {
                    let mut changed = journal.clone();
                    let amount = changed.transfers[0].amount;
                    changed.transfers[0].amount =
                        Money::from_minor_units(amount.to_minor_units() + 1, amount.currency())
                            .unwrap();
                    let result = ledger::post_journal(pool, tenant_id, &changed).await;
                    prop_assert_eq!(code_of(&result), "idempotency_key_reused");
                    prop_assert_eq!(row_counts(pool).await, counts_before);
                }
            }
            Operation::Fold => {
                ledger::fold_balance_deltas(pool).await.unwrap();
                let deltas: i64 = sqlx::query_scalar(
                    "SELECT count(*) FROM ledger_balance_deltas d JOIN ledger_accounts a ON a.id = d.account_id WHERE a.tenant_id = $1",
                )
                .bind(tenant_id)
                .fetch_one(pool)
                .await
                .unwrap();
                prop_assert_eq!(deltas, 0);
            }
        }
        case.verify(pool).await?;
    }
    Ok(())
}

// Proves the ledger agrees with an in-memory model over random journal sequences: same accepted
// and refused posts (insufficient funds, same account twice, key reuse), same balances for every
// player and operator account in two currencies, replays that move nothing, and a clean
// integrity check after every step. Each case runs in its own tenant; failures shrink.
#[sqlx::test(migrations = "../migrations")]
async fn random_journal_sequences_match_the_model(pool: PgPool) {
    let runtime = tokio::runtime::Handle::current();
    let result = tokio::task::spawn_blocking(move || {
        let config = ProptestConfig {
            cases: CASES,
            failure_persistence: None,
            ..ProptestConfig::default()
        };
        let mut runner = TestRunner::new(config);
        let case_number = AtomicUsize::new(0);
        runner
            .run(
                &proptest::collection::vec(operation(), 1..=OPERATIONS_PER_CASE_MAX),
                |operations| {
                    let number = case_number.fetch_add(1, Ordering::Relaxed);
                    runtime.block_on(run_case(&pool, number, &operations))
                },
            )
            .map_err(|error| error.to_string())
    })
    .await
    .expect("the property test ran");
    if let Err(failure) = result {
        panic!("{failure}");
    }
}
