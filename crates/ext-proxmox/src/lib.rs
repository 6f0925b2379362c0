//! The built-in Proxmox VE extension of Trellis.
//!
//! Invoked as `trellis-proxmox <action> <payload.json> <timeout-seconds>` (the Apache CloudStack
//! extension contract, see `trellis-ext-protocol`), it talks to the Proxmox VE API with an API
//! token and prints exactly one JSON document on stdout; the exit code says whether the action
//! succeeded (see [`trellis_ext_protocol::exit`]). Nothing is written to stderr.
//!
//! Actions: `prepare`, `create`, `start`, `stop`, `reboot`, `delete`, `status`, `statuses`,
//! `getconsole`, and the custom actions `ListSnapshots`, `CreateSnapshot`, `RestoreSnapshot`,
//! `DeleteSnapshot` (names matched case-insensitively). `docs/extensions/proxmox.md` describes
//! the details it reads and what each action does.

pub mod actions;
pub mod client;
pub mod deadline;
pub mod error;
pub mod settings;

use deadline::Deadline;
use error::ActionError;
use trellis_ext_protocol::{argv, exit, Payload};

/// What to print and how to exit.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub exit_code: i32,
    pub stdout: serde_json::Value,
}

/// Runs one invocation: `arguments` as in `std::env::args()`, `deadline_variable` the value of
/// `TRELLIS_DEADLINE` if set.
pub fn run(arguments: &[String], deadline_variable: Option<&str>) -> Reply {
    match invoke(arguments, deadline_variable) {
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

fn invoke(
    arguments: &[String],
    deadline_variable: Option<&str>,
) -> Result<serde_json::Value, ActionError> {
    let (Some(action_name), Some(payload_path)) =
        (arguments.get(argv::ACTION), arguments.get(argv::PAYLOAD))
    else {
        return Err(ActionError::Usage(
            "usage: trellis-proxmox <action> <payload.json> <timeout-seconds>".into(),
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
    actions::perform(action, &payload, deadline)
}
