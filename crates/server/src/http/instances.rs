//! Instances: deploy and the lifecycle verbs (queued as jobs after their checks), listing, update,
//! recover, console endpoints. The commands CloudStack refuses for External instances are refused
//! by the table (`Handler::Refused`).

use serde_json::{json, Value};
use trellis_api::{ApiError, Reply};
use trellis_model::entity::Instance;

use super::handlers::*;
use super::views::*;
use crate::app::deploy::{DeployInput, NicRequest, RequestMethod};
use crate::app::instance::Op;
use crate::app::job::JobCommand;
use crate::app::ownership::OwnerInput;
use crate::app::reads::InstanceFilter;

/// `listVirtualMachines`.
pub(super) async fn list_virtual_machines(cx: &Cx<'_>) -> R {
    let (out, total) = virtual_machines(cx).await?;
    Ok(list("virtualmachine", out, total))
}

/// `listVirtualMachinesMetrics`: `listVirtualMachines` with the capacity figures upstream's
/// metrics plugin adds. External instances have no usage statistics (upstream cannot fetch them
/// either), so the network and disk counters are omitted rather than reported as zero.
pub(super) async fn list_virtual_machines_metrics(cx: &Cx<'_>) -> R {
    let (mut out, total) = virtual_machines(cx).await?;
    for vm in &mut out {
        add_metrics(vm);
    }
    Ok(list("virtualmachine", out, total))
}

/// The figures of one VM's metrics row, from its view: `cputotal` as upstream formats it
/// (`"<n.n> Ghz"`, vCPUs × MHz / 1000), `memorytotal` (`"<n.nn> GiB"`), and `ipaddress` (the
/// first NIC's address).
fn add_metrics(vm: &mut Value) {
    let num = |k: &str| vm.get(k).and_then(Value::as_f64);
    let cpu = match (num("cpunumber"), num("cpuspeed")) {
        (Some(n), Some(mhz)) => Some(format!("{:.1} Ghz", n * mhz / 1000.0)),
        _ => None,
    };
    let mem = num("memory").map(|mib| format!("{:.2} GiB", mib / 1024.0));
    let ip = vm
        .get("nic")
        .and_then(Value::as_array)
        .and_then(|n| n.first())
        .and_then(|n| n.get("ipaddress"))
        .cloned();
    let Some(obj) = vm.as_object_mut() else {
        return;
    };
    if let Some(cpu) = cpu {
        obj.insert("cputotal".into(), Value::String(cpu));
    }
    if let Some(mem) = mem {
        obj.insert("memorytotal".into(), Value::String(mem));
    }
    if let Some(ip) = ip {
        obj.entry("ipaddress").or_insert(ip);
    }
}

/// The VM views a `listVirtualMachines`-shaped request selects, and the total count.
async fn virtual_machines(cx: &Cx<'_>) -> Result<(Vec<Value>, i64), ApiError> {
    let app = cx.app;
    let caller = cx.caller;
    let p = cx.p;
    let host_id = filter_id(p, "hostid", |u| app.reads().host_by_uuid(u)).await?;
    let extension_id = filter_id(p, "extensionid", |u| app.reads().extension_by_uuid(u)).await?;
    let f = InstanceFilter {
        uuid: s(p, "id"),
        name: s(p, "name"),
        state: s(p, "state"),
        zone_id: zone_filter(app, p).await?,
        host_id,
        account_id: None,
        extension_id,
        keyword: s(p, "keyword"),
        include_destroyed: false,
        tags: tag_pairs(p)?,
        account_ids: None,
        exclude_projects: false,
    };
    let ids = p.list("ids");
    let (items, total) = app
        .instance_list(caller, f, p.str("projectid"), page_of(app, p)?)
        .await?;
    let items: Vec<Instance> = items
        .into_iter()
        .filter(|i| ids.as_ref().is_none_or(|ids| ids.contains(&i.uuid)))
        .collect();
    if let (Some(id), true) = (p.str("id"), items.is_empty()) {
        // An expunged instance lists as nothing; an id that never named one is upstream's 431.
        if app.reads().instance_by_uuid_any(id).await?.is_none() {
            return Err(ApiError::param(format!("Invalid parameter id value={id} due to incorrect long value format, or entity does not exist or due to incorrect parameter annotation for the field in api cmd class.")));
        }
    }
    let ctx = app.instance_refs(&items).await?;
    let out: Vec<Value> = items.iter().map(|i| vm_json(&ctx, i)).collect();
    let total = if ids.is_some() {
        out.len() as i64
    } else {
        total
    };
    Ok((out, total))
}

