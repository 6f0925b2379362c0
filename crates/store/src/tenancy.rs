//! The life of domains, accounts and users after their creation: updates, state changes, failed
//! log-ins and deletion. Creation and lookups are in `identity.rs`.

use trellis_model::account::AccountState;
use trellis_model::entity::{Account, Domain, User};

use crate::identity::{account_row, domain_row, user_row};
use crate::{Store, StoreError, StoreResult};

/// What `updateUser` changes; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct UserChanges {
    pub username: Option<String>,
    pub firstname: Option<String>,
    pub lastname: Option<String>,
    pub email: Option<String>,
    pub timezone: Option<String>,
    pub password_hash: Option<String>,
    /// A new API key and secret key, set together.
    pub keys: Option<(String, String)>,
}

impl Store {
    /// Apply `c` to a live user; `None` when there is no such user.
    pub async fn user_update(&self, id: i64, c: &UserChanges) -> StoreResult<Option<User>> {
        let (api_key, secret_key) = match &c.keys {
            Some((k, s)) => (Some(k.as_str()), Some(s.as_str())),
            None => (None, None),
        };
        let r = sqlx::query(
            "UPDATE users SET username = COALESCE($2, username), firstname = COALESCE($3, firstname), \
             lastname = COALESCE($4, lastname), email = COALESCE($5, email), timezone = COALESCE($6, timezone), \
             password_hash = COALESCE($7, password_hash), api_key = COALESCE($8, api_key), \
             secret_key = COALESCE($9, secret_key) WHERE id = $1 AND removed IS NULL RETURNING *",
        )
        .bind(id)
        .bind(c.username.as_deref())
        .bind(c.firstname.as_deref())
        .bind(c.lastname.as_deref())
        .bind(c.email.as_deref())
        .bind(c.timezone.as_deref())
        .bind(c.password_hash.as_deref())
        .bind(api_key)
        .bind(secret_key)
        .fetch_optional(&self.writer)
        .await
        .map_err(StoreError::query("user_update"))?;
        r.map(|r| user_row(&r))
            .transpose()
            .map_err(StoreError::query("user_update"))
    }

