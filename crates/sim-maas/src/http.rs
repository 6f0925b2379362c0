//! The MAAS 2.0 HTTP surface: path parsing, `op` dispatch, OAuth checks, MAAS-shaped answers.
//!
//! Everything below `/MAAS/api/2.0/` goes through one handler, which parses the path itself so
//! that the three ways MAAS accepts an operation (query string, form body, `op-<name>` path
//! suffix) are handled in one place.

use crate::machine::{Conflict, DeployPlan, Machine, MachineStatus, PowerState};
use crate::oauth::{self, IncomingRequest};
use crate::state::{RecordedRequest, Shared};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use base64::Engine as _;
use serde_json::{json, Value};
use std::sync::Arc;

const API_PREFIX: &str = "/MAAS/api/2.0/";

/// Distro series the simulated MAAS has boot images for.
const KNOWN_SERIES: [&str; 3] = ["focal", "jammy", "noble"];

/// The router serving the simulated API.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new().fallback(handle).with_state(shared)
}

/// An answer before it is recorded and rendered.
struct Answer {
    status: StatusCode,
    body: Body,
}

enum Body {
    Json(Value),
    Text(String),
}

impl Answer {
    fn json(value: Value) -> Answer {
        Answer {
            status: StatusCode::OK,
            body: Body::Json(value),
        }
    }
    fn text(status: StatusCode, text: impl Into<String>) -> Answer {
        Answer {
            status,
            body: Body::Text(text.into()),
        }
    }
    fn not_found() -> Answer {
        Answer::text(StatusCode::NOT_FOUND, "No Machine matches the given query.")
    }
    fn conflict(conflict: Conflict) -> Answer {
        Answer::text(StatusCode::CONFLICT, conflict.0)
    }
    fn bad_request_json(field: &str, message: String) -> Answer {
        Answer {
            status: StatusCode::BAD_REQUEST,
            body: Body::Json(json!({ field: [message] })),
        }
    }
    fn unrecognised(method: &Method, op: Option<&str>) -> Answer {
        let op = op.unwrap_or("None");
        Answer::text(
            StatusCode::BAD_REQUEST,
            format!("Unrecognised signature: method={method} op={op}"),
        )
    }

    fn into_response(self) -> Response {
        match self.body {
            Body::Json(value) => (self.status, axum::Json(value)).into_response(),
            Body::Text(text) => (
                self.status,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                text,
            )
                .into_response(),
        }
    }
}

/// The decoded parameters of a request.
struct Params {
    query: Vec<(String, String)>,
    /// Form-urlencoded body parameters (signed under HMAC-SHA1).
    form: Vec<(String, String)>,
    /// Multipart body parameters (never signed).
    multipart: Vec<(String, String)>,
}

impl Params {
    fn all(&self) -> impl Iterator<Item = &(String, String)> {
        self.query
            .iter()
            .chain(self.form.iter())
            .chain(self.multipart.iter())
    }
    fn get(&self, name: &str) -> Option<&str> {
        self.all()
            .find(|(known, _)| known == name)
            .map(|(_, value)| value.as_str())
    }
    fn get_all(&self, name: &str) -> Vec<&str> {
        self.all()
            .filter(|(known, _)| known == name)
            .map(|(_, value)| value.as_str())
            .collect()
    }
    /// Parameters worth recording: everything but `op` and the OAuth protocol parameters.
    fn recorded(&self) -> Vec<(String, String)> {
        self.all()
            .filter(|(name, _)| name != "op" && !name.starts_with("oauth_"))
            .cloned()
            .collect()
    }
    /// The operation: query string first, then the body, then an `op-<name>` path suffix.
    fn op(&self, segments: &mut Vec<String>) -> Option<String> {
        let from_params = self
            .query
            .iter()
            .chain(self.form.iter())
            .chain(self.multipart.iter())
            .find(|(name, _)| name == "op")
            .map(|(_, value)| value.clone());
        if let Some(op) = from_params {
            return Some(op);
        }
        if let Some(op) = segments
            .last()
            .and_then(|last| last.strip_prefix("op-"))
            .map(str::to_string)
        {
            segments.pop();
            return Some(op);
        }
        None
    }
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // Hang while the "unresponsive" fault is on (shutdown drops hanging connections), then wait
    // out the latency.
    shared.transport.gate().await;

