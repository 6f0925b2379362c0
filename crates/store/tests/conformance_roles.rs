//! Conformance of dynamic roles on every backend: role changes and the ordered rules.

use trellis_model::role::Permission;
use trellis_model::RoleType;
use trellis_store::RoleChanges;

mod common;

use common::{each_backend, uuid};

#[tokio::test]
async fn roles_change_and_their_rules_keep_their_order() {
    each_backend(|s| async move {
        let root = s
            .domain_create(&uuid(), "ROOT", "/", None, 1)
            .await
            .unwrap();
        let r = s
            .role_create(&uuid(), "Operators", RoleType::User, "ops", false)
            .await
            .unwrap();
        assert!(r.is_public && !r.is_default);
        assert_eq!(s.role_by_uuid(&r.uuid).await.unwrap().unwrap().id, r.id);
        let changed = s
            .role_update(
                r.id,
                &RoleChanges {
                    name: Some("Ops".into()),
                    role_type: Some(RoleType::DomainAdmin),
                    is_public: Some(false),
                    ..Default::default()
                },
            )
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (
                changed.name.as_str(),
                changed.role_type,
                changed.is_public,
                changed.description.as_str()
            ),
            ("Ops", RoleType::DomainAdmin, false, "ops")
        );

        assert!(s.role_permissions(r.id).await.unwrap().is_empty());
        let made = s
            .role_permissions_append(
                r.id,
                &[
                    (uuid(), "list*".into(), Permission::Allow, "lists".into()),
                    (
                        uuid(),
                        "listVirtualMachines".into(),
                        Permission::Deny,
                        String::new(),
                    ),
                ],
            )
            .await
            .unwrap();
        assert_eq!(
            made.iter().map(|p| p.sort_order).collect::<Vec<_>>(),
            [1, 2]
        );
        let third = s
            .role_permissions_append(
                r.id,
                &[(uuid(), "*Tags".into(), Permission::Allow, String::new())],
            )
            .await
            .unwrap();
        assert_eq!(third[0].sort_order, 3);
        let rules = |v: Vec<trellis_model::entity::RolePermission>| {
            v.into_iter().map(|p| p.rule).collect::<Vec<_>>()
        };
        assert_eq!(
            rules(s.role_permissions(r.id).await.unwrap()),
            ["list*", "listVirtualMachines", "*Tags"]
        );
        // Reorder: the deny first.
        s.role_permissions_reorder(r.id, &[made[1].id, third[0].id, made[0].id])
            .await
            .unwrap();
        assert_eq!(
            rules(s.role_permissions(r.id).await.unwrap()),
            ["listVirtualMachines", "*Tags", "list*"]
        );
        s.role_permission_set(made[1].id, Permission::Allow)
            .await
            .unwrap();
        let p = s
            .role_permission_by_uuid(&made[1].uuid)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(p.permission, Permission::Allow);
        s.role_permission_delete(third[0].id).await.unwrap();
        assert!(s
            .role_permission_by_uuid(&third[0].uuid)
            .await
            .unwrap()
            .is_none());
        assert_eq!(s.role_permissions(r.id).await.unwrap().len(), 2);

        // A role in use is counted; removal takes its rules and hides it.
        assert_eq!(s.role_account_count(r.id).await.unwrap(), 0);
        s.account_create(&uuid(), "ops1", root.id, r.id, 1)
            .await
            .unwrap();
        assert_eq!(s.role_account_count(r.id).await.unwrap(), 1);
        s.role_permissions_clear(r.id).await.unwrap();
        assert!(s.role_permissions(r.id).await.unwrap().is_empty());
        let other = s
            .role_create(&uuid(), "Gone", RoleType::User, "", false)
            .await
            .unwrap();
        s.role_permissions_append(
            other.id,
            &[(uuid(), "*".into(), Permission::Deny, String::new())],
        )
        .await
        .unwrap();
        s.role_delete(other.id, 5).await.unwrap();
        assert!(s.role_by_uuid(&other.uuid).await.unwrap().is_none());
        assert!(s.role_permissions(other.id).await.unwrap().is_empty());
        assert!(!s
            .role_list()
            .await
            .unwrap()
            .iter()
            .any(|x| x.id == other.id));
        assert!(s
            .role_update(other.id, &RoleChanges::default())
            .await
            .unwrap()
            .is_none());
    })
    .await;
}
