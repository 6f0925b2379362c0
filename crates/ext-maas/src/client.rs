//! A small blocking MAAS 2.0 client: OAuth 1.0 PLAINTEXT signing, one request per call, every
//! request bounded by the action's deadline, MAAS's own error text kept.

use crate::config::{ApiKey, Deadline};
use crate::error::ActionError;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::cell::Cell;
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use url::Url;

/// No single request waits longer than this, even with a distant deadline.
const REQUEST_TIMEOUT_CAP: Duration = Duration::from_secs(120);

/// Longest MAAS error text kept in a reply.
const MAX_ERROR_TEXT: usize = 2000;

/// A machine as MAAS renders it (the fields the extension reads).
#[derive(Debug, Clone, Deserialize)]
pub struct Machine {
    pub system_id: String,
    #[serde(default)]
    pub hostname: String,
    #[serde(default)]
    pub status_name: String,
    #[serde(default)]
    pub status_message: Option<String>,
    #[serde(default)]
    pub power_state: String,
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default)]
    pub owner_data: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub osystem: Option<String>,
    #[serde(default)]
    pub distro_series: Option<String>,
    #[serde(default)]
    pub interface_set: Vec<Interface>,
    #[serde(default)]
    pub boot_interface: Option<Interface>,
}

/// A network interface of a machine.
#[derive(Debug, Clone, Deserialize)]
pub struct Interface {
    #[serde(default)]
    pub name: String,
    #[serde(default, rename = "type")]
    pub interface_type: Option<String>,
    #[serde(default)]
    pub mac_address: Option<String>,
}

impl Machine {
    /// Distinct MACs of the physical interfaces, boot interface first.
    pub fn macs(&self) -> Vec<String> {
        let mut macs: Vec<String> = Vec::new();
        let physical = self
            .interface_set
            .iter()
            .filter(|i| i.interface_type.as_deref().is_none_or(|t| t == "physical"));
        for interface in self.boot_interface.iter().chain(physical) {
            if let Some(mac) = interface.mac_address.as_deref().filter(|m| !m.is_empty()) {
                let mac = mac.to_ascii_lowercase();
                if !macs.contains(&mac) {
                    macs.push(mac);
                }
            }
        }
        macs
    }

    /// A value of the owner data the extension keeps on machines it reserved.
    pub fn owner_value(&self, key: &str) -> Option<&str> {
        self.owner_data
            .as_ref()
            .and_then(|data| data.get(key))
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }
}

/// The answer of `op=query_power_state`.
#[derive(Debug, Clone, Deserialize)]
pub struct PowerQuery {
    pub state: String,
}

/// Talks to one MAAS region.
pub struct MaasClient {
    http: reqwest::blocking::Client,
    api: Url,
    key: ApiKey,
    deadline: Deadline,
    requests: Cell<u64>,
}

impl MaasClient {
    /// `base` is the MAAS URL (`…/MAAS`); requests go below `base/api/2.0/`.
    pub fn new(
        base: &Url,
        key: ApiKey,
        verify_tls: bool,
        deadline: Deadline,
    ) -> Result<MaasClient, ActionError> {
        let mut api = base.clone();
        api.set_path(&format!("{}/api/2.0/", base.path().trim_end_matches('/')));
        let http = reqwest::blocking::Client::builder()
            .user_agent(concat!("trellis-maas/", env!("CARGO_PKG_VERSION")))
            .danger_accept_invalid_certs(!verify_tls)
            .connect_timeout(Duration::from_secs(15))
            .timeout(None)
            .build()
            .map_err(|source| ActionError::Unreachable {
                method: "GET",
                path: api.to_string(),
                source,
            })?;
        Ok(MaasClient {
            http,
            api,
            key,
            deadline,
            requests: Cell::new(0),
        })
    }

    pub fn deadline(&self) -> Deadline {
        self.deadline
    }

    /// `GET machines/`.
    pub fn machines(&self) -> Result<Vec<Machine>, ActionError> {
        self.get("machines/", &[])
    }

    /// `GET machines/{id}/`.
    pub fn machine(&self, system_id: &str) -> Result<Machine, ActionError> {
        self.get(&machine_path(system_id), &[])
    }

    /// `GET machines/?hostname=…`.
    pub fn machines_named(&self, hostname: &str) -> Result<Vec<Machine>, ActionError> {
        self.get("machines/", &[("hostname", hostname)])
    }

    /// `GET machines/?agent_name=…`.
    pub fn machines_of_agent(&self, agent_name: &str) -> Result<Vec<Machine>, ActionError> {
        self.get("machines/", &[("agent_name", agent_name)])
    }

    /// `GET machines/{id}/?op=query_power_state`.
    pub fn query_power_state(&self, system_id: &str) -> Result<String, ActionError> {
        let answer: PowerQuery =
            self.get(&machine_path(system_id), &[("op", "query_power_state")])?;
        Ok(answer.state)
    }

    /// `POST machines/?op=allocate`.
    pub fn allocate(&self, constraints: &[(String, String)]) -> Result<Machine, ActionError> {
        self.post("machines/", "allocate", constraints)
    }

    /// `POST machines/{id}/?op=<op>` returning the machine.
    pub fn machine_op(
        &self,
        system_id: &str,
        op: &str,
        form: &[(String, String)],
    ) -> Result<Machine, ActionError> {
        self.post(&machine_path(system_id), op, form)
    }

    fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<T, ActionError> {
        let mut url = self.url(path)?;
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        let request = self.http.get(url);
        self.send(
            "GET",
            path,
            query.iter().find(|(k, _)| *k == "op").map(|(_, v)| *v),
            request,
        )
    }

    fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        op: &str,
        form: &[(String, String)],
    ) -> Result<T, ActionError> {
        let mut url = self.url(path)?;
        url.query_pairs_mut().append_pair("op", op);
        let request = self.http.post(url).form(form);
        self.send("POST", path, Some(op), request)
    }

    fn url(&self, path: &str) -> Result<Url, ActionError> {
        self.api.join(path).map_err(|_| ActionError::InvalidDetail {
            key: "endpoint",
            reason: "cannot form api urls".into(),
        })
    }

    fn send<T: DeserializeOwned>(
        &self,
        method: &'static str,
        path: &str,
        op: Option<&str>,
        request: reqwest::blocking::RequestBuilder,
    ) -> Result<T, ActionError> {
        let shown = match op {
            Some(op) => format!("{path}?op={op}"),
            None => path.to_string(),
        };
        let remaining = self.deadline.remaining();
        if remaining.is_zero() {
            return Err(ActionError::TimedOut {
                waiting_for: format!("about to send {method} {shown}"),
            });
        }
        let response = request
            .timeout(remaining.min(REQUEST_TIMEOUT_CAP))
            .header(reqwest::header::AUTHORIZATION, self.authorization())
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .map_err(|source| self.transport_error(method, &shown, source))?;
        let status = response.status();
        let body = response
            .text()
            .map_err(|source| self.transport_error(method, &shown, source))?;
        if !status.is_success() {
            let message = error_text(&body, status);
            return Err(match status.as_u16() {
                401 => ActionError::Unauthorized {
                    status: 401,
                    message,
                },
                code => ActionError::Api {
                    method,
                    path: shown,
                    status: code,
                    message,
                },
            });
        }
        serde_json::from_str(&body).map_err(|source| ActionError::BadAnswer {
            method,
            path: shown,
            source,
        })
    }

    fn transport_error(
        &self,
        method: &'static str,
        shown: &str,
        source: reqwest::Error,
    ) -> ActionError {
        if source.is_timeout() && self.deadline.remaining() < Duration::from_millis(500) {
            ActionError::TimedOut {
                waiting_for: format!("waiting for maas to answer {method} {shown}"),
            }
        } else {
            ActionError::Unreachable {
                method,
                path: shown.to_string(),
                source,
            }
        }
    }

    /// An OAuth 1.0 PLAINTEXT `Authorization` header (MAAS keys have an empty consumer secret).
    fn authorization(&self) -> String {
        let count = self.requests.get() + 1;
        self.requests.set(count);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let nonce = format!("{:x}{:x}{:x}", now.as_nanos(), std::process::id(), count);
        let signature = format!("&{}", oauth_encode(&self.key.token_secret));
        format!(
            "OAuth oauth_version=\"1.0\", oauth_signature_method=\"PLAINTEXT\", oauth_consumer_key=\"{}\", oauth_token=\"{}\", oauth_signature=\"{}\", oauth_nonce=\"{}\", oauth_timestamp=\"{}\"",
            oauth_encode(&self.key.consumer_key),
            oauth_encode(&self.key.token_key),
            oauth_encode(&signature),
            nonce,
            now.as_secs()
        )
    }
}

fn machine_path(system_id: &str) -> String {
    format!("machines/{}/", oauth_encode(system_id))
}

/// MAAS's error text, trimmed and bounded; the status line when the body is empty.
fn error_text(body: &str, status: reqwest::StatusCode) -> String {
    let text = body.trim();
    if text.is_empty() {
        return status.canonical_reason().unwrap_or("error").to_string();
    }
    match text.char_indices().nth(MAX_ERROR_TEXT) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

/// RFC 3986 percent-encoding (unreserved characters kept), as OAuth 1.0 requires.
pub fn oauth_encode(value: &str) -> String {
    let mut encoded = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

/// Map MAAS's `power_state` to the wire value the server expects.
pub fn power_wire(state: &str) -> &'static str {
    match state {
        "on" => trellis_ext_protocol::PowerState::PowerOn.wire(),
        "off" => trellis_ext_protocol::PowerState::PowerOff.wire(),
        _ => trellis_ext_protocol::PowerState::PowerUnknown.wire(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding() {
        assert_eq!(oauth_encode("&s3cr t/~"), "%26s3cr%20t%2F~");
    }

    #[test]
    fn macs_boot_first_and_distinct() {
        let machine: Machine = serde_json::from_value(serde_json::json!({
            "system_id": "abc",
            "interface_set": [
                {"name": "eth0", "type": "physical", "mac_address": "52:54:00:00:00:01"},
                {"name": "eth1", "type": "physical", "mac_address": "52:54:00:00:00:02"},
                {"name": "br0", "type": "bridge", "mac_address": "52:54:00:00:00:09"}
            ],
            "boot_interface": {"name": "eth1", "type": "physical", "mac_address": "52:54:00:00:00:02"}
        }))
        .unwrap();
        assert_eq!(
            machine.macs(),
            vec!["52:54:00:00:00:02", "52:54:00:00:00:01"]
        );
    }
}
