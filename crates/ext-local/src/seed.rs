//! The cloud-init NoCloud seed: a small VFAT image labelled `CIDATA` holding `meta-data` and
//! `user-data`, attached to the VM as a read-only disk so that cloud-init in the guest finds the
//! instance's SSH keys and user data.
//!
//! The image is written here, in memory, with `fatfs`: no `mkfs`, `mtools` or ISO tools are
//! needed. File times stay at the FAT epoch, so the same content always gives the same bytes and
//! an unchanged seed is never rewritten.
//!
//! - `meta-data`: `instance-id` (the instance uuid), `local-hostname` (the instance name) and,
//!   when the payload carries keys, `public-keys`, which cloud-init installs for the default user.
//! - `user-data`: the instance's user data, decoded, verbatim; with no user data but keys, a
//!   minimal `#cloud-config` with `ssh_authorized_keys`.

use crate::error::ActionError;
use base64::Engine as _;
use std::io::{Cursor, Seek, SeekFrom, Write};
use std::path::Path;
use trellis_ext_protocol::Payload;

/// The detail carrying the instance's SSH public keys, one OpenSSH key per line.
pub const DETAIL_SSH_PUBLIC_KEY: &str = "SSH.PublicKey";

/// The volume label cloud-init looks for (it accepts `cidata` and `CIDATA`).
pub const VOLUME_LABEL: [u8; 11] = *b"CIDATA     ";

/// The smallest seed image.
const MIN_IMAGE_BYTES: u64 = 1 << 20;

/// Room for the FAT structures and cluster slack on top of the files.
const IMAGE_SLACK_BYTES: u64 = 256 << 10;

/// Seed images are sized in steps of this.
const IMAGE_STEP_BYTES: u64 = 64 << 10;

/// What the seed holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seed {
    pub meta_data: String,
    pub user_data: Vec<u8>,
    pub key_count: usize,
    pub has_user_data: bool,
}

/// The SSH public keys of the payload, one per non-blank line of `SSH.PublicKey`.
pub fn public_keys(payload: &Payload) -> Vec<String> {
    payload
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
        .unwrap_or_default()
}

/// The payload's user data (`cloudstack.vm.details.userData`, standard base64), decoded; `None`
/// when absent or empty.
pub fn user_data(payload: &Payload) -> Result<Option<Vec<u8>>, ActionError> {
    let Some(encoded) = payload.vm.as_ref().and_then(|vm| vm.user_data.as_deref()) else {
        return Ok(None);
    };
    let compact: String = encoded
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    if compact.is_empty() {
        return Ok(None);
    }
    base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .map(Some)
        .map_err(|error| {
            ActionError::Usage(format!(
                "the user data (cloudstack.vm.details.userData) is not valid base64: {error}"
            ))
        })
}

/// A YAML scalar for any text: a JSON string is a valid YAML double-quoted scalar.
fn yaml_string(text: &str) -> String {
    serde_json::Value::String(text.to_string()).to_string()
}

impl Seed {
    /// The seed of the instance `instance_id` named `hostname`, with `keys` and `user_data`.
    pub fn new(
        instance_id: &str,
        hostname: &str,
        keys: &[String],
        user_data: Option<Vec<u8>>,
    ) -> Seed {
        let mut meta_data = format!(
            "instance-id: {}\nlocal-hostname: {}\n",
            yaml_string(instance_id),
            yaml_string(hostname)
        );
        let key_list: String = keys
            .iter()
            .map(|key| format!("  - {}\n", yaml_string(key)))
            .collect();
        if !keys.is_empty() {
            meta_data.push_str("public-keys:\n");
            meta_data.push_str(&key_list);
        }
        let has_user_data = user_data.is_some();
        let user_data = match user_data {
            Some(bytes) => bytes,
            None if !keys.is_empty() => {
                format!("#cloud-config\nssh_authorized_keys:\n{key_list}").into_bytes()
            }
            None => Vec::new(),
        };
        Seed {
            meta_data,
            user_data,
            key_count: keys.len(),
            has_user_data,
        }
    }

    /// The seed the payload asks for: `None` when it carries neither keys nor user data. Fails
    /// when the user data is not base64.
    pub fn from_payload(
        payload: &Payload,
        instance_id: &str,
        hostname: &str,
    ) -> Result<Option<Seed>, ActionError> {
        let keys = public_keys(payload);
        let user_data = user_data(payload)?;
        if keys.is_empty() && user_data.is_none() {
            return Ok(None);
        }
        Ok(Some(Seed::new(instance_id, hostname, &keys, user_data)))
    }

