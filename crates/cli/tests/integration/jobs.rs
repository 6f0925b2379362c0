//! Jobs at rest: secrets they carry are sealed in the job row, and rows queued by an earlier
//! version (raw request parameters) still run after an upgrade.

use super::isolation::setup;
use super::*;
use trellis_store::{NewJob, Store};

const PASSWORD_VALUE: &str = "Sealed-Param-Pass-42";

/// Every byte the SQLite database holds (main file and write-ahead log).
pub(super) fn database_bytes(s: &TestServer) -> Vec<u8> {
    let mut out = Vec::new();
    for f in ["trellis.db", "trellis.db-wal"] {
        if let Ok(b) = std::fs::read(s.data_dir().join(f)) {
            out.extend(b);
        }
    }
    out
}

pub(super) fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[tokio::test(flavor = "multi_thread")]
async fn custom_action_parameters_are_sealed_in_the_job_row() {
    let env = setup().await;
    let vm = env
        .deploy(&env.a, "vm-a", &env.template, &[])
        .await
        .unwrap();
    let action = env
        .admin
        .call(
            "addCustomAction",
            &[
                ("extensionid", &env.ext_id),
                ("name", "DumpOk"),
                ("enabled", "true"),
                ("allowedroletypes", "User"),
                ("parameters[0].name", "newpw"),
                ("parameters[0].type", "STRING"),
                ("parameters[0].validationformat", "PASSWORD"),
            ],
        )
        .await
        .unwrap();
    let aid = action["extensioncustomaction"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = env
        .run(
            &env.a,
            "runCustomAction",
            &[
                ("customactionid", &aid),
                ("resourceid", vm["id"].as_str().unwrap()),
                ("parameters[0].newpw", PASSWORD_VALUE),
            ],
        )
        .await
        .unwrap();
    assert_eq!(r["customactionresult"]["success"], true, "{r}");
    // The extension got the value (so the job did carry it) ...
    let rec: String = std::fs::read_dir(env.dir.join("rec"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains("-DumpOk-"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .collect();
    assert!(rec.contains(PASSWORD_VALUE));
    // ... but no byte of the database holds it in clear.
    assert!(
        !contains(&database_bytes(&env.s), PASSWORD_VALUE),
        "the password is stored in clear"
    );
    let key = std::fs::metadata(env.s.data_dir().join("secret.key")).unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(key.permissions().mode() & 0o777, 0o600);
}

#[tokio::test(flavor = "multi_thread")]
async fn jobs_queued_by_an_earlier_version_still_run() {
    let mut env = setup().await;
    let vm = env
        .deploy(&env.a, "vm-old", &env.template, &[])
        .await
        .unwrap();
    let vm_id = vm["id"].as_str().unwrap().to_string();
    env.s.terminate();
    // Rows as the previous version wrote them: the request's pairs, the command name.
    let store = Store::open(&format!(
        "sqlite://{}",
        env.s.data_dir().join("trellis.db").display()
    ))
    .await
    .unwrap();
    let root = store.domain_by_path("/").await.unwrap().unwrap();
    let alice = store
        .user_by_username(root.id, "alice")
        .await
        .unwrap()
        .unwrap();
    let mut jobs = Vec::new();
    for (cmd, params, instance) in [
        (
            "stopVirtualMachine",
            format!(r#"[["command","stopVirtualMachine"],["id","{vm_id}"],["response","json"]]"#),
            Some(vm_id.clone()),
        ),
        (
            "rebootVirtualMachine",
            r#"[["command","rebootVirtualMachine"]]"#.to_string(),
            None,
        ),
    ] {
        let job = store
            .job_create(
                &NewJob {
                    uuid: trellis_model::ids::new_uuid(),
                    user_id: alice.id,
                    account_id: alice.account_id,
                    cmd: cmd.into(),
                    params,
                    instance_type: instance.as_ref().map(|_| "VirtualMachine".to_string()),
                    instance_uuid: instance,
                },
                trellis_model::time::now_millis(),
            )
            .await
            .unwrap();
        jobs.push(job.uuid);
    }
    store.close().await;
    env.s.restart();
    let stopped = env
        .a
        .wait_job(&jobs[0], Duration::from_secs(60), |_| {})
        .await
        .unwrap();
    assert_eq!(stopped["virtualmachine"]["state"], "Stopped", "{stopped}");
    // A row that cannot be understood fails cleanly, with the reason.
    let broken = text_of(
        env.a
            .wait_job(&jobs[1], Duration::from_secs(60), |_| {})
            .await,
    );
    assert!(broken.contains("missing parameter id"), "{broken}");
}
