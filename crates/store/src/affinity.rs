//! Affinity groups and their members. A group row is deleted outright with its memberships; an
//! instance leaves every group when it is expunged.

use sqlx::any::AnyRow;
use trellis_model::affinity::AffinityType;
use trellis_model::entity::AffinityGroup;

use crate::StoreResult;
use crate::{get_enum, get_i64, get_opt_str, get_str, like_pattern, Page, Store, StoreError};

fn row(r: &AnyRow) -> Result<AffinityGroup, sqlx::Error> {
    Ok(AffinityGroup {
        id: get_i64(r, "id")?,
        uuid: get_str(r, "uuid")?,
        name: get_str(r, "name")?,
        description: get_opt_str(r, "description")?,
        group_type: get_enum(r, "group_type", AffinityType::parse)?,
        account_id: get_i64(r, "account_id")?,
        domain_id: get_i64(r, "domain_id")?,
        created: get_i64(r, "created")?,
    })
}

/// Filters of `listAffinityGroups`; every one given must match.
#[derive(Debug, Clone, Default)]
pub struct AffinityGroupFilter {
    pub uuid: Option<String>,
    /// Exact name.
    pub name: Option<String>,
    pub group_type: Option<AffinityType>,
    /// Groups this instance is a member of.
    pub instance_id: Option<i64>,
    /// Substring of the name or the description, case-insensitive.
    pub keyword: Option<String>,
    pub account_id: Option<i64>,
    pub domain_id: Option<i64>,
    /// Only groups whose owner's domain path starts with this (a domain and its subdomains).
    pub domain_path: Option<String>,
    /// Only rows owned by one of these accounts (`projectid=-1`).
    pub account_ids: Option<Vec<i64>>,
    /// Leave out project-owned rows (no `projectid`).
    pub exclude_projects: bool,
}

const LIST_WHERE: &str = "($1 = '' OR uuid = $1) AND ($2 = '' OR name = $2) AND ($3 = '' OR group_type = $3) AND ($4 < 0 OR id IN (SELECT group_id FROM affinity_group_members WHERE instance_id = $4)) AND ($5 < 0 OR account_id = $5) AND ($6 < 0 OR domain_id = $6) AND ($7 = '' OR domain_id IN (SELECT id FROM domains WHERE substr(path, 1, CAST($8 AS INTEGER)) = $7)) AND ($9 = '' OR lower(name) LIKE $9 ESCAPE '\\' OR lower(COALESCE(description, '')) LIKE $9 ESCAPE '\\')";

/// Where a member of a group runs or last ran, for placement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AffinityMember {
    pub group_id: i64,
    pub instance_id: i64,
    /// The instance's current host, else the host it last ran on (a stopped External instance
    /// keeps its disk there); `None` when it never ran.
    pub host_id: Option<i64>,
}

impl Store {
    /// Insert a group; a second group of the same name for the same account is a unique
    /// violation ([`StoreError::is_unique_violation`]).
    pub async fn affinity_group_create(&self, g: &AffinityGroup) -> StoreResult<AffinityGroup> {
        let op = "affinity_group_create";
        let r = sqlx::query("INSERT INTO affinity_groups (uuid, name, description, group_type, account_id, domain_id, created) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *")
            .bind(&g.uuid)
            .bind(&g.name)
            .bind(&g.description)
            .bind(g.group_type.as_str())
            .bind(g.account_id)
            .bind(g.domain_id)
            .bind(g.created)
            .fetch_one(&self.writer)
            .await
            .map_err(StoreError::query(op))?;
        row(&r).map_err(StoreError::query(op))
    }

    pub async fn affinity_group_by_uuid(&self, uuid: &str) -> StoreResult<Option<AffinityGroup>> {
        self.one_row(
            "affinity_group_by_uuid",
            "SELECT * FROM affinity_groups WHERE uuid = $1",
            uuid,
            row,
        )
        .await
    }

