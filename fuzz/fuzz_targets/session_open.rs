//! Opens arbitrary text as a session cookie value with a fixed key, at a clock and a policy
//! taken from the input (layout in `studio_gate_fuzz::SessionInput`).
//!
//! Checks that `SessionKey::open` does not panic, and that a value that opens re-seals to
//! exactly the same string, is current at that clock and policy, and does not open under
//! another cookie name.

#![no_main]

use libfuzzer_sys::fuzz_target;
use studio_gate::COOKIE_NAME;
use studio_gate_fuzz::{SessionInput, FIXED_SESSION_KEY};

fuzz_target!(|data: &[u8]| {
    let Some(input) = SessionInput::parse(data) else {
        return;
    };
    let key = &*FIXED_SESSION_KEY;
    let Some(session) = key.open(COOKIE_NAME, input.value, input.policy, input.now) else {
        return;
    };

    assert_eq!(
        key.seal(COOKIE_NAME, &session),
        input.value,
        "an opened value does not re-seal to itself"
    );
    assert!(
        session.is_current(input.policy, input.now),
        "an opened session is not current at now={} with {:?}",
        input.now,
        input.policy
    );
    assert!(
        key.open("session2", input.value, input.policy, input.now)
            .is_none(),
        "a value opens under another cookie name"
    );
});
