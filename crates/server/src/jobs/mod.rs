//! The job worker: claims durable jobs (never twice, leases fenced on this server's id), runs
//! them with bounded concurrency, renews leases while they run, and records results exactly as
//! CloudStack clients expect (`jobstatus`, `jobresultcode`, `jobresult`).
//!
//! A job carries typed intent (`app::job::JobCommand`, built by the request handler after its
//! checks). The worker executes the command through `App` and hands the `JobOutcome` to the
//! renderer the server was started with (the HTTP layer's), so this module never names the HTTP
//! layer; the application never names this module.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Semaphore};
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

/// How long a claim lasts without renewal.
pub const LEASE_MS: i64 = 60_000;
const RENEW_EVERY: Duration = Duration::from_secs(15);
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
            &JobCompletion {
                status,
                result_code: code,
                result_type: "object".into(),
                result: result.to_string(),
            },
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
        Err(e) => {
            tracing::error!(job_id = %job.uuid, error = %trellis_model::ErrorChain(&e), "could not record job result")
        }
    }
}

async fn execute(app: &Arc<App>, job: &Job) -> std::result::Result<JobOutcome, ApiError> {
    let command = JobCommand::of_job(job, app.secret_key())?;
    let caller = app.principal_cached(job.user_id).await?.ok_or_else(|| {
        ApiError::from(Error::denied(
            "the user who submitted the job no longer exists",
        ))
    })?;
    let ctx = Arc::new(JobContext::new(
        job.clone(),
        app.server_id.clone(),
        app.clone(),
    )?);
    let work = command.execute(app, &caller, &ctx);
    Ok(crate::app::job::in_job(ctx.clone(), work).await?)
}
