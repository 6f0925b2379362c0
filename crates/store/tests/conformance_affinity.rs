//! Store conformance, affinity groups: create with the per-account name rule, lookups, the
//! listing filters and owner scopes, membership set with the instance in one transaction, the
//! members placement reads (host or last host, destroyed ones left out), removal at expunge,
//! and deletes. Every test runs on SQLite and, when `TRELLIS_TEST_POSTGRES_URL` is set, on
//! PostgreSQL.

mod common;

use common::{each_backend, instance, offering, template, uuid, zone};
use trellis_model::affinity::AffinityType;
use trellis_model::entity::{AffinityGroup, Instance};
use trellis_model::instance::VmState;
use trellis_model::RoleType;
use trellis_store::{AffinityGroupFilter, AffinityMember, Page, Store};

fn group(name: &str, t: AffinityType, account_id: i64, domain_id: i64) -> AffinityGroup {
    AffinityGroup {
        id: 0,
        uuid: uuid(),
        name: name.into(),
        description: Some(format!("{name} rule")),
        group_type: t,
        account_id,
        domain_id,
        created: 7,
    }
}

async fn names(s: &Store, f: AffinityGroupFilter) -> (Vec<String>, i64) {
    let (items, total) = s.affinity_group_list(&f, Page::all()).await.unwrap();
    (items.into_iter().map(|g| g.name).collect(), total)
}

#[tokio::test]
async fn affinity_groups_are_created_found_listed_and_deleted() {
    each_backend(|s| async move {
        let root = s
            .domain_create(&uuid(), "ROOT", "/", None, 1)
            .await
            .unwrap();
        let eng = s
            .domain_create(&uuid(), "eng", "/eng/", Some(root.id), 1)
            .await
            .unwrap();
        let role = s
            .role_create(&uuid(), "User", RoleType::User, "users", true)
            .await
            .unwrap();
        let alice = s
            .account_create(&uuid(), "alice", root.id, role.id, 1)
            .await
            .unwrap();
        let bob = s
            .account_create(&uuid(), "bob", eng.id, role.id, 1)
            .await
            .unwrap();

        let apart = s
            .affinity_group_create(&group(
                "apart",
                AffinityType::HostAntiAffinity,
                alice.id,
                root.id,
            ))
            .await
            .unwrap();
        assert!(apart.id > 0);
        assert_eq!(apart.group_type, AffinityType::HostAntiAffinity);
        assert_eq!(apart.description.as_deref(), Some("apart rule"));
        // Names are unique per account, not globally.
        let dup = s
            .affinity_group_create(&group(
                "apart",
                AffinityType::HostAffinity,
                alice.id,
                root.id,
            ))
            .await
            .unwrap_err();
        assert!(dup.is_unique_violation(), "{dup}");
        let together = s
            .affinity_group_create(&group(
                "apart",
                AffinityType::NonStrictHostAffinity,
                bob.id,
                eng.id,
            ))
            .await
            .unwrap();

        assert_eq!(
            s.affinity_group_by_uuid(&apart.uuid).await.unwrap(),
            Some(apart.clone())
        );
        assert_eq!(s.affinity_group_by_uuid("nope").await.unwrap(), None);
        assert_eq!(
            s.affinity_group_by_name(bob.id, "apart").await.unwrap(),
            Some(together.clone())
        );
        assert_eq!(
            s.affinity_group_by_name(bob.id, "APART").await.unwrap(),
            None
        );

        let all = AffinityGroupFilter::default();
        assert_eq!(
            names(&s, all.clone()).await,
            (vec!["apart".into(), "apart".into()], 2)
        );
        let by_type = AffinityGroupFilter {
            group_type: Some(AffinityType::NonStrictHostAffinity),
            ..all.clone()
        };
        assert_eq!(
            s.affinity_group_list(&by_type, Page::all())
                .await
                .unwrap()
                .0,
            vec![together.clone()]
        );
        let under_eng = AffinityGroupFilter {
            domain_path: Some("/eng/".into()),
            ..all.clone()
        };
        assert_eq!(names(&s, under_eng).await.1, 1);
        let of_alice = AffinityGroupFilter {
            account_id: Some(alice.id),
            keyword: Some("RULE".into()),
            ..all.clone()
        };
        assert_eq!(
            s.affinity_group_list(&of_alice, Page::all())
                .await
                .unwrap()
                .0,
            vec![apart.clone()]
        );
        let page = s
            .affinity_group_list(
                &all,
                Page {
                    offset: 1,
                    limit: Some(1),
                },
            )
            .await
            .unwrap();
        assert_eq!((page.0, page.1), (vec![together.clone()], 2));

        assert!(s.affinity_group_delete(together.id).await.unwrap());
        assert!(!s.affinity_group_delete(together.id).await.unwrap());
        s.affinity_group_create(&group(
            "other",
            AffinityType::HostAffinity,
            alice.id,
            root.id,
        ))
        .await
        .unwrap();
        assert_eq!(
            s.affinity_group_delete_for_account(alice.id).await.unwrap(),
            2
        );
        assert_eq!(names(&s, all).await.1, 0);
    })
    .await;
}

