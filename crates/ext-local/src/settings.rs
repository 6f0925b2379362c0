//! What the extension reads from the payload's details and from its environment.
//!
//! Two kinds of keys, because instance-level details can be set by whoever deploys an instance:
//!
//! - **machine keys** come from the host's details, else the extension's: `state_dir`,
//!   `qemu_binary`, `qemu_img_binary`, `accel`, `machine`, `network`, `bridge`, `vnc_listen`,
//!   `vnc_port_base`, `console_host`, `image_dirs`, `max_disk_size_gb`. They choose programs, paths and host
//!   resources, so an instance cannot override them.
//! - **instance keys** come from the instance (`externaldetails.virtualmachine`: template,
//!   offering and instance details), else the host, else the extension: `image`,
//!   `disk_size_gb`, `nic_model`, `stop_grace_seconds`. Images are confined to the image
//!   directories.

use crate::error::ActionError;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;
use trellis_ext_protocol::ExternalDetails;

/// Environment variable naming the state directory (used when running outside Trellis, which
/// clears the environment of extensions).
pub const ENV_STATE_DIR: &str = "TRELLIS_LOCAL_STATE_DIR";

/// Searched when `PATH` is not set.
pub const DEFAULT_SEARCH_PATH: &str =
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Size of a blank disk when nothing says otherwise.
pub const DEFAULT_DISK_SIZE_GB: u64 = 1;

/// Largest disk an instance may ask for unless `max_disk_size_gb` says otherwise.
pub const DEFAULT_MAX_DISK_SIZE_GB: u64 = 512;

/// How long `stop` waits for the guest to power off after the ACPI request.
pub const DEFAULT_STOP_GRACE: Duration = Duration::from_secs(10);

/// Network cards QEMU may emulate for an instance.
pub const NIC_MODELS: [&str; 4] = ["virtio-net-pci", "e1000", "e1000e", "rtl8139"];

/// What the process environment contributes.
#[derive(Debug, Clone, Default)]
pub struct Environment {
    /// `TRELLIS_LOCAL_STATE_DIR` (relative to the working directory).
    pub state_dir: Option<String>,
    /// `PATH`.
    pub path: Option<String>,
    /// The directory holding the executable.
    pub extension_dir: Option<PathBuf>,
    /// The working directory.
    pub working_dir: Option<PathBuf>,
}

impl Environment {
    /// The environment of the running process.
    pub fn from_process() -> Environment {
        Environment {
            state_dir: std::env::var(ENV_STATE_DIR).ok().filter(|v| !v.is_empty()),
            path: std::env::var("PATH").ok().filter(|v| !v.is_empty()),
            extension_dir: std::env::current_exe()
                .ok()
                .and_then(|exe| exe.parent().map(Path::to_path_buf)),
            working_dir: std::env::current_dir().ok(),
        }
    }
}

/// Which accelerator to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccelChoice {
    /// KVM when a probe shows it works, else TCG.
    Auto,
    Kvm,
    Tcg,
}

/// How an instance's NICs reach a network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetworkMode {
    /// QEMU user-mode networking (NAT, no privileges needed).
    User,
    /// User-mode networking with `restrict=on`: the guest reaches neither the host nor beyond.
    Isolated,
    /// A host bridge, attached by QEMU's setuid bridge program (allowed in `/etc/qemu/bridge.conf`).
    Bridge(String),
}

impl NetworkMode {
    pub fn name(&self) -> &str {
        match self {
            NetworkMode::User => "user",
            NetworkMode::Isolated => "isolated",
            NetworkMode::Bridge(_) => "bridge",
        }
    }
}

/// The resolved settings of one invocation.
#[derive(Debug, Clone)]
pub struct Settings {
    details: ExternalDetails,
    search_path: String,
    extension_dir: PathBuf,
    /// Where the instances' directories live.
    pub state_dir: PathBuf,
}

impl Settings {
    pub fn new(details: ExternalDetails, environment: &Environment) -> Settings {
        let extension_dir = environment
            .extension_dir
            .clone()
            .or_else(|| std::env::current_dir().ok())
            .unwrap_or_else(|| PathBuf::from("."));
        let machine = |key: &str| details.host_or_extension(key).map(str::trim);
        let state_dir = match (environment.state_dir.as_deref(), machine("state_dir")) {
            (Some(dir), _) => environment
                .working_dir
                .as_deref()
                .unwrap_or(&extension_dir)
                .join(dir),
            (None, Some(dir)) => extension_dir.join(dir),
            (None, None) => extension_dir.join("state"),
        };
        let state_dir: PathBuf = state_dir
            .components()
            .filter(|c| !matches!(c, Component::CurDir))
            .collect();
        Settings {
            search_path: environment
                .path
                .clone()
                .unwrap_or_else(|| DEFAULT_SEARCH_PATH.to_string()),
            extension_dir,
            state_dir,
            details,
        }
    }

