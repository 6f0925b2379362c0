//! Global settings: `listConfigurations`, `updateConfiguration`.

use trellis_api::Reply;

use super::handlers::*;
use super::views;

/// `listConfigurations`.
pub(super) async fn list_configurations(cx: &Cx<'_>) -> R {
    let app = cx.app;
    let caller = cx.caller;
    let p = cx.p;
    let (items, total) = app
        .config_list(
            caller,
            p.str("name"),
            p.str("category"),
            p.str("keyword"),
            page_of(app, p)?,
        )
        .await?;
    Ok(list(
        "configuration",
        items.iter().map(views::config).collect(),
        total,
    ))
}

/// `updateConfiguration`.
pub(super) async fn update_configuration(cx: &Cx<'_>) -> R {
    let app = cx.app;
    let caller = cx.caller;
    let cmd = cx.cmd;
    let p = cx.p;
    let c = app
        .config_update(caller, req(p, cmd, "name")?, p.raw("value"))
        .await?;
    Ok(Reply::Object {
        object: "configuration",
        value: views::config(&c),
    })
}
