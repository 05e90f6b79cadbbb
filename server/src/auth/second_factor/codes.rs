//! The codes themselves, without the database: TOTP secrets and codes (RFC 6238 through
//! `totp-rs`: HMAC-SHA-1, 6 digits, 30-second steps, one step of skew either way), the
//! `otpauth://` URI and its QR code drawn as SVG, recovery codes and enrolment tickets.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use qrcode::render::svg;
use qrcode::{EcLevel, QrCode};
use sha2::{Digest, Sha256};
use totp_rs::{Algorithm, Builder, Secret, Totp};

/// RFC 4226's recommended secret size: 160 bits.
pub const SECRET_LENGTH_BYTES: usize = 20;
pub const STEP_SECONDS: u64 = 30;
const DIGITS: u8 = 6;
/// Steps either side of now a code may come from (clock drift, typing time), as RFC 6238 advises.
const SKEW_STEPS: u64 = 1;
pub const RECOVERY_CODE_COUNT: usize = 10;
/// 16 symbols of 5 bits: 80 random bits per recovery code.
const RECOVERY_CODE_SYMBOLS: usize = 16;
/// Crockford's base32, lower case: no i, l, o or u to misread.
const RECOVERY_ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
/// Side of the QR code's SVG in pixels, at least (it scales with the URI's length).
const QR_SIZE_MIN_PX: u32 = 200;

/// A staff member's TOTP secret.
#[derive(Clone)]
pub struct TotpSecret([u8; SECRET_LENGTH_BYTES]);

impl std::fmt::Debug for TotpSecret {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("TotpSecret(…)")
    }
}

impl TotpSecret {
    pub fn generate() -> TotpSecret {
        TotpSecret(rand::random())
    }

