//! Token verification: EdDSA only, `exp`, `iss`, `aud` and `sub` required and checked,
//! keys from the gateway's JWKS (fetched, refetched on an unknown `kid` and every
//! [`Config::jwks_refresh`](crate::config::Config::jwks_refresh), so that a retired key
//! is dropped), or at the gateway its own keys.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use sha2::{Digest, Sha256};

use super::{Claims, SigningKeys};
use crate::http::ApiError;

/// Tolerated clock skew between the gateway and a service.
pub const LEEWAY_SECONDS: u64 = 30;
/// At most one JWKS refetch for unknown `kid`s per this interval, so garbage `kid`s
/// cannot hammer the gateway.
const REFETCH_INTERVAL: Duration = Duration::from_secs(1);
/// Tokens remembered as verified. A client sends the same token for its whole
/// lifetime, so a signature is checked once per token and process instead of once
/// per request; past this many the memory starts again empty.
const VERIFIED_TOKENS: usize = 10_000;

/// Why a token was refused.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("no bearer token")]
    Missing,
    #[error("the Authorization header is not `Bearer <token>`")]
    MalformedHeader,
    #[error("the token cannot be decoded")]
    Malformed,
    #[error("the token is not signed with EdDSA")]
    WrongAlgorithm,
    #[error("the token's signing key is unknown")]
    UnknownKey,
    #[error("the token's signature is not valid")]
    BadSignature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is for another audience")]
    WrongAudience,
    #[error("the token is from another issuer")]
    WrongIssuer,
    #[error("the token lacks a required claim")]
    MissingClaim,
    #[error("the API client has been revoked")]
    Revoked,
    #[error("the token is not valid")]
    Invalid,
    #[error("the gateway's public keys cannot be fetched: {0}")]
    KeysUnavailable(String),
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        let code = match e {
            AuthError::Missing => "missing_token",
            AuthError::MalformedHeader => "malformed_authorization",
            AuthError::Malformed => "malformed_token",
            AuthError::WrongAlgorithm => "token_wrong_algorithm",
            AuthError::UnknownKey => "token_unknown_key",
            AuthError::BadSignature => "token_bad_signature",
            AuthError::Expired => "token_expired",
            AuthError::WrongAudience => "token_wrong_audience",
            AuthError::WrongIssuer => "token_wrong_issuer",
            AuthError::MissingClaim => "token_missing_claim",
            AuthError::Revoked => "client_revoked",
            AuthError::Invalid => "invalid_token",
            AuthError::KeysUnavailable(detail) => {
                return ApiError::unavailable("jwks_unavailable", detail);
            }
        };
        ApiError::unauthorized(code, e.to_string())
    }
}

enum KeySource {
    /// The gateway verifies with its own keys, as they are after each reload.
    Local(Arc<SigningKeys>),
    /// Services fetch the gateway's JWKS.
    Remote { url: String, http: reqwest::Client },
}

/// Verifies access tokens.
pub struct TokenVerifier {
    source: KeySource,
    validation: Validation,
    /// The keys of the last JWKS fetched (remote only).
    keys: RwLock<HashMap<String, DecodingKey>>,
    /// When a `kid` not in `keys` last made the verifier fetch.
    last_fetch: tokio::sync::Mutex<Option<Instant>>,
    /// The signing key's `kid` and the claims of tokens whose signature and claims
    /// were checked, by the token's SHA-256 (only a token that verified is ever
    /// stored). A token is taken from here only while its key is still known.
    verified: RwLock<HashMap<[u8; 32], (String, Claims)>>,
}

impl TokenVerifier {
    fn validation(issuer: &str, audience: &str) -> Validation {
        let mut v = Validation::new(Algorithm::EdDSA);
        v.set_issuer(&[issuer]);
        v.set_audience(&[audience]);
        v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        v.leeway = LEEWAY_SECONDS;
        v
    }

    /// A verifier that checks against `keys` (the gateway's own) and never fetches.
    pub fn local(keys: Arc<SigningKeys>) -> Self {
        TokenVerifier {
            validation: Self::validation(&keys.issuer, &keys.audience),
            source: KeySource::Local(keys),
            keys: RwLock::new(HashMap::new()),
            last_fetch: tokio::sync::Mutex::new(None),
            verified: RwLock::new(HashMap::new()),
        }
    }

