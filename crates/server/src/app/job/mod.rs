//! Jobs as the application sees them: the closed set of commands a job can carry
//! ([`JobCommand`], executed through `App`), what it produced ([`JobOutcome`]), the steps it
//! journals around side effects ([`JobStep`], each action with its resumption), the secrets it carries sealed at
//! rest ([`seal`]), the [`JobContext`] a running job records through, and queueing and reading
//! jobs. The worker that claims and runs them is `crate::jobs`; it depends on this module, never
//! the other way round.

pub mod command;
pub mod seal;
pub mod step;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use trellis_model::entity::{Job, JobStatus};
use trellis_model::{ids, time::now_millis, Error, Result};
use trellis_store::{NewJob, Page};

pub use command::{JobCommand, JobOutcome};
pub use step::{JobStep, Phase, Resume};

use super::{App, Caller};

/// How long a claim lasts without renewal: a dead server's jobs are taken over this long after
/// its last renewal at most.
pub const LEASE_MS: i64 = 4_000;

tokio::task_local! {
    /// The job the current task runs, so that `App::invoke` journals its side effects.
    static CURRENT: Arc<JobContext>;
}

/// Run `work` as job `ctx`: every extension action it invokes (in this task) is journaled.
pub async fn in_job<F: std::future::Future>(ctx: Arc<JobContext>, work: F) -> F::Output {
    CURRENT.scope(ctx, work).await
}

/// The job the current task runs, if it runs one.
pub(crate) fn current() -> Option<Arc<JobContext>> {
    CURRENT.try_with(Arc::clone).ok()
}

/// What a running job can see and record.
pub struct JobContext {
    pub job: Job,
    owner: String,
    app: Arc<App>,
    /// The journal as an earlier run of this job left it (after a crash); an entry is taken out
    /// once its resumption is decided.
    resumed: std::sync::Mutex<JobStep>,
    /// The journal as this run writes it.
    journal: std::sync::Mutex<JobStep>,
    /// A side effect was begun in this run (set under the journal's lock).
    begun: std::sync::atomic::AtomicBool,
    /// Handed back to the queue (graceful stop) before any side effect: it may begin none.
    handed_back: std::sync::atomic::AtomicBool,
}

impl JobContext {
    /// The context of `job`, run by the server `owner` (its lease is fenced on that id). A
    /// journal this server cannot read is an error, never silently ignored.
    pub fn new(job: Job, owner: String, app: Arc<App>) -> Result<JobContext> {
        let resumed = JobStep::parse(job.step.as_deref().unwrap_or(""))
            .map_err(|e| Error::internal(format!("job {}: {}", job.uuid, e.external_message())))?;
        Ok(JobContext {
            journal: std::sync::Mutex::new(resumed.clone()),
            resumed: std::sync::Mutex::new(resumed),
            begun: std::sync::atomic::AtomicBool::new(false),
            handed_back: std::sync::atomic::AtomicBool::new(false),
            job,
            owner,
            app,
        })
    }

    /// Where an earlier run of this job left `action`, if it got to it. Taking it decides its
    /// resumption: a later call for the same action in this run sees nothing.
    pub fn take_resumed(&self, action: &str) -> Option<Phase> {
        self.resumed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take(action)
    }

    /// Peek at where an earlier run left `action` without deciding anything.
    pub fn resumed(&self, action: &str) -> Option<Phase> {
        self.resumed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .phase(action)
    }

    /// Record that `action` is about to run, fenced on this server's lease (synced to disk for
    /// the actions [`JobStep::durable`] names). Outcomes recorded since the last write go with it.
    pub async fn begin(&self, action: &str) -> Result<()> {
        let text = {
            let mut j = self.journal.lock().unwrap_or_else(|p| p.into_inner());
            if self.handed_back.load(Ordering::SeqCst) {
                return Err(Error::unavailable(
                    "the server is stopping: the job goes back to the queue",
                ));
            }
            self.begun.store(true, Ordering::SeqCst);
            j.set(action, Phase::Pending);
            j.render()
        };
        if !self
            .app
            .store
            .job_set_step(self.job.id, &self.owner, &text, JobStep::durable(action))
            .await?
        {
            return Err(Error::conflict("the job is no longer owned by this server"));
        }
        Ok(())
    }

    /// Wait for `slot` (a runner slot that was not free at once). A job that has begun no side
    /// effect opens its claim while it waits, so that a server with a free slot takes it over
    /// within a second instead of it waiting here; once the slot is there, the claim is taken
    /// back, and if another server took the job meanwhile, this run begins nothing (the
    /// worker stops it). A job that has begun a side effect keeps its claim: it waits here.
    pub async fn wait_for_slot<T>(&self, slot: impl std::future::Future<Output = T>) -> Result<T> {
        // Opening is an optimisation: if the database cannot take it, the job waits here
        // holding its claim, as it did before.
        let open = !self.begun.load(Ordering::SeqCst)
            && match self
                .app
                .store
                .job_lease_open(self.job.id, &self.owner)
                .await
            {
                Ok(opened) => opened,
                Err(e) => {
                    tracing::warn!(job_id = %self.job.uuid, error = %trellis_model::ErrorChain(&e), "could not open the claim of a job waiting for a runner slot; it waits holding it");
                    false
                }
            };
        if open {
            tracing::info!(job_id = %self.job.uuid, "job waits for a runner slot; its claim is open to other servers meanwhile");
        }
        let slot = slot.await;
        if open
            && !self
                .app
                .store
                .job_lease_take_back(self.job.id, &self.owner, now_millis() + LEASE_MS)
                .await?
        {
            return Err(Error::conflict(
                "the job was taken over by another server while it waited for a runner slot",
            ));
        }
        Ok(slot)
    }

    /// Give the job back to the queue if it has begun no side effect in this run (a graceful
    /// stop): from now on it may begin none. Returns whether it was handed back.
    pub fn hand_back(&self) -> bool {
        let _journal = self.journal.lock().unwrap_or_else(|p| p.into_inner());
        if self.begun.load(Ordering::SeqCst) {
            return false;
        }
        self.handed_back.store(true, Ordering::SeqCst);
        true
    }

    /// Was the job handed back (its result, if any, is not to be recorded)?
    pub fn handed_back(&self) -> bool {
        self.handed_back.load(Ordering::SeqCst)
    }

    /// Note `action`'s outcome; it is written with the next [`JobContext::begin`] (a job that
    /// ends records its result instead).
    pub fn finish(&self, action: &str, ok: bool) {
        self.journal
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .set(action, if ok { Phase::Ok } else { Phase::Failed });
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