    /// The secret as stored (`staff_second_factors.secret`).
    pub fn from_stored(bytes: &[u8]) -> Option<TotpSecret> {
        bytes.try_into().ok().map(TotpSecret)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// RFC 4648 base32 without padding, as authenticator apps take it.
    pub fn base32(&self) -> String {
        Secret::from(self.0).to_base32()
    }

    /// One step's code check; the window is walked by [`TotpSecret::matching_step`].
    fn totp(&self) -> Totp {
        Builder::new()
            .with_algorithm(Algorithm::SHA1)
            .with_digits(DIGITS)
            .with_skew(0)
            .with_step_duration(STEP_SECONDS)
            .with_secret(self.0)
            .build()
            .expect("SHA-1, 6 digits, 30 s and a 160-bit secret are RFC 6238's own parameters")
    }

    /// The time step (unix seconds / 30) at which `code` is right, within one step of `now`,
    /// the latest first; `None` when it is right at none of them. Comparisons run in constant
    /// time (`totp-rs`); accepting a step only once is the caller's job.
    pub fn matching_step(&self, code: &str, now: DateTime<Utc>) -> Option<u64> {
        let totp = self.totp();
        let current = unix_seconds(now) / STEP_SECONDS;
        (current.saturating_sub(SKEW_STEPS)..=current + SKEW_STEPS)
            .rev()
            .find(|step| totp.check(code, step * STEP_SECONDS).is_some())
    }

    /// The code an authenticator app shows at `time` (tests and the demo use it).
    pub fn code_at(&self, time: DateTime<Utc>) -> String {
        self.totp().generate(unix_seconds(time)).to_string()
    }
}

fn unix_seconds(time: DateTime<Utc>) -> u64 {
    u64::try_from(time.timestamp()).unwrap_or(0)
}

/// A TOTP code as typed: six digits, spaces allowed ("123 456").
pub fn as_totp_code(input: &str) -> Option<String> {
    let compact: String = input.chars().filter(|c| !c.is_whitespace()).collect();
    (compact.len() == usize::from(DIGITS) && compact.bytes().all(|b| b.is_ascii_digit()))
        .then_some(compact)
}

/// The secret in groups of four, easier to type by hand (apps ignore the spaces).
pub fn grouped(secret_base32: &str) -> String {
    secret_base32
        .as_bytes()
        .chunks(4)
        .map(|chunk| String::from_utf8_lossy(chunk).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The key URI authenticator apps read (Google's `otpauth://` format): the label
/// `issuer:account` and the issuer again as a parameter, both percent-encoded.
pub fn otpauth_uri(secret: &TotpSecret, issuer: &str, account: &str) -> String {
    // A colon separates issuer and account in the label, so neither may hold one.
    let issuer = encode(&issuer.replace(':', " "));
    let account = encode(&account.replace(':', " "));
    format!(
        "otpauth://totp/{issuer}:{account}?secret={secret}&issuer={issuer}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}",
        secret = secret.base32(),
    )
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn encode(value: &str) -> String {
    let mut encoded = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

/// `data` as a QR code in SVG: one `<rect>` and one `<path>` of numbers, no text, no script, no
/// style attribute, so it can go into the page as markup under any CSP.
pub fn qr_svg(data: &str) -> Result<String, qrcode::types::QrError> {
    let code = QrCode::with_error_correction_level(data.as_bytes(), EcLevel::M)?;
    let svg = code
        .render::<svg::Color>()
        .min_dimensions(QR_SIZE_MIN_PX, QR_SIZE_MIN_PX)
        .dark_color(svg::Color("#000000"))
        .light_color(svg::Color("#ffffff"))
        .build();
    // The XML declaration belongs to files; inside an HTML page it would be a stray node.
    let start = svg.find("<svg").unwrap_or(0);
    Ok(svg[start..].to_owned())
}

/// Ten fresh recovery codes, `xxxx-xxxx-xxxx-xxxx`, each of 80 random bits.
pub fn generate_recovery_codes() -> Vec<String> {
    (0..RECOVERY_CODE_COUNT)
        .map(|_| {
            let bytes: [u8; 10] = rand::random();
            let mut value = bytes
                .iter()
                .fold(0_u128, |value, byte| (value << 8) | u128::from(*byte));
            let mut symbols = [0_u8; RECOVERY_CODE_SYMBOLS];
            for symbol in symbols.iter_mut().rev() {
                *symbol = RECOVERY_ALPHABET[(value & 31) as usize];
                value >>= 5;
            }
            symbols
                .chunks(4)
                .map(|group| String::from_utf8_lossy(group).into_owned())
                .collect::<Vec<_>>()
                .join("-")
        })
        .collect()
}

/// A recovery code as typed, in the form its hash is taken of: lower case, without dashes or
/// spaces, with Crockford's look-alikes read as he says (i, l → 1; o → 0). `None` when it
/// cannot be one.
pub fn normalise_recovery_code(input: &str) -> Option<String> {
    let normalised: String = input
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| match c.to_ascii_lowercase() {
            'i' | 'l' => '1',
            'o' => '0',
            other => other,
        })
        .collect();
    (normalised.len() == RECOVERY_CODE_SYMBOLS
        && normalised.bytes().all(|b| RECOVERY_ALPHABET.contains(&b)))
    .then_some(normalised)
}

/// The stored form of a recovery code (normalised first).
pub fn recovery_code_sha256(normalised: &str) -> [u8; 32] {
    Sha256::digest(normalised.as_bytes()).into()
}

/// A fresh enrolment ticket (256 random bits, for the cookie) and its stored SHA-256.
pub fn new_ticket() -> (String, [u8; 32]) {
    let token = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
    let digest = ticket_sha256(&token);
    (token, digest)
}

pub fn ticket_sha256(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    // Proves the codes are RFC 6238's: its SHA-1 test vectors (8 digits there, the last 6 here).
    #[test]
    fn codes_match_the_rfc_test_vectors() {
        let secret = TotpSecret::from_stored(b"12345678901234567890").unwrap();
        for (unix, expected) in [
            (59, "287082"),
            (1_111_111_109, "081804"),
            (1_234_567_890, "005924"),
            (2_000_000_000, "279037"),
        ] {
            let time = Utc.timestamp_opt(unix, 0).unwrap();
            assert_eq!(secret.code_at(time), expected, "at {unix}");
        }
    }

    // Proves a code is accepted one step either side of now and no further, at its own step.
    #[test]
    fn codes_are_accepted_within_one_step() {
        let secret = TotpSecret::generate();
        let now = Utc.timestamp_opt(1_800_000_015, 0).unwrap();
        let step = 1_800_000_015 / STEP_SECONDS;
        let code = secret.code_at(now);
        assert_eq!(secret.matching_step(&code, now), Some(step));
        let later = now + chrono::Duration::seconds(30);
        assert_eq!(secret.matching_step(&code, later), Some(step));
        let much_later = now + chrono::Duration::seconds(60);
        assert_eq!(secret.matching_step(&code, much_later), None);
        assert_eq!(secret.matching_step("12345", now), None);
        assert_eq!(secret.matching_step("+12345", now), None);
    }

    // Proves recovery codes carry 80 bits in 16 unambiguous symbols, and that what a person types
    // (capitals, no dashes, look-alikes) normalises to the same stored hash.
    #[test]
    fn recovery_codes_are_random_and_forgiving_to_type() {
        let codes = generate_recovery_codes();
        assert_eq!(codes.len(), RECOVERY_CODE_COUNT);
        let distinct: std::collections::BTreeSet<_> = codes.iter().collect();
        assert_eq!(distinct.len(), RECOVERY_CODE_COUNT);
        for code in &codes {
            assert_eq!(code.len(), 19, "{code}");
            assert_eq!(code.matches('-').count(), 3, "{code}");
            assert_eq!(
                normalise_recovery_code(code).unwrap(),
                code.replace('-', "")
            );
        }
        let typed = "ABCD EFGH-JKMN-PQRS";
        assert_eq!(
            normalise_recovery_code(typed).as_deref(),
            Some("abcdefghjkmnpqrs")
        );
        assert_eq!(
            normalise_recovery_code("0o1l-iabc-defg-hjkm").as_deref(),
            Some("00111abcdefghjkm")
        );
        assert_eq!(normalise_recovery_code("123456"), None);
        assert_eq!(normalise_recovery_code("abcd-efgh-jkmn-pqru"), None);
    }

    // Proves the key URI encodes the brand and email (no way to break out of the label) and the
    // QR code is plain SVG with no text or script in it.
    #[test]
    fn the_uri_and_its_qr_code_hold_nothing_unescaped() {
        let secret = TotpSecret::from_stored(&[7; SECRET_LENGTH_BYTES]).unwrap();
        let uri = otpauth_uri(&secret, "Kasa Evil: Brand&<x>", "a+b@example.com");
        assert_eq!(
            uri,
            format!(
                "otpauth://totp/Kasa%20Evil%20%20Brand%26%3Cx%3E:a%2Bb%40example.com?secret={}&issuer=Kasa%20Evil%20%20Brand%26%3Cx%3E&algorithm=SHA1&digits=6&period=30",
                secret.base32()
            )
        );
        let svg = qr_svg(&uri).unwrap();
        assert!(
            svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""),
            "{svg}"
        );
        assert!(svg.ends_with("</svg>"));
        for absent in ["<script", "style", "Evil", "example.com", "<?xml", "<text"] {
            assert!(!svg.contains(absent), "{absent} in the SVG");
        }
        assert_eq!(grouped("ABCDEFGHIJ"), "ABCD EFGH IJ");
        assert_eq!(as_totp_code(" 123 456 ").as_deref(), Some("123456"));
        assert_eq!(as_totp_code("12345a"), None);
    }
}
