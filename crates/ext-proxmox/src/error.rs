//! Why an action failed, and which documented exit code that means.

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
    /// Required details are missing or invalid.
    #[error("{0}")]
    Config(String),
    /// The action is not one this extension knows.
    #[error("unsupported action '{0}'")]
    Unsupported(String),
    /// No connection could be made (DNS, TCP, TLS, no answer).
    #[error("cannot reach proxmox at {url}")]
    Unreachable {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    /// Proxmox refused the API token.
    #[error("proxmox refused the api token {token_id} (http {status}: {message})")]
    Unauthorized {
        token_id: String,
        status: u16,
        message: String,
    },
    /// Proxmox answered a request with an error.
    #[error("proxmox answered {method} {path} with http {status}: {message}")]
    Api {
        method: String,
        path: String,
        status: u16,
        message: String,
    },
    /// Proxmox answered with something that is not its JSON envelope.
    #[error("unexpected answer from proxmox to {method} {path}: {problem}")]
    BadAnswer {
        method: String,
        path: String,
        problem: String,
    },
    /// A Proxmox task ended with an error; `exitstatus` is Proxmox's own text.
    #[error("proxmox task {upid} failed: {exitstatus}")]
    TaskFailed { upid: String, exitstatus: String },
    /// The deadline passed.
    #[error("timed out {waiting_for}")]
    TimedOut { waiting_for: String },
    /// The instance's VM is not on the node.
    #[error("no vm named '{name}' on node {node}")]
    NotFound { name: String, node: String },
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
    /// `create` failed; `cleanup` says what happened to the half-created VM.
    #[error("cannot create vm {vmid} for instance {name}{cleanup}")]
    CreateFailed {
        name: String,
        vmid: u32,
        cleanup: Cleanup,
        #[source]
        source: Box<ActionError>,
    },
}

/// What `create` did about a VM it created before failing.
#[derive(Debug)]
pub enum Cleanup {
    /// Nothing had been created.
    NotNeeded,
    /// The VM was destroyed again.
    Removed,
    /// Proxmox was still creating the VM at the deadline; it may appear later.
    Pending,
    /// Destroying it failed too (the text says why); the VM is left behind.
    Failed(String),
}

impl std::fmt::Display for Cleanup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Cleanup::NotNeeded => Ok(()),
            Cleanup::Removed => f.write_str(" (the half-created vm was removed)"),
            Cleanup::Pending => f.write_str(" (proxmox was still creating it at the deadline; it may appear later and then needs a delete)"),
            Cleanup::Failed(why) => write!(f, " (removing the half-created vm failed too, it is left behind: {why})"),
        }
    }
}

impl ActionError {
    /// Wraps `self` with a sentence saying what was being done.
    pub fn context(self, context: impl Into<String>) -> ActionError {
        ActionError::Context {
            context: context.into(),
            source: Box::new(self),
        }
    }

    /// The innermost error of our own (through contexts).
    pub fn root(&self) -> &ActionError {
        match self {
            ActionError::Context { source, .. } | ActionError::CreateFailed { source, .. } => {
                source.root()
            }
            other => other,
        }
    }

    /// The documented exit code (see `trellis_ext_protocol::exit`).
    pub fn exit_code(&self) -> i32 {
        match self.root() {
            ActionError::Usage(_) | ActionError::Payload(_) => exit::USAGE,
            ActionError::Config(_) => exit::CONFIG,
            ActionError::Unsupported(_) => exit::UNSUPPORTED,
            ActionError::Unreachable { .. } | ActionError::Unauthorized { .. } => exit::UNREACHABLE,
            ActionError::TimedOut { .. } => exit::TIMED_OUT,
            _ => exit::FAILED,
        }
    }

    /// Whether Proxmox said the VMID is taken (another deploy got it first).
    pub fn is_vmid_taken(&self) -> bool {
        self.message_mentions("already exists")
    }

    fn message_mentions(&self, text: &str) -> bool {
        match self.root() {
            ActionError::Api { message, .. } => message.contains(text),
            ActionError::TaskFailed { exitstatus, .. } => exitstatus.contains(text),
            _ => false,
        }
    }

    /// Whether Proxmox said the VM does not exist.
    pub fn is_missing_vm(&self) -> bool {
        matches!(self.root(), ActionError::Api { status: 500, message, .. } if message.contains("does not exist"))
    }

    /// The full message: this error and every cause, joined by `: `.
    pub fn full_message(&self) -> String {
        trellis_extkit::error_chain(self)
    }

    /// The JSON printed on stdout: `{"status":"error","error":…}` plus what helps diagnose it.
    pub fn reply(&self) -> serde_json::Value {
        let mut reply = trellis_ext_protocol::error_reply(&self.full_message());
        let kind = match self.root() {
            ActionError::Usage(_) | ActionError::Payload(_) => "usage",
            ActionError::Config(_) => "config",
            ActionError::Unsupported(_) => "unsupported",
            ActionError::Unreachable { .. } => "unreachable",
            ActionError::Unauthorized { .. } => "unauthorized",
            ActionError::Api { .. } | ActionError::BadAnswer { .. } => "api",
            ActionError::TaskFailed { .. } => "task_failed",
            ActionError::TimedOut { .. } => "timed_out",
            ActionError::NotFound { .. } => "not_found",
            _ => "failed",
        };
        reply["kind"] = kind.into();
        match self.root() {
            ActionError::TaskFailed { upid, exitstatus } => {
                reply["upid"] = upid.as_str().into();
                reply["exitstatus"] = exitstatus.as_str().into();
            }
            ActionError::Api { status, .. } | ActionError::Unauthorized { status, .. } => {
                reply["http_status"] = (*status).into();
            }
            _ => {}
        }
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
