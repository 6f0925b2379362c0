//! `create`: provisioning a VM (clone or fresh), with VMID races, resumption of an earlier
//! attempt and removal of what a failed attempt left.

use super::cloudinit::CloudInit;
use super::{list_vms, named, next_id, power_state, success, vm_path};
use crate::client::PveClient;
use crate::deadline::Deadline;
use crate::error::{ActionError, Cleanup};
use crate::settings::{vmid_hint, CreateSpec, Source};
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;
use trellis_ext_protocol::{Payload, PowerState};

/// How many VMIDs `create` tries when others keep taking them first.
const CREATE_ATTEMPTS: u32 = 20;

/// Time `create` keeps back from its own work to remove a half-created VM.
const CLEANUP_RESERVE: Duration = Duration::from_secs(15);

/// `create` always gets at least this much time for its own work.
const WORK_FLOOR: Duration = Duration::from_secs(5);

/// How far a provisioning attempt got before failing.
enum Provision {
    /// Nothing exists on Proxmox.
    NotCreated(ActionError),
    /// Proxmox may still be creating the VM (task `upid` outlived the deadline).
    Pending { error: ActionError, upid: String },
    /// The VM exists and has to be removed.
    Created(ActionError),
}

pub(super) fn create(client: &PveClient, payload: &Payload) -> Result<Value, ActionError> {
    let spec = CreateSpec::from_payload(payload)?;
    let cloud_init = CloudInit::from_payload(payload);
    let hint = vmid_hint(payload)?;
    let vms = list_vms(client).map_err(|error| error.context("cannot list the vms of the node"))?;
    let full_deadline = client.deadline();
    client.set_deadline(full_deadline.keeping(CLEANUP_RESERVE, WORK_FLOOR));
    if let Some((vmid, _)) = named(&vms, &spec.name).first() {
        // An earlier attempt got this far (its answer was lost, or it ran out of time).
        return resume(client, &spec, &cloud_init, *vmid, full_deadline);
    }
    let mut vmid = match hint {
        Some(vmid) => vmid,
        None => next_id(client).map_err(|error| error.context("cannot pick a vmid"))?,
    };
    let mut attempt = 1;
    loop {
        let configure = matches!(spec.source, Source::Clone { .. });
        let outcome = make(client, &spec, vmid)
            .and_then(|()| finish(client, &spec, configure.then_some(&cloud_init), vmid));
        let failure = match outcome {
            Ok(()) => return Ok(created(vmid, "Instance created", &cloud_init, configure)),
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

/// The reply of a successful `create`; `delivered` says whether cloud-init was configured.
fn created(vmid: u32, message: &str, cloud_init: &CloudInit, delivered: bool) -> Value {
    let mut reply = success(message, Some(vmid));
    reply["details"] = json!({crate::settings::VMID_DETAIL: vmid.to_string()});
    cloud_init.report(&mut reply, delivered);
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
    cloud_init: &CloudInit,
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
        let delivered = super::cloudinit::has_drive(&config);
        return Ok(created(
            vmid,
            "Instance already created",
            cloud_init,
            delivered,
        ));
    }
    match finish(client, spec, Some(cloud_init), vmid) {
        Ok(()) => Ok(created(vmid, "Instance created", cloud_init, true)),
        Err(failure) => Err(create_failed(client, spec, vmid, failure, full_deadline)),
    }
}

/// Reads the VM's configuration once no task holds a lock on it (`create`, `clone`, ...).
pub(super) fn wait_until_unlocked(client: &PveClient, vmid: u32) -> Result<Value, ActionError> {
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

/// With `cloud_init` (clones and resumed attempts), sets CPU, memory and NICs on an existing VM
/// (removing NICs the instance does not have) and its cloud-init drive, keys and user; then
/// starts it.
fn finish(
    client: &PveClient,
    spec: &CreateSpec,
    cloud_init: Option<&CloudInit>,
    vmid: u32,
) -> Result<(), Provision> {
    if let Some(cloud_init) = cloud_init {
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
        let cloud_params = cloud_init
            .params(&config, true)
            .map_err(Provision::Created)?;
        let what = if cloud_params.is_empty() {
            "cannot set cpus, memory and nics"
        } else {
            "cannot set cpus, memory, nics and cloud-init"
        };
        params.extend(cloud_params);
        client
            .run_task(Method::POST, &config_path, &borrowed(&params))
            .map_err(|error| Provision::Created(error.context(what)))?;
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

pub(super) fn destroy_params() -> Vec<(&'static str, String)> {
    vec![
        ("purge", "1".to_string()),
        ("destroy-unreferenced-disks", "1".to_string()),
    ]
}
