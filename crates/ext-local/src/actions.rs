//! The actions: what each one does to the VM, and what it prints.
//!
//! An instance's VM is identified by the instance's internal name (`i-2-10-VM`): its directory
//! is `<state dir>/vms/<name>`. The record there keeps the instance uuid; an action whose
//! payload names another uuid is refused, so two management servers sharing a machine cannot
//! take each other's VMs.

use crate::accel::{self, Accel, Decision};
use crate::deadline::Deadline;
use crate::error::ActionError;
use crate::image::{self, Snapshot};
use crate::machine::{self, LaunchPlan, Machine, NicRecord, Record, QMP_WAIT, STATUS_SOCKET};
use crate::qmp::Qmp;
use crate::settings::{is_plain_name, AccelChoice, Settings};
use serde_json::{json, Map, Value};
use std::io::Read;
use std::time::Duration;
use trellis_ext_protocol::{Payload, PowerState, VirtualMachine};

/// Memory of an instance whose payload does not say (MiB).
pub const DEFAULT_MEMORY_MIB: u64 = 256;

/// How long `status`/`statuses` wait for a monitor to answer.
const STATUS_WAIT: Duration = Duration::from_secs(3);

/// The actions of this extension: the shared set of the VM-managing built-ins.
pub use trellis_ext_protocol::VmAction as Action;

/// The action called `name`, or the documented "unsupported action" failure.
pub fn parse_action(name: &str) -> Result<Action, ActionError> {
    Action::parse(name).ok_or_else(|| ActionError::Unsupported(name.to_string()))
}

/// Runs `action` and returns what to print on stdout.
pub fn perform(
    action: Action,
    payload: &Payload,
    settings: &Settings,
    deadline: Deadline,
) -> Result<Value, ActionError> {
    match action {
        Action::Prepare => Ok(json!({})),
        Action::Statuses => statuses(payload, settings),
        _ => {
            let identity = Identity::of(payload)?;
            let context = Context {
                machine: Machine::new(&settings.state_dir, &identity.name),
                identity,
                payload,
                settings,
                deadline,
            };
            match action {
                Action::Create => context.create(),
                Action::Start => context.start(),
                Action::Stop => context.stop(),
                Action::Reboot => context.reboot(),
                Action::Delete => context.delete(),
                Action::Status => context.status(),
                Action::GetConsole => context.console(),
                Action::ListSnapshots => context.list_snapshots(),
                Action::CreateSnapshot => context.create_snapshot(),
                Action::RestoreSnapshot => context.restore_snapshot(),
                Action::DeleteSnapshot => context.delete_snapshot(),
                Action::Prepare | Action::Statuses => unreachable!("handled above"),
            }
        }
    }
}

/// Which instance the payload is about.
#[derive(Debug, Clone)]
struct Identity {
    name: String,
    uuid: Option<String>,
}

impl Identity {
    fn of(payload: &Payload) -> Result<Identity, ActionError> {
        let name = payload
            .virtualmachinename
            .clone()
            .or_else(|| payload.vm.as_ref().map(|vm| vm.name.clone()))
            .filter(|name| !name.trim().is_empty())
            .ok_or_else(|| {
                ActionError::Usage("the payload names no instance (virtualmachinename)".into())
            })?;
        if !is_plain_name(&name) {
            return Err(ActionError::Usage(format!(
                "instance name '{name}' cannot name a directory: use letters, digits, '-', '_' and '.'"
            )));
        }
        let uuid = payload
            .virtualmachineid
            .clone()
            .or_else(|| payload.vm.as_ref().map(|vm| vm.uuid.clone()))
            .filter(|uuid| !uuid.trim().is_empty());
        if let Some(uuid) = &uuid {
            if !uuid.chars().all(|c| c.is_ascii_hexdigit() || c == '-') || uuid.len() > 64 {
                return Err(ActionError::Usage(format!(
                    "invalid instance uuid '{uuid}'"
                )));
            }
        }
        Ok(Identity { name, uuid })
    }
}

/// A checked plan for a fresh disk.
struct DiskPlan {
    qemu_img: std::path::PathBuf,
    image: Option<std::path::PathBuf>,
    size: Option<u64>,
    record: Record,
}

struct Context<'a> {
    identity: Identity,
    machine: Machine,
    payload: &'a Payload,
    settings: &'a Settings,
    deadline: Deadline,
}

