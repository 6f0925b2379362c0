//! The CLI's private cache under `$XDG_CACHE_HOME/trellis` (else `~/.cache/trellis`): one saved
//! login session and one copy of `listApis` per API URL and user. Files are written 0600 in a
//! 0700 directory, atomically (temporary file, then rename), so concurrent `trellis` processes
//! never read half a file.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The cache directory, if a home or cache directory is known.
pub fn dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(d).join("trellis"));
    }
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|h| PathBuf::from(h).join(".cache").join("trellis"))
}

/// A stable, file-name-safe key for an identity (FNV-1a, 64 bits, over the parts).
pub fn key_of(parts: &[&str]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for byte in part.bytes().chain(std::iter::once(0)) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    format!("{hash:016x}")
}

/// The path of cache entry `kind` (e.g. `session`) for `key`.
pub fn path(kind: &str, key: &str) -> Option<PathBuf> {
    dir().map(|d| d.join(format!("{kind}-{key}.json")))
}

/// A login session saved for reuse by later calls.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SavedSession {
    pub url: String,
    pub username: String,
    pub sessionkey: String,
    pub jsessionid: String,
}

/// Read a cache entry; a missing or unreadable entry is `None` (the cache is only a cache).
pub fn load<T: DeserializeOwned>(path: &Path) -> Option<T> {
    let text = std::fs::read_to_string(path).ok()?;
    serde_json::from_str(&text).ok()
}

/// Write a cache entry readable only by the user.
pub fn store<T: Serialize>(path: &Path, value: &T) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
    let parent = path.parent().unwrap_or(Path::new("."));
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(parent)?;
    let text = serde_json::to_vec(value).map_err(std::io::Error::other)?;
    let tmp = parent.join(format!(
        ".{}.{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("entry"),
        std::process::id()
    ));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    // An existing file keeps its mode on open; make sure it is private.
    file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    file.write_all(&text)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp, path)
}

/// Remove a cache entry; a missing one is fine.
pub fn remove(path: &Path) {
    let _ = std::fs::remove_file(path);
}
