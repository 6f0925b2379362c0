//! Projects, their hidden project accounts and their members. A project is created with its
//! account and its first admin in one transaction; deleting one removes the project and its
//! account (soft, as accounts are) and its memberships.

use sqlx::any::AnyRow;
use trellis_model::entity::{Account, Project, ProjectMember};
use trellis_model::project::{ProjectRole, ProjectState};

use crate::StoreResult;
use crate::{get_enum, get_i64, get_opt_i64, get_str, like_pattern, Page, Store, StoreError};

fn row(r: &AnyRow) -> Result<Project, sqlx::Error> {
    Ok(Project {
        id: get_i64(r, "id")?,
        uuid: get_str(r, "uuid")?,
        name: get_str(r, "name")?,
        display_text: get_str(r, "display_text")?,
        account_id: get_i64(r, "account_id")?,
        domain_id: get_i64(r, "domain_id")?,
        state: get_enum(r, "state", ProjectState::parse)?,
        created: get_i64(r, "created")?,
        removed: get_opt_i64(r, "removed")?,
    })
}

fn member_row(r: &AnyRow) -> Result<ProjectMember, sqlx::Error> {
    Ok(ProjectMember {
        project_id: get_i64(r, "project_id")?,
        account_id: get_i64(r, "account_id")?,
        role: get_enum(r, "role", ProjectRole::parse)?,
        created: get_i64(r, "created")?,
    })
}

/// Filters of `listProjects`; every one given must match. Removed projects are never listed.
#[derive(Debug, Clone, Default)]
pub struct ProjectFilter {
    pub uuid: Option<String>,
    /// Exact name, case-insensitive.
    pub name: Option<String>,
    pub display_text: Option<String>,
    pub state: Option<ProjectState>,
    /// Substring of the name or display text, case-insensitive.
    pub keyword: Option<String>,
    pub domain_id: Option<i64>,
    /// Only projects of this domain and its subdomains.
    pub domain_path: Option<String>,
    /// Only projects this account is a member of.
    pub member_account_id: Option<i64>,
}

const LIST_WHERE: &str = "removed IS NULL AND ($1 = '' OR uuid = $1) AND ($2 = '' OR lower(name) = lower($2)) AND ($3 = '' OR display_text = $3) AND ($4 = '' OR state = $4) AND ($5 < 0 OR domain_id = $5) AND ($6 = '' OR domain_id IN (SELECT id FROM domains WHERE substr(path, 1, CAST($7 AS INTEGER)) = $6)) AND ($8 < 0 OR id IN (SELECT project_id FROM project_members WHERE account_id = $8)) AND ($9 = '' OR lower(name) LIKE $9 ESCAPE '\\' OR lower(display_text) LIKE $9 ESCAPE '\\')";

