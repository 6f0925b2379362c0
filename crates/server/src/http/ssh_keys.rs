//! SSH key pairs: `createSSHKeyPair` (the private key is in this reply only),
//! `registerSSHKeyPair`, `listSSHKeyPairs`, `deleteSSHKeyPair`.

use serde_json::Value;
use std::collections::hash_map::Entry;
use std::collections::HashMap;
use trellis_api::{ApiError, Params, Reply};
use trellis_model::entity::{Account, Domain, Project, SshKeyPair};

use super::handlers::*;
use super::views;
use crate::app::ssh_keys::{OwnerInput, SshKeyPairQuery};
use crate::app::App;

fn owner_of(p: &Params) -> OwnerInput {
    OwnerInput {
        account: s(p, "account"),
        domain_uuid: s(p, "domainid"),
        project_uuid: s(p, "projectid"),
    }
}

/// Owners' accounts and domains, each looked up once per reply.
#[derive(Default)]
struct Owners {
    accounts: HashMap<i64, Option<Account>>,
    domains: HashMap<i64, Option<Domain>>,
    projects: HashMap<i64, Option<Project>>,
}

impl Owners {
    async fn view(
        &mut self,
        app: &App,
        k: &SshKeyPair,
        private_key: Option<&str>,
    ) -> Result<Value, ApiError> {
        if let Entry::Vacant(slot) = self.accounts.entry(k.account_id) {
            slot.insert(app.reads().account_get(k.account_id).await?);
        }
        if let Entry::Vacant(slot) = self.domains.entry(k.domain_id) {
            slot.insert(app.reads().domain_get(k.domain_id).await?);
        }
        if let Entry::Vacant(slot) = self.projects.entry(k.account_id) {
            slot.insert(app.project_of_account(k.account_id).await?);
        }
        let account = self.accounts.get(&k.account_id).and_then(Option::as_ref);
        let domain = self.domains.get(&k.domain_id).and_then(Option::as_ref);
        let mut v = views::ssh_keypair(k, account, domain, private_key);
        if let (Some(Some(p)), Some(obj)) = (self.projects.get(&k.account_id), v.as_object_mut()) {
            obj.insert("projectid".into(), Value::String(p.uuid.clone()));
            obj.insert("project".into(), Value::String(p.name.clone()));
        }
        Ok(v)
    }
}

/// `createSSHKeyPair`.
pub(super) async fn create_ssh_key_pair(cx: &Cx<'_>) -> R {
    let (p, c) = (cx.p, cx.cmd);
    let generated = cx
        .app
        .ssh_keypair_create(cx.caller, &owner_of(p), req(p, c, "name")?)
        .await?;
    let value = Owners::default()
        .view(cx.app, &generated.keypair, Some(&generated.private_key))
        .await?;
    Ok(Reply::Object {
        object: "keypair",
        value,
    })
}

/// `registerSSHKeyPair`.
pub(super) async fn register_ssh_key_pair(cx: &Cx<'_>) -> R {
    let (p, c) = (cx.p, cx.cmd);
    let keypair = cx
        .app
        .ssh_keypair_register(
            cx.caller,
            &owner_of(p),
            req(p, c, "name")?,
            req(p, c, "publickey")?,
        )
        .await?;
    let value = Owners::default().view(cx.app, &keypair, None).await?;
    Ok(Reply::Object {
        object: "keypair",
        value,
    })
}

/// `listSSHKeyPairs`.
pub(super) async fn list_ssh_key_pairs(cx: &Cx<'_>) -> R {
    let p = cx.p;
    let query = SshKeyPairQuery {
        uuid: s(p, "id"),
        name: s(p, "name"),
        fingerprint: s(p, "fingerprint"),
        keyword: s(p, "keyword"),
        owner: owner_of(p),
        recursive: p.bool_or("isrecursive", false),
        list_all: p.bool_or("listall", false),
    };
    let (items, total) = cx
        .app
        .ssh_keypair_list(cx.caller, &query, page_of(cx.app, p)?)
        .await?;
    let mut owners = Owners::default();
    let mut out = Vec::with_capacity(items.len());
    for k in &items {
        out.push(owners.view(cx.app, k, None).await?);
    }
    Ok(list("sshkeypair", out, total))
}

/// `deleteSSHKeyPair`.
pub(super) async fn delete_ssh_key_pair(cx: &Cx<'_>) -> R {
    let (p, c) = (cx.p, cx.cmd);
    cx.app
        .ssh_keypair_delete(cx.caller, &owner_of(p), req(p, c, "name")?)
        .await?;
    Ok(Reply::Success { displaytext: None })
}
