//! The Proxmox VE endpoints the simulator implements: a closed [`Endpoint`] enum parsed from the
//! path below `/api2/json`, and one function per endpoint working on the [`State`].

use crate::error::ApiError;
use crate::state::{
    is_snapshot_name, now, parse_bool, random_uuid, validate_config, CloneKind, Effect, State, Vm,
    VncTicket,
};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use trellis_simkit::Faults;

/// Request parameters (query string and body merged).
pub(crate) type Params = BTreeMap<String, String>;

/// The status actions of `POST /nodes/{node}/qemu/{vmid}/status/{action}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PowerAction {
    Start,
    Stop,
    Shutdown,
    Reboot,
}

impl PowerAction {
    fn parse(segment: &str) -> Option<PowerAction> {
        match segment {
            "start" => Some(PowerAction::Start),
            "stop" => Some(PowerAction::Stop),
            "shutdown" => Some(PowerAction::Shutdown),
            "reboot" => Some(PowerAction::Reboot),
            _ => None,
        }
    }
}

/// Every path the simulator knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Endpoint {
    Version,
    Nodes,
    NextId,
    ClusterResources,
    Storages,
    Qemu {
        node: String,
    },
    Vm {
        node: String,
        vmid: String,
    },
    VmConfig {
        node: String,
        vmid: String,
    },
    VmClone {
        node: String,
        vmid: String,
    },
    VmStatusCurrent {
        node: String,
        vmid: String,
    },
    VmPower {
        node: String,
        vmid: String,
        action: PowerAction,
    },
    VmSnapshots {
        node: String,
        vmid: String,
    },
    VmSnapshot {
        node: String,
        vmid: String,
        snapshot: String,
    },
    VmRollback {
        node: String,
        vmid: String,
        snapshot: String,
    },
    VmVncProxy {
        node: String,
        vmid: String,
    },
    Network {
        node: String,
    },
    NodeStorages {
        node: String,
    },
    StorageContent {
        node: String,
        storage: String,
    },
    Tasks {
        node: String,
    },
    TaskStatus {
        node: String,
        upid: String,
    },
}

impl Endpoint {
    /// Parses percent-decoded path segments below `/api2/json` (empty segments dropped, so a
    /// trailing slash is accepted).
    pub fn parse(segments: &[String]) -> Option<Endpoint> {
        let s: Vec<&str> = segments.iter().map(String::as_str).collect();
        let owned = |value: &str| value.to_string();
        Some(match s.as_slice() {
            ["version"] => Endpoint::Version,
            ["nodes"] => Endpoint::Nodes,
            ["cluster", "nextid"] => Endpoint::NextId,
            ["cluster", "resources"] => Endpoint::ClusterResources,
            ["storage"] => Endpoint::Storages,
            ["nodes", node, "qemu"] => Endpoint::Qemu { node: owned(node) },
            ["nodes", node, "qemu", vmid] => Endpoint::Vm {
                node: owned(node),
                vmid: owned(vmid),
            },
            ["nodes", node, "qemu", vmid, "config"] => Endpoint::VmConfig {
                node: owned(node),
                vmid: owned(vmid),
            },
            ["nodes", node, "qemu", vmid, "clone"] => Endpoint::VmClone {
                node: owned(node),
                vmid: owned(vmid),
            },
            ["nodes", node, "qemu", vmid, "status", "current"] => Endpoint::VmStatusCurrent {
                node: owned(node),
                vmid: owned(vmid),
            },
            ["nodes", node, "qemu", vmid, "status", action] => Endpoint::VmPower {
                node: owned(node),
                vmid: owned(vmid),
                action: PowerAction::parse(action)?,
            },
            ["nodes", node, "qemu", vmid, "snapshot"] => Endpoint::VmSnapshots {
                node: owned(node),
                vmid: owned(vmid),
            },
            ["nodes", node, "qemu", vmid, "snapshot", snapshot] => Endpoint::VmSnapshot {
                node: owned(node),
                vmid: owned(vmid),
                snapshot: owned(snapshot),
            },
            ["nodes", node, "qemu", vmid, "snapshot", snapshot, "rollback"] => {
                Endpoint::VmRollback {
                    node: owned(node),
                    vmid: owned(vmid),
                    snapshot: owned(snapshot),
                }
            }
            ["nodes", node, "qemu", vmid, "vncproxy"] => Endpoint::VmVncProxy {
                node: owned(node),
                vmid: owned(vmid),
            },
            ["nodes", node, "network"] => Endpoint::Network { node: owned(node) },
            ["nodes", node, "storage"] => Endpoint::NodeStorages { node: owned(node) },
            ["nodes", node, "storage", storage, "content"] => Endpoint::StorageContent {
                node: owned(node),
                storage: owned(storage),
            },
            ["nodes", node, "tasks"] => Endpoint::Tasks { node: owned(node) },
            ["nodes", node, "tasks", upid, "status"] => Endpoint::TaskStatus {
                node: owned(node),
                upid: owned(upid),
            },
            _ => return None,
        })
    }
}

