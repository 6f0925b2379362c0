//! Secret details shown to no one: the secrets of extensions, cluster registrations, hosts and
//! custom actions are stored sealed, listed as the mask, kept when a client sends the mask back,
//! replaced when it sends a value, and reach the extension in clear. Nothing the server logs,
//! records as an event or keeps in a job holds one.

use super::credentials::payload_of;
use super::isolation::{setup, Env, EXTENSION_PASSWORD, HOST_TOKEN, MAP_SECRET};
use super::jobs::{contains, database_bytes};
use super::*;
use trellis_model::entity::DetailOwner;
use trellis_store::Store;

const MASK: &str = "******";
const ACTION_TOKEN: &str = "action-token-9876543210";
const NEW_EXTENSION_PASSWORD: &str = "Replaced-Extension-Pass";
const NEW_HOST_TOKEN: &str = "replaced-host-token-000";
const NEW_MAP_SECRET: &str = "replaced-cluster-secret-111";

fn all_secrets() -> [&'static str; 7] {
    [
        EXTENSION_PASSWORD,
        HOST_TOKEN,
        MAP_SECRET,
        ACTION_TOKEN,
        NEW_EXTENSION_PASSWORD,
        NEW_HOST_TOKEN,
        NEW_MAP_SECRET,
    ]
}

fn assert_no_secret(what: &str, text: &str) {
    for s in all_secrets() {
        assert!(!text.contains(s), "{what} shows the secret {s}: {text}");
    }
}

/// The SQLite database of the test server, which is stopped for it (a SQLite database is
/// opened by one process at a time); [`restart`] starts it again.
async fn database(env: &mut Env) -> Store {
    env.s.terminate();
    Store::open(&format!(
        "sqlite://{}",
        env.s.data_dir().join("trellis.db").display()
    ))
    .await
    .unwrap()
}

async fn restart(env: &mut Env, store: Store) {
    store.close().await;
    env.s.restart();
}

