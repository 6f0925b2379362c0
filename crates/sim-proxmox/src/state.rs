//! The simulated cluster: nodes, storages, VMs with their snapshots, and asynchronous tasks.
//!
//! Everything lives behind one mutex in [`Shared`]; no lock is held across an `.await`.
//! Mutating API calls create a [`TaskRecord`] whose effect is applied when the task completes,
//! which happens after a configurable number of status polls (or never, while tasks are held).

use crate::error::ApiError;
use rand::Rng as _;
use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};
use trellis_simkit::Faults;

/// The lowest VMID `cluster/nextid` hands out.
pub const FIRST_VMID: u32 = 100;

/// The VMID of the template every simulator starts with.
pub const TEMPLATE_VMID: u32 = 9000;

/// The name of the seeded template.
pub const TEMPLATE_NAME: &str = "ubuntu-2404-template";

/// The ISO images the `local` storage holds.
pub const SEEDED_ISOS: [&str; 2] = [
    "local:iso/ubuntu-24.04-live-server-amd64.iso",
    "local:iso/debian-12.7.0-amd64-netinst.iso",
];

/// Guest OS types Proxmox VE accepts for `ostype`.
const OS_TYPES: [&str; 13] = [
    "other", "wxp", "w2k", "w2k3", "w2k8", "wvista", "win7", "win8", "win10", "win11", "l24",
    "l26", "solaris",
];

/// Proxmox's OUI, used for generated MAC addresses.
const MAC_PREFIX: &str = "BC:24:11";

/// Power state of a simulated VM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PowerStatus {
    Running,
    Stopped,
}

impl PowerStatus {
    /// The value of `status` in Proxmox's answers.
    pub fn as_str(self) -> &'static str {
        match self {
            PowerStatus::Running => "running",
            PowerStatus::Stopped => "stopped",
        }
    }
}

/// How a VM was cloned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloneKind {
    Full,
    Linked,
}

/// A snapshot of a VM.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub name: String,
    pub description: String,
    /// Unix seconds.
    pub snaptime: u64,
    /// Whether the RAM was saved (only possible while running).
    pub vmstate: bool,
    pub parent: Option<String>,
    /// The configuration at the time of the snapshot.
    pub config: BTreeMap<String, String>,
}

/// A simulated QEMU VM (or template).
#[derive(Debug, Clone, PartialEq)]
pub struct Vm {
    pub vmid: u32,
    pub node: String,
    pub status: PowerStatus,
    /// `create`, `clone`, `snapshot`, ... while a task works on the VM.
    pub lock: Option<String>,
    /// The configuration as Proxmox stores it (`name`, `cores`, `memory`, `net0`, `scsi0`, ...).
    pub config: BTreeMap<String, String>,
    /// Snapshots in creation order.
    pub snapshots: Vec<Snapshot>,
    /// The snapshot the current state descends from.
    pub parent_snapshot: Option<String>,
    /// Source VMID and kind when the VM was cloned.
    pub cloned_from: Option<(u32, CloneKind)>,
    /// Unix seconds of the last start, while running.
    pub started_at: Option<u64>,
}

impl Vm {
    /// A stopped VM with an empty configuration.
    pub fn new(vmid: u32, node: impl Into<String>) -> Vm {
        Vm {
            vmid,
            node: node.into(),
            status: PowerStatus::Stopped,
            lock: None,
            config: BTreeMap::new(),
            snapshots: Vec::new(),
            parent_snapshot: None,
            cloned_from: None,
            started_at: None,
        }
    }

    pub fn name(&self) -> Option<&str> {
        self.config.get("name").map(String::as_str)
    }

    pub fn is_template(&self) -> bool {
        self.config
            .get("template")
            .is_some_and(|value| value == "1")
    }

    pub fn is_running(&self) -> bool {
        self.status == PowerStatus::Running
    }

    fn config_number(&self, key: &str, default: u64) -> u64 {
        self.config
            .get(key)
            .and_then(|value| value.split(',').next())
            .and_then(|value| value.trim_start_matches("current=").parse().ok())
            .unwrap_or(default)
    }

    /// Virtual CPUs (`sockets` × `cores`).
    pub fn cpus(&self) -> u64 {
        self.config_number("sockets", 1) * self.config_number("cores", 1)
    }

    /// Memory in MiB (Proxmox's default is 512).
    pub fn memory_mib(&self) -> u64 {
        self.config_number("memory", 512)
    }

    pub fn snapshot(&self, name: &str) -> Option<&Snapshot> {
        self.snapshots.iter().find(|snapshot| snapshot.name == name)
    }

