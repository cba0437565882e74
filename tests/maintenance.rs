//! Maintenance mode over real TCP on 127.0.0.1: while it is on, every path and method gets
//! 503 before the path check, auth or the router run.

mod common;

use common::{send_raw, Request, Response, TestServer, KEY};
use studio_gate::UpdateProgress;

const MAINTENANCE_JSON: &str = r#"{"detail":"System is updating, please wait..."}"#;

/// Threads and requests per thread of the concurrency test.
const THREADS: usize = 8;
const REQUESTS_PER_THREAD: usize = 25;

fn login_body() -> String {
    format!(r#"{{"api_key":"{KEY}"}}"#)
}

/// Checks the headers and body of a maintenance response, naming `label` in each failure.
fn assert_maintenance(response: &Response, is_api: bool, label: &str) {
    assert_eq!(response.status, 503, "{label}: {}", response.text());
    assert_eq!(response.header("retry-after"), Some("3"), "{label}");
    assert_eq!(
        response.header("cache-control"),
        Some("no-store"),
        "{label}"
    );
    assert!(
        response.session_cookie().is_none(),
        "{label} sets a session cookie"
    );
    if is_api {
        assert_eq!(
            response.header("content-type"),
            Some("application/json"),
            "{label}"
        );
        assert_eq!(response.text(), MAINTENANCE_JSON, "{label}");
    } else {
        assert_maintenance_page(response, label);
    }
}

/// Checks that the page reloads itself every 3 seconds and loads nothing else.
fn assert_maintenance_page(response: &Response, label: &str) {
    let content_type = response.header("content-type").unwrap_or_default();
    assert!(
        content_type.starts_with("text/html"),
        "{label}: Content-Type {content_type}"
    );
    let page = response.text().to_ascii_lowercase();
    let refresh_header = response
        .header("refresh")
        .is_some_and(|value| value.trim() == "3");
    let refresh_meta = page.contains(r#"http-equiv="refresh" content="3""#);
    assert!(
        refresh_header || refresh_meta,
        "{label}: no 3-second refresh: {page}"
    );
    for resource in ["<script", "<link", "src=", "url(", "@import"] {
        assert!(
            !page.contains(resource),
            "{label}: page contains {resource}: {page}"
        );
    }
}

/// Sends `GET target` with its bytes unchanged, so dot segments reach the server.
fn get_raw(server: &TestServer, target: &str) -> Response {
    let raw = format!("GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    send_raw(server.addr, raw.as_bytes())
}

// --- every request gets 503 ---

#[test]
fn every_route_is_503_in_maintenance() {
    let server = TestServer::start(&[]);
    let cookie = server.login();
    server.gate.maintenance.set(true);
    let cases: Vec<(&str, Request, bool)> = vec![
        ("GET /", Request::get("/"), false),
        ("GET /home", Request::get("/home"), false),
        (
            "GET /home with a cookie",
            Request::get("/home").cookie(&cookie),
            false,
        ),
        (
            "GET /home with the key",
            Request::get("/home").key(KEY),
            false,
        ),
        ("GET /login", Request::get("/login"), false),
        (
            "GET /static/app.css",
            Request::get("/static/app.css"),
            false,
        ),
        (
            "GET /static/login.js",
            Request::get("/static/login.js"),
            false,
        ),
        (
            "GET /static/nope.css",
            Request::get("/static/nope.css"),
            false,
        ),
        ("GET /nope", Request::get("/nope"), false),
        ("GET /api/health", Request::get("/api/health"), true),
        ("GET /api/nope", Request::get("/api/nope"), true),
        (
            "GET /api/admin/system/status",
            Request::get("/api/admin/system/status"),
            true,
        ),
        (
            "GET /api/admin/system/status with the key",
            Request::get("/api/admin/system/status").key(KEY),
            true,
        ),
        (
            "GET /api/admin/system/status with a cookie",
            Request::get("/api/admin/system/status").cookie(&cookie),
            true,
        ),
        (
            "POST /api/admin/system/update with the key",
            Request::post("/api/admin/system/update").key(KEY),
            true,
        ),
        (
            "POST /api/auth/logout with a cookie",
            Request::post("/api/auth/logout").cookie(&cookie),
            true,
        ),
        (
            "DELETE /api/health",
            Request::new("DELETE", "/api/health"),
            true,
        ),
        ("PUT /home", Request::new("PUT", "/home"), false),
        (
            "OPTIONS /api/admin/system/status",
            Request::new("OPTIONS", "/api/admin/system/status"),
            true,
        ),
    ];
    for (label, request, is_api) in cases {
        let response = server.send(request);
        assert_maintenance(&response, is_api, label);
    }
}

#[test]
fn login_in_maintenance_is_503_without_cookie() {
    let server = TestServer::start(&[]);
    server.gate.maintenance.set(true);
    let response = server.send(
        Request::post("/api/auth/login")
            .key(KEY)
            .json(&login_body()),
    );
    assert_maintenance(&response, true, "POST /api/auth/login");
    assert!(
        response.headers_named("set-cookie").is_empty(),
        "{:?}",
        response.headers
    );
}

#[test]
fn non_canonical_paths_are_503_in_maintenance() {
    let server = TestServer::start(&[]);
    server.gate.maintenance.set(true);
    let cases = [
        ("/static/../x", false),
        ("/static/%2e%2e/home", false),
        ("//home", false),
        ("/login;x", false),
        ("/api/../home", true),
        ("/api/health/", true),
    ];
    for (target, is_api) in cases {
        let response = get_raw(&server, target);
        assert_maintenance(&response, is_api, &format!("GET {target}"));
    }
}

#[test]
fn asterisk_form_is_503_in_maintenance() {
    let server = TestServer::start(&[]);
    server.gate.maintenance.set(true);
    let raw = b"OPTIONS * HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    let response = send_raw(server.addr, raw);
    assert_maintenance(&response, false, "OPTIONS *");
}

#[test]
fn head_in_maintenance_is_503_without_body() {
    let server = TestServer::start(&[]);
    server.gate.maintenance.set(true);
    for target in ["/static/app.css", "/api/health", "/home"] {
        let response = server.send(Request::new("HEAD", target));
        assert_eq!(response.status, 503, "HEAD {target}");
        assert_eq!(response.header("retry-after"), Some("3"), "HEAD {target}");
        assert!(
            response.body.is_empty(),
            "HEAD {target}: {}",
            response.text()
        );
    }
}

#[test]
fn maintenance_page_has_security_headers() {
    let server = TestServer::start(&[]);
    server.gate.maintenance.set(true);
    let response = server.get("/home");
    assert_eq!(response.status, 503);
    assert_eq!(response.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(response.header("x-frame-options"), Some("DENY"));
    let policy = response
        .header("content-security-policy")
        .unwrap_or_default();
    assert!(policy.contains("default-src 'none'"), "{policy}");
    assert!(!policy.contains("script-src"), "{policy}");
}

#[test]
fn progress_page_stays_self_contained() {
    let server = TestServer::start(&[]);
    server.gate.maintenance.set(true);
    let progress = UpdateProgress {
        files_done: 3,
        files_total: 10,
        bytes_done: 2_000_000,
        bytes_total: 9_000_000,
    };
    server.gate.maintenance.set_progress(Some(progress));

    let page = server.get("/home");
    assert_maintenance(&page, false, "GET /home while files are copied");
    assert!(page.text().contains("3 of 10"), "{}", page.text());
    let api = server.get("/api/health");
    assert_maintenance(&api, true, "GET /api/health while files are copied");
}

// --- leaving maintenance ---

#[test]
fn turning_maintenance_off_restores_responses() {
    let server = TestServer::start(&[]);
    let cookie = server.login();
    server.gate.maintenance.set(true);
    assert_eq!(server.get("/api/health").status, 503);
    server.gate.maintenance.set(false);

    let health = server.get("/api/health");
    assert_eq!(health.status, 200);
    assert_eq!(health.text(), r#"{"status":"ok"}"#);
    assert!(health.header("retry-after").is_none());
    assert_eq!(server.get("/login").status, 200);
    assert_eq!(server.get("/static/app.css").status, 200);
    assert_eq!(server.get("/home").status, 302);
    assert_eq!(
        server.send(Request::get("/home").cookie(&cookie)).status,
        200
    );
    assert_eq!(get_raw(&server, "/static/../x").status, 400);

    let status = server.send(Request::get("/api/admin/system/status").key(KEY));
    assert_eq!(status.status, 200);
    assert_eq!(status.json()["maintenance"], false);
}

#[test]
fn failed_logins_in_maintenance_are_not_counted() {
    let server = TestServer::start(&[]);
    server.gate.maintenance.set(true);
    for _ in 0..15 {
        let login = server.send(Request::post("/api/auth/login").json(r#"{"api_key":"wrong"}"#));
        assert_eq!(login.status, 503);
        let key = server.send(Request::get("/api/admin/system/status").key("wrong"));
        assert_eq!(key.status, 503);
    }
    server.gate.maintenance.set(false);
    let response = server.send(Request::post("/api/auth/login").json(&login_body()));
    assert_eq!(response.status, 200, "{}", response.text());
}

#[test]
fn login_works_after_maintenance() {
    let server = TestServer::start(&[]);
    server.gate.maintenance.set(true);
    let during_maintenance = server.send(Request::post("/api/auth/login").json(&login_body()));
    assert_eq!(during_maintenance.status, 503);
    server.gate.maintenance.set(false);
    let response = server.send(Request::post("/api/auth/login").json(&login_body()));
    assert_eq!(response.status, 200);
    assert!(response.session_cookie().is_some());
}

#[test]
fn guard_turns_maintenance_off_on_drop() {
    let server = TestServer::start(&[]);
    let guard = server.gate.maintenance.enter();
    assert_maintenance(
        &server.get("/api/health"),
        true,
        "GET /api/health while the guard is held",
    );
    assert_maintenance(
        &server.get("/login"),
        false,
        "GET /login while the guard is held",
    );
    drop(guard);
    let response = server.get("/api/health");
    assert_eq!(response.status, 200);
    assert_eq!(response.text(), r#"{"status":"ok"}"#);
}

#[test]
fn kept_guard_leaves_maintenance_on() {
    let server = TestServer::start(&[]);
    server.gate.maintenance.enter().keep_on();
    assert_maintenance(
        &server.get("/api/health"),
        true,
        "GET /api/health after keep_on",
    );
    server.gate.maintenance.set(false);
    assert_eq!(server.get("/api/health").status, 200);
}

// --- concurrency ---

#[test]
fn concurrent_requests_all_get_503() {
    let server = TestServer::start(&[]);
    server.gate.maintenance.set(true);
    let targets = [
        "/api/health",
        "/home",
        "/static/app.css",
        "/api/admin/system/status",
        "/login",
    ];
    let addr = server.addr;

    let statuses: Vec<(String, u16, Option<String>)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..THREADS)
            .map(|thread| {
                scope.spawn(move || {
                    (0..REQUESTS_PER_THREAD)
                        .map(|index| {
                            let target = targets[(thread + index) % targets.len()];
                            let response = Request::get(target).key(KEY).send(addr);
                            let retry_after = response.header("retry-after").map(str::to_owned);
                            (target.to_owned(), response.status, retry_after)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|worker| worker.join().unwrap())
            .collect()
    });

    assert_eq!(statuses.len(), THREADS * REQUESTS_PER_THREAD);
    for (target, status, retry_after) in &statuses {
        assert_eq!(*status, 503, "GET {target}");
        assert_eq!(retry_after.as_deref(), Some("3"), "GET {target}");
    }
}
