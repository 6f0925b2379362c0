//! The runner itself: concurrency limits, the payload file, the spawn, and supervision of the
//! process group until the run ends.

use crate::config::RunnerConfig;
use crate::contain::{child_setup, Containment, RunContainer};
use crate::error::{RunError, RunnerInitError};
use crate::executable::preflight;
use crate::metrics::{Ending, Metrics};
use crate::output::{stdout_lossy, stdout_text, CappedBuffer, Secrets, StderrSink};
use crate::payload::{self, PayloadFile};
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use std::collections::HashMap;
use std::ffi::OsString;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::{Child, Command};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tracing::Instrument;

/// How long to wait for the output pipes to close after the extension exited before killing what
/// is left of its process group (a background child holding the pipes open).
const PIPE_LINGER: Duration = Duration::from_millis(500);

/// How long to wait for the process to be reaped after SIGKILL before giving up on it.
const REAP_PATIENCE: Duration = Duration::from_secs(2);

/// One extension action to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// The extension's name: names the payload directory and the concurrency bucket.
    pub extension: String,
    /// The executable; relative paths are made absolute against the current directory.
    pub executable: PathBuf,
    /// `argv[1]`.
    pub action: String,
    /// The payload file's content (the server serialises [`trellis_ext_protocol::Payload`]).
    pub payload: Vec<u8>,
    /// When SIGTERM is sent to the process group, counted from the spawn (time spent waiting for
    /// a concurrency slot does not count).
    pub timeout: Duration,
    /// The host the action concerns, for the per-host limit.
    pub host_key: Option<String>,
    /// Secret values of the payload, masked in the log lines of the run's stderr.
    pub secrets: Secrets,
}

/// A run's place under the concurrency limits (per host, per extension, global), held until
/// dropped.
#[derive(Debug)]
pub struct Slot {
    _permits: Vec<OwnedSemaphorePermit>,
}

/// A successful run: the process exited 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunOutput {
    /// stdout verbatim (not trimmed), at most `stdout_cap` bytes.
    pub stdout: String,
    /// stdout was longer than `stdout_cap`; the rest was discarded.
    pub stdout_truncated: bool,
    /// The last `stderr_cap` bytes of stderr.
    pub stderr_tail: String,
    /// From the spawn to the end of the run.
    pub elapsed: Duration,
}

/// Runs extension executables. Cheap to clone; clones share limits and metrics.
#[derive(Clone)]
pub struct Runner {
    inner: Arc<Inner>,
}

