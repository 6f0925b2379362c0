//! The endpoints of one VM: listing, creation and cloning, configuration, power, destruction
//! and the VNC proxy.

use super::{flag, parse_vmid, required, unlocked, Caller, Params, PowerAction};
use crate::error::ApiError;
use crate::state::{
    is_disk_key, now, random_uuid, validate_config, CloneKind, Effect, State, Vm, VncTicket,
};
use serde_json::{json, Value};
use std::collections::BTreeMap;

pub(super) fn list_vms(state: &State, node: &str) -> Result<Value, ApiError> {
    state.node(node)?;
    let now = now();
    let list: Vec<Value> = state
        .vms
        .values()
        .filter(|vm| vm.node == node)
        .map(|vm| vm.summary(now))
        .collect();
    Ok(Value::Array(list))
}

pub(super) fn vm_index(state: &State, node: &str, vmid: &str) -> Result<Value, ApiError> {
    state.vm(node, parse_vmid("vmid", vmid)?)?;
    let subdirs = [
        "config", "status", "snapshot", "clone", "vncproxy", "template",
    ];
    Ok(Value::Array(
        subdirs
            .iter()
            .map(|subdir| json!({"subdir": subdir}))
            .collect(),
    ))
}

pub(super) fn create_vm(
    state: &mut State,
    node: &str,
    params: &Params,
    caller: &Caller<'_>,
) -> Result<Value, ApiError> {
    state.node(node)?;
    let vmid = parse_vmid("vmid", required(params, "vmid")?)?;
    if let Some(existing) = state.vms.get(&vmid) {
        return Err(ApiError::server(format!(
            "unable to create VM {vmid} - VM {vmid} already exists on node '{}'",
            existing.node
        )));
    }
    let start = flag(params, "start")?.unwrap_or(false);
    let settings: Params = params
        .iter()
        .filter(|(key, _)| {
            !matches!(
                key.as_str(),
                "vmid" | "start" | "pool" | "unique" | "live-restore"
            )
        })
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect();
    let config = validate_config(state, vmid, &BTreeMap::new(), &settings)?;
    let mut reserved = Vm::new(vmid, node);
    reserved.lock = Some("create".into());
    state.vms.insert(vmid, reserved);
    let effect = Effect::Create {
        vmid,
        config,
        start,
    };
    let failure = caller.faults.take_failure();
    Ok(Value::String(state.spawn_task(
        node,
        "qmcreate",
        &vmid.to_string(),
        caller.token_user,
        effect,
        failure,
    )))
}

pub(super) fn clone_vm(
    state: &mut State,
    node: &str,
    vmid: &str,
    params: &Params,
    caller: &Caller<'_>,
) -> Result<Value, ApiError> {
    let source = parse_vmid("vmid", vmid)?;
    let source_vm = state.vm(node, source)?;
    let newid = parse_vmid("newid", required(params, "newid")?)?;
    let full = flag(params, "full")?.unwrap_or(!source_vm.is_template());
    let target = params
        .get("target")
        .map(String::as_str)
        .unwrap_or(node)
        .to_string();
    state.node(&target)?;
    if let Some(name) = params.get("name") {
        if !crate::state::is_dns_name(name) {
            return Err(ApiError::param(
                "name",
                "invalid format - value does not look like a valid DNS name",
            ));
        }
    }
    let storage = params.get("storage").cloned();
    if !full {
        if storage.is_some() {
            return Err(ApiError::server(
                "parameter 'storage' not allowed for linked clones",
            ));
        }
        if params.contains_key("format") {
            return Err(ApiError::server(
                "parameter 'format' not allowed for linked clones",
            ));
        }
        if !source_vm.is_template() {
            return Err(ApiError::server(
                "Linked clone feature is not supported for drive 'scsi0'",
            ));
        }
    }
    if let Some(storage_id) = &storage {
        match state.storage(storage_id) {
            Some(found) if found.holds_images() => {}
            Some(_) => {
                return Err(ApiError::server(format!(
                    "storage '{storage_id}' does not support vm images"
                )))
            }
            None => {
                return Err(ApiError::server(format!(
                    "storage '{storage_id}' does not exist"
                )))
            }
        }
    }
    if !source_vm.is_template() {
        unlocked(source_vm)?;
    }
    if let Some(existing) = state.vms.get(&newid) {
        return Err(ApiError::server(format!(
            "unable to create VM {newid}: VM {newid} already exists on node '{}'",
            existing.node
        )));
    }
    let mut reserved = Vm::new(newid, target.clone());
    reserved.lock = Some("clone".into());
    state.vms.insert(newid, reserved);
    let effect = Effect::Clone {
        source,
        newid,
        name: params.get("name").cloned(),
        description: params.get("description").cloned(),
        kind: if full {
            CloneKind::Full
        } else {
            CloneKind::Linked
        },
        storage,
    };
    let failure = caller.faults.take_failure();
    Ok(Value::String(state.spawn_task(
        node,
        "qmclone",
        &source.to_string(),
        caller.token_user,
        effect,
        failure,
    )))
}

