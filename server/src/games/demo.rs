//! The built-in demo game provider, "Kasa Dice": a product feature for demos and tests, like the
//! mock PSP (on outside production, refused in production). It is an outside studio in all but
//! location: it plays by calling the wallet over real HTTP with real RSA signatures, through the
//! same Hub88-shaped adapter every provider uses (`/api/v1/games/demo/…`), retries a bet with the
//! same transaction id when an answer times out, and rolls the bet back when no answer comes.
//!
//! The game: roll a number from 1 to 100; 49 or less pays twice the stake. The return to player
//! is therefore 49 × 2 / 100 = 98 %. Each round's outcome comes from a CSPRNG (ChaCha) seeded
//! with 32 fresh bytes from the operating system; the seed is shown with the round, so anyone can
//! recompute the roll.
//!
//! Test options on the form (`chaos`) make it misbehave as real studios do: `duplicate` sends
//! every call twice, `lost_answer` drops the bet's answer (the studio then rolls the bet back),
//! `rollback_first` sends the rollback before its bet (the bet is then refused).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use app::domain::ids::{PlayerId, TenantId};
use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use rand::{Rng, SeedableRng};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use super::hub88::{self, Answer, RS_OK, SIGNATURE_HEADER};
use super::signature::RequestSigner;
use crate::config::Config;
use crate::http::hosted::{self, Frame, html_escape};
use crate::services::Services;

/// The provider name the demo studio's calls come under.
pub const DEMO_PROVIDER: &str = "demo";
/// Its one game.
pub const DICE: &str = "kasa_dice";
pub const DICE_NAME: &str = "Kasa Dice";
/// The published return to player, in percent.
pub const DICE_RTP_PERCENT: &str = "98.00";
/// A roll at or under this wins.
const WINNING_ROLL_MAX: u32 = 49;
const PAYOUT_MULTIPLIER: i64 = 2;
/// The stakes offered, in minor units.
const STAKES_MINOR: [i64; 4] = [100, 200, 500, 1_000];
/// How long the studio waits for one answer, and how often it asks before giving up.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);
const CALL_ATTEMPTS: u32 = 3;
/// Rounds the studio keeps per session for the page's history.
const HISTORY_LENGTH: usize = 20;

/// The row of `installation_secrets` holding the studio's generated private key.
const INSTALLATION_KEY_NAME: &str = "demo_games_rsa_key";

/// Puts the installation's demo studio key into `config` when demo games are on and no key is
/// configured: generated once, kept in the database, the same for every process.
pub async fn resolve_key(config: &mut Config, pool: &PgPool) -> anyhow::Result<()> {
    if !config.demo_games || config.demo_games_key.is_some() {
        return Ok(());
    }
    let existing: Option<String> =
        sqlx::query_scalar("SELECT value FROM installation_secrets WHERE name = $1")
            .bind(INSTALLATION_KEY_NAME)
            .fetch_optional(pool)
            .await?;
    let pem = match existing {
        Some(pem) => pem,
        None => {
            let generated = tokio::task::spawn_blocking(RequestSigner::generate).await??;
            sqlx::query(
                "INSERT INTO installation_secrets (name, value, created_at) VALUES ($1, $2, now())
                 ON CONFLICT (name) DO NOTHING",
            )
            .bind(INSTALLATION_KEY_NAME)
            .bind(generated.private_pem()?)
            .execute(pool)
            .await?;
            sqlx::query_scalar("SELECT value FROM installation_secrets WHERE name = $1")
                .bind(INSTALLATION_KEY_NAME)
                .fetch_one(pool)
                .await?
        }
    };
    config.demo_games_key = Some(SecretString::from(pem));
    Ok(())
}

/// Offers Kasa Dice at the tenant (demo data calls it for the demo brands).
pub async fn seed_game(pool: &PgPool, tenant_id: TenantId) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO games (tenant_id, provider, code, name, rtp_percent, enabled, created_at)
         VALUES ($1, $2, $3, $4, $5::numeric, true, now())
         ON CONFLICT DO NOTHING",
    )
    .bind(tenant_id)
    .bind(DEMO_PROVIDER)
    .bind(DICE)
    .bind(DICE_NAME)
    .bind(DICE_RTP_PERCENT)
    .execute(pool)
    .await?;
    Ok(())
}

