//! The extension conformance checker: runs an executable through the standard actions with
//! synthetic but realistic payloads and reports, per action, whether Trellis could use the reply.
//!
//! It drives the executable through the same [`Runner`] the server uses, so what passes here
//! passes there: same argv, environment, payload file, timeouts and output caps.

use crate::executable::{inspect_executable, ExecutableState};
use crate::{Invocation, RunError, Runner};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use trellis_ext_protocol::{
    action, parse_console_output, parse_status_output, parse_statuses_output, Caller,
    ExternalDetails, Nic, Payload, PowerState, VirtualMachine,
};

/// The standard actions in the order a real instance goes through them.
pub const LIFECYCLE_ORDER: [&str; 9] = [
    action::PREPARE,
    action::CREATE,
    action::STATUS,
    action::STATUSES,
    action::STOP,
    action::START,
    action::REBOOT,
    action::GETCONSOLE,
    action::DELETE,
];

/// The name of the synthetic instance.
pub const INSTANCE_NAME: &str = "i-2-10-VM";

/// What to check and with which details.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckOptions {
    pub executable: PathBuf,
    /// Per action.
    pub timeout: Duration,
    /// `externaldetails.extension`.
    pub extension_details: BTreeMap<String, String>,
    /// `externaldetails.host`.
    pub host_details: BTreeMap<String, String>,
    /// Instance details: `External:<key>` in the instance's details and `<key>` in
    /// `externaldetails.virtualmachine`.
    pub vm_details: BTreeMap<String, String>,
    /// Only these actions (standard ones run in lifecycle order, any other name runs afterwards
    /// as a custom action); `None` means every standard action.
    pub actions: Option<Vec<String>>,
}

impl CheckOptions {
    /// Every standard action, no details, 60 s per action.
    pub fn new(executable: impl Into<PathBuf>) -> CheckOptions {
        CheckOptions {
            executable: executable.into(),
            timeout: Duration::from_secs(60),
            extension_details: BTreeMap::new(),
            host_details: BTreeMap::new(),
            vm_details: BTreeMap::new(),
            actions: None,
        }
    }
}

/// How one action fared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The reply is what Trellis expects.
    Pass,
    /// Usable, but probably not what the author meant (e.g. `status` reported an unknown state).
    Warn,
    /// The extension declined an optional action (`getconsole`, `statuses`) with a non-zero exit.
    Unsupported,
    /// Trellis could not use the reply.
    Fail,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Warn => "warn",
            Verdict::Unsupported => "unsupported",
            Verdict::Fail => "fail",
        }
    }
}

/// The result of one action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionCheck {
    pub action: String,
    pub verdict: Verdict,
    /// `None` when the process did not exit by itself (not started, timed out, killed).
    pub exit_code: Option<i32>,
    pub elapsed: Duration,
    /// What was observed, in words.
    pub note: String,
    pub stderr_tail: String,
}

/// The result of a check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckReport {
    pub executable: PathBuf,
    pub executable_state: ExecutableState,
    pub actions: Vec<ActionCheck>,
}

impl CheckReport {
    /// The executable is usable and no action failed (warnings and unsupported optional actions
    /// are acceptable).
    pub fn passed(&self) -> bool {
        self.executable_state.problem.is_none()
            && !self.actions.is_empty()
            && self
                .actions
                .iter()
                .all(|check| check.verdict != Verdict::Fail)
    }

    /// How many actions got `verdict`.
    pub fn count_of(&self, verdict: Verdict) -> usize {
        self.actions
            .iter()
            .filter(|check| check.verdict == verdict)
            .count()
    }

