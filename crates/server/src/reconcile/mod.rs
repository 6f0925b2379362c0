//! Reconcilers: periodic, input-free, idempotent background work — server heartbeats and settings
//! refresh, extension path readiness, payload and session sweeps, the expunge reaper, instance power-state sync.
//!
//! Each is a [`Reconciler`] (in the style of omicron's `BackgroundTask`), and one driver
//! ([`run`]) runs each of them: a tick every [`Reconciler::period`] (re-read at least every
//! second, so a changed setting applies at once), a tick at once on explicit activation
//! ([`Activator`], or the task's own [`Reconciler::activation`] `Notify`), never two ticks of one
//! task at a time, and a stop on shutdown. Every tick's outcome is logged with the task name and
//! recorded in the task's [`TaskStatus`], which `/metrics` exports ([`metrics_text`]).

mod expunge;
mod heartbeat;
mod power_sync;
mod readiness;
mod sweeps;

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::Instrument;

use crate::app::App;

pub use expunge::ExpungeReaper;
pub use heartbeat::Heartbeat;
pub use power_sync::PowerSync;
pub use readiness::Readiness;
pub use sweeps::Sweeps;

/// How often the driver re-reads a task's period while it waits.
const PERIOD_RECHECK: Duration = Duration::from_secs(1);

/// How one tick ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TickStatus {
    /// The work was done; the summary (possibly empty) is logged at debug level.
    Ok(String),
    /// Some or all of the work failed; the message is logged once, by the driver, and counted.
    /// The task keeps running and ticks again after its period.
    Error(String),
}

/// One periodic, input-free, idempotent task. `C` is what it works on (the [`App`], or a test
/// context).
pub trait Reconciler<C = App>: Send + Sync + 'static
where
    C: Send + Sync + 'static,
{
    /// A short stable name, used in logs and as the `task` label in metrics.
    fn name(&self) -> &'static str;

    /// The time from the end of one tick to the start of the next; read again while waiting.
    fn period(&self, ctx: &C) -> Duration;

    /// A `Notify` owned by the context that also activates this task (for callers that cannot
    /// hold an [`Activator`]).
    fn activation<'a>(&self, _ctx: &'a C) -> Option<&'a Notify> {
        None
    }

    /// Do the work once.
    fn tick(&self, ctx: &Arc<C>) -> impl Future<Output = TickStatus> + Send;
}

/// Asks a running task to tick at once ("run now"). Activations during a tick coalesce into one
/// tick right after it.
#[derive(Debug, Clone, Default)]
pub struct Activator(Arc<Notify>);

impl Activator {
    pub fn activate(&self) {
        self.0.notify_one();
    }
}

/// What a task's last ticks did, kept for `/metrics`.
#[derive(Debug)]
pub struct TaskStatus {
    name: &'static str,
    inner: Mutex<StatusSnapshot>,
}

/// A copy of a task's status.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StatusSnapshot {
    /// A tick is running now.
    pub running: bool,
    /// When the last tick started.
    pub last_started: Option<SystemTime>,
    /// When the last tick finished.
    pub last_finished: Option<SystemTime>,
    /// How long the last finished tick took.
    pub last_duration: Duration,
    /// How the last finished tick ended.
    pub last_outcome: Option<TickStatus>,
    pub runs_ok: u64,
    pub runs_error: u64,
}

