//! Instances on External clusters after they exist: request-time checks, stop, reboot, destroy,
//! expunge, recover, update, listing and consoles. Allocation and start are the deploy saga
//! (`deploy.rs`), placement `placement.rs`, the extension call `invoke.rs`, power sync
//! `power_sync.rs`, custom-action runs `custom_action.rs`, host maintenance `host_maintenance.rs`.

use std::collections::BTreeMap;
use std::time::Duration;
use trellis_ext_protocol as proto;
use trellis_model::entity::{DetailOwner, Instance};
use trellis_model::instance::VmState;
use trellis_model::limits::ResourceType;
use trellis_model::{time::now_millis, Error, Result, RoleType};
use trellis_store::{InstanceFilter, Page};

use super::expunge_reaper::DETAIL_DESTROYED_AT;
use super::infra::EXTERNAL_PREFIX;
use super::invoke::action_failed;
use super::{setting, App, Caller};

pub(crate) const DETAIL_DEPLOYVM: &str = "deployvm";
const DETAIL_EXPUNGE: &str = "expunge.external.vm";

/// Which operation a request asks for (for request-time checks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Start,
    Stop,
    Reboot,
    Destroy,
    Expunge,
    Recover,
    Update,
}

impl App {
    /// An instance the caller may act on.
    pub async fn instance_for(&self, caller: &Caller, uuid: &str) -> Result<Instance> {
        let inst = self
            .store
            .instance_by_uuid(uuid)
            .await?
            .ok_or_else(|| unknown_instance(uuid))?;
        if !caller.is_root_admin() && inst.account_id != caller.account.id {
            let allowed = (caller.role_type() == RoleType::DomainAdmin
                && self
                    .store
                    .domain_get(inst.domain_id)
                    .await?
                    .is_some_and(|d| d.path.starts_with(&caller.domain.path)))
                || self.is_project_member(caller, inst.account_id).await?;
            if !allowed {
                return Err(Error::denied(format!(
                    "Account {} does not have access to instance {uuid}",
                    caller.account.name
                )));
            }
        }
        Ok(inst)
    }

    /// Request-time check of a lifecycle operation: access, state guard, no other operation
    /// in progress.
    pub async fn instance_check(&self, caller: &Caller, uuid: &str, op: Op) -> Result<Instance> {
        let inst = self.instance_for(caller, uuid).await?;
        // A pending job explains a transitional state better than the state does, and checking
        // it first makes the answer the same however far that job has got.
        if let Some(j) = self.store.job_pending_for(&inst.uuid).await?.first() {
            return Err(Error::conflict(format!("Instance {} has an operation in progress (job {}, {}); try again when it completes", inst.display_name, j.uuid, j.cmd)));
        }
        let state = inst.state;
        match op {
            Op::Start => state.begin_start().map(|_| ())?,
            Op::Stop => state.begin_stop().map(|_| ())?,
            Op::Reboot => state.begin_reboot().map(|_| ())?,
            // Destroying a Destroyed instance is answered with it unchanged, or expunges it.
            Op::Destroy if is_destroyed(state) => {}
            Op::Destroy => state.begin_destroy().map(|_| ())?,
            Op::Expunge => {
                self.expunge_recover_allowed(caller, "expunge")?;
                state.begin_expunge().map(|_| ())?
            }
            Op::Recover => {
                self.expunge_recover_allowed(caller, "recover")?;
                if !state.can_recover() {
                    return Err(Error::invalid_param(format!(
                        "Vm with id {} is not in the right state (it is {}; only Destroyed instances can be recovered)",
                        inst.uuid,
                        state.as_str()
                    )));
                }
            }
            Op::Update => {}
        }
        Ok(inst)
    }

