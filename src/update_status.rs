//! The state of updates, as the status route reports it.

use serde::Serialize;

/// What the updater is doing.
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
    /// What the updater is doing now.
    pub state: UpdateState,
    /// The answer of the last finished update, if it succeeded.
    pub last_result: Option<serde_json::Value>,
    /// The reason the last update failed, if it did.
    pub last_error: Option<String>,
    /// When the last update finished, in Unix seconds.
    pub last_finished_at: Option<u64>,
    /// Progress of the copy, while one runs.
    pub progress: Option<UpdateProgress>,
}
