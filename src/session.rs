//! The session cookie codec: a signed, self-contained record of one login.
//!
//! # Security property
//!
//! Only a holder of the [`SessionKey`] can produce a value that [`SessionKey::open`] accepts.
//! The tag is a keyed BLAKE3 hash over the cookie name and the whole payload, so no byte of a
//! value can be changed and no value can be replayed under another cookie name. The key is
//! derived from the session secret and a fingerprint of the API key, so it is lost if either
//! leaks, and changing the API key changes the key and ends every session.
//!
//! The payload is signed, not encrypted: anyone holding a cookie can read its session id and
//! times. They reveal nothing that helps forge another cookie.
//!
//! # Validity window
//!
//! With `now` in Unix seconds, an authentic value is valid when all of these hold:
//! `login_time <= issue_time`, `issue_time <= now + MAX_CLOCK_SKEW_SECS`,
//! `now < issue_time + idle_secs` and `now < login_time + lifetime_secs`. Revocation is checked
//! by the caller, against the session id.
//!
//! # Must not
//!
//! Do not compare tags with `==` on byte slices: [`blake3::Hash`]'s equality is constant time
//! and is the only comparison used here. Do not tell a client why a value was rejected.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// The name of the session cookie, bound into every tag.
pub const COOKIE_NAME: &str = "session";

/// The version byte of the payload layout below.
pub const FORMAT_VERSION: u8 = 1;

/// How far in the future an issue or login time may be, for clocks that disagree a little.
pub const MAX_CLOCK_SKEW_SECS: u64 = 60;

/// The length of a session id in bytes (128 bits).
pub const SESSION_ID_LEN: usize = 16;

const PAYLOAD_LEN: usize = 1 + SESSION_ID_LEN + 8 + 8;
const TAG_LEN: usize = blake3::OUT_LEN;
const RAW_LEN: usize = PAYLOAD_LEN + TAG_LEN;

/// The length of every cookie value: base64url without padding of [`RAW_LEN`] bytes.
pub const ENCODED_LEN: usize = (RAW_LEN * 4).div_ceil(3);

/// The `blake3::derive_key` context for the MAC key. Changing it ends every session.
const MAC_KEY_CONTEXT: &str = "studio-gate 2026-12-04 session cookie MAC key";

/// A random 128-bit session id. Its `Debug` output hides the value, so that an id never
/// reaches a log.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionId([u8; SESSION_ID_LEN]);

impl SessionId {
    /// Draws a new id from the operating system's random number generator.
    pub fn random() -> Result<Self, getrandom::Error> {
        let mut bytes = [0u8; SESSION_ID_LEN];
        getrandom::getrandom(&mut bytes)?;
        Ok(Self(bytes))
    }

    /// Wraps known bytes, for tests and for ids read back from the revocation file.
    pub const fn from_bytes(bytes: [u8; SESSION_ID_LEN]) -> Self {
        Self(bytes)
    }

    /// Returns the raw bytes, for the revocation file.
    pub const fn as_bytes(&self) -> &[u8; SESSION_ID_LEN] {
        &self.0
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionId(<hidden>)")
    }
}

/// How long sessions last, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionPolicy {
    /// Sliding idle timeout: a cookie expires this long after it was issued.
    pub idle_secs: u64,
    /// Absolute cap: no cookie of a session is valid this long after its login.
    pub lifetime_secs: u64,
}

/// One login, as carried by a cookie.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Session {
    /// The id that logout revokes.
    pub id: SessionId,
    /// When the user logged in, in Unix seconds. Renewals keep it.
    pub login_time: u64,
    /// When this cookie value was issued, in Unix seconds.
    pub issue_time: u64,
}

impl Session {
    /// Starts a session that logs in at `now`.
    pub fn new(id: SessionId, now: u64) -> Self {
        Self {
            id,
            login_time: now,
            issue_time: now,
        }
    }

    /// Returns the same session issued again at `now`, for sliding expiration.
    pub fn renewed(&self, now: u64) -> Self {
        Self {
            issue_time: now,
            ..*self
        }
    }

