//! Hostile spellings of request targets, sent byte for byte over a raw socket to a server on
//! 127.0.0.1.
//!
//! A target that is not in canonical form gets 400 before the public-path check, the auth check
//! or the router runs, with or without credentials. A canonical target that is not exactly
//! a public path needs credentials: 401 under `/api/`, 302 to the login page elsewhere.

mod common;

use common::{send_raw, Response, TestServer, KEY};

/// Builds a request whose target is written exactly as given, with `Host: host`,
/// `Connection: close` and `headers`.
fn raw_request(method: &str, target: &[u8], host: &str, headers: &[(&str, &str)]) -> Vec<u8> {
    let mut raw = Vec::new();
    raw.extend_from_slice(method.as_bytes());
    raw.push(b' ');
    raw.extend_from_slice(target);
    raw.extend_from_slice(format!(" HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n").as_bytes());
    for (name, value) in headers {
        raw.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    }
    raw.extend_from_slice(b"\r\n");
    raw
}

fn send(server: &TestServer, method: &str, target: &[u8], headers: &[(&str, &str)]) -> Response {
    send_raw(
        server.addr,
        &raw_request(method, target, "127.0.0.1", headers),
    )
}

fn get(server: &TestServer, target: &str) -> Response {
    send(server, "GET", target.as_bytes(), &[])
}

fn get_with_key(server: &TestServer, target: &str) -> Response {
    send(server, "GET", target.as_bytes(), &[("X-API-Key", KEY)])
}

fn is_api_target(target: &str) -> bool {
    target == "/api" || target.starts_with("/api/")
}

fn cookie_header(cookie: &str) -> String {
    format!("session={cookie}")
}

/// Targets that trillium accepts (printable ASCII, no `\` or `#`) but that are not canonical,
/// so the server itself must reject them with 400.
const NON_CANONICAL: &[&str] = &[
    // Dot segments.
    "/static/../api/admin/system/status",
    "/static/../home",
    "/static/./app.css",
    "/static/..",
    "/..",
    "/.",
    "/home/.",
    "/api/../home",
    "/api/health/..",
    "/api/health/../admin/system/status",
    // Dot segments, percent-encoded in upper- and lower-case hex.
    "/static/%2E%2E/api/admin/system/status",
    "/static/%2e%2e/api/admin/system/status",
    "/static/.%2E/home",
    "/static/%2e./home",
    "/static/%2E/app.css",
    "/%2E%2E/api/health",
    "/api/%2e%2e/api/admin/system/status",
    // Encoded slashes and backslashes.
    "/static%2F..%2Fhome",
    "/static%2f..%2fhome",
    "/static/..%2Fapi%2Fadmin%2Fsystem%2Fstatus",
    "/api%2Fhealth",
    "/api/admin%2Fsystem%2Fstatus",
    "/static/..%5Chome",
    "/static/%5c../home",
    "/api%5Chealth",
    // Path parameters.
    "/login;x",
    "/api/health;.css",
    "/api/auth/login;x",
    "/static/app.css;x",
    "/home;jsessionid=1",
    "/home%3B",
    "/api/health%3b.css",
    // Double encoding.
    "/static/%252e%252e/home",
    "/static/%252E%252E/api/admin/system/status",
    "/api/health%2500",
    "/%252Fhome",
    // Empty segments: doubled and trailing slashes.
    "//home",
    "//api/health",
    "//login",
    "//static/app.css",
    "/static//app.css",
    "/api//health",
    "/login/",
    "/api/health/",
    "/home/",
    "/static/",
    "/api/",
    // Encoded control characters.
    "/home%00",
    "/api/health%00",
    "/static/app.css%00.html",
    "/login%0A",
    "/login%0a",
    "/login%0D%0ALocation:%20x",
    "/home%09",
    "/home%7F",
    // Escapes of bytes that have a literal spelling.
    "/%6Cogin",
    "/api/%68ealth",
    "/static/app%2Ecss",
    "/%7Ehome",
    // Malformed escapes and escapes that are not UTF-8.
    "/home%",
    "/home%2",
    "/home%G0",
    "/static/%c3%a9",
    "/home%FF",
    "/home%C0%AF",
];