    let path = uri.path().to_string();
    let Some(below) = path.strip_prefix(API_PREFIX) else {
        if path.trim_end_matches('/') == "/MAAS/api/version" {
            return Answer::text(StatusCode::OK, "2.0").into_response();
        }
        return Answer::text(
            StatusCode::NOT_FOUND,
            format!("Unknown API endpoint: {path}."),
        )
        .into_response();
    };
    let mut segments: Vec<String> = below
        .split('/')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    let params = parse_params(&uri, &headers, &body);
    let op = params.op(&mut segments);
    let mut record = RecordedRequest {
        method: method.to_string(),
        path: below.to_string(),
        op: op.clone(),
        params: params.recorded(),
        signature_method: None,
        status: 0,
    };

    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let incoming = IncomingRequest {
        http_method: method.as_str(),
        base_url: format!("http://{host}{path}"),
        query: &params.query,
        form: &params.form,
        authorization: headers
            .get(header::AUTHORIZATION)
            .and_then(|h| h.to_str().ok()),
    };
    let answer = match oauth::verify(&shared.keys, &incoming) {
        Err(refused) => {
            let mut response =
                Answer::text(StatusCode::UNAUTHORIZED, refused.maas_text()).into_response();
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("OAuth realm=\"OAuth\""),
            );
            record.status = StatusCode::UNAUTHORIZED.as_u16();
            shared.record(record);
            return response;
        }
        Ok(verified) => {
            record.signature_method = Some(verified.method);
            match shared.take_request_failure() {
                Some(status) => Answer::text(
                    StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE),
                    "Simulated failure",
                ),
                None => {
                    let answer = dispatch(
                        &shared,
                        &verified.user,
                        &method,
                        &segments,
                        op.as_deref(),
                        &params,
                    );
                    match shared.take_answer_loss(op.as_deref()) {
                        Some(status) => Answer::text(
                            StatusCode::from_u16(status).unwrap_or(StatusCode::GATEWAY_TIMEOUT),
                            "Simulated lost answer",
                        ),
                        None => answer,
                    }
                }
            }
        }
    };
    record.status = answer.status.as_u16();
    shared.record(record);
    answer.into_response()
}

fn dispatch(
    shared: &Shared,
    user: &str,
    method: &Method,
    segments: &[String],
    op: Option<&str>,
    params: &Params,
) -> Answer {
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    match (segments.as_slice(), method.clone(), op) {
        (["version"], Method::GET, None) => Answer::json(json!({
            "version": "3.4.0",
            "subversion": "simulated",
            "capabilities": ["networks-management", "static-ipaddresses", "ipv6-deployment-ubuntu",
                "devices-management", "storage-deployment-ubuntu", "network-deployment-ubuntu"],
        })),
        (["users"], Method::GET, Some("whoami")) => Answer::json(
            json!({"username": user, "email": format!("{user}@example.com"), "is_superuser": true}),
        ),
        (["machines"], Method::GET, None) => list_machines(shared, params, None),
        (["machines"], Method::GET, Some("list_allocated")) => {
            list_machines(shared, params, Some(user))
        }
        (["machines"], Method::POST, Some("allocate")) => allocate(shared, user, params),
        (["machines", system_id], _, _) => {
            let mut machines = shared.machines();
            let Some(machine) = machines.iter_mut().find(|m| m.system_id == *system_id) else {
                return Answer::not_found();
            };
            machine_operation(shared, user, machine, method, op, params)
        }
        ([collection, ..], _, _)
            if *collection == "machines" || *collection == "version" || *collection == "users" =>
        {
            Answer::unrecognised(method, op)
        }
        _ => Answer::text(
            StatusCode::NOT_FOUND,
            format!("Unknown API endpoint: {API_PREFIX}{}/.", segments.join("/")),
        ),
    }
}

