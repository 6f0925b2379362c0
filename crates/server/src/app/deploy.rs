//! The deploy saga. The request allocates the instance and its NICs (checks, tenant detail
//! policy, IP allocation) and queues a job; the job starts it: placement, `prepare` (applied as a
//! patch), `create` recorded around durable steps so a crash never leads to a second create, and
//! the declared undo (`delete`) when `create` fails.

use serde_json::Value;
use std::collections::BTreeMap;
use trellis_ext_protocol as proto;
use trellis_model::entity::{DetailOwner, Instance};
use trellis_model::extension::DETAIL_REQUIRES_PREPARE;
use trellis_model::infra::AllocationState;
use trellis_model::instance::VmState;
use trellis_model::limits::ResourceType;
use trellis_model::{ids, time::now_millis, Error, Result};
use trellis_store::Page;

use super::infra::{random_mac, EXTERNAL_PREFIX};
use super::instance::DETAIL_DEPLOYVM;
use super::invoke::{action_failed, Target};
use super::job::{JobContext, Phase};
use super::ssh_keys::{DETAIL_SSH_KEYPAIR_NAMES, DETAIL_SSH_PUBLIC_KEY};
use super::{App, Caller};

/// The job command of a deployment (`async_jobs.cmd`).
const DEPLOY_COMMAND: &str = "deployVirtualMachine";

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
    /// How the request arrived (user data's size limit depends on it).
    pub method: RequestMethod,
    /// Names of the owner's SSH key pairs (`keypair` and `keypairs`), in order, without repeats.
    pub keypairs: Vec<String>,
    pub host_uuid: Option<String>,
    /// Root administrators only: start in this cluster (`clusterid`) or pod (`podid`).
    pub cluster_uuid: Option<String>,
    pub pod_uuid: Option<String>,
    /// `rootdisksize`, GiB: the ROOT volume's size, kept as the instance detail of that name.
    pub root_disk_size: Option<i64>,
    /// `boottype` (`BIOS`/`UEFI`) and `bootmode` (`LEGACY`/`SECURE`).
    pub boot_type: Option<String>,
    pub boot_mode: Option<String>,
    /// `account` + `domainid`: an administrator deploying for another account.
    pub owner: super::ownership::OwnerInput,
    /// `group`: the instance group's name.
    pub group: Option<String>,
    /// `diskofferingid` and `size` (GiB, for a customized offering).
    pub disk_offering_uuid: Option<String>,
    pub disk_size: Option<i64>,
    /// `affinitygroupids` / `affinitygroupnames` (at most one of them).
    pub affinity_group_ids: Vec<String>,
    pub affinity_group_names: Vec<String>,
    /// `iptonetworklist`: one NIC per entry, in order, with a fixed address and/or MAC (instead
    /// of `network_uuids`).
    pub nic_requests: Vec<NicRequest>,
    /// `ipaddress`: the fixed IPv4 address of the default (first) NIC.
    pub default_ip: Option<String>,
    /// `macaddress`: the fixed MAC address of the default (first) NIC.
    pub default_mac: Option<String>,
}

/// One entry of `iptonetworklist`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NicRequest {
    pub network_uuid: String,
    pub ip: Option<String>,
    pub mac: Option<String>,
}

/// The instance detail holding the instance group's name (`group`); views show it as `group`
/// and `groupid`, never among the details.
pub const DETAIL_GROUP: &str = "group";

/// The instance detail upstream keeps a UEFI instance's boot mode in (`LEGACY` or `SECURE`);
/// no such detail means BIOS.
pub const DETAIL_UEFI: &str = "UEFI";

/// Where a start may go: an administrator's host, cluster or pod (the first start of a deploy),
/// else wherever placement finds room.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Destination {
    pub host: Option<String>,
    pub cluster: Option<String>,
    pub pod: Option<String>,
}