    /// Parsed `net<N>` entries by index.
    pub fn nets(&self) -> BTreeMap<u32, NetSpec> {
        self.config
            .iter()
            .filter_map(|(key, value)| {
                let index = key.strip_prefix("net")?.parse().ok()?;
                Some((index, NetSpec::parse(value).ok()?))
            })
            .collect()
    }

    fn summary_disk_bytes(&self) -> u64 {
        self.config
            .iter()
            .filter(|(key, _)| is_disk_key(key))
            .filter_map(|(_, value)| {
                value
                    .split(',')
                    .find_map(|option| option.strip_prefix("size="))
                    .and_then(parse_size_bytes)
            })
            .sum()
    }

    /// The per-VM entry of `GET /nodes/{node}/qemu` (and the base of `status/current`).
    pub(crate) fn summary(&self, now: u64) -> serde_json::Value {
        let mut entry = serde_json::json!({
            "vmid": self.vmid,
            "status": self.status.as_str(),
            "cpus": self.cpus(),
            "maxmem": self.memory_mib() * 1024 * 1024,
            "mem": if self.is_running() { self.memory_mib() * 1024 * 1024 / 2 } else { 0 },
            "maxdisk": self.summary_disk_bytes(),
            "disk": 0,
            "uptime": self.started_at.map(|at| now.saturating_sub(at)).unwrap_or(0),
            "netin": 0,
            "netout": 0,
            "diskread": 0,
            "diskwrite": 0,
        });
        let object = entry.as_object_mut().expect("a json object literal");
        if let Some(name) = self.name() {
            object.insert("name".into(), name.into());
        }
        if self.is_template() {
            object.insert("template".into(), 1.into());
        }
        if let Some(lock) = &self.lock {
            object.insert("lock".into(), lock.clone().into());
        }
        if let Some(tags) = self.config.get("tags") {
            object.insert("tags".into(), tags.clone().into());
        }
        if self.is_running() {
            object.insert("pid".into(), (10_000 + self.vmid).into());
        }
        entry
    }
}

/// A parsed `net<N>` value (`virtio=BC:24:11:00:00:01,bridge=vmbr0,tag=100,firewall=0`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetSpec {
    pub model: String,
    pub mac: Option<String>,
    pub bridge: Option<String>,
    pub tag: Option<u16>,
    pub firewall: bool,
}

const NET_MODELS: [&str; 5] = ["virtio", "e1000", "e1000e", "rtl8139", "vmxnet3"];

impl NetSpec {
    /// Parses Proxmox's property string, with Proxmox's error texts.
    pub fn parse(value: &str) -> Result<NetSpec, String> {
        let mut spec = NetSpec {
            model: String::new(),
            mac: None,
            bridge: None,
            tag: None,
            firewall: false,
        };
        for part in value.split(',').filter(|part| !part.is_empty()) {
            let (key, val) = part.split_once('=').unwrap_or((part, ""));
            match key {
                model if NET_MODELS.contains(&model) => {
                    spec.model = model.to_string();
                    if !val.is_empty() {
                        if !is_mac(val) {
                            return Err(format!("invalid format - value '{val}' does not look like a valid MAC address"));
                        }
                        spec.mac = Some(val.to_ascii_uppercase());
                    }
                }
                "model" => {
                    if !NET_MODELS.contains(&val) {
                        return Err(format!(
                            "invalid format - value '{val}' does not have a valid model"
                        ));
                    }
                    spec.model = val.to_string();
                }
                "macaddr" => {
                    if !is_mac(val) {
                        return Err(format!(
                            "invalid format - value '{val}' does not look like a valid MAC address"
                        ));
                    }
                    spec.mac = Some(val.to_ascii_uppercase());
                }
                "bridge" => spec.bridge = Some(val.to_string()),
                "tag" => match val.parse::<u16>() {
                    Ok(tag) if (1..=4094).contains(&tag) => spec.tag = Some(tag),
                    _ => {
                        return Err(format!(
                            "invalid format - tag: value '{val}' must be between 1 and 4094"
                        ))
                    }
                },
                "firewall" => spec.firewall = parse_bool(val).unwrap_or(false),
                "link_down" | "mtu" | "queues" | "rate" | "trunks" => {}
                other => return Err(format!("invalid format - unknown key '{other}'")),
            }
        }
        if spec.model.is_empty() {
            return Err("invalid format - missing network model".into());
        }
        Ok(spec)
    }
}

fn is_mac(value: &str) -> bool {
    let parts: Vec<&str> = value.split(':').collect();
    parts.len() == 6
        && parts
            .iter()
            .all(|part| part.len() == 2 && part.chars().all(|c| c.is_ascii_hexdigit()))
}

