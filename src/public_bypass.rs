//! The public-path handler: the third step of the chain.
//!
//! Exactly these canonical paths need no credentials: `/login`, `/api/auth/login`,
//! `/api/health`, and everything below `/static/` as a whole segment. `/staticfoo`,
//! `/api/healthz` and `/LOGIN` are not public.

use trillium::{Conn, Handler};

use crate::path_gate::request_path;

/// Marks a request whose path is public, so the auth handler lets it through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublicPath;

/// Returns true if the canonical `path` needs no credentials.
pub fn is_public_path(path: &str) -> bool {
    matches!(path, "/login" | "/api/auth/login" | "/api/health")
        || path
            .strip_prefix("/static/")
            .is_some_and(|rest| !rest.is_empty())
}

/// Marks public requests with [`PublicPath`].
#[derive(Debug, Clone, Copy, Default)]
pub struct PublicBypass;

impl Handler for PublicBypass {
    async fn run(&self, conn: Conn) -> Conn {
        if is_public_path(request_path(&conn)) {
            conn.with_state(PublicPath)
        } else {
            conn
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exactly_the_public_paths() {
        for path in [
            "/login",
            "/api/auth/login",
            "/api/health",
            "/static/app.css",
            "/static/a/b",
        ] {
            assert!(is_public_path(path), "{path}");
        }
        for path in [
            "/",
            "/home",
            "/static",
            "/static/",
            "/staticfoo",
            "/staticfoo/app.css",
            "/api/healthz",
            "/api/health/x",
            "/LOGIN",
            "/Static/app.css",
            "/api/auth/logout",
            "/api/auth/login/x",
            "/login/x",
            "",
        ] {
            assert!(!is_public_path(path), "{path}");
        }
    }
}
