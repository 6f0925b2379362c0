//! Keeping the secret values of a payload out of what users see.
//!
//! An extension may echo its payload (or part of it) on stdout or stderr, and that output ends
//! up in job results and custom-action results that tenants read. Before any such text is kept,
//! every secret value the payload carried — details whose names look secret at any level, the
//! VNC password, secret-looking or `PASSWORD`-typed action parameters — is replaced by
//! [`MASK`].

use serde_json::Value;
use std::collections::BTreeSet;
use trellis_ext_protocol::Payload;

/// What a secret value is replaced with.
pub use trellis_ext_runner::MASK;

/// Values shorter than this are not masked: replacing every `1` or `on` in a text would hide
/// more than it protects.
const MIN_SECRET_LEN: usize = 4;

/// Details that look like keys but are public: the SSH public keys (and key pair names) an
/// instance was deployed with. Extensions need them as they are.
const PUBLIC_DETAILS: &[&str] = &[
    super::ssh_keys::DETAIL_SSH_PUBLIC_KEY,
    super::ssh_keys::DETAIL_SSH_KEYPAIR_NAMES,
];

/// What a secret name contains (ASCII case-insensitively); see [`is_secret_key`].
pub const SECRET_NAME_FRAGMENTS: &[&str] = &[
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "credential",
    "private",
    "apikey",
    "api_key",
    "api-key",
    "access_key",
    "accesskey",
    "authorization",
    "cookie",
];

/// The extension detail in which an extension declares more secret detail names, comma
/// separated (`sensitive.details=region_pass,ipmi_pw`): details of those names are secret
/// wherever they appear, as the names [`SECRET_NAME_FRAGMENTS`] match are.
pub const DECLARED_SECRETS_DETAIL: &str = "sensitive.details";

/// Names declared secret by the extensions (lower case). One set for the process: a name one
/// extension declares secret is treated as secret everywhere — more masking, never less.
static DECLARED: std::sync::RwLock<BTreeSet<String>> = std::sync::RwLock::new(BTreeSet::new());

/// The names a `sensitive.details` value declares.
pub fn declared_in(value: &str) -> BTreeSet<String> {
    value
        .split(',')
        .map(|n| n.trim().to_ascii_lowercase())
        .filter(|n| !n.is_empty())
        .collect()
}

/// Add names to the declared set; true when one was new.
pub fn declare_secret_names(names: &BTreeSet<String>) -> bool {
    let Ok(mut set) = DECLARED.write() else {
        return false;
    };
    let before = set.len();
    set.extend(names.iter().cloned());
    set.len() != before
}

/// Replace the declared set (a refresh from every extension); true when a name was added.
pub fn set_declared_secret_names(names: BTreeSet<String>) -> bool {
    let Ok(mut set) = DECLARED.write() else {
        return false;
    };
    let added = names.iter().any(|n| !set.contains(n));
    *set = names;
    added
}

/// The declared names, for the start-up sealing of values stored before a declaration.
pub fn declared_secret_names() -> Vec<String> {
    DECLARED
        .read()
        .map(|s| s.iter().cloned().collect())
        .unwrap_or_default()
}

/// Does a detail or parameter of this name hold a secret? The one rule: payload masking, details
/// sealed at rest and masked in views (`secret_details`) all ask it. Names that look secret, and
/// names an extension declared secret.
pub fn is_secret_key(key: &str) -> bool {
    if PUBLIC_DETAILS.iter().any(|p| p.eq_ignore_ascii_case(key)) {
        return false;
    }
    let k = key.to_ascii_lowercase();
    SECRET_NAME_FRAGMENTS.iter().any(|s| k.contains(s))
        || DECLARED.read().is_ok_and(|d| d.contains(&k))
}

/// The secret values of one payload, ready to mask text with.
#[derive(Debug, Default, Clone)]
pub struct Redactor {
    secrets: trellis_ext_runner::Secrets,
}

