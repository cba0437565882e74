//! Serves whole HTTP/1.1 connections (method, target, headers and body as raw bytes) with the
//! real handler chain `studio_gate::app`, in process, through trillium-http's own parser
//! (see `studio_gate_fuzz::InMemoryServer`).
//!
//! The server's API key is 32 random bytes drawn at start, so no input contains a valid
//! credential. Checks:
//! - nothing panics;
//! - the auth handler accepts no credential;
//! - no response is 500, whether from the handler chain or from trillium-http's parser;
//! - a path that the contract does not list as public gets neither a 2xx nor a 304, only
//!   302, 400, 401 or 429.

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use studio_gate_fuzz::{is_listed_public, InMemoryServer};
use trillium::Status;

static SERVER: OnceLock<InMemoryServer> = OnceLock::new();

/// Statuses that a protected path may get without credentials: 302 to the login page, 400
/// for a path that is not canonical, 401 under `/api`, and 429 once wrong `X-API-Key`
/// headers hit the login limit.
const STATUSES_WITHOUT_CREDENTIALS: [Status; 4] = [
    Status::Found,
    Status::BadRequest,
    Status::Unauthorized,
    Status::TooManyRequests,
];

fuzz_target!(|data: &[u8]| {
    let served = SERVER.get_or_init(InMemoryServer::start).serve(data);

    for exchange in &served.exchanges {
        let (method, path, status) = (&exchange.method, &exchange.path, exchange.status);
        assert_eq!(
            exchange.credential, None,
            "{method} {path:?} was let in without the key"
        );
        assert_ne!(
            status,
            Some(Status::InternalServerError),
            "{method} {path:?} answered 500"
        );
        if !is_listed_public(path) {
            let status = status.unwrap_or(Status::NotFound);
            assert!(
                !status.is_success() && status != Status::NotModified,
                "protected {method} {path:?} answered {status} without credentials"
            );
            assert!(
                STATUSES_WITHOUT_CREDENTIALS.contains(&status),
                "protected {method} {path:?} answered {status} instead of a rejection"
            );
        }
    }

    assert!(
        !has_status_line(&served.response_bytes, b" 500 "),
        "the server wrote a 500 answer"
    );
});

/// Returns true if `bytes` contains an HTTP/1.x status line with `code` (spaces included).
/// A response to a request without credentials copies no request text that contains a space
/// (the login redirect percent-encodes the path and query), so a match is a status line.
fn has_status_line(bytes: &[u8], code: &[u8; 5]) -> bool {
    bytes.windows(13).any(|window| {
        (window.starts_with(b"HTTP/1.1") || window.starts_with(b"HTTP/1.0")) && &window[8..] == code
    })
}
