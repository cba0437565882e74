//! Property tests of the decisions an attacker reaches directly: the session cookie codec,
//! the canonical path, the `next` check, the login limiter and the login body parser.
//!
//! Every property block sets its `ProptestConfig` explicitly. Failing cases are saved to
//! `tests/proptest-regressions/properties.txt` (an explicit `Direct` path, because proptest's
//! default looks for a `lib.rs` beside the test and would otherwise write
//! `tests/properties.proptest-regressions`). Commit that file: proptest replays every case in
//! it before generating new ones.

use std::net::IpAddr;

use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::FileFailurePersistence;

use studio_gate::{
    canonical_path, is_public_path, is_safe_next, parse_login_body, safe_next, ClientKey,
    LoginBodyError, LoginLimiter, RetryAfter, Session, SessionId, SessionKey, SessionPolicy,
    COOKIE_NAME, DEFAULT_NEXT, ENCODED_LEN, MAX_BODY_LEN, MAX_FAILURES, MAX_PATH_LEN, WINDOW_SECS,
};

/// Where proptest stores failing cases, relative to nothing but this crate's root.
const REGRESSIONS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/proptest-regressions/properties.txt"
);

/// `session::MAX_CLOCK_SKEW_SECS`, which the crate does not export.
const MAX_CLOCK_SKEW_SECS: u64 = 60;

/// `config::MAX_SESSION_SECS` (ten years), the largest timeout the configuration accepts.
const MAX_SESSION_SECS: u64 = 315_360_000;

/// `next_path::MAX_NEXT_LEN`, which the crate does not export.
const MAX_NEXT_LEN: usize = 2048;

/// The base64url alphabet of cookie values.
const BASE64URL: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// The policy the server uses when nothing is configured.
const DEFAULT_POLICY: SessionPolicy = SessionPolicy {
    idle_secs: 86_400,
    lifetime_secs: 604_800,
};

/// Builds a config with `cases` cases per property and failure persistence to [`REGRESSIONS`].
fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(REGRESSIONS))),
        ..ProptestConfig::default()
    }
}

// --- session cookie codec ---

/// Unix times from 0 to 2^40 (about the year 36800). The range covers zero, the present
/// (about 2^30.7), the 32-bit rollover in 2106 and far beyond, while every sum with a timeout
/// stays far below `u64::MAX`, where the codec saturates on purpose. Saturation has its own
/// property with the full `u64` range.
fn unix_time() -> impl Strategy<Value = u64> {
    0..=(1u64 << 40)
}

/// Timeouts: 0 (no cookie is ever valid), a few seconds (so that idle and lifetime boundaries
/// meet often), the defaults, and the whole range the configuration accepts. Idle and
/// lifetime are drawn independently because the codec does not require `idle <= lifetime`.
fn timeout() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0),
        1..=120u64,
        Just(DEFAULT_POLICY.idle_secs),
        Just(DEFAULT_POLICY.lifetime_secs),
        0..=MAX_SESSION_SECS,
    ]
}

fn policy() -> impl Strategy<Value = SessionPolicy> {
    (timeout(), timeout()).prop_map(|(idle_secs, lifetime_secs)| SessionPolicy {
        idle_secs,
        lifetime_secs,
    })
}

/// Keys from secrets of 0 to 64 bytes (the server uses 32) and any API key fingerprint.
fn session_key() -> impl Strategy<Value = SessionKey> {
    (
        prop::collection::vec(any::<u8>(), 0..=64),
        any::<[u8; 32]>(),
    )
        .prop_map(|(secret, fingerprint)| SessionKey::derive(&secret, &fingerprint))
}

/// A session with its issue time at, shortly before, shortly after or long after its login.
/// Issue times before the login must never open.
fn session() -> impl Strategy<Value = Session> {
    let issue_offset = prop_oneof![
        Just(0i64),
        -120..=120i64,
        -1_000_000..=(MAX_SESSION_SECS as i64 + 1_000),
    ];
    (any::<[u8; 16]>(), unix_time(), issue_offset).prop_map(|(id, login_time, offset)| Session {
        id: SessionId::from_bytes(id),
        login_time,
        issue_time: login_time.saturating_add_signed(offset),
    })
}

/// A time to open a cookie at: a few seconds around one of the window's boundaries, or far
/// from them. `anchor` picks the boundary and `jitter` moves off it.
fn open_time(session: &Session, policy: SessionPolicy, anchor: u8, jitter: i64) -> u64 {
    let base = match anchor % 5 {
        0 => session.issue_time.saturating_sub(MAX_CLOCK_SKEW_SECS),
        1 => session.issue_time.saturating_add(policy.idle_secs),
        2 => session.login_time.saturating_add(policy.lifetime_secs),
        3 => session.login_time,
        _ => session.issue_time,
    };
    base.saturating_add_signed(jitter)
}

fn jitter() -> impl Strategy<Value = i64> {
    prop_oneof![-2..=2i64, -1_000_000..=1_000_000i64]
}

