//! The instance lifecycle: prepare, create (linked and full clones, ISO installs), power
//! actions, status, statuses, console and delete, with the simulator's state checked each step.

use super::harness::{mac_for, merge_prepare, set_host_detail, set_vm_detail, Harness};
use trellis_ext_protocol::{
    parse_console_output, parse_status_output, parse_statuses_output, Nic, PowerState,
};
use trellis_sim_proxmox::{CloneKind, PowerStatus, SimConfig, Vm, TEMPLATE_NAME, TEMPLATE_VMID};

#[test]
fn full_lifecycle_of_a_linked_clone() {
    let harness = Harness::start();
    let mut payload = harness.payload("i-2-10-VM");

    let prepared = harness.run("prepare", &payload);
    prepared.assert_success_prepare();
    assert_eq!(
        prepared.json,
        serde_json::json!({"details": {"proxmox_vmid": "100"}})
    );
    merge_prepare(&mut payload, &prepared.json);

    let created = harness.run("create", &payload);
    created.assert_success();
    assert_eq!(created.json["message"], "Instance created");
    assert_eq!(created.json["proxmox_vmid"], "100");
    let vm = harness.sim.vm(100).expect("vm 100 exists");
    assert_eq!(vm.name(), Some("i-2-10-VM"));
    assert_eq!(vm.cloned_from, Some((TEMPLATE_VMID, CloneKind::Linked)));
    assert_eq!(vm.status, PowerStatus::Running);
    assert_eq!((vm.cpus(), vm.memory_mib()), (2, 1024));
    assert_eq!(vm.config["sockets"], "1");
    assert_eq!(
        vm.config["net0"],
        format!(
            "virtio={},bridge=vmbr0,tag=100,firewall=0",
            mac_for("i-2-10-VM", 0)
        )
    );
    assert!(vm.config["description"].contains("uuid-i-2-10-VM"));
    let clone_request = harness
        .sim
        .requests()
        .into_iter()
        .find(|request| request.path.ends_with("/clone"))
        .expect("a clone request");
    assert_eq!(clone_request.params["full"], "0");
    assert!(
        !clone_request.params.contains_key("storage"),
        "linked clones must not send storage"
    );

    let status = harness.run("status", &payload);
    status.assert_success();
    assert_eq!(
        parse_status_output(&status.json.to_string()),
        PowerState::PowerOn
    );

    harness.run("stop", &payload).assert_success();
    assert_eq!(harness.sim.vm(100).unwrap().status, PowerStatus::Stopped);
    let status = harness.run("status", &payload);
    assert_eq!(status.json["power_state"], "poweroff");
    assert_eq!(
        harness.run("stop", &payload).json["message"],
        "Instance already stopped"
    );

    let started = harness.run("start", &payload);
    started.assert_success();
    assert_eq!(started.json["message"], "Instance started");
    assert_eq!(harness.sim.vm(100).unwrap().status, PowerStatus::Running);
    assert_eq!(
        harness.run("start", &payload).json["message"],
        "Instance already running"
    );

    let tasks_before = harness.sim.tasks().len();
    harness.run("reboot", &payload).assert_success();
    let reboot_task = harness
        .sim
        .tasks()
        .into_iter()
        .nth(tasks_before)
        .expect("a reboot task");
    assert_eq!(
        (reboot_task.kind.as_str(), reboot_task.succeeded()),
        ("qmreboot", true)
    );

    let statuses = harness.run("statuses", &payload);
    statuses.assert_success();
    let reported = parse_statuses_output(&statuses.json.to_string()).expect("a power_state map");
    assert_eq!(reported.get("i-2-10-VM"), Some(&PowerState::PowerOn));
    assert!(
        !reported.contains_key(TEMPLATE_NAME),
        "templates are not instances"
    );

    let console = harness.run("getconsole", &payload);
    console.assert_success();
    let parsed = parse_console_output(&console.json.to_string()).expect("a usable console");
    let ticket = harness.sim.vnc_tickets().pop().expect("a vnc ticket");
    assert_eq!(parsed.host.as_deref(), Some("127.0.0.1"));
    assert_eq!(parsed.port, Some(serde_json::json!(ticket.port)));
    assert_eq!(parsed.password.as_deref(), Some(ticket.ticket.as_str()));
    assert_eq!(parsed.protocol.as_deref(), Some("vnc"));
    assert_eq!(parsed.passwordonetimeuseonly, Some(true));

    // A running VM is stopped first, then destroyed with its disks.
    let deleted = harness.run("delete", &payload);
    deleted.assert_success();
    assert_eq!(deleted.json["message"], "Instance deleted");
    assert!(harness.sim.vm(100).is_none());
    let destroy = harness
        .sim
        .requests()
        .into_iter()
        .rfind(|request| request.method == "DELETE")
        .unwrap();
    assert_eq!(destroy.params["purge"], "1");

    assert_eq!(
        harness.run("delete", &payload).json["message"],
        "Instance not present"
    );
    assert_eq!(
        harness.run("stop", &payload).json["message"],
        "Instance not present"
    );
    let gone = harness.run("status", &payload);
    gone.assert_success();
    assert_eq!(gone.json["power_state"], "unknown");
    assert!(
        harness.sim.vm(TEMPLATE_VMID).is_some(),
        "the template is never touched"
    );
}

