//! Infrastructure: zones, pods, External clusters bound to extensions and hosts. Service
//! offerings, templates and guest networks have their own files (`offerings.rs`,
//! `templates.rs`, `networks.rs`); host maintenance is in `host_maintenance.rs`.

use rand::Rng;
use std::collections::BTreeMap;
use trellis_model::entity::{Cluster, DetailOwner, Host, Pod, Zone};
use trellis_model::extension as ext;
use trellis_model::infra::{AllocationState, HostStatus, ResourceState};
use trellis_model::{ids, time::now_millis, Error, Result};
use trellis_store::{InfraFilter, Page};

use super::{require_admin, App, Caller};

/// The plain host detail holding addHost's `username` (listed).
pub const HOST_USERNAME: &str = "username";
/// The plain host detail holding addHost's `password` (hidden: never listed).
pub const HOST_PASSWORD: &str = "password";

/// Input of `createZone`.
#[derive(Debug, Clone, Default)]
pub struct ZoneCreateParams {
    pub name: String,
    pub description: Option<String>,
    pub dns1: Option<String>,
    pub dns2: Option<String>,
    pub internal_dns1: Option<String>,
    /// `Advanced` (default) or `Basic`, in any case.
    pub network_type: Option<String>,
}

/// Input of `createPod`.
#[derive(Debug, Clone, Default)]
pub struct PodCreateParams {
    pub zone_uuid: String,
    pub name: String,
    pub gateway: Option<String>,
    pub netmask: Option<String>,
    pub start_ip: Option<String>,
    pub end_ip: Option<String>,
}

/// Input of `addCluster`.
#[derive(Debug, Clone, Default)]
pub struct ClusterInput {
    pub zone_uuid: String,
    pub pod_uuid: Option<String>,
    pub name: String,
    pub hypervisor: String,
    /// Register the new cluster with this extension (External clusters only).
    pub extension_uuid: Option<String>,
    /// Details of that registration.
    pub external_details: Option<BTreeMap<String, String>>,
    pub arch: Option<String>,
}

/// Input of `addHost`.
#[derive(Debug, Clone, Default)]
pub struct HostInput {
    pub zone_uuid: String,
    pub pod_uuid: Option<String>,
    pub cluster_uuid: String,
    pub url: String,
    pub hypervisor: String,
    pub host_tags: Option<String>,
    /// `Enabled` (default) or `Disabled`: whether new instances may be placed on the host.
    pub allocation_state: Option<String>,
    /// Kept as the host's `username` detail.
    pub username: Option<String>,
    /// Kept as the host's hidden `password` detail.
    pub password: Option<String>,
    pub external_details: BTreeMap<String, String>,
}

/// Input of `updateHost`: what is `None` stays as it is.
#[derive(Debug, Clone, Default)]
pub struct HostUpdateParams {
    pub uuid: String,
    pub name: Option<String>,
    pub host_tags: Option<String>,
    /// `Enable`/`Enabled` or `Disable`/`Disabled`.
    pub allocation_state: Option<String>,
    /// New external details, replacing the old ones (`cleanup_external_details` clears them).
    pub external_details: Option<BTreeMap<String, String>>,
    pub cleanup_external_details: bool,
}

/// The `allocationstate` parameter of `updateZone`, `updateCluster` and `addHost`: `Enabled`
/// or `Disabled`, exactly.
fn allocation_state_param(a: &str) -> Result<AllocationState> {
    AllocationState::parse(a).ok_or_else(|| {
        Error::invalid_param(format!(
            "Invalid allocation state {a}: use Enabled or Disabled"
        ))
    })
}

/// Prefix of external details stored on hosts, offerings, templates and instances.
pub const EXTERNAL_PREFIX: &str = "External:";
pub const HYPERVISOR_EXTERNAL: &str = "External";

impl App {
    pub async fn zone_by_uuid(&self, uuid: &str) -> Result<Zone> {
        self.store
            .zone_by_uuid(uuid)
            .await?
            .ok_or_else(|| Error::not_found(format!("Unable to find zone by id {uuid}")))
    }