    /// A table for terminals.
    pub fn render_text(&self) -> String {
        let mut text = String::new();
        let _ = writeln!(text, "Extension check: {}", self.executable.display());
        if let Some(sha512) = &self.executable_state.sha512 {
            let _ = writeln!(text, "SHA-512: {sha512}");
        }
        if let Some(problem) = &self.executable_state.problem {
            let _ = writeln!(text, "Executable {problem}");
            let _ = writeln!(text, "FAILED: the executable cannot be run");
            return text;
        }
        let action_width = self
            .actions
            .iter()
            .map(|check| check.action.len())
            .max()
            .unwrap_or(0)
            .max("ACTION".len());
        let _ = writeln!(text);
        let _ = writeln!(
            text,
            "{:<action_width$}  {:<11}  {:>4}  {:>9}  NOTE",
            "ACTION", "RESULT", "EXIT", "TIME"
        );
        for check in &self.actions {
            let exit = check
                .exit_code
                .map_or_else(|| "-".to_owned(), |code| code.to_string());
            let _ = writeln!(
                text,
                "{:<action_width$}  {:<11}  {:>4}  {:>9}  {}",
                check.action,
                check.verdict.as_str(),
                exit,
                format_elapsed(check.elapsed),
                check.note
            );
        }
        let _ = writeln!(text);
        let _ = writeln!(
            text,
            "{}: {} pass, {} warn, {} unsupported, {} fail",
            if self.passed() { "PASSED" } else { "FAILED" },
            self.count_of(Verdict::Pass),
            self.count_of(Verdict::Warn),
            self.count_of(Verdict::Unsupported),
            self.count_of(Verdict::Fail)
        );
        text
    }

    /// The same as a JSON document.
    pub fn render_json(&self) -> String {
        let actions: Vec<Value> = self
            .actions
            .iter()
            .map(|check| {
                json!({
                    "action": check.action,
                    "result": check.verdict.as_str(),
                    "exit_code": check.exit_code,
                    "elapsed_ms": u64::try_from(check.elapsed.as_millis()).unwrap_or(u64::MAX),
                    "note": check.note,
                    "stderr_tail": check.stderr_tail,
                })
            })
            .collect();
        let report = json!({
            "executable": self.executable.display().to_string(),
            "sha512": self.executable_state.sha512,
            "problem": self.executable_state.problem,
            "passed": self.passed(),
            "actions": actions,
        });
        serde_json::to_string_pretty(&report).unwrap_or_default()
    }
}

fn format_elapsed(elapsed: Duration) -> String {
    if elapsed < Duration::from_secs(1) {
        format!("{} ms", elapsed.as_millis())
    } else {
        format!("{:.2} s", elapsed.as_secs_f64())
    }
}

/// Run the executable through the actions of `options` and report on each.
pub async fn check_extension(runner: &Runner, options: CheckOptions) -> CheckReport {
    let path = options.executable.clone();
    let executable_state =
        match tokio::task::spawn_blocking(move || inspect_executable(&path)).await {
            Ok(state) => state,
            Err(_) => inspect_executable(&options.executable),
        };
    let mut report = CheckReport {
        executable: options.executable.clone(),
        executable_state,
        actions: Vec::new(),
    };
    if report.executable_state.problem.is_some() {
        return report;
    }

    let extension = options.executable.file_name().map_or_else(
        || "extension".to_owned(),
        |name| name.to_string_lossy().into_owned(),
    );
    let mut fixture = Fixture::new(&options);
    for action_name in planned_actions(options.actions.as_deref()) {
        let payload = fixture.payload(&action_name);
        let invocation = Invocation {
            extension: extension.clone(),
            executable: options.executable.clone(),
            action: action_name.clone(),
            payload,
            timeout: options.timeout,
            host_key: None,
            secrets: Default::default(),
        };
        let started = Instant::now();
        let result = runner.run(invocation).await;
        let elapsed = started.elapsed();
        let check = match result {
            Ok(output) => {
                let (verdict, note) = judge_success(&action_name, &output.stdout, &mut fixture);
                let note = if output.stdout_truncated {
                    format!("{note} (stdout truncated)")
                } else {
                    note
                };
                ActionCheck {
                    action: action_name,
                    verdict,
                    exit_code: Some(0),
                    elapsed: output.elapsed,
                    note,
                    stderr_tail: output.stderr_tail,
                }
            }
            Err(error) => judge_failure(action_name, &error, elapsed),
        };
        report.actions.push(check);
    }
    report
}

