//! Extension files kept in the database, so that every server runs the same executable.
//!
//! An extension's files (the scaffold of `createExtension`, what `importExtension` unpacked, what
//! `syncExtension` took from a server) are stored by path with their SHA-256, their contents once
//! per digest. Every server writes the stored files into its extensions directory when they are
//! new to it (a new extension, a new version, a server that just joined) and records what it
//! wrote. A file that then differs from what its server wrote was changed there by hand. On the
//! only live server the change becomes the stored copy (editing the scaffold in place works as
//! upstream, and a server that joins later writes the edited file). With several servers it is
//! never overwritten silently: the extension is not ready (the readiness check reports it with
//! the server and the file) until `syncExtension` either writes the stored copy back or makes the
//! changed file the stored one. Deleting with `cleanup` removes the files on every server, also
//! on one that was away at the time, once it is back. Built-in extensions are not stored: their
//! binaries come with each server's release.

use sha2::{Digest as _, Sha256};
use std::path::{Component, Path, PathBuf};
use trellis_model::entity::Extension;
use trellis_model::extension as ext;
use trellis_model::{time::now_millis, Error, ErrorChain, Result};
use trellis_store::NewExtensionFile;

use super::{require_admin, App, Caller, LIVE_WINDOW_MS};

/// How long `syncExtension` waits for its target servers to write the files.
const SYNC_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

/// A `syncExtension` job: the servers it waits for and the file versions they must write.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ExtensionSync {
    /// The extension's UUID.
    pub extension: String,
    /// Server ids.
    pub targets: Vec<String>,
    /// `(path, sha256)` of every stored file.
    pub files: Vec<(String, String)>,
}

/// Most files one extension may store.
pub const MAX_FILES: usize = 1000;
/// Most bytes one extension's files may take together.
pub const MAX_TOTAL_BYTES: usize = 64 << 20;
/// A file of another origin that a stored one replaced is kept under its name with this suffix.
pub const REPLACED_SUFFIX: &str = ".trellis-replaced";

/// Lowercase hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A stored path must be relative, `/`-separated and stay below the extensions directory.
pub fn check_relative_path(path: &str) -> Result<()> {
    let p = Path::new(path);
    let plain = !path.is_empty()
        && !path.contains('\\')
        && p.components().all(|c| matches!(c, Component::Normal(_)));
    if plain {
        Ok(())
    } else {
        Err(Error::invalid_param(format!(
            "Invalid extension file path {path}: it must be relative to the extensions directory, without '..'"
        )))
    }
}

/// A file to store, its digest computed here.
pub fn new_file(path: String, mode: u32, content: Vec<u8>) -> Result<NewExtensionFile> {
    check_relative_path(&path)?;
    Ok(NewExtensionFile {
        sha256: sha256_hex(&content),
        path,
        mode,
        content,
    })
}

/// Files within the limits, or the 431 that says which limit.
pub fn check_limits(files: &[NewExtensionFile]) -> Result<()> {
    if files.len() > MAX_FILES {
        return Err(Error::invalid_param(format!(
            "An extension may have at most {MAX_FILES} files; {} given",
            files.len()
        )));
    }
    let total: usize = files.iter().map(|f| f.content.len()).sum();
    if total > MAX_TOTAL_BYTES {
        return Err(Error::invalid_param(format!(
            "An extension's files may take at most {} MiB together; {total} bytes given",
            MAX_TOTAL_BYTES >> 20
        )));
    }
    Ok(())
}

/// The SHA-256 of a file, `None` when it cannot be read (missing).
fn hash_file(path: &Path) -> Option<String> {
    std::fs::read(path).ok().map(|c| sha256_hex(&c))
}

/// Write `content` at `path` atomically with `mode`; a file already there is first kept as
/// `<path>.trellis-replaced` when `keep` says so. Returns whether one was kept.
fn write_file(path: &Path, content: &[u8], mode: u32, keep: bool) -> std::io::Result<bool> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    std::fs::write(&tmp, content)?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode & 0o7777))?;
    let kept = keep && path.exists() && {
        let mut backup = path.as_os_str().to_owned();
        backup.push(REPLACED_SUFFIX);
        std::fs::rename(path, PathBuf::from(backup))?;
        true
    };
    std::fs::rename(&tmp, path)?;
    Ok(kept)
}

