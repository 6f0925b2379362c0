//! The command table: every catalog command, the kind of handling it gets, and the function that
//! handles it — one file per resource (`extensions.rs`, `custom_actions.rs`, `identity.rs`, `roles.rs`, `limits.rs`, `projects.rs`, `disk_offerings.rs`,
//! `infrastructure.rs`, `instances.rs`, `jobs.rs`, `settings.rs`, `ssh_keys.rs`, `tags.rs`,
//! `templates.rs`, `volumes.rs`, `meta.rs`), one function per
//! command, named after it in snake case (`listZones` → `infrastructure::list_zones`).
//!
//! A handler reads typed values from parameters the catalog has validated, calls `App`, and
//! builds the reply. An async command's handler does its request-time checks and returns the
//! typed [`JobCommand`] to queue; the job worker runs it and [`super::jobs::render_job_outcome`]
//! renders what it produced. A test keeps this table and the catalog in step.

use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;
use trellis_api::{catalog::Command, ApiError, Params, Reply};
use trellis_model::entity::{Cluster, Host, Pod, Zone};

use super::{
    affinity_groups, custom_actions, disk_offerings, extensions, identity, infrastructure,
    instances, jobs, limits, management_servers, meta, projects, roles, settings, ssh_keys, tags,
    templates, volumes,
};
use crate::app::job::JobCommand;
use crate::app::reads::Page;
use crate::app::{setting, App, Caller};

/// What a synchronous handler returns.
pub(super) type R = Result<Reply, ApiError>;
/// What an async command's handler returns: the job to queue and the object it is about
/// (`instancetype`, `instanceid`).
pub(super) type Q = Result<(JobCommand, Option<(String, String)>), ApiError>;

type BoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Everything a handler gets: the application, the authenticated caller, the catalog entry,
/// the validated parameters and the request's HTTP method (some limits depend on it).
pub struct Cx<'a> {
    pub app: &'a App,
    pub caller: &'a Caller,
    pub cmd: &'static Command,
    pub p: &'a Params,
    pub method: &'a axum::http::Method,
}

