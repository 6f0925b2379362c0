//! Who may set which external details (tenant isolation).
//!
//! Details set by administrators — on the extension, a cluster registration, a host, a service
//! offering, or a template an administrator registered — are authoritative: they say which host,
//! which disk, which template VM an extension acts on. A tenant's values (deploy-time
//! `externaldetails`, `External:` keys in `details`, `updateVirtualMachine details`, and the
//! external details of a template a tenant registered) are accepted only for keys the
//! extension declares user-settable in its detail [`USER_SETTABLE_DETAILS`], and never for a key
//! an administrator has set at any level. Root administrators are not restricted.
//!
//! A refusal is a 431 naming every refused key, so nothing is dropped silently.

use std::collections::{BTreeMap, BTreeSet};
use trellis_model::entity::{DetailOwner, Extension, ServiceOffering, Template};
use trellis_model::{Error, Result, RoleType};

use super::infra::EXTERNAL_PREFIX;
use super::{App, Caller};

/// Extension detail listing the external-detail keys tenants may set (comma-separated).
/// None by default, for the built-ins too.
pub const USER_SETTABLE_DETAILS: &str = "user.settable.details";

/// Instance details Trellis sets from a dedicated parameter, with that parameter: `details` on
/// deploy and `updateVirtualMachine` cannot set them (else a caller could spoof its keys, group,
/// disk offering or delete protection past the checks of the real parameter).
pub fn reserved_instance_detail(name: &str) -> Option<&'static str> {
    use super::disk_offerings::{DETAIL_DISK_OFFERING_ID, DETAIL_DISK_OFFERING_NAME};
    use super::ssh_keys::{DETAIL_SSH_KEYPAIR_NAMES, DETAIL_SSH_PUBLIC_KEY};
    let reserved: [(&str, &'static str); 6] = [
        (DETAIL_SSH_PUBLIC_KEY, "keypair or keypairs"),
        (DETAIL_SSH_KEYPAIR_NAMES, "keypair or keypairs"),
        (super::deploy::DETAIL_GROUP, "group"),
        (
            super::guest_data::DETAIL_DELETE_PROTECTION,
            "deleteprotection",
        ),
        (DETAIL_DISK_OFFERING_ID, "diskofferingid"),
        (DETAIL_DISK_OFFERING_NAME, "diskofferingid"),
    ];
    reserved
        .into_iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, param)| param)
}

/// Refuse `details` that name a reserved instance detail (431 naming the detail and its
/// parameter).
pub fn refuse_reserved_details<'a>(mut keys: impl Iterator<Item = &'a String>) -> Result<()> {
    match keys.find_map(|k| reserved_instance_detail(k).map(|p| (k, p))) {
        Some((k, param)) => Err(Error::invalid_param(format!(
            "Detail {k} cannot be set: it is set by the parameter {param}"
        ))),
        None => Ok(()),
    }
}