/// The validity window as the session module documents it, in exact (u128) arithmetic.
fn inside_window(session: &Session, policy: SessionPolicy, now: u64) -> bool {
    let login = u128::from(session.login_time);
    let issue = u128::from(session.issue_time);
    let now = u128::from(now);
    login <= issue
        && issue <= now + u128::from(MAX_CLOCK_SKEW_SECS)
        && now < issue + u128::from(policy.idle_secs)
        && now < login + u128::from(policy.lifetime_secs)
}

/// A key, a session and a time at which its cookie is valid under [`DEFAULT_POLICY`]: the
/// starting point of every tamper property.
fn valid_cookie() -> impl Strategy<Value = (SessionKey, Session, String, u64)> {
    (
        session_key(),
        any::<[u8; 16]>(),
        unix_time(),
        0..DEFAULT_POLICY.idle_secs,
    )
        .prop_map(|(key, id, login_time, age)| {
            let session = Session::new(SessionId::from_bytes(id), login_time);
            let value = key.seal(COOKIE_NAME, &session);
            (key, session, value, login_time + age)
        })
}

/// Replacement characters: the base64url alphabet itself, the standard alphabet's `+` and `/`,
/// padding, and any Unicode scalar (most of which change the value's byte length too).
fn replacement_char() -> impl Strategy<Value = char> {
    let alphabet: Vec<char> = BASE64URL.chars().collect();
    prop_oneof![
        4 => select(alphabet),
        1 => select(vec!['+', '/', '=', '.', ' ', '%', '\0']),
        1 => any::<char>(),
    ]
}

/// Cookie names other than [`COOKIE_NAME`]: near misses and any string.
fn other_cookie_name() -> impl Strategy<Value = String> {
    let near_misses = select(vec![
        "",
        "Session",
        "SESSION",
        "session ",
        " session",
        "session\0",
        "sessions",
        "sessio",
        "__Host-session",
    ]);
    prop_oneof![near_misses.prop_map(str::to_owned), any::<String>()]
        .prop_filter("another name than the cookie's", |name| name != COOKIE_NAME)
}

