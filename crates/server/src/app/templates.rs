//! Templates for External instances: registration (who may bind one to an extension, public and
//! featured rules), visibility per `templatefilter`, deletion.

use std::collections::BTreeMap;
use trellis_model::entity::{DetailOwner, Template};
use trellis_model::limits::ResourceType;
use trellis_model::os_types::{OsType, DEFAULT_OS_TYPE};
use trellis_model::{ids, time::now_millis, Error, Result};
use trellis_store::{Page, TemplateFilter, TemplateVisibility};

use super::infra::{EXTERNAL_PREFIX, HYPERVISOR_EXTERNAL};
use super::{setting, App, Caller};

/// Input of `registerTemplate`.
#[derive(Debug, Clone, Default)]
pub struct TemplateInput {
    pub name: String,
    pub display_text: Option<String>,
    pub format: String,
    pub hypervisor: String,
    pub url: String,
    pub zone_uuid: Option<String>,
    pub extension_uuid: Option<String>,
    pub external_details: BTreeMap<String, String>,
    pub arch: Option<String>,
    /// `ostypeid`: the uuid of a catalogue entry (`listOsTypes`).
    pub os_type_id: Option<String>,
    pub is_public: Option<bool>,
    pub is_featured: Option<bool>,
    /// `projectid`: the project owns the template.
    pub project_uuid: Option<String>,
}

/// Input of `updateTemplate`: what is `None` stays as it is.
#[derive(Debug, Clone, Default)]
pub struct TemplateUpdate {
    pub name: Option<String>,
    pub display_text: Option<String>,
    pub os_type_id: Option<String>,
    pub arch: Option<String>,
    pub format: Option<String>,
    pub is_featured: Option<bool>,
    /// New external details, replacing the old ones (`cleanupexternaldetails` clears them).
    pub external_details: Option<BTreeMap<String, String>>,
    pub cleanup_external_details: bool,
}

/// The disk formats a template for External instances may declare. The server stores the
/// format and hands it to the extension (`cloudstack.template.format` among the instance's
/// external details); only the extension knows what to do with the image.
pub const TEMPLATE_FORMATS: &[&str] = &[
    "EXTERNAL", "QCOW2", "RAW", "VHD", "VHDX", "OVA", "VMDK", "ISO", "TAR",
];

/// The canonical (upper-case) spelling of a format, or the 431 naming the accepted ones.
pub fn template_format(format: &str) -> Result<&'static str> {
    TEMPLATE_FORMATS
        .iter()
        .copied()
        .find(|f| f.eq_ignore_ascii_case(format.trim()))
        .ok_or_else(|| {
            Error::invalid_param(format!(
                "Invalid format {format}: templates for External hypervisor type take one of {}",
                TEMPLATE_FORMATS.join(", ")
            ))
        })
}

/// The catalogue entry an `ostypeid` names, or upstream's 431 for an id that names nothing.
pub fn os_type_of(uuid: &str) -> Result<OsType> {
    OsType::by_uuid(uuid).ok_or_else(|| {
        Error::invalid_param(format!(
            "Invalid parameter ostypeid value={uuid} due to incorrect long value format, or entity does not exist or due to incorrect parameter annotation for the field in api cmd class."
        ))
    })
}

const TEMPLATE_NAME_MAX: usize = 255;

