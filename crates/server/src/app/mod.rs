//! The application: every operation Trellis offers, as `App::<resource>_<verb>` methods. The HTTP
//! layer calls these; they use the store and the runner and never know about HTTP.

pub mod affinity;
pub mod auth;
pub mod custom_action;
pub mod deploy;
pub mod detail_policy;
pub mod disk_offerings;
mod expunge_reaper;
mod extension;
pub mod extension_files;
mod extension_import;
pub mod guest_data;
mod host_maintenance;
pub(crate) mod identity;
pub mod infra;
pub mod instance;
mod invoke;
pub mod job;
pub mod limits;
pub mod networks;
pub mod offerings;
pub mod ownership;
mod placement;
mod power_sync;
pub mod projects;
mod readiness;
pub mod reads;
mod registration;
pub mod roles;
pub mod secret_details;
pub mod secrets;
mod settings;
pub mod ssh_keys;
pub mod tags;
pub mod template_capture;
pub mod templates;
pub mod tenancy;
pub mod volumes;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use trellis_ext_runner::{Runner, RunnerConfig};
use trellis_model::entity::{Event, Principal};
use trellis_model::{ids, time::now_millis, Error, Result};
use trellis_store::Store;

pub use auth::{LoginOutcome, SESSION_COOKIE};
pub use custom_action::CustomActionRun;
pub use extension::{ExtensionCreateParams, ExtensionUpdateParams, ExtensionView, ExtensionViews};
pub use identity::paginate;
pub use readiness::LIVE_WINDOW_MS;
pub use settings::{setting, SETTINGS};

use crate::config::ServerConfig;

/// The lock table is first pruned when it reaches this many entries.
const LOCKS_PRUNE_MIN: usize = 1024;

/// The authenticated caller of an operation.
pub type Caller = Principal;

/// Shared application state.
pub struct App {
    pub cfg: ServerConfig,
    pub store: Store,
    pub runner: Runner,
    /// This server's stable id (persisted in the data directory).
    pub server_id: String,
    pub server_name: String,
    settings: RwLock<HashMap<String, String>>,
    /// Wakes the job worker when a job is queued here.
    pub job_notify: tokio::sync::Notify,
    /// Wakes the path-readiness reconciler.
    pub readiness_notify: tokio::sync::Notify,
    /// Job counts by status, refreshed by the job worker (for metrics).
    pub jobs_counts_cache: std::sync::Mutex<Vec<(i64, i64)>>,
    /// Verified API keys: key → (principal, secret, fetched).
    pub(crate) auth_cache:
        std::sync::Mutex<HashMap<String, (Principal, String, std::time::Instant)>>,
    /// Principals by user id (for jobs).
    principal_cache: std::sync::Mutex<HashMap<i64, (Principal, std::time::Instant)>>,
    /// Log-in sessions: key → (session, principal, fetched); only where this server is the
    /// database's sole writer, like API keys.
    pub(crate) session_cache: std::sync::Mutex<
        HashMap<
            String,
            (
                trellis_model::entity::Session,
                Principal,
                std::time::Instant,
            ),
        >,
    >,
    /// Duration of the last power-sync sweep, in milliseconds (for metrics).
    pub power_sweep_millis: std::sync::atomic::AtomicU64,
    /// Per-key locks for operations that must not interleave on one server.
    locks: tokio::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    locks_prune_at: std::sync::atomic::AtomicUsize,
    /// API request counts and latencies, build info, uptime (for `/metrics`).
    pub api_metrics: crate::metrics::ApiMetrics,
    /// Components that add their own lines to `/metrics` once started (the reconcilers).
    pub(crate) metrics_sources: std::sync::Mutex<Vec<Arc<dyn crate::metrics::MetricsSource>>>,
    /// Seals the secrets jobs carry (see `job::seal`).
    secret_key: crate::app::job::seal::SecretKey,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("server_id", &self.server_id)
            .finish()
    }
}

fn load_or_create_server_id(data_dir: &std::path::Path) -> std::io::Result<String> {
    let path = data_dir.join("server-id");
    match std::fs::read_to_string(&path) {
        Ok(s) if ids::is_api_uuid(s.trim()) => Ok(s.trim().to_string()),
        _ => {
            let id = ids::new_uuid();
            std::fs::write(&path, &id)?;
            Ok(id)
        }
    }
}

