//! The Hub88-shaped wallet protocol, mounted per provider under `/api/v1/games/{provider}/`:
//! `user/info`, `user/balance`, `transaction/bet`, `transaction/win`, `transaction/rollback`.
//! A thin adapter: it checks the signature over the raw body (`X-Hub88-Signature`, RSA-SHA256
//! with the provider's configured public key) before reading anything, reads the JSON, converts
//! amounts, calls the wallet core (`games::wallet`) and writes its answer in Hub88's terms.
//!
//! - Amounts are integers in 1/100,000 of the currency unit (`€3.56` is `356000`). An amount
//!   that is not positive, or finer than the currency's minor unit (a tenth of a cent), is
//!   refused with `RS_ERROR_WRONG_TYPES`, never rounded.
//! - Every answer is HTTP 200 with a `status`; `request_uuid` is echoed once the body was read;
//!   successful answers and refusals for a known player carry `user`, `currency` and `balance`.
//! - Status codes: see [`status`]; malformed JSON is `RS_ERROR_WRONG_SYNTAX`, a field of the
//!   wrong type or missing `RS_ERROR_WRONG_TYPES`, a bad signature `RS_ERROR_INVALID_SIGNATURE`.
//! - Free bets (`is_free`) are refused with `RS_ERROR_UNKNOWN`: Kasa runs no free-bet campaigns,
//!   and a free bet must not take the player's money.

use app::domain::money::{Currency, Money};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::model::{
    Applied, Balance, Bet, Caller, ProviderId, Refusal, Refused, Rollback, WalletError, Win,
};
use super::wallet;
use crate::services::Services;

/// The header carrying the signature.
pub const SIGNATURE_HEADER: &str = "x-hub88-signature";
/// Hub88's amounts are in this many parts of the currency's major unit.
pub const UNITS_PER_MAJOR: i64 = 100_000;

pub fn routes(services: Services) -> Router {
    Router::new()
        .route("/api/v1/games/{provider}/user/info", post(user_info))
        .route("/api/v1/games/{provider}/user/balance", post(user_balance))
        .route(
            "/api/v1/games/{provider}/transaction/{kind}",
            post(transaction),
        )
        .with_state(services)
}

/// The status Hub88 expects for each refusal of the wallet core.
pub const fn status(refusal: Refusal) -> &'static str {
    match refusal {
        Refusal::InvalidToken => "RS_ERROR_INVALID_TOKEN",
        Refusal::TokenExpired => "RS_ERROR_TOKEN_EXPIRED",
        Refusal::InvalidGame => "RS_ERROR_INVALID_GAME",
        Refusal::WrongCurrency => "RS_ERROR_WRONG_CURRENCY",
        Refusal::NotEnoughMoney => "RS_ERROR_NOT_ENOUGH_MONEY",
        Refusal::PlayerExcluded => "RS_ERROR_USER_DISABLED",
        Refusal::LossLimitReached { .. } => "RS_ERROR_LIMIT_REACHED",
        Refusal::DuplicateTransaction => "RS_ERROR_DUPLICATE_TRANSACTION",
        Refusal::UnknownTransaction => "RS_ERROR_TRANSACTION_DOES_NOT_EXIST",
        Refusal::TransactionRolledBack => "RS_ERROR_TRANSACTION_ROLLED_BACK",
        // Hub88 has no status of its own for it.
        Refusal::RoundSettled => "RS_ERROR_UNKNOWN",
    }
}

pub const RS_OK: &str = "RS_OK";
pub const RS_ERROR_UNKNOWN: &str = "RS_ERROR_UNKNOWN";
pub const RS_ERROR_INVALID_SIGNATURE: &str = "RS_ERROR_INVALID_SIGNATURE";
pub const RS_ERROR_WRONG_SYNTAX: &str = "RS_ERROR_WRONG_SYNTAX";
pub const RS_ERROR_WRONG_TYPES: &str = "RS_ERROR_WRONG_TYPES";
pub const RS_ERROR_WRONG_CURRENCY: &str = "RS_ERROR_WRONG_CURRENCY";
pub const RS_ERROR_INVALID_TOKEN: &str = "RS_ERROR_INVALID_TOKEN";

/// How many Hub88 units make one minor unit of `currency` (1,000 for EUR, 100,000 for JPY).
pub const fn units_per_minor(currency: Currency) -> i64 {
    UNITS_PER_MAJOR / currency.minor_units_per_major()
}

/// A Hub88 amount as money: positive and a whole number of the currency's minor units.
pub fn money(units: i64, currency: Currency) -> Option<Money> {
    let per_minor = units_per_minor(currency);
    if units <= 0 || units % per_minor != 0 {
        return None;
    }
    Money::from_minor_units(units / per_minor, currency).ok()
}

