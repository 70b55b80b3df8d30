//! Personal data at rest: citizen ID numbers are stored encrypted (AES-256-GCM) with a
//! keyed hash (HMAC-SHA256) beside them for lookups and joins. Collection and
//! verification share the key file, so both compute the same hash for the same ID.
//!
//! The key file holds 64 random bytes, base64: 32 for encryption, 32 for the hash. In
//! the embedded mode it is created in the data dir on first start.

use std::path::Path;

use aes_gcm::aead::{Aead, AeadInPlace, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Why the keys could not be loaded or a value decrypted.
#[derive(Debug, thiserror::Error)]
pub enum PiiError {
    #[error("PII key file {path}: {reason}")]
    KeyFile { path: String, reason: String },
    #[error("stored value cannot be decrypted")]
    Decrypt,
    #[error("random source: {0}")]
    Random(String),
}

/// Nonces drawn from the operating system's random source a page at a time: an import
/// encrypts millions of IDs, and a system call for each 12 bytes was a measurable share
/// of it. Per thread, so no lock; a 96-bit random nonce per value, as before.
const NONCE_POOL: usize = 12 * 340;
/// The authentication tag AES-GCM appends to a ciphertext.
const TAG_BYTES: usize = 16;

struct NoncePool {
    bytes: [u8; NONCE_POOL],
    used: usize,
}

thread_local! {
    static NONCES: std::cell::RefCell<NoncePool> =
        const { std::cell::RefCell::new(NoncePool { bytes: [0; NONCE_POOL], used: NONCE_POOL }) };
}

fn fresh_nonce() -> Result<[u8; 12], PiiError> {
    NONCES.with(|pool| {
        let mut pool = pool.borrow_mut();
        if pool.used + 12 > NONCE_POOL {
            getrandom::fill(&mut pool.bytes).map_err(|e| PiiError::Random(e.to_string()))?;
            pool.used = 0;
        }
        let start = pool.used;
        let nonce: [u8; 12] = pool
            .bytes
            .get(start..start + 12)
            .and_then(|drawn| drawn.try_into().ok())
            .ok_or_else(|| PiiError::Random("nonce pool out of step".into()))?;
        // Each byte is handed out once.
        pool.used += 12;
        Ok(nonce)
    })
}

/// The keys protecting personal data.
#[derive(Clone)]
pub struct PiiKeys {
    cipher: Aes256Gcm,
    mac: Hmac<Sha256>,
}

impl std::fmt::Debug for PiiKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PiiKeys([redacted])")
    }
}

impl PiiKeys {
    pub fn from_bytes(bytes: &[u8; 64]) -> Result<PiiKeys, PiiError> {
        let (enc, mac_key) = bytes.split_at(32);
        let cipher = Aes256Gcm::new_from_slice(enc).map_err(|_| PiiError::Decrypt)?;
        let mac = <Hmac<Sha256> as Mac>::new_from_slice(mac_key).map_err(|_| PiiError::Decrypt)?;
        Ok(PiiKeys { cipher, mac })
    }

    /// Loads the key file, creating it with fresh random keys if it does not exist.
    pub fn load_or_create(path: &Path) -> Result<PiiKeys, PiiError> {
        let err = |reason: String| PiiError::KeyFile { path: path.display().to_string(), reason };
        if !path.exists() {
            let mut bytes = [0u8; 64];
            getrandom::fill(&mut bytes).map_err(|e| err(e.to_string()))?;
            crate::keyfile::write_private(path, STANDARD.encode(bytes).as_bytes()).map_err(|e| err(e.to_string()))?;
        }
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        let raw = STANDARD.decode(text.trim()).map_err(|e| err(format!("not base64: {e}")))?;
        let bytes: [u8; 64] = raw.try_into().map_err(|_| err("must hold 64 bytes".into()))?;
        PiiKeys::from_bytes(&bytes)
    }

    /// The keyed hash of a value (hex), stable across processes sharing the key.
    pub fn hash(&self, value: &str) -> String {
        hex(&self.hash_bytes(value))
    }

