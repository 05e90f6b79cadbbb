//! Every page under the Content-Security-Policy in a real browser: each route of the app's
//! router (read from `app/src/lib.rs`, so a new route fails this test until it is visited) is
//! opened by its viewer (anonymous, player or staff), answers 200, hydrates, and leaves no CSP
//! violation and no console error behind; and a canary proves such a violation would be seen.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{
    Chromium, DEMO_PASSWORD, KasaServer, csp_violations, expect_visible, log_in_player,
    log_in_staff, open,
};
use playwright_rs::Page;
use sqlx::Connection;

/// Who opens a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Viewer {
    Anonymous,
    Player,
    /// The owner: every back-office page is open to them.
    Staff,
}

/// Every route of the app, with who visits it. A route missing here (or one the router no
/// longer has) fails the test.
const PAGES: &[(&str, Viewer)] = &[
    ("/", Viewer::Anonymous),
    ("/login", Viewer::Anonymous),
    ("/register", Viewer::Anonymous),
    ("/admin/login", Viewer::Anonymous),
    ("/wallet", Viewer::Player),
    ("/deposit", Viewer::Player),
    ("/deposit/return", Viewer::Player),
    ("/deposit/cancelled", Viewer::Player),
    ("/withdraw", Viewer::Player),
    ("/account", Viewer::Player),
    ("/games", Viewer::Player),
    ("/admin", Viewer::Staff),
    ("/admin/kyc", Viewer::Staff),
    ("/admin/withdrawals", Viewer::Staff),
    ("/admin/withdrawals/:id", Viewer::Staff),
    ("/admin/settings", Viewer::Staff),
    ("/admin/security", Viewer::Staff),
    ("/admin/figures", Viewer::Staff),
    ("/admin/players", Viewer::Staff),
    ("/admin/players/:id", Viewer::Staff),
    ("/admin/ledger", Viewer::Staff),
    ("/admin/ledger/accounts/:id", Viewer::Staff),
    ("/admin/ledger/journals/:id", Viewer::Staff),
    ("/admin/reconciliation", Viewer::Staff),
    ("/admin/credits", Viewer::Staff),
    ("/admin/audit", Viewer::Staff),
    ("/admin/webhooks", Viewer::Staff),
];

/// The `path!("…")` of every `<Route>` in the app's router.
fn router_paths() -> BTreeSet<String> {
    let source = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../app/src/lib.rs"))
        .expect("the app's router source");
    source
        .match_indices("<Route ")
        .filter_map(|(index, _)| {
            let rest = &source[index..];
            let tag = &rest[..rest.find("/>")?];
            let start = tag.find("path!(\"")? + "path!(\"".len();
            let end = start + tag[start..].find('"')?;
            Some(tag[start..end].to_owned())
        })
        .collect()
}

/// The objects the pages with an id (or a deposit query) show, made through the API.
struct Objects {
    player_id: String,
    deposit_id: String,
    withdrawal_id: String,
    ledger_account_id: String,
    journal_id: String,
}

/// Server-function calls as the browser makes them (same origin), for setting up.
struct Api<'a> {
    server: &'a KasaServer,
    http: reqwest::Client,
}