proptest! {
    #![proptest_config(config(1024))]

    #[test]
    fn cookie_opens_exactly_inside_window(
        key in session_key(),
        session in session(),
        policy in policy(),
        anchor in any::<u8>(),
        jitter in jitter(),
    ) {
        let now = open_time(&session, policy, anchor, jitter);
        let value = key.seal(COOKIE_NAME, &session);
        prop_assert_eq!(value.len(), ENCODED_LEN);

        let opened = key.open(COOKIE_NAME, &value, policy, now);
        let expected = inside_window(&session, policy, now).then_some(session);
        prop_assert_eq!(opened, expected, "now {}", now);
    }

    /// Any `u64` times, where the codec's additions saturate: it may reject more than the
    /// exact window, never less.
    #[test]
    fn cookie_never_opens_outside_window(
        key in session_key(),
        id in any::<[u8; 16]>(),
        login_time in any::<u64>(),
        issue_time in any::<u64>(),
        idle_secs in any::<u64>(),
        lifetime_secs in any::<u64>(),
        now in any::<u64>(),
    ) {
        let session = Session { id: SessionId::from_bytes(id), login_time, issue_time };
        let policy = SessionPolicy { idle_secs, lifetime_secs };
        let value = key.seal(COOKIE_NAME, &session);

        if let Some(opened) = key.open(COOKIE_NAME, &value, policy, now) {
            prop_assert_eq!(opened, session);
            prop_assert!(inside_window(&session, policy, now));
        }
    }

    #[test]
    fn opened_cookie_reseals_to_same_value(key in session_key(), session in session()) {
        let value = key.seal(COOKIE_NAME, &session);
        let open_policy = SessionPolicy { idle_secs: u64::MAX, lifetime_secs: u64::MAX };

        let opened = key.open(COOKIE_NAME, &value, open_policy, session.issue_time);
        if session.login_time <= session.issue_time {
            prop_assert_eq!(opened, Some(session));
            prop_assert_eq!(key.seal(COOKIE_NAME, &session), value);
        } else {
            prop_assert_eq!(opened, None);
        }
    }

    /// Changes every position of the value in turn, each to its own replacement.
    #[test]
    fn every_single_char_change_fails(
        (key, _session, value, now) in valid_cookie(),
        replacements in prop::collection::vec(replacement_char(), ENCODED_LEN),
    ) {
        prop_assert!(key.open(COOKIE_NAME, &value, DEFAULT_POLICY, now).is_some());
        for (position, replacement) in replacements.into_iter().enumerate() {
            let mut chars: Vec<char> = value.chars().collect();
            if chars[position] == replacement {
                continue;
            }
            chars[position] = replacement;
            let changed: String = chars.into_iter().collect();
            prop_assert_eq!(
                key.open(COOKIE_NAME, &changed, DEFAULT_POLICY, now),
                None,
                "position {} changed to {:?}",
                position,
                replacement
            );
        }
    }

    #[test]
    fn truncated_cookie_fails((key, _session, value, now) in valid_cookie(), length in 0..ENCODED_LEN) {
        prop_assert_eq!(key.open(COOKIE_NAME, &value[..length], DEFAULT_POLICY, now), None);
    }

    #[test]
    fn extended_cookie_fails(
        (key, _session, value, now) in valid_cookie(),
        prefix in ".{0,4}",
        suffix in ".{0,4}",
    ) {
        prop_assume!(!prefix.is_empty() || !suffix.is_empty());
        let extended = format!("{prefix}{value}{suffix}");
        prop_assert_eq!(key.open(COOKIE_NAME, &extended, DEFAULT_POLICY, now), None);
    }

    #[test]
    fn reencoded_cookie_fails((key, _session, value, now) in valid_cookie()) {
        // 65 raw bytes leave 2 over a multiple of 3, so padded base64 ends in one `=`.
        for padded in [format!("{value}="), format!("{value}==")] {
            prop_assert_eq!(key.open(COOKIE_NAME, &padded, DEFAULT_POLICY, now), None, "{}", padded);
        }

        let standard = value.replace('-', "+").replace('_', "/");
        if standard != value {
            prop_assert_eq!(key.open(COOKIE_NAME, &standard, DEFAULT_POLICY, now), None);
        }

        for (position, original) in value.char_indices() {
            if !original.is_ascii_alphabetic() {
                continue;
            }
            let flipped = if original.is_ascii_uppercase() {
                original.to_ascii_lowercase()
            } else {
                original.to_ascii_uppercase()
            };
            let mut changed = value.clone();
            changed.replace_range(position..=position, &flipped.to_string());
            prop_assert_eq!(key.open(COOKIE_NAME, &changed, DEFAULT_POLICY, now), None, "case of position {}", position);
        }
    }

    #[test]
    fn cookie_under_other_name_fails(
        (key, session, value, now) in valid_cookie(),
        other_name in other_cookie_name(),
    ) {
        prop_assert_eq!(key.open(COOKIE_NAME, &value, DEFAULT_POLICY, now), Some(session));
        prop_assert_eq!(key.open(&other_name, &value, DEFAULT_POLICY, now), None);

        let sealed_for_other = key.seal(&other_name, &session);
        prop_assert_eq!(key.open(&other_name, &sealed_for_other, DEFAULT_POLICY, now), Some(session));
        prop_assert_eq!(key.open(COOKIE_NAME, &sealed_for_other, DEFAULT_POLICY, now), None);
    }

    #[test]
    fn cookie_under_other_key_fails(
        (key, _session, value, now) in valid_cookie(),
        other_key in session_key(),
    ) {
        // Two drawn keys are equal only if their derivation inputs are, which is negligible.
        prop_assert_eq!(other_key.open(COOKIE_NAME, &value, DEFAULT_POLICY, now), None);
        prop_assert!(key.open(COOKIE_NAME, &value, DEFAULT_POLICY, now).is_some());
    }

    /// Renews a session at a time when it is valid. The renewed cookie's `Max-Age` is exactly
    /// how long it stays valid: it opens one second before and fails at the end.
    #[test]
    fn renewal_never_outlives_lifetime(
        key in session_key(),
        id in any::<[u8; 16]>(),
        login_time in unix_time(),
        idle_secs in 1..=MAX_SESSION_SECS,
        lifetime_secs in 1..=MAX_SESSION_SECS,
        renew_fraction in 0.0..1.0f64,
    ) {
        let policy = SessionPolicy { idle_secs, lifetime_secs };
        let session = Session::new(SessionId::from_bytes(id), login_time);
        let renew_at = login_time + (lifetime_secs as f64 * renew_fraction) as u64;
        prop_assume!(renew_at < session.lifetime_end(policy));

        let renewed = session.renewed(renew_at);
        prop_assert_eq!(renewed.id, session.id);
        prop_assert_eq!(renewed.login_time, login_time);
        prop_assert_eq!(renewed.issue_time, renew_at);

        let max_age = renewed.max_age(policy, renew_at);
        prop_assert!(max_age >= 1);
        prop_assert!(max_age <= idle_secs);
        prop_assert!(renew_at + max_age <= renewed.lifetime_end(policy));

        let value = key.seal(COOKIE_NAME, &renewed);
        let last_second = renew_at + max_age - 1;
        prop_assert_eq!(key.open(COOKIE_NAME, &value, policy, last_second), Some(renewed));
        prop_assert_eq!(key.open(COOKIE_NAME, &value, policy, renew_at + max_age), None);
    }

    /// `Max-Age` at any time, even after the lifetime ended, never reaches past its end.
    #[test]
    fn max_age_stops_at_lifetime_end(session in session(), policy in policy(), now in unix_time()) {
        let max_age = session.max_age(policy, now);
        prop_assert!(max_age <= policy.idle_secs);
        prop_assert!(now + max_age <= session.lifetime_end(policy).max(now));
    }

    #[test]
    fn open_arbitrary_text_is_total(key in session_key(), value in any::<String>(), now in any::<u64>()) {
        if let Some(session) = key.open(COOKIE_NAME, &value, DEFAULT_POLICY, now) {
            prop_assert_eq!(key.seal(COOKIE_NAME, &session), value);
        }
    }

    /// Strings of exactly the encoded length pass the length check and reach the decoder and
    /// the tag check. None is expected to open (that needs a forged tag), so the re-seal check
    /// guards a case that in practice never happens.
    #[test]
    fn open_full_length_text_is_total(
        key in session_key(),
        value in proptest::string::string_regex(&format!("[A-Za-z0-9_-]{{{ENCODED_LEN}}}")).unwrap(),
        now in any::<u64>(),
    ) {
        prop_assert_eq!(value.len(), ENCODED_LEN);
        if let Some(session) = key.open(COOKIE_NAME, &value, DEFAULT_POLICY, now) {
            prop_assert_eq!(key.seal(COOKIE_NAME, &session), value);
        }
    }
}

