//! The extensions framework over HTTP: every command and its errors (with upstream's quirks
//! fixed), the scaffold, path readiness and its alert, custom action definitions.

use super::*;

async fn create_ext(c: &Client, name: &str) -> Value {
    c.call(
        "createExtension",
        &[("name", name), ("type", "Orchestrator")],
    )
    .await
    .unwrap()["extension"]
        .clone()
}

async fn external_cluster(c: &Client, name: &str) -> (String, String) {
    let z = c
        .call("createZone", &[("name", &format!("{name}-zone"))])
        .await
        .unwrap();
    let zid = z["zone"]["id"].as_str().unwrap().to_string();
    let cl = c
        .call(
            "addCluster",
            &[
                ("zoneid", &zid),
                ("clustername", name),
                ("hypervisor", "External"),
            ],
        )
        .await
        .unwrap();
    (zid, cl["cluster"][0]["id"].as_str().unwrap().to_string())
}

#[tokio::test]
async fn create_defaults_scaffold_and_errors() {
    let s = TestServer::start();
    let c = s.admin().await;
    let r = c
        .call(
            "createExtension",
            &[
                ("name", "My Ext"),
                ("type", "Orchestrator"),
                ("description", "demo"),
                ("orchestratorrequirespreparevm", "true"),
                ("details[0].url", "pve.example"),
                ("details[0].secret", "Scaffold-Secret-1"),
                ("details[0].notes", &"s".repeat(5000)),
            ],
        )
        .await
        .unwrap();
    let e = &r["extension"];
    assert_eq!(e["state"], "Enabled");
    assert_eq!(e["pathready"], true);
    assert_eq!(e["isuserdefined"], true);
    assert_eq!(e["orchestratorrequirespreparevm"], true);
    assert_eq!(e["details"]["url"], "pve.example");
    assert_eq!(
        e["details"]["notes"].as_str().unwrap().len(),
        5000,
        "no 255-character limit on details"
    );
    assert_eq!(
        e["details"]["secret"], "******",
        "a secret is listed as the mask"
    );
    let path = std::path::PathBuf::from(e["path"].as_str().unwrap());
    assert_eq!(
        path,
        s.extensions_dir()
            .canonicalize()
            .unwrap_or(s.extensions_dir())
            .join("my_ext/my_ext.sh")
    );
    use std::os::unix::fs::PermissionsExt;
    assert!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o111 != 0,
        "scaffold is executable"
    );
    // The scaffold answers every standard action.
    let check = std::process::Command::new(bin())
        .args(["extension", "check"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
    // Errors.
    assert_eq!(
        text_of(
            c.call(
                "createExtension",
                &[("name", "my ext"), ("type", "Orchestrator")]
            )
            .await
        ),
        "Extension by name already exists"
    );
    let bad_type = c
        .call("createExtension", &[("name", "t"), ("type", "Random")])
        .await;
    // Bad input is the caller's error (431), with the parameter named.
    let error = bad_type.unwrap_err().to_string();
    assert!(
        error.contains("431") && error.contains("parameter type"),
        "{error}"
    );
    assert_eq!(
        code_of(
            c.call(
                "createExtension",
                &[
                    ("name", "s"),
                    ("type", "Orchestrator"),
                    ("state", "enabled")
                ]
            )
            .await
        ),
        431
    );
    assert_eq!(
        code_of(
            c.call(
                "createExtension",
                &[
                    ("name", "p1"),
                    ("type", "Orchestrator"),
                    ("path", "../escape.sh")
                ]
            )
            .await
        ),
        431
    );
    assert_eq!(
        code_of(
            c.call(
                "createExtension",
                &[
                    ("name", "p2"),
                    ("type", "Orchestrator"),
                    ("path", "/usr/bin/env")
                ]
            )
            .await
        ),
        431
    );
    assert_eq!(
        code_of(
            c.call(
                "createExtension",
                &[
                    ("name", "p3"),
                    ("type", "Orchestrator"),
                    ("path", "a/b/c/run.sh")
                ]
            )
            .await
        ),
        431
    );
    assert!(!s.extensions_dir().join("escape.sh").exists());
    // A disabled extension is not scaffolded and not ready.
    let d = c
        .call(
            "createExtension",
            &[
                ("name", "off"),
                ("type", "Orchestrator"),
                ("state", "Disabled"),
            ],
        )
        .await
        .unwrap();
    assert_eq!(d["extension"]["pathready"], false);
    assert!(!s.extensions_dir().join("off/off.sh").exists());
    let ev = c
        .call("listEvents", &[("type", "EXTENSION.CREATE")])
        .await
        .unwrap();
    assert_eq!(ev["count"], 2);
}

#[tokio::test]
async fn list_views_filters_and_paging() {
    let s = TestServer::start();
    let c = s.admin().await;
    for n in ["alpha", "beta", "gamma"] {
        c.call(
            "createExtension",
            &[("name", n), ("type", "Orchestrator"), ("details[0].k", "v")],
        )
        .await
        .unwrap();
    }
    let all = c.call("listExtensions", &[]).await.unwrap();
    assert_eq!(all["count"], 7, "3 created + 4 built-ins");
    assert_eq!(all["extension"][0]["name"], "gamma", "newest first");
    assert_eq!(all["extension"][0]["details"]["k"], "v");
    let min = c
        .call("listExtensions", &[("details", "min")])
        .await
        .unwrap();
    assert!(min["extension"][0].get("details").is_none());
    let page = c
        .call("listExtensions", &[("page", "1"), ("pagesize", "2")])
        .await
        .unwrap();
    assert_eq!(page["count"], 7);
    assert_eq!(page["extension"].as_array().unwrap().len(), 2);
    assert_eq!(
        c.call("listExtensions", &[("name", "beta")]).await.unwrap()["count"],
        1
    );
    assert_eq!(
        c.call("listExtensions", &[("keyword", "amm")])
            .await
            .unwrap()["extension"][0]["name"],
        "gamma"
    );
    assert_eq!(
        code_of(c.call("listExtensions", &[("details", "bogus")]).await),
        431
    );
    let builtins = c
        .call("listExtensions", &[("name", "Proxmox")])
        .await
        .unwrap();
    let p = &builtins["extension"][0];
    assert_eq!(p["isuserdefined"], false);
    assert_eq!(p["orchestratorrequirespreparevm"], true);
    assert_eq!(
        p["pathready"], false,
        "no built-in binary in this test setup, and readiness says so"
    );
    let actions = c
        .call(
            "listCustomActions",
            &[("extensionid", p["id"].as_str().unwrap())],
        )
        .await
        .unwrap();
    assert_eq!(actions["count"], 4);
    assert_eq!(
        code_of(
            c.call("deleteExtension", &[("id", p["id"].as_str().unwrap())])
                .await
        ),
        431
    );
}

#[tokio::test]
async fn update_details_state_and_description() {
    let s = TestServer::start();
    let c = s.admin().await;
    let e = c
        .call(
            "createExtension",
            &[
                ("name", "upd"),
                ("type", "Orchestrator"),
                ("state", "Disabled"),
                ("details[0].a", "1"),
            ],
        )
        .await
        .unwrap()["extension"]
        .clone();
    let id = e["id"].as_str().unwrap();
    let u = c
        .call(
            "updateExtension",
            &[
                ("id", id),
                ("description", "new"),
                ("state", "Enabled"),
                ("details[0].abc", "x"),
                ("details[1].bca", "y"),
            ],
        )
        .await
        .unwrap();
    let u = &u["extension"];
    assert_eq!(u["description"], "new");
    assert_eq!(u["state"], "Enabled");
    assert_eq!(
        u["pathready"], true,
        "enabling scaffolds and prepares the path"
    );
    assert_eq!(
        u["details"],
        serde_json::json!({"abc": "x", "bca": "y"}),
        "details are replaced"
    );
    let u = c
        .call(
            "updateExtension",
            &[
                ("id", id),
                ("cleanupdetails", "true"),
                ("details[0].z", "z"),
            ],
        )
        .await
        .unwrap();
    assert!(u["extension"].get("details").is_none());
    assert_eq!(
        code_of(
            c.call(
                "updateExtension",
                &[("id", "00000000-0000-4000-8000-000000000000")]
            )
            .await
        ),
        431
    );
    assert_eq!(
        code_of(
            c.call("updateExtension", &[("id", id), ("state", "Off")])
                .await
        ),
        431
    );
}

#[tokio::test]
async fn register_unregister_and_delete_preconditions() {
    let s = TestServer::start();
    let c = s.admin().await;
    let e1 = create_ext(&c, "one").await;
    let e2 = create_ext(&c, "two").await;
    let (e1id, e2id) = (e1["id"].as_str().unwrap(), e2["id"].as_str().unwrap());
    let (_, cluster) = external_cluster(&c, "c1").await;
    let r = c
        .call(
            "registerExtension",
            &[
                ("extensionid", e1id),
                ("resourceid", &cluster),
                ("resourcetype", "Cluster"),
                ("details[0].region", "a"),
            ],
        )
        .await
        .unwrap();
    let res = &r["extension"]["resources"][0];
    assert_eq!(res["id"], cluster.as_str());
    assert_eq!(res["type"], "Cluster");
    assert_eq!(res["details"]["region"], "a");
    assert_eq!(
        code_of(
            c.call(
                "registerExtension",
                &[
                    ("extensionid", e2id),
                    ("resourceid", &cluster),
                    ("resourcetype", "Cluster")
                ]
            )
            .await
        ),
        530
    );
    assert_eq!(
        code_of(
            c.call(
                "registerExtension",
                &[
                    ("extensionid", e1id),
                    ("resourceid", &cluster),
                    ("resourcetype", "Host")
                ]
            )
            .await
        ),
        431
    );
    assert_eq!(
        code_of(
            c.call(
                "registerExtension",
                &[
                    ("extensionid", e1id),
                    ("resourceid", "nope"),
                    ("resourcetype", "Cluster")
                ]
            )
            .await
        ),
        431
    );
    let clusters = c.call("listClusters", &[("id", &cluster)]).await.unwrap();
    assert_eq!(clusters["cluster"][0]["extensionname"], "one");
    assert_eq!(
        code_of(c.call("deleteExtension", &[("id", e1id)]).await),
        530
    );
    // Unregistering with the wrong extension is refused (upstream silently removes the mapping).
    assert_eq!(
        code_of(
            c.call(
                "unregisterExtension",
                &[
                    ("extensionid", e2id),
                    ("resourceid", &cluster),
                    ("resourcetype", "Cluster")
                ]
            )
            .await
        ),
        431
    );
    let r = c
        .call(
            "unregisterExtension",
            &[
                ("extensionid", e1id),
                ("resourceid", &cluster),
                ("resourcetype", "Cluster"),
            ],
        )
        .await
        .unwrap();
    assert!(r["extension"].get("resources").is_none());
    c.call("addCustomAction", &[("extensionid", e1id), ("name", "act")])
        .await
        .unwrap();
    assert!(text_of(c.call("deleteExtension", &[("id", e1id)]).await).contains("1 custom actions"));
    let a = c
        .call("listCustomActions", &[("extensionid", e1id)])
        .await
        .unwrap();
    c.call(
        "deleteCustomAction",
        &[("id", a["extensioncustomaction"][0]["id"].as_str().unwrap())],
    )
    .await
    .unwrap();
    let path = std::path::PathBuf::from(e1["path"].as_str().unwrap());
    assert!(path.exists());
    c.call("deleteExtension", &[("id", e1id), ("cleanup", "true")])
        .await
        .unwrap();
    assert!(
        !path.parent().unwrap().exists(),
        "cleanup removed the extension directory"
    );
    assert_eq!(
        c.call("listExtensions", &[("name", "one")]).await.unwrap(),
        serde_json::json!({})
    );
    // The name is free again.
    create_ext(&c, "one").await;
}

#[tokio::test]
async fn custom_action_definitions() {
    let s = TestServer::start();
    let c = s.admin().await;
    let e = create_ext(&c, "ca").await;
    let eid = e["id"].as_str().unwrap();
    let r = c
        .call(
            "addCustomAction",
            &[
                ("extensionid", eid),
                ("name", "Snap It"),
                ("details[0].abc", "xyz"),
                ("parameters[0].name", "Name"),
                ("parameters[0].type", "STRING"),
                ("parameters[0].validationformat", "NONE"),
                ("parameters[0].required", "true"),
                ("parameters[1].name", "count"),
                ("parameters[1].type", "number"),
                ("parameters[1].valueoptions", "10,100,1000"),
                ("parameters[2].name", "untyped"),
            ],
        )
        .await
        .unwrap();
    let a = &r["extensioncustomaction"];
    assert_eq!(a["enabled"], false);
    assert_eq!(a["allowedroletypes"], serde_json::json!(["Admin"]));
    assert_eq!(a["timeout"], 3, "one default timeout, upstream's 3 s");
    assert_eq!(a["resourcetype"], "VirtualMachine");
    assert_eq!(a["details"]["abc"], "xyz");
    assert_eq!(
        a["parameters"][0],
        serde_json::json!({"name": "Name", "type": "STRING", "validationformat": "NONE", "required": true})
    );
    assert_eq!(
        a["parameters"][1]["valueoptions"],
        serde_json::json!([10, 100, 1000])
    );
    assert_eq!(
        a["parameters"][2]["type"], "STRING",
        "type defaults to STRING"
    );
    let id = a["id"].as_str().unwrap();
    // Errors.
    assert_eq!(
        code_of(
            c.call(
                "addCustomAction",
                &[("extensionid", eid), ("name", "Snap It")]
            )
            .await
        ),
        530
    );
    assert_eq!(
        code_of(
            c.call(
                "addCustomAction",
                &[("extensionid", eid), ("name", "bad;name")]
            )
            .await
        ),
        431
    );
    assert_eq!(
        code_of(
            c.call(
                "addCustomAction",
                &[
                    ("extensionid", eid),
                    ("name", "h"),
                    ("resourcetype", "Host")
                ]
            )
            .await
        ),
        431
    );
    assert_eq!(
        code_of(
            c.call(
                "addCustomAction",
                &[
                    ("extensionid", eid),
                    ("name", "r"),
                    ("allowedroletypes", "Admin,Root")
                ]
            )
            .await
        ),
        431
    );
    assert_eq!(
        code_of(
            c.call(
                "addCustomAction",
                &[
                    ("extensionid", eid),
                    ("name", "f"),
                    ("parameters[0].name", "n"),
                    ("parameters[0].type", "NUMBER"),
                    ("parameters[0].validationformat", "EMAIL")
                ]
            )
            .await
        ),
        431
    );
    assert_eq!(
        code_of(
            c.call(
                "addCustomAction",
                &[("extensionid", eid), ("name", "t"), ("timeout", "0")]
            )
            .await
        ),
        431
    );
    assert_eq!(
        code_of(
            c.call(
                "addCustomAction",
                &[
                    ("extensionid", "00000000-0000-4000-8000-000000000000"),
                    ("name", "x")
                ]
            )
            .await
        ),
        431
    );
    // Update: roles keep Admin, parameters replaced in order, enabled.
    let u = c
        .call(
            "updateCustomAction",
            &[
                ("id", id),
                ("enabled", "true"),
                ("allowedroletypes", "User"),
                ("description", "d"),
                ("parameters[0].name", "COUNT"),
                ("parameters[0].type", "NUMBER"),
                ("parameters[0].valueoptions", "1,2"),
            ],
        )
        .await
        .unwrap();
    let u = &u["extensioncustomaction"];
    assert_eq!(u["allowedroletypes"], serde_json::json!(["Admin", "User"]));
    assert_eq!(u["enabled"], true);
    assert_eq!(u["parameters"].as_array().unwrap().len(), 1);
    c.call(
        "addCustomAction",
        &[("extensionid", eid), ("name", "disabled-one")],
    )
    .await
    .unwrap();
    // enabled=false returns the disabled ones (upstream returns enabled ones).
    let off = c
        .call(
            "listCustomActions",
            &[("extensionid", eid), ("enabled", "false")],
        )
        .await
        .unwrap();
    assert_eq!(off["count"], 1);
    assert_eq!(off["extensioncustomaction"][0]["name"], "disabled-one");
    let user = s.user(&c, "carol", "0").await;
    let seen = user
        .call("listCustomActions", &[("extensionid", eid)])
        .await
        .unwrap();
    assert_eq!(
        seen["count"], 1,
        "users see only actions allowed for their role"
    );
    let u = c
        .call(
            "updateCustomAction",
            &[
                ("id", id),
                ("cleanupparameters", "true"),
                ("cleanupdetails", "true"),
            ],
        )
        .await
        .unwrap();
    assert_eq!(
        u["extensioncustomaction"]["parameters"],
        serde_json::json!([])
    );
    assert_eq!(u["extensioncustomaction"]["details"], serde_json::json!({}));
    c.call("deleteCustomAction", &[("id", id)]).await.unwrap();
    assert_eq!(
        code_of(c.call("deleteCustomAction", &[("id", id)]).await),
        431
    );
}

#[tokio::test]
async fn readiness_follows_the_file_and_raises_an_alert() {
    let s = TestServer::start();
    let c = s.admin().await;
    c.call(
        "updateConfiguration",
        &[
            ("name", "extension.path.state.check.interval"),
            ("value", "1"),
        ],
    )
    .await
    .unwrap();
    let e = create_ext(&c, "ready").await;
    let id = e["id"].as_str().unwrap().to_string();
    let path = std::path::PathBuf::from(e["path"].as_str().unwrap());
    let moved = path.with_extension("moved");
    std::fs::rename(&path, &moved).unwrap();
    let ready = |want: bool| {
        let c = c.clone();
        let id = id.clone();
        async move {
            let l = c.call("listExtensions", &[("id", &id)]).await.ok()?;
            (l["extension"][0]["pathready"] == want).then_some(())
        }
    };
    wait_for(Duration::from_secs(20), "pathready false", || ready(false)).await;
    let alerts = c.call("listAlerts", &[]).await.unwrap();
    assert!(alerts["alert"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["type"] == 33
            && a["description"]
                .as_str()
                .unwrap()
                .contains("\"name\":\"ready\"")));
    std::fs::rename(&moved, &path).unwrap();
    wait_for(Duration::from_secs(20), "pathready true", || ready(true)).await;
    // A changed file stays ready on a single server (only one checksum to compare).
    write_script(&path, "#!/bin/sh\necho '{}'\n");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        c.call("listExtensions", &[("id", &id)]).await.unwrap()["extension"][0]["pathready"],
        true
    );
    // Not executable: not ready.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    wait_for(
        Duration::from_secs(20),
        "pathready false after chmod",
        || ready(false),
    )
    .await;
}

