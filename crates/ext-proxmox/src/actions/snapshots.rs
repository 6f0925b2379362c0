//! The snapshot custom actions: `ListSnapshots`, `CreateSnapshot`, `RestoreSnapshot` and
//! `DeleteSnapshot`.

use super::{located, power_state, success, vm_path, Instance};
use crate::client::{segment, PveClient};
use crate::error::ActionError;
use reqwest::Method;
use serde_json::{json, Value};
use trellis_ext_protocol::{Payload, PowerState};

/// A custom-action parameter as text (values may arrive typed or as strings).
fn parameter(payload: &Payload, key: &str) -> Option<String> {
    let value = payload.parameters.as_ref()?.get(key)?;
    match value {
        Value::String(text) => Some(text.trim().to_string()).filter(|text| !text.is_empty()),
        Value::Bool(flag) => Some(flag.to_string()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

fn snapshot_name(payload: &Payload) -> Result<String, ActionError> {
    let name = parameter(payload, "snap_name")
        .ok_or_else(|| ActionError::Usage("missing required parameter: snap_name".into()))?;
    if !crate::settings::is_snapshot_name(&name) {
        return Err(ActionError::Usage(format!(
            "invalid snapshot name '{name}': proxmox requires a letter first, then letters, digits, \
             '-' or '_', 2 to 40 characters, and not 'current'"
        )));
    }
    Ok(name)
}

fn format_time(value: Option<&Value>) -> String {
    value
        .and_then(Value::as_i64)
        .and_then(|seconds| chrono::DateTime::from_timestamp(seconds, 0))
        .map(|time| time.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|| "-".to_string())
}

pub(super) fn list_snapshots(
    client: &PveClient,
    instance: &Instance,
) -> Result<Value, ActionError> {
    let vm = located(client, instance)?;
    let path = format!("{}/snapshot", vm_path(client, vm.vmid));
    let answer = client
        .get(&path, &[])
        .map_err(|error| error.context(format!("cannot list the snapshots of vm {}", vm.vmid)))?;
    let mut snapshots: Vec<&Value> = answer
        .as_array()
        .map(|list| {
            list.iter()
                .filter(|snapshot| snapshot.get("name").and_then(Value::as_str) != Some("current"))
                .collect()
        })
        .unwrap_or_default();
    snapshots.sort_by_key(|snapshot| {
        snapshot
            .get("snaptime")
            .and_then(Value::as_i64)
            .unwrap_or(0)
    });
    let text = |snapshot: &Value, key: &str| {
        snapshot
            .get(key)
            .and_then(Value::as_str)
            .filter(|text| !text.is_empty())
            .unwrap_or("-")
            .to_string()
    };
    let rows: Vec<Value> = snapshots
        .into_iter()
        .map(|snapshot| {
            let saved_memory = matches!(snapshot.get("vmstate"), Some(Value::Number(n)) if n.as_u64() == Some(1))
                || snapshot.get("vmstate").and_then(Value::as_str) == Some("1");
            json!({
                "name": text(snapshot, "name"),
                "snaptime": format_time(snapshot.get("snaptime")),
                "description": snapshot.get("description").and_then(Value::as_str).unwrap_or_default().trim(),
                "parent": text(snapshot, "parent"),
                "vmstate": if saved_memory { "yes" } else { "no" },
            })
        })
        .collect();
    Ok(json!({"status": "success", "printmessage": "true", "message": rows}))
}

pub(super) fn create_snapshot(
    client: &PveClient,
    instance: &Instance,
    payload: &Payload,
) -> Result<Value, ActionError> {
    let name = snapshot_name(payload)?;
    let save_memory = parameter(payload, "snap_save_memory").is_some_and(|value| {
        matches!(
            value.to_ascii_lowercase().as_str(),
            "true" | "1" | "yes" | "on"
        )
    });
    let vm = located(client, instance)?;
    let mut params = vec![
        ("snapname", name.clone()),
        ("vmstate", if save_memory { "1" } else { "0" }.to_string()),
    ];
    if let Some(description) = parameter(payload, "snap_description") {
        params.push(("description", description));
    }
    client
        .run_task(
            Method::POST,
            &format!("{}/snapshot", vm_path(client, vm.vmid)),
            &params,
        )
        .map_err(|error| error.context(format!("cannot snapshot vm {} as '{name}'", vm.vmid)))?;
    Ok(success("Instance Snapshot created", Some(vm.vmid)))
}

pub(super) fn restore_snapshot(
    client: &PveClient,
    instance: &Instance,
    payload: &Payload,
) -> Result<Value, ActionError> {
    let name = snapshot_name(payload)?;
    let vm = located(client, instance)?;
    let path = vm_path(client, vm.vmid);
    client
        .run_task(
            Method::POST,
            &format!("{path}/snapshot/{}/rollback", segment(&name)),
            &[],
        )
        .map_err(|error| error.context(format!("cannot roll vm {} back to '{name}'", vm.vmid)))?;
    // A snapshot without RAM leaves the VM stopped; bring it back if it was running.
    if vm.power == PowerState::PowerOn {
        let current = client.get(&format!("{path}/status/current"), &[])?;
        if power_state(&current) == PowerState::PowerOff {
            client
                .run_task(Method::POST, &format!("{path}/status/start"), &[])
                .map_err(|error| {
                    error.context(format!("cannot start vm {} after the rollback", vm.vmid))
                })?;
        }
    }
    Ok(success("Instance Snapshot restored", Some(vm.vmid)))
}

pub(super) fn delete_snapshot(
    client: &PveClient,
    instance: &Instance,
    payload: &Payload,
) -> Result<Value, ActionError> {
    let name = snapshot_name(payload)?;
    let vm = located(client, instance)?;
    client
        .run_task(
            Method::DELETE,
            &format!("{}/snapshot/{}", vm_path(client, vm.vmid), segment(&name)),
            &[],
        )
        .map_err(|error| {
            error.context(format!("cannot delete snapshot '{name}' of vm {}", vm.vmid))
        })?;
    Ok(success("Instance Snapshot deleted", Some(vm.vmid)))
}
