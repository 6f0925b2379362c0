//! The one way to run an extension action for an instance: load its target (host, extension,
//! cluster registration, offering, template), build the payload byte-compatible with upstream,
//! pass the extension gate (disabled or not-ready extensions refuse), call `Runner::run`, log the
//! outcome and mask the payload's secrets in a failure's output. Nothing else in the server
//! calls the runner for an instance.

use std::collections::BTreeMap;
use std::time::Duration;
use trellis_ext_protocol as proto;
use trellis_ext_runner::{Invocation, RunError, RunOutput};
use trellis_model::entity::{
    DetailOwner, Extension, Host, Instance, ResourceMap, ServiceOffering, Template,
};
use trellis_model::extension::ExtensionState;
use trellis_model::{Error, Result};

use super::infra::{strip_prefix, HOST_PASSWORD, HOST_USERNAME};
use super::job::{JobContext, JobStep, Phase, Resume};
use super::secrets::Redactor;
use super::{setting, App, Caller};
use trellis_model::{ids, time::now_millis};

/// The alert type of a job whose interrupted action's outcome is unknown (a Trellis type,
/// outside upstream's numbers).
pub const ALERT_OUTCOME_UNKNOWN: i64 = 100;

/// Everything needed to run an action for an instance, loaded once per operation.
pub(crate) struct Target {
    pub(crate) instance: Instance,
    pub(crate) host: Host,
    pub(crate) extension: Extension,
    pub(crate) map: ResourceMap,
    pub(crate) offering: ServiceOffering,
    pub(crate) template: Template,
}

pub(crate) fn action_failed(what: &str, inst: &Instance, e: &RunError) -> Error {
    Error::internal_with(
        format!(
            "Failed to {what} instance {}: {}",
            inst.instance_name,
            e.details()
        ),
        e.to_string(),
    )
}

/// The key of `externaldetails.virtualmachine` that carries a template's disk format when it is
/// not `EXTERNAL` (a Trellis addition; upstream's External templates have no other format).
pub const TEMPLATE_FORMAT_KEY: &str = "cloudstack.template.format";

impl App {
    pub(crate) async fn target(&self, inst: &Instance, host: &Host) -> Result<Target> {
        let template = self
            .store
            .template_get(inst.template_id)
            .await?
            .ok_or_else(|| Error::internal("instance without template"))?;
        self.target_with(inst, host, template).await
    }

    pub(crate) async fn target_with(
        &self,
        inst: &Instance,
        host: &Host,
        template: Template,
    ) -> Result<Target> {
        let (extension, map) = self.cluster_extension(host.cluster_id).await?.ok_or_else(|| Error::unavailable(format!("Extension not connected: the cluster of host {} is not registered with an extension", host.name)))?;
        let offering = self
            .store
            .offering_get(inst.service_offering_id)
            .await?
            .ok_or_else(|| Error::internal("instance without offering"))?;
        Ok(Target {
            instance: inst.clone(),
            host: host.clone(),
            extension,
            map,
            offering,
            template,
        })
    }

    /// The host an instance's actions go to (current, else last).
    pub(crate) async fn instance_host(&self, inst: &Instance) -> Result<Option<Host>> {
        match inst.host_id.or(inst.last_host_id) {
            Some(id) => Ok(self.store.host_get(id).await?),
            None => Ok(None),
        }
    }

    pub(crate) fn caller_block(caller: &Caller) -> proto::Caller {
        proto::Caller {
            id: caller.account.uuid.clone(),
            name: caller.account.name.clone(),
            account_type: caller.role_type().account_type_name().into(),
            roleid: caller.role.uuid.clone(),
            rolename: caller.role.name.clone(),
            roletype: caller.role_type().as_str().into(),
        }
    }

