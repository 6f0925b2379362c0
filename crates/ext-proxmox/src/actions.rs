//! The actions: what each one asks Proxmox, and what it prints.
//!
//! The instance's VM is identified by its Proxmox name (`vm_name`, else CloudStack's instance
//! name); `proxmox_vmid` from `prepare` is only a hint tried first. So when concurrent deploys
//! race for a VMID and `create` has to take another one, later actions still find the right VM,
//! and a VMID reused by someone else is never mistaken for the instance's.

use crate::client::{segment, PveClient};
use crate::deadline::Deadline;
use crate::error::{ActionError, Cleanup};
use crate::settings::{vm_name, vmid_hint, Connection, CreateSpec, Source};
use reqwest::Method;
use serde_json::{json, Map, Value};
use std::time::Duration;
use trellis_ext_protocol::{Payload, PowerState};

/// How many VMIDs `create` tries when others keep taking them first.
const CREATE_ATTEMPTS: u32 = 20;

/// Time `create` keeps back from its own work to remove a half-created VM.
const CLEANUP_RESERVE: Duration = Duration::from_secs(15);

/// `create` always gets at least this much time for its own work.
const WORK_FLOOR: Duration = Duration::from_secs(5);

/// The actions of this extension: the shared set of the VM-managing built-ins.
pub use trellis_ext_protocol::VmAction as Action;

/// The action called `name`, or the documented "unsupported action" failure.
pub fn parse_action(name: &str) -> Result<Action, ActionError> {
    Action::parse(name).ok_or_else(|| ActionError::Unsupported(name.to_string()))
}

/// Runs `action` and returns what to print on stdout.
pub fn perform(
    action: Action,
    payload: &Payload,
    deadline: Deadline,
) -> Result<Value, ActionError> {
    let connection = Connection::from_details(&payload.details())?;
    if action == Action::Prepare {
        // Fail early on a name Proxmox would refuse at create time.
        vm_name(payload)?;
    }
    let client = PveClient::new(connection, deadline)?;
    let instance = || -> Result<Instance, ActionError> {
        Ok(Instance {
            name: vm_name(payload)?,
            hint: vmid_hint(payload)?,
        })
    };
    match action {
        Action::Prepare => prepare(&client),
        Action::Create => create(&client, payload),
        Action::Statuses => statuses(&client, payload),
        Action::Start => start(&client, &instance()?),
        Action::Stop => stop(&client, &instance()?),
        Action::Reboot => reboot(&client, &instance()?),
        Action::Delete => delete(&client, &instance()?),
        Action::Status => status(&client, &instance()?),
        Action::GetConsole => console(&client, &instance()?, payload),
        Action::ListSnapshots => list_snapshots(&client, &instance()?),
        Action::CreateSnapshot => create_snapshot(&client, &instance()?, payload),
        Action::RestoreSnapshot => restore_snapshot(&client, &instance()?, payload),
        Action::DeleteSnapshot => delete_snapshot(&client, &instance()?, payload),
    }
}

fn success(message: &str, vmid: Option<u32>) -> Value {
    let mut reply = json!({"status": "success", "message": message});
    if let Some(vmid) = vmid {
        reply["proxmox_vmid"] = Value::String(vmid.to_string());
    }
    reply
}

/// A VMID in an answer: Proxmox sends numbers or strings depending on the endpoint and version.
fn vmid_of(value: &Value) -> Option<u32> {
    match value {
        Value::Number(number) => number.as_u64().and_then(|vmid| u32::try_from(vmid).ok()),
        Value::String(text) => text.trim().parse().ok(),
        _ => None,
    }
}

fn is_template(vm: &Value) -> bool {
    match vm.get("template") {
        Some(Value::Number(number)) => number.as_u64() == Some(1),
        Some(Value::String(text)) => text == "1",
        Some(Value::Bool(flag)) => *flag,
        _ => false,
    }
}

