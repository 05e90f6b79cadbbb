//! The second factor's screens: setting up an authenticator (in the back office, or inside a
//! log-in that must), the security page with the owner's resets, and the rule on the settings
//! page. The QR code is an SVG the server drew from numbers only; nothing typed by anyone is in
//! it, and no inline script or style is used.

use leptos::prelude::*;

use super::api::{
    ConfirmEnrolment, DisableSecondFactor, ResetSecondFactor, SaveSecondFactorPolicy,
    StartEnrolment, load_second_factor_policy, load_second_factor_status, staff_second_factors,
};
use super::{EnrolmentDone, EnrolmentStart, SecondFactorPolicy, StaffSecondFactor};
use crate::auth::StaffRole;
use crate::auth::pages::use_auth;
use crate::backoffice::pages::{BackofficeNav, page_error};
use crate::components::{FormError, Wait, action_error, load_view};

/// Where an enrolment is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Stage {
    NotStarted,
    Scanning(EnrolmentStart),
    Done(EnrolmentDone),
}

/// Setting up an authenticator app: the server's QR code and key, a code to prove the app has
/// them, then the recovery codes, shown once. `during_log_in`: the caller holds an enrolment
/// ticket from the log-in form, and confirming logs them in. `confirmed`, when given, turns true
/// once the enrolment is confirmed (the security page's "Off" line goes).
#[component]
pub fn EnrolmentFlow(
    during_log_in: bool,
    #[prop(optional)] confirmed: Option<RwSignal<bool>>,
) -> impl IntoView {
    let start = ServerAction::<StartEnrolment>::new();
    let confirm = ServerAction::<ConfirmEnrolment>::new();
    let start_error = action_error(start);
    let confirm_error = action_error(confirm);
    // A Memo, so that a wrong code (an error, same stage) keeps the QR code and the form as they are.
    let stage = Memo::new(move |_| {
        if let Some(Ok(done)) = confirm.value().get() {
            Stage::Done(done)
        } else if let Some(Ok(enrolment)) = start.value().get() {
            Stage::Scanning(enrolment)
        } else {
            Stage::NotStarted
        }
    });
    let auth = use_auth();
    Effect::new(move |_| {
        if let Some(Ok(done)) = confirm.value().get() {
            if let Some(confirmed) = confirmed {
                confirmed.set(true);
            }
            if done.logged_in {
                auth.refresh();
            }
        }
    });
    view! {
        <div class="enrolment" data-testid="enrolment">
            {move || match stage.get() {
                Stage::NotStarted => view! {
                    <ActionForm action=start attr:class="inline" attr:aria-label="Set up two-factor log-in">
                        <FormError error=start_error/>
                        <button class="button primary" type="submit" data-testid="enrolment-start" disabled=move || start.pending().get()>
                            {move || if start.pending().get() { "Preparing…" } else { "Set up two-factor log-in" }}
                        </button>
                    </ActionForm>
                }.into_any(),
                Stage::Scanning(enrolment) => view! {
                    <p>"Scan this code with an authenticator app (any app for time-based one-time codes), or type the key into it."</p>
                    <div class="qr-code" role="img" aria-label="QR code of the authenticator key" data-testid="enrolment-qr" inner_html=enrolment.qr_svg></div>
                    <p>"Key: " <code class="secret" data-testid="enrolment-secret">{enrolment.secret}</code></p>
                    <p class="muted">
                        "On this device: " <a href=enrolment.otpauth_uri>"open in an authenticator app"</a> "."
                    </p>
                    <ActionForm action=confirm attr:class="form" attr:aria-label="Confirm two-factor log-in">
                        <FormError error=confirm_error/>
                        <label for="enrolment_code">"The 6-digit code the app shows"</label>
                        <input id="enrolment_code" name="code" type="text" inputmode="numeric" autocomplete="one-time-code" required maxlength="6"/>
                        <button class="button primary" type="submit" data-testid="enrolment-confirm" disabled=move || confirm.pending().get()>
                            {move || if confirm.pending().get() { "Checking…" } else { "Confirm" }}
                        </button>
                    </ActionForm>
                }.into_any(),
                Stage::Done(done) => view! { <RecoveryCodes done during_log_in/> }.into_any(),
            }}
        </div>
    }
}

