//! Runs `safe_next` on arbitrary text as the `next` value of a login.
//!
//! Checks:
//! - `safe_next` does not panic, and returns `/home` or the value itself;
//! - `is_safe_next` agrees with `safe_next`;
//! - the result starts with exactly one `/` that is not followed by `/` or `\`;
//! - the result is printable ASCII (so it has no control character or whitespace) and has
//!   no `\`;
//! - `safe_next` returns its own result unchanged.

#![no_main]

use libfuzzer_sys::fuzz_target;
use studio_gate::{is_safe_next, safe_next, DEFAULT_NEXT};

fuzz_target!(|data: &[u8]| {
    // The login body is JSON, so a `next` value is always valid UTF-8.
    let Ok(next) = std::str::from_utf8(data) else {
        return;
    };
    let chosen = safe_next(Some(next));

    assert!(
        chosen == DEFAULT_NEXT || chosen == next,
        "safe_next({next:?}) made up {chosen:?}"
    );
    assert_eq!(
        is_safe_next(next),
        chosen == next,
        "is_safe_next and safe_next disagree on {next:?}"
    );

    let mut chars = chosen.chars();
    assert_eq!(
        chars.next(),
        Some('/'),
        "{chosen:?} does not start with '/'"
    );
    assert!(
        !matches!(chars.next(), Some('/' | '\\')),
        "{chosen:?} starts like a network-path reference"
    );
    assert!(
        chosen.bytes().all(|byte| byte.is_ascii_graphic()),
        "{chosen:?} has a byte that is not printable ASCII"
    );
    assert!(!chosen.contains('\\'), "{chosen:?} contains '\\'");

    assert_eq!(
        safe_next(Some(chosen)),
        chosen,
        "safe_next is not idempotent on {next:?}"
    );
});
