//! JSON views of entities as CloudStack responses show them (lowercase field names, dates as
//! `yyyy-MM-dd'T'HH:mm:ssZ`; nulls are dropped by the envelope).

use serde_json::{json, Value};
use trellis_api::{format_date, ApiError};
use trellis_model::entity::{
    Cluster, DetailOwner, Host, Instance, Network, Pod, ServiceOffering, Template, Zone,
};
use trellis_model::os_types::OsType;
use trellis_model::Error;

use crate::app::reads::InstanceRefs;
use crate::app::reads::{IdentityFilter, Page};
use crate::app::{App, Caller};
use trellis_model::entity::{
    Account, Alert, Configuration, Domain, Event, Job, ResourceTag, Role, RolePermission,
    SshKeyPair, User,
};

use crate::app::affinity::AffinityGroupView;
use crate::app::custom_action::{role_names, CustomActionView};
use crate::app::deploy::{DETAIL_GROUP, DETAIL_UEFI};
use crate::app::projects::ProjectView;
use crate::app::ssh_keys::{DETAIL_SSH_KEYPAIR_NAMES, DETAIL_SSH_PUBLIC_KEY};
use crate::app::{ExtensionView, SETTINGS};

pub fn domain(d: &Domain, parent: Option<&Domain>, has_child: bool) -> Value {
    let level = d.path.matches('/').count().saturating_sub(1);
    let path = if d.path == "/" {
        "ROOT".to_string()
    } else {
        format!("ROOT{}", d.path.trim_end_matches('/'))
    };
    json!({
        "id": d.uuid, "name": d.name, "path": path, "level": level,
        "parentdomainid": parent.map(|p| p.uuid.clone()), "parentdomainname": parent.map(|p| p.name.clone()),
        "haschild": has_child, "state": "Active", "created": format_date(d.created),
        "networkdomain": d.network_domain.as_deref().filter(|n| !n.is_empty()),
    })
}

/// A domain with the limit, total and availability of every counted resource type.
pub(super) async fn domain_view(
    app: &App,
    d: &Domain,
    parent: Option<&Domain>,
    has_child: bool,
) -> Result<Value, ApiError> {
    let mut out = domain(d, parent, has_child);
    if let Some(m) = out.as_object_mut() {
        m.extend(app.domain_usage(d).await?.fields());
    }
    Ok(out)
}

pub fn role(r: &Role) -> Value {
    json!({"id": r.uuid, "name": r.name, "type": r.role_type.as_str(), "description": r.description, "isdefault": r.is_default, "ispublic": r.is_public, "state": "ENABLED"})
}

pub fn role_permission(p: &RolePermission, r: &Role) -> Value {
    json!({"id": p.uuid, "roleid": r.uuid, "rolename": r.name, "roletype": r.role_type.as_str(),
           "rule": p.rule, "permission": p.permission.as_str(), "description": p.description})
}

pub fn user(u: &User, a: &Account, d: &Domain, r: &Role) -> Value {
    json!({
        "id": u.uuid, "username": u.username, "firstname": u.firstname, "lastname": u.lastname, "email": u.email,
        "account": a.name, "accountid": a.uuid, "accounttype": r.role_type.account_type(),
        "roleid": r.uuid, "roletype": r.role_type.as_str(), "rolename": r.name,
        "domainid": d.uuid, "domain": d.name, "apikey": u.api_key, "state": u.state.as_str(),
        "created": format_date(u.created), "isdefault": a.name == "admin" && d.path == "/",
        "timezone": u.timezone.as_deref().filter(|t| !t.is_empty()), "usersource": "native",
    })
}

