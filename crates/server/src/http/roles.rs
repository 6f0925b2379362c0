//! Roles and their permission rules: `listRoles`, `createRole`, `updateRole`, `deleteRole`,
//! `importRole`, `listRolePermissions`, `createRolePermission`, `updateRolePermission`,
//! `deleteRolePermission`.

use serde_json::Value;
use trellis_api::Reply;

use super::handlers::*;
use super::views;
use crate::app::roles::{RoleCreate, RoleImport, RoleUpdate, RuleInput};

fn role_reply(r: &trellis_model::entity::Role) -> R {
    Ok(Reply::Object {
        object: "role",
        value: views::role(r),
    })
}

/// `listRoles`.
pub(super) async fn list_roles(cx: &Cx<'_>) -> R {
    let app = cx.app;
    let p = cx.p;
    let roles = app
        .role_list(p.str("id"), p.str("name"), p.str("type"))
        .await?;
    let kw = p.str("keyword").map(str::to_ascii_lowercase);
    let items: Vec<Value> = roles
        .iter()
        // Private roles are shown to root administrators only.
        .filter(|r| r.is_public || cx.caller.is_root_admin())
        .filter(|r| {
            kw.as_deref()
                .is_none_or(|k| r.name.to_ascii_lowercase().contains(k))
        })
        .map(views::role)
        .collect();
    let n = items.len() as i64;
    Ok(list("role", items, n))
}

/// `createRole`.
pub(super) async fn create_role(cx: &Cx<'_>) -> R {
    let p = cx.p;
    let input = RoleCreate {
        name: req(p, cx.cmd, "name")?.to_string(),
        role_type: s(p, "type"),
        clone_of: s(p, "roleid"),
        description: s(p, "description"),
        is_public: p.bool("ispublic"),
    };
    role_reply(&cx.app.role_create(cx.caller, input).await?)
}

/// `updateRole`.
pub(super) async fn update_role(cx: &Cx<'_>) -> R {
    let p = cx.p;
    let u = RoleUpdate {
        name: s(p, "name"),
        role_type: s(p, "type"),
        description: s(p, "description"),
        is_public: p.bool("ispublic"),
    };
    role_reply(
        &cx.app
            .role_update(cx.caller, req(p, cx.cmd, "id")?, u)
            .await?,
    )
}

/// `deleteRole`.
pub(super) async fn delete_role(cx: &Cx<'_>) -> R {
    cx.app
        .role_delete(cx.caller, req(cx.p, cx.cmd, "id")?)
        .await?;
    Ok(Reply::Success { displaytext: None })
}

/// `importRole`.
pub(super) async fn import_role(cx: &Cx<'_>) -> R {
    let p = cx.p;
    let rules = p
        .map_objects("rules")
        .unwrap_or_default()
        .into_iter()
        .map(|m| RuleInput {
            rule: m.get("rule").cloned().unwrap_or_default(),
            permission: m.get("permission").cloned().unwrap_or_default(),
            description: m.get("description").cloned(),
        })
        .collect();
    let input = RoleImport {
        name: req(p, cx.cmd, "name")?.to_string(),
        role_type: req(p, cx.cmd, "type")?.to_string(),
        rules,
        description: s(p, "description"),
        forced: p.bool_or("forced", false),
        is_public: p.bool("ispublic"),
    };
    role_reply(&cx.app.role_import(cx.caller, input).await?)
}

/// `listRolePermissions`.
pub(super) async fn list_role_permissions(cx: &Cx<'_>) -> R {
    let items: Vec<Value> = cx
        .app
        .role_permission_list(cx.caller, cx.p.str("roleid"))
        .await?
        .iter()
        .map(|(perm, role)| views::role_permission(perm, role))
        .collect();
    let n = items.len() as i64;
    Ok(list("rolepermission", items, n))
}

/// `createRolePermission`.
pub(super) async fn create_role_permission(cx: &Cx<'_>) -> R {
    let p = cx.p;
    let rule = RuleInput {
        rule: req(p, cx.cmd, "rule")?.to_string(),
        permission: req(p, cx.cmd, "permission")?.to_string(),
        description: s(p, "description"),
    };
    let (perm, role) = cx
        .app
        .role_permission_create(cx.caller, req(p, cx.cmd, "roleid")?, rule)
        .await?;
    Ok(Reply::Object {
        object: "rolepermission",
        value: views::role_permission(&perm, &role),
    })
}

/// `updateRolePermission`.
pub(super) async fn update_role_permission(cx: &Cx<'_>) -> R {
    let p = cx.p;
    cx.app
        .role_permission_update(
            cx.caller,
            req(p, cx.cmd, "roleid")?,
            p.list("ruleorder"),
            p.str("ruleid"),
            p.str("permission"),
        )
        .await?;
    Ok(Reply::Success { displaytext: None })
}

/// `deleteRolePermission`.
pub(super) async fn delete_role_permission(cx: &Cx<'_>) -> R {
    cx.app
        .role_permission_delete(cx.caller, req(cx.p, cx.cmd, "id")?)
        .await?;
    Ok(Reply::Success { displaytext: None })
}
