//! Resource limits and counts: `listResourceLimits`, `updateResourceLimit`,
//! `updateResourceCount`.

use serde_json::{json, Value};
use trellis_api::{Params, Reply};
use trellis_model::limits::ResourceType;
use trellis_model::Error;

use super::handlers::*;
use crate::app::limits::LimitView;

fn domain_path(path: &str) -> String {
    if path == "/" {
        "ROOT".into()
    } else {
        format!("ROOT{}", path.trim_end_matches('/'))
    }
}

fn limit_view(l: &LimitView) -> Value {
    let (project_id, project) = match &l.project {
        Some((id, name)) => (Some(id.clone()), Some(name.clone())),
        None => (None, None),
    };
    json!({
        "account": if project.is_some() { None } else { l.account.as_ref().map(|a| a.name.clone()) },
        "domainid": l.domain.uuid, "domain": l.domain.name, "domainpath": domain_path(&l.domain.path),
        "projectid": project_id, "project": project,
        "resourcetype": l.resource_type.number().to_string(), "resourcetypename": l.resource_type.name(),
        "max": l.max,
    })
}

/// The type named by `resourcetypename` (which wins) or `resourcetype`.
fn resource_type(p: &Params, required: bool) -> Result<Option<ResourceType>, Error> {
    if let Some(n) = p.str("resourcetypename") {
        return ResourceType::from_name(n).map(Some).ok_or_else(|| {
            Error::invalid_param(format!(
                "Resource type {n} is not one Trellis counts: user_vm, public_ip, volume, template, project, network, cpu, memory"
            ))
        });
    }
    match p.int("resourcetype") {
        Some(n) => ResourceType::from_number(n).map(Some).ok_or_else(|| {
            Error::invalid_param(format!(
                "Resource type {n} is not one Trellis counts: 0, 1, 2, 4, 5, 6, 8 or 9"
            ))
        }),
        None if required => Err(Error::invalid_param("resourcetype is required")),
        None => Ok(None),
    }
}

/// `listResourceLimits`.
pub(super) async fn list_resource_limits(cx: &Cx<'_>) -> R {
    let p = cx.p;
    let items: Vec<Value> = cx
        .app
        .limits_list(
            cx.caller,
            p.str("account"),
            p.str("domainid"),
            p.str("projectid"),
            resource_type(p, false)?,
        )
        .await?
        .iter()
        .map(limit_view)
        .collect();
    let n = items.len() as i64;
    Ok(list("resourcelimit", items, n))
}

/// `updateResourceLimit` (`max` absent: unlimited, as upstream).
pub(super) async fn update_resource_limit(cx: &Cx<'_>) -> R {
    let p = cx.p;
    let t =
        resource_type(p, true)?.ok_or_else(|| Error::invalid_param("resourcetype is required"))?;
    let l = cx
        .app
        .limit_update(
            cx.caller,
            t,
            p.int("max").unwrap_or(-1),
            p.str("account"),
            p.str("domainid"),
            p.str("projectid"),
        )
        .await?;
    Ok(Reply::Object {
        object: "resourcelimit",
        value: limit_view(&l),
    })
}

/// `updateResourceCount`.
pub(super) async fn update_resource_count(cx: &Cx<'_>) -> R {
    let p = cx.p;
    let (account, domain, project, counts) = cx
        .app
        .resource_count_list(
            cx.caller,
            p.str("account"),
            req(p, cx.cmd, "domainid")?,
            p.str("projectid"),
            resource_type(p, false)?,
        )
        .await?;
    let (project_id, project_name) = match project {
        Some((id, name)) => (Some(id), Some(name)),
        None => (None, None),
    };
    let items: Vec<Value> = counts
        .iter()
        .map(|(t, n)| {
            json!({
                "account": if project_name.is_some() { None } else { account.as_ref().map(|a| a.name.clone()) },
                "domainid": domain.uuid, "domain": domain.name,
                "projectid": project_id, "project": project_name,
                "resourcetype": t.number().to_string(), "resourcetypename": t.name(), "resourcecount": n,
            })
        })
        .collect();
    let n = items.len() as i64;
    Ok(list("resourcecount", items, n))
}
