//! The conformance checker against a scaffold-like extension and a deliberately broken one.

use super::Sandbox;
use std::path::Path;
use std::time::Duration;
use trellis_ext_runner::check::{check_extension, CheckOptions, Verdict};

/// Behaves like CloudStack's scaffold provisioner, without jq, plus `statuses`; it also checks
/// that the details and the `prepare` patch reach later payloads.
const SCAFFOLD: &str = r#"
action=$1
payload=$2
if [[ -z "$action" || -z "$payload" || -z "$3" ]]; then
  echo '{"status":"error","error":"Missing required arguments"}'; exit 1
fi
if [[ ! -r "$payload" ]]; then
  echo '{"status":"error","error":"File not found or unreadable"}'; exit 1
fi
json=$(cat "$payload")
case "$action" in
  prepare)
    nics=""
    for uuid in $(grep -o '"nics":\[[^]]*' <<<"$json" | grep -o '"uuid":"[^"]*"' | cut -d'"' -f4); do
      nics="${nics:+$nics,}{\"uuid\":\"$uuid\",\"mac\":\"52:54:00:12:34:56\"}"
    done
    if [[ -n "$nics" ]]; then echo "{\"nics\":[$nics],\"details\":{\"External:vmid\":\"105\"}}"; else echo; fi
    ;;
  create)
    grep -q '52:54:00:12:34:56' <<<"$json" || { echo '{"status":"error","error":"prepare patch missing"}'; exit 1; }
    grep -q '"vmid":"105"' <<<"$json" || { echo '{"status":"error","error":"prepared detail missing"}'; exit 1; }
    echo '{"status":"success","message":"Instance created"}' ;;
  start|stop|reboot|delete)
    echo "{\"status\":\"success\",\"message\":\"Instance ${action}ed\"}" ;;
  status)
    grep -q '"node":"pve1"' <<<"$json" || { echo '{"status":"error","error":"host detail missing"}'; exit 1; }
    echo '{"status":"success","power_state":"poweron"}' ;;
  statuses)
    name=$(grep -o '"virtualmachines":{"[^"]*"' <<<"$json" | cut -d'"' -f4)
    echo "{\"status\":\"success\",\"power_state\":{\"$name\":\"poweroff\"}}" ;;
  getconsole)
    echo '{"status":"error","error":"Operation not supported"}'; exit 1 ;;
  *)
    echo '{"status":"error","error":"Invalid action"}'; exit 1 ;;
esac
"#;

/// Gets almost everything wrong.
const BROKEN: &str = r#"
case "$1" in
  prepare) echo "hello" ;;
  status) echo '{"power_state":"running"}' ;;
  statuses) echo '{"status":"success"}' ;;
  stop) echo "cannot stop" >&2; exit 2 ;;
  start) sleep 1000 ;;
  getconsole) echo '{"console":{"host":"10.0.0.1"}}' ;;
  *) echo ok ;;
esac
"#;

#[tokio::test]
async fn scaffold_like_extension_passes() {
    let sandbox = Sandbox::new();
    let script = sandbox.script("scaffold.sh", SCAFFOLD);
    let mut options = CheckOptions::new(&script);
    options
        .host_details
        .insert("node".to_owned(), "pve1".to_owned());
    options.timeout = Duration::from_secs(20);
    let report = check_extension(&sandbox.runner, options).await;

    let summary: Vec<(&str, Verdict)> = report
        .actions
        .iter()
        .map(|check| (check.action.as_str(), check.verdict))
        .collect();
    assert_eq!(
        summary,
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
        "{}",
        report.render_text()
    );
    assert!(report.passed());
    assert_eq!(report.actions[0].note, "patch: nics, details");
    assert_eq!(report.actions[2].note, "poweron");
    assert_eq!(
        report.actions[3].note,
        "i-2-10-VM poweroff (1 instances reported)"
    );
    assert_eq!(report.actions[7].exit_code, Some(1));
    assert!(report.executable_state.sha512.is_some());

    let text = report.render_text();
    assert!(
        text.contains("PASSED: 8 pass, 0 warn, 1 unsupported, 0 fail"),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|line| line.starts_with("getconsole") && line.contains("unsupported")),
        "{text}"
    );
    let json: serde_json::Value = serde_json::from_str(&report.render_json()).unwrap();
    assert_eq!(json["passed"], true);
    assert_eq!(json["actions"].as_array().unwrap().len(), 9);
    assert_eq!(json["actions"][7]["result"], "unsupported");
}

