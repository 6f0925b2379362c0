//! Resource tags: `createTags`, `deleteTags` (checked here, run as jobs) and `listTags`.

use trellis_api::{ApiError, Params};

use super::handlers::*;
use super::views::tag_view;
use crate::app::job::JobCommand;
use crate::app::reads::TagFilter;

/// The `tags` map of `createTags`/`deleteTags` as `(key, value)` pairs, in the request's order.
fn tag_map(p: &Params) -> Vec<(String, String)> {
    p.map_objects("tags")
        .unwrap_or_default()
        .into_iter()
        .map(|m| {
            (
                m.get("key").cloned().unwrap_or_default(),
                m.get("value").cloned().unwrap_or_default(),
            )
        })
        .collect()
}

/// `createTags`.
pub(super) async fn create_tags(cx: &Cx<'_>) -> Q {
    let (p, c) = (cx.p, cx.cmd);
    let resources = p.list("resourceids").unwrap_or_default();
    let tags = tag_map(p);
    if !p.has("tags") {
        return Err(ApiError::missing_param(c.name, "tags"));
    }
    let checked = cx
        .app
        .tags_check(
            cx.caller,
            req(p, c, "resourcetype")?,
            &resources,
            &tags,
            true,
        )
        .await?;
    Ok((
        JobCommand::CreateTags {
            resource_type: checked.resource_type.into(),
            resources: checked.resources,
            tags: checked.tags,
            customer: s(p, "customer"),
        },
        None,
    ))
}

/// `deleteTags`.
pub(super) async fn delete_tags(cx: &Cx<'_>) -> Q {
    let (p, c) = (cx.p, cx.cmd);
    let resources = p.list("resourceids").unwrap_or_default();
    let checked = cx
        .app
        .tags_check(
            cx.caller,
            req(p, c, "resourcetype")?,
            &resources,
            &tag_map(p),
            false,
        )
        .await?;
    Ok((
        JobCommand::DeleteTags {
            resource_type: checked.resource_type.into(),
            resources: checked.resources,
            tags: checked.tags,
        },
        None,
    ))
}

/// `listTags`.
pub(super) async fn list_tags(cx: &Cx<'_>) -> R {
    let (app, p) = (cx.app, cx.p);
    let f = TagFilter {
        resource_type: s(p, "resourcetype"),
        resource_uuid: s(p, "resourceid"),
        key: s(p, "key"),
        value: s(p, "value"),
        customer: s(p, "customer"),
        account_id: None,
        keyword: s(p, "keyword"),
    };
    let (items, total) = app
        .tag_list(cx.caller, f, p.str("projectid"), page_of(app, p)?)
        .await?;
    let mut out = Vec::with_capacity(items.len());
    for t in &items {
        out.push(tag_view(app, t).await?);
    }
    Ok(list("tag", out, total))
}