/// How a command is handled.
pub enum Handler {
    /// Answered in the request.
    Sync(for<'a> fn(&'a Cx<'a>) -> BoxFut<'a, R>),
    /// Checked in the request, then queued as a job.
    Async(for<'a> fn(&'a Cx<'a>) -> BoxFut<'a, Q>),
    /// Refused for instances on External clusters (spec §9.8); names the parameter holding the
    /// instance, which the caller must be able to see.
    Refused(&'static str),
    /// A volume operation, refused for External instances (upstream's text) once the volume
    /// named by `id`, if any, is one the caller can see.
    RefusedVolume,
    /// Handled by the router before authentication (`login`, `logout`: see `http/mod.rs`).
    Session,
}

macro_rules! sync {
    ($f:path) => {
        Handler::Sync(|cx| Box::pin($f(cx)))
    };
}

macro_rules! queue {
    ($f:path) => {
        Handler::Async(|cx| Box::pin($f(cx)))
    };
}

/// Every command Trellis answers, by resource.
pub static HANDLERS: &[(&str, Handler)] = &[
    // meta.rs
    ("listAlerts", sync!(meta::list_alerts)),
    (
        "listManagementServers",
        sync!(management_servers::list_management_servers),
    ),
    ("listApis", sync!(meta::list_apis)),
    ("listCapabilities", sync!(meta::list_capabilities)),
    ("listEvents", sync!(meta::list_events)),
    ("listHypervisors", sync!(meta::list_hypervisors)),
    (
        "listIpForwardingRules",
        sync!(meta::list_ip_forwarding_rules),
    ),
    ("listIsos", sync!(meta::list_isos)),
    (
        "listNetworkServiceProviders",
        sync!(meta::list_network_service_providers),
    ),
    (
        "listPortForwardingRules",
        sync!(meta::list_port_forwarding_rules),
    ),
    (
        "listPublicIpAddresses",
        sync!(meta::list_public_ip_addresses),
    ),
    ("listVPCs", sync!(meta::list_vpcs)),
    // identity.rs
    ("createAccount", sync!(identity::create_account)),
    ("createDomain", sync!(identity::create_domain)),
    ("createUser", sync!(identity::create_user)),
    ("deleteAccount", queue!(identity::delete_account)),
    ("deleteDomain", queue!(identity::delete_domain)),
    ("deleteUser", sync!(identity::delete_user)),
    ("disableAccount", queue!(identity::disable_account)),
    ("disableUser", queue!(identity::disable_user)),
    ("enableAccount", sync!(identity::enable_account)),
    ("enableUser", sync!(identity::enable_user)),
    ("listDomainChildren", sync!(identity::list_domain_children)),
    ("lockAccount", sync!(identity::lock_account)),
    ("lockUser", sync!(identity::lock_user)),
    ("updateAccount", sync!(identity::update_account)),
    ("updateDomain", sync!(identity::update_domain)),
    ("updateUser", sync!(identity::update_user)),
    ("getUser", sync!(identity::get_user)),
    ("getUserKeys", sync!(identity::get_user_keys)),
    ("listAccounts", sync!(identity::list_accounts)),
    ("listDomains", sync!(identity::list_domains)),
    (
        "listLdapConfigurations",
        sync!(identity::list_ldap_configurations),
    ),
    ("listRoles", sync!(roles::list_roles)),
    ("listResourceLimits", sync!(limits::list_resource_limits)),
    ("updateResourceLimit", sync!(limits::update_resource_limit)),
    ("updateResourceCount", sync!(limits::update_resource_count)),
    ("createRole", sync!(roles::create_role)),
    ("updateRole", sync!(roles::update_role)),
    ("deleteRole", sync!(roles::delete_role)),
    ("importRole", sync!(roles::import_role)),
    ("listRolePermissions", sync!(roles::list_role_permissions)),
    ("createRolePermission", sync!(roles::create_role_permission)),
    ("updateRolePermission", sync!(roles::update_role_permission)),
    ("deleteRolePermission", sync!(roles::delete_role_permission)),
    ("listUsers", sync!(identity::list_users)),
    ("login", Handler::Session),
    ("logout", Handler::Session),
    ("registerUserKeys", sync!(identity::register_user_keys)),
    // affinity_groups.rs
    (
        "createAffinityGroup",
        queue!(affinity_groups::create_affinity_group),
    ),
    (
        "deleteAffinityGroup",
        queue!(affinity_groups::delete_affinity_group),
    ),
    (
        "listAffinityGroupTypes",
        sync!(affinity_groups::list_affinity_group_types),
    ),
    (
        "listAffinityGroups",
        sync!(affinity_groups::list_affinity_groups),
    ),
    // disk_offerings.rs
    (
        "createDiskOffering",
        sync!(disk_offerings::create_disk_offering),
    ),
    (
        "deleteDiskOffering",
        sync!(disk_offerings::delete_disk_offering),
    ),
    (
        "listDiskOfferings",
        sync!(disk_offerings::list_disk_offerings),
    ),
    // projects.rs
    ("activateProject", queue!(projects::activate_project)),
    (
        "addAccountToProject",
        queue!(projects::add_account_to_project),
    ),
    ("createProject", queue!(projects::create_project)),
    (
        "deleteAccountFromProject",
        queue!(projects::delete_account_from_project),
    ),
    ("deleteProject", queue!(projects::delete_project)),
    (
        "listProjectAccounts",
        sync!(projects::list_project_accounts),
    ),
    ("listProjects", sync!(projects::list_projects)),
    ("suspendProject", queue!(projects::suspend_project)),
    ("updateProject", queue!(projects::update_project)),
    // tags.rs
    ("createTags", queue!(tags::create_tags)),
    ("deleteTags", queue!(tags::delete_tags)),
    ("listTags", sync!(tags::list_tags)),
    // volumes.rs
    ("attachVolume", Handler::RefusedVolume),
    ("createVolume", Handler::RefusedVolume),
    ("deleteVolume", Handler::RefusedVolume),
    ("detachVolume", Handler::RefusedVolume),
    ("listVolumes", sync!(volumes::list_volumes)),
    ("resizeVolume", Handler::RefusedVolume),
    // templates.rs
    ("createTemplate", queue!(templates::create_template)),
    ("deleteTemplate", queue!(templates::delete_template)),
    ("listOsCategories", sync!(templates::list_os_categories)),
    ("listOsTypes", sync!(templates::list_os_types)),
    ("listTemplates", sync!(templates::list_templates)),
    ("registerTemplate", sync!(templates::register_template)),
    ("updateTemplate", sync!(templates::update_template)),
    // ssh_keys.rs
    ("createSSHKeyPair", sync!(ssh_keys::create_ssh_key_pair)),
    ("deleteSSHKeyPair", sync!(ssh_keys::delete_ssh_key_pair)),
    ("listSSHKeyPairs", sync!(ssh_keys::list_ssh_key_pairs)),
    ("registerSSHKeyPair", sync!(ssh_keys::register_ssh_key_pair)),
    // settings.rs
    ("listConfigurations", sync!(settings::list_configurations)),
    ("updateConfiguration", sync!(settings::update_configuration)),
    // jobs.rs
    ("listAsyncJobs", sync!(jobs::list_async_jobs)),
    ("queryAsyncJobResult", sync!(jobs::query_async_job_result)),
    // extensions.rs
    ("createExtension", sync!(extensions::create_extension)),
    ("deleteExtension", sync!(extensions::delete_extension)),
    ("syncExtension", queue!(extensions::sync_extension)),
    ("importExtension", sync!(extensions::import_extension)),
    ("listExtensions", sync!(extensions::list_extensions)),
    ("registerExtension", sync!(extensions::register_extension)),
    (
        "unregisterExtension",
        sync!(extensions::unregister_extension),
    ),
    ("updateExtension", sync!(extensions::update_extension)),
    (
        "updateRegisteredExtension",
        sync!(extensions::update_registered_extension),
    ),
    // custom_actions.rs
    ("addCustomAction", sync!(custom_actions::add_custom_action)),
    (
        "deleteCustomAction",
        sync!(custom_actions::delete_custom_action),
    ),
    (
        "listCustomActions",
        sync!(custom_actions::list_custom_actions),
    ),
    ("runCustomAction", queue!(custom_actions::run_custom_action)),
    (
        "updateCustomAction",
        sync!(custom_actions::update_custom_action),
    ),
    // infrastructure.rs
    ("addCluster", sync!(infrastructure::add_cluster)),
    ("addHost", sync!(infrastructure::add_host)),
    (
        "cancelHostMaintenance",
        queue!(infrastructure::cancel_host_maintenance),
    ),
    ("createNetwork", sync!(infrastructure::create_network)),
    ("createPod", sync!(infrastructure::create_pod)),
    (
        "createServiceOffering",
        sync!(infrastructure::create_service_offering),
    ),
    ("createZone", sync!(infrastructure::create_zone)),
    ("deleteCluster", sync!(infrastructure::delete_cluster)),
    ("deleteHost", sync!(infrastructure::delete_host)),
    ("deleteNetwork", queue!(infrastructure::delete_network)),
    ("deletePod", sync!(infrastructure::delete_pod)),
    (
        "deleteServiceOffering",
        sync!(infrastructure::delete_service_offering),
    ),
    ("deleteZone", sync!(infrastructure::delete_zone)),
    ("listClusters", sync!(infrastructure::list_clusters)),
    ("listHosts", sync!(infrastructure::list_hosts)),
    (
        "listNetworkOfferings",
        sync!(infrastructure::list_network_offerings),
    ),
    ("listNetworks", sync!(infrastructure::list_networks)),
    ("listPods", sync!(infrastructure::list_pods)),
    (
        "listServiceOfferings",
        sync!(infrastructure::list_service_offerings),
    ),
    ("listZones", sync!(infrastructure::list_zones)),
    (
        "prepareHostForMaintenance",
        queue!(infrastructure::prepare_host_for_maintenance),
    ),
    ("updateCluster", sync!(infrastructure::update_cluster)),
    ("updateHost", sync!(infrastructure::update_host)),
    (
        "updateServiceOffering",
        sync!(infrastructure::update_service_offering),
    ),
    ("updateZone", sync!(infrastructure::update_zone)),
    // instances.rs
    (
        "addNicToVirtualMachine",
        Handler::Refused("virtualmachineid"),
    ),
    ("attachIso", Handler::Refused("virtualmachineid")),
    ("changeServiceForVirtualMachine", Handler::Refused("id")),
    (
        "createConsoleEndpoint",
        sync!(instances::create_console_endpoint),
    ),
    ("createVMSnapshot", Handler::Refused("virtualmachineid")),
    (
        "deployVirtualMachine",
        queue!(instances::deploy_virtual_machine),
    ),
    (
        "destroyVirtualMachine",
        queue!(instances::destroy_virtual_machine),
    ),
    ("detachIso", Handler::Refused("virtualmachineid")),
    (
        "expungeVirtualMachine",
        queue!(instances::expunge_virtual_machine),
    ),
    (
        "listVirtualMachines",
        sync!(instances::list_virtual_machines),
    ),
    (
        "listVirtualMachinesMetrics",
        sync!(instances::list_virtual_machines_metrics),
    ),
    (
        "migrateVirtualMachine",
        Handler::Refused("virtualmachineid"),
    ),
    (
        "migrateVirtualMachineWithVolume",
        Handler::Refused("virtualmachineid"),
    ),
    (
        "rebootVirtualMachine",
        queue!(instances::reboot_virtual_machine),
    ),
    (
        "recoverVirtualMachine",
        sync!(instances::recover_virtual_machine),
    ),
    (
        "removeNicFromVirtualMachine",
        Handler::Refused("virtualmachineid"),
    ),
    ("resetPasswordForVirtualMachine", Handler::Refused("id")),
    (
        "resetSSHKeyForVirtualMachine",
        queue!(instances::reset_ssh_key_for_virtual_machine),
    ),
    (
        "resetUserDataForVirtualMachine",
        sync!(instances::reset_user_data_for_virtual_machine),
    ),
    (
        "restoreVirtualMachine",
        Handler::Refused("virtualmachineid"),
    ),
    ("scaleVirtualMachine", Handler::Refused("id")),
    (
        "startVirtualMachine",
        queue!(instances::start_virtual_machine),
    ),
    (
        "stopVirtualMachine",
        queue!(instances::stop_virtual_machine),
    ),
    (
        "updateVirtualMachine",
        sync!(instances::update_virtual_machine),
    ),
    ("updateVMAffinityGroup", Handler::Refused("id")),
];

/// The handler of a catalog command.
pub fn handler(name: &str) -> Option<&'static Handler> {
    static INDEX: OnceLock<HashMap<&'static str, &'static Handler>> = OnceLock::new();
    INDEX
        .get_or_init(|| HANDLERS.iter().map(|(n, h)| (*n, h)).collect())
        .get(name)
        .copied()
}

