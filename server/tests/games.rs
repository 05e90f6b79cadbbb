//! The seamless wallet through its signed Hub88 adapter, as a game provider calls it over HTTP:
//! balances, journals and rows after each call, replays and retry storms, rollbacks and their
//! tombstones, concurrency against one balance, protection, and every kind of bad input.

mod common;

use std::collections::BTreeSet;

use app::domain::ids::{PlayerId, TenantId};
use app::domain::money::{Currency, Money};
use chrono::Duration;
use common::{PLAYER_EMAIL, SECOND_PLAYER_EMAIL, TestApp, spawn_app_with};
use kasa_server::games::sessions;
use kasa_server::games::signature::RequestSigner;
use kasa_server::ledger::{self, AccountRef, IdempotencyKey, JournalKind, NewJournal, NewTransfer};
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

const GAME: &str = "test_slot";

/// A game studio as Kasa sees it: Hub88's key pair, calling the wallet over HTTP.
struct Studio {
    app: TestApp,
    signer: RequestSigner,
    tenant_id: TenantId,
    player_id: PlayerId,
    token: String,
}

impl Studio {
    async fn start(pool: PgPool) -> Studio {
        let signer = RequestSigner::generate().unwrap();
        let app = spawn_app_with(pool, &[("KASA_HUB88_PUBLIC_KEY", signer.public_pem())]).await;
        let (tenant_id, player_id) = player(&app, PLAYER_EMAIL).await;
        for tenant in [tenant_id, player(&app, SECOND_PLAYER_EMAIL).await.0] {
            sqlx::query(
                "INSERT INTO games (tenant_id, provider, code, name, rtp_percent, enabled, created_at)
                 VALUES ($1, 'hub88', $2, 'Test slot', 96.00, true, now())",
            )
            .bind(tenant)
            .bind(GAME)
            .execute(&app.pool)
            .await
            .unwrap();
        }
        let token = launch(&app, tenant_id, player_id).await;
        Studio {
            app,
            signer,
            tenant_id,
            player_id,
            token,
        }
    }

    /// Credits the player's cash (a staff adjustment, posted straight to the ledger).
    async fn fund(&self, minor: i64) {
        fund(&self.app, self.tenant_id, self.player_id, minor).await;
    }