    /// The keyed hash of a value, as bytes.
    pub fn hash_bytes(&self, value: &str) -> [u8; 32] {
        let mut mac = self.mac.clone();
        mac.update(value.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// Encrypts `value`: base64 of a random 96-bit nonce followed by the ciphertext.
    pub fn encrypt(&self, value: &str) -> Result<String, PiiError> {
        Ok(STANDARD.encode(self.seal(value)?))
    }

    /// Encrypts `value`: a random 96-bit nonce followed by the ciphertext, as bytes (what
    /// [`PiiKeys::encrypt`] gives in base64).
    pub fn seal(&self, value: &str) -> Result<Vec<u8>, PiiError> {
        let nonce = fresh_nonce()?;
        // Encrypted where it is stored: one allocation a value (this runs for every row
        // of every upload and import).
        let mut out = Vec::with_capacity(nonce.len() + value.len() + TAG_BYTES);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(value.as_bytes());
        let tag = self
            .cipher
            .encrypt_in_place_detached(&Nonce::from(nonce), b"", out.get_mut(nonce.len()..).unwrap_or_default())
            .map_err(|_| PiiError::Decrypt)?;
        out.extend_from_slice(&tag);
        Ok(out)
    }

    pub fn decrypt(&self, stored: &str) -> Result<String, PiiError> {
        let raw = STANDARD.decode(stored).map_err(|_| PiiError::Decrypt)?;
        if raw.len() < 12 {
            return Err(PiiError::Decrypt);
        }
        let (nonce, sealed) = raw.split_at(12);
        let nonce: [u8; 12] = nonce.try_into().map_err(|_| PiiError::Decrypt)?;
        let plain = self.cipher.decrypt(&Nonce::from(nonce), sealed).map_err(|_| PiiError::Decrypt)?;
        String::from_utf8(plain).map_err(|_| PiiError::Decrypt)
    }
}

/// Lower-case hex of `bytes`, as keyed hashes are written.
pub fn hex(bytes: &[u8]) -> String {
    // By table: this runs for every row of every upload, and a `format!` per byte was a
    // measurable share of it.
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    out
}

/// A keyed hash written as hex (either case) back as bytes; `None` if it is not 64 hex
/// digits.
pub fn hash_from_hex(text: &str) -> Option<[u8; 32]> {
    let digits = text.as_bytes();
    if digits.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (byte, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        let high = char::from(pair[0]).to_digit(16)?;
        let low = char::from(pair[1]).to_digit(16)?;
        *byte = u8::try_from(high << 4 | low).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> PiiKeys {
        PiiKeys::from_bytes(&[9u8; 64]).unwrap()
    }

    #[test]
    fn encryption_round_trips_and_never_repeats() {
        let k = keys();
        let a = k.encrypt("11010519491231002X").unwrap();
        let b = k.encrypt("11010519491231002X").unwrap();
        assert_ne!(a, b, "a fresh nonce every time");
        assert!(!a.contains("1101051949"));
        assert_eq!(k.decrypt(&a).unwrap(), "11010519491231002X");
        assert!(k.decrypt("garbage").is_err());
        assert!(PiiKeys::from_bytes(&[1u8; 64]).unwrap().decrypt(&a).is_err(), "another key cannot read it");
    }

    #[test]
    fn nonces_never_repeat_across_refills_of_the_pool() {
        let drawn: std::collections::HashSet<[u8; 12]> = (0..1000).map(|_| fresh_nonce().unwrap()).collect();
        assert_eq!(drawn.len(), 1000);
        assert!(!drawn.contains(&[0u8; 12]));
    }

    #[test]
    fn hashes_are_stable_and_keyed() {
        assert_eq!(keys().hash("x"), keys().hash("x"));
        assert_ne!(keys().hash("x"), PiiKeys::from_bytes(&[1u8; 64]).unwrap().hash("x"));
        assert_eq!(keys().hash("x").len(), 64);
    }

    #[test]
    fn the_hash_is_the_lowercase_hex_of_the_mac() {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&[9u8; 32]).unwrap();
        mac.update("11010519491231002X".as_bytes());
        let expected: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(keys().hash("11010519491231002X"), expected);
    }

    #[test]
    fn sealed_bytes_are_what_encrypt_writes_in_base64() {
        let k = keys();
        let sealed = k.seal("11010519491231002X").unwrap();
        assert_eq!(sealed.len(), 12 + 18 + 16, "nonce, ciphertext, tag");
        assert_eq!(k.decrypt(&STANDARD.encode(&sealed)).unwrap(), "11010519491231002X");
        assert_eq!(k.hash("x"), hex(&k.hash_bytes("x")));
    }

    #[test]
    fn hashes_read_back_from_hex() {
        let k = keys();
        let bytes = k.hash_bytes("11010519491231002X");
        assert_eq!(hash_from_hex(&k.hash("11010519491231002X")), Some(bytes));
        assert_eq!(hash_from_hex(&k.hash("11010519491231002X").to_uppercase()), Some(bytes));
        assert_eq!(hash_from_hex("abc"), None);
        assert_eq!(hash_from_hex(&"g".repeat(64)), None);
        assert_eq!(hash_from_hex(&"é".repeat(32)), None);
        assert_eq!(hash_from_hex(&"0".repeat(64)), Some([0; 32]));
    }

    proptest::proptest! {
        #[test]
        fn hex_round_trips(bytes in proptest::array::uniform32(proptest::num::u8::ANY)) {
            proptest::prop_assert_eq!(hash_from_hex(&hex(&bytes)), Some(bytes));
        }
    }

    #[test]
    fn the_key_file_is_created_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/pii.key");
        let a = PiiKeys::load_or_create(&path).unwrap();
        let b = PiiKeys::load_or_create(&path).unwrap();
        assert_eq!(a.hash("v"), b.hash("v"));
        std::fs::write(dir.path().join("bad.key"), "short").unwrap();
        assert!(PiiKeys::load_or_create(&dir.path().join("bad.key")).is_err());
    }
}
