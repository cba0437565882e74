//! The system routes: `GET /api/health`, `GET /api/admin/system/status` and
//! `POST /api/admin/system/update`.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::{json, Value};
use trillium::{Conn, Status};

use crate::gate::Gate;
use crate::responses;

/// This binary's version, compared against a release's `min_runtime`.
pub const APP_VERSION: &str = env!("CARGO_PKG_VERSION");

/// `GET /api/health`: 200 `{"status":"ok"}` whenever the server answers at all.
pub fn health(conn: Conn) -> Conn {
    responses::json(conn, Status::Ok, &json!({ "status": "ok" }))
}

/// `GET /api/admin/system/status`: versions, maintenance, update state, components, disk,
/// uptime and pid.
pub async fn status(gate: &Arc<Gate>, conn: Conn) -> Conn {
    // At most once a second this reads version.json and calls statvfs on this thread: both
    // take microseconds, less than handing the work to a thread pool on every request.
    let (components, disk) = gate.status_cache.get(&gate.studio_dir);
    let update = gate
        .update_status
        .lock()
        .map(|status| status.clone())
        .unwrap_or_default();
    let body = json!({
        "app_version": APP_VERSION,
        "maintenance": gate.maintenance.is_on(),
        "update": update,
        "components": components,
        "disk": disk,
        "uptime_secs": gate.started.elapsed().as_secs(),
        "pid": std::process::id(),
    });
    responses::json(conn, Status::Ok, &body)
}

/// `POST /api/admin/system/update`.
pub async fn update(gate: &Arc<Gate>, conn: Conn) -> Conn {
    if gate.update_repo.is_none() {
        return responses::json_error(
            conn,
            Status::Conflict,
            "Updates are not configured: set UPDATE_REPO to the git repository of releases \
             (and UPDATE_BRANCH if it is not main), then restart studio-gate",
        );
    }
    crate::updater::run_update(gate, conn).await
}

/// How long component and disk figures are reused before they are read again.
const STATUS_CACHE_TTL: Duration = Duration::from_secs(1);

/// The slow parts of the status (a file read and a `statvfs` call), reused for
/// [`STATUS_CACHE_TTL`] so that polling the status costs little. Updates clear it.
#[derive(Debug, Default)]
pub struct StatusCache(Mutex<Option<(Instant, Value, Value)>>);

impl StatusCache {
    /// Returns the components and disk figures of `dir`, reading them if the cache is stale.
    pub fn get(&self, dir: &Path) -> (Value, Value) {
        if let Ok(cache) = self.0.lock() {
            if let Some((read_at, components, disk)) = cache.as_ref() {
                if read_at.elapsed() < STATUS_CACHE_TTL {
                    return (components.clone(), disk.clone());
                }
            }
        }
        let components = Value::from(installed_components(dir));
        let disk = disk_usage(dir);
        if let Ok(mut cache) = self.0.lock() {
            *cache = Some((Instant::now(), components.clone(), disk.clone()));
        }
        (components, disk)
    }

    /// Forgets the cached figures, after an update changed the components.
    pub fn clear(&self) {
        if let Ok(mut cache) = self.0.lock() {
            *cache = None;
        }
    }
}

/// The part of `STUDIO_DIR/version.json` the status reads.
#[derive(Debug, Default, Deserialize)]
struct LocalVersions {
    #[serde(default)]
    components: BTreeMap<String, String>,
}

/// Lists the components named in `STUDIO_DIR/version.json`, with whether each folder exists.
fn installed_components(dir: &Path) -> Vec<serde_json::Value> {
    let versions: LocalVersions = std::fs::read(dir.join("version.json"))
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default();
    versions
        .components
        .into_iter()
        .map(|(name, version)| {
            let present = dir.join("components").join(&name).is_dir();
            json!({ "name": name, "version": version, "present": present })
        })
        .collect()
}

/// Returns total, used and free bytes of the file system holding `dir`.
fn disk_usage(dir: &Path) -> serde_json::Value {
    match rustix::fs::statvfs(dir) {
        Ok(stats) => {
            let block = stats.f_frsize;
            let total = stats.f_blocks.saturating_mul(block);
            let free = stats.f_bavail.saturating_mul(block);
            let used = stats
                .f_blocks
                .saturating_sub(stats.f_bfree)
                .saturating_mul(block);
            json!({ "total_bytes": total, "used_bytes": used, "free_bytes": free })
        }
        Err(error) => {
            log::error!("cannot read disk usage of {}: {error}", dir.display());
            json!({ "total_bytes": null, "used_bytes": null, "free_bytes": null })
        }
    }
}
