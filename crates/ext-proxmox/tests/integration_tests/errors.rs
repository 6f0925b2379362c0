//! Failures: bad invocations, missing or wrong details, TLS verification, refused tokens,
//! failed tasks (with Proxmox's own text), timeouts, and the cleanup of a half-created VM.

use super::harness::{run_raw, set_host_detail, set_vm_detail, Harness};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use trellis_ext_protocol::exit;
use trellis_sim_proxmox::{PowerStatus, Vm, TEMPLATE_VMID};

#[test]
fn bad_invocations_are_usage_errors() {
    run_raw(&[]).assert_failure(exit::USAGE, "usage");
    run_raw(&["status"]).assert_failure(exit::USAGE, "usage");
    let missing = run_raw(&["status", "/nonexistent/payload.json", "10"]);
    missing.assert_failure(exit::USAGE, "usage");
    assert!(
        missing.error().contains("cannot read the payload file"),
        "{}",
        missing.error()
    );

    let directory = tempfile::tempdir().unwrap();
    let broken = directory.path().join("broken.json");
    std::fs::write(&broken, "{not json").unwrap();
    let invalid = run_raw(&["status", broken.to_str().unwrap(), "10"]);
    invalid.assert_failure(exit::USAGE, "usage");
    assert!(invalid.error().contains("not a valid payload"));

    let unknown = run_raw(&["migrate", broken.to_str().unwrap(), "10"]);
    unknown.assert_failure(exit::UNSUPPORTED, "unsupported");
    assert_eq!(unknown.error(), "unsupported action 'migrate'");
}

#[test]
fn missing_details_are_config_errors() {
    let harness = Harness::start();
    let mut payload = harness.payload("cfg");
    let host = payload
        .externaldetails
        .as_mut()
        .unwrap()
        .host
        .as_mut()
        .unwrap();
    host.remove("secret");
    host.remove("node");
    let outcome = harness.run("status", &payload);
    outcome.assert_failure(exit::CONFIG, "config");
    assert_eq!(
        outcome.error(),
        "missing required details: secret, node (set them on the host or the extension)"
    );

    let mut no_bridge = harness.payload("cfg");
    no_bridge
        .externaldetails
        .as_mut()
        .unwrap()
        .host
        .as_mut()
        .unwrap()
        .remove("network_bridge");
    let outcome = harness.run("create", &no_bridge);
    outcome.assert_failure(exit::CONFIG, "config");
    assert!(outcome.error().contains("network_bridge"));

    let mut no_template = harness.payload("cfg");
    no_template.externaldetails.as_mut().unwrap().virtualmachine = None;
    harness
        .run("create", &no_template)
        .assert_failure(exit::CONFIG, "config");

    let mut bad_url = harness.payload("cfg");
    set_host_detail(&mut bad_url, "url", "ftp://pve");
    harness
        .run("status", &bad_url)
        .assert_failure(exit::CONFIG, "config");
    assert!(harness.sim.requests().is_empty(), "nothing reaches proxmox");
}

#[test]
fn names_proxmox_would_refuse_are_rejected_up_front() {
    let harness = Harness::start();
    let mut payload = harness.payload("cfg");
    set_vm_detail(&mut payload, "vm_name", "web_01");
    for action in ["prepare", "create", "status"] {
        let outcome = harness.run(action, &payload);
        outcome.assert_failure(exit::CONFIG, "config");
        assert!(
            outcome.error().contains("invalid vm name 'web_01'"),
            "{}",
            outcome.error()
        );
    }
    assert!(harness.sim.requests().is_empty());

    // A valid custom name is used as the Proxmox name.
    set_vm_detail(&mut payload, "vm_name", "web-01.example.org");
    harness.run("create", &payload).assert_success();
    assert_eq!(
        harness.vm_named("web-01.example.org").status,
        PowerStatus::Running
    );
}

#[test]
fn tls_verification_is_on_unless_disabled() {
    let harness = Harness::start();
    let mut payload = harness.payload("tls");
    set_host_detail(&mut payload, "verify_tls_certificate", "true");
    let outcome = harness.run("status", &payload);
    outcome.assert_failure(exit::UNREACHABLE, "unreachable");
    assert!(
        outcome.error().contains("cannot reach proxmox"),
        "{}",
        outcome.error()
    );
    assert!(
        outcome.error().to_ascii_lowercase().contains("certificate"),
        "{}",
        outcome.error()
    );

    payload
        .externaldetails
        .as_mut()
        .unwrap()
        .host
        .as_mut()
        .unwrap()
        .remove("verify_tls_certificate");
    harness
        .run("status", &payload)
        .assert_failure(exit::UNREACHABLE, "unreachable");

    set_host_detail(&mut payload, "verify_tls_certificate", "false");
    harness.run("status", &payload).assert_success();
}

