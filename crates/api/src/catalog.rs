//! The command catalog. It is data: the same entries drive parameter validation, role-type
//! authorization and `listApis`, so the three cannot drift apart.

use serde_json::{json, Value};
use trellis_model::RoleType;

/// Parameter types, rendered lowercase in `listApis`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamType {
    String,
    Uuid,
    Boolean,
    Integer,
    Long,
    Short,
    Float,
    Double,
    Date,
    Tzdate,
    List,
    Map,
    Object,
}

impl ParamType {
    pub fn as_str(self) -> &'static str {
        match self {
            ParamType::String => "string",
            ParamType::Uuid => "uuid",
            ParamType::Boolean => "boolean",
            ParamType::Integer => "integer",
            ParamType::Long => "long",
            ParamType::Short => "short",
            ParamType::Float => "float",
            ParamType::Double => "double",
            ParamType::Date => "date",
            ParamType::Tzdate => "tzdate",
            ParamType::List => "list",
            ParamType::Map => "map",
            ParamType::Object => "object",
        }
    }
}

/// One request parameter.
#[derive(Debug, Clone, Copy)]
pub struct Param {
    pub name: &'static str,
    pub ty: ParamType,
    pub required: bool,
    pub description: &'static str,
    /// Maximum length of string values (0 = unlimited).
    pub length: u32,
}

/// One response field.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    pub name: &'static str,
    pub ty: &'static str,
    pub description: &'static str,
}

/// Role-type masks.
pub mod roles {
    pub const ADMIN: u32 = 1;
    pub const RESOURCE_ADMIN: u32 = 2;
    pub const DOMAIN_ADMIN: u32 = 4;
    pub const USER: u32 = 8;
    pub const ALL: u32 = ADMIN | RESOURCE_ADMIN | DOMAIN_ADMIN | USER;
    pub const ADMINS: u32 = ADMIN | RESOURCE_ADMIN | DOMAIN_ADMIN;
}

/// One command.
#[derive(Debug, Clone, Copy)]
pub struct Command {
    pub name: &'static str,
    pub description: &'static str,
    pub since: &'static str,
    pub isasync: bool,
    /// Role types allowed to call it.
    pub roles: u32,
    pub params: &'static [Param],
    pub response: &'static [Field],
    pub related: &'static str,
    /// Response name when it is not `<name lowercased>response`.
    pub response_name: Option<&'static str>,
}

impl Command {
    pub fn response_name(&self) -> String {
        match self.response_name {
            Some(n) => n.to_string(),
            None => format!("{}response", self.name.to_lowercase()),
        }
    }
    pub fn is_list(&self) -> bool {
        self.name.starts_with("list")
    }
    pub fn allows(&self, role: RoleType) -> bool {
        self.roles & role.mask() != 0
    }

    /// The `listApis` entry.
    pub fn api_json(&self) -> Value {
        let params: Vec<Value> = self
            .params
            .iter()
            .map(|p| {
                json!({"name": p.name, "description": p.description, "type": p.ty.as_str(), "length": p.length,
                       "required": p.required, "since": "", "related": ""})
            })
            .collect();
        let response: Vec<Value> = self
            .response
            .iter()
            .map(|f| json!({"name": f.name, "description": f.description, "type": f.ty}))
            .collect();
        json!({"name": self.name, "description": self.description, "since": self.since, "isasync": self.isasync,
               "related": self.related, "params": params, "response": response, "type": ""})
    }
}

const fn p(name: &'static str, ty: ParamType, required: bool, description: &'static str) -> Param {
    Param {
        name,
        ty,
        required,
        description,
        length: 255,
    }
}
const fn long_text(name: &'static str, required: bool, description: &'static str) -> Param {
    Param {
        name,
        ty: ParamType::String,
        required,
        description,
        length: 4096,
    }
}
const fn f(name: &'static str, ty: &'static str, description: &'static str) -> Field {
    Field {
        name,
        ty,
        description,
    }
}

use ParamType as T;

const PAGING: [Param; 3] = [
    p("keyword", T::String, false, "List by keyword"),
    p(
        "page",
        T::Integer,
        false,
        "the page number of the results (1-based)",
    ),
    p(
        "pagesize",
        T::Integer,
        false,
        "the number of results per page; -1 for all",
    ),
];

macro_rules! list_params {
    ($($x:expr),* $(,)?) => { &[$($x,)* PAGING[0], PAGING[1], PAGING[2]] };
}

const TAGS_FILTER: Param = Param {
    name: "tags",
    ty: ParamType::Map,
    required: false,
    description: "List resources by tags (key/value pairs)",
    length: 0,
};

const VOLUME_FIELDS: &[Field] = &[
    f("id", "string", "ID of the disk volume"),
    f("name", "string", "name of the disk volume"),
    f(
        "type",
        "string",
        "type of the disk volume (ROOT or DATADISK)",
    ),
    f(
        "deviceid",
        "long",
        "the ID of the device on user vm the volume is attached to.",
    ),
    f("virtualmachineid", "string", "id of the virtual machine"),
    f("vmname", "string", "name of the virtual machine"),
    f(
        "vmdisplayname",
        "string",
        "display name of the virtual machine",
    ),
    f("vmstate", "string", "state of the virtual machine"),
    f("size", "long", "size of the disk volume"),
    f("state", "string", "the state of the disk volume"),
    f(
        "destroyed",
        "boolean",
        "the boolean state of whether the volume is destroyed or not",
    ),
    f("hypervisor", "string", "Hypervisor the volume belongs to"),
    f("storagetype", "string", "shared or local storage"),
    f(
        "provisioningtype",
        "string",
        "provisioning type used to create volumes.",
    ),
    f(
        "templateid",
        "string",
        "ID of the template the volume was created from",
    ),
    f("templatename", "string", "name of the template"),
    f("zoneid", "string", "ID of the availability zone"),
    f("zonename", "string", "name of the availability zone"),
    f(
        "account",
        "string",
        "the account associated with the disk volume",
    ),
    f(
        "domainid",
        "string",
        "the ID of the domain associated with the disk volume",
    ),
    f(
        "domain",
        "string",
        "the domain associated with the disk volume",
    ),
    f("tags", "set", "the list of resource tags associated"),
    f("created", "date", "the date the disk volume was created"),
];

const SUCCESS: &[Field] = &[
    f("success", "boolean", "true if the operation succeeded"),
    f(
        "displaytext",
        "string",
        "any text associated with the success or failure",
    ),
];
const ASYNC: &[Field] = &[
    f("jobid", "string", "the id of the async job"),
    f("id", "string", "the id of the created object"),
];

const KEYPAIR_FIELDS: &[Field] = &[
    f("id", "string", "ID of the ssh keypair"),
    f("name", "string", "Name of the keypair"),
    f("fingerprint", "string", "Fingerprint of the public key"),
    f("account", "string", "the owner of the keypair"),
    f("domainid", "string", "the domain id of the keypair owner"),
    f("domain", "string", "the domain name of the keypair owner"),
    f(
        "hasannotations",
        "boolean",
        "whether this resource has annotations",
    ),
];
const CREATED_KEYPAIR_FIELDS: &[Field] = &[
    f("id", "string", "ID of the ssh keypair"),
    f("name", "string", "Name of the keypair"),
    f("fingerprint", "string", "Fingerprint of the public key"),
    f(
        "privatekey",
        "string",
        "Private key (returned once, never stored)",
    ),
    f("account", "string", "the owner of the keypair"),
    f("domainid", "string", "the domain id of the keypair owner"),
    f("domain", "string", "the domain name of the keypair owner"),
    f(
        "hasannotations",
        "boolean",
        "whether this resource has annotations",
    ),
];
const DOMAIN_FIELDS: &[Field] = &[
    f("id", "string", "the ID of the domain"),
    f("name", "string", "the name of the domain"),
    f("path", "string", "the path of the domain"),
    f("level", "integer", "the level of the domain"),
    f(
        "parentdomainid",
        "string",
        "the domain ID of the parent domain",
    ),
    f(
        "parentdomainname",
        "string",
        "the domain name of the parent domain",
    ),
    f(
        "haschild",
        "boolean",
        "whether the domain has one or more sub-domains",
    ),
    f("created", "date", "the date when this domain was created"),
    f("networkdomain", "string", "the network domain"),
    f("state", "string", "the state of the domain"),
];
const ACCOUNT_FIELDS: &[Field] = &[
    f("id", "string", "the id of the account"),
    f("name", "string", "the name of the account"),
    f(
        "accounttype",
        "integer",
        "account type (admin, domain-admin, user)",
    ),
    f("roleid", "string", "the ID of the role"),
    f(
        "roletype",
        "string",
        "the type of the role (Admin, ResourceAdmin, DomainAdmin, User)",
    ),
    f("rolename", "string", "the name of the role"),
    f(
        "domainid",
        "string",
        "id of the Domain the account belongs to",
    ),
    f(
        "domain",
        "string",
        "name of the Domain the account belongs to",
    ),
    f(
        "domainpath",
        "string",
        "path of the Domain the account belongs to",
    ),
    f("state", "string", "the state of the account"),
    f("created", "date", "the date when this account was created"),
    f("networkdomain", "string", "the network domain"),
    f("user", "list", "the list of users associated with account"),
];
const USER_FIELDS: &[Field] = &[
    f("id", "string", "the user ID"),
    f("username", "string", "the user name"),
    f("firstname", "string", "the user firstname"),
    f("lastname", "string", "the user lastname"),
    f("email", "string", "the user email address"),
    f("account", "string", "the account name of the user"),
    f("accountid", "string", "the account ID of the user"),
    f("accounttype", "integer", "the account type of the user"),
    f("roleid", "string", "the ID of the role"),
    f("roletype", "string", "the type of the role"),
    f("rolename", "string", "the name of the role"),
    f("domainid", "string", "the domain ID of the user"),
    f("domain", "string", "the domain name of the user"),
    f("apikey", "string", "the api key of the user"),
    f("state", "string", "the user state"),
    f(
        "created",
        "date",
        "the date and time the user account was created",
    ),
    f(
        "isdefault",
        "boolean",
        "true if user is default, false otherwise",
    ),
];
const KEYS_FIELDS: &[Field] = &[
    f("apikey", "string", "the api key of the registered user"),
    f(
        "secretkey",
        "string",
        "the secret key of the registered user",
    ),
];
const ROLE_FIELDS: &[Field] = &[
    f("id", "string", "the ID of the role"),
    f("name", "string", "the name of the role"),
    f("type", "string", "the type of the role"),
    f("description", "string", "the description of the role"),
    f(
        "isdefault",
        "boolean",
        "true if role is default, false otherwise",
    ),
    f("state", "string", "the state of the role"),
    f("ispublic", "boolean", "Indicates whether the role will be visible to all users (public) or only to root admins (private). If this parameter is not specified during the creation of the role its value will be defaulted to true (public)."),
];
const RESOURCE_LIMIT_FIELDS: &[Field] = &[
    f("account", "string", "the account of the resource limit"),
    f("domainid", "string", "the domain ID of the resource limit"),
    f("domain", "string", "the domain name of the resource limit"),
    f("domainpath", "string", "path of the domain to which the resource limit belongs"),
    f("projectid", "string", "the project id of the resource limit"),
    f("project", "string", "the project name of the resource limit"),
    f("resourcetype", "string", "resource type. Values include 0, 1, 2, 3, 4, 6, 7, 8, 9, 10, 11. See the resourceType parameter for more information on these values."),
    f("resourcetypename", "string", "resource type name. Values include user_vm, public_ip, volume, snapshot, template, network, vpc, cpu, memory, primary_storage and secondary_storage."),
    f("max", "long", "the maximum number of the resource. A -1 means the resource currently has no limit."),
];
const RESOURCE_COUNT_FIELDS: &[Field] = &[
    f("account", "string", "the account for which resource count's are updated"),
    f("domainid", "string", "the domain ID for which resource count's are updated"),
    f("domain", "string", "the domain name for which resource count's are updated"),
    f("projectid", "string", "the project id for which resource count's are updated"),
    f("project", "string", "the project name for which resource count's are updated"),
    f("resourcetype", "string", "resource type. Values include 0, 1, 2, 3, 4, 6, 7, 8, 9, 10, 11. See the resourceType parameter for more information on these values."),
    f("resourcetypename", "string", "resource type name. Values include user_vm, public_ip, volume, snapshot, template, network, vpc, cpu, memory, primary_storage and secondary_storage."),
    f("resourcecount", "long", "resource count"),
];
const ROLE_PERMISSION_FIELDS: &[Field] = &[
    f("id", "string", "the ID of the role permission"),
    f(
        "roleid",
        "string",
        "the ID of the role to which the role permission belongs",
    ),
    f(
        "rolename",
        "string",
        "the name of the role to which the role permission belongs",
    ),
    f(
        "roletype",
        "string",
        "the type of the role to which the role permission belongs",
    ),
    f("rule", "string", "the api name or wildcard rule"),
    f(
        "permission",
        "string",
        "the permission type of the api name or wildcard rule, allow/deny",
    ),
    f(
        "description",
        "string",
        "the description of the role permission",
    ),
];
const JOB_FIELDS: &[Field] = &[
    f("jobid", "string", "the ID of the async job"),
    f(
        "accountid",
        "string",
        "the account id that executed the async command",
    ),
    f(
        "account",
        "string",
        "the account that executed the async command",
    ),
    f(
        "userid",
        "string",
        "the user that executed the async command",
    ),
    f("cmd", "string", "the async command executed"),
    f(
        "jobstatus",
        "integer",
        "the current job status: 0 pending, 1 succeeded, 2 failed",
    ),
    f(
        "jobprocstatus",
        "integer",
        "the progress information of the PENDING job",
    ),
    f("jobresultcode", "integer", "the result code for the job"),
    f("jobresulttype", "string", "the result type"),
    f("jobresult", "object", "the result reason"),
    f(
        "jobinstancetype",
        "string",
        "the instance/entity object related to the job",
    ),
    f(
        "jobinstanceid",
        "string",
        "the unique ID of the instance/entity object related to the job",
    ),
    f(
        "managementserverid",
        "string",
        "the management server that owns the job",
    ),
    f("created", "date", "the created date of the job"),
    f("completed", "date", "the completed date of the job"),
];
const EVENT_FIELDS: &[Field] = &[
    f("id", "string", "the ID of the event"),
    f("type", "string", "the type of the event"),
    f("level", "string", "the event level (INFO, WARN, ERROR)"),
    f("state", "string", "the state of the event"),
    f("description", "string", "a brief description of the event"),
    f(
        "username",
        "string",
        "the name of the user who performed the action",
    ),
    f(
        "account",
        "string",
        "the account name for the account that owns the object being acted on",
    ),
    f("domainid", "string", "the id of the account's domain"),
    f("domain", "string", "the name of the account's domain"),
    f("resourcetype", "string", "the type of the resource"),
    f("resourceid", "string", "the id of the resource"),
    f("created", "date", "the date the event was created"),
];
const MANAGEMENT_SERVER_FIELDS: &[Field] = &[
    f("id", "string", "the ID of the management server"),
    f("name", "string", "the name of the management server"),
    f(
        "state",
        "state",
        "the state of the management server: Up when its last heartbeat is recent, else Down",
    ),
    f("version", "string", "the version of the management server"),
    f(
        "lastserverstart",
        "date",
        "the last time this management server was started",
    ),
    f(
        "lastheartbeat",
        "date",
        "the last heartbeat of the management server (Trellis)",
    ),
    f(
        "extensionsready",
        "list",
        "the extensions whose executable is ready on this server (Trellis)",
    ),
    f(
        "extensionsnotready",
        "list",
        "the extensions whose executable is missing or unusable on this server (Trellis)",
    ),
];

