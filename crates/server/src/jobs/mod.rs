//! The job worker: claims durable jobs (never twice, leases fenced on this server's id), runs
//! them with bounded concurrency, renews leases while they run, and records results exactly as
//! CloudStack clients expect (`jobstatus`, `jobresultcode`, `jobresult`).

use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Semaphore};
use trellis_api::{ApiError, Params};
use trellis_model::entity::{Job, JobStatus};
use trellis_model::{ids, time::now_millis, Error, Result};
use trellis_store::{NewJob, Page};

use crate::app::{App, Caller};

/// How long a claim lasts without renewal.
pub const LEASE_MS: i64 = 60_000;
const RENEW_EVERY: Duration = Duration::from_secs(15);
const POLL_EVERY: Duration = Duration::from_millis(1000);
const MAX_RUNNING: usize = 64;

/// What a running job can see and record.
pub struct JobContext {
    pub job: Job,
    owner: String,
    app: Arc<App>,
}

impl JobContext {
    /// The step recorded by an earlier run of this job (after a crash), if any.
    pub fn resumed_step(&self) -> Option<&str> {
        self.job.step.as_deref()
    }

    /// Record the step reached, before and after each side effect.
    pub async fn set_step(&self, step: &str) -> Result<()> {
        self.record_step(step, false).await
    }

    /// Record a step that must survive a power loss: the one written just before an external
    /// side effect that must not be repeated blindly (see `Store::job_set_step`).
    pub async fn set_step_durable(&self, step: &str) -> Result<()> {
        self.record_step(step, true).await
    }

    async fn record_step(&self, step: &str, durable: bool) -> Result<()> {
        if !self
            .app
            .store
            .job_set_step(self.job.id, &self.owner, step, durable)
            .await?
        {
            return Err(Error::conflict("the job is no longer owned by this server"));
        }
        Ok(())
    }
}

impl App {
    /// Queue an async command.
    pub async fn job_submit(
        &self,
        caller: &Caller,
        cmd: &str,
        pairs: &[(String, String)],
        instance: Option<(String, String)>,
    ) -> Result<Job> {
        let stored: Vec<&(String, String)> = pairs
            .iter()
            .filter(|(k, _)| {
                let k = k.to_lowercase();
                !matches!(
                    k.as_str(),
                    "signature" | "apikey" | "sessionkey" | "expires" | "signatureversion"
                )
            })
            .collect();
        let params = serde_json::to_string(&stored).map_err(|e| Error::internal(e.to_string()))?;
        let new = NewJob {
            uuid: ids::new_uuid(),
            user_id: caller.user.id,
            account_id: caller.account.id,
            cmd: cmd.to_string(),
            params,
            instance_type: instance.as_ref().map(|i| i.0.clone()),
            instance_uuid: instance.map(|i| i.1),
        };
        let job = self.store.job_create(&new, now_millis()).await?;
        self.job_notify.notify_one();
        Ok(job)
    }

    /// A job the caller may see.
    pub async fn job_get(&self, caller: &Caller, uuid: &str) -> Result<Job> {
        let j =
            self.store.job_by_uuid(uuid).await?.ok_or_else(|| {
                Error::not_found(format!("Unable to find async job by id {uuid}"))
            })?;
        if !caller.is_root_admin() && j.account_id != caller.account.id {
            return Err(Error::denied(format!(
                "Account {} does not have permission to access job {uuid}",
                caller.account.name
            )));
        }
        Ok(j)
    }

    pub async fn job_list(
        &self,
        caller: &Caller,
        list_all: bool,
        page: Page,
    ) -> Result<(Vec<Job>, i64)> {
        let scope = if caller.is_root_admin() && list_all {
            None
        } else {
            Some(caller.account.id)
        };
        Ok(self.store.job_list(scope, page).await?)
    }

    /// Prometheus lines for job counts.
    pub fn jobs_metrics_text(&self) -> String {
        let counts = self
            .jobs_counts_cache
            .lock()
            .map(|c| c.clone())
            .unwrap_or_default();
        let mut out = format!(
            "# HELP trellis_power_sync_last_sweep_seconds Duration of the last power-state sweep over all hosts\n# TYPE trellis_power_sync_last_sweep_seconds gauge\ntrellis_power_sync_last_sweep_seconds {}\n",
            self.power_sweep_millis.load(std::sync::atomic::Ordering::Relaxed) as f64 / 1000.0
        );
        let cache = self.store.cache_stats();
        out.push_str(&format!(
            "# HELP trellis_catalog_cache_hits_total Catalog lookups served from memory\n# TYPE trellis_catalog_cache_hits_total counter\ntrellis_catalog_cache_hits_total {}\n# HELP trellis_catalog_cache_misses_total Catalog lookups that read the database\n# TYPE trellis_catalog_cache_misses_total counter\ntrellis_catalog_cache_misses_total {}\n",
            cache.hits, cache.misses
        ));
        out.push_str("# HELP trellis_jobs Async jobs by status\n# TYPE trellis_jobs gauge\n");
        for (status, n) in counts {
            let name = match JobStatus::from_i64(status) {
                JobStatus::InProgress => "pending",
                JobStatus::Succeeded => "succeeded",
                JobStatus::Failed => "failed",
                JobStatus::Cancelled => "cancelled",
            };
            out.push_str(&format!("trellis_jobs{{status=\"{name}\"}} {n}\n"));
        }
        out
    }
}