/// Targets with bytes that trillium rejects with 400 while parsing the request line, before
/// any handler of the server runs.
const MALFORMED_TARGETS: &[&[u8]] = &[
    b"/static/..\\home",
    b"/static\\..\\api\\admin\\system\\status",
    b"/api\\health",
    b"/home\\",
    b"/home\x00",
    b"/home\x01",
    b"/home\x1f",
    b"/home\x7f",
    b"/home\t",
    b"/ho me",
    b"/home#fragment",
    b"/caf\xc3\xa9",
];

// --- non-canonical paths ---

#[test]
fn non_canonical_paths_are_400_without_credentials() {
    let server = TestServer::start(&[]);
    for target in NON_CANONICAL {
        let response = get(&server, target);
        assert_eq!(response.status, 400, "GET {target}: {}", response.text());
    }
}

#[test]
fn non_canonical_paths_are_400_with_the_key() {
    let server = TestServer::start(&[]);
    for target in NON_CANONICAL {
        let response = get_with_key(&server, target);
        assert_eq!(
            response.status,
            400,
            "GET {target} with the key: {}",
            response.text()
        );
    }
}

#[test]
fn non_canonical_paths_are_400_with_a_cookie() {
    let server = TestServer::start(&[]);
    let cookie = cookie_header(&server.login());
    for target in NON_CANONICAL {
        let response = send(&server, "GET", target.as_bytes(), &[("Cookie", &cookie)]);
        assert_eq!(
            response.status,
            400,
            "GET {target} with a cookie: {}",
            response.text()
        );
    }
}

#[test]
fn non_canonical_paths_are_400_for_every_method() {
    let server = TestServer::start(&[]);
    let targets = [
        "/static/../api/admin/system/status",
        "//api/health",
        "/login;x",
        "/home/",
    ];
    for method in ["HEAD", "OPTIONS", "POST", "PUT", "DELETE", "PATCH"] {
        for target in targets {
            let response = send(&server, method, target.as_bytes(), &[("X-API-Key", KEY)]);
            assert_eq!(response.status, 400, "{method} {target}");
        }
    }
}

#[test]
fn api_rejection_is_json_detail() {
    let server = TestServer::start(&[]);
    for target in NON_CANONICAL.iter().filter(|target| is_api_target(target)) {
        let response = get(&server, target);
        assert_eq!(response.status, 400, "GET {target}");
        assert_eq!(
            response.header("content-type"),
            Some("application/json"),
            "GET {target}"
        );
        let body = response.json();
        let object = body
            .as_object()
            .unwrap_or_else(|| panic!("GET {target}: {body}"));
        assert_eq!(object.len(), 1, "GET {target}: {body}");
        assert!(
            object["detail"]
                .as_str()
                .is_some_and(|detail| !detail.is_empty()),
            "GET {target}: {body}"
        );
    }
}

#[test]
fn page_rejection_is_html() {
    let server = TestServer::start(&[]);
    for target in NON_CANONICAL.iter().filter(|target| !is_api_target(target)) {
        let response = get(&server, target);
        assert_eq!(response.status, 400, "GET {target}");
        let content_type = response.header("content-type").unwrap_or_default();
        assert!(
            content_type.starts_with("text/html"),
            "GET {target}: {content_type}"
        );
        assert!(
            response.text().contains("<html"),
            "GET {target}: {}",
            response.text()
        );
        assert_eq!(
            response.header("x-content-type-options"),
            Some("nosniff"),
            "GET {target}"
        );
        assert_eq!(
            response.header("x-frame-options"),
            Some("DENY"),
            "GET {target}"
        );
        assert!(
            response.header("content-security-policy").is_some(),
            "GET {target}"
        );
    }
}