/// Standard actions in lifecycle order, then custom ones in the order given.
fn planned_actions(selected: Option<&[String]>) -> Vec<String> {
    let Some(selected) = selected else {
        return LIFECYCLE_ORDER
            .iter()
            .map(|name| (*name).to_owned())
            .collect();
    };
    let mut planned: Vec<String> = LIFECYCLE_ORDER
        .iter()
        .filter(|name| selected.iter().any(|chosen| chosen == *name))
        .map(|name| (*name).to_owned())
        .collect();
    for chosen in selected {
        if !planned.contains(chosen) {
            planned.push(chosen.clone());
        }
    }
    planned
}

fn judge_success(action_name: &str, stdout: &str, fixture: &mut Fixture) -> (Verdict, String) {
    match action_name {
        action::PREPARE => {
            let trimmed = stdout.trim();
            if trimmed.is_empty() {
                return (Verdict::Pass, "no changes".to_owned());
            }
            match serde_json::from_str::<Value>(trimmed) {
                Ok(Value::Object(patch)) => {
                    let keys: Vec<&str> = patch.keys().map(String::as_str).collect();
                    let note = if keys.is_empty() {
                        "empty patch".to_owned()
                    } else {
                        format!("patch: {}", keys.join(", "))
                    };
                    fixture.apply_prepare_patch(&Value::Object(patch.clone()));
                    (Verdict::Pass, note)
                }
                Ok(_) => (
                    Verdict::Fail,
                    "prepare must print nothing or a JSON object".to_owned(),
                ),
                Err(_) => (
                    Verdict::Fail,
                    format!(
                        "not JSON (Trellis fails with \"Failed to parse VM\"): {}",
                        excerpt(trimmed)
                    ),
                ),
            }
        }
        action::STATUS => match parse_status_output(stdout) {
            PowerState::PowerUnknown => (
                Verdict::Warn,
                format!(
                    "power state unknown; expected poweron or poweroff, got {}",
                    excerpt_or_empty(stdout)
                ),
            ),
            state => (Verdict::Pass, state.wire().to_owned()),
        },
        action::STATUSES => match parse_statuses_output(stdout) {
            Some(states) => match states.get(INSTANCE_NAME) {
                Some(PowerState::PowerUnknown) => (
                    Verdict::Warn,
                    format!(
                        "{INSTANCE_NAME} unknown ({} instances reported)",
                        states.len()
                    ),
                ),
                Some(state) => (
                    Verdict::Pass,
                    format!(
                        "{INSTANCE_NAME} {} ({} instances reported)",
                        state.wire(),
                        states.len()
                    ),
                ),
                None => (
                    Verdict::Warn,
                    format!(
                        "{INSTANCE_NAME} missing from the map ({} instances reported)",
                        states.len()
                    ),
                ),
            },
            None => (
                Verdict::Fail,
                format!(
                    "expected {{\"power_state\": {{\"<name>\": \"poweron\", ...}}}}, got {}",
                    excerpt_or_empty(stdout)
                ),
            ),
        },
        action::GETCONSOLE => match parse_console_output(stdout) {
            Ok(console) => {
                let protocol = console.protocol.as_deref().unwrap_or("unspecified");
                let endpoint = match (&console.url, &console.host, &console.port) {
                    (Some(url), _, _) => url.clone(),
                    (None, Some(host), Some(port)) => format!(
                        "{host}:{}",
                        port.as_str()
                            .map_or_else(|| port.to_string(), str::to_owned)
                    ),
                    _ => String::new(),
                };
                (Verdict::Pass, format!("{protocol} console {endpoint}"))
            }
            Err(error) => (Verdict::Fail, error.to_string()),
        },
        action::CREATE | action::START | action::STOP | action::REBOOT | action::DELETE => {
            (Verdict::Pass, "ok".to_owned())
        }
        _ => (
            Verdict::Pass,
            format!("output: {}", excerpt_or_empty(stdout)),
        ),
    }
}

