//! Why an action failed, and which documented exit code that means.

use crate::qmp::QmpError;
use std::path::PathBuf;
use trellis_ext_protocol::exit;
use trellis_extkit::{ActionFailure, PayloadError, UsageError};

/// A failed action. Each variant maps to one exit code of [`trellis_ext_protocol::exit`].
#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    /// The invocation was wrong (arguments, parameters).
    #[error("{0}")]
    Usage(String),
    /// The payload file cannot be read or parsed.
    #[error(transparent)]
    Payload(#[from] PayloadError),
    /// A detail is missing or invalid.
    #[error("{0}")]
    Config(String),
    /// The action is not one this extension knows.
    #[error("unsupported action '{0}'")]
    Unsupported(String),
    /// A program we need is not installed.
    #[error("{program} was not found on PATH ({path}); install the Debian package {package} (apt-get install {package}) or set the {detail} detail to its location")]
    ProgramMissing {
        program: &'static str,
        package: &'static str,
        detail: &'static str,
        path: String,
    },
    /// The base image the template names does not exist.
    #[error("image {} does not exist", path.display())]
    ImageMissing { path: PathBuf },
    /// Not enough memory, disk space or console ports on this machine.
    #[error("{0}")]
    InsufficientCapacity(String),
    /// The instance has no virtual machine here.
    #[error("no vm named '{name}' in {}", state_dir.display())]
    NotFound { name: String, state_dir: PathBuf },
    /// The action needs a running virtual machine.
    #[error("vm {name} is not running")]
    NotRunning { name: String },
    /// The action needs a stopped virtual machine.
    #[error("vm {name} is running; stop it first")]
    Running { name: String },
    /// What the action would create exists already.
    #[error("{} already exists", path.display())]
    AlreadyExists { path: PathBuf },
    /// The deadline passed.
    #[error("timed out {waiting_for}")]
    TimedOut { waiting_for: String },
    /// A file-system operation failed.
    #[error("cannot {what}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    /// `qemu-system-x86_64` or `qemu-img` could not be started.
    #[error("cannot run {}", program.display())]
    Spawn {
        program: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// `qemu-system-x86_64` or `qemu-img` failed; `message` is what it printed.
    #[error("{program} failed: {message}")]
    Tool { program: String, message: String },
    /// A QMP command failed.
    #[error("qmp command {command} failed for vm {name}")]
    Qmp {
        name: String,
        command: String,
        #[source]
        source: QmpError,
    },
    /// Any other failure with a message of its own.
    #[error("{0}")]
    Failed(String),
    /// Context around a lower-level failure.
    #[error("{context}")]
    Context {
        context: String,
        #[source]
        source: Box<ActionError>,
    },
}

impl ActionError {
    /// Wraps `self` with a sentence saying what was being done.
    pub fn context(self, context: impl Into<String>) -> ActionError {
        ActionError::Context {
            context: context.into(),
            source: Box::new(self),
        }
    }

    /// An `Io` error.
    pub fn io(what: impl Into<String>, source: std::io::Error) -> ActionError {
        ActionError::Io {
            what: what.into(),
            source,
        }
    }

    /// The innermost error of our own (through contexts).
    pub fn root(&self) -> &ActionError {
        match self {
            ActionError::Context { source, .. } => source.root(),
            other => other,
        }
    }

    /// The documented exit code (see `trellis_ext_protocol::exit`).
    pub fn exit_code(&self) -> i32 {
        match self.root() {
            ActionError::Usage(_) | ActionError::Payload(_) => exit::USAGE,
            ActionError::Config(_)
            | ActionError::ProgramMissing { .. }
            | ActionError::ImageMissing { .. } => exit::CONFIG,
            ActionError::Unsupported(_) => exit::UNSUPPORTED,
            ActionError::TimedOut { .. } => exit::TIMED_OUT,
            ActionError::Qmp {
                source: QmpError::TimedOut { .. },
                ..
            } => exit::TIMED_OUT,
            _ => exit::FAILED,
        }
    }

    /// A short machine-readable kind, printed next to the message.
    pub fn kind(&self) -> &'static str {
        match self.root() {
            ActionError::Usage(_) | ActionError::Payload(_) => "usage",
            ActionError::Config(_) => "config",
            ActionError::ProgramMissing { .. } => "program_missing",
            ActionError::ImageMissing { .. } => "image_missing",
            ActionError::Unsupported(_) => "unsupported",
            ActionError::InsufficientCapacity(_) => "insufficient_capacity",
            ActionError::NotFound { .. } => "not_found",
            ActionError::NotRunning { .. } => "not_running",
            ActionError::Running { .. } => "running",
            ActionError::AlreadyExists { .. } => "already_exists",
            ActionError::TimedOut { .. } => "timed_out",
            ActionError::Qmp { source, .. } => match source {
                QmpError::TimedOut { .. } => "timed_out",
                _ => "qmp",
            },
            ActionError::Tool { .. } | ActionError::Spawn { .. } => "qemu",
            _ => "failed",
        }
    }

    /// The full message: this error and every cause, joined by `: `.
    pub fn full_message(&self) -> String {
        trellis_extkit::error_chain(self)
    }

    /// The JSON printed on stdout: `{"status":"error","error":…,"kind":…}`.
    pub fn reply(&self) -> serde_json::Value {
        let mut reply = trellis_ext_protocol::error_reply(&self.full_message());
        reply["kind"] = self.kind().into();
        reply
    }
}

impl From<UsageError> for ActionError {
    fn from(error: UsageError) -> ActionError {
        ActionError::Usage(error.to_string())
    }
}

impl ActionFailure for ActionError {
    fn exit_code(&self) -> i32 {
        ActionError::exit_code(self)
    }

    fn reply(&self) -> serde_json::Value {
        ActionError::reply(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_root_cause() {
        let missing = ActionError::ProgramMissing {
            program: "qemu-system-x86_64",
            package: "qemu-system-x86",
            detail: "qemu_binary",
            path: "/usr/bin".into(),
        };
        assert_eq!(missing.exit_code(), exit::CONFIG);
        let wrapped = missing.context("cannot start vm i-2-10-VM");
        assert_eq!(wrapped.exit_code(), exit::CONFIG);
        assert_eq!(wrapped.kind(), "program_missing");
        let text = wrapped.full_message();
        assert!(text.starts_with("cannot start vm i-2-10-VM: qemu-system-x86_64 was not found"));
        assert!(text.contains("apt-get install qemu-system-x86"));
        assert_eq!(
            ActionError::InsufficientCapacity("no memory".into()).exit_code(),
            exit::FAILED
        );
        assert_eq!(
            ActionError::TimedOut {
                waiting_for: "x".into()
            }
            .exit_code(),
            exit::TIMED_OUT
        );
    }

    #[test]
    fn the_reply_names_the_kind() {
        let reply = ActionError::NotRunning { name: "vm1".into() }.reply();
        assert_eq!(reply["status"], "error");
        assert_eq!(reply["error"], "vm vm1 is not running");
        assert_eq!(reply["kind"], "not_running");
    }
}
