//! Store conformance, the catalog: zones, pods, clusters, hosts, service offerings, templates,
//! network offerings and networks. Round trips, filters, paging totals, soft deletes, unique
//! uuids, and reads that follow writes (these tables are cached on SQLite). Every test runs on
//! SQLite and, when `TRELLIS_TEST_POSTGRES_URL` is set, on PostgreSQL.

mod common;

use std::collections::BTreeMap;

use common::{
    cluster, each_backend, host, network, network_offering, offering, pod, template, uuid, zone,
};
use trellis_model::extension::ExtensionState;
use trellis_model::infra::{AllocationState, HostStatus, ResourceState};
use trellis_store::{InfraFilter, NewExtension, Page, Store, TemplateFilter, TemplateVisibility};

fn names<T>(items: &[T], name: impl Fn(&T) -> &str) -> Vec<String> {
    items.iter().map(|i| name(i).to_string()).collect()
}

#[tokio::test]
async fn zones_pods_clusters_and_hosts() {
    each_backend(|s| async move {
        let want = zone("east");
        let z1 = s.zone_create(&want).await.unwrap();
        assert_eq!(z1, trellis_model::entity::Zone { id: z1.id, ..want });
        assert_eq!(s.zone_get(z1.id).await.unwrap().as_ref(), Some(&z1));
        let z2 = s.zone_create(&zone("west")).await.unwrap();
        let p1 = s.pod_create(&pod("p1", z1.id)).await.unwrap();
        let p2 = s.pod_create(&pod("p2", z2.id)).await.unwrap();
        let c1 = s
            .cluster_create(&cluster("c1", z1.id, p1.id))
            .await
            .unwrap();
        let c2 = s
            .cluster_create(&cluster("c2", z2.id, p2.id))
            .await
            .unwrap();
        let h1 = s.host_create(&host("h1", &c1)).await.unwrap();
        let h2 = s.host_create(&host("h2", &c1)).await.unwrap();
        let h3 = s.host_create(&host("h3", &c2)).await.unwrap();

        // Lookups by id and uuid, twice (the second read may be served by the cache).
        for _ in 0..2 {
            assert_eq!(s.pod_get(p1.id).await.unwrap().as_ref(), Some(&p1));
            assert_eq!(s.pod_by_uuid(&p2.uuid).await.unwrap().as_ref(), Some(&p2));
            assert_eq!(s.cluster_get(c1.id).await.unwrap().as_ref(), Some(&c1));
            assert_eq!(
                s.cluster_by_uuid(&c2.uuid).await.unwrap().as_ref(),
                Some(&c2)
            );
            assert_eq!(s.host_get(h1.id).await.unwrap().as_ref(), Some(&h1));
            assert_eq!(s.host_by_uuid(&h3.uuid).await.unwrap().as_ref(), Some(&h3));
        }
        assert_eq!(
            (p1.zone_id, c1.pod_id, h1.cluster_id),
            (z1.id, p1.id, c1.id)
        );
        assert_eq!(h1.host_tags.as_deref(), Some("fast"));
        assert!(s.host_by_uuid(&uuid()).await.unwrap().is_none());
        assert!(s.pod_get(p2.id + 100).await.unwrap().is_none());

        // Listings: every filter, keyword, paging total.
        let all = InfraFilter::default();
        let (zones, n) = s.zone_list(&all, Page::all()).await.unwrap();
        assert_eq!(
            (names(&zones, |z| &z.name), n),
            (vec!["east".into(), "west".into()], 2)
        );
        let (zones, _) = s
            .zone_list(
                &InfraFilter {
                    zone_id: Some(z2.id),
                    ..Default::default()
                },
                Page::all(),
            )
            .await
            .unwrap();
        assert_eq!(names(&zones, |z| &z.name), ["west"]);
        let (pods, _) = s
            .pod_list(
                &InfraFilter {
                    zone_id: Some(z1.id),
                    ..Default::default()
                },
                Page::all(),
            )
            .await
            .unwrap();
        assert_eq!(names(&pods, |p| &p.name), ["p1"]);
        let (pods, _) = s
            .pod_list(
                &InfraFilter {
                    pod_id: Some(p2.id),
                    ..Default::default()
                },
                Page::all(),
            )
            .await
            .unwrap();
        assert_eq!(names(&pods, |p| &p.name), ["p2"]);
        let (clusters, _) = s
            .cluster_list(
                &InfraFilter {
                    pod_id: Some(p2.id),
                    ..Default::default()
                },
                Page::all(),
            )
            .await
            .unwrap();
        assert_eq!(names(&clusters, |c| &c.name), ["c2"]);
        let (clusters, _) = s
            .cluster_list(
                &InfraFilter {
                    name: Some("c1".into()),
                    ..Default::default()
                },
                Page::all(),
            )
            .await
            .unwrap();
        assert_eq!(names(&clusters, |c| &c.name), ["c1"]);
        let (hosts, n) = s
            .host_list(
                &InfraFilter {
                    cluster_id: Some(c1.id),
                    ..Default::default()
                },
                Page {
                    offset: 1,
                    limit: Some(1),
                },
            )
            .await
            .unwrap();
        assert_eq!((names(&hosts, |h| &h.name), n), (vec!["h2".to_string()], 2));
        let (hosts, _) = s
            .host_list(
                &InfraFilter {
                    zone_id: Some(z2.id),
                    ..Default::default()
                },
                Page::all(),
            )
            .await
            .unwrap();
        assert_eq!(names(&hosts, |h| &h.name), ["h3"]);
        let (hosts, _) = s
            .host_list(
                &InfraFilter {
                    uuid: Some(h2.uuid.clone()),
                    ..Default::default()
                },
                Page::all(),
            )
            .await
            .unwrap();
        assert_eq!(names(&hosts, |h| &h.name), ["h2"]);
        let (hosts, n) = s
            .host_list(
                &InfraFilter {
                    keyword: Some("H".into()),
                    ..Default::default()
                },
                Page::count_only(),
            )
            .await
            .unwrap();
        assert_eq!((hosts.len(), n), (0, 3), "count only: no rows, the total");

        // Updates are read back at once.
        let mut z = z1.clone();
        z.name = "east-1".into();
        z.dns2 = Some("1.1.1.1".into());
        s.zone_update(&z).await.unwrap();
        assert_eq!(s.zone_by_uuid(&z1.uuid).await.unwrap().unwrap(), z);
        let mut c = c1.clone();
        c.name = "c1-renamed".into();
        c.allocation_state = AllocationState::Disabled;
        c.arch = "aarch64".into();
        s.cluster_update(&c).await.unwrap();
        assert_eq!(s.cluster_get(c1.id).await.unwrap().unwrap(), c);
        assert_eq!(s.cluster_by_uuid(&c1.uuid).await.unwrap().unwrap(), c);
        let mut h = h1.clone();
        h.name = "h1-renamed".into();
        h.status = HostStatus::Disconnected;
        h.resource_state = ResourceState::Maintenance;
        h.host_tags = None;
        s.host_update(&h).await.unwrap();
        assert_eq!(s.host_get(h1.id).await.unwrap().unwrap(), h);
        assert_eq!(s.host_by_uuid(&h1.uuid).await.unwrap().unwrap(), h);

        // Hosts of the clusters mapped to an extension.
        let e = s
            .extension_create(
                &NewExtension {
                    uuid: uuid(),
                    name: "infra-ext".into(),
                    description: None,
                    ext_type: "Orchestrator".into(),
                    relative_path: "infra-ext/infra-ext.sh".into(),
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
        assert!(s.host_list_for_extension(e.id).await.unwrap().is_empty());
        let m = s
            .resource_map_create(e.id, c1.id, "Cluster", &BTreeMap::new(), 2)
            .await
            .unwrap();
        assert_eq!(
            names(&s.host_list_for_extension(e.id).await.unwrap(), |h| &h.name),
            ["h1-renamed", "h2"]
        );

        // Soft deletes: gone from lookups and lists, at once.
        s.host_delete(h2.id, 9).await.unwrap();
        assert!(s.host_get(h2.id).await.unwrap().is_none());
        assert!(s.host_by_uuid(&h2.uuid).await.unwrap().is_none());
        assert_eq!(
            names(&s.host_list_for_extension(e.id).await.unwrap(), |h| &h.name),
            ["h1-renamed"]
        );
        s.resource_map_delete(m.id, 10).await.unwrap();
        assert!(s.host_list_for_extension(e.id).await.unwrap().is_empty());
        s.cluster_delete(c2.id, 9).await.unwrap();
        assert!(s.cluster_get(c2.id).await.unwrap().is_none());
        assert!(s.cluster_by_uuid(&c2.uuid).await.unwrap().is_none());
        s.pod_delete(p2.id, 9).await.unwrap();
        assert!(s.pod_get(p2.id).await.unwrap().is_none());
        assert!(s.pod_by_uuid(&p2.uuid).await.unwrap().is_none());
        s.zone_delete(z2.id, 9).await.unwrap();
        assert_eq!(s.zone_list(&all, Page::all()).await.unwrap().1, 1);
        assert_eq!(s.pod_list(&all, Page::all()).await.unwrap().1, 1);
        assert_eq!(s.cluster_list(&all, Page::all()).await.unwrap().1, 1);
        assert_eq!(s.host_list(&all, Page::all()).await.unwrap().1, 2);

        // Uuids are unique.
        let mut dup = pod("dup", z1.id);
        dup.uuid = p1.uuid.clone();
        let err = s.pod_create(&dup).await.unwrap_err();
        assert!(err.is_unique_violation(), "{err}");
    })
    .await;
}

#[tokio::test]
async fn service_offerings() {
    each_backend(|s| async move {
        let small = s.offering_create(&offering("small")).await.unwrap();
        let mut big = offering("big_one");
        big.host_tags = Some("gpu".into());
        let big = s.offering_create(&big).await.unwrap();
        assert_eq!((big.memory, big.host_tags.as_deref()), (2048, Some("gpu")));
        for _ in 0..2 {
            assert_eq!(
                s.offering_get(small.id).await.unwrap().as_ref(),
                Some(&small)
            );
            assert_eq!(
                s.offering_by_uuid(&big.uuid).await.unwrap().as_ref(),
                Some(&big)
            );
        }
        let list = |uuid: Option<&str>, name: Option<&str>, kw: Option<&str>, page: Page| {
            let s = s.clone();
            let (uuid, name, kw) = (
                uuid.map(str::to_string),
                name.map(str::to_string),
                kw.map(str::to_string),
            );
            async move {
                let (items, total) = s
                    .offering_list(uuid.as_deref(), name.as_deref(), kw.as_deref(), page)
                    .await
                    .unwrap();
                (names(&items, |o| &o.name), total)
            }
        };
        assert_eq!(
            list(None, None, None, Page::all()).await,
            (vec!["small".into(), "big_one".into()], 2)
        );
        assert_eq!(
            list(Some(&big.uuid), None, None, Page::all()).await.0,
            ["big_one"]
        );
        assert_eq!(
            list(None, Some("small"), None, Page::all()).await.0,
            ["small"]
        );
        assert_eq!(
            list(None, None, Some("G_O"), Page::all()).await.0,
            ["big_one"]
        );
        assert!(list(None, None, Some("%"), Page::all()).await.0.is_empty());
        assert_eq!(
            list(
                None,
                None,
                None,
                Page {
                    offset: 1,
                    limit: Some(5)
                }
            )
            .await,
            (vec!["big_one".into()], 2)
        );
        // Updates are read back at once, through both lookups.
        let mut changed = small.clone();
        changed.name = "small-2".into();
        changed.display_text = "Small, second edition".into();
        changed.host_tags = Some("ssd".into());
        s.offering_update(&changed).await.unwrap();
        assert_eq!(s.offering_get(small.id).await.unwrap().unwrap(), changed);
        assert_eq!(
            s.offering_by_uuid(&small.uuid).await.unwrap().unwrap(),
            changed
        );
        // A deleted offering: gone from uuid lookups and lists, kept (Inactive) by id for the
        // instances that use it.
        s.offering_delete(small.id, 7).await.unwrap();
        assert!(s.offering_by_uuid(&small.uuid).await.unwrap().is_none());
        let kept = s.offering_get(small.id).await.unwrap().expect("kept by id");
        assert_eq!(kept.state, "Inactive");
        assert_eq!(
            list(None, None, None, Page::all()).await,
            (vec!["big_one".into()], 1)
        );
        let mut dup = offering("dup");
        dup.uuid = big.uuid.clone();
        assert!(s
            .offering_create(&dup)
            .await
            .unwrap_err()
            .is_unique_violation());
    })
    .await;
}

#[tokio::test]
async fn templates_lookups_filters_and_soft_delete() {
    each_backend(|s| async move {
        let e = s
            .extension_create(
                &NewExtension {
                    uuid: uuid(),
                    name: "tmpl-ext".into(),
                    description: None,
                    ext_type: "Orchestrator".into(),
                    relative_path: "tmpl-ext/tmpl-ext.sh".into(),
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
        let bound = s
            .template_create(&template("Bound_One", Some(e.id), 1))
            .await
            .unwrap();
        let mut zoned = template("zoned", Some(e.id), 1);
        zoned.zone_id = Some(3);
        zoned.is_featured = true;
        let zoned = s.template_create(&zoned).await.unwrap();
        let free = s.template_create(&template("free", None, 2)).await.unwrap();
        assert_eq!((zoned.zone_id, zoned.is_featured), (Some(3), true));
        for _ in 0..2 {
            assert_eq!(
                s.template_get(bound.id).await.unwrap().as_ref(),
                Some(&bound)
            );
            assert_eq!(
                s.template_by_uuid(&free.uuid).await.unwrap().as_ref(),
                Some(&free)
            );
        }
        assert_eq!(s.template_count_for_extension(e.id).await.unwrap(), 2);
        assert_eq!(s.template_count_for_extension(e.id + 1).await.unwrap(), 0);
        let list = |f: TemplateFilter<'static>| {
            let s = s.clone();
            async move {
                let (items, total) = s
                    .template_list(&f, TemplateVisibility::All, Page::all())
                    .await
                    .unwrap();
                assert_eq!(total, items.len() as i64);
                names(&items, |t| &t.name)
            }
        };
        let ext = e.id;
        assert_eq!(
            list(TemplateFilter {
                extension_id: Some(ext),
                ..Default::default()
            })
            .await,
            ["Bound_One", "zoned"]
        );
        assert_eq!(
            list(TemplateFilter {
                keyword: Some("D_O"),
                ..Default::default()
            })
            .await,
            ["Bound_One"],
            "keywords are case-insensitive, `_` literal"
        );
        let free_uuid: &'static str = Box::leak(free.uuid.clone().into_boxed_str());
        assert_eq!(
            list(TemplateFilter {
                uuid: Some(free_uuid),
                ..Default::default()
            })
            .await,
            ["free"]
        );
        assert_eq!(
            list(TemplateFilter {
                zone_id: Some(4),
                ..Default::default()
            })
            .await,
            ["Bound_One", "free"],
            "another zone's template is not listed"
        );
        // A deleted template: gone from uuid lookups, lists and counts, kept by id for the
        // instances made from it.
        s.template_delete(bound.id, 8).await.unwrap();
        assert!(s.template_by_uuid(&bound.uuid).await.unwrap().is_none());
        assert_eq!(
            s.template_get(bound.id).await.unwrap().map(|t| t.name),
            Some("Bound_One".to_string())
        );
        assert_eq!(s.template_count_for_extension(e.id).await.unwrap(), 1);
        assert_eq!(list(TemplateFilter::default()).await, ["zoned", "free"]);
        let mut dup = template("dup", None, 1);
        dup.uuid = free.uuid.clone();
        assert!(s
            .template_create(&dup)
            .await
            .unwrap_err()
            .is_unique_violation());
    })
    .await;
}

#[tokio::test]
async fn network_offerings_and_networks() {
    each_backend(|s| async move {
        let iso = s
            .network_offering_create(&network_offering("isolated"))
            .await
            .unwrap();
        let mut shared = network_offering("shared");
        shared.guest_ip_type = "Shared".into();
        shared.specify_vlan = false;
        shared.is_default = true;
        let shared = s.network_offering_create(&shared).await.unwrap();
        assert_eq!((shared.specify_vlan, shared.is_default), (false, true));
        for _ in 0..2 {
            assert_eq!(
                s.network_offering_get(iso.id).await.unwrap().as_ref(),
                Some(&iso)
            );
            assert_eq!(
                s.network_offering_by_uuid(&shared.uuid)
                    .await
                    .unwrap()
                    .as_ref(),
                Some(&shared)
            );
        }
        assert_eq!(
            s.network_offering_list().await.unwrap(),
            [iso.clone(), shared.clone()]
        );
        assert!(s.network_offering_by_uuid(&uuid()).await.unwrap().is_none());

        let z1 = s.zone_create(&zone("n1")).await.unwrap();
        let z2 = s.zone_create(&zone("n2")).await.unwrap();
        let a = s
            .network_create(&network("alpha", z1.id, iso.id, 5))
            .await
            .unwrap();
        let mut guest = network("guest_net", z2.id, shared.id, 1);
        guest.guest_type = "Shared".into();
        let guest = s.network_create(&guest).await.unwrap();
        let b = s
            .network_create(&network("beta", z2.id, iso.id, 6))
            .await
            .unwrap();
        assert_eq!(a.broadcast_uri.as_deref(), Some("vlan://100"));
        assert_eq!(
            (guest.guest_type.as_str(), guest.network_offering_id),
            ("Shared", shared.id)
        );
        for _ in 0..2 {
            assert_eq!(s.network_get(a.id).await.unwrap().as_ref(), Some(&a));
            assert_eq!(s.network_by_uuid(&b.uuid).await.unwrap().as_ref(), Some(&b));
        }
        let list = |uuid: Option<String>,
                    zone: Option<i64>,
                    account: Option<i64>,
                    kw: Option<&'static str>,
                    page: Page| {
            let s = s.clone();
            async move {
                let (items, total) = s
                    .network_list(uuid.as_deref(), zone, account, kw, page)
                    .await
                    .unwrap();
                (names(&items, |n| &n.name), total)
            }
        };
        assert_eq!(list(None, None, None, None, Page::all()).await.1, 3);
        assert_eq!(
            list(Some(b.uuid.clone()), None, None, None, Page::all())
                .await
                .0,
            ["beta"]
        );
        assert_eq!(
            list(None, Some(z2.id), None, None, Page::all()).await.0,
            ["guest_net", "beta"]
        );
        assert_eq!(
            list(None, None, Some(5), None, Page::all()).await.0,
            ["alpha", "guest_net"],
            "an account sees its networks and shared ones"
        );
        assert_eq!(
            list(None, None, None, Some("T_N"), Page::all()).await.0,
            ["guest_net"]
        );
        assert_eq!(
            list(
                None,
                None,
                None,
                None,
                Page {
                    offset: 0,
                    limit: Some(2)
                }
            )
            .await,
            (vec!["alpha".into(), "guest_net".into()], 3)
        );
        // A deleted network: gone from uuid lookups and lists; kept by id and in network_all for
        // views of old NICs.
        s.network_delete(a.id, 9).await.unwrap();
        assert!(s.network_by_uuid(&a.uuid).await.unwrap().is_none());
        let kept = s.network_get(a.id).await.unwrap().expect("kept by id");
        assert_eq!(kept.state, "Destroy");
        assert_eq!(list(None, None, None, None, Page::all()).await.1, 2);
        let every = s.network_all().await.unwrap();
        assert_eq!(
            names(&every, |n| &n.name),
            ["alpha", "guest_net", "beta"],
            "network_all includes removed networks"
        );
        let mut dup = network("dup", z1.id, iso.id, 5);
        dup.uuid = b.uuid.clone();
        assert!(s
            .network_create(&dup)
            .await
            .unwrap_err()
            .is_unique_violation());
    })
    .await;
}

/// Reads through the catalog cache follow every catalog write, for each cached kind.
#[tokio::test]
async fn catalog_cache_follows_every_catalog_write() {
    each_backend(|s: Store| async move {
        let z = s.zone_create(&zone("cz")).await.unwrap();
        let p = s.pod_create(&pod("cp", z.id)).await.unwrap();
        let c = s.cluster_create(&cluster("cc", z.id, p.id)).await.unwrap();
        let h = s.host_create(&host("ch", &c)).await.unwrap();
        let o = s.offering_create(&offering("co")).await.unwrap();
        let t = s.template_create(&template("ct", None, 1)).await.unwrap();
        let no = s
            .network_offering_create(&network_offering("cno"))
            .await
            .unwrap();
        let n = s
            .network_create(&network("cn", z.id, no.id, 1))
            .await
            .unwrap();
        let stats_before = s.cache_stats();
        // Warm every cached lookup.
        for _ in 0..2 {
            assert!(s.zone_get(z.id).await.unwrap().is_some());
            assert!(s.pod_get(p.id).await.unwrap().is_some());
            assert!(s.cluster_get(c.id).await.unwrap().is_some());
            assert!(s.host_get(h.id).await.unwrap().is_some());
            assert!(s.offering_by_uuid(&o.uuid).await.unwrap().is_some());
            assert!(s.template_by_uuid(&t.uuid).await.unwrap().is_some());
            assert!(s.network_offering_get(no.id).await.unwrap().is_some());
            assert!(s.network_by_uuid(&n.uuid).await.unwrap().is_some());
        }
        if s.backend() == trellis_store::Backend::Sqlite {
            assert!(
                s.cache_stats().hits >= stats_before.hits + 8,
                "served from the cache"
            );
        } else {
            assert_eq!(s.cache_stats().hits, 0, "no cache on PostgreSQL");
        }
        // Each write is seen by the next read.
        s.pod_delete(p.id, 1).await.unwrap();
        assert!(s.pod_get(p.id).await.unwrap().is_none());
        s.host_delete(h.id, 1).await.unwrap();
        assert!(s.host_get(h.id).await.unwrap().is_none());
        s.cluster_delete(c.id, 1).await.unwrap();
        assert!(s.cluster_get(c.id).await.unwrap().is_none());
        s.offering_delete(o.id, 1).await.unwrap();
        assert!(s.offering_by_uuid(&o.uuid).await.unwrap().is_none());
        s.template_delete(t.id, 1).await.unwrap();
        assert!(s.template_by_uuid(&t.uuid).await.unwrap().is_none());
        s.network_delete(n.id, 1).await.unwrap();
        assert!(s.network_by_uuid(&n.uuid).await.unwrap().is_none());
        let no2 = s
            .network_offering_create(&network_offering("cno2"))
            .await
            .unwrap();
        assert_eq!(s.network_offering_get(no2.id).await.unwrap(), Some(no2));
        s.zone_delete(z.id, 1).await.unwrap();
        assert!(s.zone_by_uuid(&z.uuid).await.unwrap().is_none());
    })
    .await;
}

/// The text of an error and every cause under it.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(&format!(": {c}"));
        cause = c.source();
    }
    text
}

/// A state the model does not know, written behind the store's back, is a decode error on read:
/// never a string that slips through (SQLite only: the statements go around the store).
#[tokio::test]
async fn unknown_states_in_the_database_are_decode_errors() {
    let (s, dir) = common::sqlite().await;
    let z = s.zone_create(&zone("odd")).await.unwrap();
    let p = s.pod_create(&pod("p", z.id)).await.unwrap();
    let c = s.cluster_create(&cluster("c", z.id, p.id)).await.unwrap();
    s.host_create(&host("h", &c)).await.unwrap();
    let d = s
        .domain_create(&uuid(), "ROOT", "/", None, 1)
        .await
        .unwrap();
    let r = s
        .role_create(
            &uuid(),
            "User",
            trellis_model::RoleType::User,
            "users",
            false,
        )
        .await
        .unwrap();
    let a = s
        .account_create(&uuid(), "alice", d.id, r.id, 2)
        .await
        .unwrap();
    let new_user = trellis_store::NewUser {
        uuid: uuid(),
        account_id: a.id,
        username: "alice".into(),
        password_hash: "h".into(),
        firstname: "Alice".into(),
        lastname: "A".into(),
        email: None,
    };
    s.user_create(&new_user, 3).await.unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&url)
        .await
        .unwrap();
    let all = Page::all();
    let infra = InfraFilter::default();
    let people = trellis_store::IdentityFilter::default();
    for (table, column, value) in [
        ("zones", "allocation_state", "enabled"),
        ("pods", "allocation_state", "Enable"),
        ("clusters", "allocation_state", "Sideways"),
        ("hosts", "status", "up"),
        ("hosts", "resource_state", "Maintained"),
        ("accounts", "state", "Enabled"),
        ("users", "state", "active"),
    ] {
        let set = |v: &str| format!("UPDATE {table} SET {column} = '{v}'");
        let before: String = sqlx::query_scalar(&format!("SELECT {column} FROM {table}"))
            .fetch_one(&mut conn)
            .await
            .unwrap();
        sqlx::query(&set(value)).execute(&mut conn).await.unwrap();
        let failed = match table {
            "zones" => s.zone_list(&infra, all).await.err(),
            "pods" => s.pod_list(&infra, all).await.err(),
            "clusters" => s.cluster_list(&infra, all).await.err(),
            "hosts" => s.host_list(&infra, all).await.err(),
            "accounts" => s.account_list(&people, all).await.err(),
            _ => s.user_list(&people, all).await.err(),
        };
        let text = chain(&failed.unwrap_or_else(|| panic!("{table}.{column} = {value} read")));
        assert!(
            text.contains(&format!("unknown {column} \"{value}\"")),
            "{text}"
        );
        sqlx::query(&set(&before)).execute(&mut conn).await.unwrap();
    }
    assert_eq!(s.host_list(&infra, all).await.unwrap().0.len(), 1);
}
