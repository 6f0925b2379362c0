//! `createtemplate` (a Trellis addition): the stopped instance's VM is copied with a full clone
//! into a new VM, which is converted into a Proxmox template (`POST …/clone` with `full=1`,
//! then `POST …/template`). The reply's `details` (`template_id`, the new VMID, and
//! `template_type`) become the new Trellis template's details, so instances deployed from it
//! clone the capture.
//!
//! The new VM is named `template-<templateid>`: a repeated action finds it and finishes the
//! conversion instead of copying again. Per-instance cloud-init keys (`sshkeys`) are removed from
//! the copy, so that they are not baked into instances of other tenants.

use super::create::wait_until_unlocked;
use super::{destroy_params, is_template, list_vms, located, next_id, success, vm_path, vmid_of};
use super::{Instance, Located};
use crate::client::PveClient;
use crate::error::ActionError;
use crate::settings::is_dns_name;
use reqwest::Method;
use serde_json::{json, Value};
use trellis_ext_protocol::{Payload, PowerState};

/// How many VMIDs the copy tries when others keep taking them first.
const CLONE_ATTEMPTS: u32 = 20;

/// A string parameter of the action, if given.
fn parameter(payload: &Payload, name: &str) -> Option<String> {
    payload
        .parameters
        .as_ref()
        .and_then(|parameters| parameters.get(name))
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|value| !value.is_empty())
        .map(str::to_string)
}

/// Bytes of a Proxmox `size=` option (`32G`, `512M`, `4K`, `1T`, plain bytes).
fn size_bytes(text: &str) -> Option<u64> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().ok()?;
    let factor: u64 = match unit {
        "" => 1,
        "K" => 1 << 10,
        "M" => 1 << 20,
        "G" => 1 << 30,
        "T" => 1 << 40,
        _ => return None,
    };
    number.checked_mul(factor)
}

/// The size of a VM's disks (cd-roms and the cloud-init drive left out).
fn disk_bytes(config: &Value) -> u64 {
    config
        .as_object()
        .map(|object| {
            object
                .values()
                .filter_map(Value::as_str)
                .filter(|value| !value.contains("media=cdrom"))
                .filter_map(|value| {
                    value
                        .split(',')
                        .find_map(|option| option.strip_prefix("size="))
                        .and_then(size_bytes)
                })
                .sum()
        })
        .unwrap_or(0)
}

pub(super) fn create_template(
    client: &PveClient,
    instance: &Instance,
    payload: &Payload,
) -> Result<Value, ActionError> {
    let template_id = parameter(payload, "templateid")
        .ok_or_else(|| ActionError::Usage("the templateid parameter is required".into()))?;
    let template_name = parameter(payload, "templatename").unwrap_or_else(|| template_id.clone());
    let name = format!("template-{template_id}");
    if !is_dns_name(&name) {
        return Err(ActionError::Usage(format!(
            "invalid templateid '{template_id}': use letters, digits and dashes"
        )));
    }
    let source = located(client, instance)?;
    let earlier: Vec<(u32, bool)> = list_vms(client)
        .map_err(|error| error.context("cannot list the vms of the node"))?
        .iter()
        .filter(|vm| vm.get("name").and_then(Value::as_str) == Some(name.as_str()))
        .filter_map(|vm| Some((vmid_of(vm.get("vmid")?)?, is_template(vm))))
        .collect();
    let vmid = match earlier.as_slice() {
        // An earlier attempt finished; its answer was lost.
        [(vmid, true)] => return finished(client, *vmid, "Template already created"),
        // An earlier attempt copied the disk but did not convert the copy.
        [(vmid, false)] => {
            wait_until_unlocked(client, *vmid)?;
            *vmid
        }
        [] => copy(
            client,
            instance,
            &source,
            &name,
            &template_name,
            &template_id,
        )?,
        several => {
            let vmids: Vec<String> = several.iter().map(|(vmid, _)| vmid.to_string()).collect();
            return Err(ActionError::Failed(format!(
                "{} vms on node {} are named '{name}' (vmids {}); cannot tell which one is the capture",
                several.len(),
                client.node(),
                vmids.join(", ")
            )));
        }
    };
    match convert(client, vmid) {
        Ok(()) => finished(client, vmid, "Template created"),
        Err(error) => {
            let cleanup = client
                .run_task(Method::DELETE, &vm_path(client, vmid), &destroy_params())
                .map(|()| " (the copy was removed)".to_string())
                .unwrap_or_else(|cleanup| {
                    format!(
                        " (removing the copy failed too, vm {vmid} is left behind: {})",
                        cleanup.full_message()
                    )
                });
            Err(error.context(format!(
                "cannot turn vm {vmid}, the copy of vm {} of instance {}, into a template{cleanup}",
                source.vmid, instance.name
            )))
        }
    }
}

