//! Every action in order on one instance, the simulator's machine checked after each step.

use super::{Env, Instance};
use serde_json::json;
use trellis_ext_protocol::exit;
use trellis_sim_maas::{MachineStatus, PowerState, SimConfig};

#[test]
fn full_lifecycle() {
    let env = Env::start(SimConfig {
        machines: 2,
        deploy_polls: 2,
        release_polls: 0,
        power_polls: 1,
        ..SimConfig::default()
    });
    let mut instance = Instance::new(10).detail("distro_series", "noble");
    instance.user_data = Some("I2Nsb3VkLWNvbmZpZwpob3N0bmFtZTogdGVzdAo=".into());

    // prepare: a Ready machine is allocated and tagged with the instance.
    let patch = env.run("prepare", &instance).ok();
    let system_id = patch["details"]["External:maas_system_id"]
        .as_str()
        .expect("system id")
        .to_string();
    let machine = env.machine(&system_id);
    assert_eq!(machine.status, MachineStatus::Allocated);
    assert_eq!(machine.owner_data["trellis_instance_name"], instance.name);
    assert_eq!(machine.owner_data["trellis_instance_uuid"], instance.uuid);
    assert_eq!(
        patch["nics"],
        json!([
            {"uuid": instance.nic_uuids[0], "mac": machine.mac_addresses[0]},
            {"uuid": instance.nic_uuids[1], "mac": machine.mac_addresses[1]},
        ])
    );
    assert_eq!(
        patch["details"]["External:mac_address"],
        machine.mac_addresses[0].as_str()
    );
    assert_eq!(
        patch["details"]["External:hostname"],
        machine.hostname.as_str()
    );
    assert_eq!(
        patch["details"]["External:console_url"],
        format!("{}/r/machine/{system_id}/summary", env.sim.url()).as_str()
    );
    assert_eq!(
        patch.as_object().unwrap().len(),
        2,
        "only nics and details: {patch}"
    );
    instance.apply_prepare(&patch);

    // create: deploy with MAAS's own parameters, then poll until Deployed.
    let created = env.run("create", &instance).ok();
    assert_eq!(created["status"], "success");
    assert_eq!(created["power_state"], "poweron");
    assert_eq!(created["distro_series"], "noble");
    let machine = env.machine(&system_id);
    assert_eq!(
        (machine.status, machine.power_state),
        (MachineStatus::Deployed, PowerState::On)
    );
    assert_eq!(machine.distro_series, "noble");
    assert_eq!(machine.user_data.as_deref(), instance.user_data.as_deref());
    let deploy = env
        .sim
        .requests()
        .into_iter()
        .find(|r| r.op.as_deref() == Some("deploy"))
        .expect("deploy sent");
    assert_eq!(deploy.param("distro_series"), Some("noble"));
    for bogus in ["os", "architecture", "net-setup-method", "userdata"] {
        assert!(
            deploy.param(bogus).is_none(),
            "bogus deploy field {bogus} sent: {deploy:?}"
        );
    }

    // status / statuses
    assert_eq!(env.run("status", &instance).ok()["power_state"], "poweron");
    let statuses = env.run("statuses", &instance).ok();
    assert_eq!(
        statuses["power_state"],
        json!({instance.name.clone(): "poweron"})
    );

    // stop / start: each waits until MAAS reports the new power state.
    assert_eq!(env.run("stop", &instance).ok()["power_state"], "poweroff");
    assert_eq!(env.machine(&system_id).power_state, PowerState::Off);
    assert_eq!(env.run("status", &instance).ok()["power_state"], "poweroff");
    assert_eq!(env.run("start", &instance).ok()["power_state"], "poweron");
    assert_eq!(env.machine(&system_id).power_state, PowerState::On);

    // reboot: a real power cycle, off confirmed before on.
    let before = env.sim.requests().len();
    assert_eq!(env.run("reboot", &instance).ok()["power_state"], "poweron");
    let ops: Vec<String> = env.sim.requests()[before..]
        .iter()
        .filter_map(|r| r.op.clone())
        .collect();
    let off = ops
        .iter()
        .position(|op| op == "power_off")
        .expect("power_off sent");
    let on = ops
        .iter()
        .position(|op| op == "power_on")
        .expect("power_on sent");
    assert!(
        ops[off + 1..on].iter().any(|op| op == "query_power_state"),
        "off not awaited: {ops:?}"
    );
    assert_eq!(env.machine(&system_id).power_state, PowerState::On);

    // getconsole is not supported.
    let console = env.run("getconsole", &instance).failed(exit::UNSUPPORTED);
    assert!(
        console["error"].as_str().unwrap().contains("not supported"),
        "{console}"
    );

    // delete: the machine is released; the next poll completes the release.
    let deleted = env.run("delete", &instance).ok();
    assert_eq!(deleted["status"], "success");
    assert_eq!(env.machine(&system_id).status, MachineStatus::Releasing);
    assert_eq!(env.run("status", &instance).ok()["power_state"], "poweroff");
    let machine = env.wait_for_machine(&system_id, "Ready", |m| m.status == MachineStatus::Ready);
    assert!(machine.owner.is_none() && machine.owner_data.is_empty());
    // Deleting again is harmless.
    assert_eq!(env.run("delete", &instance).ok()["status"], "success");
    assert_eq!(env.machine(&system_id).status, MachineStatus::Ready);
}