    /// Build the payload of `action` (spec §4).
    pub(crate) async fn payload(
        &self,
        t: &Target,
        caller: Option<&Caller>,
        action: &str,
        with_nics: bool,
    ) -> Result<proto::Payload> {
        let inst = &t.instance;
        let (offering, template) = (&t.offering, &t.template);
        // Every details level the payload carries, in one query.
        let [offering_details, instance_details, extension_details, map_details, host_details] =
            self.store
                .details_visible_of(&[
                    (DetailOwner::Offering, offering.id),
                    (DetailOwner::Instance, inst.id),
                    (DetailOwner::Extension, t.extension.id),
                    (DetailOwner::ResourceMap, t.map.id),
                    (DetailOwner::Host, t.host.id),
                ])
                .await?;
        // The extension gets the clear values of sealed secrets (and only it: views mask them).
        let offering_details = self.details_opened(offering_details)?;
        let instance_details = self.details_opened(instance_details)?;
        let extension_details = self.details_opened(extension_details)?;
        let map_details = self.details_opened(map_details)?;
        let host_details = self.details_opened(host_details)?;
        let mut to_details = offering_details;
        to_details.extend(instance_details);
        let mut vm_ext = strip_prefix(to_details.clone());
        let mut nics = Vec::new();
        if with_nics {
            for n in self.store.nic_list(inst.id).await? {
                let net = self.store.network_get(n.network_id).await?;
                nics.push(proto::Nic {
                    uuid: n.uuid.clone(),
                    device_id: n.device_id,
                    default_nic: n.is_default,
                    mac: Some(n.mac.clone()),
                    ip: n.ip.clone(),
                    netmask: n.netmask.clone(),
                    gateway: n.gateway.clone(),
                    dns1: net.as_ref().and_then(|x| x.dns1.clone()),
                    dns2: net.as_ref().and_then(|x| x.dns2.clone()),
                    broadcast_type: Some(
                        if n.broadcast_uri.is_some() {
                            "Vlan"
                        } else {
                            "Native"
                        }
                        .into(),
                    ),
                    broadcast_uri: n.broadcast_uri.clone(),
                    isolation_uri: n.broadcast_uri.clone(),
                    traffic_type: Some("Guest".into()),
                    network_rate_mbps: Some(200),
                    mtu: Some(1500),
                    network_id: Some(n.network_id),
                    network_segment_name: Some(format!(
                        "D{}-A{}-Z{}-S{}",
                        inst.domain_id, inst.account_id, inst.zone_id, n.network_id
                    )),
                    security_group_enabled: false,
                    pxe_disable: false,
                    dpdk_enabled: false,
                    details: Some(
                        [
                            ("PromiscuousMode", "false"),
                            ("MacAddressChanges", "false"),
                            ("ForgedTransmits", "false"),
                            ("MacLearning", "false"),
                        ]
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                    ),
                });
            }
            if matches!(action, proto::action::CREATE | proto::action::START) {
                if let Some(vlan) = nics.iter().find(|n| n.default_nic).and_then(|n| n.vlan()) {
                    vm_ext.insert("cloudstack.vlan".into(), vlan.to_string());
                }
            }
        }
        // A disk format other than upstream's EXTERNAL is the template's promise about its image:
        // the extension learns it beside the other instance-level external details.
        if !template.format.eq_ignore_ascii_case("EXTERNAL") {
            vm_ext.insert(TEMPLATE_FORMAT_KEY.into(), template.format.clone());
        }
        let state = match action {
            proto::action::STOP => "Stopping",
            proto::action::DELETE => "Expunging",
            proto::action::PREPARE | proto::action::CREATE | proto::action::START => "Starting",
            _ => inst.state.as_str(),
        };
        let full = with_nics;
        let uefi = to_details.get(super::deploy::DETAIL_UEFI).cloned();
        let vm = proto::VirtualMachine {
            id: inst.id,
            uuid: inst.uuid.clone(),
            name: inst.instance_name.clone(),
            vm_type: "User".into(),
            state: state.into(),
            cpus: offering.cpu_number,
            min_speed: Some(offering.cpu_speed),
            max_speed: Some(offering.cpu_speed),
            min_ram: offering.memory * 1024 * 1024,
            max_ram: offering.memory * 1024 * 1024,
            arch: Some(template.arch.clone()),
            enable_ha: inst.ha_enabled,
            limit_cpu_use: false,
            enable_dynamically_scale_vm: false,
            enter_hardware_setup: false,
            vnc_password: Some(inst.vnc_password.clone()),
            // Only a UEFI instance says so: BIOS instances keep upstream's empty fields.
            boot_type: uefi.as_ref().map(|_| "UEFI".to_string()),
            boot_mode: uefi,
            details: to_details,
            nics,
            disks: Vec::new(),
            guest_os_details: full.then(BTreeMap::new),
            extra_config: full.then(BTreeMap::new),
            network_id_to_network_name_map: full.then(BTreeMap::new),
            config_drive_location: Some("SECONDARY".into()),
            user_data: inst.user_data.clone(),
        };
        let host = self
            .host_credentials_fallback(t.host.id, &host_details, &extension_details)
            .await?;
        let non_empty = |m: BTreeMap<String, String>| if m.is_empty() { None } else { Some(m) };
        let details = proto::ExternalDetails {
            extension: non_empty(extension_details),
            resourcemap: non_empty(map_details),
            host: non_empty(host),
            virtualmachine: if action == proto::action::STATUS {
                Some(vm_ext)
            } else {
                non_empty(vm_ext)
            },
            action: None,
        };
        Ok(proto::Payload {
            externaldetails: Some(details),
            caller: caller.map(Self::caller_block),
            virtualmachineid: Some(inst.uuid.clone()),
            virtualmachinename: Some(inst.instance_name.clone()),
            vm: Some(vm),
            ..Default::default()
        })
    }

