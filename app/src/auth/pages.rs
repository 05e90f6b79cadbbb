//! Log-in, registration and log-out screens, and the context that tells every page who is
//! logged in, and the gate in front of a page for one kind of viewer.

use leptos::prelude::*;
use leptos_router::hooks::use_navigate;

use super::api::{LogIn, LogOut, Register, StaffLogIn, current_viewer};
use super::{Viewer, ViewerKind};
use crate::components::{
    ErrorPanel, FieldError, FormError, Wait, action_error, error_panel, load_view,
};
use crate::error::{AppError, ErrorCode};

/// Who is logged in, refetched whenever a log-in or log-out action completes.
#[derive(Clone, Copy)]
pub struct Auth {
    pub viewer: Resource<Result<Option<Viewer>, AppError>>,
    version: RwSignal<u32>,
}

impl Auth {
    /// Asks the server again who is logged in.
    pub fn refresh(&self) {
        self.version.update(|version| *version += 1);
    }
}

pub fn use_auth() -> Auth {
    expect_context::<Auth>()
}

/// A resource of a player's page that loads `fetch` once the viewer is known to be a player.
///
/// Create it where the page component starts, never inside a `Suspend` after an `.await`: while
/// the server renders, `Suspense` walks its children again (to find every resource they read),
/// and every walk runs that `async` block afresh. Resources created there were created once per
/// walk, a varying number of times per render, and the browser hydrated against whichever copy it
/// happened to number first (possibly one read before a webhook that the page's own copy saw).
/// Gated on the viewer,
/// a visitor who is not a player costs no server call and sets no error status on the page.
pub fn player_resource<S, T, Fut>(
    source: impl Fn() -> S + Send + Sync + 'static,
    fetch: impl Fn(S) -> Fut + Send + Sync + 'static,
) -> Resource<Result<T, AppError>>
where
    S: PartialEq + Clone + Send + Sync + 'static,
    T: serde::Serialize + serde::de::DeserializeOwned + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<T, AppError>> + Send + 'static,
{
    let auth = use_auth();
    let fetch = std::sync::Arc::new(fetch);
    Resource::new(source, move |source| {
        let fetch = fetch.clone();
        async move {
            match auth.viewer.await {
                Ok(Some(viewer)) if viewer.kind == ViewerKind::Player => fetch(source).await,
                Ok(Some(_)) => Err(AppError::forbidden()),
                Ok(None) => Err(AppError::unauthenticated()),
                Err(error) => Err(error),
            }
        }
    })
}

#[component]
pub fn AuthProvider(children: Children) -> impl IntoView {
    let version = RwSignal::new(0_u32);
    let viewer = Resource::new(move || version.get(), |_| current_viewer());
    provide_context(Auth { viewer, version });
    view! {
        <ExclusionNotice/>
        {children()}
    }
}

/// Tells a self-excluded player, on every page from log-in on, what still works.
#[component]
fn ExclusionNotice() -> impl IntoView {
    let auth = use_auth();
    view! {
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                let exclusion = auth.viewer.await.ok().flatten().and_then(|viewer| viewer.self_exclusion);
                exclusion.map(|exclusion| view! {
                    <div class="exclusion-banner" role="alert" data-testid="exclusion-banner">
                        {format!(
                            "You have excluded yourself {}: deposits and play are closed. You can still withdraw your balance and use ",
                            exclusion.until_text()
                        )}
                        <a href="/account">"your account page"</a>
                        "."
                    </div>
                })
            })}
        </Transition>
    }
}

#[component]
pub fn LoginPage() -> impl IntoView {
    let action = ServerAction::<LogIn>::new();
    after_success(action, "/wallet");
    view! {
        <section class="card narrow">
            <h1>"Log in"</h1>
            <ActionForm action=action attr:class="form" attr:aria-label="Player log-in">
                <CredentialFields error=action_error(action) pending=action.pending().into() email_label="Email"/>
            </ActionForm>
            <p class="muted">"New here? " <a href="/register">"Create an account"</a></p>
        </section>
    }
}

#[component]
pub fn RegisterPage() -> impl IntoView {
    let action = ServerAction::<Register>::new();
    after_success(action, "/wallet");
    view! {
        <section class="card narrow">
            <h1>"Create your account"</h1>
            <ActionForm action=action attr:class="form" attr:aria-label="Registration">
                <FormError error=action_error(action)/>
                <label for="email">"Email"</label>
                <input id="email" name="email" type="email" autocomplete="email" required/>
                <FieldError error=action_error(action) field="email"/>
                <label for="display_name">"Name"</label>
                <input id="display_name" name="display_name" type="text" autocomplete="nickname" required maxlength="100"/>
                <FieldError error=action_error(action) field="display_name"/>
                <label for="password">"Password"</label>
                <input id="password" name="password" type="password" autocomplete="new-password" required minlength="10"/>
                <p class="hint">"At least 10 characters."</p>
                <FieldError error=action_error(action) field="password"/>
                <button class="button primary" type="submit" disabled=move || action.pending().get()>
                    {move || if action.pending().get() { "Creating account…" } else { "Create account" }}
                </button>
            </ActionForm>
            <p class="muted">"Already registered? " <a href="/login">"Log in"</a></p>
        </section>
    }
}

