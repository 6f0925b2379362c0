//! Containment: every run lives in a container its descendants cannot leave, and everything in
//! it dies when the run ends.
//!
//! Two mechanisms, chosen once when the runner is created:
//!
//! - **cgroup v2** (preferred): the runner makes `trellis-runs.<pid>` under its own cgroup and one
//!   child cgroup per run; the extension moves itself into it between `fork` and `exec`, so
//!   `setsid`, double forks and daemonising helpers stay inside. Ending a run writes
//!   `cgroup.kill` (or SIGKILLs every member on kernels without it) and removes the cgroup. A
//!   runner that finds the `trellis-runs.<pid>` of a process that is gone (a server killed with
//!   SIGKILL) kills what is left in it and removes it.
//! - **subreaper** (where no cgroup v2 can be written): the server becomes the child subreaper, so
//!   a descendant whose parent exits is re-parented to the server instead of init. Each run's
//!   environment carries [`RUN_ID_ENV`]; when a run ends, every orphan re-parented to the server
//!   whose environment names a run of this runner that is over is killed, and orphans that exited
//!   are reaped.
//!
//! Either way the extension itself gets SIGKILL when the server dies (`PR_SET_PDEATHSIG`).
//!
//! A long-lived helper (a QEMU daemon started by the Local extension) is left alone only when the
//! extension launches it outside the run on purpose: without [`RUN_ID_ENV`] in its environment
//! and, under cgroup v2, with its pid written to the file named by [`HELPER_CGROUP_ENV`]
//! (`trellis-helpers`, never swept).

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::collections::HashSet;
use std::fs;
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Names the run in the extension's environment (`<runner>.<sequence>`); inherited by its
/// descendants, which is how the subreaper sweep tells them apart.
pub const RUN_ID_ENV: &str = trellis_ext_protocol::ENV_RUN_ID;

/// Under cgroup v2: the `cgroup.procs` file of the helpers' cgroup. A process whose pid is
/// written there leaves the run's cgroup and outlives the run.
pub const HELPER_CGROUP_ENV: &str = trellis_ext_protocol::ENV_HELPER_CGROUP;

/// Which containment a runner uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ContainmentMode {
    /// cgroup v2 where it can be written, else the subreaper.
    #[default]
    Auto,
    /// cgroup v2 or fail to start.
    Cgroup,
    /// The subreaper and the environment sweep.
    Subreaper,
}

/// How long a run's cgroup may take to empty after `cgroup.kill`.
const EMPTY_PATIENCE: Duration = Duration::from_secs(2);

/// The containment of one runner.
#[derive(Debug)]
pub(crate) enum Containment {
    Cgroup(CgroupRoot),
    Subreaper(Reaper),
}

impl Containment {
    pub(crate) fn new(mode: ContainmentMode) -> io::Result<Containment> {
        match mode {
            ContainmentMode::Subreaper => Reaper::new().map(Containment::Subreaper),
            ContainmentMode::Cgroup => CgroupRoot::new().map(Containment::Cgroup),
            ContainmentMode::Auto => match CgroupRoot::new().and_then(|root| {
                root.probe()?;
                Ok(root)
            }) {
                Ok(root) => Ok(Containment::Cgroup(root)),
                Err(error) => {
                    tracing::info!(%error, "no writable cgroup v2: extension runs are contained by the subreaper sweep");
                    Reaper::new().map(Containment::Subreaper)
                }
            },
        }
    }

