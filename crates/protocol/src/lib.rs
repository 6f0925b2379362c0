//! The extension contract, a versioned API boundary.
//!
//! An extension is any executable invoked as `<exe> <action> <payload.json> <timeout-seconds>`.
//! It reads the JSON payload from the file, does the work, prints its reply on stdout and exits.
//! The exit code alone decides success. stdout is parsed only for `prepare`, `status`,
//! `statuses` and `getconsole`; for custom actions it is handed back verbatim. stderr is for
//! humans (logged, never parsed).
//!
//! This crate holds serde types only, so that extension binaries can depend on it without
//! depending on anything of the server. Payloads are byte-compatible with Apache CloudStack 4.22,
//! so upstream extensions run unchanged.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Version of this contract. Bumped on any change; see `docs/dev/extension-protocol.md`.
pub const PROTOCOL_VERSION: &str = "1.0";

/// The argv positions.
pub mod argv {
    pub const ACTION: usize = 1;
    pub const PAYLOAD: usize = 2;
    pub const TIMEOUT: usize = 3;
}

/// Standard action names.
pub mod action {
    pub const PREPARE: &str = "prepare";
    pub const CREATE: &str = "create";
    pub const START: &str = "start";
    pub const STOP: &str = "stop";
    pub const REBOOT: &str = "reboot";
    pub const DELETE: &str = "delete";
    pub const STATUS: &str = "status";
    pub const STATUSES: &str = "statuses";
    pub const GETCONSOLE: &str = "getconsole";
    /// Trellis addition: capture a stopped instance's disk as a template (`createTemplate`).
    /// Optional: an extension that does not implement it answers an error.
    pub const CREATE_TEMPLATE: &str = "createtemplate";
    pub const ALL: [&str; 9] = [
        PREPARE, CREATE, START, STOP, REBOOT, DELETE, STATUS, STATUSES, GETCONSOLE,
    ];
}

/// The action set of the VM-managing built-in extensions (Proxmox, Local): the standard
/// lifecycle actions plus the four snapshot custom actions. Names match case-insensitively.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VmAction {
    Prepare,
    Create,
    Start,
    Stop,
    Reboot,
    Delete,
    Status,
    Statuses,
    GetConsole,
    ListSnapshots,
    CreateSnapshot,
    RestoreSnapshot,
    DeleteSnapshot,
}

impl VmAction {
    pub const ALL: [VmAction; 13] = [
        VmAction::Prepare,
        VmAction::Create,
        VmAction::Start,
        VmAction::Stop,
        VmAction::Reboot,
        VmAction::Delete,
        VmAction::Status,
        VmAction::Statuses,
        VmAction::GetConsole,
        VmAction::ListSnapshots,
        VmAction::CreateSnapshot,
        VmAction::RestoreSnapshot,
        VmAction::DeleteSnapshot,
    ];

    /// The name Trellis sends.
    pub fn name(self) -> &'static str {
        match self {
            VmAction::Prepare => action::PREPARE,
            VmAction::Create => action::CREATE,
            VmAction::Start => action::START,
            VmAction::Stop => action::STOP,
            VmAction::Reboot => action::REBOOT,
            VmAction::Delete => action::DELETE,
            VmAction::Status => action::STATUS,
            VmAction::Statuses => action::STATUSES,
            VmAction::GetConsole => action::GETCONSOLE,
            VmAction::ListSnapshots => "ListSnapshots",
            VmAction::CreateSnapshot => "CreateSnapshot",
            VmAction::RestoreSnapshot => "RestoreSnapshot",
            VmAction::DeleteSnapshot => "DeleteSnapshot",
        }
    }

    /// The action called `name` (case and surrounding blanks ignored), if it is one of these.
    pub fn parse(name: &str) -> Option<VmAction> {
        VmAction::ALL
            .into_iter()
            .find(|candidate| candidate.name().eq_ignore_ascii_case(name.trim()))
    }
}