#[test]
fn malformed_targets_are_400() {
    let server = TestServer::start(&[]);
    let cookie = cookie_header(&server.login());
    for target in MALFORMED_TARGETS {
        let target_text = String::from_utf8_lossy(target);
        let anonymous = send(&server, "GET", target, &[]);
        assert_eq!(anonymous.status, 400, "GET {target_text:?}");
        let with_key = send(&server, "GET", target, &[("X-API-Key", KEY)]);
        assert_eq!(with_key.status, 400, "GET {target_text:?} with the key");
        let with_cookie = send(&server, "GET", target, &[("Cookie", &cookie)]);
        assert_eq!(with_cookie.status, 400, "GET {target_text:?} with a cookie");
    }
}

#[test]
fn query_does_not_change_path_decision() {
    let server = TestServer::start(&[]);
    let cases = [
        ("/api/health?x=/../admin", 200),
        ("/api/health?x=%2e%2e%2F;", 200),
        ("/api/admin/system/status?/api/health", 401),
        ("/home?next=/login", 302),
        ("/static/../home?x=1", 400),
        ("//home?x=1", 400),
    ];
    for (target, status) in cases {
        let response = get(&server, target);
        assert_eq!(response.status, status, "GET {target}: {}", response.text());
    }
}

#[test]
fn request_headers_do_not_bypass_auth() {
    let server = TestServer::start(&[("TRUSTED_PROXIES", "127.0.0.1")]);
    let bearer = format!("Bearer {KEY}");
    let headers = [
        ("X-Original-URL", "/api/health"),
        ("X-Rewrite-URL", "/api/health"),
        ("X-Forwarded-Path", "/api/health"),
        ("X-Forwarded-Prefix", "/static"),
        ("X-Forwarded-For", "127.0.0.1"),
        ("X-Forwarded-Proto", "https"),
        ("X-HTTP-Method-Override", "GET"),
        ("Referer", "http://127.0.0.1/login"),
        ("Sec-Fetch-Site", "same-origin"),
        ("X-API-Key", ""),
        ("Authorization", bearer.as_str()),
    ];
    for (name, value) in headers {
        let response = send(
            &server,
            "GET",
            b"/api/admin/system/status",
            &[(name, value)],
        );
        assert_eq!(response.status, 401, "{name}: {value}");
        let page = send(&server, "GET", b"/home", &[(name, value)]);
        assert_eq!(page.status, 302, "{name}: {value}");
    }
}

// --- overlong paths ---

#[test]
fn path_over_2048_bytes_is_400() {
    let server = TestServer::start(&[]);
    let cases = [
        format!("/{}", "a".repeat(2048)),
        format!("/static/{}", "a".repeat(2100)),
        format!("/api/{}", "a".repeat(2100)),
        format!("/{}", "a".repeat(4096)),
    ];
    for target in &cases {
        let anonymous = get(&server, target);
        assert_eq!(anonymous.status, 400, "GET of {} bytes", target.len());
        let with_key = get_with_key(&server, target);
        assert_eq!(
            with_key.status,
            400,
            "GET of {} bytes with the key",
            target.len()
        );
    }
}

#[test]
fn overlong_api_path_is_json() {
    let server = TestServer::start(&[]);
    let target = format!("/api/{}", "a".repeat(2100));
    let response = get(&server, &target);
    assert_eq!(response.status, 400);
    assert!(response.json()["detail"].is_string(), "{}", response.text());
}

#[test]
fn path_of_exactly_2048_bytes_is_canonical() {
    let server = TestServer::start(&[]);
    let target = format!("/{}", "a".repeat(2047));
    assert_eq!(get(&server, &target).status, 302);
    assert_eq!(get_with_key(&server, &target).status, 404);
}

// --- request-target forms ---

