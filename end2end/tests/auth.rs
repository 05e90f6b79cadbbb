//! Accounts in a real browser: registration, log-in and log-out for players, the staff log-in,
//! and a player kept out of the back office.

mod common;

use common::{
    Chromium, DEMO_PASSWORD, KasaServer, click, document_is_marked, expect_text, expect_visible,
    fill, log_in_player, mark_document, open, submit_log_in,
};

// Proves a new player can register, lands on the wallet showing who is logged in (changed by a
// server function without a page reload), log out, and log in again.
#[tokio::test]
async fn player_registers_logs_in_sees_wallet_and_logs_out() {
    let server = KasaServer::start().await;
    let chromium = Chromium::launch().await;
    let page = chromium.new_page().await;

    open(&page, &server.url("/register")).await;
    mark_document(&page).await;
    fill(&page, "#email", "Ana.Player@Example.com").await;
    fill(&page, "#display_name", "Ana").await;
    fill(&page, "#password", "a perfectly fine password").await;
    click(&page, "button[type=submit]").await;
    expect_text(
        &page,
        "[data-testid=viewer-email]",
        "ana.player@example.com",
    )
    .await;
    assert!(page.url().ends_with("/wallet"), "{}", page.url());
    assert!(
        document_is_marked(&page).await,
        "registration reloaded the page instead of hydrating"
    );
    expect_text(&page, "[data-testid=nav-viewer]", "Ana").await;

    click(&page, "header button:has-text('Log out')").await;
    expect_visible(&page, "header a[href='/login']").await;
    assert!(document_is_marked(&page).await);

    // The session is gone server-side: the wallet now asks to log in, even after a reload.
    open(&page, &server.url("/wallet")).await;
    expect_text(&page, "main", "Please log in").await;

    open(&page, &server.url("/login")).await;
    fill(&page, "#email", "ana.player@example.com").await;
    fill(&page, "#password", "wrong password!").await;
    click(&page, "button[type=submit]").await;
    expect_text(&page, ".form-error", "Email or password is incorrect").await;
    fill(&page, "#password", "a perfectly fine password").await;
    click(&page, "button[type=submit]").await;
    expect_text(
        &page,
        "[data-testid=viewer-email]",
        "ana.player@example.com",
    )
    .await;
}

// Proves a staff member logs in to /admin and sees the back office with their role.
#[tokio::test]
async fn staff_member_logs_in_to_the_back_office() {
    let server = KasaServer::start().await;
    let chromium = Chromium::launch().await;
    let page = chromium.new_page().await;

    submit_log_in(&page, &server, "/admin/login", "finance@demo.kasa.test").await;
    expect_text(&page, "[data-testid=staff-role]", "finance").await;
    assert!(page.url().ends_with("/admin"), "{}", page.url());
    expect_text(&page, "[data-testid=admin-dashboard]", "Kasa Demo Casino").await;
}

/// The code an authenticator app holding the key shown on the page (base32, in groups) shows
/// `ahead_s` seconds from now.
fn authenticator_code(key: &str, ahead_s: u64) -> String {
    let secret = totp_rs::Secret::try_from_base32(key.replace(' ', "")).expect("a base32 key");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    totp_rs::Builder::new()
        .with_secret(secret.as_bytes().to_vec())
        .build()
        .unwrap()
        .generate(now + ahead_s)
        .to_string()
}

