//! The lifecycle against real QEMU: create, status, stop, start, snapshots, reboot, console,
//! statuses, delete; finding running VMs again after the invoking process is gone.

use super::harness::{new_uuid, payload, wait_for, with_parameters, Harness};
use crate::require_qemu;
use serde_json::{json, Value};
use std::io::Read;
use std::time::Duration;
use trellis_ext_local::machine::{self, find_qemu_of};

#[test]
fn full_lifecycle_against_real_qemu() {
    require_qemu!();
    let harness = Harness::new();
    let uuid = new_uuid();
    let name = "i-2-10-VM";
    let vm = payload(name, &uuid);
    let mac = vm["cloudstack.vm.details"]["nics"][0]["mac"]
        .as_str()
        .unwrap()
        .to_string();

    let created = harness.run("create", &vm).ok();
    assert_eq!(created["status"], "success");
    let accel = created["accel"].as_str().unwrap().to_string();
    assert!(accel == "kvm" || accel == "tcg", "{created}");
    assert_eq!(created["disk"], "blank, 1 GiB");
    let disk = harness.machine(name).path(machine::DISK_FILE);
    assert!(disk.is_file());

    // status agrees with what QEMU itself says
    let status = harness.run("status", &vm).ok();
    assert_eq!(status["power_state"], "poweron", "{status}");
    assert_eq!(status["qemu_status"], "running");
    assert_eq!(status["accel"], accel.as_str());
    assert_eq!(harness.qemu_status(name), "running");
    let pid = find_qemu_of(&uuid).expect("a qemu process");

    // the NIC carries the instance's MAC address, memory and CPUs as asked
    let mut qmp = harness.qmp(name);
    let filters = qmp
        .execute("query-rx-filter", None, Duration::from_secs(5))
        .unwrap();
    assert_eq!(filters[0]["main-mac"], mac.as_str());
    let memory = qmp
        .execute("query-memory-size-summary", None, Duration::from_secs(5))
        .unwrap();
    assert_eq!(memory["base-memory"], 64 * 1024 * 1024);
    let cpus = qmp
        .execute("query-cpus-fast", None, Duration::from_secs(5))
        .unwrap();
    assert_eq!(cpus.as_array().unwrap().len(), 1);
    drop(qmp);

    // stop: the firmware ignores the ACPI button, so QEMU quits after the grace period
    let stopped = harness.run("stop", &vm).ok();
    assert!(
        stopped["message"].as_str().unwrap().contains("stopped"),
        "{stopped}"
    );
    assert_eq!(find_qemu_of(&uuid), None, "no qemu after stop");
    assert_eq!(harness.run("status", &vm).ok()["power_state"], "poweroff");
    assert!(disk.is_file(), "stop keeps the disk");
    let again = harness.run("stop", &vm).ok();
    assert!(again["message"]
        .as_str()
        .unwrap()
        .contains("already stopped"));

    // start
    harness.run("start", &vm).ok();
    assert_eq!(harness.run("status", &vm).ok()["power_state"], "poweron");
    assert_eq!(harness.qemu_status(name), "running");
    assert_ne!(find_qemu_of(&uuid), Some(pid), "a new process");

    // snapshot of the running VM holds memory state
    let snap = with_parameters(vm.clone(), json!({"snap_name": "before-reboot"}));
    let made = harness.run("CreateSnapshot", &snap).ok();
    assert!(
        made["message"]
            .as_str()
            .unwrap()
            .contains("disk and memory"),
        "{made}"
    );
    let listed = harness.run("ListSnapshots", &vm).ok();
    assert_eq!(listed["printmessage"], "true");
    let rows = listed["message"].as_array().unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["name"], "before-reboot");
    assert_eq!(rows[0]["vmstate"], "yes");
    assert_eq!(
        harness.qemu_status(name),
        "running",
        "savevm resumes the vm"
    );

    // reboot
    let rebooted = harness.run("reboot", &vm).ok();
    assert!(rebooted["message"].as_str().unwrap().contains("reset"));
    assert_eq!(harness.qemu_status(name), "running");

    // restore while running (memory snapshot)
    harness.run("RestoreSnapshot", &snap).ok();
    assert_eq!(harness.qemu_status(name), "running");

    // console: a VNC server on loopback with the instance's password (first 8 characters)
    let console = harness.run("getconsole", &vm).ok();
    let parsed =
        trellis_ext_protocol::parse_console_output(&console.to_string()).expect("usable console");
    assert_eq!(parsed.host.as_deref(), Some("127.0.0.1"));
    assert_eq!(parsed.protocol.as_deref(), Some("vnc"));
    assert_eq!(parsed.password.as_deref(), Some("01234567"));
    let port = parsed.port.as_ref().and_then(Value::as_u64).unwrap();
    assert!((5900..=5999).contains(&port), "{port}");
    let mut vnc = std::net::TcpStream::connect(("127.0.0.1", port as u16)).unwrap();
    vnc.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut banner = [0u8; 12];
    vnc.read_exact(&mut banner).unwrap();
    assert!(banner.starts_with(b"RFB "), "{banner:?}");
    drop(vnc);

    // statuses reports it by name
    let statuses = harness.run("statuses", &json!({})).ok();
    assert_eq!(statuses["power_state"][name], "poweron");

    // delete: no process, no disk, no directory
    harness.run("DeleteSnapshot", &snap).ok();
    let deleted = harness.run("delete", &vm).ok();
    assert!(deleted["message"].as_str().unwrap().contains("deleted"));
    assert_eq!(find_qemu_of(&uuid), None, "no qemu after delete");
    assert!(!disk.exists());
    assert!(!harness.machine(name).dir.exists());
    let gone = harness.run("status", &vm).ok();
    assert_eq!(gone["power_state"], "unknown", "{gone}");
    assert_eq!(
        harness.run("statuses", &json!({})).ok()["power_state"],
        json!({})
    );
    // delete is idempotent
    harness.run("delete", &vm).ok();
}

