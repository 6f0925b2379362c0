//! Global settings (CloudStack's `configuration` table).

use sqlx::any::AnyRow;
use trellis_model::entity::Configuration;

use crate::{get_bool, get_opt_str, get_str, like_pattern, Page, Store, StoreError, StoreResult};

fn row(r: &AnyRow) -> Result<Configuration, sqlx::Error> {
    Ok(Configuration {
        name: get_str(r, "name")?,
        value: get_opt_str(r, "value")?,
        default_value: get_opt_str(r, "default_value")?,
        category: get_str(r, "category")?,
        description: get_str(r, "description")?,
        is_dynamic: get_bool(r, "is_dynamic")?,
    })
}

impl Store {
    /// Insert a setting with its default unless it exists (existing values are kept).
    pub async fn config_seed(&self, c: &Configuration) -> StoreResult<()> {
        sqlx::query("INSERT INTO configurations (name, value, default_value, category, description, is_dynamic) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (name) DO UPDATE SET default_value = excluded.default_value, category = excluded.category, description = excluded.description, is_dynamic = excluded.is_dynamic")
            .bind(&c.name)
            .bind(&c.value)
            .bind(&c.default_value)
            .bind(&c.category)
            .bind(&c.description)
            .bind(crate::b2i(c.is_dynamic))
            .execute(&self.writer)
            .await
            .map_err(StoreError::query("config_seed"))?;
        Ok(())
    }

    pub async fn config_get(&self, name: &str) -> StoreResult<Option<Configuration>> {
        let r = sqlx::query("SELECT * FROM configurations WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::query("config_get"))?;
        r.map(|r| row(&r))
            .transpose()
            .map_err(StoreError::query("config_get"))
    }

    pub async fn config_list(
        &self,
        name: Option<&str>,
        category: Option<&str>,
        keyword: Option<&str>,
        page: Page,
    ) -> StoreResult<(Vec<Configuration>, i64)> {
        let where_ = "($1 = '' OR lower(name) LIKE $1 ESCAPE '\\') AND ($2 = '' OR lower(category) = lower($2)) AND ($3 = '' OR lower(name) LIKE $3 ESCAPE '\\')";
        let n = name.map(like_pattern).unwrap_or_default();
        let kw = keyword.map(like_pattern).unwrap_or_default();
        let total: i64 = sqlx::query_scalar(&format!(
            "SELECT COUNT(*) FROM configurations WHERE {where_}"
        ))
        .bind(&n)
        .bind(category.unwrap_or(""))
        .bind(&kw)
        .fetch_one(&self.pool)
        .await
        .map_err(StoreError::query("config_list"))?;
        let rows = sqlx::query(&format!(
            "SELECT * FROM configurations WHERE {where_} ORDER BY name{}",
            page.sql()
        ))
        .bind(&n)
        .bind(category.unwrap_or(""))
        .bind(&kw)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::query("config_list"))?;
        let items = rows
            .iter()
            .map(row)
            .collect::<Result<_, _>>()
            .map_err(StoreError::query("config_list"))?;
        Ok((items, total))
    }

    pub async fn config_set(&self, name: &str, value: Option<&str>) -> StoreResult<bool> {
        let r = sqlx::query("UPDATE configurations SET value = $2 WHERE name = $1")
            .bind(name)
            .bind(value)
            .execute(&self.writer)
            .await
            .map_err(StoreError::query("config_set"))?;
        Ok(r.rows_affected() == 1)
    }
}
