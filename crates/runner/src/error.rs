//! Errors of the runner: creating it ([`RunnerInitError`]) and running an action ([`RunError`]).

use std::io;
use std::path::PathBuf;
use std::time::Duration;

/// Creating a [`crate::Runner`] failed.
#[derive(Debug, thiserror::Error)]
pub enum RunnerInitError {
    #[error("failed to create payload directory {}", .path.display())]
    CreatePayloadDir {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("failed to restrict permissions of payload directory {}", .path.display())]
    RestrictPayloadDir {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("payload directory {} is not a directory", .path.display())]
    PayloadDirNotDirectory { path: PathBuf },
    #[error("payload directory {} is owned by uid {owner}, not by this process", .path.display())]
    PayloadDirNotOwned { path: PathBuf, owner: u32 },
    #[error("runner limit {name} must be at least 1")]
    InvalidLimit { name: &'static str },
    #[error("cannot contain extension runs (cgroup v2 or subreaper)")]
    Containment {
        #[source]
        source: io::Error,
    },
}

/// Running an extension action failed.
///
/// `Display` describes this layer only; [`RunError::details`] is the text shown to CloudStack
/// clients.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Pre-flight check: the path is missing, not a regular file, or not executable. Nothing was
    /// written and nothing was started.
    #[error("extension executable {} is not usable: {reason}", .path.display())]
    NotExecutable { path: PathBuf, reason: String },
    /// The process could not be started, or waiting for it failed.
    #[error("failed to run extension executable {}", .path.display())]
    Spawn {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The run's container (cgroup) could not be made; nothing was started.
    #[error("failed to make the run's container")]
    Contain {
        #[source]
        source: io::Error,
    },
    /// The payload file could not be written.
    #[error("failed to write payload file {}", .path.display())]
    Payload {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The timeout passed; the process group was sent SIGTERM, then SIGKILL after the grace period.
    #[error("extension timed out after {}", format_duration(*.after))]
    TimedOut {
        after: Duration,
        stdout: String,
        stderr_tail: String,
    },
    /// The process died from a signal it was not sent because of a timeout.
    #[error("extension was killed by signal {signal}")]
    Killed {
        signal: i32,
        stdout: String,
        stderr_tail: String,
    },
    /// The process exited with a non-zero code.
    #[error("extension exited with code {code}")]
    Exited {
        code: i32,
        stdout: String,
        stderr_tail: String,
    },
    /// The process exited 0 but its output cannot be used (for example stdout is not UTF-8).
    #[error("extension produced unusable output: {reason}")]
    BadOutput { reason: String, stderr_tail: String },
}

impl RunError {
    /// The failure text CloudStack shows for this outcome, e.g. `Exit code: 1, Output: {...}` or
    /// `Timeout` (the texts upstream uses). The output is the trimmed stdout, or the trimmed stderr
    /// tail when stdout is empty.
    pub fn details(&self) -> String {
        match self {
            RunError::NotExecutable { reason, .. } => format!("File is not executable: {reason}"),
            RunError::Spawn { .. } | RunError::Payload { .. } | RunError::Contain { .. } => {
                "External operation failed".to_owned()
            }
            RunError::TimedOut {
                stdout,
                stderr_tail,
                ..
            } => {
                // What the extension printed before it was stopped helps more than the word.
                let partial = output_text(stdout, stderr_tail);
                if partial.is_empty() {
                    "Timeout".to_owned()
                } else {
                    format!("Timeout, Output: {}", bounded(partial))
                }
            }
            RunError::Killed {
                signal,
                stdout,
                stderr_tail,
            } => {
                let name = nix::sys::signal::Signal::try_from(*signal)
                    .map(|s| s.as_str())
                    .unwrap_or("unknown signal");
                format!(
                    "Killed by signal {signal} ({name}), Output: {}",
                    bounded(output_text(stdout, stderr_tail))
                )
            }
            RunError::Exited {
                code,
                stdout,
                stderr_tail,
            } => {
                format!(
                    "Exit code: {code}, Output: {}",
                    bounded(output_text(stdout, stderr_tail))
                )
            }
            RunError::BadOutput { reason, .. } => format!("Bad output: {reason}"),
        }
    }

    /// The stderr tail captured before the failure, when the process ran.
    pub fn stderr_tail(&self) -> Option<&str> {
        match self {
            RunError::TimedOut { stderr_tail, .. }
            | RunError::Killed { stderr_tail, .. }
            | RunError::Exited { stderr_tail, .. }
            | RunError::BadOutput { stderr_tail, .. } => Some(stderr_tail),
            RunError::NotExecutable { .. }
            | RunError::Spawn { .. }
            | RunError::Payload { .. }
            | RunError::Contain { .. } => None,
        }
    }

    /// Rewrite the captured output (stdout and stderr tail) in place, e.g. to remove secrets
    /// before the failure is shown to a user. The reason of `BadOutput` is ours and kept.
    pub fn redact_output(&mut self, redact: impl Fn(&str) -> String) {
        match self {
            RunError::TimedOut {
                stdout,
                stderr_tail,
                ..
            }
            | RunError::Killed {
                stdout,
                stderr_tail,
                ..
            }
            | RunError::Exited {
                stdout,
                stderr_tail,
                ..
            } => {
                *stdout = redact(stdout);
                *stderr_tail = redact(stderr_tail);
            }
            RunError::BadOutput { stderr_tail, .. } => *stderr_tail = redact(stderr_tail),
            RunError::NotExecutable { .. }
            | RunError::Spawn { .. }
            | RunError::Payload { .. }
            | RunError::Contain { .. } => {}
        }
    }

    /// The stdout captured before the failure, when there is any.
    pub fn stdout(&self) -> Option<&str> {
        match self {
            RunError::TimedOut { stdout, .. }
            | RunError::Killed { stdout, .. }
            | RunError::Exited { stdout, .. } => Some(stdout),
            _ => None,
        }
    }
}

fn output_text<'a>(stdout: &'a str, stderr_tail: &'a str) -> &'a str {
    let stdout = stdout.trim();
    if stdout.is_empty() {
        stderr_tail.trim()
    } else {
        stdout
    }
}

/// Most bytes of extension output a failure text carries; job results and error texts are read
/// by every poll, so a flood is cut here with a marker that tells the full size.
pub const OUTPUT_IN_DETAILS: usize = 4096;

/// `text` cut to [`OUTPUT_IN_DETAILS`] bytes (at a character boundary) with a visible marker.
pub fn bounded(text: &str) -> std::borrow::Cow<'_, str> {
    bounded_to(text, OUTPUT_IN_DETAILS)
}

/// `text` cut to `limit` bytes (at a character boundary) with a visible marker.
pub fn bounded_to(text: &str, limit: usize) -> std::borrow::Cow<'_, str> {
    if text.len() <= limit {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut cut = limit;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    std::borrow::Cow::Owned(format!(
        "{}… [truncated: {} of {} bytes shown]",
        &text[..cut],
        cut,
        text.len()
    ))
}

pub(crate) fn format_duration(duration: Duration) -> String {
    if duration.subsec_millis() == 0 {
        format!("{}s", duration.as_secs())
    } else {
        format!("{:.3}s", duration.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn details_follow_upstream_texts() {
        let exited = RunError::Exited {
            code: 3,
            stdout: " {\"error\":\"x\"}\n".into(),
            stderr_tail: "noise".into(),
        };
        assert_eq!(exited.details(), "Exit code: 3, Output: {\"error\":\"x\"}");
        assert_eq!(exited.to_string(), "extension exited with code 3");
        let quiet = RunError::Exited {
            code: 1,
            stdout: String::new(),
            stderr_tail: "boom\n".into(),
        };
        assert_eq!(quiet.details(), "Exit code: 1, Output: boom");
        let timed_out = RunError::TimedOut {
            after: Duration::from_secs(30),
            stdout: String::new(),
            stderr_tail: String::new(),
        };
        assert_eq!(timed_out.details(), "Timeout");
        let partial = RunError::TimedOut {
            after: Duration::from_secs(30),
            stdout: "half a reply".into(),
            stderr_tail: String::new(),
        };
        assert_eq!(partial.details(), "Timeout, Output: half a reply");
        let flood = RunError::Exited {
            code: 1,
            stdout: "é".repeat(10_000),
            stderr_tail: String::new(),
        };
        let details = flood.details();
        assert!(details.len() < OUTPUT_IN_DETAILS + 100, "{}", details.len());
        assert!(
            details.ends_with("[truncated: 4096 of 20000 bytes shown]"),
            "{details}"
        );
        assert_eq!(timed_out.to_string(), "extension timed out after 30s");
        let killed = RunError::Killed {
            signal: 9,
            stdout: String::new(),
            stderr_tail: String::new(),
        };
        assert_eq!(killed.details(), "Killed by signal 9 (SIGKILL), Output: ");
    }
}
