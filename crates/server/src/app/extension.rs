//! Extensions: create, list, update, delete, register with clusters; the scaffold for
//! user-defined extensions and the seeding of the built-in ones.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use trellis_model::entity::{Cluster, DetailOwner, Extension, ResourceMap};
use trellis_model::extension::{self as ext, ExtensionState};
use trellis_model::{ids, time::now_millis, Error, Result};
use trellis_store::{ExtensionFilter, NewExtension, Page};

use super::{extension_files, require_admin, secret_details, App, Caller};

/// The default executable of a user-defined extension that has none.
pub const SCAFFOLD: &str = include_str!("../../assets/scaffold.sh");

/// Which parts of an extension to return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtensionViews {
    pub details: bool,
    pub resources: bool,
}

impl ExtensionViews {
    pub const ALL: ExtensionViews = ExtensionViews {
        details: true,
        resources: true,
    };

    /// Parse `listExtensions details=`: a subset of all, resource, external, min.
    pub fn parse(list: Option<&[String]>) -> Result<ExtensionViews> {
        let Some(list) = list.filter(|l| !l.is_empty()) else {
            return Ok(ExtensionViews::ALL);
        };
        let mut v = ExtensionViews {
            details: false,
            resources: false,
        };
        for item in list {
            match item.to_lowercase().as_str() {
                "all" => v = ExtensionViews::ALL,
                "resource" | "resources" => v.resources = true,
                "external" => v.details = true,
                "min" => {}
                other => return Err(Error::invalid_param(format!("Invalid value {other} for details; allowed values are [all, resource, external, min]"))),
            }
        }
        Ok(v)
    }
}

/// An extension with what the API shows of it.
#[derive(Debug, Clone)]
pub struct ExtensionView {
    pub extension: Extension,
    pub path: String,
    pub requires_prepare: Option<bool>,
    pub details: Option<BTreeMap<String, String>>,
    pub resources: Option<Vec<MappedResource>>,
}

/// Input of `createExtension`.
#[derive(Debug, Clone, Default)]
pub struct ExtensionCreateParams {
    pub name: String,
    pub description: Option<String>,
    /// Only `Orchestrator` is accepted.
    pub ext_type: String,
    /// The executable, relative to the extensions directory; a scaffold when `None`.
    pub path: Option<String>,
    pub requires_prepare: Option<bool>,
    /// `Enabled` (default) or `Disabled`.
    pub state: Option<String>,
    pub details: BTreeMap<String, String>,
}

/// Input of `updateExtension`: what is `None` stays as it is.
#[derive(Debug, Clone, Default)]
pub struct ExtensionUpdateParams {
    pub uuid: String,
    pub description: Option<String>,
    pub requires_prepare: Option<bool>,
    /// `Enabled` or `Disabled`.
    pub state: Option<String>,
    /// New visible details, replacing the old ones (`cleanup_details` clears them).
    pub details: Option<BTreeMap<String, String>>,
    pub cleanup_details: bool,
}

/// A resource registered with an extension: the cluster, its mapping and the mapping's details.
pub type MappedResource = (Cluster, ResourceMap, BTreeMap<String, String>);

