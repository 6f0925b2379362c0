//! The life of users, accounts and domains after their creation: `updateUser`, `deleteUser`,
//! `disableUser`/`enableUser`/`lockUser`, `updateAccount`, `disableAccount`/`enableAccount`/
//! `lockAccount`, `updateDomain`, `deleteDomain`, `listDomainChildren`.
//!
//! Who may act: a root administrator on anyone; a domain administrator on the users, accounts and
//! domains strictly below its own domain (never on administrator accounts); a user only on
//! itself (`updateUser`). Nobody disables, locks or deletes itself or the last enabled root
//! administrator. A user or account that is no longer enabled loses its sessions in the same
//! transaction, and its API keys stop verifying at the next request on every server (the key
//! cache is only kept where this server is the database's sole writer).

use trellis_model::account::AccountState;
use trellis_model::entity::{Account, Domain, User};
use trellis_model::instance::VmState;
use trellis_model::{time::now_millis, Error, Result, RoleType};
use trellis_store::{InstanceFilter, Page, UserChanges};

use super::auth::{hash_password, verify_password};
use super::identity::paginate;
use super::{App, Caller};

/// Input of `updateUser`; `None` leaves a field unchanged.
#[derive(Debug, Clone, Default)]
pub struct UserUpdate {
    pub username: Option<String>,
    pub password: Option<String>,
    pub current_password: Option<String>,
    pub firstname: Option<String>,
    pub lastname: Option<String>,
    pub email: Option<String>,
    pub timezone: Option<String>,
    pub api_key: Option<String>,
    pub secret_key: Option<String>,
}

/// How `updateAccount`, `disableAccount`, `enableAccount` and `lockAccount` name their account:
/// `id`, or `account` with `domainid`.
#[derive(Debug, Clone, Default)]
pub struct AccountRef {
    pub uuid: Option<String>,
    pub name: Option<String>,
    pub domain_uuid: Option<String>,
}

/// Input of `updateAccount`.
#[derive(Debug, Clone, Default)]
pub struct AccountUpdate {
    pub new_name: Option<String>,
    pub role_uuid: Option<String>,
    pub network_domain: Option<String>,
}

fn is_system_admin(a: &Account, d: &Domain) -> bool {
    d.path == "/" && a.name == "admin"
}

fn not_blank(what: &str, v: &Option<String>) -> Result<()> {
    match v {
        Some(s) if s.trim().is_empty() => {
            Err(Error::invalid_param(format!("{what} must not be empty")))
        }
        _ => Ok(()),
    }
}

impl App {
    /// The account and domain of a user.
    async fn user_home(&self, u: &User) -> Result<(Account, Domain)> {
        let a = self
            .store
            .account_get(u.account_id)
            .await?
            .ok_or_else(|| Error::internal("user without account"))?;
        let d = self
            .store
            .domain_get(a.domain_id)
            .await?
            .ok_or_else(|| Error::internal("account without domain"))?;
        Ok((a, d))
    }

    /// May `caller` administer accounts of `domain` with role type `rt`? Root administrators
    /// may; domain administrators below their own domain, and never administrator accounts.
    fn may_administer(&self, caller: &Caller, domain: &Domain, rt: RoleType) -> Result<()> {
        if caller.is_root_admin() {
            return Ok(());
        }
        let below = caller.role_type() == RoleType::DomainAdmin
            && domain.path.starts_with(&caller.domain.path);
        if below && !matches!(rt, RoleType::Admin | RoleType::ResourceAdmin) {
            return Ok(());
        }
        Err(Error::denied(format!(
            "Account {} does not have permission to operate within domain id={}",
            caller.account.name, domain.uuid
        )))
    }

    async fn role_type_of(&self, a: &Account) -> Result<RoleType> {
        Ok(self
            .store
            .role_get(a.role_id)
            .await?
            .ok_or_else(|| Error::internal("account without role"))?
            .role_type)
    }

