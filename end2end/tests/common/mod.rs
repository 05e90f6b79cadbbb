//! Test support for the browser suite: a real `kasa` server on a free port against a fresh
//! database of its own, and Debian's headless Chromium driven through playwright-rs.
#![allow(dead_code)]

use std::io::BufRead;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use playwright_rs::api::LaunchOptions;
use playwright_rs::protocol::{Browser, Page, Playwright};
use tokio::process::{Child, Command};

pub const DEMO_PASSWORD: &str = "demo-password-for-browser-tests";
/// How long a page may take to hydrate or a server function to answer before a test fails.
const WAIT_MS: f64 = 15_000.0;

/// Server log lines that are always a defect, whatever the test does: a test whose server logs
/// one fails, even when the page happened to look right.
const SERVER_LOG_DEFECTS: [&str; 1] =
    ["server function called without its service or request in context"];

/// A running `kasa serve`, killed when dropped. Its stderr is passed through to the test's
/// output and watched for [`SERVER_LOG_DEFECTS`]; dropping the server fails the test on one.
pub struct KasaServer {
    pub base: String,
    /// The server's own database (as the test cluster's superuser), for finding ids.
    pub database_url: String,
    child: Child,
    log_reader: Option<std::thread::JoinHandle<()>>,
    defects: Arc<Mutex<Vec<String>>>,
}

fn required_env(name: &str) -> String {
    std::env::var(name)
        .unwrap_or_else(|_| panic!("{name} must be set: run the suite through scripts/test"))
}

impl KasaServer {
    pub async fn start() -> KasaServer {
        let database_url = fresh_database().await;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let base = format!("http://127.0.0.1:{port}");
        let mut child = Command::new(required_env("KASA_BIN"))
            .arg("serve")
            .env("DATABASE_URL", &database_url)
            .env("KASA_ENVIRONMENT", "test")
            .env("KASA_BIND", format!("127.0.0.1:{port}"))
            // Several servers run at once: each its own metrics port.
            .env("KASA_METRICS_BIND", "127.0.0.1:0")
            .env("KASA_PUBLIC_ORIGIN", &base)
            .env("KASA_DEMO_PASSWORD", DEMO_PASSWORD)
            .env("KASA_SITE_ROOT", required_env("KASA_SITE_ROOT"))
            // Plain http on loopback: a Secure cookie would not be stored.
            .env("KASA_SECURE_COOKIES", "false")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("the kasa binary starts");
        let (log_reader, defects) = watch_log(&mut child);
        let server = KasaServer {
            base,
            database_url,
            child,
            log_reader: Some(log_reader),
            defects,
        };
        server.wait_until_healthy().await;
        server
    }

    async fn wait_until_healthy(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let client = reqwest::Client::new();
        loop {
            let response = client.get(format!("{}/api/health", self.base)).send().await;
            if response.is_ok_and(|response| response.status().is_success()) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "kasa did not become healthy at {}",
                self.base
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

impl Drop for KasaServer {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        // The reader ends at the log's end (the process is gone), so every line is seen.
        if let Some(reader) = self.log_reader.take() {
            let _ = reader.join();
        }
        let defects = self.defects.lock().unwrap();
        if !defects.is_empty() && !std::thread::panicking() {
            panic!("the server logged a defect:\n{}", defects.join("\n"));
        }
    }
}

/// Passes the child's stderr through to ours, line by line, and collects the defect lines.
fn watch_log(child: &mut Child) -> (std::thread::JoinHandle<()>, Arc<Mutex<Vec<String>>>) {
    let stderr = child.stderr.take().expect("stderr is piped");
    let stderr = std::fs::File::from(stderr.into_owned_fd().expect("a pipe"));
    let defects = Arc::new(Mutex::new(Vec::new()));
    let found = defects.clone();
    let reader = std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            eprintln!("{line}");
            if SERVER_LOG_DEFECTS
                .iter()
                .any(|defect| line.contains(defect))
            {
                found.lock().unwrap().push(line);
            }
        }
    });
    (reader, defects)
}