/// Exit codes of the built-in extensions (any non-zero code is a failure to the server).
pub mod exit {
    /// The action succeeded.
    pub const OK: i32 = 0;
    /// The action failed on the remote system (its error is in the JSON on stdout).
    pub const FAILED: i32 = 1;
    /// The invocation was wrong: missing arguments, unreadable or invalid payload, unknown action.
    pub const USAGE: i32 = 2;
    /// Required configuration details are missing or invalid.
    pub const CONFIG: i32 = 3;
    /// The remote system could not be reached or refused our credentials.
    pub const UNREACHABLE: i32 = 4;
    /// The deadline passed before the remote system finished.
    pub const TIMED_OUT: i32 = 5;
    /// The action is not supported by this extension.
    pub const UNSUPPORTED: i32 = 6;
}

/// Environment variable carrying the deadline (Unix epoch seconds) Trellis gives the extension;
/// a few seconds before Trellis sends SIGTERM.
pub const ENV_DEADLINE: &str = "TRELLIS_DEADLINE";

/// Names the run in the extension's environment; its descendants inherit it. A long-lived
/// helper the extension launches outside the run on purpose is started without it.
pub const ENV_RUN_ID: &str = "TRELLIS_RUN_ID";

/// Where runs are contained in cgroups: the `cgroup.procs` file of the helpers' cgroup. Writing
/// a helper's pid there takes it out of the run, so it outlives the run (see
/// `trellis_extkit::helper`).
pub const ENV_HELPER_CGROUP: &str = "TRELLIS_HELPER_CGROUP";

/// The `externaldetails` block: one map per level, never merged.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ExternalDetails {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extension: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resourcemap: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub virtualmachine: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<BTreeMap<String, String>>,
}

impl ExternalDetails {
    /// Look a key up host first, then extension (the precedence the built-ins use).
    pub fn host_or_extension(&self, key: &str) -> Option<&str> {
        self.host
            .as_ref()
            .and_then(|m| m.get(key))
            .or_else(|| self.extension.as_ref().and_then(|m| m.get(key)))
            .map(String::as_str)
            .filter(|s| !s.is_empty())
    }
    /// A key of the instance's own details (template / offering / instance, prefix stripped).
    pub fn vm(&self, key: &str) -> Option<&str> {
        self.virtualmachine
            .as_ref()
            .and_then(|m| m.get(key))
            .map(String::as_str)
            .filter(|s| !s.is_empty())
    }
}

/// Who asked for the action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Caller {
    pub id: String,
    pub name: String,
    #[serde(rename = "type")]
    pub account_type: String,
    pub roleid: String,
    pub rolename: String,
    pub roletype: String,
}

/// A NIC of the instance (CloudStack's NicTO, camelCase field names).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Nic {
    pub uuid: String,
    pub device_id: i64,
    pub default_nic: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub netmask: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns1: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns2: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub broadcast_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub broadcast_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isolation_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "type")]
    pub traffic_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_rate_mbps: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_segment_name: Option<String>,
    #[serde(default)]
    pub security_group_enabled: bool,
    #[serde(default)]
    pub pxe_disable: bool,
    #[serde(default)]
    pub dpdk_enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<BTreeMap<String, String>>,
}

impl Nic {
    /// The VLAN id of `vlan://<id>` broadcast URIs.
    pub fn vlan(&self) -> Option<&str> {
        self.broadcast_uri
            .as_deref()
            .and_then(|u| u.strip_prefix("vlan://"))
            .filter(|v| *v != "untagged")
    }
}

