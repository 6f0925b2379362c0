//! Command handlers: read typed values from validated parameters, call the application, build the
//! reply. Async commands are checked here and queued as a typed [`JobCommand`]; the job worker
//! executes it through `App`, and [`render_job_outcome`] turns what it produced into the job result.

use serde_json::{json, Value};
use std::collections::BTreeMap;
use trellis_api::{catalog::Command, ApiError, Params, Reply};
use trellis_model::{Error, RoleType};
use trellis_store::{EventFilter, ExtensionFilter, IdentityFilter, Page};

use super::views;
use crate::app::custom_action::CustomActionInput;
use crate::app::{setting, App, Caller, ExtensionViews};
use crate::jobs::seal::Secret;
use crate::jobs::{JobCommand, JobOutcome};

type R = Result<Reply, ApiError>;

pub(super) fn page_of(app: &App, p: &Params) -> Result<Page, ApiError> {
    let (offset, limit) = p.paging(app.setting_i64(setting::DEFAULT_PAGE_SIZE))?;
    Ok(Page { offset, limit })
}

pub(super) fn s(p: &Params, name: &str) -> Option<String> {
    p.str(name).map(str::to_string)
}

pub(super) fn req<'a>(p: &'a Params, cmd: &Command, name: &str) -> Result<&'a str, ApiError> {
    p.str(name)
        .ok_or_else(|| ApiError::missing_param(cmd.name, name))
}

pub(super) fn list(object: &'static str, items: Vec<Value>, total: i64) -> Reply {
    Reply::List {
        object,
        count: total,
        items,
    }
}

/// Run a synchronous command, or validate and queue an asynchronous one.
pub async fn dispatch(app: &App, caller: &Caller, cmd: &Command, p: &Params) -> R {
    if cmd.isasync {
        let (command, about) = precheck_async(app, caller, cmd, p).await?;
        let id = match &command {
            JobCommand::Deploy { instance, .. } => Some(instance.clone()),
            _ => None,
        };
        let job = app.job_submit(caller, &command, about).await?;
        return Ok(Reply::Async {
            jobid: job.uuid,
            id,
        });
    }
    sync(app, caller, cmd, p).await
}

/// Request-time checks of async commands: the typed command to queue, and the object the job is
/// about.
async fn precheck_async(
    app: &App,
    caller: &Caller,
    cmd: &Command,
    p: &Params,
) -> Result<(JobCommand, Option<(String, String)>), ApiError> {
    match cmd.name {
        "deleteAccount" => {
            let a = app.account_check_delete(caller, req(p, cmd, "id")?).await?;
            Ok((
                JobCommand::DeleteAccount {
                    account: a.uuid.clone(),
                },
                Some(("Account".into(), a.uuid)),
            ))
        }
        "runCustomAction" => {
            let resource = req(p, cmd, "resourceid")?.to_string();
            let parameters = app
                .secret_key()
                .seal(&Secret::new(p.map_pairs("parameters").unwrap_or_default()))?;
            Ok((
                JobCommand::RunCustomAction {
                    action: req(p, cmd, "customactionid")?.to_string(),
                    resource_type: s(p, "resourcetype"),
                    resource: resource.clone(),
                    parameters,
                },
                Some(("VirtualMachine".into(), resource)),
            ))
        }
        other => super::instances::precheck(app, caller, other, p).await,
    }
}

/// The job result of a finished job (CloudStack's `jobresult`), given to the job worker.
pub fn render_job_outcome(
    app: &App,
    outcome: JobOutcome,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<Value, ApiError>> + Send + '_>> {
    Box::pin(async move {
        let reply = match outcome {
            JobOutcome::Instance(inst) => Reply::Object {
                object: "virtualmachine",
                value: super::instances::vm_view(app, &inst).await?,
            },
            JobOutcome::Expunged { uuid } => Reply::Object {
                object: "virtualmachine",
                value: json!({"id": uuid, "state": "Expunged"}),
            },
            JobOutcome::Host(h) => Reply::Object {
                object: "host",
                value: super::instances::host_view(app, &h).await?,
            },
            JobOutcome::CustomAction(run) => {
                let mut result = serde_json::Map::new();
                result.insert("message".into(), Value::String(run.message));
                if let Some(d) = run.details {
                    result.insert("details".into(), Value::String(d));
                }
                Reply::Object {
                    object: "customactionresult",
                    value: json!({"id": run.action_uuid, "name": run.action_name, "success": run.success, "result": result}),
                }
            }
            JobOutcome::Done => Reply::Success { displaytext: None },
        };
        Ok(reply.job_result())
    })
}

