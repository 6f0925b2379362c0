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
pub mod config;
pub mod error;

use actions::Context;
use client::MaasClient;
use config::{ApiKey, Deadline};
use error::ActionError;
use serde_json::Value;
use trellis_ext_protocol::{action, argv, exit, Payload};

/// What the process prints and how it exits.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub exit_code: i32,
    pub stdout: Value,
}

/// Run one invocation. `args` is the full argv; `env_deadline` the value of
/// [`trellis_ext_protocol::ENV_DEADLINE`], if set.
pub fn run(args: &[String], env_deadline: Option<&str>) -> Reply {
    match run_action(args, env_deadline) {
        Ok(stdout) => Reply {
            exit_code: exit::OK,
            stdout,
        },
        Err(error) => Reply {
            exit_code: error.exit_code(),
            stdout: error.reply(),
        },
    }
}

fn run_action(args: &[String], env_deadline: Option<&str>) -> Result<Value, ActionError> {
    let (Some(action_name), Some(payload_path)) = (args.get(argv::ACTION), args.get(argv::PAYLOAD))
    else {
        return Err(ActionError::Usage);
    };
    let timeout_secs = match args.get(argv::TIMEOUT).map(|t| t.trim()) {
        None | Some("") => 0,
        Some(text) => text.parse::<u64>().map_err(|_| ActionError::BadTimeout {
            given: text.to_string(),
        })?,
    };
    let deadline = Deadline::new(timeout_secs, env_deadline);
    let action_name = action_name.to_ascii_lowercase();
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
    let payload = read_payload(payload_path)?;
    let context = connect(&payload, deadline)?;
    handler(&context)
}

fn read_payload(path: &str) -> Result<Payload, ActionError> {
    let text = std::fs::read_to_string(path).map_err(|source| ActionError::ReadPayload {
        path: path.to_string(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|source| ActionError::ParsePayload {
        path: path.to_string(),
        source,
    })
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