#[test]
fn a_refused_token_is_reported_clearly() {
    let harness = Harness::start();
    let mut payload = harness.payload("auth");
    set_host_detail(&mut payload, "secret", "not-the-secret");
    let outcome = harness.run("create", &payload);
    outcome.assert_failure(exit::UNREACHABLE, "unauthorized");
    assert_eq!(outcome.json["http_status"], 401);
    assert!(
        outcome
            .error()
            .contains("proxmox refused the api token root@pam!trellis"),
        "{}",
        outcome.error()
    );
    assert!(
        !outcome.error().contains("not-the-secret"),
        "secrets never appear in messages"
    );
    assert!(harness.sim.vms_named("auth").is_empty());
}

#[test]
fn an_unreachable_proxmox_is_reported() {
    let harness = Harness::start();
    let mut payload = harness.payload("down");
    let closed_port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    set_host_detail(
        &mut payload,
        "url",
        &format!("https://127.0.0.1:{closed_port}"),
    );
    let outcome = harness.run("status", &payload);
    outcome.assert_failure(exit::UNREACHABLE, "unreachable");
    assert!(outcome.error().contains(&format!(
        "cannot reach proxmox at https://127.0.0.1:{closed_port}/api2/json"
    )));
}

#[test]
fn a_failed_task_reports_proxmox_text_and_leaves_nothing_behind() {
    let harness = Harness::start();
    let payload = harness.payload("doomed");
    harness.sim.fail_next_tasks(
        1,
        "clone failed: unable to create image: out of space on 'local-lvm'",
    );
    let outcome = harness.run("create", &payload);
    outcome.assert_failure(exit::FAILED, "task_failed");
    assert_eq!(
        outcome.json["exitstatus"],
        "clone failed: unable to create image: out of space on 'local-lvm'"
    );
    assert!(outcome.json["upid"]
        .as_str()
        .unwrap()
        .contains(":qmclone:9000:"));
    assert!(
        outcome
            .error()
            .contains("cannot make a linked clone of template 9000: proxmox task UPID:"),
        "{}",
        outcome.error()
    );
    assert!(outcome
        .error()
        .ends_with("failed: clone failed: unable to create image: out of space on 'local-lvm'"));
    assert!(harness.sim.vms_named("doomed").is_empty());
    assert_eq!(harness.sim.vms().len(), 1, "only the template is left");

    // The next attempt works.
    harness.run("create", &payload).assert_success();
}

#[test]
fn a_failed_start_removes_the_half_created_vm() {
    let harness = Harness::start();
    let mut payload = harness.payload("half");
    set_host_detail(&mut payload, "network_bridge", "vmbr9");
    let outcome = harness.run("create", &payload);
    outcome.assert_failure(exit::FAILED, "task_failed");
    assert_eq!(outcome.json["exitstatus"], "bridge 'vmbr9' does not exist");
    assert!(
        outcome
            .error()
            .contains("(the half-created vm was removed)"),
        "{}",
        outcome.error()
    );
    assert!(
        outcome.error().contains("cannot start vm 100"),
        "{}",
        outcome.error()
    );
    assert!(harness.sim.vms_named("half").is_empty());
    let kinds: Vec<String> = harness
        .sim
        .tasks()
        .into_iter()
        .map(|task| task.kind)
        .collect();
    assert_eq!(kinds, ["qmclone", "qmconfig", "qmstart", "qmdestroy"]);
}

#[test]
fn a_failed_configuration_step_removes_the_clone_too() {
    let harness = Harness::start();
    let payload = harness.payload("half-config");
    harness.sim.fail_next_tasks_of_type(
        "qmconfig",
        1,
        "unable to apply pending change memory: out of memory",
    );
    let outcome = harness.run("create", &payload);
    outcome.assert_failure(exit::FAILED, "task_failed");
    assert!(outcome.error().contains("cannot set cpus, memory and nics"));
    assert!(outcome
        .error()
        .ends_with("unable to apply pending change memory: out of memory"));
    assert!(harness.sim.vms_named("half-config").is_empty());
}

