//! `updateRegisteredExtension` (upstream 4.23) and `extension.payload.retain`.

use super::isolation::setup;
use super::*;

#[tokio::test(flavor = "multi_thread")]
async fn registration_details_are_updated_and_cleaned_up() {
    let env = setup().await;
    let cluster = env
        .admin
        .call("listClusters", &[("zoneid", &env.zone)])
        .await
        .unwrap()["cluster"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let update = |extra: Vec<(&'static str, &'static str)>| {
        let admin = env.admin.clone();
        let ext = env.ext_id.clone();
        let cluster = cluster.clone();
        async move {
            let mut params: Vec<(&str, &str)> = vec![
                ("extensionid", &ext),
                ("resourceid", &cluster),
                ("resourcetype", "Cluster"),
            ];
            params.extend(extra);
            admin.call("updateRegisteredExtension", &params).await
        }
    };
    let resources = |v: &Value| v["extension"]["resources"][0]["details"].clone();
    let v = update(vec![("details[0].region", "us"), ("details[0].rack", "r7")])
        .await
        .unwrap();
    assert_eq!(
        resources(&v),
        serde_json::json!({"region": "us", "rack": "r7"}),
        "{v}"
    );
    // The next payload carries them at the registration level.
    let vm = env
        .deploy(&env.admin, "reg-1", &env.template, &[])
        .await
        .unwrap();
    let rec = std::fs::read_dir(env.dir.join("rec")).unwrap();
    let name = vm["instancename"].as_str().unwrap().to_string();
    let create: Value = rec
        .filter_map(|e| e.ok())
        .find(|e| {
            let f = e.file_name().to_string_lossy().to_string();
            f.contains("-create-") && f.ends_with(&format!("-{name}.json"))
        })
        .map(|e| serde_json::from_str(&std::fs::read_to_string(e.path()).unwrap()).unwrap())
        .expect("create payload");
    assert_eq!(create["externaldetails"]["resourcemap"]["rack"], "r7");
    // cleanupdetails removes them all.
    let v = update(vec![("cleanupdetails", "true")]).await.unwrap();
    assert!(
        resources(&v).is_null() || resources(&v) == serde_json::json!({}),
        "{v}"
    );
    // Errors name the problem.
    let text = text_of(update(vec![]).await);
    assert!(text.contains("Nothing to update"), "{text}");
    let other = env
        .admin
        .call(
            "createExtension",
            &[("name", "other"), ("type", "Orchestrator")],
        )
        .await
        .unwrap()["extension"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let text = text_of(
        env.admin
            .call(
                "updateRegisteredExtension",
                &[
                    ("extensionid", &other),
                    ("resourceid", &cluster),
                    ("resourcetype", "Cluster"),
                    ("details[0].a", "b"),
                ],
            )
            .await,
    );
    assert!(
        text.contains("'other' is not registered with resource"),
        "{text}"
    );
    let bad_type = env
        .admin
        .call(
            "updateRegisteredExtension",
            &[
                ("extensionid", &env.ext_id),
                ("resourceid", &cluster),
                ("resourcetype", "Zone"),
                ("cleanupdetails", "true"),
            ],
        )
        .await;
    assert_eq!(code_of(bad_type), 431);
    // Users may not.
    let denied = env
        .a
        .call(
            "updateRegisteredExtension",
            &[
                ("extensionid", &env.ext_id),
                ("resourceid", &cluster),
                ("resourcetype", "Cluster"),
                ("cleanupdetails", "true"),
            ],
        )
        .await;
    assert!(denied.is_err());
}

#[tokio::test(flavor = "multi_thread")]
async fn retained_payloads_are_kept_private_and_their_place_is_logged() {
    use std::os::unix::fs::PermissionsExt as _;
    let env = setup().await;
    env.deploy(&env.a, "ret-0", &env.template, &[])
        .await
        .unwrap();
    assert!(
        !env.s.logs().contains("payload retained"),
        "nothing is retained by default"
    );
    env.admin
        .call(
            "updateConfiguration",
            &[("name", "extension.payload.retain"), ("value", "true")],
        )
        .await
        .unwrap();
    env.deploy(&env.a, "ret-1", &env.template, &[])
        .await
        .unwrap();
    let logs = env.s.logs();
    let line = logs
        .lines()
        .find(|l| l.contains("payload retained"))
        .unwrap_or_else(|| panic!("no retained payload logged:\n{logs}"));
    let path = line
        .split("path=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no path in {line}"));
    let meta = std::fs::metadata(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let body = std::fs::read_to_string(path).unwrap();
    assert!(body.contains("\"externaldetails\""), "{body}");
    // Retained payloads hold secrets: leave none behind on this machine.
    for l in logs.lines().filter(|l| l.contains("payload retained")) {
        if let Some(p) = l
            .split("path=")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
        {
            let _ = std::fs::remove_file(p);
        }
    }
}
