//! The kit for writing Trellis extensions in Rust, shared by the built-in extensions.
//!
//! An extension is an executable invoked as `<exe> <action> <payload.json> <timeout-seconds>`
//! that prints one JSON document on stdout and says with its exit code whether the action
//! succeeded (`docs/extensions/authoring.md`). This crate holds the plumbing every Rust extension
//! needs around its actions, so that they all behave alike:
//!
//! * [`Invocation::parse`] reads argv (a usage error when the action or the payload path is
//!   missing) and [`Invocation::read_payload`] the payload file (unreadable or invalid: a usage
//!   error naming the file);
//! * [`Deadline`]: the one deadline policy, from the timeout argument and `TRELLIS_DEADLINE`;
//! * [`Reply`] and [`ActionFailure`]: the JSON reply and the exit codes of
//!   [`trellis_ext_protocol::exit`]; failures print `{"status":"error","error":…}`;
//! * [`main`] (or [`run_main`]) runs the extension: it prints the reply, exits with its code,
//!   and turns a panic into an error reply with exit code 1 instead of a trace on stderr;
//! * [`Failure`]: a ready-made failure (exit code and message) for extensions that need no error
//!   type of their own.
//!
//! ```no_run
//! use trellis_extkit::{exit, Failure, Invocation};
//!
//! fn main() {
//!     trellis_extkit::main("my-extension", |invocation: Invocation| {
//!         let payload = invocation.read_payload()?;
//!         match invocation.action.as_str() {
//!             "status" => Ok(serde_json::json!({"status": "success", "power_state": "poweron"})),
//!             other => Err(Failure::new(exit::UNSUPPORTED, format!("unsupported action '{other}'"))),
//!         }
//!     })
//! }
//! ```
//!
//! It depends on the protocol crate only, never on anything of the server.

pub mod deadline;
pub mod helper;

pub use deadline::Deadline;
pub use trellis_ext_protocol::{error_reply, exit, Payload, ENV_DEADLINE};

use serde_json::Value;
use std::io::Write as _;
use std::time::Duration;
use trellis_ext_protocol::argv;

/// The action or the payload path is missing from argv.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("usage: {program} <action> <payload.json> <timeout-seconds>")]
pub struct UsageError {
    pub program: String,
}

/// The payload file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PayloadError {
    /// The payload file cannot be read.
    #[error("cannot read the payload file {path}")]
    Unreadable {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// The payload file does not hold a payload.
    #[error("the payload file {path} is not a valid payload")]
    Invalid {
        path: String,
        #[source]
        source: serde_json::Error,
    },
}

/// One invocation: argv and the deadline variable, as given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// argv\[1\], verbatim (built-ins match it case-insensitively).
    pub action: String,
    /// argv\[2\].
    pub payload_path: String,
    /// argv\[3\], if given.
    pub timeout_argument: Option<String>,
    /// The value of `TRELLIS_DEADLINE`, if set.
    pub deadline_variable: Option<String>,
}

impl Invocation {
    /// Reads `arguments` (as `std::env::args()`, program name first) and the value of
    /// `TRELLIS_DEADLINE`. `program` names the executable in the usage message.
    pub fn parse(
        program: &str,
        arguments: &[String],
        deadline_variable: Option<&str>,
    ) -> Result<Invocation, UsageError> {
        let (Some(action), Some(payload_path)) =
            (arguments.get(argv::ACTION), arguments.get(argv::PAYLOAD))
        else {
            return Err(UsageError {
                program: program.to_string(),
            });
        };
        Ok(Invocation {
            action: action.clone(),
            payload_path: payload_path.clone(),
            timeout_argument: arguments.get(argv::TIMEOUT).cloned(),
            deadline_variable: deadline_variable.map(str::to_string),
        })
    }

    /// The deadline, counted from now (see [`Deadline::from_invocation`]).
    pub fn deadline(&self) -> Deadline {
        self.deadline_or(deadline::DEFAULT_TIMEOUT)
    }

    /// The deadline, counted from now, with `default` when neither the timeout argument nor
    /// `TRELLIS_DEADLINE` is usable.
    pub fn deadline_or(&self, default: Duration) -> Deadline {
        Deadline::from_invocation_or(
            self.timeout_argument.as_deref(),
            self.deadline_variable.as_deref(),
            default,
        )
    }

    /// Reads and parses the payload file.
    pub fn read_payload(&self) -> Result<Payload, PayloadError> {
        read_payload(&self.payload_path)
    }
}

