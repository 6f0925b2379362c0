//! Exactly once: a server killed (SIGKILL) while an extension action runs takes the extension
//! process with it, and the job, resumed after the restart, never runs the action a second time:
//! it asks the extension where `status` can tell, and otherwise ends as "outcome unknown" with an
//! alert.

use super::instances::{setup, Env};
use super::*;

/// Wait until the recorder has been called for `action` (its payload is on disk).
async fn action_started(env: &Env, action: &str) {
    let rec = env.dir.join("rec");
    let needle = format!("-{action}-");
    wait_for(Duration::from_secs(30), "action started", || {
        let rec = rec.clone();
        let needle = needle.clone();
        async move {
            std::fs::read_dir(&rec)
                .ok()?
                .filter_map(|e| e.ok())
                .any(|e| e.file_name().to_string_lossy().contains(&needle))
                .then_some(())
        }
    })
    .await;
}

async fn submit_deploy(env: &Env, name: &str) -> String {
    let r = env
        .c
        .call(
            "deployVirtualMachine",
            &[
                ("zoneid", &env.zone),
                ("serviceofferingid", &env.offering),
                ("templateid", &env.template),
                ("name", name),
            ],
        )
        .await
        .unwrap();
    r["jobid"].as_str().unwrap().to_string()
}

async fn job_error(env: &Env, jobid: &str) -> String {
    match env
        .c
        .wait_job(jobid, Duration::from_secs(120), |_| {})
        .await
    {
        Ok(v) => panic!("the job should fail, it gave {v}"),
        Err(e) => e.to_string(),
    }
}

#[tokio::test]
async fn crash_after_create_took_effect_resumes_without_double_create() {
    let mut env = setup(false).await;
    // The create takes effect, then the extension lingers: the server dies in between.
    std::fs::write(env.dir.join("create.linger"), "30").unwrap();
    let jobid = submit_deploy(&env, "crash-1").await;
    action_started(&env, "create").await;
    wait_for(Duration::from_secs(30), "create took effect", || {
        let d = env.dir.join("state");
        async move { std::fs::read_dir(&d).ok()?.next().map(|_| ()) }
    })
    .await;
    env.s.kill();
    std::fs::remove_file(env.dir.join("create.linger")).unwrap();
    env.s.restart();
    let result = env
        .c
        .wait_job(&jobid, Duration::from_secs(120), |_| {})
        .await
        .unwrap();
    assert_eq!(result["virtualmachine"]["state"], "Running");
    assert_eq!(env.payloads("create").len(), 1, "never double-create");
    assert!(
        !env.payloads("status").is_empty(),
        "the resumed job observed the instance first"
    );
}

#[tokio::test]
async fn crash_before_create_took_effect_needs_attention_not_a_second_create() {
    let mut env = setup(false).await;
    // The extension sleeps before its effect: killed with the server, it never creates.
    std::fs::write(env.dir.join("create.sleep"), "4").unwrap();
    let jobid = submit_deploy(&env, "crash-2").await;
    action_started(&env, "create").await;
    env.s.kill();
    // The extension died with its server: its effect never comes.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(
        std::fs::read_dir(env.dir.join("state"))
            .map(|mut d| d.next().is_none())
            .unwrap_or(true),
        "the extension outlived its server"
    );
    std::fs::remove_file(env.dir.join("create.sleep")).unwrap();
    env.s.restart();
    let error = job_error(&env, &jobid).await;
    assert!(error.contains("Outcome unknown"), "{error}");
    assert!(error.contains("create action"), "{error}");
    assert_eq!(env.payloads("create").len(), 1, "never a second create");
    assert_eq!(
        env.payloads("status").len(),
        1,
        "the resumed job asked first"
    );
    let vms = env
        .c
        .call("listVirtualMachines", &[("name", "crash-2")])
        .await
        .unwrap();
    assert_eq!(
        vms["virtualmachine"][0]["state"], "Error",
        "the instance needs attention"
    );
    let alerts = env.c.call("listAlerts", &[]).await.unwrap();
    let alert = alerts["alert"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "ALERT.TYPE.JOB.OUTCOME.UNKNOWN")
        .unwrap_or_else(|| panic!("an alert is raised: {alerts}"));
    assert!(alert["description"]
        .as_str()
        .is_some_and(|d| d.contains("create action") && d.contains(&jobid)));
}

