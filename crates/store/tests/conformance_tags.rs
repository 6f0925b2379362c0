//! Store conformance, resource tags: all-or-nothing writes, one key per resource, `listTags`
//! filters and totals, and the `tags[i]` condition of instance and template listings. Every test
//! runs on SQLite and, when `TRELLIS_TEST_POSTGRES_URL` is set, on PostgreSQL.

mod common;

use common::{each_backend, instance, offering, template, uuid, zone};
use trellis_model::entity::{Instance, ResourceTag, Template};
use trellis_store::{InstanceFilter, Page, TagFilter, TemplateFilter, TemplateVisibility};

fn tag(resource_type: &str, id: i64, resource_uuid: &str, key: &str, value: &str) -> ResourceTag {
    ResourceTag {
        id: 0,
        uuid: uuid(),
        key: key.into(),
        value: value.into(),
        resource_type: resource_type.into(),
        resource_id: id,
        resource_uuid: resource_uuid.into(),
        account_id: Some(2),
        domain_id: Some(1),
        customer: None,
        created: 5,
    }
}

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[tokio::test]
async fn tags_are_written_all_or_nothing_and_listed() {
    each_backend(|s| async move {
        let a = tag("UserVm", 10, "vm-a", "env", "prod");
        let b = tag("UserVm", 10, "vm-a", "team", "web");
        let c = tag("Template", 10, "tpl", "env", "prod");
        let made = s
            .tag_create_all(&[a.clone(), b.clone(), c.clone()])
            .await
            .unwrap();
        assert_eq!(made.len(), 3);
        assert_eq!(
            made[0],
            ResourceTag {
                id: made[0].id,
                ..a.clone()
            }
        );
        // A second `env` on the same resource fails the whole set: `other` is not written.
        let other = tag("UserVm", 11, "vm-b", "env", "dev");
        let err = s
            .tag_create_all(&[other.clone(), tag("UserVm", 10, "vm-a", "env", "x")])
            .await
            .unwrap_err();
        assert!(err.is_unique_violation(), "{err}");
        let (_, total) = s
            .tag_list(&TagFilter::default(), Page::all())
            .await
            .unwrap();
        assert_eq!(total, 3);

        // Filters are exact; the total is before paging.
        let by = |f: TagFilter| {
            let s = s.clone();
            async move {
                let (items, total) = s
                    .tag_list(
                        &f,
                        Page {
                            offset: 0,
                            limit: Some(1),
                        },
                    )
                    .await
                    .unwrap();
                (items.into_iter().map(|t| t.key).collect::<Vec<_>>(), total)
            }
        };
        let vm_tags = by(TagFilter {
            resource_type: Some("UserVm".into()),
            resource_uuid: Some("vm-a".into()),
            ..Default::default()
        })
        .await;
        assert_eq!(vm_tags, (vec!["env".to_string()], 2));
        assert_eq!(
            by(TagFilter {
                key: Some("env".into()),
                value: Some("prod".into()),
                ..Default::default()
            })
            .await
            .1,
            2
        );
        assert_eq!(
            by(TagFilter {
                key: Some("ENV".into()),
                ..Default::default()
            })
            .await
            .1,
            0
        );
        assert_eq!(
            by(TagFilter {
                account_id: Some(99),
                ..Default::default()
            })
            .await
            .1,
            0
        );
        assert_eq!(
            by(TagFilter {
                keyword: Some("WE".into()),
                ..Default::default()
            })
            .await
            .0,
            ["team"]
        );

        // tags_of: per type, ordered by resource then key.
        let of = s.tags_of("UserVm", &[10, 11]).await.unwrap();
        assert_eq!(
            of.iter().map(|t| t.key.as_str()).collect::<Vec<_>>(),
            ["env", "team"]
        );
        assert!(s.tags_of("UserVm", &[]).await.unwrap().is_empty());

        // Deletes: by id, all or nothing; with the resource.
        s.tag_delete_all(&[made[1].id]).await.unwrap();
        assert_eq!(s.tags_of("UserVm", &[10]).await.unwrap().len(), 1);
        s.tag_delete_for_resource("UserVm", 10).await.unwrap();
        assert!(s.tags_of("UserVm", &[10]).await.unwrap().is_empty());
        assert_eq!(s.tags_of("Template", &[10]).await.unwrap().len(), 1);
    })
    .await;
}

