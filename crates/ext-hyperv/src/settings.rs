//! Reading and validating the payload: connection details, the instance, its disk and NICs.
//!
//! Connection and placement details are looked up at host level first, then extension level;
//! per-instance details (`template_path`, `iso_path`, …) at instance (template/VM) level first,
//! then host, then extension.

use crate::powershell::{Adapter, Disk};
use std::time::Duration;
use trellis_ext_protocol::{ExternalDetails, Payload};
use trellis_winrm::{ClientConfig, TlsVerification};

/// A problem with the invocation, mapped to an exit code by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invalid {
    /// Details (configuration) are missing or wrong.
    Config(String),
    /// The payload or action parameters are wrong.
    Usage(String),
}

fn config(message: impl Into<String>) -> Invalid {
    Invalid::Config(message.into())
}

fn usage(message: impl Into<String>) -> Invalid {
    Invalid::Usage(message.into())
}

/// The most characters Hyper-V accepts in a VM name.
const MAX_VM_NAME: usize = 100;

/// Windows' classic path limit.
const MAX_PATH: usize = 260;

/// How to reach the Hyper-V host.
pub fn client_config(
    details: &ExternalDetails,
    operation_timeout: Duration,
) -> Result<ClientConfig, Invalid> {
    let endpoint = details
        .host_or_extension("url")
        .or_else(|| details.host_or_extension("host"))
        .ok_or_else(|| config("missing detail 'url' (the hyper-v host, host:port or https url)"))?;
    let username = details
        .host_or_extension("username")
        .ok_or_else(|| config("missing detail 'username'"))?;
    let password = details
        .host_or_extension("password")
        .ok_or_else(|| config("missing detail 'password'"))?;
    let mut client = ClientConfig::new(endpoint, username, password);
    client.operation_timeout = operation_timeout;
    let verify = match details.host_or_extension("verify_tls_certificate") {
        None => true,
        Some(value) => parse_bool(value).ok_or_else(|| {
            config(format!(
                "detail 'verify_tls_certificate' must be true or false, not {value:?}"
            ))
        })?,
    };
    client.tls = if verify {
        TlsVerification::Verify {
            extra_roots_pem: details
                .host_or_extension("ca_certificate")
                .map(str::to_string),
        }
    } else {
        TlsVerification::Disabled
    };
    Ok(client)
}

fn parse_bool(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "1" | "on" => Some(true),
        "false" | "no" | "0" | "off" => Some(false),
        _ => None,
    }
}

/// The instance as the host knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    /// CloudStack's internal name (`i-2-10-VM`).
    pub internal_name: String,
    pub uuid: String,
    /// The Hyper-V VM name: `<internal name>-<uuid>`.
    pub vm_name: String,
}

fn is_uuid(text: &str) -> bool {
    text.len() == 36
        && text.chars().enumerate().all(|(i, c)| {
            if [8, 13, 18, 23].contains(&i) {
                c == '-'
            } else {
                c.is_ascii_hexdigit()
            }
        })
}

fn valid_internal_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && name.len() + 37 <= MAX_VM_NAME
}

/// The Hyper-V VM name for an internal name and uuid (both validated).
pub fn vm_name(internal_name: &str, uuid: &str) -> Result<String, Invalid> {
    if !valid_internal_name(internal_name) {
        return Err(usage(format!(
            "invalid instance name {internal_name:?}: use letters, digits, '-', '_' and '.', at most 63 characters"
        )));
    }
    if !is_uuid(uuid) {
        return Err(usage(format!("invalid instance uuid {uuid:?}")));
    }
    Ok(format!("{internal_name}-{}", uuid.to_ascii_lowercase()))
}

