//! The job worker: claims durable jobs (never twice, leases fenced on this server's id), runs
//! them with bounded concurrency, renews leases while they run, and records results exactly as
//! CloudStack clients expect (`jobstatus`, `jobresultcode`, `jobresult`).
//!
//! A job carries typed intent (`app::job::JobCommand`, built by the request handler after its
//! checks). The worker executes the command through `App` and hands the `JobOutcome` to the
//! renderer the server was started with (the HTTP layer's), so this module never names the HTTP
//! layer; the application never names this module.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Semaphore};
use tokio::task::AbortHandle;
use trellis_api::ApiError;
use trellis_model::entity::{Job, JobStatus};
use trellis_model::{time::now_millis, Error};
use trellis_store::JobCompletion;

use crate::app::job::{JobCommand, JobContext, JobOutcome};
use crate::app::App;

/// Turns a job's outcome into its CloudStack job result (the HTTP layer provides it).
pub type Renderer = for<'a> fn(
    &'a App,
    JobOutcome,
) -> Pin<
    Box<dyn Future<Output = std::result::Result<serde_json::Value, ApiError>> + Send + 'a>,
>;

use crate::app::job::LEASE_MS;
const RENEW_EVERY: Duration = Duration::from_secs(1);
const POLL_EVERY: Duration = Duration::from_millis(1000);
const MAX_RUNNING: usize = 64;

