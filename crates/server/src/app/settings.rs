//! Global settings: defaults, a cache refreshed from the database, typed getters and updates.

use trellis_model::entity::Configuration;
use trellis_model::{Error, Result};

use super::{App, Caller};

/// A setting's definition.
pub struct SettingDef {
    pub name: &'static str,
    pub default: &'static str,
    pub category: &'static str,
    pub description: &'static str,
    pub dynamic: bool,
    /// Kind used to validate updates.
    pub kind: Kind,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Integer { min: i64, max: i64 },
    Boolean,
    Text,
    OneOf(&'static [&'static str]),
}

/// Names of the settings Trellis reads.
pub mod setting {
    pub const DEFAULT_PAGE_SIZE: &str = "default.page.size";
    pub const PATH_CHECK_INTERVAL: &str = "extension.path.state.check.interval";
    pub const SESSION_CHECK_LOCATIONS: &str = "api.sessionkey.check.locations";
    pub const SESSION_TIMEOUT: &str = "session.timeout";
    pub const ENFORCE_POST: &str = "enforce.post.requests.and.timestamps";
    pub const CUSTOM_ACTION_TIMEOUT: &str = "extension.custom.action.default.timeout";
    pub const PAYLOAD_RETAIN: &str = "extension.payload.retain";
    pub const PAYLOAD_RETENTION_HOURS: &str = "extension.payload.retention.hours";
    pub const POWER_SYNC_INTERVAL: &str = "extension.power.sync.interval";
    pub const WAIT: &str = "wait";
    pub const HYPERVISOR_LIST: &str = "hypervisor.list";
    pub const SECURE_COOKIE: &str = "enable.secure.session.cookie";
    pub const SIGNATURE_LENIENT_TILDE: &str = "api.signature.lenient.tilde";
    pub const ALLOW_PUBLIC_USER_TEMPLATES: &str = "allow.public.user.templates";
    pub const USER_TEMPLATE_EXTENSION: &str = "allow.user.template.extension";
    pub const USER_VIEW_DESTROYED_VM: &str = "allow.user.view.destroyed.vm";
    pub const USER_EXPUNGE_RECOVER_VM: &str = "allow.user.expunge.recover.vm";
    pub const EXPUNGE_INTERVAL: &str = "expunge.interval";
    pub const EXPUNGE_DELAY: &str = "expunge.delay";
    pub const USERDATA_MAX_LENGTH: &str = "vm.userdata.max.length";
    pub const LOGIN_ATTEMPTS: &str = "incorrect.login.attempts.allowed";
}

