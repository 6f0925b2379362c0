//! Durable async jobs. Claiming never double-executes: on PostgreSQL with
//! `FOR UPDATE SKIP LOCKED`, on SQLite through its single writer. A claim carries a lease with the
//! owning server's id; completing and renewing are fenced on that owner.

use sqlx::any::AnyRow;
use trellis_model::entity::{Job, JobStatus};

use crate::{
    get_i64, get_opt_i64, get_opt_str, get_str, Backend, Page, Store, StoreError, StoreResult,
};

fn row(r: &AnyRow) -> Result<Job, sqlx::Error> {
    Ok(Job {
        id: get_i64(r, "id")?,
        uuid: get_str(r, "uuid")?,
        user_id: get_i64(r, "user_id")?,
        account_id: get_i64(r, "account_id")?,
        cmd: get_str(r, "cmd")?,
        params: get_str(r, "params")?,
        status: JobStatus::from_i64(get_i64(r, "status")?),
        result_code: get_i64(r, "result_code")?,
        result_type: get_opt_str(r, "result_type")?,
        result: get_opt_str(r, "result")?,
        instance_type: get_opt_str(r, "instance_type")?,
        instance_uuid: get_opt_str(r, "instance_uuid")?,
        owner: get_opt_str(r, "owner")?,
        lease_until: get_opt_i64(r, "lease_until")?,
        attempts: get_i64(r, "attempts")?,
        step: get_opt_str(r, "step")?,
        created: get_i64(r, "created")?,
        completed: get_opt_i64(r, "completed")?,
    })
}

/// A job to enqueue.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub uuid: String,
    pub user_id: i64,
    pub account_id: i64,
    pub cmd: String,
    pub params: String,
    pub instance_type: Option<String>,
    pub instance_uuid: Option<String>,
}

/// How a job ended, as `job_complete` records it.
#[derive(Debug, Clone)]
pub struct JobCompletion {
    pub status: JobStatus,
    pub result_code: i64,
    pub result_type: String,
    /// The job result, serialised JSON.
    pub result: String,
}

impl Store {
    pub async fn job_create(&self, j: &NewJob, now: i64) -> StoreResult<Job> {
        let r = sqlx::query("INSERT INTO async_jobs (uuid, user_id, account_id, cmd, params, instance_type, instance_uuid, created) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING *")
            .bind(&j.uuid)
            .bind(j.user_id)
            .bind(j.account_id)
            .bind(&j.cmd)
            .bind(&j.params)
            .bind(&j.instance_type)
            .bind(&j.instance_uuid)
            .bind(now)
            .fetch_one(&self.writer)
            .await
            .map_err(StoreError::query("job_create"))?;
        row(&r).map_err(StoreError::query("job_create"))
    }