pub fn account(a: &Account, d: &Domain, r: &Role, users: Vec<Value>) -> Value {
    let path = if d.path == "/" {
        "ROOT".to_string()
    } else {
        format!("ROOT{}", d.path.trim_end_matches('/'))
    };
    json!({
        "id": a.uuid, "name": a.name, "accounttype": r.role_type.account_type(),
        "roleid": r.uuid, "roletype": r.role_type.as_str(), "rolename": r.name,
        "domainid": d.uuid, "domain": d.name, "domainpath": path, "state": a.state.as_str(),
        "created": format_date(a.created), "user": users, "isdefault": a.name == "admin" && d.path == "/",
        "networkdomain": a.network_domain.as_deref().filter(|n| !n.is_empty()),
    })
}

pub fn event(
    e: &Event,
    username: Option<&str>,
    account: Option<&str>,
    domain: Option<&Domain>,
) -> Value {
    json!({
        "id": e.uuid, "type": e.event_type, "level": e.level, "state": e.state, "description": e.description,
        "username": username, "account": account, "domainid": domain.map(|d| d.uuid.clone()), "domain": domain.map(|d| d.name.clone()),
        "resourcetype": e.resource_type, "resourceid": e.resource_uuid, "created": format_date(e.created),
    })
}

pub fn alert(a: &Alert) -> Value {
    json!({"id": a.uuid, "type": a.type_id, "name": a.name, "description": a.subject, "sent": format_date(a.last_sent)})
}

pub fn config(c: &Configuration) -> Value {
    let dynamic = SETTINGS
        .iter()
        .find(|d| d.name == c.name)
        .map(|d| d.dynamic)
        .unwrap_or(c.is_dynamic);
    json!({
        "name": c.name, "value": c.value, "defaultvalue": c.default_value, "category": c.category,
        "description": c.description, "isdynamic": dynamic, "scope": "global", "component": "management-server",
    })
}

/// The `queryAsyncJobResult` / `listAsyncJobs` view of a job.
pub fn job(
    j: &Job,
    account: Option<&Account>,
    user_uuid: Option<&str>,
    server_name: &str,
) -> Value {
    let result: Option<Value> = j
        .result
        .as_deref()
        .and_then(|r| serde_json::from_str(r).ok());
    let cmd = trellis_api::catalog::find(&j.cmd)
        .map(|c| c.name)
        .unwrap_or(&j.cmd);
    json!({
        "jobid": j.uuid, "accountid": account.map(|a| a.uuid.clone()), "account": account.map(|a| a.name.clone()),
        "userid": user_uuid, "cmd": format!("org.apache.cloudstack.api.command.{cmd}"),
        "jobstatus": j.status as i64, "jobprocstatus": 0, "jobresultcode": j.result_code,
        "jobresulttype": j.result_type.clone().unwrap_or_else(|| "object".into()),
        "jobresult": result, "jobinstancetype": j.instance_type, "jobinstanceid": j.instance_uuid,
        "managementserverid": j.owner, "managementservername": j.owner.as_ref().map(|_| server_name.to_string()),
        "created": format_date(j.created), "completed": j.completed.map(format_date),
    })
}

pub fn extension(v: &ExtensionView) -> Value {
    let e = &v.extension;
    let resources: Option<Vec<Value>> = v.resources.as_ref().filter(|r| !r.is_empty()).map(|rs| {
        rs.iter()
            .map(|(c, m, d)| {
                json!({"id": c.uuid, "name": c.name, "type": m.resource_type, "details": if d.is_empty() { Value::Null } else { json!(d) }, "created": format_date(m.created)})
            })
            .collect()
    });
    json!({
        "id": e.uuid, "name": e.name, "description": e.description, "type": e.ext_type, "path": v.path,
        "pathready": e.path_ready, "isuserdefined": e.is_user_defined,
        "orchestratorrequirespreparevm": v.requires_prepare, "state": e.state.as_str(),
        "details": v.details.as_ref().filter(|d| !d.is_empty()).map(|d| json!(d)),
        "resources": resources, "created": format_date(e.created),
    })
}

