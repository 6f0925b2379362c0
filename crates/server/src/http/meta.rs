//! The API about itself and the platform: `listApis`, `listCapabilities`, `listHypervisors`, events
//! and alerts, and the list commands of resources Trellis does not have yet (they answer empty
//! lists, as a CloudStack without such resources would).

use serde_json::{json, Value};
use trellis_api::{ApiError, Reply};
use trellis_model::RoleType;

use super::handlers::*;
use super::views;
use crate::app::reads::EventFilter;

/// `listCapabilities`.
pub(super) async fn list_capabilities(cx: &Cx<'_>) -> R {
    let app = cx.app;
    let caller = cx.caller;
    let mut cap = json!({
        "cloudstackversion": "4.22.0-trellis", "securitygroupsenabled": false, "userpublictemplateenabled": true,
        "supportELB": "false", "customdiskofferingmaxsize": 1024, "customdiskofferingminsize": 1,
        "allowusercreateprojects": false, "apilimitinterval": 1, "apilimitmax": 0,
        "defaultuipagesize": 20, "customhypervisordisplayname": "External", "kvmsnapshotenabled": false,
        "allowuserviewdestroyedvm": true, "allowuserexpungerecovervm": true, "dynamicrolesenabled": true,
        "projectinviterequired": false, "regionsecondaryenabled": false, "kubernetesserviceenabled": false,
        "kubernetesclusterexperimentalfeaturesenabled": false, "sharedfsvmmincpucount": 0, "sharedfsvmminramsize": 0,
        "instancesstatsretentiontime": 0, "instancesstatsuseronly": false, "instancesdisksstatsretentionenabled": false,
        "instancesdisksstatsretentiontime": 0, "allowuserforcestopvm": true,
    });
    // Upstream's rule: the setting, or an administrator.
    cap["allowuserviewdestroyedvm"] = Value::Bool(app.sees_destroyed(caller));
    cap["allowuserexpungerecovervm"] =
        Value::Bool(app.expunge_recover_allowed(caller, "expunge").is_ok());
    if caller.is_root_admin() {
        cap["extensionspath"] = Value::String(app.extensions_root().to_string_lossy().into_owned());
    }
    Ok(Reply::Object {
        object: "capability",
        value: cap,
    })
}

/// `listEvents`.
pub(super) async fn list_events(cx: &Cx<'_>) -> R {
    let app = cx.app;
    let caller = cx.caller;
    let p = cx.p;
    let mut f = EventFilter {
        uuid: s(p, "id"),
        event_type: s(p, "type"),
        level: s(p, "level"),
        account_id: None,
        resource_uuid: s(p, "resourceid"),
        keyword: s(p, "keyword"),
    };
    if caller.role_type() != RoleType::Admin {
        f.account_id = Some(caller.account.id);
    }
    let (items, total) = app.reads().event_list(&f, page_of(app, p)?).await?;
    let mut out = Vec::with_capacity(items.len());
    for e in &items {
        let user = match e.user_id {
            Some(uid) => app.reads().user_get(uid).await?,
            None => None,
        };
        let account = match e.account_id {
            Some(aid) => app.reads().account_get(aid).await?,
            None => None,
        };
        let domain = match e.domain_id {
            Some(did) => app.reads().domain_get(did).await?,
            None => None,
        };
        out.push(views::event(
            e,
            user.as_ref()
                .map(|u| u.username.as_str())
                .or(Some("system")),
            account.as_ref().map(|a| a.name.as_str()).or(Some("system")),
            domain.as_ref(),
        ));
    }
    Ok(list("event", out, total))
}

/// `listAlerts`.
pub(super) async fn list_alerts(cx: &Cx<'_>) -> R {
    let app = cx.app;
    let p = cx.p;
    let type_id = p.str("type").and_then(|t| t.parse().ok());
    let (items, total) = app
        .reads()
        .alert_list(
            p.str("id"),
            type_id,
            p.str("keyword").or(p.str("name")),
            page_of(app, p)?,
        )
        .await?;
    Ok(list(
        "alert",
        items.iter().map(views::alert).collect(),
        total,
    ))
}

/// `listHypervisors`.
pub(super) async fn list_hypervisors(_cx: &Cx<'_>) -> R {
    Ok(list("hypervisor", vec![json!({"name": "External"})], 1))
}

