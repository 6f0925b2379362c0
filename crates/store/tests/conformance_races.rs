//! Store conformance, concurrent writers: operations that must stay single under races. Every
//! test runs on SQLite and, when `TRELLIS_TEST_POSTGRES_URL` is set, on PostgreSQL.

mod common;

use common::{each_backend, uuid};
use trellis_store::Page;

/// `alert_raise` promises one alert per type and subject, refreshed rather than repeated, also
/// when many raise it at once (it used to update-then-insert: 16 rows for 16 raisers on SQLite,
/// 4 on PostgreSQL; now one upsert on a unique index).
#[tokio::test]
async fn concurrent_alert_raises_keep_one_alert() {
    each_backend(|s| async move {
        let mut tasks = Vec::new();
        for i in 0..16 {
            let s = s.clone();
            tasks.push(tokio::spawn(async move {
                s.alert_raise(&uuid(), 33, "ALERT.TYPE.X", "same subject", 100 + i)
                    .await
                    .unwrap()
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let (_, n) = s
            .alert_list(None, Some(33), None, Page::all())
            .await
            .unwrap();
        assert_eq!(n, 1, "one alert per type and subject ({:?})", s.backend());
    })
    .await;
}

/// Jobs claimed concurrently by many servers: each exactly once, attempts counted once.
#[tokio::test]
async fn concurrent_claims_take_each_job_once() {
    each_backend(|s| async move {
        for i in 0..20 {
            s.job_create(
                &trellis_store::NewJob {
                    uuid: uuid(),
                    user_id: 1,
                    account_id: 1,
                    cmd: format!("c{i}"),
                    params: "{}".into(),
                    instance_type: None,
                    instance_uuid: None,
                },
                1,
            )
            .await
            .unwrap();
        }
        let mut tasks = Vec::new();
        for w in 0..6 {
            let s = s.clone();
            tasks.push(tokio::spawn(async move {
                let mut got = Vec::new();
                while let Some(j) = s.job_claim(&format!("srv-{w}"), 1000, 10).await.unwrap() {
                    assert_eq!(j.attempts, 1);
                    got.push(j.id);
                }
                got
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        all.sort();
        assert_eq!(all, (1..=20).collect::<Vec<i64>>(), "each job claimed once");
        assert!(s.job_claim("late", 1000, 10).await.unwrap().is_none());
    })
    .await;
}
