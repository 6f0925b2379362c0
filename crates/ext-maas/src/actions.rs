//! The lifecycle actions, each a short conversation with MAAS.
//!
//! A machine belongs to an instance from `prepare` (which allocates it, so no other deploy can
//! take it, and tags it with owner data naming the instance) until `delete` (which releases it).
//! Later actions find the machine through the `maas_system_id` detail that `prepare` returned
//! (or, failing that, a `hostname` detail), and refuse to touch a machine whose owner data names
//! another instance.

use crate::client::{power_wire, MaasClient, Machine};
use crate::error::ActionError;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::time::Duration;
use trellis_ext_protocol::{ExternalDetails, Payload};

/// Owner data key holding the instance name (what `statuses` reports under).
pub const OWNER_NAME_KEY: &str = "trellis_instance_name";
/// Owner data key holding the instance uuid.
pub const OWNER_UUID_KEY: &str = "trellis_instance_uuid";
/// The agent name given to allocations (followed by `-<instance uuid>` when known), so operators
/// can tell our machines apart and a retried `prepare` finds a machine it allocated before.
pub const AGENT_NAME: &str = "trellis";

/// Everything an action needs besides the payload.
pub struct Context<'a> {
    pub payload: &'a Payload,
    pub details: ExternalDetails,
    pub client: MaasClient,
    pub base_url: String,
    pub poll_interval: Duration,
}

impl Context<'_> {
    /// A setting of the instance: `externaldetails.virtualmachine` (prefix stripped) first, then
    /// the instance's own details with or without the `External:` prefix.
    fn vm_setting(&self, key: &str) -> Option<String> {
        if let Some(value) = self.details.vm(key) {
            return Some(value.to_string());
        }
        let vm_details = &self.payload.vm.as_ref()?.details;
        [format!("External:{key}"), key.to_string()]
            .iter()
            .find_map(|name| vm_details.get(name))
            .filter(|value| !value.is_empty())
            .cloned()
    }

    /// An instance setting falling back to the host, then the extension.
    fn setting(&self, key: &str) -> Option<String> {
        self.vm_setting(key)
            .or_else(|| self.details.host_or_extension(key).map(str::to_string))
    }

    fn instance_name(&self) -> Option<String> {
        self.payload
            .virtualmachinename
            .clone()
            .or_else(|| self.payload.vm.as_ref().map(|vm| vm.name.clone()))
            .filter(|name| !name.is_empty())
    }

    fn instance_uuid(&self) -> Option<String> {
        self.payload
            .virtualmachineid
            .clone()
            .or_else(|| self.payload.vm.as_ref().map(|vm| vm.uuid.clone()))
            .filter(|uuid| !uuid.is_empty())
    }

    /// The instance's machine, if the details name one.
    fn find_machine(&self) -> Result<Option<Machine>, ActionError> {
        if let Some(system_id) = self.vm_setting("maas_system_id") {
            return self.client.machine(&system_id).map(Some);
        }
        if let Some(hostname) = self.vm_setting("hostname") {
            return Ok(self.client.machines_named(&hostname)?.into_iter().next());
        }
        Ok(None)
    }

    fn require_machine(&self) -> Result<Machine, ActionError> {
        self.find_machine()?.ok_or(ActionError::NoMachine)
    }

    /// Act only on machines `prepare` allocated for this instance: their owner data names the
    /// instance's uuid. A machine with another owner, or with none (allocated outside Trellis, or
    /// named by a detail that points elsewhere), is refused.
    fn ensure_ours(&self, machine: &Machine) -> Result<(), ActionError> {
        if self.is_ours(machine) {
            return Ok(());
        }
        Err(match self.other_owner(machine) {
            Some(other) => ActionError::NotOurs {
                system_id: machine.system_id.clone(),
                other,
            },
            None => ActionError::NotAllocatedForInstance {
                system_id: machine.system_id.clone(),
            },
        })
    }

    fn other_owner(&self, machine: &Machine) -> Option<String> {
        let ours = self.instance_uuid()?;
        let recorded = machine.owner_value(OWNER_UUID_KEY)?;
        (recorded != ours).then(|| {
            machine
                .owner_value(OWNER_NAME_KEY)
                .unwrap_or(recorded)
                .to_string()
        })
    }

    /// The agent name allocations for this instance carry.
    fn agent_name(&self) -> String {
        match self.instance_uuid() {
            Some(uuid) => format!("{AGENT_NAME}-{uuid}"),
            None => AGENT_NAME.to_string(),
        }
    }

    fn is_ours(&self, machine: &Machine) -> bool {
        self.instance_uuid()
            .is_some_and(|ours| machine.owner_value(OWNER_UUID_KEY) == Some(ours.as_str()))
    }

    /// Poll `check` until it yields a value or the deadline passes.
    fn wait_for<T>(
        &self,
        waiting_for: impl Fn() -> String,
        mut check: impl FnMut() -> Result<Option<T>, ActionError>,
    ) -> Result<T, ActionError> {
        let deadline = self.client.deadline();
        loop {
            if let Some(value) = check()? {
                return Ok(value);
            }
            let remaining = deadline.remaining();
            if remaining.is_zero() {
                return Err(ActionError::TimedOut {
                    waiting_for: waiting_for(),
                });
            }
            std::thread::sleep(self.poll_interval.min(remaining));
        }
    }

    /// Wait until MAAS reports `target` (`on`/`off`). A machine whose power cannot be queried
    /// (`unknown`, e.g. manual power) is not waited for.
    fn wait_for_power(&self, system_id: &str, target: &'static str) -> Result<String, ActionError> {
        self.wait_for(
            || format!("waiting for machine {system_id} to power {target}"),
            || {
                let state = self.client.query_power_state(system_id)?;
                match state.as_str() {
                    "error" => Err(ActionError::PowerError {
                        system_id: system_id.to_string(),
                        state,
                    }),
                    s if s == target || s == "unknown" => Ok(Some(state)),
                    _ => Ok(None),
                }
            },
        )
    }
}