/// Every answer's body. Fields that are unknown for a refusal are left out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_uuid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub balance: Option<i64>,
}

impl Answer {
    fn status(status: &str, request_uuid: Option<String>) -> Answer {
        Answer {
            status: status.to_owned(),
            request_uuid,
            ..Answer::default()
        }
    }

    fn with_balance(mut self, balance: Balance) -> Answer {
        self.user = Some(balance.player_id.to_string());
        self.currency = Some(balance.currency.code().to_owned());
        self.balance = Some(balance.balance_minor * units_per_minor(balance.currency));
        self
    }
}

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        (StatusCode::OK, axum::Json(self)).into_response()
    }
}

#[derive(Debug, Deserialize)]
pub struct UserInfoRequest {
    pub user: String,
    pub request_uuid: String,
}

#[derive(Debug, Deserialize)]
pub struct BalanceRequest {
    pub user: Option<String>,
    pub token: String,
    pub request_uuid: String,
    pub game_code: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct TransactionRequest {
    pub user: String,
    pub transaction_uuid: String,
    pub token: String,
    pub round: String,
    pub request_uuid: String,
    pub game_code: String,
    /// Bets and wins only.
    pub currency: Option<String>,
    /// Bets and wins only, in 1/100,000 of the currency unit.
    pub amount: Option<i64>,
    /// Wins and rollbacks: the bet they refer to.
    pub reference_transaction_uuid: Option<String>,
    #[serde(default)]
    pub is_free: bool,
}

/// Why a request did not reach the wallet core.
enum Unread {
    UnknownProvider,
    Refused(Answer),
}

/// The provider's signature checked over the raw body, then the body read as `T`.
fn read<T: DeserializeOwned>(
    services: &Services,
    provider: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<T, Unread> {
    let verifier = services
        .game_providers()
        .verifier(provider)
        .ok_or(Unread::UnknownProvider)?;
    let header = headers
        .get(SIGNATURE_HEADER)
        .and_then(|value| value.to_str().ok());
    if let Err(error) = verifier.verify(header, body) {
        tracing::warn!(%provider, %error, "game wallet call refused");
        return Err(Unread::Refused(Answer::status(
            RS_ERROR_INVALID_SIGNATURE,
            None,
        )));
    }
    serde_json::from_slice(body).map_err(|error| {
        let status = if error.is_data() {
            RS_ERROR_WRONG_TYPES
        } else {
            RS_ERROR_WRONG_SYNTAX
        };
        // The body is signed, so its request_uuid may be echoed even when the rest is unusable.
        let request_uuid = serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .and_then(|value| value["request_uuid"].as_str().map(str::to_owned));
        Unread::Refused(Answer::status(status, request_uuid))
    })
}

fn unread(error: Unread) -> Response {
    match error {
        Unread::UnknownProvider => (
            StatusCode::NOT_FOUND,
            axum::Json(serde_json::json!({"error": "unknown game provider"})),
        )
            .into_response(),
        Unread::Refused(answer) => answer.into_response(),
    }
}

fn outcome(result: Result<Applied, WalletError>, request_uuid: String) -> Response {
    match result {
        Ok(applied) => Answer::status(RS_OK, Some(request_uuid))
            .with_balance(applied.balance)
            .into_response(),
        Err(WalletError::Refused(Refused { refusal, balance })) => {
            if let Refusal::LossLimitReached { room_minor } = refusal {
                tracing::info!(
                    code = refusal.code(),
                    room_minor,
                    "game wallet call refused"
                );
            } else {
                tracing::info!(code = refusal.code(), "game wallet call refused");
            }
            let answer = Answer::status(status(refusal), Some(request_uuid));
            match balance {
                Some(balance) => answer.with_balance(balance),
                None => answer,
            }
            .into_response()
        }
        Err(WalletError::Server(error)) => {
            tracing::error!(%error, "game wallet call failed");
            Answer::status(RS_ERROR_UNKNOWN, Some(request_uuid)).into_response()
        }
    }
}

async fn user_info(
    State(services): State<Services>,
    Path(provider): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request: UserInfoRequest = match read(&services, &provider, &headers, &body) {
        Ok(request) => request,
        Err(error) => return unread(error),
    };
    let known = match super::player_of_provider(services.pool(), &provider, &request.user).await {
        Ok(known) => known,
        Err(error) => {
            tracing::error!(%error, "game wallet user info failed");
            return Answer::status(RS_ERROR_UNKNOWN, Some(request.request_uuid)).into_response();
        }
    };
    if !known {
        return Answer::status(RS_ERROR_INVALID_TOKEN, Some(request.request_uuid)).into_response();
    }
    Answer {
        user: Some(request.user),
        ..Answer::status(RS_OK, Some(request.request_uuid))
    }
    .into_response()
}

async fn user_balance(
    State(services): State<Services>,
    Path(provider): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request: BalanceRequest = match read(&services, &provider, &headers, &body) {
        Ok(request) => request,
        Err(error) => return unread(error),
    };
    let caller = Caller {
        provider: &provider,
        token: &request.token,
        user: request.user.as_deref(),
    };
    let result = wallet::balance(services.pool(), caller)
        .await
        .map(|balance| Applied {
            balance,
            replayed: false,
        });
    outcome(result, request.request_uuid)
}

/// The transaction request's ids and (for bets and wins) its money, or the answer refusing it.
struct Parsed {
    tx_id: ProviderId,
    round_id: ProviderId,
    game: ProviderId,
    reference_tx: Option<ProviderId>,
    amount: Option<Money>,
}

fn parse(request: &TransactionRequest, with_money: bool) -> Result<Parsed, Answer> {
    let refuse = |status: &str| Answer::status(status, Some(request.request_uuid.clone()));
    let id = |value: &str| ProviderId::parse(value).ok_or_else(|| refuse(RS_ERROR_WRONG_SYNTAX));
    let reference_tx = request
        .reference_transaction_uuid
        .as_deref()
        .map(id)
        .transpose()?;
    let amount = if with_money {
        let currency = request
            .currency
            .as_deref()
            .ok_or_else(|| refuse(RS_ERROR_WRONG_TYPES))?;
        let currency = Currency::parse(currency).map_err(|_| refuse(RS_ERROR_WRONG_CURRENCY))?;
        let units = request.amount.ok_or_else(|| refuse(RS_ERROR_WRONG_TYPES))?;
        Some(money(units, currency).ok_or_else(|| refuse(RS_ERROR_WRONG_TYPES))?)
    } else {
        None
    };
    Ok(Parsed {
        tx_id: id(&request.transaction_uuid)?,
        round_id: id(&request.round)?,
        game: id(&request.game_code)?,
        reference_tx,
        amount,
    })
}

/// `transaction/bet`, `transaction/win` and `transaction/rollback`: one shape of request, told
/// apart by the path.
async fn transaction(
    State(services): State<Services>,
    Path((provider, kind)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !matches!(kind.as_str(), "bet" | "win" | "rollback") {
        return StatusCode::NOT_FOUND.into_response();
    }
    let (services, provider, kind) = (&services, provider.as_str(), kind.as_str());
    let request: TransactionRequest = match read(services, provider, &headers, &body) {
        Ok(request) => request,
        Err(error) => return unread(error),
    };
    let parsed = match parse(&request, kind != "rollback") {
        Ok(parsed) => parsed,
        Err(answer) => return answer.into_response(),
    };
    let refuse =
        |status: &str| Answer::status(status, Some(request.request_uuid.clone())).into_response();
    if request.is_free {
        return refuse(RS_ERROR_UNKNOWN);
    }
    let caller = Caller {
        provider,
        token: &request.token,
        user: Some(&request.user),
    };
    let (pool, now) = (services.pool(), services.now());
    let Parsed {
        tx_id,
        round_id,
        game,
        reference_tx,
        amount,
    } = parsed;
    let result = match (kind, amount, reference_tx) {
        ("bet", Some(amount), None) => {
            let bet = Bet {
                tx_id,
                round_id,
                game,
                amount,
            };
            wallet::bet(pool, now, caller, &bet).await
        }
        ("win", Some(amount), Some(reference_tx)) => {
            let win = Win {
                tx_id,
                round_id,
                game,
                reference_tx,
                amount,
            };
            wallet::win(pool, now, caller, &win).await
        }
        ("rollback", None, Some(reference_tx)) => {
            let rollback = Rollback {
                tx_id,
                round_id,
                game,
                reference_tx,
            };
            wallet::rollback(pool, now, caller, &rollback).await
        }
        // A bet naming a reference, or a win or rollback without one.
        _ => return refuse(RS_ERROR_WRONG_TYPES),
    };
    outcome(result, request.request_uuid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_whole_minor_units_never_rounded() {
        let eur = |units| money(units, Currency::Eur).map(|money| money.to_minor_units());
        assert_eq!(eur(356_000), Some(356));
        assert_eq!(eur(1_000), Some(1));
        assert_eq!(eur(356_500), None, "a tenth of a cent");
        assert_eq!(eur(1), None);
        assert_eq!(eur(0), None);
        assert_eq!(eur(-100_000), None);
        let jpy = |units| money(units, Currency::Jpy).map(|money| money.to_minor_units());
        assert_eq!(jpy(500_000), Some(5));
        assert_eq!(jpy(50_000), None, "half a yen");
        assert_eq!(units_per_minor(Currency::Eur), 1_000);
    }
}