#[test]
fn absolute_form_needs_credentials() {
    let server = TestServer::start(&[]);
    let target = b"http://127.0.0.1/api/admin/system/status";
    let anonymous = send(&server, "GET", target, &[]);
    assert_eq!(anonymous.status, 401, "{}", anonymous.text());
    assert_eq!(anonymous.json()["detail"], "Not authenticated");
    let with_key = send(&server, "GET", target, &[("X-API-Key", KEY)]);
    assert_eq!(with_key.status, 200, "{}", with_key.text());
    assert!(
        with_key.json()["app_version"].is_string(),
        "{}",
        with_key.text()
    );
}

#[test]
fn absolute_form_public_path_is_public() {
    let server = TestServer::start(&[]);
    let response = send(&server, "GET", b"http://127.0.0.1/api/health", &[]);
    assert_eq!(response.status, 200);
    assert_eq!(response.json(), serde_json::json!({ "status": "ok" }));
}

#[test]
fn absolute_form_dot_segments_are_400() {
    let server = TestServer::start(&[]);
    let cases: [(&str, &[u8]); 4] = [
        ("x", b"http://x/../home"),
        ("x", b"http://x/static/../api/admin/system/status"),
        ("127.0.0.1", b"http://127.0.0.1//home"),
        (
            "127.0.0.1",
            b"http://127.0.0.1/static/%2e%2e/api/admin/system/status",
        ),
    ];
    for (host, target) in cases {
        let target_text = String::from_utf8_lossy(target);
        let anonymous = send_raw(server.addr, &raw_request("GET", target, host, &[]));
        assert_eq!(anonymous.status, 400, "GET {target_text} with Host {host}");
        let with_key = send_raw(
            server.addr,
            &raw_request("GET", target, host, &[("X-API-Key", KEY)]),
        );
        assert_eq!(
            with_key.status, 400,
            "GET {target_text} with Host {host} and the key"
        );
    }
}

#[test]
fn asterisk_form_is_400() {
    let server = TestServer::start(&[]);
    let anonymous = send(&server, "OPTIONS", b"*", &[]);
    assert_eq!(anonymous.status, 400);
    let with_key = send(&server, "OPTIONS", b"*", &[("X-API-Key", KEY)]);
    assert_eq!(with_key.status, 400);
}

/// trillium 1.6.1 reads a CONNECT target (authority-form) as the path `/`, so CONNECT reaches
/// the gate as a request for `/` and the router's method check.
#[test]
fn connect_is_never_routed() {
    let server = TestServer::start(&[]);
    let target = b"127.0.0.1:80";
    let anonymous = send_raw(
        server.addr,
        &raw_request("CONNECT", target, "127.0.0.1:80", &[]),
    );
    assert_eq!(anonymous.status, 302);
    let with_key = send_raw(
        server.addr,
        &raw_request("CONNECT", target, "127.0.0.1:80", &[("X-API-Key", KEY)]),
    );
    assert_eq!(with_key.status, 405);
}

// --- near misses of public paths ---

#[test]
fn near_public_paths_need_credentials() {
    let server = TestServer::start(&[]);
    let targets = [
        "/LOGIN",
        "/Login",
        "/login/x",
        "/loginx",
        "/API/HEALTH",
        "/Api/health",
        "/api/Health",
        "/api/HEALTH",
        "/api/healthz",
        "/api/health/x",
        "/api/healthx",
        "/api/auth/login/x",
        "/api/Auth/login",
        "/Static/app.css",
        "/STATIC/app.css",
        "/staticfoo",
        "/staticfoo/app.css",
        "/static",
        "/static-app.css",
        "/api",
        "/apix",
        "/api/auth",
    ];
    for target in targets {
        let response = get(&server, target);
        if is_api_target(target) {
            assert_eq!(response.status, 401, "GET {target}: {}", response.text());
            assert_eq!(
                response.json()["detail"],
                "Not authenticated",
                "GET {target}"
            );
        } else {
            assert_eq!(response.status, 302, "GET {target}: {}", response.text());
            let location = response.header("location").unwrap_or_default();
            assert!(
                location.starts_with("/login?next="),
                "GET {target}: {location}"
            );
        }
    }
}