/// Reads and parses the payload file at `path`.
pub fn read_payload(path: &str) -> Result<Payload, PayloadError> {
    let text = std::fs::read_to_string(path).map_err(|source| PayloadError::Unreadable {
        path: path.to_string(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|source| PayloadError::Invalid {
        path: path.to_string(),
        source,
    })
}

/// The message of `error` and of every cause, joined by `: ` (a cause already at the end of the
/// message, or empty, is left out).
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !text.is_empty() && !message.ends_with(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    message
}

/// A failed action: an exit code of [`exit`] and the JSON printed on stdout.
pub trait ActionFailure: std::error::Error {
    /// The exit code; never [`exit::OK`].
    fn exit_code(&self) -> i32;

    /// The reply: `{"status":"error","error":<the message and its causes>}` unless the
    /// extension adds fields of its own.
    fn reply(&self) -> Value
    where
        Self: Sized,
    {
        error_reply(&error_chain(self))
    }
}

/// What to print on stdout and how to exit.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub exit_code: i32,
    pub stdout: Value,
}

impl Reply {
    /// Success with `stdout`.
    pub fn success(stdout: Value) -> Reply {
        Reply {
            exit_code: exit::OK,
            stdout,
        }
    }

    /// The reply and exit code of `failure`.
    pub fn failure<E: ActionFailure>(failure: &E) -> Reply {
        Reply {
            exit_code: failure.exit_code(),
            stdout: failure.reply(),
        }
    }

    /// Success or failure.
    pub fn from_result<E: ActionFailure>(result: Result<Value, E>) -> Reply {
        match result {
            Ok(stdout) => Reply::success(stdout),
            Err(failure) => Reply::failure(&failure),
        }
    }
}

/// A failure with an exit code and a message, for extensions without an error type of their own.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Failure {
    pub exit_code: i32,
    pub message: String,
}

impl Failure {
    pub fn new(exit_code: i32, message: impl Into<String>) -> Failure {
        Failure {
            exit_code,
            message: message.into(),
        }
    }
}

impl ActionFailure for Failure {
    fn exit_code(&self) -> i32 {
        self.exit_code
    }
}

impl From<UsageError> for Failure {
    fn from(error: UsageError) -> Failure {
        Failure::new(exit::USAGE, error.to_string())
    }
}

impl From<PayloadError> for Failure {
    fn from(error: PayloadError) -> Failure {
        Failure::new(exit::USAGE, error_chain(&error))
    }
}

/// Parses the invocation and runs `handle` on it: the reply of one invocation without touching
/// the process (what [`main`] does, for tests).
pub fn run<E, F>(
    program: &str,
    arguments: &[String],
    deadline_variable: Option<&str>,
    handle: F,
) -> Reply
where
    E: ActionFailure + From<UsageError>,
    F: FnOnce(Invocation) -> Result<Value, E>,
{
    let result = Invocation::parse(program, arguments, deadline_variable)
        .map_err(E::from)
        .and_then(handle);
    Reply::from_result(result)
}

/// The whole `main` of an extension: parses argv and `TRELLIS_DEADLINE`, runs `handle`, prints
/// its reply and exits with its code (see [`run_main`]). `program` names the executable in
/// messages.
pub fn main<E, F>(program: &str, handle: F) -> !
where
    E: ActionFailure + From<UsageError>,
    F: FnOnce(Invocation) -> Result<Value, E>,
{
    run_main(program, |arguments, deadline_variable| {
        run(program, arguments, deadline_variable, handle)
    })
}

/// Runs `entry` with argv and the value of `TRELLIS_DEADLINE`, prints the reply on stdout and
/// exits with its exit code. A panic in `entry` prints
/// `{"status":"error","error":"internal error in <program>: …","kind":"internal"}` and exits 1;
/// stderr stays silent. When stdout cannot be written, a success becomes exit code 1.
pub fn run_main<F>(program: &str, entry: F) -> !
where
    F: FnOnce(&[String], Option<&str>) -> Reply,
{
    let arguments: Vec<String> = std::env::args().collect();
    let deadline_variable = std::env::var(ENV_DEADLINE).ok();
    let reply = catch_panics(program, || entry(&arguments, deadline_variable.as_deref()));
    std::process::exit(print_reply(&reply))
}

