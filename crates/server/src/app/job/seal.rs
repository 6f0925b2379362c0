//! Secrets that jobs carry, sealed at rest.
//!
//! A job row outlives the request that queued it (it is resumed after a crash, or by another
//! server), so whatever secret it needs — a custom action's parameter values, say — is stored.
//! It is stored sealed: ChaCha20-Poly1305 under the server key ([`SecretKey`]), a fresh random
//! nonce each time, the key's fingerprint in front so a server holding another key says so
//! instead of failing obscurely. In memory the opened value is a [`Secret`], which never prints.
//!
//! Several servers on one PostgreSQL database must share the key (`secret_key_file`); a single
//! server creates its own on first start (`<data-dir>/secret.key`, mode 0600).

use base64::Engine as _;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use sha2::Digest;
use std::path::Path;
use trellis_model::{Error, Result};

const KEY_LEN: usize = 32;
const VERSION: &str = "v1";

/// Why the key could not be loaded or created.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read the secret key file {path}")]
    Read {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot create the secret key file {path}")]
    Create {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the secret key file {path} must hold 64 hexadecimal characters (32 bytes)")]
    Malformed { path: std::path::PathBuf },
}

/// The key jobs' secrets are sealed with.
pub struct SecretKey {
    key: LessSafeKey,
    /// First 8 hex digits of SHA-256(key): names the key without revealing it.
    fingerprint: String,
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretKey({})", self.fingerprint)
    }
}

impl SecretKey {
    pub fn from_bytes(bytes: &[u8; KEY_LEN]) -> SecretKey {
        let unbound = UnboundKey::new(&CHACHA20_POLY1305, bytes).expect("a 32-byte key");
        let digest = sha2::Sha256::digest(bytes);
        let fingerprint = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
        SecretKey {
            key: LessSafeKey::new(unbound),
            fingerprint,
        }
    }

    /// A fresh random key (tests, first start).
    pub fn generate() -> SecretKey {
        SecretKey::from_bytes(&random_key())
    }

    /// Read the key from `path`; when the file does not exist and `create` is set, write a new
    /// random key there (0600) first.
    pub fn load_or_create(path: &Path, create: bool) -> std::result::Result<SecretKey, KeyError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && create => {
                let key = random_key();
                let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
                write_private(path, &format!("{hex}\n")).map_err(|source| KeyError::Create {
                    path: path.to_path_buf(),
                    source,
                })?;
                hex
            }
            Err(source) => {
                return Err(KeyError::Read {
                    path: path.to_path_buf(),
                    source,
                })
            }
        };
        let text = text.trim();
        let malformed = || KeyError::Malformed {
            path: path.to_path_buf(),
        };
        if text.len() != KEY_LEN * 2 {
            return Err(malformed());
        }
        let mut bytes = [0u8; KEY_LEN];
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = u8::from_str_radix(&text[i * 2..i * 2 + 2], 16).map_err(|_| malformed())?;
        }
        Ok(SecretKey::from_bytes(&bytes))
    }

    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// Seal `value` (as JSON).
    pub fn seal<T: Serialize>(&self, value: &Secret<T>) -> Result<Sealed> {
        let mut data =
            serde_json::to_vec(&value.0).map_err(|e| Error::internal(format!("seal: {e}")))?;
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| Error::internal("seal: no randomness"))?;
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(self.fingerprint.as_bytes()),
                &mut data,
            )
            .map_err(|_| Error::internal("seal: encryption failed"))?;
        let mut blob = nonce.to_vec();
        blob.extend_from_slice(&data);
        Ok(Sealed(format!(
            "{VERSION}:{}:{}",
            self.fingerprint,
            base64::engine::general_purpose::STANDARD_NO_PAD.encode(blob)
        )))
    }

    /// Open a sealed value.
    pub fn open<T: DeserializeOwned>(&self, sealed: &Sealed) -> Result<Secret<T>> {
        let mut parts = sealed.0.splitn(3, ':');
        let (Some(VERSION), Some(fingerprint), Some(body)) =
            (parts.next(), parts.next(), parts.next())
        else {
            return Err(Error::internal("a sealed job value is malformed"));
        };
        if fingerprint != self.fingerprint {
            return Err(Error::unavailable(format!(
                "a secret of this job was sealed with key {fingerprint}, but this server has key {}: give every server the same secret_key_file",
                self.fingerprint
            )));
        }
        let mut blob = base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(body)
            .map_err(|_| Error::internal("a sealed job value is malformed"))?;
        if blob.len() < NONCE_LEN {
            return Err(Error::internal("a sealed job value is malformed"));
        }
        let mut data = blob.split_off(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = blob.try_into().expect("nonce length checked");
        let plain = self
            .key
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(fingerprint.as_bytes()),
                &mut data,
            )
            .map_err(|_| {
                Error::internal("a sealed job value does not verify (altered, or another key)")
            })?;
        serde_json::from_slice(plain)
            .map(Secret)
            .map_err(|e| Error::internal(format!("a sealed job value is unreadable: {e}")))
    }
}

