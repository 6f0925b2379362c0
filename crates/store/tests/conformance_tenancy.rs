//! Conformance of the account lifecycle on every backend: user updates, states and lock-out,
//! deletion, account and domain changes.

use trellis_model::account::AccountState;
use trellis_model::entity::Session;
use trellis_model::RoleType;
use trellis_store::{NewUser, UserChanges};

mod common;

use common::{each_backend, uuid};

fn new_user(account_id: i64, name: &str) -> NewUser {
    NewUser {
        uuid: uuid(),
        account_id,
        username: name.into(),
        password_hash: "hash".into(),
        firstname: "F".into(),
        lastname: "L".into(),
        email: None,
    }
}

fn session(key: &str, user_id: i64) -> Session {
    Session {
        session_key: key.into(),
        jsession_id: "j".into(),
        user_id,
        created: 1,
        expires: 1_000,
    }
}

#[tokio::test]
async fn users_are_updated_locked_out_and_deleted() {
    each_backend(|s| async move {
        let root = s
            .domain_create(&uuid(), "ROOT", "/", None, 1)
            .await
            .unwrap();
        let admin_role = s
            .role_create(&uuid(), "Root Admin", RoleType::Admin, "", true)
            .await
            .unwrap();
        let user_role = s
            .role_create(&uuid(), "User", RoleType::User, "", true)
            .await
            .unwrap();
        let admins = s
            .account_create(&uuid(), "admin", root.id, admin_role.id, 1)
            .await
            .unwrap();
        let a = s
            .account_create(&uuid(), "alice", root.id, user_role.id, 1)
            .await
            .unwrap();
        let admin = s
            .user_create(&new_user(admins.id, "admin"), 1)
            .await
            .unwrap();
        let u = s.user_create(&new_user(a.id, "alice"), 1).await.unwrap();
        assert_eq!((u.failed_logins, u.timezone.as_deref()), (0, None));

        // Only the given fields change.
        let changed = s
            .user_update(
                u.id,
                &UserChanges {
                    firstname: Some("Alice".into()),
                    timezone: Some("Europe/Paris".into()),
                    keys: Some(("ak".into(), "sk".into())),
                    ..Default::default()
                },
            )
            .await
            .unwrap()
            .unwrap();
        assert_eq!(changed.firstname, "Alice");
        assert_eq!(changed.lastname, "L");
        assert_eq!(changed.timezone.as_deref(), Some("Europe/Paris"));
        assert_eq!(changed.api_key.as_deref(), Some("ak"));
        assert_eq!(changed.password_hash, "hash");
        assert!(s
            .user_update(-5, &UserChanges::default())
            .await
            .unwrap()
            .is_none());

        // Three failures in a row lock at allowed=3; success starts the count again.
        s.user_login_failed(u.id, 3).await.unwrap();
        s.user_login_succeeded(u.id).await.unwrap();
        assert_eq!(s.user_get(u.id).await.unwrap().unwrap().failed_logins, 0);
        for expected in [
            AccountState::Enabled,
            AccountState::Enabled,
            AccountState::Locked,
        ] {
            let now = s.user_login_failed(u.id, 3).await.unwrap().unwrap();
            assert_eq!(now.state, expected, "after {} failures", now.failed_logins);
        }
        // allowed=0 never locks.
        let other = s.user_create(&new_user(a.id, "bob"), 1).await.unwrap();
        for _ in 0..5 {
            s.user_login_failed(other.id, 0).await.unwrap();
        }
        assert_eq!(
            s.user_get(other.id).await.unwrap().unwrap().state,
            AccountState::Enabled
        );

        // Enabling unlocks and forgets the failures; disabling ends the sessions.
        let enabled = s
            .user_set_state(u.id, AccountState::Enabled)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (enabled.state, enabled.failed_logins),
            (AccountState::Enabled, 0)
        );
        s.session_create(&session("s-alice", u.id)).await.unwrap();
        s.user_set_state(u.id, AccountState::Disabled)
            .await
            .unwrap()
            .unwrap();
        assert!(s.session_get("s-alice", 5).await.unwrap().is_none());

        // Root admins remaining, leaving one user or one account out.
        assert_eq!(s.root_admins_remaining(None, None).await.unwrap(), 1);
        assert_eq!(
            s.root_admins_remaining(Some(admin.id), None).await.unwrap(),
            0
        );
        assert_eq!(
            s.root_admins_remaining(None, Some(admins.id))
                .await
                .unwrap(),
            0
        );
        assert_eq!(s.root_admins_remaining(Some(u.id), None).await.unwrap(), 1);

        // Deletion ends sessions and frees the API key.
        s.session_create(&session("s-bob", other.id)).await.unwrap();
        s.user_set_keys(other.id, "bob-key", "bob-secret")
            .await
            .unwrap();
        s.user_delete(other.id, 9).await.unwrap();
        assert!(s.user_get(other.id).await.unwrap().is_none());
        assert!(s.user_by_api_key("bob-key").await.unwrap().is_none());
        assert!(s.session_get("s-bob", 5).await.unwrap().is_none());
    })
    .await;
}

