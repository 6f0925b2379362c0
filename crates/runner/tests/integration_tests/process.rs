//! How the process is started: argv, environment, working directory, the payload file.

use super::{group_is_gone, invocation, Sandbox};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[tokio::test]
async fn argv_deadline_and_working_directory() {
    let sandbox = Sandbox::new();
    let script = sandbox.script(
        "ext.sh",
        r#"printf '%s\n' "$0" "$1" "$2" "$3" "$TRELLIS_DEADLINE" "$(pwd)""#,
    );
    let mut run = invocation(&script, "start");
    run.timeout = Duration::from_secs(20);
    let before = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let output = sandbox.runner.run(run).await.expect("run succeeds");
    let lines: Vec<&str> = output.stdout.lines().collect();
    assert_eq!(lines.len(), 6, "{:?}", output.stdout);
    assert_eq!(lines[0], script.to_str().unwrap());
    assert_eq!(lines[1], "start");
    let payload_path = std::path::Path::new(lines[2]);
    assert!(payload_path.is_absolute());
    assert!(payload_path.starts_with(sandbox.runner.payload_dir()));
    assert_eq!(
        payload_path.extension().and_then(|e| e.to_str()),
        Some("json")
    );
    // The configured timeout, unchanged (upstream passes it as is).
    assert_eq!(lines[3], "20");
    let deadline: u64 = lines[4].parse().expect("deadline is epoch seconds");
    assert!(
        deadline >= before + 20 && deadline <= before + 21,
        "deadline {deadline}, started at {before}"
    );
    assert_eq!(
        std::path::Path::new(lines[5]),
        sandbox.path().canonicalize().unwrap()
    );
    // The output is handed back verbatim.
    assert!(output.stdout.ends_with('\n'));
}

