//! Store conformance, the platform tables: identity (domains, roles, accounts, users, sessions),
//! jobs, details, events and alerts, settings, servers, extensions and custom actions, and the
//! store handle itself. Every test runs on SQLite and, when `TRELLIS_TEST_POSTGRES_URL` is set, on
//! PostgreSQL.

mod common;

use std::collections::BTreeMap;

use common::{each_backend, event, uuid};
use trellis_model::account::AccountState;
use trellis_model::entity::{DetailOwner, JobStatus, Session};
use trellis_model::extension::ExtensionState;
use trellis_model::RoleType;
use trellis_store::{
    testing, Backend, CustomActionFilter, EventFilter, IdentityFilter, JobCompletion,
    NewCustomAction, NewExtension, NewExtensionFile, NewJob, NewUser, Page, Store,
};

#[tokio::test]
async fn the_store_handle_reports_its_backend_and_closes() {
    let (s, _dir) = common::sqlite().await;
    assert_eq!(s.backend(), Backend::Sqlite);
    assert!(s.ping().await);
    s.close().await;
    assert!(!s.ping().await, "a closed store does not answer");
    if let Some(url) = testing::postgres_url() {
        let url = testing::isolated_postgres_url(&url).await.unwrap();
        let s = Store::open(&url).await.unwrap();
        assert_eq!(s.backend(), Backend::Postgres);
        assert!(s.ping().await);
        s.close().await;
        assert!(!s.ping().await, "a closed store does not answer");
        // Reopening the same schema finds the migrations applied and the rows kept.
        let s = Store::open(&url).await.unwrap();
        assert!(s.ping().await);
    }
    assert!(matches!(
        Store::open("mysql://localhost/x").await,
        Err(trellis_store::StoreError::UnsupportedUrl { .. })
    ));
}

