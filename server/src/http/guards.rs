//! Request guards that run before any page or server function: the tenant from the host name,
//! the CSRF origin check for state-changing requests, and the JSON API's CORS allow-list.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::config::Config;
use crate::tenants::{Tenant, TenantResolver};
use app::error::{AppError, ErrorCode};

pub struct GuardState {
    /// Each allowed origin and the slug of the one brand whose pages it is.
    origin_tenants: HashMap<String, String>,
    tenants: TenantResolver,
}

impl GuardState {
    pub fn new(config: &Config, tenants: TenantResolver) -> GuardState {
        GuardState {
            origin_tenants: config.origin_tenants().into_iter().collect(),
            tenants,
        }
    }
}

/// Paths that PSPs and game providers call server to server; they prove themselves by
/// signature, not by origin, and name their tenant through what they are about (the payment,
/// the game session's token).
fn is_signed_callback(path: &str) -> bool {
    path.starts_with("/api/v1/payments/webhook/") || path.starts_with("/api/v1/games/")
}

fn error_response(error: AppError) -> Response {
    let status =
        StatusCode::from_u16(error.code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, axum::Json(error)).into_response()
}

/// Finds the request's tenant from its `Host` and stores it in the request's extensions.
pub async fn tenant(
    State(state): State<Arc<GuardState>>,
    mut request: Request,
    next: Next,
) -> Response {
    // PSP callbacks name their tenant through the object they are about, not the host name.
    let path = request.uri().path();
    if path == "/api/health" || path.starts_with("/pkg/") || is_signed_callback(path) {
        return next.run(request).await;
    }
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    match state.tenants.for_host(&host).await {
        Ok(Some(tenant)) => {
            request.extensions_mut().insert(tenant);
            next.run(request).await
        }
        Ok(None) => error_response(AppError::new(
            ErrorCode::NotFound,
            "No casino is served at this address.",
        )),
        Err(error) => error_response(AppError::from(crate::error::ServerError::from(error))),
    }
}

/// Refuses state-changing requests that a browser sent from anywhere but a page of the brand
/// the request is for: its `Origin` must be one of that brand's own origins (another brand's
/// page on this server cannot act on this brand). A browser always names the page's origin
/// (`Origin`, or at least `Sec-Fetch-Site`) on such requests; without `Origin`, only
/// `Sec-Fetch-Site: same-origin` or `none` (typed by the user) passes, and `cross-site` is
/// refused even beside an `Origin`. A request with neither header comes from a non-browser
/// client, which cannot ride a victim's cookies.
pub async fn csrf(State(state): State<Arc<GuardState>>, request: Request, next: Next) -> Response {
    let safe_method = matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    if safe_method || is_signed_callback(request.uri().path()) {
        return next.run(request).await;
    }
    let headers = request.headers();
    let origin = headers
        .get(header::ORIGIN)
        .and_then(|value| value.to_str().ok());
    let fetch_site = headers
        .get("sec-fetch-site")
        .and_then(|value| value.to_str().ok());
    // Set by the tenant guard, which runs first; requests it lets through without a tenant
    // (health, static files) have no brand, so no browser origin may change anything there.
    let tenant = request.extensions().get::<Tenant>();
    let allowed = match (origin, fetch_site) {
        (_, Some("cross-site")) => false,
        (Some(origin), _) => tenant.is_some_and(|tenant| {
            state
                .origin_tenants
                .get(origin)
                .is_some_and(|slug| *slug == tenant.slug)
        }),
        (None, Some(site)) => site == "same-origin" || site == "none",
        (None, None) => true,
    };
    if allowed {
        next.run(request).await
    } else {
        let tenant = tenant.map(|tenant| tenant.slug.as_str());
        tracing::warn!(origin, fetch_site, tenant, path = %request.uri().path(), "cross-origin request refused");
        error_response(AppError::new(
            ErrorCode::CrossOrigin,
            "Cross-origin requests are not allowed.",
        ))
    }
}

/// CORS for the JSON API: only the configured origins, never a wildcard; none by default.
pub fn cors(config: &Config) -> CorsLayer {
    let origins: Vec<HeaderValue> = config
        .cors_allowed_origins
        .iter()
        .filter_map(|origin| HeaderValue::from_str(origin).ok())
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([
            header::CONTENT_TYPE,
            header::HeaderName::from_static("idempotency-key"),
        ])
}

/// Errors the server-function framework raises itself (malformed or missing arguments) leave it
/// as 500 before our code runs; this makes every error's status follow its code.
pub async fn error_status(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    if response.status() != StatusCode::INTERNAL_SERVER_ERROR {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, ERROR_BODY_BYTES_MAX).await else {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            axum::Json(AppError::internal()),
        )
            .into_response();
    };
    if let Ok(error) = serde_json::from_slice::<AppError>(&bytes) {
        parts.status =
            StatusCode::from_u16(error.code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    }
    Response::from_parts(parts, axum::body::Body::from(bytes))
}

/// An error body is a short JSON object; anything longer is not one of ours.
const ERROR_BODY_BYTES_MAX: usize = 16 * 1024;
