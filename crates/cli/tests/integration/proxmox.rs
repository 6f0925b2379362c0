//! The built-in Proxmox extension through a real server, against the Proxmox VE simulator run
//! in-process: a deploy with a key pair and user data configures the VM's cloud-init, and
//! `createTemplate` from a stopped instance makes a Proxmox template that later deploys clone.

use super::{wait_for, TestServer};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use trellis_client::Client;
use trellis_sim_proxmox::{CloneKind, ProxmoxSim, SimConfig, Vm};

const PUBLIC_KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";

/// `trellis-proxmox`, built next to `trellis` if needed.
fn proxmox_binary() -> PathBuf {
    let trellis = Path::new(env!("CARGO_BIN_EXE_trellis"));
    let release = trellis
        .parent()
        .and_then(Path::file_name)
        .is_some_and(|name| name == "release");
    let mut cargo = Command::new(env!("CARGO"));
    cargo.args([
        "build",
        "-q",
        "-p",
        "trellis-ext-proxmox",
        "--bin",
        "trellis-proxmox",
    ]);
    if release {
        cargo.arg("--release");
    }
    assert!(cargo.status().expect("run cargo").success());
    trellis.with_file_name("trellis-proxmox")
}

async fn wait(c: &Client, started: Value) -> Value {
    c.wait_job(
        started["jobid"].as_str().expect("a job id"),
        Duration::from_secs(120),
        |_| {},
    )
    .await
    .expect("the job succeeds")
}

fn id(v: &Value) -> String {
    v["id"].as_str().expect("an id").to_string()
}

struct Setup {
    zone: String,
    offering: String,
    template: String,
    network: String,
}

async fn setup(s: &TestServer, c: &Client, sim: &ProxmoxSim) -> Setup {
    let target = s.extensions_dir().join("proxmox/trellis-proxmox");
    std::fs::create_dir_all(target.parent().unwrap()).unwrap();
    std::fs::copy(proxmox_binary(), &target).unwrap();
    c.call(
        "updateConfiguration",
        &[
            ("name", "extension.path.state.check.interval"),
            ("value", "1"),
        ],
    )
    .await
    .unwrap();
    let extension = wait_for(Duration::from_secs(30), "proxmox ready", || async {
        let listed = c
            .call("listExtensions", &[("name", "Proxmox")])
            .await
            .ok()?;
        let extension = listed["extension"][0].clone();
        (extension["pathready"] == true).then(|| id(&extension))
    })
    .await;
    let zone = id(&c.call("createZone", &[("name", "pz")]).await.unwrap()["zone"]);
    let cluster = id(&c
        .call(
            "addCluster",
            &[
                ("zoneid", &zone),
                ("clustername", "pve"),
                ("hypervisor", "External"),
                ("extensionid", &extension),
            ],
        )
        .await
        .unwrap()["cluster"][0]);
    let config = sim.config();
    let host_details = [
        ("url", sim.base_url()),
        ("user", config.user.clone()),
        ("token", config.token.clone()),
        ("secret", config.secret.clone()),
        ("node", config.node.clone()),
        ("network_bridge", "vmbr0".to_string()),
        ("verify_tls_certificate", "false".to_string()),
        ("cloudinit_user", "ubuntu".to_string()),
    ];
    let mut params: Vec<(String, String)> = vec![
        ("zoneid".into(), zone.clone()),
        ("clusterid".into(), cluster),
        ("url".into(), "pve1".into()),
        ("hypervisor".into(), "External".into()),
        ("username".into(), "External".into()),
        ("password".into(), "External".into()),
    ];
    for (key, value) in host_details {
        params.push((format!("externaldetails[0].{key}"), value));
    }
    let params: Vec<(&str, &str)> = params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    c.call("addHost", &params).await.unwrap();
    let offering = id(&c
        .call(
            "createServiceOffering",
            &[
                ("name", "small"),
                ("cpunumber", "1"),
                ("cpuspeed", "1000"),
                ("memory", "512"),
            ],
        )
        .await
        .unwrap()["serviceoffering"]);
    let template = id(&c
        .call(
            "registerTemplate",
            &[
                ("name", "ubuntu"),
                ("format", "External"),
                ("hypervisor", "External"),
                ("url", "none"),
                ("zoneid", &zone),
                ("extensionid", &extension),
                ("externaldetails[0].template_id", "9000"),
            ],
        )
        .await
        .unwrap()["template"][0]);
    let l2 = id(&c
        .call("listNetworkOfferings", &[("guestiptype", "L2")])
        .await
        .unwrap()["networkoffering"][0]);
    let network = id(&c
        .call(
            "createNetwork",
            &[
                ("name", "l2"),
                ("networkofferingid", &l2),
                ("zoneid", &zone),
                ("vlan", "120"),
            ],
        )
        .await
        .unwrap()["network"]);
    Setup {
        zone,
        offering,
        template,
        network,
    }
}