pub fn custom_action(v: &CustomActionView) -> Value {
    let a = &v.action;
    json!({
        "id": a.uuid, "name": a.name, "description": a.description, "extensionid": v.extension.uuid,
        "extensionname": v.extension.name, "resourcetype": a.resource_type,
        "allowedroletypes": role_names(a.allowed_role_types), "successmessage": a.success_message,
        "errormessage": a.error_message, "timeout": a.timeout, "enabled": a.enabled, "details": v.details,
        "parameters": v.parameters.as_ref().map(|p| serde_json::to_value(p).unwrap_or(Value::Null)),
        "created": format_date(a.created),
    })
}

/// The domain and role an account's rows show.
async fn domain_and_role(
    app: &App,
    a: &trellis_model::entity::Account,
) -> Result<(Domain, Role), ApiError> {
    let d = app
        .reads()
        .domain_get(a.domain_id)
        .await?
        .ok_or_else(|| Error::internal("account without domain"))?;
    let r = app
        .reads()
        .role_get(a.role_id)
        .await?
        .ok_or_else(|| Error::internal("account without role"))?;
    Ok((d, r))
}

pub(super) async fn account_view(
    app: &App,
    a: &trellis_model::entity::Account,
) -> Result<Value, ApiError> {
    let (d, r) = domain_and_role(app, a).await?;
    let filter = IdentityFilter {
        account_id: Some(a.id),
        ..Default::default()
    };
    let (users, _) = app.reads().user_list(&filter, Page::all()).await?;
    let uv = users.iter().map(|u| user(u, a, &d, &r)).collect();
    let mut out = account(a, &d, &r, uv);
    if let Some(m) = out.as_object_mut() {
        m.extend(app.account_usage(a).await?.fields());
    }
    Ok(out)
}

pub(super) async fn user_view(
    app: &App,
    u: &trellis_model::entity::User,
) -> Result<Value, ApiError> {
    let a = app
        .reads()
        .account_get(u.account_id)
        .await?
        .ok_or_else(|| Error::internal("user without account"))?;
    let (d, r) = domain_and_role(app, &a).await?;
    Ok(user(u, &a, &d, &r))
}

pub(super) async fn job_view(
    app: &App,
    caller: &Caller,
    j: &trellis_model::entity::Job,
) -> Result<Value, ApiError> {
    // The common case (polling one's own job) needs no lookups.
    if j.user_id == caller.user.id {
        return Ok(job(
            j,
            Some(&caller.account),
            Some(&caller.user.uuid),
            &app.server_name,
        ));
    }
    let account = app.reads().account_get(j.account_id).await?;
    let user = app.reads().user_get(j.user_id).await?;
    Ok(job(
        j,
        account.as_ref(),
        user.as_ref().map(|u| u.uuid.as_str()),
        &app.server_name,
    ))
}

pub(super) fn date(ms: i64) -> String {
    trellis_api::format_date(ms)
}

/// An SSH key pair (`keypair`, `sshkeypair`); `privatekey` only in `createSSHKeyPair`'s reply.
pub fn ssh_keypair(
    k: &SshKeyPair,
    account: Option<&Account>,
    domain: Option<&Domain>,
    private_key: Option<&str>,
) -> Value {
    json!({
        "id": k.uuid, "name": k.name, "fingerprint": k.fingerprint, "privatekey": private_key,
        "account": account.map(|a| a.name.clone()), "domainid": domain.map(|d| d.uuid.clone()),
        "domain": domain.map(|d| d.name.clone()), "hasannotations": false,
    })
}

pub fn zone_view(z: &Zone) -> Value {
    json!({"id": z.uuid, "name": z.name, "description": z.description, "dns1": z.dns1, "dns2": z.dns2, "internaldns1": z.internal_dns1,
           "networktype": z.network_type, "allocationstate": z.allocation_state.as_str(), "securitygroupsenabled": false, "localstorageenabled": false,
           "zonetoken": z.uuid, "tags": [], "created": date(z.created)})
}