#[tokio::test]
async fn domains_roles_accounts_and_users() {
    each_backend(|s| async move {
        let root = s
            .domain_create(&uuid(), "ROOT", "/", None, 1)
            .await
            .unwrap();
        let sub = s
            .domain_create(&uuid(), "Sales_EU", "/Sales_EU/", Some(root.id), 2)
            .await
            .unwrap();
        assert_eq!(sub.parent_id, Some(root.id));
        for _ in 0..2 {
            assert_eq!(s.domain_get(sub.id).await.unwrap().as_ref(), Some(&sub));
            assert_eq!(
                s.domain_by_uuid(&root.uuid).await.unwrap().as_ref(),
                Some(&root)
            );
        }
        assert_eq!(
            s.domain_by_path("/sales_eu/").await.unwrap().as_ref(),
            Some(&sub),
            "paths compare case-insensitively"
        );
        assert!(s.domain_get(sub.id + 10).await.unwrap().is_none());
        let dl = |uuid: Option<String>,
                  name: Option<&'static str>,
                  kw: Option<&'static str>,
                  page: Page| {
            let s = s.clone();
            async move {
                let (items, total) = s
                    .domain_list(uuid.as_deref(), name, kw, page)
                    .await
                    .unwrap();
                (items.into_iter().map(|d| d.name).collect::<Vec<_>>(), total)
            }
        };
        assert_eq!(
            dl(None, None, None, Page::all()).await,
            (vec!["ROOT".into(), "Sales_EU".into()], 2)
        );
        assert_eq!(
            dl(Some(sub.uuid.clone()), None, None, Page::all()).await.0,
            ["Sales_EU"]
        );
        assert_eq!(dl(None, Some("ROOT"), None, Page::all()).await.0, ["ROOT"]);
        assert_eq!(
            dl(None, None, Some("s_e"), Page::all()).await.0,
            ["Sales_EU"]
        );
        assert_eq!(
            dl(
                None,
                None,
                None,
                Page {
                    offset: 1,
                    limit: Some(1)
                }
            )
            .await,
            (vec!["Sales_EU".into()], 2)
        );

        let admin = s
            .role_create(&uuid(), "Root Admin", RoleType::Admin, "all", true)
            .await
            .unwrap();
        let user_role = s
            .role_create(&uuid(), "User", RoleType::User, "users", false)
            .await
            .unwrap();
        assert_eq!(
            s.role_get(user_role.id).await.unwrap().as_ref(),
            Some(&user_role)
        );
        assert!(s.role_get(user_role.id + 10).await.unwrap().is_none());
        assert_eq!(
            s.role_list().await.unwrap(),
            [admin.clone(), user_role.clone()]
        );
        assert_eq!(
            (admin.role_type, admin.is_default, user_role.is_default),
            (RoleType::Admin, true, false)
        );

        let a = s
            .account_create(&uuid(), "alice", root.id, user_role.id, 3)
            .await
            .unwrap();
        let b = s
            .account_create(&uuid(), "bob", sub.id, admin.id, 4)
            .await
            .unwrap();
        assert_eq!(a.state, AccountState::Enabled);
        for _ in 0..2 {
            assert_eq!(s.account_get(a.id).await.unwrap().as_ref(), Some(&a));
            assert_eq!(s.account_by_uuid(&b.uuid).await.unwrap().as_ref(), Some(&b));
        }
        assert!(
            s.account_by_name(sub.id, "alice").await.unwrap().is_none(),
            "per domain"
        );
        let al = |f: IdentityFilter| {
            let s = s.clone();
            async move {
                let (items, total) = s.account_list(&f, Page::all()).await.unwrap();
                assert_eq!(total, items.len() as i64);
                items.into_iter().map(|a| a.name).collect::<Vec<_>>()
            }
        };
        assert_eq!(al(IdentityFilter::default()).await, ["alice", "bob"]);
        assert_eq!(
            al(IdentityFilter {
                name: Some("BOB".into()),
                ..Default::default()
            })
            .await,
            ["bob"]
        );
        assert_eq!(
            al(IdentityFilter {
                uuid: Some(a.uuid.clone()),
                ..Default::default()
            })
            .await,
            ["alice"]
        );
        assert_eq!(
            al(IdentityFilter {
                domain_id: Some(sub.id),
                ..Default::default()
            })
            .await,
            ["bob"]
        );
        assert_eq!(
            al(IdentityFilter {
                account_id: Some(a.id),
                ..Default::default()
            })
            .await,
            ["alice"]
        );
        assert_eq!(
            al(IdentityFilter {
                keyword: Some("LIC".into()),
                ..Default::default()
            })
            .await,
            ["alice"]
        );
        let (page, total) = s
            .account_list(
                &IdentityFilter::default(),
                Page {
                    offset: 0,
                    limit: Some(1),
                },
            )
            .await
            .unwrap();
        assert_eq!((page.len(), total), (1, 2));

        let u1 = s
            .user_create(
                &NewUser {
                    uuid: uuid(),
                    account_id: a.id,
                    username: "alice".into(),
                    password_hash: "h1".into(),
                    firstname: "Alice".into(),
                    lastname: "A".into(),
                    email: Some("a@example.org".into()),
                },
                5,
            )
            .await
            .unwrap();
        let u2 = s
            .user_create(
                &NewUser {
                    uuid: uuid(),
                    account_id: b.id,
                    username: "bob".into(),
                    password_hash: "h2".into(),
                    firstname: "Bob".into(),
                    lastname: "B".into(),
                    email: None,
                },
                6,
            )
            .await
            .unwrap();
        assert_eq!(
            (u1.email.as_deref(), u1.api_key.as_deref(), u1.state),
            (Some("a@example.org"), None, AccountState::Enabled)
        );
        assert_eq!(s.user_get(u1.id).await.unwrap().as_ref(), Some(&u1));
        assert_eq!(s.user_by_uuid(&u2.uuid).await.unwrap().as_ref(), Some(&u2));
        assert_eq!(
            s.user_by_username(root.id, "alice").await.unwrap().as_ref(),
            Some(&u1)
        );
        assert!(
            s.user_by_username(sub.id, "alice").await.unwrap().is_none(),
            "per domain"
        );
        assert_eq!(
            s.user_by_username(sub.id, "bob").await.unwrap().as_ref(),
            Some(&u2)
        );
        s.user_set_password(u1.id, "h1-new").await.unwrap();
        assert_eq!(
            s.user_get(u1.id).await.unwrap().unwrap().password_hash,
            "h1-new"
        );
        s.user_set_keys(u1.id, "api-1", "secret-1").await.unwrap();
        let k = s.user_by_api_key("api-1").await.unwrap().unwrap();
        assert_eq!((k.id, k.secret_key.as_deref()), (u1.id, Some("secret-1")));
        // API keys are unique.
        let err = s.user_set_keys(u2.id, "api-1", "other").await.unwrap_err();
        assert!(err.is_unique_violation(), "{err}");
        let ul = |f: IdentityFilter| {
            let s = s.clone();
            async move {
                let (items, total) = s.user_list(&f, Page::all()).await.unwrap();
                assert_eq!(total, items.len() as i64);
                items.into_iter().map(|u| u.username).collect::<Vec<_>>()
            }
        };
        assert_eq!(ul(IdentityFilter::default()).await, ["alice", "bob"]);
        assert_eq!(
            ul(IdentityFilter {
                domain_id: Some(sub.id),
                ..Default::default()
            })
            .await,
            ["bob"]
        );
        assert_eq!(
            ul(IdentityFilter {
                account_id: Some(a.id),
                ..Default::default()
            })
            .await,
            ["alice"]
        );
        assert_eq!(
            ul(IdentityFilter {
                keyword: Some("O".into()),
                ..Default::default()
            })
            .await,
            ["bob"]
        );

        let p = s.principal_get(u2.id).await.unwrap().unwrap();
        assert_eq!(
            (p.user.id, p.account.id, p.domain.id, p.role.id),
            (u2.id, b.id, sub.id, admin.id)
        );
        assert!(p.is_root_admin());
        // Deleting an account removes its users, their keys and the principal, at once (accounts
        // are cached on SQLite).
        s.account_delete(b.id, 9).await.unwrap();
        assert!(s.account_get(b.id).await.unwrap().is_none());
        assert!(s.account_by_uuid(&b.uuid).await.unwrap().is_none());
        assert!(s.user_get(u2.id).await.unwrap().is_none());
        assert!(s.user_by_uuid(&u2.uuid).await.unwrap().is_none());
        assert!(s.user_by_username(sub.id, "bob").await.unwrap().is_none());
        assert!(s.principal_get(u2.id).await.unwrap().is_none());
        assert_eq!(al(IdentityFilter::default()).await, ["alice"]);
        assert_eq!(ul(IdentityFilter::default()).await, ["alice"]);
        assert!(s.principal_get(u1.id).await.unwrap().is_some());
        // Uuids are unique.
        let err = s
            .domain_create(&root.uuid, "again", "/again/", None, 1)
            .await
            .unwrap_err();
        assert!(err.is_unique_violation(), "{err}");
    })
    .await;
}

