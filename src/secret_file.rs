//! Secrets kept in `STUDIO_DIR`: the session secret and a generated API key.
//!
//! Both are created once, atomically, with mode 0600: the content is written to a temporary
//! file that only the owner can read, flushed to disk, and linked into place with
//! `hard_link`, which fails if the file already exists. Two processes starting at once
//! therefore agree on one secret, and no reader ever sees a half-written file. A file that
//! others can read is tightened to 0600 with a warning.

use std::fmt;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The file name of the session secret inside `STUDIO_DIR`.
pub const SESSION_SECRET_FILE: &str = ".session_secret";

/// The file name of the generated API key inside `STUDIO_DIR`.
pub const API_KEY_FILE: &str = ".api_key";

/// The fewest hex characters a session secret file may hold (32 bytes).
pub const MIN_SECRET_HEX_LEN: usize = 64;

/// The most bytes read from a secret file; larger files are rejected.
const MAX_SECRET_FILE_LEN: u64 = 4096;

/// The session secret: the hex text of the secret file, in lower case. Its `Debug` output
/// hides it.
pub struct SessionSecret(Vec<u8>);

impl SessionSecret {
    /// Returns the key material for the session MAC key.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for SessionSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionSecret(<hidden>)")
    }
}

/// A secret file that cannot be used. Names the file, never its content.
#[derive(Debug)]
pub enum SecretFileError {
    /// Reading, creating or tightening the file failed.
    Io(PathBuf, io::Error),
    /// The file exists but does not hold an acceptable secret.
    Invalid(PathBuf, &'static str),
    /// The operating system's random number generator failed.
    Random(getrandom::Error),
}

impl fmt::Display for SecretFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(path, error) => write!(f, "cannot use {}: {error}", path.display()),
            Self::Invalid(path, problem) => write!(
                f,
                "invalid secret file {}: {problem}; fix or delete it to have a new one created",
                path.display()
            ),
            Self::Random(error) => write!(f, "the random number generator failed: {error}"),
        }
    }
}

impl std::error::Error for SecretFileError {}

/// Loads `STUDIO_DIR/.session_secret`, creating it from 32 random bytes if missing.
///
/// Accepts any file of at least 64 hex characters, surrounding whitespace aside, so that
/// 128-character secrets written by other tools work too.
pub fn load_or_create_session_secret(dir: &Path) -> Result<SessionSecret, SecretFileError> {
    let path = dir.join(SESSION_SECRET_FILE);
    let text = load_or_create(&path, || {
        let mut bytes = [0u8; 32];
        getrandom::getrandom(&mut bytes).map_err(SecretFileError::Random)?;
        Ok(format!("{}\n", hex(&bytes)))
    })?;
    parse_session_secret(&text)
        .map(SessionSecret)
        .map_err(|problem| SecretFileError::Invalid(path, problem))
}

/// Loads `STUDIO_DIR/.api_key`, creating it with a random key if missing. Returns the key
/// and whether it was created now.
pub fn load_or_create_api_key(dir: &Path) -> Result<(String, bool), SecretFileError> {
    let path = dir.join(API_KEY_FILE);
    let existed = path.exists();
    let text = load_or_create(&path, || {
        crate::api_key::generate_api_key()
            .map(|key| format!("{key}\n"))
            .map_err(SecretFileError::Random)
    })?;
    let key = text.trim().to_owned();
    if let Err(error) = crate::api_key::ApiKey::new(&key) {
        return Err(SecretFileError::Invalid(path, api_key_problem(error)));
    }
    Ok((key, !existed))
}

fn api_key_problem(error: crate::api_key::ApiKeyError) -> &'static str {
    match error {
        crate::api_key::ApiKeyError::Empty => "the file is empty",
        crate::api_key::ApiKeyError::ControlCharacter => "the key contains a control character",
        crate::api_key::ApiKeyError::SurroundingWhitespace => {
            "the key starts or ends with whitespace"
        }
    }
}

/// Checks the secret text and returns the key material: the hex digits in lower case.
fn parse_session_secret(text: &str) -> Result<Vec<u8>, &'static str> {
    let digits = text.trim();
    if digits.is_empty() {
        return Err("the file is empty");
    }
    if !digits.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        return Err("expected only hex digits");
    }
    if digits.len() < MIN_SECRET_HEX_LEN {
        return Err("expected at least 64 hex digits");
    }
    Ok(digits.to_ascii_lowercase().into_bytes())
}

/// Reads `path`, creating it with `make()` first if it does not exist.
fn load_or_create(
    path: &Path,
    make: impl FnOnce() -> Result<String, SecretFileError>,
) -> Result<String, SecretFileError> {
    let io_error = |error| SecretFileError::Io(path.to_owned(), error);
    if !path.exists() {
        let content = make()?;
        if let Err(error) = create_private_file(path, content.as_bytes()) {
            if error.kind() != io::ErrorKind::AlreadyExists {
                return Err(io_error(error));
            }
        }
    }
    tighten_permissions(path).map_err(io_error)?;
    read_small_file(path).map_err(io_error)
}

/// Creates `path` with `content` and mode 0600, atomically. Fails with `AlreadyExists` if
/// another process created it first, leaving that file as it was.
pub fn create_private_file(path: &Path, content: &[u8]) -> io::Result<()> {
    let temporary = temporary_sibling(path)?;
    let result = write_and_link(&temporary, path, content);
    let _ = fs::remove_file(&temporary);
    result
}

