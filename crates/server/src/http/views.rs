//! JSON views of entities as CloudStack responses show them (lowercase field names, dates as
//! `yyyy-MM-dd'T'HH:mm:ssZ`; nulls are dropped by the envelope).

use serde_json::{json, Value};
use trellis_api::format_date;
use trellis_model::entity::{Account, Alert, Configuration, Domain, Event, Job, Role, User};

use crate::app::custom_action::{role_names, CustomActionView};
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
    })
}

pub fn role(r: &Role) -> Value {
    json!({"id": r.uuid, "name": r.name, "type": r.role_type.as_str(), "description": r.description, "isdefault": r.is_default, "state": "ENABLED"})
}

pub fn user(u: &User, a: &Account, d: &Domain, r: &Role) -> Value {
    json!({
        "id": u.uuid, "username": u.username, "firstname": u.firstname, "lastname": u.lastname, "email": u.email,
        "account": a.name, "accountid": a.uuid, "accounttype": r.role_type.account_type(),
        "roleid": r.uuid, "roletype": r.role_type.as_str(), "rolename": r.name,
        "domainid": d.uuid, "domain": d.name, "apikey": u.api_key, "state": u.state,
        "created": format_date(u.created), "isdefault": a.name == "admin" && d.path == "/",
        "timezone": "UTC", "usersource": "native",
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
        "domainid": d.uuid, "domain": d.name, "domainpath": path, "state": a.state,
        "created": format_date(a.created), "user": users, "isdefault": a.name == "admin" && d.path == "/",
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
        "orchestratorrequirespreparevm": v.requires_prepare, "state": e.state,
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
