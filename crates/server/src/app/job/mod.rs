//! Jobs as the application sees them: the closed set of commands a job can carry
//! ([`JobCommand`], executed through `App`), what it produced ([`JobOutcome`]), the steps it
//! records around side effects ([`JobStep`], each with its undo), the secrets it carries sealed at
//! rest ([`seal`]), the [`JobContext`] a running job records through, and queueing and reading
//! jobs. The worker that claims and runs them is `crate::jobs`; it depends on this module, never
//! the other way round.

pub mod command;
pub mod seal;
pub mod step;

use std::sync::Arc;
use trellis_model::entity::{Job, JobStatus};
use trellis_model::{ids, time::now_millis, Error, Result};
use trellis_store::{NewJob, Page};

pub use command::{JobCommand, JobOutcome};
pub use step::JobStep;

use super::{App, Caller};

/// What a running job can see and record.
pub struct JobContext {
    pub job: Job,
    owner: String,
    app: Arc<App>,
}

impl JobContext {
    /// The context of `job`, run by the server `owner` (its lease is fenced on that id).
    pub fn new(job: Job, owner: String, app: Arc<App>) -> JobContext {
        JobContext { job, owner, app }
    }

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
