//! Service offerings and templates: what an instance is deployed from.

use sqlx::any::AnyRow;
use trellis_model::entity::{ServiceOffering, Template};

use crate::tags::{tags_condition, BindAll};

use crate::{
    b2i, get_bool, get_i64, get_opt_i64, get_opt_str, get_str, like_pattern, Page, Store,
    StoreError, StoreResult,
};

fn offering_row(r: &AnyRow) -> Result<ServiceOffering, sqlx::Error> {
    Ok(ServiceOffering {
        id: get_i64(r, "id")?,
        uuid: get_str(r, "uuid")?,
        name: get_str(r, "name")?,
        display_text: get_str(r, "display_text")?,
        cpu_number: get_i64(r, "cpu_number")?,
        cpu_speed: get_i64(r, "cpu_speed")?,
        memory: get_i64(r, "memory")?,
        host_tags: get_opt_str(r, "host_tags")?,
        state: get_str(r, "state")?,
        created: get_i64(r, "created")?,
    })
}

fn template_row(r: &AnyRow) -> Result<Template, sqlx::Error> {
    Ok(Template {
        id: get_i64(r, "id")?,
        uuid: get_str(r, "uuid")?,
        name: get_str(r, "name")?,
        display_text: get_str(r, "display_text")?,
        format: get_str(r, "format")?,
        hypervisor: get_str(r, "hypervisor")?,
        os_type: get_str(r, "os_type")?,
        extension_id: get_opt_i64(r, "extension_id")?,
        arch: get_str(r, "arch")?,
        is_public: get_bool(r, "is_public")?,
        is_featured: get_bool(r, "is_featured")?,
        account_id: get_i64(r, "account_id")?,
        zone_id: get_opt_i64(r, "zone_id")?,
        url: get_str(r, "url")?,
        size: get_i64(r, "size")?,
        state: get_str(r, "state")?,
        created: get_i64(r, "created")?,
    })
}

/// Filters of `template_list` (each `None` matches everything).
#[derive(Debug, Clone, Copy, Default)]
pub struct TemplateFilter<'a> {
    pub uuid: Option<&'a str>,
    pub name: Option<&'a str>,
    pub extension_id: Option<i64>,
    pub keyword: Option<&'a str>,
    /// Templates of this zone, or of every zone (`zone_id` unset).
    pub zone_id: Option<i64>,
    /// Only templates carrying every `(key, value)` tag (an empty value: any value).
    pub tags: &'a [(String, String)],
}

/// Which templates a viewer may see (CloudStack's `templatefilter`, resolved for the caller).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TemplateVisibility {
    /// Every template.
    All,
    /// Templates owned by this account.
    OwnedBy(i64),
    /// Featured templates this account may use (`-1`: every featured template).
    FeaturedFor(i64),
    /// Public templates and this account's own.
    UsableBy(i64),
    /// Public, not featured, not owned by this account.
    CommunityFor(i64),
    /// None (a filter that selects nothing for this viewer).
    Nothing,
}

impl Store {
    lookups!(cached offering_by_uuid, offering_get, "service_offerings", "id = $1", offering_row, ServiceOffering);
    lookups!(cached template_by_uuid, template_get, "templates", "id = $1", template_row, Template);

    pub async fn offering_create(&self, o: &ServiceOffering) -> StoreResult<ServiceOffering> {
        // A catalog write: cached rows are stale once it is done.
        let out = async {
            let r = sqlx::query("INSERT INTO service_offerings (uuid, name, display_text, cpu_number, cpu_speed, memory, host_tags, state, created) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING *")
                .bind(&o.uuid).bind(&o.name).bind(&o.display_text).bind(o.cpu_number).bind(o.cpu_speed).bind(o.memory).bind(&o.host_tags).bind(&o.state).bind(o.created)
                .fetch_one(&self.writer).await.map_err(StoreError::query("offering_create"))?;
            offering_row(&r).map_err(StoreError::query("offering_create"))
        }
        .await;
        self.catalog_changed();
        out
    }

    pub async fn offering_update(&self, o: &ServiceOffering) -> StoreResult<()> {
        // A catalog write: cached rows are stale once it is done.
        let out = async {
            sqlx::query("UPDATE service_offerings SET name = $2, display_text = $3, host_tags = $4 WHERE id = $1")
                .bind(o.id).bind(&o.name).bind(&o.display_text).bind(&o.host_tags)
                .execute(&self.writer).await.map_err(StoreError::query("offering_update"))?;
            Ok(())
        }
        .await;
        self.catalog_changed();
        out
    }

    pub async fn offering_delete(&self, id: i64, now: i64) -> StoreResult<()> {
        // A catalog write: cached rows are stale once it is done.
        let out = async {
            sqlx::query(
                "UPDATE service_offerings SET removed = $2, state = 'Inactive' WHERE id = $1",
            )
            .bind(id)
            .bind(now)
            .execute(&self.writer)
            .await
            .map_err(StoreError::query("offering_delete"))?;
            Ok(())
        }
        .await;
        self.catalog_changed();
        out
    }

