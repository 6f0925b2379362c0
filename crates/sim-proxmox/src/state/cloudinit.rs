//! Cloud-init as qemu-server has it: the `sshkeys` value (URL-encoded OpenSSH keys, one per line,
//! checked like `pve_verify_urlencoded` and `validate_ssh_public_keys`), `cicustom`, and the
//! cloud-init drive (`<storage>:cloudinit` allocates `vm-<vmid>-cloudinit`, attached as a cdrom;
//! one per VM).

use super::State;
use crate::error::ApiError;
use percent_encoding::percent_decode_str;
use std::collections::BTreeMap;

/// Key types `ssh-keygen -l` accepts in an authorized-keys line.
const KEY_TYPES: [&str; 9] = [
    "ssh-rsa",
    "ssh-dss",
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
    "ssh-ed448",
];

/// Validates an `sshkeys` value: Proxmox's `urlencoded` format (only unreserved characters and
/// `%`), then every non-blank decoded line must be an OpenSSH public key.
pub(crate) fn validate_sshkeys(value: &str) -> Result<(), ApiError> {
    let urlencoded = value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-%_.!~*'()".contains(c));
    if !urlencoded {
        return Err(ApiError::param(
            "sshkeys",
            &format!("invalid urlencoded string: {value}"),
        ));
    }
    let decoded = percent_decode_str(value)
        .decode_utf8()
        .map_err(|_| ApiError::server("SSH public key validation error"))?;
    if decoded
        .lines()
        .filter(|line| !line.trim().is_empty())
        .all(is_public_key_line)
    {
        Ok(())
    } else {
        Err(ApiError::server("SSH public key validation error"))
    }
}

/// Whether `line` holds a public key: a known type followed by a base64 blob (options before
/// the type and a comment after the blob are allowed, as in `authorized_keys`).
fn is_public_key_line(line: &str) -> bool {
    let words: Vec<&str> = line.split_whitespace().collect();
    let Some(position) = words.iter().position(|word| KEY_TYPES.contains(word)) else {
        return false;
    };
    words.get(position + 1).is_some_and(|blob| {
        blob.len() >= 16
            && blob.len() % 4 == 0
            && blob
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '/' || c == '=')
    })
}

/// The keys of an `sshkeys` value, decoded (`None` when it is not valid UTF-8).
pub fn decode_sshkeys(value: &str) -> Option<String> {
    percent_decode_str(value)
        .decode_utf8()
        .ok()
        .map(|text| text.into_owned())
}

/// Validates `cicustom`: `user=`, `network=`, `meta=` and `vendor=` volumes on storages that
/// exist and hold snippets, and volumes that exist there.
pub(crate) fn validate_cicustom(state: &State, value: &str) -> Result<(), ApiError> {
    for part in value.split(',').filter(|part| !part.is_empty()) {
        let (key, volume) = part.split_once('=').unwrap_or((part, ""));
        if !matches!(key, "user" | "network" | "meta" | "vendor") {
            return Err(ApiError::param(
                "cicustom",
                &format!("invalid format - unknown key '{key}'"),
            ));
        }
        let Some((storage_id, _)) = volume.split_once(':') else {
            return Err(ApiError::param(
                "cicustom",
                &format!("invalid format - unable to parse volume ID '{volume}'"),
            ));
        };
        let storage = state
            .storage(storage_id)
            .ok_or_else(|| ApiError::server(format!("storage '{storage_id}' does not exist")))?;
        if !storage.content.iter().any(|content| content == "snippets") {
            return Err(ApiError::server(format!(
                "storage '{storage_id}' does not support snippets"
            )));
        }
        if !storage.volumes.iter().any(|stored| stored == volume) {
            return Err(ApiError::server(format!(
                "volume '{volume}' does not exist"
            )));
        }
    }
    Ok(())
}