async fn sync(app: &App, caller: &Caller, cmd: &Command, p: &Params) -> R {
    match cmd.name {
        "listApis" if p.str("name").is_none() => Ok(Reply::Rendered(
            trellis_api::catalog::list_apis_body(caller.role_type()),
        )),
        "listApis" => {
            let items: Vec<Value> = trellis_api::catalog::COMMANDS
                .iter()
                .filter(|c| c.allows(caller.role_type()))
                .filter(|c| p.str("name").is_none_or(|n| c.name.eq_ignore_ascii_case(n)))
                .map(|c| c.api_json())
                .collect();
            if let Some(n) = p.str("name") {
                if items.is_empty() {
                    return Err(ApiError::param(format!(
                        "The API {n} does not exist or is not available for this account"
                    )));
                }
            }
            let n = items.len() as i64;
            Ok(list("api", items, n))
        }
        "listCapabilities" => {
            let mut cap = json!({
                "cloudstackversion": "4.22.0-trellis", "securitygroupsenabled": false, "userpublictemplateenabled": true,
                "supportELB": "false", "customdiskofferingmaxsize": 1024, "customdiskofferingminsize": 1,
                "allowusercreateprojects": false, "apilimitinterval": 1, "apilimitmax": 0,
                "defaultuipagesize": 20, "customhypervisordisplayname": "External", "kvmsnapshotenabled": false,
                "allowuserviewdestroyedvm": true, "allowuserexpungerecovervm": true, "dynamicrolesenabled": true,
                "projectinviterequired": false, "regionsecondaryenabled": false, "kubernetesserviceenabled": false,
                "kubernetesclusterexperimentalfeaturesenabled": false, "sharedfsvmmincpucount": 0, "sharedfsvmminramsize": 0,
                "instancesstatsretentiontime": 0, "instancesstatsuseronly": false, "instancesdisksstatsretentionenabled": false,
                "instancesdisksstatsretentiontime": 0, "allowuserforcestopvm": true,
            });
            if caller.is_root_admin() {
                cap["extensionspath"] =
                    Value::String(app.extensions_root().to_string_lossy().into_owned());
            }
            Ok(Reply::Object {
                object: "capability",
                value: cap,
            })
        }
        "listDomains" => {
            let (items, total) = app
                .domain_list(
                    caller,
                    p.str("id"),
                    p.str("name"),
                    p.str("keyword"),
                    page_of(app, p)?,
                )
                .await?;
            let mut out = Vec::with_capacity(items.len());
            let (all, _) = app
                .store
                .domain_list(None, None, None, Page::all())
                .await
                .map_err(Error::from)?;
            for d in &items {
                let parent = d.parent_id.and_then(|pid| all.iter().find(|x| x.id == pid));
                let has_child = all.iter().any(|x| x.parent_id == Some(d.id));
                out.push(views::domain(d, parent, has_child));
            }
            Ok(list("domain", out, total))
        }
        "createDomain" => {
            let d = app
                .domain_create(caller, req(p, cmd, "name")?, p.str("parentdomainid"))
                .await?;
            let parent = match d.parent_id {
                Some(pid) => app.store.domain_get(pid).await.map_err(Error::from)?,
                None => None,
            };
            Ok(Reply::Object {
                object: "domain",
                value: views::domain(&d, parent.as_ref(), false),
            })
        }
        "listAccounts" => {
            let f = IdentityFilter {
                uuid: s(p, "id"),
                name: s(p, "name"),
                domain_id: domain_id_of(app, p).await?,
                account_id: None,
                keyword: s(p, "keyword"),
            };
            let (items, total) = app
                .account_list(caller, f, p.bool_or("listall", false), page_of(app, p)?)
                .await?;
            let mut out = Vec::with_capacity(items.len());
            for a in &items {
                out.push(account_view(app, a).await?);
            }
            Ok(list("account", out, total))
        }
        "createAccount" => {
            let (a, _) = app
                .account_create(
                    caller,
                    req(p, cmd, "username")?,
                    req(p, cmd, "password")?,
                    req(p, cmd, "email")?,
                    req(p, cmd, "firstname")?,
                    req(p, cmd, "lastname")?,
                    p.str("account"),
                    p.int("accounttype"),
                    p.str("roleid"),
                    p.str("domainid"),
                )
                .await?;
            Ok(Reply::Object {
                object: "account",
                value: account_view(app, &a).await?,
            })
        }
        "listUsers" => {
            let account_id = match (p.str("account"), domain_id_of(app, p).await?) {
                (Some(name), Some(did)) => app
                    .store
                    .account_by_name(did, name)
                    .await
                    .map_err(Error::from)?
                    .map(|a| a.id)
                    .or(Some(-2)),
                _ => None,
            };
            let f = IdentityFilter {
                uuid: s(p, "id"),
                name: s(p, "username"),
                domain_id: domain_id_of(app, p).await?,
                account_id,
                keyword: s(p, "keyword"),
            };
            let (items, total) = app.user_list(caller, f, page_of(app, p)?).await?;
            let mut out = Vec::with_capacity(items.len());
            for u in &items {
                out.push(user_view(app, u).await?);
            }
            Ok(list("user", out, total))
        }
        "createUser" => {
            let u = app
                .user_create(
                    caller,
                    req(p, cmd, "account")?,
                    req(p, cmd, "username")?,
                    req(p, cmd, "password")?,
                    req(p, cmd, "email")?,
                    req(p, cmd, "firstname")?,
                    req(p, cmd, "lastname")?,
                    p.str("domainid"),
                )
                .await?;
            Ok(Reply::Object {
                object: "user",
                value: user_view(app, &u).await?,
            })
        }
        "registerUserKeys" => {
            let (k, sk) = app.user_register_keys(caller, req(p, cmd, "id")?).await?;
            Ok(Reply::Object {
                object: "userkeys",
                value: json!({"apikey": k, "secretkey": sk}),
            })
        }
        "getUserKeys" => {
            let (k, sk) = app.user_get_keys(caller, req(p, cmd, "id")?).await?;
            Ok(Reply::Object {
                object: "userkeys",
                value: json!({"apikey": k, "secretkey": sk}),
            })
        }
        "listRoles" => {
            let roles = app
                .role_list(p.str("id"), p.str("name"), p.str("type"))
                .await?;
            let items: Vec<Value> = roles.iter().map(views::role).collect();
            let n = items.len() as i64;
            Ok(list("role", items, n))
        }
        "queryAsyncJobResult" => {
            let j = app.job_get(caller, req(p, cmd, "jobid")?).await?;
            Ok(Reply::Bare(job_view(app, caller, &j).await?))
        }
        "listAsyncJobs" => {
            let (items, total) = app
                .job_list(caller, p.bool_or("listall", false), page_of(app, p)?)
                .await?;
            let mut out = Vec::with_capacity(items.len());
            for j in &items {
                out.push(job_view(app, caller, j).await?);
            }
            Ok(list("asyncjobs", out, total))
        }
        "listEvents" => {
            let mut f = EventFilter {
                uuid: s(p, "id"),
                event_type: s(p, "type"),
                level: s(p, "level"),
                account_id: None,
                resource_uuid: s(p, "resourceid"),
                keyword: s(p, "keyword"),
            };
            if caller.role_type() != RoleType::Admin {
                f.account_id = Some(caller.account.id);
            }
            let (items, total) = app
                .store
                .event_list(&f, page_of(app, p)?)
                .await
                .map_err(Error::from)?;
            let mut out = Vec::with_capacity(items.len());
            for e in &items {
                let user = match e.user_id {
                    Some(uid) => app.store.user_get(uid).await.map_err(Error::from)?,
                    None => None,
                };
                let account = match e.account_id {
                    Some(aid) => app.store.account_get(aid).await.map_err(Error::from)?,
                    None => None,
                };
                let domain = match e.domain_id {
                    Some(did) => app.store.domain_get(did).await.map_err(Error::from)?,
                    None => None,
                };
                out.push(views::event(
                    e,
                    user.as_ref()
                        .map(|u| u.username.as_str())
                        .or(Some("system")),
                    account.as_ref().map(|a| a.name.as_str()).or(Some("system")),
                    domain.as_ref(),
                ));
            }
            Ok(list("event", out, total))
        }
        "listAlerts" => {
            let type_id = p.str("type").and_then(|t| t.parse().ok());
            let (items, total) = app
                .store
                .alert_list(
                    p.str("id"),
                    type_id,
                    p.str("keyword").or(p.str("name")),
                    page_of(app, p)?,
                )
                .await
                .map_err(Error::from)?;
            Ok(list(
                "alert",
                items.iter().map(views::alert).collect(),
                total,
            ))
        }
        "listConfigurations" => {
            let (items, total) = app
                .config_list(
                    caller,
                    p.str("name"),
                    p.str("category"),
                    p.str("keyword"),
                    page_of(app, p)?,
                )
                .await?;
            Ok(list(
                "configuration",
                items.iter().map(views::config).collect(),
                total,
            ))
        }
        "updateConfiguration" => {
            let c = app
                .config_update(caller, req(p, cmd, "name")?, p.raw("value"))
                .await?;
            Ok(Reply::Object {
                object: "configuration",
                value: views::config(&c),
            })
        }
        "listLdapConfigurations" => Ok(list("LdapConfiguration", vec![], 0)),
        "createExtension" => {
            let v = app
                .extension_create(
                    caller,
                    req(p, cmd, "name")?,
                    p.str("description"),
                    req(p, cmd, "type")?,
                    p.str("path"),
                    p.bool("orchestratorrequirespreparevm"),
                    p.str("state"),
                    p.map_flat("details").unwrap_or_default(),
                )
                .await?;
            Ok(Reply::Object {
                object: "extension",
                value: views::extension(&v),
            })
        }
        "listExtensions" => {
            let views_sel = ExtensionViews::parse(p.list("details").as_deref())?;
            let f = ExtensionFilter {
                uuid: s(p, "id"),
                name: s(p, "name"),
                keyword: s(p, "keyword"),
            };
            let (items, total) = app
                .extension_list(caller, &f, views_sel, page_of(app, p)?)
                .await?;
            Ok(list(
                "extension",
                items.iter().map(views::extension).collect(),
                total,
            ))
        }
        "updateExtension" => {
            let v = app
                .extension_update(
                    caller,
                    req(p, cmd, "id")?,
                    p.str("description"),
                    p.bool("orchestratorrequirespreparevm"),
                    p.str("state"),
                    p.map_flat("details"),
                    p.bool_or("cleanupdetails", false),
                )
                .await?;
            Ok(Reply::Object {
                object: "extension",
                value: views::extension(&v),
            })
        }
        "deleteExtension" => {
            app.extension_delete(caller, req(p, cmd, "id")?, p.bool_or("cleanup", false))
                .await?;
            Ok(Reply::Success { displaytext: None })
        }
        "registerExtension" => {
            let v = app
                .extension_register(
                    Some(caller),
                    req(p, cmd, "extensionid")?,
                    req(p, cmd, "resourceid")?,
                    req(p, cmd, "resourcetype")?,
                    p.map_flat("details").unwrap_or_default(),
                )
                .await?;
            Ok(Reply::Object {
                object: "extension",
                value: views::extension(&v),
            })
        }
        "unregisterExtension" => {
            let v = app
                .extension_unregister(
                    Some(caller),
                    req(p, cmd, "extensionid")?,
                    req(p, cmd, "resourceid")?,
                    req(p, cmd, "resourcetype")?,
                )
                .await?;
            Ok(Reply::Object {
                object: "extension",
                value: views::extension(&v),
            })
        }
        "addCustomAction" => {
            let v = app
                .custom_action_add(
                    caller,
                    req(p, cmd, "extensionid")?,
                    req(p, cmd, "name")?,
                    custom_action_input(p),
                )
                .await?;
            Ok(Reply::Object {
                object: "extensioncustomaction",
                value: views::custom_action(&v),
            })
        }
        "updateCustomAction" => {
            let v = app
                .custom_action_update(
                    caller,
                    req(p, cmd, "id")?,
                    custom_action_input(p),
                    p.bool_or("cleanupparameters", false),
                    p.bool_or("cleanupdetails", false),
                )
                .await?;
            Ok(Reply::Object {
                object: "extensioncustomaction",
                value: views::custom_action(&v),
            })
        }
        "deleteCustomAction" => {
            app.custom_action_delete(caller, req(p, cmd, "id")?).await?;
            Ok(Reply::Success { displaytext: None })
        }
        "listCustomActions" => {
            let (items, total) = app
                .custom_action_list(
                    caller,
                    p.str("id"),
                    p.str("name"),
                    p.str("extensionid"),
                    p.str("resourcetype"),
                    p.str("resourceid"),
                    p.bool("enabled"),
                    p.str("keyword"),
                    page_of(app, p)?,
                )
                .await?;
            Ok(list(
                "extensioncustomaction",
                items.iter().map(views::custom_action).collect(),
                total,
            ))
        }
        other => super::instances::sync(app, caller, other, p).await,
    }
}

