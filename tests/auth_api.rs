//! Login, logout, cookies and keys, over real TCP on 127.0.0.1.

mod common;

use common::{Request, TestServer, KEY};

fn login_body(key: &str) -> String {
    format!(r#"{{"api_key":"{key}"}}"#)
}

// --- login ---

#[test]
fn login_sets_the_documented_cookie() {
    let server = TestServer::start(&[]);
    let response = server.send(Request::post("/api/auth/login").json(&login_body(KEY)));
    assert_eq!(response.status, 200);
    assert_eq!(response.text(), r#"{"status":"ok","redirect":"/home"}"#);
    let cookies = response.headers_named("set-cookie");
    assert_eq!(cookies.len(), 1);
    let value = response.session_cookie().unwrap();
    assert_eq!(
        cookies[0],
        format!("session={value}; HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age=86400")
    );
    assert_eq!(response.header("cache-control"), Some("no-store"));
}

#[test]
fn insecure_cookie_only_when_configured() {
    let server = TestServer::start(&[("COOKIE_SECURE", "false")]);
    let response = server.send(Request::post("/api/auth/login").json(&login_body(KEY)));
    let cookie = response.header("set-cookie").unwrap();
    assert!(!cookie.contains("Secure"), "{cookie}");
    assert!(
        cookie.contains("HttpOnly; SameSite=Strict; Path=/; Max-Age=86400"),
        "{cookie}"
    );
}

#[test]
fn wrong_keys_get_the_same_answer() {
    let server = TestServer::start(&[]);
    let overlong = "k".repeat(4000);
    for key in [
        "wrong",
        "",
        "test-key-012345678",
        "test-key-01234567890",
        overlong.as_str(),
    ] {
        let response = server.send(Request::post("/api/auth/login").json(&login_body(key)));
        assert_eq!(response.status, 401, "{key}");
        assert_eq!(response.text(), r#"{"detail":"Invalid API key"}"#);
        assert!(response.header("set-cookie").is_none());
        assert_eq!(response.header("cache-control"), Some("no-store"));
    }
}

#[test]
fn login_body_errors_have_their_status() {
    let server = TestServer::start(&[]);
    let cases: Vec<(Request, u16)> = vec![
        (
            Request::post("/api/auth/login").body(login_body(KEY).as_bytes()),
            415,
        ),
        (
            Request::post("/api/auth/login")
                .header("Content-Type", "text/plain")
                .body(b"{}"),
            415,
        ),
        (Request::post("/api/auth/login").json("{"), 400),
        (Request::post("/api/auth/login").json(""), 400),
        (Request::post("/api/auth/login").json("[1]"), 422),
        (
            Request::post("/api/auth/login").json(r#"{"api_key":5}"#),
            422,
        ),
        (
            Request::post("/api/auth/login").json(r#"{"next":"/x"}"#),
            422,
        ),
        (
            Request::post("/api/auth/login")
                .json(&format!(r#"{{"api_key":"{}"}}"#, "k".repeat(5000))),
            413,
        ),
    ];
    for (request, status) in cases {
        let response = server.send(request);
        assert_eq!(response.status, status, "{}", response.text());
        assert!(response.json()["detail"].is_string(), "{}", response.text());
    }
}

#[test]
fn chunked_oversized_body_is_413() {
    let server = TestServer::start(&[]);
    let chunk = "a".repeat(3000);
    let raw = format!(
        "POST /api/auth/login HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n\
         {len:x}\r\n{chunk}\r\n{len:x}\r\n{chunk}\r\n0\r\n\r\n",
        len = chunk.len()
    );
    let response = common::send_raw(server.addr, raw.as_bytes());
    assert_eq!(response.status, 413);
    assert!(response.json()["detail"].is_string());
}

#[test]
fn cross_site_login_is_403() {
    let server = TestServer::start(&[]);
    let request = Request::post("/api/auth/login")
        .header("Sec-Fetch-Site", "cross-site")
        .json(&login_body(KEY));
    let response = server.send(request);
    assert_eq!(response.status, 403);
    assert!(response.session_cookie().is_none());
    let same_origin = Request::post("/api/auth/login")
        .header("Sec-Fetch-Site", "same-origin")
        .json(&login_body(KEY));
    assert_eq!(server.send(same_origin).status, 200);
}

#[test]
fn next_keeps_only_same_origin_paths() {
    let server = TestServer::start(&[]);
    let cases = [
        ("/some/page?x=1", "/some/page?x=1"),
        ("//evil.example", "/home"),
        ("/\\\\evil.example", "/home"),
        ("https://evil.example/", "/home"),
        ("javascript:alert(1)", "/home"),
        ("/%2F%2Fevil.example", "/home"),
        ("/.//evil.example", "/home"),
        ("/home%0D%0ALocation:x", "/home"),
    ];
    for (next, expected) in cases {
        let body = serde_json::json!({ "api_key": KEY, "next": next }).to_string();
        let response = server.send(Request::post("/api/auth/login").json(&body));
        assert_eq!(response.json()["redirect"], expected, "{next}");
    }
}

#[test]
fn login_ignores_a_sent_cookie() {
    let server = TestServer::start(&[]);
    let first = server.login();
    let request = Request::post("/api/auth/login")
        .cookie(&first)
        .json(&login_body(KEY));
    let second = server.send(request).session_cookie().unwrap();
    assert_ne!(first, second);
    // The session id is the first bytes after the version byte: a new session, not a renewal.
    assert_ne!(first[..24], second[..24]);
}

// --- the login limit ---

#[test]
fn limited_client_is_refused_even_with_the_right_key() {
    let server = TestServer::start(&[]);
    for _ in 0..10 {
        let response = server.send(Request::post("/api/auth/login").json(&login_body("wrong")));
        assert_eq!(response.status, 401);
    }
    let response = server.send(Request::post("/api/auth/login").json(&login_body(KEY)));
    assert_eq!(response.status, 429);
    let retry_after: u64 = response.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=300).contains(&retry_after), "{retry_after}");
    assert!(response.json()["detail"].is_string());
    assert!(response.session_cookie().is_none());
}

#[test]
fn other_clients_are_not_limited() {
    let server = TestServer::start(&[("TRUSTED_PROXIES", "127.0.0.1")]);
    let from = |address: &str, key: &str| {
        Request::post("/api/auth/login")
            .header("X-Forwarded-For", address)
            .json(&login_body(key))
    };
    for _ in 0..11 {
        server.send(from("203.0.113.1", "wrong"));
    }
    assert_eq!(server.send(from("203.0.113.1", KEY)).status, 429);
    assert_eq!(server.send(from("203.0.113.2", KEY)).status, 200);
}

#[test]
fn forwarded_for_is_ignored_from_untrusted_peers() {
    let server = TestServer::start(&[]);
    for index in 0..10 {
        let request = Request::post("/api/auth/login")
            .header("X-Forwarded-For", &format!("203.0.113.{index}"))
            .json(&login_body("wrong"));
        assert_eq!(server.send(request).status, 401);
    }
    let request = Request::post("/api/auth/login")
        .header("X-Forwarded-For", "198.51.100.7")
        .json(&login_body(KEY));
    assert_eq!(server.send(request).status, 429);
}

#[test]
fn forwarded_for_lines_are_read_as_one_list() {
    let server = TestServer::start(&[("TRUSTED_PROXIES", "127.0.0.1")]);
    // A proxy that adds its own header line: the last line names the client.
    for _ in 0..10 {
        let request = Request::post("/api/auth/login")
            .header("X-Forwarded-For", "192.0.2.1")
            .header("X-Forwarded-For", "198.51.100.77")
            .json(&login_body("wrong"));
        assert_eq!(server.send(request).status, 401);
    }
    let same_client = Request::post("/api/auth/login")
        .header("X-Forwarded-For", "198.51.100.77")
        .json(&login_body(KEY));
    assert_eq!(server.send(same_client).status, 429);
    let other_client = Request::post("/api/auth/login")
        .header("X-Forwarded-For", "192.0.2.1")
        .json(&login_body(KEY));
    assert_eq!(server.send(other_client).status, 200);
}

#[test]
fn success_clears_failures() {
    let server = TestServer::start(&[]);
    for _ in 0..9 {
        server.send(Request::post("/api/auth/login").json(&login_body("wrong")));
    }
    server.login();
    for _ in 0..9 {
        server.send(Request::post("/api/auth/login").json(&login_body("wrong")));
    }
    assert_eq!(
        server
            .send(Request::post("/api/auth/login").json(&login_body(KEY)))
            .status,
        200
    );
}

#[test]
fn wrong_api_key_headers_count_as_failures() {
    let server = TestServer::start(&[]);
    for _ in 0..10 {
        assert_eq!(
            server
                .send(Request::get("/api/admin/system/status").key("wrong"))
                .status,
            401
        );
    }
    let response = server.send(Request::get("/api/admin/system/status").key(KEY));
    assert_eq!(response.status, 429);
    assert!(response.header("retry-after").is_some());
}

// --- credentials on protected routes ---

#[test]
fn api_key_header_authenticates_without_a_cookie() {
    let server = TestServer::start(&[]);
    let response = server.send(Request::get("/api/admin/system/status").key(KEY));
    assert_eq!(response.status, 200);
    assert!(response.header("set-cookie").is_none());
    let empty = server.send(Request::get("/api/admin/system/status").key(""));
    assert_eq!(empty.status, 401);
}

#[test]
fn missing_credentials_get_401_json() {
    let server = TestServer::start(&[]);
    let response = server.get("/api/admin/system/status");
    assert_eq!(response.status, 401);
    assert_eq!(response.text(), r#"{"detail":"Not authenticated"}"#);
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert_eq!(response.header("cache-control"), Some("no-store"));
}

#[test]
fn pages_redirect_to_login_with_next() {
    let server = TestServer::start(&[]);
    let response = server.get("/home?tab=a%20b&x=/y");
    assert_eq!(response.status, 302);
    assert_eq!(
        response.header("location"),
        Some("/login?next=/home%3Ftab%3Da%2520b%26x%3D/y")
    );
    assert_eq!(response.header("cache-control"), Some("no-store"));
    assert_eq!(server.get("/").header("location"), Some("/login?next=/"));
}

#[test]
fn cookie_is_renewed_on_every_authenticated_answer() {
    let server = TestServer::start(&[]);
    let cookie = server.login();
    for target in ["/api/admin/system/status", "/home", "/", "/no/such/page"] {
        let response = server.send(Request::get(target).cookie(&cookie));
        assert!(response.session_cookie().is_some(), "{target}");
        let header = response.header("set-cookie").unwrap();
        assert!(
            header.ends_with("HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age=86400"),
            "{header}"
        );
    }
}

#[test]
fn tampered_cookies_are_anonymous() {
    let server = TestServer::start(&[]);
    let cookie = server.login();
    let mut flipped: Vec<u8> = cookie.clone().into_bytes();
    flipped[30] = if flipped[30] == b'A' { b'B' } else { b'A' };
    let flipped = String::from_utf8(flipped).unwrap();
    for value in [
        flipped.as_str(),
        &cookie[..cookie.len() - 1],
        &format!("{cookie}A"),
        "",
        "x",
        &"A".repeat(5000),
    ] {
        let response = server.send(Request::get("/api/admin/system/status").cookie(value));
        assert_eq!(response.status, 401, "{value}");
        assert!(response.header("set-cookie").is_none());
    }
}

#[test]
fn cookie_under_another_name_is_refused() {
    let server = TestServer::start(&[]);
    let cookie = server.login();
    let request =
        Request::get("/api/admin/system/status").header("Cookie", &format!("other={cookie}"));
    assert_eq!(server.send(request).status, 401);
    let both = Request::get("/api/admin/system/status")
        .header("Cookie", &format!("theme=dark; session={cookie}"));
    assert_eq!(server.send(both).status, 200);
}

#[test]
fn idle_cookie_expires() {
    let server = TestServer::start(&[("SESSION_IDLE_SECS", "1"), ("SESSION_LIFETIME_SECS", "60")]);
    let cookie = server.login();
    std::thread::sleep(std::time::Duration::from_millis(2100));
    assert_eq!(
        server
            .send(Request::get("/api/admin/system/status").cookie(&cookie))
            .status,
        401
    );
}

#[test]
fn max_age_never_passes_the_lifetime() {
    let server = TestServer::start(&[
        ("SESSION_IDLE_SECS", "100"),
        ("SESSION_LIFETIME_SECS", "100"),
    ]);
    let cookie = server.login();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let response = server.send(Request::get("/api/admin/system/status").cookie(&cookie));
    let header = response.header("set-cookie").unwrap();
    let max_age: u64 = header.rsplit("Max-Age=").next().unwrap().parse().unwrap();
    assert!(max_age < 100, "{header}");
}

// --- logout ---

#[test]
fn logout_deletes_and_revokes() {
    let server = TestServer::start(&[]);
    let cookie = server.login();
    let response = server.send(Request::post("/api/auth/logout").cookie(&cookie));
    assert_eq!(response.status, 302);
    assert_eq!(response.header("location"), Some("/login"));
    let cookies = response.headers_named("set-cookie");
    assert_eq!(cookies.len(), 1, "{cookies:?}");
    assert!(
        cookies[0].starts_with("session=; HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age=0"),
        "{}",
        cookies[0]
    );

    let replay = server.send(Request::get("/api/admin/system/status").cookie(&cookie));
    assert_eq!(replay.status, 401);
    assert_eq!(
        server.send(Request::get("/home").cookie(&cookie)).status,
        302
    );
}

#[test]
fn renewed_copies_are_revoked_too() {
    let server = TestServer::start(&[]);
    let cookie = server.login();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let renewed = server
        .send(Request::get("/home").cookie(&cookie))
        .session_cookie()
        .unwrap();
    assert_ne!(renewed, cookie);
    server.send(Request::post("/api/auth/logout").cookie(&cookie));
    assert_eq!(
        server
            .send(Request::get("/api/admin/system/status").cookie(&renewed))
            .status,
        401
    );
}

#[test]
fn logout_needs_credentials() {
    let server = TestServer::start(&[]);
    assert_eq!(server.send(Request::post("/api/auth/logout")).status, 401);
    let with_key = server.send(Request::post("/api/auth/logout").key(KEY));
    assert_eq!(with_key.status, 302);
    assert_eq!(with_key.headers_named("set-cookie").len(), 1);
}

#[test]
fn login_page_redirects_a_logged_in_browser() {
    let server = TestServer::start(&[]);
    let cookie = server.login();
    let response = server.send(Request::get("/login?next=%2Fsome%2Fpage").cookie(&cookie));
    assert_eq!(response.status, 302);
    assert_eq!(response.header("location"), Some("/some/page"));
    let evil = server.send(Request::get("/login?next=%2F%2Fevil.example").cookie(&cookie));
    assert_eq!(evil.header("location"), Some("/home"));
    let anonymous = server.get("/login?next=%2Fsome%2Fpage");
    assert_eq!(anonymous.status, 200);
}
