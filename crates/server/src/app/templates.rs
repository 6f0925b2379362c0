//! Templates for External instances: registration (who may bind one to an extension, public and
//! featured rules), visibility per `templatefilter`, deletion.

use std::collections::BTreeMap;
use trellis_model::entity::{DetailOwner, Template};
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
    pub os_type: Option<String>,
    pub is_public: Option<bool>,
    pub is_featured: Option<bool>,
}

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
            os_type,
            is_public,
            is_featured,
        } = input;
        let (name, format, hypervisor, url) = (&*name, &*format, &*hypervisor, &*url);
        let (display_text, zone_uuid, extension_uuid) = (
            display_text.as_deref(),
            zone_uuid.as_deref(),
            extension_uuid.as_deref(),
        );
        let (arch, os_type) = (arch.as_deref(), os_type.as_deref());
        if !hypervisor.eq_ignore_ascii_case(HYPERVISOR_EXTERNAL) {
            return Err(Error::invalid_param(format!("Hypervisor type {hypervisor} is not supported: Trellis registers templates of hypervisor type External")));
        }
        if !format.eq_ignore_ascii_case("EXTERNAL") {
            return Err(Error::invalid_param(format!("Invalid format {format}: templates for External hypervisor type must have format EXTERNAL")));
        }
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
            format: "EXTERNAL".into(),
            hypervisor: HYPERVISOR_EXTERNAL.into(),
            os_type: os_type.unwrap_or("Other (64-bit)").into(),
            extension_id: extension.as_ref().map(|e| e.id),
            arch: arch.unwrap_or("x86_64").into(),
            is_public,
            is_featured,
            account_id: caller.account.id,
            zone_id,
            url: url.into(),
            size: 0,
            state: "Active".into(),
            created: now_millis(),
        };
        let t = self.store.template_create(&t).await?;
        self.store
            .details_replace_visible(
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
        page: Page,
    ) -> Result<(Vec<Template>, i64)> {
        let admin = caller.is_root_admin();
        let account = caller.account.id;
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
        self.event(
            Some(caller),
            "TEMPLATE.DELETE",
            &format!("Template {} deleted", t.name),
            Some(("Template", &t.uuid)),
        )
        .await;
        Ok(())
    }
}