/// The instance as sent to extensions (CloudStack's VirtualMachineTO).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VirtualMachine {
    pub id: i64,
    pub uuid: String,
    pub name: String,
    #[serde(rename = "type", default = "default_vm_type")]
    pub vm_type: String,
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub cpus: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_speed: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_speed: Option<i64>,
    /// Bytes.
    #[serde(default)]
    pub min_ram: i64,
    /// Bytes.
    #[serde(default)]
    pub max_ram: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arch: Option<String>,
    #[serde(default, rename = "enableHA")]
    pub enable_ha: bool,
    #[serde(default)]
    pub limit_cpu_use: bool,
    #[serde(default)]
    pub enable_dynamically_scale_vm: bool,
    #[serde(default)]
    pub enter_hardware_setup: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vnc_password: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot_mode: Option<String>,
    #[serde(default)]
    pub details: BTreeMap<String, String>,
    #[serde(default)]
    pub nics: Vec<Nic>,
    #[serde(default)]
    pub disks: Vec<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guest_os_details: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra_config: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_id_to_network_name_map: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_drive_location: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_data: Option<String>,
}

fn default_vm_type() -> String {
    "User".into()
}

/// The payload file's content.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Payload {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub externaldetails: Option<ExternalDetails>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller: Option<Caller>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub virtualmachineid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub virtualmachinename: Option<String>,
    #[serde(
        default,
        rename = "cloudstack.vm.details",
        skip_serializing_if = "Option::is_none"
    )]
    pub vm: Option<VirtualMachine>,
    /// Custom actions: the action name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// Custom actions: validated, typed parameter values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Map<String, Value>>,
    /// `statuses`: the instances Trellis expects on the host (name → uuid). A Trellis extension;
    /// upstream extensions ignore it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub virtualmachines: Option<BTreeMap<String, String>>,
}

impl Payload {
    /// The external details, or an empty set.
    pub fn details(&self) -> ExternalDetails {
        self.externaldetails.clone().unwrap_or_default()
    }
}

/// Power state as reported by `status`/`statuses`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PowerState {
    PowerOn,
    PowerOff,
    PowerUnknown,
}

impl PowerState {
    /// Parse a reported value case-insensitively (`poweron`, `PowerOn`, `poweroff`, `running`
    /// is *not* accepted, as upstream).
    pub fn parse(s: &str) -> PowerState {
        match s.trim().to_ascii_lowercase().as_str() {
            "poweron" => PowerState::PowerOn,
            "poweroff" => PowerState::PowerOff,
            _ => PowerState::PowerUnknown,
        }
    }
    /// The wire value built-in extensions print.
    pub fn wire(self) -> &'static str {
        match self {
            PowerState::PowerOn => "poweron",
            PowerState::PowerOff => "poweroff",
            PowerState::PowerUnknown => "unknown",
        }
    }
}

/// Parse the stdout of `status`: a JSON object with `power_state`, or a bare string.
pub fn parse_status_output(stdout: &str) -> PowerState {
    let t = stdout.trim();
    if t.is_empty() {
        return PowerState::PowerUnknown;
    }
    match serde_json::from_str::<Value>(t) {
        Ok(Value::Object(m)) => m
            .get("power_state")
            .and_then(Value::as_str)
            .map(PowerState::parse)
            .unwrap_or(PowerState::PowerUnknown),
        Ok(Value::String(s)) => PowerState::parse(&s),
        Ok(_) => PowerState::PowerUnknown,
        Err(_) => PowerState::parse(t),
    }
}

/// Parse the stdout of `statuses`: `{"power_state": {"<instance name>": "poweron", ...}}`.
pub fn parse_statuses_output(stdout: &str) -> Option<BTreeMap<String, PowerState>> {
    let v: Value = serde_json::from_str(stdout.trim()).ok()?;
    let map = v.get("power_state")?.as_object()?;
    Some(
        map.iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    v.as_str()
                        .map(PowerState::parse)
                        .unwrap_or(PowerState::PowerUnknown),
                )
            })
            .collect(),
    )
}

/// A console endpoint returned by `getconsole`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Console {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passwordonetimeuseonly: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// Why a `getconsole` reply was not usable (texts as upstream).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsoleParseError {
    Unparsable,
    MissingConsole,
    MissingFields,
}

impl std::fmt::Display for ConsoleParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ConsoleParseError::Unparsable => "Failed to parse output",
            ConsoleParseError::MissingConsole => "Missing console object in output",
            ConsoleParseError::MissingFields => "Missing required fields in output",
        })
    }
}

