//! SSH key pairs: generate (RSA-2048; the private key is returned once and never stored),
//! register (an OpenSSH public key), list (the owner scopes of CloudStack's account-owned
//! listings) and delete, plus resolving the key pairs a deployment names.
//!
//! Keys are stored in OpenSSH one-line form (`<type> <base64>`, comment dropped, as upstream);
//! the fingerprint is the MD5 of the decoded key blob as lowercase hex pairs joined by `:`
//! (what `ssh-keygen -E md5 -l` prints without its `MD5:` prefix).

use base64::Engine;
use trellis_model::entity::{Account, SshKeyPair};
use trellis_model::{ids, time::now_millis, Error, Result};
use trellis_store::{Page, SshKeyPairFilter};

pub use super::ownership::OwnerInput;
use super::{App, Caller};

/// The instance detail holding the public keys of the key pairs it was deployed with, one per
/// line. Public, never masked.
pub const DETAIL_SSH_PUBLIC_KEY: &str = "SSH.PublicKey";
/// The instance detail holding the names of those key pairs, joined by `,`.
pub const DETAIL_SSH_KEYPAIR_NAMES: &str = "SSH.KeyPairNames";

/// The size of generated RSA keys, in bits (upstream's `ssh.key.length` default).
const RSA_BITS: usize = 2048;

/// `listSSHKeyPairs`: the filters and the owner scope (`account`/`domainid`, `isrecursive`,
/// `listall`).
#[derive(Debug, Clone, Default)]
pub struct SshKeyPairQuery {
    pub uuid: Option<String>,
    pub name: Option<String>,
    pub fingerprint: Option<String>,
    pub keyword: Option<String>,
    pub owner: OwnerInput,
    pub recursive: bool,
    pub list_all: bool,
}

/// A generated key pair: the stored row and the private key, which exists only in this value.
#[derive(Debug)]
pub struct GeneratedKeyPair {
    pub keypair: SshKeyPair,
    /// PKCS#1 PEM (`-----BEGIN RSA PRIVATE KEY-----`).
    pub private_key: String,
}

/// Why a public key was refused ("Public key is invalid: …").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublicKeyError {
    #[error("expected `<type> <base64 key> [comment]`")]
    Shape,
    #[error("unsupported key type {0}")]
    Type(String),
    #[error("the key is not valid base64")]
    Base64,
    #[error("the key blob is malformed")]
    Blob,
}

/// Key types accepted for registration: upstream's six and the two security-key types.
const KEY_TYPES: &[&str] = &[
    "ssh-rsa",
    "ssh-dss",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "ssh-ed25519",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
];

/// Reads the SSH wire encoding (RFC 4251 `string` and `mpint`).
struct Wire<'a>(&'a [u8]);

impl<'a> Wire<'a> {
    fn string(&mut self) -> Option<&'a [u8]> {
        let len = u32::from_be_bytes(self.0.get(..4)?.try_into().ok()?) as usize;
        let body = self.0.get(4..4 + len)?;
        self.0 = &self.0[4 + len..];
        Some(body)
    }
    fn nonempty(&mut self) -> Option<&'a [u8]> {
        self.string().filter(|s| !s.is_empty())
    }
    fn done(&self) -> bool {
        self.0.is_empty()
    }
}

/// Check a key blob's structure for its type.
fn blob_is_well_formed(key_type: &str, blob: &[u8]) -> bool {
    let mut w = Wire(blob);
    if w.string() != Some(key_type.as_bytes()) {
        return false;
    }
    let ecdsa = |w: &mut Wire<'_>, curve: &str| {
        let named = w.string() == Some(curve.as_bytes());
        let point = w.nonempty();
        named && point.is_some_and(|p| p[0] == 4 && p.len() % 2 == 1)
    };
    let ok = match key_type {
        "ssh-rsa" => w.nonempty().is_some() && w.nonempty().is_some(),
        "ssh-dss" => (0..4).all(|_| w.nonempty().is_some()),
        "ssh-ed25519" => w.string().is_some_and(|k| k.len() == 32),
        "sk-ssh-ed25519@openssh.com" => {
            w.string().is_some_and(|k| k.len() == 32) && w.nonempty().is_some()
        }
        "sk-ecdsa-sha2-nistp256@openssh.com" => ecdsa(&mut w, "nistp256") && w.nonempty().is_some(),
        t => match t.strip_prefix("ecdsa-sha2-") {
            Some(curve) => ecdsa(&mut w, curve),
            None => false,
        },
    };
    ok && w.done()
}