/// `1/0`, `true/false`, `yes/no`, `on/off` as Proxmox accepts for booleans.
pub(crate) fn parse_bool(value: &str) -> Option<bool> {
    match value.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

fn parse_size_bytes(value: &str) -> Option<u64> {
    let (number, unit) = value.split_at(
        value
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(value.len()),
    );
    let number: u64 = number.parse().ok()?;
    let factor = match unit {
        "" | "G" => 1 << 30,
        "M" => 1 << 20,
        "K" => 1 << 10,
        "T" => 1 << 40,
        _ => return None,
    };
    Some(number * factor)
}

/// Whether `key` names a disk slot (`scsi0`, `virtio1`, `ide2`, `efidisk0`, ...).
pub(crate) fn is_disk_key(key: &str) -> bool {
    ["scsi", "virtio", "sata", "ide", "efidisk", "tpmstate"]
        .iter()
        .any(|prefix| {
            key.strip_prefix(prefix)
                .is_some_and(|rest| !rest.is_empty() && rest.chars().all(|c| c.is_ascii_digit()))
        })
}

/// Whether `name` is a DNS name as Proxmox's `dns-name` format requires.
pub fn is_dns_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// Whether `name` is a valid snapshot name (Proxmox's `pve-configid`, at most 40 characters).
pub fn is_snapshot_name(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() >= 2
        && name.len() <= 40
        && chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// A network interface of a node (`GET /nodes/{node}/network`).
#[derive(Debug, Clone, PartialEq)]
pub struct NetworkInterface {
    pub iface: String,
    /// `eth`, `bridge`, `bond`, ...
    pub kind: String,
    /// `static`, `manual`, `dhcp`.
    pub method: String,
    pub address: Option<String>,
    pub netmask: Option<String>,
    pub cidr: Option<String>,
    pub gateway: Option<String>,
    pub bridge_ports: Option<String>,
    pub vlan_aware: bool,
}

/// A cluster node.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub name: String,
    pub network: Vec<NetworkInterface>,
}

impl Node {
    /// A node with a physical NIC and the bridges `vmbr0` (holding `address`) and `vmbr1`.
    pub fn new(name: impl Into<String>, address: &str) -> Node {
        let physical = NetworkInterface {
            iface: "eno1".into(),
            kind: "eth".into(),
            method: "manual".into(),
            address: None,
            netmask: None,
            cidr: None,
            gateway: None,
            bridge_ports: None,
            vlan_aware: false,
        };
        let management = NetworkInterface {
            iface: "vmbr0".into(),
            kind: "bridge".into(),
            method: "static".into(),
            address: Some(address.to_string()),
            netmask: Some("255.255.255.0".into()),
            cidr: Some(format!("{address}/24")),
            gateway: None,
            bridge_ports: Some("eno1".into()),
            vlan_aware: true,
        };
        let guests = NetworkInterface {
            iface: "vmbr1".into(),
            kind: "bridge".into(),
            method: "manual".into(),
            address: None,
            netmask: None,
            cidr: None,
            gateway: None,
            bridge_ports: None,
            vlan_aware: true,
        };
        Node {
            name: name.into(),
            network: vec![physical, management, guests],
        }
    }

    pub fn has_bridge(&self, bridge: &str) -> bool {
        self.network
            .iter()
            .any(|interface| interface.kind == "bridge" && interface.iface == bridge)
    }
}

/// A storage (shared by all nodes of the simulated cluster).
#[derive(Debug, Clone, PartialEq)]
pub struct Storage {
    pub id: String,
    /// `dir`, `lvmthin`, ...
    pub kind: String,
    /// `images`, `iso`, ...
    pub content: Vec<String>,
    /// Volume ids of stored ISO images and the like.
    pub volumes: Vec<String>,
}

impl Storage {
    pub fn holds_images(&self) -> bool {
        self.content.iter().any(|content| content == "images")
    }
}

/// A task as reported by `GET /nodes/{node}/tasks/{upid}/status`.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskInfo {
    pub upid: String,
    pub node: String,
    pub pid: u32,
    pub pstart: u32,
    pub starttime: u64,
    /// `qmclone`, `qmstart`, ...
    pub kind: String,
    /// The VMID the task works on (as text, like in the UPID).
    pub id: String,
    /// The user, with the token id (`root@pam!trellis`).
    pub user: String,
    /// `None` while running, then `OK` or the error text.
    pub exitstatus: Option<String>,
}

impl TaskInfo {
    pub fn is_running(&self) -> bool {
        self.exitstatus.is_none()
    }

    pub fn succeeded(&self) -> bool {
        self.exitstatus.as_deref() == Some("OK")
    }
}

/// A VNC proxy ticket handed out by `vncproxy`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VncTicket {
    pub vmid: u32,
    pub port: u16,
    pub ticket: String,
}

