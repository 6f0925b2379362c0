//! Server benchmark: start-up time, idle memory, API latency and throughput, deploy throughput,
//! `listVirtualMachines` latency and power-sync sweep time at scale.
//!
//! `cargo build --release --workspace --bins && cargo run --release -p trellis-cli --example server_bench`
//! (`BENCH_INSTANCES`, default 10000, and `BENCH_HOSTS`, default 100, scale the instance part;
//! `BENCH_DATABASE_URL=postgres://…` runs the server on PostgreSQL, an empty database;
//! `BENCH_ONLY_API=1` stops after the API figures; `BENCH_TRELLIS_BIN` names another server
//! binary, to compare two builds in one session).

use anyhow::Context;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use trellis_client::{Auth, Client};

const PASSWORD: &str = "bench-Secret-1";

const NOOP: &str = r#"#!/bin/sh
case "$1" in
  statuses) m=$(sed -n 's/.*"virtualmachines":{\([^}]*\)}.*/\1/p' "$2" | sed 's/:"[^"]*"/:"poweron"/g'); echo "{\"power_state\":{$m}}" ;;
  status) echo '{"power_state":"poweron"}' ;;
  *) echo '{}' ;;
esac
"#;

/// `listZones` requests per second from `clients` concurrent tasks sharing `c` for `window`.
async fn throughput(c: &Client, clients: usize, window: Duration) -> anyhow::Result<f64> {
    let deadline = Instant::now() + window;
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..clients {
        let c = c.clone();
        set.spawn(async move {
            let mut n = 0u64;
            while Instant::now() < deadline {
                c.call("listZones", &[]).await.unwrap();
                n += 1;
            }
            n
        });
    }
    let mut total = 0;
    while let Some(n) = set.join_next().await {
        total += n?;
    }
    Ok(total as f64 / window.as_secs_f64())
}

/// The list commands of apache/cloudstack-csbench's API benchmark (`listCommands.txt`), run as
/// csbench runs them: 100 iterations each, page 1 of 5 rows, one after the other; prints
/// average, minimum and maximum latency per command, so the figures sit beside published
/// CloudStack ones. Commands Trellis does not have are reported as such.
async fn csbench_lists(c: &Client) {
    const LISTS: [(&str, &[(&str, &str)]); 13] = [
        ("listDomains", &[("keyword", "test")]),
        ("listAccounts", &[]),
        ("listVirtualMachines", &[]),
        ("listVolumes", &[]),
        ("listTemplates", &[("templatefilter", "all")]),
        ("listNetworks", &[]),
        ("listPublicIpAddresses", &[]),
        ("listVPCs", &[]),
        ("listSnapshots", &[]),
        ("listVMSnapshot", &[]),
        ("listServiceOfferings", &[]),
        ("listDiskOfferings", &[]),
        ("listHosts", &[]),
    ];
    println!("csbench list APIs (100 iterations, page 1, pagesize 5): command, avg / min / max ms");
    for (name, extra) in LISTS {
        let mut params: Vec<(&str, &str)> = vec![("page", "1"), ("pagesize", "5")];
        params.extend_from_slice(extra);
        let mut lat = Vec::with_capacity(100);
        let mut failed = None;
        for _ in 0..100 {
            let t = Instant::now();
            if let Err(e) = c.call(name, &params).await {
                failed = Some(e.to_string());
                break;
            }
            lat.push(t.elapsed().as_secs_f64() * 1e3);
        }
        match failed {
            Some(e) => println!(
                "  {name}: not available ({})",
                e.chars().take(80).collect::<String>()
            ),
            None => {
                let avg = lat.iter().sum::<f64>() / lat.len() as f64;
                let min = lat.iter().cloned().fold(f64::INFINITY, f64::min);
                let max = lat.iter().cloned().fold(0.0, f64::max);
                println!("  {name}: {avg:.2} / {min:.2} / {max:.2}");
            }
        }
    }
}

