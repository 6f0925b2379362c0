//! Secret details: sealed at rest, masked in every view, opened only for the extension.
//!
//! A detail whose name marks it secret ([`is_secret_key`]) — of an extension, a cluster's
//! registration, a host, a custom action, an offering, a template or an instance — is stored
//! sealed under the server key, with the ChaCha20-Poly1305 sealing job secrets get
//! (`job::seal`): `sealed:v1:<key fingerprint>:<base64>`. The store keeps strings and knows
//! nothing of this. The application seals before it writes ([`App::details_sealed`],
//! [`App::details_replace`], [`App::detail_sealed`]) and opens only where the clear value is
//! needed: the payload of an extension ([`App::details_opened`], [`App::detail_opened`]). Views
//! never open: they show [`MASK`] in place of a secret ([`masked`]).
//!
//! A stored value without the sealed prefix (a row written before sealing) passes through as it
//! is; start-up seals those rows once ([`App::details_reseal`]).
//!
//! The round trip: a client that sends back the details it listed sends the mask as a secret's
//! value, and that keeps the stored value ([`keep_masked`]); any other value replaces it.

use std::collections::BTreeMap;
use trellis_model::entity::DetailOwner;
use trellis_model::{Error, Result};

use super::job::seal::{Sealed, Secret, SecretKey};
use super::secrets::{is_secret_key, MASK, SECRET_NAME_FRAGMENTS};
use super::App;

/// What a sealed detail value starts with.
pub const SEALED_PREFIX: &str = "sealed:";

/// Is this stored value sealed?
pub fn is_sealed(stored: &str) -> bool {
    stored.starts_with(SEALED_PREFIX)
}

/// `value` as it is stored under `name`: sealed when the name is secret (and the value is not
/// sealed already), as it is otherwise.
pub fn seal(key: &SecretKey, name: &str, value: &str) -> Result<String> {
    if !is_secret_key(name) || is_sealed(value) {
        return Ok(value.to_string());
    }
    let sealed = key.seal(&Secret::new(value.to_string()))?;
    Ok(format!("{SEALED_PREFIX}{}", sealed.as_stored()))
}

/// The clear value of a stored one: opened when sealed, as it is otherwise (a row from before
/// sealing).
pub fn open(key: &SecretKey, name: &str, stored: &str) -> Result<String> {
    let Some(text) = stored.strip_prefix(SEALED_PREFIX) else {
        return Ok(stored.to_string());
    };
    let sealed = Sealed::from_stored(text);
    match sealed.fingerprint() {
        None => {
            return Err(Error::internal(format!(
                "the stored value of detail {name} is not a sealed value"
            )))
        }
        Some(theirs) if theirs != key.fingerprint() => {
            return Err(Error::unavailable(format!(
                "detail {name} was sealed with key {theirs}, but this server has key {}: give every server the same secret_key_file",
                key.fingerprint()
            )))
        }
        Some(_) => {}
    }
    key.open::<String>(&sealed)
        .map(Secret::into_inner)
        .map_err(|_| {
            Error::internal(format!(
                "the stored value of detail {name} does not verify (it was altered)"
            ))
        })
}

/// Details as every view shows them: a secret's value (and any sealed value) is the mask.
pub fn masked(details: BTreeMap<String, String>) -> BTreeMap<String, String> {
    details
        .into_iter()
        .map(|(k, v)| {
            if !v.is_empty() && (is_secret_key(&k) || is_sealed(&v)) {
                (k, MASK.to_string())
            } else {
                (k, v)
            }
        })
        .collect()
}

