//! Writes the committed seed inputs of every fuzz target to `corpus/<target>/seed-*`.
//!
//! Run it from `fuzz/` with `cargo run --example write_seed_corpus` after changing an input
//! layout or the cookie format. It replaces the `seed-*` files and leaves every other file
//! alone. Cookies are sealed with the library and the fixed key of the `session_open`
//! target, hostile paths come from `tests/paths.rs` and the library's unit tests, and the
//! HTTP requests are the bytes that curl 7.88.1 sends for the README's walkthrough.

use std::collections::HashSet;
use std::fs;
use std::io;
use std::path::Path;

use studio_gate::{Session, SessionId, SessionKey, SessionPolicy, COOKIE_NAME, MAX_BODY_LEN};
use studio_gate_fuzz::{LoginInput, SessionInput, FIXED_SESSION_KEY};

/// A named seed input.
type Seed = (String, Vec<u8>);

/// The maximum number of seeds in one corpus, to keep the committed corpora small.
const MAX_SEEDS_PER_CORPUS: usize = 100;

/// A login time in 2026, in Unix seconds.
const LOGIN: u64 = 1_780_000_000;

/// The default session policy of the server.
const DEFAULT_POLICY: SessionPolicy = SessionPolicy {
    idle_secs: 86_400,
    lifetime_secs: 604_800,
};

/// A key shaped like the one the server generates (43 base64url characters). No server has
/// it: the `http_request` target draws its own key at random.
const SAMPLE_KEY: &str = "kF3x9Qw2Lr8Zp1Vn6Tb4Hy7Jc0Md5Se2Ga9Uo3Ki1X";

fn main() -> io::Result<()> {
    let corpus_root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let corpora = [
        ("session_open", session_open_seeds()),
        ("canonical_path", canonical_path_seeds()),
        ("next_path", next_path_seeds()),
        ("login_body", login_body_seeds()),
        ("http_request", http_request_seeds()),
    ];
    for (target, seeds) in corpora {
        assert!(
            seeds.len() <= MAX_SEEDS_PER_CORPUS,
            "{target} has {} seeds, more than {MAX_SEEDS_PER_CORPUS}",
            seeds.len()
        );
        write_corpus(&corpus_root.join(target), &seeds)?;
        println!("{target}: {} seeds", seeds.len());
    }
    Ok(())
}

/// Replaces the `seed-*` files of `dir` with `seeds`.
fn write_corpus(dir: &Path, seeds: &[Seed]) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        let is_seed = path
            .file_name()
            .and_then(|name| name.to_str())
            .is_some_and(|name| name.starts_with("seed-"));
        if is_seed {
            fs::remove_file(path)?;
        }
    }
    for (name, bytes) in seeds {
        fs::write(dir.join(format!("seed-{name}")), bytes)?;
    }
    Ok(())
}

/// Numbers text inputs in order: `<prefix>-01`, `<prefix>-02`, ...
fn numbered(prefix: &str, inputs: &[&str]) -> Vec<Seed> {
    inputs
        .iter()
        .enumerate()
        .map(|(index, input)| {
            (
                format!("{prefix}-{:02}", index + 1),
                input.as_bytes().to_vec(),
            )
        })
        .collect()
}

// --- session_open ---

