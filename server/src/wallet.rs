//! The wallet's server side: a player's balances and history, read from the ledger and scoped
//! to the logged-in player of the request's tenant.

use app::api::RequestCtx;
use app::error::AppError;
use app::wallet::api::WalletApi;
use app::wallet::{HISTORY_PAGE_SIZE, MovementPage, WalletBalance, WalletMovement};

use crate::ledger::{self, AccountKind, HistoryCursor, HistoryQuery, JournalKind};
use crate::services::Services;

#[async_trait::async_trait]
impl WalletApi for Services {
    async fn balances(&self, ctx: &RequestCtx) -> Result<Vec<WalletBalance>, AppError> {
        let (tenant, player_id) = self.require_player(ctx).await?;
        let balances = ledger::player_balances(self.pool(), tenant.id, player_id).await?;
        Ok(balances
            .into_iter()
            .map(|balance| WalletBalance {
                currency: balance.currency,
                available: balance.available,
                held: balance.held,
            })
            .collect())
    }

    async fn history(
        &self,
        ctx: &RequestCtx,
        before: Option<i64>,
        kind: Option<String>,
    ) -> Result<MovementPage, AppError> {
        let (tenant, player_id) = self.require_player(ctx).await?;
        let kinds = match kind.filter(|kind| !kind.is_empty()) {
            Some(kind) => vec![
                JournalKind::parse(kind)
                    .map_err(|_| AppError::invalid("kind", "Unknown kind of movement."))?,
            ],
            None => Vec::new(),
        };
        let query = HistoryQuery {
            kinds,
            before: before.map(HistoryCursor),
            limit: HISTORY_PAGE_SIZE,
            ..HistoryQuery::default()
        };
        let page = ledger::player_history(self.pool(), tenant.id, player_id, &query).await?;
        Ok(MovementPage {
            movements: page
                .entries
                .into_iter()
                .map(|entry| WalletMovement {
                    cursor: entry.cursor.0,
                    kind: entry.kind.as_str().to_owned(),
                    held: entry.account_kind == AccountKind::PlayerWithdrawalHold,
                    amount: entry.amount,
                    balance_after: entry.balance_after,
                    posted_at: entry.posted_at,
                })
                .collect(),
            next: page.next.map(|cursor| cursor.0),
        })
    }
}