    pub async fn zone_create(&self, caller: &Caller, params: ZoneCreateParams) -> Result<Zone> {
        let ZoneCreateParams {
            name,
            description,
            dns1,
            dns2,
            internal_dns1,
            network_type,
        } = params;
        require_admin(caller)?;
        let (existing, _) = self
            .store
            .zone_list(
                &InfraFilter {
                    name: Some(name.clone()),
                    ..Default::default()
                },
                Page::all(),
            )
            .await?;
        if !existing.is_empty() {
            return Err(Error::already_exists(format!(
                "A zone with name {name} already exists"
            )));
        }
        let network_type = match network_type.as_deref().unwrap_or("Advanced") {
            t if t.eq_ignore_ascii_case("advanced") => "Advanced",
            t if t.eq_ignore_ascii_case("basic") => "Basic",
            t => {
                return Err(Error::invalid_param(format!(
                    "Invalid network type {t}: use Basic or Advanced"
                )))
            }
        };
        let z = Zone {
            id: 0,
            uuid: ids::new_uuid(),
            name: name.clone(),
            description,
            dns1,
            dns2,
            internal_dns1,
            network_type: network_type.into(),
            allocation_state: AllocationState::Enabled,
            created: now_millis(),
        };
        let z = self.store.zone_create(&z).await?;
        self.event(
            Some(caller),
            "ZONE.CREATE",
            &format!("Zone {name} created"),
            Some(("Zone", &z.uuid)),
        )
        .await;
        Ok(z)
    }

    pub async fn zone_update(
        &self,
        caller: &Caller,
        uuid: &str,
        name: Option<&str>,
        description: Option<&str>,
        dns1: Option<&str>,
        allocation_state: Option<&str>,
    ) -> Result<Zone> {
        require_admin(caller)?;
        let mut z = self.zone_by_uuid(uuid).await?;
        if let Some(n) = name {
            z.name = n.into();
        }
        if let Some(d) = description {
            z.description = Some(d.into());
        }
        if let Some(d) = dns1 {
            z.dns1 = Some(d.into());
        }
        if let Some(a) = allocation_state {
            z.allocation_state = allocation_state_param(a)?;
        }
        self.store.zone_update(&z).await?;
        self.event(
            Some(caller),
            "ZONE.EDIT",
            &format!("Zone {} updated", z.name),
            Some(("Zone", &z.uuid)),
        )
        .await;
        Ok(z)
    }

    pub async fn zone_delete(&self, caller: &Caller, uuid: &str) -> Result<()> {
        require_admin(caller)?;
        let z = self.zone_by_uuid(uuid).await?;
        let f = InfraFilter {
            zone_id: Some(z.id),
            ..Default::default()
        };
        if self.store.cluster_list(&f, Page::count_only()).await?.1 > 0
            || self
                .store
                .network_list(None, Some(z.id), None, None, Page::count_only())
                .await?
                .1
                > 0
        {
            return Err(Error::in_use(format!(
                "The zone {} is not deletable because it still has clusters or networks",
                z.name
            )));
        }
        for p in self.store.pod_list(&f, Page::all()).await?.0 {
            self.store.pod_delete(p.id, now_millis()).await?;
        }
        self.store.zone_delete(z.id, now_millis()).await?;
        self.event(
            Some(caller),
            "ZONE.DELETE",
            &format!("Zone {} deleted", z.name),
            Some(("Zone", &z.uuid)),
        )
        .await;
        Ok(())
    }

    pub async fn pod_create(&self, caller: &Caller, params: PodCreateParams) -> Result<Pod> {
        let PodCreateParams {
            zone_uuid,
            name,
            gateway,
            netmask,
            start_ip,
            end_ip,
        } = params;
        require_admin(caller)?;
        let z = self.zone_by_uuid(&zone_uuid).await?;
        let p = Pod {
            id: 0,
            uuid: ids::new_uuid(),
            name: name.clone(),
            zone_id: z.id,
            gateway,
            netmask,
            start_ip,
            end_ip,
            allocation_state: AllocationState::Enabled,
            created: now_millis(),
        };
        let p = self.store.pod_create(&p).await?;
        self.event(
            Some(caller),
            "POD.CREATE",
            &format!("Pod {name} created"),
            Some(("Pod", &p.uuid)),
        )
        .await;
        Ok(p)
    }