fn session_open_seeds() -> Vec<Seed> {
    let key = &*FIXED_SESSION_KEY;
    let id = SessionId::from_bytes(*b"fuzz-session-id!");
    let fresh = Session::new(id, LOGIN);
    let seal = |session: &Session| key.seal(COOKIE_NAME, session);
    let fresh_value = seal(&fresh);

    let mut seeds = vec![
        session_seed("fresh", LOGIN, DEFAULT_POLICY, &fresh_value),
        session_seed(
            "renewed",
            LOGIN + 3_700,
            DEFAULT_POLICY,
            &seal(&fresh.renewed(LOGIN + 3_600)),
        ),
        session_seed(
            "last-idle-second",
            LOGIN + DEFAULT_POLICY.idle_secs - 1,
            DEFAULT_POLICY,
            &fresh_value,
        ),
        session_seed(
            "idle-expired",
            LOGIN + DEFAULT_POLICY.idle_secs,
            DEFAULT_POLICY,
            &fresh_value,
        ),
        session_seed(
            "last-lifetime-second",
            LOGIN + DEFAULT_POLICY.lifetime_secs - 1,
            DEFAULT_POLICY,
            &seal(&fresh.renewed(LOGIN + DEFAULT_POLICY.lifetime_secs - 10)),
        ),
        session_seed(
            "future-within-skew",
            LOGIN,
            DEFAULT_POLICY,
            &seal(&fresh.renewed(LOGIN + 60)),
        ),
        session_seed(
            "future-beyond-skew",
            LOGIN,
            DEFAULT_POLICY,
            &seal(&fresh.renewed(LOGIN + 61)),
        ),
        session_seed(
            "issued-before-login",
            LOGIN,
            DEFAULT_POLICY,
            &seal(&Session {
                issue_time: LOGIN - 1,
                ..fresh
            }),
        ),
        session_seed(
            "one-second-policy",
            LOGIN,
            SessionPolicy {
                idle_secs: 1,
                lifetime_secs: 1,
            },
            &fresh_value,
        ),
        session_seed(
            "clock-near-max",
            u64::MAX - 50,
            SessionPolicy {
                idle_secs: u64::MAX,
                lifetime_secs: u64::MAX,
            },
            &seal(&Session::new(id, u64::MAX - 100)),
        ),
        session_seed(
            "other-cookie-name",
            LOGIN,
            DEFAULT_POLICY,
            &key.seal("session2", &fresh),
        ),
        session_seed(
            "other-key",
            LOGIN,
            DEFAULT_POLICY,
            &SessionKey::derive(b"another secret of thirty-two b..", &[0x5a; 32])
                .seal(COOKIE_NAME, &fresh),
        ),
        session_seed(
            "standard-alphabet",
            LOGIN,
            DEFAULT_POLICY,
            &fresh_value.replace('-', "+").replace('_', "/"),
        ),
        session_seed(
            "nonzero-trailing-bits",
            LOGIN,
            DEFAULT_POLICY,
            &with_trailing_bits_set(&fresh_value),
        ),
        session_seed("padded", LOGIN, DEFAULT_POLICY, &format!("{fresh_value}=")),
        session_seed(
            "truncated",
            LOGIN,
            DEFAULT_POLICY,
            &fresh_value[..fresh_value.len() - 1],
        ),
        session_seed(
            "extended",
            LOGIN,
            DEFAULT_POLICY,
            &format!("{fresh_value}A"),
        ),
        session_seed(
            "quoted",
            LOGIN,
            DEFAULT_POLICY,
            &format!("\"{fresh_value}\""),
        ),
        session_seed("empty", LOGIN, DEFAULT_POLICY, ""),
        session_seed("oversized", LOGIN, DEFAULT_POLICY, &"A".repeat(4096)),
    ];
    // A value without '-' or '_' has the same spelling in the standard alphabet, so keep one copy.
    let mut seen = HashSet::new();
    seeds.retain(|(_, bytes)| seen.insert(bytes.clone()));
    seeds
}

fn session_seed(name: &str, now: u64, policy: SessionPolicy, value: &str) -> Seed {
    let input = SessionInput { now, policy, value };
    (name.to_owned(), input.to_bytes())
}

/// Returns `value` with the two unused low bits of its last base64url character set. The
/// value decodes to the same bytes only for a decoder that ignores those bits.
fn with_trailing_bits_set(value: &str) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut bytes = value.as_bytes().to_vec();
    let last = bytes.last_mut().expect("a sealed value is not empty");
    let index = ALPHABET
        .iter()
        .position(|candidate| candidate == last)
        .expect("a sealed value is base64url");
    *last = ALPHABET[index | 0b11];
    String::from_utf8(bytes).expect("base64url is ASCII")
}

// --- canonical_path ---

