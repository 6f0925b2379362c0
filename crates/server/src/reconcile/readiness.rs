//! The path-readiness task: every extension checked every `extension.path.state.check.interval`,
//! and at once when `App::readiness_notify` is notified (an extension registered or changed, the
//! interval changed, start-up).

use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

use super::{Reconciler, TickStatus};
use crate::app::{setting, App};

/// Checks the path readiness of every extension on this server.
#[derive(Debug)]
pub struct Readiness;

impl Reconciler for Readiness {
    fn name(&self) -> &'static str {
        "readiness"
    }

    fn period(&self, app: &App) -> Duration {
        Duration::from_secs(app.setting_i64(setting::PATH_CHECK_INTERVAL).max(1) as u64)
    }

    fn activation<'a>(&self, app: &'a App) -> Option<&'a Notify> {
        Some(&app.readiness_notify)
    }

    async fn tick(&self, app: &Arc<App>) -> TickStatus {
        // Declarations of secret detail names made through another server.
        if let Err(e) = app.secret_names_refresh().await {
            return TickStatus::Error(format!(
                "could not refresh the declared secret names: {}",
                e.internal_message()
            ));
        }
        match app.readiness_check_all().await {
            Ok(pass) if pass.failed > 0 => TickStatus::Error(format!(
                "readiness check failed for {} of {} extensions",
                pass.failed, pass.checked
            )),
            Ok(pass) => TickStatus::Ok(format!("{} extensions checked", pass.checked)),
            Err(e) => TickStatus::Error(format!(
                "could not list extensions: {}",
                e.internal_message()
            )),
        }
    }
}
