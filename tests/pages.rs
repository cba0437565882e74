//! The login page, the dashboard, the assets under `/static/`, a `frontend` component on disk
//! and the error pages, over real TCP on 127.0.0.1.

mod common;

use std::fs;
use std::os::unix::fs::symlink;
use std::path::PathBuf;

use common::{Request, Response, TestServer, KEY};

/// Text in the component's files, so a test can tell which frontend served a response.
const COMPONENT_LOGIN: &str = "component-login-page";
const COMPONENT_HOME: &str = "component-home-page";
const COMPONENT_CSS: &str = "component-stylesheet";
/// Text of a file outside the component folder, reachable only through a symlink.
const OUTSIDE_SECRET: &str = "outside-secret-contents";
const DOTFILE_SECRET: &str = "dotfile-secret-contents";

/// The bundled assets and the `Content-Type` each must be sent with.
const BUNDLED_ASSETS: [(&str, &str); 3] = [
    ("/static/app.css", "text/css; charset=utf-8"),
    ("/static/login.js", "text/javascript; charset=utf-8"),
    ("/static/favicon.svg", "image/svg+xml"),
];

/// Checks the headers every studio page carries, naming `label` in each failure.
fn assert_page_headers(response: &Response, label: &str) {
    let content_type = response.header("content-type").unwrap_or_default();
    assert!(
        content_type.starts_with("text/html"),
        "{label}: Content-Type {content_type}"
    );
    assert_eq!(
        response.header("x-content-type-options"),
        Some("nosniff"),
        "{label}"
    );
    assert_eq!(response.header("x-frame-options"), Some("DENY"), "{label}");
    let policy = response
        .header("content-security-policy")
        .unwrap_or_default();
    let scripts =
        script_sources(policy).unwrap_or_else(|| panic!("{label}: no script policy in {policy:?}"));
    assert!(!scripts.contains("'unsafe-inline'"), "{label}: {policy}");
}

/// Returns the sources of the `script-src` directive, or of `default-src` when the policy has
/// no `script-src`, as browsers apply it.
fn script_sources(policy: &str) -> Option<String> {
    let directive = |name: &str| {
        policy
            .split(';')
            .map(str::trim)
            .find_map(|directive| directive.strip_prefix(name))
            .filter(|rest| rest.is_empty() || rest.starts_with(' '))
            .map(|rest| rest.trim().to_owned())
    };
    directive("script-src").or_else(|| directive("default-src"))
}

/// Returns every `<script>` element of `html` that has no `src` attribute or has content.
fn inline_scripts(html: &str) -> Vec<String> {
    let lower = html.to_ascii_lowercase();
    let mut found = Vec::new();
    let mut rest = lower.as_str();
    while let Some(start) = rest.find("<script") {
        let element = &rest[start..];
        let open_end = element.find('>').map_or(element.len(), |end| end + 1);
        let open_tag = &element[..open_end];
        let close = element.find("</script>").unwrap_or(element.len());
        let content = element.get(open_end..close).unwrap_or_default();
        if !open_tag.contains(" src=") || !content.trim().is_empty() {
            found.push(element[..close].to_owned());
        }
        rest = &element[open_end..];
    }
    found
}

fn get_with_cookie(server: &TestServer, target: &str, cookie: &str) -> Response {
    server.send(Request::get(target).cookie(cookie))
}

fn component_dir(server: &TestServer) -> PathBuf {
    server.dir.path().join("components").join("frontend")
}