/// `prepare`: reserve a Ready machine for the instance and describe it as a merge patch.
pub fn prepare(context: &Context<'_>) -> Result<Value, ActionError> {
    let name = context.instance_name().ok_or(ActionError::NoInstance)?;
    let machine = match reserved_machine(context)? {
        Some(machine) if context.is_ours(&machine) => machine,
        // Allocated by an earlier prepare whose answer was lost before it was tagged.
        Some(machine) => tag(context, &machine.system_id, &name)?,
        None => {
            let machine = context
                .client
                .allocate(&constraints(context, &name))
                .map_err(|error| match error {
                    ActionError::Api {
                        status: 409,
                        message,
                        ..
                    } => ActionError::NoMachineAvailable { message },
                    other => other,
                })?;
            match tag(context, &machine.system_id, &name) {
                Ok(tagged) => tagged,
                Err(error) => {
                    // Do not keep a machine nobody can trace back to the instance.
                    let _ = context
                        .client
                        .machine_op(&machine.system_id, "release", &[]);
                    return Err(error);
                }
            }
        }
    };
    Ok(prepare_patch(context, &machine))
}

/// Record the instance in the machine's owner data (MAAS drops it on release).
fn tag(context: &Context<'_>, system_id: &str, name: &str) -> Result<Machine, ActionError> {
    let mut owner_data = vec![(OWNER_NAME_KEY.to_string(), name.to_string())];
    if let Some(uuid) = context.instance_uuid() {
        owner_data.push((OWNER_UUID_KEY.to_string(), uuid));
    }
    context
        .client
        .machine_op(system_id, "set_owner_data", &owner_data)
}

