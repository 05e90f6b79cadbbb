//! The mock PSP's payouts. Like a real PSP it keeps its own books (`mock_psp_payouts`), keyed by
//! the idempotency key Kasa sends, so one key is never paid twice. What a new payout does comes
//! from the oldest unused script for its withdrawal, else for its tenant
//! (`mock_psp_payout_scripts`); without one it succeeds:
//! - `succeed` / `fail`: recorded, answered, and reported by a `payout.*` webhook;
//! - `hang`: the request never reaches the mock (nothing recorded); the call times out;
//! - `lose_answer`: paid, but neither the answer nor a webhook arrives;
//! - `crash`: paid, then the server process is killed with SIGKILL before Kasa records the
//!   answer (test endpoints only: it exists to prove crash safety against the real binary).

use std::time::Duration;

use app::domain::money::{Currency, Money};
use serde_json::json;
use uuid::Uuid;

use super::mock::{DeliveryMode, MockPsp, NAME};
use super::{PayoutOutcome, PayoutRequest, PayoutStatus, PspError};

#[derive(Debug, Clone, sqlx::FromRow)]
struct MockPayout {
    id: String,
    idempotency_key: String,
    amount_minor: i64,
    currency: String,
    status: String,
    failure_code: Option<String>,
    failure_message: Option<String>,
}

impl MockPayout {
    fn status(&self) -> PayoutStatus {
        let outcome = match self.status.as_str() {
            "succeeded" => PayoutOutcome::Succeeded,
            "failed" => PayoutOutcome::Failed {
                code: self
                    .failure_code
                    .clone()
                    .unwrap_or_else(|| "payout_failed".into()),
                message: self
                    .failure_message
                    .clone()
                    .unwrap_or_else(|| "The payout failed.".into()),
            },
            _ => PayoutOutcome::Pending,
        };
        PayoutStatus {
            provider_reference: Some(self.id.clone()),
            idempotency_key: self.idempotency_key.clone(),
            outcome,
            amount: Currency::parse(&self.currency)
                .ok()
                .and_then(|currency| Money::from_minor_units(self.amount_minor, currency).ok()),
        }
    }

