//! A simulated VM: its power state, configuration, snapshots and the summary Proxmox lists.

use super::config::{is_disk_key, parse_size_bytes, NetSpec};
use std::collections::BTreeMap;

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

    /// The slot and value of the cloud-init drive, if the VM has one.
    pub fn cloudinit_drive(&self) -> Option<(&str, &str)> {
        self.config
            .iter()
            .find(|(key, value)| is_disk_key(key) && super::is_cloudinit_drive(value))
            .map(|(key, value)| (key.as_str(), value.as_str()))
    }

    /// The cloud-init SSH keys, decoded from the URL-encoded `sshkeys` Proxmox stores.
    pub fn ssh_keys(&self) -> Option<String> {
        self.config
            .get("sshkeys")
            .and_then(|value| super::decode_sshkeys(value))
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