pub(super) async fn pod_view(app: &App, x: &Pod) -> Result<Value, ApiError> {
    let z = app.reads().zone_get(x.zone_id).await?;
    Ok(
        json!({"id": x.uuid, "name": x.name, "zoneid": z.as_ref().map(|z| z.uuid.clone()), "zonename": z.map(|z| z.name), "gateway": x.gateway, "netmask": x.netmask,
              "startip": x.start_ip.as_ref().map(|s| vec![s.clone()]), "endip": x.end_ip.as_ref().map(|s| vec![s.clone()]), "allocationstate": x.allocation_state.as_str()}),
    )
}

pub async fn cluster_view(app: &App, x: &Cluster) -> Result<Value, ApiError> {
    let z = app.reads().zone_get(x.zone_id).await?;
    let pod = app.reads().pod_get(x.pod_id).await?;
    let ext = app.cluster_extension(x.id).await?;
    Ok(
        json!({"id": x.uuid, "name": x.name, "zoneid": z.as_ref().map(|z| z.uuid.clone()), "zonename": z.map(|z| z.name), "podid": pod.as_ref().map(|p| p.uuid.clone()),
              "podname": pod.map(|p| p.name), "hypervisortype": x.hypervisor, "clustertype": x.cluster_type, "allocationstate": x.allocation_state.as_str(), "managedstate": "Managed",
              "arch": x.arch, "extensionid": ext.as_ref().map(|(e, _)| e.uuid.clone()), "extensionname": ext.map(|(e, _)| e.name)}),
    )
}

pub async fn host_view(app: &App, x: &Host) -> Result<Value, ApiError> {
    let z = app.reads().zone_get(x.zone_id).await?;
    let pod = app.reads().pod_get(x.pod_id).await?;
    let cl = app.reads().cluster_get(x.cluster_id).await?;
    let ext = app.cluster_extension(x.cluster_id).await?;
    let details = app.host_external_details(x.id).await?;
    Ok(
        json!({"id": x.uuid, "name": x.name, "state": x.status.as_str(), "type": "Routing", "ipaddress": "External", "zoneid": z.as_ref().map(|z| z.uuid.clone()),
              "zonename": z.map(|z| z.name), "podid": pod.as_ref().map(|p| p.uuid.clone()), "podname": pod.map(|p| p.name), "clusterid": cl.as_ref().map(|c| c.uuid.clone()),
              "clustername": cl.map(|c| c.name), "hypervisor": x.hypervisor, "resourcestate": x.resource_state.as_str(), "hosttags": x.host_tags,
              "cpunumber": 0, "memorytotal": 0, "capabilities": "hvm", "arch": "x86_64",
              "details": details, "extensionid": ext.as_ref().map(|(e, _)| e.uuid.clone()), "extensionname": ext.map(|(e, _)| e.name), "created": date(x.created)}),
    )
}

pub(super) async fn offering_view(app: &App, o: &ServiceOffering) -> Result<Value, ApiError> {
    let details = app
        .reads()
        .details_visible(DetailOwner::Offering, o.id)
        .await?;
    Ok(
        json!({"id": o.uuid, "name": o.name, "displaytext": o.display_text, "cpunumber": o.cpu_number, "cpuspeed": o.cpu_speed, "memory": o.memory,
              "hosttags": o.host_tags, "storagetype": "shared", "offerha": false, "limitcpuuse": false, "isvolatile": false, "iscustomized": false,
              "serviceofferingdetails": if details.is_empty() { Value::Null } else { json!(details) }, "state": o.state, "created": date(o.created)}),
    )
}