    fn event(&self) -> serde_json::Value {
        json!({
            "id": format!("mevt_{}", Uuid::new_v4().simple()),
            "type": format!("payout.{}", self.status),
            "created": chrono::Utc::now().timestamp(),
            "data": {"object": {
                "object": "payout",
                "id": self.id,
                "idempotency_key": self.idempotency_key,
                "amount_minor": self.amount_minor,
                "currency": self.currency,
                "failure_code": self.failure_code,
                "failure_message": self.failure_message,
            }}
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
struct Script {
    outcome: String,
    failure_code: Option<String>,
    delay_ms: i32,
}

fn unknown(error: impl std::fmt::Display) -> PspError {
    PspError::Unknown {
        provider: NAME.into(),
        message: error.to_string(),
    }
}

/// What a failure code says, as a PSP would word it.
fn failure_message(code: &str) -> String {
    match code {
        "account_closed" => "The recipient's bank account is closed.".into(),
        "invalid_account_number" => "The recipient's account number is invalid.".into(),
        "insufficient_funds" => "The payout balance at the provider is too low.".into(),
        other => format!("The payout was declined ({other})."),
    }
}

async fn find(psp: &MockPsp, idempotency_key: &str) -> Result<Option<MockPayout>, PspError> {
    sqlx::query_as(
        "SELECT id, idempotency_key, amount_minor, currency, status, failure_code, failure_message
           FROM mock_psp_payouts WHERE idempotency_key = $1",
    )
    .bind(idempotency_key)
    .fetch_optional(psp.pool())
    .await
    .map_err(unknown)
}

/// Takes the script for this payout: the withdrawal's own first, then the tenant's.
async fn claim_script(psp: &MockPsp, request: &PayoutRequest) -> Result<Script, PspError> {
    let script: Option<Script> = sqlx::query_as(
        "UPDATE mock_psp_payout_scripts SET used_at = now(), used_by_key = $3
          WHERE id = (SELECT id FROM mock_psp_payout_scripts
                       WHERE tenant_id = $1 AND used_at IS NULL
                         AND (withdrawal_id = $2 OR withdrawal_id IS NULL)
                       ORDER BY (withdrawal_id IS NULL), id
                       LIMIT 1 FOR UPDATE SKIP LOCKED)
         RETURNING outcome, failure_code, delay_ms",
    )
    .bind(request.tenant_id)
    .bind(request.withdrawal_id)
    .bind(&request.idempotency_key)
    .fetch_optional(psp.pool())
    .await
    .map_err(unknown)?;
    Ok(script.unwrap_or(Script {
        outcome: "succeed".into(),
        failure_code: None,
        delay_ms: 0,
    }))
}

pub async fn create(psp: &MockPsp, request: &PayoutRequest) -> Result<PayoutStatus, PspError> {
    // The same key again (a retried call): the payout it already made, nothing more.
    if let Some(existing) = find(psp, &request.idempotency_key).await? {
        return Ok(existing.status());
    }
    let script = claim_script(psp, request).await?;
    let delay = Duration::from_millis(u64::from(script.delay_ms.unsigned_abs()));
    let status = match script.outcome.as_str() {
        "hang" => {
            tokio::time::sleep(delay).await;
            return Err(unknown("the payout request timed out"));
        }
        "crash" if !psp.crash_allowed() => {
            return Err(PspError::Rejected {
                provider: NAME.into(),
                code: "script_refused".into(),
                message: "The crash outcome exists only in the test environment.".into(),
            });
        }
        "fail" => "failed",
        _ => "succeeded",
    };
    let failure_code = (status == "failed").then(|| {
        script
            .failure_code
            .clone()
            .unwrap_or_else(|| "account_closed".into())
    });
    sqlx::query(
        "INSERT INTO mock_psp_payouts
             (id, idempotency_key, tenant_id, withdrawal_id, amount_minor, currency, status,
              failure_code, failure_message, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, now(), now())
         ON CONFLICT (idempotency_key) DO NOTHING",
    )
    .bind(format!("mpo_{}", Uuid::new_v4().simple()))
    .bind(&request.idempotency_key)
    .bind(request.tenant_id)
    .bind(request.withdrawal_id)
    .bind(request.amount.to_minor_units())
    .bind(request.amount.currency().code())
    .bind(status)
    .bind(&failure_code)
    .bind(failure_code.as_deref().map(failure_message))
    .execute(psp.pool())
    .await
    .map_err(unknown)?;
    let payout = find(psp, &request.idempotency_key)
        .await?
        .ok_or_else(|| unknown("the payout vanished"))?;
    if script.outcome == "crash" {
        kill_this_process();
    }
    tokio::time::sleep(delay).await;
    if script.outcome == "lose_answer" {
        return Err(unknown("the connection closed before the answer arrived"));
    }
    psp.send(vec![payout.event()], DeliveryMode::Normal);
    Ok(payout.status())
}

pub async fn read(psp: &MockPsp, idempotency_key: &str) -> Result<PayoutStatus, PspError> {
    find(psp, idempotency_key)
        .await?
        .map(|payout| payout.status())
        .ok_or_else(|| PspError::NotFound {
            provider: NAME.into(),
            what: format!("payout {idempotency_key}"),
        })
}

/// SIGKILL to ourselves: no destructor, no flush, no answer, exactly like `kill -9`.
fn kill_this_process() -> ! {
    tracing::warn!("mock PSP: scripted crash after recording the payout");
    let _ = std::process::Command::new("kill")
        .arg("-KILL")
        .arg(std::process::id().to_string())
        .status();
    std::process::abort()
}
