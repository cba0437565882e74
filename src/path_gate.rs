//! The canonical-path handler: the second step of the chain.
//!
//! It runs [`canonical_path`] on the request path and rejects anything not canonical with 400
//! before any other handler looks at it. Accepted paths are stored as [`RequestPath`] in the
//! conn's state, and every later handler reads the path from there.

use trillium::{Conn, Handler, Status};

use crate::canonical_path::{canonical_path, is_api_path};
use crate::responses;

/// The detail of the 400 answer.
pub const INVALID_PATH_DETAIL: &str = "Invalid request path";

/// The request's canonical path, set by [`PathGate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestPath(String);

impl RequestPath {
    /// Returns the canonical spelling.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Returns true for paths under `/api`.
    pub fn is_api(&self) -> bool {
        is_api_path(&self.0)
    }
}

/// Returns the canonical path that [`PathGate`] stored. Handlers after it always find one;
/// the empty string stands in if a handler is ever run without the gate.
pub fn request_path(conn: &Conn) -> &str {
    conn.state::<RequestPath>().map_or("", RequestPath::as_str)
}

/// Rejects requests whose path is not canonical.
#[derive(Debug, Clone, Copy, Default)]
pub struct PathGate;

impl Handler for PathGate {
    async fn run(&self, conn: Conn) -> Conn {
        match canonical_path(conn.path()) {
            Ok(path) => {
                let path = RequestPath(path.as_str().to_owned());
                conn.with_state(path)
            }
            Err(reason) => {
                log::trace!("rejected request path: {reason}");
                let is_api = is_api_path(conn.path());
                responses::error(conn, is_api, Status::BadRequest, INVALID_PATH_DETAIL)
            }
        }
    }
}
