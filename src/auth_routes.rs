//! `POST /api/auth/login` and `POST /api/auth/logout`.

use std::sync::Arc;

use trillium::{Conn, KnownHeaderName, Status};

use crate::gate::{unix_now, Gate};
use crate::login_body::{parse_login_body, LoginBodyError, MAX_BODY_LEN};
use crate::login_limiter::ClientKey;
use crate::next_path::safe_next;
use crate::request_body::read_json_body;
use crate::responses;
use crate::session::{Session, SessionId};

/// The detail of a wrong key.
pub const INVALID_API_KEY: &str = "Invalid API key";

/// The detail of a client over the login limit.
pub const TOO_MANY_ATTEMPTS: &str = "Too many failed login attempts, try again later";

/// The detail of a cross-site login.
pub const CROSS_SITE_LOGIN: &str = "Cross-site login requests are not allowed";

/// Trades the API key for a session cookie.
///
/// The checks run in this order: cross-site (403), media type (415), size (413), JSON (400),
/// shape (422), login limit (429), key (401). A cookie sent along is ignored: every success
/// mints a new session.
pub async fn login(gate: &Arc<Gate>, mut conn: Conn) -> Conn {
    if is_cross_site(&conn) {
        return responses::json_error(conn, Status::Forbidden, CROSS_SITE_LOGIN);
    }
    let request = match read_login_body(&mut conn).await {
        Ok(request) => request,
        Err(error) => {
            let status = Status::try_from(error.status()).unwrap_or(Status::BadRequest);
            return responses::json_error(conn, status, error.detail());
        }
    };

    let now = unix_now();
    let client_ip = gate.client_ip(&conn);
    let client = ClientKey::from(client_ip);
    if let Err(refusal) = check_key(gate, client, request.api_key.as_bytes(), now) {
        return match refusal {
            Refusal::Limited(retry_after) => {
                log::warn!("refused a login from {client_ip}: too many failed attempts");
                let conn =
                    conn.with_response_header(KnownHeaderName::RetryAfter, retry_after.to_string());
                responses::json_error(conn, Status::TooManyRequests, TOO_MANY_ATTEMPTS)
            }
            Refusal::WrongKey => {
                log::warn!("failed login from {client_ip}: invalid API key");
                responses::json_error(conn, Status::Unauthorized, INVALID_API_KEY)
            }
        };
    }

    let Ok(id) = SessionId::random() else {
        log::error!("cannot draw a session id: the random number generator failed");
        return responses::json_error(conn, Status::InternalServerError, "Cannot create a session");
    };
    let session = Session::new(id, now);
    let redirect = safe_next(request.next.as_deref());
    log::info!("login from {client_ip}");
    let body = serde_json::json!({ "status": "ok", "redirect": redirect });
    let conn = conn.with_response_header(
        KnownHeaderName::SetCookie,
        gate.session_cookie(&session, now),
    );
    responses::json(conn, Status::Ok, &body)
}

enum Refusal {
    Limited(u64),
    WrongKey,
}

/// Checks the limit first, so a limited client is refused even with the right key, then the
/// key. A wrong key counts as a failure; a right one clears the client's failures.
fn check_key(gate: &Gate, client: ClientKey, candidate: &[u8], now: u64) -> Result<(), Refusal> {
    let mut limiter = gate.limiter.lock().map_err(|_| Refusal::Limited(1))?;
    limiter
        .check(client, now)
        .map_err(|retry_after| Refusal::Limited(retry_after.0))?;
    if gate.api_key.matches(candidate) {
        limiter.record_success(client);
        Ok(())
    } else {
        limiter.record_failure(client, now);
        Err(Refusal::WrongKey)
    }
}

fn is_cross_site(conn: &Conn) -> bool {
    conn.request_headers()
        .get_str(KnownHeaderName::SecFetchSite)
        .is_some_and(|site| site.trim().eq_ignore_ascii_case("cross-site"))
}

/// Reads and parses the body, rejecting a wrong media type or an oversized body before
/// reading it.
async fn read_login_body(
    conn: &mut Conn,
) -> Result<crate::login_body::LoginRequest, LoginBodyError> {
    let content_type = conn
        .request_headers()
        .get_str(KnownHeaderName::ContentType)
        .map(str::to_owned);
    let body = read_json_body(conn, MAX_BODY_LEN, false)
        .await?
        .unwrap_or_default();
    parse_login_body(content_type.as_deref(), &body)
}

/// Ends the session: revokes the cookie's session if one came with the request, deletes the
/// cookie, and redirects to the login page. The response carries exactly one `Set-Cookie`.
pub async fn logout(gate: &Arc<Gate>, mut conn: Conn) -> Conn {
    let now = unix_now();
    if let Some(session) = gate.session_from_cookies(&conn, now) {
        let expires_at = session.lifetime_end(gate.policy);
        if let Err(error) = gate.revocations.revoke(session.id, expires_at, now).await {
            // The session stays revoked in memory, but a restart would bring it back.
            log::error!("cannot save the revocation list: {error}");
        }
    }
    conn.response_headers_mut()
        .insert(KnownHeaderName::SetCookie, gate.deleted_session_cookie());
    responses::redirect(conn, "/login")
}
