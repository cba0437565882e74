//! Shared test support: a real studio-gate on 127.0.0.1 and a raw HTTP/1.1 client.
//!
//! The client writes request bytes as given, so tests can send targets that other clients
//! would normalise (`/static/../home`, `//home`, absolute-form).

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use studio_gate::{http_config, served_app, Config, Gate};

/// The key every in-process test server uses.
pub const KEY: &str = "test-key-0123456789";

/// A response as it came over the socket.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// Returns the first value of the header `name`, ignoring case.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// Returns every value of the header `name`.
    pub fn headers_named(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
            .collect()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|error| panic!("body is not JSON ({error}): {}", self.text()))
    }

    /// Returns the `session` cookie value set by this response, if any.
    pub fn session_cookie(&self) -> Option<String> {
        self.headers_named("set-cookie")
            .into_iter()
            .find_map(|cookie| {
                let value = cookie.strip_prefix("session=")?.split(';').next()?;
                (!value.is_empty()).then(|| value.to_owned())
            })
    }
}

/// Sends `raw` bytes to `addr` and reads the response until the server closes or the body is
/// complete. Panics after 60 seconds without a byte, because an update that copies a large
/// backend responds only when the copy is done, which takes a while on a loaded machine.
pub fn send_raw(addr: SocketAddr, raw: &[u8]) -> Response {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    stream.write_all(raw).expect("write request");
    read_response(&mut stream)
}

fn read_response(stream: &mut TcpStream) -> Response {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        if let Some(response) = parse_complete(&buffer) {
            return response;
        }
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(read) => buffer.extend_from_slice(&chunk[..read]),
            Err(error) if error.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(error) => panic!(
                "read failed: {error}; got {:?}",
                String::from_utf8_lossy(&buffer)
            ),
        }
    }
    parse_complete(&buffer)
        .or_else(|| parse_head(&buffer).map(|(response, _)| response))
        .unwrap_or_else(|| panic!("no complete answer: {:?}", String::from_utf8_lossy(&buffer)))
}

fn parse_head(buffer: &[u8]) -> Option<(Response, usize)> {
    let end = buffer.windows(4).position(|window| window == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&buffer[..end]).ok()?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_owned(), value.trim().to_owned()))
        .collect();
    let body = buffer[end + 4..].to_vec();
    Some((
        Response {
            status,
            headers,
            body,
        },
        end + 4,
    ))
}

fn parse_complete(buffer: &[u8]) -> Option<Response> {
    let (mut response, _) = parse_head(buffer)?;
    let length: usize = response.header("content-length")?.parse().ok()?;
    if response.body.len() < length {
        return None;
    }
    response.body.truncate(length);
    Some(response)
}

