//! Shared helpers: sandboxes with a runner and a scripts directory, process-group inspection.

mod check;
mod containment;
mod executables;
mod limits;
mod output;
mod process;
mod timeouts;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tempfile::TempDir;
use trellis_ext_runner::{Invocation, Runner, RunnerConfig};

/// A temporary directory holding scripts and the payload directory of a runner.
pub struct Sandbox {
    pub dir: TempDir,
    pub runner: Runner,
}

impl Sandbox {
    pub fn new() -> Sandbox {
        Sandbox::with(|_| {})
    }

    pub fn with(configure: impl FnOnce(&mut RunnerConfig)) -> Sandbox {
        let dir = tempfile::tempdir().expect("create temporary directory");
        let mut config = RunnerConfig {
            payload_dir: dir.path().join("payloads"),
            ..RunnerConfig::default()
        };
        configure(&mut config);
        let runner = Runner::new(config).expect("create runner");
        Sandbox { dir, runner }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Write an executable bash script named `name` with `body`.
    pub fn script(&self, name: &str, body: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, format!("#!/bin/bash\n{body}\n")).expect("write script");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
            .expect("chmod script");
        path
    }

    /// Payload files currently on disk.
    pub fn payload_files(&self) -> Vec<PathBuf> {
        let mut files = Vec::new();
        let root = self.runner.payload_dir();
        for extension_dir in std::fs::read_dir(root).expect("read payload dir").flatten() {
            for entry in std::fs::read_dir(extension_dir.path())
                .into_iter()
                .flatten()
                .flatten()
            {
                files.push(entry.path());
            }
        }
        files
    }
}

pub fn invocation(executable: &Path, action: &str) -> Invocation {
    Invocation {
        extension: "test-ext".to_owned(),
        executable: executable.to_path_buf(),
        action: action.to_owned(),
        payload: br#"{"virtualmachinename":"i-2-10-VM"}"#.to_vec(),
        timeout: Duration::from_secs(30),
        host_key: None,
        secrets: Default::default(),
    }
}

/// Poll `condition` until it holds or `limit` passes; returns whether it held.
pub async fn wait_for_condition(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let started = Instant::now();
    loop {
        if condition() {
            return true;
        }
        if started.elapsed() > limit {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Live (non-zombie) processes whose process group is `group`.
pub fn live_members_of_group(group: i32) -> Vec<i32> {
    let mut members = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("read /proc").flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|name| name.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // "pid (comm) state ppid pgrp ...": comm may contain anything, so split after the last ')'.
        let Some(after_comm) = stat.rfind(')').map(|index| &stat[index + 1..]) else {
            continue;
        };
        let fields: Vec<&str> = after_comm.split_whitespace().collect();
        if fields.len() > 2 && fields[0] != "Z" && fields[2].parse::<i32>().ok() == Some(group) {
            members.push(pid);
        }
    }
    members
}

/// Wait until no live process is left in `group`.
pub async fn group_is_gone(group: i32) -> bool {
    wait_for_condition(Duration::from_secs(5), || {
        live_members_of_group(group).is_empty()
    })
    .await
}
