//! The state of updates, as the status route reports it.

use std::path::Path;

use serde::{Deserialize, Serialize};

/// The updater's current activity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum UpdateState {
    /// No update is running.
    #[default]
    Idle,
    /// Fetching the release repository and comparing versions.
    Checking,
    /// Copying components, in maintenance.
    Copying,
    /// About to re-execute after a backend update.
    Restarting,
}

/// Copy progress of the running update.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct UpdateProgress {
    /// Files copied so far.
    pub files_done: u64,
    /// Files to copy in all.
    pub files_total: u64,
    /// Bytes copied so far.
    pub bytes_done: u64,
    /// Bytes to copy in all.
    pub bytes_total: u64,
}

/// The updater's state and the outcome of the last update.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct UpdateStatus {
    /// The updater's current activity.
    pub state: UpdateState,
    /// The response body of the last finished update, if it succeeded.
    pub last_result: Option<serde_json::Value>,
    /// The reason the last update failed, if it did.
    pub last_error: Option<String>,
    /// When the last update finished, in Unix seconds.
    pub last_finished_at: Option<u64>,
    /// Progress of the copy, while one runs.
    pub progress: Option<UpdateProgress>,
}

/// The file in `STUDIO_DIR` that keeps the last update's outcome across a restart.
pub const LAST_UPDATE_FILE: &str = ".last_update.json";

/// The largest last-update file read back; anything larger is ignored.
const MAX_LAST_UPDATE_LEN: u64 = 64 * 1024;

/// The outcome of the last update, as kept in [`LAST_UPDATE_FILE`].
#[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
struct LastUpdate {
    last_result: Option<serde_json::Value>,
    last_error: Option<String>,
    last_finished_at: Option<u64>,
}

impl UpdateStatus {
    /// Returns an idle status with the last outcome saved in `studio_dir`, so the process
    /// that a backend update started reports how that update ended. A missing or unreadable
    /// file gives no last outcome.
    pub fn load(studio_dir: &Path) -> Self {
        let path = studio_dir.join(LAST_UPDATE_FILE);
        let last = std::fs::metadata(&path)
            .ok()
            .filter(|metadata| metadata.is_file() && metadata.len() <= MAX_LAST_UPDATE_LEN)
            .and_then(|_| std::fs::read(&path).ok())
            .and_then(|bytes| serde_json::from_slice::<LastUpdate>(&bytes).ok())
            .unwrap_or_default();
        Self {
            last_result: last.last_result,
            last_error: last.last_error,
            last_finished_at: last.last_finished_at,
            ..Self::default()
        }
    }

    /// Saves the last outcome in `studio_dir`, replacing the file atomically.
    pub fn save(&self, studio_dir: &Path) -> std::io::Result<()> {
        let last = LastUpdate {
            last_result: self.last_result.clone(),
            last_error: self.last_error.clone(),
            last_finished_at: self.last_finished_at,
        };
        let text = serde_json::to_vec(&last).map_err(std::io::Error::other)?;
        crate::revocation::replace_file(&studio_dir.join(LAST_UPDATE_FILE), &text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_outcome_loads_as_idle() {
        let dir = tempfile::tempdir().unwrap();
        let status = UpdateStatus {
            state: UpdateState::Restarting,
            last_result: Some(serde_json::json!({"message": "Updated: backend"})),
            last_error: None,
            last_finished_at: Some(1_780_000_000),
            progress: Some(UpdateProgress::default()),
        };
        status.save(dir.path()).unwrap();
        let loaded = UpdateStatus::load(dir.path());
        assert_eq!(loaded.state, UpdateState::Idle);
        assert_eq!(loaded.progress, None);
        assert_eq!(loaded.last_result, status.last_result);
        assert_eq!(loaded.last_finished_at, Some(1_780_000_000));
    }

    #[test]
    fn missing_or_malformed_file_loads_empty() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(UpdateStatus::load(dir.path()), UpdateStatus::default());
        std::fs::write(dir.path().join(LAST_UPDATE_FILE), b"{not json").unwrap();
        assert_eq!(UpdateStatus::load(dir.path()), UpdateStatus::default());
    }
}
