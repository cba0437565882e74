//! Component updates from the release repository.

use std::sync::Arc;

use trillium::{Conn, Status};

use crate::gate::Gate;
use crate::responses;

/// Runs an update.
// TODO: fetching and copying components are not built yet, so a configured UPDATE_REPO is
// answered with 501 and nothing changes.
pub async fn run_update(_gate: &Arc<Gate>, conn: Conn) -> Conn {
    responses::json_error(conn, Status::NotImplemented, "Updates are not available in this build")
}
