//! The figures page against sums computed independently from the ledger's transfers (by the
//! accounts they move between, not by journal kind), with two brands and two currencies, so
//! that another brand's or currency's money never leaks in.

mod common;

use app::backoffice::figures::Figures;
use app::domain::ids::{PlayerId, TenantId};
use app::domain::money::{Currency, Money};
use common::*;
use kasa_server::ledger::{
    self, AccountRef, IdempotencyKey, JournalKind, NewJournal, NewTransfer, ProviderName,
};
use sqlx::PgPool;
use uuid::Uuid;

async fn player_of(pool: &PgPool, email: &str) -> (TenantId, PlayerId) {
    sqlx::query_as("SELECT tenant_id, id FROM players WHERE email = $1")
        .bind(email)
        .fetch_one(pool)
        .await
        .unwrap()
}

/// Posts one transfer as its own journal.
#[allow(clippy::too_many_arguments)]
async fn post(
    pool: &PgPool,
    tenant_id: TenantId,
    key: &str,
    kind: JournalKind,
    reference: Option<&str>,
    debit: AccountRef,
    credit: AccountRef,
    amount: Money,
) {
    let journal = NewJournal {
        reference: reference.map(str::to_owned),
        ..NewJournal::new(
            IdempotencyKey::parse(key).unwrap(),
            kind,
            vec![NewTransfer {
                debit,
                credit,
                amount,
            }],
        )
    };
    ledger::post_journal(pool, tenant_id, &journal)
        .await
        .unwrap();
}

fn money(amount: &str, currency: Currency) -> Money {
    Money::parse(amount, currency).unwrap()
}

/// The money movements of one brand: deposits, play, a fee, and withdrawals paid, pending and
/// rejected. `scale` varies the amounts between brands.
async fn activity(pool: &PgPool, tenant_id: TenantId, player: PlayerId, tag: &str, scale: i64) {
    let mock = || AccountRef::PspClearing(ProviderName::parse("mock").unwrap());
    let cash = AccountRef::PlayerCash(player);
    let hold = AccountRef::PlayerWithdrawalHold(player);
    let eur = |units: i64| money(&(units * scale).to_string(), Currency::Eur);
    let key = |name: &str| format!("{tag}-{name}");
    for (name, amount) in [
        ("deposit-1", eur(100)),
        ("deposit-2", eur(50)),
        (
            "deposit-usd",
            money(&(30 * scale).to_string(), Currency::Usd),
        ),
    ] {
        post(
            pool,
            tenant_id,
            &key(name),
            JournalKind::DEPOSIT_CAPTURE,
            None,
            mock(),
            cash.clone(),
            amount,
        )
        .await;
    }
    post(
        pool,
        tenant_id,
        &key("bet"),
        JournalKind::BET,
        None,
        cash.clone(),
        AccountRef::House,
        eur(20),
    )
    .await;
    post(
        pool,
        tenant_id,
        &key("win"),
        JournalKind::WIN,
        None,
        AccountRef::House,
        cash.clone(),
        eur(5),
    )
    .await;
    post(
        pool,
        tenant_id,
        &key("fee"),
        JournalKind::FEE,
        None,
        cash.clone(),
        AccountRef::Fees,
        eur(1),
    )
    .await;
    let paid = format!("withdrawal:{}", Uuid::new_v4());
    let pending = format!("withdrawal:{}", Uuid::new_v4());
    let rejected = format!("withdrawal:{}", Uuid::new_v4());
    post(
        pool,
        tenant_id,
        &key("w-paid-request"),
        JournalKind::WITHDRAWAL_REQUEST,
        Some(&paid),
        cash.clone(),
        hold.clone(),
        eur(40),
    )
    .await;
    post(
        pool,
        tenant_id,
        &key("w-paid-payout"),
        JournalKind::WITHDRAWAL_PAYOUT,
        Some(&paid),
        hold.clone(),
        mock(),
        eur(40),
    )
    .await;
    post(
        pool,
        tenant_id,
        &key("w-pending"),
        JournalKind::WITHDRAWAL_REQUEST,
        Some(&pending),
        cash.clone(),
        hold.clone(),
        eur(15),
    )
    .await;
    post(
        pool,
        tenant_id,
        &key("w-rejected-request"),
        JournalKind::WITHDRAWAL_REQUEST,
        Some(&rejected),
        cash.clone(),
        hold.clone(),
        eur(5),
    )
    .await;
    post(
        pool,
        tenant_id,
        &key("w-rejected"),
        JournalKind::WITHDRAWAL_REJECT,
        Some(&rejected),
        hold.clone(),
        cash.clone(),
        eur(5),
    )
    .await;
}

