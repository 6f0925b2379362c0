//! What the payload tells us: how to reach Proxmox, and what the instance should look like.
//!
//! Connection details are read at host level first, then at extension level
//! ([`ExternalDetails::host_or_extension`]); template and instance details come from
//! `externaldetails.virtualmachine`.

use crate::error::ActionError;
use std::net::Ipv6Addr;
use trellis_ext_protocol::{ExternalDetails, Payload, VirtualMachine};

/// The port Proxmox VE's API listens on.
pub const DEFAULT_PORT: u16 = 8006;

/// The VM detail `prepare` writes and later actions read.
pub const VMID_DETAIL: &str = "proxmox_vmid";

/// How to reach and authenticate to Proxmox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    /// Base of every request, ending in `/api2/json`.
    pub api_base: String,
    /// `user@realm!tokenid`.
    pub token_id: String,
    /// The `Authorization` header value.
    pub authorization: String,
    pub node: String,
    pub verify_tls: bool,
}

impl Connection {
    /// Reads `url`, `user`, `token`, `secret`, `node` and `verify_tls_certificate`; reports every
    /// missing one at once.
    pub fn from_details(details: &ExternalDetails) -> Result<Connection, ActionError> {
        let required = ["url", "user", "token", "secret", "node"];
        let missing: Vec<&str> = required
            .iter()
            .copied()
            .filter(|key| details.host_or_extension(key).is_none())
            .collect();
        if !missing.is_empty() {
            return Err(ActionError::Config(format!(
                "missing required details: {} (set them on the host or the extension)",
                missing.join(", ")
            )));
        }
        let value = |key: &str| {
            details
                .host_or_extension(key)
                .unwrap_or_default()
                .trim()
                .to_string()
        };
        let api_base = api_base(&value("url"))?;
        let user = value("user");
        let token = value("token");
        // Accept the token id alone (`trellis`) or in full (`root@pam!trellis`).
        let token_id = if token.contains('!') {
            token
        } else {
            format!("{user}!{token}")
        };
        let authorization = format!("PVEAPIToken={token_id}={}", value("secret"));
        let verify_tls = details
            .host_or_extension("verify_tls_certificate")
            .map(|text| {
                !matches!(
                    text.trim().to_ascii_lowercase().as_str(),
                    "false" | "0" | "no" | "off"
                )
            })
            .unwrap_or(true);
        Ok(Connection {
            api_base,
            token_id,
            authorization,
            node: value("node"),
            verify_tls,
        })
    }

    /// The host part of the API URL (the console fallback).
    pub fn host(&self) -> Option<String> {
        url::Url::parse(&self.api_base).ok().and_then(|parsed| {
            parsed
                .host_str()
                .map(|host| host.trim_matches(['[', ']']).to_string())
        })
    }
}

/// Turns the `url` detail into the API base. A bare host (`pve.example.org`, `10.0.0.5`,
/// `fe80::1`) or `host:port` means `https://<host>:8006` unless a port is given; a full URL
/// (`https://pve:8006`, `http://127.0.0.1:40123`) is used as it is. A trailing `/api2/json` is
/// accepted.
pub fn api_base(url_detail: &str) -> Result<String, ActionError> {
    let trimmed = url_detail.trim().trim_end_matches('/');
    let invalid = |why: &str| ActionError::Config(format!("invalid url '{url_detail}': {why}"));
    if trimmed.is_empty() {
        return Err(invalid("it is empty"));
    }
    let has_scheme = trimmed.contains("://");
    let text = if has_scheme {
        trimmed.to_string()
    } else if trimmed.parse::<Ipv6Addr>().is_ok() {
        format!("https://[{trimmed}]")
    } else {
        format!("https://{trimmed}")
    };
    let mut parsed = url::Url::parse(&text).map_err(|error| invalid(&error.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(invalid("the scheme must be http or https"));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(invalid("it has no host"));
    }
    if !has_scheme && parsed.port().is_none() {
        parsed
            .set_port(Some(DEFAULT_PORT))
            .map_err(|()| invalid("cannot set the port"))?;
    }
    parsed.set_query(None);
    parsed.set_fragment(None);
    let base = parsed.as_str().trim_end_matches('/').to_string();
    let base = base.strip_suffix("/api2/json").unwrap_or(&base).to_string();
    Ok(format!("{base}/api2/json"))
}

/// Whether `name` is a DNS name, which Proxmox requires for VM names: labels of letters, digits
/// and dashes (not at either end), at most 63 characters each, separated by dots.
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

/// Whether `name` is a valid Proxmox snapshot name: a letter, then letters, digits, `-` or `_`,
/// 2 to 40 characters, and not `current`.
pub fn is_snapshot_name(name: &str) -> bool {
    let mut chars = name.chars();
    (2..=40).contains(&name.len())
        && chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && name != "current"
}

/// The Proxmox VM name of the instance: `vm_name` if set, else CloudStack's instance name.
pub fn vm_name(payload: &Payload) -> Result<String, ActionError> {
    let details = payload.details();
    let name = details
        .vm("vm_name")
        .map(str::to_string)
        .or_else(|| {
            payload
                .vm
                .as_ref()
                .map(|vm| vm.name.clone())
                .filter(|name| !name.is_empty())
        })
        .or_else(|| payload.virtualmachinename.clone())
        .ok_or_else(|| {
            ActionError::Usage("the payload names no instance (cloudstack.vm.details.name)".into())
        })?;
    if !is_dns_name(&name) {
        return Err(ActionError::Config(format!(
            "invalid vm name '{name}': proxmox requires a dns name (letters, digits and dashes, \
             not at the start or end of a label, labels separated by dots)"
        )));
    }
    Ok(name)
}

/// The VMID `prepare` chose, if any (a hint: the VM's name decides).
pub fn vmid_hint(payload: &Payload) -> Result<Option<u32>, ActionError> {
    let from_vm = payload
        .vm
        .as_ref()
        .and_then(|vm| vm.details.get(VMID_DETAIL))
        .cloned();
    let from_details = payload.details().vm(VMID_DETAIL).map(str::to_string);
    match from_vm.or(from_details) {
        None => Ok(None),
        Some(text) => text
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| ActionError::Config(format!("invalid {VMID_DETAIL} '{text}'"))),
    }
}

