//! RSA-SHA256 request signatures (PKCS#1 v1.5), as Hub88 signs its wallet calls: the signature of
//! the raw body under the provider's private key, base64 in a header, verified with the public
//! key configured for the provider before anything in the body is read.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rsa::pkcs1v15::{Signature, SigningKey, VerifyingKey};
use rsa::pkcs8::{
    DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, LineEnding,
};
use rsa::signature::{SignatureEncoding, Signer, Verifier};
use rsa::{RsaPrivateKey, RsaPublicKey};
use sha2::Sha256;

/// The key size Kasa generates (the demo provider's); verification accepts what the provider uses.
const GENERATED_KEY_BITS: usize = 2048;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the signature header is missing")]
    Missing,
    #[error("the signature is not base64 of an RSA signature")]
    Malformed,
    #[error("the signature does not match the body under the provider's key")]
    Mismatch,
}

/// A provider's public key, checking its signatures.
#[derive(Clone)]
pub struct RequestVerifier(VerifyingKey<Sha256>);

impl RequestVerifier {
    /// From a PEM `PUBLIC KEY` (SubjectPublicKeyInfo), as providers publish them.
    pub fn from_pem(pem: &str) -> anyhow::Result<RequestVerifier> {
        let key = RsaPublicKey::from_public_key_pem(pem.trim())?;
        Ok(RequestVerifier(VerifyingKey::new(key)))
    }

    /// Checks `header` (base64 of the signature) against the raw `body`.
    pub fn verify(&self, header: Option<&str>, body: &[u8]) -> Result<(), SignatureError> {
        let header = header.ok_or(SignatureError::Missing)?;
        let bytes = STANDARD
            .decode(header.trim())
            .map_err(|_| SignatureError::Malformed)?;
        let signature =
            Signature::try_from(bytes.as_slice()).map_err(|_| SignatureError::Malformed)?;
        self.0
            .verify(body, &signature)
            .map_err(|_| SignatureError::Mismatch)
    }
}

/// A private key signing requests as a provider does (the demo provider, the tests' fakes).
#[derive(Clone)]
pub struct RequestSigner {
    key: SigningKey<Sha256>,
    public_pem: String,
}

impl RequestSigner {
    /// A fresh random key.
    pub fn generate() -> anyhow::Result<RequestSigner> {
        let key = RsaPrivateKey::new(&mut rsa::rand_core::OsRng, GENERATED_KEY_BITS)?;
        RequestSigner::from_key(key)
    }

    /// From a PEM `PRIVATE KEY` (PKCS#8).
    pub fn from_pem(pem: &str) -> anyhow::Result<RequestSigner> {
        RequestSigner::from_key(RsaPrivateKey::from_pkcs8_pem(pem.trim())?)
    }

    fn from_key(key: RsaPrivateKey) -> anyhow::Result<RequestSigner> {
        let public_pem = key.to_public_key().to_public_key_pem(LineEnding::LF)?;
        Ok(RequestSigner {
            key: SigningKey::new(key),
            public_pem,
        })
    }

    /// The private key as PEM, for keeping it.
    pub fn private_pem(&self) -> anyhow::Result<String> {
        Ok(self.key.as_ref().to_pkcs8_pem(LineEnding::LF)?.to_string())
    }

    /// The public key as PEM, as the operator configures it.
    pub fn public_pem(&self) -> &str {
        &self.public_pem
    }

    /// The header value for `body`: base64 of its RSA-SHA256 signature.
    pub fn sign(&self, body: &[u8]) -> String {
        STANDARD.encode(self.key.sign(body).to_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_only_for_its_body_and_key() {
        let signer = RequestSigner::generate().unwrap();
        let verifier = RequestVerifier::from_pem(signer.public_pem()).unwrap();
        let body = br#"{"amount":100000}"#;
        let header = signer.sign(body);
        assert_eq!(verifier.verify(Some(&header), body), Ok(()));
        assert_eq!(
            verifier.verify(Some(&header), br#"{"amount":100001}"#),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(verifier.verify(None, body), Err(SignatureError::Missing));
        assert_eq!(
            verifier.verify(Some("not base64!"), body),
            Err(SignatureError::Malformed)
        );
        let other = RequestSigner::generate().unwrap();
        assert_eq!(
            verifier.verify(Some(&other.sign(body)), body),
            Err(SignatureError::Mismatch)
        );
        let reloaded = RequestSigner::from_pem(&signer.private_pem().unwrap()).unwrap();
        assert_eq!(verifier.verify(Some(&reloaded.sign(body)), body), Ok(()));
    }
}