/// New details of an owner whose stored details are `stored` (as stored): a secret sent with the
/// mask as its value keeps its stored value; the mask for a secret that is not stored is refused
/// (storing the mask would lose the secret without anyone noticing).
pub fn keep_masked(
    new: BTreeMap<String, String>,
    stored: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>> {
    new.into_iter()
        .map(|(k, v)| {
            if v != MASK || !is_secret_key(&k) {
                return Ok((k, v));
            }
            match stored.get(&k) {
                Some(old) => Ok((k, old.clone())),
                None => Err(Error::invalid_param(format!(
                    "Detail {k} has the mask {MASK} as its value, which stands for a stored secret, but no value is stored under that name: send the value itself"
                ))),
            }
        })
        .collect()
}

impl App {
    /// Details of a new owner, ready to store: secrets sealed (a mask is refused: there is no
    /// stored value to keep).
    pub(crate) fn details_sealed(
        &self,
        details: BTreeMap<String, String>,
    ) -> Result<BTreeMap<String, String>> {
        self.details_seal_values(keep_masked(details, &BTreeMap::new())?)
    }

    /// Details ready to store, as given: secrets sealed, a mask taken for a value.
    pub(crate) fn details_seal_values(
        &self,
        details: BTreeMap<String, String>,
    ) -> Result<BTreeMap<String, String>> {
        details
            .into_iter()
            .map(|(k, v)| {
                let v = seal(self.secret_key(), &k, &v)?;
                Ok((k, v))
            })
            .collect()
    }

    /// One detail's value, ready to store.
    pub(crate) fn detail_sealed(&self, name: &str, value: &str) -> Result<String> {
        seal(self.secret_key(), name, value)
    }

    /// Stored details with their sealed values opened, for an extension's payload.
    pub(crate) fn details_opened(
        &self,
        details: BTreeMap<String, String>,
    ) -> Result<BTreeMap<String, String>> {
        details
            .into_iter()
            .map(|(k, v)| {
                let v = open(self.secret_key(), &k, &v)?;
                Ok((k, v))
            })
            .collect()
    }

    /// One stored detail's clear value, for an extension's payload.
    pub(crate) fn detail_opened(&self, name: &str, stored: &str) -> Result<String> {
        open(self.secret_key(), name, stored)
    }

    /// Replace the visible details of an owner (those whose name starts with `prefix`, given
    /// without it): a secret sent back as the mask keeps its stored value, every secret is
    /// stored sealed.
    pub(crate) async fn details_replace(
        &self,
        owner: DetailOwner,
        owner_id: i64,
        prefix: &str,
        values: &BTreeMap<String, String>,
    ) -> Result<()> {
        let stored: BTreeMap<String, String> = self
            .store
            .details_visible(owner, owner_id)
            .await?
            .into_iter()
            .filter_map(|(k, v)| k.strip_prefix(prefix).map(|k| (k.to_string(), v)))
            .collect();
        let values = self.details_seal_values(keep_masked(values.clone(), &stored)?)?;
        self.store
            .details_replace_visible(owner, owner_id, prefix, &values)
            .await?;
        Ok(())
    }

    /// Note the secret names a set of extension details declares, before they are sealed (so a
    /// value given with its declaration is sealed at once).
    /// Returns whether a name was new (then the caller reseals once the details are written).
    pub(crate) fn secret_names_note(&self, details: &BTreeMap<String, String>) -> bool {
        details
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(super::secrets::DECLARED_SECRETS_DETAIL))
            .is_some_and(|(_, v)| {
                super::secrets::declare_secret_names(&super::secrets::declared_in(v))
            })
    }

    /// Recompute the declared secret names from every extension (other servers may have
    /// changed them) and seal the values a new declaration covers.
    pub(crate) async fn secret_names_refresh(&self) -> Result<()> {
        let mut names = std::collections::BTreeSet::new();
        for d in self
            .store
            .details_named_like(&[super::secrets::DECLARED_SECRETS_DETAIL])
            .await?
        {
            if d.owner == trellis_model::entity::DetailOwner::Extension
                && d.name
                    .eq_ignore_ascii_case(super::secrets::DECLARED_SECRETS_DETAIL)
            {
                names.extend(super::secrets::declared_in(&d.value));
            }
        }
        if super::secrets::set_declared_secret_names(names) {
            let sealed = self.details_reseal().await?;
            if sealed > 0 {
                tracing::info!(
                    details = sealed,
                    "sealed the details newly declared secret by an extension"
                );
            }
        }
        Ok(())
    }

    /// Seal the secret details still stored in clear (rows written before sealing existed).
    /// Idempotent, and safe with several servers: each row is rewritten only if it still holds
    /// the clear value read (a compare-and-set), so it is sealed once. Returns how many rows
    /// this call sealed.
    pub(crate) async fn details_reseal(&self) -> Result<usize> {
        let mut sealed = 0;
        let declared = super::secrets::declared_secret_names();
        let mut names: Vec<&str> = SECRET_NAME_FRAGMENTS.to_vec();
        names.extend(declared.iter().map(String::as_str));
        for d in self.store.details_named_like(&names).await? {
            if !is_secret_key(&d.name) || is_sealed(&d.value) {
                continue;
            }
            let value = seal(self.secret_key(), &d.name, &d.value)?;
            if self
                .store
                .detail_swap_value(d.owner, d.owner_id, &d.name, &d.value, &value)
                .await?
            {
                sealed += 1;
            }
        }
        Ok(sealed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn secrets_are_sealed_and_open_to_the_clear_value() {
        let key = SecretKey::generate();
        let stored = seal(&key, "password", "Hyper-V-Pass-1").unwrap();
        assert!(is_sealed(&stored), "{stored}");
        assert!(!stored.contains("Hyper-V-Pass-1"), "{stored}");
        assert!(stored.contains(key.fingerprint()), "{stored}");
        assert_eq!(open(&key, "password", &stored).unwrap(), "Hyper-V-Pass-1");
        // A fresh nonce each time; sealing a sealed value leaves it as it is.
        assert_ne!(seal(&key, "password", "Hyper-V-Pass-1").unwrap(), stored);
        assert_eq!(seal(&key, "password", &stored).unwrap(), stored);
        // Names that are not secret are stored as they are.
        assert_eq!(
            seal(&key, "url", "https://pve:8006").unwrap(),
            "https://pve:8006"
        );
        assert_eq!(
            seal(&key, "SSH.PublicKey", "ssh-ed25519 AAA").unwrap(),
            "ssh-ed25519 AAA"
        );
    }

    #[test]
    fn legacy_clear_values_pass_through() {
        let key = SecretKey::generate();
        assert_eq!(open(&key, "token", "tok-in-clear").unwrap(), "tok-in-clear");
        assert_eq!(open(&key, "url", "v1:abc:def").unwrap(), "v1:abc:def");
    }

    #[test]
    fn another_key_or_an_altered_value_is_refused_with_a_reason() {
        let key = SecretKey::generate();
        let stored = seal(&key, "apikey", "maas-key-123").unwrap();
        let other = SecretKey::generate();
        let err = open(&other, "apikey", &stored).unwrap_err();
        assert!(err.to_string().contains("secret_key_file"), "{err}");
        assert!(err.to_string().contains("apikey"), "{err}");
        let mut altered = stored.clone();
        let last = altered.pop().unwrap();
        altered.push(if last == 'A' { 'B' } else { 'A' });
        assert!(open(&key, "apikey", &altered).is_err());
        assert!(open(&key, "apikey", "sealed:garbage").is_err());
    }

    #[test]
    fn views_show_the_mask_for_secrets_only() {
        let key = SecretKey::generate();
        let sealed = seal(&key, "secret", "s3cr3t-value").unwrap();
        let shown = masked(map(&[
            ("secret", &sealed),
            ("token", "legacy-clear"),
            ("url", "https://x"),
            ("password", ""),
        ]));
        assert_eq!(
            shown,
            map(&[
                ("secret", MASK),
                ("token", MASK),
                ("url", "https://x"),
                ("password", ""),
            ])
        );
    }

    #[test]
    fn the_mask_sent_back_keeps_the_stored_secret_and_a_new_value_replaces_it() {
        let stored = map(&[("password", "sealed:v1:x:y"), ("url", "https://old")]);
        let kept =
            keep_masked(map(&[("password", MASK), ("url", "https://new")]), &stored).unwrap();
        assert_eq!(
            kept,
            map(&[("password", "sealed:v1:x:y"), ("url", "https://new")])
        );
        let replaced = keep_masked(map(&[("password", "new-pass")]), &stored).unwrap();
        assert_eq!(replaced, map(&[("password", "new-pass")]));
        // The mask under a name that is not secret is a value like any other.
        let plain = keep_masked(map(&[("url", MASK)]), &stored).unwrap();
        assert_eq!(plain, map(&[("url", MASK)]));
        let err = keep_masked(map(&[("token", MASK)]), &stored).unwrap_err();
        assert!(err.to_string().contains("send the value itself"), "{err}");
    }
}
