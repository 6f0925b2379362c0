//! One instance's virtual machine: its directory, its record, its QEMU process and monitors.
//!
//! Everything about a VM lives in `<state dir>/vms/<instance name>/`:
//!
//! | file | content |
//! | --- | --- |
//! | `vm.json` | the record: uuid, CPUs, memory, NIC MACs, base image, last accelerator |
//! | `disk.qcow2` | the disk (an overlay when the template names a base image) |
//! | `seed.img` | the cloud-init NoCloud seed, when the instance has SSH keys or user data ([`crate::seed`]) |
//! | `qemu.pid` | the pid of the daemonized QEMU (QEMU removes it when it exits) |
//! | `qmp.sock` | the QMP monitor actions use |
//! | `status.sock` | a second QMP monitor, so `status` never waits behind a long action |
//! | `serial.log` | the guest's serial console |
//! | `lock` | serialises actions on the VM (`flock`) |
//!
//! QEMU runs with `-daemonize`: it forks into its own session, so neither the end of the
//! extension process nor the server killing the extension's process group touches it, and a
//! restarted management server finds it again through its sockets.

use crate::accel::Accel;
use crate::deadline::Deadline;
use crate::error::ActionError;
use crate::qmp::{self, Qmp, QmpError, MAX_SOCKET_PATH};
use crate::settings::NetworkMode;
use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};
use std::ffi::OsString;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;
use trellis_ext_protocol::PowerState;

mod process;

use process::{collect, drain, launch_error};
pub use process::{find_qemu_of, is_kvm_failure, is_qemu_of, kill};

pub const RECORD_FILE: &str = "vm.json";
pub const DISK_FILE: &str = "disk.qcow2";
pub const SEED_FILE: &str = "seed.img";
pub const PID_FILE: &str = "qemu.pid";
pub const QMP_SOCKET: &str = "qmp.sock";
pub const STATUS_SOCKET: &str = "status.sock";
pub const SERIAL_LOG: &str = "serial.log";
pub const LOCK_FILE: &str = "lock";

/// How long one QMP answer may take for quick commands.
pub const QMP_WAIT: Duration = Duration::from_secs(5);

/// How often waits poll.
const POLL: Duration = Duration::from_millis(50);

/// QEMU numbers VNC displays from this port: display `n` listens on `5900 + n`.
pub const VNC_DISPLAY_ZERO_PORT: u16 = 5900;

/// How many consecutive VNC ports QEMU may pick from, starting at the plan's `vnc_port_base`.
pub const VNC_PORT_SPAN: u16 = 100;

/// The persistent description of a VM.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub name: String,
    pub uuid: String,
    pub cpus: u32,
    pub memory_mib: u64,
    pub nics: Vec<NicRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<PathBuf>,
    /// The accelerator of the last launch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accel: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
}

/// A NIC of the VM.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NicRecord {
    pub mac: String,
    pub model: String,
}

/// What a launch needs beyond the record.
#[derive(Debug, Clone)]
pub struct LaunchPlan {
    pub qemu: PathBuf,
    pub accel: Accel,
    pub machine: String,
    pub network: NetworkMode,
    pub vnc_listen: String,
    /// The first TCP port QEMU may give the VNC server (at least 5900; the `vnc_port_base`
    /// detail, default 5900); it takes the first free one of the next 100.
    pub vnc_port_base: u16,
    /// Whether to attach the VM's cloud-init seed (`seed.img`), read-only.
    pub seed: bool,
}

impl LaunchPlan {
    /// The first and last VNC display numbers QEMU may pick from.
    pub fn vnc_displays(&self) -> (u16, u16) {
        let first = self.vnc_port_base.saturating_sub(VNC_DISPLAY_ZERO_PORT);
        let last = first
            .saturating_add(VNC_PORT_SPAN - 1)
            .min(u16::MAX - VNC_DISPLAY_ZERO_PORT);
        (first, last)
    }
}

/// The power state as observed, with what QEMU said.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    pub power: PowerState,
    /// QEMU's run state (`running`, `paused`, ...) when the monitor answered.
    pub qemu_status: Option<String>,
    pub note: Option<String>,
}

/// How a VM was brought down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shutdown {
    AlreadyOff,
    /// The guest powered off after the ACPI request.
    Graceful,
    /// QEMU was told to quit.
    Quit,
    /// QEMU was killed.
    Killed,
}