/// The instance named by the payload (`cloudstack.vm.details` first, then the top-level keys).
pub fn instance(payload: &Payload) -> Result<Instance, Invalid> {
    let vm = payload.vm.as_ref();
    let internal_name = vm
        .map(|v| v.name.as_str())
        .filter(|n| !n.is_empty())
        .or(payload.virtualmachinename.as_deref())
        .filter(|n| !n.is_empty())
        .ok_or_else(|| {
            usage(
                "the payload names no instance (cloudstack.vm.details.name or virtualmachinename)",
            )
        })?;
    let uuid = vm
        .map(|v| v.uuid.as_str())
        .filter(|u| !u.is_empty())
        .or(payload.virtualmachineid.as_deref())
        .filter(|u| !u.is_empty())
        .ok_or_else(|| {
            usage(
                "the payload has no instance uuid (cloudstack.vm.details.uuid or virtualmachineid)",
            )
        })?;
    let vm_name = vm_name(internal_name, uuid)?;
    Ok(Instance {
        internal_name: internal_name.to_string(),
        uuid: uuid.to_ascii_lowercase(),
        vm_name,
    })
}

/// Splits a Hyper-V VM name made by [`vm_name`] into (internal name, uuid).
pub fn split_vm_name(vm_name: &str) -> Option<(&str, &str)> {
    let split = vm_name.len().checked_sub(37)?;
    let (internal, rest) = vm_name.split_at(split);
    let uuid = rest.strip_prefix('-')?;
    (is_uuid(uuid) && valid_internal_name(internal)).then_some((internal, uuid))
}

/// An instance-level detail: instance, then host, then extension.
fn instance_detail<'a>(details: &'a ExternalDetails, key: &str) -> Option<&'a str> {
    details.vm(key).or_else(|| details.host_or_extension(key))
}

/// A Windows path from the details: a local absolute path (`C:\…`) with no `.` or `..`
/// component, no alternate data stream, no wildcard or control characters, not too long.
///
/// UNC paths (`\\server\share`, including `\\?\` and `\\.\` device paths) are refused: handing one
/// to `Copy-Item` makes the Hyper-V host authenticate over SMB to a server of the caller's choice.
pub fn windows_path(key: &str, value: &str) -> Result<String, Invalid> {
    let value = value.trim();
    if value.starts_with("\\\\") || value.starts_with("//") {
        return Err(config(format!(
            "detail '{key}' must be a local path on the hyper-v host (C:\\…); network (UNC) and device paths are refused, not {value:?}"
        )));
    }
    let bytes: Vec<char> = value.chars().collect();
    let drive = bytes.len() >= 3
        && bytes[0].is_ascii_alphabetic()
        && bytes[1] == ':'
        && matches!(bytes[2], '\\' | '/');
    if !drive {
        return Err(config(format!(
            "detail '{key}' must be an absolute windows path on the hyper-v host (C:\\…), not {value:?}"
        )));
    }
    if let Some(bad) = value
        .chars()
        .find(|c| c.is_control() || matches!(c, '"' | '<' | '>' | '|' | '*' | '?' | '[' | ']'))
    {
        return Err(config(format!(
            "detail '{key}' contains the character {bad:?}, which is not allowed in a path"
        )));
    }
    if value[2..].contains(':') {
        return Err(config(format!(
            "detail '{key}' names an alternate data stream (a ':' after the drive), which is not allowed: {value:?}"
        )));
    }
    if value[3..]
        .split(['\\', '/'])
        .any(|component| component == "." || component == "..")
    {
        return Err(config(format!(
            "detail '{key}' must not contain '.' or '..' components: {value:?}"
        )));
    }
    if value.chars().count() > MAX_PATH {
        return Err(config(format!(
            "detail '{key}' is longer than {MAX_PATH} characters"
        )));
    }
    Ok(value.replace('/', "\\"))
}

/// The directories instance-level image paths (`template_path`, `iso_path`) must lie under:
/// detail `image_roots` at host or extension level (admin-set; several separated by `;`).
pub fn image_roots(details: &ExternalDetails) -> Result<Vec<String>, Invalid> {
    let Some(text) = details.host_or_extension("image_roots") else {
        return Ok(Vec::new());
    };
    text.split([';', '\n'])
        .map(str::trim)
        .filter(|root| !root.is_empty())
        .map(|root| windows_path("image_roots", root))
        .collect()
}

