//! The user data MAAS deploys a machine with: the instance's own, and its SSH public keys.
//!
//! MAAS hands `user_data` to cloud-init on the deployed machine. Keys go in as a
//! `#cloud-config` with `ssh_authorized_keys`: alone when the instance has no user data, else as
//! a second part of a MIME multipart document next to the user's (cloud-init runs or merges
//! every part, whatever the user's part is: a script, a cloud-config, an include). User data
//! that is already multipart or gzip-compressed cannot take another part: it goes unchanged and
//! the action says the keys were not added.

use base64::Engine as _;

/// The boundary of the multipart document (any text that no part contains).
const BOUNDARY: &str = "==TRELLIS-MAAS-USER-DATA==";

/// What to deploy with: base64 user data (`None`: none at all), and a warning when keys could
/// not be added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepared {
    pub user_data: Option<String>,
    pub warning: Option<String>,
}

/// Decode base64 user data (as CloudStack sends it); text that is not base64 is taken as is.
fn decoded(user_data: &str) -> Vec<u8> {
    let compact: String = user_data
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .unwrap_or_else(|_| user_data.as_bytes().to_vec())
}

fn keys_config(keys: &[String]) -> String {
    let mut out = String::from("#cloud-config\nssh_authorized_keys:\n");
    for k in keys {
        let quoted = k.replace('\\', "\\\\").replace('"', "\\\"");
        out.push_str(&format!("  - \"{quoted}\"\n"));
    }
    out
}

/// The MIME type cloud-init gives a part by its first line.
fn part_type(data: &[u8]) -> &'static str {
    let first = data.split(|b| *b == b'\n').next().unwrap_or_default();
    let first = String::from_utf8_lossy(first).to_ascii_lowercase();
    if first.starts_with("#cloud-config") {
        "text/cloud-config"
    } else if first.starts_with("#!") {
        "text/x-shellscript"
    } else if first.starts_with("#include") {
        "text/x-include-url"
    } else if first.starts_with("#cloud-boothook") {
        "text/cloud-boothook"
    } else if first.starts_with("#part-handler") {
        "text/part-handler"
    } else {
        "text/plain"
    }
}

/// Combine the instance's user data (`None` or empty: none) with its SSH public keys.
pub fn prepare(user_data: Option<&str>, keys: &[String]) -> Prepared {
    let user_data = user_data.filter(|u| !u.trim().is_empty());
    let engine = base64::engine::general_purpose::STANDARD;
    let as_given = user_data.map(|u| engine.encode(decoded(u)));
    if keys.is_empty() {
        return Prepared {
            user_data: as_given,
            warning: None,
        };
    }
    let Some(raw) = user_data.map(decoded) else {
        return Prepared {
            user_data: Some(engine.encode(keys_config(keys))),
            warning: None,
        };
    };
    let gzip = raw.starts_with(&[0x1f, 0x8b]);
    let head = String::from_utf8_lossy(&raw[..raw.len().min(200)]).to_ascii_lowercase();
    if gzip || head.starts_with("content-type: multipart") || head.starts_with("mime-version") {
        return Prepared {
            user_data: as_given,
            warning: Some(
                "the instance's SSH keys were not added: its user data is gzip-compressed or already a MIME multipart document; add the keys to it yourself".into(),
            ),
        };
    }
    let mut doc = format!(
        "Content-Type: multipart/mixed; boundary=\"{BOUNDARY}\"\nMIME-Version: 1.0\n\n--{BOUNDARY}\nContent-Type: text/cloud-config; charset=\"utf-8\"\nMIME-Version: 1.0\nContent-Disposition: attachment; filename=\"trellis-ssh-keys.cfg\"\n\n{}\n--{BOUNDARY}\nContent-Type: {}; charset=\"utf-8\"\nMIME-Version: 1.0\nContent-Disposition: attachment; filename=\"user-data\"\n\n",
        keys_config(keys),
        part_type(&raw)
    )
    .into_bytes();
    doc.extend_from_slice(&raw);
    if !raw.ends_with(b"\n") {
        doc.push(b'\n');
    }
    doc.extend_from_slice(format!("--{BOUNDARY}--\n").as_bytes());
    Prepared {
        user_data: Some(engine.encode(doc)),
        warning: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(p: &Prepared) -> String {
        String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(p.user_data.as_deref().unwrap())
                .unwrap(),
        )
        .unwrap()
    }

    const KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB7 alice@example";

    #[test]
    fn keys_alone_become_a_cloud_config() {
        let p = prepare(None, &[KEY.into()]);
        assert_eq!(
            text(&p),
            format!("#cloud-config\nssh_authorized_keys:\n  - \"{KEY}\"\n")
        );
        assert_eq!(p.warning, None);
    }

    #[test]
    fn user_data_without_keys_goes_as_it_is() {
        let b64 = base64::engine::general_purpose::STANDARD.encode("#!/bin/sh\necho hi\n");
        assert_eq!(
            prepare(Some(&b64), &[]).user_data.as_deref(),
            Some(b64.as_str())
        );
        // Plain text is encoded.
        assert_eq!(
            prepare(Some("#!/bin/sh\necho hi\n"), &[])
                .user_data
                .as_deref(),
            Some(b64.as_str())
        );
        assert_eq!(prepare(Some("  "), &[]).user_data, None);
    }

    #[test]
    fn keys_and_user_data_become_two_parts() {
        let b64 = base64::engine::general_purpose::STANDARD.encode("#!/bin/sh\necho hi");
        let p = prepare(Some(&b64), &[KEY.into(), "ssh-rsa AAAAB3 \"q\"".into()]);
        let doc = text(&p);
        assert!(
            doc.starts_with(
                "Content-Type: multipart/mixed; boundary=\"==TRELLIS-MAAS-USER-DATA==\""
            ),
            "{doc}"
        );
        assert!(doc.contains(&format!("  - \"{KEY}\"\n")), "{doc}");
        assert!(doc.contains("  - \"ssh-rsa AAAAB3 \\\"q\\\"\"\n"), "{doc}");
        assert!(doc.contains("Content-Type: text/x-shellscript; charset=\"utf-8\"\nMIME-Version: 1.0\nContent-Disposition: attachment; filename=\"user-data\"\n\n#!/bin/sh\necho hi\n--==TRELLIS-MAAS-USER-DATA==--\n"), "{doc}");
        assert_eq!(p.warning, None);
    }

    #[test]
    fn multipart_or_gzip_user_data_is_kept_and_the_keys_are_reported() {
        let b64 = base64::engine::general_purpose::STANDARD
            .encode("Content-Type: multipart/mixed; boundary=x\n\n--x--\n");
        let p = prepare(Some(&b64), &[KEY.into()]);
        assert_eq!(p.user_data.as_deref(), Some(b64.as_str()));
        assert!(p.warning.unwrap().contains("were not added"));
        let gz = base64::engine::general_purpose::STANDARD.encode([0x1f, 0x8b, 8, 0]);
        assert!(prepare(Some(&gz), &[KEY.into()]).warning.is_some());
    }

    #[test]
    fn parts_are_typed_by_their_first_line() {
        assert_eq!(part_type(b"#cloud-config\na: 1"), "text/cloud-config");
        assert_eq!(part_type(b"#!/bin/bash"), "text/x-shellscript");
        assert_eq!(part_type(b"#include\nhttp://x"), "text/x-include-url");
        assert_eq!(part_type(b"hello"), "text/plain");
    }
}
