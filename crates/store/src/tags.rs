//! Resource tags: key/value pairs on resources of every taggable type, written all or nothing,
//! and the `tags[i].key/value` condition list commands add to their own queries.

use sqlx::any::AnyRow;
use trellis_model::entity::ResourceTag;

use crate::{
    get_i64, get_opt_i64, get_opt_str, get_str, like_pattern, Page, Store, StoreError, StoreResult,
};

fn tag_row(r: &AnyRow) -> Result<ResourceTag, sqlx::Error> {
    Ok(ResourceTag {
        id: get_i64(r, "id")?,
        uuid: get_str(r, "uuid")?,
        key: get_str(r, "tag_key")?,
        value: get_str(r, "tag_value")?,
        resource_type: get_str(r, "resource_type")?,
        resource_id: get_i64(r, "resource_id")?,
        resource_uuid: get_str(r, "resource_uuid")?,
        account_id: get_opt_i64(r, "account_id")?,
        domain_id: get_opt_i64(r, "domain_id")?,
        customer: get_opt_str(r, "customer")?,
        created: get_i64(r, "created")?,
    })
}

/// Filters of `listTags` (all exact).
#[derive(Debug, Clone, Default)]
pub struct TagFilter {
    pub resource_type: Option<String>,
    pub resource_uuid: Option<String>,
    pub key: Option<String>,
    pub value: Option<String>,
    pub customer: Option<String>,
    /// Tags of resources this account owns only.
    pub account_id: Option<i64>,
    pub keyword: Option<String>,
}

/// The condition "the row `id_column` names carries every pair" for a list query of resources of
/// `resource_type`: the SQL to append and the values to bind after the query's own, in order.
/// Placeholders start at `$first`.
pub fn tags_condition(
    id_column: &str,
    resource_type: &'static str,
    pairs: &[(String, String)],
    first: usize,
) -> (String, Vec<String>) {
    let mut sql = String::new();
    let mut binds = Vec::with_capacity(pairs.len() * 2);
    for (i, (key, value)) in pairs.iter().enumerate() {
        let (k, v) = (first + 2 * i, first + 2 * i + 1);
        sql.push_str(&format!(
            " AND EXISTS (SELECT 1 FROM resource_tags rt WHERE rt.resource_type = '{resource_type}' AND rt.resource_id = {id_column} AND rt.tag_key = ${k} AND (${v} = '' OR rt.tag_value = ${v}))"
        ));
        binds.push(key.clone());
        binds.push(value.clone());
    }
    (sql, binds)
}

impl Store {
    /// Insert every tag or none (a duplicate key on a resource fails the whole set with a
    /// unique violation).
    pub async fn tag_create_all(&self, tags: &[ResourceTag]) -> StoreResult<Vec<ResourceTag>> {
        let mut tx = self
            .writer
            .begin()
            .await
            .map_err(StoreError::query("tag_create_all"))?;
        let mut out = Vec::with_capacity(tags.len());
        for t in tags {
            let r = sqlx::query("INSERT INTO resource_tags (uuid, tag_key, tag_value, resource_type, resource_id, resource_uuid, account_id, domain_id, customer, created) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING *")
                .bind(&t.uuid).bind(&t.key).bind(&t.value).bind(&t.resource_type).bind(t.resource_id).bind(&t.resource_uuid)
                .bind(t.account_id).bind(t.domain_id).bind(t.customer.as_deref()).bind(t.created)
                .fetch_one(&mut *tx).await.map_err(StoreError::query("tag_create_all"))?;
            out.push(tag_row(&r).map_err(StoreError::query("tag_create_all"))?);
        }
        tx.commit()
            .await
            .map_err(StoreError::query("tag_create_all"))?;
        Ok(out)
    }