async fn deploy(c: &Client, setup: &Setup, template: &str, name: &str) -> Value {
    let started = c
        .call(
            "deployVirtualMachine",
            &[
                ("zoneid", &setup.zone),
                ("serviceofferingid", &setup.offering),
                ("templateid", template),
                ("networkids", &setup.network),
                ("name", name),
                ("keypair", "ops"),
                // "#cloud-config\n"
                ("userdata", "I2Nsb3VkLWNvbmZpZwo="),
            ],
        )
        .await
        .unwrap();
    let vm = wait(c, started).await["virtualmachine"].clone();
    assert_eq!(vm["state"], "Running", "{vm}");
    vm
}

fn sim_vm(sim: &ProxmoxSim, name: &str) -> Vm {
    let mut found = sim.vms_named(name);
    assert_eq!(found.len(), 1, "one vm named {name}");
    found.remove(0)
}

#[tokio::test]
async fn keys_reach_cloud_init_and_a_captured_template_deploys() {
    let sim = tokio::task::spawn_blocking(|| ProxmoxSim::start(SimConfig::default()))
        .await
        .unwrap()
        .expect("the proxmox simulator starts");
    let s = TestServer::start();
    let c = s.admin().await;
    let setup = setup(&s, &c, &sim).await;
    c.call(
        "registerSSHKeyPair",
        &[("name", "ops"), ("publickey", PUBLIC_KEY)],
    )
    .await
    .unwrap();

    let vm = deploy(&c, &setup, &setup.template, "web-1").await;
    let pve = sim_vm(&sim, vm["instancename"].as_str().unwrap());
    assert_eq!(
        pve.cloudinit_drive().map(|(slot, _)| slot),
        Some("ide2"),
        "{:?}",
        pve.config
    );
    assert!(pve.config["ide2"].starts_with("local-lvm:vm-"));
    assert_eq!(
        pve.config["sshkeys"],
        "ssh-ed25519%20AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
    );
    assert_eq!(pve.config["ciuser"], "ubuntu");
    assert!(
        s.logs()
            .contains("the user data was not delivered to the guest"),
        "the undelivered user data is logged"
    );

    // createTemplate from the stopped instance: a new Proxmox template.
    let id_of_vm = id(&vm);
    wait(
        &c,
        c.call("stopVirtualMachine", &[("id", &id_of_vm)])
            .await
            .unwrap(),
    )
    .await;
    let volume = id(&c
        .call(
            "listVolumes",
            &[("virtualmachineid", &id_of_vm), ("type", "ROOT")],
        )
        .await
        .unwrap()["volume"][0]);
    let os = id(&c
        .call("listOsTypes", &[("description", "Other Linux (64-bit)")])
        .await
        .unwrap()["ostype"][0]);
    let created = c
        .call(
            "createTemplate",
            &[
                ("volumeid", &volume),
                ("name", "web-golden"),
                ("ostypeid", &os),
            ],
        )
        .await
        .unwrap();
    let captured = wait(&c, created).await["template"].clone();
    let captured_id = id(&captured);
    let template_vm = sim_vm(&sim, &format!("template-{captured_id}"));
    assert!(template_vm.is_template());
    assert!(
        !template_vm.config.contains_key("sshkeys"),
        "no instance keys in the template"
    );
    assert_eq!(captured["size"], 32u64 << 30, "{captured}");

    // A deploy from the captured template clones it.
    let copy = deploy(&c, &setup, &captured_id, "web-2").await;
    let pve_copy = sim_vm(&sim, copy["instancename"].as_str().unwrap());
    assert_eq!(
        pve_copy.cloned_from,
        Some((template_vm.vmid, CloneKind::Linked))
    );
    assert!(pve_copy.config["sshkeys"].starts_with("ssh-ed25519%20"));
    tokio::task::spawn_blocking(move || sim.shutdown())
        .await
        .unwrap();
}
