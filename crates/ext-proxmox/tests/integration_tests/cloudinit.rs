//! SSH keys and user data: keys reach the VM's cloud-init configuration (drive, URL-encoded
//! `sshkeys`, `ciuser`) at create and, when they changed, before a start; user data is reported
//! as not delivered, never dropped silently.

use super::harness::{merge_prepare, set_host_detail, set_vm_detail, Harness};
use trellis_sim_proxmox::PowerStatus;

const KEY_1: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";
const KEY_2: &str = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7+/x=";

fn with_keys(payload: &mut trellis_ext_protocol::Payload, keys: &str) {
    let vm = payload.vm.as_mut().expect("a vm");
    vm.details.insert("SSH.PublicKey".into(), keys.into());
    vm.details.insert("SSH.KeyPairNames".into(), "k".into());
}

#[test]
fn keys_reach_cloud_init_at_create_and_again_at_start_when_changed() {
    let harness = Harness::start();
    let mut payload = harness.payload("i-2-20-VM");
    with_keys(&mut payload, &format!("{KEY_1}\n{KEY_2}\n"));
    set_host_detail(&mut payload, "cloudinit_user", "ubuntu");
    let prepared = harness.run("prepare", &payload);
    merge_prepare(&mut payload, &prepared.json);
    let created = harness.run("create", &payload);
    created.assert_success();
    assert!(created.stderr.is_empty(), "{}", created.stderr);
    assert_eq!(created.json["cloudinit"]["ssh_keys"], 2);
    assert_eq!(created.json["cloudinit"]["user"], "ubuntu");
    assert!(created.json.get("warnings").is_none(), "{}", created.json);
    let vm = harness.vm_named("i-2-20-VM");
    assert_eq!(vm.status, PowerStatus::Running);
    assert_eq!(
        vm.cloudinit_drive(),
        Some(("ide2", "local-lvm:vm-100-cloudinit,media=cdrom"))
    );
    assert_eq!(
        vm.config["sshkeys"],
        "ssh-ed25519%20AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl%0Assh-rsa%20AAAAB3NzaC1yc2EAAAADAQABAAABAQC7%2B%2Fx%3D"
    );
    assert_eq!(vm.config["ciuser"], "ubuntu");

    // Stop, reset the keys (the server does this for stopped instances), start.
    harness.run("stop", &payload).assert_success();
    with_keys(&mut payload, KEY_2);
    harness.sim.clear_requests();
    harness.run("start", &payload).assert_success();
    let vm = harness.vm_named("i-2-20-VM");
    assert_eq!(vm.ssh_keys().as_deref(), Some(KEY_2));
    assert_eq!(vm.status, PowerStatus::Running);
    let requests = harness.sim.requests();
    let config = requests
        .iter()
        .find(|request| request.method == "POST" && request.path.ends_with("/config"))
        .expect("the keys are updated before the start");
    assert!(
        !config.params.contains_key("ide2"),
        "the drive is not attached twice"
    );
    assert!(
        !config.params.contains_key("ciuser"),
        "an unchanged user is not sent"
    );

    // Unchanged keys: no configuration call before the next start.
    harness.run("stop", &payload).assert_success();
    harness.sim.clear_requests();
    harness.run("start", &payload).assert_success();
    assert!(!harness
        .sim
        .requests()
        .iter()
        .any(|request| request.path.ends_with("/config") && request.method == "POST"));
}

#[test]
fn user_data_is_reported_as_not_delivered_and_keys_still_are() {
    let harness = Harness::start();
    let mut payload = harness.payload("i-2-21-VM");
    with_keys(&mut payload, KEY_1);
    payload.vm.as_mut().unwrap().user_data = Some("I2Nsb3VkLWNvbmZpZwo=".into());
    set_vm_detail(&mut payload, "cloudinit_storage", "local-lvm");
    let prepared = harness.run("prepare", &payload);
    merge_prepare(&mut payload, &prepared.json);
    let created = harness.run("create", &payload);
    created.assert_success();
    assert_eq!(created.json["cloudinit"]["user_data"], "not delivered");
    let warning = created.json["warnings"][0].as_str().unwrap();
    assert!(
        warning.starts_with("the user data was not delivered to the guest"),
        "{warning}"
    );
    assert_eq!(
        created.stderr.trim(),
        format!("trellis-proxmox: warning: {warning}")
    );
    let vm = harness.vm_named("i-2-21-VM");
    assert_eq!(vm.ssh_keys().as_deref(), Some(KEY_1));
    assert!(!vm.config.contains_key("cicustom"));
}

#[test]
fn an_iso_install_reports_keys_as_not_delivered() {
    let harness = Harness::start();
    let mut payload = harness.payload("i-2-22-VM");
    set_vm_detail(&mut payload, "template_type", "iso");
    set_vm_detail(
        &mut payload,
        "iso_path",
        "local:iso/debian-12.7.0-amd64-netinst.iso",
    );
    with_keys(&mut payload, KEY_1);
    let created = harness.run("create", &payload);
    created.assert_success();
    assert_eq!(created.json["cloudinit"]["delivered"], false);
    assert!(created.json["warnings"][0]
        .as_str()
        .unwrap()
        .starts_with("the ssh keys were not delivered"));
    let vm = harness.vm_named("i-2-22-VM");
    assert!(vm.cloudinit_drive().is_none());
    assert!(!vm.config.contains_key("sshkeys"));
}

#[test]
fn a_template_with_a_cloud_init_drive_keeps_its_slot() {
    let harness = Harness::start();
    let mut template = harness.sim.vm(9000).unwrap();
    template.config.insert(
        "ide0".into(),
        "local-lvm:vm-9000-cloudinit,media=cdrom".into(),
    );
    harness.sim.insert_vm(template);
    let mut payload = harness.payload("i-2-23-VM");
    with_keys(&mut payload, KEY_1);
    harness.run("create", &payload).assert_success();
    let vm = harness.vm_named("i-2-23-VM");
    assert_eq!(
        vm.cloudinit_drive(),
        Some(("ide0", "local-lvm:vm-100-cloudinit,media=cdrom"))
    );
    assert!(!vm.config.contains_key("ide2"));
    assert_eq!(vm.ssh_keys().as_deref(), Some(KEY_1));
}