/// Run a synchronous command, or check and queue an asynchronous one.
pub async fn dispatch(
    app: &App,
    caller: &Caller,
    cmd: &'static Command,
    p: &Params,
    method: &axum::http::Method,
) -> R {
    let cx = Cx {
        app,
        caller,
        cmd,
        p,
        method,
    };
    match handler(cmd.name) {
        Some(Handler::Sync(f)) => f(&cx).await,
        Some(Handler::Async(f)) => {
            let (command, about) = f(&cx).await?;
            let id = match &command {
                JobCommand::Deploy { instance, .. } => Some(instance.clone()),
                _ => None,
            };
            let job = app.job_submit(caller, &command, about).await?;
            Ok(Reply::Async {
                jobid: job.uuid,
                id,
            })
        }
        Some(Handler::Refused(param)) => {
            app.instance_refuse(caller, cmd.name, req(p, cmd, param)?)
                .await?;
            Err(ApiError::unsupported(cmd.name))
        }
        Some(Handler::RefusedVolume) => Err(app.volume_refusal(caller, p.str("id")).await.into()),
        Some(Handler::Session) | None => Err(ApiError::unsupported(cmd.name)),
    }
}

pub(super) fn page_of(app: &App, p: &Params) -> Result<Page, ApiError> {
    let (offset, limit) = p.paging(app.setting_i64(setting::DEFAULT_PAGE_SIZE))?;
    Ok(Page { offset, limit })
}

