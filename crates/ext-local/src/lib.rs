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
//! `getconsole`, `createtemplate` (a Trellis addition), and the custom actions `ListSnapshots`,
//! `CreateSnapshot`, `RestoreSnapshot`, `DeleteSnapshot` (names matched case-insensitively).
//! SSH keys and user data reach the guest through a cloud-init seed disk ([`seed`]). `docs/extensions/local.md` describes the
//! details it reads and what each action does.

pub mod accel;
pub mod actions;
pub mod error;
pub mod image;
pub mod machine;
pub mod qmp;
pub mod seed;
pub mod settings;

/// The deadline policy shared by the built-in extensions.
pub use trellis_extkit::deadline;
pub use trellis_extkit::Reply;

use settings::{Environment, Settings};

/// The executable's name, in usage and internal-error messages.
pub const PROGRAM: &str = "trellis-local";

/// Runs one invocation: `arguments` as in `std::env::args()`, `deadline_variable` the value of
/// `TRELLIS_DEADLINE` if set.
pub fn run(
    arguments: &[String],
    deadline_variable: Option<&str>,
    environment: &Environment,
) -> Reply {
    trellis_extkit::run(
        PROGRAM,
        arguments,
        deadline_variable,
        |invocation| -> Result<serde_json::Value, error::ActionError> {
            let action = actions::parse_action(&invocation.action)?;
            let deadline = invocation.deadline();
            let payload = invocation.read_payload()?;
            let settings = Settings::new(payload.details(), environment);
            actions::perform(action, &payload, &settings, deadline)
        },
    )
}
