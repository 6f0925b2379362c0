//! The snapshot custom actions.

use super::harness::{set_parameters, snapshot_parameters, Harness};
use serde_json::json;
use trellis_ext_protocol::exit;
use trellis_sim_proxmox::PowerStatus;

#[test]
fn snapshots_are_created_listed_restored_and_deleted() {
    let harness = Harness::start();
    let (created, mut payload) = harness.deploy("snappy");
    created.assert_success();
    let vmid = harness.vm_named("snappy").vmid;

    set_parameters(
        &mut payload,
        json!({"snap_name": "before-upgrade", "snap_description": "known good", "snap_save_memory": true}),
    );
    let outcome = harness.run("CreateSnapshot", &payload);
    outcome.assert_success();
    assert_eq!(outcome.json["message"], "Instance Snapshot created");
    let vm = harness.sim.vm(vmid).unwrap();
    assert_eq!(vm.snapshots.len(), 1);
    let snapshot = &vm.snapshots[0];
    assert_eq!(
        (
            snapshot.name.as_str(),
            snapshot.description.as_str(),
            snapshot.vmstate
        ),
        ("before-upgrade", "known good", true)
    );

    // Parameters may also arrive as strings; no memory this time.
    set_parameters(
        &mut payload,
        json!({"snap_name": "second", "snap_save_memory": "false"}),
    );
    harness.run("createsnapshot", &payload).assert_success();
    assert!(!harness.sim.vm(vmid).unwrap().snapshots[1].vmstate);

    let listed = harness.run("ListSnapshots", &payload);
    listed.assert_success();
    assert_eq!(listed.json["printmessage"], "true");
    let rows = listed.json["message"]
        .as_array()
        .expect("a list of snapshots");
    assert_eq!(
        rows.len(),
        2,
        "the 'current' pseudo-entry is left out: {rows:?}"
    );
    assert_eq!(rows[0]["name"], "before-upgrade");
    assert_eq!(rows[0]["description"], "known good");
    assert_eq!(rows[0]["parent"], "-");
    assert_eq!(rows[0]["vmstate"], "yes");
    assert_eq!(rows[1]["parent"], "before-upgrade");
    let snaptime = rows[0]["snaptime"].as_str().unwrap();
    assert_eq!(snaptime.len(), "2024-01-01 00:00:00".len(), "{snaptime}");

    // Restoring a snapshot without RAM of a running VM brings it back up.
    set_parameters(&mut payload, snapshot_parameters("second"));
    harness.run("RestoreSnapshot", &payload).assert_success();
    let vm = harness.sim.vm(vmid).unwrap();
    assert_eq!(vm.parent_snapshot.as_deref(), Some("second"));
    assert_eq!(vm.status, PowerStatus::Running);

    set_parameters(&mut payload, snapshot_parameters("before-upgrade"));
    harness.run("DELETESNAPSHOT", &payload).assert_success();
    let remaining: Vec<String> = harness
        .sim
        .vm(vmid)
        .unwrap()
        .snapshots
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(remaining, ["second"]);
}

#[test]
fn snapshot_parameters_are_checked() {
    let harness = Harness::start();
    let (created, mut payload) = harness.deploy("snapcheck");
    created.assert_success();

    set_parameters(&mut payload, json!({}));
    let missing = harness.run("CreateSnapshot", &payload);
    missing.assert_failure(exit::USAGE, "usage");
    assert_eq!(missing.error(), "missing required parameter: snap_name");

    for bad in ["1st", "current", "has space", "x"] {
        set_parameters(&mut payload, snapshot_parameters(bad));
        let outcome = harness.run("CreateSnapshot", &payload);
        outcome.assert_failure(exit::USAGE, "usage");
        assert!(
            outcome
                .error()
                .contains(&format!("invalid snapshot name '{bad}'")),
            "{}",
            outcome.error()
        );
    }

    set_parameters(&mut payload, snapshot_parameters("nope"));
    let restore = harness.run("RestoreSnapshot", &payload);
    restore.assert_failure(exit::FAILED, "task_failed");
    assert_eq!(restore.json["exitstatus"], "snapshot 'nope' does not exist");
    let delete = harness.run("DeleteSnapshot", &payload);
    delete.assert_failure(exit::FAILED, "task_failed");
    assert!(delete.error().contains("cannot delete snapshot 'nope'"));

    set_parameters(&mut payload, snapshot_parameters("twin"));
    harness.run("CreateSnapshot", &payload).assert_success();
    let again = harness.run("CreateSnapshot", &payload);
    again.assert_failure(exit::FAILED, "api");
    assert!(
        again.error().ends_with("snapshot name 'twin' already used"),
        "{}",
        again.error()
    );
    assert!(harness.vm_named("snapcheck").snapshots.len() == 1);
}
