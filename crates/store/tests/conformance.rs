//! The store conformance suite: the same assertions on every backend. SQLite always runs;
//! PostgreSQL runs when `TRELLIS_TEST_POSTGRES_URL` is set (CI sets it).

use std::collections::BTreeMap;
use trellis_model::entity::{DetailOwner, JobStatus, Session};
use trellis_model::extension::ExtensionState;
use trellis_model::infra::AllocationState;
use trellis_model::RoleType;
use trellis_store::{
    CustomActionFilter, ExtensionFilter, JobCompletion, NewCustomAction, NewExtension, NewJob,
    NewUser, Page, Store,
};

mod common;

use common::{each_backend, sqlite, uuid};

#[tokio::test]
async fn migrations_are_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let s = Store::open(&url).await.unwrap();
    s.close().await;
    let s = Store::open(&url).await.unwrap();
    assert!(s.ping().await);
    // One server per SQLite file: a second open is refused while the first is open.
    match Store::open(&url).await {
        Err(e @ trellis_store::StoreError::InUse { .. }) => {
            assert!(e.to_string().contains("use PostgreSQL"), "{e}")
        }
        Err(e) => panic!("expected InUse, got {e}"),
        Ok(_) => panic!("a second store opened the same SQLite file"),
    }
    s.close().await;
    assert!(Store::open(&url).await.unwrap().ping().await);
}

#[tokio::test]
async fn identity_round_trip() {
    each_backend(|s| async move {
        let d = s
            .domain_create(&uuid(), "ROOT", "/", None, 1)
            .await
            .unwrap();
        assert_eq!(s.domain_by_path("/").await.unwrap().unwrap().id, d.id);
        let role = s
            .role_create(&uuid(), "User", RoleType::User, "user role", true)
            .await
            .unwrap();
        let a = s
            .account_create(&uuid(), "alice", d.id, role.id, 2)
            .await
            .unwrap();
        assert_eq!(
            s.account_by_name(d.id, "ALICE").await.unwrap().unwrap().id,
            a.id
        );
        let u = s
            .user_create(
                &NewUser {
                    uuid: uuid(),
                    account_id: a.id,
                    username: "alice".into(),
                    password_hash: "hash".into(),
                    firstname: "Alice".into(),
                    lastname: "A".into(),
                    email: None,
                },
                3,
            )
            .await
            .unwrap();
        s.user_set_keys(u.id, "k1", "s1").await.unwrap();
        assert_eq!(s.user_by_api_key("k1").await.unwrap().unwrap().id, u.id);
        let p = s.principal_get(u.id).await.unwrap().unwrap();
        assert_eq!(p.role.role_type, RoleType::User);
        let sess = Session {
            session_key: "sk".into(),
            jsession_id: "js".into(),
            user_id: u.id,
            created: 1,
            expires: 100,
        };
        s.session_create(&sess).await.unwrap();
        assert!(s.session_get("sk", 50).await.unwrap().is_some());
        assert!(s.session_get("sk", 150).await.unwrap().is_none());
        let (users, total) = s
            .user_list(
                &Default::default(),
                Page {
                    offset: 0,
                    limit: Some(10),
                },
            )
            .await
            .unwrap();
        assert_eq!((users.len(), total), (1, 1));
        s.account_delete(a.id, 9).await.unwrap();
        assert!(s.user_by_api_key("k1").await.unwrap().is_none());
        assert!(s.session_get("sk", 50).await.unwrap().is_none());
    })
    .await;
}

