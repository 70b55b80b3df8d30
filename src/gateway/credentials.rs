//! Client secrets: generated once, shown once, stored as argon2id hashes; scopes
//! checked against the role.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::auth::Role;
use crate::http::FieldError;

/// Longest secret we spend argon2 on; ours are 43 characters.
pub const MAX_SECRET_LEN: usize = 256;

/// A new random secret (256 bits, base64url).
pub fn new_secret() -> Result<String, String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| e.to_string())?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// The argon2id hash (PHC string) of `secret`. CPU-heavy: call off the async workers.
pub fn hash(secret: &str) -> Result<String, String> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| e.to_string())?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| e.to_string())?;
    Argon2::default().hash_password(secret.as_bytes(), &salt).map(|h| h.to_string()).map_err(|e| e.to_string())
}

/// Whether `secret` matches `phc`. CPU-heavy: call off the async workers.
pub fn verify(secret: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|parsed| Argon2::default().verify_password(secret.as_bytes(), &parsed).is_ok())
}

/// A hash of a secret nobody has, verified when the client id is unknown so that the
/// answer takes as long as for a known client.
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash("no client has this secret").unwrap_or_default())
}

fn is_code(s: &str) -> bool {
    (1..=32).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn is_county_code(s: &str) -> bool {
    crate::domain::region::CountyCode::parse(s).is_ok()
}

/// The scopes as stored: county codes in their canonical form (full-width digits
/// and stray spaces removed), other codes as given.
pub fn normalise_scopes(role: Role, scopes: Vec<String>) -> Vec<String> {
    match role {
        Role::CountyOffice => scopes
            .into_iter()
            .map(|s| crate::domain::region::CountyCode::parse(&s).map(|c| c.as_str().to_string()).unwrap_or(s))
            .collect(),
        _ => scopes,
    }
}

/// Checks the scopes a client of `role` is created with.
pub fn check_scopes(role: Role, scopes: &[String]) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let field = |i: usize| format!("scopes[{i}]");
    match role {
        Role::CountyOffice => {
            if scopes.is_empty() {
                errors.push(FieldError::new(
                    "scopes",
                    "scopes_required",
                    "a county office needs at least one county code",
                ));
            }
            for (i, s) in scopes.iter().enumerate() {
                if !is_county_code(s) {
                    errors.push(FieldError::new(
                        &field(i),
                        "county_code_invalid",
                        "not a six-digit county-level code (GB/T 2260)",
                    ));
                }
            }
        }
        Role::Clinic | Role::CardMaker => {
            if scopes.len() != 1 {
                errors.push(FieldError::new(
                    "scopes",
                    "scopes_exactly_one",
                    "give exactly one institution or card maker code",
                ));
            }
            for (i, s) in scopes.iter().enumerate() {
                if !is_code(s) {
                    errors.push(FieldError::new(&field(i), "code_invalid", "1 to 32 letters, digits, - or _"));
                }
            }
        }
        Role::Bank => {
            for (i, s) in scopes.iter().enumerate() {
                if !is_code(s) {
                    errors.push(FieldError::new(&field(i), "code_invalid", "1 to 32 letters, digits, - or _"));
                }
            }
        }
        Role::RegistryAdmin | Role::ProvincialAdmin | Role::Auditor | Role::Service => {
            if !scopes.is_empty() {
                errors.push(FieldError::new(
                    "scopes",
                    "scopes_not_allowed",
                    "this role works province-wide and takes no scopes",
                ));
            }
        }
    }
    let mut seen = std::collections::HashSet::new();
    if normalise_scopes(role, scopes.to_vec()).into_iter().any(|s| !seen.insert(s)) {
        errors.push(FieldError::new("scopes", "scopes_duplicate", "a scope is listed twice"));
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_secret_only() {
        let secret = new_secret().unwrap();
        let phc = hash(&secret).unwrap();
        assert!(verify(&secret, &phc));
        assert!(!verify("other", &phc));
        assert!(!verify(&secret, "not a hash"));
        assert!(!verify(&secret, dummy_hash()));
        assert!(PasswordHash::new(dummy_hash()).is_ok());
    }

    #[test]
    fn scopes_follow_the_role() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert!(check_scopes(Role::CountyOffice, &s(&["210804"])).is_empty());
        assert_eq!(check_scopes(Role::CountyOffice, &s(&[]))[0].code, "scopes_required");
        assert_eq!(check_scopes(Role::CountyOffice, &s(&["210800"]))[0].code, "county_code_invalid");
        assert_eq!(check_scopes(Role::CountyOffice, &s(&["990804"]))[0].code, "county_code_invalid");
        assert_eq!(check_scopes(Role::Clinic, &s(&["A", "B"]))[0].code, "scopes_exactly_one");
        assert_eq!(check_scopes(Role::Auditor, &s(&["210804"]))[0].code, "scopes_not_allowed");
        assert_eq!(check_scopes(Role::CountyOffice, &s(&["210804", "210804"]))[0].code, "scopes_duplicate");
        assert_eq!(check_scopes(Role::CountyOffice, &s(&["210804", "２１０８０４"]))[0].code, "scopes_duplicate");
        assert_eq!(normalise_scopes(Role::CountyOffice, s(&["２１０８０４ "])), s(&["210804"]));
    }
}