/// The worker loop: runs until shutdown, then waits (bounded) for running jobs.
pub async fn worker(app: Arc<App>, mut shutdown: watch::Receiver<bool>) {
    match app.store.job_release_all(&app.server_id).await {
        Ok(n) if n > 0 => tracing::info!(
            jobs = n,
            "resuming jobs this server owned before it stopped"
        ),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "could not release own jobs"),
    }
    let slots = Arc::new(Semaphore::new(MAX_RUNNING));
    let renewer = {
        let app = app.clone();
        let mut stop = shutdown.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(RENEW_EVERY) => {}
                    _ = stop.wait_for(|v| *v) => break,
                }
                if let Err(e) = app
                    .store
                    .job_renew_leases(&app.server_id, now_millis() + LEASE_MS)
                    .await
                {
                    tracing::warn!(error = %e, "lease renewal failed");
                }
                if let Ok(c) = app.store.job_counts().await {
                    if let Ok(mut cache) = app.jobs_counts_cache.lock() {
                        *cache = c;
                    }
                }
            }
        })
    };
    loop {
        if *shutdown.borrow() {
            break;
        }
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            _ = shutdown.wait_for(|v| *v) => break,
        };
        let now = now_millis();
        match app
            .store
            .job_claim(&app.server_id, now + LEASE_MS, now)
            .await
        {
            Ok(Some(job)) => {
                let app = app.clone();
                tokio::spawn(async move {
                    run_one(app, job).await;
                    drop(permit);
                });
                continue;
            }
            Ok(None) => drop(permit),
            Err(e) => {
                drop(permit);
                tracing::warn!(error = %e, "job claim failed");
            }
        }
        tokio::select! {
            _ = app.job_notify.notified() => {}
            _ = tokio::time::sleep(POLL_EVERY) => {}
            _ = shutdown.wait_for(|v| *v) => break,
        }
    }
    // Let running jobs finish for a while; the rest keep their lease and resume elsewhere or
    // after restart.
    let _ = tokio::time::timeout(
        Duration::from_secs(20),
        slots.acquire_many(MAX_RUNNING as u32),
    )
    .await;
    renewer.abort();
}

async fn run_one(app: Arc<App>, job: Job) {
    tracing::info!(job_id = %job.uuid, cmd = %job.cmd, attempt = job.attempts, "job started");
    let outcome = execute(&app, &job).await;
    let (status, code, result) = match outcome {
        Ok(v) => (JobStatus::Succeeded, 0, v),
        Err(e) => {
            tracing::info!(job_id = %job.uuid, cmd = %job.cmd, code = e.code, error = %e.text, "job failed");
            (
                JobStatus::Failed,
                i64::from(e.code),
                serde_json::json!({"errorcode": e.code, "errortext": e.text}),
            )
        }
    };
    match app
        .store
        .job_complete(
            job.id,
            &app.server_id,
            status,
            code,
            "object",
            &result.to_string(),
            now_millis(),
        )
        .await
    {
        Ok(true) => {
            tracing::info!(job_id = %job.uuid, cmd = %job.cmd, status = status as i64, "job finished")
        }
        Ok(false) => {
            tracing::warn!(job_id = %job.uuid, "job result discarded: the job is no longer owned by this server")
        }
        Err(e) => tracing::error!(job_id = %job.uuid, error = %e, "could not record job result"),
    }
}

async fn execute(app: &Arc<App>, job: &Job) -> std::result::Result<serde_json::Value, ApiError> {
    let pairs: Vec<(String, String)> = serde_json::from_str(&job.params)
        .map_err(|e| ApiError::from(Error::internal(format!("job parameters unreadable: {e}"))))?;
    let params = Params::from_pairs(pairs)?;
    let caller = app
        .principal_cached(job.user_id)
        .await
        .map_err(ApiError::from)?
        .ok_or_else(|| {
            ApiError::from(Error::denied(
                "the user who submitted the job no longer exists",
            ))
        })?;
    let ctx = JobContext {
        job: job.clone(),
        owner: app.server_id.clone(),
        app: app.clone(),
    };
    let reply = crate::http::commands::run_job(app, &caller, &job.cmd, &params, &ctx).await?;
    Ok(reply.job_result())
}
