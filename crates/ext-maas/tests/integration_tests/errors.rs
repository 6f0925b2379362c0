//! Failures: each reported as one JSON document with MAAS's own text and a documented exit code.

use super::{Env, Instance, Outcome, BIN};
use serde_json::json;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use trellis_ext_protocol::{exit, ENV_DEADLINE};
use trellis_sim_maas::{MachineStatus, SimConfig, SimMode};

/// An instance whose machine has been prepared (and optionally deployed).
fn prepared(env: &Env, number: u32) -> Instance {
    let mut instance = Instance::new(number);
    let patch = env.run("prepare", &instance).ok();
    instance.apply_prepare(&patch);
    instance
}

#[test]
fn bad_api_keys() {
    let env = Env::start(SimConfig {
        machines: 1,
        ..SimConfig::default()
    });
    let instance = Instance::new(50);
    let key: Vec<String> = env.sim.api_key().split(':').map(str::to_string).collect();

    let wrong_secret =
        json!({"endpoint": env.sim.url(), "apikey": format!("{}:{}:wrong", key[0], key[1])});
    let refused = env.run_payload(
        "prepare",
        &env.payload_with(&instance, wrong_secret, json!({})),
        "30",
        &[],
    );
    let refused = refused.failed(exit::UNREACHABLE);
    assert_eq!(refused["http_status"], 401);
    assert_eq!(
        refused["maas_error"],
        "Authorization Error: 'Invalid signature.'"
    );

    let wrong_consumer =
        json!({"endpoint": env.sim.url(), "apikey": format!("nobody:{}:{}", key[1], key[2])});
    let refused = env.run_payload(
        "statuses",
        &env.payload_with(&instance, wrong_consumer, json!({})),
        "30",
        &[],
    );
    assert_eq!(
        refused.failed(exit::UNREACHABLE)["maas_error"],
        "Authorization Error: Invalid API key."
    );

    let malformed = json!({"endpoint": env.sim.url(), "apikey": "only-one-part"});
    let refused = env.run_payload(
        "prepare",
        &env.payload_with(&instance, malformed, json!({})),
        "30",
        &[],
    );
    let refused = refused.failed(exit::CONFIG);
    assert!(
        !refused.to_string().contains("only-one-part"),
        "the key is echoed: {refused}"
    );
    assert!(env
        .sim
        .machines()
        .iter()
        .all(|m| m.status == MachineStatus::Ready));

    let missing = json!({"apikey": env.sim.api_key()});
    let refused = env.run_payload(
        "prepare",
        &env.payload_with(&instance, missing, json!({})),
        "30",
        &[],
    );
    assert!(refused.failed(exit::CONFIG)["error"]
        .as_str()
        .unwrap()
        .contains("endpoint"));
}

#[test]
fn unknown_machine_and_state_conflicts() {
    let env = Env::start(SimConfig {
        machines: 2,
        ..SimConfig::default()
    });

    let ghost = Instance::new(51).detail("maas_system_id", "nosuch");
    let refused = env.run("status", &ghost).failed(exit::FAILED);
    assert_eq!(refused["http_status"], 404);
    assert_eq!(refused["maas_error"], "No Machine matches the given query.");
    // Deleting an instance whose machine is gone is not an error.
    assert_eq!(env.run("delete", &ghost).ok()["status"], "success");

    // A machine this instance did not allocate (here: nobody did) is refused before MAAS is
    // asked to do anything with it.
    let ready = env.sim.machines()[0].system_id.clone();
    let stray = Instance::new(52).detail("maas_system_id", &ready);
    for action in ["start", "stop", "reboot"] {
        let refused = env.run(action, &stray).failed(exit::FAILED);
        assert!(
            refused["error"]
                .as_str()
                .unwrap()
                .contains("was not allocated for this instance"),
            "{action}: {refused}"
        );
    }
    assert_eq!(env.run("status", &stray).ok()["power_state"], "poweroff");
    assert!(env.run("delete", &stray).ok()["message"]
        .as_str()
        .unwrap()
        .contains("left alone"));
    assert_eq!(env.machine(&ready).status, MachineStatus::Ready);

    // create needs the machine prepare assigned.
    let unprepared = Instance::new(53);
    assert!(env.run("create", &unprepared).failed(exit::CONFIG)["error"]
        .as_str()
        .unwrap()
        .contains("maas_system_id"));
}

#[test]
fn machines_of_other_instances_are_left_alone() {
    let env = Env::start(SimConfig {
        machines: 2,
        deploy_polls: 0,
        ..SimConfig::default()
    });
    let owner = prepared(&env, 54);
    let system_id = owner.system_id();
    let intruder = Instance::new(55).detail("maas_system_id", &system_id);
    let refused = env.run("start", &intruder).failed(exit::FAILED);
    assert!(
        refused["error"]
            .as_str()
            .unwrap()
            .contains("reserved for another instance"),
        "{refused}"
    );
    assert!(env.run("delete", &intruder).ok()["message"]
        .as_str()
        .unwrap()
        .contains("left alone"));
    assert_eq!(env.run("status", &intruder).ok()["power_state"], "poweroff");
    let machine = env.machine(&system_id);
    assert_eq!(machine.status, MachineStatus::Allocated);
    assert_eq!(machine.owner_data["trellis_instance_name"], owner.name);
}

