//! `createTemplate` from the ROOT volume of a stopped instance. Upstream makes no volume for
//! External instances, so this is a Trellis addition to the extension contract: the optional
//! action `createtemplate`, run on the instance's host with the instance's payload and
//! `parameters.templateid`/`parameters.templatename`. An extension that can capture the disk
//! answers `{"status": "success", "details": {...}, "size": <bytes>}`; the details become the new
//! template's external details (over the source template's), so instances deployed from it find
//! the captured image. An extension without the action fails the job with a clear "not
//! supported", bounded by the lifecycle timeout — never a hang.

use serde_json::Value;
use std::collections::BTreeMap;
use trellis_ext_protocol as proto;
use trellis_model::entity::{DetailOwner, Instance, Template};
use trellis_model::instance::VmState;
use trellis_model::limits::ResourceType;
use trellis_model::{ids, time::now_millis, Error, Result};

use super::infra::EXTERNAL_PREFIX;
use super::templates::os_type_of;
use super::{setting, App, Caller};

/// Input of `createTemplate`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TemplateCapture {
    pub volume: String,
    pub name: String,
    pub display_text: Option<String>,
    pub os_type_id: String,
    pub is_public: bool,
    pub is_featured: bool,
}

/// What an extension's `createtemplate` reply holds.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct CaptureReply {
    pub details: BTreeMap<String, String>,
    pub size: Option<i64>,
}

/// Read a `createtemplate` reply: a JSON object whose `status`, if present, is `success`, with
/// optional `details` (string values) and `size` (bytes).
pub fn parse_capture_reply(stdout: &str) -> std::result::Result<CaptureReply, String> {
    let v: Value = serde_json::from_str(stdout.trim())
        .map_err(|e| format!("the reply is not a JSON object ({e})"))?;
    let obj = v.as_object().ok_or("the reply is not a JSON object")?;
    if let Some(status) = obj.get("status").and_then(Value::as_str) {
        if !status.eq_ignore_ascii_case("success") {
            let why = obj
                .get("error")
                .or(obj.get("message"))
                .and_then(Value::as_str)
                .unwrap_or(status);
            return Err(why.to_string());
        }
    }
    let mut details = BTreeMap::new();
    if let Some(d) = obj.get("details") {
        let d = d.as_object().ok_or("details is not an object")?;
        for (k, v) in d {
            let v = match v {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                _ => return Err(format!("detail {k} is not a string")),
            };
            details.insert(k.clone(), v);
        }
    }
    let size = match obj.get("size") {
        None | Some(Value::Null) => None,
        Some(s) => Some(
            s.as_i64()
                .filter(|n| *n >= 0)
                .ok_or("size is not a byte count")?,
        ),
    };
    Ok(CaptureReply { details, size })
}

impl App {
    /// Request-time checks of `createTemplate`: the volume is a ROOT volume the caller can see,
    /// its instance is Stopped, the OS type exists, and the public/featured rules hold.
    pub async fn template_capture_check(
        &self,
        caller: &Caller,
        input: &TemplateCapture,
    ) -> Result<Instance> {
        let (volume, inst) = self.volume_for(caller, &input.volume).await?;
        if volume.volume_type != "ROOT" {
            return Err(Error::invalid_param(
                "Templates are created from ROOT volumes only",
            ));
        }
        if inst.state != VmState::Stopped {
            return Err(Error::invalid_param(format!(
                "VM {} must be in Stopped state to create a template from its volume (it is {})",
                inst.name,
                inst.state.as_str()
            )));
        }
        if input.name.trim().is_empty() || input.name.chars().count() > 255 {
            return Err(Error::invalid_param(
                "Template name must be 1 to 255 characters",
            ));
        }
        os_type_of(&input.os_type_id)?;
        let admin = caller.is_root_admin();
        if input.is_featured && !admin {
            return Err(Error::denied(
                "Only root administrators may create featured templates",
            ));
        }
        if input.is_public && !admin && !self.setting_bool(setting::ALLOW_PUBLIC_USER_TEMPLATES) {
            return Err(Error::invalid_param(format!(
                "Only private templates can be created: public user templates are not allowed (setting {})",
                setting::ALLOW_PUBLIC_USER_TEMPLATES
            )));
        }
        // The new template will count against the instance owner's limit: refuse before the
        // extension runs.
        let owner = self.limits_account(inst.account_id).await?;
        self.limits_check(&owner, &[(ResourceType::Template, 1)])
            .await?;
        Ok(inst)
    }