/// A trivial HTTP/1.1 server (keep-alive, a fixed small JSON body) on loopback: the ceiling of
/// what the bench's clients can drive, measured in the same run. Returns its API URL.
async fn trivial_server() -> anyhow::Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/client/api", listener.local_addr()?);
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            tokio::spawn(async move {
                let body =
                    r#"{"listzonesresponse":{"count":1,"zone":[{"id":"z","name":"zone1"}]}}"#;
                let reply = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                );
                let mut buf = vec![0u8; 16 * 1024];
                let mut pending = Vec::new();
                loop {
                    let n = match conn.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    pending.extend_from_slice(&buf[..n]);
                    while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                        pending.drain(..end + 4);
                        if conn.write_all(reply.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    Ok(url)
}

/// The release server: `BENCH_TRELLIS_BIN`, else `target/release/trellis` of the workspace.
fn bin() -> std::path::PathBuf {
    std::env::var_os("BENCH_TRELLIS_BIN")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/release/trellis")
        })
}

fn start(dir: &std::path::Path, port: u16) -> anyhow::Result<(Child, Duration)> {
    let t = Instant::now();
    let mut child = Command::new(bin())
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(dir)
        // BENCH_DATABASE_URL=postgres://… measures the PostgreSQL backend instead of SQLite.
        .args(
            std::env::var("BENCH_DATABASE_URL")
                .map(|u| vec!["--database-url".to_string(), u])
                .unwrap_or_default(),
        )
        .env("TRELLIS_ADMIN_PASSWORD", PASSWORD)
        // BENCH_SERVER_LOG=<filter> keeps the server's log (stderr) in server.log beside the
        // bench's working directory, e.g. `sqlx::query=debug` for per-statement timings.
        .env(
            "TRELLIS_LOG",
            std::env::var("BENCH_SERVER_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .stdout(Stdio::piped())
        .stderr(match std::env::var_os("BENCH_SERVER_LOG") {
            Some(_) => Stdio::from(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open("server.log")?,
            ),
            None => Stdio::null(),
        })
        .spawn()
        .context("start the release trellis binary (build it first)")?;
    let out = child.stdout.take().unwrap();
    std::thread::spawn(move || for _ in BufReader::new(out).lines() {});
    let url = format!("http://127.0.0.1:{port}/healthz");
    loop {
        if let Ok(r) = reqwest::blocking::get(&url) {
            if r.status().is_success() {
                return Ok((child, t.elapsed()));
            }
        }
        std::thread::sleep(Duration::from_millis(2));
        anyhow::ensure!(
            t.elapsed() < Duration::from_secs(60),
            "server did not start"
        );
    }
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn stop(mut c: Child) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(c.id().to_string())
        .status();
    let _ = c.wait();
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let instances: usize = std::env::var("BENCH_INSTANCES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let hosts: usize = std::env::var("BENCH_HOSTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let dir = tempfile::tempdir()?;
    let port = 18_000 + (std::process::id() % 1000) as u16;
    let (c, first) = tokio::task::block_in_place(|| start(dir.path(), port))?;
    stop(c);
    let (child, warm) = tokio::task::block_in_place(|| start(dir.path(), port))?;
    println!(
        "start to /healthz: first start {:.0} ms (bootstrap), later starts {:.0} ms",
        first.as_secs_f64() * 1e3,
        warm.as_secs_f64() * 1e3
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    println!("idle RSS: {:.1} MB", rss_kib(child.id()) as f64 / 1024.0);
    let url = format!("http://127.0.0.1:{port}/client/api");
    let session = Client::login(&url, "admin", PASSWORD, None).await?;
    let uid = session.call("listUsers", &[("username", "admin")]).await?["user"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let keys = session.call("registerUserKeys", &[("id", &uid)]).await?;
    let c = Client::new(
        &url,
        Auth::Keys {
            api_key: keys["userkeys"]["apikey"].as_str().unwrap().into(),
            secret: keys["userkeys"]["secretkey"].as_str().unwrap().into(),
            v3: false,
        },
    );
    // listApis latency, sequential.
    let mut lat = Vec::new();
    for _ in 0..300 {
        let t = Instant::now();
        c.call("listApis", &[]).await?;
        lat.push(t.elapsed().as_secs_f64() * 1e3);
    }
    println!(
        "listApis (signed): p50 {:.2} ms, p99 {:.2} ms",
        percentile(&mut lat, 0.5),
        percentile(&mut lat, 0.99)
    );
    // Cheap signed list, concurrent.
    let mut lat = Vec::new();
    for _ in 0..300 {
        let t = Instant::now();
        c.call("listZones", &[]).await?;
        lat.push(t.elapsed().as_secs_f64() * 1e3);
    }
    println!(
        "listZones (signed): p50 {:.2} ms",
        percentile(&mut lat, 0.5)
    );
    let signed = throughput(&c, 16, Duration::from_secs(5)).await?;
    println!(
        "listZones throughput (16 concurrent signed clients in the same process): {signed:.0} requests/s"
    );
    let by_session = throughput(&session, 16, Duration::from_secs(5)).await?;
    println!(
        "listZones throughput (16 concurrent clients on one log-in session): {by_session:.0} requests/s ({:.2}x signed)",
        by_session / signed
    );
    // The client ceiling: the same 16 clients against a trivial HTTP server in this process.
    let ceiling_url = trivial_server().await?;
    let ceiling = throughput(
        &Client::new(
            &ceiling_url,
            Auth::Keys {
                api_key: "k".into(),
                secret: "s".into(),
                v3: false,
            },
        ),
        16,
        Duration::from_secs(5),
    )
    .await?;
    println!(
        "client ceiling (the same 16 clients, a trivial HTTP server answering a fixed listZones reply): {ceiling:.0} requests/s; signed listZones is {:.2}x of it",
        signed / ceiling
    );
    if std::env::var_os("BENCH_ONLY_API").is_some() {
        stop(child);
        return Ok(());
    }

    // Instances at scale.
    let ext = c
        .call(
            "createExtension",
            &[
                ("name", "noop"),
                ("type", "Orchestrator"),
                ("path", "noop.sh"),
            ],
        )
        .await?["extension"]
        .clone();
    let path = ext["path"].as_str().unwrap().to_string();
    {
        use std::os::unix::fs::PermissionsExt;
        // A given path is registered as is (not scaffolded): the file is ours to write.
        if let Some(dir) = std::path::Path::new(&path).parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(&path, NOOP)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
    }
    let ext_id = ext["id"].as_str().unwrap().to_string();
    c.call(
        "updateConfiguration",
        &[
            ("name", "extension.path.state.check.interval"),
            ("value", "1"),
        ],
    )
    .await?;
    c.call(
        "updateConfiguration",
        &[("name", "extension.power.sync.interval"), ("value", "3600")],
    )
    .await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let zone = c.call("createZone", &[("name", "bench")]).await?["zone"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let cluster = c
        .call(
            "addCluster",
            &[
                ("zoneid", &zone),
                ("clustername", "bench"),
                ("hypervisor", "External"),
                ("extensionid", &ext_id),
            ],
        )
        .await?["cluster"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut host_ids = Vec::new();
    for i in 0..hosts {
        host_ids.push(
            c.call(
                "addHost",
                &[
                    ("zoneid", &zone),
                    ("clusterid", &cluster),
                    ("url", &format!("h{i}")),
                    ("hypervisor", "External"),
                ],
            )
            .await?["host"][0]["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let offering = c
        .call(
            "createServiceOffering",
            &[("name", "s"), ("cpunumber", "1"), ("memory", "256")],
        )
        .await?["serviceoffering"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let template = c
        .call(
            "registerTemplate",
            &[
                ("name", "t"),
                ("format", "EXTERNAL"),
                ("hypervisor", "External"),
                ("url", "none"),
                ("extensionid", &ext_id),
            ],
        )
        .await?["template"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let t = Instant::now();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let progress = {
        let done = done.clone();
        tokio::spawn(async move {
            let (mut last_n, mut last_t) = (0, Instant::now());
            loop {
                tokio::time::sleep(Duration::from_secs(10)).await;
                let n = done.load(std::sync::atomic::Ordering::Relaxed);
                println!(
                    "  {n} deployed, {:.0} instances/s over the last {:.0} s",
                    (n - last_n) as f64 / last_t.elapsed().as_secs_f64(),
                    last_t.elapsed().as_secs_f64()
                );
                (last_n, last_t) = (n, Instant::now());
            }
        })
    };
    let mut set = tokio::task::JoinSet::new();
    let per_worker = instances.div_ceil(64);
    for w in 0..64 {
        let c = c.clone();
        let (zone, offering, template) = (zone.clone(), offering.clone(), template.clone());
        let host_ids = host_ids.clone();
        let done = done.clone();
        set.spawn(async move {
            for i in 0..per_worker {
                let n = w * per_worker + i;
                if n >= instances {
                    break;
                }
                let host = &host_ids[n % host_ids.len()];
                let r = c
                    .call(
                        "deployVirtualMachine",
                        &[
                            ("zoneid", &zone),
                            ("serviceofferingid", &offering),
                            ("templateid", &template),
                            ("hostid", host),
                            ("name", &format!("vm-{n}")),
                        ],
                    )
                    .await
                    .unwrap();
                c.wait_job(
                    r["jobid"].as_str().unwrap(),
                    Duration::from_secs(600),
                    |_| {},
                )
                .await
                .unwrap();
                done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        });
    }
    while set.join_next().await.is_some() {}
    progress.abort();
    let secs = t.elapsed().as_secs_f64();
    println!("deploy {instances} instances on {hosts} hosts (64 concurrent clients, no-op extension): {secs:.1} s, {:.0} instances/s", instances as f64 / secs);
    let mut lat = Vec::new();
    for _ in 0..100 {
        let t = Instant::now();
        c.call("listVirtualMachines", &[("page", "7"), ("pagesize", "20")])
            .await?;
        lat.push(t.elapsed().as_secs_f64() * 1e3);
    }
    println!(
        "listVirtualMachines, one 20-row page of {instances}: p50 {:.2} ms, p99 {:.2} ms",
        percentile(&mut lat, 0.5),
        percentile(&mut lat, 0.99)
    );
    let mut lat = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        c.call("listVirtualMachines", &[("page", "1"), ("pagesize", "500")])
            .await?;
        lat.push(t.elapsed().as_secs_f64() * 1e3);
    }
    println!(
        "listVirtualMachines, one 500-row page of {instances}: p50 {:.1} ms",
        percentile(&mut lat, 0.5)
    );
    let mut lat = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let v: Value = c.call("listVirtualMachines", &[("pagesize", "-1")]).await?;
        assert_eq!(v["count"].as_u64().unwrap_or(0) as usize, instances);
        lat.push(t.elapsed().as_secs_f64() * 1e3);
    }
    println!(
        "listVirtualMachines, all {instances} in one response: p50 {:.1} ms",
        percentile(&mut lat, 0.5)
    );
    csbench_lists(&c).await;
    c.call(
        "updateConfiguration",
        &[("name", "extension.power.sync.interval"), ("value", "2")],
    )
    .await?;
    let metrics = format!("http://127.0.0.1:{port}/metrics");
    let mut sweeps = Vec::new();
    let mut last = String::new();
    let t = Instant::now();
    while sweeps.len() < 3 && t.elapsed() < Duration::from_secs(120) {
        let text = reqwest::get(&metrics).await?.text().await?;
        if let Some(line) = text
            .lines()
            .find(|l| l.starts_with("trellis_power_sync_last_sweep_seconds "))
        {
            let v = line.split_whitespace().nth(1).unwrap().to_string();
            if v != last && v != "0" {
                sweeps.push(v.parse::<f64>()?);
                last = v;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!(
        "power-sync sweep of {instances} instances on {hosts} hosts with statuses: {:?} s",
        sweeps
    );
    println!(
        "RSS with {instances} instances: {:.1} MB",
        rss_kib(child.id()) as f64 / 1024.0
    );
    stop(child);
    Ok(())
}