    /// A live user the caller may administer (not merely itself).
    async fn user_to_administer(&self, caller: &Caller, uuid: &str) -> Result<(User, Account)> {
        let u = self
            .store
            .user_by_uuid(uuid)
            .await?
            .ok_or_else(|| Error::not_found(format!("Unable to find user by id {uuid}")))?;
        let (a, d) = self.user_home(&u).await?;
        self.may_administer(caller, &d, self.role_type_of(&a).await?)?;
        Ok((u, a))
    }

    /// Refuse when taking `user` (or the whole `account`) out would leave no enabled root
    /// administrator.
    async fn keep_a_root_admin(&self, user: Option<&User>, account: &Account) -> Result<()> {
        if self.role_type_of(account).await? != RoleType::Admin {
            return Ok(());
        }
        let remaining = self
            .store
            .root_admins_remaining(user.map(|u| u.id), user.is_none().then_some(account.id))
            .await?;
        if remaining == 0 {
            return Err(Error::invalid_param(
                "This would leave no enabled root administrator: enable or create another first",
            ));
        }
        Ok(())
    }

    /// `updateUser`.
    pub async fn user_update(&self, caller: &Caller, uuid: &str, u: UserUpdate) -> Result<User> {
        let target = self
            .store
            .user_by_uuid(uuid)
            .await?
            .ok_or_else(|| Error::not_found(format!("Unable to find user by id {uuid}")))?;
        let (account, domain) = self.user_home(&target).await?;
        let itself = target.id == caller.user.id;
        if !itself {
            self.may_administer(caller, &domain, self.role_type_of(&account).await?)?;
        }
        for (what, v) in [
            ("username", &u.username),
            ("firstname", &u.firstname),
            ("lastname", &u.lastname),
            ("password", &u.password),
        ] {
            not_blank(what, v)?;
        }
        let mut changes = UserChanges {
            firstname: u.firstname,
            lastname: u.lastname,
            email: u.email,
            timezone: u.timezone,
            ..Default::default()
        };
        if let Some(name) = u.username.filter(|n| *n != target.username) {
            if self
                .store
                .user_by_username(domain.id, &name)
                .await?
                .is_some()
            {
                return Err(Error::invalid_param(format!(
                    "The user {name} already exists in domain {}",
                    domain.name
                )));
            }
            changes.username = Some(name);
        }
        if let Some(password) = u.password.as_deref() {
            // A non-root user changing its own password proves it knows the current one.
            match u.current_password.as_deref() {
                Some(current) if !verify_password(current, &target.password_hash) => {
                    return Err(Error::invalid_param("Current password is incorrect"));
                }
                None if itself && !caller.is_root_admin() => {
                    return Err(Error::invalid_param(
                        "To set a new password the current password must be provided",
                    ));
                }
                _ => {}
            }
            changes.password_hash = Some(hash_password(password)?);
        } else if u.current_password.is_some() {
            return Err(Error::invalid_param(
                "currentpassword is only taken together with password",
            ));
        }
        match (u.api_key, u.secret_key) {
            (None, None) => {}
            (Some(k), Some(s)) => {
                if k.trim().is_empty() || s.trim().is_empty() {
                    return Err(Error::invalid_param(
                        "userapikey and usersecretkey must not be empty",
                    ));
                }
                if let Some(owner) = self.store.user_by_api_key(&k).await? {
                    if owner.id != target.id {
                        return Err(Error::invalid_param(
                            "The API key is already in use by another user",
                        ));
                    }
                }
                changes.keys = Some((k, s));
            }
            _ => {
                return Err(Error::invalid_param(
                    "Please provide a userApiKey/userSecretKey pair",
                ))
            }
        }
        let keys_or_password = changes.keys.is_some() || changes.password_hash.is_some();
        let updated = self
            .store
            .user_update(target.id, &changes)
            .await?
            .ok_or_else(|| Error::not_found(format!("Unable to find user by id {uuid}")))?;
        if keys_or_password {
            self.auth_cache_clear();
        }
        self.event(
            Some(caller),
            "USER.UPDATE",
            &format!("User {} updated", updated.username),
            Some(("User", &updated.uuid)),
        )
        .await;
        Ok(updated)
    }