/// `listPublicIpAddresses`. Trellis has no public (virtual-network) addresses yet; with the
/// `networkid` of a Shared network it lists that network's range, each address `Free` or
/// `Allocated` (only the allocated ones unless `allocatedonly=false`, as upstream).
pub(super) async fn list_public_ip_addresses(cx: &Cx<'_>) -> R {
    let p = cx.p;
    let network = p.str("networkid").or(p.str("associatednetworkid"));
    let Some(network) = network.filter(|_| !p.bool_or("forvirtualnetwork", false)) else {
        return Ok(list("publicipaddress", vec![], 0));
    };
    let (n, addresses) = cx
        .app
        .network_addresses(
            cx.caller,
            network,
            p.bool_or("allocatedonly", true),
            p.str("ipaddress"),
            p.str("id"),
        )
        .await?;
    let zone = cx.app.reads().zone_get(n.zone_id).await?;
    if let Some(z) = p.str("zoneid") {
        if zone.as_ref().is_none_or(|zone| zone.uuid != z) {
            return Ok(list("publicipaddress", vec![], 0));
        }
    }
    let total = addresses.len() as i64;
    let (offset, limit) = page_of(cx.app, p).map(|pg| (pg.offset, pg.limit))?;
    let items: Vec<Value> = addresses
        .iter()
        .skip(usize::try_from(offset).unwrap_or(0))
        .take(limit.map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(0)))
        .map(|a| {
            json!({
                "id": a.uuid, "ipaddress": a.ip, "state": if a.allocated { "Allocated" } else { "Free" },
                "networkid": n.uuid, "associatednetworkid": n.uuid, "associatednetworkname": n.name,
                "zoneid": zone.as_ref().map(|z| z.uuid.clone()), "zonename": zone.as_ref().map(|z| z.name.clone()),
                "forvirtualnetwork": false, "issourcenat": false, "isstaticnat": false, "issystem": false,
                "virtualmachineid": a.holder.as_ref().map(|h| h.0.clone()),
                "virtualmachinename": a.holder.as_ref().map(|h| h.1.clone()),
                "allocated": a.since.map(trellis_api::format_date),
                "vlanname": n.broadcast_uri,
            })
        })
        .collect();
    Ok(list("publicipaddress", items, total))
}

/// `listPortForwardingRules`.
pub(super) async fn list_port_forwarding_rules(_cx: &Cx<'_>) -> R {
    Ok(list("portforwardingrule", vec![], 0))
}

/// `listIpForwardingRules`.
pub(super) async fn list_ip_forwarding_rules(_cx: &Cx<'_>) -> R {
    Ok(list("ipforwardingrule", vec![], 0))
}

/// `listVPCs`.
pub(super) async fn list_vpcs(_cx: &Cx<'_>) -> R {
    Ok(list("vpc", vec![], 0))
}

/// `listNetworkServiceProviders`.
pub(super) async fn list_network_service_providers(_cx: &Cx<'_>) -> R {
    Ok(list("networkserviceprovider", vec![], 0))
}

/// `listIsos`.
pub(super) async fn list_isos(_cx: &Cx<'_>) -> R {
    Ok(list("iso", vec![], 0))
}

/// `listApis`: the whole catalog for the caller's role (pre-rendered), or one API by name.
pub(super) async fn list_apis(cx: &Cx<'_>) -> R {
    let (caller, p) = (cx.caller, cx.p);
    // A default role sees exactly its role type's commands (pre-rendered); a custom role what
    // its rules allow.
    if p.str("name").is_none() && caller.role.is_default {
        return Ok(Reply::Rendered(trellis_api::catalog::list_apis_body(
            caller.role_type(),
        )));
    }
    let items: Vec<Value> = cx
        .app
        .apis_allowed(caller)
        .await?
        .into_iter()
        .filter(|c| p.str("name").is_none_or(|n| c.name.eq_ignore_ascii_case(n)))
        .map(|c| c.api_json())
        .collect();
    if let Some(n) = p.str("name") {
        if items.is_empty() {
            return Err(ApiError::param(format!(
                "The API {n} does not exist or is not available for this account"
            )));
        }
    }
    let n = items.len() as i64;
    Ok(list("api", items, n))
}