/// Who is calling (for UPIDs and answers).
pub(crate) struct Caller<'a> {
    /// `user@realm!tokenid`.
    pub token_user: &'a str,
    pub faults: &'a Faults,
    pub certificate_pem: Option<&'a str>,
}

/// Runs one API call. `Err(None)` means the method is not implemented for the path.
pub(crate) fn handle(
    state: &mut State,
    method: &str,
    endpoint: &Endpoint,
    params: &Params,
    caller: &Caller<'_>,
) -> Result<Value, Option<ApiError>> {
    use Endpoint as E;
    let answer = match (method, endpoint) {
        ("GET", E::Version) => {
            Ok(json!({"version": "8.2.4", "release": "8.2", "repoid": "faa83925c9641325"}))
        }
        ("GET", E::Nodes) => Ok(nodes(state)),
        ("GET", E::NextId) => next_id(state, params),
        ("GET", E::ClusterResources) => Ok(cluster_resources(state, params)),
        ("GET", E::Storages) => Ok(storages(state)),
        ("GET", E::NodeStorages { node }) => state.node(node).map(|_| storages(state)),
        ("GET", E::StorageContent { node, storage }) => storage_content(state, node, storage),
        ("GET", E::Qemu { node }) => list_vms(state, node),
        ("POST", E::Qemu { node }) => create_vm(state, node, params, caller),
        ("GET", E::Vm { node, vmid }) => vm_index(state, node, vmid),
        ("DELETE", E::Vm { node, vmid }) => destroy_vm(state, node, vmid, caller),
        ("GET", E::VmConfig { node, vmid }) => vm_config(state, node, vmid),
        ("POST", E::VmConfig { node, vmid }) => {
            update_config(state, node, vmid, params, caller, true)
        }
        ("PUT", E::VmConfig { node, vmid }) => {
            update_config(state, node, vmid, params, caller, false)
        }
        ("POST", E::VmClone { node, vmid }) => clone_vm(state, node, vmid, params, caller),
        ("GET", E::VmStatusCurrent { node, vmid }) => status_current(state, node, vmid),
        ("POST", E::VmPower { node, vmid, action }) => power(state, node, vmid, *action, caller),
        ("GET", E::VmSnapshots { node, vmid }) => list_snapshots(state, node, vmid),
        ("POST", E::VmSnapshots { node, vmid }) => {
            create_snapshot(state, node, vmid, params, caller)
        }
        (
            "GET",
            E::VmSnapshot {
                node,
                vmid,
                snapshot,
            },
        ) => snapshot_index(state, node, vmid, snapshot),
        (
            "DELETE",
            E::VmSnapshot {
                node,
                vmid,
                snapshot,
            },
        ) => delete_snapshot(state, node, vmid, snapshot, caller),
        (
            "POST",
            E::VmRollback {
                node,
                vmid,
                snapshot,
            },
        ) => rollback(state, node, vmid, snapshot, params, caller),
        ("POST", E::VmVncProxy { node, vmid }) => vnc_proxy(state, node, vmid, caller),
        ("GET", E::Network { node }) => network(state, node),
        ("GET", E::Tasks { node }) => tasks(state, node),
        ("GET", E::TaskStatus { node, upid }) => task_status(state, node, upid),
        _ => return Err(None),
    };
    answer.map_err(Some)
}

