//! Custom actions: define, list, change, delete, and run them on instances (`runCustomAction` is
//! queued as a job).

use trellis_api::{Params, Reply};

use super::handlers::*;
use super::views;
use crate::app::custom_action::{CustomActionInput, CustomActionListParams};
use crate::app::job::seal::Secret;
use crate::app::job::JobCommand;

/// `addCustomAction`.
pub(super) async fn add_custom_action(cx: &Cx<'_>) -> R {
    let app = cx.app;
    let caller = cx.caller;
    let cmd = cx.cmd;
    let p = cx.p;
    let v = app
        .custom_action_add(
            caller,
            req(p, cmd, "extensionid")?,
            req(p, cmd, "name")?,
            custom_action_input(p),
        )
        .await?;
    Ok(Reply::Object {
        object: "extensioncustomaction",
        value: views::custom_action(&v),
    })
}

/// `updateCustomAction`.
pub(super) async fn update_custom_action(cx: &Cx<'_>) -> R {
    let app = cx.app;
    let caller = cx.caller;
    let cmd = cx.cmd;
    let p = cx.p;
    let v = app
        .custom_action_update(
            caller,
            req(p, cmd, "id")?,
            custom_action_input(p),
            p.bool_or("cleanupparameters", false),
            p.bool_or("cleanupdetails", false),
        )
        .await?;
    Ok(Reply::Object {
        object: "extensioncustomaction",
        value: views::custom_action(&v),
    })
}

/// `deleteCustomAction`.
pub(super) async fn delete_custom_action(cx: &Cx<'_>) -> R {
    let app = cx.app;
    let caller = cx.caller;
    let cmd = cx.cmd;
    let p = cx.p;
    app.custom_action_delete(caller, req(p, cmd, "id")?).await?;
    Ok(Reply::Success { displaytext: None })
}

/// `listCustomActions`.
pub(super) async fn list_custom_actions(cx: &Cx<'_>) -> R {
    let app = cx.app;
    let caller = cx.caller;
    let p = cx.p;
    let params = CustomActionListParams {
        uuid: s(p, "id"),
        name: s(p, "name"),
        extension_uuid: s(p, "extensionid"),
        resource_type: s(p, "resourcetype"),
        resource_uuid: s(p, "resourceid"),
        enabled: p.bool("enabled"),
        keyword: s(p, "keyword"),
    };
    let (items, total) = app
        .custom_action_list(caller, params, page_of(app, p)?)
        .await?;
    Ok(list(
        "extensioncustomaction",
        items.iter().map(views::custom_action).collect(),
        total,
    ))
}

/// `runCustomAction`.
pub(super) async fn run_custom_action(cx: &Cx<'_>) -> Q {
    let app = cx.app;
    let cmd = cx.cmd;
    let p = cx.p;
    let resource = req(p, cmd, "resourceid")?.to_string();
    let parameters = app
        .secret_key()
        .seal(&Secret::new(p.map_pairs("parameters").unwrap_or_default()))?;
    Ok((
        JobCommand::RunCustomAction {
            action: req(p, cmd, "customactionid")?.to_string(),
            resource_type: s(p, "resourcetype"),
            resource: resource.clone(),
            parameters,
        },
        Some(("VirtualMachine".into(), resource)),
    ))
}

pub(super) fn custom_action_input(p: &Params) -> CustomActionInput {
    CustomActionInput {
        description: s(p, "description"),
        resource_type: s(p, "resourcetype"),
        allowed_role_types: p.list("allowedroletypes"),
        parameters: p.map_objects("parameters"),
        success_message: s(p, "successmessage"),
        error_message: s(p, "errormessage"),
        timeout: p.int("timeout"),
        enabled: p.bool("enabled"),
        details: p.map_flat("details"),
    }
}
