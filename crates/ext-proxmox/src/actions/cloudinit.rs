//! Cloud-init: the instance's SSH keys (and a login user, from a detail) reach the guest through
//! Proxmox's own cloud-init support — a cloud-init drive (`ide2: <storage>:cloudinit`) that
//! Proxmox regenerates at every start from `sshkeys` and `ciuser` in the VM's configuration.
//!
//! User data cannot be delivered: Proxmox builds the user-data document itself, and custom
//! documents (`cicustom user=<storage>:snippets/<file>`) must be files on a snippets storage,
//! which its API has no way to upload. When the payload carries user data, the action still
//! succeeds (keys are delivered), says so in its reply (`warnings`) and writes the warning to
//! stderr, which the server logs.

use super::vm_path;
use crate::client::PveClient;
use crate::error::ActionError;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use reqwest::Method;
use serde_json::{json, Value};
use trellis_ext_protocol::Payload;

/// The detail carrying the instance's SSH public keys, one OpenSSH key per line.
pub const DETAIL_SSH_PUBLIC_KEY: &str = "SSH.PublicKey";

/// The detail naming the storage of the cloud-init drive.
pub const STORAGE_DETAIL: &str = "cloudinit_storage";

/// The detail naming the guest user the keys are installed for (Proxmox's `ciuser`).
pub const USER_DETAIL: &str = "cloudinit_user";

/// The storage of the cloud-init drive when no detail names one.
pub const DEFAULT_STORAGE: &str = "local-lvm";

/// Slots tried for a new cloud-init drive, in order (Proxmox's own tools use `ide2`).
const DRIVE_SLOTS: [&str; 4] = ["ide2", "ide0", "ide1", "ide3"];

/// What `sshkeys` may keep unencoded: Proxmox's `urlencoded` format accepts only RFC 3986
/// unreserved characters besides `%`.
const SSHKEYS_KEEP: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Why user data never reaches a Proxmox guest.
pub const USER_DATA_NOT_DELIVERED: &str = "the user data was not delivered to the guest: \
     proxmox builds the cloud-init user data itself and its api cannot upload a custom document \
     (cicustom snippets are files an operator places on a snippets storage); \
     only ssh keys and the cloudinit_user detail are";

/// Why SSH keys did not reach a guest: a VM installed from an ISO image has no cloud-init drive
/// (and an installer would not read one).
pub const KEYS_NOT_DELIVERED: &str = "the ssh keys were not delivered to the guest: \
     the vm has no cloud-init drive (an iso install, or a vm made without one)";

/// What the payload asks cloud-init to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloudInit {
    /// OpenSSH public keys, one line each.
    pub keys: Vec<String>,
    /// `ciuser`, from the `cloudinit_user` detail.
    pub user: Option<String>,
    /// Storage of the cloud-init drive.
    pub storage: String,
    /// Whether the payload carries user data (which cannot be delivered).
    pub has_user_data: bool,
}

/// `sshkeys` as Proxmox wants it: the keys joined by newlines, every byte but the unreserved
/// ones percent-encoded (spaces as `%20`, never `+`).
pub fn encode_keys(keys: &[String]) -> String {
    utf8_percent_encode(&keys.join("\n"), SSHKEYS_KEEP).to_string()
}

fn decode_keys(value: &str) -> Vec<String> {
    percent_encoding::percent_decode_str(value)
        .decode_utf8_lossy()
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(str::to_string)
        .collect()
}

/// Whether a drive value is a cloud-init image (`…:cloudinit`, `…vm-<vmid>-cloudinit[.fmt]`).
fn is_cloudinit_drive(value: &str) -> bool {
    let volume = value.split(',').next().unwrap_or_default();
    let name = volume.rsplit([':', '/']).next().unwrap_or_default();
    let name = name.split('.').next().unwrap_or_default();
    name == "cloudinit" || name.ends_with("-cloudinit")
}

