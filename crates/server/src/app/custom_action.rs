//! Custom action definitions: add, list, update, delete (spec §1.7–§1.10, §8.1). Running them
//! lives with instances.

use std::collections::BTreeMap;
use trellis_model::entity::{CustomAction, DetailOwner, Extension};
use trellis_model::extension as ext;
use trellis_model::role::{mask_of, roles_from_mask};
use trellis_model::validate::{is_valid_action_name, parse_param_def, ParamDef};
use trellis_model::{ids, time::now_millis, Error, Result, RoleType};
use trellis_store::{CustomActionFilter, NewCustomAction, Page};

use super::{require_admin, setting, App, Caller};

/// A custom action with what the API shows of it.
#[derive(Debug, Clone)]
pub struct CustomActionView {
    pub action: CustomAction,
    pub extension: Extension,
    pub details: BTreeMap<String, String>,
    pub parameters: Option<Vec<ParamDef>>,
}

/// The outcome of running a custom action.
#[derive(Debug, Clone)]
pub struct CustomActionRun {
    pub action_uuid: String,
    pub action_name: String,
    pub success: bool,
    pub message: String,
    pub details: Option<String>,
}

/// Fields of `addCustomAction` / `updateCustomAction`.
#[derive(Debug, Clone, Default)]
pub struct CustomActionInput {
    pub description: Option<String>,
    pub resource_type: Option<String>,
    pub allowed_role_types: Option<Vec<String>>,
    pub parameters: Option<Vec<BTreeMap<String, String>>>,
    pub success_message: Option<String>,
    pub error_message: Option<String>,
    pub timeout: Option<i64>,
    pub enabled: Option<bool>,
    pub details: Option<BTreeMap<String, String>>,
}

/// Filters of `listCustomActions`.
#[derive(Debug, Clone, Default)]
pub struct CustomActionListParams {
    pub uuid: Option<String>,
    pub name: Option<String>,
    pub extension_uuid: Option<String>,
    pub resource_type: Option<String>,
    /// With `resource_type` and no `extension_uuid`: the actions of this instance's extension.
    pub resource_uuid: Option<String>,
    pub enabled: Option<bool>,
    pub keyword: Option<String>,
}

fn parse_resource_type(s: &str) -> Result<String> {
    if s.eq_ignore_ascii_case(ext::RESOURCE_TYPE_VM) {
        Ok(ext::RESOURCE_TYPE_VM.to_string())
    } else {
        Err(Error::invalid_param(format!(
            "Invalid resource type specified: {s}. Valid values are: [VirtualMachine]"
        )))
    }
}

fn parse_roles(list: &[String]) -> Result<u32> {
    let mut roles = vec![RoleType::Admin];
    for r in list {
        roles.push(
            RoleType::parse(r.trim())
                .ok_or_else(|| Error::invalid_param(format!("Invalid role specified - {r}")))?,
        );
    }
    Ok(mask_of(&roles))
}

fn parse_params(defs: &[BTreeMap<String, String>]) -> Result<Vec<ParamDef>> {
    let mut out: Vec<ParamDef> = Vec::with_capacity(defs.len());
    for d in defs {
        let p = parse_param_def(d)?;
        if out.iter().any(|o| o.name == p.name) {
            return Err(Error::invalid_param(format!(
                "Parameter {} is defined more than once",
                p.name
            )));
        }
        out.push(p);
    }
    Ok(out)
}

fn check_timeout(t: i64) -> Result<i64> {
    if (1..=86_400).contains(&t) {
        Ok(t)
    } else {
        Err(Error::invalid_param(format!(
            "Invalid timeout {t}: expected 1 to 86400 seconds"
        )))
    }
}

/// Role types shown for a mask (a zero mask shows as Admin, as upstream).
pub fn role_names(mask: u32) -> Vec<&'static str> {
    let roles = roles_from_mask(mask);
    if roles.is_empty() {
        vec!["Admin"]
    } else {
        roles.iter().map(|r| r.as_str()).collect()
    }
}

impl App {
    pub async fn custom_action_view(&self, a: &CustomAction) -> Result<CustomActionView> {
        let extension = self
            .store
            .extension_get(a.extension_id)
            .await?
            .ok_or_else(|| Error::internal("custom action without extension"))?;
        let all = self
            .store
            .details_get(DetailOwner::CustomAction, a.id)
            .await?;
        let details = super::secret_details::masked(
            all.iter()
                .filter(|d| d.display)
                .map(|d| (d.name.clone(), d.value.clone()))
                .collect(),
        );
        let parameters = match all.iter().find(|d| !d.display && d.name == "parameters") {
            Some(d) => Some(serde_json::from_str(&d.value).map_err(|e| {
                Error::internal(format!(
                    "stored parameters of action {} are invalid: {e}",
                    a.uuid
                ))
            })?),
            None => None,
        };
        Ok(CustomActionView {
            action: a.clone(),
            extension,
            details,
            parameters,
        })
    }

