//! The release repository: a shallow clone of `UPDATE_REPO` kept at `STUDIO_DIR/.repo`,
//! brought up to date with the `git` command-line tool.
//!
//! An existing clone is fetched and reset to the branch's tip. If that fails (the clone is
//! damaged, or `UPDATE_REPO` now points elsewhere), the clone is removed and made again, once.
//! Every git command runs under [`GIT_TIME_LIMIT`], without a terminal prompt, and with the
//! repository address after `--` so that it can never be read as an option.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The maximum time one git command may run before it is killed.
pub const GIT_TIME_LIMIT: Duration = Duration::from_secs(120);

/// The maximum number of bytes of git's error output kept for a message.
const MAX_ERROR_OUTPUT: usize = 2000;

/// A fetch that failed. The message is for the operator: it names the command and quotes
/// git's error output, which never contains our secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchError(pub String);

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Brings the clone at `clone_dir` up to date with `branch` of `repo`, cloning it if needed.
pub fn fetch_release(repo: &str, branch: &str, clone_dir: &Path) -> Result<(), FetchError> {
    if clone_dir.join(".git").is_dir() {
        match update_clone(repo, branch, clone_dir) {
            Ok(()) => return Ok(()),
            Err(error) => log::warn!("updating the release clone failed, cloning again: {error}"),
        }
    }
    if clone_dir.exists() {
        std::fs::remove_dir_all(clone_dir).map_err(|error| {
            FetchError(format!("cannot remove {}: {error}", clone_dir.display()))
        })?;
    }
    clone(repo, branch, clone_dir)
}

fn update_clone(repo: &str, branch: &str, clone_dir: &Path) -> Result<(), FetchError> {
    let dir = clone_dir.to_string_lossy();
    run_git(&["-C", &dir, "remote", "set-url", "origin", "--", repo])?;
    run_git(&[
        "-C", &dir, "fetch", "--quiet", "--depth", "1", "origin", "--", branch,
    ])?;
    run_git(&["-C", &dir, "reset", "--quiet", "--hard", "FETCH_HEAD"])?;
    run_git(&["-C", &dir, "clean", "--quiet", "-d", "--force", "-x"])
}

fn clone(repo: &str, branch: &str, clone_dir: &Path) -> Result<(), FetchError> {
    let dir = clone_dir.to_string_lossy();
    let url = local_path_as_url(repo);
    run_git(&[
        "clone",
        "--quiet",
        "--depth",
        "1",
        "--single-branch",
        "--branch",
        branch,
        "--",
        &url,
        &dir,
    ])
}

/// Turns a plain local path into a `file://` URL, because git ignores `--depth` for plain
/// paths and copies the whole history.
fn local_path_as_url(repo: &str) -> String {
    if repo.starts_with('/') && Path::new(repo).exists() {
        format!("file://{repo}")
    } else {
        repo.to_owned()
    }
}

/// Runs git with `args`, killing it after [`GIT_TIME_LIMIT`].
fn run_git(args: &[&str]) -> Result<(), FetchError> {
    let name = subcommand(args);
    let mut child = Command::new("git")
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_ASKPASS", "true")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|error| FetchError(format!("cannot run git: {error}; is git installed?")))?;

    // A thread drains the error output so that git never blocks on a full pipe.
    let stderr = child.stderr.take();
    let reader = std::thread::spawn(move || {
        let mut output = Vec::new();
        if let Some(mut stderr) = stderr {
            let _ = stderr.read_to_end(&mut output);
        }
        output
    });

    let status = match wait_with_limit(&mut child, GIT_TIME_LIMIT) {
        Ok(Some(status)) => status,
        Ok(None) => {
            let limit = GIT_TIME_LIMIT.as_secs();
            return Err(FetchError(format!(
                "git {name} timed out after {limit} seconds"
            )));
        }
        Err(error) => {
            return Err(FetchError(format!(
                "waiting for git {name} failed: {error}"
            )))
        }
    };
    let output = reader.join().unwrap_or_default();
    if status.success() {
        return Ok(());
    }
    let mut text = String::from_utf8_lossy(&output).trim().to_owned();
    if text.len() > MAX_ERROR_OUTPUT {
        let cut = (0..=MAX_ERROR_OUTPUT)
            .rev()
            .find(|&index| text.is_char_boundary(index))
            .unwrap_or(0);
        text.truncate(cut);
    }
    Err(FetchError(format!("git {name} failed ({status}): {text}")))
}

/// Returns the git subcommand of `args`, skipping a leading `-C <dir>`.
fn subcommand<'a>(args: &[&'a str]) -> &'a str {
    match args {
        ["-C", _, name, ..] | [name, ..] => name,
        [] => "",
    }
}

/// Returns the folder of the release clone inside `studio_dir`.
pub fn clone_dir(studio_dir: &Path) -> PathBuf {
    studio_dir.join(".repo")
}

/// Waits for `child` to exit, for at most `limit`. Returns `None` after killing it when the
/// limit passes first.
pub fn wait_with_limit(
    child: &mut std::process::Child,
    limit: Duration,
) -> std::io::Result<Option<std::process::ExitStatus>> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