#[test]
fn full_clone_sends_storage_and_nic_layout_follows_the_instance() {
    let harness = Harness::start();
    let mut payload = harness.payload("web-1");
    set_vm_detail(&mut payload, "is_full_clone", "true");
    set_vm_detail(&mut payload, "storage", "local-lvm");
    let vm = payload.vm.as_mut().unwrap();
    vm.cpus = 4;
    vm.min_ram = 3 * 1024 * 1024 * 1024;
    vm.nics.push(Nic {
        uuid: "second".into(),
        device_id: 1,
        mac: Some(mac_for("web-1", 1)),
        broadcast_uri: Some("vlan://untagged".into()),
        ..Nic::default()
    });
    harness.run("create", &payload).assert_success();

    let vm = harness.vm_named("web-1");
    assert_eq!(vm.cloned_from, Some((TEMPLATE_VMID, CloneKind::Full)));
    assert_eq!(
        vm.config["scsi0"],
        format!("local-lvm:vm-{}-disk-0,iothread=1,size=32G", vm.vmid)
    );
    assert_eq!((vm.cpus(), vm.memory_mib()), (4, 3072));
    assert_eq!(
        vm.config["net1"],
        format!("virtio={},bridge=vmbr0,firewall=0", mac_for("web-1", 1))
    );
    let clone_request = harness
        .sim
        .requests()
        .into_iter()
        .find(|request| request.path.ends_with("/clone"))
        .unwrap();
    assert_eq!(
        (
            clone_request.params["full"].as_str(),
            clone_request.params["storage"].as_str()
        ),
        ("1", "local-lvm")
    );

    // Without NICs, the template's net0 is removed rather than left with a foreign MAC.
    let mut bare = harness.payload("web-2");
    bare.vm.as_mut().unwrap().nics.clear();
    harness.run("create", &bare).assert_success();
    let bare_vm = harness.vm_named("web-2");
    assert!(!bare_vm.config.contains_key("net0"), "{:?}", bare_vm.config);
}

#[test]
fn install_from_iso() {
    let harness = Harness::start();
    let mut payload = harness.payload("installer");
    set_vm_detail(&mut payload, "template_type", "ISO");
    set_vm_detail(
        &mut payload,
        "iso_path",
        "local:iso/debian-12.7.0-amd64-netinst.iso",
    );
    set_vm_detail(&mut payload, "iso_os_type", "l26");
    set_vm_detail(&mut payload, "disk_size_gb", "20");
    let created = harness.run("create", &payload);
    created.assert_success();
    let vm = harness.vm_named("installer");
    assert_eq!(vm.cloned_from, None);
    assert_eq!(
        vm.config["ide2"],
        "local:iso/debian-12.7.0-amd64-netinst.iso,media=cdrom"
    );
    assert_eq!(
        vm.config["scsi0"],
        format!("local-lvm:vm-{}-disk-0,iothread=on,size=20G", vm.vmid)
    );
    assert_eq!(vm.config["ostype"], "l26");
    assert_eq!(vm.config["scsihw"], "virtio-scsi-single");
    assert_eq!((vm.cpus(), vm.memory_mib()), (2, 1024));
    assert!(vm.config["net0"].contains("tag=100"));
    assert_eq!(vm.status, PowerStatus::Running);

    // `iso` is accepted as another name for `iso_path`.
    let mut other = harness.payload("installer-2");
    set_vm_detail(&mut other, "template_type", "iso");
    set_vm_detail(
        &mut other,
        "iso",
        "local:iso/ubuntu-24.04-live-server-amd64.iso",
    );
    harness.run("create", &other).assert_success();
    assert!(harness.vm_named("installer-2").config["scsi0"].ends_with("size=64G"));
}

#[test]
fn plain_http_and_extension_level_details() {
    let harness = Harness::with(SimConfig {
        tls: false,
        ..SimConfig::default()
    });
    let mut payload = harness.payload("plain-1");
    // Connection details at extension level, node and bridge at host level.
    let details = payload.externaldetails.as_mut().unwrap();
    let host = details.host.take().unwrap();
    let (extension, host): (
        std::collections::BTreeMap<_, _>,
        std::collections::BTreeMap<_, _>,
    ) = host
        .into_iter()
        .partition(|(key, _)| ["url", "user", "token", "secret"].contains(&key.as_str()));
    details.extension = Some(extension);
    details.host = Some(host);
    assert!(harness.sim.base_url().starts_with("http://"));
    harness.run("create", &payload).assert_success();
    assert_eq!(harness.vm_named("plain-1").status, PowerStatus::Running);

    // Host level wins over extension level.
    let mut overridden = harness.payload("plain-2");
    let details = overridden.externaldetails.as_mut().unwrap();
    let mut wrong = details.host.clone().unwrap();
    wrong.insert("secret".into(), "wrong".into());
    details.extension = Some(wrong);
    harness.run("create", &overridden).assert_success();
}

