//! Projects: `createProject`, `updateProject`, `deleteProject`, `activateProject`,
//! `suspendProject`, `addAccountToProject`, `deleteAccountFromProject` (queued, as upstream),
//! `listProjects`, `listProjectAccounts`.

use serde_json::json;
use trellis_api::ApiError;
use trellis_model::project::ProjectRole;

use super::handlers::*;
use super::views;
use crate::app::job::JobCommand;
use crate::app::ownership::OwnerInput;
use crate::app::projects::{ProjectCreate, ProjectQuery};

fn about(project: &str) -> Option<(String, String)> {
    Some(("Project".to_string(), project.to_string()))
}

/// `createProject`.
pub(super) async fn create_project(cx: &Cx<'_>) -> Q {
    let (p, c) = (cx.p, cx.cmd);
    let input = ProjectCreate {
        name: req(p, c, "name")?.to_string(),
        display_text: s(p, "displaytext"),
        account: s(p, "account"),
        domain_uuid: s(p, "domainid"),
    };
    cx.app.project_create_check(cx.caller, &input).await?;
    Ok((JobCommand::CreateProject(input), None))
}

/// `updateProject`.
pub(super) async fn update_project(cx: &Cx<'_>) -> Q {
    let (p, c) = (cx.p, cx.cmd);
    let project = cx.app.project_for(cx.caller, req(p, c, "id")?).await?;
    Ok((
        JobCommand::UpdateProject {
            project: project.uuid.clone(),
            name: s(p, "name"),
            display_text: s(p, "displaytext"),
        },
        about(&project.uuid),
    ))
}

/// `deleteProject`: refused in the request while the project owns instances, unless `cleanup`.
pub(super) async fn delete_project(cx: &Cx<'_>) -> Q {
    let (p, c) = (cx.p, cx.cmd);
    let cleanup = p.bool_or("cleanup", false);
    let project = cx
        .app
        .project_delete_check(cx.caller, req(p, c, "id")?, cleanup)
        .await?;
    Ok((
        JobCommand::DeleteProject {
            project: project.uuid.clone(),
            cleanup,
        },
        about(&project.uuid),
    ))
}

/// `activateProject`.
pub(super) async fn activate_project(cx: &Cx<'_>) -> Q {
    let project = cx
        .app
        .project_for(cx.caller, req(cx.p, cx.cmd, "id")?)
        .await?;
    let uuid = project.uuid;
    Ok((
        JobCommand::ActivateProject {
            project: uuid.clone(),
        },
        about(&uuid),
    ))
}

/// `suspendProject`.
pub(super) async fn suspend_project(cx: &Cx<'_>) -> Q {
    let project = cx
        .app
        .project_for(cx.caller, req(cx.p, cx.cmd, "id")?)
        .await?;
    let uuid = project.uuid;
    Ok((
        JobCommand::SuspendProject {
            project: uuid.clone(),
        },
        about(&uuid),
    ))
}

/// `addAccountToProject`: by account name; invitations by `email` do not exist here.
pub(super) async fn add_account_to_project(cx: &Cx<'_>) -> Q {
    let (p, c) = (cx.p, cx.cmd);
    if p.has("email") {
        return Err(ApiError::param(
            "invitations are not supported: add the account by name (account=)",
        ));
    }
    let Some(account) = s(p, "account") else {
        return Err(ApiError::param("Either account or email must be given"));
    };
    let role = s(p, "roletype").unwrap_or_else(|| "Regular".into());
    let role = ProjectRole::parse(&role)
        .ok_or_else(|| ApiError::param(format!("Invalid roletype {role}: use Admin or Regular")))?;
    let project = cx
        .app
        .project_for(cx.caller, req(p, c, "projectid")?)
        .await?;
    Ok((
        JobCommand::AddAccountToProject {
            project: project.uuid.clone(),
            account,
            role: role.as_str().into(),
        },
        about(&project.uuid),
    ))
}

/// `deleteAccountFromProject`.
pub(super) async fn delete_account_from_project(cx: &Cx<'_>) -> Q {
    let (p, c) = (cx.p, cx.cmd);
    let project = cx
        .app
        .project_for(cx.caller, req(p, c, "projectid")?)
        .await?;
    Ok((
        JobCommand::DeleteAccountFromProject {
            project: project.uuid.clone(),
            account: req(p, c, "account")?.to_string(),
        },
        about(&project.uuid),
    ))
}

/// `listProjects`.
pub(super) async fn list_projects(cx: &Cx<'_>) -> R {
    let p = cx.p;
    let q = ProjectQuery {
        uuid: s(p, "id"),
        name: s(p, "name"),
        display_text: s(p, "displaytext"),
        state: s(p, "state"),
        keyword: s(p, "keyword"),
        owner: OwnerInput {
            account: s(p, "account"),
            domain_uuid: s(p, "domainid"),
            project_uuid: None,
        },
        recursive: p.bool_or("isrecursive", false),
        list_all: p.bool_or("listall", false),
    };
    let (items, total) = cx
        .app
        .project_list(cx.caller, &q, page_of(cx.app, p)?)
        .await?;
    let mut out = Vec::with_capacity(items.len());
    for project in &items {
        out.push(views::project_view(&cx.app.project_view(project).await?));
    }
    Ok(list("project", out, total))
}

/// `listProjectAccounts`.
pub(super) async fn list_project_accounts(cx: &Cx<'_>) -> R {
    let (p, c) = (cx.p, cx.cmd);
    let role =
        match s(p, "role") {
            Some(r) => Some(ProjectRole::parse(&r).ok_or_else(|| {
                ApiError::param(format!("Invalid role {r}: use Admin or Regular"))
            })?),
            None => None,
        };
    let project = cx
        .app
        .project_for(cx.caller, req(p, c, "projectid")?)
        .await?;
    let members = cx
        .app
        .project_member_list(cx.caller, &project.uuid, s(p, "account").as_deref(), role)
        .await?;
    let out: Vec<_> = members
        .iter()
        .map(|m| {
            json!({"projectid": project.uuid, "project": project.name, "account": m.account.name,
                   "accountid": m.account.uuid, "role": m.member.role.as_str(),
                   "domainid": m.domain_uuid, "domain": m.domain})
        })
        .collect();
    let (out, total) = crate::app::paginate(out, page_of(cx.app, p)?);
    Ok(list("projectaccount", out, total))
}