#[tokio::test]
async fn the_timeout_is_passed_unchanged() {
    let sandbox = Sandbox::new();
    let script = sandbox.script("ext.sh", r#"echo "$3""#);
    for (timeout, told) in [
        (3000, "3\n"),
        (8000, "8\n"),
        (1_800_000, "1800\n"),
        (1200, "1\n"),
    ] {
        let mut run = invocation(&script, "status");
        run.timeout = Duration::from_millis(timeout);
        assert_eq!(
            sandbox.runner.run(run).await.unwrap().stdout,
            told,
            "{timeout} ms"
        );
    }
}

#[tokio::test]
async fn the_grace_period_comes_after_the_told_timeout() {
    let sandbox = Sandbox::with(|config| config.deadline_grace = Duration::from_secs(3));
    // Told 4 s, it takes 4.4 s: within the grace period (a quarter of 4 s), so it completes.
    let script = sandbox.script("ext.sh", r#"sleep 4.4; echo "done $3""#);
    let mut run = invocation(&script, "status");
    run.timeout = Duration::from_secs(4);
    assert_eq!(sandbox.runner.run(run).await.unwrap().stdout, "done 4\n");
}

#[tokio::test]
async fn environment_is_cleared_except_the_allowlist() {
    let sandbox = Sandbox::new();
    // /proc/$$/environ is exactly the environment the process was started with.
    let script = sandbox.script("ext.sh", r#"tr '\0' '\n' < /proc/$$/environ"#);
    let output = sandbox
        .runner
        .run(invocation(&script, "status"))
        .await
        .unwrap();
    let child_env: Vec<(String, String)> = output
        .stdout
        .lines()
        .filter_map(|line| {
            line.split_once('=')
                .map(|(name, value)| (name.to_owned(), value.to_owned()))
        })
        .collect();
    let allowlist = &sandbox.runner.config().env_allowlist;
    for (name, value) in &child_env {
        if [
            "TRELLIS_DEADLINE",
            "TRELLIS_RUN_ID",
            "TRELLIS_HELPER_CGROUP",
        ]
        .contains(&name.as_str())
        {
            continue;
        }
        assert!(
            allowlist.contains(name),
            "{name} is not allowlisted but reached the extension"
        );
        assert_eq!(
            std::env::var(name).ok().as_deref(),
            Some(value.as_str()),
            "{name} was copied as is"
        );
    }
    assert!(child_env.iter().any(|(name, _)| name == "TRELLIS_DEADLINE"));
    assert!(
        child_env.iter().any(|(name, _)| name == "PATH"),
        "PATH is allowlisted and set here"
    );
    // The test process certainly has variables outside the allowlist (cargo sets several).
    let outside: Vec<String> = std::env::vars()
        .map(|(name, _)| name)
        .filter(|name| !allowlist.contains(name))
        .collect();
    assert!(!outside.is_empty());
    for name in outside {
        assert!(
            !child_env.iter().any(|(child_name, _)| *child_name == name),
            "{name} leaked to the extension"
        );
    }
}

#[tokio::test]
async fn stdin_is_closed() {
    let sandbox = Sandbox::new();
    let script = sandbox.script("ext.sh", r#"cat; echo "read: $?""#);
    let output = sandbox
        .runner
        .run(invocation(&script, "status"))
        .await
        .unwrap();
    assert_eq!(output.stdout, "read: 0\n");
}

#[tokio::test]
async fn payload_file_is_private_and_removed_after_the_run() {
    let sandbox = Sandbox::new();
    let script =
        sandbox.script("ext.sh", r#"stat -c '%a' "$2"; stat -c '%a' "$(dirname "$2")"; basename "$(dirname "$2")"; cat "$2""#);
    let mut run = invocation(&script, "create");
    run.extension = "My Ext/1".to_owned();
    run.payload = br#"{"externaldetails":{"extension":{"secret":"s3cr3t"}}}"#.to_vec();
    let output = sandbox.runner.run(run).await.unwrap();
    let lines: Vec<&str> = output.stdout.lines().collect();
    assert_eq!(
        lines,
        [
            "600",
            "700",
            "my_ext_1",
            r#"{"externaldetails":{"extension":{"secret":"s3cr3t"}}}"#
        ]
    );
    assert!(
        sandbox.payload_files().is_empty(),
        "payload removed after success"
    );
    let root_mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(sandbox.runner.payload_dir())
            .unwrap()
            .permissions(),
    );
    assert_eq!(root_mode & 0o777, 0o700);
}

#[tokio::test]
async fn payload_file_is_removed_after_failure_and_timeout() {
    let sandbox = Sandbox::with(|config| config.kill_grace = Duration::from_millis(200));
    let failing = sandbox.script("fail.sh", "exit 3");
    assert!(sandbox
        .runner
        .run(invocation(&failing, "stop"))
        .await
        .is_err());
    assert!(sandbox.payload_files().is_empty());
    let hanging = sandbox.script("hang.sh", "sleep 1000");
    let mut run = invocation(&hanging, "stop");
    run.timeout = Duration::from_millis(300);
    assert!(sandbox.runner.run(run).await.is_err());
    assert!(sandbox.payload_files().is_empty());
}

#[tokio::test]
async fn existing_payload_directory_is_made_private() {
    let dir = tempfile::tempdir().unwrap();
    let payloads = dir.path().join("payloads");
    std::fs::create_dir(&payloads).unwrap();
    std::fs::set_permissions(
        &payloads,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let config = trellis_ext_runner::RunnerConfig {
        payload_dir: payloads.clone(),
        ..Default::default()
    };
    trellis_ext_runner::Runner::new(config).unwrap();
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&payloads).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o700);

    let file = dir.path().join("file");
    std::fs::write(&file, "").unwrap();
    let config = trellis_ext_runner::RunnerConfig {
        payload_dir: file,
        ..Default::default()
    };
    let error = trellis_ext_runner::Runner::new(config).unwrap_err();
    assert!(error.to_string().ends_with("is not a directory"), "{error}");

    let config = trellis_ext_runner::RunnerConfig {
        payload_dir: payloads,
        max_per_host: 0,
        ..Default::default()
    };
    assert_eq!(
        trellis_ext_runner::Runner::new(config)
            .unwrap_err()
            .to_string(),
        "runner limit max_per_host must be at least 1"
    );
}

#[tokio::test]
async fn retained_payloads_are_kept_until_swept() {
    let sandbox = Sandbox::with(|config| config.retain_payloads = true);
    let script = sandbox.script("ext.sh", "true");
    sandbox
        .runner
        .run(invocation(&script, "start"))
        .await
        .unwrap();
    sandbox
        .runner
        .run(invocation(&script, "stop"))
        .await
        .unwrap();
    assert_eq!(sandbox.payload_files().len(), 2);
    assert_eq!(
        sandbox
            .runner
            .sweep_retained(Duration::from_secs(3600))
            .unwrap(),
        0
    );
    assert_eq!(sandbox.runner.sweep_retained(Duration::ZERO).unwrap(), 2);
    assert!(sandbox.payload_files().is_empty());
}

#[tokio::test]
async fn retention_follows_the_setting_at_run_time() {
    use std::os::unix::fs::PermissionsExt as _;
    let sandbox = Sandbox::new();
    let script = sandbox.script("ext.sh", "true");
    assert!(!sandbox.runner.retains_payloads());
    sandbox
        .runner
        .run(invocation(&script, "start"))
        .await
        .unwrap();
    assert!(sandbox.payload_files().is_empty(), "not kept by default");
    // Switched on (the server does so when extension.payload.retain becomes true): kept, 0600.
    sandbox.runner.set_retain_payloads(true);
    sandbox
        .runner
        .run(invocation(&script, "stop"))
        .await
        .unwrap();
    let kept = sandbox.payload_files();
    assert_eq!(kept.len(), 1);
    let mode = std::fs::metadata(&kept[0]).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    // Switched off again: later runs leave nothing; the kept one waits for the sweep.
    sandbox.runner.set_retain_payloads(false);
    sandbox
        .runner
        .run(invocation(&script, "reboot"))
        .await
        .unwrap();
    assert_eq!(sandbox.payload_files(), kept);
    assert_eq!(sandbox.runner.sweep_retained(Duration::ZERO).unwrap(), 1);
    assert!(sandbox.payload_files().is_empty());
}

#[tokio::test]
async fn cancelled_run_kills_the_group_and_removes_the_payload() {
    let sandbox = Sandbox::new();
    let script = sandbox.script("ext.sh", "echo $$ > group; sleep 1000 & sleep 1000");
    let run = sandbox.runner.run(invocation(&script, "start"));
    let group_file = sandbox.path().join("group");
    // The run is dropped (cancelled) once the script has written its whole line: the file
    // exists, empty, as soon as the shell opens it, and a run dropped then never writes it.
    let written = || std::fs::read_to_string(&group_file).is_ok_and(|text| text.ends_with('\n'));
    let cancelled = tokio::time::timeout(Duration::from_secs(3), async {
        tokio::select! {
            _ = run => panic!("the run should not finish"),
            () = async { while !written() { tokio::time::sleep(Duration::from_millis(20)).await } } => {}
        }
    })
    .await;
    assert!(cancelled.is_ok(), "the script started");
    let group: i32 = std::fs::read_to_string(&group_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        group_is_gone(group).await,
        "processes of the cancelled run survive"
    );
    assert!(sandbox.payload_files().is_empty());
}

#[tokio::test]
async fn stderr_is_logged_line_by_line() {
    use std::sync::{Arc, Mutex};
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let sandbox = Sandbox::new();
    let script = sandbox.script(
        "ext.sh",
        r#"echo "first warning" >&2; echo '{"ok":true}'; printf 'no newline' >&2"#,
    );
    let output = sandbox
        .runner
        .run(invocation(&script, "reboot"))
        .await
        .unwrap();
    assert_eq!(output.stdout, "{\"ok\":true}\n");
    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<&str> = logs
        .lines()
        .filter(|line| line.contains("trellis::extension"))
        .collect();
    assert_eq!(lines.len(), 2, "{logs}");
    assert!(
        lines[0].contains("first warning")
            && lines[0].contains("extension=\"test-ext\"")
            && lines[0].contains("action=\"reboot\""),
        "{logs}"
    );
    assert!(lines[1].contains("no newline"), "{logs}");
    assert!(!logs.contains("{\"ok\":true}"), "stdout is not logged");
    assert!(!logs.contains("i-2-10-VM"), "the payload is not logged");
}

#[tokio::test]
async fn payload_files_of_runs_that_never_finished_are_removed_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("payloads");
    let ext = root.join("test-ext");
    std::fs::create_dir_all(&ext).unwrap();
    // A run of a process that is gone (no pid is this large), one of this live process, and a
    // file kept for debugging after its run ended.
    let dead = ext.join("4294967-aaaa.json");
    let live = ext.join(format!("{}-bbbb.json", std::process::id()));
    let kept = ext.join("kept-cccc.json");
    for f in [&dead, &live, &kept] {
        std::fs::write(f, r#"{"password":"s3cret"}"#).unwrap();
    }
    let _runner = trellis_ext_runner::Runner::new(trellis_ext_runner::RunnerConfig {
        payload_dir: root.clone(),
        ..Default::default()
    })
    .unwrap();
    assert!(
        !dead.exists(),
        "the orphaned payload (with its secrets) is gone"
    );
    assert!(live.exists(), "a live process's run is left alone");
    assert!(
        kept.exists(),
        "retained files wait for their retention sweep"
    );
}
