//! `trellis quickstart` as a user runs it: a process on a free port with a fresh data directory,
//! whose printed deploy line is run as printed (through `sh`), and which seeds nothing twice when
//! started again on the same data directory.

use anyhow::Context as _;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use trellis_client::Client;

const READY_LIMIT: Duration = Duration::from_secs(120);

fn trellis() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_trellis"))
}

/// Builds `trellis-local` next to `trellis` (quickstart refuses to start without it); a no-op
/// when it is up to date.
fn build_local_extension() {
    let profile_is_release = trellis()
        .parent()
        .and_then(Path::file_name)
        .is_some_and(|name| name == "release");
    let mut cargo = Command::new(env!("CARGO"));
    cargo.args([
        "build",
        "-q",
        "-p",
        "trellis-ext-local",
        "--bin",
        "trellis-local",
    ]);
    if profile_is_release {
        cargo.arg("--release");
    }
    let status = cargo.status().expect("run cargo");
    assert!(status.success(), "cargo build -p trellis-ext-local failed");
    assert!(trellis().with_file_name("trellis-local").is_file());
}

fn qemu_available() -> bool {
    std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| dir.join("qemu-system-x86_64").is_file())
    })
}

/// A running `trellis quickstart` and what it printed until it was ready.
struct Quickstart {
    child: Option<Child>,
    lines: Vec<String>,
    data_dir: PathBuf,
}

impl Quickstart {
    fn start(data_dir: &Path, extra: &[&str]) -> anyhow::Result<Quickstart> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(data_dir.with_extension("log"))?;
        let mut child = Command::new(trellis())
            .args(["quickstart", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(extra)
            .env_remove("TRELLIS_ADMIN_PASSWORD")
            .env("TRELLIS_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .context("spawn trellis quickstart")?;
        let stdout = child.stdout.take().context("stdout")?;
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        let mut quickstart = Quickstart {
            child: Some(child),
            lines: Vec::new(),
            data_dir: data_dir.to_path_buf(),
        };
        let started = Instant::now();
        loop {
            let left = READY_LIMIT.saturating_sub(started.elapsed());
            match receiver.recv_timeout(left) {
                Ok(line) => {
                    let done = line.starts_with("Press Ctrl-C");
                    quickstart.lines.push(line);
                    if done {
                        return Ok(quickstart);
                    }
                }
                Err(_) => anyhow::bail!(
                    "quickstart was not ready; it printed {:?}; log:\n{}",
                    quickstart.lines,
                    std::fs::read_to_string(data_dir.with_extension("log")).unwrap_or_default()
                ),
            }
        }
    }

    /// The value after `label` on the line that has it.
    fn field(&self, label: &str) -> String {
        self.lines
            .iter()
            .find_map(|line| line.trim().strip_prefix(label))
            .map(|rest| rest.trim().to_string())
            .unwrap_or_else(|| panic!("no {label} line in {:?}", self.lines))
    }

    /// The printed command line that contains `command`.
    fn command_line(&self, command: &str) -> String {
        self.lines
            .iter()
            .find(|line| line.contains(command))
            .map(|line| line.trim().to_string())
            .unwrap_or_else(|| panic!("no {command} line in {:?}", self.lines))
    }

    fn api_url(&self) -> String {
        self.field("API:")
    }

    async fn admin(&self) -> Client {
        Client::login(&self.api_url(), "admin", &self.field("Password:"), None)
            .await
            .expect("the printed credentials log in")
    }

    /// Ctrl-C, and wait for the process to end.
    fn interrupt(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-INT")
                .arg(child.id().to_string())
                .status();
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(60) {
                if let Ok(Some(status)) = child.try_wait() {
                    assert!(status.success(), "quickstart exited with {status}");
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
            panic!("quickstart did not stop on Ctrl-C");
        }
    }
}

impl Drop for Quickstart {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        kill_vms_under(&self.data_dir);
    }
}

/// Kills any QEMU whose command line mentions `dir` (the Local extension's VMs of a test).
fn kill_vms_under(dir: &Path) {
    let needle = dir.to_string_lossy().into_owned();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return;
    };
    for entry in entries.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline);
        if cmdline.contains("qemu-system") && cmdline.contains(&needle) {
            let _ = Command::new("kill")
                .arg("-KILL")
                .arg(pid.to_string())
                .status();
        }
    }
}

