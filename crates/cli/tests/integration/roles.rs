//! Dynamic roles against a real server: rules decide in their order, listApis follows them, and
//! every refusal (unknown API, bad rule, default role, role in use, escalation) changes nothing.

use super::*;

async fn make_user_with_role(s: &TestServer, admin: &Client, name: &str, role: &str) -> Client {
    s.account(admin, name, &[("roleid", role)]).await.2
}

fn id(v: &Value) -> String {
    v["id"].as_str().expect("an id").to_string()
}

async fn rules_of(admin: &Client, role: &str) -> Vec<(String, String)> {
    let r = admin
        .call("listRolePermissions", &[("roleid", role)])
        .await
        .unwrap();
    r["rolepermission"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|p| {
                    (
                        p["rule"].as_str().unwrap().to_string(),
                        p["permission"].as_str().unwrap().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

async fn api_names(c: &Client) -> Vec<String> {
    let r = c.call("listApis", &[]).await.unwrap();
    let mut n: Vec<String> = r["api"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap().to_string())
        .collect();
    n.sort();
    n
}

#[tokio::test]
async fn the_first_matching_rule_decides_and_list_apis_follows() {
    let s = TestServer::start();
    let admin = s.admin().await;
    let role = admin
        .call(
            "createRole",
            &[
                ("name", "Readers"),
                ("type", "User"),
                ("description", "read only"),
            ],
        )
        .await
        .unwrap()["role"]
        .clone();
    assert_eq!(
        (role["type"].as_str(), role["isdefault"].as_bool()),
        (Some("User"), Some(false))
    );
    let rid = id(&role);
    let list_all = id(&admin
        .call(
            "createRolePermission",
            &[("roleid", &rid), ("rule", "list*"), ("permission", "allow")],
        )
        .await
        .unwrap()["rolepermission"]);
    let deny_vms = id(&admin
        .call(
            "createRolePermission",
            &[
                ("roleid", &rid),
                ("rule", "listVirtualMachines"),
                ("permission", "deny"),
            ],
        )
        .await
        .unwrap()["rolepermission"]);
    let deny_deploy = id(&admin
        .call(
            "createRolePermission",
            &[
                ("roleid", &rid),
                ("rule", "deploy*"),
                ("permission", "deny"),
            ],
        )
        .await
        .unwrap()["rolepermission"]);
    let reader = make_user_with_role(&s, &admin, "reader", &rid).await;

    // list* comes first: listVirtualMachines is allowed despite the later deny.
    assert!(reader.call("listZones", &[]).await.is_ok());
    assert!(reader.call("listVirtualMachines", &[]).await.is_ok());
    // deploy* denies what the User type would allow; an unmatched command falls back to the type.
    let r = reader
        .call(
            "deployVirtualMachine",
            &[
                ("zoneid", "x"),
                ("serviceofferingid", "y"),
                ("templateid", "z"),
            ],
        )
        .await;
    assert_eq!(code_of(r), 401);
    assert!(reader.call("listCapabilities", &[]).await.is_ok());
    assert_eq!(
        code_of(reader.call("createZone", &[("name", "z")]).await),
        401
    );
    let apis = api_names(&reader).await;
    assert!(apis.contains(&"listVirtualMachines".to_string()));
    assert!(!apis.iter().any(|a| a.starts_with("deploy")), "{apis:?}");
    assert!(!apis.contains(&"createZone".to_string()));
    assert!(
        apis.contains(&"startVirtualMachine".to_string()),
        "unmatched User commands stay"
    );

    // Put the deny first: now it decides.
    admin
        .call(
            "updateRolePermission",
            &[
                ("roleid", &rid),
                ("ruleorder", &format!("{deny_vms},{list_all},{deny_deploy}")),
            ],
        )
        .await
        .unwrap();
    assert_eq!(
        rules_of(&admin, &rid).await,
        [
            ("listVirtualMachines".to_string(), "deny".to_string()),
            ("list*".into(), "allow".into()),
            ("deploy*".into(), "deny".into())
        ]
    );
    assert_eq!(code_of(reader.call("listVirtualMachines", &[]).await), 401);
    assert!(reader.call("listZones", &[]).await.is_ok());
    assert!(!api_names(&reader)
        .await
        .contains(&"listVirtualMachines".to_string()));
    // In a session the refusal reads as an unknown command (432).
    let session = Client::login(&s.url, "reader", "pw-123456", None)
        .await
        .unwrap();
    assert_eq!(code_of(session.call("listVirtualMachines", &[]).await), 432);
    assert!(s
        .logs()
        .contains("API command not allowed for the caller's role"));

    // Flip one rule; delete another.
    admin
        .call(
            "updateRolePermission",
            &[
                ("roleid", &rid),
                ("ruleid", &deny_vms),
                ("permission", "allow"),
            ],
        )
        .await
        .unwrap();
    assert!(reader.call("listVirtualMachines", &[]).await.is_ok());
    admin
        .call("deleteRolePermission", &[("id", &deny_deploy)])
        .await
        .unwrap();
    assert!(api_names(&reader)
        .await
        .contains(&"deployVirtualMachine".to_string()));

    // A rule may grant a command beyond the role's type.
    admin
        .call(
            "createRolePermission",
            &[
                ("roleid", &rid),
                ("rule", "listHosts"),
                ("permission", "allow"),
            ],
        )
        .await
        .unwrap();
    assert!(reader.call("listHosts", &[]).await.is_ok());
}

#[tokio::test]
async fn bad_rules_default_roles_roles_in_use_and_escalation_are_refused() {
    let s = TestServer::start();
    let admin = s.admin().await;
    let rid = id(&admin
        .call("createRole", &[("name", "Custom"), ("type", "User")])
        .await
        .unwrap()["role"]);
    let bad = |rule: &'static str| {
        let admin = admin.clone();
        let rid = rid.clone();
        async move {
            admin
                .call(
                    "createRolePermission",
                    &[("roleid", &rid), ("rule", rule), ("permission", "allow")],
                )
                .await
        }
    };
    let r = bad("frobnicateEverything").await;
    assert_eq!(code_of(r), 431);
    assert_eq!(code_of(bad("list.*").await), 431);
    assert!(text_of(bad("list.*").await).contains("Only API names and wildcards are allowed"));
    let r = admin
        .call(
            "createRolePermission",
            &[
                ("roleid", &rid),
                ("rule", "listZones"),
                ("permission", "maybe"),
            ],
        )
        .await;
    assert_eq!(code_of(r), 431);
    assert!(
        rules_of(&admin, &rid).await.is_empty(),
        "a refused rule was stored"
    );
    // Mixed update forms.
    let r = admin
        .call(
            "updateRolePermission",
            &[
                ("roleid", &rid),
                ("ruleorder", "a"),
                ("permission", "allow"),
            ],
        )
        .await;
    assert!(text_of(r).contains("mutually exclusive with ruleorder"));

    // Default roles: no rule edits, no deletion, no rename; a clone is a normal role.
    let user_role = admin.call("listRoles", &[("name", "User")]).await.unwrap()["role"][0].clone();
    let user_rid = id(&user_role);
    let r = admin
        .call(
            "createRolePermission",
            &[
                ("roleid", &user_rid),
                ("rule", "listZones"),
                ("permission", "deny"),
            ],
        )
        .await;
    assert_eq!(code_of(r), 431);
    assert_eq!(
        code_of(admin.call("deleteRole", &[("id", &user_rid)]).await),
        431
    );
    assert_eq!(
        code_of(
            admin
                .call("updateRole", &[("id", &user_rid), ("name", "Users")])
                .await
        ),
        431
    );
    let clone = admin
        .call(
            "createRole",
            &[("name", "User copy"), ("roleid", &user_rid)],
        )
        .await
        .unwrap()["role"]
        .clone();
    assert_eq!(clone["type"], "User");
    // createRole needs exactly one of type and roleid; names are unique.
    assert_eq!(
        code_of(admin.call("createRole", &[("name", "X")]).await),
        431
    );
    assert_eq!(
        code_of(
            admin
                .call(
                    "createRole",
                    &[("name", "X"), ("type", "User"), ("roleid", &user_rid)]
                )
                .await
        ),
        431
    );
    assert_eq!(
        code_of(
            admin
                .call("createRole", &[("name", "custom"), ("type", "User")])
                .await
        ),
        431
    );

    // A role in use stays, and keeps its type.
    admin
        .call(
            "createRolePermission",
            &[
                ("roleid", &rid),
                ("rule", "createRolePermission"),
                ("permission", "allow"),
            ],
        )
        .await
        .unwrap();
    let user = make_user_with_role(&s, &admin, "climber", &rid).await;
    assert_eq!(
        code_of(admin.call("deleteRole", &[("id", &rid)]).await),
        431
    );
    assert_eq!(
        code_of(
            admin
                .call("updateRole", &[("id", &rid), ("type", "Admin")])
                .await
        ),
        431
    );

    // A rule that lets the role call createRolePermission still cannot escalate it.
    let r = user
        .call(
            "createRolePermission",
            &[("roleid", &rid), ("rule", "*"), ("permission", "allow")],
        )
        .await;
    assert_eq!(code_of(r), 531);
    assert_eq!(rules_of(&admin, &rid).await.len(), 1);
    assert_eq!(
        code_of(user.call("createZone", &[("name", "z")]).await),
        401
    );

    // A private role is seen and assigned by root administrators only.
    let private = id(&admin
        .call(
            "createRole",
            &[("name", "Private"), ("type", "User"), ("ispublic", "false")],
        )
        .await
        .unwrap()["role"]);
    let dom_admin = s.account(&admin, "dadmin", &[("accounttype", "2")]).await.2;
    let seen = dom_admin.call("listRoles", &[]).await.unwrap().to_string();
    assert!(!seen.contains(&private), "{seen}");
    let r = dom_admin
        .call(
            "createAccount",
            &[
                ("username", "p1"),
                ("password", "pw-123456"),
                ("email", "e@x"),
                ("firstname", "F"),
                ("lastname", "L"),
                ("roleid", &private),
            ],
        )
        .await;
    assert_eq!(code_of(r), 531);
    assert!(admin
        .call("listAccounts", &[("name", "p1"), ("listall", "true")])
        .await
        .unwrap()["account"]
        .is_null());

    // An unused custom role goes.
    let spare = id(&admin
        .call("createRole", &[("name", "Spare"), ("type", "DomainAdmin")])
        .await
        .unwrap()["role"]);
    admin.call("deleteRole", &[("id", &spare)]).await.unwrap();
    assert!(admin.call("listRoles", &[("id", &spare)]).await.unwrap()["role"].is_null());
}

#[tokio::test]
async fn import_role_creates_replaces_only_when_forced_and_checks_every_rule_first() {
    let s = TestServer::start();
    let admin = s.admin().await;
    let import = |forced: &'static str, second: &'static str| {
        let admin = admin.clone();
        async move {
            admin
                .call(
                    "importRole",
                    &[
                        ("name", "Imported"),
                        ("type", "User"),
                        ("forced", forced),
                        ("rules[0].rule", "list*"),
                        ("rules[0].permission", "allow"),
                        ("rules[0].description", "listing"),
                        ("rules[1].rule", second),
                        ("rules[1].permission", "deny"),
                    ],
                )
                .await
        }
    };
    let r = import("false", "deployVirtualMachine").await.unwrap();
    let rid = id(&r["role"]);
    assert_eq!(
        rules_of(&admin, &rid).await,
        [
            ("list*".to_string(), "allow".to_string()),
            ("deployVirtualMachine".into(), "deny".into())
        ]
    );
    // Same name without forced: refused, unchanged.
    assert_eq!(code_of(import("false", "createTags").await), 431);
    // A bad rule anywhere refuses the whole import, even forced.
    assert_eq!(code_of(import("true", "notAnApi").await), 431);
    assert_eq!(rules_of(&admin, &rid).await.len(), 2);
    assert_eq!(rules_of(&admin, &rid).await[1].0, "deployVirtualMachine");
    // Forced: the rules are replaced.
    let r = import("true", "createTags").await.unwrap();
    assert_eq!(id(&r["role"]), rid);
    assert_eq!(rules_of(&admin, &rid).await[1].0, "createTags");
    // A non-admin cannot import.
    let user = s.user(&admin, "u1", "0").await;
    let r = user
        .call(
            "importRole",
            &[
                ("name", "Mine"),
                ("type", "Admin"),
                ("rules[0].rule", "*"),
                ("rules[0].permission", "allow"),
            ],
        )
        .await;
    assert_eq!(code_of(r), 401);
}