/// A built-in custom action's parameter: name, type, required.
type SeedParam = (&'static str, &'static str, bool);
/// A built-in custom action: name, description, parameters.
type SeedAction = (&'static str, &'static str, &'static [SeedParam]);

/// A built-in extension's seed.
struct Builtin {
    name: &'static str,
    binary: &'static str,
    description: &'static str,
    requires_prepare: bool,
    actions: &'static [SeedAction],
}

const PROXMOX_ACTIONS: &[SeedAction] = &[
    ("ListSnapshots", "List the snapshots of the instance", &[]),
    (
        "CreateSnapshot",
        "Create a snapshot of the instance",
        &[
            ("snap_name", "STRING", true),
            ("snap_description", "STRING", false),
            ("snap_save_memory", "BOOLEAN", false),
        ],
    ),
    (
        "RestoreSnapshot",
        "Roll the instance back to a snapshot",
        &[("snap_name", "STRING", true)],
    ),
    (
        "DeleteSnapshot",
        "Delete a snapshot of the instance",
        &[("snap_name", "STRING", true)],
    ),
];
const HYPERV_ACTIONS: &[SeedAction] = &[
    ("ListSnapshots", "List the checkpoints of the instance", &[]),
    (
        "CreateSnapshot",
        "Create a checkpoint of the instance",
        &[("snapshot_name", "STRING", true)],
    ),
    (
        "RestoreSnapshot",
        "Restore the instance to a checkpoint",
        &[("snapshot_name", "STRING", true)],
    ),
    (
        "DeleteSnapshot",
        "Delete a checkpoint of the instance",
        &[("snapshot_name", "STRING", true)],
    ),
    ("Suspend", "Suspend the instance", &[]),
    ("Resume", "Resume the suspended instance", &[]),
];

const BUILTINS: &[Builtin] = &[
    Builtin {
        name: "Proxmox",
        binary: "trellis-proxmox",
        description: "Manage instances on Proxmox VE clusters",
        requires_prepare: true,
        actions: PROXMOX_ACTIONS,
    },
    Builtin {
        name: "HyperV",
        binary: "trellis-hyperv",
        description: "Manage instances on Hyper-V hosts over WinRM",
        requires_prepare: false,
        actions: HYPERV_ACTIONS,
    },
    Builtin {
        name: "MaaS",
        binary: "trellis-maas",
        description: "Provision bare-metal machines through Canonical MAAS",
        requires_prepare: true,
        actions: &[],
    },
    Builtin {
        name: "Local",
        binary: "trellis-local",
        description:
            "Run instances as QEMU virtual machines on the management server's own machine",
        requires_prepare: false,
        actions: &[
            ("ListSnapshots", "List the snapshots of the instance", &[]),
            (
                "CreateSnapshot",
                "Create a snapshot of the instance",
                &[("snap_name", "STRING", true)],
            ),
            (
                "RestoreSnapshot",
                "Roll the instance back to a snapshot",
                &[("snap_name", "STRING", true)],
            ),
            (
                "DeleteSnapshot",
                "Delete a snapshot of the instance",
                &[("snap_name", "STRING", true)],
            ),
        ],
    },
];

fn builtin_relative_path(b: &Builtin) -> String {
    format!("{}/{}", ext::directory_name(b.name), b.binary)
}

/// An absolute `path` must lie in the extensions directory (or start with the extension's own
/// directory name, read as relative to it); the refusal names the directory.
fn refuse_absolute_path_outside(name: &str, path: Option<&str>, root: &Path) -> Result<()> {
    let Some(raw) = path.filter(|p| p.starts_with('/') || p.starts_with('\\')) else {
        return Ok(());
    };
    let unified = raw.replace('\\', "/");
    let root_text = root.to_string_lossy();
    let root_text = root_text.trim_end_matches('/');
    let inside = !root_text.is_empty() && unified.starts_with(&format!("{root_text}/"));
    let first = unified
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or("");
    if inside || first == ext::directory_name(name) {
        return Ok(());
    }
    Err(Error::invalid_param(format!(
        "path {raw} is outside the extensions directory {root_text}; give a path relative to it \
         (for example {}/{}.sh) or an absolute path inside it",
        ext::directory_name(name),
        ext::directory_name(name)
    )))
}

/// Write `content` to `path` atomically with the given mode (temp file + rename).
fn write_executable(path: &Path, content: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    std::fs::write(&tmp, content)?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755))?;
    std::fs::rename(&tmp, path)
}

impl App {
    /// The directory the built-in binaries are taken from.
    fn builtin_source_dir(&self) -> Option<PathBuf> {
        self.cfg.builtin_dir.clone().or_else(|| {
            std::env::current_exe()
                .ok()
                .and_then(|p| p.parent().map(Path::to_path_buf))
        })
    }

