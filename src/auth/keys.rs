//! The gateway's token signing key: Ed25519 (EdDSA), created on first start in the
//! data dir or loaded from a PEM file, published as a JWKS.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use sha2::{Digest, Sha256};

use super::{Claims, Role};
use crate::domain::ClientId;

/// Why the key could not be loaded or used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("key file {path}: {reason}")]
    File { path: String, reason: String },
    #[error("signing: {0}")]
    Sign(String),
}

/// The private key, its id and the token settings.
pub struct SigningKeys {
    encoding: EncodingKey,
    kid: String,
    public_x: String,
    pub issuer: String,
    pub audience: String,
    pub ttl: Duration,
}

impl std::fmt::Debug for SigningKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKeys").field("kid", &self.kid).finish_non_exhaustive()
    }
}

impl SigningKeys {
    /// Loads the PEM (PKCS#8) key at `path`, creating a new key there if none exists.
    pub fn load_or_create(path: &Path, issuer: &str, audience: &str, ttl: Duration) -> Result<Self, KeyError> {
        let file_err = |reason: String| KeyError::File { path: path.display().to_string(), reason };
        let signing = if path.exists() {
            let pem = std::fs::read_to_string(path).map_err(|e| file_err(e.to_string()))?;
            SigningKey::from_pkcs8_pem(&pem).map_err(|e| file_err(format!("not an Ed25519 PKCS#8 PEM key: {e}")))?
        } else {
            let mut seed = [0u8; 32];
            getrandom::fill(&mut seed).map_err(|e| file_err(format!("random: {e}")))?;
            let key = SigningKey::from_bytes(&seed);
            let pem = key
                .to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
                .map_err(|e| file_err(e.to_string()))?;
            crate::keyfile::write_private(path, pem.as_bytes()).map_err(|e| file_err(e.to_string()))?;
            tracing::info!(path = %path.display(), "created a new token signing key");
            key
        };
        let der = signing.to_pkcs8_der().map_err(|e| file_err(e.to_string()))?;
        let public = signing.verifying_key().to_bytes();
        let kid = URL_SAFE_NO_PAD.encode(&Sha256::digest(public)[..12]);
        Ok(SigningKeys {
            encoding: EncodingKey::from_ed_der(der.as_bytes()),
            kid,
            public_x: URL_SAFE_NO_PAD.encode(public),
            issuer: issuer.to_string(),
            audience: audience.to_string(),
            ttl,
        })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public keys as a JWKS document.
    pub fn jwks(&self) -> serde_json::Value {
        serde_json::json!({
            "keys": [{
                "kty": "OKP",
                "crv": "Ed25519",
                "alg": "EdDSA",
                "use": "sig",
                "kid": self.kid,
                "x": self.public_x,
            }]
        })
    }

    /// Signs an access token for `client_id`; returns the token and its lifetime.
    pub fn issue(&self, client_id: &ClientId, role: Role, scopes: Vec<String>) -> Result<(String, u64), KeyError> {
        let iat = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        let ttl = self.ttl.as_secs();
        let claims = Claims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: client_id.clone(),
            role,
            scopes,
            iat,
            exp: iat + ttl,
            jti: uuid::Uuid::new_v4().to_string(),
        };
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        let token =
            jsonwebtoken::encode(&header, &claims, &self.encoding).map_err(|e| KeyError::Sign(e.to_string()))?;
        Ok((token, ttl))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_created_key_is_loaded_back_with_the_same_kid() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/k.pem");
        let a = SigningKeys::load_or_create(&path, "i", "a", Duration::from_secs(60)).unwrap();
        let b = SigningKeys::load_or_create(&path, "i", "a", Duration::from_secs(60)).unwrap();
        assert_eq!(a.kid(), b.kid());
        assert_eq!(a.jwks(), b.jwks());
    }

    #[test]
    fn a_garbage_key_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.pem");
        std::fs::write(&path, "not a key").unwrap();
        assert!(SigningKeys::load_or_create(&path, "i", "a", Duration::from_secs(60)).is_err());
    }
}
