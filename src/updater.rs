//! `POST /api/admin/system/update`: fetch the release, compare versions, and install what is
//! newer behind maintenance mode.
//!
//! The whole update runs on a blocking thread that owns every guard it takes: the "an update
//! is running" flag, and maintenance while components are copied. If the client goes away,
//! the update still finishes, turns maintenance off on every error path, and records its
//! result in the status. Only the copy and swap happen in maintenance; fetching and comparing
//! happen before it.
//!
//! After a `backend` component is installed, maintenance stays on, the answer says
//! `restart_needed: true`, and the server shuts down gracefully; `main` then re-executes
//! [`restart_executable`].

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::json;
use trillium::{Conn, Status};

use crate::component_swap::{self, StudioPaths};
use crate::gate::{unix_now, Gate};
use crate::login_body::{parse_json_object, LoginBodyError, MAX_BODY_LEN};
use crate::release::{self, Plan, Release, Version};
use crate::release_repo;
use crate::request_body::read_json_body;
use crate::responses;
use crate::system::APP_VERSION;
use crate::update_status::{UpdateProgress, UpdateState};

/// The component whose installation needs a restart.
pub const BACKEND: &str = "backend";

/// The executable a backend component may ship at its top level.
pub const BACKEND_EXECUTABLE: &str = "studio-gate";

#[derive(Debug, Default, Deserialize)]
struct UpdateRequest {
    #[serde(default)]
    skip_components: Vec<String>,
}

/// What an update came to.
#[derive(Debug)]
enum Outcome {
    Blocked(String),
    UpToDate,
    Installed {
        names: Vec<String>,
        restart_needed: bool,
    },
    FetchFailed(String),
    Failed(String),
}

/// Marks an update as running for as long as it lives.
struct RunningFlag(Arc<AtomicBool>);

impl RunningFlag {
    fn take(flag: &Arc<AtomicBool>) -> Option<Self> {
        flag.compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .ok()
            .map(|_| Self(flag.clone()))
    }
}

impl Drop for RunningFlag {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

/// Runs an update for the request in `conn`.
pub async fn run_update(gate: &Arc<Gate>, mut conn: Conn) -> Conn {
    let skip = match read_update_request(&mut conn).await {
        Ok(request) => request.skip_components.into_iter().collect::<BTreeSet<_>>(),
        Err((status, detail)) => return responses::json_error(conn, status, detail),
    };
    let Some(running) = RunningFlag::take(&gate.update_running) else {
        return responses::json_error(conn, Status::Conflict, "An update is already running");
    };
    let Some(repo) = gate.update_repo.clone() else {
        return responses::json_error(conn, Status::Conflict, "Updates are not configured");
    };

    log::info!(
        "update started from {} (branch {}), skipping {:?}",
        redact_url_credentials(&repo),
        gate.update_branch,
        skip
    );
    let worker_gate = gate.clone();
    let outcome = smol::unblock(move || {
        let _running = running;
        let outcome = update(&worker_gate, &repo, &skip);
        record(&worker_gate, &outcome);
        outcome
    })
    .await;
    answer(conn, outcome)
}

async fn read_update_request(conn: &mut Conn) -> Result<UpdateRequest, (Status, &'static str)> {
    let body = read_json_body(conn, MAX_BODY_LEN, true)
        .await
        .map_err(|error| match error {
            LoginBodyError::WrongShape => (Status::UnprocessableEntity, SHAPE_DETAIL),
            other => (
                Status::try_from(other.status()).unwrap_or(Status::BadRequest),
                generic_detail(other),
            ),
        })?;
    let Some(body) = body else {
        return Ok(UpdateRequest::default());
    };
    parse_json_object(&body).map_err(|error| match error {
        LoginBodyError::WrongShape => (Status::UnprocessableEntity, SHAPE_DETAIL),
        _ => (Status::BadRequest, "Request body is not valid JSON"),
    })
}

const SHAPE_DETAIL: &str = "Expected an object with an optional list of strings skip_components";

fn generic_detail(error: LoginBodyError) -> &'static str {
    match error {
        LoginBodyError::UnsupportedMediaType => "Content-Type must be application/json",
        LoginBodyError::TooLarge => "Request body is larger than 4096 bytes",
        _ => "Request body is not valid JSON",
    }
}