/// Is `path` (validated) inside `directory` (validated)? Case-insensitive, as NTFS is.
fn is_under(path: &str, directory: &str) -> bool {
    let directory = format!("{}\\", directory.trim_end_matches('\\')).to_lowercase();
    path.to_lowercase().starts_with(&directory)
}

/// An image path an instance asks for: a valid local path under one of the admin's
/// `image_roots`, and never inside the instance disk or VM directories (where other tenants'
/// disks live). Short (8.3) names are refused so a root cannot be bypassed by spelling.
pub fn image_path(details: &ExternalDetails, key: &str, value: &str) -> Result<String, Invalid> {
    let path = windows_path(key, value)?;
    if path.contains('~') {
        return Err(config(format!(
            "detail '{key}' must not use short (8.3) names or '~': {path:?}"
        )));
    }
    for private in ["vhd_path", "vm_path"] {
        if let Some(directory) = details.host_or_extension(private) {
            let directory = windows_path(private, directory)?;
            if is_under(&path, &directory) {
                return Err(config(format!(
                    "detail '{key}' ({path:?}) lies inside the instance directory '{private}' ({directory}), which holds other instances' disks: refused"
                )));
            }
        }
    }
    let roots = image_roots(details)?;
    if roots.is_empty() {
        return Err(config(format!(
            "detail '{key}' ({path:?}) cannot be used: no image roots are configured; an administrator sets detail 'image_roots' (directories separated by ';') on the host or extension"
        )));
    }
    if !roots.iter().any(|root| is_under(&path, root)) {
        return Err(config(format!(
            "detail '{key}' ({path:?}) is outside the image roots ({}): refused",
            roots.join("; ")
        )));
    }
    Ok(path)
}

fn join_windows(directory: &str, name: &str) -> String {
    format!("{}\\{name}", directory.trim_end_matches('\\'))
}

/// A virtual switch name: printable, no wildcards.
pub fn switch_name(value: &str) -> Result<String, Invalid> {
    let value = value.trim();
    if value.is_empty() || value.chars().count() > 100 {
        return Err(config(
            "detail 'network_switch' must be 1 to 100 characters",
        ));
    }
    if let Some(bad) = value
        .chars()
        .find(|c| c.is_control() || matches!(c, '*' | '?' | '[' | ']'))
    {
        return Err(config(format!(
            "detail 'network_switch' contains the character {bad:?}, which is not allowed"
        )));
    }
    Ok(value.to_string())
}

/// A snapshot name: letters, digits, spaces and `- _ . : ( ) @ # + , =`, at most 100
/// characters, no leading or trailing space.
pub fn snapshot_name(payload: &Payload) -> Result<String, Invalid> {
    let value = payload
        .parameters
        .as_ref()
        .and_then(|p| p.get("snapshot_name"))
        .and_then(|v| v.as_str())
        .filter(|v| !v.is_empty())
        .ok_or_else(|| usage("missing parameter 'snapshot_name'"))?;
    let allowed = |c: char| {
        c.is_alphanumeric()
            || matches!(
                c,
                ' ' | '-' | '_' | '.' | ':' | '(' | ')' | '@' | '#' | '+' | ',' | '='
            )
    };
    if value.chars().count() > 100 || value.trim() != value || !value.chars().all(allowed) {
        return Err(usage(format!(
            "invalid snapshot name {value:?}: use letters, digits, spaces and - _ . : ( ) @ # + , = (at most 100 characters)"
        )));
    }
    Ok(value.to_string())
}

/// Everything `create` needs besides the instance.
#[derive(Debug)]
pub struct CreatePlan {
    pub switch: String,
    pub vhd: String,
    pub vm_path: Option<String>,
    pub vm_directory: Option<String>,
    pub disk: DiskPlan,
    pub generation: u8,
    pub memory_bytes: u64,
    pub cpus: u32,
    pub secure_boot: bool,
    pub adapters: Vec<Adapter>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiskPlan {
    Template(String),
    Iso { iso: String, size_bytes: u64 },
}

impl CreatePlan {
    pub fn disk(&self) -> Disk<'_> {
        match &self.disk {
            DiskPlan::Template(template) => Disk::Template { template },
            DiskPlan::Iso { iso, size_bytes } => Disk::Iso {
                iso,
                size_bytes: *size_bytes,
            },
        }
    }
}