/// Copies the stopped source VM with a full clone named `name`; returns the new VMID.
fn copy(
    client: &PveClient,
    instance: &Instance,
    source: &Located,
    name: &str,
    template_name: &str,
    template_id: &str,
) -> Result<u32, ActionError> {
    if source.power != PowerState::PowerOff {
        return Err(ActionError::Failed(format!(
            "vm {} of instance {} is not stopped: stop the instance before creating a template from it",
            source.vmid, instance.name
        )));
    }
    let description = format!(
        "Captured by Apache CloudStack (Trellis) from instance {}: template {template_name} ({template_id})",
        instance.name
    );
    let clone_path = format!("{}/clone", vm_path(client, source.vmid));
    let mut attempt = 1;
    loop {
        let vmid = next_id(client).map_err(|error| error.context("cannot pick a vmid"))?;
        let params = [
            ("newid", vmid.to_string()),
            ("name", name.to_string()),
            ("full", "1".to_string()),
            ("description", description.clone()),
        ];
        match client.run_task(Method::POST, &clone_path, &params) {
            Ok(()) => return Ok(vmid),
            Err(error) if error.is_vmid_taken() && attempt < CLONE_ATTEMPTS => attempt += 1,
            Err(error) => {
                return Err(error.context(format!(
                    "cannot copy vm {} of instance {} into vm {vmid}",
                    source.vmid, instance.name
                )))
            }
        }
    }
}

/// Removes the per-instance cloud-init keys from the copy and converts it into a template.
fn convert(client: &PveClient, vmid: u32) -> Result<(), ActionError> {
    let path = vm_path(client, vmid);
    let config = client.get(&format!("{path}/config"), &[])?;
    if config.get("sshkeys").is_some() {
        client
            .run_task(
                Method::POST,
                &format!("{path}/config"),
                &[("delete", "sshkeys".to_string())],
            )
            .map_err(|error| {
                error.context("cannot remove the instance's ssh keys from the copy")
            })?;
    }
    // Proxmox VE 7 and later answer with a task; older releases convert synchronously.
    match client.post(&format!("{path}/template"), &[])? {
        Value::String(upid) if !upid.is_empty() => client.wait_task(&upid),
        Value::Null => Ok(()),
        other => Err(ActionError::BadAnswer {
            method: "POST".into(),
            path: format!("{path}/template"),
            problem: format!("expected a task id (UPID), got {other}"),
        }),
    }
}

/// The reply: the new template's VMID as the `template_id` detail, and its disks' size.
fn finished(client: &PveClient, vmid: u32, message: &str) -> Result<Value, ActionError> {
    let config = client.get(&format!("{}/config", vm_path(client, vmid)), &[])?;
    if !is_template(&config) {
        return Err(ActionError::Failed(format!(
            "vm {vmid} is not a template after its conversion"
        )));
    }
    let mut reply = success(message, Some(vmid));
    reply["details"] = json!({"template_id": vmid.to_string(), "template_type": "template"});
    reply["size"] = json!(disk_bytes(&config));
    Ok(reply)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_of_disks_only() {
        assert_eq!(size_bytes("32G"), Some(32 << 30));
        assert_eq!(size_bytes("4M"), Some(4 << 20));
        assert_eq!(size_bytes("1024"), Some(1024));
        assert_eq!(size_bytes("x"), None);
        let config = json!({
            "scsi0": "local-lvm:base-101-disk-0,iothread=1,size=32G",
            "efidisk0": "local-lvm:base-101-disk-1,size=4M",
            "ide2": "local-lvm:vm-101-cloudinit,media=cdrom,size=4M",
            "name": "template-x",
            "template": 1,
        });
        assert_eq!(disk_bytes(&config), (32 << 30) + (4 << 20));
    }
}