#[tokio::test]
async fn jobs_are_claimed_once_and_fenced() {
    each_backend(|s| async move {
        for i in 0..6 {
            let j = NewJob {
                uuid: uuid(),
                user_id: 1,
                account_id: 1,
                cmd: format!("c{i}"),
                params: "{}".into(),
                instance_type: None,
                instance_uuid: None,
            };
            s.job_create(&j, 10).await.unwrap();
        }
        let (a, b) = (s.clone(), s.clone());
        let claim = |st: Store, owner: &'static str| async move {
            let mut got = vec![];
            while let Some(j) = st.job_claim(owner, 1000, 20).await.unwrap() {
                got.push(j.id);
            }
            got
        };
        let (x, y) = tokio::join!(claim(a, "s1"), claim(b, "s2"));
        let mut all: Vec<i64> = x.iter().chain(y.iter()).copied().collect();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 6, "every job claimed exactly once: {x:?} {y:?}");
        let first = x.first().copied().or(y.first().copied()).unwrap();
        let owner = if x.contains(&first) { "s1" } else { "s2" };
        let other = if owner == "s1" { "s2" } else { "s1" };
        assert!(!s
            .job_complete(
                first,
                other,
                &JobCompletion {
                    status: JobStatus::Succeeded,
                    result_code: 0,
                    result_type: "object".into(),
                    result: "{}".into()
                },
                30
            )
            .await
            .unwrap());
        assert!(s
            .job_complete(
                first,
                owner,
                &JobCompletion {
                    status: JobStatus::Succeeded,
                    result_code: 0,
                    result_type: "object".into(),
                    result: "{}".into()
                },
                30
            )
            .await
            .unwrap());
        // An expired lease makes a job claimable again by another server.
        let second = x
            .iter()
            .chain(y.iter())
            .copied()
            .find(|id| *id != first)
            .unwrap();
        let again = s.job_claim("s3", 5000, 2000).await.unwrap().unwrap();
        assert_ne!(again.id, first);
        assert!(again.attempts >= 2);
        let _ = second;
        let (list, total) = s.job_list(None, Page::all()).await.unwrap();
        assert_eq!((list.len(), total), (6, 6));
    })
    .await;
}

#[tokio::test]
async fn details_by_name_fragment_and_compare_and_set() {
    each_backend(|s| async move {
        s.detail_upsert(DetailOwner::Extension, 3, "Api_Password", "p1", true)
            .await
            .unwrap();
        s.detail_upsert(DetailOwner::Host, 4, "External:token", "t1", true)
            .await
            .unwrap();
        s.detail_upsert(DetailOwner::Host, 4, "password", "p2", false)
            .await
            .unwrap();
        s.detail_upsert(DetailOwner::Host, 4, "url", "https://x", true)
            .await
            .unwrap();
        // Case-insensitive, any owner, hidden rows too, never a row matching no fragment.
        let found = s.details_named_like(&["PASSWORD", "token"]).await.unwrap();
        let got: Vec<(DetailOwner, i64, &str, &str)> = found
            .iter()
            .map(|d| (d.owner, d.owner_id, d.name.as_str(), d.value.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                (DetailOwner::Extension, 3, "Api_Password", "p1"),
                (DetailOwner::Host, 4, "External:token", "t1"),
                (DetailOwner::Host, 4, "password", "p2"),
            ]
        );
        assert!(s.details_named_like(&[]).await.unwrap().is_empty());
        // The swap happens only while the row holds the expected value.
        assert!(s
            .detail_swap_value(DetailOwner::Host, 4, "password", "p2", "sealed-p2")
            .await
            .unwrap());
        assert!(!s
            .detail_swap_value(DetailOwner::Host, 4, "password", "p2", "again")
            .await
            .unwrap());
        assert!(!s
            .detail_swap_value(DetailOwner::Host, 5, "password", "sealed-p2", "x")
            .await
            .unwrap());
        assert_eq!(
            s.detail_get(DetailOwner::Host, 4, "password")
                .await
                .unwrap()
                .as_deref(),
            Some("sealed-p2")
        );
    })
    .await;
}

