//! VM configuration as Proxmox's schema has it: the value syntaxes (`net<N>`, booleans, sizes,
//! disk slots, names), validation of configuration parameters with disk allocation, and the
//! configuration a clone gets.

use super::cloudinit::{
    attach_drive, is_cloudinit_drive, is_new_cloudinit_drive, validate_cicustom, validate_sshkeys,
};
use super::{random_mac, random_uuid, CloneKind, State, Vm};
use crate::error::ApiError;
use std::collections::BTreeMap;

/// Guest OS types Proxmox VE accepts for `ostype`.
const OS_TYPES: [&str; 13] = [
    "other", "wxp", "w2k", "w2k3", "w2k8", "wvista", "win7", "win8", "win10", "win11", "l24",
    "l26", "solaris",
];

/// A parsed `net<N>` value (`virtio=BC:24:11:00:00:01,bridge=vmbr0,tag=100,firewall=0`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetSpec {
    pub model: String,
    pub mac: Option<String>,
    pub bridge: Option<String>,
    pub tag: Option<u16>,
    pub firewall: bool,
}

const NET_MODELS: [&str; 5] = ["virtio", "e1000", "e1000e", "rtl8139", "vmxnet3"];

impl NetSpec {
    /// Parses Proxmox's property string, with Proxmox's error texts.
    pub fn parse(value: &str) -> Result<NetSpec, String> {
        let mut spec = NetSpec {
            model: String::new(),
            mac: None,
            bridge: None,
            tag: None,
            firewall: false,
        };
        for part in value.split(',').filter(|part| !part.is_empty()) {
            let (key, val) = part.split_once('=').unwrap_or((part, ""));
            match key {
                model if NET_MODELS.contains(&model) => {
                    spec.model = model.to_string();
                    if !val.is_empty() {
                        if !is_mac(val) {
                            return Err(format!("invalid format - value '{val}' does not look like a valid MAC address"));
                        }
                        spec.mac = Some(val.to_ascii_uppercase());
                    }
                }
                "model" => {
                    if !NET_MODELS.contains(&val) {
                        return Err(format!(
                            "invalid format - value '{val}' does not have a valid model"
                        ));
                    }
                    spec.model = val.to_string();
                }
                "macaddr" => {
                    if !is_mac(val) {
                        return Err(format!(
                            "invalid format - value '{val}' does not look like a valid MAC address"
                        ));
                    }
                    spec.mac = Some(val.to_ascii_uppercase());
                }
                "bridge" => spec.bridge = Some(val.to_string()),
                "tag" => match val.parse::<u16>() {
                    Ok(tag) if (1..=4094).contains(&tag) => spec.tag = Some(tag),
                    _ => {
                        return Err(format!(
                            "invalid format - tag: value '{val}' must be between 1 and 4094"
                        ))
                    }
                },
                "firewall" => spec.firewall = parse_bool(val).unwrap_or(false),
                "link_down" | "mtu" | "queues" | "rate" | "trunks" => {}
                other => return Err(format!("invalid format - unknown key '{other}'")),
            }
        }
        if spec.model.is_empty() {
            return Err("invalid format - missing network model".into());
        }
        Ok(spec)
    }
}

fn is_mac(value: &str) -> bool {
    let parts: Vec<&str> = value.split(':').collect();
    parts.len() == 6
        && parts
            .iter()
            .all(|part| part.len() == 2 && part.chars().all(|c| c.is_ascii_hexdigit()))
}

