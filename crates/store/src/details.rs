//! Details rows of every owner kind (extension, resource map, custom action, host, ...).
//! "Replace" removes the visible rows and inserts the new set in one transaction, keeping hidden
//! rows, as CloudStack's details DAOs do.

use sqlx::any::AnyRow;
use std::collections::BTreeMap;
use trellis_model::entity::{Detail, DetailOwner};

use crate::{get_bool, get_i64, get_str, Store, StoreError, StoreResult};

fn row(r: &AnyRow) -> Result<Detail, sqlx::Error> {
    Ok(Detail {
        name: get_str(r, "name")?,
        value: get_str(r, "value")?,
        display: get_bool(r, "display")?,
    })
}

impl Store {
    /// All details of an owner, visible and hidden, ordered by name.
    pub async fn details_get(&self, owner: DetailOwner, owner_id: i64) -> StoreResult<Vec<Detail>> {
        let rows = sqlx::query("SELECT name, value, display FROM details WHERE owner_kind = $1 AND owner_id = $2 ORDER BY name")
            .bind(owner.as_str())
            .bind(owner_id)
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::query("details_get"))?;
        rows.iter()
            .map(row)
            .collect::<Result<_, _>>()
            .map_err(StoreError::query("details_get"))
    }

    /// Visible details as a map.
    pub async fn details_visible(
        &self,
        owner: DetailOwner,
        owner_id: i64,
    ) -> StoreResult<BTreeMap<String, String>> {
        Ok(self
            .details_get(owner, owner_id)
            .await?
            .into_iter()
            .filter(|d| d.display)
            .map(|d| (d.name, d.value))
            .collect())
    }

    /// The visible details of several owners in one query, in the order of `owners` (an owner
    /// without details gets an empty map).
    pub async fn details_visible_of<const N: usize>(
        &self,
        owners: &[(DetailOwner, i64); N],
    ) -> StoreResult<[BTreeMap<String, String>; N]> {
        let mut out: [BTreeMap<String, String>; N] = std::array::from_fn(|_| BTreeMap::new());
        if N == 0 {
            return Ok(out);
        }
        let terms: Vec<String> = (0..N)
            .map(|i| {
                format!(
                    "(owner_kind = ${} AND owner_id = ${})",
                    2 * i + 1,
                    2 * i + 2
                )
            })
            .collect();
        let sql = format!(
            "SELECT owner_kind, owner_id, name, value FROM details WHERE display = 1 AND ({})",
            terms.join(" OR ")
        );
        let mut q = sqlx::query(&sql);
        for (kind, id) in owners {
            q = q.bind(kind.as_str()).bind(*id);
        }
        let op = "details_visible_of";
        for r in q
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::query(op))?
        {
            let kind = get_str(&r, "owner_kind").map_err(StoreError::query(op))?;
            let id = crate::get_i64(&r, "owner_id").map_err(StoreError::query(op))?;
            let name = get_str(&r, "name").map_err(StoreError::query(op))?;
            let value = get_str(&r, "value").map_err(StoreError::query(op))?;
            for (slot, (k, i)) in owners.iter().enumerate() {
                if k.as_str() == kind && *i == id {
                    out[slot].insert(name.clone(), value.clone());
                }
            }
        }
        Ok(out)
    }

    /// One detail's value (visible or hidden).
    pub async fn detail_get(
        &self,
        owner: DetailOwner,
        owner_id: i64,
        name: &str,
    ) -> StoreResult<Option<String>> {
        sqlx::query_scalar(
            "SELECT value FROM details WHERE owner_kind = $1 AND owner_id = $2 AND name = $3",
        )
        .bind(owner.as_str())
        .bind(owner_id)
        .bind(name)
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::query("detail_get"))
    }

    /// Insert or update one detail.
    pub async fn detail_upsert(
        &self,
        owner: DetailOwner,
        owner_id: i64,
        name: &str,
        value: &str,
        display: bool,
    ) -> StoreResult<()> {
        sqlx::query("INSERT INTO details (owner_kind, owner_id, name, value, display) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (owner_kind, owner_id, name) DO UPDATE SET value = excluded.value, display = excluded.display")
            .bind(owner.as_str())
            .bind(owner_id)
            .bind(name)
            .bind(value)
            .bind(crate::b2i(display))
            .execute(&self.writer)
            .await
            .map_err(StoreError::query("detail_upsert"))?;
        Ok(())
    }

    pub async fn detail_delete(
        &self,
        owner: DetailOwner,
        owner_id: i64,
        name: &str,
    ) -> StoreResult<()> {
        sqlx::query("DELETE FROM details WHERE owner_kind = $1 AND owner_id = $2 AND name = $3")
            .bind(owner.as_str())
            .bind(owner_id)
            .bind(name)
            .execute(&self.writer)
            .await
            .map_err(StoreError::query("detail_delete"))?;
        Ok(())
    }

    /// Replace the visible details of an owner (hidden ones stay), optionally only those whose
    /// name starts with `prefix`.
    pub async fn details_replace_visible(
        &self,
        owner: DetailOwner,
        owner_id: i64,
        prefix: &str,
        values: &BTreeMap<String, String>,
    ) -> StoreResult<()> {
        let mut tx = self
            .writer
            .begin()
            .await
            .map_err(StoreError::query("details_replace"))?;
        sqlx::query("DELETE FROM details WHERE owner_kind = $1 AND owner_id = $2 AND display = 1 AND substr(name, 1, CAST($3 AS INTEGER)) = $4")
            .bind(owner.as_str())
            .bind(owner_id)
            .bind(i64::try_from(prefix.len()).unwrap_or(0))
            .bind(prefix)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::query("details_replace"))?;
        for (k, v) in values {
            sqlx::query("INSERT INTO details (owner_kind, owner_id, name, value, display) VALUES ($1, $2, $3, $4, 1) ON CONFLICT (owner_kind, owner_id, name) DO UPDATE SET value = excluded.value, display = 1")
                .bind(owner.as_str())
                .bind(owner_id)
                .bind(format!("{prefix}{k}"))
                .bind(v)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::query("details_replace"))?;
        }
        tx.commit()
            .await
            .map_err(StoreError::query("details_replace"))
    }

    /// Remove every detail of an owner.
    pub async fn details_delete_all(&self, owner: DetailOwner, owner_id: i64) -> StoreResult<()> {
        sqlx::query("DELETE FROM details WHERE owner_kind = $1 AND owner_id = $2")
            .bind(owner.as_str())
            .bind(owner_id)
            .execute(&self.writer)
            .await
            .map_err(StoreError::query("details_delete_all"))?;
        Ok(())
    }
}

