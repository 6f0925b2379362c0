//! Store conformance, disk offerings: create, lookup, the listing filters (zone: its own and
//! every-zone offerings), soft delete. Every test runs on SQLite and, when
//! `TRELLIS_TEST_POSTGRES_URL` is set, on PostgreSQL.

mod common;

use common::{each_backend, uuid};
use trellis_model::entity::DiskOffering;
use trellis_store::{DiskOfferingFilter, Page};

fn offering(name: &str, size: i64, zone_id: Option<i64>) -> DiskOffering {
    DiskOffering {
        id: 0,
        uuid: uuid(),
        name: name.into(),
        display_text: format!("{name} disk"),
        disk_size: size,
        customized: size == 0,
        storage_type: "shared".into(),
        provisioning_type: "thin".into(),
        zone_id,
        created: 3,
        removed: None,
    }
}

#[tokio::test]
async fn disk_offerings_are_created_listed_and_removed() {
    each_backend(|s| async move {
        let small = s
            .disk_offering_create(&offering("small", 20, None))
            .await
            .unwrap();
        let custom = s
            .disk_offering_create(&offering("custom", 0, Some(7)))
            .await
            .unwrap();
        let other = s
            .disk_offering_create(&offering("other", 50, Some(8)))
            .await
            .unwrap();
        assert!(small.id > 0 && !small.customized && custom.customized);
        assert_eq!(custom.zone_id, Some(7));
        assert_eq!(
            s.disk_offering_by_uuid(&small.uuid).await.unwrap(),
            Some(small.clone())
        );
        assert_eq!(s.disk_offering_by_uuid("nope").await.unwrap(), None);
        let names = |f: DiskOfferingFilter| {
            let s = s.clone();
            async move {
                let (items, total) = s.disk_offering_list(&f, Page::all()).await.unwrap();
                assert_eq!(items.len() as i64, total);
                items.into_iter().map(|o| o.name).collect::<Vec<_>>()
            }
        };
        assert_eq!(
            names(DiskOfferingFilter::default()).await,
            ["small", "custom", "other"]
        );
        let in_zone = DiskOfferingFilter {
            zone_id: Some(7),
            ..Default::default()
        };
        assert_eq!(names(in_zone).await, ["small", "custom"]);
        let by_name = DiskOfferingFilter {
            name: Some("other".into()),
            ..Default::default()
        };
        assert_eq!(names(by_name).await, ["other"]);
        let kw = DiskOfferingFilter {
            keyword: Some("CUSTOM D".into()),
            ..Default::default()
        };
        assert_eq!(names(kw).await, ["custom"]);
        assert!(s.disk_offering_delete(other.id, 9).await.unwrap());
        assert!(!s.disk_offering_delete(other.id, 9).await.unwrap());
        assert_eq!(s.disk_offering_by_uuid(&other.uuid).await.unwrap(), None);
        assert_eq!(
            names(DiskOfferingFilter::default()).await,
            ["small", "custom"]
        );
    })
    .await;
}
