//! Entities as the store returns them. Plain data: no behaviour beyond small helpers.

use crate::account::AccountState;
use crate::extension::ExtensionState;
use crate::infra::{AllocationState, HostStatus, ResourceState};
use crate::instance::VmState;
use crate::RoleType;

#[derive(Debug, Clone, PartialEq)]
pub struct Domain {
    pub id: i64,
    pub uuid: String,
    pub name: String,
    pub path: String,
    pub parent_id: Option<i64>,
    /// DNS suffix for the networks of the domain's accounts (`networkdomain`).
    pub network_domain: Option<String>,
    pub created: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Role {
    pub id: i64,
    pub uuid: String,
    pub name: String,
    pub role_type: RoleType,
    pub description: String,
    pub is_default: bool,
    /// Visible to domain administrators for their accounts (`ispublic`).
    pub is_public: bool,
}

/// One rule of a role (`rolepermission`): the first rule whose pattern matches a command decides.
#[derive(Debug, Clone, PartialEq)]
pub struct RolePermission {
    pub id: i64,
    pub uuid: String,
    pub role_id: i64,
    pub rule: String,
    pub permission: crate::role::Permission,
    pub description: String,
    pub sort_order: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Account {
    pub id: i64,
    pub uuid: String,
    pub name: String,
    pub domain_id: i64,
    pub role_id: i64,
    pub state: AccountState,
    /// DNS suffix for the account's networks (`networkdomain`).
    pub network_domain: Option<String>,
    pub created: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub id: i64,
    pub uuid: String,
    pub account_id: i64,
    pub username: String,
    pub password_hash: String,
    pub firstname: String,
    pub lastname: String,
    pub email: Option<String>,
    pub api_key: Option<String>,
    pub secret_key: Option<String>,
    pub state: AccountState,
    /// The user's time zone (`timezone`), when one was given.
    pub timezone: Option<String>,
    /// Wrong passwords since the last successful log-in (lock-out).
    pub failed_logins: i64,
    pub created: i64,
}

/// A user together with its account, domain and role: everything authorization needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Principal {
    pub user: User,
    pub account: Account,
    pub domain: Domain,
    pub role: Role,
}

impl Principal {
    pub fn role_type(&self) -> RoleType {
        self.role.role_type
    }
    pub fn is_root_admin(&self) -> bool {
        self.role.role_type == RoleType::Admin
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub session_key: String,
    pub jsession_id: String,
    pub user_id: i64,
    pub created: i64,
    pub expires: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Configuration {
    pub name: String,
    pub value: Option<String>,
    pub default_value: Option<String>,
    pub category: String,
    pub description: String,
    pub is_dynamic: bool,
}

/// Async job status as CloudStack numbers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobStatus {
    InProgress = 0,
    Succeeded = 1,
    Failed = 2,
    Cancelled = 3,
}

impl JobStatus {
    pub fn from_i64(v: i64) -> JobStatus {
        match v {
            1 => JobStatus::Succeeded,
            2 => JobStatus::Failed,
            3 => JobStatus::Cancelled,
            _ => JobStatus::InProgress,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub id: i64,
    pub uuid: String,
    pub user_id: i64,
    pub account_id: i64,
    pub cmd: String,
    pub params: String,
    pub status: JobStatus,
    pub result_code: i64,
    pub result_type: Option<String>,
    pub result: Option<String>,
    pub instance_type: Option<String>,
    pub instance_uuid: Option<String>,
    pub owner: Option<String>,
    pub lease_until: Option<i64>,
    pub attempts: i64,
    pub step: Option<String>,
    pub created: i64,
    pub completed: Option<i64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub id: i64,
    pub uuid: String,
    pub event_type: String,
    pub level: String,
    pub state: String,
    pub description: String,
    pub user_id: Option<i64>,
    pub account_id: Option<i64>,
    pub domain_id: Option<i64>,
    pub resource_type: Option<String>,
    pub resource_uuid: Option<String>,
    pub created: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    pub id: i64,
    pub uuid: String,
    pub type_id: i64,
    pub name: String,
    pub subject: String,
    pub created: i64,
    pub last_sent: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Extension {
    pub id: i64,
    pub uuid: String,
    pub name: String,
    pub description: Option<String>,
    pub ext_type: String,
    pub relative_path: String,
    pub path_ready: bool,
    pub is_user_defined: bool,
    pub state: ExtensionState,
    pub created: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ResourceMap {
    pub id: i64,
    pub extension_id: i64,
    pub resource_id: i64,
    pub resource_type: String,
    pub created: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CustomAction {
    pub id: i64,
    pub uuid: String,
    pub name: String,
    pub description: Option<String>,
    pub extension_id: i64,
    pub resource_type: Option<String>,
    pub allowed_role_types: u32,
    pub success_message: Option<String>,
    pub error_message: Option<String>,
    pub enabled: bool,
    pub timeout: i64,
    pub created: i64,
}

/// A management server taking part in the deployment.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerNode {
    pub id: String,
    pub name: String,
    pub started: i64,
    pub heartbeat: i64,
    /// The Trellis version it runs (`None` for rows written before versions were recorded).
    pub version: Option<String>,
}

/// Owners of details rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DetailOwner {
    Extension,
    ResourceMap,
    CustomAction,
    Cluster,
    Host,
    Offering,
    Template,
    Instance,
}

impl DetailOwner {
    pub fn as_str(self) -> &'static str {
        match self {
            DetailOwner::Extension => "extension",
            DetailOwner::ResourceMap => "resourcemap",
            DetailOwner::CustomAction => "customaction",
            DetailOwner::Cluster => "cluster",
            DetailOwner::Host => "host",
            DetailOwner::Offering => "offering",
            DetailOwner::Template => "template",
            DetailOwner::Instance => "instance",
        }
    }
}

/// One details row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detail {
    pub name: String,
    pub value: String,
    pub display: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Zone {
    pub id: i64,
    pub uuid: String,
    pub name: String,
    pub description: Option<String>,
    pub dns1: Option<String>,
    pub dns2: Option<String>,
    pub internal_dns1: Option<String>,
    pub network_type: String,
    pub allocation_state: AllocationState,
    pub created: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Pod {
    pub id: i64,
    pub uuid: String,
    pub name: String,
    pub zone_id: i64,
    pub gateway: Option<String>,
    pub netmask: Option<String>,
    pub start_ip: Option<String>,
    pub end_ip: Option<String>,
    pub allocation_state: AllocationState,
    pub created: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Cluster {
    pub id: i64,
    pub uuid: String,
    pub name: String,
    pub zone_id: i64,
    pub pod_id: i64,
    pub hypervisor: String,
    pub cluster_type: String,
    pub allocation_state: AllocationState,
    pub arch: String,
    pub created: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Host {
    pub id: i64,
    pub uuid: String,
    pub name: String,
    pub guid: String,
    pub zone_id: i64,
    pub pod_id: i64,
    pub cluster_id: i64,
    pub url: String,
    pub status: HostStatus,
    pub resource_state: ResourceState,
    pub hypervisor: String,
    pub host_tags: Option<String>,
    pub created: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ServiceOffering {
    pub id: i64,
    pub uuid: String,
    pub name: String,
    pub display_text: String,
    pub cpu_number: i64,
    pub cpu_speed: i64,
    /// MiB.
    pub memory: i64,
    pub host_tags: Option<String>,
    pub state: String,
    pub created: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    pub id: i64,
    pub uuid: String,
    pub name: String,
    pub display_text: String,
    pub format: String,
    pub hypervisor: String,
    pub os_type: String,
    pub extension_id: Option<i64>,
    pub arch: String,
    pub is_public: bool,
    pub is_featured: bool,
    pub account_id: i64,
    pub zone_id: Option<i64>,
    pub url: String,
    pub size: i64,
    pub state: String,
    pub created: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NetworkOffering {
    pub id: i64,
    pub uuid: String,
    pub name: String,
    pub display_text: String,
    pub guest_ip_type: String,
    pub specify_vlan: bool,
    pub state: String,
    pub is_default: bool,
    pub created: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Network {
    pub id: i64,
    pub uuid: String,
    pub name: String,
    pub display_text: String,
    pub zone_id: i64,
    pub network_offering_id: i64,
    pub guest_type: String,
    pub broadcast_uri: Option<String>,
    pub gateway: Option<String>,
    pub netmask: Option<String>,
    pub start_ip: Option<String>,
    pub end_ip: Option<String>,
    pub dns1: Option<String>,
    pub dns2: Option<String>,
    pub account_id: i64,
    pub domain_id: i64,
    pub state: String,
    pub created: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Instance {
    pub id: i64,
    pub uuid: String,
    pub name: String,
    pub instance_name: String,
    pub display_name: String,
    pub account_id: i64,
    pub domain_id: i64,
    pub user_id: i64,
    pub zone_id: i64,
    pub host_id: Option<i64>,
    pub last_host_id: Option<i64>,
    pub template_id: i64,
    pub service_offering_id: i64,
    pub state: VmState,
    pub power_state: String,
    pub power_state_updated: Option<i64>,
    pub generation: i64,
    pub vnc_password: String,
    pub ha_enabled: bool,
    pub user_data: Option<String>,
    pub started_once: bool,
    pub created: i64,
    pub removed: Option<i64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Nic {
    pub id: i64,
    pub uuid: String,
    pub instance_id: i64,
    pub network_id: i64,
    pub device_id: i64,
    pub mac: String,
    pub ip: Option<String>,
    pub netmask: Option<String>,
    pub gateway: Option<String>,
    pub is_default: bool,
    pub broadcast_uri: Option<String>,
    pub created: i64,
}

/// A resource tag: one key/value pair on one resource of one type, owned by the resource's owner.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceTag {
    pub id: i64,
    pub uuid: String,
    pub key: String,
    pub value: String,
    /// Upstream's canonical type name (`UserVm`, `Template`, …).
    pub resource_type: String,
    pub resource_id: i64,
    pub resource_uuid: String,
    pub account_id: Option<i64>,
    pub domain_id: Option<i64>,
    pub customer: Option<String>,
    pub created: i64,
}

/// A volume record. Today only the metadata-only ROOT volume every instance has; what it shows
/// (size, state, owner, zone) follows its instance.
#[derive(Debug, Clone, PartialEq)]
pub struct Volume {
    pub id: i64,
    pub uuid: String,
    pub instance_id: i64,
    /// `ROOT` (or `DATADISK`, which Trellis does not make).
    pub volume_type: String,
    pub device_id: i64,
    pub created: i64,
    pub removed: Option<i64>,
}
/// An SSH key pair: the public half (OpenSSH one-line form) and its MD5 fingerprint, owned by
/// an account. The private half of a generated pair is handed out once and never stored.
#[derive(Debug, Clone, PartialEq)]
pub struct SshKeyPair {
    pub id: i64,
    pub uuid: String,
    pub name: String,
    pub account_id: i64,
    pub domain_id: i64,
    pub public_key: String,
    pub fingerprint: String,
    pub created: i64,
}

/// An affinity group: a placement rule shared by the instances deployed into it, owned by an
/// account. Its name is unique per account.
#[derive(Debug, Clone, PartialEq)]
pub struct AffinityGroup {
    pub id: i64,
    pub uuid: String,
    pub name: String,
    pub description: Option<String>,
    pub group_type: crate::affinity::AffinityType,
    pub account_id: i64,
    pub domain_id: i64,
    pub created: i64,
}

/// A project: resources owned by its hidden project account (`account_id`), used by its member
/// accounts.
#[derive(Debug, Clone, PartialEq)]
pub struct Project {
    pub id: i64,
    pub uuid: String,
    pub name: String,
    pub display_text: String,
    pub account_id: i64,
    pub domain_id: i64,
    pub state: crate::project::ProjectState,
    pub created: i64,
    pub removed: Option<i64>,
}

/// A member account of a project and its role there.
#[derive(Debug, Clone, PartialEq)]
pub struct ProjectMember {
    pub project_id: i64,
    pub account_id: i64,
    pub role: crate::project::ProjectRole,
    pub created: i64,
}

/// A disk offering. External instances get no data volume from it: a deploy validates the
/// offering (and the custom size it needs) and records it on the instance, for clients that look
/// offerings up by name (the Cluster API provider, Packer, Terraform).
#[derive(Debug, Clone, PartialEq)]
pub struct DiskOffering {
    pub id: i64,
    pub uuid: String,
    pub name: String,
    pub display_text: String,
    /// GiB; 0 for a customized offering.
    pub disk_size: i64,
    pub customized: bool,
    /// `shared` or `local`.
    pub storage_type: String,
    /// `thin`, `sparse` or `fat`.
    pub provisioning_type: String,
    /// The one zone it is offered in; `None`: every zone.
    pub zone_id: Option<i64>,
    pub created: i64,
    pub removed: Option<i64>,
}