#[tokio::test]
async fn sessions_expire_slide_and_are_swept() {
    each_backend(|s| async move {
        let mk = |key: &str, expires: i64| Session {
            session_key: key.into(),
            jsession_id: format!("js-{key}"),
            user_id: 7,
            created: 1,
            expires,
        };
        s.session_create(&mk("a", 100)).await.unwrap();
        s.session_create(&mk("b", 200)).await.unwrap();
        s.session_create(&mk("c", 300)).await.unwrap();
        assert_eq!(s.session_get("a", 99).await.unwrap(), Some(mk("a", 100)));
        assert!(
            s.session_get("a", 100).await.unwrap().is_none(),
            "expired at its expiry"
        );
        s.session_touch("a", 1000).await.unwrap();
        assert_eq!(
            s.session_get("a", 500).await.unwrap().unwrap().expires,
            1000
        );
        s.session_delete("c").await.unwrap();
        assert!(s.session_get("c", 1).await.unwrap().is_none());
        assert!(s
            .session_create(&mk("a", 5))
            .await
            .unwrap_err()
            .is_unique_violation());
        // The sweep removes what expired by `now`, and only that.
        assert_eq!(s.session_sweep(200).await.unwrap(), 1);
        assert!(s.session_get("b", 1).await.unwrap().is_none());
        assert!(s.session_get("a", 1).await.unwrap().is_some());
        assert_eq!(s.session_sweep(200).await.unwrap(), 0);
    })
    .await;
}

fn new_job(account_id: i64, cmd: &str, instance_uuid: Option<&str>) -> NewJob {
    NewJob {
        uuid: uuid(),
        user_id: 1,
        account_id,
        cmd: cmd.into(),
        params: format!("{{\"cmd\":\"{cmd}\"}}"),
        instance_type: instance_uuid.map(|_| "VirtualMachine".to_string()),
        instance_uuid: instance_uuid.map(str::to_string),
    }
}

#[tokio::test]
async fn jobs_steps_leases_release_and_counts() {
    each_backend(|s| async move {
        let vm = uuid();
        let j1 = s
            .job_create(&new_job(5, "startVirtualMachine", Some(&vm)), 10)
            .await
            .unwrap();
        let j2 = s
            .job_create(&new_job(6, "deployVirtualMachine", None), 11)
            .await
            .unwrap();
        let j3 = s
            .job_create(&new_job(5, "stopVirtualMachine", Some(&vm)), 12)
            .await
            .unwrap();
        assert_eq!(
            (
                j1.status,
                j1.owner.as_deref(),
                j1.attempts,
                j1.created,
                j1.instance_uuid.as_deref()
            ),
            (JobStatus::InProgress, None, 0, 10, Some(vm.as_str()))
        );
        assert_eq!(s.job_by_uuid(&j2.uuid).await.unwrap().as_ref(), Some(&j2));
        assert!(s.job_by_uuid(&uuid()).await.unwrap().is_none());
        let (mine, total) = s.job_list(Some(5), Page::all()).await.unwrap();
        assert_eq!(
            (mine.iter().map(|j| j.id).collect::<Vec<_>>(), total),
            (vec![j3.id, j1.id], 2),
            "newest first, one account"
        );
        let (page, total) = s
            .job_list(
                None,
                Page {
                    offset: 2,
                    limit: Some(5),
                },
            )
            .await
            .unwrap();
        assert_eq!(
            (page.iter().map(|j| j.id).collect::<Vec<_>>(), total),
            (vec![j1.id], 3)
        );
        assert_eq!(
            s.job_pending_for(&vm)
                .await
                .unwrap()
                .iter()
                .map(|j| j.id)
                .collect::<Vec<_>>(),
            [j1.id, j3.id]
        );

        // Claims go oldest first; steps and completion are fenced on the owner.
        let c1 = s.job_claim("srv-a", 1000, 20).await.unwrap().unwrap();
        assert_eq!(
            (c1.id, c1.owner.as_deref(), c1.lease_until, c1.attempts),
            (j1.id, Some("srv-a"), Some(1000), 1)
        );
        assert!(s
            .job_set_step(j1.id, "srv-a", "prepared", false)
            .await
            .unwrap());
        assert!(s
            .job_set_step(j1.id, "srv-a", "create-pending", true)
            .await
            .unwrap());
        assert!(
            !s.job_set_step(j1.id, "srv-b", "created", false)
                .await
                .unwrap(),
            "not the owner"
        );
        assert_eq!(
            s.job_by_uuid(&j1.uuid)
                .await
                .unwrap()
                .unwrap()
                .step
                .as_deref(),
            Some("create-pending")
        );
        // Leases: renewed for the owner's running jobs only.
        let c2 = s.job_claim("srv-a", 1000, 20).await.unwrap().unwrap();
        assert_eq!(c2.id, j2.id);
        assert_eq!(s.job_renew_leases("srv-a", 5000).await.unwrap(), 2);
        assert_eq!(s.job_renew_leases("srv-b", 5000).await.unwrap(), 0);
        let mut owned = s.job_owned_ids("srv-a").await.unwrap();
        owned.sort();
        assert_eq!(owned, vec![j1.id.min(j2.id), j1.id.max(j2.id)]);
        assert!(s.job_owned_ids("srv-b").await.unwrap().is_empty());
        assert_eq!(
            s.job_by_uuid(&j2.uuid).await.unwrap().unwrap().lease_until,
            Some(5000)
        );
        // An opened claim: renewals pass it by, its owner's claims never take it, another
        // server takes it at once; taken back, it is renewed again.
        assert!(s.job_lease_open(j2.id, "srv-a").await.unwrap());
        assert!(
            !s.job_lease_open(j2.id, "srv-b").await.unwrap(),
            "not the owner"
        );
        assert_eq!(s.job_renew_leases("srv-a", 5500).await.unwrap(), 1);
        assert_eq!(
            s.job_by_uuid(&j2.uuid).await.unwrap().unwrap().lease_until,
            Some(0)
        );
        assert!(s.job_lease_take_back(j2.id, "srv-a", 5600).await.unwrap());
        assert_eq!(s.job_renew_leases("srv-a", 5700).await.unwrap(), 2);
        assert!(s.job_lease_open(j2.id, "srv-a").await.unwrap());
        let mine = s.job_claim("srv-a", 9000, 25).await.unwrap().unwrap();
        assert_eq!(mine.id, j3.id, "the queued job, never its own opened claim");
        s.job_release(j3.id, "srv-a").await.unwrap();
        let taken = s.job_claim("srv-c", 9000, 26).await.unwrap().unwrap();
        assert_eq!((taken.id, taken.owner.as_deref()), (j2.id, Some("srv-c")));
        assert!(
            !s.job_lease_take_back(j2.id, "srv-a", 9100).await.unwrap(),
            "taken over: the first owner may begin nothing"
        );
        s.job_release(j2.id, "srv-c").await.unwrap();
        let back = s.job_claim("srv-a", 5000, 27).await.unwrap().unwrap();
        assert_eq!(back.id, j2.id);
        // Release one job: another server can claim it at once, with the step kept.
        s.job_release(j1.id, "srv-b").await.unwrap();
        assert_eq!(
            s.job_by_uuid(&j1.uuid)
                .await
                .unwrap()
                .unwrap()
                .owner
                .as_deref(),
            Some("srv-a"),
            "only the owner releases"
        );
        s.job_release(j1.id, "srv-a").await.unwrap();
        let again = s.job_claim("srv-b", 6000, 30).await.unwrap().unwrap();
        assert_eq!(
            (again.id, again.attempts, again.step.as_deref()),
            (j1.id, 2, Some("create-pending"))
        );
        // Complete j1; release everything srv-a still holds (j2).
        assert!(s
            .job_complete(
                j1.id,
                "srv-b",
                &JobCompletion {
                    status: JobStatus::Failed,
                    result_code: 530,
                    result_type: "object".into(),
                    result: "{\"errortext\":\"x\"}".into()
                },
                40
            )
            .await
            .unwrap());
        assert!(
            !s.job_set_step(j1.id, "srv-b", "late", false).await.unwrap(),
            "a finished job takes no step"
        );
        let done = s.job_by_uuid(&j1.uuid).await.unwrap().unwrap();
        assert_eq!(
            (
                done.status,
                done.result_code,
                done.result_type.as_deref(),
                done.completed,
                done.lease_until
            ),
            (JobStatus::Failed, 530, Some("object"), Some(40), None)
        );
        assert_eq!(s.job_release_all("srv-a").await.unwrap(), 1);
        assert_eq!(s.job_release_all("srv-a").await.unwrap(), 0);
        let j2now = s.job_by_uuid(&j2.uuid).await.unwrap().unwrap();
        assert_eq!((j2now.owner, j2now.lease_until), (None, None));
        assert_eq!(
            s.job_pending_for(&vm)
                .await
                .unwrap()
                .iter()
                .map(|j| j.id)
                .collect::<Vec<_>>(),
            [j3.id],
            "finished jobs are not pending"
        );
        assert_eq!(s.job_counts().await.unwrap(), [(0, 2), (2, 1)]);
    })
    .await;
}