    /// The group of `account_id` named `name` (names compare exactly).
    pub async fn affinity_group_by_name(
        &self,
        account_id: i64,
        name: &str,
    ) -> StoreResult<Option<AffinityGroup>> {
        let op = "affinity_group_by_name";
        let r = sqlx::query("SELECT * FROM affinity_groups WHERE account_id = $1 AND name = $2")
            .bind(account_id)
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::query(op))?;
        r.map(|r| row(&r))
            .transpose()
            .map_err(StoreError::query(op))
    }

    /// Groups matching `f`, oldest first, with the total before paging.
    pub async fn affinity_group_list(
        &self,
        f: &AffinityGroupFilter,
        page: Page,
    ) -> StoreResult<(Vec<AffinityGroup>, i64)> {
        let op = "affinity_group_list";
        let kw = f.keyword.as_deref().map(like_pattern).unwrap_or_default();
        let path = f.domain_path.as_deref().unwrap_or("");
        let path_len = i64::try_from(path.len()).unwrap_or(0);
        let group_type = f.group_type.map(AffinityType::as_str).unwrap_or("");
        macro_rules! bound {
            ($sql:expr) => {
                sqlx::query($sql)
                    .bind(f.uuid.as_deref().unwrap_or(""))
                    .bind(f.name.as_deref().unwrap_or(""))
                    .bind(group_type)
                    .bind(f.instance_id.unwrap_or(-1))
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
            format!("SELECT COUNT(*) AS n FROM affinity_groups WHERE {LIST_WHERE}{owners}");
        let total = bound!(&count_sql)
            .fetch_one(&self.pool)
            .await
            .and_then(|r| get_i64(&r, "n"))
            .map_err(StoreError::query(op))?;
        let list_sql = format!(
            "SELECT * FROM affinity_groups WHERE {LIST_WHERE}{owners} ORDER BY id{}",
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

    /// Delete a group and its memberships (the instances stay where they are); false when it was
    /// already gone.
    pub async fn affinity_group_delete(&self, id: i64) -> StoreResult<bool> {
        let op = "affinity_group_delete";
        let mut tx = self.writer.begin().await.map_err(StoreError::query(op))?;
        sqlx::query("DELETE FROM affinity_group_members WHERE group_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::query(op))?;
        let done = sqlx::query("DELETE FROM affinity_groups WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::query(op))?;
        tx.commit().await.map_err(StoreError::query(op))?;
        Ok(done.rows_affected() > 0)
    }

    /// Delete every group of an account (the account is being deleted); returns how many.
    pub async fn affinity_group_delete_for_account(&self, account_id: i64) -> StoreResult<u64> {
        let op = "affinity_group_delete_for_account";
        let mut tx = self.writer.begin().await.map_err(StoreError::query(op))?;
        sqlx::query("DELETE FROM affinity_group_members WHERE group_id IN (SELECT id FROM affinity_groups WHERE account_id = $1)")
            .bind(account_id)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::query(op))?;
        let done = sqlx::query("DELETE FROM affinity_groups WHERE account_id = $1")
            .bind(account_id)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::query(op))?;
        tx.commit().await.map_err(StoreError::query(op))?;
        Ok(done.rows_affected())
    }

    /// The groups an instance is a member of, oldest first.
    pub async fn affinity_groups_of(&self, instance_id: i64) -> StoreResult<Vec<AffinityGroup>> {
        let f = AffinityGroupFilter {
            instance_id: Some(instance_id),
            ..AffinityGroupFilter::default()
        };
        Ok(self.affinity_group_list(&f, Page::all()).await?.0)
    }

    /// The groups of each of `instance_ids`, as (instance id, group) pairs, in one statement.
    pub async fn affinity_groups_for(
        &self,
        instance_ids: &[i64],
    ) -> StoreResult<Vec<(i64, AffinityGroup)>> {
        let op = "affinity_groups_for";
        if instance_ids.is_empty() {
            return Ok(Vec::new());
        }
        // Ids are integers from our own rows: inlined, so one statement serves any count.
        let ids = instance_ids
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let rows = sqlx::query(&format!("SELECT m.instance_id AS member, g.* FROM affinity_group_members m JOIN affinity_groups g ON g.id = m.group_id WHERE m.instance_id IN ({ids}) ORDER BY m.instance_id, g.id"))
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::query(op))?;
        rows.iter()
            .map(|r| Ok((get_i64(r, "member")?, row(r)?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::query(op))
    }

    /// The uuids of a group's members that are not removed, oldest first.
    pub async fn affinity_group_member_uuids(&self, group_id: i64) -> StoreResult<Vec<String>> {
        let op = "affinity_group_member_uuids";
        let rows = sqlx::query("SELECT vm.uuid FROM affinity_group_members m JOIN vm_instances vm ON vm.id = m.instance_id WHERE m.group_id = $1 AND vm.removed IS NULL ORDER BY vm.id")
            .bind(group_id)
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::query(op))?;
        rows.iter()
            .map(|r| get_str(r, "uuid"))
            .collect::<Result<_, _>>()
            .map_err(StoreError::query(op))
    }

    /// The placement-relevant members of `group_ids` other than `except`: instances that are
    /// neither destroyed nor removed, with the host they run on or last ran on.
    pub async fn affinity_members(
        &self,
        group_ids: &[i64],
        except: i64,
    ) -> StoreResult<Vec<AffinityMember>> {
        let op = "affinity_members";
        let mut out = Vec::new();
        for gid in group_ids {
            let rows = sqlx::query("SELECT m.group_id, m.instance_id, COALESCE(vm.host_id, vm.last_host_id, -1) AS host FROM affinity_group_members m JOIN vm_instances vm ON vm.id = m.instance_id WHERE m.group_id = $1 AND m.instance_id <> $2 AND vm.removed IS NULL AND vm.state NOT IN ('Destroyed', 'Expunging', 'Expunged') ORDER BY m.instance_id")
                .bind(*gid)
                .bind(except)
                .fetch_all(&self.pool)
                .await
                .map_err(StoreError::query(op))?;
            for r in &rows {
                let host = get_i64(r, "host").map_err(StoreError::query(op))?;
                out.push(AffinityMember {
                    group_id: get_i64(r, "group_id").map_err(StoreError::query(op))?,
                    instance_id: get_i64(r, "instance_id").map_err(StoreError::query(op))?,
                    host_id: (host >= 0).then_some(host),
                });
            }
        }
        Ok(out)
    }
}
