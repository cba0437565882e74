//! The body of `POST /api/auth/login`: `{"api_key": "...", "next": "..."}`.
//!
//! Each way a body can be wrong has its own status: a media type other than JSON is 415, more
//! than [`MAX_BODY_LEN`] bytes is 413, text that is not JSON is 400, and JSON of the wrong
//! shape is 422. An object must have a string `api_key` and may have a string (or `null`)
//! `next`. Other members are ignored, and a member given twice is a shape error.

use std::fmt;

use serde::Deserialize;

/// The largest accepted body, in bytes.
pub const MAX_BODY_LEN: usize = 4096;

/// A well-formed login request. Its `Debug` output hides the key.
#[derive(Deserialize)]
pub struct LoginRequest {
    /// The key the client offers.
    pub api_key: String,
    /// The path the client wants after login, checked later by `next_path`.
    #[serde(default)]
    pub next: Option<String>,
}

impl fmt::Debug for LoginRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginRequest")
            .field("api_key", &"<hidden>")
            .field("next", &self.next)
            .finish()
    }
}

/// The reason a login body was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginBodyError {
    /// The `Content-Type` is missing or not `application/json` (415).
    UnsupportedMediaType,
    /// The body is longer than [`MAX_BODY_LEN`] bytes (413).
    TooLarge,
    /// The body is not valid JSON (400).
    InvalidJson,
    /// The JSON is not an object with a string `api_key` and an optional string `next` (422).
    WrongShape,
}

impl LoginBodyError {
    /// Returns the HTTP status for this error.
    pub fn status(self) -> u16 {
        match self {
            Self::UnsupportedMediaType => 415,
            Self::TooLarge => 413,
            Self::InvalidJson => 400,
            Self::WrongShape => 422,
        }
    }

    /// Returns the message for the client's `detail`.
    pub fn detail(self) -> &'static str {
        match self {
            Self::UnsupportedMediaType => "Content-Type must be application/json",
            Self::TooLarge => "Request body is larger than 4096 bytes",
            Self::InvalidJson => "Request body is not valid JSON",
            Self::WrongShape => {
                "Expected an object with a string api_key and an optional string next"
            }
        }
    }
}

/// Returns true if `content_type` names JSON: `application/json`, in any case, with any
/// parameters such as `; charset=utf-8`.
pub fn is_json_media_type(content_type: Option<&str>) -> bool {
    let Some(value) = content_type else {
        return false;
    };
    let media_type = value.split(';').next().unwrap_or_default().trim();
    media_type.eq_ignore_ascii_case("application/json")
}

/// Parses a login body. `content_type` is the request's `Content-Type` header.
pub fn parse_login_body(
    content_type: Option<&str>,
    body: &[u8],
) -> Result<LoginRequest, LoginBodyError> {
    if !is_json_media_type(content_type) {
        return Err(LoginBodyError::UnsupportedMediaType);
    }
    if body.len() > MAX_BODY_LEN {
        return Err(LoginBodyError::TooLarge);
    }
    parse_json_object(body)
}