fn power_state(vm: &Value) -> PowerState {
    match vm.get("status").and_then(Value::as_str) {
        Some("running") => PowerState::PowerOn,
        Some("stopped") => PowerState::PowerOff,
        _ => PowerState::PowerUnknown,
    }
}

/// The instance an action is about.
struct Instance {
    name: String,
    hint: Option<u32>,
}

/// The instance's VM as found on the node.
struct Located {
    vmid: u32,
    power: PowerState,
}

fn vm_path(client: &PveClient, vmid: u32) -> String {
    format!("{}/qemu/{vmid}", client.node_path())
}

fn next_id(client: &PveClient) -> Result<u32, ActionError> {
    let answer = client.get("/cluster/nextid", &[])?;
    vmid_of(&answer).ok_or_else(|| ActionError::BadAnswer {
        method: "GET".into(),
        path: "/cluster/nextid".into(),
        problem: format!("expected a vmid, got {answer}"),
    })
}

fn list_vms(client: &PveClient) -> Result<Vec<Value>, ActionError> {
    let path = format!("{}/qemu", client.node_path());
    match client.get(&path, &[])? {
        Value::Array(vms) => Ok(vms),
        other => Err(ActionError::BadAnswer {
            method: "GET".into(),
            path,
            problem: format!("expected a list, got {other}"),
        }),
    }
}

/// The non-template VMs named `name`.
fn named(vms: &[Value], name: &str) -> Vec<(u32, PowerState)> {
    vms.iter()
        .filter(|vm| !is_template(vm) && vm.get("name").and_then(Value::as_str) == Some(name))
        .filter_map(|vm| Some((vmid_of(vm.get("vmid")?)?, power_state(vm))))
        .collect()
}

/// Finds the instance's VM: the hinted VMID if it carries the instance's name, else the one VM
/// of that name on the node.
fn locate(client: &PveClient, instance: &Instance) -> Result<Option<Located>, ActionError> {
    if let Some(vmid) = instance.hint {
        match client.get(&format!("{}/status/current", vm_path(client, vmid)), &[]) {
            Ok(current) => {
                if !is_template(&current)
                    && current.get("name").and_then(Value::as_str) == Some(instance.name.as_str())
                {
                    return Ok(Some(Located {
                        vmid,
                        power: power_state(&current),
                    }));
                }
            }
            Err(error) if error.is_missing_vm() => {}
            Err(error) => return Err(error),
        }
    }
    let vms = list_vms(client)?;
    let matches = named(&vms, &instance.name);
    match matches.as_slice() {
        [] => Ok(None),
        [(vmid, power)] => Ok(Some(Located {
            vmid: *vmid,
            power: *power,
        })),
        several => {
            let vmids: Vec<String> = several.iter().map(|(vmid, _)| vmid.to_string()).collect();
            Err(ActionError::Failed(format!(
                "{} vms on node {} are named '{}' (vmids {}); cannot tell which one belongs to the instance",
                several.len(),
                client.node(),
                instance.name,
                vmids.join(", ")
            )))
        }
    }
}

fn located(client: &PveClient, instance: &Instance) -> Result<Located, ActionError> {
    locate(client, instance)?.ok_or_else(|| ActionError::NotFound {
        name: instance.name.clone(),
        node: client.node().to_string(),
    })
}

fn prepare(client: &PveClient) -> Result<Value, ActionError> {
    let vmid = next_id(client).map_err(|error| error.context("cannot pick a vmid"))?;
    Ok(json!({"details": {crate::settings::VMID_DETAIL: vmid.to_string()}}))
}

/// How far a provisioning attempt got before failing.
enum Provision {
    /// Nothing exists on Proxmox.
    NotCreated(ActionError),
    /// Proxmox may still be creating the VM (task `upid` outlived the deadline).
    Pending { error: ActionError, upid: String },
    /// The VM exists and has to be removed.
    Created(ActionError),
}