    /// The instance `destroyVirtualMachine` is about: a live one the caller may destroy, or an
    /// expunged one of the caller's (the job then fails as upstream's does, with the text
    /// clients take for "already gone"). An id that never named an instance is the usual 431.
    pub async fn instance_destroy_target(&self, caller: &Caller, uuid: &str) -> Result<String> {
        match self.instance_check(caller, uuid, Op::Destroy).await {
            Ok(inst) => {
                self.delete_protection_check(&inst).await?;
                Ok(inst.uuid)
            }
            Err(e) => match self.store.instance_by_uuid_any(uuid).await? {
                Some(gone)
                    if gone.removed.is_some()
                        && (caller.is_root_admin() || gone.account_id == caller.account.id) =>
                {
                    Ok(gone.uuid)
                }
                _ => Err(e),
            },
        }
    }

    /// Expunging and recovering are for administrators, and for users when
    /// `allow.user.expunge.recover.vm` says so (upstream's rule).
    pub fn expunge_recover_allowed(&self, caller: &Caller, what: &str) -> Result<()> {
        let admin = matches!(caller.role_type(), RoleType::Admin | RoleType::DomainAdmin);
        if admin || self.setting_bool(setting::USER_EXPUNGE_RECOVER_VM) {
            return Ok(());
        }
        Err(Error::denied(format!(
            "Account {} is not allowed to {what} instances (setting {} is false)",
            caller.account.name,
            setting::USER_EXPUNGE_RECOVER_VM
        )))
    }

    /// Whether the caller sees Destroyed and Expunging instances: administrators always, users
    /// when `allow.user.view.destroyed.vm` says so.
    pub fn sees_destroyed(&self, caller: &Caller) -> bool {
        caller.role_type() != RoleType::User || self.setting_bool(setting::USER_VIEW_DESTROYED_VM)
    }

    /// Operations CloudStack refuses for instances on External clusters (spec §9.8). The caller
    /// must be able to see the instance (else the usual not-found / permission errors); then the
    /// refusal names it.
    pub async fn instance_refuse(&self, caller: &Caller, command: &str, uuid: &str) -> Result<()> {
        let inst = self.instance_for(caller, uuid).await?;
        Err(Error::invalid_param(match command {
            "migrateVirtualMachine" | "migrateVirtualMachineWithVolume" => {
                "Migrate VM instance operation is not allowed for External hypervisor type".to_string()
            }
            "createVMSnapshot" => {
                "VM snapshot operations are not allowed for External hypervisor type; use the snapshot custom actions of the instance's extension".to_string()
            }
            _ => format!("Operation not supported for instance: {}", inst.instance_name),
        }))
    }

    pub(crate) async fn set_state(
        &self,
        inst: &Instance,
        state: VmState,
        host_id: Option<i64>,
    ) -> Result<Instance> {
        self.store
            .instance_update_state(inst.id, inst.generation, state, host_id)
            .await?
            .ok_or_else(|| {
                Error::conflict(format!(
                    "Instance {} was changed by another operation; try again",
                    inst.display_name
                ))
            })
    }

    pub(crate) async fn reload(&self, inst: &Instance) -> Result<Instance> {
        self.store
            .instance_get(inst.id)
            .await?
            .ok_or_else(|| Error::not_found(format!("Instance {} no longer exists", inst.uuid)))
    }

    /// Stop an instance; `forced` moves it to Stopped even when the extension fails.
    pub async fn instance_stop(
        &self,
        caller: &Caller,
        uuid: &str,
        forced: bool,
    ) -> Result<Instance> {
        let lock = self.lock_for(&format!("instance-{uuid}")).await;
        let _guard = lock.lock().await;
        let inst = self
            .store
            .instance_by_uuid(uuid)
            .await?
            .ok_or_else(|| Error::not_found(format!("Unable to find instance by id {uuid}")))?;
        self.stop_locked(caller, inst, forced).await
    }

