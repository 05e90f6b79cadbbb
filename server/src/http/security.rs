//! Browser security headers on every response: a Content-Security-Policy whose script nonce is
//! fresh per response (and the same one Leptos writes on the page's inline scripts), no MIME
//! sniffing, no framing, a referrer kept to our own origin, powerful browser features off, HSTS
//! in production, and `Cache-Control: no-store` on everything but the static bundle.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use base64::Engine as _;
use rand::RngCore as _;

use crate::config::{Config, Environment};

/// The request's CSP nonce, put in the request's extensions before any handler runs.
#[derive(Debug, Clone)]
pub struct CspNonce(pub Arc<str>);

/// Random bytes per nonce: 128 bits, as CSP asks for ("at least 128 bits").
const NONCE_BYTES: usize = 16;
/// One year: browsers remember to use https only for this long after each response.
const HSTS_MAX_AGE_S: u32 = 365 * 24 * 60 * 60;
/// Browser features no page of Kasa uses; each is a name Chromium knows (an unknown one is
/// logged as an error on every page).
const PERMISSIONS_POLICY: &str = "accelerometer=(), camera=(), geolocation=(), gyroscope=(), \
                                  magnetometer=(), microphone=(), payment=(), usb=()";
/// Paths of the static bundle (WASM, JS, CSS): the same for every caller, so cacheable.
const STATIC_PREFIX: &str = "/pkg/";

/// What the header layer needs from the configuration, computed once.
pub struct SecurityHeaders {
    hsts: Option<HeaderValue>,
    /// Extra `connect-src` sources: cargo-leptos' live-reload socket under `cargo leptos watch`.
    connect_extra: String,
}

impl SecurityHeaders {
    /// `live_reload_port`: the port of cargo-leptos' reload socket when pages include its
    /// script (under `cargo leptos watch`), which opens a WebSocket to the page's host there.
    pub fn new(config: &Config, live_reload_port: Option<u32>) -> SecurityHeaders {
        let hsts = (config.environment == Environment::Production).then(|| {
            HeaderValue::from_str(&format!("max-age={HSTS_MAX_AGE_S}"))
                .expect("a valid header value")
        });
        let connect_extra = live_reload_port
            .map(|port| format!(" ws://*:{port}"))
            .unwrap_or_default();
        SecurityHeaders {
            hsts,
            connect_extra,
        }
    }

    /// The policy for one response. Scripts: our own files (the hydration script imports
    /// `/pkg/kasa.js`), inline scripts only with this response's nonce (Leptos' hydration and
    /// resource scripts carry it), and WebAssembly compilation; no `unsafe-inline`, no `eval`.
    /// Styles, images, fonts and fetches: our own origin only (the app has no inline styles).
    pub fn content_security_policy(&self, nonce: &str) -> String {
        format!(
            "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; \
             style-src 'self'; img-src 'self'; font-src 'self'; connect-src 'self'{}; \
             object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
            self.connect_extra
        )
    }

    fn apply(&self, headers: &mut HeaderMap, nonce: &str, path: &str) {
        let policy = HeaderValue::from_str(&self.content_security_policy(nonce))
            .expect("the policy is ASCII");
        headers.insert(header::CONTENT_SECURITY_POLICY, policy);
        headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        // Same-origin requests keep the full referrer (server functions' no-JS form fallback
        // redirects back to it); other sites, such as a PSP, learn nothing of our URLs.
        headers.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        );
        headers.insert(
            header::HeaderName::from_static("permissions-policy"),
            HeaderValue::from_static(PERMISSIONS_POLICY),
        );
        // For browsers older than `frame-ancestors`.
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        headers.insert(
            header::HeaderName::from_static("cross-origin-opener-policy"),
            HeaderValue::from_static("same-origin"),
        );
        if let Some(hsts) = &self.hsts {
            headers.insert(header::STRICT_TRANSPORT_SECURITY, hsts.clone());
        }
        // Pages and server-function answers hold a player's or staff member's data: no browser
        // or proxy keeps them (the back button refetches after log-out).
        if !path.starts_with(STATIC_PREFIX) {
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        }
    }
}

/// Gives the request a fresh nonce (for the page's inline scripts) and the response its
/// security headers, whatever answered it: a page, a server function, a guard's refusal or a
/// static file.
pub async fn security_headers(
    State(headers): State<Arc<SecurityHeaders>>,
    mut request: Request,
    next: Next,
) -> Response {
    let nonce = new_nonce();
    let path = request.uri().path().to_owned();
    request.extensions_mut().insert(CspNonce(nonce.clone()));
    let mut response = next.run(request).await;
    headers.apply(response.headers_mut(), &nonce, &path);
    response
}

fn new_nonce() -> Arc<str> {
    let mut bytes = [0_u8; NONCE_BYTES];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(bytes)
        .into()
}

/// Makes Leptos write the request's nonce (the one in its CSP header) on the inline scripts it
/// renders. leptos_axum provides a random nonce of its own first; this replaces it, so it must
/// run in every render's context (routed pages and the not-found page alike).
pub fn provide_request_nonce() {
    let nonce = leptos::prelude::use_context::<http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<CspNonce>().cloned());
    if let Some(CspNonce(nonce)) = nonce {
        leptos::prelude::provide_context(leptos::nonce::Nonce::from_value(nonce));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Proves the policy's script rules: the nonce, our own files and WASM, never unsafe-inline.
    #[test]
    fn the_policy_allows_only_our_scripts() {
        let config = Config::from_sources("", |_| None).unwrap();
        let policy = SecurityHeaders::new(&config, None).content_security_policy("abc");
        let script_src = policy
            .split(';')
            .map(str::trim)
            .find(|directive| directive.starts_with("script-src"))
            .unwrap();
        assert_eq!(
            script_src,
            "script-src 'self' 'nonce-abc' 'wasm-unsafe-eval'"
        );
        for directive in [
            "object-src 'none'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
        ] {
            assert!(policy.contains(directive), "{directive} in {policy}");
        }
        assert!(!policy.contains("unsafe-inline") && !policy.contains("'unsafe-eval'"));
    }

    // Proves two nonces differ and are valid CSP base64 values of 128 bits.
    #[test]
    fn nonces_are_fresh() {
        let (first, second) = (new_nonce(), new_nonce());
        assert_ne!(first, second);
        assert_eq!(first.len(), 22);
        assert!(
            first
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
    }
}