impl Context<'_> {
    fn name(&self) -> &str {
        &self.identity.name
    }

    fn not_found(&self) -> ActionError {
        ActionError::NotFound {
            name: self.identity.name.clone(),
            state_dir: self.settings.state_dir.clone(),
        }
    }

    /// The record of an existing VM, checked against the payload's uuid.
    fn record(&self) -> Result<Record, ActionError> {
        if !self.machine.exists() {
            return Err(self.not_found());
        }
        let record = self.machine.read_record()?;
        if let Some(uuid) = &self.identity.uuid {
            if !uuid.eq_ignore_ascii_case(&record.uuid) {
                return Err(ActionError::Failed(format!(
                    "vm {} in {} belongs to instance {}, not {uuid}",
                    self.name(),
                    self.machine.dir.display(),
                    record.uuid
                )));
            }
        }
        Ok(record)
    }

    fn lock(&self) -> Result<nix::fcntl::Flock<std::fs::File>, ActionError> {
        self.machine.lock(self.deadline)
    }

    fn running(&self, record: &Record) -> bool {
        self.machine.is_running(&record.uuid)
    }

    /// The hardware the payload asks for (CPUs, memory, NICs), over `base` when given.
    fn hardware(&self, base: Option<&Record>) -> Result<Record, ActionError> {
        let vm: Option<&VirtualMachine> = self.payload.vm.as_ref();
        let model = self.settings.nic_model()?;
        let cpus = match vm.map(|vm| vm.cpus).filter(|cpus| *cpus > 0) {
            Some(cpus) => u32::try_from(cpus)
                .ok()
                .filter(|cpus| *cpus <= 255)
                .ok_or_else(|| ActionError::Config(format!("invalid cpu count {cpus}")))?,
            None => base.map(|r| r.cpus).unwrap_or(1),
        };
        let memory_mib = match vm.map(|vm| vm.min_ram).filter(|bytes| *bytes > 0) {
            Some(bytes) => (bytes as u64).div_ceil(1 << 20),
            None => base.map(|r| r.memory_mib).unwrap_or(DEFAULT_MEMORY_MIB),
        };
        let mut payload_nics: Vec<&trellis_ext_protocol::Nic> =
            vm.map(|vm| vm.nics.iter().collect()).unwrap_or_default();
        payload_nics.sort_by_key(|nic| nic.device_id);
        let nics = if payload_nics.is_empty() {
            base.map(|r| r.nics.clone()).unwrap_or_default()
        } else {
            payload_nics
                .iter()
                .map(|nic| {
                    let mac = match nic.mac.as_deref().map(str::trim).filter(|m| !m.is_empty()) {
                        Some(mac) => normalise_mac(mac).ok_or_else(|| {
                            ActionError::Usage(format!(
                                "invalid mac address '{mac}' of nic {}",
                                nic.uuid
                            ))
                        })?,
                        None => random_mac(),
                    };
                    Ok(NicRecord {
                        mac,
                        model: model.clone(),
                    })
                })
                .collect::<Result<Vec<_>, ActionError>>()?
        };
        Ok(Record {
            name: self.identity.name.clone(),
            uuid: base
                .map(|r| r.uuid.clone())
                .or_else(|| self.identity.uuid.clone())
                .unwrap_or_else(random_uuid),
            cpus,
            memory_mib,
            nics,
            image: base.and_then(|r| r.image.clone()),
            accel: base.and_then(|r| r.accel.clone()),
            created_at: base
                .map(|r| r.created_at)
                .unwrap_or_else(|| chrono::Utc::now().timestamp()),
        })
    }

    /// Starts QEMU for `record` (KVM when usable, else TCG) and saves the accelerator used.
    fn launch(&self, record: &mut Record) -> Result<Decision, ActionError> {
        let qemu = self.settings.qemu()?;
        let choice = self.settings.accel()?;
        let decision = match choice {
            AccelChoice::Kvm => Decision {
                accel: Accel::Kvm,
                reason: "the accel detail asks for kvm".into(),
            },
            AccelChoice::Tcg => Decision {
                accel: Accel::Tcg,
                reason: "the accel detail asks for tcg".into(),
            },
            AccelChoice::Auto => {
                accel::choose_automatically(&qemu, &self.settings.state_dir, self.deadline)
            }
        };
        check_memory(self.name(), record.memory_mib)?;
        let mut plan = LaunchPlan {
            qemu,
            accel: decision.accel,
            machine: self.settings.machine_type()?,
            network: self.settings.network()?,
            vnc_listen: self.settings.vnc_listen()?,
            vnc_port_base: self.settings.vnc_port_base()?,
        };
        let decision = match self.machine.launch(record, &plan, self.deadline) {
            Ok(()) => decision,
            Err(error)
                if choice == AccelChoice::Auto
                    && decision.accel == Accel::Kvm
                    && machine::is_kvm_failure(&error) =>
            {
                plan.accel = Accel::Tcg;
                self.machine.launch(record, &plan, self.deadline)?;
                Decision {
                    accel: Accel::Tcg,
                    reason: format!("kvm passed the probe but failed to start the vm ({error}); fell back to tcg"),
                }
            }
            Err(error) => return Err(error),
        };
        if decision.accel == Accel::Kvm {
            accel::forget_failure(&self.settings.state_dir);
        }
        record.accel = Some(decision.accel.name().into());
        self.machine.write_record(record)?;
        Ok(decision)
    }

    fn started(&self, verb: &str, decision: &Decision) -> Value {
        json!({
            "status": "success",
            "message": format!("vm {} {verb} ({})", self.name(), decision.accel.name()),
            "accel": decision.accel.name(),
            "accel_reason": decision.reason,
        })
    }

    fn create(&self) -> Result<Value, ActionError> {
        // Check what can be checked before anything is written.
        let fresh = if self.machine.exists() {
            None
        } else {
            Some(self.plan_disk()?)
        };
        create_state_dir(self.settings)?;
        self.machine.create_dir()?;
        let _lock = self.lock()?;
        if self.machine.exists() {
            // An earlier attempt got this far: make sure the VM runs, create nothing twice.
            let record = self.record()?;
            if !self.machine.path(machine::DISK_FILE).is_file() {
                return Err(ActionError::Failed(format!(
                    "vm {} has a record but no disk in {}; delete it and create it again",
                    self.name(),
                    self.machine.dir.display()
                )));
            }
            if self.running(&record) {
                return Ok(json!({
                    "status": "success",
                    "message": format!("vm {} already exists and runs", self.name()),
                }));
            }
            let mut record = self.hardware(Some(&record))?;
            let decision = self
                .launch(&mut record)
                .map_err(|error| error.context(format!("cannot start vm {}", self.name())))?;
            return Ok(self.started("existed and was started", &decision));
        }
        let plan = match fresh {
            Some(plan) => Ok(plan),
            None => self.plan_disk(),
        };
        let DiskPlan {
            qemu_img,
            image,
            size,
            mut record,
        } = match plan {
            Ok(plan) => plan,
            Err(error) => {
                let _ = std::fs::remove_dir_all(&self.machine.dir);
                return Err(error);
            }
        };
        let disk = self.machine.path(machine::DISK_FILE);
        let _ = std::fs::remove_file(&disk);
        let created = match &image {
            Some(base) => image::create_overlay(&qemu_img, &disk, base, size, self.deadline),
            None => image::create_blank(
                &qemu_img,
                &disk,
                size.unwrap_or(crate::settings::DEFAULT_DISK_SIZE_GB),
                self.deadline,
            ),
        };
        let outcome = created
            .map_err(|error| error.context(format!("cannot create the disk of vm {}", self.name())))
            .and_then(|()| self.machine.write_record(&record))
            .and_then(|()| {
                self.launch(&mut record)
                    .map_err(|error| error.context(format!("cannot start vm {}", self.name())))
            });
        match outcome {
            Ok(decision) => {
                let mut reply = self.started("created and started", &decision);
                reply["disk"] = json!(match &image {
                    Some(base) => format!("overlay on {}", base.display()),
                    None => format!(
                        "blank, {} GiB",
                        size.unwrap_or(crate::settings::DEFAULT_DISK_SIZE_GB)
                    ),
                });
                Ok(reply)
            }
            Err(error) => {
                // Leave nothing behind: a later create starts from scratch.
                if let Some(pid) = self.machine.pid(&record.uuid) {
                    machine::kill(pid);
                }
                let _ = std::fs::remove_dir_all(&self.machine.dir);
                Err(error)
            }
        }
    }

    /// What a fresh `create` needs, checked: `qemu-img`, the base image, the disk size and the
    /// record (QEMU's presence and the memory are checked too).
    fn plan_disk(&self) -> Result<DiskPlan, ActionError> {
        let qemu_img = self.settings.qemu_img()?;
        self.settings.qemu()?;
        let image = self.settings.image()?;
        let size = self.settings.disk_size_gb()?;
        let mut record = self.hardware(None)?;
        record.image = image.clone();
        check_memory(self.name(), record.memory_mib)?;
        Ok(DiskPlan {
            qemu_img,
            image,
            size,
            record,
        })
    }

    fn start(&self) -> Result<Value, ActionError> {
        if !self.machine.exists() {
            return Err(self.not_found());
        }
        let _lock = self.lock()?;
        let record = self.record()?;
        if self.running(&record) {
            let observed = self.machine.observe(&record.uuid, QMP_WAIT);
            match observed.qemu_status.as_deref() {
                Some("paused") => {
                    self.machine.execute("cont", None, QMP_WAIT)?;
                    return Ok(json!({
                        "status": "success",
                        "message": format!("vm {} was paused and now runs", self.name()),
                    }));
                }
                Some(status) if machine::power_of(status) == PowerState::PowerOff => {
                    // QEMU is up but the machine is dead (guest panic, I/O error): restart it.
                    self.machine
                        .shut_down(&record.uuid, Duration::ZERO, self.deadline)?;
                }
                _ => {
                    return Ok(json!({
                        "status": "success",
                        "message": format!("vm {} already runs", self.name()),
                    }))
                }
            }
        }
        if !self.machine.path(machine::DISK_FILE).is_file() {
            return Err(ActionError::Failed(format!(
                "the disk of vm {} is missing from {}",
                self.name(),
                self.machine.dir.display()
            )));
        }
        let mut record = self.hardware(Some(&record))?;
        let decision = self
            .launch(&mut record)
            .map_err(|error| error.context(format!("cannot start vm {}", self.name())))?;
        Ok(self.started("started", &decision))
    }

    fn stop(&self) -> Result<Value, ActionError> {
        if !self.machine.exists() {
            return Ok(json!({
                "status": "success",
                "message": format!("no vm {} here; nothing to stop", self.name()),
            }));
        }
        let _lock = self.lock()?;
        let record = self.record()?;
        let grace = self.settings.stop_grace()?;
        let outcome = self.machine.shut_down(&record.uuid, grace, self.deadline)?;
        Ok(json!({
            "status": "success",
            "message": format!("vm {} {}", self.name(), outcome.describe()),
        }))
    }

    fn reboot(&self) -> Result<Value, ActionError> {
        if !self.machine.exists() {
            return Err(self.not_found());
        }
        let _lock = self.lock()?;
        let record = self.record()?;
        if !self.running(&record) {
            return Err(ActionError::NotRunning {
                name: self.name().into(),
            });
        }
        self.machine.execute("system_reset", None, QMP_WAIT)?;
        Ok(json!({
            "status": "success",
            "message": format!("vm {} was reset", self.name()),
        }))
    }

    fn delete(&self) -> Result<Value, ActionError> {
        if !self.machine.dir.exists() {
            return Ok(json!({
                "status": "success",
                "message": format!("no vm {} here; nothing to delete", self.name()),
            }));
        }
        let _lock = self.lock()?;
        let uuid = if self.machine.exists() {
            Some(self.record()?.uuid)
        } else {
            self.identity.uuid.clone()
        };
        if let Some(uuid) = &uuid {
            self.machine
                .shut_down(uuid, Duration::ZERO, self.deadline)?;
        }
        std::fs::remove_dir_all(&self.machine.dir).map_err(|source| {
            ActionError::io(format!("remove {}", self.machine.dir.display()), source)
        })?;
        Ok(json!({
            "status": "success",
            "message": format!("vm {} and its disk were deleted", self.name()),
        }))
    }

    fn status(&self) -> Result<Value, ActionError> {
        if !self.machine.exists() {
            return Ok(json!({
                "status": "success",
                "power_state": PowerState::PowerUnknown.wire(),
                "message": format!("no vm {} in {}", self.name(), self.settings.state_dir.display()),
            }));
        }
        let record = self.record()?;
        let observed = self.machine.observe(&record.uuid, STATUS_WAIT);
        let mut reply = json!({
            "status": "success",
            "power_state": observed.power.wire(),
        });
        if let Some(status) = observed.qemu_status {
            reply["qemu_status"] = status.into();
        }
        if let Some(accel) = record.accel {
            reply["accel"] = accel.into();
        }
        if let Some(note) = observed.note {
            reply["message"] = note.into();
        }
        Ok(reply)
    }

    fn console(&self) -> Result<Value, ActionError> {
        let record = self.record()?;
        if !self.running(&record) {
            return Err(ActionError::NotRunning {
                name: self.name().into(),
            });
        }
        let password: String = match self
            .payload
            .vm
            .as_ref()
            .and_then(|vm| vm.vnc_password.as_deref())
            .filter(|p| !p.is_empty())
        {
            Some(password) => password.chars().take(8).collect(),
            None => random_hex(4),
        };
        let qmp_error = |command: &str, source| ActionError::Qmp {
            name: self.name().into(),
            command: command.into(),
            source,
        };
        let mut session = Qmp::connect(&self.machine.path(STATUS_SOCKET), QMP_WAIT)
            .map_err(|source| qmp_error("qmp_capabilities", source))?;
        session
            .execute(
                "set_password",
                Some(json!({"protocol": "vnc", "password": password})),
                QMP_WAIT,
            )
            .map_err(|source| qmp_error("set_password", source))?;
        let vnc = session
            .execute("query-vnc", None, QMP_WAIT)
            .map_err(|source| qmp_error("query-vnc", source))?;
        let port = vnc
            .get("service")
            .and_then(Value::as_str)
            .and_then(|service| service.parse::<u16>().ok())
            .ok_or_else(|| {
                ActionError::Failed(format!("vm {} has no vnc server ({vnc})", self.name()))
            })?;
        let host = self.settings.console_host().unwrap_or_else(|| {
            match vnc.get("host").and_then(Value::as_str) {
                Some("0.0.0.0") | Some("::") | None => "127.0.0.1".into(),
                Some(host) => host.into(),
            }
        });
        Ok(json!({
            "status": "success",
            "message": "Console retrieved",
            "console": {
                "host": host,
                "port": port,
                "password": password,
                "protocol": "vnc",
            },
        }))
    }

    /// The VM's snapshots, from QEMU when it runs, else from the disk.
    fn snapshots(&self, record: &Record) -> Result<(bool, Vec<Snapshot>), ActionError> {
        if self.running(record) {
            let blocks = self.machine.execute("query-block", None, QMP_WAIT)?;
            let disk = blocks
                .as_array()
                .and_then(|list| {
                    list.iter()
                        .find(|block| block.get("device").and_then(Value::as_str) == Some("disk0"))
                })
                .and_then(|block| block.pointer("/inserted/image/snapshots"));
            return Ok((true, image::parse_snapshots(disk)));
        }
        let qemu_img = self.settings.qemu_img()?;
        let list = image::snapshots(
            &qemu_img,
            &self.machine.path(machine::DISK_FILE),
            self.deadline,
        )?;
        Ok((false, list))
    }

    fn snapshot_name(&self) -> Result<String, ActionError> {
        let name = self
            .payload
            .parameters
            .as_ref()
            .and_then(|parameters| parameters.get("snap_name"))
            .and_then(|value| match value {
                Value::String(text) => Some(text.trim().to_string()),
                Value::Number(number) => Some(number.to_string()),
                _ => None,
            })
            .filter(|name| !name.is_empty())
            .ok_or_else(|| ActionError::Usage("the snap_name parameter is required".into()))?;
        if !image::valid_snapshot_name(&name) {
            return Err(ActionError::Usage(format!(
                "invalid snapshot name '{name}': use letters, digits, '.', '_' and '-' (at most 64, not only digits)"
            )));
        }
        Ok(name)
    }

    fn hmp(&self, command_line: &str) -> Result<String, ActionError> {
        let wait = self.deadline.remaining().max(Duration::from_secs(1));
        let mut session = self.machine.qmp(QMP_WAIT.min(wait))?;
        session
            .hmp(command_line, wait)
            .map(|output| output.trim().to_string())
            .map_err(|source| ActionError::Qmp {
                name: self.name().into(),
                command: format!("human-monitor-command {command_line}"),
                source,
            })
    }

    fn list_snapshots(&self) -> Result<Value, ActionError> {
        let record = self.record()?;
        let (_, list) = self.snapshots(&record)?;
        let rows: Vec<Value> = list.iter().map(Snapshot::to_json).collect();
        Ok(json!({"status": "success", "printmessage": "true", "message": rows}))
    }

    fn create_snapshot(&self) -> Result<Value, ActionError> {
        let name = self.snapshot_name()?;
        let record = self.record()?;
        let _lock = self.lock()?;
        let (running, list) = self.snapshots(&record)?;
        if list.iter().any(|snapshot| snapshot.name == name) {
            return Err(ActionError::Failed(format!(
                "snapshot {name} of vm {} already exists",
                self.name()
            )));
        }
        if running {
            let output = self.hmp(&format!("savevm {name}"))?;
            let (_, after) = self.snapshots(&record)?;
            if !after.iter().any(|snapshot| snapshot.name == name) {
                return Err(ActionError::Failed(format!(
                    "qemu did not save snapshot {name} of vm {}: {output}",
                    self.name()
                )));
            }
        } else {
            image::snapshot(
                &self.settings.qemu_img()?,
                "-c",
                &name,
                &self.machine.path(machine::DISK_FILE),
                self.deadline,
            )?;
        }
        Ok(json!({
            "status": "success",
            "message": format!(
                "snapshot {name} of vm {} created ({})",
                self.name(),
                if running { "disk and memory" } else { "disk only" }
            ),
        }))
    }

    fn find_snapshot(&self, list: &[Snapshot], name: &str) -> Result<Snapshot, ActionError> {
        list.iter()
            .find(|snapshot| snapshot.name == name)
            .cloned()
            .ok_or_else(|| {
                ActionError::Failed(format!("vm {} has no snapshot named {name}", self.name()))
            })
    }

    fn restore_snapshot(&self) -> Result<Value, ActionError> {
        let name = self.snapshot_name()?;
        let record = self.record()?;
        let _lock = self.lock()?;
        let (running, list) = self.snapshots(&record)?;
        let snapshot = self.find_snapshot(&list, &name)?;
        if running {
            if !snapshot.has_memory() {
                return Err(ActionError::Failed(format!(
                    "snapshot {name} holds no memory state; stop vm {} to restore it",
                    self.name()
                )));
            }
            let output = self.hmp(&format!("loadvm {name}"))?;
            if !output.is_empty() {
                return Err(ActionError::Failed(format!(
                    "qemu could not restore snapshot {name} of vm {}: {output}",
                    self.name()
                )));
            }
        } else {
            image::snapshot(
                &self.settings.qemu_img()?,
                "-a",
                &name,
                &self.machine.path(machine::DISK_FILE),
                self.deadline,
            )?;
        }
        Ok(json!({
            "status": "success",
            "message": format!("vm {} restored to snapshot {name}", self.name()),
        }))
    }

    fn delete_snapshot(&self) -> Result<Value, ActionError> {
        let name = self.snapshot_name()?;
        let record = self.record()?;
        let _lock = self.lock()?;
        let (running, list) = self.snapshots(&record)?;
        self.find_snapshot(&list, &name)?;
        if running {
            let output = self.hmp(&format!("delvm {name}"))?;
            let (_, after) = self.snapshots(&record)?;
            if after.iter().any(|snapshot| snapshot.name == name) {
                return Err(ActionError::Failed(format!(
                    "qemu did not delete snapshot {name} of vm {}: {output}",
                    self.name()
                )));
            }
        } else {
            image::snapshot(
                &self.settings.qemu_img()?,
                "-d",
                &name,
                &self.machine.path(machine::DISK_FILE),
                self.deadline,
            )?;
        }
        Ok(json!({
            "status": "success",
            "message": format!("snapshot {name} of vm {} deleted", self.name()),
        }))
    }
}

