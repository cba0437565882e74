//! The API key: the one credential of the studio.
//!
//! The key itself is kept only as a BLAKE3 digest under a fixed `derive_key` context. A
//! candidate is hashed the same way and the two digests are compared with
//! [`blake3::Hash`]'s constant-time equality, so the comparison takes the same time wherever
//! the first difference is, and the time spent hashing depends only on the candidate's length,
//! never on the key's.

use std::fmt;

/// The `blake3::derive_key` context for the key's digest. The digest doubles as the key's
/// fingerprint in the session MAC key, so changing this context ends every session.
const DIGEST_CONTEXT: &str = "studio-gate 2026-12-04 API key digest";

/// The configured API key, held as a digest. Its `Debug` output hides it.
#[derive(Clone)]
pub struct ApiKey {
    digest: blake3::Hash,
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(<hidden>)")
    }
}

/// Why a configured key is unusable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiKeyError {
    /// The key is empty.
    Empty,
    /// The key contains a control character, which no HTTP header can carry.
    ControlCharacter,
    /// The key starts or ends with whitespace, which HTTP strips from header values.
    SurroundingWhitespace,
}

impl fmt::Display for ApiKeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("the API key is empty"),
            Self::ControlCharacter => f.write_str("the API key contains a control character"),
            Self::SurroundingWhitespace => {
                f.write_str("the API key starts or ends with whitespace; remove it")
            }
        }
    }
}

impl std::error::Error for ApiKeyError {}

impl ApiKey {
    /// Accepts `key` as the studio's API key.
    pub fn new(key: &str) -> Result<Self, ApiKeyError> {
        if key.is_empty() {
            return Err(ApiKeyError::Empty);
        }
        if key.chars().any(char::is_control) {
            return Err(ApiKeyError::ControlCharacter);
        }
        if key.trim() != key {
            return Err(ApiKeyError::SurroundingWhitespace);
        }
        Ok(Self {
            digest: digest(key.as_bytes()),
        })
    }

    /// Returns true if `candidate` is the key. An empty candidate never matches.
    pub fn matches(&self, candidate: &[u8]) -> bool {
        !candidate.is_empty() && digest(candidate) == self.digest
    }

    /// Returns the fingerprint that binds session cookies to this key.
    pub fn fingerprint(&self) -> &[u8; 32] {
        self.digest.as_bytes()
    }
}

fn digest(key: &[u8]) -> blake3::Hash {
    blake3::Hash::from_bytes(blake3::derive_key(DIGEST_CONTEXT, key))
}

/// Generates a new random key: 32 bytes from the OS RNG as 43 base64url characters.
pub fn generate_api_key() -> Result<String, getrandom::Error> {
    use base64::Engine;
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes)?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_key_matches() {
        let key = ApiKey::new("correct horse").unwrap();
        assert!(key.matches(b"correct horse"));
    }

    #[test]
    fn other_keys_do_not_match() {
        let key = ApiKey::new("correct horse").unwrap();
        assert!(!key.matches(b"correct hors"));
        assert!(!key.matches(b"correct horse "));
        assert!(!key.matches(b"CORRECT HORSE"));
        assert!(!key.matches(b""));
        assert!(!key.matches("correct horse".repeat(400).as_bytes()));
    }

    #[test]
    fn empty_and_control_keys_are_rejected() {
        assert_eq!(ApiKey::new("").unwrap_err(), ApiKeyError::Empty);
        assert_eq!(
            ApiKey::new("a\nb").unwrap_err(),
            ApiKeyError::ControlCharacter
        );
    }

    #[test]
    fn keys_with_surrounding_whitespace_are_rejected() {
        // A client cannot send these in an X-API-Key header: HTTP strips the spaces.
        for key in [" ", " abc", "abc ", "\u{a0}abc"] {
            assert_eq!(
                ApiKey::new(key).unwrap_err(),
                ApiKeyError::SurroundingWhitespace,
                "{key:?}"
            );
        }
        assert!(ApiKey::new("correct horse").is_ok());
    }

    #[test]
    fn debug_output_hides_key() {
        let key = ApiKey::new("correct horse").unwrap();
        assert_eq!(format!("{key:?}"), "ApiKey(<hidden>)");
    }

    #[test]
    fn fingerprint_depends_on_key() {
        let first = ApiKey::new("one").unwrap();
        let second = ApiKey::new("two").unwrap();
        assert_ne!(first.fingerprint(), second.fingerprint());
        assert_eq!(
            first.fingerprint(),
            ApiKey::new("one").unwrap().fingerprint()
        );
    }

    #[test]
    fn generated_keys_are_long_and_distinct() {
        let first = generate_api_key().unwrap();
        let second = generate_api_key().unwrap();
        assert_eq!(first.len(), 43);
        assert_ne!(first, second);
        assert!(ApiKey::new(&first).is_ok());
    }
}