#[test]
fn login_redirect_encodes_path_and_query() {
    let server = TestServer::start(&[]);
    let cases = [
        ("/home?tab=2", "/login?next=/home%3Ftab%3D2"),
        ("/home?a=1&b=2", "/login?next=/home%3Fa%3D1%26b%3D2"),
        ("/caf%C3%A9", "/login?next=/caf%25C3%25A9"),
        ("/@evil.invalid", "/login?next=/%40evil.invalid"),
        (
            "/x?y=%0D%0ASet-Cookie:%20a=b",
            "/login?next=/x%3Fy%3D%250D%250ASet-Cookie%3A%2520a%3Db",
        ),
    ];
    for (target, location) in cases {
        let response = get(&server, target);
        assert_eq!(response.status, 302, "GET {target}");
        assert_eq!(response.header("location"), Some(location), "GET {target}");
        assert!(
            response.headers_named("set-cookie").is_empty(),
            "GET {target}: {:?}",
            response.headers
        );
    }
}

#[test]
fn static_folder_itself_is_not_served() {
    let server = TestServer::start(&[]);
    for target in ["/static", "/static/"] {
        let response = get(&server, target);
        assert_ne!(response.status, 200, "GET {target}");
        assert!(response.status < 500, "GET {target}: {}", response.status);
    }
}

// --- unknown paths ---

#[test]
fn unknown_paths_without_credentials_look_protected() {
    let server = TestServer::start(&[]);
    let known_api = get(&server, "/api/admin/system/status");
    for target in [
        "/api/nope",
        "/api/admin/secret",
        "/api/admin/system/status2",
    ] {
        let response = get(&server, target);
        assert_eq!(response.status, known_api.status, "GET {target}");
        assert_eq!(response.body, known_api.body, "GET {target}");
    }
    for target in ["/nope", "/admin", "/home2"] {
        let response = get(&server, target);
        assert_eq!(response.status, 302, "GET {target}");
        let location = response.header("location").unwrap_or_default();
        assert_eq!(location, format!("/login?next={target}"), "GET {target}");
    }
}