/// Power states of the VMs in the state directory, by instance name. When the payload lists the
/// instances expected on the host (`virtualmachines`), only those are reported.
fn statuses(payload: &Payload, settings: &Settings) -> Result<Value, ActionError> {
    let expected = payload.virtualmachines.as_ref();
    let mut power = Map::new();
    let directory = machine::machines_dir(&settings.state_dir);
    let entries = match std::fs::read_dir(&directory) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Ok(json!({"status": "success", "power_state": power}))
        }
        Err(source) => {
            return Err(ActionError::io(
                format!("list {}", directory.display()),
                source,
            ))
        }
    };
    let mut names: Vec<String> = entries
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| expected.is_none_or(|expected| expected.contains_key(name)))
        .collect();
    names.sort();
    for name in names {
        let machine = Machine::new(&settings.state_dir, &name);
        let Ok(record) = machine.read_record() else {
            continue;
        };
        let observed = machine.observe(&record.uuid, STATUS_WAIT);
        power.insert(name, observed.power.wire().into());
    }
    Ok(json!({"status": "success", "power_state": power}))
}

/// Creates the state directory (mode 0700) if needed.
fn create_state_dir(settings: &Settings) -> Result<(), ActionError> {
    use std::os::unix::fs::DirBuilderExt;
    let directory = machine::machines_dir(&settings.state_dir);
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&directory)
        .map_err(|source| ActionError::io(format!("create {}", directory.display()), source))
}

