//! `importExtension`: an extension described by a YAML manifest at an URL (upstream's format:
//! `metadata`, `source`, `spec` with the entry point, details and custom actions), its files from
//! the zip archive the manifest points to — checked against its SHA-256 before anything is
//! created (upstream never checks one) — and stored in the database, so every server writes
//! them. Everything is fetched and checked first; a failure after the extension was created
//! removes it again, so an import either happens whole or leaves nothing behind.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::io::Read as _;
use std::time::Duration;
use trellis_model::extension as ext;
use trellis_model::{Error, Result};
use trellis_store::NewExtensionFile;

use super::custom_action::CustomActionInput;
use super::extension_files::{check_limits, new_file, sha256_hex, MAX_FILES, MAX_TOTAL_BYTES};
use super::{require_admin, App, Caller, ExtensionCreateParams, ExtensionView, ExtensionViews};

/// Most bytes of a manifest.
const MAX_MANIFEST_BYTES: usize = 1 << 20;
const MANIFEST_TIMEOUT: Duration = Duration::from_secs(30);
const ARCHIVE_TIMEOUT: Duration = Duration::from_secs(300);

#[derive(Debug, Deserialize)]
struct Manifest {
    metadata: Metadata,
    #[serde(default)]
    source: Option<Source>,
    spec: Spec,
}

#[derive(Debug, Deserialize)]
struct Metadata {
    name: String,
    #[serde(default)]
    description: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Source {
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    refs: Option<String>,
    /// Trellis: the archive's SHA-256 (upstream readers ignore unknown keys).
    #[serde(default)]
    sha256: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Spec {
    #[serde(rename = "type")]
    ext_type: String,
    entrypoint: Entrypoint,
    #[serde(default)]
    orchestrator: Option<Orchestrator>,
    #[serde(default)]
    details: Option<BTreeMap<String, String>>,
    #[serde(default)]
    enabled: Option<bool>,
    #[serde(default)]
    custom_actions: Vec<ManifestAction>,
}

#[derive(Debug, Deserialize)]
struct Entrypoint {
    path: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Orchestrator {
    #[serde(default)]
    requires_prepare_vm: Option<bool>,
}

#[derive(Debug, Deserialize)]
struct ManifestAction {
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    resourcetype: Option<String>,
    #[serde(default)]
    enabled: Option<bool>,
    #[serde(default)]
    timeout: Option<i64>,
    #[serde(default)]
    allowedroletypes: Option<Vec<String>>,
    #[serde(default)]
    parameters: Vec<ManifestParam>,
}

#[derive(Debug, Deserialize)]
struct ManifestParam {
    name: String,
    #[serde(rename = "type")]
    ty: String,
    #[serde(default)]
    validationformat: Option<String>,
    #[serde(default)]
    required: Option<bool>,
}

/// A SHA-256 given as 64 hex digits, optionally prefixed `{SHA-256}` (CloudStack's checksum
/// notation); lowercase.
fn parse_sha256(raw: &str, what: &str) -> Result<String> {
    let hex = raw.trim();
    let hex = hex
        .strip_prefix("{SHA-256}")
        .or_else(|| hex.strip_prefix("{sha-256}"))
        .unwrap_or(hex);
    if hex.len() == 64 && hex.chars().all(|c| c.is_ascii_hexdigit()) {
        Ok(hex.to_ascii_lowercase())
    } else {
        Err(Error::invalid_param(format!(
            "Invalid SHA-256 in {what}: expected 64 hexadecimal digits"
        )))
    }
}

/// The archive URL upstream derives from `source`: `<url>/archive/refs/heads/<refs>.zip`.
fn archive_url(source: Option<&Source>) -> Result<String> {
    let (Some(url), Some(refs)) = (
        source
            .and_then(|s| s.url.as_deref())
            .filter(|u| !u.is_empty()),
        source
            .and_then(|s| s.refs.as_deref())
            .filter(|r| !r.is_empty()),
    ) else {
        return Err(Error::invalid_param(
            "Unable to retrieve archive URL for extension source during import: the manifest needs source.url and source.refs",
        ));
    };
    let sep = if url.ends_with('/') { "" } else { "/" };
    Ok(format!("{url}{sep}archive/refs/heads/{refs}.zip"))
}

/// An URL as texts and logs show it: without a password it may carry (`user:password@`).
fn shown(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("****"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}

/// GET `raw` (http or https) with a byte limit and a timeout; the refusal names `what`.
async fn download(raw: &str, limit: usize, timeout: Duration, what: &str) -> Result<Vec<u8>> {
    let url = shown(raw);
    let parsed = url::Url::parse(raw)
        .map_err(|e| Error::invalid_param(format!("Invalid {what} URL {url}: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(Error::invalid_param(format!(
            "Invalid {what} URL {url}: only http and https are fetched"
        )));
    }
    let failed = |e: &dyn std::fmt::Display| {
        Error::invalid_param(format!("Failed to download the {what} from {url}: {e}"))
    };
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .map_err(|e| Error::internal(e.to_string()))?;
    let mut response = client
        .get(parsed)
        .send()
        .await
        .map_err(|e| failed(&e.without_url()))?;
    if !response.status().is_success() {
        return Err(failed(&format!("HTTP {}", response.status())));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| failed(&e.without_url()))?
    {
        body.extend_from_slice(&chunk);
        if body.len() > limit {
            return Err(Error::invalid_param(format!(
                "The {what} at {url} is larger than {limit} bytes"
            )));
        }
    }
    Ok(body)
}

/// The files of a zip archive, the top-level folder of every entry dropped (GitHub's archives
/// put everything under `<repository>-<ref>/`; a file at the top stays as it is, as upstream),
/// placed under the extension's directory. Links,
/// unsafe paths and archives beyond the limits are refused.
fn unpack(archive: &[u8], dir: &str) -> Result<Vec<NewExtensionFile>> {
    let bad = |e: &dyn std::fmt::Display| {
        Error::invalid_param(format!("The extension archive cannot be read: {e}"))
    };
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(archive)).map_err(|e| bad(&e))?;
    if zip.len() > MAX_FILES * 2 {
        return Err(Error::invalid_param(format!(
            "The extension archive has {} entries; at most {MAX_FILES} files are taken",
            zip.len()
        )));
    }
    let mut files = Vec::new();
    let mut total = 0usize;
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).map_err(|e| bad(&e))?;
        let raw = entry.name().map_err(|e| bad(&e))?.to_string();
        if entry.is_dir() {
            continue;
        }
        if entry.is_symlink() {
            return Err(Error::invalid_param(format!(
                "The extension archive holds a symbolic link ({raw}); links are not imported"
            )));
        }
        let Some(safe) = entry.enclosed_name() else {
            return Err(Error::invalid_param(format!(
                "The extension archive holds an unsafe path: {raw}"
            )));
        };
        let safe = safe.to_string_lossy().replace('\\', "/");
        // As upstream: the first folder of a path is dropped; a file at the top stays as it is.
        let rest = match safe.split_once('/') {
            Some((_, rest)) if !rest.is_empty() => rest.to_string(),
            Some(_) => continue,
            None => safe.clone(),
        };
        let mode = entry.unix_mode().unwrap_or(0o644) & 0o777;
        let mut content = Vec::new();
        let budget = (MAX_TOTAL_BYTES - total) as u64 + 1;
        (&mut entry)
            .take(budget)
            .read_to_end(&mut content)
            .map_err(|e| bad(&e))?;
        total += content.len();
        if total > MAX_TOTAL_BYTES {
            return Err(Error::invalid_param(format!(
                "The extension archive unpacks to more than {} MiB",
                MAX_TOTAL_BYTES >> 20
            )));
        }
        files.push(new_file(format!("{dir}/{rest}"), mode, content)?);
    }
    check_limits(&files)?;
    Ok(files)
}