    /// The absolute path of an extension's executable.
    pub fn extension_path(&self, e: &Extension) -> PathBuf {
        self.extensions_root().join(&e.relative_path)
    }

    pub(super) async fn extensions_bootstrap(&self) -> Result<()> {
        let root = self.extensions_root();
        if let Err(e) = std::fs::create_dir_all(&root) {
            tracing::error!(path = %root.display(), error = %trellis_model::ErrorChain(&e), "extensions directory cannot be created; scaffolding will fail");
        }
        let now = now_millis();
        for b in BUILTINS {
            let existing = self.store.extension_by_name(b.name).await?;
            let extension = match existing {
                Some(e) => e,
                None => {
                    let hidden: BTreeMap<String, String> = if b.requires_prepare {
                        [(ext::DETAIL_REQUIRES_PREPARE.to_string(), "true".to_string())].into()
                    } else {
                        BTreeMap::new()
                    };
                    let e = self
                        .store
                        .extension_create(
                            &NewExtension {
                                uuid: ids::new_uuid(),
                                name: b.name.into(),
                                description: Some(b.description.into()),
                                ext_type: ext::TYPE_ORCHESTRATOR.into(),
                                relative_path: builtin_relative_path(b),
                                is_user_defined: false,
                                state: ExtensionState::Enabled,
                                path_ready: false,
                            },
                            &BTreeMap::new(),
                            &hidden,
                            now,
                        )
                        .await?;
                    for (name, description, params) in b.actions {
                        let defs: Vec<trellis_model::validate::ParamDef> = params
                            .iter()
                            .map(|(n, t, req)| trellis_model::validate::ParamDef {
                                name: (*n).into(),
                                ty: trellis_model::validate::ParamType::parse(t)
                                    .unwrap_or(trellis_model::validate::ParamType::String),
                                validationformat: trellis_model::validate::ValidationFormat::None,
                                valueoptions: None,
                                required: *req,
                            })
                            .collect();
                        let action = trellis_store::NewCustomAction {
                            uuid: ids::new_uuid(),
                            name: (*name).into(),
                            description: Some((*description).into()),
                            extension_id: e.id,
                            resource_type: Some(ext::RESOURCE_TYPE_VM.into()),
                            allowed_role_types: 15,
                            success_message: Some("Successfully completed {{actionName}} for {{resourceName}} with {{extensionName}}".into()),
                            error_message: Some("Failed to complete {{actionName}} for {{resourceName}} with {{extensionName}}".into()),
                            enabled: true,
                            timeout: 60,
                        };
                        let json = serde_json::to_string(&defs)
                            .map_err(|e| Error::internal(e.to_string()))?;
                        self.store
                            .custom_action_create(&action, &BTreeMap::new(), &json, now)
                            .await?;
                    }
                    tracing::info!(extension = b.name, "seeded built-in extension");
                    e
                }
            };
            // A binary installed just now (or never found ready) is checked before serving, so
            // the first deploy after start-up does not race the readiness reconciler.
            if self.builtin_install(b, &extension) || !extension.path_ready {
                if let Err(err) = self.readiness_check(&extension).await {
                    tracing::warn!(extension = b.name, error = %err.internal_message(), "readiness check failed");
                }
            }
        }
        // Readiness is checked by its reconciler right after start-up, off the start-up path.
        self.readiness_notify.notify_one();
        Ok(())
    }

    /// Copy a built-in binary into the extensions directory when it is missing or differs.
    /// Returns true when the binary was (re)installed.
    fn builtin_install(&self, b: &Builtin, e: &Extension) -> bool {
        let Some(src_dir) = self.builtin_source_dir() else {
            return false;
        };
        let src = src_dir.join(b.binary);
        let Ok(content) = std::fs::read(&src) else {
            tracing::warn!(extension = b.name, source = %src.display(), "built-in extension binary not found; its path stays not ready (build it with `cargo build --release --workspace --bins`)");
            return false;
        };
        let dst = self.extension_path(e);
        if std::fs::read(&dst).map(|c| c == content).unwrap_or(false) {
            return false;
        }
        match write_executable(&dst, &content) {
            Ok(()) => {
                tracing::info!(extension = b.name, path = %dst.display(), "installed built-in extension binary");
                true
            }
            Err(err) => {
                tracing::warn!(extension = b.name, path = %dst.display(), error = %trellis_model::ErrorChain(&err), "could not install built-in extension binary");
                false
            }
        }
    }

