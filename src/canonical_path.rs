//! The one decision about what a request path is.
//!
//! A request path is accepted only if it is already in canonical form, so there is exactly one
//! spelling of every resource. Everything that looks at a path (the public-path check, the
//! router, the static file handler) sees only values this module accepted. The rules:
//!
//! - the path starts with `/` and is at most [`MAX_PATH_LEN`] bytes;
//! - it has no empty segment (`//`, a trailing `/`) except the root `/` itself, and no `.` or
//!   `..` segment;
//! - every literal byte is an RFC 3986 path character (unreserved, sub-delims, `:` or `@`),
//!   except `;`, which is rejected so that no server or proxy can read it as a path parameter;
//! - a `%XX` escape uses upper-case hex and encodes a byte that has no literal spelling and is
//!   not a separator: a space, one of `"#<>?[]^`{|}`, or a byte of a valid UTF-8 sequence
//!   above ASCII that is not a control character. An escaped `/`, `\`, `.`, `%`, `;`,
//!   letter, digit or control byte is rejected, and so is an escaped C1 control (U+0080 to
//!   U+009F). Decoding therefore never creates a separator, a dot segment, a control
//!   character or a second round of escapes.
//!
//! Case is kept: `/LOGIN` is canonical, but it is not the public path `/login`.

use std::borrow::Cow;
use std::fmt;

/// The maximum request path length, in bytes. Longer paths are rejected, not truncated.
pub const MAX_PATH_LEN: usize = 2048;

/// A request path that passed [`canonical_path`]: its spelling is the canonical form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CanonicalPath<'a>(&'a str);

impl<'a> CanonicalPath<'a> {
    /// Returns the canonical spelling, escapes included.
    pub fn as_str(&self) -> &'a str {
        self.0
    }

    /// Returns the path with its `%XX` escapes decoded, for looking up files by name.
    ///
    /// The decoded form never contains a separator, a dot segment or a control byte that the
    /// canonical form did not have literally, because [`canonical_path`] rejects escapes of
    /// those bytes.
    pub fn decoded(&self) -> Cow<'a, str> {
        if !self.0.contains('%') {
            return Cow::Borrowed(self.0);
        }
        let bytes = decode_escapes(self.0.as_bytes());
        // The escapes were checked to form valid UTF-8, so this conversion cannot fail.
        Cow::Owned(String::from_utf8(bytes).unwrap_or_default())
    }
}

impl fmt::Display for CanonicalPath<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// Returns true when `path` is `/api` or lies below it. Used for paths that were rejected too,
/// to choose between a JSON and an HTML error body.
pub fn is_api_path(path: &str) -> bool {
    path == "/api" || path.starts_with("/api/")
}

/// The reason a path is not canonical. Logged at trace level only; clients get a plain 400.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathError {
    /// The path does not start with `/` (an asterisk-form or relative target).
    NotAbsolute,
    /// The path is longer than [`MAX_PATH_LEN`] bytes.
    TooLong,
    /// A segment is empty: a doubled or trailing slash.
    EmptySegment,
    /// A segment is `.` or `..`.
    DotSegment,
    /// A byte that may not appear literally, such as `\`, `;` or a control byte.
    ForbiddenByte(u8),
    /// A `%` not followed by two upper-case hex digits.
    MalformedEscape,
    /// An escape of a byte that must be spelled literally or may not appear at all.
    ForbiddenEscape(u8),
    /// Escaped bytes above ASCII that do not form valid UTF-8.
    InvalidUtf8,
    /// Escaped bytes that decode to a Unicode control character (U+0080 to U+009F).
    ControlCharacter,
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotAbsolute => f.write_str("path does not start with '/'"),
            Self::TooLong => write!(f, "path is longer than {MAX_PATH_LEN} bytes"),
            Self::EmptySegment => f.write_str("path has an empty segment"),
            Self::DotSegment => f.write_str("path has a dot segment"),
            Self::ForbiddenByte(byte) => write!(f, "path has forbidden byte 0x{byte:02X}"),
            Self::MalformedEscape => f.write_str("path has a malformed percent escape"),
            Self::ForbiddenEscape(byte) => write!(f, "path escapes byte 0x{byte:02X}"),
            Self::InvalidUtf8 => f.write_str("path escapes do not form valid UTF-8"),
            Self::ControlCharacter => f.write_str("path escapes a control character"),
        }
    }
}

impl std::error::Error for PathError {}

/// Accepts `path` (the request target without its query) if it is in canonical form.
pub fn canonical_path(path: &str) -> Result<CanonicalPath<'_>, PathError> {
    let bytes = path.as_bytes();
    if bytes.first() != Some(&b'/') {
        return Err(PathError::NotAbsolute);
    }
    if bytes.len() > MAX_PATH_LEN {
        return Err(PathError::TooLong);
    }
    if path == "/" {
        return Ok(CanonicalPath(path));
    }

    for segment in path[1..].split('/') {
        check_segment(segment)?;
    }
    if path.contains('%') {
        let decoded = decode_escapes(bytes);
        let decoded = std::str::from_utf8(&decoded).map_err(|_| PathError::InvalidUtf8)?;
        // Escaped ASCII controls were rejected above, so only C1 controls can show up here.
        if decoded.chars().any(char::is_control) {
            return Err(PathError::ControlCharacter);
        }
    }
    Ok(CanonicalPath(path))
}

