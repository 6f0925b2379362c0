//! The lifecycle actions on one VM: `create`, `start`, `stop`, `reboot`, `delete`, `status` and
//! `getconsole`.

use super::host::{check_memory, create_state_dir, random_hex};
use super::{Context, DiskPlan, STATUS_WAIT};
use crate::error::ActionError;
use crate::image;
use crate::machine::{self, QMP_WAIT, STATUS_SOCKET};
use crate::qmp::Qmp;
use serde_json::{json, Value};
use std::time::Duration;
use trellis_ext_protocol::PowerState;

impl Context<'_> {
    pub(super) fn create(&self) -> Result<Value, ActionError> {
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
            let seed = self.seed(&record.uuid)?;
            let mut record = self.hardware(Some(&record))?;
            self.write_seed(seed.as_ref())?;
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
            seed,
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
            .and_then(|()| self.write_seed(seed.as_ref()))
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
                if let Some(seed) = &seed {
                    reply["seed"] = seed.describe().into();
                }
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

    /// What a fresh `create` needs, checked: `qemu-img`, the base image, the disk size, the
    /// record and the cloud-init seed (QEMU's presence and the memory are checked too).
    fn plan_disk(&self) -> Result<DiskPlan, ActionError> {
        let qemu_img = self.settings.qemu_img()?;
        self.settings.qemu()?;
        let image = self.settings.image()?;
        let size = self.settings.disk_size_gb()?;
        let mut record = self.hardware(None)?;
        record.image = image.clone();
        check_memory(self.name(), record.memory_mib)?;
        let seed = self.seed(&record.uuid)?;
        Ok(DiskPlan {
            qemu_img,
            image,
            size,
            record,
            seed,
        })
    }

    pub(super) fn start(&self) -> Result<Value, ActionError> {
        if !self.machine.exists() {
            return Err(self.not_found());
        }
        let _lock = self.lock()?;
        let record = self.record()?;
        let seed = self.seed(&record.uuid)?;
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
        self.write_seed(seed.as_ref())?;
        let decision = self
            .launch(&mut record)
            .map_err(|error| error.context(format!("cannot start vm {}", self.name())))?;
        Ok(self.started("started", &decision))
    }

    pub(super) fn stop(&self) -> Result<Value, ActionError> {
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

    pub(super) fn reboot(&self) -> Result<Value, ActionError> {
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

    pub(super) fn delete(&self) -> Result<Value, ActionError> {
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

    pub(super) fn status(&self) -> Result<Value, ActionError> {
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

    pub(super) fn console(&self) -> Result<Value, ActionError> {
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
}