#[tokio::test]
async fn accounts_and_domains_change_and_go() {
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
        let deep = s
            .domain_create(&uuid(), "deep", "/eng/web/deep/", Some(web.id), 1)
            .await
            .unwrap();
        let other = s
            .domain_create(&uuid(), "engineering", "/engineering/", Some(root.id), 1)
            .await
            .unwrap();
        let role = s
            .role_create(&uuid(), "User", RoleType::User, "", true)
            .await
            .unwrap();
        let role2 = s
            .role_create(&uuid(), "User 2", RoleType::User, "", false)
            .await
            .unwrap();
        let a = s
            .account_create(&uuid(), "alice", web.id, role.id, 1)
            .await
            .unwrap();
        let u = s.user_create(&new_user(a.id, "alice"), 1).await.unwrap();

        let renamed = s
            .account_update(a.id, Some("alicia"), Some(role2.id), Some("alice.example"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(renamed.name, "alicia");
        assert_eq!(renamed.role_id, role2.id);
        assert_eq!(renamed.network_domain.as_deref(), Some("alice.example"));
        // A cached read after the write sees it.
        assert_eq!(s.account_get(a.id).await.unwrap().unwrap().name, "alicia");

        s.session_create(&session("s-a", u.id)).await.unwrap();
        let locked = s
            .account_set_state(a.id, AccountState::Locked)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(locked.state, AccountState::Locked);
        assert_eq!(
            s.account_get(a.id).await.unwrap().unwrap().state,
            AccountState::Locked
        );
        assert!(s.session_get("s-a", 5).await.unwrap().is_none());

        // Renaming a domain moves the paths below it, and only those.
        let r = s
            .domain_update(eng.id, Some(("dev", "/dev/")), Some("dev.example"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!((r.name.as_str(), r.path.as_str()), ("dev", "/dev/"));
        assert_eq!(r.network_domain.as_deref(), Some("dev.example"));
        assert_eq!(
            s.domain_get(web.id).await.unwrap().unwrap().path,
            "/dev/web/"
        );
        assert_eq!(
            s.domain_get(deep.id).await.unwrap().unwrap().path,
            "/dev/web/deep/"
        );
        assert_eq!(
            s.domain_get(other.id).await.unwrap().unwrap().path,
            "/engineering/"
        );
        assert!(s.domain_by_path("/eng/web/").await.unwrap().is_none());

        assert_eq!(s.domain_contents(web.id).await.unwrap(), (1, 1));
        assert_eq!(s.domain_contents(deep.id).await.unwrap(), (0, 0));
        s.domain_delete(deep.id, 5).await.unwrap();
        assert!(s.domain_get(deep.id).await.unwrap().is_none());
        assert_eq!(s.domain_contents(web.id).await.unwrap(), (1, 0));
        assert!(s
            .domain_update(deep.id, None, Some("x"))
            .await
            .unwrap()
            .is_none());
        // Only SQLite's single server may trust caches of its own.
        assert_eq!(
            s.is_sole_writer(),
            s.backend() == trellis_store::Backend::Sqlite
        );
    })
    .await;
}
