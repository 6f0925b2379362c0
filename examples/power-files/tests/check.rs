//! The example extension against the real conformance checker (`trellis extension check` runs
//! the same `check_extension` through the same runner), plus the failures it reports.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;
use trellis_ext_runner::check::{check_extension, CheckOptions, CheckReport, Verdict};
use trellis_ext_runner::{Runner, RunnerConfig};

const BINARY: &str = env!("CARGO_BIN_EXE_power-files");

async fn check(sandbox: &Path, host_details: BTreeMap<String, String>) -> CheckReport {
    let runner = Runner::new(RunnerConfig {
        payload_dir: sandbox.join("payloads"),
        ..RunnerConfig::default()
    })
    .expect("create runner");
    let mut options = CheckOptions::new(BINARY);
    options.timeout = Duration::from_secs(30);
    options.host_details = host_details;
    check_extension(&runner, options).await
}

#[tokio::test]
async fn the_example_passes_the_conformance_check() {
    let sandbox = tempfile::tempdir().unwrap();
    let state_dir = sandbox.path().join("state");
    std::fs::create_dir(&state_dir).unwrap();
    let details = BTreeMap::from([(
        "state_dir".to_string(),
        state_dir.to_str().unwrap().to_string(),
    )]);
    let report = check(sandbox.path(), details).await;
    let text = report.render_text();
    assert!(report.passed(), "{text}");
    let verdicts: Vec<(&str, Verdict)> = report
        .actions
        .iter()
        .map(|check| (check.action.as_str(), check.verdict))
        .collect();
    assert_eq!(
        verdicts,
        [
            ("prepare", Verdict::Pass),
            ("create", Verdict::Pass),
            ("status", Verdict::Pass),
            ("statuses", Verdict::Pass),
            ("stop", Verdict::Pass),
            ("start", Verdict::Pass),
            ("reboot", Verdict::Pass),
            ("getconsole", Verdict::Unsupported),
            ("delete", Verdict::Pass),
        ],
        "{text}"
    );
    let getconsole = &report.actions[7];
    assert_eq!(getconsole.exit_code, Some(6), "{text}");
    assert!(
        getconsole.stderr_tail.is_empty(),
        "stderr stays silent: {text}"
    );
    // `delete` really removed the instance.
    assert_eq!(std::fs::read_dir(&state_dir).unwrap().count(), 0);
}

#[tokio::test]
async fn without_its_detail_the_check_fails() {
    let sandbox = tempfile::tempdir().unwrap();
    let report = check(sandbox.path(), BTreeMap::new()).await;
    assert!(!report.passed(), "{}", report.render_text());
    let create = report
        .actions
        .iter()
        .find(|check| check.action == "create")
        .unwrap();
    assert_eq!(create.verdict, Verdict::Fail);
    assert_eq!(create.exit_code, Some(3), "{}", report.render_text());
}

fn run(arguments: &[&str]) -> (Option<i32>, serde_json::Value, String) {
    let output = Command::new(BINARY)
        .env_clear()
        .args(arguments)
        .output()
        .unwrap();
    let reply = serde_json::from_slice(&output.stdout).unwrap_or_else(|error| {
        panic!(
            "stdout is not json ({error}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    });
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output.status.code(), reply, stderr)
}

#[test]
fn invocation_errors_follow_the_kit() {
    let (code, reply, stderr) = run(&["status"]);
    assert_eq!(code, Some(2));
    assert_eq!(
        reply["error"],
        "usage: power-files <action> <payload.json> <timeout-seconds>"
    );
    assert!(stderr.is_empty());
    let (code, reply, _) = run(&["status", "/nonexistent/payload.json", "10"]);
    assert_eq!(code, Some(2));
    assert!(reply["error"]
        .as_str()
        .unwrap()
        .starts_with("cannot read the payload file /nonexistent/payload.json: "));
    let (code, reply, _) = run(&["migrate", "/nonexistent/payload.json", "10"]);
    assert_eq!((code, reply["status"].as_str()), (Some(6), Some("error")));

    let sandbox = tempfile::tempdir().unwrap();
    let payload = sandbox.path().join("payload.json");
    let details = serde_json::json!({
        "externaldetails": {"host": {"state_dir": sandbox.path()}},
        "virtualmachinename": "../escape",
    });
    std::fs::write(&payload, details.to_string()).unwrap();
    let (code, _, _) = run(&["create", payload.to_str().unwrap(), "10"]);
    assert_eq!(code, Some(2), "names that are not file names are refused");
}
