//! Domains, roles, accounts, users and sessions.

use sqlx::any::AnyRow;
use trellis_model::account::AccountState;
use trellis_model::entity::{Account, Domain, Principal, Role, Session, User};
use trellis_model::RoleType;

use crate::{
    get_bool, get_enum, get_i64, get_opt_i64, get_opt_str, get_str, like_pattern, Page, Store,
    StoreError, StoreResult,
};

pub(crate) fn domain_row(r: &AnyRow) -> Result<Domain, sqlx::Error> {
    Ok(Domain {
        id: get_i64(r, "id")?,
        uuid: get_str(r, "uuid")?,
        name: get_str(r, "name")?,
        path: get_str(r, "path")?,
        parent_id: get_opt_i64(r, "parent_id")?,
        network_domain: get_opt_str(r, "network_domain")?,
        created: get_i64(r, "created")?,
    })
}

pub(crate) fn role_row(r: &AnyRow) -> StoreResult<Role> {
    type Columns = (i64, String, String, String, String, bool, bool);
    let inner = || -> Result<Columns, sqlx::Error> {
        Ok((
            get_i64(r, "id")?,
            get_str(r, "uuid")?,
            get_str(r, "name")?,
            get_str(r, "role_type")?,
            get_str(r, "description")?,
            get_bool(r, "is_default")?,
            get_bool(r, "is_public")?,
        ))
    };
    let (id, uuid, name, rt, description, is_default, is_public) =
        inner().map_err(StoreError::query("role_row"))?;
    let role_type = RoleType::parse(&rt).ok_or(StoreError::Corrupt {
        what: "role_type",
        value: rt,
    })?;
    Ok(Role {
        id,
        uuid,
        name,
        role_type,
        description,
        is_default,
        is_public,
    })
}

pub(crate) fn account_row(r: &AnyRow) -> Result<Account, sqlx::Error> {
    Ok(Account {
        id: get_i64(r, "id")?,
        uuid: get_str(r, "uuid")?,
        name: get_str(r, "name")?,
        domain_id: get_i64(r, "domain_id")?,
        role_id: get_i64(r, "role_id")?,
        state: get_enum(r, "state", AccountState::parse)?,
        network_domain: get_opt_str(r, "network_domain")?,
        created: get_i64(r, "created")?,
    })
}

pub(crate) fn user_row(r: &AnyRow) -> Result<User, sqlx::Error> {
    Ok(User {
        id: get_i64(r, "id")?,
        uuid: get_str(r, "uuid")?,
        account_id: get_i64(r, "account_id")?,
        username: get_str(r, "username")?,
        password_hash: get_str(r, "password_hash")?,
        firstname: get_str(r, "firstname")?,
        lastname: get_str(r, "lastname")?,
        email: get_opt_str(r, "email")?,
        api_key: get_opt_str(r, "api_key")?,
        secret_key: get_opt_str(r, "secret_key")?,
        state: get_enum(r, "state", AccountState::parse)?,
        timezone: get_opt_str(r, "timezone")?,
        failed_logins: get_i64(r, "failed_logins")?,
        created: get_i64(r, "created")?,
    })
}

/// Filters of account/user listings.
#[derive(Debug, Clone, Default)]
pub struct IdentityFilter {
    pub uuid: Option<String>,
    pub name: Option<String>,
    pub domain_id: Option<i64>,
    pub account_id: Option<i64>,
    pub keyword: Option<String>,
}

/// A user to insert.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub uuid: String,
    pub account_id: i64,
    pub username: String,
    pub password_hash: String,
    pub firstname: String,
    pub lastname: String,
    pub email: Option<String>,
}

impl Store {
    pub async fn domain_create(
        &self,
        uuid: &str,
        name: &str,
        path: &str,
        parent_id: Option<i64>,
        now: i64,
    ) -> StoreResult<Domain> {
        // A catalog write: cached rows are stale once it is done.
        let out = async {
            let r = sqlx::query("INSERT INTO domains (uuid, name, path, parent_id, created) VALUES ($1, $2, $3, $4, $5) RETURNING *")
                .bind(uuid)
                .bind(name)
                .bind(path)
                .bind(parent_id)
                .bind(now)
                .fetch_one(&self.writer)
                .await
                .map_err(StoreError::query("domain_create"))?;
            domain_row(&r).map_err(StoreError::query("domain_create"))
        }
        .await;
        self.catalog_changed();
        out
    }

