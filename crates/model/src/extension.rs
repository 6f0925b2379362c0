//! Extensions: states, types, path normalisation and the directory naming rule.

use crate::{Error, Result};

/// Lifecycle state of an extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExtensionState {
    Enabled,
    Disabled,
}

impl ExtensionState {
    pub fn as_str(self) -> &'static str {
        match self {
            ExtensionState::Enabled => "Enabled",
            ExtensionState::Disabled => "Disabled",
        }
    }
    /// Exact enum-name parse (CloudStack is case-sensitive here).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "Enabled" => Some(ExtensionState::Enabled),
            "Disabled" => Some(ExtensionState::Disabled),
            _ => None,
        }
    }
}

/// The only extension type.
pub const TYPE_ORCHESTRATOR: &str = "Orchestrator";

/// The only resource type an extension can be registered with.
pub const RESOURCE_TYPE_CLUSTER: &str = "Cluster";

/// The only custom-action resource type.
pub const RESOURCE_TYPE_VM: &str = "VirtualMachine";

/// The hidden detail that asks for a `prepare` call before the first start.
pub const DETAIL_REQUIRES_PREPARE: &str = "orchestratorrequirespreparevm";

/// The directory name of an extension: every character outside `[A-Za-z0-9._-]` replaced by
/// `_`, lowercased.
pub fn directory_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect::<String>()
        .to_lowercase()
}

/// Normalise the `path` given to `createExtension` into a path relative to the extensions root.
///
/// Follows CloudStack's rule (default `<dir>/<dir>.sh`, prefix `<dir>/`, at most two directory
/// levels) and, unlike upstream, rejects `..`/`.` components and absolute paths that are not
/// inside `extensions_root`.
pub fn normalize_relative_path(
    name: &str,
    path: Option<&str>,
    extensions_root: &str,
) -> Result<String> {
    let safe = directory_name(name);
    if safe.is_empty() || safe == "." || safe == ".." {
        return Err(Error::invalid_param(format!(
            "invalid extension name: {name}"
        )));
    }
    let Some(raw) = path.map(str::trim).filter(|p| !p.is_empty()) else {
        return Ok(format!("{safe}/{safe}.sh"));
    };
    let mut p = raw.replace('\\', "/");
    if p.starts_with('/') {
        let root = extensions_root.trim_end_matches('/');
        if !root.is_empty() && p.starts_with(&format!("{root}/")) {
            p = p[root.len() + 1..].to_string();
        } else {
            let stripped = p.trim_start_matches('/');
            let first = stripped.split('/').next().unwrap_or("");
            if first != safe {
                return Err(Error::invalid_param(format!(
                    "path {raw} is outside the extensions directory; give a path relative to it"
                )));
            }
            p = stripped.to_string();
        }
    }
    let parts: Vec<&str> = p.split('/').filter(|c| !c.is_empty()).collect();
    if parts.iter().any(|c| *c == ".." || *c == ".") {
        return Err(Error::invalid_param(format!(
            "path {raw} must not contain '.' or '..' components"
        )));
    }
    if parts.is_empty() {
        return Ok(format!("{safe}/{safe}.sh"));
    }
    let joined = parts.join("/");
    let rel = if joined == safe {
        format!("{safe}/{safe}")
    } else if parts[0] == safe {
        joined
    } else {
        format!("{safe}/{joined}")
    };
    if rel.split('/').count() > 3 {
        return Err(Error::invalid_param(
            "Path cannot be nested more than two sub-directories deep",
        ));
    }
    Ok(rel)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOT: &str = "/srv/trellis/extensions";

    #[test]
    fn directory_names() {
        assert_eq!(directory_name("My Ext!"), "my_ext_");
        assert_eq!(directory_name("Proxmox"), "proxmox");
        assert_eq!(directory_name("a.b-c_d"), "a.b-c_d");
    }

    #[test]
    fn default_and_prefixed_paths() {
        let n = |p: Option<&str>| normalize_relative_path("MyExt", p, ROOT);
        assert_eq!(n(None).unwrap(), "myext/myext.sh");
        assert_eq!(n(Some("")).unwrap(), "myext/myext.sh");
        assert_eq!(n(Some("run.sh")).unwrap(), "myext/run.sh");
        assert_eq!(n(Some("myext")).unwrap(), "myext/myext");
        assert_eq!(n(Some("myext/bin/run")).unwrap(), "myext/bin/run");
        assert_eq!(n(Some("bin/run")).unwrap(), "myext/bin/run");
        assert_eq!(n(Some("bin\\run.py")).unwrap(), "myext/bin/run.py");
        assert_eq!(n(Some("/myext/run.sh")).unwrap(), "myext/run.sh");
        assert_eq!(
            n(Some("/srv/trellis/extensions/myext/run.sh")).unwrap(),
            "myext/run.sh"
        );
    }

    #[test]
    fn rejects_escapes_and_deep_nesting() {
        let n = |p: &str| normalize_relative_path("MyExt", Some(p), ROOT);
        assert!(n("../x").is_err());
        assert!(n("myext/../../etc/passwd").is_err());
        assert!(n("./run.sh").is_err());
        assert!(n("/usr/bin/run.sh").is_err());
        assert!(n("a/b/run.sh").is_err());
        assert!(n("myext/a/b/run.sh").is_err());
        assert!(n("a/run.sh").is_ok());
    }
}