fn judge_failure(action_name: String, error: &RunError, elapsed: Duration) -> ActionCheck {
    let stderr_tail = error.stderr_tail().unwrap_or_default().to_owned();
    let (verdict, exit_code, note) = match error {
        RunError::Exited { code, .. } => {
            let output = error.details();
            let optional = action_name == action::GETCONSOLE || action_name == action::STATUSES;
            if optional {
                let meaning = if action_name == action::GETCONSOLE {
                    "console access not offered"
                } else {
                    "Trellis falls back to one status call per instance"
                };
                (
                    Verdict::Unsupported,
                    Some(*code),
                    format!("{meaning} ({})", excerpt(&output)),
                )
            } else {
                (Verdict::Fail, Some(*code), excerpt(&output))
            }
        }
        RunError::TimedOut { after, .. } => (
            Verdict::Fail,
            None,
            format!(
                "timed out after {}; the process group was terminated",
                crate::error::format_duration(*after)
            ),
        ),
        other => (Verdict::Fail, None, error_chain(other)),
    };
    ActionCheck {
        action: action_name,
        verdict,
        exit_code,
        elapsed,
        note,
        stderr_tail,
    }
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let _ = write!(text, ": {cause}");
        source = cause.source();
    }
    text
}

fn excerpt(text: &str) -> String {
    let line = text.trim().lines().next().unwrap_or_default();
    let mut short: String = line.chars().take(100).collect();
    if short.len() < line.len() {
        short.push('…');
    }
    short
}

fn excerpt_or_empty(text: &str) -> String {
    let short = excerpt(text);
    if short.is_empty() {
        "empty output".to_owned()
    } else {
        short
    }
}

/// The synthetic instance and the details that go with it; `prepare`'s patch is applied to it, as
/// the server would.
struct Fixture {
    instance_uuid: String,
    caller: Caller,
    extension_details: BTreeMap<String, String>,
    host_details: BTreeMap<String, String>,
    /// The instance transfer object as JSON, after any `prepare` patch.
    instance: Value,
}

impl Fixture {
    fn new(options: &CheckOptions) -> Fixture {
        let instance_uuid = uuid::Uuid::new_v4().to_string();
        let nic = Nic {
            uuid: uuid::Uuid::new_v4().to_string(),
            device_id: 0,
            default_nic: true,
            mac: Some("02:00:4c:5e:00:0a".to_owned()),
            ip: Some("10.1.1.23".to_owned()),
            netmask: Some("255.255.255.0".to_owned()),
            gateway: Some("10.1.1.1".to_owned()),
            dns1: Some("10.1.1.1".to_owned()),
            broadcast_type: Some("Vlan".to_owned()),
            broadcast_uri: Some("vlan://100".to_owned()),
            isolation_uri: Some("vlan://100".to_owned()),
            traffic_type: Some("Guest".to_owned()),
            network_rate_mbps: Some(200),
            mtu: Some(1500),
            network_id: Some(204),
            network_segment_name: Some("D1-A2-Z1-S204".to_owned()),
            details: Some(
                [
                    "PromiscuousMode",
                    "MacAddressChanges",
                    "ForgedTransmits",
                    "MacLearning",
                ]
                .iter()
                .map(|key| ((*key).to_owned(), "false".to_owned()))
                .collect(),
            ),
            ..Nic::default()
        };
        let details = options
            .vm_details
            .iter()
            .map(|(key, value)| (format!("External:{key}"), value.clone()))
            .collect();
        let instance = VirtualMachine {
            id: 10,
            uuid: instance_uuid.clone(),
            name: INSTANCE_NAME.to_owned(),
            vm_type: "User".to_owned(),
            state: "Starting".to_owned(),
            cpus: 1,
            min_speed: Some(1000),
            max_speed: Some(1000),
            min_ram: 512 * 1024 * 1024,
            max_ram: 512 * 1024 * 1024,
            arch: Some("x86_64".to_owned()),
            vnc_password: Some("Xk9pQ2vR7sT4".to_owned()),
            boot_type: Some("BIOS".to_owned()),
            boot_mode: Some("LEGACY".to_owned()),
            details,
            nics: vec![nic],
            disks: Vec::new(),
            guest_os_details: Some(BTreeMap::new()),
            extra_config: Some(BTreeMap::new()),
            network_id_to_network_name_map: Some(BTreeMap::new()),
            config_drive_location: Some("SECONDARY".to_owned()),
            ..VirtualMachine::default()
        };
        Fixture {
            instance_uuid,
            caller: Caller {
                id: uuid::Uuid::new_v4().to_string(),
                name: "admin".to_owned(),
                account_type: "ADMIN".to_owned(),
                roleid: uuid::Uuid::new_v4().to_string(),
                rolename: "Root Admin".to_owned(),
                roletype: "Admin".to_owned(),
            },
            extension_details: options.extension_details.clone(),
            host_details: options.host_details.clone(),
            instance: serde_json::to_value(instance).unwrap_or(Value::Null),
        }
    }

