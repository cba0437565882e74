//! Sessions ended by logout, kept in `STUDIO_DIR/.revoked_sessions` so that a copied cookie
//! stays useless after a restart.
//!
//! Each entry is a session id and the second at which every cookie of that session expires
//! anyway (its lifetime end); entries past that second are dropped. The list holds at most
//! [`MAX_ENTRIES`] entries: when it is full, the entry that expires soonest is dropped, with a
//! warning, because it is the one closest to being harmless.
//!
//! The file has one line per entry, `<32 hex digits> <expiry in Unix seconds>`, and is
//! replaced atomically (a temporary file, flushed, then renamed over it) on every logout.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::RwLock;

use crate::secret_file::{hex, sync_parent, temporary_sibling};
use crate::session::{SessionId, SESSION_ID_LEN};

/// The file name inside `STUDIO_DIR`.
pub const REVOCATION_FILE: &str = ".revoked_sessions";

/// The maximum number of entries kept.
pub const MAX_ENTRIES: usize = 10_000;

/// Revoked session ids with their expiry, in memory. `now` is passed in, in Unix seconds.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RevocationList {
    entries: HashMap<SessionId, u64>,
}

impl RevocationList {
    /// Returns true if `id` was revoked and its entry has not expired at `now`.
    pub fn contains(&self, id: &SessionId, now: u64) -> bool {
        self.entries
            .get(id)
            .is_some_and(|&expires_at| now < expires_at)
    }

    /// Revokes `id` until `expires_at`. Returns false if a live entry had to be dropped to
    /// make room.
    pub fn insert(&mut self, id: SessionId, expires_at: u64, now: u64) -> bool {
        self.entries.retain(|_, &mut expiry| now < expiry);
        let mut dropped_live_entry = false;
        if !self.entries.contains_key(&id) && self.entries.len() >= MAX_ENTRIES {
            let soonest = self
                .entries
                .iter()
                .min_by_key(|(_, &expiry)| expiry)
                .map(|(id, _)| *id);
            if let Some(soonest) = soonest {
                self.entries.remove(&soonest);
                dropped_live_entry = true;
            }
        }
        self.entries.insert(id, expires_at);
        !dropped_live_entry
    }

    /// Returns how many entries are kept.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Returns true if no session is revoked.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Formats the list in the file format, entries sorted for a stable file.
    pub fn to_file_text(&self) -> String {
        let mut lines: Vec<String> = self
            .entries
            .iter()
            .map(|(id, expires_at)| format!("{} {expires_at}\n", hex(id.as_bytes())))
            .collect();
        lines.sort();
        lines.concat()
    }

    /// Parses the file format, keeping entries alive at `now`. Returns the list and the count
    /// of lines that could not be read.
    pub fn from_file_text(text: &str, now: u64) -> (Self, usize) {
        let mut list = Self::default();
        let mut unreadable = 0;
        for line in text.lines().filter(|line| !line.trim().is_empty()) {
            match parse_line(line) {
                Some((id, expires_at)) if now < expires_at => {
                    list.insert(id, expires_at, now);
                }
                Some(_) => {}
                None => unreadable += 1,
            }
        }
        (list, unreadable)
    }
}

fn parse_line(line: &str) -> Option<(SessionId, u64)> {
    let (id_text, expiry_text) = line.trim().split_once(' ')?;
    if id_text.len() != SESSION_ID_LEN * 2 {
        return None;
    }
    let mut id = [0u8; SESSION_ID_LEN];
    for (index, byte) in id.iter_mut().enumerate() {
        *byte = u8::from_str_radix(id_text.get(index * 2..index * 2 + 2)?, 16).ok()?;
    }
    Some((SessionId::from_bytes(id), expiry_text.trim().parse().ok()?))
}

/// The revocation list and its file. Reads never wait for the disk; revocations are written
/// one at a time.
#[derive(Debug)]
pub struct RevocationStore {
    path: PathBuf,
    list: RwLock<RevocationList>,
    writer: smol::lock::Mutex<()>,
}

impl RevocationStore {
    /// Loads the list from `dir`, or starts an empty one if the file does not exist.
    pub fn load(dir: &Path, now: u64) -> io::Result<Self> {
        let path = dir.join(REVOCATION_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(error) if error.kind() == io::ErrorKind::NotFound => String::new(),
            Err(error) => return Err(error),
        };
        let (list, unreadable) = RevocationList::from_file_text(&text, now);
        if unreadable > 0 {
            log::warn!(
                "skipped {unreadable} unreadable lines in {}",
                path.display()
            );
        }
        Ok(Self {
            path,
            list: RwLock::new(list),
            writer: smol::lock::Mutex::new(()),
        })
    }