    pub async fn pod_delete(&self, caller: &Caller, uuid: &str) -> Result<()> {
        require_admin(caller)?;
        let p = self
            .store
            .pod_by_uuid(uuid)
            .await?
            .ok_or_else(|| Error::not_found(format!("Unable to find pod by id {uuid}")))?;
        if self
            .store
            .cluster_list(
                &InfraFilter {
                    pod_id: Some(p.id),
                    ..Default::default()
                },
                Page::count_only(),
            )
            .await?
            .1
            > 0
        {
            return Err(Error::in_use(format!(
                "The pod {} is not deletable because it still has clusters",
                p.name
            )));
        }
        self.store.pod_delete(p.id, now_millis()).await?;
        self.event(
            Some(caller),
            "POD.DELETE",
            &format!("Pod {} deleted", p.name),
            Some(("Pod", &p.uuid)),
        )
        .await;
        Ok(())
    }

    /// `addCluster`: External clusters only, optionally registered to an extension at once.
    pub async fn cluster_add(&self, caller: &Caller, input: ClusterInput) -> Result<Cluster> {
        let ClusterInput {
            zone_uuid,
            pod_uuid,
            name,
            hypervisor,
            extension_uuid,
            external_details,
            arch,
        } = input;
        let (zone_uuid, name, hypervisor) = (&*zone_uuid, &*name, &*hypervisor);
        let (pod_uuid, extension_uuid, arch) = (
            pod_uuid.as_deref(),
            extension_uuid.as_deref(),
            arch.as_deref(),
        );
        require_admin(caller)?;
        let is_external = hypervisor.eq_ignore_ascii_case(HYPERVISOR_EXTERNAL);
        if extension_uuid.is_some() && !is_external {
            return Err(Error::invalid_param(
                "Extension can be specified only for External hypervisor type",
            ));
        }
        if let Some(d) = &external_details {
            // A new registration: no stored secret for a mask to stand for.
            super::secret_details::keep_masked(d.clone(), &BTreeMap::new())?;
        }
        if external_details.as_ref().is_some_and(|d| !d.is_empty()) && extension_uuid.is_none() {
            return Err(Error::invalid_param(
                "External details can be specified only with an extension",
            ));
        }
        if !is_external {
            return Err(Error::invalid_param(format!("Hypervisor type {hypervisor} is not supported: Trellis manages clusters of hypervisor type External")));
        }
        let z = self.zone_by_uuid(zone_uuid).await?;
        let pod = match pod_uuid {
            Some(u) => {
                let p = self
                    .store
                    .pod_by_uuid(u)
                    .await?
                    .ok_or_else(|| Error::not_found(format!("Unable to find pod by id {u}")))?;
                if p.zone_id != z.id {
                    return Err(Error::invalid_param(format!(
                        "Pod {} does not belong to zone {}",
                        p.name, z.name
                    )));
                }
                p
            }
            None => match self
                .store
                .pod_list(
                    &InfraFilter {
                        zone_id: Some(z.id),
                        ..Default::default()
                    },
                    Page::all(),
                )
                .await?
                .0
                .into_iter()
                .next()
            {
                Some(p) => p,
                None => {
                    self.pod_create(
                        caller,
                        PodCreateParams {
                            zone_uuid: zone_uuid.into(),
                            name: format!("{}-pod", z.name),
                            ..Default::default()
                        },
                    )
                    .await?
                }
            },
        };
        let e = match extension_uuid {
            Some(u) => Some(
                self.store
                    .extension_by_uuid(u)
                    .await?
                    .ok_or_else(|| Error::not_found("Invalid extension specified"))?,
            ),
            None => None,
        };
        let arch = match arch.unwrap_or("x86_64") {
            a @ ("x86_64" | "aarch64") => a.to_string(),
            a => {
                return Err(Error::invalid_param(format!(
                    "Invalid arch {a}: use x86_64 or aarch64"
                )))
            }
        };
        let c = Cluster {
            id: 0,
            uuid: ids::new_uuid(),
            name: name.into(),
            zone_id: z.id,
            pod_id: pod.id,
            hypervisor: HYPERVISOR_EXTERNAL.into(),
            cluster_type: "CloudManaged".into(),
            allocation_state: AllocationState::Enabled,
            arch,
            created: now_millis(),
        };
        let c = self.store.cluster_create(&c).await?;
        self.event(
            Some(caller),
            "CLUSTER.CREATE",
            &format!("Cluster {name} created"),
            Some(("Cluster", &c.uuid)),
        )
        .await;
        if let Some(e) = e {
            self.extension_register(
                Some(caller),
                &e.uuid,
                &c.uuid,
                ext::RESOURCE_TYPE_CLUSTER,
                external_details.unwrap_or_default(),
            )
            .await?;
        }
        Ok(c)
    }

