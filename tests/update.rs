//! Updates from real git repositories made in temporary folders, against real servers.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::{BinaryServer, Request, TestServer, KEY};

/// A release repository on disk, with commits made by the real `git`.
struct ReleaseRepo {
    path: PathBuf,
    _dir: tempfile::TempDir,
}

impl ReleaseRepo {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("releases");
        std::fs::create_dir(&path).unwrap();
        git(&path, &["init", "--quiet", "--initial-branch=main"]);
        Self { path, _dir: dir }
    }

    fn write(&self, relative: &str, content: &[u8]) -> &Self {
        let file = self.path.join(relative);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, content).unwrap();
        self
    }

    fn version(&self, app: &str, min_runtime: &str, components: &[(&str, &str)]) -> &Self {
        let components: serde_json::Map<String, serde_json::Value> = components
            .iter()
            .map(|(n, v)| (n.to_string(), serde_json::Value::from(*v)))
            .collect();
        let json = serde_json::json!({ "app_version": app, "min_runtime": min_runtime, "components": components });
        self.write("version.json", json.to_string().as_bytes())
    }

    fn commit(&self, message: &str) {
        git(&self.path, &["add", "--all"]);
        git(
            &self.path,
            &[
                "-c",
                "user.name=Release",
                "-c",
                "user.email=release@localhost",
                "commit",
                "--quiet",
                "-m",
                message,
            ],
        );
    }

    fn url(&self) -> String {
        self.path.display().to_string()
    }
}

fn git(dir: &Path, args: &[&str]) {
    let status = Command::new("git")
        .args(args)
        .current_dir(dir)
        .status()
        .expect("git is installed");
    assert!(status.success(), "git {args:?} failed");
}

fn update(addr: std::net::SocketAddr, body: Option<&str>) -> common::Response {
    let request = Request::post("/api/admin/system/update").key(KEY);
    match body {
        Some(body) => request.json(body).send(addr),
        None => request.send(addr),
    }
}

fn frontend_release(version: &str, login_text: &str) -> ReleaseRepo {
    let repo = ReleaseRepo::new();
    repo.version(version, "0.1.0", &[("frontend", version)])
        .write("frontend/login.html", login_text.as_bytes())
        .write("frontend/home.html", b"<!doctype html><title>home</title>")
        .write("frontend/app.css", b"body{}");
    repo.commit("release");
    repo
}

fn start_with(repo: &ReleaseRepo) -> TestServer {
    TestServer::start(&[("UPDATE_REPO", &repo.url())])
}

fn status(server: &TestServer) -> serde_json::Value {
    server
        .send(Request::get("/api/admin/system/status").key(KEY))
        .json()
}

// --- configuration ---

#[test]
fn unconfigured_updates_say_how_to_configure() {
    let server = TestServer::start(&[]);
    let response = update(server.addr, None);
    assert_eq!(response.status, 409);
    let detail = response.json()["detail"].as_str().unwrap().to_owned();
    assert!(detail.contains("UPDATE_REPO"), "{detail}");
}

#[test]
fn running_update_answers_409() {
    let repo = frontend_release("1.0.0", "new login");
    let server = start_with(&repo);
    server.gate.update_running.store(true, Ordering::SeqCst);
    assert_eq!(update(server.addr, None).status, 409);
    server.gate.update_running.store(false, Ordering::SeqCst);
    assert_eq!(update(server.addr, None).status, 200);
}

#[test]
fn update_needs_credentials() {
    let repo = frontend_release("1.0.0", "new login");
    let server = start_with(&repo);
    assert_eq!(
        server
            .send(Request::post("/api/admin/system/update"))
            .status,
        401
    );
    assert!(!server.dir.path().join("components").exists());
}