/// One round as the studio remembers it.
#[derive(Debug, Clone)]
struct Round {
    id: String,
    stake_minor: i64,
    roll: Option<u32>,
    seed_hex: String,
    payout_minor: i64,
    outcome: String,
}

/// The demo studio: its signing key, its HTTP client and its memory of rounds.
#[derive(Clone)]
pub struct DemoStudio {
    signer: RequestSigner,
    http: reqwest::Client,
    wallet_base: String,
    rounds: Arc<Mutex<HashMap<String, VecDeque<Round>>>>,
}

impl DemoStudio {
    /// The studio when demo games are on and the key is resolved.
    pub fn from_config(config: &Config) -> Option<DemoStudio> {
        let pem = config
            .demo_games_key
            .as_ref()
            .filter(|_| config.demo_games)?;
        let signer = match RequestSigner::from_pem(pem.expose_secret()) {
            Ok(signer) => signer,
            Err(error) => {
                tracing::error!(%error, "the demo studio's key does not parse");
                return None;
            }
        };
        let http = reqwest::Client::builder()
            .timeout(CALL_TIMEOUT)
            .build()
            .ok()?;
        Some(DemoStudio {
            signer,
            http,
            wallet_base: format!("{}/api/v1/games/{DEMO_PROVIDER}", config.public_origin),
            rounds: Arc::default(),
        })
    }

    pub fn signer(&self) -> &RequestSigner {
        &self.signer
    }

    /// One signed call; `None` when no answer came (timeout, connection refused).
    async fn send(&self, endpoint: &str, body: &serde_json::Value) -> Option<Answer> {
        let body = body.to_string();
        let response = self
            .http
            .post(format!("{}/{endpoint}", self.wallet_base))
            .header("content-type", "application/json")
            .header(SIGNATURE_HEADER, self.signer.sign(body.as_bytes()))
            .body(body)
            .send()
            .await
            .ok()?;
        let body = response.bytes().await.ok()?;
        serde_json::from_slice(&body).ok()
    }

    /// A call retried with the same body (so the same transaction id) until it is answered.
    async fn call(&self, endpoint: &str, body: &serde_json::Value) -> Option<Answer> {
        for _ in 0..CALL_ATTEMPTS {
            if let Some(answer) = self.send(endpoint, body).await {
                return Some(answer);
            }
        }
        None
    }

    fn remember(&self, token: &str, round: Round) {
        if let Ok(mut rounds) = self.rounds.lock() {
            let history = rounds.entry(token.to_owned()).or_default();
            history.push_front(round);
            history.truncate(HISTORY_LENGTH);
        }
    }

    fn history(&self, token: &str) -> Vec<Round> {
        self.rounds
            .lock()
            .ok()
            .and_then(|rounds| {
                rounds
                    .get(token)
                    .map(|history| history.iter().cloned().collect())
            })
            .unwrap_or_default()
    }

