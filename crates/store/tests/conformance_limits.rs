//! Conformance of resource limits and counts on every backend: limits set and replaced, counts
//! read from the resources of one account or of a domain subtree.

mod common;

use common::{each_backend, instance, offering, template, uuid, zone};
use trellis_model::entity::Instance;
use trellis_model::limits::{LimitOwner, ResourceCounts};
use trellis_model::RoleType;
use trellis_store::CountScope;

#[tokio::test]
async fn limits_are_set_replaced_and_counts_follow_the_resources() {
    each_backend(|s| async move {
        let root = s
            .domain_create(&uuid(), "ROOT", "/", None, 1)
            .await
            .unwrap();
        let eng = s
            .domain_create(&uuid(), "eng", "/eng/", Some(root.id), 1)
            .await
            .unwrap();
        let web = s
            .domain_create(&uuid(), "web", "/eng/web/", Some(eng.id), 1)
            .await
            .unwrap();
        let other = s
            .domain_create(&uuid(), "engx", "/engx/", Some(root.id), 1)
            .await
            .unwrap();
        let role = s
            .role_create(&uuid(), "User", RoleType::User, "", true)
            .await
            .unwrap();
        let a = s
            .account_create(&uuid(), "a", eng.id, role.id, 1)
            .await
            .unwrap();
        let b = s
            .account_create(&uuid(), "b", web.id, role.id, 1)
            .await
            .unwrap();
        let c = s
            .account_create(&uuid(), "c", other.id, role.id, 1)
            .await
            .unwrap();

        assert!(s
            .resource_limits_of(LimitOwner::Account(a.id))
            .await
            .unwrap()
            .is_empty());
        let first = s
            .resource_limit_set(&uuid(), LimitOwner::Account(a.id), 0, 5)
            .await
            .unwrap();
        let again = s
            .resource_limit_set(&uuid(), LimitOwner::Account(a.id), 0, 7)
            .await
            .unwrap();
        assert_eq!(
            (again.uuid.as_str(), again.max),
            (first.uuid.as_str(), 7),
            "a limit is replaced in place"
        );
        s.resource_limit_set(&uuid(), LimitOwner::Domain(a.id), 0, 1)
            .await
            .unwrap();
        let limits = s
            .resource_limits_of(LimitOwner::Account(a.id))
            .await
            .unwrap();
        assert_eq!(
            limits
                .iter()
                .map(|l| (l.resource_type, l.max))
                .collect::<Vec<_>>(),
            [(0, 7)]
        );

        let z = s.zone_create(&zone("z")).await.unwrap();
        let o = s.offering_create(&offering("o")).await.unwrap();
        let t = s.template_create(&template("t", None, a.id)).await.unwrap();
        let mut made = Vec::new();
        for (name, acct, dom) in [
            ("a1", &a, &eng),
            ("a2", &a, &eng),
            ("b1", &b, &web),
            ("c1", &c, &other),
        ] {
            let i = s
                .instance_create(
                    &Instance {
                        service_offering_id: o.id,
                        domain_id: dom.id,
                        ..instance(name, acct.id, z.id, t.id)
                    },
                    &[],
                    &Default::default(),
                    None,
                )
                .await
                .unwrap();
            made.push(i);
        }
        let counts = s.resource_counts(CountScope::Account(a.id)).await.unwrap();
        assert_eq!(
            counts,
            ResourceCounts {
                user_vms: 2,
                cpus: 4,
                memory: 4096,
                volumes: 2,
                templates: 1,
                ..Default::default()
            }
        );
        // The domain counts its subtree (eng and web), not a sibling whose path starts alike.
        let eng_counts = s
            .resource_counts(CountScope::Domain("/eng/"))
            .await
            .unwrap();
        assert_eq!(
            (eng_counts.user_vms, eng_counts.cpus, eng_counts.templates),
            (3, 6, 1)
        );
        let web_counts = s
            .resource_counts(CountScope::Domain("/eng/web/"))
            .await
            .unwrap();
        assert_eq!(web_counts.user_vms, 1);
        // A destroyed instance holds nothing.
        let gone = &made[0];
        s.instance_update_state(
            gone.id,
            gone.generation,
            trellis_model::instance::VmState::Destroyed,
            None,
        )
        .await
        .unwrap();
        let counts = s.resource_counts(CountScope::Account(a.id)).await.unwrap();
        assert_eq!((counts.user_vms, counts.cpus, counts.volumes), (1, 2, 1));
    })
    .await;
}
