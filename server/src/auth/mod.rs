//! Accounts and sessions on the server: registration, log-in with throttling, log-out, and the
//! checks every server function starts with (`authenticate`, `require_staff`, `require_player`).

pub mod password;
pub mod second_factor;
pub mod session;
pub mod throttle;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use app::api::RequestCtx;
use app::auth::api::AuthApi;
use app::auth::{Realm, StaffRole, Viewer, ViewerKind};
use app::domain::ids::{PlayerId, StaffId, TenantId};
use app::error::{AppError, ErrorCode};
use axum::extract::ConnectInfo;
use http::{HeaderValue, header};
use secrecy::SecretString;
use uuid::Uuid;

use crate::client_address::ClientAddress;
use crate::error::{ServerError, ServerResult};
use crate::services::Services;
use crate::tenants::Tenant;
use session::Subject;

/// The same answer for an unknown email and a wrong password, so neither can be told apart.
const INVALID_CREDENTIALS: &str = "Email or password is incorrect.";

/// When the browser sends a cookie along with a request from elsewhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SameSite {
    /// On top-level navigations from other sites too (the session: links into Kasa work).
    Lax,
    /// Only on requests from Kasa's own pages.
    Strict,
}

/// The value of the request's cookie `name`, if it sent one.
pub(crate) fn request_cookie(ctx: &RequestCtx, name: &str) -> Option<String> {
    ctx.parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
}

/// The person a session names, as its viewer query reads them (`role` is staff's only).
#[derive(sqlx::FromRow)]
struct ViewerRow {
    email: String,
    display_name: String,
    role: Option<String>,
}

/// A logged-in staff member, as the role checks return it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StaffMember {
    pub id: StaffId,
    #[sqlx(try_from = "String")]
    pub role: StaffRole,
    pub email: String,
    pub display_name: String,
}

impl Services {
    /// The tenant this request is for (set by the tenant middleware from the host name).
    pub fn tenant(&self, ctx: &RequestCtx) -> Result<Tenant, ServerError> {
        Ok(ctx
            .parts
            .extensions
            .get::<Tenant>()
            .cloned()
            .ok_or_else(|| AppError::not_found("Casino"))?)
    }

    /// The session behind the request's cookie, if it is live and belongs to this tenant.
    pub async fn authenticate(
        &self,
        ctx: &RequestCtx,
    ) -> Result<Option<(Tenant, Subject)>, ServerError> {
        let tenant = self.tenant(ctx)?;
        let Some(token) = self.session_token(ctx) else {
            return Ok(None);
        };
        let session = self.sessions().find(&token, tenant.id, self.now()).await?;
        Ok(session.map(|session| (tenant, session.subject)))
    }

    /// Staff of this tenant with at least `role_min`: anonymous → 401, players and weaker
    /// roles → 403.
    pub async fn require_staff(
        &self,
        ctx: &RequestCtx,
        role_min: StaffRole,
    ) -> Result<(Tenant, StaffMember), ServerError> {
        match self.authenticate(ctx).await? {
            None => Err(AppError::unauthenticated().into()),
            Some((_, Subject::Player(_))) => {
                Err(AppError::new(ErrorCode::Forbidden, "This needs a staff account.").into())
            }
            Some((tenant, Subject::Staff(id))) => {
                let staff: Option<StaffMember> = sqlx::query_as(
                    "SELECT id, role, email, display_name FROM staff WHERE tenant_id = $1 AND id = $2",
                )
                .bind(tenant.id)
                .bind(id)
                .fetch_optional(self.pool())
                .await?;
                let staff = staff.ok_or_else(AppError::unauthenticated)?;
                if staff.role < role_min {
                    return Err(AppError::new(
                        ErrorCode::Forbidden,
                        format!("This needs the {} role or higher.", role_min.as_str()),
                    )
                    .into());
                }
                Ok((tenant, staff))
            }
        }
    }

