//! Installing components: copy into a staging folder, then swap into place by renames, with
//! a journal so that a crash at any point leaves the old components or the new ones, never a
//! mix.
//!
//! Layout inside `STUDIO_DIR`:
//!
//! - `components/<name>`: installed components;
//! - `.update/new/<name>`: copies being prepared;
//! - `.update/old/<name>`: replaced components, kept until the update is committed;
//! - `.update/journal.json`: the update's id and which components it swaps, written before the
//!   first rename.
//!
//! The update is committed when `STUDIO_DIR/version.json`, carrying the same id, replaces the
//! old one by an atomic rename. [`recover`] runs before every update and at start-up: a
//! committed update only has its leftovers deleted; an uncommitted one is undone.
//!
//! Symlinks in a component are refused, so no installed file can lead outside its folder.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::release::LocalVersions;
use crate::revocation::replace_file;
use crate::update_status::UpdateProgress;

/// The staging folder inside `STUDIO_DIR`.
pub const STAGING_DIR: &str = ".update";

/// The installed components' folder inside `STUDIO_DIR`.
pub const COMPONENTS_DIR: &str = "components";

/// The studio's record of installed versions inside `STUDIO_DIR`.
pub const VERSION_FILE: &str = "version.json";

/// An install that failed. The message names the component or file and the cause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallError(pub String);

impl std::fmt::Display for InstallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Journal {
    update_id: String,
    components: Vec<JournalEntry>,
}

#[derive(Debug, Serialize, Deserialize)]
struct JournalEntry {
    name: String,
    had_old: bool,
}

/// Paths of one studio folder.
#[derive(Debug, Clone)]
pub struct StudioPaths {
    root: PathBuf,
}

impl StudioPaths {
    /// Paths inside `studio_dir`.
    pub fn new(studio_dir: &Path) -> Self {
        Self {
            root: studio_dir.to_owned(),
        }
    }

    /// `components/<name>`.
    pub fn component(&self, name: &str) -> PathBuf {
        self.root.join(COMPONENTS_DIR).join(name)
    }

    fn staging(&self) -> PathBuf {
        self.root.join(STAGING_DIR)
    }

    fn staged_new(&self, name: &str) -> PathBuf {
        self.staging().join("new").join(name)
    }

    fn staged_old(&self, name: &str) -> PathBuf {
        self.staging().join("old").join(name)
    }

    fn journal(&self) -> PathBuf {
        self.staging().join("journal.json")
    }

    /// `version.json`.
    pub fn version_file(&self) -> PathBuf {
        self.root.join(VERSION_FILE)
    }
}

/// Reads `STUDIO_DIR/version.json`; a missing file means nothing is installed.
pub fn read_local_versions(paths: &StudioPaths) -> Result<LocalVersions, InstallError> {
    match fs::read(paths.version_file()) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|error| {
            InstallError(format!("{VERSION_FILE} of the studio is invalid: {error}"))
        }),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(LocalVersions::default()),
        Err(error) => Err(InstallError(format!("cannot read {VERSION_FILE}: {error}"))),
    }
}

/// Installs `names` from `source_root/<name>` and then writes `versions`, whose `update_id`
/// marks the commit. On any error every component is left as it was.
pub fn install(
    paths: &StudioPaths,
    source_root: &Path,
    names: &[String],
    versions: &LocalVersions,
    progress: &dyn Fn(UpdateProgress),
) -> Result<(), InstallError> {
    recover(paths)?;
    let result = stage_and_swap(paths, source_root, names, versions, progress);
    if result.is_err() {
        if let Err(error) = recover(paths) {
            log::error!("undoing the failed update failed: {error}");
        }
    }
    result
}

fn stage_and_swap(
    paths: &StudioPaths,
    source_root: &Path,
    names: &[String],
    versions: &LocalVersions,
    progress: &dyn Fn(UpdateProgress),
) -> Result<(), InstallError> {
    // Copy every component into staging; nothing installed has changed yet.
    create_dir(&paths.staging().join("new"))?;
    create_dir(&paths.staging().join("old"))?;
    create_dir(&paths.root.join(COMPONENTS_DIR))?;
    let mut done = measure(source_root, names)?;
    for name in names {
        copy_tree(
            &source_root.join(name),
            &paths.staged_new(name),
            &mut done,
            progress,
        )?;
    }

    // Record the plan, then swap each component by renames.
    let update_id = versions.update_id.clone().unwrap_or_default();
    let entries = names
        .iter()
        .map(|name| JournalEntry {
            name: name.clone(),
            had_old: paths.component(name).exists(),
        })
        .collect();
    write_json(
        &paths.journal(),
        &Journal {
            update_id,
            components: entries,
        },
    )?;
    for name in names {
        swap_in(paths, name)?;
    }

    // Commit by replacing version.json, then drop the old copies.
    write_json(&paths.version_file(), versions)?;
    remove_staging(paths);
    Ok(())
}