async fn the_cluster(env: &Env) -> String {
    env.admin
        .call("listClusters", &[("zoneid", &env.zone)])
        .await
        .unwrap()["cluster"][0]["id"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn the_host(env: &Env) -> Value {
    let hosts = env.admin.call("listHosts", &[]).await.unwrap();
    assert_no_secret("listHosts", &hosts.to_string());
    hosts["host"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["name"] == "host-1")
        .cloned()
        .expect("host-1 listed")
}

async fn the_extension(env: &Env) -> Value {
    let r = env
        .admin
        .call("listExtensions", &[("id", &env.ext_id)])
        .await
        .unwrap();
    assert_no_secret("listExtensions", &r.to_string());
    r["extension"][0].clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn secret_details_are_sealed_masked_kept_on_round_trip_and_reach_the_extension() {
    let mut env = setup().await;
    let cluster = the_cluster(&env).await;

    // Every view shows the mask; what is not secret shows as it is.
    let e = the_extension(&env).await;
    assert_eq!(e["details"]["password"], MASK, "{e}");
    assert_eq!(e["details"]["url"], "https://orchestrator.example");
    let map = &e["resources"][0]["details"];
    assert_eq!(map["api_secret"], MASK, "{e}");
    assert_eq!(map["region"], "eu");
    let h = the_host(&env).await;
    assert_eq!(h["details"]["token"], MASK, "{h}");
    assert_eq!(h["details"]["node"], "n1");
    let host = h["id"].as_str().unwrap().to_string();

    // At rest: the rows hold sealed values, and no byte of the database holds a clear one.
    let store = database(&mut env).await;
    let rows = store
        .details_named_like(&["password", "secret", "token"])
        .await
        .unwrap();
    for name in ["password", "api_secret", "External:token"] {
        let named: Vec<_> = rows.iter().filter(|d| d.name == name).collect();
        assert!(!named.is_empty(), "no row {name}");
        for d in named {
            assert!(d.value.starts_with("sealed:v1:"), "{name}: {}", d.value);
        }
    }
    for d in &rows {
        assert_no_secret("a details row", &d.value);
    }
    restart(&mut env, store).await;
    let bytes = database_bytes(&env.s);
    for s in [EXTENSION_PASSWORD, HOST_TOKEN, MAP_SECRET] {
        assert!(!contains(&bytes, s), "{s} is stored in clear");
    }

    // The extension gets the clear values.
    let vm = env
        .deploy(&env.admin, "sec-1", &env.template, &[("hostid", &host)])
        .await
        .unwrap();
    assert_no_secret("deployVirtualMachine", &vm.to_string());
    let name = vm["instancename"].as_str().unwrap().to_string();
    let vid = vm["id"].as_str().unwrap().to_string();
    let created = payload_of(&env, "create", &name);
    let x = &created["externaldetails"];
    assert_eq!(x["extension"]["password"], EXTENSION_PASSWORD, "{x}");
    assert_eq!(x["resourcemap"]["api_secret"], MAP_SECRET, "{x}");
    assert_eq!(x["host"]["token"], HOST_TOKEN, "{x}");

    // A client sends back the details it listed, mask included: the stored secrets stay.
    let updated = env
        .admin
        .call(
            "updateExtension",
            &[
                ("id", &env.ext_id),
                ("details[0].url", "https://changed.example"),
                ("details[0].password", MASK),
            ],
        )
        .await
        .unwrap();
    assert_eq!(updated["extension"]["details"]["password"], MASK);
    assert_no_secret("updateExtension", &updated.to_string());
    let updated = env
        .admin
        .call(
            "updateHost",
            &[
                ("id", &host),
                ("externaldetails[0].node", "n1b"),
                ("externaldetails[0].token", MASK),
            ],
        )
        .await
        .unwrap();
    assert_no_secret("updateHost", &updated.to_string());
    assert!(updated.to_string().contains(MASK), "{updated}");
    let updated = env
        .admin
        .call(
            "updateCluster",
            &[
                ("id", &cluster),
                ("externaldetails[0].region", "eu2"),
                ("externaldetails[0].api_secret", MASK),
            ],
        )
        .await
        .unwrap();
    assert_no_secret("updateCluster", &updated.to_string());
    env.run(&env.admin, "stopVirtualMachine", &[("id", &vid)])
        .await
        .unwrap();
    let stopped = payload_of(&env, "stop", &name);
    let x = &stopped["externaldetails"];
    assert_eq!(x["extension"]["password"], EXTENSION_PASSWORD, "{x}");
    assert_eq!(x["extension"]["url"], "https://changed.example", "{x}");
    assert_eq!(x["resourcemap"]["api_secret"], MAP_SECRET, "{x}");
    assert_eq!(x["resourcemap"]["region"], "eu2", "{x}");
    assert_eq!(x["host"]["token"], HOST_TOKEN, "{x}");
    assert_eq!(x["host"]["node"], "n1b", "{x}");

    // A value replaces the secret; the views still show the mask.
    let updated = env
        .admin
        .call(
            "updateExtension",
            &[
                ("id", &env.ext_id),
                ("details[0].url", "https://changed.example"),
                ("details[0].password", NEW_EXTENSION_PASSWORD),
            ],
        )
        .await
        .unwrap();
    assert_eq!(updated["extension"]["details"]["password"], MASK);
    let registered = env
        .admin
        .call(
            "updateRegisteredExtension",
            &[
                ("extensionid", &env.ext_id),
                ("resourceid", &cluster),
                ("resourcetype", "Cluster"),
                ("details[0].region", "eu2"),
                ("details[0].api_secret", NEW_MAP_SECRET),
            ],
        )
        .await
        .unwrap();
    assert_no_secret("updateRegisteredExtension", &registered.to_string());
    assert_eq!(
        registered["extension"]["resources"][0]["details"]["api_secret"], MASK,
        "{registered}"
    );
    env.admin
        .call(
            "updateHost",
            &[
                ("id", &host),
                ("externaldetails[0].node", "n1b"),
                ("externaldetails[0].token", NEW_HOST_TOKEN),
            ],
        )
        .await
        .unwrap();
    env.run(&env.admin, "startVirtualMachine", &[("id", &vid)])
        .await
        .unwrap();
    let started = payload_of(&env, "start", &name);
    let x = &started["externaldetails"];
    assert_eq!(x["extension"]["password"], NEW_EXTENSION_PASSWORD, "{x}");
    assert_eq!(x["resourcemap"]["api_secret"], NEW_MAP_SECRET, "{x}");
    assert_eq!(x["host"]["token"], NEW_HOST_TOKEN, "{x}");
    // The round trip of updateRegisteredExtension keeps the secret too.
    env.admin
        .call(
            "updateRegisteredExtension",
            &[
                ("extensionid", &env.ext_id),
                ("resourceid", &cluster),
                ("resourcetype", "Cluster"),
                ("details[0].region", "eu3"),
                ("details[0].api_secret", MASK),
            ],
        )
        .await
        .unwrap();
    env.run(&env.admin, "rebootVirtualMachine", &[("id", &vid)])
        .await
        .unwrap();
    let rebooted = payload_of(&env, "reboot", &name);
    let x = &rebooted["externaldetails"]["resourcemap"];
    assert_eq!(x["api_secret"], NEW_MAP_SECRET, "{x}");
    assert_eq!(x["region"], "eu3", "{x}");

    // The mask for a secret nothing holds is refused, with the reason.
    let refused = text_of(
        env.admin
            .call(
                "updateExtension",
                &[("id", &env.ext_id), ("details[0].apikey", MASK)],
            )
            .await,
    );
    assert!(refused.contains("send the value itself"), "{refused}");
    let e = the_extension(&env).await;
    assert_eq!(
        e["details"]["password"], MASK,
        "the refused update changed nothing: {e}"
    );

    // A custom action's secret detail: listed as the mask, in clear in the payload, and the
    // payload the action echoes into its result is scrubbed of every secret it carried.
    let action = env
        .admin
        .call(
            "addCustomAction",
            &[
                ("extensionid", &env.ext_id),
                ("name", "DumpOk"),
                ("enabled", "true"),
                ("details[0].action_token", ACTION_TOKEN),
            ],
        )
        .await
        .unwrap();
    assert_no_secret("addCustomAction", &action.to_string());
    let action = &action["extensioncustomaction"];
    assert_eq!(action["details"]["action_token"], MASK, "{action}");
    let aid = action["id"].as_str().unwrap().to_string();
    let listed = env
        .admin
        .call("listCustomActions", &[("id", &aid)])
        .await
        .unwrap();
    assert_no_secret("listCustomActions", &listed.to_string());
    let r = env
        .run(
            &env.admin,
            "runCustomAction",
            &[("customactionid", &aid), ("resourceid", &vid)],
        )
        .await
        .unwrap();
    assert_eq!(r["customactionresult"]["success"], true, "{r}");
    let result = r.to_string();
    assert_no_secret("the custom action's result", &result);
    assert!(
        result.contains(MASK),
        "the echoed payload is masked: {result}"
    );
    let ran = payload_of(&env, "DumpOk", &name);
    let x = &ran["externaldetails"];
    assert_eq!(x["action"]["action_token"], ACTION_TOKEN, "{x}");
    assert_eq!(x["extension"]["password"], NEW_EXTENSION_PASSWORD, "{x}");

    // The sweep: the server's log, the events and the jobs hold no secret.
    assert_no_secret("the server log", &env.s.logs());
    let events = env
        .admin
        .call("listEvents", &[("listall", "true"), ("pagesize", "-1")])
        .await
        .unwrap();
    assert!(events["count"].as_i64().unwrap_or(0) > 0, "{events}");
    assert_no_secret("listEvents", &events.to_string());
    let jobs = env
        .admin
        .call("listAsyncJobs", &[("listall", "true")])
        .await
        .unwrap();
    assert_no_secret("listAsyncJobs", &jobs.to_string());
    let ids: Vec<String> = jobs["asyncjobs"]
        .as_array()
        .expect("jobs listed")
        .iter()
        .map(|j| j["jobid"].as_str().unwrap().to_string())
        .collect();
    assert!(ids.len() >= 5, "{jobs}");
    for id in ids {
        let j = env
            .admin
            .call("queryAsyncJobResult", &[("jobid", &id)])
            .await
            .unwrap();
        assert_no_secret("queryAsyncJobResult", &j.to_string());
    }
    let bytes = database_bytes(&env.s);
    for s in all_secrets() {
        assert!(!contains(&bytes, s), "{s} is stored in clear");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn secret_details_stored_in_clear_by_an_earlier_version_work_and_are_sealed_at_start() {
    const LEGACY: &str = "Legacy-Clear-Pass-2023";
    let mut env = setup().await;
    let vm = env
        .deploy(&env.admin, "legacy-1", &env.template, &[])
        .await
        .unwrap();
    let name = vm["instancename"].as_str().unwrap().to_string();
    let vid = vm["id"].as_str().unwrap().to_string();
    // A row as an earlier version wrote it: the password in clear.
    let store = database(&mut env).await;
    let ext = store.extension_by_uuid(&env.ext_id).await.unwrap().unwrap();
    store
        .detail_upsert(DetailOwner::Extension, ext.id, "password", LEGACY, true)
        .await
        .unwrap();
    // The start seals it.
    restart(&mut env, store).await;
    assert!(
        env.s
            .logs()
            .contains("sealed secret details stored in clear"),
        "the start says what it did"
    );
    let e = the_extension(&env).await;
    assert_eq!(e["details"]["password"], MASK, "{e}");
    assert!(!e.to_string().contains(LEGACY), "{e}");
    let store = database(&mut env).await;
    let row = store
        .detail_get(DetailOwner::Extension, ext.id, "password")
        .await
        .unwrap()
        .unwrap();
    assert!(row.starts_with("sealed:v1:"), "{row}");
    assert!(!row.contains(LEGACY), "{row}");
    // A second start finds nothing left to seal and leaves the sealed row alone.
    restart(&mut env, store).await;
    let store = database(&mut env).await;
    let again = store
        .detail_get(DetailOwner::Extension, ext.id, "password")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again, row, "sealed once, not again");
    restart(&mut env, store).await;
    // The extension gets the clear value.
    env.run(&env.admin, "stopVirtualMachine", &[("id", &vid)])
        .await
        .unwrap();
    let stopped = payload_of(&env, "stop", &name);
    assert_eq!(stopped["externaldetails"]["extension"]["password"], LEGACY);
}

/// An extension declares more secret names (`sensitive.details`): values of those names are
/// sealed (those stored before the declaration too), masked in every view, and still reach the
/// extension in clear.
#[tokio::test(flavor = "multi_thread")]
async fn details_an_extension_declares_secret_are_sealed_masked_and_delivered() {
    const IPMI: &str = "Ipmi-Clear-Value-42";
    let mut env = setup().await;
    // The cluster's `region` (eu) was stored in clear before any declaration.
    let e = env
        .admin
        .call(
            "updateExtension",
            &[
                ("id", &env.ext_id),
                ("details[0].url", "https://orchestrator.example"),
                ("details[0].password", MASK),
                ("details[0].sensitive.details", "ipmi_pw, region"),
                ("details[0].ipmi_pw", IPMI),
            ],
        )
        .await
        .unwrap()["extension"]
        .clone();
    assert_eq!(e["details"]["ipmi_pw"], MASK, "{e}");
    assert_eq!(e["details"]["sensitive.details"], "ipmi_pw, region", "{e}");
    assert_eq!(e["details"]["password"], MASK, "{e}");
    let listed = the_extension(&env).await;
    assert_eq!(
        listed["resources"][0]["details"]["region"], MASK,
        "{listed}"
    );
    assert!(!listed.to_string().contains(IPMI));

    let vm = env
        .deploy(&env.admin, "declared-1", &env.template, &[])
        .await
        .unwrap();
    let created = payload_of(&env, "create", vm["instancename"].as_str().unwrap());
    let x = &created["externaldetails"];
    assert_eq!(x["extension"]["ipmi_pw"], IPMI, "{x}");
    assert_eq!(x["extension"]["password"], EXTENSION_PASSWORD, "{x}");
    assert_eq!(x["resourcemap"]["region"], "eu", "{x}");

    // At rest both are sealed, the one stored before the declaration included.
    let store = database(&mut env).await;
    let rows = store
        .details_named_like(&["ipmi_pw", "region"])
        .await
        .unwrap();
    for name in ["ipmi_pw", "region"] {
        let named: Vec<_> = rows.iter().filter(|d| d.name == name).collect();
        assert!(!named.is_empty(), "no row {name}");
        for d in named {
            assert!(d.value.starts_with("sealed:v1:"), "{name}: {}", d.value);
        }
    }
    restart(&mut env, store).await;
    assert!(!contains(&database_bytes(&env.s), IPMI));
    assert!(!env.s.logs().contains(IPMI));
}