    /// The files of the seed, by name.
    pub fn files(&self) -> [(&'static str, &[u8]); 2] {
        [
            ("meta-data", self.meta_data.as_bytes()),
            ("user-data", &self.user_data),
        ]
    }

    /// A few words on what the seed carries, for replies.
    pub fn describe(&self) -> String {
        let keys = match self.key_count {
            0 => None,
            1 => Some("1 ssh key".to_string()),
            count => Some(format!("{count} ssh keys")),
        };
        let data = self.has_user_data.then(|| "user data".to_string());
        let parts: Vec<String> = keys.into_iter().chain(data).collect();
        format!("cloud-init seed with {}", parts.join(" and "))
    }

    /// The VFAT image: label `CIDATA` (in the boot sector and as the root directory's volume
    /// label entry), the files in the root directory.
    pub fn image(&self) -> Result<Vec<u8>, ActionError> {
        let content: u64 = self
            .files()
            .iter()
            .map(|(_, bytes)| bytes.len() as u64)
            .sum();
        let size = (content + content / 4 + IMAGE_SLACK_BYTES)
            .div_ceil(IMAGE_STEP_BYTES)
            .saturating_mul(IMAGE_STEP_BYTES)
            .max(MIN_IMAGE_BYTES);
        let size = usize::try_from(size)
            .map_err(|_| ActionError::Failed("the cloud-init seed is too large".into()))?;
        self.build(size)
            .map_err(|source| ActionError::io("build the cloud-init seed image", source))
    }

    fn build(&self, size: usize) -> std::io::Result<Vec<u8>> {
        let mut disk = Cursor::new(vec![0u8; size]);
        fatfs::format_volume(
            &mut disk,
            fatfs::FormatVolumeOptions::new()
                .volume_label(VOLUME_LABEL)
                .volume_id(0x6369_6461),
        )?;
        disk.seek(SeekFrom::Start(0))?;
        write_root_label(&mut disk)?;
        disk.seek(SeekFrom::Start(0))?;
        {
            let filesystem = fatfs::FileSystem::new(&mut disk, fatfs::FsOptions::new())?;
            {
                let root = filesystem.root_dir();
                for (name, bytes) in self.files() {
                    let mut file = root.create_file(name)?;
                    file.truncate()?;
                    file.write_all(bytes)?;
                    file.flush()?;
                }
            }
            filesystem.unmount()?;
        }
        Ok(disk.into_inner())
    }
}

/// Writes the volume label as the first entry of a freshly formatted FAT12/16 root directory,
/// where blkid and other systems look before the boot sector (FAT32 keeps only the boot sector's).
fn write_root_label(disk: &mut Cursor<Vec<u8>>) -> std::io::Result<()> {
    let boot = disk.get_ref();
    let field = |at: usize| u64::from(u16::from_le_bytes([boot[at], boot[at + 1]]));
    let bytes_per_sector = field(11);
    let reserved_sectors = field(14);
    let fats = u64::from(boot[16]);
    let root_entries = field(17);
    let sectors_per_fat = field(22);
    if sectors_per_fat == 0 || root_entries == 0 {
        return Ok(());
    }
    let root = (reserved_sectors + fats * sectors_per_fat) * bytes_per_sector;
    let mut entry = [0u8; 32];
    entry[..11].copy_from_slice(&VOLUME_LABEL);
    entry[11] = 0x08;
    disk.seek(SeekFrom::Start(root))?;
    disk.write_all(&entry)
}

/// Writes `image` to `path` unless it already holds exactly that (through a temporary file and a
/// rename, so the VM never sees half a seed). Returns whether it wrote.
pub fn write_image(path: &Path, image: &[u8]) -> Result<bool, ActionError> {
    if std::fs::read(path).is_ok_and(|existing| existing == image) {
        return Ok(false);
    }
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    let temporary = std::path::PathBuf::from(temporary);
    let written =
        std::fs::write(&temporary, image).and_then(|()| std::fs::rename(&temporary, path));
    if let Err(source) = written {
        let _ = std::fs::remove_file(&temporary);
        return Err(ActionError::io(format!("write {}", path.display()), source));
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::io::Read;
    use trellis_ext_protocol::VirtualMachine;

    const KEY_ONE: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGh0ZXN0a2V5b25l";
    const KEY_TWO: &str = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC+/x==";

    fn payload(keys: Option<&str>, user_data: Option<&str>) -> Payload {
        let mut details = BTreeMap::new();
        if let Some(keys) = keys {
            details.insert(DETAIL_SSH_PUBLIC_KEY.to_string(), keys.to_string());
        }
        Payload {
            vm: Some(VirtualMachine {
                details,
                user_data: user_data.map(str::to_string),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn read_back(image: Vec<u8>) -> (String, BTreeMap<String, Vec<u8>>, Option<String>) {
        let filesystem =
            fatfs::FileSystem::new(Cursor::new(image), fatfs::FsOptions::new()).unwrap();
        let label = filesystem.volume_label();
        let root_label = filesystem.read_volume_label_from_root_dir().unwrap();
        let mut files = BTreeMap::new();
        for entry in filesystem.root_dir().iter() {
            let entry = entry.unwrap();
            let mut bytes = Vec::new();
            entry.to_file().read_to_end(&mut bytes).unwrap();
            files.insert(entry.file_name(), bytes);
        }
        (label, files, root_label)
    }

    #[test]
    fn keys_alone_make_public_keys_and_a_minimal_cloud_config() {
        let keys = format!("{KEY_ONE}\n\n{KEY_TWO}\n");
        let seed = Seed::from_payload(&payload(Some(&keys), None), "0b3c-9f3e", "i-2-10-VM")
            .unwrap()
            .unwrap();
        assert_eq!(
            seed.meta_data,
            format!(
                "instance-id: \"0b3c-9f3e\"\nlocal-hostname: \"i-2-10-VM\"\npublic-keys:\n  - \"{KEY_ONE}\"\n  - \"{KEY_TWO}\"\n"
            )
        );
        assert_eq!(
            String::from_utf8(seed.user_data.clone()).unwrap(),
            format!("#cloud-config\nssh_authorized_keys:\n  - \"{KEY_ONE}\"\n  - \"{KEY_TWO}\"\n")
        );
        assert_eq!(seed.describe(), "cloud-init seed with 2 ssh keys");
    }

    #[test]
    fn user_data_is_kept_verbatim_and_keys_go_to_meta_data() {
        let document = b"#!/bin/sh\necho hi > /tmp/hi\n\xff\x00binary tail";
        let encoded = base64::engine::general_purpose::STANDARD.encode(document);
        let seed = Seed::from_payload(&payload(Some(KEY_ONE), Some(&encoded)), "u", "vm")
            .unwrap()
            .unwrap();
        assert_eq!(seed.user_data, document);
        assert!(seed
            .meta_data
            .ends_with(&format!("public-keys:\n  - \"{KEY_ONE}\"\n")));
        assert_eq!(
            seed.describe(),
            "cloud-init seed with 1 ssh key and user data"
        );

        let only_data = Seed::from_payload(&payload(None, Some(&encoded)), "u", "vm")
            .unwrap()
            .unwrap();
        assert_eq!(
            only_data.meta_data,
            "instance-id: \"u\"\nlocal-hostname: \"vm\"\n"
        );
        assert_eq!(only_data.user_data, document);
    }

    #[test]
    fn nothing_to_seed_and_bad_base64() {
        assert_eq!(
            Seed::from_payload(&payload(None, None), "u", "vm").unwrap(),
            None
        );
        assert_eq!(
            Seed::from_payload(&payload(Some(" \n"), Some("")), "u", "vm").unwrap(),
            None
        );
        let error = Seed::from_payload(&payload(None, Some("not base64!")), "u", "vm").unwrap_err();
        assert!(matches!(error, ActionError::Usage(_)));
        assert!(error.to_string().contains("not valid base64"), "{error}");
        assert_eq!(error.exit_code(), trellis_ext_protocol::exit::USAGE);
    }

    #[test]
    fn yaml_values_are_quoted() {
        let seed = Seed::new(
            "id: x",
            "host # y",
            &["ssh-ed25519 AAAA \"q\"".into()],
            None,
        );
        assert!(seed.meta_data.contains("instance-id: \"id: x\"\n"));
        assert!(seed.meta_data.contains("local-hostname: \"host # y\"\n"));
        assert!(seed
            .meta_data
            .contains("  - \"ssh-ed25519 AAAA \\\"q\\\"\"\n"));
    }

    #[test]
    fn the_image_is_a_cidata_volume_with_the_files() {
        let seed = Seed::new(
            "u",
            "vm",
            &[KEY_ONE.to_string()],
            Some(b"#cloud-config\n".to_vec()),
        );
        let image = seed.image().unwrap();
        assert_eq!(image.len() as u64, MIN_IMAGE_BYTES);
        assert_eq!(
            image,
            seed.image().unwrap(),
            "the same seed gives the same bytes"
        );
        let (label, files, root_label) = read_back(image);
        assert_eq!(label, "CIDATA");
        assert_eq!(root_label.as_deref(), Some("CIDATA"));
        assert_eq!(files.len(), 2, "{:?}", files.keys());
        assert_eq!(files["meta-data"], seed.meta_data.as_bytes());
        assert_eq!(files["user-data"], b"#cloud-config\n");
    }

    #[test]
    fn large_user_data_fits() {
        let big: Vec<u8> = (0..800_000u32).map(|i| (i % 251) as u8).collect();
        let seed = Seed::new("u", "vm", &[], Some(big.clone()));
        let (_, files, _) = read_back(seed.image().unwrap());
        assert_eq!(files["user-data"], big);
    }

    #[test]
    fn images_are_rewritten_only_when_they_change() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("seed.img");
        assert!(write_image(&path, b"one").unwrap());
        assert!(!write_image(&path, b"one").unwrap());
        assert!(write_image(&path, b"two").unwrap());
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        assert!(!dir.path().join("seed.img.tmp").exists());
    }
}
