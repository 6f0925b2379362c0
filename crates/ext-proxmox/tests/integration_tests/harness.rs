//! Starting the simulator, building payloads and running the extension binary.

use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tempfile::TempDir;
use trellis_ext_protocol::{ExternalDetails, Nic, Payload, VirtualMachine};
use trellis_sim_proxmox::{ProxmoxSim, SimConfig, Vm};

/// The binary under test.
const BINARY: &str = env!("CARGO_BIN_EXE_trellis-proxmox");

/// What one run of the binary produced.
#[derive(Debug)]
pub struct Outcome {
    pub code: i32,
    pub json: Value,
    pub elapsed: Duration,
    /// Warnings the extension wrote (the only thing it may write to stderr).
    pub stderr: String,
}

impl Outcome {
    /// The `error` text of a failed run.
    pub fn error(&self) -> &str {
        self.json["error"].as_str().unwrap_or_default()
    }

    #[track_caller]
    pub fn assert_success(&self) -> &Self {
        assert_eq!(self.code, 0, "expected success, got {}", self.json);
        assert_eq!(self.json["status"], "success", "{}", self.json);
        self
    }

    #[track_caller]
    pub fn assert_failure(&self, code: i32, kind: &str) -> &Self {
        assert_eq!(self.code, code, "unexpected exit code for {}", self.json);
        assert_eq!(self.json["status"], "error", "{}", self.json);
        assert_eq!(self.json["kind"], kind, "{}", self.json);
        assert!(!self.error().is_empty());
        assert!(!self.error().to_ascii_lowercase().contains("unknown error"));
        self
    }
}

/// A simulator plus a directory for payload files.
pub struct Harness {
    pub sim: ProxmoxSim,
    dir: TempDir,
    counter: AtomicUsize,
}

impl Harness {
    /// HTTPS, one poll per task.
    pub fn start() -> Harness {
        Harness::with(SimConfig::default())
    }

    pub fn with(config: SimConfig) -> Harness {
        Harness {
            sim: ProxmoxSim::start(config).expect("the simulator starts"),
            dir: tempfile::tempdir().expect("a temporary directory"),
            counter: AtomicUsize::new(0),
        }
    }

    /// Host-level connection details pointing at the simulator.
    pub fn host_details(&self) -> BTreeMap<String, String> {
        let config = self.sim.config();
        [
            ("url", self.sim.base_url()),
            ("user", config.user.clone()),
            ("token", config.token.clone()),
            ("secret", config.secret.clone()),
            ("node", config.node.clone()),
            ("network_bridge", "vmbr0".to_string()),
            ("verify_tls_certificate", "false".to_string()),
        ]
        .into_iter()
        .map(|(key, value)| (key.to_string(), value))
        .collect()
    }

    /// A payload for instance `name` (2 cpus, 1 GiB, one NIC on VLAN 100), cloned from the
    /// template.
    pub fn payload(&self, name: &str) -> Payload {
        let vm_details: BTreeMap<String, String> =
            [("template_type", "template"), ("template_id", "9000")]
                .into_iter()
                .map(|(key, value)| (key.to_string(), value.to_string()))
                .collect();
        let nic = Nic {
            uuid: format!("nic-{name}"),
            device_id: 0,
            default_nic: true,
            mac: Some(mac_for(name, 0)),
            broadcast_uri: Some("vlan://100".into()),
            broadcast_type: Some("Vlan".into()),
            ..Nic::default()
        };
        Payload {
            externaldetails: Some(ExternalDetails {
                host: Some(self.host_details()),
                virtualmachine: Some(vm_details),
                ..ExternalDetails::default()
            }),
            virtualmachineid: Some(format!("uuid-{name}")),
            virtualmachinename: Some(name.to_string()),
            vm: Some(VirtualMachine {
                id: 10,
                uuid: format!("uuid-{name}"),
                name: name.to_string(),
                cpus: 2,
                min_ram: 1024 * 1024 * 1024,
                max_ram: 1024 * 1024 * 1024,
                nics: vec![nic],
                ..VirtualMachine::default()
            }),
            ..Payload::default()
        }
    }

    fn write_payload(&self, payload: &Payload) -> PathBuf {
        let index = self.counter.fetch_add(1, Ordering::SeqCst);
        let path = self.dir.path().join(format!("payload-{index}.json"));
        std::fs::write(&path, serde_json::to_vec(payload).unwrap())
            .expect("the payload is written");
        path
    }

    /// Runs `action` with a 60 s timeout argument and no deadline variable.
    pub fn run(&self, action: &str, payload: &Payload) -> Outcome {
        self.run_with(action, payload, "60", None)
    }