    /// Store the default script of a user-defined extension that uses the default path
    /// (`<name>/<name>.sh`, what `createExtension` without a `path` gives) and has no stored
    /// files yet: every server writes it. A file already at that path (the administrator's own
    /// script) is stored instead of the scaffold. A path the user chose is never filled with the
    /// scaffold: a missing file there stays not ready, so nobody takes the scaffold for their
    /// own script.
    async fn extension_scaffold(&self, e: &Extension) -> Result<()> {
        if !e.is_user_defined {
            return Ok(());
        }
        let root = self.extensions_root();
        let default_path = ext::normalize_relative_path(&e.name, None, &root.to_string_lossy())?;
        if e.relative_path != default_path || !self.store.extension_files(e.id).await?.is_empty() {
            return Ok(());
        }
        let path = self.extension_path(e);
        let (content, origin) = match std::fs::read(&path) {
            Ok(existing) => (existing, "the file already there"),
            Err(_) => (SCAFFOLD.as_bytes().to_vec(), "the default script"),
        };
        let file = extension_files::new_file(default_path, 0o755, content)?;
        self.extension_files_put(e, vec![file])
            .await
            .map_err(|err| {
                Error::internal_with(
                    format!("Failed to prepare scripts for extension: {}", e.name),
                    err.internal_message().to_string(),
                )
            })?;
        tracing::info!(extension = %e.name, path = %path.display(), origin, "stored the extension's script; every server writes it");
        Ok(())
    }

    /// Prepare the executable (scaffold) and compute readiness; on failure disable the extension.
    async fn extension_enable_path(&self, e: &Extension) -> Result<()> {
        if let Err(err) = self.extension_scaffold(e).await {
            self.store
                .extension_set_state(e.id, ExtensionState::Disabled)
                .await?;
            tracing::warn!(extension = %e.name, error = %err.internal_message(), "scaffolding failed");
            return Err(Error::internal_with(
                format!(
                    "Failed to enable extension: {} as its path is not ready",
                    e.name
                ),
                err.internal_message().to_string(),
            ));
        }
        self.readiness_check(e).await?;
        Ok(())
    }

    /// Scaffold when needed and recompute readiness (used when a host is added).
    pub async fn extension_prepare_path(&self, e: &Extension) -> Result<bool> {
        self.extension_scaffold(e).await?;
        self.readiness_check(e).await
    }

