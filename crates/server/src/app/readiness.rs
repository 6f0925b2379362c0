//! Path readiness: an extension's executable must exist, be a regular executable file, and have
//! the same SHA-512 on every live server; its stored files (`extension_files`) must be as stored. Each server records its own checksum; the flag is the
//! AND of the local check and agreement with every live peer.

use trellis_ext_runner::inspect_executable;
use trellis_model::entity::Extension;
use trellis_model::extension::ExtensionState;
use trellis_model::{ids, time::now_millis, Result};

use super::App;

/// CloudStack's alert type for "extension path not ready".
pub const ALERT_PATH_NOT_READY: i64 = 33;
const ALERT_NAME: &str = "ALERT.TYPE.EXTENSION.PATH.NOT.READY";

/// How recent a heartbeat must be for a server to count as live.
pub const LIVE_WINDOW_MS: i64 = 30_000;

/// What one pass of readiness checks did (for the reconciler's status).
#[derive(Debug, Default, Clone, Copy)]
pub struct ReadinessPass {
    pub checked: usize,
    /// Checks that failed (each logged where it failed).
    pub failed: usize,
}

impl App {
    /// Check one extension on this server and update its flag; returns the new readiness.
    pub async fn readiness_check(&self, e: &Extension) -> Result<bool> {
        // Stored files new to this server are written first; a file changed here by hand is a
        // problem this check reports.
        let file_problems = self.extension_materialise(e).await?;
        let path = self.extension_path(e);
        let state = tokio::task::spawn_blocking(move || inspect_executable(&path))
            .await
            .map_err(|err| trellis_model::Error::internal(err.to_string()))?;
        let now = now_millis();
        let local = state
            .sha512
            .clone()
            .filter(|_| state.is_ready() && file_problems.is_empty());
        self.store
            .checksum_record(e.id, &self.server_id, local.as_deref(), now)
            .await?;
        let mut ready = local.is_some();
        let mut reason = if file_problems.is_empty() {
            state
                .problem
                .clone()
                .unwrap_or_else(|| "executable missing or not executable".into())
        } else {
            file_problems.join("; ")
        };
        if let Some(mine) = &local {
            let live: Vec<String> = self
                .store
                .server_list_live(now - LIVE_WINDOW_MS)
                .await?
                .into_iter()
                .map(|s| s.id)
                .collect();
            let sums = self.store.checksum_list(e.id).await?;
            for server in live.iter().filter(|s| **s != self.server_id) {
                // A live peer that has not checked this extension yet does not count as agreeing.
                let Some((_, sum, _)) = sums.iter().find(|(s, _, _)| s == server) else {
                    ready = false;
                    reason = format!("not yet checked on server {server}");
                    break;
                };
                if sum.as_deref() != Some(mine.as_str()) {
                    ready = false;
                    reason = format!(
                        "checksum differs on server {server}: {} here, {} there",
                        short(mine),
                        sum.as_deref().map(short).unwrap_or("none")
                    );
                    break;
                }
            }
        }
        if self.store.extension_set_path_ready(e.id, ready).await? {
            tracing::info!(extension = %e.name, ready, "extension path readiness changed");
            let level = if ready { "INFO" } else { "WARN" };
            let text = if ready {
                format!("Path of extension {} is ready", e.name)
            } else {
                format!("Path of extension {} is not ready: {reason}", e.name)
            };
            self.event_level(
                level,
                "EXTENSION.PATH.STATE",
                &text,
                Some(("Extension", &e.uuid)),
            )
            .await;
        }
        if !ready {
            if e.state == ExtensionState::Enabled {
                let subject = format!(
                    "Path for Extension {{\"id\":{},\"uuid\":\"{}\",\"name\":\"{}\",\"type\":\"{}\"}} not ready across management servers",
                    e.id, e.uuid, e.name, e.ext_type
                );
                self.store
                    .alert_raise(
                        &ids::new_uuid(),
                        ALERT_PATH_NOT_READY,
                        ALERT_NAME,
                        &subject,
                        now,
                    )
                    .await?;
            } else {
                tracing::warn!(extension = %e.name, %reason, "path of disabled extension is not ready");
            }
        }
        Ok(ready)
    }

    /// Check every extension (the reconciler's sweep). A failed check is logged here and counted;
    /// a failure to list the extensions is returned.
    pub async fn readiness_check_all(&self) -> Result<ReadinessPass> {
        let all = self.store.extension_all().await?;
        Ok(self.readiness_check_each(all).await)
    }

    async fn readiness_check_each(&self, extensions: Vec<Extension>) -> ReadinessPass {
        let mut pass = ReadinessPass::default();
        for e in extensions {
            pass.checked += 1;
            if let Err(err) = self.readiness_check(&e).await {
                pass.failed += 1;
                tracing::warn!(extension = %e.name, error = %err.internal_message(), "readiness check failed");
            }
        }
        pass
    }
}

impl App {
    /// Check the extensions this server has not checked yet (created through another server,
    /// or before this one started): run on every heartbeat, so a peer's new extension gets this
    /// server's verdict within seconds rather than at the next full sweep.
    pub async fn readiness_check_unchecked(&self) -> Result<ReadinessPass> {
        let unchecked = self.store.extensions_unchecked_by(&self.server_id).await?;
        Ok(self.readiness_check_each(unchecked).await)
    }
}

fn short(s: &str) -> &str {
    &s[..s.len().min(12)]
}