#[test]
fn unknown_api_path_with_key_is_json_404() {
    let server = TestServer::start(&[]);
    let response = get_with_key(&server, "/api/nope");
    assert_eq!(response.status, 404);
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert_eq!(response.text(), r#"{"detail":"Not Found"}"#);
}

#[test]
fn unknown_page_with_key_is_html_404() {
    let server = TestServer::start(&[]);
    let response = get_with_key(&server, "/nope");
    assert_eq!(response.status, 404);
    let content_type = response.header("content-type").unwrap_or_default();
    assert!(content_type.starts_with("text/html"), "{content_type}");
    assert!(response.text().contains("<html"), "{}", response.text());
}

#[test]
fn unknown_paths_with_cookie_are_404() {
    let server = TestServer::start(&[]);
    let cookie = cookie_header(&server.login());
    let api = send(&server, "GET", b"/api/nope", &[("Cookie", &cookie)]);
    assert_eq!(api.status, 404);
    assert_eq!(api.text(), r#"{"detail":"Not Found"}"#);
    let page = send(&server, "GET", b"/nope", &[("Cookie", &cookie)]);
    assert_eq!(page.status, 404);
    assert!(page
        .header("content-type")
        .unwrap_or_default()
        .starts_with("text/html"));
}

#[test]
fn case_variants_with_key_are_404() {
    let server = TestServer::start(&[]);
    for target in [
        "/LOGIN",
        "/Home",
        "/api/Health",
        "/Static/app.css",
        "/staticfoo",
    ] {
        let response = get_with_key(&server, target);
        assert_eq!(response.status, 404, "GET {target} with the key");
    }
}

// --- methods ---

#[test]
fn every_method_needs_credentials() {
    let server = TestServer::start(&[]);
    let cases: [(&str, &str, u16); 8] = [
        ("HEAD", "/home", 302),
        ("OPTIONS", "/home", 302),
        ("DELETE", "/home", 302),
        ("OPTIONS", "/api/admin/system/status", 401),
        ("HEAD", "/api/admin/system/status", 401),
        ("POST", "/api/admin/system/status", 401),
        ("PUT", "/api/admin/system/update", 401),
        ("POST", "/api/auth/logout", 401),
    ];
    for (method, target, status) in cases {
        let response = send(&server, method, target.as_bytes(), &[]);
        assert_eq!(
            response.status,
            status,
            "{method} {target}: {}",
            response.text()
        );
    }
}

#[test]
fn head_redirect_goes_to_login() {
    let server = TestServer::start(&[]);
    let response = send(&server, "HEAD", b"/home", &[]);
    assert_eq!(response.status, 302);
    assert_eq!(response.header("location"), Some("/login?next=/home"));
    assert!(response.body.is_empty(), "{}", response.text());
}

#[test]
fn head_with_key_has_empty_body() {
    let server = TestServer::start(&[]);
    let response = send(
        &server,
        "HEAD",
        b"/api/admin/system/status",
        &[("X-API-Key", KEY)],
    );
    assert_eq!(response.status, 200);
    assert!(response.body.is_empty(), "{}", response.text());
}

#[test]
fn wrong_method_is_405_with_allow() {
    let server = TestServer::start(&[]);
    let cases: [(&str, &str, &str); 7] = [
        ("GET", "/api/auth/logout", "POST"),
        ("GET", "/api/admin/system/update", "POST"),
        ("PUT", "/api/auth/login", "POST"),
        ("POST", "/home", "GET, HEAD"),
        ("POST", "/", "GET, HEAD"),
        ("DELETE", "/api/admin/system/status", "GET, HEAD"),
        ("PATCH", "/static/app.css", "GET, HEAD"),
    ];
    for (method, target, allow) in cases {
        let response = send(&server, method, target.as_bytes(), &[("X-API-Key", KEY)]);
        assert_eq!(
            response.status,
            405,
            "{method} {target}: {}",
            response.text()
        );
        assert_eq!(response.header("allow"), Some(allow), "{method} {target}");
    }
}

#[test]
fn wrong_method_on_public_path_is_405() {
    let server = TestServer::start(&[]);
    let cases: [(&str, &str, &str); 5] = [
        ("DELETE", "/api/health", "GET, HEAD"),
        ("POST", "/api/health", "GET, HEAD"),
        ("GET", "/api/auth/login", "POST"),
        ("PUT", "/login", "GET, HEAD"),
        ("POST", "/static/app.css", "GET, HEAD"),
    ];
    for (method, target, allow) in cases {
        let response = send(&server, method, target.as_bytes(), &[]);
        assert_eq!(
            response.status,
            405,
            "{method} {target}: {}",
            response.text()
        );
        assert_eq!(response.header("allow"), Some(allow), "{method} {target}");
    }
}

#[test]
fn method_not_allowed_body_matches_path() {
    let server = TestServer::start(&[]);
    let api = send(&server, "GET", b"/api/auth/logout", &[("X-API-Key", KEY)]);
    assert_eq!(api.status, 405);
    assert!(api.json()["detail"].is_string(), "{}", api.text());
    let page = send(
        &server,
        "POST",
        b"/home",
        &[("X-API-Key", KEY), ("Content-Length", "0")],
    );
    assert_eq!(page.status, 405);
    assert!(page
        .header("content-type")
        .unwrap_or_default()
        .starts_with("text/html"));
}
