//! Templates: `registerTemplate`, `updateTemplate`, `listTemplates`, `deleteTemplate`, and the
//! guest OS catalogue they name (`listOsTypes`, `listOsCategories`).

use serde_json::json;
use trellis_api::{ApiError, Reply};
use trellis_model::os_types::{self, OsCategory, OsType};

use super::handlers::*;
use super::views::*;
use crate::app::job::JobCommand;
use crate::app::reads::TemplateFilter;
use crate::app::template_capture::TemplateCapture;
use crate::app::templates::{TemplateInput, TemplateUpdate};

/// Template flags External templates cannot have: `false` is what Trellis does, `true` is
/// refused by name (never accepted and ignored).
fn refuse_template_flags(p: &trellis_api::Params) -> Result<(), ApiError> {
    const FLAGS: &[(&str, &str)] = &[
        (
            "passwordenabled",
            "External instances have no password reset",
        ),
        (
            "isdynamicallyscalable",
            "External instances cannot be scaled",
        ),
    ];
    for (flag, why) in FLAGS {
        if p.bool(flag) == Some(true) {
            return Err(ApiError::param(format!(
                "{flag}=true is not supported: {why}"
            )));
        }
    }
    if let Some(bits) = p.int("bits") {
        if bits != 64 {
            return Err(ApiError::param(format!(
                "bits={bits} is not supported: templates are 64-bit (choose the architecture with arch)"
            )));
        }
    }
    Ok(())
}

/// `registerTemplate`.
pub(super) async fn register_template(cx: &Cx<'_>) -> R {
    let app = cx.app;
    let caller = cx.caller;
    let c = cx.cmd;
    let p = cx.p;
    refuse_template_flags(p)?;
    let mut zones: Vec<String> = p.list("zoneids").unwrap_or_default();
    zones.extend(s(p, "zoneid"));
    zones.sort();
    zones.dedup();
    if zones.len() > 1 {
        return Err(ApiError::param(
            "A template is registered in one zone (zoneid) or in every zone (zoneid=-1), not in a list of zones",
        ));
    }
    let zone = zones.pop();
    let input = TemplateInput {
        name: req(p, c, "name")?.into(),
        display_text: s(p, "displaytext"),
        format: req(p, c, "format")?.into(),
        hypervisor: req(p, c, "hypervisor")?.into(),
        url: req(p, c, "url")?.into(),
        zone_uuid: zone,
        extension_uuid: s(p, "extensionid"),
        external_details: p.map_flat("externaldetails").unwrap_or_default(),
        arch: s(p, "arch"),
        os_type_id: s(p, "ostypeid"),
        is_public: p.bool("ispublic"),
        is_featured: p.bool("isfeatured"),
        project_uuid: s(p, "projectid"),
    };
    let t = app.template_register(caller, input).await?;
    Ok(list("template", vec![template_view(app, &t).await?], 1))
}

/// `listTemplates`.
pub(super) async fn list_templates(cx: &Cx<'_>) -> R {
    let app = cx.app;
    let caller = cx.caller;
    let p = cx.p;
    let ext = filter_id(p, "extensionid", |u| app.reads().extension_by_uuid(u)).await?;
    let zone = filter_id(p, "zoneid", |u| app.reads().zone_by_uuid(u)).await?;
    let tags = tag_pairs(p)?;
    let filter = TemplateFilter {
        uuid: p.str("id"),
        name: p.str("name"),
        extension_id: ext,
        keyword: p.str("keyword"),
        zone_id: zone,
        tags: &tags,
    };
    let (items, total) = app
        .template_list(
            caller,
            p.str("templatefilter").unwrap_or("executable"),
            p.str("hypervisor"),
            &filter,
            p.str("projectid"),
            page_of(app, p)?,
        )
        .await?;
    let mut out = Vec::new();
    for t in &items {
        out.push(template_view(app, t).await?);
    }
    Ok(list("template", out, total))
}

/// `deleteTemplate`.
pub(super) async fn delete_template(cx: &Cx<'_>) -> Q {
    let template = cx
        .app
        .template_by_uuid(req(cx.p, cx.cmd, "id")?)
        .await?
        .uuid;
    let about = Some(("Template".to_string(), template.clone()));
    Ok((JobCommand::DeleteTemplate { template }, about))
}