#[tokio::test]
async fn details_delete_one_all_and_per_owner_kind() {
    each_backend(|s| async move {
        for (owner, id) in [
            (DetailOwner::Host, 1),
            (DetailOwner::Host, 2),
            (DetailOwner::Template, 1),
        ] {
            s.detail_upsert(owner, id, "a", "1", true).await.unwrap();
            s.detail_upsert(owner, id, "b", "2", true).await.unwrap();
            s.detail_upsert(owner, id, "secret", "s", false)
                .await
                .unwrap();
        }
        // Upsert overwrites value and visibility.
        s.detail_upsert(DetailOwner::Host, 1, "b", "22", false)
            .await
            .unwrap();
        assert_eq!(
            s.detail_get(DetailOwner::Host, 1, "b")
                .await
                .unwrap()
                .as_deref(),
            Some("22")
        );
        s.detail_delete(DetailOwner::Host, 1, "a").await.unwrap();
        assert!(s
            .detail_get(DetailOwner::Host, 1, "a")
            .await
            .unwrap()
            .is_none());
        assert_eq!(
            s.details_get(DetailOwner::Host, 1)
                .await
                .unwrap()
                .into_iter()
                .map(|d| (d.name, d.display))
                .collect::<Vec<_>>(),
            [("b".to_string(), false), ("secret".to_string(), false)]
        );
        assert!(s
            .details_visible(DetailOwner::Host, 1)
            .await
            .unwrap()
            .is_empty());
        let many = s
            .details_visible_for(DetailOwner::Host, &[1, 2, 3])
            .await
            .unwrap();
        assert_eq!(
            many.len(),
            1,
            "owners without visible details are absent: {many:?}"
        );
        assert_eq!(
            many[&2],
            BTreeMap::from([
                ("a".to_string(), "1".to_string()),
                ("b".to_string(), "2".to_string())
            ])
        );
        s.details_delete_all(DetailOwner::Host, 2).await.unwrap();
        assert!(s
            .details_get(DetailOwner::Host, 2)
            .await
            .unwrap()
            .is_empty());
        assert_eq!(
            s.details_get(DetailOwner::Template, 1).await.unwrap().len(),
            3,
            "other owner kinds untouched"
        );
        assert_eq!(
            s.details_get(DetailOwner::Host, 1).await.unwrap().len(),
            2,
            "other owners untouched"
        );
    })
    .await;
}