/// Creates an empty database on the test cluster and returns its URL.
async fn fresh_database() -> String {
    use sqlx::Connection;
    let admin_url = required_env("DATABASE_URL");
    let name = format!("e2e_{}", uuid::Uuid::new_v4().simple());
    let mut connection = sqlx::PgConnection::connect(&admin_url)
        .await
        .expect("the test cluster answers");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut connection)
        .await
        .unwrap();
    connection.close().await.unwrap();
    let (before_query, query) = admin_url
        .split_once('?')
        .map_or((admin_url.as_str(), ""), |(base, query)| (base, query));
    let (server, _) = before_query
        .rsplit_once('/')
        .expect("DATABASE_URL names a database");
    if query.is_empty() {
        format!("{server}/{name}")
    } else {
        format!("{server}/{name}?{query}")
    }
}

/// Runs in every page before its own scripts (the driver injects it; the page's CSP does not
/// apply to it): reports each Content-Security-Policy violation as a console error and keeps it
/// in `window.__kasaCspViolations`, which a test can read at a known moment.
pub const CSP_REPORTER: &str = r#"(() => {
  const seen = [];
  Object.defineProperty(window, "__kasaCspViolations", { value: seen });
  document.addEventListener("securitypolicyviolation", (event) => {
    const line = `CSP violation: ${event.violatedDirective} blocked ${event.blockedURI || "an inline script or style"} in ${event.sourceFile || document.location.href}:${event.lineNumber}`;
    seen.push(line);
    console.error(line);
  }, { capture: true });
})();"#;

/// Headless Chromium from Debian, through the npm playwright-core driver. Every console error
/// and uncaught exception of its pages is collected (CSP violations are console errors); the
/// test fails when the browser is dropped if any was seen (see [`Chromium::defects`]).
pub struct Chromium {
    _playwright: Playwright,
    pub browser: Browser,
    console: Arc<Mutex<Vec<ConsoleError>>>,
}

/// A console error or uncaught exception from one of the browser's pages.
#[derive(Debug, Clone)]
pub struct ConsoleError {
    /// The page's URL, or the failed resource's for a load error.
    pub url: String,
    pub text: String,
}

impl ConsoleError {
    /// The browser reporting a 4xx answer to what the test itself asked for, a page or a server
    /// function (a player's 403 on `/admin`, a wrong password's 401, an overdraft's 409):
    /// expected in tests of refusals. A 4xx of the page's own files (the bundle, a style, an
    /// icon: anything under `/pkg/` or named with an extension), and every 5xx, is a defect.
    fn is_provoked_refusal(&self) -> bool {
        let path = self
            .url
            .split_once("://")
            .and_then(|(_, rest)| rest.split_once('/'))
            .map_or("", |(_, path)| path);
        let path = path.split(['?', '#']).next().unwrap_or_default();
        let names_a_file = path
            .rsplit('/')
            .next()
            .is_some_and(|segment| segment.contains('.'));
        self.text
            .starts_with("Failed to load resource: the server responded with a status of 4")
            && !path.starts_with("pkg/")
            && !names_a_file
    }
}

impl std::fmt::Display for ConsoleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.url, self.text)
    }
}

impl Chromium {
    pub async fn launch() -> Chromium {
        let playwright = Playwright::launch()
            .await
            .expect("playwright's driver starts (PLAYWRIGHT_CLI_JS)");
        let args = [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-quic",
        ];
        let options = LaunchOptions::new()
            .headless(true)
            .executable_path(
                std::env::var("CHROMIUM_PATH").unwrap_or_else(|_| "/usr/bin/chromium".into()),
            )
            .args(args.iter().map(|arg| arg.to_string()).collect());
        let browser = playwright
            .chromium()
            .launch_with_options(options)
            .await
            .expect("Chromium launches");
        Chromium {
            _playwright: playwright,
            browser,
            console: Arc::default(),
        }
    }