fn canonical_path_seeds() -> Vec<Seed> {
    let canonical = [
        "/",
        "/home",
        "/login",
        "/api/health",
        "/api/auth/login",
        "/api/admin/system/status",
        "/static/app.css",
        "/static/fonts/a-b_c~d.woff2",
        "/LOGIN",
        "/staticfoo",
        "/api/healthz",
        "/a:b@c!$&'()*+,=",
        "/static/my%20file%C3%A9.txt",
        "/a%C2%A0",
    ];
    // Dot segments, encoded dots and separators, parameters, double encoding, empty segments,
    // encoded controls, needless escapes and malformed escapes, as in tests/paths.rs.
    let hostile = [
        "/static/../api/admin/system/status",
        "/static/./app.css",
        "/..",
        "/.",
        "/api/health/..",
        "/static/%2E%2E/api/admin/system/status",
        "/static/%2e%2e/api/admin/system/status",
        "/static/.%2E/home",
        "/static/%2E/app.css",
        "/static%2F..%2Fhome",
        "/static/..%2Fapi%2Fadmin%2Fsystem%2Fstatus",
        "/api%2Fhealth",
        "/static/..%5Chome",
        "/static/%5c../home",
        "/login;x",
        "/api/health;.css",
        "/home;jsessionid=1",
        "/home%3B",
        "/static/%252e%252e/home",
        "/api/health%2500",
        "/%252Fhome",
        "//home",
        "//api/health",
        "/static//app.css",
        "/login/",
        "/static/",
        "/api/",
        "/home%00",
        "/login%0D%0ALocation:%20x",
        "/home%09",
        "/home%7F",
        "/%6Cogin",
        "/api/%68ealth",
        "/static/app%2Ecss",
        "/home%",
        "/home%2",
        "/home%G0",
        "/static/%c3%a9",
        "/home%FF",
        "/home%C0%AF",
        "/a%C2%80",
        "/a%C2%85b",
        "/static/..\\home",
        "/home\u{7f}",
        "/ho me",
        "/home#fragment",
        "/caf\u{e9}",
        "*",
        "http://127.0.0.1/home",
        "",
    ];
    let at_limit = format!("/{}", "a".repeat(studio_gate::MAX_PATH_LEN - 1));
    let over_limit = format!("{at_limit}a");

    let mut seeds = numbered("canonical", &canonical);
    seeds.extend(numbered("hostile", &hostile));
    seeds.push(("length-at-limit".into(), at_limit.into_bytes()));
    seeds.push(("length-over-limit".into(), over_limit.into_bytes()));
    seeds
}

// --- next_path ---

fn next_path_seeds() -> Vec<Seed> {
    let same_origin = [
        "/home",
        "/",
        "/home?tab=2",
        "/static/app.css#top",
        "/a/b/../c",
        "/x?next=https://elsewhere",
        "/api/admin/system/status",
    ];
    let unsafe_values = [
        "//evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "https://evil.example",
        "javascript:alert(1)",
        "evil.example",
        "",
        "/%2F/evil.example",
        "/%2Fevil.example",
        "/%5Cevil.example",
        "%2F%2Fevil.example",
        "/.//evil.example",
        "/a/..//evil.example",
        "/%2E%2E//evil.example",
        "/home\n",
        "/ho me",
        "/home\t",
        "/home%0A",
        "/home%0D%0ASet-Cookie:x",
        "/home%09",
        "/home%20x",
        "/home%C2%A0",
        "/home%E2%80%A8",
        "/home\u{e9}",
        "/home%",
        "/home%zz",
        "/home%FF",
    ];
    let at_limit = format!("/{}", "a".repeat(2047));
    let over_limit = format!("{at_limit}a");

    let mut seeds = numbered("same-origin", &same_origin);
    seeds.extend(numbered("unsafe", &unsafe_values));
    seeds.push(("length-at-limit".into(), at_limit.into_bytes()));
    seeds.push(("length-over-limit".into(), over_limit.into_bytes()));
    seeds
}

// --- login_body ---

