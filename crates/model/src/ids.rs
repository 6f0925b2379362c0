//! Identifier helpers. API ids are always UUIDs (lowercase, hyphenated); internal ids are integers.

/// True when `s` is a lowercase hyphenated UUID as CloudStack accepts it.
pub fn is_api_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 36 {
        return false;
    }
    for (i, c) in b.iter().enumerate() {
        let ok = match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_digit() || (b'a'..=b'f').contains(c),
        };
        if !ok {
            return false;
        }
    }
    true
}

/// A fresh random (v4) UUID as a string.
pub fn new_uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A name-based (v3, MD5) UUID of `name`, as CloudStack derives host guids.
pub fn name_uuid(name: &str) -> String {
    uuid::Uuid::new_v3(&uuid::Uuid::NAMESPACE_URL, name.as_bytes()).to_string()
}

/// The id of an instance group (`group` on deploy): the same for the same name in the same
/// account, so instances that name one group report one `groupid`.
pub fn instance_group_uuid(account_id: i64, name: &str) -> String {
    use sha1::{Digest, Sha1};
    let mut h = Sha1::new();
    h.update(b"trellis-instance-group");
    h.update(account_id.to_be_bytes());
    h.update(name.as_bytes());
    let digest = h.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_sha1_bytes(bytes)
        .into_uuid()
        .to_string()
}

/// The uuid of an instance's ROOT volume: derived from the instance's (a name-based UUID,
/// version 5), so it is the same wherever and whenever the record is made.
pub fn root_volume_uuid(instance_uuid: &str) -> String {
    use sha1::{Digest, Sha1};
    let mut h = Sha1::new();
    h.update(b"trellis-root-vol");
    h.update(instance_uuid.as_bytes());
    let digest = h.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_sha1_bytes(bytes)
        .into_uuid()
        .to_string()
}

/// The uuid of one address of a network's range (`listPublicIpAddresses`): derived from the
/// network's uuid and the address, so it is stable without a row per address.
pub fn address_uuid(network_uuid: &str, ip: &str) -> String {
    use sha1::{Digest, Sha1};
    let mut h = Sha1::new();
    h.update(b"trellis-address");
    h.update(network_uuid.as_bytes());
    h.update(b"/");
    h.update(ip.as_bytes());
    let digest = h.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_sha1_bytes(bytes)
        .into_uuid()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_uuids_are_stable_and_distinct() {
        let a = address_uuid("n1", "10.0.0.1");
        assert_eq!(a, address_uuid("n1", "10.0.0.1"));
        assert_ne!(a, address_uuid("n1", "10.0.0.2"));
        assert_ne!(a, address_uuid("n2", "10.0.0.1"));
        assert!(is_api_uuid(&a));
    }

    #[test]
    fn api_uuid_shape() {
        assert!(is_api_uuid("0f3a1c2e-1111-4abc-8def-0123456789ab"));
        assert!(!is_api_uuid("0F3A1C2E-1111-4ABC-8DEF-0123456789AB"));
        assert!(!is_api_uuid("0f3a1c2e11114abc8def0123456789ab"));
        assert!(!is_api_uuid("abcd"));
        assert!(is_api_uuid(&new_uuid()));
    }
}
