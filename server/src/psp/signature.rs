//! Stripe's webhook signature scheme, which the mock PSP uses too: the header
//! `t=<unix seconds>,v1=<hex>[,v1=<hex>…]` where each `v1` is HMAC-SHA256 of `"{t}.{raw body}"`
//! under the endpoint's secret. Several `v1` values are allowed (secret rotation); other schemes
//! (`v0`) are ignored; the timestamp must be within the tolerance of now, either way.

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// Stripe's default tolerance for the signed timestamp.
pub const TOLERANCE_SECONDS: i64 = 300;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the signature header is missing")]
    Missing,
    #[error("the signature header is malformed")]
    Malformed,
    #[error("no signature matches")]
    Mismatch,
    #[error("the timestamp is outside the tolerance")]
    Stale,
}

/// Checks `header` against `body` and `secret`: some `v1` must match (compared in constant
/// time) and the timestamp must be within `tolerance_s` of `now`.
pub fn verify(
    header: Option<&str>,
    body: &[u8],
    secret: &str,
    now: DateTime<Utc>,
    tolerance_s: i64,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        let (key, value) = part
            .trim()
            .split_once('=')
            .ok_or(SignatureError::Malformed)?;
        match key {
            "t" => {
                timestamp = Some(
                    value
                        .parse::<i64>()
                        .map_err(|_| SignatureError::Malformed)?,
                )
            }
            "v1" => signatures.push(hex::decode(value).map_err(|_| SignatureError::Malformed)?),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
    if signatures.is_empty() {
        return Err(SignatureError::Mismatch);
    }
    let expected = mac(secret, timestamp, body);
    let matched = signatures.iter().fold(false, |found, candidate| {
        found | bool::from(candidate.ct_eq(&expected))
    });
    if !matched {
        return Err(SignatureError::Mismatch);
    }
    if (now.timestamp() - timestamp).abs() > tolerance_s {
        return Err(SignatureError::Stale);
    }
    Ok(())
}

/// The header value a sender puts on `body` at `timestamp` (the mock PSP and tests use it).
pub fn sign(body: &[u8], secret: &str, timestamp: i64) -> String {
    format!(
        "t={timestamp},v1={}",
        hex::encode(mac(secret, timestamp, body))
    )
}

fn mac(secret: &str, timestamp: i64, body: &[u8]) -> Vec<u8> {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.finalize().into_bytes().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_test_secret";

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(seconds, 0).unwrap()
    }

    // Proves a correct signature verifies and any change to body, secret or header fails.
    #[test]
    fn signature_round_trip_and_tampering() {
        let body = br#"{"id":"evt_1"}"#;
        let header = sign(body, SECRET, 1_700_000_000);
        assert_eq!(
            verify(Some(&header), body, SECRET, at(1_700_000_010), 300),
            Ok(())
        );
        assert_eq!(
            verify(
                Some(&header),
                br#"{"id":"evt_2"}"#,
                SECRET,
                at(1_700_000_010),
                300
            ),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(Some(&header), body, "whsec_other", at(1_700_000_010), 300),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(None, body, SECRET, at(1_700_000_010), 300),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            verify(Some("garbage"), body, SECRET, at(1_700_000_010), 300),
            Err(SignatureError::Malformed)
        );
    }

    // Proves the tolerance boundary: 300 s old passes, 301 s old fails, also into the future.
    #[test]
    fn timestamp_tolerance_is_exact() {
        let body = b"{}";
        let header = sign(body, SECRET, 1_700_000_000);
        assert_eq!(
            verify(Some(&header), body, SECRET, at(1_700_000_300), 300),
            Ok(())
        );
        assert_eq!(
            verify(Some(&header), body, SECRET, at(1_700_000_301), 300),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify(Some(&header), body, SECRET, at(1_699_999_699), 300),
            Err(SignatureError::Stale)
        );
    }

    // Proves one matching v1 among several (secret rotation) is enough, and v0 is ignored.
    #[test]
    fn any_v1_may_match() {
        let body = b"{}";
        let good = sign(body, SECRET, 1_700_000_000);
        let good_v1 = good.split_once(",v1=").unwrap().1;
        let header = format!("t=1700000000,v0=abcd,v1={},v1={good_v1}", "00".repeat(32));
        assert_eq!(
            verify(Some(&header), body, SECRET, at(1_700_000_000), 300),
            Ok(())
        );
        let only_v0 = format!("t=1700000000,v0={good_v1}");
        assert_eq!(
            verify(Some(&only_v0), body, SECRET, at(1_700_000_000), 300),
            Err(SignatureError::Mismatch)
        );
    }
}