    pub(crate) fn mode_name(&self) -> &'static str {
        match self {
            Containment::Cgroup(_) => "cgroup",
            Containment::Subreaper(_) => "subreaper",
        }
    }

    /// A fresh container for one run.
    pub(crate) fn open_run(&self) -> io::Result<RunContainer> {
        match self {
            Containment::Cgroup(root) => root.open_run(),
            Containment::Subreaper(reaper) => Ok(RunContainer {
                id: reaper.next_id(),
                cgroup: None,
            }),
        }
    }

    /// Environment variables every run gets.
    pub(crate) fn environment(&self, run: &RunContainer) -> Vec<(String, String)> {
        let mut env = vec![(RUN_ID_ENV.to_owned(), run.id.clone())];
        if let Containment::Cgroup(root) = self {
            env.push((
                HELPER_CGROUP_ENV.to_owned(),
                root.helpers.join("cgroup.procs").display().to_string(),
            ));
        }
        env
    }

    /// Spawn the run's first process and record it while no sweep can run, so that the subreaper
    /// sweep never reaps it behind tokio's back (however quickly it exits).
    pub(crate) fn spawn<T>(
        &self,
        spawn: impl FnOnce() -> io::Result<T>,
        pid: impl Fn(&T) -> Option<u32>,
    ) -> io::Result<T> {
        // Only a process with a subreaper sweeps orphans: elsewhere spawns need not wait for
        // each other.
        if !SUBREAPER_ACTIVE.load(Ordering::Relaxed) {
            return spawn();
        }
        let mut roots = live_roots();
        let spawned = spawn()?;
        if let Some(pid) = pid(&spawned) {
            roots.insert(pid);
        }
        Ok(spawned)
    }

    /// Send `signal` to every process of the run outside its process group `group` (which is
    /// signalled as a whole by the caller, so no process gets the signal twice).
    pub(crate) fn signal(&self, run: &RunContainer, signal: Signal, group: Option<Pid>) -> bool {
        let outside = |pid: i32| {
            group.is_none_or(|g| nix::unistd::getpgid(Some(Pid::from_raw(pid))).ok() != Some(g))
        };
        match (&run.cgroup, self) {
            (Some(cgroup), _) => {
                members(cgroup)
                    .into_iter()
                    .filter(|pid| outside(*pid))
                    .filter(|pid| kill(Pid::from_raw(*pid), signal).is_ok())
                    .count()
                    > 0
            }
            (None, Containment::Subreaper(_)) => signal_orphans_of(&run.id, signal) > 0,
            (None, Containment::Cgroup(_)) => false,
        }
    }

    /// The run is over: kill whatever is left in its container and remove the container.
    /// Returns how many processes were still there.
    pub(crate) async fn end(&self, mut run: RunContainer, root_pid: Option<u32>) -> usize {
        if let Some(pid) = root_pid {
            live_roots().remove(&pid);
        }
        match self {
            Containment::Cgroup(root) => match run.cgroup.take() {
                Some(cgroup) => {
                    let (left, empty) = end_cgroup(&cgroup).await;
                    if empty {
                        root.give_back(cgroup);
                    } else {
                        tracing::warn!(cgroup = %cgroup.display(), "a run's cgroup could not be emptied; it is left aside and removed with the runner");
                    }
                    left
                }
                None => 0,
            },
            Containment::Subreaper(reaper) => reaper.sweep(&run.id).await,
        }
    }
}

/// One run's container.
#[derive(Debug)]
pub(crate) struct RunContainer {
    pub(crate) id: String,
    cgroup: Option<PathBuf>,
}

impl Drop for RunContainer {
    /// A run abandoned before its end (its future dropped): kill what is in its cgroup now.
    fn drop(&mut self) {
        if let Some(dir) = self.cgroup.take() {
            kill_cgroup(&dir, dir.join("cgroup.kill").exists());
            let _ = fs::remove_dir(&dir);
        }
    }
}

impl RunContainer {
    /// The open `cgroup.procs` of the run's cgroup, for the child to move itself into.
    pub(crate) fn procs_file(&self) -> io::Result<Option<OwnedFd>> {
        match &self.cgroup {
            Some(dir) => {
                let file = fs::OpenOptions::new()
                    .write(true)
                    .open(dir.join("cgroup.procs"))?;
                Ok(Some(OwnedFd::from(file)))
            }
            None => Ok(None),
        }
    }
}

/// `trellis-runs.<pid>` under this process's cgroup, and `trellis-helpers` beside it.
#[derive(Debug)]
pub(crate) struct CgroupRoot {
    dir: PathBuf,
    helpers: PathBuf,
    sequence: AtomicU64,
    has_kill: bool,
    /// Empty run cgroups ready for the next runs.
    pool: Mutex<Vec<PathBuf>>,
}

/// Most empty run cgroups kept for reuse.
const POOL_MAX: usize = 256;

static ROOT_SEQUENCE: AtomicU64 = AtomicU64::new(0);