/// Writes a `frontend` component with pages, a stylesheet, a dotfile, a subfolder, a symlink
/// to a file inside the folder and symlinks that lead out of it, then makes the server use it.
fn install_component(server: &TestServer) {
    let root = component_dir(server);
    fs::create_dir_all(root.join("sub")).unwrap();
    fs::create_dir_all(root.join(".git")).unwrap();
    let page = |marker: &str| {
        format!("<!doctype html>\n<html><head><title>{marker}</title></head><body>{marker}</body></html>\n")
    };
    fs::write(root.join("login.html"), page(COMPONENT_LOGIN)).unwrap();
    fs::write(root.join("home.html"), page(COMPONENT_HOME)).unwrap();
    fs::write(
        root.join("app.css"),
        format!("/* {COMPONENT_CSS} */ body {{ color: #123456; }}\n"),
    )
    .unwrap();
    fs::write(root.join(".env"), format!("SECRET={DOTFILE_SECRET}\n")).unwrap();
    fs::write(root.join(".git").join("config"), DOTFILE_SECRET).unwrap();
    fs::write(root.join("sub").join("inner.txt"), "inner file\n").unwrap();
    fs::write(root.join("my file.txt"), "file with a space\n").unwrap();

    let outside = server.dir.path().join("outside-secret.txt");
    fs::write(&outside, OUTSIDE_SECRET).unwrap();
    symlink(&outside, root.join("leak.txt")).unwrap();
    symlink(server.dir.path(), root.join("outside-dir")).unwrap();
    symlink(root.join("app.css"), root.join("alias.css")).unwrap();
    symlink("sub/inner.txt", root.join("inner-alias.txt")).unwrap();

    server.gate.frontend.refresh();
}

// --- security headers ---

#[test]
fn login_page_has_security_headers() {
    let server = TestServer::start(&[]);
    let response = server.get("/login");
    assert_eq!(response.status, 200);
    assert_page_headers(&response, "GET /login");
    assert_eq!(response.header("cache-control"), Some("no-store"));
}

#[test]
fn home_page_has_security_headers() {
    let server = TestServer::start(&[]);
    let cookie = server.login();
    let response = get_with_cookie(&server, "/home", &cookie);
    assert_eq!(response.status, 200);
    assert_page_headers(&response, "GET /home");
    assert_eq!(response.header("cache-control"), Some("no-store"));
}

#[test]
fn pages_have_no_inline_script() {
    let server = TestServer::start(&[]);
    let cookie = server.login();
    let login = server.get("/login");
    assert_eq!(login.status, 200);
    assert_eq!(
        inline_scripts(&login.text()),
        Vec::<String>::new(),
        "GET /login"
    );
    assert!(
        login.text().contains("<script"),
        "GET /login loads no script at all"
    );
    let home = get_with_cookie(&server, "/home", &cookie);
    assert_eq!(home.status, 200);
    assert_eq!(
        inline_scripts(&home.text()),
        Vec::<String>::new(),
        "GET /home"
    );
}