// Proves a staff member sets up two-factor log-in on the security page (QR code and key on
// screen, the app's code confirms it, ten recovery codes shown), and that the next log-in asks
// for a code after the password and lets them in with the app's next one.
#[tokio::test]
async fn staff_member_sets_up_two_factor_log_in_and_logs_in_with_a_code() {
    let server = KasaServer::start().await;
    let chromium = Chromium::launch().await;
    let page = chromium.new_page().await;

    submit_log_in(&page, &server, "/admin/login", "support@demo.kasa.test").await;
    expect_text(&page, "[data-testid=staff-role]", "support").await;

    open(&page, &server.url("/admin/security")).await;
    expect_text(&page, "[data-testid=second-factor-state]", "Off").await;
    click(&page, "[data-testid=enrolment-start]").await;
    expect_visible(&page, "[data-testid=enrolment-qr] svg").await;
    let key = page
        .locator("[data-testid=enrolment-secret]")
        .inner_text()
        .await
        .unwrap();
    fill(&page, "#enrolment_code", &authenticator_code(&key, 0)).await;
    click(&page, "[data-testid=enrolment-confirm]").await;
    expect_text(
        &page,
        "[data-testid=recovery-codes]",
        "Two-factor log-in is on",
    )
    .await;
    let recovery_codes = page
        .locator("[data-testid=recovery-code]")
        .count()
        .await
        .unwrap();
    assert_eq!(recovery_codes, 10);

    click(&page, "header button:has-text('Log out')").await;
    expect_visible(&page, "header a[href='/login']").await;
    open(&page, &server.url("/admin/login")).await;
    mark_document(&page).await;
    fill(&page, "#email", "support@demo.kasa.test").await;
    fill(&page, "#password", DEMO_PASSWORD).await;
    click(&page, "button[type=submit]").await;
    expect_text(
        &page,
        ".form-error",
        "Enter the code from your authenticator app",
    )
    .await;
    // The confirming code's step is spent; the app's next code (within the allowed skew) is not.
    fill(&page, "#code", &authenticator_code(&key, 30)).await;
    click(&page, "button[type=submit]").await;
    expect_text(&page, "[data-testid=staff-role]", "support").await;
    assert!(page.url().ends_with("/admin"), "{}", page.url());
    assert!(
        document_is_marked(&page).await,
        "the log-in reloaded the page"
    );
}

// Proves a logged-in player neither sees an /admin page nor gets an answer from a staff server
// function called from the page.
#[tokio::test]
async fn player_cannot_open_admin_pages_or_call_staff_functions() {
    let server = KasaServer::start().await;
    let chromium = Chromium::launch().await;
    let page = chromium.new_page().await;

    log_in_player(&page, &server).await;

    let response = page
        .goto(&server.url("/admin"), None)
        .await
        .unwrap()
        .expect("a response");
    assert_eq!(response.status(), 403);
    expect_text(&page, ".error-panel", "needs a staff account").await;
    assert_eq!(
        page.locator("[data-testid=admin-dashboard]")
            .count()
            .await
            .unwrap(),
        0
    );

    let status: u16 = page
        .evaluate::<(), u16>(
            "async () => (await fetch('/api/admin/overview', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' } })).status",
            None,
        )
        .await
        .unwrap();
    assert_eq!(status, 403);
}

// Proves a player whose log-ins are slowed down is told so in words on the log-in page, and
// support finds the account on the players page.
#[tokio::test]
async fn slowed_down_log_ins_are_explained_and_shown_to_staff() {
    let server = KasaServer::start().await;
    let chromium = Chromium::launch().await;
    let page = chromium.new_page().await;

    open(&page, &server.url("/login")).await;
    // Five wrong passwords, one after the other, from the page itself.
    let statuses = page
        .evaluate::<(), String>(
            "async () => {
                const statuses = [];
                for (let i = 0; i < 5; i++) {
                    const reply = await fetch('/api/auth/login', {
                        method: 'POST',
                        headers: {'content-type': 'application/x-www-form-urlencoded'},
                        body: 'email=player%40demo.kasa.test&password=wrong+password',
                    });
                    statuses.push(reply.status);
                }
                return statuses.join(',');
            }",
            None,
        )
        .await
        .unwrap();
    assert_eq!(statuses, "401,401,401,401,401");
    fill(&page, "#email", "player@demo.kasa.test").await;
    fill(&page, "#password", DEMO_PASSWORD).await;
    click(&page, "button[type=submit]").await;
    expect_text(
        &page,
        ".form-error",
        "Too many failed log-ins for this account. Try again in",
    )
    .await;

    let staff = chromium.new_page().await;
    submit_log_in(&staff, &server, "/admin/login", "support@demo.kasa.test").await;
    expect_text(&staff, "[data-testid=staff-role]", "support").await;
    open(&staff, &server.url("/admin/players")).await;
    expect_text(
        &staff,
        "[data-testid=throttled-row]",
        "player@demo.kasa.test",
    )
    .await;
}