    pub async fn pod_by_uuid(&self, uuid: &str) -> Result<Pod> {
        self.store
            .pod_by_uuid(uuid)
            .await?
            .ok_or_else(|| Error::not_found(format!("Unable to find pod by id {uuid}")))
    }

    pub async fn cluster_by_uuid(&self, uuid: &str) -> Result<Cluster> {
        self.store
            .cluster_by_uuid(uuid)
            .await?
            .ok_or_else(|| Error::not_found(format!("Unable to find cluster by id {uuid}")))
    }

    pub async fn cluster_update(
        &self,
        caller: &Caller,
        uuid: &str,
        name: Option<&str>,
        allocation_state: Option<&str>,
        external_details: Option<BTreeMap<String, String>>,
    ) -> Result<Cluster> {
        require_admin(caller)?;
        let mut c = self.cluster_by_uuid(uuid).await?;
        if let Some(n) = name {
            c.name = n.into();
        }
        if let Some(a) = allocation_state {
            c.allocation_state = allocation_state_param(a)?;
        }
        if let Some(d) = external_details {
            let m = self
                .store
                .resource_map_for(c.id, ext::RESOURCE_TYPE_CLUSTER)
                .await?
                .ok_or_else(|| {
                    Error::invalid_param(format!(
                        "Cluster {} is not registered with an extension",
                        c.name
                    ))
                })?;
            self.details_replace(DetailOwner::ResourceMap, m.id, "", &d)
                .await?;
        }
        self.store.cluster_update(&c).await?;
        self.event(
            Some(caller),
            "CLUSTER.UPDATE",
            &format!("Cluster {} updated", c.name),
            Some(("Cluster", &c.uuid)),
        )
        .await;
        Ok(c)
    }

    pub async fn cluster_delete(&self, caller: &Caller, uuid: &str) -> Result<()> {
        require_admin(caller)?;
        let c = self.cluster_by_uuid(uuid).await?;
        if self
            .store
            .host_list(
                &InfraFilter {
                    cluster_id: Some(c.id),
                    ..Default::default()
                },
                Page::count_only(),
            )
            .await?
            .1
            > 0
        {
            return Err(Error::in_use(format!(
                "The cluster {} is not deletable because it still has hosts",
                c.name
            )));
        }
        if let Some(m) = self
            .store
            .resource_map_for(c.id, ext::RESOURCE_TYPE_CLUSTER)
            .await?
        {
            self.store.resource_map_delete(m.id, now_millis()).await?;
        }
        self.store.cluster_delete(c.id, now_millis()).await?;
        self.event(
            Some(caller),
            "CLUSTER.DELETE",
            &format!("Cluster {} deleted", c.name),
            Some(("Cluster", &c.uuid)),
        )
        .await;
        Ok(())
    }

    /// The extension registered with a cluster, if any.
    pub async fn cluster_extension(
        &self,
        cluster_id: i64,
    ) -> Result<
        Option<(
            trellis_model::entity::Extension,
            trellis_model::entity::ResourceMap,
        )>,
    > {
        let Some(m) = self
            .store
            .resource_map_for(cluster_id, ext::RESOURCE_TYPE_CLUSTER)
            .await?
        else {
            return Ok(None);
        };
        Ok(self
            .store
            .extension_get(m.extension_id)
            .await?
            .map(|e| (e, m)))
    }