impl App {
    /// `importExtension`: fetch and check everything, then create the extension, store its
    /// files (every server writes them) and add its custom actions; undone whole on failure.
    pub async fn extension_import(
        &self,
        caller: &Caller,
        manifest_url: &str,
        checksum: Option<String>,
    ) -> Result<ExtensionView> {
        require_admin(caller)?;
        let text = download(
            manifest_url,
            MAX_MANIFEST_BYTES,
            MANIFEST_TIMEOUT,
            "extension manifest",
        )
        .await?;
        let text = String::from_utf8(text)
            .map_err(|_| Error::invalid_param("The extension manifest is not UTF-8 text"))?;
        let manifest: Manifest = serde_saphyr::from_str(&text).map_err(|e| {
            Error::invalid_param(format!("The extension manifest cannot be read: {e}"))
        })?;
        let name = manifest.metadata.name.trim().to_string();
        if name.is_empty() {
            return Err(Error::invalid_param(
                "The extension manifest has no metadata.name",
            ));
        }
        if self.store.extension_by_name(&name).await?.is_some() {
            return Err(Error::already_exists("Extension by name already exists"));
        }
        let from_api = checksum
            .as_deref()
            .map(|c| parse_sha256(c, "parameter checksum"))
            .transpose()?;
        let from_manifest = manifest
            .source
            .as_ref()
            .and_then(|s| s.sha256.as_deref())
            .map(|c| parse_sha256(c, "the manifest's source.sha256"))
            .transpose()?;
        let expected = match (from_api, from_manifest) {
            (Some(a), Some(m)) if a != m => {
                return Err(Error::invalid_param(format!(
                    "Parameter checksum ({a}) and the manifest's source.sha256 ({m}) differ"
                )))
            }
            (Some(a), _) => a,
            (None, Some(m)) => m,
            (None, None) => {
                return Err(Error::invalid_param(
                    "importExtension needs the SHA-256 of the extension archive: give parameter checksum or source.sha256 in the manifest",
                ))
            }
        };
        let url = archive_url(manifest.source.as_ref())?;
        let archive = download(&url, MAX_TOTAL_BYTES, ARCHIVE_TIMEOUT, "extension archive").await?;
        let actual = sha256_hex(&archive);
        if actual != expected {
            return Err(Error::invalid_param(format!(
                "The SHA-256 of the extension archive at {} is {actual}, not the expected {expected}; nothing was imported",
                shown(&url)
            )));
        }
        let dir = ext::directory_name(&name);
        let mut files = unpack(&archive, &dir)?;
        let entry = format!(
            "{dir}/{}",
            manifest.spec.entrypoint.path.trim_start_matches("./")
        );
        let Some(exe) = files.iter_mut().find(|f| f.path == entry) else {
            return Err(Error::invalid_param(format!(
                "The entry point {} of the manifest is not in the extension archive",
                manifest.spec.entrypoint.path
            )));
        };
        exe.mode |= 0o755;
        let params = ExtensionCreateParams {
            name: name.clone(),
            description: manifest.metadata.description.clone(),
            ext_type: manifest.spec.ext_type.clone(),
            path: Some(entry),
            requires_prepare: manifest
                .spec
                .orchestrator
                .as_ref()
                .and_then(|o| o.requires_prepare_vm),
            state: manifest
                .spec
                .enabled
                .map(|on| if on { "Enabled" } else { "Disabled" }.to_string()),
            details: manifest.spec.details.clone().unwrap_or_default(),
        };
        let view = self.extension_create(caller, params).await?;
        let uuid = view.extension.uuid.clone();
        if let Err(err) = self.import_rest(caller, &uuid, files, &manifest).await {
            self.import_undo(&uuid).await;
            return Err(err);
        }
        tracing::info!(extension = %name, manifest = %shown(manifest_url), archive = %shown(&url), sha256 = %actual, "extension imported");
        let e = self.extension_by_uuid(&uuid).await?;
        self.extension_view(&e, ExtensionViews::ALL).await
    }

