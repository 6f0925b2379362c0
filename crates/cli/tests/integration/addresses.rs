//! Fixed NIC addresses on Shared networks and the network's range as `listPublicIpAddresses`
//! shows it: `ipaddress`, `macaddress` and `iptonetworklist` honoured at deploy, every bad or
//! taken address refused before anything is made.

use super::*;

async fn shared_network(env: &super::isolation::Env) -> String {
    let offering = env
        .admin
        .call("listNetworkOfferings", &[("guestiptype", "Shared")])
        .await
        .unwrap()["networkoffering"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    env.admin
        .call(
            "createNetwork",
            &[
                ("name", "shared-1"),
                ("displaytext", "shared"),
                ("networkofferingid", &offering),
                ("zoneid", &env.zone),
                ("vlan", "120"),
                ("gateway", "10.9.0.1"),
                ("netmask", "255.255.255.0"),
                ("startip", "10.9.0.10"),
                ("endip", "10.9.0.14"),
            ],
        )
        .await
        .unwrap()["network"]["id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// A project `who` creates (and administers); its id.
async fn project_of(who: &Client, name: &str) -> String {
    let j = who
        .call("createProject", &[("name", name), ("displaytext", "p")])
        .await
        .unwrap();
    let done = who
        .wait_job(
            j["jobid"].as_str().unwrap(),
            Duration::from_secs(30),
            |_| {},
        )
        .await
        .unwrap();
    done["project"]["id"].as_str().unwrap().to_string()
}

async fn addresses(c: &Client, network: &str) -> Vec<(String, String, Option<String>)> {
    let r = c
        .call(
            "listPublicIpAddresses",
            &[
                ("networkid", network),
                ("allocatedonly", "false"),
                ("forvirtualnetwork", "false"),
                ("listall", "true"),
            ],
        )
        .await
        .unwrap();
    r["publicipaddress"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|x| {
                    (
                        x["ipaddress"].as_str().unwrap().to_string(),
                        x["state"].as_str().unwrap().to_string(),
                        x["virtualmachineid"].as_str().map(str::to_string),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn fixed_addresses_are_honoured_and_bad_ones_refused_before_anything_is_made() {
    let env = super::isolation::setup().await;
    let net = shared_network(&env).await;
    let all = addresses(&env.b, &net).await;
    assert_eq!(all.len(), 5, "{all:?}");
    assert!(all.iter().all(|(_, state, _)| state == "Free"));

    let vm = env
        .deploy(
            &env.a,
            "fixed-1",
            &env.template,
            &[
                ("networkids", &net),
                ("ipaddress", "10.9.0.12"),
                ("macaddress", "02:AA:bb:cc:dd:01"),
            ],
        )
        .await
        .unwrap();
    assert_eq!(vm["nic"][0]["ipaddress"], "10.9.0.12", "{vm}");
    assert_eq!(vm["nic"][0]["macaddress"], "02:aa:bb:cc:dd:01", "{vm}");
    let created =
        super::credentials::payload_of(&env, "create", vm["instancename"].as_str().unwrap());
    assert!(
        created.to_string().contains("10.9.0.12"),
        "the extension got the address: {created}"
    );

    // Allocated for everyone; whose instance holds it only for its owner and administrators.
    let seen_by_b = addresses(&env.b, &net).await;
    let held = seen_by_b.iter().find(|a| a.0 == "10.9.0.12").unwrap();
    assert_eq!((held.1.as_str(), held.2.as_deref()), ("Allocated", None));
    let seen_by_a = addresses(&env.a, &net).await;
    assert_eq!(
        seen_by_a
            .iter()
            .find(|a| a.0 == "10.9.0.12")
            .unwrap()
            .2
            .as_deref(),
        vm["id"].as_str()
    );
    let only = env
        .admin
        .call("listPublicIpAddresses", &[("networkid", &net)])
        .await
        .unwrap();
    assert_eq!(only["count"], 1, "allocatedonly defaults to true: {only}");

    // Refused, each with 431 and nothing made: taken, outside the range, the gateway, not an
    // address, a multicast or taken MAC, networkids with iptonetworklist, IPv6.
    let before = env
        .admin
        .call("listVirtualMachines", &[("listall", "true")])
        .await
        .unwrap()["count"]
        .clone();
    let creates = || {
        std::fs::read_dir(env.dir.join("rec"))
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .contains("-create-")
            })
            .count()
    };
    let created_before = creates();
    let try_deploy = |extra: Vec<(&'static str, String)>| {
        let b = env.b.clone();
        let (zone, offering, template) =
            (env.zone.clone(), env.offering.clone(), env.template.clone());
        async move {
            let mut params: Vec<(&str, &str)> = vec![
                ("zoneid", &zone),
                ("serviceofferingid", &offering),
                ("templateid", &template),
                ("name", "bad"),
            ];
            for (k, v) in &extra {
                params.push((k, v.as_str()));
            }
            b.call("deployVirtualMachine", &params).await
        }
    };
    for (extra, expect) in [
        (
            vec![
                ("networkids", net.clone()),
                ("ipaddress", "10.9.0.12".into()),
            ],
            "already used",
        ),
        (
            vec![
                ("networkids", net.clone()),
                ("ipaddress", "10.9.0.99".into()),
            ],
            "is not in the range",
        ),
        (
            vec![
                ("networkids", net.clone()),
                ("ipaddress", "10.9.0.1".into()),
            ],
            "is not in the range",
        ),
        (
            vec![("networkids", net.clone()), ("ipaddress", "ten".into())],
            "Invalid IPv4 address",
        ),
        (
            vec![
                ("networkids", net.clone()),
                ("macaddress", "01:00:5e:00:00:01".into()),
            ],
            "Invalid MAC address",
        ),
        (
            vec![
                ("networkids", net.clone()),
                ("macaddress", "02:aa:bb:cc:dd:01".into()),
            ],
            "already in use",
        ),
        (
            vec![
                ("networkids", net.clone()),
                ("iptonetworklist[0].networkid", net.clone()),
                ("iptonetworklist[0].ip", "10.9.0.13".into()),
            ],
            "cannot be given together",
        ),
        (
            vec![
                ("iptonetworklist[0].networkid", net.clone()),
                ("iptonetworklist[0].ipv6", "fd00::5".into()),
            ],
            "IPv6",
        ),
        (vec![("ip6address", "fd00::5".into())], "IPv6"),
    ] {
        let r = try_deploy(extra.clone()).await;
        let text = text_of(try_deploy(extra.clone()).await);
        assert_eq!(code_of(r), 431, "{extra:?}: {text}");
        assert!(text.contains(expect), "{extra:?}: {text}");
    }
    assert_eq!(
        env.admin
            .call("listVirtualMachines", &[("listall", "true")])
            .await
            .unwrap()["count"],
        before
    );
    assert_eq!(
        creates(),
        created_before,
        "the extension ran for a refused deploy"
    );

    // iptonetworklist: the NIC gets the address it names.
    let vm2 = env
        .deploy(
            &env.b,
            "fixed-2",
            &env.template,
            &[
                ("iptonetworklist[0].networkid", &net),
                ("iptonetworklist[0].ip", "10.9.0.13"),
            ],
        )
        .await
        .unwrap();
    assert_eq!(vm2["nic"][0]["ipaddress"], "10.9.0.13");
    // Automatic allocation skips the fixed ones.
    let vm3 = env
        .deploy(&env.b, "auto-1", &env.template, &[("networkids", &net)])
        .await
        .unwrap();
    let ip3 = vm3["nic"][0]["ipaddress"].as_str().unwrap();
    assert!(
        !["10.9.0.12", "10.9.0.13", "10.9.0.1"].contains(&ip3),
        "{ip3}"
    );
    let allocated: Vec<String> = addresses(&env.admin, &net)
        .await
        .into_iter()
        .filter(|a| a.1 == "Allocated")
        .map(|a| a.0)
        .collect();
    assert_eq!(allocated.len(), 3, "{allocated:?}");
}

/// A project owns the networks made with its `projectid`: its members list them with it (or
/// with `-1`), others cannot, and listings without `projectid` leave them out.
#[tokio::test]
async fn networks_made_for_a_project_are_the_projects() {
    let env = super::isolation::setup().await;
    let project = project_of(&env.a, "netproj").await;
    let l2 = env
        .admin
        .call("listNetworkOfferings", &[("guestiptype", "L2")])
        .await
        .unwrap()["networkoffering"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let make = |who: Client, project: String| {
        let (l2, zone) = (l2.clone(), env.zone.clone());
        async move {
            who.call(
                "createNetwork",
                &[
                    ("name", "pnet"),
                    ("displaytext", "p"),
                    ("networkofferingid", &l2),
                    ("zoneid", &zone),
                    ("projectid", &project),
                ],
            )
            .await
        }
    };
    let net = make(env.a.clone(), project.clone()).await.unwrap()["network"].clone();
    assert_eq!(net["projectid"], project.as_str(), "{net}");
    assert_eq!(net["project"], "netproj");
    let id = net["id"].as_str().unwrap().to_string();
    let listed = |who: Client, extra: Vec<(&'static str, String)>| {
        let id = id.clone();
        async move {
            let mut params: Vec<(&str, &str)> = vec![("id", &id)];
            for (k, v) in &extra {
                params.push((k, v.as_str()));
            }
            who.call("listNetworks", &params).await
        }
    };
    let r = listed(env.a.clone(), vec![("projectid", project.clone())])
        .await
        .unwrap();
    assert_eq!(r["count"], 1);
    let r = listed(env.a.clone(), vec![("projectid", "-1".into())])
        .await
        .unwrap();
    assert_eq!(r["network"][0]["projectid"], project.as_str());
    let r = listed(env.a.clone(), vec![]).await.unwrap();
    assert!(
        r["network"].is_null(),
        "a listing without projectid shows the project's network: {r}"
    );
    // Not a member: cannot list nor create.
    assert!(listed(env.b.clone(), vec![("projectid", project.clone())])
        .await
        .is_err());
    assert!(listed(env.b.clone(), vec![]).await.unwrap()["network"].is_null());
    assert!(make(env.b.clone(), project.clone()).await.is_err());
}

/// Templates and tags of a project's resources: registered with `projectid`, listed with it (or
/// `-1`), shown with the project, never listed without it, and refused to non-members.
#[tokio::test]
async fn templates_and_tags_of_a_project_are_the_projects() {
    let env = super::isolation::setup().await;
    let project = project_of(&env.a, "tplproj").await;
    let t = env
        .a
        .call(
            "registerTemplate",
            &[
                ("name", "ptpl"),
                ("displaytext", "p"),
                ("format", "QCOW2"),
                ("hypervisor", "External"),
                ("url", "http://x/p.qcow2"),
                ("zoneid", &env.zone),
                ("projectid", &project),
            ],
        )
        .await
        .unwrap()["template"][0]
        .clone();
    assert_eq!(t["projectid"], project.as_str(), "{t}");
    assert!(t.get("account").is_none(), "{t}");
    let tid = t["id"].as_str().unwrap().to_string();
    let names = |r: Value| -> Vec<String> {
        r["template"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|t| t["id"].as_str().unwrap().to_string())
                    .collect()
            })
            .unwrap_or_default()
    };
    let self_listed = |extra: Vec<(&'static str, String)>| {
        let a = env.a.clone();
        async move {
            let mut params: Vec<(&str, &str)> = vec![("templatefilter", "self")];
            for (k, v) in &extra {
                params.push((k, v.as_str()));
            }
            a.call("listTemplates", &params).await.unwrap()
        }
    };
    assert!(names(self_listed(vec![("projectid", project.clone())]).await).contains(&tid));
    assert!(names(self_listed(vec![("projectid", "-1".into())]).await).contains(&tid));
    assert!(!names(self_listed(vec![]).await).contains(&tid));
    let r = env
        .b
        .call(
            "listTemplates",
            &[("templatefilter", "self"), ("projectid", &project)],
        )
        .await;
    assert!(r.is_err(), "a non-member listed the project's templates");

    // A tag on the project's instance belongs to the project.
    let vm = env
        .deploy(&env.a, "pvm", &env.template, &[("projectid", &project)])
        .await
        .unwrap();
    let vid = vm["id"].as_str().unwrap().to_string();
    let j = env
        .a
        .call(
            "createTags",
            &[
                ("resourceids", &vid),
                ("resourcetype", "UserVm"),
                ("tags[0].key", "tier"),
                ("tags[0].value", "web"),
            ],
        )
        .await
        .unwrap();
    env.a
        .wait_job(
            j["jobid"].as_str().unwrap(),
            Duration::from_secs(30),
            |_| {},
        )
        .await
        .unwrap();
    let tags = env
        .a
        .call("listTags", &[("projectid", &project)])
        .await
        .unwrap();
    assert_eq!(tags["tag"][0]["key"], "tier", "{tags}");
    assert_eq!(tags["tag"][0]["projectid"], project.as_str(), "{tags}");
    let all = env
        .a
        .call("listTags", &[("projectid", "-1")])
        .await
        .unwrap();
    assert_eq!(all["count"], 1, "{all}");
    assert!(env.a.call("listTags", &[]).await.unwrap()["tag"].is_null());
    assert!(env
        .b
        .call("listTags", &[("projectid", &project)])
        .await
        .is_err());
}