    /// Heavy staff operations (integrity check, audit verification, exports) are counted per
    /// staff member and operation: a few runs are free, then each waits a growing delay.
    pub async fn limit_staff_operation(
        &self,
        tenant_id: TenantId,
        staff_id: StaffId,
        operation: &str,
    ) -> Result<(), ServerError> {
        let key = throttle::Key::staff_operation(tenant_id, staff_id, operation);
        Ok(throttle::acquire(self.pool(), &[key], self.now())
            .await?
            .map_err(throttle::Refusal::into_error)?)
    }

    /// A player of this tenant: anonymous → 401, staff → 403.
    pub async fn require_player(
        &self,
        ctx: &RequestCtx,
    ) -> Result<(Tenant, PlayerId), ServerError> {
        match self.authenticate(ctx).await? {
            None => Err(AppError::unauthenticated().into()),
            Some((tenant, Subject::Player(id))) => Ok((tenant, id)),
            Some((_, Subject::Staff(_))) => {
                Err(AppError::new(ErrorCode::Forbidden, "This needs a player account.").into())
            }
        }
    }

    fn session_token(&self, ctx: &RequestCtx) -> Option<String> {
        request_cookie(ctx, self.config().session_cookie_name())
    }

    fn set_session_cookie(&self, ctx: &RequestCtx, token: &str, max_age_s: i64) {
        self.set_cookie(
            ctx,
            self.config().session_cookie_name(),
            token,
            SameSite::Lax,
            max_age_s,
        );
    }

    /// Sets an HttpOnly cookie for the whole site (`Secure` where the configuration says).
    pub(crate) fn set_cookie(
        &self,
        ctx: &RequestCtx,
        name: &str,
        value: &str,
        same_site: SameSite,
        max_age_s: i64,
    ) {
        let secure = if self.config().secure_cookies {
            "; Secure"
        } else {
            ""
        };
        let same_site = match same_site {
            SameSite::Lax => "Lax",
            SameSite::Strict => "Strict",
        };
        let cookie = format!(
            "{name}={value}; Path=/; HttpOnly; SameSite={same_site}; Max-Age={max_age_s}{secure}"
        );
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            ctx.append_header(header::SET_COOKIE, value);
        }
    }

    /// Starts a fresh session (a new id at every log-in), ending the one the browser had.
    async fn start_session(
        &self,
        ctx: &RequestCtx,
        tenant: &Tenant,
        subject: Subject,
    ) -> Result<(), ServerError> {
        if let Some(old) = self.session_token(ctx) {
            self.sessions().delete(&old).await?;
        }
        let token = self
            .sessions()
            .create(tenant.id, subject, self.now())
            .await?;
        self.set_session_cookie(
            ctx,
            &token,
            self.sessions().absolute_lifetime().num_seconds(),
        );
        Ok(())
    }

    async fn viewer_for(
        &self,
        tenant: &Tenant,
        subject: Subject,
    ) -> Result<Option<Viewer>, ServerError> {
        let (query, id) = match subject {
            Subject::Player(id) => (
                "SELECT email, display_name, NULL::text AS role FROM players WHERE tenant_id = $1 AND id = $2",
                id.0,
            ),
            Subject::Staff(id) => (
                "SELECT email, display_name, role FROM staff WHERE tenant_id = $1 AND id = $2",
                id.0,
            ),
        };
        let row: Option<ViewerRow> = sqlx::query_as(query)
            .bind(tenant.id)
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        let self_exclusion = match subject {
            Subject::Player(id) => {
                let mut conn = self.pool().acquire().await?;
                crate::protection::exclusion::active(&mut conn, tenant.id, id, self.now()).await?
            }
            Subject::Staff(_) => None,
        };
        let Some(row) = row else {
            return Ok(None);
        };
        let kind = match (subject, row.role) {
            (Subject::Player(_), _) => ViewerKind::Player,
            (Subject::Staff(_), role) => ViewerKind::Staff(
                StaffRole::try_from(role.unwrap_or_default()).map_err(ServerError::internal)?,
            ),
        };
        Ok(Some(Viewer {
            id,
            kind,
            email: row.email,
            display_name: row.display_name,
            tenant_slug: tenant.slug.clone(),
            tenant_name: tenant.name.clone(),
            self_exclusion,
        }))
    }

    /// The client's address (see `client_address`): the router's layer sets it; without it
    /// (a request that did not come through the router) the TCP peer, else "unspecified".
    pub fn client_address(ctx: &RequestCtx) -> ClientAddress {
        ctx.parts
            .extensions
            .get::<ClientAddress>()
            .copied()
            .or_else(|| {
                ctx.parts
                    .extensions
                    .get::<ConnectInfo<SocketAddr>>()
                    .map(|ConnectInfo(address)| ClientAddress(address.ip()))
            })
            .unwrap_or(ClientAddress(IpAddr::V4(Ipv4Addr::UNSPECIFIED)))
    }
}

