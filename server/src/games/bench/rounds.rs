//! The rounds the wallet benchmark plays: a provider's signed HTTP calls, or the same journals
//! posted straight to the ledger, by many clients at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::bail;
use app::domain::ids::{PlayerId, TenantId};
use app::domain::money::{Currency, Money};
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use super::super::hub88::{self, SIGNATURE_HEADER};
use super::super::signature::RequestSigner;
use super::{Figures, GAME_CODE, Plan, Seeded};
use crate::db::scratch;
use crate::ledger::{
    AccountRef, IdempotencyKey, JournalKind, NewJournal, NewTransfer, post_journal,
};

/// Bets are 0.01 to 10.00 EUR.
const BET_AMOUNT_MINOR_MAX: i64 = 1_000;
/// One round in this many has a win.
const ROUNDS_PER_WIN: u32 = 3;
/// A win pays this many tenths of its bet: with one winning round in three, about the 96 % a
/// slot returns to its players.
const WIN_TENTHS_OF_BET: i64 = 29;
/// Numbers the rounds, so that no transaction id or idempotency key replays another.
static NEXT_ROUND_NUMBER: AtomicU64 = AtomicU64::new(0);

/// One round's stake and, on a winning round, its win, in cents.
pub(super) struct Round {
    pub(super) number: u64,
    pub(super) bet_minor: i64,
    win_minor: Option<i64>,
}

impl Round {
    pub(super) fn next() -> Round {
        let bet_minor = rand::random_range(1..=BET_AMOUNT_MINOR_MAX);
        let wins = rand::random_range(0..ROUNDS_PER_WIN) == 0;
        Round {
            number: NEXT_ROUND_NUMBER.fetch_add(1, Ordering::Relaxed),
            bet_minor,
            win_minor: wins.then_some(bet_minor * WIN_TENTHS_OF_BET / 10),
        }
    }
}

/// A game provider's side of the wallet protocol: signed JSON over one keep-alive HTTP client.
#[derive(Clone)]
pub(super) struct WalletClient {
    pub(super) http: reqwest::Client,
    /// `http://127.0.0.1:<port>/api/v1/games/hub88`.
    pub(super) base: Arc<String>,
    pub(super) signer: Arc<RequestSigner>,
}

/// A call's body, signed: what a provider sends, and what it sends again when it retries.
pub(super) struct Signed {
    body: String,
    signature: String,
    signing: Duration,
}

impl WalletClient {
    pub(super) fn sign(&self, body: &Value) -> Signed {
        let started = Instant::now();
        let body = body.to_string();
        let signature = self.signer.sign(body.as_bytes());
        Signed {
            body,
            signature,
            signing: started.elapsed(),
        }
    }

    /// POSTs a signed call to `endpoint`; its answer, or why there is none.
    pub(super) async fn call(&self, endpoint: &str, signed: &Signed) -> anyhow::Result<Value> {
        let response = self
            .http
            .post(format!("{}/{endpoint}", self.base))
            .header("content-type", "application/json")
            .header(SIGNATURE_HEADER, &signed.signature)
            .body(signed.body.clone())
            .send()
            .await?;
        let status = response.status();
        let bytes = response.bytes().await?;
        if !status.is_success() {
            bail!("HTTP {status}: {}", String::from_utf8_lossy(&bytes));
        }
        Ok(serde_json::from_slice(&bytes)?)
    }
}

/// A Hub88 transaction call's body: a bet, or (with `reference`) a win for it.
pub(super) fn transaction_body(
    player_id: PlayerId,
    token: &str,
    tx_id: &str,
    round_id: &str,
    amount_minor: i64,
    reference: Option<&str>,
) -> Value {
    let mut body = json!({
        "user": player_id.to_string(),
        "transaction_uuid": tx_id,
        "token": token,
        "round": round_id,
        "round_closed": reference.is_some(),
        "request_uuid": Uuid::new_v4().to_string(),
        "is_free": false,
        "game_code": GAME_CODE,
        "currency": Currency::Eur.code(),
        "amount": amount_minor * hub88::units_per_minor(Currency::Eur),
    });
    if let Some(reference) = reference {
        body["reference_transaction_uuid"] = json!(reference);
    }
    body
}

/// Sends one signed call and checks that the wallet took it.
pub(super) async fn wallet_call(
    client: &WalletClient,
    endpoint: &str,
    signed: &Signed,
) -> anyhow::Result<()> {
    let answer = client.call(endpoint, signed).await?;
    if answer["status"] != hub88::RS_OK {
        bail!("{endpoint} answered {answer}");
    }
    Ok(())
}

/// What one round reports to the client loop that played it.
struct Played {
    result: anyhow::Result<()>,
    /// From sending the bet to its answer (or its failure).
    bet_latency: Duration,
    won: bool,
    signing: Duration,
    signatures: u64,
}

