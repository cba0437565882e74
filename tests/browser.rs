//! Real-browser end-to-end tests: Debian's chromium, driven by playwright-core from the Node
//! harness in `tests/browser/`, against studio-gate servers on 127.0.0.1 and 127.0.0.2.
//!
//! Each test starts the servers its scenario needs in this process and runs
//! `node tests/browser/run.mjs SCENARIO SETUP_JSON`. For actions that only this process can
//! take (turn maintenance on or off, stop a server), the harness prints `control ACTION` and
//! reads `done ACTION` or `failed ACTION: REASON` on its standard input.
//!
//! Chromium gets a proxy on a loopback port that only this process listens on, so any request
//! to a host other than the test servers ends there and fails the test, and never leaves the
//! machine.
//!
//! Without chromium, node or `tests/browser/node_modules`, the tests print why they were
//! skipped and pass, except under `CI=true`, where they fail.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use common::{TestServer, KEY};

/// The browser the harness launches. It never downloads one of its own.
const CHROMIUM: &str = "/usr/bin/chromium";

/// The folder of the Node harness and its `node_modules`.
const HARNESS_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/browser");

/// The oldest Node major version that playwright-core supports (its `engines` field).
const MIN_NODE_MAJOR: u32 = 20;

/// Time limit of one scenario. The harness gives up after 45 s on its own; this only ends a
/// harness that hangs.
const SCENARIO_TIMEOUT: Duration = Duration::from_secs(60);

/// Time a control action may take to stop a server with open browser connections.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// The host name that chromium resolves to 127.0.0.2 in the plain-HTTP cookie test. `.test`
/// is reserved for testing (RFC 2606), so the name cannot belong to anyone.
const PLAIN_HTTP_HOST: &str = "studio.test";

/// Serializes the scenarios, because each starts a chromium and the test machines have two
/// cores.
static BROWSER_LOCK: Mutex<()> = Mutex::new(());

// ---- Prerequisites ----

/// Returns why the browser tests cannot run here, or `None` if they can.
fn missing_prerequisite() -> Option<String> {
    if !Path::new(CHROMIUM).is_file() {
        return Some(format!(
            "{CHROMIUM} is missing (install Debian's chromium package)"
        ));
    }
    let node_version = match Command::new("node").arg("--version").output() {
        Ok(output) if output.status.success() => {
            String::from_utf8_lossy(&output.stdout).trim().to_owned()
        }
        _ => {
            return Some(format!(
                "node is not on PATH (install Node.js {MIN_NODE_MAJOR} or newer)"
            ))
        }
    };
    let major = node_version
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|major| major.parse::<u32>().ok());
    if major.is_none_or(|major| major < MIN_NODE_MAJOR) {
        return Some(format!(
            "node {node_version} is older than {MIN_NODE_MAJOR}, which playwright-core needs"
        ));
    }
    let playwright = Path::new(HARNESS_DIR).join("node_modules/playwright-core/package.json");
    if !playwright.is_file() {
        return Some(format!(
            "{HARNESS_DIR}/node_modules is missing (run `npm ci` in tests/browser)"
        ));
    }
    None
}

fn is_ci() -> bool {
    std::env::var("CI").is_ok_and(|value| value.eq_ignore_ascii_case("true"))
}

/// Returns true if the browser tests can run. Otherwise fails under CI, and elsewhere prints
/// once why they are skipped.
fn browser_available() -> bool {
    static MISSING: OnceLock<Option<String>> = OnceLock::new();
    let missing = MISSING.get_or_init(|| {
        let reason = missing_prerequisite()?;
        if !is_ci() {
            // Written to stderr directly, because the test harness hides `eprintln!` output
            // of passing tests.
            let _ = writeln!(
                std::io::stderr(),
                "\nbrowser tests SKIPPED: {reason}. They pass without running here; \
                 with CI=true they fail."
            );
        }
        Some(reason)
    });
    match missing {
        None => true,
        Some(reason) => {
            assert!(!is_ci(), "browser tests cannot run under CI=true: {reason}");
            false
        }
    }
}

// ---- Running the harness ----

