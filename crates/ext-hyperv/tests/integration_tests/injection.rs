//! Injection attempts through names, parameters and details: rejected before anything runs,
//! or carried to PowerShell as inert single-quoted text. The simulator's interpreter expands
//! `$(…)` in double quotes and ends strings at any single-quote character exactly like
//! PowerShell, so a quoting mistake would show up here as a deleted victim VM.

use super::harness::*;
use trellis_ext_protocol::exit;

const ATTACKS: [&str; 5] = [
    "x'; Remove-VM -Name 'victim' -Force; '",
    "x$(Remove-VM -Name 'victim' -Force)",
    "x\"; Remove-VM -Name victim -Force; \"",
    "x`; Remove-VM -Name victim -Force",
    "x\u{2019}; Remove-VM -Name \u{2018}victim\u{2019} -Force; \u{2019}",
];

async fn harness_with_victim() -> Harness {
    let harness = Harness::start().await;
    harness.sim.model_mut(|h| {
        h.add_vm("victim");
    });
    harness
}

fn victim_alive(harness: &Harness) -> bool {
    harness.sim.model(|h| h.vm("victim").is_some())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_instance_names_are_rejected_before_connecting() {
    let harness = harness_with_victim().await;
    for attack in ATTACKS.iter().chain(["i-*", "i-2-10-VM?", "i-[1]"].iter()) {
        let mut payload = harness.payload();
        payload.vm.as_mut().unwrap().name = attack.to_string();
        let run = harness.run("delete", &payload).await;
        run.assert_failure(exit::USAGE);
        assert!(
            run.error().contains("invalid instance name"),
            "{attack}: {}",
            run.error()
        );
        let mut payload = harness.payload();
        payload.vm.as_mut().unwrap().uuid = attack.to_string();
        harness
            .run("stop", &payload)
            .await
            .assert_failure(exit::USAGE);
    }
    assert!(harness.sim.requests().is_empty());
    assert!(victim_alive(&harness));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_snapshot_names_are_rejected() {
    let harness = harness_with_victim().await;
    let payload = harness.payload();
    harness.run("create", &payload).await.assert_success();
    harness.sim.clear_requests();
    for attack in ATTACKS.iter().chain(["*", "snap?", " padded "].iter()) {
        for action in ["CreateSnapshot", "RestoreSnapshot", "DeleteSnapshot"] {
            let run = harness
                .run(action, &with_snapshot(payload.clone(), attack))
                .await;
            run.assert_failure(exit::USAGE);
            assert!(
                run.error().contains("invalid snapshot name"),
                "{attack}: {}",
                run.error()
            );
        }
    }
    assert!(harness.sim.requests().is_empty());
    assert!(victim_alive(&harness));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_paths_and_switch_names_stay_inert() {
    let harness = harness_with_victim().await;
    for attack in ATTACKS {
        let mut payload = harness.payload();
        set_vm_detail(
            &mut payload,
            "template_path",
            &format!("C:\\Templates\\{attack}.vhdx"),
        );
        let run = harness.run("create", &payload).await;
        if attack.contains('"') {
            // Not a legal Windows path character: refused outright.
            run.assert_failure(exit::CONFIG);
        } else {
            run.assert_failure(exit::FAILED);
            assert!(
                run.error().contains("Cannot find path"),
                "{attack}: {}",
                run.error()
            );
        }
        assert!(
            victim_alive(&harness),
            "template_path {attack:?} reached PowerShell as code"
        );
        assert!(harness.vm().is_none());

        let mut payload = harness.payload();
        set_host_detail(&mut payload, "network_switch", &format!("External{attack}"));
        let run = harness.run("create", &payload).await;
        run.assert_failure(exit::FAILED);
        assert!(
            run.error().contains("unable to find a virtual switch"),
            "{attack}: {}",
            run.error()
        );
        assert!(
            victim_alive(&harness),
            "network_switch {attack:?} reached PowerShell as code"
        );
    }
    // The quoted text arrived intact: the whole attack is part of the literal path.
    let scripts = harness.sim.scripts().join("\n");
    assert!(scripts.contains("C:\\Templates\\x''; Remove-VM -Name ''victim'' -Force; ''.vhdx'"));
    assert!(scripts.contains("x\u{2019}\u{2019}; Remove-VM -Name \u{2018}\u{2018}victim\u{2019}\u{2019} -Force; \u{2019}\u{2019}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paths_with_quotes_and_dollars_work_as_plain_paths() {
    let harness = harness_with_victim().await;
    let odd = "C:\\Disks\\it's $(Remove-VM -Name victim -Force) `n";
    harness.sim.model_mut(|h| h.add_directory(odd));
    let mut payload = harness.payload();
    set_host_detail(&mut payload, "vhd_path", odd);
    harness.run("create", &payload).await.assert_success();
    let vhd = format!("{odd}\\{}.vhdx", vm_name());
    assert!(harness.file_exists(&vhd));
    assert_eq!(harness.vm().unwrap().hard_drives, vec![vhd.clone()]);
    harness.run("delete", &payload).await.assert_success();
    assert!(!harness.file_exists(&vhd));
    assert!(victim_alive(&harness));
    assert_eq!(harness.sim.model(|h| h.vms.len()), 1);
}
