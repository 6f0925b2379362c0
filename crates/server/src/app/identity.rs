//! Identity: bootstrap of the root domain, roles and the admin; login sessions; API keys;
//! accounts, users and domains.

use base64::Engine;
use pbkdf2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use rand::RngCore;
use trellis_model::entity::{Account, Domain, Principal, Role, Session, User};
use trellis_model::{ids, time::now_millis, Error, Result, RoleType};
use trellis_store::{IdentityFilter, NewUser, Page};

use super::{setting, App, Caller};

/// Name of the session-key cookie.
pub const SESSION_COOKIE: &str = "sessionkey";

const PBKDF2_ROUNDS: u32 = 100_000;

/// How long a verified API key's user stays cached.
pub const AUTH_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(5);

fn random_b64url(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut buf);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

/// Hash a password for storage (PBKDF2-SHA256, PHC string).
pub fn hash_password(password: &str) -> Result<String> {
    let mut salt = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt)
        .map_err(|e| Error::internal(format!("salt encoding failed: {e}")))?;
    let params = pbkdf2::Params {
        rounds: PBKDF2_ROUNDS,
        output_length: 32,
    };
    pbkdf2::Pbkdf2
        .hash_password_customized(password.as_bytes(), None, None, params, &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::internal(format!("password hashing failed: {e}")))
}

fn verify_password(password: &str, stored: &str) -> bool {
    match PasswordHash::new(stored) {
        Ok(h) => pbkdf2::Pbkdf2
            .verify_password(password.as_bytes(), &h)
            .is_ok(),
        Err(_) => false,
    }
}