/// Runs the update on the calling (blocking) thread.
fn update(gate: &Arc<Gate>, repo: &str, skip: &BTreeSet<String>) -> Outcome {
    set_state(gate, UpdateState::Checking, None);

    // Fetch and read the release; nothing local changes on these paths.
    let clone_dir = release_repo::clone_dir(&gate.studio_dir);
    if let Err(error) = release_repo::fetch_release(repo, &gate.update_branch, &clone_dir) {
        return Outcome::FetchFailed(redact_url_credentials(&error.0));
    }
    let release = match std::fs::read(clone_dir.join("version.json")) {
        Ok(bytes) => match Release::parse(&bytes) {
            Ok(release) => release,
            Err(error) => return Outcome::Failed(error),
        },
        Err(error) => {
            return Outcome::Failed(format!("the release has no readable version.json: {error}"))
        }
    };

    // Compare versions.
    let paths = StudioPaths::new(&gate.studio_dir);
    let local = match component_swap::read_local_versions(&paths) {
        Ok(local) => local,
        Err(error) => return Outcome::Failed(error.0),
    };
    // A pre-release suffix (`1.2.0-beta`) does not take part in the comparison.
    let runtime = Version::parse(APP_VERSION.split(['-', '+']).next().unwrap_or_default())
        .unwrap_or_default();
    let names = match release::plan(&release, &local, skip, &runtime, |name| paths.component(name).is_dir()) {
        Plan::Blocked { needs } => {
            return Outcome::Blocked(format!(
                "This release needs studio-gate {needs} or newer; this is {APP_VERSION}. Update studio-gate first."
            ))
        }
        Plan::UpToDate => return Outcome::UpToDate,
        Plan::Install(names) => names,
    };

    // A backend that cannot start would leave the studio down after the restart.
    if names.iter().any(|name| name == BACKEND) {
        if let Err(error) = check_backend_executable(&clone_dir.join(BACKEND)) {
            return Outcome::Failed(error);
        }
    }

    // Copy and swap in maintenance. The guard turns maintenance off on every return path.
    let guard = gate.maintenance.enter();
    set_state(gate, UpdateState::Copying, Some(UpdateProgress::default()));
    let update_id = crate::secret_file::hex(&random_id());
    let merged = release::merged_versions(&local, &release, &names, &update_id);
    let progress = |progress: UpdateProgress| set_progress(gate, progress);
    if let Err(error) = component_swap::install(&paths, &clone_dir, &names, &merged, &progress) {
        return Outcome::Failed(format!("nothing was changed: {error}"));
    }
    gate.frontend.refresh();
    gate.status_cache.clear();

    let restart_needed = names.iter().any(|name| name == BACKEND);
    if restart_needed {
        guard.keep_on();
        set_state(gate, UpdateState::Restarting, None);
        if let Ok(mut target) = gate.restart.lock() {
            *target = Some(restart_executable(&paths));
        }
    }
    Outcome::Installed {
        names,
        restart_needed,
    }
}

fn random_id() -> [u8; 16] {
    let mut bytes = [0u8; 16];
    if getrandom::getrandom(&mut bytes).is_err() {
        bytes[..8].copy_from_slice(&unix_now().to_le_bytes());
    }
    bytes
}

/// Returns the executable to re-execute after a backend update: the one the backend
/// component ships, or this process's own.
pub fn restart_executable(paths: &StudioPaths) -> PathBuf {
    let shipped = paths.component(BACKEND).join(BACKEND_EXECUTABLE);
    if is_executable(&shipped) {
        return shipped;
    }
    std::env::current_exe()
        .unwrap_or_else(|_| PathBuf::from(std::env::args_os().next().unwrap_or_default()))
}

/// How long `studio-gate --version` of a new backend may take.
const BACKEND_CHECK_LIMIT: Duration = Duration::from_secs(10);

/// Checks the `studio-gate` a backend release ships, if it ships one: it must be an
/// executable file that prints `studio-gate <version>` for `--version` and exits with 0.
/// A backend without one restarts into the running executable and needs no check.
fn check_backend_executable(backend: &Path) -> Result<(), String> {
    let executable = backend.join(BACKEND_EXECUTABLE);
    let Ok(metadata) = std::fs::symlink_metadata(&executable) else {
        return Ok(());
    };
    if !is_executable(&executable) || !metadata.is_file() {
        return Err(format!(
            "the release's {BACKEND}/{BACKEND_EXECUTABLE} is not an executable file; nothing was changed"
        ));
    }

    let failed = |reason: String| {
        format!("the release's {BACKEND}/{BACKEND_EXECUTABLE} does not run ({reason}); nothing was changed")
    };

    let mut child = std::process::Command::new(&executable)
        .arg("--version")
        .env_clear()
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|error| failed(error.to_string()))?;

    let status = match release_repo::wait_with_limit(&mut child, BACKEND_CHECK_LIMIT) {
        Ok(Some(status)) => status,
        Ok(None) => {
            return Err(failed(format!(
                "--version took longer than {} s",
                BACKEND_CHECK_LIMIT.as_secs()
            )))
        }
        Err(error) => return Err(failed(error.to_string())),
    };

    let mut output = String::new();
    if let Some(stdout) = child.stdout.take() {
        use std::io::Read;
        let _ = stdout.take(256).read_to_string(&mut output);
    }

    if !status.success() {
        return Err(failed(format!("--version exited with {status}")));
    }
    if !output.starts_with("studio-gate ") {
        return Err(failed(
            "--version did not print \"studio-gate <version>\"".to_owned(),
        ));
    }
    Ok(())
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .is_ok_and(|metadata| metadata.is_file() && metadata.permissions().mode() & 0o111 != 0)
}