#[test]
fn inline_script_finder_finds_inline_scripts() {
    let html =
        r#"<script src="/a.js"></script><SCRIPT>alert(1)</SCRIPT><script type="module"></script>"#;
    assert_eq!(inline_scripts(html).len(), 2);
    assert!(inline_scripts(r#"<script src="/a.js" defer></script>"#).is_empty());
}

// --- redirects ---

#[test]
fn root_redirects_home() {
    let server = TestServer::start(&[]);
    let cookie = server.login();
    let with_cookie = get_with_cookie(&server, "/", &cookie);
    assert_eq!(with_cookie.status, 302);
    assert_eq!(with_cookie.header("location"), Some("/home"));
    let with_key = server.send(Request::get("/").key(KEY));
    assert_eq!(with_key.status, 302);
    assert_eq!(with_key.header("location"), Some("/home"));
}

#[test]
fn root_without_credentials_redirects_to_login() {
    let server = TestServer::start(&[]);
    let response = server.get("/");
    assert_eq!(response.status, 302);
    let location = response.header("location").unwrap_or_default();
    assert!(location.starts_with("/login?next="), "{location}");
}

#[test]
fn home_without_credentials_redirects_to_login() {
    let server = TestServer::start(&[]);
    let response = server.get("/home");
    assert_eq!(response.status, 302);
    assert_eq!(response.header("location"), Some("/login?next=/home"));
    assert_eq!(response.header("cache-control"), Some("no-store"));
}

#[test]
fn login_page_with_cookie_follows_safe_next() {
    let server = TestServer::start(&[]);
    let cookie = server.login();
    let cases = [
        ("/login", "/home"),
        ("/login?next=/home%3Ftab%3D2", "/home?tab=2"),
        ("/login?next=//evil.invalid", "/home"),
        ("/login?next=https://evil.invalid/", "/home"),
        ("/login?next=/%2F%2Fevil.invalid", "/home"),
        ("/login?next=%2F%5Cevil.invalid", "/home"),
        ("/login?next=/%252F%252Fevil.invalid", "/home"),
        ("/login?next=/%09/evil.invalid", "/home"),
        ("/login?next=javascript:alert(1)", "/home"),
    ];
    for (target, location) in cases {
        let response = get_with_cookie(&server, target, &cookie);
        assert_eq!(response.status, 302, "GET {target}");
        assert_eq!(response.header("location"), Some(location), "GET {target}");
    }
}

// --- bundled assets ---

#[test]
fn bundled_assets_are_public_with_types() {
    let server = TestServer::start(&[]);
    for (target, content_type) in BUNDLED_ASSETS {
        let response = server.get(target);
        assert_eq!(response.status, 200, "GET {target}");
        assert_eq!(
            response.header("content-type"),
            Some(content_type),
            "GET {target}"
        );
        assert!(!response.body.is_empty(), "GET {target}");
        assert_eq!(
            response.header("x-content-type-options"),
            Some("nosniff"),
            "GET {target}"
        );
        let etag = response.header("etag").unwrap_or_default();
        assert!(etag.len() > 2, "GET {target}: ETag {etag:?}");
        assert!(etag.starts_with('"'), "GET {target}: ETag {etag:?}");
        assert!(etag.ends_with('"'), "GET {target}: ETag {etag:?}");
    }
}

#[test]
fn favicon_is_svg() {
    let server = TestServer::start(&[]);
    let response = server.get("/static/favicon.svg");
    assert!(response.text().contains("<svg"), "{}", response.text());
}

#[test]
fn matching_etag_gives_304() {
    let server = TestServer::start(&[]);
    for (target, _) in BUNDLED_ASSETS {
        let etag = server.get(target).header("etag").unwrap().to_owned();
        let response = server.send(Request::get(target).header("If-None-Match", &etag));
        assert_eq!(response.status, 304, "GET {target} If-None-Match {etag}");
        assert!(
            response.body.is_empty(),
            "GET {target}: {}",
            response.text()
        );
        assert_eq!(response.header("etag"), Some(etag.as_str()), "GET {target}");
    }
}

#[test]
fn etag_in_a_list_or_weak_gives_304() {
    let server = TestServer::start(&[]);
    let etag = server
        .get("/static/app.css")
        .header("etag")
        .unwrap()
        .to_owned();
    for tags in [
        format!("\"other\", {etag}"),
        format!("W/{etag}"),
        "*".to_owned(),
    ] {
        let response = server.send(Request::get("/static/app.css").header("If-None-Match", &tags));
        assert_eq!(response.status, 304, "If-None-Match {tags}");
    }
}

#[test]
fn different_etag_gives_200() {
    let server = TestServer::start(&[]);
    for (target, content_type) in BUNDLED_ASSETS {
        let first = server.get(target);
        let response =
            server.send(Request::get(target).header("If-None-Match", "\"0123456789abcdef\""));
        assert_eq!(response.status, 200, "GET {target}");
        assert_eq!(
            response.header("content-type"),
            Some(content_type),
            "GET {target}"
        );
        assert_eq!(response.body, first.body, "GET {target}");
    }
}

#[test]
fn head_on_assets_has_no_body() {
    let server = TestServer::start(&[]);
    for (target, content_type) in BUNDLED_ASSETS {
        let get = server.get(target);
        let head = server.send(Request::new("HEAD", target));
        assert_eq!(head.status, 200, "HEAD {target}");
        assert!(head.body.is_empty(), "HEAD {target}: {}", head.text());
        assert_eq!(
            head.header("content-type"),
            Some(content_type),
            "HEAD {target}"
        );
        assert_eq!(head.header("etag"), get.header("etag"), "HEAD {target}");
    }
}

#[test]
fn missing_asset_is_html_404() {
    let server = TestServer::start(&[]);
    let response = server.get("/static/nope.css");
    assert_eq!(response.status, 404);
    assert_page_headers(&response, "GET /static/nope.css");
    assert!(response.text().contains("<html"), "{}", response.text());
}

// --- a frontend component ---

#[test]
fn component_replaces_bundled_pages() {
    let server = TestServer::start(&[]);
    install_component(&server);

    let login = server.get("/login");
    assert_eq!(login.status, 200);
    assert!(login.text().contains(COMPONENT_LOGIN), "{}", login.text());
    assert_page_headers(&login, "GET /login from the component");

    let home = server.send(Request::get("/home").key(KEY));
    assert_eq!(home.status, 200);
    assert!(home.text().contains(COMPONENT_HOME), "{}", home.text());

    let css = server.get("/static/app.css");
    assert_eq!(css.status, 200);
    assert!(css.text().contains(COMPONENT_CSS), "{}", css.text());
    assert_eq!(css.header("content-type"), Some("text/css; charset=utf-8"));
}

#[test]
fn component_asset_etag_follows_content() {
    let server = TestServer::start(&[]);
    let bundled = server
        .get("/static/app.css")
        .header("etag")
        .unwrap()
        .to_owned();
    install_component(&server);
    let component = server.get("/static/app.css");
    let etag = component.header("etag").unwrap_or_default().to_owned();
    assert_ne!(etag, bundled);
    let stale = server.send(Request::get("/static/app.css").header("If-None-Match", &bundled));
    assert_eq!(stale.status, 200);
    let current = server.send(Request::get("/static/app.css").header("If-None-Match", &etag));
    assert_eq!(current.status, 304);
}

#[test]
fn component_dotfiles_are_not_served() {
    let server = TestServer::start(&[]);
    install_component(&server);
    for target in ["/static/.env", "/static/.git/config", "/static/.git"] {
        for request in [Request::get(target), Request::get(target).key(KEY)] {
            let response = server.send(request);
            assert!(
                matches!(response.status, 400 | 404),
                "GET {target}: {}",
                response.status
            );
            assert!(
                !response.text().contains(DOTFILE_SECRET),
                "GET {target}: {}",
                response.text()
            );
        }
    }
}

#[test]
fn component_symlink_to_a_dotfile_is_not_served() {
    let server = TestServer::start(&[]);
    install_component(&server);
    symlink(".env", component_dir(&server).join("env-alias.txt")).unwrap();
    let response = server.get("/static/env-alias.txt");
    assert_eq!(response.status, 404);
    assert!(
        !response.text().contains(DOTFILE_SECRET),
        "{}",
        response.text()
    );
}

#[test]
fn component_without_a_page_falls_back_to_the_bundled_one() {
    let server = TestServer::start(&[]);
    install_component(&server);
    fs::remove_file(component_dir(&server).join("home.html")).unwrap();
    let cookie = server.login();
    let response = get_with_cookie(&server, "/home", &cookie);
    assert_eq!(response.status, 200);
    assert!(
        response.text().contains("update-button"),
        "not the bundled dashboard"
    );
    let script = server.get("/static/home.js");
    assert_eq!(script.status, 200);
}

#[test]
fn component_directory_is_not_listed() {
    let server = TestServer::start(&[]);
    install_component(&server);
    let response = server.get("/static/sub");
    assert_eq!(response.status, 404);
    assert!(
        !response.text().contains("inner.txt"),
        "{}",
        response.text()
    );
    let file = server.get("/static/sub/inner.txt");
    assert_eq!(file.status, 200);
    assert_eq!(file.text(), "inner file\n");
}

#[test]
fn component_symlink_out_is_404() {
    let server = TestServer::start(&[]);
    install_component(&server);
    for target in [
        "/static/leak.txt",
        "/static/outside-dir/outside-secret.txt",
        "/static/outside-dir/.session_secret",
    ] {
        let response = server.get(target);
        assert_eq!(response.status, 404, "GET {target}");
        assert!(
            !response.text().contains(OUTSIDE_SECRET),
            "GET {target}: {}",
            response.text()
        );
        assert!(
            !response.text().contains(KEY),
            "GET {target}: {}",
            response.text()
        );
    }
}

#[test]
fn component_symlink_inside_is_served() {
    let server = TestServer::start(&[]);
    install_component(&server);
    let absolute = server.get("/static/alias.css");
    assert_eq!(absolute.status, 200);
    assert!(
        absolute.text().contains(COMPONENT_CSS),
        "{}",
        absolute.text()
    );
    assert_eq!(
        absolute.header("content-type"),
        Some("text/css; charset=utf-8")
    );
    let relative = server.get("/static/inner-alias.txt");
    assert_eq!(relative.status, 200);
    assert_eq!(relative.text(), "inner file\n");
}

#[test]
fn component_special_files_are_404() {
    let server = TestServer::start(&[]);
    install_component(&server);
    let root = component_dir(&server);
    let fifo_mode = rustix::fs::Mode::from_raw_mode(0o600);
    rustix::fs::mknodat(
        rustix::fs::CWD,
        root.join("pipe"),
        rustix::fs::FileType::Fifo,
        fifo_mode,
        0,
    )
    .unwrap();
    symlink("/dev/zero", root.join("zero")).unwrap();
    for target in ["/static/pipe", "/static/zero"] {
        let response = server.get(target);
        assert_eq!(response.status, 404, "GET {target}");
    }
}

#[test]
fn component_escaped_name_is_served() {
    let server = TestServer::start(&[]);
    install_component(&server);
    let response = server.get("/static/my%20file.txt");
    assert_eq!(response.status, 200);
    assert_eq!(response.text(), "file with a space\n");
    assert_eq!(
        response.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
}

#[test]
fn removed_component_restores_bundled_files() {
    let server = TestServer::start(&[]);
    let bundled_login = server.get("/login").body;
    let bundled_css = server.get("/static/app.css").body;
    install_component(&server);
    assert!(server.get("/login").text().contains(COMPONENT_LOGIN));

    fs::remove_dir_all(component_dir(&server)).unwrap();
    server.gate.frontend.refresh();

    let login = server.get("/login");
    assert_eq!(login.status, 200);
    assert_eq!(login.body, bundled_login);
    let css = server.get("/static/app.css");
    assert_eq!(css.status, 200);
    assert_eq!(css.body, bundled_css);
    assert_eq!(server.get("/static/leak.txt").status, 404);
}

// --- error pages ---

#[test]
fn unknown_page_is_html_404_with_headers() {
    let server = TestServer::start(&[]);
    let cookie = server.login();
    for target in ["/nope", "/home/settings", "/admin"] {
        let response = get_with_cookie(&server, target, &cookie);
        assert_eq!(response.status, 404, "GET {target}");
        assert_page_headers(&response, &format!("GET {target}"));
        assert!(
            response.text().contains("<html"),
            "GET {target}: {}",
            response.text()
        );
        assert_eq!(
            inline_scripts(&response.text()),
            Vec::<String>::new(),
            "GET {target}"
        );
    }
}

#[test]
fn unknown_page_with_key_is_404() {
    let server = TestServer::start(&[]);
    let response = server.send(Request::get("/nope").key(KEY));
    assert_eq!(response.status, 404);
    assert_page_headers(&response, "GET /nope with the key");
}