    pub async fn custom_action_add(
        &self,
        caller: &Caller,
        extension_uuid: &str,
        name: &str,
        input: CustomActionInput,
    ) -> Result<CustomActionView> {
        require_admin(caller)?;
        let e = self
            .store
            .extension_by_uuid(extension_uuid)
            .await?
            .ok_or_else(|| Error::not_found("Specified extension can not be found"))?;
        if !is_valid_action_name(name) {
            return Err(Error::invalid_param(format!("Invalid action name: {name}. It can contain only alphabets, numbers, hyphen, underscore and space")));
        }
        let resource_type = match &input.resource_type {
            Some(r) => parse_resource_type(r)?,
            None => ext::RESOURCE_TYPE_VM.to_string(),
        };
        let mask = parse_roles(input.allowed_role_types.as_deref().unwrap_or(&[]))?;
        let params = parse_params(input.parameters.as_deref().unwrap_or(&[]))?;
        let timeout = check_timeout(
            input
                .timeout
                .unwrap_or_else(|| self.setting_i64(setting::CUSTOM_ACTION_TIMEOUT)),
        )?;
        let lock = self.lock_for(&format!("custom-action-{}", e.id)).await;
        let _guard = lock.lock().await;
        if self
            .store
            .custom_action_by_name(e.id, name)
            .await?
            .is_some()
        {
            return Err(Error::already_exists("Action by name already exists"));
        }
        let new = NewCustomAction {
            uuid: ids::new_uuid(),
            name: name.to_string(),
            description: input.description.clone(),
            extension_id: e.id,
            resource_type: Some(resource_type),
            allowed_role_types: mask,
            success_message: input.success_message.clone(),
            error_message: input.error_message.clone(),
            enabled: input.enabled.unwrap_or(false),
            timeout,
        };
        let json =
            serde_json::to_string(&params).map_err(|err| Error::internal(err.to_string()))?;
        let details = self.details_sealed(input.details.clone().unwrap_or_default())?;
        let a = self
            .store
            .custom_action_create(&new, &details, &json, now_millis())
            .await?;
        drop(_guard);
        self.event(
            Some(caller),
            "EXTENSION.CUSTOM.ACTION.ADD",
            &format!("Custom action {name} added to extension {}", e.name),
            Some(("ExtensionCustomAction", &a.uuid)),
        )
        .await;
        self.custom_action_view(&a).await
    }

    pub async fn custom_action_update(
        &self,
        caller: &Caller,
        uuid: &str,
        input: CustomActionInput,
        cleanup_parameters: bool,
        cleanup_details: bool,
    ) -> Result<CustomActionView> {
        require_admin(caller)?;
        let mut a = self
            .store
            .custom_action_by_uuid(uuid)
            .await?
            .ok_or_else(|| Error::not_found("Action not found"))?;
        if let Some(d) = input
            .description
            .as_deref()
            .filter(|d| !d.trim().is_empty())
        {
            a.description = Some(d.to_string());
        }
        if let Some(r) = &input.resource_type {
            a.resource_type = Some(parse_resource_type(r)?);
        }
        if let Some(roles) = &input.allowed_role_types {
            a.allowed_role_types = parse_roles(roles)?;
        }
        if let Some(m) = &input.success_message {
            a.success_message = Some(m.clone());
        }
        if let Some(m) = &input.error_message {
            a.error_message = Some(m.clone());
        }
        if let Some(t) = input.timeout {
            a.timeout = check_timeout(t)?;
        }
        if let Some(en) = input.enabled {
            a.enabled = en;
        }
        let params = if cleanup_parameters {
            Some(Vec::new())
        } else {
            input.parameters.as_deref().map(parse_params).transpose()?
        };
        self.store.custom_action_update(&a).await?;
        if let Some(p) = params {
            let json = serde_json::to_string(&p).map_err(|err| Error::internal(err.to_string()))?;
            self.store
                .detail_upsert(DetailOwner::CustomAction, a.id, "parameters", &json, false)
                .await?;
        }
        if cleanup_details {
            self.details_replace(DetailOwner::CustomAction, a.id, "", &BTreeMap::new())
                .await?;
        } else if let Some(d) = &input.details {
            self.details_replace(DetailOwner::CustomAction, a.id, "", d)
                .await?;
        }
        self.event(
            Some(caller),
            "EXTENSION.CUSTOM.ACTION.UPDATE",
            &format!("Custom action {} updated", a.name),
            Some(("ExtensionCustomAction", &a.uuid)),
        )
        .await;
        self.custom_action_view(&a).await
    }