impl App {
    pub fn new(cfg: ServerConfig, store: Store) -> std::result::Result<App, crate::StartError> {
        let server_id = load_or_create_server_id(&cfg.data_dir).map_err(|source| {
            crate::StartError::DataDir {
                path: cfg.data_dir.clone(),
                source,
            }
        })?;
        let server_name = cfg.server_name.clone().unwrap_or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .map(|s| s.trim().to_string())
                .ok()
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "trellis".into())
        });
        // Payloads go to the runner's default private tmpfs directory, never to persistent disk.
        let runner_cfg = RunnerConfig::default();
        let runner = Runner::new(runner_cfg).map_err(crate::StartError::Runner)?;
        let (key_path, create) = cfg.secret_key_file();
        if create && cfg.database_url().starts_with("postgres") {
            tracing::warn!(path = %key_path.display(), "no secret_key_file configured: this server seals job secrets and secret details with its own key; servers sharing the database cannot open each other's until they share one key file");
        }
        let secret_key = crate::app::job::seal::SecretKey::load_or_create(&key_path, create)
            .map_err(crate::StartError::SecretKey)?;
        Ok(App {
            cfg,
            store,
            runner,
            server_id,
            server_name,
            settings: RwLock::new(HashMap::new()),
            job_notify: tokio::sync::Notify::new(),
            readiness_notify: tokio::sync::Notify::new(),
            jobs_counts_cache: std::sync::Mutex::new(Vec::new()),
            power_sweep_millis: std::sync::atomic::AtomicU64::new(0),
            auth_cache: std::sync::Mutex::new(HashMap::new()),
            principal_cache: std::sync::Mutex::new(HashMap::new()),
            session_cache: std::sync::Mutex::new(HashMap::new()),
            locks: tokio::sync::Mutex::new(HashMap::new()),
            locks_prune_at: std::sync::atomic::AtomicUsize::new(LOCKS_PRUNE_MIN),
            secret_key,
            api_metrics: crate::metrics::ApiMetrics::default(),
            metrics_sources: std::sync::Mutex::default(),
        })
    }

    /// First-start and every-start work: schema defaults, identity, built-in extensions.
    /// Returns the admin password when one was generated (shown once, never stored in clear).
    pub async fn bootstrap(&self) -> Result<Option<String>> {
        let now = now_millis();
        self.store
            .server_register(
                &self.server_id,
                &self.server_name,
                env!("CARGO_PKG_VERSION"),
                now,
            )
            .await?;
        self.settings_seed().await?;
        let generated = self.identity_bootstrap().await?;
        self.network_offerings_bootstrap().await?;
        self.extensions_bootstrap().await?;
        self.secret_names_refresh().await?;
        let sealed = self.details_reseal().await?;
        if sealed > 0 {
            tracing::info!(
                details = sealed,
                "sealed secret details stored in clear by an earlier version"
            );
        }
        let added = self.store.volume_backfill_roots().await?;
        if added > 0 {
            tracing::info!(
                volumes = added,
                "recorded ROOT volumes of instances made before volumes were recorded"
            );
        }
        Ok(generated)
    }

    /// The key job secrets are sealed with.
    pub fn secret_key(&self) -> &crate::app::job::seal::SecretKey {
        &self.secret_key
    }

    /// Remove this server from the live set (graceful shutdown).
    pub async fn server_leave(&self) {
        if let Err(e) = self.store.server_remove(&self.server_id).await {
            tracing::warn!(error = %trellis_model::ErrorChain(&e), "could not deregister server");
        }
    }

    /// The extensions root as an absolute path.
    pub fn extensions_root(&self) -> std::path::PathBuf {
        let p = self.cfg.extensions_dir();
        std::path::absolute(&p).unwrap_or(p)
    }

    /// An INFO event for a state-changing command, to record now or inside a transaction.
    pub fn new_event(
        caller: Option<&Caller>,
        event_type: &str,
        description: &str,
        resource: Option<(&str, &str)>,
    ) -> Event {
        Event {
            id: 0,
            uuid: ids::new_uuid(),
            event_type: event_type.to_string(),
            level: "INFO".into(),
            state: "Completed".into(),
            description: description.to_string(),
            user_id: caller.map(|c| c.user.id),
            account_id: caller.map(|c| c.account.id),
            domain_id: caller.map(|c| c.domain.id),
            resource_type: resource.map(|r| r.0.to_string()),
            resource_uuid: resource.map(|r| r.1.to_string()),
            created: now_millis(),
        }
    }

    /// Record an event for a state-changing command.
    pub async fn event(
        &self,
        caller: Option<&Caller>,
        event_type: &str,
        description: &str,
        resource: Option<(&str, &str)>,
    ) {
        let e = Self::new_event(caller, event_type, description, resource);
        if let Err(err) = self.store.event_create(&e).await {
            tracing::warn!(error = %trellis_model::ErrorChain(&err), event_type, "could not record event");
        }
    }

    /// Record an event at a level other than INFO.
    pub async fn event_level(
        &self,
        level: &str,
        event_type: &str,
        description: &str,
        resource: Option<(&str, &str)>,
    ) {
        let e = Event {
            id: 0,
            uuid: ids::new_uuid(),
            event_type: event_type.to_string(),
            level: level.to_string(),
            state: "Completed".into(),
            description: description.to_string(),
            user_id: None,
            account_id: None,
            domain_id: None,
            resource_type: resource.map(|r| r.0.to_string()),
            resource_uuid: resource.map(|r| r.1.to_string()),
            created: now_millis(),
        };
        if let Err(err) = self.store.event_create(&e).await {
            tracing::warn!(error = %trellis_model::ErrorChain(&err), event_type, "could not record event");
        }
    }

    /// Forget every cached API-key, session and principal lookup.
    pub fn auth_cache_clear(&self) {
        if let Ok(mut c) = self.auth_cache.lock() {
            c.clear();
        }
        if let Ok(mut c) = self.session_cache.lock() {
            c.clear();
        }
        if let Ok(mut c) = self.principal_cache.lock() {
            c.clear();
        }
    }

    /// A user with account, domain and role, cached like API keys (jobs look their submitter up).
    pub async fn principal_cached(&self, user_id: i64) -> Result<Option<Principal>> {
        let ttl = auth::AUTH_CACHE_TTL;
        if let Some(p) = self.principal_cache.lock().ok().and_then(|c| {
            c.get(&user_id)
                .filter(|(_, at)| at.elapsed() < ttl)
                .map(|(p, _)| p.clone())
        }) {
            return Ok(Some(p));
        }
        let p = self.store.principal_get(user_id).await?;
        if let (Some(p), Ok(mut c)) = (&p, self.principal_cache.lock()) {
            if c.len() > 10_000 {
                c.clear();
            }
            c.insert(user_id, (p.clone(), std::time::Instant::now()));
        }
        Ok(p)
    }

    /// A lock shared by everything on this server that touches `key`.
    ///
    /// Keys are per instance, host, cluster…, so the table is pruned as it grows: an entry only
    /// the table refers to is held by nobody and can go (the next caller makes a new one). The
    /// prune threshold doubles with the live entries, which keeps the cost per call constant.
    pub async fn lock_for(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.locks.lock().await;
        if locks.len()
            >= self
                .locks_prune_at
                .load(std::sync::atomic::Ordering::Relaxed)
        {
            locks.retain(|_, l| Arc::strong_count(l) > 1);
            self.locks_prune_at.store(
                (locks.len() * 2).max(LOCKS_PRUNE_MIN),
                std::sync::atomic::Ordering::Relaxed,
            );
        }
        locks
            .entry(key.to_string())
            .or_insert_with(|| Arc::new(tokio::sync::Mutex::new(())))
            .clone()
    }

    /// Number of entries in the lock table.
    pub async fn lock_table_len(&self) -> usize {
        self.locks.lock().await.len()
    }
}

/// Require the root-admin role type.
pub fn require_admin(caller: &Caller) -> Result<()> {
    if caller.is_root_admin() {
        Ok(())
    } else {
        Err(Error::denied("only root administrators may do this"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn lock_table_drops_unheld_entries() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = ServerConfig {
            data_dir: dir.path().to_path_buf(),
            ..Default::default()
        };
        let store = Store::open(&format!("sqlite://{}", dir.path().join("t.db").display()))
            .await
            .unwrap();
        let app = App::new(cfg, store).unwrap();
        let held = app.lock_for("instance-held").await;
        let guard = held.lock().await;
        for i in 0..10 * LOCKS_PRUNE_MIN {
            let l = app.lock_for(&format!("instance-{i}")).await;
            drop(l.lock().await);
        }
        // Bounded by the prune threshold, not by the number of keys ever used.
        assert!(app.lock_table_len().await <= LOCKS_PRUNE_MIN + 1);
        // A held lock survives pruning: the same key still gives the same mutex.
        let again = app.lock_for("instance-held").await;
        assert!(Arc::ptr_eq(&held, &again));
        assert!(again.try_lock().is_err());
        drop(guard);
        assert!(again.try_lock().is_ok());
    }
}
