//! Volumes: the metadata-only ROOT volume of every instance (size, state and owner follow the
//! instance), `listVolumes` with the instance's visibility rules, and the refusal of volume
//! operations External instances do not have.

use trellis_model::entity::{Instance, Template, Volume};
use trellis_model::instance::VmState;
use trellis_model::{Error, Result};
use trellis_store::{Page, VolumeFilter};

use super::{App, Caller};

/// The instance detail holding `rootdisksize` (GiB), upstream's name.
pub const ROOT_DISK_SIZE: &str = "rootdisksize";

/// Upstream's answer to volume operations on External instances.
pub const VOLUME_OPERATIONS_REFUSED: &str =
    "Volume operations are not allowed for External hypervisor type";

/// A `listVolumes` state as a condition on the instance: `Some(destroyed)`, or `None` for a
/// state a ROOT record of an External instance is never in (nothing matches).
pub fn volume_state_condition(state: &str) -> Result<Option<bool>> {
    match state.to_ascii_lowercase().as_str() {
        "ready" => Ok(Some(false)),
        "destroy" => Ok(Some(true)),
        "allocated" | "expunging" | "expunged" | "uploaded" | "migrating" | "snapshotting" => {
            Ok(None)
        }
        other => Err(Error::invalid_param(format!(
            "Invalid volume state {other}: use Ready, Destroy, Allocated, Expunging or Expunged"
        ))),
    }
}

/// What a volume reports: its state and size.
pub fn volume_state(inst: &Instance) -> &'static str {
    if matches!(inst.state, VmState::Destroyed | VmState::Expunging) {
        "Destroy"
    } else {
        "Ready"
    }
}

/// The ROOT volume's size in bytes: `rootdisksize` (GiB) given at deploy, else the template's
/// size, else 0.
pub fn volume_size(root_disk_gib: Option<&str>, template: Option<&Template>) -> i64 {
    root_disk_gib
        .and_then(|g| g.trim().parse::<i64>().ok())
        .filter(|g| *g > 0)
        .map(|g| g.saturating_mul(1 << 30))
        .or_else(|| template.map(|t| t.size))
        .unwrap_or(0)
}

impl App {
    /// `listVolumes`: a caller sees the volumes of the instances they see (own account unless
    /// root admin; volumes of Destroyed instances as they see those instances).
    pub async fn volume_list(
        &self,
        caller: &Caller,
        mut f: VolumeFilter,
        page: Page,
    ) -> Result<(Vec<(Volume, Instance)>, i64)> {
        if !caller.is_root_admin() {
            f.account_id = Some(caller.account.id);
        }
        f.include_destroyed = self.sees_destroyed(caller);
        let (volumes, total) = self.store.volume_list(&f, page).await?;
        let mut out = Vec::with_capacity(volumes.len());
        for v in volumes {
            let inst = self
                .store
                .instance_get(v.instance_id)
                .await?
                .ok_or_else(|| Error::internal("volume without instance"))?;
            out.push((v, inst));
        }
        Ok((out, total))
    }

    /// The volume `uuid` names, if the caller may see it; else the usual 431/531.
    pub async fn volume_for(&self, caller: &Caller, uuid: &str) -> Result<(Volume, Instance)> {
        let unknown = || {
            Error::invalid_param(format!(
                "Invalid parameter id value={uuid} due to incorrect long value format, or entity does not exist or due to incorrect parameter annotation for the field in api cmd class."
            ))
        };
        let v = self.store.volume_by_uuid(uuid).await?.ok_or_else(unknown)?;
        let inst = self
            .store
            .instance_get(v.instance_id)
            .await?
            .filter(|i| i.removed.is_none())
            .ok_or_else(unknown)?;
        if !caller.is_root_admin() && inst.account_id != caller.account.id {
            return Err(Error::denied(format!(
                "Account {} does not have access to volume {uuid}",
                caller.account.name
            )));
        }
        Ok((v, inst))
    }

    /// Why a volume operation is refused: the volume named is unknown or not the caller's, or
    /// else upstream's refusal of volume operations for External instances.
    pub async fn volume_refusal(&self, caller: &Caller, uuid: Option<&str>) -> Error {
        if let Some(uuid) = uuid {
            if let Err(e) = self.volume_for(caller, uuid).await {
                return e;
            }
        }
        Error::invalid_param(VOLUME_OPERATIONS_REFUSED)
    }
}
