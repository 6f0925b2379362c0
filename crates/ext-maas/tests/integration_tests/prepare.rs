//! Machine selection: concurrent prepares never share a machine; an exhausted pool is a clear
//! failure with MAAS's text; a requested machine is honoured.

use super::{Env, Instance};
use std::collections::BTreeSet;
use trellis_ext_protocol::exit;
use trellis_sim_maas::{MachineStatus, SimConfig};

#[test]
fn six_concurrent_prepares_never_share_a_machine() {
    let env = Env::start(SimConfig {
        machines: 6,
        ..SimConfig::default()
    });
    let instances: Vec<Instance> = (30..36).map(Instance::new).collect();
    let patches: Vec<serde_json::Value> = std::thread::scope(|scope| {
        let running: Vec<_> = instances
            .iter()
            .map(|instance| scope.spawn(|| env.run("prepare", instance)))
            .collect();
        running
            .into_iter()
            .map(|handle| handle.join().expect("prepare thread").ok())
            .collect()
    });
    let ids: BTreeSet<String> = patches
        .iter()
        .map(|patch| {
            patch["details"]["External:maas_system_id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        ids.len(),
        6,
        "two prepares got the same machine: {patches:?}"
    );
    let macs: BTreeSet<String> = patches
        .iter()
        .map(|patch| {
            patch["details"]["External:mac_address"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(macs.len(), 6);
    for (instance, patch) in instances.iter().zip(&patches) {
        let machine = env.machine(
            patch["details"]["External:maas_system_id"]
                .as_str()
                .unwrap(),
        );
        assert_eq!(machine.status, MachineStatus::Allocated);
        assert_eq!(machine.owner_data["trellis_instance_name"], instance.name);
    }

    // The pool is empty now: a seventh prepare fails with MAAS's 409 text.
    let refused = env.run("prepare", &Instance::new(36)).failed(exit::FAILED);
    assert_eq!(refused["http_status"], 409);
    assert_eq!(refused["maas_error"], "No machine available.");
    assert!(
        refused["error"]
            .as_str()
            .unwrap()
            .contains("no machine available"),
        "{refused}"
    );
}

#[test]
fn a_requested_machine_is_honoured() {
    let env = Env::start(SimConfig {
        machines: 3,
        ..SimConfig::default()
    });
    let wanted = env.sim.machines()[2].system_id.clone();
    let instance = Instance::new(40).detail("maas_system_id", &wanted);
    let patch = env.run("prepare", &instance).ok();
    assert_eq!(patch["details"]["External:maas_system_id"], wanted.as_str());
    assert_eq!(env.machine(&wanted).status, MachineStatus::Allocated);

    // Another instance asking for the same machine is refused by MAAS.
    let other = Instance::new(41).detail("maas_system_id", &wanted);
    let refused = env.run("prepare", &other).failed(exit::FAILED);
    assert_eq!(refused["http_status"], 409);
    assert!(
        refused["maas_error"]
            .as_str()
            .unwrap()
            .starts_with("No available machine matches constraints"),
        "{refused}"
    );
    assert_eq!(
        env.machine(&wanted).owner_data["trellis_instance_name"],
        instance.name
    );
}

#[test]
fn instances_without_nics_get_details_only() {
    let env = Env::start(SimConfig {
        machines: 1,
        ..SimConfig::default()
    });
    let mut instance = Instance::new(42);
    instance.nic_uuids.clear();
    let patch = env.run("prepare", &instance).ok();
    assert!(patch.get("nics").is_none(), "{patch}");
    assert!(patch["details"]["External:maas_system_id"].is_string());
}