pub(super) fn vm_config(state: &State, node: &str, vmid: &str) -> Result<Value, ApiError> {
    let vm = state.vm(node, parse_vmid("vmid", vmid)?)?;
    let mut config = serde_json::Map::new();
    for (key, value) in &vm.config {
        let numeric = matches!(
            key.as_str(),
            "cores" | "sockets" | "template" | "numa" | "onboot" | "balloon"
        );
        let rendered = match value.parse::<u64>() {
            Ok(number) if numeric => Value::from(number),
            _ => Value::String(value.clone()),
        };
        config.insert(key.clone(), rendered);
    }
    if let Some(lock) = &vm.lock {
        config.insert("lock".into(), Value::String(lock.clone()));
    }
    if let Some(parent) = &vm.parent_snapshot {
        config.insert("parent".into(), Value::String(parent.clone()));
    }
    config.insert(
        "digest".into(),
        Value::String(random_uuid().replace('-', "")),
    );
    Ok(Value::Object(config))
}

pub(super) fn update_config(
    state: &mut State,
    node: &str,
    vmid: &str,
    params: &Params,
    caller: &Caller<'_>,
    asynchronous: bool,
) -> Result<Value, ApiError> {
    let vmid = parse_vmid("vmid", vmid)?;
    let vm = state.vm(node, vmid)?;
    unlocked(vm)?;
    let delete: Vec<String> = params
        .get("delete")
        .map(|list| {
            list.split([',', ';', ' '])
                .filter(|key| !key.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let settings: Params = params
        .iter()
        .filter(|(key, _)| {
            !matches!(
                key.as_str(),
                "delete" | "digest" | "revert" | "skiplock" | "background_delay"
            )
        })
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect();
    if let Some(key) = delete.iter().find(|key| settings.contains_key(*key)) {
        return Err(ApiError::param(key, "conflicting with delete"));
    }
    let set = validate_config(state, vmid, &vm.config, &settings)?;
    if !asynchronous {
        let vm = state.vm_mut(node, vmid)?;
        for key in &delete {
            vm.config.remove(key);
        }
        vm.config.extend(set);
        return Ok(Value::Null);
    }
    let effect = Effect::Config { vmid, set, delete };
    let failure = caller.faults.take_failure();
    Ok(Value::String(state.spawn_task(
        node,
        "qmconfig",
        &vmid.to_string(),
        caller.token_user,
        effect,
        failure,
    )))
}

pub(super) fn status_current(state: &State, node: &str, vmid: &str) -> Result<Value, ApiError> {
    let vm = state.vm(node, parse_vmid("vmid", vmid)?)?;
    let mut answer = vm.summary(now());
    answer["qmpstatus"] = json!(vm.status.as_str());
    answer["ha"] = json!({"managed": 0});
    Ok(answer)
}

pub(super) fn power(
    state: &mut State,
    node: &str,
    vmid: &str,
    action: PowerAction,
    caller: &Caller<'_>,
) -> Result<Value, ApiError> {
    let vmid = parse_vmid("vmid", vmid)?;
    let vm = state.vm(node, vmid)?;
    let (kind, effect) = match action {
        PowerAction::Start => {
            if vm.is_template() {
                return Err(ApiError::server("you can't start a vm if it's a template"));
            }
            ("qmstart", Effect::Start(vmid))
        }
        PowerAction::Stop => ("qmstop", Effect::Stop(vmid)),
        PowerAction::Shutdown => ("qmshutdown", Effect::Shutdown(vmid)),
        PowerAction::Reboot => ("qmreboot", Effect::Reboot(vmid)),
    };
    let failure = caller.faults.take_failure();
    Ok(Value::String(state.spawn_task(
        node,
        kind,
        &vmid.to_string(),
        caller.token_user,
        effect,
        failure,
    )))
}

pub(super) fn destroy_vm(
    state: &mut State,
    node: &str,
    vmid: &str,
    caller: &Caller<'_>,
) -> Result<Value, ApiError> {
    let vmid = parse_vmid("vmid", vmid)?;
    let vm = state.vm(node, vmid)?;
    unlocked(vm)?;
    if vm.is_running() {
        return Err(ApiError::server(format!(
            "VM {vmid} is running - destroy failed"
        )));
    }
    state.vm_mut(node, vmid)?.lock = Some("destroyed".into());
    let failure = caller.faults.take_failure();
    Ok(Value::String(state.spawn_task(
        node,
        "qmdestroy",
        &vmid.to_string(),
        caller.token_user,
        Effect::Destroy(vmid),
        failure,
    )))
}

pub(super) fn vnc_proxy(
    state: &mut State,
    node: &str,
    vmid: &str,
    caller: &Caller<'_>,
) -> Result<Value, ApiError> {
    let vmid = parse_vmid("vmid", vmid)?;
    let vm = state.vm(node, vmid)?;
    if !vm.is_running() {
        return Err(ApiError::server(format!("VM {vmid} not running")));
    }
    let port = state.next_vnc_port();
    let ticket = format!("PVEVNC:{:08X}::{}", now(), random_uuid().replace('-', ""));
    state.vnc_tickets.push(VncTicket {
        vmid,
        port,
        ticket: ticket.clone(),
    });
    let upid = state.spawn_task(
        node,
        "vncproxy",
        &vmid.to_string(),
        caller.token_user,
        Effect::Nothing,
        None,
    );
    Ok(json!({
        "port": port.to_string(),
        "ticket": ticket,
        "cert": caller.certificate_pem.unwrap_or(""),
        "upid": upid,
        "user": caller.token_user,
    }))
}

/// `POST /nodes/{node}/qemu/{vmid}/template`: qemu-server's checks run at once (lock,
/// snapshots, already a template, running), `template: 1` is written, and a `qmtemplate` task
/// turns the disks into base images.
pub(super) fn template_vm(
    state: &mut State,
    node: &str,
    vmid: &str,
    params: &Params,
    caller: &Caller<'_>,
) -> Result<Value, ApiError> {
    let vmid = parse_vmid("vmid", vmid)?;
    let vm = state.vm(node, vmid)?;
    let disk = params.get("disk").cloned();
    if let Some(disk) = &disk {
        if !is_disk_key(disk) {
            return Err(ApiError::param(
                "disk",
                &format!("value '{disk}' does not have a value in the enumeration"),
            ));
        }
    }
    unlocked(vm)?;
    if !vm.snapshots.is_empty() {
        return Err(ApiError::server(
            "unable to create template, because VM contains snapshots",
        ));
    }
    if vm.is_template() && disk.is_none() {
        return Err(ApiError::server(
            "you can't convert a template to a template",
        ));
    }
    if vm.is_running() {
        return Err(ApiError::server(
            "you can't convert a VM to template if VM is running",
        ));
    }
    state
        .vm_mut(node, vmid)?
        .config
        .insert("template".into(), "1".into());
    let failure = caller.faults.take_failure();
    Ok(Value::String(state.spawn_task(
        node,
        "qmtemplate",
        &vmid.to_string(),
        caller.token_user,
        Effect::Template { vmid, disk },
        failure,
    )))
}