#[async_trait::async_trait]
impl AuthApi for Services {
    async fn viewer(&self, ctx: &RequestCtx) -> Result<Option<Viewer>, AppError> {
        match self.authenticate(ctx).await? {
            Some((tenant, subject)) => Ok(self.viewer_for(&tenant, subject).await?),
            None => Ok(None),
        }
    }

    async fn register_player(
        &self,
        ctx: &RequestCtx,
        email: String,
        display_name: String,
        password: String,
    ) -> Result<Viewer, AppError> {
        let tenant = self.tenant(ctx)?;
        Ok(register_player(self, ctx, tenant, email, display_name, password).await?)
    }

    async fn log_in(
        &self,
        ctx: &RequestCtx,
        realm: Realm,
        email: String,
        password: String,
        second_factor: Option<String>,
    ) -> Result<Viewer, AppError> {
        let tenant = self.tenant(ctx)?;
        Ok(log_in(self, ctx, tenant, realm, email, password, second_factor).await?)
    }

    async fn log_out(&self, ctx: &RequestCtx) -> Result<(), AppError> {
        Ok(log_out(self, ctx).await?)
    }
}

async fn register_player(
    services: &Services,
    ctx: &RequestCtx,
    tenant: Tenant,
    email: String,
    display_name: String,
    password: String,
) -> ServerResult<Viewer> {
    let email = app::auth::validate_registration(&email, &display_name, &password)?;
    // Every registration costs an Argon2 hash: counted per address and per brand.
    let address = Services::client_address(ctx);
    let keys = [
        throttle::Key::register_address(tenant.id, &address),
        throttle::Key::register_brand(tenant.id),
    ];
    if let Err(refusal) = throttle::acquire(services.pool(), &keys, services.now()).await? {
        tracing::info!(tenant = %tenant.slug, throttle = %refusal.scope, "registration throttled");
        return Err(refusal.into_error().into());
    }
    let password_hash = password::hash(SecretString::from(password))
        .await
        .map_err(ServerError::internal)?;
    let id: Option<PlayerId> = sqlx::query_scalar(
        "INSERT INTO players (id, tenant_id, email, display_name, password_hash) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT ON CONSTRAINT players_tenant_email_key DO NOTHING RETURNING id",
    )
    .bind(Uuid::new_v4())
    .bind(tenant.id)
    .bind(&email)
    .bind(display_name.trim())
    .bind(password_hash)
    .fetch_optional(services.pool())
    .await?;
    let Some(id) = id else {
        return Err(AppError {
            field: Some("email".into()),
            ..AppError::new(
                ErrorCode::EmailTaken,
                "An account with this email already exists. Log in instead.",
            )
        }
        .into());
    };
    tracing::info!(tenant = %tenant.slug, player = %id, "player registered");
    services
        .start_session(ctx, &tenant, Subject::Player(id))
        .await?;
    Ok(services
        .viewer_for(&tenant, Subject::Player(id))
        .await?
        .ok_or_else(AppError::internal)?)
}

