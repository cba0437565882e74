//! One log line per request: method, canonical path without the query, status, time taken.
//!
//! A path that was rejected as non-canonical is logged as `(non-canonical)`, so that no
//! attacker-chosen bytes reach the log. Queries are never logged because they may hold
//! `next` values or other user data.

use trillium::{Conn, Handler};

use crate::path_gate::RequestPath;

/// Logs each request at info level once its answer is ready.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestLog;

impl Handler for RequestLog {
    async fn run(&self, conn: Conn) -> Conn {
        conn
    }

    async fn before_send(&self, conn: Conn) -> Conn {
        let path = conn
            .state::<RequestPath>()
            .map_or("(non-canonical)", |path| path.as_str());
        let status = conn.status().map_or(404, |status| status as u16);
        let elapsed = conn.start_time().elapsed();
        log::info!(target: "studio_gate::request", "{} {path} {status} {elapsed:?}", conn.method());
        conn
    }
}
