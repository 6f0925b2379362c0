//! Placement: which host an instance starts on (spec §9.5): its last host when still usable,
//! else one of the enabled hosts (with the offering's host tag, if any) of the clusters
//! registered with the template's extension, narrowed by the instance's affinity groups
//! (`affinity.rs`), chosen at random among the best.

use trellis_model::entity::{Host, Instance, Template};
use trellis_model::extension::ExtensionState;
use trellis_model::infra::{AllocationState, HostStatus, ResourceState};
use trellis_model::{Error, Result};

use trellis_store::{InfraFilter, Page};

use super::deploy::Destination;
use super::App;

impl App {
    /// Choose a host (spec §9.5): last host, else clusters of the template's extension (of the
    /// administrator's cluster or pod, when the deploy named one).
    pub(crate) async fn place(
        &self,
        inst: &Instance,
        template: &Template,
        dest: &Destination,
    ) -> Result<Host> {
        let cluster_id = match &dest.cluster {
            Some(u) => Some(self.cluster_by_uuid(u).await?.id),
            None => None,
        };
        let pod_id = match &dest.pod {
            Some(u) => Some(self.pod_by_uuid(u).await?.id),
            None => None,
        };
        if let Some(hid) = inst.last_host_id {
            if let Some(h) = self.store.host_get(hid).await? {
                return Ok(h);
            }
        }
        let no_destination = |why: String| {
            Error::capacity(format!(
                "Unable to create a deployment for instance {}: {why}",
                inst.instance_name
            ))
        };
        let wanted_ext = match template.extension_id {
            Some(eid) => {
                let e = self.store.extension_get(eid).await?.ok_or_else(|| {
                    no_destination("the template's extension no longer exists".into())
                })?;
                if e.state != ExtensionState::Enabled {
                    return Err(no_destination(format!("extension {} is disabled", e.name)));
                }
                if !e.path_ready {
                    return Err(no_destination(format!(
                        "the path of extension {} is not ready",
                        e.name
                    )));
                }
                Some(e.id)
            }
            None => None,
        };
        let offering = self
            .store
            .offering_get(inst.service_offering_id)
            .await?
            .ok_or_else(|| Error::internal("instance without offering"))?;
        let tag = offering
            .host_tags
            .as_deref()
            .and_then(|t| t.split(',').map(str::trim).find(|t| !t.is_empty()))
            .map(str::to_string);
        let (clusters, _) = self
            .store
            .cluster_list(
                &InfraFilter {
                    zone_id: Some(inst.zone_id),
                    ..Default::default()
                },
                Page::all(),
            )
            .await?;
        let mut candidates: Vec<Host> = Vec::new();
        for c in clusters
            .iter()
            .filter(|c| c.allocation_state == AllocationState::Enabled && c.arch == template.arch)
            .filter(|c| cluster_id.is_none_or(|id| c.id == id))
            .filter(|c| pod_id.is_none_or(|id| c.pod_id == id))
        {
            let Some((e, _)) = self.cluster_extension(c.id).await? else {
                continue;
            };
            let matches = match wanted_ext {
                Some(w) => e.id == w,
                None => e.state == ExtensionState::Enabled && e.path_ready,
            };
            if !matches {
                continue;
            }
            let (hosts, _) = self
                .store
                .host_list(
                    &InfraFilter {
                        cluster_id: Some(c.id),
                        ..Default::default()
                    },
                    Page::all(),
                )
                .await?;
            candidates.extend(hosts.into_iter().filter(|h| {
                h.status == HostStatus::Up
                    && h.resource_state == ResourceState::Enabled
                    && tag.as_ref().is_none_or(|t| {
                        h.host_tags
                            .as_deref()
                            .is_some_and(|ht| ht.split(',').any(|x| x.trim() == t))
                    })
            }));
        }
        if candidates.is_empty() {
            return Err(no_destination(match tag {
                Some(t) => format!(
                    "no enabled host with tag {t} in a cluster bound to the template's extension"
                ),
                None => "no enabled host in a cluster bound to the template's extension".into(),
            }));
        }
        let candidates = self
            .affinity_filter(inst, candidates)
            .await?
            .map_err(no_destination)?;
        let i = rand::Rng::gen_range(&mut rand::thread_rng(), 0..candidates.len());
        Ok(candidates[i].clone())
    }

    /// An administrator's explicit host (`hostid`) must still satisfy the instance's strict
    /// affinity rules.
    pub(crate) async fn affinity_check_host(&self, inst: &Instance, host: &Host) -> Result<()> {
        match self.affinity_filter(inst, vec![host.clone()]).await? {
            Ok(_) => Ok(()),
            Err(why) => Err(Error::capacity(format!(
                "Unable to create a deployment for instance {} on host {}: {why}",
                inst.instance_name, host.name
            ))),
        }
    }
}