// --- canonical path ---

/// Pieces that make paths interesting: separators, plain and encoded dots in both cases,
/// encoded separators, `;`, controls raw and encoded, valid and invalid UTF-8 escapes
/// (including C1 controls and U+2028), and the words of the public paths.
const PATH_PIECES: &[&str] = &[
    "/",
    "/",
    "/",
    "/",
    ".",
    "..",
    "%2e",
    "%2E",
    "%2f",
    "%2F",
    "%5c",
    "%5C",
    "%25",
    "%",
    "%2",
    ";",
    "\\",
    "%00",
    "%0A",
    "%0d",
    "%1F",
    "%7F",
    "%20",
    "%3F",
    "%23",
    "%3B",
    "%C3%A9",
    "%c3%a9",
    "%C3",
    "%A9",
    "%C2%80",
    "%C2%85",
    "%C2%9F",
    "%E2%80%A8",
    "%EF%BB%BF",
    "%FF",
    "%C0%AF",
    "%E0%80%AE",
    "static",
    "login",
    "LOGIN",
    "api",
    "auth",
    "health",
    "home",
    "app.css",
    "/static/",
    "/login",
    "/api/health",
    "/api/auth/login",
    "~",
    "-",
    "_",
    ":",
    "@",
    "!$&'()*+,=",
    " ",
    "\t",
    "\0",
    "\u{7f}",
    "\u{85}",
    "é",
    "?",
    "#",
];

/// Paths built from [`PATH_PIECES`], short alphanumeric runs and any character, mostly with a
/// leading `/`. Up to 12 pieces reach three or four segments, enough for every rule.
fn path_like() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        8 => select(PATH_PIECES).prop_map(str::to_owned),
        2 => "[a-zA-Z0-9]{1,4}",
        1 => any::<char>().prop_map(String::from),
    ];
    (
        prop::bool::weighted(0.9),
        prop::collection::vec(piece, 0..12),
    )
        .prop_map(|(leading_slash, pieces)| {
            let body = pieces.concat();
            if leading_slash {
                format!("/{body}")
            } else {
                body
            }
        })
}

/// Pieces of one segment: mostly bytes a canonical path may hold (so that many inputs are
/// accepted and reach the decoded-form checks), with some that make a segment invalid.
const SEGMENT_PIECES: &[&str] = &[
    "static",
    "login",
    "api",
    "auth",
    "health",
    "home",
    "app.css",
    "a",
    "Z9",
    "...",
    ".a",
    "a.",
    "~",
    "-",
    "_",
    ":",
    "@",
    "!",
    "+",
    "=",
    "%20",
    "%22",
    "%3F",
    "%23",
    "%C3%A9",
    "%C2%80",
    "%C2%85",
    "%C2%9F",
    "%E2%80%A8",
    "%EF%BB%BF",
    "%F0%9F%98%80",
    ".",
    "..",
    "%2e",
    "%2F",
    "%5c",
    ";",
    "%00",
    "%25",
    "%C3",
];

/// Paths of whole segments after a prefix that is, or starts, a public path, so that both
/// public and protected canonical paths are frequent.
fn segment_path() -> impl Strategy<Value = String> {
    let prefix = select(vec![
        "",
        "/static",
        "/api",
        "/api/auth",
        "/login",
        "/api/health",
    ]);
    let segment =
        prop::collection::vec(select(SEGMENT_PIECES), 1..=3).prop_map(|pieces| pieces.concat());
    (prefix, prop::collection::vec(segment, 0..4)).prop_map(|(prefix, segments)| {
        let mut path = prefix.to_owned();
        for segment in segments {
            path.push('/');
            path.push_str(&segment);
        }
        if path.is_empty() {
            path.push('/');
        }
        path
    })
}

/// Mostly built paths, plus any string and any printable ASCII after a `/`.
fn path_input() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => path_like(),
        4 => segment_path(),
        1 => any::<String>(),
        1 => "/[ -~]{0,40}",
    ]
}

/// The public paths, as the public bypass documents them.
fn is_listed_public(path: &str) -> bool {
    matches!(path, "/login" | "/api/auth/login" | "/api/health")
        || path
            .strip_prefix("/static/")
            .is_some_and(|rest| !rest.is_empty())
}