/// The worker loop: runs until shutdown, then waits (bounded) for running jobs.
pub async fn worker(app: Arc<App>, render: Renderer, mut shutdown: watch::Receiver<bool>) {
    match app.store.job_release_all(&app.server_id).await {
        Ok(n) if n > 0 => tracing::info!(
            jobs = n,
            "resuming jobs this server owned before it stopped"
        ),
        Ok(_) => {}
        Err(e) => {
            tracing::warn!(error = %trellis_model::ErrorChain(&e), "could not release own jobs")
        }
    }
    let slots = Arc::new(Semaphore::new(MAX_RUNNING));
    let running: Running = Arc::default();
    let renewer = {
        let app = app.clone();
        let running = running.clone();
        let mut stop = shutdown.clone();
        tokio::spawn(async move {
            let mut strays = std::collections::HashSet::new();
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
                reconcile_ownership(&app, &running, &mut strays).await;
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
                start(&app, render, &running, job, permit);
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
    // Jobs that have begun no side effect go back to the queue at once (another server, or
    // this one after its restart, takes them); the others may finish for a while, and what is
    // left keeps its lease and resumes elsewhere or after restart by its journal.
    let handed_back = hand_back(&app, &running).await;
    if handed_back > 0 {
        tracing::info!(
            jobs = handed_back,
            "stopping: handed jobs that had not begun back to the queue"
        );
    }
    let _ = tokio::time::timeout(
        Duration::from_secs(20),
        slots.acquire_many(MAX_RUNNING as u32),
    )
    .await;
    renewer.abort();
}

/// The jobs this server runs: their context and the handle that stops them.
type Running = Arc<std::sync::Mutex<HashMap<i64, (Arc<JobContext>, AbortHandle)>>>;

fn running_jobs(
    running: &Running,
) -> std::sync::MutexGuard<'_, HashMap<i64, (Arc<JobContext>, AbortHandle)>> {
    running.lock().unwrap_or_else(|p| p.into_inner())
}

/// Run a claimed job in a task of its own, known to `running` until it ends.
fn start(
    app: &Arc<App>,
    render: Renderer,
    running: &Running,
    job: Job,
    permit: tokio::sync::OwnedSemaphorePermit,
) {
    let ctx = match JobContext::new(job.clone(), app.server_id.clone(), app.clone()) {
        Ok(ctx) => Arc::new(ctx),
        Err(e) => {
            let app = app.clone();
            tokio::spawn(async move {
                record(&app, &job, Err(ApiError::from(e))).await;
                drop(permit);
            });
            return;
        }
    };
    // Registered under the lock before the task can end and deregister itself.
    let mut jobs = running_jobs(running);
    if jobs.contains_key(&job.id) {
        // This server's own lease lapsed (a stall) and it claimed the job it still runs: the
        // claim renewed the lease; the run goes on, once.
        tracing::warn!(job_id = %job.uuid, "claimed a job this server is still running (its lease had lapsed); not started twice");
        return;
    }
    let task = {
        let (app, running, ctx) = (app.clone(), running.clone(), ctx.clone());
        tokio::spawn(async move {
            run_one(app, render, ctx.clone()).await;
            running_jobs(&running).remove(&ctx.job.id);
            drop(permit);
        })
    };
    jobs.insert(job.id, (ctx, task.abort_handle()));
}

/// Make the jobs this server owns and the jobs it runs agree, once per renewal:
/// - a job it runs but no longer owns (its lease lapsed and another server took it over) has its
///   run stopped here: its extension processes are killed, the new owner resumes it by its
///   journal;
/// - a job it owns but runs no longer (its task ended without recording a result: the database
///   was unreachable at that moment) is released after two renewals in a row, so that it is
///   resumed by its journal instead of being renewed forever.
async fn reconcile_ownership(
    app: &App,
    running: &Running,
    strays: &mut std::collections::HashSet<i64>,
) {
    let owned = match app.store.job_owned_ids(&app.server_id).await {
        Ok(ids) => ids,
        Err(e) => {
            tracing::warn!(error = %trellis_model::ErrorChain(&e), "could not list the jobs this server owns");
            return;
        }
    };
    let orphaned: Vec<i64> = {
        let mut jobs = running_jobs(running);
        jobs.retain(|id, (ctx, task)| {
            if owned.contains(id) {
                return true;
            }
            tracing::warn!(job_id = %ctx.job.uuid, "this server's lease on the job lapsed and another server took it over: its run here is stopped");
            task.abort();
            false
        });
        owned
            .iter()
            .copied()
            .filter(|id| !jobs.contains_key(id))
            .collect()
    };
    // Seen twice in a row (a second apart): not a claim on its way into the running set.
    let release: Vec<i64> = orphaned
        .iter()
        .copied()
        .filter(|id| strays.contains(id))
        .collect();
    *strays = orphaned.into_iter().collect();
    for id in release {
        strays.remove(&id);
        tracing::warn!(job_id = id, "releasing a job this server owns but no longer runs (its result could not be recorded); it resumes by its journal");
        if let Err(e) = app.store.job_release(id, &app.server_id).await {
            tracing::warn!(job_id = id, error = %trellis_model::ErrorChain(&e), "could not release the job");
        }
    }
}

/// Hand back to the queue every running job that has begun no side effect; returns how many.
async fn hand_back(app: &App, running: &Running) -> usize {
    let handed: Vec<Arc<JobContext>> = {
        let mut jobs = running_jobs(running);
        let ids: Vec<i64> = jobs
            .iter()
            .filter(|(_, (ctx, _))| ctx.hand_back())
            .map(|(id, _)| *id)
            .collect();
        ids.iter()
            .filter_map(|id| jobs.remove(id))
            .map(|(ctx, task)| {
                task.abort();
                ctx
            })
            .collect()
    };
    for ctx in &handed {
        if let Err(e) = app.store.job_release(ctx.job.id, &app.server_id).await {
            tracing::warn!(job_id = %ctx.job.uuid, error = %trellis_model::ErrorChain(&e), "could not hand the job back");
        }
    }
    handed.len()
}

async fn run_one(app: Arc<App>, render: Renderer, ctx: Arc<JobContext>) {
    let job = &ctx.job;
    tracing::info!(job_id = %job.uuid, cmd = %job.cmd, attempt = job.attempts, "job started");
    let outcome = match execute(&app, &ctx).await {
        Ok(o) => render(&app, o).await,
        Err(e) => Err(e),
    };
    if ctx.handed_back() {
        return;
    }
    record(&app, job, outcome).await;
}

/// Record a job's result, fenced on this server's ownership.
async fn record(app: &App, job: &Job, outcome: std::result::Result<serde_json::Value, ApiError>) {
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
    let completion = JobCompletion {
        status,
        result_code: code,
        result_type: "object".into(),
        result: result.to_string(),
    };
    // A database that is briefly unreachable (a restart, a full pool) does not lose the result;
    // if it stays away, the renewer releases the job and it resumes by its journal.
    let mut attempt = 0;
    let recorded = loop {
        match app
            .store
            .job_complete(job.id, &app.server_id, &completion, now_millis())
            .await
        {
            Err(e) if attempt < 4 => {
                attempt += 1;
                tracing::warn!(job_id = %job.uuid, attempt, error = %trellis_model::ErrorChain(&e), "recording the job result failed; trying again");
                tokio::time::sleep(Duration::from_millis(250 * attempt)).await;
            }
            other => break other,
        }
    };
    match recorded {
        Ok(true) => {
            tracing::info!(job_id = %job.uuid, cmd = %job.cmd, status = status as i64, "job finished")
        }
        Ok(false) => {
            tracing::warn!(job_id = %job.uuid, "job result discarded: the job is no longer owned by this server")
        }
        Err(e) => {
            tracing::error!(job_id = %job.uuid, error = %trellis_model::ErrorChain(&e), "could not record job result")
        }
    }
}

async fn execute(
    app: &Arc<App>,
    ctx: &Arc<JobContext>,
) -> std::result::Result<JobOutcome, ApiError> {
    let job = &ctx.job;
    let command = JobCommand::of_job(job, app.secret_key())?;
    let caller = app.principal_cached(job.user_id).await?.ok_or_else(|| {
        ApiError::from(Error::denied(
            "the user who submitted the job no longer exists",
        ))
    })?;
    let work = command.execute(app, &caller, ctx);
    Ok(crate::app::job::in_job(ctx.clone(), work).await?)
}