    /// The host level of the payload: the host's `External:` details, plus addHost's
    /// `username`/`password` when neither the host's external details nor the extension set
    /// either (so credentials given the way upstream documents reach the extension, and
    /// credentials an administrator put on the extension are never shadowed by placeholders).
    pub(crate) async fn host_credentials_fallback(
        &self,
        host_id: i64,
        host_details: &BTreeMap<String, String>,
        extension_details: &BTreeMap<String, String>,
    ) -> Result<BTreeMap<String, String>> {
        let mut host = strip_prefix(host_details.clone());
        // The pair travels together: if either key is already set at host or extension level,
        // those credentials are the administrator's choice and addHost's are not mixed in.
        let set = |k: &str| host.contains_key(k) || extension_details.contains_key(k);
        if set(HOST_USERNAME) || set(HOST_PASSWORD) {
            return Ok(host);
        }
        if let Some(u) = host_details.get(HOST_USERNAME) {
            host.insert(HOST_USERNAME.into(), u.clone());
            if let Some(pw) = self
                .store
                .detail_get(DetailOwner::Host, host_id, HOST_PASSWORD)
                .await?
            {
                host.insert(
                    HOST_PASSWORD.into(),
                    self.detail_opened(HOST_PASSWORD, &pw)?,
                );
            }
        }
        Ok(host)
    }

    /// Refuse actions of disabled or not-ready extensions (status polling excepted).
    pub(crate) fn extension_gate(e: &Extension, action: &str) -> Result<()> {
        if action == proto::action::STATUS || action == proto::action::STATUSES {
            return Ok(());
        }
        if e.state != ExtensionState::Enabled {
            return Err(Error::unavailable(format!(
                "Extension {} is disabled",
                e.name
            )));
        }
        if !e.path_ready {
            return Err(Error::unavailable(format!("Extension {} is not ready: its executable is missing, not executable, or differs between servers", e.name)));
        }
        Ok(())
    }

    /// Run one action through the runner; the payload's secrets are masked in its log lines and
    /// in a failure's output.
    pub(crate) async fn invoke(
        &self,
        t: &Target,
        action: &str,
        payload: &proto::Payload,
        timeout: Duration,
    ) -> Result<std::result::Result<RunOutput, RunError>> {
        let redactor = Redactor::for_payload(payload);
        self.invoke_masking(t, action, payload, timeout, &redactor)
            .await
    }

