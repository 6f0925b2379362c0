//! Runs extension executables: the only code in Trellis that starts processes.
//!
//! An action runs as `<exe> <action> <payload.json> <timeout-seconds>`:
//!
//! - the executable is checked first (exists, regular file, executable), nothing is written or
//!   started when it is not usable;
//! - the run waits for a slot per host, per extension and globally (in that order);
//! - the payload is written to a 0600 file in a 0700 per-extension directory and removed when the
//!   run ends, however it ends;
//! - the process starts directly (no shell) with a cleared environment plus an allowlist and
//!   `TRELLIS_DEADLINE`, stdin closed, in the executable's directory, in its own process group;
//! - stdout and stderr are read concurrently: stdout is kept up to a cap, stderr is logged line by
//!   line (target `trellis::extension`) and its tail kept, never parsed;
//! - the extension is told the configured timeout unchanged (argv\[3\] and `TRELLIS_DEADLINE`,
//!   as upstream); a grace period after it (at most a quarter of it) the whole group gets SIGTERM,
//!   then SIGKILL after the kill grace; when the extension exits, whatever is left of its group
//!   is killed;
//! - each run lives in a container of its own that its descendants cannot leave (a cgroup v2, or
//!   the subreaper sweep where none can be written; see [`ContainmentMode`]): everything in it is
//!   killed when the run ends, and the extension gets SIGKILL if the server dies.
//!
//! The [`check`] module drives an executable through every standard action and reports whether
//! Trellis can use its replies.

pub mod check;
mod config;
mod contain;
mod error;
mod executable;
mod metrics;
mod output;
mod payload;
mod runner;

pub use config::{RunnerConfig, DEFAULT_ENV_ALLOWLIST};
pub use contain::{ContainmentMode, HELPER_CGROUP_ENV, RUN_ID_ENV};
pub use error::{bounded, bounded_to, RunError, RunnerInitError, OUTPUT_IN_DETAILS};
pub use executable::{inspect_executable, ExecutableState};
pub use output::{Secrets, MASK};
pub use runner::{Invocation, RunOutput, Runner, Slot};