/// `recoverVirtualMachine`.
pub(super) async fn recover_virtual_machine(cx: &Cx<'_>) -> R {
    let app = cx.app;
    let caller = cx.caller;
    let c = cx.cmd;
    let p = cx.p;
    let inst = app.instance_recover(caller, req(p, c, "id")?).await?;
    Ok(Reply::Object {
        object: "virtualmachine",
        value: vm_view(app, &inst).await?,
    })
}

/// `updateVirtualMachine`.
pub(super) async fn update_virtual_machine(cx: &Cx<'_>) -> R {
    let app = cx.app;
    let caller = cx.caller;
    let c = cx.cmd;
    let p = cx.p;
    // User data is checked before anything changes, and written after the other updates
    // passed their checks: a bad request changes nothing.
    let user_data = p.str("userdata");
    if let Some(raw) = user_data {
        app.user_data_checked(raw, method_of(cx))?;
    }
    let mut inst = app
        .instance_update(
            caller,
            req(p, c, "id")?,
            p.str("displayname"),
            p.map_flat("details"),
            p.bool_or("cleanupdetails", false),
        )
        .await?;
    if let Some(raw) = user_data {
        inst = app
            .instance_set_user_data(caller, &inst.uuid, raw, method_of(cx), false)
            .await?;
    }
    if let Some(group) = p.str("group") {
        inst = app.instance_set_group(caller, &inst.uuid, group).await?;
    }
    if let Some(name) = p.str("name") {
        inst = app.instance_rename(caller, &inst.uuid, name).await?;
    }
    if let Some(on) = p.bool("deleteprotection") {
        inst = app
            .instance_set_delete_protection(caller, &inst.uuid, on)
            .await?;
    }
    Ok(Reply::Object {
        object: "virtualmachine",
        value: vm_view(app, &inst).await?,
    })
}

/// How the request arrived (user data's size limit depends on it).
fn method_of(cx: &Cx<'_>) -> RequestMethod {
    if cx.method == axum::http::Method::GET {
        RequestMethod::Get
    } else {
        RequestMethod::Post
    }
}

