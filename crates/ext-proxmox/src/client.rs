//! A small blocking client for the Proxmox VE API: token authentication, `{"data": …}`
//! envelopes, Proxmox's error bodies, and waiting for tasks by polling their UPID.

use crate::deadline::Deadline;
use crate::error::ActionError;
use crate::settings::Connection;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use reqwest::blocking::{Client, RequestBuilder};
use reqwest::Method;
use serde_json::Value;
use std::cell::Cell;
use std::time::Duration;

/// Characters left alone in a path segment (RFC 3986 unreserved).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// No single request may take longer than this, whatever the deadline.
const MAX_REQUEST_TIME: Duration = Duration::from_secs(60);

/// Time to establish a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// First and longest pause between two task status polls (upstream polls every second).
const FIRST_POLL_INTERVAL: Duration = Duration::from_millis(100);
const MAX_POLL_INTERVAL: Duration = Duration::from_secs(1);

/// Consecutive failed status polls tolerated while waiting for a task.
const POLL_ERRORS_TOLERATED: u32 = 3;

/// Percent-encodes one path segment (node names, UPIDs, snapshot names).
pub fn segment(text: &str) -> String {
    utf8_percent_encode(text, SEGMENT).to_string()
}

/// Request parameters, sent as a form body (POST/PUT) or a query string (GET/DELETE).
pub type Params = Vec<(String, String)>;

/// A connection to one Proxmox node.
pub struct PveClient {
    http: Client,
    connection: Connection,
    deadline: Cell<Deadline>,
}

impl PveClient {
    pub fn new(connection: Connection, deadline: Deadline) -> Result<PveClient, ActionError> {
        let http = Client::builder()
            .use_rustls_tls()
            .danger_accept_invalid_certs(!connection.verify_tls)
            .connect_timeout(CONNECT_TIMEOUT)
            .build()
            .map_err(|source| ActionError::Unreachable {
                url: connection.api_base.clone(),
                source,
            })?;
        Ok(PveClient {
            http,
            connection,
            deadline: Cell::new(deadline),
        })
    }

    pub fn node(&self) -> &str {
        &self.connection.node
    }

    pub fn connection(&self) -> &Connection {
        &self.connection
    }

    pub fn deadline(&self) -> Deadline {
        self.deadline.get()
    }

    /// Changes the deadline of the following calls (used to keep time for a cleanup).
    pub fn set_deadline(&self, deadline: Deadline) {
        self.deadline.set(deadline);
    }

    /// `/nodes/<node>` with the node percent-encoded.
    pub fn node_path(&self) -> String {
        format!("/nodes/{}", segment(&self.connection.node))
    }

    pub fn get(&self, path: &str, params: &[(&str, String)]) -> Result<Value, ActionError> {
        self.call(Method::GET, path, params)
    }

    pub fn post(&self, path: &str, params: &[(&str, String)]) -> Result<Value, ActionError> {
        self.call(Method::POST, path, params)
    }

    pub fn delete(&self, path: &str, params: &[(&str, String)]) -> Result<Value, ActionError> {
        self.call(Method::DELETE, path, params)
    }

    /// Sends one request and returns the `data` of the answer.
    pub fn call(
        &self,
        method: Method,
        path: &str,
        params: &[(&str, String)],
    ) -> Result<Value, ActionError> {
        let remaining = self.deadline().remaining();
        if remaining.is_zero() {
            return Err(ActionError::TimedOut {
                waiting_for: format!("before {method} {path} could be sent"),
            });
        }
        let url = format!("{}{path}", self.connection.api_base);
        let mut request: RequestBuilder = self
            .http
            .request(method.clone(), &url)
            .header(
                reqwest::header::AUTHORIZATION,
                &self.connection.authorization,
            )
            .timeout(remaining.min(MAX_REQUEST_TIME));
        if !params.is_empty() {
            request = if method == Method::GET || method == Method::DELETE {
                request.query(params)
            } else {
                request.form(params)
            };
        }
        let response = request
            .send()
            .map_err(|source| self.transport_error(&method, path, source))?;
        let status = response.status();
        let body = response
            .text()
            .map_err(|source| self.transport_error(&method, path, source))?;
        let parsed: Option<Value> = serde_json::from_str(&body).ok();
        if status.is_success() {
            let Some(Value::Object(mut envelope)) = parsed else {
                return Err(ActionError::BadAnswer {
                    method: method.to_string(),
                    path: path.to_string(),
                    problem: "the body is not a json object".into(),
                });
            };
            return Ok(envelope.remove("data").unwrap_or(Value::Null));
        }
        let message = error_message(status, parsed.as_ref(), &body);
        if status == reqwest::StatusCode::UNAUTHORIZED {
            return Err(ActionError::Unauthorized {
                token_id: self.connection.token_id.clone(),
                status: status.as_u16(),
                message,
            });
        }
        Err(ActionError::Api {
            method: method.to_string(),
            path: path.to_string(),
            status: status.as_u16(),
            message,
        })
    }

    fn transport_error(&self, method: &Method, path: &str, source: reqwest::Error) -> ActionError {
        if source.is_timeout() {
            let waiting_for = if self.deadline().has_passed() {
                format!("waiting for proxmox to answer {method} {path}")
            } else {
                format!(
                    "waiting for proxmox to answer {method} {path} (no answer within {}s)",
                    MAX_REQUEST_TIME.as_secs()
                )
            };
            return ActionError::TimedOut { waiting_for };
        }
        ActionError::Unreachable {
            url: self.connection.api_base.clone(),
            source,
        }
    }