#[tokio::test]
async fn crash_during_a_custom_action_never_runs_it_twice() {
    let mut env = setup(false).await;
    let vm = env.deploy("ca-crash").await.unwrap();
    let vmid = vm["id"].as_str().unwrap().to_string();
    let a = env
        .c
        .call(
            "addCustomAction",
            &[
                ("extensionid", &env.ext_id),
                ("name", "Echo"),
                ("enabled", "true"),
                ("timeout", "60"),
            ],
        )
        .await
        .unwrap();
    let aid = a["extensioncustomaction"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    std::fs::write(env.dir.join("Echo.sleep"), "30").unwrap();
    let r = env
        .c
        .call(
            "runCustomAction",
            &[("customactionid", &aid), ("resourceid", &vmid)],
        )
        .await
        .unwrap();
    let jobid = r["jobid"].as_str().unwrap().to_string();
    action_started(&env, "Echo").await;
    env.s.kill();
    std::fs::remove_file(env.dir.join("Echo.sleep")).unwrap();
    env.s.restart();
    // As every failed custom action: the job answers with `success: false` and the reason.
    let result = env
        .c
        .wait_job(&jobid, Duration::from_secs(120), |_| {})
        .await
        .unwrap();
    let res = &result["customactionresult"];
    assert_eq!(res["success"], false, "{result}");
    let details = res["result"]["details"].as_str().unwrap();
    assert!(
        details.contains("Outcome unknown") && details.contains("Echo action"),
        "{details}"
    );
    assert_eq!(env.payloads("Echo").len(), 1, "the custom action ran once");
    // The extension process was killed with the server: no recorder is left sleeping.
    let sleeping = std::process::Command::new("pgrep")
        .args(["-f", &env.dir.join("rec.sh").display().to_string()])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    assert!(
        sleeping.is_empty(),
        "extension processes outlived their server: {sleeping}"
    );
}

#[tokio::test]
async fn crash_during_stop_is_decided_by_status() {
    let mut env = setup(false).await;
    let vm = env.deploy("stop-crash").await.unwrap();
    let vmid = vm["id"].as_str().unwrap().to_string();
    std::fs::write(env.dir.join("stop.linger"), "30").unwrap();
    let r = env
        .c
        .call("stopVirtualMachine", &[("id", &vmid)])
        .await
        .unwrap();
    let jobid = r["jobid"].as_str().unwrap().to_string();
    action_started(&env, "stop").await;
    wait_for(Duration::from_secs(30), "stop took effect", || {
        let f = env
            .dir
            .join("state")
            .join(vm["instancename"].as_str().unwrap());
        async move { (std::fs::read_to_string(&f).ok()?.trim() == "poweroff").then_some(()) }
    })
    .await;
    env.s.kill();
    std::fs::remove_file(env.dir.join("stop.linger")).unwrap();
    env.s.restart();
    let result = env
        .c
        .wait_job(&jobid, Duration::from_secs(120), |_| {})
        .await
        .unwrap();
    assert_eq!(result["virtualmachine"]["state"], "Stopped");
    assert_eq!(env.payloads("stop").len(), 1, "stop ran once");
}

#[tokio::test]
async fn a_graceful_stop_hands_jobs_that_had_not_begun_back_to_the_queue() {
    let mut env = setup(false).await;
    // Nine deploys on one host: eight run their create (the per-host limit), one waits for a
    // slot and has begun nothing when the server is asked to stop.
    std::fs::write(env.dir.join("create.sleep"), "3").unwrap();
    let mut jobs = Vec::new();
    for i in 0..9 {
        jobs.push(submit_deploy(&env, &format!("drain-{i}")).await);
    }
    wait_for(Duration::from_secs(30), "eight creates running", || {
        let n = env.payloads("create").len();
        async move { (n == 8).then_some(()) }
    })
    .await;
    env.s.terminate();
    assert_eq!(
        env.payloads("create").len(),
        8,
        "the waiting job was handed back, not started during the drain"
    );
    assert!(
        env.s
            .logs()
            .contains("handed jobs that had not begun back to the queue"),
        "the stop says so"
    );
    std::fs::remove_file(env.dir.join("create.sleep")).unwrap();
    env.s.restart();
    for job in &jobs {
        let v = env
            .c
            .wait_job(job, Duration::from_secs(120), |_| {})
            .await
            .unwrap();
        assert_eq!(v["virtualmachine"]["state"], "Running");
    }
    assert_eq!(
        env.payloads("create").len(),
        9,
        "every instance created once"
    );
}

/// Claims without hoarding: jobs a server has claimed but cannot start (its eight slots for the
/// host are taken) open their claims, and an idle server sharing the database takes them over
/// and runs them at once; every instance is still created exactly once.
#[tokio::test]
async fn jobs_that_cannot_start_go_to_a_server_with_a_free_slot() {
    let Some(url) = postgres_or_skip("two-server test").await else {
        return;
    };
    let keys = tempfile::tempdir().unwrap();
    let key_env = shared_secret_key(keys.path());
    let a = TestServer::start_with_env(Some(url.clone()), key_env.clone());
    let env = super::instances::setup_on(a, false).await;
    // The second server writes the same executable from the database into its own directory,
    // and the recorder records what it runs there.
    let b = TestServer::start_with_env(Some(url), key_env);
    let b_dir = b.extensions_dir().join(env.dir.file_name().unwrap());
    let cb = b.admin_session().await;
    wait_for(Duration::from_secs(30), "ready on both servers", || {
        let cb = cb.clone();
        let id = env.ext_id.clone();
        async move {
            let l = cb.call("listExtensions", &[("id", &id)]).await.ok()?;
            (l["extension"][0]["pathready"] == true).then_some(())
        }
    })
    .await;
    assert_eq!(
        std::fs::read_to_string(b_dir.join("rec.sh")).unwrap(),
        super::instances::RECORDER
    );
    for dir in [&env.dir, &b_dir] {
        std::fs::write(dir.join("create.sleep"), "6").unwrap();
    }
    // Twelve deploys through the first server, which claims them all at once.
    let mut jobs = Vec::new();
    for i in 0..12 {
        jobs.push(submit_deploy(&env, &format!("spread-{i}")).await);
    }
    for job in &jobs {
        let v = env
            .c
            .wait_job(job, Duration::from_secs(120), |_| {})
            .await
            .unwrap();
        assert_eq!(v["virtualmachine"]["state"], "Running");
    }
    let creates = |dir: &Path| {
        std::fs::read_dir(dir.join("rec"))
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .filter(|e| e.file_name().to_string_lossy().contains("-create-"))
                    .count()
            })
            .unwrap_or(0)
    };
    let (on_a, on_b) = (creates(&env.dir), creates(&b_dir));
    if on_a + on_b != 12 {
        eprintln!("A:\n{}\nB:\n{}", env.s.logs(), b.logs());
    }
    assert_eq!(on_a + on_b, 12, "every instance created once");
    assert!(
        on_b >= 4,
        "the jobs the first server could not start ran on the idle one ({on_a} on the first, {on_b} on the second)"
    );
    assert!(
        env.s
            .logs()
            .contains("its claim is open to other servers meanwhile"),
        "the first server says why it let them go"
    );
}