impl Api<'_> {
    async fn call(
        &self,
        endpoint: &str,
        form: &[(&str, &str)],
        cookie: Option<&str>,
    ) -> (serde_json::Value, Option<String>) {
        let mut request = self
            .http
            .post(self.server.url(&format!("/api/{endpoint}")))
            .header("origin", &self.server.base)
            .header("accept", "application/json")
            .form(form);
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        let response = request.send().await.expect("the server answers");
        let status = response.status();
        let cookie = response
            .headers()
            .get("set-cookie")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split(';').next())
            .map(str::to_owned);
        let json: serde_json::Value = response.json().await.expect("a JSON answer");
        assert!(status.is_success(), "{endpoint}: {status} {json}");
        (json, cookie)
    }

    async fn log_in(&self, endpoint: &str, email: &str) -> String {
        let form = [("email", email), ("password", DEMO_PASSWORD)];
        let (_, cookie) = self.call(endpoint, &form, None).await;
        cookie.expect("log-in sets the session cookie")
    }

    /// A verified player with 100.00 EUR (a four-eyes credit), a 20.00 EUR withdrawal and an
    /// open mock PSP deposit.
    async fn objects(&self) -> Objects {
        let player = self.log_in("auth/login", "player@demo.kasa.test").await;
        let support = self.log_in("admin/login", "support@demo.kasa.test").await;
        let finance = self.log_in("admin/login", "finance@demo.kasa.test").await;
        let owner = self.log_in("admin/login", "owner@demo.kasa.test").await;
        let (me, _) = self.call("auth/me", &[], Some(&player)).await;
        let player_id = me["id"].as_str().unwrap().to_owned();
        for state in ["pending", "verified"] {
            let form = [
                ("player_id", player_id.as_str()),
                ("state", state),
                ("note", "checked"),
            ];
            self.call("admin/kyc/set", &form, Some(&support)).await;
        }
        let form = [
            ("player_email", "player@demo.kasa.test"),
            ("currency", "EUR"),
            ("amount", "100.00"),
            ("direction", "credit"),
            ("reason", "funds for the page tour"),
            ("idempotency_key", "page-tour-credit"),
        ];
        let (credit, _) = self.call("admin/adjustments", &form, Some(&finance)).await;
        let form = [
            ("request", credit["credit_request_id"].as_str().unwrap()),
            ("decision", "approve"),
            ("idempotency_key", "page-tour-approval"),
        ];
        self.call("backoffice/credit-requests/decide", &form, Some(&owner))
            .await;
        let form = [
            ("amount", "20.00"),
            ("currency", "EUR"),
            ("idempotency_key", "page-tour-withdrawal"),
        ];
        let (withdrawal, _) = self.call("withdrawals/request", &form, Some(&player)).await;
        let form = [
            ("amount", "10.00"),
            ("currency", "EUR"),
            ("provider", "mock"),
            ("idempotency_key", "page-tour-deposit"),
        ];
        let (deposit, _) = self.call("deposits/start", &form, Some(&player)).await;

        let mut db = sqlx::PgConnection::connect(&self.server.database_url)
            .await
            .unwrap();
        let (ledger_account_id, journal_id): (uuid::Uuid, uuid::Uuid) = sqlx::query_as(
            "SELECT t.credit_account_id, t.journal_id FROM ledger_transfers t
               JOIN ledger_journals j ON j.id = t.journal_id
              WHERE j.kind = 'adjustment'",
        )
        .fetch_one(&mut db)
        .await
        .unwrap();
        db.close().await.unwrap();
        Objects {
            player_id,
            deposit_id: deposit["deposit_id"].as_str().unwrap().to_owned(),
            withdrawal_id: withdrawal["id"].as_str().unwrap().to_owned(),
            ledger_account_id: ledger_account_id.to_string(),
            journal_id: journal_id.to_string(),
        }
    }
}

/// The address to open for a route: its `:id` filled with the right object, and the deposit
/// pages' `?deposit=`.
fn address(route: &str, objects: &Objects) -> String {
    match route {
        "/admin/withdrawals/:id" => format!("/admin/withdrawals/{}", objects.withdrawal_id),
        "/admin/players/:id" => format!("/admin/players/{}", objects.player_id),
        "/admin/ledger/accounts/:id" => {
            format!("/admin/ledger/accounts/{}", objects.ledger_account_id)
        }
        "/admin/ledger/journals/:id" => format!("/admin/ledger/journals/{}", objects.journal_id),
        "/deposit/return" | "/deposit/cancelled" => {
            format!("{route}?deposit={}", objects.deposit_id)
        }
        route if route.contains(':') => panic!("say which object {route} shows"),
        route => route.to_owned(),
    }
}

/// Opens `url` and waits for hydration; the page must answer 200 and have seen no violation.
async fn visit(page: &Page, url: &str) {
    let response = page
        .goto(url, None)
        .await
        .unwrap_or_else(|error| panic!("opening {url}: {error}"))
        .expect("a response");
    assert_eq!(response.status(), 200, "{url}");
    playwright_rs::expect(page.locator("[data-hydrated=\"true\"]"))
        .with_timeout(Duration::from_secs(15))
        .to_be_visible()
        .await
        .unwrap_or_else(|error| panic!("{url} did not hydrate: {error}"));
    let violations = csp_violations(page).await;
    assert!(violations.is_empty(), "{url}: {violations:?}");
}

