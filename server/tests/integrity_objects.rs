//! The integrity check across business objects: a demo brand's real deposits (mock PSP, signed
//! webhooks) and withdrawals (requested, paid, rejected through the staff calls) check clean,
//! and each rule names the object it finds broken once that invariant is corrupted on purpose
//! (as the database owner can: rewriting rows, posting journals no feature posts).

mod common;
mod withdrawals_support;

use std::collections::BTreeSet;
use std::process::ExitCode;
use std::time::Duration;

use app::domain::ids::{PlayerId, TenantId};
use app::domain::money::{Currency, Money};
use common::{PLAYER_EMAIL, TestApp, spawn_app};
use kasa_server::ledger::{
    self, AccountRef, IdempotencyKey, IntegrityReport, IntegrityViolation, JournalId, JournalKind,
    NewJournal, NewTransfer, ProviderName,
};
use sqlx::PgPool;
use uuid::Uuid;
use withdrawals_support::*;

/// A brand with real business objects: two captured deposits and one pending, two paid
/// withdrawals, one rejected and one still requested, all of the demo player.
struct World {
    app: TestApp,
    actors: Actors,
    tenant_id: TenantId,
    player_id: PlayerId,
    captured: [Uuid; 2],
    pending_deposit: Uuid,
    paid: [Uuid; 2],
    rejected: Uuid,
    open: Uuid,
}

/// Starts a mock PSP deposit of `amount` EUR; with `pay`, pays it on the hosted page and waits
/// until the signed webhook has captured it.
async fn deposit(app: &TestApp, player: &str, amount: &str, pay: bool) -> Uuid {
    let reply = app
        .call(
            "deposits/start",
            &[
                ("amount", amount),
                ("currency", "EUR"),
                ("provider", "mock"),
                ("idempotency_key", &Uuid::new_v4().to_string()),
            ],
            Some(player),
        )
        .await;
    assert_eq!(reply.status, 200, "deposit start failed: {reply:?}");
    let id: Uuid = reply.json["deposit_id"].as_str().unwrap().parse().unwrap();
    if pay {
        let redirect = reply.json["redirect_url"].as_str().unwrap();
        let response = app
            .http
            .post(format!("{}{redirect}", app.base))
            .form(&[("outcome", "pay"), ("delivery", "normal")])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 303, "the mock page redirects");
        eventually("the deposit to be captured", || async {
            deposit_state(&app.pool, id).await == "captured"
        })
        .await;
    }
    id
}

async fn deposit_state(pool: &PgPool, id: Uuid) -> String {
    sqlx::query_scalar("SELECT state FROM deposits WHERE id = $1")
        .bind(id)
        .fetch_one(pool)
        .await
        .unwrap()
}

/// Requests `amount`, has finance approve it and start its payout, which the mock PSP pays.
async fn paid_withdrawal(app: &TestApp, actors: &Actors, amount: &str) -> Uuid {
    let id = requested(app, &actors.player, amount).await;
    let approved = approve(app, &actors.finance, id).await;
    assert_eq!(approved.status, 200, "{approved:?}");
    let started = start_payout(app, &actors.finance, id).await;
    assert_eq!(started.json["state"], "paid", "{started:?}");
    id
}

async fn world(pool: &PgPool) -> World {
    let app = spawn_app(pool.clone()).await;
    let actors = log_in_all(&app).await;
    let (tenant_id, player_id): (TenantId, PlayerId) =
        sqlx::query_as("SELECT tenant_id, id FROM players WHERE email = $1")
            .bind(PLAYER_EMAIL)
            .fetch_one(pool)
            .await
            .unwrap();
    let captured = [
        deposit(&app, &actors.player, "25.00", true).await,
        deposit(&app, &actors.player, "40.00", true).await,
    ];
    let pending_deposit = deposit(&app, &actors.player, "15.00", false).await;
    fund(&app, &actors.finance, "300.00").await;
    let paid = [
        paid_withdrawal(&app, &actors, "50.00").await,
        paid_withdrawal(&app, &actors, "20.00").await,
    ];
    let rejected = requested(&app, &actors.player, "35.00").await;
    let reply = act(
        &app,
        &actors.finance,
        "reject",
        rejected,
        &format!("reject:{rejected}"),
        &[("reason", "bank details do not match")],
    )
    .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let open = requested(&app, &actors.player, "30.00").await;
    // The mock PSP also delivers its payout webhooks in the background; they change nothing,
    // but let them land before the test starts rewriting rows.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        balances(&app, &actors.player).await,
        ("265.00".into(), "30.00".into()),
        "65 deposited + 300 funded - 70 paid out - 30 held"
    );
    let world = World {
        app,
        actors,
        tenant_id,
        player_id,
        captured,
        pending_deposit,
        paid,
        rejected,
        open,
    };
    let report = check(pool, None).await;
    assert!(
        report.ok,
        "the real flows check clean: {:#?}",
        report.violations
    );
    world
}

