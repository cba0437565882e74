//! One log line per request: method, canonical path without the query, status, time taken.
//!
//! A path that is not canonical is logged as `(non-canonical)`, so that no attacker-chosen
//! bytes reach the log. Requests answered before the path check (during maintenance) have
//! their path checked here. Queries are never logged because they may hold
//! `next` values or other user data.

use trillium::{Conn, Handler};

use crate::canonical_path::canonical_path;
use crate::path_gate::RequestPath;

/// Logs each request at info level once its answer is ready.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestLog;

impl Handler for RequestLog {
    async fn run(&self, conn: Conn) -> Conn {
        conn
    }

    async fn before_send(&self, conn: Conn) -> Conn {
        let path = logged_path(conn.state::<RequestPath>(), conn.path());
        let status = conn.status().map_or(404, |status| status as u16);
        let elapsed = conn.start_time().elapsed();
        log::info!(target: "studio_gate::request", "{} {path} {status} {elapsed:?}", conn.method());
        conn
    }
}

/// Returns the path to log: the one the path check accepted, else `raw` if it is canonical.
fn logged_path<'a>(checked: Option<&'a RequestPath>, raw: &'a str) -> &'a str {
    match checked {
        Some(path) => path.as_str(),
        None => canonical_path(raw).map_or(NON_CANONICAL, |path| path.as_str()),
    }
}

/// The text logged in place of a path that is not canonical.
const NON_CANONICAL: &str = "(non-canonical)";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unchecked_canonical_path_is_logged() {
        assert_eq!(logged_path(None, "/api/health"), "/api/health");
    }

    #[test]
    fn unchecked_hostile_path_is_hidden() {
        assert_eq!(logged_path(None, "/a/../b"), NON_CANONICAL);
        assert_eq!(logged_path(None, "/a\nforged 200"), NON_CANONICAL);
        assert_eq!(logged_path(None, "/a%0A"), NON_CANONICAL);
    }
}
