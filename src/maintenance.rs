//! Maintenance mode: while the studio copies new components, every request gets 503.
//!
//! [`Maintenance`] is the switch, shared between the update that turns it on and the
//! [`MaintenanceGate`] handler that answers while it is on. The gate runs first in the chain,
//! before the path check and auth, so every path and method gets the same answer. The
//! maintenance page is carried inside the binary and loads nothing else, so it renders even
//! while the frontend itself is being replaced.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use trillium::{Conn, Handler, KnownHeaderName, Status};

use crate::canonical_path::is_api_path;
use crate::responses;
use crate::update_status::UpdateProgress;

/// The `detail` of every `/api` response during maintenance.
pub const MAINTENANCE_DETAIL: &str = "System is updating, please wait...";

/// Seconds a client should wait before trying again; the page reloads itself this often.
pub const RETRY_AFTER_SECS: &str = "3";

/// The maintenance page's policy: its own inline style, nothing else.
const PAGE_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; \
    base-uri 'none'; form-action 'none'";

const PAGE: &str = include_str!("maintenance.html");

/// The maintenance switch, and the copy progress the maintenance page shows. Clones share one
/// state. A new process starts with it off.
#[derive(Debug, Clone, Default)]
pub struct Maintenance(Arc<MaintenanceState>);

#[derive(Debug, Default)]
struct MaintenanceState {
    on: AtomicBool,
    progress: Mutex<Option<UpdateProgress>>,
}

impl Maintenance {
    /// Returns true while maintenance is on.
    pub fn is_on(&self) -> bool {
        self.0.on.load(Ordering::Acquire)
    }

    /// Sets the copy progress shown on the maintenance page, or clears it.
    pub fn set_progress(&self, progress: Option<UpdateProgress>) {
        if let Ok(mut current) = self.0.progress.lock() {
            *current = progress;
        }
    }

    fn progress(&self) -> Option<UpdateProgress> {
        self.0.progress.lock().ok().and_then(|progress| *progress)
    }

    /// Turns maintenance on until the returned guard is dropped or kept with
    /// [`MaintenanceGuard::keep_on`]. Dropping the guard on any error path turns it off.
    pub fn enter(&self) -> MaintenanceGuard {
        self.set(true);
        MaintenanceGuard {
            maintenance: self.clone(),
            keep_on: false,
        }
    }

    /// Sets the switch directly.
    pub fn set(&self, on: bool) {
        self.0.on.store(on, Ordering::Release);
    }
}

/// Turns maintenance off when dropped, unless [`MaintenanceGuard::keep_on`] was called for a restart.
#[derive(Debug)]
pub struct MaintenanceGuard {
    maintenance: Maintenance,
    keep_on: bool,
}

impl MaintenanceGuard {
    /// Leaves maintenance on after the guard is dropped: the process is about to restart, and
    /// the new process starts with it off.
    pub fn keep_on(mut self) {
        self.keep_on = true;
    }
}

impl Drop for MaintenanceGuard {
    fn drop(&mut self) {
        if !self.keep_on {
            self.maintenance.set(false);
        }
    }
}

/// The first handler of the chain: responds 503 to everything while maintenance is on.
#[derive(Debug, Clone)]
pub struct MaintenanceGate(pub Maintenance);

impl Handler for MaintenanceGate {
    async fn run(&self, conn: Conn) -> Conn {
        if !self.0.is_on() {
            return conn;
        }
        let is_api = is_api_path(conn.path());
        let conn = conn
            .with_response_header(KnownHeaderName::RetryAfter, RETRY_AFTER_SECS)
            .with_response_header(KnownHeaderName::CacheControl, "no-store");
        if is_api {
            responses::json_error(conn, Status::ServiceUnavailable, MAINTENANCE_DETAIL)
        } else {
            let conn = conn
                .with_response_header(KnownHeaderName::Refresh, RETRY_AFTER_SECS)
                .with_response_header(KnownHeaderName::ContentSecurityPolicy, PAGE_CSP);
            responses::html(conn, Status::ServiceUnavailable, page(self.0.progress()))
        }
    }
}

/// Renders the maintenance page, with a progress line while components are copied.
fn page(progress: Option<UpdateProgress>) -> String {
    let line = match progress {
        Some(p) if p.files_total > 0 => format!(
            "<p>Copied {} of {} files ({} of {} MB).</p>",
            p.files_done,
            p.files_total,
            p.bytes_done / 1_000_000,
            p.bytes_total / 1_000_000
        ),
        _ => String::new(),
    };
    PAGE.replace("<!-- progress -->", &line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guard_turns_maintenance_off() {
        let maintenance = Maintenance::default();
        {
            let _guard = maintenance.enter();
            assert!(maintenance.is_on());
        }
        assert!(!maintenance.is_on());
    }

    #[test]
    fn kept_guard_leaves_maintenance_on() {
        let maintenance = Maintenance::default();
        maintenance.enter().keep_on();
        assert!(maintenance.is_on());
    }

    #[test]
    fn page_shows_progress() {
        let progress = UpdateProgress {
            files_done: 3,
            files_total: 10,
            bytes_done: 2_000_000,
            bytes_total: 9_000_000,
        };
        assert!(page(Some(progress)).contains("Copied 3 of 10 files (2 of 9 MB)."));
        assert!(!page(None).contains("Copied"));
    }

    #[test]
    fn page_needs_nothing_else() {
        assert!(PAGE.contains("http-equiv=\"refresh\" content=\"3\""));
        assert!(!PAGE.contains("<script"));
        assert!(!PAGE.contains("src="));
        assert!(!PAGE.contains("<link"));
    }
}
