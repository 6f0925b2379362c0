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

mod cloudinit;
mod cluster;
mod config;
mod vm;

pub use cloudinit::{decode_sshkeys, is_cloudinit_drive};
pub use cluster::{NetworkInterface, Node, RecordedRequest, Storage, TaskInfo, VncTicket};
use config::{cloned_config, template_disks};
pub(crate) use config::{is_disk_key, parse_bool, validate_config};
pub use config::{is_dns_name, is_snapshot_name, NetSpec};
pub use vm::{CloneKind, PowerStatus, Snapshot, Vm};

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

/// Proxmox's OUI, used for generated MAC addresses.
const MAC_PREFIX: &str = "BC:24:11";

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
    /// Turns the VM's disks into base images (`template: 1` is set when the task starts).
    Template {
        vmid: u32,
        disk: Option<String>,
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
            Effect::Template { vmid, disk } => {
                let vm = self.existing(*vmid)?;
                template_disks(vm, disk.as_deref());
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