fn custom_action_input(p: &Params) -> CustomActionInput {
    CustomActionInput {
        description: s(p, "description"),
        resource_type: s(p, "resourcetype"),
        allowed_role_types: p.list("allowedroletypes"),
        parameters: p.map_objects("parameters"),
        success_message: s(p, "successmessage"),
        error_message: s(p, "errormessage"),
        timeout: p.int("timeout"),
        enabled: p.bool("enabled"),
        details: p.map_flat("details"),
    }
}

async fn domain_id_of(app: &App, p: &Params) -> Result<Option<i64>, ApiError> {
    match p.str("domainid") {
        Some(u) => Ok(Some(
            app.store
                .domain_by_uuid(u)
                .await
                .map_err(Error::from)?
                .map(|d| d.id)
                .unwrap_or(-2),
        )),
        None => Ok(None),
    }
}

async fn account_view(app: &App, a: &trellis_model::entity::Account) -> Result<Value, ApiError> {
    let d = app
        .store
        .domain_get(a.domain_id)
        .await
        .map_err(Error::from)?
        .ok_or_else(|| Error::internal("account without domain"))?;
    let r = app
        .store
        .role_get(a.role_id)
        .await
        .map_err(Error::from)?
        .ok_or_else(|| Error::internal("account without role"))?;
    let (users, _) = app
        .store
        .user_list(
            &IdentityFilter {
                account_id: Some(a.id),
                ..Default::default()
            },
            Page::all(),
        )
        .await
        .map_err(Error::from)?;
    let uv = users.iter().map(|u| views::user(u, a, &d, &r)).collect();
    Ok(views::account(a, &d, &r, uv))
}