/// Where the instance's disk lives (`<vhd_path>\<vm name>.vhdx`), if `vhd_path` is set.
pub fn vhd_location(
    details: &ExternalDetails,
    vm_name: &str,
    extension: &str,
) -> Result<Option<String>, Invalid> {
    match details.host_or_extension("vhd_path") {
        Some(directory) => Ok(Some(join_windows(
            &windows_path("vhd_path", directory)?,
            &format!("{vm_name}.{extension}"),
        ))),
        None => Ok(None),
    }
}

/// The VM's configuration directory (`<vm_path>\<vm name>`), if `vm_path` is set.
pub fn vm_directory(
    details: &ExternalDetails,
    vm_name: &str,
) -> Result<(Option<String>, Option<String>), Invalid> {
    match details.host_or_extension("vm_path") {
        Some(directory) => {
            let path = windows_path("vm_path", directory)?;
            let full = join_windows(&path, vm_name);
            Ok((Some(path), Some(full)))
        }
        None => Ok((None, None)),
    }
}

/// `02:00:2f:6e:00:05` (or with dashes, or bare) → `02002F6E0005`.
fn mac_address(text: &str) -> Option<String> {
    let digits: String = text
        .chars()
        .filter(|c| !matches!(c, ':' | '-' | '.'))
        .collect();
    let separators = text.len() - digits.len();
    (digits.len() == 12
        && digits.chars().all(|c| c.is_ascii_hexdigit())
        && (separators == 0 || separators == 5 || separators == 2))
        .then(|| digits.to_ascii_uppercase())
}

