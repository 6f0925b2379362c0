//! The job worker: claims durable jobs (never twice, leases fenced on this server's id), runs
//! them with bounded concurrency, renews leases while they run, and records results exactly as
//! CloudStack clients expect (`jobstatus`, `jobresultcode`, `jobresult`).
//!
//! A job carries typed intent ([`JobCommand`], built by the request handler after its checks),
//! its secrets sealed ([`seal`]), and the steps it reached ([`JobStep`]). The worker executes
//! the command through `App` and hands the [`JobOutcome`] to the renderer the server was started
//! with (the HTTP layer's), so this module never names the HTTP layer.

pub mod command;
pub mod seal;
pub mod step;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Semaphore};
use trellis_api::ApiError;
use trellis_model::entity::{Job, JobStatus};
use trellis_model::{ids, time::now_millis, Error, Result};
use trellis_store::{NewJob, Page};

pub use command::{JobCommand, JobOutcome};
pub use step::JobStep;

use crate::app::{App, Caller};

/// Turns a job's outcome into its CloudStack job result (the HTTP layer provides it).
pub type Renderer = for<'a> fn(
    &'a App,
    JobOutcome,
) -> Pin<
    Box<dyn Future<Output = std::result::Result<serde_json::Value, ApiError>> + Send + 'a>,
>;

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
    /// The step recorded by an earlier run of this job (after a crash), if any. A step name
    /// this server does not know is an error, never silently ignored.
    pub fn resumed_step(&self) -> Result<Option<JobStep>> {
        match self.job.step.as_deref() {
            None | Some("") => Ok(None),
            Some(s) => JobStep::parse(s).map(Some).ok_or_else(|| {
                Error::internal(format!(
                    "job {} recorded an unknown step {s:?}",
                    self.job.uuid
                ))
            }),
        }
    }

    /// Record the step reached, before and after each side effect; steps whose undo is "observe
    /// first" are synced to disk (see `Store::job_set_step`).
    pub async fn set_step(&self, step: JobStep) -> Result<()> {
        if !self
            .app
            .store
            .job_set_step(self.job.id, &self.owner, step.as_str(), step.durable())
            .await?
        {
            return Err(Error::conflict("the job is no longer owned by this server"));
        }
        Ok(())
    }
}

impl App {
    /// Queue an async command. `about` names the object the job is about (`instancetype`,
    /// `instanceid`).
    pub async fn job_submit(
        &self,
        caller: &Caller,
        command: &JobCommand,
        about: Option<(String, String)>,
    ) -> Result<Job> {
        let new = NewJob {
            uuid: ids::new_uuid(),
            user_id: caller.user.id,
            account_id: caller.account.id,
            cmd: command.api_name().to_string(),
            params: command.to_stored()?,
            instance_type: about.as_ref().map(|i| i.0.clone()),
            instance_uuid: about.map(|i| i.1),
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
pub async fn worker(app: Arc<App>, render: Renderer, mut shutdown: watch::Receiver<bool>) {
    match app.store.job_release_all(&app.server_id).await {
        Ok(n) if n > 0 => tracing::info!(
            jobs = n,
            "resuming jobs this server owned before it stopped"
        ),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %trellis_model::ErrorChain(&e), "could not release own jobs"),
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
                    tracing::warn!(error = %trellis_model::ErrorChain(&e), "lease renewal failed");
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
                    run_one(app, render, job).await;
                    drop(permit);
                });
                continue;
            }
            Ok(None) => drop(permit),
            Err(e) => {
                drop(permit);
                tracing::warn!(error = %trellis_model::ErrorChain(&e), "job claim failed");
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

async fn run_one(app: Arc<App>, render: Renderer, job: Job) {
    tracing::info!(job_id = %job.uuid, cmd = %job.cmd, attempt = job.attempts, "job started");
    let outcome = match execute(&app, &job).await {
        Ok(o) => render(&app, o).await,
        Err(e) => Err(e),
    };
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
        Err(e) => tracing::error!(job_id = %job.uuid, error = %trellis_model::ErrorChain(&e), "could not record job result"),
    }
}

async fn execute(app: &Arc<App>, job: &Job) -> std::result::Result<JobOutcome, ApiError> {
    let command = JobCommand::of_job(job, app.secret_key())?;
    let caller = app.principal_cached(job.user_id).await?.ok_or_else(|| {
        ApiError::from(Error::denied(
            "the user who submitted the job no longer exists",
        ))
    })?;
    let ctx = JobContext {
        job: job.clone(),
        owner: app.server_id.clone(),
        app: app.clone(),
    };
    Ok(command.execute(app, &caller, &ctx).await?)
}