#[component]
fn RecoveryCodes(done: EnrolmentDone, during_log_in: bool) -> impl IntoView {
    view! {
        <div class="result" role="status" data-testid="recovery-codes">
            <h2>"Two-factor log-in is on"</h2>
            <p>"Keep these recovery codes somewhere safe, such as a password manager. Each one logs you in once if you lose your device. They are shown only now."</p>
            <ul class="recovery-codes">
                {done.recovery_codes.into_iter().map(|code| view! { <li><code data-testid="recovery-code">{code}</code></li> }).collect_view()}
            </ul>
            {(during_log_in && done.logged_in).then(|| view! {
                <a class="button primary" href="/admin" data-testid="enrolment-continue">"Continue to the back office"</a>
            })}
        </div>
    }
}

/// `/admin/security`: the viewer's own second factor, and for owners every staff member's with
/// a reset for a lost device.
#[component]
pub fn SecurityPage() -> impl IntoView {
    let disable = ServerAction::<DisableSecondFactor>::new();
    let status = Resource::new(
        move || disable.version().get(),
        |_| load_second_factor_status(),
    );
    let reset = ServerAction::<ResetSecondFactor>::new();
    let auth = use_auth();
    // Only an owner's page asks for the list: another viewer's answer (403) would otherwise set
    // the page's status while it renders on the server.
    let staff = Resource::new(
        move || reset.version().get(),
        move |_| async move {
            match auth.viewer.await {
                Ok(Some(viewer)) if viewer.staff_role() == Some(StaffRole::Owner) => {
                    staff_second_factors().await.map(Some)
                }
                _ => Ok(None),
            }
        },
    );
    let disable_error = action_error(disable);
    view! {
        <BackofficeNav current="/admin/security"/>
        <section class="card narrow" data-testid="second-factor">
            <h1>"Two-factor log-in"</h1>
            {load_view(status, Wait::Transition, "Loading…", page_error, move |status| {
                        match status.enrolled_at {
                            Some(enrolled_at) => view! {
                                <p data-testid="second-factor-state" data-enrolled="true">
                                    {format!("On since {}. Log-ins ask for a code from your authenticator app.", enrolled_at.format("%Y-%m-%d %H:%M UTC"))}
                                </p>
                                <p data-testid="recovery-codes-left">{format!("Recovery codes left: {}.", status.recovery_codes_left)}</p>
                                {if status.required {
                                    view! { <p class="muted">"Your role must log in with a second factor. If you lose your device, log in with a recovery code, or ask an owner to reset it."</p> }.into_any()
                                } else {
                                    view! {
                                        <ActionForm action=disable attr:class="form" attr:aria-label="Turn off two-factor log-in">
                                            <FormError error=disable_error/>
                                            <label for="disable_code">"A current code or a recovery code"</label>
                                            <input id="disable_code" name="code" type="text" autocomplete="one-time-code" required/>
                                            <button class="button" type="submit" disabled=move || disable.pending().get()>"Turn off two-factor log-in"</button>
                                        </ActionForm>
                                    }.into_any()
                                }}
                            }.into_any(),
                            None => {
                                let confirmed = RwSignal::new(false);
                                view! {
                                    <Show when=move || !confirmed.get()>
                                        <p data-testid="second-factor-state" data-enrolled="false">
                                            {if status.required {
                                                "Off. Your role must log in with a second factor: set it up now."
                                            } else {
                                                "Off. Set it up to protect your account with a code from your phone at every log-in."
                                            }}
                                        </p>
                                    </Show>
                                    <EnrolmentFlow during_log_in=false confirmed/>
                                }.into_any()
                            }
                        }
            })}
        </section>
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                staff.await.ok().flatten().map(|staff| view! { <StaffList staff reset/> })
            })}
        </Transition>
    }
}