pub static SETTINGS: &[SettingDef] = &[
    SettingDef { name: setting::DEFAULT_PAGE_SIZE, default: "500", category: "Advanced", description: "Default page size for API list* commands", dynamic: true, kind: Kind::Integer { min: 1, max: 100_000 } },
    SettingDef { name: setting::PATH_CHECK_INTERVAL, default: "60", category: "Advanced", description: "Interval (in seconds) between checks that every extension's executable is present and identical on all management servers (upstream defaults to 300; Trellis checks every 60 so a changed or missing executable is noticed sooner)", dynamic: true, kind: Kind::Integer { min: 1, max: 86_400 } },
    SettingDef { name: setting::SESSION_CHECK_LOCATIONS, default: "CookieAndParameter", category: "Advanced", description: "Where the session key must be presented: CookieAndParameter, CookieOrParameter or ParameterOnly", dynamic: true, kind: Kind::OneOf(&["CookieAndParameter", "CookieOrParameter", "ParameterOnly"]) },
    SettingDef { name: setting::SESSION_TIMEOUT, default: "1800", category: "Advanced", description: "Idle time (in seconds) after which a login session expires", dynamic: true, kind: Kind::Integer { min: 60, max: 2_592_000 } },
    SettingDef { name: setting::ENFORCE_POST, default: "false", category: "Advanced", description: "Require signature version 3 with expires for API-key requests", dynamic: true, kind: Kind::Boolean },
    SettingDef { name: setting::CUSTOM_ACTION_TIMEOUT, default: "3", category: "Advanced", description: "Timeout (in seconds) of custom actions created without an explicit timeout", dynamic: true, kind: Kind::Integer { min: 1, max: 86_400 } },
    SettingDef { name: setting::PAYLOAD_RETAIN, default: "false", category: "Advanced", description: "Keep extension payload files after each action, for debugging: they hold secrets, stay 0600 in the private payload directory, each run logs where its file is, and they are removed after extension.payload.retention.hours", dynamic: true, kind: Kind::Boolean },
    SettingDef { name: setting::PAYLOAD_RETENTION_HOURS, default: "24", category: "Advanced", description: "Age (in hours) after which retained payload files are removed", dynamic: true, kind: Kind::Integer { min: 1, max: 8760 } },
    SettingDef { name: setting::POWER_SYNC_INTERVAL, default: "60", category: "Advanced", description: "Interval (in seconds) between power-state sweeps of instances on External hosts", dynamic: true, kind: Kind::Integer { min: 1, max: 86_400 } },
    SettingDef { name: setting::WAIT, default: "1800", category: "Advanced", description: "Time (in seconds) to wait for an extension lifecycle action before it is killed", dynamic: true, kind: Kind::Integer { min: 1, max: 86_400 } },
    SettingDef { name: setting::HYPERVISOR_LIST, default: "External", category: "Hidden", description: "The list of hypervisors this deployment manages", dynamic: true, kind: Kind::Text },
    SettingDef { name: setting::SECURE_COOKIE, default: "false", category: "Advanced", description: "Mark session cookies Secure (serve behind TLS)", dynamic: true, kind: Kind::Boolean },
    SettingDef { name: setting::ALLOW_PUBLIC_USER_TEMPLATES, default: "false", category: "Advanced", description: "Let non-administrators register public templates (visible to every account)", dynamic: true, kind: Kind::Boolean },
    SettingDef { name: setting::USER_TEMPLATE_EXTENSION, default: "false", category: "Advanced", description: "Let non-administrators bind the templates they register to an extension (their external details are still limited to the keys the extension declares user-settable)", dynamic: true, kind: Kind::Boolean },
    SettingDef { name: setting::USER_VIEW_DESTROYED_VM, default: "false", category: "Advanced", description: "Let non-administrators see their Destroyed instances in listVirtualMachines", dynamic: true, kind: Kind::Boolean },
    SettingDef { name: setting::USER_EXPUNGE_RECOVER_VM, default: "false", category: "Advanced", description: "Let non-administrators expunge (destroyVirtualMachine expunge=true, expungeVirtualMachine) and recover their instances", dynamic: true, kind: Kind::Boolean },
    SettingDef { name: setting::EXPUNGE_INTERVAL, default: "86400", category: "Advanced", description: "Interval (in seconds) between rounds of the expunge reaper, which expunges Destroyed instances older than expunge.delay", dynamic: true, kind: Kind::Integer { min: 1, max: 31_536_000 } },
    SettingDef { name: setting::EXPUNGE_DELAY, default: "86400", category: "Advanced", description: "Time (in seconds) a Destroyed instance is kept before the expunge reaper expunges it (0: at the next round)", dynamic: true, kind: Kind::Integer { min: 0, max: 31_536_000 } },
    SettingDef { name: setting::USERDATA_MAX_LENGTH, default: "32768", category: "Advanced", description: "Maximum length (in characters, base64) of the user data of an instance; requests are further limited to 4096 characters by GET and 1048576 by POST", dynamic: true, kind: Kind::Integer { min: 1, max: 1_048_576 } },
    SettingDef { name: setting::LOGIN_ATTEMPTS, default: "5", category: "Authentication", description: "Wrong passwords in a row after which a user is locked (an administrator unlocks it with enableUser); 0 never locks", dynamic: true, kind: Kind::Integer { min: 0, max: 1_000_000 } },
    SettingDef { name: "max.account.user.vms", default: "20", category: "Limits", description: "The maximum number of instances an account can have when no limit was set for it with updateResourceLimit; -1 is unlimited", dynamic: true, kind: Kind::Integer { min: -1, max: i64::MAX } },
    SettingDef { name: "max.account.public.ips", default: "20", category: "Limits", description: "The maximum number of public IP addresses an account can have when no limit was set for it with updateResourceLimit; -1 is unlimited", dynamic: true, kind: Kind::Integer { min: -1, max: i64::MAX } },
    SettingDef { name: "max.account.volumes", default: "20", category: "Limits", description: "The maximum number of volumes an account can have when no limit was set for it with updateResourceLimit; -1 is unlimited", dynamic: true, kind: Kind::Integer { min: -1, max: i64::MAX } },
    SettingDef { name: "max.account.templates", default: "20", category: "Limits", description: "The maximum number of templates an account can have when no limit was set for it with updateResourceLimit; -1 is unlimited", dynamic: true, kind: Kind::Integer { min: -1, max: i64::MAX } },
    SettingDef { name: "max.account.projects", default: "10", category: "Limits", description: "The maximum number of projects an account can have when no limit was set for it with updateResourceLimit; -1 is unlimited", dynamic: true, kind: Kind::Integer { min: -1, max: i64::MAX } },
    SettingDef { name: "max.account.networks", default: "20", category: "Limits", description: "The maximum number of networks an account can have when no limit was set for it with updateResourceLimit; -1 is unlimited", dynamic: true, kind: Kind::Integer { min: -1, max: i64::MAX } },
    SettingDef { name: "max.account.cpus", default: "40", category: "Limits", description: "The maximum number of CPU cores an account can have when no limit was set for it with updateResourceLimit; -1 is unlimited", dynamic: true, kind: Kind::Integer { min: -1, max: i64::MAX } },
    SettingDef { name: "max.account.memory", default: "40960", category: "Limits", description: "The maximum memory (MiB) an account can have when no limit was set for it with updateResourceLimit; -1 is unlimited", dynamic: true, kind: Kind::Integer { min: -1, max: i64::MAX } },
    SettingDef { name: "max.domain.user.vms", default: "40", category: "Limits", description: "The maximum number of instances a domain (its whole subtree) can have when no limit was set for it with updateResourceLimit; -1 is unlimited", dynamic: true, kind: Kind::Integer { min: -1, max: i64::MAX } },
    SettingDef { name: "max.domain.public.ips", default: "40", category: "Limits", description: "The maximum number of public IP addresses a domain (its whole subtree) can have when no limit was set for it with updateResourceLimit; -1 is unlimited", dynamic: true, kind: Kind::Integer { min: -1, max: i64::MAX } },
    SettingDef { name: "max.domain.volumes", default: "40", category: "Limits", description: "The maximum number of volumes a domain (its whole subtree) can have when no limit was set for it with updateResourceLimit; -1 is unlimited", dynamic: true, kind: Kind::Integer { min: -1, max: i64::MAX } },
    SettingDef { name: "max.domain.templates", default: "40", category: "Limits", description: "The maximum number of templates a domain (its whole subtree) can have when no limit was set for it with updateResourceLimit; -1 is unlimited", dynamic: true, kind: Kind::Integer { min: -1, max: i64::MAX } },
    SettingDef { name: "max.domain.projects", default: "50", category: "Limits", description: "The maximum number of projects a domain (its whole subtree) can have when no limit was set for it with updateResourceLimit; -1 is unlimited", dynamic: true, kind: Kind::Integer { min: -1, max: i64::MAX } },
    SettingDef { name: "max.domain.networks", default: "40", category: "Limits", description: "The maximum number of networks a domain (its whole subtree) can have when no limit was set for it with updateResourceLimit; -1 is unlimited", dynamic: true, kind: Kind::Integer { min: -1, max: i64::MAX } },
    SettingDef { name: "max.domain.cpus", default: "80", category: "Limits", description: "The maximum number of CPU cores a domain (its whole subtree) can have when no limit was set for it with updateResourceLimit; -1 is unlimited", dynamic: true, kind: Kind::Integer { min: -1, max: i64::MAX } },
    SettingDef { name: "max.domain.memory", default: "81920", category: "Limits", description: "The maximum memory (MiB) a domain (its whole subtree) can have when no limit was set for it with updateResourceLimit; -1 is unlimited", dynamic: true, kind: Kind::Integer { min: -1, max: i64::MAX } },
    SettingDef { name: "max.project.user.vms", default: "20", category: "Limits", description: "The maximum number of instances a project can have when no limit was set for it with updateResourceLimit; -1 is unlimited", dynamic: true, kind: Kind::Integer { min: -1, max: i64::MAX } },
    SettingDef { name: "max.project.public.ips", default: "20", category: "Limits", description: "The maximum number of public IP addresses a project can have when no limit was set for it with updateResourceLimit; -1 is unlimited", dynamic: true, kind: Kind::Integer { min: -1, max: i64::MAX } },
    SettingDef { name: "max.project.volumes", default: "20", category: "Limits", description: "The maximum number of volumes a project can have when no limit was set for it with updateResourceLimit; -1 is unlimited", dynamic: true, kind: Kind::Integer { min: -1, max: i64::MAX } },
    SettingDef { name: "max.project.templates", default: "20", category: "Limits", description: "The maximum number of templates a project can have when no limit was set for it with updateResourceLimit; -1 is unlimited", dynamic: true, kind: Kind::Integer { min: -1, max: i64::MAX } },
    SettingDef { name: "max.project.networks", default: "20", category: "Limits", description: "The maximum number of networks a project can have when no limit was set for it with updateResourceLimit; -1 is unlimited", dynamic: true, kind: Kind::Integer { min: -1, max: i64::MAX } },
    SettingDef { name: "max.project.cpus", default: "40", category: "Limits", description: "The maximum number of CPU cores a project can have when no limit was set for it with updateResourceLimit; -1 is unlimited", dynamic: true, kind: Kind::Integer { min: -1, max: i64::MAX } },
    SettingDef { name: "max.project.memory", default: "40960", category: "Limits", description: "The maximum memory (MiB) a project can have when no limit was set for it with updateResourceLimit; -1 is unlimited", dynamic: true, kind: Kind::Integer { min: -1, max: i64::MAX } },
    SettingDef { name: setting::SIGNATURE_LENIENT_TILDE, default: "true", category: "Advanced", description: "Also accept signatures computed with '~' left unescaped, as Python's and Go's URL encoders produce (CloudStack's Java canonical form escapes it)", dynamic: true, kind: Kind::Boolean },
];