    /// Delete these tags, all or none.
    pub async fn tag_delete_all(&self, ids: &[i64]) -> StoreResult<()> {
        let mut tx = self
            .writer
            .begin()
            .await
            .map_err(StoreError::query("tag_delete_all"))?;
        for id in ids {
            sqlx::query("DELETE FROM resource_tags WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::query("tag_delete_all"))?;
        }
        tx.commit()
            .await
            .map_err(StoreError::query("tag_delete_all"))
    }

    /// Delete every tag of one resource (the resource is gone).
    pub async fn tag_delete_for_resource(
        &self,
        resource_type: &str,
        resource_id: i64,
    ) -> StoreResult<()> {
        sqlx::query("DELETE FROM resource_tags WHERE resource_type = $1 AND resource_id = $2")
            .bind(resource_type)
            .bind(resource_id)
            .execute(&self.writer)
            .await
            .map_err(StoreError::query("tag_delete_for_resource"))?;
        Ok(())
    }

    /// Every tag of these resources of one type, ordered by resource then key.
    pub async fn tags_of(
        &self,
        resource_type: &str,
        resource_ids: &[i64],
    ) -> StoreResult<Vec<ResourceTag>> {
        if resource_ids.is_empty() {
            return Ok(Vec::new());
        }
        // Ids are integers from our own rows: inlined, so one statement serves any count.
        let ids = resource_ids
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let rows = sqlx::query(&format!("SELECT * FROM resource_tags WHERE resource_type = $1 AND resource_id IN ({ids}) ORDER BY resource_id, tag_key"))
            .bind(resource_type)
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::query("tags_of"))?;
        rows.iter()
            .map(tag_row)
            .collect::<Result<_, _>>()
            .map_err(StoreError::query("tags_of"))
    }

    /// `listTags`: a page of matching tags and the total.
    pub async fn tag_list(
        &self,
        f: &TagFilter,
        page: Page,
    ) -> StoreResult<(Vec<ResourceTag>, i64)> {
        let where_ = "($1 = '' OR resource_type = $1) AND ($2 = '' OR resource_uuid = $2) AND ($3 = '' OR tag_key = $3) AND ($4 = '' OR tag_value = $4) AND ($5 = '' OR customer = $5) AND ($6 < 0 OR account_id = $6) AND ($7 = '' OR lower(tag_key) LIKE $7 ESCAPE '\\' OR lower(tag_value) LIKE $7 ESCAPE '\\')";
        let kw = f.keyword.as_deref().map(like_pattern).unwrap_or_default();
        let s = |o: &Option<String>| o.clone().unwrap_or_default();
        let total: i64 = sqlx::query_scalar(&format!(
            "SELECT COUNT(*) FROM resource_tags WHERE {where_}"
        ))
        .bind(s(&f.resource_type))
        .bind(s(&f.resource_uuid))
        .bind(s(&f.key))
        .bind(s(&f.value))
        .bind(s(&f.customer))
        .bind(f.account_id.unwrap_or(-1))
        .bind(&kw)
        .fetch_one(&self.pool)
        .await
        .map_err(StoreError::query("tag_list"))?;
        let rows = sqlx::query(&format!(
            "SELECT * FROM resource_tags WHERE {where_} ORDER BY id{}",
            page.sql()
        ))
        .bind(s(&f.resource_type))
        .bind(s(&f.resource_uuid))
        .bind(s(&f.key))
        .bind(s(&f.value))
        .bind(s(&f.customer))
        .bind(f.account_id.unwrap_or(-1))
        .bind(&kw)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::query("tag_list"))?;
        Ok((
            rows.iter()
                .map(tag_row)
                .collect::<Result<_, _>>()
                .map_err(StoreError::query("tag_list"))?,
            total,
        ))
    }
}

/// Binding the values of [`tags_condition`] after a query's own.
pub(crate) trait BindAll {
    fn bind_all(self, values: &[String]) -> Self;
}

impl<'q> BindAll for sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    fn bind_all(mut self, values: &[String]) -> Self {
        for v in values {
            self = self.bind(v.clone());
        }
        self
    }
}

impl<'q, O> BindAll for sqlx::query::QueryScalar<'q, sqlx::Any, O, sqlx::any::AnyArguments<'q>> {
    fn bind_all(mut self, values: &[String]) -> Self {
        for v in values {
            self = self.bind(v.clone());
        }
        self
    }
}