/// `keypair` then `keypairs`, in order, each name once.
fn keypair_names(p: &trellis_api::Params) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for name in s(p, "keypair")
        .into_iter()
        .chain(p.list("keypairs").unwrap_or_default())
    {
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

/// `resetSSHKeyForVirtualMachine`: new key pairs for a stopped instance, used from its next start.
pub(super) async fn reset_ssh_key_for_virtual_machine(cx: &Cx<'_>) -> Q {
    let (p, c) = (cx.p, cx.cmd);
    let owner = OwnerInput {
        account: s(p, "account"),
        domain_uuid: s(p, "domainid"),
        project_uuid: s(p, "projectid"),
    };
    let keypairs = keypair_names(p);
    let (inst, _) = cx
        .app
        .instance_reset_keys_check(cx.caller, req(p, c, "id")?, &owner, &keypairs)
        .await?;
    let about = about_vm(&inst.uuid);
    Ok((
        JobCommand::ResetSshKeys {
            instance: inst.uuid,
            keypairs,
        },
        about,
    ))
}

/// `resetUserDataForVirtualMachine`: new user data for a stopped instance.
pub(super) async fn reset_user_data_for_virtual_machine(cx: &Cx<'_>) -> R {
    let (p, c) = (cx.p, cx.cmd);
    for name in ["userdataid", "userdatadetails"] {
        if p.has(name) {
            return Err(ApiError::param("userdataid is not supported"));
        }
    }
    let inst = cx
        .app
        .instance_set_user_data(
            cx.caller,
            req(p, c, "id")?,
            req(p, c, "userdata")?,
            method_of(cx),
            true,
        )
        .await?;
    Ok(Reply::Object {
        object: "virtualmachine",
        value: vm_view(cx.app, &inst).await?,
    })
}

/// `createConsoleEndpoint`.
pub(super) async fn create_console_endpoint(cx: &Cx<'_>) -> R {
    let app = cx.app;
    let caller = cx.caller;
    let c = cx.cmd;
    let p = cx.p;
    let console = app
        .instance_console(caller, req(p, c, "virtualmachineid")?)
        .await?;
    let url = console.url.clone().unwrap_or_else(|| {
        let port = match &console.port {
            Some(Value::Number(n)) => n.to_string(),
            Some(Value::String(s)) => s.clone(),
            _ => String::new(),
        };
        format!(
            "{}://{}:{}",
            console.protocol.as_deref().unwrap_or("vnc"),
            console.host.as_deref().unwrap_or(""),
            port
        )
    });
    Ok(Reply::Object {
        object: "consoleendpoint",
        value: json!({"success": true, "url": url, "websocket": {"host": console.host, "port": console.port, "protocol": console.protocol, "password": console.password}}),
    })
}

/// The object an instance job is about.
fn about_vm(uuid: &str) -> Option<(String, String)> {
    Some(("VirtualMachine".to_string(), uuid.to_string()))
}

/// The instance named by `id`, checked for `op` (state guard, no operation in progress).
async fn checked(cx: &Cx<'_>, op: Op) -> Result<String, ApiError> {
    let id = req(cx.p, cx.cmd, "id")?;
    Ok(cx.app.instance_check(cx.caller, id, op).await?.uuid)
}

/// `deployVirtualMachine`: the instance is allocated now (checks, tenant detail policy, NICs),
/// started by the job.
pub(super) async fn deploy_virtual_machine(cx: &Cx<'_>) -> Q {
    let (p, c) = (cx.p, cx.cmd);
    refuse_unsupported_deploy_params(p)?;
    if let Some(h) = p.str("hypervisor") {
        if !h.eq_ignore_ascii_case("External") {
            return Err(ApiError::param(format!(
                "Hypervisor {h} is not supported: Trellis deploys instances of hypervisor type External"
            )));
        }
    }
    // Registered user data objects do not exist here: refuse rather than ignore them.
    for name in ["userdataid", "userdatadetails"] {
        if p.has(name) {
            return Err(ApiError::param("userdataid is not supported"));
        }
    }
    let keypairs = keypair_names(p);
    let method = method_of(cx);
    let input = DeployInput {
        zone_uuid: req(p, c, "zoneid")?.into(),
        offering_uuid: req(p, c, "serviceofferingid")?.into(),
        template_uuid: req(p, c, "templateid")?.into(),
        name: s(p, "name"),
        display_name: s(p, "displayname"),
        network_uuids: p.list("networkids").unwrap_or_default(),
        details: p.map_flat("details").unwrap_or_default(),
        external_details: p.map_flat("externaldetails").unwrap_or_default(),
        user_data: s(p, "userdata"),
        method,
        keypairs,
        host_uuid: s(p, "hostid"),
        cluster_uuid: s(p, "clusterid"),
        pod_uuid: s(p, "podid"),
        root_disk_size: p.int("rootdisksize"),
        boot_type: s(p, "boottype"),
        boot_mode: s(p, "bootmode"),
        owner: OwnerInput {
            account: s(p, "account"),
            domain_uuid: s(p, "domainid"),
            project_uuid: s(p, "projectid"),
        },
        group: s(p, "group"),
        disk_offering_uuid: s(p, "diskofferingid"),
        disk_size: p.int("size"),
        affinity_group_ids: p.list("affinitygroupids").unwrap_or_default(),
        affinity_group_names: p.list("affinitygroupnames").unwrap_or_default(),
        nic_requests: nic_requests(p)?,
        default_ip: s(p, "ipaddress").filter(|v| !v.trim().is_empty()),
        default_mac: s(p, "macaddress").filter(|v| !v.trim().is_empty()),
    };
    let inst = cx.app.instance_allocate(cx.caller, input).await?;
    let about = about_vm(&inst.uuid);
    let command = JobCommand::Deploy {
        instance: inst.uuid,
        start: p.bool_or("startvm", true),
        host: s(p, "hostid"),
        cluster: s(p, "clusterid"),
        pod: s(p, "podid"),
    };
    Ok((command, about))
}

/// `startVirtualMachine`.
pub(super) async fn start_virtual_machine(cx: &Cx<'_>) -> Q {
    let instance = checked(cx, Op::Start).await?;
    let about = about_vm(&instance);
    let host = s(cx.p, "hostid");
    Ok((JobCommand::Start { instance, host }, about))
}

/// `stopVirtualMachine`.
pub(super) async fn stop_virtual_machine(cx: &Cx<'_>) -> Q {
    let instance = checked(cx, Op::Stop).await?;
    let about = about_vm(&instance);
    let forced = cx.p.bool_or("forced", false);
    Ok((JobCommand::Stop { instance, forced }, about))
}

/// `rebootVirtualMachine`.
pub(super) async fn reboot_virtual_machine(cx: &Cx<'_>) -> Q {
    let instance = checked(cx, Op::Reboot).await?;
    let about = about_vm(&instance);
    Ok((JobCommand::Reboot { instance }, about))
}

/// `destroyVirtualMachine`.
pub(super) async fn destroy_virtual_machine(cx: &Cx<'_>) -> Q {
    let expunge = cx.p.bool_or("expunge", false);
    if expunge {
        cx.app.expunge_recover_allowed(cx.caller, "expunge")?;
    }
    let id = req(cx.p, cx.cmd, "id")?;
    let instance = cx.app.instance_destroy_target(cx.caller, id).await?;
    let about = about_vm(&instance);
    Ok((JobCommand::Destroy { instance, expunge }, about))
}

/// `expungeVirtualMachine`.
pub(super) async fn expunge_virtual_machine(cx: &Cx<'_>) -> Q {
    let instance = checked(cx, Op::Expunge).await?;
    let about = about_vm(&instance);
    Ok((JobCommand::Expunge { instance }, about))
}

/// `iptonetworklist[i].networkid/ip/mac` (`ipv6` is refused: IPv6 is not supported).
fn nic_requests(p: &trellis_api::Params) -> Result<Vec<NicRequest>, ApiError> {
    let mut out = Vec::new();
    for m in p.map_objects("iptonetworklist").unwrap_or_default() {
        let get = |k: &str| {
            m.get(k)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        if get("ipv6").is_some() {
            return Err(ApiError::param(
                "iptonetworklist ipv6 is not supported: IPv6 addresses are not supported",
            ));
        }
        let network_uuid = get("networkid")
            .ok_or_else(|| ApiError::param("Each iptonetworklist entry needs a networkid"))?;
        out.push(NicRequest {
            network_uuid,
            ip: get("ip"),
            mac: get("mac"),
        });
    }
    Ok(out)
}

/// Deploy parameters upstream has and Trellis does not honour yet: refused by name, never
/// dropped. A list parameter given empty (as some clients send) is no request.
fn refuse_unsupported_deploy_params(p: &trellis_api::Params) -> Result<(), ApiError> {
    const REFUSED: &[(&str, &str)] = &[
        ("securitygroupids", "External zones have no security groups"),
        (
            "securitygroupnames",
            "External zones have no security groups",
        ),
        ("ip6address", "IPv6 addresses are not supported"),
        ("datadisksdetails", "External instances take no data disks"),
        ("password", "External instances take no initial password"),
        (
            "extraconfig",
            "extra configuration is not supported for External instances",
        ),
        (
            "nicnetworklist",
            "OVF NIC mappings are not supported for External instances",
        ),
        (
            "properties",
            "OVF properties are not supported for External instances",
        ),
        (
            "dhcpoptionsnetworklist",
            "DHCP options are not supported yet",
        ),
        ("deploymentplanner", "deployment planners are not supported"),
    ];
    for (name, why) in REFUSED {
        let given = p.str(name).is_some_and(|v| !v.trim().is_empty())
            || p.map_objects(name).is_some_and(|m| !m.is_empty());
        if given {
            return Err(ApiError::param(format!(
                "Parameter {name} is not supported: {why}"
            )));
        }
    }
    Ok(())
}
