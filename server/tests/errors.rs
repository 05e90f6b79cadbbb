//! The server's one error type against a real database: a named constraint that a request can
//! trip reaches the caller as its stable code, any other constraint as `internal` with nothing
//! of the database's text.

mod common;
mod withdrawals_support;

use app::error::{AppError, ErrorCode};
use common::*;
use kasa_server::error::ServerError;
use sqlx::PgPool;
use withdrawals_support::{FINANCE, fund, log_in_all, requested};

#[sqlx::test(migrations = "../migrations")]
async fn maker_checker_constraint_reaches_the_caller_as_its_code(pool: PgPool) {
    let app = spawn_app(pool).await;
    let actors = log_in_all(&app).await;
    fund(&app, &actors.finance, "100.00").await;
    let withdrawal = requested(&app, &actors.player, "10.00").await;
    let finance_id: uuid::Uuid = sqlx::query_scalar("SELECT id FROM staff WHERE email = $1")
        .bind(FINANCE)
        .fetch_one(&app.pool)
        .await
        .unwrap();

    // One person as both maker and checker: the table refuses it even if the code did not.
    let refused = sqlx::query(
        "UPDATE withdrawals SET first_approved_by = $2, approved_by = $2 WHERE id = $1",
    )
    .bind(withdrawal)
    .bind(finance_id)
    .execute(&app.pool)
    .await
    .unwrap_err();
    let error = ServerError::from(refused);
    assert_eq!(error.constraint(), Some("withdrawals_two_people"));
    let answer = AppError::from(error);
    assert_eq!(answer.code, ErrorCode::InvalidStateTransition);
    assert_eq!(answer.code.status(), 409);

    let unchanged: Option<uuid::Uuid> =
        sqlx::query_scalar("SELECT approved_by FROM withdrawals WHERE id = $1")
            .bind(withdrawal)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(unchanged, None, "the refused statement wrote nothing");
}

#[sqlx::test(migrations = "../migrations")]
async fn an_unmapped_constraint_is_internal_and_says_nothing_of_the_database(pool: PgPool) {
    let app = spawn_app(pool).await;
    // A session for nobody breaks `sessions_one_subject`, which no request can reach.
    let refused = sqlx::query(
        "INSERT INTO sessions (token_sha256, tenant_id, expires_at)
         SELECT sha256('x'), id, now() FROM tenants LIMIT 1",
    )
    .execute(&app.pool)
    .await
    .unwrap_err();
    let error = ServerError::from(refused);
    assert_eq!(error.constraint(), Some("sessions_one_subject"));
    let answer = AppError::from(error);
    assert_eq!(answer.code, ErrorCode::Internal);
    assert!(!answer.message.contains("sessions"), "{}", answer.message);
}
