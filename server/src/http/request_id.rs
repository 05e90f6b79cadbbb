//! The request id's hygiene: a client may name its request (a proxy's or a load balancer's id
//! ties their logs to ours), but the id lands in log lines and in the hash-chained audit log, so
//! only a short token is kept; anything else is dropped and the router makes a fresh one.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;

/// The longest client request id kept (a UUID is 36 characters).
pub const REQUEST_ID_LENGTH_MAX: usize = 64;

/// Whether `value` is a request id worth keeping: 1 to 64 characters of `[A-Za-z0-9._-]`.
pub fn is_token(value: &[u8]) -> bool {
    (1..=REQUEST_ID_LENGTH_MAX).contains(&value.len())
        && value
            .iter()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b'-'))
}

/// Removes a client's request id unless it is exactly one short token; runs before the layer
/// that sets a missing id, so a removed one is replaced.
pub async fn keep_only_tokens(mut request: Request, next: Next) -> Response {
    let header = super::REQUEST_ID_HEADER;
    let headers = request.headers_mut();
    let mut values = headers.get_all(&header).iter();
    let keep = match (values.next(), values.next()) {
        (Some(value), None) => is_token(value.as_bytes()),
        _ => false,
    };
    if !keep {
        headers.remove(&header);
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::is_token;

    // Proves short tokens pass and long, empty or free-text ids do not.
    #[test]
    fn only_short_tokens_are_request_ids() {
        for kept in ["a", "0b7c1e2a-5f3d-4c1b-9a0e-123456789abc", "lb.trace_42-x"] {
            assert!(is_token(kept.as_bytes()), "{kept}");
        }
        let long = "a".repeat(65);
        for dropped in [
            "",
            long.as_str(),
            "two words",
            "x\"; DROP TABLE audit_events; --",
            "caf\u{e9}",
            "a/b",
        ] {
            assert!(!is_token(dropped.as_bytes()), "{dropped}");
        }
        assert!(is_token("a".repeat(64).as_bytes()));
    }
}
