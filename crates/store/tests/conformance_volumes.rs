//! Store conformance, volumes: the ROOT record made with its instance, its listing conditions
//! (which are the instance's), its removal with the instance, the backfill of instances made
//! before volumes were recorded, and the tombstone of an expunged instance. Every test runs on
//! SQLite and, when `TRELLIS_TEST_POSTGRES_URL` is set, on PostgreSQL.

mod common;

use common::{each_backend, instance, offering, template, zone};
use trellis_model::entity::{Instance, ResourceTag};
use trellis_model::ids::root_volume_uuid;
use trellis_model::instance::VmState;
use trellis_store::{Page, Store, VolumeFilter};

async fn make(s: &Store, name: &str, account: i64) -> Instance {
    let z = s.zone_create(&zone(&format!("z-{name}"))).await.unwrap();
    let o = s
        .offering_create(&offering(&format!("o-{name}")))
        .await
        .unwrap();
    let t = s
        .template_create(&template(&format!("t-{name}"), None, account))
        .await
        .unwrap();
    s.instance_create(
        &Instance {
            service_offering_id: o.id,
            ..instance(name, account, z.id, t.id)
        },
        &[],
        &Default::default(),
        None,
    )
    .await
    .unwrap()
}

async fn listed(s: &Store, f: VolumeFilter) -> Vec<i64> {
    let (items, total) = s.volume_list(&f, Page::all()).await.unwrap();
    assert_eq!(items.len() as i64, total);
    items.into_iter().map(|v| v.instance_id).collect()
}

#[tokio::test]
async fn every_instance_has_a_root_volume_listed_with_its_conditions() {
    each_backend(|s| async move {
        let a = make(&s, "a", 2).await;
        let b = make(&s, "b", 3).await;
        let vols = s.volumes_of(a.id).await.unwrap();
        assert_eq!(vols.len(), 1);
        let root = &vols[0];
        assert_eq!(
            (root.volume_type.as_str(), root.device_id, root.uuid.clone()),
            ("ROOT", 0, root_volume_uuid(&a.uuid))
        );
        assert_eq!(
            s.volume_by_uuid(&root.uuid).await.unwrap().as_ref(),
            Some(root)
        );
        assert_eq!(s.volume_get(root.id).await.unwrap().as_ref(), Some(root));

        let all = VolumeFilter {
            include_destroyed: true,
            ..Default::default()
        };
        assert_eq!(listed(&s, all.clone()).await, [a.id, b.id]);
        assert_eq!(
            listed(
                &s,
                VolumeFilter {
                    account_id: Some(3),
                    ..all.clone()
                }
            )
            .await,
            [b.id]
        );
        assert_eq!(
            listed(
                &s,
                VolumeFilter {
                    instance_uuid: Some(a.uuid.clone()),
                    volume_type: Some("root".into()),
                    ..all.clone()
                }
            )
            .await,
            [a.id]
        );
        assert!(listed(
            &s,
            VolumeFilter {
                volume_type: Some("DATADISK".into()),
                ..all.clone()
            }
        )
        .await
        .is_empty());
        assert_eq!(
            listed(
                &s,
                VolumeFilter {
                    keyword: Some("B DISP".into()),
                    ..all.clone()
                }
            )
            .await,
            [b.id],
            "the keyword matches the instance's names"
        );

        // A Destroyed instance's volume: hidden unless asked for, and then in state Destroy.
        s.instance_update_state(b.id, b.generation, VmState::Destroyed, None)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(listed(&s, VolumeFilter::default()).await, [a.id]);
        assert_eq!(
            listed(
                &s,
                VolumeFilter {
                    destroyed: Some(true),
                    ..all.clone()
                }
            )
            .await,
            [b.id]
        );
        assert!(listed(
            &s,
            VolumeFilter {
                destroyed: Some(true),
                ..Default::default()
            }
        )
        .await
        .is_empty());

        // Tags on volumes filter like any other.
        let vol_b = s.volumes_of(b.id).await.unwrap().remove(0);
        s.tag_create_all(&[ResourceTag {
            id: 0,
            uuid: common::uuid(),
            key: "tier".into(),
            value: "gold".into(),
            resource_type: "Volume".into(),
            resource_id: vol_b.id,
            resource_uuid: vol_b.uuid.clone(),
            account_id: Some(3),
            domain_id: Some(1),
            customer: None,
            created: 1,
        }])
        .await
        .unwrap();
        assert_eq!(
            listed(
                &s,
                VolumeFilter {
                    tags: vec![("tier".into(), "gold".into())],
                    ..all.clone()
                }
            )
            .await,
            [b.id]
        );

        // Expunge removes the volume; the instance row stays as the tombstone.
        let b = s.instance_get(b.id).await.unwrap().unwrap();
        assert!(s.instance_expunge(b.id, b.generation, 50).await.unwrap());
        assert!(s.volumes_of(b.id).await.unwrap().is_empty());
        assert_eq!(listed(&s, all.clone()).await, [a.id]);
        assert!(s.instance_by_uuid(&b.uuid).await.unwrap().is_none());
        let tomb = s.instance_by_uuid_any(&b.uuid).await.unwrap().unwrap();
        assert_eq!((tomb.id, tomb.removed), (b.id, Some(50)));
        assert!(s
            .instance_by_uuid_any(&common::uuid())
            .await
            .unwrap()
            .is_none());
    })
    .await;
}

#[tokio::test]
async fn instances_made_before_volumes_get_theirs_once() {
    each_backend(|s| async move {
        let a = make(&s, "old", 2).await;
        // As if made before the table existed.
        let root = s.volumes_of(a.id).await.unwrap().remove(0);
        s.testing_execute(&format!("DELETE FROM volumes WHERE id = {}", root.id))
            .await;
        assert!(s.volumes_of(a.id).await.unwrap().is_empty());
        assert_eq!(s.volume_backfill_roots().await.unwrap(), 1);
        assert_eq!(s.volume_backfill_roots().await.unwrap(), 0, "idempotent");
        let again = s.volumes_of(a.id).await.unwrap();
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].uuid, root.uuid, "the same identity as before");
    })
    .await;
}