    pub(crate) async fn stop_locked(
        &self,
        caller: &Caller,
        inst: Instance,
        forced: bool,
    ) -> Result<Instance> {
        if inst.state == VmState::Stopped {
            return Ok(inst);
        }
        // A job resumed after a crash finds the instance where it left it.
        let (inst, prior) = if inst.state == VmState::Stopping && resuming_a_job() {
            (inst, VmState::Running)
        } else {
            inst.state.begin_stop()?;
            let prior = inst.state;
            let inst = self
                .set_state(&inst, VmState::Stopping, inst.host_id)
                .await?;
            (inst, prior)
        };
        let result = match self.instance_host(&inst).await? {
            Some(host) => {
                let t = self.target(&inst, &host).await;
                match t {
                    Ok(t) => {
                        let payload = self
                            .payload(&t, Some(caller), proto::action::STOP, false)
                            .await?;
                        match self
                            .invoke(&t, proto::action::STOP, &payload, self.lifecycle_timeout())
                            .await
                        {
                            Ok(Ok(_)) => Ok(()),
                            Ok(Err(e)) => Err(action_failed("stop", &inst, &e)),
                            Err(e) => Err(e),
                        }
                    }
                    Err(e) => Err(e),
                }
            }
            None => Ok(()),
        };
        let inst = self.reload(&inst).await?;
        match result {
            Ok(()) => {
                let inst = self.set_state(&inst, VmState::Stopped, None).await?;
                self.store
                    .instance_set_power(inst.id, "PowerOff", now_millis())
                    .await?;
                self.event(
                    Some(caller),
                    "VM.STOP",
                    &format!("Instance {} stopped", inst.instance_name),
                    Some(("VirtualMachine", &inst.uuid)),
                )
                .await;
                self.reload(&inst).await
            }
            Err(e) if forced => {
                let inst = self.set_state(&inst, VmState::Stopped, None).await?;
                self.event_level(
                    "WARN",
                    "VM.STOP",
                    &format!(
                        "Instance {} force-stopped although the extension failed: {}",
                        inst.instance_name,
                        e.external_message()
                    ),
                    Some(("VirtualMachine", &inst.uuid)),
                )
                .await;
                Ok(inst)
            }
            Err(e) => {
                let back = prior;
                let _ = self.set_state(&inst, back, inst.host_id).await;
                Err(e)
            }
        }
    }

    pub async fn instance_reboot(&self, caller: &Caller, uuid: &str) -> Result<Instance> {
        let lock = self.lock_for(&format!("instance-{uuid}")).await;
        let _guard = lock.lock().await;
        let inst = self
            .store
            .instance_by_uuid(uuid)
            .await?
            .ok_or_else(|| Error::not_found(format!("Unable to find instance by id {uuid}")))?;
        inst.state.begin_reboot()?;
        let host = self
            .instance_host(&inst)
            .await?
            .ok_or_else(|| Error::unavailable("the instance has no host"))?;
        let t = self.target(&inst, &host).await?;
        let payload = self
            .payload(&t, Some(caller), proto::action::REBOOT, true)
            .await?;
        self.invoke(
            &t,
            proto::action::REBOOT,
            &payload,
            self.lifecycle_timeout(),
        )
        .await?
        .map_err(|e| action_failed("reboot", &inst, &e))?;
        self.event(
            Some(caller),
            "VM.REBOOT",
            &format!("Instance {} rebooted", inst.instance_name),
            Some(("VirtualMachine", &inst.uuid)),
        )
        .await;
        self.reload(&inst).await
    }