impl CgroupRoot {
    fn new() -> io::Result<CgroupRoot> {
        let base = own_cgroup_dir()?;
        sweep_stale_roots(&base);
        // Several runners in one process (tests) each get their own root.
        let n = ROOT_SEQUENCE.fetch_add(1, Ordering::Relaxed);
        let dir = base.join(format!("trellis-runs.{}.{n}", std::process::id()));
        match fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
        nix::unistd::access(&dir.join("cgroup.procs"), nix::unistd::AccessFlags::W_OK)
            .map_err(io::Error::from)?;
        let helpers = base.join("trellis-helpers");
        match fs::create_dir(&helpers) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
        let has_kill = dir.join("cgroup.kill").exists();
        tracing::info!(cgroup = %dir.display(), has_kill, "extension runs are contained in cgroups");
        Ok(CgroupRoot {
            dir,
            helpers,
            sequence: AtomicU64::new(0),
            has_kill,
            pool: Mutex::new(Vec::new()),
        })
    }

    /// A cgroup for one run: an empty one from the pool, else a new one (making and removing a
    /// cgroup per run would cost more than the rest of the run's bookkeeping together).
    fn open_run(&self) -> io::Result<RunContainer> {
        let n = self.sequence.fetch_add(1, Ordering::Relaxed);
        let pooled = self.pool.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let dir = match pooled {
            Some(dir) => dir,
            None => {
                let dir = self.dir.join(format!("run-{n}"));
                fs::create_dir(&dir)?;
                dir
            }
        };
        Ok(RunContainer {
            id: format!(
                "{}.{n}",
                self.dir.file_name().unwrap_or_default().to_string_lossy()
            ),
            cgroup: Some(dir),
        })
    }
}

impl CgroupRoot {
    /// Move a throwaway process into a run cgroup, as each run's child moves itself: a machine
    /// where the cgroup can be written but a move into it is refused (moving needs rights on
    /// the common ancestor, and some delegations do not give them) is found here, at start,
    /// instead of failing every run.
    fn probe(&self) -> io::Result<()> {
        use std::io::Write as _;
        let run = self.open_run()?;
        let Some(dir) = run.cgroup.clone() else {
            return Ok(());
        };
        let mut child = std::process::Command::new("/bin/sh")
            .args(["-c", "read -r _"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()?;
        let moved = fs::OpenOptions::new()
            .write(true)
            .open(dir.join("cgroup.procs"))
            .and_then(|mut procs| procs.write_all(child.id().to_string().as_bytes()))
            .and_then(|()| {
                let inside = fs::read_to_string(dir.join("cgroup.procs"))?;
                if inside.lines().any(|l| l.trim() == child.id().to_string()) {
                    Ok(())
                } else {
                    Err(io::Error::other(
                        "the process did not arrive in the run cgroup",
                    ))
                }
            });
        let _ = child.kill();
        let _ = child.wait();
        // Dropping the run kills what is left in its cgroup and removes it.
        drop(run);
        moved.map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("moving a process into {}: {e}", dir.display()),
            )
        })
    }

    /// An emptied run cgroup goes back to the pool (a bounded one: beyond it, it is removed).
    fn give_back(&self, dir: PathBuf) {
        let mut pool = self.pool.lock().unwrap_or_else(|p| p.into_inner());
        if pool.len() < POOL_MAX {
            pool.push(dir);
        } else {
            drop(pool);
            let _ = fs::remove_dir(&dir);
        }
    }
}

impl Drop for CgroupRoot {
    fn drop(&mut self) {
        // Runs end before their runner; what is left (a run whose end was never reached) goes.
        kill_and_remove_tree(&self.dir, self.has_kill);
    }
}

/// The directory of this process's cgroup v2: the cgroup2 mount joined with the `0::` line of
/// `/proc/self/cgroup`.
fn own_cgroup_dir() -> io::Result<PathBuf> {
    let own = fs::read_to_string("/proc/self/cgroup")?
        .lines()
        .find_map(|line| line.strip_prefix("0::").map(str::to_owned))
        .ok_or_else(|| io::Error::other("this process is in no cgroup v2 hierarchy"))?;
    let mount = fs::read_to_string("/proc/self/mountinfo")?
        .lines()
        .find_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let fstype = right.split(' ').next()?;
            (fstype == "cgroup2").then(|| left.split(' ').nth(4).map(PathBuf::from))?
        })
        .ok_or_else(|| io::Error::other("no cgroup2 file system is mounted"))?;
    Ok(mount.join(own.trim_start_matches('/')))
}

