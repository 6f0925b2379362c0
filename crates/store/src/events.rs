//! Events (the audit trail of state-changing commands) and alerts.

use sqlx::any::AnyRow;
use trellis_model::entity::{Alert, Event};

use crate::{
    get_i64, get_opt_i64, get_opt_str, get_str, like_pattern, Page, Store, StoreError, StoreResult,
};

fn event_row(r: &AnyRow) -> Result<Event, sqlx::Error> {
    Ok(Event {
        id: get_i64(r, "id")?,
        uuid: get_str(r, "uuid")?,
        event_type: get_str(r, "event_type")?,
        level: get_str(r, "level")?,
        state: get_str(r, "state")?,
        description: get_str(r, "description")?,
        user_id: get_opt_i64(r, "user_id")?,
        account_id: get_opt_i64(r, "account_id")?,
        domain_id: get_opt_i64(r, "domain_id")?,
        resource_type: get_opt_str(r, "resource_type")?,
        resource_uuid: get_opt_str(r, "resource_uuid")?,
        created: get_i64(r, "created")?,
    })
}

fn alert_row(r: &AnyRow) -> Result<Alert, sqlx::Error> {
    Ok(Alert {
        id: get_i64(r, "id")?,
        uuid: get_str(r, "uuid")?,
        type_id: get_i64(r, "type_id")?,
        name: get_str(r, "name")?,
        subject: get_str(r, "subject")?,
        created: get_i64(r, "created")?,
        last_sent: get_i64(r, "last_sent")?,
    })
}

/// Filters of `listEvents`.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub uuid: Option<String>,
    pub event_type: Option<String>,
    pub level: Option<String>,
    pub account_id: Option<i64>,
    pub resource_uuid: Option<String>,
    pub keyword: Option<String>,
}

impl Store {
    pub async fn event_create(&self, e: &Event) -> StoreResult<()> {
        insert(&self.writer, e)
            .await
            .map_err(StoreError::query("event_create"))
    }

    pub async fn event_list(&self, f: &EventFilter, page: Page) -> StoreResult<(Vec<Event>, i64)> {
        let where_ = "($1 = '' OR uuid = $1) AND ($2 = '' OR event_type = $2) AND ($3 = '' OR level = $3) AND ($4 < 0 OR account_id = $4) AND ($5 = '' OR resource_uuid = $5) AND ($6 = '' OR lower(description) LIKE $6 ESCAPE '\\')";
        let kw = f.keyword.as_deref().map(like_pattern).unwrap_or_default();
        let total: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM events WHERE {where_}"))
            .bind(f.uuid.as_deref().unwrap_or(""))
            .bind(f.event_type.as_deref().unwrap_or(""))
            .bind(f.level.as_deref().unwrap_or(""))
            .bind(f.account_id.unwrap_or(-1))
            .bind(f.resource_uuid.as_deref().unwrap_or(""))
            .bind(&kw)
            .fetch_one(&self.pool)
            .await
            .map_err(StoreError::query("event_list"))?;
        let rows = sqlx::query(&format!(
            "SELECT * FROM events WHERE {where_} ORDER BY id DESC{}",
            page.sql()
        ))
        .bind(f.uuid.as_deref().unwrap_or(""))
        .bind(f.event_type.as_deref().unwrap_or(""))
        .bind(f.level.as_deref().unwrap_or(""))
        .bind(f.account_id.unwrap_or(-1))
        .bind(f.resource_uuid.as_deref().unwrap_or(""))
        .bind(&kw)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::query("event_list"))?;
        let items = rows
            .iter()
            .map(event_row)
            .collect::<Result<_, _>>()
            .map_err(StoreError::query("event_list"))?;
        Ok((items, total))
    }

    /// Record an alert; an alert with the same type and subject is refreshed instead of repeated.
    pub async fn alert_raise(
        &self,
        uuid: &str,
        type_id: i64,
        name: &str,
        subject: &str,
        now: i64,
    ) -> StoreResult<()> {
        // One statement on the unique (type_id, subject) index: concurrent raisers of the same
        // alert (several servers) refresh one row instead of each inserting their own.
        sqlx::query("INSERT INTO alerts (uuid, type_id, name, subject, created, last_sent) VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (type_id, subject) DO UPDATE SET last_sent = excluded.last_sent")
            .bind(uuid)
            .bind(type_id)
            .bind(name)
            .bind(subject)
            .bind(now)
            .execute(&self.writer)
            .await
            .map_err(StoreError::query("alert_raise"))?;
        Ok(())
    }

    pub async fn alert_list(
        &self,
        uuid: Option<&str>,
        type_id: Option<i64>,
        keyword: Option<&str>,
        page: Page,
    ) -> StoreResult<(Vec<Alert>, i64)> {
        let where_ = "($1 = '' OR uuid = $1) AND ($2 < 0 OR type_id = $2) AND ($3 = '' OR lower(subject) LIKE $3 ESCAPE '\\')";
        let kw = keyword.map(like_pattern).unwrap_or_default();
        let total: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM alerts WHERE {where_}"))
            .bind(uuid.unwrap_or(""))
            .bind(type_id.unwrap_or(-1))
            .bind(&kw)
            .fetch_one(&self.pool)
            .await
            .map_err(StoreError::query("alert_list"))?;
        let rows = sqlx::query(&format!(
            "SELECT * FROM alerts WHERE {where_} ORDER BY last_sent DESC, id DESC{}",
            page.sql()
        ))
        .bind(uuid.unwrap_or(""))
        .bind(type_id.unwrap_or(-1))
        .bind(&kw)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::query("alert_list"))?;
        let items = rows
            .iter()
            .map(alert_row)
            .collect::<Result<_, _>>()
            .map_err(StoreError::query("alert_list"))?;
        Ok((items, total))
    }
}

/// Insert one event through `ex` (the writer, or a transaction the event belongs to).
pub(crate) async fn insert<'c, E>(ex: E, e: &Event) -> Result<(), sqlx::Error>
where
    E: sqlx::Executor<'c, Database = sqlx::Any>,
{
    sqlx::query("INSERT INTO events (uuid, event_type, level, state, description, user_id, account_id, domain_id, resource_type, resource_uuid, created) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)")
        .bind(&e.uuid)
        .bind(&e.event_type)
        .bind(&e.level)
        .bind(&e.state)
        .bind(&e.description)
        .bind(e.user_id)
        .bind(e.account_id)
        .bind(e.domain_id)
        .bind(&e.resource_type)
        .bind(&e.resource_uuid)
        .bind(e.created)
        .execute(ex)
        .await?;
    Ok(())
}
