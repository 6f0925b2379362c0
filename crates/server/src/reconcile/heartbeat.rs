//! The heartbeat task: every 5 s, this server's heartbeat, a settings refresh, readiness of the
//! extensions this server has not checked yet, the stored extension files new to it, and the
//! file clean-ups of deleted extensions it has still to do.

use std::sync::Arc;
use std::time::Duration;
use trellis_model::time::now_millis;

use super::{Reconciler, TickStatus};
use crate::app::App;

/// Keeps this server live, its settings current, and new extensions checked here.
#[derive(Debug)]
pub struct Heartbeat;

impl Reconciler for Heartbeat {
    fn name(&self) -> &'static str {
        "heartbeat"
    }

    fn period(&self, _app: &App) -> Duration {
        Duration::from_secs(5)
    }

    async fn tick(&self, app: &Arc<App>) -> TickStatus {
        let mut failures = Vec::new();
        if let Err(e) = app
            .store
            .server_heartbeat(&app.server_id, now_millis())
            .await
        {
            failures.push(format!("heartbeat failed: {e}"));
        }
        if let Err(e) = app.settings_refresh().await {
            failures.push(format!("settings refresh failed: {}", e.internal_message()));
        }
        match app.readiness_check_unchecked().await {
            Ok(pass) if pass.failed > 0 => failures.push(format!(
                "readiness check failed for {} of {} unchecked extensions",
                pass.failed, pass.checked
            )),
            Ok(_) => {}
            Err(e) => failures.push(format!(
                "could not list extensions this server has not checked: {}",
                e.internal_message()
            )),
        }
        if let Err(e) = app.extension_files_catch_up().await {
            failures.push(format!(
                "could not write new extension files: {}",
                e.internal_message()
            ));
        }
        if let Err(e) = app.extension_cleanups_run().await {
            failures.push(format!(
                "could not list the extensions to clean up: {}",
                e.internal_message()
            ));
        }
        if failures.is_empty() {
            TickStatus::Ok(String::new())
        } else {
            TickStatus::Error(failures.join("; "))
        }
    }
}
