//! The built-in Canonical MAAS extension: bare-metal machines managed by MAAS become Trellis
//! instances.
//!
//! Invoked as `trellis-maas <action> <payload.json> <timeout-seconds>`, it talks to the MAAS 2.0
//! API (OAuth 1.0 PLAINTEXT), prints exactly one JSON document on stdout and exits with a code
//! from [`trellis_ext_protocol::exit`]. Nothing is written to stderr.
//!
//! Actions: `prepare` (allocate a Ready machine and return a merge patch with its MACs and
//! identity), `create` (deploy it and wait for Deployed), `start`, `stop`, `reboot` (a power
//! cycle), `delete` (release), `status`, `statuses`; `getconsole` is reported as unsupported.
//! See `docs/extensions/maas.md`.

pub mod actions;
pub mod client;
pub mod cloud_init;
pub mod config;
pub mod error;

use actions::Context;
use client::MaasClient;
use config::{ApiKey, Deadline};
use error::ActionError;
use serde_json::Value;
use trellis_ext_protocol::{action, Payload};
use trellis_extkit::Invocation;

pub use trellis_extkit::Reply;

/// The executable's name, in usage and internal-error messages.
pub const PROGRAM: &str = "trellis-maas";

/// Run one invocation. `args` is the full argv; `env_deadline` the value of
/// [`trellis_ext_protocol::ENV_DEADLINE`], if set.
pub fn run(args: &[String], env_deadline: Option<&str>) -> Reply {
    trellis_extkit::run(PROGRAM, args, env_deadline, run_action)
}

fn run_action(invocation: Invocation) -> Result<Value, ActionError> {
    // The timeout argument must be a whole number of seconds when given.
    match invocation.timeout_argument.as_deref().map(str::trim) {
        None | Some("") => {}
        Some(text) => {
            text.parse::<u64>().map_err(|_| ActionError::BadTimeout {
                given: text.to_string(),
            })?;
        }
    }
    let deadline = invocation.deadline_or(config::DEFAULT_TIMEOUT);
    let action_name = invocation.action.to_ascii_lowercase();
    let handler: fn(&Context<'_>) -> Result<Value, ActionError> = match action_name.as_str() {
        action::PREPARE => actions::prepare,
        action::CREATE => actions::create,
        action::START => actions::start,
        action::STOP => actions::stop,
        action::REBOOT => actions::reboot,
        action::DELETE => actions::delete,
        action::STATUS => actions::status,
        action::STATUSES => actions::statuses,
        action::GETCONSOLE => {
            return Err(ActionError::Unsupported {
                action: action_name,
            })
        }
        _ => {
            return Err(ActionError::UnknownAction {
                action: action_name,
            })
        }
    };
    let payload = invocation.read_payload()?;
    let context = connect(&payload, deadline)?;
    handler(&context)
}

fn connect(payload: &Payload, deadline: Deadline) -> Result<Context<'_>, ActionError> {
    let details = payload.details();
    let endpoint = details
        .host_or_extension("endpoint")
        .ok_or(ActionError::MissingDetail { key: "endpoint" })?;
    let base = config::maas_base_url(endpoint).map_err(|error| ActionError::InvalidDetail {
        key: "endpoint",
        reason: error.to_string(),
    })?;
    let apikey = details
        .host_or_extension("apikey")
        .ok_or(ActionError::MissingDetail { key: "apikey" })?;
    let key = ApiKey::parse(apikey).map_err(|error| ActionError::InvalidDetail {
        key: "apikey",
        reason: error.to_string(),
    })?;
    let verify_tls = !details
        .host_or_extension("verify_tls_certificate")
        .is_some_and(|value| value.eq_ignore_ascii_case("false"));
    let poll_interval =
        config::poll_interval(details.host_or_extension("poll_interval")).map_err(|reason| {
            ActionError::InvalidDetail {
                key: "poll_interval",
                reason,
            }
        })?;
    let client = MaasClient::new(&base, key, verify_tls, deadline)?;
    Ok(Context {
        payload,
        details,
        client,
        base_url: base.as_str().trim_end_matches('/').to_string(),
        poll_interval,
    })
}