    /// Returns true if `id` is revoked at `now`.
    pub fn is_revoked(&self, id: &SessionId, now: u64) -> bool {
        self.list
            .read()
            .map(|list| list.contains(id, now))
            .unwrap_or(true)
    }

    /// Revokes `id` until `expires_at` and writes the list to disk before returning.
    ///
    /// The session is refused in memory at once, even if the write then fails.
    pub async fn revoke(&self, id: SessionId, expires_at: u64, now: u64) -> io::Result<()> {
        let _writer = self.writer.lock().await;
        let text = {
            let mut list = self
                .list
                .write()
                .map_err(|_| io::Error::other("revocation list lock poisoned"))?;
            if !list.insert(id, expires_at, now) {
                log::warn!("revocation list is full ({MAX_ENTRIES} entries); dropped the entry expiring soonest");
            }
            list.to_file_text()
        };
        let path = self.path.clone();
        smol::unblock(move || replace_file(&path, text.as_bytes())).await
    }
}

/// Replaces `path` with `content` atomically: readers see the old file or the new one.
pub fn replace_file(path: &Path, content: &[u8]) -> io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;

    let temporary = temporary_sibling(path)?;
    let result = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temporary)?;
        file.write_all(content)?;
        file.sync_all()?;
        std::fs::rename(&temporary, path)?;
        sync_parent(path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_780_000_000;

    fn id(byte: u8) -> SessionId {
        SessionId::from_bytes([byte; SESSION_ID_LEN])
    }

    #[test]
    fn revoked_until_expiry() {
        let mut list = RevocationList::default();
        list.insert(id(1), NOW + 10, NOW);
        assert!(list.contains(&id(1), NOW + 9));
        assert!(!list.contains(&id(1), NOW + 10));
        assert!(!list.contains(&id(2), NOW));
    }

    #[test]
    fn file_text_round_trips() {
        let mut list = RevocationList::default();
        list.insert(id(1), NOW + 10, NOW);
        list.insert(id(0xab), NOW + 20, NOW);
        let text = list.to_file_text();
        assert_eq!(text.lines().count(), 2);
        let (read_back, unreadable) = RevocationList::from_file_text(&text, NOW);
        assert_eq!(read_back, list);
        assert_eq!(unreadable, 0);
    }

    #[test]
    fn expired_and_unreadable_lines_are_dropped() {
        let text = format!(
            "{} {}\n{} {}\nnot a line\n{} x\n\n",
            hex(&[1; 16]),
            NOW - 1,
            hex(&[2; 16]),
            NOW + 5,
            hex(&[3; 16])
        );
        let (list, unreadable) = RevocationList::from_file_text(&text, NOW);
        assert_eq!(list.len(), 1);
        assert!(list.contains(&id(2), NOW));
        assert_eq!(unreadable, 2);
    }

    #[test]
    fn full_list_drops_soonest_expiry() {
        let mut list = RevocationList::default();
        for index in 0..MAX_ENTRIES as u64 {
            let mut bytes = [0u8; SESSION_ID_LEN];
            bytes[..8].copy_from_slice(&index.to_le_bytes());
            assert!(list.insert(SessionId::from_bytes(bytes), NOW + 100 + index, NOW));
        }
        assert!(!list.insert(id(0xff), NOW + 50_000, NOW));
        assert_eq!(list.len(), MAX_ENTRIES);
        assert!(list.contains(&id(0xff), NOW));
        assert!(!list.contains(&SessionId::from_bytes([0; SESSION_ID_LEN]), NOW));
    }

    #[test]
    fn store_survives_reload() {
        let dir = tempfile::tempdir().unwrap();
        let store = RevocationStore::load(dir.path(), NOW).unwrap();
        smol::block_on(store.revoke(id(7), NOW + 100, NOW)).unwrap();
        assert!(store.is_revoked(&id(7), NOW));
        let reloaded = RevocationStore::load(dir.path(), NOW).unwrap();
        assert!(reloaded.is_revoked(&id(7), NOW));
        assert!(!reloaded.is_revoked(&id(8), NOW));
        let files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(files.len(), 1, "temporary file left behind");
    }
}
