//! The snapshot custom actions: `ListSnapshots`, `CreateSnapshot`, `RestoreSnapshot` and
//! `DeleteSnapshot`, through QEMU's monitor while the VM runs, else through `qemu-img` on its disk.

use super::Context;
use crate::error::ActionError;
use crate::image::{self, Snapshot};
use crate::machine::{self, Record, QMP_WAIT};
use serde_json::{json, Value};
use std::time::Duration;

impl Context<'_> {
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

    pub(super) fn list_snapshots(&self) -> Result<Value, ActionError> {
        let record = self.record()?;
        let (_, list) = self.snapshots(&record)?;
        let rows: Vec<Value> = list.iter().map(Snapshot::to_json).collect();
        Ok(json!({"status": "success", "printmessage": "true", "message": rows}))
    }

    pub(super) fn create_snapshot(&self) -> Result<Value, ActionError> {
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

    pub(super) fn restore_snapshot(&self) -> Result<Value, ActionError> {
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

    pub(super) fn delete_snapshot(&self) -> Result<Value, ActionError> {
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
