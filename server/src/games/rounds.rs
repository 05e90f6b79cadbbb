//! A player's game rounds, read from the calls the wallet recorded: what the wallet page and
//! the staff player page list, one line per round with its calls and their journals.

use app::domain::ids::{PlayerId, TenantId};
use app::domain::money::{Currency, SignedMoney};
use app::games::{RoundCall, RoundView};
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use crate::error::{ServerError, ServerResult};

#[derive(sqlx::FromRow)]
struct CallRow {
    provider: String,
    round_id: String,
    game_code: String,
    currency: String,
    kind: String,
    tx_id: String,
    amount_minor: i64,
    journal_id: Option<Uuid>,
    created_at: DateTime<Utc>,
}

/// The player's latest `limit` rounds (by their latest call), newest first, each with its calls
/// in order.
pub async fn recent(
    pool: &PgPool,
    tenant_id: TenantId,
    player_id: PlayerId,
    limit: i64,
) -> ServerResult<Vec<RoundView>> {
    let rows: Vec<CallRow> = sqlx::query_as(
        "WITH recent AS (
             SELECT provider, round_id, max(seq) AS last_seq FROM game_transactions
              WHERE tenant_id = $1 AND player_id = $2
              GROUP BY provider, round_id ORDER BY max(seq) DESC LIMIT $3
         )
         SELECT g.provider, g.round_id, g.game_code, g.currency, g.kind, g.tx_id, g.amount_minor,
                g.journal_id, g.created_at
           FROM game_transactions g
           JOIN recent r ON r.provider = g.provider AND r.round_id = g.round_id
          WHERE g.tenant_id = $1 AND g.player_id = $2
          ORDER BY r.last_seq DESC, g.seq",
    )
    .bind(tenant_id)
    .bind(player_id)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    let mut rounds: Vec<RoundView> = Vec::new();
    for row in rows {
        let currency = Currency::parse(&row.currency)
            .map_err(|_| ServerError::unknown_stored("game currency", &row.currency))?;
        let money = |minor: i64| SignedMoney::from_minor_units(minor, currency);
        let same_round = rounds
            .last()
            .is_some_and(|round| round.provider == row.provider && round.round_id == row.round_id);
        if !same_round {
            rounds.push(RoundView {
                provider: row.provider.clone(),
                round_id: row.round_id.clone(),
                game: row.game_code.clone(),
                started_at: row.created_at,
                staked: money(0),
                won: money(0),
                returned: money(0),
                net: money(0),
                calls: Vec::new(),
            });
        }
        let Some(round) = rounds.last_mut() else {
            continue;
        };
        let amount = money(row.amount_minor);
        let add = |total: SignedMoney| total.checked_add(amount).unwrap_or(total);
        match row.kind.as_str() {
            "bet" => round.staked = add(round.staked),
            "win" => round.won = add(round.won),
            "rollback" => round.returned = add(round.returned),
            other => return Err(ServerError::unknown_stored("game transaction kind", other)),
        }
        round.net = money(
            round.won.minor_units() + round.returned.minor_units() - round.staked.minor_units(),
        );
        round.calls.push(RoundCall {
            kind: row.kind,
            tx_id: row.tx_id,
            amount,
            journal_id: row.journal_id,
            at: row.created_at,
        });
    }
    Ok(rounds)
}