    pub fn run_with(
        &self,
        action: &str,
        payload: &Payload,
        timeout: &str,
        deadline: Option<u64>,
    ) -> Outcome {
        let path = self.write_payload(payload);
        let mut command = Command::new(BINARY);
        command.env_clear().arg(action).arg(&path).arg(timeout);
        if let Some(deadline) = deadline {
            command.env(trellis_ext_protocol::ENV_DEADLINE, deadline.to_string());
        }
        run_command(command)
    }

    /// Runs prepare, then create with the VMID prepare chose; returns the create outcome and
    /// the payload later actions use.
    pub fn deploy(&self, name: &str) -> (Outcome, Payload) {
        let mut payload = self.payload(name);
        let prepared = self.run("prepare", &payload);
        prepared.assert_success_prepare();
        merge_prepare(&mut payload, &prepared.json);
        let created = self.run("create", &payload);
        (created, payload)
    }

    /// The simulator's VM named `name` (exactly one).
    #[track_caller]
    pub fn vm_named(&self, name: &str) -> Vm {
        let mut vms = self.sim.vms_named(name);
        assert_eq!(
            vms.len(),
            1,
            "expected one vm named {name}, found {}",
            vms.len()
        );
        vms.remove(0)
    }
}

impl Outcome {
    /// `prepare` prints only the details patch.
    #[track_caller]
    pub fn assert_success_prepare(&self) {
        assert_eq!(self.code, 0, "prepare failed: {}", self.json);
        assert!(
            self.json["details"]["proxmox_vmid"].is_string(),
            "{}",
            self.json
        );
    }
}

/// Applies prepare's output as CloudStack does (a merge patch onto the VM's details).
pub fn merge_prepare(payload: &mut Payload, prepared: &Value) {
    let vm = payload.vm.as_mut().expect("a vm");
    if let Some(details) = prepared["details"].as_object() {
        for (key, value) in details {
            vm.details
                .insert(key.clone(), value.as_str().unwrap_or_default().to_string());
        }
    }
}

/// Sets one `externaldetails.virtualmachine` entry.
pub fn set_vm_detail(payload: &mut Payload, key: &str, value: &str) {
    let details = payload
        .externaldetails
        .get_or_insert_with(ExternalDetails::default);
    details
        .virtualmachine
        .get_or_insert_with(BTreeMap::new)
        .insert(key.to_string(), value.to_string());
}

/// Sets one host-level detail.
pub fn set_host_detail(payload: &mut Payload, key: &str, value: &str) {
    let details = payload
        .externaldetails
        .get_or_insert_with(ExternalDetails::default);
    details
        .host
        .get_or_insert_with(BTreeMap::new)
        .insert(key.to_string(), value.to_string());
}

/// Sets custom-action parameters.
pub fn set_parameters(payload: &mut Payload, parameters: Value) {
    payload.parameters = parameters.as_object().cloned();
}

/// A stable MAC per instance and NIC.
pub fn mac_for(name: &str, index: u8) -> String {
    let sum: u32 = name.bytes().map(u32::from).sum();
    format!(
        "02:00:{:02X}:{:02X}:00:{index:02X}",
        (sum >> 8) & 0xff,
        sum & 0xff
    )
}

/// Runs the binary directly with raw arguments.
pub fn run_raw(arguments: &[&str]) -> Outcome {
    let mut command = Command::new(BINARY);
    command.env_clear().args(arguments);
    run_command(command)
}

fn run_command(mut command: Command) -> Outcome {
    let started = Instant::now();
    let output = command.output().expect("the extension binary runs");
    let elapsed = started.elapsed();
    let stdout = String::from_utf8(output.stdout).expect("utf-8 on stdout");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        stderr
            .lines()
            .all(|line| line.starts_with("trellis-proxmox: warning: ")),
        "stderr carries only warnings, got {stderr:?}"
    );
    // Exactly one JSON document (serde rejects trailing data).
    let json: Value = serde_json::from_str(stdout.trim_end())
        .unwrap_or_else(|_| panic!("one json document on stdout, got {stdout:?}"));
    assert_eq!(
        stdout.trim_end().lines().count(),
        1,
        "one line on stdout, got {stdout:?}"
    );
    Outcome {
        code: output.status.code().expect("an exit code, not a signal"),
        json,
        elapsed,
        stderr,
    }
}

/// `{"snap_name": …}` and friends.
pub fn snapshot_parameters(name: &str) -> Value {
    json!({ "snap_name": name })
}
