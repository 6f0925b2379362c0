//! The fault harness: three servers on one PostgreSQL database, a steady stream of deploys and
//! custom actions against a seeded chaos extension (slow, failing, garbage-printing, flooding,
//! payload-echoing, daemon-spawning), and a `kill -9` rotation across the servers. Then the
//! history check: every accepted job reached exactly one terminal state, no side effect ran twice
//! (the extension counts them in its own ledger), no process outlived its run, and the secret in
//! the payloads appears in no log, job result or event.
//!
//! CI runs it short. The long run (figures in docs/reliability.md):
//!
//! ```sh
//! TRELLIS_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test \
//! TRELLIS_FAULT_SECONDS=1800 TRELLIS_FAULT_KILL_EVERY=30 \
//!   cargo test --release -p trellis-cli --test test_all faults -- --nocapture
//! ```

use super::*;
use std::collections::HashMap;

/// The chaos extension. Its side effects (create, start, stop, delete, Tick) are appended to a
/// ledger outside any server's directory; `$RANDOM` is seeded from the run's payload file name
/// so every run behaves differently.
const CHAOS: &str = r#"#!/bin/bash
here="$(cd "$(dirname "$0")" && pwd)"
action=$1; payload=$2
root=$(cat "$here/chaos.root")
RANDOM=$(( $(printf '%s' "$payload" | cksum | cut -d' ' -f1) % 32768 ))
name=$(grep -o '"virtualmachinename":"[^"]*"' "$payload" | head -n 1 | sed 's/.*:"//; s/"$//')
r=$((RANDOM % 100))
# Floods and payload echoes on stderr: the server bounds its log and masks the secrets.
[ $r -lt 4 ] && head -c 400000 /dev/zero | tr '\0' 'e' >&2
[ $r -ge 90 ] && cat "$payload" >&2
# An escaping daemon now and then: it must die with the run.
[ $((RANDOM % 8)) -eq 0 ] && setsid sleep 900 </dev/null >/dev/null 2>&1 &
sleep "0.$((RANDOM % 5))"
case "$action" in
  create|start) echo poweron > "$root/state/$name"; echo "$action $name" >> "$root/ledger"; echo '{"status":"success"}' ;;
  stop) echo poweroff > "$root/state/$name"; echo "stop $name" >> "$root/ledger"; echo '{"status":"success"}' ;;
  delete) rm -f "$root/state/$name"; echo "delete $name" >> "$root/ledger"; echo '{"status":"success"}' ;;
  status)
    if [ -f "$root/state/$name" ]; then echo "{\"status\":\"success\",\"power_state\":\"$(cat "$root/state/$name")\"}"; else echo '{"power_state":"unknown"}'; fi ;;
  statuses) echo '{"status":"success","power_state":{}}' ;;
  Tick)
    nonce=$(grep -o '"nonce":"[^"]*"' "$payload" | sed 's/.*:"//; s/"$//')
    echo "Tick $nonce" >> "$root/ledger"
    case $((RANDOM % 6)) in
      0) echo 'not json at all'; exit 7 ;;
      1) echo '{"status":"error","error":"refused"}'; exit 1 ;;
      *) echo '{"status":"success","message":"ticked"}' ;;
    esac ;;
  *) exit 1 ;;