/// Checks one segment between slashes: not empty, not a dot segment, allowed bytes only.
fn check_segment(segment: &str) -> Result<(), PathError> {
    if segment.is_empty() {
        return Err(PathError::EmptySegment);
    }
    if segment == "." || segment == ".." {
        return Err(PathError::DotSegment);
    }

    let bytes = segment.as_bytes();
    let mut index = 0;
    while index < bytes.len() {
        let byte = bytes[index];
        if byte == b'%' {
            let escaped = parse_escape(&bytes[index + 1..])?;
            if !may_be_escaped(escaped) {
                return Err(PathError::ForbiddenEscape(escaped));
            }
            index += 3;
        } else if is_literal_path_byte(byte) {
            index += 1;
        } else {
            return Err(PathError::ForbiddenByte(byte));
        }
    }
    Ok(())
}

/// Reads the two upper-case hex digits after a `%`.
fn parse_escape(rest: &[u8]) -> Result<u8, PathError> {
    match rest {
        [high, low, ..] => match (upper_hex_value(*high), upper_hex_value(*low)) {
            // The two nibbles share no bit, so `|` here is the same as `^` or `+`.
            (Some(high), Some(low)) => Ok(high << 4 | low),
            _ => Err(PathError::MalformedEscape),
        },
        _ => Err(PathError::MalformedEscape),
    }
}

fn upper_hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

/// Bytes that may appear unescaped in a segment: RFC 3986 `pchar` without `%` and `;`.
fn is_literal_path_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric()
        || matches!(
            byte,
            b'-' | b'.'
                | b'_'
                | b'~'
                | b'!'
                | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b'='
                | b':'
                | b'@'
        )
}

/// Bytes that have no literal spelling and are safe once decoded: never a separator, a dot,
/// a percent sign, a semicolon or a control byte.
fn may_be_escaped(byte: u8) -> bool {
    byte >= 0x80
        || matches!(
            byte,
            b' ' | b'"'
                | b'#'
                | b'<'
                | b'>'
                | b'?'
                | b'['
                | b']'
                | b'^'
                | b'`'
                | b'{'
                | b'|'
                | b'}'
        )
}

