//! The power-sync task: every `extension.power.sync.interval`, one power-state sweep over every
//! host (`App::power_sync_all`).

use std::sync::Arc;
use std::time::Duration;

use super::{Reconciler, TickStatus};
use crate::app::{setting, App};

/// Records reported power states and corrects instances changed out of band.
#[derive(Debug)]
pub struct PowerSync;

impl Reconciler for PowerSync {
    fn name(&self) -> &'static str {
        "power-sync"
    }

    fn period(&self, app: &App) -> Duration {
        Duration::from_secs(app.setting_i64(setting::POWER_SYNC_INTERVAL).max(1) as u64)
    }

    async fn tick(&self, app: &Arc<App>) -> TickStatus {
        match app.power_sync_all().await {
            Ok(sweep) if sweep.failed > 0 => TickStatus::Error(format!(
                "power sync failed for {} of {} hosts",
                sweep.failed, sweep.hosts
            )),
            Ok(sweep) => TickStatus::Ok(format!("{} hosts swept", sweep.hosts)),
            Err(e) => TickStatus::Error(format!(
                "power sync could not list hosts: {}",
                e.internal_message()
            )),
        }
    }
}