    /// The checks of `disableUser`, `enableUser` and `lockUser` (also made when the request
    /// is taken, before `disableUser` is queued).
    pub async fn user_check_state(
        &self,
        caller: &Caller,
        uuid: &str,
        state: AccountState,
    ) -> Result<User> {
        let (target, account) = self.user_to_administer(caller, uuid).await?;
        if target.id == caller.user.id {
            return Err(Error::invalid_param(format!(
                "A user cannot change its own state to {}",
                state.as_str()
            )));
        }
        if !state.is_enabled() && target.state.is_enabled() {
            self.keep_a_root_admin(Some(&target), &account).await?;
        }
        Ok(target)
    }

    /// `disableUser`, `enableUser`, `lockUser`.
    pub async fn user_set_state(
        &self,
        caller: &Caller,
        uuid: &str,
        state: AccountState,
    ) -> Result<User> {
        let target = self.user_check_state(caller, uuid, state).await?;
        let updated = self
            .store
            .user_set_state(target.id, state)
            .await?
            .ok_or_else(|| Error::not_found(format!("Unable to find user by id {uuid}")))?;
        self.auth_cache_clear();
        let (kind, verb) = match state {
            AccountState::Enabled => ("USER.ENABLE", "enabled"),
            AccountState::Disabled => ("USER.DISABLE", "disabled"),
            AccountState::Locked => ("USER.LOCK", "locked"),
        };
        self.event(
            Some(caller),
            kind,
            &format!("User {} {verb}", updated.username),
            Some(("User", &updated.uuid)),
        )
        .await;
        Ok(updated)
    }

    /// `deleteUser`: the user, its keys and sessions go; the account's resources stay.
    pub async fn user_delete(&self, caller: &Caller, uuid: &str) -> Result<()> {
        let (target, account) = self.user_to_administer(caller, uuid).await?;
        if target.id == caller.user.id {
            return Err(Error::invalid_param(
                "The caller is requesting to delete itself: this is not allowed",
            ));
        }
        let domain = self
            .store
            .domain_get(account.domain_id)
            .await?
            .ok_or_else(|| Error::internal("account without domain"))?;
        if is_system_admin(&account, &domain) && target.username == "admin" {
            return Err(Error::invalid_param(
                "The system admin user cannot be deleted",
            ));
        }
        if target.state.is_enabled() {
            self.keep_a_root_admin(Some(&target), &account).await?;
        }
        self.store.user_delete(target.id, now_millis()).await?;
        self.auth_cache_clear();
        self.event(
            Some(caller),
            "USER.DELETE",
            &format!("User {} deleted", target.username),
            Some(("User", &target.uuid)),
        )
        .await;
        Ok(())
    }

    /// The account an `AccountRef` names, if the caller may administer it.
    pub async fn account_to_administer(
        &self,
        caller: &Caller,
        r: &AccountRef,
    ) -> Result<(Account, Domain)> {
        let account = match (&r.uuid, &r.name, &r.domain_uuid) {
            (Some(u), _, _) => self
                .store
                .account_by_uuid(u)
                .await?
                .ok_or_else(|| Error::not_found(format!("Unable to find account by id {u}")))?,
            (None, Some(name), Some(d)) => {
                let domain =
                    self.store.domain_by_uuid(d).await?.ok_or_else(|| {
                        Error::not_found(format!("Unable to find domain by id {d}"))
                    })?;
                self.store
                    .account_by_name(domain.id, name)
                    .await?
                    .ok_or_else(|| {
                        Error::not_found(format!(
                            "Unable to find account {name} in domain {}",
                            domain.name
                        ))
                    })?
            }
            _ => {
                return Err(Error::invalid_param(
                    "Either id or account and domainid must be specified",
                ))
            }
        };
        let domain = self
            .store
            .domain_get(account.domain_id)
            .await?
            .ok_or_else(|| Error::internal("account without domain"))?;
        self.may_administer(caller, &domain, self.role_type_of(&account).await?)?;
        Ok((account, domain))
    }

