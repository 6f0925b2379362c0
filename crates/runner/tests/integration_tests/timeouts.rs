//! Timeouts and process groups: nothing the extension started survives the run.

use super::{group_is_gone, invocation, live_members_of_group, Sandbox};
use std::time::{Duration, Instant};
use trellis_ext_runner::RunError;

#[tokio::test]
async fn hanging_extension_and_its_children_are_killed() {
    let sandbox = Sandbox::with(|config| config.kill_grace = Duration::from_millis(500));
    // Ignores SIGTERM (and so do its children, which inherit the disposition), so only the
    // SIGKILL after the grace period stops it.
    let script = sandbox.script(
        "ext.sh",
        r#"trap '' TERM
echo "group $$"
sleep 1000 &
( sleep 1000 ) &
bash -c 'sleep 1000' &
echo "children started" >&2
while true; do sleep 1; done"#,
    );
    let mut run = invocation(&script, "create");
    run.timeout = Duration::from_secs(1);
    let started = Instant::now();
    let error = sandbox.runner.run(run).await.unwrap_err();
    let elapsed = started.elapsed();
    let RunError::TimedOut {
        after,
        stdout,
        stderr_tail,
    } = &error
    else {
        panic!("unexpected {error:?}")
    };
    assert_eq!(*after, Duration::from_secs(1));
    assert!(stderr_tail.contains("children started"));
    assert_eq!(
        error.details(),
        format!("Timeout, Output: {}", stdout.trim()),
        "the partial output is part of the failure"
    );
    assert!(
        elapsed >= Duration::from_millis(1500),
        "SIGKILL came only after the grace period: {elapsed:?}"
    );
    assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");
    let group: i32 = stdout
        .trim()
        .strip_prefix("group ")
        .expect("partial stdout kept")
        .parse()
        .unwrap();
    assert!(
        group_is_gone(group).await,
        "survivors: {:?}",
        live_members_of_group(group)
    );
}

#[tokio::test]
async fn extension_that_honours_sigterm_can_clean_up() {
    let sandbox = Sandbox::with(|config| config.kill_grace = Duration::from_secs(10));
    let script = sandbox.script(
        "ext.sh",
        r#"trap 'echo "cleaning up" >&2; kill $child 2>/dev/null; exit 143' TERM
echo "group $$"
sleep 1000 &
child=$!
wait"#,
    );
    let mut run = invocation(&script, "create");
    run.timeout = Duration::from_millis(500);
    let started = Instant::now();
    let error = sandbox.runner.run(run).await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "no need to wait for the grace period"
    );
    let RunError::TimedOut {
        stdout,
        stderr_tail,
        ..
    } = &error
    else {
        panic!("unexpected {error:?}")
    };
    assert_eq!(stderr_tail, "cleaning up\n");
    let group: i32 = stdout
        .trim()
        .strip_prefix("group ")
        .unwrap()
        .parse()
        .unwrap();
    assert!(group_is_gone(group).await);
}

#[tokio::test]
async fn background_child_holding_the_pipes_does_not_hang_the_run() {
    let sandbox = Sandbox::new();
    let script = sandbox.script(
        "ext.sh",
        r#"sleep 1000 & echo "group $$"; echo '{"status":"success"}'"#,
    );
    let started = Instant::now();
    let output = sandbox
        .runner
        .run(invocation(&script, "start"))
        .await
        .expect("exit 0 is success");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let mut lines = output.stdout.lines();
    let group: i32 = lines
        .next()
        .unwrap()
        .strip_prefix("group ")
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(lines.next(), Some(r#"{"status":"success"}"#));
    assert!(
        group_is_gone(group).await,
        "survivors: {:?}",
        live_members_of_group(group)
    );
    assert!(sandbox.runner.metrics_text().contains(
        r#"trellis_extension_action_kills_total{extension="test-ext",action="start"} 1"#
    ));
}

#[tokio::test]
async fn detached_background_child_is_killed_when_the_run_ends() {
    let sandbox = Sandbox::new();
    let script = sandbox.script("ext.sh", r#"sleep 1000 >/dev/null 2>&1 & echo "group $$""#);
    let started = Instant::now();
    let output = sandbox
        .runner
        .run(invocation(&script, "start"))
        .await
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    let group: i32 = output
        .stdout
        .trim()
        .strip_prefix("group ")
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        group_is_gone(group).await,
        "survivors: {:?}",
        live_members_of_group(group)
    );
}