fn create(client: &PveClient, payload: &Payload) -> Result<Value, ActionError> {
    let spec = CreateSpec::from_payload(payload)?;
    let hint = vmid_hint(payload)?;
    let vms = list_vms(client).map_err(|error| error.context("cannot list the vms of the node"))?;
    let full_deadline = client.deadline();
    client.set_deadline(full_deadline.keeping(CLEANUP_RESERVE, WORK_FLOOR));
    if let Some((vmid, _)) = named(&vms, &spec.name).first() {
        // An earlier attempt got this far (its answer was lost, or it ran out of time).
        return resume(client, &spec, *vmid, full_deadline);
    }
    let mut vmid = match hint {
        Some(vmid) => vmid,
        None => next_id(client).map_err(|error| error.context("cannot pick a vmid"))?,
    };
    let mut attempt = 1;
    loop {
        let outcome = make(client, &spec, vmid).and_then(|()| {
            let configure = matches!(spec.source, Source::Clone { .. });
            finish(client, &spec, vmid, configure)
        });
        let failure = match outcome {
            Ok(()) => return Ok(created(vmid, "Instance created")),
            Err(failure) => failure,
        };
        if let Provision::NotCreated(error) = &failure {
            if error.is_vmid_taken() && attempt < CREATE_ATTEMPTS {
                // Another deploy took this VMID first.
                attempt += 1;
                vmid =
                    next_id(client).map_err(|error| error.context("cannot pick another vmid"))?;
                continue;
            }
        }
        return Err(create_failed(client, &spec, vmid, failure, full_deadline));
    }
}

fn created(vmid: u32, message: &str) -> Value {
    let mut reply = success(message, Some(vmid));
    reply["details"] = json!({crate::settings::VMID_DETAIL: vmid.to_string()});
    reply
}

/// Turns a failed attempt into the error to report, removing what this instance created.
fn create_failed(
    client: &PveClient,
    spec: &CreateSpec,
    vmid: u32,
    failure: Provision,
    full_deadline: Deadline,
) -> ActionError {
    let (error, cleanup) = match failure {
        Provision::NotCreated(error) => (error, Cleanup::NotNeeded),
        Provision::Pending { error, upid } => {
            // Use the time kept back: once the task ends, remove what it made.
            client.set_deadline(full_deadline);
            let cleanup = match client.wait_task(&upid) {
                Ok(()) => remove_half_created(client, vmid),
                Err(ActionError::TaskFailed { .. }) => Cleanup::NotNeeded,
                Err(_) => Cleanup::Pending,
            };
            (error, cleanup)
        }
        Provision::Created(error) => {
            client.set_deadline(full_deadline);
            let cleanup = remove_half_created(client, vmid);
            (error, cleanup)
        }
    };
    ActionError::CreateFailed {
        name: spec.name.clone(),
        vmid,
        cleanup,
        source: Box::new(error),
    }
}

/// Picks up a VM of the instance's name left by an earlier `create`: waits for Proxmox to finish
/// creating it, checks that it is this instance's (by the uuid in its description), then
/// configures and starts it unless it already runs.
fn resume(
    client: &PveClient,
    spec: &CreateSpec,
    vmid: u32,
    full_deadline: Deadline,
) -> Result<Value, ActionError> {
    let config = wait_until_unlocked(client, vmid)?;
    let description = config
        .get("description")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let ours = spec
        .instance_uuid
        .as_deref()
        .is_some_and(|uuid| description.contains(uuid));
    if !ours {
        return Err(ActionError::Failed(format!(
            "a vm named '{}' already exists on node {} (vmid {vmid}) and was not created for this instance",
            spec.name,
            client.node()
        )));
    }
    let current = client.get(&format!("{}/status/current", vm_path(client, vmid)), &[])?;
    if power_state(&current) == PowerState::PowerOn {
        return Ok(created(vmid, "Instance already created"));
    }
    match finish(client, spec, vmid, true) {
        Ok(()) => Ok(created(vmid, "Instance created")),
        Err(failure) => Err(create_failed(client, spec, vmid, failure, full_deadline)),
    }
}

