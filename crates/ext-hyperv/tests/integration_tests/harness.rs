//! Shared test harness: a simulator per test, payload builders, and running the binary.

use serde_json::Value;
use std::collections::BTreeMap;
use std::process::Command;
use trellis_ext_protocol::{ExternalDetails, Nic, Payload, VirtualMachine};
use trellis_sim_hyperv::{HyperVSim, SimConfig, Vm};

pub const UUID: &str = "1f6c7b2e-5a0d-4c1e-9b7a-3d2e1f0a9b8c";
pub const INTERNAL_NAME: &str = "i-2-10-VM";
pub const VHD_DIR: &str = "C:\\Hyper-V\\Virtual Hard Disks";
pub const VM_DIR: &str = "C:\\Hyper-V\\Virtual Machines";
pub const TEMPLATE: &str = "C:\\Templates\\ubuntu-24.04.vhdx";
pub const ISO: &str = "C:\\ISO\\ubuntu-24.04-live-server-amd64.iso";
/// The directories the administrator allows instance images from.
pub const IMAGE_ROOTS: &str = "C:\\Templates;C:\\ISO";

/// The Hyper-V name of the default test instance.
pub fn vm_name() -> String {
    format!("{INTERNAL_NAME}-{UUID}")
}

/// What one run of the binary produced.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub json: Value,
    pub stdout: String,
}

impl Run {
    /// The `error` field of an error reply.
    pub fn error(&self) -> String {
        self.json["error"].as_str().unwrap_or_default().to_string()
    }

    pub fn assert_success(&self) -> &Run {
        assert_eq!(self.code, 0, "expected success, got {self:?}");
        assert_eq!(self.json["status"], "success", "{self:?}");
        self
    }

    pub fn assert_failure(&self, code: i32) -> &Run {
        assert_eq!(self.code, code, "expected exit code {code}, got {self:?}");
        assert_eq!(self.json["status"], "error", "{self:?}");
        assert!(!self.error().is_empty(), "{self:?}");
        self
    }
}

pub struct Harness {
    pub sim: HyperVSim,
    dir: tempfile::TempDir,
}

impl Harness {
    pub async fn start() -> Harness {
        Harness::with_config(SimConfig::default()).await
    }

    pub async fn with_config(config: SimConfig) -> Harness {
        let sim = HyperVSim::start(config).await.expect("simulator starts");
        Harness {
            sim,
            dir: tempfile::tempdir().expect("temporary directory"),
        }
    }

    /// Host details pointing at the simulator, verifying its certificate with its CA.
    pub fn host_details(&self) -> BTreeMap<String, String> {
        let mut host = BTreeMap::new();
        host.insert("url".to_string(), self.sim.url());
        host.insert("username".to_string(), self.sim.user().to_string());
        host.insert("password".to_string(), self.sim.password().to_string());
        host.insert(
            "ca_certificate".to_string(),
            self.sim.ca_certificate_pem().to_string(),
        );
        host.insert("network_switch".to_string(), "External".to_string());
        host.insert("vhd_path".to_string(), VHD_DIR.to_string());
        host.insert("vm_path".to_string(), VM_DIR.to_string());
        host.insert("image_roots".to_string(), IMAGE_ROOTS.to_string());
        host
    }