/// Builds the create plan from the payload.
pub fn create_plan(payload: &Payload, instance: &Instance) -> Result<CreatePlan, Invalid> {
    let details = payload.details();
    let vm = payload
        .vm
        .as_ref()
        .ok_or_else(|| usage("the payload has no cloudstack.vm.details"))?;
    let switch = details
        .host_or_extension("network_switch")
        .or_else(|| details.host_or_extension("network_bridge"))
        .ok_or_else(|| {
            config(
                "missing detail 'network_switch' (or 'network_bridge'): the hyper-v virtual switch",
            )
        })?;
    let switch = switch_name(switch)?;
    if details.host_or_extension("vhd_path").is_none() {
        return Err(config(
            "missing detail 'vhd_path': the directory for instance disks on the hyper-v host",
        ));
    }
    let template_type =
        instance_detail(&details, "template_type").map(|t| t.trim().to_ascii_lowercase());
    let template_path = instance_detail(&details, "template_path");
    let iso_path = instance_detail(&details, "iso_path");
    let use_iso = match template_type.as_deref() {
        Some("iso") => true,
        Some(_) => false,
        None => template_path.is_none() && iso_path.is_some(),
    };
    let (disk, extension) = if use_iso {
        let iso =
            iso_path.ok_or_else(|| config("missing detail 'iso_path' (template_type is iso)"))?;
        let iso = image_path(&details, "iso_path", iso)?;
        if !iso.to_ascii_lowercase().ends_with(".iso") {
            return Err(config(format!(
                "detail 'iso_path' must name an .iso file, not {iso:?}"
            )));
        }
        let size = instance_detail(&details, "vhd_size_gb")
            .ok_or_else(|| config("missing detail 'vhd_size_gb' (template_type is iso)"))?;
        let size_gb: u64 = size
            .trim()
            .parse()
            .ok()
            .filter(|gb| (1..=65_536).contains(gb))
            .ok_or_else(|| config(format!("detail 'vhd_size_gb' must be a whole number of gigabytes from 1 to 65536, not {size:?}")))?;
        (
            DiskPlan::Iso {
                iso,
                size_bytes: size_gb * 1024 * 1024 * 1024,
            },
            "vhdx",
        )
    } else {
        let template = template_path.ok_or_else(|| {
            config("missing detail 'template_path' (a .vhdx or .vhd on the hyper-v host)")
        })?;
        let template = image_path(&details, "template_path", template)?;
        let lower = template.to_ascii_lowercase();
        let extension = if lower.ends_with(".vhdx") {
            "vhdx"
        } else if lower.ends_with(".vhd") {
            "vhd"
        } else {
            return Err(config(format!(
                "detail 'template_path' must name a .vhdx or .vhd file, not {template:?}"
            )));
        };
        (DiskPlan::Template(template), extension)
    };
    let generation = match instance_detail(&details, "generation") {
        Some(value) => match value.trim() {
            "1" => 1,
            "2" => 2,
            other => {
                return Err(config(format!(
                    "detail 'generation' must be 1 or 2, not {other:?}"
                )))
            }
        },
        None if vm
            .boot_type
            .as_deref()
            .is_some_and(|b| b.eq_ignore_ascii_case("uefi")) =>
        {
            2
        }
        None => 1,
    };
    if generation == 2 && extension == "vhd" {
        return Err(config("generation 2 instances need a .vhdx template"));
    }
    let secure_boot = match instance_detail(&details, "secure_boot") {
        Some(value) => parse_bool(value).ok_or_else(|| {
            config(format!(
                "detail 'secure_boot' must be true or false, not {value:?}"
            ))
        })?,
        None => false,
    };
    let ram = if vm.min_ram > 0 {
        vm.min_ram
    } else {
        vm.max_ram
    };
    if ram <= 0 {
        return Err(usage("the instance has no memory size (minRam)"));
    }
    // Hyper-V wants whole multiples of 2 MiB.
    const TWO_MIB: u64 = 2 * 1024 * 1024;
    let memory_bytes = (ram as u64).div_ceil(TWO_MIB) * TWO_MIB;
    let cpus = u32::try_from(vm.cpus)
        .ok()
        .filter(|c| *c >= 1)
        .ok_or_else(|| usage("the instance has no cpu count (cpus)"))?;
    let mut adapters = Vec::new();
    for (index, nic) in vm.nics.iter().enumerate() {
        let name = format!("NIC{}", index + 1);
        let mac = match nic.mac.as_deref().filter(|m| !m.is_empty()) {
            Some(mac) => Some(mac_address(mac).ok_or_else(|| {
                usage(format!(
                    "nic {} has an invalid mac address {mac:?}",
                    index + 1
                ))
            })?),
            None => None,
        };
        let vlan = match nic.broadcast_uri.as_deref() {
            None | Some("") => None,
            Some(uri) if uri.starts_with("vlan://") => match nic.vlan() {
                None => None,
                Some(id) => Some(
                    id.parse::<u16>()
                        .ok()
                        .filter(|v| (1..=4094).contains(v))
                        .ok_or_else(|| {
                            usage(format!("nic {} has an invalid vlan {id:?}", index + 1))
                        })?,
                ),
            },
            Some(other) => {
                return Err(usage(format!(
                    "nic {}: unsupported broadcast uri {other:?} (only vlan:// is supported)",
                    index + 1
                )))
            }
        };
        adapters.push(Adapter { name, mac, vlan });
    }
    let vhd =
        vhd_location(&details, &instance.vm_name, extension)?.expect("vhd_path checked above");
    let (vm_path, vm_directory) = vm_directory(&details, &instance.vm_name)?;
    Ok(CreatePlan {
        switch,
        vhd,
        vm_path,
        vm_directory,
        disk,
        generation,
        memory_bytes,
        cpus,
        secure_boot,
        adapters,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vm_names_are_internal_name_plus_uuid() {
        let uuid = "1F6C7B2E-0000-4000-8000-000000000001";
        let name = vm_name("i-2-10-VM", uuid).unwrap();
        assert_eq!(name, "i-2-10-VM-1f6c7b2e-0000-4000-8000-000000000001");
        assert_eq!(
            split_vm_name(&name),
            Some(("i-2-10-VM", "1f6c7b2e-0000-4000-8000-000000000001"))
        );
        assert_eq!(split_vm_name("other-vm"), None);
        assert!(vm_name("i-2-10-VM'; Remove-VM x", uuid).is_err());
        assert!(vm_name("i-*", uuid).is_err());
        assert!(vm_name("i-2-10-VM", "not-a-uuid").is_err());
    }

    #[test]
    fn paths_must_be_absolute_and_plain() {
        assert!(windows_path("p", "C:\\Hyper-V\\Disks").is_ok());
        assert!(windows_path("p", "\\\\nas\\share\\disks").is_err());
        assert!(windows_path("p", "//nas/share/disks").is_err());
        assert!(windows_path("p", "\\\\?\\C:\\disks").is_err());
        assert!(windows_path("p", "C:\\Templates\\..\\Hyper-V\\a.vhdx").is_err());
        assert!(windows_path("p", "C:/Templates/../a.vhdx").is_err());
        assert!(windows_path("p", "C:\\Templates\\a.vhdx:secret").is_err());
        assert_eq!(
            windows_path("p", "C:/Templates/a.vhdx").unwrap(),
            "C:\\Templates\\a.vhdx"
        );
        assert!(windows_path("p", "relative\\x").is_err());
        assert!(windows_path("p", "C:\\x*").is_err());
        assert!(windows_path("p", "C:\\a\nb").is_err());
        // Quotes and dollar signs are legal in Windows paths; quoting makes them inert.
        assert!(windows_path("p", "C:\\it's $(here)").is_ok());
    }

    #[test]
    fn image_paths_stay_under_the_admin_roots() {
        let mut host = std::collections::BTreeMap::new();
        host.insert("vhd_path".to_string(), "C:\\Hyper-V\\Disks".to_string());
        let mut details = ExternalDetails {
            host: Some(host.clone()),
            ..ExternalDetails::default()
        };
        let no_roots = image_path(&details, "template_path", "C:\\Templates\\a.vhdx");
        assert!(matches!(no_roots, Err(Invalid::Config(m)) if m.contains("image_roots")));
        host.insert(
            "image_roots".to_string(),
            "C:\\Templates; D:\\ISO".to_string(),
        );
        details.host = Some(host.clone());
        assert!(image_path(&details, "template_path", "C:\\Templates\\a.vhdx").is_ok());
        assert!(image_path(&details, "template_path", "c:\\templates\\sub\\a.vhdx").is_ok());
        assert!(image_path(&details, "iso_path", "D:\\ISO\\x.iso").is_ok());
        // A sibling whose name starts like a root is not under it.
        assert!(image_path(&details, "template_path", "C:\\TemplatesX\\a.vhdx").is_err());
        assert!(image_path(&details, "template_path", "C:\\Hyper-V\\Disks\\vm.vhdx").is_err());
        assert!(image_path(&details, "template_path", "C:\\TEMPLA~1\\a.vhdx").is_err());
        assert!(image_path(&details, "template_path", "\\\\evil\\share\\a.vhdx").is_err());
        // A root that contains the instance disks does not open them up.
        host.insert("image_roots".to_string(), "C:\\".to_string());
        details.host = Some(host);
        let inside = image_path(&details, "template_path", "C:\\Hyper-V\\Disks\\a.vhdx");
        assert!(matches!(inside, Err(Invalid::Config(m)) if m.contains("vhd_path")));
    }

    #[test]
    fn macs_and_booleans() {
        assert_eq!(
            mac_address("02:00:2f:6e:00:05").as_deref(),
            Some("02002F6E0005")
        );
        assert_eq!(
            mac_address("02-00-2F-6E-00-05").as_deref(),
            Some("02002F6E0005")
        );
        assert_eq!(mac_address("02002f6e0005").as_deref(), Some("02002F6E0005"));
        assert_eq!(mac_address("02:00:2f:6e:00"), None);
        assert_eq!(parse_bool("FALSE"), Some(false));
        assert_eq!(parse_bool("maybe"), None);
    }
}