    /// Destroy: stop if needed, mark Destroyed; with `expunge`, delete it through the extension.
    pub async fn instance_destroy(
        &self,
        caller: &Caller,
        uuid: &str,
        expunge: bool,
    ) -> Result<Option<Instance>> {
        let lock = self.lock_for(&format!("instance-{uuid}")).await;
        let _guard = lock.lock().await;
        let Some(mut inst) = self.store.instance_by_uuid(uuid).await? else {
            // Expunged meanwhile (or before: see `instance_destroy_target`): upstream's text,
            // which clients take for "already gone".
            let id = match self.store.instance_by_uuid_any(uuid).await? {
                Some(gone) => gone.id.to_string(),
                None => uuid.to_string(),
            };
            return Err(Error::invalid_param(format!(
                "Unable to find UUID for id [{id}] of type [VirtualMachine]"
            )));
        };
        if inst.state == VmState::Expunging && resuming_a_job() {
            // Resumed after a crash in the expunge of a destroy with `expunge`.
            self.expunge_locked(caller, inst).await?;
            return Ok(None);
        }
        if is_destroyed(inst.state) {
            // Already destroyed: nothing to do, or the expunge the caller asked for.
            if !expunge {
                return Ok(Some(inst));
            }
            self.expunge_locked(caller, inst).await?;
            return Ok(None);
        }
        self.delete_protection_check(&inst).await?;
        let resumed_stop = inst.state == VmState::Stopping && resuming_a_job();
        if !resumed_stop {
            inst.state.begin_destroy()?;
        }
        // An instance whose first deployment failed was never created on the extension's side
        // (the failed create was undone): there is nothing to stop, as upstream's Error →
        // Destroyed goes straight on.
        let exists = resumed_stop
            || inst.state == VmState::Running
            || (inst.state == VmState::Error && inst.started_once);
        if exists {
            inst = self.stop_locked(caller, inst, expunge).await?;
        }
        let inst = self.set_state(&inst, VmState::Destroyed, None).await?;
        // The expunge reaper's clock (expunge.delay) starts now.
        self.store
            .detail_upsert(
                DetailOwner::Instance,
                inst.id,
                DETAIL_DESTROYED_AT,
                &now_millis().to_string(),
                false,
            )
            .await?;
        self.event(
            Some(caller),
            "VM.DESTROY",
            &format!("Instance {} destroyed", inst.instance_name),
            Some(("VirtualMachine", &inst.uuid)),
        )
        .await;
        if expunge {
            self.expunge_locked(caller, inst).await?;
            return Ok(None);
        }
        Ok(Some(inst))
    }

    pub async fn instance_expunge(&self, caller: &Caller, uuid: &str) -> Result<()> {
        let lock = self.lock_for(&format!("instance-{uuid}")).await;
        let _guard = lock.lock().await;
        let inst = self
            .store
            .instance_by_uuid(uuid)
            .await?
            .ok_or_else(|| Error::not_found(format!("Unable to find instance by id {uuid}")))?;
        self.expunge_locked(caller, inst).await
    }

    pub(crate) async fn expunge_locked(&self, caller: &Caller, inst: Instance) -> Result<()> {
        let inst = if inst.state == VmState::Expunging && resuming_a_job() {
            inst
        } else {
            inst.state.begin_expunge()?;
            self.set_state(&inst, VmState::Expunging, None).await?
        };
        self.store
            .detail_upsert(DetailOwner::Instance, inst.id, DETAIL_EXPUNGE, "true", true)
            .await?;
        let result = match (inst.started_once, self.instance_host(&inst).await?) {
            (true, Some(host)) => match self.target(&inst, &host).await {
                Ok(t) => {
                    let payload = self
                        .payload(&t, Some(caller), proto::action::DELETE, false)
                        .await?;
                    match self
                        .invoke(
                            &t,
                            proto::action::DELETE,
                            &payload,
                            self.lifecycle_timeout(),
                        )
                        .await
                    {
                        Ok(Ok(_)) => Ok(()),
                        Ok(Err(e)) => Err(Error::internal_with(
                            format!(
                                "Unable to expunge instance {} due to {}",
                                inst.instance_name,
                                e.details()
                            ),
                            e.to_string(),
                        )),
                        Err(e) => Err(e),
                    }
                }
                Err(e) => Err(e),
            },
            _ => Ok(()),
        };
        let inst = self.reload(&inst).await?;
        let volumes = self.store.volumes_of(inst.id).await?;
        match result {
            Ok(()) => {
                if !self
                    .store
                    .instance_expunge(inst.id, inst.generation, now_millis())
                    .await?
                {
                    return Err(Error::conflict(
                        "the instance was changed by another operation during expunge",
                    ));
                }
                // Tags go with their resource (the instance and its volumes).
                self.store
                    .tag_delete_for_resource("UserVm", inst.id)
                    .await?;
                for v in &volumes {
                    self.store.tag_delete_for_resource("Volume", v.id).await?;
                }
                self.event(
                    Some(caller),
                    "VM.EXPUNGE",
                    &format!("Instance {} expunged", inst.instance_name),
                    Some(("VirtualMachine", &inst.uuid)),
                )
                .await;
                Ok(())
            }
            Err(e) => {
                let _ = self
                    .store
                    .detail_delete(DetailOwner::Instance, inst.id, DETAIL_EXPUNGE)
                    .await;
                let _ = self.set_state(&inst, VmState::Destroyed, None).await;
                Err(e)
            }
        }
    }

