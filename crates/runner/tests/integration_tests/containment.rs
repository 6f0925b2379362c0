//! Containment: descendants that leave the process group (`setsid`, `set -m`, double forks)
//! still die with their run, under cgroup v2 and under the subreaper fallback; a helper the
//! extension launches outside the run on purpose survives.

use super::{invocation, wait_for_condition, Sandbox};
use std::time::Duration;
use trellis_ext_runner::{ContainmentMode, RunError};

/// A script that starts three escaping descendants, writes their pids to `pids`, and then runs
/// `rest`.
fn escaping_script(rest: &str) -> String {
    format!(
        r#"here="$(dirname "$0")"
setsid sleep 301 </dev/null >/dev/null 2>&1 &
echo $! >> "$here/pids"
( set -m; sleep 302 </dev/null >/dev/null 2>&1 & echo $! >> "$here/pids" )
( setsid bash -c 'sleep 303 & echo $! >> "$0/pids"; wait' "$here" </dev/null >/dev/null 2>&1 & )
for _ in $(seq 100); do [ "$(wc -l < "$here/pids")" -ge 3 ] && break; sleep 0.02; done
{rest}"#
    )
}

fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // A zombie is dead: it only waits for its parent to read its status.
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.split_whitespace().next() != Some("Z")),
        Err(_) => false,
    }
}