impl App {
    /// `registerTemplate` for External: no download, Active at once, bound to an extension.
    pub async fn template_register(
        &self,
        caller: &Caller,
        input: TemplateInput,
    ) -> Result<Template> {
        let TemplateInput {
            name,
            display_text,
            format,
            hypervisor,
            url,
            zone_uuid,
            extension_uuid,
            external_details,
            arch,
            os_type_id,
            is_public,
            is_featured,
            project_uuid,
        } = input;
        // The owner: the caller, or the project it names (a member).
        let owner = match project_uuid {
            Some(u) => {
                let o = super::ownership::OwnerInput {
                    project_uuid: Some(u),
                    ..Default::default()
                };
                self.owner_account(caller, &o).await?
            }
            None => caller.account.clone(),
        };
        let (name, format, hypervisor, url) = (&*name, &*format, &*hypervisor, &*url);
        let (display_text, zone_uuid, extension_uuid) = (
            display_text.as_deref(),
            zone_uuid.as_deref(),
            extension_uuid.as_deref(),
        );
        let arch = arch.as_deref();
        let os_type = match os_type_id.as_deref() {
            Some(u) => os_type_of(u)?,
            None => OsType::of_stored(DEFAULT_OS_TYPE),
        };
        if !hypervisor.eq_ignore_ascii_case(HYPERVISOR_EXTERNAL) {
            return Err(Error::invalid_param(format!("Hypervisor type {hypervisor} is not supported: Trellis registers templates of hypervisor type External")));
        }
        let format = template_format(format)?;
        let arch = match arch {
            Some(a) => Some(template_arch(a)?),
            None => None,
        };
        let zone_id = match zone_uuid.filter(|z| *z != "-1") {
            Some(u) => Some(self.zone_by_uuid(u).await?.id),
            None => None,
        };
        let extension = match extension_uuid {
            Some(u) => Some(
                self.store
                    .extension_by_uuid(u)
                    .await?
                    .ok_or_else(|| Error::not_found("Invalid extension specified"))?,
            ),
            None => None,
        };
        // Who may do what with a template is the administrator's decision (tenant isolation):
        // binding to an extension needs a root admin unless the setting allows it; a tenant's
        // external details pass the same check as deploy-time ones; featured is admin-only;
        // public needs the admin's leave.
        let admin = caller.is_root_admin();
        if !admin && extension.is_some() && !self.setting_bool(setting::USER_TEMPLATE_EXTENSION) {
            return Err(Error::denied(format!(
                "Only root administrators may bind a template to an extension (setting {} is false)",
                setting::USER_TEMPLATE_EXTENSION
            )));
        }
        if !admin && !external_details.is_empty() {
            let keys = external_details.keys().cloned().collect();
            self.user_details_check(caller, extension.as_ref(), None, None, &keys)
                .await?;
        }
        let is_featured = is_featured.unwrap_or(false);
        if is_featured && !admin {
            return Err(Error::denied(
                "Only root administrators may register featured templates",
            ));
        }
        let is_public = is_public.unwrap_or(false);
        if is_public && !admin && !self.setting_bool(setting::ALLOW_PUBLIC_USER_TEMPLATES) {
            return Err(Error::invalid_param(format!(
                "Only private templates can be registered: public user templates are not allowed (setting {})",
                setting::ALLOW_PUBLIC_USER_TEMPLATES
            )));
        }
        let t = Template {
            id: 0,
            uuid: ids::new_uuid(),
            name: name.into(),
            display_text: display_text.unwrap_or(name).into(),
            format: format.into(),
            hypervisor: HYPERVISOR_EXTERNAL.into(),
            os_type: os_type.description.into(),
            extension_id: extension.as_ref().map(|e| e.id),
            arch: arch.unwrap_or("x86_64").into(),
            is_public,
            is_featured,
            account_id: owner.id,
            zone_id,
            url: url.into(),
            size: 0,
            state: "Active".into(),
            created: now_millis(),
        };
        // A new template: no stored secret for a mask to stand for.
        super::secret_details::keep_masked(external_details.clone(), &BTreeMap::new())?;
        let _limits = self
            .limits_reserve(&owner, &[(ResourceType::Template, 1)])
            .await?;
        let t = self.store.template_create(&t).await?;
        self.details_replace(
            DetailOwner::Template,
            t.id,
            EXTERNAL_PREFIX,
            &external_details,
        )
        .await?;
        self.event(
            Some(caller),
            "TEMPLATE.CREATE",
            &format!("Template {name} registered"),
            Some(("Template", &t.uuid)),
        )
        .await;
        Ok(t)
    }

    /// `listTemplates`: `templatefilter` resolved for the caller, applied before paging.
    pub async fn template_list(
        &self,
        caller: &Caller,
        template_filter: &str,
        hypervisor: Option<&str>,
        filter: &TemplateFilter<'_>,
        project: Option<&str>,
        page: Page,
    ) -> Result<(Vec<Template>, i64)> {
        match project {
            None => {
                self.templates_visible(
                    caller.is_root_admin(),
                    caller.account.id,
                    template_filter,
                    hypervisor,
                    filter,
                    page,
                )
                .await
            }
            Some("-1") => {
                // Every project of the caller: what any of them sees, once each.
                let mut seen = std::collections::BTreeMap::new();
                for account in self.project_accounts_visible(caller).await? {
                    let (items, _) = self
                        .templates_visible(
                            false,
                            account,
                            template_filter,
                            hypervisor,
                            filter,
                            Page::all(),
                        )
                        .await?;
                    for t in items {
                        seen.insert(t.id, t);
                    }
                }
                Ok(super::identity::paginate(
                    seen.into_values().collect(),
                    page,
                ))
            }
            Some(uuid) => {
                let account = self.project_for(caller, uuid).await?.account_id;
                self.templates_visible(false, account, template_filter, hypervisor, filter, page)
                    .await
            }
        }
    }

    /// The templates `account` sees through `template_filter` (`admin`: a root administrator).
    async fn templates_visible(
        &self,
        admin: bool,
        account: i64,
        template_filter: &str,
        hypervisor: Option<&str>,
        filter: &TemplateFilter<'_>,
        page: Page,
    ) -> Result<(Vec<Template>, i64)> {
        let visibility = match template_filter.to_ascii_lowercase().as_str() {
            "featured" => TemplateVisibility::FeaturedFor(if admin { -1 } else { account }),
            "self" | "selfexecutable" => TemplateVisibility::OwnedBy(account),
            // Templates shared with the caller's account: Trellis has no template permissions.
            "sharedexecutable" => TemplateVisibility::Nothing,
            "executable" if admin => TemplateVisibility::All,
            "executable" => TemplateVisibility::UsableBy(account),
            "community" => TemplateVisibility::CommunityFor(account),
            "all" if admin => TemplateVisibility::All,
            "all" => {
                return Err(Error::invalid_param(
                    "templatefilter all can be specified by an administrator only",
                ))
            }
            other => {
                return Err(Error::invalid_param(format!(
                    "Invalid templatefilter {other}: use featured, self, selfexecutable, sharedexecutable, executable, community or all"
                )))
            }
        };
        // Every Trellis template is of hypervisor type External: another type matches none.
        if hypervisor.is_some_and(|h| !h.eq_ignore_ascii_case(HYPERVISOR_EXTERNAL)) {
            return Ok((Vec::new(), 0));
        }
        Ok(self.store.template_list(filter, visibility, page).await?)
    }

