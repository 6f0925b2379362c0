//! One simulated machine: its MAAS status, power state, ownership and the pending transitions
//! that complete after a number of polls.
//!
//! Transitions are plain methods on [`Machine`] that either change the machine or return the
//! conflict MAAS would answer with; nothing here knows about HTTP.

use serde_json::{json, Value};
use std::collections::BTreeMap;

/// A machine's lifecycle status, numbered as MAAS numbers it (`status` in the machine JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MachineStatus {
    New,
    Commissioning,
    FailedCommissioning,
    Missing,
    Ready,
    Reserved,
    Deployed,
    Retired,
    Broken,
    Deploying,
    Allocated,
    FailedDeployment,
    Releasing,
    FailedReleasing,
    DiskErasing,
    FailedDiskErasing,
    RescueMode,
    EnteringRescueMode,
    FailedEnteringRescueMode,
    ExitingRescueMode,
    FailedExitingRescueMode,
    Testing,
    FailedTesting,
}

impl MachineStatus {
    /// The number MAAS uses for this status.
    pub fn code(self) -> u8 {
        match self {
            MachineStatus::New => 0,
            MachineStatus::Commissioning => 1,
            MachineStatus::FailedCommissioning => 2,
            MachineStatus::Missing => 3,
            MachineStatus::Ready => 4,
            MachineStatus::Reserved => 5,
            MachineStatus::Deployed => 6,
            MachineStatus::Retired => 7,
            MachineStatus::Broken => 8,
            MachineStatus::Deploying => 9,
            MachineStatus::Allocated => 10,
            MachineStatus::FailedDeployment => 11,
            MachineStatus::Releasing => 12,
            MachineStatus::FailedReleasing => 13,
            MachineStatus::DiskErasing => 14,
            MachineStatus::FailedDiskErasing => 15,
            MachineStatus::RescueMode => 16,
            MachineStatus::EnteringRescueMode => 17,
            MachineStatus::FailedEnteringRescueMode => 18,
            MachineStatus::ExitingRescueMode => 19,
            MachineStatus::FailedExitingRescueMode => 20,
            MachineStatus::Testing => 21,
            MachineStatus::FailedTesting => 22,
        }
    }

    /// The human name MAAS shows (`status_name`).
    pub fn name(self) -> &'static str {
        match self {
            MachineStatus::New => "New",
            MachineStatus::Commissioning => "Commissioning",
            MachineStatus::FailedCommissioning => "Failed commissioning",
            MachineStatus::Missing => "Missing",
            MachineStatus::Ready => "Ready",
            MachineStatus::Reserved => "Reserved",
            MachineStatus::Deployed => "Deployed",
            MachineStatus::Retired => "Retired",
            MachineStatus::Broken => "Broken",
            MachineStatus::Deploying => "Deploying",
            MachineStatus::Allocated => "Allocated",
            MachineStatus::FailedDeployment => "Failed deployment",
            MachineStatus::Releasing => "Releasing",
            MachineStatus::FailedReleasing => "Releasing failed",
            MachineStatus::DiskErasing => "Disk erasing",
            MachineStatus::FailedDiskErasing => "Failed disk erasing",
            MachineStatus::RescueMode => "Rescue mode",
            MachineStatus::EnteringRescueMode => "Entering rescue mode",
            MachineStatus::FailedEnteringRescueMode => "Failed to enter rescue mode",
            MachineStatus::ExitingRescueMode => "Exiting rescue mode",
            MachineStatus::FailedExitingRescueMode => "Failed to exit rescue mode",
            MachineStatus::Testing => "Testing",
            MachineStatus::FailedTesting => "Failed testing",
        }
    }

    /// Statuses from which `release` moves the machine to Releasing.
    pub fn can_release(self) -> bool {
        matches!(
            self,
            MachineStatus::Allocated
                | MachineStatus::Reserved
                | MachineStatus::Broken
                | MachineStatus::Deploying
                | MachineStatus::Deployed
                | MachineStatus::FailedDeployment
                | MachineStatus::FailedDiskErasing
                | MachineStatus::FailedReleasing
        )
    }
}

/// A machine's power state as MAAS reports it (`power_state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PowerState {
    On,
    Off,
    Unknown,
    Error,
}

impl PowerState {
    /// The wire value (`on`, `off`, `unknown`, `error`).
    pub fn as_str(self) -> &'static str {
        match self {
            PowerState::On => "on",
            PowerState::Off => "off",
            PowerState::Unknown => "unknown",
            PowerState::Error => "error",
        }
    }
}