    pub async fn custom_action_delete(&self, caller: &Caller, uuid: &str) -> Result<()> {
        require_admin(caller)?;
        let a = self
            .store
            .custom_action_by_uuid(uuid)
            .await?
            .ok_or_else(|| {
                Error::not_found("Unable to find the custom action with the specified id")
            })?;
        self.store.custom_action_delete(a.id, now_millis()).await?;
        self.event(
            Some(caller),
            "EXTENSION.CUSTOM.ACTION.DELETE",
            &format!("Custom action {} deleted", a.name),
            Some(("ExtensionCustomAction", &a.uuid)),
        )
        .await;
        Ok(())
    }

    /// List custom actions as the caller may see them.
    pub async fn custom_action_list(
        &self,
        caller: &Caller,
        params: CustomActionListParams,
        page: Page,
    ) -> Result<(Vec<CustomActionView>, i64)> {
        let CustomActionListParams {
            uuid,
            name,
            extension_uuid,
            resource_type,
            resource_uuid,
            enabled,
            keyword,
        } = params;
        let mut f = CustomActionFilter {
            uuid,
            name,
            enabled,
            keyword,
            ..Default::default()
        };
        if let Some(rt) = resource_type.as_deref() {
            if rt != ext::RESOURCE_TYPE_VM {
                return Err(Error::invalid_param(format!(
                    "Invalid resource type specified: {rt}. Valid values are: [VirtualMachine]"
                )));
            }
            f.resource_type = Some(rt.to_string());
        }
        match (extension_uuid.as_deref(), resource_uuid.as_deref()) {
            (Some(eu), _) => {
                let e = self
                    .store
                    .extension_by_uuid(eu)
                    .await?
                    .ok_or_else(|| Error::not_found("Specified extension can not be found"))?;
                f.extension_id = Some(e.id);
            }
            (None, Some(ru)) if resource_type.is_some() => {
                let ext_id = self.instance_extension_id(caller, ru).await?;
                f.extension_id = Some(ext_id);
            }
            _ => {}
        }
        if !caller.is_root_admin() {
            f.role_mask = Some(caller.role_type().mask());
        }
        let (items, total) = self.store.custom_action_list(&f, page).await?;
        let mut out = Vec::with_capacity(items.len());
        for a in &items {
            out.push(self.custom_action_view(a).await?);
        }
        Ok((out, total))
    }
}

/// Running a custom action on an instance (the job body of `runCustomAction`).
mod run {
    use std::time::Duration;

    use super::CustomActionRun;
    use crate::app::{App, Caller};
    use trellis_model::extension::ExtensionState;
    use trellis_model::{Error, Result};