/// A job whose action ran but whose result the database would not take (five attempts) is
/// released by its server and resumed by its journal: the interrupted `stop`, whose effect is
/// already recorded on the instance, is never run a second time, and the job ends with the
/// stopped instance. The database refuses on purpose (a trigger on PostgreSQL).
#[tokio::test]
async fn a_result_that_cannot_be_recorded_resumes_by_the_journal() {
    let Some(url) = postgres_or_skip("database fault test").await else {
        return;
    };
    let env = super::instances::setup_on(TestServer::start_with(Some(url.clone())), false).await;
    let vm = env.deploy("unrecorded").await.unwrap();
    let vmid = vm["id"].as_str().unwrap().to_string();
    trellis_store::testing::execute(
        &url,
        &[
            "CREATE TABLE refuse_results (n INT)",
            "INSERT INTO refuse_results VALUES (1)",
            "CREATE FUNCTION refuse_result() RETURNS trigger AS $$ BEGIN \
             IF OLD.status = 0 AND NEW.status <> 0 AND EXISTS (SELECT 1 FROM refuse_results) THEN \
             RAISE EXCEPTION 'result refused by the test'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql",
            "CREATE TRIGGER refuse_result BEFORE UPDATE ON async_jobs FOR EACH ROW \
             EXECUTE FUNCTION refuse_result()",
        ],
    )
    .await
    .unwrap();
    let r = env
        .c
        .call("stopVirtualMachine", &[("id", &vmid)])
        .await
        .unwrap();
    let jobid = r["jobid"].as_str().unwrap().to_string();
    wait_for(Duration::from_secs(60), "the job released", || {
        let logs = env.s.logs();
        async move {
            logs.contains("releasing a job this server owns but no longer runs")
                .then_some(())
        }
    })
    .await;
    assert!(env.s.logs().contains("could not record job result"));
    trellis_store::testing::execute(&url, &["DELETE FROM refuse_results"])
        .await
        .unwrap();
    let result = env
        .c
        .wait_job(&jobid, Duration::from_secs(120), |_| {})
        .await
        .unwrap();
    assert_eq!(result["virtualmachine"]["state"], "Stopped");
    assert_eq!(env.payloads("stop").len(), 1, "stop ran once");
    let logs = env.s.logs();
    assert!(
        logs.contains(&format!(
            "job started job_id={jobid} cmd=stopVirtualMachine attempt=2"
        )),
        "the released job was run again, by its journal: {logs}"
    );
}