fn swap_in(paths: &StudioPaths, name: &str) -> Result<(), InstallError> {
    let installed = paths.component(name);
    if installed.exists() {
        rename(&installed, &paths.staged_old(name))?;
    }
    rename(&paths.staged_new(name), &installed)
}

/// Finishes or undoes an interrupted update, then removes the staging folder.
pub fn recover(paths: &StudioPaths) -> Result<(), InstallError> {
    if !paths.staging().exists() {
        return Ok(());
    }
    log::warn!(
        "found {} left by an unfinished update; cleaning it up",
        paths.staging().display()
    );
    let journal: Option<Journal> = fs::read(paths.journal())
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok());
    if let Some(journal) = journal {
        let committed = read_local_versions(paths)
            .ok()
            .and_then(|versions| versions.update_id)
            .is_some_and(|id| id == journal.update_id);
        if !committed {
            log::warn!("undoing an interrupted update");
            undo_swaps(paths, &journal)?;
        }
    }
    fs::remove_dir_all(paths.staging())
        .map_err(|error| InstallError(format!("cannot remove the staging folder: {error}")))
}

fn undo_swaps(paths: &StudioPaths, journal: &Journal) -> Result<(), InstallError> {
    for entry in journal.components.iter().rev() {
        let installed = paths.component(&entry.name);
        let old = paths.staged_old(&entry.name);
        let new = paths.staged_new(&entry.name);
        if old.exists() {
            remove_if_exists(&installed)?;
            rename(&old, &installed)?;
        } else if !entry.had_old && !new.exists() {
            // A component that did not exist before was already moved in: remove it.
            remove_if_exists(&installed)?;
        }
    }
    Ok(())
}

/// Counts the files and bytes to copy, and refuses symlinks and missing folders up front.
fn measure(source_root: &Path, names: &[String]) -> Result<UpdateProgress, InstallError> {
    let mut totals = UpdateProgress::default();
    for name in names {
        let folder = source_root.join(name);
        let metadata = fs::symlink_metadata(&folder);
        if !metadata.is_ok_and(|metadata| metadata.is_dir()) {
            return Err(InstallError(format!(
                "component {name}: folder {name}/ is missing from the release"
            )));
        }
        count_tree(&folder, name, &mut totals)?;
    }
    Ok(totals)
}

fn count_tree(folder: &Path, label: &str, totals: &mut UpdateProgress) -> Result<(), InstallError> {
    for entry in read_dir(folder)? {
        let path = entry.path();
        let metadata = fs::symlink_metadata(&path).map_err(|error| io_error(&path, error))?;
        let shown = format!("{label}/{}", entry.file_name().to_string_lossy());
        if metadata.file_type().is_symlink() {
            return Err(InstallError(format!(
                "{shown} is a symlink; components may not contain symlinks"
            )));
        }
        if metadata.is_dir() {
            count_tree(&path, &shown, totals)?;
        } else if metadata.is_file() {
            totals.files_total += 1;
            totals.bytes_total += metadata.len();
        } else {
            return Err(InstallError(format!(
                "{shown} is not a regular file or folder"
            )));
        }
    }
    Ok(())
}

fn copy_tree(
    from: &Path,
    to: &Path,
    done: &mut UpdateProgress,
    progress: &dyn Fn(UpdateProgress),
) -> Result<(), InstallError> {
    create_dir(to)?;
    for entry in read_dir(from)? {
        let source = entry.path();
        let target = to.join(entry.file_name());
        let metadata = fs::symlink_metadata(&source).map_err(|error| io_error(&source, error))?;
        if metadata.is_dir() {
            copy_tree(&source, &target, done, progress)?;
        } else if metadata.is_file() {
            copy_file(&source, &target)?;
            done.files_done += 1;
            done.bytes_done += metadata.len();
            progress(*done);
        } else {
            return Err(InstallError(format!(
                "{} is not a regular file or folder",
                source.display()
            )));
        }
    }
    Ok(())
}