/// A machine already reserved for this instance: the one the details name (if it is ours), or
/// one allocated under the instance's agent name (a retried prepare).
fn reserved_machine(context: &Context<'_>) -> Result<Option<Machine>, ActionError> {
    if let Some(system_id) = context.vm_setting("maas_system_id") {
        let machine = context.client.machine(&system_id)?;
        return Ok(context.is_ours(&machine).then_some(machine));
    }
    if context.instance_uuid().is_none() {
        return Ok(None);
    }
    let candidates = context.client.machines_of_agent(&context.agent_name())?;
    Ok(candidates.into_iter().find(|machine| {
        matches!(
            machine.status_name.as_str(),
            "Allocated" | "Deploying" | "Deployed"
        ) && context.other_owner(machine).is_none()
    }))
}

/// Allocation constraints: a machine the details ask for, plus zone, pool, tags, architecture.
fn constraints(context: &Context<'_>, name: &str) -> Vec<(String, String)> {
    let mut constraints = Vec::new();
    if let Some(system_id) = context.vm_setting("maas_system_id") {
        constraints.push(("system_id".to_string(), system_id));
    }
    for (detail, constraint) in [("zone", "zone"), ("pool", "pool"), ("architecture", "arch")] {
        if let Some(value) = context.setting(detail) {
            constraints.push((constraint.to_string(), value));
        }
    }
    if let Some(tags) = context.setting("tags") {
        for tag in tags.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            constraints.push(("tags".to_string(), tag.to_string()));
        }
    }
    constraints.push(("agent_name".to_string(), context.agent_name()));
    constraints.push((
        "comment".to_string(),
        format!("reserved for instance {name}"),
    ));
    constraints
}

/// `{"nics":[{uuid, mac}…], "details":{External:…}}`: instance NICs (by device id) get the
/// machine's MACs (boot interface first); NIC entries are matched by `uuid` on merge.
fn prepare_patch(context: &Context<'_>, machine: &Machine) -> Value {
    let macs = machine.macs();
    let mut patch = Map::new();
    if let Some(vm) = &context.payload.vm {
        let mut nics: Vec<_> = vm.nics.iter().collect();
        nics.sort_by_key(|nic| nic.device_id);
        let entries: Vec<Value> = nics
            .iter()
            .zip(macs.iter())
            .map(|(nic, mac)| json!({"uuid": nic.uuid, "mac": mac}))
            .collect();
        if !entries.is_empty() {
            patch.insert("nics".into(), Value::Array(entries));
        }
    }
    let mut details = Map::new();
    if let Some(mac) = macs.first() {
        details.insert("External:mac_address".into(), json!(mac));
    }
    details.insert("External:maas_system_id".into(), json!(machine.system_id));
    details.insert("External:hostname".into(), json!(machine.hostname));
    details.insert(
        "External:console_url".into(),
        json!(format!(
            "{}/r/machine/{}/summary",
            context.base_url, machine.system_id
        )),
    );
    patch.insert("details".into(), Value::Object(details));
    Value::Object(patch)
}