const ALERT_FIELDS: &[Field] = &[
    f("id", "string", "the id of the alert"),
    f("type", "short", "the alert type"),
    f("name", "string", "the name of the alert"),
    f("description", "string", "description of the alert"),
    f("sent", "date", "the date and time the alert was sent"),
];
const CONFIG_FIELDS: &[Field] = &[
    f("name", "string", "the name of the configuration"),
    f("value", "string", "the value of the configuration"),
    f(
        "defaultvalue",
        "string",
        "the default value of the configuration",
    ),
    f("category", "string", "the category of the configuration"),
    f(
        "description",
        "string",
        "the description of the configuration",
    ),
    f(
        "isdynamic",
        "boolean",
        "true if the configuration is dynamic",
    ),
    f(
        "scope",
        "string",
        "scope(zone/cluster/pool/account) of the parameter that needs to be updated",
    ),
];
const CAPABILITY_FIELDS: &[Field] = &[
    f("cloudstackversion", "string", "version of the cloud stack"),
    f(
        "securitygroupsenabled",
        "boolean",
        "true if security groups support is enabled, false otherwise",
    ),
    f(
        "userpublictemplateenabled",
        "boolean",
        "true if user and domain admins can set templates to be shared",
    ),
    f(
        "supportELB",
        "string",
        "true if region supports elastic load balancer on basic zones",
    ),
    f(
        "customdiskofferingmaxsize",
        "long",
        "maximum size that can be specified when create disk from disk offering",
    ),
    f(
        "allowusercreateprojects",
        "boolean",
        "true if regular user is allowed to create projects",
    ),
    f(
        "apilimitinterval",
        "integer",
        "time interval (in seconds) to reset api count",
    ),
    f(
        "apilimitmax",
        "integer",
        "Max allowed number of api requests within the specified interval",
    ),
    f(
        "defaultuipagesize",
        "long",
        "default page size in the UI for various views",
    ),
    f(
        "customhypervisordisplayname",
        "string",
        "Display name for custom hypervisor",
    ),
    f(
        "extensionspath",
        "string",
        "the path of the extensions directory (root admins only)",
    ),
];
const LOGIN_FIELDS: &[Field] = &[
    f("username", "string", "Username"),
    f("userid", "string", "User ID"),
    f("domainid", "string", "Domain ID that the user belongs to"),
    f(
        "timeout",
        "integer",
        "the time period before the session has expired",
    ),
    f("account", "string", "the account name the user belongs to"),
    f("firstname", "string", "first name of the user"),
    f("lastname", "string", "last name of the user"),
    f(
        "type",
        "string",
        "the account type (admin, domain-admin, read-only-admin, user)",
    ),
    f("timezone", "string", "user time zone"),
    f("registered", "string", "Is user registered"),
    f(
        "sessionkey",
        "string",
        "Session key that can be passed in subsequent Query command calls",
    ),
];
pub(crate) const EXTENSION_FIELDS: &[Field] = &[
    f("id", "string", "ID of the extension"),
    f("name", "string", "Name of the extension"),
    f("description", "string", "Description of the extension"),
    f("type", "string", "Type of the extension"),
    f(
        "path",
        "string",
        "The path of the entry point of the extension",
    ),
    f(
        "pathready",
        "boolean",
        "True if the extension path is in ready state across management servers",
    ),
    f(
        "isuserdefined",
        "boolean",
        "True if the extension is added by admin",
    ),
    f(
        "orchestratorrequirespreparevm",
        "boolean",
        "Only honored when type is Orchestrator. Whether prepare VM is needed or not",
    ),
    f("state", "string", "The state of the extension"),
    f("details", "map", "The details of the extension"),
    f(
        "resources",
        "list",
        "List of resources to which extension is registered to",
    ),
    f("created", "date", "Creation timestamp of the extension"),
];
const CUSTOM_ACTION_FIELDS: &[Field] = &[
    f("id", "string", "ID of the custom action"),
    f("name", "string", "Name of the custom action"),
    f("description", "string", "Description of the custom action"),
    f(
        "extensionid",
        "string",
        "ID of the extension that this custom action belongs to",
    ),
    f(
        "extensionname",
        "string",
        "Name of the extension that this custom action belongs to",
    ),
    f(
        "resourcetype",
        "string",
        "Resource type for which the action is available",
    ),
    f(
        "allowedroletypes",
        "list",
        "List of role types allowed for the custom action",
    ),
    f(
        "successmessage",
        "string",
        "Message that will be used on successful execution of the action",
    ),
    f(
        "errormessage",
        "string",
        "Message that will be used on failure during execution of the action",
    ),
    f(
        "timeout",
        "integer",
        "Specifies the timeout in seconds to wait for the action to complete before failing",
    ),
    f(
        "enabled",
        "boolean",
        "Whether the custom action is enabled or not",
    ),
    f("details", "map", "Details of the custom action"),
    f(
        "parameters",
        "list",
        "List of the parameters for the action",
    ),
    f("created", "date", "Creation timestamp of the custom action"),
];
const CUSTOM_ACTION_RESULT_FIELDS: &[Field] = &[
    f("id", "string", "ID of the action"),
    f("name", "string", "Name of the action"),
    f("success", "boolean", "Whether custom action succeed or not"),
    f("result", "map", "Result of the action execution"),
];
const ZONE_FIELDS: &[Field] = &[
    f("id", "string", "Zone id"),
    f("name", "string", "Zone name"),
    f("description", "string", "Zone description"),
    f("dns1", "string", "the first DNS for the Zone"),
    f(
        "internaldns1",
        "string",
        "the first internal DNS for the Zone",
    ),
    f(
        "networktype",
        "string",
        "the network type of the zone; can be Basic or Advanced",
    ),
    f(
        "allocationstate",
        "string",
        "the allocation state of the cluster",
    ),
    f(
        "securitygroupsenabled",
        "boolean",
        "true if security groups support is enabled, false otherwise",
    ),
    f(
        "localstorageenabled",
        "boolean",
        "true if local storage offering enabled, false otherwise",
    ),
    f(
        "tags",
        "set",
        "the list of resource tags associated with zone",
    ),
    f("created", "date", "the date this zone was created"),
];

const POD_FIELDS: &[Field] = &[
    f("id", "string", "the ID of the Pod"),
    f("name", "string", "the name of the Pod"),
    f("zoneid", "string", "the Zone ID of the Pod"),
    f("zonename", "string", "the Zone name of the Pod"),
    f("gateway", "string", "the gateway of the Pod"),
    f("netmask", "string", "the netmask of the Pod"),
    f(
        "allocationstate",
        "string",
        "the allocation state of the Pod",
    ),
];
const CLUSTER_FIELDS: &[Field] = &[
    f("id", "string", "the cluster ID"),
    f("name", "string", "the cluster name"),
    f("podid", "string", "the Pod ID of the cluster"),
    f("podname", "string", "the Pod name of the cluster"),
    f("zoneid", "string", "the Zone ID of the cluster"),
    f("zonename", "string", "the Zone name of the cluster"),
    f(
        "hypervisortype",
        "string",
        "the hypervisor type of the cluster",
    ),
    f("clustertype", "string", "the type of the cluster"),
    f(
        "allocationstate",
        "string",
        "the allocation state of the cluster",
    ),
    f(
        "managedstate",
        "string",
        "whether this cluster is managed by CloudStack",
    ),
    f("arch", "string", "CPU Arch of the hosts in the cluster"),
    f(
        "extensionid",
        "string",
        "The ID of extension for this cluster",
    ),
    f(
        "extensionname",
        "string",
        "The name of extension for this cluster",
    ),
];
const HOST_FIELDS: &[Field] = &[
    f("id", "string", "the ID of the host"),
    f("name", "string", "the name of the host"),
    f("state", "status", "the state of the host"),
    f("type", "type", "the host type"),
    f("ipaddress", "string", "the IP address of the host"),
    f("zoneid", "string", "the Zone ID of the host"),
    f("zonename", "string", "the Zone name of the host"),
    f("podid", "string", "the Pod ID of the host"),
    f("podname", "string", "the Pod name of the host"),
    f("clusterid", "string", "the cluster ID of the host"),
    f("clustername", "string", "the cluster name of the host"),
    f("hypervisor", "string", "the host hypervisor"),
    f("resourcestate", "string", "the resource state of the host"),
    f(
        "hosttags",
        "string",
        "comma-separated list of tags for the host",
    ),
    f("details", "map", "Host details in key/value pairs."),
    f(
        "extensionid",
        "string",
        "The ID of extension for this cluster",
    ),
    f(
        "extensionname",
        "string",
        "The name of extension for this cluster",
    ),
    f("created", "date", "the date and time the host was created"),
];
const OFFERING_FIELDS: &[Field] = &[
    f("id", "string", "the id of the service offering"),
    f("name", "string", "the name of the service offering"),
    f(
        "displaytext",
        "string",
        "an alternate display text of the service offering.",
    ),
    f("cpunumber", "integer", "the number of CPU"),
    f("cpuspeed", "integer", "the clock rate CPU speed in Mhz"),
    f("memory", "integer", "the memory in MB"),
    f(
        "hosttags",
        "string",
        "the host tag for the service offering",
    ),
    f(
        "serviceofferingdetails",
        "map",
        "additional key/value details tied with this service offering",
    ),
    f(
        "created",
        "date",
        "the date this service offering was created",
    ),
];
const TEMPLATE_FIELDS: &[Field] = &[
    f("id", "string", "the template ID"),
    f("projectid", "string", "the project id of the template"),
    f("project", "string", "the project name of the template"),
    f("name", "string", "the template name"),
    f("displaytext", "string", "the template display text"),
    f("format", "imageformat", "the format of the template."),
    f(
        "hypervisor",
        "string",
        "the hypervisor on which the template runs",
    ),
    f(
        "ostypename",
        "string",
        "the name of the OS type for this template.",
    ),
    f(
        "ostypeid",
        "string",
        "the ID of the OS type for this template.",
    ),
    f("size", "long", "the size of the template"),
    f(
        "isready",
        "boolean",
        "true if the template is ready to be deployed from, false otherwise.",
    ),
    f(
        "ispublic",
        "boolean",
        "true if this template is a public template, false otherwise",
    ),
    f("zoneid", "string", "the ID of the zone for this template"),
    f(
        "zonename",
        "string",
        "the name of the zone for this template",
    ),
    f("arch", "string", "CPU Arch of the template"),
    f(
        "extensionid",
        "string",
        "The ID of extension linked to this template",
    ),
    f(
        "extensionname",
        "string",
        "The name of extension linked to this template",
    ),
    f(
        "details",
        "map",
        "additional key/value details tied with template",
    ),
    f("created", "date", "the date this template was created"),
];
const NETWORK_OFFERING_FIELDS: &[Field] = &[
    f("id", "string", "the id of the network offering"),
    f("name", "string", "the name of the network offering"),
    f(
        "displaytext",
        "string",
        "an alternate display text of the network offering.",
    ),
    f(
        "guestiptype",
        "string",
        "guest type of the network offering, can be Shared or Isolated",
    ),
    f(
        "specifyvlan",
        "boolean",
        "true if network offering supports vlans, false otherwise",
    ),
    f("state", "string", "state of the network offering"),
];
const NETWORK_FIELDS: &[Field] = &[
    f("id", "string", "the id of the network"),
    f("account", "string", "the owner of the network"),
    f("domainid", "string", "the domain id of the network owner"),
    f("domain", "string", "the domain name of the network owner"),
    f("projectid", "string", "the project id of the ipaddress"),
    f("project", "string", "the project name of the address"),
    f("name", "string", "the name of the network"),
    f("displaytext", "string", "the displaytext of the network"),
    f("zoneid", "string", "zone id of the network"),
    f(
        "networkofferingid",
        "string",
        "network offering id the network is created from",
    ),
    f("type", "string", "the type of the network"),
    f("broadcasturi", "string", "broadcast uri of the network"),
    f("vlan", "string", "The vlan of the network"),
    f("gateway", "string", "the network's gateway"),
    f("netmask", "string", "the network's netmask"),
    f("state", "string", "state of the network"),
];
/// The fields of a `virtualmachine` object (UserVmResponse), shared by the VM commands and
/// `listVirtualMachinesMetrics`.
macro_rules! vm_fields {
    ($($extra:expr),* $(,)?) => { &[
    f("id", "string", "the ID of the virtual machine"), f("name", "string", "the name of the virtual machine"), f("displayname", "string", "user generated name. The name of the virtual machine is returned if no displayname exists."),
    f("instancename", "string", "instance name of the user vm"), f("state", "string", "the state of the virtual machine"), f("account", "string", "the account associated with the virtual machine"),
    f("zoneid", "string", "the ID of the availability zone for the virtual machine"), f("zonename", "string", "the name of the availability zone for the virtual machine"), f("hostid", "string", "the ID of the host for the virtual machine"),
    f("hostname", "string", "the name of the host for the virtual machine"), f("templateid", "string", "the ID of the template for the virtual machine"), f("templatename", "string", "the name of the template for the virtual machine"),
    f("serviceofferingid", "string", "the ID of the service offering of the virtual machine"), f("serviceofferingname", "string", "the name of the service offering of the virtual machine"), f("cpunumber", "integer", "the number of vCPUs this virtual machine is using"),
    f("memory", "integer", "the memory allocated for the virtual machine"), f("hypervisor", "string", "the hypervisor on which the template runs"), f("nic", "set", "the list of nics associated with vm"),
    f("details", "map", "Vm details in key/value pairs."), f("powerstate", "powerstate", "the power state of the virtual machine"), f("tags", "set", "the list of resource tags associated"), f("created", "date", "the date when this virtual machine was created"),
    f("keypairs", "string", "ssh key-pairs (names, comma-separated)"), f("group", "string", "the group name of the virtual machine"), f("diskofferingid", "string", "the ID of the disk offering of the virtual machine"), f("diskofferingname", "string", "the name of the disk offering of the virtual machine"), f("groupid", "string", "the group ID of the virtual machine"), f("deleteprotection", "boolean", "true if vm has delete protection."), f("userdata", "string", "Base64 string containing the user data"), f("projectid", "string", "the project id of the vm"), f("project", "string", "the project name of the vm"), f("affinitygroup", "set", "list of affinity groups associated with the virtual machine"),
    $($extra,)*
    ] };
}