    /// `updateAccount`.
    pub async fn account_update(
        &self,
        caller: &Caller,
        r: &AccountRef,
        u: AccountUpdate,
    ) -> Result<Account> {
        let (account, domain) = self.account_to_administer(caller, r).await?;
        not_blank("newname", &u.new_name)?;
        let new_name = u.new_name.filter(|n| *n != account.name);
        if let Some(name) = &new_name {
            if is_system_admin(&account, &domain) {
                return Err(Error::invalid_param(
                    "The system admin account cannot be renamed",
                ));
            }
            if self.store.account_by_name(domain.id, name).await?.is_some() {
                return Err(Error::invalid_param(format!(
                    "The account {name} already exists in domain {}",
                    domain.name
                )));
            }
        }
        let role_id = match u.role_uuid.as_deref() {
            None => None,
            Some(ru) => {
                let role = self
                    .store
                    .role_list()
                    .await?
                    .into_iter()
                    .find(|x| x.uuid == ru)
                    .ok_or_else(|| Error::not_found(format!("Unable to find role by id {ru}")))?;
                if !caller.is_root_admin() && !role.is_public {
                    return Err(Error::denied(format!(
                        "Role {} is private: only root administrators may assign it",
                        role.name
                    )));
                }
                let current = self.role_type_of(&account).await?;
                if role.role_type != current {
                    return Err(Error::invalid_param(format!(
                        "The role {} is of type {}, the account's role is of type {}: only a role of the same type can be assigned",
                        role.name,
                        role.role_type.as_str(),
                        current.as_str()
                    )));
                }
                Some(role.id)
            }
        };
        let updated = self
            .store
            .account_update(
                account.id,
                new_name.as_deref(),
                role_id,
                u.network_domain.as_deref(),
            )
            .await?
            .ok_or_else(|| {
                Error::not_found(format!("Unable to find account by id {}", account.uuid))
            })?;
        self.auth_cache_clear();
        self.event(
            Some(caller),
            "ACCOUNT.UPDATE",
            &format!("Account {} updated", updated.name),
            Some(("Account", &updated.uuid)),
        )
        .await;
        Ok(updated)
    }

    /// Request-time checks of `disableAccount` and `lockAccount`.
    pub async fn account_check_suspend(
        &self,
        caller: &Caller,
        r: &AccountRef,
    ) -> Result<(Account, Domain)> {
        let (account, domain) = self.account_to_administer(caller, r).await?;
        if account.id == caller.account.id {
            return Err(Error::invalid_param(
                "The caller's own account cannot be disabled or locked",
            ));
        }
        if is_system_admin(&account, &domain) {
            return Err(Error::invalid_param(
                "The system admin account cannot be disabled or locked",
            ));
        }
        self.keep_a_root_admin(None, &account).await?;
        Ok((account, domain))
    }

    /// `enableAccount` and `lockAccount`, and the first step of `disableAccount`.
    pub async fn account_set_state(
        &self,
        caller: &Caller,
        r: &AccountRef,
        state: AccountState,
    ) -> Result<Account> {
        let account = if state.is_enabled() {
            self.account_to_administer(caller, r).await?.0
        } else {
            self.account_check_suspend(caller, r).await?.0
        };
        let updated = self
            .store
            .account_set_state(account.id, state)
            .await?
            .ok_or_else(|| {
                Error::not_found(format!("Unable to find account by id {}", account.uuid))
            })?;
        self.auth_cache_clear();
        let kind = match state {
            AccountState::Enabled => "ACCOUNT.ENABLE",
            AccountState::Disabled => "ACCOUNT.DISABLE",
            AccountState::Locked => "ACCOUNT.LOCK",
        };
        self.event(
            Some(caller),
            kind,
            &format!("Account {} {}", updated.name, state.as_str()),
            Some(("Account", &updated.uuid)),
        )
        .await;
        Ok(updated)
    }

