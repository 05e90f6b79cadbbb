//! Players for staff: search, one player's page (balances and movements from the ledger, KYC and
//! limits from player protection, deposits and withdrawals), and staff notes.

use app::api::RequestCtx;
use app::backoffice::players::{
    DepositLimitRow, NOTE_LENGTH_MAX, PLAYER_PAGE_SIZE, PLAYER_RECENT_ROWS, PlayerDetail,
    PlayerFunds, PlayerMovement, PlayerPayment, PlayerRow, PlayerSearchPage, StaffNote,
};
use app::domain::ids::{PlayerId, TenantId};
use app::domain::money::{Currency, SignedMoney};
use app::error::AppError;
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use super::{checked_idempotency_key, next_offset, page_offset};
use crate::audit::{self, Actor, AuditEvent};
use crate::error::ServerError;
use crate::ledger::{self, AccountKind, HistoryQuery};
use crate::services::Services;

/// Players matching `q`: an id exactly, else an email or name containing it (case-insensitive).
pub async fn search(
    pool: &PgPool,
    tenant_id: TenantId,
    q: Option<String>,
    offset: Option<i64>,
) -> Result<PlayerSearchPage, ServerError> {
    let q = q.map(|q| q.trim().to_owned()).filter(|q| !q.is_empty());
    if q.as_ref().is_some_and(|q| q.chars().count() > 254) {
        return Err(AppError::invalid("q", "Search for at most 254 characters.").into());
    }
    let id = q.as_deref().and_then(|q| Uuid::parse_str(q).ok());
    // The fragment is matched literally: LIKE's wildcards in it are escaped.
    let pattern = q.as_ref().map(|q| {
        format!(
            "%{}%",
            q.to_lowercase()
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        )
    });
    let offset = page_offset(offset);
    let players: Vec<PlayerSqlRow> = sqlx::query_as(
        "SELECT id, email, display_name, created_at FROM players
          WHERE tenant_id = $1
            AND ($2::uuid IS NOT NULL AND id = $2
                 OR $2::uuid IS NULL AND ($3::text IS NULL OR email LIKE $3 OR lower(display_name) LIKE $3))
          ORDER BY email, id
          LIMIT $4 OFFSET $5",
    )
    .bind(tenant_id)
    .bind(id)
    .bind(&pattern)
    .bind(PLAYER_PAGE_SIZE)
    .bind(offset)
    .fetch_all(pool)
    .await?;
    Ok(PlayerSearchPage {
        next_offset: next_offset(players.len(), offset, PLAYER_PAGE_SIZE),
        players: players
            .into_iter()
            .map(|row| PlayerRow {
                id: row.id,
                email: row.email,
                display_name: row.display_name,
                created_at: row.created_at,
            })
            .collect(),
    })
}

#[derive(sqlx::FromRow)]
struct PlayerSqlRow {
    id: PlayerId,
    email: String,
    display_name: String,
    created_at: DateTime<Utc>,
}

fn money(minor: i64, currency: &str) -> Result<SignedMoney, ServerError> {
    let currency = Currency::parse(currency)?;
    Ok(SignedMoney::from_minor_units(minor, currency))
}

/// One of the player's deposits or withdrawals.
#[derive(sqlx::FromRow)]
struct PaymentRow {
    id: Uuid,
    provider: Option<String>,
    amount_minor: i64,
    currency: String,
    state: String,
    created_at: DateTime<Utc>,
    completed_at: Option<DateTime<Utc>>,
}