    pub async fn extension_create(
        &self,
        caller: &Caller,
        params: ExtensionCreateParams,
    ) -> Result<ExtensionView> {
        let ExtensionCreateParams {
            name,
            description,
            ext_type,
            path,
            requires_prepare,
            state,
            details,
        } = params;
        let (name, ext_type, path) = (&*name, &*ext_type, path.as_deref());
        require_admin(caller)?;
        if ext_type != ext::TYPE_ORCHESTRATOR {
            return Err(Error::invalid_param(format!(
                "Invalid type specified - {ext_type} (parameter type: the supported type is {})",
                ext::TYPE_ORCHESTRATOR
            )));
        }
        let state = match state.as_deref() {
            None => ExtensionState::Enabled,
            Some(s) => ExtensionState::parse(s).ok_or_else(|| {
                Error::invalid_param(format!(
                    "Invalid state specified - {s}; valid values are Enabled, Disabled"
                ))
            })?,
        };
        if name.trim().is_empty() {
            return Err(Error::invalid_param("Extension name must not be empty"));
        }
        let root = self.extensions_root();
        let given_path = path.map(str::trim).filter(|p| !p.is_empty());
        refuse_absolute_path_outside(name, given_path, &root)?;
        let relative = ext::normalize_relative_path(name, path, &root.to_string_lossy())?;
        let lock = self.lock_for("extension-name").await;
        let _guard = lock.lock().await;
        if self.store.extension_by_name(name).await?.is_some() {
            return Err(Error::already_exists("Extension by name already exists"));
        }
        let hidden: BTreeMap<String, String> = requires_prepare
            .map(|b| [(ext::DETAIL_REQUIRES_PREPARE.to_string(), b.to_string())].into())
            .unwrap_or_default();
        let new_extension = NewExtension {
            uuid: ids::new_uuid(),
            name: name.into(),
            description,
            ext_type: ext_type.into(),
            relative_path: relative,
            is_user_defined: true,
            state,
            path_ready: false,
        };
        let declared = self.secret_names_note(&details);
        let details = self.details_sealed(details)?;
        let e = self
            .store
            .extension_create(&new_extension, &details, &hidden, now_millis())
            .await?;
        drop(_guard);
        self.secret_names_refresh().await?;
        if declared {
            self.details_reseal().await?;
        }
        self.event(
            Some(caller),
            "EXTENSION.CREATE",
            &format!("Extension {name} created"),
            Some(("Extension", &e.uuid)),
        )
        .await;
        match (state, given_path) {
            (ExtensionState::Enabled, None) => self.extension_enable_path(&e).await?,
            // The user's own file: registered as given, ready once it is there.
            (ExtensionState::Enabled, Some(_)) if !self.readiness_check(&e).await? => {
                tracing::info!(extension = %e.name, path = %self.extension_path(&e).display(), "extension registered; its executable is not there yet (not ready)");
            }
            _ => {}
        }
        let e = self
            .store
            .extension_get(e.id)
            .await?
            .ok_or_else(|| Error::internal("extension vanished"))?;
        self.extension_view(&e, ExtensionViews::ALL).await
    }

    /// Build the API view of an extension.
    pub async fn extension_view(
        &self,
        e: &Extension,
        views: ExtensionViews,
    ) -> Result<ExtensionView> {
        let all = self.store.details_get(DetailOwner::Extension, e.id).await?;
        let requires_prepare = all
            .iter()
            .find(|d| d.name == ext::DETAIL_REQUIRES_PREPARE)
            .map(|d| d.value.eq_ignore_ascii_case("true"));
        let details = views.details.then(|| {
            secret_details::masked(
                all.iter()
                    .filter(|d| d.display)
                    .map(|d| (d.name.clone(), d.value.clone()))
                    .collect(),
            )
        });
        let resources = if views.resources {
            let mut out = Vec::new();
            for m in self.store.resource_map_list(e.id).await? {
                if let Some(c) = self.store.cluster_get(m.resource_id).await? {
                    let d = self
                        .store
                        .details_visible(DetailOwner::ResourceMap, m.id)
                        .await?;
                    out.push((c, m, secret_details::masked(d)));
                }
            }
            Some(out)
        } else {
            None
        };
        Ok(ExtensionView {
            path: self.extension_path(e).to_string_lossy().into_owned(),
            extension: e.clone(),
            requires_prepare,
            details,
            resources,
        })
    }

    pub async fn extension_list(
        &self,
        caller: &Caller,
        f: &ExtensionFilter,
        views: ExtensionViews,
        page: Page,
    ) -> Result<(Vec<ExtensionView>, i64)> {
        require_admin(caller)?;
        let (items, total) = self.store.extension_list(f, page).await?;
        let mut out = Vec::with_capacity(items.len());
        for e in &items {
            out.push(self.extension_view(e, views).await?);
        }
        Ok((out, total))
    }

    pub async fn extension_by_uuid(&self, uuid: &str) -> Result<Extension> {
        self.store
            .extension_by_uuid(uuid)
            .await?
            .ok_or_else(|| Error::not_found("Failed to find the extension"))
    }