/// `boottype`/`bootmode` checked and made canonical: `Some(mode)` for UEFI, `None` for BIOS.
pub fn boot_firmware(
    boot_type: Option<&str>,
    boot_mode: Option<&str>,
) -> Result<Option<&'static str>> {
    let mode = match boot_mode.map(|m| m.trim().to_ascii_uppercase()) {
        None => None,
        Some(m) if m == "LEGACY" => Some("LEGACY"),
        Some(m) if m == "SECURE" => Some("SECURE"),
        Some(m) => {
            return Err(Error::invalid_param(format!(
                "Invalid bootmode {m}: use LEGACY or SECURE"
            )))
        }
    };
    match boot_type.map(|t| t.trim().to_ascii_uppercase()).as_deref() {
        None if mode.is_some() => Err(Error::invalid_param(
            "bootmode needs boottype (UEFI or BIOS)",
        )),
        None => Ok(None),
        Some("BIOS") if mode == Some("SECURE") => {
            Err(Error::invalid_param("Secure boot needs boottype UEFI"))
        }
        Some("BIOS") => Ok(None),
        Some("UEFI") => Ok(Some(mode.unwrap_or("LEGACY"))),
        Some(other) => Err(Error::invalid_param(format!(
            "Invalid boottype {other}: use BIOS or UEFI"
        ))),
    }
}

/// The HTTP method of a request carrying user data: upstream accepts up to 4096 characters of
/// it by GET and 1 MiB by POST (`vm.userdata.max.length` caps both).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RequestMethod {
    Get,
    #[default]
    Post,
}

impl RequestMethod {
    fn user_data_limit(self) -> (usize, &'static str) {
        match self {
            RequestMethod::Get => (4096, "GET"),
            RequestMethod::Post => (1_048_576, "POST"),
        }
    }
}

/// Percent-decoding (upstream URL-decodes user data holding a `%`); `None` when malformed.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

