//! Identity: bootstrap of the root domain, roles and the admin; accounts, users and domains.
//! Log-in, sessions and API keys are in `auth.rs`.

use trellis_model::entity::{Account, Domain, Role, User};
use trellis_model::{ids, time::now_millis, Error, Result, RoleType};
use trellis_store::{IdentityFilter, NewUser, Page};

use super::auth::{hash_password, random_b64url};
use super::{App, Caller};

/// Input of `createAccount`: the account and its first user.
#[derive(Debug, Clone, Default)]
pub struct AccountCreateParams {
    pub username: String,
    pub password: String,
    pub email: String,
    pub firstname: String,
    pub lastname: String,
    /// The account's name; the username when `None`.
    pub account_name: Option<String>,
    pub account_type: Option<i64>,
    pub role_uuid: Option<String>,
    pub domain_uuid: Option<String>,
    pub timezone: Option<String>,
}

/// Input of `createUser`: a user of an existing account.
#[derive(Debug, Clone, Default)]
pub struct UserCreateParams {
    pub account_name: String,
    pub username: String,
    pub password: String,
    pub email: String,
    pub firstname: String,
    pub lastname: String,
    pub domain_uuid: Option<String>,
    pub timezone: Option<String>,
}

/// Normalise a domain path as CloudStack does (`ROOT`, `/`, `/a` → `/`, `/a/`).
pub(super) fn normalize_domain_path(d: &str) -> String {
    let t = d.trim();
    let t = t.strip_prefix("ROOT").unwrap_or(t);
    let inner = t.trim_matches('/');
    if inner.is_empty() {
        "/".into()
    } else {
        format!("/{inner}/")
    }
}

impl App {
    pub(super) async fn identity_bootstrap(&self) -> Result<Option<String>> {
        let now = now_millis();
        let root = match self.store.domain_by_path("/").await? {
            Some(d) => d,
            None => {
                self.store
                    .domain_create(&ids::new_uuid(), "ROOT", "/", None, now)
                    .await?
            }
        };
        let roles = self.store.role_list().await?;
        if roles.is_empty() {
            for (name, rt, desc) in [
                ("Root Admin", RoleType::Admin, "Default root admin role"),
                (
                    "Resource Admin",
                    RoleType::ResourceAdmin,
                    "Default resource admin role",
                ),
                (
                    "Domain Admin",
                    RoleType::DomainAdmin,
                    "Default domain admin role",
                ),
                ("User", RoleType::User, "Default user role"),
            ] {
                self.store
                    .role_create(&ids::new_uuid(), name, rt, desc, true)
                    .await?;
            }
        }
        if self
            .store
            .account_by_name(root.id, "admin")
            .await?
            .is_some()
        {
            if self
                .cfg
                .admin_password
                .as_deref()
                .is_some_and(|p| !p.is_empty())
            {
                tracing::warn!(
                    "TRELLIS_ADMIN_PASSWORD is set but the admin account already exists: it is \
                     ignored (it only applies to the first start); to change the password, stop \
                     the server and run `trellis admin reset-password`"
                );
            }
            return Ok(None);
        }
        let admin_role = self.default_role(RoleType::Admin).await?;
        let (password, generated) = match &self.cfg.admin_password {
            Some(p) if !p.is_empty() => (p.clone(), None),
            _ => {
                let p = random_b64url(15);
                (p.clone(), Some(p))
            }
        };
        let account = self
            .store
            .account_create(&ids::new_uuid(), "admin", root.id, admin_role.id, now)
            .await?;
        self.store
            .user_create(
                &NewUser {
                    uuid: ids::new_uuid(),
                    account_id: account.id,
                    username: "admin".into(),
                    password_hash: hash_password(&password)?,
                    firstname: "Admin".into(),
                    lastname: "User".into(),
                    email: None,
                },
                now,
            )
            .await?;
        tracing::info!("created the admin account");
        Ok(generated)
    }

    pub(super) async fn default_role(&self, rt: RoleType) -> Result<Role> {
        self.store
            .role_list()
            .await?
            .into_iter()
            .find(|r| r.role_type == rt && r.is_default)
            .ok_or_else(|| Error::internal(format!("default role {} missing", rt.as_str())))
    }

