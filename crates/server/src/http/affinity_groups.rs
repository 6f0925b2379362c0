//! Affinity groups: `createAffinityGroup`, `deleteAffinityGroup` (both queued, as upstream),
//! `listAffinityGroups`, `listAffinityGroupTypes`. `updateVMAffinityGroup` is refused for
//! External instances by the table.

use serde_json::json;
use trellis_api::ApiError;
use trellis_model::affinity::AffinityType;

use super::handlers::*;
use super::views;
use crate::app::affinity::{AffinityGroupCreate, AffinityGroupQuery, AffinityGroupRef};
use crate::app::job::JobCommand;
use crate::app::ownership::OwnerInput;

fn owner_of(p: &trellis_api::Params) -> OwnerInput {
    OwnerInput {
        account: s(p, "account"),
        domain_uuid: s(p, "domainid"),
        project_uuid: s(p, "projectid"),
    }
}

/// `createAffinityGroup`.
pub(super) async fn create_affinity_group(cx: &Cx<'_>) -> Q {
    let (p, c) = (cx.p, cx.cmd);
    let input = AffinityGroupCreate {
        name: req(p, c, "name")?.to_string(),
        group_type: req(p, c, "type")?.to_string(),
        description: s(p, "description"),
        account: s(p, "account"),
        domain_uuid: s(p, "domainid"),
        project_uuid: s(p, "projectid"),
    };
    cx.app
        .affinity_group_create_check(cx.caller, &input)
        .await?;
    Ok((JobCommand::CreateAffinityGroup(input), None))
}

/// `deleteAffinityGroup`: by `id`, or by `name` in the caller's (or `account`'s) account.
pub(super) async fn delete_affinity_group(cx: &Cx<'_>) -> Q {
    let p = cx.p;
    let group = match (s(p, "id"), s(p, "name")) {
        (Some(id), None) => AffinityGroupRef::Id(id),
        (None, Some(name)) => AffinityGroupRef::Name {
            name,
            account: s(p, "account"),
            domain_uuid: s(p, "domainid"),
            project_uuid: s(p, "projectid"),
        },
        (Some(_), Some(_)) => {
            return Err(ApiError::param(
                "Either the id or the name of the affinity group can be given, not both",
            ))
        }
        (None, None) => {
            return Err(ApiError::param(
                "Either the id or the name of the affinity group must be given",
            ))
        }
    };
    let g = cx.app.affinity_group_resolve(cx.caller, &group).await?;
    let about = Some(("AffinityGroup".to_string(), g.uuid.clone()));
    Ok((
        JobCommand::DeleteAffinityGroup(AffinityGroupRef::Id(g.uuid)),
        about,
    ))
}

/// `listAffinityGroups`.
pub(super) async fn list_affinity_groups(cx: &Cx<'_>) -> R {
    let p = cx.p;
    let query = AffinityGroupQuery {
        uuid: s(p, "id"),
        name: s(p, "name"),
        group_type: s(p, "type"),
        instance_uuid: s(p, "virtualmachineid"),
        keyword: s(p, "keyword"),
        owner: owner_of(p),
        recursive: p.bool_or("isrecursive", false),
        list_all: p.bool_or("listall", false),
    };
    let (items, total) = cx
        .app
        .affinity_group_list(cx.caller, &query, page_of(cx.app, p)?)
        .await?;
    let mut out = Vec::with_capacity(items.len());
    for g in &items {
        out.push(views::affinity_group_view(
            &cx.app.affinity_group_view(g).await?,
        ));
    }
    Ok(list("affinitygroup", out, total))
}

/// `listAffinityGroupTypes`: host anti-affinity first (clients take the first as the default).
pub(super) async fn list_affinity_group_types(_cx: &Cx<'_>) -> R {
    let out: Vec<_> = AffinityType::ALL
        .iter()
        .map(|t| json!({"type": t.as_str()}))
        .collect();
    let n = out.len() as i64;
    Ok(list("affinityGroupType", out, n))
}
