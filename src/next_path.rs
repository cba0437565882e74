//! The check on the `next` value of a login: where a browser goes after it logs in.
//!
//! A `next` value comes from a URL an attacker can craft, so only a same-origin path survives.
//! Anything else becomes [`DEFAULT_NEXT`]. A value survives when all of these hold, both of the
//! value as given and of it percent-decoded once:
//!
//! - it starts with one `/` that is not followed by `/` or `\` (which browsers read as the start
//!   of another host);
//! - it has no `\`, no control character and no whitespace;
//! - it has no scheme (`javascript:`, `https:`) before its first `/`;
//! - after its dot segments are resolved it still starts with one `/` not followed by `/`.
//!
//! The value as given must also be printable ASCII and at most [`MAX_NEXT_LEN`] bytes, so that
//! it can be sent back in a `Location` header unchanged.

/// Where a browser goes after login when `next` is missing or unsafe.
pub const DEFAULT_NEXT: &str = "/home";

/// The longest `next` value kept, in bytes.
pub const MAX_NEXT_LEN: usize = 2048;

/// Returns `next` if it is a safe same-origin path, or [`DEFAULT_NEXT`] otherwise.
///
/// The answer is always safe, so applying the check twice gives the same answer.
pub fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(value) if is_safe_next(value) => value,
        _ => DEFAULT_NEXT,
    }
}

/// Returns true if `value` is a same-origin path that a browser may be sent to.
pub fn is_safe_next(value: &str) -> bool {
    if value.len() > MAX_NEXT_LEN || !value.bytes().all(|byte| byte.is_ascii_graphic()) {
        return false;
    }
    if !is_safe_path_text(value) {
        return false;
    }
    match percent_decode_once(value) {
        Some(decoded) => is_safe_path_text(&decoded),
        None => false,
    }
}

/// Applies every rule but the ASCII one, which only the value as given must meet.
fn is_safe_path_text(text: &str) -> bool {
    if !starts_with_single_slash(text) {
        return false;
    }
    if text
        .chars()
        .any(|c| c == '\\' || c.is_control() || c.is_whitespace())
    {
        return false;
    }
    // Starting with one slash also means there is no scheme: `javascript:` and the like
    // can only come before the first `/`.
    starts_with_single_slash(&remove_dot_segments(text))
}

fn starts_with_single_slash(text: &str) -> bool {
    let mut chars = text.chars();
    chars.next() == Some('/') && !matches!(chars.next(), Some('/' | '\\'))
}

/// Decodes `%XX` escapes once. Returns `None` when an escape is malformed or the result is
/// not UTF-8, which makes the value unsafe.
fn percent_decode_once(text: &str) -> Option<String> {
    if !text.contains('%') {
        return Some(text.to_owned());
    }
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%' {
            let high = hex_value(*bytes.get(index + 1)?)?;
            let low = hex_value(*bytes.get(index + 2)?)?;
            // The two nibbles share no bit, so `|` here is the same as `^` or `+`.
            decoded.push(high << 4 | low);
            index += 3;
        } else {
            decoded.push(bytes[index]);
            index += 1;
        }
    }
    String::from_utf8(decoded).ok()
}

fn hex_value(digit: u8) -> Option<u8> {
    char::from(digit).to_digit(16).map(|value| value as u8)
}

