//! `createtemplate`: a stopped instance's VM is copied (full clone) and converted into a Proxmox
//! template, which later deploys clone.

use super::harness::{set_parameters, set_vm_detail, Harness};
use serde_json::json;
use trellis_sim_proxmox::{CloneKind, PowerStatus};

const TEMPLATE_UUID: &str = "5b0c1f43-0d7e-4a55-9d0c-3c3f4f1c2a10";

#[test]
fn a_stopped_instance_becomes_a_template_that_deploys_clone() {
    let harness = Harness::start();
    let (created, mut payload) = harness.deploy("i-2-30-VM");
    created.assert_success();
    let source = harness.vm_named("i-2-30-VM");
    // Keys of the instance must not be baked into the template.
    let mut with_keys = source.clone();
    with_keys.config.insert(
        "sshkeys".into(),
        "ssh-ed25519%20AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl".into(),
    );
    harness.sim.insert_vm(with_keys);
    set_parameters(
        &mut payload,
        json!({"templateid": TEMPLATE_UUID, "templatename": "golden"}),
    );

    let refused = harness.run("createtemplate", &payload);
    refused.assert_failure(1, "failed");
    assert!(
        refused.error().contains("is not stopped"),
        "{}",
        refused.error()
    );

    harness.run("stop", &payload).assert_success();
    let captured = harness.run("createtemplate", &payload);
    captured.assert_success();
    let vmid: u32 = captured.json["details"]["template_id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(captured.json["details"]["template_type"], "template");
    assert_eq!(captured.json["size"], 32u64 << 30);
    let template = harness.sim.vm(vmid).expect("the template exists");
    assert!(template.is_template());
    assert_eq!(
        template.name(),
        Some(format!("template-{TEMPLATE_UUID}").as_str())
    );
    assert_eq!(template.cloned_from, Some((source.vmid, CloneKind::Full)));
    assert!(template.config["scsi0"].starts_with(&format!("local-lvm:base-{vmid}-disk-0")));
    assert!(!template.config.contains_key("sshkeys"));
    assert!(template.config["description"].contains("golden"));
    assert!(harness
        .sim
        .tasks()
        .iter()
        .any(|task| task.kind == "qmtemplate" && task.id == vmid.to_string()));
    assert_eq!(
        harness.vm_named("i-2-30-VM").status,
        PowerStatus::Stopped,
        "the source is left as it was"
    );

    // Again (a lost answer): the same template, no second copy.
    let again = harness.run("createtemplate", &payload);
    again.assert_success();
    assert_eq!(again.json["message"], "Template already created");
    assert_eq!(again.json["details"]["template_id"], vmid.to_string());

    // A deploy from the capture clones the new template.
    let mut from_capture = harness.payload("i-2-31-VM");
    set_vm_detail(&mut from_capture, "template_id", &vmid.to_string());
    set_vm_detail(&mut from_capture, "template_type", "template");
    harness.run("create", &from_capture).assert_success();
    let deployed = harness.vm_named("i-2-31-VM");
    assert_eq!(deployed.cloned_from, Some((vmid, CloneKind::Linked)));
    assert_eq!(deployed.status, PowerStatus::Running);
}

#[test]
fn a_failed_conversion_removes_the_copy() {
    let harness = Harness::start();
    let (created, mut payload) = harness.deploy("i-2-32-VM");
    created.assert_success();
    harness.run("stop", &payload).assert_success();
    set_parameters(&mut payload, json!({"templateid": TEMPLATE_UUID}));
    harness
        .sim
        .fail_next_tasks_of_type("qmtemplate", 1, "storage error: cannot rename volume");
    let failed = harness.run("createtemplate", &payload);
    failed.assert_failure(1, "task_failed");
    assert!(
        failed.error().contains("(the copy was removed)"),
        "{}",
        failed.error()
    );
    assert!(harness
        .sim
        .vms_named(&format!("template-{TEMPLATE_UUID}"))
        .is_empty());
    let missing = {
        let mut payload = payload.clone();
        set_parameters(&mut payload, json!({}));
        harness.run("createtemplate", &payload)
    };
    missing.assert_failure(2, "usage");
}