/// `create`: deploy the reserved machine and wait until it is Deployed.
pub fn create(context: &Context<'_>) -> Result<Value, ActionError> {
    let machine = context.require_machine()?;
    // A Ready machine belongs to nobody: deploying it allocates it to this instance (a lost
    // reservation). Any other machine must be the one prepare allocated for the instance.
    if machine.status_name != "Ready" {
        context.ensure_ours(&machine)?;
    }
    let system_id = machine.system_id.clone();
    let (form, warning) = deploy_form(context);
    match machine.status_name.as_str() {
        // A retried create: never deploy twice.
        "Deployed" | "Deploying" => {}
        _ => {
            let deployed = context.client.machine_op(&system_id, "deploy", &form)?;
            if let (false, Some(name)) = (context.is_ours(&deployed), context.instance_name()) {
                // The reservation was lost (the machine was Ready and deploy allocated it anew).
                tag(context, &system_id, &name)?;
            }
        }
    }
    let deployed = context.wait_for(
        || format!("waiting for machine {system_id} to finish deploying"),
        || {
            let machine = context.client.machine(&system_id)?;
            match machine.status_name.as_str() {
                "Deployed" => Ok(Some(machine)),
                "Deploying" | "Allocated" => Ok(None),
                "Failed deployment" => Err(ActionError::DeployFailed {
                    system_id: system_id.clone(),
                    status_name: machine.status_name.clone(),
                    status_message: machine.status_message.clone().unwrap_or_default(),
                }),
                other => Err(ActionError::DeployInterrupted {
                    system_id: system_id.clone(),
                    status_name: other.to_string(),
                }),
            }
        },
    )?;
    let mut out = json!({
        "status": "success",
        "message": format!("machine {} deployed", deployed.system_id),
        "system_id": deployed.system_id,
        "hostname": deployed.hostname,
        "osystem": deployed.osystem,
        "distro_series": deployed.distro_series,
        "power_state": power_wire(&deployed.power_state),
    });
    // Never dropped silently: what could not be delivered is said in the result.
    if let Some(w) = warning {
        out["warning"] = json!(w);
    }
    Ok(out)
}