    pub async fn job_by_uuid(&self, uuid: &str) -> StoreResult<Option<Job>> {
        let r = sqlx::query("SELECT * FROM async_jobs WHERE uuid = $1")
            .bind(uuid)
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::query("job_by_uuid"))?;
        r.map(|r| row(&r))
            .transpose()
            .map_err(StoreError::query("job_by_uuid"))
    }

    /// Jobs, newest first; `account_id` restricts to one account.
    pub async fn job_list(
        &self,
        account_id: Option<i64>,
        page: Page,
    ) -> StoreResult<(Vec<Job>, i64)> {
        let total: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM async_jobs WHERE ($1 < 0 OR account_id = $1)")
                .bind(account_id.unwrap_or(-1))
                .fetch_one(&self.pool)
                .await
                .map_err(StoreError::query("job_list"))?;
        let rows = sqlx::query(&format!(
            "SELECT * FROM async_jobs WHERE ($1 < 0 OR account_id = $1) ORDER BY id DESC{}",
            page.sql()
        ))
        .bind(account_id.unwrap_or(-1))
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::query("job_list"))?;
        let items = rows
            .iter()
            .map(row)
            .collect::<Result<_, _>>()
            .map_err(StoreError::query("job_list"))?;
        Ok((items, total))
    }

    /// Claim the oldest runnable job (pending and unowned, or whose lease expired) for `owner`.
    pub async fn job_claim(
        &self,
        owner: &str,
        lease_until: i64,
        now: i64,
    ) -> StoreResult<Option<Job>> {
        let lock = match self.backend {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let sql = format!(
            "UPDATE async_jobs SET owner = $1, lease_until = $2, attempts = attempts + 1 WHERE id = (SELECT id FROM async_jobs WHERE status = 0 AND (owner IS NULL OR (lease_until < $3 AND owner <> $1)) ORDER BY id LIMIT 1{lock}) AND status = 0 RETURNING *"
        );
        let r = sqlx::query(&sql)
            .bind(owner)
            .bind(lease_until)
            .bind(now)
            .fetch_optional(&self.writer)
            .await
            .map_err(StoreError::query("job_claim"))?;
        r.map(|r| row(&r))
            .transpose()
            .map_err(StoreError::query("job_claim"))
    }

    /// Extend the lease of every running job of `owner`, except those whose claim it opened
    /// ([`Store::job_lease_open`]).
    pub async fn job_renew_leases(&self, owner: &str, lease_until: i64) -> StoreResult<u64> {
        let r =
            sqlx::query("UPDATE async_jobs SET lease_until = $2 WHERE owner = $1 AND status = 0 AND lease_until <> 0")
                .bind(owner)
                .bind(lease_until)
                .execute(&self.writer)
                .await
                .map_err(StoreError::query("job_renew_leases"))?;
        Ok(r.rows_affected())
    }

    /// Open `owner`'s claim on a job that cannot start yet: other servers may take it at once;
    /// `owner`'s renewals pass it by and its own claims never take it. False when `owner` no
    /// longer holds the job.
    pub async fn job_lease_open(&self, id: i64, owner: &str) -> StoreResult<bool> {
        let r = sqlx::query(
            "UPDATE async_jobs SET lease_until = 0 WHERE id = $1 AND owner = $2 AND status = 0",
        )
        .bind(id)
        .bind(owner)
        .execute(&self.writer)
        .await
        .map_err(StoreError::query("job_lease_open"))?;
        Ok(r.rows_affected() == 1)
    }

    /// Take an opened claim back with a fresh lease; false when another server took the job in
    /// the meantime (then `owner` must begin nothing of it).
    pub async fn job_lease_take_back(
        &self,
        id: i64,
        owner: &str,
        lease_until: i64,
    ) -> StoreResult<bool> {
        let r = sqlx::query(
            "UPDATE async_jobs SET lease_until = $3 WHERE id = $1 AND owner = $2 AND status = 0",
        )
        .bind(id)
        .bind(owner)
        .bind(lease_until)
        .execute(&self.writer)
        .await
        .map_err(StoreError::query("job_lease_take_back"))?;
        Ok(r.rows_affected() == 1)
    }

    /// Ids of the unfinished jobs `owner` holds (a job another server took over is not among
    /// them).
    pub async fn job_owned_ids(&self, owner: &str) -> StoreResult<Vec<i64>> {
        let rows = sqlx::query("SELECT id FROM async_jobs WHERE owner = $1 AND status = 0")
            .bind(owner)
            .fetch_all(&self.writer)
            .await
            .map_err(StoreError::query("job_owned_ids"))?;
        rows.iter()
            .map(|r| get_i64(r, "id"))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::query("job_owned_ids"))
    }

    /// Record the step a job has reached (fenced on the owner).
    ///
    /// With `durable`, the step is on disk when this returns, also on SQLite, whose other
    /// commits reach the disk at the next checkpoint (`synchronous=NORMAL`: a killed process
    /// loses nothing, a power loss can lose the last commits). Use it for the step recorded just
    /// before an external side effect (`create-pending`): it is what makes a job resumed after a
    /// power loss ask the extension before creating anything again. It costs one WAL fsync.
    pub async fn job_set_step(
        &self,
        id: i64,
        owner: &str,
        step: &str,
        durable: bool,
    ) -> StoreResult<bool> {
        let mut conn = self
            .writer
            .acquire()
            .await
            .map_err(StoreError::query("job_set_step"))?;
        let sqlite = durable && self.backend == Backend::Sqlite;
        if sqlite {
            sqlx::query("PRAGMA synchronous=FULL")
                .execute(&mut *conn)
                .await
                .map_err(StoreError::query("job_set_step"))?;
        }
        let r = sqlx::query(
            "UPDATE async_jobs SET step = $3 WHERE id = $1 AND owner = $2 AND status = 0",
        )
        .bind(id)
        .bind(owner)
        .bind(step)
        .execute(&mut *conn)
        .await;
        if sqlite {
            sqlx::query("PRAGMA synchronous=NORMAL")
                .execute(&mut *conn)
                .await
                .map_err(StoreError::query("job_set_step"))?;
        }
        Ok(r.map_err(StoreError::query("job_set_step"))?
            .rows_affected()
            == 1)
    }

    /// Finish a job (fenced on the owner). Returns false when the job was not ours any more.
    pub async fn job_complete(
        &self,
        id: i64,
        owner: &str,
        c: &JobCompletion,
        now: i64,
    ) -> StoreResult<bool> {
        let r = sqlx::query("UPDATE async_jobs SET status = $3, result_code = $4, result_type = $5, result = $6, completed = $7, lease_until = NULL WHERE id = $1 AND owner = $2 AND status = 0")
            .bind(id)
            .bind(owner)
            .bind(c.status as i64)
            .bind(c.result_code)
            .bind(&c.result_type)
            .bind(&c.result)
            .bind(now)
            .execute(&self.writer)
            .await
            .map_err(StoreError::query("job_complete"))?;
        Ok(r.rows_affected() == 1)
    }

    /// Release a claimed job back to the queue (e.g. on graceful shutdown).
    pub async fn job_release(&self, id: i64, owner: &str) -> StoreResult<()> {
        sqlx::query("UPDATE async_jobs SET owner = NULL, lease_until = NULL WHERE id = $1 AND owner = $2 AND status = 0")
            .bind(id)
            .bind(owner)
            .execute(&self.writer)
            .await
            .map_err(StoreError::query("job_release"))?;
        Ok(())
    }

    /// Pending jobs touching the given instance (used to refuse a second concurrent operation).
    pub async fn job_pending_for(&self, instance_uuid: &str) -> StoreResult<Vec<Job>> {
        let rows = sqlx::query(
            "SELECT * FROM async_jobs WHERE instance_uuid = $1 AND status = 0 ORDER BY id",
        )
        .bind(instance_uuid)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::query("job_pending_for"))?;
        rows.iter()
            .map(row)
            .collect::<Result<_, _>>()
            .map_err(StoreError::query("job_pending_for"))
    }
}

impl Store {
    /// Put every pending job claimed by `owner` back in the queue (a restarted server resumes
    /// its own jobs at once instead of waiting for the lease to expire).
    pub async fn job_release_all(&self, owner: &str) -> StoreResult<u64> {
        let r = sqlx::query("UPDATE async_jobs SET owner = NULL, lease_until = NULL WHERE owner = $1 AND status = 0")
            .bind(owner)
            .execute(&self.writer)
            .await
            .map_err(StoreError::query("job_release_all"))?;
        Ok(r.rows_affected())
    }

    /// Count of jobs by status (for metrics).
    pub async fn job_counts(&self) -> StoreResult<Vec<(i64, i64)>> {
        let rows = sqlx::query(
            "SELECT status, COUNT(*) AS n FROM async_jobs GROUP BY status ORDER BY status",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::query("job_counts"))?;
        rows.iter()
            .map(|r| Ok((get_i64(r, "status")?, get_i64(r, "n")?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::query("job_counts"))
    }
}