const AFFINITY_GROUP_FIELDS: &[Field] = &[
    f("id", "string", "the ID of the affinity group"),
    f("name", "string", "the name of the affinity group"),
    f(
        "description",
        "string",
        "the description of the affinity group",
    ),
    f("type", "string", "the type of the affinity group"),
    f("account", "string", "the account owning the affinity group"),
    f("domainid", "string", "the domain ID of the affinity group"),
    f("domain", "string", "the domain name of the affinity group"),
    f(
        "domainpath",
        "string",
        "path of the Domain the affinity group belongs to",
    ),
    f(
        "virtualmachineIds",
        "list",
        "virtual machine IDs associated with this affinity group",
    ),
];
const PROJECT_FIELDS: &[Field] = &[
    f("id", "string", "the id of the project"),
    f("name", "string", "the name of the project"),
    f("displaytext", "string", "the displaytext of the project"),
    f("domainid", "string", "the domain id the project belongs to"),
    f(
        "domain",
        "string",
        "the domain name where the project belongs to",
    ),
    f("owner", "list", "the account name of the project's owners"),
    f(
        "projectaccountname",
        "string",
        "the project account name of the project",
    ),
    f("state", "string", "the state of the project"),
    f("created", "date", "the date this project was created"),
    f(
        "vmtotal",
        "long",
        "the total number of virtual machines created by this project",
    ),
    f(
        "vmlimit",
        "string",
        "the total number of virtual machines that can be deployed by this project",
    ),
    f(
        "vmavailable",
        "string",
        "the total number of virtual machines available for this project to acquire",
    ),
    f(
        "cputotal",
        "long",
        "the total number of cpu cores owned by project",
    ),
    f(
        "cpulimit",
        "string",
        "the total number of cpu cores the project can own",
    ),
    f(
        "cpuavailable",
        "string",
        "the total number of cpu cores available to be created for this project",
    ),
    f(
        "memorytotal",
        "long",
        "the total memory (in MB) owned by project",
    ),
    f(
        "memorylimit",
        "string",
        "the total memory (in MB) the project can own",
    ),
    f(
        "memoryavailable",
        "string",
        "the total memory (in MB) available to be created for this project",
    ),
    f(
        "vmrunning",
        "integer",
        "the total number of virtual machines running for this project",
    ),
    f(
        "vmstopped",
        "integer",
        "the total number of virtual machines stopped for this project",
    ),
];
const DISK_OFFERING_FIELDS: &[Field] = &[
    f("id", "string", "unique ID of the disk offering"),
    f("name", "string", "the name of the disk offering"),
    f(
        "displaytext",
        "string",
        "an alternate display text of the disk offering.",
    ),
    f("disksize", "long", "the size of the disk offering in GB"),
    f(
        "iscustomized",
        "boolean",
        "true if disk offering uses custom size, false otherwise",
    ),
    f(
        "storagetype",
        "string",
        "the storage type for this disk offering",
    ),
    f(
        "provisioningtype",
        "string",
        "provisioning type used to create volumes.",
    ),
    f(
        "zoneid",
        "string",
        "the zone ID(s) this disk offering belongs to.",
    ),
    f(
        "zone",
        "string",
        "the zone name(s) this disk offering belongs to.",
    ),
    f("created", "date", "the date this disk offering was created"),
];
const VM_FIELDS: &[Field] = vm_fields!();
const VM_LIST_PARAMS: &[Param] = list_params![
    TAGS_FILTER,
    p("id", T::Uuid, false, "the ID of the virtual machine"),
    p(
        "ids",
        T::List,
        false,
        "the IDs of the virtual machines, mutually exclusive with id"
    ),
    p("name", T::String, false, "name of the virtual machine"),
    p("state", T::String, false, "state of the virtual machine"),
    p("zoneid", T::Uuid, false, "the availability zone ID"),
    p("hostid", T::Uuid, false, "the host ID"),
    p(
        "extensionid",
        T::Uuid,
        false,
        "The ID of the Orchestrator extension for the VM"
    ),
    p(
        "listall",
        T::Boolean,
        false,
        "If set to false, list only resources belonging to the command's caller"
    ),
    p(
        "details",
        T::List,
        false,
        "comma separated list of vm details requested"
    )
];
const VM_METRICS_FIELDS: &[Field] = vm_fields!(
    f("ipaddress", "string", "the IPv4 address of the first NIC"),
    f("cputotal", "string", "the total cpu capacity in Ghz"),
    f("memorytotal", "string", "the total memory capacity in GiB"),
);

const EXT_NAME: Param = p("name", T::String, true, "Name of the extension");
const EXT_DETAILS: Param = Param { name: "details", ty: T::Map, required: false, description: "Details in key/value pairs using format details[i].keyname=keyvalue. Example: details[0].endpoint.url=urlvalue", length: 0 };
const CA_PARAMETERS: Param = Param { name: "parameters", ty: T::Map, required: false, description: "Parameters mapping for the action using keys - name, type, required. 'name' is mandatory. If 'type' is not specified then STRING will be used. If 'required' is not specified then false will be used. Example: parameters[0].name=xxx&parameters[0].type=BOOLEAN&parameters[0].required=true", length: 0 };