#[tokio::test]
async fn events_filters_and_alerts() {
    each_backend(|s| async move {
        let vm1 = uuid();
        let vm2 = uuid();
        let e1 = event("VM.CREATE", 5, &vm1, "Creating vm 100%");
        let mut e2 = event("VM.START", 5, &vm1, "starting vm1");
        e2.level = "ERROR".into();
        let e3 = event("VM.START", 6, &vm2, "starting vm2");
        for e in [&e1, &e2, &e3] {
            s.event_create(e).await.unwrap();
        }
        let el = |f: EventFilter| {
            let s = s.clone();
            async move {
                let (items, total) = s.event_list(&f, Page::all()).await.unwrap();
                assert_eq!(total, items.len() as i64);
                items.into_iter().map(|e| e.uuid).collect::<Vec<_>>()
            }
        };
        assert_eq!(
            el(EventFilter::default()).await,
            [e3.uuid.clone(), e2.uuid.clone(), e1.uuid.clone()],
            "newest first"
        );
        assert_eq!(
            el(EventFilter {
                uuid: Some(e2.uuid.clone()),
                ..Default::default()
            })
            .await,
            vec![e2.uuid.clone()]
        );
        assert_eq!(
            el(EventFilter {
                event_type: Some("VM.START".into()),
                ..Default::default()
            })
            .await,
            [e3.uuid.clone(), e2.uuid.clone()]
        );
        assert_eq!(
            el(EventFilter {
                level: Some("ERROR".into()),
                ..Default::default()
            })
            .await,
            vec![e2.uuid.clone()]
        );
        assert_eq!(
            el(EventFilter {
                account_id: Some(6),
                ..Default::default()
            })
            .await,
            vec![e3.uuid.clone()]
        );
        assert_eq!(
            el(EventFilter {
                resource_uuid: Some(vm1.clone()),
                ..Default::default()
            })
            .await,
            [e2.uuid.clone(), e1.uuid.clone()]
        );
        assert_eq!(
            el(EventFilter {
                keyword: Some("100%".into()),
                ..Default::default()
            })
            .await,
            vec![e1.uuid.clone()]
        );
        let (page, total) = s
            .event_list(
                &EventFilter::default(),
                Page {
                    offset: 1,
                    limit: Some(1),
                },
            )
            .await
            .unwrap();
        assert_eq!((page[0].uuid.clone(), total), (e2.uuid.clone(), 3));
        let stored = &s
            .event_list(
                &EventFilter {
                    uuid: Some(e1.uuid.clone()),
                    ..Default::default()
                },
                Page::all(),
            )
            .await
            .unwrap()
            .0[0];
        assert_eq!(
            stored,
            &trellis_model::entity::Event {
                id: stored.id,
                ..e1.clone()
            }
        );
        assert!(s.event_create(&e1).await.unwrap_err().is_unique_violation());

        // Alerts: one row per type and subject, refreshed; newest first.
        s.alert_raise(&uuid(), 1, "A", "disk full", 10)
            .await
            .unwrap();
        s.alert_raise(&uuid(), 2, "B", "host down", 20)
            .await
            .unwrap();
        s.alert_raise(&uuid(), 1, "A", "disk full", 30)
            .await
            .unwrap();
        let (alerts, n) = s.alert_list(None, None, None, Page::all()).await.unwrap();
        assert_eq!(n, 2);
        assert_eq!(
            alerts
                .iter()
                .map(|a| (a.subject.as_str(), a.created, a.last_sent))
                .collect::<Vec<_>>(),
            [("disk full", 10, 30), ("host down", 20, 20)]
        );
        let (one, _) = s
            .alert_list(Some(&alerts[1].uuid), None, None, Page::all())
            .await
            .unwrap();
        assert_eq!(one, vec![alerts[1].clone()]);
        let (kw, n) = s
            .alert_list(None, None, Some("DOWN"), Page::all())
            .await
            .unwrap();
        assert_eq!((kw.len(), n, kw[0].type_id), (1, 1, 2));
        let (page, n) = s
            .alert_list(
                None,
                None,
                None,
                Page {
                    offset: 1,
                    limit: Some(1),
                },
            )
            .await
            .unwrap();
        assert_eq!((page[0].subject.as_str(), n), ("host down", 2));
    })
    .await;
}