    fn apply_prepare_patch(&mut self, patch: &Value) {
        merge_patch(&mut self.instance, patch);
    }

    fn payload(&self, action_name: &str) -> Vec<u8> {
        let mut instance = self.instance.clone();
        let (state, with_nics, deploy) = match action_name {
            action::PREPARE | action::CREATE => ("Starting", true, true),
            action::START => ("Starting", true, false),
            action::REBOOT => ("Running", true, false),
            action::STOP => ("Stopping", false, false),
            action::DELETE => ("Expunging", false, false),
            _ => ("Running", false, false),
        };
        if let Value::Object(fields) = &mut instance {
            fields.insert("state".to_owned(), Value::from(state));
            if !with_nics {
                fields.insert("nics".to_owned(), Value::Array(Vec::new()));
            }
            if matches!(
                action_name,
                action::STOP | action::GETCONSOLE | action::DELETE
            ) {
                for key in ["guestOsDetails", "extraConfig", "networkIdToNetworkNameMap"] {
                    fields.remove(key);
                }
            }
            if let Some(Value::Object(details)) = fields.get_mut("details") {
                if deploy {
                    details.insert("deployvm".to_owned(), Value::from("true"));
                }
                if action_name == action::DELETE {
                    details.insert("expunge.external.vm".to_owned(), Value::from("true"));
                }
            }
        }

        // `External:` details of the instance reach the extension stripped, in
        // `externaldetails.virtualmachine`; create and start also carry the default NIC's VLAN.
        let mut virtualmachine: BTreeMap<String, String> = instance
            .get("details")
            .and_then(Value::as_object)
            .map(|details| {
                details
                    .iter()
                    .filter_map(|(key, value)| {
                        let key = key.strip_prefix("External:")?;
                        Some((
                            key.to_owned(),
                            value
                                .as_str()
                                .map_or_else(|| value.to_string(), str::to_owned),
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default();
        if matches!(action_name, action::CREATE | action::START) {
            virtualmachine.insert("cloudstack.vlan".to_owned(), "100".to_owned());
        }

        let statuses = action_name == action::STATUSES;
        let standard = trellis_ext_protocol::action::ALL.contains(&action_name);
        let payload = Payload {
            externaldetails: Some(ExternalDetails {
                extension: non_empty(&self.extension_details),
                resourcemap: None,
                host: non_empty(&self.host_details),
                virtualmachine: if statuses { None } else { Some(virtualmachine) },
                action: None,
            }),
            caller: Some(self.caller.clone()),
            virtualmachineid: (!statuses).then(|| self.instance_uuid.clone()),
            virtualmachinename: (!statuses).then(|| INSTANCE_NAME.to_owned()),
            vm: None,
            action: (!standard).then(|| action_name.to_owned()),
            parameters: (!standard).then(Map::new),
            virtualmachines: statuses
                .then(|| BTreeMap::from([(INSTANCE_NAME.to_owned(), self.instance_uuid.clone())])),
        };
        let mut document = serde_json::to_value(payload).unwrap_or(Value::Null);
        if let (false, Value::Object(fields)) = (statuses, &mut document) {
            fields.insert("cloudstack.vm.details".to_owned(), instance);
        }
        serde_json::to_vec(&document).unwrap_or_default()
    }
}

fn non_empty(map: &BTreeMap<String, String>) -> Option<BTreeMap<String, String>> {
    (!map.is_empty()).then(|| map.clone())
}

/// Deep-merge `patch` into `target` the way the server applies `prepare` output: objects merge
/// recursively, arrays whose elements all are objects with a `uuid` merge element by element
/// (unmatched ones appended), anything else is replaced.
fn merge_patch(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(target_fields), Value::Object(patch_fields)) => {
            for (key, patch_value) in patch_fields {
                match target_fields.get_mut(key) {
                    Some(target_value) => merge_patch(target_value, patch_value),
                    None => {
                        target_fields.insert(key.clone(), patch_value.clone());
                    }
                }
            }
        }
        (Value::Array(target_items), Value::Array(patch_items))
            if all_have_uuid(target_items) && all_have_uuid(patch_items) =>
        {
            for patch_item in patch_items {
                let uuid = &patch_item["uuid"];
                match target_items.iter_mut().find(|item| &item["uuid"] == uuid) {
                    Some(target_item) => merge_patch(target_item, patch_item),
                    None => target_items.push(patch_item.clone()),
                }
            }
        }
        (target, patch) => *target = patch.clone(),
    }
}

fn all_have_uuid(items: &[Value]) -> bool {
    items.iter().all(|item| item.get("uuid").is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_patch_merges_nics_by_uuid() {
        let mut target =
            json!({"details": {"a": "1"}, "nics": [{"uuid": "n1", "mac": "x"}], "cpus": 1});
        merge_patch(
            &mut target,
            &json!({"details": {"b": "2"}, "nics": [{"uuid": "n1", "mac": "y"}, {"uuid": "n2"}], "cpus": 2}),
        );
        assert_eq!(
            target,
            json!({"details": {"a": "1", "b": "2"}, "nics": [{"uuid": "n1", "mac": "y"}, {"uuid": "n2"}], "cpus": 2})
        );
        let mut target = json!({"list": [1, 2]});
        merge_patch(&mut target, &json!({"list": [3]}));
        assert_eq!(target, json!({"list": [3]}));
    }

    #[test]
    fn actions_are_planned_in_lifecycle_order() {
        let chosen = vec![
            "delete".to_owned(),
            "snapshot".to_owned(),
            "create".to_owned(),
        ];
        assert_eq!(
            planned_actions(Some(&chosen)),
            vec!["create", "delete", "snapshot"]
        );
        assert_eq!(
            planned_actions(None).len(),
            trellis_ext_protocol::action::ALL.len()
        );
    }

    #[test]
    fn payloads_follow_the_action() {
        let mut options = CheckOptions::new("/nonexistent");
        options
            .vm_details
            .insert("template_id".to_owned(), "9000".to_owned());
        options
            .host_details
            .insert("node".to_owned(), "pve1".to_owned());
        let mut fixture = Fixture::new(&options);
        fixture.apply_prepare_patch(&json!({"details": {"External:vmid": "105"}}));

        let create: Value = serde_json::from_slice(&fixture.payload(action::CREATE)).unwrap();
        assert_eq!(create["virtualmachinename"], INSTANCE_NAME);
        assert_eq!(create["externaldetails"]["host"]["node"], "pve1");
        assert_eq!(
            create["externaldetails"]["virtualmachine"]["template_id"],
            "9000"
        );
        assert_eq!(create["externaldetails"]["virtualmachine"]["vmid"], "105");
        assert_eq!(
            create["externaldetails"]["virtualmachine"]["cloudstack.vlan"],
            "100"
        );
        assert_eq!(
            create["cloudstack.vm.details"]["details"]["deployvm"],
            "true"
        );
        assert_eq!(
            create["cloudstack.vm.details"]["nics"][0]["broadcastUri"],
            "vlan://100"
        );
        assert_eq!(create["cloudstack.vm.details"]["minRam"], 536_870_912);

        let stop: Value = serde_json::from_slice(&fixture.payload(action::STOP)).unwrap();
        assert_eq!(stop["cloudstack.vm.details"]["state"], "Stopping");
        assert_eq!(stop["cloudstack.vm.details"]["nics"], json!([]));
        assert!(stop["cloudstack.vm.details"].get("extraConfig").is_none());

        let statuses: Value = serde_json::from_slice(&fixture.payload(action::STATUSES)).unwrap();
        assert!(statuses.get("cloudstack.vm.details").is_none());
        assert!(statuses["virtualmachines"].get(INSTANCE_NAME).is_some());

        let custom: Value = serde_json::from_slice(&fixture.payload("Snapshot")).unwrap();
        assert_eq!(custom["action"], "Snapshot");
        assert_eq!(custom["parameters"], json!({}));
    }
}