#[test]
fn a_running_vm_outlives_its_invoker_and_is_found_again_by_its_socket() {
    require_qemu!();
    let harness = Harness::new();
    let uuid = new_uuid();
    let name = "i-2-11-VM";
    let vm = payload(name, &uuid);
    // The harness kills the extension's whole process group after each run, as the runner does.
    harness.run("create", &vm).ok();
    let pid = find_qemu_of(&uuid).expect("qemu survives the group kill");
    assert_eq!(harness.qemu_status(name), "running");

    // A restarted management server runs fresh processes; lose the pidfile too.
    std::fs::remove_file(harness.machine(name).path(machine::PID_FILE)).unwrap();
    let status = harness.run("status", &vm).ok();
    assert_eq!(status["power_state"], "poweron", "{status}");
    assert_eq!(status["qemu_status"], "running");
    let started = harness.run("start", &vm).ok();
    assert!(
        started["message"]
            .as_str()
            .unwrap()
            .contains("already runs"),
        "{started}"
    );
    let created = harness.run("create", &vm).ok();
    assert!(
        created["message"]
            .as_str()
            .unwrap()
            .contains("already exists"),
        "{created}"
    );
    assert_eq!(
        find_qemu_of(&uuid),
        Some(pid),
        "neither restarted nor doubled"
    );
    let expected = json!({"virtualmachines": {name: uuid, "i-9-99-VM": new_uuid()}});
    let statuses = harness.run("statuses", &expected).ok();
    assert_eq!(statuses["power_state"], json!({name: "poweron"}));

    // stop still works without the pidfile
    harness.run("stop", &vm).ok();
    wait_for(Duration::from_secs(10), "qemu to exit", || {
        find_qemu_of(&uuid).is_none().then_some(())
    });
    harness.run("delete", &vm).ok();
}

