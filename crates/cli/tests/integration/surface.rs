//! The CloudStack commands automation tools call around the core: the guest OS catalogue and
//! template attributes, resource tags, destroyed instances (visibility, recover, expunge, the
//! reaper, tombstones) and unknown commands.

use super::instances::{setup, Env};
use super::*;

const NEVER: &str = "0b7c6a2e-1d3f-4a5b-9c8d-7e6f5a4b3c2d";

async fn os_type_id(c: &Client, description: &str) -> String {
    let l = c
        .call("listOsTypes", &[("description", description)])
        .await
        .unwrap();
    assert_eq!(l["count"], 1, "{description}: {l}");
    l["ostype"][0]["id"].as_str().unwrap().to_string()
}

async fn template_of(
    env: &Env,
    params: &[(&str, &str)],
) -> Result<Value, trellis_client::ClientError> {
    let mut all: Vec<(&str, &str)> = [
        ("format", "QCOW2"),
        ("hypervisor", "External"),
        ("url", "http://dummy"),
        ("zoneid", env.zone.as_str()),
        ("extensionid", env.ext_id.as_str()),
    ]
    .into_iter()
    .filter(|(k, _)| !params.iter().any(|(p, _)| p == k))
    .collect();
    all.extend_from_slice(params);
    env.c
        .call("registerTemplate", &all)
        .await
        .map(|v| v["template"][0].clone())
}