pub(super) async fn template_view(app: &App, t: &Template) -> Result<Value, ApiError> {
    let ext = match t.extension_id {
        Some(id) => app.reads().extension_get(id).await?,
        None => None,
    };
    let zone = match t.zone_id {
        Some(z) => app.reads().zone_get(z).await?,
        None => None,
    };
    let details = app
        .reads()
        .details_visible(DetailOwner::Template, t.id)
        .await?;
    let account = app.reads().account_get(t.account_id).await?;
    let project = app.project_of_account(t.account_id).await?;
    let os = OsType::of_stored(&t.os_type);
    let tags = tags_json(app, "Template", t.id).await?;
    Ok(
        json!({"id": t.uuid, "name": t.name, "displaytext": t.display_text, "format": t.format, "hypervisor": t.hypervisor, "ostypename": os.description,
              "ostypeid": os.uuid(), "size": t.size, "isready": t.state == "Active", "status": "Download Complete",
              "ispublic": t.is_public, "isfeatured": t.is_featured, "zoneid": zone.as_ref().map(|z| z.uuid.clone()), "zonename": zone.map(|z| z.name),
              "templatetype": "USER", "arch": t.arch, "passwordenabled": false, "crossZones": t.zone_id.is_none(),
              "account": if project.is_some() { None } else { account.map(|a| a.name) },
              "projectid": project.as_ref().map(|p| p.uuid.clone()), "project": project.map(|p| p.name),
              "extensionid": ext.as_ref().map(|x| x.uuid.clone()), "extensionname": ext.map(|x| x.name),
              "details": if details.is_empty() { Value::Null } else { json!(details) }, "tags": tags, "created": date(t.created)}),
    )
}

pub(super) async fn network_view(app: &App, n: &Network) -> Result<Value, ApiError> {
    let tags = tags_json(app, "Network", n.id).await?;
    let z = app.reads().zone_get(n.zone_id).await?;
    let project = app.project_of_account(n.account_id).await?;
    let account = app.reads().account_get(n.account_id).await?;
    let domain = app.reads().domain_get(n.domain_id).await?;
    let o = app
        .reads()
        .network_offering_get(n.network_offering_id)
        .await?;
    Ok(
        json!({"id": n.uuid, "name": n.name, "displaytext": n.display_text, "zoneid": z.as_ref().map(|z| z.uuid.clone()), "zonename": z.map(|z| z.name),
              "networkofferingid": o.as_ref().map(|o| o.uuid.clone()), "networkofferingname": o.map(|o| o.name), "type": n.guest_type,
              "broadcasturi": n.broadcast_uri, "vlan": n.broadcast_uri.as_deref().and_then(|b| b.strip_prefix("vlan://")), "gateway": n.gateway, "netmask": n.netmask,
              "dns1": n.dns1, "dns2": n.dns2, "state": n.state, "traffictype": "Guest", "acltype": if n.guest_type == "Shared" { "Domain" } else { "Account" },
              "restartrequired": false, "tags": tags, "created": date(n.created),
              "account": if project.is_some() { None } else { account.map(|a| a.name) },
              "domainid": domain.as_ref().map(|d| d.uuid.clone()), "domain": domain.map(|d| d.name),
              "projectid": project.as_ref().map(|p| p.uuid.clone()), "project": project.map(|p| p.name)}),
    )
}

/// The `virtualmachine` view of one instance.
pub async fn vm_view(app: &App, i: &Instance) -> Result<Value, ApiError> {
    let ctx = app.instance_refs(std::slice::from_ref(i)).await?;
    Ok(vm_json(&ctx, i))
}