/// Parses `body` as a JSON object into `T`: 400 for text that is not UTF-8 JSON, 422 for
/// JSON of another shape. serde would also read a struct from an array, and would skip the
/// bytes of an unknown member without checking that they are UTF-8; both are refused here.
pub fn parse_json_object<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, LoginBodyError> {
    let text = std::str::from_utf8(body).map_err(|_| LoginBodyError::InvalidJson)?;
    if !text.trim_start().starts_with('{') {
        return Err(match serde_json::from_str::<serde::de::IgnoredAny>(text) {
            Ok(_) => LoginBodyError::WrongShape,
            Err(_) => LoginBodyError::InvalidJson,
        });
    }
    serde_json::from_str(text).map_err(|error| match error.classify() {
        serde_json::error::Category::Data => LoginBodyError::WrongShape,
        _ => LoginBodyError::InvalidJson,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const JSON: Option<&str> = Some("application/json");

    #[test]
    fn key_and_next_parse() {
        let request = parse_login_body(JSON, br#"{"api_key":"k","next":"/x"}"#).unwrap();
        assert_eq!(request.api_key, "k");
        assert_eq!(request.next.as_deref(), Some("/x"));
    }

    #[test]
    fn next_is_optional() {
        let request = parse_login_body(JSON, br#"{"api_key":"k"}"#).unwrap();
        assert_eq!(request.next, None);
        let request = parse_login_body(JSON, br#"{"api_key":"k","next":null}"#).unwrap();
        assert_eq!(request.next, None);
    }

    #[test]
    fn unknown_members_are_ignored() {
        let request = parse_login_body(JSON, br#"{"api_key":"k","remember":true}"#).unwrap();
        assert_eq!(request.api_key, "k");
    }

    #[test]
    fn media_type_is_checked() {
        for content_type in [
            None,
            Some("text/plain"),
            Some("application/jsonx"),
            Some(""),
        ] {
            let error = parse_login_body(content_type, br#"{"api_key":"k"}"#).unwrap_err();
            assert_eq!(
                error,
                LoginBodyError::UnsupportedMediaType,
                "{content_type:?}"
            );
        }
        for content_type in [
            "application/json; charset=utf-8",
            "Application/JSON",
            " application/json ",
        ] {
            assert!(parse_login_body(Some(content_type), br#"{"api_key":"k"}"#).is_ok());
        }
    }

    #[test]
    fn size_limit_is_exact() {
        let padding = MAX_BODY_LEN - r#"{"api_key":""}"#.len();
        let at_limit = format!(r#"{{"api_key":"{}"}}"#, "k".repeat(padding));
        let over_limit = format!(r#"{{"api_key":"{}"}}"#, "k".repeat(padding + 1));
        assert!(parse_login_body(JSON, at_limit.as_bytes()).is_ok());
        let error = parse_login_body(JSON, over_limit.as_bytes()).unwrap_err();
        assert_eq!(error, LoginBodyError::TooLarge);
    }

    #[test]
    fn invalid_json_is_400() {
        for body in [
            &b""[..],
            b"{",
            b"{\"api_key\":",
            b"not json",
            b"{\"api_key\":\"k\"} x",
            b"\xff",
        ] {
            let error = parse_login_body(JSON, body).unwrap_err();
            assert_eq!(error, LoginBodyError::InvalidJson, "{body:?}");
            assert_eq!(error.status(), 400);
        }
    }

    #[test]
    fn wrong_shape_is_422() {
        for body in [
            &br#"[]"#[..],
            br#""api_key""#,
            br#"{}"#,
            br#"{"api_key":1}"#,
            br#"{"api_key":null}"#,
            br#"{"api_key":"k","next":5}"#,
            br#"{"api_key":"a","api_key":"b"}"#,
            br#"{"key":"k"}"#,
        ] {
            let error = parse_login_body(JSON, body).unwrap_err();
            assert_eq!(
                error,
                LoginBodyError::WrongShape,
                "{}",
                String::from_utf8_lossy(body)
            );
            assert_eq!(error.status(), 422);
        }
    }

    #[test]
    fn errors_map_to_status_and_detail() {
        let cases = [
            (
                LoginBodyError::UnsupportedMediaType,
                415,
                "Content-Type must be application/json",
            ),
            (
                LoginBodyError::TooLarge,
                413,
                "Request body is larger than 4096 bytes",
            ),
            (
                LoginBodyError::InvalidJson,
                400,
                "Request body is not valid JSON",
            ),
            (
                LoginBodyError::WrongShape,
                422,
                "Expected an object with a string api_key and an optional string next",
            ),
        ];
        for (error, status, detail) in cases {
            assert_eq!(error.status(), status, "{error:?}");
            assert_eq!(error.detail(), detail, "{error:?}");
        }
    }

    #[test]
    fn array_bodies_are_the_wrong_shape() {
        // serde reads a struct from an array too; a login body must be an object.
        for body in [
            &br#"["k"]"#[..],
            br#"["k","/home"]"#,
            b" [1]",
            b"[]",
            b"\"k\"",
            b"null",
        ] {
            assert_eq!(
                parse_login_body(JSON, body).unwrap_err(),
                LoginBodyError::WrongShape,
                "{:?}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn bytes_that_are_not_utf8_are_invalid_json() {
        // Even inside a member the parser otherwise ignores.
        let body = b"{\"api_key\":\"k\",\"x\":\"\x85\"}";
        assert_eq!(
            parse_login_body(JSON, body).unwrap_err(),
            LoginBodyError::InvalidJson
        );
        assert_eq!(
            parse_login_body(JSON, b"{\"api_key\":\"\xff\"}").unwrap_err(),
            LoginBodyError::InvalidJson
        );
    }

    #[test]
    fn debug_output_hides_key() {
        let request = parse_login_body(JSON, br#"{"api_key":"hunter2","next":"/home"}"#).unwrap();
        let debug = format!("{request:?}");
        assert!(!debug.contains("hunter2"));
        // The rest stays readable, so the output is still useful in a log.
        assert_eq!(
            debug,
            r#"LoginRequest { api_key: "<hidden>", next: Some("/home") }"#
        );
    }
}