impl Shutdown {
    pub fn describe(self) -> &'static str {
        match self {
            Shutdown::AlreadyOff => "was already stopped",
            Shutdown::Graceful => "powered off",
            Shutdown::Quit => "did not power off in time and was stopped",
            Shutdown::Killed => "did not quit and was killed",
        }
    }
}

/// A VM's directory.
#[derive(Debug, Clone)]
pub struct Machine {
    pub name: String,
    pub dir: PathBuf,
}

/// Maps QEMU's run state to a power state.
pub fn power_of(qemu_status: &str) -> PowerState {
    match qemu_status {
        "running" | "paused" | "suspended" | "prelaunch" | "inmigrate" | "postmigrate"
        | "finish-migrate" | "save-vm" | "restore-vm" | "debug" | "watchdog" | "colo" => {
            PowerState::PowerOn
        }
        "shutdown" | "guest-panicked" | "internal-error" | "io-error" => PowerState::PowerOff,
        _ => PowerState::PowerUnknown,
    }
}

/// Escapes a value for QEMU's `key=value,…` option syntax.
fn option_value(value: &str) -> String {
    value.replace(',', ",,")
}

/// The directory holding all VM directories.
pub fn machines_dir(state_dir: &Path) -> PathBuf {
    state_dir.join("vms")
}

impl Machine {
    pub fn new(state_dir: &Path, name: &str) -> Machine {
        Machine {
            name: name.to_string(),
            dir: machines_dir(state_dir).join(name),
        }
    }

    pub fn path(&self, file: &str) -> PathBuf {
        self.dir.join(file)
    }

    /// Whether the VM has a record here.
    pub fn exists(&self) -> bool {
        self.path(RECORD_FILE).is_file()
    }

    pub fn read_record(&self) -> Result<Record, ActionError> {
        let path = self.path(RECORD_FILE);
        let text = std::fs::read_to_string(&path)
            .map_err(|source| ActionError::io(format!("read {}", path.display()), source))?;
        serde_json::from_str(&text).map_err(|error| {
            ActionError::Failed(format!("{} is not a valid record: {error}", path.display()))
        })
    }

    pub fn write_record(&self, record: &Record) -> Result<(), ActionError> {
        let path = self.path(RECORD_FILE);
        let temporary = self.path("vm.json.tmp");
        let text = serde_json::to_string_pretty(record)
            .map_err(|error| ActionError::Failed(format!("cannot encode the record: {error}")))?;
        std::fs::write(&temporary, text)
            .and_then(|()| std::fs::rename(&temporary, &path))
            .map_err(|source| ActionError::io(format!("write {}", path.display()), source))
    }

    /// Creates the directory (mode 0700).
    pub fn create_dir(&self) -> Result<(), ActionError> {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
            .map_err(|source| ActionError::io(format!("create {}", self.dir.display()), source))
    }