#[test]
fn snapshots_of_a_stopped_vm_use_the_disk() {
    require_qemu!();
    let harness = Harness::new();
    let uuid = new_uuid();
    let name = "i-2-12-VM";
    let vm = payload(name, &uuid);
    harness.run("create", &vm).ok();
    let disk_only = with_parameters(vm.clone(), json!({"snap_name": "cold"}));
    let warm = with_parameters(vm.clone(), json!({"snap_name": "warm"}));
    harness.run("CreateSnapshot", &warm).ok();
    harness.run("stop", &vm).ok();

    let made = harness.run("CreateSnapshot", &disk_only).ok();
    assert!(made["message"].as_str().unwrap().contains("disk only"));
    let duplicate = harness.run("CreateSnapshot", &disk_only);
    assert_eq!(duplicate.code, 1);
    assert!(
        duplicate.error().contains("already exists"),
        "{duplicate:?}"
    );
    let rows = harness.run("ListSnapshots", &vm).ok()["message"].clone();
    let names: Vec<&str> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["warm", "cold"]);
    assert_eq!(rows[1]["vmstate"], "no");
    harness.run("RestoreSnapshot", &disk_only).ok();
    assert_eq!(harness.run("status", &vm).ok()["power_state"], "poweroff");

    // a disk-only snapshot cannot be restored under a running VM
    harness.run("start", &vm).ok();
    let refused = harness.run("RestoreSnapshot", &disk_only);
    assert_eq!(refused.code, 1);
    assert!(
        refused.error().contains("holds no memory state"),
        "{refused:?}"
    );
    harness.run("DeleteSnapshot", &disk_only).ok();
    harness.run("DeleteSnapshot", &warm).ok();
    assert_eq!(harness.run("ListSnapshots", &vm).ok()["message"], json!([]));
    let missing = harness.run("DeleteSnapshot", &warm);
    assert_eq!(missing.code, 1);
    assert!(missing.error().contains("no snapshot named warm"));
    let unnamed = harness.run("CreateSnapshot", &vm);
    assert_eq!(unnamed.code, 2);
    let bad = harness.run(
        "CreateSnapshot",
        &with_parameters(vm.clone(), json!({"snap_name": "x; quit"})),
    );
    assert_eq!(bad.code, 2, "{bad:?}");
    assert_eq!(harness.qemu_status(name), "running");
    harness.run("delete", &vm).ok();
}

#[test]
fn the_disk_is_an_overlay_on_the_template_image() {
    require_qemu!();
    let harness = Harness::new();
    let images = harness.state_dir.join("images");
    std::fs::create_dir_all(&images).unwrap();
    let base = images.join("base.qcow2");
    let status = std::process::Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2"])
        .arg(&base)
        .arg("64M")
        .status()
        .unwrap();
    assert!(status.success());
    let uuid = new_uuid();
    let name = "i-2-13-VM";
    let mut vm = payload(name, &uuid);
    vm["externaldetails"]["virtualmachine"] = json!({"image": "base.qcow2", "disk_size_gb": "2"});
    vm["externaldetails"]["host"] = json!({"accel": "tcg", "network": "isolated"});
    let created = harness.run("create", &vm).ok();
    assert_eq!(created["accel"], "tcg");
    assert!(created["disk"].as_str().unwrap().starts_with("overlay on "));
    let info = std::process::Command::new("qemu-img")
        .args(["info", "-U", "--output=json"])
        .arg(harness.machine(name).path(machine::DISK_FILE))
        .output()
        .unwrap();
    let info: Value = serde_json::from_slice(&info.stdout).unwrap();
    assert_eq!(
        info["backing-filename"],
        base.canonicalize().unwrap().to_str().unwrap()
    );
    assert_eq!(info["virtual-size"], 2u64 << 30);
    let mut qmp = harness.qmp(name);
    let network = qmp.hmp("info network", Duration::from_secs(5)).unwrap();
    assert!(network.contains("restrict=on"), "{network}");
    drop(qmp);
    harness.run("delete", &vm).ok();
    assert!(base.is_file(), "the base image stays");
}

