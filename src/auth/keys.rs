//! The gateway's token signing keys: Ed25519 (EdDSA), published as a JWKS.
//!
//! Two files, side by side:
//! - the key file (`HEALTHCARD_JWT_KEY_FILE`): the private key that signs new tokens,
//!   PKCS#8 v1 PEM (the form OpenSSL, Python's `cryptography` and key stores read),
//!   mode 0600, created on the gateway's first start. A PKCS#8 v2 file (the public key
//!   attached), as earlier versions wrote it, still loads.
//! - [`retiring_path`] (`jwt-ed25519.retiring.json` beside the default key file): the
//!   public halves of the keys that [`rotate`] replaced, each with its retirement
//!   time. Until then the JWKS still publishes the key and the tokens it signed are
//!   accepted; from then on neither.
//!
//! The gateway reads both files again every [`RELOAD_INTERVAL`]
//! ([`SigningKeys::reload`]), so a rotation needs no restart.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, SubsecRound, TimeDelta, Utc};
use ed25519_dalek::SigningKey;
use ed25519_dalek::ed25519::pkcs8::KeypairBytes;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{Claims, Role};
use crate::domain::ClientId;

/// How often the gateway reads its key files again to pick up a rotation.
pub const RELOAD_INTERVAL: Duration = Duration::from_secs(2);

/// Why the key could not be loaded or used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("key file {path}: {reason}")]
    File { path: String, reason: String },
    #[error("signing: {0}")]
    Sign(String),
}

fn file_error(path: &Path) -> impl Fn(String) -> KeyError + '_ {
    move |reason| KeyError::File { path: path.display().to_string(), reason }
}

/// Where the keys replaced by a rotation of `key_file` are listed: beside it, its
/// extension replaced by `retiring.json`.
pub fn retiring_path(key_file: &Path) -> PathBuf {
    key_file.with_extension("retiring.json")
}

/// How long a replaced key stays published by default: tokens it signed before the
/// rotation, and until the gateway read the new key, live `ttl` and are accepted for
/// the verifiers' leeway after that; a margin on top.
pub fn default_retire_after(ttl: Duration) -> Duration {
    ttl + RELOAD_INTERVAL + Duration::from_secs(super::verify::LEEWAY_SECONDS) + Duration::from_secs(28)
}

/// A key's public half, as the JWKS publishes it and tokens are checked against it.
#[derive(Clone)]
struct PublicKey {
    kid: String,
    x: String,
    decoding: DecodingKey,
}

impl PublicKey {
    fn of(public: &[u8; 32]) -> Result<PublicKey, String> {
        let x = URL_SAFE_NO_PAD.encode(public);
        let decoding = DecodingKey::from_ed_components(&x).map_err(|e| e.to_string())?;
        Ok(PublicKey { kid: URL_SAFE_NO_PAD.encode(&Sha256::digest(public)[..12]), x, decoding })
    }

    fn jwk(&self) -> serde_json::Value {
        serde_json::json!({"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig", "kid": self.kid, "x": self.x})
    }
}

/// One line of the retiring file.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct RetiringEntry {
    kid: String,
    /// The public key, base64url as in a JWK.
    x: String,
    retire_at: DateTime<Utc>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct RetiringFile {
    keys: Vec<RetiringEntry>,
}

/// The keys as read from the files at one moment.
struct KeyRing {
    encoding: EncodingKey,
    current: PublicKey,
    /// Replaced keys and their retirement times, the most recently replaced first.
    retiring: Vec<(PublicKey, DateTime<Utc>)>,
}

impl KeyRing {
    fn load(key_file: &Path) -> Result<KeyRing, KeyError> {
        let err = file_error(key_file);
        let signing = read_signing_key(key_file)?;
        let current = PublicKey::of(&signing.verifying_key().to_bytes()).map_err(&err)?;
        let der = pkcs8_v1(&signing).to_pkcs8_der().map_err(|e| err(e.to_string()))?;
        let mut retiring = Vec::new();
        for entry in read_retiring(key_file)? {
            // A rotation interrupted before the new key was in place lists the key
            // that still signs: it is current, not retiring.
            if entry.kid != current.kid {
                retiring.push((checked_public(key_file, &entry)?, entry.retire_at));
            }
        }
        Ok(KeyRing { encoding: EncodingKey::from_ed_der(der.as_bytes()), current, retiring })
    }

    /// What tells two readings apart.
    fn summary(&self) -> (String, Vec<(String, DateTime<Utc>)>) {
        (self.current.kid.clone(), self.retiring.iter().map(|(k, at)| (k.kid.clone(), *at)).collect())
    }

