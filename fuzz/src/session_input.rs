//! The layout of a `session_open` input: the clock and the session policy, then the cookie
//! value.

use std::sync::LazyLock;

use studio_gate::{SessionKey, SessionPolicy};

/// The number of bytes before the cookie value.
pub const HEADER_LEN: usize = 24;

/// The key every `session_open` input is opened with. It is fixed so that the seed cookies,
/// sealed with this key, open, and the fuzzer starts from authentic values.
pub static FIXED_SESSION_KEY: LazyLock<SessionKey> =
    LazyLock::new(|| SessionKey::derive(b"studio-gate fuzz session secret.", &[0x5a; 32]));

/// One `session_open` input.
///
/// Layout: now (8 bytes, big-endian) | idle_secs (8, BE) | lifetime_secs (8, BE) | cookie value
/// (UTF-8, the rest of the input).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionInput<'a> {
    /// The clock to check the value at, in Unix seconds.
    pub now: u64,
    /// The timeouts to check against: any pair, also those that `Config` rejects.
    pub policy: SessionPolicy,
    /// The cookie value as it would come in a `Cookie` header.
    pub value: &'a str,
}

impl<'a> SessionInput<'a> {
    /// Splits fuzzer bytes into an input. Returns `None` for inputs shorter than the header
    /// and for values that are not UTF-8, since the server skips `Cookie` headers that are not
    /// text before any value reaches `SessionKey::open`.
    pub fn parse(data: &'a [u8]) -> Option<Self> {
        let (header, value) = data.split_first_chunk::<HEADER_LEN>()?;
        let value = std::str::from_utf8(value).ok()?;
        Some(Self {
            now: read_u64(header, 0),
            policy: SessionPolicy {
                idle_secs: read_u64(header, 1),
                lifetime_secs: read_u64(header, 2),
            },
            value,
        })
    }

    /// Encodes the input in the layout that [`SessionInput::parse`] reads.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(HEADER_LEN + self.value.len());
        bytes.extend_from_slice(&self.now.to_be_bytes());
        bytes.extend_from_slice(&self.policy.idle_secs.to_be_bytes());
        bytes.extend_from_slice(&self.policy.lifetime_secs.to_be_bytes());
        bytes.extend_from_slice(self.value.as_bytes());
        bytes
    }
}

/// Reads the `index`-th big-endian `u64` field of the header.
fn read_u64(header: &[u8; HEADER_LEN], index: usize) -> u64 {
    let mut field = [0u8; 8];
    field.copy_from_slice(&header[index * 8..index * 8 + 8]);
    u64::from_be_bytes(field)
}
