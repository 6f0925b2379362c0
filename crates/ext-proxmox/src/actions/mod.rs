//! The actions: what each one asks Proxmox, and what it prints.
//!
//! The instance's VM is identified by its Proxmox name (`vm_name`, else CloudStack's instance
//! name); `proxmox_vmid` from `prepare` is only a hint tried first. So when concurrent deploys
//! race for a VMID and `create` has to take another one, later actions still find the right VM,
//! and a VMID reused by someone else is never mistaken for the instance's.

use crate::client::PveClient;
use crate::deadline::Deadline;
use crate::error::ActionError;
use crate::settings::{vm_name, vmid_hint, Connection};
use reqwest::Method;
use serde_json::{json, Map, Value};
use trellis_ext_protocol::{Payload, PowerState};

pub mod cloudinit;
mod create;
mod snapshots;
mod template;

use cloudinit::CloudInit;
use create::{create, destroy_params};
use snapshots::{create_snapshot, delete_snapshot, list_snapshots, restore_snapshot};
use template::create_template;
use trellis_ext_protocol::VmAction;

/// The actions of this extension: the shared set of the VM-managing built-ins, and
/// `createtemplate` (a Trellis addition, see [`trellis_ext_protocol::action::CREATE_TEMPLATE`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Vm(VmAction),
    CreateTemplate,
}

/// The action called `name` (case and surrounding blanks ignored), or the documented
/// "unsupported action" failure.
pub fn parse_action(name: &str) -> Result<Action, ActionError> {
    if name
        .trim()
        .eq_ignore_ascii_case(trellis_ext_protocol::action::CREATE_TEMPLATE)
    {
        return Ok(Action::CreateTemplate);
    }
    VmAction::parse(name)
        .map(Action::Vm)
        .ok_or_else(|| ActionError::Unsupported(name.to_string()))
}

/// Runs `action` and returns what to print on stdout.
pub fn perform(
    action: Action,
    payload: &Payload,
    deadline: Deadline,
) -> Result<Value, ActionError> {
    let connection = Connection::from_details(&payload.details())?;
    if action == Action::Vm(VmAction::Prepare) {
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
    let Action::Vm(action) = action else {
        return create_template(&client, &instance()?, payload);
    };
    match action {
        VmAction::Prepare => prepare(&client),
        VmAction::Create => create(&client, payload),
        VmAction::Statuses => statuses(&client, payload),
        VmAction::Start => start(&client, &instance()?, payload),
        VmAction::Stop => stop(&client, &instance()?),
        VmAction::Reboot => reboot(&client, &instance()?),
        VmAction::Delete => delete(&client, &instance()?),
        VmAction::Status => status(&client, &instance()?),
        VmAction::GetConsole => console(&client, &instance()?, payload),
        VmAction::ListSnapshots => list_snapshots(&client, &instance()?),
        VmAction::CreateSnapshot => create_snapshot(&client, &instance()?, payload),
        VmAction::RestoreSnapshot => restore_snapshot(&client, &instance()?, payload),
        VmAction::DeleteSnapshot => delete_snapshot(&client, &instance()?, payload),
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

/// Starts the VM, first bringing its cloud-init keys and user in line with the payload (the
/// server changes them on stopped instances; Proxmox regenerates the drive at the start).
fn start(client: &PveClient, instance: &Instance, payload: &Payload) -> Result<Value, ActionError> {
    let vm = located(client, instance)?;
    if vm.power == PowerState::PowerOn {
        return Ok(success("Instance already running", Some(vm.vmid)));
    }
    let cloud_init = CloudInit::from_payload(payload);
    let delivered = cloud_init.update(client, vm.vmid)?;
    client
        .run_task(
            Method::POST,
            &format!("{}/status/start", vm_path(client, vm.vmid)),
            &[],
        )
        .map_err(|error| error.context(format!("cannot start vm {}", vm.vmid)))?;
    let mut reply = success("Instance started", Some(vm.vmid));
    cloud_init.report(&mut reply, delivered);
    Ok(reply)
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
