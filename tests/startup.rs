//! The binary as an operator runs it: defaults, configuration errors, restarts, signals, logs.

mod common;

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use base64::Engine;
use common::{run_binary, BinaryServer, Request};

fn login(addr: std::net::SocketAddr, key: &str) -> String {
    let body = format!(r#"{{"api_key":"{key}"}}"#);
    let response = Request::post("/api/auth/login").json(&body).send(addr);
    assert_eq!(response.status, 200, "{}", response.text());
    response.session_cookie().unwrap()
}

fn status_with_cookie(addr: std::net::SocketAddr, cookie: &str) -> u16 {
    Request::get("/api/admin/system/status")
        .cookie(cookie)
        .send(addr)
        .status
}

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

// --- first boot ---

#[test]
fn first_boot_generates_key_file() {
    let dir = tempfile::tempdir().unwrap();
    let server = BinaryServer::start(dir.path(), &[]);
    let key_file = dir.path().join("studio-data/.api_key");
    let key = std::fs::read_to_string(&key_file)
        .unwrap()
        .trim()
        .to_owned();
    assert_eq!(mode(&key_file), 0o600);
    assert_eq!(mode(&dir.path().join("studio-data/.session_secret")), 0o600);
    login(server.addr, &key);

    let log = server.stop();
    assert!(log.contains("studio-data/.api_key"), "{log}");
    assert!(!log.contains(&key), "the log shows the key");
}

#[test]
fn help_lists_every_variable() {
    let dir = tempfile::tempdir().unwrap();
    let (code, output) = run_binary(dir.path(), &[], &["--help"]);
    assert_eq!(code, 0);
    for variable in [
        "API_KEY",
        "STUDIO_DIR",
        "HOST",
        "PORT",
        "SESSION_IDLE_SECS",
        "SESSION_LIFETIME_SECS",
        "COOKIE_SECURE",
        "TRUSTED_PROXIES",
        "UPDATE_REPO",
        "UPDATE_BRANCH",
        "RUST_LOG",
    ] {
        assert!(
            output.contains(variable),
            "--help does not mention {variable}"
        );
    }
    assert!(
        !dir.path().join("studio-data").exists(),
        "--help created state"
    );
}

// --- configuration errors ---

#[test]
fn empty_api_key_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let (code, output) = run_binary(dir.path(), &[("API_KEY", "")], &[]);
    assert_eq!(code, 2);
    assert!(output.contains("API_KEY"), "{output}");
}

#[test]
fn bad_values_name_their_variable() {
    let dir = tempfile::tempdir().unwrap();
    for (variable, value) in [
        ("PORT", "eighty"),
        ("HOST", "not-an-address"),
        ("SESSION_IDLE_SECS", "0"),
        ("SESSION_LIFETIME_SECS", "10"),
        ("COOKIE_SECURE", "maybe"),
        ("TRUSTED_PROXIES", "10.0.0.0/99"),
        ("UPDATE_BRANCH", "-x"),
    ] {
        let (code, output) = run_binary(dir.path(), &[(variable, value)], &[]);
        assert_eq!(code, 2, "{variable}={value}: {output}");
        assert!(
            output.contains(&format!("invalid {variable}")),
            "{variable}: {output}"
        );
    }
}

#[test]
fn bad_api_key_is_not_echoed() {
    let dir = tempfile::tempdir().unwrap();
    let (code, output) = run_binary(dir.path(), &[("API_KEY", "hunter2\u{1}")], &[]);
    assert_eq!(code, 2);
    assert!(!output.contains("hunter2"), "{output}");
}

#[test]
fn bad_secret_file_stops_start() {
    let dir = tempfile::tempdir().unwrap();
    let studio = dir.path().join("studio");
    std::fs::create_dir(&studio).unwrap();
    std::fs::write(studio.join(".session_secret"), "not hex at all\n").unwrap();
    let studio_text = studio.display().to_string();
    let (code, output) = run_binary(
        dir.path(),
        &[("API_KEY", "k"), ("STUDIO_DIR", &studio_text)],
        &[],
    );
    assert_eq!(code, 1);
    assert!(output.contains(".session_secret"), "{output}");
}

