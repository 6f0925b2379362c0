//! The sweeps task: every 300 s, retained payload files older than
//! `extension.payload.retention.hours` and expired sessions are removed.

use std::sync::Arc;
use std::time::Duration;
use trellis_model::time::now_millis;

use super::{Reconciler, TickStatus};
use crate::app::{setting, App};

/// Removes retained payload files and expired sessions.
#[derive(Debug)]
pub struct Sweeps;

impl Reconciler for Sweeps {
    fn name(&self) -> &'static str {
        "sweeps"
    }

    fn period(&self, _app: &App) -> Duration {
        Duration::from_secs(300)
    }

    async fn tick(&self, app: &Arc<App>) -> TickStatus {
        let mut failures = Vec::new();
        let hours = app.setting_i64(setting::PAYLOAD_RETENTION_HOURS).max(1) as u64;
        let runner = app.runner.clone();
        let swept = tokio::task::spawn_blocking(move || {
            runner.sweep_retained(Duration::from_secs(hours * 3600))
        })
        .await;
        match swept {
            Ok(Ok(n)) if n > 0 => tracing::info!(files = n, "removed retained payload files"),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => failures.push(format!("payload sweep failed: {e}")),
            Err(e) => failures.push(format!("payload sweep did not finish: {e}")),
        }
        if let Err(e) = app.store.session_sweep(now_millis()).await {
            failures.push(format!("session sweep failed: {e}"));
        }
        if failures.is_empty() {
            TickStatus::Ok(String::new())
        } else {
            TickStatus::Error(failures.join("; "))
        }
    }
}
