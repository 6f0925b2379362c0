//! Instances on External clusters: allocation, placement, and every lifecycle step delegated to
//! the cluster's extension, with payloads byte-compatible with upstream; durable, step-wise start
//! that never double-creates after a crash; power-state sync; custom actions; consoles.

use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use trellis_ext_protocol as proto;
use trellis_ext_runner::{Invocation, RunError, RunOutput};
use trellis_model::entity::{
    DetailOwner, Extension, Host, Instance, Nic, ResourceMap, ServiceOffering, Template,
};
use trellis_model::extension::{ExtensionState, DETAIL_REQUIRES_PREPARE};
use trellis_model::instance::VmState;
use trellis_model::{ids, time::now_millis, Error, Result, RoleType};
use trellis_store::{InfraFilter, InstanceFilter, Page};

use super::custom_action::CustomActionRun;
use super::infra::{random_mac, strip_prefix, EXTERNAL_PREFIX};
use super::{setting, App, Caller};
use crate::jobs::{JobContext, JobStep};

const DETAIL_DEPLOYVM: &str = "deployvm";
const DETAIL_EXPUNGE: &str = "expunge.external.vm";

/// Input of `deployVirtualMachine`.
#[derive(Debug, Clone, Default)]
pub struct DeployInput {
    pub zone_uuid: String,
    pub offering_uuid: String,
    pub template_uuid: String,
    pub name: Option<String>,
    pub display_name: Option<String>,
    pub network_uuids: Vec<String>,
    pub details: BTreeMap<String, String>,
    pub external_details: BTreeMap<String, String>,
    pub user_data: Option<String>,
    pub host_uuid: Option<String>,
}

/// Everything needed to run an action for an instance, loaded once per operation.
struct Target {
    instance: Instance,
    host: Host,
    extension: Extension,
    map: ResourceMap,
    offering: ServiceOffering,
    template: Template,
}

/// Which operation a request asks for (for request-time checks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Start,
    Stop,
    Reboot,
    Destroy,
    Expunge,
    Recover,
    Update,
}