impl Store {
    /// Visible details of many owners of one kind at once.
    pub async fn details_visible_for(
        &self,
        owner: trellis_model::entity::DetailOwner,
        ids: &[i64],
    ) -> StoreResult<std::collections::HashMap<i64, std::collections::BTreeMap<String, String>>>
    {
        let mut out: std::collections::HashMap<i64, std::collections::BTreeMap<String, String>> =
            std::collections::HashMap::new();
        for chunk in ids.chunks(500) {
            let list = chunk
                .iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(",");
            let rows = sqlx::query(&format!("SELECT owner_id, name, value FROM details WHERE owner_kind = $1 AND display = 1 AND owner_id IN ({list})"))
                .bind(owner.as_str())
                .fetch_all(&self.pool)
                .await
                .map_err(StoreError::query("details_visible_for"))?;
            for r in &rows {
                let (id, k, v) = (
                    get_i64(r, "owner_id"),
                    get_str(r, "name"),
                    get_str(r, "value"),
                );
                let (id, k, v) = (
                    id.map_err(StoreError::query("details_visible_for"))?,
                    k.map_err(StoreError::query("details_visible_for"))?,
                    v.map_err(StoreError::query("details_visible_for"))?,
                );
                out.entry(id).or_default().insert(k, v);
            }
        }
        Ok(out)
    }
}

/// One details row with its owner, for work over the rows of every owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedDetail {
    pub owner: DetailOwner,
    pub owner_id: i64,
    pub name: String,
    pub value: String,
}

/// The owner kind of a stored row (`None` for a kind this version does not know).
fn owner_of(kind: &str) -> Option<DetailOwner> {
    [
        DetailOwner::Extension,
        DetailOwner::ResourceMap,
        DetailOwner::CustomAction,
        DetailOwner::Cluster,
        DetailOwner::Host,
        DetailOwner::Offering,
        DetailOwner::Template,
        DetailOwner::Instance,
    ]
    .into_iter()
    .find(|o| o.as_str() == kind)
}

impl Store {
    /// The details rows, visible and hidden, of every owner whose name contains one of
    /// `fragments` (ASCII case-insensitively), ordered by owner and name. The caller decides what
    /// the fragments mean; this only matches text.
    pub async fn details_named_like(&self, fragments: &[&str]) -> StoreResult<Vec<OwnedDetail>> {
        let op = "details_named_like";
        if fragments.is_empty() {
            return Ok(Vec::new());
        }
        let terms: Vec<String> = (1..=fragments.len())
            .map(|i| format!("lower(name) LIKE ${i}"))
            .collect();
        let sql = format!(
            "SELECT owner_kind, owner_id, name, value FROM details WHERE {} ORDER BY owner_kind, owner_id, name",
            terms.join(" OR ")
        );
        let mut q = sqlx::query(&sql);
        for f in fragments {
            q = q.bind(format!("%{}%", f.to_ascii_lowercase()));
        }
        let rows = q
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::query(op))?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let kind = get_str(r, "owner_kind").map_err(StoreError::query(op))?;
            let Some(owner) = owner_of(&kind) else {
                continue;
            };
            out.push(OwnedDetail {
                owner,
                owner_id: get_i64(r, "owner_id").map_err(StoreError::query(op))?,
                name: get_str(r, "name").map_err(StoreError::query(op))?,
                value: get_str(r, "value").map_err(StoreError::query(op))?,
            });
        }
        Ok(out)
    }

    /// Set one detail's value only if it still holds `expected` (a compare-and-set, so that
    /// several servers rewriting the same row write it once); tells whether it did.
    pub async fn detail_swap_value(
        &self,
        owner: DetailOwner,
        owner_id: i64,
        name: &str,
        expected: &str,
        value: &str,
    ) -> StoreResult<bool> {
        let done = sqlx::query("UPDATE details SET value = $5 WHERE owner_kind = $1 AND owner_id = $2 AND name = $3 AND value = $4")
            .bind(owner.as_str())
            .bind(owner_id)
            .bind(name)
            .bind(expected)
            .bind(value)
            .execute(&self.writer)
            .await
            .map_err(StoreError::query("detail_swap_value"))?;
        Ok(done.rows_affected() == 1)
    }
}