/// The `tags[i].key`/`tags[i].value` filter of a list command: a resource must carry every pair
/// (an entry without a value asks only for the key).
pub(super) fn tag_pairs(p: &Params) -> Result<Vec<(String, String)>, ApiError> {
    let mut out = Vec::new();
    for m in p.map_objects("tags").unwrap_or_default() {
        match (m.get("key"), m.get("value")) {
            (Some(k), v) if !k.is_empty() => {
                out.push((k.clone(), v.cloned().unwrap_or_default()));
            }
            _ => {
                return Err(ApiError::param(
                    "Each tags entry of a list filter needs a key (tags[i].key)",
                ))
            }
        }
    }
    Ok(out)
}

pub(super) fn s(p: &Params, name: &str) -> Option<String> {
    p.str(name).map(str::to_string)
}

pub(super) fn req<'a>(p: &'a Params, cmd: &Command, name: &str) -> Result<&'a str, ApiError> {
    p.str(name)
        .ok_or_else(|| ApiError::missing_param(cmd.name, name))
}

pub(super) fn list(object: &'static str, items: Vec<Value>, total: i64) -> Reply {
    Reply::List {
        object,
        count: total,
        items,
    }
}

/// Read a flatten-form map parameter.
pub fn details_of(p: &Params, name: &str) -> BTreeMap<String, String> {
    p.map_flat(name).unwrap_or_default()
}

