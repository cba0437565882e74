//! The frontend: the pages and assets under `/static/`, `/login` and `/home`.
//!
//! The bundled frontend (the repository's `static/` folder) is compiled into the binary, so
//! an installed `studio-gate` runs from any folder. Once an update has installed a `frontend`
//! component at `STUDIO_DIR/components/frontend`, files come from there instead; a file the
//! component lacks falls back to the bundled one, so a partial component never breaks
//! `/login` or `/home`.
//!
//! Files are looked up by the decoded canonical path. No name with a segment that starts with
//! `.` is served, directories are never listed, and a file on disk is served only if its real
//! path, symlinks resolved, lies inside the frontend folder and has no dot segment either. Every file gets a strong ETag
//! (a BLAKE3 digest of its content) and `Cache-Control: no-cache`, so browsers revalidate and
//! get 304 when nothing changed.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use include_dir::{include_dir, Dir};

static BUNDLED: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/static");

/// The largest file served from disk, in bytes. Larger files get 404, so that one request
/// cannot make the server hold a huge file in memory.
pub const MAX_ASSET_LEN: u64 = 32 * 1024 * 1024;

/// One file ready to send.
#[derive(Debug, Clone)]
pub struct Asset {
    /// The file's bytes.
    pub body: Arc<[u8]>,
    /// Its `Content-Type`.
    pub content_type: &'static str,
    /// Its strong ETag, quotes included.
    pub etag: String,
}

impl Asset {
    fn new(name: &str, body: Arc<[u8]>) -> Self {
        let digest = blake3::hash(&body);
        let etag = format!("\"{}\"", &digest.to_hex()[..32]);
        Self {
            body,
            content_type: content_type(name),
            etag,
        }
    }

    /// Returns true if `if_none_match` (an `If-None-Match` header) names this asset.
    pub fn matches(&self, if_none_match: &str) -> bool {
        if_none_match
            .split(',')
            .map(|tag| tag.trim().trim_start_matches("W/"))
            .any(|tag| tag == "*" || tag == self.etag)
    }
}

/// The source of pages and assets: the bundled folder, or an installed frontend.
#[derive(Debug)]
pub struct Frontend {
    bundled: HashMap<String, Asset>,
    component_dir: PathBuf,
    installed: RwLock<bool>,
}

impl Frontend {
    /// Creates the frontend of `studio_dir`, using its `frontend` component if one exists.
    pub fn new(studio_dir: &Path) -> Self {
        let mut bundled = HashMap::new();
        collect_bundled(&BUNDLED, &mut bundled);
        let component_dir = studio_dir.join("components").join("frontend");
        let installed = RwLock::new(component_dir.is_dir());
        Self {
            bundled,
            component_dir,
            installed,
        }
    }

    /// Switches between the component on disk and the bundled files, after an update.
    pub fn refresh(&self) {
        if let Ok(mut installed) = self.installed.write() {
            *installed = self.component_dir.is_dir();
        }
    }

    /// Returns true if files come from an installed `frontend` component.
    pub fn uses_component(&self) -> bool {
        self.installed
            .read()
            .map(|installed| *installed)
            .unwrap_or(false)
    }

    /// Finds the file at `relative` (a decoded path below the frontend root, no leading `/`).
    pub async fn asset(&self, relative: &str) -> Option<Asset> {
        if !is_servable_name(relative) {
            return None;
        }
        if !self.uses_component() {
            return self.bundled.get(relative).cloned();
        }
        let root = self.component_dir.clone();
        let name = relative.to_owned();
        match smol::unblock(move || read_inside(&root, &name)).await {
            Ok(Some(asset)) => Some(asset),
            Ok(None) => self.bundled.get(relative).cloned(),
            Err(error) => {
                log::error!("cannot read a frontend file: {error}");
                None
            }
        }
    }
}

/// Rejects empty names, empty segments, dot files and dot segments. Canonical paths have
/// none of the last three, but this check does not rely on it.
fn is_servable_name(relative: &str) -> bool {
    !relative.is_empty()
        && relative
            .split('/')
            .all(|segment| !segment.is_empty() && !segment.starts_with('.'))
        && !relative.contains('\\')
        && !relative.contains('\0')
}

/// Reads `root/relative` if it is a regular file whose real path lies inside `root`.
fn read_inside(root: &Path, relative: &str) -> io::Result<Option<Asset>> {
    let real_root = match root.canonicalize() {
        Ok(path) => path,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(error),
    };
    let real_path = match root.join(relative).canonicalize() {
        Ok(path) => path,
        Err(_) => return Ok(None),
    };
    let Ok(inside) = real_path.strip_prefix(&real_root) else {
        log::warn!("refused a frontend file whose symlink leads outside the frontend folder");
        return Ok(None);
    };
    if !is_servable_name(&inside.to_string_lossy()) {
        return Ok(None);
    }
    let metadata = std::fs::metadata(&real_path)?;
    if !metadata.is_file() || metadata.len() > MAX_ASSET_LEN {
        return Ok(None);
    }
    let body: Arc<[u8]> = std::fs::read(&real_path)?.into();
    Ok(Some(Asset::new(relative, body)))
}

fn collect_bundled(dir: &Dir<'static>, assets: &mut HashMap<String, Asset>) {
    for file in dir.files() {
        let name = file.path().to_string_lossy().into_owned();
        if is_servable_name(&name) {
            assets.insert(name.clone(), Asset::new(&name, Arc::from(file.contents())));
        }
    }
    for child in dir.dirs() {
        collect_bundled(child, assets);
    }
}

/// Returns the `Content-Type` for a file name, by its extension.
pub fn content_type(name: &str) -> &'static str {
    let extension = name
        .rsplit_once('.')
        .map(|(_, ext)| ext.to_ascii_lowercase());
    match extension.as_deref() {
        Some("html" | "htm") => "text/html; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("json" | "map") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("webp") => "image/webp",
        Some("ico") => "image/x-icon",
        Some("woff") => "font/woff",
        Some("woff2") => "font/woff2",
        Some("txt") => "text/plain; charset=utf-8",
        Some("wasm") => "application/wasm",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_pages_are_present() {
        let frontend = Frontend::new(Path::new("/nonexistent-studio-dir"));
        for name in ["login.html", "home.html", "app.css", "login.js", "home.js"] {
            assert!(smol::block_on(frontend.asset(name)).is_some(), "{name}");
        }
    }

    #[test]
    fn dot_names_are_never_served() {
        for name in ["", ".env", "a/.git/config", "a//b", "..", "a/../b"] {
            assert!(!is_servable_name(name), "{name}");
        }
        assert!(is_servable_name("fonts/a.woff2"));
    }

    #[test]
    fn etag_matching() {
        let asset = Asset::new("a.css", Arc::from(&b"body{}"[..]));
        assert!(asset.matches(&asset.etag));
        assert!(asset.matches(&format!("\"x\", W/{}", asset.etag)));
        assert!(asset.matches("*"));
        assert!(!asset.matches("\"other\""));
    }

    #[test]
    fn content_types_by_extension() {
        assert_eq!(content_type("app.CSS"), "text/css; charset=utf-8");
        assert_eq!(content_type("x.js"), "text/javascript; charset=utf-8");
        assert_eq!(content_type("noextension"), "application/octet-stream");
    }
}
