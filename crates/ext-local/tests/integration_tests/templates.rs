//! `createtemplate` against real QEMU and `qemu-img`: a stopped VM's disk, flattened onto its base
//! image, becomes a new base image, and an instance deployed with the reply's details boots from
//! it; refusals, and the deadline, leave no file behind.

use super::harness::{new_uuid, payload, with_parameters, Harness};
use crate::require_qemu;
use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;
use trellis_ext_local::machine;

/// A light VM (TCG, isolated network) on the base image `image`.
fn on_image(name: &str, uuid: &str, image: &str) -> Value {
    let mut vm = payload(name, uuid);
    vm["externaldetails"]["host"] = json!({"accel": "tcg", "network": "isolated"});
    vm["externaldetails"]["virtualmachine"] = json!({"image": image});
    vm
}

fn capture(vm: &Value, template_id: &str) -> Value {
    with_parameters(
        vm.clone(),
        json!({"templateid": template_id, "templatename": "captured"}),
    )
}

fn qemu_img_info(path: &Path) -> Value {
    let output = Command::new("qemu-img")
        .args(["info", "-U", "--output=json"])
        .arg(path)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    serde_json::from_slice(&output.stdout).unwrap()
}

/// Files in `directory` whose name contains `part`.
fn files_containing(directory: &Path, part: &str) -> Vec<String> {
    std::fs::read_dir(directory)
        .unwrap()
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| name.contains(part))
        .collect()
}

#[test]
fn a_stopped_vm_becomes_a_template_new_instances_boot_from() {
    require_qemu!();
    let harness = Harness::new();
    let images = harness.state_dir.join("images");
    std::fs::create_dir_all(&images).unwrap();
    // A raw base image with a pattern, so the capture's content can be compared.
    let pattern: Vec<u8> = (0..(4u32 << 20)).map(|i| (i % 253) as u8).collect();
    std::fs::write(images.join("base.raw"), &pattern).unwrap();
    let uuid = new_uuid();
    let name = "i-6-1-VM";
    let vm = on_image(name, &uuid, "base.raw");
    harness.run("create", &vm).ok();
    let template_id = new_uuid();

    let refused = harness.run("createtemplate", &capture(&vm, &template_id));
    assert_eq!(refused.code, 1, "{refused:?}");
    assert_eq!(refused.stdout["kind"], "running");
    assert!(refused.error().contains("is running"), "{refused:?}");
    assert!(files_containing(&images, &template_id).is_empty());

    harness.run("stop", &vm).ok();
    // Data of the VM's own, in its overlay, must reach the capture too.
    let disk = harness.machine(name).path(machine::DISK_FILE);
    let written = Command::new("qemu-io")
        .args(["-f", "qcow2", "-c", "write -P 0x5a 1M 64k"])
        .arg(&disk)
        .output()
        .unwrap();
    assert!(written.status.success(), "{written:?}");

    let captured = harness
        .run("createtemplate", &capture(&vm, &template_id))
        .ok();
    let file_name = format!("template-{template_id}.qcow2");
    assert_eq!(captured["status"], "success");
    assert_eq!(captured["details"], json!({"image": file_name}));
    assert_eq!(captured["size"], pattern.len() as u64);
    let template = images.join(&file_name);
    let info = qemu_img_info(&template);
    assert_eq!(info["format"], "qcow2");
    assert!(info.get("backing-filename").is_none(), "flattened: {info}");
    assert_eq!(
        files_containing(&images, &template_id),
        std::slice::from_ref(&file_name),
        "no partial file"
    );
    // The capture holds the base image with the VM's write on top.
    let mut expected = pattern.clone();
    expected[1 << 20..(1 << 20) + (64 << 10)].fill(0x5a);
    let raw = harness.root.path().join("captured.raw");
    let converted = Command::new("qemu-img")
        .args(["convert", "-O", "raw"])
        .arg(&template)
        .arg(&raw)
        .status()
        .unwrap();
    assert!(converted.success());
    assert!(std::fs::read(&raw).unwrap() == expected, "content differs");

    let again = harness.run("createtemplate", &capture(&vm, &template_id));
    assert_eq!(again.code, 1, "{again:?}");
    assert_eq!(again.stdout["kind"], "already_exists");

    // An instance deployed from the new template: its details are the reply's.
    let copy_uuid = new_uuid();
    let copy_name = "i-6-2-VM";
    let mut copy = payload(copy_name, &copy_uuid);
    copy["externaldetails"]["host"] = json!({"accel": "tcg", "network": "isolated"});
    copy["externaldetails"]["virtualmachine"] = captured["details"].clone();
    harness.run("create", &copy).ok();
    let copy_info = qemu_img_info(&harness.machine(copy_name).path(machine::DISK_FILE));
    assert_eq!(
        copy_info["backing-filename"],
        template.canonicalize().unwrap().to_str().unwrap()
    );
    harness.run("delete", &copy).ok();
    harness.run("delete", &vm).ok();
    assert!(template.is_file(), "the template outlives its source vm");
}

#[test]
fn createtemplate_refuses_unknown_vms_and_missing_parameters() {
    require_qemu!();
    let harness = Harness::new();
    let vm = payload("i-6-3-VM", &new_uuid());
    let unknown = harness.run("createtemplate", &capture(&vm, &new_uuid()));
    assert_eq!(unknown.code, 1, "{unknown:?}");
    assert_eq!(unknown.stdout["kind"], "not_found");
    let unnamed = harness.run("createtemplate", &vm);
    assert_eq!(unnamed.code, 2, "{unnamed:?}");
    assert!(unnamed.error().contains("templateid"));
    let bad = harness.run("createtemplate", &capture(&vm, "../../etc/passwd"));
    assert_eq!(bad.code, 2, "{bad:?}");
}

#[test]
fn a_capture_cut_off_by_the_deadline_leaves_no_file() {
    require_qemu!();
    let harness = Harness::new();
    let uuid = new_uuid();
    let name = "i-6-4-VM";
    let mut vm = payload(name, &uuid);
    vm["externaldetails"]["host"] = json!({"accel": "tcg", "network": "isolated"});
    harness.run("create", &vm).ok();
    harness.run("stop", &vm).ok();
    // A qemu-img whose convert starts writing its output and never finishes.
    let real = trellis_ext_local::settings::find_program(
        "qemu-img",
        &std::env::var("PATH").unwrap_or_default(),
    )
    .unwrap();
    let slow = harness.root.path().join("qemu-img-slow-convert");
    std::fs::write(
        &slow,
        format!(
            "#!/bin/sh\nif [ \"$1\" = convert ]; then for last; do :; done; : > \"$last\"; exec sleep 60; fi\nexec {} \"$@\"\n",
            real.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&slow, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    vm["externaldetails"]["host"]["qemu_img_binary"] = slow.to_str().unwrap().into();
    let template_id = new_uuid();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let deadline = (now + 3).to_string();
    let started = std::time::Instant::now();
    let outcome = harness.run_with(
        "createtemplate",
        &capture(&vm, &template_id),
        &[
            ("PATH", &std::env::var("PATH").unwrap_or_default()),
            ("TRELLIS_DEADLINE", &deadline),
        ],
    );
    assert_eq!(outcome.code, 5, "{outcome:?}");
    assert_eq!(outcome.stdout["kind"], "timed_out");
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
    let images = harness.state_dir.join("images");
    assert!(
        files_containing(&images, &template_id).is_empty(),
        "{:?}",
        files_containing(&images, "")
    );
    harness.run("delete", &vm).ok();
}
