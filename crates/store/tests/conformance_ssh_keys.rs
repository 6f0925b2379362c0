//! Store conformance, SSH key pairs: create, lookups, the listing filters and owner scopes,
//! delete. Every test runs on SQLite and, when `TRELLIS_TEST_POSTGRES_URL` is set, on
//! PostgreSQL.

mod common;

use common::{each_backend, uuid};
use trellis_model::entity::SshKeyPair;
use trellis_model::RoleType;
use trellis_store::{Page, SshKeyPairFilter, Store};

fn keypair(name: &str, account_id: i64, domain_id: i64, fingerprint: &str) -> SshKeyPair {
    SshKeyPair {
        id: 0,
        uuid: uuid(),
        name: name.into(),
        account_id,
        domain_id,
        public_key: format!("ssh-ed25519 AAAA{name}"),
        fingerprint: fingerprint.into(),
        created: 42,
    }
}

async fn names(s: &Store, f: SshKeyPairFilter, page: Page) -> (Vec<String>, i64) {
    let (items, total) = s.ssh_keypair_list(&f, page).await.unwrap();
    (items.into_iter().map(|k| k.name).collect(), total)
}

#[tokio::test]
async fn ssh_keypairs_are_created_found_listed_and_deleted() {
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

        let a1 = s
            .ssh_keypair_create(&keypair("laptop", alice.id, root.id, "aa:01"))
            .await
            .unwrap();
        assert!(a1.id > 0);
        assert_eq!(a1.name, "laptop");
        assert_eq!(a1.public_key, "ssh-ed25519 AAAAlaptop");
        assert_eq!(a1.created, 42);
        let a2 = s
            .ssh_keypair_create(&keypair("ci", alice.id, root.id, "bb:02"))
            .await
            .unwrap();
        // The same name for another account is fine, twice for one account is not.
        let b1 = s
            .ssh_keypair_create(&keypair("laptop", bob.id, eng.id, "aa:01"))
            .await
            .unwrap();
        let dup = s
            .ssh_keypair_create(&keypair("laptop", alice.id, root.id, "cc:03"))
            .await
            .unwrap_err();
        assert!(dup.is_unique_violation(), "{dup}");

        assert_eq!(
            s.ssh_keypair_by_uuid(&a2.uuid).await.unwrap(),
            Some(a2.clone())
        );
        assert_eq!(s.ssh_keypair_by_uuid(&uuid()).await.unwrap(), None);
        assert_eq!(
            s.ssh_keypair_by_name(bob.id, "laptop").await.unwrap(),
            Some(b1.clone())
        );
        assert_eq!(s.ssh_keypair_by_name(bob.id, "Laptop").await.unwrap(), None);
        assert_eq!(s.ssh_keypair_by_name(bob.id, "ci").await.unwrap(), None);

        // Newest first; every filter narrows.
        let all = SshKeyPairFilter::default;
        assert_eq!(
            names(&s, all(), Page::all()).await,
            (vec!["laptop".into(), "ci".into(), "laptop".into()], 3)
        );
        let mine = || SshKeyPairFilter {
            account_id: Some(alice.id),
            ..all()
        };
        assert_eq!(
            names(&s, mine(), Page::all()).await,
            (vec!["ci".into(), "laptop".into()], 2)
        );
        for (f, want) in [
            (
                SshKeyPairFilter {
                    uuid: Some(a1.uuid.clone()),
                    ..mine()
                },
                vec!["laptop"],
            ),
            (
                SshKeyPairFilter {
                    name: Some("ci".into()),
                    ..mine()
                },
                vec!["ci"],
            ),
            (
                SshKeyPairFilter {
                    name: Some("lap".into()),
                    ..mine()
                },
                vec![],
            ),
            (
                SshKeyPairFilter {
                    fingerprint: Some("bb:02".into()),
                    ..mine()
                },
                vec!["ci"],
            ),
            (
                SshKeyPairFilter {
                    fingerprint: Some("bb".into()),
                    ..mine()
                },
                vec![],
            ),
            (
                SshKeyPairFilter {
                    keyword: Some("LAP".into()),
                    ..mine()
                },
                vec!["laptop"],
            ),
            (
                SshKeyPairFilter {
                    keyword: Some("b:0".into()),
                    ..mine()
                },
                vec!["ci"],
            ),
            (
                SshKeyPairFilter {
                    keyword: Some("%".into()),
                    ..mine()
                },
                vec![],
            ),
            (
                SshKeyPairFilter {
                    domain_id: Some(eng.id),
                    ..all()
                },
                vec!["laptop"],
            ),
            (
                SshKeyPairFilter {
                    domain_path: Some("/eng/".into()),
                    ..all()
                },
                vec!["laptop"],
            ),
            (
                SshKeyPairFilter {
                    domain_path: Some("/".into()),
                    ..all()
                },
                vec!["laptop", "ci", "laptop"],
            ),
            (
                SshKeyPairFilter {
                    domain_path: Some("/other/".into()),
                    ..all()
                },
                vec![],
            ),
            (
                SshKeyPairFilter {
                    fingerprint: Some("aa:01".into()),
                    ..all()
                },
                vec!["laptop", "laptop"],
            ),
        ] {
            let want: Vec<String> = want.into_iter().map(String::from).collect();
            let total = want.len() as i64;
            assert_eq!(
                names(&s, f.clone(), Page::all()).await,
                (want, total),
                "{f:?}"
            );
        }
        // Paging keeps the total.
        let page = Page {
            offset: 1,
            limit: Some(1),
        };
        assert_eq!(names(&s, all(), page).await, (vec!["ci".into()], 3));
        assert_eq!(names(&s, all(), Page::count_only()).await, (vec![], 3));

        // Delete one, then the rest of an account.
        assert!(s.ssh_keypair_delete(a1.id).await.unwrap());
        assert!(!s.ssh_keypair_delete(a1.id).await.unwrap(), "already gone");
        assert_eq!(s.ssh_keypair_by_uuid(&a1.uuid).await.unwrap(), None);
        // The name is free again.
        s.ssh_keypair_create(&keypair("laptop", alice.id, root.id, "dd:04"))
            .await
            .unwrap();
        assert_eq!(s.ssh_keypair_delete_for_account(alice.id).await.unwrap(), 2);
        assert_eq!(s.ssh_keypair_delete_for_account(alice.id).await.unwrap(), 0);
        assert_eq!(
            names(&s, all(), Page::all()).await,
            (vec!["laptop".into()], 1),
            "another account's key pairs stay"
        );
        assert_eq!(
            s.ssh_keypair_by_name(bob.id, "laptop").await.unwrap(),
            Some(b1)
        );
    })
    .await;
}
