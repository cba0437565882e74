//! studio-gate: the front door of a GPU-pod studio.
//!
//! One Trillium server that decides who may reach the studio's pages and API. Every request
//! passes a chain of handlers, in this order:
//!
//! 1. [`MaintenanceGate`]: 503 for everything while an update copies components;
//! 2. [`PathGate`]: 400 for any path that is not in canonical form;
//! 3. [`PublicBypass`]: marks `/login`, `/api/auth/login`, `/api/health` and `/static/*`;
//! 4. [`AuthGate`]: an `X-API-Key` or a session cookie, or 401 / 302 to the login page;
//! 5. [`Router`]: the routes.
//!
//! [`RequestLog`] and [`ResponseHeaders`] wrap the chain: they only act once the answer is
//! ready. The decisions an attacker reaches directly are pure functions with `now` passed in:
//! [`canonical_path`], [`safe_next`], [`parse_login_body`], [`LoginLimiter`] and the session
//! codec [`SessionKey`].
//!
//! ```no_run
//! let config = studio_gate::Config::from_env().expect("configuration");
//! let gate = studio_gate::Gate::open(&config).expect("studio folder");
//! trillium_smol::config()
//!     .with_host(&config.host.to_string())
//!     .with_port(config.port)
//!     .run(studio_gate::app(std::sync::Arc::new(gate)));
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod api_key;
mod auth_gate;
mod auth_routes;
mod canonical_path;
mod client_addr;
mod component_swap;
mod config;
mod gate;
mod logging;
mod login_body;
mod login_limiter;
mod maintenance;
mod next_path;
mod pages;
mod path_gate;
mod public_bypass;
mod release;
mod release_repo;
mod request_body;
mod request_log;
mod responses;
mod revocation;
mod router;
mod secret_file;
mod session;
mod static_files;
mod system;
mod update_status;
mod updater;

pub use api_key::{generate_api_key, ApiKey, ApiKeyError};
pub use auth_gate::{AuthGate, Credential};
pub use canonical_path::{canonical_path, CanonicalPath, PathError, MAX_PATH_LEN};
pub use client_addr::{client_address, IpNetwork, TrustedProxies};
pub use component_swap::{recover as recover_interrupted_update, StudioPaths};
pub use config::{Config, ConfigError, HELP};
pub use gate::{unix_now, Gate, StartupError};
pub use logging::init as init_logging;
pub use login_body::{parse_login_body, LoginBodyError, LoginRequest, MAX_BODY_LEN};
pub use login_limiter::{ClientKey, LoginLimiter, RetryAfter, MAX_FAILURES, WINDOW_SECS};
pub use maintenance::{Maintenance, MaintenanceGate, MaintenanceGuard};
pub use next_path::{encode_query_value, is_safe_next, safe_next, DEFAULT_NEXT};
pub use path_gate::{PathGate, RequestPath};
pub use public_bypass::{is_public_path, PublicBypass};
pub use release::{is_component_name, plan, LocalVersions, Plan, Release, Version};
pub use request_log::RequestLog;
pub use responses::ResponseHeaders;
pub use revocation::{RevocationList, RevocationStore};
pub use router::Router;
pub use secret_file::SessionSecret;
pub use session::{Session, SessionId, SessionKey, SessionPolicy, COOKIE_NAME, ENCODED_LEN};
pub use system::APP_VERSION;
pub use update_status::{UpdateProgress, UpdateState, UpdateStatus};
pub use updater::{redact_url_credentials, restart_executable};

use std::sync::Arc;

use trillium::{BoxedHandler, Handler, HttpConfig};

/// Builds the handler chain of a studio-gate server around `gate`.
pub fn app(gate: Arc<Gate>) -> impl Handler {
    (
        RequestLog,
        ResponseHeaders,
        MaintenanceGate(gate.maintenance.clone()),
        PathGate,
        PublicBypass,
        AuthGate(gate.clone()),
        Router(gate),
    )
}

/// Builds the handler chain as the server runs it: [`app`], boxed.
///
/// Boxing keeps the chain's request future (8.6 KB with trillium 1.4, mostly the router's
/// future and each handler's copy of the `Conn`) out of every connection's task, so that memory
/// is taken only while a request runs. It costs about 0.5 µs of CPU per request. With
/// [`http_config`], an idle keep-alive connection takes 12 kB instead of 24 kB, as measured by
/// `python3 benches/load.py connections`.
pub fn served_app(gate: Arc<Gate>) -> BoxedHandler {
    BoxedHandler::new(app(gate))
}

/// Returns trillium-http's settings with smaller header maps than its defaults.
///
/// trillium-http 1.6.1 keeps a connection's request and response header maps between requests
/// and sizes them by these capacities, 32 each by default. The capacity is split between known
/// and other header names, so 14 leaves room for 7 of each in every map, which takes about 7 KB
/// less per idle keep-alive connection than 32. A request or response with more headers grows
/// its map once, and the map keeps that size for the rest of the connection.
pub fn http_config() -> HttpConfig {
    HttpConfig::default()
        .with_request_header_initial_capacity(14)
        .with_response_header_initial_capacity(14)
}
