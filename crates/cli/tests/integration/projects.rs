//! Projects end to end: create, members, `projectid` on deploy, list commands (`-1` too), key
//! pairs and affinity groups, suspend/activate, delete with and without cleanup, and who may do
//! what.

use super::instances::{setup, Env};
use super::*;

async fn job(
    c: &Client,
    cmd: &str,
    params: &[(&str, &str)],
) -> Result<Value, trellis_client::ClientError> {
    let r = c.call(cmd, params).await?;
    c.wait_job(
        r["jobid"].as_str().unwrap(),
        Duration::from_secs(60),
        |_| {},
    )
    .await
}

async fn public_template(env: &Env) -> String {
    env.c
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
        .to_string()
}

#[tokio::test]
async fn projects_own_resources_their_members_use() {
    let env = setup(false).await;
    let c = &env.c;
    let template = public_template(&env).await;
    let alice = env.s.user(c, "alice", "0").await;
    let bob = env.s.user(c, "bob", "0").await;
    let carol = env.s.user(c, "carol", "0").await;

    let created = job(
        &alice,
        "createProject",
        &[("name", "web"), ("displaytext", "Web team")],
    )
    .await
    .unwrap();
    let project = &created["project"];
    assert_eq!(project["name"], "web");
    assert_eq!(project["state"], "Active");
    assert_eq!(project["owner"][0]["account"], "alice", "{project}");
    // A project's limits follow max.project.* (20 instances by default).
    assert_eq!(project["vmlimit"], "20");
    assert_eq!(project["vmavailable"], "20");
    let pid = project["id"].as_str().unwrap().to_string();
    // A second project of that name in the domain is refused in the request.
    let dup = alice.call("createProject", &[("name", "WEB")]).await;
    assert_eq!(code_of(dup), 431);
    // Project accounts are not accounts.
    let accounts = c
        .call("listAccounts", &[("listall", "true")])
        .await
        .unwrap();
    assert!(accounts["account"]
        .as_array()
        .unwrap()
        .iter()
        .all(|a| !a["name"].as_str().unwrap().starts_with("PrjAcct-")));

    // Members: alice (admin) adds bob; invitations by e-mail do not exist here.
    let r = alice
        .call(
            "addAccountToProject",
            &[("projectid", &pid), ("email", "x@example.org")],
        )
        .await;
    assert_eq!(code_of(r), 431);
    let r = carol
        .call(
            "addAccountToProject",
            &[("projectid", &pid), ("account", "carol")],
        )
        .await;
    assert_eq!(code_of(r), 531, "a non-member cannot add itself");
    job(
        &alice,
        "addAccountToProject",
        &[("projectid", &pid), ("account", "bob")],
    )
    .await
    .unwrap();
    let members = bob
        .call("listProjectAccounts", &[("projectid", &pid)])
        .await
        .unwrap();
    assert_eq!(members["count"], 2, "{members}");
    let r = job(
        &bob,
        "addAccountToProject",
        &[("projectid", &pid), ("account", "carol")],
    )
    .await;
    assert_eq!(code_of(r), 531, "a regular member cannot manage members");
    let last = job(
        &alice,
        "deleteAccountFromProject",
        &[("projectid", &pid), ("account", "alice")],
    )
    .await;
    assert!(text_of(last).contains("last admin"));
    assert_eq!(bob.call("listProjects", &[]).await.unwrap()["count"], 1);
    assert_eq!(
        carol.call("listProjects", &[]).await.unwrap(),
        serde_json::json!({})
    );

    // Resources: a VM, a key pair and an affinity group owned by the project.
    job(
        &alice,
        "createAffinityGroup",
        &[
            ("name", "spread"),
            ("type", "host anti-affinity"),
            ("projectid", &pid),
        ],
    )
    .await
    .unwrap();
    alice
        .call(
            "createSSHKeyPair",
            &[("name", "deploy"), ("projectid", &pid)],
        )
        .await
        .unwrap();
    let vm = job(
        &alice,
        "deployVirtualMachine",
        &[
            ("zoneid", env.zone.as_str()),
            ("serviceofferingid", env.offering.as_str()),
            ("templateid", &template),
            ("name", "web-1"),
            ("projectid", &pid),
            ("keypair", "deploy"),
            ("affinitygroupnames", "spread"),
        ],
    )
    .await
    .unwrap();
    let vm = &vm["virtualmachine"];
    assert_eq!(
        (vm["projectid"].as_str(), vm["project"].as_str()),
        (Some(pid.as_str()), Some("web"))
    );
    assert_eq!(vm["keypairs"], "deploy");
    assert_eq!(vm["affinitygroup"][0]["name"], "spread");
    let vm_id = vm["id"].as_str().unwrap().to_string();

    // Listing: project resources only with projectid, for members.
    assert_eq!(
        alice.call("listVirtualMachines", &[]).await.unwrap(),
        serde_json::json!({})
    );
    assert_eq!(
        c.call("listVirtualMachines", &[("listall", "true")])
            .await
            .unwrap(),
        serde_json::json!({})
    );
    for who in [&alice, &bob, c] {
        let l = who
            .call("listVirtualMachines", &[("projectid", &pid)])
            .await
            .unwrap();
        assert_eq!(l["count"], 1, "{l}");
        let all = who
            .call("listVirtualMachines", &[("projectid", "-1")])
            .await
            .unwrap();
        assert_eq!(all["virtualmachine"][0]["id"], vm_id.as_str());
    }
    assert_eq!(
        carol
            .call("listVirtualMachines", &[("projectid", "-1")])
            .await
            .unwrap(),
        serde_json::json!({})
    );
    assert_eq!(
        code_of(
            carol
                .call("listVirtualMachines", &[("projectid", &pid)])
                .await
        ),
        531
    );
    let keys = bob
        .call("listSSHKeyPairs", &[("projectid", &pid)])
        .await
        .unwrap();
    assert_eq!(keys["count"], 1);
    assert_eq!(keys["sshkeypair"][0]["projectid"], pid.as_str());
    assert_eq!(keys["sshkeypair"][0]["project"], "web");
    assert_eq!(
        alice.call("listSSHKeyPairs", &[]).await.unwrap(),
        serde_json::json!({})
    );
    let groups = bob
        .call("listAffinityGroups", &[("projectid", "-1")])
        .await
        .unwrap();
    assert_eq!(groups["count"], 1);
    assert_eq!(groups["affinitygroup"][0]["projectid"], pid.as_str());
    // A member operates the project's instance; a non-member cannot.
    job(&bob, "stopVirtualMachine", &[("id", &vm_id)])
        .await
        .unwrap();
    assert_eq!(
        code_of(carol.call("startVirtualMachine", &[("id", &vm_id)]).await),
        531
    );
    let p = alice.call("listProjects", &[("id", &pid)]).await.unwrap();
    assert_eq!(
        (
            p["project"][0]["vmtotal"].as_i64(),
            p["project"][0]["vmstopped"].as_i64()
        ),
        (Some(1), Some(1))
    );
    assert_eq!(p["project"][0]["cputotal"], 2);

    // Suspended: no new resources; the old ones stay.
    job(&alice, "suspendProject", &[("id", &pid)])
        .await
        .unwrap();
    let r = alice
        .call("createSSHKeyPair", &[("name", "late"), ("projectid", &pid)])
        .await;
    assert!(text_of(r).contains("Suspended"));
    job(&alice, "activateProject", &[("id", &pid)])
        .await
        .unwrap();
    job(
        &alice,
        "updateProject",
        &[("id", &pid), ("displaytext", "Web")],
    )
    .await
    .unwrap();

    // Delete: refused while it owns an instance; with cleanup, the instance is expunged first.
    assert_eq!(
        code_of(alice.call("deleteProject", &[("id", &pid)]).await),
        431
    );
    assert_eq!(
        code_of(
            bob.call("deleteProject", &[("id", &pid), ("cleanup", "true")])
                .await
        ),
        531
    );
    job(
        &alice,
        "deleteProject",
        &[("id", &pid), ("cleanup", "true")],
    )
    .await
    .unwrap();
    assert_eq!(
        alice.call("listProjects", &[]).await.unwrap(),
        serde_json::json!({})
    );
    let gone = c
        .call("listVirtualMachines", &[("id", &vm_id)])
        .await
        .unwrap();
    assert_eq!(
        gone,
        serde_json::json!({}),
        "the project's instance was expunged"
    );
    assert!(env
        .payloads("delete")
        .iter()
        .any(|p| p["virtualmachineid"] == vm_id.as_str() || p.to_string().contains(&vm_id)));
}