/// A request under construction.
pub struct Request {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    pub fn new(method: &str, target: &str) -> Self {
        Self {
            method: method.into(),
            target: target.into(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    pub fn get(target: &str) -> Self {
        Self::new("GET", target)
    }

    pub fn post(target: &str) -> Self {
        Self::new("POST", target)
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn key(self, key: &str) -> Self {
        self.header("X-API-Key", key)
    }

    pub fn cookie(self, value: &str) -> Self {
        self.header("Cookie", &format!("session={value}"))
    }

    pub fn json(mut self, body: &str) -> Self {
        self.headers
            .push(("Content-Type".into(), "application/json".into()));
        self.body = body.as_bytes().to_vec();
        self
    }

    pub fn body(mut self, body: &[u8]) -> Self {
        self.body = body.to_vec();
        self
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut raw = format!(
            "{} {} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n",
            self.method, self.target
        );
        for (name, value) in &self.headers {
            raw.push_str(&format!("{name}: {value}\r\n"));
        }
        if !self.body.is_empty() || self.method == "POST" {
            raw.push_str(&format!("Content-Length: {}\r\n", self.body.len()));
        }
        raw.push_str("\r\n");
        let mut bytes = raw.into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }

    pub fn send(&self, addr: SocketAddr) -> Response {
        send_raw(addr, &self.to_bytes())
    }
}

/// A studio-gate running in this process on 127.0.0.1, with its own `STUDIO_DIR`.
pub struct TestServer {
    pub addr: SocketAddr,
    pub gate: Arc<Gate>,
    pub dir: tempfile::TempDir,
    handle: trillium_server_common::ServerHandle,
}

impl TestServer {
    /// Starts a server with the test key and `extra` variables on top of the defaults.
    pub fn start(extra: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        Self::start_in(dir, extra)
    }

    pub fn start_in(dir: tempfile::TempDir, extra: &[(&str, &str)]) -> Self {
        Self::start_with(dir, "127.0.0.1", extra)
    }

    /// Starts a server like [`TestServer::start`], but listening on `host`, a loopback address
    /// such as `127.0.0.2`.
    pub fn start_on(host: &str, extra: &[(&str, &str)]) -> Self {
        Self::start_with(tempfile::tempdir().unwrap(), host, extra)
    }

    /// Starts the app as the binary serves it, on `host` and a port the system picks.
    fn start_with(dir: tempfile::TempDir, host: &str, extra: &[(&str, &str)]) -> Self {
        let mut vars: Vec<(String, String)> = vec![
            ("API_KEY".into(), KEY.into()),
            ("STUDIO_DIR".into(), dir.path().display().to_string()),
        ];
        vars.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let config = Config::from_lookup(|name| {
            vars.iter()
                .rev()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.into())
        })
        .expect("test configuration");
        let gate = Arc::new(Gate::open(&config).expect("open gate"));
        let handle = trillium_smol::config()
            .with_host(host)
            .with_port(0)
            .without_signals()
            .with_nodelay()
            .with_http_config(http_config())
            .spawn(served_app(gate.clone()));
        let info = trillium_smol::async_global_executor::block_on(handle.info());
        let addr = *info.tcp_socket_addr().expect("bound address");
        Self {
            addr,
            gate,
            dir,
            handle,
        }
    }

    /// Stops accepting connections and waits up to `timeout` for open connections to close.
    /// Returns false if some were still open when the timeout ran out.
    pub fn shut_down(&self, timeout: Duration) -> bool {
        let completion = self.handle.shut_down();
        trillium_smol::async_global_executor::block_on(smol::future::or(
            async {
                completion.await;
                true
            },
            async {
                smol::Timer::after(timeout).await;
                false
            },
        ))
    }

    pub fn send(&self, request: Request) -> Response {
        request.send(self.addr)
    }

    pub fn get(&self, target: &str) -> Response {
        Request::get(target).send(self.addr)
    }

    /// Logs in with the test key and returns the session cookie value.
    pub fn login(&self) -> String {
        let response =
            self.send(Request::post("/api/auth/login").json(&format!(r#"{{"api_key":"{KEY}"}}"#)));
        assert_eq!(response.status, 200, "{}", response.text());
        response.session_cookie().expect("login sets a cookie")
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        drop(self.handle.shut_down());
    }
}

/// The studio-gate binary, running as a child process on 127.0.0.1.
pub struct BinaryServer {
    pub addr: SocketAddr,
    pub child: Child,
    pub log: PathBuf,
}

impl BinaryServer {
    /// Starts the binary with `vars` (and nothing else from this environment but `PATH`) and
    /// waits until it answers `/api/health`.
    pub fn start(dir: &Path, vars: &[(&str, &str)]) -> Self {
        let port = free_port();
        let log = dir.join(format!("server-{port}.log"));
        let log_file = std::fs::File::create(&log).unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_studio-gate"));
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOST", "127.0.0.1")
            .env("PORT", port.to_string())
            .env("RUST_LOG", "trace")
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().unwrap())
            .stderr(log_file);
        for (name, value) in vars {
            command.env(name, value);
        }
        let child = command.spawn().expect("start studio-gate");
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let mut server = Self { addr, child, log };
        server.wait_until_ready();
        server
    }

    fn wait_until_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("studio-gate exited with {status}: {}", self.log_text());
            }
            if TcpStream::connect(self.addr).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("studio-gate did not start: {}", self.log_text());
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends SIGTERM and waits for the process to exit.
    pub fn stop(mut self) -> String {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return self.log_text();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        panic!("studio-gate did not stop on SIGTERM");
    }
}

impl Drop for BinaryServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the binary with `vars` and `args` to completion, returning exit code and output.
pub fn run_binary(dir: &Path, vars: &[(&str, &str)], args: &[&str]) -> (i32, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_studio-gate"));
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .current_dir(dir)
        .args(args);
    for (name, value) in vars {
        command.env(name, value);
    }
    let output = command.output().expect("run studio-gate");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code().unwrap_or(-1), text)
}

/// Returns a port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