/// A request the simulator answered (the `Authorization` header is not kept).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    pub method: String,
    /// The path below `/api2/json`, percent-decoded.
    pub path: String,
    /// Query and body parameters.
    pub params: BTreeMap<String, String>,
    pub status: u16,
}

/// What a task does once it completes.
#[derive(Debug, Clone)]
pub(crate) enum Effect {
    Nothing,
    Create {
        vmid: u32,
        config: BTreeMap<String, String>,
        start: bool,
    },
    Clone {
        source: u32,
        newid: u32,
        name: Option<String>,
        description: Option<String>,
        kind: CloneKind,
        storage: Option<String>,
    },
    Config {
        vmid: u32,
        set: BTreeMap<String, String>,
        delete: Vec<String>,
    },
    Start(u32),
    Stop(u32),
    Shutdown(u32),
    Reboot(u32),
    Destroy(u32),
    Snapshot {
        vmid: u32,
        name: String,
        description: String,
        vmstate: bool,
    },
    Rollback {
        vmid: u32,
        name: String,
        start: bool,
    },
    DeleteSnapshot {
        vmid: u32,
        name: String,
    },
}

pub(crate) struct TaskRecord {
    pub info: TaskInfo,
    polls_left: u32,
    effect: Effect,
    injected_failure: Option<String>,
}

/// How the API token is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Credentials {
    pub user: String,
    pub token: String,
    pub secret: String,
}

impl Credentials {
    /// `user@realm!tokenid`, as it appears in UPIDs and task lists.
    pub fn token_user(&self) -> String {
        format!("{}!{}", self.user, self.token)
    }
}

/// The whole mutable simulator state.
pub(crate) struct State {
    pub nodes: BTreeMap<String, Node>,
    pub storages: Vec<Storage>,
    pub vms: BTreeMap<u32, Vm>,
    pub tasks: BTreeMap<String, TaskRecord>,
    pub task_polls: u32,
    pub hold_tasks: bool,
    pub requests: Vec<RecordedRequest>,
    pub vnc_tickets: Vec<VncTicket>,
    /// Pending failures for tasks of one type: (type, exit status).
    pub typed_failures: Vec<(String, String)>,
    next_pid: u32,
    pstart: u32,
    next_vnc_port: u16,
}

/// State plus the things fixed at start-up, shared by the server and the library handle.
pub(crate) struct Shared {
    state: Mutex<State>,
    pub credentials: Credentials,
    pub faults: Faults,
    pub certificate_pem: Mutex<Option<String>>,
}

impl Shared {
    pub fn new(state: State, credentials: Credentials) -> Shared {
        Shared {
            state: Mutex::new(state),
            credentials,
            faults: Faults::new(),
            certificate_pem: Mutex::new(None),
        }
    }

    pub fn state(&self) -> MutexGuard<'_, State> {
        // Handlers never leave the state half-updated across a panic point that matters here.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Unix seconds.
pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or(0)
}

pub(crate) fn random_mac() -> String {
    let mut rng = rand::thread_rng();
    format!(
        "{MAC_PREFIX}:{:02X}:{:02X}:{:02X}",
        rng.gen::<u8>(),
        rng.gen::<u8>(),
        rng.gen::<u8>()
    )
}