#[test]
fn a_failed_cleanup_is_reported_with_the_original_error() {
    let harness = Harness::start();
    let payload = harness.payload("sticky");
    harness
        .sim
        .fail_next_tasks_of_type("qmstart", 1, "start failed: QEMU exited with code 1");
    harness.sim.fail_next_tasks_of_type(
        "qmdestroy",
        1,
        "error with cfs lock 'storage-local-lvm': got lock timeout",
    );
    let outcome = harness.run("create", &payload);
    outcome.assert_failure(exit::FAILED, "task_failed");
    assert_eq!(
        outcome.json["exitstatus"],
        "start failed: QEMU exited with code 1"
    );
    assert!(
        outcome
            .error()
            .contains("removing the half-created vm failed too"),
        "{}",
        outcome.error()
    );
    assert!(outcome.error().contains("got lock timeout"));
    assert_eq!(
        harness.sim.vms_named("sticky").len(),
        1,
        "the vm is left behind, as reported"
    );
}

#[test]
fn creating_again_resumes_instead_of_duplicating() {
    let harness = Harness::start();
    let payload = harness.payload("twice");
    harness.run("create", &payload).assert_success();
    let again = harness.run("create", &payload);
    again.assert_success();
    assert_eq!(again.json["message"], "Instance already created");
    assert_eq!(harness.sim.vms_named("twice").len(), 1);

    // A stopped leftover of this instance is configured and started.
    let vmid = harness.vm_named("twice").vmid;
    harness.sim.set_power(vmid, PowerStatus::Stopped);
    let resumed = harness.run("create", &payload);
    resumed.assert_success();
    assert_eq!(resumed.json["proxmox_vmid"], vmid.to_string());
    assert_eq!(harness.vm_named("twice").status, PowerStatus::Running);
}

#[test]
fn a_foreign_vm_with_the_same_name_is_not_adopted() {
    let harness = Harness::start();
    let mut foreign = Vm::new(300, "pve1");
    foreign.config.insert("name".into(), "taken".into());
    foreign
        .config
        .insert("description".into(), "hand-made".into());
    harness.sim.insert_vm(foreign);
    let outcome = harness.run("create", &harness.payload("taken"));
    outcome.assert_failure(exit::FAILED, "failed");
    assert!(
        outcome.error().contains("a vm named 'taken' already exists on node pve1 (vmid 300) and was not created for this instance"),
        "{}",
        outcome.error()
    );
    assert_eq!(
        harness.sim.vm(300).unwrap().status,
        PowerStatus::Stopped,
        "left alone"
    );
    assert_eq!(harness.sim.vms().len(), 2);
}

#[test]
fn create_waits_for_a_vm_still_locked_by_an_earlier_attempt() {
    let harness = std::sync::Arc::new(Harness::start());
    let payload = harness.payload("locked");
    let mut pending = Vm::new(100, "pve1");
    pending.lock = Some("clone".into());
    pending.config.insert("name".into(), "locked".into());
    pending
        .config
        .insert("description".into(), "instance locked (uuid-locked)".into());
    pending.config.insert(
        "net0".into(),
        "virtio=BC:24:11:00:00:09,bridge=vmbr0".into(),
    );
    pending.config.insert(
        "net1".into(),
        "virtio=BC:24:11:00:00:0A,bridge=vmbr0".into(),
    );
    harness.sim.insert_vm(pending.clone());
    harness.sim.clear_requests();

    let worker = std::thread::spawn({
        let harness = harness.clone();
        let payload = payload.clone();
        move || harness.run("create", &payload)
    });
    let config_reads = || {
        harness
            .sim
            .requests()
            .iter()
            .filter(|request| request.path == "/nodes/pve1/qemu/100/config")
            .count()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while config_reads() < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "create never looked at the locked vm"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    pending.lock = None;
    harness.sim.insert_vm(pending);
    let outcome = worker.join().unwrap();
    outcome.assert_success();
    let vm = harness.sim.vm(100).unwrap();
    assert_eq!(vm.status, PowerStatus::Running);
    assert!(
        !vm.config.contains_key("net1"),
        "nics the instance does not have are removed"
    );
    assert!(vm.config["net0"].contains("tag=100"));
}

#[test]
fn proxmox_errors_keep_their_text() {
    let harness = Harness::start();
    let (created, payload) = harness.deploy("err");
    created.assert_success();
    harness.run("stop", &payload).assert_success();
    let reboot = harness.run("reboot", &payload);
    reboot.assert_failure(exit::FAILED, "task_failed");
    assert_eq!(reboot.json["exitstatus"], "VM 100 not running");

    let console = harness.run("getconsole", &payload);
    console.assert_failure(exit::FAILED, "api");
    assert_eq!(console.json["http_status"], 500);
    assert!(
        console
            .error()
            .ends_with("with http 500: VM 100 not running"),
        "{}",
        console.error()
    );

    let missing = harness.payload("nobody");
    let start = harness.run("start", &missing);
    start.assert_failure(exit::FAILED, "not_found");
    assert_eq!(start.error(), "no vm named 'nobody' on node pve1");

    harness
        .sim
        .fail_next_requests(1, "cluster not ready - no quorum?");
    let outcome = harness.run("prepare", &payload);
    outcome.assert_failure(exit::FAILED, "api");
    assert!(
        outcome.error().ends_with("no quorum?"),
        "{}",
        outcome.error()
    );
}

fn epoch_in(seconds: u64) -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + seconds
}