    /// A verifier that fetches keys from `url` when it meets a `kid` it does not know.
    pub fn remote(url: String, issuer: &str, audience: &str) -> Result<Self, AuthError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| AuthError::KeysUnavailable(e.to_string()))?;
        Ok(TokenVerifier {
            source: KeySource::Remote { url, http },
            validation: Self::validation(issuer, audience),
            keys: RwLock::new(HashMap::new()),
            last_fetch: tokio::sync::Mutex::new(None),
            verified: RwLock::new(HashMap::new()),
        })
    }

    /// The key of `kid` as known now, without fetching.
    fn cached(&self, kid: &str) -> Option<DecodingKey> {
        match &self.source {
            KeySource::Local(keys) => keys.decoding_key(kid),
            KeySource::Remote { .. } => self.keys.read().ok().and_then(|k| k.get(kid).cloned()),
        }
    }

    /// The key of `kid`, fetching the JWKS if it is unknown. `arrived` is when the
    /// token came in: the gateway publishes a key before it signs with it, so a fetch
    /// begun after that knows every key the token can be signed with. A new key (after
    /// a rotation) is therefore waited for, never refused because another unknown
    /// `kid` made the verifier fetch a moment before.
    async fn key(&self, kid: &str, arrived: Instant) -> Result<DecodingKey, AuthError> {
        if let Some(key) = self.cached(kid) {
            return Ok(key);
        }
        let KeySource::Remote { url, http } = &self.source else {
            return Err(AuthError::UnknownKey);
        };
        let mut last = self.last_fetch.lock().await;
        // Another request may have refreshed while we waited for the lock.
        if let Some(key) = self.cached(kid) {
            return Ok(key);
        }
        if let Some(began) = *last {
            if began >= arrived {
                return Err(AuthError::UnknownKey);
            }
            // Holding the lock: whoever comes next sees this fetch as begun after it arrived.
            tokio::time::sleep(REFETCH_INTERVAL.saturating_sub(began.elapsed())).await;
        }
        let began = Instant::now();
        let fetched = fetch(http, url).await;
        *last = Some(began);
        let keys = fetched?;
        let found = keys.get(kid).cloned();
        if let Ok(mut cache) = self.keys.write() {
            *cache = keys;
        }
        found.ok_or(AuthError::UnknownKey)
    }

    /// Fetches the JWKS again (remote only), so that keys the gateway no longer
    /// publishes are no longer accepted here. On an error the keys fetched before stay.
    pub async fn refresh(&self) -> Result<(), AuthError> {
        let KeySource::Remote { url, http } = &self.source else {
            return Ok(());
        };
        let keys = fetch(http, url).await?;
        if let Ok(mut cache) = self.keys.write() {
            *cache = keys;
        }
        Ok(())
    }

    /// Verifies `token` and returns its claims.
    pub async fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        let arrived = Instant::now();
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let remembered = self.verified.read().ok().and_then(|v| v.get(&digest).cloned());
        match remembered {
            // What the signature check cannot see again: the time, and whether its key
            // has been retired since.
            Some((kid, claims)) if self.cached(&kid).is_some() => {
                return if claims.exp.saturating_add(LEEWAY_SECONDS) < now_seconds() {
                    Err(AuthError::Expired)
                } else {
                    Ok(claims)
                };
            }
            Some(_) => {
                if let Ok(mut verified) = self.verified.write() {
                    verified.remove(&digest);
                }
            }
            None => {}
        }
        let (kid, claims) = self.verify_signed(token, arrived).await?;
        if let Ok(mut verified) = self.verified.write() {
            if verified.len() >= VERIFIED_TOKENS {
                verified.clear();
            }
            verified.insert(digest, (kid, claims.clone()));
        }
        Ok(claims)
    }

    /// The claims of a token whose signature and claims check, and its key's `kid`.
    async fn verify_signed(&self, token: &str, arrived: Instant) -> Result<(String, Claims), AuthError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| AuthError::Malformed)?;
        if header.alg != Algorithm::EdDSA {
            return Err(AuthError::WrongAlgorithm);
        }
        let kid = header.kid.ok_or(AuthError::UnknownKey)?;
        let key = self.key(&kid, arrived).await?;
        let data = jsonwebtoken::decode::<Claims>(token, &key, &self.validation).map_err(|e| match e.kind() {
            ErrorKind::ExpiredSignature => AuthError::Expired,
            ErrorKind::InvalidAudience => AuthError::WrongAudience,
            ErrorKind::InvalidIssuer => AuthError::WrongIssuer,
            ErrorKind::InvalidSignature => AuthError::BadSignature,
            ErrorKind::InvalidAlgorithm => AuthError::WrongAlgorithm,
            ErrorKind::MissingRequiredClaim(_) => AuthError::MissingClaim,
            ErrorKind::Json(_) | ErrorKind::Base64(_) | ErrorKind::Utf8(_) | ErrorKind::InvalidToken => {
                AuthError::Malformed
            }
            _ => AuthError::Invalid,
        })?;
        Ok((kid, data.claims))
    }
}