/// Returns the byte that two hex digits of either case spell, or `None`.
fn hex_byte(digits: &[u8]) -> Option<u8> {
    let [high, low] = digits else {
        return None;
    };
    let value = |digit: u8| char::from(digit).to_digit(16);
    Some((value(*high)? * 16 + value(*low)?) as u8)
}

/// Returns true if `text` contains `%XX` for a control byte (0x00-0x1F or 0x7F), in any case.
fn has_encoded_control(text: &str) -> bool {
    text.as_bytes().windows(3).any(|window| {
        window[0] == b'%' && hex_byte(&window[1..]).is_some_and(|byte| byte < 0x20 || byte == 0x7f)
    })
}

proptest! {
    #![proptest_config(config(2048))]

    #[test]
    fn accepted_path_is_fixed_point(input in path_input()) {
        if let Ok(path) = canonical_path(&input) {
            prop_assert_eq!(path.as_str(), input.as_str());
            prop_assert_eq!(canonical_path(path.as_str()), Ok(path));
        }
    }

    #[test]
    fn public_iff_listed_public(input in path_input()) {
        if let Ok(path) = canonical_path(&input) {
            prop_assert_eq!(is_public_path(path.as_str()), is_listed_public(path.as_str()));
        }
    }

    #[test]
    fn accepted_path_has_no_hidden_structure(input in path_input()) {
        let Ok(path) = canonical_path(&input) else {
            return Ok(());
        };
        let lower = input.to_ascii_lowercase();
        prop_assert!(input.starts_with('/'));
        prop_assert!(input.len() <= MAX_PATH_LEN);
        prop_assert!(!lower.contains("%2f"), "encoded slash");
        prop_assert!(!lower.contains("%5c"), "encoded backslash");
        prop_assert!(!lower.contains("%2e"), "encoded dot");
        prop_assert!(!input.contains('\\'), "raw backslash");
        prop_assert!(!input.chars().any(char::is_control), "raw control character");
        prop_assert!(!has_encoded_control(&input), "encoded control byte");
        if path.as_str() != "/" {
            for segment in input[1..].split('/') {
                prop_assert!(segment != "." && segment != "..", "dot segment");
                prop_assert!(!segment.is_empty(), "empty segment");
            }
        }
    }

    #[test]
    fn decoded_path_adds_no_structure(input in path_input()) {
        let Ok(path) = canonical_path(&input) else {
            return Ok(());
        };
        let decoded = path.decoded();
        prop_assert_eq!(decoded.matches('/').count(), input.matches('/').count(), "new separator");
        prop_assert!(!decoded.contains('\\'), "backslash");
        prop_assert!(!decoded.contains('%'), "escape left for a second decoding");
        prop_assert!(!decoded.contains(';'), "path parameter");
        for segment in decoded.split('/').skip(1) {
            prop_assert!(segment != "." && segment != "..", "dot segment {:?}", segment);
        }
        let control = decoded.chars().find(|c| c.is_control());
        prop_assert_eq!(control, None, "control character in {:?}", decoded);
    }
}

// --- next ---

/// Pieces of hostile `next` values: slashes and backslashes, dots plain and encoded, schemes,
/// host names, whitespace and controls raw and encoded, and malformed escapes.
const NEXT_PIECES: &[&str] = &[
    "/",
    "/",
    "/",
    "//",
    "\\",
    ".",
    "..",
    "%2e",
    "%2E",
    "%2f",
    "%2F",
    "%5c",
    "%5C",
    "%25",
    "%252e",
    "%",
    "%zz",
    "%0a",
    "%0D",
    "%09",
    "%20",
    "%00",
    "%C2%85",
    "%C2%A0",
    "%E2%80%A8",
    "%FF",
    "?",
    "#",
    ":",
    "@",
    "javascript:",
    "https:",
    "evil.example",
    "home",
    "static",
    "a",
    "+",
    " ",
    "\t",
    "\n",
    "\u{85}",
    "é",
];

fn next_input() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        8 => select(NEXT_PIECES).prop_map(str::to_owned),
        2 => "[a-zA-Z0-9=&]{1,4}",
        1 => any::<char>().prop_map(String::from),
    ];
    let built = (
        prop::bool::weighted(0.8),
        prop::collection::vec(piece, 0..10),
    )
        .prop_map(|(leading_slash, pieces)| {
            let body = pieces.concat();
            if leading_slash {
                format!("/{body}")
            } else {
                body
            }
        });
    prop_oneof![6 => built, 1 => any::<String>(), 1 => "/[!-~]{0,40}"]
}

