//! Inspecting extension executables: the pre-flight check before every run, and the readiness
//! state (with the SHA-512 checksum compared across servers).

use sha2::{Digest, Sha512};
use std::fmt::Write as _;
use std::io::{self, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// What the file at an extension's path looks like from this server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutableState {
    pub exists: bool,
    pub is_file: bool,
    pub executable: bool,
    /// Lowercase hex SHA-512 of the file content, when it is a readable, executable regular file.
    pub sha512: Option<String>,
    /// Why the path is not ready, in words; `None` when it is.
    pub problem: Option<String>,
}

impl ExecutableState {
    /// Ready to run: an executable regular file whose checksum could be computed.
    pub fn is_ready(&self) -> bool {
        self.problem.is_none() && self.sha512.is_some()
    }
}

/// Inspect `path` (symlinks followed) and hash its content.
///
/// This reads the whole file and blocks; call it from `spawn_blocking` in async code.
pub fn inspect_executable(path: &Path) -> ExecutableState {
    let mut state = ExecutableState {
        exists: false,
        is_file: false,
        executable: false,
        sha512: None,
        problem: None,
    };
    if let Err(reason) = check_runnable(path, &mut state) {
        state.problem = Some(reason);
        return state;
    }
    match sha512_of_file(path) {
        Ok(digest) => state.sha512 = Some(digest),
        Err(error) => state.problem = Some(format!("cannot be read: {error}")),
    }
    state
}

/// The pre-flight check of every run: the path exists, is a regular file and is executable by
/// this process. Returns the reason when it is not.
pub(crate) fn preflight(path: &Path) -> Result<(), String> {
    let mut state = ExecutableState {
        exists: false,
        is_file: false,
        executable: false,
        sha512: None,
        problem: None,
    };
    check_runnable(path, &mut state)
}

fn check_runnable(path: &Path, state: &mut ExecutableState) -> Result<(), String> {
    let metadata = match std::fs::metadata(path) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            return Err("does not exist".to_owned())
        }
        Err(error) => return Err(format!("cannot be inspected: {error}")),
    };
    state.exists = true;
    if !metadata.is_file() {
        return Err("is not a regular file".to_owned());
    }
    state.is_file = true;
    let has_exec_bit = metadata.permissions().mode() & 0o111 != 0;
    if !has_exec_bit || nix::unistd::access(path, nix::unistd::AccessFlags::X_OK).is_err() {
        return Err("is not executable".to_owned());
    }
    state.executable = true;
    Ok(())
}

fn sha512_of_file(path: &Path) -> io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha512::new();
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let read = file.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
    }
    let digest = hasher.finalize();
    let mut hex = String::with_capacity(digest.len() * 2);
    for byte in digest {
        let _ = write!(hex, "{byte:02x}");
    }
    Ok(hex)
}