/// `1/0`, `true/false`, `yes/no`, `on/off` as Proxmox accepts for booleans.
pub(crate) fn parse_bool(value: &str) -> Option<bool> {
    match value.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

pub(super) fn parse_size_bytes(value: &str) -> Option<u64> {
    let (number, unit) = value.split_at(
        value
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(value.len()),
    );
    let number: u64 = number.parse().ok()?;
    let factor = match unit {
        "" | "G" => 1 << 30,
        "M" => 1 << 20,
        "K" => 1 << 10,
        "T" => 1 << 40,
        _ => return None,
    };
    Some(number * factor)
}

/// Whether `key` names a disk slot (`scsi0`, `virtio1`, `ide2`, `efidisk0`, ...).
pub(crate) fn is_disk_key(key: &str) -> bool {
    ["scsi", "virtio", "sata", "ide", "efidisk", "tpmstate"]
        .iter()
        .any(|prefix| {
            key.strip_prefix(prefix)
                .is_some_and(|rest| !rest.is_empty() && rest.chars().all(|c| c.is_ascii_digit()))
        })
}

/// Whether `name` is a DNS name as Proxmox's `dns-name` format requires.
pub fn is_dns_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// Whether `name` is a valid snapshot name (Proxmox's `pve-configid`, at most 40 characters).
pub fn is_snapshot_name(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() >= 2
        && name.len() <= 40
        && chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// The configuration a clone of `source` gets: new disks, new MACs, new SMBIOS UUID.
pub(super) fn cloned_config(
    source: &Vm,
    newid: u32,
    name: Option<&str>,
    description: Option<&str>,
    kind: CloneKind,
    storage: Option<&str>,
) -> BTreeMap<String, String> {
    let mut config = source.config.clone();
    config.remove("template");
    let default_name = format!("Copy-of-VM-{}", source.name().unwrap_or("unnamed"));
    config.insert(
        "name".into(),
        name.map(str::to_string).unwrap_or(default_name),
    );
    if let Some(description) = description {
        config.insert("description".into(), description.to_string());
    }
    let mut disk_index = 0;
    for (key, value) in config.iter_mut() {
        if is_disk_key(key) {
            if let Some(cloned) = cloned_disk(value, newid, &mut disk_index, kind, storage) {
                *value = cloned;
            }
        } else if key.starts_with("net") {
            if let Ok(spec) = NetSpec::parse(value) {
                let old = spec.mac.map(|mac| format!("{}={mac}", spec.model));
                if let Some(old) = old {
                    *value = value.replace(&old, &format!("{}={}", spec.model, random_mac()));
                }
            }
        }
    }
    config.insert("smbios1".into(), format!("uuid={}", random_uuid()));
    config.insert("vmgenid".into(), random_uuid());
    config
}

fn cloned_disk(
    value: &str,
    newid: u32,
    disk_index: &mut u32,
    kind: CloneKind,
    storage: Option<&str>,
) -> Option<String> {
    if is_cloudinit_drive(value) {
        // qemu-server allocates a new cloud-init image for the clone, on the target storage.
        let (volume, options) = value.split_once(',').unwrap_or((value, ""));
        let source_storage = volume.split(':').next()?;
        let target = match kind {
            CloneKind::Full => storage.unwrap_or(source_storage),
            CloneKind::Linked => source_storage,
        };
        let options = if options.is_empty() {
            "media=cdrom"
        } else {
            options
        };
        return Some(format!("{target}:vm-{newid}-cloudinit,{options}"));
    }
    if value.contains("media=cdrom") {
        return None;
    }
    let (volume, options) = value.split_once(',').unwrap_or((value, ""));
    let (source_storage, volname) = volume.split_once(':')?;
    let new_volname = format!("vm-{newid}-disk-{disk_index}");
    *disk_index += 1;
    let new_volume = match kind {
        CloneKind::Full => format!("{}:{new_volname}", storage.unwrap_or(source_storage)),
        CloneKind::Linked => format!("{source_storage}:{volname}/{new_volname}"),
    };
    Some(if options.is_empty() {
        new_volume
    } else {
        format!("{new_volume},{options}")
    })
}

/// What converting a VM to a template does to its disks: `vm-<vmid>-disk-<n>` volumes become
/// base images, `base-<vmid>-disk-<n>` (cd-roms, the cloud-init drive included, stay as they
/// are). With `only`, just that disk.
pub(super) fn template_disks(vm: &mut Vm, only: Option<&str>) {
    let from = format!("vm-{}-disk-", vm.vmid);
    let to = format!("base-{}-disk-", vm.vmid);
    for (key, value) in vm.config.iter_mut() {
        if !is_disk_key(key) || value.contains("media=cdrom") {
            continue;
        }
        if only.is_some_and(|only| only != key) {
            continue;
        }
        *value = value.replacen(&from, &to, 1);
    }
}

/// Validates configuration parameters as Proxmox's schema does and allocates disks given as
/// `<storage>:<size in GiB>`. Returns the values to store.
pub(crate) fn validate_config(
    state: &State,
    vmid: u32,
    existing: &BTreeMap<String, String>,
    params: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, ApiError> {
    let mut disk_index = existing
        .values()
        .filter(|value| value.contains(&format!("vm-{vmid}-disk-")))
        .count();
    let mut config = BTreeMap::new();
    for (key, value) in params {
        let stored = match key.as_str() {
            "name" => {
                if !is_dns_name(value) {
                    return Err(ApiError::param(key, "invalid format - value does not look like a valid DNS name"));
                }
                value.clone()
            }
            "cores" | "sockets" | "vcpus" | "numa" | "onboot" | "balloon" | "cpuunits"
            | "template" | "protection" => {
                let number: u64 = value
                    .parse()
                    .map_err(|_| ApiError::param(key, &format!("type check ('integer') failed - got '{value}'")))?;
                if matches!(key.as_str(), "cores" | "sockets" | "vcpus") && number == 0 {
                    return Err(ApiError::param(key, "value must have a minimum value of 1"));
                }
                number.to_string()
            }
            "memory" => {
                let number: u64 = value
                    .trim_start_matches("current=")
                    .parse()
                    .map_err(|_| ApiError::param(key, &format!("type check ('integer') failed - got '{value}'")))?;
                if number < 16 {
                    return Err(ApiError::param(key, "value must have a minimum value of 16"));
                }
                number.to_string()
            }
            "ostype" => {
                if !OS_TYPES.contains(&value.as_str()) {
                    return Err(ApiError::param(key, &format!("value '{value}' does not have a value in the enumeration '{}'", OS_TYPES.join(", "))));
                }
                value.clone()
            }
            "cpu" | "scsihw" | "boot" | "description" | "tags" | "bios" | "machine" | "vga" | "smbios1"
            | "vmgenid" | "ciuser" | "cipassword" | "nameserver" | "searchdomain" | "hookscript"
            | "serial0" | "kvm" | "args" | "citype" => value.clone(),
            "sshkeys" => {
                validate_sshkeys(value)?;
                value.clone()
            }
            "cicustom" => {
                validate_cicustom(state, value)?;
                value.clone()
            }
            net if net.starts_with("net") && net[3..].parse::<u32>().is_ok() => {
                NetSpec::parse(value).map_err(|message| ApiError::param(key, &message))?;
                value.clone()
            }
            ipconfig if ipconfig.starts_with("ipconfig") && ipconfig[8..].parse::<u32>().is_ok() => value.clone(),
            disk if is_disk_key(disk) && is_new_cloudinit_drive(value) => {
                attach_drive(state, vmid, key, value, existing, params)?
            }
            disk if is_disk_key(disk) => validate_disk(state, vmid, key, value, &mut disk_index)?,
            _ => {
                return Err(ApiError::param(
                    key,
                    "property is not defined in schema and the schema does not allow additional properties",
                ))
            }
        };
        config.insert(key.clone(), stored);
    }
    Ok(config)
}

fn validate_disk(
    state: &State,
    vmid: u32,
    key: &str,
    value: &str,
    disk_index: &mut usize,
) -> Result<String, ApiError> {
    let (volume, options) = value.split_once(',').unwrap_or((value, ""));
    if volume == "none" || volume == "cdrom" {
        return Ok(value.to_string());
    }
    let Some((storage_id, spec)) = volume.split_once(':') else {
        return Err(ApiError::param(
            key,
            &format!("invalid format - unable to parse volume ID '{volume}'"),
        ));
    };
    let storage = state
        .storage(storage_id)
        .ok_or_else(|| ApiError::server(format!("storage '{storage_id}' does not exist")))?;
    if options.split(',').any(|option| option == "media=cdrom") {
        if spec != "cloudinit" && !storage.volumes.iter().any(|stored| stored == volume) {
            return Err(ApiError::server(format!(
                "volume '{volume}' does not exist"
            )));
        }
        return Ok(value.to_string());
    }
    if !spec.is_empty() && spec.chars().all(|c| c.is_ascii_digit() || c == '.') {
        if !storage.holds_images() {
            return Err(ApiError::server(format!(
                "storage '{storage_id}' does not support vm images"
            )));
        }
        let size = spec.split('.').next().unwrap_or("0");
        let allocated = format!("{storage_id}:vm-{vmid}-disk-{disk_index}");
        *disk_index += 1;
        let mut stored = allocated;
        if !options.is_empty() {
            stored.push(',');
            stored.push_str(options);
        }
        stored.push_str(&format!(",size={size}G"));
        return Ok(stored);
    }
    Ok(value.to_string())
}
