//! Power-state sync: one `statuses` call per host (falling back to `status` per instance, through
//! the one invocation path), reported states recorded, and stable instances whose power changed
//! out of band moved to the matching state (never while a job is pending for them).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use trellis_ext_protocol as proto;
use trellis_model::entity::Host;
use trellis_model::instance::VmState;
use trellis_model::{time::now_millis, Error, Result};
use trellis_store::{InfraFilter, Page};

use super::invoke::Target;
use super::{setting, App};

impl App {
    /// One power-state sweep of one host: `statuses` first, per-instance `status` as fallback.
    pub async fn power_sync_host(self: &Arc<Self>, host: &Host) -> Result<usize> {
        let instances = self.store.instance_list_for_host(host.id).await?;
        if instances.is_empty() {
            return Ok(0);
        }
        if self.cluster_extension(host.cluster_id).await?.is_none() {
            return Ok(0);
        }
        let first = self.target(&instances[0], host).await?;
        let timeout = Duration::from_secs(self.setting_i64(setting::WAIT).clamp(1, 120) as u64);
        let mut reports: BTreeMap<String, proto::PowerState> = BTreeMap::new();
        let mut payload = self
            .payload(&first, None, proto::action::STATUSES, false)
            .await?;
        payload.vm = None;
        payload.virtualmachineid = None;
        payload.virtualmachinename = None;
        payload.virtualmachines = Some(
            instances
                .iter()
                .map(|i| (i.instance_name.clone(), i.uuid.clone()))
                .collect(),
        );
        let bulk = match self
            .invoke(&first, proto::action::STATUSES, &payload, timeout)
            .await?
        {
            Ok(out) => proto::parse_statuses_output(&out.stdout),
            Err(_) => None,
        };
        match bulk {
            Some(map) => {
                for i in &instances {
                    let s = map
                        .get(&i.instance_name)
                        .or_else(|| map.get(&i.uuid))
                        .copied();
                    if let Some(s) = s {
                        reports.insert(i.uuid.clone(), s);
                    }
                }
            }
            None => {
                let sem = Arc::new(tokio::sync::Semaphore::new(4));
                let mut set = tokio::task::JoinSet::new();
                let mut templates = std::collections::HashMap::new();
                let mut offerings = std::collections::HashMap::new();
                for i in instances.iter().cloned() {
                    if let std::collections::hash_map::Entry::Vacant(v) =
                        templates.entry(i.template_id)
                    {
                        v.insert(
                            self.store
                                .template_get(i.template_id)
                                .await?
                                .ok_or_else(|| Error::internal("instance without template"))?,
                        );
                    }
                    if let std::collections::hash_map::Entry::Vacant(v) =
                        offerings.entry(i.service_offering_id)
                    {
                        v.insert(
                            self.store
                                .offering_get(i.service_offering_id)
                                .await?
                                .ok_or_else(|| Error::internal("instance without offering"))?,
                        );
                    }
                    let t = Target {
                        instance: i.clone(),
                        host: first.host.clone(),
                        extension: first.extension.clone(),
                        map: first.map.clone(),
                        offering: offerings[&i.service_offering_id].clone(),
                        template: templates[&i.template_id].clone(),
                    };
                    let payload = self.payload(&t, None, proto::action::STATUS, false).await?;
                    let app = self.clone();
                    let sem = sem.clone();
                    set.spawn(async move {
                        let _p = sem.acquire_owned().await;
                        // The one invocation path: gate, logging and masking included.
                        let s = match app
                            .invoke(&t, proto::action::STATUS, &payload, timeout)
                            .await
                        {
                            Ok(Ok(o)) => proto::parse_status_output(&o.stdout),
                            _ => proto::PowerState::PowerUnknown,
                        };
                        (t.instance.uuid, s)
                    });
                }
                while let Some(r) = set.join_next().await {
                    if let Ok((u, s)) = r {
                        reports.insert(u, s);
                    }
                }
            }
        }
        let now = now_millis();
        let mut changed = 0;
        for i in &instances {
            let Some(s) = reports.get(&i.uuid) else {
                continue;
            };
            let wire = match s {
                proto::PowerState::PowerOn => "PowerOn",
                proto::PowerState::PowerOff => "PowerOff",
                proto::PowerState::PowerUnknown => "PowerUnknown",
            };
            if i.power_state != wire {
                self.store.instance_set_power(i.id, wire, now).await?;
            }
            let state = i.state;
            if !state.is_stable() || *s == proto::PowerState::PowerUnknown {
                continue;
            }
            let Some(next) = state.after_power_report(*s == proto::PowerState::PowerOn) else {
                continue;
            };
            if !self.store.job_pending_for(&i.uuid).await?.is_empty() {
                continue;
            }
            let host_id = if next == VmState::Running {
                Some(host.id)
            } else {
                None
            };
            if self
                .store
                .instance_update_state(i.id, i.generation, next, host_id)
                .await?
                .is_some()
            {
                changed += 1;
                self.event_level(
                    "WARN",
                    "VM.POWER.STATE",
                    &format!(
                        "Instance {} was found {wire} out of band; state changed from {} to {}",
                        i.instance_name,
                        state.as_str(),
                        next.as_str()
                    ),
                    Some(("VirtualMachine", &i.uuid)),
                )
                .await;
            }
        }
        Ok(changed)
    }

    /// One sweep over every host, hosts in parallel (bounded), each with its own time limit. A
    /// host whose sync failed or timed out is logged here and counted; a failure to list the
    /// hosts is returned.
    pub async fn power_sync_all(self: &Arc<Self>) -> Result<PowerSyncSweep> {
        let (hosts, _) = self
            .store
            .host_list(&InfraFilter::default(), Page::all())
            .await?;
        let started = std::time::Instant::now();
        let host_count = hosts.len();
        let sem = Arc::new(tokio::sync::Semaphore::new(16));
        let mut set = tokio::task::JoinSet::new();
        for h in hosts {
            let app = self.clone();
            let sem = sem.clone();
            set.spawn(async move {
                let _p = sem.acquire_owned().await;
                let busy = app.lock_for(&format!("power-sync-{}", h.id)).await;
                let Ok(_guard) = busy.try_lock() else { return true };
                let limit = Duration::from_secs(app.setting_i64(setting::POWER_SYNC_INTERVAL).max(5) as u64 * 2);
                match tokio::time::timeout(limit, app.power_sync_host(&h)).await {
                    Ok(Ok(n)) if n > 0 => tracing::info!(host = %h.name, changed = n, "power sync corrected instance states"),
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => {
                        tracing::warn!(host = %h.name, error = %e.internal_message(), "power sync failed");
                        return false;
                    }
                    Err(_) => {
                        tracing::warn!(host = %h.name, "power sync of host timed out");
                        return false;
                    }
                }
                true
            });
        }
        let mut failed = 0;
        while let Some(done) = set.join_next().await {
            if !matches!(done, Ok(true)) {
                failed += 1;
            }
        }
        let elapsed = started.elapsed();
        self.power_sweep_millis.store(
            elapsed.as_millis() as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
        tracing::debug!(
            hosts = host_count,
            elapsed_ms = elapsed.as_millis() as u64,
            "power sync sweep finished"
        );
        Ok(PowerSyncSweep {
            hosts: host_count,
            failed,
        })
    }
}

/// What one power-sync sweep did (for the reconciler's status).
#[derive(Debug, Clone, Copy)]
pub struct PowerSyncSweep {
    pub hosts: usize,
    /// Hosts whose sync failed or timed out (each logged where it failed).
    pub failed: usize,
}