/// Copies one file with its permissions and flushes it to disk.
fn copy_file(from: &Path, to: &Path) -> Result<(), InstallError> {
    fs::copy(from, to)
        .map_err(|error| InstallError(format!("cannot copy {}: {error}", from.display())))?;
    fs::File::open(to)
        .and_then(|file| file.sync_all())
        .map_err(|error| io_error(to, error))
}

fn read_dir(folder: &Path) -> Result<Vec<fs::DirEntry>, InstallError> {
    let mut entries: Vec<fs::DirEntry> = fs::read_dir(folder)
        .and_then(|entries| entries.collect::<io::Result<Vec<_>>>())
        .map_err(|error| io_error(folder, error))?;
    entries.sort_by_key(fs::DirEntry::file_name);
    Ok(entries)
}

fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), InstallError> {
    let mut text =
        serde_json::to_vec_pretty(value).map_err(|error| InstallError(error.to_string()))?;
    text.push(b'\n');
    replace_file(path, &text).map_err(|error| io_error(path, error))
}

fn create_dir(path: &Path) -> Result<(), InstallError> {
    fs::create_dir_all(path).map_err(|error| io_error(path, error))
}

fn rename(from: &Path, to: &Path) -> Result<(), InstallError> {
    fs::rename(from, to).map_err(|error| {
        InstallError(format!(
            "cannot move {} to {}: {error}",
            from.display(),
            to.display()
        ))
    })
}

fn remove_if_exists(path: &Path) -> Result<(), InstallError> {
    match fs::remove_dir_all(path) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(io_error(path, error)),
    }
}

fn remove_staging(paths: &StudioPaths) {
    if let Err(error) = fs::remove_dir_all(paths.staging()) {
        log::warn!("cannot remove the staging folder; the next update will: {error}");
    }
}

