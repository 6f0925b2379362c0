//! Shared plumbing for the Trellis simulators.
//!
//! The simulators use it so they behave alike: the Proxmox VE and MAAS simulators are served by
//! [`serve`] and take their transport-level fault knobs from [`Faults`]; the Hyper-V (WinRM)
//! simulator keeps its own per-connection NTLM listener but gets its certificates from [`tls`].
//!
//! * [`serve`] runs an axum [`Router`](axum::Router) over plain HTTP or over HTTPS with a freshly
//!   generated self-signed certificate (SANs `localhost` and `127.0.0.1`), and returns a
//!   [`ServerHandle`] that knows its address and shuts the server down.
//! * [`Faults`] holds fault knobs (fail the next N operations, slow responses, unresponsive
//!   server) that a simulator consults, plus [`with_faults`] which applies the transport-level
//!   ones to every request.
//! * [`tls`] makes throw-away TLS material: self-signed, or signed by a throw-away CA (the
//!   WinRM simulator, which drives its own per-connection NTLM listener, uses the latter).
//! * [`wait_for`] polls a condition instead of sleeping blindly, for tests.
//!
//! This crate depends on none of the server crates.

mod faults;
mod server;
pub mod tls;

pub use faults::{fault_middleware, with_faults, Faults, InjectedResponse};
pub use server::{serve, serve_listener, ServerHandle};

use std::time::Duration;

/// Polls `check` every few milliseconds until it returns `Some`, or gives up after `timeout`.
pub async fn wait_for<T>(timeout: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let give_up_at = tokio::time::Instant::now() + timeout;
    let mut interval = Duration::from_millis(2);
    loop {
        if let Some(value) = check() {
            return Some(value);
        }
        if tokio::time::Instant::now() >= give_up_at {
            return None;
        }
        tokio::time::sleep(interval).await;
        interval = (interval * 2).min(Duration::from_millis(50));
    }
}