/// Refuses a VM that needs more memory than the machine has available.
fn check_memory(name: &str, memory_mib: u64) -> Result<(), ActionError> {
    let Some(available_mib) = available_memory_mib() else {
        return Ok(());
    };
    if memory_mib > available_mib {
        return Err(ActionError::InsufficientCapacity(format!(
            "vm {name} needs {memory_mib} MiB of memory but only {available_mib} MiB are available on this machine"
        )));
    }
    Ok(())
}

/// `MemAvailable` from `/proc/meminfo`, in MiB.
fn available_memory_mib() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    text.lines()
        .find_map(|line| line.strip_prefix("MemAvailable:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse::<u64>().ok())
        .map(|kib| kib / 1024)
}

/// `aa:bb:cc:dd:ee:ff` in lower case, if `mac` is a unicast MAC address.
pub fn normalise_mac(mac: &str) -> Option<String> {
    let parts: Vec<&str> = mac.split([':', '-']).collect();
    if parts.len() != 6
        || !parts
            .iter()
            .all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_hexdigit()))
    {
        return None;
    }
    let first = u8::from_str_radix(parts[0], 16).ok()?;
    if first & 1 == 1 {
        return None;
    }
    Some(parts.join(":").to_ascii_lowercase())
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    if let Ok(mut source) = std::fs::File::open("/dev/urandom") {
        let _ = source.read_exact(&mut bytes);
    }
    bytes
}