    pub async fn host_add(&self, caller: &Caller, input: HostInput) -> Result<Host> {
        let HostInput {
            zone_uuid,
            pod_uuid,
            cluster_uuid,
            url,
            hypervisor,
            host_tags,
            allocation_state,
            username,
            password,
            external_details,
        } = input;
        let resource_state = match allocation_state.as_deref() {
            None => ResourceState::Enabled,
            Some(a) => allocation_state_param(a)?.into(),
        };
        let (zone_uuid, cluster_uuid, url, hypervisor) =
            (&*zone_uuid, &*cluster_uuid, &*url, &*hypervisor);
        let (pod_uuid, host_tags) = (pod_uuid.as_deref(), host_tags.as_deref());
        require_admin(caller)?;
        if !hypervisor.eq_ignore_ascii_case(HYPERVISOR_EXTERNAL) {
            return Err(Error::invalid_param(format!("Hypervisor type {hypervisor} is not supported: Trellis manages hosts of hypervisor type External")));
        }
        let z = self.zone_by_uuid(zone_uuid).await?;
        let c = self.cluster_by_uuid(cluster_uuid).await?;
        if c.zone_id != z.id {
            return Err(Error::invalid_param(format!(
                "Cluster {} does not belong to zone {}",
                c.name, z.name
            )));
        }
        if let Some(pu) = pod_uuid {
            let p = self
                .store
                .pod_by_uuid(pu)
                .await?
                .ok_or_else(|| Error::not_found(format!("Unable to find pod by id {pu}")))?;
            if p.id != c.pod_id {
                return Err(Error::invalid_param(format!(
                    "Cluster {} does not belong to pod {}",
                    c.name, p.name
                )));
            }
        }
        let Some((e, _)) = self.cluster_extension(c.id).await? else {
            return Err(Error::invalid_param(format!(
                "Cluster: {} is not registered with an extension",
                c.name
            )));
        };
        let name = url.trim();
        if name.is_empty() {
            return Err(Error::invalid_param("The host url must not be empty"));
        }
        let guid = format!("External:{}", ids::name_uuid(name));
        let (existing, _) = self
            .store
            .host_list(
                &InfraFilter {
                    cluster_id: Some(c.id),
                    name: Some(name.to_string()),
                    ..Default::default()
                },
                Page::all(),
            )
            .await?;
        if !existing.is_empty() {
            return Err(Error::already_exists(format!(
                "A host with url {name} already exists in cluster {}",
                c.name
            )));
        }
        // A new host: no stored secret for a mask to stand for.
        super::secret_details::keep_masked(external_details.clone(), &BTreeMap::new())?;
        let h = Host {
            id: 0,
            uuid: ids::new_uuid(),
            name: name.into(),
            guid,
            zone_id: z.id,
            pod_id: c.pod_id,
            cluster_id: c.id,
            url: url.into(),
            status: HostStatus::Up,
            resource_state,
            hypervisor: HYPERVISOR_EXTERNAL.into(),
            host_tags: host_tags.map(str::to_string),
            created: now_millis(),
        };
        let h = self.store.host_create(&h).await?;
        self.details_replace(DetailOwner::Host, h.id, EXTERNAL_PREFIX, &external_details)
            .await?;
        // addHost's username/password, as upstream keeps them: plain host details, the password
        // hidden (never listed). Extensions get them as host-level fallbacks (see invoke.rs).
        if let Some(u) = username.as_deref().filter(|u| !u.is_empty()) {
            self.store
                .detail_upsert(DetailOwner::Host, h.id, HOST_USERNAME, u, true)
                .await?;
        }
        if let Some(pw) = password.as_deref().filter(|p| !p.is_empty()) {
            let pw = self.detail_sealed(HOST_PASSWORD, pw)?;
            self.store
                .detail_upsert(DetailOwner::Host, h.id, HOST_PASSWORD, &pw, false)
                .await?;
        }
        // Adding a host prepares the extension's path, as upstream does.
        if e.state == ext::ExtensionState::Enabled && e.is_user_defined {
            if let Err(err) = self.extension_prepare_path(&e).await {
                tracing::warn!(extension = %e.name, error = %err.internal_message(), "preparing extension path on host add failed");
            }
        }
        self.event(
            Some(caller),
            "HOST.ADD",
            &format!("Host {name} added to cluster {}", c.name),
            Some(("Host", &h.uuid)),
        )
        .await;
        Ok(h)
    }