/// A transition that completes after a number of polls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PendingKind {
    /// Deploying → Deployed, or → Failed deployment when `fail` is set.
    Deploy { fail: bool },
    /// Releasing → Ready.
    Release,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pending<K> {
    pub(crate) kind: K,
    /// Polls still to be answered with the old state; the next poll after that completes it.
    pub(crate) remaining: u32,
}

/// A state conflict, answered with HTTP 409 and MAAS's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Conflict(pub(crate) String);

/// One network interface of a machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    pub id: u32,
    pub name: String,
    pub mac_address: String,
}

/// A simulated machine.
#[derive(Debug, Clone)]
pub(crate) struct Machine {
    pub(crate) system_id: String,
    pub(crate) hostname: String,
    pub(crate) status: MachineStatus,
    pub(crate) status_message: String,
    pub(crate) power_state: PowerState,
    pub(crate) owner: Option<String>,
    pub(crate) owner_data: BTreeMap<String, String>,
    pub(crate) agent_name: String,
    pub(crate) osystem: String,
    pub(crate) distro_series: String,
    pub(crate) hwe_kernel: Option<String>,
    pub(crate) user_data: Option<String>,
    pub(crate) architecture: String,
    pub(crate) cpu_count: u32,
    pub(crate) memory_mb: u64,
    pub(crate) storage_mb: u64,
    pub(crate) zone: String,
    pub(crate) pool: String,
    pub(crate) tags: Vec<String>,
    pub(crate) interfaces: Vec<Interface>,
    pub(crate) ip_address: String,
    pub(crate) pending: Option<Pending<PendingKind>>,
    pub(crate) power_pending: Option<Pending<PowerState>>,
    pub(crate) deploy_count: u32,
}

impl Machine {
    /// A Ready, powered-off machine with deterministic identity derived from `index`.
    pub(crate) fn new(index: usize) -> Machine {
        let number = index + 1;
        let interfaces = (0..2u32)
            .map(|port| Interface {
                id: (number as u32) * 10 + port,
                name: format!("eth{port}"),
                mac_address: format!(
                    "52:54:00:{:02x}:{:02x}:{:02x}",
                    (number >> 8) & 0xff,
                    number & 0xff,
                    port + 1
                ),
            })
            .collect();
        Machine {
            system_id: system_id_for(index),
            hostname: format!("sim-node-{number:02}"),
            status: MachineStatus::Ready,
            status_message: String::new(),
            power_state: PowerState::Off,
            owner: None,
            owner_data: BTreeMap::new(),
            agent_name: String::new(),
            osystem: String::new(),
            distro_series: String::new(),
            hwe_kernel: None,
            user_data: None,
            architecture: "amd64/generic".into(),
            cpu_count: 4 + 4 * (index as u32 % 3),
            memory_mb: 8192 * (1 + index as u64 % 4),
            storage_mb: 256_000,
            zone: "default".into(),
            pool: "default".into(),
            tags: Vec::new(),
            interfaces,
            ip_address: format!("10.20.{}.{}", number / 250, 10 + number % 250),
            pending: None,
            power_pending: None,
            deploy_count: 0,
        }
    }

    /// Answer one poll: count down pending transitions and complete those that are due.
    pub(crate) fn tick(&mut self) {
        if let Some(pending) = self.pending.as_mut() {
            if pending.remaining == 0 {
                let kind = pending.kind;
                self.pending = None;
                self.complete(kind);
            } else {
                pending.remaining -= 1;
            }
        }
        if let Some(pending) = self.power_pending.as_mut() {
            if pending.remaining == 0 {
                self.power_state = pending.kind;
                self.power_pending = None;
            } else {
                pending.remaining -= 1;
            }
        }
    }

    /// Complete every pending transition now (explicit mode, or a test forcing progress).
    pub(crate) fn advance(&mut self) {
        if let Some(pending) = self.pending.take() {
            self.complete(pending.kind);
        }
        if let Some(pending) = self.power_pending.take() {
            self.power_state = pending.kind;
        }
    }

    fn complete(&mut self, kind: PendingKind) {
        match kind {
            PendingKind::Deploy { fail: false } => {
                self.status = MachineStatus::Deployed;
                self.status_message = "Deployed".into();
                self.power_state = PowerState::On;
            }
            PendingKind::Deploy { fail: true } => {
                self.status = MachineStatus::FailedDeployment;
                self.status_message =
                    "Installation failed (refer to the installation log for more information)."
                        .into();
                self.power_state = PowerState::Off;
            }
            PendingKind::Release => {
                self.status = MachineStatus::Ready;
                self.status_message = "Released".into();
                self.power_state = PowerState::Off;
                self.power_pending = None;
                self.owner = None;
                self.owner_data.clear();
                self.agent_name.clear();
                self.osystem.clear();
                self.distro_series.clear();
                self.hwe_kernel = None;
                self.user_data = None;
            }
        }
    }

