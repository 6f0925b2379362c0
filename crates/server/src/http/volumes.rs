//! Volumes: `listVolumes` (the ROOT volume record of every instance). The volume operations
//! External instances do not have are refused by the table (`Handler::RefusedVolume`).

use serde_json::{json, Value};
use trellis_api::ApiError;

use super::handlers::*;
use super::views::tag_json;
use crate::app::reads::VolumeFilter;
use crate::app::volumes::{volume_size, volume_state, volume_state_condition, ROOT_DISK_SIZE};

/// `listVolumes`.
pub(super) async fn list_volumes(cx: &Cx<'_>) -> R {
    let (app, p) = (cx.app, cx.p);
    if p.has("id") && p.has("ids") {
        return Err(ApiError::param("id and ids are mutually exclusive"));
    }
    let destroyed = match p.str("state") {
        Some(state) => match volume_state_condition(state)? {
            Some(d) => Some(d),
            None => return Ok(list("volume", vec![], 0)),
        },
        None => None,
    };
    // Names are ROOT-<instance id>; any other name matches nothing.
    let instance_id = match p.str("name") {
        Some(n) => match n.strip_prefix("ROOT-").and_then(|i| i.parse::<i64>().ok()) {
            Some(i) => Some(i),
            None => return Ok(list("volume", vec![], 0)),
        },
        None => None,
    };
    let f = VolumeFilter {
        uuid: s(p, "id"),
        instance_uuid: s(p, "virtualmachineid"),
        instance_id,
        volume_type: s(p, "type"),
        zone_id: zone_filter(app, p).await?,
        host_id: filter_id(p, "hostid", |u| app.reads().host_by_uuid(u)).await?,
        account_id: None,
        include_destroyed: false,
        destroyed,
        keyword: s(p, "keyword"),
        tags: tag_pairs(p)?,
    };
    let (items, total) = app.volume_list(cx.caller, f, page_of(app, p)?).await?;
    let ids = p.list("ids");
    let items: Vec<_> = items
        .into_iter()
        .filter(|(v, _)| ids.as_ref().is_none_or(|ids| ids.contains(&v.uuid)))
        .collect();
    let instances: Vec<_> = items.iter().map(|(_, i)| i.clone()).collect();
    let refs = app.instance_refs(&instances).await?;
    let mut out = Vec::with_capacity(items.len());
    for (v, i) in &items {
        let z = refs.zones.get(&i.zone_id);
        let t = refs.templates.get(&i.template_id);
        let account = refs.accounts.get(&i.account_id);
        let domain = refs.domains.get(&i.domain_id);
        let o = refs.offerings.get(&i.service_offering_id);
        let root_gib = refs
            .details
            .get(&i.id)
            .and_then(|d| d.get(ROOT_DISK_SIZE))
            .map(String::as_str);
        let tags: Vec<Value> = app
            .reads()
            .tags_of("Volume", &[v.id])
            .await?
            .iter()
            .map(|t| tag_json(t, account, domain))
            .collect();
        let state = volume_state(i);
        out.push(json!({
            "id": v.uuid, "name": format!("ROOT-{}", i.id), "type": v.volume_type, "deviceid": v.device_id,
            "virtualmachineid": i.uuid, "vmname": i.name, "vmdisplayname": i.display_name, "vmstate": i.state.as_str(),
            "size": volume_size(root_gib, t), "state": state, "destroyed": state == "Destroy",
            "hypervisor": "External", "storagetype": "shared", "provisioningtype": "thin",
            "templateid": t.map(|t| t.uuid.clone()), "templatename": t.map(|t| t.name.clone()),
            "serviceofferingid": o.map(|o| o.uuid.clone()), "serviceofferingname": o.map(|o| o.name.clone()),
            "zoneid": z.map(|z| z.uuid.clone()), "zonename": z.map(|z| z.name.clone()),
            "account": account.map(|a| a.name.clone()), "domainid": domain.map(|d| d.uuid.clone()),
            "domain": domain.map(|d| d.name.clone()), "tags": tags, "created": super::views::date(v.created),
        }));
    }
    let total = if ids.is_some() {
        out.len() as i64
    } else {
        total
    };
    Ok(list("volume", out, total))
}