fn now_seconds() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

async fn fetch(http: &reqwest::Client, url: &str) -> Result<HashMap<String, DecodingKey>, AuthError> {
    let unavailable = |e: reqwest::Error| AuthError::KeysUnavailable(e.without_url().to_string());
    let response = http.get(url).send().await.map_err(unavailable)?;
    let response = response.error_for_status().map_err(unavailable)?;
    let jwks: serde_json::Value = response.json().await.map_err(unavailable)?;
    parse_jwks(&jwks)
}

/// The Ed25519 keys of a JWKS, by `kid`. Keys of other types are ignored.
fn parse_jwks(jwks: &serde_json::Value) -> Result<HashMap<String, DecodingKey>, AuthError> {
    use base64::Engine;
    let set: JwkSet = serde_json::from_value(jwks.clone())
        .map_err(|e| AuthError::KeysUnavailable(format!("JWKS is not valid: {e}")))?;
    let mut keys = HashMap::new();
    for jwk in &set.keys {
        let (Some(kid), AlgorithmParameters::OctetKeyPair(okp)) = (&jwk.common.key_id, &jwk.algorithm) else {
            continue;
        };
        // A short `x` would make the verifier slice out of bounds: check it first.
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(&okp.x).unwrap_or_default();
        if raw.len() != 32 {
            continue;
        }
        if let Ok(key) = DecodingKey::from_ed_components(&okp.x) {
            keys.insert(kid.clone(), key);
        }
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Role;
    use crate::auth::keys::SigningKeys;
    use crate::domain::ClientId;

    fn verifier_and_keys(ttl: Duration) -> (TokenVerifier, Arc<SigningKeys>, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let keys = Arc::new(SigningKeys::load_or_create(&dir.path().join("k.pem"), "iss", "aud", ttl).unwrap());
        (TokenVerifier::local(keys.clone()), keys, dir)
    }

    #[tokio::test]
    async fn a_remembered_token_verifies_again_and_a_tampered_one_never_does() {
        let (verifier, keys, _dir) = verifier_and_keys(Duration::from_secs(600));
        let client = ClientId::from("clinic-1".to_string());
        let (token, _) = keys.issue(&client, Role::Clinic, vec!["H21080400001".into()]).unwrap();
        let first = verifier.verify(&token).await.unwrap();
        let again = verifier.verify(&token).await.unwrap();
        assert_eq!((first.sub.clone(), first.jti.clone()), (again.sub, again.jti));
        // The same claims under a changed signature: not the remembered token.
        let mut forged = token.clone();
        let last = forged.pop().unwrap();
        forged.push(if last == 'A' { 'B' } else { 'A' });
        assert!(verifier.verify(&forged).await.is_err());
        assert!(verifier.verify(&token).await.is_ok());
    }

    #[tokio::test]
    async fn a_remembered_token_is_refused_once_it_expires() {
        let (verifier, keys, _dir) = verifier_and_keys(Duration::from_secs(600));
        let (token, _) = keys.issue(&ClientId::from("c".to_string()), Role::Clinic, vec![]).unwrap();
        verifier.verify(&token).await.unwrap();
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        // As if the token's lifetime and the leeway had passed since it was remembered.
        verifier.verified.write().unwrap().get_mut(&digest).unwrap().1.exp = now_seconds() - LEEWAY_SECONDS - 1;
        assert!(matches!(verifier.verify(&token).await, Err(AuthError::Expired)));
    }

    #[tokio::test]
    async fn a_remembered_token_stays_valid_through_a_rotation_and_is_refused_once_its_key_retires() {
        let (verifier, keys, dir) = verifier_and_keys(Duration::from_secs(600));
        let client = ClientId::from("c".to_string());
        let (before, _) = keys.issue(&client, Role::Clinic, vec![]).unwrap();
        verifier.verify(&before).await.unwrap();
        let key_file = dir.path().join("k.pem");

        crate::auth::keys::rotate(&key_file, Duration::from_secs(3600)).unwrap();
        assert!(keys.reload().unwrap());
        let (after, _) = keys.issue(&client, Role::Clinic, vec![]).unwrap();
        assert!(verifier.verify(&before).await.is_ok());
        assert!(verifier.verify(&after).await.is_ok());

        // The key that signed `after` is replaced in turn and retired at once; the one
        // that signed `before` still has its hour.
        crate::auth::keys::rotate(&key_file, Duration::ZERO).unwrap();
        keys.reload().unwrap();
        assert!(matches!(verifier.verify(&after).await, Err(AuthError::UnknownKey)));
        assert!(verifier.verify(&before).await.is_ok());
    }
}
