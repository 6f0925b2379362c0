//! The actions: each validates its input, runs PowerShell on the Hyper-V host over one WinRM
//! shell, and answers with the JSON reply or a failure carrying an exit code.

use crate::powershell::{self as ps, CreateSpec, NOT_FOUND};
use crate::settings::{self, Instance, Invalid};
use serde_json::{json, Map, Value};
use std::time::Duration;
use tokio::time::Instant;
use trellis_ext_protocol::{exit, Payload, PowerState};
use trellis_extkit::{error_chain, ActionFailure, PayloadError, UsageError};
use trellis_winrm::{CommandOutput, Shell, WinrmClient, WinrmError};

/// A failed action: the exit code and the message for the error reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub code: i32,
    pub message: String,
}

impl Failure {
    fn new(code: i32, message: impl Into<String>) -> Failure {
        Failure {
            code,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

impl ActionFailure for Failure {
    fn exit_code(&self) -> i32 {
        self.code
    }
}

impl From<UsageError> for Failure {
    fn from(error: UsageError) -> Failure {
        Failure::new(exit::USAGE, error.to_string())
    }
}

impl From<PayloadError> for Failure {
    fn from(error: PayloadError) -> Failure {
        Failure::new(exit::USAGE, error_chain(&error))
    }
}

impl From<Invalid> for Failure {
    fn from(invalid: Invalid) -> Failure {
        match invalid {
            Invalid::Config(message) => Failure::new(exit::CONFIG, message),
            Invalid::Usage(message) => Failure::new(exit::USAGE, message),
        }
    }
}

impl From<WinrmError> for Failure {
    fn from(error: WinrmError) -> Failure {
        let code = match &error {
            e if e.is_timeout() => exit::TIMED_OUT,
            e if e.is_unreachable() => exit::UNREACHABLE,
            WinrmError::InvalidEndpoint { .. } | WinrmError::InvalidCaCertificate { .. } => {
                exit::CONFIG
            }
            _ => exit::FAILED,
        };
        Failure::new(code, error_chain(&error))
    }
}

/// Time allowed for removing a half-created instance, even past the deadline.
const ROLLBACK_BUDGET: Duration = Duration::from_secs(15);

/// A WinRM client with one lazily opened shell for all scripts of an action.
struct Session {
    client: WinrmClient,
    shell: Option<Shell>,
    deadline: Option<Instant>,
}

impl Session {
    async fn run(&mut self, script: &str) -> Result<CommandOutput, WinrmError> {
        self.run_until(script, self.deadline).await
    }

    async fn run_until(
        &mut self,
        script: &str,
        deadline: Option<Instant>,
    ) -> Result<CommandOutput, WinrmError> {
        if self.shell.is_none() {
            self.shell = Some(self.client.open_shell(deadline).await?);
        }
        let shell = self.shell.clone().expect("opened above");
        self.client.run_powershell(&shell, script, deadline).await
    }

    /// Runs a script that must succeed; returns its stdout.
    async fn run_ok(&mut self, script: &str) -> Result<String, Failure> {
        let output = self.run(script).await?;
        if output.is_success() {
            Ok(output.stdout)
        } else {
            Err(Failure::new(exit::FAILED, output.error_summary()))
        }
    }

    async fn close(&mut self) {
        if let Some(shell) = self.shell.take() {
            // Best effort: the service reaps idle shells on its own.
            let _ = self
                .client
                .close_shell(shell, Some(Instant::now() + Duration::from_secs(5)))
                .await;
        }
    }
}

fn success(message: &str) -> Value {
    json!({"status": "success", "message": message})
}

/// Hyper-V has no channel to hand SSH keys or user data to a guest (no metadata service, no
/// config drive): when the instance has either, the create result says they were not delivered,
/// rather than dropping them without a word.
fn with_undelivered_guest_data(mut out: Value, payload: &Payload) -> Value {
    let vm = payload.vm.as_ref();
    let keys = vm.is_some_and(|vm| {
        vm.details
            .get("SSH.PublicKey")
            .is_some_and(|k| !k.trim().is_empty())
    });
    let user_data = vm.is_some_and(|vm| {
        vm.user_data
            .as_deref()
            .is_some_and(|u| !u.trim().is_empty())
    });
    let what = match (keys, user_data) {
        (true, true) => "SSH keys and user data",
        (true, false) => "SSH keys",
        (false, true) => "user data",
        (false, false) => return out,
    };
    out["warning"] = json!(format!(
        "the instance's {what} were not delivered: Hyper-V has no channel to hand them to the guest (bake them into the template's image)"
    ));
    out
}

/// Runs `action` (any case) for `payload`.
pub async fn run(
    action: &str,
    payload: &Payload,
    deadline: Option<Instant>,
    operation_timeout: Duration,
) -> Result<Value, Failure> {
    let action = action.to_ascii_lowercase();
    match action.as_str() {
        // Hyper-V needs no preparation; an empty merge patch changes nothing.
        "prepare" => return Ok(json!({})),
        "getconsole" => {
            return Err(Failure::new(
                exit::UNSUPPORTED,
                "getconsole is not supported by the hyper-v extension",
            ))
        }
        "create" | "start" | "stop" | "reboot" | "delete" | "status" | "statuses" | "suspend"
        | "resume" | "listsnapshots" | "createsnapshot" | "restoresnapshot" | "deletesnapshot" => {}
        other => {
            return Err(Failure::new(
                exit::USAGE,
                format!("unknown action '{other}'"),
            ))
        }
    }
    // Validate everything before talking to the host.
    let details = payload.details();
    let client_config = settings::client_config(&details, operation_timeout)?;
    let instance = match action.as_str() {
        "statuses" => None,
        _ => Some(settings::instance(payload)?),
    };
    let snapshot = match action.as_str() {
        "createsnapshot" | "restoresnapshot" | "deletesnapshot" => {
            Some(settings::snapshot_name(payload)?)
        }
        _ => None,
    };
    let plan = match (&instance, action.as_str()) {
        (Some(instance), "create") => Some(settings::create_plan(payload, instance)?),
        _ => None,
    };
    let mut session = Session {
        client: WinrmClient::new(client_config)?,
        shell: None,
        deadline,
    };
    let result = match (action.as_str(), instance, snapshot, plan) {
        ("statuses", _, _, _) => statuses(&mut session, payload).await,
        ("create", Some(instance), _, Some(plan)) => create(&mut session, &instance, &plan)
            .await
            .map(|out| with_undelivered_guest_data(out, payload)),
        ("delete", Some(instance), _, _) => delete(&mut session, payload, &instance).await,
        ("status", Some(instance), _, _) => status(&mut session, &instance).await,
        ("start", Some(instance), _, _) => session
            .run_ok(&ps::start(&instance.vm_name))
            .await
            .map(|_| success("Instance started")),
        ("stop", Some(instance), _, _) => session
            .run_ok(&ps::stop(&instance.vm_name))
            .await
            .map(|_| success("Instance stopped")),
        ("reboot", Some(instance), _, _) => session
            .run_ok(&ps::reboot(&instance.vm_name))
            .await
            .map(|_| success("Instance rebooted")),
        ("suspend", Some(instance), _, _) => session
            .run_ok(&ps::suspend(&instance.vm_name))
            .await
            .map(|_| success("Instance suspended")),
        ("resume", Some(instance), _, _) => session
            .run_ok(&ps::resume(&instance.vm_name))
            .await
            .map(|_| success("Instance resumed")),
        ("listsnapshots", Some(instance), _, _) => list_snapshots(&mut session, &instance).await,
        ("createsnapshot", Some(instance), Some(name), _) => session
            .run_ok(&ps::create_snapshot(&instance.vm_name, &name))
            .await
            .map(|_| success(&format!("Snapshot '{name}' created"))),
        ("restoresnapshot", Some(instance), Some(name), _) => session
            .run_ok(&ps::restore_snapshot(&instance.vm_name, &name))
            .await
            .map(|_| success(&format!("Snapshot '{name}' restored"))),
        ("deletesnapshot", Some(instance), Some(name), _) => session
            .run_ok(&ps::delete_snapshot(&instance.vm_name, &name))
            .await
            .map(|_| success(&format!("Snapshot '{name}' deleted"))),
        _ => Err(Failure::new(
            exit::USAGE,
            format!("cannot run action '{action}' with this payload"),
        )),
    };
    session.close().await;
    result
}

/// `Running`/`Paused` → on, `Off`/`Saved` → off, transitional states → unknown.
fn power_state(state: &str) -> PowerState {
    match state.trim().to_ascii_lowercase().as_str() {
        "running" | "paused" => PowerState::PowerOn,
        "off" | "saved" => PowerState::PowerOff,
        _ => PowerState::PowerUnknown,
    }
}

async fn status(session: &mut Session, instance: &Instance) -> Result<Value, Failure> {
    let state = session.run_ok(&ps::state(&instance.vm_name)).await?;
    let state = state.trim();
    if state == NOT_FOUND {
        // Nothing to report a power state for; the server keeps what it knows.
        return Ok(json!({
            "status": "success",
            "power_state": PowerState::PowerUnknown.wire(),
            "message": format!("vm '{}' was not found on the hyper-v host", instance.vm_name),
        }));
    }
    Ok(json!({"status": "success", "power_state": power_state(state).wire()}))
}

/// `ConvertTo-Json` output as a list: an array, a single object, or nothing at all.
fn json_list(stdout: &str) -> Result<Vec<Value>, Failure> {
    let text = stdout.trim();
    if text.is_empty() {
        return Ok(Vec::new());
    }
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Array(items)) => Ok(items),
        Ok(Value::Null) => Ok(Vec::new()),
        Ok(other) => Ok(vec![other]),
        Err(_) => Err(Failure::new(
            exit::FAILED,
            "the hyper-v host answered with malformed json",
        )),
    }
}

async fn statuses(session: &mut Session, payload: &Payload) -> Result<Value, Failure> {
    let stdout = session.run_ok(&ps::all_states()).await?;
    let mut states = Map::new();
    for item in json_list(&stdout)? {
        let (Some(name), Some(state)) = (
            item.get("Name").and_then(Value::as_str),
            item.get("State").and_then(Value::as_str),
        ) else {
            continue;
        };
        // Only VMs made by this extension (`<internal name>-<uuid>`) are reported.
        let Some((internal, uuid)) = settings::split_vm_name(name) else {
            continue;
        };
        if let Some(expected) = &payload.virtualmachines {
            match expected.get(internal) {
                Some(expected_uuid) if expected_uuid.eq_ignore_ascii_case(uuid) => {}
                _ => continue,
            }
        }
        states.insert(
            internal.to_string(),
            Value::String(power_state(state).wire().to_string()),
        );
    }
    Ok(json!({"status": "success", "power_state": states}))
}

async fn list_snapshots(session: &mut Session, instance: &Instance) -> Result<Value, Failure> {
    let stdout = session
        .run_ok(&ps::list_snapshots(&instance.vm_name))
        .await?;
    let snapshots = json_list(&stdout)?;
    Ok(json!({"status": "success", "printmessage": "true", "message": snapshots}))
}

/// The disk paths this extension may have created for the instance.
fn disk_candidates(payload: &Payload, instance: &Instance) -> Result<Vec<String>, Failure> {
    let details = payload.details();
    let mut paths = Vec::new();
    for extension in ["vhdx", "vhd"] {
        if let Some(path) = settings::vhd_location(&details, &instance.vm_name, extension)? {
            paths.push(path);
        }
    }
    Ok(paths)
}

async fn delete(
    session: &mut Session,
    payload: &Payload,
    instance: &Instance,
) -> Result<Value, Failure> {
    let disks = disk_candidates(payload, instance)?;
    let (_, directory) = settings::vm_directory(&payload.details(), &instance.vm_name)?;
    session
        .run_ok(&ps::delete(&instance.vm_name, &disks, directory.as_deref()))
        .await?;
    Ok(success("Instance deleted"))
}

async fn create(
    session: &mut Session,
    instance: &Instance,
    plan: &settings::CreatePlan,
) -> Result<Value, Failure> {
    let vm = instance.vm_name.as_str();
    let cleanup = ps::delete(
        vm,
        std::slice::from_ref(&plan.vhd),
        plan.vm_directory.as_deref(),
    );
    let state = session.run_ok(&ps::state(vm)).await?;
    match state.trim() {
        NOT_FOUND => {}
        // A stopped VM of this name is what an interrupted earlier attempt leaves behind.
        "Off" | "Saved" => {
            session.run_ok(&cleanup).await?;
        }
        // Running (or paused): an earlier attempt completed; creating is done.
        _ => return Ok(success("Instance created")),
    }
    let spec = CreateSpec {
        vm,
        switch: &plan.switch,
        vhd: &plan.vhd,
        vm_path: plan.vm_path.as_deref(),
        disk: plan.disk(),
        generation: plan.generation,
        memory_bytes: plan.memory_bytes,
        cpus: plan.cpus,
        secure_boot: plan.secure_boot,
        adapters: plan.adapters.clone(),
    };
    let mut statements = ps::create_statements(&spec);
    statements.push(ps::start_statement(vm));
    let scripts = ps::pack(&statements).ok_or_else(|| {
        Failure::new(
            exit::CONFIG,
            "a path or name is too long for the remote command line",
        )
    })?;
    for script in &scripts {
        let failure = match session.run(script).await {
            Ok(output) if output.is_success() => continue,
            Ok(output) => Failure::new(exit::FAILED, output.error_summary()),
            Err(error) => Failure::from(error),
        };
        return Err(roll_back(session, &cleanup, failure).await);
    }
    Ok(success("Instance created"))
}

/// Removes what a failed create left behind and says so in the failure.
async fn roll_back(session: &mut Session, cleanup: &str, failure: Failure) -> Failure {
    let budget = Some(Instant::now() + ROLLBACK_BUDGET);
    let note = match session.run_until(cleanup, budget).await {
        Ok(output) if output.is_success() => "the partly created instance was removed".to_string(),
        Ok(output) => format!(
            "removing the partly created instance failed too: {}",
            output.error_summary()
        ),
        Err(error) => format!(
            "removing the partly created instance failed too: {}",
            error_chain(&error)
        ),
    };
    Failure {
        code: failure.code,
        message: format!("{} ({note})", failure.message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_user_data_the_guest_cannot_get_are_named_in_the_result() {
        let mut vm = trellis_ext_protocol::VirtualMachine {
            user_data: Some("I2Nsb3VkLWNvbmZpZwo=".into()),
            ..Default::default()
        };
        vm.details
            .insert("SSH.PublicKey".into(), "ssh-ed25519 AAAA a@b".into());
        let mut payload = Payload {
            vm: Some(vm),
            ..Default::default()
        };
        let out = with_undelivered_guest_data(success("Instance created"), &payload);
        assert!(
            out["warning"]
                .as_str()
                .unwrap()
                .contains("SSH keys and user data were not delivered"),
            "{out}"
        );
        payload.vm.as_mut().unwrap().user_data = None;
        let out = with_undelivered_guest_data(success("Instance created"), &payload);
        assert!(
            out["warning"]
                .as_str()
                .unwrap()
                .contains("SSH keys were not delivered"),
            "{out}"
        );
        payload.vm.as_mut().unwrap().details.clear();
        let out = with_undelivered_guest_data(success("Instance created"), &payload);
        assert!(out.get("warning").is_none(), "{out}");
    }

    #[test]
    fn power_states() {
        assert_eq!(power_state("Running"), PowerState::PowerOn);
        assert_eq!(power_state("Paused"), PowerState::PowerOn);
        assert_eq!(power_state("Off\r\n"), PowerState::PowerOff);
        assert_eq!(power_state("Saved"), PowerState::PowerOff);
        assert_eq!(power_state("Starting"), PowerState::PowerUnknown);
    }

    #[test]
    fn json_lists_accept_the_three_shapes() {
        assert_eq!(json_list("").unwrap(), Vec::<Value>::new());
        assert_eq!(json_list("{\"Name\":\"a\"}").unwrap().len(), 1);
        assert_eq!(
            json_list("[{\"Name\":\"a\"},{\"Name\":\"b\"}]")
                .unwrap()
                .len(),
            2
        );
        assert!(json_list("nope").is_err());
    }
}