    /// A machine key: host, else extension.
    fn machine(&self, key: &str) -> Option<&str> {
        self.details
            .host_or_extension(key)
            .map(str::trim)
            .filter(|v| !v.is_empty())
    }

    /// An instance key: instance, else host, else extension.
    fn instance(&self, key: &str) -> Option<&str> {
        self.details
            .vm(key)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .or_else(|| self.machine(key))
    }

    /// The `qemu-system-x86_64` to run.
    pub fn qemu(&self) -> Result<PathBuf, ActionError> {
        self.program("qemu_binary", "qemu-system-x86_64", "qemu-system-x86")
    }

    /// The `qemu-img` to run.
    pub fn qemu_img(&self) -> Result<PathBuf, ActionError> {
        self.program("qemu_img_binary", "qemu-img", "qemu-utils")
    }

    fn program(
        &self,
        detail: &'static str,
        program: &'static str,
        package: &'static str,
    ) -> Result<PathBuf, ActionError> {
        if let Some(named) = self.machine(detail) {
            let path = self.extension_dir.join(named);
            return if is_executable(&path) {
                Ok(path)
            } else {
                Err(ActionError::Config(format!(
                    "the {detail} detail names {}, which is not an executable file",
                    path.display()
                )))
            };
        }
        find_program(program, &self.search_path).ok_or_else(|| ActionError::ProgramMissing {
            program,
            package,
            detail,
            path: self.search_path.clone(),
        })
    }

    pub fn accel(&self) -> Result<AccelChoice, ActionError> {
        match self
            .machine("accel")
            .unwrap_or("auto")
            .to_ascii_lowercase()
            .as_str()
        {
            "auto" => Ok(AccelChoice::Auto),
            "kvm" => Ok(AccelChoice::Kvm),
            "tcg" => Ok(AccelChoice::Tcg),
            other => Err(ActionError::Config(format!(
                "invalid accel detail '{other}': use auto, kvm or tcg"
            ))),
        }
    }

    /// The QEMU machine type.
    pub fn machine_type(&self) -> Result<String, ActionError> {
        let machine = self.machine("machine").unwrap_or("pc");
        if machine.is_empty()
            || !machine
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
        {
            return Err(ActionError::Config(format!(
                "invalid machine detail '{machine}'"
            )));
        }
        Ok(machine.to_string())
    }

    pub fn network(&self) -> Result<NetworkMode, ActionError> {
        match self
            .machine("network")
            .unwrap_or("user")
            .to_ascii_lowercase()
            .as_str()
        {
            "user" => Ok(NetworkMode::User),
            "isolated" => Ok(NetworkMode::Isolated),
            "bridge" => {
                let bridge = self.machine("bridge").ok_or_else(|| {
                    ActionError::Config(
                        "network is bridge but the bridge detail (a host bridge name) is missing"
                            .into(),
                    )
                })?;
                if !is_plain_name(bridge) {
                    return Err(ActionError::Config(format!(
                        "invalid bridge detail '{bridge}'"
                    )));
                }
                Ok(NetworkMode::Bridge(bridge.to_string()))
            }
            other => Err(ActionError::Config(format!(
                "invalid network detail '{other}': use user, isolated or bridge"
            ))),
        }
    }

    /// The address VNC listens on.
    pub fn vnc_listen(&self) -> Result<String, ActionError> {
        let listen = self.machine("vnc_listen").unwrap_or("127.0.0.1");
        if listen.parse::<std::net::IpAddr>().is_err() {
            return Err(ActionError::Config(format!(
                "invalid vnc_listen detail '{listen}': use an ip address"
            )));
        }
        Ok(listen.to_string())
    }

    /// The first port QEMU may give a VM's VNC server: the `vnc_port_base` detail, default
    /// 5900. QEMU takes the first free port of the 100 from there.
    pub fn vnc_port_base(&self) -> Result<u16, ActionError> {
        let Some(text) = self.machine("vnc_port_base") else {
            return Ok(crate::machine::VNC_DISPLAY_ZERO_PORT);
        };
        text.parse::<u16>()
            .ok()
            .filter(|port| *port >= crate::machine::VNC_DISPLAY_ZERO_PORT)
            .ok_or_else(|| {
                ActionError::Config(format!(
                    "invalid vnc_port_base detail '{text}': use a port from 5900 to 65535 (QEMU numbers VNC displays from 5900)"
                ))
            })
    }

    /// The host a console client should connect to.
    pub fn console_host(&self) -> Option<String> {
        self.machine("console_host").map(str::to_string)
    }

