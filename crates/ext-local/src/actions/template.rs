//! `createtemplate`: the disk of a stopped VM, flattened onto its base image, becomes a new base
//! image in the first image directory. The reply's `details` (`image`, the new file's name)
//! become the new template's details, so instances deployed from it get overlays on the capture.

use super::Context;
use crate::error::ActionError;
use crate::image;
use crate::machine;
use crate::settings::is_plain_name;
use serde_json::{json, Value};
use std::path::Path;

/// The file name of the captured image of template `template_id`.
pub fn template_file_name(template_id: &str) -> String {
    format!("template-{template_id}.qcow2")
}

impl Context<'_> {
    /// A string parameter of the action, if given.
    fn text_parameter(&self, name: &str) -> Option<String> {
        self.payload
            .parameters
            .as_ref()
            .and_then(|parameters| parameters.get(name))
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|value| !value.is_empty())
            .map(str::to_string)
    }

    pub(super) fn create_template(&self) -> Result<Value, ActionError> {
        let template_id = self
            .text_parameter("templateid")
            .ok_or_else(|| ActionError::Usage("the templateid parameter is required".into()))?;
        if !is_plain_name(&template_id) {
            return Err(ActionError::Usage(format!(
                "invalid templateid '{template_id}': use letters, digits, '-', '_' and '.'"
            )));
        }
        let template_name = self
            .text_parameter("templatename")
            .unwrap_or_else(|| template_id.clone());
        let record = self.record()?;
        let qemu_img = self.settings.qemu_img()?;
        let directory = self
            .settings
            .image_dirs()
            .into_iter()
            .next()
            .ok_or_else(|| {
                ActionError::Config("the image_dirs detail names no directory".into())
            })?;
        let file_name = template_file_name(&template_id);
        let target = directory.join(&file_name);
        let _lock = self.lock()?;
        if self.running(&record) {
            return Err(ActionError::Running {
                name: self.name().into(),
            });
        }
        let disk = self.machine.path(machine::DISK_FILE);
        if !disk.is_file() {
            return Err(ActionError::Failed(format!(
                "the disk of vm {} is missing from {}",
                self.name(),
                self.machine.dir.display()
            )));
        }
        if target.exists() {
            return Err(ActionError::AlreadyExists { path: target });
        }
        std::fs::create_dir_all(&directory)
            .map_err(|source| ActionError::io(format!("create {}", directory.display()), source))?;
        let partial = directory.join(format!(".{file_name}.partial"));
        let _ = std::fs::remove_file(&partial);
        let captured = image::convert(&qemu_img, &disk, &partial, self.deadline)
            .and_then(|()| sync(&partial))
            .and_then(|()| image::info(&qemu_img, &partial, self.deadline))
            .and_then(|info| publish(&partial, &target).map(|()| info));
        let info = match captured {
            Ok(info) => info,
            Err(error) => {
                let _ = std::fs::remove_file(&partial);
                return Err(error.context(format!(
                    "cannot capture the disk of vm {} as template {template_name}",
                    self.name()
                )));
            }
        };
        let size = info
            .get("virtual-size")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        let physical_size = std::fs::metadata(&target).map(|m| m.len()).unwrap_or(0);
        Ok(json!({
            "status": "success",
            "message": format!(
                "the disk of vm {} was captured as template {template_name} in {}",
                self.name(),
                target.display()
            ),
            "details": {"image": file_name},
            "size": size,
            "physical_size": physical_size,
        }))
    }
}

/// Flushes a written file to disk.
fn sync(path: &Path) -> Result<(), ActionError> {
    std::fs::File::open(path)
        .and_then(|file| file.sync_all())
        .map_err(|source| ActionError::io(format!("flush {}", path.display()), source))
}

/// Gives `partial` its final name `target`, never replacing a file that appeared meanwhile (a
/// hard link fails when the name exists; file systems without hard links get a rename).
fn publish(partial: &Path, target: &Path) -> Result<(), ActionError> {
    match std::fs::hard_link(partial, target) {
        Ok(()) => {
            let _ = std::fs::remove_file(partial);
            Ok(())
        }
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
            Err(ActionError::AlreadyExists {
                path: target.to_path_buf(),
            })
        }
        Err(_) if !target.exists() => std::fs::rename(partial, target)
            .map_err(|source| ActionError::io(format!("write {}", target.display()), source)),
        Err(_) => Err(ActionError::AlreadyExists {
            path: target.to_path_buf(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publishing_never_replaces_an_image() {
        let dir = tempfile::tempdir().unwrap();
        let partial = dir.path().join(".t.partial");
        let target = dir.path().join("t.qcow2");
        std::fs::write(&partial, b"new").unwrap();
        publish(&partial, &target).unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"new");
        assert!(!partial.exists());
        std::fs::write(&partial, b"newer").unwrap();
        assert!(matches!(
            publish(&partial, &target),
            Err(ActionError::AlreadyExists { .. })
        ));
        assert_eq!(std::fs::read(&target).unwrap(), b"new");
    }

    #[test]
    fn file_names() {
        assert_eq!(
            template_file_name("1f6c7b2e-0a11"),
            "template-1f6c7b2e-0a11.qcow2"
        );
    }
}