fn set_state(gate: &Gate, state: UpdateState, progress: Option<UpdateProgress>) {
    if let Ok(mut status) = gate.update_status.lock() {
        status.state = state;
        status.progress = progress;
    }
    gate.maintenance.set_progress(progress);
}

fn set_progress(gate: &Gate, progress: UpdateProgress) {
    if let Ok(mut status) = gate.update_status.lock() {
        status.progress = Some(progress);
    }
    gate.maintenance.set_progress(Some(progress));
}

/// Stores the outcome in the status, and logs it.
fn record(gate: &Gate, outcome: &Outcome) {
    let Ok(mut status) = gate.update_status.lock() else {
        return;
    };
    if status.state != UpdateState::Restarting {
        status.state = UpdateState::Idle;
    }
    status.progress = None;
    status.last_finished_at = Some(unix_now());
    match outcome {
        Outcome::FetchFailed(error) | Outcome::Failed(error) => {
            log::error!("update failed: {error}");
            status.last_error = Some(error.clone());
            status.last_result = None;
        }
        other => {
            let (_, body) = outcome_body(other);
            log::info!("update finished: {}", body["message"]);
            status.last_error = None;
            status.last_result = Some(body);
        }
    }
    // Saved after the lock is released, so that status requests do not wait for the disk.
    let finished = status.clone();
    drop(status);
    if let Err(error) = finished.save(&gate.studio_dir) {
        log::warn!("cannot save the update outcome in STUDIO_DIR: {error}");
    }
    gate.maintenance.set_progress(None);
}

fn answer(conn: Conn, outcome: Outcome) -> Conn {
    let restart = matches!(
        outcome,
        Outcome::Installed {
            restart_needed: true,
            ..
        }
    );
    let (status, body) = outcome_body(&outcome);
    let conn = responses::json(conn, status, &body);
    if restart {
        log::info!("restarting to run the new backend");
        conn.swansong().shut_down();
    }
    conn
}

fn outcome_body(outcome: &Outcome) -> (Status, serde_json::Value) {
    match outcome {
        Outcome::Blocked(message) => (
            Status::Ok,
            json!({ "updated": [], "blocked": true, "message": message }),
        ),
        Outcome::UpToDate => (
            Status::Ok,
            json!({ "updated": [], "restart_needed": false, "message": "Everything up to date" }),
        ),
        Outcome::Installed {
            names,
            restart_needed,
        } => (
            Status::Ok,
            json!({
                "updated": names,
                "restart_needed": restart_needed,
                "message": format!("Updated: {}", names.join(", ")),
            }),
        ),
        Outcome::FetchFailed(error) => (
            Status::BadGateway,
            json!({ "detail": format!("Fetching the release failed: {error}") }),
        ),
        Outcome::Failed(error) => (
            Status::InternalServerError,
            json!({ "detail": format!("Update failed: {error}") }),
        ),
    }
}

/// Hides the user and password of URLs (`https://user:token@host`), which git repeats in its
/// error messages.
pub fn redact_url_credentials(text: &str) -> String {
    let mut redacted = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("://") {
        let (before, after) = rest.split_at(start + 3);
        redacted.push_str(before);
        let authority_end = after
            .find(|c: char| c == '/' || c.is_whitespace() || c == '\'' || c == '"')
            .unwrap_or(after.len());
        match after[..authority_end].rfind('@') {
            Some(at) => {
                redacted.push_str("***");
                rest = &after[at..];
            }
            None => rest = after,
        }
    }
    redacted.push_str(rest);
    redacted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_credentials_are_redacted() {
        assert_eq!(
            redact_url_credentials(
                "fatal: could not read from 'https://bob:tok3n@git.example/repo.git'"
            ),
            "fatal: could not read from 'https://***@git.example/repo.git'"
        );
        assert_eq!(
            redact_url_credentials("https://git.example/a@b"),
            "https://git.example/a@b"
        );
        assert_eq!(redact_url_credentials("no url"), "no url");
        assert_eq!(
            redact_url_credentials("ssh://git@h/x and https://u:p@h2/y"),
            "ssh://***@h/x and https://***@h2/y"
        );
    }

    #[test]
    fn answers_have_the_documented_shape() {
        let (status, body) = outcome_body(&Outcome::UpToDate);
        assert_eq!(status, Status::Ok);
        assert_eq!(
            body.to_string(),
            r#"{"updated":[],"restart_needed":false,"message":"Everything up to date"}"#
        );
        let installed = Outcome::Installed {
            names: vec!["a".into(), "b".into()],
            restart_needed: false,
        };
        assert_eq!(
            outcome_body(&installed).1.to_string(),
            r#"{"updated":["a","b"],"restart_needed":false,"message":"Updated: a, b"}"#
        );
        assert_eq!(
            outcome_body(&Outcome::FetchFailed("x".into())).0,
            Status::BadGateway
        );
        assert_eq!(
            outcome_body(&Outcome::Failed("x".into())).0,
            Status::InternalServerError
        );
        assert_eq!(
            outcome_body(&Outcome::Blocked("m".into())).1["blocked"],
            true
        );
    }
}