impl Store {
    /// Create a project with its project account (named `account_name`, of role `role_id`) and
    /// `admin_account_id` as its first admin, in one transaction.
    pub async fn project_create(
        &self,
        p: &Project,
        account_name: &str,
        role_id: i64,
        admin_account_id: i64,
    ) -> StoreResult<(Project, Account)> {
        let op = "project_create";
        let out = async {
            let mut tx = self.writer.begin().await.map_err(StoreError::query(op))?;
            let a = sqlx::query("INSERT INTO accounts (uuid, name, domain_id, role_id, state, created) VALUES ($1, $2, $3, $4, 'enabled', $5) RETURNING *")
                .bind(trellis_model::ids::new_uuid())
                .bind(account_name)
                .bind(p.domain_id)
                .bind(role_id)
                .bind(p.created)
                .fetch_one(&mut *tx)
                .await
                .map_err(StoreError::query(op))?;
            let account = crate::identity::account_row(&a).map_err(StoreError::query(op))?;
            let r = sqlx::query("INSERT INTO projects (uuid, name, display_text, account_id, domain_id, state, created) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *")
                .bind(&p.uuid)
                .bind(&p.name)
                .bind(&p.display_text)
                .bind(account.id)
                .bind(p.domain_id)
                .bind(p.state.as_str())
                .bind(p.created)
                .fetch_one(&mut *tx)
                .await
                .map_err(StoreError::query(op))?;
            let project = row(&r).map_err(StoreError::query(op))?;
            sqlx::query("INSERT INTO project_members (project_id, account_id, role, created) VALUES ($1, $2, $3, $4)")
                .bind(project.id)
                .bind(admin_account_id)
                .bind(ProjectRole::Admin.as_str())
                .bind(p.created)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::query(op))?;
            tx.commit().await.map_err(StoreError::query(op))?;
            Ok((project, account))
        }
        .await;
        // The accounts table is cached: its rows are stale once this is done.
        self.catalog_changed();
        out
    }

    /// A live project by uuid.
    pub async fn project_by_uuid(&self, uuid: &str) -> StoreResult<Option<Project>> {
        self.one_row(
            "project_by_uuid",
            "SELECT * FROM projects WHERE uuid = $1 AND removed IS NULL",
            uuid,
            row,
        )
        .await
    }

    /// The live project whose project account is `account_id`, if it is one.
    pub async fn project_by_account(&self, account_id: i64) -> StoreResult<Option<Project>> {
        self.one_row(
            "project_by_account",
            "SELECT * FROM projects WHERE account_id = $1 AND removed IS NULL",
            account_id,
            row,
        )
        .await
    }

    /// The live project of `domain_id` named `name` (case-insensitive).
    pub async fn project_by_name(
        &self,
        domain_id: i64,
        name: &str,
    ) -> StoreResult<Option<Project>> {
        let op = "project_by_name";
        let r = sqlx::query("SELECT * FROM projects WHERE domain_id = $1 AND lower(name) = lower($2) AND removed IS NULL")
            .bind(domain_id)
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::query(op))?;
        r.map(|r| row(&r))
            .transpose()
            .map_err(StoreError::query(op))
    }

    /// Live projects matching `f`, oldest first, with the total before paging.
    pub async fn project_list(
        &self,
        f: &ProjectFilter,
        page: Page,
    ) -> StoreResult<(Vec<Project>, i64)> {
        let op = "project_list";
        let kw = f.keyword.as_deref().map(like_pattern).unwrap_or_default();
        let path = f.domain_path.as_deref().unwrap_or("");
        let path_len = i64::try_from(path.len()).unwrap_or(0);
        let state = f.state.map(ProjectState::as_str).unwrap_or("");
        macro_rules! bound {
            ($sql:expr) => {
                sqlx::query($sql)
                    .bind(f.uuid.as_deref().unwrap_or(""))
                    .bind(f.name.as_deref().unwrap_or(""))
                    .bind(f.display_text.as_deref().unwrap_or(""))
                    .bind(state)
                    .bind(f.domain_id.unwrap_or(-1))
                    .bind(path)
                    .bind(path_len)
                    .bind(f.member_account_id.unwrap_or(-1))
                    .bind(&kw)
            };
        }
        let total = bound!(&format!(
            "SELECT COUNT(*) AS n FROM projects WHERE {LIST_WHERE}"
        ))
        .fetch_one(&self.pool)
        .await
        .and_then(|r| get_i64(&r, "n"))
        .map_err(StoreError::query(op))?;
        let sql = format!(
            "SELECT * FROM projects WHERE {LIST_WHERE} ORDER BY id{}",
            page.sql()
        );
        let rows = bound!(&sql)
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

    /// Change a project's name, display text and state.
    pub async fn project_update(&self, p: &Project) -> StoreResult<()> {
        sqlx::query("UPDATE projects SET name = $2, display_text = $3, state = $4 WHERE id = $1")
            .bind(p.id)
            .bind(&p.name)
            .bind(&p.display_text)
            .bind(p.state.as_str())
            .execute(&self.writer)
            .await
            .map_err(StoreError::query("project_update"))?;
        Ok(())
    }

    /// Remove a project, its memberships and its project account.
    pub async fn project_delete(&self, id: i64, now: i64) -> StoreResult<()> {
        let op = "project_delete";
        let out = async {
            let mut tx = self.writer.begin().await.map_err(StoreError::query(op))?;
            sqlx::query("DELETE FROM project_members WHERE project_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::query(op))?;
            sqlx::query("UPDATE accounts SET removed = $2 WHERE id = (SELECT account_id FROM projects WHERE id = $1)")
                .bind(id)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::query(op))?;
            sqlx::query("UPDATE projects SET removed = $2 WHERE id = $1")
                .bind(id)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::query(op))?;
            tx.commit().await.map_err(StoreError::query(op))
        }
        .await;
        // The accounts table is cached: its rows are stale once this is done.
        self.catalog_changed();
        out
    }

    /// Add `account_id` to a project with `role`; an existing member is a unique violation.
    pub async fn project_member_add(&self, m: &ProjectMember) -> StoreResult<()> {
        sqlx::query("INSERT INTO project_members (project_id, account_id, role, created) VALUES ($1, $2, $3, $4)")
            .bind(m.project_id)
            .bind(m.account_id)
            .bind(m.role.as_str())
            .bind(m.created)
            .execute(&self.writer)
            .await
            .map_err(StoreError::query("project_member_add"))?;
        Ok(())
    }

    /// Remove a member; false when it was not one.
    pub async fn project_member_remove(
        &self,
        project_id: i64,
        account_id: i64,
    ) -> StoreResult<bool> {
        let done =
            sqlx::query("DELETE FROM project_members WHERE project_id = $1 AND account_id = $2")
                .bind(project_id)
                .bind(account_id)
                .execute(&self.writer)
                .await
                .map_err(StoreError::query("project_member_remove"))?;
        Ok(done.rows_affected() > 0)
    }

    /// A project's members, oldest first.
    pub async fn project_members(&self, project_id: i64) -> StoreResult<Vec<ProjectMember>> {
        let op = "project_members";
        let rows = sqlx::query(
            "SELECT * FROM project_members WHERE project_id = $1 ORDER BY created, account_id",
        )
        .bind(project_id)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::query(op))?;
        rows.iter()
            .map(member_row)
            .collect::<Result<_, _>>()
            .map_err(StoreError::query(op))
    }

    /// The project accounts of the live projects `account_id` is a member of.
    pub async fn project_accounts_of_member(&self, account_id: i64) -> StoreResult<Vec<i64>> {
        let op = "project_accounts_of_member";
        let rows = sqlx::query("SELECT p.account_id FROM projects p JOIN project_members m ON m.project_id = p.id WHERE m.account_id = $1 AND p.removed IS NULL ORDER BY p.id")
            .bind(account_id)
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::query(op))?;
        rows.iter()
            .map(|r| get_i64(r, "account_id"))
            .collect::<Result<_, _>>()
            .map_err(StoreError::query(op))
    }
}