/// Every command Trellis serves.
pub static COMMANDS: &[Command] = &[
    Command { name: "listApis", description: "lists all available apis on the server, provided by the Api Discovery plugin", since: "4.1.0", isasync: false, roles: roles::ALL,
        params: &[p("name", T::String, false, "API name")],
        response: &[f("name", "string", "the name of the api command"), f("description", "string", "description of the api"), f("since", "string", "version of CloudStack the api was introduced in"), f("isasync", "boolean", "true if api is asynchronous"), f("related", "string", "comma separated related apis"), f("params", "set", "the list params the api accepts"), f("response", "set", "api response fields"), f("type", "string", "response field type")],
        related: "", response_name: None },
    Command { name: "listCapabilities", description: "Lists capabilities", since: "", isasync: false, roles: roles::ALL,
        params: &[], response: CAPABILITY_FIELDS, related: "", response_name: None },
    Command { name: "login", description: "Logs a user into the CloudStack. A successful login attempt will generate a JSESSIONID cookie value that can be passed in subsequent Query command calls until the \"logout\" command has been issued or the session has expired.", since: "", isasync: false, roles: roles::ALL,
        params: &[p("username", T::String, true, "Username"), p("password", T::String, true, "Password"), p("domain", T::String, false, "Path of the domain that the user belongs to. Example: domain=/com/cloud/internal. If no domain is passed in, the ROOT (/) domain is assumed."), p("domainId", T::Long, false, "The id of the domain that the user belongs to. If both domain and domainId are passed in, \"domainId\" parameter takes precedence.")],
        response: LOGIN_FIELDS, related: "", response_name: None },
    Command { name: "logout", description: "Logs out the user", since: "", isasync: false, roles: roles::ALL,
        params: &[], response: &[f("description", "string", "success if the logout action succeeded")], related: "", response_name: None },
    Command { name: "listDomains", description: "Lists domains and provides detailed information for listed domains", since: "", isasync: false, roles: roles::ADMIN | roles::DOMAIN_ADMIN,
        params: list_params![p("id", T::Uuid, false, "List domain by domain ID."), p("name", T::String, false, "List domain by domain name."), p("level", T::Integer, false, "List domains by domain level."), p("listall", T::Boolean, false, "If set to false, list only resources belonging to the command's caller; if set to true - list resources that the caller is authorized to see. Default value is false"), p("details", T::List, false, "comma separated list of domain details requested")],
        response: DOMAIN_FIELDS, related: "createDomain", response_name: None },
    Command { name: "createDomain", description: "Creates a domain", since: "", isasync: false, roles: roles::ADMIN | roles::DOMAIN_ADMIN,
        params: &[p("name", T::String, true, "creates domain with this name"), p("parentdomainid", T::Uuid, false, "assigns new domain a parent domain by domain ID of the parent.  If no parent domain is specified, the ROOT domain is assumed."), p("networkdomain", T::String, false, "Network domain for networks in the domain"), p("domainid", T::String, false, "Domain UUID, required for adding domain from another Region")],
        response: DOMAIN_FIELDS, related: "listDomains", response_name: None },
    Command { name: "listAccounts", description: "Lists accounts and provides detailed account information for listed accounts", since: "", isasync: false, roles: roles::ALL,
        params: list_params![p("id", T::Uuid, false, "list account by account ID"), p("name", T::String, false, "list account by account name"), p("domainid", T::Uuid, false, "list only resources belonging to the domain specified"), p("accounttype", T::Integer, false, "list accounts by account type"), p("listall", T::Boolean, false, "If set to false, list only resources belonging to the command's caller; if set to true - list resources that the caller is authorized to see. Default value is false"), p("state", T::String, false, "list accounts by state")],
        response: ACCOUNT_FIELDS, related: "createAccount", response_name: None },
    Command { name: "createAccount", description: "Creates an account", since: "", isasync: false, roles: roles::ADMIN | roles::DOMAIN_ADMIN,
        params: &[p("username", T::String, true, "Unique username."), p("password", T::String, true, "Clear text password (Default hashed to SHA256SALT)."), p("email", T::String, true, "email"), p("firstname", T::String, true, "firstname"), p("lastname", T::String, true, "lastname"), p("account", T::String, false, "Name of the account to be created. The user will be added to this newly created account. If no value is specified, the username is used"), p("accounttype", T::Integer, false, "Type of the account.  Specify 0 for user, 1 for root admin, and 2 for domain admin"), p("roleid", T::Uuid, false, "Creates the account under the specified role."), p("domainid", T::Uuid, false, "Creates the user under the specified domain."), p("timezone", T::String, false, "Specifies a timezone for this command.")],
        response: ACCOUNT_FIELDS, related: "listAccounts", response_name: None },
    Command { name: "deleteAccount", description: "Deletes a account, and all users associated with this account", since: "", isasync: true, roles: roles::ADMIN | roles::DOMAIN_ADMIN,
        params: &[p("id", T::Uuid, true, "Account id")], response: SUCCESS, related: "", response_name: None },
    Command { name: "listUsers", description: "Lists user accounts", since: "", isasync: false, roles: roles::ALL,
        params: list_params![p("id", T::Uuid, false, "List user by ID."), p("username", T::String, false, "List user by the username"), p("account", T::String, false, "list resources by account. Must be used with the domainId parameter."), p("domainid", T::Uuid, false, "list only resources belonging to the domain specified"), p("accounttype", T::Integer, false, "List users by account type."), p("listall", T::Boolean, false, "If set to false, list only resources belonging to the command's caller; if set to true - list resources that the caller is authorized to see. Default value is false"), p("state", T::String, false, "List users by state of the user account.")],
        response: USER_FIELDS, related: "createUser", response_name: None },
    Command { name: "createUser", description: "Creates a user for an account that already exists", since: "", isasync: false, roles: roles::ADMIN | roles::DOMAIN_ADMIN,
        params: &[p("account", T::String, true, "Creates the user under the specified account. If no account is specified, the username will be used as the account name."), p("username", T::String, true, "Unique username."), p("password", T::String, true, "Clear text password (Default hashed to SHA256SALT)."), p("email", T::String, true, "email"), p("firstname", T::String, true, "firstname"), p("lastname", T::String, true, "lastname"), p("domainid", T::Uuid, false, "Creates the user under the specified domain. Has to be accompanied with the account parameter"), p("timezone", T::String, false, "Specifies a timezone for this command.")],
        response: USER_FIELDS, related: "listUsers", response_name: None },
    Command { name: "registerUserKeys", description: "This command allows a user to register for the developer API, returning a secret key and an API key. This request is made through the integration API port, so it is a privileged command and must be made on behalf of a user. It is up to the implementer just how the username and password are entered, and then how that translates to an integration API request. Both secret key and API key should be returned to the user", since: "", isasync: false, roles: roles::ALL,
        params: &[p("id", T::Uuid, true, "User id")], response: KEYS_FIELDS, related: "getUserKeys", response_name: Some("registeruserkeysresponse") },
    Command { name: "getUser", description: "Find user account by API key", since: "4.4", isasync: false, roles: roles::ALL,
        params: &[p("userapikey", T::String, true, "API key of the user")], response: USER_FIELDS, related: "listUsers", response_name: None },
    Command { name: "getUserKeys", description: "This command allows the user to query the seceret and API keys for the account", since: "4.10.0", isasync: false, roles: roles::ALL,
        params: &[p("id", T::Uuid, true, "ID of the user whose keys are required")], response: KEYS_FIELDS, related: "registerUserKeys", response_name: None },
    Command { name: "updateUser", description: "Updates a user account", since: "", isasync: false, roles: roles::ALL,
        params: &[p("id", T::Uuid, true, "User uuid"), p("username", T::String, false, "Unique username"), p("password", T::String, false, "Clear text password (default hashed to SHA256SALT). If you wish to use any other hashing algorithm, you would need to write a custom authentication adapter. Can't be passed when command is executed via integration.api.port"), p("currentpassword", T::String, false, "Current password that was being used by the user. You must inform the current password when updating the password."), p("firstname", T::String, false, "first name"), p("lastname", T::String, false, "last name"), p("email", T::String, false, "email"), p("timezone", T::String, false, "Specifies a timezone for this command. For more information on the timezone parameter, see Time Zone Format."), p("userapikey", T::String, false, "The API key for the user. Must be specified with userSecretKey"), p("usersecretkey", T::String, false, "The secret key for the user. Must be specified with userApiKey")],
        response: USER_FIELDS, related: "", response_name: None },
    Command { name: "deleteUser", description: "Deletes a user for an account", since: "", isasync: false, roles: roles::ADMIN | roles::DOMAIN_ADMIN,
        params: &[p("id", T::Uuid, true, "id of the user to be deleted")], response: SUCCESS, related: "", response_name: None },
    Command { name: "disableUser", description: "Disables a user account", since: "", isasync: true, roles: roles::ADMIN | roles::DOMAIN_ADMIN,
        params: &[p("id", T::Uuid, true, "Disables user by user ID.")], response: USER_FIELDS, related: "", response_name: None },
    Command { name: "enableUser", description: "Enables a user account", since: "", isasync: false, roles: roles::ADMIN | roles::DOMAIN_ADMIN,
        params: &[p("id", T::Uuid, true, "Enables user by user ID.")], response: USER_FIELDS, related: "", response_name: None },
    Command { name: "lockUser", description: "Locks a user account", since: "", isasync: false, roles: roles::ADMIN | roles::DOMAIN_ADMIN,
        params: &[p("id", T::Uuid, true, "Locks user by user ID.")], response: USER_FIELDS, related: "", response_name: None },
    Command { name: "updateAccount", description: "Updates account information for the authenticated user", since: "", isasync: false, roles: roles::ADMIN | roles::DOMAIN_ADMIN,
        params: &[p("id", T::Uuid, false, "Account UUID"), p("account", T::String, false, "Current account name"), p("domainid", T::Uuid, false, "The UUID of the domain where the account exists"), p("newname", T::String, false, "New name for the account"), p("networkdomain", T::String, false, "Network domain for the account's networks; empty string will update domainName with NULL value"), p("roleid", T::Uuid, false, "The UUID of the dynamic role to set for the account")],
        response: ACCOUNT_FIELDS, related: "", response_name: None },
    Command { name: "disableAccount", description: "Disables an account", since: "", isasync: true, roles: roles::ADMIN | roles::DOMAIN_ADMIN,
        params: &[p("id", T::Uuid, false, "Account id"), p("account", T::String, false, "Disables specified account."), p("domainid", T::Uuid, false, "Disables specified account in this domain."), p("lock", T::Boolean, true, "If true, only lock the account; else disable the account")],
        response: ACCOUNT_FIELDS, related: "", response_name: None },
    Command { name: "enableAccount", description: "Enables an account", since: "", isasync: false, roles: roles::ADMIN | roles::DOMAIN_ADMIN,
        params: &[p("id", T::Uuid, false, "Account id"), p("account", T::String, false, "Enables specified account."), p("domainid", T::Uuid, false, "Enables specified account in this domain.")],
        response: ACCOUNT_FIELDS, related: "", response_name: None },
    Command { name: "lockAccount", description: "This deprecated function used to locks an account. Look for the API DisableAccount instead", since: "", isasync: false, roles: roles::ADMIN | roles::DOMAIN_ADMIN,
        params: &[p("account", T::String, true, "Locks the specified account."), p("domainid", T::Uuid, true, "Locks the specified account on this domain.")],
        response: ACCOUNT_FIELDS, related: "", response_name: None },
    Command { name: "updateDomain", description: "Updates a domain with a new name", since: "", isasync: false, roles: roles::ADMIN | roles::DOMAIN_ADMIN,
        params: &[p("id", T::Uuid, true, "ID of domain to update"), p("name", T::String, false, "updates domain with this name"), p("networkdomain", T::String, false, "Network domain for the domain's networks; empty string will update domainName with NULL value")],
        response: DOMAIN_FIELDS, related: "", response_name: None },
    Command { name: "deleteDomain", description: "Deletes a specified domain", since: "", isasync: true, roles: roles::ADMIN | roles::DOMAIN_ADMIN,
        params: &[p("id", T::Uuid, true, "ID of domain to delete"), p("cleanup", T::Boolean, false, "true if all domain resources (child domains, accounts) have to be cleaned up, false otherwise")],
        response: SUCCESS, related: "", response_name: None },
    Command { name: "listDomainChildren", description: "Lists all children domains belonging to a specified domain", since: "", isasync: false, roles: roles::ADMIN | roles::DOMAIN_ADMIN,
        params: list_params![p("id", T::Uuid, false, "list children domain by parent domain ID."), p("name", T::String, false, "list children domains by name"), p("isrecursive", T::Boolean, false, "to return the entire tree, use the value \"true\". To return the first level children, use the value \"false\".")],
        response: DOMAIN_FIELDS, related: "", response_name: None },
    Command { name: "listRoles", description: "Lists dynamic roles in CloudStack", since: "4.9.0", isasync: false, roles: roles::ADMINS,
        params: list_params![p("id", T::Uuid, false, "List role by role ID."), p("name", T::String, false, "List role by role name."), p("type", T::String, false, "List role by role type, valid options are: Admin, ResourceAdmin, DomainAdmin, User.")],
        response: ROLE_FIELDS, related: "", response_name: None },
    Command { name: "createRole", description: "Creates a role", since: "4.9.0", isasync: false, roles: roles::ADMIN,
        params: &[p("name", T::String, true, "Creates a role with this unique name"), p("type", T::String, false, "The type of the role, valid options are: Admin, ResourceAdmin, DomainAdmin, User"), p("roleid", T::Uuid, false, "ID of the role to be cloned from. Either roleid or type must be passed in"), p("description", T::String, false, "The description of the role"), p("ispublic", T::Boolean, false, "Indicates whether the role will be visible to all users (public) or only to root admins (private). If this parameter is not specified during the creation of the role its value will be defaulted to true (public).")],
        response: ROLE_FIELDS, related: "listRoles", response_name: None },
    Command { name: "updateRole", description: "Updates a role", since: "4.9.0", isasync: false, roles: roles::ADMIN,
        params: &[p("id", T::Uuid, true, "ID of the role"), p("name", T::String, false, "creates a role with this unique name"), p("type", T::String, false, "The type of the role, valid options are: Admin, ResourceAdmin, DomainAdmin, User"), p("description", T::String, false, "The description of the role"), p("ispublic", T::Boolean, false, "Indicates whether the role will be visible to all users (public) or only to root admins (private).")],
        response: ROLE_FIELDS, related: "listRoles", response_name: None },
    Command { name: "deleteRole", description: "Deletes a role", since: "4.9.0", isasync: false, roles: roles::ADMIN,
        params: &[p("id", T::Uuid, true, "ID of the role")], response: SUCCESS, related: "", response_name: None },
    Command { name: "importRole", description: "Imports a role based on provided map of rule permissions", since: "4.15.0", isasync: false, roles: roles::ADMIN,
        params: &[p("name", T::String, true, "Creates a role with this unique name"), p("type", T::String, true, "The type of the role, valid options are: Admin, ResourceAdmin, DomainAdmin, User"), Param { name: "rules", ty: T::Map, required: true, description: "Rules param list, rule and permission is must. Example: rules[0].rule=create*&rules[0].permission=allow&rules[0].description=create%20rule&rules[1].rule=list*&rules[1].permission=allow&rules[1].description=listing", length: 0 }, p("description", T::String, false, "The description of the role"), p("forced", T::Boolean, false, "Force create a role with the same name. This overrides the role type, description and rule permissions for the existing role. Default is false."), p("ispublic", T::Boolean, false, "Indicates whether the role will be visible to all users (public) or only to root admins (private). If this parameter is not specified during the creation of the role its value will be defaulted to true (public).")],
        response: ROLE_FIELDS, related: "listRoles", response_name: None },
    Command { name: "listRolePermissions", description: "Lists role permissions", since: "4.9.0", isasync: false, roles: roles::ADMIN,
        params: &[p("roleid", T::Uuid, false, "ID of the role")], response: ROLE_PERMISSION_FIELDS, related: "", response_name: None },
    Command { name: "createRolePermission", description: "Adds an API permission to a role", since: "4.9.0", isasync: false, roles: roles::ADMIN,
        params: &[p("roleid", T::Uuid, true, "ID of the role"), p("rule", T::String, true, "The API name or wildcard rule such as list*"), p("permission", T::String, true, "The rule permission, allow or deny. Default: deny."), p("description", T::String, false, "The description of the role permission")],
        response: ROLE_PERMISSION_FIELDS, related: "", response_name: None },
    Command { name: "updateRolePermission", description: "Updates a role permission order", since: "4.9.0", isasync: false, roles: roles::ADMIN,
        params: &[p("roleid", T::Uuid, true, "ID of the role"), p("ruleorder", T::List, false, "The parent role permission uuid, use 0 to move this rule at the top of the list"), p("ruleid", T::Uuid, false, "Role permission rule id"), p("permission", T::String, false, "Rule permission, can be: allow or deny")],
        response: SUCCESS, related: "", response_name: None },
    Command { name: "deleteRolePermission", description: "Deletes a role permission", since: "4.9.0", isasync: false, roles: roles::ADMIN,
        params: &[p("id", T::Uuid, true, "ID of the role permission")], response: SUCCESS, related: "", response_name: None },
    Command { name: "listResourceLimits", description: "Lists resource limits.", since: "", isasync: false, roles: roles::ALL,
        params: list_params![p("resourcetype", T::Integer, false, "Type of resource. Values are 0, 1, 2, 4, 5, 6, 8 and 9: 0 - Instance, 1 - public IP, 2 - volume, 4 - template, 5 - project, 6 - network, 8 - CPU, 9 - memory (MiB)."), p("resourcetypename", T::String, false, "Type of resource (wins over resourceType if both are provided): user_vm, public_ip, volume, template, project, network, cpu, memory"), p("account", T::String, false, "list resources by account. Must be used with the domainId parameter."), p("domainid", T::Uuid, false, "list only resources belonging to the domain specified"), p("projectid", T::Uuid, false, "list limits of the project")],
        response: RESOURCE_LIMIT_FIELDS, related: "", response_name: None },
    Command { name: "updateResourceLimit", description: "Updates resource limits for an account or domain.", since: "", isasync: false, roles: roles::ADMIN | roles::DOMAIN_ADMIN,
        params: &[p("resourcetype", T::Integer, true, "Type of resource to update. Values are 0, 1, 2, 4, 5, 6, 8 and 9: 0 - Instance, 1 - public IP, 2 - volume, 4 - template, 5 - project, 6 - network, 8 - CPU, 9 - memory (MiB)."), p("max", T::Long, false, "Maximum resource limit."), p("account", T::String, false, "Update resource for a specified account. Must be used with the domainId parameter."), p("domainid", T::Uuid, false, "Update resource limits for all accounts in specified domain. If used with the account parameter, updates resource limits for a specified account in specified domain."), p("projectid", T::Uuid, false, "Update resource limits for project")],
        response: RESOURCE_LIMIT_FIELDS, related: "", response_name: None },
    Command { name: "updateResourceCount", description: "Recalculate and update resource count for an account or domain. This also executes some cleanup tasks before calculating resource counts.", since: "", isasync: false, roles: roles::ADMIN | roles::DOMAIN_ADMIN,
        params: &[p("domainid", T::Uuid, true, "If account parameter specified then updates resource counts for a specified account in this domain else update resource counts for all accounts & child domains in specified domain."), p("account", T::String, false, "Update resource count for a specified account. Must be used with the domainId parameter."), p("resourcetype", T::Integer, false, "Type of resource to update. If specifies valid values are 0, 1, 2, 4, 5, 6, 8 and 9. If not specified will update all resource counts."), p("projectid", T::Uuid, false, "Update resource limits for project")],
        response: RESOURCE_COUNT_FIELDS, related: "", response_name: None },
    Command { name: "queryAsyncJobResult", description: "Retrieves the current status of asynchronous job.", since: "", isasync: false, roles: roles::ALL,
        params: &[p("jobid", T::Uuid, true, "the ID of the asynchronous job")], response: JOB_FIELDS, related: "listAsyncJobs", response_name: None },
    Command { name: "listAsyncJobs", description: "Lists all pending asynchronous jobs for the account.", since: "", isasync: false, roles: roles::ALL,
        params: list_params![p("startdate", T::Date, false, "The start date of the async job (use format \"yyyy-MM-dd'T'HH:mm:ss'+'SSSS\")"), p("listall", T::Boolean, false, "If set to false, list only resources belonging to the command's caller; if set to true - list resources that the caller is authorized to see. Default value is false")],
        response: JOB_FIELDS, related: "queryAsyncJobResult", response_name: None },
    Command { name: "listEvents", description: "A command to list events.", since: "", isasync: false, roles: roles::ALL,
        params: list_params![p("id", T::Uuid, false, "the ID of the event"), p("type", T::String, false, "the event type (see event types)"), p("level", T::String, false, "the event level (INFO, WARN, ERROR)"), p("resourceid", T::String, false, "the ID of the resource associated with the event"), p("resourcetype", T::String, false, "the type of the resource associated with the event"), p("listall", T::Boolean, false, "If set to false, list only resources belonging to the command's caller; if set to true - list resources that the caller is authorized to see. Default value is false")],
        response: EVENT_FIELDS, related: "", response_name: None },
    Command { name: "listAlerts", description: "Lists all alerts.", since: "", isasync: false, roles: roles::ADMIN,
        params: list_params![p("id", T::Uuid, false, "the ID of the alert"), p("type", T::String, false, "list by alert type"), p("name", T::String, false, "list by alert name")],
        response: ALERT_FIELDS, related: "", response_name: None },
    Command { name: "listManagementServers", description: "Lists management servers: each with its state, version, last start and heartbeat, and the extensions whose executable is ready on it.", since: "4.2.0", isasync: false, roles: roles::ADMIN,
        params: list_params![p("id", T::Uuid, false, "the id of the management server"), p("name", T::String, false, "the name of the management server")],
        response: MANAGEMENT_SERVER_FIELDS, related: "", response_name: None },
    Command { name: "listConfigurations", description: "Lists all configurations.", since: "", isasync: false, roles: roles::ADMIN,
        params: list_params![p("name", T::String, false, "lists configuration by name"), p("category", T::String, false, "lists configurations by category")],
        response: CONFIG_FIELDS, related: "updateConfiguration", response_name: None },
    Command { name: "updateConfiguration", description: "Updates a configuration.", since: "", isasync: false, roles: roles::ADMIN,
        params: &[p("name", T::String, true, "the name of the configuration"), Param { name: "value", ty: T::String, required: false, description: "the value of the configuration", length: 4096 }],
        response: CONFIG_FIELDS, related: "listConfigurations", response_name: None },
    Command { name: "listZones", description: "Lists zones", since: "", isasync: false, roles: roles::ALL,
        params: list_params![p("id", T::Uuid, false, "the ID of the zone"), p("ids", T::List, false, "the IDs of the zones, mutually exclusive with id"), p("name", T::String, false, "the name of the zone"), p("available", T::Boolean, false, "true if you want to retrieve all available Zones. False if you only want to return the Zones from which you have at least one VM. Default is false."), p("networktype", T::String, false, "the network type of the zone that the virtual machine belongs to"), p("showcapacities", T::Boolean, false, "flag to display the capacity of the zones")],
        response: ZONE_FIELDS, related: "createZone", response_name: None },
    Command { name: "listLdapConfigurations", description: "Lists all LDAP configurations", since: "4.2.0", isasync: false, roles: roles::ADMIN,
        params: list_params![p("hostname", T::String, false, "Hostname"), p("port", T::Integer, false, "Port")],
        response: &[f("hostname", "string", "name of the host running the ldap server"), f("port", "integer", "port the ldap server is running on")], related: "", response_name: Some("ldapconfigurationresponse") },
    // Extensions framework (since 4.21.0).
    Command { name: "createExtension", description: "Create an extension", since: "4.21.0", isasync: false, roles: roles::ADMIN,
        params: &[EXT_NAME, long_text("description", false, "Description of the extension"), p("type", T::String, true, "Type of the extension"), Param { name: "path", ty: T::String, required: false, description: "Relative path for the extension", length: 2048 }, p("orchestratorrequirespreparevm", T::Boolean, false, "Only honored when type is Orchestrator. Whether prepare VM is needed or not"), p("state", T::String, false, "State of the extension"), EXT_DETAILS],
        response: EXTENSION_FIELDS, related: "listExtensions,updateExtension,deleteExtension", response_name: None },
    Command { name: "listExtensions", description: "Lists extensions", since: "4.21.0", isasync: false, roles: roles::ADMIN,
        params: list_params![p("name", T::String, false, "Name of the extension"), p("id", T::Uuid, false, "uuid of the extension"), p("details", T::List, false, "comma separated list of extension details requested, value can be a list of [all, resource, external, min]. When no parameters are passed, all the details are returned.")],
        response: EXTENSION_FIELDS, related: "createExtension", response_name: None },
    Command { name: "updateExtension", description: "Update the extension", since: "4.21.0", isasync: false, roles: roles::ADMIN,
        params: &[p("id", T::Uuid, true, "The ID of the extension"), long_text("description", false, "Description of the extension"), p("orchestratorrequirespreparevm", T::Boolean, false, "Only honored when type is Orchestrator. Whether prepare VM is needed or not"), p("state", T::String, false, "State of the extension"), EXT_DETAILS, p("cleanupdetails", T::Boolean, false, "Optional boolean field, which indicates if details should be cleaned up or not (If set to true, details removed for this resource, details field ignored; if false or not set, no action)")],
        response: EXTENSION_FIELDS, related: "listExtensions", response_name: None },
    Command { name: "deleteExtension", description: "Delete the extensions", since: "4.21.0", isasync: false, roles: roles::ADMIN,
        params: &[p("id", T::Uuid, false, "ID of the extension"), p("cleanup", T::Boolean, false, "Whether cleanup entry-point files for the extension")],
        response: SUCCESS, related: "createExtension", response_name: None },
    Command { name: "syncExtension", description: "To sync the extension files from one management server to other management server(s)", since: "4.23.0", isasync: true, roles: roles::ADMIN,
        params: &[p("id", T::Uuid, true, "ID of the extension"), p("sourcemanagementserverid", T::Uuid, true, "ID of the management server from which files are to be synced (the server that receives the request)"), p("targetmanagementserverids", T::List, false, "the IDs of the management servers to which the extension files are to be synced. If not specified, the files will be synced to all management servers"), p("files", T::List, false, "List of files to sync. Specify absolute or relative paths. If not provided, all extension files will be synced.")],
        response: SUCCESS, related: "listExtensions", response_name: None },
    Command { name: "importExtension", description: "Imports an extension", since: "4.23.0", isasync: false, roles: roles::ADMIN,
        params: &[p("manifesturl", T::String, true, "URL of the extension manifest import file"), p("checksum", T::String, false, "SHA-256 of the extension archive (hex, optionally prefixed {SHA-256}); required unless the manifest gives source.sha256")],
        response: EXTENSION_FIELDS, related: "listExtensions", response_name: None },
    Command { name: "registerExtension", description: "Register an extension with a resource", since: "4.21.0", isasync: false, roles: roles::ADMIN,
        params: &[p("extensionid", T::Uuid, true, "ID of the extension"), p("resourceid", T::String, true, "ID of the resource to register the extension with"), p("resourcetype", T::String, true, "Type of the resource"), EXT_DETAILS],
        response: EXTENSION_FIELDS, related: "unregisterExtension", response_name: None },
    Command { name: "updateRegisteredExtension", description: "Update the details of an extension's registration with a resource", since: "4.23.0", isasync: false, roles: roles::ADMIN,
        params: &[p("extensionid", T::Uuid, true, "ID of the extension"), p("resourceid", T::String, true, "ID of the resource the extension is registered with"), p("resourcetype", T::String, true, "Type of the resource: Cluster"), EXT_DETAILS, p("cleanupdetails", T::Boolean, false, "Optional boolean field, which indicates if details should be cleaned up or not (If set to true, details removed for this resource, details field ignored; if false or not set, no action)")],
        response: EXTENSION_FIELDS, related: "registerExtension", response_name: None },
    Command { name: "unregisterExtension", description: "Unregister an extension with a resource", since: "4.21.0", isasync: false, roles: roles::ADMIN,
        params: &[p("extensionid", T::Uuid, true, "ID of the extension"), p("resourceid", T::String, true, "ID of the resource to register the extension with"), p("resourcetype", T::String, true, "Type of the resource")],
        response: EXTENSION_FIELDS, related: "registerExtension", response_name: None },
    Command { name: "addCustomAction", description: "Add a custom action for an extension", since: "4.21.0", isasync: false, roles: roles::ADMIN,
        params: &[p("extensionid", T::Uuid, true, "The ID of the extension to associate the action with"), p("name", T::String, true, "Name of the action"), long_text("description", false, "Description of the action"), p("resourcetype", T::String, false, "Resource type for which the action is available"), p("allowedroletypes", T::List, false, "List of role types allowed for the action"), CA_PARAMETERS, long_text("successmessage", false, "Success message that will be used on successful execution of the action. Name of the action, extension, resource can be used as variables. Example: Successfully complete {{actionName}} for {{resourceName}} with {{extensionName}}"), long_text("errormessage", false, "Error message that will be used on failure during execution of the action. Name of the action, extension, resource can be used as variables. Example: Failed to complete {{actionName}} for {{resourceName}} with {{extensionName}}"), p("timeout", T::Integer, false, "Specifies the timeout in seconds to wait for the action to complete before failing. Default value is 5 seconds"), p("enabled", T::Boolean, false, "Whether the action is enabled or not. Default is disabled."), EXT_DETAILS],
        response: CUSTOM_ACTION_FIELDS, related: "listCustomActions", response_name: None },
    Command { name: "listCustomActions", description: "Lists the custom actions", since: "4.21.0", isasync: false, roles: roles::ALL,
        params: list_params![p("id", T::Uuid, false, "uuid of the custom action"), p("name", T::String, false, "Name of the custom action"), p("extensionid", T::Uuid, false, "uuid of the extension"), p("resourcetype", T::String, false, "Type of the resource for actions"), p("resourceid", T::String, false, "ID of a resource for actions"), p("enabled", T::Boolean, false, "List actions whether they are enabled or not"), p("listall", T::Boolean, false, "If set to false, list only resources belonging to the command's caller; if set to true - list resources that the caller is authorized to see.")],
        response: CUSTOM_ACTION_FIELDS, related: "addCustomAction", response_name: None },
    Command { name: "updateCustomAction", description: "Update the custom action", since: "4.21.0", isasync: false, roles: roles::ADMIN,
        params: &[p("id", T::Uuid, true, "ID of the custom action"), long_text("description", false, "The description of the command"), p("resourcetype", T::String, false, "Type of the resource for actions"), p("allowedroletypes", T::List, false, "List of role types allowed for the action"), p("enabled", T::Boolean, false, "Whether the action is enabled or not"), CA_PARAMETERS, p("cleanupparameters", T::Boolean, false, "Optional boolean field, which indicates if parameters should be cleaned up or not (If set to true, parameters will be removed for this action, parameters field ignored; if false or not set, no action)"), long_text("successmessage", false, "Success message that will be used on successful execution of the action. Name of the action, extension, resource can be used as variables."), long_text("errormessage", false, "Error message that will be used on failure during execution of the action. Name of the action, extension, resource can be used as variables."), p("timeout", T::Integer, false, "Specifies the timeout in seconds to wait for the action to complete before failing"), EXT_DETAILS, p("cleanupdetails", T::Boolean, false, "Optional boolean field, which indicates if details should be cleaned up or not (If set to true, details removed for this action, details field ignored; if false or not set, no action)")],
        response: CUSTOM_ACTION_FIELDS, related: "listCustomActions", response_name: None },
    Command { name: "deleteCustomAction", description: "Delete the custom action", since: "4.21.0", isasync: false, roles: roles::ADMIN,
        params: &[p("id", T::Uuid, false, "uuid of the custom action")], response: SUCCESS, related: "addCustomAction", response_name: None },
    Command { name: "runCustomAction", description: "Run the custom action", since: "4.21.0", isasync: true, roles: roles::ALL,
        params: &[p("customactionid", T::Uuid, true, "the ID of the custom action"), p("resourcetype", T::String, false, "Type of the resource"), p("resourceid", T::String, true, "ID of the instance"), Param { name: "parameters", ty: T::Map, required: false, description: "Parameters in key/value pairs using format parameters[i].keyname=keyvalue. Example: parameters[0].endpoint.url=urlvalue", length: 0 }],
        response: CUSTOM_ACTION_RESULT_FIELDS, related: "listCustomActions", response_name: None },
    // Infrastructure and instances on External clusters.
    Command { name: "createZone", description: "Creates a Zone.", since: "", isasync: false, roles: roles::ADMIN,
        params: &[p("name", T::String, true, "the name of the Zone"), p("dns1", T::String, false, "the first DNS for the Zone"), p("dns2", T::String, false, "the second DNS for the Zone"), p("internaldns1", T::String, false, "the first internal DNS for the Zone"), p("internaldns2", T::String, false, "the second internal DNS for the Zone"), p("networktype", T::String, false, "network type of the zone, can be Basic or Advanced (default)"), long_text("description", false, "the description of the zone"), p("localstorageenabled", T::Boolean, false, "true if local storage offering enabled, false otherwise"), p("securitygroupenabled", T::Boolean, false, "true if network is security group enabled, false otherwise")],
        response: ZONE_FIELDS, related: "listZones", response_name: None },
    Command { name: "updateZone", description: "Updates a Zone.", since: "", isasync: false, roles: roles::ADMIN,
        params: &[p("id", T::Uuid, true, "the ID of the Zone"), p("name", T::String, false, "the name of the Zone"), p("dns1", T::String, false, "the first DNS for the Zone"), long_text("description", false, "the description of the zone"), p("allocationstate", T::String, false, "Allocation state of this cluster for allocation of new resources")],
        response: ZONE_FIELDS, related: "listZones", response_name: None },
    Command { name: "deleteZone", description: "Deletes a Zone.", since: "", isasync: false, roles: roles::ADMIN,
        params: &[p("id", T::Uuid, true, "the ID of the Zone")], response: SUCCESS, related: "", response_name: None },
    Command { name: "createPod", description: "Creates a new Pod.", since: "", isasync: false, roles: roles::ADMIN,
        params: &[p("name", T::String, true, "the name of the Pod"), p("zoneid", T::Uuid, true, "the Zone ID in which the Pod will be created"), p("gateway", T::String, false, "the gateway for the Pod"), p("netmask", T::String, false, "the netmask for the Pod"), p("startip", T::String, false, "the starting IP address for the Pod"), p("endip", T::String, false, "the ending IP address for the Pod"), p("allocationstate", T::String, false, "Allocation state of this Pod for allocation of new resources")],
        response: POD_FIELDS, related: "listPods", response_name: None },
    Command { name: "listPods", description: "Lists all Pods.", since: "", isasync: false, roles: roles::ADMIN,
        params: list_params![p("id", T::Uuid, false, "list Pods by ID"), p("name", T::String, false, "list Pods by name"), p("zoneid", T::Uuid, false, "list Pods by Zone ID"), p("allocationstate", T::String, false, "list pods by allocation state")],
        response: POD_FIELDS, related: "createPod", response_name: None },
    Command { name: "deletePod", description: "Deletes a Pod.", since: "", isasync: false, roles: roles::ADMIN,
        params: &[p("id", T::Uuid, true, "the ID of the Pod")], response: SUCCESS, related: "", response_name: None },
    Command { name: "addCluster", description: "Adds a new cluster", since: "", isasync: false, roles: roles::ADMIN,
        params: &[p("clustername", T::String, true, "the cluster name"), p("zoneid", T::Uuid, true, "the Zone ID for the cluster"), p("podid", T::Uuid, false, "the Pod ID for the host (the zone's first pod when omitted)"), p("hypervisor", T::String, true, "hypervisor type of the cluster: External"), p("clustertype", T::String, false, "type of the cluster: CloudManaged, ExternalManaged"), p("allocationstate", T::String, false, "Allocation state of this cluster for allocation of new resources"), p("arch", T::String, false, "the CPU arch of the cluster. Valid options are: x86_64, aarch64"), p("extensionid", T::Uuid, false, "UUID of the extension"), Param { name: "externaldetails", ty: T::Map, required: false, description: "Details in key/value pairs to be added to the extension-resource mapping. Use the format externaldetails[i].<key>=<value>. Example: externaldetails[0].endpoint.url=https://example.com", length: 0 }],
        response: CLUSTER_FIELDS, related: "listClusters", response_name: None },
    Command { name: "listClusters", description: "Lists clusters.", since: "", isasync: false, roles: roles::ADMIN,
        params: list_params![p("id", T::Uuid, false, "lists clusters by the cluster ID"), p("name", T::String, false, "lists clusters by the cluster name"), p("zoneid", T::Uuid, false, "lists clusters by Zone ID"), p("podid", T::Uuid, false, "lists clusters by Pod ID"), p("hypervisor", T::String, false, "lists clusters by hypervisor type"), p("allocationstate", T::String, false, "lists clusters by allocation state")],
        response: CLUSTER_FIELDS, related: "addCluster", response_name: None },
    Command { name: "updateCluster", description: "Updates an existing cluster", since: "", isasync: false, roles: roles::ADMIN,
        params: &[p("id", T::Uuid, true, "the ID of the Cluster"), p("clustername", T::String, false, "the cluster name"), p("allocationstate", T::String, false, "Allocation state of this cluster for allocation of new resources"), Param { name: "externaldetails", ty: T::Map, required: false, description: "Details in key/value pairs to be added to the extension-resource mapping. Use the format externaldetails[i].<key>=<value>.", length: 0 }],
        response: CLUSTER_FIELDS, related: "listClusters", response_name: None },
    Command { name: "deleteCluster", description: "Deletes a cluster.", since: "", isasync: false, roles: roles::ADMIN,
        params: &[p("id", T::Uuid, true, "the cluster ID")], response: SUCCESS, related: "", response_name: None },
    Command { name: "addHost", description: "Adds a new host.", since: "", isasync: false, roles: roles::ADMIN,
        params: &[p("zoneid", T::Uuid, true, "the Zone ID for the host"), p("podid", T::Uuid, false, "the Pod ID for the host"), p("clusterid", T::Uuid, true, "the cluster ID for the host"), p("url", T::String, true, "the host URL"), p("username", T::String, false, "the username for the host"), p("password", T::String, false, "the password for the host"), p("hypervisor", T::String, true, "hypervisor type of the host: External"), p("hosttags", T::List, false, "list of tags to be added to the host"), p("allocationstate", T::String, false, "Allocation state of this Host for allocation of new resources"), Param { name: "externaldetails", ty: T::Map, required: false, description: "Details in key/value pairs using format externaldetails[i].keyname=keyvalue. Example: externaldetails[0].endpoint.url=urlvalue", length: 0 }],
        response: HOST_FIELDS, related: "listHosts", response_name: None },
    Command { name: "listHosts", description: "Lists hosts.", since: "", isasync: false, roles: roles::ADMIN,
        params: list_params![p("id", T::Uuid, false, "the id of the host"), p("name", T::String, false, "the name of the host"), p("zoneid", T::Uuid, false, "the Zone ID for the host"), p("podid", T::Uuid, false, "the Pod ID for the host"), p("clusterid", T::Uuid, false, "lists hosts existing in particular cluster"), p("type", T::String, false, "the host type"), p("state", T::String, false, "the state of the host"), p("resourcestate", T::String, false, "list hosts by resource state"), p("hypervisor", T::String, false, "hypervisor type of host")],
        response: HOST_FIELDS, related: "addHost", response_name: None },
    Command { name: "updateHost", description: "Updates a host.", since: "", isasync: false, roles: roles::ADMIN,
        params: &[p("id", T::Uuid, true, "the ID of the host to update"), p("name", T::String, false, "the new name of the host"), p("hosttags", T::List, false, "list of tags to be added to the host"), p("allocationstate", T::String, false, "Change resource state of host, valid values are [Enable, Disable]"), Param { name: "externaldetails", ty: T::Map, required: false, description: "Details in key/value pairs using format externaldetails[i].keyname=keyvalue. Example: externaldetails[0].endpoint.url=urlvalue", length: 0 }, p("cleanupexternaldetails", T::Boolean, false, "Optional boolean field, which indicates if external details should be cleaned up or not (If set to true, external details removed for this host, externaldetails field ignored; if false or not set, no action)")],
        response: HOST_FIELDS, related: "listHosts", response_name: None },
    Command { name: "deleteHost", description: "Deletes a host.", since: "", isasync: false, roles: roles::ADMIN,
        params: &[p("id", T::Uuid, true, "the host ID"), p("forced", T::Boolean, false, "Force delete the host. All HA enabled vms running on the host will be put to HA; HA disabled ones will be stopped")],
        response: SUCCESS, related: "", response_name: None },
    Command { name: "prepareHostForMaintenance", description: "Prepares a host for maintenance.", since: "", isasync: true, roles: roles::ADMIN,
        params: &[p("id", T::Uuid, true, "the host ID")], response: HOST_FIELDS, related: "cancelHostMaintenance", response_name: None },
    Command { name: "cancelHostMaintenance", description: "Cancels host maintenance.", since: "", isasync: true, roles: roles::ADMIN,
        params: &[p("id", T::Uuid, true, "the host ID")], response: HOST_FIELDS, related: "prepareHostForMaintenance", response_name: None },
    Command { name: "listHypervisors", description: "List hypervisors", since: "", isasync: false, roles: roles::ALL,
        params: &[p("zoneid", T::Uuid, false, "the zone id for listing hypervisors.")], response: &[f("name", "string", "Hypervisor name")], related: "", response_name: None },
    Command { name: "createServiceOffering", description: "Creates a service offering.", since: "", isasync: false, roles: roles::ADMIN,
        params: &[p("name", T::String, true, "the name of the service offering"), p("displaytext", T::String, false, "The display text of the service offering, defaults to 'name'."), p("cpunumber", T::Integer, true, "the CPU number of the service offering"), p("cpuspeed", T::Integer, false, "the CPU speed of the service offering in MHz."), p("memory", T::Integer, true, "the total memory of the service offering in MB"), p("hosttags", T::String, false, "the host tag for this service offering."), Param { name: "externaldetails", ty: T::Map, required: false, description: "Details in key/value pairs using format externaldetails[i].keyname=keyvalue. Example: externaldetails[0].endpoint.url=urlvalue", length: 0 }],
        response: OFFERING_FIELDS, related: "listServiceOfferings", response_name: None },
    Command { name: "updateServiceOffering", description: "Updates a service offering.", since: "", isasync: false, roles: roles::ADMIN,
        params: &[p("id", T::Uuid, true, "the ID of the service offering to be updated"), p("name", T::String, false, "the name of the service offering to be updated"), p("displaytext", T::String, false, "the display text of the service offering to be updated"), Param { name: "externaldetails", ty: T::Map, required: false, description: "Details in key/value pairs using format externaldetails[i].keyname=keyvalue.", length: 0 }, p("cleanupexternaldetails", T::Boolean, false, "Optional boolean field, which indicates if external details should be cleaned up or not")],
        response: OFFERING_FIELDS, related: "listServiceOfferings", response_name: None },
    Command { name: "deleteServiceOffering", description: "Deletes a service offering.", since: "", isasync: false, roles: roles::ADMIN,
        params: &[p("id", T::Uuid, true, "the ID of the service offering")], response: SUCCESS, related: "", response_name: None },
    Command { name: "listServiceOfferings", description: "Lists all available service offerings.", since: "", isasync: false, roles: roles::ALL,
        params: list_params![p("id", T::Uuid, false, "ID of the service offering"), p("name", T::String, false, "name of the service offering"), p("zoneid", T::Uuid, false, "id of zone disk offering is associated with"), p("virtualmachineid", T::Uuid, false, "the ID of the virtual machine")],
        response: OFFERING_FIELDS, related: "createServiceOffering", response_name: None },
    Command { name: "registerTemplate", description: "Registers an existing template into the CloudStack cloud.", since: "", isasync: false, roles: roles::ALL,
        params: &[p("passwordenabled", T::Boolean, false, "true if the template supports the password reset feature (External: only false)"), p("isdynamicallyscalable", T::Boolean, false, "true if the template contains XS/VMWare tools inorder to support dynamic scaling of VM cpu/memory (External: only false)"), p("bits", T::Integer, false, "32 or 64 bits support. 64 by default (only 64)"), p("name", T::String, true, "the name of the template"), p("displaytext", T::String, false, "The display text of the template, defaults to 'name'."), p("format", T::String, true, "the format of the template: EXTERNAL, QCOW2, RAW, VHD, VHDX, OVA, VMDK, ISO or TAR (passed to the extension)"), p("hypervisor", T::String, true, "the target hypervisor for the template: External"), Param { name: "url", ty: T::String, required: true, description: "the URL of where the template is hosted (not downloaded for External templates)", length: 2048 }, p("zoneid", T::Uuid, false, "the ID of the zone the template is to be hosted on"), p("zoneids", T::List, false, "A list of zone ids where the template will be hosted"), p("ostypeid", T::Uuid, false, "the ID of the OS Type that best represents the OS of this template (listOsTypes; default Other (64-bit))"), p("arch", T::String, false, "the CPU arch of the template. Valid options are: x86_64, aarch64"), p("ispublic", T::Boolean, false, "true if the template is available to all accounts; default is false (non-administrators need the setting allow.public.user.templates)"), p("isfeatured", T::Boolean, false, "true if this template is a featured template, false otherwise"), p("extensionid", T::Uuid, false, "ID of the extension"), Param { name: "externaldetails", ty: T::Map, required: false, description: "Details in key/value pairs using format externaldetails[i].keyname=keyvalue. Example: externaldetails[0].endpoint.url=urlvalue", length: 0 }, p("projectid", T::Uuid, false, "Register template for the project")],
        response: TEMPLATE_FIELDS, related: "listTemplates", response_name: None },
    Command { name: "createTemplate", description: "Creates a template of a virtual machine from its ROOT volume (the instance's extension must implement the createtemplate action).", since: "", isasync: true, roles: roles::ALL,
        params: &[p("passwordenabled", T::Boolean, false, "true if the template supports the password reset feature (External: only false)"), p("isdynamicallyscalable", T::Boolean, false, "true if the template contains XS/VMWare tools inorder to support dynamic scaling of VM cpu/memory (External: only false)"), p("name", T::String, true, "the name of the template"), long_text("displaytext", false, "The display text of the template, defaults to the 'name'."), p("ostypeid", T::Uuid, true, "the ID of the OS Type that best represents the OS of this template."), p("volumeid", T::Uuid, false, "the ID of the disk volume the template is being created from. Either this parameter, or snapshotId has to be passed in"), p("snapshotid", T::Uuid, false, "the ID of the snapshot the template is being created from (External instances have none: refused)"), p("virtualmachineid", T::Uuid, false, "Bare-metal only (refused)"), p("url", T::String, false, "Bare-metal only (refused)"), p("ispublic", T::Boolean, false, "true if this template is a public template, false otherwise"), p("isfeatured", T::Boolean, false, "true if this template is a featured template, false otherwise")],
        response: TEMPLATE_FIELDS, related: "listTemplates", response_name: None },
    Command { name: "updateTemplate", description: "Updates attributes of a template.", since: "", isasync: false, roles: roles::ALL,
        params: &[p("id", T::Uuid, true, "the ID of the image file"), p("name", T::String, false, "the name of the image file"), long_text("displaytext", false, "the display text of the image"), p("ostypeid", T::Uuid, false, "the ID of the OS type that best represents the OS of this image."), p("format", T::String, false, "the format for the image"), p("arch", T::String, false, "the CPU arch of the template/ISO. Valid options are: x86_64, aarch64"), p("isfeatured", T::Boolean, false, "true if this template is a featured template (root administrators only)"), Param { name: "externaldetails", ty: T::Map, required: false, description: "Details in key/value pairs using format externaldetails[i].keyname=keyvalue; replaces the template's external details", length: 0 }, p("cleanupexternaldetails", T::Boolean, false, "Optional boolean field, which indicates if external details should be cleaned up or not")],
        response: TEMPLATE_FIELDS, related: "listTemplates", response_name: None },
    Command { name: "listOsTypes", description: "Lists all supported OS types for this cloud.", since: "", isasync: false, roles: roles::ALL,
        params: list_params![p("id", T::Uuid, false, "list by Os type Id"), p("ids", T::List, false, "list of OS type IDs"), p("oscategoryid", T::Uuid, false, "list by Os Category id"), p("description", T::String, false, "list os by description"), p("fordisplay", T::Boolean, false, "list resources by display flag; only ROOT admin is eligible to pass this parameter")],
        response: &[f("id", "string", "the ID of the OS type"), f("description", "string", "the name/description of the OS type"), f("name", "string", "the name of the OS type"), f("oscategoryid", "string", "the ID of the OS category"), f("oscategoryname", "string", "the name of the OS category"), f("isuserdefined", "boolean", "is the guest OS user defined"), f("fordisplay", "boolean", "is the guest OS visible for the users")],
        related: "", response_name: None },
    Command { name: "listOsCategories", description: "Lists all supported OS categories for this cloud.", since: "", isasync: false, roles: roles::ALL,
        params: list_params![p("id", T::Uuid, false, "list Os category by id"), p("name", T::String, false, "list os category by name")],
        response: &[f("id", "string", "the ID of the OS category"), f("name", "string", "the name of the OS category")],
        related: "", response_name: None },
    Command { name: "listTemplates", description: "List all public, private, and privileged templates.", since: "", isasync: false, roles: roles::ALL,
        params: list_params![TAGS_FILTER, p("templatefilter", T::String, true, "possible values are \"featured\", \"self\", \"selfexecutable\",\"sharedexecutable\",\"executable\", and \"community\""), p("id", T::Uuid, false, "the template ID"), p("name", T::String, false, "the template name"), p("zoneid", T::Uuid, false, "list templates by zoneId"), p("hypervisor", T::String, false, "the hypervisor for which to restrict the search"), p("extensionid", T::Uuid, false, "ID of the extension for the template"), p("projectid", T::Uuid, false, "list objects by project; if projectid=-1 lists All VMs")],
        response: TEMPLATE_FIELDS, related: "registerTemplate", response_name: None },
    Command { name: "deleteTemplate", description: "Deletes a template", since: "", isasync: true, roles: roles::ALL,
        params: &[p("id", T::Uuid, true, "the ID of the template"), p("zoneid", T::Uuid, false, "the ID of zone of the template")], response: SUCCESS, related: "", response_name: None },
    Command { name: "listNetworkOfferings", description: "Lists all available network offerings.", since: "", isasync: false, roles: roles::ALL,
        params: list_params![p("id", T::Uuid, false, "list network offerings by ID"), p("name", T::String, false, "list network offerings by name"), p("guestiptype", T::String, false, "list network offerings by guest type: shared, isolated or l2"), p("zoneid", T::Uuid, false, "list network offerings available for network creation in specific zone"), p("state", T::String, false, "list network offerings by state")],
        response: NETWORK_OFFERING_FIELDS, related: "", response_name: None },
    Command { name: "createNetwork", description: "Creates a network", since: "", isasync: false, roles: roles::ALL,
        params: &[p("name", T::String, true, "the name of the network"), p("displaytext", T::String, false, "the display text of the network"), p("networkofferingid", T::Uuid, true, "the network offering ID"), p("zoneid", T::Uuid, true, "the zone ID for the network"), p("vlan", T::String, false, "the ID or VID of the network"), p("gateway", T::String, false, "the gateway of the network"), p("netmask", T::String, false, "the netmask of the network"), p("startip", T::String, false, "the beginning IP address in the network IP range"), p("endip", T::String, false, "the ending IP address in the network IP range"), p("projectid", T::Uuid, false, "an optional project for the network")],
        response: NETWORK_FIELDS, related: "listNetworks", response_name: None },
    Command { name: "listNetworks", description: "Lists all available networks.", since: "", isasync: false, roles: roles::ALL,
        params: list_params![p("id", T::Uuid, false, "list networks by ID"), p("zoneid", T::Uuid, false, "the zone ID of the network"), p("listall", T::Boolean, false, "If set to false, list only resources belonging to the command's caller"), p("restartrequired", T::Boolean, false, "list networks by restartRequired"), p("forvpc", T::Boolean, false, "the network belongs to VPC"), p("type", T::String, false, "the type of the network"), p("projectid", T::Uuid, false, "list objects by project; if projectid=-1 lists All VMs")],
        response: NETWORK_FIELDS, related: "createNetwork", response_name: None },
    Command { name: "deleteNetwork", description: "Deletes a network", since: "", isasync: true, roles: roles::ALL,
        params: &[p("id", T::Uuid, true, "the ID of the network"), p("forced", T::Boolean, false, "Force delete a network.")], response: SUCCESS, related: "", response_name: None },
    Command { name: "deployVirtualMachine", description: "Creates and automatically starts a virtual machine based on a service offering, disk offering, and template.", since: "", isasync: true, roles: roles::ALL,
        params: &[p("zoneid", T::Uuid, true, "availability zone for the virtual machine"), p("serviceofferingid", T::Uuid, true, "the ID of the service offering for the virtual machine"), p("templateid", T::Uuid, true, "the ID of the template for the virtual machine"), p("name", T::String, false, "host name for the virtual machine"), p("displayname", T::String, false, "an optional user generated name for the virtual machine"), p("networkids", T::List, false, "list of network ids used by virtual machine"), p("startvm", T::Boolean, false, "true if start vm after creating; defaulted to true if not specified"), p("hostid", T::Uuid, false, "destination Host ID to deploy the VM to - parameter available for root admin only"), p("hypervisor", T::String, false, "the hypervisor on which to deploy the virtual machine"), Param { name: "userdata", ty: T::String, required: false, description: "an optional binary data that can be sent to the virtual machine upon a successful deployment (base64)", length: 1_048_576 }, p("keypair", T::String, false, "name of the ssh key pair used to login to the virtual machine"), p("keypairs", T::List, false, "names of the ssh key pairs used to login to the virtual machine"), p("userdataid", T::Uuid, false, "the ID of the registered user data (not supported: registered user data does not exist here)"), Param { name: "userdatadetails", ty: T::Map, required: false, description: "used to specify the parameters values for the variables in userdata (not supported)", length: 0 }, Param { name: "details", ty: T::Map, required: false, description: "used to specify the custom parameters.", length: 0 }, Param { name: "externaldetails", ty: T::Map, required: false, description: "Details in key/value pairs using format externaldetails[i].keyname=keyvalue. Example: externaldetails[0].server.type=typevalue", length: 0 }, p("clusterid", T::Uuid, false, "destination Cluster ID to deploy the VM to - parameter available for root admin only"), p("podid", T::Uuid, false, "destination Pod ID to deploy the VM to - parameter available for root admin only"), p("rootdisksize", T::Long, false, "Optional field to resize root disk on deploy. Value is in GB."), p("boottype", T::String, false, "Guest VM Boot option either custom[UEFI] or default boot [BIOS]."), p("bootmode", T::String, false, "Boot Mode [Legacy] or [Secure] Applicable when Boot Type Selected is UEFI, otherwise Legacy only for BIOS."), p("projectid", T::Uuid, false, "Deploy vm for the project"), p("account", T::String, false, "an optional account for the virtual machine. Must be used with domainId."), p("domainid", T::Uuid, false, "an optional domainId for the virtual machine. If the account parameter is used, domainId must also be used."), p("affinitygroupids", T::List, false, "comma separated list of affinity groups id that are going to be applied to the virtual machine. Mutually exclusive with affinitygroupnames parameter"), p("affinitygroupnames", T::List, false, "comma separated list of affinity groups names that are going to be applied to the virtual machine.Mutually exclusive with affinitygroupids parameter"), p("securitygroupids", T::List, false, "security groups (External zones have none: refused unless empty)"), p("securitygroupnames", T::List, false, "security groups (External zones have none: refused unless empty)"), Param { name: "iptonetworklist", ty: T::Map, required: false, description: "ip to network mapping. Can't be specified with networkIds parameter. Example: iptonetworklist[0].ip=10.10.10.11&iptonetworklist[0].ipv6=fc00:1234:5678::abcd&iptonetworklist[0].networkid=uuid&iptonetworklist[0].mac=aa:bb:cc:dd:ee::ff - requests to use ip 10.10.10.11 in network id=uuid (ipv6 is refused)", length: 0 }, p("ipaddress", T::String, false, "the ip address for default vm's network"), p("ip6address", T::String, false, "the ipv6 address for default vm's network (refused: IPv6 is not supported)"), p("macaddress", T::String, false, "the mac address for default vm's network"), p("diskofferingid", T::Uuid, false, "the ID of the disk offering for the virtual machine (validated and recorded: External instances take no data volume from it)"), p("size", T::Long, false, "the arbitrary size for the DATADISK volume, in GiB, for a customized disk offering"), Param { name: "datadisksdetails", ty: T::Map, required: false, description: "data disks (refused)", length: 0 }, p("group", T::String, false, "an optional group for the virtual machine"), p("password", T::String, false, "initial password (External instances: refused)"), p("extraconfig", T::String, false, "extra configuration (refused for External)"), Param { name: "nicnetworklist", ty: T::Map, required: false, description: "OVF NIC mappings (refused)", length: 0 }, Param { name: "properties", ty: T::Map, required: false, description: "OVF properties (refused)", length: 0 }, Param { name: "dhcpoptionsnetworklist", ty: T::Map, required: false, description: "DHCP options (refused)", length: 0 }, p("deploymentplanner", T::String, false, "Deployment planner (refused)")],
        response: VM_FIELDS, related: "listVirtualMachines", response_name: None },
    Command { name: "listVirtualMachines", description: "List the virtual machines owned by the account.", since: "", isasync: false, roles: roles::ALL,
        params: VM_LIST_PARAMS,
        response: VM_FIELDS, related: "deployVirtualMachine", response_name: None },
    Command { name: "listVirtualMachinesMetrics", description: "Lists VM metrics", since: "4.9.3", isasync: false, roles: roles::ALL,
        params: VM_LIST_PARAMS, response: VM_METRICS_FIELDS, related: "listVirtualMachines", response_name: None },
    Command { name: "startVirtualMachine", description: "Starts a virtual machine.", since: "", isasync: true, roles: roles::ALL,
        params: &[p("id", T::Uuid, true, "The ID of the virtual machine"), p("hostid", T::Uuid, false, "destination Host ID to deploy the VM to - parameter available for root admin only")], response: VM_FIELDS, related: "stopVirtualMachine", response_name: None },
    Command { name: "stopVirtualMachine", description: "Stops a virtual machine.", since: "", isasync: true, roles: roles::ALL,
        params: &[p("id", T::Uuid, true, "The ID of the virtual machine"), p("forced", T::Boolean, false, "Force stop the VM (vm is marked as Stopped even when command fails to be send to the backend, otherwise a force poweroff is attempted). The caller knows the VM is stopped.")], response: VM_FIELDS, related: "startVirtualMachine", response_name: None },
    Command { name: "rebootVirtualMachine", description: "Reboots a virtual machine.", since: "", isasync: true, roles: roles::ALL,
        params: &[p("id", T::Uuid, true, "The ID of the virtual machine"), p("forced", T::Boolean, false, "Force reboot the VM")], response: VM_FIELDS, related: "", response_name: None },
    Command { name: "destroyVirtualMachine", description: "Destroys a virtual machine.", since: "", isasync: true, roles: roles::ALL,
        params: &[p("id", T::Uuid, true, "The ID of the virtual machine"), p("expunge", T::Boolean, false, "If true is passed, the vm is expunged immediately. False by default.")], response: VM_FIELDS, related: "recoverVirtualMachine", response_name: None },
    Command { name: "recoverVirtualMachine", description: "Recovers a virtual machine.", since: "", isasync: false, roles: roles::ALL,
        params: &[p("id", T::Uuid, true, "The ID of the virtual machine")], response: VM_FIELDS, related: "destroyVirtualMachine", response_name: None },
    Command { name: "expungeVirtualMachine", description: "Expunge a virtual machine. Once expunged, it cannot be recoverd.", since: "", isasync: true, roles: roles::ALL,
        params: &[p("id", T::Uuid, true, "The ID of the virtual machine")], response: SUCCESS, related: "", response_name: None },
    Command { name: "updateVirtualMachine", description: "Updates properties of a virtual machine.", since: "", isasync: false, roles: roles::ALL,
        params: &[p("id", T::Uuid, true, "The ID of the virtual machine"), p("displayname", T::String, false, "user generated name"), Param { name: "details", ty: T::Map, required: false, description: "Details in key/value pairs. 'extraconfig' is not allowed to be passed in details.", length: 0 }, p("cleanupdetails", T::Boolean, false, "optional boolean field, which indicates if details should be cleaned up or not"), Param { name: "userdata", ty: T::String, required: false, description: "an optional binary data that can be sent to the virtual machine upon a successful deployment (base64); the extension receives it in its next payload", length: 1_048_576 }, p("group", T::String, false, "group of the virtual machine (empty: none)"), p("name", T::String, false, "new host name of the virtual machine. The VM has to be stopped/started for this update to take affect"), p("deleteprotection", T::Boolean, false, "Set delete protection for the virtual machine. If true, the instance will be protected from deletion")],
        response: VM_FIELDS, related: "listVirtualMachines", response_name: None },
    // Operations CloudStack refuses for instances on External clusters (every Trellis instance):
    // present so clients get the clear refusal rather than "unknown command".
    Command { name: "restoreVirtualMachine", description: "Restore a VM to original template/ISO or new template/ISO. Not supported for instances on External clusters.", since: "", isasync: true, roles: roles::ALL,
        params: &[p("virtualmachineid", T::Uuid, true, "Virtual Machine ID"), p("templateid", T::Uuid, false, "an optional template Id to restore vm from the new template.")], response: VM_FIELDS, related: "", response_name: None },
    Command { name: "changeServiceForVirtualMachine", description: "Changes the service offering for a virtual machine. Not supported for instances on External clusters.", since: "", isasync: false, roles: roles::ALL,
        params: &[p("id", T::Uuid, true, "The ID of the virtual machine"), p("serviceofferingid", T::Uuid, true, "the service offering ID to apply to the virtual machine")], response: VM_FIELDS, related: "", response_name: None },
    Command { name: "scaleVirtualMachine", description: "Scales the virtual machine to a new service offering. Not supported for instances on External clusters.", since: "", isasync: true, roles: roles::ALL,
        params: &[p("id", T::Uuid, true, "The ID of the virtual machine"), p("serviceofferingid", T::Uuid, true, "the ID of the service offering for the virtual machine")], response: SUCCESS, related: "", response_name: None },
    Command { name: "migrateVirtualMachine", description: "Attempts Migration of a VM to a different host or Root volume of the vm to a different storage pool. Not allowed for External hypervisor type.", since: "", isasync: true, roles: roles::ADMIN,
        params: &[p("virtualmachineid", T::Uuid, true, "the ID of the virtual machine"), p("hostid", T::Uuid, false, "Destination Host ID to migrate VM to."), p("autoselect", T::Boolean, false, "Automatically select a destination host for a running instance")], response: VM_FIELDS, related: "", response_name: None },
    Command { name: "migrateVirtualMachineWithVolume", description: "Attempts Migration of a VM with its volumes to a different host. Not allowed for External hypervisor type.", since: "", isasync: true, roles: roles::ADMIN,
        params: &[p("virtualmachineid", T::Uuid, true, "the ID of the virtual machine"), p("hostid", T::Uuid, false, "Destination Host ID to migrate VM to.")], response: VM_FIELDS, related: "", response_name: None },
    Command { name: "resetSSHKeyForVirtualMachine", description: "Resets the SSH Key for virtual machine. The virtual machine must be in a \"Stopped\" state; the extension receives the new keys at the next start.", since: "", isasync: true, roles: roles::ALL,
        params: &[p("id", T::Uuid, true, "The ID of the virtual machine"), p("keypair", T::String, false, "name of the ssh key pair used to login to the virtual machine"), p("keypairs", T::List, false, "names of the ssh key pairs to be used to login to the virtual machine"), p("account", T::String, false, "an optional account for the ssh key. Must be used with domainId."), p("domainid", T::Uuid, false, "an optional domainId for the virtual machine. If the account parameter is used, domainId must also be used."), p("projectid", T::Uuid, false, "an optional project for the ssh key")], response: VM_FIELDS, related: "", response_name: None },
    Command { name: "resetUserDataForVirtualMachine", description: "Resets the UserData for virtual machine. The virtual machine must be in a \"Stopped\" State.", since: "4.18.0", isasync: false, roles: roles::ALL,
        params: &[p("id", T::Uuid, true, "The ID of the virtual machine"), Param { name: "userdata", ty: T::String, required: false, description: "an optional binary data that can be sent to the virtual machine upon a successful deployment (base64)", length: 1_048_576 }, p("userdataid", T::Uuid, false, "the ID of the registered user data (not supported: refused)"), Param { name: "userdatadetails", ty: T::Map, required: false, description: "used to specify the parameters values for the variables in userdata (not supported: refused)", length: 0 }], response: VM_FIELDS, related: "", response_name: None },
    Command { name: "resetPasswordForVirtualMachine", description: "Resets the password for virtual machine. Not supported for instances on External clusters.", since: "", isasync: true, roles: roles::ALL,
        params: &[p("id", T::Uuid, true, "The ID of the virtual machine")], response: VM_FIELDS, related: "", response_name: None },
    Command { name: "createVMSnapshot", description: "Creates snapshot for a vm. Not supported for instances on External clusters (use the extension's snapshot custom actions).", since: "4.2.0", isasync: true, roles: roles::ALL,
        params: &[p("virtualmachineid", T::Uuid, true, "The ID of the vm"), p("name", T::String, false, "The display name of the snapshot"), p("description", T::String, false, "The description of the snapshot")], response: SUCCESS, related: "", response_name: None },
    Command { name: "attachIso", description: "Attaches an ISO to a virtual machine. Not supported for instances on External clusters.", since: "", isasync: true, roles: roles::ALL,
        params: &[p("id", T::Uuid, true, "the ID of the ISO file"), p("virtualmachineid", T::Uuid, true, "the ID of the virtual machine")], response: VM_FIELDS, related: "", response_name: None },
    Command { name: "detachIso", description: "Detaches any ISO file (if any) currently attached to a virtual machine. Not supported for instances on External clusters.", since: "", isasync: true, roles: roles::ALL,
        params: &[p("virtualmachineid", T::Uuid, true, "The ID of the virtual machine")], response: VM_FIELDS, related: "", response_name: None },
    Command { name: "updateVMAffinityGroup", description: "Updates the affinity/anti-affinity group associations of a virtual machine. Not supported for instances on External clusters.", since: "4.2.0", isasync: true, roles: roles::ALL,
        params: &[p("id", T::Uuid, true, "The ID of the virtual machine"), p("affinitygroupids", T::String, false, "comma separated list of affinity groups id")], response: VM_FIELDS, related: "", response_name: None },
    Command { name: "createAffinityGroup", description: "Creates an affinity/anti-affinity group", since: "", isasync: true, roles: roles::ALL,
        params: &[p("name", T::String, true, "name of the affinity group"), p("type", T::String, true, "Type of the affinity group from the available affinity/anti-affinity group types"), p("description", T::String, false, "optional description of the affinity group"), p("account", T::String, false, "an account for the affinity group. Must be used with domainId."), p("domainid", T::Uuid, false, "domainId of the account owning the affinity group"), p("projectid", T::Uuid, false, "create affinity group for project")],
        response: AFFINITY_GROUP_FIELDS, related: "", response_name: None },
    Command { name: "deleteAffinityGroup", description: "Deletes affinity group", since: "", isasync: true, roles: roles::ALL,
        params: &[p("id", T::Uuid, false, "The ID of the affinity group. Mutually exclusive with name parameter"), p("name", T::String, false, "The name of the affinity group. Mutually exclusive with ID parameter"), p("account", T::String, false, "the account of the affinity group. Must be specified with domain ID"), p("domainid", T::Uuid, false, "the domain ID of account owning the affinity group"), p("projectid", T::Uuid, false, "the ID of the project")],
        response: SUCCESS, related: "", response_name: None },
    Command { name: "listAffinityGroups", description: "Lists affinity groups", since: "", isasync: false, roles: roles::ALL,
        params: list_params![p("id", T::Uuid, false, "list the affinity group by the ID provided"), p("name", T::String, false, "lists affinity groups by name"), p("type", T::String, false, "lists affinity groups by type"), p("virtualmachineid", T::Uuid, false, "lists affinity groups by virtual machine ID"), p("account", T::String, false, "list resources by account. Must be used with the domainId parameter."), p("domainid", T::Uuid, false, "list only resources belonging to the domain specified"), p("isrecursive", T::Boolean, false, "defaults to false, but if true, lists all resources from the parent specified by the domainId till leaves."), p("listall", T::Boolean, false, "If set to false, list only resources belonging to the command's caller; if set to true - list resources that the caller is authorized to see. Default value is false"), p("projectid", T::Uuid, false, "list objects by project; if projectid=-1 lists All groups of the caller's projects")],
        response: AFFINITY_GROUP_FIELDS, related: "", response_name: None },
    Command { name: "listAffinityGroupTypes", description: "Lists affinity group types available", since: "", isasync: false, roles: roles::ALL,
        params: list_params![], response: &[f("type", "string", "the type of the affinity group")], related: "", response_name: None },
    Command { name: "addNicToVirtualMachine", description: "Adds VM to specified network by creating a NIC. Not supported for instances on External clusters.", since: "", isasync: true, roles: roles::ALL,
        params: &[p("virtualmachineid", T::Uuid, true, "Virtual Machine ID"), p("networkid", T::Uuid, true, "Network ID")], response: VM_FIELDS, related: "", response_name: None },
    Command { name: "removeNicFromVirtualMachine", description: "Removes VM from specified network by deleting a NIC. Not supported for instances on External clusters.", since: "", isasync: true, roles: roles::ALL,
        params: &[p("virtualmachineid", T::Uuid, true, "Virtual Machine ID"), p("nicid", T::Uuid, true, "NIC ID")], response: VM_FIELDS, related: "", response_name: None },
    Command { name: "createConsoleEndpoint", description: "Create a console endpoint to connect to a VM console", since: "4.18.0", isasync: false, roles: roles::ALL,
        params: &[p("virtualmachineid", T::Uuid, true, "ID of the VM"), p("token", T::String, false, "(optional) extra security token, valid when the extra validation is enabled")],
        response: &[f("success", "boolean", "true if the console endpoint is generated properly"), f("details", "string", "details in case of an error"), f("url", "string", "the console url"), f("websocket", "object", "the console websocket options")], related: "", response_name: None },
    Command { name: "listPublicIpAddresses", description: "Lists all public IP addresses. Trellis has no public (virtual-network) addresses; with networkid of a Shared network it lists the addresses of its range, Free or Allocated.", since: "", isasync: false, roles: roles::ALL,
        params: list_params![p("id", T::Uuid, false, "lists IP address by ID"), p("zoneid", T::Uuid, false, "lists all public IP addresses by zone ID"), p("listall", T::Boolean, false, "If set to false, list only resources belonging to the command's caller"), p("networkid", T::Uuid, false, "lists all public IP addresses by source network ID"), p("associatednetworkid", T::Uuid, false, "lists all public IP addresses associated to the network specified"), p("allocatedonly", T::Boolean, false, "limits search results to allocated public IP addresses"), p("forvirtualnetwork", T::Boolean, false, "the virtual network for the IP address"), p("ipaddress", T::String, false, "lists the specified IP address")],
        response: &[f("id", "string", "public IP address id"), f("ipaddress", "string", "public IP address"), f("state", "string", "State of the ip address. Can be: Allocating, Allocated, Releasing, Reserved and Free"), f("networkid", "string", "the ID of the Network where ip belongs to"), f("associatednetworkid", "string", "the ID of the Network associated with the IP address"), f("associatednetworkname", "string", "the name of the Network associated with the IP address"), f("zoneid", "string", "the ID of the zone the public IP address belongs to"), f("zonename", "string", "the name of the zone the public IP address belongs to"), f("forvirtualnetwork", "boolean", "the virtual network for the IP address"), f("issourcenat", "boolean", "true if the IP address is a source nat address, false otherwise"), f("isstaticnat", "boolean", "true if this ip is for static nat, false otherwise"), f("issystem", "boolean", "true if this ip is system ip (was allocated as a part of deployVm or createLbRule)"), f("virtualmachineid", "string", "virtual machine id the ip address is assigned to"), f("virtualmachinename", "string", "virtual machine name the ip address is assigned to"), f("allocated", "date", "date the public IP address was acquired"), f("vlanname", "string", "the VLAN associated with the IP address")], related: "", response_name: None },
    Command { name: "listPortForwardingRules", description: "Lists all port forwarding rules (Trellis manages none for External instances).", since: "", isasync: false, roles: roles::ALL,
        params: list_params![p("id", T::Uuid, false, "Lists rule with the specified ID."), p("listall", T::Boolean, false, "If set to false, list only resources belonging to the command's caller")], response: &[f("id", "string", "the ID of the port forwarding rule")], related: "", response_name: None },
    Command { name: "listIpForwardingRules", description: "List the IP forwarding rules (Trellis manages none for External instances).", since: "", isasync: false, roles: roles::ALL,
        params: list_params![p("id", T::Uuid, false, "Lists rule with the specified ID."), p("listall", T::Boolean, false, "If set to false, list only resources belonging to the command's caller")], response: &[f("id", "string", "the ID of the rule")], related: "", response_name: None },
    Command { name: "listVolumes", description: "Lists all volumes (every External instance has a metadata-only ROOT volume).", since: "", isasync: false, roles: roles::ALL,
        params: list_params![p("id", T::Uuid, false, "the ID of the disk volume"), p("ids", T::List, false, "the IDs of the volumes, mutually exclusive with id"), p("name", T::String, false, "the name of the disk volume"), p("type", T::String, false, "the type of disk volume"), p("virtualmachineid", T::Uuid, false, "the ID of the virtual machine"), p("zoneid", T::Uuid, false, "the ID of the availability zone"), p("hostid", T::Uuid, false, "list volumes on specified host"), p("state", T::String, false, "state of the volume. Possible values are [Ready, Allocated, Destroy, Expunging, Expunged]."), TAGS_FILTER, p("listall", T::Boolean, false, "If set to false, list only resources belonging to the command's caller")],
        response: VOLUME_FIELDS, related: "", response_name: None },
    Command { name: "createVolume", description: "Creates a disk volume. Not allowed for External hypervisor type.", since: "", isasync: true, roles: roles::ALL,
        params: &[p("name", T::String, false, "the name of the disk volume"), p("zoneid", T::Uuid, false, "the ID of the availability zone"), p("diskofferingid", T::Uuid, false, "the ID of the disk offering"), p("size", T::Long, false, "Arbitrary volume size")], response: VOLUME_FIELDS, related: "", response_name: None },
    Command { name: "attachVolume", description: "Attaches a disk volume to a virtual machine. Not allowed for External hypervisor type.", since: "", isasync: true, roles: roles::ALL,
        params: &[p("id", T::Uuid, true, "the ID of the disk volume"), p("virtualmachineid", T::Uuid, true, "the ID of the virtual machine"), p("deviceid", T::Long, false, "the ID of the device to map the volume to the guest OS")], response: VOLUME_FIELDS, related: "", response_name: None },
    Command { name: "detachVolume", description: "Detaches a disk volume from a virtual machine. Not allowed for External hypervisor type.", since: "", isasync: true, roles: roles::ALL,
        params: &[p("id", T::Uuid, false, "the ID of the disk volume"), p("virtualmachineid", T::Uuid, false, "the ID of the virtual machine where the volume is detached from"), p("deviceid", T::Long, false, "the device ID on the virtual machine where volume is detached from")], response: VOLUME_FIELDS, related: "", response_name: None },
    Command { name: "resizeVolume", description: "Resizes a volume. Not allowed for External hypervisor type.", since: "", isasync: true, roles: roles::ALL,
        params: &[p("id", T::Uuid, true, "the ID of the disk volume"), p("size", T::Long, false, "New volume size in GB"), p("diskofferingid", T::Uuid, false, "new disk offering id"), p("shrinkok", T::Boolean, false, "Verify OK to Shrink")], response: VOLUME_FIELDS, related: "", response_name: None },
    Command { name: "deleteVolume", description: "Deletes a detached disk volume. Not allowed for External hypervisor type.", since: "", isasync: false, roles: roles::ALL,
        params: &[p("id", T::Uuid, true, "The ID of the disk volume")], response: SUCCESS, related: "", response_name: None },
    Command { name: "createSSHKeyPair", description: "Create a new keypair and returns the private key", since: "", isasync: false, roles: roles::ALL,
        params: &[p("name", T::String, true, "Name of the keypair"), p("account", T::String, false, "an optional account for the ssh key. Must be used with domainId."), p("domainid", T::Uuid, false, "an optional domainId for the ssh key. If the account parameter is used, domainId must also be used."), p("projectid", T::Uuid, false, "an optional project for the ssh key")],
        response: CREATED_KEYPAIR_FIELDS, related: "listSSHKeyPairs", response_name: None },
    Command { name: "registerSSHKeyPair", description: "Register a public key in a keypair under a certain name", since: "", isasync: false, roles: roles::ALL,
        params: &[p("name", T::String, true, "Name of the keypair"), Param { name: "publickey", ty: T::String, required: true, description: "Public key material of the keypair", length: 5120 }, p("account", T::String, false, "an optional account for the ssh key. Must be used with domainId."), p("domainid", T::Uuid, false, "an optional domainId for the ssh key. If the account parameter is used, domainId must also be used."), p("projectid", T::Uuid, false, "an optional project for the ssh key")],
        response: KEYPAIR_FIELDS, related: "listSSHKeyPairs", response_name: None },
    Command { name: "listSSHKeyPairs", description: "List registered keypairs", since: "", isasync: false, roles: roles::ALL,
        params: list_params![p("id", T::Uuid, false, "the ID of the ssh keypair"), p("name", T::String, false, "A key pair name to look for"), p("fingerprint", T::String, false, "A public key fingerprint to look for"), p("account", T::String, false, "list resources by account. Must be used with the domainId parameter."), p("domainid", T::Uuid, false, "list only resources belonging to the domain specified"), p("isrecursive", T::Boolean, false, "defaults to false, but if true, lists all resources from the parent specified by the domainId till leaves."), p("listall", T::Boolean, false, "If set to false, list only resources belonging to the command's caller; if set to true - list resources that the caller is authorized to see. Default value is false"), p("projectid", T::Uuid, false, "list objects by project")],
        response: KEYPAIR_FIELDS, related: "", response_name: None },
    Command { name: "deleteSSHKeyPair", description: "Deletes a keypair by name", since: "", isasync: false, roles: roles::ALL,
        params: &[p("name", T::String, true, "Name of the keypair"), p("account", T::String, false, "the account associated with the keypair. Must be used with the domainId parameter."), p("domainid", T::Uuid, false, "the domain ID associated with the keypair"), p("projectid", T::Uuid, false, "the project associated with keypair")],
        response: SUCCESS, related: "", response_name: None },
    Command { name: "listDiskOfferings", description: "Lists all available disk offerings (External instances take no data volume from them).", since: "", isasync: false, roles: roles::ALL,
        params: list_params![p("id", T::Uuid, false, "ID of the disk offering"), p("name", T::String, false, "name of the disk offering"), p("zoneid", T::Uuid, false, "id of zone disk offering is associated with")], response: DISK_OFFERING_FIELDS, related: "createDiskOffering", response_name: None },
    Command { name: "createDiskOffering", description: "Creates a disk offering.", since: "", isasync: false, roles: roles::ADMIN,
        params: &[p("name", T::String, true, "name of the disk offering"), p("displaytext", T::String, false, "An alternate display text of the disk offering, defaults to 'name'."), p("disksize", T::Long, false, "size of the disk offering in GB (1GB = 1,073,741,824 bytes)"), p("customized", T::Boolean, false, "whether disk offering size is custom or not"), p("storagetype", T::String, false, "the storage type of the disk offering. Values are local and shared."), p("provisioningtype", T::String, false, "provisioning type used to create volumes. Valid values are thin, sparse, fat."), p("zoneid", T::Uuid, false, "the ID of the zone the disk offering belongs to (-1 or absent: every zone)")],
        response: DISK_OFFERING_FIELDS, related: "listDiskOfferings", response_name: None },
    Command { name: "deleteDiskOffering", description: "Deletes a disk offering.", since: "", isasync: false, roles: roles::ADMIN,
        params: &[p("id", T::Uuid, true, "ID of the disk offering")], response: SUCCESS, related: "", response_name: None },
    Command { name: "listVPCs", description: "Lists VPCs (Trellis has none).", since: "", isasync: false, roles: roles::ALL,
        params: list_params![p("id", T::Uuid, false, "list VPC by id"), p("restartrequired", T::Boolean, false, "list VPCs by restartRequired option"), p("listall", T::Boolean, false, "If set to false, list only resources belonging to the command's caller")], response: &[f("id", "string", "the id of the VPC")], related: "", response_name: None },
    Command { name: "listNetworkServiceProviders", description: "Lists network serviceproviders for a given physical network (Trellis has none).", since: "", isasync: false, roles: roles::ADMIN,
        params: list_params![p("name", T::String, false, "list providers by name"), p("state", T::String, false, "list providers by state")], response: &[f("name", "string", "the provider name")], related: "", response_name: None },
    Command { name: "listProjects", description: "Lists projects and provides detailed information for listed projects", since: "3.0.0", isasync: false, roles: roles::ALL,
        params: list_params![p("id", T::Uuid, false, "list projects by project ID"), p("name", T::String, false, "list projects by name"), p("displaytext", T::String, false, "list projects by display text"), p("state", T::String, false, "list projects by state"), p("account", T::String, false, "list resources by account. Must be used with the domainId parameter."), p("domainid", T::Uuid, false, "list only resources belonging to the domain specified"), p("isrecursive", T::Boolean, false, "defaults to false, but if true, lists all resources from the parent specified by the domainId till leaves."), p("listall", T::Boolean, false, "If set to false, list only resources belonging to the command's caller; if set to true - list resources that the caller is authorized to see. Default value is false")],
        response: PROJECT_FIELDS, related: "", response_name: None },
    Command { name: "createProject", description: "Creates a project", since: "3.0.0", isasync: true, roles: roles::ALL,
        params: &[p("name", T::String, true, "name of the project"), p("displaytext", T::String, false, "display text of the project (the name when not given)"), p("account", T::String, false, "account who will be Admin for the project"), p("domainid", T::Uuid, false, "domain ID of the account owning a project")],
        response: PROJECT_FIELDS, related: "", response_name: None },
    Command { name: "updateProject", description: "Updates a project", since: "3.0.0", isasync: true, roles: roles::ALL,
        params: &[p("id", T::Uuid, true, "id of the project to be modified"), p("displaytext", T::String, false, "display text of the project"), p("name", T::String, false, "name of the project")],
        response: PROJECT_FIELDS, related: "", response_name: None },
    Command { name: "deleteProject", description: "Deletes a project", since: "3.0.0", isasync: true, roles: roles::ALL,
        params: &[p("id", T::Uuid, true, "id of the project to be deleted"), p("cleanup", T::Boolean, false, "true if all project resources have to be cleaned up, false otherwise")],
        response: SUCCESS, related: "", response_name: None },
    Command { name: "activateProject", description: "Activates a project", since: "3.0.0", isasync: true, roles: roles::ALL,
        params: &[p("id", T::Uuid, true, "id of the project to be modified")], response: PROJECT_FIELDS, related: "", response_name: None },
    Command { name: "suspendProject", description: "Suspends a project: it keeps its resources and refuses new ones", since: "3.0.0", isasync: true, roles: roles::ALL,
        params: &[p("id", T::Uuid, true, "id of the project to be suspended")], response: PROJECT_FIELDS, related: "", response_name: None },
    Command { name: "addAccountToProject", description: "Adds account to a project (directly: there are no invitations)", since: "3.0.0", isasync: true, roles: roles::ALL,
        params: &[p("projectid", T::Uuid, true, "ID of project to add the account to"), p("account", T::String, false, "name of the account to be added to the project"), p("email", T::String, false, "email to which invitation to the project is going to be sent (invitations are not supported: refused)"), p("roletype", T::String, false, "Project role type to be assigned to the user - Admin/Regular; default: Regular")],
        response: SUCCESS, related: "", response_name: None },
    Command { name: "deleteAccountFromProject", description: "Deletes account from the project", since: "3.0.0", isasync: true, roles: roles::ALL,
        params: &[p("projectid", T::Uuid, true, "ID of the project to remove the account from"), p("account", T::String, true, "name of the account to be removed from the project")],
        response: SUCCESS, related: "", response_name: None },
    Command { name: "listProjectAccounts", description: "Lists project's accounts", since: "3.0.0", isasync: false, roles: roles::ALL,
        params: list_params![p("projectid", T::Uuid, true, "ID of the project"), p("account", T::String, false, "list accounts of the project by account name"), p("role", T::String, false, "list accounts of the project by role")],
        response: &[f("projectid", "string", "project id"), f("project", "string", "project name"), f("account", "string", "the name of the account"), f("accountid", "string", "the id of the account"), f("role", "string", "account role in the project (regular, owner)"), f("domainid", "string", "id of the Domain the account belongs to"), f("domain", "string", "name of the Domain the account belongs to")],
        related: "", response_name: None },
    Command { name: "createTags", description: "Creates resource tag(s)", since: "4.0.0", isasync: true, roles: roles::ALL,
        params: &[p("resourceids", T::List, true, "list of resources to create the tags for"), p("resourcetype", T::String, true, "type of the resource"), Param { name: "tags", ty: T::Map, required: true, description: "Map of tags (key/value pairs)", length: 0 }, p("customer", T::String, false, "identifies client specific tag. When the value is not null, the tag can't be used by cloudStack code internally")],
        response: SUCCESS, related: "listTags", response_name: None },
    Command { name: "deleteTags", description: "Deleting resource tag(s)", since: "4.0.0", isasync: true, roles: roles::ALL,
        params: &[p("resourceids", T::List, true, "Delete tags for resource id(s)"), p("resourcetype", T::String, true, "Delete tag by resource type"), Param { name: "tags", ty: T::Map, required: false, description: "Delete tags matching key/value pairs", length: 0 }],
        response: SUCCESS, related: "", response_name: None },
    Command { name: "listTags", description: "List resource tag(s)", since: "4.0.0", isasync: false, roles: roles::ALL,
        params: list_params![p("resourceid", T::String, false, "list by resource id"), p("resourcetype", T::String, false, "list by resource type"), p("key", T::String, false, "list by key"), p("value", T::String, false, "list by value"), p("customer", T::String, false, "list by customer name"), p("listall", T::Boolean, false, "If set to false, list only resources belonging to the command's caller"), p("projectid", T::Uuid, false, "list objects by project; if projectid=-1 lists All VMs")],
        response: &[f("key", "string", "tag key name"), f("value", "string", "tag value"), f("resourcetype", "string", "resource type"), f("resourceid", "string", "id of the resource"), f("account", "string", "the account associated with the tag"), f("domainid", "string", "the ID of the domain associated with the tag"), f("domain", "string", "the domain associated with the tag"), f("customer", "string", "customer associated with the tag"), f("projectid", "string", "the project id the tag belongs to"), f("project", "string", "the project name where tag belongs to")],
        related: "createTags", response_name: None },
    Command { name: "listIsos", description: "Lists all available ISO files (External instances boot from templates).", since: "", isasync: false, roles: roles::ALL,
        params: list_params![p("id", T::Uuid, false, "list ISO by ID"), p("isofilter", T::String, false, "possible values are featured, self, selfexecutable, executable, community"), p("zoneid", T::Uuid, false, "the ID of the zone")], response: &[f("id", "string", "the template ID")], related: "", response_name: None },
];