/// Two servers on one PostgreSQL database, each with its own extensions directory: an
/// extension is ready only when its executable is present and identical on both (the scaffold
/// stored through A is written by B from the database within a heartbeat); catalog changes made
/// through one server are seen at once through the other. What syncing, hand changes and
/// clean-ups do across servers is in `extension_files`.
#[tokio::test]
async fn two_servers_on_postgres_agree_on_readiness_and_state() {
    let Some(url) = postgres_or_skip("two-server test").await else {
        return;
    };
    let a = TestServer::start_with(Some(url.clone()));
    let ca = a.admin().await;
    let b = TestServer::start_with(Some(url));
    let cb = b.admin_session().await;
    ca.call(
        "updateConfiguration",
        &[
            ("name", "extension.path.state.check.interval"),
            ("value", "1"),
        ],
    )
    .await
    .unwrap();
    // Created through A: B writes the stored scaffold into its own directory.
    let e = create_ext(&ca, "shared").await;
    let id = e["id"].as_str().unwrap().to_string();
    let path_a = PathBuf::from(e["path"].as_str().unwrap());
    let rel = path_a
        .strip_prefix(a.extensions_dir())
        .unwrap()
        .to_path_buf();
    let path_b = b.extensions_dir().join(&rel);
    let ready = |c: &Client, want: bool| {
        let c = c.clone();
        let id = id.clone();
        async move {
            let l = c.call("listExtensions", &[("id", &id)]).await.ok()?;
            (l["extension"][0]["pathready"] == want).then_some(())
        }
    };
    wait_for(Duration::from_secs(30), "written on B", || {
        let path_b = path_b.clone();
        async move { path_b.exists().then_some(()) }
    })
    .await;
    assert_eq!(
        std::fs::read(&path_a).unwrap(),
        std::fs::read(&path_b).unwrap()
    );
    wait_for(Duration::from_secs(30), "ready once identical", || {
        ready(&cb, true)
    })
    .await;
    wait_for(Duration::from_secs(30), "ready through A too", || {
        ready(&ca, true)
    })
    .await;
    // Both servers are listed, up, with their version and the extension ready on each.
    let servers = ca.call("listManagementServers", &[]).await.unwrap();
    assert_eq!(servers["count"], 2, "{servers}");
    for s in servers["managementserver"].as_array().unwrap() {
        assert_eq!(s["state"], "Up");
        assert_eq!(s["version"], env!("CARGO_PKG_VERSION"));
        assert_eq!(s["extensionsready"], serde_json::json!(["shared"]), "{s}");
    }
    // B's copy changes by hand: reported, so neither server calls it ready.
    write_script(&path_b, "#!/bin/sh\necho '{}'\n");
    wait_for(
        Duration::from_secs(30),
        "not ready once they differ",
        || ready(&ca, false),
    )
    .await;
    let alerts = ca.call("listAlerts", &[]).await.unwrap();
    assert!(alerts["alert"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["type"] == 33));
    // Catalog rows written through one server are current through the other (no stale cache).
    let z = ca.call("createZone", &[("name", "z-a")]).await.unwrap();
    let zid = z["zone"]["id"].as_str().unwrap().to_string();
    assert_eq!(
        cb.call("listZones", &[("id", &zid)]).await.unwrap()["zone"][0]["name"],
        "z-a"
    );
    cb.call("updateZone", &[("id", &zid), ("name", "z-b")])
        .await
        .unwrap();
    assert_eq!(
        ca.call("listZones", &[("id", &zid)]).await.unwrap()["zone"][0]["name"],
        "z-b"
    );
    ca.call("updateExtension", &[("id", &id), ("state", "Disabled")])
        .await
        .unwrap();
    assert_eq!(
        cb.call("listExtensions", &[("id", &id)]).await.unwrap()["extension"][0]["state"],
        "Disabled"
    );
}
