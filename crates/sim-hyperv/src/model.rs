//! The in-memory Hyper-V host: virtual switches, a file system of disk images, and VMs.
//!
//! Paths are Windows paths and compared case-insensitively, as on NTFS.

use chrono::NaiveDateTime;
use std::collections::{BTreeMap, BTreeSet};
use uuid::Uuid;

/// Power state of a VM (the subset of `Microsoft.HyperV.PowerShell.VMState` the simulator uses).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VmState {
    Off,
    Running,
    Paused,
    Saved,
}

impl VmState {
    /// The name PowerShell prints.
    pub fn name(self) -> &'static str {
        match self {
            VmState::Off => "Off",
            VmState::Running => "Running",
            VmState::Paused => "Paused",
            VmState::Saved => "Saved",
        }
    }
}

impl std::fmt::Display for VmState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A virtual switch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmSwitch {
    pub name: String,
    /// `External`, `Internal` or `Private`.
    pub switch_type: String,
}

/// A file on the host (disk images, ISOs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    /// The path as created.
    pub path: String,
    pub size_bytes: u64,
}

/// A network adapter of a VM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkAdapter {
    pub name: String,
    pub switch_name: Option<String>,
    /// Twelve upper-case hex digits when static; `None` means a dynamic MAC.
    pub static_mac: Option<String>,
    /// Access VLAN id; `None` means untagged.
    pub access_vlan: Option<u16>,
}

/// A checkpoint (snapshot) of a VM.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    pub id: Uuid,
    pub name: String,
    pub creation_time: NaiveDateTime,
    pub parent: Option<String>,
    /// Configuration captured with the checkpoint and put back by a restore.
    pub memory_startup_bytes: u64,
    pub processor_count: u32,
}

/// A virtual machine.
#[derive(Debug, Clone, PartialEq)]
pub struct Vm {
    pub id: Uuid,
    pub name: String,
    pub state: VmState,
    pub generation: u8,
    pub memory_startup_bytes: u64,
    pub processor_count: u32,
    /// The VM's configuration directory (`<Path>\<Name>`).
    pub path: String,
    pub hard_drives: Vec<String>,
    pub dvd_drives: Vec<Option<String>>,
    /// Generation 2 only; new generation 2 VMs start with Secure Boot on.
    pub secure_boot: bool,
    pub first_boot_device: Option<String>,
    pub network_adapters: Vec<NetworkAdapter>,
    pub checkpoints: Vec<Checkpoint>,
    /// How often the VM was started (Start-VM, Restart-VM, Resume-VM excluded).
    pub boot_count: u32,
}

impl Vm {
    /// The adapter named `name` (case-insensitive).
    pub fn adapter(&self, name: &str) -> Option<&NetworkAdapter> {
        self.network_adapters
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
    }

    /// The checkpoint named `name` (case-insensitive).
    pub fn checkpoint(&self, name: &str) -> Option<&Checkpoint> {
        self.checkpoints
            .iter()
            .find(|c| c.name.eq_ignore_ascii_case(name))
    }
}

/// The whole host.
#[derive(Debug, Clone)]
pub struct HyperV {
    pub computer_name: String,
    pub switches: Vec<VmSwitch>,
    /// Files by normalized path.
    pub files: BTreeMap<String, FileEntry>,
    /// Directories by normalized path.
    pub directories: BTreeSet<String>,
    pub vms: Vec<Vm>,
    /// Host logical processors (the maximum processor count of a VM).
    pub logical_processors: u32,
}

/// Normalizes a Windows path for comparison: backslashes, no repeated or trailing separators,
/// lower case.
pub fn normalize_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let replaced = path.trim().replace('/', "\\");
    let unc = replaced.starts_with("\\\\");
    let mut previous_separator = false;
    for (index, c) in replaced.chars().enumerate() {
        if c == '\\' {
            if previous_separator && !(unc && index == 1) {
                continue;
            }
            previous_separator = true;
        } else {
            previous_separator = false;
        }
        out.push(c);
    }
    while out.ends_with('\\') && out.len() > 3 {
        out.pop();
    }
    out.to_lowercase()
}

/// The parent directory of a normalized path.
pub fn parent_directory(path: &str) -> Option<String> {
    let normalized = normalize_path(path);
    let (parent, _) = normalized.rsplit_once('\\')?;
    if parent.len() == 2 && parent.ends_with(':') {
        Some(format!("{parent}\\"))
    } else {
        Some(parent.to_string())
    }
}

/// The directories seeded by [`HyperV::with_defaults`].
pub const DEFAULT_DIRECTORIES: [&str; 6] = [
    "C:\\",
    "C:\\Hyper-V",
    "C:\\Hyper-V\\Virtual Hard Disks",
    "C:\\Hyper-V\\Virtual Machines",
    "C:\\Templates",
    "C:\\ISO",
];

/// The template disk images seeded by [`HyperV::with_defaults`].
pub const DEFAULT_TEMPLATES: [&str; 2] = [
    "C:\\Templates\\ubuntu-24.04.vhdx",
    "C:\\Templates\\windows-2022.vhdx",
];

/// The ISO images seeded by [`HyperV::with_defaults`].
pub const DEFAULT_ISOS: [&str; 1] = ["C:\\ISO\\ubuntu-24.04-live-server-amd64.iso"];

