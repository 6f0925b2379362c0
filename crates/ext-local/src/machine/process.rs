//! The QEMU process seen from outside: why a launch failed, which process is a VM's QEMU
//! (through `/proc`), and how it is killed.

use super::LaunchPlan;
use crate::error::ActionError;
use std::io::Read;
use std::time::Duration;

pub(super) fn launch_error(
    name: &str,
    plan: &LaunchPlan,
    stderr: &str,
    status: String,
) -> ActionError {
    let lower = stderr.to_ascii_lowercase();
    let message: String = {
        let lines: Vec<&str> = stderr
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with("VNC server running"))
            .collect();
        let tail = &lines[lines.len().saturating_sub(5)..];
        if tail.is_empty() {
            format!("exited with {status} and printed nothing")
        } else {
            tail.join("; ")
        }
    };
    if lower.contains("cannot allocate memory")
        || lower.contains("cannot set up guest memory")
        || lower.contains("out of memory")
    {
        return ActionError::InsufficientCapacity(format!(
            "not enough memory on this machine to start vm {name}: {message}"
        ));
    }
    if lower.contains("no space left on device") {
        return ActionError::InsufficientCapacity(format!(
            "no disk space left to start vm {name}: {message}"
        ));
    }
    if lower.contains("failed to find an available port") {
        return ActionError::InsufficientCapacity(format!(
            "no free vnc display from :{} to :{} on {} for vm {name}: {message}",
            plan.vnc_displays().0,
            plan.vnc_displays().1,
            plan.vnc_listen
        ));
    }
    if lower.contains("failed to get \"write\" lock") {
        return ActionError::Failed(format!(
            "the disk of vm {name} is in use by another process: {message}"
        ));
    }
    ActionError::Tool {
        program: plan
            .qemu
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "qemu".into()),
        message,
    }
}

/// Whether a launch failure is KVM's fault (worth retrying under TCG).
pub fn is_kvm_failure(error: &ActionError) -> bool {
    match error.root() {
        ActionError::Tool { message, .. } => message.to_ascii_lowercase().contains("kvm"),
        _ => false,
    }
}

/// Reads a pipe to its end on a thread.
pub(super) fn drain<R: Read + Send + 'static>(
    pipe: Option<R>,
) -> std::sync::mpsc::Receiver<String> {
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut pipe) = pipe {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            text = String::from_utf8_lossy(&bytes).into_owned();
        }
        let _ = sender.send(text);
    });
    receiver
}

/// What a drained pipe held; gives up after a second (a daemon may still hold it).
pub(super) fn collect(receiver: std::sync::mpsc::Receiver<String>) -> String {
    receiver
        .recv_timeout(Duration::from_secs(1))
        .unwrap_or_default()
}

/// The arguments of a live, non-zombie process.
fn process_arguments(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let state = stat.rsplit_once(')')?.1.trim_start().chars().next()?;
    if state == 'Z' || state == 'X' {
        return None;
    }
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    Some(
        cmdline
            .split(|byte| *byte == 0)
            .map(|part| String::from_utf8_lossy(part).into_owned())
            .collect(),
    )
}

pub(super) fn arguments_match(arguments: &[String], uuid: &str) -> bool {
    arguments
        .windows(2)
        .any(|pair| pair[0] == "-uuid" && pair[1].eq_ignore_ascii_case(uuid))
        && arguments.iter().any(|a| a == "-daemonize")
}

/// Whether `pid` is a QEMU started for the VM with `uuid`.
pub fn is_qemu_of(pid: u32, uuid: &str) -> bool {
    process_arguments(pid).is_some_and(|arguments| arguments_match(&arguments, uuid))
}

/// Finds the QEMU of the VM with `uuid` among all processes.
pub fn find_qemu_of(uuid: &str) -> Option<u32> {
    std::fs::read_dir("/proc")
        .ok()?
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .find(|pid| is_qemu_of(*pid, uuid))
}

/// Sends SIGKILL.
pub fn kill(pid: u32) {
    if let Ok(pid) = i32::try_from(pid) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}