impl TaskStatus {
    pub fn new(name: &'static str) -> TaskStatus {
        TaskStatus {
            name,
            inner: Mutex::new(StatusSnapshot::default()),
        }
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    pub fn snapshot(&self) -> StatusSnapshot {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, StatusSnapshot> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn started(&self) {
        let mut s = self.lock();
        s.running = true;
        s.last_started = Some(SystemTime::now());
    }

    fn finished(&self, duration: Duration, outcome: TickStatus) {
        let mut s = self.lock();
        s.running = false;
        s.last_finished = Some(SystemTime::now());
        s.last_duration = duration;
        match outcome {
            TickStatus::Ok(_) => s.runs_ok += 1,
            TickStatus::Error(_) => s.runs_error += 1,
        }
        s.last_outcome = Some(outcome);
    }
}

/// A task started by [`spawn`]: its status, a way to activate it, and its join handle.
#[derive(Debug)]
pub struct Spawned {
    pub status: Arc<TaskStatus>,
    pub activator: Activator,
    pub handle: JoinHandle<()>,
}

/// Start one task under the driver.
pub fn spawn<C, R>(ctx: Arc<C>, task: R, shutdown: watch::Receiver<bool>) -> Spawned
where
    C: Send + Sync + 'static,
    R: Reconciler<C>,
{
    let status = Arc::new(TaskStatus::new(task.name()));
    let activator = Activator::default();
    let handle = tokio::spawn(run(
        ctx,
        Arc::new(task),
        status.clone(),
        activator.clone(),
        shutdown,
    ));
    Spawned {
        status,
        activator,
        handle,
    }
}

/// The driver: wait for the period (or an activation), tick, record, repeat until `shutdown`
/// turns true (or its sender is gone). A tick that has started is finished before stopping.
pub async fn run<C, R>(
    ctx: Arc<C>,
    task: Arc<R>,
    status: Arc<TaskStatus>,
    activator: Activator,
    mut shutdown: watch::Receiver<bool>,
) where
    C: Send + Sync + 'static,
    R: Reconciler<C>,
{
    let name = task.name();
    let mut last_end = Instant::now();
    loop {
        let now = Instant::now();
        let due = last_end + task.period(&ctx);
        let activated = {
            let external = task.activation(&ctx);
            let external = async {
                match external {
                    Some(notify) => notify.notified().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                _ = shutdown.wait_for(|stop| *stop) => return,
                _ = activator.0.notified() => true,
                _ = external => true,
                _ = tokio::time::sleep_until(due.min(now + PERIOD_RECHECK)) => false,
            }
        };
        if !activated && Instant::now() < last_end + task.period(&ctx) {
            continue;
        }
        tracing::debug!(task = name, activated, "reconciler tick starting");
        status.started();
        let started = Instant::now();
        let outcome = {
            let (ctx, task) = (ctx.clone(), task.clone());
            // Its own tokio task, so that a panic is counted as a failed tick, not the end of
            // the reconciler; in a span, so that what the tick logs carries the task name.
            let tick = async move { task.tick(&ctx).await }
                .instrument(tracing::info_span!("reconciler", task = name));
            match tokio::spawn(tick).await {
                Ok(outcome) => outcome,
                Err(join_error) => TickStatus::Error(format!("tick panicked: {join_error}")),
            }
        };
        let elapsed = started.elapsed();
        match &outcome {
            TickStatus::Ok(summary) => tracing::debug!(
                task = name,
                elapsed_ms = elapsed.as_millis() as u64,
                %summary,
                "reconciler tick finished"
            ),
            TickStatus::Error(error) => tracing::warn!(
                task = name,
                elapsed_ms = elapsed.as_millis() as u64,
                %error,
                "reconciler tick failed"
            ),
        }
        status.finished(elapsed, outcome);
        last_end = Instant::now();
    }
}

/// The reconcilers' last-run statuses, as `/metrics` lines.
struct ReconcilerMetrics(Vec<Arc<TaskStatus>>);

impl crate::metrics::MetricsSource for ReconcilerMetrics {
    fn metrics_text(&self) -> String {
        render_metrics(&self.0)
    }
}

/// Start every reconciler of this server; each stops when `shutdown` turns true.
pub fn spawn_all(app: Arc<App>, shutdown: watch::Receiver<bool>) -> Vec<JoinHandle<()>> {
    let spawned = vec![
        spawn(app.clone(), Heartbeat, shutdown.clone()),
        spawn(app.clone(), Readiness, shutdown.clone()),
        spawn(app.clone(), Sweeps, shutdown.clone()),
        spawn(app.clone(), ExpungeReaper, shutdown.clone()),
        spawn(app.clone(), PowerSync, shutdown),
    ];
    let statuses = spawned.iter().map(|s| s.status.clone()).collect();
    app.add_metrics_source(Arc::new(ReconcilerMetrics(statuses)));
    spawned.into_iter().map(|s| s.handle).collect()
}

fn render_metrics(statuses: &[Arc<TaskStatus>]) -> String {
    let snapshots: Vec<(&str, StatusSnapshot)> =
        statuses.iter().map(|s| (s.name(), s.snapshot())).collect();
    let seconds = |t: Option<SystemTime>| {
        t.and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0)
    };
    let mut out = String::from(
        "# HELP trellis_reconciler_last_run_timestamp_seconds When the reconciler's last tick finished (0: never)\n\
         # TYPE trellis_reconciler_last_run_timestamp_seconds gauge\n",
    );
    for (task, s) in &snapshots {
        out.push_str(&format!(
            "trellis_reconciler_last_run_timestamp_seconds{{task=\"{task}\"}} {}\n",
            seconds(s.last_finished)
        ));
    }
    out.push_str(
        "# HELP trellis_reconciler_last_duration_seconds How long the reconciler's last tick took\n\
         # TYPE trellis_reconciler_last_duration_seconds gauge\n",
    );
    for (task, s) in &snapshots {
        out.push_str(&format!(
            "trellis_reconciler_last_duration_seconds{{task=\"{task}\"}} {}\n",
            s.last_duration.as_secs_f64()
        ));
    }
    out.push_str(
        "# HELP trellis_reconciler_runs_total Reconciler ticks by outcome\n\
         # TYPE trellis_reconciler_runs_total counter\n",
    );
    for (task, s) in &snapshots {
        out.push_str(&format!(
            "trellis_reconciler_runs_total{{task=\"{task}\",outcome=\"ok\"}} {}\n\
             trellis_reconciler_runs_total{{task=\"{task}\",outcome=\"error\"}} {}\n",
            s.runs_ok, s.runs_error
        ));
    }
    out
}

#[cfg(test)]
mod tests;