    /// POSTs `body` to the wallet path, signed with `signer` (None: no signature header).
    async fn post_raw(&self, path: &str, body: &str, signature: Option<String>) -> (u16, Value) {
        let mut request = self
            .app
            .http
            .post(format!("{}/api/v1/games/{path}", self.app.base))
            .header("content-type", "application/json")
            .body(body.to_owned());
        if let Some(signature) = signature {
            request = request.header("x-hub88-signature", signature);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn call(&self, endpoint: &str, body: Value) -> Value {
        let body = body.to_string();
        let (status, answer) = self
            .post_raw(
                &format!("hub88/{endpoint}"),
                &body,
                Some(self.signer.sign(body.as_bytes())),
            )
            .await;
        assert_eq!(status, 200, "{answer}");
        answer
    }

    fn transaction(
        &self,
        tx: &str,
        round: &str,
        amount: Option<i64>,
        reference: Option<&str>,
    ) -> Value {
        let mut body = json!({
            "user": self.player_id.to_string(),
            "transaction_uuid": tx,
            "supplier_transaction_id": format!("supplier-{tx}"),
            "token": self.token,
            "round": round,
            "round_closed": false,
            "request_uuid": Uuid::new_v4().to_string(),
            "is_free": false,
            "game_code": GAME,
            "bet": "spin",
        });
        if let Some(amount) = amount {
            body["currency"] = json!("EUR");
            body["amount"] = json!(amount);
        }
        if let Some(reference) = reference {
            body["reference_transaction_uuid"] = json!(reference);
        }
        body
    }

    async fn bet(&self, tx: &str, round: &str, units: i64) -> Value {
        self.call(
            "transaction/bet",
            self.transaction(tx, round, Some(units), None),
        )
        .await
    }

    async fn win(&self, tx: &str, round: &str, units: i64, bet: &str) -> Value {
        self.call(
            "transaction/win",
            self.transaction(tx, round, Some(units), Some(bet)),
        )
        .await
    }

    async fn rollback(&self, tx: &str, round: &str, bet: &str) -> Value {
        self.call(
            "transaction/rollback",
            self.transaction(tx, round, None, Some(bet)),
        )
        .await
    }

    async fn cash_minor(&self) -> i64 {
        cash_minor(&self.app, self.tenant_id, self.player_id).await
    }

    /// (journals of each kind bet / win / bet_rollback, game transactions) of this tenant.
    async fn written(&self) -> (i64, i64, i64, i64) {
        let count = |kind: &'static str| {
            let sql = format!(
                "SELECT count(*) FROM ledger_journals WHERE tenant_id = '{}' AND kind = '{kind}'",
                self.tenant_id
            );
            async move { self.app.count(&sql).await }
        };
        (
            count("bet").await,
            count("win").await,
            count("bet_rollback").await,
            self.app
                .count(&format!(
                    "SELECT count(*) FROM game_transactions WHERE tenant_id = '{}'",
                    self.tenant_id
                ))
                .await,
        )
    }
}

async fn player(app: &TestApp, email: &str) -> (TenantId, PlayerId) {
    sqlx::query_as("SELECT tenant_id, id FROM players WHERE email = $1")
        .bind(email)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

async fn launch(app: &TestApp, tenant_id: TenantId, player_id: PlayerId) -> String {
    sessions::launch(
        &app.app_pool,
        tenant_id,
        player_id,
        "hub88",
        GAME,
        Currency::Eur,
        app.now(),
    )
    .await
    .unwrap()
    .expect("the game is enabled")
    .token
}

async fn fund(app: &TestApp, tenant_id: TenantId, player_id: PlayerId, minor: i64) {
    let journal = NewJournal::new(
        IdempotencyKey::parse(format!("fund-{}", Uuid::new_v4())).unwrap(),
        JournalKind::ADJUSTMENT,
        vec![NewTransfer {
            debit: AccountRef::Adjustments,
            credit: AccountRef::PlayerCash(player_id),
            amount: Money::from_minor_units(minor, Currency::Eur).unwrap(),
        }],
    );
    ledger::post_journal(&app.app_pool, tenant_id, &journal)
        .await
        .unwrap();
}

async fn cash_minor(app: &TestApp, tenant_id: TenantId, player_id: PlayerId) -> i64 {
    sqlx::query_scalar(
        "SELECT COALESCE(SUM(balance_minor), 0)::bigint FROM ledger_account_balances
          WHERE tenant_id = $1 AND player_id = $2 AND kind = 'player_cash'",
    )
    .bind(tenant_id)
    .bind(player_id)
    .fetch_one(&app.pool)
    .await
    .unwrap()
}

/// Hub88 units of a euro amount in cents.
fn eur(cents: i64) -> i64 {
    cents * 1_000
}

async fn integrity_holds(app: &TestApp) {
    let report = ledger::check_integrity(&app.pool, None).await.unwrap();
    assert!(report.violations.is_empty(), "{:#?}", report.violations);
}

// Proves a bet, a win and a rollback through the signed adapter move exactly their amounts,
// one journal each between the player's cash and the house, answer the balance after the call
// in Hub88 units with the request's uuid, and that a replay answers the first figure again.
#[sqlx::test(migrations = "../migrations")]
async fn bet_win_and_rollback_move_money_through_the_house(pool: PgPool) {
    let studio = Studio::start(pool).await;
    studio.fund(10_000).await;

    let bet = studio.transaction("bet-1", "round-1", Some(eur(1_000)), None);
    let request_uuid = bet["request_uuid"].clone();
    let answer = studio.call("transaction/bet", bet.clone()).await;
    assert_eq!(answer["status"], "RS_OK");
    assert_eq!(answer["request_uuid"], request_uuid);
    assert_eq!(answer["balance"], eur(9_000));
    assert_eq!(answer["currency"], "EUR");
    assert_eq!(answer["user"], studio.player_id.to_string());
    assert_eq!(studio.cash_minor().await, 9_000);

    let answer = studio.win("win-1", "round-1", eur(2_500), "bet-1").await;
    assert_eq!(answer["status"], "RS_OK");
    assert_eq!(answer["balance"], eur(11_500));

    let answer = studio.bet("bet-2", "round-2", eur(500)).await;
    assert_eq!(answer["balance"], eur(11_000));
    let answer = studio.rollback("rollback-2", "round-2", "bet-2").await;
    assert_eq!(answer["status"], "RS_OK");
    assert_eq!(answer["balance"], eur(11_500));
    assert_eq!(studio.cash_minor().await, 11_500);
    assert_eq!(studio.written().await, (2, 1, 1, 4));

    // The first bet again, byte for byte: the balance it answered then, nothing moves.
    let replay = studio.call("transaction/bet", bet).await;
    assert_eq!(replay["status"], "RS_OK");
    assert_eq!(replay["balance"], eur(9_000));
    assert_eq!(studio.written().await, (2, 1, 1, 4));

    // The house holds the game result: bets 15.00 minus win 25.00 minus rollback 5.00.
    let house: i64 = sqlx::query_scalar(
        "SELECT balance_minor FROM ledger_account_balances
          WHERE tenant_id = $1 AND kind = 'house' AND currency = 'EUR'",
    )
    .bind(studio.tenant_id)
    .fetch_one(&studio.app.pool)
    .await
    .unwrap();
    assert_eq!(house, 1_500 - 2_500 - 500);
    let journal_kinds: Vec<(String, String)> = sqlx::query_as(
        "SELECT t.kind, j.kind FROM game_transactions t JOIN ledger_journals j ON j.id = t.journal_id
          WHERE t.tenant_id = $1 ORDER BY t.seq",
    )
    .bind(studio.tenant_id)
    .fetch_all(&studio.app.pool)
    .await
    .unwrap();
    let expected = [
        ("bet", "bet"),
        ("win", "win"),
        ("bet", "bet"),
        ("rollback", "bet_rollback"),
    ];
    assert_eq!(
        journal_kinds,
        expected.map(|(a, b)| (a.to_owned(), b.to_owned())).to_vec()
    );
    let balance = studio
        .call(
            "user/balance",
            json!({"user": studio.player_id.to_string(), "token": studio.token,
                   "request_uuid": "balance-1", "game_code": GAME}),
        )
        .await;
    assert_eq!(balance["status"], "RS_OK");
    assert_eq!(balance["balance"], eur(11_500));
    assert_eq!(balance["request_uuid"], "balance-1");
    let info = studio
        .call(
            "user/info",
            json!({"user": studio.player_id.to_string(), "request_uuid": "info-1"}),
        )
        .await;
    assert_eq!(info["status"], "RS_OK");
    integrity_holds(&studio.app).await;

    // Finance sees the play per game, from the journals: GGR = bets − rollbacks − wins, equal
    // to the house account's change.
    let finance = studio
        .app
        .log_in("admin/login", "finance@demo.kasa.test")
        .await;
    let figures = studio
        .app
        .call(
            "backoffice/figures",
            &[("period", "today"), ("currency", "EUR")],
            Some(&finance),
        )
        .await;
    assert_eq!(figures.status, 200, "{figures:?}");
    let play = &figures.json["play"];
    assert_eq!(play.as_array().map(Vec::len), Some(1), "{play}");
    assert_eq!(play[0]["provider"], "hub88");
    assert_eq!(play[0]["game"], GAME);
    assert_eq!(play[0]["rounds"], 2);
    let amount = |value: &Value| value["amount"].as_str().map(str::to_owned);
    let eur_text = |cents: i64| Some(format!("{}.{:02}", cents / 100, cents.abs() % 100));
    assert_eq!(amount(&play[0]["bets"]), eur_text(1_500), "{play}");
    assert_eq!(amount(&play[0]["wins"]), eur_text(2_500));
    assert_eq!(amount(&play[0]["rollbacks"]), eur_text(500));
    assert_eq!(amount(&play[0]["ggr"]), Some("-15.00".to_owned()));
    assert_eq!(house, -1_500);
    assert_eq!(
        amount(&figures.json["game_revenue"]),
        Some("-15.00".to_owned())
    );

    // A recorded rollback whose money never moved back (no journal of its own) is caught.
    sqlx::query(
        "INSERT INTO game_transactions (id, tenant_id, provider, tx_id, kind, player_id, round_id,
                game_code, currency, amount_minor, reference_tx, tombstone, journal_id,
                request_sha256, response, created_at)
         SELECT $1, tenant_id, provider, 'forged-rollback', 'rollback', player_id, round_id,
                game_code, currency, amount_minor, tx_id, false,
                (SELECT id FROM ledger_journals WHERE kind = 'adjustment' LIMIT 1),
                request_sha256, response, now()
           FROM game_transactions WHERE tx_id = 'bet-1'",
    )
    .bind(Uuid::new_v4())
    .execute(&studio.app.pool)
    .await
    .unwrap();
    let report = ledger::check_integrity(&studio.app.pool, None)
        .await
        .unwrap();
    assert!(
        report.violations.iter().any(|violation| matches!(violation,
            ledger::IntegrityViolation::GameTransactionMismatch { kind, journals: 0, .. }
                if kind == "rollback")),
        "{:#?}",
        report.violations
    );
}

// Proves a provider's retry storm (the same bet ×20 at once) costs one journal and gets twenty
// identical answers, and that the same id with another amount is a duplicate that writes nothing.
#[sqlx::test(migrations = "../migrations")]
async fn a_retry_storm_costs_one_journal(pool: PgPool) {
    let studio = Studio::start(pool).await;
    studio.fund(10_000).await;
    let bet = studio.transaction("storm", "round-storm", Some(eur(700)), None);
    let answers =
        futures::future::join_all((0..20).map(|_| studio.call("transaction/bet", bet.clone())))
            .await;
    let distinct: BTreeSet<String> = answers.iter().map(Value::to_string).collect();
    assert_eq!(distinct.len(), 1, "{distinct:#?}");
    assert_eq!(answers[0]["status"], "RS_OK");
    assert_eq!(answers[0]["balance"], eur(9_300));
    assert_eq!(studio.written().await, (1, 0, 0, 1));

    let mut other = bet.clone();
    other["amount"] = json!(eur(800));
    let answer = studio.call("transaction/bet", other).await;
    assert_eq!(answer["status"], "RS_ERROR_DUPLICATE_TRANSACTION");
    assert_eq!(answer["balance"], eur(9_300));
    for (field, value) in [
        ("round", json!("another-round")),
        ("game_code", json!("other_game")),
    ] {
        let mut other = bet.clone();
        other[field] = value;
        let answer = studio.call("transaction/bet", other).await;
        assert_eq!(
            answer["status"], "RS_ERROR_DUPLICATE_TRANSACTION",
            "{field}"
        );
    }
    assert_eq!(studio.written().await, (1, 0, 0, 1));
    assert_eq!(studio.cash_minor().await, 9_300);
}

// Proves the rollback rules: a rollback of a bet never seen leaves a tombstone and succeeds,
// and the late bet is then refused; a rollback after its round was won is refused; a win for an
// unknown bet is refused; a win after the session expired is still credited, a bet is not.
#[sqlx::test(migrations = "../migrations")]
async fn rollbacks_tombstones_and_late_wins(pool: PgPool) {
    let studio = Studio::start(pool).await;
    studio.fund(10_000).await;

    let answer = studio
        .rollback("rollback-lost", "round-lost", "bet-lost")
        .await;
    assert_eq!(answer["status"], "RS_OK");
    assert_eq!(answer["balance"], eur(10_000));
    let tombstones = studio
        .app
        .count("SELECT count(*) FROM game_transactions WHERE tombstone AND journal_id IS NULL")
        .await;
    assert_eq!(tombstones, 1);
    let late = studio.bet("bet-lost", "round-lost", eur(100)).await;
    assert_eq!(late["status"], "RS_ERROR_TRANSACTION_ROLLED_BACK");
    assert_eq!(late["balance"], eur(10_000));
    // The rollback's own retry is answered as the first time.
    let again = studio
        .rollback("rollback-lost", "round-lost", "bet-lost")
        .await;
    assert_eq!(again["status"], "RS_OK");

    studio.bet("bet-won", "round-won", eur(1_000)).await;
    studio
        .win("win-won", "round-won", eur(3_000), "bet-won")
        .await;
    let refused = studio
        .rollback("rollback-won", "round-won", "bet-won")
        .await;
    assert_eq!(refused["status"], "RS_ERROR_UNKNOWN");
    assert_eq!(refused["balance"], eur(12_000));

    let unknown = studio
        .win("win-nobet", "round-nobet", eur(100), "never-placed")
        .await;
    assert_eq!(unknown["status"], "RS_ERROR_TRANSACTION_DOES_NOT_EXIST");

    // A second rollback of one bet, under another id, moves nothing.
    studio.bet("bet-twice", "round-twice", eur(500)).await;
    assert_eq!(
        studio.rollback("rb-a", "round-twice", "bet-twice").await["status"],
        "RS_OK"
    );
    let second = studio.rollback("rb-b", "round-twice", "bet-twice").await;
    assert_eq!(second["status"], "RS_ERROR_TRANSACTION_ROLLED_BACK");
    // Nor can the rolled-back bet be won.
    let won = studio
        .win("win-twice", "round-twice", eur(900), "bet-twice")
        .await;
    assert_eq!(won["status"], "RS_ERROR_TRANSACTION_ROLLED_BACK");
    assert_eq!(studio.cash_minor().await, 12_000);

    studio.bet("bet-late", "round-late", eur(1_000)).await;
    studio
        .app
        .advance(Duration::hours(sessions::GAME_SESSION_HOURS + 1));
    let expired = studio.bet("bet-expired", "round-expired", eur(100)).await;
    assert_eq!(expired["status"], "RS_ERROR_TOKEN_EXPIRED");
    let credited = studio
        .win("win-late", "round-late", eur(4_000), "bet-late")
        .await;
    assert_eq!(credited["status"], "RS_OK");
    assert_eq!(credited["balance"], eur(15_000));
    assert_eq!(studio.cash_minor().await, 15_000);
    assert_eq!(studio.written().await, (3, 2, 1, 7));
    integrity_holds(&studio.app).await;
}

// Proves bets cannot together overdraw a player: 50 concurrent bets of 2.00 against 20.00 are
// accepted exactly ten times, and the balance ends at zero, never below.
#[sqlx::test(migrations = "../migrations")]
async fn concurrent_bets_never_overdraw(pool: PgPool) {
    let studio = Studio::start(pool).await;
    studio.fund(2_000).await;
    let answers = futures::future::join_all((0..50).map(|index| {
        let studio = &studio;
        async move {
            studio
                .bet(&format!("bet-{index}"), &format!("round-{index}"), eur(200))
                .await
        }
    }))
    .await;
    let accepted = answers
        .iter()
        .filter(|answer| answer["status"] == "RS_OK")
        .count();
    let refused = answers
        .iter()
        .filter(|answer| answer["status"] == "RS_ERROR_NOT_ENOUGH_MONEY")
        .count();
    assert_eq!((accepted, refused), (10, 40));
    assert!(
        answers
            .iter()
            .filter(|answer| answer["status"] == "RS_ERROR_NOT_ENOUGH_MONEY")
            .all(|answer| answer["balance"]
                .as_i64()
                .is_some_and(|balance| balance < eur(200)))
    );
    assert_eq!(studio.cash_minor().await, 0);
    assert_eq!(studio.written().await, (10, 0, 0, 10));
}

// Proves every kind of bad call is answered with its documented status and writes nothing.
#[sqlx::test(migrations = "../migrations")]
async fn bad_calls_are_refused_and_write_nothing(pool: PgPool) {
    let studio = Studio::start(pool).await;
    studio.fund(10_000).await;
    let bet = studio.transaction("bad", "round-bad", Some(eur(100)), None);
    let body = bet.to_string();

    let (status, answer) = studio
        .post_raw(
            "hub88/transaction/bet",
            &body,
            Some(studio.signer.sign(b"another body")),
        )
        .await;
    assert_eq!(
        (status, answer["status"].as_str()),
        (200, Some("RS_ERROR_INVALID_SIGNATURE"))
    );
    let stranger = RequestSigner::generate().unwrap();
    let (_, answer) = studio
        .post_raw(
            "hub88/transaction/bet",
            &body,
            Some(stranger.sign(body.as_bytes())),
        )
        .await;
    assert_eq!(answer["status"], "RS_ERROR_INVALID_SIGNATURE");
    let (_, answer) = studio.post_raw("hub88/transaction/bet", &body, None).await;
    assert_eq!(answer["status"], "RS_ERROR_INVALID_SIGNATURE");
    let (status, _) = studio
        .post_raw(
            "unknown/transaction/bet",
            &body,
            Some(studio.signer.sign(body.as_bytes())),
        )
        .await;
    assert_eq!(status, 404);

    let signed = |body: &str| (body.to_owned(), studio.signer.sign(body.as_bytes()));
    let (malformed, signature) = signed("{\"user\": ");
    let (_, answer) = studio
        .post_raw("hub88/transaction/bet", &malformed, Some(signature))
        .await;
    assert_eq!(answer["status"], "RS_ERROR_WRONG_SYNTAX");

    let mut cases: Vec<(Value, &str)> = Vec::new();
    let with = |field: &str, value: Value| {
        let mut body = bet.clone();
        body[field] = value;
        body
    };
    cases.push((with("amount", json!("100000")), "RS_ERROR_WRONG_TYPES"));
    cases.push((with("amount", json!(0)), "RS_ERROR_WRONG_TYPES"));
    cases.push((with("amount", json!(-100_000)), "RS_ERROR_WRONG_TYPES"));
    cases.push((with("amount", json!(100_500)), "RS_ERROR_WRONG_TYPES"));
    cases.push((with("currency", json!("XXX")), "RS_ERROR_WRONG_CURRENCY"));
    cases.push((with("currency", json!("USD")), "RS_ERROR_WRONG_CURRENCY"));
    cases.push((
        with("token", json!("not-a-session")),
        "RS_ERROR_INVALID_TOKEN",
    ));
    cases.push((
        with("game_code", json!("other_game")),
        "RS_ERROR_INVALID_GAME",
    ));
    cases.push((with("is_free", json!(true)), "RS_ERROR_UNKNOWN"));
    cases.push((with("transaction_uuid", json!("")), "RS_ERROR_WRONG_SYNTAX"));
    let mut missing = bet.clone();
    missing.as_object_mut().unwrap().remove("round");
    cases.push((missing, "RS_ERROR_WRONG_TYPES"));
    // Another brand's player with this brand's token, and this token for that player.
    let (second_tenant, second_player) = player(&studio.app, SECOND_PLAYER_EMAIL).await;
    cases.push((
        with("user", json!(second_player.to_string())),
        "RS_ERROR_INVALID_TOKEN",
    ));
    fund(&studio.app, second_tenant, second_player, 10_000).await;
    let second_token = launch(&studio.app, second_tenant, second_player).await;
    cases.push((with("token", json!(second_token)), "RS_ERROR_INVALID_TOKEN"));
    for (body, expected) in cases {
        let answer = studio.call("transaction/bet", body.clone()).await;
        assert_eq!(answer["status"], expected, "{body}");
        assert_eq!(answer["request_uuid"], bet["request_uuid"], "{body}");
    }
    assert_eq!(studio.written().await, (0, 0, 0, 0));
    assert_eq!(
        studio
            .app
            .count("SELECT count(*) FROM game_transactions")
            .await,
        0
    );
    assert_eq!(studio.cash_minor().await, 10_000);
    assert_eq!(
        cash_minor(&studio.app, second_tenant, second_player).await,
        10_000
    );
}

// Proves protection applies to play: a self-excluded player's bet is refused while a win for
// an earlier bet is still credited; a loss limit refuses the bet that would break it, counts
// wins back, and leaves the room it names.
#[sqlx::test(migrations = "../migrations")]
async fn exclusion_and_loss_limits_stop_bets_not_wins(pool: PgPool) {
    let studio = Studio::start(pool).await;
    studio.fund(10_000).await;
    sqlx::query(
        "INSERT INTO loss_limits (tenant_id, player_id, period, currency, amount_minor, updated_at)
         VALUES ($1, $2, 'day', 'EUR', 3000, now())",
    )
    .bind(studio.tenant_id)
    .bind(studio.player_id)
    .execute(&studio.app.pool)
    .await
    .unwrap();
    assert_eq!(studio.bet("b1", "r1", eur(2_000)).await["status"], "RS_OK");
    let refused = studio.bet("b2", "r2", eur(1_500)).await;
    assert_eq!(refused["status"], "RS_ERROR_LIMIT_REACHED");
    assert_eq!(refused["balance"], eur(8_000));
    // A win gives room back: net loss 20.00 - 10.00 = 10.00 of 30.00.
    assert_eq!(
        studio.win("w1", "r1", eur(1_000), "b1").await["status"],
        "RS_OK"
    );
    assert_eq!(studio.bet("b2", "r2", eur(1_500)).await["status"], "RS_OK");
    assert_eq!(
        studio.bet("b3", "r3", eur(600)).await["status"],
        "RS_ERROR_LIMIT_REACHED"
    );
    assert_eq!(studio.bet("b3", "r3", eur(500)).await["status"], "RS_OK");
    assert_eq!(
        studio.cash_minor().await,
        10_000 - 2_000 + 1_000 - 1_500 - 500
    );

    let now = studio.app.now();
    sqlx::query(
        "INSERT INTO self_exclusions (id, tenant_id, player_id, period, starts_at, ends_at, created_at)
         VALUES ($1, $2, $3, '24h', $4, $4 + interval '24 hours', $4)",
    )
    .bind(Uuid::new_v4())
    .bind(studio.tenant_id)
    .bind(studio.player_id)
    .bind(now - Duration::seconds(1))
    .execute(&studio.app.pool)
    .await
    .unwrap();
    let excluded = studio.bet("b4", "r4", eur(100)).await;
    assert_eq!(excluded["status"], "RS_ERROR_USER_DISABLED");
    let win = studio.win("w3", "r3", eur(2_000), "b3").await;
    assert_eq!(win["status"], "RS_OK");
    assert_eq!(studio.cash_minor().await, 9_000);
    integrity_holds(&studio.app).await;
}

/// The demo studio's round form, posted as the game page's browser does.
async fn roll(app: &TestApp, url: &str, chaos: &str) -> String {
    let parsed = reqwest::Url::parse(&format!("{}{url}", app.base)).unwrap();
    let pairs: Vec<(String, String)> = parsed.query_pairs().into_owned().collect();
    let value = |name: &str| pairs.iter().find(|(key, _)| key == name).unwrap().1.clone();
    let response = app
        .http
        .post(format!("{}/demo-games/dice/roll", app.base))
        .header("origin", &app.base)
        .form(&[
            ("token", value("token")),
            ("user", value("user")),
            ("stake_minor", "200".to_owned()),
            ("chaos", chaos.to_owned()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 303);
    let (status, _, page) = app.get_page(url, None).await;
    assert_eq!(status, 200);
    page
}

// Proves the built-in demo studio plays through the wallet over real HTTP with real signatures:
// the lobby lists it, launching opens its page with the balance, every round is one bet (and a
// win when the roll wins) with the balance moving accordingly, a lost answer is rolled back, a
// rollback sent first refuses its bet, and duplicates cost nothing.
#[sqlx::test(migrations = "../migrations")]
async fn the_demo_studio_plays_through_the_wallet(pool: PgPool) {
    let app = common::spawn_app(pool).await;
    let (tenant_id, player_id) = player(&app, PLAYER_EMAIL).await;
    fund(&app, tenant_id, player_id, 5_000).await;
    let cookie = app.log_in("auth/login", PLAYER_EMAIL).await;
    let lobby = app.call("games/lobby", &[], Some(&cookie)).await;
    assert_eq!(lobby.status, 200, "{lobby:?}");
    assert_eq!(lobby.json["games"][0]["code"], "kasa_dice");
    assert_eq!(lobby.json["games"][0]["rtp_percent"], "98.00");
    assert_eq!(lobby.json["currencies"], json!(["EUR"]));
    let launched = app
        .call(
            "games/launch",
            &[
                ("provider", "demo"),
                ("code", "kasa_dice"),
                ("currency", "EUR"),
            ],
            Some(&cookie),
        )
        .await;
    assert_eq!(launched.status, 200, "{launched:?}");
    let url = launched.json["url"].as_str().unwrap().to_owned();
    let (status, _, page) = app.get_page(&url, None).await;
    assert_eq!(status, 200);
    assert!(page.contains("50.00 EUR"), "{page}");

    for _ in 0..6 {
        roll(&app, &url, "none").await;
    }
    let (bets, wins): (i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE kind = 'bet'), count(*) FILTER (WHERE kind = 'win')
           FROM game_transactions WHERE tenant_id = $1",
    )
    .bind(tenant_id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(bets, 6);
    assert_eq!(
        cash_minor(&app, tenant_id, player_id).await,
        5_000 - 6 * 200 + wins * 400
    );

    let before = cash_minor(&app, tenant_id, player_id).await;
    let page = roll(&app, &url, "lost_answer").await;
    assert!(page.contains("rolled back"), "{page}");
    assert_eq!(cash_minor(&app, tenant_id, player_id).await, before);
    let page = roll(&app, &url, "rollback_first").await;
    assert!(page.contains("RS_ERROR_TRANSACTION_ROLLED_BACK"), "{page}");
    assert_eq!(cash_minor(&app, tenant_id, player_id).await, before);
    let journals_before = app
        .count("SELECT count(*) FROM ledger_journals WHERE kind = 'bet'")
        .await;
    roll(&app, &url, "duplicate").await;
    assert_eq!(
        app.count("SELECT count(*) FROM ledger_journals WHERE kind = 'bet'")
            .await,
        journals_before + 1
    );
    let tombstones = app
        .count("SELECT count(*) FROM game_transactions WHERE tombstone")
        .await;
    assert_eq!(tombstones, 1);
    integrity_holds(&app).await;

    // The wallet lists the nine rounds, newest first, each with its calls and what it netted;
    // staff see the same rounds with their journals on the player's page.
    let rounds = app.call("games/rounds", &[], Some(&cookie)).await;
    assert_eq!(rounds.status, 200, "{rounds:?}");
    let rounds = rounds.json.as_array().unwrap().clone();
    assert_eq!(rounds.len(), 9);
    let kinds = |round: &Value| -> Vec<String> {
        round["calls"]
            .as_array()
            .unwrap()
            .iter()
            .map(|call| call["kind"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        kinds(&rounds[1]),
        ["rollback"],
        "rollback first: a tombstone alone"
    );
    assert_eq!(
        kinds(&rounds[2]),
        ["bet", "rollback"],
        "a lost answer, rolled back"
    );
    assert_eq!(rounds[2]["net"]["amount"], "0.00");
    let net_cents: i64 = rounds
        .iter()
        .map(|round| {
            let amount = round["net"]["amount"].as_str().unwrap().replace('.', "");
            amount.parse::<i64>().unwrap()
        })
        .sum();
    assert_eq!(
        net_cents,
        cash_minor(&app, tenant_id, player_id).await - 5_000
    );
    let support = app.log_in("admin/login", "support@demo.kasa.test").await;
    let detail = app
        .call(
            "backoffice/player",
            &[("player", &player_id.to_string())],
            Some(&support),
        )
        .await;
    assert_eq!(detail.status, 200, "{detail:?}");
    assert_eq!(detail.json["rounds"].as_array().map(Vec::len), Some(9));
    let journal = &detail.json["rounds"][2]["calls"][0]["journal_id"];
    let kind: String = sqlx::query_scalar("SELECT kind FROM ledger_journals WHERE id = $1::uuid")
        .bind(journal.as_str().unwrap())
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(kind, "bet");

    // Another brand's player cannot launch this brand's game session for themselves.
    let refused = app
        .call(
            "games/launch",
            &[
                ("provider", "demo"),
                ("code", "no_such_game"),
                ("currency", "EUR"),
            ],
            Some(&cookie),
        )
        .await;
    assert_eq!(refused.status, 404);
}
