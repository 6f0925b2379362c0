//! Resource limits and the live counts they are checked against.

use sqlx::any::AnyRow;
use trellis_model::limits::{LimitOwner, ResourceCounts};

use crate::{get_i64, get_str, Store, StoreError, StoreResult};

/// A limit set explicitly for an owner (`max` -1: unlimited).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceLimitRow {
    pub uuid: String,
    pub resource_type: i64,
    pub max: i64,
}

fn limit_row(r: &AnyRow) -> Result<ResourceLimitRow, sqlx::Error> {
    Ok(ResourceLimitRow {
        uuid: get_str(r, "uuid")?,
        resource_type: get_i64(r, "resource_type")?,
        max: get_i64(r, "max_value")?,
    })
}

/// What a count covers: one account, or every account of a domain's subtree (by its path).
#[derive(Debug, Clone, Copy)]
pub enum CountScope<'a> {
    Account(i64),
    Domain(&'a str),
}

/// Instances that hold resources: neither removed nor on their way out.
const LIVE_INSTANCE: &str =
    "i.removed IS NULL AND i.state NOT IN ('Destroyed', 'Expunging', 'Expunged')";

impl Store {
    /// The limits set for an owner.
    pub async fn resource_limits_of(
        &self,
        owner: LimitOwner,
    ) -> StoreResult<Vec<ResourceLimitRow>> {
        let rows = sqlx::query(
            "SELECT * FROM resource_limits WHERE owner_kind = $1 AND owner_id = $2 ORDER BY resource_type",
        )
        .bind(owner.kind())
        .bind(owner.id())
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::query("resource_limits_of"))?;
        rows.iter()
            .map(limit_row)
            .collect::<Result<_, _>>()
            .map_err(StoreError::query("resource_limits_of"))
    }

    /// Set an owner's limit of one type (`uuid` names a new row; an existing row keeps its own).
    pub async fn resource_limit_set(
        &self,
        uuid: &str,
        owner: LimitOwner,
        resource_type: i64,
        max: i64,
    ) -> StoreResult<ResourceLimitRow> {
        let r = sqlx::query(
            "INSERT INTO resource_limits (uuid, owner_kind, owner_id, resource_type, max_value) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (owner_kind, owner_id, resource_type) DO UPDATE SET max_value = excluded.max_value RETURNING *",
        )
        .bind(uuid)
        .bind(owner.kind())
        .bind(owner.id())
        .bind(resource_type)
        .bind(max)
        .fetch_one(&self.writer)
        .await
        .map_err(StoreError::query("resource_limit_set"))?;
        limit_row(&r).map_err(StoreError::query("resource_limit_set"))
    }

    /// What a scope holds now, counted from the resources themselves.
    pub async fn resource_counts(&self, scope: CountScope<'_>) -> StoreResult<ResourceCounts> {
        // The condition on each table's owner columns, and the values it binds. (Sums are cast:
        // PostgreSQL sums BIGINT into NUMERIC.)
        let domains = "(SELECT id FROM domains WHERE substr(path, 1, $2) = $1 AND removed IS NULL)";
        let (inst, tmpl, proj, net) = match scope {
            CountScope::Account(_) => (
                "i.account_id = $1".to_string(),
                "t.account_id = $1".to_string(),
                "p.id IN (SELECT project_id FROM project_members WHERE account_id = $1 AND role = 'Admin')"
                    .to_string(),
                "n.account_id = $1".to_string(),
            ),
            CountScope::Domain(_) => (
                format!("i.domain_id IN {domains}"),
                format!("t.account_id IN (SELECT id FROM accounts WHERE domain_id IN {domains})"),
                format!("p.domain_id IN {domains}"),
                format!("n.domain_id IN {domains}"),
            ),
        };
        // One statement, one round trip: each part says which count it is (`k`).
        let parts = [
            format!(
                "SELECT 0 AS k, COUNT(*) AS a, CAST(COALESCE(SUM(o.cpu_number), 0) AS BIGINT) AS b, CAST(COALESCE(SUM(o.memory), 0) AS BIGINT) AS c \
                 FROM vm_instances i JOIN service_offerings o ON o.id = i.service_offering_id WHERE {inst} AND {LIVE_INSTANCE}"
            ),
            format!(
                "SELECT 1 AS k, COUNT(*) AS a, CAST(0 AS BIGINT) AS b, CAST(0 AS BIGINT) AS c FROM volumes v JOIN vm_instances i ON i.id = v.instance_id \
                 WHERE v.removed IS NULL AND {inst} AND {LIVE_INSTANCE}"
            ),
            format!("SELECT 2 AS k, COUNT(*) AS a, CAST(0 AS BIGINT) AS b, CAST(0 AS BIGINT) AS c FROM templates t WHERE t.removed IS NULL AND {tmpl}"),
            format!("SELECT 3 AS k, COUNT(*) AS a, CAST(0 AS BIGINT) AS b, CAST(0 AS BIGINT) AS c FROM projects p WHERE p.removed IS NULL AND {proj}"),
            format!("SELECT 4 AS k, COUNT(*) AS a, CAST(0 AS BIGINT) AS b, CAST(0 AS BIGINT) AS c FROM networks n WHERE n.removed IS NULL AND {net}"),
        ];
        let sql = parts.join(" UNION ALL ");
        let q = sqlx::query(&sql);
        let q = match scope {
            CountScope::Account(id) => q.bind(id),
            CountScope::Domain(path) => q
                .bind(path)
                .bind(i32::try_from(path.chars().count()).unwrap_or(i32::MAX)),
        };
        let rows = q
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::query("resource_counts"))?;
        let mut got = [(0i64, 0i64, 0i64); 5];
        for r in &rows {
            let (k, counts) = (|| -> Result<_, sqlx::Error> {
                Ok((
                    get_i64(r, "k")?,
                    (get_i64(r, "a")?, get_i64(r, "b")?, get_i64(r, "c")?),
                ))
            })()
            .map_err(StoreError::query("resource_counts"))?;
            if let Some(slot) = usize::try_from(k).ok().and_then(|k| got.get_mut(k)) {
                *slot = counts;
            }
        }
        Ok(ResourceCounts {
            user_vms: got[0].0,
            cpus: got[0].1,
            memory: got[0].2,
            volumes: got[1].0,
            templates: got[2].0,
            projects: got[3].0,
            networks: got[4].0,
            // Trellis has no public IP addresses yet: none are held.
            public_ips: 0,
        })
    }
}
