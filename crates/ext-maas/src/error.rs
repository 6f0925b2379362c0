//! What can go wrong in an action, and the exit code and JSON reply each failure maps to.

use serde_json::{json, Value};
use trellis_ext_protocol::exit;
use trellis_extkit::{ActionFailure, PayloadError, UsageError};

/// A failed action. Each variant maps to one documented exit code.
#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    #[error(transparent)]
    Usage(#[from] UsageError),
    #[error("timeout must be a whole number of seconds, got '{given}'")]
    BadTimeout { given: String },
    #[error(transparent)]
    Payload(#[from] PayloadError),
    #[error("unknown action '{action}'")]
    UnknownAction { action: String },
    #[error("action '{action}' is not supported by the maas extension")]
    Unsupported { action: String },
    #[error("detail '{key}' is missing (set it on the host or the extension)")]
    MissingDetail { key: &'static str },
    #[error("detail '{key}' is invalid: {reason}")]
    InvalidDetail { key: &'static str, reason: String },
    #[error(
        "the instance has no maas machine (detail maas_system_id is missing; prepare assigns it)"
    )]
    NoMachine,
    #[error("the payload names no instance")]
    NoInstance,
    #[error("cannot reach maas for {method} {path}")]
    Unreachable {
        method: &'static str,
        path: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("maas refused the credentials ({status}): {message}")]
    Unauthorized { status: u16, message: String },
    #[error("maas answered {status} to {method} {path}: {message}")]
    Api {
        method: &'static str,
        path: String,
        status: u16,
        message: String,
    },
    #[error("maas gave an unreadable answer to {method} {path}")]
    BadAnswer {
        method: &'static str,
        path: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("maas has no machine available for the instance: {message}")]
    NoMachineAvailable { message: String },
    #[error("machine {system_id} is reserved for another instance ({other})")]
    NotOurs { system_id: String, other: String },
    #[error("machine {system_id} was not allocated for this instance: trellis acts only on machines it allocated in prepare")]
    NotAllocatedForInstance { system_id: String },
    #[error("deployment of machine {system_id} failed ({status_name}): {status_message}")]
    DeployFailed {
        system_id: String,
        status_name: String,
        status_message: String,
    },
    #[error("machine {system_id} left the deployment in state '{status_name}'")]
    DeployInterrupted {
        system_id: String,
        status_name: String,
    },
    #[error("maas reports power state '{state}' for machine {system_id}")]
    PowerError { system_id: String, state: String },
    #[error("the deadline passed while {waiting_for}")]
    TimedOut { waiting_for: String },
}

impl ActionError {
    /// The process exit code (see `trellis_ext_protocol::exit`).
    pub fn exit_code(&self) -> i32 {
        match self {
            ActionError::Usage(_)
            | ActionError::BadTimeout { .. }
            | ActionError::Payload(_)
            | ActionError::UnknownAction { .. }
            | ActionError::NoInstance => exit::USAGE,
            ActionError::MissingDetail { .. }
            | ActionError::InvalidDetail { .. }
            | ActionError::NoMachine => exit::CONFIG,
            ActionError::Unreachable { .. } | ActionError::Unauthorized { .. } => exit::UNREACHABLE,
            ActionError::Api {
                status: 502..=504, ..
            } => exit::UNREACHABLE,
            ActionError::TimedOut { .. } => exit::TIMED_OUT,
            ActionError::Unsupported { .. } => exit::UNSUPPORTED,
            ActionError::Api { .. }
            | ActionError::BadAnswer { .. }
            | ActionError::NoMachineAvailable { .. }
            | ActionError::NotOurs { .. }
            | ActionError::NotAllocatedForInstance { .. }
            | ActionError::DeployFailed { .. }
            | ActionError::DeployInterrupted { .. }
            | ActionError::PowerError { .. } => exit::FAILED,
        }
    }

    /// The JSON printed on stdout: `{"status":"error","error":…}` plus MAAS's status and text
    /// when MAAS answered.
    pub fn reply(&self) -> Value {
        let mut reply = trellis_ext_protocol::error_reply(&trellis_extkit::error_chain(self));
        let maas = match self {
            ActionError::Api {
                status, message, ..
            }
            | ActionError::Unauthorized { status, message } => Some((*status, message.as_str())),
            ActionError::NoMachineAvailable { message } => Some((409, message.as_str())),
            _ => None,
        };
        if let (Some((status, text)), Some(object)) = (maas, reply.as_object_mut()) {
            object.insert("http_status".into(), json!(status));
            object.insert("maas_error".into(), json!(text));
        }
        reply
    }
}

impl ActionFailure for ActionError {
    fn exit_code(&self) -> i32 {
        ActionError::exit_code(self)
    }

    fn reply(&self) -> Value {
        ActionError::reply(self)
    }
}
