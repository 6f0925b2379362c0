//! Host maintenance: stop the host's running instances (through the extension) and keep new
//! ones away until maintenance is cancelled.

use trellis_model::entity::Host;
use trellis_model::infra::ResourceState;
use trellis_model::instance::VmState;
use trellis_model::{Error, Result};

use super::{App, Caller};

impl App {
    /// `prepareHostForMaintenance`: stop every instance on the host through its extension.
    pub async fn host_maintenance(&self, caller: &Caller, uuid: &str) -> Result<Host> {
        let mut h = self.host_by_uuid(uuid).await?;
        h.resource_state = ResourceState::PrepareForMaintenance;
        self.store.host_update(&h).await?;
        let mut failures = Vec::new();
        for inst in self.store.instance_list_for_host(h.id).await? {
            if inst.state == VmState::Running || inst.state == VmState::Error {
                if let Err(e) = self.instance_stop(caller, &inst.uuid, true).await {
                    failures.push(format!("{}: {}", inst.instance_name, e.external_message()));
                }
            }
        }
        h.resource_state = if failures.is_empty() {
            ResourceState::Maintenance
        } else {
            ResourceState::ErrorInMaintenance
        };
        self.store.host_update(&h).await?;
        self.event(
            Some(caller),
            "MAINT.PREPARE",
            &format!("Host {} in maintenance", h.name),
            Some(("Host", &h.uuid)),
        )
        .await;
        if failures.is_empty() {
            Ok(h)
        } else {
            Err(Error::unavailable(format!(
                "Host {} could not stop every instance: {}",
                h.name,
                failures.join("; ")
            )))
        }
    }

    pub async fn host_cancel_maintenance(&self, caller: &Caller, uuid: &str) -> Result<Host> {
        let mut h = self.host_by_uuid(uuid).await?;
        h.resource_state = ResourceState::Enabled;
        self.store.host_update(&h).await?;
        self.event(
            Some(caller),
            "MAINT.CANCEL",
            &format!("Host {} back from maintenance", h.name),
            Some(("Host", &h.uuid)),
        )
        .await;
        Ok(h)
    }
}
