//! Extensions and their registration with clusters: `createExtension`, `listExtensions`,
//! `updateExtension`, `deleteExtension`, `syncExtension`, `importExtension`,
//! `registerExtension`, `unregisterExtension`.

use trellis_api::Reply;

use super::handlers::*;
use super::views;
use crate::app::job::JobCommand;
use crate::app::reads::ExtensionFilter;
use crate::app::{ExtensionCreateParams, ExtensionUpdateParams, ExtensionView, ExtensionViews};

/// `createExtension`.
pub(super) async fn create_extension(cx: &Cx<'_>) -> R {
    let app = cx.app;
    let caller = cx.caller;
    let cmd = cx.cmd;
    let p = cx.p;
    let params = ExtensionCreateParams {
        name: req(p, cmd, "name")?.into(),
        description: s(p, "description"),
        ext_type: req(p, cmd, "type")?.into(),
        path: s(p, "path"),
        requires_prepare: p.bool("orchestratorrequirespreparevm"),
        state: s(p, "state"),
        details: p.map_flat("details").unwrap_or_default(),
    };
    let v = app.extension_create(caller, params).await?;
    Ok(extension_reply(&v))
}

/// `listExtensions`.
pub(super) async fn list_extensions(cx: &Cx<'_>) -> R {
    let app = cx.app;
    let caller = cx.caller;
    let p = cx.p;
    let views_sel = ExtensionViews::parse(p.list("details").as_deref())?;
    let f = ExtensionFilter {
        uuid: s(p, "id"),
        name: s(p, "name"),
        keyword: s(p, "keyword"),
    };
    let (items, total) = app
        .extension_list(caller, &f, views_sel, page_of(app, p)?)
        .await?;
    Ok(list(
        "extension",
        items.iter().map(views::extension).collect(),
        total,
    ))
}

/// `updateExtension`.
pub(super) async fn update_extension(cx: &Cx<'_>) -> R {
    let app = cx.app;
    let caller = cx.caller;
    let cmd = cx.cmd;
    let p = cx.p;
    let params = ExtensionUpdateParams {
        uuid: req(p, cmd, "id")?.into(),
        description: s(p, "description"),
        requires_prepare: p.bool("orchestratorrequirespreparevm"),
        state: s(p, "state"),
        details: p.map_flat("details"),
        cleanup_details: p.bool_or("cleanupdetails", false),
    };
    let v = app.extension_update(caller, params).await?;
    Ok(extension_reply(&v))
}

/// `deleteExtension`.
pub(super) async fn delete_extension(cx: &Cx<'_>) -> R {
    let app = cx.app;
    let caller = cx.caller;
    let cmd = cx.cmd;
    let p = cx.p;
    app.extension_delete(caller, req(p, cmd, "id")?, p.bool_or("cleanup", false))
        .await?;
    Ok(Reply::Success { displaytext: None })
}

/// `syncExtension`: the files are taken here at once; the job waits for the target servers.
pub(super) async fn sync_extension(cx: &Cx<'_>) -> Q {
    let (p, cmd) = (cx.p, cx.cmd);
    let sync = cx
        .app
        .extension_sync_prepare(
            cx.caller,
            req(p, cmd, "id")?,
            req(p, cmd, "sourcemanagementserverid")?,
            p.list("targetmanagementserverids"),
            p.list("files"),
        )
        .await?;
    let about = Some(("Extension".to_string(), sync.extension.clone()));
    Ok((JobCommand::SyncExtension(sync), about))
}

/// `importExtension`.
pub(super) async fn import_extension(cx: &Cx<'_>) -> R {
    let (p, cmd) = (cx.p, cx.cmd);
    let v = cx
        .app
        .extension_import(cx.caller, req(p, cmd, "manifesturl")?, s(p, "checksum"))
        .await?;
    Ok(extension_reply(&v))
}

/// `registerExtension`.
pub(super) async fn register_extension(cx: &Cx<'_>) -> R {
    let app = cx.app;
    let caller = cx.caller;
    let cmd = cx.cmd;
    let p = cx.p;
    let v = app
        .extension_register(
            Some(caller),
            req(p, cmd, "extensionid")?,
            req(p, cmd, "resourceid")?,
            req(p, cmd, "resourcetype")?,
            p.map_flat("details").unwrap_or_default(),
        )
        .await?;
    Ok(extension_reply(&v))
}

/// `unregisterExtension`.
pub(super) async fn unregister_extension(cx: &Cx<'_>) -> R {
    let app = cx.app;
    let caller = cx.caller;
    let cmd = cx.cmd;
    let p = cx.p;
    let v = app
        .extension_unregister(
            Some(caller),
            req(p, cmd, "extensionid")?,
            req(p, cmd, "resourceid")?,
            req(p, cmd, "resourcetype")?,
        )
        .await?;
    Ok(extension_reply(&v))
}

/// `updateRegisteredExtension`.
pub(super) async fn update_registered_extension(cx: &Cx<'_>) -> R {
    let (p, cmd) = (cx.p, cx.cmd);
    let v = cx
        .app
        .extension_registration_update(
            cx.caller,
            req(p, cmd, "extensionid")?,
            req(p, cmd, "resourceid")?,
            req(p, cmd, "resourcetype")?,
            p.map_flat("details"),
            p.bool_or("cleanupdetails", false),
        )
        .await?;
    Ok(extension_reply(&v))
}

/// The `extension` object an extension command answers with.
fn extension_reply(v: &ExtensionView) -> Reply {
    Reply::Object {
        object: "extension",
        value: views::extension(v),
    }
}
