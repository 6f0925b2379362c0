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