// Proves every route of the router, opened by its viewer with real objects behind its ids,
// answers 200 and hydrates under the CSP, the mock PSP's checkout renders under it too, and the
// whole tour logs no CSP violation, console error or uncaught exception at all.
#[tokio::test]
async fn every_page_hydrates_under_the_policy() {
    let routes = router_paths();
    let listed: BTreeSet<String> = PAGES.iter().map(|(route, _)| route.to_string()).collect();
    assert_eq!(
        listed, routes,
        "PAGES must list exactly the router's routes (left: PAGES, right: app/src/lib.rs)"
    );

    let server = KasaServer::start().await;
    let api = Api {
        server: &server,
        http: reqwest::Client::new(),
    };
    let objects = api.objects().await;
    let chromium = Chromium::launch().await;
    let anonymous = chromium.new_page().await;
    let player = chromium.new_page().await;
    log_in_player(&player, &server).await;
    let staff = chromium.new_page().await;
    log_in_staff(&staff, &server, "owner@demo.kasa.test").await;

    for (route, viewer) in PAGES {
        let page = match viewer {
            Viewer::Anonymous => &anonymous,
            Viewer::Player => &player,
            Viewer::Staff => &staff,
        };
        visit(page, &server.url(&address(route, &objects))).await;
    }

    // The mock PSP's hosted page has no WASM: it renders (with its stylesheet) and that is all.
    let (checkout, _) = api
        .call(
            "deposits/start",
            &[
                ("amount", "5.00"),
                ("currency", "EUR"),
                ("provider", "mock"),
                ("idempotency_key", "page-tour-checkout"),
            ],
            Some(&api.log_in("auth/login", "player@demo.kasa.test").await),
        )
        .await;
    let url = server.url(checkout["redirect_url"].as_str().unwrap());
    let response = player.goto(&url, None).await.unwrap().expect("a response");
    assert_eq!(response.status(), 200);
    expect_visible(&player, "[data-testid=mock-psp]").await;
    assert_eq!(csp_violations(&player).await, Vec::<String>::new());
    // A last round trip to each page, so that what they logged has arrived.
    for page in [&anonymous, &player, &staff] {
        assert_eq!(csp_violations(page).await, Vec::<String>::new());
    }
    let errors = chromium.console_errors();
    assert!(errors.is_empty(), "console errors on the tour: {errors:#?}");
}

// Proves the harness sees a CSP violation: an inline script added to a hydrated page is refused
// by the policy, reported by the page's listener and logged by the browser as a console error.
#[tokio::test]
async fn a_refused_inline_script_is_seen() {
    let server = KasaServer::start().await;
    let chromium = Chromium::launch().await;
    // A context of its own (not `new_page`), so the canary's errors do not fail this test.
    let context = chromium.browser.new_context().await.unwrap();
    context.add_init_script(common::CSP_REPORTER).await.unwrap();
    let (logged, mut console) = tokio::sync::mpsc::unbounded_channel();
    context
        .on_console(move |message| {
            let logged = logged.clone();
            async move {
                if message.type_() == "error" {
                    let _ = logged.send(message.text().to_owned());
                }
                Ok(())
            }
        })
        .await
        .unwrap();
    let page = context.new_page().await.unwrap();
    open(&page, &server.url("/login")).await;
    page.evaluate_expression(
        "{ const script = document.createElement('script'); \
           script.textContent = 'window.__kasaInlineRan = true'; \
           document.body.appendChild(script); }",
    )
    .await
    .unwrap();
    let ran = page
        .evaluate::<(), bool>("() => window.__kasaInlineRan === true", None)
        .await
        .unwrap();
    assert!(!ran, "the policy let an inline script run");
    let message = tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            let message = console.recv().await.expect("the console stays open");
            if message.contains("CSP violation") {
                return message;
            }
        }
    })
    .await
    .expect("the violation reaches the console");
    assert!(message.contains("script-src"), "{message}");
    let violations = csp_violations(&page).await;
    assert_eq!(violations.len(), 1, "{violations:?}");
}