    /// Takes the VM's action lock, waiting until `deadline`.
    pub fn lock(&self, deadline: Deadline) -> Result<Flock<File>, ActionError> {
        let path = self.path(LOCK_FILE);
        let mut file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|source| ActionError::io(format!("open {}", path.display()), source))?;
        loop {
            match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
                Ok(lock) => return Ok(lock),
                Err((returned, nix::errno::Errno::EWOULDBLOCK)) => {
                    if deadline.has_passed() {
                        return Err(ActionError::TimedOut {
                            waiting_for: format!(
                                "waiting for another action on vm {} to finish",
                                self.name
                            ),
                        });
                    }
                    file = returned;
                    std::thread::sleep(POLL);
                }
                Err((_, errno)) => {
                    return Err(ActionError::io(
                        format!("lock {}", path.display()),
                        std::io::Error::from(errno),
                    ))
                }
            }
        }
    }

    /// The pid of the VM's QEMU, if it runs: the pidfile's, else found by its `-uuid` argument.
    pub fn pid(&self, uuid: &str) -> Option<u32> {
        let from_file = std::fs::read_to_string(self.path(PID_FILE))
            .ok()
            .and_then(|text| text.trim().parse::<u32>().ok())
            .filter(|pid| is_qemu_of(*pid, uuid));
        from_file.or_else(|| find_qemu_of(uuid))
    }

    /// Whether QEMU runs for the VM: a live process, or something listening on its monitor.
    pub fn is_running(&self, uuid: &str) -> bool {
        self.pid(uuid).is_some() || qmp::connect_stream(&self.path(STATUS_SOCKET)).is_ok()
    }

    /// A QMP session on the action monitor.
    pub fn qmp(&self, wait: Duration) -> Result<Qmp, ActionError> {
        Qmp::connect(&self.path(QMP_SOCKET), wait).map_err(|source| ActionError::Qmp {
            name: self.name.clone(),
            command: "qmp_capabilities".into(),
            source,
        })
    }

    /// Runs one QMP command on the action monitor.
    pub fn execute(
        &self,
        command: &str,
        arguments: Option<serde_json::Value>,
        wait: Duration,
    ) -> Result<serde_json::Value, ActionError> {
        let mut session = self.qmp(wait)?;
        session
            .execute(command, arguments, wait)
            .map_err(|source| ActionError::Qmp {
                name: self.name.clone(),
                command: command.into(),
                source,
            })
    }

    /// Observes the power state through the status monitor, falling back to the process.
    pub fn observe(&self, uuid: &str, wait: Duration) -> Observation {
        let answer = Qmp::connect(&self.path(STATUS_SOCKET), wait)
            .and_then(|mut session| session.run_state(wait));
        match answer {
            Ok(status) => Observation {
                power: power_of(&status),
                qemu_status: Some(status),
                note: None,
            },
            Err(error) => {
                let alive = self.pid(uuid).is_some();
                match (alive, error.is_not_listening()) {
                    (false, true) => Observation {
                        power: PowerState::PowerOff,
                        qemu_status: None,
                        note: None,
                    },
                    (true, false) => Observation {
                        power: PowerState::PowerOn,
                        qemu_status: None,
                        note: Some(format!("qemu runs but its monitor did not answer: {error}")),
                    },
                    (true, true) => Observation {
                        power: PowerState::PowerUnknown,
                        qemu_status: None,
                        note: Some("qemu runs but its monitor socket is gone".into()),
                    },
                    (false, false) => Observation {
                        power: PowerState::PowerUnknown,
                        qemu_status: None,
                        note: Some(format!("the monitor did not answer: {error}")),
                    },
                }
            }
        }
    }

    /// Removes the pidfile and sockets a stopped QEMU left behind.
    pub fn clean_runtime_files(&self) {
        for file in [PID_FILE, QMP_SOCKET, STATUS_SOCKET] {
            let _ = std::fs::remove_file(self.path(file));
        }
    }

    /// The socket path QEMU is given: absolute when short enough, else relative to the VM's
    /// directory (QEMU starts there).
    fn socket_argument(&self, file: &str) -> String {
        let absolute = self.path(file);
        if absolute.as_os_str().len() <= MAX_SOCKET_PATH {
            absolute.to_string_lossy().into_owned()
        } else {
            file.to_string()
        }
    }

    /// QEMU's command line for `record` under `plan`.
    pub fn arguments(&self, record: &Record, plan: &LaunchPlan) -> Vec<OsString> {
        let path = |file: &str| option_value(&self.path(file).to_string_lossy());
        let mut arguments: Vec<String> = vec![
            "-name".into(),
            format!("guest={},debug-threads=on", record.name),
            "-uuid".into(),
            record.uuid.clone(),
            "-machine".into(),
            plan.machine.clone(),
            "-accel".into(),
            plan.accel.name().into(),
            "-smp".into(),
            record.cpus.to_string(),
            "-m".into(),
            record.memory_mib.to_string(),
            "-nodefaults".into(),
            "-no-user-config".into(),
            "-display".into(),
            "none".into(),
            "-vga".into(),
            "std".into(),
            "-vnc".into(),
            format!(
                "{}:{},to={},password=on",
                if plan.vnc_listen.contains(':') {
                    format!("[{}]", plan.vnc_listen)
                } else {
                    plan.vnc_listen.clone()
                },
                plan.vnc_displays().0,
                plan.vnc_displays().1
            ),
            "-drive".into(),
            format!(
                "file={},format=qcow2,if=none,id=disk0,discard=unmap",
                path(DISK_FILE)
            ),
            "-device".into(),
            "virtio-blk-pci,drive=disk0,bootindex=0".into(),
        ];
        if plan.seed {
            arguments.extend([
                "-drive".into(),
                format!(
                    "file={},format=raw,if=none,id=seed0,readonly=on",
                    path(SEED_FILE)
                ),
                "-device".into(),
                "virtio-blk-pci,drive=seed0".into(),
            ]);
        }
        for (index, nic) in record.nics.iter().enumerate() {
            let netdev = match &plan.network {
                NetworkMode::User => format!("user,id=net{index}"),
                NetworkMode::Isolated => format!("user,id=net{index},restrict=on"),
                NetworkMode::Bridge(bridge) => format!("bridge,id=net{index},br={bridge}"),
            };
            arguments.extend([
                "-netdev".into(),
                netdev,
                "-device".into(),
                format!("{},netdev=net{index},mac={}", nic.model, nic.mac),
            ]);
        }
        for (id, file) in [("qmp", QMP_SOCKET), ("status", STATUS_SOCKET)] {
            arguments.extend([
                "-chardev".into(),
                format!(
                    "socket,id={id},path={},server=on,wait=off",
                    option_value(&self.socket_argument(file))
                ),
                "-mon".into(),
                format!("chardev={id},mode=control"),
            ]);
        }
        arguments.extend([
            "-chardev".into(),
            format!("file,id=serial0,path={}", path(SERIAL_LOG)),
            "-serial".into(),
            "chardev:serial0".into(),
            "-rtc".into(),
            "base=utc".into(),
            "-pidfile".into(),
            self.path(PID_FILE).to_string_lossy().into_owned(),
            "-daemonize".into(),
        ]);
        arguments.into_iter().map(OsString::from).collect()
    }

    /// Starts QEMU for `record` and waits until its monitor answers. The caller makes sure no
    /// QEMU runs for the VM.
    pub fn launch(
        &self,
        record: &Record,
        plan: &LaunchPlan,
        deadline: Deadline,
    ) -> Result<(), ActionError> {
        self.clean_runtime_files();
        // QEMU is a long-lived helper: it must outlive the run that starts it.
        let mut command = Command::new(&plan.qemu);
        trellis_extkit::helper::outside_the_run(&mut command);
        let mut child = command
            .args(self.arguments(record, plan))
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| ActionError::Spawn {
                program: plan.qemu.clone(),
                source,
            })?;
        let stdout = drain(child.stdout.take());
        let stderr = drain(child.stderr.take());
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if deadline.has_passed() => {
                    let _ = child.kill();
                    let _ = child.wait();
                    if let Some(pid) = self.pid(&record.uuid) {
                        kill(pid);
                    }
                    self.clean_runtime_files();
                    return Err(ActionError::TimedOut {
                        waiting_for: format!("for qemu to start vm {}", self.name),
                    });
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(10)),
                Err(source) => {
                    return Err(ActionError::io(
                        format!("wait for {}", plan.qemu.display()),
                        source,
                    ))
                }
            }
        };
        if !status.success() {
            let mut message = collect(stderr);
            if message.trim().is_empty() {
                message = collect(stdout);
            }
            return Err(launch_error(&self.name, plan, &message, status.to_string()));
        }
        // The daemon has written its pidfile by now; under cgroup containment it leaves the
        // run's cgroup, or it would be killed when this run ends.
        if let Some(pid) = self.pid(&record.uuid) {
            trellis_extkit::helper::detach(pid).map_err(|source| {
                ActionError::io(format!("take qemu (pid {pid}) out of the run"), source)
            })?;
        }
        // The daemon signals its parent only once it is set up, so the monitor is there.
        let mut session = Qmp::connect(
            &self.path(STATUS_SOCKET),
            QMP_WAIT.min(deadline.remaining()),
        )
        .map_err(|source| ActionError::Qmp {
            name: self.name.clone(),
            command: "qmp_capabilities".into(),
            source,
        })?;
        session
            .run_state(QMP_WAIT)
            .map_err(|source| ActionError::Qmp {
                name: self.name.clone(),
                command: "query-status".into(),
                source,
            })?;
        Ok(())
    }

    /// Waits until QEMU is gone or `until` passes; returns whether it is gone.
    fn wait_until_off(&self, uuid: &str, until: Deadline) -> bool {
        loop {
            if !self.is_running(uuid) {
                return true;
            }
            if until.has_passed() {
                return false;
            }
            std::thread::sleep(POLL);
        }
    }

    /// Brings the VM down: an ACPI power-button press and up to `grace` for the guest to power
    /// off (skipped when `grace` is zero), then `quit`, then SIGKILL.
    pub fn shut_down(
        &self,
        uuid: &str,
        grace: Duration,
        deadline: Deadline,
    ) -> Result<Shutdown, ActionError> {
        if !self.is_running(uuid) {
            self.clean_runtime_files();
            return Ok(Shutdown::AlreadyOff);
        }
        // Keep time for quit and kill after the grace period.
        let reserve = Duration::from_secs(8);
        if !grace.is_zero()
            && self
                .execute("system_powerdown", None, QMP_WAIT.min(deadline.remaining()))
                .is_ok()
            && self.wait_until_off(
                uuid,
                deadline
                    .keeping(reserve, Duration::from_millis(500))
                    .capped(grace),
            )
        {
            self.clean_runtime_files();
            return Ok(Shutdown::Graceful);
        }
        let quit = self.execute(
            "quit",
            None,
            Duration::from_secs(3).min(deadline.remaining()),
        );
        if quit.is_ok() && self.wait_until_off(uuid, deadline.capped(Duration::from_secs(5))) {
            self.clean_runtime_files();
            return Ok(Shutdown::Quit);
        }
        if let Some(pid) = self.pid(uuid) {
            kill(pid);
            if self.wait_until_off(uuid, deadline.capped(Duration::from_secs(5))) {
                self.clean_runtime_files();
                return Ok(Shutdown::Killed);
            }
        }
        Err(ActionError::Failed(format!(
            "vm {} did not stop: qemu neither quit nor could be killed",
            self.name
        )))
    }
}