    /// Returns the cookie's `Max-Age` at `now`: the idle timeout, cut short by the lifetime.
    pub fn max_age(&self, policy: SessionPolicy, now: u64) -> u64 {
        let lifetime_left = self.lifetime_end(policy).saturating_sub(now);
        policy.idle_secs.min(lifetime_left)
    }

    /// Returns the first second at which no cookie of this session is valid any more.
    pub fn lifetime_end(&self, policy: SessionPolicy) -> u64 {
        self.login_time.saturating_add(policy.lifetime_secs)
    }

    /// Returns true if the session's times allow it at `now` (see the module docs).
    pub fn is_current(&self, policy: SessionPolicy, now: u64) -> bool {
        let latest_allowed = now.saturating_add(MAX_CLOCK_SKEW_SECS);
        self.login_time <= self.issue_time
            && self.issue_time <= latest_allowed
            && now < self.issue_time.saturating_add(policy.idle_secs)
            && now < self.lifetime_end(policy)
    }
}

/// The key that signs and checks session cookies. Its `Debug` output hides the key.
#[derive(Clone)]
pub struct SessionKey {
    mac_key: [u8; blake3::KEY_LEN],
}

impl fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionKey(<hidden>)")
    }
}

impl SessionKey {
    /// Derives the MAC key from the session secret and the API key's fingerprint.
    ///
    /// Both go into one `derive_key` input, the secret first and its length before it, so
    /// that no two different pairs can produce the same input.
    pub fn derive(secret: &[u8], api_key_fingerprint: &[u8; 32]) -> Self {
        let mut material = Vec::with_capacity(8 + secret.len() + api_key_fingerprint.len());
        material.extend_from_slice(&(secret.len() as u64).to_le_bytes());
        material.extend_from_slice(secret);
        material.extend_from_slice(api_key_fingerprint);
        let mac_key = blake3::derive_key(MAC_KEY_CONTEXT, &material);
        material.fill(0);
        Self { mac_key }
    }

    /// Encodes and signs `session` as the value of the cookie `name`.
    pub fn seal(&self, name: &str, session: &Session) -> String {
        // Layout: version (1) | session id (16) | login time (8, BE) | issue time (8, BE) | tag (32)
        let mut raw = [0u8; RAW_LEN];
        raw[0] = FORMAT_VERSION;
        raw[1..17].copy_from_slice(&session.id.0);
        raw[17..25].copy_from_slice(&session.login_time.to_be_bytes());
        raw[25..33].copy_from_slice(&session.issue_time.to_be_bytes());

        let tag = self.tag(name, &raw[..PAYLOAD_LEN]);
        raw[PAYLOAD_LEN..].copy_from_slice(tag.as_bytes());

        URL_SAFE_NO_PAD.encode(raw)
    }

    /// Checks `value` as the cookie `name` at `now`. Returns the session if the value is
    /// authentic and inside its validity window, and `None` for anything else.
    ///
    /// Total: any string is a valid input, and the answer never says why a value failed.
    pub fn open(
        &self,
        name: &str,
        value: &str,
        policy: SessionPolicy,
        now: u64,
    ) -> Option<Session> {
        let session = self.open_authentic(name, value)?;
        session.is_current(policy, now).then_some(session)
    }

    /// Checks the encoding, the version and the tag, but not the times.
    fn open_authentic(&self, name: &str, value: &str) -> Option<Session> {
        // The length check comes first so that an oversized value costs no decoding work.
        if value.len() != ENCODED_LEN {
            return None;
        }
        let mut raw = [0u8; RAW_LEN];
        match URL_SAFE_NO_PAD.decode_slice(value, &mut raw) {
            Ok(RAW_LEN) => {}
            _ => return None,
        }

        // The tag is checked before any field is read. Hash equality is constant time.
        let (payload, tag) = raw.split_at(PAYLOAD_LEN);
        let tag: [u8; TAG_LEN] = tag.try_into().ok()?;
        if self.tag(name, payload) != blake3::Hash::from_bytes(tag) {
            return None;
        }

        if payload[0] != FORMAT_VERSION {
            return None;
        }
        Some(Session {
            id: SessionId(payload[1..17].try_into().ok()?),
            login_time: u64::from_be_bytes(payload[17..25].try_into().ok()?),
            issue_time: u64::from_be_bytes(payload[25..33].try_into().ok()?),
        })
    }