esac
exit 0
"#;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Runs of the chaos extension and the daemons they spawned (`sleep 900`) still alive.
fn alive_daemons() -> Vec<String> {
    let out = std::process::Command::new("pgrep")
        .args(["-af", "sleep 900|chaos.sh"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    out.lines()
        .filter(|l| !l.contains("pgrep"))
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn kill_rotation_across_three_servers_loses_and_repeats_nothing() {
    let Some(base) = trellis_store::testing::postgres_url() else {
        eprintln!("TRELLIS_TEST_POSTGRES_URL not set: fault harness skipped");
        return;
    };
    let seconds = env_u64("TRELLIS_FAULT_SECONDS", 30);
    let kill_every = env_u64("TRELLIS_FAULT_KILL_EVERY", 6).max(2);
    let url = trellis_store::testing::isolated_postgres_url(&base)
        .await
        .unwrap();
    let shared = tempfile::tempdir().unwrap();
    let root = shared.path().to_path_buf();
    std::fs::create_dir_all(root.join("state")).unwrap();
    std::fs::write(root.join("ledger"), "").unwrap();
    // Servers sharing a database share the key that seals job secrets.
    let env = shared_secret_key(&root);
    let mut servers: Vec<TestServer> = Vec::new();
    servers.push(TestServer::start_with_env(Some(url.clone()), env.clone()));
    let admin = servers[0].admin().await;
    for _ in 1..3 {
        servers.push(TestServer::start_with_env(Some(url.clone()), env.clone()));
    }
    let secret = format!("Chaos-{}-Secret", std::process::id());
    admin
        .call(
            "updateConfiguration",
            &[
                ("name", "extension.path.state.check.interval"),
                ("value", "1"),
            ],
        )
        .await
        .unwrap();
    let e = admin
        .call(
            "createExtension",
            &[
                ("name", "chaos"),
                ("type", "Orchestrator"),
                ("path", "chaos.sh"),
                ("details[0].password", &secret),
            ],
        )
        .await
        .unwrap()["extension"]
        .clone();
    let ext_id = e["id"].as_str().unwrap().to_string();
    let rel = PathBuf::from(e["path"].as_str().unwrap())
        .strip_prefix(servers[0].extensions_dir())
        .unwrap()
        .to_path_buf();
    for s in &servers {
        let path = s.extensions_dir().join(&rel);
        write_script(&path, CHAOS);
        std::fs::write(
            path.parent().unwrap().join("chaos.root"),
            root.display().to_string(),
        )
        .unwrap();
    }
    let zone = admin
        .call("createZone", &[("name", "z1"), ("dns1", "192.0.2.53")])
        .await
        .unwrap()["zone"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let cluster = admin
        .call(
            "addCluster",
            &[
                ("zoneid", &zone),
                ("clustername", "c1"),
                ("hypervisor", "External"),
                ("extensionid", &ext_id),
            ],
        )
        .await
        .unwrap()["cluster"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    for h in 0..3 {
        admin
            .call(
                "addHost",
                &[
                    ("zoneid", &zone),
                    ("clusterid", &cluster),
                    ("url", &format!("chaos-host-{h}")),
                    ("hypervisor", "External"),
                    ("username", "External"),
                    ("password", "External"),
                ],
            )
            .await
            .unwrap();
    }
    let offering = admin
        .call(
            "createServiceOffering",
            &[
                ("name", "tiny"),
                ("cpunumber", "1"),
                ("cpuspeed", "1000"),
                ("memory", "256"),
            ],
        )
        .await
        .unwrap()["serviceoffering"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let template = admin
        .call(
            "registerTemplate",
            &[
                ("name", "tmpl"),
                ("format", "External"),
                ("hypervisor", "External"),
                ("url", "http://dummy"),
                ("zoneid", &zone),
                ("extensionid", &ext_id),
            ],
        )
        .await
        .unwrap()["template"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let action = admin
        .call(
            "addCustomAction",
            &[
                ("extensionid", &ext_id),
                ("name", "Tick"),
                ("enabled", "true"),
                ("timeout", "30"),
                ("parameters[0].name", "nonce"),
                ("parameters[0].type", "STRING"),
                ("parameters[0].required", "true"),
            ],
        )
        .await
        .unwrap()["extensioncustomaction"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    wait_for(
        Duration::from_secs(60),
        "chaos ready on every server",
        || {
            let admin = admin.clone();
            let id = ext_id.clone();
            async move {
                let l = admin.call("listExtensions", &[("id", &id)]).await.ok()?;
                (l["extension"][0]["pathready"] == true).then_some(())
            }
        },
    )
    .await;

    // A client per server, same credentials (one database).
    let clients: Vec<Client> = servers.iter().map(|s| admin.with_url(&s.url)).collect();
    let deploy = |c: Client, name: String| {
        let (zone, offering, template) = (zone.clone(), offering.clone(), template.clone());
        async move {
            c.call(
                "deployVirtualMachine",
                &[
                    ("zoneid", &zone),
                    ("serviceofferingid", &offering),
                    ("templateid", &template),
                    ("name", &name),
                ],
            )
            .await
        }
    };
    // A few instances for the custom actions, before any fault.
    let mut targets = Vec::new();
    for i in 0..3 {
        let r = deploy(clients[0].clone(), format!("base-{i}"))
            .await
            .unwrap();
        let v = clients[0]
            .wait_job(
                r["jobid"].as_str().unwrap(),
                Duration::from_secs(60),
                |_| {},
            )
            .await
            .unwrap();
        targets.push(v["virtualmachine"]["id"].as_str().unwrap().to_string());
    }

    // Load and kills.
    let started = Instant::now();
    let mut accepted: Vec<(String, String)> = Vec::new(); // (jobid, what)
    let mut nonces = 0u64;
    let mut kills = 0u64;
    let mut next_kill = started + Duration::from_secs(kill_every);
    let mut victim = 0usize;
    let mut down: Option<(usize, Instant)> = None;
    let mut turn = 0usize;
    while started.elapsed() < Duration::from_secs(seconds) {
        if let Some((i, since)) = down {
            if since.elapsed() >= Duration::from_millis(700) {
                servers[i].restart();
                down = None;
            }
        } else if Instant::now() >= next_kill {
            servers[victim].kill();
            kills += 1;
            down = Some((victim, Instant::now()));
            victim = (victim + 1) % servers.len();
            next_kill += Duration::from_secs(kill_every);
        }
        turn += 1;
        let live: Vec<usize> = (0..servers.len())
            .filter(|i| down.is_none_or(|(d, _)| d != *i))
            .collect();
        let c = clients[live[turn % live.len()]].clone();
        let submitted = if turn.is_multiple_of(3) {
            deploy(c, format!("chaos-{turn}"))
                .await
                .map(|r| (r, "deploy".to_string()))
        } else {
            nonces += 1;
            let nonce = format!("n{nonces}");
            c.call(
                "runCustomAction",
                &[
                    ("customactionid", &action),
                    ("resourceid", &targets[turn % targets.len()]),
                    ("parameters[0].nonce", &nonce),
                ],
            )
            .await
            .map(|r| (r, nonce))
        };
        if let Ok((r, what)) = submitted {
            if let Some(j) = r["jobid"].as_str() {
                accepted.push((j.to_string(), what));
            }
        }
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    if let Some((i, _)) = down {
        servers[i].restart();
    }

    // Every accepted job reaches one terminal state.
    let mut outcomes: HashMap<&str, u64> = HashMap::new();
    let mut results = String::new();
    for (jobid, _) in &accepted {
        let v = clients[0]
            .call("queryAsyncJobResult", &[("jobid", jobid)])
            .await
            .unwrap();
        let mut v = v;
        let deadline = Instant::now() + Duration::from_secs(180);
        while v["jobstatus"] == 0 {
            if Instant::now() >= deadline {
                let mut trail = String::new();
                for (i, s) in servers.iter().enumerate() {
                    for l in s.logs().lines().filter(|l| l.contains(jobid.as_str())) {
                        trail.push_str(&format!("server {i}: {l}\n"));
                    }
                }
                panic!("job {jobid} never finished: {v}\n{trail}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
            v = clients[0]
                .call("queryAsyncJobResult", &[("jobid", jobid)])
                .await
                .unwrap();
        }
        let text = v.to_string();
        let kind = if text.contains("Outcome unknown") {
            "outcome unknown"
        } else if v["jobstatus"] == 1 && !text.contains("\"success\":false") {
            "succeeded"
        } else {
            "failed"
        };
        *outcomes.entry(kind).or_default() += 1;
        results.push_str(&text);
    }

    // No side effect ran twice.
    let ledger = std::fs::read_to_string(root.join("ledger")).unwrap();
    let mut seen: HashMap<&str, u64> = HashMap::new();
    for line in ledger.lines() {
        if line.starts_with("create ") || line.starts_with("Tick ") {
            *seen.entry(line).or_default() += 1;
        }
    }
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "side effects ran twice: {twice:?}");

    // No process outlived its run (power sync may be mid-run: give it a moment).
    let mut left = alive_daemons();
    for _ in 0..50 {
        if left.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        left = alive_daemons();
    }
    assert!(left.is_empty(), "processes outlived their runs: {left:?}");

    // The secret appears in no log, job result or event.
    let events = clients[0]
        .call("listEvents", &[("pagesize", "-1")])
        .await
        .map(|v| v.to_string())
        .unwrap_or_default();
    for (where_, text) in [("job results", &results), ("events", &events)] {
        assert!(!text.contains(&secret), "the secret leaked into {where_}");
    }
    for (i, s) in servers.iter().enumerate() {
        assert!(
            !s.logs().contains(&secret),
            "the secret leaked into the log of server {i}"
        );
    }
    eprintln!(
        "fault harness: {seconds} s, {kills} kills (every {kill_every} s), {} jobs accepted: {outcomes:?}; {} side effects in the ledger, none twice",
        accepted.len(),
        ledger.lines().count()
    );
    assert!(
        kills > 0 || seconds < kill_every,
        "the rotation killed servers"
    );
}