/// The switches seeded by [`HyperV::with_defaults`].
pub const DEFAULT_SWITCHES: [(&str, &str); 2] =
    [("Default Switch", "Internal"), ("External", "External")];

impl HyperV {
    /// An empty host named `computer_name`.
    pub fn new(computer_name: &str) -> HyperV {
        HyperV {
            computer_name: computer_name.to_string(),
            switches: Vec::new(),
            files: BTreeMap::new(),
            directories: BTreeSet::new(),
            vms: Vec::new(),
            logical_processors: 64,
        }
    }

    /// A host with the default switches, directories, templates and ISOs.
    pub fn with_defaults(computer_name: &str) -> HyperV {
        let mut host = HyperV::new(computer_name);
        for (name, switch_type) in DEFAULT_SWITCHES {
            host.add_switch(name, switch_type);
        }
        for directory in DEFAULT_DIRECTORIES {
            host.add_directory(directory);
        }
        for template in DEFAULT_TEMPLATES {
            host.add_file(template, 10 * 1024 * 1024 * 1024);
        }
        for iso in DEFAULT_ISOS {
            host.add_file(iso, 2 * 1024 * 1024 * 1024);
        }
        host
    }

    pub fn add_switch(&mut self, name: &str, switch_type: &str) {
        self.switches.push(VmSwitch {
            name: name.to_string(),
            switch_type: switch_type.to_string(),
        });
    }

    pub fn switch(&self, name: &str) -> Option<&VmSwitch> {
        self.switches
            .iter()
            .find(|s| s.name.eq_ignore_ascii_case(name))
    }

    /// Adds a directory and its ancestors.
    pub fn add_directory(&mut self, path: &str) {
        let mut current = Some(normalize_path(path));
        while let Some(directory) = current {
            current = parent_directory(&directory).filter(|parent| *parent != directory);
            self.directories.insert(directory);
        }
    }

    /// Adds (or replaces) a file, creating its directory.
    pub fn add_file(&mut self, path: &str, size_bytes: u64) {
        if let Some(parent) = parent_directory(path) {
            self.add_directory(&parent);
        }
        self.files.insert(
            normalize_path(path),
            FileEntry {
                path: path.to_string(),
                size_bytes,
            },
        );
    }

    pub fn file(&self, path: &str) -> Option<&FileEntry> {
        self.files.get(&normalize_path(path))
    }

    pub fn file_exists(&self, path: &str) -> bool {
        self.files.contains_key(&normalize_path(path))
    }

    pub fn directory_exists(&self, path: &str) -> bool {
        self.directories.contains(&normalize_path(path))
    }

    /// VMs named `name` (case-insensitive).
    pub fn vm(&self, name: &str) -> Option<&Vm> {
        self.vms
            .iter()
            .find(|vm| vm.name.eq_ignore_ascii_case(name))
    }

    pub fn vm_mut(&mut self, name: &str) -> Option<&mut Vm> {
        self.vms
            .iter_mut()
            .find(|vm| vm.name.eq_ignore_ascii_case(name))
    }

    /// The VM (if any) that has `path` attached as a hard disk or DVD.
    pub fn vm_using_file(&self, path: &str) -> Option<&Vm> {
        let key = normalize_path(path);
        self.vms.iter().find(|vm| {
            vm.hard_drives.iter().any(|d| normalize_path(d) == key)
                || vm
                    .dvd_drives
                    .iter()
                    .flatten()
                    .any(|d| normalize_path(d) == key)
        })
    }

    /// Adds a stopped generation 1 VM with no disks, for tests that need existing VMs.
    pub fn add_vm(&mut self, name: &str) -> &mut Vm {
        self.vms.push(Vm {
            id: Uuid::new_v4(),
            name: name.to_string(),
            state: VmState::Off,
            generation: 1,
            memory_startup_bytes: 1024 * 1024 * 1024,
            processor_count: 1,
            path: format!("C:\\Hyper-V\\Virtual Machines\\{name}"),
            hard_drives: Vec::new(),
            dvd_drives: Vec::new(),
            secure_boot: false,
            first_boot_device: None,
            network_adapters: Vec::new(),
            checkpoints: Vec::new(),
            boot_count: 0,
        });
        self.vms.last_mut().expect("just pushed")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_compare_like_windows() {
        assert_eq!(normalize_path("C:/Hyper-V//Disks\\"), "c:\\hyper-v\\disks");
        assert_eq!(normalize_path("C:\\"), "c:\\");
        assert_eq!(
            normalize_path("\\\\server\\share\\x"),
            "\\\\server\\share\\x"
        );
        assert_eq!(parent_directory("C:\\a\\b.vhdx").as_deref(), Some("c:\\a"));
        assert_eq!(parent_directory("C:\\b.vhdx").as_deref(), Some("c:\\"));
    }

    #[test]
    fn defaults_are_seeded() {
        let host = HyperV::with_defaults("SIM");
        assert!(host.switch("external").is_some());
        assert!(host.file_exists("c:\\templates\\UBUNTU-24.04.vhdx"));
        assert!(host.directory_exists("C:\\Hyper-V\\Virtual Hard Disks"));
        assert!(host.directory_exists("C:\\"));
    }
}
