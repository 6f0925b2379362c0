//! addHost's `username` and `password`: kept as the host's details (the password never listed),
//! delivered to the extension at host level unless the host's external details or the extension
//! already set them.

use super::isolation::setup;
use super::*;

#[tokio::test(flavor = "multi_thread")]
async fn add_host_credentials_reach_the_extension_and_are_never_listed() {
    let env = setup().await;
    // The setup's extension carries a password; take it off so the host's credentials apply.
    env.admin
        .call(
            "updateExtension",
            &[
                ("id", &env.ext_id),
                ("details[0].url", "https://orchestrator.example"),
            ],
        )
        .await
        .unwrap();
    let zone = env.zone.clone();
    let cluster = env
        .admin
        .call("listClusters", &[("zoneid", &zone)])
        .await
        .unwrap()["cluster"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    // The setup's host carries upstream's placeholders; a second host carries real ones.
    let host = env
        .admin
        .call(
            "addHost",
            &[
                ("zoneid", &zone),
                ("clusterid", &cluster),
                ("url", "hv-2"),
                ("hypervisor", "External"),
                ("username", "CORP\\svc-hyperv"),
                ("password", "Host-Pass-2024!"),
                ("externaldetails[0].node", "n2"),
            ],
        )
        .await
        .unwrap()["host"][0]
        .clone();
    let listed = env.admin.call("listHosts", &[]).await.unwrap().to_string();
    assert!(!listed.contains("Host-Pass-2024!"), "{listed}");
    assert!(!host.to_string().contains("Host-Pass-2024!"), "{host}");
    // Deploy onto that host (admin may choose it) and read the payload the extension got.
    let hid = host["id"].as_str().unwrap().to_string();
    let vm = env
        .deploy(&env.admin, "cred-1", &env.template, &[("hostid", &hid)])
        .await
        .unwrap();
    let name = vm["instancename"].as_str().unwrap().to_string();
    let created = payload_of(&env, "create", &name);
    let h = &created["externaldetails"]["host"];
    assert_eq!(h["username"], "CORP\\svc-hyperv", "{h}");
    assert_eq!(h["password"], "Host-Pass-2024!", "{h}");
    assert_eq!(h["node"], "n2");
    // Credentials set on the extension win: the host's are no longer mixed in.
    env.admin
        .call(
            "updateExtension",
            &[
                ("id", &env.ext_id),
                ("details[0].url", "https://orchestrator.example"),
                ("details[0].username", "ext-user"),
                ("details[0].password", "Ext-Pass-2024!"),
            ],
        )
        .await
        .unwrap();
    let vid = vm["id"].as_str().unwrap().to_string();
    env.run(&env.admin, "stopVirtualMachine", &[("id", &vid)])
        .await
        .unwrap();
    let stopped = payload_of(&env, "stop", &name);
    let h = &stopped["externaldetails"]["host"];
    assert!(
        h.get("username").is_none() && h.get("password").is_none(),
        "{h}"
    );
    assert_eq!(
        stopped["externaldetails"]["extension"]["username"],
        "ext-user"
    );
}

/// The latest recorded payload of `action` for instance `name`.
pub(super) fn payload_of(env: &super::isolation::Env, action: &str, name: &str) -> Value {
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(env.dir.join("rec"))
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let f = p.file_name().unwrap().to_string_lossy().to_string();
            f.contains(&format!("-{action}-")) && f.ends_with(&format!("-{name}.json"))
        })
        .collect();
    files.sort();
    let last = files
        .last()
        .unwrap_or_else(|| panic!("no {action} payload for {name}"));
    serde_json::from_str(&std::fs::read_to_string(last).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn add_host_allocation_state_and_template_hypervisor_filter_are_honoured() {
    let env = setup().await;
    let cluster = env
        .admin
        .call("listClusters", &[("zoneid", &env.zone)])
        .await
        .unwrap()["cluster"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let add = |url: &'static str, state: &'static str| {
        let admin = env.admin.clone();
        let (zone, cluster) = (env.zone.clone(), cluster.clone());
        async move {
            admin
                .call(
                    "addHost",
                    &[
                        ("zoneid", &zone),
                        ("clusterid", &cluster),
                        ("url", url),
                        ("hypervisor", "External"),
                        ("allocationstate", state),
                    ],
                )
                .await
        }
    };
    let host = add("disabled-host", "Disabled").await.unwrap();
    assert_eq!(host["host"][0]["resourcestate"], "Disabled", "{host}");
    let text = text_of(add("odd-host", "Sideways").await);
    assert!(text.contains("Invalid allocation state Sideways"), "{text}");
    let hosts = env
        .admin
        .call("listHosts", &[("name", "odd-host")])
        .await
        .unwrap();
    assert_eq!(
        hosts["count"].as_i64().unwrap_or(0),
        0,
        "nothing half-added: {hosts}"
    );
    // Every template is External: another hypervisor matches none, and says so by an empty list.
    let kvm = env
        .a
        .call(
            "listTemplates",
            &[("templatefilter", "executable"), ("hypervisor", "KVM")],
        )
        .await
        .unwrap();
    assert_eq!(kvm["count"].as_i64().unwrap_or(0), 0, "{kvm}");
    let external = env
        .a
        .call(
            "listTemplates",
            &[("templatefilter", "executable"), ("hypervisor", "External")],
        )
        .await
        .unwrap();
    assert_eq!(external["count"], 1, "{external}");
}