#[test]
fn python_studio_secret_is_accepted_and_tightened() {
    let dir = tempfile::tempdir().unwrap();
    let studio = dir.path().join("studio");
    std::fs::create_dir(&studio).unwrap();
    let secret_path = studio.join(".session_secret");
    std::fs::write(&secret_path, format!("{}\n", "0123456789abcdef".repeat(8))).unwrap();
    std::fs::set_permissions(&secret_path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let studio_text = studio.display().to_string();
    let server = BinaryServer::start(
        dir.path(),
        &[("API_KEY", "k"), ("STUDIO_DIR", &studio_text)],
    );
    login(server.addr, "k");
    assert_eq!(mode(&secret_path), 0o600);
    assert_eq!(
        std::fs::read_to_string(&secret_path).unwrap().trim().len(),
        128
    );
    let log = server.stop();
    assert!(log.contains("setting mode 0600"), "{log}");
}

// --- restarts ---

#[test]
fn sessions_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let vars = [("API_KEY", "restart-key")];
    let first = BinaryServer::start(dir.path(), &vars);
    let cookie = login(first.addr, "restart-key");
    first.stop();

    let second = BinaryServer::start(dir.path(), &vars);
    assert_eq!(status_with_cookie(second.addr, &cookie), 200);
}

#[test]
fn revoked_sessions_stay_revoked_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let vars = [("API_KEY", "restart-key")];
    let first = BinaryServer::start(dir.path(), &vars);
    let cookie = login(first.addr, "restart-key");
    let logout = Request::post("/api/auth/logout")
        .cookie(&cookie)
        .send(first.addr);
    assert_eq!(logout.status, 302);
    first.stop();

    let second = BinaryServer::start(dir.path(), &vars);
    assert_eq!(status_with_cookie(second.addr, &cookie), 401);
}

#[test]
fn changing_the_api_key_ends_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let first = BinaryServer::start(dir.path(), &[("API_KEY", "old-key")]);
    let cookie = login(first.addr, "old-key");
    first.stop();

    let second = BinaryServer::start(dir.path(), &[("API_KEY", "new-key")]);
    assert_eq!(status_with_cookie(second.addr, &cookie), 401);
    login(second.addr, "new-key");
}

// --- signals ---

#[test]
fn sigterm_lets_a_request_in_flight_finish() {
    let dir = tempfile::tempdir().unwrap();
    let server = BinaryServer::start(dir.path(), &[("API_KEY", "k")]);
    let body = br#"{"api_key":"k"}"#;
    let head = format!(
        "POST /api/auth/login HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let mut stream = std::net::TcpStream::connect(server.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(&body[..5]).unwrap();
    std::thread::sleep(Duration::from_millis(300));

    let pid = server.child.id().to_string();
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    stream.write_all(&body[5..]).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    let log = server.stop();
    assert!(log.contains("stopped"), "{log}");
}

#[test]
fn stuck_request_cannot_hold_up_the_stop() {
    let dir = tempfile::tempdir().unwrap();
    let server = BinaryServer::start(dir.path(), &[("API_KEY", "k")]);
    // Half a request head, never finished.
    let mut stream = std::net::TcpStream::connect(server.addr).unwrap();
    stream
        .write_all(b"GET /api/health HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));

    // stop() waits up to 20 s; the server gives in-flight requests 10 s.
    let log = server.stop();
    assert!(log.contains("stopping anyway"), "{log}");
    assert!(log.contains("stopped"), "{log}");
    drop(stream);
}

#[test]
fn short_api_key_warns() {
    let dir = tempfile::tempdir().unwrap();
    let server = BinaryServer::start(dir.path(), &[("API_KEY", "qx7")]);
    let log = server.stop();
    assert!(log.contains("shorter than 16 characters"), "{log}");
    assert!(!log.contains("qx7"), "{log}");
}

#[test]
fn api_key_with_surrounding_spaces_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let (code, output) = run_binary(dir.path(), &[("API_KEY", " secret-key ")], &[]);
    assert_eq!(code, 2, "{output}");
    assert!(output.contains("invalid API_KEY"), "{output}");
    assert!(output.contains("whitespace"), "{output}");
    assert!(!output.contains("secret-key"), "{output}");
}

#[test]
fn busy_port_refuses_to_start_and_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let occupant = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = occupant.local_addr().unwrap().port().to_string();
    let (code, output) = run_binary(
        dir.path(),
        &[("API_KEY", "k"), ("HOST", "127.0.0.1"), ("PORT", &port)],
        &[],
    );
    assert_eq!(code, 1, "{output}");
    assert!(
        output.contains(&format!("cannot listen on 127.0.0.1:{port} (HOST, PORT)")),
        "{output}"
    );
    assert!(!output.contains("panicked"), "{output}");
    assert!(!output.contains("listening on"), "{output}");
}