    pub fn nic_model(&self) -> Result<String, ActionError> {
        let model = self.instance("nic_model").unwrap_or(NIC_MODELS[0]);
        if NIC_MODELS.contains(&model) {
            Ok(model.to_string())
        } else {
            Err(ActionError::Config(format!(
                "invalid nic_model detail '{model}': use one of {}",
                NIC_MODELS.join(", ")
            )))
        }
    }

    pub fn stop_grace(&self) -> Result<Duration, ActionError> {
        match self.instance("stop_grace_seconds") {
            None => Ok(DEFAULT_STOP_GRACE),
            Some(text) => text
                .parse::<u64>()
                .ok()
                .filter(|seconds| *seconds <= 3600)
                .map(Duration::from_secs)
                .ok_or_else(|| {
                    ActionError::Config(format!(
                        "invalid stop_grace_seconds detail '{text}': use whole seconds, at most 3600"
                    ))
                }),
        }
    }

    /// The disk size asked for, in GiB, if any.
    pub fn disk_size_gb(&self) -> Result<Option<u64>, ActionError> {
        let maximum = match self.machine("max_disk_size_gb") {
            None => DEFAULT_MAX_DISK_SIZE_GB,
            Some(text) => text.parse::<u64>().map_err(|_| {
                ActionError::Config(format!("invalid max_disk_size_gb detail '{text}'"))
            })?,
        };
        let Some(text) = self.instance("disk_size_gb") else {
            return Ok(None);
        };
        match text.parse::<u64>() {
            Ok(size) if size >= 1 && size <= maximum => Ok(Some(size)),
            _ => Err(ActionError::Config(format!(
                "invalid disk_size_gb detail '{text}': use whole GiB from 1 to {maximum}"
            ))),
        }
    }

    /// The directories images may come from: `image_dirs` (separated by `:` or `,`, relative to
    /// the state directory), else `<state dir>/images`.
    pub fn image_dirs(&self) -> Vec<PathBuf> {
        match self.machine("image_dirs") {
            Some(list) => list
                .split([':', ','])
                .map(str::trim)
                .filter(|entry| !entry.is_empty())
                .map(|entry| self.state_dir.join(entry))
                .collect(),
            None => vec![self.state_dir.join("images")],
        }
    }

    /// The base image the instance's disk is an overlay of, if the `image` detail names one.
    /// A relative name is looked up in the image directories in order; an absolute one must lie
    /// inside one of them.
    pub fn image(&self) -> Result<Option<PathBuf>, ActionError> {
        let Some(name) = self.instance("image") else {
            return Ok(None);
        };
        let dirs = self.image_dirs();
        let named = Path::new(name);
        let candidate = if named.is_absolute() {
            named.to_path_buf()
        } else {
            if named
                .components()
                .any(|c| !matches!(c, Component::Normal(_)))
            {
                return Err(ActionError::Config(format!(
                    "invalid image detail '{name}': use a file name inside the image directories or an absolute path"
                )));
            }
            dirs.iter()
                .map(|dir| dir.join(named))
                .find(|path| path.exists())
                .unwrap_or_else(|| dirs[0].join(named))
        };
        if !candidate.is_file() {
            return Err(ActionError::ImageMissing { path: candidate });
        }
        let canonical = candidate.canonicalize().map_err(|source| {
            ActionError::io(format!("resolve {}", candidate.display()), source)
        })?;
        let allowed = dirs.iter().any(|dir| {
            dir.canonicalize()
                .is_ok_and(|dir| canonical.starts_with(dir))
        });
        if !allowed {
            let listed: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
            return Err(ActionError::Config(format!(
                "image {} is outside the image directories ({}); copy it there or add its directory to the image_dirs detail",
                canonical.display(),
                listed.join(", ")
            )));
        }
        Ok(Some(canonical))
    }
}