#[tokio::test]
async fn os_types_and_template_attributes() {
    let env = setup(false).await;
    let c = &env.c;
    // The catalogue: exact descriptions find one row (Packer and Terraform need count == 1),
    // substrings the rest, sorted; ids are the same on every installation.
    let all = c.call("listOsTypes", &[]).await.unwrap();
    assert!(all["count"].as_i64().unwrap() >= 20, "{all}");
    let other = os_type_id(c, "Other (64-bit)").await;
    assert_eq!(other, os_type_id(c, "other (64-BIT)").await);
    let ubuntu = c
        .call("listOsTypes", &[("description", "Ubuntu")])
        .await
        .unwrap();
    let names: Vec<&str> = ubuntu["ostype"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["description"].as_str().unwrap())
        .collect();
    assert!(
        names.len() >= 5 && names.windows(2).all(|w| w[0] <= w[1]),
        "{names:?}"
    );
    let cats = c.call("listOsCategories", &[]).await.unwrap();
    let ubuntu_cat = cats["oscategory"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["name"] == "Ubuntu")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let in_cat = c
        .call("listOsTypes", &[("oscategoryid", &ubuntu_cat)])
        .await
        .unwrap();
    assert!(in_cat["ostype"]
        .as_array()
        .unwrap()
        .iter()
        .all(|t| t["oscategoryname"] == "Ubuntu"));
    let paged = c
        .call("listOsTypes", &[("page", "2"), ("pagesize", "5")])
        .await
        .unwrap();
    assert_eq!(paged["ostype"].as_array().unwrap().len(), 5);
    assert_eq!(
        paged["count"], all["count"],
        "count is the total, not the page"
    );

    // Templates name an OS type and a disk format, both checked; both reach the views.
    let noble = os_type_id(c, "Ubuntu 24.04 LTS").await;
    let t = template_of(&env, &[("name", "noble"), ("ostypeid", &noble)])
        .await
        .unwrap();
    assert_eq!(t["ostypeid"], noble.as_str());
    assert_eq!(t["ostypename"], "Ubuntu 24.04 LTS");
    assert_eq!(t["format"], "QCOW2");
    assert_eq!(t["tags"], serde_json::json!([]));
    let r = template_of(&env, &[("name", "x"), ("ostypeid", NEVER)]).await;
    assert!(text_of(r).contains(&format!("Invalid parameter ostypeid value={NEVER}")));
    let r = template_of(&env, &[("name", "x"), ("format", "FLOPPY")]).await;
    assert_eq!(code_of(r), 431);
    // What Ansible and Packer always send: the values Trellis implements pass, others are named.
    template_of(
        &env,
        &[
            ("name", "flags"),
            ("bits", "64"),
            ("passwordenabled", "false"),
            ("isdynamicallyscalable", "false"),
        ],
    )
    .await
    .unwrap();
    for (flag, value) in [
        ("passwordenabled", "true"),
        ("isdynamicallyscalable", "true"),
        ("bits", "32"),
    ] {
        let r = template_of(&env, &[("name", "x"), (flag, value)]).await;
        assert!(
            text_of(r).contains(&format!("{flag}={value} is not supported")),
            "{flag}"
        );
    }
    let second_zone = c
        .call("createZone", &[("name", "z2"), ("dns1", "192.0.2.53")])
        .await
        .unwrap()["zone"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let zones = format!("{},{second_zone}", env.zone);
    let r = template_of(&env, &[("name", "x"), ("zoneids", &zones)]).await;
    assert_eq!(code_of(r), 431, "several zones are refused, not dropped");

    // updateTemplate: every check before any write.
    let tid = t["id"].as_str().unwrap().to_string();
    let r = c
        .call(
            "updateTemplate",
            &[("id", &tid), ("name", "renamed"), ("ostypeid", NEVER)],
        )
        .await;
    assert_eq!(code_of(r), 431);
    let u = c
        .call(
            "updateTemplate",
            &[
                ("id", &tid),
                ("name", "renamed"),
                ("displaytext", "Renamed"),
                ("ostypeid", &other),
                ("arch", "aarch64"),
            ],
        )
        .await
        .unwrap();
    assert_eq!(u["template"]["name"], "renamed");
    assert_eq!(u["template"]["ostypeid"], other.as_str());
    assert_eq!(u["template"]["arch"], "aarch64");
    // Back to the cluster's architecture, or no host could take the instance below.
    c.call("updateTemplate", &[("id", &tid), ("arch", "x86_64")])
        .await
        .unwrap();
    let user = env.s.user(c, "tenant", "0").await;
    assert_eq!(
        code_of(
            user.call("updateTemplate", &[("id", &tid), ("name", "mine")])
                .await
        ),
        531,
        "a tenant cannot change an administrator's template"
    );

    // A deploy from the QCOW2 template hands the format to the extension; the instance reports
    // the template's OS type.
    let vm = env
        .c
        .call(
            "deployVirtualMachine",
            &[
                ("zoneid", &env.zone),
                ("serviceofferingid", &env.offering),
                ("templateid", &tid),
                ("networkids", &env.network),
                ("name", "fmt-1"),
            ],
        )
        .await
        .unwrap();
    let vm = c
        .wait_job(
            vm["jobid"].as_str().unwrap(),
            Duration::from_secs(60),
            |_| {},
        )
        .await
        .unwrap()["virtualmachine"]
        .clone();
    assert_eq!(vm["ostypeid"], other.as_str());
    assert_eq!(vm["guestosid"], other.as_str());
    let create = env.payloads("create");
    let p = create.last().unwrap();
    assert_eq!(
        p["externaldetails"]["virtualmachine"]["cloudstack.template.format"],
        "QCOW2"
    );
    // Upstream's EXTERNAL templates add nothing to the payload.
    env.deploy("plain-1").await.unwrap();
    let p = env.payloads("create");
    assert!(p.last().unwrap()["externaldetails"]["virtualmachine"]
        .get("cloudstack.template.format")
        .is_none());
}

#[tokio::test]
async fn tags_on_instances_and_templates() {
    let env = setup(false).await;
    let c = &env.c;
    let vm = env.deploy("tagged-1").await.unwrap();
    let other = env.deploy("plain-1").await.unwrap();
    let id = vm["id"].as_str().unwrap().to_string();
    // Terraform writes the type as `userVm`: matched without regard to case.
    env.run(
        "createTags",
        &[
            ("resourceids", &id),
            ("resourcetype", "userVm"),
            ("tags[0].key", "env"),
            ("tags[0].value", "prod"),
            ("tags[1].key", "team"),
            ("tags[1].value", "web"),
        ],
    )
    .await
    .unwrap();
    let tags = c
        .call(
            "listTags",
            &[("resourceid", &id), ("resourcetype", "UserVm")],
        )
        .await
        .unwrap();
    assert_eq!(tags["count"], 2);
    assert_eq!(tags["tag"][0]["resourcetype"], "UserVm");
    assert_eq!(tags["tag"][0]["resourceid"], id.as_str());
    assert_eq!(tags["tag"][0]["account"], "admin");
    // The view carries them, and list filters need every pair.
    let l = c
        .call(
            "listVirtualMachines",
            &[("tags[0].key", "env"), ("tags[0].value", "prod")],
        )
        .await
        .unwrap();
    assert_eq!(l["count"], 1);
    assert_eq!(l["virtualmachine"][0]["id"], id.as_str());
    let keys: Vec<&str> = l["virtualmachine"][0]["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["env", "team"]);
    let none = c
        .call(
            "listVirtualMachines",
            &[
                ("tags[0].key", "env"),
                ("tags[0].value", "prod"),
                ("tags[1].key", "team"),
                ("tags[1].value", "db"),
            ],
        )
        .await
        .unwrap();
    assert_eq!(none, serde_json::json!({}));
    let o = c
        .call(
            "listVirtualMachines",
            &[("id", other["id"].as_str().unwrap())],
        )
        .await
        .unwrap();
    assert_eq!(o["virtualmachine"][0]["tags"], serde_json::json!([]));

    // Refusals: each leaves nothing behind.
    let r = env
        .run(
            "createTags",
            &[
                ("resourceids", &id),
                ("resourcetype", "UserVm"),
                ("tags[0].key", "owner"),
                ("tags[0].value", "me"),
                ("tags[1].key", "ENV"),
                ("tags[1].value", "dev"),
            ],
        )
        .await;
    assert!(text_of(r).contains("already exists"));
    let r = c
        .call(
            "createTags",
            &[
                ("resourceids", &id),
                ("resourcetype", "UserVm"),
                ("tags[0].key", "empty"),
            ],
        )
        .await;
    assert_eq!(
        text_of(r),
        "Value for the key empty is either null or empty"
    );
    let r = c
        .call(
            "createTags",
            &[
                ("resourceids", &id),
                ("resourcetype", "Spaceship"),
                ("tags[0].key", "k"),
                ("tags[0].value", "v"),
            ],
        )
        .await;
    assert_eq!(text_of(r), "Invalid resource type Spaceship");
    let r = c
        .call(
            "createTags",
            &[
                ("resourceids", NEVER),
                ("resourcetype", "UserVm"),
                ("tags[0].key", "k"),
                ("tags[0].value", "v"),
            ],
        )
        .await;
    assert_eq!(
        text_of(r),
        format!("Unable to find resource by uuid {NEVER} and type UserVm")
    );
    let tenant = env.s.user(c, "tenant", "0").await;
    let r = tenant
        .call(
            "createTags",
            &[
                ("resourceids", &id),
                ("resourcetype", "UserVm"),
                ("tags[0].key", "k"),
                ("tags[0].value", "v"),
            ],
        )
        .await;
    assert_eq!(code_of(r), 531, "another account's instance");
    assert_eq!(
        tenant.call("listTags", &[]).await.unwrap(),
        serde_json::json!({}),
        "a tenant sees no other account's tags"
    );
    assert_eq!(
        c.call("listTags", &[("resourceid", &id)]).await.unwrap()["count"],
        2
    );

    // Templates take tags too.
    env.run(
        "createTags",
        &[
            ("resourceids", &env.template),
            ("resourcetype", "Template"),
            ("tags[0].key", "os"),
            ("tags[0].value", "linux"),
        ],
    )
    .await
    .unwrap();
    let t = c
        .call(
            "listTemplates",
            &[
                ("templatefilter", "self"),
                ("tags[0].key", "os"),
                ("tags[0].value", "linux"),
            ],
        )
        .await
        .unwrap();
    assert_eq!(t["count"], 1);
    assert_eq!(t["template"][0]["tags"][0]["key"], "os");

    // deleteTags: a key alone matches any value (case-insensitive); nothing matched is a 431.
    env.run(
        "deleteTags",
        &[
            ("resourceids", &id),
            ("resourcetype", "UserVm"),
            ("tags[0].key", "ENV"),
        ],
    )
    .await
    .unwrap();
    let r = env
        .run(
            "deleteTags",
            &[
                ("resourceids", &id),
                ("resourcetype", "UserVm"),
                ("tags[0].key", "team"),
                ("tags[0].value", "db"),
            ],
        )
        .await;
    assert_eq!(
        text_of(r),
        "Unable to find any tags which conform to specified delete parameters."
    );
    // Tags go with their resource.
    env.run("destroyVirtualMachine", &[("id", &id), ("expunge", "true")])
        .await
        .unwrap();
    assert_eq!(
        c.call("listTags", &[("resourceid", &id)]).await.unwrap(),
        serde_json::json!({})
    );
}

#[tokio::test]
async fn destroyed_instances_recover_expunge_and_tombstones() {
    let env = setup(false).await;
    let c = &env.c;
    let vm = env.deploy("d-1").await.unwrap();
    let id = vm["id"].as_str().unwrap().to_string();
    env.run("destroyVirtualMachine", &[("id", &id)])
        .await
        .unwrap();
    // Administrators see Destroyed instances in every listing; `state=present` hides them.
    let l = c.call("listVirtualMachines", &[]).await.unwrap();
    assert_eq!(l["virtualmachine"][0]["state"], "Destroyed");
    let kw = c
        .call("listVirtualMachines", &[("keyword", "d-1")])
        .await
        .unwrap();
    assert_eq!(kw["count"], 1, "Ansible finds its instance by keyword");
    let present = c
        .call("listVirtualMachines", &[("state", "Present")])
        .await
        .unwrap();
    assert_eq!(present, serde_json::json!({}));
    // Destroying a Destroyed instance answers it unchanged and calls nothing.
    let again = env
        .run("destroyVirtualMachine", &[("id", &id)])
        .await
        .unwrap();
    assert_eq!(again["virtualmachine"]["state"], "Destroyed");
    assert!(env.payloads("stop").len() == 1 && env.payloads("delete").is_empty());

    // Users: no expunge or recover unless the setting allows it; the capability says which.
    let tenant = env.s.user(c, "tenant", "0").await;
    let caps = tenant.call("listCapabilities", &[]).await.unwrap();
    assert_eq!(caps["capability"]["allowuserexpungerecovervm"], false);
    assert_eq!(caps["capability"]["allowuserviewdestroyedvm"], false);
    let r = tenant
        .call("destroyVirtualMachine", &[("id", &id), ("expunge", "true")])
        .await;
    assert!(text_of(r).contains("allow.user.expunge.recover.vm"));
    c.call(
        "updateConfiguration",
        &[("name", "allow.user.expunge.recover.vm"), ("value", "true")],
    )
    .await
    .unwrap();
    let caps = tenant.call("listCapabilities", &[]).await.unwrap();
    assert_eq!(caps["capability"]["allowuserexpungerecovervm"], true);

    // Recover: back to Stopped with no extension call; only from Destroyed.
    let r = c
        .call("recoverVirtualMachine", &[("id", &id)])
        .await
        .unwrap();
    assert_eq!(r["virtualmachine"]["state"], "Stopped");
    let r = c.call("recoverVirtualMachine", &[("id", &id)]).await;
    assert!(text_of(r).contains("is not in the right state"));
    env.run("destroyVirtualMachine", &[("id", &id)])
        .await
        .unwrap();

    // destroy expunge=true on a Destroyed instance expunges it (Ansible's state=expunged).
    env.run("destroyVirtualMachine", &[("id", &id), ("expunge", "true")])
        .await
        .unwrap();
    assert_eq!(env.payloads("delete").len(), 1);
    // The tombstone: an expunged id lists as nothing and a destroy of it fails in the job with
    // the text CAPC takes for "already gone"; an id that never existed is a 431 at once.
    assert_eq!(
        c.call("listVirtualMachines", &[("id", &id)]).await.unwrap(),
        serde_json::json!({})
    );
    let r = env.run("destroyVirtualMachine", &[("id", &id)]).await;
    assert!(text_of(r)
        .to_lowercase()
        .contains("unable to find uuid for id"),);
    let r = c.call("listVirtualMachines", &[("id", NEVER)]).await;
    assert!(text_of(r).contains(&format!("Invalid parameter id value={NEVER}")));
    let r = c.call("destroyVirtualMachine", &[("id", NEVER)]).await;
    assert!(text_of(r).contains("entity does not exist"));
}

#[tokio::test]
async fn the_expunge_reaper_expunges_through_a_job() {
    let env = setup(false).await;
    let c = &env.c;
    for (name, value) in [("expunge.delay", "0"), ("expunge.interval", "1")] {
        c.call("updateConfiguration", &[("name", name), ("value", value)])
            .await
            .unwrap();
    }
    let vm = env.deploy("reaped-1").await.unwrap();
    let id = vm["id"].as_str().unwrap().to_string();
    env.run("destroyVirtualMachine", &[("id", &id)])
        .await
        .unwrap();
    let c2 = c.clone();
    let id2 = id.clone();
    wait_for(Duration::from_secs(30), "the reaper's expunge", || {
        let (c2, id2) = (c2.clone(), id2.clone());
        async move {
            (c2.call("listVirtualMachines", &[("id", &id2)]).await.ok()? == serde_json::json!({}))
                .then_some(())
        }
    })
    .await;
    assert_eq!(env.payloads("delete").len(), 1);
    let jobs = c.call("listAsyncJobs", &[]).await.unwrap();
    assert!(jobs["asyncjobs"]
        .as_array()
        .unwrap()
        .iter()
        .any(|j| j["cmd"]
            .as_str()
            .is_some_and(|c| c.ends_with("expungeVirtualMachine"))
            && j["jobinstanceid"] == id.as_str()));
}

#[tokio::test]
async fn unknown_commands_are_named_and_logged() {
    let s = TestServer::start();
    let c = s.admin().await;
    let r = c.call("frobnicateVirtualMachine", &[]).await;
    match r {
        Err(trellis_client::ClientError::Api { code, text, .. }) => {
            assert_eq!(code, 401);
            assert!(text.contains("frobnicateVirtualMachine"), "{text}");
        }
        other => panic!("expected a 401, got {other:?}"),
    }
    let logs = s.logs();
    assert!(
        logs.contains("unknown API command") && logs.contains("frobnicateVirtualMachine"),
        "{logs}"
    );
    // A parameter the command does not take is answered as upstream does (ignored), but named
    // in the log; the ones every request carries are not.
    let zones = c
        .call("listZones", &[("frobnicate", "1"), ("name", "none")])
        .await
        .unwrap();
    assert_eq!(zones, serde_json::json!({}));
    let logs = s.logs();
    let warned: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("request parameters the command does not take were ignored"))
        .collect();
    assert_eq!(warned.len(), 1, "{logs}");
    assert!(
        warned[0].contains("frobnicate") && !warned[0].contains("apikey"),
        "{}",
        warned[0]
    );
}

#[tokio::test]
async fn root_volumes_and_deploy_parameters() {
    let env = setup(false).await;
    let c = &env.c;
    let deploy = |extra: Vec<(&'static str, String)>| {
        let env = &env;
        async move {
            let mut params: Vec<(&str, &str)> = vec![
                ("zoneid", env.zone.as_str()),
                ("serviceofferingid", env.offering.as_str()),
                ("templateid", env.template.as_str()),
                ("networkids", env.network.as_str()),
            ];
            params.extend(extra.iter().map(|(k, v)| (*k, v.as_str())));
            let r = env.c.call("deployVirtualMachine", &params).await?;
            env.c
                .wait_job(
                    r["jobid"].as_str().unwrap(),
                    Duration::from_secs(60),
                    |_| {},
                )
                .await
                .map(|v| v["virtualmachine"].clone())
        }
    };
    let clusters = c.call("listClusters", &[]).await.unwrap();
    let cluster = clusters["cluster"][0]["id"].as_str().unwrap().to_string();
    let pod = clusters["cluster"][0]["podid"]
        .as_str()
        .unwrap()
        .to_string();
    let vm = deploy(vec![
        ("name", "uefi-1".into()),
        ("rootdisksize", "20".into()),
        ("boottype", "uefi".into()),
        ("bootmode", "Secure".into()),
        ("clusterid", cluster.clone()),
        ("podid", pod.clone()),
        ("securitygroupids", String::new()),
    ])
    .await
    .unwrap();
    assert_eq!(
        (vm["boottype"].as_str(), vm["bootmode"].as_str()),
        (Some("UEFI"), Some("SECURE"))
    );
    assert_eq!(vm["hostid"], env.host.as_str());
    let create = env.payloads("create");
    let to = &create.last().unwrap()["cloudstack.vm.details"];
    assert_eq!(
        (to["bootType"].as_str(), to["bootMode"].as_str()),
        (Some("UEFI"), Some("SECURE"))
    );
    assert_eq!(to["details"]["rootdisksize"], "20");
    let id = vm["id"].as_str().unwrap().to_string();

    // The ROOT volume: one per instance, sized from rootdisksize, found the way Packer and
    // Terraform look for it.
    let v = c
        .call(
            "listVolumes",
            &[("type", "ROOT"), ("virtualmachineid", &id)],
        )
        .await
        .unwrap();
    assert_eq!(v["count"], 1, "{v}");
    let vol = &v["volume"][0];
    assert_eq!(vol["size"], 20i64 << 30);
    assert_eq!(vol["state"], "Ready");
    assert_eq!(vol["virtualmachineid"], id.as_str());
    assert!(vol["name"].as_str().unwrap().starts_with("ROOT-"));
    let vol_id = vol["id"].as_str().unwrap().to_string();
    assert_eq!(
        c.call("listVolumes", &[("id", &vol_id)]).await.unwrap()["count"],
        1
    );
    assert_eq!(
        c.call(
            "listVolumes",
            &[("type", "DATADISK"), ("virtualmachineid", &id)]
        )
        .await
        .unwrap(),
        serde_json::json!({}),
        "CAPC finds no data disks"
    );
    env.run(
        "createTags",
        &[
            ("resourceids", &vol_id),
            ("resourcetype", "Volume"),
            ("tags[0].key", "tier"),
            ("tags[0].value", "gold"),
        ],
    )
    .await
    .unwrap();
    let tagged = c
        .call(
            "listVolumes",
            &[("tags[0].key", "tier"), ("tags[0].value", "gold")],
        )
        .await
        .unwrap();
    assert_eq!(tagged["volume"][0]["tags"][0]["value"], "gold");
    // Volume operations are refused as upstream refuses them for External; unknown ids first.
    let r = c
        .call("resizeVolume", &[("id", &vol_id), ("size", "40")])
        .await;
    assert_eq!(
        text_of(r),
        "Volume operations are not allowed for External hypervisor type"
    );
    let r = c
        .call("attachVolume", &[("id", NEVER), ("virtualmachineid", &id)])
        .await;
    assert!(text_of(r).contains("entity does not exist"));
    // Destroyed instance: its volume is in state Destroy, still listed for administrators.
    env.run("destroyVirtualMachine", &[("id", &id)])
        .await
        .unwrap();
    let v = c.call("listVolumes", &[("id", &vol_id)]).await.unwrap();
    assert_eq!(v["volume"][0]["state"], "Destroy");
    assert_eq!(
        c.call("listVolumes", &[("id", &vol_id), ("state", "Ready")])
            .await
            .unwrap(),
        serde_json::json!({})
    );

    // Refusals, each by name, none leaving an instance behind.
    let before = c.call("listVirtualMachines", &[]).await.unwrap()["count"].clone();
    for (param, value, code) in [
        ("boottype", "FLOPPY", 431),
        ("securitygroupids", "abc", 431),
        ("affinitygroupids", NEVER, 431),
        ("projectid", NEVER, 431),
        ("hypervisor", "KVM", 431),
        ("rootdisksize", "0", 431),
    ] {
        let r = deploy(vec![(param, value.to_string())]).await;
        match r {
            Err(e) => {
                assert_eq!(e.code(), Some(code), "{param}: {e}");
            }
            Ok(v) => panic!("{param}={value} was accepted: {v}"),
        }
    }
    let other_zone = c
        .call("createZone", &[("name", "z2"), ("dns1", "192.0.2.53")])
        .await
        .unwrap()["zone"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let other_pod = c
        .call(
            "createPod",
            &[
                ("zoneid", &other_zone),
                ("name", "p2"),
                ("gateway", "192.0.2.1"),
                ("netmask", "255.255.255.0"),
                ("startip", "192.0.2.10"),
                ("endip", "192.0.2.20"),
            ],
        )
        .await
        .unwrap()["pod"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = deploy(vec![("podid", other_pod)]).await;
    assert!(text_of(r).contains("is not in zone"));
    assert_eq!(
        c.call("listVirtualMachines", &[]).await.unwrap()["count"],
        before,
        "no refused deploy left an instance"
    );
    let tenant = env.s.user(c, "tenant", "0").await;
    let r = tenant
        .call(
            "deployVirtualMachine",
            &[
                ("zoneid", &env.zone),
                ("serviceofferingid", &env.offering),
                ("templateid", &env.template),
                ("clusterid", &cluster),
            ],
        )
        .await;
    assert_eq!(code_of(r), 531);
}

#[tokio::test]
async fn keys_and_user_data_of_a_stopped_instance_reach_the_next_start() {
    let env = setup(false).await;
    let c = &env.c;
    let k1 = c.call("createSSHKeyPair", &[("name", "k1")]).await.unwrap();
    let k2 = c.call("createSSHKeyPair", &[("name", "k2")]).await.unwrap();
    assert!(k1["keypair"]["privatekey"]
        .as_str()
        .unwrap()
        .contains("PRIVATE KEY"));
    let vm = env
        .run(
            "deployVirtualMachine",
            &[
                ("zoneid", env.zone.as_str()),
                ("serviceofferingid", env.offering.as_str()),
                ("templateid", env.template.as_str()),
                ("name", "keyed"),
                ("keypair", "k1"),
                ("userdata", "I2Nsb3VkLWNvbmZpZwo="),
            ],
        )
        .await
        .unwrap();
    let id = vm["virtualmachine"]["id"].as_str().unwrap().to_string();
    assert_eq!(vm["virtualmachine"]["keypairs"], "k1");

    // Only while Stopped, as upstream.
    let r = c
        .call(
            "resetSSHKeyForVirtualMachine",
            &[("id", &id), ("keypair", "k2")],
        )
        .await;
    assert!(text_of(r).contains("must be Stopped"));
    let r = c
        .call(
            "resetUserDataForVirtualMachine",
            &[("id", &id), ("userdata", "I2Nsb3VkLWNvbmZpZwo=")],
        )
        .await;
    assert!(text_of(r).contains("must be Stopped"));
    env.run("stopVirtualMachine", &[("id", &id)]).await.unwrap();

    // Bad input changes nothing.
    let r = c
        .call(
            "resetSSHKeyForVirtualMachine",
            &[("id", &id), ("keypair", "nope")],
        )
        .await;
    assert!(text_of(r).contains("Unable to find key pair nope"));
    let r = c.call("resetSSHKeyForVirtualMachine", &[("id", &id)]).await;
    assert_eq!(code_of(r), 431);
    let r = c
        .call(
            "resetUserDataForVirtualMachine",
            &[("id", &id), ("userdata", "not base64!")],
        )
        .await;
    assert_eq!(code_of(r), 431);
    let r = c
        .call(
            "updateVirtualMachine",
            &[("id", &id), ("displayname", "renamed"), ("userdata", "%%%")],
        )
        .await;
    assert_eq!(code_of(r), 431);
    let other = env.s.user(c, "mallory", "0").await;
    let r = other
        .call(
            "resetUserDataForVirtualMachine",
            &[("id", &id), ("userdata", "I2Nsb3VkLWNvbmZpZwo=")],
        )
        .await;
    assert_eq!(code_of(r), 531);
    // What dedicated parameters set cannot be set (or spoofed) through details.
    for (detail, param) in [
        ("deleteprotection", "deleteprotection"),
        ("group", "group"),
        ("diskofferingname", "diskofferingid"),
    ] {
        let key = format!("details[0].{detail}");
        let r = c
            .call("updateVirtualMachine", &[("id", &id), (key.as_str(), "x")])
            .await;
        assert!(
            text_of(r).contains(&format!("set by the parameter {param}")),
            "{detail}"
        );
    }
    let listed = c.call("listVirtualMachines", &[("id", &id)]).await.unwrap();
    assert_eq!(listed["virtualmachine"][0]["displayname"], "keyed");
    assert_eq!(listed["virtualmachine"][0]["deleteprotection"], false);

    let reset = env
        .run(
            "resetSSHKeyForVirtualMachine",
            &[("id", &id), ("keypairs", "k2,k1")],
        )
        .await
        .unwrap();
    assert_eq!(reset["virtualmachine"]["keypairs"], "k2,k1");
    // "#!/bin/sh\n"
    c.call(
        "resetUserDataForVirtualMachine",
        &[("id", &id), ("userdata", "IyEvYmluL3NoCg==")],
    )
    .await
    .unwrap();
    env.run("startVirtualMachine", &[("id", &id)])
        .await
        .unwrap();
    let start = env.payloads("start");
    let to = &start.last().unwrap()["cloudstack.vm.details"];
    let keys = to["details"]["SSH.PublicKey"].as_str().unwrap();
    let k2_pub = k2["keypair"]["publickey"].as_str().unwrap_or_default();
    assert_eq!(keys.lines().count(), 2, "{keys}");
    if !k2_pub.is_empty() {
        assert!(
            keys.starts_with(
                k2_pub
                    .split(' ')
                    .take(2)
                    .collect::<Vec<_>>()
                    .join(" ")
                    .as_str()
            ),
            "{keys}"
        );
    }
    assert_eq!(to["details"]["SSH.KeyPairNames"], "k2,k1");
    assert_eq!(to["userData"], "IyEvYmluL3NoCg==");

    // updateVirtualMachine userdata: any state; the next payload carries it.
    c.call(
        "updateVirtualMachine",
        &[("id", &id), ("userdata", "I2Nsb3VkLWNvbmZpZwo=")],
    )
    .await
    .unwrap();
    env.run("rebootVirtualMachine", &[("id", &id)])
        .await
        .unwrap();
    let reboot = env.payloads("reboot");
    assert_eq!(
        reboot.last().unwrap()["cloudstack.vm.details"]["userData"],
        "I2Nsb3VkLWNvbmZpZwo="
    );
}

#[tokio::test]
async fn disk_offerings_are_checked_and_recorded_at_deploy() {
    let env = setup(false).await;
    let c = &env.c;
    let create = |params: Vec<(&'static str, String)>| {
        let c = c.clone();
        async move {
            let p: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
            c.call("createDiskOffering", &p).await
        }
    };
    let fixed = create(vec![("name", "fixed-20".into()), ("disksize", "20".into())])
        .await
        .unwrap()["diskoffering"]
        .clone();
    assert_eq!(
        (fixed["disksize"].as_i64(), fixed["iscustomized"].as_bool()),
        (Some(20), Some(false))
    );
    assert_eq!(fixed["storagetype"], "shared");
    let custom = create(vec![
        ("name", "custom".into()),
        ("customized", "true".into()),
        ("zoneid", env.zone.clone()),
    ])
    .await
    .unwrap()["diskoffering"]
        .clone();
    assert_eq!(custom["zoneid"], env.zone.as_str());
    for bad in [
        vec![("name", "x".to_string())],
        vec![("name", "x".into()), ("disksize", "0".into())],
        vec![
            ("name", "x".into()),
            ("customized", "true".into()),
            ("disksize", "5".into()),
        ],
        vec![
            ("name", "x".into()),
            ("disksize", "5".into()),
            ("storagetype", "tape".into()),
        ],
    ] {
        assert_eq!(code_of(create(bad.clone()).await), 431, "{bad:?}");
    }
    let user = env.s.user(c, "disk-user", "0").await;
    assert_eq!(
        code_of(
            user.call("createDiskOffering", &[("name", "u"), ("disksize", "1")])
                .await
        ),
        401
    );
    let by_name = user
        .call("listDiskOfferings", &[("name", "fixed-20")])
        .await
        .unwrap();
    assert_eq!(by_name["count"], 1);

    let fixed_id = fixed["id"].as_str().unwrap().to_string();
    let custom_id = custom["id"].as_str().unwrap().to_string();
    let deploy = |extra: Vec<(&'static str, String)>| {
        let env = &env;
        async move {
            let mut p: Vec<(&str, &str)> = vec![
                ("zoneid", env.zone.as_str()),
                ("serviceofferingid", env.offering.as_str()),
                ("templateid", env.template.as_str()),
            ];
            p.extend(extra.iter().map(|(k, v)| (*k, v.as_str())));
            let r = env.c.call("deployVirtualMachine", &p).await?;
            env.c
                .wait_job(
                    r["jobid"].as_str().unwrap(),
                    Duration::from_secs(60),
                    |_| {},
                )
                .await
        }
    };
    let before = c.call("listVirtualMachines", &[]).await.unwrap()["count"].clone();
    for (extra, why) in [
        (
            vec![("diskofferingid", custom_id.clone())],
            "customized: give size",
        ),
        (
            vec![
                ("diskofferingid", fixed_id.clone()),
                ("size", "5".to_string()),
            ],
            "fixed size",
        ),
        (vec![("size", "5".to_string())], "give diskofferingid"),
    ] {
        let r = deploy(extra).await;
        assert!(text_of(r).contains(why), "{why}");
    }
    assert_eq!(
        c.call("listVirtualMachines", &[]).await.unwrap()["count"],
        before
    );
    let vm = deploy(vec![
        ("diskofferingid", custom_id.clone()),
        ("size", "30".to_string()),
    ])
    .await
    .unwrap();
    let vm = &vm["virtualmachine"];
    assert_eq!(vm["diskofferingid"], custom_id.as_str());
    assert_eq!(vm["diskofferingname"], "custom");
    assert!(vm["details"].get("diskofferingid").is_none());
    // No data volume: External instances have only their ROOT record.
    let vols = c
        .call(
            "listVolumes",
            &[("virtualmachineid", vm["id"].as_str().unwrap())],
        )
        .await
        .unwrap();
    assert_eq!(vols["count"], 1);
    c.call("deleteDiskOffering", &[("id", &fixed_id)])
        .await
        .unwrap();
    assert_eq!(
        code_of(c.call("deleteDiskOffering", &[("id", &fixed_id)]).await),
        431
    );
    assert_eq!(
        c.call("listDiskOfferings", &[("name", "fixed-20")])
            .await
            .unwrap(),
        serde_json::json!({})
    );
}