/// Whether a drive value's volume is a cloud-init image (qemu-server's `drive_is_cloudinit`:
/// `<storage>:cloudinit`, `vm-<vmid>-cloudinit`, with an optional image format suffix).
pub fn is_cloudinit_drive(value: &str) -> bool {
    let volume = value.split(',').next().unwrap_or_default();
    let Some(name) = volume.rsplit([':', '/']).next() else {
        return false;
    };
    let name = name
        .strip_suffix(".qcow2")
        .or_else(|| name.strip_suffix(".raw"))
        .unwrap_or(name);
    name == "cloudinit"
        || name
            .strip_prefix("vm-")
            .or_else(|| name.strip_prefix("base-"))
            .and_then(|rest| rest.strip_suffix("-cloudinit"))
            .is_some_and(|vmid| !vmid.is_empty() && vmid.chars().all(|c| c.is_ascii_digit()))
}

/// Whether a drive value asks for a new cloud-init drive (`<storage>:cloudinit[,options]`).
pub(crate) fn is_new_cloudinit_drive(value: &str) -> bool {
    value
        .split(',')
        .next()
        .and_then(|volume| volume.split_once(':'))
        .is_some_and(|(_, name)| name == "cloudinit")
}

/// Allocates the cloud-init drive `key = <storage>:cloudinit` asks for, refusing a second one
/// (in the configuration or in the same request) and storages without images.
pub(crate) fn attach_drive(
    state: &State,
    vmid: u32,
    key: &str,
    value: &str,
    existing: &BTreeMap<String, String>,
    params: &BTreeMap<String, String>,
) -> Result<String, ApiError> {
    let (volume, options) = value.split_once(',').unwrap_or((value, ""));
    let storage_id = volume.split(':').next().unwrap_or_default();
    let storage = state
        .storage(storage_id)
        .ok_or_else(|| ApiError::server(format!("storage '{storage_id}' does not exist")))?;
    if !storage.holds_images() {
        return Err(ApiError::server(format!(
            "storage '{storage_id}' does not support vm images"
        )));
    }
    let attached_elsewhere = existing
        .iter()
        .chain(params.iter())
        .find(|(other, other_value)| {
            other.as_str() != key && super::is_disk_key(other) && is_cloudinit_drive(other_value)
        });
    if let Some((other, _)) = attached_elsewhere {
        return Err(ApiError::server(format!(
            "{key} - cloud-init drive is already attached at '{other}'"
        )));
    }
    let allocated = format!("{storage_id}:vm-{vmid}-cloudinit");
    if existing
        .get(key)
        .is_some_and(|current| current.split(',').next() == Some(allocated.as_str()))
    {
        return Err(ApiError::server(format!(
            "unable to create image: volume '{allocated}' already exists"
        )));
    }
    let mut stored = allocated;
    for option in options
        .split(',')
        .filter(|option| !option.is_empty() && !option.starts_with("media="))
    {
        stored.push(',');
        stored.push_str(option);
    }
    stored.push_str(",media=cdrom");
    Ok(stored)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cloudinit_volumes_are_recognised() {
        for drive in [
            "local-lvm:cloudinit",
            "local-lvm:vm-100-cloudinit,media=cdrom",
            "local:100/vm-100-cloudinit.qcow2,media=cdrom",
            "local-lvm:base-9001-cloudinit,media=cdrom",
        ] {
            assert!(is_cloudinit_drive(drive), "{drive}");
        }
        for drive in [
            "local-lvm:vm-100-disk-0,size=32G",
            "local:iso/cloudinit.iso,media=cdrom",
            "none,media=cdrom",
        ] {
            assert!(!is_cloudinit_drive(drive), "{drive}");
        }
    }

    #[test]
    fn sshkeys_must_be_urlencoded_keys() {
        let key =
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";
        let encoded: String =
            percent_encoding::utf8_percent_encode(key, percent_encoding::NON_ALPHANUMERIC)
                .to_string();
        assert!(validate_sshkeys(&encoded).is_ok());
        assert_eq!(validate_sshkeys(key).unwrap_err().status, 400);
        assert_eq!(
            validate_sshkeys("not%20a%20key").unwrap_err().message,
            "SSH public key validation error"
        );
    }
}