/// Settings whose default changed, with the old default: `extension.custom.action.default.timeout`
/// went from 5 to upstream's 3 s.
const CHANGED_DEFAULTS: &[(&str, &str)] = &[(setting::CUSTOM_ACTION_TIMEOUT, "5")];

impl App {
    pub(super) async fn settings_seed(&self) -> Result<()> {
        // Defaults that changed: a value still at the old default follows the new one.
        for (name, old_default) in CHANGED_DEFAULTS {
            if let Some(c) = self.store.config_get(name).await? {
                let untouched = c.value.as_deref() == Some(old_default)
                    && c.default_value.as_deref() == Some(old_default);
                let new_default = SETTINGS.iter().find(|d| d.name == *name).map(|d| d.default);
                if let (true, Some(new_default)) = (untouched, new_default) {
                    self.store.config_set(name, Some(new_default)).await?;
                    tracing::info!(
                        setting = name,
                        old_default,
                        new_default,
                        "setting left at its old default follows the new default"
                    );
                }
            }
        }
        for d in SETTINGS {
            self.store
                .config_seed(&Configuration {
                    name: d.name.into(),
                    value: Some(d.default.into()),
                    default_value: Some(d.default.into()),
                    category: d.category.into(),
                    description: d.description.into(),
                    is_dynamic: d.dynamic,
                })
                .await?;
        }
        self.settings_refresh().await
    }

