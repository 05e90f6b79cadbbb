//! Password hashing with Argon2id at OWASP's parameters (19 MiB, 2 iterations, 1 lane), run on
//! the blocking pool so a log-in never stalls the async runtime.

use std::sync::LazyLock;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use secrecy::{ExposeSecret, SecretString};

const MEMORY_KIB: u32 = 19 * 1024;
const ITERATIONS: u32 = 2;
const LANES: u32 = 1;

fn hasher() -> Argon2<'static> {
    let params = Params::new(MEMORY_KIB, ITERATIONS, LANES, None)
        .expect("OWASP Argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

pub async fn hash(password: SecretString) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>())
            .map_err(|error| anyhow::anyhow!("salt: {error}"))?;
        let hash = hasher()
            .hash_password(password.expose_secret().as_bytes(), &salt)
            .map_err(|error| anyhow::anyhow!("hashing: {error}"))?;
        Ok(hash.to_string())
    })
    .await?
}

/// Checks a password against a stored hash. With no stored hash (unknown email) it checks
/// against a fixed dummy hash, so both cases take the same time and look the same.
pub async fn verify(password: SecretString, stored_hash: Option<String>) -> anyhow::Result<bool> {
    let known_account = stored_hash.is_some();
    tokio::task::spawn_blocking(move || {
        let stored = stored_hash.unwrap_or_else(|| DUMMY_HASH.clone());
        let parsed =
            PasswordHash::new(&stored).map_err(|error| anyhow::anyhow!("stored hash: {error}"))?;
        let matches = hasher()
            .verify_password(password.expose_secret().as_bytes(), &parsed)
            .is_ok();
        Ok(matches && known_account)
    })
    .await?
}

static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| {
    let salt = SaltString::encode_b64(&[7_u8; 16]).expect("a fixed salt encodes");
    hasher()
        .hash_password(b"no account has this password", &salt)
        .expect("the dummy hash computes")
        .to_string()
});

#[cfg(test)]
mod tests {
    use super::*;

    // Proves hashes use Argon2id with OWASP's parameters, verify the right password only,
    // and that an unknown account never verifies.
    #[tokio::test]
    async fn hash_and_verify() {
        let stored = hash(SecretString::from("correct horse battery"))
            .await
            .unwrap();
        assert!(
            stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{stored}"
        );
        assert!(
            verify(
                SecretString::from("correct horse battery"),
                Some(stored.clone())
            )
            .await
            .unwrap()
        );
        assert!(
            !verify(SecretString::from("wrong horse battery"), Some(stored))
                .await
                .unwrap()
        );
        assert!(
            !verify(SecretString::from("no account has this password"), None)
                .await
                .unwrap()
        );
    }
}