    /// `createTemplate`, the job: ask the instance's extension to capture its disk, then record
    /// the template.
    pub async fn template_capture(
        &self,
        caller: &Caller,
        input: &TemplateCapture,
    ) -> Result<Template> {
        let inst = self.template_capture_check(caller, input).await?;
        let lock = self.lock_for(&format!("instance-{}", inst.uuid)).await;
        let _guard = lock.lock().await;
        let source = self
            .store
            .template_get(inst.template_id)
            .await?
            .ok_or_else(|| Error::internal("instance without template"))?;
        let Some(host) = self.instance_host(&inst).await? else {
            return Err(Error::invalid_param(format!(
                "Instance {} was never created by its extension: there is no disk to capture",
                inst.name
            )));
        };
        let uuid = ids::new_uuid();
        let t = self.target(&inst, &host).await?;
        let mut payload = self
            .payload(&t, Some(caller), proto::action::CREATE_TEMPLATE, false)
            .await?;
        payload.parameters = Some(
            [
                ("templateid".to_string(), Value::String(uuid.clone())),
                (
                    "templatename".to_string(),
                    Value::String(input.name.clone()),
                ),
            ]
            .into_iter()
            .collect(),
        );
        let ran = self
            .invoke(
                &t,
                proto::action::CREATE_TEMPLATE,
                &payload,
                self.lifecycle_timeout(),
            )
            .await?;
        let refused = |why: String| {
            Error::unsupported(format!(
                "Extension {} could not create a template from instance {}: {why} (an extension captures disks only if it implements the createtemplate action)",
                t.extension.name, inst.instance_name
            ))
        };
        let reply = match ran {
            Ok(out) => parse_capture_reply(&out.stdout).map_err(refused)?,
            Err(e) => return Err(refused(e.details())),
        };
        // The source template's external details, then what the extension says the capture is.
        let mut details: BTreeMap<String, String> = self
            .store
            .details_visible(DetailOwner::Template, source.id)
            .await?
            .into_iter()
            .filter_map(|(k, v)| k.strip_prefix(EXTERNAL_PREFIX).map(|k| (k.to_string(), v)))
            .collect();
        details.extend(reply.details);
        details.insert("source.virtualmachine.uuid".into(), inst.uuid.clone());
        details.insert(
            "source.virtualmachine.name".into(),
            inst.instance_name.clone(),
        );
        let new = Template {
            id: 0,
            uuid,
            name: input.name.clone(),
            display_text: input
                .display_text
                .clone()
                .unwrap_or_else(|| input.name.clone()),
            format: source.format.clone(),
            hypervisor: source.hypervisor.clone(),
            os_type: os_type_of(&input.os_type_id)?.description.into(),
            extension_id: source.extension_id,
            arch: source.arch.clone(),
            is_public: input.is_public,
            is_featured: input.is_featured,
            account_id: inst.account_id,
            zone_id: Some(inst.zone_id),
            url: String::new(),
            size: reply.size.unwrap_or(source.size),
            state: "Active".into(),
            created: now_millis(),
        };
        let new = self.store.template_create(&new).await?;
        // The source's secrets are sealed already; the extension's reply is sealed here.
        let details = self.details_seal_values(details)?;
        self.store
            .details_replace_visible(DetailOwner::Template, new.id, EXTERNAL_PREFIX, &details)
            .await?;
        self.event(
            Some(caller),
            "TEMPLATE.CREATE",
            &format!(
                "Template {} created from instance {}",
                new.name, inst.instance_name
            ),
            Some(("Template", &new.uuid)),
        )
        .await;
        Ok(new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capture_replies() {
        let r = parse_capture_reply(
            r#"{"status":"success","details":{"image":"t.qcow2","n":3},"size":1024}"#,
        )
        .unwrap();
        assert_eq!(r.details["image"], "t.qcow2");
        assert_eq!(r.details["n"], "3");
        assert_eq!(r.size, Some(1024));
        assert_eq!(parse_capture_reply("{}").unwrap(), CaptureReply::default());
        assert_eq!(
            parse_capture_reply(r#"{"status":"error","error":"no disk"}"#).unwrap_err(),
            "no disk"
        );
        assert!(parse_capture_reply("unknown action createtemplate").is_err());
        assert!(parse_capture_reply(r#"{"details":{"x":[1]}}"#).is_err());
        assert!(parse_capture_reply(r#"{"size":-1}"#).is_err());
    }
}