    /// The files and custom actions of an import whose extension exists.
    async fn import_rest(
        &self,
        caller: &Caller,
        uuid: &str,
        files: Vec<NewExtensionFile>,
        manifest: &Manifest,
    ) -> Result<()> {
        let e = self.extension_by_uuid(uuid).await?;
        self.extension_files_put(&e, files).await?;
        self.readiness_check(&e).await?;
        for a in &manifest.spec.custom_actions {
            let parameters = a
                .parameters
                .iter()
                .map(|p| {
                    let mut m = BTreeMap::from([
                        ("name".to_string(), p.name.clone()),
                        ("type".to_string(), p.ty.clone()),
                        (
                            "required".to_string(),
                            p.required.unwrap_or(false).to_string(),
                        ),
                    ]);
                    if let Some(f) = &p.validationformat {
                        m.insert("validationformat".to_string(), f.clone());
                    }
                    m
                })
                .collect();
            let input = CustomActionInput {
                description: a.description.clone(),
                resource_type: a.resourcetype.clone(),
                allowed_role_types: a.allowedroletypes.clone(),
                parameters: Some(parameters),
                success_message: None,
                error_message: None,
                timeout: a.timeout.filter(|t| *t > 0),
                enabled: Some(a.enabled.unwrap_or(true)),
                details: None,
            };
            self.custom_action_add(caller, uuid, &a.name, input)
                .await
                .map_err(|err| {
                    Error::invalid_param(format!(
                        "Custom action {} of the manifest: {}",
                        a.name,
                        err.external_message()
                    ))
                })?;
        }
        Ok(())
    }

    /// Remove a half-imported extension: its custom actions, its row and its files everywhere.
    async fn import_undo(&self, uuid: &str) {
        let Ok(Some(e)) = self.store.extension_by_uuid(uuid).await else {
            return;
        };
        let undo = async {
            let filter = trellis_store::CustomActionFilter {
                extension_id: Some(e.id),
                ..Default::default()
            };
            let now = trellis_model::time::now_millis();
            for a in self
                .store
                .custom_action_list(&filter, trellis_store::Page::all())
                .await?
                .0
            {
                self.store.custom_action_delete(a.id, now).await?;
            }
            self.store.extension_delete(e.id, now, true).await?;
            self.extension_files_remove_here(&e).await
        };
        if let Err(err) = undo.await {
            tracing::error!(extension = %e.name, error = %err.internal_message(), "could not undo a failed import; delete the extension by hand");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_shown_without_their_password() {
        assert_eq!(
            shown("https://bot:s3cret@git.example/x/m.yaml"),
            "https://bot:****@git.example/x/m.yaml"
        );
        assert_eq!(
            shown("http://h/m.yaml?ref=main"),
            "http://h/m.yaml?ref=main"
        );
        assert_eq!(shown("not a url"), "not a url");
    }
}