    /// The current key, then the replaced keys not yet retired at `now`.
    fn published(&self, now: DateTime<Utc>) -> impl Iterator<Item = &PublicKey> {
        std::iter::once(&self.current).chain(self.retiring.iter().filter(move |(_, at)| *at > now).map(|(k, _)| k))
    }
}

/// The form written to disk: PKCS#8 v1, the private key alone.
fn pkcs8_v1(key: &SigningKey) -> KeypairBytes {
    KeypairBytes { secret_key: key.to_bytes(), public_key: None }
}

fn read_signing_key(path: &Path) -> Result<SigningKey, KeyError> {
    let err = file_error(path);
    let pem = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    SigningKey::from_pkcs8_pem(&pem).map_err(|e| err(format!("not an Ed25519 PKCS#8 PEM key: {e}")))
}

fn read_retiring(key_file: &Path) -> Result<Vec<RetiringEntry>, KeyError> {
    let path = retiring_path(key_file);
    let err = file_error(&path);
    match std::fs::read(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(err(e.to_string())),
        Ok(bytes) => serde_json::from_slice::<RetiringFile>(&bytes)
            .map(|f| f.keys)
            .map_err(|e| err(format!("not a list of retiring keys: {e}"))),
    }
}

/// The key of a retiring entry, refused unless its `kid` is the one its `x` gives.
fn checked_public(key_file: &Path, entry: &RetiringEntry) -> Result<PublicKey, KeyError> {
    let err = file_error(key_file);
    let raw = URL_SAFE_NO_PAD.decode(&entry.x).unwrap_or_default();
    let raw: [u8; 32] =
        raw.try_into().map_err(|_| err(format!("retiring key {}: x is not an Ed25519 key", entry.kid)))?;
    let public = PublicKey::of(&raw).map_err(&err)?;
    if public.kid != entry.kid {
        return Err(err(format!("retiring key {}: the kid does not belong to its x", entry.kid)));
    }
    Ok(public)
}

fn new_signing_key() -> Result<SigningKey, String> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| format!("random: {e}"))?;
    Ok(SigningKey::from_bytes(&seed))
}

fn pem_of(key: &SigningKey) -> Result<ed25519_dalek::pkcs8::spki::der::zeroize::Zeroizing<String>, String> {
    pkcs8_v1(key).to_pkcs8_pem(LineEnding::LF).map_err(|e| e.to_string())
}

/// The signing keys and the token settings.
pub struct SigningKeys {
    key_file: PathBuf,
    ring: RwLock<Arc<KeyRing>>,
    pub issuer: String,
    pub audience: String,
    pub ttl: Duration,
}

impl std::fmt::Debug for SigningKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKeys").field("kid", &self.kid()).finish_non_exhaustive()
    }
}

impl SigningKeys {
    /// Loads the key at `path` and the keys it replaced, creating a new key there if
    /// none exists.
    pub fn load_or_create(path: &Path, issuer: &str, audience: &str, ttl: Duration) -> Result<Self, KeyError> {
        if !path.exists() {
            let err = file_error(path);
            let key = new_signing_key().map_err(&err)?;
            let pem = pem_of(&key).map_err(&err)?;
            crate::keyfile::write_private(path, pem.as_bytes()).map_err(|e| err(e.to_string()))?;
            tracing::info!(path = %path.display(), "created a new token signing key");
        }
        Ok(SigningKeys {
            key_file: path.to_path_buf(),
            ring: RwLock::new(Arc::new(KeyRing::load(path)?)),
            issuer: issuer.to_string(),
            audience: audience.to_string(),
            ttl,
        })
    }