#[test]
fn a_task_outliving_the_timeout_argument_is_reported_before_the_kill() {
    let harness = Harness::start();
    let payload = harness.payload("slow");
    harness.sim.hold_tasks(true);
    let outcome = harness.run_with("create", &payload, "6", None);
    outcome.assert_failure(exit::TIMED_OUT, "timed_out");
    assert!(
        outcome.elapsed < Duration::from_secs(6),
        "answered before the caller's timeout: {:?}",
        outcome.elapsed
    );
    assert!(
        outcome
            .error()
            .contains("timed out waiting for proxmox task UPID:pve1:"),
        "{}",
        outcome.error()
    );
    assert!(
        outcome.error().contains("it may appear later"),
        "{}",
        outcome.error()
    );

    // Once the clone completes in the background, a retried create picks it up.
    harness.sim.hold_tasks(false);
    harness.sim.finish_tasks();
    let vm = harness.vm_named("slow");
    assert_eq!(vm.status, PowerStatus::Stopped);
    let resumed = harness.run("create", &payload);
    resumed.assert_success();
    assert_eq!(resumed.json["proxmox_vmid"], vm.vmid.to_string());
    let vm = harness.vm_named("slow");
    assert_eq!(
        (vm.status, vm.cpus(), vm.memory_mib()),
        (PowerStatus::Running, 2, 1024)
    );
    harness.run("delete", &payload).assert_success();
    assert!(harness.sim.vms_named("slow").is_empty());
}

#[test]
fn the_deadline_variable_is_honoured() {
    let harness = Harness::start();
    let (created, payload) = harness.deploy("deadline");
    created.assert_success();
    harness.sim.hold_tasks(true);
    let outcome = harness.run_with("stop", &payload, "600", Some(epoch_in(2)));
    outcome.assert_failure(exit::TIMED_OUT, "timed_out");
    assert!(
        outcome.elapsed < Duration::from_secs(3),
        "{:?}",
        outcome.elapsed
    );
    assert_eq!(outcome.json["kind"], "timed_out");
}

#[test]
fn an_unresponsive_proxmox_times_out() {
    let harness = Harness::start();
    let payload = harness.payload("hung");
    harness.sim.faults().set_unresponsive(true);
    let outcome = harness.run_with("status", &payload, "600", Some(epoch_in(2)));
    harness.sim.faults().set_unresponsive(false);
    outcome.assert_failure(exit::TIMED_OUT, "timed_out");
    assert!(
        outcome
            .error()
            .contains("waiting for proxmox to answer GET"),
        "{}",
        outcome.error()
    );
    assert!(
        outcome.elapsed < Duration::from_secs(4),
        "{:?}",
        outcome.elapsed
    );
}

#[test]
fn linked_clones_of_a_missing_template_fail_with_proxmox_text() {
    let harness = Harness::start();
    let mut payload = harness.payload("orphan");
    set_vm_detail(&mut payload, "template_id", "9999");
    let outcome = harness.run("create", &payload);
    outcome.assert_failure(exit::FAILED, "api");
    assert!(
        outcome
            .error()
            .ends_with("Configuration file 'nodes/pve1/qemu-server/9999.conf' does not exist"),
        "{}",
        outcome.error()
    );
    assert!(harness.sim.vm(TEMPLATE_VMID).is_some());
}