/// A deposit limit, with a raise that waits for its cooling-off period.
#[derive(sqlx::FromRow)]
struct LimitRow {
    period: String,
    currency: String,
    amount_minor: i64,
    pending_amount_minor: Option<i64>,
    pending_effective_at: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
struct KycRow {
    state: String,
    updated_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct NoteRow {
    id: Uuid,
    body: String,
    staff_email: String,
    created_at: DateTime<Utc>,
}

impl From<NoteRow> for StaffNote {
    fn from(row: NoteRow) -> StaffNote {
        StaffNote {
            id: row.id,
            body: row.body,
            staff_email: row.staff_email,
            created_at: row.created_at,
        }
    }
}

fn payments(rows: Vec<PaymentRow>) -> Result<Vec<PlayerPayment>, ServerError> {
    rows.into_iter()
        .map(|row| {
            Ok(PlayerPayment {
                amount: money(row.amount_minor, &row.currency)?,
                id: row.id,
                provider: row.provider,
                state: row.state,
                created_at: row.created_at,
                completed_at: row.completed_at,
            })
        })
        .collect()
}

pub async fn detail(
    services: &Services,
    tenant_id: TenantId,
    player_id: PlayerId,
    can_act: bool,
) -> Result<PlayerDetail, ServerError> {
    let pool = services.pool();
    let player: PlayerSqlRow = sqlx::query_as(
        "SELECT id, email, display_name, created_at FROM players WHERE tenant_id = $1 AND id = $2",
    )
    .bind(tenant_id)
    .bind(player_id)
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| AppError::not_found("Player"))?;
    let (funds, movements) = funds_and_movements(pool, tenant_id, player_id).await?;
    let kyc: Option<KycRow> = sqlx::query_as(
        "SELECT state, updated_at FROM player_kyc WHERE tenant_id = $1 AND player_id = $2",
    )
    .bind(tenant_id)
    .bind(player_id)
    .fetch_optional(pool)
    .await?;
    let deposit_limits = deposit_limits(pool, tenant_id, player_id).await?;
    let self_excluded: Option<Option<DateTime<Utc>>> = sqlx::query_scalar(
        "SELECT ends_at FROM self_exclusions
          WHERE tenant_id = $1 AND player_id = $2 AND starts_at <= $3 AND (ends_at IS NULL OR ends_at > $3)
          ORDER BY ends_at DESC NULLS FIRST LIMIT 1",
    )
    .bind(tenant_id)
    .bind(player_id)
    .bind(services.now())
    .fetch_optional(pool)
    .await?;
    let (deposits, withdrawals) = recent_payments(pool, tenant_id, player_id).await?;
    let notes = notes(pool, tenant_id, player_id).await?;
    let rounds =
        crate::games::rounds::recent(pool, tenant_id, player_id, app::games::RECENT_ROUNDS).await?;
    Ok(PlayerDetail {
        id: player_id,
        email: player.email,
        display_name: player.display_name,
        created_at: player.created_at,
        funds,
        kyc_state: kyc
            .as_ref()
            .map_or_else(|| "unverified".to_owned(), |kyc| kyc.state.clone()),
        kyc_updated_at: kyc.map(|kyc| kyc.updated_at),
        deposit_limits,
        self_excluded,
        movements,
        rounds,
        deposits,
        withdrawals,
        notes,
        can_act,
    })
}

/// The player's balances per currency and latest ledger movements.
async fn funds_and_movements(
    pool: &PgPool,
    tenant_id: TenantId,
    player_id: PlayerId,
) -> Result<(Vec<PlayerFunds>, Vec<PlayerMovement>), ServerError> {
    let funds = ledger::player_balances(pool, tenant_id, player_id)
        .await?
        .into_iter()
        .map(|balance| PlayerFunds {
            available: balance.available,
            held: balance.held,
            owed: balance.owed,
        })
        .collect();
    let history = ledger::player_history(
        pool,
        tenant_id,
        player_id,
        &HistoryQuery {
            limit: PLAYER_RECENT_ROWS as u32,
            ..HistoryQuery::default()
        },
    )
    .await?;
    let movements = history
        .entries
        .into_iter()
        .map(|entry| PlayerMovement {
            journal_id: entry.journal_id.0,
            kind: entry.kind.to_string(),
            reference: entry.reference,
            held: entry.account_kind == AccountKind::PlayerWithdrawalHold,
            amount: entry.amount,
            balance_after: entry.balance_after,
            posted_at: entry.posted_at,
        })
        .collect();
    Ok((funds, movements))
}

async fn deposit_limits(
    pool: &PgPool,
    tenant_id: TenantId,
    player_id: PlayerId,
) -> Result<Vec<DepositLimitRow>, ServerError> {
    let limits: Vec<LimitRow> = sqlx::query_as(
        "SELECT period, currency::text, amount_minor, pending_amount_minor, pending_effective_at
           FROM deposit_limits WHERE tenant_id = $1 AND player_id = $2
          ORDER BY CASE period WHEN 'day' THEN 1 WHEN 'week' THEN 2 ELSE 3 END",
    )
    .bind(tenant_id)
    .bind(player_id)
    .fetch_all(pool)
    .await?;
    let mut deposit_limits = Vec::with_capacity(limits.len());
    for limit in limits {
        deposit_limits.push(DepositLimitRow {
            amount: money(limit.amount_minor, &limit.currency)?,
            pending: limit
                .pending_amount_minor
                .map(|minor| money(minor, &limit.currency))
                .transpose()?,
            period: limit.period,
            pending_effective_at: limit.pending_effective_at,
        });
    }
    Ok(deposit_limits)
}

/// The player's latest deposits and withdrawals.
async fn recent_payments(
    pool: &PgPool,
    tenant_id: TenantId,
    player_id: PlayerId,
) -> Result<(Vec<PlayerPayment>, Vec<PlayerPayment>), ServerError> {
    let deposits: Vec<PaymentRow> = sqlx::query_as(
        "SELECT id, provider::text, amount_minor, currency::text, state, created_at,
                captured_at AS completed_at
           FROM deposits WHERE tenant_id = $1 AND player_id = $2
          ORDER BY created_at DESC, id LIMIT $3",
    )
    .bind(tenant_id)
    .bind(player_id)
    .bind(PLAYER_RECENT_ROWS)
    .fetch_all(pool)
    .await?;
    let withdrawals: Vec<PaymentRow> = sqlx::query_as(
        "SELECT w.id,
                (SELECT a.provider::text FROM payout_attempts a WHERE a.withdrawal_id = w.id
                  ORDER BY a.attempt_number DESC LIMIT 1) AS provider,
                w.amount_minor, w.currency::text, w.state, w.created_at, w.paid_at AS completed_at
           FROM withdrawals w WHERE w.tenant_id = $1 AND w.player_id = $2
          ORDER BY w.created_at DESC, w.id LIMIT $3",
    )
    .bind(tenant_id)
    .bind(player_id)
    .bind(PLAYER_RECENT_ROWS)
    .fetch_all(pool)
    .await?;
    Ok((payments(deposits)?, payments(withdrawals)?))
}

async fn notes(
    pool: &PgPool,
    tenant_id: TenantId,
    player_id: PlayerId,
) -> Result<Vec<StaffNote>, ServerError> {
    let notes: Vec<NoteRow> = sqlx::query_as(
        "SELECT n.id, n.body, s.email AS staff_email, n.created_at
           FROM staff_notes n JOIN staff s ON s.tenant_id = n.tenant_id AND s.id = n.staff_id
          WHERE n.tenant_id = $1 AND n.player_id = $2
          ORDER BY n.created_at DESC, n.id LIMIT 100",
    )
    .bind(tenant_id)
    .bind(player_id)
    .fetch_all(pool)
    .await?;
    Ok(notes.into_iter().map(StaffNote::from).collect())
}

/// Adds a note and its audit event in one transaction. The player's row is locked first, so the
/// same click arriving twice adds one note: the second finds the first's audit event by its key.
pub async fn add_note(
    services: &Services,
    ctx: &RequestCtx,
    tenant_id: TenantId,
    staff: &crate::auth::StaffMember,
    player_id: PlayerId,
    body: &str,
    idempotency_key: &str,
) -> Result<StaffNote, ServerError> {
    let body = body.trim();
    if body.is_empty() || body.chars().count() > NOTE_LENGTH_MAX {
        return Err(AppError::invalid(
            "body",
            format!("Write a note of 1 to {NOTE_LENGTH_MAX} characters."),
        )
        .into());
    }
    let idempotency_key = checked_idempotency_key(idempotency_key)?;
    let scoped_key = format!("staff-note:{idempotency_key}");
    let mut tx = services.pool().begin().await?;
    crate::protection::lock_player(&mut tx, tenant_id, player_id).await?;
    let earlier: Option<String> = sqlx::query_scalar(
        "SELECT e.after ->> 'note_id' FROM audit_events e
          WHERE e.tenant_id = $1 AND e.actor_id = $2 AND e.action = 'player.note_added'
            AND e.idempotency_key = $3",
    )
    .bind(tenant_id)
    .bind(staff.id.to_string())
    .bind(&scoped_key)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(earlier) = earlier {
        tx.commit().await?;
        let note_id = Uuid::parse_str(&earlier).map_err(ServerError::internal)?;
        return note(services.pool(), tenant_id, note_id).await;
    }
    let note_id = Uuid::new_v4();
    let now = services.now();
    sqlx::query(
        "INSERT INTO staff_notes (id, tenant_id, player_id, staff_id, body, created_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(note_id)
    .bind(tenant_id)
    .bind(player_id)
    .bind(staff.id)
    .bind(body)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let event = AuditEvent {
        tenant_id,
        actor: Actor::Staff(staff.id),
        action: "player.note_added".into(),
        target_type: "player".into(),
        target_id: player_id.to_string(),
        before: None,
        // The note's id is kept here, so a replayed click finds the note it created.
        after: Some(serde_json::json!({"note_id": note_id, "body": body})),
        reason: None,
        request_id: audit::request_id(ctx),
        idempotency_key: Some(scoped_key),
        ip: audit::client_ip(ctx),
        at: now,
    };
    audit::record(&mut tx, &event).await?;
    tx.commit().await?;
    Ok(StaffNote {
        id: note_id,
        body: body.to_owned(),
        staff_email: staff.email.clone(),
        created_at: now,
    })
}

async fn note(pool: &PgPool, tenant_id: TenantId, note_id: Uuid) -> Result<StaffNote, ServerError> {
    let row: NoteRow = sqlx::query_as(
        "SELECT n.id, n.body, s.email AS staff_email, n.created_at
           FROM staff_notes n JOIN staff s ON s.tenant_id = n.tenant_id AND s.id = n.staff_id
          WHERE n.tenant_id = $1 AND n.id = $2",
    )
    .bind(tenant_id)
    .bind(note_id)
    .fetch_one(pool)
    .await?;
    Ok(StaffNote::from(row))
}