    pub async fn instance_recover(&self, caller: &Caller, uuid: &str) -> Result<Instance> {
        let inst = self.instance_check(caller, uuid, Op::Recover).await?;
        // A recovered instance holds its resources again: it must fit the limits.
        let owner = self.limits_account(inst.account_id).await?;
        let offering = self.store.offering_get(inst.service_offering_id).await?;
        let (cpu, memory) = offering.map_or((0, 0), |o| (o.cpu_number, o.memory));
        let _limits = self
            .limits_reserve(
                &owner,
                &[
                    (ResourceType::UserVm, 1),
                    (ResourceType::Cpu, cpu),
                    (ResourceType::Memory, memory),
                    (ResourceType::Volume, 1),
                ],
            )
            .await?;
        let inst = self.set_state(&inst, VmState::Stopped, None).await?;
        self.store
            .detail_delete(DetailOwner::Instance, inst.id, DETAIL_DESTROYED_AT)
            .await?;
        self.event(
            Some(caller),
            "VM.RECOVER",
            &format!("Instance {} recovered", inst.instance_name),
            Some(("VirtualMachine", &inst.uuid)),
        )
        .await;
        Ok(inst)
    }

    /// `updateVirtualMachine`: display name and details (replacing the visible details except
    /// the `External:` ones and Trellis's own markers, unless given).
    pub async fn instance_update(
        &self,
        caller: &Caller,
        uuid: &str,
        display_name: Option<&str>,
        details: Option<BTreeMap<String, String>>,
        cleanup_details: bool,
    ) -> Result<Instance> {
        let inst = self.instance_check(caller, uuid, Op::Update).await?;
        super::detail_policy::refuse_reserved_details(details.iter().flat_map(|d| d.keys()))?;
        if let Some(d) = details.as_ref().filter(|_| !caller.is_root_admin()) {
            let keys: std::collections::BTreeSet<String> =
                super::detail_policy::external_keys_of_details(d)
                    .into_iter()
                    .collect();
            if !keys.is_empty() {
                let template = self.store.template_get(inst.template_id).await?;
                let offering = self.store.offering_get(inst.service_offering_id).await?;
                let extension = match template.as_ref().and_then(|t| t.extension_id) {
                    Some(id) => self.store.extension_get(id).await?,
                    None => None,
                };
                self.user_details_check(
                    caller,
                    extension.as_ref(),
                    template.as_ref(),
                    offering.as_ref(),
                    &keys,
                )
                .await?;
            }
        }
        if let Some(d) = display_name {
            self.store.instance_set_display_name(inst.id, d).await?;
        }
        if cleanup_details || details.is_some() {
            let current = self
                .store
                .details_visible(DetailOwner::Instance, inst.id)
                .await?;
            // What the deploy and the dedicated parameters set (firmware, root size, keys, group,
            // disk offering, delete protection) is not the user's free-form details: replacing
            // those leaves it alone.
            let deployed = [
                DETAIL_DEPLOYVM,
                super::deploy::DETAIL_UEFI,
                super::volumes::ROOT_DISK_SIZE,
            ];
            for (k, _) in current.iter().filter(|(k, _)| {
                !k.starts_with(EXTERNAL_PREFIX)
                    && !deployed.contains(&k.as_str())
                    && super::detail_policy::reserved_instance_detail(k).is_none()
            }) {
                self.store
                    .detail_delete(DetailOwner::Instance, inst.id, k)
                    .await?;
            }
            // A secret sent back as the mask keeps its stored value.
            let details =
                super::secret_details::keep_masked(details.unwrap_or_default(), &current)?;
            for (k, v) in details {
                let v = self.detail_sealed(&k, &v)?;
                self.store
                    .detail_upsert(DetailOwner::Instance, inst.id, &k, &v, true)
                    .await?;
            }
        }
        self.event(
            Some(caller),
            "VM.UPDATE",
            &format!("Instance {} updated", inst.instance_name),
            Some(("VirtualMachine", &inst.uuid)),
        )
        .await;
        self.reload(&inst).await
    }