/// `plan.clients` clients, each playing `play`'s rounds back to back for `duration` after the
/// warm-up; only rounds that start and end inside the measured window count.
async fn run_clients<F, Fut>(plan: Plan, duration: Duration, play: F) -> anyhow::Result<Figures>
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Played> + Send,
{
    let rounds =
        scratch::closed_loop(plan.clients, plan.warm_up, duration, move |_| play()).await?;
    let mut figures = Figures {
        elapsed: duration,
        ..Figures::default()
    };
    for (played, _) in rounds {
        figures.signing += played.signing;
        figures.signatures += played.signatures;
        record_round(&mut figures, played);
    }
    figures.bet_latencies_us.sort_unstable();
    Ok(figures)
}

/// Game providers' connections playing rounds over HTTP: a signed bet, and a signed win for
/// one round in `ROUNDS_PER_WIN`.
pub(super) async fn run_wallet(
    client: &WalletClient,
    seeded: &Arc<Seeded>,
    plan: Plan,
    duration: Duration,
) -> anyhow::Result<Figures> {
    let (client, seeded) = (client.clone(), Arc::clone(seeded));
    run_clients(plan, duration, move || {
        let (client, seeded) = (client.clone(), Arc::clone(&seeded));
        async move { wallet_round(&client, &seeded).await }
    })
    .await
}

async fn wallet_round(client: &WalletClient, seeded: &Seeded) -> Played {
    let players = &seeded.wallet_players;
    let (player_id, token) = &players[rand::random_range(0..players.len())];
    let round = Round::next();
    let (bet_tx, round_id) = (
        format!("bench-bet-{}", round.number),
        format!("bench-round-{}", round.number),
    );
    let bet = client.sign(&transaction_body(
        *player_id,
        token,
        &bet_tx,
        &round_id,
        round.bet_minor,
        None,
    ));
    let bet_sent = Instant::now();
    let mut result = wallet_call(client, "transaction/bet", &bet).await;
    let bet_latency = bet_sent.elapsed();
    let (mut signing, mut signatures) = (bet.signing, 1);
    if let (Ok(()), Some(win_minor)) = (&result, round.win_minor) {
        let win = client.sign(&transaction_body(
            *player_id,
            token,
            &format!("bench-win-{}", round.number),
            &round_id,
            win_minor,
            Some(&bet_tx),
        ));
        signing += win.signing;
        signatures += 1;
        result = wallet_call(client, "transaction/win", &win).await;
    }
    Played {
        result,
        bet_latency,
        won: round.win_minor.is_some(),
        signing,
        signatures,
    }
}

/// The same rounds' journals posted straight to the ledger, in the ledger's tenant.
pub(super) async fn run_ledger(
    pool: &PgPool,
    seeded: &Arc<Seeded>,
    plan: Plan,
    duration: Duration,
) -> anyhow::Result<Figures> {
    let (pool, seeded) = (pool.clone(), Arc::clone(seeded));
    run_clients(plan, duration, move || {
        let (pool, seeded) = (pool.clone(), Arc::clone(&seeded));
        async move { ledger_round(&pool, &seeded).await }
    })
    .await
}

async fn ledger_round(pool: &PgPool, seeded: &Seeded) -> Played {
    let started = Instant::now();
    let players = &seeded.ledger_players;
    let player = AccountRef::PlayerCash(players[rand::random_range(0..players.len())]);
    let round = Round::next();
    let result = post_one(
        pool,
        seeded.ledger_tenant,
        JournalKind::BET,
        format!("bench-bet-{}", round.number),
        (player.clone(), AccountRef::House),
        round.bet_minor,
    )
    .await;
    let bet_latency = started.elapsed();
    let result = match (result, round.win_minor) {
        (Ok(()), Some(win_minor)) => {
            post_one(
                pool,
                seeded.ledger_tenant,
                JournalKind::WIN,
                format!("bench-win-{}", round.number),
                (AccountRef::House, player),
                win_minor,
            )
            .await
        }
        (result, _) => result,
    };
    Played {
        result,
        bet_latency,
        won: round.win_minor.is_some(),
        signing: Duration::ZERO,
        signatures: 0,
    }
}

/// Posts one journal of one transfer, `(debit, credit)`.
async fn post_one(
    pool: &PgPool,
    tenant_id: TenantId,
    kind: JournalKind,
    key: String,
    (debit, credit): (AccountRef, AccountRef),
    amount_minor: i64,
) -> anyhow::Result<()> {
    let journal = NewJournal::new(
        IdempotencyKey::parse(key)?,
        kind,
        vec![NewTransfer {
            debit,
            credit,
            amount: Money::from_minor_units(amount_minor, Currency::Eur)?,
        }],
    );
    post_journal(pool, tenant_id, &journal).await?;
    Ok(())
}

fn record_round(figures: &mut Figures, played: Played) {
    match played.result {
        Ok(()) => {
            figures.rounds += 1;
            figures.wins += u64::from(played.won);
            figures
                .bet_latencies_us
                .push(scratch::micros(played.bet_latency));
        }
        Err(error) => {
            figures.errors += 1;
            if figures.errors == 1 {
                eprintln!("kasa: a benchmark round failed: {error:#}");
            }
        }
    }
}