fn random_key() -> [u8; KEY_LEN] {
    let mut key = [0u8; KEY_LEN];
    SystemRandom::new()
        .fill(&mut key)
        .expect("the system random generator works");
    key
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()
}

/// A sealed value as stored in a job row. Prints its size only.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Sealed(String);

impl Sealed {
    /// The stored text (`v1:<fingerprint>:<base64>`), to keep somewhere else than a job row.
    pub fn as_stored(&self) -> &str {
        &self.0
    }

    /// A stored text, to open.
    pub fn from_stored(text: impl Into<String>) -> Sealed {
        Sealed(text.into())
    }

    /// The fingerprint of the key this value was sealed with, if the text has the sealed form.
    pub fn fingerprint(&self) -> Option<&str> {
        let mut parts = self.0.splitn(3, ':');
        match (parts.next(), parts.next(), parts.next()) {
            (Some(VERSION), Some(fingerprint), Some(_)) => Some(fingerprint),
            _ => None,
        }
    }
}

impl std::fmt::Debug for Sealed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sealed({} bytes)", self.0.len())
    }
}

/// A value that must never be printed or logged; read it with [`Secret::expose`].
#[derive(Clone, PartialEq, Eq)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    pub fn new(value: T) -> Secret<T> {
        Secret(value)
    }
    pub fn expose(&self) -> &T {
        &self.0
    }
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(******)")
    }
}

impl<T> std::fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("******")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_round_trip_and_hide_the_plaintext() {
        let key = SecretKey::generate();
        let value = Secret::new(vec![("newpw".to_string(), "Param-Pass-123".to_string())]);
        let sealed = key.seal(&value).unwrap();
        let stored = serde_json::to_string(&sealed).unwrap();
        assert!(!stored.contains("Param-Pass-123"), "{stored}");
        assert!(!format!("{sealed:?}").contains("Param"));
        let opened: Secret<Vec<(String, String)>> = key.open(&sealed).unwrap();
        assert_eq!(opened, value);
        assert_eq!(format!("{opened:?}"), "Secret(******)");
        assert_eq!(opened.to_string(), "******");
        // A fresh nonce each time.
        assert_ne!(key.seal(&value).unwrap(), sealed);
    }

    #[test]
    fn another_key_or_a_changed_byte_is_refused_with_a_reason() {
        let key = SecretKey::generate();
        let sealed = key.seal(&Secret::new("x".to_string())).unwrap();
        let other = SecretKey::generate();
        let err = other.open::<String>(&sealed).unwrap_err().to_string();
        assert!(err.contains("secret_key_file"), "{err}");
        let mut tampered = sealed.0.clone();
        let last = tampered.pop().unwrap();
        tampered.push(if last == 'A' { 'B' } else { 'A' });
        assert!(key.open::<String>(&Sealed(tampered)).is_err());
    }

    #[test]
    fn key_files_are_created_private_and_read_back() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret.key");
        assert!(matches!(
            SecretKey::load_or_create(&path, false),
            Err(KeyError::Read { .. })
        ));
        let a = SecretKey::load_or_create(&path, true).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let b = SecretKey::load_or_create(&path, true).unwrap();
        assert_eq!(a.fingerprint(), b.fingerprint());
        let sealed = a.seal(&Secret::new(1u8)).unwrap();
        assert_eq!(*b.open::<u8>(&sealed).unwrap().expose(), 1);
        std::fs::write(&path, "not hex").unwrap();
        assert!(matches!(
            SecretKey::load_or_create(&path, true),
            Err(KeyError::Malformed { .. })
        ));
    }
}