#[test]
fn actions_are_matched_case_insensitively_and_find_the_vm_without_a_hint() {
    let harness = Harness::start();
    let payload = harness.payload("caps");
    harness.run("CREATE", &payload).assert_success();
    harness.run("Stop", &payload).assert_success();
    assert_eq!(harness.vm_named("caps").status, PowerStatus::Stopped);
    harness.run("START", &payload).assert_success();
    assert_eq!(harness.vm_named("caps").status, PowerStatus::Running);
    assert_eq!(
        harness.run("Status", &payload).json["power_state"],
        "poweron"
    );
}

#[test]
fn a_stale_vmid_hint_never_touches_someone_elses_vm() {
    let harness = Harness::start();
    let (first, _) = harness.deploy("owner");
    first.assert_success();
    let owner = harness.vm_named("owner");

    // Another instance whose hint points at the owner's VM (as after a VMID race).
    let mut other = harness.payload("other");
    set_host_detail(&mut other, "network_bridge", "vmbr0");
    other
        .vm
        .as_mut()
        .unwrap()
        .details
        .insert("proxmox_vmid".into(), owner.vmid.to_string());
    harness.run("create", &other).assert_success();
    let other_vm = harness.vm_named("other");
    assert_ne!(other_vm.vmid, owner.vmid);

    harness.run("stop", &other).assert_success();
    assert_eq!(harness.vm_named("other").status, PowerStatus::Stopped);
    assert_eq!(harness.vm_named("owner").status, PowerStatus::Running);
    harness.run("delete", &other).assert_success();
    assert!(harness.sim.vms_named("other").is_empty());
    assert!(
        harness.sim.vm(owner.vmid).is_some(),
        "the owner's vm survives"
    );
}

#[test]
fn statuses_reports_every_vm_of_the_node_by_name() {
    let harness = Harness::start();
    harness.deploy("alpha").0.assert_success();
    harness.deploy("beta").0.assert_success();
    let beta = harness.vm_named("beta");
    assert!(harness.sim.set_power(beta.vmid, PowerStatus::Stopped));
    let mut unnamed = Vm::new(4242, "pve1");
    unnamed.status = PowerStatus::Running;
    harness.sim.insert_vm(unnamed);

    let outcome = harness.run("statuses", &harness.payload("alpha"));
    outcome.assert_success();
    let reported = parse_statuses_output(&outcome.json.to_string()).unwrap();
    assert_eq!(reported.get("alpha"), Some(&PowerState::PowerOn));
    assert_eq!(reported.get("beta"), Some(&PowerState::PowerOff));
    assert_eq!(
        reported.get("4242"),
        Some(&PowerState::PowerOn),
        "unnamed vms are keyed by vmid"
    );
    assert_eq!(reported.len(), 3);
}

#[test]
fn console_host_detail_overrides_the_node_address() {
    let harness = Harness::start();
    let (created, mut payload) = harness.deploy("console");
    created.assert_success();
    set_host_detail(&mut payload, "console_host", "pve1.example.org");
    let console = harness.run("getconsole", &payload);
    console.assert_success();
    assert_eq!(console.json["console"]["host"], "pve1.example.org");
}

#[test]
fn template_id_must_name_a_proxmox_template() {
    let harness = Harness::start();
    let (first, _) = harness.deploy("owner");
    first.assert_success();
    let owner = harness.vm_named("owner");
    let vms_before = harness.sim.vms().len();

    // Another tenant's instance asks for a full clone of the owner's running VM.
    let mut thief = harness.payload("thief");
    set_vm_detail(&mut thief, "template_id", &owner.vmid.to_string());
    set_vm_detail(&mut thief, "is_full_clone", "true");
    let refused = harness.run("create", &thief);
    refused.assert_failure(3, "config");
    assert!(
        refused
            .error()
            .contains(&format!("template_id {} is not a template", owner.vmid)),
        "{}",
        refused.json
    );
    assert!(harness.sim.vms_named("thief").is_empty());
    assert_eq!(harness.sim.vms().len(), vms_before, "nothing was cloned");
    assert!(
        !harness
            .sim
            .requests()
            .iter()
            .any(|r| r.path.ends_with(&format!("/qemu/{}/clone", owner.vmid))),
        "no clone of the owner's vm was even asked for"
    );

    // The real template still clones.
    let mut fine = harness.payload("fine");
    set_vm_detail(&mut fine, "template_id", &TEMPLATE_VMID.to_string());
    harness.run("create", &fine).assert_success();
    assert_eq!(harness.sim.vms_named("fine").len(), 1);
}
