//! The snapshot custom actions (action names in any case).

use super::harness::*;
use trellis_sim_hyperv::VmState;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_list_restore_and_delete_snapshots() {
    let harness = Harness::start().await;
    let payload = harness.payload();
    harness.run("create", &payload).await.assert_success();

    let run = harness.run("ListSnapshots", &payload).await;
    run.assert_success();
    assert_eq!(run.json["printmessage"], "true");
    assert_eq!(run.json["message"], serde_json::json!([]));

    let run = harness
        .run(
            "CreateSnapshot",
            &with_snapshot(payload.clone(), "before upgrade"),
        )
        .await;
    run.assert_success();
    assert_eq!(run.json["message"], "Snapshot 'before upgrade' created");
    harness
        .run(
            "createsnapshot",
            &with_snapshot(payload.clone(), "second (2)"),
        )
        .await
        .assert_success();
    let names: Vec<String> = harness
        .vm()
        .unwrap()
        .checkpoints
        .iter()
        .map(|c| c.name.clone())
        .collect();
    assert_eq!(names, vec!["before upgrade", "second (2)"]);

    // One snapshot listed is still a list.
    let single = Harness::start().await;
    let single_payload = single.payload();
    single.run("create", &single_payload).await.assert_success();
    single
        .run(
            "CreateSnapshot",
            &with_snapshot(single_payload.clone(), "only"),
        )
        .await
        .assert_success();
    let listed = single.run("listsnapshots", &single_payload).await;
    assert_eq!(listed.json["message"].as_array().map(Vec::len), Some(1));

    let run = harness.run("LISTSNAPSHOTS", &payload).await;
    let listed = run.json["message"].as_array().expect("a list");
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0]["Name"], "before upgrade");
    let created = listed[0]["CreationTime"].as_str().unwrap();
    assert_eq!(created.len(), 19, "ISO 8601 seconds: {created}");
    assert_eq!(&created[10..11], "T");

    let duplicate = harness
        .run(
            "CreateSnapshot",
            &with_snapshot(payload.clone(), "before upgrade"),
        )
        .await;
    duplicate.assert_failure(1);
    assert!(
        duplicate
            .error()
            .contains("a snapshot named 'before upgrade' already exists"),
        "{}",
        duplicate.error()
    );
    assert_eq!(harness.vm().unwrap().checkpoints.len(), 2);

    harness
        .sim
        .model_mut(|h| h.vm_mut(&vm_name()).unwrap().processor_count = 8);
    let run = harness
        .run(
            "RestoreSnapshot",
            &with_snapshot(payload.clone(), "before upgrade"),
        )
        .await;
    run.assert_success();
    assert_eq!(run.json["message"], "Snapshot 'before upgrade' restored");
    let vm = harness.vm().unwrap();
    assert_eq!(
        vm.processor_count, 2,
        "configuration comes back from the checkpoint"
    );
    assert_eq!(vm.state, VmState::Off);

    let run = harness
        .run(
            "DeleteSnapshot",
            &with_snapshot(payload.clone(), "before upgrade"),
        )
        .await;
    run.assert_success();
    let names: Vec<String> = harness
        .vm()
        .unwrap()
        .checkpoints
        .iter()
        .map(|c| c.name.clone())
        .collect();
    assert_eq!(names, vec!["second (2)"]);

    let missing = harness
        .run(
            "RestoreSnapshot",
            &with_snapshot(payload.clone(), "never taken"),
        )
        .await;
    missing.assert_failure(1);
    assert!(
        missing
            .error()
            .contains("Hyper-V was unable to find a checkpoint named \"never taken\""),
        "{}",
        missing.error()
    );
    harness
        .run(
            "DeleteSnapshot",
            &with_snapshot(payload.clone(), "never taken"),
        )
        .await
        .assert_failure(1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_actions_need_a_valid_name_and_an_existing_vm() {
    let harness = Harness::start().await;
    let payload = harness.payload();
    let run = harness.run("CreateSnapshot", &payload).await;
    run.assert_failure(trellis_ext_protocol::exit::USAGE);
    assert!(run.error().contains("snapshot_name"));
    let run = harness
        .run("CreateSnapshot", &with_snapshot(payload.clone(), "s1"))
        .await;
    run.assert_failure(1);
    assert!(
        run.error()
            .contains("Hyper-V was unable to find a virtual machine with name"),
        "{}",
        run.error()
    );
    harness
        .run("ListSnapshots", &payload)
        .await
        .assert_failure(1);
    harness.run("Suspend", &payload).await.assert_failure(1);
}