    /// `disableAccount`, the job. `lock=true` locks the account (its users cannot log in, its
    /// instances keep running); `lock=false` disables it and stops every running instance of
    /// it through the extension. A stop that fails fails the job, with the account left
    /// disabled and the instances that could not be stopped named.
    pub async fn account_disable(
        &self,
        caller: &Caller,
        uuid: &str,
        lock: bool,
    ) -> Result<Account> {
        let r = AccountRef {
            uuid: Some(uuid.to_string()),
            ..Default::default()
        };
        if lock {
            return self
                .account_set_state(caller, &r, AccountState::Locked)
                .await;
        }
        let account = self
            .account_set_state(caller, &r, AccountState::Disabled)
            .await?;
        let f = InstanceFilter {
            account_id: Some(account.id),
            ..InstanceFilter::default()
        };
        let (instances, _) = self.store.instance_list(&f, Page::all()).await?;
        let mut failed = Vec::new();
        for inst in instances.iter().filter(|i| {
            matches!(
                i.state,
                VmState::Running | VmState::Starting | VmState::Stopping
            )
        }) {
            if let Err(e) = self.instance_stop(caller, &inst.uuid, false).await {
                tracing::warn!(instance = %inst.uuid, account = %account.uuid, error = %trellis_model::ErrorChain(&e), "disableAccount could not stop an instance");
                failed.push(format!("{} ({})", inst.name, e.external_message()));
            }
        }
        if !failed.is_empty() {
            return Err(Error::internal_with(
                format!(
                    "Account {} is disabled, but {} of its instances could not be stopped: {}",
                    account.name,
                    failed.len(),
                    failed.join(", ")
                ),
                "disableAccount: stops failed",
            ));
        }
        Ok(account)
    }

    /// Every domain strictly below `d`, the deepest first.
    async fn domains_below(&self, d: &Domain) -> Result<Vec<Domain>> {
        let (all, _) = self
            .store
            .domain_list(None, None, None, Page::all())
            .await?;
        let mut below: Vec<Domain> = all
            .into_iter()
            .filter(|x| x.id != d.id && x.path.starts_with(&d.path))
            .collect();
        below.sort_by_key(|x| std::cmp::Reverse(x.path.matches('/').count()));
        Ok(below)
    }

    /// A domain the caller may change: root administrators any but ROOT, domain
    /// administrators those strictly below their own.
    async fn domain_to_administer(&self, caller: &Caller, uuid: &str) -> Result<Domain> {
        let d = self
            .store
            .domain_by_uuid(uuid)
            .await?
            .ok_or_else(|| Error::not_found(format!("Unable to find domain by id {uuid}")))?;
        let allowed = caller.is_root_admin()
            || (caller.role_type() == RoleType::DomainAdmin
                && d.path.starts_with(&caller.domain.path)
                && d.id != caller.domain.id);
        if !allowed {
            return Err(Error::denied(format!(
                "Account {} does not have permission to operate within domain id={}",
                caller.account.name, d.uuid
            )));
        }
        Ok(d)
    }

    /// `updateDomain`: a new name (unique among its siblings; the paths below follow) and/or
    /// network domain. ROOT cannot be renamed.
    pub async fn domain_update(
        &self,
        caller: &Caller,
        uuid: &str,
        name: Option<&str>,
        network_domain: Option<&str>,
    ) -> Result<Domain> {
        let d = self.domain_to_administer(caller, uuid).await?;
        let rename = match name.filter(|n| *n != d.name) {
            None => None,
            Some(n) => {
                if d.path == "/" {
                    return Err(Error::invalid_param("The ROOT domain cannot be renamed"));
                }
                if n.contains('/') || n.trim().is_empty() {
                    return Err(Error::invalid_param(
                        "Domain name must not be empty or contain '/'",
                    ));
                }
                let parent = d.path.trim_end_matches('/');
                let parent = &parent[..parent.rfind('/').map_or(0, |i| i + 1)];
                let path = format!("{parent}{n}/");
                if self.store.domain_by_path(&path).await?.is_some() {
                    return Err(Error::invalid_param(format!(
                        "Domain with name {n} already exists for the same parent"
                    )));
                }
                Some((n, path))
            }
        };
        let updated = self
            .store
            .domain_update(
                d.id,
                rename.as_ref().map(|(n, p)| (*n, p.as_str())),
                network_domain,
            )
            .await?
            .ok_or_else(|| Error::not_found(format!("Unable to find domain by id {uuid}")))?;
        self.auth_cache_clear();
        self.event(
            Some(caller),
            "DOMAIN.UPDATE",
            &format!("Domain {} updated", updated.name),
            Some(("Domain", &updated.uuid)),
        )
        .await;
        Ok(updated)
    }