    /// May `caller` manage the user `target`?
    pub(super) async fn may_manage_user(&self, caller: &Caller, target: &User) -> Result<()> {
        if caller.user.id == target.id || caller.is_root_admin() {
            return Ok(());
        }
        if caller.role_type() == RoleType::DomainAdmin {
            if let Some(acc) = self.store.account_get(target.account_id).await? {
                if self.domain_is_under(acc.domain_id, &caller.domain).await? {
                    return Ok(());
                }
            }
        }
        Err(Error::denied(format!(
            "Account {} does not have permission to manage user {}",
            caller.account.name, target.uuid
        )))
    }

    async fn domain_is_under(&self, domain_id: i64, ancestor: &Domain) -> Result<bool> {
        let Some(d) = self.store.domain_get(domain_id).await? else {
            return Ok(false);
        };
        Ok(d.path.starts_with(&ancestor.path))
    }

    /// Domains visible to the caller.
    pub async fn domain_list(
        &self,
        caller: &Caller,
        uuid: Option<&str>,
        name: Option<&str>,
        keyword: Option<&str>,
        page: Page,
    ) -> Result<(Vec<Domain>, i64)> {
        let (all, _) = self
            .store
            .domain_list(uuid, name, keyword, Page::all())
            .await?;
        let visible: Vec<Domain> = all
            .into_iter()
            .filter(|d| caller.is_root_admin() || d.path.starts_with(&caller.domain.path))
            .collect();
        Ok(paginate(visible, page))
    }

    /// Record the time zone given at creation.
    async fn user_set_timezone(&self, user: User, timezone: Option<String>) -> Result<User> {
        let Some(tz) = timezone.filter(|t| !t.trim().is_empty()) else {
            return Ok(user);
        };
        let changes = trellis_store::UserChanges {
            timezone: Some(tz),
            ..Default::default()
        };
        Ok(self
            .store
            .user_update(user.id, &changes)
            .await?
            .unwrap_or(user))
    }

    pub async fn domain_create(
        &self,
        caller: &Caller,
        name: &str,
        parent_uuid: Option<&str>,
        network_domain: Option<&str>,
    ) -> Result<Domain> {
        let parent = match parent_uuid {
            Some(u) => self.store.domain_by_uuid(u).await?.ok_or_else(|| {
                Error::not_found(format!("Unable to find parent domain by id {u}"))
            })?,
            None => self
                .store
                .domain_by_path("/")
                .await?
                .ok_or_else(|| Error::internal("root domain missing"))?,
        };
        if !caller.is_root_admin() && !parent.path.starts_with(&caller.domain.path) {
            return Err(Error::denied(
                "the parent domain is outside the caller's domain",
            ));
        }
        if name.contains('/') || name.trim().is_empty() {
            return Err(Error::invalid_param(
                "Domain name must not be empty or contain '/'",
            ));
        }
        let path = format!("{}{}/", parent.path, name);
        if self.store.domain_by_path(&path).await?.is_some() {
            return Err(Error::invalid_param(format!(
                "Domain with name {name} already exists for the parent id={}",
                parent.uuid
            )));
        }
        let d = self
            .store
            .domain_create(&ids::new_uuid(), name, &path, Some(parent.id), now_millis())
            .await?;
        let d = match network_domain.filter(|n| !n.is_empty()) {
            Some(nd) => self
                .store
                .domain_update(d.id, None, Some(nd))
                .await?
                .unwrap_or(d),
            None => d,
        };
        self.event(
            Some(caller),
            "DOMAIN.CREATE",
            &format!("Domain {name} created"),
            Some(("Domain", &d.uuid)),
        )
        .await;
        Ok(d)
    }

    pub async fn role_list(
        &self,
        uuid: Option<&str>,
        name: Option<&str>,
        role_type: Option<&str>,
    ) -> Result<Vec<Role>> {
        Ok(self
            .store
            .role_list()
            .await?
            .into_iter()
            .filter(|r| {
                uuid.is_none_or(|u| r.uuid == u)
                    && name.is_none_or(|n| r.name.eq_ignore_ascii_case(n))
                    && role_type.is_none_or(|t| r.role_type.as_str() == t)
            })
            .collect())
    }