fn login_body_seeds() -> Vec<Seed> {
    const JSON: Option<&str> = Some("application/json");
    let readme_body = format!("{{\"api_key\": \"{SAMPLE_KEY}\"}}");
    let padding = MAX_BODY_LEN - r#"{"api_key":""}"#.len();
    let at_limit = format!(r#"{{"api_key":"{}"}}"#, "k".repeat(padding));
    let over_limit = format!(r#"{{"api_key":"{}"}}"#, "k".repeat(padding + 1));
    let nested = format!("{}{}", "[".repeat(200), "]".repeat(200));

    let cases: Vec<(&str, Option<&str>, &[u8])> = vec![
        ("readme", JSON, readme_body.as_bytes()),
        ("key-and-next", JSON, br#"{"api_key":"k","next":"/x"}"#),
        ("next-null", JSON, br#"{"api_key":"k","next":null}"#),
        ("extra-member", JSON, br#"{"api_key":"k","remember":true}"#),
        (
            "escapes",
            JSON,
            br#"{"api_key":"\u00e9\ud83d\ude00\n","next":"\/home"}"#,
        ),
        (
            "charset",
            Some("application/json; charset=utf-8"),
            readme_body.as_bytes(),
        ),
        (
            "media-type-case",
            Some("Application/JSON"),
            br#"{"api_key":"k"}"#,
        ),
        ("text-plain", Some("text/plain"), br#"{"api_key":"k"}"#),
        ("no-content-type", None, br#"{"api_key":"k"}"#),
        ("empty-content-type", Some(""), br#"{"api_key":"k"}"#),
        ("empty-body", JSON, b""),
        ("truncated", JSON, br#"{"api_key":"#),
        ("not-json", JSON, b"not json"),
        ("not-utf8", JSON, b"\xff"),
        ("trailing-text", JSON, br#"{"api_key":"k"} x"#),
        ("empty-array", JSON, b"[]"),
        ("number-key", JSON, br#"{"api_key":1}"#),
        ("number-next", JSON, br#"{"api_key":"k","next":5}"#),
        ("duplicate-key", JSON, br#"{"api_key":"a","api_key":"b"}"#),
        ("nested", JSON, nested.as_bytes()),
        ("length-at-limit", JSON, at_limit.as_bytes()),
        ("length-over-limit", JSON, over_limit.as_bytes()),
    ];
    cases
        .into_iter()
        .map(|(name, content_type, body)| {
            let input = LoginInput { content_type, body };
            (name.to_owned(), input.to_bytes())
        })
        .collect()
}

// --- http_request ---

fn http_request_seeds() -> Vec<Seed> {
    let cookie = FIXED_SESSION_KEY.seal(
        COOKIE_NAME,
        &Session::new(SessionId::from_bytes(*b"fuzz-session-id!"), LOGIN),
    );
    let readme_login = format!("{{\"api_key\": \"{SAMPLE_KEY}\"}}");
    let mut seeds = vec![
        // The README's curl walkthrough, as curl 7.88.1 sends it.
        curl_seed(
            "readme-login",
            "POST /api/auth/login",
            &["Content-Type: application/json"],
            &readme_login,
        ),
        curl_seed(
            "readme-status-cookie",
            "GET /api/admin/system/status",
            &[&format!("Cookie: session={cookie}")],
            "",
        ),
        curl_seed(
            "readme-status-key",
            "GET /api/admin/system/status",
            &[&format!("X-API-Key: {SAMPLE_KEY}")],
            "",
        ),
        curl_seed(
            "readme-logout",
            "POST /api/auth/logout",
            &[&format!("Cookie: session={cookie}")],
            "",
        ),
        curl_seed("readme-logout-redirect", "GET /login", &[], ""),
        // The routes and the public paths.
        curl_seed("root", "GET /", &[], ""),
        curl_seed("home", "GET /home?tab=2", &[], ""),
        curl_seed(
            "login-page-next",
            "GET /login?next=%2Fhome%3Ftab%3D2",
            &[],
            "",
        ),
        curl_seed("health", "GET /api/health", &[], ""),
        curl_seed("health-head", "HEAD /api/health", &[], ""),
        curl_seed("home-options", "OPTIONS /home", &[], ""),
        curl_seed(
            "update",
            "POST /api/admin/system/update",
            &["Content-Type: application/json"],
            r#"{"skip_components":["backend"]}"#,
        ),
        curl_seed("asset", "GET /static/app.css", &[], ""),
        curl_seed(
            "asset-etag",
            "GET /static/login.js",
            &["If-None-Match: \"0\""],
            "",
        ),
        curl_seed("asset-dotfile", "GET /static/.env", &[], ""),
        curl_seed("static-prefix-only", "GET /staticfoo", &[], ""),
        curl_seed("health-lookalike", "GET /api/healthz", &[], ""),
        curl_seed("unknown-api", "DELETE /api/nothing", &[], ""),
        // Login variants.
        curl_seed(
            "login-next",
            "POST /api/auth/login",
            &["Content-Type: application/json"],
            r#"{"api_key":"wrong","next":"/home?tab=2"}"#,
        ),
        curl_seed(
            "login-cross-site",
            "POST /api/auth/login",
            &[
                "Content-Type: application/json",
                "Sec-Fetch-Site: cross-site",
            ],
            &readme_login,
        ),
        curl_seed(
            "login-text-plain",
            "POST /api/auth/login",
            &["Content-Type: text/plain"],
            &readme_login,
        ),
        curl_seed(
            "login-forwarded",
            "POST /api/auth/login",
            &[
                "Content-Type: application/json",
                "X-Forwarded-For: ::1, 127.0.0.9",
            ],
            &readme_login,
        ),
        curl_seed(
            "login-with-cookie",
            "POST /api/auth/login",
            &[
                "Content-Type: application/json",
                &format!("Cookie: a=b; session={cookie}"),
            ],
            &readme_login,
        ),
        curl_seed(
            "login-over-limit",
            "POST /api/auth/login",
            &["Content-Type: application/json"],
            &format!(r#"{{"api_key":"{}"}}"#, "k".repeat(MAX_BODY_LEN)),
        ),
        (
            "login-chunked".into(),
            raw_request(
                "POST /api/auth/login",
                &[
                    "Content-Type: application/json",
                    "Transfer-Encoding: chunked",
                ],
                &chunked(&[r#"{"api_key":"wrong","next""#, r#":"/home"}"#]),
            ),
        ),
        curl_seed(
            "login-expect-continue",
            "POST /api/auth/login",
            &["Content-Type: application/json", "Expect: 100-continue"],
            r#"{"api_key":"k"}"#,
        ),
        (
            "login-declared-too-long".into(),
            raw_request(
                "POST /api/auth/login",
                &["Content-Type: application/json", "Content-Length: 5000"],
                "{\"api_key\":\"k\"}",
            ),
        ),
        (
            "length-and-chunked".into(),
            raw_request(
                "POST /api/auth/login",
                &[
                    "Content-Type: application/json",
                    "Content-Length: 4",
                    "Transfer-Encoding: chunked",
                ],
                "0\r\n\r\n",
            ),
        ),
        // Other request shapes.
        ("http-1-0".into(), b"GET /home HTTP/1.0\r\n\r\n".to_vec()),
        (
            "absolute-form".into(),
            b"GET http://127.0.0.1:8000/home HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n\r\n".to_vec(),
        ),
        (
            "asterisk-form".into(),
            b"OPTIONS * HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n\r\n".to_vec(),
        ),
        (
            "empty-key".into(),
            raw_request("GET /api/admin/system/status", &["X-API-Key: "], ""),
        ),
        (
            "two-cookies".into(),
            raw_request(
                "GET /home",
                &[
                    "Cookie: session=x",
                    &format!("Cookie: session={cookie}; session="),
                ],
                "",
            ),
        ),
    ];

    // Hostile targets from tests/paths.rs: not canonical, or rejected by the parser.
    let hostile_targets: [&[u8]; 10] = [
        b"/static/../api/admin/system/status",
        b"/static/%2e%2e/api/admin/system/status",
        b"/static%2F..%2Fhome",
        b"//api/health",
        b"/login;x",
        b"/api/health%00",
        b"/static/%252E%252E/api/admin/system/status",
        b"/static/..\\home",
        b"/home#fragment",
        b"/caf\xc3\xa9",
    ];
    for (index, target) in hostile_targets.iter().enumerate() {
        let mut request = b"GET ".to_vec();
        request.extend_from_slice(target);
        request
            .extend_from_slice(b" HTTP/1.1\r\nHost: 127.0.0.1:8000\r\nConnection: close\r\n\r\n");
        seeds.push((format!("hostile-target-{:02}", index + 1), request));
    }

    // Keep-alive: two requests on one connection, and enough wrong keys to reach the limit.
    let mut pipelined = raw_request("GET /api/health", &[], "");
    pipelined.extend(raw_request("GET /home", &[], ""));
    seeds.push(("pipelined".into(), pipelined));
    let wrong_key = raw_request("GET /api/admin/system/status", &["X-API-Key: wrong"], "");
    seeds.push(("wrong-keys-to-limit".into(), wrong_key.repeat(11)));
    seeds
}

/// Builds a request the way curl 7.88.1 does: `Host`, `User-Agent` and `Accept`, then
/// `headers`, and `Content-Length` when there is a body.
fn curl_seed(name: &str, request_line: &str, headers: &[&str], body: &str) -> Seed {
    let mut all_headers = vec!["User-Agent: curl/7.88.1", "Accept: */*"];
    all_headers.extend_from_slice(headers);
    let length = format!("Content-Length: {}", body.len());
    if !body.is_empty() {
        all_headers.push(&length);
    }
    (
        name.to_owned(),
        raw_request(request_line, &all_headers, body),
    )
}

/// Encodes `chunks` as a chunked body, with the final empty chunk.
fn chunked(chunks: &[&str]) -> String {
    let mut body = String::new();
    for chunk in chunks {
        body.push_str(&format!("{:x}\r\n{chunk}\r\n", chunk.len()));
    }
    body.push_str("0\r\n\r\n");
    body
}

/// Builds `<request_line> HTTP/1.1` with `Host: 127.0.0.1:8000`, `headers` and `body`
/// written exactly as given.
fn raw_request(request_line: &str, headers: &[&str], body: &str) -> Vec<u8> {
    let mut request = format!("{request_line} HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n");
    for header in headers {
        request.push_str(header);
        request.push_str("\r\n");
    }
    request.push_str("\r\n");
    request.push_str(body);
    request.into_bytes()
}