/// Returns the folder for screenshots, `browser-screenshots` in cargo's target folder.
fn screenshot_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("CARGO_TARGET_TMPDIR is inside the target folder")
        .join("browser-screenshots")
}

fn base_url(addr: SocketAddr) -> String {
    format!("http://{addr}")
}

/// Builds the setup of a scenario on `server`, whose origin is the only one the page may
/// request.
fn setup_for(server: &TestServer) -> Value {
    json!({
        "baseUrl": base_url(server.addr),
        "apiKey": KEY,
        "appVersion": studio_gate::APP_VERSION,
        "pid": std::process::id(),
        "screenshotDir": screenshot_dir(),
        "browser": {
            "allowedOrigins": [base_url(server.addr)],
        },
    })
}

/// A loopback listener that chromium uses as its proxy. Every connection to it is a request
/// to a host other than the test servers.
struct ProxyTrap(TcpListener);

impl ProxyTrap {
    fn open() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy trap");
        listener
            .set_nonblocking(true)
            .expect("make the proxy trap non-blocking");
        Self(listener)
    }

    fn port(&self) -> u16 {
        self.0.local_addr().expect("proxy trap address").port()
    }

    /// Returns the first line of each request that reached the trap, such as
    /// `CONNECT host:443 HTTP/1.1`.
    fn requests(&self) -> Vec<String> {
        let mut requests = Vec::new();
        while let Ok((mut stream, _)) = self.0.accept() {
            let _ = stream.set_nonblocking(false);
            let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
            let mut head = [0u8; 512];
            let read = stream.read(&mut head).unwrap_or(0);
            let text = String::from_utf8_lossy(&head[..read]);
            requests.push(text.lines().next().unwrap_or("(nothing sent)").to_owned());
        }
        requests
    }
}

/// Runs `scenario` in the harness with `setup`, calling `control` for each control action,
/// and panics with the harness's message if a check fails.
fn run_scenario(
    scenario: &str,
    mut setup: Value,
    mut control: impl FnMut(&str) -> Result<(), String>,
) {
    let _one_browser = BROWSER_LOCK.lock().unwrap_or_else(PoisonError::into_inner);
    let trap = ProxyTrap::open();
    // Owned here, so the profile is deleted even when the harness crashes or is killed.
    let profile = tempfile::Builder::new()
        .prefix("studio-gate-browser-")
        .tempdir()
        .expect("create the browser profile folder");
    setup["browser"]["proxyPort"] = json!(trap.port());
    setup["browser"]["closedPort"] = json!(common::free_port());
    setup["browser"]["profileDir"] = json!(profile.path());

    let started = Instant::now();
    let mut child = Command::new("node")
        .arg("run.mjs")
        .arg(scenario)
        .arg(setup.to_string())
        .current_dir(HARNESS_DIR)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start node");
    let mut stdin = child.stdin.take().expect("harness stdin");
    let lines = read_lines_in_background(child.stdout.take().expect("harness stdout"));
    let mut stderr = child.stderr.take().expect("harness stderr");
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });

    let mut output = String::new();
    let deadline = started + SCENARIO_TIMEOUT;
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        let line = match lines.recv_timeout(remaining) {
            Ok(line) => line,
            Err(RecvTimeoutError::Disconnected) => break,
            Err(RecvTimeoutError::Timeout) => {
                stop_harness(&mut child);
                panic!(
                    "browser scenario {scenario} did not finish within {SCENARIO_TIMEOUT:?}; \
                     its output:\n{output}"
                );
            }
        };
        output.push_str(&line);
        output.push('\n');
        if let Some(action) = line.strip_prefix("control ") {
            let reply = match control(action) {
                Ok(()) => format!("done {action}\n"),
                Err(reason) => format!("failed {action}: {reason}\n"),
            };
            output.push_str(&reply);
            // A harness that has exited cannot read the reply, and its exit status shows why.
            let _ = stdin
                .write_all(reply.as_bytes())
                .and_then(|()| stdin.flush());
        }
    }
    drop(stdin);

    let status = wait_with_deadline(&mut child, deadline);
    let errors = errors.join().unwrap_or_default();
    let elapsed = started.elapsed();
    assert!(
        status.is_some_and(|status| status.success()),
        "browser scenario {scenario} failed after {elapsed:.1?}:\n{errors}\nharness output:\n{output}"
    );
    let escaped = trap.requests();
    assert!(
        escaped.is_empty(),
        "browser scenario {scenario}: chromium tried to reach hosts other than the test servers: \
         {escaped:?}"
    );
}

