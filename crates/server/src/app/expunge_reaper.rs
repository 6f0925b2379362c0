//! The expunge reaper's rule (upstream's `expunge.interval` / `expunge.delay`): a Destroyed
//! instance is expunged once it has stayed Destroyed for `expunge.delay` seconds, through the
//! same durable expunge job a user would queue (so the extension's `delete` runs, the job shows
//! in `listAsyncJobs` and the event `VM.EXPUNGE` is written). A failed expunge leaves the
//! instance Destroyed; the next round tries again.

use trellis_model::entity::DetailOwner;
use trellis_model::time::now_millis;
use trellis_model::Result;
use trellis_store::{InstanceFilter, Page};

use super::job::JobCommand;
use super::{setting, App};

/// Hidden instance detail: when the instance was destroyed (epoch milliseconds).
pub(crate) const DETAIL_DESTROYED_AT: &str = "trellis.destroyed.at";

impl App {
    /// Queue an expunge job for every Destroyed instance that is due; returns how many.
    pub async fn expunge_due(&self) -> Result<usize> {
        let now = now_millis();
        let delay_ms = self.setting_i64(setting::EXPUNGE_DELAY).max(0) * 1000;
        let filter = InstanceFilter {
            state: Some("Destroyed".into()),
            include_destroyed: true,
            ..Default::default()
        };
        let (destroyed, _) = self.store.instance_list(&filter, Page::all()).await?;
        let mut queued = 0;
        for inst in destroyed {
            let since = self
                .store
                .detail_get(DetailOwner::Instance, inst.id, DETAIL_DESTROYED_AT)
                .await?
                .and_then(|v| v.parse::<i64>().ok());
            let since = match since {
                Some(t) => t,
                None => {
                    // Destroyed before the time was recorded: the delay starts now.
                    self.store
                        .detail_upsert(
                            DetailOwner::Instance,
                            inst.id,
                            DETAIL_DESTROYED_AT,
                            &now.to_string(),
                            false,
                        )
                        .await?;
                    now
                }
            };
            if now - since < delay_ms {
                continue;
            }
            if !self.store.job_pending_for(&inst.uuid).await?.is_empty() {
                continue;
            }
            // The job runs as the instance's owner, so it is theirs to see in listAsyncJobs.
            let Some(owner) = self.principal_cached(inst.user_id).await? else {
                tracing::warn!(instance = %inst.uuid, "destroyed instance has no owner user; not expunged");
                continue;
            };
            let command = JobCommand::Expunge {
                instance: inst.uuid.clone(),
            };
            let about = Some(("VirtualMachine".to_string(), inst.uuid.clone()));
            let job = self.job_submit(&owner, &command, about).await?;
            tracing::info!(instance = %inst.uuid, job = %job.uuid, "expunge reaper queued the expunge of a destroyed instance");
            queued += 1;
        }
        Ok(queued)
    }
}
