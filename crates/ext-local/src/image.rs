//! Disks and snapshots through `qemu-img`, and the snapshot list QEMU reports.

use crate::deadline::Deadline;
use crate::error::ActionError;
use serde_json::Value;
use std::ffi::OsString;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// One internal qcow2 snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub id: String,
    pub name: String,
    /// Bytes of saved machine state; zero for a disk-only snapshot.
    pub vm_state_size: u64,
    /// Unix seconds.
    pub date_sec: i64,
    /// Guest clock at the snapshot, in seconds.
    pub vm_clock_sec: i64,
}

impl Snapshot {
    /// Whether restoring it brings back a running machine (it holds memory state).
    pub fn has_memory(&self) -> bool {
        self.vm_state_size > 0
    }

    pub fn to_json(&self) -> Value {
        let date = chrono::DateTime::from_timestamp(self.date_sec, 0)
            .map(|time| time.format("%Y-%m-%d %H:%M:%S").to_string())
            .unwrap_or_else(|| "-".into());
        serde_json::json!({
            "name": self.name,
            "id": self.id,
            "date": date,
            "vmstate": if self.has_memory() { "yes" } else { "no" },
            "vm_state_size": self.vm_state_size,
            "vm_clock_seconds": self.vm_clock_sec,
        })
    }
}

/// Parses a `snapshots` array as `qemu-img info --output=json` and `query-block` print it.
pub fn parse_snapshots(list: Option<&Value>) -> Vec<Snapshot> {
    let Some(list) = list.and_then(Value::as_array) else {
        return Vec::new();
    };
    let mut snapshots: Vec<Snapshot> = list
        .iter()
        .filter_map(|entry| {
            Some(Snapshot {
                id: entry.get("id")?.as_str()?.to_string(),
                name: entry.get("name")?.as_str()?.to_string(),
                vm_state_size: entry
                    .get("vm-state-size")
                    .and_then(Value::as_u64)
                    .unwrap_or(0),
                date_sec: entry.get("date-sec").and_then(Value::as_i64).unwrap_or(0),
                vm_clock_sec: entry
                    .get("vm-clock-sec")
                    .and_then(Value::as_i64)
                    .unwrap_or(0),
            })
        })
        .collect();
    snapshots.sort_by_key(|snapshot| snapshot.date_sec);
    snapshots
}

/// Whether `name` is acceptable as a snapshot name: letters, digits, `.`, `_`, `-`, at most 64
/// characters, starting with a letter or digit, and not only digits (QEMU would take it for an
/// id).
pub fn valid_snapshot_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        && !name.chars().all(|c| c.is_ascii_digit())
}

/// Runs `qemu-img` with `arguments` and returns its stdout.
pub fn run(
    qemu_img: &Path,
    arguments: &[OsString],
    deadline: Deadline,
) -> Result<String, ActionError> {
    let mut child = Command::new(qemu_img)
        .args(arguments)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| ActionError::Spawn {
            program: qemu_img.to_path_buf(),
            source,
        })?;
    let stdout = read_on_thread(child.stdout.take());
    let stderr = read_on_thread(child.stderr.take());
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if deadline.has_passed() => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(ActionError::TimedOut {
                    waiting_for: format!(
                        "for qemu-img {}",
                        arguments
                            .first()
                            .map(|a| a.to_string_lossy().into_owned())
                            .unwrap_or_default()
                    ),
                });
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(source) => {
                return Err(ActionError::io(
                    format!("wait for {}", qemu_img.display()),
                    source,
                ))
            }
        }
    };
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    if status.success() {
        return Ok(stdout);
    }
    let message = stderr
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
    let message = if message.is_empty() {
        format!("exited with {status}")
    } else {
        message
    };
    if message
        .to_ascii_lowercase()
        .contains("no space left on device")
    {
        return Err(ActionError::InsufficientCapacity(format!(
            "no disk space left: {message}"
        )));
    }
    Err(ActionError::Tool {
        program: "qemu-img".into(),
        message,
    })
}

fn read_on_thread<R: Read + Send + 'static>(pipe: Option<R>) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut bytes);
        }
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

fn os(parts: &[&str]) -> Vec<OsString> {
    parts.iter().map(OsString::from).collect()
}

