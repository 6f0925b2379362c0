//! The cloud-init NoCloud seed against real QEMU: what `create` writes (read back with `fatfs`,
//! and with `blkid` when installed), that QEMU has it attached read-only, that `start` rewrites it
//! only when the payload changed, and that bad user data leaves nothing behind.

use super::harness::{new_uuid, payload, with_parameters, Harness};
use crate::require_qemu;
use base64::Engine as _;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::{Cursor, Read};
use std::path::Path;
use std::time::Duration;
use trellis_ext_local::machine::{self, find_qemu_of};
use trellis_ext_local::settings::find_program;

const KEY_ONE: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFRyZWxsaXNUZXN0S2V5T25lAAAAAAAAAAAA";
const KEY_TWO: &str = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQDTrellisTestKeyTwo+/==";

fn encode(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A light VM (TCG, isolated network) with the given keys and user data.
fn seeded(name: &str, uuid: &str, keys: &str, user_data: Option<&[u8]>) -> Value {
    let mut vm = payload(name, uuid);
    vm["externaldetails"]["host"] = json!({"accel": "tcg", "network": "isolated"});
    vm["cloudstack.vm.details"]["details"]["SSH.PublicKey"] = keys.into();
    vm["cloudstack.vm.details"]["details"]["SSH.KeyPairNames"] = "one,two".into();
    if let Some(user_data) = user_data {
        vm["cloudstack.vm.details"]["userData"] = encode(user_data).into();
    }
    vm
}

/// The volume label (boot sector and root directory) and the files of a seed image.
fn read_seed(path: &Path) -> (String, Option<String>, BTreeMap<String, Vec<u8>>) {
    let image = std::fs::read(path).expect("the seed image");
    let filesystem = fatfs::FileSystem::new(Cursor::new(image), fatfs::FsOptions::new())
        .expect("a FAT file system");
    let label = filesystem.volume_label();
    let root_label = filesystem.read_volume_label_from_root_dir().unwrap();
    let mut files = BTreeMap::new();
    for entry in filesystem.root_dir().iter() {
        let entry = entry.unwrap();
        let mut bytes = Vec::new();
        entry.to_file().read_to_end(&mut bytes).unwrap();
        files.insert(entry.file_name(), bytes);
    }
    (label, root_label, files)
}

/// QEMU's block devices by id, from `query-block`.
fn blocks(harness: &Harness, name: &str) -> BTreeMap<String, Value> {
    let list = harness
        .qmp(name)
        .execute("query-block", None, Duration::from_secs(5))
        .unwrap();
    list.as_array()
        .unwrap()
        .iter()
        .map(|block| (block["device"].as_str().unwrap().to_string(), block.clone()))
        .collect()
}

#[test]
fn create_writes_a_cidata_seed_and_attaches_it_read_only() {
    require_qemu!();
    let harness = Harness::new();
    let uuid = new_uuid();
    let name = "i-5-1-VM";
    let user_data = b"#cloud-config\npackages: [htop]\nruncmd:\n  - echo 'hello: world' > /tmp/x\n";
    let vm = seeded(
        name,
        &uuid,
        &format!("{KEY_ONE}\n{KEY_TWO}"),
        Some(user_data),
    );
    let created = harness.run("create", &vm).ok();
    assert_eq!(
        created["seed"], "cloud-init seed with 2 ssh keys and user data",
        "{created}"
    );

    let seed = harness.machine(name).path(machine::SEED_FILE);
    let (label, root_label, files) = read_seed(&seed);
    assert_eq!(label, "CIDATA");
    assert_eq!(root_label.as_deref(), Some("CIDATA"));
    assert_eq!(files.keys().collect::<Vec<_>>(), ["meta-data", "user-data"]);
    assert_eq!(
        String::from_utf8(files["meta-data"].clone()).unwrap(),
        format!(
            "instance-id: \"{uuid}\"\nlocal-hostname: \"{name}\"\npublic-keys:\n  - \"{KEY_ONE}\"\n  - \"{KEY_TWO}\"\n"
        )
    );
    assert_eq!(files["user-data"], user_data, "user data verbatim");

    // blkid, as cloud-init's ds-identify uses it, sees a vfat volume labelled CIDATA
    let search = format!(
        "{}:/sbin:/usr/sbin",
        std::env::var("PATH").unwrap_or_default()
    );
    if let Some(blkid) = find_program("blkid", &search) {
        let output = std::process::Command::new(blkid)
            .args(["-c", "/dev/null", "-o", "export"])
            .arg(&seed)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&output.stdout);
        assert!(text.contains("LABEL=CIDATA"), "{text}");
        assert!(text.contains("TYPE=vfat"), "{text}");
    }

    // QEMU has the seed as a second, read-only, raw disk; the boot disk stays writable
    let attached = blocks(&harness, name);
    let seed_block = &attached["seed0"]["inserted"];
    assert_eq!(seed_block["ro"], true, "{seed_block}");
    assert_eq!(seed_block["drv"], "raw");
    assert_eq!(seed_block["file"], seed.to_str().unwrap());
    assert_eq!(attached["disk0"]["inserted"]["ro"], false);
    let pid = find_qemu_of(&uuid).unwrap();
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    let arguments: Vec<String> = cmdline
        .split(|byte| *byte == 0)
        .map(|part| String::from_utf8_lossy(part).into_owned())
        .collect();
    assert!(arguments.contains(&"virtio-blk-pci,drive=seed0".to_string()));

    // a snapshot with memory still works: read-only disks are left out of it
    let snapshot = with_parameters(vm.clone(), json!({"snap_name": "seeded"}));
    let made = harness.run("CreateSnapshot", &snapshot).ok();
    assert!(made["message"]
        .as_str()
        .unwrap()
        .contains("disk and memory"));

    // start rewrites the seed only when the payload changed it
    harness.run("stop", &vm).ok();
    let modified = std::fs::metadata(&seed).unwrap().modified().unwrap();
    harness.run("start", &vm).ok();
    assert_eq!(
        std::fs::metadata(&seed).unwrap().modified().unwrap(),
        modified,
        "an unchanged seed is not rewritten"
    );
    harness.run("stop", &vm).ok();
    let changed = seeded(name, &uuid, KEY_ONE, Some(b"#!/bin/sh\necho changed\n"));
    harness.run("start", &changed).ok();
    let (_, _, files) = read_seed(&seed);
    assert_eq!(files["user-data"], b"#!/bin/sh\necho changed\n");
    assert!(String::from_utf8(files["meta-data"].clone())
        .unwrap()
        .ends_with(&format!("public-keys:\n  - \"{KEY_ONE}\"\n")));
    assert_eq!(blocks(&harness, name)["seed0"]["inserted"]["ro"], true);

    // delete takes the seed with the VM
    harness.run("delete", &vm).ok();
    assert!(!seed.exists());
    assert!(!harness.machine(name).dir.exists());
}

