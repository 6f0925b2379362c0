//! The snapshot endpoints of a VM: list, create, roll back, delete.

use super::{flag, parse_vmid, required, unlocked, Caller, Params};
use crate::error::ApiError;
use crate::state::{is_snapshot_name, random_uuid, Effect, State};
use serde_json::{json, Value};

pub(super) fn list_snapshots(state: &State, node: &str, vmid: &str) -> Result<Value, ApiError> {
    let vm = state.vm(node, parse_vmid("vmid", vmid)?)?;
    let mut list: Vec<Value> = vm
        .snapshots
        .iter()
        .map(|snapshot| {
            let mut entry = json!({"name": snapshot.name, "description": snapshot.description, "snaptime": snapshot.snaptime});
            if let Some(parent) = &snapshot.parent {
                entry["parent"] = json!(parent);
            }
            if snapshot.vmstate {
                entry["vmstate"] = json!(1);
            }
            entry
        })
        .collect();
    let mut current = json!({"name": "current", "description": "You are here!", "running": u8::from(vm.is_running()),
                             "digest": random_uuid().replace('-', "")});
    if let Some(parent) = &vm.parent_snapshot {
        current["parent"] = json!(parent);
    }
    list.push(current);
    Ok(Value::Array(list))
}

pub(super) fn snapshot_index(
    state: &State,
    node: &str,
    vmid: &str,
    snapshot: &str,
) -> Result<Value, ApiError> {
    let vm = state.vm(node, parse_vmid("vmid", vmid)?)?;
    if vm.snapshot(snapshot).is_none() {
        return Err(ApiError::server(format!(
            "snapshot '{snapshot}' does not exist"
        )));
    }
    Ok(json!([{"cmd": "config"}, {"cmd": "rollback"}]))
}

pub(super) fn create_snapshot(
    state: &mut State,
    node: &str,
    vmid: &str,
    params: &Params,
    caller: &Caller<'_>,
) -> Result<Value, ApiError> {
    let vmid = parse_vmid("vmid", vmid)?;
    let name = required(params, "snapname")?.to_string();
    if !is_snapshot_name(&name) {
        return Err(ApiError::param(
            "snapname",
            &format!("invalid format - invalid configuration ID '{name}'"),
        ));
    }
    if name == "current" {
        return Err(ApiError::server("you can't use 'current' as snapshot name"));
    }
    let vmstate = flag(params, "vmstate")?.unwrap_or(false);
    let vm = state.vm(node, vmid)?;
    if vm.is_template() {
        return Err(ApiError::server(
            "you can't take a snapshot if it's a template",
        ));
    }
    unlocked(vm)?;
    if vm.snapshot(&name).is_some() {
        return Err(ApiError::server(format!(
            "snapshot name '{name}' already used"
        )));
    }
    state.vm_mut(node, vmid)?.lock = Some("snapshot".into());
    let effect = Effect::Snapshot {
        vmid,
        name,
        description: params.get("description").cloned().unwrap_or_default(),
        vmstate,
    };
    let failure = caller.faults.take_failure();
    Ok(Value::String(state.spawn_task(
        node,
        "qmsnapshot",
        &vmid.to_string(),
        caller.token_user,
        effect,
        failure,
    )))
}

pub(super) fn rollback(
    state: &mut State,
    node: &str,
    vmid: &str,
    snapshot: &str,
    params: &Params,
    caller: &Caller<'_>,
) -> Result<Value, ApiError> {
    let vmid = parse_vmid("vmid", vmid)?;
    let start = flag(params, "start")?.unwrap_or(false);
    let vm = state.vm(node, vmid)?;
    unlocked(vm)?;
    // A missing snapshot is reported by the task, as Proxmox does.
    if vm.snapshot(snapshot).is_some() {
        state.vm_mut(node, vmid)?.lock = Some("rollback".into());
    }
    let effect = Effect::Rollback {
        vmid,
        name: snapshot.to_string(),
        start,
    };
    let failure = caller.faults.take_failure();
    Ok(Value::String(state.spawn_task(
        node,
        "qmrollback",
        &vmid.to_string(),
        caller.token_user,
        effect,
        failure,
    )))
}

pub(super) fn delete_snapshot(
    state: &mut State,
    node: &str,
    vmid: &str,
    snapshot: &str,
    caller: &Caller<'_>,
) -> Result<Value, ApiError> {
    let vmid = parse_vmid("vmid", vmid)?;
    let vm = state.vm(node, vmid)?;
    unlocked(vm)?;
    if vm.snapshot(snapshot).is_some() {
        state.vm_mut(node, vmid)?.lock = Some("snapshot-delete".into());
    }
    let effect = Effect::DeleteSnapshot {
        vmid,
        name: snapshot.to_string(),
    };
    let failure = caller.faults.take_failure();
    Ok(Value::String(state.spawn_task(
        node,
        "qmdelsnapshot",
        &vmid.to_string(),
        caller.token_user,
        effect,
        failure,
    )))
}