    /// Set a live user's state. Enabling also forgets its failed log-ins; any other state ends
    /// its sessions.
    pub async fn user_set_state(&self, id: i64, state: AccountState) -> StoreResult<Option<User>> {
        let mut tx = self
            .writer
            .begin()
            .await
            .map_err(StoreError::query("user_set_state"))?;
        let r = sqlx::query(
            "UPDATE users SET state = $2, failed_logins = CASE WHEN $2 = 'enabled' THEN 0 ELSE failed_logins END \
             WHERE id = $1 AND removed IS NULL RETURNING *",
        )
        .bind(id)
        .bind(state.as_str())
        .fetch_optional(&mut *tx)
        .await
        .map_err(StoreError::query("user_set_state"))?;
        if !state.is_enabled() {
            sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::query("user_set_state"))?;
        }
        tx.commit()
            .await
            .map_err(StoreError::query("user_set_state"))?;
        r.map(|r| user_row(&r))
            .transpose()
            .map_err(StoreError::query("user_set_state"))
    }

    /// Remove a user: its sessions end, its keys are dropped, the row is kept as removed.
    pub async fn user_delete(&self, id: i64, now: i64) -> StoreResult<()> {
        let mut tx = self
            .writer
            .begin()
            .await
            .map_err(StoreError::query("user_delete"))?;
        sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::query("user_delete"))?;
        sqlx::query(
            "UPDATE users SET removed = $2, api_key = NULL, secret_key = NULL WHERE id = $1 AND removed IS NULL",
        )
        .bind(id)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::query("user_delete"))?;
        tx.commit().await.map_err(StoreError::query("user_delete"))
    }

    /// Count a wrong password against a user; at `allowed` failures in a row an enabled user is
    /// locked (`allowed` ≤ 0: never). Returns the user as it now is.
    pub async fn user_login_failed(&self, id: i64, allowed: i64) -> StoreResult<Option<User>> {
        let r = sqlx::query(
            "UPDATE users SET failed_logins = failed_logins + 1, \
             state = CASE WHEN $2 > 0 AND failed_logins + 1 >= $2 AND state = 'enabled' THEN 'locked' ELSE state END \
             WHERE id = $1 AND removed IS NULL RETURNING *",
        )
        .bind(id)
        .bind(allowed)
        .fetch_optional(&self.writer)
        .await
        .map_err(StoreError::query("user_login_failed"))?;
        r.map(|r| user_row(&r))
            .transpose()
            .map_err(StoreError::query("user_login_failed"))
    }

    /// A successful log-in: the count of failures starts again.
    pub async fn user_login_succeeded(&self, id: i64) -> StoreResult<()> {
        sqlx::query("UPDATE users SET failed_logins = 0 WHERE id = $1 AND failed_logins <> 0")
            .bind(id)
            .execute(&self.writer)
            .await
            .map_err(StoreError::query("user_login_succeeded"))?;
        Ok(())
    }

    /// Enabled users of enabled root-administrator accounts (role type `Admin`), leaving out one
    /// user and one account: what would remain if they were disabled or deleted.
    pub async fn root_admins_remaining(
        &self,
        without_user: Option<i64>,
        without_account: Option<i64>,
    ) -> StoreResult<i64> {
        sqlx::query_scalar(
            "SELECT COUNT(*) FROM users u JOIN accounts a ON a.id = u.account_id JOIN roles r ON r.id = a.role_id \
             WHERE u.removed IS NULL AND a.removed IS NULL AND u.state = 'enabled' AND a.state = 'enabled' \
             AND r.role_type = 'Admin' AND u.id <> $1 AND a.id <> $2",
        )
        .bind(without_user.unwrap_or(-1))
        .bind(without_account.unwrap_or(-1))
        .fetch_one(&self.pool)
        .await
        .map_err(StoreError::query("root_admins_remaining"))
    }

    /// Rename an account, change its role or network domain (`None` keeps a field).
    pub async fn account_update(
        &self,
        id: i64,
        name: Option<&str>,
        role_id: Option<i64>,
        network_domain: Option<&str>,
    ) -> StoreResult<Option<Account>> {
        // A catalog write: cached rows are stale once it is done.
        let out = async {
            let r = sqlx::query(
                "UPDATE accounts SET name = COALESCE($2, name), role_id = COALESCE($3, role_id), \
                 network_domain = COALESCE($4, network_domain) WHERE id = $1 AND removed IS NULL RETURNING *",
            )
            .bind(id)
            .bind(name)
            .bind(role_id)
            .bind(network_domain)
            .fetch_optional(&self.writer)
            .await
            .map_err(StoreError::query("account_update"))?;
            r.map(|r| account_row(&r))
                .transpose()
                .map_err(StoreError::query("account_update"))
        }
        .await;
        self.catalog_changed();
        out
    }

    /// Set a live account's state; any state but enabled ends its users' sessions.
    pub async fn account_set_state(
        &self,
        id: i64,
        state: AccountState,
    ) -> StoreResult<Option<Account>> {
        // A catalog write: cached rows are stale once it is done.
        let out = async {
            let mut tx = self
                .writer
                .begin()
                .await
                .map_err(StoreError::query("account_set_state"))?;
            let r = sqlx::query(
                "UPDATE accounts SET state = $2 WHERE id = $1 AND removed IS NULL RETURNING *",
            )
            .bind(id)
            .bind(state.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(StoreError::query("account_set_state"))?;
            if !state.is_enabled() {
                sqlx::query(
                    "DELETE FROM sessions WHERE user_id IN (SELECT id FROM users WHERE account_id = $1)",
                )
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::query("account_set_state"))?;
            }
            tx.commit()
                .await
                .map_err(StoreError::query("account_set_state"))?;
            r.map(|r| account_row(&r))
                .transpose()
                .map_err(StoreError::query("account_set_state"))
        }
        .await;
        self.catalog_changed();
        out
    }

    /// Rename a domain (`new_name` with its `new_path`; the paths of every domain below follow)
    /// and/or set its network domain.
    pub async fn domain_update(
        &self,
        id: i64,
        rename: Option<(&str, &str)>,
        network_domain: Option<&str>,
    ) -> StoreResult<Option<Domain>> {
        // A catalog write: cached rows are stale once it is done.
        let out = async {
            let mut tx = self
                .writer
                .begin()
                .await
                .map_err(StoreError::query("domain_update"))?;
            let Some(old) = sqlx::query("SELECT * FROM domains WHERE id = $1 AND removed IS NULL")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(StoreError::query("domain_update"))?
            else {
                return Ok(None);
            };
            let old = domain_row(&old).map_err(StoreError::query("domain_update"))?;
            if let Some((_, new_path)) = rename {
                // Every path below starts with the old one; swap that prefix.
                // `substr` takes 32-bit positions on PostgreSQL.
                let len = i32::try_from(old.path.chars().count()).unwrap_or(i32::MAX - 1);
                sqlx::query(
                    "UPDATE domains SET path = $2 || substr(path, $3) \
                     WHERE substr(path, 1, $4) = $1 AND removed IS NULL",
                )
                .bind(&old.path)
                .bind(new_path)
                .bind(len + 1)
                .bind(len)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::query("domain_update"))?;
            }
            let r = sqlx::query(
                "UPDATE domains SET name = COALESCE($2, name), network_domain = COALESCE($3, network_domain) \
                 WHERE id = $1 RETURNING *",
            )
            .bind(id)
            .bind(rename.map(|(n, _)| n))
            .bind(network_domain)
            .fetch_one(&mut *tx)
            .await
            .map_err(StoreError::query("domain_update"))?;
            let d = domain_row(&r).map_err(StoreError::query("domain_update"))?;
            tx.commit()
                .await
                .map_err(StoreError::query("domain_update"))?;
            Ok(Some(d))
        }
        .await;
        self.catalog_changed();
        out
    }

    /// Remove a domain (kept as removed). The caller has emptied it first.
    pub async fn domain_delete(&self, id: i64, now: i64) -> StoreResult<()> {
        // A catalog write: cached rows are stale once it is done.
        let out = sqlx::query("UPDATE domains SET removed = $2 WHERE id = $1 AND removed IS NULL")
            .bind(id)
            .bind(now)
            .execute(&self.writer)
            .await
            .map(|_| ())
            .map_err(StoreError::query("domain_delete"));
        self.catalog_changed();
        out
    }

    /// How many live accounts (project accounts included) and child domains a domain has.
    pub async fn domain_contents(&self, id: i64) -> StoreResult<(i64, i64)> {
        let accounts: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM accounts WHERE domain_id = $1 AND removed IS NULL",
        )
        .bind(id)
        .fetch_one(&self.pool)
        .await
        .map_err(StoreError::query("domain_contents"))?;
        let children: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM domains WHERE parent_id = $1 AND removed IS NULL",
        )
        .bind(id)
        .fetch_one(&self.pool)
        .await
        .map_err(StoreError::query("domain_contents"))?;
        Ok((accounts, children))
    }
}