/// The deploy parameters MAAS knows: `osystem`, `distro_series`, `hwe_kernel`, `user_data`
/// (the instance's user data with its SSH keys); and a warning when keys could not be added.
fn deploy_form(context: &Context<'_>) -> (Vec<(String, String)>, Option<String>) {
    let mut form = Vec::new();
    if let Some(osystem) = context
        .setting("osystem")
        .or_else(|| context.vm_setting("os"))
    {
        form.push(("osystem".to_string(), osystem));
    }
    if let Some(series) = context.setting("distro_series") {
        form.push(("distro_series".to_string(), series));
    }
    if let Some(kernel) = context.setting("hwe_kernel") {
        form.push(("hwe_kernel".to_string(), kernel));
    }
    let user_data = context
        .payload
        .vm
        .as_ref()
        .and_then(|vm| vm.user_data.clone())
        .or_else(|| context.vm_setting("user_data"));
    // The instance's SSH public keys (one per line) go to cloud-init with its user data.
    let keys: Vec<String> = context
        .payload
        .vm
        .as_ref()
        .and_then(|vm| vm.details.get(SSH_PUBLIC_KEY_DETAIL))
        .map(|k| {
            k.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let prepared = crate::cloud_init::prepare(user_data.as_deref(), &keys);
    if let Some(user_data) = prepared.user_data {
        form.push(("user_data".to_string(), user_data));
    }
    if let Some(name) = context.instance_name() {
        form.push((
            "comment".to_string(),
            format!("deployed for instance {name}"),
        ));
    }
    (form, prepared.warning)
}

/// The instance detail with its SSH public keys, one OpenSSH key per line.
const SSH_PUBLIC_KEY_DETAIL: &str = "SSH.PublicKey";

/// `start`: power on and wait until MAAS reports the machine on.
pub fn start(context: &Context<'_>) -> Result<Value, ActionError> {
    let machine = context.require_machine()?;
    context.ensure_ours(&machine)?;
    context
        .client
        .machine_op(&machine.system_id, "power_on", &[])?;
    let state = context.wait_for_power(&machine.system_id, "on")?;
    Ok(
        json!({"status": "success", "message": format!("machine {} powered on", machine.system_id), "power_state": power_wire(&state)}),
    )
}

/// `stop`: power off and wait until MAAS reports the machine off.
pub fn stop(context: &Context<'_>) -> Result<Value, ActionError> {
    let machine = context.require_machine()?;
    context.ensure_ours(&machine)?;
    context
        .client
        .machine_op(&machine.system_id, "power_off", &[])?;
    let state = context.wait_for_power(&machine.system_id, "off")?;
    Ok(
        json!({"status": "success", "message": format!("machine {} powered off", machine.system_id), "power_state": power_wire(&state)}),
    )
}

/// `reboot`: a real power cycle — off, wait until off, on, wait until on.
pub fn reboot(context: &Context<'_>) -> Result<Value, ActionError> {
    let machine = context.require_machine()?;
    context.ensure_ours(&machine)?;
    context
        .client
        .machine_op(&machine.system_id, "power_off", &[])?;
    context.wait_for_power(&machine.system_id, "off")?;
    context
        .client
        .machine_op(&machine.system_id, "power_on", &[])?;
    let state = context.wait_for_power(&machine.system_id, "on")?;
    Ok(
        json!({"status": "success", "message": format!("machine {} power cycled", machine.system_id), "power_state": power_wire(&state)}),
    )
}

/// `delete`: release the machine back to the pool. Nothing to release is success.
pub fn delete(context: &Context<'_>) -> Result<Value, ActionError> {
    let machine = match context.find_machine() {
        Ok(Some(machine)) => machine,
        Ok(None) => {
            return Ok(
                json!({"status": "success", "message": "no maas machine recorded for the instance"}),
            )
        }
        Err(ActionError::Api { status: 404, .. }) => {
            return Ok(
                json!({"status": "success", "message": "the machine no longer exists in maas"}),
            );
        }
        Err(error) => return Err(error),
    };
    let system_id = machine.system_id.clone();
    if !context.is_ours(&machine) {
        let owner = context
            .other_owner(&machine)
            .unwrap_or_else(|| "no trellis instance".to_string());
        return Ok(
            json!({"status": "success", "message": format!("machine {system_id} was not allocated for this instance (it belongs to {owner}); left alone")}),
        );
    }
    if matches!(machine.status_name.as_str(), "Ready" | "Releasing") {
        return Ok(
            json!({"status": "success", "message": format!("machine {system_id} is already released")}),
        );
    }
    match context.client.machine_op(&system_id, "release", &[]) {
        Ok(released) => Ok(json!({
            "status": "success",
            "message": format!("machine {system_id} released"),
            "maas_status": released.status_name,
        })),
        Err(ActionError::Api { status: 404, .. }) => {
            Ok(json!({"status": "success", "message": "the machine no longer exists in maas"}))
        }
        Err(error) => Err(error),
    }
}

/// `status`: the machine's power state. A machine that is released or serves another instance
/// means the instance is not running.
pub fn status(context: &Context<'_>) -> Result<Value, ActionError> {
    let machine = context.require_machine()?;
    let released = matches!(machine.status_name.as_str(), "Ready" | "Releasing" | "New");
    let power = if released || !context.is_ours(&machine) {
        trellis_ext_protocol::PowerState::PowerOff.wire()
    } else {
        power_wire(&machine.power_state)
    };
    Ok(json!({
        "status": "success",
        "power_state": power,
        "system_id": machine.system_id,
        "maas_status": machine.status_name,
    }))
}

/// `statuses`: one power state per instance, keyed by instance name. Machines are matched by
/// the owner data `prepare` wrote, then by hostname equal to an expected instance name.
pub fn statuses(context: &Context<'_>) -> Result<Value, ActionError> {
    let expected = context.payload.virtualmachines.as_ref();
    let mut report: BTreeMap<String, &'static str> = BTreeMap::new();
    for machine in context.client.machines()? {
        let power = power_wire(&machine.power_state);
        if let Some(name) = machine.owner_value(OWNER_NAME_KEY) {
            let wanted = match expected {
                None => true,
                Some(expected) => match (expected.get(name), machine.owner_value(OWNER_UUID_KEY)) {
                    (Some(uuid), Some(recorded)) => uuid == recorded,
                    (Some(_), None) => true,
                    (None, _) => false,
                },
            };
            if wanted {
                report.insert(name.to_string(), power);
                continue;
            }
        }
        if expected.is_some_and(|expected| expected.contains_key(&machine.hostname)) {
            report.entry(machine.hostname.clone()).or_insert(power);
        }
    }
    Ok(json!({"status": "success", "power_state": report}))
}