#[tokio::test]
async fn details_replace_keeps_hidden() {
    each_backend(|s| async move {
        s.detail_upsert(DetailOwner::Extension, 7, "hidden", "h", false)
            .await
            .unwrap();
        s.detail_upsert(DetailOwner::Extension, 7, "a", "1", true)
            .await
            .unwrap();
        let long = "x".repeat(5000);
        let new: BTreeMap<String, String> = [("b".to_string(), long.clone())].into();
        s.details_replace_visible(DetailOwner::Extension, 7, "", &new)
            .await
            .unwrap();
        let all = s.details_get(DetailOwner::Extension, 7).await.unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(
            s.details_visible(DetailOwner::Extension, 7).await.unwrap(),
            new
        );
        assert_eq!(
            s.detail_get(DetailOwner::Extension, 7, "hidden")
                .await
                .unwrap()
                .as_deref(),
            Some("h")
        );
        // Prefixed replacement only touches prefixed keys.
        s.detail_upsert(DetailOwner::Host, 1, "plain", "p", true)
            .await
            .unwrap();
        let ext: BTreeMap<String, String> = [("node".to_string(), "pve1".to_string())].into();
        s.details_replace_visible(DetailOwner::Host, 1, "External:", &ext)
            .await
            .unwrap();
        let host = s.details_visible(DetailOwner::Host, 1).await.unwrap();
        assert_eq!(host.get("External:node").map(String::as_str), Some("pve1"));
        assert_eq!(host.get("plain").map(String::as_str), Some("p"));
        // Several owners in one query: visible rows only, in the order asked, empty when none;
        // the same id under another owner kind is another owner.
        let [h, e, none, other_kind] = s
            .details_visible_of(&[
                (DetailOwner::Host, 1),
                (DetailOwner::Extension, 7),
                (DetailOwner::Extension, 999),
                (DetailOwner::Instance, 7),
            ])
            .await
            .unwrap();
        assert_eq!(h, host);
        assert_eq!(e, new);
        assert!(none.is_empty() && other_kind.is_empty());
    })
    .await;
}

#[tokio::test]
async fn extensions_and_custom_actions() {
    each_backend(|s| async move {
        let details: BTreeMap<String, String> = [("url".to_string(), "x".to_string())].into();
        let hidden: BTreeMap<String, String> = [(
            "orchestratorrequirespreparevm".to_string(),
            "true".to_string(),
        )]
        .into();
        let e1 = s
            .extension_create(
                &NewExtension {
                    uuid: uuid(),
                    name: "Alpha".into(),
                    description: None,
                    ext_type: "Orchestrator".into(),
                    relative_path: "alpha/alpha.sh".into(),
                    is_user_defined: true,
                    state: ExtensionState::Enabled,
                    path_ready: true,
                },
                &details,
                &hidden,
                1,
            )
            .await
            .unwrap();
        let e2 = s
            .extension_create(
                &NewExtension {
                    uuid: uuid(),
                    name: "beta".into(),
                    description: Some("d".into()),
                    ext_type: "Orchestrator".into(),
                    relative_path: "beta/beta.sh".into(),
                    is_user_defined: true,
                    state: ExtensionState::Disabled,
                    path_ready: false,
                },
                &BTreeMap::new(),
                &BTreeMap::new(),
                2,
            )
            .await
            .unwrap();
        assert_eq!(
            s.extension_by_name("ALPHA").await.unwrap().unwrap().id,
            e1.id
        );
        let (page, total) = s
            .extension_list(
                &ExtensionFilter::default(),
                Page {
                    offset: 0,
                    limit: Some(1),
                },
            )
            .await
            .unwrap();
        assert_eq!(total, 2);
        assert_eq!(page[0].id, e2.id, "newest first");
        let (kw, _) = s
            .extension_list(
                &ExtensionFilter {
                    keyword: Some("lph".into()),
                    ..Default::default()
                },
                Page::all(),
            )
            .await
            .unwrap();
        assert_eq!(kw.len(), 1);
        let (kw, _) = s
            .extension_list(
                &ExtensionFilter {
                    keyword: Some("%".into()),
                    ..Default::default()
                },
                Page::all(),
            )
            .await
            .unwrap();
        assert!(kw.is_empty(), "LIKE wildcards in keywords are literal");
        assert!(s.extension_set_path_ready(e2.id, true).await.unwrap());
        assert!(!s.extension_set_path_ready(e2.id, true).await.unwrap());
        let a = NewCustomAction {
            uuid: uuid(),
            name: "snap".into(),
            description: None,
            extension_id: e1.id,
            resource_type: Some("VirtualMachine".into()),
            allowed_role_types: 1 | 8,
            success_message: None,
            error_message: None,
            enabled: true,
            timeout: 5,
        };
        let created = s
            .custom_action_create(&a, &BTreeMap::new(), "[]", 3)
            .await
            .unwrap();
        let b = NewCustomAction {
            uuid: uuid(),
            name: "admin-only".into(),
            allowed_role_types: 1,
            enabled: false,
            resource_type: None,
            ..a.clone()
        };
        s.custom_action_create(&b, &BTreeMap::new(), "[]", 4)
            .await
            .unwrap();
        let user_view = CustomActionFilter {
            role_mask: Some(8),
            ..Default::default()
        };
        assert_eq!(
            s.custom_action_list(&user_view, Page::all())
                .await
                .unwrap()
                .1,
            1
        );
        let vm = CustomActionFilter {
            resource_type: Some("VirtualMachine".into()),
            ..Default::default()
        };
        assert_eq!(
            s.custom_action_list(&vm, Page::all()).await.unwrap().1,
            2,
            "NULL resource type matches"
        );
        let enabled = CustomActionFilter {
            enabled: Some(true),
            ..Default::default()
        };
        assert_eq!(
            s.custom_action_list(&enabled, Page::all()).await.unwrap().1,
            1
        );
        assert_eq!(
            s.detail_get(DetailOwner::CustomAction, created.id, "parameters")
                .await
                .unwrap()
                .as_deref(),
            Some("[]")
        );
        assert_eq!(s.custom_action_count(e1.id).await.unwrap(), 2);
        s.custom_action_delete(created.id, 9).await.unwrap();
        assert_eq!(s.custom_action_count(e1.id).await.unwrap(), 1);
        let m = s
            .resource_map_create(e1.id, 42, "Cluster", &details, 5)
            .await
            .unwrap();
        assert_eq!(
            s.resource_map_for(42, "Cluster").await.unwrap().unwrap().id,
            m.id
        );
        s.resource_map_delete(m.id, 6).await.unwrap();
        assert!(s.resource_map_for(42, "Cluster").await.unwrap().is_none());
        s.checksum_record(e1.id, "srv-a", Some("abc"), 1)
            .await
            .unwrap();
        s.checksum_record(e1.id, "srv-b", Some("abc"), 1)
            .await
            .unwrap();
        s.checksum_record(e1.id, "srv-a", None, 2).await.unwrap();
        assert_eq!(
            s.checksum_list(e1.id).await.unwrap(),
            vec![
                ("srv-a".to_string(), None, 2),
                ("srv-b".to_string(), Some("abc".to_string()), 1)
            ]
        );
        let name = e1.name.clone();
        assert_eq!(
            s.server_extension_readiness().await.unwrap(),
            vec![
                ("srv-a".to_string(), name.clone(), false),
                ("srv-b".to_string(), name, true)
            ]
        );
        s.extension_delete(e1.id, 10, false).await.unwrap();
        assert!(s.extension_by_name("alpha").await.unwrap().is_none());
    })
    .await;
}