fn write_and_link(temporary: &Path, path: &Path, content: &[u8]) -> io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(temporary)?;
    file.write_all(content)?;
    file.sync_all()?;
    drop(file);
    fs::hard_link(temporary, path)?;
    sync_parent(path)
}

/// Returns a fresh name beside `path` for a temporary file.
pub fn temporary_sibling(path: &Path) -> io::Result<PathBuf> {
    let mut suffix = [0u8; 8];
    getrandom::getrandom(&mut suffix).map_err(io::Error::other)?;
    let name = path
        .file_name()
        .and_then(|name| name.to_str())
        .unwrap_or("file");
    Ok(path.with_file_name(format!(".{name}.{}.tmp", hex(&suffix))))
}

/// Flushes the directory entry of `path`, so a created or renamed file survives a crash.
pub fn sync_parent(path: &Path) -> io::Result<()> {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => fs::File::open(parent)?.sync_all(),
        _ => Ok(()),
    }
}

fn tighten_permissions(path: &Path) -> io::Result<()> {
    let metadata = fs::metadata(path)?;
    if !metadata.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "it is not a regular file",
        ));
    }
    let mode = metadata.permissions().mode();
    if mode & 0o077 != 0 {
        log::warn!(
            "{} was readable by other users (mode {:o}); setting mode 0600",
            path.display(),
            mode & 0o777
        );
        fs::set_permissions(path, fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

fn read_small_file(path: &Path) -> io::Result<String> {
    let length = fs::metadata(path)?.len();
    if length > MAX_SECRET_FILE_LEN {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("the file is larger than {MAX_SECRET_FILE_LEN} bytes"),
        ));
    }
    let bytes = fs::read(path)?;
    String::from_utf8(bytes)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "the file is not UTF-8 text"))
}

/// Formats bytes as lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    use fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut text, byte| {
            let _ = write!(text, "{byte:02x}");
            text
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn secret_is_created_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_create_session_secret(dir.path()).unwrap();
        let path = dir.path().join(SESSION_SECRET_FILE);
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(mode(&path), 0o600);
        assert_eq!(text.len(), 65);
        assert!(text.ends_with('\n'));
        let second = load_or_create_session_secret(dir.path()).unwrap();
        assert_eq!(first.as_bytes(), second.as_bytes());
    }

    #[test]
    fn long_secret_from_other_tools_is_accepted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(SESSION_SECRET_FILE);
        create_private_file(&path, format!("  {}\n\n", "AB".repeat(64)).as_bytes()).unwrap();
        let secret = load_or_create_session_secret(dir.path()).unwrap();
        assert_eq!(secret.as_bytes(), "ab".repeat(64).as_bytes());
    }

    #[test]
    fn bad_secret_files_are_rejected() {
        for content in [
            "",
            "\n",
            &"a".repeat(63),
            &format!("{}g", "a".repeat(64)),
            &"a b".repeat(40),
        ] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join(SESSION_SECRET_FILE);
            create_private_file(&path, content.as_bytes()).unwrap();
            let error = load_or_create_session_secret(dir.path()).unwrap_err();
            assert!(error.to_string().contains(".session_secret"), "{error}");
            assert!(matches!(error, SecretFileError::Invalid(..)), "{content:?}");
        }
    }

    #[test]
    fn folder_in_place_of_secret_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".session_secret");
        fs::create_dir(&path).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
        let error = load_or_create_session_secret(dir.path()).unwrap_err();
        assert!(error.to_string().contains("not a regular file"), "{error}");
        assert_eq!(mode(&path), 0o755);
    }

    #[test]
    fn readable_secret_is_tightened() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(SESSION_SECRET_FILE);
        fs::write(&path, "a".repeat(64)).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        load_or_create_session_secret(dir.path()).unwrap();
        assert_eq!(mode(&path), 0o600);
    }

    #[test]
    fn api_key_is_generated_once() {
        let dir = tempfile::tempdir().unwrap();
        let (first, created) = load_or_create_api_key(dir.path()).unwrap();
        assert!(created);
        let (second, created_again) = load_or_create_api_key(dir.path()).unwrap();
        assert!(!created_again);
        assert_eq!(first, second);
        assert_eq!(mode(&dir.path().join(API_KEY_FILE)), 0o600);
    }

    #[test]
    fn empty_api_key_file_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        create_private_file(&dir.path().join(API_KEY_FILE), b"\n").unwrap();
        let error = load_or_create_api_key(dir.path()).unwrap_err();
        assert!(error.to_string().contains(".api_key"), "{error}");
    }

    #[test]
    fn existing_file_is_not_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("file");
        create_private_file(&path, b"first").unwrap();
        let error = create_private_file(&path, b"second").unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read_to_string(&path).unwrap(), "first");
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            1,
            "temporary file left behind"
        );
    }

    #[test]
    fn debug_output_hides_secret() {
        let dir = tempfile::tempdir().unwrap();
        let secret = load_or_create_session_secret(dir.path()).unwrap();
        assert_eq!(format!("{secret:?}"), "SessionSecret(<hidden>)");
    }
}