fn machine_operation(
    shared: &Shared,
    user: &str,
    machine: &mut Machine,
    method: &Method,
    op: Option<&str>,
    params: &Params,
) -> Answer {
    let behaviour = &shared.behaviour;
    match (method.clone(), op) {
        (Method::GET, None) => {
            shared.poll(machine);
            Answer::json(machine.to_json())
        }
        (Method::GET, Some("query_power_state")) => {
            shared.poll(machine);
            Answer::json(json!({"state": machine.power_state.as_str()}))
        }
        (Method::PUT, None) => {
            if let Some(hostname) = params.get("hostname") {
                if hostname.is_empty()
                    || !hostname
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-')
                {
                    return Answer::bad_request_json(
                        "hostname",
                        format!("Invalid hostname: '{hostname}'."),
                    );
                }
                machine.hostname = hostname.to_string();
            }
            Answer::json(machine.to_json())
        }
        (Method::POST, Some("deploy")) => {
            let plan = match deploy_plan(shared, params) {
                Ok(plan) => plan,
                Err(answer) => return answer,
            };
            if let Some(agent_name) = params.get("agent_name") {
                machine.agent_name = agent_name.to_string();
            }
            match machine.deploy(user, plan) {
                Ok(()) => Answer::json(machine.to_json()),
                Err(conflict) => Answer::conflict(conflict),
            }
        }
        (Method::POST, Some("release")) => match machine.release(behaviour.release_polls) {
            Ok(()) => Answer::json(machine.to_json()),
            Err(conflict) => Answer::conflict(conflict),
        },
        (Method::POST, Some(op @ ("power_on" | "power_off"))) => {
            let target = if op == "power_on" {
                PowerState::On
            } else {
                PowerState::Off
            };
            match machine.power(target, behaviour.power_polls) {
                Ok(()) => Answer::json(machine.to_json()),
                Err(conflict) => Answer::conflict(conflict),
            }
        }
        (Method::POST, Some("set_owner_data")) => {
            if machine.owner.is_none() {
                return Answer::conflict(Conflict(
                    "Cannot set owner data: the machine is not allocated.".into(),
                ));
            }
            for (name, value) in params.all() {
                if name == "op" || name.starts_with("oauth_") {
                    continue;
                }
                if value.is_empty() {
                    machine.owner_data.remove(name);
                } else {
                    machine.owner_data.insert(name.clone(), value.clone());
                }
            }
            Answer::json(machine.to_json())
        }
        (Method::POST, Some("mark_broken")) => {
            machine.mark_broken(params.get("comment").unwrap_or(""));
            Answer::json(machine.to_json())
        }
        (Method::POST, Some("mark_fixed")) => {
            if machine.status != MachineStatus::Broken {
                return Answer::conflict(Conflict(format!(
                    "Unable to be fixed because machine is in state '{}'.",
                    machine.status.name()
                )));
            }
            machine.status = MachineStatus::Ready;
            machine.status_message = String::new();
            machine.owner = None;
            machine.owner_data.clear();
            Answer::json(machine.to_json())
        }
        _ => Answer::unrecognised(method, op),
    }
}

/// Validate the deploy parameters MAAS knows; unknown ones are ignored, as MAAS does.
fn deploy_plan(shared: &Shared, params: &Params) -> Result<DeployPlan, Answer> {
    let behaviour = &shared.behaviour;
    let requested = params.get("distro_series").filter(|s| !s.is_empty());
    let (os_prefix, series) = match requested {
        Some(value) => match value.split_once('/') {
            Some((os, series)) => (Some(os), series),
            None => (None, value),
        },
        None => (None, behaviour.default_distro_series.as_str()),
    };
    let osystem = params
        .get("osystem")
        .filter(|s| !s.is_empty())
        .or(os_prefix)
        .unwrap_or("ubuntu");
    if osystem != "ubuntu" || !KNOWN_SERIES.contains(&series) {
        let choices: Vec<String> = KNOWN_SERIES
            .iter()
            .map(|s| format!("'ubuntu/{s}'"))
            .collect();
        let given = requested.unwrap_or(series);
        return Err(Answer::bad_request_json(
            "distro_series",
            format!(
                "'{given}' is not a valid distro_series.  It should be one of: '', {}.",
                choices.join(", ")
            ),
        ));
    }
    let user_data = match params.get("user_data").filter(|s| !s.is_empty()) {
        Some(encoded) => {
            if base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .is_err()
            {
                return Err(Answer::bad_request_json(
                    "user_data",
                    "Invalid base64 encoding.".into(),
                ));
            }
            Some(encoded.to_string())
        }
        None => None,
    };
    Ok(DeployPlan {
        osystem: osystem.to_string(),
        distro_series: series.to_string(),
        hwe_kernel: params
            .get("hwe_kernel")
            .filter(|s| !s.is_empty())
            .map(str::to_string),
        user_data,
        polls: behaviour.deploy_polls,
        fail: shared.take_deploy_failure(),
    })
}