/// Where the disk of a new VM comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Clone a template; `storage` only for full clones (Proxmox refuses it for linked ones).
    Clone {
        template: u32,
        full: bool,
        storage: Option<String>,
    },
    /// Boot an ISO image with a new empty disk.
    Iso {
        iso: String,
        os_type: String,
        disk_size_gb: u32,
        storage: String,
    },
}

/// Everything `create` needs besides the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateSpec {
    pub name: String,
    pub cores: u32,
    pub memory_mib: u64,
    /// `net<N>` values in NIC order.
    pub nets: Vec<String>,
    pub source: Source,
    pub description: String,
    /// CloudStack's uuid of the instance, kept in the description to recognise the VM later.
    pub instance_uuid: Option<String>,
}

fn truthy(value: Option<&str>) -> bool {
    value.is_some_and(|text| {
        matches!(
            text.trim().to_ascii_lowercase().as_str(),
            "1" | "true" | "yes" | "on"
        )
    })
}

impl CreateSpec {
    /// Reads and checks the instance definition.
    pub fn from_payload(payload: &Payload) -> Result<CreateSpec, ActionError> {
        let details = payload.details();
        let name = vm_name(payload)?;
        let vm: &VirtualMachine = payload
            .vm
            .as_ref()
            .ok_or_else(|| ActionError::Usage("the payload has no cloudstack.vm.details".into()))?;
        let cores = u32::try_from(vm.cpus)
            .ok()
            .filter(|cores| *cores > 0)
            .ok_or_else(|| ActionError::Config(format!("invalid cpu count {}", vm.cpus)))?;
        let memory_mib = u64::try_from(vm.min_ram).unwrap_or(0) / 1024 / 1024;
        if memory_mib < 16 {
            return Err(ActionError::Config(format!(
                "invalid memory {} bytes (proxmox needs at least 16 MiB)",
                vm.min_ram
            )));
        }
        let bridge = details
            .host_or_extension("network_bridge")
            .ok_or_else(|| ActionError::Config("missing required detail: network_bridge".into()))?
            .trim()
            .to_string();
        let mut nics = vm.nics.clone();
        nics.sort_by_key(|nic| nic.device_id);
        let nets = nics
            .iter()
            .map(|nic| {
                let mut net = match nic.mac.as_deref().filter(|mac| !mac.is_empty()) {
                    Some(mac) => format!("virtio={mac}"),
                    None => "virtio".to_string(),
                };
                net.push_str(&format!(",bridge={bridge}"));
                if let Some(vlan) = nic.vlan() {
                    match vlan.parse::<u16>() {
                        Ok(tag) if (1..=4094).contains(&tag) => {
                            net.push_str(&format!(",tag={tag}"))
                        }
                        _ => {
                            return Err(ActionError::Config(format!(
                                "nic {} has a broadcast uri proxmox cannot tag: {}",
                                nic.device_id,
                                nic.broadcast_uri.as_deref().unwrap_or_default()
                            )))
                        }
                    }
                }
                net.push_str(",firewall=0");
                Ok(net)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let storage = details
            .vm("storage")
            .or_else(|| details.host_or_extension("storage"))
            .map(|storage| storage.trim().to_string());
        let iso = details.vm("iso_path").or_else(|| details.vm("iso"));
        let wants_iso = details
            .vm("template_type")
            .map(|kind| kind.eq_ignore_ascii_case("iso"))
            .unwrap_or(details.vm("template_id").is_none() && iso.is_some());
        let source = if wants_iso {
            let iso = iso.ok_or_else(|| {
                ActionError::Config("missing required detail for an iso install: iso_path".into())
            })?;
            let disk_size_gb = match details.vm("disk_size_gb") {
                None => 64,
                Some(text) => text
                    .trim()
                    .parse()
                    .ok()
                    .filter(|size| *size > 0)
                    .ok_or_else(|| ActionError::Config(format!("invalid disk_size_gb '{text}'")))?,
            };
            Source::Iso {
                iso: iso.trim().to_string(),
                os_type: details
                    .vm("iso_os_type")
                    .unwrap_or("l26")
                    .trim()
                    .to_string(),
                disk_size_gb,
                storage: storage.unwrap_or_else(|| "local-lvm".to_string()),
            }
        } else {
            let template_text = details.vm("template_id").ok_or_else(|| {
                ActionError::Config("missing required detail: template_id".into())
            })?;
            let template = template_text.trim().parse().map_err(|_| {
                ActionError::Config(format!("invalid template_id '{template_text}'"))
            })?;
            let full = truthy(details.vm("is_full_clone"));
            Source::Clone {
                template,
                full,
                storage: if full { storage } else { None },
            }
        };
        let description = format!(
            "Managed by Apache CloudStack (Trellis): instance {} ({})",
            vm.name,
            if vm.uuid.is_empty() {
                "no uuid"
            } else {
                vm.uuid.as_str()
            }
        );
        Ok(CreateSpec {
            name,
            cores,
            memory_mib,
            nets,
            source,
            description,
            instance_uuid: Some(vm.uuid.clone()).filter(|uuid| !uuid.is_empty()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn urls_with_and_without_scheme() {
        assert_eq!(
            api_base("pve.example.org").unwrap(),
            "https://pve.example.org:8006/api2/json"
        );
        assert_eq!(
            api_base("10.0.0.5").unwrap(),
            "https://10.0.0.5:8006/api2/json"
        );
        assert_eq!(
            api_base("10.0.0.5:8443").unwrap(),
            "https://10.0.0.5:8443/api2/json"
        );
        assert_eq!(
            api_base("fe80::1").unwrap(),
            "https://[fe80::1]:8006/api2/json"
        );
        assert_eq!(
            api_base("https://pve:8006").unwrap(),
            "https://pve:8006/api2/json"
        );
        assert_eq!(
            api_base("https://pve:8006/").unwrap(),
            "https://pve:8006/api2/json"
        );
        assert_eq!(
            api_base("http://127.0.0.1:40123").unwrap(),
            "http://127.0.0.1:40123/api2/json"
        );
        assert_eq!(
            api_base("https://pve:8006/api2/json").unwrap(),
            "https://pve:8006/api2/json"
        );
        assert_eq!(
            api_base("https://proxy.example.org/pve").unwrap(),
            "https://proxy.example.org/pve/api2/json"
        );
        assert!(api_base("").is_err());
        assert!(api_base("ftp://pve").is_err());
    }

    #[test]
    fn dns_names() {
        for good in ["i-2-10-VM", "web01", "a", "web.example.org", "x1-y2"] {
            assert!(is_dns_name(good), "{good}");
        }
        for bad in [
            "",
            "-web",
            "web-",
            "web_01",
            "web 01",
            "a..b",
            "ü",
            &"a".repeat(64),
        ] {
            assert!(!is_dns_name(bad), "{bad}");
        }
    }

    #[test]
    fn snapshot_names() {
        for good in ["before-upgrade", "s1", "Daily_2024"] {
            assert!(is_snapshot_name(good), "{good}");
        }
        for bad in [
            "1snap",
            "a",
            "current",
            "with space",
            "dot.ted",
            &"a".repeat(41),
        ] {
            assert!(!is_snapshot_name(bad), "{bad}");
        }
    }

    #[test]
    fn token_id_in_full_or_alone() {
        let mut details = ExternalDetails::default();
        let host: BTreeMap<String, String> = [
            ("url", "pve"),
            ("user", "root@pam"),
            ("token", "root@pam!ci"),
            ("secret", "s"),
            ("node", "pve1"),
            ("verify_tls_certificate", "False"),
        ]
        .into_iter()
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .collect();
        details.host = Some(host);
        let connection = Connection::from_details(&details).unwrap();
        assert_eq!(connection.authorization, "PVEAPIToken=root@pam!ci=s");
        assert!(!connection.verify_tls);
        assert_eq!(connection.host().as_deref(), Some("pve"));
    }

    #[test]
    fn missing_details_are_listed_together() {
        let error = Connection::from_details(&ExternalDetails::default()).unwrap_err();
        assert_eq!(
            error.to_string(),
            "missing required details: url, user, token, secret, node (set them on the host or the extension)"
        );
    }
}
