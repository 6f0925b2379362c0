//! Domains, accounts, users, roles and API keys (`login`/`logout` are answered by the router before
//! authentication).

use serde_json::{json, Value};
use trellis_api::Reply;

use crate::app::identity::{AccountCreateParams, UserCreateParams};
use crate::app::reads::{IdentityFilter, Page};

use super::handlers::*;
use super::views::{self, *};
use crate::app::job::JobCommand;

/// `listDomains`.
pub(super) async fn list_domains(cx: &Cx<'_>) -> R {
    let app = cx.app;
    let caller = cx.caller;
    let p = cx.p;
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
        .reads()
        .domain_list(None, None, None, Page::all())
        .await?;
    for d in &items {
        let parent = d.parent_id.and_then(|pid| all.iter().find(|x| x.id == pid));
        let has_child = all.iter().any(|x| x.parent_id == Some(d.id));
        out.push(views::domain(d, parent, has_child));
    }
    Ok(list("domain", out, total))
}

/// `createDomain`.
pub(super) async fn create_domain(cx: &Cx<'_>) -> R {
    let app = cx.app;
    let caller = cx.caller;
    let cmd = cx.cmd;
    let p = cx.p;
    let d = app
        .domain_create(caller, req(p, cmd, "name")?, p.str("parentdomainid"))
        .await?;
    let parent = match d.parent_id {
        Some(pid) => app.reads().domain_get(pid).await?,
        None => None,
    };
    Ok(Reply::Object {
        object: "domain",
        value: views::domain(&d, parent.as_ref(), false),
    })
}

/// `listAccounts`.
pub(super) async fn list_accounts(cx: &Cx<'_>) -> R {
    let app = cx.app;
    let caller = cx.caller;
    let p = cx.p;
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

/// `createAccount`.
pub(super) async fn create_account(cx: &Cx<'_>) -> R {
    let app = cx.app;
    let caller = cx.caller;
    let cmd = cx.cmd;
    let p = cx.p;
    let params = AccountCreateParams {
        username: req(p, cmd, "username")?.into(),
        password: req(p, cmd, "password")?.into(),
        email: req(p, cmd, "email")?.into(),
        firstname: req(p, cmd, "firstname")?.into(),
        lastname: req(p, cmd, "lastname")?.into(),
        account_name: s(p, "account"),
        account_type: p.int("accounttype"),
        role_uuid: s(p, "roleid"),
        domain_uuid: s(p, "domainid"),
    };
    let (a, _) = app.account_create(caller, params).await?;
    Ok(Reply::Object {
        object: "account",
        value: account_view(app, &a).await?,
    })
}

/// `listUsers`.
pub(super) async fn list_users(cx: &Cx<'_>) -> R {
    let app = cx.app;
    let caller = cx.caller;
    let p = cx.p;
    let account_id = match (p.str("account"), domain_id_of(app, p).await?) {
        (Some(name), Some(did)) => app
            .reads()
            .account_by_name(did, name)
            .await?
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

/// `createUser`.
pub(super) async fn create_user(cx: &Cx<'_>) -> R {
    let app = cx.app;
    let caller = cx.caller;
    let cmd = cx.cmd;
    let p = cx.p;
    let params = UserCreateParams {
        account_name: req(p, cmd, "account")?.into(),
        username: req(p, cmd, "username")?.into(),
        password: req(p, cmd, "password")?.into(),
        email: req(p, cmd, "email")?.into(),
        firstname: req(p, cmd, "firstname")?.into(),
        lastname: req(p, cmd, "lastname")?.into(),
        domain_uuid: s(p, "domainid"),
    };
    let u = app.user_create(caller, params).await?;
    Ok(Reply::Object {
        object: "user",
        value: user_view(app, &u).await?,
    })
}

/// `registerUserKeys`.
pub(super) async fn register_user_keys(cx: &Cx<'_>) -> R {
    let app = cx.app;
    let caller = cx.caller;
    let cmd = cx.cmd;
    let p = cx.p;
    let (k, sk) = app.user_register_keys(caller, req(p, cmd, "id")?).await?;
    Ok(Reply::Object {
        object: "userkeys",
        value: json!({"apikey": k, "secretkey": sk}),
    })
}

/// `getUserKeys`.
pub(super) async fn get_user_keys(cx: &Cx<'_>) -> R {
    let app = cx.app;
    let caller = cx.caller;
    let cmd = cx.cmd;
    let p = cx.p;
    let (k, sk) = app.user_get_keys(caller, req(p, cmd, "id")?).await?;
    Ok(Reply::Object {
        object: "userkeys",
        value: json!({"apikey": k, "secretkey": sk}),
    })
}

/// `getUser`: the user owning an API key, among the users the caller may manage (itself, its
/// domain's users for a domain admin, everyone for a root admin). Any other key reads as unknown.
pub(super) async fn get_user(cx: &Cx<'_>) -> R {
    let app = cx.app;
    let u = app
        .user_by_api_key(cx.caller, req(cx.p, cx.cmd, "userapikey")?)
        .await?;
    Ok(Reply::Object {
        object: "user",
        value: user_view(app, &u).await?,
    })
}

/// `listRoles`.
pub(super) async fn list_roles(cx: &Cx<'_>) -> R {
    let app = cx.app;
    let p = cx.p;
    let roles = app
        .role_list(p.str("id"), p.str("name"), p.str("type"))
        .await?;
    let items: Vec<Value> = roles.iter().map(views::role).collect();
    let n = items.len() as i64;
    Ok(list("role", items, n))
}

/// `listLdapConfigurations`.
pub(super) async fn list_ldap_configurations(_cx: &Cx<'_>) -> R {
    Ok(list("LdapConfiguration", vec![], 0))
}

/// `deleteAccount`.
pub(super) async fn delete_account(cx: &Cx<'_>) -> Q {
    let app = cx.app;
    let caller = cx.caller;
    let cmd = cx.cmd;
    let p = cx.p;
    let a = app.account_check_delete(caller, req(p, cmd, "id")?).await?;
    Ok((
        JobCommand::DeleteAccount {
            account: a.uuid.clone(),
        },
        Some(("Account".into(), a.uuid)),
    ))
}