fn list_machines(shared: &Shared, params: &Params, owner: Option<&str>) -> Answer {
    let hostnames = params.get_all("hostname");
    let ids = params.get_all("id");
    let macs: Vec<String> = params
        .get_all("mac_address")
        .iter()
        .map(|m| m.to_ascii_lowercase())
        .collect();
    let agent_names = params.get_all("agent_name");
    let mut machines = shared.machines();
    let mut listed = Vec::new();
    for machine in machines.iter_mut() {
        shared.poll(machine);
        let keep = (hostnames.is_empty() || hostnames.contains(&machine.hostname.as_str()))
            && (ids.is_empty() || ids.contains(&machine.system_id.as_str()))
            && (macs.is_empty()
                || machine
                    .interfaces
                    .iter()
                    .any(|i| macs.contains(&i.mac_address)))
            && (agent_names.is_empty() || agent_names.contains(&machine.agent_name.as_str()))
            && owner.is_none_or(|user| machine.owner.as_deref() == Some(user));
        if keep {
            listed.push(machine.to_json());
        }
    }
    Answer::json(Value::Array(listed))
}

/// `POST machines/?op=allocate`: atomically pick and reserve a Ready machine.
fn allocate(shared: &Shared, user: &str, params: &Params) -> Answer {
    const CONSTRAINTS: [&str; 8] = [
        "name",
        "system_id",
        "arch",
        "cpu_count",
        "mem",
        "tags",
        "zone",
        "pool",
    ];
    let mut described: Vec<(String, Vec<String>)> = Vec::new();
    for name in CONSTRAINTS {
        let values: Vec<String> = params
            .get_all(name)
            .iter()
            .filter(|v| !v.is_empty())
            .map(|v| v.to_string())
            .collect();
        if !values.is_empty() {
            described.push((name.to_string(), values));
        }
    }
    let first = |name: &str| {
        described
            .iter()
            .find(|(known, _)| known == name)
            .map(|(_, values)| values[0].clone())
    };
    let number = |name: &str| -> Result<Option<u64>, Answer> {
        match first(name) {
            None => Ok(None),
            Some(text) => text
                .parse::<f64>()
                .map(|value| Some(value.max(0.0).ceil() as u64))
                .map_err(|_| Answer::bad_request_json(name, format!("Invalid number: {text}"))),
        }
    };
    let cpu_count = match number("cpu_count") {
        Ok(value) => value,
        Err(answer) => return answer,
    };
    let mem = match number("mem") {
        Ok(value) => value,
        Err(answer) => return answer,
    };
    let tags: Vec<String> = described
        .iter()
        .filter(|(name, _)| name == "tags")
        .flat_map(|(_, values)| {
            values
                .iter()
                .flat_map(|v| v.split(',').map(|t| t.trim().to_string()))
        })
        .filter(|t| !t.is_empty())
        .collect();
    let arches: Vec<String> = described
        .iter()
        .filter(|(n, _)| n == "arch")
        .flat_map(|(_, v)| v.clone())
        .collect();
    let dry_run = params
        .get("dry_run")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));

    let mut machines = shared.machines();
    let chosen = machines.iter_mut().find(|machine| {
        machine.status == MachineStatus::Ready
            && first("name").is_none_or(|name| {
                name == machine.hostname || name == format!("{}.maas", machine.hostname)
            })
            && first("system_id").is_none_or(|id| id == machine.system_id)
            && (arches.is_empty()
                || arches.iter().any(|arch| {
                    machine.architecture == *arch
                        || machine.architecture.starts_with(&format!("{arch}/"))
                }))
            && cpu_count.is_none_or(|min| u64::from(machine.cpu_count) >= min)
            && mem.is_none_or(|min| machine.memory_mb >= min)
            && tags.iter().all(|tag| machine.tags.contains(tag))
            && first("zone").is_none_or(|zone| zone == machine.zone)
            && first("pool").is_none_or(|pool| pool == machine.pool)
    });
    let Some(machine) = chosen else {
        if described.is_empty() {
            return Answer::conflict(Conflict("No machine available.".into()));
        }
        let listed: Vec<String> = described
            .iter()
            .map(|(name, values)| {
                let quoted: Vec<String> = values.iter().map(|v| format!("'{v}'")).collect();
                format!("('{name}', [{}])", quoted.join(", "))
            })
            .collect();
        let resolved: Vec<String> = described
            .iter()
            .map(|(name, values)| format!("{name}={}", values.join(",")))
            .collect();
        return Answer::conflict(Conflict(format!(
            "No available machine matches constraints: [{}] (resolved to \"{}\")",
            listed.join(", "),
            resolved.join(" ")
        )));
    };
    if !dry_run {
        machine.allocate(user, params.get("agent_name").unwrap_or(""));
    }
    Answer::json(machine.to_json())
}

