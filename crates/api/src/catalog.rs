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
    Param { name, ty, required, description, length: 255 }
}
const fn long_text(name: &'static str, required: bool, description: &'static str) -> Param {
    Param { name, ty: ParamType::String, required, description, length: 4096 }
}
const fn f(name: &'static str, ty: &'static str, description: &'static str) -> Field {
    Field { name, ty, description }
}

use ParamType as T;

const PAGING: [Param; 3] = [
    p("keyword", T::String, false, "List by keyword"),
    p("page", T::Integer, false, "the page number of the results (1-based)"),
    p("pagesize", T::Integer, false, "the number of results per page; -1 for all"),
];

macro_rules! list_params {
    ($($x:expr),* $(,)?) => { &[$($x,)* PAGING[0], PAGING[1], PAGING[2]] };
}

const SUCCESS: &[Field] = &[f("success", "boolean", "true if the operation succeeded"), f("displaytext", "string", "any text associated with the success or failure")];
const ASYNC: &[Field] = &[f("jobid", "string", "the id of the async job"), f("id", "string", "the id of the created object")];

const DOMAIN_FIELDS: &[Field] = &[
    f("id", "string", "the ID of the domain"),
    f("name", "string", "the name of the domain"),
    f("path", "string", "the path of the domain"),
    f("level", "integer", "the level of the domain"),
    f("parentdomainid", "string", "the domain ID of the parent domain"),
    f("parentdomainname", "string", "the domain name of the parent domain"),
    f("haschild", "boolean", "whether the domain has one or more sub-domains"),
    f("created", "date", "the date when this domain was created"),
    f("state", "string", "the state of the domain"),
];
const ACCOUNT_FIELDS: &[Field] = &[
    f("id", "string", "the id of the account"),
    f("name", "string", "the name of the account"),
    f("accounttype", "integer", "account type (admin, domain-admin, user)"),
    f("roleid", "string", "the ID of the role"),
    f("roletype", "string", "the type of the role (Admin, ResourceAdmin, DomainAdmin, User)"),
    f("rolename", "string", "the name of the role"),
    f("domainid", "string", "id of the Domain the account belongs to"),
    f("domain", "string", "name of the Domain the account belongs to"),
    f("domainpath", "string", "path of the Domain the account belongs to"),
    f("state", "string", "the state of the account"),
    f("created", "date", "the date when this account was created"),
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
    f("created", "date", "the date and time the user account was created"),
    f("isdefault", "boolean", "true if user is default, false otherwise"),
];
const KEYS_FIELDS: &[Field] = &[f("apikey", "string", "the api key of the registered user"), f("secretkey", "string", "the secret key of the registered user")];
const ROLE_FIELDS: &[Field] = &[
    f("id", "string", "the ID of the role"),
    f("name", "string", "the name of the role"),
    f("type", "string", "the type of the role"),
    f("description", "string", "the description of the role"),
    f("isdefault", "boolean", "true if role is default, false otherwise"),
    f("state", "string", "the state of the role"),
];
const JOB_FIELDS: &[Field] = &[
    f("jobid", "string", "the ID of the async job"),
    f("accountid", "string", "the account id that executed the async command"),
    f("account", "string", "the account that executed the async command"),
    f("userid", "string", "the user that executed the async command"),
    f("cmd", "string", "the async command executed"),
    f("jobstatus", "integer", "the current job status: 0 pending, 1 succeeded, 2 failed"),
    f("jobprocstatus", "integer", "the progress information of the PENDING job"),
    f("jobresultcode", "integer", "the result code for the job"),
    f("jobresulttype", "string", "the result type"),
    f("jobresult", "object", "the result reason"),
    f("jobinstancetype", "string", "the instance/entity object related to the job"),
    f("jobinstanceid", "string", "the unique ID of the instance/entity object related to the job"),
    f("managementserverid", "string", "the management server that owns the job"),
    f("created", "date", "the created date of the job"),
    f("completed", "date", "the completed date of the job"),
];
const EVENT_FIELDS: &[Field] = &[
    f("id", "string", "the ID of the event"),
    f("type", "string", "the type of the event"),
    f("level", "string", "the event level (INFO, WARN, ERROR)"),
    f("state", "string", "the state of the event"),
    f("description", "string", "a brief description of the event"),
    f("username", "string", "the name of the user who performed the action"),
    f("account", "string", "the account name for the account that owns the object being acted on"),
    f("domainid", "string", "the id of the account's domain"),
    f("domain", "string", "the name of the account's domain"),
    f("resourcetype", "string", "the type of the resource"),
    f("resourceid", "string", "the id of the resource"),
    f("created", "date", "the date the event was created"),
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
    f("defaultvalue", "string", "the default value of the configuration"),
    f("category", "string", "the category of the configuration"),
    f("description", "string", "the description of the configuration"),
    f("isdynamic", "boolean", "true if the configuration is dynamic"),
    f("scope", "string", "scope(zone/cluster/pool/account) of the parameter that needs to be updated"),
];
const CAPABILITY_FIELDS: &[Field] = &[
    f("cloudstackversion", "string", "version of the cloud stack"),
    f("securitygroupsenabled", "boolean", "true if security groups support is enabled, false otherwise"),
    f("userpublictemplateenabled", "boolean", "true if user and domain admins can set templates to be shared"),
    f("supportELB", "string", "true if region supports elastic load balancer on basic zones"),
    f("customdiskofferingmaxsize", "long", "maximum size that can be specified when create disk from disk offering"),
    f("allowusercreateprojects", "boolean", "true if regular user is allowed to create projects"),
    f("apilimitinterval", "integer", "time interval (in seconds) to reset api count"),
    f("apilimitmax", "integer", "Max allowed number of api requests within the specified interval"),
    f("defaultuipagesize", "long", "default page size in the UI for various views"),
    f("customhypervisordisplayname", "string", "Display name for custom hypervisor"),
    f("extensionspath", "string", "the path of the extensions directory (root admins only)"),
];
const LOGIN_FIELDS: &[Field] = &[
    f("username", "string", "Username"),
    f("userid", "string", "User ID"),
    f("domainid", "string", "Domain ID that the user belongs to"),
    f("timeout", "integer", "the time period before the session has expired"),
    f("account", "string", "the account name the user belongs to"),
    f("firstname", "string", "first name of the user"),
    f("lastname", "string", "last name of the user"),
    f("type", "string", "the account type (admin, domain-admin, read-only-admin, user)"),
    f("timezone", "string", "user time zone"),
    f("registered", "string", "Is user registered"),
    f("sessionkey", "string", "Session key that can be passed in subsequent Query command calls"),
];
pub(crate) const EXTENSION_FIELDS: &[Field] = &[
    f("id", "string", "ID of the extension"),
    f("name", "string", "Name of the extension"),
    f("description", "string", "Description of the extension"),
    f("type", "string", "Type of the extension"),
    f("path", "string", "The path of the entry point of the extension"),
    f("pathready", "boolean", "True if the extension path is in ready state across management servers"),
    f("isuserdefined", "boolean", "True if the extension is added by admin"),
    f("orchestratorrequirespreparevm", "boolean", "Only honored when type is Orchestrator. Whether prepare VM is needed or not"),
    f("state", "string", "The state of the extension"),
    f("details", "map", "The details of the extension"),
    f("resources", "list", "List of resources to which extension is registered to"),
    f("created", "date", "Creation timestamp of the extension"),
];
const CUSTOM_ACTION_FIELDS: &[Field] = &[
    f("id", "string", "ID of the custom action"),
    f("name", "string", "Name of the custom action"),
    f("description", "string", "Description of the custom action"),
    f("extensionid", "string", "ID of the extension that this custom action belongs to"),
    f("extensionname", "string", "Name of the extension that this custom action belongs to"),
    f("resourcetype", "string", "Resource type for which the action is available"),
    f("allowedroletypes", "list", "List of role types allowed for the custom action"),
    f("successmessage", "string", "Message that will be used on successful execution of the action"),
    f("errormessage", "string", "Message that will be used on failure during execution of the action"),
    f("timeout", "integer", "Specifies the timeout in seconds to wait for the action to complete before failing"),
    f("enabled", "boolean", "Whether the custom action is enabled or not"),
    f("details", "map", "Details of the custom action"),
    f("parameters", "list", "List of the parameters for the action"),
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
    f("internaldns1", "string", "the first internal DNS for the Zone"),
    f("networktype", "string", "the network type of the zone; can be Basic or Advanced"),
    f("allocationstate", "string", "the allocation state of the cluster"),
    f("securitygroupsenabled", "boolean", "true if security groups support is enabled, false otherwise"),
    f("localstorageenabled", "boolean", "true if local storage offering enabled, false otherwise"),
    f("tags", "set", "the list of resource tags associated with zone"),
    f("created", "date", "the date this zone was created"),
];

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
    Command { name: "getUserKeys", description: "This command allows the user to query the seceret and API keys for the account", since: "4.10.0", isasync: false, roles: roles::ALL,
        params: &[p("id", T::Uuid, true, "ID of the user whose keys are required")], response: KEYS_FIELDS, related: "registerUserKeys", response_name: None },
    Command { name: "listRoles", description: "Lists dynamic roles in CloudStack", since: "4.9.0", isasync: false, roles: roles::ADMINS,
        params: list_params![p("id", T::Uuid, false, "List role by role ID."), p("name", T::String, false, "List role by role name."), p("type", T::String, false, "List role by role type, valid options are: Admin, ResourceAdmin, DomainAdmin, User.")],
        response: ROLE_FIELDS, related: "", response_name: None },
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
        params: &[p("id", T::Uuid, true, "ID of the extension"), p("cleanup", T::Boolean, false, "Whether cleanup entry-point files for the extension")],
        response: SUCCESS, related: "createExtension", response_name: None },
    Command { name: "registerExtension", description: "Register an extension with a resource", since: "4.21.0", isasync: false, roles: roles::ADMIN,
        params: &[p("extensionid", T::Uuid, true, "ID of the extension"), p("resourceid", T::String, true, "ID of the resource to register the extension with"), p("resourcetype", T::String, true, "Type of the resource"), EXT_DETAILS],
        response: EXTENSION_FIELDS, related: "unregisterExtension", response_name: None },
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
        params: &[p("id", T::Uuid, true, "uuid of the custom action")], response: SUCCESS, related: "addCustomAction", response_name: None },
    Command { name: "runCustomAction", description: "Run the custom action", since: "4.21.0", isasync: true, roles: roles::ALL,
        params: &[p("customactionid", T::Uuid, true, "the ID of the custom action"), p("resourcetype", T::String, false, "Type of the resource"), p("resourceid", T::String, true, "ID of the instance"), Param { name: "parameters", ty: T::Map, required: false, description: "Parameters in key/value pairs using format parameters[i].keyname=keyvalue. Example: parameters[0].endpoint.url=urlvalue", length: 0 }],
        response: CUSTOM_ACTION_RESULT_FIELDS, related: "listCustomActions", response_name: None },
];

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
    fn catalog_is_consistent() {
        let mut names = std::collections::HashSet::new();
        for c in COMMANDS {
            assert!(names.insert(c.name.to_lowercase()), "duplicate command {}", c.name);
            assert!(!c.description.is_empty(), "{} has no description", c.name);
            assert!(c.roles & roles::ADMIN != 0, "{} must be callable by root admins", c.name);
            let mut params = std::collections::HashSet::new();
            for p in c.params {
                assert!(params.insert(p.name.to_lowercase()), "{} repeats parameter {}", c.name, p.name);
                assert!(p.name == p.name.to_lowercase() || p.name == "domainId", "{} parameter {} must be lowercase", c.name, p.name);
            }
            let v = c.api_json();
            assert!(v["isasync"].is_boolean());
            assert!(v["params"].as_array().unwrap().iter().all(|p| p["required"].is_boolean() && p["description"].is_string()));
        }
        assert_eq!(find("LISTAPIS").unwrap().name, "listApis");
        assert_eq!(find("listLdapConfigurations").unwrap().response_name(), "ldapconfigurationresponse");
    }
}