    pub async fn domain_get(&self, id: i64) -> StoreResult<Option<Domain>> {
        self.cached("domain_get", id.to_string(), || {
            self.one_row(
                "domain_get",
                "SELECT * FROM domains WHERE id = $1 AND removed IS NULL",
                id,
                domain_row,
            )
        })
        .await
    }

    pub async fn domain_by_uuid(&self, uuid: &str) -> StoreResult<Option<Domain>> {
        self.cached("domain_by_uuid", uuid.to_string(), || {
            self.one_row(
                "domain_by_uuid",
                "SELECT * FROM domains WHERE uuid = $1 AND removed IS NULL",
                uuid,
                domain_row,
            )
        })
        .await
    }

    pub async fn domain_by_path(&self, path: &str) -> StoreResult<Option<Domain>> {
        let r =
            sqlx::query("SELECT * FROM domains WHERE lower(path) = lower($1) AND removed IS NULL")
                .bind(path)
                .fetch_optional(&self.pool)
                .await
                .map_err(StoreError::query("domain_by_path"))?;
        r.map(|r| domain_row(&r))
            .transpose()
            .map_err(StoreError::query("domain_by_path"))
    }

    pub async fn domain_list(
        &self,
        uuid: Option<&str>,
        name: Option<&str>,
        keyword: Option<&str>,
        page: Page,
    ) -> StoreResult<(Vec<Domain>, i64)> {
        let where_ = "removed IS NULL AND ($1 = '' OR uuid = $1) AND ($2 = '' OR name = $2) AND ($3 = '' OR lower(name) LIKE $3 ESCAPE '\\')";
        let kw = keyword.map(like_pattern).unwrap_or_default();
        let total: i64 =
            sqlx::query_scalar(&format!("SELECT COUNT(*) FROM domains WHERE {where_}"))
                .bind(uuid.unwrap_or(""))
                .bind(name.unwrap_or(""))
                .bind(&kw)
                .fetch_one(&self.pool)
                .await
                .map_err(StoreError::query("domain_list"))?;
        let rows = sqlx::query(&format!(
            "SELECT * FROM domains WHERE {where_} ORDER BY id{}",
            page.sql()
        ))
        .bind(uuid.unwrap_or(""))
        .bind(name.unwrap_or(""))
        .bind(&kw)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::query("domain_list"))?;
        let items = rows
            .iter()
            .map(domain_row)
            .collect::<Result<_, _>>()
            .map_err(StoreError::query("domain_list"))?;
        Ok((items, total))
    }

    pub async fn role_create(
        &self,
        uuid: &str,
        name: &str,
        role_type: RoleType,
        description: &str,
        is_default: bool,
    ) -> StoreResult<Role> {
        let r = sqlx::query("INSERT INTO roles (uuid, name, role_type, description, is_default) VALUES ($1, $2, $3, $4, $5) RETURNING *")
            .bind(uuid)
            .bind(name)
            .bind(role_type.as_str())
            .bind(description)
            .bind(crate::b2i(is_default))
            .fetch_one(&self.writer)
            .await
            .map_err(StoreError::query("role_create"))?;
        role_row(&r)
    }

    pub async fn role_list(&self) -> StoreResult<Vec<Role>> {
        let rows = sqlx::query("SELECT * FROM roles WHERE removed IS NULL ORDER BY id")
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::query("role_list"))?;
        rows.iter().map(role_row).collect()
    }

    pub async fn role_get(&self, id: i64) -> StoreResult<Option<Role>> {
        let r = sqlx::query("SELECT * FROM roles WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::query("role_get"))?;
        r.map(|r| role_row(&r)).transpose()
    }

    pub async fn account_create(
        &self,
        uuid: &str,
        name: &str,
        domain_id: i64,
        role_id: i64,
        now: i64,
    ) -> StoreResult<Account> {
        // A catalog write: cached rows are stale once it is done.
        let out = async {
            let r = sqlx::query("INSERT INTO accounts (uuid, name, domain_id, role_id, state, created) VALUES ($1, $2, $3, $4, $5, $6) RETURNING *")
                .bind(uuid)
                .bind(name)
                .bind(domain_id)
                .bind(role_id)
                .bind(AccountState::Enabled.as_str())
                .bind(now)
                .fetch_one(&self.writer)
                .await
                .map_err(StoreError::query("account_create"))?;
            account_row(&r).map_err(StoreError::query("account_create"))
        }
        .await;
        self.catalog_changed();
        out
    }

    pub async fn account_get(&self, id: i64) -> StoreResult<Option<Account>> {
        self.cached("account_get", id.to_string(), || {
            self.one_row(
                "account_get",
                "SELECT * FROM accounts WHERE id = $1 AND removed IS NULL",
                id,
                account_row,
            )
        })
        .await
    }

    pub async fn account_by_uuid(&self, uuid: &str) -> StoreResult<Option<Account>> {
        self.cached("account_by_uuid", uuid.to_string(), || {
            self.one_row(
                "account_by_uuid",
                "SELECT * FROM accounts WHERE uuid = $1 AND removed IS NULL",
                uuid,
                account_row,
            )
        })
        .await
    }

    pub async fn account_by_name(
        &self,
        domain_id: i64,
        name: &str,
    ) -> StoreResult<Option<Account>> {
        let r = sqlx::query("SELECT * FROM accounts WHERE domain_id = $1 AND lower(name) = lower($2) AND removed IS NULL")
            .bind(domain_id)
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::query("account_by_name"))?;
        r.map(|r| account_row(&r))
            .transpose()
            .map_err(StoreError::query("account_by_name"))
    }

    pub async fn account_list(
        &self,
        f: &IdentityFilter,
        page: Page,
    ) -> StoreResult<(Vec<Account>, i64)> {
        // Project accounts are the projects' own, never listed as accounts.
        let where_ = "removed IS NULL AND id NOT IN (SELECT account_id FROM projects) AND ($1 = '' OR uuid = $1) AND ($2 = '' OR lower(name) = lower($2)) AND ($3 < 0 OR domain_id = $3) AND ($4 < 0 OR id = $4) AND ($5 = '' OR lower(name) LIKE $5 ESCAPE '\\')";
        let kw = f.keyword.as_deref().map(like_pattern).unwrap_or_default();
        let total: i64 =
            sqlx::query_scalar(&format!("SELECT COUNT(*) FROM accounts WHERE {where_}"))
                .bind(f.uuid.as_deref().unwrap_or(""))
                .bind(f.name.as_deref().unwrap_or(""))
                .bind(f.domain_id.unwrap_or(-1))
                .bind(f.account_id.unwrap_or(-1))
                .bind(&kw)
                .fetch_one(&self.pool)
                .await
                .map_err(StoreError::query("account_list"))?;
        let rows = sqlx::query(&format!(
            "SELECT * FROM accounts WHERE {where_} ORDER BY id{}",
            page.sql()
        ))
        .bind(f.uuid.as_deref().unwrap_or(""))
        .bind(f.name.as_deref().unwrap_or(""))
        .bind(f.domain_id.unwrap_or(-1))
        .bind(f.account_id.unwrap_or(-1))
        .bind(&kw)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::query("account_list"))?;
        let items = rows
            .iter()
            .map(account_row)
            .collect::<Result<_, _>>()
            .map_err(StoreError::query("account_list"))?;
        Ok((items, total))
    }

    /// Soft-delete an account and its users, and drop their sessions.
    pub async fn account_delete(&self, id: i64, now: i64) -> StoreResult<()> {
        // A catalog write: cached rows are stale once it is done.
        let out = async {
            let mut tx = self
                .writer
                .begin()
                .await
                .map_err(StoreError::query("account_delete"))?;
            sqlx::query(
                "DELETE FROM sessions WHERE user_id IN (SELECT id FROM users WHERE account_id = $1)",
            )
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::query("account_delete"))?;
            sqlx::query("UPDATE users SET removed = $2, api_key = NULL, secret_key = NULL WHERE account_id = $1 AND removed IS NULL")
                .bind(id)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::query("account_delete"))?;
            sqlx::query("UPDATE accounts SET removed = $2 WHERE id = $1")
                .bind(id)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::query("account_delete"))?;
            tx.commit()
                .await
                .map_err(StoreError::query("account_delete"))
        }
        .await;
        self.catalog_changed();
        out
    }

    pub async fn user_create(&self, u: &NewUser, now: i64) -> StoreResult<User> {
        let r = sqlx::query("INSERT INTO users (uuid, account_id, username, password_hash, firstname, lastname, email, state, created) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING *")
            .bind(&u.uuid)
            .bind(u.account_id)
            .bind(&u.username)
            .bind(&u.password_hash)
            .bind(&u.firstname)
            .bind(&u.lastname)
            .bind(&u.email)
            .bind(AccountState::Enabled.as_str())
            .bind(now)
            .fetch_one(&self.writer)
            .await
            .map_err(StoreError::query("user_create"))?;
        user_row(&r).map_err(StoreError::query("user_create"))
    }

    pub async fn user_get(&self, id: i64) -> StoreResult<Option<User>> {
        let r = sqlx::query("SELECT * FROM users WHERE id = $1 AND removed IS NULL")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::query("user_get"))?;
        r.map(|r| user_row(&r))
            .transpose()
            .map_err(StoreError::query("user_get"))
    }

    pub async fn user_by_uuid(&self, uuid: &str) -> StoreResult<Option<User>> {
        let r = sqlx::query("SELECT * FROM users WHERE uuid = $1 AND removed IS NULL")
            .bind(uuid)
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::query("user_by_uuid"))?;
        r.map(|r| user_row(&r))
            .transpose()
            .map_err(StoreError::query("user_by_uuid"))
    }

    /// A user by login name within a domain (names are unique per domain).
    pub async fn user_by_username(
        &self,
        domain_id: i64,
        username: &str,
    ) -> StoreResult<Option<User>> {
        let r = sqlx::query("SELECT u.* FROM users u JOIN accounts a ON a.id = u.account_id WHERE a.domain_id = $1 AND u.username = $2 AND u.removed IS NULL AND a.removed IS NULL")
            .bind(domain_id)
            .bind(username)
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::query("user_by_username"))?;
        r.map(|r| user_row(&r))
            .transpose()
            .map_err(StoreError::query("user_by_username"))
    }

    pub async fn user_by_api_key(&self, api_key: &str) -> StoreResult<Option<User>> {
        let r = sqlx::query("SELECT * FROM users WHERE api_key = $1 AND removed IS NULL")
            .bind(api_key)
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::query("user_by_api_key"))?;
        r.map(|r| user_row(&r))
            .transpose()
            .map_err(StoreError::query("user_by_api_key"))
    }

    pub async fn user_list(&self, f: &IdentityFilter, page: Page) -> StoreResult<(Vec<User>, i64)> {
        let where_ = "u.removed IS NULL AND ($1 = '' OR u.uuid = $1) AND ($2 = '' OR u.username = $2) AND ($3 < 0 OR a.domain_id = $3) AND ($4 < 0 OR u.account_id = $4) AND ($5 = '' OR lower(u.username) LIKE $5 ESCAPE '\\')";
        let kw = f.keyword.as_deref().map(like_pattern).unwrap_or_default();
        let total: i64 = sqlx::query_scalar(&format!(
            "SELECT COUNT(*) FROM users u JOIN accounts a ON a.id = u.account_id WHERE {where_}"
        ))
        .bind(f.uuid.as_deref().unwrap_or(""))
        .bind(f.name.as_deref().unwrap_or(""))
        .bind(f.domain_id.unwrap_or(-1))
        .bind(f.account_id.unwrap_or(-1))
        .bind(&kw)
        .fetch_one(&self.pool)
        .await
        .map_err(StoreError::query("user_list"))?;
        let rows = sqlx::query(&format!("SELECT u.* FROM users u JOIN accounts a ON a.id = u.account_id WHERE {where_} ORDER BY u.id{}", page.sql()))
            .bind(f.uuid.as_deref().unwrap_or(""))
            .bind(f.name.as_deref().unwrap_or(""))
            .bind(f.domain_id.unwrap_or(-1))
            .bind(f.account_id.unwrap_or(-1))
            .bind(&kw)
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::query("user_list"))?;
        let items = rows
            .iter()
            .map(user_row)
            .collect::<Result<_, _>>()
            .map_err(StoreError::query("user_list"))?;
        Ok((items, total))
    }

    pub async fn user_set_keys(&self, id: i64, api_key: &str, secret_key: &str) -> StoreResult<()> {
        sqlx::query("UPDATE users SET api_key = $2, secret_key = $3 WHERE id = $1")
            .bind(id)
            .bind(api_key)
            .bind(secret_key)
            .execute(&self.writer)
            .await
            .map_err(StoreError::query("user_set_keys"))?;
        Ok(())
    }

    pub async fn user_set_password(&self, id: i64, password_hash: &str) -> StoreResult<()> {
        sqlx::query("UPDATE users SET password_hash = $2 WHERE id = $1")
            .bind(id)
            .bind(password_hash)
            .execute(&self.writer)
            .await
            .map_err(StoreError::query("user_set_password"))?;
        Ok(())
    }

    /// The user with account, domain and role, or `None` when any of them is gone.
    pub async fn principal_get(&self, user_id: i64) -> StoreResult<Option<Principal>> {
        let Some(user) = self.user_get(user_id).await? else {
            return Ok(None);
        };
        let Some(account) = self.account_get(user.account_id).await? else {
            return Ok(None);
        };
        let Some(domain) = self.domain_get(account.domain_id).await? else {
            return Ok(None);
        };
        let Some(role) = self.role_get(account.role_id).await? else {
            return Ok(None);
        };
        Ok(Some(Principal {
            user,
            account,
            domain,
            role,
        }))
    }

    pub async fn session_create(&self, s: &Session) -> StoreResult<()> {
        sqlx::query("INSERT INTO sessions (session_key, jsession_id, user_id, created, expires) VALUES ($1, $2, $3, $4, $5)")
            .bind(&s.session_key)
            .bind(&s.jsession_id)
            .bind(s.user_id)
            .bind(s.created)
            .bind(s.expires)
            .execute(&self.writer)
            .await
            .map_err(StoreError::query("session_create"))?;
        Ok(())
    }

    pub async fn session_get(&self, session_key: &str, now: i64) -> StoreResult<Option<Session>> {
        let r = sqlx::query("SELECT * FROM sessions WHERE session_key = $1 AND expires > $2")
            .bind(session_key)
            .bind(now)
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::query("session_get"))?;
        let map = |r: &AnyRow| -> Result<Session, sqlx::Error> {
            Ok(Session {
                session_key: get_str(r, "session_key")?,
                jsession_id: get_str(r, "jsession_id")?,
                user_id: get_i64(r, "user_id")?,
                created: get_i64(r, "created")?,
                expires: get_i64(r, "expires")?,
            })
        };
        r.map(|r| map(&r))
            .transpose()
            .map_err(StoreError::query("session_get"))
    }

    /// Slide a session's expiry forward.
    pub async fn session_touch(&self, session_key: &str, expires: i64) -> StoreResult<()> {
        sqlx::query("UPDATE sessions SET expires = $2 WHERE session_key = $1")
            .bind(session_key)
            .bind(expires)
            .execute(&self.writer)
            .await
            .map_err(StoreError::query("session_touch"))?;
        Ok(())
    }

    pub async fn session_delete(&self, session_key: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM sessions WHERE session_key = $1")
            .bind(session_key)
            .execute(&self.writer)
            .await
            .map_err(StoreError::query("session_delete"))?;
        Ok(())
    }

    pub async fn session_sweep(&self, now: i64) -> StoreResult<u64> {
        let r = sqlx::query("DELETE FROM sessions WHERE expires <= $1")
            .bind(now)
            .execute(&self.writer)
            .await
            .map_err(StoreError::query("session_sweep"))?;
        Ok(r.rows_affected())
    }
}