fn random_hex(bytes: usize) -> String {
    random_bytes::<16>()
        .iter()
        .take(bytes)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A MAC address in QEMU's locally administered range.
fn random_mac() -> String {
    let [a, b, c] = random_bytes::<3>();
    format!("52:54:00:{a:02x}:{b:02x}:{c:02x}")
}

/// A random (version 4) uuid.
fn random_uuid() -> String {
    let mut bytes = random_bytes::<16>();
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_names_match_case_insensitively() {
        assert_eq!(parse_action("CREATE").unwrap(), Action::Create);
        assert_eq!(
            parse_action("createsnapshot").unwrap(),
            Action::CreateSnapshot
        );
        assert!(matches!(
            parse_action("Migrate"),
            Err(ActionError::Unsupported(_))
        ));
    }

    #[test]
    fn macs_are_validated_and_normalised() {
        assert_eq!(
            normalise_mac("02:00:4C:5E:00:0A").as_deref(),
            Some("02:00:4c:5e:00:0a")
        );
        assert_eq!(normalise_mac("01:00:5e:00:00:01"), None, "multicast");
        assert_eq!(normalise_mac("02:00:4c:5e:00"), None);
        assert_eq!(normalise_mac("02:00:4c:5e:00:0a,x=y"), None);
        assert!(normalise_mac(&random_mac()).is_some());
    }

    #[test]
    fn random_uuids_look_like_uuids() {
        let uuid = random_uuid();
        assert_eq!(uuid.len(), 36);
        assert_eq!(&uuid[14..15], "4");
        assert_ne!(uuid, random_uuid());
    }

    #[test]
    fn identities_must_be_safe_names() {
        let payload = |name: &str| Payload {
            virtualmachinename: Some(name.into()),
            ..Default::default()
        };
        assert!(Identity::of(&payload("i-2-10-VM")).is_ok());
        assert!(Identity::of(&payload("../../etc")).is_err());
        assert!(Identity::of(&Payload::default()).is_err());
        let with_bad_uuid = Payload {
            virtualmachinename: Some("vm".into()),
            virtualmachineid: Some("x y".into()),
            ..Default::default()
        };
        assert!(Identity::of(&with_bad_uuid).is_err());
    }
}