    /// Plays one round: bet, roll, and on a win the payout; a bet whose answer never came is
    /// rolled back.
    async fn play(&self, play: &Play) -> Round {
        let seed: [u8; 32] = rand::random();
        let roll = rand::rngs::StdRng::from_seed(seed).random_range(1..=100_u32);
        let round_id = Uuid::new_v4().to_string();
        let bet_tx = Uuid::new_v4().to_string();
        let units_per_minor = hub88::units_per_minor(play.currency);
        let transaction = |tx: &str, amount: Option<i64>, reference: Option<&str>| {
            let mut body = json!({
                "user": play.user,
                "transaction_uuid": tx,
                "supplier_transaction_id": tx,
                "token": play.token,
                "round": round_id,
                "round_closed": amount.is_none() || reference.is_some(),
                "request_uuid": Uuid::new_v4().to_string(),
                "is_free": false,
                "game_code": DICE,
                "bet": "roll_under_50",
            });
            if let Some(amount) = amount {
                body["currency"] = json!(play.currency.code());
                body["amount"] = json!(amount * units_per_minor);
            }
            if let Some(reference) = reference {
                body["reference_transaction_uuid"] = json!(reference);
            }
            body
        };
        let mut round = Round {
            id: round_id.clone(),
            stake_minor: play.stake_minor,
            roll: None,
            seed_hex: hex::encode(seed),
            payout_minor: 0,
            outcome: String::new(),
        };
        let bet = transaction(&bet_tx, Some(play.stake_minor), None);
        let rollback = transaction(&Uuid::new_v4().to_string(), None, Some(&bet_tx));
        if play.chaos == Chaos::RollbackFirst {
            self.call("transaction/rollback", &rollback).await;
        }
        let mut answer = self.call("transaction/bet", &bet).await;
        if play.chaos == Chaos::Duplicate {
            answer = self.call("transaction/bet", &bet).await;
        }
        if play.chaos == Chaos::LostAnswer {
            answer = None;
        }
        let Some(answer) = answer else {
            let rolled_back = self.call("transaction/rollback", &rollback).await;
            round.outcome = match rolled_back {
                Some(answer) if answer.status == RS_OK => "no answer to the bet: rolled back",
                _ => "no answer to the bet, nor to its rollback",
            }
            .to_owned();
            return round;
        };
        if answer.status != RS_OK {
            round.outcome = format!("bet refused: {}", answer.status);
            return round;
        }
        round.roll = Some(roll);
        if roll > WINNING_ROLL_MAX {
            round.outcome = "lost".to_owned();
            return round;
        }
        let payout = play.stake_minor * PAYOUT_MULTIPLIER;
        let win = transaction(&Uuid::new_v4().to_string(), Some(payout), Some(&bet_tx));
        let mut paid = self.call("transaction/win", &win).await;
        if play.chaos == Chaos::Duplicate {
            paid = self.call("transaction/win", &win).await;
        }
        round.outcome = match paid {
            Some(answer) if answer.status == RS_OK => {
                round.payout_minor = payout;
                "won".to_owned()
            }
            Some(answer) => format!("win refused: {}", answer.status),
            None => "won, but the payout was not confirmed".to_owned(),
        };
        round
    }
}

/// How the studio misbehaves on a round (test options).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Chaos {
    #[default]
    None,
    Duplicate,
    LostAnswer,
    RollbackFirst,
}

struct Play {
    token: String,
    user: String,
    currency: app::domain::money::Currency,
    stake_minor: i64,
    chaos: Chaos,
}

pub fn routes(services: Services) -> Router {
    if services.game_providers().demo().is_none() {
        return Router::new();
    }
    Router::new()
        .route("/demo-games/dice", get(dice_page))
        .route("/demo-games/dice/roll", post(dice_roll))
        .with_state(services)
}

#[derive(Debug, Deserialize)]
struct PageQuery {
    token: String,
    user: String,
}

#[derive(Debug, Deserialize)]
struct RollForm {
    token: String,
    user: String,
    stake_minor: i64,
    #[serde(default)]
    chaos: Chaos,
}

fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        Html(page("Game not found", "<p>This game does not exist.</p>")),
    )
        .into_response()
}