/// The `virtualmachine` view with the keys libcloud and Ansible read.
pub fn vm_json(ctx: &InstanceRefs, i: &Instance) -> Value {
    let z = ctx.zones.get(&i.zone_id);
    let host = i.host_id.and_then(|h| ctx.hosts.get(&h));
    let t = ctx.templates.get(&i.template_id);
    let o = ctx.offerings.get(&i.service_offering_id);
    let account = ctx.accounts.get(&i.account_id);
    let domain = ctx.domains.get(&i.domain_id);
    let nics: Vec<Value> = ctx
        .nics
        .get(&i.id)
        .map(|v| v.as_slice())
        .unwrap_or(&[])
        .iter()
        .map(|n| {
            let net = ctx.networks.get(&n.network_id);
            json!({"id": n.uuid, "networkid": net.map(|x| x.uuid.clone()), "networkname": net.map(|x| x.name.clone()),
                   "macaddress": n.mac, "ipaddress": n.ip, "netmask": n.netmask, "gateway": n.gateway, "isdefault": n.is_default,
                   "broadcasturi": n.broadcast_uri, "isolationuri": n.broadcast_uri, "traffictype": "Guest", "type": net.map(|x| x.guest_type.clone()), "deviceid": n.device_id.to_string()})
        })
        .collect();
    let mut details = ctx.details.get(&i.id).cloned().unwrap_or_default();
    // The key pairs show as `keypairs` (names); the keys stay out of `details`.
    let keypairs = details.remove(DETAIL_SSH_KEYPAIR_NAMES);
    details.remove(DETAIL_SSH_PUBLIC_KEY);
    let ext = t
        .and_then(|t| t.extension_id)
        .and_then(|id| ctx.extensions.get(&id));
    let os = t.map(|t| OsType::of_stored(&t.os_type));
    let uefi = details.get(DETAIL_UEFI).cloned();
    let group = details.remove(DETAIL_GROUP);
    let disk_offering_id = details.remove(crate::app::disk_offerings::DETAIL_DISK_OFFERING_ID);
    let disk_offering_name = details.remove(crate::app::disk_offerings::DETAIL_DISK_OFFERING_NAME);
    let protected = details
        .remove(crate::app::guest_data::DETAIL_DELETE_PROTECTION)
        .is_some_and(|v| v == "true");
    let group_id = group
        .as_deref()
        .map(|g| trellis_model::ids::instance_group_uuid(i.account_id, g));
    let tags: Vec<Value> = ctx
        .tags
        .get(&i.id)
        .map(|v| v.as_slice())
        .unwrap_or(&[])
        .iter()
        .map(|t| tag_json(t, account, domain))
        .collect();
    let affinity: Vec<Value> = ctx
        .affinity_groups
        .get(&i.id)
        .map(|v| v.as_slice())
        .unwrap_or(&[])
        .iter()
        .map(|g| json!({"id": g.uuid, "name": g.name, "type": g.group_type.as_str(), "description": g.description}))
        .collect();
    let project = ctx.projects.get(&i.account_id);
    let mut vm = json!({
        "id": i.uuid, "name": i.name, "displayname": i.display_name, "instancename": i.instance_name, "state": i.state.as_str(),
        "projectid": project.map(|p| p.uuid.clone()), "project": project.map(|p| p.name.clone()),
        "account": account.map(|a| a.name.clone()), "domainid": domain.map(|d| d.uuid.clone()), "domain": domain.map(|d| d.name.clone()),
        "zoneid": z.map(|z| z.uuid.clone()), "zonename": z.map(|z| z.name.clone()),
        "hostid": host.map(|h| h.uuid.clone()), "hostname": host.map(|h| h.name.clone()),
        "templateid": t.map(|t| t.uuid.clone()), "templatename": t.map(|t| t.name.clone()), "templatedisplaytext": t.map(|t| t.display_text.clone()),
        "serviceofferingid": o.map(|o| o.uuid.clone()), "serviceofferingname": o.map(|o| o.name.clone()),
        "cpunumber": o.map(|o| o.cpu_number), "cpuspeed": o.map(|o| o.cpu_speed), "memory": o.map(|o| o.memory),
        "hypervisor": "External", "guestosid": os.as_ref().map(|o| o.uuid()), "ostypeid": os.as_ref().map(|o| o.uuid()), "ostypename": os.map(|o| o.description),
        "nic": nics, "tags": tags, "affinitygroup": affinity, "securitygroup": [], "details": details, "keypairs": keypairs, "powerstate": i.power_state,
        "boottype": if uefi.is_some() { "UEFI" } else { "BIOS" }, "bootmode": uefi.unwrap_or_else(|| "LEGACY".into()),
        "haenable": i.ha_enabled, "passwordenabled": false, "isdynamicallyscalable": false,
        "extensionid": ext.map(|x| x.uuid.clone()), "extensionname": ext.map(|x| x.name.clone()),
        "created": date(i.created),
    });
    if let Some(obj) = vm.as_object_mut() {
        obj.insert("group".into(), json!(group));
        obj.insert("groupid".into(), json!(group_id));
        obj.insert("deleteprotection".into(), json!(protected));
        obj.insert("diskofferingid".into(), json!(disk_offering_id));
        obj.insert("diskofferingname".into(), json!(disk_offering_name));
        // Whoever may see the instance may see its user data (its owner and administrators).
        obj.insert("userdata".into(), json!(i.user_data));
    }
    vm
}

