//! The code of a party an API client acts for (a card maker, a bank), as clients carry
//! it in their token scopes and a provincial admin assigns it to a county.

/// A code that is not 1 to 64 letters, digits, `-`, `_` or `.`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("1 to 64 letters, digits, '-', '_' or '.'")]
pub struct PartyCodeError;

/// Parses a party code, trimmed.
pub fn parse_party_code(value: &str) -> Result<String, PartyCodeError> {
    let code = value.trim();
    if code.is_empty() || code.len() > 64 || !code.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)) {
        return Err(PartyCodeError);
    }
    Ok(code.to_string())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_short_and_plain() {
        assert_eq!(parse_party_code(" BANK-A ").unwrap(), "BANK-A");
        assert_eq!(parse_party_code("icbc.ln_01").unwrap(), "icbc.ln_01");
        assert!(parse_party_code("").is_err());
        assert!(parse_party_code("银行").is_err());
        assert!(parse_party_code("a b").is_err());
        assert!(parse_party_code(&"x".repeat(65)).is_err());
    }
}