struct Inner {
    config: RunnerConfig,
    /// Keep payload files after each run (starts as `config.retain_payloads`; the server follows
    /// its dynamic setting through [`Runner::set_retain_payloads`]).
    retain_payloads: std::sync::atomic::AtomicBool,
    payload_root: PathBuf,
    environment: Vec<(OsString, OsString)>,
    global: Arc<Semaphore>,
    per_extension: Mutex<HashMap<String, Arc<Semaphore>>>,
    per_host: Mutex<HashMap<String, Arc<Semaphore>>>,
    metrics: Arc<Metrics>,
    containment: Containment,
}

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl Runner {
    /// Keep (or stop keeping) payload files after each run, for debugging. Retained files stay
    /// 0600 in the private payload directory, each run logs where its file is, and
    /// [`Runner::sweep_retained`] removes them after the retention period.
    pub fn set_retain_payloads(&self, retain: bool) {
        self.inner
            .retain_payloads
            .store(retain, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether payload files are kept after each run.
    pub fn retains_payloads(&self) -> bool {
        self.inner
            .retain_payloads
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Check the limits, prepare the payload directory (created 0700, or set back to 0700; it must
    /// belong to this process's user) and take the allowlisted environment.
    pub fn new(config: RunnerConfig) -> Result<Runner, RunnerInitError> {
        let limits = [
            ("max_concurrent", config.max_concurrent),
            ("max_per_extension", config.max_per_extension),
            ("max_per_host", config.max_per_host),
        ];
        for (name, value) in limits {
            if value == 0 {
                return Err(RunnerInitError::InvalidLimit { name });
            }
        }
        let payload_root = prepare_payload_root(&config.payload_dir)?;
        let orphaned = payload::sweep_orphaned(&payload_root);
        if orphaned > 0 {
            tracing::warn!(
                files = orphaned,
                "removed payload files of runs that never finished (their server stopped while they ran)"
            );
        }
        let containment = Containment::new(config.containment)
            .map_err(|source| RunnerInitError::Containment { source })?;
        let environment = config
            .env_allowlist
            .iter()
            .filter_map(|name| std::env::var_os(name).map(|value| (OsString::from(name), value)))
            .collect();
        let global = Arc::new(Semaphore::new(
            config.max_concurrent.min(Semaphore::MAX_PERMITS),
        ));
        Ok(Runner {
            inner: Arc::new(Inner {
                retain_payloads: std::sync::atomic::AtomicBool::new(config.retain_payloads),
                config,
                payload_root,
                environment,
                global,
                per_extension: Mutex::new(HashMap::new()),
                per_host: Mutex::new(HashMap::new()),
                metrics: Arc::new(Metrics::default()),
                containment,
            }),
        })
    }

    /// The configuration this runner was created with.
    pub fn config(&self) -> &RunnerConfig {
        &self.inner.config
    }

    /// How runs are contained: `cgroup` or `subreaper`.
    pub fn containment(&self) -> &'static str {
        self.inner.containment.mode_name()
    }

    /// The payload directory as an absolute path.
    pub fn payload_dir(&self) -> &Path {
        &self.inner.payload_root
    }

    /// Run one action: pre-flight check, wait for a slot (per host, per extension, global), write
    /// the payload file, spawn `[exe, action, payload, timeout-seconds]`, drain the output, enforce
    /// the timeout on the whole process group, remove the payload file.
    ///
    /// Success means exit code 0; stdout is returned verbatim.
    pub async fn run(&self, invocation: Invocation) -> Result<RunOutput, RunError> {
        self.run_in(None, invocation).await
    }

    /// Wait for a slot for a run of `extension` on `host` (per host, per extension, global),
    /// without starting anything: a caller that records something just before the side effect
    /// (a job's journal) does it holding the slot, then calls [`Runner::run_in`].
    pub async fn slot(&self, extension: &str, action: &str, host: Option<&str>) -> Slot {
        let queued = self.inner.metrics.queued(extension, action);
        let permits = self.acquire(extension, host).await;
        drop(queued);
        Slot { _permits: permits }
    }

    /// A slot for a run of `extension` on `host` if one is free at once (per host, per extension
    /// and global), else `None` and nothing held: a job that cannot start now lets other
    /// servers take it before it waits (see [`Runner::slot`]).
    pub fn try_slot(&self, extension: &str, host: Option<&str>) -> Option<Slot> {
        let inner = &*self.inner;
        let mut permits = Vec::with_capacity(3);
        if let Some(host) = host {
            let semaphore = semaphore_for(&inner.per_host, host, inner.config.max_per_host);
            permits.push(semaphore.try_acquire_owned().ok()?);
        }
        let semaphore = semaphore_for(
            &inner.per_extension,
            extension,
            inner.config.max_per_extension,
        );
        permits.push(semaphore.try_acquire_owned().ok()?);
        permits.push(Arc::clone(&inner.global).try_acquire_owned().ok()?);
        Some(Slot { _permits: permits })
    }

    /// [`Runner::run`] in a slot taken with [`Runner::slot`] (`None`: wait for one).
    pub async fn run_in(
        &self,
        slot: Option<Slot>,
        invocation: Invocation,
    ) -> Result<RunOutput, RunError> {
        let span = tracing::info_span!(
            "extension_run",
            extension = invocation.extension.as_str(),
            action = invocation.action.as_str(),
            exit_code = tracing::field::Empty,
            elapsed_ms = tracing::field::Empty,
        );
        self.run_in_span(slot, invocation, &span)
            .instrument(span.clone())
            .await
    }

    /// Prometheus text exposition of the per (extension, action) metrics.
    pub fn metrics_text(&self) -> String {
        self.inner.metrics.render()
    }

    /// Delete payload files (kept with `retain_payloads`, or left behind by a crash) last modified
    /// more than `older_than` ago. Returns how many were deleted.
    pub fn sweep_retained(&self, older_than: Duration) -> io::Result<usize> {
        payload::sweep(&self.inner.payload_root, older_than)
    }

    async fn run_in_span(
        &self,
        slot: Option<Slot>,
        invocation: Invocation,
        span: &tracing::Span,
    ) -> Result<RunOutput, RunError> {
        let inner = &*self.inner;
        let Invocation {
            extension,
            executable,
            action,
            payload,
            timeout,
            host_key,
            secrets,
        } = invocation;

        let executable = match std::path::absolute(&executable) {
            Ok(absolute) => absolute,
            Err(error) => {
                inner
                    .metrics
                    .record(&extension, &action, Ending::SpawnFailure, None, 0);
                return Err(RunError::NotExecutable {
                    path: executable,
                    reason: format!("cannot be resolved: {error}"),
                });
            }
        };
        if let Err(reason) = preflight(&executable) {
            inner
                .metrics
                .record(&extension, &action, Ending::SpawnFailure, None, 0);
            return Err(RunError::NotExecutable {
                path: executable,
                reason,
            });
        }
        let working_dir = executable
            .parent()
            .map_or_else(|| PathBuf::from("/"), Path::to_path_buf);

        let _slot = match slot {
            Some(slot) => slot,
            None => self.slot(&extension, &action, host_key.as_deref()).await,
        };
        let _in_flight = inner.metrics.in_flight(&extension, &action);

        let payload_file = match PayloadFile::write(
            &inner.payload_root,
            &extension,
            &payload,
            inner
                .retain_payloads
                .load(std::sync::atomic::Ordering::Relaxed),
        ) {
            Ok(payload_file) => payload_file,
            Err(error) => {
                inner
                    .metrics
                    .record(&extension, &action, Ending::SpawnFailure, None, 0);
                return Err(RunError::Payload {
                    path: error.path,
                    source: error.source,
                });
            }
        };
        drop(payload);
        if payload_file.retained() {
            tracing::info!(path = %payload_file.kept_path().display(), "payload retained (extension.payload.retain): it holds secrets; removed after the retention period");
        }

        // The extension is told the configured timeout, as upstream; the grace period before the
        // SIGTERM comes after it.
        let told_seconds = timeout.as_secs().max(1);
        let deadline_epoch = SystemTime::now()
            .checked_add(timeout)
            .and_then(|deadline| deadline.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |since_epoch| since_epoch.as_secs());

        let container = match inner.containment.open_run() {
            Ok(container) => container,
            Err(source) => {
                inner
                    .metrics
                    .record(&extension, &action, Ending::SpawnFailure, None, 0);
                return Err(RunError::Contain { source });
            }
        };
        let procs_file = match container.procs_file() {
            Ok(file) => file,
            Err(source) => {
                inner.containment.end(container, None).await;
                inner
                    .metrics
                    .record(&extension, &action, Ending::SpawnFailure, None, 0);
                return Err(RunError::Contain { source });
            }
        };
        let parent = nix::unistd::getpid();

        let mut command = Command::new(&executable);
        command
            .arg(&action)
            .arg(payload_file.path())
            .arg(told_seconds.to_string())
            .env_clear()
            .envs(inner.environment.iter().map(|(name, value)| (name, value)))
            .env(
                trellis_ext_protocol::ENV_DEADLINE,
                deadline_epoch.to_string(),
            )
            .current_dir(&working_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .envs(inner.containment.environment(&container))
            .process_group(0)
            .kill_on_drop(true);
        // SAFETY: `child_setup` runs between fork and exec and makes only async-signal-safe
        // calls (prctl, getppid, write) on memory the closure owns; it allocates nothing.
        #[allow(unsafe_code)]
        unsafe {
            command.pre_exec(move || child_setup(parent, procs_file.as_ref()));
        }

        let started = Instant::now();
        let spawned = spawn_retrying_busy(&mut command, &inner.containment).await;
        // The closure holds the cgroup file open; the child has it by now.
        drop(command);
        let mut child = match spawned {
            Ok(child) => child,
            Err(source) => {
                inner.containment.end(container, None).await;
                inner
                    .metrics
                    .record(&extension, &action, Ending::SpawnFailure, None, 0);
                return Err(RunError::Spawn {
                    path: executable,
                    source,
                });
            }
        };
        // With process_group(0) the group id is the child's pid.
        let root_pid = child.id();
        let group = ProcessGroup {
            id: root_pid
                .and_then(|id| i32::try_from(id).ok())
                .map(Pid::from_raw),
            container: &container,
            containment: &inner.containment,
        };
        let supervised = supervise(
            &mut child,
            &group,
            timeout,
            &inner.config,
            (&extension, &action),
            &secrets,
        )
        .await;
        // Whatever is left of the group and the container goes now: the run is over.
        drop(group);
        drop(child);
        let left_in_container = inner.containment.end(container, root_pid).await;
        let elapsed = started.elapsed();
        drop(payload_file);
        span.record(
            "elapsed_ms",
            u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
        );

        let supervised = match supervised {
            Ok(supervised) => supervised,
            Err(source) => {
                inner
                    .metrics
                    .record(&extension, &action, Ending::SpawnFailure, Some(elapsed), 0);
                return Err(RunError::Spawn {
                    path: executable,
                    source,
                });
            }
        };
        let Supervised {
            status,
            timed_out,
            stdout,
            stdout_truncated,
            stderr_tail,
            kills,
        } = supervised;
        let kills = kills + u64::from(left_in_container > 0 && kills == 0);
        if left_in_container > 0 {
            tracing::warn!(
                target: "trellis::extension",
                extension = extension.as_str(),
                action = action.as_str(),
                processes = left_in_container,
                "killed processes the extension left running after its run (they may not outlive it)"
            );
        }
        if kills > 0 && !timed_out {
            tracing::warn!(
                target: "trellis::extension",
                extension = extension.as_str(),
                action = action.as_str(),
                "killed processes left behind by the extension that kept its output open"
            );
        }

        let record = |ending| {
            inner
                .metrics
                .record(&extension, &action, ending, Some(elapsed), kills)
        };
        let status = match status {
            Some(status) if !timed_out => status,
            _ => {
                record(Ending::TimedOut);
                tracing::debug!(elapsed_ms = elapsed.as_millis(), "extension timed out");
                return Err(RunError::TimedOut {
                    after: timeout,
                    stdout: stdout_lossy(stdout),
                    stderr_tail,
                });
            }
        };
        if let Some(signal) = status.signal() {
            record(Ending::Signaled);
            tracing::debug!(signal, "extension killed by a signal");
            return Err(RunError::Killed {
                signal,
                stdout: stdout_lossy(stdout),
                stderr_tail,
            });
        }
        let code = status.code().unwrap_or(-1);
        span.record("exit_code", code);
        if code != 0 {
            record(Ending::NonZeroExit);
            tracing::debug!(exit_code = code, "extension failed");
            return Err(RunError::Exited {
                code,
                stdout: stdout_lossy(stdout),
                stderr_tail,
            });
        }
        match stdout_text(stdout, stdout_truncated) {
            Ok(stdout) => {
                record(Ending::Success);
                tracing::debug!(exit_code = code, stdout_truncated, "extension succeeded");
                Ok(RunOutput {
                    stdout,
                    stdout_truncated,
                    stderr_tail,
                    elapsed,
                })
            }
            Err(reason) => {
                record(Ending::BadOutput);
                Err(RunError::BadOutput {
                    reason,
                    stderr_tail,
                })
            }
        }
    }

    /// Take a slot per host, then per extension, then globally. The fixed order (narrowest first)
    /// means no two runs can wait on each other in a cycle, and a run waiting for its host does
    /// not hold a global slot.
    async fn acquire(&self, extension: &str, host: Option<&str>) -> Vec<OwnedSemaphorePermit> {
        let inner = &*self.inner;
        let mut permits = Vec::with_capacity(3);
        if let Some(host) = host {
            let semaphore = semaphore_for(&inner.per_host, host, inner.config.max_per_host);
            permits.extend(semaphore.acquire_owned().await.ok());
        }
        let semaphore = semaphore_for(
            &inner.per_extension,
            extension,
            inner.config.max_per_extension,
        );
        permits.extend(semaphore.acquire_owned().await.ok());
        permits.extend(Arc::clone(&inner.global).acquire_owned().await.ok());
        permits
    }
}

fn semaphore_for(
    map: &Mutex<HashMap<String, Arc<Semaphore>>>,
    key: &str,
    permits: usize,
) -> Arc<Semaphore> {
    let mut map = map.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(semaphore) = map.get(key) {
        return Arc::clone(semaphore);
    }
    let semaphore = Arc::new(Semaphore::new(permits.min(Semaphore::MAX_PERMITS)));
    map.insert(key.to_owned(), Arc::clone(&semaphore));
    semaphore
}

/// Create the payload root (0700) or make an existing one 0700; it must be a directory owned by
/// this process's user. Returns its canonical path.
fn prepare_payload_root(path: &Path) -> Result<PathBuf, RunnerInitError> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    let created = std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path);
    let metadata = match std::fs::metadata(path) {
        Ok(metadata) => metadata,
        Err(source) => {
            let source = created.err().unwrap_or(source);
            return Err(RunnerInitError::CreatePayloadDir {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    if !metadata.is_dir() {
        return Err(RunnerInitError::PayloadDirNotDirectory {
            path: path.to_path_buf(),
        });
    }
    let uid = nix::unistd::geteuid().as_raw();
    if metadata.uid() != uid {
        return Err(RunnerInitError::PayloadDirNotOwned {
            path: path.to_path_buf(),
            owner: metadata.uid(),
        });
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700)).map_err(|source| {
        RunnerInitError::RestrictPayloadDir {
            path: path.to_path_buf(),
            source,
        }
    })?;
    std::fs::canonicalize(path).map_err(|source| RunnerInitError::CreatePayloadDir {
        path: path.to_path_buf(),
        source,
    })
}

/// Spawn, retrying briefly while the executable is being written by someone ("text file busy").
async fn spawn_retrying_busy(
    command: &mut Command,
    containment: &Containment,
) -> io::Result<Child> {
    let mut delay = Duration::from_millis(5);
    for _ in 0..6 {
        match containment.spawn(|| command.spawn(), Child::id) {
            Err(error) if error.raw_os_error() == Some(nix::errno::Errno::ETXTBSY as i32) => {
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
            spawned => return spawned,
        }
    }
    containment.spawn(|| command.spawn(), Child::id)
}

/// The extension's process group and its container. Dropping it sends SIGKILL to whatever is
/// left in the group (the container is ended after it).
struct ProcessGroup<'a> {
    id: Option<Pid>,
    container: &'a RunContainer,
    containment: &'a Containment,
}

impl ProcessGroup<'_> {
    /// Signal every process of the group and of the container; true when at least one process
    /// received it.
    fn signal(&self, signal: Signal) -> bool {
        let group = self
            .id
            .is_some_and(|id| nix::sys::signal::killpg(id, signal).is_ok());
        let contained = self.containment.signal(self.container, signal, self.id);
        group || contained
    }
}

impl Drop for ProcessGroup<'_> {
    fn drop(&mut self) {
        // The container's rest is killed (and counted) when the run ends.
        if let Some(id) = self.id {
            let _ = nix::sys::signal::killpg(id, Signal::SIGKILL);
        }
    }
}

struct Supervised {
    /// `None` when the process could not be reaped even after SIGKILL.
    status: Option<ExitStatus>,
    timed_out: bool,
    stdout: Vec<u8>,
    stdout_truncated: bool,
    stderr_tail: String,
    /// SIGKILLs this run had to send to the group.
    kills: u64,
}

/// Where supervision stands; each phase ends at its deadline.
#[derive(Debug, Clone, Copy)]
enum Phase {
    /// Running within its timeout.
    Running { terminate_at: Instant },
    /// Timed out; SIGTERM sent to the group.
    Terminating { kill_at: Instant },
    /// SIGKILL sent to the group; waiting to reap the process.
    Killed { give_up_at: Instant },
    /// Exited; waiting for the pipes to close.
    Draining { kill_at: Instant },
    /// Exited, the rest of the group killed; still waiting for the pipes to close.
    DrainingAfterKill { give_up_at: Instant },
}

impl Phase {
    fn deadline(self) -> Instant {
        match self {
            Phase::Running { terminate_at } => terminate_at,
            Phase::Terminating { kill_at } | Phase::Draining { kill_at } => kill_at,
            Phase::Killed { give_up_at } | Phase::DrainingAfterKill { give_up_at } => give_up_at,
        }
    }
}

async fn supervise(
    child: &mut Child,
    group: &ProcessGroup<'_>,
    timeout: Duration,
    config: &RunnerConfig,
    (extension, action): (&str, &str),
    secrets: &Secrets,
) -> io::Result<Supervised> {
    let mut stdout_pipe = child.stdout.take();
    let mut stderr_pipe = child.stderr.take();
    let mut stdout = CappedBuffer::new(config.stdout_cap);
    let mut stderr = StderrSink::new(
        config.stderr_cap,
        config.stderr_log_budget,
        extension,
        action,
        secrets,
    );
    let mut stdout_chunk = vec![0u8; 32 * 1024];
    let mut stderr_chunk = vec![0u8; 8 * 1024];
    let mut status: Option<ExitStatus> = None;
    let mut timed_out = false;
    let mut kills = 0;

    let mut phase = Phase::Running {
        terminate_at: later(Instant::now(), config.terminate_after(timeout)),
    };
    let timer = tokio::time::sleep_until(phase.deadline());
    tokio::pin!(timer);

    loop {
        if status.is_some() && stdout_pipe.is_none() && stderr_pipe.is_none() {
            break;
        }
        if timer.deadline() != phase.deadline() {
            timer.as_mut().reset(phase.deadline());
        }
        tokio::select! {
            biased;
            read = read_some(&mut stdout_pipe, &mut stdout_chunk), if stdout_pipe.is_some() => match read {
                Ok(0) | Err(_) => stdout_pipe = None,
                Ok(count) => stdout.push(&stdout_chunk[..count]),
            },
            read = read_some(&mut stderr_pipe, &mut stderr_chunk), if stderr_pipe.is_some() => match read {
                Ok(0) | Err(_) => stderr_pipe = None,
                Ok(count) => stderr.push(&stderr_chunk[..count]),
            },
            waited = child.wait(), if status.is_none() => {
                status = Some(waited?);
                phase = Phase::Draining { kill_at: later(Instant::now(), PIPE_LINGER) };
            },
            () = &mut timer => {
                let now = Instant::now();
                match phase {
                    Phase::Running { .. } => {
                        timed_out = true;
                        group.signal(Signal::SIGTERM);
                        phase = Phase::Terminating { kill_at: later(now, config.kill_grace) };
                    }
                    Phase::Terminating { .. } => {
                        if group.signal(Signal::SIGKILL) {
                            kills += 1;
                        }
                        phase = Phase::Killed { give_up_at: later(now, REAP_PATIENCE) };
                    }
                    Phase::Draining { .. } => {
                        if group.signal(Signal::SIGKILL) {
                            kills += 1;
                        }
                        phase = Phase::DrainingAfterKill { give_up_at: later(now, PIPE_LINGER) };
                    }
                    // The process cannot be reaped, or something outside the group holds the
                    // pipes: stop waiting for it.
                    Phase::Killed { .. } | Phase::DrainingAfterKill { .. } => break,
                }
            },
        }
    }

    let (stdout, stdout_truncated) = stdout.into_parts();
    Ok(Supervised {
        status,
        timed_out,
        stdout,
        stdout_truncated,
        stderr_tail: stderr.finish(),
        kills,
    })
}

async fn read_some<R: AsyncRead + Unpin>(
    pipe: &mut Option<R>,
    buffer: &mut [u8],
) -> io::Result<usize> {
    match pipe {
        Some(pipe) => pipe.read(buffer).await,
        None => std::future::pending().await,
    }
}

/// `start + duration`, saturating far in the future instead of overflowing.
fn later(start: Instant, duration: Duration) -> Instant {
    start
        .checked_add(duration)
        .unwrap_or_else(|| start + Duration::from_secs(30 * 365 * 24 * 3600))
}
