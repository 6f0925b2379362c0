//! Registrations of extensions with resources (clusters): `registerExtension`,
//! `updateRegisteredExtension` (its details) and `unregisterExtension`.

use std::collections::BTreeMap;
use trellis_model::entity::{Cluster, DetailOwner, Extension, ResourceMap};
use trellis_model::extension as ext;
use trellis_model::{time::now_millis, Error, Result};

use super::{require_admin, App, Caller, ExtensionView, ExtensionViews};

impl App {
    /// Map a cluster to an extension (one extension per cluster; External clusters only).
    pub async fn extension_register(
        &self,
        caller: Option<&Caller>,
        extension_uuid: &str,
        resource_uuid: &str,
        resource_type: &str,
        details: BTreeMap<String, String>,
    ) -> Result<ExtensionView> {
        if let Some(c) = caller {
            require_admin(c)?;
        }
        let (cluster, e) = self
            .cluster_and_extension(Verb::Register, resource_type, resource_uuid, extension_uuid)
            .await?;
        if cluster.hypervisor != "External" {
            return Err(Error::invalid_state(format!(
                "Cluster ID: {} is not of External hypervisor type",
                cluster.uuid
            )));
        }
        let lock = self.lock_for(&format!("cluster-map-{}", cluster.id)).await;
        let _guard = lock.lock().await;
        if let Some(m) = self
            .store
            .resource_map_for(cluster.id, ext::RESOURCE_TYPE_CLUSTER)
            .await?
        {
            return Err(if m.extension_id == e.id {
                Error::already_exists(format!(
                    "Extension: {} is already registered with this cluster: {}",
                    e.name, cluster.name
                ))
            } else {
                Error::already_exists(format!(
                    "An extension is already registered with this cluster: {}",
                    cluster.name
                ))
            });
        }
        let details = self.details_sealed(details)?;
        self.store
            .resource_map_create(
                e.id,
                cluster.id,
                ext::RESOURCE_TYPE_CLUSTER,
                &details,
                now_millis(),
            )
            .await?;
        drop(_guard);
        self.event(
            caller,
            "EXTENSION.RESOURCE.REGISTER",
            &format!(
                "Extension {} registered with cluster {}",
                e.name, cluster.name
            ),
            Some(("Extension", &e.uuid)),
        )
        .await;
        self.extension_view(&e, ExtensionViews::ALL).await
    }

    /// Remove the cluster's mapping; unlike upstream the mapping must belong to `extension_uuid`.
    pub async fn extension_unregister(
        &self,
        caller: Option<&Caller>,
        extension_uuid: &str,
        resource_uuid: &str,
        resource_type: &str,
    ) -> Result<ExtensionView> {
        if let Some(c) = caller {
            require_admin(c)?;
        }
        let (cluster, e) = self
            .cluster_and_extension(
                Verb::Unregister,
                resource_type,
                resource_uuid,
                extension_uuid,
            )
            .await?;
        match self
            .store
            .resource_map_for(cluster.id, ext::RESOURCE_TYPE_CLUSTER)
            .await?
        {
            Some(m) if m.extension_id == e.id => {
                self.store.resource_map_delete(m.id, now_millis()).await?;
                self.event(
                    caller,
                    "EXTENSION.RESOURCE.UNREGISTER",
                    &format!(
                        "Extension {} unregistered from cluster {}",
                        e.name, cluster.name
                    ),
                    Some(("Extension", &e.uuid)),
                )
                .await;
            }
            Some(_) => {
                return Err(Error::invalid_param(format!(
                    "Extension {} is not registered with cluster {}",
                    e.name, cluster.name
                )))
            }
            None => {}
        }
        self.extension_view(&e, ExtensionViews::ALL).await
    }

    /// `updateRegisteredExtension`: replace the details of an extension's registration with a
    /// cluster (the level sent as `externaldetails.resourcemap`), or remove them all with
    /// `cleanup`. Like `updateCluster externaldetails`, but named by extension and resource.
    pub async fn extension_registration_update(
        &self,
        caller: &Caller,
        extension_uuid: &str,
        resource_uuid: &str,
        resource_type: &str,
        details: Option<BTreeMap<String, String>>,
        cleanup: bool,
    ) -> Result<ExtensionView> {
        require_admin(caller)?;
        let (e, cluster, map) = self
            .registration(extension_uuid, resource_uuid, resource_type)
            .await?;
        // As upstream: cleanupdetails removes every detail and the details argument is then
        // ignored (said in the log, not dropped silently).
        let details = match (details, cleanup) {
            (Some(d), true) => {
                tracing::info!(extension = %e.name, cluster = %cluster.name, ignored = d.len(), "updateRegisteredExtension: cleanupdetails=true, the details given are ignored");
                BTreeMap::new()
            }
            (Some(d), false) => d,
            (None, true) => BTreeMap::new(),
            (None, false) => {
                return Err(Error::invalid_param(
                    "Nothing to update: give details, or cleanupdetails=true",
                ))
            }
        };
        self.details_replace(DetailOwner::ResourceMap, map.id, "", &details)
            .await?;
        self.event(
            Some(caller),
            "EXTENSION.RESOURCE.UPDATE",
            &format!(
                "Details of extension {} registered with cluster {} updated",
                e.name, cluster.name
            ),
            Some(("Extension", &e.uuid)),
        )
        .await;
        self.extension_view(&e, ExtensionViews::ALL).await
    }

    /// The registration of extension `extension_uuid` with cluster `resource_uuid`.
    async fn registration(
        &self,
        extension_uuid: &str,
        resource_uuid: &str,
        resource_type: &str,
    ) -> Result<(Extension, Cluster, ResourceMap)> {
        let (cluster, e) = self
            .cluster_and_extension(Verb::Update, resource_type, resource_uuid, extension_uuid)
            .await?;
        match self
            .store
            .resource_map_for(cluster.id, ext::RESOURCE_TYPE_CLUSTER)
            .await?
        {
            Some(m) if m.extension_id == e.id => Ok((e, cluster, m)),
            _ => Err(Error::invalid_param(format!(
                "Extension '{}' is not registered with resource {} ({resource_type})",
                e.name, cluster.uuid
            ))),
        }
    }

    /// The cluster and the extension a registration command names, with upstream's error texts
    /// for each command.
    async fn cluster_and_extension(
        &self,
        verb: Verb,
        resource_type: &str,
        resource_uuid: &str,
        extension_uuid: &str,
    ) -> Result<(Cluster, Extension)> {
        if resource_type != ext::RESOURCE_TYPE_CLUSTER {
            return Err(Error::invalid_param(match verb {
                Verb::Register | Verb::Unregister => "Currently only [Cluster] can be used to register an extension of type Orchestrator",
                Verb::Update => "Currently only [Cluster] can be used to update an extension registration",
            }));
        }
        let cluster = self
            .store
            .cluster_by_uuid(resource_uuid)
            .await?
            .ok_or_else(|| {
                Error::not_found(match verb {
                    Verb::Register => "Invalid cluster ID specified",
                    Verb::Unregister | Verb::Update => "Unable to find cluster with given ID",
                })
            })?;
        let e = self
            .store
            .extension_by_uuid(extension_uuid)
            .await?
            .ok_or_else(|| Error::not_found("Invalid extension specified"))?;
        Ok((cluster, e))
    }
}

/// Which registration command is asking (their error texts differ upstream).
#[derive(Debug, Clone, Copy)]
enum Verb {
    Register,
    Unregister,
    Update,
}
