//! Concurrent deploys: eight prepare+create pairs at once never share a VMID, and every
//! instance's later actions reach its own VM.

use super::harness::Harness;
use std::collections::BTreeSet;
use std::sync::Arc;
use trellis_sim_proxmox::{PowerStatus, SimConfig};

#[test]
fn eight_concurrent_deploys_never_share_a_vmid() {
    let harness = Arc::new(Harness::with(SimConfig {
        task_polls: 2,
        ..SimConfig::default()
    }));
    let names: Vec<String> = (0..8)
        .map(|index| format!("i-2-{}-VM", 20 + index))
        .collect();
    let workers: Vec<_> = names
        .iter()
        .cloned()
        .map(|name| {
            let harness = harness.clone();
            std::thread::spawn(move || {
                let (created, payload) = harness.deploy(&name);
                (name, created, payload)
            })
        })
        .collect();
    let results: Vec<_> = workers
        .into_iter()
        .map(|worker| worker.join().expect("a deploy thread"))
        .collect();

    let mut vmids = BTreeSet::new();
    for (name, created, _) in &results {
        created.assert_success();
        let vm = harness.vm_named(name);
        assert_eq!(vm.status, PowerStatus::Running, "{name}");
        assert_eq!(
            created.json["proxmox_vmid"],
            vm.vmid.to_string(),
            "create reports the vmid it used"
        );
        assert!(vmids.insert(vm.vmid), "vmid {} used twice", vm.vmid);
    }
    assert_eq!(vmids.len(), 8);
    assert_eq!(
        harness.sim.vms().len(),
        9,
        "eight instances and the template, nothing else"
    );

    // Every instance finds its own VM, even when its prepare-time hint went to someone else.
    for (name, _, payload) in &results {
        let vm = harness.vm_named(name);
        let status = harness.run("status", payload);
        status.assert_success();
        assert_eq!(status.json["proxmox_vmid"], vm.vmid.to_string(), "{name}");
        harness.run("stop", payload).assert_success();
        assert_eq!(
            harness.vm_named(name).status,
            PowerStatus::Stopped,
            "{name}"
        );
    }
    for (name, _, _) in &results {
        assert_eq!(
            harness.vm_named(name).status,
            PowerStatus::Stopped,
            "{name}"
        );
    }

    // And deletes remove exactly their own.
    for (name, _, payload) in &results {
        harness.run("delete", payload).assert_success();
        assert!(harness.sim.vms_named(name).is_empty(), "{name}");
    }
    assert_eq!(harness.sim.vms().len(), 1);
}