async fn check(pool: &PgPool, tenant_id: Option<TenantId>) -> IntegrityReport {
    ledger::check_integrity(pool, tenant_id).await.unwrap()
}

/// The names of the checks that found something (`check` in the JSON report).
fn checks(report: &IntegrityReport) -> BTreeSet<String> {
    report
        .violations
        .iter()
        .map(|violation| {
            serde_json::to_value(violation).unwrap()["check"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

fn names(expected: &[&str]) -> BTreeSet<String> {
    expected.iter().map(|name| (*name).to_owned()).collect()
}

fn eur(amount: &str) -> Money {
    Money::parse(amount, Currency::Eur).unwrap()
}

/// Posts a journal through the real posting function, as a feature with a defect would.
async fn post(
    pool: &PgPool,
    tenant_id: TenantId,
    kind: &str,
    reference: Option<String>,
    transfers: Vec<(AccountRef, AccountRef, Money)>,
) -> Uuid {
    let journal = NewJournal {
        reference,
        ..NewJournal::new(
            IdempotencyKey::parse(format!("forged-{}", Uuid::new_v4())).unwrap(),
            JournalKind::parse(kind).unwrap(),
            transfers
                .into_iter()
                .map(|(debit, credit, amount)| NewTransfer {
                    debit,
                    credit,
                    amount,
                })
                .collect(),
        )
    };
    ledger::post_journal(pool, tenant_id, &journal)
        .await
        .unwrap()
        .journal_id
        .0
}

async fn journal_of(pool: &PgPool, reference: String, kind: &str) -> Uuid {
    sqlx::query_scalar("SELECT id FROM ledger_journals WHERE reference = $1 AND kind = $2")
        .bind(reference)
        .bind(kind)
        .fetch_one(pool)
        .await
        .unwrap()
}

fn mock() -> AccountRef {
    AccountRef::PspClearing(ProviderName::parse("mock").unwrap())
}

// Proves the deposit rule: a captured deposit with a second capture journal, a captured deposit
// rewritten to `failed`, and a deposit whose amount no longer matches its capture are each named
// with the deposit's id and what is wrong, and nothing else is reported.
#[sqlx::test(migrations = "../migrations")]
async fn deposit_capture_rule_names_the_deposit(pool: PgPool) {
    let world = world(&pool).await;
    let [first, second] = world.captured;
    // A second capture of the first deposit (posting does not know deposits: another key).
    post(
        &pool,
        world.tenant_id,
        "deposit_capture",
        Some(format!("deposit:{first}")),
        vec![(
            mock(),
            AccountRef::PlayerCash(world.player_id),
            eur("25.00"),
        )],
    )
    .await;
    // The second deposit said to have failed (its journal link cleared, as the schema demands),
    // and the pending one grown by a cent, which is no violation: nothing was captured.
    sqlx::query("UPDATE deposits SET state = 'failed', capture_journal_id = NULL WHERE id = $1")
        .bind(second)
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("UPDATE deposits SET amount_minor = 1501 WHERE id = $1")
        .bind(world.pending_deposit)
        .execute(&pool)
        .await
        .unwrap();

    let report = check(&pool, Some(world.tenant_id)).await;
    assert_eq!(
        checks(&report),
        names(&["deposit_capture_mismatch"]),
        "{:#?}",
        report.violations
    );
    let mut found = report.violations.clone();
    found.sort_by_key(|violation| format!("{violation:?}"));
    let mut expected = vec![
        IntegrityViolation::DepositCaptureMismatch {
            deposit_id: first,
            tenant_id: world.tenant_id,
            state: "captured".into(),
            capture_journals: 2,
            problem: "captured with 2 capture journals".into(),
        },
        IntegrityViolation::DepositCaptureMismatch {
            deposit_id: second,
            tenant_id: world.tenant_id,
            state: "failed".into(),
            capture_journals: 1,
            problem: "failed, yet has 1 capture journal(s)".into(),
        },
    ];
    expected.sort_by_key(|violation| format!("{violation:?}"));
    assert_eq!(found, expected);

    // The second deposit captured again, as it was, but a cent larger than its capture.
    sqlx::query(
        "UPDATE deposits SET state = 'captured',
                capture_journal_id = (SELECT id FROM ledger_journals WHERE reference = 'deposit:' || $1::text)
          WHERE id = $1",
    )
    .bind(second)
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query("UPDATE deposits SET amount_minor = 4001 WHERE id = $1")
        .bind(second)
        .execute(&pool)
        .await
        .unwrap();
    let report = check(&pool, Some(world.tenant_id)).await;
    assert!(
        report
            .violations
            .contains(&IntegrityViolation::DepositCaptureMismatch {
                deposit_id: second,
                tenant_id: world.tenant_id,
                state: "captured".into(),
                capture_journals: 1,
                problem:
                    "the capture journal moves 4000 EUR (minor units), the deposit is 4001 EUR"
                        .into(),
            }),
        "{:#?}",
        report.violations
    );
}

// Proves the withdrawal rule: a paid withdrawal rewritten to `rejected`, a rejected one
// rewritten to `paid` (each with its journal columns swapped as the schema demands) and a paid
// one whose amount grew are each named per journal kind, with the withdrawal's id.
#[sqlx::test(migrations = "../migrations")]
async fn withdrawal_journal_rule_names_the_withdrawal(pool: PgPool) {
    let world = world(&pool).await;
    let [first_paid, second_paid] = world.paid;
    sqlx::query(
        "UPDATE withdrawals SET state = 'rejected', reject_reason = 'rewritten',
                release_journal_id = payout_journal_id, payout_journal_id = NULL
          WHERE id = $1",
    )
    .bind(first_paid)
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "UPDATE withdrawals SET state = 'paid', payout_journal_id = release_journal_id,
                release_journal_id = NULL
          WHERE id = $1",
    )
    .bind(world.rejected)
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query("UPDATE withdrawals SET amount_minor = amount_minor + 1 WHERE id = $1")
        .bind(second_paid)
        .execute(&pool)
        .await
        .unwrap();

    let report = check(&pool, None).await;
    assert_eq!(
        checks(&report),
        names(&["withdrawal_journal_mismatch"]),
        "{:#?}",
        report.violations
    );
    let mismatch = |id, state: &str, kind: &str, journals, problem: &str| {
        IntegrityViolation::WithdrawalJournalMismatch {
            withdrawal_id: id,
            tenant_id: world.tenant_id,
            state: state.into(),
            kind: kind.into(),
            journals,
            problem: problem.into(),
        }
    };
    let mut expected = vec![
        mismatch(
            first_paid,
            "rejected",
            "withdrawal_payout",
            1,
            "rejected with 1 withdrawal_payout journal(s), expected 0",
        ),
        mismatch(
            first_paid,
            "rejected",
            "withdrawal_reject",
            0,
            "rejected with 0 withdrawal_reject journal(s), expected 1",
        ),
        mismatch(
            world.rejected,
            "paid",
            "withdrawal_payout",
            0,
            "paid with 0 withdrawal_payout journal(s), expected 1",
        ),
        mismatch(
            world.rejected,
            "paid",
            "withdrawal_reject",
            1,
            "paid with 1 withdrawal_reject journal(s), expected 0",
        ),
        mismatch(
            second_paid,
            "paid",
            "withdrawal_payout",
            1,
            "its withdrawal_payout journal moves 2000 EUR (minor units), the withdrawal is 2001 EUR",
        ),
        mismatch(
            second_paid,
            "paid",
            "withdrawal_request",
            1,
            "its withdrawal_request journal moves 2000 EUR (minor units), the withdrawal is 2001 EUR",
        ),
    ];
    let mut found = report.violations.clone();
    found.sort_by_key(|violation| format!("{violation:?}"));
    expected.sort_by_key(|violation| format!("{violation:?}"));
    assert_eq!(found, expected);
    assert_eq!(
        kasa_server::cli::ledger::integrity_check(&pool, None)
            .await
            .unwrap(),
        ExitCode::from(3),
        "`kasa integrity-check` fails on it"
    );
}

// Proves the hold rule: the open withdrawal moved to another player of the brand leaves the
// first player holding 30.00 that no open withdrawal explains and the second owing a hold of
// 30.00 they do not have; both are named with their figures. (The request journal now moves
// another player's money, which the withdrawal rule names too: a hold balance follows from the
// withdrawal journals, so no corruption can break it alone.)
#[sqlx::test(migrations = "../migrations")]
async fn hold_balance_rule_names_the_player(pool: PgPool) {
    let world = world(&pool).await;
    let other_player = PlayerId(Uuid::new_v4());
    sqlx::query(
        "INSERT INTO players (id, tenant_id, email, display_name, password_hash)
         VALUES ($1, $2, 'other@demo.kasa.test', 'Other', 'not-a-hash')",
    )
    .bind(other_player)
    .bind(world.tenant_id)
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query("UPDATE withdrawals SET player_id = $2 WHERE id = $1")
        .bind(world.open)
        .bind(other_player)
        .execute(&pool)
        .await
        .unwrap();

    let report = check(&pool, Some(world.tenant_id)).await;
    assert_eq!(
        checks(&report),
        names(&["hold_balance_mismatch", "withdrawal_journal_mismatch"]),
        "{:#?}",
        report.violations
    );
    for (player_id, hold_balance_minor, open_withdrawals_minor) in
        [(world.player_id, 3_000, 0), (other_player, 0, 3_000)]
    {
        assert!(
            report
                .violations
                .contains(&IntegrityViolation::HoldBalanceMismatch {
                    tenant_id: world.tenant_id,
                    player_id,
                    currency: "EUR".into(),
                    hold_balance_minor,
                    open_withdrawals_minor,
                }),
            "{:#?}",
            report.violations
        );
    }
    assert!(
        report
            .violations
            .contains(&IntegrityViolation::WithdrawalJournalMismatch {
                withdrawal_id: world.open,
                tenant_id: world.tenant_id,
                state: "requested".into(),
                kind: "withdrawal_request".into(),
                journals: 1,
                problem: "its withdrawal_request journal moves another player's money".into(),
            })
    );
}

// Proves the kind rule: a journal of a kind the table does not know, an adjustment out of the
// house account and a fee whose second leg goes to the house are each named (journal, ordinal,
// account kinds), through `kasa integrity-check` and the back office's check alike.
#[sqlx::test(migrations = "../migrations")]
async fn journal_kind_rule_names_the_transfer(pool: PgPool) {
    let world = world(&pool).await;
    let cash = || AccountRef::PlayerCash(world.player_id);
    let bonus = post(
        &pool,
        world.tenant_id,
        "bonus",
        None,
        vec![(AccountRef::Adjustments, cash(), eur("5.00"))],
    )
    .await;
    let from_house = post(
        &pool,
        world.tenant_id,
        "adjustment",
        None,
        vec![(AccountRef::House, cash(), eur("7.00"))],
    )
    .await;
    let fee = post(
        &pool,
        world.tenant_id,
        "fee",
        None,
        vec![
            (cash(), AccountRef::Fees, eur("1.00")),
            (cash(), AccountRef::House, eur("2.00")),
        ],
    )
    .await;

    let report = check(&pool, None).await;
    assert_eq!(
        checks(&report),
        names(&["transfer_not_allowed_for_kind", "unknown_journal_kind"]),
        "{:#?}",
        report.violations
    );
    assert_eq!(report.violations.len(), 3, "{:#?}", report.violations);
    assert!(
        report
            .violations
            .contains(&IntegrityViolation::UnknownJournalKind {
                journal_id: JournalId(bonus),
                tenant_id: world.tenant_id,
                kind: "bonus".into(),
            })
    );
    for (journal_id, ordinal, kind, debit, credit) in [
        (from_house, 1, "adjustment", "house", "player_cash"),
        (fee, 2, "fee", "player_cash", "house"),
    ] {
        assert!(
            report
                .violations
                .contains(&IntegrityViolation::TransferNotAllowedForKind {
                    journal_id: JournalId(journal_id),
                    ordinal,
                    kind: kind.into(),
                    debit_account_kind: debit.into(),
                    credit_account_kind: credit.into(),
                }),
            "{:#?}",
            report.violations
        );
    }

    let back_office = world
        .app
        .call(
            "backoffice/integrity-check",
            &[],
            Some(&world.actors.finance),
        )
        .await;
    assert_eq!(back_office.status, 200, "{back_office:?}");
    assert_eq!(back_office.json["ok"], false);
    let lines: Vec<&str> = back_office.json["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|line| line.as_str().unwrap())
        .collect();
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(
        lines
            .iter()
            .any(|line| line.contains("\"check\":\"unknown_journal_kind\"")
                && line.contains(&bonus.to_string())),
        "{lines:?}"
    );
}

// Proves the object rule: a capture naming a deposit that does not exist, one naming another
// brand's deposit, one with a malformed reference, and a payout recovery with no reference are
// each named with the journal's id and reference; the other brand checks clean on its own.
#[sqlx::test(migrations = "../migrations")]
async fn business_journal_rule_names_the_journal(pool: PgPool) {
    let world = world(&pool).await;
    let (second_tenant, second_player): (TenantId, PlayerId) =
        sqlx::query_as("SELECT tenant_id, id FROM players WHERE email = 'player@second.kasa.test'")
            .fetch_one(&pool)
            .await
            .unwrap();
    let foreign_deposit = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO deposits (id, tenant_id, player_id, provider, amount_minor, currency, state,
                               idempotency_key, request_sha256, created_at, updated_at)
         VALUES ($1, $2, $3, 'mock', 1000, 'EUR', 'created', 'foreign',
                 decode(repeat('00', 32), 'hex'), now(), now())",
    )
    .bind(foreign_deposit)
    .bind(second_tenant)
    .bind(second_player)
    .execute(&pool)
    .await
    .unwrap();
    let capture = |reference: Option<String>| {
        post(
            &pool,
            world.tenant_id,
            "deposit_capture",
            reference,
            vec![(
                mock(),
                AccountRef::PlayerCash(world.player_id),
                eur("10.00"),
            )],
        )
    };
    let missing_reference = format!("deposit:{}", Uuid::new_v4());
    let missing = capture(Some(missing_reference.clone())).await;
    let foreign_reference = format!("deposit:{foreign_deposit}");
    let foreign = capture(Some(foreign_reference.clone())).await;
    let malformed = capture(Some("deposit:12345".into())).await;
    let recovery = post(
        &pool,
        world.tenant_id,
        "withdrawal_payout_recovery",
        None,
        vec![(AccountRef::PlayerCash(world.player_id), mock(), eur("3.00"))],
    )
    .await;

    let report = check(&pool, None).await;
    assert_eq!(
        checks(&report),
        names(&["journal_without_business_object"]),
        "{:#?}",
        report.violations
    );
    let orphan = |journal_id, kind: &str, reference: Option<String>| {
        IntegrityViolation::JournalWithoutBusinessObject {
            journal_id: JournalId(journal_id),
            tenant_id: world.tenant_id,
            kind: kind.into(),
            reference,
        }
    };
    let mut expected = vec![
        orphan(missing, "deposit_capture", Some(missing_reference)),
        orphan(foreign, "deposit_capture", Some(foreign_reference)),
        orphan(malformed, "deposit_capture", Some("deposit:12345".into())),
        orphan(recovery, "withdrawal_payout_recovery", None),
    ];
    let mut found = report.violations.clone();
    found.sort_by_key(|violation| format!("{violation:?}"));
    expected.sort_by_key(|violation| format!("{violation:?}"));
    assert_eq!(found, expected);
    let second = check(&pool, Some(second_tenant)).await;
    assert!(
        second.ok,
        "the other brand's deposit is not touched: {:#?}",
        second.violations
    );
    // The real journals of the brand still belong to their objects.
    let paid_payout = journal_of(
        &pool,
        format!("withdrawal:{}", world.paid[0]),
        "withdrawal_payout",
    )
    .await;
    assert!(
        !report.violations.iter().any(|violation| matches!(violation,
            IntegrityViolation::JournalWithoutBusinessObject { journal_id, .. } if journal_id.0 == paid_payout))
    );
}