#[test]
fn retried_steps_do_not_repeat_work() {
    let env = Env::start(SimConfig {
        machines: 3,
        deploy_polls: 1,
        ..SimConfig::default()
    });
    let mut instance = Instance::new(11);

    // A prepare whose answer was lost is repeated: the same machine comes back.
    let first = env.run("prepare", &instance).ok();
    let second = env.run("prepare", &instance).ok();
    assert_eq!(
        first["details"]["External:maas_system_id"],
        second["details"]["External:maas_system_id"]
    );
    let allocated = env
        .sim
        .machines()
        .iter()
        .filter(|m| m.status == MachineStatus::Allocated)
        .count();
    assert_eq!(allocated, 1);
    instance.apply_prepare(&first);
    let system_id = instance.system_id();
    // And once the system id is known, prepare still answers with the same machine.
    let third = env.run("prepare", &instance).ok();
    assert_eq!(
        third["details"]["External:maas_system_id"],
        system_id.as_str()
    );

    env.run("create", &instance).ok();
    env.run("create", &instance).ok();
    let machine = env.machine(&system_id);
    assert_eq!(
        (machine.status, machine.deploy_count),
        (MachineStatus::Deployed, 1)
    );
}

#[test]
fn a_prepare_whose_answer_was_lost_is_completed_on_retry() {
    let env = Env::start(SimConfig {
        machines: 3,
        ..SimConfig::default()
    });
    let instance = Instance::new(15);
    // MAAS allocates, but the answer never reaches the extension.
    env.sim.lose_next_answer("allocate", 504);
    let lost = env.run("prepare", &instance).failed(exit::UNREACHABLE);
    assert_eq!(lost["http_status"], 504);
    let allocated: Vec<_> = env
        .sim
        .machines()
        .into_iter()
        .filter(|m| m.status == MachineStatus::Allocated)
        .collect();
    assert_eq!(allocated.len(), 1);
    assert!(allocated[0].owner_data.is_empty());
    assert_eq!(
        allocated[0].agent_name,
        format!("trellis-{}", instance.uuid)
    );

    // The retry finds that machine instead of taking a second one, and tags it.
    let patch = env.run("prepare", &instance).ok();
    assert_eq!(
        patch["details"]["External:maas_system_id"],
        allocated[0].system_id.as_str()
    );
    let machine = env.machine(&allocated[0].system_id);
    assert_eq!(machine.owner_data["trellis_instance_uuid"], instance.uuid);
    assert_eq!(
        env.sim
            .machines()
            .iter()
            .filter(|m| m.status == MachineStatus::Allocated)
            .count(),
        1
    );
}

#[test]
fn default_distro_and_settings_from_the_host() {
    let env = Env::start(SimConfig {
        machines: 2,
        deploy_polls: 0,
        ..SimConfig::default()
    });
    let id = env.sim.machines()[1].system_id.clone();
    env.sim.set_tags(&id, &["baremetal", "gpu"]);
    let instance = Instance::new(12);
    // The extension-level key is wrong; the host-level one wins. The host pins tags.
    let extension = json!({"endpoint": env.sim.url(), "apikey": "x:y:z", "poll_interval": "0.01"});
    let host = json!({"apikey": env.sim.api_key(), "tags": "gpu, baremetal"});
    let patch = env
        .run_payload(
            "prepare",
            &env.payload_with(&instance, extension.clone(), host.clone()),
            "60",
            &[],
        )
        .ok();
    assert_eq!(patch["details"]["External:maas_system_id"], id.as_str());
    let mut instance = instance;
    instance.apply_prepare(&patch);
    env.run_payload(
        "create",
        &env.payload_with(&instance, extension, host),
        "60",
        &[],
    )
    .ok();
    let deploy = env
        .sim
        .requests()
        .into_iter()
        .find(|r| r.op.as_deref() == Some("deploy"))
        .unwrap();
    assert_eq!(
        deploy.param("distro_series"),
        None,
        "MAAS chooses the default series"
    );
    assert_eq!(env.machine(&id).distro_series, "jammy");
}