#[tokio::test]
async fn events_alerts_settings_servers() {
    each_backend(|s| async move {
        s.alert_raise(
            &uuid(),
            33,
            "ALERT.TYPE.EXTENSION.PATH.NOT.READY",
            "path not ready",
            1,
        )
        .await
        .unwrap();
        s.alert_raise(
            &uuid(),
            33,
            "ALERT.TYPE.EXTENSION.PATH.NOT.READY",
            "path not ready",
            2,
        )
        .await
        .unwrap();
        let (alerts, n) = s
            .alert_list(None, Some(33), None, Page::all())
            .await
            .unwrap();
        assert_eq!(n, 1);
        assert_eq!(alerts[0].last_sent, 2);
        let c = trellis_model::entity::Configuration {
            name: "x.y".into(),
            value: Some("1".into()),
            default_value: Some("1".into()),
            category: "Advanced".into(),
            description: "d".into(),
            is_dynamic: true,
        };
        s.config_seed(&c).await.unwrap();
        assert!(s.config_set("x.y", Some("2")).await.unwrap());
        s.config_seed(&c).await.unwrap();
        assert_eq!(
            s.config_get("x.y").await.unwrap().unwrap().value.as_deref(),
            Some("2"),
            "seeding keeps values"
        );
        s.server_register("a", "node-a", "1.0.0", 10).await.unwrap();
        s.server_register("b", "node-b", "1.0.0", 20).await.unwrap();
        s.server_heartbeat("a", 100).await.unwrap();
        let live = s.server_list_live(50).await.unwrap();
        assert_eq!(live.len(), 1);
        assert_eq!(live[0].id, "a");
    })
    .await;
}

