//! The actions: what each one does to the VM, and what it prints.
//!
//! An instance's VM is identified by the instance's internal name (`i-2-10-VM`): its directory
//! is `<state dir>/vms/<name>`. The record there keeps the instance uuid; an action whose
//! payload names another uuid is refused, so two management servers sharing a machine cannot
//! take each other's VMs.

use crate::accel::{self, Accel, Decision};
use crate::deadline::Deadline;
use crate::error::ActionError;
use crate::machine::{self, LaunchPlan, Machine, NicRecord, Record};
use crate::seed::{self, Seed};
use crate::settings::{is_plain_name, AccelChoice, Settings};
use serde_json::{json, Map, Value};
use std::time::Duration;
use trellis_ext_protocol::{Payload, VirtualMachine, VmAction};

mod host;
mod lifecycle;
mod snapshots;
mod template;

pub use host::normalise_mac;
use host::{check_memory, random_mac, random_uuid};

/// Memory of an instance whose payload does not say (MiB).
pub const DEFAULT_MEMORY_MIB: u64 = 256;

/// How long `status`/`statuses` wait for a monitor to answer.
const STATUS_WAIT: Duration = Duration::from_secs(3);

/// The actions of this extension: the shared set of the VM-managing built-ins, and
/// `createtemplate` (a Trellis addition, see [`trellis_ext_protocol::action::CREATE_TEMPLATE`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Vm(VmAction),
    CreateTemplate,
}

/// The action called `name` (case and surrounding blanks ignored), or the documented
/// "unsupported action" failure.
pub fn parse_action(name: &str) -> Result<Action, ActionError> {
    if name
        .trim()
        .eq_ignore_ascii_case(trellis_ext_protocol::action::CREATE_TEMPLATE)
    {
        return Ok(Action::CreateTemplate);
    }
    VmAction::parse(name)
        .map(Action::Vm)
        .ok_or_else(|| ActionError::Unsupported(name.to_string()))
}

/// Runs `action` and returns what to print on stdout.
pub fn perform(
    action: Action,
    payload: &Payload,
    settings: &Settings,
    deadline: Deadline,
) -> Result<Value, ActionError> {
    match action {
        Action::Vm(VmAction::Prepare) => Ok(json!({})),
        Action::Vm(VmAction::Statuses) => statuses(payload, settings),
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
                Action::CreateTemplate => context.create_template(),
                Action::Vm(VmAction::Create) => context.create(),
                Action::Vm(VmAction::Start) => context.start(),
                Action::Vm(VmAction::Stop) => context.stop(),
                Action::Vm(VmAction::Reboot) => context.reboot(),
                Action::Vm(VmAction::Delete) => context.delete(),
                Action::Vm(VmAction::Status) => context.status(),
                Action::Vm(VmAction::GetConsole) => context.console(),
                Action::Vm(VmAction::ListSnapshots) => context.list_snapshots(),
                Action::Vm(VmAction::CreateSnapshot) => context.create_snapshot(),
                Action::Vm(VmAction::RestoreSnapshot) => context.restore_snapshot(),
                Action::Vm(VmAction::DeleteSnapshot) => context.delete_snapshot(),
                Action::Vm(VmAction::Prepare | VmAction::Statuses) => {
                    unreachable!("handled above")
                }
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
    seed: Option<Seed>,
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
            seed: self.machine.path(machine::SEED_FILE).is_file(),
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

    /// The cloud-init seed the payload asks for the VM with `uuid`, checked (user data must be
    /// base64); `None` when the payload carries neither SSH keys nor user data.
    fn seed(&self, uuid: &str) -> Result<Option<Seed>, ActionError> {
        Seed::from_payload(self.payload, uuid, self.name())
    }

    /// Writes `seed` next to the VM's disk unless the seed there is already the same. A payload
    /// without keys or user data leaves an existing seed alone.
    fn write_seed(&self, seed: Option<&Seed>) -> Result<(), ActionError> {
        let Some(seed) = seed else {
            return Ok(());
        };
        let image = seed.image()?;
        seed::write_image(&self.machine.path(machine::SEED_FILE), &image)
            .map(|_| ())
            .map_err(|error| {
                error.context(format!(
                    "cannot write the cloud-init seed of vm {}",
                    self.name()
                ))
            })
    }

    fn started(&self, verb: &str, decision: &Decision) -> Value {
        json!({
            "status": "success",
            "message": format!("vm {} {verb} ({})", self.name(), decision.accel.name()),
            "accel": decision.accel.name(),
            "accel_reason": decision.reason,
        })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_names_match_case_insensitively() {
        assert_eq!(
            parse_action("CREATE").unwrap(),
            Action::Vm(VmAction::Create)
        );
        assert_eq!(
            parse_action("createsnapshot").unwrap(),
            Action::Vm(VmAction::CreateSnapshot)
        );
        assert_eq!(
            parse_action(" CreateTemplate ").unwrap(),
            Action::CreateTemplate
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
