//! The instance lifecycle, checked against the simulator's model after every step.

use super::harness::*;
use std::collections::BTreeMap;
use trellis_ext_protocol::{ExternalDetails, Payload};
use trellis_sim_hyperv::VmState;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn template_instance_through_its_whole_life() {
    let harness = Harness::start().await;
    let payload = harness.payload();
    let vhd = format!("{VHD_DIR}\\{}.vhdx", vm_name());

    let run = harness.run("create", &payload).await;
    run.assert_success();
    assert_eq!(run.json["message"], "Instance created");
    let vm = harness
        .vm()
        .expect("vm created under <internal name>-<uuid>");
    assert_eq!(vm.state, VmState::Running);
    assert_eq!(vm.generation, 2);
    assert!(
        !vm.secure_boot,
        "secure boot is really off for generation 2"
    );
    assert_eq!(vm.memory_startup_bytes, 2 * 1024 * 1024 * 1024);
    assert_eq!(vm.processor_count, 2);
    assert_eq!(vm.path, format!("{VM_DIR}\\{}", vm_name()));
    assert_eq!(vm.hard_drives, vec![vhd.clone()]);
    assert_eq!(
        vm.network_adapters.len(),
        2,
        "the default adapter is replaced by the instance's nics"
    );
    let nic1 = vm.adapter("NIC1").expect("NIC1");
    assert_eq!(nic1.switch_name.as_deref(), Some("External"));
    assert_eq!(nic1.static_mac.as_deref(), Some("02002F6E0005"));
    assert_eq!(nic1.access_vlan, Some(1234));
    let nic2 = vm.adapter("NIC2").expect("NIC2");
    assert_eq!(nic2.static_mac.as_deref(), Some("02002F6E0006"));
    assert_eq!(nic2.access_vlan, None);
    assert!(harness.file_exists(&vhd));
    assert_eq!(
        harness.sim.open_shells(),
        0,
        "the shell is closed after the action"
    );

    harness.run("status", &payload).await.assert_success();
    assert_eq!(
        harness.run("status", &payload).await.json["power_state"],
        "poweron"
    );

    harness.run("stop", &payload).await.assert_success();
    assert_eq!(harness.vm().unwrap().state, VmState::Off);
    assert_eq!(
        harness.run("status", &payload).await.json["power_state"],
        "poweroff"
    );
    // Stopping a stopped instance is fine.
    harness.run("stop", &payload).await.assert_success();

    harness.run("start", &payload).await.assert_success();
    assert_eq!(harness.vm().unwrap().state, VmState::Running);
    // Starting a running instance is fine too.
    harness.run("START", &payload).await.assert_success();
    let boots = harness.vm().unwrap().boot_count;

    let run = harness.run("reboot", &payload).await;
    run.assert_success();
    assert_eq!(run.json["message"], "Instance rebooted");
    assert_eq!(harness.vm().unwrap().boot_count, boots + 1);

    harness.run("Suspend", &payload).await.assert_success();
    assert_eq!(harness.vm().unwrap().state, VmState::Paused);
    assert_eq!(
        harness.run("status", &payload).await.json["power_state"],
        "poweron"
    );
    harness.run("resume", &payload).await.assert_success();
    assert_eq!(harness.vm().unwrap().state, VmState::Running);

    let run = harness.run("delete", &payload).await;
    run.assert_success();
    assert_eq!(run.json["message"], "Instance deleted");
    assert!(harness.vm().is_none());
    assert!(!harness.file_exists(&vhd), "the instance disk is removed");
    assert!(!harness.directory_exists(&format!("{VM_DIR}\\{}", vm_name())));
    assert!(harness.file_exists(TEMPLATE), "the template stays");
    // Deleting again succeeds (the instance is gone either way).
    harness.run("delete", &payload).await.assert_success();
    assert_eq!(
        harness.run("status", &payload).await.json["power_state"],
        "unknown"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn iso_instances_get_a_new_disk_and_the_dvd() {
    let harness = Harness::start().await;
    let mut payload = harness.payload();
    set_vm_detail(&mut payload, "template_type", "iso");
    set_vm_detail(&mut payload, "iso_path", ISO);
    set_vm_detail(&mut payload, "vhd_size_gb", "40");
    set_vm_detail(&mut payload, "generation", "1");
    harness.run("create", &payload).await.assert_success();
    let vm = harness.vm().expect("vm");
    let vhd = format!("{VHD_DIR}\\{}.vhdx", vm_name());
    assert_eq!(vm.generation, 1);
    assert_eq!(vm.dvd_drives, vec![Some(ISO.to_string())]);
    assert_eq!(vm.hard_drives, vec![vhd.clone()]);
    assert_eq!(
        harness.sim.model(|h| h.file(&vhd).map(|f| f.size_bytes)),
        Some(40 * 1024 * 1024 * 1024)
    );
    assert_eq!(vm.state, VmState::Running);

    // Generation 2 boots the ISO first and has Secure Boot off.
    let harness = Harness::start().await;
    let mut payload = harness.payload();
    set_vm_detail(&mut payload, "template_type", "iso");
    set_vm_detail(&mut payload, "iso_path", ISO);
    set_vm_detail(&mut payload, "vhd_size_gb", "40");
    harness.run("create", &payload).await.assert_success();
    let vm = harness.vm().expect("vm");
    assert_eq!(vm.generation, 2);
    assert!(!vm.secure_boot);
    assert_eq!(vm.first_boot_device.as_deref(), Some("DvdDrive"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn defaults_and_alternative_detail_names() {
    let harness = Harness::start().await;
    let mut payload = harness.payload();
    // Connection details at extension level, the switch as network_bridge, no vm_path,
    // generation from the boot type, odd memory rounded up to 2 MiB.
    let host = payload
        .externaldetails
        .as_mut()
        .unwrap()
        .host
        .take()
        .unwrap();
    let mut extension = BTreeMap::new();
    let mut host_level = BTreeMap::new();
    for (key, value) in host {
        match key.as_str() {
            "url" | "username" | "password" | "ca_certificate" => extension.insert(key, value),
            "network_switch" => host_level.insert("network_bridge".to_string(), value),
            "vm_path" => None,
            _ => host_level.insert(key, value),
        };
    }
    payload.externaldetails.as_mut().unwrap().extension = Some(extension);
    payload.externaldetails.as_mut().unwrap().host = Some(host_level);
    payload
        .externaldetails
        .as_mut()
        .unwrap()
        .virtualmachine
        .as_mut()
        .unwrap()
        .remove("generation");
    let vm = payload.vm.as_mut().unwrap();
    vm.boot_type = Some("UEFI".into());
    vm.min_ram = 1000 * 1024 * 1024 + 1;
    vm.cpus = 1;
    vm.nics.truncate(1);
    harness.run("create", &payload).await.assert_success();
    let vm = harness.vm().expect("vm");
    assert_eq!(vm.generation, 2);
    assert_eq!(vm.memory_startup_bytes, 1002 * 1024 * 1024);
    assert_eq!(vm.network_adapters.len(), 1);
    assert_eq!(
        vm.network_adapters[0].switch_name.as_deref(),
        Some("External")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_is_idempotent_and_replaces_leftovers() {
    let harness = Harness::start().await;
    let payload = harness.payload();
    harness.run("create", &payload).await.assert_success();
    let id = harness.vm().unwrap().id;
    // A retried create of a running instance changes nothing.
    harness.run("create", &payload).await.assert_success();
    assert_eq!(harness.vm().unwrap().id, id);
    assert_eq!(harness.sim.model(|h| h.vms.len()), 1);
    // A stopped, half-configured VM (what an interrupted attempt leaves) is rebuilt.
    harness.sim.model_mut(|h| {
        let vm = h.vm_mut(&vm_name()).unwrap();
        vm.state = VmState::Off;
        vm.network_adapters.clear();
    });
    harness.run("create", &payload).await.assert_success();
    let vm = harness.vm().unwrap();
    assert_ne!(vm.id, id);
    assert_eq!(vm.network_adapters.len(), 2);
    assert_eq!(vm.state, VmState::Running);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statuses_reports_this_extensions_instances_by_name() {
    let harness = Harness::start().await;
    let payload = harness.payload();
    harness.run("create", &payload).await.assert_success();
    let other_uuid = "00000000-0000-4000-8000-000000000099";
    harness.sim.model_mut(|h| {
        h.add_vm(&format!("i-2-11-VM-{other_uuid}"));
        h.add_vm("not-managed-by-trellis").state = VmState::Running;
        h.add_vm(&format!("i-2-12-VM-{other_uuid}")).state = VmState::Saved;
    });
    let statuses = Payload {
        externaldetails: payload.externaldetails.clone(),
        ..Payload::default()
    };
    let run = harness.run("statuses", &statuses).await;
    run.assert_success();
    let states = run.json["power_state"].as_object().unwrap();
    assert_eq!(states.len(), 3, "{states:?}");
    assert_eq!(states["i-2-10-VM"], "poweron");
    assert_eq!(states["i-2-11-VM"], "poweroff");
    assert_eq!(states["i-2-12-VM"], "poweroff");
    assert!(trellis_ext_protocol::parse_statuses_output(&run.stdout).is_some());

    // With the expected instances given, only matching name and uuid pairs count.
    let mut expected = BTreeMap::new();
    expected.insert("i-2-10-VM".to_string(), UUID.to_string());
    expected.insert(
        "i-2-11-VM".to_string(),
        "00000000-0000-4000-8000-000000000000".to_string(),
    );
    let filtered = Payload {
        virtualmachines: Some(expected),
        ..statuses.clone()
    };
    let states = harness.run("statuses", &filtered).await.json["power_state"]
        .as_object()
        .unwrap()
        .clone();
    assert_eq!(states.len(), 1);
    assert_eq!(states["i-2-10-VM"], "poweron");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statuses_of_a_large_host() {
    let harness = Harness::start().await;
    harness.sim.model_mut(|h| {
        for n in 0..1500 {
            h.add_vm(&format!("i-3-{n}-VM-00000000-0000-4000-8000-{n:012}"))
                .state = if n % 2 == 0 {
                VmState::Running
            } else {
                VmState::Off
            };
        }
    });
    let payload = Payload {
        externaldetails: Some(ExternalDetails {
            host: Some(harness.host_details()),
            ..ExternalDetails::default()
        }),
        ..Payload::default()
    };
    let run = harness.run("statuses", &payload).await;
    run.assert_success();
    let states = run.json["power_state"].as_object().unwrap();
    assert_eq!(states.len(), 1500);
    assert_eq!(states["i-3-0-VM"], "poweron");
    assert_eq!(states["i-3-1499-VM"], "poweroff");
    assert!(run.stdout.len() > 30_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepare_changes_nothing_and_getconsole_is_unsupported() {
    let harness = Harness::start().await;
    let payload = harness.payload();
    let run = harness.run("prepare", &payload).await;
    assert_eq!(run.code, 0);
    assert_eq!(run.json, serde_json::json!({}));
    harness
        .run("getconsole", &payload)
        .await
        .assert_failure(trellis_ext_protocol::exit::UNSUPPORTED);
    assert!(
        harness.sim.requests().is_empty(),
        "neither talks to the host"
    );
}