#[tokio::test]
async fn settings_list_and_set() {
    each_backend(|s| async move {
        for (name, category, value) in [
            ("extension.path.state.check.interval", "Advanced", "300"),
            ("extension.power.sync.interval", "Advanced", "60"),
            ("allow.public.user.templates", "Hidden", "true"),
        ] {
            s.config_seed(&trellis_model::entity::Configuration {
                name: name.into(),
                value: Some(value.into()),
                default_value: Some(value.into()),
                category: category.into(),
                description: format!("{name} description"),
                is_dynamic: category == "Advanced",
            })
            .await
            .unwrap();
        }
        let cl = |name: Option<&'static str>,
                  cat: Option<&'static str>,
                  kw: Option<&'static str>,
                  page: Page| {
            let s = s.clone();
            async move {
                let (items, total) = s.config_list(name, cat, kw, page).await.unwrap();
                (items.into_iter().map(|c| c.name).collect::<Vec<_>>(), total)
            }
        };
        assert_eq!(
            cl(None, None, None, Page::all()).await,
            (
                vec![
                    "allow.public.user.templates".to_string(),
                    "extension.path.state.check.interval".to_string(),
                    "extension.power.sync.interval".to_string()
                ],
                3
            ),
            "ordered by name"
        );
        assert_eq!(
            cl(Some("POWER"), None, None, Page::all()).await.0,
            ["extension.power.sync.interval"],
            "name matches a part"
        );
        assert_eq!(
            cl(None, Some("hidden"), None, Page::all()).await.0,
            ["allow.public.user.templates"]
        );
        assert_eq!(
            cl(
                None,
                None,
                Some("interval"),
                Page {
                    offset: 1,
                    limit: Some(1)
                }
            )
            .await,
            (vec!["extension.power.sync.interval".to_string()], 2)
        );
        assert!(s
            .config_set("extension.power.sync.interval", None)
            .await
            .unwrap());
        let c = s
            .config_get("extension.power.sync.interval")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (c.value, c.default_value.as_deref(), c.is_dynamic),
            (None, Some("60"), true)
        );
        assert!(!s.config_set("no.such.setting", Some("1")).await.unwrap());
        assert!(s.config_get("no.such.setting").await.unwrap().is_none());
    })
    .await;
}

#[tokio::test]
async fn servers_register_heartbeat_and_leave() {
    each_backend(|s| async move {
        s.server_register("b", "node-b", "1.0.0", 10).await.unwrap();
        s.server_register("a", "node-a", "1.0.0", 20).await.unwrap();
        assert_eq!(
            s.server_list_live(0)
                .await
                .unwrap()
                .iter()
                .map(|n| n.id.as_str())
                .collect::<Vec<_>>(),
            ["b", "a"],
            "oldest start first"
        );
        // Registering again restarts the server.
        s.server_register("b", "node-b2", "1.0.0", 30)
            .await
            .unwrap();
        let live = s.server_list_live(25).await.unwrap();
        assert_eq!(live.len(), 1);
        assert_eq!(
            (
                live[0].id.as_str(),
                live[0].name.as_str(),
                live[0].started,
                live[0].heartbeat
            ),
            ("b", "node-b2", 30, 30)
        );
        s.server_heartbeat("a", 40).await.unwrap();
        assert_eq!(s.server_list_live(35).await.unwrap()[0].id, "a");
        assert_eq!(live[0].version.as_deref(), Some("1.0.0"));
        assert!(s.server_extension_readiness().await.unwrap().is_empty());
        s.server_remove("a").await.unwrap();
        assert!(s.server_list_live(35).await.unwrap().is_empty());
        assert_eq!(s.server_list_live(0).await.unwrap().len(), 1);
    })
    .await;
}