/// Runs a printed command line through `sh`; returns its stdout as JSON.
fn run_printed(line: &str) -> Value {
    let output = Command::new("sh")
        .arg("-c")
        .arg(line)
        .env_remove("TRELLIS_API_KEY")
        .env_remove("TRELLIS_SECRET_KEY")
        .env_remove("TRELLIS_CLI_CONFIG")
        .env("HOME", "/nonexistent")
        .output()
        .expect("run sh");
    assert!(
        output.status.success(),
        "`{line}` failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("json on stdout")
}

async fn count(client: &Client, command: &str, params: &[(&str, &str)], key: &str) -> usize {
    let answer = client.call(command, params).await.expect(command);
    answer[key].as_array().map(Vec::len).unwrap_or(0)
}

async fn wait_job(client: &Client, answer: Value) -> Value {
    let job = answer["jobid"].as_str().expect("a job id").to_string();
    client
        .wait_job(&job, Duration::from_secs(120), |_| {})
        .await
        .expect("job succeeds")
}

fn find_file(dir: &Path, name: &str) -> Option<std::path::PathBuf> {
    for e in std::fs::read_dir(dir).ok()?.flatten() {
        let p = e.path();
        if p.file_name().is_some_and(|n| n == name) {
            return Some(p);
        }
        if p.is_dir() {
            if let Some(found) = find_file(&p, name) {
                return Some(found);
            }
        }
    }
    None
}

/// Packer's path on the Local extension: stop the instance, find its ROOT volume, capture it
/// with `createTemplate`, and deploy from the new template, with a key pair and user data that
/// reach the new instance's cloud-init seed.
async fn capture_and_redeploy(client: &Client, data_dir: &Path, id: &str) {
    let stopped = client
        .call("stopVirtualMachine", &[("id", id)])
        .await
        .unwrap();
    assert_eq!(
        wait_job(client, stopped).await["virtualmachine"]["state"],
        "Stopped"
    );
    let volumes = client
        .call("listVolumes", &[("virtualmachineid", id), ("type", "ROOT")])
        .await
        .unwrap();
    assert_eq!(volumes["count"], 1, "{volumes}");
    let volume = volumes["volume"][0]["id"].as_str().unwrap().to_string();
    let os = client
        .call("listOsTypes", &[("description", "Other Linux (64-bit)")])
        .await
        .unwrap()["ostype"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let created = client
        .call(
            "createTemplate",
            &[
                ("volumeid", &volume),
                ("name", "captured"),
                ("displaytext", "captured"),
                ("ostypeid", &os),
            ],
        )
        .await
        .unwrap();
    let template = wait_job(client, created).await;
    let template = &template["template"];
    let tid = template["id"].as_str().unwrap().to_string();
    assert_eq!(template["name"], "captured", "{template}");
    let image = find_file(data_dir, &format!("template-{tid}.qcow2"))
        .unwrap_or_else(|| panic!("the captured image of {tid} exists"));
    assert!(std::fs::metadata(&image).unwrap().len() > 0);

    client
        .call("createSSHKeyPair", &[("name", "packer")])
        .await
        .unwrap();
    let listed = client
        .call("listVirtualMachines", &[("id", id)])
        .await
        .unwrap();
    let vm = &listed["virtualmachine"][0];
    let mut params = vec![
        ("zoneid", vm["zoneid"].as_str().unwrap().to_string()),
        (
            "serviceofferingid",
            vm["serviceofferingid"].as_str().unwrap().to_string(),
        ),
        ("templateid", tid.clone()),
        ("name", "from-capture".to_string()),
        // "#cloud-config\n" in base64
        ("userdata", "I2Nsb3VkLWNvbmZpZwo=".to_string()),
    ];
    params.push(("keypair", "packer".to_string()));
    let params: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let deployed = client.call("deployVirtualMachine", &params).await.unwrap();
    let deployed = wait_job(client, deployed).await;
    let new_vm = &deployed["virtualmachine"];
    assert_eq!(new_vm["state"], "Running", "{deployed}");
    let new_dir = data_dir
        .join("extensions/local/state/vms")
        .join(new_vm["instancename"].as_str().unwrap());
    let info = std::process::Command::new("qemu-img")
        .args(["info", "-U", "--output=json"])
        .arg(new_dir.join("disk.qcow2"))
        .output()
        .unwrap();
    let info: Value = serde_json::from_slice(&info.stdout).unwrap();
    let backing = info["backing-filename"].as_str().unwrap_or_default();
    assert!(
        backing.ends_with(&format!("template-{tid}.qcow2")),
        "the new instance boots from the captured image: {info}"
    );
    assert!(
        new_dir.join("seed.img").is_file(),
        "user data reaches the cloud-init seed"
    );
    let gone = client
        .call(
            "destroyVirtualMachine",
            &[("id", new_vm["id"].as_str().unwrap()), ("expunge", "true")],
        )
        .await
        .unwrap();
    wait_job(client, gone).await;
    let started = client
        .call("startVirtualMachine", &[("id", id)])
        .await
        .unwrap();
    assert_eq!(
        wait_job(client, started).await["virtualmachine"]["state"],
        "Running"
    );
}

#[tokio::test]
async fn quickstart_prints_a_deploy_line_that_works_and_seeds_once() {
    build_local_extension();
    let root = tempfile::tempdir().unwrap();
    let data_dir = root.path().join("data");
    let mut first = Quickstart::start(&data_dir, &[]).unwrap();
    let console = first.field("Web console:");
    assert!(
        console.starts_with("http://127.0.0.1:") && console.ends_with('/'),
        "{console}"
    );
    assert_eq!(first.field("Username:"), "admin");
    assert!(data_dir.join("quickstart.json").is_file());
    let deploy = first.command_line("api deployVirtualMachine");
    assert!(deploy.starts_with("TRELLIS_URL="), "{deploy}");
    let client = first.admin().await;

    if qemu_available() {
        let deployed = run_printed(&deploy);
        let vm = &deployed["virtualmachine"];
        assert_eq!(vm["state"], "Running", "{deployed}");
        assert_eq!(vm["hostname"], "localhost");
        let id = vm["id"].as_str().unwrap().to_string();
        let instance_name = vm["instancename"].as_str().unwrap().to_string();
        let vm_dir = data_dir
            .join("extensions/local/state/vms")
            .join(&instance_name);
        assert!(vm_dir.join("disk.qcow2").is_file(), "the vm's disk exists");
        // the printed list line works too
        let listed = run_printed(
            &first
                .command_line("api listVirtualMachines")
                .replace(" --output table", ""),
        );
        assert_eq!(listed["virtualmachine"][0]["id"], id.as_str());
        // a custom action of the Local extension on it
        let local = client
            .call("listExtensions", &[("name", "Local")])
            .await
            .unwrap()["extension"][0]["id"]
            .as_str()
            .unwrap()
            .to_string();
        let actions = client
            .call(
                "listCustomActions",
                &[("extensionid", &local), ("name", "CreateSnapshot")],
            )
            .await
            .unwrap();
        let action = actions["extensioncustomaction"][0]["id"]
            .as_str()
            .or_else(|| actions["customaction"][0]["id"].as_str())
            .unwrap_or_else(|| panic!("no CreateSnapshot action in {actions}"))
            .to_string();
        let ran = client
            .call(
                "runCustomAction",
                &[
                    ("customactionid", &action),
                    ("resourceid", &id),
                    ("parameters[0].snap_name", "first"),
                ],
            )
            .await
            .unwrap();
        let result = wait_job(&client, ran).await;
        assert_eq!(result["customactionresult"]["success"], true, "{result}");
        capture_and_redeploy(&client, &data_dir, &id).await;
        // expunge: the VM's process and disk go
        let destroyed = client
            .call("destroyVirtualMachine", &[("id", &id), ("expunge", "true")])
            .await
            .unwrap();
        wait_job(&client, destroyed).await;
        assert!(!vm_dir.exists(), "expunge removes the vm's directory");
    } else {
        eprintln!(
            "skipping the deploy: qemu-system-x86_64 is not installed (scripts/install-qemu.sh installs it)"
        );
    }

    first.interrupt();
    let second = Quickstart::start(&data_dir, &[]).unwrap();
    assert_eq!(
        second.field("Password:"),
        first.field("Password:"),
        "the saved credentials are reused"
    );
    let strip_environment = |line: &str| line.split(" api ").nth(1).unwrap().to_string();
    assert_eq!(
        strip_environment(&second.command_line("api deployVirtualMachine")),
        strip_environment(&deploy),
        "the same seeds"
    );
    let client = second.admin().await;
    assert_eq!(count(&client, "listZones", &[], "zone").await, 1);
    assert_eq!(count(&client, "listClusters", &[], "cluster").await, 1);
    assert_eq!(count(&client, "listHosts", &[], "host").await, 1);
    assert_eq!(
        count(&client, "listServiceOfferings", &[], "serviceoffering").await,
        2
    );
    // The seeded template, and the one captured above when QEMU ran: nothing seeded twice.
    let captured = usize::from(qemu_available());
    assert_eq!(
        count(
            &client,
            "listTemplates",
            &[("templatefilter", "self")],
            "template"
        )
        .await,
        1 + captured
    );
    assert_eq!(count(&client, "listNetworks", &[], "network").await, 1);
}

#[tokio::test]
async fn with_sims_seeds_a_cluster_for_each_builtin() {
    build_local_extension();
    let root = tempfile::tempdir().unwrap();
    let data_dir = root.path().join("data");
    let mut first = Quickstart::start(&data_dir, &["--with-sims"]).unwrap();
    for name in ["Proxmox", "MaaS", "HyperV"] {
        assert!(
            first
                .lines
                .iter()
                .any(|line| line.trim().starts_with(&format!("{name} simulator at "))),
            "{name}: {:?}",
            first.lines
        );
    }
    let client = first.admin().await;
    let clusters = client.call("listClusters", &[]).await.unwrap();
    let mut names: Vec<&str> = clusters["cluster"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["hyperv-sim", "local", "maas-sim", "proxmox-sim"]);
    first.interrupt();
    let second = Quickstart::start(&data_dir, &["--with-sims"]).unwrap();
    let client = second.admin().await;
    assert_eq!(count(&client, "listClusters", &[], "cluster").await, 4);
    assert_eq!(count(&client, "listHosts", &[], "host").await, 4);
    assert_eq!(
        count(
            &client,
            "listTemplates",
            &[("templatefilter", "self")],
            "template"
        )
        .await,
        4
    );
}
