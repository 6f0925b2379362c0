//! The built-in Proxmox VE extension of Trellis.
//!
//! Invoked as `trellis-proxmox <action> <payload.json> <timeout-seconds>` (the Apache CloudStack
//! extension contract, see `trellis-ext-protocol`), it talks to the Proxmox VE API with an API
//! token and prints exactly one JSON document on stdout; the exit code says whether the action
//! succeeded (see [`trellis_ext_protocol::exit`]). Nothing is written to stderr but warnings
//! about inputs that could not be delivered (user data, see [`actions::cloudinit`]).
//!
//! Actions: `prepare`, `create`, `start`, `stop`, `reboot`, `delete`, `status`, `statuses`,
//! `getconsole`, `createtemplate` (a Trellis addition), and the custom actions `ListSnapshots`, `CreateSnapshot`, `RestoreSnapshot`,
//! `DeleteSnapshot` (names matched case-insensitively). `docs/extensions/proxmox.md` describes
//! the details it reads and what each action does.

pub mod actions;
pub mod client;
pub mod error;
pub mod settings;

/// The deadline policy shared by the built-in extensions.
pub use trellis_extkit::deadline;
pub use trellis_extkit::Reply;

/// The executable's name, in usage and internal-error messages.
pub const PROGRAM: &str = "trellis-proxmox";

/// Runs one invocation: `arguments` as in `std::env::args()`, `deadline_variable` the value of
/// `TRELLIS_DEADLINE` if set.
pub fn run(arguments: &[String], deadline_variable: Option<&str>) -> Reply {
    trellis_extkit::run(
        PROGRAM,
        arguments,
        deadline_variable,
        |invocation| -> Result<serde_json::Value, error::ActionError> {
            let action = actions::parse_action(&invocation.action)?;
            let deadline = invocation.deadline();
            let payload = invocation.read_payload()?;
            actions::perform(action, &payload, deadline)
        },
    )
}