    pub async fn offering_list(
        &self,
        uuid: Option<&str>,
        name: Option<&str>,
        keyword: Option<&str>,
        page: Page,
    ) -> StoreResult<(Vec<ServiceOffering>, i64)> {
        let where_ = "removed IS NULL AND ($1 = '' OR uuid = $1) AND ($2 = '' OR name = $2) AND ($3 = '' OR lower(name) LIKE $3 ESCAPE '\\')";
        let kw = keyword.map(like_pattern).unwrap_or_default();
        let total: i64 = sqlx::query_scalar(&format!(
            "SELECT COUNT(*) FROM service_offerings WHERE {where_}"
        ))
        .bind(uuid.unwrap_or(""))
        .bind(name.unwrap_or(""))
        .bind(&kw)
        .fetch_one(&self.pool)
        .await
        .map_err(StoreError::query("offering_list"))?;
        let rows = sqlx::query(&format!(
            "SELECT * FROM service_offerings WHERE {where_} ORDER BY id{}",
            page.sql()
        ))
        .bind(uuid.unwrap_or(""))
        .bind(name.unwrap_or(""))
        .bind(&kw)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::query("offering_list"))?;
        Ok((
            rows.iter()
                .map(offering_row)
                .collect::<Result<_, _>>()
                .map_err(StoreError::query("offering_list"))?,
            total,
        ))
    }

    pub async fn template_create(&self, t: &Template) -> StoreResult<Template> {
        // A catalog write: cached rows are stale once it is done.
        let out = async {
            let r = sqlx::query("INSERT INTO templates (uuid, name, display_text, format, hypervisor, os_type, extension_id, arch, is_public, is_featured, account_id, zone_id, url, size, state, created) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) RETURNING *")
                .bind(&t.uuid).bind(&t.name).bind(&t.display_text).bind(&t.format).bind(&t.hypervisor).bind(&t.os_type).bind(t.extension_id).bind(&t.arch)
                .bind(b2i(t.is_public)).bind(b2i(t.is_featured)).bind(t.account_id).bind(t.zone_id).bind(&t.url).bind(t.size).bind(&t.state).bind(t.created)
                .fetch_one(&self.writer).await.map_err(StoreError::query("template_create"))?;
            template_row(&r).map_err(StoreError::query("template_create"))
        }
        .await;
        self.catalog_changed();
        out
    }

    pub async fn template_delete(&self, id: i64, now: i64) -> StoreResult<()> {
        // A catalog write: cached rows are stale once it is done.
        let out = async {
            sqlx::query("UPDATE templates SET removed = $2 WHERE id = $1")
                .bind(id)
                .bind(now)
                .execute(&self.writer)
                .await
                .map_err(StoreError::query("template_delete"))?;
            Ok(())
        }
        .await;
        self.catalog_changed();
        out
    }

    /// Write a template's editable attributes (name, display text, format, OS type, arch,
    /// featured).
    pub async fn template_update(&self, t: &Template) -> StoreResult<Template> {
        let out = async {
            let r = sqlx::query("UPDATE templates SET name = $2, display_text = $3, format = $4, os_type = $5, arch = $6, is_featured = $7 WHERE id = $1 AND removed IS NULL RETURNING *")
                .bind(t.id).bind(&t.name).bind(&t.display_text).bind(&t.format).bind(&t.os_type).bind(&t.arch).bind(b2i(t.is_featured))
                .fetch_one(&self.writer).await.map_err(StoreError::query("template_update"))?;
            template_row(&r).map_err(StoreError::query("template_update"))
        }
        .await;
        self.catalog_changed();
        out
    }

    /// Templates matching the filter that `visibility` lets the viewer see, a page of them and
    /// the total (visibility is applied before paging, so the total is what the viewer sees).
    pub async fn template_list(
        &self,
        f: &TemplateFilter<'_>,
        visibility: TemplateVisibility,
        page: Page,
    ) -> StoreResult<(Vec<Template>, i64)> {
        let (scope, viewer) = match visibility {
            TemplateVisibility::All => ("1 = 1", -1),
            TemplateVisibility::OwnedBy(a) => ("account_id = $6", a),
            TemplateVisibility::FeaturedFor(a) => (
                "is_featured = 1 AND ($6 < 0 OR is_public = 1 OR account_id = $6)",
                a,
            ),
            TemplateVisibility::UsableBy(a) => ("(is_public = 1 OR account_id = $6)", a),
            TemplateVisibility::CommunityFor(a) => {
                ("is_public = 1 AND is_featured = 0 AND account_id <> $6", a)
            }
            TemplateVisibility::Nothing => ("1 = 0", -1),
        };
        let where_ = format!("removed IS NULL AND ($1 = '' OR uuid = $1) AND ($2 = '' OR name = $2) AND ($3 < 0 OR extension_id = $3) AND ($4 = '' OR lower(name) LIKE $4 ESCAPE '\\') AND ($5 < 0 OR zone_id IS NULL OR zone_id = $5) AND CAST($6 AS BIGINT) IS NOT NULL AND {scope}");
        let (tagged, tag_binds) = tags_condition("templates.id", "Template", f.tags, 7);
        let where_ = format!("{where_}{tagged}");
        let kw = f.keyword.map(like_pattern).unwrap_or_default();
        let total: i64 =
            sqlx::query_scalar(&format!("SELECT COUNT(*) FROM templates WHERE {where_}"))
                .bind(f.uuid.unwrap_or(""))
                .bind(f.name.unwrap_or(""))
                .bind(f.extension_id.unwrap_or(-1))
                .bind(&kw)
                .bind(f.zone_id.unwrap_or(-1))
                .bind(viewer)
                .bind_all(&tag_binds)
                .fetch_one(&self.pool)
                .await
                .map_err(StoreError::query("template_list"))?;
        let rows = sqlx::query(&format!(
            "SELECT * FROM templates WHERE {where_} ORDER BY id{}",
            page.sql()
        ))
        .bind(f.uuid.unwrap_or(""))
        .bind(f.name.unwrap_or(""))
        .bind(f.extension_id.unwrap_or(-1))
        .bind(&kw)
        .bind(f.zone_id.unwrap_or(-1))
        .bind(viewer)
        .bind_all(&tag_binds)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::query("template_list"))?;
        Ok((
            rows.iter()
                .map(template_row)
                .collect::<Result<_, _>>()
                .map_err(StoreError::query("template_list"))?,
            total,
        ))
    }
}
