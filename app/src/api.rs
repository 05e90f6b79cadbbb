//! The bridge from server functions to the server crate. Each feature declares a service trait
//! (`auth::AuthApi`, …); the server binary provides implementations as context, and every server
//! function runs its body through [`call`], which hands it the request and turns a failure into
//! the right HTTP status. A server function whose body is one service method says so with
//! [`serve!`]: `serve!(WalletApi::history(before, kind))`.

use std::future::Future;
use std::sync::Arc;

use leptos::prelude::*;
use leptos_axum::ResponseOptions;

use crate::error::AppError;

/// What a service needs to know about the request it serves.
pub struct RequestCtx {
    pub parts: http::request::Parts,
    pub response: ResponseOptions,
}

impl RequestCtx {
    /// Adds a header to the response (used for `Set-Cookie`).
    pub fn append_header(&self, name: http::HeaderName, value: http::HeaderValue) {
        self.response.append_header(name, value);
    }
}

/// Runs a server function's body against the service `S` provided as context.
pub async fn call<S, T, F, Fut>(body: F) -> Result<T, AppError>
where
    S: ?Sized + Send + Sync + 'static,
    F: FnOnce(Arc<S>, RequestCtx) -> Fut,
    Fut: Future<Output = Result<T, AppError>>,
{
    let response = use_context::<ResponseOptions>().unwrap_or_default();
    let (Some(service), Some(parts)) = (
        use_context::<Arc<S>>(),
        use_context::<http::request::Parts>(),
    ) else {
        leptos::logging::error!("server function called without its service or request in context");
        return Err(AppError::internal());
    };
    let result = body(
        service,
        RequestCtx {
            parts,
            response: response.clone(),
        },
    )
    .await;
    if let Err(error) = &result {
        response.set_status(http::StatusCode::from_u16(error.code.status()).unwrap_or_default());
        if let Some(seconds) = error.retry_after_s {
            response.insert_header(http::header::RETRY_AFTER, http::HeaderValue::from(seconds));
        }
    }
    result
}

/// The whole body of a server function that is one method of its feature's service:
/// `serve!(ProtectionApi::exclude(period, confirmed))` runs `api.exclude(&ctx, period, confirmed)`
/// through [`call`], with the service and the request's context taken from the Leptos context.
macro_rules! serve {
    ($service:ident :: $method:ident ( $($arg:expr),* $(,)? )) => {
        $crate::api::call::<dyn $service, _, _, _>(|api, ctx| async move {
            api.$method(&ctx, $($arg),*).await
        })
        .await
    };
}
pub(crate) use serve;