#[test]
fn port_zero_logs_the_port_bound() {
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("server.log");
    let log_file = std::fs::File::create(&log_path).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_studio-gate"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("API_KEY", "k")
        .env("HOST", "127.0.0.1")
        .env("PORT", "0")
        .current_dir(dir.path())
        .stdout(log_file.try_clone().unwrap())
        .stderr(log_file)
        .spawn()
        .unwrap();

    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let mut port = None;
    while port.is_none() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        port = log
            .split("listening on http://127.0.0.1:")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|port| port.parse::<u16>().ok());
    }
    // Checked before any request, because a failed request panics and would leave the
    // server running.
    let answers = port
        .is_some_and(|port| port != 0 && std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
    let status = port.filter(|_| answers).map(|port| {
        Request::get("/api/health")
            .send(([127, 0, 0, 1], port).into())
            .status
    });
    let _ = child.kill();
    let _ = child.wait();
    let port = port.expect("the log names the port");
    assert_ne!(port, 0);
    assert_eq!(status, Some(200));
}

// --- logs ---

#[test]
fn logs_hide_every_secret() {
    let dir = tempfile::tempdir().unwrap();
    let studio = dir.path().join("studio");
    let studio_text = studio.display().to_string();
    let key = "log-check-key-5f2a";
    let server = BinaryServer::start(
        dir.path(),
        &[("API_KEY", key), ("STUDIO_DIR", &studio_text)],
    );
    let cookie = login(server.addr, key);
    Request::get("/home?token=query-secret")
        .cookie(&cookie)
        .send(server.addr);
    Request::get("/api/admin/system/status")
        .key(key)
        .send(server.addr);
    Request::get("/api/admin/system/status")
        .key("wrong-key-attempt")
        .send(server.addr);
    Request::post("/api/auth/login")
        .json(r#"{"api_key":"wrong-login-attempt"}"#)
        .send(server.addr);
    Request::post("/api/auth/logout")
        .cookie(&cookie)
        .send(server.addr);
    Request::get("/home").cookie(&cookie).send(server.addr);
    let log = server.stop();

    let secret = std::fs::read_to_string(studio.join(".session_secret")).unwrap();
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(&cookie)
        .unwrap();
    let session_id: String = raw[1..17]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    for (what, text) in [
        ("key", key),
        ("cookie", cookie.as_str()),
        ("secret", secret.trim()),
        ("session id", session_id.as_str()),
        ("wrong key", "wrong-key-attempt"),
        ("wrong login key", "wrong-login-attempt"),
        ("query", "query-secret"),
    ] {
        assert!(!log.contains(text), "the log shows the {what}:\n{log}");
    }
    assert!(log.contains("GET /home 200"), "{log}");
    assert!(log.contains("failed login from 127.0.0.1"), "{log}");
    assert!(
        log.contains("refused a session cookie from 127.0.0.1"),
        "{log}"
    );
}