#[tokio::test]
async fn broken_extension_fails_with_reasons() {
    let sandbox = Sandbox::with(|config| config.kill_grace = Duration::from_millis(200));
    let script = sandbox.script("broken.sh", BROKEN);
    let mut options = CheckOptions::new(&script);
    options.timeout = Duration::from_secs(1);
    let report = check_extension(&sandbox.runner, options).await;

    let verdict = |name: &str| {
        report
            .actions
            .iter()
            .find(|check| check.action == name)
            .unwrap()
            .clone()
    };
    assert_eq!(verdict("prepare").verdict, Verdict::Fail);
    assert!(verdict("prepare").note.contains("Failed to parse VM"));
    assert_eq!(verdict("create").verdict, Verdict::Pass);
    assert_eq!(verdict("status").verdict, Verdict::Warn);
    assert_eq!(verdict("statuses").verdict, Verdict::Fail);
    assert_eq!(verdict("stop").verdict, Verdict::Fail);
    assert_eq!(verdict("stop").exit_code, Some(2));
    assert_eq!(verdict("stop").note, "Exit code: 2, Output: cannot stop");
    assert_eq!(verdict("start").verdict, Verdict::Fail);
    assert_eq!(verdict("start").exit_code, None);
    assert!(verdict("start").note.starts_with("timed out after 1s"));
    assert_eq!(verdict("getconsole").verdict, Verdict::Fail);
    assert_eq!(
        verdict("getconsole").note,
        "Missing required fields in output"
    );
    assert!(!report.passed());
    let text = report.render_text();
    assert!(
        text.contains("FAILED: 3 pass, 1 warn, 0 unsupported, 5 fail"),
        "{text}"
    );
    let json: serde_json::Value = serde_json::from_str(&report.render_json()).unwrap();
    assert_eq!(json["passed"], false);
}

#[tokio::test]
async fn selected_and_custom_actions() {
    let sandbox = Sandbox::new();
    let script = sandbox.script("scaffold.sh", SCAFFOLD);
    let mut options = CheckOptions::new(&script);
    options
        .host_details
        .insert("node".to_owned(), "pve1".to_owned());
    options.actions = Some(vec!["CreateSnapshot".to_owned(), "status".to_owned()]);
    let report = check_extension(&sandbox.runner, options).await;
    let names: Vec<&str> = report
        .actions
        .iter()
        .map(|check| check.action.as_str())
        .collect();
    assert_eq!(names, ["status", "CreateSnapshot"]);
    assert_eq!(
        report.actions[1].verdict,
        Verdict::Fail,
        "the scaffold rejects unknown actions"
    );
    assert!(!report.passed());
}

#[tokio::test]
async fn missing_executable_fails_without_running_anything() {
    let sandbox = Sandbox::new();
    let report = check_extension(
        &sandbox.runner,
        CheckOptions::new(sandbox.path().join("nope.sh")),
    )
    .await;
    assert!(report.actions.is_empty());
    assert!(!report.passed());
    assert!(
        report.render_text().contains("Executable does not exist"),
        "{}",
        report.render_text()
    );
}

/// The minimal extension printed in the authoring guide passes the check.
#[tokio::test]
async fn the_guide_example_passes() {
    if !std::path::Path::new("/usr/bin/jq").exists() && !std::path::Path::new("/bin/jq").exists() {
        eprintln!("jq is not installed; skipping");
        return;
    }
    let guide_path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/extensions/authoring.md");
    let guide = std::fs::read_to_string(&guide_path).expect("read the authoring guide");
    let section = &guide[guide.find("## 8. A minimal extension").expect("section 8")..];
    let start = section.find("```bash\n").expect("bash block") + "```bash\n".len();
    let body = &section[start..];
    let body = &body[..body.find("```").expect("end of block")];
    let body = body.strip_prefix("#!/bin/bash\n").expect("shebang");

    let sandbox = Sandbox::new();
    let script = sandbox.script("minimal.sh", body);
    let report = check_extension(&sandbox.runner, CheckOptions::new(&script)).await;
    assert!(report.passed(), "{}", report.render_text());
    assert_eq!(
        report.count_of(Verdict::Unsupported),
        1,
        "{}",
        report.render_text()
    );
}