    /// Sends a request that starts a task and returns the task's UPID.
    pub fn start_task(
        &self,
        method: Method,
        path: &str,
        params: &[(&str, String)],
    ) -> Result<String, ActionError> {
        match self.call(method.clone(), path, params)? {
            Value::String(upid) if upid.starts_with("UPID:") => Ok(upid),
            other => Err(ActionError::BadAnswer {
                method: method.to_string(),
                path: path.to_string(),
                problem: format!("expected a task id (UPID), got {other}"),
            }),
        }
    }

    /// Polls the task until it stops; succeeds on `OK` (or warnings), fails with Proxmox's exit
    /// status otherwise, or when the deadline passes first.
    pub fn wait_task(&self, upid: &str) -> Result<(), ActionError> {
        let node = upid
            .split(':')
            .nth(1)
            .filter(|node| !node.is_empty())
            .unwrap_or(self.node());
        let path = format!("/nodes/{}/tasks/{}/status", segment(node), segment(upid));
        let mut interval = FIRST_POLL_INTERVAL;
        let mut errors_in_a_row = 0;
        loop {
            match self.get(&path, &[]) {
                Ok(status) => {
                    errors_in_a_row = 0;
                    if status.get("status").and_then(Value::as_str) == Some("stopped") {
                        let exitstatus = status
                            .get("exitstatus")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .trim()
                            .to_string();
                        if exitstatus == "OK" || exitstatus.starts_with("WARNINGS") {
                            return Ok(());
                        }
                        let exitstatus = if exitstatus.is_empty() {
                            "the task stopped without an exit status".to_string()
                        } else {
                            exitstatus
                        };
                        return Err(ActionError::TaskFailed {
                            upid: upid.to_string(),
                            exitstatus,
                        });
                    }
                }
                Err(error @ (ActionError::Unauthorized { .. } | ActionError::TimedOut { .. })) => {
                    return Err(error)
                }
                Err(error) => {
                    errors_in_a_row += 1;
                    if errors_in_a_row > POLL_ERRORS_TOLERATED {
                        return Err(error.context(format!("cannot follow proxmox task {upid}")));
                    }
                }
            }
            if self.deadline().remaining() <= interval {
                return Err(ActionError::TimedOut {
                    waiting_for: format!("waiting for proxmox task {upid} (it is still running)"),
                });
            }
            std::thread::sleep(interval);
            interval = (interval * 3 / 2).min(MAX_POLL_INTERVAL);
        }
    }

    /// Starts a task and waits for it.
    pub fn run_task(
        &self,
        method: Method,
        path: &str,
        params: &[(&str, String)],
    ) -> Result<(), ActionError> {
        let upid = self.start_task(method, path, params)?;
        self.wait_task(&upid)
    }
}

/// Proxmox's error text: `message`, plus the per-parameter `errors` of a 400, else the body.
fn error_message(status: reqwest::StatusCode, parsed: Option<&Value>, body: &str) -> String {
    let mut message = parsed
        .and_then(|value| value.get("message"))
        .and_then(Value::as_str)
        .map(|text| text.trim().to_string())
        .unwrap_or_default();
    if let Some(Value::Object(errors)) = parsed.and_then(|value| value.get("errors")) {
        let details: Vec<String> = errors
            .iter()
            .map(|(parameter, problem)| {
                let problem = problem
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| problem.to_string());
                format!("{parameter}: {}", problem.trim())
            })
            .collect();
        if !details.is_empty() {
            if !message.is_empty() {
                message.push(' ');
            }
            message.push_str(&details.join("; "));
        }
    }
    if message.is_empty() {
        let body = body.trim();
        message = if body.is_empty() || parsed.is_some() {
            status
                .canonical_reason()
                .unwrap_or("no reason given")
                .to_string()
        } else {
            body.chars().take(300).collect()
        };
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upids_are_encoded_as_one_segment() {
        assert_eq!(
            segment("UPID:pve1:00012000:01234567:66000000:qmclone:9000:root@pam!trellis:"),
            "UPID%3Apve1%3A00012000%3A01234567%3A66000000%3Aqmclone%3A9000%3Aroot%40pam%21trellis%3A"
        );
        assert_eq!(segment("pve-1.lab"), "pve-1.lab");
    }

    #[test]
    fn error_messages_keep_proxmox_text() {
        let server_error =
            serde_json::json!({"data": null, "message": "VM 100 is running - destroy failed\n"});
        assert_eq!(
            error_message(
                reqwest::StatusCode::INTERNAL_SERVER_ERROR,
                Some(&server_error),
                ""
            ),
            "VM 100 is running - destroy failed"
        );
        let param_error = serde_json::json!({"data": null, "message": "Parameter verification failed.\n",
                                             "errors": {"vmid": "VM 100 already exists"}});
        assert_eq!(
            error_message(reqwest::StatusCode::BAD_REQUEST, Some(&param_error), ""),
            "Parameter verification failed. vmid: VM 100 already exists"
        );
        assert_eq!(
            error_message(
                reqwest::StatusCode::BAD_GATEWAY,
                None,
                "<html>proxy error</html>"
            ),
            "<html>proxy error</html>"
        );
        assert_eq!(
            error_message(
                reqwest::StatusCode::UNAUTHORIZED,
                Some(&serde_json::json!({"data": null})),
                "x"
            ),
            "Unauthorized"
        );
    }
}