/// Parse the stdout of `getconsole`.
pub fn parse_console_output(stdout: &str) -> Result<Console, ConsoleParseError> {
    let v: Value =
        serde_json::from_str(stdout.trim()).map_err(|_| ConsoleParseError::Unparsable)?;
    let c = v.get("console").ok_or(ConsoleParseError::MissingConsole)?;
    let console: Console =
        serde_json::from_value(c.clone()).map_err(|_| ConsoleParseError::Unparsable)?;
    let has_port = match &console.port {
        Some(Value::Number(_)) => true,
        Some(Value::String(s)) => !s.is_empty(),
        _ => false,
    };
    if console.url.is_none() && (console.host.as_deref().unwrap_or("").is_empty() || !has_port) {
        return Err(ConsoleParseError::MissingFields);
    }
    Ok(console)
}

/// The JSON object built-in extensions print on failure.
pub fn error_reply(message: &str) -> Value {
    serde_json::json!({"status": "error", "error": message})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vm_actions_parse_by_name_in_any_case() {
        for a in VmAction::ALL {
            assert_eq!(VmAction::parse(a.name()), Some(a));
            assert_eq!(
                VmAction::parse(&format!(" {} ", a.name().to_uppercase())),
                Some(a)
            );
        }
        assert_eq!(VmAction::parse("migrate"), None);
        assert_eq!(VmAction::parse(""), None);
    }

    #[test]
    fn status_parsing() {
        assert_eq!(
            parse_status_output(r#"{"status":"success","power_state":"poweron"}"#),
            PowerState::PowerOn
        );
        assert_eq!(parse_status_output("PowerOff\n"), PowerState::PowerOff);
        assert_eq!(
            parse_status_output(r#"{"power_state":"running"}"#),
            PowerState::PowerUnknown
        );
        assert_eq!(parse_status_output(""), PowerState::PowerUnknown);
        assert_eq!(parse_status_output("{broken"), PowerState::PowerUnknown);
    }

    #[test]
    fn statuses_parsing() {
        let m = parse_statuses_output(
            r#"{"status":"success","power_state":{"i-1":"poweron","i-2":"PowerOff","i-3":7}}"#,
        )
        .unwrap();
        assert_eq!(m["i-1"], PowerState::PowerOn);
        assert_eq!(m["i-2"], PowerState::PowerOff);
        assert_eq!(m["i-3"], PowerState::PowerUnknown);
        assert!(parse_statuses_output(r#"{"status":"error"}"#).is_none());
    }

    #[test]
    fn console_parsing() {
        assert!(
            parse_console_output(r#"{"console":{"host":"h","port":"5900","protocol":"vnc"}}"#)
                .is_ok()
        );
        assert!(
            parse_console_output(r#"{"console":{"url":"https://x","protocol":"direct"}}"#).is_ok()
        );
        assert_eq!(
            parse_console_output(r#"{"x":1}"#).unwrap_err(),
            ConsoleParseError::MissingConsole
        );
        assert_eq!(
            parse_console_output(r#"{"console":{"host":"h"}}"#).unwrap_err(),
            ConsoleParseError::MissingFields
        );
        assert_eq!(
            parse_console_output("nope").unwrap_err(),
            ConsoleParseError::Unparsable
        );
    }

    #[test]
    fn payload_keys_are_upstream_compatible() {
        let p = Payload {
            virtualmachinename: Some("i-2-10-VM".into()),
            vm: Some(VirtualMachine {
                id: 10,
                min_ram: 1024,
                ..Default::default()
            }),
            ..Default::default()
        };
        let v = serde_json::to_value(&p).unwrap();
        assert!(v.get("cloudstack.vm.details").is_some());
        let vm = &v["cloudstack.vm.details"];
        assert_eq!(vm["minRam"], 1024);
        assert!(vm.get("enableHA").is_some());
        assert!(vm.get("enableDynamicallyScaleVm").is_some());
    }
}