#[test]
fn keys_alone_get_a_minimal_cloud_config_and_no_keys_no_seed() {
    require_qemu!();
    let harness = Harness::new();
    let uuid = new_uuid();
    let name = "i-5-2-VM";
    let vm = seeded(name, &uuid, &format!("{KEY_ONE}\n"), None);
    harness.run("create", &vm).ok();
    let (_, _, files) = read_seed(&harness.machine(name).path(machine::SEED_FILE));
    assert_eq!(
        String::from_utf8(files["user-data"].clone()).unwrap(),
        format!("#cloud-config\nssh_authorized_keys:\n  - \"{KEY_ONE}\"\n")
    );
    harness.run("delete", &vm).ok();

    let plain_name = "i-5-3-VM";
    let mut plain = payload(plain_name, &new_uuid());
    plain["externaldetails"]["host"] = json!({"accel": "tcg", "network": "isolated"});
    let created = harness.run("create", &plain).ok();
    assert!(created.get("seed").is_none(), "{created}");
    assert!(!harness
        .machine(plain_name)
        .path(machine::SEED_FILE)
        .exists());
    assert!(!blocks(&harness, plain_name).contains_key("seed0"));
    harness.run("delete", &plain).ok();
}

#[test]
fn user_data_that_is_not_base64_fails_create_and_leaves_nothing() {
    require_qemu!();
    let harness = Harness::new();
    let uuid = new_uuid();
    let name = "i-5-4-VM";
    let mut vm = seeded(name, &uuid, KEY_ONE, None);
    vm["cloudstack.vm.details"]["userData"] = "#cloud-config not base64!".into();
    let outcome = harness.run("create", &vm);
    assert_eq!(outcome.code, 2, "{outcome:?}");
    assert_eq!(outcome.stdout["status"], "error");
    assert_eq!(outcome.stdout["kind"], "usage");
    assert!(
        outcome
            .error()
            .contains("the user data (cloudstack.vm.details.userData) is not valid base64"),
        "{outcome:?}"
    );
    assert_eq!(find_qemu_of(&uuid), None);
    assert!(!harness.machine(name).dir.exists(), "nothing left behind");
}