#[tokio::test]
async fn extensions_paths_mappings_and_custom_action_lookups() {
    each_backend(|s| async move {
        let details = BTreeMap::from([("url".to_string(), "https://pve".to_string())]);
        let e = s
            .extension_create(
                &NewExtension {
                    uuid: uuid(),
                    name: "px".into(),
                    description: Some("Proxmox".into()),
                    ext_type: "Orchestrator".into(),
                    relative_path: "px/px.sh".into(),
                    is_user_defined: false,
                    state: ExtensionState::Enabled,
                    path_ready: false,
                },
                &details,
                &BTreeMap::new(),
                1,
            )
            .await
            .unwrap();
        let f = s
            .extension_create(
                &NewExtension {
                    uuid: uuid(),
                    name: "other".into(),
                    description: None,
                    ext_type: "Orchestrator".into(),
                    relative_path: "other/o.sh".into(),
                    is_user_defined: true,
                    state: ExtensionState::Enabled,
                    path_ready: true,
                },
                &BTreeMap::new(),
                &BTreeMap::new(),
                2,
            )
            .await
            .unwrap();
        assert_eq!(
            (e.is_user_defined, e.path_ready, e.description.as_deref()),
            (false, false, Some("Proxmox"))
        );
        assert_eq!(
            s.extension_all()
                .await
                .unwrap()
                .iter()
                .map(|x| x.id)
                .collect::<Vec<_>>(),
            [f.id, e.id]
        );
        // Path changes are read back at once (extensions are cached on SQLite).
        assert_eq!(
            s.extension_get(e.id).await.unwrap().unwrap().relative_path,
            "px/px.sh"
        );
        s.extension_set_path(e.id, "px/px-v2.sh").await.unwrap();
        assert_eq!(
            s.extension_get(e.id).await.unwrap().unwrap().relative_path,
            "px/px-v2.sh"
        );
        assert_eq!(
            s.extension_by_uuid(&e.uuid)
                .await
                .unwrap()
                .unwrap()
                .relative_path,
            "px/px-v2.sh"
        );

        let m1 = s
            .resource_map_create(
                e.id,
                10,
                "Cluster",
                &BTreeMap::from([("node".to_string(), "n1".to_string())]),
                3,
            )
            .await
            .unwrap();
        let m2 = s
            .resource_map_create(e.id, 11, "Cluster", &BTreeMap::new(), 4)
            .await
            .unwrap();
        s.resource_map_create(f.id, 12, "Cluster", &BTreeMap::new(), 5)
            .await
            .unwrap();
        assert_eq!(
            s.resource_map_list(e.id).await.unwrap(),
            [m1.clone(), m2.clone()]
        );
        assert_eq!(
            s.details_visible(DetailOwner::ResourceMap, m1.id)
                .await
                .unwrap()["node"],
            "n1"
        );
        assert_eq!(
            s.resource_map_for(10, "Cluster").await.unwrap().as_ref(),
            Some(&m1)
        );
        s.resource_map_delete(m1.id, 6).await.unwrap();
        assert_eq!(s.resource_map_list(e.id).await.unwrap(), [m2]);
        assert!(s.resource_map_for(10, "Cluster").await.unwrap().is_none());
        assert!(s
            .details_get(DetailOwner::ResourceMap, m1.id)
            .await
            .unwrap()
            .is_empty());

        let new = NewCustomAction {
            uuid: uuid(),
            name: "Snapshot".into(),
            description: Some("take one".into()),
            extension_id: e.id,
            resource_type: Some("VirtualMachine".into()),
            allowed_role_types: 1,
            success_message: Some("ok".into()),
            error_message: None,
            enabled: false,
            timeout: 5,
        };
        let a = s
            .custom_action_create(
                &new,
                &BTreeMap::from([("k".to_string(), "v".to_string())]),
                "[{\"name\":\"p\"}]",
                7,
            )
            .await
            .unwrap();
        assert_eq!(
            s.custom_action_by_uuid(&new.uuid).await.unwrap().as_ref(),
            Some(&a)
        );
        assert_eq!(
            s.custom_action_by_name(e.id, "snapshot")
                .await
                .unwrap()
                .as_ref(),
            Some(&a),
            "names compare case-insensitively"
        );
        assert!(
            s.custom_action_by_name(f.id, "Snapshot")
                .await
                .unwrap()
                .is_none(),
            "per extension"
        );
        assert_eq!(
            s.details_visible(DetailOwner::CustomAction, a.id)
                .await
                .unwrap()
                .len(),
            1,
            "parameters are hidden"
        );
        let mut changed = a.clone();
        changed.description = None;
        changed.resource_type = None;
        changed.allowed_role_types = 1 | 2 | 8;
        changed.success_message = None;
        changed.error_message = Some("failed: {{error}}".into());
        changed.enabled = true;
        changed.timeout = 30;
        changed.name = "ignored".into();
        s.custom_action_update(&changed).await.unwrap();
        let got = s.custom_action_by_uuid(&a.uuid).await.unwrap().unwrap();
        assert_eq!(
            got,
            trellis_model::entity::CustomAction {
                name: "Snapshot".into(),
                ..changed
            },
            "the name is not updated"
        );
        let (list, n) = s
            .custom_action_list(
                &CustomActionFilter {
                    role_mask: Some(8),
                    enabled: Some(true),
                    ..Default::default()
                },
                Page::all(),
            )
            .await
            .unwrap();
        assert_eq!((list.len(), n), (1, 1));
        let (list, _) = s
            .custom_action_list(
                &CustomActionFilter {
                    name: Some("Snapshot".into()),
                    extension_id: Some(e.id),
                    uuid: Some(a.uuid.clone()),
                    keyword: Some("SNAP".into()),
                    ..Default::default()
                },
                Page::all(),
            )
            .await
            .unwrap();
        assert_eq!(list, vec![got.clone()]);
        s.custom_action_delete(a.id, 8).await.unwrap();
        assert!(s.custom_action_by_uuid(&a.uuid).await.unwrap().is_none());
        assert!(s
            .custom_action_by_name(e.id, "Snapshot")
            .await
            .unwrap()
            .is_none());
        assert!(s
            .details_get(DetailOwner::CustomAction, a.id)
            .await
            .unwrap()
            .is_empty());

        // Deleting an extension drops its details and checksums.
        s.checksum_record(e.id, "srv", Some("abc"), 9)
            .await
            .unwrap();
        s.extension_delete(e.id, 10, false).await.unwrap();
        assert!(s.extension_get(e.id).await.unwrap().is_none());
        assert!(s.extension_by_uuid(&e.uuid).await.unwrap().is_none());
        assert!(s.checksum_list(e.id).await.unwrap().is_empty());
        assert!(s
            .details_get(DetailOwner::Extension, e.id)
            .await
            .unwrap()
            .is_empty());
        assert_eq!(s.extension_all().await.unwrap(), [f]);
        assert!(
            s.extension_create(
                &NewExtension {
                    uuid: a.uuid.clone(),
                    name: "x".into(),
                    description: None,
                    ext_type: "Orchestrator".into(),
                    relative_path: "x/x".into(),
                    is_user_defined: true,
                    state: ExtensionState::Enabled,
                    path_ready: true
                },
                &BTreeMap::new(),
                &BTreeMap::new(),
                1
            )
            .await
            .is_ok(),
            "uuids are per table"
        );
    })
    .await;
}

fn new_file(path: &str, content: &[u8], mode: u32) -> NewExtensionFile {
    use sha2::Digest as _;
    NewExtensionFile {
        path: path.into(),
        sha256: format!("{:x}", sha2::Sha256::digest(content)),
        mode,
        content: content.to_vec(),
    }
}