async fn dice_page(State(services): State<Services>, Query(query): Query<PageQuery>) -> Response {
    let Some(studio) = services.game_providers().demo() else {
        return not_found();
    };
    let balance = studio
        .call(
            "user/balance",
            &json!({"user": query.user, "token": query.token,
                    "request_uuid": Uuid::new_v4().to_string(), "game_code": DICE}),
        )
        .await;
    let Some(balance) = balance.filter(|answer| answer.status == RS_OK) else {
        return (
            StatusCode::FORBIDDEN,
            Html(page(
                DICE_NAME,
                "<p>This game session is not valid. Open the game from the lobby again.</p>",
            )),
        )
            .into_response();
    };
    let (Some(currency), Some(units)) = (balance.currency.as_deref(), balance.balance) else {
        return not_found();
    };
    let Ok(currency) = app::domain::money::Currency::parse(currency) else {
        return not_found();
    };
    let shown = |minor: i64| {
        let amount = app::domain::money::SignedMoney::from_minor_units(minor, currency);
        format!("{} {}", amount.format_amount(), currency.code())
    };
    let balance_minor = units / hub88::units_per_minor(currency);
    let stakes: String = STAKES_MINOR
        .iter()
        .map(|stake| format!(r#"<option value="{stake}">{}</option>"#, shown(*stake)))
        .collect();
    let history = studio.history(&query.token);
    let rounds: String = history
        .iter()
        .map(|round| {
            format!(
                r#"<tr data-testid="dice-round"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class="muted"><code>{}</code></td></tr>"#,
                shown(round.stake_minor),
                round.roll.map_or("–".to_owned(), |roll| roll.to_string()),
                shown(round.payout_minor),
                html_escape(&round.outcome),
                &round.seed_hex[..16],
            )
        })
        .collect();
    let last = history.first().map_or(String::new(), |round| {
        format!(
            r#"<p class="notice" role="status" data-testid="dice-result">Round {}: {}</p>"#,
            html_escape(&round.id[..8]),
            html_escape(&round.outcome)
        )
    });
    let body = format!(
        r#"<p>Roll a number from 1 to 100: {WINNING_ROLL_MAX} or less pays {PAYOUT_MULTIPLIER} × your stake. Return to player {DICE_RTP_PERCENT} %. Each roll comes from a CSPRNG seeded with fresh random bytes; the seed is shown with the round.</p>
<p>Balance: <strong data-testid="dice-balance">{balance}</strong></p>
{last}
<form method="post" action="/demo-games/dice/roll">
<input type="hidden" name="token" value="{token}"><input type="hidden" name="user" value="{user}">
<label for="stake">Stake</label> <select id="stake" name="stake_minor">{stakes}</select>
<label for="chaos">Test option</label> <select id="chaos" name="chaos"><option value="none">none</option><option value="duplicate">send every call twice</option><option value="lost_answer">lose the bet's answer</option><option value="rollback_first">rollback before the bet</option></select>
<button type="submit" data-testid="dice-roll">Roll</button>
</form>
<table><caption>Your last rounds</caption><thead><tr><th scope="col">Stake</th><th scope="col">Roll</th><th scope="col">Payout</th><th scope="col">Outcome</th><th scope="col">Seed</th></tr></thead><tbody>{rounds}</tbody></table>
<p><a href="/games">Back to the lobby</a></p>"#,
        balance = shown(balance_minor),
        token = html_escape(&query.token),
        user = html_escape(&query.user),
    );
    Html(page(DICE_NAME, &body)).into_response()
}

async fn dice_roll(State(services): State<Services>, Form(form): Form<RollForm>) -> Response {
    let Some(studio) = services.game_providers().demo() else {
        return not_found();
    };
    if !STAKES_MINOR.contains(&form.stake_minor) {
        return (
            StatusCode::BAD_REQUEST,
            Html(page(DICE_NAME, "<p>Choose one of the stakes offered.</p>")),
        )
            .into_response();
    }
    let session = super::sessions::find(services.pool(), DEMO_PROVIDER, &form.token).await;
    let Ok(Some(session)) = session else {
        return (
            StatusCode::FORBIDDEN,
            Html(page(
                DICE_NAME,
                "<p>This game session is not valid. Open the game from the lobby again.</p>",
            )),
        )
            .into_response();
    };
    let play = Play {
        token: form.token.clone(),
        user: form.user.clone(),
        currency: session.currency,
        stake_minor: form.stake_minor,
        chaos: form.chaos,
    };
    let round = studio.play(&play).await;
    studio.remember(&form.token, round);
    Redirect::to(&game_page(&form.token, &form.user)).into_response()
}

/// The game page's URL for a session: `/demo-games/dice?token=…&user=…`, percent-encoded.
fn game_page(token: &str, user: &str) -> String {
    let Ok(mut url) = reqwest::Url::parse("http://studio.invalid/demo-games/dice") else {
        return "/demo-games/dice".to_owned();
    };
    url.query_pairs_mut()
        .append_pair("token", token)
        .append_pair("user", user);
    format!("{}?{}", url.path(), url.query().unwrap_or_default())
}

/// The URL a launched session opens.
pub fn launch_url(token: &str, player_id: PlayerId) -> String {
    game_page(token, &player_id.to_string())
}

const DEMO_STUDIO_FRAME: Frame = Frame {
    brand: "Kasa Demo Games",
    tagline: "a demo studio: plays with your Kasa balance through the game wallet",
    card_class: "card",
    test_id: "demo-game",
};

fn page(title: &str, body: &str) -> String {
    hosted::page(&DEMO_STUDIO_FRAME, title, body)
}