    /// Reload the settings cache from the database (other servers may have changed values).
    pub async fn settings_refresh(&self) -> Result<()> {
        let (all, _) = self
            .store
            .config_list(None, None, None, trellis_store::Page::all())
            .await?;
        let map = all
            .into_iter()
            .map(|c| (c.name, c.value.or(c.default_value).unwrap_or_default()))
            .collect();
        *self.settings.write().expect("settings lock") = map;
        // Settings the runner follows.
        self.runner
            .set_retain_payloads(self.setting_bool(setting::PAYLOAD_RETAIN));
        Ok(())
    }

    /// A setting's current value (cached).
    pub fn setting_str(&self, name: &str) -> String {
        if let Some(v) = self.settings.read().expect("settings lock").get(name) {
            return v.clone();
        }
        SETTINGS
            .iter()
            .find(|d| d.name == name)
            .map(|d| d.default.to_string())
            .unwrap_or_default()
    }

    pub fn setting_i64(&self, name: &str) -> i64 {
        let default = SETTINGS
            .iter()
            .find(|d| d.name == name)
            .and_then(|d| d.default.parse().ok())
            .unwrap_or(0);
        self.setting_str(name).trim().parse().unwrap_or(default)
    }

    pub fn setting_bool(&self, name: &str) -> bool {
        self.setting_str(name).trim().eq_ignore_ascii_case("true")
    }