/// The keys an extension lets tenants set.
pub fn user_settable(extension_details: &BTreeMap<String, String>) -> BTreeSet<String> {
    extension_details
        .get(USER_SETTABLE_DETAILS)
        .map(|list| {
            list.split(',')
                .map(str::trim)
                .filter(|k| !k.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// The external-detail keys (prefix stripped) in a `details` map: `External:<k>` entries.
pub fn external_keys_of_details(details: &BTreeMap<String, String>) -> Vec<String> {
    details
        .keys()
        .filter_map(|k| k.strip_prefix(EXTERNAL_PREFIX))
        .map(str::to_string)
        .collect()
}

impl App {
    /// Was this template registered by a root administrator (so its details are admin-level)?
    pub(crate) async fn template_is_admin_owned(&self, template: &Template) -> Result<bool> {
        let Some(account) = self.store.account_get(template.account_id).await? else {
            return Ok(false);
        };
        Ok(self
            .store
            .role_get(account.role_id)
            .await?
            .is_some_and(|r| r.role_type == RoleType::Admin))
    }

    /// Check the external-detail keys a tenant supplies for an instance of `template` (or a
    /// template bound to `extension`). `offering` adds its details to the admin level.
    pub(crate) async fn user_details_check(
        &self,
        caller: &Caller,
        extension: Option<&Extension>,
        template: Option<&Template>,
        offering: Option<&ServiceOffering>,
        keys: &BTreeSet<String>,
    ) -> Result<()> {
        if caller.is_root_admin() || keys.is_empty() {
            return Ok(());
        }
        let Some(extension) = extension else {
            return Err(Error::invalid_param(format!(
                "External details {} cannot be set: the template is bound to no extension, so no extension declares them user-settable",
                join(keys)
            )));
        };
        let extension_details = self
            .store
            .details_visible(DetailOwner::Extension, extension.id)
            .await?;
        let settable = user_settable(&extension_details);
        let not_settable: BTreeSet<String> = keys
            .iter()
            .filter(|k| !settable.contains(*k))
            .cloned()
            .collect();
        if !not_settable.is_empty() {
            return Err(Error::invalid_param(format!(
                "External details {} cannot be set by users: extension {} does not declare them user-settable (extension detail '{USER_SETTABLE_DETAILS}')",
                join(&not_settable),
                extension.name
            )));
        }
        // Keys an administrator set anywhere on the way to the extension win.
        let mut admin: BTreeMap<String, &'static str> = BTreeMap::new();
        let mut note = |d: BTreeMap<String, String>, level: &'static str, prefixed: bool| {
            for k in d.into_keys() {
                let k = if prefixed {
                    match k.strip_prefix(EXTERNAL_PREFIX) {
                        Some(s) => s.to_string(),
                        None => continue,
                    }
                } else {
                    k
                };
                admin.entry(k).or_insert(level);
            }
        };
        note(extension_details, "extension", false);
        for map in self.store.resource_map_list(extension.id).await? {
            let d = self
                .store
                .details_visible(DetailOwner::ResourceMap, map.id)
                .await?;
            note(d, "cluster", false);
        }
        for host in self.store.host_list_for_extension(extension.id).await? {
            let d = self
                .store
                .details_visible(DetailOwner::Host, host.id)
                .await?;
            note(d, "host", true);
        }
        if let Some(o) = offering {
            let d = self
                .store
                .details_visible(DetailOwner::Offering, o.id)
                .await?;
            note(d, "service offering", true);
        }
        if let Some(t) = template {
            if self.template_is_admin_owned(t).await? {
                let d = self
                    .store
                    .details_visible(DetailOwner::Template, t.id)
                    .await?;
                note(d, "template", true);
            }
        }
        let overridden: Vec<String> = keys
            .iter()
            .filter_map(|k| admin.get(k).map(|level| format!("'{k}' ({level})")))
            .collect();
        if !overridden.is_empty() {
            return Err(Error::invalid_param(format!(
                "External details set by an administrator cannot be overridden: {}",
                overridden.join(", ")
            )));
        }
        Ok(())
    }

    /// The external-detail keys of a tenant-registered template (empty for admin templates).
    pub(crate) async fn template_user_keys(&self, template: &Template) -> Result<BTreeSet<String>> {
        if self.template_is_admin_owned(template).await? {
            return Ok(BTreeSet::new());
        }
        let d = self
            .store
            .details_visible(DetailOwner::Template, template.id)
            .await?;
        Ok(external_keys_of_details(&d).into_iter().collect())
    }
}

fn join(keys: &BTreeSet<String>) -> String {
    keys.iter()
        .map(|k| format!("'{k}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_settable_keys_are_a_trimmed_comma_list() {
        let mut d = BTreeMap::new();
        assert!(user_settable(&d).is_empty());
        d.insert(
            USER_SETTABLE_DETAILS.to_string(),
            " cloud_init , ,generation".to_string(),
        );
        let keys = user_settable(&d);
        assert_eq!(
            keys.into_iter().collect::<Vec<_>>(),
            vec!["cloud_init".to_string(), "generation".to_string()]
        );
    }

    #[test]
    fn only_prefixed_details_are_external() {
        let mut d = BTreeMap::new();
        d.insert("External:template_path".to_string(), "x".to_string());
        d.insert("rootdisksize".to_string(), "10".to_string());
        assert_eq!(external_keys_of_details(&d), vec!["template_path"]);
    }
}
