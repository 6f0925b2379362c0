//! The machine API: JSON shape, op dispatch, the lifecycle state machine, conflicts and faults.

use super::{start, OpIn};
use std::time::{Duration, Instant};
use trellis_sim_maas::{MachineStatus, PowerState, SimConfig, SimMode};

#[test]
fn machine_json_looks_like_maas() {
    let (sim, client) = start(SimConfig {
        machines: 2,
        ..SimConfig::default()
    });
    let listed = client.get("machines/").json();
    let machines = listed.as_array().unwrap();
    assert_eq!(machines.len(), 2);
    let first = &machines[0];
    for field in [
        "system_id",
        "hostname",
        "fqdn",
        "status",
        "status_name",
        "power_state",
        "interface_set",
        "boot_interface",
        "osystem",
        "distro_series",
        "architecture",
        "cpu_count",
        "memory",
        "owner",
        "owner_data",
        "resource_uri",
    ] {
        assert!(first.get(field).is_some(), "missing {field} in {first}");
    }
    assert_eq!(first["status"], 4);
    assert_eq!(first["status_name"], "Ready");
    assert_eq!(first["power_state"], "off");
    let mac = first["interface_set"][0]["mac_address"].as_str().unwrap();
    assert_eq!(first["boot_interface"]["mac_address"], mac);
    assert_eq!(sim.machines()[0].mac_addresses[0], mac);

    let id = first["system_id"].as_str().unwrap();
    let one = client.get(&format!("machines/{id}/"));
    assert_eq!(one.status, 200);
    assert_eq!(
        one.json()["resource_uri"],
        format!("/MAAS/api/2.0/machines/{id}/")
    );

    let missing = client.get("machines/nosuch/");
    assert_eq!(
        (missing.status, missing.body.as_str()),
        (404, "No Machine matches the given query.")
    );
    let filtered = client
        .get(&format!("machines/?mac_address={}", mac.to_uppercase()))
        .json();
    assert_eq!(filtered.as_array().unwrap().len(), 1);
}

#[test]
fn op_is_taken_from_query_form_multipart_or_path() {
    let (sim, client) = start(SimConfig {
        machines: 4,
        ..SimConfig::default()
    });
    let ids: Vec<String> = sim.machines().into_iter().map(|m| m.system_id).collect();
    for (op_in, id) in [OpIn::Query, OpIn::Form, OpIn::Multipart, OpIn::Path]
        .into_iter()
        .zip(&ids)
    {
        let answer = client.post(
            "machines/",
            "allocate",
            &[("system_id", id.as_str())],
            op_in,
        );
        assert_eq!(answer.status, 200, "{op_in:?}: {}", answer.body);
        assert_eq!(
            sim.machine(id).unwrap().status,
            MachineStatus::Allocated,
            "{op_in:?}"
        );
        let answer = client.post(&format!("machines/{id}/"), "power_on", &[], op_in);
        assert_eq!(answer.status, 200, "{op_in:?}: {}", answer.body);
        assert_eq!(
            sim.machine(id).unwrap().power_state,
            PowerState::On,
            "{op_in:?}"
        );
    }
    let answer = client.post(
        &format!("machines/{}/", ids[0]),
        "frobnicate",
        &[],
        OpIn::Query,
    );
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (400, "Unrecognised signature: method=POST op=frobnicate")
    );
    let recorded = sim.requests();
    assert!(
        recorded
            .iter()
            .filter(|r| r.op.as_deref() == Some("allocate"))
            .count()
            == 4
    );
    assert_eq!(recorded.last().unwrap().op.as_deref(), Some("frobnicate"));
}

#[test]
fn deploy_release_lifecycle_with_polls() {
    let config = SimConfig {
        machines: 1,
        deploy_polls: 2,
        release_polls: 1,
        ..SimConfig::default()
    };
    let (sim, client) = start(config);
    let id = sim.machines()[0].system_id.clone();
    let path = format!("machines/{id}/");

    // Deploying a Ready machine allocates it first.
    let user_data = "I2Nsb3VkLWNvbmZpZwo=";
    let answer = client.post(
        &path,
        "deploy",
        &[("distro_series", "ubuntu/noble"), ("user_data", user_data)],
        OpIn::Query,
    );
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.json()["status_name"], "Deploying");
    let view = sim.machine(&id).unwrap();
    assert_eq!(
        (view.status, view.owner.as_deref()),
        (MachineStatus::Deploying, Some("admin"))
    );
    assert_eq!(
        (view.osystem.as_str(), view.distro_series.as_str()),
        ("ubuntu", "noble")
    );
    assert_eq!(view.user_data.as_deref(), Some(user_data));

    assert_eq!(client.get(&path).json()["status_name"], "Deploying");
    assert_eq!(client.get(&path).json()["status_name"], "Deploying");
    let deployed = client.get(&path).json();
    assert_eq!(
        (
            deployed["status_name"].as_str(),
            deployed["power_state"].as_str()
        ),
        (Some("Deployed"), Some("on"))
    );
    assert_eq!(deployed["status"], 6);

    let again = client.post(&path, "deploy", &[], OpIn::Query);
    assert_eq!(
        (again.status, again.body.as_str()),
        (
            409,
            "Can't deploy a machine that is in the 'Deployed' state"
        )
    );

    let answer = client.post(&path, "power_off", &[], OpIn::Query);
    assert_eq!(answer.status, 200);
    assert_eq!(
        client.get(&format!("{path}?op=query_power_state")).json()["state"],
        "off"
    );

    assert_eq!(
        client.post(&path, "release", &[], OpIn::Query).json()["status_name"],
        "Releasing"
    );
    assert_eq!(client.get(&path).json()["status_name"], "Releasing");
    let released = client.get(&path).json();
    assert_eq!(released["status_name"], "Ready");
    assert!(released["owner"].is_null());
    assert_eq!(released["distro_series"], "");
    // Releasing a Ready machine is a no-op; powering an unowned one is a conflict.
    assert_eq!(client.post(&path, "release", &[], OpIn::Query).status, 200);
    let answer = client.post(&path, "power_on", &[], OpIn::Query);
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (409, "Can't start machine: it hasn't been allocated.")
    );
    let bad = client.post(&path, "deploy", &[("distro_series", "plan9")], OpIn::Query);
    assert_eq!(bad.status, 400);
    assert!(
        bad.body.contains("'plan9' is not a valid distro_series"),
        "{}",
        bad.body
    );
}

