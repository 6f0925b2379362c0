//! Store conformance, projects: create with the project account and first admin in one
//! transaction, lookups, the listing filters, members, the project accounts leaving account
//! listings, the owner filters on instances, key pairs and affinity groups, and delete. Every
//! test runs on SQLite and, when `TRELLIS_TEST_POSTGRES_URL` is set, on PostgreSQL.

mod common;

use common::{each_backend, instance, offering, template, uuid, zone};
use trellis_model::entity::{Instance, Project, ProjectMember};
use trellis_model::project::{ProjectRole, ProjectState};
use trellis_model::RoleType;
use trellis_store::{IdentityFilter, InstanceFilter, Page, ProjectFilter, Store};

fn project(name: &str, domain_id: i64) -> Project {
    Project {
        id: 0,
        uuid: uuid(),
        name: name.into(),
        display_text: format!("{name} text"),
        account_id: 0,
        domain_id,
        state: ProjectState::Active,
        created: 5,
        removed: None,
    }
}

async fn names(s: &Store, f: ProjectFilter) -> Vec<String> {
    let (items, total) = s.project_list(&f, Page::all()).await.unwrap();
    assert_eq!(items.len() as i64, total);
    items.into_iter().map(|p| p.name).collect()
}

async fn vm(s: &Store, name: &str, account: i64) -> Instance {
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

#[tokio::test]
async fn projects_members_and_project_owned_rows() {
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

        let (web, web_acct) = s
            .project_create(&project("web", root.id), "PrjAcct-web", role.id, alice.id)
            .await
            .unwrap();
        assert!(web.id > 0 && web.account_id == web_acct.id);
        assert_eq!(
            (web_acct.name.as_str(), web_acct.domain_id),
            ("PrjAcct-web", root.id)
        );
        assert_eq!(web.state, ProjectState::Active);
        let (ops, _) = s
            .project_create(&project("ops", eng.id), "PrjAcct-ops", role.id, bob.id)
            .await
            .unwrap();

        assert_eq!(
            s.project_by_uuid(&web.uuid).await.unwrap(),
            Some(web.clone())
        );
        assert_eq!(
            s.project_by_account(web.account_id).await.unwrap(),
            Some(web.clone())
        );
        assert_eq!(s.project_by_account(alice.id).await.unwrap(), None);
        assert_eq!(
            s.project_by_name(root.id, "WEB").await.unwrap(),
            Some(web.clone())
        );
        assert_eq!(s.project_by_name(eng.id, "web").await.unwrap(), None);

        // Project accounts are not accounts to list.
        let (accounts, _) = s
            .account_list(&IdentityFilter::default(), Page::all())
            .await
            .unwrap();
        assert!(accounts.iter().all(|a| !a.name.starts_with("PrjAcct-")));
        assert_eq!(accounts.len(), 2);

        let all = ProjectFilter::default();
        assert_eq!(names(&s, all.clone()).await, ["web", "ops"]);
        let under_eng = ProjectFilter {
            domain_path: Some("/eng/".into()),
            ..all.clone()
        };
        assert_eq!(names(&s, under_eng).await, ["ops"]);
        let mine = ProjectFilter {
            member_account_id: Some(alice.id),
            keyword: Some("TEXT".into()),
            ..all.clone()
        };
        assert_eq!(names(&s, mine).await, ["web"]);

        // Members.
        let m = s.project_members(web.id).await.unwrap();
        assert_eq!(m.len(), 1);
        assert_eq!((m[0].account_id, m[0].role), (alice.id, ProjectRole::Admin));
        s.project_member_add(&ProjectMember {
            project_id: web.id,
            account_id: bob.id,
            role: ProjectRole::Regular,
            created: 9,
        })
        .await
        .unwrap();
        assert_eq!(
            s.project_accounts_of_member(bob.id).await.unwrap(),
            [web.account_id, ops.account_id]
        );
        assert!(s.project_member_remove(web.id, bob.id).await.unwrap());
        assert!(!s.project_member_remove(web.id, bob.id).await.unwrap());
        assert_eq!(
            s.project_accounts_of_member(bob.id).await.unwrap(),
            [ops.account_id]
        );

        // Update and suspend.
        let mut renamed = web.clone();
        renamed.name = "www".into();
        renamed.state = ProjectState::Suspended;
        s.project_update(&renamed).await.unwrap();
        let suspended = ProjectFilter {
            state: Some(ProjectState::Suspended),
            ..all.clone()
        };
        assert_eq!(names(&s, suspended).await, ["www"]);

        // Owner filters: project rows left out, or only some owners.
        let a = vm(&s, "a", alice.id).await;
        let p = vm(&s, "p", web.account_id).await;
        let listed = |f: InstanceFilter| {
            let s = s.clone();
            async move {
                s.instance_list(&f, Page::all())
                    .await
                    .unwrap()
                    .0
                    .into_iter()
                    .map(|i| i.id)
                    .collect::<Vec<_>>()
            }
        };
        assert_eq!(listed(InstanceFilter::default()).await, [a.id, p.id]);
        let no_projects = InstanceFilter {
            exclude_projects: true,
            ..Default::default()
        };
        assert_eq!(listed(no_projects).await, [a.id]);
        let only = InstanceFilter {
            account_ids: Some(vec![web.account_id, ops.account_id]),
            ..Default::default()
        };
        assert_eq!(listed(only).await, [p.id]);
        let none = InstanceFilter {
            account_ids: Some(vec![]),
            ..Default::default()
        };
        assert!(listed(none).await.is_empty());

        // Delete: the project and its account go, names are free again.
        s.project_delete(web.id, 77).await.unwrap();
        assert_eq!(s.project_by_uuid(&web.uuid).await.unwrap(), None);
        assert!(s.project_members(web.id).await.unwrap().is_empty());
        assert_eq!(names(&s, all).await, ["ops"]);
        assert_eq!(s.account_get(web.account_id).await.unwrap(), None);
        s.project_create(&project("web", root.id), "PrjAcct-web2", role.id, alice.id)
            .await
            .unwrap();
    })
    .await;
}
