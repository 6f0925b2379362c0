//! `listManagementServers`: every server that shares the database, whether it is up (a heartbeat
//! within the liveness window), the version it runs, and which extensions are ready on it.

use serde_json::json;
use trellis_model::time::now_millis;

use super::handlers::*;
use super::views;
use crate::app::LIVE_WINDOW_MS;

/// `listManagementServers`.
pub(super) async fn list_management_servers(cx: &Cx<'_>) -> R {
    let app = cx.app;
    let p = cx.p;
    let page = page_of(app, p)?;
    let now = now_millis();
    let readiness = app.reads().server_extension_readiness().await?;
    let mut servers = app.reads().server_list_live(0).await?;
    servers.retain(|s| {
        p.str("id").is_none_or(|id| s.id == id)
            && p.str("name").is_none_or(|n| s.name.eq_ignore_ascii_case(n))
            && p.str("keyword")
                .is_none_or(|k| s.name.to_lowercase().contains(&k.to_lowercase()))
    });
    let total = servers.len() as i64;
    let items = servers
        .iter()
        .skip(page.offset.max(0) as usize)
        .take(page.limit.map_or(usize::MAX, |l| l.max(0) as usize))
        .map(|s| {
            let on_server = readiness.iter().filter(|(id, _, _)| *id == s.id);
            let ready: Vec<&str> = on_server
                .clone()
                .filter(|r| r.2)
                .map(|r| r.1.as_str())
                .collect();
            let not_ready: Vec<&str> = on_server.filter(|r| !r.2).map(|r| r.1.as_str()).collect();
            json!({
                "id": s.id,
                "name": s.name,
                "state": if s.heartbeat >= now - LIVE_WINDOW_MS { "Up" } else { "Down" },
                "version": s.version,
                "lastserverstart": views::date(s.started),
                "lastheartbeat": views::date(s.heartbeat),
                "extensionsready": ready,
                "extensionsnotready": not_ready,
            })
        })
        .collect();
    Ok(list("managementserver", items, total))
}
