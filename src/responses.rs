//! The shapes of answers: `{"detail": ...}` errors under `/api`, small HTML pages elsewhere,
//! redirects, and the headers every answer gets.
//!
//! Error texts are fixed strings chosen here or by the caller, never the text of an internal
//! error, so nothing about the server's insides reaches a client.

use trillium::{Conn, Handler, KnownHeaderName, Status};

/// The Content-Security-Policy of the studio's pages: scripts, styles and requests only from
/// the studio itself, no inline script, no framing.
pub const PAGE_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; \
    form-action 'self'";

const JSON: &str = "application/json";
const HTML: &str = "text/html; charset=utf-8";

/// Responds with `status` and `{"detail": detail}`, and halts.
pub fn json_error(conn: Conn, status: Status, detail: &str) -> Conn {
    json(conn, status, &serde_json::json!({ "detail": detail }))
}

/// Responds with `status` and `value` as JSON, and halts.
pub fn json(conn: Conn, status: Status, value: &serde_json::Value) -> Conn {
    conn.with_status(status)
        .with_response_header(KnownHeaderName::ContentType, JSON)
        .with_body(value.to_string())
        .halt()
}

/// Answers with `status` and an HTML page, and halts.
pub fn html(conn: Conn, status: Status, page: impl Into<trillium::Body>) -> Conn {
    conn.with_status(status)
        .with_response_header(KnownHeaderName::ContentType, HTML)
        .with_body(page)
        .halt()
}

/// Answers an error in the form the path calls for: JSON under `/api`, an HTML page elsewhere.
pub fn error(conn: Conn, is_api: bool, status: Status, detail: &str) -> Conn {
    if is_api {
        json_error(conn, status, detail)
    } else {
        html(conn, status, error_page(status, detail))
    }
}

/// Redirects with 302 to `location`, a same-origin path, and halts.
pub fn redirect(conn: Conn, location: &str) -> Conn {
    conn.with_status(Status::Found)
        .with_response_header(KnownHeaderName::Location, location.to_owned())
        .with_response_header(KnownHeaderName::CacheControl, "no-store")
        .halt()
}

/// Builds a small HTML page for an error. `detail` is one of our own fixed messages, but it
/// is escaped anyway.
pub fn error_page(status: Status, detail: &str) -> String {
    let code = status as u16;
    let reason = escape_html(status.canonical_reason());
    let detail = escape_html(detail);
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{code} {reason}</title><link rel=\"stylesheet\" href=\"/static/app.css\"></head>\
         <body class=\"error-page\"><main><h1>{code} {reason}</h1><p>{detail}</p>\
         <p><a href=\"/home\">Go to the dashboard</a></p></main></body></html>\n"
    )
}

/// Escapes the five characters that matter in HTML text and attributes.
pub fn escape_html(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            other => escaped.push(other),
        }
    }
    escaped
}

/// Adds the headers every response needs, after the rest of the chain has run.
///
/// Every response gets `X-Content-Type-Options: nosniff`. HTML gets `X-Frame-Options: DENY`
/// and the page CSP, unless the page set its own CSP. `Cache-Control: no-store` is added unless
/// the handler chose a cache policy, which only static assets do.
#[derive(Debug, Clone, Copy, Default)]
pub struct ResponseHeaders;

impl Handler for ResponseHeaders {
    /// Removes the default `Server` header, which would tell every client the exact versions
    /// of the HTTP libraries.
    async fn init(&mut self, info: &mut trillium::Info) {
        if let Some(headers) = info.shared_state_mut::<trillium::Headers>() {
            headers.remove(KnownHeaderName::Server);
        }
    }

    async fn run(&self, conn: Conn) -> Conn {
        conn
    }

    async fn before_send(&self, mut conn: Conn) -> Conn {
        let is_html = conn
            .response_headers()
            .get_str(KnownHeaderName::ContentType)
            .is_some_and(|value| value.starts_with("text/html"));
        let headers = conn.response_headers_mut();
        headers.insert(KnownHeaderName::XcontentTypeOptions, "nosniff");
        if is_html {
            headers.insert(KnownHeaderName::XframeOptions, "DENY");
            headers.try_insert(KnownHeaderName::ContentSecurityPolicy, PAGE_CSP);
        }
        headers.try_insert(KnownHeaderName::CacheControl, "no-store");
        conn
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_is_escaped() {
        assert_eq!(
            escape_html("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn error_page_names_the_status() {
        let page = error_page(Status::NotFound, "No such page");
        assert!(page.contains("<title>404 Not Found</title>"));
        assert!(page.contains("No such page"));
        assert!(!page.contains("<script"));
    }
}