#[test]
fn long_state_directories_use_relative_socket_paths() {
    require_qemu!();
    let harness = Harness::with_long_state_dir();
    let uuid = new_uuid();
    let name = "i-2-14-VM";
    let vm = payload(name, &uuid);
    assert!(
        harness
            .machine(name)
            .path(machine::QMP_SOCKET)
            .as_os_str()
            .len()
            > 108
    );
    harness.run("create", &vm).ok();
    let status = harness.run("status", &vm).ok();
    assert_eq!(status["power_state"], "poweron", "{status}");
    assert_eq!(status["qemu_status"], "running");
    harness.run("stop", &vm).ok();
    assert_eq!(harness.run("status", &vm).ok()["power_state"], "poweroff");
    harness.run("delete", &vm).ok();
    assert_eq!(find_qemu_of(&uuid), None);
}

#[test]
fn concurrent_creates_of_several_vms() {
    require_qemu!();
    let harness = Harness::new();
    let vms: Vec<(String, Value)> = (0..3)
        .map(|index| {
            let name = format!("i-3-{index}-VM");
            let vm = payload(&name, &new_uuid());
            (name, vm)
        })
        .collect();
    std::thread::scope(|scope| {
        for (_, vm) in &vms {
            let harness = &harness;
            scope.spawn(move || harness.run("create", vm).ok());
        }
    });
    let statuses = harness.run("statuses", &json!({})).ok();
    for (name, _) in &vms {
        assert_eq!(statuses["power_state"][name], "poweron", "{statuses}");
    }
    let ports: std::collections::BTreeSet<u64> = vms
        .iter()
        .map(|(_, vm)| {
            harness.run("getconsole", vm).ok()["console"]["port"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(ports.len(), 3, "each vm has its own vnc port");
    std::thread::scope(|scope| {
        for (_, vm) in &vms {
            let harness = &harness;
            scope.spawn(move || harness.run("delete", vm).ok());
        }
    });
    assert_eq!(
        harness.run("statuses", &json!({})).ok()["power_state"],
        json!({})
    );
}

#[test]
fn a_hanging_kvm_probe_falls_back_to_tcg_and_is_remembered() {
    require_qemu!();
    let harness = Harness::new();
    // A qemu that hangs when it is the probe (the probe boots a -bios image), as KVM can under
    // nested virtualisation; everything else runs the real QEMU.
    let real = trellis_ext_local::settings::find_program(
        "qemu-system-x86_64",
        &std::env::var("PATH").unwrap_or_default(),
    )
    .unwrap();
    let wrapper = harness.root.path().join("qemu-hangs-on-kvm");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nfor a in \"$@\"; do [ \"$a\" = -bios ] && exec sleep 600; done\nexec {} \"$@\"\n",
            real.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        &wrapper,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let kvm_usable = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .is_ok();
    let with_wrapper = |name: &str| {
        let mut vm = payload(name, &new_uuid());
        vm["externaldetails"]["host"] = json!({"qemu_binary": wrapper.to_str().unwrap()});
        vm
    };
    let first = with_wrapper("i-2-15-VM");
    let created = harness.run("create", &first).ok();
    assert_eq!(created["accel"], "tcg", "{created}");
    if kvm_usable {
        assert!(
            created["accel_reason"]
                .as_str()
                .unwrap()
                .contains("did not finish in time"),
            "{created}"
        );
        let second = with_wrapper("i-2-16-VM");
        let started = std::time::Instant::now();
        let created = harness.run("create", &second).ok();
        assert!(
            created["accel_reason"]
                .as_str()
                .unwrap()
                .contains("failed a recent probe"),
            "{created}"
        );
        assert!(started.elapsed() < trellis_ext_local::accel::PROBE_TIMEOUT);
        harness.run("delete", &second).ok();
    }
    assert_eq!(harness.qemu_status("i-2-15-VM"), "running");
    harness.run("delete", &first).ok();
}