/// The figures computed straight from ledger_transfers and ledger_accounts, by account kinds:
/// (deposits, withdrawals paid, house net, fees net, held, liability), minor units.
async fn independent_sums(pool: &PgPool, tenant_id: TenantId, currency: &str) -> [i64; 6] {
    let row: (i64, i64, i64, i64, i64, i64) = sqlx::query_as(
        "SELECT
            coalesce(sum(t.amount_minor) FILTER (WHERE d.kind = 'psp_clearing' AND c.kind = 'player_cash'), 0)::bigint,
            coalesce(sum(t.amount_minor) FILTER (WHERE d.kind = 'player_withdrawal_hold' AND c.kind = 'psp_clearing'), 0)::bigint,
            (coalesce(sum(t.amount_minor) FILTER (WHERE c.kind = 'house'), 0)
             - coalesce(sum(t.amount_minor) FILTER (WHERE d.kind = 'house'), 0))::bigint,
            (coalesce(sum(t.amount_minor) FILTER (WHERE c.kind = 'fees'), 0)
             - coalesce(sum(t.amount_minor) FILTER (WHERE d.kind = 'fees'), 0))::bigint,
            (coalesce(sum(t.amount_minor) FILTER (WHERE c.kind = 'player_withdrawal_hold'), 0)
             - coalesce(sum(t.amount_minor) FILTER (WHERE d.kind = 'player_withdrawal_hold'), 0))::bigint,
            (coalesce(sum(t.amount_minor) FILTER (WHERE c.player_id IS NOT NULL), 0)
             - coalesce(sum(t.amount_minor) FILTER (WHERE d.player_id IS NOT NULL), 0))::bigint
           FROM ledger_transfers t
           JOIN ledger_accounts d ON d.id = t.debit_account_id
           JOIN ledger_accounts c ON c.id = t.credit_account_id
          WHERE t.tenant_id = $1 AND t.currency = $2",
    )
    .bind(tenant_id)
    .bind(currency)
    .fetch_one(pool)
    .await
    .unwrap();
    [row.0, row.1, row.2, row.3, row.4, row.5]
}

fn shown(figures: &Figures) -> [i64; 6] {
    [
        figures.deposits.minor_units(),
        figures.withdrawals_paid.minor_units(),
        figures.game_revenue.minor_units(),
        figures.fees.minor_units(),
        figures.player_held.minor_units(),
        figures.player_liability.minor_units(),
    ]
}

fn parse(reply: &Reply) -> Figures {
    assert_eq!(reply.status, 200, "{reply:?}");
    serde_json::from_value(reply.json.clone()).expect("figures decode")
}

