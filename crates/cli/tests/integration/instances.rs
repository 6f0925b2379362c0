//! Instances on External clusters end to end, with a recording bash extension: payloads field by
//! field, the lifecycle, prepare patches, custom actions, maintenance, out-of-band power changes,
//! a crash during `create`, concurrency.

use super::*;
use std::path::PathBuf;

/// Records every payload as `rec/<ns>-<action>-<vm>.json`; keeps power state per instance in
/// `state/<vm>`; behaviour knobs are files next to the script.
pub(super) const RECORDER: &str = r#"#!/bin/bash
here="$(cd "$(dirname "$0")" && pwd)"
action=$1; payload=$2
mkdir -p "$here/rec" "$here/state"
name=$(grep -o '"virtualmachinename":"[^"]*"' "$payload" | head -n 1 | sed 's/.*:"//; s/"$//')
cp "$payload" "$here/rec/.part-$$" && mv "$here/rec/.part-$$" "$here/rec/$(date +%s%N)-$action-$name.json"
[ -f "$here/$action.sleep" ] && sleep "$(cat "$here/$action.sleep")"
[ -f "$here/$action.fail" ] && { echo "{\"status\":\"error\",\"error\":\"$action refused by test\"}"; exit 3; }
case "$action" in
  prepare)
    nic=$(grep -o '"nics":\[{"uuid":"[^"]*"' "$payload" | sed 's/.*"uuid":"//; s/"$//')
    echo "{\"nics\":[{\"uuid\":\"$nic\",\"mac\":\"52:54:00:aa:bb:cc\"}],\"details\":{\"External:vmid\":\"105\"}}" ;;
  create|start|reboot) echo poweron > "$here/state/$name"; echo '{"status":"success"}' ;;
  stop) echo poweroff > "$here/state/$name"; echo '{"status":"success"}' ;;
  delete) rm -f "$here/state/$name"; echo '{"status":"success"}' ;;
  status)
    if [ -f "$here/state/$name" ]; then echo "{\"status\":\"success\",\"power_state\":\"$(cat "$here/state/$name")\"}"; else echo '{"power_state":"unknown"}'; fi ;;
  statuses)
    out=""; for f in "$here"/state/*; do [ -f "$f" ] || continue; [ -n "$out" ] && out="$out,"; out="$out\"$(basename "$f")\":\"$(cat "$f")\""; done
    echo "{\"status\":\"success\",\"power_state\":{$out}}" ;;
  Echo)
    params=$(grep -o '"parameters":{[^}]*}' "$payload" | sed 's/^"parameters"://')
    echo "{\"printmessage\":\"true\",\"message\":${params:-null}}" ;;
  Plain) echo "hello for $name" ;;
  *) echo "unknown action $action" >&2; exit 1 ;;
esac
[ -f "$here/$action.linger" ] && sleep "$(cat "$here/$action.linger")"
exit 0
"#;

pub(super) struct Env {
    pub(super) s: TestServer,
    pub(super) c: Client,
    pub(super) ext_id: String,
    pub(super) dir: PathBuf,
    pub(super) zone: String,
    pub(super) offering: String,
    pub(super) template: String,
    pub(super) network: String,
    pub(super) host: String,
}

pub(super) async fn setup(requires_prepare: bool) -> Env {
    setup_on(TestServer::start(), requires_prepare).await
}

/// [`setup`] on a server already started (another database, other environment).
pub(super) async fn setup_on(s: TestServer, requires_prepare: bool) -> Env {
    let c = s.admin().await;
    let e = c
        .call(
            "createExtension",
            &[
                ("name", "rec"),
                ("type", "Orchestrator"),
                ("path", "rec.sh"),
                (
                    "orchestratorrequirespreparevm",
                    if requires_prepare { "true" } else { "false" },
                ),
                ("details[0].url", "https://pve.example"),
                ("details[0].token", "t0k"),
            ],
        )
        .await
        .unwrap()["extension"]
        .clone();
    let path = PathBuf::from(e["path"].as_str().unwrap());
    write_script(&path, RECORDER);
    let ext_id = e["id"].as_str().unwrap().to_string();
    // Readiness follows the new file at once when the check interval is short.
    c.call(
        "updateConfiguration",
        &[
            ("name", "extension.path.state.check.interval"),
            ("value", "1"),
        ],
    )
    .await
    .unwrap();
    let zone = c
        .call("createZone", &[("name", "z1"), ("dns1", "192.0.2.53")])
        .await
        .unwrap()["zone"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let cluster = c
        .call(
            "addCluster",
            &[
                ("zoneid", &zone),
                ("clustername", "c1"),
                ("hypervisor", "External"),
                ("extensionid", &ext_id),
                ("externaldetails[0].region", "eu"),
            ],
        )
        .await
        .unwrap()["cluster"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let host = c
        .call(
            "addHost",
            &[
                ("zoneid", &zone),
                ("clusterid", &cluster),
                ("url", "pve-host-1"),
                ("hypervisor", "External"),
                ("username", "External"),
                ("password", "External"),
                ("externaldetails[0].node", "pve1"),
            ],
        )
        .await
        .unwrap()["host"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let offering = c
        .call(
            "createServiceOffering",
            &[
                ("name", "tiny"),
                ("cpunumber", "2"),
                ("cpuspeed", "1000"),
                ("memory", "512"),
                ("externaldetails[0].storage", "fast"),
            ],
        )
        .await
        .unwrap()["serviceoffering"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let template = c
        .call(
            "registerTemplate",
            &[
                ("name", "tmpl"),
                ("format", "External"),
                ("hypervisor", "External"),
                ("url", "http://dummy"),
                ("zoneid", &zone),
                ("extensionid", &ext_id),
                ("externaldetails[0].template_id", "9000"),
            ],
        )
        .await
        .unwrap()["template"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let l2 = c
        .call("listNetworkOfferings", &[("guestiptype", "L2")])
        .await
        .unwrap()["networkoffering"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let network = c
        .call(
            "createNetwork",
            &[
                ("name", "l2"),
                ("networkofferingid", &l2),
                ("zoneid", &zone),
                ("vlan", "1234"),
            ],
        )
        .await
        .unwrap()["network"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let dir = path.parent().unwrap().to_path_buf();
    let env = Env {
        s,
        c,
        ext_id,
        dir,
        zone,
        offering,
        template,
        network,
        host,
    };
    let c2 = env.c.clone();
    let id = env.ext_id.clone();
    wait_for(Duration::from_secs(20), "extension ready", || {
        let c2 = c2.clone();
        let id = id.clone();
        async move {
            (c2.call("listExtensions", &[("id", &id)]).await.ok()?["extension"][0]["pathready"]
                == true)
                .then_some(())
        }
    })
    .await;
    env
}

impl Env {
    pub(super) async fn deploy(&self, name: &str) -> Result<Value, trellis_client::ClientError> {
        let r = self
            .c
            .call(
                "deployVirtualMachine",
                &[
                    ("zoneid", &self.zone),
                    ("serviceofferingid", &self.offering),
                    ("templateid", &self.template),
                    ("networkids", &self.network),
                    ("name", name),
                    ("externaldetails[0].flavor", "gold"),
                ],
            )
            .await?;
        self.c
            .wait_job(
                r["jobid"].as_str().unwrap(),
                Duration::from_secs(120),
                |_| {},
            )
            .await
            .map(|v| v["virtualmachine"].clone())
    }

    pub(super) async fn run(
        &self,
        cmd: &str,
        params: &[(&str, &str)],
    ) -> Result<Value, trellis_client::ClientError> {
        let r = self.c.call(cmd, params).await?;
        self.c
            .wait_job(
                r["jobid"].as_str().unwrap(),
                Duration::from_secs(120),
                |_| {},
            )
            .await
    }

    /// Recorded payloads of `action`, oldest first.
    pub(super) fn payloads(&self, action: &str) -> Vec<Value> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.dir.join("rec"))
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        files.sort();
        files
            .into_iter()
            .filter(|p| p.file_name().unwrap().to_string_lossy().split('-').nth(1) == Some(action))
            .map(|p| serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap())
            .collect()
    }
}

#[tokio::test]
async fn lifecycle_with_payloads_checked_field_by_field() {
    let env = setup(false).await;
    let vm = env.deploy("web-1").await.unwrap();
    assert_eq!(vm["state"], "Running");
    let name = vm["instancename"].as_str().unwrap().to_string();
    assert!(
        env.payloads("prepare").is_empty(),
        "no prepare unless the extension asks for it"
    );
    let create = env.payloads("create");
    assert_eq!(create.len(), 1);
    let p = &create[0];
    assert_eq!(p["virtualmachineid"], vm["id"]);
    assert_eq!(p["virtualmachinename"], name.as_str());
    let ed = &p["externaldetails"];
    assert_eq!(
        ed["extension"],
        serde_json::json!({"token": "t0k", "url": "https://pve.example"})
    );
    assert_eq!(ed["resourcemap"], serde_json::json!({"region": "eu"}));
    // addHost's username/password reach the host level (the extension sets neither).
    assert_eq!(
        ed["host"],
        serde_json::json!({"node": "pve1", "username": "External", "password": "External"})
    );
    assert_eq!(
        ed["virtualmachine"]["template_id"], "9000",
        "template details reach the instance"
    );
    assert_eq!(
        ed["virtualmachine"]["flavor"], "gold",
        "deploy-time external details"
    );
    assert_eq!(
        ed["virtualmachine"]["storage"], "fast",
        "offering external details"
    );
    assert_eq!(ed["virtualmachine"]["cloudstack.vlan"], "1234");
    assert_eq!(p["caller"]["name"], "admin");
    assert_eq!(p["caller"]["roletype"], "Admin");
    assert_eq!(p["caller"]["type"], "ADMIN");
    let to = &p["cloudstack.vm.details"];
    assert_eq!(to["name"], name.as_str());
    assert_eq!(to["uuid"], vm["id"]);
    assert_eq!(to["type"], "User");
    assert_eq!(to["cpus"], 2);
    assert_eq!(to["minRam"], 512 * 1024 * 1024);
    assert_eq!(to["maxRam"], 512 * 1024 * 1024);
    assert_eq!(to["minSpeed"], 1000);
    assert_eq!(to["arch"], "x86_64");
    assert_eq!(to["details"]["deployvm"], "true");
    assert_eq!(to["details"]["External:template_id"], "9000");
    assert!(to["vncPassword"].as_str().unwrap().len() >= 16);
    let nic = &to["nics"][0];
    assert_eq!(nic["mac"], vm["nic"][0]["macaddress"]);
    assert_eq!(nic["uuid"], vm["nic"][0]["id"]);
    assert_eq!(nic["broadcastUri"], "vlan://1234");
    assert_eq!(nic["broadcastType"], "Vlan");
    assert_eq!(nic["defaultNic"], true);
    assert_eq!(nic["deviceId"], 0);
    assert_eq!(nic["type"], "Guest");
    assert!(nic["networkSegmentName"].as_str().unwrap().starts_with('D'));
    assert_eq!(to["disks"], serde_json::json!([]));
    assert_eq!(to["configDriveLocation"], "SECONDARY");
    // stop
    let id = vm["id"].as_str().unwrap().to_string();
    let stopped = env.run("stopVirtualMachine", &[("id", &id)]).await.unwrap();
    assert_eq!(stopped["virtualmachine"]["state"], "Stopped");
    let stop = env.payloads("stop");
    assert_eq!(stop[0]["cloudstack.vm.details"]["state"], "Stopping");
    assert_eq!(
        stop[0]["cloudstack.vm.details"]["nics"],
        serde_json::json!([])
    );
    assert!(stop[0]["cloudstack.vm.details"]
        .get("guestOsDetails")
        .is_none());
    // start: `start`, not `create`, and no deployvm any more
    let started = env
        .run("startVirtualMachine", &[("id", &id)])
        .await
        .unwrap();
    assert_eq!(started["virtualmachine"]["state"], "Running");
    assert_eq!(env.payloads("create").len(), 1);
    let start = env.payloads("start");
    assert_eq!(start.len(), 1);
    assert!(start[0]["cloudstack.vm.details"]["details"]
        .get("deployvm")
        .is_none());
    // reboot
    env.run("rebootVirtualMachine", &[("id", &id)])
        .await
        .unwrap();
    assert_eq!(
        env.payloads("reboot")[0]["cloudstack.vm.details"]["nics"][0]["mac"],
        vm["nic"][0]["macaddress"]
    );
    // guards
    assert_eq!(
        code_of(env.c.call("startVirtualMachine", &[("id", &id)]).await),
        530
    );
    // destroy with expunge: stop then delete
    env.run("destroyVirtualMachine", &[("id", &id), ("expunge", "true")])
        .await
        .unwrap();
    let del = env.payloads("delete");
    assert_eq!(del.len(), 1);
    assert_eq!(del[0]["cloudstack.vm.details"]["state"], "Expunging");
    assert_eq!(
        del[0]["cloudstack.vm.details"]["details"]["expunge.external.vm"],
        "true"
    );
    assert_eq!(env.payloads("stop").len(), 2);
    assert_eq!(
        env.c.call("listVirtualMachines", &[]).await.unwrap(),
        serde_json::json!({})
    );
    let ev = env
        .c
        .call("listEvents", &[("type", "VM.EXPUNGE")])
        .await
        .unwrap();
    assert_eq!(ev["count"], 1);
}

#[tokio::test]
async fn destroy_recover_expunge_and_list_filters() {
    let env = setup(false).await;
    let vm = env.deploy("keep-1").await.unwrap();
    let id = vm["id"].as_str().unwrap().to_string();
    let l = env
        .c
        .call("listVirtualMachines", &[("extensionid", &env.ext_id)])
        .await
        .unwrap();
    assert_eq!(l["count"], 1);
    assert_eq!(l["virtualmachine"][0]["extensionid"], env.ext_id.as_str());
    let other = env
        .c
        .call("listExtensions", &[("name", "Proxmox")])
        .await
        .unwrap()["extension"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        env.c
            .call("listVirtualMachines", &[("extensionid", &other)])
            .await
            .unwrap(),
        serde_json::json!({})
    );
    // Operations CloudStack refuses for External instances answer with a clear refusal, sync and
    // async alike, and never start a job.
    let name = vm["instancename"].as_str().unwrap().to_string();
    for (cmd, param, extra) in [
        ("restoreVirtualMachine", "virtualmachineid", None),
        (
            "changeServiceForVirtualMachine",
            "id",
            Some(("serviceofferingid", env.offering.as_str())),
        ),
        (
            "scaleVirtualMachine",
            "id",
            Some(("serviceofferingid", env.offering.as_str())),
        ),
        ("resetPasswordForVirtualMachine", "id", None),
        ("detachIso", "virtualmachineid", None),
        ("updateVMAffinityGroup", "id", None),
        (
            "addNicToVirtualMachine",
            "virtualmachineid",
            Some(("networkid", env.network.as_str())),
        ),
    ] {
        let mut params = vec![(param, id.as_str())];
        params.extend(extra);
        let r = env.c.call(cmd, &params).await;
        assert_eq!(
            text_of(r),
            format!("Operation not supported for instance: {name}"),
            "{cmd}"
        );
    }
    let r = env
        .c
        .call("migrateVirtualMachine", &[("virtualmachineid", &id)])
        .await;
    assert_eq!(
        text_of(r),
        "Migrate VM instance operation is not allowed for External hypervisor type"
    );
    assert_eq!(
        code_of(
            env.c
                .call("createVMSnapshot", &[("virtualmachineid", &id)])
                .await
        ),
        431
    );
    // An unknown instance is still "not found", not a refusal.
    assert_eq!(
        code_of(
            env.c
                .call(
                    "scaleVirtualMachine",
                    &[
                        ("id", "7b0d8d4e-0000-4000-8000-000000000000"),
                        ("serviceofferingid", &env.offering)
                    ]
                )
                .await
        ),
        431
    );
    let jobs = env.c.call("listAsyncJobs", &[]).await.unwrap();
    assert!(
        jobs["asyncjobs"]
            .as_array()
            .unwrap()
            .iter()
            .all(|j| !j["cmd"].as_str().unwrap_or("").contains("scale")),
        "a refused operation queues no job"
    );
    let d = env
        .run("destroyVirtualMachine", &[("id", &id)])
        .await
        .unwrap();
    assert_eq!(d["virtualmachine"]["state"], "Destroyed");
    assert!(
        env.payloads("delete").is_empty(),
        "destroy without expunge keeps the instance on the extension"
    );
    let r = env
        .c
        .call("recoverVirtualMachine", &[("id", &id)])
        .await
        .unwrap();
    assert_eq!(r["virtualmachine"]["state"], "Stopped");
    env.run("destroyVirtualMachine", &[("id", &id)])
        .await
        .unwrap();
    env.run("expungeVirtualMachine", &[("id", &id)])
        .await
        .unwrap();
    assert_eq!(env.payloads("delete").len(), 1);
    // updateVirtualMachine
    let vm = env.deploy("upd-1").await.unwrap();
    let u = env
        .c
        .call(
            "updateVirtualMachine",
            &[
                ("id", vm["id"].as_str().unwrap()),
                ("displayname", "Nice Name"),
                ("details[0].foo", "bar"),
            ],
        )
        .await
        .unwrap();
    assert_eq!(u["virtualmachine"]["displayname"], "Nice Name");
    assert_eq!(u["virtualmachine"]["details"]["foo"], "bar");
    assert_eq!(
        code_of(
            env.c
                .call(
                    "deployVirtualMachine",
                    &[
                        ("zoneid", &env.zone),
                        ("serviceofferingid", &env.offering),
                        ("templateid", &env.template),
                        ("name", "bad name!")
                    ]
                )
                .await
        ),
        431
    );
}

#[tokio::test]
async fn prepare_patch_updates_nics_on_uuid_and_details() {
    let env = setup(true).await;
    let vm = env.deploy("prep-1").await.unwrap();
    assert_eq!(env.payloads("prepare").len(), 1);
    assert_eq!(
        vm["nic"][0]["macaddress"], "52:54:00:aa:bb:cc",
        "NIC updates from prepare match on uuid"
    );
    let create = &env.payloads("create")[0];
    assert_eq!(
        create["cloudstack.vm.details"]["nics"][0]["mac"],
        "52:54:00:aa:bb:cc"
    );
    assert_eq!(
        create["cloudstack.vm.details"]["details"]["External:vmid"],
        "105"
    );
    assert_eq!(create["externaldetails"]["virtualmachine"]["vmid"], "105");
    // prepare runs on the first start only
    let id = vm["id"].as_str().unwrap().to_string();
    env.run("stopVirtualMachine", &[("id", &id)]).await.unwrap();
    env.run("startVirtualMachine", &[("id", &id)])
        .await
        .unwrap();
    assert_eq!(env.payloads("prepare").len(), 1);
}

#[tokio::test]
async fn failed_create_is_cleaned_up_and_retried_as_create() {
    let env = setup(false).await;
    std::fs::write(env.dir.join("create.fail"), "").unwrap();
    let err = env.deploy("fail-1").await.unwrap_err();
    assert!(err.to_string().contains("create refused by test"), "{err}");
    assert_eq!(
        env.payloads("delete").len(),
        1,
        "the failed create is undone"
    );
    let l = env
        .c
        .call("listVirtualMachines", &[("name", "fail-1")])
        .await
        .unwrap();
    // As upstream, a failed deployment leaves the instance in Error: it cannot be started, it
    // can be destroyed, then recovered (or expunged).
    assert_eq!(l["virtualmachine"][0]["state"], "Error");
    std::fs::remove_file(env.dir.join("create.fail")).unwrap();
    let id = l["virtualmachine"][0]["id"].as_str().unwrap().to_string();
    let refused = text_of(env.run("startVirtualMachine", &[("id", &id)]).await);
    assert!(refused.contains("in state Error"), "{refused}");
    let destroyed = env
        .run("destroyVirtualMachine", &[("id", &id)])
        .await
        .unwrap();
    assert_eq!(destroyed["virtualmachine"]["state"], "Destroyed");
    let recovered = env
        .c
        .call("recoverVirtualMachine", &[("id", &id)])
        .await
        .unwrap();
    assert_eq!(recovered["virtualmachine"]["state"], "Stopped");
    env.run("startVirtualMachine", &[("id", &id)])
        .await
        .unwrap();
    assert_eq!(
        env.payloads("create").len(),
        2,
        "a failed first start is retried as create"
    );
    // Forced stop moves to Stopped even when the extension fails.
    std::fs::write(env.dir.join("stop.fail"), "").unwrap();
    assert!(env.run("stopVirtualMachine", &[("id", &id)]).await.is_err());
    assert_eq!(
        env.c
            .call("listVirtualMachines", &[("id", &id)])
            .await
            .unwrap()["virtualmachine"][0]["state"],
        "Running"
    );
    let forced = env
        .run("stopVirtualMachine", &[("id", &id), ("forced", "true")])
        .await
        .unwrap();
    assert_eq!(forced["virtualmachine"]["state"], "Stopped");
    // A failed start of an instance that was deployed without starting leaves it Stopped; only
    // the deployment's own start goes to Error.
    std::fs::remove_file(env.dir.join("stop.fail")).unwrap();
    std::fs::write(env.dir.join("create.fail"), "").unwrap();
    let r = env
        .c
        .call(
            "deployVirtualMachine",
            &[
                ("zoneid", &env.zone),
                ("serviceofferingid", &env.offering),
                ("templateid", &env.template),
                ("networkids", &env.network),
                ("name", "later-1"),
                ("startvm", "false"),
            ],
        )
        .await
        .unwrap();
    let later = env
        .c
        .wait_job(
            r["jobid"].as_str().unwrap(),
            Duration::from_secs(120),
            |_| {},
        )
        .await
        .unwrap()["virtualmachine"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(env
        .run("startVirtualMachine", &[("id", &later)])
        .await
        .is_err());
    assert_eq!(
        env.c
            .call("listVirtualMachines", &[("id", &later)])
            .await
            .unwrap()["virtualmachine"][0]["state"],
        "Stopped"
    );
    // An Error instance is expunged directly with destroy expunge=true.
    let err = env.deploy("fail-2").await.unwrap_err();
    assert!(err.to_string().contains("create refused by test"), "{err}");
    let l = env
        .c
        .call("listVirtualMachines", &[("name", "fail-2")])
        .await
        .unwrap();
    assert_eq!(l["virtualmachine"][0]["state"], "Error");
    let id = l["virtualmachine"][0]["id"].as_str().unwrap().to_string();
    env.run("destroyVirtualMachine", &[("id", &id), ("expunge", "true")])
        .await
        .unwrap();
    assert_eq!(
        env.c
            .call("listVirtualMachines", &[("id", &id)])
            .await
            .unwrap()["count"]
            .as_i64()
            .unwrap_or(0),
        0
    );
}

#[tokio::test]
async fn custom_actions_run_with_typed_parameters_and_errors() {
    let env = setup(false).await;
    let vm = env.deploy("ca-1").await.unwrap();
    let vmid = vm["id"].as_str().unwrap().to_string();
    let name = vm["instancename"].as_str().unwrap().to_string();
    let a = env
        .c
        .call(
            "addCustomAction",
            &[
                ("extensionid", &env.ext_id),
                ("name", "Echo"),
                ("enabled", "true"),
                ("allowedroletypes", "User"),
                (
                    "successmessage",
                    "Did {{actionName}} on {{resourceName}} via {{extensionName}}",
                ),
                ("details[0].abc", "xyz"),
                ("parameters[0].name", "count"),
                ("parameters[0].type", "NUMBER"),
                ("parameters[0].valueoptions", "1,2,3"),
                ("parameters[0].required", "true"),
                ("parameters[1].name", "flag"),
                ("parameters[1].type", "BOOLEAN"),
                ("parameters[2].name", "when"),
                ("parameters[2].type", "DATE"),
                ("parameters[3].name", "mail"),
                ("parameters[3].validationformat", "EMAIL"),
            ],
        )
        .await
        .unwrap();
    let aid = a["extensioncustomaction"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = env
        .run(
            "runCustomAction",
            &[
                ("customactionid", &aid),
                ("resourceid", &vmid),
                ("parameters[0].count", "2"),
                ("parameters[0].flag", "true"),
                ("parameters[0].when", "2026-01-31T12:00:00Z"),
                ("parameters[0].mail", "ops@example.org"),
            ],
        )
        .await
        .unwrap();
    let res = &r["customactionresult"];
    assert_eq!(res["success"], true);
    assert_eq!(res["name"], "Echo");
    assert_eq!(
        res["result"]["message"],
        format!("Did Echo on {name} via rec")
    );
    let printed: Value = serde_json::from_str(res["result"]["details"].as_str().unwrap()).unwrap();
    assert_eq!(printed["printmessage"], "true");
    assert_eq!(
        printed["message"],
        serde_json::json!({"count": 2, "flag": true, "when": "2026-01-31T12:00:00+0000", "mail": "ops@example.org"})
    );
    let payload = &env.payloads("Echo")[0];
    assert_eq!(payload["action"], "Echo");
    assert_eq!(payload["externaldetails"]["action"]["abc"], "xyz");
    assert_eq!(
        payload["cloudstack.vm.details"]["nics"],
        serde_json::json!([])
    );
    // Validation errors fail the job with 431 texts.
    let missing = env
        .run(
            "runCustomAction",
            &[("customactionid", &aid), ("resourceid", &vmid)],
        )
        .await;
    assert_eq!(
        text_of(missing),
        "Missing or empty required parameter: count"
    );
    let bad = env
        .run(
            "runCustomAction",
            &[
                ("customactionid", &aid),
                ("resourceid", &vmid),
                ("parameters[0].count", "7"),
            ],
        )
        .await;
    assert!(text_of(bad).starts_with("Invalid value for parameter 'count': 7"));
    let bad = env
        .run(
            "runCustomAction",
            &[
                ("customactionid", &aid),
                ("resourceid", &vmid),
                ("parameters[0].count", "1"),
                ("parameters[0].flag", "yes"),
            ],
        )
        .await;
    assert_eq!(code_of(bad), 431);
    // Plain text output comes back verbatim; a failing action gives success=false, not a job error.
    let plain = env
        .c
        .call(
            "addCustomAction",
            &[
                ("extensionid", &env.ext_id),
                ("name", "Plain"),
                ("enabled", "true"),
            ],
        )
        .await
        .unwrap();
    let r = env
        .run(
            "runCustomAction",
            &[
                (
                    "customactionid",
                    plain["extensioncustomaction"]["id"].as_str().unwrap(),
                ),
                ("resourceid", &vmid),
            ],
        )
        .await
        .unwrap();
    assert_eq!(
        r["customactionresult"]["result"]["details"],
        format!("hello for {name}")
    );
    let broken = env
        .c
        .call(
            "addCustomAction",
            &[
                ("extensionid", &env.ext_id),
                ("name", "Broken"),
                ("enabled", "true"),
                ("errormessage", "Failed {{actionName}}"),
            ],
        )
        .await
        .unwrap();
    let r = env
        .run(
            "runCustomAction",
            &[
                (
                    "customactionid",
                    broken["extensioncustomaction"]["id"].as_str().unwrap(),
                ),
                ("resourceid", &vmid),
            ],
        )
        .await
        .unwrap();
    assert_eq!(r["customactionresult"]["success"], false);
    assert_eq!(
        r["customactionresult"]["result"]["message"],
        "Failed Broken"
    );
    assert!(r["customactionresult"]["result"]["details"]
        .as_str()
        .unwrap()
        .contains("unknown action Broken"));
    // Disabled action, disabled extension, role not allowed.
    let off = env
        .c
        .call(
            "addCustomAction",
            &[("extensionid", &env.ext_id), ("name", "Off")],
        )
        .await
        .unwrap();
    assert_eq!(
        code_of(
            env.run(
                "runCustomAction",
                &[
                    (
                        "customactionid",
                        off["extensioncustomaction"]["id"].as_str().unwrap()
                    ),
                    ("resourceid", &vmid)
                ]
            )
            .await
        ),
        431
    );
    let user = env.s.user(&env.c, "u1", "0").await;
    // Echo allows User, but the instance belongs to admin: the job fails with 531.
    let r = user
        .call(
            "runCustomAction",
            &[
                ("customactionid", &aid),
                ("resourceid", &vmid),
                ("parameters[0].count", "1"),
            ],
        )
        .await
        .unwrap();
    let err = user
        .wait_job(
            r["jobid"].as_str().unwrap(),
            Duration::from_secs(30),
            |_| {},
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(531), "{err}");
    // Plain is admin-only: 431.
    let r = user
        .call(
            "runCustomAction",
            &[
                (
                    "customactionid",
                    plain["extensioncustomaction"]["id"].as_str().unwrap(),
                ),
                ("resourceid", &vmid),
            ],
        )
        .await
        .unwrap();
    let err = user
        .wait_job(
            r["jobid"].as_str().unwrap(),
            Duration::from_secs(30),
            |_| {},
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(431), "{err}");
    env.c
        .call(
            "updateExtension",
            &[("id", &env.ext_id), ("state", "Disabled")],
        )
        .await
        .unwrap();
    assert_eq!(
        code_of(
            env.run(
                "runCustomAction",
                &[
                    ("customactionid", &aid),
                    ("resourceid", &vmid),
                    ("parameters[0].count", "1")
                ]
            )
            .await
        ),
        530
    );
    // listCustomActions for an instance (what the console's Run Action view asks).
    env.c
        .call(
            "updateExtension",
            &[("id", &env.ext_id), ("state", "Enabled")],
        )
        .await
        .unwrap();
    let l = env
        .c
        .call(
            "listCustomActions",
            &[
                ("resourcetype", "VirtualMachine"),
                ("resourceid", &vmid),
                ("enabled", "true"),
            ],
        )
        .await
        .unwrap();
    assert_eq!(l["count"], 3);
}

#[tokio::test]
async fn host_maintenance_stops_instances() {
    let env = setup(false).await;
    let a = env.deploy("m-1").await.unwrap();
    let b = env.deploy("m-2").await.unwrap();
    let h = env
        .run("prepareHostForMaintenance", &[("id", &env.host)])
        .await
        .unwrap();
    assert_eq!(h["host"]["resourcestate"], "Maintenance");
    for vm in [&a, &b] {
        let l = env
            .c
            .call("listVirtualMachines", &[("id", vm["id"].as_str().unwrap())])
            .await
            .unwrap();
        assert_eq!(l["virtualmachine"][0]["state"], "Stopped");
    }
    assert_eq!(env.payloads("stop").len(), 2);
    let err = env.deploy("m-3").await.unwrap_err();
    assert_eq!(err.code(), Some(533), "no host to place on: {err}");
    let h = env
        .run("cancelHostMaintenance", &[("id", &env.host)])
        .await
        .unwrap();
    assert_eq!(h["host"]["resourcestate"], "Enabled");
}

#[tokio::test]
async fn out_of_band_power_changes_are_synced() {
    let env = setup(false).await;
    let vm = env.deploy("oob-1").await.unwrap();
    let name = vm["instancename"].as_str().unwrap().to_string();
    env.c
        .call(
            "updateConfiguration",
            &[("name", "extension.power.sync.interval"), ("value", "1")],
        )
        .await
        .unwrap();
    std::fs::write(env.dir.join("state").join(&name), "poweroff").unwrap();
    let id = vm["id"].as_str().unwrap().to_string();
    let state = |want: &'static str| {
        let c = env.c.clone();
        let id = id.clone();
        async move {
            (c.call("listVirtualMachines", &[("id", &id)]).await.ok()?["virtualmachine"][0]
                ["state"]
                == want)
                .then_some(())
        }
    };
    wait_for(
        Duration::from_secs(30),
        "instance Stopped after out-of-band poweroff",
        || state("Stopped"),
    )
    .await;
    let ev = env
        .c
        .call("listEvents", &[("type", "VM.POWER.STATE")])
        .await
        .unwrap();
    assert!(ev["count"].as_i64().unwrap() >= 1);
    assert!(
        !env.payloads("statuses").is_empty(),
        "one statuses call per host, not one status per instance"
    );
    assert!(env.payloads("status").is_empty());
    std::fs::write(env.dir.join("state").join(&name), "poweron").unwrap();
    wait_for(
        Duration::from_secs(30),
        "instance Running after out-of-band poweron",
        || state("Running"),
    )
    .await;
}

#[tokio::test]
async fn concurrent_deploys_and_conflicting_operations() {
    let env = setup(false).await;
    let mut set = tokio::task::JoinSet::new();
    for i in 0..50 {
        let c = env.c.clone();
        let (zone, offering, template, network) = (
            env.zone.clone(),
            env.offering.clone(),
            env.template.clone(),
            env.network.clone(),
        );
        set.spawn(async move {
            let r = c
                .call(
                    "deployVirtualMachine",
                    &[
                        ("zoneid", &zone),
                        ("serviceofferingid", &offering),
                        ("templateid", &template),
                        ("networkids", &network),
                        ("name", &format!("par-{i}")),
                    ],
                )
                .await?;
            c.wait_job(
                r["jobid"].as_str().unwrap(),
                Duration::from_secs(300),
                |_| {},
            )
            .await
        });
    }
    let mut macs = std::collections::HashSet::new();
    while let Some(r) = set.join_next().await {
        let v = r.unwrap().unwrap();
        assert_eq!(v["virtualmachine"]["state"], "Running");
        assert!(
            macs.insert(
                v["virtualmachine"]["nic"][0]["macaddress"]
                    .as_str()
                    .unwrap()
                    .to_string()
            ),
            "MAC addresses are unique"
        );
    }
    assert_eq!(env.payloads("create").len(), 50);
    assert_eq!(
        env.c
            .call("listVirtualMachines", &[("state", "Running")])
            .await
            .unwrap()["count"],
        50
    );
    // Two operations on one instance: the second is refused while the first runs.
    std::fs::write(env.dir.join("stop.sleep"), "2").unwrap();
    let id = env
        .c
        .call("listVirtualMachines", &[("name", "par-0")])
        .await
        .unwrap()["virtualmachine"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let first = env
        .c
        .call("stopVirtualMachine", &[("id", &id)])
        .await
        .unwrap();
    let second = env.c.call("rebootVirtualMachine", &[("id", &id)]).await;
    let text = text_of(second);
    assert!(text.contains("operation in progress"), "{text}");
    let done = env
        .c
        .wait_job(
            first["jobid"].as_str().unwrap(),
            Duration::from_secs(60),
            |_| {},
        )
        .await
        .unwrap();
    assert_eq!(done["virtualmachine"]["state"], "Stopped");
}