#[test]
fn endpoint_forms() {
    let env = Env::start(SimConfig {
        machines: 1,
        ..SimConfig::default()
    });
    let instance = Instance::new(13);
    let addr = env.sim.addr();
    for endpoint in [
        format!("{addr}"),
        format!("http://{addr}/MAAS/api/2.0/"),
        format!("http://{addr}/MAAS/"),
    ] {
        let extension = json!({"endpoint": endpoint, "apikey": env.sim.api_key()});
        let outcome = env.run_payload(
            "statuses",
            &env.payload_with(&instance, extension, json!({})),
            "30",
            &[],
        );
        assert_eq!(outcome.ok()["status"], "success", "{endpoint}");
    }
}

#[test]
fn statuses_match_owner_data_and_hostnames() {
    let env = Env::start(SimConfig {
        machines: 4,
        deploy_polls: 0,
        ..SimConfig::default()
    });
    let mut a = Instance::new(20);
    let mut b = Instance::new(21);
    for instance in [&mut a, &mut b] {
        let patch = env.run("prepare", instance).ok();
        instance.apply_prepare(&patch);
        env.run("create", instance).ok();
    }
    env.run("stop", &b).ok();
    // A machine named after an instance (set up by hand) is matched by hostname.
    let spare = env
        .sim
        .machines()
        .into_iter()
        .find(|m| m.status == MachineStatus::Ready)
        .unwrap();
    env.sim.set_hostname(&spare.system_id, "i-2-99-VM");

    let mut payload = env.payload(&a);
    payload["virtualmachines"] = json!({
        a.name.clone(): a.uuid.clone(), b.name.clone(): b.uuid.clone(), "i-2-99-VM": "00000000-0000-4000-8000-000000000099"
    });
    let report = env.run_payload("statuses", &payload, "30", &[]).ok();
    assert_eq!(
        report["power_state"],
        json!({a.name.clone(): "poweron", b.name.clone(): "poweroff", "i-2-99-VM": "poweroff"})
    );
    // Without an expected list, every machine tagged by prepare is reported.
    let report = env.run("statuses", &a).ok();
    assert_eq!(
        report["power_state"],
        json!({a.name.clone(): "poweron", b.name.clone(): "poweroff"})
    );
}

/// The instance's SSH keys reach cloud-init with its user data: one multipart document MAAS
/// deploys with, the keys as a cloud-config part next to the user's own.
#[test]
fn ssh_keys_are_deployed_with_the_user_data() {
    use base64::Engine as _;
    let env = Env::start(SimConfig {
        machines: 1,
        deploy_polls: 0,
        release_polls: 0,
        power_polls: 0,
        ..SimConfig::default()
    });
    let key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOa7 alice@example";
    let mut instance = Instance::new(11);
    instance.user_data =
        Some(base64::engine::general_purpose::STANDARD.encode("#!/bin/sh\necho hello\n"));
    instance.ssh_keys = Some(format!("{key}\n"));
    let patch = env.run("prepare", &instance).ok();
    let system_id = patch["details"]["External:maas_system_id"]
        .as_str()
        .unwrap()
        .to_string();
    instance.apply_prepare(&patch);
    let created = env.run("create", &instance).ok();
    assert_eq!(created["status"], "success");
    assert!(created.get("warning").is_none(), "{created}");
    let sent = env
        .machine(&system_id)
        .user_data
        .expect("user data deployed");
    let doc = String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(sent)
            .unwrap(),
    )
    .unwrap();
    assert!(doc.starts_with("Content-Type: multipart/mixed"), "{doc}");
    assert!(
        doc.contains(&format!("ssh_authorized_keys:\n  - \"{key}\"")),
        "{doc}"
    );
    assert!(doc.contains("#!/bin/sh\necho hello"), "{doc}");
}
