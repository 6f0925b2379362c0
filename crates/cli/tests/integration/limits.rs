//! Resource limits against a real server: a deploy past a limit of the account or of its domain
//! fails with 535 before any extension runs, counts follow the resources, and only the right
//! administrators change limits.

use super::*;

fn creates(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir.join("rec"))
        .map(|d| {
            d.filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .contains("-create-")
            })
            .count()
        })
        .unwrap_or(0)
}

async fn limit_of(c: &Client, params: &[(&str, &str)], name: &str) -> i64 {
    let r = c.call("listResourceLimits", params).await.unwrap();
    r["resourcelimit"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["resourcetypename"] == name)
        .unwrap_or_else(|| panic!("no {name} limit in {r}"))["max"]
        .as_i64()
        .unwrap()
}

#[tokio::test]
async fn deploys_past_a_limit_fail_before_the_extension_runs_and_counts_follow() {
    let env = super::isolation::setup().await;
    let admin = &env.admin;
    let root = admin
        .call("listDomains", &[("name", "ROOT")])
        .await
        .unwrap()["domain"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    // Defaults come from the settings.
    assert_eq!(limit_of(&env.a, &[], "user_vm").await, 20);
    assert_eq!(limit_of(&env.a, &[], "cpu").await, 40);
    let l = admin
        .call(
            "updateResourceLimit",
            &[
                ("resourcetype", "0"),
                ("max", "1"),
                ("account", "alice"),
                ("domainid", &root),
            ],
        )
        .await
        .unwrap();
    assert_eq!(
        (
            l["resourcelimit"]["max"].as_i64(),
            l["resourcelimit"]["account"].as_str()
        ),
        (Some(1), Some("alice"))
    );
    assert_eq!(limit_of(&env.a, &[], "user_vm").await, 1);

    let vm = env
        .deploy(&env.a, "first", &env.template, &[])
        .await
        .unwrap();
    assert_eq!(creates(&env.dir), 1);
    let before = env.a.call("listVirtualMachines", &[]).await.unwrap()["count"].as_i64();
    let r = env.try_deploy(&env.a, "second").await;
    assert_eq!(refusal(&r).0, 535);
    assert!(refusal(&r)
        .1
        .contains("Maximum number of resources of type 'user_vm' for account name=alice"));
    assert_eq!(
        creates(&env.dir),
        1,
        "the extension ran for a refused deploy"
    );
    assert_eq!(
        env.a.call("listVirtualMachines", &[]).await.unwrap()["count"].as_i64(),
        before
    );
    // Other accounts are not held back by alice's limit.
    env.deploy(&env.b, "bobs", &env.template, &[])
        .await
        .unwrap();

    // The account view shows limit, total and availability.
    let acct = admin
        .call("listAccounts", &[("name", "alice"), ("listall", "true")])
        .await
        .unwrap()["account"][0]
        .clone();
    assert_eq!(
        (
            acct["vmlimit"].as_str(),
            acct["vmtotal"].as_i64(),
            acct["vmavailable"].as_str()
        ),
        (Some("1"), Some(1), Some("0"))
    );
    assert_eq!(acct["cputotal"].as_i64(), Some(1));
    assert_eq!(acct["memorytotal"].as_i64(), Some(512));
    let count = admin
        .call(
            "updateResourceCount",
            &[
                ("domainid", &root),
                ("account", "alice"),
                ("resourcetype", "0"),
            ],
        )
        .await
        .unwrap();
    assert_eq!(count["resourcecount"][0]["resourcecount"].as_i64(), Some(1));

    // Expunged, the instance no longer counts.
    let j = env
        .a
        .call(
            "destroyVirtualMachine",
            &[("id", vm["id"].as_str().unwrap()), ("expunge", "true")],
        )
        .await;
    let j = match j {
        Ok(j) => j,
        // Users may not expunge by default: the admin does it.
        Err(_) => admin
            .call(
                "destroyVirtualMachine",
                &[("id", vm["id"].as_str().unwrap()), ("expunge", "true")],
            )
            .await
            .unwrap(),
    };
    admin
        .wait_job(
            j["jobid"].as_str().unwrap(),
            Duration::from_secs(60),
            |_| {},
        )
        .await
        .unwrap();
    env.deploy(&env.a, "third", &env.template, &[])
        .await
        .unwrap();

    // Unlimited again with -1 (or no max).
    admin
        .call(
            "updateResourceLimit",
            &[
                ("resourcetype", "0"),
                ("account", "alice"),
                ("domainid", &root),
            ],
        )
        .await
        .unwrap();
    assert_eq!(limit_of(&env.a, &[], "user_vm").await, -1);

    // Refusals: users cannot set limits; ROOT has none; untracked types are named.
    let r = env
        .a
        .call(
            "updateResourceLimit",
            &[("resourcetype", "0"), ("max", "99")],
        )
        .await;
    assert_eq!(code_of(r), 401);
    let r = admin
        .call(
            "updateResourceLimit",
            &[("resourcetype", "0"), ("max", "5"), ("domainid", &root)],
        )
        .await;
    assert_eq!(code_of(r), 431);
    assert_eq!(
        code_of(
            admin
                .call("listResourceLimits", &[("resourcetype", "3")])
                .await
        ),
        431
    );
    let r = admin
        .call(
            "updateResourceLimit",
            &[
                ("resourcetype", "0"),
                ("max", "-5"),
                ("account", "alice"),
                ("domainid", &root),
            ],
        )
        .await;
    assert_eq!(code_of(r), 431);
}

#[tokio::test]
async fn a_domain_limit_holds_for_every_account_below_it() {
    let env = super::isolation::setup().await;
    let admin = &env.admin;
    let eng = admin
        .call("createDomain", &[("name", "eng")])
        .await
        .unwrap()["domain"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let web = admin
        .call("createDomain", &[("name", "web"), ("parentdomainid", &eng)])
        .await
        .unwrap()["domain"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let dave = env
        .s
        .account(admin, "dave", &[("accounttype", "0"), ("domainid", &web)])
        .await
        .2;
    let eng_admin = env
        .s
        .account(
            admin,
            "engadmin",
            &[("accounttype", "2"), ("domainid", &eng)],
        )
        .await
        .2;
    // eng (and so web below it) may hold 1 CPU; the offering has 1.
    admin
        .call(
            "updateResourceLimit",
            &[("resourcetype", "8"), ("max", "1"), ("domainid", &eng)],
        )
        .await
        .unwrap();
    env.deploy(&dave, "d1", &env.template, &[]).await.unwrap();
    let r = env.try_deploy(&dave, "d2").await;
    assert_eq!(refusal(&r).0, 535);
    assert!(refusal(&r).1.contains(&format!(
        "Maximum number of resources of type 'cpu' for domain id={eng}"
    )));
    let d = admin.call("listDomains", &[("id", &eng)]).await.unwrap()["domain"][0].clone();
    assert_eq!(
        (
            d["cpulimit"].as_str(),
            d["cputotal"].as_i64(),
            d["cpuavailable"].as_str()
        ),
        (Some("1"), Some(1), Some("0"))
    );

    // The domain administrator of eng cannot raise eng's own limit, but sets web's.
    let r = eng_admin
        .call(
            "updateResourceLimit",
            &[("resourcetype", "8"), ("max", "100"), ("domainid", &eng)],
        )
        .await;
    assert_eq!(code_of(r), 531);
    eng_admin
        .call(
            "updateResourceLimit",
            &[("resourcetype", "0"), ("max", "3"), ("domainid", &web)],
        )
        .await
        .unwrap();
    assert_eq!(limit_of(admin, &[("domainid", &web)], "user_vm").await, 3);
    assert_eq!(limit_of(admin, &[("domainid", &eng)], "cpu").await, 1);
    // ...and cannot reach a domain outside its own.
    let root = admin
        .call("listDomains", &[("name", "ROOT")])
        .await
        .unwrap()["domain"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = eng_admin
        .call(
            "updateResourceLimit",
            &[
                ("resourcetype", "0"),
                ("max", "3"),
                ("account", "alice"),
                ("domainid", &root),
            ],
        )
        .await;
    assert_eq!(code_of(r), 531);
}