/// Why `trellis admin reset-password` could not reset a password.
#[derive(Debug, thiserror::Error)]
pub enum ResetPasswordError {
    #[error("cannot open the database")]
    Store(#[source] trellis_store::StoreError),
    #[error("no user {username} in the ROOT domain")]
    NoSuchUser { username: String },
    #[error("cannot store the password")]
    Update(#[source] Error),
}

impl From<trellis_store::StoreError> for ResetPasswordError {
    fn from(source: trellis_store::StoreError) -> Self {
        ResetPasswordError::Store(source)
    }
}

/// What a successful login returns.
#[derive(Debug, Clone)]
pub struct LoginOutcome {
    pub principal: Principal,
    pub session: Session,
    pub timeout_seconds: i64,
}

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
}

/// Normalise a domain path as CloudStack does (`ROOT`, `/`, `/a` → `/`, `/a/`).
fn normalize_domain_path(d: &str) -> String {
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

    /// Offline password reset of a ROOT-domain user (`trellis admin reset-password`): opens the
    /// database itself (a SQLite database a running server holds is refused by the store's lock
    /// on it), sets `password` or a generated one, and returns the generated one.
    pub async fn admin_password_reset_offline(
        database_url: &str,
        username: &str,
        password: Option<&str>,
    ) -> std::result::Result<Option<String>, ResetPasswordError> {
        let store = trellis_store::Store::open(database_url).await?;
        let no_such_user = || ResetPasswordError::NoSuchUser {
            username: username.to_string(),
        };
        let root = store.domain_by_path("/").await?.ok_or_else(no_such_user)?;
        let user = store
            .user_by_username(root.id, username)
            .await?
            .ok_or_else(no_such_user)?;
        let (password, generated) = match password.filter(|p| !p.is_empty()) {
            Some(p) => (p.to_string(), None),
            None => {
                let p = random_b64url(15);
                (p.clone(), Some(p))
            }
        };
        let hash = hash_password(&password).map_err(ResetPasswordError::Update)?;
        store.user_set_password(user.id, &hash).await?;
        store.close().await;
        Ok(generated)
    }

    async fn default_role(&self, rt: RoleType) -> Result<Role> {
        self.store
            .role_list()
            .await?
            .into_iter()
            .find(|r| r.role_type == rt && r.is_default)
            .ok_or_else(|| Error::internal(format!("default role {} missing", rt.as_str())))
    }

    /// Check a username and password; on success create a session.
    pub async fn login(
        &self,
        username: &str,
        password: &str,
        domain_path: Option<&str>,
        domain_uuid: Option<&str>,
    ) -> Result<LoginOutcome> {
        let failed = || {
            Error::denied(format!(
                "Failed to authenticate user {username}; please provide valid credentials"
            ))
        };
        let domain = match domain_uuid {
            Some(u) => self.store.domain_by_uuid(u).await?,
            None => {
                self.store
                    .domain_by_path(&normalize_domain_path(domain_path.unwrap_or("/")))
                    .await?
            }
        };
        let Some(domain) = domain else {
            return Err(failed());
        };
        let Some(user) = self.store.user_by_username(domain.id, username).await? else {
            return Err(failed());
        };
        if !verify_password(password, &user.password_hash) || user.state != "enabled" {
            return Err(failed());
        }
        let Some(principal) = self.store.principal_get(user.id).await? else {
            return Err(failed());
        };
        if principal.account.state != "enabled" {
            return Err(failed());
        }
        let now = now_millis();
        let timeout = self.setting_i64(setting::SESSION_TIMEOUT);
        let session = Session {
            session_key: random_b64url(20),
            jsession_id: random_b64url(18),
            user_id: user.id,
            created: now,
            expires: now + timeout * 1000,
        };
        self.store.session_create(&session).await?;
        self.event(
            Some(&principal),
            "USER.LOGIN",
            &format!("user {username} has logged in"),
            None,
        )
        .await;
        Ok(LoginOutcome {
            principal,
            session,
            timeout_seconds: timeout,
        })
    }

    pub async fn logout(&self, session_key: &str) -> Result<()> {
        self.store.session_delete(session_key).await?;
        Ok(())
    }

    /// Resolve a session key (already checked for presence rules by the caller).
    pub async fn session_principal(
        &self,
        session_key: &str,
        jsession_id: Option<&str>,
    ) -> Result<Option<Principal>> {
        let now = now_millis();
        let Some(s) = self.store.session_get(session_key, now).await? else {
            return Ok(None);
        };
        if let Some(j) = jsession_id {
            let j = j.split('.').next().unwrap_or(j);
            if j != s.jsession_id {
                return Ok(None);
            }
        }
        // Slide the expiry, at most once a minute.
        let timeout = self.setting_i64(setting::SESSION_TIMEOUT) * 1000;
        if s.expires - now < timeout - 60_000 {
            self.store.session_touch(session_key, now + timeout).await?;
        }
        let p = self.store.principal_get(s.user_id).await?;
        Ok(p.filter(|p| p.user.state == "enabled" && p.account.state == "enabled"))
    }

    /// Verify a signed request; `None` when the key is unknown or the signature is wrong.
    /// Key lookups are cached for [`AUTH_CACHE_TTL`]; changing keys or deleting an account clears
    /// this server's cache at once (other servers follow within the TTL).
    pub async fn apikey_principal(&self, pairs: &[(String, String)]) -> Result<Option<Principal>> {
        let Some(key) = trellis_api::signature::api_key(pairs) else {
            return Ok(None);
        };
        let cached = self.auth_cache.lock().ok().and_then(|c| {
            c.get(key)
                .filter(|(_, _, at)| at.elapsed() < AUTH_CACHE_TTL)
                .map(|(p, s, _)| (p.clone(), s.clone()))
        });
        let (principal, secret) = match cached {
            Some(hit) => hit,
            None => {
                let Some(user) = self.store.user_by_api_key(key).await? else {
                    return Ok(None);
                };
                let Some(secret) = user.secret_key.clone() else {
                    return Ok(None);
                };
                let Some(p) = self.store.principal_get(user.id).await? else {
                    return Ok(None);
                };
                if let Ok(mut c) = self.auth_cache.lock() {
                    if c.len() > 10_000 {
                        c.clear();
                    }
                    c.insert(
                        key.to_string(),
                        (p.clone(), secret.clone(), std::time::Instant::now()),
                    );
                }
                (p, secret)
            }
        };
        if principal.user.state != "enabled" || principal.account.state != "enabled" {
            return Ok(None);
        }
        if self.setting_bool(setting::ENFORCE_POST) {
            let v3 = pairs
                .iter()
                .any(|(k, v)| k.eq_ignore_ascii_case("signatureversion") && v == "3");
            if !v3 {
                return Ok(None);
            }
        }
        let lenient = self.setting_bool(setting::SIGNATURE_LENIENT_TILDE);
        if let Err(e) = trellis_api::signature::verify_with(pairs, &secret, now_millis(), lenient) {
            tracing::debug!(reason = %e, "signature rejected");
            return Ok(None);
        }
        Ok(Some(principal))
    }

    /// May `caller` manage the user `target`?
    async fn may_manage_user(&self, caller: &Caller, target: &User) -> Result<()> {
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

    /// Generate fresh API keys for a user.
    pub async fn user_register_keys(
        &self,
        caller: &Caller,
        user_uuid: &str,
    ) -> Result<(String, String)> {
        let user =
            self.store.user_by_uuid(user_uuid).await?.ok_or_else(|| {
                Error::not_found(format!("Unable to find user by id {user_uuid}"))
            })?;
        self.may_manage_user(caller, &user).await?;
        let api_key = random_b64url(64);
        let secret = random_b64url(64);
        self.store.user_set_keys(user.id, &api_key, &secret).await?;
        self.auth_cache_clear();
        self.event(
            Some(caller),
            "REGISTER.USER.KEY",
            &format!("registered user keys for {}", user.username),
            Some(("User", &user.uuid)),
        )
        .await;
        Ok((api_key, secret))
    }

    pub async fn user_get_keys(
        &self,
        caller: &Caller,
        user_uuid: &str,
    ) -> Result<(Option<String>, Option<String>)> {
        let user =
            self.store.user_by_uuid(user_uuid).await?.ok_or_else(|| {
                Error::not_found(format!("Unable to find user by id {user_uuid}"))
            })?;
        self.may_manage_user(caller, &user).await?;
        Ok((user.api_key, user.secret_key))
    }

    /// `getUser`: the user owning `api_key`, if the caller may manage that user. An unknown key
    /// and another tenant's key get the same answer, so the call cannot probe for keys.
    pub async fn user_by_api_key(&self, caller: &Caller, api_key: &str) -> Result<User> {
        let unknown = || Error::invalid_param("User with specified API key does not exist");
        let user = self
            .store
            .user_by_api_key(api_key)
            .await?
            .ok_or_else(unknown)?;
        if self.may_manage_user(caller, &user).await.is_err() {
            return Err(unknown());
        }
        Ok(user)
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

    pub async fn domain_create(
        &self,
        caller: &Caller,
        name: &str,
        parent_uuid: Option<&str>,
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
            return Err(Error::already_exists(format!(
                "Domain with name {name} already exists for the parent id={}",
                parent.uuid
            )));
        }
        let d = self
            .store
            .domain_create(&ids::new_uuid(), name, &path, Some(parent.id), now_millis())
            .await?;
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
        Ok(account)
    }

    pub async fn account_delete(&self, caller: &Caller, uuid: &str) -> Result<()> {
        let account = self.account_check_delete(caller, uuid).await?;
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
    fn password_hash_round_trip() {
        let h = hash_password("s3cret").unwrap();
        assert!(h.starts_with("$pbkdf2-sha256$"));
        assert!(verify_password("s3cret", &h));
        assert!(!verify_password("other", &h));
    }

    #[test]
    fn domain_paths() {
        assert_eq!(normalize_domain_path("/"), "/");
        assert_eq!(normalize_domain_path("ROOT"), "/");
        assert_eq!(normalize_domain_path("/eng"), "/eng/");
        assert_eq!(normalize_domain_path("ROOT/eng/"), "/eng/");
    }
}
