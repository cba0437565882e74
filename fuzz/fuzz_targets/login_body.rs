//! Runs `parse_login_body` on a `Content-Type` value and a body split from the input (layout
//! in `studio_gate_fuzz::LoginInput`).
//!
//! Checks:
//! - `parse_login_body` does not panic;
//! - it accepts no body over `MAX_BODY_LEN`;
//! - an accepted body is UTF-8, as JSON text must be (RFC 8259, section 8.1), and a JSON
//!   object, not an array or another value;
//! - the accepted `api_key` and `next` equal the body's members as serde_json's `Value`
//!   reads them, whenever `Value` reads the body;
//! - a body over `MAX_BODY_LEN` is rejected as too large, or for its media type, which is
//!   checked first;
//! - every rejection maps to 400, 413, 415 or 422.

#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use studio_gate::{parse_login_body, LoginBodyError, LoginRequest, MAX_BODY_LEN};
use studio_gate_fuzz::LoginInput;

fuzz_target!(|data: &[u8]| {
    let input = LoginInput::parse(data);
    match parse_login_body(input.content_type, input.body) {
        Ok(request) => check_accepted(input.body, &request),
        Err(error) => check_rejected(input.body, error),
    }
});

fn check_accepted(body: &[u8], request: &LoginRequest) {
    assert!(
        body.len() <= MAX_BODY_LEN,
        "accepted a body of {} bytes",
        body.len()
    );
    assert!(
        std::str::from_utf8(body).is_ok(),
        "accepted a body that is not UTF-8"
    );
    let first_byte = body
        .iter()
        .find(|byte| !matches!(byte, b' ' | b'\t' | b'\n' | b'\r'));
    assert_eq!(
        first_byte,
        Some(&b'{'),
        "accepted JSON that is not an object"
    );

    // Value rejects some JSON that the grammar allows, such as a lone surrogate escape or a
    // number beyond f64, and the login body may carry those in members it ignores.
    let Ok(Value::Object(members)) = serde_json::from_slice::<Value>(body) else {
        return;
    };
    assert_eq!(
        members.get("api_key").and_then(Value::as_str),
        Some(request.api_key.as_str()),
        "api_key differs from the body's member"
    );
    assert!(
        matches!(
            members.get("next"),
            None | Some(Value::Null | Value::String(_))
        ),
        "accepted a next that is neither a string nor null"
    );
    assert_eq!(
        request.next.as_deref(),
        members.get("next").and_then(Value::as_str),
        "next differs from the body's member"
    );
}

fn check_rejected(body: &[u8], error: LoginBodyError) {
    assert!(
        matches!(error.status(), 400 | 413 | 415 | 422),
        "{error:?} maps to status {}",
        error.status()
    );
    if body.len() > MAX_BODY_LEN {
        assert!(
            matches!(
                error,
                LoginBodyError::TooLarge | LoginBodyError::UnsupportedMediaType
            ),
            "a body of {} bytes is rejected as {error:?}, not as too large",
            body.len()
        );
    }
}