    impl App {
        /// `runCustomAction` (spec §8.4). Extension failures give `success=false`, not a job error.
        pub async fn custom_action_run(
            &self,
            caller: &Caller,
            action_uuid: &str,
            resource_type: Option<&str>,
            resource_uuid: &str,
            supplied: Vec<(String, String)>,
        ) -> Result<CustomActionRun> {
            let a = self
                .store
                .custom_action_by_uuid(action_uuid)
                .await?
                .ok_or_else(|| {
                    Error::not_found(format!("Custom action {action_uuid} not found"))
                })?;
            if !caller.is_root_admin() && a.allowed_role_types & caller.role_type().mask() == 0 {
                return Err(Error::invalid_param(format!(
                    "Custom action {} is not allowed for role type {}",
                    a.name,
                    caller.role_type().as_str()
                )));
            }
            if !a.enabled {
                return Err(Error::invalid_param(format!(
                    "Custom action {} is not enabled",
                    a.name
                )));
            }
            let e = self
                .store
                .extension_get(a.extension_id)
                .await?
                .ok_or_else(|| Error::invalid_state("the action's extension no longer exists"))?;
            if e.state != ExtensionState::Enabled {
                return Err(Error::invalid_state(format!(
                    "Extension {} is disabled",
                    e.name
                )));
            }
            match (a.resource_type.as_deref(), resource_type) {
                (None, None) => {
                    return Err(Error::invalid_param(
                        "Resource type not specified for the action",
                    ))
                }
                (Some(at), Some(rt)) if !at.eq_ignore_ascii_case(rt) => {
                    return Err(Error::invalid_param(format!(
                        "Invalid resource type {rt} for action {}: it applies to {at}",
                        a.name
                    )))
                }
                (None, Some(rt))
                    if !rt.eq_ignore_ascii_case(trellis_model::extension::RESOURCE_TYPE_VM) =>
                {
                    return Err(Error::invalid_state(format!("Invalid resource type {rt}")))
                }
                _ => {}
            }
            let inst = self
                .store
                .instance_by_uuid(resource_uuid)
                .await?
                .ok_or_else(|| {
                    Error::invalid_state(format!("Unable to find instance by id {resource_uuid}"))
                })?;
            let inst = self.instance_for(caller, &inst.uuid).await?;
            let host = self.instance_host(&inst).await?.ok_or_else(|| {
                Error::invalid_state(format!(
                    "Instance {} has never been placed on a host",
                    inst.instance_name
                ))
            })?;
            let t = self.target(&inst, &host).await.map_err(|_| {
                Error::invalid_state(format!(
                    "The cluster of instance {} is not registered with an extension",
                    inst.instance_name
                ))
            })?;
            if t.extension.id != e.id {
                return Err(Error::invalid_state(format!(
                    "Custom action {} belongs to extension {}, but instance {} runs on extension {}",
                    a.name, e.name, inst.instance_name, t.extension.name
                )));
            }
            let view = self.custom_action_view(&a).await?;
            let params = trellis_model::validate::validate_values(
                view.parameters.as_deref().unwrap_or(&[]),
                &supplied,
            )?;
            let mut payload = self.payload(&t, Some(caller), &a.name, false).await?;
            // The view masks secrets; the extension gets their clear values.
            let action_details = self.details_opened(
                self.store
                    .details_visible(trellis_model::entity::DetailOwner::CustomAction, a.id)
                    .await?,
            )?;
            if let Some(d) = payload.externaldetails.as_mut() {
                d.action = (!action_details.is_empty()).then_some(action_details);
            }
            payload.action = Some(a.name.clone());
            payload.parameters = params.filter(|p| !p.is_empty());
            let timeout = Duration::from_secs(a.timeout.max(1) as u64);
            // The result is shown to the user who ran the action: mask every secret the payload
            // carried, PASSWORD-typed parameters included.
            let password_params: Vec<&str> = view
                .parameters
                .as_deref()
                .unwrap_or(&[])
                .iter()
                .filter(|d| {
                    d.validationformat == trellis_model::validate::ValidationFormat::Password
                })
                .map(|d| d.name.as_str())
                .collect();
            let redactor = crate::app::secrets::Redactor::for_payload(&payload)
                .with_parameters(&payload, password_params);
            let (success, details) = match self
                .invoke_masking(&t, &a.name, &payload, timeout, &redactor)
                .await
            {
                Ok(Ok(out)) => (
                    true,
                    // Kept in the job row and returned by every poll: bounded, with a marker.
                    Some(
                        trellis_ext_runner::bounded_to(
                            &redactor.redact(out.stdout.trim()),
                            super::CUSTOM_ACTION_OUTPUT_CAP,
                        )
                        .into_owned(),
                    ),
                ),
                Ok(Err(err)) => (false, Some(redactor.redact(&err.details()))),
                Err(gate) => (false, Some(gate.external_message().to_string())),
            };
            let template = if success {
                a.success_message.as_deref()
            } else {
                a.error_message.as_deref()
            };
            let message = trellis_model::validate::render_message(
                template,
                success,
                &a.name,
                &e.name,
                &inst.instance_name,
            );
            let level = if success { "INFO" } else { "WARN" };
            self.event_level(
                level,
                "CUSTOM.ACTION",
                &format!(
                    "Custom action {} on instance {}: {message}",
                    a.name, inst.instance_name
                ),
                Some(("VirtualMachine", &inst.uuid)),
            )
            .await;
            Ok(CustomActionRun {
                action_uuid: a.uuid,
                action_name: a.name,
                success,
                message,
                details,
            })
        }
    }
}

/// Most bytes of a custom action's stdout kept in its result (the job row every poll returns);
/// the rest is cut with a marker that tells the full size.
pub const CUSTOM_ACTION_OUTPUT_CAP: usize = 64 * 1024;