/// Catalog rows are cached on SQLite; every catalog write must make the next read current.
#[tokio::test]
async fn catalog_reads_follow_writes() {
    each_backend(|s| async move {
        let z = s
            .zone_create(&trellis_model::entity::Zone {
                id: 0,
                uuid: uuid(),
                name: "z1".into(),
                description: None,
                dns1: None,
                dns2: None,
                internal_dns1: None,
                network_type: "Advanced".into(),
                allocation_state: AllocationState::Enabled,
                created: 1,
            })
            .await
            .unwrap();
        // Read twice (the second read may come from the cache).
        for _ in 0..2 {
            assert_eq!(s.zone_get(z.id).await.unwrap().unwrap().name, "z1");
            assert_eq!(s.zone_by_uuid(&z.uuid).await.unwrap().unwrap().name, "z1");
        }
        let mut changed = z.clone();
        changed.name = "z2".into();
        changed.allocation_state = AllocationState::Disabled;
        s.zone_update(&changed).await.unwrap();
        let got = s.zone_get(z.id).await.unwrap().unwrap();
        assert_eq!(
            (got.name.as_str(), got.allocation_state),
            ("z2", AllocationState::Disabled)
        );
        assert_eq!(s.zone_by_uuid(&z.uuid).await.unwrap().unwrap().name, "z2");
        s.zone_delete(z.id, 2).await.unwrap();
        assert!(s.zone_get(z.id).await.unwrap().is_none());
        assert!(s.zone_by_uuid(&z.uuid).await.unwrap().is_none());

        // Extensions: state and readiness changes are seen at once.
        let e = s
            .extension_create(
                &NewExtension {
                    uuid: uuid(),
                    name: "cached".into(),
                    description: None,
                    ext_type: "Orchestrator".into(),
                    relative_path: "cached/cached.sh".into(),
                    is_user_defined: true,
                    state: ExtensionState::Enabled,
                    path_ready: true,
                },
                &BTreeMap::new(),
                &BTreeMap::new(),
                1,
            )
            .await
            .unwrap();
        assert_eq!(
            s.extension_get(e.id).await.unwrap().unwrap().state.as_str(),
            "Enabled"
        );
        s.extension_set_state(e.id, ExtensionState::Disabled)
            .await
            .unwrap();
        assert_eq!(
            s.extension_get(e.id).await.unwrap().unwrap().state.as_str(),
            "Disabled"
        );
        assert_eq!(
            s.extension_by_uuid(&e.uuid)
                .await
                .unwrap()
                .unwrap()
                .state
                .as_str(),
            "Disabled"
        );
        let ready = s.extension_get(e.id).await.unwrap().unwrap().path_ready;
        s.extension_set_path_ready(e.id, !ready).await.unwrap();
        assert_eq!(
            s.extension_get(e.id).await.unwrap().unwrap().path_ready,
            !ready
        );
        // A server's unchecked extensions: until it records a checksum (even "not ready").
        let unchecked = |s: Store| async move {
            s.extensions_unchecked_by("srv-1")
                .await
                .unwrap()
                .iter()
                .any(|x| x.name == "cached")
        };
        assert!(unchecked(s.clone()).await);
        s.checksum_record(e.id, "srv-2", Some("abc"), 1)
            .await
            .unwrap();
        assert!(
            unchecked(s.clone()).await,
            "another server's checksum does not count"
        );
        s.checksum_record(e.id, "srv-1", None, 1).await.unwrap();
        assert!(!unchecked(s.clone()).await);
    })
    .await;
    // Many readers racing one writer never see a value older than the last write they observed
    // completing.
    let (s, _dir) = sqlite().await;
    let e = s
        .extension_create(
            &NewExtension {
                uuid: uuid(),
                name: "race".into(),
                description: None,
                ext_type: "Orchestrator".into(),
                relative_path: "race/race.sh".into(),
                is_user_defined: true,
                state: ExtensionState::Enabled,
                path_ready: true,
            },
            &BTreeMap::new(),
            &BTreeMap::new(),
            1,
        )
        .await
        .unwrap();
    let writer = {
        let s = s.clone();
        tokio::spawn(async move {
            for i in 0..200 {
                let d = format!("d{i}");
                s.extension_set_description(e.id, &d).await.unwrap();
                let seen = s.extension_get(e.id).await.unwrap().unwrap().description;
                assert_eq!(
                    seen.as_deref(),
                    Some(d.as_str()),
                    "stale read after write {i}"
                );
            }
        })
    };
    let mut readers = Vec::new();
    for _ in 0..4 {
        let s = s.clone();
        readers.push(tokio::spawn(async move {
            for _ in 0..400 {
                s.extension_get(e.id).await.unwrap();
            }
        }));
    }
    writer.await.unwrap();
    for r in readers {
        r.await.unwrap();
    }
    assert_eq!(
        s.extension_get(e.id)
            .await
            .unwrap()
            .unwrap()
            .description
            .as_deref(),
        Some("d199")
    );
    assert!(
        s.cache_stats().hits > 0,
        "the catalog cache served reads on SQLite"
    );
}