    fn ring(&self) -> Arc<KeyRing> {
        match self.ring.read() {
            Ok(ring) => ring.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Reads the key files again; answers whether they changed (a rotation). On an
    /// error the keys read before stay in use.
    pub fn reload(&self) -> Result<bool, KeyError> {
        let fresh = KeyRing::load(&self.key_file)?;
        let mut ring = match self.ring.write() {
            Ok(ring) => ring,
            Err(poisoned) => poisoned.into_inner(),
        };
        if ring.summary() == fresh.summary() {
            return Ok(false);
        }
        *ring = Arc::new(fresh);
        Ok(true)
    }

    /// The id of the key that signs new tokens.
    pub fn kid(&self) -> String {
        self.ring().current.kid.clone()
    }

    /// The key that verifies tokens of `kid`: the current key, or a replaced one until
    /// its retirement.
    pub fn decoding_key(&self, kid: &str) -> Option<DecodingKey> {
        self.ring().published(Utc::now()).find(|k| k.kid == kid).map(|k| k.decoding.clone())
    }

    /// The public keys as a JWKS document, the current key first.
    pub fn jwks(&self) -> serde_json::Value {
        let keys: Vec<serde_json::Value> = self.ring().published(Utc::now()).map(PublicKey::jwk).collect();
        serde_json::json!({ "keys": keys })
    }

    /// Signs an access token for `client_id`; returns the token and its lifetime.
    pub fn issue(&self, client_id: &ClientId, role: Role, scopes: Vec<String>) -> Result<(String, u64), KeyError> {
        let ring = self.ring();
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
        header.kid = Some(ring.current.kid.clone());
        let token =
            jsonwebtoken::encode(&header, &claims, &ring.encoding).map_err(|e| KeyError::Sign(e.to_string()))?;
        Ok((token, ttl))
    }
}

/// What a rotation did.
#[derive(Debug, Serialize)]
pub struct Rotation {
    /// The new key, which signs from now on.
    pub current_kid: String,
    /// The key it replaced, published and accepted until `retire_at`.
    pub replaced_kid: String,
    pub retire_at: DateTime<Utc>,
    /// Keys replaced earlier whose time had come: dropped from the retiring file.
    pub retired_kids: Vec<String>,
}

/// Puts a new key in place of the one at `key_file`; the replaced key stays published
/// for `retire_after`. The replaced private key is gone afterwards: verifying needs
/// only its public half, which the retiring file keeps.
pub fn rotate(key_file: &Path, retire_after: Duration) -> Result<Rotation, KeyError> {
    let err = file_error(key_file);
    if !key_file.exists() {
        return Err(err("no signing key yet (the gateway creates one on its first start)".into()));
    }
    let replaced = PublicKey::of(&read_signing_key(key_file)?.verifying_key().to_bytes()).map_err(&err)?;
    // Whole seconds, as an operator reads and writes them.
    let now = Utc::now().trunc_subsecs(0);
    let retire_at = TimeDelta::from_std(retire_after)
        .ok()
        .and_then(|d| now.checked_add_signed(d))
        .ok_or_else(|| err(format!("cannot retire {retire_after:?} from now")))?;
    let mut keys = vec![RetiringEntry { kid: replaced.kid.clone(), x: replaced.x.clone(), retire_at }];
    let mut retired_kids = Vec::new();
    for entry in read_retiring(key_file)? {
        if entry.kid == replaced.kid {
            continue;
        }
        if entry.retire_at > now {
            keys.push(entry);
        } else {
            retired_kids.push(entry.kid);
        }
    }
    let next = new_signing_key().map_err(&err)?;
    let current_kid = PublicKey::of(&next.verifying_key().to_bytes()).map_err(&err)?.kid;
    let listing = serde_json::to_vec_pretty(&RetiringFile { keys }).map_err(|e| err(e.to_string()))?;
    // The replaced key is listed before the new key takes its place: a crash between
    // the two leaves the old key signing, which the loader tolerates.
    let retiring = retiring_path(key_file);
    crate::keyfile::replace_private(&retiring, &listing).map_err(|e| file_error(&retiring)(e.to_string()))?;
    let pem = pem_of(&next).map_err(&err)?;
    crate::keyfile::replace_private(key_file, pem.as_bytes()).map_err(|e| err(e.to_string()))?;
    Ok(Rotation { current_kid, replaced_kid: replaced.kid, retire_at, retired_kids })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::pkcs8::PrivateKeyInfo;
    use ed25519_dalek::pkcs8::spki::der::Decode;

    const HOUR: Duration = Duration::from_secs(3600);

    fn load(path: &Path) -> SigningKeys {
        SigningKeys::load_or_create(path, "i", "a", Duration::from_secs(60)).unwrap()
    }

    fn kids(keys: &SigningKeys) -> Vec<String> {
        keys.jwks()["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap().to_string()).collect()
    }

    /// The DER inside a PEM file, and whether it carries a public key (PKCS#8 v2).
    fn has_public_key(path: &Path) -> bool {
        let pem = std::fs::read_to_string(path).unwrap();
        let (label, der) = ed25519_dalek::pkcs8::spki::der::pem::decode_vec(pem.as_bytes()).unwrap();
        assert_eq!(label, "PRIVATE KEY");
        PrivateKeyInfo::from_der(&der).unwrap().public_key.is_some()
    }

    /// `openssl pkey` reads the file, and the public key it derives is the published one.
    fn openssl_reads(path: &Path, keys: &SigningKeys) {
        let Ok(text) =
            std::process::Command::new("openssl").args(["pkey", "-in"]).arg(path).args(["-noout", "-text"]).output()
        else {
            eprintln!("openssl is not installed: only the PKCS#8 structure was checked");
            return;
        };
        assert!(text.status.success(), "openssl pkey: {}", String::from_utf8_lossy(&text.stderr));
        assert!(String::from_utf8_lossy(&text.stdout).contains("ED25519 Private-Key"));
        let der = std::process::Command::new("openssl")
            .args(["pkey", "-in"])
            .arg(path)
            .args(["-pubout", "-outform", "DER"])
            .output()
            .unwrap()
            .stdout;
        // SubjectPublicKeyInfo of Ed25519: a fixed 12-byte prefix, then the 32-byte key.
        assert_eq!(der.len(), 44);
        assert_eq!(URL_SAFE_NO_PAD.encode(&der[12..]), keys.jwks()["keys"][0]["x"].as_str().unwrap());
    }

    #[test]
    fn a_created_key_is_loaded_back_with_the_same_kid() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/k.pem");
        let (a, b) = (load(&path), load(&path));
        assert_eq!(a.kid(), b.kid());
        assert_eq!(a.jwks(), b.jwks());
    }

    #[test]
    fn a_created_key_is_pkcs8_v1_which_openssl_reads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.pem");
        let keys = load(&path);
        assert!(!has_public_key(&path));
        openssl_reads(&path, &keys);
    }

    #[test]
    fn a_pkcs8_v2_key_file_still_loads_and_its_rotation_writes_v1() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.pem");
        let old = SigningKey::from_bytes(&[9u8; 32]);
        std::fs::write(&path, old.to_pkcs8_pem(LineEnding::LF).unwrap().as_bytes()).unwrap();
        assert!(has_public_key(&path));
        let keys = load(&path);
        assert_eq!(keys.kid(), PublicKey::of(&old.verifying_key().to_bytes()).unwrap().kid);
        let rotation = rotate(&path, HOUR).unwrap();
        assert_eq!(rotation.replaced_kid, keys.kid());
        assert!(!has_public_key(&path));
        assert!(keys.reload().unwrap());
        openssl_reads(&path, &keys);
    }