    /// A payload for the default instance: 2 CPUs, 2 GiB, two NICs (one tagged), template disk.
    pub fn payload(&self) -> Payload {
        let mut vm_details = BTreeMap::new();
        vm_details.insert("template_type".to_string(), "template".to_string());
        vm_details.insert("template_path".to_string(), TEMPLATE.to_string());
        vm_details.insert("generation".to_string(), "2".to_string());
        Payload {
            externaldetails: Some(ExternalDetails {
                host: Some(self.host_details()),
                virtualmachine: Some(vm_details),
                ..ExternalDetails::default()
            }),
            virtualmachineid: Some(UUID.to_string()),
            virtualmachinename: Some(INTERNAL_NAME.to_string()),
            vm: Some(VirtualMachine {
                id: 10,
                uuid: UUID.to_string(),
                name: INTERNAL_NAME.to_string(),
                cpus: 2,
                min_ram: 2 * 1024 * 1024 * 1024,
                max_ram: 2 * 1024 * 1024 * 1024,
                nics: vec![
                    Nic {
                        uuid: "a7d0e1f2-0000-4000-8000-000000000001".into(),
                        device_id: 0,
                        default_nic: true,
                        mac: Some("02:00:2f:6e:00:05".into()),
                        broadcast_uri: Some("vlan://1234".into()),
                        ..Nic::default()
                    },
                    Nic {
                        uuid: "a7d0e1f2-0000-4000-8000-000000000002".into(),
                        device_id: 1,
                        default_nic: false,
                        mac: Some("02:00:2f:6e:00:06".into()),
                        broadcast_uri: Some("vlan://untagged".into()),
                        ..Nic::default()
                    },
                ],
                ..VirtualMachine::default()
            }),
            ..Payload::default()
        }
    }

    /// Runs `trellis-hyperv <action> <payload> 60` and checks the output contract: exactly one
    /// JSON document on stdout, nothing on stderr.
    pub async fn run(&self, action: &str, payload: &Payload) -> Run {
        self.run_with_timeout(action, payload, "60").await
    }

    pub async fn run_with_timeout(&self, action: &str, payload: &Payload, timeout: &str) -> Run {
        let path = self.dir.path().join(format!("{}.json", uuid_like()));
        std::fs::write(
            &path,
            serde_json::to_vec(payload).expect("payload serializes"),
        )
        .expect("payload written");
        let action = action.to_string();
        let timeout = timeout.to_string();
        let output = tokio::task::spawn_blocking(move || {
            Command::new(env!("CARGO_BIN_EXE_trellis-hyperv"))
                .env_clear()
                .arg(&action)
                .arg(&path)
                .arg(&timeout)
                .output()
        })
        .await
        .expect("runner task")
        .expect("binary runs");
        let stdout = String::from_utf8(output.stdout).expect("utf-8 stdout");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.is_empty(), "stderr must stay silent, got {stderr:?}");
        let mut documents = serde_json::Deserializer::from_str(&stdout).into_iter::<Value>();
        let json = documents
            .next()
            .expect("one json document")
            .expect("valid json");
        assert!(
            documents.next().is_none(),
            "exactly one json document expected in {stdout:?}"
        );
        Run {
            code: output.status.code().expect("exit code"),
            json,
            stdout,
        }
    }

    pub fn vm(&self) -> Option<Vm> {
        self.sim.model(|host| host.vm(&vm_name()).cloned())
    }

    pub fn file_exists(&self, path: &str) -> bool {
        self.sim.model(|host| host.file_exists(path))
    }

    pub fn directory_exists(&self, path: &str) -> bool {
        self.sim.model(|host| host.directory_exists(path))
    }
}

fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    format!("payload-{}", COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// Sets a detail at the instance level.
pub fn set_vm_detail(payload: &mut Payload, key: &str, value: &str) {
    let details = payload
        .externaldetails
        .get_or_insert_with(ExternalDetails::default);
    details
        .virtualmachine
        .get_or_insert_with(BTreeMap::new)
        .insert(key.to_string(), value.to_string());
}

/// Sets a detail at the host level.
pub fn set_host_detail(payload: &mut Payload, key: &str, value: &str) {
    let details = payload
        .externaldetails
        .get_or_insert_with(ExternalDetails::default);
    details
        .host
        .get_or_insert_with(BTreeMap::new)
        .insert(key.to_string(), value.to_string());
}

/// Removes a detail from the host level.
pub fn remove_host_detail(payload: &mut Payload, key: &str) {
    if let Some(host) = payload
        .externaldetails
        .as_mut()
        .and_then(|d| d.host.as_mut())
    {
        host.remove(key);
    }
}

/// A custom-action payload with `snapshot_name`.
pub fn with_snapshot(mut payload: Payload, name: &str) -> Payload {
    let mut parameters = serde_json::Map::new();
    parameters.insert("snapshot_name".to_string(), Value::String(name.to_string()));
    payload.parameters = Some(parameters);
    payload
}