    /// Request-time checks of `deleteDomain`: never ROOT nor the caller's own domain; without
    /// `cleanup` the domain must hold no account and no child domain.
    pub async fn domain_check_delete(
        &self,
        caller: &Caller,
        uuid: &str,
        cleanup: bool,
    ) -> Result<Domain> {
        let d = self.domain_to_administer(caller, uuid).await?;
        if d.path == "/" {
            return Err(Error::invalid_param("The ROOT domain cannot be deleted"));
        }
        if caller.domain.path.starts_with(&d.path) {
            return Err(Error::invalid_param(
                "The caller's own domain (or one above it) cannot be deleted",
            ));
        }
        if !cleanup {
            let (accounts, children) = self.store.domain_contents(d.id).await?;
            if accounts > 0 || children > 0 {
                return Err(Error::invalid_state(format!(
                    "Domain {} still has {accounts} accounts and {children} child domains: delete them first, or delete with cleanup=true",
                    d.name
                )));
            }
        }
        Ok(d)
    }

    /// `deleteDomain`, the job: with `cleanup`, the domains below are emptied and removed
    /// deepest first — projects, then accounts (their instances expunged through their
    /// extensions) — then the domain itself.
    pub async fn domain_delete(&self, caller: &Caller, uuid: &str, cleanup: bool) -> Result<()> {
        let d = self.domain_check_delete(caller, uuid, cleanup).await?;
        let mut order = self.domains_below(&d).await?;
        order.push(d.clone());
        for dom in &order {
            self.domain_empty(caller, dom).await?;
            self.store.domain_delete(dom.id, now_millis()).await?;
            self.auth_cache_clear();
            self.event(
                Some(caller),
                "DOMAIN.DELETE",
                &format!("Domain {} deleted", dom.name),
                Some(("Domain", &dom.uuid)),
            )
            .await;
        }
        Ok(())
    }

    /// Remove the projects and accounts of one domain.
    async fn domain_empty(&self, caller: &Caller, d: &Domain) -> Result<()> {
        let pf = trellis_store::ProjectFilter {
            domain_id: Some(d.id),
            ..Default::default()
        };
        let (projects, _) = self.store.project_list(&pf, Page::all()).await?;
        for p in projects {
            self.project_delete(caller, &p.uuid, true).await?;
        }
        let f = trellis_store::IdentityFilter {
            domain_id: Some(d.id),
            ..Default::default()
        };
        let (accounts, _) = self.store.account_list(&f, Page::all()).await?;
        for a in accounts {
            self.account_delete(caller, &a.uuid).await?;
        }
        Ok(())
    }

    /// `listDomainChildren`: the domains directly below `uuid` (the caller's own domain when
    /// absent), or every domain below it with `isrecursive`.
    pub async fn domain_children(
        &self,
        caller: &Caller,
        uuid: Option<&str>,
        name: Option<&str>,
        keyword: Option<&str>,
        recursive: bool,
        page: Page,
    ) -> Result<(Vec<Domain>, i64)> {
        let parent = match uuid {
            Some(u) => {
                let d =
                    self.store.domain_by_uuid(u).await?.ok_or_else(|| {
                        Error::not_found(format!("Unable to find domain by id {u}"))
                    })?;
                if !caller.is_root_admin() && !d.path.starts_with(&caller.domain.path) {
                    return Err(Error::denied(format!(
                        "Account {} does not have permission to operate within domain id={}",
                        caller.account.name, d.uuid
                    )));
                }
                d
            }
            None => caller.domain.clone(),
        };
        let kw = keyword.map(str::to_ascii_lowercase);
        let items: Vec<Domain> = self
            .domains_below(&parent)
            .await?
            .into_iter()
            .filter(|x| recursive || x.parent_id == Some(parent.id))
            .filter(|x| name.is_none_or(|n| x.name.eq_ignore_ascii_case(n)))
            .filter(|x| {
                kw.as_deref()
                    .is_none_or(|k| x.name.to_ascii_lowercase().contains(k))
            })
            .collect();
        let mut items = items;
        items.sort_by_key(|x| x.id);
        Ok(paginate(items, page))
    }
}