fn parse_params(uri: &Uri, headers: &HeaderMap, body: &Bytes) -> Params {
    let query = uri
        .query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("")
        .to_string();
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let mut form = Vec::new();
    let mut multipart = Vec::new();
    if essence == "application/x-www-form-urlencoded" {
        form = form_urlencoded::parse(body).into_owned().collect();
    } else if essence == "multipart/form-data" {
        if let Some(boundary) = boundary_of(&content_type) {
            multipart = parse_multipart(body, &boundary);
        }
    }
    Params {
        query,
        form,
        multipart,
    }
}

fn boundary_of(content_type: &str) -> Option<String> {
    content_type.split(';').skip(1).find_map(|part| {
        let (name, value) = part.trim().split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| value.trim().trim_matches('"').to_string())
    })
}

/// A small multipart/form-data reader: enough for the text parts MAAS clients send.
fn parse_multipart(body: &[u8], boundary: &str) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(body);
    let delimiter = format!("--{boundary}");
    let mut fields = Vec::new();
    for part in text.split(delimiter.as_str()).skip(1) {
        if part.starts_with("--") {
            break;
        }
        let part = part.strip_prefix("\r\n").unwrap_or(part);
        let Some((head, value)) = part.split_once("\r\n\r\n") else {
            continue;
        };
        let name = head.lines().find_map(|line| {
            let (header_name, header_value) = line.split_once(':')?;
            if !header_name
                .trim()
                .eq_ignore_ascii_case("content-disposition")
            {
                return None;
            }
            header_value.split(';').find_map(|piece| {
                let (key, value) = piece.trim().split_once('=')?;
                (key == "name").then(|| value.trim_matches('"').to_string())
            })
        });
        if let Some(name) = name {
            let value = value.strip_suffix("\r\n").unwrap_or(value);
            fields.push((name, value.to_string()));
        }
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipart_fields() {
        let body = "--XyZ\r\nContent-Disposition: form-data; name=\"op\"\r\n\r\ndeploy\r\n--XyZ\r\nContent-Disposition: form-data; name=\"distro_series\"\r\nContent-Type: text/plain\r\n\r\njammy\r\n--XyZ--\r\n";
        let fields = parse_multipart(body.as_bytes(), "XyZ");
        assert_eq!(
            fields,
            vec![
                ("op".to_string(), "deploy".to_string()),
                ("distro_series".to_string(), "jammy".to_string())
            ]
        );
        assert_eq!(
            boundary_of("multipart/form-data; boundary=\"XyZ\"").as_deref(),
            Some("XyZ")
        );
    }
}
