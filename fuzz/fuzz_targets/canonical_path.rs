//! Runs `canonical_path` on arbitrary text.
//!
//! Checks:
//! - `canonical_path` does not panic;
//! - an accepted path is returned unchanged and is accepted again (a fixed point);
//! - its decoded form has no `/` beyond the literal ones, and no `\`, `%`, `;`, `.` or `..`
//!   segment, or control character;
//! - `is_public_path` agrees with the contract's list of public paths, on every input.

#![no_main]

use libfuzzer_sys::fuzz_target;
use studio_gate::{canonical_path, is_public_path};
use studio_gate_fuzz::is_listed_public;

fuzz_target!(|data: &[u8]| {
    // trillium hands handlers the path as text, so only UTF-8 ever reaches canonical_path.
    let Ok(path) = std::str::from_utf8(data) else {
        return;
    };
    assert_eq!(
        is_public_path(path),
        is_listed_public(path),
        "is_public_path({path:?}) disagrees with the contract's list"
    );
    let Ok(canonical) = canonical_path(path) else {
        return;
    };

    assert_eq!(canonical.as_str(), path, "the accepted path was changed");
    assert_eq!(
        canonical_path(canonical.as_str()),
        Ok(canonical),
        "the accepted path {path:?} is not a fixed point"
    );

    let decoded = canonical.decoded();
    assert_eq!(
        decoded.matches('/').count(),
        path.matches('/').count(),
        "decoding {path:?} adds a '/': {decoded:?}"
    );
    for forbidden in ['\\', '%', ';'] {
        assert!(
            !decoded.contains(forbidden),
            "decoding {path:?} gives {forbidden:?}: {decoded:?}"
        );
    }
    assert!(
        !decoded
            .split('/')
            .any(|segment| segment == "." || segment == ".."),
        "decoding {path:?} gives a dot segment: {decoded:?}"
    );
    assert!(
        !decoded.chars().any(char::is_control),
        "decoding {path:?} gives a control character: {decoded:?}"
    );
});