/// `updateTemplate`.
pub(super) async fn update_template(cx: &Cx<'_>) -> R {
    let p = cx.p;
    let external_details = p.map_flat("externaldetails");
    let update = TemplateUpdate {
        name: s(p, "name"),
        display_text: s(p, "displaytext"),
        os_type_id: s(p, "ostypeid"),
        arch: s(p, "arch"),
        format: s(p, "format"),
        is_featured: p.bool("isfeatured"),
        external_details,
        cleanup_external_details: p.bool_or("cleanupexternaldetails", false),
    };
    let t = cx
        .app
        .template_update(cx.caller, req(p, cx.cmd, "id")?, update)
        .await?;
    Ok(Reply::Object {
        object: "template",
        value: template_view(cx.app, &t).await?,
    })
}

/// `listOsTypes`: the fixed catalogue, filtered by `id`/`ids`/`oscategoryid`/`description`
/// (`keyword` is the same filter as `description`).
pub(super) async fn list_os_types(cx: &Cx<'_>) -> R {
    let p = cx.p;
    let mut ids = p.list("ids").unwrap_or_default();
    ids.extend(s(p, "id"));
    let category = match p.str("oscategoryid") {
        Some(u) => Some(OsCategory::by_uuid(u).ok_or_else(|| {
            ApiError::param(format!("Invalid parameter oscategoryid value={u} due to incorrect long value format, or entity does not exist or due to incorrect parameter annotation for the field in api cmd class."))
        })?),
        None => None,
    };
    let rows: Vec<OsType> = os_types::search(p.str("description").or(p.str("keyword")))
        .into_iter()
        .filter(|t| ids.is_empty() || ids.contains(&t.uuid()))
        .filter(|t| category.is_none_or(|c| c.id == t.category_id))
        .collect();
    let total = rows.len() as i64;
    let items = page_slice(cx, rows)?.iter().map(os_type_view).collect();
    Ok(list("ostype", items, total))
}

/// `listOsCategories`.
pub(super) async fn list_os_categories(cx: &Cx<'_>) -> R {
    let p = cx.p;
    let name = p.str("name");
    let keyword = p.str("keyword").map(str::to_lowercase);
    let mut rows: Vec<OsCategory> = os_types::OS_CATEGORIES
        .iter()
        .copied()
        .filter(|c| p.str("id").is_none_or(|id| c.uuid() == id))
        .filter(|c| name.is_none_or(|n| c.name.eq_ignore_ascii_case(n)))
        .filter(|c| {
            keyword
                .as_deref()
                .is_none_or(|k| c.name.to_lowercase().contains(k))
        })
        .collect();
    rows.sort_by_key(|c| c.name);
    let total = rows.len() as i64;
    let items = page_slice(cx, rows)?
        .iter()
        .map(|c| json!({"id": c.uuid(), "name": c.name}))
        .collect();
    Ok(list("oscategory", items, total))
}

/// One page of an in-memory list, with the same paging rules as the database lists.
fn page_slice<T>(cx: &Cx<'_>, rows: Vec<T>) -> Result<Vec<T>, ApiError> {
    let page = page_of(cx.app, cx.p)?;
    let rows = rows.into_iter().skip(page.offset.max(0) as usize);
    Ok(match page.limit {
        Some(n) => rows.take(n.max(0) as usize).collect(),
        None => rows.collect(),
    })
}

/// `createTemplate`: from the ROOT volume of a stopped instance, by the instance's extension
/// (the optional `createtemplate` action); checked here, run as a job.
pub(super) async fn create_template(cx: &Cx<'_>) -> Q {
    let (p, c) = (cx.p, cx.cmd);
    refuse_template_flags(p)?;
    if p.has("snapshotid") {
        return Err(ApiError::param(
            "External instances have no volume snapshots: give volumeid",
        ));
    }
    if p.has("virtualmachineid") || p.has("url") {
        return Err(ApiError::param(
            "virtualmachineid and url are for bare-metal templates: give volumeid",
        ));
    }
    let input = TemplateCapture {
        volume: req(p, c, "volumeid")?.into(),
        name: req(p, c, "name")?.into(),
        display_text: s(p, "displaytext"),
        os_type_id: req(p, c, "ostypeid")?.into(),
        is_public: p.bool_or("ispublic", false),
        is_featured: p.bool_or("isfeatured", false),
    };
    let inst = cx.app.template_capture_check(cx.caller, &input).await?;
    let about = Some(("VirtualMachine".to_string(), inst.uuid));
    Ok((JobCommand::CreateTemplate(input), about))
}
