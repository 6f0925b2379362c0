//! `trellis quickstart --with-sims` with the simulators pinned to given ports
//! (`--proxmox-port`, `--maas-port`, `--hyperv-port`) and the Local extension's VNC ports moved
//! (`--vnc-port-base`, the `vnc_port_base` detail of the seeded host).

use super::{bin, ADMIN_PASSWORD};
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt as _;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use trellis_client::Client;

/// A port nothing listens on right now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free port")
}

/// Kills the quickstart process on drop.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quickstart_pins_simulator_ports_and_the_vnc_port_base() {
    let root = tempfile::tempdir().unwrap();
    // Quickstart refuses to start without the Local extension's binary; a stand-in will do, as
    // nothing is deployed here.
    let builtin = root.path().join("bin");
    std::fs::create_dir_all(&builtin).unwrap();
    let local = builtin.join("trellis-local");
    std::fs::write(&local, "#!/bin/sh\nexit 0\n").unwrap();
    std::fs::set_permissions(&local, std::fs::Permissions::from_mode(0o755)).unwrap();
    let (proxmox, maas, hyperv) = (free_port(), free_port(), free_port());
    let log = std::fs::File::create(root.path().join("quickstart.log")).unwrap();
    let mut child = Command::new(bin())
        .args(["quickstart", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(root.path().join("data"))
        .arg("--builtin-dir")
        .arg(&builtin)
        .arg("--with-sims")
        .args(["--proxmox-port", &proxmox.to_string()])
        .args(["--maas-port", &maas.to_string()])
        .args(["--hyperv-port", &hyperv.to_string()])
        .args(["--vnc-port-base", "6100"])
        .env("TRELLIS_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("TRELLIS_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log))
        .spawn()
        .expect("spawn trellis quickstart");
    let stdout = child.stdout.take().unwrap();
    let running = Running(child);
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut lines = Vec::new();
    while !lines
        .iter()
        .any(|line: &String| line.starts_with("Press Ctrl-C"))
    {
        let left = deadline.saturating_duration_since(Instant::now());
        match receiver.recv_timeout(left) {
            Ok(line) => lines.push(line),
            Err(_) => panic!(
                "quickstart did not get ready: {lines:?}\n{}",
                std::fs::read_to_string(root.path().join("quickstart.log")).unwrap_or_default()
            ),
        }
    }
    for (name, port) in [("Proxmox", proxmox), ("MaaS", maas), ("HyperV", hyperv)] {
        let line = lines
            .iter()
            .find(|line| line.trim().starts_with(&format!("{name} simulator at ")))
            .unwrap_or_else(|| panic!("no {name} line in {lines:?}"));
        assert!(
            line.contains(&format!("127.0.0.1:{port}")),
            "{name} is not on port {port}: {line}"
        );
        std::net::TcpStream::connect(("127.0.0.1", port))
            .unwrap_or_else(|error| panic!("{name} does not listen on {port}: {error}"));
    }
    let api = lines
        .iter()
        .find_map(|line| line.trim().strip_prefix("API:"))
        .map(|url| url.trim().to_string())
        .expect("an API line");
    let admin = Client::login(&api, "admin", ADMIN_PASSWORD, None)
        .await
        .expect("admin login");
    let hosts = admin
        .call("listHosts", &[("name", "localhost")])
        .await
        .unwrap();
    assert_eq!(
        hosts["host"][0]["details"]["vnc_port_base"], "6100",
        "{hosts}"
    );
    drop(running);
}