    /// [`App::invoke`] with the secrets to mask given (a custom action adds its
    /// `PASSWORD`-typed parameters).
    pub(crate) async fn invoke_masking(
        &self,
        t: &Target,
        action: &str,
        payload: &proto::Payload,
        timeout: Duration,
        redactor: &Redactor,
    ) -> Result<std::result::Result<RunOutput, RunError>> {
        Self::extension_gate(&t.extension, action)?;
        // Inside a job, every side effect is journaled, and one an earlier run of the job left
        // interrupted is resumed by its rule, never run again blindly.
        let job = super::job::current().filter(|_| JobStep::has_side_effect(action));
        let mut slot = None;
        if let Some(job) = &job {
            if let Some(done) = self.resume_interrupted(job, t, action).await? {
                return Ok(Ok(done));
            }
            // The pending mark goes in once the run has its slot: a job waiting for one has
            // begun nothing (a graceful stop hands it back to the queue).
            slot = Some(
                match self.runner.try_slot(&t.extension.name, Some(&t.host.uuid)) {
                    Some(free) => free,
                    None => {
                        job.wait_for_slot(self.runner.slot(
                            &t.extension.name,
                            action,
                            Some(&t.host.uuid),
                        ))
                        .await?
                    }
                },
            );
            job.begin(action).await?;
        }
        let out = self
            .run_action(t, action, payload, timeout, redactor, slot)
            .await?;
        if let Some(job) = &job {
            job.finish(action, out.is_ok());
        }
        Ok(out)
    }

    /// The run itself: the runner, then the failure's output masked of the payload's secrets,
    /// then the log line.
    async fn run_action(
        &self,
        t: &Target,
        action: &str,
        payload: &proto::Payload,
        timeout: Duration,
        redactor: &Redactor,
        slot: Option<trellis_ext_runner::Slot>,
    ) -> Result<std::result::Result<RunOutput, RunError>> {
        let bytes = serde_json::to_vec(payload).map_err(|e| Error::internal(e.to_string()))?;
        let inv = Invocation {
            extension: t.extension.name.clone(),
            executable: self.extension_path(&t.extension),
            action: action.to_string(),
            payload: bytes,
            timeout,
            host_key: Some(t.host.uuid.clone()),
            secrets: redactor.runner_secrets(),
        };
        let mut out = self.runner.run_in(slot, inv).await;
        if let Err(e) = &mut out {
            // A failure's output reaches users (job results): no secret of the payload in it.
            e.redact_output(|text| redactor.redact(text));
        }
        match &out {
            Ok(o) => {
                tracing::info!(extension = %t.extension.name, action, instance = %t.instance.instance_name, elapsed_ms = o.elapsed.as_millis() as u64, "extension action succeeded")
            }
            Err(e) => {
                tracing::warn!(extension = %t.extension.name, action, instance = %t.instance.instance_name, error = %trellis_model::ErrorChain(&e), "extension action failed")
            }
        }
        Ok(out)
    }

