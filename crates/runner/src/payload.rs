//! Payload files: written 0600 into a 0700 per-extension directory before the spawn, removed when
//! the run ends (however it ends, including cancellation) unless payloads are retained.

use std::fs::{DirBuilder, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// A payload file on disk; removed on drop unless retained.
#[derive(Debug)]
pub(crate) struct PayloadFile {
    path: PathBuf,
    retain: bool,
}

impl PayloadFile {
    /// Write `content` to `<root>/<sanitised extension>/<uuid>.json`.
    pub(crate) fn write(
        root: &Path,
        extension: &str,
        content: &[u8],
        retain: bool,
    ) -> Result<PayloadFile, PathedIoError> {
        let directory = root.join(directory_name(extension));
        // Named after this process while the run is in flight, so that a server restarted after
        // a crash can tell the files of runs that never finished (see `sweep_orphaned`).
        let path = directory.join(format!(
            "{}-{}.json",
            std::process::id(),
            uuid::Uuid::new_v4()
        ));
        let mut file = match open_new(&path) {
            Ok(file) => file,
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                create_private_dir(&directory).map_err(|source| PathedIoError {
                    path: directory.clone(),
                    source,
                })?;
                open_new(&path).map_err(|source| PathedIoError {
                    path: path.clone(),
                    source,
                })?
            }
            Err(source) => return Err(PathedIoError { path, source }),
        };
        // From here on the guard owns the file, so a failed write still removes it.
        let payload = PayloadFile { path, retain };
        file.write_all(content).map_err(|source| PathedIoError {
            path: payload.path.clone(),
            source,
        })?;
        Ok(payload)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Is the file kept after the run?
    pub(crate) fn retained(&self) -> bool {
        self.retain
    }
}

impl Drop for PayloadFile {
    fn drop(&mut self) {
        if !self.retain {
            // A file already removed (for example by a sweep) is not a problem.
            let _ = std::fs::remove_file(&self.path);
            return;
        }
        // Kept for debugging: renamed so that it is no longer taken for a run in flight.
        let _ = std::fs::rename(&self.path, self.kept_path());
    }
}

impl PayloadFile {
    /// Where a retained file is kept once its run has ended.
    pub(crate) fn kept_path(&self) -> PathBuf {
        let name = self
            .path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let rest = name.split_once('-').map_or(name, |(_, rest)| rest);
        self.path.with_file_name(format!("kept-{rest}"))
    }
}

/// Remove the payload files of runs in flight in processes that are gone (a server killed
/// while its extensions ran): they hold secrets and no run will ever remove them. Returns how
/// many were removed.
pub(crate) fn sweep_orphaned(root: &Path) -> usize {
    let mut removed = 0;
    let Ok(extension_dirs) = std::fs::read_dir(root) else {
        return 0;
    };
    for extension_dir in extension_dirs.flatten() {
        let Ok(entries) = std::fs::read_dir(extension_dir.path()) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(pid) = name
                .to_str()
                .and_then(|n| n.split_once('-'))
                .and_then(|(pid, _)| pid.parse::<u32>().ok())
            else {
                continue;
            };
            let alive = Path::new(&format!("/proc/{pid}")).exists();
            if !alive && std::fs::remove_file(entry.path()).is_ok() {
                removed += 1;
            }
        }
    }
    removed
}

/// An I/O failure together with the path it concerns.
#[derive(Debug)]
pub(crate) struct PathedIoError {
    pub(crate) path: PathBuf,
    pub(crate) source: io::Error,
}

fn open_new(path: &Path) -> io::Result<std::fs::File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

/// Create a directory (and missing parents) with mode 0700, whatever the umask.
pub(crate) fn create_private_dir(path: &Path) -> io::Result<()> {
    match DirBuilder::new().recursive(true).mode(0o700).create(path) {
        Ok(()) => {}
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {}
        Err(error) => return Err(error),
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))
}

/// The directory name of an extension's payloads: every character outside `[A-Za-z0-9._-]`
/// replaced by `_`, lowercased; names that would be `.`, `..` or empty become `_`.
pub(crate) fn directory_name(extension: &str) -> String {
    let name: String = extension
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    if name.is_empty() || name == "." || name == ".." {
        "_".to_owned()
    } else {
        name
    }
}

/// Delete payload files under `root` (one level of extension directories) last modified more than
/// `older_than` ago. Returns how many were deleted.
pub(crate) fn sweep(root: &Path, older_than: Duration) -> io::Result<usize> {
    let now = SystemTime::now();
    let mut deleted = 0;
    for extension_dir in std::fs::read_dir(root)? {
        let extension_dir = extension_dir?;
        if !extension_dir.file_type()?.is_dir() {
            continue;
        }
        let entries = match std::fs::read_dir(extension_dir.path()) {
            Ok(entries) => entries,
            Err(error) if error.kind() == io::ErrorKind::NotFound => continue,
            Err(error) => return Err(error),
        };
        for entry in entries {
            let entry = entry?;
            let metadata = match entry.metadata() {
                Ok(metadata) => metadata,
                Err(error) if error.kind() == io::ErrorKind::NotFound => continue,
                Err(error) => return Err(error),
            };
            if !metadata.is_file() {
                continue;
            }
            let age = metadata
                .modified()
                .ok()
                .and_then(|modified| now.duration_since(modified).ok())
                .unwrap_or_default();
            if age < older_than {
                continue;
            }
            match std::fs::remove_file(entry.path()) {
                Ok(()) => deleted += 1,
                Err(error) if error.kind() == io::ErrorKind::NotFound => {}
                Err(error) => return Err(error),
            }
        }
    }
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directory_names_are_safe() {
        assert_eq!(directory_name("Proxmox VE"), "proxmox_ve");
        assert_eq!(directory_name("../etc"), ".._etc");
        assert_eq!(directory_name(".."), "_");
        assert_eq!(directory_name(""), "_");
        assert_eq!(directory_name("a/b"), "a_b");
    }
}