/// Resolves a reference against an https page the way the WHATWG URL parser does for special
/// schemes: it drops tabs and newlines and trims C0 controls and spaces, reads `\` as `/` and
/// `%2e` in any case as `.`, and stops the path at `?` or `#`. Returns the resolved path, or
/// `None` when the browser would leave the page's host (a scheme or `//` authority) or
/// resolve against the page's own path instead of the root.
fn browser_path(reference: &str) -> Option<String> {
    let cleaned: String = reference
        .trim_matches(|c: char| c <= ' ')
        .chars()
        .filter(|c| !matches!(c, '\t' | '\n' | '\r'))
        .collect();
    let mut chars = cleaned.chars();
    let is_slash = |c: Option<char>| matches!(c, Some('/' | '\\'));
    if !is_slash(chars.next()) || is_slash(chars.next()) {
        return None;
    }
    let end = cleaned.find(['?', '#']).unwrap_or(cleaned.len());
    let segments = cleaned[1..end].split(['/', '\\']);
    Some(resolve_dot_segments(segments, |segment| {
        let lower = segment.to_ascii_lowercase();
        if matches!(lower.as_str(), ".." | ".%2e" | "%2e." | "%2e%2e") {
            Some(Dot::Double)
        } else if matches!(lower.as_str(), "." | "%2e") {
            Some(Dot::Single)
        } else {
            None
        }
    }))
}

/// Removes the dot segments of an absolute path as RFC 3986 section 5.2.4 does: only `/`
/// separates, only literal `.` and `..` are dot segments, and the path stops at `?` or `#`.
fn remove_dot_segments(path: &str) -> String {
    let end = path.find(['?', '#']).unwrap_or(path.len());
    let segments = path[..end].split('/').skip(1);
    resolve_dot_segments(segments, |segment| match segment {
        ".." => Some(Dot::Double),
        "." => Some(Dot::Single),
        _ => None,
    })
}

/// A dot segment.
enum Dot {
    Single,
    Double,
}

/// Resolves the segments after the leading `/`, with `dot_kind` saying which are dot segments.
fn resolve_dot_segments<'a>(
    segments: impl Iterator<Item = &'a str>,
    dot_kind: impl Fn(&str) -> Option<Dot>,
) -> String {
    let segments: Vec<&str> = segments.collect();
    let mut output: Vec<&str> = Vec::new();
    for (position, segment) in segments.iter().enumerate() {
        let is_last = position + 1 == segments.len();
        match dot_kind(segment) {
            Some(Dot::Double) => {
                output.pop();
                if is_last {
                    output.push("");
                }
            }
            Some(Dot::Single) => {
                if is_last {
                    output.push("");
                }
            }
            None => output.push(segment),
        }
    }
    format!("/{}", output.join("/"))
}

