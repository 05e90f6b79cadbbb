//! The lobby's server side (`app::games::api::GamesApi`): the brand's enabled games of the
//! providers this installation accepts, launching one into a game session, and the player's
//! latest rounds.

use app::api::RequestCtx;
use app::domain::ids::PlayerId;
use app::domain::money::Currency;
use app::error::AppError;
use app::games::api::GamesApi;
use app::games::{GameView, LaunchedGame, Lobby, RECENT_ROUNDS, RoundView};

use super::{demo, sessions};
use crate::error::ServerResult;
use crate::ledger;
use crate::protection::refuse_if_excluded;
use crate::services::Services;
use crate::tenants::Tenant;

#[async_trait::async_trait]
impl GamesApi for Services {
    async fn lobby(&self, ctx: &RequestCtx) -> Result<Lobby, AppError> {
        let (tenant, player_id) = self.require_player(ctx).await?;
        Ok(lobby(self, &tenant, player_id).await?)
    }

    async fn rounds(&self, ctx: &RequestCtx) -> Result<Vec<RoundView>, AppError> {
        let (tenant, player_id) = self.require_player(ctx).await?;
        Ok(super::rounds::recent(self.pool(), tenant.id, player_id, RECENT_ROUNDS).await?)
    }

    async fn launch(
        &self,
        ctx: &RequestCtx,
        provider: String,
        code: String,
        currency: String,
    ) -> Result<LaunchedGame, AppError> {
        let (tenant, player_id) = self.require_player(ctx).await?;
        Ok(launch(self, &tenant, player_id, &provider, &code, &currency).await?)
    }
}

async fn lobby(services: &Services, tenant: &Tenant, player_id: PlayerId) -> ServerResult<Lobby> {
    let accepted: Vec<String> = services
        .game_providers()
        .names()
        .map(str::to_owned)
        .collect();
    let games: Vec<GameView> = sqlx::query_as(
        "SELECT provider, code, name, rtp_percent::text AS rtp_percent FROM games
          WHERE tenant_id = $1 AND enabled AND provider = ANY ($2)
          ORDER BY name, provider, code",
    )
    .bind(tenant.id)
    .bind(&accepted)
    .fetch_all(services.pool())
    .await?;
    let mut balances = ledger::player_balances(services.pool(), tenant.id, player_id).await?;
    balances.sort_by_key(|balance| std::cmp::Reverse(balance.available.minor_units()));
    Ok(Lobby {
        games,
        currencies: balances
            .into_iter()
            .filter(|balance| !balance.available.is_zero())
            .map(|balance| balance.currency)
            .collect(),
    })
}

async fn launch(
    services: &Services,
    tenant: &Tenant,
    player_id: PlayerId,
    provider: &str,
    code: &str,
    currency: &str,
) -> ServerResult<LaunchedGame> {
    let currency = Currency::parse(currency.trim())
        .map_err(|_| AppError::invalid("currency", "Choose one of the currencies offered."))?;
    let now = services.now();
    let mut conn = services.pool().acquire().await?;
    refuse_if_excluded(&mut conn, tenant.id, player_id, now, "Games").await?;
    drop(conn);
    // Only the demo studio opens from here: launching a Hub88 game asks Hub88's Games API for
    // its URL, which Kasa does not call yet.
    if provider != demo::DEMO_PROVIDER || services.game_providers().demo().is_none() {
        return Err(AppError::not_found("Game").into());
    }
    let launched = sessions::launch(
        services.pool(),
        tenant.id,
        player_id,
        provider,
        code,
        currency,
        now,
    )
    .await?
    .ok_or_else(|| AppError::not_found("Game"))?;
    Ok(LaunchedGame {
        url: demo::launch_url(&launched.token, player_id),
    })
}
