//! What a job is asked to do: a closed set of typed commands, built by the request handler after
//! its checks, stored as JSON in the job row, and executed here through `App` — no catalog
//! lookup, no command-name matching, no HTTP.
//!
//! Rows written by earlier versions hold the raw request parameters instead; they are read
//! through [`JobCommand::from_legacy`], so an upgrade finishes (or cleanly fails) every job that
//! was queued before it.

use serde::{Deserialize, Serialize};
use trellis_api::Params;
use trellis_model::account::AccountState;
use trellis_model::entity::{Account, AffinityGroup, Host, Instance, Job, Project, Template, User};
use trellis_model::project::{ProjectRole, ProjectState};
use trellis_model::{Error, Result};

use super::seal::{Sealed, Secret, SecretKey};
use super::JobContext;
use crate::app::affinity::{AffinityGroupCreate, AffinityGroupRef};
use crate::app::deploy::Destination;
use crate::app::extension_files::ExtensionSync;
use crate::app::projects::ProjectCreate;
use crate::app::template_capture::TemplateCapture;
use crate::app::{App, Caller, CustomActionRun};

/// Version of the stored format (`async_jobs.params`).
const FORMAT: u32 = 2;

/// Every asynchronous operation Trellis runs in a job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum JobCommand {
    /// The instance was allocated by the request; start it unless `start` is false.
    Deploy {
        instance: String,
        start: bool,
        host: Option<String>,
        /// The administrator's cluster or pod for the first start (absent in older rows).
        #[serde(default)]
        cluster: Option<String>,
        #[serde(default)]
        pod: Option<String>,
    },
    Start {
        instance: String,
        host: Option<String>,
    },
    Stop {
        instance: String,
        forced: bool,
    },
    Reboot {
        instance: String,
    },
    Destroy {
        instance: String,
        expunge: bool,
    },
    Expunge {
        instance: String,
    },
    HostMaintenance {
        host: String,
    },
    HostCancelMaintenance {
        host: String,
    },
    /// Parameter values may be passwords: sealed at rest.
    RunCustomAction {
        action: String,
        resource_type: Option<String>,
        resource: String,
        parameters: Sealed,
    },
    DeleteTemplate {
        template: String,
    },
    DeleteNetwork {
        network: String,
    },
    DeleteAccount {
        account: String,
    },
    DisableAccount {
        account: String,
        /// Lock (users shut out, instances kept running) rather than disable.
        lock: bool,
    },
    DisableUser {
        user: String,
    },
    DeleteDomain {
        domain: String,
        cleanup: bool,
    },
    /// `createTemplate` from a ROOT volume.
    CreateTemplate(TemplateCapture),
    CreateTags {
        resource_type: String,
        resources: Vec<String>,
        tags: Vec<(String, String)>,
        customer: Option<String>,
    },
    /// An empty `tags` deletes every tag of the resources; an empty value matches any value.
    DeleteTags {
        resource_type: String,
        resources: Vec<String>,
        tags: Vec<(String, String)>,
    },
    /// `resetSSHKeyForVirtualMachine`: the named key pairs of the instance's owner.
    ResetSshKeys {
        instance: String,
        keypairs: Vec<String>,
    },
    CreateAffinityGroup(AffinityGroupCreate),
    DeleteAffinityGroup(AffinityGroupRef),
    CreateProject(ProjectCreate),
    SyncExtension(ExtensionSync),
    UpdateProject {
        project: String,
        name: Option<String>,
        display_text: Option<String>,
    },
    DeleteProject {
        project: String,
        cleanup: bool,
    },
    ActivateProject {
        project: String,
    },
    SuspendProject {
        project: String,
    },
    AddAccountToProject {
        project: String,
        account: String,
        role: String,
    },
    DeleteAccountFromProject {
        project: String,
        account: String,
    },
}