/// Whether a VM configuration has a cloud-init drive in any slot.
pub fn has_drive(config: &Value) -> bool {
    config.as_object().is_some_and(|object| {
        object.iter().any(|(key, value)| {
            is_drive_slot(key) && value.as_str().is_some_and(is_cloudinit_drive)
        })
    })
}

fn is_drive_slot(key: &str) -> bool {
    ["ide", "scsi", "sata", "virtio"].iter().any(|prefix| {
        key.strip_prefix(prefix)
            .is_some_and(|rest| !rest.is_empty() && rest.chars().all(|c| c.is_ascii_digit()))
    })
}

impl CloudInit {
    /// Reads the keys (`SSH.PublicKey`), user data (`userData`), and the `cloudinit_user` and
    /// `cloudinit_storage` details (instance level first, then host, then extension; the storage
    /// falls back to the `storage` detail, then `local-lvm`).
    pub fn from_payload(payload: &Payload) -> CloudInit {
        let details = payload.details();
        let keys = payload
            .vm
            .as_ref()
            .and_then(|vm| vm.details.get(DETAIL_SSH_PUBLIC_KEY))
            .map(|keys| {
                keys.lines()
                    .map(str::trim)
                    .filter(|key| !key.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        let detail = |key: &str| {
            details
                .vm(key)
                .or_else(|| details.host_or_extension(key))
                .map(str::trim)
                .filter(|value| !value.is_empty())
                .map(str::to_string)
        };
        let has_user_data = payload
            .vm
            .as_ref()
            .and_then(|vm| vm.user_data.as_deref())
            .is_some_and(|data| !data.trim().is_empty());
        CloudInit {
            keys,
            user: detail(USER_DETAIL),
            storage: detail(STORAGE_DETAIL)
                .or_else(|| detail("storage"))
                .unwrap_or_else(|| DEFAULT_STORAGE.to_string()),
            has_user_data,
        }
    }

    /// Whether there is anything to configure.
    pub fn wants_configuration(&self) -> bool {
        !self.keys.is_empty() || self.user.is_some()
    }

    /// The configuration parameters that bring the VM's `config` in line: a cloud-init drive
    /// when it has none (with `attach`; without, nothing is done for a VM without one),
    /// `sshkeys` and `ciuser` when they differ. Empty when nothing changes.
    pub fn params(
        &self,
        config: &Value,
        attach: bool,
    ) -> Result<Vec<(String, String)>, ActionError> {
        let mut params = Vec::new();
        if !self.wants_configuration() {
            return Ok(params);
        }
        let object = config.as_object().cloned().unwrap_or_default();
        let text = |key: &str| object.get(key).and_then(Value::as_str).map(str::to_string);
        if !has_drive(config) {
            if !attach {
                return Ok(params);
            }
            let slot = DRIVE_SLOTS
                .iter()
                .find(|slot| !object.contains_key(**slot))
                .ok_or_else(|| {
                    ActionError::Failed(format!(
                        "cannot attach a cloud-init drive for the ssh keys: slots {} are all taken",
                        DRIVE_SLOTS.join(", ")
                    ))
                })?;
            params.push((slot.to_string(), format!("{}:cloudinit", self.storage)));
        }
        if !self.keys.is_empty()
            && text("sshkeys").map(|value| decode_keys(&value)) != Some(self.keys.clone())
        {
            params.push(("sshkeys".to_string(), encode_keys(&self.keys)));
        }
        if let Some(user) = &self.user {
            if text("ciuser").as_deref() != Some(user.as_str()) {
                params.push(("ciuser".to_string(), user.clone()));
            }
        }
        Ok(params)
    }

    /// Before a `start`: brings `sshkeys` and `ciuser` of a VM that has a cloud-init drive in
    /// line with the payload (keys changed by the server while the instance was stopped); Proxmox
    /// regenerates the drive when the VM starts. Returns whether the VM has a cloud-init drive.
    pub fn update(&self, client: &PveClient, vmid: u32) -> Result<bool, ActionError> {
        if !self.wants_configuration() {
            return Ok(true);
        }
        let path = format!("{}/config", vm_path(client, vmid));
        let config = client.get(&path, &[])?;
        if !has_drive(&config) {
            return Ok(false);
        }
        let params = self.params(&config, false)?;
        if params.is_empty() {
            return Ok(true);
        }
        let borrowed: Vec<(&str, String)> = params
            .iter()
            .map(|(key, value)| (key.as_str(), value.clone()))
            .collect();
        client
            .run_task(Method::POST, &path, &borrowed)
            .map_err(|error| error.context(format!("cannot configure cloud-init of vm {vmid}")))?;
        Ok(true)
    }

    /// Adds what happened to the keys and user data to an action's reply, and warns on stderr
    /// (logged by the server) about user data that was not delivered.
    pub fn report(&self, reply: &mut Value, delivered: bool) {
        if !self.keys.is_empty() || self.user.is_some() || self.has_user_data {
            let mut summary = json!({"ssh_keys": self.keys.len()});
            if let Some(user) = &self.user {
                summary["user"] = Value::String(user.clone());
            }
            if !delivered && self.wants_configuration() {
                summary["delivered"] = Value::Bool(false);
            }
            if self.has_user_data {
                summary["user_data"] = Value::String("not delivered".into());
            }
            reply["cloudinit"] = summary;
        }
        if !delivered && self.wants_configuration() {
            warn(reply, KEYS_NOT_DELIVERED);
        }
        if self.has_user_data {
            warn(reply, USER_DATA_NOT_DELIVERED);
        }
    }
}

/// Adds `message` to the reply's `warnings` and writes it to stderr.
pub fn warn(reply: &mut Value, message: &str) {
    eprintln!("{}: warning: {message}", crate::PROGRAM);
    match reply.get_mut("warnings").and_then(Value::as_array_mut) {
        Some(warnings) => warnings.push(Value::String(message.to_string())),
        None => reply["warnings"] = json!([message]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl+/= me@host";

    fn cloud_init(keys: &[&str], user: Option<&str>) -> CloudInit {
        CloudInit {
            keys: keys.iter().map(|key| key.to_string()).collect(),
            user: user.map(str::to_string),
            storage: "local-lvm".into(),
            has_user_data: false,
        }
    }

    #[test]
    fn keys_are_percent_encoded_with_newlines_between() {
        let encoded = encode_keys(&[KEY.to_string(), "ssh-rsa AAAA".to_string()]);
        assert_eq!(
            encoded,
            "ssh-ed25519%20AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl%2B%2F%3D%20me%40host%0Assh-rsa%20AAAA"
        );
        assert_eq!(decode_keys(&encoded), vec![KEY, "ssh-rsa AAAA"]);
    }

    #[test]
    fn a_drive_is_added_only_when_missing_and_keys_only_when_changed() {
        let wanted = cloud_init(&[KEY], Some("ubuntu"));
        let plain = json!({"scsi0": "local-lvm:vm-100-disk-0"});
        assert!(wanted.params(&plain, false).unwrap().is_empty());
        let params = wanted.params(&plain, true).unwrap();
        assert_eq!(
            params,
            vec![
                ("ide2".to_string(), "local-lvm:cloudinit".to_string()),
                ("sshkeys".to_string(), encode_keys(&[KEY.to_string()])),
                ("ciuser".to_string(), "ubuntu".to_string()),
            ]
        );
        let configured = json!({
            "ide0": "local-lvm:vm-100-cloudinit,media=cdrom",
            "sshkeys": encode_keys(&[KEY.to_string()]),
            "ciuser": "ubuntu",
        });
        assert!(wanted.params(&configured, true).unwrap().is_empty());
        let occupied = json!({"ide2": "local:iso/x.iso,media=cdrom"});
        assert_eq!(wanted.params(&occupied, true).unwrap()[0].0, "ide0");
        assert!(cloud_init(&[], None)
            .params(&json!({}), true)
            .unwrap()
            .is_empty());
    }
}