/// Decodes `%XX` escapes once, leaving malformed ones as they are.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let escaped = bytes.get(index + 1..index + 3).and_then(hex_byte);
        match (bytes[index], escaped) {
            (b'%', Some(byte)) => {
                decoded.push(byte);
                index += 3;
            }
            (byte, _) => {
                decoded.push(byte);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

proptest! {
    #![proptest_config(config(2048))]

    #[test]
    fn next_output_is_same_origin_path(input in next_input()) {
        let output = safe_next(Some(&input));
        if output == DEFAULT_NEXT {
            return Ok(());
        }
        prop_assert_eq!(output, input.as_str(), "a safe value is kept as given");
        prop_assert!(output.starts_with('/'));
        prop_assert!(!output[1..].starts_with(['/', '\\']), "starts like another host");
        prop_assert!(!output.contains('\\'), "backslash");
        prop_assert!(output.bytes().all(|byte| byte.is_ascii_graphic()), "not printable ASCII");
        prop_assert!(output.len() <= MAX_NEXT_LEN);

        let decoded = percent_decode(output);
        let hidden = decoded.chars().find(|c| c.is_control() || c.is_whitespace() || *c == '\\');
        prop_assert_eq!(hidden, None, "decoded value {:?}", decoded);
    }

    /// The value as given and decoded once, with dot segments removed as RFC 3986 does, and
    /// the value as given resolved as a browser does. Browsers never decode a `Location`
    /// twice, so the browser's reading of the decoded value is not checked: it would reject
    /// safe values such as `/%252e//`.
    #[test]
    fn next_resolves_below_root(input in next_input()) {
        let output = safe_next(Some(&input));
        for reference in [output.to_owned(), percent_decode(output)] {
            let resolved = remove_dot_segments(&reference);
            prop_assert!(!resolved.starts_with("//"), "{:?} resolves to {:?}", reference, resolved);
        }

        let in_browser = browser_path(output);
        prop_assert!(in_browser.is_some(), "{:?} leaves the host", output);
        let in_browser = in_browser.unwrap_or_default();
        prop_assert!(!in_browser.starts_with("//"), "{:?} resolves to {:?} in a browser", output, in_browser);
    }

    #[test]
    fn next_check_is_idempotent(input in next_input()) {
        let once = safe_next(Some(&input));
        prop_assert_eq!(safe_next(Some(once)), once);
        prop_assert!(is_safe_next(once));
        prop_assert_eq!(once == input, is_safe_next(&input));
    }
}

// --- login limiter ---

/// Any IPv4 or IPv6 address. Two draws that map to the same client key (one IPv6 /64, or an
/// IPv4 address and its mapped IPv6 form) are the same client and are skipped.
fn client_address() -> impl Strategy<Value = IpAddr> {
    any::<IpAddr>()
}

/// Offsets of failures inside one window, in any order: `0..WINDOW_SECS` keeps every pair less
/// than a window apart, so all of them count together. Any order covers a clock that steps
/// back between two failures.
fn failures_in_one_window(count: usize) -> impl Strategy<Value = Vec<u64>> {
    prop::collection::vec(0..WINDOW_SECS, count)
}

/// Gaps between failures in order: zero (a burst), within a window, or longer than one.
fn failure_gaps() -> impl Strategy<Value = Vec<u64>> {
    prop::collection::vec(
        prop_oneof![Just(0u64), 0..WINDOW_SECS, 0..=3 * WINDOW_SECS],
        0..40,
    )
}

/// The sliding-window rule for failures in time order, checked at `now` (not before the last
/// failure): limited while `MAX_FAILURES` failures are less than a window old, until the
/// `MAX_FAILURES`-th newest of them leaves the window.
fn expected_check(times: &[u64], now: u64) -> Result<(), RetryAfter> {
    let recent: Vec<u64> = times
        .iter()
        .copied()
        .filter(|&t| now < t + WINDOW_SECS)
        .collect();
    if recent.len() < MAX_FAILURES {
        return Ok(());
    }
    let oldest_counted = recent[recent.len() - MAX_FAILURES];
    Err(RetryAfter(oldest_counted + WINDOW_SECS - now))
}

proptest! {
    #![proptest_config(config(1024))]

    #[test]
    fn failures_never_limit_other_client(
        first in client_address(),
        second in client_address(),
        start in unix_time(),
        events in prop::collection::vec((any::<bool>(), 0..WINDOW_SECS), 0..60),
    ) {
        prop_assume!(ClientKey::from(first) != ClientKey::from(second));
        let mut both = LoginLimiter::new();
        let mut second_only = LoginLimiter::new();
        let mut now = start;
        for (is_first, gap) in events {
            now += gap;
            if is_first {
                both.record_failure(ClientKey::from(first), now);
            } else {
                both.record_failure(ClientKey::from(second), now);
                second_only.record_failure(ClientKey::from(second), now);
            }
            let second_check = second_only.check(ClientKey::from(second), now);
            prop_assert_eq!(both.check(ClientKey::from(second), now), second_check);
        }
    }

    #[test]
    fn fewer_failures_never_limit(
        client in client_address(),
        start in unix_time(),
        offsets in prop::collection::vec(0..=3 * WINDOW_SECS, 0..MAX_FAILURES),
        check_offset in 0..=4 * WINDOW_SECS,
    ) {
        let mut limiter = LoginLimiter::new();
        for offset in &offsets {
            limiter.record_failure(ClientKey::from(client), start + offset);
        }
        prop_assert_eq!(limiter.check(ClientKey::from(client), start + check_offset), Ok(()));
    }

    /// `MAX_FAILURES` failures inside one window, recorded in any order: the client is limited
    /// from the last of them until the oldest is a window old, and free from then on.
    #[test]
    fn release_is_exact_at_window_end(
        client in client_address(),
        start in unix_time(),
        offsets in failures_in_one_window(MAX_FAILURES),
    ) {
        let client = ClientKey::from(client);
        let mut limiter = LoginLimiter::new();
        for offset in &offsets {
            limiter.record_failure(client, start + offset);
        }
        let oldest = start + offsets.iter().min().copied().unwrap_or_default();
        let latest = start + offsets.iter().max().copied().unwrap_or_default();
        let release = oldest + WINDOW_SECS;

        prop_assert!(limiter.check(client, latest).is_err());
        prop_assert!(limiter.check(client, release - 1).is_err(), "released one second early");
        prop_assert_eq!(limiter.check(client, release), Ok(()));
    }

    /// Failures in time order: the limiter agrees with the sliding-window rule after every
    /// failure, at the failure's time and at one time after it.
    #[test]
    fn limit_follows_sliding_window(
        client in client_address(),
        start in unix_time(),
        gaps in failure_gaps(),
        later in 0..=2 * WINDOW_SECS,
    ) {
        let client = ClientKey::from(client);
        let mut limiter = LoginLimiter::new();
        let mut times = Vec::new();
        let mut now = start;
        for gap in gaps {
            now += gap;
            limiter.record_failure(client, now);
            times.push(now);
            prop_assert_eq!(limiter.check(client, now), expected_check(&times, now), "at {}", now);
            prop_assert_eq!(limiter.check(client, now + later), expected_check(&times, now + later));
        }
    }

    /// `Retry-After` names the release second when the failures were recorded in time order.
    #[test]
    fn retry_after_is_exact_in_order(
        client in client_address(),
        start in unix_time(),
        mut offsets in failures_in_one_window(MAX_FAILURES),
    ) {
        offsets.sort_unstable();
        assert_retry_after_is_exact(ClientKey::from(client), start, &offsets)?;
    }

    /// The same after the clock stepped back between failures (an NTP correction, say): the
    /// module counts failures dated in the future, so the wait it names should still be exact.
    #[test]
    fn retry_after_is_exact_after_clock_steps_back(
        client in client_address(),
        start in unix_time(),
        offsets in failures_in_one_window(MAX_FAILURES),
    ) {
        assert_retry_after_is_exact(ClientKey::from(client), start, &offsets)?;
    }
}

/// Records failures at `start + offsets` in the given order, then checks that from the latest
/// failure to the release every check names the seconds left until the release.
fn assert_retry_after_is_exact(
    client: ClientKey,
    start: u64,
    offsets: &[u64],
) -> Result<(), TestCaseError> {
    let mut limiter = LoginLimiter::new();
    for offset in offsets {
        limiter.record_failure(client, start + offset);
    }
    let oldest = start + offsets.iter().min().copied().unwrap_or_default();
    let latest = start + offsets.iter().max().copied().unwrap_or_default();
    let release = oldest + WINDOW_SECS;

    for now in [latest, (latest + release) / 2, release - 1] {
        let expected = Err(RetryAfter(release - now));
        prop_assert_eq!(
            limiter.check(client, now),
            expected,
            "at {} with failures at offsets {:?}",
            now - start,
            offsets
        );
    }
    prop_assert_eq!(limiter.check(client, release), Ok(()));
    Ok(())
}

// --- login body ---

/// Media types the parser must accept as JSON: `application/json` in any letter case, with
/// and without parameters, with spaces and tabs around it.
fn json_content_type() -> impl Strategy<Value = String> {
    let letter_case = prop::collection::vec(any::<bool>(), "application/json".len());
    let parameters = select(vec![
        "",
        ";",
        "; charset=utf-8",
        ";charset=UTF-8",
        "; q=1; x=\"a;b\"",
    ]);
    let padding = select(vec!["", " ", "\t", "  "]);
    (letter_case, parameters, padding.clone(), padding).prop_map(
        |(upper, parameters, before, after)| {
            let media_type: String = "application/json"
                .chars()
                .zip(upper)
                .map(|(c, upper)| if upper { c.to_ascii_uppercase() } else { c })
                .collect();
            format!("{before}{media_type}{after}{parameters}")
        },
    )
}

/// `Content-Type` values of every kind: missing, JSON, near misses, other types and any text.
fn content_type() -> impl Strategy<Value = Option<String>> {
    let near_misses = select(vec![
        "",
        "application/jsonx",
        "application/json-seq",
        "application/vnd.api+json",
        "application/ json",
        "application/json x",
        "text/json",
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "json",
        ";application/json",
    ]);
    prop_oneof![
        1 => Just(None),
        3 => json_content_type().prop_map(Some),
        2 => near_misses.prop_map(|value| Some(value.to_owned())),
        1 => any::<String>().prop_map(Some),
    ]
}

/// Bodies: any bytes up to past the size limit, and JSON-like text.
fn body_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..=MAX_BODY_LEN + 64),
        r#"\{("api_key"|"next"|"x"|:|,|"[^"]{0,8}"|null|1|\[|\]|\{|\}| )*\}?"#
            .prop_map(String::into_bytes),
    ]
}