async fn user_view(app: &App, u: &trellis_model::entity::User) -> Result<Value, ApiError> {
    let a = app
        .store
        .account_get(u.account_id)
        .await
        .map_err(Error::from)?
        .ok_or_else(|| Error::internal("user without account"))?;
    let d = app
        .store
        .domain_get(a.domain_id)
        .await
        .map_err(Error::from)?
        .ok_or_else(|| Error::internal("account without domain"))?;
    let r = app
        .store
        .role_get(a.role_id)
        .await
        .map_err(Error::from)?
        .ok_or_else(|| Error::internal("account without role"))?;
    Ok(views::user(u, &a, &d, &r))
}

async fn job_view(
    app: &App,
    caller: &Caller,
    j: &trellis_model::entity::Job,
) -> Result<Value, ApiError> {
    // The common case (polling one's own job) needs no lookups.
    if j.user_id == caller.user.id {
        return Ok(views::job(
            j,
            Some(&caller.account),
            Some(&caller.user.uuid),
            &app.server_name,
        ));
    }
    let account = app
        .store
        .account_get(j.account_id)
        .await
        .map_err(Error::from)?;
    let user = app.store.user_get(j.user_id).await.map_err(Error::from)?;
    Ok(views::job(
        j,
        account.as_ref(),
        user.as_ref().map(|u| u.uuid.as_str()),
        &app.server_name,
    ))
}

/// Read a flatten-form map parameter.
pub fn details_of(p: &Params, name: &str) -> BTreeMap<String, String> {
    p.map_flat(name).unwrap_or_default()
}