#[tokio::test]
async fn list_commands_filter_by_every_tag_pair_before_paging() {
    each_backend(|s| async move {
        let z = s.zone_create(&zone("z")).await.unwrap();
        let o = s.offering_create(&offering("o")).await.unwrap();
        let t: Template = s.template_create(&template("t", None, 2)).await.unwrap();
        let mut vms = Vec::new();
        for name in ["a", "b", "c"] {
            vms.push(
                s.instance_create(
                    &Instance {
                        service_offering_id: o.id,
                        ..instance(name, 2, z.id, t.id)
                    },
                    &[],
                    &Default::default(),
                    None,
                )
                .await
                .unwrap(),
            );
        }
        s.tag_create_all(&[
            tag("UserVm", vms[0].id, &vms[0].uuid, "env", "prod"),
            tag("UserVm", vms[0].id, &vms[0].uuid, "team", "web"),
            tag("UserVm", vms[1].id, &vms[1].uuid, "env", "prod"),
            tag("UserVm", vms[2].id, &vms[2].uuid, "env", "dev"),
            // Same id, other type: never matches an instance.
            tag("Template", vms[2].id, &t.uuid, "team", "web"),
        ])
        .await
        .unwrap();
        let names = |tags: Vec<(String, String)>| {
            let s = s.clone();
            async move {
                let (items, total) = s
                    .instance_list(
                        &InstanceFilter {
                            tags,
                            ..Default::default()
                        },
                        Page {
                            offset: 0,
                            limit: Some(10),
                        },
                    )
                    .await
                    .unwrap();
                assert_eq!(items.len() as i64, total);
                items.into_iter().map(|i| i.name).collect::<Vec<_>>()
            }
        };
        assert_eq!(names(pairs(&[("env", "prod")])).await, ["a", "b"]);
        assert_eq!(
            names(pairs(&[("env", "prod"), ("team", "web")])).await,
            ["a"],
            "every pair must match"
        );
        assert_eq!(
            names(pairs(&[("team", "")])).await,
            ["a"],
            "a key without a value matches any value"
        );
        assert!(names(pairs(&[("env", "PROD")])).await.is_empty());
        assert_eq!(names(vec![]).await, ["a", "b", "c"]);

        // Templates take the same condition.
        s.tag_create_all(&[tag("Template", t.id, &t.uuid, "os", "linux")])
            .await
            .unwrap();
        let (items, total) = s
            .template_list(
                &TemplateFilter {
                    tags: &pairs(&[("os", "linux")]),
                    ..Default::default()
                },
                TemplateVisibility::All,
                Page::all(),
            )
            .await
            .unwrap();
        assert_eq!((items.len(), total), (1, 1));
        let (_, none) = s
            .template_list(
                &TemplateFilter {
                    tags: &pairs(&[("os", "bsd")]),
                    ..Default::default()
                },
                TemplateVisibility::All,
                Page::all(),
            )
            .await
            .unwrap();
        assert_eq!(none, 0);
    })
    .await;
}

#[tokio::test]
async fn template_update_writes_the_editable_attributes() {
    each_backend(|s| async move {
        let t = s.template_create(&template("old", None, 2)).await.unwrap();
        let want = Template {
            name: "new".into(),
            display_text: "New".into(),
            format: "QCOW2".into(),
            os_type: "Ubuntu 24.04 LTS".into(),
            arch: "aarch64".into(),
            is_featured: true,
            ..t.clone()
        };
        let got = s.template_update(&want).await.unwrap();
        assert_eq!(got, want);
        // Read back through the (cached) lookup: the write is seen at once.
        assert_eq!(s.template_get(t.id).await.unwrap(), Some(want));
        // A deleted template is not updated.
        s.template_delete(t.id, 9).await.unwrap();
        assert!(s.template_update(&got).await.is_err());
    })
    .await;
}