/// Reads the VM's configuration once no task holds a lock on it (`create`, `clone`, ...).
fn wait_until_unlocked(client: &PveClient, vmid: u32) -> Result<Value, ActionError> {
    let path = format!("{}/config", vm_path(client, vmid));
    let mut interval = Duration::from_millis(100);
    loop {
        let config = client.get(&path, &[])?;
        let Some(lock) = config.get("lock").and_then(Value::as_str) else {
            return Ok(config);
        };
        if client.deadline().remaining() <= interval {
            return Err(ActionError::TimedOut {
                waiting_for: format!("vm {vmid} to be unlocked (locked by '{lock}')"),
            });
        }
        std::thread::sleep(interval);
        interval = (interval * 3 / 2).min(Duration::from_secs(1));
    }
}

/// Starts the task that creates the VM and waits for it; a timeout leaves the outcome open.
fn run_creating_task(
    client: &PveClient,
    path: &str,
    params: &[(&str, String)],
    context: String,
) -> Result<(), Provision> {
    let upid = client
        .start_task(Method::POST, path, params)
        .map_err(|error| Provision::NotCreated(error.context(context.clone())))?;
    client.wait_task(&upid).map_err(|error| {
        if matches!(error, ActionError::TimedOut { .. }) {
            Provision::Pending {
                error: error.context(context),
                upid,
            }
        } else {
            Provision::NotCreated(error.context(context))
        }
    })
}

/// Clone only from a VMID that Proxmox itself reports as a template (`template: 1` in its
/// configuration). Proxmox would happily make a full clone of any VM, running or not, so a
/// `template_id` naming another tenant's VM must be refused here, not there.
fn ensure_template(client: &PveClient, vmid: u32) -> Result<(), ActionError> {
    let path = format!("{}/config", vm_path(client, vmid));
    let config = client.get(&path, &[]).map_err(|error| {
        error.context(format!(
            "cannot read the configuration of template_id {vmid} on node {}",
            client.node()
        ))
    })?;
    let is_template = match config.get("template") {
        Some(Value::Number(n)) => n.as_u64() == Some(1),
        Some(Value::String(s)) => s == "1",
        Some(Value::Bool(b)) => *b,
        _ => false,
    };
    if is_template {
        Ok(())
    } else {
        Err(ActionError::Config(format!(
            "template_id {vmid} is not a template on node {}: trellis clones only from vms that proxmox reports as templates",
            client.node()
        )))
    }
}

/// Clones the template or creates the VM for an ISO install, under `vmid`.
fn make(client: &PveClient, spec: &CreateSpec, vmid: u32) -> Result<(), Provision> {
    let node_path = client.node_path();
    match &spec.source {
        Source::Clone {
            template,
            full,
            storage,
        } => {
            let mut params = vec![
                ("newid", vmid.to_string()),
                ("name", spec.name.clone()),
                ("full", if *full { "1" } else { "0" }.to_string()),
                ("description", spec.description.clone()),
            ];
            if let Some(storage) = storage {
                params.push(("storage", storage.clone()));
            }
            ensure_template(client, *template).map_err(Provision::NotCreated)?;
            let kind = if *full { "full" } else { "linked" };
            run_creating_task(
                client,
                &format!("{node_path}/qemu/{template}/clone"),
                &params,
                format!("cannot make a {kind} clone of template {template}"),
            )
        }
        Source::Iso {
            iso,
            os_type,
            disk_size_gb,
            storage,
        } => {
            let mut params = vec![
                ("vmid", vmid.to_string()),
                ("name", spec.name.clone()),
                ("description", spec.description.clone()),
                ("ide2", format!("{iso},media=cdrom")),
                ("ostype", os_type.clone()),
                ("scsihw", "virtio-scsi-single".to_string()),
                ("scsi0", format!("{storage}:{disk_size_gb},iothread=on")),
                ("boot", "order=scsi0;ide2".to_string()),
                ("numa", "0".to_string()),
                ("cpu", "x86-64-v2-AES".to_string()),
            ];
            let hardware = hardware_params(spec);
            params.extend(borrowed(&hardware));
            run_creating_task(
                client,
                &format!("{node_path}/qemu"),
                &params,
                format!("cannot create a vm to install {iso}"),
            )
        }
    }
}