    /// `op=allocate` picked this machine.
    pub(crate) fn allocate(&mut self, user: &str, agent_name: &str) {
        self.status = MachineStatus::Allocated;
        self.status_message = String::new();
        self.owner = Some(user.to_string());
        self.agent_name = agent_name.to_string();
    }

    /// `op=deploy`: Ready machines are allocated first; then Deploying must be legal.
    pub(crate) fn deploy(&mut self, user: &str, plan: DeployPlan) -> Result<(), Conflict> {
        if self.status == MachineStatus::Ready {
            self.allocate(user, "");
        }
        if self.status != MachineStatus::Allocated {
            return Err(Conflict(format!(
                "Can't deploy a machine that is in the '{}' state",
                self.status.name()
            )));
        }
        self.status = MachineStatus::Deploying;
        self.status_message = "Deploying".into();
        self.osystem = plan.osystem;
        self.distro_series = plan.distro_series;
        self.hwe_kernel = plan.hwe_kernel;
        self.user_data = plan.user_data;
        self.power_state = PowerState::On;
        self.power_pending = None;
        self.deploy_count += 1;
        self.pending = Some(Pending {
            kind: PendingKind::Deploy { fail: plan.fail },
            remaining: plan.polls,
        });
        Ok(())
    }

    /// `op=release`: a no-op when Ready or Releasing.
    pub(crate) fn release(&mut self, polls: u32) -> Result<(), Conflict> {
        if matches!(self.status, MachineStatus::Ready | MachineStatus::Releasing) {
            return Ok(());
        }
        if !self.status.can_release() {
            return Err(Conflict(format!(
                "Machine cannot be released in its current state ('{}').",
                self.status.name()
            )));
        }
        self.status = MachineStatus::Releasing;
        self.status_message = "Releasing".into();
        self.power_state = PowerState::Off;
        self.power_pending = None;
        self.pending = Some(Pending {
            kind: PendingKind::Release,
            remaining: polls,
        });
        Ok(())
    }

    /// `op=power_on` / `op=power_off`: the machine must be owned.
    pub(crate) fn power(&mut self, target: PowerState, polls: u32) -> Result<(), Conflict> {
        if self.owner.is_none() {
            let verb = if target == PowerState::On {
                "start"
            } else {
                "stop"
            };
            return Err(Conflict(format!(
                "Can't {verb} machine: it hasn't been allocated."
            )));
        }
        if polls == 0 {
            self.power_state = target;
            self.power_pending = None;
        } else if self.power_state != target {
            self.power_pending = Some(Pending {
                kind: target,
                remaining: polls,
            });
        }
        Ok(())
    }

    /// `op=mark_broken`.
    pub(crate) fn mark_broken(&mut self, comment: &str) {
        self.pending = None;
        self.status = MachineStatus::Broken;
        self.status_message = comment.to_string();
    }

    /// The machine JSON as MAAS renders it.
    pub(crate) fn to_json(&self) -> Value {
        let resource_uri = format!("/MAAS/api/2.0/machines/{}/", self.system_id);
        let interface_set: Vec<Value> = self
            .interfaces
            .iter()
            .map(|interface| {
                json!({
                    "id": interface.id,
                    "name": interface.name,
                    "type": "physical",
                    "enabled": true,
                    "mac_address": interface.mac_address,
                    "vlan": {"id": 5001, "vid": 0, "name": "untagged", "fabric": "fabric-0"},
                    "links": [],
                    "tags": [],
                    "params": "",
                    "parents": [],
                    "children": [],
                    "system_id": self.system_id,
                    "resource_uri": format!("/MAAS/api/2.0/nodes/{}/interfaces/{}/", self.system_id, interface.id),
                })
            })
            .collect();
        let deployed_like = matches!(
            self.status,
            MachineStatus::Deploying | MachineStatus::Deployed
        );
        let ip_addresses: Vec<&str> = if deployed_like {
            vec![self.ip_address.as_str()]
        } else {
            vec![]
        };
        json!({
            "system_id": self.system_id,
            "hostname": self.hostname,
            "fqdn": format!("{}.maas", self.hostname),
            "domain": {"id": 0, "name": "maas", "authoritative": true},
            "description": "",
            "node_type": 0,
            "node_type_name": "Machine",
            "status": self.status.code(),
            "status_name": self.status.name(),
            "status_message": self.status_message,
            "status_action": "",
            "power_state": self.power_state.as_str(),
            "power_type": "ipmi",
            "owner": self.owner,
            "owner_data": self.owner_data,
            "locked": false,
            "osystem": self.osystem,
            "distro_series": self.distro_series,
            "hwe_kernel": self.hwe_kernel,
            "min_hwe_kernel": "",
            "architecture": self.architecture,
            "cpu_count": self.cpu_count,
            "cpu_speed": 2400,
            "memory": self.memory_mb,
            "storage": self.storage_mb,
            "swap_size": null,
            "netboot": !matches!(self.status, MachineStatus::Deployed),
            "zone": {"id": 1, "name": self.zone, "description": ""},
            "pool": {"id": 0, "name": self.pool, "description": ""},
            "tag_names": self.tags,
            "interface_set": interface_set,
            "boot_interface": interface_set.first().cloned().unwrap_or(Value::Null),
            "ip_addresses": ip_addresses,
            "resource_uri": resource_uri,
        })
    }
}

