//! The built-in Local extension of Trellis: instances as QEMU virtual machines on the machine
//! the management server runs on.
//!
//! Invoked as `trellis-local <action> <payload.json> <timeout-seconds>` (the Apache CloudStack
//! extension contract, see `trellis-ext-protocol`), it prints exactly one JSON document on stdout;
//! the exit code says whether the action succeeded (see [`trellis_ext_protocol::exit`]).
//!
//! Each VM is a daemonized `qemu-system-x86_64` with a qcow2 disk, QMP monitors and a pidfile in
//! its own directory under the state directory ([`machine`]), so VMs outlive the extension
//! process and a restart of the management server. KVM is used when a probe shows it works,
//! else TCG ([`accel`]).
//!
//! Actions: `prepare`, `create`, `start`, `stop`, `reboot`, `delete`, `status`, `statuses`,
//! `getconsole`, and the custom actions `ListSnapshots`, `CreateSnapshot`, `RestoreSnapshot`,
//! `DeleteSnapshot` (names matched case-insensitively). `docs/extensions/local.md` describes the
//! details it reads and what each action does.

pub mod accel;
pub mod actions;
pub mod deadline;
pub mod error;
pub mod image;
pub mod machine;
pub mod qmp;
pub mod settings;

use deadline::Deadline;
use error::ActionError;
use settings::{Environment, Settings};
use trellis_ext_protocol::{argv, exit, Payload, ENV_DEADLINE};

/// What to print and how to exit.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub exit_code: i32,
    pub stdout: serde_json::Value,
}

/// Runs one invocation: `arguments` as in `std::env::args()`, `deadline_variable` the value of
/// `TRELLIS_DEADLINE` if set.
pub fn run(
    arguments: &[String],
    deadline_variable: Option<&str>,
    environment: &Environment,
) -> Reply {
    match invoke(arguments, deadline_variable, environment) {
        Ok(stdout) => Reply {
            exit_code: exit::OK,
            stdout,
        },
        Err(error) => Reply {
            exit_code: error.exit_code(),
            stdout: error.reply(),
        },
    }
}

/// The value of `TRELLIS_DEADLINE` in this process.
pub fn deadline_variable() -> Option<String> {
    std::env::var(ENV_DEADLINE).ok()
}

fn invoke(
    arguments: &[String],
    deadline_variable: Option<&str>,
    environment: &Environment,
) -> Result<serde_json::Value, ActionError> {
    let (Some(action_name), Some(payload_path)) =
        (arguments.get(argv::ACTION), arguments.get(argv::PAYLOAD))
    else {
        return Err(ActionError::Usage(
            "usage: trellis-local <action> <payload.json> <timeout-seconds>".into(),
        ));
    };
    let action = actions::parse_action(action_name)?;
    let deadline = Deadline::from_invocation(
        arguments.get(argv::TIMEOUT).map(String::as_str),
        deadline_variable,
    );
    let text =
        std::fs::read_to_string(payload_path).map_err(|source| ActionError::PayloadUnreadable {
            path: payload_path.clone(),
            source,
        })?;
    let payload: Payload =
        serde_json::from_str(&text).map_err(|source| ActionError::PayloadInvalid {
            path: payload_path.clone(),
            source,
        })?;
    let settings = Settings::new(payload.details(), environment);
    actions::perform(action, &payload, &settings, deadline)
}
