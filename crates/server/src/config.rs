//! Server configuration: a typed TOML file (unknown keys rejected) overridden by command-line
//! flags and `TRELLIS_*` environment variables (the CLI applies those).

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Everything `trellis serve` needs.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`; `None` means SQLite in the data directory.
    pub database_url: Option<String>,
    /// Where extension executables live; default `<data-dir>/extensions`.
    pub extensions_dir: Option<PathBuf>,
    /// Where the built-in extension binaries are found; default: next to the running executable.
    pub builtin_dir: Option<PathBuf>,
    /// Name shown for this server (default: host name).
    pub server_name: Option<String>,
    /// Initial admin password (else generated and printed once).
    pub admin_password: Option<String>,
    /// Log as JSON lines.
    pub json_logs: bool,
    /// The key job secrets are sealed with (64 hex characters). Default
    /// `<data-dir>/secret.key`, created on first start; several servers on one database must
    /// all point at the same key.
    pub secret_key_file: Option<PathBuf>,
    /// PEM certificate chain for HTTPS; with [`ServerConfig::tls_key`] the listener speaks
    /// HTTPS only (rustls), else plain HTTP.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1) of [`ServerConfig::tls_cert`].
    pub tls_key: Option<PathBuf>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: "127.0.0.1:8080".parse().expect("valid default address"),
            data_dir: PathBuf::from("./trellis-data"),
            database_url: None,
            extensions_dir: None,
            builtin_dir: None,
            server_name: None,
            admin_password: None,
            json_logs: false,
            secret_key_file: None,
            tls_cert: None,
            tls_key: None,
        }
    }
}

impl ServerConfig {
    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("trellis.db").display()))
    }
    /// The secret key file and whether it may be created when missing (only the default one).
    pub fn secret_key_file(&self) -> (PathBuf, bool) {
        match &self.secret_key_file {
            Some(p) => (p.clone(), false),
            None => (self.data_dir.join("secret.key"), true),
        }
    }
    pub fn extensions_dir(&self) -> PathBuf {
        self.extensions_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("extensions"))
    }
}

/// The `--config` file. Every key is optional; unknown keys are an error.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    pub listen: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    pub extensions_dir: Option<PathBuf>,
    pub builtin_dir: Option<PathBuf>,
    pub server_name: Option<String>,
    pub json_logs: Option<bool>,
    pub secret_key_file: Option<PathBuf>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
}

/// Why the config file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum LoadConfigError {
    #[error("cannot read config file {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid config file {path}")]
    Parse {
        path: PathBuf,
        #[source]
        source: toml::de::Error,
    },
    #[error("invalid listen address {value} in {path}")]
    Listen { path: PathBuf, value: String },
}

impl ConfigFile {
    pub fn load(path: &Path) -> Result<ConfigFile, LoadConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| LoadConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        toml::from_str(&text).map_err(|source| LoadConfigError::Parse {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Apply the file's values onto `cfg` (flags and env applied later win).
    pub fn apply(&self, path: &Path, cfg: &mut ServerConfig) -> Result<(), LoadConfigError> {
        if let Some(l) = &self.listen {
            cfg.listen = l.parse().map_err(|_| LoadConfigError::Listen {
                path: path.to_path_buf(),
                value: l.clone(),
            })?;
        }
        if let Some(v) = &self.data_dir {
            cfg.data_dir = v.clone();
        }
        if let Some(v) = &self.database_url {
            cfg.database_url = Some(v.clone());
        }
        if let Some(v) = &self.extensions_dir {
            cfg.extensions_dir = Some(v.clone());
        }
        if let Some(v) = &self.builtin_dir {
            cfg.builtin_dir = Some(v.clone());
        }
        if let Some(v) = &self.server_name {
            cfg.server_name = Some(v.clone());
        }
        if let Some(v) = &self.secret_key_file {
            cfg.secret_key_file = Some(v.clone());
        }
        if let Some(v) = &self.tls_cert {
            cfg.tls_cert = Some(v.clone());
        }
        if let Some(v) = &self.tls_key {
            cfg.tls_key = Some(v.clone());
        }
        if let Some(v) = self.json_logs {
            cfg.json_logs = v;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_config_parses() {
        let text = include_str!("../../../docs/trellis.example.toml");
        let f: ConfigFile = toml::from_str(text).expect("example config parses");
        let mut cfg = ServerConfig::default();
        f.apply(Path::new("example"), &mut cfg).unwrap();
        assert_eq!(cfg.listen.port(), 8080);
    }

    #[test]
    fn tls_keys_are_read() {
        let f: ConfigFile = toml::from_str(
            "tls_cert = \"/etc/trellis/cert.pem\"\ntls_key = \"/etc/trellis/key.pem\"",
        )
        .expect("tls keys parse");
        let mut cfg = ServerConfig::default();
        f.apply(Path::new("t"), &mut cfg).unwrap();
        assert_eq!(cfg.tls_cert, Some(PathBuf::from("/etc/trellis/cert.pem")));
        assert_eq!(cfg.tls_key, Some(PathBuf::from("/etc/trellis/key.pem")));
    }

    #[test]
    fn unknown_keys_are_rejected() {
        assert!(toml::from_str::<ConfigFile>("lisen = \"x\"").is_err());
    }
}