#[test]
fn malformed_update_bodies_are_rejected() {
    let repo = frontend_release("1.0.0", "new login");
    let server = start_with(&repo);
    for (body, status) in [
        ("{", 400),
        (r#"{"skip_components":"frontend"}"#, 422),
        (r#"{"skip_components":[1]}"#, 422),
        (r#"[["frontend"]]"#, 422),
        ("[]", 422),
    ] {
        assert_eq!(update(server.addr, Some(body)).status, status, "{body}");
    }
    let text = Request::post("/api/admin/system/update")
        .key(KEY)
        .header("Content-Type", "text/plain")
        .body(b"x");
    assert_eq!(server.send(text).status, 415);
    assert!(!server.dir.path().join("components").exists());
}

// --- installing ---

#[test]
fn frontend_update_serves_the_new_pages() {
    let repo = frontend_release("1.2.0", "<!doctype html><title>new login page</title>");
    let server = start_with(&repo);
    assert!(!server.get("/login").text().contains("new login page"));

    let response = update(server.addr, None);
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(
        response.text(),
        r#"{"updated":["frontend"],"restart_needed":false,"message":"Updated: frontend"}"#
    );
    assert!(server.get("/login").text().contains("new login page"));
    assert_eq!(server.get("/static/app.css").text(), "body{}");

    let status = status(&server);
    assert_eq!(status["maintenance"], false);
    assert_eq!(status["components"][0]["name"], "frontend");
    assert_eq!(status["components"][0]["version"], "1.2.0");
    assert_eq!(status["components"][0]["present"], true);
    assert_eq!(status["update"]["state"], "idle");
    assert_eq!(
        status["update"]["last_result"]["message"],
        "Updated: frontend"
    );
}

#[test]
fn nothing_newer_is_up_to_date() {
    let repo = frontend_release("1.0.0", "login");
    let server = start_with(&repo);
    assert_eq!(update(server.addr, None).status, 200);
    let again = update(server.addr, None);
    assert_eq!(
        again.text(),
        r#"{"updated":[],"restart_needed":false,"message":"Everything up to date"}"#
    );
}

#[test]
fn a_newer_commit_is_fetched() {
    let repo = frontend_release("1.0.0", "first login");
    let server = start_with(&repo);
    update(server.addr, None);
    repo.version("1.1.0", "0.1.0", &[("frontend", "1.1.0")])
        .write("frontend/login.html", b"second login");
    repo.commit("release 1.1.0");

    let response = update(server.addr, None);
    assert_eq!(response.json()["updated"][0], "frontend");
    assert_eq!(server.get("/login").text(), "second login");
}

#[test]
fn damaged_clone_is_cloned_again() {
    let repo = frontend_release("1.0.0", "login");
    let server = start_with(&repo);
    update(server.addr, None);
    std::fs::remove_file(server.dir.path().join(".repo/.git/HEAD")).unwrap();
    repo.version("1.1.0", "0.1.0", &[("frontend", "1.1.0")])
        .write("frontend/login.html", b"after reclone");
    repo.commit("release 1.1.0");

    assert_eq!(update(server.addr, None).status, 200);
    assert_eq!(server.get("/login").text(), "after reclone");
}

#[test]
fn skipped_components_keep_their_version() {
    let repo = ReleaseRepo::new();
    repo.version("2.0", "0.1", &[("frontend", "2.0"), ("models", "2.0")])
        .write("frontend/login.html", b"login")
        .write("models/list.txt", b"models");
    repo.commit("release");
    let server = start_with(&repo);

    let response = update(server.addr, Some(r#"{"skip_components":["models"]}"#));
    assert_eq!(response.json()["updated"], serde_json::json!(["frontend"]));
    assert!(!server.dir.path().join("components/models").exists());
    let local: serde_json::Value =
        serde_json::from_slice(&std::fs::read(server.dir.path().join("version.json")).unwrap())
            .unwrap();
    assert_eq!(local["components"]["frontend"], "2.0");
    assert!(local["components"].get("models").is_none());
}

#[test]
fn newer_runtime_requirement_blocks() {
    let repo = ReleaseRepo::new();
    repo.version("9.0", "99.0", &[("frontend", "9.0")])
        .write("frontend/login.html", b"x");
    repo.commit("release");
    let server = start_with(&repo);
    let response = update(server.addr, None);
    assert_eq!(response.status, 200);
    let body = response.json();
    assert_eq!(body["updated"], serde_json::json!([]));
    assert_eq!(body["blocked"], true);
    assert!(body["message"].as_str().unwrap().contains("99.0"));
    assert!(!server.dir.path().join("components").exists());
}

// --- failures lose nothing ---

fn installed_login(server: &TestServer) -> String {
    std::fs::read_to_string(server.dir.path().join("components/frontend/login.html")).unwrap()
}

fn assert_untouched_after_failure(
    server: &TestServer,
    response: &common::Response,
    status: u16,
    detail_part: &str,
) {
    assert_eq!(response.status, status, "{}", response.text());
    let detail = response.json()["detail"].as_str().unwrap().to_owned();
    assert!(detail.contains(detail_part), "{detail}");
    assert_eq!(installed_login(server), "installed login");
    let state = status_of(server);
    assert_eq!(state["maintenance"], false);
    assert_eq!(state["update"]["state"], "idle");
    assert!(state["update"]["last_error"]
        .as_str()
        .unwrap()
        .contains(detail_part));
    assert!(!server.dir.path().join(".update").exists());
    assert_eq!(server.get("/api/health").status, 200);
}

fn status_of(server: &TestServer) -> serde_json::Value {
    status(server)
}

/// A server with frontend 1.0 installed from `repo`; `repo` then gets a broken release.
fn installed(repo: &ReleaseRepo) -> TestServer {
    repo.version("1.0", "0.1", &[("frontend", "1.0")])
        .write("frontend/login.html", b"installed login");
    repo.commit("good release");
    let server = start_with(repo);
    assert_eq!(update(server.addr, None).status, 200);
    server
}

#[test]
fn fetch_failure_is_502_and_never_enters_maintenance() {
    let server = TestServer::start(&[("UPDATE_REPO", "/nonexistent/release/repo")]);
    let response = update(server.addr, None);
    assert_eq!(response.status, 502);
    assert!(response.json()["detail"]
        .as_str()
        .unwrap()
        .starts_with("Fetching the release failed"));
    assert_eq!(status(&server)["maintenance"], false);
    assert!(status(&server)["update"]["last_error"].is_string());
}

#[test]
fn fetch_failure_does_not_echo_url_credentials() {
    let server = TestServer::start(&[(
        "UPDATE_REPO",
        "http://user:s3cr3t-token@127.0.0.1:9/none.git",
    )]);
    let response = update(server.addr, None);
    assert_eq!(response.status, 502);
    assert!(
        !response.text().contains("s3cr3t-token"),
        "{}",
        response.text()
    );
}

#[test]
fn malformed_version_file_is_500_and_changes_nothing() {
    let repo = ReleaseRepo::new();
    let server = installed(&repo);
    repo.write(
        "version.json",
        br#"{"app_version":"2.0","min_runtime":"0.1","components":{"frontend":"two"}}"#,
    );
    repo.write("frontend/login.html", b"broken login");
    repo.commit("broken release");
    let response = update(server.addr, None);
    assert_untouched_after_failure(&server, &response, 500, "component frontend");
}

/// Gives `repo` a release of frontend 2.0 and a backend whose `studio-gate` is `script`.
fn release_with_backend_script(repo: &ReleaseRepo, script: &[u8], mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    repo.version("2.0", "0.1", &[("frontend", "2.0"), ("backend", "1.0")])
        .write("frontend/login.html", b"new login")
        .write("backend/studio-gate", script);
    std::fs::set_permissions(
        repo.path.join("backend/studio-gate"),
        std::fs::Permissions::from_mode(mode),
    )
    .unwrap();
    repo.commit("release with a backend");
}

#[test]
fn backend_that_cannot_run_changes_nothing() {
    let repo = ReleaseRepo::new();
    let server = installed(&repo);
    release_with_backend_script(&repo, b"#!/bin/sh\nexit 1\n", 0o755);
    let response = update(server.addr, None);
    assert_untouched_after_failure(&server, &response, 500, "does not run");
    assert!(!server.dir.path().join("components/backend").exists());
}

#[test]
fn backend_that_is_not_studio_gate_changes_nothing() {
    let repo = ReleaseRepo::new();
    let server = installed(&repo);
    release_with_backend_script(&repo, b"#!/bin/sh\necho hello\n", 0o755);
    let response = update(server.addr, None);
    assert_untouched_after_failure(&server, &response, 500, "did not print");
}

#[test]
fn backend_binary_without_exec_bit_changes_nothing() {
    let repo = ReleaseRepo::new();
    let server = installed(&repo);
    release_with_backend_script(&repo, b"#!/bin/sh\necho studio-gate 9.9\n", 0o644);
    let response = update(server.addr, None);
    assert_untouched_after_failure(&server, &response, 500, "not an executable file");
}

#[test]
fn missing_component_folder_changes_nothing() {
    let repo = ReleaseRepo::new();
    let server = installed(&repo);
    repo.version("2.0", "0.1", &[("frontend", "2.0"), ("models", "2.0")])
        .write("frontend/login.html", b"new login");
    repo.commit("release without models folder");
    let response = update(server.addr, None);
    assert_untouched_after_failure(&server, &response, 500, "models/ is missing");
}

#[test]
fn symlink_in_component_changes_nothing() {
    let repo = ReleaseRepo::new();
    let server = installed(&repo);
    repo.version("2.0", "0.1", &[("frontend", "2.0")])
        .write("frontend/login.html", b"new login");
    std::os::unix::fs::symlink("/etc/passwd", repo.path.join("frontend/passwd")).unwrap();
    repo.commit("release with a symlink");
    let response = update(server.addr, None);
    assert_untouched_after_failure(&server, &response, 500, "symlink");
}

#[test]
fn interrupted_update_is_undone_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let studio = dir.path();
    std::fs::create_dir_all(studio.join("components/frontend")).unwrap();
    std::fs::create_dir_all(studio.join(".update/old/frontend")).unwrap();
    std::fs::write(studio.join(".update/old/frontend/login.html"), "old login").unwrap();
    std::fs::write(
        studio.join("components/frontend/login.html"),
        "half-installed login",
    )
    .unwrap();
    std::fs::write(
        studio.join(".update/journal.json"),
        r#"{"update_id":"x","components":[{"name":"frontend","had_old":true}]}"#,
    )
    .unwrap();
    std::fs::write(
        studio.join("version.json"),
        r#"{"components":{"frontend":"1.0"}}"#,
    )
    .unwrap();

    let server = TestServer::start_in(dir, &[]);
    assert_eq!(server.get("/login").text(), "old login");
    assert!(!server.dir.path().join(".update").exists());
}

#[test]
fn unfinished_copy_cleaned_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let studio = dir.path().join("studio");
    std::fs::create_dir_all(studio.join(".update/new/frontend")).unwrap();
    std::fs::write(studio.join(".update/new/frontend/login.html"), "half").unwrap();
    let studio_text = studio.display().to_string();

    let server = BinaryServer::start(
        dir.path(),
        &[("API_KEY", KEY), ("STUDIO_DIR", &studio_text)],
    );
    assert!(!studio.join(".update").exists());
    let log = server.stop();
    assert!(log.contains("left by an unfinished update"), "{log}");
}

// --- maintenance during the copy ---

#[test]
fn second_client_sees_maintenance_during_a_long_copy() {
    let repo = ReleaseRepo::new();
    repo.version("1.0", "0.1", &[("models", "1.0")]);
    let block = vec![7u8; 256 * 1024];
    for index in 0..160 {
        repo.write(&format!("models/part-{index:03}.bin"), &block);
    }
    repo.commit("large release");
    let server = start_with(&repo);

    let addr = server.addr;
    let updater = std::thread::spawn(move || update(addr, None));
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = Vec::new();
    while !updater.is_finished() && Instant::now() < deadline {
        let response = server.get("/api/health");
        if response.status == 503 {
            seen.push(response);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let answer = updater.join().unwrap();
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert!(
        !seen.is_empty(),
        "no request saw maintenance during the copy"
    );
    let during = &seen[0];
    assert_eq!(
        during.text(),
        r#"{"detail":"System is updating, please wait..."}"#
    );
    assert_eq!(during.header("retry-after"), Some("3"));
    assert_eq!(server.get("/api/health").status, 200);
}

// --- backend restarts ---

fn wait_for_new_process(
    addr: std::net::SocketAddr,
    old_uptime_floor: Duration,
) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        if std::net::TcpStream::connect(addr).is_err() {
            continue;
        }
        let response = Request::get("/api/admin/system/status").key(KEY).send(addr);
        if response.status == 200 {
            let status = response.json();
            if status["uptime_secs"].as_u64().unwrap() < old_uptime_floor.as_secs() {
                return status;
            }
        }
    }
    panic!("the server did not come back");
}

/// Starts the binary with `repo` as `UPDATE_REPO` and a `studio` folder in a new temporary
/// folder, then waits until it has been up for 2 seconds, so that a fresh process shows a
/// lower uptime.
fn start_binary_with(repo: &ReleaseRepo) -> (tempfile::TempDir, BinaryServer) {
    let dir = tempfile::tempdir().unwrap();
    let studio_text = dir.path().join("studio").display().to_string();
    let repo_url = repo.url();
    let server = BinaryServer::start(
        dir.path(),
        &[
            ("API_KEY", KEY),
            ("STUDIO_DIR", &studio_text),
            ("UPDATE_REPO", &repo_url),
        ],
    );
    std::thread::sleep(Duration::from_millis(2100));
    (dir, server)
}

#[test]
fn backend_update_restarts_as_a_fresh_process() {
    let repo = ReleaseRepo::new();
    repo.version("1.0", "0.1", &[("backend", "1.0")])
        .write("backend/README", b"backend without its own binary");
    repo.commit("backend release");
    let (_dir, server) = start_binary_with(&repo);

    let response = update(server.addr, None);
    assert_eq!(
        response.text(),
        r#"{"updated":["backend"],"restart_needed":true,"message":"Updated: backend"}"#
    );
    let status = wait_for_new_process(server.addr, Duration::from_secs(2));
    assert_eq!(status["maintenance"], false);
    assert_eq!(status["components"][0]["name"], "backend");
    // The new process still reports how the update that started it ended.
    assert_eq!(status["update"]["state"], "idle");
    assert_eq!(
        status["update"]["last_result"]["message"],
        "Updated: backend"
    );
    assert!(status["update"]["last_finished_at"].as_u64().is_some());
    assert!(server
        .log_text()
        .contains("restarting to run the new backend"));
}

#[test]
fn backend_with_its_own_binary_runs_it() {
    let repo = ReleaseRepo::new();
    let binary = std::fs::read(env!("CARGO_BIN_EXE_studio-gate")).unwrap();
    repo.version("1.0", "0.1", &[("backend", "1.0")])
        .write("backend/studio-gate", &binary);
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            repo.path.join("backend/studio-gate"),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
    }
    repo.commit("backend release with binary");
    let (dir, server) = start_binary_with(&repo);
    let studio = dir.path().join("studio");

    assert_eq!(update(server.addr, None).json()["restart_needed"], true);
    let status = wait_for_new_process(server.addr, Duration::from_secs(2));
    let pid = status["pid"].as_u64().unwrap();
    let executable = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap();
    assert_eq!(executable, studio.join("components/backend/studio-gate"));
}
