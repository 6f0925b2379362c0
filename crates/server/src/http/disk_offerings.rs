//! Disk offerings: `createDiskOffering`, `deleteDiskOffering`, `listDiskOfferings`.

use crate::app::reads::DiskOfferingFilter;
use serde_json::json;
use trellis_api::Reply;
use trellis_model::entity::DiskOffering;

use super::handlers::*;
use super::views::date;
use crate::app::disk_offerings::DiskOfferingCreate;
use crate::app::App;

/// One `diskoffering`.
async fn view(app: &App, o: &DiskOffering) -> Result<serde_json::Value, trellis_api::ApiError> {
    let zone = app.disk_offering_zone(o).await?;
    Ok(
        json!({"id": o.uuid, "name": o.name, "displaytext": o.display_text, "disksize": o.disk_size,
              "iscustomized": o.customized, "storagetype": o.storage_type, "provisioningtype": o.provisioning_type,
              "zoneid": zone.as_ref().map(|z| z.uuid.clone()), "zone": zone.map(|z| z.name),
              "created": date(o.created)}),
    )
}

/// `createDiskOffering`.
pub(super) async fn create_disk_offering(cx: &Cx<'_>) -> R {
    let (p, c) = (cx.p, cx.cmd);
    let input = DiskOfferingCreate {
        name: req(p, c, "name")?.to_string(),
        display_text: s(p, "displaytext"),
        disk_size: p.int("disksize"),
        customized: p.bool_or("customized", false),
        storage_type: s(p, "storagetype"),
        provisioning_type: s(p, "provisioningtype"),
        zone_uuid: s(p, "zoneid"),
    };
    let o = cx.app.disk_offering_create(cx.caller, &input).await?;
    Ok(Reply::Object {
        object: "diskoffering",
        value: view(cx.app, &o).await?,
    })
}

/// `deleteDiskOffering`.
pub(super) async fn delete_disk_offering(cx: &Cx<'_>) -> R {
    cx.app
        .disk_offering_delete(cx.caller, req(cx.p, cx.cmd, "id")?)
        .await?;
    Ok(Reply::Success { displaytext: None })
}

/// `listDiskOfferings`.
pub(super) async fn list_disk_offerings(cx: &Cx<'_>) -> R {
    let p = cx.p;
    let f = DiskOfferingFilter {
        uuid: s(p, "id"),
        name: s(p, "name"),
        zone_id: zone_filter(cx.app, p).await?,
        keyword: s(p, "keyword"),
    };
    let (items, total) = cx.app.disk_offering_list(&f, page_of(cx.app, p)?).await?;
    let mut out = Vec::with_capacity(items.len());
    for o in &items {
        out.push(view(cx.app, o).await?);
    }
    Ok(list("diskoffering", out, total))
}