pub(crate) fn random_uuid() -> String {
    let bytes: [u8; 16] = rand::thread_rng().gen();
    let hex: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// The text Proxmox uses when a VM's configuration file is missing.
pub(crate) fn missing_config(node: &str, vmid: u32) -> ApiError {
    ApiError::server(format!(
        "Configuration file 'nodes/{node}/qemu-server/{vmid}.conf' does not exist"
    ))
}

impl State {
    /// A cluster with one node, the two usual storages and the template VM.
    pub fn new(node: &str, node_address: &str, task_polls: u32) -> State {
        let mut state = State {
            nodes: BTreeMap::new(),
            storages: vec![
                Storage {
                    id: "local".into(),
                    kind: "dir".into(),
                    content: vec!["iso".into(), "vztmpl".into(), "backup".into()],
                    volumes: SEEDED_ISOS.iter().map(|iso| iso.to_string()).collect(),
                },
                Storage {
                    id: "local-lvm".into(),
                    kind: "lvmthin".into(),
                    content: vec!["images".into(), "rootdir".into()],
                    volumes: Vec::new(),
                },
            ],
            vms: BTreeMap::new(),
            tasks: BTreeMap::new(),
            task_polls,
            hold_tasks: false,
            requests: Vec::new(),
            vnc_tickets: Vec::new(),
            typed_failures: Vec::new(),
            next_pid: 0x0001_2000,
            pstart: 0x0123_4567,
            next_vnc_port: 5900,
        };
        state
            .nodes
            .insert(node.to_string(), Node::new(node, node_address));
        state.vms.insert(TEMPLATE_VMID, template_vm(node));
        state
    }

    pub fn node(&self, node: &str) -> Result<&Node, ApiError> {
        self.nodes.get(node).ok_or_else(|| {
            ApiError::server(format!(
                "hostname lookup '{node}' failed - failed to get address info for: {node}: Name or service not known"
            ))
        })
    }

    /// The VM `vmid` on `node`, with Proxmox's error when it is not there.
    pub fn vm(&self, node: &str, vmid: u32) -> Result<&Vm, ApiError> {
        self.node(node)?;
        self.vms
            .get(&vmid)
            .filter(|vm| vm.node == node)
            .ok_or_else(|| missing_config(node, vmid))
    }

    pub fn vm_mut(&mut self, node: &str, vmid: u32) -> Result<&mut Vm, ApiError> {
        self.vm(node, vmid)?;
        self.vms
            .get_mut(&vmid)
            .ok_or_else(|| missing_config(node, vmid))
    }

    pub fn storage(&self, id: &str) -> Option<&Storage> {
        self.storages.iter().find(|storage| storage.id == id)
    }

    /// The lowest unused VMID.
    pub fn next_free_vmid(&self) -> u32 {
        (FIRST_VMID..)
            .find(|vmid| !self.vms.contains_key(vmid))
            .unwrap_or(FIRST_VMID)
    }

    pub fn next_vnc_port(&mut self) -> u16 {
        let port = self.next_vnc_port;
        self.next_vnc_port = if port >= 5999 { 5900 } else { port + 1 };
        port
    }

    /// Starts a task and returns its UPID. `failure`, when set, is the exit status it ends with
    /// (its effect is then not applied).
    pub fn spawn_task(
        &mut self,
        node: &str,
        kind: &str,
        id: &str,
        user: &str,
        effect: Effect,
        failure: Option<String>,
    ) -> String {
        let failure = failure.or_else(|| {
            let position = self
                .typed_failures
                .iter()
                .position(|(typed, _)| typed == kind)?;
            Some(self.typed_failures.remove(position).1)
        });
        let pid = self.next_pid;
        self.next_pid += 1;
        let starttime = now();
        let upid = format!(
            "UPID:{node}:{pid:08X}:{pstart:08X}:{starttime:08X}:{kind}:{id}:{user}:",
            pstart = self.pstart
        );
        let info = TaskInfo {
            upid: upid.clone(),
            node: node.to_string(),
            pid,
            pstart: self.pstart,
            starttime,
            kind: kind.to_string(),
            id: id.to_string(),
            user: user.to_string(),
            exitstatus: None,
        };
        let record = TaskRecord {
            info,
            polls_left: self.task_polls,
            effect,
            injected_failure: failure,
        };
        self.tasks.insert(upid.clone(), record);
        upid
    }

    /// One status poll of a task: counts down, completes it when due, and returns its state.
    pub fn poll_task(&mut self, upid: &str) -> Option<TaskInfo> {
        let hold = self.hold_tasks;
        let record = self.tasks.get_mut(upid)?;
        if record.info.is_running() && !hold {
            if record.polls_left > 0 {
                record.polls_left -= 1;
            } else {
                self.finish_task(upid);
            }
        }
        self.tasks.get(upid).map(|record| record.info.clone())
    }

    /// Completes every running task now (whatever the poll counters say).
    pub fn finish_all_tasks(&mut self) {
        let running: Vec<String> = self
            .tasks
            .values()
            .filter(|record| record.info.is_running())
            .map(|record| record.info.upid.clone())
            .collect();
        for upid in running {
            self.finish_task(&upid);
        }
    }

    fn finish_task(&mut self, upid: &str) {
        let Some(record) = self.tasks.get_mut(upid) else {
            return;
        };
        let effect = std::mem::replace(&mut record.effect, Effect::Nothing);
        let outcome = match record.injected_failure.take() {
            Some(message) => Err(message),
            None => self.apply(&effect),
        };
        let exitstatus = match outcome {
            Ok(()) => "OK".to_string(),
            Err(message) => {
                self.undo_reservation(&effect);
                message
            }
        };
        if let Some(record) = self.tasks.get_mut(upid) {
            record.info.exitstatus = Some(exitstatus);
        }
    }

    /// After a failed task: drop the VM a create or clone reserved, release locks.
    fn undo_reservation(&mut self, effect: &Effect) {
        let (vmid, lock) = match effect {
            Effect::Create { vmid, .. } => (*vmid, "create"),
            Effect::Clone { newid, .. } => (*newid, "clone"),
            Effect::Destroy(vmid) => (*vmid, "destroyed"),
            Effect::Snapshot { vmid, .. } => (*vmid, "snapshot"),
            Effect::Rollback { vmid, .. } => (*vmid, "rollback"),
            Effect::DeleteSnapshot { vmid, .. } => (*vmid, "snapshot-delete"),
            _ => return,
        };
        let Some(vm) = self.vms.get_mut(&vmid) else {
            return;
        };
        if vm.lock.as_deref() != Some(lock) {
            return;
        }
        if matches!(effect, Effect::Create { .. } | Effect::Clone { .. }) {
            self.vms.remove(&vmid);
        } else {
            vm.lock = None;
        }
    }

    fn existing(&mut self, vmid: u32) -> Result<&mut Vm, String> {
        self.vms
            .get_mut(&vmid)
            .ok_or_else(|| format!("Configuration file 'qemu-server/{vmid}.conf' does not exist"))
    }

    fn check_bridges(&self, vmid: u32) -> Result<(), String> {
        let Some(vm) = self.vms.get(&vmid) else {
            return Ok(());
        };
        let Some(node) = self.nodes.get(&vm.node) else {
            return Ok(());
        };
        for spec in vm.nets().values() {
            if let Some(bridge) = &spec.bridge {
                if !node.has_bridge(bridge) {
                    return Err(format!("bridge '{bridge}' does not exist"));
                }
            }
        }
        Ok(())
    }

    fn start_vm(&mut self, vmid: u32) -> Result<(), String> {
        self.check_bridges(vmid)?;
        let vm = self.existing(vmid)?;
        if vm.is_running() {
            return Err(format!("VM {vmid} already running"));
        }
        vm.status = PowerStatus::Running;
        vm.started_at = Some(now());
        Ok(())
    }

    /// Applies a completed task's effect, or returns the task's error text.
    fn apply(&mut self, effect: &Effect) -> Result<(), String> {
        match effect {
            Effect::Nothing => Ok(()),
            Effect::Create {
                vmid,
                config,
                start,
            } => {
                let vm = self.existing(*vmid)?;
                vm.config = config.clone();
                vm.lock = None;
                if *start {
                    self.start_vm(*vmid)?;
                }
                Ok(())
            }
            Effect::Clone {
                source,
                newid,
                name,
                description,
                kind,
                storage,
            } => {
                let source_vm = self.vms.get(source).ok_or_else(|| {
                    format!("Configuration file 'qemu-server/{source}.conf' does not exist")
                })?;
                let config = cloned_config(
                    source_vm,
                    *newid,
                    name.as_deref(),
                    description.as_deref(),
                    *kind,
                    storage.as_deref(),
                );
                let vm = self.existing(*newid)?;
                vm.config = config;
                vm.lock = None;
                vm.cloned_from = Some((*source, *kind));
                Ok(())
            }
            Effect::Config { vmid, set, delete } => {
                let vm = self.existing(*vmid)?;
                if let Some(lock) = &vm.lock {
                    return Err(format!("VM is locked ({lock})"));
                }
                for key in delete {
                    vm.config.remove(key);
                }
                vm.config.extend(set.clone());
                Ok(())
            }
            Effect::Start(vmid) => {
                let vm = self.existing(*vmid)?;
                if let Some(lock) = &vm.lock {
                    return Err(format!("VM is locked ({lock})"));
                }
                self.start_vm(*vmid)
            }
            Effect::Stop(vmid) => {
                let vm = self.existing(*vmid)?;
                vm.status = PowerStatus::Stopped;
                vm.started_at = None;
                Ok(())
            }
            Effect::Shutdown(vmid) => {
                let vm = self.existing(*vmid)?;
                if !vm.is_running() {
                    return Err(format!("VM {vmid} not running"));
                }
                vm.status = PowerStatus::Stopped;
                vm.started_at = None;
                Ok(())
            }
            Effect::Reboot(vmid) => {
                let vm = self.existing(*vmid)?;
                if !vm.is_running() {
                    return Err(format!("VM {vmid} not running"));
                }
                vm.started_at = Some(now());
                Ok(())
            }
            Effect::Destroy(vmid) => {
                let vm = self.existing(*vmid)?;
                if vm.is_running() {
                    return Err(format!("VM {vmid} is running - destroy failed"));
                }
                self.vms.remove(vmid);
                Ok(())
            }
            Effect::Snapshot {
                vmid,
                name,
                description,
                vmstate,
            } => {
                let vm = self.existing(*vmid)?;
                if vm.snapshot(name).is_some() {
                    return Err(format!("snapshot name '{name}' already used"));
                }
                let snapshot = Snapshot {
                    name: name.clone(),
                    description: description.clone(),
                    snaptime: now(),
                    vmstate: *vmstate && vm.is_running(),
                    parent: vm.parent_snapshot.clone(),
                    config: vm.config.clone(),
                };
                vm.snapshots.push(snapshot);
                vm.parent_snapshot = Some(name.clone());
                vm.lock = None;
                Ok(())
            }
            Effect::Rollback { vmid, name, start } => {
                let vm = self.existing(*vmid)?;
                let snapshot = vm
                    .snapshot(name)
                    .cloned()
                    .ok_or_else(|| format!("snapshot '{name}' does not exist"))?;
                vm.config = snapshot.config;
                vm.parent_snapshot = Some(name.clone());
                vm.lock = None;
                if snapshot.vmstate || *start {
                    vm.status = PowerStatus::Running;
                    vm.started_at = Some(now());
                } else {
                    vm.status = PowerStatus::Stopped;
                    vm.started_at = None;
                }
                Ok(())
            }
            Effect::DeleteSnapshot { vmid, name } => {
                let vm = self.existing(*vmid)?;
                let position = vm
                    .snapshots
                    .iter()
                    .position(|snapshot| &snapshot.name == name)
                    .ok_or_else(|| format!("snapshot '{name}' does not exist"))?;
                let removed = vm.snapshots.remove(position);
                for snapshot in &mut vm.snapshots {
                    if snapshot.parent.as_deref() == Some(name.as_str()) {
                        snapshot.parent = removed.parent.clone();
                    }
                }
                if vm.parent_snapshot.as_deref() == Some(name.as_str()) {
                    vm.parent_snapshot = removed.parent;
                }
                vm.lock = None;
                Ok(())
            }
        }
    }
}

/// The configuration a clone of `source` gets: new disks, new MACs, new SMBIOS UUID.
fn cloned_config(
    source: &Vm,
    newid: u32,
    name: Option<&str>,
    description: Option<&str>,
    kind: CloneKind,
    storage: Option<&str>,
) -> BTreeMap<String, String> {
    let mut config = source.config.clone();
    config.remove("template");
    let default_name = format!("Copy-of-VM-{}", source.name().unwrap_or("unnamed"));
    config.insert(
        "name".into(),
        name.map(str::to_string).unwrap_or(default_name),
    );
    if let Some(description) = description {
        config.insert("description".into(), description.to_string());
    }
    let mut disk_index = 0;
    for (key, value) in config.iter_mut() {
        if is_disk_key(key) {
            if let Some(cloned) = cloned_disk(value, newid, &mut disk_index, kind, storage) {
                *value = cloned;
            }
        } else if key.starts_with("net") {
            if let Ok(spec) = NetSpec::parse(value) {
                let old = spec.mac.map(|mac| format!("{}={mac}", spec.model));
                if let Some(old) = old {
                    *value = value.replace(&old, &format!("{}={}", spec.model, random_mac()));
                }
            }
        }
    }
    config.insert("smbios1".into(), format!("uuid={}", random_uuid()));
    config.insert("vmgenid".into(), random_uuid());
    config
}

fn cloned_disk(
    value: &str,
    newid: u32,
    disk_index: &mut u32,
    kind: CloneKind,
    storage: Option<&str>,
) -> Option<String> {
    if value.contains("media=cdrom") {
        return None;
    }
    let (volume, options) = value.split_once(',').unwrap_or((value, ""));
    let (source_storage, volname) = volume.split_once(':')?;
    let new_volname = format!("vm-{newid}-disk-{disk_index}");
    *disk_index += 1;
    let new_volume = match kind {
        CloneKind::Full => format!("{}:{new_volname}", storage.unwrap_or(source_storage)),
        CloneKind::Linked => format!("{source_storage}:{volname}/{new_volname}"),
    };
    Some(if options.is_empty() {
        new_volume
    } else {
        format!("{new_volume},{options}")
    })
}

/// Validates configuration parameters as Proxmox's schema does and allocates disks given as
/// `<storage>:<size in GiB>`. Returns the values to store.
pub(crate) fn validate_config(
    state: &State,
    vmid: u32,
    existing: &BTreeMap<String, String>,
    params: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, ApiError> {
    let mut disk_index = existing
        .values()
        .filter(|value| value.contains(&format!("vm-{vmid}-disk-")))
        .count();
    let mut config = BTreeMap::new();
    for (key, value) in params {
        let stored = match key.as_str() {
            "name" => {
                if !is_dns_name(value) {
                    return Err(ApiError::param(key, "invalid format - value does not look like a valid DNS name"));
                }
                value.clone()
            }
            "cores" | "sockets" | "vcpus" | "numa" | "onboot" | "balloon" | "cpuunits"
            | "template" | "protection" => {
                let number: u64 = value
                    .parse()
                    .map_err(|_| ApiError::param(key, &format!("type check ('integer') failed - got '{value}'")))?;
                if matches!(key.as_str(), "cores" | "sockets" | "vcpus") && number == 0 {
                    return Err(ApiError::param(key, "value must have a minimum value of 1"));
                }
                number.to_string()
            }
            "memory" => {
                let number: u64 = value
                    .trim_start_matches("current=")
                    .parse()
                    .map_err(|_| ApiError::param(key, &format!("type check ('integer') failed - got '{value}'")))?;
                if number < 16 {
                    return Err(ApiError::param(key, "value must have a minimum value of 16"));
                }
                number.to_string()
            }
            "ostype" => {
                if !OS_TYPES.contains(&value.as_str()) {
                    return Err(ApiError::param(key, &format!("value '{value}' does not have a value in the enumeration '{}'", OS_TYPES.join(", "))));
                }
                value.clone()
            }
            "cpu" | "scsihw" | "boot" | "description" | "tags" | "bios" | "machine" | "vga" | "smbios1"
            | "vmgenid" | "ciuser" | "cipassword" | "sshkeys" | "nameserver" | "searchdomain" | "hookscript"
            | "serial0" | "kvm" | "args" => value.clone(),
            net if net.starts_with("net") && net[3..].parse::<u32>().is_ok() => {
                NetSpec::parse(value).map_err(|message| ApiError::param(key, &message))?;
                value.clone()
            }
            ipconfig if ipconfig.starts_with("ipconfig") && ipconfig[8..].parse::<u32>().is_ok() => value.clone(),
            disk if is_disk_key(disk) => validate_disk(state, vmid, key, value, &mut disk_index)?,
            _ => {
                return Err(ApiError::param(
                    key,
                    "property is not defined in schema and the schema does not allow additional properties",
                ))
            }
        };
        config.insert(key.clone(), stored);
    }
    Ok(config)
}

fn validate_disk(
    state: &State,
    vmid: u32,
    key: &str,
    value: &str,
    disk_index: &mut usize,
) -> Result<String, ApiError> {
    let (volume, options) = value.split_once(',').unwrap_or((value, ""));
    if volume == "none" || volume == "cdrom" {
        return Ok(value.to_string());
    }
    let Some((storage_id, spec)) = volume.split_once(':') else {
        return Err(ApiError::param(
            key,
            &format!("invalid format - unable to parse volume ID '{volume}'"),
        ));
    };
    let storage = state
        .storage(storage_id)
        .ok_or_else(|| ApiError::server(format!("storage '{storage_id}' does not exist")))?;
    if options.split(',').any(|option| option == "media=cdrom") {
        if spec != "cloudinit" && !storage.volumes.iter().any(|stored| stored == volume) {
            return Err(ApiError::server(format!(
                "volume '{volume}' does not exist"
            )));
        }
        return Ok(value.to_string());
    }
    if !spec.is_empty() && spec.chars().all(|c| c.is_ascii_digit() || c == '.') {
        if !storage.holds_images() {
            return Err(ApiError::server(format!(
                "storage '{storage_id}' does not support vm images"
            )));
        }
        let size = spec.split('.').next().unwrap_or("0");
        let allocated = format!("{storage_id}:vm-{vmid}-disk-{disk_index}");
        *disk_index += 1;
        let mut stored = allocated;
        if !options.is_empty() {
            stored.push(',');
            stored.push_str(options);
        }
        stored.push_str(&format!(",size={size}G"));
        return Ok(stored);
    }
    Ok(value.to_string())
}

fn template_vm(node: &str) -> Vm {
    let mut vm = Vm::new(TEMPLATE_VMID, node);
    let entries = [
        ("name", TEMPLATE_NAME.to_string()),
        ("template", "1".into()),
        ("cores", "2".into()),
        ("sockets", "1".into()),
        ("memory", "2048".into()),
        ("cpu", "x86-64-v2-AES".into()),
        ("ostype", "l26".into()),
        ("scsihw", "virtio-scsi-single".into()),
        (
            "scsi0",
            "local-lvm:base-9000-disk-0,iothread=1,size=32G".into(),
        ),
        (
            "net0",
            "virtio=BC:24:11:00:90:00,bridge=vmbr0,firewall=1".into(),
        ),
        ("boot", "order=scsi0;net0".into()),
        ("onboot", "1".into()),
        ("smbios1", format!("uuid={}", random_uuid())),
        ("vmgenid", random_uuid()),
    ];
    vm.config = entries
        .into_iter()
        .map(|(key, value)| (key.to_string(), value))
        .collect();
    vm
}