/// CPU, memory and NICs as the instance wants them.
fn hardware_params(spec: &CreateSpec) -> Vec<(String, String)> {
    let mut params = vec![
        ("sockets".to_string(), "1".to_string()),
        ("cores".to_string(), spec.cores.to_string()),
        ("memory".to_string(), spec.memory_mib.to_string()),
    ];
    for (index, net) in spec.nets.iter().enumerate() {
        params.push((format!("net{index}"), net.clone()));
    }
    params
}

/// Owned parameters in the shape the client takes.
fn borrowed(params: &[(String, String)]) -> Vec<(&str, String)> {
    params
        .iter()
        .map(|(key, value)| (key.as_str(), value.clone()))
        .collect()
}

/// Sets CPU, memory and NICs on an existing VM (removing NICs the instance does not have), then
/// starts it.
fn finish(
    client: &PveClient,
    spec: &CreateSpec,
    vmid: u32,
    configure: bool,
) -> Result<(), Provision> {
    if configure {
        let config_path = format!("{}/config", vm_path(client, vmid));
        let config = client.get(&config_path, &[]).map_err(|error| {
            Provision::Created(error.context("cannot read the vm configuration"))
        })?;
        let stale_nets: Vec<String> = config
            .as_object()
            .map(|object| {
                object
                    .keys()
                    .filter(|key| {
                        key.strip_prefix("net")
                            .and_then(|index| index.parse::<usize>().ok())
                            .is_some_and(|index| index >= spec.nets.len())
                    })
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        let mut params = hardware_params(spec);
        if !stale_nets.is_empty() {
            params.push(("delete".to_string(), stale_nets.join(",")));
        }
        client
            .run_task(Method::POST, &config_path, &borrowed(&params))
            .map_err(|error| {
                Provision::Created(error.context("cannot set cpus, memory and nics"))
            })?;
    }
    client
        .run_task(
            Method::POST,
            &format!("{}/status/start", vm_path(client, vmid)),
            &[],
        )
        .map_err(|error| Provision::Created(error.context(format!("cannot start vm {vmid}"))))
}

/// Stops (if needed) and destroys a VM `create` made before failing.
fn remove_half_created(client: &PveClient, vmid: u32) -> Cleanup {
    let path = vm_path(client, vmid);
    let outcome = (|| {
        let current = client.get(&format!("{path}/status/current"), &[])?;
        if power_state(&current) == PowerState::PowerOn {
            client.run_task(Method::POST, &format!("{path}/status/stop"), &[])?;
        }
        client.run_task(Method::DELETE, &path, &destroy_params())
    })();
    match outcome {
        Ok(()) => Cleanup::Removed,
        Err(error) if error.is_missing_vm() => Cleanup::Removed,
        Err(error) => Cleanup::Failed(error.full_message()),
    }
}

fn destroy_params() -> Vec<(&'static str, String)> {
    vec![
        ("purge", "1".to_string()),
        ("destroy-unreferenced-disks", "1".to_string()),
    ]
}

fn start(client: &PveClient, instance: &Instance) -> Result<Value, ActionError> {
    let vm = located(client, instance)?;
    if vm.power == PowerState::PowerOn {
        return Ok(success("Instance already running", Some(vm.vmid)));
    }
    client
        .run_task(
            Method::POST,
            &format!("{}/status/start", vm_path(client, vm.vmid)),
            &[],
        )
        .map_err(|error| error.context(format!("cannot start vm {}", vm.vmid)))?;
    Ok(success("Instance started", Some(vm.vmid)))
}

fn stop(client: &PveClient, instance: &Instance) -> Result<Value, ActionError> {
    let Some(vm) = locate(client, instance)? else {
        return Ok(success("Instance not present", None));
    };
    if vm.power == PowerState::PowerOff {
        return Ok(success("Instance already stopped", Some(vm.vmid)));
    }
    client
        .run_task(
            Method::POST,
            &format!("{}/status/stop", vm_path(client, vm.vmid)),
            &[],
        )
        .map_err(|error| error.context(format!("cannot stop vm {}", vm.vmid)))?;
    Ok(success("Instance stopped", Some(vm.vmid)))
}

fn reboot(client: &PveClient, instance: &Instance) -> Result<Value, ActionError> {
    let vm = located(client, instance)?;
    client
        .run_task(
            Method::POST,
            &format!("{}/status/reboot", vm_path(client, vm.vmid)),
            &[],
        )
        .map_err(|error| error.context(format!("cannot reboot vm {}", vm.vmid)))?;
    Ok(success("Instance rebooted", Some(vm.vmid)))
}

fn delete(client: &PveClient, instance: &Instance) -> Result<Value, ActionError> {
    let Some(vm) = locate(client, instance)? else {
        return Ok(success("Instance not present", None));
    };
    let path = vm_path(client, vm.vmid);
    if vm.power == PowerState::PowerOn {
        client
            .run_task(Method::POST, &format!("{path}/status/stop"), &[])
            .map_err(|error| {
                error.context(format!("cannot stop vm {} before deleting it", vm.vmid))
            })?;
    }
    client
        .run_task(Method::DELETE, &path, &destroy_params())
        .map_err(|error| error.context(format!("cannot delete vm {}", vm.vmid)))?;
    Ok(success("Instance deleted", Some(vm.vmid)))
}

fn status(client: &PveClient, instance: &Instance) -> Result<Value, ActionError> {
    Ok(match locate(client, instance)? {
        Some(vm) => {
            json!({"status": "success", "power_state": vm.power.wire(), "proxmox_vmid": vm.vmid.to_string()})
        }
        None => json!({
            "status": "success",
            "power_state": PowerState::PowerUnknown.wire(),
            "message": format!("no vm named '{}' on node {}", instance.name, client.node()),
        }),
    })
}

/// Power states of the node's VMs by name (by VMID when unnamed). When the payload lists the
/// instances expected on the host (`virtualmachines`), only those are reported; the server asks
/// `status` for the others.
fn statuses(client: &PveClient, payload: &Payload) -> Result<Value, ActionError> {
    let expected = payload.virtualmachines.as_ref();
    let mut power = Map::new();
    for vm in list_vms(client)?.iter().filter(|vm| !is_template(vm)) {
        let key = match vm.get("name").and_then(Value::as_str) {
            Some(name) => name.to_string(),
            None => match vm.get("vmid").and_then(vmid_of) {
                Some(vmid) => vmid.to_string(),
                None => continue,
            },
        };
        if expected.is_some_and(|expected| !expected.contains_key(&key)) {
            continue;
        }
        power.insert(key, Value::String(power_state(vm).wire().to_string()));
    }
    Ok(json!({"status": "success", "power_state": power}))
}

/// The address a console proxy should connect to: the `console_host` detail, else the node's
/// static address (a non-bridge interface first, like upstream), else the API host.
fn console_host(client: &PveClient, payload: &Payload) -> Option<String> {
    if let Some(host) = payload.details().host_or_extension("console_host") {
        return Some(host.trim().to_string());
    }
    let network = client
        .get(&format!("{}/network", client.node_path()), &[])
        .ok()
        .and_then(|answer| answer.as_array().cloned())
        .unwrap_or_default();
    let address = |interface: &Value| -> Option<String> {
        interface
            .get("address")
            .and_then(Value::as_str)
            .map(str::to_string)
            .or_else(|| {
                interface
                    .get("cidr")
                    .and_then(Value::as_str)
                    .and_then(|cidr| cidr.split('/').next())
                    .map(str::to_string)
            })
            .filter(|address| !address.is_empty())
    };
    let physical_static = network.iter().find(|interface| {
        let kind = interface
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let method = interface
            .get("method")
            .and_then(Value::as_str)
            .unwrap_or_default();
        kind != "bridge" && kind != "bond" && method == "static" && address(interface).is_some()
    });
    physical_static
        .or_else(|| {
            network
                .iter()
                .find(|interface| address(interface).is_some())
        })
        .and_then(address)
        .or_else(|| client.connection().host())
}

fn console(
    client: &PveClient,
    instance: &Instance,
    payload: &Payload,
) -> Result<Value, ActionError> {
    let vm = located(client, instance)?;
    let answer = client
        .post(&format!("{}/vncproxy", vm_path(client, vm.vmid)), &[])
        .map_err(|error| error.context(format!("cannot open a vnc proxy for vm {}", vm.vmid)))?;
    let port = match answer.get("port") {
        Some(Value::Number(number)) => number.as_u64(),
        Some(Value::String(text)) => text.trim().parse().ok(),
        _ => None,
    };
    let ticket = answer.get("ticket").and_then(Value::as_str);
    let (Some(port), Some(ticket)) = (port, ticket) else {
        return Err(ActionError::BadAnswer {
            method: "POST".into(),
            path: format!("{}/vncproxy", vm_path(client, vm.vmid)),
            problem: format!("expected a port and a ticket, got {answer}"),
        });
    };
    let host = console_host(client, payload).ok_or_else(|| {
        ActionError::Config("cannot tell the console host; set the console_host detail".into())
    })?;
    Ok(json!({
        "status": "success",
        "message": "Console retrieved",
        "console": {
            "host": host,
            "port": port,
            "password": ticket,
            "passwordonetimeuseonly": true,
            "protocol": "vnc",
        },
    }))
}

/// A custom-action parameter as text (values may arrive typed or as strings).
fn parameter(payload: &Payload, key: &str) -> Option<String> {
    let value = payload.parameters.as_ref()?.get(key)?;
    match value {
        Value::String(text) => Some(text.trim().to_string()).filter(|text| !text.is_empty()),
        Value::Bool(flag) => Some(flag.to_string()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

fn snapshot_name(payload: &Payload) -> Result<String, ActionError> {
    let name = parameter(payload, "snap_name")
        .ok_or_else(|| ActionError::Usage("missing required parameter: snap_name".into()))?;
    if !crate::settings::is_snapshot_name(&name) {
        return Err(ActionError::Usage(format!(
            "invalid snapshot name '{name}': proxmox requires a letter first, then letters, digits, \
             '-' or '_', 2 to 40 characters, and not 'current'"
        )));
    }
    Ok(name)
}

fn format_time(value: Option<&Value>) -> String {
    value
        .and_then(Value::as_i64)
        .and_then(|seconds| chrono::DateTime::from_timestamp(seconds, 0))
        .map(|time| time.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|| "-".to_string())
}

fn list_snapshots(client: &PveClient, instance: &Instance) -> Result<Value, ActionError> {
    let vm = located(client, instance)?;
    let path = format!("{}/snapshot", vm_path(client, vm.vmid));
    let answer = client
        .get(&path, &[])
        .map_err(|error| error.context(format!("cannot list the snapshots of vm {}", vm.vmid)))?;
    let mut snapshots: Vec<&Value> = answer
        .as_array()
        .map(|list| {
            list.iter()
                .filter(|snapshot| snapshot.get("name").and_then(Value::as_str) != Some("current"))
                .collect()
        })
        .unwrap_or_default();
    snapshots.sort_by_key(|snapshot| {
        snapshot
            .get("snaptime")
            .and_then(Value::as_i64)
            .unwrap_or(0)
    });
    let text = |snapshot: &Value, key: &str| {
        snapshot
            .get(key)
            .and_then(Value::as_str)
            .filter(|text| !text.is_empty())
            .unwrap_or("-")
            .to_string()
    };
    let rows: Vec<Value> = snapshots
        .into_iter()
        .map(|snapshot| {
            let saved_memory = matches!(snapshot.get("vmstate"), Some(Value::Number(n)) if n.as_u64() == Some(1))
                || snapshot.get("vmstate").and_then(Value::as_str) == Some("1");
            json!({
                "name": text(snapshot, "name"),
                "snaptime": format_time(snapshot.get("snaptime")),
                "description": snapshot.get("description").and_then(Value::as_str).unwrap_or_default().trim(),
                "parent": text(snapshot, "parent"),
                "vmstate": if saved_memory { "yes" } else { "no" },
            })
        })
        .collect();
    Ok(json!({"status": "success", "printmessage": "true", "message": rows}))
}

fn create_snapshot(
    client: &PveClient,
    instance: &Instance,
    payload: &Payload,
) -> Result<Value, ActionError> {
    let name = snapshot_name(payload)?;
    let save_memory = parameter(payload, "snap_save_memory").is_some_and(|value| {
        matches!(
            value.to_ascii_lowercase().as_str(),
            "true" | "1" | "yes" | "on"
        )
    });
    let vm = located(client, instance)?;
    let mut params = vec![
        ("snapname", name.clone()),
        ("vmstate", if save_memory { "1" } else { "0" }.to_string()),
    ];
    if let Some(description) = parameter(payload, "snap_description") {
        params.push(("description", description));
    }
    client
        .run_task(
            Method::POST,
            &format!("{}/snapshot", vm_path(client, vm.vmid)),
            &params,
        )
        .map_err(|error| error.context(format!("cannot snapshot vm {} as '{name}'", vm.vmid)))?;
    Ok(success("Instance Snapshot created", Some(vm.vmid)))
}

fn restore_snapshot(
    client: &PveClient,
    instance: &Instance,
    payload: &Payload,
) -> Result<Value, ActionError> {
    let name = snapshot_name(payload)?;
    let vm = located(client, instance)?;
    let path = vm_path(client, vm.vmid);
    client
        .run_task(
            Method::POST,
            &format!("{path}/snapshot/{}/rollback", segment(&name)),
            &[],
        )
        .map_err(|error| error.context(format!("cannot roll vm {} back to '{name}'", vm.vmid)))?;
    // A snapshot without RAM leaves the VM stopped; bring it back if it was running.
    if vm.power == PowerState::PowerOn {
        let current = client.get(&format!("{path}/status/current"), &[])?;
        if power_state(&current) == PowerState::PowerOff {
            client
                .run_task(Method::POST, &format!("{path}/status/start"), &[])
                .map_err(|error| {
                    error.context(format!("cannot start vm {} after the rollback", vm.vmid))
                })?;
        }
    }
    Ok(success("Instance Snapshot restored", Some(vm.vmid)))
}

fn delete_snapshot(
    client: &PveClient,
    instance: &Instance,
    payload: &Payload,
) -> Result<Value, ActionError> {
    let name = snapshot_name(payload)?;
    let vm = located(client, instance)?;
    client
        .run_task(
            Method::DELETE,
            &format!("{}/snapshot/{}", vm_path(client, vm.vmid), segment(&name)),
            &[],
        )
        .map_err(|error| {
            error.context(format!("cannot delete snapshot '{name}' of vm {}", vm.vmid))
        })?;
    Ok(success("Instance Snapshot deleted", Some(vm.vmid)))
}