/// Extension files: stored once per digest, replaced all at once, each server's copies, and the
/// clean-up of a deleted extension that every server (also one away at the time) carries out.
#[tokio::test]
async fn extension_files_copies_and_cleanups() {
    each_backend(|s| async move {
        let mut ids = Vec::new();
        for name in ["fa", "fb"] {
            let e = s
                .extension_create(
                    &NewExtension {
                        uuid: uuid(),
                        name: name.into(),
                        description: None,
                        ext_type: "Orchestrator".into(),
                        relative_path: format!("{name}/{name}.sh"),
                        is_user_defined: true,
                        state: ExtensionState::Enabled,
                        path_ready: false,
                    },
                    &BTreeMap::new(),
                    &BTreeMap::new(),
                    1,
                )
                .await
                .unwrap();
            ids.push(e.id);
        }
        let (a, b) = (ids[0], ids[1]);
        let script = new_file("fa/fa.sh", b"#!/bin/sh\necho one\n", 0o755);
        let shared = new_file("fa/lib/common.sh", &[0u8, 1, 2, 255], 0o644);
        s.extension_files_set(a, &[script.clone(), shared.clone()], 5)
            .await
            .unwrap();
        // The same content for another extension is stored once and survives the first's change.
        s.extension_files_set(b, &[new_file("fb/lib.sh", &[0u8, 1, 2, 255], 0o644)], 6)
            .await
            .unwrap();
        let files = s.extension_files(a).await.unwrap();
        assert_eq!(
            files
                .iter()
                .map(|f| (
                    f.path.as_str(),
                    f.sha256.as_str(),
                    f.mode,
                    f.size,
                    f.updated
                ))
                .collect::<Vec<_>>(),
            [
                ("fa/fa.sh", script.sha256.as_str(), 0o755, 19, 5),
                ("fa/lib/common.sh", shared.sha256.as_str(), 0o644, 4, 5)
            ]
        );
        assert_eq!(
            s.file_blob_get(&shared.sha256).await.unwrap().as_deref(),
            Some(&[0u8, 1, 2, 255][..]),
            "binary content round-trips"
        );
        let v2 = new_file("fa/fa.sh", b"#!/bin/sh\necho two\n", 0o755);
        s.extension_files_set(a, std::slice::from_ref(&v2), 7)
            .await
            .unwrap();
        assert_eq!(s.extension_files(a).await.unwrap().len(), 1);
        assert!(
            s.file_blob_get(&script.sha256).await.unwrap().is_none(),
            "content no extension uses is removed"
        );
        assert!(
            s.file_blob_get(&shared.sha256).await.unwrap().is_some(),
            "content another extension uses stays"
        );
        // Copies per server; an extension is to be written on a server until every stored file
        // is there in its stored version.
        let names = |v: Vec<trellis_model::entity::Extension>| {
            v.into_iter().map(|e| e.id).collect::<Vec<_>>()
        };
        assert_eq!(
            names(s.extensions_with_files_to_write("srv-1").await.unwrap()),
            [a, b]
        );
        s.extension_file_copy_record("srv-1", a, "fa/fa.sh", Some(&v2.sha256), 8)
            .await
            .unwrap();
        assert_eq!(
            names(s.extensions_with_files_to_write("srv-1").await.unwrap()),
            [b]
        );
        s.extension_file_copy_record("srv-2", a, "fa/fa.sh", Some("old"), 8)
            .await
            .unwrap();
        s.extension_file_copy_record("srv-2", a, "fa/fa.sh", Some(&v2.sha256), 9)
            .await
            .unwrap();
        s.extension_file_copy_record("srv-2", a, "fa/gone.sh", Some("x"), 9)
            .await
            .unwrap();
        s.extension_file_copy_record("srv-2", a, "fa/gone.sh", None, 9)
            .await
            .unwrap();
        assert_eq!(
            s.extension_file_copies("srv-2", a).await.unwrap(),
            [("fa/fa.sh".to_string(), v2.sha256.clone())]
        );
        assert_eq!(
            s.extension_file_copies_forget(a, Some(&["srv-2".to_string()]))
                .await
                .unwrap(),
            1
        );
        assert!(s
            .extension_file_copies("srv-2", a)
            .await
            .unwrap()
            .is_empty());
        assert_eq!(s.extension_file_copies("srv-1", a).await.unwrap().len(), 1);
        assert_eq!(s.extension_file_copies_forget(a, None).await.unwrap(), 1);
        s.extension_file_copy_record("srv-1", a, "fa/fa.sh", Some(&v2.sha256), 10)
            .await
            .unwrap();
        // Deleted without clean-up: files and copies go from the database, nothing to remove.
        s.extension_delete(b, 11, false).await.unwrap();
        assert!(s.extension_files(b).await.unwrap().is_empty());
        assert!(s.file_blob_get(&shared.sha256).await.unwrap().is_none());
        assert!(s
            .extension_cleanups_pending("srv-1")
            .await
            .unwrap()
            .is_empty());
        // Deleted with clean-up: every server has it to do until it says it is done.
        s.extension_delete(a, 12, true).await.unwrap();
        assert!(s.extension_files(a).await.unwrap().is_empty());
        assert!(s
            .extension_file_copies("srv-1", a)
            .await
            .unwrap()
            .is_empty());
        assert!(s.file_blob_get(&v2.sha256).await.unwrap().is_none());
        for server in ["srv-1", "srv-2"] {
            let pending = s.extension_cleanups_pending(server).await.unwrap();
            assert_eq!(
                pending
                    .iter()
                    .map(|e| (e.id, e.name.as_str()))
                    .collect::<Vec<_>>(),
                [(a, "fa")]
            );
        }
        s.extension_cleanup_done(a, "srv-1", 13).await.unwrap();
        s.extension_cleanup_done(a, "srv-1", 14).await.unwrap();
        assert!(s
            .extension_cleanups_pending("srv-1")
            .await
            .unwrap()
            .is_empty());
        assert_eq!(
            s.extension_cleanups_pending("srv-2").await.unwrap().len(),
            1
        );
        assert_eq!(
            s.extension_cleanups_pending("srv-new").await.unwrap().len(),
            1,
            "a server that was away does it when it is back"
        );
    })
    .await;
}