    /// A page in a fresh context (its own cookies), watched for console errors.
    pub async fn new_page(&self) -> Page {
        let context = self.browser.new_context().await.unwrap();
        context.add_init_script(CSP_REPORTER).await.unwrap();
        let console = self.console.clone();
        context
            .on_console(move |message| {
                let console = console.clone();
                async move {
                    if message.type_() == "error" {
                        let url = match message.location().url.as_str() {
                            "" => message.page().map(|page| page.url()).unwrap_or_default(),
                            url => url.to_owned(),
                        };
                        console.lock().unwrap().push(ConsoleError {
                            url,
                            text: message.text().to_owned(),
                        });
                    }
                    Ok(())
                }
            })
            .await
            .unwrap();
        let errors = self.console.clone();
        context
            .on_weberror(move |error| {
                let errors = errors.clone();
                async move {
                    errors.lock().unwrap().push(ConsoleError {
                        url: error.page().map(|page| page.url()).unwrap_or_default(),
                        text: format!("uncaught: {}", error.error()),
                    });
                    Ok(())
                }
            })
            .await
            .unwrap();
        let page = context.new_page().await.unwrap();
        page.set_default_timeout(WAIT_MS).await;
        page
    }

    /// Every console error seen so far, expected refusals included.
    pub fn console_errors(&self) -> Vec<ConsoleError> {
        self.console.lock().unwrap().clone()
    }

    /// The console errors that fail a test: all but the 4xx answers the test provoked.
    pub fn defects(&self) -> Vec<ConsoleError> {
        self.console_errors()
            .into_iter()
            .filter(|error| !error.is_provoked_refusal())
            .collect()
    }
}

impl Drop for Chromium {
    fn drop(&mut self) {
        let defects = self.defects();
        if !defects.is_empty() && !std::thread::panicking() {
            let lines: Vec<String> = defects.iter().map(ToString::to_string).collect();
            panic!(
                "the browser reported errors (CSP violations, console errors, uncaught \
                 exceptions):\n{}",
                lines.join("\n")
            );
        }
    }
}

/// The CSP violations the current document has seen (deterministic: read from the page).
pub async fn csp_violations(page: &Page) -> Vec<String> {
    page.evaluate::<(), Vec<String>>("() => [...(window.__kasaCspViolations || [])]", None)
        .await
        .unwrap()
}

/// Opens a page and waits until the WASM has hydrated it, so clicks reach Leptos' handlers.
pub async fn open(page: &Page, url: &str) {
    page.goto(url, None)
        .await
        .unwrap_or_else(|error| panic!("opening {url}: {error}"));
    playwright_rs::expect(page.locator("[data-hydrated=\"true\"]"))
        .with_timeout(Duration::from_millis(WAIT_MS as u64))
        .to_be_visible()
        .await
        .unwrap_or_else(|error| panic!("{url} did not hydrate: {error}"));
}

pub async fn expect_visible(page: &Page, selector: &str) {
    playwright_rs::expect(page.locator(selector))
        .with_timeout(Duration::from_millis(WAIT_MS as u64))
        .to_be_visible()
        .await
        .unwrap_or_else(|error| panic!("{selector} is not visible on {}: {error}", page.url()));
}

pub async fn expect_text(page: &Page, selector: &str, text: &str) {
    playwright_rs::expect(page.locator(selector))
        .with_timeout(Duration::from_millis(WAIT_MS as u64))
        .to_contain_text(text)
        .await
        .unwrap_or_else(|error| {
            panic!(
                "{selector} does not contain {text:?} on {}: {error}",
                page.url()
            )
        });
}

pub async fn fill(page: &Page, selector: &str, value: &str) {
    page.locator(selector)
        .fill(value, None)
        .await
        .unwrap_or_else(|error| panic!("filling {selector}: {error}"));
}

pub async fn click(page: &Page, selector: &str) {
    page.locator(selector)
        .click(None)
        .await
        .unwrap_or_else(|error| panic!("clicking {selector}: {error}"));
}

/// Types `email` and the demo password into the log-in form at `path` (`/login` or
/// `/admin/login`) and submits it, without waiting for where it lands.
pub async fn submit_log_in(page: &Page, server: &KasaServer, path: &str, email: &str) {
    open(page, &server.url(path)).await;
    fill(page, "#email", email).await;
    fill(page, "#password", DEMO_PASSWORD).await;
    click(page, "button[type=submit]").await;
}

