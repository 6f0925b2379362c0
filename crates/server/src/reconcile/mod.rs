//! Reconcilers: periodic, input-free, idempotent background work — server heartbeats and settings
//! refresh, extension path readiness, payload and session sweeps, instance power-state sync.

use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use trellis_model::time::now_millis;

use crate::app::{setting, App};

/// Start every reconciler; each stops when `shutdown` turns true.
pub fn spawn_all(app: Arc<App>, shutdown: watch::Receiver<bool>) -> Vec<JoinHandle<()>> {
    vec![
        tokio::spawn(heartbeat(app.clone(), shutdown.clone())),
        tokio::spawn(readiness(app.clone(), shutdown.clone())),
        tokio::spawn(sweeps(app.clone(), shutdown.clone())),
        tokio::spawn(crate::app::power_sync_loop(app, shutdown)),
    ]
}

async fn heartbeat(app: Arc<App>, mut shutdown: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(5)) => {}
            _ = shutdown.wait_for(|v| *v) => return,
        }
        if let Err(e) = app
            .store
            .server_heartbeat(&app.server_id, now_millis())
            .await
        {
            tracing::warn!(error = %e, "heartbeat failed");
        }
        if let Err(e) = app.settings_refresh().await {
            tracing::warn!(error = %e.internal_message(), "settings refresh failed");
        }
        app.readiness_check_unchecked().await;
    }
}

async fn readiness(app: Arc<App>, mut shutdown: watch::Receiver<bool>) {
    let mut last = std::time::Instant::now();
    loop {
        // Wake every second so a changed interval (possibly changed through another server)
        // applies at once rather than after the old interval has run out.
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {
                let interval =
                    Duration::from_secs(app.setting_i64(setting::PATH_CHECK_INTERVAL).max(1) as u64);
                if last.elapsed() < interval {
                    continue;
                }
            }
            _ = app.readiness_notify.notified() => {}
            _ = shutdown.wait_for(|v| *v) => return,
        }
        last = std::time::Instant::now();
        app.readiness_check_all().await;
    }
}

async fn sweeps(app: Arc<App>, mut shutdown: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(300)) => {}
            _ = shutdown.wait_for(|v| *v) => return,
        }
        let hours = app.setting_i64(setting::PAYLOAD_RETENTION_HOURS).max(1) as u64;
        let runner = app.runner.clone();
        let swept = tokio::task::spawn_blocking(move || {
            runner.sweep_retained(Duration::from_secs(hours * 3600))
        })
        .await;
        if let Ok(Ok(n)) = swept {
            if n > 0 {
                tracing::info!(files = n, "removed retained payload files");
            }
        }
        if let Err(e) = app.store.session_sweep(now_millis()).await {
            tracing::warn!(error = %e, "session sweep failed");
        }
    }
}
