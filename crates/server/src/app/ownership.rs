//! Who owns an account-owned resource (key pairs, affinity groups, instances deployed for
//! others), and which owners a listing covers: CloudStack's `account` + `domainid` rules.
//!
//! * Creating: the caller's own account, or, with `account` and `domainid` together, that
//!   account when the caller administers its domain.
//! * Listing: one's own resources; with `listall`, an administrator's domain subtree
//!   (everything for the root administrator); `domainid` narrows to one domain (its subtree
//!   with `isrecursive`); `account` + `domainid` to one account.
//!
//! * Projects: `projectid` makes the project's account the owner (the caller must be a member,
//!   or administer the project's domain) and lists that project's resources; `projectid=-1`
//!   lists the resources of every project the caller is a member of (every project of an
//!   administrator's subtree). Without `projectid`, project resources are never listed.

use trellis_model::entity::{Account, Domain};
use trellis_model::project::ProjectState;
use trellis_model::{Error, Result, RoleType};

use super::{App, Caller};

/// An owner as a request names it: the caller, or (for administrators) `account` in
/// `domainid`.
#[derive(Debug, Clone, Default)]
pub struct OwnerInput {
    pub account: Option<String>,
    pub domain_uuid: Option<String>,
    pub project_uuid: Option<String>,
}

/// The owners a listing covers, as store filters: at most one of the first four is set, or
/// none for everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OwnerScope {
    pub account_id: Option<i64>,
    pub domain_id: Option<i64>,
    pub domain_path: Option<String>,
    /// `projectid=-1`: the project accounts of the caller's projects.
    pub account_ids: Option<Vec<i64>>,
    /// Leave project-owned resources out (no `projectid` given).
    pub exclude_projects: bool,
}

/// May `caller` act on resources of accounts in `domain`? Root administrators anywhere,
/// domain and resource administrators in their domain and below.
pub fn administers(caller: &Caller, domain: &Domain) -> bool {
    match caller.role_type() {
        RoleType::Admin => true,
        RoleType::DomainAdmin | RoleType::ResourceAdmin => {
            domain.path.starts_with(&caller.domain.path)
        }
        RoleType::User => false,
    }
}

impl App {
    pub(crate) async fn owner_domain(&self, uuid: &str) -> Result<Domain> {
        self.store
            .domain_by_uuid(uuid)
            .await?
            .ok_or_else(|| Error::invalid_param(format!("Unable to find domain by id {uuid}")))
    }

    /// The account named by `account` + `domainid`, which the caller must be or administer.
    pub(crate) async fn owner_account_named(
        &self,
        caller: &Caller,
        name: &str,
        domain_uuid: &str,
    ) -> Result<Account> {
        let domain = self.owner_domain(domain_uuid).await?;
        let account = self
            .store
            .account_by_name(domain.id, name)
            .await?
            .ok_or_else(|| {
                Error::invalid_param(format!(
                    "Unable to find account {name} in domain {}",
                    domain.name
                ))
            })?;
        if account.id != caller.account.id && !administers(caller, &domain) {
            return Err(Error::denied(format!(
                "Account {} does not have permission to access account {name} in domain {}",
                caller.account.name, domain.name
            )));
        }
        Ok(account)
    }

    /// The owner of a resource to create or delete.
    pub(crate) async fn owner_account(
        &self,
        caller: &Caller,
        owner: &OwnerInput,
    ) -> Result<Account> {
        if let Some(uuid) = &owner.project_uuid {
            if owner.account.is_some() {
                return Err(Error::invalid_param(
                    "projectid and account cannot be given together",
                ));
            }
            let project = self.project_for(caller, uuid).await?;
            if project.state != ProjectState::Active {
                return Err(Error::invalid_state(format!(
                    "Project {} is {}: it cannot own new resources",
                    project.name,
                    project.state.as_str()
                )));
            }
            return self
                .store
                .account_get(project.account_id)
                .await?
                .ok_or_else(|| Error::internal("project without its account"));
        }
        match (&owner.account, &owner.domain_uuid) {
            (None, None) => Ok(caller.account.clone()),
            (Some(name), Some(domain)) => self.owner_account_named(caller, name, domain).await,
            _ => Err(Error::invalid_param(
                "account and domainid must be given together",
            )),
        }
    }

    /// The owners a listing by `caller` covers.
    pub(crate) async fn owner_scope(
        &self,
        caller: &Caller,
        owner: &OwnerInput,
        recursive: bool,
        list_all: bool,
    ) -> Result<OwnerScope> {
        let mut scope = OwnerScope::default();
        match owner.project_uuid.as_deref() {
            Some("-1") => {
                scope.account_ids = Some(self.project_accounts_visible(caller).await?);
                return Ok(scope);
            }
            Some(uuid) => {
                scope.account_id = Some(self.project_for(caller, uuid).await?.account_id);
                return Ok(scope);
            }
            None => scope.exclude_projects = true,
        }
        match (&owner.account, &owner.domain_uuid) {
            (Some(name), Some(domain)) => {
                scope.account_id = Some(self.owner_account_named(caller, name, domain).await?.id);
            }
            (Some(_), None) => {
                return Err(Error::invalid_param(
                    "account and domainid must be given together",
                ))
            }
            (None, Some(uuid)) => {
                let domain = self.owner_domain(uuid).await?;
                if administers(caller, &domain) {
                    if recursive {
                        scope.domain_path = Some(domain.path);
                    } else {
                        scope.domain_id = Some(domain.id);
                    }
                } else if domain.id == caller.domain.id {
                    scope.account_id = Some(caller.account.id);
                } else {
                    return Err(Error::denied(format!(
                        "Account {} does not have permission to access domain {}",
                        caller.account.name, domain.name
                    )));
                }
            }
            (None, None) => {
                if list_all && administers(caller, &caller.domain) {
                    if !caller.is_root_admin() {
                        scope.domain_path = Some(caller.domain.path.clone());
                    }
                } else {
                    scope.account_id = Some(caller.account.id);
                }
            }
        }
        Ok(scope)
    }
}