pub(crate) fn is_valid_hostname(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && !s.starts_with('-')
        && !s.ends_with('-')
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

impl App {
    /// User data as upstream accepts it: base64 (standard or URL-safe, padding optional,
    /// URL-decoded first if it holds a `%`), within the request method's limit and
    /// `vm.userdata.max.length`, not empty; returned re-encoded in padded standard base64.
    pub(crate) fn user_data_checked(&self, raw: &str, method: RequestMethod) -> Result<String> {
        use base64::Engine;
        let text = if raw.contains('%') {
            percent_decode(raw)
                .ok_or_else(|| Error::invalid_param("Url decoding of userdata failed."))?
        } else {
            raw.to_string()
        };
        let text: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
        let not_base64 = || Error::invalid_param("User data is not base64 encoded");
        if !text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '-' | '_' | '='))
        {
            return Err(not_base64());
        }
        let (limit, method) = method.user_data_limit();
        if text.len() >= limit {
            return Err(Error::invalid_param(format!(
                "User data is too long for an http {method} request"
            )));
        }
        let max = self.setting_i64(super::setting::USERDATA_MAX_LENGTH);
        if i64::try_from(text.len()).unwrap_or(i64::MAX) > max {
            return Err(Error::invalid_param(format!(
                "User data has exceeded configurable max length : {max}"
            )));
        }
        let config = base64::engine::general_purpose::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent);
        let decoded = [base64::alphabet::STANDARD, base64::alphabet::URL_SAFE]
            .iter()
            .find_map(|alphabet| {
                base64::engine::GeneralPurpose::new(alphabet, config)
                    .decode(&text)
                    .ok()
            })
            .ok_or_else(not_base64)?;
        if decoded.is_empty() {
            return Err(Error::invalid_param("User data is too short"));
        }
        Ok(base64::engine::general_purpose::STANDARD.encode(decoded))
    }

    /// `deployVirtualMachine`, request part: validate, allocate the instance and its NICs.
    pub async fn instance_allocate(&self, caller: &Caller, input: DeployInput) -> Result<Instance> {
        let user_data = match &input.user_data {
            Some(raw) => Some(self.user_data_checked(raw, input.method)?),
            None => None,
        };
        super::detail_policy::refuse_reserved_details(input.details.keys())?;
        // The owner: the caller, or the account an administrator deploys for. Key pairs and
        // affinity groups are the owner's.
        let owner = self.owner_account(caller, &input.owner).await?;
        if !owner.state.is_enabled() {
            return Err(Error::invalid_state(format!(
                "Account {} is {}: it cannot own new instances",
                owner.name,
                owner.state.as_str()
            )));
        }
        let keypairs = self.ssh_keypairs_named(owner.id, &input.keypairs).await?;
        let groups = self
            .affinity_groups_for_deploy(
                &owner,
                &input.affinity_group_ids,
                &input.affinity_group_names,
            )
            .await?;
        let zone = self.zone_by_uuid(&input.zone_uuid).await?;
        if zone.allocation_state != AllocationState::Enabled && !caller.is_root_admin() {
            return Err(Error::invalid_state(format!(
                "Zone {} is disabled",
                zone.name
            )));
        }
        let offering = self.offering_by_uuid(&input.offering_uuid).await?;
        let disk_offering = match &input.disk_offering_uuid {
            Some(u) => Some(
                self.disk_offering_for_deploy(u, zone.id, input.disk_size)
                    .await?,
            ),
            None if input.disk_size.is_some() => {
                return Err(Error::invalid_param(
                    "size is for a customized disk offering: give diskofferingid",
                ))
            }
            None => None,
        };
        let template = self.template_by_uuid(&input.template_uuid).await?;
        if !template.is_public
            && template.account_id != caller.account.id
            && template.account_id != owner.id
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
            keys.extend(super::detail_policy::external_keys_of_details(
                &input.details,
            ));
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
        let firmware = boot_firmware(input.boot_type.as_deref(), input.boot_mode.as_deref())?;
        if let Some(size) = input.root_disk_size {
            if size < 1 {
                return Err(Error::invalid_param(format!(
                    "Invalid rootdisksize {size}: give the size in GiB, at least 1"
                )));
            }
        }
        // Where the first start goes: a host, a cluster or a pod, each of the template's
        // extension, chosen by a root administrator.
        let targets = [
            ("hostid", input.host_uuid.is_some()),
            ("clusterid", input.cluster_uuid.is_some()),
            ("podid", input.pod_uuid.is_some()),
        ];
        if let Some((param, _)) = targets.iter().find(|(_, given)| *given) {
            if !caller.is_root_admin() {
                return Err(Error::denied(format!(
                    "only root administrators may choose where an instance is deployed ({param})"
                )));
            }
        }
        if let Some(h) = &input.host_uuid {
            let host = self.host_by_uuid(h).await?;
            self.deploy_target_check(&template, host.cluster_id, &format!("host {}", host.name))
                .await?;
        }
        if let Some(c) = &input.cluster_uuid {
            let cluster = self.cluster_by_uuid(c).await?;
            if cluster.zone_id != zone.id {
                return Err(Error::invalid_param(format!(
                    "Cluster {} is not in zone {}",
                    cluster.name, zone.name
                )));
            }
            self.deploy_target_check(&template, cluster.id, &format!("cluster {}", cluster.name))
                .await?;
        }
        if let Some(p) = &input.pod_uuid {
            let pod = self.pod_by_uuid(p).await?;
            if pod.zone_id != zone.id {
                return Err(Error::invalid_param(format!(
                    "Pod {} is not in zone {}",
                    pod.name, zone.name
                )));
            }
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
        let (network_uuids, fixed) = super::networks::requested_nics(&input)?;
        let mut networks = Vec::new();
        for u in &network_uuids {
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
            if n.guest_type != "Shared" && n.account_id != owner.id && !caller.is_root_admin() {
                return Err(Error::denied(format!(
                    "Account {} does not have access to network {}",
                    owner.name, n.uuid
                )));
            }
            networks.push(n);
        }
        if networks.is_empty() {
            let scope = if caller.is_root_admin() && owner.id == caller.account.id {
                None
            } else {
                Some(owner.id)
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
        let _limits = self
            .limits_reserve(
                &owner,
                &[
                    (ResourceType::UserVm, 1),
                    (ResourceType::Cpu, offering.cpu_number),
                    (ResourceType::Memory, offering.memory),
                    (ResourceType::Volume, 1),
                ],
            )
            .await?;
        if fixed.iter().any(|(ip, mac)| ip.is_some() || mac.is_some()) && networks.is_empty() {
            return Err(Error::invalid_param(format!(
                "Zone {} has no network for the instance: a fixed address cannot be given",
                zone.name
            )));
        }
        let mut nics = self.nics_for_deploy(&networks, &fixed, now).await?;
        let mut vnc = [0u8; 12];
        rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut vnc);
        let inst = Instance {
            id: 0,
            uuid: ids::new_uuid(),
            name: name.clone(),
            instance_name: String::new(),
            display_name: input.display_name.clone().unwrap_or(name),
            account_id: owner.id,
            domain_id: owner.domain_id,
            user_id: caller.user.id,
            zone_id: zone.id,
            host_id: None,
            last_host_id: None,
            template_id: template.id,
            service_offering_id: offering.id,
            state: VmState::Stopped,
            power_state: "PowerOff".into(),
            power_state_updated: None,
            generation: 1,
            vnc_password: vnc.iter().map(|b| format!("{b:02x}")).collect(),
            ha_enabled: false,
            user_data,
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
        if let Some(size) = input.root_disk_size {
            details.insert(super::volumes::ROOT_DISK_SIZE.into(), size.to_string());
        }
        if let Some(mode) = firmware {
            details.insert(DETAIL_UEFI.into(), mode.into());
        }
        if let Some(o) = &disk_offering {
            details.insert(
                super::disk_offerings::DETAIL_DISK_OFFERING_ID.into(),
                o.uuid.clone(),
            );
            details.insert(
                super::disk_offerings::DETAIL_DISK_OFFERING_NAME.into(),
                o.name.clone(),
            );
        }
        if let Some(g) = input
            .group
            .as_deref()
            .map(str::trim)
            .filter(|g| !g.is_empty())
        {
            if g.chars().count() > 255 {
                return Err(Error::invalid_param(
                    "Instance group name must be at most 255 characters",
                ));
            }
            details.insert(DETAIL_GROUP.into(), g.to_string());
        }
        // The instance keeps its own copy: deleting a key pair later does not change it.
        if !keypairs.is_empty() {
            let keys: Vec<&str> = keypairs.iter().map(|k| k.public_key.as_str()).collect();
            let names: Vec<&str> = keypairs.iter().map(|k| k.name.as_str()).collect();
            details.insert(DETAIL_SSH_PUBLIC_KEY.into(), keys.join("\n"));
            details.insert(DETAIL_SSH_KEYPAIR_NAMES.into(), names.join(","));
        }
        let event = Self::new_event(
            Some(caller),
            "VM.CREATE",
            &format!("Instance {} allocated", inst.display_name),
            Some(("VirtualMachine", &inst.uuid)),
        );
        let group_ids: Vec<i64> = groups.iter().map(|g| g.id).collect();
        // The template's secrets are sealed already; the deploy's are sealed here.
        let details = self.details_seal_values(details)?;
        let mut mac_retries = 0;
        let inst = loop {
            match self
                .store
                .instance_create_grouped(&inst, &nics, &details, &group_ids, Some(&event))
                .await
            {
                Ok(i) => break i,
                // A fixed MAC already in use is the caller's to change; a random one is drawn again.
                Err(e) if e.is_unique_violation() => {
                    let mut drawn = false;
                    for (i, n) in nics.iter_mut().enumerate() {
                        if fixed.get(i).and_then(|(_, m)| m.as_ref()).is_none() {
                            n.mac = random_mac();
                            drawn = true;
                        }
                    }
                    mac_retries += 1;
                    if !drawn || mac_retries > 3 {
                        return Err(Error::invalid_param(
                            "The MAC address given is already in use by another NIC",
                        ));
                    }
                }
                Err(e) => return Err(e.into()),
            }
        };
        drop(_guard);
        Ok(inst)
    }

    /// Apply a `prepare` reply: merge into the TO, then take back VNC password, details and NIC
    /// MAC/IP (matched on the NIC `uuid`, which upstream fails to do).
    pub(crate) async fn apply_prepare(
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
                    let v = self.detail_sealed(k, &v)?;
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
        dest: &Destination,
    ) -> Result<Instance> {
        let lock = self.lock_for(&format!("instance-{uuid}")).await;
        let _guard = lock.lock().await;
        let mut inst = self
            .store
            .instance_by_uuid(uuid)
            .await?
            .ok_or_else(|| super::instance::unknown_instance(uuid))?;
        let template = self
            .store
            .template_get(inst.template_id)
            .await?
            .ok_or_else(|| Error::internal("instance without template"))?;
        let host = if inst.state != VmState::Starting || inst.host_id.is_none() {
            inst.state.begin_start()?;
            let host = match &dest.host {
                Some(h) => {
                    let host = self.host_by_uuid(h).await?;
                    self.affinity_check_host(&inst, &host).await?;
                    host
                }
                None => self.place(&inst, &template, dest).await?,
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
            match ctx.resumed(proto::action::CREATE) {
                Some(Phase::Ok) => return Ok(()),
                Some(Phase::Pending) => {
                    // The previous run may or may not have created it: observe first, and never
                    // create a second time.
                    let observed = self.observe_power(&t).await?;
                    tracing::info!(instance = %inst.instance_name, ?observed, "resuming an interrupted create: observed the instance first");
                    return match observed {
                        proto::PowerState::PowerOn => Ok(()),
                        proto::PowerState::PowerOff => {
                            let payload = self.payload(&t, Some(caller), proto::action::START, true).await?;
                            self.invoke(&t, proto::action::START, &payload, timeout).await?.map(|_| ()).map_err(|e| action_failed("start", &inst, &e))
                        }
                        // Nobody can tell whether it exists: the instance needs an operator's
                        // attention (it ends in Error, with an alert), not a second create.
                        proto::PowerState::PowerUnknown => Err(self.outcome_unknown(ctx, &t, proto::action::CREATE).await),
                    };
                }
                Some(Phase::Failed) | None => {}
            }
            let requires_prepare = match template.extension_id {
                Some(eid) => self.store.detail_get(DetailOwner::Extension, eid, DETAIL_REQUIRES_PREPARE).await?.is_some_and(|v| v.eq_ignore_ascii_case("true")),
                None => false,
            };
            if requires_prepare && ctx.resumed(proto::action::PREPARE) != Some(Phase::Ok) {
                let payload = self.payload(&t, Some(caller), proto::action::PREPARE, true).await?;
                let out = self.invoke(&t, proto::action::PREPARE, &payload, timeout).await?.map_err(|e| action_failed("prepare", &inst, &e))?;
                self.apply_prepare(&t, &payload, &out.stdout).await?;
            }
            let payload = self.payload(&t, Some(caller), proto::action::CREATE, true).await?;
            match self.invoke(&t, proto::action::CREATE, &payload, timeout).await? {
                Ok(out) => {
                    // What the extension could not do (keys or user data it cannot deliver, say)
                    // is said in its result: the operator sees it as a WARN event and in the log.
                    for w in super::invoke::result_warnings(&out.stdout) {
                        tracing::warn!(instance = %inst.instance_name, warning = %w, "the extension created the instance with a warning");
                        self.event_level("WARN", "VM.CREATE", &format!("Instance {}: {w}", inst.instance_name), Some(("VirtualMachine", inst.uuid.as_str()))).await;
                    }
                    Ok(())
                }
                Err(e) => {
                    // Undo: remove whatever the failed create left behind.
                    let del = self.payload(&t, Some(caller), proto::action::DELETE, false).await?;
                    if let Ok(Err(err)) = self.invoke(&t, proto::action::DELETE, &del, timeout).await {
                        tracing::warn!(instance = %inst.instance_name, error = %trellis_model::ErrorChain(&err), "cleanup after a failed create also failed");
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
                // As upstream: a failed deployment leaves the instance in Error (destroy, then
                // recover or expunge it); a failed later start leaves it Stopped.
                let failed_state = if first && ctx.job.cmd == DEPLOY_COMMAND {
                    VmState::Error
                } else {
                    VmState::Stopped
                };
                let _ = self.set_state(&inst, failed_state, None).await;
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

    /// A host or cluster an administrator named for a deploy must be in a cluster bound to the
    /// template's extension.
    async fn deploy_target_check(
        &self,
        template: &trellis_model::entity::Template,
        cluster_id: i64,
        what: &str,
    ) -> Result<()> {
        let bound = self.cluster_extension(cluster_id).await?;
        match (bound, template.extension_id) {
            (None, _) => Err(Error::invalid_param(format!(
                "Cannot deploy to {what}: its cluster is not an External cluster registered with an extension"
            ))),
            (Some((e, _)), Some(want)) if e.id != want => Err(Error::invalid_param(format!(
                "Cannot deploy to {what}: its cluster is registered with extension {}, not with the template's",
                e.name
            ))),
            _ => Ok(()),
        }
    }
}
