//! Failures are clear and carry the documented exit codes.

use super::harness::{binary, new_uuid, payload, Harness};
use crate::require_qemu;
use serde_json::json;
use trellis_ext_local::machine::find_qemu_of;

#[test]
fn missing_qemu_names_the_debian_package() {
    let harness = Harness::new();
    let vm = payload("i-4-1-VM", &new_uuid());
    let outcome = harness.run_with("create", &vm, &[("PATH", "/nonexistent")]);
    assert_eq!(outcome.code, 3, "{outcome:?}");
    assert_eq!(outcome.stdout["kind"], "program_missing");
    assert!(
        outcome.error().contains("qemu-img was not found")
            || outcome.error().contains("qemu-system-x86_64 was not found"),
        "{outcome:?}"
    );
    assert!(outcome.error().contains("apt-get install"), "{outcome:?}");
    assert!(!harness.machine("i-4-1-VM").dir.join("vm.json").exists());
}

#[test]
fn missing_qemu_system_is_reported_even_with_qemu_img_present() {
    let harness = Harness::new();
    let mut vm = payload("i-4-2-VM", &new_uuid());
    // qemu-img is a plain executable here; qemu-system-x86_64 names a file that does not exist.
    let fake_img = harness.root.path().join("qemu-img");
    std::fs::write(&fake_img, "#!/bin/sh\nexit 0\n").unwrap();
    std::fs::set_permissions(
        &fake_img,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    vm["externaldetails"]["extension"]["qemu_img_binary"] = fake_img.to_str().unwrap().into();
    let outcome = harness.run_with("create", &vm, &[("PATH", "/nonexistent")]);
    assert_eq!(outcome.code, 3, "{outcome:?}");
    assert!(
        outcome.error().contains(
            "qemu-system-x86_64 was not found on PATH (/nonexistent); install the Debian package qemu-system-x86"
        ),
        "{outcome:?}"
    );
}

#[test]
fn a_missing_image_is_a_configuration_error() {
    require_qemu!();
    let harness = Harness::new();
    let mut vm = payload("i-4-3-VM", &new_uuid());
    vm["externaldetails"]["virtualmachine"] = json!({"image": "nowhere.qcow2"});
    let outcome = harness.run("create", &vm);
    assert_eq!(outcome.code, 3, "{outcome:?}");
    assert_eq!(outcome.stdout["kind"], "image_missing");
    assert!(outcome.error().contains("nowhere.qcow2 does not exist"));
    let outside = harness.root.path().join("outside.qcow2");
    std::fs::write(&outside, b"").unwrap();
    vm["externaldetails"]["virtualmachine"] = json!({"image": outside.to_str().unwrap()});
    let refused = harness.run("create", &vm);
    assert_eq!(refused.code, 3, "{refused:?}");
    assert!(refused.error().contains("outside the image directories"));
}

#[test]
fn asking_for_more_memory_than_the_machine_has_fails_before_anything_runs() {
    require_qemu!();
    let harness = Harness::new();
    let uuid = new_uuid();
    let mut vm = payload("i-4-4-VM", &uuid);
    vm["cloudstack.vm.details"]["minRam"] = json!(4u64 << 40);
    let outcome = harness.run("create", &vm);
    assert_eq!(outcome.code, 1, "{outcome:?}");
    assert_eq!(outcome.stdout["kind"], "insufficient_capacity");
    assert!(outcome.error().contains("MiB of memory but only"));
    assert_eq!(find_qemu_of(&uuid), None);
    assert!(
        !harness.machine("i-4-4-VM").dir.exists(),
        "nothing left behind"
    );
}

#[test]
fn actions_on_unknown_or_stopped_vms() {
    require_qemu!();
    let harness = Harness::new();
    let uuid = new_uuid();
    let vm = payload("i-4-5-VM", &uuid);
    for action in ["start", "reboot"] {
        let outcome = harness.run(action, &vm);
        assert_eq!(outcome.code, 1, "{action}: {outcome:?}");
        assert_eq!(outcome.stdout["kind"], "not_found");
    }
    assert_eq!(
        harness.run("stop", &vm).code,
        0,
        "stopping nothing succeeds"
    );
    harness.run("create", &vm).ok();
    harness.run("stop", &vm).ok();
    let reboot = harness.run("reboot", &vm);
    assert_eq!(reboot.code, 1);
    assert_eq!(reboot.stdout["kind"], "not_running");
    let console = harness.run("getconsole", &vm);
    assert_eq!(console.code, 1);
    // another instance with the same name is refused
    let impostor = payload("i-4-5-VM", &new_uuid());
    let refused = harness.run("start", &impostor);
    assert_eq!(refused.code, 1);
    assert!(
        refused.error().contains("belongs to instance"),
        "{refused:?}"
    );
    harness.run("delete", &vm).ok();
}

#[test]
fn usage_errors() {
    let harness = Harness::new();
    let unknown = harness.run("Migrate", &payload("i-4-6-VM", &new_uuid()));
    assert_eq!(unknown.code, 6);
    assert_eq!(unknown.stdout["kind"], "unsupported");
    let bad_name = harness.run("status", &json!({"virtualmachinename": "../../etc"}));
    assert_eq!(bad_name.code, 2);
    let output = std::process::Command::new(binary())
        .arg("status")
        .arg(harness.root.path().join("missing.json"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let reply: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(reply["error"]
        .as_str()
        .unwrap()
        .starts_with("cannot read the payload file"));
    let bare = std::process::Command::new(binary()).output().unwrap();
    assert_eq!(bare.status.code(), Some(2));
    let prepare = harness
        .run("prepare", &payload("i-4-6-VM", &new_uuid()))
        .ok();
    assert_eq!(prepare, json!({}));
}
