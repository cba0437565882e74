//! The router: the last step of the chain. It matches the canonical path exactly, answers 405
//! with `Allow` for a known path and a wrong method, and 404 for an unknown path.
//!
//! Only requests with credentials or to public paths get here, so a 404 or a 405 tells
//! nothing to a client that has no credentials.

use std::sync::Arc;

use trillium::{Conn, Handler, KnownHeaderName, Method, Status};

use crate::gate::Gate;
use crate::path_gate::{request_path, RequestPath};
use crate::{auth_routes, pages, responses, system};

/// A route of the studio.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Root,
    Home,
    LoginPage,
    Login,
    Logout,
    Health,
    Status,
    Update,
    Asset,
}

impl Route {
    /// Finds the route of a canonical path.
    fn of(path: &str) -> Option<Self> {
        let route = match path {
            "/" => Self::Root,
            "/home" => Self::Home,
            "/login" => Self::LoginPage,
            "/api/auth/login" => Self::Login,
            "/api/auth/logout" => Self::Logout,
            "/api/health" => Self::Health,
            "/api/admin/system/status" => Self::Status,
            "/api/admin/system/update" => Self::Update,
            _ if path.starts_with("/static/") => Self::Asset,
            _ => return None,
        };
        Some(route)
    }

    /// Returns true for routes that answer GET and, with the same headers, HEAD.
    fn is_get(self) -> bool {
        !matches!(self, Self::Login | Self::Logout | Self::Update)
    }

    fn allows(self, method: Method) -> bool {
        if self.is_get() {
            matches!(method, Method::Get | Method::Head)
        } else {
            method == Method::Post
        }
    }

    fn allow_header(self) -> &'static str {
        if self.is_get() {
            "GET, HEAD"
        } else {
            "POST"
        }
    }
}

/// Dispatches requests to the route handlers.
#[derive(Debug, Clone)]
pub struct Router(pub Arc<Gate>);

impl Handler for Router {
    async fn run(&self, conn: Conn) -> Conn {
        let path = request_path(&conn).to_owned();
        let is_api = conn.state::<RequestPath>().is_some_and(RequestPath::is_api);
        let Some(route) = Route::of(&path) else {
            return pages::not_found(conn, is_api);
        };
        if !route.allows(conn.method()) {
            let conn = conn.with_response_header(KnownHeaderName::Allow, route.allow_header());
            return responses::error(conn, is_api, Status::MethodNotAllowed, "Method Not Allowed");
        }

        let gate = &self.0;
        match route {
            Route::Root => pages::root(conn),
            Route::Home => pages::home(gate, conn).await,
            Route::LoginPage => pages::login_page(gate, conn).await,
            Route::Login => auth_routes::login(gate, conn).await,
            Route::Logout => auth_routes::logout(gate, conn).await,
            Route::Health => system::health(conn),
            Route::Status => system::status(gate, conn).await,
            Route::Update => system::update(gate, conn).await,
            Route::Asset => {
                let decoded = crate::canonical_path::canonical_path(&path)
                    .map(|canonical| canonical.decoded().into_owned())
                    .unwrap_or_default();
                let relative = decoded.strip_prefix("/static/").unwrap_or_default();
                pages::asset(gate, conn, relative).await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_match_exact_paths() {
        assert_eq!(Route::of("/"), Some(Route::Root));
        assert_eq!(Route::of("/static/app.css"), Some(Route::Asset));
        assert_eq!(Route::of("/homex"), None);
        assert_eq!(Route::of("/api/health/"), None);
        assert_eq!(Route::of("/staticfoo"), None);
    }

    #[test]
    fn head_is_allowed_wherever_get_is() {
        assert!(Route::Home.allows(Method::Head));
        assert!(!Route::Login.allows(Method::Head));
        assert!(!Route::Home.allows(Method::Options));
        assert_eq!(Route::Logout.allow_header(), "POST");
    }
}