    #[test]
    fn a_rotation_publishes_both_keys_signs_with_the_new_one_and_retires_the_old_on_time() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.pem");
        let keys = load(&path);
        let first = keys.kid();
        assert!(!keys.reload().unwrap(), "nothing changed yet");

        let rotation = rotate(&path, HOUR).unwrap();
        assert_eq!(rotation.replaced_kid, first);
        // The running gateway signs with the old key until it reads the files again.
        assert_eq!(keys.kid(), first);
        assert!(keys.reload().unwrap());
        let second = keys.kid();
        assert_eq!(second, rotation.current_kid);
        assert_eq!(kids(&keys), [second.clone(), first.clone()]);
        assert!(keys.decoding_key(&first).is_some());
        let (token, _) = keys.issue(&ClientId::from("c".to_string()), Role::Clinic, vec![]).unwrap();
        assert_eq!(jsonwebtoken::decode_header(&token).unwrap().kid.as_deref(), Some(second.as_str()));

        // Retired at once: neither published nor accepted, and dropped at the next rotation.
        let now_retired = rotate(&path, Duration::ZERO).unwrap();
        assert!(now_retired.retired_kids.is_empty());
        keys.reload().unwrap();
        let third = keys.kid();
        assert_eq!(kids(&keys), [third.clone(), first.clone()]);
        assert!(keys.decoding_key(&second).is_none());
        assert!(keys.decoding_key(&first).is_some());
        let later = rotate(&path, HOUR).unwrap();
        assert_eq!(later.retired_kids, [second]);
        keys.reload().unwrap();
        assert_eq!(kids(&keys), [keys.kid(), third, first]);
    }

    #[test]
    fn a_rotation_needs_a_key_and_a_broken_retiring_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.pem");
        assert!(rotate(&path, HOUR).is_err());
        let keys = load(&path);
        rotate(&path, HOUR).unwrap();
        let listing = std::fs::read_to_string(retiring_path(&path)).unwrap();
        let forged = listing.replace(&keys.kid(), "AAAAAAAAAAAAAAAA");
        std::fs::write(retiring_path(&path), forged).unwrap();
        let refused = keys.reload().unwrap_err().to_string();
        assert!(refused.contains("does not belong"), "{refused}");
        // The keys read before stay in use.
        assert_eq!(kids(&keys).len(), 1);
        assert!(SigningKeys::load_or_create(&path, "i", "a", HOUR).is_err());
    }

    #[test]
    fn a_garbage_key_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.pem");
        std::fs::write(&path, "not a key").unwrap();
        assert!(SigningKeys::load_or_create(&path, "i", "a", Duration::from_secs(60)).is_err());
    }
}
