//! Small building blocks shared by every page: form errors, the error panel, idempotency keys,
//! and the page scaffold: a resource loaded behind a `Suspense` (or `Transition`), answered with
//! its view or its error, and the resource of the thing a route's `:id` names.

use std::future::Future;
use std::str::FromStr;

use leptos::prelude::*;
use leptos_router::hooks::use_params_map;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::AppError;

/// The error of an action's latest run, if it failed.
pub fn action_error<A>(action: ServerAction<A>) -> Signal<Option<AppError>>
where
    A: leptos::server_fn::ServerFn<Error = AppError> + Clone + Send + Sync + 'static,
    A::Output: Clone + Send + Sync + 'static,
{
    Signal::derive(move || {
        action.value().with(|value| {
            value
                .as_ref()
                .and_then(|result| result.as_ref().err().cloned())
        })
    })
}

/// Shows a server function's error for the whole form (errors tied to a field show there).
#[component]
pub fn FormError(error: Signal<Option<AppError>>) -> impl IntoView {
    move || {
        error.with(|value| match value {
            Some(error) if error.field.is_none() => Some(view! {
                <p class="form-error" role="alert" data-code=error.code.as_str()>{error.message.clone()}</p>
            }),
            _ => None,
        })
    }
}

/// Shows a server function's error next to the field it is about.
#[component]
pub fn FieldError(error: Signal<Option<AppError>>, field: &'static str) -> impl IntoView {
    move || {
        error.with(|value| match value {
            Some(error) if error.field.as_deref() == Some(field) => Some(view! {
                <p class="field-error" role="alert" data-code=error.code.as_str()>{error.message.clone()}</p>
            }),
            _ => None,
        })
    }
}

/// A page-level error, e.g. when the viewer may not see a page.
#[component]
pub fn ErrorPanel(error: AppError) -> impl IntoView {
    let title = match error.code {
        crate::error::ErrorCode::Unauthenticated => "Please log in",
        crate::error::ErrorCode::Forbidden => "Not allowed",
        crate::error::ErrorCode::NotFound => "Not found",
        _ => "Something went wrong",
    };
    view! {
        <section class="card narrow error-panel" role="alert" data-code=error.code.as_str()>
            <h1>{title}</h1>
            <p>{error.message}</p>
        </section>
    }
}

/// A fresh idempotency key for one user action: random in the browser, empty during server
/// rendering (the hidden field is filled in as soon as the page hydrates).
pub fn new_idempotency_key() -> String {
    #[cfg(feature = "hydrate")]
    {
        if let Some(crypto) = web_sys::window().and_then(|window| window.crypto().ok()) {
            return crypto.random_uuid();
        }
    }
    String::new()
}

/// The idempotency key of one form's action, kept across retries of the same attempt and
/// replaced after a success, so a double click or a retry after a lost answer acts once.
pub fn action_idempotency_key<A>(action: ServerAction<A>) -> RwSignal<String>
where
    A: leptos::server_fn::ServerFn<Error = AppError> + Clone + Send + Sync + 'static,
    A::Output: Clone + Send + Sync + 'static,
{
    let key = RwSignal::new(String::new());
    Effect::new(move |_| {
        let succeeded = action.value().with(|value| matches!(value, Some(Ok(_))));
        if succeeded || key.with_untracked(String::is_empty) {
            key.set(new_idempotency_key());
        }
    });
    key
}

/// What a section shows while its data loads.
pub fn loading(text: &'static str) -> impl IntoView {
    view! { <p class="loading" aria-busy="true">{text}</p> }
}

/// How a section waits for its resource: `Suspense` shows the loading line every time it loads,
/// `Transition` only the first time (later loads keep the old view until the new one is there).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    Suspense,
    Transition,
}

/// The page scaffold: waits for `resource` (showing `loading` meanwhile), then shows `view` of
/// its value or `on_error` of its error. Create the resource where the page component starts,
/// never inside the view (see the README on resources).
pub fn load_view<T, V>(
    resource: Resource<Result<T, AppError>>,
    wait: Wait,
    loading_text: &'static str,
    on_error: fn(AppError) -> AnyView,
    view: impl Fn(T) -> V + Clone + Send + Sync + 'static,
) -> AnyView
where
    T: Clone + Send + Sync + 'static,
    V: IntoView + 'static,
{
    let content = move || {
        let view = view.clone();
        Suspend::new(async move {
            match resource.await {
                Ok(value) => view(value).into_any(),
                Err(error) => on_error(error),
            }
        })
    };
    match wait {
        Wait::Suspense => {
            view! { <Suspense fallback=move || loading(loading_text)>{content}</Suspense> }
                .into_any()
        }
        Wait::Transition => {
            view! { <Transition fallback=move || loading(loading_text)>{content}</Transition> }
                .into_any()
        }
    }
}

/// An error as a section shows it inside a page that stands: the error panel.
pub fn error_panel(error: AppError) -> AnyView {
    view! { <ErrorPanel error/> }.into_any()
}

/// An error as a part of a page shows it, below what already stands: one line.
pub fn error_line(error: AppError) -> AnyView {
    view! { <p class="form-error" role="alert">{error.message}</p> }.into_any()
}

/// The route's `:id`, when it parses as the id it names (a UUID or a typed id).
pub fn route_id<Id>() -> Memo<Option<Id>>
where
    Id: FromStr + Clone + PartialEq + Send + Sync + 'static,
{
    let params = use_params_map();
    Memo::new(move |_| params.with(|params| params.get("id").and_then(|id| id.parse().ok())))
}

/// The resource of the thing the route's `:id` names, loaded again when `key` changes; a missing
/// or malformed id is `what` not found, without asking the server.
pub fn route_resource<Id, K, T, Fut>(
    what: &'static str,
    key: impl Fn() -> K + Send + Sync + 'static,
    load: impl Fn(Id, K) -> Fut + Send + Sync + 'static,
) -> Resource<Result<T, AppError>>
where
    Id: FromStr + Clone + PartialEq + Send + Sync + 'static,
    K: Clone + PartialEq + Send + Sync + 'static,
    T: Serialize + DeserializeOwned + Send + Sync + 'static,
    Fut: Future<Output = Result<T, AppError>> + Send + 'static,
{
    let id = route_id();
    Resource::new(
        move || (id.get(), key()),
        move |(id, key)| {
            let loading = id.map(|id| load(id, key));
            async move {
                match loading {
                    Some(loading) => loading.await,
                    None => Err(AppError::not_found(what)),
                }
            }
        },
    )
}

/// Sends the browser to a page outside the app (a PSP's checkout, a game provider's game).
pub fn go_to(url: &str) {
    #[cfg(feature = "hydrate")]
    {
        if let Some(window) = web_sys::window() {
            let _ = window.location().set_href(url);
        }
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = url;
}