    /// Decide what to do with `action` when an earlier run of the job got to it: `Some` output
    /// when it is known to have happened (nothing runs), `None` to run it, an error when its
    /// outcome cannot be known (it is never run a second time).
    async fn resume_interrupted(
        &self,
        job: &JobContext,
        t: &Target,
        action: &str,
    ) -> Result<Option<RunOutput>> {
        let inst = &t.instance.instance_name;
        let done = || RunOutput {
            stdout: String::new(),
            stdout_truncated: false,
            stderr_tail: String::new(),
            elapsed: Duration::ZERO,
        };
        match job.take_resumed(action) {
            None => Ok(None),
            Some(Phase::Ok) => {
                tracing::info!(job_id = %job.job.uuid, action, instance = %inst, "resumed job: the action had already succeeded before the restart; not run again");
                Ok(Some(done()))
            }
            Some(Phase::Failed) => {
                let text = format!("The {action} action of instance {inst} failed before the server restarted; it is not run again");
                Err(Error::internal_with(text.clone(), text))
            }
            Some(Phase::Pending) => match JobStep::on_resume(action) {
                Resume::Repeat => Ok(None),
                Resume::Observe { done_when } => {
                    let observed = self.observe_power(t).await?;
                    tracing::info!(job_id = %job.job.uuid, action, instance = %inst, ?observed, "resumed job: observed the instance before deciding about an interrupted action");
                    if observed == done_when {
                        Ok(Some(done()))
                    } else if observed == proto::PowerState::PowerUnknown {
                        Err(self.outcome_unknown(job, t, action).await)
                    } else {
                        // It did not happen: running it now is its first effect.
                        Ok(None)
                    }
                }
                Resume::ObserveCreate | Resume::Never => {
                    Err(self.outcome_unknown(job, t, action).await)
                }
            },
        }
    }

    /// The instance's power state as its extension reports it (unknown when `status` fails).
    pub(crate) async fn observe_power(&self, t: &Target) -> Result<proto::PowerState> {
        let payload = self.payload(t, None, proto::action::STATUS, false).await?;
        Ok(
            match self
                .run_action(
                    t,
                    proto::action::STATUS,
                    &payload,
                    Duration::from_secs(60),
                    &Redactor::for_payload(&payload),
                    None,
                )
                .await?
            {
                Ok(o) => proto::parse_status_output(&o.stdout),
                Err(_) => proto::PowerState::PowerUnknown,
            },
        )
    }

    /// An interrupted action whose outcome nobody can tell: raise an alert and an event, and
    /// return the error the job ends with. The action is not run again.
    pub(crate) async fn outcome_unknown(
        &self,
        job: &JobContext,
        t: &Target,
        action: &str,
    ) -> Error {
        let inst = &t.instance;
        let text = format!(
            "Outcome unknown: the server stopped while the {action} action of instance {} ran; it was not run again. Check the instance on the extension's side",
            inst.instance_name
        );
        tracing::warn!(job_id = %job.job.uuid, action, instance = %inst.instance_name, "an interrupted action's outcome is unknown; it is not run again");
        if let Err(e) = self
            .store
            .alert_raise(
                &ids::new_uuid(),
                ALERT_OUTCOME_UNKNOWN,
                "ALERT.TYPE.JOB.OUTCOME.UNKNOWN",
                &format!("{text} (job {})", job.job.uuid),
                now_millis(),
            )
            .await
        {
            tracing::warn!(error = %trellis_model::ErrorChain(&e), "could not raise the alert");
        }
        self.event_level(
            "ERROR",
            "JOB.OUTCOME.UNKNOWN",
            &text,
            Some(("VirtualMachine", &inst.uuid)),
        )
        .await;
        Error::internal_with(text.clone(), text)
    }

    pub(crate) fn lifecycle_timeout(&self) -> Duration {
        Duration::from_secs(self.setting_i64(setting::WAIT).max(1) as u64)
    }
}

/// The warnings an extension's result carries: `warning` (a text) and `warnings` (a list of
/// texts).
pub(crate) fn result_warnings(stdout: &str) -> Vec<String> {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(stdout.trim()) else {
        return Vec::new();
    };
    let mut out: Vec<String> = v
        .get("warning")
        .and_then(|w| w.as_str())
        .map(str::to_string)
        .into_iter()
        .collect();
    if let Some(list) = v.get("warnings").and_then(|w| w.as_array()) {
        out.extend(list.iter().filter_map(|w| w.as_str()).map(str::to_string));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warnings_of_a_result_are_read_in_both_forms() {
        assert_eq!(
            result_warnings(r#"{"warning":"a","warnings":["b",3,"c"]}"#),
            ["a", "b", "c"]
        );
        assert!(result_warnings("not json").is_empty());
        assert!(result_warnings(r#"{"status":"success"}"#).is_empty());
    }
}