/// Standard or URL-safe base64, padding optional.
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    use base64::engine::{general_purpose, DecodePaddingMode, GeneralPurpose};
    let config = general_purpose::GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent);
    let standard = GeneralPurpose::new(&base64::alphabet::STANDARD, config);
    let url_safe = GeneralPurpose::new(&base64::alphabet::URL_SAFE, config);
    standard
        .decode(text)
        .or_else(|_| url_safe.decode(text))
        .ok()
}

/// The MD5 fingerprint of a key blob: lowercase hex pairs joined by `:`.
pub fn fingerprint_of_blob(blob: &[u8]) -> String {
    use md5::Digest;
    md5::Md5::digest(blob)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// A registered public key in its stored form (`<type> <base64>`) with its fingerprint. As
/// upstream, key material without a space is first taken as the base64 of a key line.
pub fn parse_public_key(material: &str) -> std::result::Result<(String, String), PublicKeyError> {
    let material = material.trim();
    let decoded;
    let line = if material.contains(char::is_whitespace) {
        material
    } else {
        let bytes = decode_base64(material).ok_or(PublicKeyError::Shape)?;
        decoded = String::from_utf8(bytes).map_err(|_| PublicKeyError::Shape)?;
        decoded.trim()
    };
    let mut parts = line.split_whitespace();
    let (Some(key_type), Some(body)) = (parts.next(), parts.next()) else {
        return Err(PublicKeyError::Shape);
    };
    if !KEY_TYPES.contains(&key_type) {
        return Err(PublicKeyError::Type(key_type.to_string()));
    }
    let blob = decode_base64(body).ok_or(PublicKeyError::Base64)?;
    if !blob_is_well_formed(key_type, &blob) {
        return Err(PublicKeyError::Blob);
    }
    let canonical = base64::engine::general_purpose::STANDARD.encode(&blob);
    Ok((
        format!("{key_type} {canonical}"),
        fingerprint_of_blob(&blob),
    ))
}

/// A fresh RSA key pair: (PKCS#1 PEM private key, OpenSSH public key, fingerprint).
fn generate_rsa() -> std::result::Result<(String, String, String), String> {
    use rsa::pkcs1::EncodeRsaPrivateKey;
    use rsa::traits::PublicKeyParts;
    let mut rng = rand::thread_rng();
    let private = rsa::RsaPrivateKey::new(&mut rng, RSA_BITS).map_err(|e| e.to_string())?;
    let pem = private
        .to_pkcs1_pem(rsa::pkcs8::LineEnding::LF)
        .map_err(|e| e.to_string())?;
    let mut blob = Vec::new();
    let mut put = |bytes: &[u8]| {
        blob.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
        blob.extend_from_slice(bytes);
    };
    let mpint = |n: &rsa::BigUint| {
        let mut b = n.to_bytes_be();
        if b.first().is_some_and(|x| x & 0x80 != 0) {
            b.insert(0, 0);
        }
        b
    };
    put(b"ssh-rsa");
    put(&mpint(private.e()));
    put(&mpint(private.n()));
    let public = format!(
        "ssh-rsa {}",
        base64::engine::general_purpose::STANDARD.encode(&blob)
    );
    Ok((pem.to_string(), public, fingerprint_of_blob(&blob)))
}

impl App {
    /// Store a new key pair for `account` (a name taken meanwhile is `duplicate`).
    async fn keypair_insert(
        &self,
        caller: &Caller,
        account: &Account,
        name: &str,
        public_key: String,
        fingerprint: String,
        duplicate: String,
    ) -> Result<SshKeyPair> {
        let row = SshKeyPair {
            id: 0,
            uuid: ids::new_uuid(),
            name: name.to_string(),
            account_id: account.id,
            domain_id: account.domain_id,
            public_key,
            fingerprint,
            created: now_millis(),
        };
        let keypair = match self.store.ssh_keypair_create(&row).await {
            Ok(k) => k,
            Err(e) if e.is_unique_violation() => return Err(Error::invalid_param(duplicate)),
            Err(e) => return Err(e.into()),
        };
        self.event(
            Some(caller),
            "REGISTER.SSH.KEYPAIR",
            &format!(
                "SSH key pair {name} registered for account {}",
                account.name
            ),
            Some(("SSHKeyPair", &keypair.uuid)),
        )
        .await;
        Ok(keypair)
    }

    fn keypair_name(name: &str) -> Result<&str> {
        let name = name.trim();
        if name.is_empty() {
            return Err(Error::invalid_param(
                "Please specify a valid name for the key pair. The key name can't be empty",
            ));
        }
        Ok(name)
    }

    /// `createSSHKeyPair`: generate an RSA-2048 key pair; the private key is returned once.
    pub async fn ssh_keypair_create(
        &self,
        caller: &Caller,
        owner: &OwnerInput,
        name: &str,
    ) -> Result<GeneratedKeyPair> {
        let name = Self::keypair_name(name)?;
        let account = self.owner_account(caller, owner).await?;
        let duplicate = format!("A key pair with name '{name}' already exists.");
        if self
            .store
            .ssh_keypair_by_name(account.id, name)
            .await?
            .is_some()
        {
            return Err(Error::invalid_param(duplicate));
        }
        // Key generation takes a noticeable moment of CPU: keep it off the request threads.
        let (private_key, public_key, fingerprint) = tokio::task::spawn_blocking(generate_rsa)
            .await
            .map_err(|e| Error::internal(format!("key generation did not finish: {e}")))?
            .map_err(|e| Error::internal(format!("key generation failed: {e}")))?;
        let keypair = self
            .keypair_insert(caller, &account, name, public_key, fingerprint, duplicate)
            .await?;
        Ok(GeneratedKeyPair {
            keypair,
            private_key,
        })
    }

    /// `registerSSHKeyPair`: store a public key under a name.
    pub async fn ssh_keypair_register(
        &self,
        caller: &Caller,
        owner: &OwnerInput,
        name: &str,
        public_key: &str,
    ) -> Result<SshKeyPair> {
        let name = Self::keypair_name(name)?;
        let account = self.owner_account(caller, owner).await?;
        let duplicate = format!("A key pair with name '{name}' already exists for this account.");
        if self
            .store
            .ssh_keypair_by_name(account.id, name)
            .await?
            .is_some()
        {
            return Err(Error::invalid_param(duplicate));
        }
        let (public_key, fingerprint) = parse_public_key(public_key)
            .map_err(|e| Error::invalid_param(format!("Public key is invalid: {e}")))?;
        let same_key = SshKeyPairFilter {
            account_id: Some(account.id),
            fingerprint: Some(fingerprint.clone()),
            ..SshKeyPairFilter::default()
        };
        let (_, existing) = self
            .store
            .ssh_keypair_list(&same_key, Page::count_only())
            .await?;
        if existing > 0 {
            return Err(Error::invalid_param(format!(
                "A key pair with key '{public_key}' already exists for this account."
            )));
        }
        self.keypair_insert(caller, &account, name, public_key, fingerprint, duplicate)
            .await
    }

    /// `listSSHKeyPairs`: the key pairs the caller may see, filtered (CloudStack's rules for
    /// account-owned listings: one's own without `listall`; with it, an administrator's domain
    /// subtree, everything for the root administrator).
    pub async fn ssh_keypair_list(
        &self,
        caller: &Caller,
        q: &SshKeyPairQuery,
        page: Page,
    ) -> Result<(Vec<SshKeyPair>, i64)> {
        let scope = self
            .owner_scope(caller, &q.owner, q.recursive, q.list_all)
            .await?;
        let f = SshKeyPairFilter {
            uuid: q.uuid.clone(),
            name: q.name.clone(),
            fingerprint: q.fingerprint.clone(),
            keyword: q.keyword.clone(),
            account_id: scope.account_id,
            domain_id: scope.domain_id,
            domain_path: scope.domain_path,
            account_ids: scope.account_ids,
            exclude_projects: scope.exclude_projects,
        };
        Ok(self.store.ssh_keypair_list(&f, page).await?)
    }

    /// `deleteSSHKeyPair`: delete the owner's key pair of that name. Instances deployed with it
    /// keep their copy of the key.
    pub async fn ssh_keypair_delete(
        &self,
        caller: &Caller,
        owner: &OwnerInput,
        name: &str,
    ) -> Result<()> {
        let account = self.owner_account(caller, owner).await?;
        let Some(keypair) = self.store.ssh_keypair_by_name(account.id, name).await? else {
            return Err(Error::invalid_param(format!(
                "A key pair with name '{name}' does not exist for account {} in specified domain id",
                account.name
            )));
        };
        self.store.ssh_keypair_delete(keypair.id).await?;
        self.event(
            Some(caller),
            "DELETE.SSH.KEYPAIR",
            &format!("SSH key pair {name} of account {} deleted", account.name),
            Some(("SSHKeyPair", &keypair.uuid)),
        )
        .await;
        Ok(())
    }

    /// The key pairs `names` of `account_id`, in order (for a deployment).
    pub(crate) async fn ssh_keypairs_named(
        &self,
        account_id: i64,
        names: &[String],
    ) -> Result<Vec<SshKeyPair>> {
        let mut out = Vec::with_capacity(names.len());
        for name in names {
            let keypair = self
                .store
                .ssh_keypair_by_name(account_id, name)
                .await?
                .ok_or_else(|| Error::invalid_param(format!("Unable to find key pair {name}")))?;
            out.push(keypair);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keys made with `ssh-keygen`, and the fingerprints `ssh-keygen -E md5 -l` printed for them.
    const ED25519: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHg1lKbd9fkDuf19vlX9Ckc9NTSJYtGZtvKTrNDyNsYA test@trellis";
    const ED25519_MD5: &str = "b0:9a:38:47:34:1e:0c:fc:2f:e5:53:1b:59:78:d0:ee";
    const RSA: &str = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQCwCOdBxIRLgHSQ7i5I03ttdUZB7JC079dNtK6HjeO/kamJnQOceUpw9wXjqeNnQSEazryQrtld1Jri+MtnMUCXlSGyU1CzRL+KHqdrNOoTxzg7K+sXrFh0JBMHK3E5MvOAsp+0QF1OIRUXI42nXyJ3UKfzDLCL/96+bSJD4B+wYOUCRYRvKZrpt4JvKrw1dwVaD9A16/SSRo2VL596h0eOhbJcqCSTmVSfXrYJPppSpLEB3ohDmFrQb8LDt3cgGH3oJpJ8US7/cRpmfHEOCpc0RBF+eBqZv9hUYbv+jufEkN8tB5dg/rlBFhQNOHzGIfRDXnQEEwQ9ATiS5EAhb5vP rsa@trellis";
    const RSA_MD5: &str = "21:19:4e:fe:ea:cc:dd:b2:94:18:68:4a:e2:38:58:64";
    const ECDSA: &str = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBOCHxrJVZNXLfsU/OmRsCoEQXdqLt2bmjrGY2hheo94KTIk9pOOEx2b0WpEKCh806k4WtWve6hjIKrp318QULxg= ec";
    const ECDSA_MD5: &str = "7f:e7:c8:7e:b3:b5:a6:b5:bb:0e:ee:16:cb:c4:30:71";

    #[test]
    fn fingerprints_are_those_ssh_keygen_prints() {
        for (key, md5) in [(ED25519, ED25519_MD5), (RSA, RSA_MD5), (ECDSA, ECDSA_MD5)] {
            let (stored, fingerprint) = parse_public_key(key).unwrap();
            assert_eq!(fingerprint, md5, "{key}");
            assert_eq!(
                stored,
                key.rsplit_once(' ').unwrap().0,
                "stored as <type> <base64>"
            );
        }
    }

    #[test]
    fn generated_keys_are_pem_and_openssh_with_a_matching_fingerprint() {
        let (pem, public, fingerprint) = generate_rsa().unwrap();
        assert!(
            pem.starts_with("-----BEGIN RSA PRIVATE KEY-----\n"),
            "{pem}"
        );
        assert!(pem.trim_end().ends_with("-----END RSA PRIVATE KEY-----"));
        let (stored, again) = parse_public_key(&public).unwrap();
        assert_eq!(stored, public);
        assert_eq!(again, fingerprint);
        assert_eq!(fingerprint.len(), 16 * 3 - 1);
        assert!(fingerprint.split(':').all(|p| p.len() == 2
            && p.chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())));
    }

    #[test]
    fn registered_keys_are_normalised_and_checked() {
        let (_, fingerprint) = parse_public_key(ED25519).unwrap();
        // A key line given as base64 (upstream accepts it), and extra spaces.
        let wrapped = base64::engine::general_purpose::STANDARD.encode(ED25519);
        assert_eq!(parse_public_key(&wrapped).unwrap().1, fingerprint);
        let spaced = format!("  {}\n", ED25519.replace(' ', "   "));
        assert_eq!(parse_public_key(&spaced).unwrap().1, fingerprint);
        let body = ED25519.split(' ').nth(1).unwrap();
        for (bad, why) in [
            (String::new(), PublicKeyError::Shape),
            ("garbage".into(), PublicKeyError::Shape),
            ("ssh-rsa".into(), PublicKeyError::Shape),
            (
                "ssh-foo AAAA".into(),
                PublicKeyError::Type("ssh-foo".into()),
            ),
            ("ssh-ed25519 !!!!".into(), PublicKeyError::Base64),
            // The blob names another type.
            (format!("ssh-rsa {body}"), PublicKeyError::Blob),
            // Truncated.
            (format!("ssh-ed25519 {}", &body[..40]), PublicKeyError::Blob),
        ] {
            assert_eq!(parse_public_key(&bad), Err(why), "{bad}");
        }
    }
}
