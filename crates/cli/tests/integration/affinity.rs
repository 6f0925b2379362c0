//! Affinity groups end to end (types, create/list/delete, placement under strict and
//! non-strict rules, the refusals), deploying for another account, `listVirtualMachinesMetrics`
//! and `getUser`.

use super::instances::{setup, Env};
use super::*;

async fn add_host(env: &Env, name: &str) -> String {
    let clusters = env.c.call("listClusters", &[]).await.unwrap();
    let cluster = clusters["cluster"][0]["id"].as_str().unwrap().to_string();
    env.c
        .call(
            "addHost",
            &[
                ("zoneid", env.zone.as_str()),
                ("clusterid", &cluster),
                ("url", name),
                ("hypervisor", "External"),
                ("username", "External"),
                ("password", "External"),
            ],
        )
        .await
        .unwrap()["host"][0]["id"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn deploy_in(
    env: &Env,
    c: &Client,
    name: &str,
    extra: &[(&str, &str)],
) -> Result<Value, trellis_client::ClientError> {
    let mut params: Vec<(&str, &str)> = vec![
        ("zoneid", env.zone.as_str()),
        ("serviceofferingid", env.offering.as_str()),
        ("templateid", env.template.as_str()),
        ("name", name),
    ];
    params.retain(|(k, _)| !extra.iter().any(|(e, _)| e == k));
    params.extend_from_slice(extra);
    let r = c.call("deployVirtualMachine", &params).await?;
    c.wait_job(
        r["jobid"].as_str().unwrap(),
        Duration::from_secs(60),
        |_| {},
    )
    .await
    .map(|v| v["virtualmachine"].clone())
}

async fn create_group(
    c: &Client,
    params: &[(&str, &str)],
) -> Result<Value, trellis_client::ClientError> {
    let r = c.call("createAffinityGroup", params).await?;
    c.wait_job(
        r["jobid"].as_str().unwrap(),
        Duration::from_secs(30),
        |_| {},
    )
    .await
    .map(|v| v["affinitygroup"].clone())
}

#[tokio::test]
async fn affinity_groups_steer_placement() {
    let env = setup(false).await;
    let c = &env.c;
    let mut hosts = vec![env.host.clone()];
    hosts.push(add_host(&env, "pve-host-2").await);
    hosts.push(add_host(&env, "pve-host-3").await);

    // Types: host anti-affinity first (Ansible takes the first when none is given).
    let types = c.call("listAffinityGroupTypes", &[]).await.unwrap();
    assert_eq!(types["count"], 4, "{types}");
    assert_eq!(types["affinityGroupType"][0]["type"], "host anti-affinity");

    let apart = create_group(
        c,
        &[
            ("name", "apart"),
            ("type", "host anti-affinity"),
            ("description", "spread"),
        ],
    )
    .await
    .unwrap();
    assert_eq!(
        (
            apart["name"].as_str(),
            apart["type"].as_str(),
            apart["description"].as_str()
        ),
        (Some("apart"), Some("host anti-affinity"), Some("spread"))
    );
    assert_eq!(apart["account"], "admin");
    let apart_id = apart["id"].as_str().unwrap().to_string();

    // Bad input, refused in the request with nothing created.
    let dup = c
        .call(
            "createAffinityGroup",
            &[("name", "apart"), ("type", "host affinity")],
        )
        .await;
    assert_eq!(code_of(dup), 431);
    let bad = c
        .call(
            "createAffinityGroup",
            &[("name", "x"), ("type", "ExplicitDedication")],
        )
        .await;
    assert!(text_of(bad).contains("invalid affinity group type"));
    let proj = c
        .call(
            "createAffinityGroup",
            &[
                ("name", "p"),
                ("type", "host affinity"),
                ("projectid", &apart_id),
            ],
        )
        .await;
    assert_eq!(code_of(proj), 431);
    assert_eq!(c.call("listAffinityGroups", &[]).await.unwrap()["count"], 1);

    // Strict anti-affinity: three members on three hosts, the fourth has nowhere to go.
    let mut used = Vec::new();
    for i in 0..3 {
        let vm = deploy_in(
            &env,
            c,
            &format!("spread-{i}"),
            &[("affinitygroupnames", "apart")],
        )
        .await
        .unwrap();
        assert_eq!(vm["affinitygroup"][0]["id"], apart_id.as_str(), "{vm}");
        assert_eq!(vm["affinitygroup"][0]["type"], "host anti-affinity");
        used.push(vm["hostid"].as_str().unwrap().to_string());
    }
    used.sort();
    let mut all = hosts.clone();
    all.sort();
    assert_eq!(used, all, "each member on its own host");
    let full = deploy_in(&env, c, "spread-3", &[("affinitygroupids", &apart_id)]).await;
    let text = text_of(full);
    assert!(text.contains("apart (host anti-affinity)"), "{text}");
    let l = c
        .call("listAffinityGroups", &[("id", &apart_id)])
        .await
        .unwrap();
    assert_eq!(
        l["affinitygroup"][0]["virtualmachineIds"]
            .as_array()
            .unwrap()
            .len(),
        4,
        "{l}"
    );

    // Strict affinity: members follow the first one.
    create_group(c, &[("name", "together"), ("type", "host affinity")])
        .await
        .unwrap();
    let first = deploy_in(&env, c, "pair-0", &[("affinitygroupnames", "together")])
        .await
        .unwrap();
    for i in 1..3 {
        let vm = deploy_in(
            &env,
            c,
            &format!("pair-{i}"),
            &[("affinitygroupnames", "together")],
        )
        .await
        .unwrap();
        assert_eq!(vm["hostid"], first["hostid"]);
    }
    // Both groups at once: a host with no "apart" member does not exist any more.
    let both = deploy_in(&env, c, "both", &[("affinitygroupnames", "apart,together")]).await;
    assert_eq!(code_of(both), 533);
    let by_vm = c
        .call(
            "listAffinityGroups",
            &[("virtualmachineid", first["id"].as_str().unwrap())],
        )
        .await
        .unwrap();
    assert_eq!(by_vm["count"], 1);
    assert_eq!(by_vm["affinitygroup"][0]["name"], "together");
    let by_type = c
        .call("listAffinityGroups", &[("type", "host affinity")])
        .await
        .unwrap();
    assert_eq!(by_type["count"], 1);

    // Refusals at deploy.
    let r = deploy_in(
        &env,
        c,
        "x1",
        &[
            ("affinitygroupnames", "apart"),
            ("affinitygroupids", &apart_id),
        ],
    )
    .await;
    assert_eq!(code_of(r), 431);
    let r = deploy_in(&env, c, "x2", &[("affinitygroupnames", "nope")]).await;
    assert!(text_of(r).contains("Unable to find affinity group by name nope"));
    let r = c
        .call(
            "updateVMAffinityGroup",
            &[
                ("id", first["id"].as_str().unwrap()),
                ("affinitygroupids", &apart_id),
            ],
        )
        .await;
    assert!(code_of(r) >= 430);

    // A user sees only its own groups and cannot use the admin's.
    let user = env.s.user(c, "ag-user", "0").await;
    assert_eq!(
        user.call("listAffinityGroups", &[]).await.unwrap(),
        serde_json::json!({})
    );
    let r = deploy_in(&env, &user, "u1", &[("affinitygroupids", &apart_id)]).await;
    assert_eq!(code_of(r), 431);
    let r = user.call("deleteAffinityGroup", &[("id", &apart_id)]).await;
    assert_eq!(code_of(r), 531);
    let mine = create_group(
        &user,
        &[("name", "apart"), ("type", "non-strict host anti-affinity")],
    )
    .await
    .unwrap();
    assert_eq!(mine["account"], "ag-user");
    let public = c
        .call(
            "registerTemplate",
            &[
                ("name", "public"),
                ("format", "External"),
                ("hypervisor", "External"),
                ("url", "http://dummy"),
                ("zoneid", env.zone.as_str()),
                ("extensionid", env.ext_id.as_str()),
                ("ispublic", "true"),
            ],
        )
        .await
        .unwrap()["template"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let vm = deploy_in(
        &env,
        &user,
        "u2",
        &[("affinitygroupnames", "apart"), ("templateid", &public)],
    )
    .await
    .unwrap();
    assert_eq!(vm["affinitygroup"][0]["id"], mine["id"]);

    // Delete by name: memberships go, the instances stay.
    let r = c
        .call("deleteAffinityGroup", &[("name", "together")])
        .await
        .unwrap();
    c.wait_job(
        r["jobid"].as_str().unwrap(),
        Duration::from_secs(30),
        |_| {},
    )
    .await
    .unwrap();
    let vm = c
        .call(
            "listVirtualMachines",
            &[("id", first["id"].as_str().unwrap())],
        )
        .await
        .unwrap();
    assert_eq!(
        vm["virtualmachine"][0]["affinitygroup"],
        serde_json::json!([])
    );
    assert_eq!(vm["virtualmachine"][0]["state"], "Running");
    let r = c.call("deleteAffinityGroup", &[("name", "together")]).await;
    assert_eq!(code_of(r), 431);
}

#[tokio::test]
async fn deploy_for_another_account_metrics_and_get_user() {
    let env = setup(false).await;
    let c = &env.c;
    let user = env.s.user(c, "carol", "0").await;
    let root = c.call("listDomains", &[("name", "ROOT")]).await.unwrap()["domain"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();

    // An administrator deploys for carol, into carol's affinity group.
    let g = create_group(
        c,
        &[
            ("name", "carol-apart"),
            ("type", "host anti-affinity"),
            ("account", "carol"),
            ("domainid", &root),
        ],
    )
    .await
    .unwrap();
    assert_eq!(g["account"], "carol");
    let vm = deploy_in(
        &env,
        c,
        "for-carol",
        &[
            ("account", "carol"),
            ("domainid", &root),
            ("affinitygroupnames", "carol-apart"),
        ],
    )
    .await
    .unwrap();
    assert_eq!(vm["account"], "carol");
    // Instance groups (Terraform's `group`): echoed with an id that is the same for the same name.
    let grouped = deploy_in(&env, c, "g1", &[("group", "web")]).await.unwrap();
    let again = deploy_in(&env, c, "g2", &[("group", "web")]).await.unwrap();
    assert_eq!(grouped["group"], "web");
    assert!(grouped["groupid"].as_str().is_some_and(|g| g.len() == 36));
    assert_eq!(grouped["groupid"], again["groupid"]);
    assert!(grouped["details"].get("group").is_none(), "{grouped}");
    let mine = user.call("listVirtualMachines", &[]).await.unwrap();
    assert_eq!(mine["count"], 1);
    assert_eq!(mine["virtualmachine"][0]["id"], vm["id"]);
    // account without domainid, an unknown account, and a user deploying for someone else.
    let r = deploy_in(&env, c, "half", &[("account", "carol")]).await;
    assert_eq!(code_of(r), 431);
    let r = deploy_in(
        &env,
        c,
        "ghost",
        &[("account", "ghost"), ("domainid", &root)],
    )
    .await;
    assert!(text_of(r).contains("Unable to find account ghost"));
    let r = deploy_in(
        &env,
        &user,
        "sneaky",
        &[("account", "admin"), ("domainid", &root)],
    )
    .await;
    assert_eq!(code_of(r), 531);

    // Metrics: the VM fields plus the capacity upstream formats (2 × 1000 MHz, 512 MiB).
    let m = c
        .call(
            "listVirtualMachinesMetrics",
            &[("id", vm["id"].as_str().unwrap())],
        )
        .await
        .unwrap();
    assert_eq!(m["count"], 1, "{m}");
    let row = &m["virtualmachine"][0];
    assert_eq!(row["cputotal"], "2.0 Ghz");
    assert_eq!(row["memorytotal"], "0.50 GiB");
    assert_eq!(row["state"], "Running");
    assert_eq!(row["id"], vm["id"]);
    assert!(row.get("diskread").is_none(), "no made-up counters");
    let by_name = user
        .call("listVirtualMachinesMetrics", &[("name", "for-carol")])
        .await
        .unwrap();
    assert_eq!(by_name["count"], 1);

    // getUser: by API key, for users the caller may manage; any other key reads as unknown.
    let users = c.call("listUsers", &[("username", "carol")]).await.unwrap();
    let carol_id = users["user"][0]["id"].as_str().unwrap().to_string();
    let keys = c.call("getUserKeys", &[("id", &carol_id)]).await.unwrap();
    let carol_key = keys["userkeys"]["apikey"].as_str().unwrap().to_string();
    let u = c
        .call("getUser", &[("userapikey", &carol_key)])
        .await
        .unwrap();
    assert_eq!(u["user"]["username"], "carol");
    assert_eq!(u["user"]["id"], carol_id.as_str());
    let me = user
        .call("getUser", &[("userapikey", &carol_key)])
        .await
        .unwrap();
    assert_eq!(me["user"]["account"], "carol");
    let admins = c.call("listUsers", &[("username", "admin")]).await.unwrap();
    let admin_id = admins["user"][0]["id"].as_str().unwrap().to_string();
    let admin_key = c.call("getUserKeys", &[("id", &admin_id)]).await.unwrap()["userkeys"]
        ["apikey"]
        .as_str()
        .unwrap()
        .to_string();
    let hidden = user.call("getUser", &[("userapikey", &admin_key)]).await;
    let unknown = c.call("getUser", &[("userapikey", "no-such-key")]).await;
    assert_eq!(
        text_of(hidden),
        "User with specified API key does not exist"
    );
    assert_eq!(code_of(unknown), 431);
}