/// The regular files below `dir` (recursively), as paths relative to `root`; symbolic links
/// and files this server keeps aside (replaced copies, temporary files) are not an extension's.
pub fn files_below(root: &Path, dir: &Path) -> Result<Vec<(String, u32, Vec<u8>)>> {
    use std::os::unix::fs::PermissionsExt;
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        let entries = std::fs::read_dir(&d)
            .map_err(|e| Error::invalid_param(format!("Cannot read {}: {e}", d.display())))?;
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            let name = entry.file_name().to_string_lossy().into_owned();
            if meta.is_dir() {
                pending.push(path);
            } else if meta.is_file() && !name.ends_with(REPLACED_SUFFIX) && !name.contains(".tmp-")
            {
                let rel = path
                    .strip_prefix(root)
                    .map_err(|_| Error::internal("file outside the extensions directory"))?
                    .to_string_lossy()
                    .into_owned();
                let content = std::fs::read(&path).map_err(|e| {
                    Error::invalid_param(format!("Cannot read {}: {e}", path.display()))
                })?;
                out.push((rel, meta.permissions().mode() & 0o7777, content));
                if out.len() > MAX_FILES {
                    return Err(Error::invalid_param(format!(
                        "An extension may have at most {MAX_FILES} files; {} has more",
                        dir.display()
                    )));
                }
            }
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

impl App {
    /// Store `files` as the extension's files (replacing what was stored) and write them on this
    /// server at once; the others write them at their next heartbeat.
    pub(crate) async fn extension_files_put(
        &self,
        e: &Extension,
        files: Vec<NewExtensionFile>,
    ) -> Result<()> {
        check_limits(&files)?;
        self.store
            .extension_files_set(e.id, &files, now_millis())
            .await?;
        let problems = self.extension_materialise(e).await?;
        if !problems.is_empty() {
            return Err(Error::internal_with(
                format!("Failed to write the files of extension {}", e.name),
                problems.join("; "),
            ));
        }
        Ok(())
    }

    /// Bring this server's copy of an extension's stored files up to date: write what is new to
    /// it, remove what it wrote and is no longer stored. Returns what is wrong here (empty: the
    /// files are as stored), each naming the file and this server.
    pub(crate) async fn extension_materialise(&self, e: &Extension) -> Result<Vec<String>> {
        let stored = self.store.extension_files(e.id).await?;
        let copies = self
            .store
            .extension_file_copies(&self.server_id, e.id)
            .await?;
        if stored.is_empty() && copies.is_empty() {
            return Ok(Vec::new());
        }
        let root = self.extensions_root();
        let mut problems = Vec::new();
        let mut adopt: Vec<(String, PathBuf)> = Vec::new();
        for f in &stored {
            if check_relative_path(&f.path).is_err() {
                problems.push(format!("stored file {} has an unsafe path", f.path));
                continue;
            }
            let path = root.join(&f.path);
            let local = {
                let p = path.clone();
                tokio::task::spawn_blocking(move || hash_file(&p))
                    .await
                    .map_err(|e| Error::internal(e.to_string()))?
            };
            let copy = copies
                .iter()
                .find(|(p, _)| *p == f.path)
                .map(|(_, s)| s.as_str());
            if local.as_deref() == Some(f.sha256.as_str()) {
                if copy != Some(f.sha256.as_str()) {
                    self.copy_record(e, &f.path, Some(&f.sha256)).await?;
                }
                continue;
            }
            if copy == Some(f.sha256.as_str()) {
                // Written here in this version, changed since: by hand. The only live server
                // takes the change as the new stored copy (nobody can disagree, and a server
                // that joins later writes it); with several, it is reported, not undone.
                if local.is_some() && self.sole_live_server().await? {
                    adopt.push((f.path.clone(), path.clone()));
                    continue;
                }
                problems.push(match local {
                    None => format!(
                        "{} is missing on server {} (removed by hand; syncExtension writes the stored copy back)",
                        f.path, self.server_id
                    ),
                    Some(_) => format!(
                        "{} on server {} differs from the stored copy (changed by hand; syncExtension with sourcemanagementserverid={} makes it the stored copy, syncExtension from another server writes the stored copy back)",
                        f.path, self.server_id, self.server_id
                    ),
                });
                continue;
            }
            let Some(content) = self.store.file_blob_get(&f.sha256).await? else {
                problems.push(format!("stored content of {} is missing", f.path));
                continue;
            };
            if sha256_hex(&content) != f.sha256 {
                problems.push(format!(
                    "stored content of {} does not match its SHA-256",
                    f.path
                ));
                continue;
            }
            // A file there that is neither this version nor what this server wrote before came
            // from elsewhere: kept aside rather than lost.
            let keep = local.is_some() && local.as_deref() != copy;
            let (p, mode) = (path.clone(), f.mode);
            let written = tokio::task::spawn_blocking(move || write_file(&p, &content, mode, keep))
                .await
                .map_err(|e| Error::internal(e.to_string()))?;
            match written {
                Ok(kept) => {
                    self.copy_record(e, &f.path, Some(&f.sha256)).await?;
                    tracing::info!(extension = %e.name, file = %f.path, sha256 = %f.sha256, "wrote extension file");
                    if kept {
                        tracing::warn!(extension = %e.name, file = %f.path, "a different file was in the way; it is kept as {}{REPLACED_SUFFIX}", path.display());
                    }
                }
                Err(err) => problems.push(format!(
                    "{} could not be written on server {}: {}",
                    f.path,
                    self.server_id,
                    ErrorChain(&err)
                )),
            }
        }
        if !adopt.is_empty() {
            self.extension_files_adopt(e, &stored, &adopt).await?;
        }
        // What this server wrote and is stored no more: removed when it is still as written.
        for (p, sha) in &copies {
            if stored.iter().any(|f| f.path == *p) || check_relative_path(p).is_err() {
                continue;
            }
            let path = root.join(p);
            if hash_file(&path).as_deref() == Some(sha.as_str()) {
                if let Err(err) = std::fs::remove_file(&path) {
                    tracing::warn!(extension = %e.name, file = %p, error = %ErrorChain(&err), "could not remove an extension file no longer stored");
                }
            }
            self.copy_record(e, p, None).await?;
        }
        Ok(problems)
    }

    /// A stored file with its content, to store again unchanged; a content that has gone
    /// missing is an error, never stored empty under its digest.
    async fn stored_file(&self, f: &trellis_store::ExtensionFile) -> Result<NewExtensionFile> {
        let content = self.store.file_blob_get(&f.sha256).await?.ok_or_else(|| {
            Error::internal(format!("the stored content of {} is missing", f.path))
        })?;
        Ok(NewExtensionFile {
            path: f.path.clone(),
            sha256: f.sha256.clone(),
            mode: f.mode,
            content,
        })
    }

    /// Record what this server wrote of a file (`None`: it removed it).
    async fn copy_record(&self, e: &Extension, path: &str, sha256: Option<&str>) -> Result<()> {
        self.store
            .extension_file_copy_record(&self.server_id, e.id, path, sha256, now_millis())
            .await?;
        Ok(())
    }

    /// Is this server the only live one?
    async fn sole_live_server(&self) -> Result<bool> {
        let live = self
            .store
            .server_list_live(now_millis() - LIVE_WINDOW_MS)
            .await?;
        Ok(live.iter().all(|s| s.id == self.server_id))
    }

    /// Make this server's changed files (`(stored path, local path)`) the stored copies, the
    /// other stored files kept as they are.
    async fn extension_files_adopt(
        &self,
        e: &Extension,
        stored: &[trellis_store::ExtensionFile],
        adopt: &[(String, PathBuf)],
    ) -> Result<()> {
        use std::os::unix::fs::PermissionsExt;
        let mut set = Vec::with_capacity(stored.len());
        for f in stored {
            // A changed file that cannot be read now (removed meanwhile) keeps its stored
            // version rather than leaving the stored set.
            let changed = adopt
                .iter()
                .find(|(p, _)| *p == f.path)
                .and_then(|(_, local)| Some((std::fs::read(local).ok()?, local)));
            match changed {
                Some((content, local)) => {
                    let mode = std::fs::metadata(local)
                        .map(|m| m.permissions().mode() & 0o7777)
                        .unwrap_or(f.mode);
                    set.push(new_file(f.path.clone(), mode, content)?);
                }
                None => set.push(self.stored_file(f).await?),
            }
        }
        check_limits(&set)?;
        self.store
            .extension_files_set(e.id, &set, now_millis())
            .await?;
        for f in &set {
            if adopt.iter().any(|(p, _)| *p == f.path) {
                self.copy_record(e, &f.path, Some(&f.sha256)).await?;
                tracing::info!(extension = %e.name, file = %f.path, sha256 = %f.sha256, "the file was changed on this server, the only one running: it is the stored copy now");
            }
        }
        Ok(())
    }

    /// Write the stored files that are new to this server (the heartbeat's part): each such
    /// extension gets its readiness checked here, which writes them.
    pub async fn extension_files_catch_up(&self) -> Result<usize> {
        let due = self
            .store
            .extensions_with_files_to_write(&self.server_id)
            .await?;
        let n = due.len();
        for e in due {
            if let Err(err) = self.readiness_check(&e).await {
                tracing::warn!(extension = %e.name, error = %err.internal_message(), "could not bring the extension's files up to date");
            }
        }
        Ok(n)
    }

    /// What `deleteExtension cleanup=true` removes of an extension on a server: its directory
    /// when its executable is inside it, else the executable alone.
    pub(crate) fn extension_files_target(&self, e: &Extension) -> PathBuf {
        let root = self.extensions_root();
        let dir_name = ext::directory_name(&e.name);
        if e.relative_path.starts_with(&format!("{dir_name}/")) {
            root.join(&dir_name)
        } else {
            root.join(&e.relative_path)
        }
    }

    /// Remove a deleted extension's files on this server and record it done.
    pub(crate) async fn extension_files_remove_here(&self, e: &Extension) -> Result<()> {
        let target = self.extension_files_target(e);
        // A live extension that has taken the same place since keeps it.
        let taken = self
            .store
            .extension_all()
            .await?
            .iter()
            .any(|other| other.id != e.id && self.extension_files_target(other) == target);
        if !taken {
            let result = if target.is_dir() {
                std::fs::remove_dir_all(&target)
            } else {
                std::fs::remove_file(&target)
            };
            match result {
                Ok(()) => {
                    tracing::info!(extension = %e.name, path = %target.display(), "removed the files of a deleted extension")
                }
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                Err(err) => {
                    return Err(Error::internal_with(
                        "Extension is deleted but its files are not cleaned up across servers",
                        format!("{}: {err}", target.display()),
                    ))
                }
            }
        }
        self.store
            .extension_cleanup_done(e.id, &self.server_id, now_millis())
            .await?;
        Ok(())
    }

    /// Carry out the clean-ups of deleted extensions this server has still to do (the
    /// heartbeat's part). Returns how many were done.
    pub async fn extension_cleanups_run(&self) -> Result<usize> {
        let pending = self
            .store
            .extension_cleanups_pending(&self.server_id)
            .await?;
        let mut done = 0;
        for e in pending {
            match self.extension_files_remove_here(&e).await {
                Ok(()) => done += 1,
                Err(err) => {
                    tracing::warn!(extension = %e.name, error = %err.internal_message(), "could not remove the files of a deleted extension")
                }
            }
        }
        Ok(done)
    }
}

impl App {
    /// `syncExtension`, its synchronous part: the source server's files become the stored copy
    /// (all of them, or the `files` named), and the target servers are told to write the stored
    /// copy even over a file changed there by hand (it is kept aside). The source is the server
    /// that receives the request: its files are read here. Every server follows the stored copy;
    /// the targets are the servers the job waits for (by default every live server).
    pub async fn extension_sync_prepare(
        &self,
        caller: &Caller,
        uuid: &str,
        source: &str,
        targets: Option<Vec<String>>,
        files: Option<Vec<String>>,
    ) -> Result<ExtensionSync> {
        require_admin(caller)?;
        let e = self.store.extension_by_uuid(uuid).await?.ok_or_else(|| {
            Error::not_found("Unable to find the extension with the specified id")
        })?;
        if !e.is_user_defined {
            return Err(Error::invalid_param(format!(
                "The files of built-in extension {} come with each server's release; they are not synced",
                e.name
            )));
        }
        let servers = self.store.server_list_live(0).await?;
        let live: Vec<String> = self
            .store
            .server_list_live(now_millis() - LIVE_WINDOW_MS)
            .await?
            .into_iter()
            .map(|s| s.id)
            .collect();
        if !servers.iter().any(|s| s.id == source) {
            return Err(Error::invalid_param(format!(
                "Unable to find management server with ID {source} (parameter sourcemanagementserverid)"
            )));
        }
        if source != self.server_id {
            return Err(Error::invalid_param(format!(
                "syncExtension reads the files of the server that receives the request: send it to server {source} itself (this is server {})",
                self.server_id
            )));
        }
        let targets = match targets {
            Some(list) if !list.is_empty() => {
                for t in &list {
                    if !live.contains(t) {
                        return Err(Error::invalid_param(format!(
                            "Management server {t} is not up (parameter targetmanagementserverids)"
                        )));
                    }
                }
                list
            }
            _ => live,
        };
        let taken = {
            let (root, target) = (self.extensions_root(), self.extension_files_target(&e));
            let (e, only) = (e.clone(), files.clone());
            tokio::task::spawn_blocking(move || {
                files_of_extension(&root, &target, &e, only.as_deref())
            })
            .await
            .map_err(|err| Error::internal(err.to_string()))??
        };
        let mut set: Vec<NewExtensionFile> = Vec::new();
        if files.is_some() {
            // Only the named files change; the others keep their stored version.
            for f in self.store.extension_files(e.id).await? {
                if !taken.iter().any(|t| t.path == f.path) {
                    set.push(self.stored_file(&f).await?);
                }
            }
        }
        set.extend(taken);
        set.sort_by(|a, b| a.path.cmp(&b.path));
        let others: Vec<String> = targets
            .iter()
            .filter(|t| **t != self.server_id)
            .cloned()
            .collect();
        self.extension_files_put(&e, set).await?;
        self.store
            .extension_file_copies_forget(e.id, Some(&others))
            .await?;
        let files = self
            .store
            .extension_files(e.id)
            .await?
            .into_iter()
            .map(|f| (f.path, f.sha256))
            .collect();
        tracing::info!(extension = %e.name, source, targets = ?targets, "extension files taken from this server; the targets write them");
        Ok(ExtensionSync {
            extension: e.uuid,
            targets,
            files,
        })
    }

    /// `syncExtension`, the job: wait until every target server has written the stored files
    /// (the one running the job writes them at once), at most a minute.
    pub async fn extension_sync_wait(&self, caller: &Caller, sync: &ExtensionSync) -> Result<()> {
        let e = self
            .store
            .extension_by_uuid(&sync.extension)
            .await?
            .ok_or_else(|| {
                Error::not_found("Unable to find the extension with the specified id")
            })?;
        if sync.targets.contains(&self.server_id) {
            self.readiness_check(&e).await?;
        }
        let deadline = tokio::time::Instant::now() + SYNC_WAIT;
        loop {
            let mut behind = Vec::new();
            for t in &sync.targets {
                let copies = self.store.extension_file_copies(t, e.id).await?;
                if !sync.files.iter().all(|f| copies.contains(f)) {
                    behind.push(t.clone());
                }
            }
            if behind.is_empty() {
                break;
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(Error::internal(format!(
                    "The files of extension {} were not written on server(s) {} within {} s; their logs and listExtensions tell why",
                    e.name,
                    behind.join(", "),
                    SYNC_WAIT.as_secs()
                )));
            }
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
        self.readiness_check(&e).await?;
        self.event(
            Some(caller),
            "EXTENSION.SYNC",
            &format!(
                "Files of extension {} synced to {} server(s)",
                e.name,
                sync.targets.len()
            ),
            Some(("Extension", &e.uuid)),
        )
        .await;
        Ok(())
    }
}

/// This server's files of an extension (`target`: its directory, or its executable alone when
/// the executable is outside it); with `only`, just those (absolute inside the extensions
/// directory, or relative to it or to the extension's directory). Reads files: run it off the
/// async workers.
fn files_of_extension(
    root: &Path,
    target: &Path,
    e: &Extension,
    only: Option<&[String]>,
) -> Result<Vec<NewExtensionFile>> {
    let all = if target.is_dir() {
        files_below(root, target)?
    } else {
        let content = std::fs::read(target).map_err(|err| {
            Error::invalid_param(format!(
                "The executable of extension {} cannot be read on this server: {}: {err}",
                e.name,
                target.display()
            ))
        })?;
        vec![(e.relative_path.clone(), 0o755, content)]
    };
    let chosen: Vec<(String, u32, Vec<u8>)> = match only {
        None => all,
        Some(names) => {
            let mut out = Vec::new();
            for name in names {
                let rel = name
                    .strip_prefix(&format!("{}/", root.display()))
                    .unwrap_or(name)
                    .trim_start_matches('/');
                let dir = ext::directory_name(&e.name);
                let found = all
                    .iter()
                    .find(|(p, _, _)| *p == rel || *p == format!("{dir}/{rel}"));
                match found {
                    Some(f) => out.push(f.clone()),
                    None => {
                        return Err(Error::invalid_param(format!(
                            "File {name} is not one of the files of extension {} on this server (parameter files)",
                            e.name
                        )))
                    }
                }
            }
            out
        }
    };
    if chosen.is_empty() {
        return Err(Error::invalid_param(format!(
            "Extension {} has no files on this server to sync",
            e.name
        )));
    }
    chosen
        .into_iter()
        .map(|(path, mode, content)| new_file(path, mode, content))
        .collect()
}
