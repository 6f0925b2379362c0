//! Concurrency limits: global, per extension, per host, with queueing.

use super::{invocation, Sandbox};
use std::path::Path;
use std::time::Duration;
use trellis_ext_runner::Invocation;

/// A script that records its start and end times (nanoseconds) in a file named after its pid, in
/// its working directory.
const RECORDING_SCRIPT: &str = r#"start=$(date +%s%N); sleep 0.4; end=$(date +%s%N); mkdir -p spans; echo "$start $end" > "spans/$$""#;

/// The highest number of recorded spans that overlapped at any moment, and how many spans there are.
fn max_overlap(dir: &Path) -> (usize, usize) {
    let mut events: Vec<(u128, i32)> = Vec::new();
    let mut spans = 0;
    for entry in std::fs::read_dir(dir.join("spans")).unwrap().flatten() {
        let text = std::fs::read_to_string(entry.path()).unwrap();
        let (start, end) = text.trim().split_once(' ').unwrap();
        events.push((start.parse().unwrap(), 1));
        events.push((end.parse().unwrap(), -1));
        spans += 1;
    }
    // Ends sort before starts at the same instant.
    events.sort();
    let mut current = 0;
    let mut highest = 0;
    for (_, change) in events {
        current += change;
        highest = highest.max(current);
    }
    (usize::try_from(highest).unwrap(), spans)
}

async fn run_all(sandbox: &Sandbox, invocations: Vec<Invocation>) {
    let runs = invocations.into_iter().map(|invocation| {
        let runner = sandbox.runner.clone();
        tokio::spawn(async move { runner.run(invocation).await })
    });
    let handles: Vec<_> = runs.collect();
    for handle in handles {
        handle.await.unwrap().expect("run succeeds");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_extension_limit_is_respected() {
    let sandbox = Sandbox::with(|config| config.max_per_extension = 2);
    let script = sandbox.script("ext.sh", RECORDING_SCRIPT);
    let started = std::time::Instant::now();
    run_all(
        &sandbox,
        (0..6).map(|_| invocation(&script, "status")).collect(),
    )
    .await;
    let (highest, spans) = max_overlap(sandbox.path());
    assert_eq!(spans, 6);
    assert_eq!(highest, 2, "two at a time, no more, no less");
    assert!(
        started.elapsed() >= Duration::from_millis(1200),
        "three rounds of 0.4 s"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_host_limit_is_respected() {
    let sandbox = Sandbox::with(|config| config.max_per_host = 1);
    let script = sandbox.script("ext.sh", RECORDING_SCRIPT);
    let invocations = (0..4)
        .map(|_| Invocation {
            host_key: Some("host-1".to_owned()),
            secrets: Default::default(),
            ..invocation(&script, "status")
        })
        .collect();
    run_all(&sandbox, invocations).await;
    assert_eq!(max_overlap(sandbox.path()), (1, 4));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn different_hosts_run_in_parallel() {
    let sandbox = Sandbox::with(|config| config.max_per_host = 1);
    let script = sandbox.script("ext.sh", RECORDING_SCRIPT);
    let invocations = (0..3)
        .map(|index| Invocation {
            host_key: Some(format!("host-{index}")),
            secrets: Default::default(),
            ..invocation(&script, "status")
        })
        .collect();
    run_all(&sandbox, invocations).await;
    assert_eq!(max_overlap(sandbox.path()), (3, 3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn global_limit_spans_extensions() {
    let sandbox = Sandbox::with(|config| config.max_concurrent = 2);
    let script = sandbox.script("ext.sh", RECORDING_SCRIPT);
    let invocations = (0..6)
        .map(|index| Invocation {
            extension: format!("ext-{}", index % 3),
            ..invocation(&script, "status")
        })
        .collect();
    run_all(&sandbox, invocations).await;
    assert_eq!(max_overlap(sandbox.path()), (2, 6));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_runs_show_in_metrics() {
    let sandbox = Sandbox::with(|config| config.max_per_extension = 1);
    let script = sandbox.script("ext.sh", "sleep 0.5");
    let runs: Vec<_> = (0..3)
        .map(|_| {
            let runner = sandbox.runner.clone();
            let invocation = invocation(&script, "status");
            tokio::spawn(async move { runner.run(invocation).await })
        })
        .collect();
    let saw_queue = super::wait_for_condition(Duration::from_secs(3), || {
        let text = sandbox.runner.metrics_text();
        text.contains(r#"trellis_extension_actions_queued{extension="test-ext",action="status"} 2"#)
            && text.contains(
                r#"trellis_extension_actions_in_flight{extension="test-ext",action="status"} 1"#,
            )
    })
    .await;
    assert!(saw_queue, "{}", sandbox.runner.metrics_text());
    for run in runs {
        run.await.unwrap().unwrap();
    }
    let text = sandbox.runner.metrics_text();
    assert!(text
        .contains(r#"trellis_extension_actions_queued{extension="test-ext",action="status"} 0"#));
    assert!(text.contains(
        r#"trellis_extension_actions_in_flight{extension="test-ext",action="status"} 0"#
    ));
}

/// `try_slot` takes a slot only when the host, the extension and the global limit all have one
/// free, and holds nothing when it fails (a later `try_slot` for another host succeeds).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn try_slot_takes_a_free_slot_or_nothing() {
    let sandbox = Sandbox::with(|config| {
        config.max_per_host = 1;
        config.max_per_extension = 2;
    });
    let runner = &sandbox.runner;
    let first = runner.try_slot("ext", Some("host-1")).expect("a free slot");
    assert!(
        runner.try_slot("ext", Some("host-1")).is_none(),
        "the host's one slot is taken"
    );
    let second = runner
        .try_slot("ext", Some("host-2"))
        .expect("the failed try held nothing of the extension's two slots");
    assert!(
        runner.try_slot("ext", Some("host-3")).is_none(),
        "the extension's two slots are taken"
    );
    drop(first);
    assert!(runner.try_slot("ext", Some("host-1")).is_some());
    drop(second);
}
