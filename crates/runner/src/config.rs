//! Runner configuration and the deadline arithmetic that depends on it.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// Environment variables copied from the server's environment by default.
pub const DEFAULT_ENV_ALLOWLIST: [&str; 8] = [
    "PATH",
    "HOME",
    "LANG",
    "LC_ALL",
    "TZ",
    "TMPDIR",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
];

/// How the runner starts and supervises extension processes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunnerConfig {
    /// Private directory for payload files. Created with mode 0700, and set back to 0700 when it
    /// already exists. It should live on tmpfs so that secrets never reach a persistent disk.
    pub payload_dir: PathBuf,
    /// Runs in flight across all extensions.
    pub max_concurrent: usize,
    /// Runs in flight per extension.
    pub max_per_extension: usize,
    /// Runs in flight per host (invocations that name a host).
    pub max_per_host: usize,
    /// Bytes of stdout kept; the rest is read and discarded, and the output is marked truncated.
    pub stdout_cap: usize,
    /// Bytes of the end of stderr kept for error reports.
    pub stderr_cap: usize,
    /// Bytes of stderr logged per run; the rest is counted and summarised in one line.
    pub stderr_log_budget: usize,
    /// Time between SIGTERM and SIGKILL to the process group once the timeout has passed.
    pub kill_grace: Duration,
    /// Time the extension is given after the deadline it is told (argv\[3\], which is the
    /// configured timeout unchanged as upstream, and `TRELLIS_DEADLINE`) before the SIGTERM;
    /// never more than a quarter of the timeout.
    pub deadline_grace: Duration,
    /// Environment variables copied from the server's environment (read once, when the runner is
    /// created); everything else is cleared.
    pub env_allowlist: Vec<String>,
    /// Keep payload files after the run (debugging only: they may hold secrets).
    pub retain_payloads: bool,
    /// How runs are contained (cgroup v2 where possible, else the subreaper sweep).
    pub containment: crate::contain::ContainmentMode,
}

impl Default for RunnerConfig {
    fn default() -> Self {
        RunnerConfig {
            payload_dir: default_payload_dir(),
            max_concurrent: 64,
            max_per_extension: 32,
            max_per_host: 8,
            stdout_cap: 8 * 1024 * 1024,
            stderr_cap: 64 * 1024,
            stderr_log_budget: 256 * 1024,
            kill_grace: Duration::from_secs(5),
            deadline_grace: Duration::from_secs(3),
            env_allowlist: DEFAULT_ENV_ALLOWLIST
                .iter()
                .map(|name| (*name).to_owned())
                .collect(),
            retain_payloads: false,
            containment: crate::contain::ContainmentMode::Auto,
        }
    }
}

impl RunnerConfig {
    /// When the process group gets its SIGTERM: the timeout the extension was told plus the
    /// grace period, where the grace period is at most a quarter of the timeout.
    pub fn terminate_after(&self, timeout: Duration) -> Duration {
        timeout.saturating_add(self.deadline_grace.min(timeout / 4))
    }
}

/// A per-user directory on tmpfs when there is one: `$XDG_RUNTIME_DIR/trellis-payloads`, else
/// `/dev/shm/trellis-payloads-<uid>`, else the system temporary directory.
fn default_payload_dir() -> PathBuf {
    if let Some(runtime_dir) = std::env::var_os("XDG_RUNTIME_DIR").filter(|dir| !dir.is_empty()) {
        return PathBuf::from(runtime_dir).join("trellis-payloads");
    }
    let uid = nix::unistd::getuid();
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        return shm.join(format!("trellis-payloads-{uid}"));
    }
    std::env::temp_dir().join(format!("trellis-payloads-{uid}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grace_follows_the_timeout_and_is_capped_at_a_quarter_of_it() {
        let config = RunnerConfig::default();
        assert_eq!(
            config.terminate_after(Duration::from_secs(1800)),
            Duration::from_secs(1803)
        );
        assert_eq!(
            config.terminate_after(Duration::from_secs(8)),
            Duration::from_secs(10)
        );
        assert_eq!(
            config.terminate_after(Duration::from_secs(3)),
            Duration::from_millis(3750)
        );
        assert_eq!(config.terminate_after(Duration::ZERO), Duration::ZERO);
    }
}