#[test]
fn allocation_conflicts() {
    let (sim, client) = start(SimConfig {
        machines: 2,
        ..SimConfig::default()
    });
    let answer = client.post(
        "machines/",
        "allocate",
        &[("name", "no-such-host")],
        OpIn::Query,
    );
    assert_eq!(answer.status, 409);
    assert_eq!(
        answer.body,
        "No available machine matches constraints: [('name', ['no-such-host'])] (resolved to \"name=no-such-host\")"
    );
    let id = sim.machines()[1].system_id.clone();
    sim.set_tags(&id, &["gpu"]);
    let answer = client.post("machines/", "allocate", &[("tags", "gpu")], OpIn::Query);
    assert_eq!(answer.json()["system_id"], id.as_str());
    assert_eq!(
        client
            .post("machines/", "allocate", &[], OpIn::Query)
            .status,
        200
    );
    let answer = client.post("machines/", "allocate", &[], OpIn::Query);
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (409, "No machine available.")
    );
    assert!(sim
        .machines()
        .iter()
        .all(|m| m.status == MachineStatus::Allocated));
}

#[test]
fn injected_faults() {
    let config = SimConfig {
        machines: 2,
        deploy_polls: 0,
        ..SimConfig::default()
    };
    let (sim, client) = start(config);
    let ids: Vec<String> = sim.machines().into_iter().map(|m| m.system_id).collect();

    sim.fail_next_deploys(1);
    client.post(&format!("machines/{}/", ids[0]), "deploy", &[], OpIn::Query);
    assert_eq!(
        client.get(&format!("machines/{}/", ids[0])).json()["status_name"],
        "Failed deployment"
    );
    client.post(&format!("machines/{}/", ids[1]), "deploy", &[], OpIn::Query);
    assert_eq!(
        client.get(&format!("machines/{}/", ids[1])).json()["status_name"],
        "Deployed"
    );

    sim.fail_next_requests(1, 503);
    assert_eq!(client.get("machines/").status, 503);
    assert_eq!(client.get("machines/").status, 200);

    // Unresponsive: the request is accepted but not answered until the fault is lifted.
    sim.set_unresponsive(true);
    let quick = reqwest::blocking::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let url = format!("{}version/", client.base);
    let header = client.sign("GET", &url, &[]);
    let outcome = quick.get(&url).header("Authorization", &header).send();
    assert!(outcome.unwrap_err().is_timeout());
    sim.set_unresponsive(false);
    assert_eq!(client.get("version/").status, 200);

    sim.set_latency(Duration::from_millis(200));
    let started = Instant::now();
    assert_eq!(client.get("version/").status, 200);
    assert!(started.elapsed() >= Duration::from_millis(200));
    sim.set_latency(Duration::ZERO);
}

#[test]
fn explicit_mode_waits_for_the_test() {
    let config = SimConfig {
        machines: 1,
        mode: SimMode::Explicit,
        power_polls: 1,
        ..SimConfig::default()
    };
    let (sim, client) = start(config);
    let id = sim.machines()[0].system_id.clone();
    let path = format!("machines/{id}/");
    client.post(&path, "deploy", &[], OpIn::Query);
    for _ in 0..5 {
        assert_eq!(client.get(&path).json()["status_name"], "Deploying");
    }
    assert!(sim.machine(&id).unwrap().transition_pending);
    assert!(sim.advance(&id));
    assert_eq!(client.get(&path).json()["status_name"], "Deployed");
    client.post(&path, "power_off", &[], OpIn::Query);
    assert_eq!(
        client.get(&format!("{path}?op=query_power_state")).json()["state"],
        "on"
    );
    sim.advance(&id);
    assert_eq!(
        client.get(&format!("{path}?op=query_power_state")).json()["state"],
        "off"
    );
}
