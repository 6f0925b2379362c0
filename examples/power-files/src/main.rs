//! `power-files`: an example Trellis extension written with `trellis-extkit`.
//!
//! Each instance is a file named after the instance (`i-2-10-VM`) in the directory named by the
//! `state_dir` detail (host first, then extension), holding its power state, `poweron` or
//! `poweroff`. It implements every standard action except `getconsole`, which it declines with
//! exit code 6 (unsupported), as an extension without consoles should:
//!
//! | action | effect |
//! | --- | --- |
//! | `prepare` | nothing to change: `{}` |
//! | `create` | writes the file, powered off (`create` again is fine: it keeps the state) |
//! | `start`, `stop` | writes `poweron` or `poweroff` |
//! | `reboot` | needs a running instance |
//! | `delete` | removes the file (an absent file is already deleted) |
//! | `status` | the state in the file |
//! | `statuses` | every instance in the directory |
//!
//! Invoke it as `power-files <action> <payload.json> <timeout-seconds>`; see
//! `docs/extensions/authoring.md`, section 9.

use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};
use trellis_extkit::{exit, Deadline, Failure, Invocation, Payload};

const POWER_ON: &str = "poweron";
const POWER_OFF: &str = "poweroff";

fn main() {
    trellis_extkit::main("power-files", handle)
}

/// One action: everything the kit does not do already.
fn handle(invocation: Invocation) -> Result<Value, Failure> {
    let action = invocation.action.to_ascii_lowercase();
    // Decline what this extension does not implement before touching the payload.
    if !matches!(
        action.as_str(),
        "prepare" | "create" | "start" | "stop" | "reboot" | "delete" | "status" | "statuses"
    ) {
        return Err(Failure::new(
            exit::UNSUPPORTED,
            format!("unsupported action '{}'", invocation.action),
        ));
    }
    let deadline = invocation.deadline();
    let payload = invocation.read_payload()?;
    let state_dir = state_dir(&payload)?;
    if action == "statuses" {
        return statuses(&state_dir);
    }
    let name = instance_name(&payload)?;
    let file = state_dir.join(&name);
    match action.as_str() {
        "prepare" => Ok(json!({})),
        "create" => {
            if read_state(&file)?.is_none() {
                write_state(&file, POWER_OFF, deadline)?;
            }
            Ok(success(&format!("created {name}")))
        }
        "start" | "stop" => {
            require_instance(&file, &name)?;
            let state = if action == "start" {
                POWER_ON
            } else {
                POWER_OFF
            };
            write_state(&file, state, deadline)?;
            Ok(success(&format!("{action} {name}: {state}")))
        }
        "reboot" => match require_instance(&file, &name)?.as_str() {
            POWER_ON => Ok(success(&format!("rebooted {name}"))),
            _ => Err(Failure::new(
                exit::FAILED,
                format!("cannot reboot {name}: it is not running"),
            )),
        },
        "delete" => match std::fs::remove_file(&file) {
            Ok(()) => Ok(success(&format!("deleted {name}"))),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                Ok(success(&format!("{name} was already deleted")))
            }
            Err(error) => Err(io_failure(&format!("remove {}", file.display()), &error)),
        },
        _ => {
            let state = require_instance(&file, &name)?;
            Ok(json!({"status": "success", "power_state": state}))
        }
    }
}

fn success(message: &str) -> Value {
    json!({"status": "success", "message": message})
}

/// The `state_dir` detail: host first, then extension. It must exist.
fn state_dir(payload: &Payload) -> Result<PathBuf, Failure> {
    let details = payload.details();
    let Some(dir) = details.host_or_extension("state_dir") else {
        return Err(Failure::new(
            exit::CONFIG,
            "missing required detail state_dir (set it on the host or the extension)",
        ));
    };
    let dir = PathBuf::from(dir);
    if !dir.is_dir() {
        return Err(Failure::new(
            exit::CONFIG,
            format!("state_dir {} is not a directory", dir.display()),
        ));
    }
    Ok(dir)
}

/// The instance's internal name, safe to use as a file name.
fn instance_name(payload: &Payload) -> Result<String, Failure> {
    let name = payload
        .virtualmachinename
        .clone()
        .or_else(|| payload.vm.as_ref().map(|vm| vm.name.clone()))
        .unwrap_or_default();
    let safe = !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if safe {
        Ok(name)
    } else {
        Err(Failure::new(
            exit::USAGE,
            format!("the payload names no usable instance ({name:?})"),
        ))
    }
}

fn io_failure(what: &str, error: &std::io::Error) -> Failure {
    Failure::new(exit::FAILED, format!("cannot {what}: {error}"))
}

/// The state in `file`, `None` when there is no such instance.
fn read_state(file: &Path) -> Result<Option<String>, Failure> {
    match std::fs::read_to_string(file) {
        Ok(text) => Ok(Some(text.trim().to_string())),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(io_failure(&format!("read {}", file.display()), &error)),
    }
}

fn require_instance(file: &Path, name: &str) -> Result<String, Failure> {
    read_state(file)?.ok_or_else(|| Failure::new(exit::FAILED, format!("no instance named {name}")))
}

/// Replaces the state atomically (a temporary file renamed over it), unless the deadline passed.
fn write_state(file: &Path, state: &str, deadline: Deadline) -> Result<(), Failure> {
    if deadline.has_passed() {
        return Err(Failure::new(
            exit::TIMED_OUT,
            "the deadline passed before the state was written",
        ));
    }
    let temporary = file.with_extension(format!("tmp-{}", std::process::id()));
    std::fs::write(&temporary, format!("{state}\n"))
        .and_then(|()| std::fs::rename(&temporary, file))
        .map_err(|error| io_failure(&format!("write {}", file.display()), &error))
}

/// Every instance in the directory, by name.
fn statuses(state_dir: &Path) -> Result<Value, Failure> {
    let entries = std::fs::read_dir(state_dir)
        .map_err(|error| io_failure(&format!("list {}", state_dir.display()), &error))?;
    let mut states = Map::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.contains(".tmp-") || !entry.path().is_file() {
            continue;
        }
        if let Some(state) = read_state(&entry.path())? {
            states.insert(name, state.into());
        }
    }
    Ok(json!({"status": "success", "power_state": states}))
}