/// Whether a QMP error means the monitor is simply gone.
pub fn is_gone(error: &ActionError) -> bool {
    matches!(
        error.root(),
        ActionError::Qmp {
            source: QmpError::NotListening { .. } | QmpError::Closed,
            ..
        }
    )
}

#[cfg(test)]
mod tests {
    use super::process::arguments_match;
    use super::*;

    fn record() -> Record {
        Record {
            name: "i-2-10-VM".into(),
            uuid: "0b3c9f3e-8a51-4c0e-9d07-1f6c7b2e0a11".into(),
            cpus: 2,
            memory_mib: 64,
            nics: vec![NicRecord {
                mac: "02:00:4c:5e:00:0a".into(),
                model: "virtio-net-pci".into(),
            }],
            image: None,
            accel: None,
            created_at: 0,
        }
    }

    #[test]
    fn the_command_line_carries_identity_resources_and_macs() {
        let machine = Machine::new(Path::new("/srv/a,b/state"), "i-2-10-VM");
        let mut plan = LaunchPlan {
            qemu: "/usr/bin/qemu-system-x86_64".into(),
            accel: Accel::Tcg,
            machine: "pc".into(),
            network: NetworkMode::Isolated,
            vnc_listen: "127.0.0.1".into(),
            vnc_port_base: 5900,
            seed: false,
        };
        let strings = |plan: &LaunchPlan| -> Vec<String> {
            machine
                .arguments(&record(), plan)
                .into_iter()
                .map(|a| a.into_string().unwrap())
                .collect()
        };
        let arguments = strings(&plan);
        let after = |flag: &str| {
            arguments
                .windows(2)
                .filter(|pair| pair[0] == flag)
                .map(|pair| pair[1].clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(after("-uuid"), ["0b3c9f3e-8a51-4c0e-9d07-1f6c7b2e0a11"]);
        assert_eq!(after("-accel"), ["tcg"]);
        assert_eq!(after("-smp"), ["2"]);
        assert_eq!(after("-m"), ["64"]);
        assert_eq!(after("-vnc"), ["127.0.0.1:0,to=99,password=on"]);
        assert_eq!(after("-netdev"), ["user,id=net0,restrict=on"]);
        assert!(after("-device")
            .contains(&"virtio-net-pci,netdev=net0,mac=02:00:4c:5e:00:0a".to_string()));
        assert!(after("-drive")[0]
            .starts_with("file=/srv/a,,b/state/vms/i-2-10-VM/disk.qcow2,format=qcow2"));
        assert_eq!(after("-chardev").len(), 3);
        assert!(arguments_match(
            &arguments,
            "0B3C9F3E-8A51-4C0E-9D07-1F6C7B2E0A11"
        ));
        assert!(!arguments_match(&arguments, "another"));
        assert_eq!(after("-drive").len(), 1, "no seed drive unless asked");

        plan.seed = true;
        let with_seed = strings(&plan);
        let drives: Vec<&String> = with_seed
            .windows(2)
            .filter(|pair| pair[0] == "-drive")
            .map(|pair| &pair[1])
            .collect();
        assert_eq!(
            drives[1],
            "file=/srv/a,,b/state/vms/i-2-10-VM/seed.img,format=raw,if=none,id=seed0,readonly=on"
        );
        assert!(with_seed.contains(&"virtio-blk-pci,drive=seed0".to_string()));
    }

    #[test]
    fn the_vnc_port_base_moves_the_displays() {
        let machine = Machine::new(Path::new("/srv/state"), "vm");
        let mut plan = LaunchPlan {
            qemu: "/usr/bin/qemu-system-x86_64".into(),
            accel: Accel::Tcg,
            machine: "pc".into(),
            network: NetworkMode::Isolated,
            vnc_listen: "::1".into(),
            vnc_port_base: 6100,
            seed: false,
        };
        let vnc = |plan: &LaunchPlan| -> String {
            let arguments: Vec<String> = machine
                .arguments(&record(), plan)
                .into_iter()
                .map(|a| a.into_string().unwrap())
                .collect();
            let at = arguments.iter().position(|a| a == "-vnc").unwrap();
            arguments[at + 1].clone()
        };
        assert_eq!(vnc(&plan), "[::1]:200,to=299,password=on");
        plan.vnc_port_base = 65500;
        assert_eq!(vnc(&plan), "[::1]:59600,to=59635,password=on");
    }

    #[test]
    fn long_socket_paths_become_relative() {
        let deep = format!("/tmp/{}", "d".repeat(120));
        let machine = Machine::new(Path::new(&deep), "vm");
        assert_eq!(machine.socket_argument(QMP_SOCKET), "qmp.sock");
        let short = Machine::new(Path::new("/tmp/s"), "vm");
        assert_eq!(short.socket_argument(QMP_SOCKET), "/tmp/s/vms/vm/qmp.sock");
    }

    #[test]
    fn run_states_map_to_power_states() {
        assert_eq!(power_of("running"), PowerState::PowerOn);
        assert_eq!(power_of("paused"), PowerState::PowerOn);
        assert_eq!(power_of("shutdown"), PowerState::PowerOff);
        assert_eq!(power_of("guest-panicked"), PowerState::PowerOff);
        assert_eq!(power_of("something-new"), PowerState::PowerUnknown);
    }

    #[test]
    fn launch_failures_are_classified() {
        let plan = LaunchPlan {
            qemu: "/usr/bin/qemu-system-x86_64".into(),
            accel: Accel::Kvm,
            machine: "pc".into(),
            network: NetworkMode::User,
            vnc_listen: "127.0.0.1".into(),
            vnc_port_base: 5900,
            seed: false,
        };
        let memory = launch_error(
            "vm",
            &plan,
            "qemu-system-x86_64: cannot set up guest memory 'pc.ram': Cannot allocate memory\n",
            "exit status: 1".into(),
        );
        assert!(matches!(memory, ActionError::InsufficientCapacity(_)));
        let ports = launch_error(
            "vm",
            &plan,
            "qemu-system-x86_64: -vnc 127.0.0.1:0,to=99: Failed to find an available port: Address already in use",
            "exit status: 1".into(),
        );
        assert!(matches!(ports, ActionError::InsufficientCapacity(_)));
        let kvm = launch_error(
            "vm",
            &plan,
            "Could not access KVM kernel module: Permission denied\nqemu-system-x86_64: failed to initialize kvm: Permission denied",
            "exit status: 1".into(),
        );
        assert!(is_kvm_failure(&kvm));
        assert_eq!(
            kvm.to_string(),
            "qemu-system-x86_64 failed: Could not access KVM kernel module: Permission denied; qemu-system-x86_64: failed to initialize kvm: Permission denied"
        );
    }
}