fn parse_vmid(name: &str, value: &str) -> Result<u32, ApiError> {
    match value.parse::<u32>() {
        Ok(vmid) if (100..=999_999_999).contains(&vmid) => Ok(vmid),
        _ => Err(ApiError::param(
            name,
            "invalid format - value does not look like a valid VM ID",
        )),
    }
}

fn required<'p>(params: &'p Params, name: &str) -> Result<&'p str, ApiError> {
    params
        .get(name)
        .map(String::as_str)
        .ok_or_else(|| ApiError::param(name, "property is missing and it is not optional"))
}

fn flag(params: &Params, name: &str) -> Result<Option<bool>, ApiError> {
    params
        .get(name)
        .map(|value| {
            parse_bool(value).ok_or_else(|| {
                ApiError::param(
                    name,
                    &format!("type check ('boolean') failed - got '{value}'"),
                )
            })
        })
        .transpose()
}

fn unlocked(vm: &Vm) -> Result<(), ApiError> {
    match &vm.lock {
        Some(lock) => Err(ApiError::server(format!("VM is locked ({lock})"))),
        None => Ok(()),
    }
}

fn nodes(state: &State) -> Value {
    let list: Vec<Value> = state
        .nodes
        .keys()
        .map(|name| {
            json!({"node": name, "status": "online", "type": "node", "id": format!("node/{name}"),
                   "maxcpu": 16, "maxmem": 68_719_476_736u64, "uptime": 86_400, "level": "", "ssl_fingerprint": ""})
        })
        .collect();
    Value::Array(list)
}

fn next_id(state: &State, params: &Params) -> Result<Value, ApiError> {
    match params.get("vmid") {
        Some(value) => {
            let vmid = parse_vmid("vmid", value)?;
            if state.vms.contains_key(&vmid) {
                return Err(ApiError::param(
                    "vmid",
                    &format!("VM {vmid} already exists"),
                ));
            }
            Ok(Value::String(vmid.to_string()))
        }
        // Real nodes answer with a string here.
        None => Ok(Value::String(state.next_free_vmid().to_string())),
    }
}

fn cluster_resources(state: &State, params: &Params) -> Value {
    let now = now();
    let wanted = params.get("type").map(String::as_str);
    let mut list = Vec::new();
    if wanted.is_none() || wanted == Some("vm") {
        for vm in state.vms.values() {
            let mut entry = vm.summary(now);
            entry["id"] = json!(format!("qemu/{}", vm.vmid));
            entry["type"] = json!("qemu");
            entry["node"] = json!(vm.node);
            list.push(entry);
        }
    }
    if wanted.is_none() || wanted == Some("node") {
        for name in state.nodes.keys() {
            list.push(json!({"id": format!("node/{name}"), "type": "node", "node": name, "status": "online"}));
        }
    }
    Value::Array(list)
}

fn storages(state: &State) -> Value {
    let list: Vec<Value> = state
        .storages
        .iter()
        .map(|storage| {
            json!({"storage": storage.id, "type": storage.kind, "content": storage.content.join(","),
                   "active": 1, "enabled": 1, "shared": 0,
                   "total": 107_374_182_400u64, "used": 10_737_418_240u64, "avail": 96_636_764_160u64})
        })
        .collect();
    Value::Array(list)
}

fn storage_content(state: &State, node: &str, storage_id: &str) -> Result<Value, ApiError> {
    state.node(node)?;
    let storage = state
        .storage(storage_id)
        .ok_or_else(|| ApiError::server(format!("storage '{storage_id}' does not exist")))?;
    let mut list: Vec<Value> = storage
        .volumes
        .iter()
        .map(|volid| json!({"volid": volid, "content": "iso", "format": "iso", "size": 2_147_483_648u64}))
        .collect();
    for vm in state.vms.values() {
        for (key, value) in &vm.config {
            if !crate::state::is_disk_key(key) || value.contains("media=cdrom") {
                continue;
            }
            let volume = value.split(',').next().unwrap_or_default();
            if volume.starts_with(&format!("{storage_id}:")) {
                list.push(
                    json!({"volid": volume, "content": "images", "format": "raw", "vmid": vm.vmid}),
                );
            }
        }
    }
    Ok(Value::Array(list))
}