/// Decodes `%XX` escapes. Callers pass only text whose escapes [`canonical_path`] checked;
/// a malformed escape is copied through unchanged.
fn decode_escapes(bytes: &[u8]) -> Vec<u8> {
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%' {
            if let Ok(byte) = parse_escape(&bytes[index + 1..]) {
                decoded.push(byte);
                index += 3;
                continue;
            }
        }
        decoded.push(bytes[index]);
        index += 1;
    }
    decoded
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accepted(path: &str) -> bool {
        canonical_path(path).is_ok()
    }

    #[test]
    fn ordinary_paths_are_canonical() {
        for path in [
            "/",
            "/home",
            "/login",
            "/api/health",
            "/static/app.css",
            "/static/fonts/a-b_c~d.woff2",
            "/api/admin/system/status",
            "/LOGIN",
            "/a:b@c!$&'()*+,=",
        ] {
            assert!(accepted(path), "{path} should be canonical");
        }
    }

    #[test]
    fn dot_segments_are_rejected() {
        assert_eq!(
            canonical_path("/static/../home"),
            Err(PathError::DotSegment)
        );
        assert_eq!(
            canonical_path("/static/./app.css"),
            Err(PathError::DotSegment)
        );
        assert_eq!(canonical_path("/.."), Err(PathError::DotSegment));
        assert_eq!(canonical_path("/static/.."), Err(PathError::DotSegment));
    }

    #[test]
    fn encoded_dots_are_rejected() {
        assert_eq!(
            canonical_path("/static/%2E%2E/home"),
            Err(PathError::ForbiddenEscape(b'.'))
        );
        assert_eq!(
            canonical_path("/static/%2e%2e/home"),
            Err(PathError::MalformedEscape)
        );
        assert_eq!(
            canonical_path("/static/.%2E/x"),
            Err(PathError::ForbiddenEscape(b'.'))
        );
    }

    #[test]
    fn encoded_separators_are_rejected() {
        assert_eq!(
            canonical_path("/static%2F..%2Fhome"),
            Err(PathError::ForbiddenEscape(b'/'))
        );
        assert_eq!(
            canonical_path("/static/a%5Cb"),
            Err(PathError::ForbiddenEscape(b'\\'))
        );
        assert_eq!(
            canonical_path("/static/a\\b"),
            Err(PathError::ForbiddenByte(b'\\'))
        );
    }

    #[test]
    fn double_encoding_is_rejected() {
        assert_eq!(
            canonical_path("/static/%252E%252E/x"),
            Err(PathError::ForbiddenEscape(b'%'))
        );
    }

    #[test]
    fn empty_segments_are_rejected() {
        assert_eq!(canonical_path("//home"), Err(PathError::EmptySegment));
        assert_eq!(canonical_path("/home/"), Err(PathError::EmptySegment));
        assert_eq!(
            canonical_path("/static//app.css"),
            Err(PathError::EmptySegment)
        );
        assert_eq!(canonical_path("/static/"), Err(PathError::EmptySegment));
    }

    #[test]
    fn parameters_and_controls_are_rejected() {
        assert_eq!(
            canonical_path("/login;x=1"),
            Err(PathError::ForbiddenByte(b';'))
        );
        assert_eq!(
            canonical_path("/home%3B"),
            Err(PathError::ForbiddenEscape(b';'))
        );
        assert_eq!(
            canonical_path("/home%00"),
            Err(PathError::ForbiddenEscape(0))
        );
        assert_eq!(
            canonical_path("/home%0A"),
            Err(PathError::ForbiddenEscape(b'\n'))
        );
        assert_eq!(
            canonical_path("/home\u{7f}"),
            Err(PathError::ForbiddenByte(0x7f))
        );
        assert_eq!(
            canonical_path("/ho me"),
            Err(PathError::ForbiddenByte(b' '))
        );
    }

    #[test]
    fn escapes_of_unreserved_bytes_are_rejected() {
        assert_eq!(
            canonical_path("/%6Cogin"),
            Err(PathError::ForbiddenEscape(b'l'))
        );
        assert_eq!(
            canonical_path("/api/health%21"),
            Err(PathError::ForbiddenEscape(b'!'))
        );
    }

    #[test]
    fn truncated_escapes_are_rejected() {
        assert_eq!(canonical_path("/a%"), Err(PathError::MalformedEscape));
        assert_eq!(canonical_path("/a%2"), Err(PathError::MalformedEscape));
        assert_eq!(canonical_path("/a%G0"), Err(PathError::MalformedEscape));
    }

    #[test]
    fn non_origin_targets_are_rejected() {
        assert_eq!(canonical_path("*"), Err(PathError::NotAbsolute));
        assert_eq!(canonical_path(""), Err(PathError::NotAbsolute));
        assert_eq!(canonical_path("home"), Err(PathError::NotAbsolute));
        assert_eq!(canonical_path("http://x/home"), Err(PathError::NotAbsolute));
    }

    #[test]
    fn length_limit_is_exact() {
        let at_limit = format!("/{}", "a".repeat(MAX_PATH_LEN - 1));
        let over_limit = format!("/{}", "a".repeat(MAX_PATH_LEN));
        assert!(accepted(&at_limit));
        assert_eq!(canonical_path(&over_limit), Err(PathError::TooLong));
    }

    #[test]
    fn allowed_escapes_decode() {
        let path = canonical_path("/static/my%20file%C3%A9.txt").unwrap();
        assert_eq!(path.as_str(), "/static/my%20file%C3%A9.txt");
        assert_eq!(path.decoded(), "/static/my file\u{e9}.txt");
        assert_eq!(canonical_path("/home").unwrap().decoded(), "/home");
    }

    #[test]
    fn invalid_utf8_escapes_are_rejected() {
        assert_eq!(canonical_path("/a%FF"), Err(PathError::InvalidUtf8));
        assert_eq!(canonical_path("/a%C3"), Err(PathError::InvalidUtf8));
        assert_eq!(canonical_path("/a%C0%AF"), Err(PathError::InvalidUtf8));
    }

    #[test]
    fn escaped_unicode_controls_are_rejected() {
        // C1 controls and NEL are control characters once decoded, like their ASCII cousins.
        assert_eq!(canonical_path("/a%C2%80"), Err(PathError::ControlCharacter));
        assert_eq!(
            canonical_path("/a%C2%85b"),
            Err(PathError::ControlCharacter)
        );
        assert_eq!(canonical_path("/a%C2%9F"), Err(PathError::ControlCharacter));
        assert!(accepted("/a%C2%A0"));
    }

    #[test]
    fn display_is_the_canonical_spelling() {
        assert_eq!(canonical_path("/a%20b").unwrap().to_string(), "/a%20b");
    }

    #[test]
    fn errors_describe_the_problem() {
        let cases = [
            (PathError::NotAbsolute, "path does not start with '/'"),
            (PathError::TooLong, "path is longer than 2048 bytes"),
            (PathError::EmptySegment, "path has an empty segment"),
            (PathError::DotSegment, "path has a dot segment"),
            (
                PathError::ForbiddenByte(b';'),
                "path has forbidden byte 0x3B",
            ),
            (
                PathError::MalformedEscape,
                "path has a malformed percent escape",
            ),
            (PathError::ForbiddenEscape(b'/'), "path escapes byte 0x2F"),
            (
                PathError::InvalidUtf8,
                "path escapes do not form valid UTF-8",
            ),
            (
                PathError::ControlCharacter,
                "path escapes a control character",
            ),
        ];
        for (error, message) in cases {
            assert_eq!(error.to_string(), message);
        }
    }

    #[test]
    fn api_paths_are_recognised() {
        assert!(is_api_path("/api"));
        assert!(is_api_path("/api/health"));
        assert!(!is_api_path("/apix"));
        assert!(!is_api_path("/home"));
    }
}