/// Roots of runners whose process is gone: kill their members, remove them.
fn sweep_stale_roots(base: &Path) {
    let Ok(entries) = fs::read_dir(base) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix("trellis-runs.") else {
            continue;
        };
        let pid = rest.split('.').next().and_then(|p| p.parse::<u32>().ok());
        let alive = pid.is_some_and(|pid| Path::new(&format!("/proc/{pid}")).exists());
        if !alive {
            let dir = entry.path();
            let has_kill = dir.join("cgroup.kill").exists();
            let left = kill_and_remove_tree(&dir, has_kill);
            tracing::warn!(cgroup = %dir.display(), processes = left, "removed the run cgroups of a server that is gone, killing what was left in them");
        }
    }
}

/// Kill every member of `dir` and its children, then remove them (best effort, bounded wait).
fn kill_and_remove_tree(dir: &Path, has_kill: bool) -> usize {
    let mut killed = 0;
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                killed += kill_and_remove_tree(&entry.path(), has_kill);
            }
        }
    }
    let members = members(dir).len();
    if members > 0 {
        killed += members;
        kill_cgroup(dir, has_kill);
        let until = std::time::Instant::now() + EMPTY_PATIENCE;
        while populated(dir) && std::time::Instant::now() < until {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    let _ = fs::remove_dir(dir);
    killed
}

fn members(dir: &Path) -> Vec<i32> {
    fs::read_to_string(dir.join("cgroup.procs"))
        .map(|text| text.lines().filter_map(|l| l.trim().parse().ok()).collect())
        .unwrap_or_default()
}

fn populated(dir: &Path) -> bool {
    match fs::read_to_string(dir.join("cgroup.events")) {
        Ok(text) => text.lines().any(|l| l.trim() == "populated 1"),
        Err(_) => !members(dir).is_empty(),
    }
}

fn signal_members(dir: &Path, signal: Signal) -> usize {
    members(dir)
        .into_iter()
        .filter(|pid| kill(Pid::from_raw(*pid), signal).is_ok())
        .count()
}

fn kill_cgroup(dir: &Path, has_kill: bool) {
    if !(has_kill && fs::write(dir.join("cgroup.kill"), "1").is_ok()) {
        // Older kernels: SIGKILL each member until none is left (a forking member may add more).
        for _ in 0..10 {
            if signal_members(dir, Signal::SIGKILL) == 0 {
                break;
            }
        }
    }
}

/// Kill what is left of a run's cgroup and wait until it is empty. Returns how many processes
/// were left, and whether it is empty now (and so can serve another run).
async fn end_cgroup(dir: &Path) -> (usize, bool) {
    let left = members(dir).len();
    if left == 0 {
        return (0, true);
    }
    kill_cgroup(dir, dir.join("cgroup.kill").exists());
    let until = tokio::time::Instant::now() + EMPTY_PATIENCE;
    while !members(dir).is_empty() {
        if tokio::time::Instant::now() >= until {
            return (left, false);
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    (left, true)
}

/// The subreaper fallback.
#[derive(Debug)]
pub(crate) struct Reaper {
    prefix: String,
    sequence: AtomicU64,
}

/// First processes of runs in flight, across every runner of this process (whatever its
/// containment): the sweep never reaps them (tokio waits for them).
fn live_roots() -> std::sync::MutexGuard<'static, HashSet<u32>> {
    static ROOTS: std::sync::LazyLock<Mutex<HashSet<u32>>> =
        std::sync::LazyLock::new(|| Mutex::new(HashSet::new()));
    // A poisoned set is still a set.
    ROOTS.lock().unwrap_or_else(|p| p.into_inner())
}

static REAPER_SEQUENCE: AtomicU64 = AtomicU64::new(0);

/// Set once a runner of this process has made it the child subreaper.
static SUBREAPER_ACTIVE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

impl Reaper {
    fn new() -> io::Result<Reaper> {
        nix::sys::prctl::set_child_subreaper(true).map_err(io::Error::from)?;
        SUBREAPER_ACTIVE.store(true, Ordering::SeqCst);
        let n = REAPER_SEQUENCE.fetch_add(1, Ordering::Relaxed);
        Ok(Reaper {
            prefix: format!("{}.{n}", std::process::id()),
            sequence: AtomicU64::new(0),
        })
    }

    fn next_id(&self) -> String {
        format!(
            "{}.{}",
            self.prefix,
            self.sequence.fetch_add(1, Ordering::Relaxed)
        )
    }

    /// Kill the orphans of run `id` (repeatedly: a killed orphan's own children are re-parented
    /// to us in turn), and reap every orphan that has exited. Returns how many were killed.
    async fn sweep(&self, id: &str) -> usize {
        let mut killed = 0;
        for _ in 0..20 {
            let n = signal_orphans_of(id, Signal::SIGKILL);
            reap_orphans();
            if n == 0 {
                break;
            }
            killed += n;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        reap_orphans();
        killed
    }
}

/// Every process as (pid, ppid, zombie), read from `/proc`.
fn process_table() -> Vec<(i32, i32, bool)> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut table = Vec::new();
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // Fields after the command name, which is in parentheses and may hold spaces.
        let Some((_, after)) = stat.rsplit_once(')') else {
            continue;
        };
        let mut fields = after.split_whitespace();
        let zombie = fields.next() == Some("Z");
        if let Some(ppid) = fields.next().and_then(|p| p.parse::<i32>().ok()) {
            table.push((pid, ppid, zombie));
        }
    }
    table
}

/// This process's children that no runner started directly (orphans re-parented to it), as
/// (pid, zombie).
fn orphans(table: &[(i32, i32, bool)]) -> Vec<(i32, bool)> {
    let me = std::process::id() as i32;
    let live = live_roots().clone();
    table
        .iter()
        .filter(|(pid, ppid, _)| *ppid == me && !live.contains(&(*pid as u32)))
        .map(|(pid, _, zombie)| (*pid, *zombie))
        .collect()
}

/// Signal the orphans whose environment names run `id`, and all their descendants.
fn signal_orphans_of(id: &str, signal: Signal) -> usize {
    let needle = format!("{RUN_ID_ENV}={id}");
    let table = process_table();
    let mut targets: Vec<i32> = orphans(&table)
        .into_iter()
        .filter(|(_, zombie)| !zombie)
        .map(|(pid, _)| pid)
        .filter(|pid| {
            fs::read(format!("/proc/{pid}/environ"))
                .map(|env| env.split(|b| *b == 0).any(|var| var == needle.as_bytes()))
                .unwrap_or(false)
        })
        .collect();
    // Their descendants, breadth first: a killed orphan's children would only be re-parented.
    let mut next = 0;
    while next < targets.len() {
        let parent = targets[next];
        targets.extend(
            table
                .iter()
                .filter(|(_, ppid, zombie)| *ppid == parent && !zombie)
                .map(|(pid, _, _)| *pid),
        );
        next += 1;
    }
    targets
        .into_iter()
        .filter(|pid| kill(Pid::from_raw(*pid), signal).is_ok())
        .count()
}

/// Reap orphans that have exited (they are not tokio's children).
fn reap_orphans() {
    use nix::sys::wait::{waitpid, WaitPidFlag};
    for (pid, zombie) in orphans(&process_table()) {
        if zombie {
            let _ = waitpid(Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG));
        }
    }
}

/// Between `fork` and `exec` in the child: die with the parent, and enter the run's cgroup.
///
/// Only async-signal-safe calls (`prctl`, `getppid`, `write`), no allocation.
pub(crate) fn child_setup(parent: Pid, cgroup_procs: Option<&OwnedFd>) -> io::Result<()> {
    nix::sys::prctl::set_pdeathsig(Some(Signal::SIGKILL)).map_err(io::Error::from)?;
    // The parent may have died between fork and prctl: then no signal will ever come.
    if nix::unistd::getppid() != parent {
        return Err(io::Error::from_raw_os_error(nix::libc::ESRCH));
    }
    if let Some(fd) = cgroup_procs {
        // "0" moves the writing process.
        nix::unistd::write(fd, b"0").map_err(io::Error::from)?;
    }
    Ok(())
}
