//! Runs the real `trellis-local` binary the way the server does (cleared environment, working
//! directory next to the executable, own process group) against real QEMU, with a private state
//! directory per test. Any QEMU a test leaves behind is killed when its harness is dropped.

use anyhow::Context as _;
use serde_json::{json, Value};
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use trellis_ext_local::machine::{self, Machine};
use trellis_ext_local::qmp::Qmp;
use trellis_ext_local::settings::find_program;

/// How long one invocation may take before the test fails.
pub const INVOCATION_LIMIT: Duration = Duration::from_secs(90);

pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_trellis-local")
}

fn search_path() -> String {
    std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into())
}

/// Whether QEMU is installed; tests that need it return early (with a message) when not.
pub fn qemu_available() -> bool {
    let path = search_path();
    find_program("qemu-system-x86_64", &path).is_some() && find_program("qemu-img", &path).is_some()
}

/// Returns from the test when QEMU is missing.
#[macro_export]
macro_rules! require_qemu {
    () => {
        if !$crate::integration_tests::harness::qemu_available() {
            eprintln!(
                "skipping: qemu-system-x86_64 or qemu-img is not installed (scripts/install-qemu.sh installs them)"
            );
            return;
        }
    };
}

/// One finished invocation.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub code: i32,
    pub stdout: Value,
}

impl Outcome {
    /// Panics unless the invocation succeeded.
    pub fn ok(self) -> Value {
        assert_eq!(self.code, 0, "action failed: {}", self.stdout);
        self.stdout
    }

    /// The error text of a failed invocation.
    pub fn error(&self) -> &str {
        self.stdout["error"].as_str().unwrap_or_default()
    }
}

/// A private state directory and the instances created in it.
pub struct Harness {
    pub root: tempfile::TempDir,
    pub state_dir: PathBuf,
}

impl Harness {
    pub fn new() -> Harness {
        let root = tempfile::tempdir().expect("temporary directory");
        let state_dir = root.path().join("state");
        Harness { root, state_dir }
    }

    /// A harness whose state directory path is longer than a unix socket path may be.
    pub fn with_long_state_dir() -> Harness {
        let root = tempfile::tempdir().expect("temporary directory");
        let state_dir = root
            .path()
            .join("a-rather-long-directory-name-for-the-state-of-local-instances")
            .join("and-another-level-to-pass-the-socket-path-limit");
        Harness { root, state_dir }
    }

    /// Runs `action` with `payload`, as the server would.
    pub fn run(&self, action: &str, payload: &Value) -> Outcome {
        self.run_with(action, payload, &[("PATH", &search_path())])
    }

    /// Runs with an explicit environment (besides the state directory).
    pub fn run_with(&self, action: &str, payload: &Value, environment: &[(&str, &str)]) -> Outcome {
        self.invoke(action, payload, environment)
            .with_context(|| format!("running {action}"))
            .unwrap()
    }

    fn invoke(
        &self,
        action: &str,
        payload: &Value,
        environment: &[(&str, &str)],
    ) -> anyhow::Result<Outcome> {
        let payload_file = tempfile::NamedTempFile::new_in(self.root.path())?;
        std::fs::write(payload_file.path(), serde_json::to_vec(payload)?)?;
        let exe = Path::new(binary());
        let started = Instant::now();
        let mut child = Command::new(exe)
            .arg(action)
            .arg(payload_file.path())
            .arg(INVOCATION_LIMIT.as_secs().to_string())
            .env_clear()
            .envs(environment.iter().copied())
            .env("TRELLIS_LOCAL_STATE_DIR", &self.state_dir)
            .current_dir(exe.parent().context("binary directory")?)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .context("spawn trellis-local")?;
        let mut stdout = child.stdout.take().context("stdout")?;
        let reader = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stdout.read_to_string(&mut text);
            text
        });
        let status = loop {
            if let Some(status) = child.try_wait()? {
                break status;
            }
            if started.elapsed() > INVOCATION_LIMIT {
                kill_group(child.id());
                let _ = child.wait();
                anyhow::bail!("{action} did not finish within {INVOCATION_LIMIT:?}");
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        // The extension's own process group goes, as the server's runner does it.
        kill_group(child.id());
        let text = reader.join().unwrap_or_default();
        let stdout: Value = serde_json::from_str(text.trim())
            .with_context(|| format!("stdout of {action} is not json: {text:?}"))?;
        Ok(Outcome {
            code: status.code().unwrap_or(-1),
            stdout,
        })
    }

    pub fn machine(&self, name: &str) -> Machine {
        Machine::new(&self.state_dir, name)
    }

    /// A QMP session on the VM's action monitor (for checking what QEMU itself says).
    pub fn qmp(&self, name: &str) -> Qmp {
        Qmp::connect(
            &self.machine(name).path(machine::QMP_SOCKET),
            Duration::from_secs(10),
        )
        .expect("qmp connects")
    }

    /// QEMU's own run state of the VM.
    pub fn qemu_status(&self, name: &str) -> String {
        self.qmp(name)
            .run_state(Duration::from_secs(10))
            .expect("query-status")
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        let Ok(entries) = std::fs::read_dir(machine::machines_dir(&self.state_dir)) else {
            return;
        };
        for entry in entries.flatten() {
            let record = std::fs::read_to_string(entry.path().join(machine::RECORD_FILE))
                .ok()
                .and_then(|text| serde_json::from_str::<Value>(&text).ok());
            if let Some(uuid) = record.as_ref().and_then(|r| r["uuid"].as_str()) {
                while let Some(pid) = machine::find_qemu_of(uuid) {
                    machine::kill(pid);
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        }
    }
}

fn kill_group(pid: u32) {
    if let Ok(pid) = i32::try_from(pid) {
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

/// A fresh random uuid.
pub fn new_uuid() -> String {
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .expect("random bytes");
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// An instance as the server would describe it: 1 CPU, 64 MiB, one NIC, a 1 s stop grace.
pub fn payload(name: &str, uuid: &str) -> Value {
    let mac = format!(
        "02:00:{}:{}:{}:{}",
        &uuid[0..2],
        &uuid[2..4],
        &uuid[4..6],
        &uuid[6..8]
    );
    json!({
        "externaldetails": {
            "extension": {"stop_grace_seconds": "1"},
            "virtualmachine": {}
        },
        "caller": {"id": "a", "name": "admin", "type": "ADMIN", "roleid": "r", "rolename": "Root Admin", "roletype": "Admin"},
        "virtualmachineid": uuid,
        "virtualmachinename": name,
        "cloudstack.vm.details": {
            "id": 10, "uuid": uuid, "name": name, "type": "User", "state": "Starting",
            "cpus": 1, "minSpeed": 1000, "maxSpeed": 1000,
            "minRam": 64 * 1024 * 1024, "maxRam": 64 * 1024 * 1024,
            "arch": "x86_64", "vncPassword": "0123456789abcdef01234567",
            "details": {},
            "nics": [{"uuid": "nic-1", "deviceId": 0, "defaultNic": true, "mac": mac,
                      "broadcastType": "Vlan", "broadcastUri": "vlan://100", "type": "Guest"}],
            "disks": []
        }
    })
}

/// `payload` with custom-action parameters.
pub fn with_parameters(mut payload: Value, parameters: Value) -> Value {
    payload["parameters"] = parameters;
    payload
}

/// Polls `check` until it returns `Some` or `limit` passes.
pub fn wait_for<T>(limit: Duration, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let started = Instant::now();
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(started.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