    /// Create an account with its first user.
    pub async fn account_create(
        &self,
        caller: &Caller,
        params: AccountCreateParams,
    ) -> Result<(Account, User)> {
        let username = params.username.as_str();
        let domain = match params.domain_uuid.as_deref() {
            Some(u) => self
                .store
                .domain_by_uuid(u)
                .await?
                .ok_or_else(|| Error::not_found(format!("Unable to find domain by id {u}")))?,
            None => caller.domain.clone(),
        };
        if !caller.is_root_admin() && !domain.path.starts_with(&caller.domain.path) {
            return Err(Error::denied("the domain is outside the caller's domain"));
        }
        let role = match (params.role_uuid.as_deref(), params.account_type) {
            (Some(u), _) => self
                .store
                .role_list()
                .await?
                .into_iter()
                .find(|r| r.uuid == u)
                .ok_or_else(|| Error::not_found(format!("Unable to find role by id {u}")))?,
            (None, Some(t)) => {
                self.default_role(
                    RoleType::from_account_type(t)
                        .ok_or_else(|| Error::invalid_param(format!("Invalid account type {t}")))?,
                )
                .await?
            }
            (None, None) => {
                return Err(Error::invalid_param(
                    "Either account type or role ID must be passed",
                ))
            }
        };
        if !caller.is_root_admin() && !role.is_public {
            return Err(Error::denied(format!(
                "Role {} is private: only root administrators may assign it",
                role.name
            )));
        }
        if !caller.is_root_admin()
            && matches!(role.role_type, RoleType::Admin | RoleType::ResourceAdmin)
        {
            return Err(Error::denied(
                "only root administrators may create administrator accounts",
            ));
        }
        let name = params.account_name.as_deref().unwrap_or(username);
        if self.store.account_by_name(domain.id, name).await?.is_some() {
            return Err(Error::already_exists(format!(
                "The specified account: {name} already exists"
            )));
        }
        if self
            .store
            .user_by_username(domain.id, username)
            .await?
            .is_some()
        {
            return Err(Error::already_exists(format!(
                "The user {username} already exists in domain {}",
                domain.name
            )));
        }
        let now = now_millis();
        let account = self
            .store
            .account_create(&ids::new_uuid(), name, domain.id, role.id, now)
            .await?;
        let new_user = NewUser {
            uuid: ids::new_uuid(),
            account_id: account.id,
            username: params.username.clone(),
            password_hash: hash_password(&params.password)?,
            firstname: params.firstname,
            lastname: params.lastname,
            email: Some(params.email),
        };
        let user = self.store.user_create(&new_user, now).await?;
        let user = self.user_set_timezone(user, params.timezone).await?;
        self.event(
            Some(caller),
            "ACCOUNT.CREATE",
            &format!("Account {name} created"),
            Some(("Account", &account.uuid)),
        )
        .await;
        Ok((account, user))
    }

    pub async fn user_create(&self, caller: &Caller, params: UserCreateParams) -> Result<User> {
        let (account_name, username) = (params.account_name.as_str(), params.username.as_str());
        let domain = match params.domain_uuid.as_deref() {
            Some(u) => self
                .store
                .domain_by_uuid(u)
                .await?
                .ok_or_else(|| Error::not_found(format!("Unable to find domain by id {u}")))?,
            None => caller.domain.clone(),
        };
        if !caller.is_root_admin() && !domain.path.starts_with(&caller.domain.path) {
            return Err(Error::denied("the domain is outside the caller's domain"));
        }
        let account = self
            .store
            .account_by_name(domain.id, account_name)
            .await?
            .ok_or_else(|| {
                Error::not_found(format!(
                    "Unable to find account {account_name} in domain {}",
                    domain.name
                ))
            })?;
        if self
            .store
            .user_by_username(domain.id, username)
            .await?
            .is_some()
        {
            return Err(Error::already_exists(format!(
                "The user {username} already exists in domain {}",
                domain.name
            )));
        }
        let new_user = NewUser {
            uuid: ids::new_uuid(),
            account_id: account.id,
            username: username.into(),
            password_hash: hash_password(&params.password)?,
            firstname: params.firstname,
            lastname: params.lastname,
            email: Some(params.email),
        };
        let user = self.store.user_create(&new_user, now_millis()).await?;
        let user = self.user_set_timezone(user, params.timezone).await?;
        self.event(
            Some(caller),
            "USER.CREATE",
            &format!("User {username} created"),
            Some(("User", &user.uuid)),
        )
        .await;
        Ok(user)
    }

