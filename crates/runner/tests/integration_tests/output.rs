//! Output handling: large and noisy streams, exit codes, signals, unusable output.

use super::{invocation, Sandbox};
use std::time::Duration;
use trellis_ext_runner::RunError;

#[tokio::test]
async fn sixteen_mib_of_stdout_does_not_deadlock_and_is_capped() {
    let sandbox = Sandbox::new();
    // 16 MiB on stdout and 1 MiB on stderr at the same time.
    let script = sandbox.script(
        "ext.sh",
        "head -c 1048576 /dev/zero | tr '\\0' 'e' >&2 & head -c 16777216 /dev/zero | tr '\\0' 'a'; wait",
    );
    let mut run = invocation(&script, "statuses");
    run.timeout = Duration::from_secs(60);
    let output = sandbox.runner.run(run).await.expect("run succeeds");
    assert!(output.stdout_truncated);
    assert_eq!(output.stdout.len(), 8 * 1024 * 1024);
    assert!(output.stdout.bytes().all(|byte| byte == b'a'));
    assert_eq!(output.stderr_tail.len(), 64 * 1024);
    assert!(output.stderr_tail.bytes().all(|byte| byte == b'e'));
}

#[tokio::test]
async fn output_under_the_cap_is_complete() {
    let sandbox = Sandbox::with(|config| config.stdout_cap = 4 * 1024 * 1024);
    let script = sandbox.script("ext.sh", "head -c 3000000 /dev/zero | tr '\\0' 'b'");
    let output = sandbox
        .runner
        .run(invocation(&script, "statuses"))
        .await
        .unwrap();
    assert!(!output.stdout_truncated);
    assert_eq!(output.stdout.len(), 3_000_000);
}

#[tokio::test]
async fn noisy_stderr_keeps_a_tail_and_stdout_clean() {
    let sandbox = Sandbox::with(|config| config.stderr_cap = 1024);
    let script = sandbox.script(
        "ext.sh",
        r#"for i in $(seq 0 19999); do echo "InsecureRequestWarning: unverified HTTPS request $i" >&2; done
echo '{"status":"success","power_state":"poweron"}'"#,
    );
    let output = sandbox
        .runner
        .run(invocation(&script, "status"))
        .await
        .unwrap();
    assert_eq!(
        output.stdout,
        "{\"status\":\"success\",\"power_state\":\"poweron\"}\n"
    );
    assert!(output.stderr_tail.len() <= 1024);
    assert!(
        output
            .stderr_tail
            .ends_with("unverified HTTPS request 19999\n"),
        "{}",
        output.stderr_tail
    );
}

#[tokio::test]
async fn non_zero_exit_reports_code_and_output() {
    let sandbox = Sandbox::new();
    let script = sandbox.script(
        "ext.sh",
        r#"echo '{"status":"error","error":"node pve1 unreachable"}'; echo "traceback..." >&2; exit 4"#,
    );
    let error = sandbox
        .runner
        .run(invocation(&script, "start"))
        .await
        .unwrap_err();
    let RunError::Exited {
        code,
        stdout,
        stderr_tail,
    } = &error
    else {
        panic!("unexpected {error:?}")
    };
    assert_eq!(*code, 4);
    assert_eq!(
        stdout,
        "{\"status\":\"error\",\"error\":\"node pve1 unreachable\"}\n"
    );
    assert_eq!(stderr_tail, "traceback...\n");
    assert_eq!(
        error.details(),
        r#"Exit code: 4, Output: {"status":"error","error":"node pve1 unreachable"}"#
    );
    assert_eq!(error.to_string(), "extension exited with code 4");

    let quiet = sandbox.script("quiet.sh", "echo 'only on stderr' >&2; exit 1");
    let error = sandbox
        .runner
        .run(invocation(&quiet, "stop"))
        .await
        .unwrap_err();
    assert_eq!(error.details(), "Exit code: 1, Output: only on stderr");
}

#[tokio::test]
async fn death_by_signal_is_reported() {
    let sandbox = Sandbox::new();
    let script = sandbox.script("ext.sh", "echo partial; kill -SEGV $$");
    let error = sandbox
        .runner
        .run(invocation(&script, "start"))
        .await
        .unwrap_err();
    let RunError::Killed { signal, stdout, .. } = &error else {
        panic!("unexpected {error:?}")
    };
    assert_eq!(*signal, 11);
    assert_eq!(stdout, "partial\n");
    assert_eq!(
        error.details(),
        "Killed by signal 11 (SIGSEGV), Output: partial"
    );
}

#[tokio::test]
async fn stdout_that_is_not_utf8_is_bad_output() {
    let sandbox = Sandbox::new();
    let script = sandbox.script("ext.sh", r#"printf '{"a":"\xff\xfe"}'"#);
    let error = sandbox
        .runner
        .run(invocation(&script, "status"))
        .await
        .unwrap_err();
    let RunError::BadOutput { reason, .. } = &error else {
        panic!("unexpected {error:?}")
    };
    assert!(reason.contains("not valid UTF-8"), "{reason}");
}

#[tokio::test]
async fn metrics_count_outcomes() {
    let sandbox = Sandbox::with(|config| config.kill_grace = Duration::from_millis(100));
    let ok = sandbox.script("ok.sh", "true");
    let failing = sandbox.script("fail.sh", "exit 2");
    let hanging = sandbox.script("hang.sh", "sleep 1000");
    sandbox.runner.run(invocation(&ok, "start")).await.unwrap();
    sandbox.runner.run(invocation(&ok, "start")).await.unwrap();
    sandbox
        .runner
        .run(invocation(&failing, "start"))
        .await
        .unwrap_err();
    let mut run = invocation(&hanging, "stop");
    run.timeout = Duration::from_millis(200);
    sandbox.runner.run(run).await.unwrap_err();
    sandbox
        .runner
        .run(invocation(&sandbox.path().join("missing"), "stop"))
        .await
        .unwrap_err();

    let text = sandbox.runner.metrics_text();
    let labels_start = r#"{extension="test-ext",action="start"}"#;
    let labels_stop = r#"{extension="test-ext",action="stop"}"#;
    for expected in [
        format!("trellis_extension_action_duration_seconds_count{labels_start} 3"),
        format!("trellis_extension_action_nonzero_exits_total{labels_start} 1"),
        format!("trellis_extension_actions_in_flight{labels_start} 0"),
        format!("trellis_extension_action_timeouts_total{labels_stop} 1"),
        format!("trellis_extension_action_spawn_failures_total{labels_stop} 1"),
        format!("trellis_extension_action_duration_seconds_count{labels_stop} 1"),
    ] {
        assert!(text.contains(&expected), "missing {expected} in\n{text}");
    }
    assert!(text.contains("# TYPE trellis_extension_action_duration_seconds histogram"));
}
