//! The expunge reaper task: every `expunge.interval` seconds (re-read each tick), Destroyed
//! instances older than `expunge.delay` are expunged (see `App::expunge_due`).

use std::sync::Arc;
use std::time::Duration;

use super::{Reconciler, TickStatus};
use crate::app::{setting, App};

/// Expunges instances that stayed Destroyed longer than `expunge.delay`.
#[derive(Debug)]
pub struct ExpungeReaper;

impl Reconciler for ExpungeReaper {
    fn name(&self) -> &'static str {
        "expunge_reaper"
    }

    fn period(&self, app: &App) -> Duration {
        Duration::from_secs(app.setting_i64(setting::EXPUNGE_INTERVAL).max(1) as u64)
    }

    async fn tick(&self, app: &Arc<App>) -> TickStatus {
        match app.expunge_due().await {
            Ok(0) => TickStatus::Ok(String::new()),
            Ok(n) => TickStatus::Ok(format!("{n} expunge job(s) queued")),
            Err(e) => TickStatus::Error(format!("expunge reaper failed: {e}")),
        }
    }
}