pub(super) async fn domain_id_of(app: &App, p: &Params) -> Result<Option<i64>, ApiError> {
    match p.str("domainid") {
        Some(u) => Ok(Some(
            app.reads()
                .domain_by_uuid(u)
                .await?
                .map(|d| d.id)
                .unwrap_or(-2),
        )),
        None => Ok(None),
    }
}

pub(super) async fn zone_filter(app: &App, p: &Params) -> Result<Option<i64>, ApiError> {
    filter_id(p, "zoneid", |u| app.reads().zone_by_uuid(u)).await
}

/// An id no row has: a list filtered on an unknown object comes back empty, as in CloudStack.
pub(super) const NO_MATCH: i64 = -2;

/// The internal id a list filter's uuid parameter `name` refers to: `None` when the parameter is
/// absent, [`NO_MATCH`] when no such object exists.
pub(super) async fn filter_id<'a, T, Fut>(
    p: &'a Params,
    name: &str,
    lookup: impl FnOnce(&'a str) -> Fut,
) -> Result<Option<i64>, ApiError>
where
    T: HasId,
    Fut: std::future::Future<Output = trellis_model::Result<Option<T>>>,
{
    let Some(u) = p.str(name) else {
        return Ok(None);
    };
    Ok(Some(lookup(u).await?.map_or(NO_MATCH, |x| x.id())))
}

/// Rows with an internal id.
pub(super) trait HasId {
    fn id(&self) -> i64;
}

macro_rules! has_id {
    ($($t:ty),*) => { $(impl HasId for $t { fn id(&self) -> i64 { self.id } })* };
}

has_id!(Zone, Pod, Cluster, Host, trellis_model::entity::Extension);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_catalog_command_has_a_handler_and_every_handler_a_catalog_entry() {
        let catalog: Vec<&str> = trellis_api::catalog::COMMANDS
            .iter()
            .map(|c| c.name)
            .collect();
        let missing: Vec<&&str> = catalog.iter().filter(|n| handler(n).is_none()).collect();
        assert!(
            missing.is_empty(),
            "catalog commands without a handler: {missing:?}"
        );
        let unknown: Vec<&str> = HANDLERS
            .iter()
            .map(|(n, _)| *n)
            .filter(|n| !catalog.contains(n))
            .collect();
        assert!(
            unknown.is_empty(),
            "handlers without a catalog entry: {unknown:?}"
        );
        let mut names: Vec<&str> = HANDLERS.iter().map(|(n, _)| *n).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(
            names.len(),
            HANDLERS.len(),
            "a command is in the table twice"
        );
    }

    #[test]
    fn async_commands_are_queued_and_sync_ones_answered() {
        for c in trellis_api::catalog::COMMANDS {
            match handler(c.name) {
                Some(Handler::Async(_)) => assert!(c.isasync, "{} is queued but not async", c.name),
                Some(Handler::Sync(_)) => assert!(!c.isasync, "{} is answered but async", c.name),
                _ => {}
            }
        }
    }
}