#[component]
fn StaffList(
    staff: Vec<StaffSecondFactor>,
    reset: ServerAction<ResetSecondFactor>,
) -> impl IntoView {
    let error = action_error(reset);
    view! {
        <section class="card" data-testid="staff-second-factors">
            <h2>"Staff"</h2>
            <p class="muted">"Resetting removes a staff member's authenticator and recovery codes (for a lost device); their next log-in sets up a new one where the rule requires it."</p>
            <FormError error/>
            <table class="table">
                <thead><tr><th>"Staff member"</th><th>"Role"</th><th>"Two-factor log-in"</th><th></th></tr></thead>
                <tbody>
                    {staff.into_iter().map(|member| {
                        let may_reset = member.enrolled_at.is_some() && !member.is_viewer;
                        let staff_id = member.staff_id.to_string();
                        let email = member.email.clone();
                        view! {
                            <tr data-testid="staff-second-factor" data-email=email>
                                <td>{member.display_name}<div class="muted">{member.email}</div></td>
                                <td>{member.role.as_str()}</td>
                                <td>{match member.enrolled_at {
                                    Some(at) => format!("on since {}", at.format("%Y-%m-%d")),
                                    None => "off".to_owned(),
                                }}</td>
                                <td>{may_reset.then(|| view! {
                                    <ActionForm action=reset attr:class="inline">
                                        <input type="hidden" name="staff_id" value=staff_id/>
                                        <button class="button small" type="submit" disabled=move || reset.pending().get()>"Reset"</button>
                                    </ActionForm>
                                })}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </section>
    }
}

/// The settings page's card for the rule "finance and owner log in with a second factor".
#[component]
pub fn SecondFactorPolicyCard() -> impl IntoView {
    let save = ServerAction::<SaveSecondFactorPolicy>::new();
    let policy = Resource::new(
        move || save.version().get(),
        |_| load_second_factor_policy(),
    );
    view! {
        <section class="card narrow" data-testid="second-factor-settings">
            <h2>"Staff log-in"</h2>
            <Transition fallback=|| view! { <p class="loading" aria-busy="true">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    policy.await.ok().map(|policy| view! { <PolicyForm policy save/> })
                })}
            </Transition>
        </section>
    }
}

#[component]
fn PolicyForm(
    policy: SecondFactorPolicy,
    save: ServerAction<SaveSecondFactorPolicy>,
) -> impl IntoView {
    let error = action_error(save);
    let in_force = if policy.in_force {
        "This installation applies it."
    } else {
        "This installation does not apply it (outside production it needs KASA_STAFF_SECOND_FACTOR=required)."
    };
    view! {
        <p class="muted">{format!("Finance and owner staff log in with a code from an authenticator app. {in_force}")}</p>
        {if policy.editable {
            view! {
                <ActionForm action=save attr:class="form" attr:aria-label="Staff log-in settings">
                    <FormError error/>
                    <label for="second_factor_required">"Second factor for finance and owner"</label>
                    <select id="second_factor_required" name="required">
                        <option value="on" selected=policy.required>"Required"</option>
                        <option value="off" selected=!policy.required>"Not required"</option>
                    </select>
                    <button class="button primary" type="submit" data-testid="second-factor-settings-save" disabled=move || save.pending().get()>
                        {move || if save.pending().get() { "Saving…" } else { "Save" }}
                    </button>
                </ActionForm>
            }.into_any()
        } else {
            view! {
                <dl class="facts">
                    <dt>"Second factor for finance and owner"</dt>
                    <dd data-testid="second-factor-required">{if policy.required { "required" } else { "not required" }}</dd>
                </dl>
            }.into_any()
        }}
    }
}