/// Resolves `.` and `..` segments of the path part (before any `?` or `#`), as RFC 3986
/// section 5.2.4 does, and returns the resolved path.
fn remove_dot_segments(text: &str) -> String {
    let end = text.find(['?', '#']).unwrap_or(text.len());
    let mut output: Vec<&str> = Vec::new();
    let segments: Vec<&str> = text[..end].split('/').skip(1).collect();
    for (position, segment) in segments.iter().enumerate() {
        let is_last = position + 1 == segments.len();
        match *segment {
            "." => {
                if is_last {
                    output.push("");
                }
            }
            ".." => {
                output.pop();
                if is_last {
                    output.push("");
                }
            }
            other => output.push(other),
        }
    }
    format!("/{}", output.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_origin_paths_survive() {
        for value in [
            "/home",
            "/",
            "/home?tab=2",
            "/static/app.css#top",
            "/a/b/../c",
            "/x?next=https://elsewhere",
        ] {
            assert_eq!(safe_next(Some(value)), value, "{value}");
        }
    }

    #[test]
    fn missing_next_is_home() {
        assert_eq!(safe_next(None), "/home");
    }

    #[test]
    fn other_hosts_become_home() {
        for value in [
            "//evil.example",
            "/\\evil.example",
            "\\\\evil.example",
            "https://evil.example",
            "javascript:alert(1)",
            "evil.example",
            "",
            "/%2F/evil.example",
            "/%2Fevil.example",
            "/%5Cevil.example",
            "%2F%2Fevil.example",
            "/.//evil.example",
            "/a/..//evil.example",
            "/%2E%2E//evil.example",
        ] {
            assert_eq!(safe_next(Some(value)), "/home", "{value}");
        }
    }

    #[test]
    fn control_and_whitespace_become_home() {
        for value in [
            "/home\n",
            "/ho me",
            "/home\t",
            "/home%0A",
            "/home%0D%0ASet-Cookie:x",
            "/home%09",
            "/home%20x",
            "/home%C2%A0",
            "/home%E2%80%A8",
            "/home\u{e9}",
        ] {
            assert_eq!(safe_next(Some(value)), "/home", "{value:?}");
        }
    }

    #[test]
    fn malformed_escapes_become_home() {
        assert_eq!(safe_next(Some("/home%")), "/home");
        assert_eq!(safe_next(Some("/home%zz")), "/home");
        assert_eq!(safe_next(Some("/home%FF")), "/home");
    }

    #[test]
    fn length_limit_is_exact() {
        let at_limit = format!("/{}", "a".repeat(MAX_NEXT_LEN - 1));
        let over_limit = format!("/{}", "a".repeat(MAX_NEXT_LEN));
        assert_eq!(safe_next(Some(&at_limit)), at_limit);
        assert_eq!(safe_next(Some(&over_limit)), "/home");
    }

    #[test]
    fn dot_segments_resolve_like_browsers() {
        assert_eq!(remove_dot_segments("/a/b/../c"), "/a/c");
        assert_eq!(remove_dot_segments("/../../a"), "/a");
        assert_eq!(remove_dot_segments("/.//x"), "//x");
        assert_eq!(remove_dot_segments("/a/.."), "/");
        assert_eq!(remove_dot_segments("/a/."), "/a/");
    }
}

/// Percent-encodes `value` for a query parameter: every byte except ASCII letters, digits,
/// `-`, `.`, `_`, `~` and `/` is escaped.
pub fn encode_query_value(value: &str) -> String {
    use std::fmt::Write as _;
    let mut encoded = String::with_capacity(value.len() * 3);
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~' | b'/') {
            encoded.push(char::from(byte));
        } else {
            let _ = write!(encoded, "%{byte:02X}");
        }
    }
    encoded
}

/// Returns the decoded value of the first `next` parameter of a query string, the way
/// browsers encode forms (`+` for space). Returns `None` if it is missing or does not decode.
pub fn next_from_query(query: &str) -> Option<String> {
    let raw = query
        .split('&')
        .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
        .find(|(name, _)| *name == "next")
        .map(|(_, value)| value)?;
    percent_decode_once(&raw.replace('+', " "))
}

#[cfg(test)]
mod query_tests {
    use super::*;

    #[test]
    fn query_values_round_trip() {
        let target = "/home?a=1&b=two words/ü";
        let encoded = encode_query_value(target);
        assert_eq!(encoded, "/home%3Fa%3D1%26b%3Dtwo%20words/%C3%BC");
        assert_eq!(
            next_from_query(&format!("x=1&next={encoded}")).as_deref(),
            Some(target)
        );
    }

    #[test]
    fn next_parameter_is_found() {
        assert_eq!(next_from_query("next=%2Fhome").as_deref(), Some("/home"));
        assert_eq!(next_from_query("next=a+b").as_deref(), Some("a b"));
        assert_eq!(next_from_query("nextx=1"), None);
        assert_eq!(next_from_query(""), None);
        assert_eq!(next_from_query("next=%zz"), None);
    }
}
