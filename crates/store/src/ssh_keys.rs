//! SSH key pairs: public keys and their fingerprints, one name per owner account. Rows are
//! deleted outright (nothing refers to them: instances copy the keys they were deployed with).

use sqlx::any::AnyRow;
use trellis_model::entity::SshKeyPair;

use crate::{get_i64, get_str, like_pattern, Page, Store, StoreError, StoreResult};

fn row(r: &AnyRow) -> Result<SshKeyPair, sqlx::Error> {
    Ok(SshKeyPair {
        id: get_i64(r, "id")?,
        uuid: get_str(r, "uuid")?,
        name: get_str(r, "name")?,
        account_id: get_i64(r, "account_id")?,
        domain_id: get_i64(r, "domain_id")?,
        public_key: get_str(r, "public_key")?,
        fingerprint: get_str(r, "fingerprint")?,
        created: get_i64(r, "created")?,
    })
}

/// Filters of `listSSHKeyPairs`; every one given must match.
#[derive(Debug, Clone, Default)]
pub struct SshKeyPairFilter {
    pub uuid: Option<String>,
    /// Exact name.
    pub name: Option<String>,
    /// Exact fingerprint.
    pub fingerprint: Option<String>,
    /// Substring of the name or the fingerprint, case-insensitive.
    pub keyword: Option<String>,
    pub account_id: Option<i64>,
    pub domain_id: Option<i64>,
    /// Only key pairs whose owner's domain path starts with this (a domain and its subdomains).
    pub domain_path: Option<String>,
    /// Only rows owned by one of these accounts (`projectid=-1`).
    pub account_ids: Option<Vec<i64>>,
    /// Leave out project-owned rows (no `projectid`).
    pub exclude_projects: bool,
}

const LIST_WHERE: &str = "($1 = '' OR uuid = $1) AND ($2 = '' OR name = $2) AND ($3 = '' OR fingerprint = $3) AND ($4 < 0 OR account_id = $4) AND ($5 < 0 OR domain_id = $5) AND ($6 = '' OR domain_id IN (SELECT id FROM domains WHERE substr(path, 1, CAST($7 AS INTEGER)) = $6)) AND ($8 = '' OR lower(name) LIKE $8 ESCAPE '\\' OR lower(fingerprint) LIKE $8 ESCAPE '\\')";

impl Store {
    /// Insert a key pair; a second pair of the same name for the same account is a unique
    /// violation ([`StoreError::is_unique_violation`]).
    pub async fn ssh_keypair_create(&self, k: &SshKeyPair) -> StoreResult<SshKeyPair> {
        let r = sqlx::query("INSERT INTO ssh_keypairs (uuid, name, account_id, domain_id, public_key, fingerprint, created) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *")
            .bind(&k.uuid)
            .bind(&k.name)
            .bind(k.account_id)
            .bind(k.domain_id)
            .bind(&k.public_key)
            .bind(&k.fingerprint)
            .bind(k.created)
            .fetch_one(&self.writer)
            .await
            .map_err(StoreError::query("ssh_keypair_create"))?;
        row(&r).map_err(StoreError::query("ssh_keypair_create"))
    }

    pub async fn ssh_keypair_by_uuid(&self, uuid: &str) -> StoreResult<Option<SshKeyPair>> {
        self.one_row(
            "ssh_keypair_by_uuid",
            "SELECT * FROM ssh_keypairs WHERE uuid = $1",
            uuid,
            row,
        )
        .await
    }

    /// The key pair of `account_id` named `name` (names compare exactly).
    pub async fn ssh_keypair_by_name(
        &self,
        account_id: i64,
        name: &str,
    ) -> StoreResult<Option<SshKeyPair>> {
        let r = sqlx::query("SELECT * FROM ssh_keypairs WHERE account_id = $1 AND name = $2")
            .bind(account_id)
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::query("ssh_keypair_by_name"))?;
        r.map(|r| row(&r))
            .transpose()
            .map_err(StoreError::query("ssh_keypair_by_name"))
    }

    /// Key pairs matching `f`, newest first, with the total before paging.
    pub async fn ssh_keypair_list(
        &self,
        f: &SshKeyPairFilter,
        page: Page,
    ) -> StoreResult<(Vec<SshKeyPair>, i64)> {
        let op = "ssh_keypair_list";
        let kw = f.keyword.as_deref().map(like_pattern).unwrap_or_default();
        let path = f.domain_path.as_deref().unwrap_or("");
        let path_len = i64::try_from(path.len()).unwrap_or(0);
        macro_rules! bound {
            ($sql:expr) => {
                sqlx::query($sql)
                    .bind(f.uuid.as_deref().unwrap_or(""))
                    .bind(f.name.as_deref().unwrap_or(""))
                    .bind(f.fingerprint.as_deref().unwrap_or(""))
                    .bind(f.account_id.unwrap_or(-1))
                    .bind(f.domain_id.unwrap_or(-1))
                    .bind(path)
                    .bind(path_len)
                    .bind(&kw)
            };
        }
        let owners =
            crate::owner_conditions("account_id", f.account_ids.as_deref(), f.exclude_projects);
        let count_sql =
            format!("SELECT COUNT(*) AS n FROM ssh_keypairs WHERE {LIST_WHERE}{owners}");
        let total = bound!(&count_sql)
            .fetch_one(&self.pool)
            .await
            .and_then(|r| get_i64(&r, "n"))
            .map_err(StoreError::query(op))?;
        let list_sql = format!(
            "SELECT * FROM ssh_keypairs WHERE {LIST_WHERE}{owners} ORDER BY id DESC{}",
            page.sql()
        );
        let rows = bound!(&list_sql)
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::query(op))?;
        let items = rows
            .iter()
            .map(row)
            .collect::<Result<_, _>>()
            .map_err(StoreError::query(op))?;
        Ok((items, total))
    }

    /// Delete one key pair; false when it was already gone.
    pub async fn ssh_keypair_delete(&self, id: i64) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM ssh_keypairs WHERE id = $1")
            .bind(id)
            .execute(&self.writer)
            .await
            .map_err(StoreError::query("ssh_keypair_delete"))?;
        Ok(done.rows_affected() > 0)
    }

    /// Delete every key pair of an account (the account is being deleted); returns how many.
    pub async fn ssh_keypair_delete_for_account(&self, account_id: i64) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM ssh_keypairs WHERE account_id = $1")
            .bind(account_id)
            .execute(&self.writer)
            .await
            .map_err(StoreError::query("ssh_keypair_delete_for_account"))?;
        Ok(done.rows_affected())
    }
}