/// Logs in at `path` (`/login` or `/admin/login`) with the demo password and waits for
/// `landmark` on the page the log-in lands on.
pub async fn log_in(page: &Page, server: &KasaServer, path: &str, email: &str, landmark: &str) {
    submit_log_in(page, server, path, email).await;
    expect_visible(page, landmark).await;
}

/// The demo tenant's player.
pub const PLAYER_EMAIL: &str = "player@demo.kasa.test";

/// Logs the demo player in and waits for the wallet.
pub async fn log_in_player(page: &Page, server: &KasaServer) {
    log_in(page, server, "/login", PLAYER_EMAIL, "[data-testid=wallet]").await;
}

/// Logs a demo staff member in (`owner@demo.kasa.test`, …) and waits for the dashboard.
pub async fn log_in_staff(page: &Page, server: &KasaServer, email: &str) {
    log_in(
        page,
        server,
        "/admin/login",
        email,
        "[data-testid=admin-dashboard]",
    )
    .await;
}

/// Fills the deposit form with `amount` EUR and submits it.
pub async fn submit_deposit(page: &Page, server: &KasaServer, amount: &str) {
    open(page, &server.url("/deposit")).await;
    fill(page, "#amount", amount).await;
    click(page, "[data-testid=deposit-submit]").await;
}

/// Fills the deposit form and lands on the mock PSP's checkout page.
pub async fn start_deposit(page: &Page, server: &KasaServer, amount: &str) {
    submit_deposit(page, server, amount).await;
    expect_text(page, "[data-testid=mock-amount]", &format!("{amount} EUR")).await;
}

/// Deposits `amount` EUR: pays at the mock PSP's checkout and waits until the deposit is
/// captured.
pub async fn deposit_paid(page: &Page, server: &KasaServer, amount: &str) {
    start_deposit(page, server, amount).await;
    click(page, "button[value=pay]").await;
    expect_visible(page, "[data-testid=deposit-state][data-state=captured]").await;
}

/// Asks to withdraw `amount` EUR on the withdraw page (already open) and waits for the receipt.
pub async fn submit_withdrawal(page: &Page, amount: &str) {
    fill(page, "#amount", amount).await;
    click(page, "[data-testid=withdraw-submit]").await;
    expect_text(
        page,
        "[data-testid=withdraw-result]",
        &format!("{amount} EUR"),
    )
    .await;
}

/// A staff member on the KYC page moves the demo player through pending to verified, with
/// `note`, and sees each state.
pub async fn verify_player(staff: &Page, server: &KasaServer, note: &str) {
    find_player_kyc(staff, server).await;
    verify_found_player(staff, note).await;
}

/// A staff member opens the KYC page and finds the demo player.
pub async fn find_player_kyc(staff: &Page, server: &KasaServer) {
    open(staff, &server.url("/admin/kyc")).await;
    fill(staff, "#kyc-email", PLAYER_EMAIL).await;
    click(staff, "[data-testid=kyc-find]").await;
}

/// On the KYC page with the demo player found: moves them through pending to verified, with
/// `note`, and sees each state.
pub async fn verify_found_player(staff: &Page, note: &str) {
    for state in ["pending", "verified"] {
        click(staff, &format!("[data-testid=kyc-state-{state}]")).await;
        fill(staff, "#kyc-note", note).await;
        click(staff, "[data-testid=kyc-submit]").await;
        expect_visible(
            staff,
            &format!("[data-testid=kyc-state][data-state={state}]"),
        )
        .await;
    }
}

/// Marks the current document, to prove later that a change happened without a reload.
pub async fn mark_document(page: &Page) {
    page.evaluate_expression("window.__kasaNoReload = true")
        .await
        .unwrap();
}

pub async fn document_is_marked(page: &Page) -> bool {
    page.evaluate::<(), bool>("() => window.__kasaNoReload === true", None)
        .await
        .unwrap()
}