/// What a deploy installs, decided by the HTTP layer.
#[derive(Debug, Clone)]
pub(crate) struct DeployPlan {
    pub(crate) osystem: String,
    pub(crate) distro_series: String,
    pub(crate) hwe_kernel: Option<String>,
    pub(crate) user_data: Option<String>,
    pub(crate) polls: u32,
    pub(crate) fail: bool,
}

/// A MAAS-looking six-character system id, stable for a given index.
fn system_id_for(index: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstwxy346789";
    let mut value = (index as u64)
        .wrapping_mul(2_654_435_761)
        .wrapping_add(0x5eed)
        % 308_915_776;
    let mut id = String::with_capacity(6);
    for _ in 0..6 {
        id.push(ALPHABET[(value % 26) as usize] as char);
        value /= 26;
    }
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(polls: u32, fail: bool) -> DeployPlan {
        DeployPlan {
            osystem: "ubuntu".into(),
            distro_series: "jammy".into(),
            hwe_kernel: None,
            user_data: None,
            polls,
            fail,
        }
    }

    #[test]
    fn system_ids_are_distinct() {
        let ids: std::collections::BTreeSet<String> = (0..500).map(system_id_for).collect();
        assert_eq!(ids.len(), 500);
    }

    #[test]
    fn deploy_completes_after_the_configured_polls() {
        let mut machine = Machine::new(0);
        machine.deploy("admin", plan(2, false)).unwrap();
        assert_eq!(machine.status, MachineStatus::Deploying);
        machine.tick();
        machine.tick();
        assert_eq!(machine.status, MachineStatus::Deploying);
        machine.tick();
        assert_eq!(machine.status, MachineStatus::Deployed);
        assert_eq!(machine.power_state, PowerState::On);
        assert_eq!(machine.owner.as_deref(), Some("admin"));
    }

    #[test]
    fn failed_deploy_and_release() {
        let mut machine = Machine::new(1);
        machine.deploy("admin", plan(0, true)).unwrap();
        machine.tick();
        assert_eq!(machine.status, MachineStatus::FailedDeployment);
        let conflict = machine.deploy("admin", plan(0, false)).unwrap_err();
        assert_eq!(
            conflict.0,
            "Can't deploy a machine that is in the 'Failed deployment' state"
        );
        machine.release(0).unwrap();
        assert_eq!(machine.status, MachineStatus::Releasing);
        machine.tick();
        assert_eq!(machine.status, MachineStatus::Ready);
        assert!(machine.owner.is_none());
    }

    #[test]
    fn power_needs_an_owner() {
        let mut machine = Machine::new(2);
        assert_eq!(
            machine.power(PowerState::On, 0).unwrap_err().0,
            "Can't start machine: it hasn't been allocated."
        );
        machine.allocate("admin", "");
        machine.power(PowerState::On, 2).unwrap();
        assert_eq!(machine.power_state, PowerState::Off);
        machine.tick();
        machine.tick();
        assert_eq!(machine.power_state, PowerState::Off);
        machine.tick();
        assert_eq!(machine.power_state, PowerState::On);
    }

    #[test]
    fn new_machines_cannot_be_released() {
        let mut machine = Machine::new(3);
        machine.status = MachineStatus::New;
        assert_eq!(
            machine.release(0).unwrap_err().0,
            "Machine cannot be released in its current state ('New')."
        );
    }
}