/// What a job produced, rendered into the job result by the HTTP layer's renderer.
#[derive(Debug)]
pub enum JobOutcome {
    Instance(Instance),
    /// The instance is gone (destroyed with expunge).
    Expunged {
        uuid: String,
    },
    Host(Host),
    CustomAction(CustomActionRun),
    Template(Template),
    AffinityGroup(AffinityGroup),
    Project(Project),
    User(User),
    Account(Account),
    Done,
}

#[derive(Serialize, Deserialize)]
struct Stored {
    format: u32,
    #[serde(flatten)]
    command: JobCommand,
}

impl JobCommand {
    /// The CloudStack command this job answers (`async_jobs.cmd`, `listAsyncJobs`).
    pub fn api_name(&self) -> &'static str {
        match self {
            JobCommand::Deploy { .. } => "deployVirtualMachine",
            JobCommand::Start { .. } => "startVirtualMachine",
            JobCommand::Stop { .. } => "stopVirtualMachine",
            JobCommand::Reboot { .. } => "rebootVirtualMachine",
            JobCommand::Destroy { .. } => "destroyVirtualMachine",
            JobCommand::Expunge { .. } => "expungeVirtualMachine",
            JobCommand::HostMaintenance { .. } => "prepareHostForMaintenance",
            JobCommand::HostCancelMaintenance { .. } => "cancelHostMaintenance",
            JobCommand::RunCustomAction { .. } => "runCustomAction",
            JobCommand::DeleteTemplate { .. } => "deleteTemplate",
            JobCommand::DeleteNetwork { .. } => "deleteNetwork",
            JobCommand::DeleteAccount { .. } => "deleteAccount",
            JobCommand::DisableAccount { .. } => "disableAccount",
            JobCommand::DisableUser { .. } => "disableUser",
            JobCommand::DeleteDomain { .. } => "deleteDomain",
            JobCommand::CreateTemplate(_) => "createTemplate",
            JobCommand::CreateTags { .. } => "createTags",
            JobCommand::DeleteTags { .. } => "deleteTags",
            JobCommand::ResetSshKeys { .. } => "resetSSHKeyForVirtualMachine",
            JobCommand::CreateAffinityGroup(_) => "createAffinityGroup",
            JobCommand::DeleteAffinityGroup(_) => "deleteAffinityGroup",
            JobCommand::CreateProject(_) => "createProject",
            JobCommand::SyncExtension(_) => "syncExtension",
            JobCommand::UpdateProject { .. } => "updateProject",
            JobCommand::DeleteProject { .. } => "deleteProject",
            JobCommand::ActivateProject { .. } => "activateProject",
            JobCommand::SuspendProject { .. } => "suspendProject",
            JobCommand::AddAccountToProject { .. } => "addAccountToProject",
            JobCommand::DeleteAccountFromProject { .. } => "deleteAccountFromProject",
        }
    }

    /// The stored text (`async_jobs.params`).
    pub fn to_stored(&self) -> Result<String> {
        serde_json::to_string(&Stored {
            format: FORMAT,
            command: self.clone(),
        })
        .map_err(|e| Error::internal(format!("job command unstorable: {e}")))
    }

    /// The command of a job row, in the current format or an earlier one.
    pub fn of_job(job: &Job, key: &SecretKey) -> Result<JobCommand> {
        let text = job.params.trim_start();
        if text.starts_with('[') {
            let pairs: Vec<(String, String)> = serde_json::from_str(text)
                .map_err(|e| Error::internal(format!("job parameters unreadable: {e}")))?;
            return JobCommand::from_legacy(job, pairs, key);
        }
        let stored: Stored = serde_json::from_str(text)
            .map_err(|e| Error::internal(format!("job command unreadable: {e}")))?;
        if stored.format != FORMAT {
            return Err(Error::internal(format!(
                "job command format {} is not known to this server (it reads {FORMAT})",
                stored.format
            )));
        }
        Ok(stored.command)
    }

    /// A row of the earlier format: the request's parameter pairs and the command name.
    pub fn from_legacy(
        job: &Job,
        pairs: Vec<(String, String)>,
        key: &SecretKey,
    ) -> Result<JobCommand> {
        let p = Params::from_pairs(pairs).map_err(|e| Error::invalid_param(e.text))?;
        let need = |name: &str| {
            p.str(name).map(str::to_string).ok_or_else(|| {
                Error::invalid_param(format!(
                    "Unable to execute API command {} due to missing parameter {name}",
                    job.cmd
                ))
            })
        };
        let opt = |name: &str| p.str(name).map(str::to_string);
        Ok(match job.cmd.as_str() {
            "deployVirtualMachine" => JobCommand::Deploy {
                instance: job
                    .instance_uuid
                    .clone()
                    .ok_or_else(|| Error::internal("deploy job without instance"))?,
                start: p.bool_or("startvm", true),
                host: opt("hostid"),
                cluster: None,
                pod: None,
            },
            "startVirtualMachine" => JobCommand::Start {
                instance: need("id")?,
                host: opt("hostid"),
            },
            "stopVirtualMachine" => JobCommand::Stop {
                instance: need("id")?,
                forced: p.bool_or("forced", false),
            },
            "rebootVirtualMachine" => JobCommand::Reboot {
                instance: need("id")?,
            },
            "destroyVirtualMachine" => JobCommand::Destroy {
                instance: need("id")?,
                expunge: p.bool_or("expunge", false),
            },
            "expungeVirtualMachine" => JobCommand::Expunge {
                instance: need("id")?,
            },
            "prepareHostForMaintenance" => JobCommand::HostMaintenance { host: need("id")? },
            "cancelHostMaintenance" => JobCommand::HostCancelMaintenance { host: need("id")? },
            "runCustomAction" => JobCommand::RunCustomAction {
                action: need("customactionid")?,
                resource_type: opt("resourcetype"),
                resource: need("resourceid")?,
                parameters: key
                    .seal(&Secret::new(p.map_pairs("parameters").unwrap_or_default()))?,
            },
            "deleteTemplate" => JobCommand::DeleteTemplate {
                template: need("id")?,
            },
            "deleteNetwork" => JobCommand::DeleteNetwork {
                network: need("id")?,
            },
            "deleteAccount" => JobCommand::DeleteAccount {
                account: need("id")?,
            },
            other => {
                return Err(Error::unsupported(format!(
                    "job command {other} is not one this server runs"
                )))
            }
        })
    }

    /// Run the command for `caller`.
    pub async fn execute(self, app: &App, caller: &Caller, ctx: &JobContext) -> Result<JobOutcome> {
        Ok(match self {
            JobCommand::Deploy {
                instance,
                start: true,
                host,
                cluster,
                pod,
            } => {
                let dest = Destination { host, cluster, pod };
                JobOutcome::Instance(app.instance_start(ctx, caller, &instance, &dest).await?)
            }
            JobCommand::Deploy {
                instance,
                start: false,
                ..
            } => JobOutcome::Instance(app.instance_for(caller, &instance).await?),
            JobCommand::Start { instance, host } => {
                let dest = Destination {
                    host,
                    ..Destination::default()
                };
                JobOutcome::Instance(app.instance_start(ctx, caller, &instance, &dest).await?)
            }
            JobCommand::Stop { instance, forced } => {
                JobOutcome::Instance(app.instance_stop(caller, &instance, forced).await?)
            }
            JobCommand::Reboot { instance } => {
                JobOutcome::Instance(app.instance_reboot(caller, &instance).await?)
            }
            JobCommand::Destroy { instance, expunge } => {
                match app.instance_destroy(caller, &instance, expunge).await? {
                    Some(inst) => JobOutcome::Instance(inst),
                    None => JobOutcome::Expunged { uuid: instance },
                }
            }
            JobCommand::Expunge { instance } => {
                app.instance_expunge(caller, &instance).await?;
                JobOutcome::Done
            }
            JobCommand::HostMaintenance { host } => {
                JobOutcome::Host(app.host_maintenance(caller, &host).await?)
            }
            JobCommand::HostCancelMaintenance { host } => {
                JobOutcome::Host(app.host_cancel_maintenance(caller, &host).await?)
            }
            JobCommand::RunCustomAction {
                action,
                resource_type,
                resource,
                parameters,
            } => {
                let parameters: Secret<Vec<(String, String)>> =
                    app.secret_key().open(&parameters)?;
                JobOutcome::CustomAction(
                    app.custom_action_run(
                        caller,
                        &action,
                        resource_type.as_deref(),
                        &resource,
                        parameters.into_inner(),
                    )
                    .await?,
                )
            }
            JobCommand::DeleteTemplate { template } => {
                app.template_delete(caller, &template).await?;
                JobOutcome::Done
            }
            JobCommand::DeleteNetwork { network } => {
                app.network_delete(caller, &network).await?;
                JobOutcome::Done
            }
            JobCommand::DeleteAccount { account } => {
                app.account_delete(caller, &account).await?;
                JobOutcome::Done
            }
            JobCommand::DisableAccount { account, lock } => {
                JobOutcome::Account(app.account_disable(caller, &account, lock).await?)
            }
            JobCommand::DisableUser { user } => JobOutcome::User(
                app.user_set_state(caller, &user, AccountState::Disabled)
                    .await?,
            ),
            JobCommand::DeleteDomain { domain, cleanup } => {
                app.domain_delete(caller, &domain, cleanup).await?;
                JobOutcome::Done
            }
            JobCommand::CreateTemplate(input) => {
                JobOutcome::Template(app.template_capture(caller, &input).await?)
            }
            JobCommand::CreateTags {
                resource_type,
                resources,
                tags,
                customer,
            } => {
                let mut req = app
                    .tags_check(caller, &resource_type, &resources, &tags, true)
                    .await?;
                req.customer = customer;
                app.tags_create(caller, &req).await?;
                JobOutcome::Done
            }
            JobCommand::DeleteTags {
                resource_type,
                resources,
                tags,
            } => {
                let req = app
                    .tags_check(caller, &resource_type, &resources, &tags, false)
                    .await?;
                app.tags_delete(caller, &req).await?;
                JobOutcome::Done
            }
            JobCommand::ResetSshKeys { instance, keypairs } => JobOutcome::Instance(
                app.instance_reset_keys(caller, &instance, &keypairs)
                    .await?,
            ),
            JobCommand::CreateAffinityGroup(input) => {
                JobOutcome::AffinityGroup(app.affinity_group_create(caller, &input).await?)
            }
            JobCommand::DeleteAffinityGroup(group) => {
                app.affinity_group_delete(caller, &group).await?;
                JobOutcome::Done
            }
            JobCommand::CreateProject(input) => {
                JobOutcome::Project(app.project_create(caller, &input).await?)
            }
            JobCommand::SyncExtension(sync) => {
                app.extension_sync_wait(caller, &sync).await?;
                JobOutcome::Done
            }
            JobCommand::UpdateProject {
                project,
                name,
                display_text,
            } => JobOutcome::Project(
                app.project_update(caller, &project, name.as_deref(), display_text.as_deref())
                    .await?,
            ),
            JobCommand::DeleteProject { project, cleanup } => {
                app.project_delete(caller, &project, cleanup).await?;
                JobOutcome::Done
            }
            JobCommand::ActivateProject { project } => JobOutcome::Project(
                app.project_set_state(caller, &project, ProjectState::Active)
                    .await?,
            ),
            JobCommand::SuspendProject { project } => JobOutcome::Project(
                app.project_set_state(caller, &project, ProjectState::Suspended)
                    .await?,
            ),
            JobCommand::AddAccountToProject {
                project,
                account,
                role,
            } => {
                let role = ProjectRole::parse(&role).ok_or_else(|| {
                    Error::invalid_param(format!(
                        "Invalid project role {role}: use Admin or Regular"
                    ))
                })?;
                app.project_member_add(caller, &project, &account, role)
                    .await?;
                JobOutcome::Done
            }
            JobCommand::DeleteAccountFromProject { project, account } => {
                app.project_member_remove(caller, &project, &account)
                    .await?;
                JobOutcome::Done
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(cmd: &str, params: &str, instance: Option<&str>) -> Job {
        Job {
            id: 1,
            uuid: "j".into(),
            user_id: 1,
            account_id: 1,
            cmd: cmd.into(),
            params: params.into(),
            instance_type: instance.map(|_| "VirtualMachine".into()),
            instance_uuid: instance.map(str::to_string),
            status: trellis_model::entity::JobStatus::InProgress,
            result_code: 0,
            result_type: None,
            result: None,
            step: None,
            attempts: 0,
            owner: None,
            lease_until: None,
            created: 0,
            completed: None,
        }
    }

    #[test]
    fn commands_round_trip_through_the_stored_format() {
        let key = SecretKey::generate();
        let commands = vec![
            JobCommand::DisableAccount {
                account: "a".into(),
                lock: true,
            },
            JobCommand::DisableUser { user: "u".into() },
            JobCommand::DeleteDomain {
                domain: "d".into(),
                cleanup: true,
            },
            JobCommand::Deploy {
                instance: "vm".into(),
                start: false,
                host: Some("h".into()),
                cluster: Some("c".into()),
                pod: None,
            },
            JobCommand::Stop {
                instance: "vm".into(),
                forced: true,
            },
            JobCommand::RunCustomAction {
                action: "a".into(),
                resource_type: None,
                resource: "vm".into(),
                parameters: key
                    .seal(&Secret::new(vec![(
                        "pw".to_string(),
                        "Hunter2-Hunter2".to_string(),
                    )]))
                    .unwrap(),
            },
        ];
        for c in commands {
            let stored = c.to_stored().unwrap();
            assert!(!stored.contains("Hunter2"), "{stored}");
            let back = JobCommand::of_job(&job(c.api_name(), &stored, None), &key).unwrap();
            assert_eq!(back, c);
        }
    }

    #[test]
    fn rows_of_the_earlier_format_still_run() {
        let key = SecretKey::generate();
        let legacy = r#"[["command","runCustomAction"],["customactionid","ca"],["resourceid","vm"],["parameters[0].pw","Hunter2-Hunter2"]]"#;
        let c = JobCommand::of_job(&job("runCustomAction", legacy, Some("vm")), &key).unwrap();
        let JobCommand::RunCustomAction {
            action,
            resource,
            parameters,
            ..
        } = c
        else {
            panic!("{c:?}")
        };
        assert_eq!((action.as_str(), resource.as_str()), ("ca", "vm"));
        let opened: Secret<Vec<(String, String)>> = key.open(&parameters).unwrap();
        assert_eq!(
            opened.expose(),
            &vec![("pw".to_string(), "Hunter2-Hunter2".to_string())]
        );
        let deploy = JobCommand::of_job(
            &job(
                "deployVirtualMachine",
                r#"[["startvm","false"]]"#,
                Some("vm-1"),
            ),
            &key,
        )
        .unwrap();
        assert_eq!(
            deploy,
            JobCommand::Deploy {
                instance: "vm-1".into(),
                start: false,
                host: None,
                cluster: None,
                pod: None,
            }
        );
        // Unknown commands and missing parameters fail cleanly, with a reason.
        let err = JobCommand::of_job(&job("rebootVirtualMachine", "[]", None), &key).unwrap_err();
        assert!(err.to_string().contains("missing parameter id"), "{err}");
        assert!(JobCommand::of_job(&job("frobnicate", "[]", None), &key).is_err());
        assert!(JobCommand::of_job(
            &job("stopVirtualMachine", r#"{"format":9,"op":"stop"}"#, None),
            &key
        )
        .is_err());
    }
}