fn list_vms(state: &State, node: &str) -> Result<Value, ApiError> {
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

fn vm_index(state: &State, node: &str, vmid: &str) -> Result<Value, ApiError> {
    state.vm(node, parse_vmid("vmid", vmid)?)?;
    let subdirs = ["config", "status", "snapshot", "clone", "vncproxy"];
    Ok(Value::Array(
        subdirs
            .iter()
            .map(|subdir| json!({"subdir": subdir}))
            .collect(),
    ))
}

fn create_vm(
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

fn clone_vm(
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

fn vm_config(state: &State, node: &str, vmid: &str) -> Result<Value, ApiError> {
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

fn update_config(
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

fn status_current(state: &State, node: &str, vmid: &str) -> Result<Value, ApiError> {
    let vm = state.vm(node, parse_vmid("vmid", vmid)?)?;
    let mut answer = vm.summary(now());
    answer["qmpstatus"] = json!(vm.status.as_str());
    answer["ha"] = json!({"managed": 0});
    Ok(answer)
}

fn power(
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

fn destroy_vm(
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

fn list_snapshots(state: &State, node: &str, vmid: &str) -> Result<Value, ApiError> {
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

fn snapshot_index(
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

fn create_snapshot(
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

fn rollback(
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

fn delete_snapshot(
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

fn vnc_proxy(
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

fn network(state: &State, node: &str) -> Result<Value, ApiError> {
    let node = state.node(node)?;
    let list: Vec<Value> = node
        .network
        .iter()
        .map(|interface| {
            let mut entry = json!({"iface": interface.iface, "type": interface.kind, "method": interface.method,
                                   "method6": "manual", "active": 1, "autostart": 1, "priority": 1, "families": ["inet"]});
            let object = entry.as_object_mut().expect("a json object literal");
            let optional = [
                ("address", &interface.address),
                ("netmask", &interface.netmask),
                ("cidr", &interface.cidr),
                ("gateway", &interface.gateway),
                ("bridge_ports", &interface.bridge_ports),
            ];
            for (key, value) in optional {
                if let Some(value) = value {
                    object.insert(key.into(), Value::String(value.clone()));
                }
            }
            if interface.kind == "bridge" {
                object.insert("bridge_vlan_aware".into(), Value::from(u8::from(interface.vlan_aware)));
            }
            entry
        })
        .collect();
    Ok(Value::Array(list))
}

fn task_entry(info: &crate::state::TaskInfo) -> Value {
    let mut entry = json!({
        "upid": info.upid, "node": info.node, "pid": info.pid, "pstart": info.pstart,
        "starttime": info.starttime, "type": info.kind, "id": info.id, "user": info.user,
        "status": if info.is_running() { "running" } else { "stopped" },
    });
    if let Some((user, token)) = info.user.split_once('!') {
        entry["user"] = json!(user);
        entry["tokenid"] = json!(token);
    }
    if let Some(exitstatus) = &info.exitstatus {
        entry["exitstatus"] = json!(exitstatus);
    }
    entry
}

fn tasks(state: &State, node: &str) -> Result<Value, ApiError> {
    state.node(node)?;
    let mut list: Vec<&crate::state::TaskInfo> = state
        .tasks
        .values()
        .map(|record| &record.info)
        .filter(|info| info.node == node)
        .collect();
    list.sort_by_key(|info| std::cmp::Reverse(info.pid));
    Ok(Value::Array(list.into_iter().map(task_entry).collect()))
}

fn task_status(state: &mut State, node: &str, upid: &str) -> Result<Value, ApiError> {
    state.node(node)?;
    let fields: Vec<&str> = upid.split(':').collect();
    if fields.len() != 9 || fields[0] != "UPID" || !fields[8].is_empty() {
        return Err(ApiError::param(
            "upid",
            &format!("unable to parse worker upid '{upid}'"),
        ));
    }
    if fields[1] != node {
        return Err(ApiError::server(format!("no such task on node '{node}'")));
    }
    let info = state
        .poll_task(upid)
        .ok_or_else(|| ApiError::server(format!("no such task '{upid}'")))?;
    Ok(task_entry(&info))
}