    pub async fn host_by_uuid(&self, uuid: &str) -> Result<Host> {
        self.store
            .host_by_uuid(uuid)
            .await?
            .ok_or_else(|| Error::not_found(format!("Unable to find host by id {uuid}")))
    }

    /// The host's external details without the prefix, as views show them (secrets masked).
    pub async fn host_external_details(&self, host_id: i64) -> Result<BTreeMap<String, String>> {
        Ok(super::secret_details::masked(strip_prefix(
            self.store
                .details_visible(DetailOwner::Host, host_id)
                .await?,
        )))
    }

    pub async fn host_update(&self, caller: &Caller, params: HostUpdateParams) -> Result<Host> {
        let HostUpdateParams {
            uuid,
            name,
            host_tags,
            allocation_state,
            external_details,
            cleanup_external_details,
        } = params;
        require_admin(caller)?;
        let mut h = self.host_by_uuid(&uuid).await?;
        if let Some(n) = name {
            h.name = n;
        }
        if let Some(t) = host_tags {
            h.host_tags = Some(t);
        }
        if let Some(a) = allocation_state {
            h.resource_state = match a.as_str() {
                "Enable" | "Enabled" => ResourceState::Enabled,
                "Disable" | "Disabled" => ResourceState::Disabled,
                _ => {
                    return Err(Error::invalid_param(format!(
                        "Invalid allocation state {a}: use Enable or Disable"
                    )))
                }
            };
        }
        if cleanup_external_details {
            self.details_replace(DetailOwner::Host, h.id, EXTERNAL_PREFIX, &BTreeMap::new())
                .await?;
        } else if let Some(d) = external_details {
            self.details_replace(DetailOwner::Host, h.id, EXTERNAL_PREFIX, &d)
                .await?;
        }
        self.store.host_update(&h).await?;
        self.event(
            Some(caller),
            "HOST.UPDATE",
            &format!("Host {} updated", h.name),
            Some(("Host", &h.uuid)),
        )
        .await;
        Ok(h)
    }

    pub async fn host_delete(&self, caller: &Caller, uuid: &str, forced: bool) -> Result<()> {
        require_admin(caller)?;
        let h = self.host_by_uuid(uuid).await?;
        let n = self.store.instance_list_for_host(h.id).await?.len();
        if n > 0 && !forced {
            return Err(Error::in_use(format!(
                "Host {} still has {n} instances; stop or move them, or delete with forced=true",
                h.name
            )));
        }
        self.store
            .details_delete_all(DetailOwner::Host, h.id)
            .await?;
        self.store.host_delete(h.id, now_millis()).await?;
        self.event(
            Some(caller),
            "HOST.DELETE",
            &format!("Host {} deleted", h.name),
            Some(("Host", &h.uuid)),
        )
        .await;
        Ok(())
    }
}

/// A random locally administered unicast MAC address.
pub fn random_mac() -> String {
    let mut rng = rand::thread_rng();
    format!(
        "02:00:{:02x}:{:02x}:{:02x}:{:02x}",
        rng.gen::<u8>(),
        rng.gen::<u8>(),
        rng.gen::<u8>(),
        rng.gen::<u8>()
    )
}

/// Keys starting with `External:`, prefix removed.
pub fn strip_prefix(m: BTreeMap<String, String>) -> BTreeMap<String, String> {
    m.into_iter()
        .filter_map(|(k, v)| k.strip_prefix(EXTERNAL_PREFIX).map(|s| (s.to_string(), v)))
        .collect()
}
