//! Entities as the store returns them. Plain data: no behaviour beyond small helpers.

use crate::RoleType;

#[derive(Debug, Clone, PartialEq)]
pub struct Domain {
    pub id: i64,
    pub uuid: String,
    pub name: String,
    pub path: String,
    pub parent_id: Option<i64>,
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
}

#[derive(Debug, Clone, PartialEq)]
pub struct Account {
    pub id: i64,
    pub uuid: String,
    pub name: String,
    pub domain_id: i64,
    pub role_id: i64,
    pub state: String,
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
    pub state: String,
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
    pub state: String,
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
}

/// Owners of details rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
