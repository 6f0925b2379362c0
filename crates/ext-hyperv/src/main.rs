//! `trellis-hyperv`: the built-in Hyper-V extension.
//!
//! Invoked as `trellis-hyperv <action> <payload.json> <timeout-seconds>`, it drives a Hyper-V
//! host through PowerShell over WinRM (HTTPS, NTLM) and prints exactly one JSON document on
//! stdout: the reply on success, `{"status":"error","error":…}` on failure. The exit code says
//! how it went (see `trellis_ext_protocol::exit`); stderr stays silent. See
//! `docs/extensions/hyperv.md`.

mod actions;
mod powershell;
mod settings;

use std::io::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::time::Instant;
use trellis_ext_protocol::{argv, error_reply, exit, Payload, ENV_DEADLINE};

/// Used when the timeout argument is missing or zero.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);

/// Kept back from the timeout argument so the reply is printed before the caller gives up.
const TIMEOUT_MARGIN: Duration = Duration::from_secs(3);

/// The WS-Management operation timeout (the longest single Receive long poll).
const OPERATION_TIMEOUT: Duration = Duration::from_secs(20);

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (code, reply) = match invoke(&args) {
        Ok(reply) => (exit::OK, reply),
        Err(failure) => (failure.code, error_reply(&failure.message)),
    };
    let mut stdout = std::io::stdout().lock();
    // Nothing sensible is left to do when stdout is gone.
    let _ = writeln!(stdout, "{reply}");
    let _ = stdout.flush();
    std::process::exit(code);
}

fn invoke(args: &[String]) -> Result<serde_json::Value, actions::Failure> {
    let usage = |message: String| actions::Failure {
        code: exit::USAGE,
        message,
    };
    let (Some(action), Some(payload_path)) = (args.get(argv::ACTION), args.get(argv::PAYLOAD))
    else {
        return Err(usage(
            "usage: trellis-hyperv <action> <payload.json> [timeout-seconds]".to_string(),
        ));
    };
    let text = std::fs::read_to_string(payload_path)
        .map_err(|e| usage(format!("cannot read the payload file {payload_path}: {e}")))?;
    let payload: Payload = serde_json::from_str(&text)
        .map_err(|e| usage(format!("the payload is not valid json: {e}")))?;
    let deadline = deadline(
        args.get(argv::TIMEOUT).map(String::as_str),
        std::env::var(ENV_DEADLINE).ok().as_deref(),
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| actions::Failure {
            code: exit::FAILED,
            message: format!("cannot start the async runtime: {e}"),
        })?;
    runtime.block_on(actions::run(
        action,
        &payload,
        Some(deadline),
        OPERATION_TIMEOUT,
    ))
}

/// The earlier of `timeout` seconds from now (less a margin) and the caller's deadline (Unix
/// seconds in `TRELLIS_DEADLINE`).
fn deadline(timeout: Option<&str>, env_deadline: Option<&str>) -> Instant {
    let now = Instant::now();
    let timeout = timeout
        .and_then(|t| t.trim().parse::<u64>().ok())
        .filter(|t| *t > 0)
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_TIMEOUT);
    let by_timeout = now
        + timeout
            .saturating_sub(TIMEOUT_MARGIN)
            .max(Duration::from_secs(1));
    let by_env = env_deadline
        .and_then(|d| d.trim().parse::<u64>().ok())
        .map(|epoch| {
            let now_epoch = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs();
            now + Duration::from_secs(epoch.saturating_sub(now_epoch))
        });
    match by_env {
        Some(env) => by_timeout.min(env),
        None => by_timeout,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_take_the_earlier_limit() {
        let now = Instant::now();
        let d = deadline(Some("60"), None);
        assert!(d >= now + Duration::from_secs(56) && d <= now + Duration::from_secs(58));
        let d = deadline(Some("0"), None);
        assert!(d > now + Duration::from_secs(590));
        let soon = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 10;
        let d = deadline(Some("600"), Some(&soon.to_string()));
        assert!(d <= now + Duration::from_secs(11));
    }
}