    /// Computes the tag over the cookie name and the payload.
    ///
    /// The name is length-prefixed so that the boundary between name and payload cannot move,
    /// and bound at all so that a value signed for one cookie is worthless under another.
    fn tag(&self, name: &str, payload: &[u8]) -> blake3::Hash {
        let mut hasher = blake3::Hasher::new_keyed(&self.mac_key);
        hasher.update(&(name.len() as u64).to_le_bytes());
        hasher.update(name.as_bytes());
        hasher.update(payload);
        hasher.finalize()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: SessionPolicy = SessionPolicy {
        idle_secs: 86_400,
        lifetime_secs: 604_800,
    };
    const LOGIN: u64 = 1_780_000_000;

    fn key() -> SessionKey {
        SessionKey::derive(&[7u8; 32], &[9u8; 32])
    }

    fn session() -> Session {
        Session::new(SessionId::from_bytes([0x42; SESSION_ID_LEN]), LOGIN)
    }

    #[test]
    fn known_answer_freezes_the_format() {
        let secret = b"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
        let fingerprint = *blake3::hash(b"fixed api key").as_bytes();
        let key = SessionKey::derive(secret, &fingerprint);
        let id = SessionId::from_bytes(*b"0123456789abcdef");
        let session = Session {
            id,
            login_time: 1_780_000_000,
            issue_time: 1_780_000_100,
        };

        let value = key.seal(COOKIE_NAME, &session);

        assert_eq!(value.len(), ENCODED_LEN);
        assert_eq!(value, KNOWN_VALUE);
        assert_eq!(
            key.open(COOKIE_NAME, KNOWN_VALUE, POLICY, 1_780_000_200),
            Some(session)
        );
    }

    /// The cookie value for the fixed inputs above. A change here breaks every issued cookie.
    const KNOWN_VALUE: &str =
        "ATAxMjM0NTY3ODlhYmNkZWYAAAAAahilAAAAAABqGKVkddrsOfdpk8dDqgJkYw1O0nX3MYN47iU_d9aJQ-0k1rc";

    #[test]
    fn sealed_value_opens() {
        let value = key().seal(COOKIE_NAME, &session());
        assert_eq!(
            key().open(COOKIE_NAME, &value, POLICY, LOGIN),
            Some(session())
        );
    }

    #[test]
    fn idle_timeout_is_exact() {
        let value = key().seal(COOKIE_NAME, &session());
        let last_valid = LOGIN + POLICY.idle_secs - 1;
        assert!(key()
            .open(COOKIE_NAME, &value, POLICY, last_valid)
            .is_some());
        assert!(key()
            .open(COOKIE_NAME, &value, POLICY, last_valid + 1)
            .is_none());
    }

    #[test]
    fn lifetime_caps_renewals() {
        let renewed = session().renewed(LOGIN + POLICY.lifetime_secs - 10);
        let value = key().seal(COOKIE_NAME, &renewed);
        let end = LOGIN + POLICY.lifetime_secs;
        assert!(key().open(COOKIE_NAME, &value, POLICY, end - 1).is_some());
        assert!(key().open(COOKIE_NAME, &value, POLICY, end).is_none());
        assert_eq!(renewed.max_age(POLICY, end - 10), 10);
    }

    #[test]
    fn future_issue_time_is_allowed_within_skew_only() {
        let within = session().renewed(LOGIN + MAX_CLOCK_SKEW_SECS);
        let beyond = session().renewed(LOGIN + MAX_CLOCK_SKEW_SECS + 1);
        assert!(key()
            .open(
                COOKIE_NAME,
                &key().seal(COOKIE_NAME, &within),
                POLICY,
                LOGIN
            )
            .is_some());
        assert!(key()
            .open(
                COOKIE_NAME,
                &key().seal(COOKIE_NAME, &beyond),
                POLICY,
                LOGIN
            )
            .is_none());
    }

    #[test]
    fn issue_before_login_is_rejected() {
        let backwards = Session {
            issue_time: LOGIN - 1,
            ..session()
        };
        let value = key().seal(COOKIE_NAME, &backwards);
        assert!(key().open(COOKIE_NAME, &value, POLICY, LOGIN).is_none());
    }

    #[test]
    fn other_cookie_name_is_rejected() {
        let value = key().seal(COOKIE_NAME, &session());
        assert!(key().open("session2", &value, POLICY, LOGIN).is_none());
        assert!(key().open("", &value, POLICY, LOGIN).is_none());
    }

    #[test]
    fn other_key_is_rejected() {
        let value = key().seal(COOKIE_NAME, &session());
        let other_api_key = SessionKey::derive(&[7u8; 32], &[10u8; 32]);
        let other_secret = SessionKey::derive(&[8u8; 32], &[9u8; 32]);
        assert!(other_api_key
            .open(COOKIE_NAME, &value, POLICY, LOGIN)
            .is_none());
        assert!(other_secret
            .open(COOKIE_NAME, &value, POLICY, LOGIN)
            .is_none());
    }

    #[test]
    fn every_single_byte_change_is_rejected() {
        let value = key().seal(COOKIE_NAME, &session());
        for position in 0..value.len() {
            for replacement in ['A', 'b', '-', '_', '0'] {
                let mut changed: Vec<char> = value.chars().collect();
                if changed[position] == replacement {
                    continue;
                }
                changed[position] = replacement;
                let changed: String = changed.into_iter().collect();
                assert!(
                    key().open(COOKIE_NAME, &changed, POLICY, LOGIN).is_none(),
                    "{position}"
                );
            }
        }
    }

    #[test]
    fn truncated_and_extended_values_are_rejected() {
        let value = key().seal(COOKIE_NAME, &session());
        assert!(key()
            .open(COOKIE_NAME, &value[..ENCODED_LEN - 1], POLICY, LOGIN)
            .is_none());
        assert!(key()
            .open(COOKIE_NAME, &format!("{value}A"), POLICY, LOGIN)
            .is_none());
        assert!(key()
            .open(COOKIE_NAME, &format!("{value}="), POLICY, LOGIN)
            .is_none());
        assert!(key().open(COOKIE_NAME, "", POLICY, LOGIN).is_none());
    }

    #[test]
    fn standard_alphabet_is_rejected() {
        let raw = URL_SAFE_NO_PAD
            .decode(key().seal(COOKIE_NAME, &session()))
            .unwrap();
        let standard = base64::engine::general_purpose::STANDARD.encode(&raw);
        assert!(key().open(COOKIE_NAME, &standard, POLICY, LOGIN).is_none());
    }

    #[test]
    fn other_version_is_rejected_even_when_signed() {
        let value = key().seal(COOKIE_NAME, &session());
        let mut raw = URL_SAFE_NO_PAD.decode(value).unwrap();
        raw[0] = 2;
        let tag = key().tag(COOKIE_NAME, &raw[..PAYLOAD_LEN]);
        raw[PAYLOAD_LEN..].copy_from_slice(tag.as_bytes());
        let resigned = URL_SAFE_NO_PAD.encode(raw);
        assert!(key().open(COOKIE_NAME, &resigned, POLICY, LOGIN).is_none());
    }

    #[test]
    fn renewal_keeps_id_and_login_time() {
        let renewed = session().renewed(LOGIN + 500);
        assert_eq!(renewed.id, session().id);
        assert_eq!(renewed.login_time, LOGIN);
        assert_eq!(renewed.issue_time, LOGIN + 500);
        assert_eq!(renewed.max_age(POLICY, LOGIN + 500), POLICY.idle_secs);
    }

    #[test]
    fn debug_output_hides_key_and_id() {
        let key_text = format!("{:?}", key());
        let session_text = format!("{:?}", session());
        assert_eq!(key_text, "SessionKey(<hidden>)");
        assert!(session_text.contains("SessionId(<hidden>)"));
        assert!(!session_text.contains("66"), "{session_text}");
    }
}