    /// Look an account up for deletion (request-time checks); the deletion itself runs as a job.
    pub async fn account_check_delete(&self, caller: &Caller, uuid: &str) -> Result<Account> {
        let account = self
            .store
            .account_by_uuid(uuid)
            .await?
            .ok_or_else(|| Error::not_found(format!("Unable to find account by id {uuid}")))?;
        if account.id == caller.account.id {
            return Err(Error::invalid_param(
                "Deletion of the caller's own account is not allowed",
            ));
        }
        let domain = self
            .store
            .domain_get(account.domain_id)
            .await?
            .ok_or_else(|| Error::internal("account without domain"))?;
        if domain.path == "/" && account.name == "admin" {
            return Err(Error::invalid_param(
                "The system admin account cannot be deleted",
            ));
        }
        if !caller.is_root_admin() && !domain.path.starts_with(&caller.domain.path) {
            return Err(Error::denied("the account is outside the caller's domain"));
        }
        // A deletion never stops half-way on a protected instance.
        for inst in self.account_instances(&account).await? {
            self.delete_protection_check(&inst).await?;
        }
        Ok(account)
    }

    /// Every instance an account owns, Destroyed ones included.
    async fn account_instances(
        &self,
        account: &Account,
    ) -> Result<Vec<trellis_model::entity::Instance>> {
        let f = trellis_store::InstanceFilter {
            account_id: Some(account.id),
            include_destroyed: true,
            ..Default::default()
        };
        Ok(self.store.instance_list(&f, Page::all()).await?.0)
    }

    /// `deleteAccount`, the job: the account's instances are destroyed and expunged through
    /// their extensions, then its key pairs, affinity groups, users and sessions go.
    pub async fn account_delete(&self, caller: &Caller, uuid: &str) -> Result<()> {
        let account = self.account_check_delete(caller, uuid).await?;
        for inst in self.account_instances(&account).await? {
            self.instance_destroy(caller, &inst.uuid, true).await?;
        }
        self.store.account_delete(account.id, now_millis()).await?;
        // Key pairs and affinity groups go with their account (instances keep their own copies
        // of the keys).
        self.store
            .ssh_keypair_delete_for_account(account.id)
            .await?;
        self.store
            .affinity_group_delete_for_account(account.id)
            .await?;
        self.auth_cache_clear();
        self.event(
            Some(caller),
            "ACCOUNT.DELETE",
            &format!("Account {} deleted", account.name),
            Some(("Account", &account.uuid)),
        )
        .await;
        Ok(())
    }

    /// Accounts visible to the caller.
    pub async fn account_list(
        &self,
        caller: &Caller,
        mut f: IdentityFilter,
        list_all: bool,
        page: Page,
    ) -> Result<(Vec<Account>, i64)> {
        if caller.role_type() == RoleType::User
            || (!list_all && !caller.is_root_admin() && caller.role_type() != RoleType::DomainAdmin)
        {
            f.account_id = Some(caller.account.id);
        }
        let (all, _) = self.store.account_list(&f, Page::all()).await?;
        let mut visible = Vec::new();
        for a in all {
            if caller.is_root_admin()
                || a.id == caller.account.id
                || self.domain_is_under(a.domain_id, &caller.domain).await?
            {
                visible.push(a);
            }
        }
        Ok(paginate(visible, page))
    }

    /// Users visible to the caller.
    pub async fn user_list(
        &self,
        caller: &Caller,
        mut f: IdentityFilter,
        page: Page,
    ) -> Result<(Vec<User>, i64)> {
        if caller.role_type() == RoleType::User {
            f.account_id = Some(caller.account.id);
        }
        let (all, _) = self.store.user_list(&f, Page::all()).await?;
        let mut visible = Vec::new();
        for u in all {
            if caller.is_root_admin() || u.account_id == caller.account.id {
                visible.push(u);
            } else if let Some(a) = self.store.account_get(u.account_id).await? {
                if caller.role_type() == RoleType::DomainAdmin
                    && self.domain_is_under(a.domain_id, &caller.domain).await?
                {
                    visible.push(u);
                }
            }
        }
        Ok(paginate(visible, page))
    }
}

/// Apply paging to an already filtered list; returns the page and the total.
pub fn paginate<T>(items: Vec<T>, page: Page) -> (Vec<T>, i64) {
    let total = i64::try_from(items.len()).unwrap_or(i64::MAX);
    let start = usize::try_from(page.offset.max(0)).unwrap_or(0);
    let iter = items.into_iter().skip(start);
    let out = match page.limit {
        Some(l) => iter.take(usize::try_from(l.max(0)).unwrap_or(0)).collect(),
        None => iter.collect(),
    };
    (out, total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_paths() {
        assert_eq!(normalize_domain_path("/"), "/");
        assert_eq!(normalize_domain_path("ROOT"), "/");
        assert_eq!(normalize_domain_path("/eng"), "/eng/");
        assert_eq!(normalize_domain_path("ROOT/eng/"), "/eng/");
    }
}