impl Redactor {
    /// Every secret value `payload` carries.
    pub fn for_payload(payload: &Payload) -> Redactor {
        let mut r = Redactor::default();
        if let Some(d) = &payload.externaldetails {
            for map in [
                &d.extension,
                &d.resourcemap,
                &d.host,
                &d.virtualmachine,
                &d.action,
            ]
            .into_iter()
            .flatten()
            {
                for (k, v) in map {
                    if is_secret_key(k) {
                        r.add(v);
                    }
                }
            }
        }
        if let Some(vm) = &payload.vm {
            if let Some(v) = &vm.vnc_password {
                r.add(v);
            }
            for (k, v) in &vm.details {
                if is_secret_key(k) {
                    r.add(v);
                }
            }
        }
        if let Some(params) = &payload.parameters {
            for (k, v) in params {
                if is_secret_key(k) {
                    r.add_value(v);
                }
            }
        }
        r
    }

    /// Also mask the values of these parameters (e.g. the `PASSWORD`-typed ones).
    pub fn with_parameters<'a>(
        mut self,
        payload: &Payload,
        names: impl IntoIterator<Item = &'a str>,
    ) -> Redactor {
        if let Some(params) = &payload.parameters {
            for name in names {
                if let Some(v) = params.get(name) {
                    self.add_value(v);
                }
            }
        }
        self
    }

    /// The values, for the runner to mask in the run's log lines.
    pub fn runner_secrets(&self) -> trellis_ext_runner::Secrets {
        self.secrets.clone()
    }

    fn add_value(&mut self, v: &Value) {
        match v {
            Value::String(s) => self.add(s),
            Value::Null | Value::Bool(_) => {}
            other => self.add(&other.to_string()),
        }
    }

    fn add(&mut self, value: &str) {
        if value.chars().count() < MIN_SECRET_LEN {
            return;
        }
        // The value as it appears in JSON output too (quotes, backslashes, control characters
        // escaped), since extensions often print their payload as JSON.
        let json = serde_json::to_string(value).unwrap_or_default();
        let json = json.trim_matches('"').to_string();
        self.secrets.add(value.to_string());
        self.secrets.add(json);
    }

    /// `text` with every secret value of the payload replaced by [`MASK`].
    pub fn redact(&self, text: &str) -> String {
        self.secrets.mask(text).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use trellis_ext_protocol::ExternalDetails;

    fn payload() -> Payload {
        let mut extension = BTreeMap::new();
        extension.insert("password".to_string(), "Adm1n-Secret\"x".to_string());
        extension.insert("url".to_string(), "https://pve.example:8006".to_string());
        let mut host = BTreeMap::new();
        host.insert("token".to_string(), "tok-0123456789".to_string());
        host.insert("api_token_secret".to_string(), "abc".to_string());
        Payload {
            externaldetails: Some(ExternalDetails {
                extension: Some(extension),
                host: Some(host),
                ..ExternalDetails::default()
            }),
            parameters: Some(
                serde_json::json!({"newpw": "Param-Pass-1", "note": "hello world", "db_password": 12345})
                    .as_object()
                    .cloned()
                    .unwrap(),
            ),
            ..Payload::default()
        }
    }

    #[test]
    fn secrets_of_every_level_are_masked_and_nothing_else() {
        let p = payload();
        let r = Redactor::for_payload(&p).with_parameters(&p, ["newpw"]);
        let echoed = serde_json::to_string(&p).unwrap();
        let out = r.redact(&echoed);
        for secret in ["Adm1n-Secret", "tok-0123456789", "Param-Pass-1", "12345"] {
            assert!(!out.contains(secret), "{secret} leaked in {out}");
        }
        assert!(out.contains(MASK));
        // Not secret by name, or too short to mask.
        assert!(out.contains("https://pve.example:8006"));
        assert!(out.contains("hello world"));
        assert!(out.contains("\"abc\""));
    }

    #[test]
    fn secret_names() {
        for k in [
            "password",
            "API_KEY",
            "token_secret",
            "winrm_passwd",
            "ca_private_key",
        ] {
            assert!(is_secret_key(k), "{k}");
        }
        for k in [
            "url",
            "username",
            "node",
            "template_id",
            "vhd_path",
            "SSH.PublicKey",
            "SSH.KeyPairNames",
        ] {
            assert!(!is_secret_key(k), "{k}");
        }
    }
}