async fn vm(s: &Store, name: &str, groups: &[i64], host: Option<i64>) -> Instance {
    let z = s.zone_create(&zone(&format!("z-{name}"))).await.unwrap();
    let o = s
        .offering_create(&offering(&format!("o-{name}")))
        .await
        .unwrap();
    let t = s
        .template_create(&template(&format!("t-{name}"), None, 2))
        .await
        .unwrap();
    s.instance_create_grouped(
        &Instance {
            service_offering_id: o.id,
            host_id: host,
            last_host_id: host,
            ..instance(name, 2, z.id, t.id)
        },
        &[],
        &Default::default(),
        groups,
        None,
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn membership_follows_the_instance_and_feeds_placement() {
    each_backend(|s| async move {
        let g1 = s
            .affinity_group_create(&group("g1", AffinityType::HostAntiAffinity, 2, 1))
            .await
            .unwrap();
        let g2 = s
            .affinity_group_create(&group("g2", AffinityType::HostAffinity, 2, 1))
            .await
            .unwrap();
        let a = vm(&s, "a", &[g1.id, g2.id], Some(100)).await;
        let b = vm(&s, "b", &[g1.id], None).await;
        let c = vm(&s, "c", &[g1.id], Some(300)).await;
        let lonely = vm(&s, "lonely", &[], Some(100)).await;

        assert_eq!(
            s.affinity_groups_of(a.id).await.unwrap(),
            [g1.clone(), g2.clone()]
        );
        assert!(s.affinity_groups_of(lonely.id).await.unwrap().is_empty());
        let pairs = s
            .affinity_groups_for(&[a.id, b.id, lonely.id])
            .await
            .unwrap();
        let pairs: Vec<(i64, i64)> = pairs.into_iter().map(|(i, g)| (i, g.id)).collect();
        assert_eq!(pairs, [(a.id, g1.id), (a.id, g2.id), (b.id, g1.id)]);
        assert!(s.affinity_groups_for(&[]).await.unwrap().is_empty());
        let by_vm = AffinityGroupFilter {
            instance_id: Some(b.id),
            ..Default::default()
        };
        assert_eq!(
            s.affinity_group_list(&by_vm, Page::all()).await.unwrap().0,
            vec![g1.clone()]
        );
        assert_eq!(
            s.affinity_group_member_uuids(g1.id).await.unwrap(),
            [a.uuid.clone(), b.uuid.clone(), c.uuid.clone()]
        );

        // Placement of b sees a (host 100) and c (host 300); b itself is left out.
        let members = s.affinity_members(&[g1.id, g2.id], b.id).await.unwrap();
        assert_eq!(
            members,
            [
                AffinityMember {
                    group_id: g1.id,
                    instance_id: a.id,
                    host_id: Some(100)
                },
                AffinityMember {
                    group_id: g1.id,
                    instance_id: c.id,
                    host_id: Some(300)
                },
                AffinityMember {
                    group_id: g2.id,
                    instance_id: a.id,
                    host_id: Some(100)
                },
            ]
        );
        // A stopped instance keeps counting through its last host; a destroyed one does not.
        let c = s
            .instance_update_state(c.id, c.generation, VmState::Stopped, None)
            .await
            .unwrap()
            .unwrap();
        let members = s.affinity_members(&[g1.id], b.id).await.unwrap();
        assert_eq!(members[1].host_id, Some(300));
        s.instance_update_state(c.id, c.generation, VmState::Destroyed, None)
            .await
            .unwrap()
            .unwrap();
        let members = s.affinity_members(&[g1.id], b.id).await.unwrap();
        assert_eq!(
            members.iter().map(|m| m.instance_id).collect::<Vec<_>>(),
            [a.id]
        );
        // A member that never ran has no host.
        let members = s.affinity_members(&[g1.id], a.id).await.unwrap();
        assert_eq!(
            members,
            [AffinityMember {
                group_id: g1.id,
                instance_id: b.id,
                host_id: None
            }]
        );

        // Expunge takes the instance out of its groups (a destroyed one, which can still be
        // recovered, stays); deleting a group keeps its members.
        let a_now = s.instance_get(a.id).await.unwrap().unwrap();
        assert!(s
            .instance_expunge(a.id, a_now.generation, 99)
            .await
            .unwrap());
        assert!(s.affinity_groups_of(a.id).await.unwrap().is_empty());
        assert_eq!(
            s.affinity_group_member_uuids(g1.id).await.unwrap(),
            [b.uuid.clone(), c.uuid.clone()]
        );
        assert!(s.affinity_group_delete(g1.id).await.unwrap());
        assert!(s.affinity_groups_of(b.id).await.unwrap().is_empty());
        assert!(s.instance_get(b.id).await.unwrap().is_some());
    })
    .await;
}