#[tokio::test]
async fn template_visibility_is_applied_before_paging() {
    use trellis_model::entity::Template;
    use trellis_store::{TemplateFilter, TemplateVisibility as V};
    each_backend(|s| async move {
        let (alice, bob) = (11, 12);
        // (name, owner, public, featured, zone)
        let rows = [
            ("admin-featured", 1, true, true, None),
            ("admin-public", 1, true, false, Some(7)),
            ("admin-private", 1, false, false, None),
            ("alice-private", alice, false, false, None),
            ("bob-public", bob, true, false, Some(8)),
            ("bob-private", bob, false, false, None),
        ];
        for (name, owner, public, featured, zone) in rows {
            s.template_create(&Template {
                id: 0,
                uuid: uuid(),
                name: name.into(),
                display_text: name.into(),
                format: "EXTERNAL".into(),
                hypervisor: "External".into(),
                os_type: "Other".into(),
                extension_id: None,
                arch: "x86_64".into(),
                is_public: public,
                is_featured: featured,
                account_id: owner,
                zone_id: zone,
                url: "none".into(),
                size: 0,
                state: "Active".into(),
                created: 1,
            })
            .await
            .unwrap();
        }
        let names = |v: V, f: TemplateFilter<'static>| {
            let s = s.clone();
            async move {
                let (items, total) = s.template_list(&f, v, Page::all()).await.unwrap();
                assert_eq!(total, items.len() as i64);
                items.into_iter().map(|t| t.name).collect::<Vec<_>>()
            }
        };
        let any = TemplateFilter::default();
        assert_eq!(names(V::All, any).await.len(), 6);
        assert_eq!(
            names(V::UsableBy(alice), any).await,
            [
                "admin-featured",
                "admin-public",
                "alice-private",
                "bob-public"
            ]
        );
        assert_eq!(
            names(V::OwnedBy(bob), any).await,
            ["bob-public", "bob-private"]
        );
        assert_eq!(names(V::FeaturedFor(alice), any).await, ["admin-featured"]);
        assert_eq!(
            names(V::CommunityFor(alice), any).await,
            ["admin-public", "bob-public"]
        );
        assert_eq!(names(V::CommunityFor(bob), any).await, ["admin-public"]);
        assert!(names(V::Nothing, any).await.is_empty());
        // A zone filter keeps the templates of that zone and those of every zone.
        let zone7 = TemplateFilter {
            zone_id: Some(7),
            ..TemplateFilter::default()
        };
        assert_eq!(
            names(V::UsableBy(alice), zone7).await,
            ["admin-featured", "admin-public", "alice-private"]
        );
        let named = TemplateFilter {
            name: Some("bob-private"),
            ..TemplateFilter::default()
        };
        assert!(names(V::UsableBy(alice), named).await.is_empty());
        // Paging counts what the viewer may see, not the table.
        let (page, total) = s
            .template_list(
                &any,
                V::UsableBy(alice),
                Page {
                    offset: 0,
                    limit: Some(1),
                },
            )
            .await
            .unwrap();
        assert_eq!((page.len(), total), (1, 4));
    })
    .await;
}
