//! Small building blocks shared by every page: form errors, badges, the hydration marker.

use leptos::prelude::*;

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
