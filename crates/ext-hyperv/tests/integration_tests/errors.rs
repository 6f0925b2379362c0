//! Failures and their exit codes: configuration, credentials, TLS, reachability, deadlines,
//! Hyper-V errors, and the rollback of a failed create.

use super::harness::*;
use std::time::{Duration, Instant};
use trellis_ext_protocol::exit;
use trellis_sim_hyperv::Fault;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_or_invalid_details_are_configuration_errors() {
    let harness = Harness::start().await;
    for key in ["url", "username", "password"] {
        let mut payload = harness.payload();
        remove_host_detail(&mut payload, key);
        let run = harness.run("status", &payload).await;
        run.assert_failure(exit::CONFIG);
        assert!(run.error().contains(&format!("'{key}'")), "{}", run.error());
    }
    let cases = [
        ("network_switch", None, "network_switch"),
        ("vhd_path", None, "vhd_path"),
        ("vhd_path", Some("relative\\dir"), "absolute windows path"),
        (
            "verify_tls_certificate",
            Some("perhaps"),
            "verify_tls_certificate",
        ),
    ];
    for (key, value, expected) in cases {
        let mut payload = harness.payload();
        match value {
            Some(value) => set_host_detail(&mut payload, key, value),
            None => remove_host_detail(&mut payload, key),
        }
        let run = harness.run("create", &payload).await;
        run.assert_failure(exit::CONFIG);
        assert!(run.error().contains(expected), "{key}: {}", run.error());
    }
    let vm_cases = [
        ("generation", "3", "generation"),
        ("template_path", "C:\\Templates\\disk.qcow2", ".vhdx"),
        ("template_type", "iso", "iso_path"),
    ];
    for (key, value, expected) in vm_cases {
        let mut payload = harness.payload();
        set_vm_detail(&mut payload, key, value);
        let run = harness.run("create", &payload).await;
        run.assert_failure(exit::CONFIG);
        assert!(run.error().contains(expected), "{key}: {}", run.error());
    }
    let mut payload = harness.payload();
    set_vm_detail(&mut payload, "template_type", "iso");
    set_vm_detail(&mut payload, "iso_path", ISO);
    set_vm_detail(&mut payload, "vhd_size_gb", "lots");
    harness
        .run("create", &payload)
        .await
        .assert_failure(exit::CONFIG);
    assert!(
        harness.sim.requests().is_empty(),
        "configuration errors are found before connecting"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invocation_errors_are_usage_errors() {
    let harness = Harness::start().await;
    let payload = harness.payload();
    let run = harness.run("migrate", &payload).await;
    run.assert_failure(exit::USAGE);
    assert!(run.error().contains("unknown action 'migrate'"));
    let mut nameless = harness.payload();
    nameless.vm = None;
    nameless.virtualmachinename = None;
    harness
        .run("start", &nameless)
        .await
        .assert_failure(exit::USAGE);
    let mut bad_mac = harness.payload();
    bad_mac.vm.as_mut().unwrap().nics[0].mac = Some("02:00".into());
    harness
        .run("create", &bad_mac)
        .await
        .assert_failure(exit::USAGE);
    let mut bad_vlan = harness.payload();
    bad_vlan.vm.as_mut().unwrap().nics[0].broadcast_uri = Some("vlan://5000".into());
    harness
        .run("create", &bad_vlan)
        .await
        .assert_failure(exit::USAGE);
    let mut vxlan = harness.payload();
    vxlan.vm.as_mut().unwrap().nics[0].broadcast_uri = Some("vxlan://5000".into());
    harness
        .run("create", &vxlan)
        .await
        .assert_failure(exit::USAGE);

    // Missing arguments and unreadable payloads.
    let binary = env!("CARGO_BIN_EXE_trellis-hyperv");
    let output = std::process::Command::new(binary)
        .arg("status")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(exit::USAGE));
    let reply: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(reply["status"], "error");
    let output = std::process::Command::new(binary)
        .args(["status", "/nonexistent/payload.json", "5"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(exit::USAGE));
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("p.json");
    std::fs::write(&garbage, "{not json").unwrap();
    let output = std::process::Command::new(binary)
        .arg("status")
        .arg(&garbage)
        .arg("5")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(exit::USAGE));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_and_certificates() {
    let harness = Harness::start().await;
    let mut payload = harness.payload();
    set_host_detail(&mut payload, "password", "wrong");
    let run = harness.run("status", &payload).await;
    run.assert_failure(exit::UNREACHABLE);
    assert!(
        run.error().contains("authentication failed"),
        "{}",
        run.error()
    );
    assert!(
        !run.stdout.contains("wrong"),
        "the password never appears in the output"
    );

    // Verification is on by default: without the CA the self-signed listener is refused.
    let mut payload = harness.payload();
    remove_host_detail(&mut payload, "ca_certificate");
    let run = harness.run("status", &payload).await;
    run.assert_failure(exit::UNREACHABLE);
    assert!(run.error().contains("tls handshake"), "{}", run.error());
    set_host_detail(&mut payload, "verify_tls_certificate", "false");
    harness.run("create", &payload).await.assert_success();
    set_host_detail(&mut payload, "verify_tls_certificate", "TRUE");
    set_host_detail(
        &mut payload,
        "ca_certificate",
        "-----BEGIN CERTIFICATE-----\ngarbage\n-----END CERTIFICATE-----\n",
    );
    harness
        .run("status", &payload)
        .await
        .assert_failure(exit::CONFIG);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_hosts() {
    let harness = Harness::start().await;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let mut payload = harness.payload();
    set_host_detail(
        &mut payload,
        "url",
        &format!("https://127.0.0.1:{port}/wsman"),
    );
    let run = harness.run("status", &payload).await;
    run.assert_failure(exit::UNREACHABLE);
    assert!(run.error().contains("could not connect"), "{}", run.error());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_host_hits_the_deadline() {
    let harness = Harness::start().await;
    let payload = harness.payload();
    harness.sim.inject(Fault::HangCommands(1));
    let started = Instant::now();
    // A 5 s timeout leaves 2 s after the safety margin.
    let run = harness.run_with_timeout("status", &payload, "5").await;
    run.assert_failure(exit::TIMED_OUT);
    assert!(started.elapsed() < Duration::from_secs(20));
    assert!(harness.sim.requests().iter().any(|r| r
        .signal
        .as_deref()
        .is_some_and(|s| s.ends_with("terminate"))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receive_timeouts_are_ridden_out() {
    let harness = Harness::start().await;
    let payload = harness.payload();
    harness.sim.inject(Fault::ReceiveTimeouts(4));
    harness.run("create", &payload).await.assert_success();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hyper_v_errors_are_reported_readably() {
    let harness = Harness::start().await;
    let payload = harness.payload();
    let run = harness.run("start", &payload).await;
    run.assert_failure(exit::FAILED);
    assert_eq!(
        run.error(),
        format!(
            "Get-VM : Hyper-V was unable to find a virtual machine with name \"{}\".",
            vm_name()
        )
    );
    // Status of a missing instance is unknown, not a failure.
    let run = harness.run("status", &payload).await;
    run.assert_success();
    assert_eq!(run.json["power_state"], "unknown");
    assert!(run.json["message"]
        .as_str()
        .unwrap()
        .contains("was not found"));
    // Stop of a missing instance counts as stopped.
    harness.run("stop", &payload).await.assert_success();

    let mut payload = harness.payload();
    set_host_detail(&mut payload, "network_switch", "NoSuchSwitch");
    let run = harness.run("create", &payload).await;
    run.assert_failure(exit::FAILED);
    assert!(
        run.error()
            .contains("unable to find a virtual switch with name \"NoSuchSwitch\""),
        "{}",
        run.error()
    );
    assert!(harness.vm().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_create_leaves_nothing_behind() {
    let harness = Harness::start().await;
    let payload = harness.payload();
    let vhd = format!("{VHD_DIR}\\{}.vhdx", vm_name());
    harness.sim.inject(Fault::FailCmdlet {
        cmdlet: "Start-VM".into(),
        message: "The virtual machine could not be started because the hypervisor is not running."
            .into(),
    });
    let run = harness.run("create", &payload).await;
    run.assert_failure(exit::FAILED);
    assert!(
        run.error()
            .starts_with("Start-VM : The virtual machine could not be started"),
        "{}",
        run.error()
    );
    assert!(
        run.error()
            .contains("the partly created instance was removed"),
        "{}",
        run.error()
    );
    assert!(harness.vm().is_none());
    assert!(!harness.file_exists(&vhd));
    assert!(!harness.directory_exists(&format!("{VM_DIR}\\{}", vm_name())));

    // A template that is not there: nothing is created at all.
    let mut payload = harness.payload();
    set_vm_detail(&mut payload, "template_path", "C:\\Templates\\missing.vhdx");
    let run = harness.run("create", &payload).await;
    run.assert_failure(exit::FAILED);
    assert!(
        run.error()
            .contains("Cannot find path 'C:\\Templates\\missing.vhdx' because it does not exist."),
        "{}",
        run.error()
    );
    assert!(harness.vm().is_none());

    // After the failures, a clean create works.
    harness
        .run("create", &harness.payload())
        .await
        .assert_success();
}
