//! Harness: run the real `trellis-maas` binary against an in-process MAAS simulator.

mod errors;
mod lifecycle;
mod prepare;

use serde_json::{json, Map, Value};
use std::process::Command;
use std::time::{Duration, Instant};
use trellis_sim_maas::{MaasSim, MachineView, SimConfig};

pub const BIN: &str = env!("CARGO_BIN_EXE_trellis-maas");

/// One simulator plus a scratch directory for payload files.
pub struct Env {
    pub sim: MaasSim,
    dir: tempfile::TempDir,
}

impl Env {
    pub fn start(config: SimConfig) -> Env {
        Env {
            sim: MaasSim::start(config).expect("simulator starts"),
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    /// Extension-level details pointing at the simulator.
    pub fn extension_details(&self) -> Value {
        json!({"endpoint": self.sim.url(), "apikey": self.sim.api_key(), "poll_interval": "0.01"})
    }

    /// A payload for `instance` with the given extension and host details.
    pub fn payload_with(&self, instance: &Instance, extension: Value, host: Value) -> Value {
        let nics: Vec<Value> = instance
            .nic_uuids
            .iter()
            .enumerate()
            .map(|(device, uuid)| {
                json!({
                    "uuid": uuid, "deviceId": device, "defaultNic": device == 0,
                    "mac": format!("02:00:00:00:00:{device:02x}"), "ip": format!("10.1.1.{}", 20 + device),
                    "netmask": "255.255.255.0", "gateway": "10.1.1.1", "broadcastType": "Vlan",
                    "broadcastUri": "vlan://100", "type": "Guest", "securityGroupEnabled": false,
                    "pxeDisable": false, "dpdkEnabled": false
                })
            })
            .collect();
        let mut vm_details = Map::new();
        vm_details.insert("deployvm".into(), json!("true"));
        let mut external = Map::new();
        for (key, value) in &instance.details {
            vm_details.insert(format!("External:{key}"), json!(value));
            external.insert(key.clone(), json!(value));
        }
        let mut vm = json!({
            "id": 10, "uuid": instance.uuid, "name": instance.name, "type": "User", "state": "Starting",
            "cpus": 2, "minRam": 2147483648u64, "maxRam": 2147483648u64, "arch": "x86_64",
            "enableHA": false, "limitCpuUse": false, "enableDynamicallyScaleVm": false, "enterHardwareSetup": false,
            "details": vm_details, "nics": nics, "disks": [], "guestOsDetails": {}, "extraConfig": {},
            "networkIdToNetworkNameMap": {}, "configDriveLocation": "SECONDARY"
        });
        if let Some(user_data) = &instance.user_data {
            vm["userData"] = json!(user_data);
        }
        if let Some(keys) = &instance.ssh_keys {
            vm["details"]["SSH.PublicKey"] = json!(keys);
        }
        json!({
            "externaldetails": {"extension": extension, "host": host, "virtualmachine": external},
            "virtualmachineid": instance.uuid,
            "virtualmachinename": instance.name,
            "cloudstack.vm.details": vm
        })
    }

    pub fn payload(&self, instance: &Instance) -> Value {
        self.payload_with(instance, self.extension_details(), json!({}))
    }

    /// Run `trellis-maas <action> <payload> <timeout>` with a cleared environment.
    pub fn run_payload(
        &self,
        action: &str,
        payload: &Value,
        timeout: &str,
        env: &[(&str, String)],
    ) -> Outcome {
        let file = tempfile::Builder::new()
            .suffix(".json")
            .tempfile_in(self.dir.path())
            .expect("payload file");
        std::fs::write(file.path(), serde_json::to_vec(payload).unwrap()).expect("write payload");
        let mut command = Command::new(BIN);
        command
            .env_clear()
            .arg(action)
            .arg(file.path())
            .arg(timeout);
        for (key, value) in env {
            command.env(key, value);
        }
        Outcome::of(command)
    }

    pub fn run(&self, action: &str, instance: &Instance) -> Outcome {
        self.run_payload(action, &self.payload(instance), "60", &[])
    }

    pub fn machine(&self, system_id: &str) -> MachineView {
        self.sim.machine(system_id).expect("machine exists")
    }

    /// Poll the simulator until `condition` holds for the machine (no blind sleeps).
    pub fn wait_for_machine(
        &self,
        system_id: &str,
        what: &str,
        condition: impl Fn(&MachineView) -> bool,
    ) -> MachineView {
        let started = Instant::now();
        loop {
            let view = self.machine(system_id);
            if condition(&view) {
                return view;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "machine {system_id} never became {what}: {view:?}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// What one run of the binary produced.
#[derive(Debug)]
pub struct Outcome {
    pub code: i32,
    pub json: Value,
    pub elapsed: Duration,
}

impl Outcome {
    pub fn of(mut command: Command) -> Outcome {
        let started = Instant::now();
        let output = command.output().expect("binary runs");
        let elapsed = started.elapsed();
        let stdout = String::from_utf8(output.stdout).expect("utf-8 stdout");
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        // Exactly one JSON document on stdout, on one line.
        assert_eq!(stdout.trim_end().lines().count(), 1, "stdout: {stdout:?}");
        let json: Value = serde_json::from_str(stdout.trim())
            .unwrap_or_else(|e| panic!("stdout not json ({e}): {stdout}"));
        assert!(stderr.is_empty(), "stderr must stay silent: {stderr}");
        Outcome {
            code: output.status.code().expect("exit code"),
            json,
            elapsed,
        }
    }

    #[track_caller]
    pub fn ok(self) -> Value {
        assert_eq!(self.code, 0, "expected success: {}", self.json);
        self.json
    }

    #[track_caller]
    pub fn failed(self, code: i32) -> Value {
        assert_eq!(self.code, code, "unexpected exit code: {}", self.json);
        assert_eq!(self.json["status"], "error", "{}", self.json);
        assert!(
            self.json["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{}",
            self.json
        );
        self.json
    }
}

/// An instance as the server would describe it.
#[derive(Debug, Clone)]
pub struct Instance {
    pub name: String,
    pub uuid: String,
    pub nic_uuids: Vec<String>,
    /// Instance details (`External:` prefix implied), as the server stores them.
    pub details: Vec<(String, String)>,
    pub user_data: Option<String>,
    /// `SSH.PublicKey`: the instance's SSH public keys, one per line.
    pub ssh_keys: Option<String>,
}

impl Instance {
    pub fn new(number: u32) -> Instance {
        Instance {
            name: format!("i-2-{number}-VM"),
            uuid: format!("00000000-0000-4000-8000-{number:012}"),
            nic_uuids: vec![
                format!("a0000000-0000-4000-8000-{number:012}"),
                format!("b0000000-0000-4000-8000-{number:012}"),
            ],
            details: Vec::new(),
            user_data: None,
            ssh_keys: None,
        }
    }

    pub fn detail(mut self, key: &str, value: &str) -> Instance {
        self.set_detail(key, value);
        self
    }

    pub fn set_detail(&mut self, key: &str, value: &str) {
        self.details.retain(|(known, _)| known != key);
        self.details.push((key.to_string(), value.to_string()));
    }

    /// Apply a prepare merge patch as the server does: `External:` details become instance
    /// details (delivered prefix-stripped in later payloads).
    pub fn apply_prepare(&mut self, patch: &Value) {
        if let Some(details) = patch["details"].as_object() {
            for (key, value) in details {
                if let (Some(key), Some(value)) = (key.strip_prefix("External:"), value.as_str()) {
                    self.set_detail(key, value);
                }
            }
        }
    }

    pub fn system_id(&self) -> String {
        self.details
            .iter()
            .find(|(k, _)| k == "maas_system_id")
            .map(|(_, v)| v.clone())
            .expect("prepared")
    }
}
