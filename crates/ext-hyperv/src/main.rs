//! `trellis-hyperv`: the built-in Hyper-V extension.
//!
//! Invoked as `trellis-hyperv <action> <payload.json> <timeout-seconds>`, it drives a Hyper-V
//! host through PowerShell over WinRM (HTTPS, NTLM) and prints exactly one JSON document on
//! stdout: the reply on success, `{"status":"error","error":…}` on failure. The exit code says
//! how it went (see `trellis_ext_protocol::exit`); stderr stays silent. argv, the payload, the
//! deadline, the reply and panics are handled by `trellis-extkit`. See
//! `docs/extensions/hyperv.md`.

mod actions;
mod powershell;
mod settings;

use std::time::Duration;
use tokio::time::Instant;
use trellis_ext_protocol::exit;
use trellis_extkit::Invocation;

/// The WS-Management operation timeout (the longest single Receive long poll).
const OPERATION_TIMEOUT: Duration = Duration::from_secs(20);

fn main() {
    trellis_extkit::main("trellis-hyperv", invoke)
}

fn invoke(invocation: Invocation) -> Result<serde_json::Value, actions::Failure> {
    let payload = invocation.read_payload()?;
    let deadline = Instant::from_std(invocation.deadline().instant());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| actions::Failure {
            code: exit::FAILED,
            message: format!("cannot start the async runtime: {e}"),
        })?;
    runtime.block_on(actions::run(
        &invocation.action,
        &payload,
        Some(deadline),
        OPERATION_TIMEOUT,
    ))
}