/// Forwards the lines of `stdout` to the returned channel, which disconnects at the end.
fn read_lines_in_background(stdout: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    receiver
}

/// Waits for the harness to exit until `deadline`, then kills it. Returns its exit status,
/// or `None` if it had to be killed.
fn wait_with_deadline(child: &mut Child, deadline: Instant) -> Option<std::process::ExitStatus> {
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    stop_harness(child);
    None
}

fn stop_harness(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// A control handler for scenarios that ask for no control action.
fn no_control(action: &str) -> Result<(), String> {
    Err(format!("this scenario has no control action {action}"))
}

/// A control handler that turns maintenance on `server` on and off.
fn maintenance_control(server: &TestServer) -> impl FnMut(&str) -> Result<(), String> + '_ {
    |action| match action {
        "maintenance-on" => {
            server.gate.maintenance.set(true);
            Ok(())
        }
        "maintenance-off" => {
            server.gate.maintenance.set(false);
            Ok(())
        }
        other => no_control(other),
    }
}

// ---- Scenarios ----

#[test]
fn login_logout_and_back_button() {
    if !browser_available() {
        return;
    }
    let server = TestServer::start(&[]);
    run_scenario("login-logout", setup_for(&server), no_control);
}

#[test]
fn login_follows_only_same_origin_next() {
    if !browser_available() {
        return;
    }
    let server = TestServer::start(&[]);
    run_scenario("next-redirect", setup_for(&server), no_control);
}

#[test]
fn login_page_shows_wait_after_failures() {
    if !browser_available() {
        return;
    }
    let server = TestServer::start(&[]);
    run_scenario("login-limit", setup_for(&server), no_control);
}

#[test]
fn maintenance_page_reloads_until_off() {
    if !browser_available() {
        return;
    }
    let server = TestServer::start(&[]);
    run_scenario(
        "maintenance",
        setup_for(&server),
        maintenance_control(&server),
    );
}

#[test]
fn login_page_reports_stopped_server() {
    if !browser_available() {
        return;
    }
    let server = TestServer::start(&[]);
    run_scenario("server-stopped", setup_for(&server), |action| {
        if action != "stop-server" {
            return no_control(action);
        }
        if server.shut_down(SHUTDOWN_TIMEOUT) {
            Ok(())
        } else {
            Err(format!(
                "connections still open {SHUTDOWN_TIMEOUT:?} after shutdown"
            ))
        }
    });
}

#[test]
fn secure_cookie_over_plain_http_is_explained() {
    if !browser_available() {
        return;
    }
    let secure = TestServer::start_on("127.0.0.2", &[]);
    let plain = TestServer::start_on("127.0.0.2", &[("COOKIE_SECURE", "false")]);
    let secure_url = format!("http://{PLAIN_HTTP_HOST}:{}", secure.addr.port());
    let plain_url = format!("http://{PLAIN_HTTP_HOST}:{}", plain.addr.port());

    let mut setup = setup_for(&secure);
    setup["secureCookieUrl"] = json!(secure_url);
    setup["plainCookieUrl"] = json!(plain_url);
    setup["browser"] = json!({
        "allowedOrigins": [secure_url, plain_url],
        "proxyBypass": [PLAIN_HTTP_HOST],
        "hostResolverRules": format!("MAP {PLAIN_HTTP_HOST} 127.0.0.2"),
    });
    run_scenario("secure-cookie", setup, no_control);
}

#[test]
fn pages_render_without_errors() {
    if !browser_available() {
        return;
    }
    let server = TestServer::start(&[]);
    run_scenario(
        "pages-render-cleanly",
        setup_for(&server),
        maintenance_control(&server),
    );
}
