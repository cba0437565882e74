//! The auth handler: the fourth step of the chain.
//!
//! A request to a path that is not public passes with either a non-empty `X-API-Key` equal to
//! the key, or a valid session cookie. Otherwise `/api` paths get 401
//! `{"detail":"Not authenticated"}` and pages get 302 to `/login?next=<path and query>`.
//! The method plays no part, and no header other than the credentials changes the decision.
//!
//! A cookie-authenticated request gets a freshly issued cookie (sliding expiration); the
//! logout route replaces it with a deleting one. A key-authenticated request gets no cookie.
//!
//! Wrong `X-API-Key` values count as failed logins of the client, so the header cannot be used
//! to get around the login limit; a client over the limit gets 429 for its key attempts.

use std::sync::Arc;

use trillium::{Conn, Handler, KnownHeaderName, Status};

use crate::gate::{unix_now, Gate};
use crate::login_limiter::ClientKey;
use crate::next_path::encode_query_value;
use crate::path_gate::{request_path, RequestPath};
use crate::public_bypass::PublicPath;
use crate::responses;
use crate::session::Session;

/// The `detail` of 401 responses under `/api`.
pub const NOT_AUTHENTICATED: &str = "Not authenticated";

/// The header scripts use to send the key.
pub const API_KEY_HEADER: &str = "X-API-Key";

/// The credential that authenticated a request. Stored in the conn's state by [`AuthGate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    /// A correct `X-API-Key` header.
    ApiKey,
    /// A valid session cookie, already renewed in the response.
    Cookie(Session),
}

/// The outcome of checking an `X-API-Key` header.
enum KeyAttempt {
    /// No header, or an empty one.
    Absent,
    /// The right key.
    Valid,
    /// A wrong key, now counted as a failure.
    Invalid,
    /// Not checked, because the client is over the login limit.
    Limited(u64),
}

/// Lets through public requests and requests with credentials.
#[derive(Debug, Clone)]
pub struct AuthGate(pub Arc<Gate>);

impl Handler for AuthGate {
    async fn run(&self, conn: Conn) -> Conn {
        if conn.state::<PublicPath>().is_some() {
            return conn;
        }
        let now = unix_now();

        let attempt = self.check_key_header(&conn, now);
        if matches!(attempt, KeyAttempt::Valid) {
            return conn.with_state(Credential::ApiKey);
        }
        if let Some(session) = self.0.session_from_cookies(&conn, now) {
            return self.renew(conn, session, now);
        }

        match attempt {
            KeyAttempt::Limited(retry_after) => refuse_limited(conn, retry_after),
            _ => refuse(conn),
        }
    }
}

impl AuthGate {
    fn check_key_header(&self, conn: &Conn, now: u64) -> KeyAttempt {
        let candidate = match conn.request_headers().get(API_KEY_HEADER) {
            Some(value) if !value.as_ref().is_empty() => value.as_ref(),
            _ => return KeyAttempt::Absent,
        };
        let client_ip = self.0.client_ip(conn);
        let client = ClientKey::from(client_ip);
        let Ok(mut limiter) = self.0.limiter.lock() else {
            return KeyAttempt::Invalid;
        };
        if let Err(retry_after) = limiter.check(client, now) {
            return KeyAttempt::Limited(retry_after.0);
        }
        if self.0.api_key.matches(candidate) {
            return KeyAttempt::Valid;
        }
        limiter.record_failure(client, now);
        log::warn!("wrong X-API-Key from {client_ip}");
        KeyAttempt::Invalid
    }

    fn renew(&self, conn: Conn, session: Session, now: u64) -> Conn {
        let cookie = self.0.session_cookie(&session.renewed(now), now);
        conn.with_response_header(KnownHeaderName::SetCookie, cookie)
            .with_state(Credential::Cookie(session))
    }
}

/// Rejects a request without credentials: 401 under `/api`, a redirect to login elsewhere.
fn refuse(conn: Conn) -> Conn {
    let is_api = conn.state::<RequestPath>().is_some_and(RequestPath::is_api);
    if is_api {
        return responses::json_error(conn, Status::Unauthorized, NOT_AUTHENTICATED);
    }
    let mut target = request_path(&conn).to_owned();
    if !conn.querystring().is_empty() {
        target.push('?');
        target.push_str(conn.querystring());
    }
    let location = format!("/login?next={}", encode_query_value(&target));
    responses::redirect(conn, &location)
}

fn refuse_limited(conn: Conn, retry_after: u64) -> Conn {
    let is_api = conn.state::<RequestPath>().is_some_and(RequestPath::is_api);
    let conn = conn.with_response_header(KnownHeaderName::RetryAfter, retry_after.to_string());
    responses::error(
        conn,
        is_api,
        Status::TooManyRequests,
        crate::auth_routes::TOO_MANY_ATTEMPTS,
    )
}