/// One `affinitygroup` (AffinityGroupResponse; `virtualmachineIds` is camel case on the wire).
pub fn affinity_group_view(v: &AffinityGroupView) -> Value {
    let g = &v.group;
    json!({"id": g.uuid, "name": g.name, "description": g.description, "type": g.group_type.as_str(),
           "account": v.account, "domainid": v.domain_uuid, "domain": v.domain, "domainpath": v.domain_path,
           "virtualmachineIds": v.members,
           "projectid": v.project.as_ref().map(|p| p.uuid.clone()), "project": v.project.as_ref().map(|p| p.name.clone())})
}

/// One `project` (ProjectResponse), with the limit, total and availability of every counted
/// resource type.
pub fn project_view(v: &ProjectView) -> Value {
    let Some(p) = &v.project else {
        return Value::Null;
    };
    let owners: Vec<Value> = v.owners.iter().map(|a| json!({"account": a})).collect();
    let mut out = json!({"id": p.uuid, "name": p.name, "displaytext": p.display_text, "domainid": v.domain_uuid, "domain": v.domain,
           "owner": owners, "projectaccountname": v.account_name, "state": p.state.as_str(), "created": date(p.created),
           "vmrunning": v.vm_running, "vmstopped": v.vm_stopped, "tags": []});
    if let Some(m) = out.as_object_mut() {
        m.extend(v.usage.fields());
    }
    out
}

/// One `ostype` of `listOsTypes`.
pub fn os_type_view(t: &OsType) -> Value {
    let c = t.category();
    json!({"id": t.uuid(), "description": t.description, "name": t.description, "oscategoryid": c.uuid(),
           "oscategoryname": c.name, "isuserdefined": false, "fordisplay": true})
}

/// One tag as responses embed it and `listTags` lists it.
pub fn tag_json(t: &ResourceTag, account: Option<&Account>, domain: Option<&Domain>) -> Value {
    json!({"key": t.key, "value": t.value, "resourcetype": t.resource_type, "resourceid": t.resource_uuid,
           "account": account.map(|a| a.name.clone()), "domainid": domain.map(|d| d.uuid.clone()),
           "domain": domain.map(|d| d.name.clone()), "customer": t.customer})
}

/// One tag with its owner looked up.
pub(super) async fn tag_view(app: &App, t: &ResourceTag) -> Result<Value, ApiError> {
    let account = match t.account_id {
        Some(a) => app.reads().account_get(a).await?,
        None => None,
    };
    let domain = match t.domain_id {
        Some(d) => app.reads().domain_get(d).await?,
        None => None,
    };
    let project = match t.account_id {
        Some(a) => app.project_of_account(a).await?,
        None => None,
    };
    let mut out = tag_json(t, account.as_ref(), domain.as_ref());
    // A project's tag is shown with the project, not its hidden account.
    if let (Some(p), Some(m)) = (project, out.as_object_mut()) {
        m.remove("account");
        m.insert("projectid".into(), p.uuid.into());
        m.insert("project".into(), p.name.into());
    }
    Ok(out)
}

/// The `tags` array of one resource.
async fn tags_json(app: &App, resource_type: &str, id: i64) -> Result<Vec<Value>, ApiError> {
    let mut out = Vec::new();
    for t in app.reads().tags_of(resource_type, &[id]).await? {
        out.push(tag_view(app, &t).await?);
    }
    Ok(out)
}