    /// `listVirtualMachines`: a root admin sees every account's instances, everyone else their
    /// own account's. `state=present` means neither Destroyed nor Expunging; Destroyed and
    /// Expunging instances are listed for administrators, and for users only when
    /// `allow.user.view.destroyed.vm` is true (then `id=` and `state=Destroyed` find them too).
    /// Instances the caller may list: its own (everything for the root administrator), or with
    /// `project` a project's (`-1`: every project of the caller's), project instances only
    /// then.
    pub async fn instance_list(
        &self,
        caller: &Caller,
        mut f: InstanceFilter,
        project: Option<&str>,
        page: Page,
    ) -> Result<(Vec<Instance>, i64)> {
        let owner = super::ownership::OwnerInput {
            project_uuid: project.map(str::to_string),
            ..Default::default()
        };
        if project.is_some() {
            let scope = self.owner_scope(caller, &owner, false, true).await?;
            f.account_id = scope.account_id;
            f.account_ids = scope.account_ids;
        } else {
            f.exclude_projects = true;
            if !caller.is_root_admin() {
                f.account_id = Some(caller.account.id);
            }
        }
        let present = f
            .state
            .as_deref()
            .is_some_and(|s| s.eq_ignore_ascii_case("present"));
        if present {
            f.state = None;
        }
        f.include_destroyed = !present && self.sees_destroyed(caller);
        Ok(self.store.instance_list(&f, page).await?)
    }

    /// The extension of the cluster an instance runs (or last ran) in.
    pub async fn instance_extension_id(&self, caller: &Caller, uuid: &str) -> Result<i64> {
        let err = || {
            Error::invalid_param("Internal error listing custom actions with specified resource")
        };
        let inst = self.instance_for(caller, uuid).await.map_err(|_| err())?;
        if let Some(h) = self.instance_host(&inst).await? {
            if let Some((e, _)) = self.cluster_extension(h.cluster_id).await? {
                return Ok(e.id);
            }
        }
        let template = self
            .store
            .template_get(inst.template_id)
            .await?
            .ok_or_else(err)?;
        template.extension_id.ok_or_else(err)
    }

    /// `createConsoleEndpoint`: ask the extension for a console.
    pub async fn instance_console(&self, caller: &Caller, uuid: &str) -> Result<proto::Console> {
        let inst = self.instance_for(caller, uuid).await?;
        if inst.state != VmState::Running {
            return Err(Error::invalid_state(format!(
                "Instance {} is not running",
                inst.instance_name
            )));
        }
        let host = self
            .instance_host(&inst)
            .await?
            .ok_or_else(|| Error::unavailable("the instance has no host"))?;
        let t = self.target(&inst, &host).await?;
        let payload = self
            .payload(&t, Some(caller), proto::action::GETCONSOLE, false)
            .await?;
        let out = self
            .invoke(
                &t,
                proto::action::GETCONSOLE,
                &payload,
                Duration::from_secs(60),
            )
            .await?
            .map_err(|e| {
                Error::unavailable(format!(
                    "No console for instance {}: {}",
                    inst.instance_name,
                    e.details()
                ))
            })?;
        proto::parse_console_output(&out.stdout).map_err(|e| {
            Error::unavailable(format!(
                "No console for instance {}: {e}",
                inst.instance_name
            ))
        })
    }
}

/// Destroyed, or on its way out.
fn is_destroyed(state: VmState) -> bool {
    matches!(state, VmState::Destroyed | VmState::Expunging)
}

/// Upstream's answer for an instance id that names no (live) instance.
pub(crate) fn unknown_instance(uuid: &str) -> Error {
    Error::not_found(format!(
        "Invalid parameter id value={uuid} due to incorrect long value format, or entity does not exist or due to incorrect parameter annotation for the field in api cmd class."
    ))
}

/// Is this task a job that an earlier run (before a crash or a lost lease) already started?
fn resuming_a_job() -> bool {
    super::job::current().is_some_and(|job| job.job.attempts > 1)
}