fn is_valid_hostname(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && !s.starts_with('-')
        && !s.ends_with('-')
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

fn action_failed(what: &str, inst: &Instance, e: &RunError) -> Error {
    Error::internal_with(
        format!(
            "Failed to {what} instance {}: {}",
            inst.instance_name,
            e.details()
        ),
        e.to_string(),
    )
}

impl App {
    /// An instance the caller may act on.
    pub async fn instance_for(&self, caller: &Caller, uuid: &str) -> Result<Instance> {
        let inst = self
            .store
            .instance_by_uuid(uuid)
            .await?
            .ok_or_else(|| Error::not_found(format!("Unable to find instance by id {uuid}")))?;
        if !caller.is_root_admin() && inst.account_id != caller.account.id {
            let allowed = caller.role_type() == RoleType::DomainAdmin
                && self
                    .store
                    .domain_get(inst.domain_id)
                    .await?
                    .is_some_and(|d| d.path.starts_with(&caller.domain.path));
            if !allowed {
                return Err(Error::denied(format!(
                    "Account {} does not have access to instance {uuid}",
                    caller.account.name
                )));
            }
        }
        Ok(inst)
    }

    /// Request-time check of a lifecycle operation: access, state guard, no other operation
    /// in progress.
    pub async fn instance_check(&self, caller: &Caller, uuid: &str, op: Op) -> Result<Instance> {
        let inst = self.instance_for(caller, uuid).await?;
        let state = VmState::parse(&inst.state)
            .ok_or_else(|| Error::internal(format!("unknown state {}", inst.state)))?;
        match op {
            Op::Start => state.begin_start().map(|_| ())?,
            Op::Stop => state.begin_stop().map(|_| ())?,
            Op::Reboot => state.begin_reboot().map(|_| ())?,
            Op::Destroy => state.begin_destroy().map(|_| ())?,
            Op::Expunge => state.begin_expunge().map(|_| ())?,
            Op::Recover => state.begin_recover().map(|_| ())?,
            Op::Update => {}
        }
        if let Some(j) = self.store.job_pending_for(&inst.uuid).await?.first() {
            return Err(Error::conflict(format!("Instance {} has an operation in progress (job {}, {}); try again when it completes", inst.display_name, j.uuid, j.cmd)));
        }
        Ok(inst)
    }

    /// Operations CloudStack refuses for instances on External clusters (spec §9.8). The caller
    /// must be able to see the instance (else the usual not-found / permission errors); then the
    /// refusal names it.
    pub async fn instance_refuse(&self, caller: &Caller, command: &str, uuid: &str) -> Result<()> {
        let inst = self.instance_for(caller, uuid).await?;
        Err(Error::invalid_param(match command {
            "migrateVirtualMachine" | "migrateVirtualMachineWithVolume" => {
                "Migrate VM instance operation is not allowed for External hypervisor type".to_string()
            }
            "createVMSnapshot" => {
                "VM snapshot operations are not allowed for External hypervisor type; use the snapshot custom actions of the instance's extension".to_string()
            }
            _ => format!("Operation not supported for instance: {}", inst.instance_name),
        }))
    }

    /// `deployVirtualMachine`, request part: validate, allocate the instance and its NICs.
    pub async fn instance_allocate(&self, caller: &Caller, input: DeployInput) -> Result<Instance> {
        let zone = self.zone_by_uuid(&input.zone_uuid).await?;
        if zone.allocation_state != "Enabled" && !caller.is_root_admin() {
            return Err(Error::invalid_state(format!(
                "Zone {} is disabled",
                zone.name
            )));
        }
        let offering = self.offering_by_uuid(&input.offering_uuid).await?;
        let template = self.template_by_uuid(&input.template_uuid).await?;
        if !template.is_public
            && template.account_id != caller.account.id
            && !caller.is_root_admin()
        {
            return Err(Error::denied(format!(
                "Account {} does not have access to template {}",
                caller.account.name, template.uuid
            )));
        }
        // Tenants may set only the external details the extension declares user-settable, and
        // never one an administrator set (detail_policy).
        if !caller.is_root_admin() {
            let mut keys = self.template_user_keys(&template).await?;
            keys.extend(input.external_details.keys().cloned());
            keys.extend(super::detail_policy::external_keys_of_details(&input.details));
            let extension = match template.extension_id {
                Some(id) => self.store.extension_get(id).await?,
                None => None,
            };
            self.user_details_check(
                caller,
                extension.as_ref(),
                Some(&template),
                Some(&offering),
                &keys,
            )
            .await?;
        }
        if let Some(h) = &input.host_uuid {
            if !caller.is_root_admin() {
                return Err(Error::denied(
                    "only root administrators may choose the host",
                ));
            }
            self.host_by_uuid(h).await?;
        }
        let name = match &input.name {
            Some(n) => {
                if !is_valid_hostname(n) {
                    return Err(Error::invalid_param(format!("Invalid name {n}: use letters, digits and hyphens, at most 63 characters, not starting or ending with a hyphen")));
                }
                n.clone()
            }
            None => format!("VM-{}", ids::new_uuid()),
        };
        // Networks: the ones asked for, else the zone's first usable network (if any).
        let mut networks = Vec::new();
        for u in &input.network_uuids {
            let n = self
                .store
                .network_by_uuid(u)
                .await?
                .ok_or_else(|| Error::not_found(format!("Unable to find network by id {u}")))?;
            if n.zone_id != zone.id {
                return Err(Error::invalid_param(format!(
                    "Network {} is not in zone {}",
                    n.name, zone.name
                )));
            }
            if n.guest_type != "Shared"
                && n.account_id != caller.account.id
                && !caller.is_root_admin()
            {
                return Err(Error::denied(format!(
                    "Account {} does not have access to network {}",
                    caller.account.name, n.uuid
                )));
            }
            networks.push(n);
        }
        if networks.is_empty() {
            let scope = if caller.is_root_admin() {
                None
            } else {
                Some(caller.account.id)
            };
            if let Some(n) = self
                .store
                .network_list(
                    None,
                    Some(zone.id),
                    scope,
                    None,
                    Page {
                        offset: 0,
                        limit: Some(1),
                    },
                )
                .await?
                .0
                .into_iter()
                .next()
            {
                networks.push(n);
            }
        }
        let now = now_millis();
        let lock = self.lock_for("ip-allocation").await;
        let _guard = lock.lock().await;
        let mut nics = Vec::new();
        let mut taken = Vec::new();
        for (i, n) in networks.iter().enumerate() {
            let ip = if n.guest_type == "Shared" {
                self.network_allocate_ip(n, &taken).await?
            } else {
                None
            };
            if let Some(ip) = &ip {
                taken.push(ip.clone());
            }
            nics.push(Nic {
                id: 0,
                uuid: ids::new_uuid(),
                instance_id: 0,
                network_id: n.id,
                device_id: i as i64,
                mac: random_mac(),
                ip,
                netmask: n.netmask.clone(),
                gateway: n.gateway.clone(),
                is_default: i == 0,
                broadcast_uri: n.broadcast_uri.clone(),
                created: now,
            });
        }
        let mut vnc = [0u8; 12];
        rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut vnc);
        let inst = Instance {
            id: 0,
            uuid: ids::new_uuid(),
            name: name.clone(),
            instance_name: String::new(),
            display_name: input.display_name.clone().unwrap_or(name),
            account_id: caller.account.id,
            domain_id: caller.domain.id,
            user_id: caller.user.id,
            zone_id: zone.id,
            host_id: None,
            last_host_id: None,
            template_id: template.id,
            service_offering_id: offering.id,
            state: VmState::Stopped.as_str().into(),
            power_state: "PowerOff".into(),
            power_state_updated: None,
            generation: 1,
            vnc_password: vnc.iter().map(|b| format!("{b:02x}")).collect(),
            ha_enabled: false,
            user_data: input.user_data.clone(),
            started_once: false,
            created: now,
            removed: None,
        };
        // Details: template external details, then deploy-time details and external details.
        let mut details: BTreeMap<String, String> = self
            .store
            .details_visible(DetailOwner::Template, template.id)
            .await?;
        details.extend(input.details.clone());
        details.extend(
            input
                .external_details
                .iter()
                .map(|(k, v)| (format!("{EXTERNAL_PREFIX}{k}"), v.clone())),
        );
        details.insert(DETAIL_DEPLOYVM.into(), "true".into());
        let event = Self::new_event(
            Some(caller),
            "VM.CREATE",
            &format!("Instance {} allocated", inst.display_name),
            Some(("VirtualMachine", &inst.uuid)),
        );
        let inst = loop {
            match self
                .store
                .instance_create(&inst, &nics, &details, Some(&event))
                .await
            {
                Ok(i) => break i,
                Err(e) if e.is_unique_violation() => {
                    for n in &mut nics {
                        n.mac = random_mac();
                    }
                }
                Err(e) => return Err(e.into()),
            }
        };
        drop(_guard);
        Ok(inst)
    }

    /// Choose a host (spec §9.5): last host, else clusters of the template's extension.
    async fn place(&self, inst: &Instance, template: &Template) -> Result<Host> {
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
                if e.state != ExtensionState::Enabled.as_str() {
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
        let mut tagged: Option<Host> = None;
        for c in clusters
            .iter()
            .filter(|c| c.allocation_state == "Enabled" && c.arch == template.arch)
        {
            let Some((e, _)) = self.cluster_extension(c.id).await? else {
                continue;
            };
            let matches = match wanted_ext {
                Some(w) => e.id == w,
                None => e.state == ExtensionState::Enabled.as_str() && e.path_ready,
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
            let usable: Vec<Host> = hosts
                .into_iter()
                .filter(|h| h.status == "Up" && h.resource_state == "Enabled")
                .collect();
            match &tag {
                Some(t) => {
                    if let Some(h) = usable.into_iter().find(|h| {
                        h.host_tags
                            .as_deref()
                            .is_some_and(|ht| ht.split(',').any(|x| x.trim() == t))
                    }) {
                        tagged = Some(h);
                    }
                }
                None if !usable.is_empty() => {
                    let i = rand::Rng::gen_range(&mut rand::thread_rng(), 0..usable.len());
                    return Ok(usable[i].clone());
                }
                None => {}
            }
        }
        tagged.ok_or_else(|| {
            no_destination(match tag {
                Some(t) => format!(
                    "no enabled host with tag {t} in a cluster bound to the template's extension"
                ),
                None => "no enabled host in a cluster bound to the template's extension".into(),
            })
        })
    }

    async fn target(&self, inst: &Instance, host: &Host) -> Result<Target> {
        let template = self
            .store
            .template_get(inst.template_id)
            .await?
            .ok_or_else(|| Error::internal("instance without template"))?;
        self.target_with(inst, host, template).await
    }

    async fn target_with(
        &self,
        inst: &Instance,
        host: &Host,
        template: Template,
    ) -> Result<Target> {
        let (extension, map) = self.cluster_extension(host.cluster_id).await?.ok_or_else(|| Error::unavailable(format!("Extension not connected: the cluster of host {} is not registered with an extension", host.name)))?;
        let offering = self
            .store
            .offering_get(inst.service_offering_id)
            .await?
            .ok_or_else(|| Error::internal("instance without offering"))?;
        Ok(Target {
            instance: inst.clone(),
            host: host.clone(),
            extension,
            map,
            offering,
            template,
        })
    }

    /// The host an instance's actions go to (current, else last).
    async fn instance_host(&self, inst: &Instance) -> Result<Option<Host>> {
        match inst.host_id.or(inst.last_host_id) {
            Some(id) => Ok(self.store.host_get(id).await?),
            None => Ok(None),
        }
    }

    fn caller_block(caller: &Caller) -> proto::Caller {
        proto::Caller {
            id: caller.account.uuid.clone(),
            name: caller.account.name.clone(),
            account_type: caller.role_type().account_type_name().into(),
            roleid: caller.role.uuid.clone(),
            rolename: caller.role.name.clone(),
            roletype: caller.role_type().as_str().into(),
        }
    }

    /// Build the payload of `action` (spec §4).
    async fn payload(
        &self,
        t: &Target,
        caller: Option<&Caller>,
        action: &str,
        with_nics: bool,
    ) -> Result<proto::Payload> {
        let inst = &t.instance;
        let (offering, template) = (&t.offering, &t.template);
        // Every details level the payload carries, in one query.
        let [offering_details, instance_details, extension_details, map_details, host_details] =
            self.store
                .details_visible_of(&[
                    (DetailOwner::Offering, offering.id),
                    (DetailOwner::Instance, inst.id),
                    (DetailOwner::Extension, t.extension.id),
                    (DetailOwner::ResourceMap, t.map.id),
                    (DetailOwner::Host, t.host.id),
                ])
                .await?;
        let mut to_details = offering_details;
        to_details.extend(instance_details);
        let mut vm_ext = strip_prefix(to_details.clone());
        let mut nics = Vec::new();
        if with_nics {
            for n in self.store.nic_list(inst.id).await? {
                let net = self.store.network_get(n.network_id).await?;
                nics.push(proto::Nic {
                    uuid: n.uuid.clone(),
                    device_id: n.device_id,
                    default_nic: n.is_default,
                    mac: Some(n.mac.clone()),
                    ip: n.ip.clone(),
                    netmask: n.netmask.clone(),
                    gateway: n.gateway.clone(),
                    dns1: net.as_ref().and_then(|x| x.dns1.clone()),
                    dns2: net.as_ref().and_then(|x| x.dns2.clone()),
                    broadcast_type: Some(
                        if n.broadcast_uri.is_some() {
                            "Vlan"
                        } else {
                            "Native"
                        }
                        .into(),
                    ),
                    broadcast_uri: n.broadcast_uri.clone(),
                    isolation_uri: n.broadcast_uri.clone(),
                    traffic_type: Some("Guest".into()),
                    network_rate_mbps: Some(200),
                    mtu: Some(1500),
                    network_id: Some(n.network_id),
                    network_segment_name: Some(format!(
                        "D{}-A{}-Z{}-S{}",
                        inst.domain_id, inst.account_id, inst.zone_id, n.network_id
                    )),
                    security_group_enabled: false,
                    pxe_disable: false,
                    dpdk_enabled: false,
                    details: Some(
                        [
                            ("PromiscuousMode", "false"),
                            ("MacAddressChanges", "false"),
                            ("ForgedTransmits", "false"),
                            ("MacLearning", "false"),
                        ]
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                    ),
                });
            }
            if matches!(action, proto::action::CREATE | proto::action::START) {
                if let Some(vlan) = nics.iter().find(|n| n.default_nic).and_then(|n| n.vlan()) {
                    vm_ext.insert("cloudstack.vlan".into(), vlan.to_string());
                }
            }
        }
        let state = match action {
            proto::action::STOP => "Stopping",
            proto::action::DELETE => "Expunging",
            proto::action::PREPARE | proto::action::CREATE | proto::action::START => "Starting",
            _ => inst.state.as_str(),
        };
        let full = with_nics;
        let vm = proto::VirtualMachine {
            id: inst.id,
            uuid: inst.uuid.clone(),
            name: inst.instance_name.clone(),
            vm_type: "User".into(),
            state: state.into(),
            cpus: offering.cpu_number,
            min_speed: Some(offering.cpu_speed),
            max_speed: Some(offering.cpu_speed),
            min_ram: offering.memory * 1024 * 1024,
            max_ram: offering.memory * 1024 * 1024,
            arch: Some(template.arch.clone()),
            enable_ha: inst.ha_enabled,
            limit_cpu_use: false,
            enable_dynamically_scale_vm: false,
            enter_hardware_setup: false,
            vnc_password: Some(inst.vnc_password.clone()),
            boot_type: None,
            boot_mode: None,
            details: to_details,
            nics,
            disks: Vec::new(),
            guest_os_details: full.then(BTreeMap::new),
            extra_config: full.then(BTreeMap::new),
            network_id_to_network_name_map: full.then(BTreeMap::new),
            config_drive_location: Some("SECONDARY".into()),
            user_data: inst.user_data.clone(),
        };
        let non_empty = |m: BTreeMap<String, String>| if m.is_empty() { None } else { Some(m) };
        let details = proto::ExternalDetails {
            extension: non_empty(extension_details),
            resourcemap: non_empty(map_details),
            host: non_empty(strip_prefix(host_details)),
            virtualmachine: if action == proto::action::STATUS {
                Some(vm_ext)
            } else {
                non_empty(vm_ext)
            },
            action: None,
        };
        Ok(proto::Payload {
            externaldetails: Some(details),
            caller: caller.map(Self::caller_block),
            virtualmachineid: Some(inst.uuid.clone()),
            virtualmachinename: Some(inst.instance_name.clone()),
            vm: Some(vm),
            ..Default::default()
        })
    }

    /// Refuse actions of disabled or not-ready extensions (status polling excepted).
    fn extension_gate(e: &Extension, action: &str) -> Result<()> {
        if action == proto::action::STATUS || action == proto::action::STATUSES {
            return Ok(());
        }
        if e.state != ExtensionState::Enabled.as_str() {
            return Err(Error::unavailable(format!(
                "Extension {} is disabled",
                e.name
            )));
        }
        if !e.path_ready {
            return Err(Error::unavailable(format!("Extension {} is not ready: its executable is missing, not executable, or differs between servers", e.name)));
        }
        Ok(())
    }

    /// Run one action through the runner.
    async fn invoke(
        &self,
        t: &Target,
        action: &str,
        payload: &proto::Payload,
        timeout: Duration,
    ) -> Result<std::result::Result<RunOutput, RunError>> {
        Self::extension_gate(&t.extension, action)?;
        let bytes = serde_json::to_vec(payload).map_err(|e| Error::internal(e.to_string()))?;
        let inv = Invocation {
            extension: t.extension.name.clone(),
            executable: self.extension_path(&t.extension),
            action: action.to_string(),
            payload: bytes,
            timeout,
            host_key: Some(t.host.uuid.clone()),
        };
        let mut out = self.runner.run(inv).await;
        if let Err(e) = &mut out {
            // A failure's output reaches users (job results): no secret of the payload in it.
            let redactor = super::secrets::Redactor::for_payload(payload);
            e.redact_output(|text| redactor.redact(text));
        }
        match &out {
            Ok(o) => {
                tracing::info!(extension = %t.extension.name, action, instance = %t.instance.instance_name, elapsed_ms = o.elapsed.as_millis() as u64, "extension action succeeded")
            }
            Err(e) => {
                tracing::warn!(extension = %t.extension.name, action, instance = %t.instance.instance_name, error = %e, "extension action failed")
            }
        }
        Ok(out)
    }

    fn lifecycle_timeout(&self) -> Duration {
        Duration::from_secs(self.setting_i64(setting::WAIT).max(1) as u64)
    }

    async fn set_state(
        &self,
        inst: &Instance,
        state: VmState,
        host_id: Option<i64>,
    ) -> Result<Instance> {
        self.store
            .instance_update_state(inst.id, inst.generation, state.as_str(), host_id)
            .await?
            .ok_or_else(|| {
                Error::conflict(format!(
                    "Instance {} was changed by another operation; try again",
                    inst.display_name
                ))
            })
    }

    async fn reload(&self, inst: &Instance) -> Result<Instance> {
        self.store
            .instance_get(inst.id)
            .await?
            .ok_or_else(|| Error::not_found(format!("Instance {} no longer exists", inst.uuid)))
    }

    /// Apply a `prepare` reply: merge into the TO, then take back VNC password, details and NIC
    /// MAC/IP (matched on the NIC `uuid`, which upstream fails to do).
    async fn apply_prepare(
        &self,
        t: &Target,
        payload: &proto::Payload,
        stdout: &str,
    ) -> Result<()> {
        let text = stdout.trim();
        if text.is_empty() {
            return Ok(());
        }
        let patch: Value = serde_json::from_str(text).map_err(|e| {
            Error::internal_with(
                format!(
                    "Failed to prepare instance {}: the extension's prepare output is not JSON",
                    t.instance.instance_name
                ),
                e.to_string(),
            )
        })?;
        if !patch.is_object() {
            return Err(Error::internal_with(format!("Failed to prepare instance {}: the extension's prepare output is not a JSON object", t.instance.instance_name), text.to_string()));
        }
        let mut to = serde_json::to_value(payload.vm.as_ref())
            .map_err(|e| Error::internal(e.to_string()))?;
        let before = to.clone();
        trellis_model::merge::merge(&mut to, &patch);
        if let Some(p) = to.get("vncPassword").and_then(Value::as_str) {
            if Some(p) != before.get("vncPassword").and_then(Value::as_str) {
                self.store
                    .instance_set_vnc_password(t.instance.id, p)
                    .await?;
            }
        }
        if let (Some(new), Some(old)) = (
            to.get("details").and_then(Value::as_object),
            before.get("details").and_then(Value::as_object),
        ) {
            for (k, v) in new {
                let v = match v {
                    Value::String(s) => s.clone(),
                    Value::Null => continue,
                    other => other.to_string(),
                };
                if old.get(k).and_then(Value::as_str) != Some(v.as_str()) {
                    self.store
                        .detail_upsert(DetailOwner::Instance, t.instance.id, k, &v, true)
                        .await?;
                }
            }
        }
        if let Some(nics) = to.get("nics").and_then(Value::as_array) {
            let db = self.store.nic_list(t.instance.id).await?;
            for n in nics {
                let Some(uuid) = n.get("uuid").and_then(Value::as_str) else {
                    continue;
                };
                let Some(row) = db.iter().find(|r| r.uuid == uuid) else {
                    continue;
                };
                let mac = n.get("mac").and_then(Value::as_str).unwrap_or(&row.mac);
                let ip = n.get("ip").and_then(Value::as_str).or(row.ip.as_deref());
                if mac != row.mac || ip != row.ip.as_deref() {
                    self.store.nic_update(row.id, mac, ip).await?;
                }
            }
        }
        Ok(())
    }

    /// Start (or first-start = deploy) an instance. Step-wise and resumable: after a crash in
    /// `create`, the extension is asked for `status` before anything is repeated.
    pub async fn instance_start(
        &self,
        ctx: &JobContext,
        caller: &Caller,
        uuid: &str,
        host_uuid: Option<&str>,
    ) -> Result<Instance> {
        let lock = self.lock_for(&format!("instance-{uuid}")).await;
        let _guard = lock.lock().await;
        let mut inst = self
            .store
            .instance_by_uuid(uuid)
            .await?
            .ok_or_else(|| Error::not_found(format!("Unable to find instance by id {uuid}")))?;
        let resumed = ctx.resumed_step()?;
        let template = self
            .store
            .template_get(inst.template_id)
            .await?
            .ok_or_else(|| Error::internal("instance without template"))?;
        let host = if inst.state != VmState::Starting.as_str() || inst.host_id.is_none() {
            VmState::parse(&inst.state)
                .ok_or_else(|| Error::internal("bad state"))?
                .begin_start()?;
            let host = match host_uuid {
                Some(h) => self.host_by_uuid(h).await?,
                None => self.place(&inst, &template).await?,
            };
            inst = self
                .set_state(&inst, VmState::Starting, Some(host.id))
                .await?;
            host
        } else {
            // Resuming a start that had already chosen its host.
            self.store
                .host_get(inst.host_id.unwrap_or_default())
                .await?
                .ok_or_else(|| Error::unavailable("the instance's host no longer exists"))?
        };
        let t = self.target_with(&inst, &host, template).await?;
        let template = &t.template;
        let first = !inst.started_once;
        let timeout = self.lifecycle_timeout();
        let outcome: Result<()> = async {
            if !first {
                let payload = self.payload(&t, Some(caller), proto::action::START, true).await?;
                return self.invoke(&t, proto::action::START, &payload, timeout).await?.map(|_| ()).map_err(|e| action_failed("start", &inst, &e));
            }
            if resumed == Some(JobStep::Created) {
                return Ok(());
            }
            if resumed == Some(JobStep::CreatePending) {
                // The previous run may or may not have created it: observe first.
                let payload = self.payload(&t, Some(caller), proto::action::STATUS, false).await?;
                let observed = match self.invoke(&t, proto::action::STATUS, &payload, Duration::from_secs(60)).await? {
                    Ok(o) => proto::parse_status_output(&o.stdout),
                    Err(_) => proto::PowerState::PowerUnknown,
                };
                tracing::info!(instance = %inst.instance_name, ?observed, "resuming an interrupted create: observed the instance first");
                match observed {
                    proto::PowerState::PowerOn => return Ok(()),
                    proto::PowerState::PowerOff => {
                        let payload = self.payload(&t, Some(caller), proto::action::START, true).await?;
                        return self.invoke(&t, proto::action::START, &payload, timeout).await?.map(|_| ()).map_err(|e| action_failed("start", &inst, &e));
                    }
                    proto::PowerState::PowerUnknown => {}
                }
            }
            let requires_prepare = match template.extension_id {
                Some(eid) => self.store.detail_get(DetailOwner::Extension, eid, DETAIL_REQUIRES_PREPARE).await?.is_some_and(|v| v.eq_ignore_ascii_case("true")),
                None => false,
            };
            if requires_prepare && !matches!(resumed, Some(JobStep::Prepared | JobStep::CreatePending)) {
                let payload = self.payload(&t, Some(caller), proto::action::PREPARE, true).await?;
                let out = self.invoke(&t, proto::action::PREPARE, &payload, timeout).await?.map_err(|e| action_failed("prepare", &inst, &e))?;
                self.apply_prepare(&t, &payload, &out.stdout).await?;
                ctx.set_step(JobStep::Prepared).await?;
            }
            ctx.set_step(JobStep::CreatePending).await?;
            let payload = self.payload(&t, Some(caller), proto::action::CREATE, true).await?;
            match self.invoke(&t, proto::action::CREATE, &payload, timeout).await? {
                Ok(_) => {
                    ctx.set_step(JobStep::Created).await?;
                    Ok(())
                }
                Err(e) => {
                    // Undo: remove whatever the failed create left behind.
                    let del = self.payload(&t, Some(caller), proto::action::DELETE, false).await?;
                    if let Ok(Err(err)) = self.invoke(&t, proto::action::DELETE, &del, timeout).await {
                        tracing::warn!(instance = %inst.instance_name, error = %err, "cleanup after a failed create also failed");
                    }
                    Err(action_failed("create", &inst, &e))
                }
            }
        }
        .await;
        let inst = self.reload(&inst).await?;
        match outcome {
            Ok(()) => {
                let inst = self
                    .store
                    .instance_mark_running(inst.id, inst.generation, host.id, now_millis())
                    .await?
                    .ok_or_else(|| {
                        Error::conflict(format!(
                            "Instance {} was changed by another operation; try again",
                            inst.display_name
                        ))
                    })?;
                if first {
                    self.store
                        .detail_delete(DetailOwner::Instance, inst.id, DETAIL_DEPLOYVM)
                        .await?;
                }
                self.event(
                    Some(caller),
                    "VM.START",
                    &format!("Instance {} started", inst.instance_name),
                    Some(("VirtualMachine", &inst.uuid)),
                )
                .await;
                Ok(inst)
            }
            Err(e) => {
                let _ = self.set_state(&inst, VmState::Stopped, None).await;
                self.event_level(
                    "ERROR",
                    "VM.START",
                    &format!(
                        "Instance {} failed to start: {}",
                        inst.instance_name,
                        e.external_message()
                    ),
                    Some(("VirtualMachine", &inst.uuid)),
                )
                .await;
                Err(e)
            }
        }
    }

    /// Stop an instance; `forced` moves it to Stopped even when the extension fails.
    pub async fn instance_stop(
        &self,
        caller: &Caller,
        uuid: &str,
        forced: bool,
    ) -> Result<Instance> {
        let lock = self.lock_for(&format!("instance-{uuid}")).await;
        let _guard = lock.lock().await;
        let inst = self
            .store
            .instance_by_uuid(uuid)
            .await?
            .ok_or_else(|| Error::not_found(format!("Unable to find instance by id {uuid}")))?;
        self.stop_locked(caller, inst, forced).await
    }

    async fn stop_locked(&self, caller: &Caller, inst: Instance, forced: bool) -> Result<Instance> {
        if inst.state == VmState::Stopped.as_str() {
            return Ok(inst);
        }
        VmState::parse(&inst.state)
            .ok_or_else(|| Error::internal("bad state"))?
            .begin_stop()?;
        let prior = inst.state.clone();
        let inst = self
            .set_state(&inst, VmState::Stopping, inst.host_id)
            .await?;
        let result = match self.instance_host(&inst).await? {
            Some(host) => {
                let t = self.target(&inst, &host).await;
                match t {
                    Ok(t) => {
                        let payload = self
                            .payload(&t, Some(caller), proto::action::STOP, false)
                            .await?;
                        match self
                            .invoke(&t, proto::action::STOP, &payload, self.lifecycle_timeout())
                            .await
                        {
                            Ok(Ok(_)) => Ok(()),
                            Ok(Err(e)) => Err(action_failed("stop", &inst, &e)),
                            Err(e) => Err(e),
                        }
                    }
                    Err(e) => Err(e),
                }
            }
            None => Ok(()),
        };
        let inst = self.reload(&inst).await?;
        match result {
            Ok(()) => {
                let inst = self.set_state(&inst, VmState::Stopped, None).await?;
                self.store
                    .instance_set_power(inst.id, "PowerOff", now_millis())
                    .await?;
                self.event(
                    Some(caller),
                    "VM.STOP",
                    &format!("Instance {} stopped", inst.instance_name),
                    Some(("VirtualMachine", &inst.uuid)),
                )
                .await;
                self.reload(&inst).await
            }
            Err(e) if forced => {
                let inst = self.set_state(&inst, VmState::Stopped, None).await?;
                self.event_level(
                    "WARN",
                    "VM.STOP",
                    &format!(
                        "Instance {} force-stopped although the extension failed: {}",
                        inst.instance_name,
                        e.external_message()
                    ),
                    Some(("VirtualMachine", &inst.uuid)),
                )
                .await;
                Ok(inst)
            }
            Err(e) => {
                let back = VmState::parse(&prior).unwrap_or(VmState::Running);
                let _ = self.set_state(&inst, back, inst.host_id).await;
                Err(e)
            }
        }
    }

    pub async fn instance_reboot(&self, caller: &Caller, uuid: &str) -> Result<Instance> {
        let lock = self.lock_for(&format!("instance-{uuid}")).await;
        let _guard = lock.lock().await;
        let inst = self
            .store
            .instance_by_uuid(uuid)
            .await?
            .ok_or_else(|| Error::not_found(format!("Unable to find instance by id {uuid}")))?;
        VmState::parse(&inst.state)
            .ok_or_else(|| Error::internal("bad state"))?
            .begin_reboot()?;
        let host = self
            .instance_host(&inst)
            .await?
            .ok_or_else(|| Error::unavailable("the instance has no host"))?;
        let t = self.target(&inst, &host).await?;
        let payload = self
            .payload(&t, Some(caller), proto::action::REBOOT, true)
            .await?;
        self.invoke(
            &t,
            proto::action::REBOOT,
            &payload,
            self.lifecycle_timeout(),
        )
        .await?
        .map_err(|e| action_failed("reboot", &inst, &e))?;
        self.event(
            Some(caller),
            "VM.REBOOT",
            &format!("Instance {} rebooted", inst.instance_name),
            Some(("VirtualMachine", &inst.uuid)),
        )
        .await;
        self.reload(&inst).await
    }

    /// Destroy: stop if needed, mark Destroyed; with `expunge`, delete it through the extension.
    pub async fn instance_destroy(
        &self,
        caller: &Caller,
        uuid: &str,
        expunge: bool,
    ) -> Result<Option<Instance>> {
        let lock = self.lock_for(&format!("instance-{uuid}")).await;
        let _guard = lock.lock().await;
        let mut inst = self
            .store
            .instance_by_uuid(uuid)
            .await?
            .ok_or_else(|| Error::not_found(format!("Unable to find instance by id {uuid}")))?;
        VmState::parse(&inst.state)
            .ok_or_else(|| Error::internal("bad state"))?
            .begin_destroy()?;
        if inst.state == VmState::Running.as_str() || inst.state == VmState::Error.as_str() {
            inst = self.stop_locked(caller, inst, expunge).await?;
        }
        let inst = self.set_state(&inst, VmState::Destroyed, None).await?;
        self.event(
            Some(caller),
            "VM.DESTROY",
            &format!("Instance {} destroyed", inst.instance_name),
            Some(("VirtualMachine", &inst.uuid)),
        )
        .await;
        if expunge {
            self.expunge_locked(caller, inst).await?;
            return Ok(None);
        }
        Ok(Some(inst))
    }

    pub async fn instance_expunge(&self, caller: &Caller, uuid: &str) -> Result<()> {
        let lock = self.lock_for(&format!("instance-{uuid}")).await;
        let _guard = lock.lock().await;
        let inst = self
            .store
            .instance_by_uuid(uuid)
            .await?
            .ok_or_else(|| Error::not_found(format!("Unable to find instance by id {uuid}")))?;
        self.expunge_locked(caller, inst).await
    }

    async fn expunge_locked(&self, caller: &Caller, inst: Instance) -> Result<()> {
        VmState::parse(&inst.state)
            .ok_or_else(|| Error::internal("bad state"))?
            .begin_expunge()?;
        let inst = self.set_state(&inst, VmState::Expunging, None).await?;
        self.store
            .detail_upsert(DetailOwner::Instance, inst.id, DETAIL_EXPUNGE, "true", true)
            .await?;
        let result = match (inst.started_once, self.instance_host(&inst).await?) {
            (true, Some(host)) => match self.target(&inst, &host).await {
                Ok(t) => {
                    let payload = self
                        .payload(&t, Some(caller), proto::action::DELETE, false)
                        .await?;
                    match self
                        .invoke(
                            &t,
                            proto::action::DELETE,
                            &payload,
                            self.lifecycle_timeout(),
                        )
                        .await
                    {
                        Ok(Ok(_)) => Ok(()),
                        Ok(Err(e)) => Err(Error::internal_with(
                            format!(
                                "Unable to expunge instance {} due to {}",
                                inst.instance_name,
                                e.details()
                            ),
                            e.to_string(),
                        )),
                        Err(e) => Err(e),
                    }
                }
                Err(e) => Err(e),
            },
            _ => Ok(()),
        };
        let inst = self.reload(&inst).await?;
        match result {
            Ok(()) => {
                if !self
                    .store
                    .instance_expunge(inst.id, inst.generation, now_millis())
                    .await?
                {
                    return Err(Error::conflict(
                        "the instance was changed by another operation during expunge",
                    ));
                }
                self.event(
                    Some(caller),
                    "VM.EXPUNGE",
                    &format!("Instance {} expunged", inst.instance_name),
                    Some(("VirtualMachine", &inst.uuid)),
                )
                .await;
                Ok(())
            }
            Err(e) => {
                let _ = self
                    .store
                    .detail_delete(DetailOwner::Instance, inst.id, DETAIL_EXPUNGE)
                    .await;
                let _ = self.set_state(&inst, VmState::Destroyed, None).await;
                Err(e)
            }
        }
    }

    pub async fn instance_recover(&self, caller: &Caller, uuid: &str) -> Result<Instance> {
        let inst = self.instance_check(caller, uuid, Op::Recover).await?;
        let inst = self.set_state(&inst, VmState::Stopped, None).await?;
        self.event(
            Some(caller),
            "VM.RECOVER",
            &format!("Instance {} recovered", inst.instance_name),
            Some(("VirtualMachine", &inst.uuid)),
        )
        .await;
        Ok(inst)
    }

    /// `updateVirtualMachine`: display name and details (replacing the visible details except
    /// the `External:` ones and Trellis's own markers, unless given).
    pub async fn instance_update(
        &self,
        caller: &Caller,
        uuid: &str,
        display_name: Option<&str>,
        details: Option<BTreeMap<String, String>>,
        cleanup_details: bool,
    ) -> Result<Instance> {
        let inst = self.instance_check(caller, uuid, Op::Update).await?;
        if let Some(d) = details.as_ref().filter(|_| !caller.is_root_admin()) {
            let keys: std::collections::BTreeSet<String> =
                super::detail_policy::external_keys_of_details(d)
                    .into_iter()
                    .collect();
            if !keys.is_empty() {
                let template = self.store.template_get(inst.template_id).await?;
                let offering = self.store.offering_get(inst.service_offering_id).await?;
                let extension = match template.as_ref().and_then(|t| t.extension_id) {
                    Some(id) => self.store.extension_get(id).await?,
                    None => None,
                };
                self.user_details_check(
                    caller,
                    extension.as_ref(),
                    template.as_ref(),
                    offering.as_ref(),
                    &keys,
                )
                .await?;
            }
        }
        if let Some(d) = display_name {
            self.store.instance_set_display_name(inst.id, d).await?;
        }
        if cleanup_details || details.is_some() {
            let current = self
                .store
                .details_visible(DetailOwner::Instance, inst.id)
                .await?;
            for (k, _) in current
                .iter()
                .filter(|(k, _)| !k.starts_with(EXTERNAL_PREFIX) && k.as_str() != DETAIL_DEPLOYVM)
            {
                self.store
                    .detail_delete(DetailOwner::Instance, inst.id, k)
                    .await?;
            }
            for (k, v) in details.unwrap_or_default() {
                self.store
                    .detail_upsert(DetailOwner::Instance, inst.id, &k, &v, true)
                    .await?;
            }
        }
        self.event(
            Some(caller),
            "VM.UPDATE",
            &format!("Instance {} updated", inst.instance_name),
            Some(("VirtualMachine", &inst.uuid)),
        )
        .await;
        self.reload(&inst).await
    }

    pub async fn instance_list(
        &self,
        caller: &Caller,
        mut f: InstanceFilter,
        list_all: bool,
        page: Page,
    ) -> Result<(Vec<Instance>, i64)> {
        if !(caller.is_root_admin() && (list_all || f.uuid.is_some())) && !caller.is_root_admin() {
            f.account_id = Some(caller.account.id);
        }
        if caller.is_root_admin() && !list_all && f.uuid.is_none() && f.account_id.is_none() {
            // Admins see everything, as CloudStack's root admin does with listall.
        }
        Ok(self.store.instance_list(&f, page).await?)
    }

    /// The extension of the cluster an instance runs (or last ran) in.
    pub async fn instance_extension_id(&self, caller: &Caller, uuid: &str) -> Result<i64> {
        let err = || {
            Error::invalid_param("Internal error listing custom actions with specified resource")
        };
        let inst = self.instance_for(caller, uuid).await.map_err(|_| err())?;
        if let Some(h) = self.instance_host(&inst).await? {
            if let Some((e, _)) = self.cluster_extension(h.cluster_id).await? {
                return Ok(e.id);
            }
        }
        let template = self
            .store
            .template_get(inst.template_id)
            .await?
            .ok_or_else(err)?;
        template.extension_id.ok_or_else(err)
    }

    /// `runCustomAction` (spec §8.4). Extension failures give `success=false`, not a job error.
    pub async fn custom_action_run(
        &self,
        caller: &Caller,
        action_uuid: &str,
        resource_type: Option<&str>,
        resource_uuid: &str,
        supplied: Vec<(String, String)>,
    ) -> Result<CustomActionRun> {
        let a = self
            .store
            .custom_action_by_uuid(action_uuid)
            .await?
            .ok_or_else(|| Error::not_found(format!("Custom action {action_uuid} not found")))?;
        if !caller.is_root_admin() && a.allowed_role_types & caller.role_type().mask() == 0 {
            return Err(Error::invalid_param(format!(
                "Custom action {} is not allowed for role type {}",
                a.name,
                caller.role_type().as_str()
            )));
        }
        if !a.enabled {
            return Err(Error::invalid_param(format!(
                "Custom action {} is not enabled",
                a.name
            )));
        }
        let e = self
            .store
            .extension_get(a.extension_id)
            .await?
            .ok_or_else(|| Error::invalid_state("the action's extension no longer exists"))?;
        if e.state != ExtensionState::Enabled.as_str() {
            return Err(Error::invalid_state(format!(
                "Extension {} is disabled",
                e.name
            )));
        }
        match (a.resource_type.as_deref(), resource_type) {
            (None, None) => {
                return Err(Error::invalid_param(
                    "Resource type not specified for the action",
                ))
            }
            (Some(at), Some(rt)) if !at.eq_ignore_ascii_case(rt) => {
                return Err(Error::invalid_param(format!(
                    "Invalid resource type {rt} for action {}: it applies to {at}",
                    a.name
                )))
            }
            (None, Some(rt))
                if !rt.eq_ignore_ascii_case(trellis_model::extension::RESOURCE_TYPE_VM) =>
            {
                return Err(Error::invalid_state(format!("Invalid resource type {rt}")))
            }
            _ => {}
        }
        let inst = self
            .store
            .instance_by_uuid(resource_uuid)
            .await?
            .ok_or_else(|| {
                Error::invalid_state(format!("Unable to find instance by id {resource_uuid}"))
            })?;
        let inst = self.instance_for(caller, &inst.uuid).await?;
        let host = self.instance_host(&inst).await?.ok_or_else(|| {
            Error::invalid_state(format!(
                "Instance {} has never been placed on a host",
                inst.instance_name
            ))
        })?;
        let t = self.target(&inst, &host).await.map_err(|_| {
            Error::invalid_state(format!(
                "The cluster of instance {} is not registered with an extension",
                inst.instance_name
            ))
        })?;
        if t.extension.id != e.id {
            return Err(Error::invalid_state(format!(
                "Custom action {} belongs to extension {}, but instance {} runs on extension {}",
                a.name, e.name, inst.instance_name, t.extension.name
            )));
        }
        let view = self.custom_action_view(&a).await?;
        let params = trellis_model::validate::validate_values(
            view.parameters.as_deref().unwrap_or(&[]),
            &supplied,
        )?;
        let mut payload = self.payload(&t, Some(caller), &a.name, false).await?;
        if let Some(d) = payload.externaldetails.as_mut() {
            d.action = if view.details.is_empty() {
                None
            } else {
                Some(view.details.clone())
            };
        }
        payload.action = Some(a.name.clone());
        payload.parameters = params.filter(|p| !p.is_empty());
        let timeout = Duration::from_secs(a.timeout.max(1) as u64);
        // The result is shown to the user who ran the action: mask every secret the payload
        // carried, PASSWORD-typed parameters included.
        let password_params: Vec<&str> = view
            .parameters
            .as_deref()
            .unwrap_or(&[])
            .iter()
            .filter(|d| d.validationformat == trellis_model::validate::ValidationFormat::Password)
            .map(|d| d.name.as_str())
            .collect();
        let redactor = super::secrets::Redactor::for_payload(&payload)
            .with_parameters(&payload, password_params);
        let (success, details) = match self.invoke(&t, &a.name, &payload, timeout).await {
            Ok(Ok(out)) => (true, Some(redactor.redact(out.stdout.trim()))),
            Ok(Err(err)) => (false, Some(redactor.redact(&err.details()))),
            Err(gate) => (false, Some(gate.external_message().to_string())),
        };
        let template = if success {
            a.success_message.as_deref()
        } else {
            a.error_message.as_deref()
        };
        let message = trellis_model::validate::render_message(
            template,
            success,
            &a.name,
            &e.name,
            &inst.instance_name,
        );
        let level = if success { "INFO" } else { "WARN" };
        self.event_level(
            level,
            "CUSTOM.ACTION",
            &format!(
                "Custom action {} on instance {}: {message}",
                a.name, inst.instance_name
            ),
            Some(("VirtualMachine", &inst.uuid)),
        )
        .await;
        Ok(CustomActionRun {
            action_uuid: a.uuid,
            action_name: a.name,
            success,
            message,
            details,
        })
    }

    /// `createConsoleEndpoint`: ask the extension for a console.
    pub async fn instance_console(&self, caller: &Caller, uuid: &str) -> Result<proto::Console> {
        let inst = self.instance_for(caller, uuid).await?;
        if inst.state != VmState::Running.as_str() {
            return Err(Error::invalid_state(format!(
                "Instance {} is not running",
                inst.instance_name
            )));
        }
        let host = self
            .instance_host(&inst)
            .await?
            .ok_or_else(|| Error::unavailable("the instance has no host"))?;
        let t = self.target(&inst, &host).await?;
        let payload = self
            .payload(&t, Some(caller), proto::action::GETCONSOLE, false)
            .await?;
        let out = self
            .invoke(
                &t,
                proto::action::GETCONSOLE,
                &payload,
                Duration::from_secs(60),
            )
            .await?
            .map_err(|e| {
                Error::unavailable(format!(
                    "No console for instance {}: {}",
                    inst.instance_name,
                    e.details()
                ))
            })?;
        proto::parse_console_output(&out.stdout).map_err(|e| {
            Error::unavailable(format!(
                "No console for instance {}: {e}",
                inst.instance_name
            ))
        })
    }

    /// `prepareHostForMaintenance`: stop every instance on the host through its extension.
    pub async fn host_maintenance(&self, caller: &Caller, uuid: &str) -> Result<Host> {
        let mut h = self.host_by_uuid(uuid).await?;
        h.resource_state = "PrepareForMaintenance".into();
        self.store.host_update(&h).await?;
        let mut failures = Vec::new();
        for inst in self.store.instance_list_for_host(h.id).await? {
            if inst.state == VmState::Running.as_str() || inst.state == VmState::Error.as_str() {
                if let Err(e) = self.instance_stop(caller, &inst.uuid, true).await {
                    failures.push(format!("{}: {}", inst.instance_name, e.external_message()));
                }
            }
        }
        h.resource_state = if failures.is_empty() {
            "Maintenance".into()
        } else {
            "ErrorInMaintenance".into()
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
        h.resource_state = "Enabled".into();
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

    /// One power-state sweep of one host: `statuses` first, per-instance `status` as fallback.
    pub async fn power_sync_host(&self, host: &Host) -> Result<usize> {
        let instances = self.store.instance_list_for_host(host.id).await?;
        if instances.is_empty() {
            return Ok(0);
        }
        if self.cluster_extension(host.cluster_id).await?.is_none() {
            return Ok(0);
        }
        let first = self.target(&instances[0], host).await?;
        let timeout = Duration::from_secs(self.setting_i64(setting::WAIT).clamp(1, 120) as u64);
        let mut reports: BTreeMap<String, proto::PowerState> = BTreeMap::new();
        let mut payload = self
            .payload(&first, None, proto::action::STATUSES, false)
            .await?;
        payload.vm = None;
        payload.virtualmachineid = None;
        payload.virtualmachinename = None;
        payload.virtualmachines = Some(
            instances
                .iter()
                .map(|i| (i.instance_name.clone(), i.uuid.clone()))
                .collect(),
        );
        let bulk = match self
            .invoke(&first, proto::action::STATUSES, &payload, timeout)
            .await?
        {
            Ok(out) => proto::parse_statuses_output(&out.stdout),
            Err(_) => None,
        };
        match bulk {
            Some(map) => {
                for i in &instances {
                    let s = map
                        .get(&i.instance_name)
                        .or_else(|| map.get(&i.uuid))
                        .copied();
                    if let Some(s) = s {
                        reports.insert(i.uuid.clone(), s);
                    }
                }
            }
            None => {
                let sem = Arc::new(tokio::sync::Semaphore::new(4));
                let mut set = tokio::task::JoinSet::new();
                let mut templates = std::collections::HashMap::new();
                let mut offerings = std::collections::HashMap::new();
                for i in instances.iter().cloned() {
                    if let std::collections::hash_map::Entry::Vacant(v) =
                        templates.entry(i.template_id)
                    {
                        v.insert(
                            self.store
                                .template_get(i.template_id)
                                .await?
                                .ok_or_else(|| Error::internal("instance without template"))?,
                        );
                    }
                    if let std::collections::hash_map::Entry::Vacant(v) =
                        offerings.entry(i.service_offering_id)
                    {
                        v.insert(
                            self.store
                                .offering_get(i.service_offering_id)
                                .await?
                                .ok_or_else(|| Error::internal("instance without offering"))?,
                        );
                    }
                    let t = Target {
                        instance: i.clone(),
                        host: first.host.clone(),
                        extension: first.extension.clone(),
                        map: first.map.clone(),
                        offering: offerings[&i.service_offering_id].clone(),
                        template: templates[&i.template_id].clone(),
                    };
                    let payload = self.payload(&t, None, proto::action::STATUS, false).await?;
                    let bytes =
                        serde_json::to_vec(&payload).map_err(|e| Error::internal(e.to_string()))?;
                    let inv = Invocation {
                        extension: t.extension.name.clone(),
                        executable: self.extension_path(&t.extension),
                        action: proto::action::STATUS.into(),
                        payload: bytes,
                        timeout,
                        host_key: Some(host.uuid.clone()),
                    };
                    let runner = self.runner.clone();
                    let sem = sem.clone();
                    set.spawn(async move {
                        let _p = sem.acquire_owned().await;
                        let s = match runner.run(inv).await {
                            Ok(o) => proto::parse_status_output(&o.stdout),
                            Err(_) => proto::PowerState::PowerUnknown,
                        };
                        (i.uuid, s)
                    });
                }
                while let Some(r) = set.join_next().await {
                    if let Ok((u, s)) = r {
                        reports.insert(u, s);
                    }
                }
            }
        }
        let now = now_millis();
        let mut changed = 0;
        for i in &instances {
            let Some(s) = reports.get(&i.uuid) else {
                continue;
            };
            let wire = match s {
                proto::PowerState::PowerOn => "PowerOn",
                proto::PowerState::PowerOff => "PowerOff",
                proto::PowerState::PowerUnknown => "PowerUnknown",
            };
            if i.power_state != wire {
                self.store.instance_set_power(i.id, wire, now).await?;
            }
            let Some(state) = VmState::parse(&i.state) else {
                continue;
            };
            if !state.is_stable() || *s == proto::PowerState::PowerUnknown {
                continue;
            }
            let Some(next) = state.after_power_report(*s == proto::PowerState::PowerOn) else {
                continue;
            };
            if !self.store.job_pending_for(&i.uuid).await?.is_empty() {
                continue;
            }
            let host_id = if next == VmState::Running {
                Some(host.id)
            } else {
                None
            };
            if self
                .store
                .instance_update_state(i.id, i.generation, next.as_str(), host_id)
                .await?
                .is_some()
            {
                changed += 1;
                self.event_level(
                    "WARN",
                    "VM.POWER.STATE",
                    &format!(
                        "Instance {} was found {wire} out of band; state changed from {} to {}",
                        i.instance_name,
                        state.as_str(),
                        next.as_str()
                    ),
                    Some(("VirtualMachine", &i.uuid)),
                )
                .await;
            }
        }
        Ok(changed)
    }

    /// One sweep over every host, hosts in parallel (bounded), each with its own time limit.
    pub async fn power_sync_all(self: &Arc<Self>) {
        let hosts = match self
            .store
            .host_list(&InfraFilter::default(), Page::all())
            .await
        {
            Ok((h, _)) => h,
            Err(e) => {
                tracing::warn!(error = %e, "power sync could not list hosts");
                return;
            }
        };
        let started = std::time::Instant::now();
        let host_count = hosts.len();
        let sem = Arc::new(tokio::sync::Semaphore::new(16));
        let mut set = tokio::task::JoinSet::new();
        for h in hosts {
            let app = self.clone();
            let sem = sem.clone();
            set.spawn(async move {
                let _p = sem.acquire_owned().await;
                let busy = app.lock_for(&format!("power-sync-{}", h.id)).await;
                let Ok(_guard) = busy.try_lock() else { return };
                let limit = Duration::from_secs(app.setting_i64(setting::POWER_SYNC_INTERVAL).max(5) as u64 * 2);
                match tokio::time::timeout(limit, app.power_sync_host(&h)).await {
                    Ok(Ok(n)) if n > 0 => tracing::info!(host = %h.name, changed = n, "power sync corrected instance states"),
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => tracing::warn!(host = %h.name, error = %e.internal_message(), "power sync failed"),
                    Err(_) => tracing::warn!(host = %h.name, "power sync of host timed out"),
                }
            });
        }
        while set.join_next().await.is_some() {}
        let elapsed = started.elapsed();
        self.power_sweep_millis.store(
            elapsed.as_millis() as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
        tracing::debug!(
            hosts = host_count,
            elapsed_ms = elapsed.as_millis() as u64,
            "power sync sweep finished"
        );
    }
}

/// The power-state reconciler. It ticks every second so a changed interval applies at once.
pub async fn power_sync_loop(app: Arc<App>, mut shutdown: watch::Receiver<bool>) {
    let mut last = std::time::Instant::now();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = shutdown.wait_for(|v| *v) => return,
        }
        let every =
            Duration::from_secs(app.setting_i64(setting::POWER_SYNC_INTERVAL).max(1) as u64);
        if last.elapsed() >= every {
            app.power_sync_all().await;
            last = std::time::Instant::now();
        }
    }
}