/// The media type check as the login body module documents it.
fn names_json(content_type: Option<&str>) -> bool {
    content_type.is_some_and(|value| {
        let media_type = value.split(';').next().unwrap_or_default().trim();
        media_type.eq_ignore_ascii_case("application/json")
    })
}

proptest! {
    #![proptest_config(config(1024))]

    #[test]
    fn login_body_accepts_only_json(content_type in content_type(), body in body_bytes()) {
        let result = parse_login_body(content_type.as_deref(), &body);
        if !names_json(content_type.as_deref()) {
            prop_assert_eq!(result.err(), Some(LoginBodyError::UnsupportedMediaType));
        } else if body.len() > MAX_BODY_LEN {
            prop_assert_eq!(result.err(), Some(LoginBodyError::TooLarge));
        } else if let Err(error) = result {
            prop_assert!(matches!(error, LoginBodyError::InvalidJson | LoginBodyError::WrongShape));
        }
    }

    /// Any key text (escapes, NUL, any Unicode), from empty to past the size limit.
    #[test]
    fn login_body_returns_given_key(
        content_type in json_content_type(),
        api_key in prop_oneof![8 => ".{0,40}", 1 => "[a-z]{4000,4100}"],
        next in prop::option::of(".{0,20}"),
        include_next in any::<bool>(),
    ) {
        let mut object = serde_json::json!({ "api_key": api_key });
        if include_next {
            object["next"] = serde_json::json!(next);
        }
        let body = serde_json::to_vec(&object).unwrap_or_default();

        let result = parse_login_body(Some(&content_type), &body);
        if body.len() > MAX_BODY_LEN {
            prop_assert_eq!(result.err(), Some(LoginBodyError::TooLarge));
            return Ok(());
        }
        let request = result.map_err(|error| TestCaseError::fail(format!("{error:?}")))?;
        prop_assert_eq!(request.api_key, api_key);
        let expected_next = if include_next { next } else { None };
        prop_assert_eq!(request.next, expected_next);
    }
}
