//! Domains, accounts, users, roles and API keys (`login`/`logout` are answered by the router before
//! authentication).

use serde_json::json;
use trellis_api::Reply;

use crate::app::identity::{AccountCreateParams, UserCreateParams};
use crate::app::reads::{IdentityFilter, Page};
use crate::app::tenancy::{AccountRef, AccountUpdate, UserUpdate};
use trellis_model::account::AccountState;

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
        out.push(views::domain_view(app, d, parent, has_child).await?);
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
        .domain_create(
            caller,
            req(p, cmd, "name")?,
            p.str("parentdomainid"),
            p.str("networkdomain"),
        )
        .await?;
    let parent = match d.parent_id {
        Some(pid) => app.reads().domain_get(pid).await?,
        None => None,
    };
    Ok(Reply::Object {
        object: "domain",
        value: views::domain_view(app, &d, parent.as_ref(), false).await?,
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
        timezone: s(p, "timezone"),
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
        timezone: s(p, "timezone"),
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

/// `updateUser`.
pub(super) async fn update_user(cx: &Cx<'_>) -> R {
    let p = cx.p;
    let u = UserUpdate {
        username: s(p, "username"),
        password: s(p, "password"),
        current_password: s(p, "currentpassword"),
        firstname: s(p, "firstname"),
        lastname: s(p, "lastname"),
        email: s(p, "email"),
        timezone: s(p, "timezone"),
        api_key: s(p, "userapikey"),
        secret_key: s(p, "usersecretkey"),
    };
    let user = cx
        .app
        .user_update(cx.caller, req(p, cx.cmd, "id")?, u)
        .await?;
    Ok(Reply::Object {
        object: "user",
        value: user_view(cx.app, &user).await?,
    })
}

/// `deleteUser`.
pub(super) async fn delete_user(cx: &Cx<'_>) -> R {
    cx.app
        .user_delete(cx.caller, req(cx.p, cx.cmd, "id")?)
        .await?;
    Ok(Reply::Success { displaytext: None })
}

async fn user_state(cx: &Cx<'_>, state: AccountState) -> R {
    let user = cx
        .app
        .user_set_state(cx.caller, req(cx.p, cx.cmd, "id")?, state)
        .await?;
    Ok(Reply::Object {
        object: "user",
        value: user_view(cx.app, &user).await?,
    })
}

/// `enableUser`.
pub(super) async fn enable_user(cx: &Cx<'_>) -> R {
    user_state(cx, AccountState::Enabled).await
}

/// `lockUser`.
pub(super) async fn lock_user(cx: &Cx<'_>) -> R {
    user_state(cx, AccountState::Locked).await
}

/// `disableUser`: checked now, disabled by the job.
pub(super) async fn disable_user(cx: &Cx<'_>) -> Q {
    let u = cx
        .app
        .user_check_state(cx.caller, req(cx.p, cx.cmd, "id")?, AccountState::Disabled)
        .await?;
    Ok((
        JobCommand::DisableUser {
            user: u.uuid.clone(),
        },
        Some(("User".into(), u.uuid)),
    ))
}

fn account_ref(p: &trellis_api::Params) -> AccountRef {
    AccountRef {
        uuid: s(p, "id"),
        name: s(p, "account"),
        domain_uuid: s(p, "domainid"),
    }
}

async fn account_reply(cx: &Cx<'_>, a: &trellis_model::entity::Account) -> R {
    Ok(Reply::Object {
        object: "account",
        value: account_view(cx.app, a).await?,
    })
}

/// `updateAccount`.
pub(super) async fn update_account(cx: &Cx<'_>) -> R {
    let p = cx.p;
    let u = AccountUpdate {
        new_name: s(p, "newname"),
        role_uuid: s(p, "roleid"),
        network_domain: p.str("networkdomain").map(str::to_string),
    };
    let a = cx.app.account_update(cx.caller, &account_ref(p), u).await?;
    account_reply(cx, &a).await
}

/// `enableAccount`.
pub(super) async fn enable_account(cx: &Cx<'_>) -> R {
    let a = cx
        .app
        .account_set_state(cx.caller, &account_ref(cx.p), AccountState::Enabled)
        .await?;
    account_reply(cx, &a).await
}

/// `lockAccount`.
pub(super) async fn lock_account(cx: &Cx<'_>) -> R {
    let a = cx
        .app
        .account_set_state(cx.caller, &account_ref(cx.p), AccountState::Locked)
        .await?;
    account_reply(cx, &a).await
}

/// `disableAccount`: checked now; the job locks or disables the account (and with
/// `lock=false` stops its instances).
pub(super) async fn disable_account(cx: &Cx<'_>) -> Q {
    let (a, _) = cx
        .app
        .account_check_suspend(cx.caller, &account_ref(cx.p))
        .await?;
    Ok((
        JobCommand::DisableAccount {
            account: a.uuid.clone(),
            lock: cx.p.bool_or("lock", false),
        },
        Some(("Account".into(), a.uuid)),
    ))
}

async fn domain_reply(cx: &Cx<'_>, d: &trellis_model::entity::Domain) -> R {
    let (all, _) = cx
        .app
        .reads()
        .domain_list(None, None, None, Page::all())
        .await?;
    let parent = d.parent_id.and_then(|pid| all.iter().find(|x| x.id == pid));
    let has_child = all.iter().any(|x| x.parent_id == Some(d.id));
    Ok(Reply::Object {
        object: "domain",
        value: views::domain_view(cx.app, d, parent, has_child).await?,
    })
}

/// `updateDomain`.
pub(super) async fn update_domain(cx: &Cx<'_>) -> R {
    let p = cx.p;
    let d = cx
        .app
        .domain_update(
            cx.caller,
            req(p, cx.cmd, "id")?,
            p.str("name"),
            p.str("networkdomain"),
        )
        .await?;
    domain_reply(cx, &d).await
}

/// `deleteDomain`: checked now, emptied and removed by the job.
pub(super) async fn delete_domain(cx: &Cx<'_>) -> Q {
    let cleanup = cx.p.bool_or("cleanup", false);
    let d = cx
        .app
        .domain_check_delete(cx.caller, req(cx.p, cx.cmd, "id")?, cleanup)
        .await?;
    Ok((
        JobCommand::DeleteDomain {
            domain: d.uuid.clone(),
            cleanup,
        },
        Some(("Domain".into(), d.uuid)),
    ))
}

/// `listDomainChildren`.
pub(super) async fn list_domain_children(cx: &Cx<'_>) -> R {
    let app = cx.app;
    let p = cx.p;
    let (items, total) = app
        .domain_children(
            cx.caller,
            p.str("id"),
            p.str("name"),
            p.str("keyword"),
            p.bool_or("isrecursive", false),
            page_of(app, p)?,
        )
        .await?;
    let (all, _) = app
        .reads()
        .domain_list(None, None, None, Page::all())
        .await?;
    let mut out = Vec::with_capacity(items.len());
    for d in &items {
        let parent = d.parent_id.and_then(|pid| all.iter().find(|x| x.id == pid));
        let has_child = all.iter().any(|x| x.parent_id == Some(d.id));
        out.push(views::domain_view(app, d, parent, has_child).await?);
    }
    Ok(list("domain", out, total))
}