#[component]
pub fn StaffLoginPage() -> impl IntoView {
    let action = ServerAction::<StaffLogIn>::new();
    after_success(action, "/admin");
    let error = action_error(action);
    // Once the server asked for a code the field stays, also through a wrong code or a throttled
    // attempt; email and password stay typed in, and the resubmit sends all three.
    let code_asked = RwSignal::new(false);
    Effect::new(move |_| {
        if error.with(|error| {
            error.as_ref().is_some_and(|error| {
                matches!(
                    error.code,
                    ErrorCode::SecondFactorRequired | ErrorCode::InvalidSecondFactor
                )
            })
        }) {
            code_asked.set(true);
        }
    });
    let enrolling = Memo::new(move |_| {
        error.with(|error| {
            error
                .as_ref()
                .is_some_and(|error| error.code == ErrorCode::SecondFactorEnrolmentRequired)
        })
    });
    view! {
        <section class="card narrow">
            <h1>"Back office log-in"</h1>
            <Show
                when=move || enrolling.get()
                fallback=move || view! {
                    <ActionForm action=action attr:class="form" attr:aria-label="Staff log-in">
                        <CredentialFields error pending=action.pending().into() email_label="Work email">
                            <Show when=move || code_asked.get()>
                                <label for="code">"Code from your authenticator app"</label>
                                <input id="code" name="code" type="text" autocomplete="one-time-code" required/>
                                <p class="hint">"Or one of your recovery codes."</p>
                            </Show>
                        </CredentialFields>
                    </ActionForm>
                }
            >
                <p role="status" data-testid="enrolment-required">
                    "Your role logs in with a second factor, and your account has none yet. Set it up now; your log-in finishes when the app's first code is confirmed."
                </p>
                <super::second_factor::pages::EnrolmentFlow during_log_in=true/>
            </Show>
        </section>
    }
}

/// The email and password fields and submit button shared by both log-in forms; `children`
/// (the staff form's code field) go before the button.
#[component]
fn CredentialFields(
    error: Signal<Option<AppError>>,
    pending: Signal<bool>,
    email_label: &'static str,
    #[prop(optional)] children: Option<Children>,
) -> impl IntoView {
    view! {
        <FormError error/>
        <label for="email">{email_label}</label>
        <input id="email" name="email" type="email" autocomplete="username" required/>
        <label for="password">"Password"</label>
        <input id="password" name="password" type="password" autocomplete="current-password" required/>
        {children.map(|children| children())}
        <button class="button primary" type="submit" disabled=move || pending.get()>
            {move || if pending.get() { "Logging in…" } else { "Log in" }}
        </button>
    }
}

#[component]
pub fn LogoutButton() -> impl IntoView {
    let action = ServerAction::<LogOut>::new();
    after_success(action, "/");
    view! {
        <ActionForm action=action attr:class="inline">
            <button class="button ghost" type="submit" disabled=move || action.pending().get()>
                "Log out"
            </button>
        </ActionForm>
    }
}

/// After a successful log-in, registration or log-out: refresh who is logged in and move on.
fn after_success<A, T>(action: ServerAction<A>, destination: &'static str)
where
    A: leptos::server_fn::ServerFn<Output = T, Error = AppError> + Clone + Send + Sync + 'static,
    T: Clone + Send + Sync + 'static,
{
    let auth = use_auth();
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(_)) = action.value().get() {
            auth.refresh();
            navigate(destination, Default::default());
        }
    });
}

/// Who a page is for, and what it says to everyone else.
#[derive(Clone, Copy)]
pub struct Gate {
    /// Whether the logged-in viewer may see the page.
    pub admits: fn(&Viewer) -> bool,
    /// Shown while the viewer is being asked for.
    pub loading: &'static str,
    /// Told to a logged-in viewer the page is not for.
    pub forbidden: &'static str,
    /// The heading shown to an anonymous viewer, above "Please log in …".
    pub title: &'static str,
    /// Where that viewer logs in, the link's words, and what follows them.
    pub log_in: (&'static str, &'static str, &'static str),
}

impl Gate {
    /// A player's page: staff are sent to the back office, anonymous viewers to the log-in page.
    pub const fn player(
        loading: &'static str,
        forbidden: &'static str,
        title: &'static str,
        after_log_in: &'static str,
    ) -> Gate {
        Gate {
            admits: |viewer| viewer.kind == ViewerKind::Player,
            loading,
            forbidden,
            title,
            log_in: ("/login", "log in", after_log_in),
        }
    }
}

/// A page behind a [`Gate`]: waits for the viewer, then shows `view` of a viewer it admits, or
/// what the gate says to everyone else.
pub fn gated_page<V: IntoView + 'static>(
    gate: Gate,
    view: impl Fn(Viewer) -> V + Clone + Send + Sync + 'static,
) -> AnyView {
    let auth = use_auth();
    load_view(
        auth.viewer,
        Wait::Transition,
        gate.loading,
        error_panel,
        move |viewer| match viewer {
            Some(viewer) if (gate.admits)(&viewer) => view(viewer).into_any(),
            Some(_) => view! {
                <ErrorPanel error=AppError::new(ErrorCode::Forbidden, gate.forbidden)/>
            }
            .into_any(),
            None => {
                let (href, link, after) = gate.log_in;
                view! {
                    <section class="card narrow">
                        <h1>{gate.title}</h1>
                        <p>"Please " <a href=href>{link}</a> {after}</p>
                    </section>
                }
                .into_any()
            }
        },
    )
}