async fn log_in(
    services: &Services,
    ctx: &RequestCtx,
    tenant: Tenant,
    realm: Realm,
    email: String,
    password: String,
    second_factor: Option<String>,
) -> ServerResult<Viewer> {
    // The same shape rules as registration: an overlong or malformed address is a 422
    // before anything is counted or hashed.
    let email = app::auth::normalise_email(&email)?;
    let realm_name = match realm {
        Realm::Player => "player",
        Realm::Staff => "staff",
    };
    let address = Services::client_address(ctx);
    // Fixed order (most specific first) so that concurrent log-ins never lock in a cycle.
    let keys = [
        throttle::Key::login_account_address(tenant.id, realm_name, &email, &address),
        throttle::Key::login_account(tenant.id, realm_name, &email),
        throttle::Key::login_address(tenant.id, &address),
    ];
    let now = services.now();
    if let Err(refusal) = throttle::acquire(services.pool(), &keys, now).await? {
        tracing::info!(tenant = %tenant.slug, realm = realm_name, throttle = %refusal.scope, "log-in throttled");
        return Err(refusal.into_error().into());
    }
    let query = match realm {
        Realm::Player => {
            "SELECT id, password_hash FROM players WHERE tenant_id = $1 AND email = $2"
        }
        Realm::Staff => "SELECT id, password_hash FROM staff WHERE tenant_id = $1 AND email = $2",
    };
    let account: Option<(Uuid, String)> = sqlx::query_as(query)
        .bind(tenant.id)
        .bind(&email)
        .fetch_optional(services.pool())
        .await?;
    let (id, stored_hash) = account.map_or((None, None), |(id, hash)| (Some(id), Some(hash)));
    let verified = password::verify(SecretString::from(password), stored_hash)
        .await
        .map_err(ServerError::internal)?;
    // The attempt was counted by `acquire`; a failure leaves it counted.
    let Some(id) = id.filter(|_| verified) else {
        tracing::info!(tenant = %tenant.slug, realm = realm_name, "failed log-in");
        return Err(AppError::new(ErrorCode::InvalidCredentials, INVALID_CREDENTIALS).into());
    };
    // The password is proven: its attempt is taken back before the second factor, which
    // counts wrong codes on its own key.
    let [account_from_address, account, from_address] = &keys;
    for key in [account_from_address, account] {
        throttle::forgive(services.pool(), key).await?;
    }
    throttle::refund(services.pool(), from_address).await?;
    // Staff: no session until the second factor is proven (or set up, where it must be).
    if realm == Realm::Staff {
        services
            .second_factor_gate(ctx, &tenant, StaffId(id), second_factor)
            .await?;
    }
    let subject = match realm {
        Realm::Player => Subject::Player(PlayerId(id)),
        Realm::Staff => Subject::Staff(StaffId(id)),
    };
    services.start_session(ctx, &tenant, subject).await?;
    if realm == Realm::Staff {
        let event =
            crate::audit::staff_session_event(ctx, tenant.id, StaffId(id), "staff.logged_in", now);
        crate::audit::record_alone(services.pool(), &event).await?;
    }
    tracing::info!(tenant = %tenant.slug, realm = realm_name, subject = %id, "logged in");
    Ok(services
        .viewer_for(&tenant, subject)
        .await?
        .ok_or_else(AppError::internal)?)
}

async fn log_out(services: &Services, ctx: &RequestCtx) -> ServerResult<()> {
    if let Ok(Some((tenant, Subject::Staff(id)))) = services.authenticate(ctx).await {
        let event = crate::audit::staff_session_event(
            ctx,
            tenant.id,
            id,
            "staff.logged_out",
            services.now(),
        );
        crate::audit::record_alone(services.pool(), &event).await?;
    }
    if let Some(token) = services.session_token(ctx) {
        services.sessions().delete(&token).await?;
    }
    services.set_session_cookie(ctx, "", 0);
    Ok(())
}