/// The rendered `listApis` body for a role type (computed once per role type).
pub fn list_apis_body(role: RoleType) -> std::sync::Arc<str> {
    static CACHE: std::sync::OnceLock<[std::sync::Arc<str>; 4]> = std::sync::OnceLock::new();
    let all = CACHE.get_or_init(|| {
        RoleType::ALL.map(|r| {
            let items: Vec<Value> = COMMANDS
                .iter()
                .filter(|c| c.allows(r))
                .map(Command::api_json)
                .collect();
            let body = crate::envelope::Reply::List {
                object: "api",
                count: items.len() as i64,
                items,
            }
            .body();
            std::sync::Arc::from(body.to_string())
        })
    });
    let i = RoleType::ALL.iter().position(|r| *r == role).unwrap_or(0);
    all[i].clone()
}

/// Look a command up by name, case-insensitively.
pub fn find(name: &str) -> Option<&'static Command> {
    COMMANDS.iter().find(|c| c.name.eq_ignore_ascii_case(name))
}

/// Response fields of the async submission of a command (for `listApis` of async commands).
pub fn async_fields() -> &'static [Field] {
    ASYNC
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delete_commands_take_an_optional_id_as_upstream() {
        for name in ["deleteExtension", "deleteCustomAction"] {
            let id = find(name)
                .and_then(|c| c.params.iter().find(|p| p.name == "id"))
                .unwrap_or_else(|| panic!("{name} id"));
            assert!(!id.required, "{name}");
        }
    }

    #[test]
    fn catalog_is_consistent() {
        let mut names = std::collections::HashSet::new();
        for c in COMMANDS {
            assert!(
                names.insert(c.name.to_lowercase()),
                "duplicate command {}",
                c.name
            );
            assert!(!c.description.is_empty(), "{} has no description", c.name);
            assert!(
                c.roles & roles::ADMIN != 0,
                "{} must be callable by root admins",
                c.name
            );
            let mut params = std::collections::HashSet::new();
            for p in c.params {
                assert!(
                    params.insert(p.name.to_lowercase()),
                    "{} repeats parameter {}",
                    c.name,
                    p.name
                );
                assert!(
                    p.name == p.name.to_lowercase() || p.name == "domainId",
                    "{} parameter {} must be lowercase",
                    c.name,
                    p.name
                );
            }
            let v = c.api_json();
            assert!(v["isasync"].is_boolean());
            assert!(v["params"]
                .as_array()
                .unwrap()
                .iter()
                .all(|p| p["required"].is_boolean() && p["description"].is_string()));
        }
        assert_eq!(find("LISTAPIS").unwrap().name, "listApis");
        assert_eq!(
            find("listLdapConfigurations").unwrap().response_name(),
            "ldapconfigurationresponse"
        );
    }
}