    pub async fn template_by_uuid(&self, uuid: &str) -> Result<Template> {
        self.store
            .template_by_uuid(uuid)
            .await?
            .ok_or_else(|| Error::not_found(format!("Unable to find template by id {uuid}")))
    }

    pub async fn template_delete(&self, caller: &Caller, uuid: &str) -> Result<()> {
        let t = self.template_by_uuid(uuid).await?;
        if !caller.is_root_admin() && t.account_id != caller.account.id {
            return Err(Error::denied(format!(
                "Account {} does not own template {}",
                caller.account.name, t.uuid
            )));
        }
        self.store.template_delete(t.id, now_millis()).await?;
        self.store.tag_delete_for_resource("Template", t.id).await?;
        self.event(
            Some(caller),
            "TEMPLATE.DELETE",
            &format!("Template {} deleted", t.name),
            Some(("Template", &t.uuid)),
        )
        .await;
        Ok(())
    }

    /// `updateTemplate`: the owner (or a root admin) renames, re-describes, re-types a
    /// template, or replaces its external details under the same rules as at registration.
    pub async fn template_update(
        &self,
        caller: &Caller,
        uuid: &str,
        update: TemplateUpdate,
    ) -> Result<Template> {
        let mut t = self.template_by_uuid(uuid).await?;
        let admin = caller.is_root_admin();
        if !admin && t.account_id != caller.account.id {
            return Err(Error::denied(format!(
                "Account {} does not own template {}",
                caller.account.name, t.uuid
            )));
        }
        // Every check first: nothing is written unless all of it is acceptable.
        if let Some(name) = &update.name {
            if name.trim().is_empty() || name.chars().count() > TEMPLATE_NAME_MAX {
                return Err(Error::invalid_param(format!(
                    "Template name must be 1 to {TEMPLATE_NAME_MAX} characters"
                )));
            }
        }
        if update.is_featured.is_some() && !admin {
            return Err(Error::denied(
                "Only root administrators may change whether a template is featured",
            ));
        }
        let os_type = match update.os_type_id.as_deref() {
            Some(u) => Some(os_type_of(u)?),
            None => None,
        };
        let format = match update.format.as_deref() {
            Some(f) => Some(template_format(f)?),
            None => None,
        };
        let arch = match update.arch.as_deref() {
            Some(a) => Some(template_arch(a)?),
            None => None,
        };
        if let Some(details) = update.external_details.as_ref().filter(|d| !d.is_empty()) {
            if !admin {
                let extension = match t.extension_id {
                    Some(id) => self.store.extension_get(id).await?,
                    None => None,
                };
                let keys = details.keys().cloned().collect();
                self.user_details_check(caller, extension.as_ref(), None, None, &keys)
                    .await?;
            }
        }
        if update.cleanup_external_details && update.external_details.is_some() {
            return Err(Error::invalid_param(
                "externaldetails and cleanupexternaldetails cannot be given together",
            ));
        }
        if let Some(name) = update.name {
            t.name = name;
        }
        if let Some(text) = update.display_text {
            t.display_text = text;
        }
        if let Some(os) = os_type {
            t.os_type = os.description.into();
        }
        if let Some(f) = format {
            t.format = f.into();
        }
        if let Some(a) = arch {
            t.arch = a.into();
        }
        if let Some(featured) = update.is_featured {
            t.is_featured = featured;
        }
        let t = self.store.template_update(&t).await?;
        if let Some(details) = &update.external_details {
            self.details_replace(DetailOwner::Template, t.id, EXTERNAL_PREFIX, details)
                .await?;
        } else if update.cleanup_external_details {
            self.details_replace(
                DetailOwner::Template,
                t.id,
                EXTERNAL_PREFIX,
                &BTreeMap::new(),
            )
            .await?;
        }
        self.event(
            Some(caller),
            "TEMPLATE.UPDATE",
            &format!("Template {} updated", t.name),
            Some(("Template", &t.uuid)),
        )
        .await;
        Ok(t)
    }
}

/// The CPU architectures a template may declare (upstream's `CPU.CPUArch`).
pub fn template_arch(arch: &str) -> Result<&'static str> {
    ["x86_64", "aarch64"]
        .into_iter()
        .find(|a| a.eq_ignore_ascii_case(arch.trim()))
        .ok_or_else(|| {
            Error::invalid_param(format!(
                "Invalid arch {arch}: valid options are x86_64, aarch64"
            ))
        })
}
