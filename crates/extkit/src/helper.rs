//! Long-lived helpers: processes an extension starts on purpose to outlive the run (a QEMU
//! daemon, say).
//!
//! Trellis contains every run: when the run ends, every process it started is killed, wherever
//! it moved (`setsid`, double forks). A helper survives only when the extension launches it
//! outside the run:
//!
//! 1. [`outside_the_run`] on the command before it is spawned (drops [`ENV_RUN_ID`], which the
//!    subreaper fallback uses to find a run's processes);
//! 2. [`detach`] with the helper's final pid once it runs (under cgroup v2 it moves the helper to
//!    the helpers' cgroup named by [`ENV_HELPER_CGROUP`]; elsewhere it does nothing).

use std::process::Command;

pub use trellis_ext_protocol::{ENV_HELPER_CGROUP, ENV_RUN_ID};

/// Make `command` start its process outside the run's bookkeeping.
pub fn outside_the_run(command: &mut Command) -> &mut Command {
    command.env_remove(ENV_RUN_ID)
}

/// Take the running helper `pid` (and the threads of its process) out of the run's container.
/// Does nothing when the run is not in a cgroup (the environment says so).
pub fn detach(pid: u32) -> std::io::Result<()> {
    match std::env::var_os(ENV_HELPER_CGROUP) {
        Some(procs) if !procs.is_empty() => std::fs::write(procs, pid.to_string()),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outside_the_run_drops_the_run_id() {
        let mut command = Command::new("true");
        command.env(ENV_RUN_ID, "1.2");
        outside_the_run(&mut command);
        let run_id = command
            .get_envs()
            .find(|(name, _)| *name == ENV_RUN_ID)
            .map(|(_, value)| value);
        assert_eq!(run_id, Some(None), "removed, not inherited");
    }
}
