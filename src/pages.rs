//! The page routes: `/`, `/home`, `/login`, `/static/*`, and the 404 page.

use std::sync::Arc;

use trillium::{Conn, KnownHeaderName, Status};

use crate::gate::{unix_now, Gate};
use crate::next_path::{next_from_query, safe_next};
use crate::responses;
use crate::static_files::Asset;

/// `GET /`: redirects to the dashboard.
pub fn root(conn: Conn) -> Conn {
    responses::redirect(conn, "/home")
}

/// `GET /home`: the dashboard.
pub async fn home(gate: &Arc<Gate>, conn: Conn) -> Conn {
    page(gate, conn, "home.html").await
}

/// `GET /login`: the login page, or with a valid cookie already, a redirect to `next`.
pub async fn login_page(gate: &Arc<Gate>, conn: Conn) -> Conn {
    if gate.session_from_cookies(&conn, unix_now()).is_some() {
        let next = next_from_query(conn.querystring());
        let location = safe_next(next.as_deref()).to_owned();
        return responses::redirect(conn, &location);
    }
    page(gate, conn, "login.html").await
}

/// `GET /static/*`: a frontend asset. `relative` is the decoded path below `/static/`.
pub async fn asset(gate: &Arc<Gate>, conn: Conn, relative: &str) -> Conn {
    match gate.frontend.asset(relative).await {
        Some(asset) => send_asset(conn, asset, "public, no-cache"),
        None => not_found(conn, false),
    }
}

/// The 404 answer: JSON under `/api`, a page elsewhere.
pub fn not_found(conn: Conn, is_api: bool) -> Conn {
    let detail = if is_api {
        "Not Found"
    } else {
        "There is no page at this address."
    };
    responses::error(conn, is_api, Status::NotFound, detail)
}

async fn page(gate: &Arc<Gate>, conn: Conn, name: &str) -> Conn {
    match gate.frontend.asset(name).await {
        Some(asset) => send_asset(conn, asset, "no-store"),
        None => {
            log::error!("the frontend has no {name}");
            responses::error(
                conn,
                false,
                Status::InternalServerError,
                "The page is missing.",
            )
        }
    }
}

/// Sends `asset` with its type and ETag, or 304 if the client's copy is current.
fn send_asset(conn: Conn, asset: Asset, cache_control: &'static str) -> Conn {
    let is_current = conn
        .request_headers()
        .get_str(KnownHeaderName::IfNoneMatch)
        .is_some_and(|tags| asset.matches(tags));
    let conn = conn
        .with_response_header(KnownHeaderName::Etag, asset.etag.clone())
        .with_response_header(KnownHeaderName::CacheControl, cache_control);
    if is_current {
        return conn.with_status(Status::NotModified).halt();
    }
    conn.with_status(Status::Ok)
        .with_response_header(KnownHeaderName::ContentType, asset.content_type)
        .with_body(asset.body)
        .halt()
}