/// `qemu-img info --output=json` (with shared locks, so it works next to a running VM).
pub fn info(qemu_img: &Path, path: &Path, deadline: Deadline) -> Result<Value, ActionError> {
    let mut arguments = os(&["info", "--output=json", "-U"]);
    arguments.push(path.into());
    let text = run(qemu_img, &arguments, deadline)?;
    serde_json::from_str(&text).map_err(|_| ActionError::Tool {
        program: "qemu-img".into(),
        message: format!("unexpected output of qemu-img info: {}", text.trim()),
    })
}

/// Creates a blank qcow2 disk of `size_gb` GiB.
pub fn create_blank(
    qemu_img: &Path,
    path: &Path,
    size_gb: u64,
    deadline: Deadline,
) -> Result<(), ActionError> {
    let mut arguments = os(&["create", "-q", "-f", "qcow2"]);
    arguments.push(path.into());
    arguments.push(format!("{size_gb}G").into());
    run(qemu_img, &arguments, deadline).map(|_| ())
}

/// Creates a qcow2 overlay on `base`, at least `size_gb` GiB when given.
pub fn create_overlay(
    qemu_img: &Path,
    path: &Path,
    base: &Path,
    size_gb: Option<u64>,
    deadline: Deadline,
) -> Result<(), ActionError> {
    let base_info = info(qemu_img, base, deadline)
        .map_err(|error| error.context(format!("cannot inspect image {}", base.display())))?;
    let format = base_info
        .get("format")
        .and_then(Value::as_str)
        .unwrap_or("raw")
        .to_string();
    let base_size = base_info
        .get("virtual-size")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    let mut arguments = os(&["create", "-q", "-f", "qcow2", "-b"]);
    arguments.push(base.into());
    arguments.push("-F".into());
    arguments.push(format.into());
    arguments.push(path.into());
    if let Some(size) = size_gb.map(|gb| gb << 30).filter(|size| *size > base_size) {
        arguments.push(size.to_string().into());
    }
    run(qemu_img, &arguments, deadline).map(|_| ())
}

/// `qemu-img convert`: the qcow2 disk `source` (with its backing chain, but not its internal
/// snapshots) as one standalone qcow2 image `target`.
pub fn convert(
    qemu_img: &Path,
    source: &Path,
    target: &Path,
    deadline: Deadline,
) -> Result<(), ActionError> {
    let mut arguments = os(&["convert", "-q", "-f", "qcow2", "-O", "qcow2"]);
    arguments.push(source.into());
    arguments.push(target.into());
    run(qemu_img, &arguments, deadline).map(|_| ())
}

/// The snapshots of a disk not in use.
pub fn snapshots(
    qemu_img: &Path,
    disk: &Path,
    deadline: Deadline,
) -> Result<Vec<Snapshot>, ActionError> {
    let info = info(qemu_img, disk, deadline)?;
    Ok(parse_snapshots(info.get("snapshots")))
}

/// `qemu-img snapshot <operation> <name> <disk>`: `-c` create, `-a` apply, `-d` delete.
pub fn snapshot(
    qemu_img: &Path,
    operation: &str,
    name: &str,
    disk: &Path,
    deadline: Deadline,
) -> Result<(), ActionError> {
    let mut arguments = os(&["snapshot", operation, name]);
    arguments.push(disk.into());
    run(qemu_img, &arguments, deadline).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_lists_parse_and_sort() {
        let list = serde_json::json!([
            {"id": "2", "name": "later", "vm-state-size": 0, "date-sec": 200, "vm-clock-sec": 0},
            {"id": "1", "name": "first", "vm-state-size": 1476184, "date-sec": 100, "vm-clock-sec": 3},
            {"bogus": true}
        ]);
        let parsed = parse_snapshots(Some(&list));
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed[0].name, "first");
        assert!(parsed[0].has_memory());
        assert!(!parsed[1].has_memory());
        assert_eq!(parsed[0].to_json()["vmstate"], "yes");
        assert_eq!(parsed[0].to_json()["date"], "1970-01-01 00:01:40");
        assert!(parse_snapshots(None).is_empty());
    }

    #[test]
    fn snapshot_names() {
        assert!(valid_snapshot_name("before-upgrade_1.0"));
        assert!(!valid_snapshot_name("42"));
        assert!(!valid_snapshot_name("two words"));
        assert!(!valid_snapshot_name("-x"));
        assert!(!valid_snapshot_name(""));
        assert!(!valid_snapshot_name(&"a".repeat(65)));
    }
}
