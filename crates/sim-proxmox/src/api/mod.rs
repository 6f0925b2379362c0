//! The Proxmox VE endpoints the simulator implements: a closed [`Endpoint`] enum parsed from the
//! path below `/api2/json`, and one function per endpoint working on the [`State`].

use crate::error::ApiError;
use crate::state::{now, parse_bool, State, Vm};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use trellis_simkit::Faults;

mod snapshots;
mod vms;

use snapshots::{create_snapshot, delete_snapshot, list_snapshots, rollback, snapshot_index};
use vms::{
    clone_vm, create_vm, destroy_vm, list_vms, power, status_current, template_vm, update_config,
    vm_config, vm_index, vnc_proxy,
};

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
    VmTemplate {
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
            ["nodes", node, "qemu", vmid, "template"] => Endpoint::VmTemplate {
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
        ("POST", E::VmTemplate { node, vmid }) => template_vm(state, node, vmid, params, caller),
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