    pub async fn config_list(
        &self,
        caller: &Caller,
        name: Option<&str>,
        category: Option<&str>,
        keyword: Option<&str>,
        page: trellis_store::Page,
    ) -> Result<(Vec<Configuration>, i64)> {
        super::require_admin(caller)?;
        Ok(self
            .store
            .config_list(name, category, keyword, page)
            .await?)
    }

    /// Validate and store a new value; takes effect at once on this server and within one cache
    /// refresh on others.
    pub async fn config_update(
        &self,
        caller: &Caller,
        name: &str,
        value: Option<&str>,
    ) -> Result<Configuration> {
        super::require_admin(caller)?;
        let Some(current) = self.store.config_get(name).await? else {
            return Err(Error::invalid_param(format!(
                "Configuration {name} does not exist"
            )));
        };
        if let (Some(def), Some(v)) = (SETTINGS.iter().find(|d| d.name == name), value) {
            let ok = match def.kind {
                Kind::Integer { min, max } => v
                    .trim()
                    .parse::<i64>()
                    .map(|n| (min..=max).contains(&n))
                    .unwrap_or(false),
                Kind::Boolean => v.eq_ignore_ascii_case("true") || v.eq_ignore_ascii_case("false"),
                Kind::Text => true,
                Kind::OneOf(opts) => opts.contains(&v),
            };
            if !ok {
                let hint = match def.kind {
                    Kind::Integer { min, max } => format!("an integer from {min} to {max}"),
                    Kind::Boolean => "true or false".into(),
                    Kind::Text => "text".into(),
                    Kind::OneOf(opts) => format!("one of {}", opts.join(", ")),
                };
                return Err(Error::invalid_param(format!(
                    "Invalid value {v} for configuration {name}: expected {hint}"
                )));
            }
        }
        self.store.config_set(name, value).await?;
        self.settings_refresh().await?;
        if name == setting::PATH_CHECK_INTERVAL {
            self.readiness_notify.notify_one();
        }
        self.event(
            Some(caller),
            "CONFIGURATION.VALUE.EDIT",
            &format!("Value of configuration {name} changed"),
            None,
        )
        .await;
        Ok(Configuration {
            value: value.map(str::to_string),
            ..current
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn app_on(dir: &std::path::Path) -> App {
        let cfg = crate::ServerConfig {
            data_dir: dir.to_path_buf(),
            ..Default::default()
        };
        let store = trellis_store::Store::open(&format!("sqlite://{}", dir.join("t.db").display()))
            .await
            .unwrap();
        App::new(cfg, store).unwrap()
    }

    #[tokio::test]
    async fn custom_action_timeout_defaults_to_three_seconds_and_old_default_follows() {
        let fresh = tempfile::tempdir().unwrap();
        let app = app_on(fresh.path()).await;
        app.settings_seed().await.unwrap();
        assert_eq!(app.setting_i64(setting::CUSTOM_ACTION_TIMEOUT), 3);

        // A database seeded with the old default (5), never changed: it follows the new one.
        let old = tempfile::tempdir().unwrap();
        let app = app_on(old.path()).await;
        let seeded_before = |value: &str| Configuration {
            name: setting::CUSTOM_ACTION_TIMEOUT.into(),
            value: Some(value.into()),
            default_value: Some("5".into()),
            category: "Advanced".into(),
            description: String::new(),
            is_dynamic: true,
        };
        app.store.config_seed(&seeded_before("5")).await.unwrap();
        app.settings_seed().await.unwrap();
        assert_eq!(app.setting_i64(setting::CUSTOM_ACTION_TIMEOUT), 3);

        // A value the operator chose stays.
        let chosen = tempfile::tempdir().unwrap();
        let app = app_on(chosen.path()).await;
        app.store.config_seed(&seeded_before("7")).await.unwrap();
        app.settings_seed().await.unwrap();
        assert_eq!(app.setting_i64(setting::CUSTOM_ACTION_TIMEOUT), 7);
    }
}