/// Whether `name` is safe as a file name and as a QEMU option value.
pub fn is_plain_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && !name.starts_with(['.', '-'])
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The first executable `program` on the `:`-separated `search_path`.
pub fn find_program(program: &str, search_path: &str) -> Option<PathBuf> {
    search_path
        .split(':')
        .filter(|dir| !dir.is_empty())
        .map(|dir| Path::new(dir).join(program))
        .find(|path| is_executable(path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn map(pairs: &[(&str, &str)]) -> Option<BTreeMap<String, String>> {
        Some(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    fn environment(dir: &Path) -> Environment {
        Environment {
            state_dir: None,
            path: Some("/nonexistent".into()),
            extension_dir: Some(dir.to_path_buf()),
            working_dir: Some(PathBuf::from("/srv/operator")),
        }
    }

    #[test]
    fn the_state_dir_comes_from_the_environment_then_details_then_next_to_the_binary() {
        let dir = Path::new("/opt/ext/local");
        let plain = Settings::new(ExternalDetails::default(), &environment(dir));
        assert_eq!(plain.state_dir, dir.join("state"));
        let details = ExternalDetails {
            extension: map(&[("state_dir", "/var/lib/trellis-local")]),
            ..Default::default()
        };
        let detailed = Settings::new(details.clone(), &environment(dir));
        assert_eq!(detailed.state_dir, Path::new("/var/lib/trellis-local"));
        let mut env = environment(dir);
        env.state_dir = Some("/run/x".into());
        assert_eq!(
            Settings::new(details.clone(), &env).state_dir,
            Path::new("/run/x")
        );
        env.state_dir = Some("./vms".into());
        assert_eq!(
            Settings::new(details, &env).state_dir,
            Path::new("/srv/operator/vms")
        );
    }

    #[test]
    fn instance_details_cannot_choose_programs_or_paths() {
        let details = ExternalDetails {
            virtualmachine: map(&[
                ("qemu_binary", "/bin/sh"),
                ("state_dir", "/"),
                ("network", "bridge"),
                ("disk_size_gb", "3"),
            ]),
            ..Default::default()
        };
        let settings = Settings::new(details, &environment(Path::new("/opt")));
        assert_eq!(settings.state_dir, Path::new("/opt/state"));
        assert_eq!(settings.network().unwrap(), NetworkMode::User);
        assert!(matches!(
            settings.qemu(),
            Err(ActionError::ProgramMissing {
                package: "qemu-system-x86",
                ..
            })
        ));
        assert_eq!(settings.disk_size_gb().unwrap(), Some(3));
    }

    #[test]
    fn the_vnc_port_base_is_a_machine_detail_from_5900() {
        let dir = Path::new("/opt/ext/local");
        let plain = Settings::new(ExternalDetails::default(), &environment(dir));
        assert_eq!(plain.vnc_port_base().unwrap(), 5900);
        let on_host = |value: &str| {
            Settings::new(
                ExternalDetails {
                    host: map(&[("vnc_port_base", value)]),
                    virtualmachine: map(&[("vnc_port_base", "7000")]),
                    ..Default::default()
                },
                &environment(dir),
            )
        };
        assert_eq!(on_host("6100").vnc_port_base().unwrap(), 6100);
        for bad in ["5899", "70000", "x"] {
            assert!(on_host(bad).vnc_port_base().is_err(), "{bad}");
        }
        let instance_only = Settings::new(
            ExternalDetails {
                virtualmachine: map(&[("vnc_port_base", "7000")]),
                ..Default::default()
            },
            &environment(dir),
        );
        assert_eq!(instance_only.vnc_port_base().unwrap(), 5900);
    }

    #[test]
    fn values_are_validated() {
        let details = ExternalDetails {
            host: map(&[("accel", "fast"), ("max_disk_size_gb", "10")]),
            virtualmachine: map(&[
                ("disk_size_gb", "11"),
                ("nic_model", "ne2k,x=1"),
                ("stop_grace_seconds", "-1"),
            ]),
            ..Default::default()
        };
        let settings = Settings::new(details, &environment(Path::new("/opt")));
        assert!(settings.accel().is_err());
        assert!(settings.disk_size_gb().is_err());
        assert!(settings.nic_model().is_err());
        assert!(settings.stop_grace().is_err());
    }

    #[test]
    fn images_stay_inside_the_image_directories() {
        let root = tempfile::tempdir().unwrap();
        let images = root.path().join("state/images");
        std::fs::create_dir_all(&images).unwrap();
        std::fs::write(images.join("base.qcow2"), b"x").unwrap();
        std::fs::write(root.path().join("secret"), b"x").unwrap();
        let with_image = |image: &str| {
            let details = ExternalDetails {
                virtualmachine: map(&[("image", image)]),
                ..Default::default()
            };
            Settings::new(details, &environment(root.path())).image()
        };
        assert_eq!(
            with_image("base.qcow2").unwrap().unwrap(),
            images.join("base.qcow2").canonicalize().unwrap()
        );
        assert!(matches!(
            with_image("missing.qcow2"),
            Err(ActionError::ImageMissing { .. })
        ));
        assert!(matches!(
            with_image("../secret"),
            Err(ActionError::Config(_))
        ));
        let outside = root.path().join("secret");
        assert!(matches!(
            with_image(outside.to_str().unwrap()),
            Err(ActionError::Config(_))
        ));
        let inside = images.join("base.qcow2");
        assert!(with_image(inside.to_str().unwrap()).unwrap().is_some());
    }

    #[test]
    fn plain_names() {
        assert!(is_plain_name("i-2-10-VM"));
        assert!(!is_plain_name("../x"));
        assert!(!is_plain_name("a,b"));
        assert!(!is_plain_name(".hidden"));
        assert!(!is_plain_name(""));
    }
}