    pub async fn extension_update(
        &self,
        caller: &Caller,
        params: ExtensionUpdateParams,
    ) -> Result<ExtensionView> {
        let ExtensionUpdateParams {
            uuid,
            description,
            requires_prepare,
            state,
            details,
            cleanup_details,
        } = params;
        require_admin(caller)?;
        let e = self.extension_by_uuid(&uuid).await?;
        let new_state = match state.as_deref() {
            None => None,
            Some(s) => Some(ExtensionState::parse(s).ok_or_else(|| {
                Error::invalid_param(format!(
                    "Invalid state specified - {s}; valid values are Enabled, Disabled"
                ))
            })?),
        };
        if let Some(d) = description.as_deref() {
            if e.description.as_deref() != Some(d) {
                self.store.extension_set_description(e.id, d).await?;
            }
        }
        if let Some(b) = requires_prepare {
            self.store
                .detail_upsert(
                    DetailOwner::Extension,
                    e.id,
                    ext::DETAIL_REQUIRES_PREPARE,
                    &b.to_string(),
                    false,
                )
                .await?;
        }
        if cleanup_details {
            self.details_replace(DetailOwner::Extension, e.id, "", &BTreeMap::new())
                .await?;
        } else if let Some(d) = details {
            // Names newly declared secret: values stored before are sealed once this is written.
            let declared = self.secret_names_note(&d);
            self.details_replace(DetailOwner::Extension, e.id, "", &d)
                .await?;
            if declared {
                self.details_reseal().await?;
            }
        }
        self.secret_names_refresh().await?;
        if let Some(s) = new_state {
            self.store.extension_set_state(e.id, s).await?;
        }
        self.event(
            Some(caller),
            "EXTENSION.UPDATE",
            &format!("Extension {} updated", e.name),
            Some(("Extension", &e.uuid)),
        )
        .await;
        if new_state == Some(ExtensionState::Enabled) {
            let fresh = self
                .store
                .extension_get(e.id)
                .await?
                .ok_or_else(|| Error::internal("extension vanished"))?;
            self.extension_enable_path(&fresh).await?;
        }
        let e = self
            .store
            .extension_get(e.id)
            .await?
            .ok_or_else(|| Error::internal("extension vanished"))?;
        self.extension_view(&e, ExtensionViews::ALL).await
    }

    pub async fn extension_delete(&self, caller: &Caller, uuid: &str, cleanup: bool) -> Result<()> {
        require_admin(caller)?;
        let e = self.store.extension_by_uuid(uuid).await?.ok_or_else(|| {
            Error::not_found("Unable to find the extension with the specified id")
        })?;
        if !e.is_user_defined {
            return Err(Error::invalid_param("System extension can not be deleted"));
        }
        if !self.store.resource_map_list(e.id).await?.is_empty() {
            return Err(Error::invalid_state(
                "Extension has associated resources, unregister them to delete the extension",
            ));
        }
        let n = self.store.custom_action_count(e.id).await?;
        if n > 0 {
            return Err(Error::invalid_state(format!(
                "Extension has {n} custom actions, delete them to delete the extension"
            )));
        }
        if self.template_count_for_extension(e.id).await? > 0 {
            return Err(Error::invalid_state("Orchestrator extension has associated templates, remove them to delete the extension"));
        }
        self.store
            .extension_delete(e.id, now_millis(), cleanup)
            .await?;
        self.event(
            Some(caller),
            "EXTENSION.DELETE",
            &format!("Extension {} deleted", e.name),
            Some(("Extension", &e.uuid)),
        )
        .await;
        if cleanup {
            // Here at once; every other server at its next heartbeat (or when it is back).
            self.extension_files_remove_here(&e).await?;
        }
        Ok(())
    }

    /// Number of live templates bound to an extension.
    pub async fn template_count_for_extension(&self, extension_id: i64) -> Result<i64> {
        Ok(self
            .store
            .template_count_for_extension(extension_id)
            .await?)
    }
}
