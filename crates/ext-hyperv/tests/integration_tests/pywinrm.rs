//! Compatibility with the client upstream's Hyper-V extension uses: Python's `pywinrm` (NTLM
//! over HTTPS, channel binding, CLIXML clean-up) against the simulator. Skipped, with a
//! message, when `python3` or `pywinrm` is not installed.

use super::harness::*;
use std::process::Command;

const CLIENT: &str = r#"
import json, sys, winrm
url, user, password = sys.argv[1], sys.argv[2], sys.argv[3]
session = winrm.Session(url, auth=(user, password), transport="ntlm", server_cert_validation="ignore")
ok = session.run_ps("Get-VMSwitch | Select-Object Name | ConvertTo-Json -Compress")
failed = session.run_ps("Start-VM -Name 'missing'")
cmd = session.run_cmd("echo", ["compatible"])
try:
    winrm.Session(url, auth=(user, password + "x"), transport="ntlm", server_cert_validation="ignore").run_ps("'x'")
    rejected = False
except winrm.exceptions.InvalidCredentialsError:
    rejected = True
print(json.dumps({
    "rejected": rejected,
    "ok_code": ok.status_code, "ok_out": ok.std_out.decode(),
    "failed_code": failed.status_code, "failed_err": failed.std_err.decode(),
    "cmd_out": cmd.std_out.decode(),
}))
"#;

fn pywinrm_available() -> bool {
    Command::new("python3")
        .args(["-c", "import winrm"])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pywinrm_talks_to_the_simulator() {
    if !pywinrm_available() {
        eprintln!("skipping pywinrm_talks_to_the_simulator: python3 with pywinrm is not installed (pip install pywinrm)");
        return;
    }
    let harness = Harness::start().await;
    let (url, user, password) = (
        harness.sim.url(),
        harness.sim.user().to_string(),
        harness.sim.password().to_string(),
    );
    let output = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .args(["-c", CLIENT, &url, &user, &password])
            .output()
    })
    .await
    .expect("runner task")
    .expect("python runs");
    assert!(
        output.status.success(),
        "pywinrm failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let result: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("json from the python client");
    assert_eq!(result["ok_code"], 0);
    assert_eq!(
        result["ok_out"].as_str().unwrap().trim(),
        r#"[{"Name":"Default Switch"},{"Name":"External"}]"#
    );
    assert_eq!(result["failed_code"], 1);
    assert!(
        result["failed_err"]
            .as_str()
            .unwrap()
            .contains("Hyper-V was unable to find a virtual machine with name \"missing\""),
        "{result}"
    );
    assert_eq!(result["cmd_out"].as_str().unwrap().trim(), "compatible");
    assert_eq!(result["rejected"], true, "a wrong password is refused");
    assert!(harness.sim.authentications() >= 1);
    let failures = harness.sim.auth_failures();
    assert!(
        failures.len() == 1 && failures[0].contains("wrong password"),
        "{failures:?}"
    );
}