fn io_error(path: &Path, error: io::Error) -> InstallError {
    InstallError(format!("{}: {error}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn write(path: &Path, text: &str) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    fn read(path: &Path) -> String {
        fs::read_to_string(path).unwrap()
    }

    fn versions(id: &str, components: &[(&str, &str)]) -> LocalVersions {
        LocalVersions {
            app_version: Some("2".into()),
            components: components
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
            update_id: Some(id.into()),
        }
    }

    struct Fixture {
        _dir: tempfile::TempDir,
        studio: StudioPaths,
        release: PathBuf,
    }

    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let studio = StudioPaths::new(&dir.path().join("studio"));
        let release = dir.path().join("release");
        write(
            &studio.component("frontend").join("index.html"),
            "old frontend",
        );
        write(&studio.version_file(), r#"{"components":{"frontend":"1"}}"#);
        write(&release.join("frontend/index.html"), "new frontend");
        write(&release.join("frontend/assets/app.js"), "new script");
        write(&release.join("models/list.txt"), "new models");
        Fixture {
            _dir: dir,
            studio,
            release,
        }
    }

    fn no_progress(_: UpdateProgress) {}

    #[test]
    fn install_swaps_and_commits() {
        let f = fixture();
        let names = vec!["frontend".to_string(), "models".to_string()];
        let seen = std::cell::Cell::new(UpdateProgress::default());
        install(
            &f.studio,
            &f.release,
            &names,
            &versions("u1", &[("frontend", "2"), ("models", "1")]),
            &|p| seen.set(p),
        )
        .unwrap();
        assert_eq!(
            read(&f.studio.component("frontend").join("index.html")),
            "new frontend"
        );
        assert_eq!(
            read(&f.studio.component("frontend").join("assets/app.js")),
            "new script"
        );
        assert_eq!(
            read(&f.studio.component("models").join("list.txt")),
            "new models"
        );
        assert_eq!(
            read_local_versions(&f.studio).unwrap().components["frontend"],
            "2"
        );
        assert!(!f.studio.staging().exists());
        let progress = seen.get();
        assert_eq!((progress.files_done, progress.files_total), (3, 3));
        assert_eq!(progress.bytes_done, progress.bytes_total);
    }

    #[test]
    fn missing_folder_changes_nothing() {
        let f = fixture();
        let names = vec!["frontend".to_string(), "backend".to_string()];
        let error = install(
            &f.studio,
            &f.release,
            &names,
            &versions("u1", &[]),
            &no_progress,
        )
        .unwrap_err();
        assert!(error.0.contains("backend/ is missing"), "{error}");
        assert_eq!(
            read(&f.studio.component("frontend").join("index.html")),
            "old frontend"
        );
        assert_eq!(
            read_local_versions(&f.studio).unwrap().components["frontend"],
            "1"
        );
        assert!(!f.studio.staging().exists());
    }

    #[test]
    fn symlink_in_component_changes_nothing() {
        let f = fixture();
        std::os::unix::fs::symlink("/etc/hostname", f.release.join("frontend/leak")).unwrap();
        let names = vec!["frontend".to_string()];
        let error = install(
            &f.studio,
            &f.release,
            &names,
            &versions("u1", &[]),
            &no_progress,
        )
        .unwrap_err();
        assert!(error.0.contains("frontend/leak is a symlink"), "{error}");
        assert_eq!(
            read(&f.studio.component("frontend").join("index.html")),
            "old frontend"
        );
    }

    #[test]
    fn crash_after_partial_swap_is_undone() {
        let f = fixture();
        // The state a crash leaves after frontend was swapped and models moved in, before the
        // commit: journal written, old frontend in staging, new ones installed.
        let journal = Journal {
            update_id: "u9".into(),
            components: vec![
                JournalEntry {
                    name: "frontend".into(),
                    had_old: true,
                },
                JournalEntry {
                    name: "models".into(),
                    had_old: false,
                },
            ],
        };
        fs::create_dir_all(f.studio.staged_old("x").parent().unwrap()).unwrap();
        write_json(&f.studio.journal(), &journal).unwrap();
        fs::rename(
            f.studio.component("frontend"),
            f.studio.staged_old("frontend"),
        )
        .unwrap();
        write(
            &f.studio.component("frontend").join("index.html"),
            "new frontend",
        );
        write(&f.studio.component("models").join("list.txt"), "new models");

        recover(&f.studio).unwrap();
        assert_eq!(
            read(&f.studio.component("frontend").join("index.html")),
            "old frontend"
        );
        assert!(!f.studio.component("models").exists());
        assert!(!f.studio.staging().exists());
    }

    #[test]
    fn crash_between_renames_is_undone() {
        let f = fixture();
        let journal = Journal {
            update_id: "u9".into(),
            components: vec![JournalEntry {
                name: "frontend".into(),
                had_old: true,
            }],
        };
        fs::create_dir_all(f.studio.staged_old("x").parent().unwrap()).unwrap();
        write_json(&f.studio.journal(), &journal).unwrap();
        fs::rename(
            f.studio.component("frontend"),
            f.studio.staged_old("frontend"),
        )
        .unwrap();

        recover(&f.studio).unwrap();
        assert_eq!(
            read(&f.studio.component("frontend").join("index.html")),
            "old frontend"
        );
    }

    #[test]
    fn crash_after_commit_keeps_the_new_components() {
        let f = fixture();
        let journal = Journal {
            update_id: "u9".into(),
            components: vec![JournalEntry {
                name: "frontend".into(),
                had_old: true,
            }],
        };
        fs::create_dir_all(f.studio.staged_old("x").parent().unwrap()).unwrap();
        write_json(&f.studio.journal(), &journal).unwrap();
        fs::rename(
            f.studio.component("frontend"),
            f.studio.staged_old("frontend"),
        )
        .unwrap();
        write(
            &f.studio.component("frontend").join("index.html"),
            "new frontend",
        );
        write_json(
            &f.studio.version_file(),
            &versions("u9", &[("frontend", "2")]),
        )
        .unwrap();

        recover(&f.studio).unwrap();
        assert_eq!(
            read(&f.studio.component("frontend").join("index.html")),
            "new frontend"
        );
        assert!(!f.studio.staging().exists());
    }

    #[test]
    fn crash_during_copy_leaves_nothing_to_undo() {
        let f = fixture();
        write(&f.studio.staged_new("frontend").join("index.html"), "half");
        recover(&f.studio).unwrap();
        assert_eq!(
            read(&f.studio.component("frontend").join("index.html")),
            "old frontend"
        );
        assert!(!f.studio.staging().exists());
    }
}