fn recorded_pids(sandbox: &Sandbox) -> Vec<i32> {
    std::fs::read_to_string(sandbox.path().join("pids"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

async fn all_dead(pids: &[i32]) -> bool {
    wait_for_condition(Duration::from_secs(5), || pids.iter().all(|p| !alive(*p))).await
}

/// The sandbox for `mode`, or `None` (with a note) where the machine cannot provide it.
fn sandbox(mode: ContainmentMode) -> Option<Sandbox> {
    let dir = tempfile::tempdir().expect("temporary directory");
    let config = trellis_ext_runner::RunnerConfig {
        payload_dir: dir.path().join("payloads"),
        containment: mode,
        ..Default::default()
    };
    match trellis_ext_runner::Runner::new(config) {
        Ok(runner) => Some(Sandbox { dir, runner }),
        Err(error) => {
            eprintln!("skipped: {mode:?} containment is not available here: {error}");
            None
        }
    }
}

async fn escaped_descendants_die_when_the_run_ends(mode: ContainmentMode) {
    let Some(sandbox) = sandbox(mode) else { return };
    let script = sandbox.script("ext.sh", &escaping_script(r#"echo '{"status":"success"}'"#));
    sandbox
        .runner
        .run(invocation(&script, "start"))
        .await
        .unwrap();
    let pids = recorded_pids(&sandbox);
    assert_eq!(
        pids.len(),
        3,
        "the script started three escaping descendants"
    );
    assert!(
        all_dead(&pids).await,
        "{mode:?}: survivors {:?}",
        pids.iter().filter(|p| alive(**p)).collect::<Vec<_>>()
    );
    let metrics = sandbox.runner.metrics_text();
    assert!(
        metrics.contains(
            r#"trellis_extension_action_kills_total{extension="test-ext",action="start"} 1"#
        ),
        "{metrics}"
    );
}

async fn escaped_descendants_die_on_timeout(mode: ContainmentMode) {
    let Some(sandbox) = sandbox(mode) else { return };
    let script = sandbox.script("ext.sh", &escaping_script("echo partial; sleep 600"));
    let mut inv = invocation(&script, "start");
    inv.timeout = Duration::from_secs(1);
    let error = sandbox.runner.run(inv).await.unwrap_err();
    assert!(matches!(error, RunError::TimedOut { .. }), "{error:?}");
    assert_eq!(
        error.details(),
        "Timeout, Output: partial",
        "the partial output is kept"
    );
    let pids = recorded_pids(&sandbox);
    assert_eq!(pids.len(), 3);
    assert!(
        all_dead(&pids).await,
        "{mode:?}: survivors {:?}",
        pids.iter().filter(|p| alive(**p)).collect::<Vec<_>>()
    );
}

async fn a_helper_launched_outside_the_run_survives(mode: ContainmentMode) {
    let Some(sandbox) = sandbox(mode) else { return };
    // The documented way out: no TRELLIS_RUN_ID in the helper's environment and, under cgroup
    // v2, its pid written to TRELLIS_HELPER_CGROUP.
    let script = sandbox.script(
        "ext.sh",
        r#"here="$(dirname "$0")"
env -u TRELLIS_RUN_ID setsid sleep 304 </dev/null >/dev/null 2>&1 &
helper=$!
[ -n "$TRELLIS_HELPER_CGROUP" ] && echo "$helper" > "$TRELLIS_HELPER_CGROUP"
echo "$helper" > "$here/helper"
# Until setsid has run, the helper is still in the run's process group.
for _ in $(seq 100); do [ "$(ps -o sid= -p "$helper" | tr -d ' ')" = "$helper" ] && break; sleep 0.02; done
echo '{"status":"success"}'"#,
    );
    sandbox
        .runner
        .run(invocation(&script, "start"))
        .await
        .unwrap();
    let helper: i32 = std::fs::read_to_string(sandbox.path().join("helper"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let survived = alive(helper);
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(helper),
        nix::sys::signal::Signal::SIGKILL,
    );
    assert!(survived, "{mode:?}: the helper was killed with the run");
}

#[tokio::test]
async fn cgroup_escaped_descendants_die_when_the_run_ends() {
    escaped_descendants_die_when_the_run_ends(ContainmentMode::Cgroup).await;
}

#[tokio::test]
async fn subreaper_escaped_descendants_die_when_the_run_ends() {
    escaped_descendants_die_when_the_run_ends(ContainmentMode::Subreaper).await;
}

#[tokio::test]
async fn cgroup_escaped_descendants_die_on_timeout() {
    escaped_descendants_die_on_timeout(ContainmentMode::Cgroup).await;
}

#[tokio::test]
async fn subreaper_escaped_descendants_die_on_timeout() {
    escaped_descendants_die_on_timeout(ContainmentMode::Subreaper).await;
}

#[tokio::test]
async fn cgroup_helper_launched_outside_the_run_survives() {
    a_helper_launched_outside_the_run_survives(ContainmentMode::Cgroup).await;
}

#[tokio::test]
async fn subreaper_helper_launched_outside_the_run_survives() {
    a_helper_launched_outside_the_run_survives(ContainmentMode::Subreaper).await;
}

#[tokio::test]
async fn each_run_is_in_its_own_cgroup_emptied_when_it_ends_and_the_runner_removes_them_all() {
    let Some(sandbox) = sandbox(ContainmentMode::Cgroup) else {
        return;
    };
    // The run lingers in the background: its cgroup must be emptied when it ends.
    let script = sandbox.script(
        "ext.sh",
        "cat /proc/self/cgroup; setsid sleep 300 </dev/null >/dev/null 2>&1 &",
    );
    let out = sandbox
        .runner
        .run(invocation(&script, "status"))
        .await
        .unwrap();
    let cgroup = out
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .expect("the extension is in a cgroup v2")
        .to_owned();
    assert!(cgroup.contains("/trellis-runs."), "{cgroup}");
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    let own = own.lines().find_map(|l| l.strip_prefix("0::")).unwrap();
    assert!(
        !own.contains("trellis-runs"),
        "the runner itself stays where it was"
    );
    let mount = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .find_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            (right.split(' ').next()? == "cgroup2")
                .then(|| left.split(' ').nth(4).map(str::to_owned))?
        })
        .unwrap();
    let dir = std::path::Path::new(&mount).join(cgroup.trim_start_matches('/'));
    // Emptied (and kept for the next run: making a cgroup per run costs more than reusing one).
    let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
    assert!(procs.trim().is_empty(), "left in the run's cgroup: {procs}");
    // A second run reuses it.
    let again = sandbox
        .runner
        .run(invocation(&script, "status"))
        .await
        .unwrap();
    assert!(
        again.stdout.contains(&cgroup),
        "{} vs {cgroup}",
        again.stdout
    );
    let root = dir.parent().unwrap().to_path_buf();
    drop(sandbox);
    assert!(!root.exists(), "{} was left behind", root.display());
}

/// `Auto` settles on cgroups only after moving a real process into a run cgroup (a machine
/// where the cgroup can be written but the move is refused falls back to the subreaper instead
/// of failing every run); where cgroups work, it picks them and runs are contained.
#[tokio::test]
async fn auto_mode_picks_cgroups_after_a_move_that_worked() {
    if sandbox(ContainmentMode::Cgroup).is_none() {
        return;
    }
    let sandbox = sandbox(ContainmentMode::Auto).expect("auto always starts");
    assert_eq!(sandbox.runner.containment(), "cgroup");
    let script = sandbox.script("ext.sh", "cat /proc/self/cgroup");
    let out = sandbox
        .runner
        .run(invocation(&script, "status"))
        .await
        .unwrap();
    assert!(out.stdout.contains("/trellis-runs."), "{}", out.stdout);
}