// Proves every figure equals the sum computed independently from the transfers, for each brand
// and currency, with nothing of the other brand or currency in it; pending withdrawals count
// only requests neither paid nor rejected, and the daily chart adds up to the period's totals.
#[sqlx::test(migrations = "../migrations")]
async fn figures_equal_the_ledgers_sums_per_brand_and_currency(pool: PgPool) {
    let app = spawn_app(pool).await;
    let (demo, demo_player) = player_of(&app.pool, PLAYER_EMAIL).await;
    let (second, second_player) = player_of(&app.pool, SECOND_PLAYER_EMAIL).await;
    activity(&app.pool, demo, demo_player, "demo", 1).await;
    activity(&app.pool, second, second_player, "second", 3).await;

    let finance = app.log_in("admin/login", "finance@demo.kasa.test").await;
    let second_finance = app
        .log_in_at_second_brand("admin/login", "finance@second.kasa.test")
        .await;
    for (tenant_id, currency, reply) in [
        (
            demo,
            "EUR",
            app.call("backoffice/figures", &[("currency", "EUR")], Some(&finance))
                .await,
        ),
        (
            demo,
            "USD",
            app.call("backoffice/figures", &[("currency", "USD")], Some(&finance))
                .await,
        ),
        (
            second,
            "EUR",
            app.call_at_second_brand(
                "backoffice/figures",
                &[("currency", "EUR")],
                Some(&second_finance),
            )
            .await,
        ),
    ] {
        let figures = parse(&reply);
        assert_eq!(figures.currency.code(), currency);
        assert_eq!(
            shown(&figures),
            independent_sums(&app.pool, tenant_id, currency).await,
            "{currency}"
        );
        let daily_deposits: i64 = figures.daily.iter().map(|day| day.deposits_minor).sum();
        let daily_paid: i64 = figures.daily.iter().map(|day| day.withdrawals_minor).sum();
        assert_eq!(daily_deposits, figures.deposits.minor_units());
        assert_eq!(daily_paid, figures.withdrawals_paid.minor_units());
        assert_eq!(figures.daily.len(), 7);
        assert_eq!(
            figures.net_deposits.minor_units(),
            daily_deposits - daily_paid
        );
        assert_eq!(figures.pending_sum, figures.player_held);
    }

    let demo_eur = parse(&app.call("backoffice/figures", &[], Some(&finance)).await);
    assert_eq!(demo_eur.deposits.minor_units(), 15_000);
    assert_eq!(demo_eur.deposit_count, 2);
    assert_eq!(demo_eur.withdrawals_paid.minor_units(), 4_000);
    assert_eq!(demo_eur.game_revenue.minor_units(), 1_500);
    assert_eq!(demo_eur.fees.minor_units(), 100);
    assert_eq!(
        (demo_eur.pending_count, demo_eur.pending_sum.minor_units()),
        (1, 1_500)
    );
    assert_eq!(
        demo_eur.player_liability.minor_units(),
        (150 - 20 + 5 - 1 - 40) * 100
    );
    let second_eur = parse(
        &app.call_at_second_brand("backoffice/figures", &[], Some(&second_finance))
            .await,
    );
    assert_eq!(second_eur.deposits.minor_units(), 3 * 15_000);
    assert_eq!(second_eur.pending_count, 1);
    assert_eq!(
        demo_eur
            .currencies
            .iter()
            .map(|currency| currency.code())
            .collect::<Vec<_>>(),
        ["EUR", "USD"]
    );

    // A period that ended before today holds none of it.
    let earlier = parse(
        &app.call(
            "backoffice/figures",
            &[
                ("period", "custom"),
                ("from", "2020-01-01"),
                ("until", "2020-01-31"),
            ],
            Some(&finance),
        )
        .await,
    );
    assert_eq!(
        (earlier.deposits.minor_units(), earlier.daily.len()),
        (0, 31)
    );
}

// Proves the integrity check run from the figures page passes on a consistent ledger, is
// recorded, and the figures then show when it ran, by whom, and its result; support may run it.
#[sqlx::test(migrations = "../migrations")]
async fn figures_show_the_last_integrity_check(pool: PgPool) {
    let app = spawn_app(pool).await;
    let support = app.log_in("admin/login", "support@demo.kasa.test").await;
    let before = parse(
        &app.call("backoffice/figures", &[("period", "today")], Some(&support))
            .await,
    );
    assert_eq!(before.last_integrity_check, None);
    let check = app
        .call("backoffice/integrity-check", &[], Some(&support))
        .await;
    assert_eq!(check.status, 200, "{check:?}");
    assert_eq!(check.json["ok"], true);
    let after = parse(
        &app.call("backoffice/figures", &[("period", "today")], Some(&support))
            .await,
    );
    let run = after.last_integrity_check.expect("the run is shown");
    assert!(run.ok);
    assert_eq!(run.by.as_deref(), Some("support@demo.kasa.test"));
    let (status, _, html) = app
        .get_page("/admin/figures?period=today", Some(&support))
        .await;
    assert_eq!(status, 200);
    assert!(
        html.contains("data-testid=\"flow-chart\""),
        "the chart is in the server's HTML"
    );
    assert!(html.contains("passed"));
    let player = app.log_in("auth/login", PLAYER_EMAIL).await;
    assert_eq!(
        app.call("backoffice/figures", &[], Some(&player))
            .await
            .status,
        403
    );
}

// Proves a check run from the dashboard's button (`admin/integrity-check`) is recorded the same
// way, so the figures' "last integrity check" covers it too.
#[sqlx::test(migrations = "../migrations")]
async fn dashboard_integrity_check_is_recorded(pool: PgPool) {
    let app = spawn_app(pool).await;
    let finance = app.log_in("admin/login", "finance@demo.kasa.test").await;
    let check = app.call("admin/integrity-check", &[], Some(&finance)).await;
    assert_eq!(
        (check.status, &check.json["ok"]),
        (200, &serde_json::json!(true))
    );
    assert_eq!(
        app.count("SELECT count(*) FROM audit_events WHERE action = 'ledger.integrity_checked'")
            .await,
        1
    );
    let figures = parse(
        &app.call("backoffice/figures", &[("period", "today")], Some(&finance))
            .await,
    );
    let run = figures
        .last_integrity_check
        .expect("the dashboard's run is shown");
    assert!(run.ok);
    assert_eq!(run.by.as_deref(), Some("finance@demo.kasa.test"));
}