/// Runs `entry`; a panic becomes the error reply [`run_main`] describes.
pub fn catch_panics<F>(program: &str, entry: F) -> Reply
where
    F: FnOnce() -> Reply,
{
    // The trace would go to stderr; the reply says what happened instead.
    std::panic::set_hook(Box::new(|_| {}));
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(entry));
    // Leave later panics (in other tests of the same process, say) to the default hook.
    let _ = std::panic::take_hook();
    outcome.unwrap_or_else(|panic| {
        let detail = panic
            .downcast_ref::<&str>()
            .map(|text| text.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic".to_string());
        let mut stdout = error_reply(&format!("internal error in {program}: {detail}"));
        stdout["kind"] = "internal".into();
        Reply {
            exit_code: exit::FAILED,
            stdout,
        }
    })
}

/// Prints `reply` as one line on stdout and returns the exit code to use.
fn print_reply(reply: &Reply) -> i32 {
    let mut stdout = std::io::stdout().lock();
    let written = writeln!(stdout, "{}", reply.stdout).and_then(|()| stdout.flush());
    match written {
        Err(_) if reply.exit_code == exit::OK => exit::FAILED,
        _ => reply.exit_code,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn arguments(list: &[&str]) -> Vec<String> {
        list.iter().map(|text| text.to_string()).collect()
    }

    #[test]
    fn missing_arguments_are_usage_errors() {
        for list in [&["ext"][..], &["ext", "status"][..]] {
            let reply = run(
                "ext",
                &arguments(list),
                None,
                |_| -> Result<Value, Failure> { unreachable!("not called") },
            );
            assert_eq!(reply.exit_code, exit::USAGE);
            assert_eq!(
                reply.stdout,
                json!({"status": "error", "error": "usage: ext <action> <payload.json> <timeout-seconds>"})
            );
        }
    }

    #[test]
    fn payload_errors_name_the_file() {
        let directory = tempfile::tempdir().unwrap();
        let missing = directory.path().join("missing.json");
        let broken = directory.path().join("broken.json");
        std::fs::write(&broken, "{not json").unwrap();
        let good = directory.path().join("good.json");
        std::fs::write(&good, r#"{"virtualmachinename": "i-2-10-VM"}"#).unwrap();
        let read = |path: &std::path::Path| {
            run(
                "ext",
                &arguments(&["ext", "status", path.to_str().unwrap(), "10"]),
                None,
                |invocation| {
                    let payload = invocation.read_payload()?;
                    Ok::<_, Failure>(json!({"name": payload.virtualmachinename}))
                },
            )
        };
        let unreadable = read(&missing);
        assert_eq!(unreadable.exit_code, exit::USAGE);
        let message = unreadable.stdout["error"].as_str().unwrap();
        assert!(
            message.starts_with("cannot read the payload file "),
            "{message}"
        );
        assert!(message.contains("missing.json: "), "{message}");
        let invalid = read(&broken);
        assert_eq!(invalid.exit_code, exit::USAGE);
        assert!(invalid.stdout["error"]
            .as_str()
            .unwrap()
            .contains("broken.json is not a valid payload: "));
        assert_eq!(read(&good), Reply::success(json!({"name": "i-2-10-VM"})));
    }

    #[test]
    fn the_invocation_carries_the_deadline() {
        let invocation =
            Invocation::parse("ext", &arguments(&["ext", "start", "/p.json", "10"]), None).unwrap();
        assert_eq!(invocation.action, "start");
        assert_eq!(invocation.timeout_argument.as_deref(), Some("10"));
        let remaining = invocation.deadline().remaining();
        assert!(remaining <= Duration::from_secs(9) && remaining > Duration::from_secs(8));
        let bare =
            Invocation::parse("ext", &arguments(&["ext", "start", "/p.json"]), None).unwrap();
        assert!(
            bare.deadline_or(Duration::from_secs(1800)).remaining() > Duration::from_secs(1700)
        );
    }

    #[test]
    fn panics_become_error_replies() {
        let reply = catch_panics("ext", || panic!("boom {}", 7));
        assert_eq!(reply.exit_code, exit::FAILED);
        assert_eq!(
            reply.stdout,
            json!({"status": "error", "error": "internal error in ext: boom 7", "kind": "internal"})
        );
        let fine = catch_panics("ext", || Reply::success(json!({})));
        assert_eq!(fine, Reply::success(json!({})));
    }

    #[test]
    fn causes_are_chained_once() {
        let error = PayloadError::Unreadable {
            path: "/p.json".into(),
            source: std::io::Error::other("gone"),
        };
        assert_eq!(
            error_chain(&error),
            "cannot read the payload file /p.json: gone"
        );
    }
}