#[test]
fn injected_deploy_failure() {
    let env = Env::start(SimConfig {
        machines: 1,
        deploy_polls: 1,
        release_polls: 0,
        ..SimConfig::default()
    });
    let instance = prepared(&env, 56);
    let system_id = instance.system_id();
    env.sim.fail_next_deploys(1);
    let failed = env.run("create", &instance).failed(exit::FAILED);
    let message = failed["error"].as_str().unwrap();
    assert!(
        message.contains("Failed deployment") && message.contains(&system_id),
        "{failed}"
    );
    assert_eq!(
        env.machine(&system_id).status,
        MachineStatus::FailedDeployment
    );
    // The undo of create releases the machine.
    env.run("delete", &instance).ok();
    assert_eq!(env.machine(&system_id).status, MachineStatus::Releasing);
    env.run("status", &instance).ok();
    env.wait_for_machine(&system_id, "Ready", |m| m.status == MachineStatus::Ready);
}

#[test]
fn deadline_exceeded_then_resumed() {
    let env = Env::start(SimConfig {
        machines: 1,
        mode: SimMode::Explicit,
        ..SimConfig::default()
    });
    let instance = prepared(&env, 57);
    let system_id = instance.system_id();

    // The deployment never finishes within the 3 s timeout argument; the answer comes before it.
    let outcome = env.run_payload("create", &env.payload(&instance), "3", &[]);
    assert!(
        outcome.elapsed < Duration::from_secs(3),
        "answered after {:?}",
        outcome.elapsed
    );
    let timed_out = outcome.failed(exit::TIMED_OUT);
    assert!(
        timed_out["error"].as_str().unwrap().contains("deadline"),
        "{timed_out}"
    );
    assert_eq!(env.machine(&system_id).status, MachineStatus::Deploying);

    // The deadline from the environment wins over a long timeout argument.
    let soon = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 1;
    let outcome = env.run_payload(
        "create",
        &env.payload(&instance),
        "600",
        &[(ENV_DEADLINE, soon.to_string())],
    );
    assert!(
        outcome.elapsed < Duration::from_secs(3),
        "answered after {:?}",
        outcome.elapsed
    );
    outcome.failed(exit::TIMED_OUT);

    // Once MAAS finishes, a retried create observes Deployed and does not deploy again.
    assert!(env.sim.advance(&system_id));
    env.run("create", &instance).ok();
    let machine = env.machine(&system_id);
    assert_eq!(
        (machine.status, machine.deploy_count),
        (MachineStatus::Deployed, 1)
    );
}

#[test]
fn unresponsive_and_failing_maas() {
    let env = Env::start(SimConfig {
        machines: 1,
        ..SimConfig::default()
    });
    let instance = Instance::new(58);
    env.sim.set_unresponsive(true);
    let outcome = env.run_payload("statuses", &env.payload(&instance), "2", &[]);
    assert!(
        outcome.elapsed < Duration::from_secs(3),
        "answered after {:?}",
        outcome.elapsed
    );
    outcome.failed(exit::TIMED_OUT);
    env.sim.set_unresponsive(false);

    env.sim.fail_next_requests(1, 503);
    let refused = env.run("statuses", &instance).failed(exit::UNREACHABLE);
    assert_eq!(refused["http_status"], 503);
    assert_eq!(env.run("statuses", &instance).ok()["status"], "success");

    // Nothing listens here any more.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let nowhere = json!({"endpoint": format!("http://{closed}/MAAS"), "apikey": env.sim.api_key()});
    env.run_payload(
        "statuses",
        &env.payload_with(&instance, nowhere, json!({})),
        "10",
        &[],
    )
    .failed(exit::UNREACHABLE);
}

#[test]
fn usage_errors() {
    let env = Env::start(SimConfig {
        machines: 1,
        ..SimConfig::default()
    });
    let instance = Instance::new(59);
    let unknown = env
        .run_payload("frobnicate", &env.payload(&instance), "30", &[])
        .failed(exit::USAGE);
    assert!(unknown["error"].as_str().unwrap().contains("frobnicate"));
    // Action names are matched case-insensitively.
    assert_eq!(
        env.run_payload("STATUSES", &env.payload(&instance), "30", &[])
            .ok()["status"],
        "success"
    );

    let mut command = Command::new(BIN);
    command.env_clear().arg("status");
    Outcome::of(command).failed(exit::USAGE);

    let mut command = Command::new(BIN);
    command
        .env_clear()
        .args(["status", "/nonexistent/payload.json", "30"]);
    Outcome::of(command).failed(exit::USAGE);

    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.json");
    std::fs::write(&broken, "{not json").unwrap();
    let mut command = Command::new(BIN);
    command.env_clear().arg("status").arg(&broken).arg("30");
    Outcome::of(command).failed(exit::USAGE);

    env.run_payload("status", &env.payload(&instance), "soon", &[])
        .failed(exit::USAGE);
}
