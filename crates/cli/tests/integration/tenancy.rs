//! The life of users, accounts and domains against a real server: updates, disable/enable/lock,
//! deletion, lock-out after wrong passwords, and every refusal leaving things as they were.

use super::*;

async fn user_state(admin: &Client, uid: &str) -> String {
    admin
        .call("listUsers", &[("id", uid), ("listall", "true")])
        .await
        .unwrap()["user"][0]["state"]
        .as_str()
        .unwrap_or("gone")
        .to_string()
}

async fn works(c: &Client) -> bool {
    c.call("listZones", &[]).await.is_ok()
}

#[tokio::test]
async fn users_update_themselves_and_administrators_disable_lock_and_delete_them() {
    let s = TestServer::start();
    let admin = s.admin().await;
    let (_, alice_id, alice) = s.account(&admin, "alice", &[]).await;
    let (_, bob_id, bob) = s.account(&admin, "bob", &[]).await;

    // A user edits itself; a password change needs the current password.
    let u = alice
        .call(
            "updateUser",
            &[
                ("id", &alice_id),
                ("firstname", "Alice"),
                ("timezone", "Europe/Paris"),
            ],
        )
        .await
        .unwrap();
    assert_eq!(u["user"]["firstname"], "Alice");
    assert_eq!(u["user"]["timezone"], "Europe/Paris");
    assert_eq!(
        code_of(
            alice
                .call(
                    "updateUser",
                    &[("id", &alice_id), ("password", "new-pass-1")]
                )
                .await
        ),
        431
    );
    let wrong = alice
        .call(
            "updateUser",
            &[
                ("id", &alice_id),
                ("password", "new-pass-1"),
                ("currentpassword", "nope"),
            ],
        )
        .await;
    assert_eq!(code_of(wrong), 431);
    assert!(Client::login(&s.url, "alice", "pw-123456", None)
        .await
        .is_ok());
    alice
        .call(
            "updateUser",
            &[
                ("id", &alice_id),
                ("password", "new-pass-1"),
                ("currentpassword", "pw-123456"),
            ],
        )
        .await
        .unwrap();
    assert!(Client::login(&s.url, "alice", "pw-123456", None)
        .await
        .is_err());
    assert!(Client::login(&s.url, "alice", "new-pass-1", None)
        .await
        .is_ok());
    // No password, current or new, is kept anywhere readable.
    let events = admin
        .call("listEvents", &[("listall", "true")])
        .await
        .unwrap()
        .to_string();
    assert!(
        !events.contains("new-pass-1") && !events.contains("pw-123456"),
        "{events}"
    );
    assert!(!s.logs().contains("new-pass-1"));

    // A user cannot edit another account's user, nor disable anyone: nothing changes.
    let r = alice
        .call("updateUser", &[("id", &bob_id), ("firstname", "Mallory")])
        .await;
    assert_eq!(code_of(r), 531);
    let r = alice.call("disableUser", &[("id", &bob_id)]).await;
    assert!(
        matches!(code_of(r), 401 | 432),
        "users may not call disableUser"
    );
    let b = admin.call("listUsers", &[("id", &bob_id)]).await.unwrap();
    assert_eq!(b["user"][0]["firstname"], "F");
    assert_eq!(user_state(&admin, &bob_id).await, "enabled");
    // Usernames stay unique in a domain; keys are set in pairs.
    let r = admin
        .call("updateUser", &[("id", &bob_id), ("username", "alice")])
        .await;
    assert_eq!(code_of(r), 431);
    let r = admin
        .call(
            "updateUser",
            &[("id", &bob_id), ("userapikey", "only-half")],
        )
        .await;
    assert_eq!(code_of(r), 431);

    // disableUser is a job; the user's keys and sessions stop working at once.
    let alice_session = Client::login(&s.url, "alice", "new-pass-1", None)
        .await
        .unwrap();
    assert!(works(&alice_session).await);
    let j = admin
        .call("disableUser", &[("id", &alice_id)])
        .await
        .unwrap();
    let done = admin
        .wait_job(
            j["jobid"].as_str().unwrap(),
            Duration::from_secs(30),
            |_| {},
        )
        .await
        .unwrap();
    assert_eq!(done["user"]["state"], "disabled");
    assert!(!works(&alice).await, "a disabled user's keys still work");
    assert!(
        !works(&alice_session).await,
        "a disabled user's session still works"
    );
    assert!(Client::login(&s.url, "alice", "new-pass-1", None)
        .await
        .is_err());
    assert!(works(&bob).await);
    let e = admin
        .call("enableUser", &[("id", &alice_id)])
        .await
        .unwrap();
    assert_eq!(e["user"]["state"], "enabled");
    assert!(works(&alice).await);
    let l = admin.call("lockUser", &[("id", &alice_id)]).await.unwrap();
    assert_eq!(l["user"]["state"], "locked");
    assert!(!works(&alice).await);
    admin
        .call("enableUser", &[("id", &alice_id)])
        .await
        .unwrap();

    // Nobody disables or deletes itself; the system admin stays.
    let admin_id = admin
        .call("listUsers", &[("username", "admin")])
        .await
        .unwrap()["user"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        code_of(admin.call("lockUser", &[("id", &admin_id)]).await),
        431
    );
    assert_eq!(
        code_of(admin.call("deleteUser", &[("id", &admin_id)]).await),
        431
    );
    // A second root administrator cannot remove the system admin user either.
    let (_, _, root2) = s.account(&admin, "root2", &[("accounttype", "1")]).await;
    assert_eq!(
        code_of(root2.call("deleteUser", &[("id", &admin_id)]).await),
        431
    );
    assert_eq!(user_state(&admin, &admin_id).await, "enabled");

    // deleteUser: the keys die with the user; the account stays.
    admin.call("deleteUser", &[("id", &bob_id)]).await.unwrap();
    assert!(!works(&bob).await);
    assert_eq!(user_state(&admin, &bob_id).await, "gone");
    let accounts = admin
        .call("listAccounts", &[("name", "bob"), ("listall", "true")])
        .await
        .unwrap();
    assert_eq!(accounts["account"][0]["name"], "bob");
}

#[tokio::test]
async fn repeated_wrong_passwords_lock_the_user_until_an_administrator_enables_it() {
    let s = TestServer::start();
    let admin = s.admin().await;
    let (_, uid, _) = s.account(&admin, "carol", &[]).await;
    admin
        .call(
            "updateConfiguration",
            &[("name", "incorrect.login.attempts.allowed"), ("value", "3")],
        )
        .await
        .unwrap();
    // Two failures, then a success: the count starts again.
    for _ in 0..2 {
        assert!(Client::login(&s.url, "carol", "wrong", None).await.is_err());
    }
    assert!(Client::login(&s.url, "carol", "pw-123456", None)
        .await
        .is_ok());
    for _ in 0..2 {
        assert!(Client::login(&s.url, "carol", "wrong", None).await.is_err());
    }
    assert_eq!(user_state(&admin, &uid).await, "enabled");
    assert!(Client::login(&s.url, "carol", "wrong", None).await.is_err());
    assert_eq!(user_state(&admin, &uid).await, "locked");
    // Locked: the right password is refused too, with the same answer as a wrong one.
    let refused = Client::login(&s.url, "carol", "pw-123456", None).await;
    let wrong = Client::login(&s.url, "carol", "wrong", None).await;
    assert_eq!(
        code_of(refused.map(|_| Value::Null)),
        code_of(wrong.map(|_| Value::Null))
    );
    let events = admin
        .call("listEvents", &[("type", "USER.LOCK"), ("listall", "true")])
        .await
        .unwrap();
    assert_eq!(
        events["event"].as_array().map(Vec::len),
        Some(1),
        "{events}"
    );
    assert!(s
        .logs()
        .contains("user locked after repeated failed log-ins"));
    admin.call("enableUser", &[("id", &uid)]).await.unwrap();
    assert!(Client::login(&s.url, "carol", "pw-123456", None)
        .await
        .is_ok());
}

#[tokio::test]
async fn accounts_are_locked_disabled_with_their_instances_stopped_and_enabled() {
    let env = super::isolation::setup().await;
    let admin = &env.admin;
    let vm = env
        .deploy(&env.a, "a-vm", &env.template, &[])
        .await
        .unwrap();
    assert_eq!(vm["state"], "Running");
    let vm_id = vm["id"].as_str().unwrap().to_string();
    let alice = admin
        .call("listAccounts", &[("name", "alice"), ("listall", "true")])
        .await
        .unwrap()["account"][0]
        .clone();
    let aid = alice["id"].as_str().unwrap().to_string();
    let vm_state = |c: Client, id: String| async move {
        c.call("listVirtualMachines", &[("id", &id), ("listall", "true")])
            .await
            .unwrap()["virtualmachine"][0]["state"]
            .as_str()
            .unwrap()
            .to_string()
    };

    // lock: users shut out, instances untouched.
    let j = admin
        .call("disableAccount", &[("id", &aid), ("lock", "true")])
        .await
        .unwrap();
    let done = admin
        .wait_job(
            j["jobid"].as_str().unwrap(),
            Duration::from_secs(30),
            |_| {},
        )
        .await
        .unwrap();
    assert_eq!(done["account"]["state"], "locked");
    assert!(!works(&env.a).await);
    assert!(works(&env.b).await);
    assert_eq!(vm_state(admin.clone(), vm_id.clone()).await, "Running");
    let e = admin.call("enableAccount", &[("id", &aid)]).await.unwrap();
    assert_eq!(e["account"]["state"], "enabled");
    assert!(works(&env.a).await);

    // disable: users shut out and the running instances stopped through the extension.
    let j = admin
        .call("disableAccount", &[("id", &aid), ("lock", "false")])
        .await
        .unwrap();
    let done = admin
        .wait_job(
            j["jobid"].as_str().unwrap(),
            Duration::from_secs(60),
            |_| {},
        )
        .await
        .unwrap();
    assert_eq!(done["account"]["state"], "disabled");
    assert_eq!(vm_state(admin.clone(), vm_id.clone()).await, "Stopped");
    assert!(!works(&env.a).await);
    let stops = std::fs::read_dir(env.dir.join("rec"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .contains("-stop-")
        })
        .count();
    assert_eq!(
        stops, 1,
        "the extension was asked to stop the instance once"
    );
    // enable does not restart anything.
    admin.call("enableAccount", &[("id", &aid)]).await.unwrap();
    assert!(works(&env.a).await);
    assert_eq!(vm_state(admin.clone(), vm_id.clone()).await, "Stopped");
    // lockAccount names the account by name and domain.
    let root = admin
        .call("listDomains", &[("name", "ROOT")])
        .await
        .unwrap()["domain"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let l = admin
        .call("lockAccount", &[("account", "alice"), ("domainid", &root)])
        .await
        .unwrap();
    assert_eq!(l["account"]["state"], "locked");
    admin
        .call(
            "enableAccount",
            &[("account", "alice"), ("domainid", &root)],
        )
        .await
        .unwrap();

    // updateAccount: rename, network domain; a role of another type is refused.
    let u = admin
        .call(
            "updateAccount",
            &[
                ("id", &aid),
                ("newname", "alicia"),
                ("networkdomain", "alicia.example"),
            ],
        )
        .await
        .unwrap();
    assert_eq!(u["account"]["name"], "alicia");
    assert_eq!(u["account"]["networkdomain"], "alicia.example");
    let admin_role = admin.call("listRoles", &[("type", "Admin")]).await.unwrap()["role"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = admin
        .call("updateAccount", &[("id", &aid), ("roleid", &admin_role)])
        .await;
    assert_eq!(code_of(r), 431);
    let r = admin
        .call("updateAccount", &[("id", &aid), ("newname", "bob")])
        .await;
    assert_eq!(code_of(r), 431);
    let after = admin.call("listAccounts", &[("id", &aid)]).await.unwrap()["account"][0].clone();
    assert_eq!(
        (after["name"].as_str(), after["roletype"].as_str()),
        (Some("alicia"), Some("User"))
    );
    // The system admin account keeps its name and state; the caller's own account too.
    let admin_acct = admin
        .call("listAccounts", &[("name", "admin")])
        .await
        .unwrap()["account"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        code_of(
            admin
                .call("updateAccount", &[("id", &admin_acct), ("newname", "boss")])
                .await
        ),
        431
    );
    assert_eq!(
        code_of(
            admin
                .call("disableAccount", &[("id", &admin_acct), ("lock", "true")])
                .await
        ),
        431
    );
    // A user account cannot touch accounts at all.
    let r = env.a.call("enableAccount", &[("id", &aid)]).await;
    assert!(matches!(code_of(r), 401 | 432));
}

#[tokio::test]
async fn domains_are_renamed_listed_and_deleted_only_as_asked() {
    let s = TestServer::start();
    let admin = s.admin().await;
    let eng = admin
        .call(
            "createDomain",
            &[("name", "eng"), ("networkdomain", "eng.example")],
        )
        .await
        .unwrap()["domain"]
        .clone();
    assert_eq!(eng["networkdomain"], "eng.example");
    let eng_id = eng["id"].as_str().unwrap().to_string();
    let web_id = admin
        .call(
            "createDomain",
            &[("name", "web"), ("parentdomainid", &eng_id)],
        )
        .await
        .unwrap()["domain"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let ops_id = admin
        .call("createDomain", &[("name", "ops")])
        .await
        .unwrap()["domain"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, _, web_user) = s.account(&admin, "webber", &[("domainid", &web_id)]).await;
    // A domain administrator of eng.
    let (_, _, eng_admin) = s
        .account(
            &admin,
            "engadmin",
            &[("domainid", &eng_id), ("accounttype", "2")],
        )
        .await;

    // Rename: the paths below follow.
    let r = admin
        .call("updateDomain", &[("id", &eng_id), ("name", "dev")])
        .await
        .unwrap();
    assert_eq!(r["domain"]["path"], "ROOT/dev");
    let web = admin.call("listDomains", &[("id", &web_id)]).await.unwrap();
    assert_eq!(web["domain"][0]["path"], "ROOT/dev/web");
    assert!(
        Client::login(&s.url, "webber", "pw-123456", Some("/dev/web"))
            .await
            .is_ok()
    );
    let root = admin
        .call("listDomains", &[("name", "ROOT")])
        .await
        .unwrap()["domain"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        code_of(
            admin
                .call("updateDomain", &[("id", &root), ("name", "TOP")])
                .await
        ),
        431
    );
    assert_eq!(
        code_of(
            admin
                .call("updateDomain", &[("id", &ops_id), ("name", "dev")])
                .await
        ),
        431
    );

    // Children: one level, or the whole tree.
    let names = |v: &Value| {
        let mut n: Vec<String> = v["domain"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|d| d["name"].as_str().unwrap().to_string())
                    .collect()
            })
            .unwrap_or_default();
        n.sort();
        n
    };
    let c = admin
        .call("listDomainChildren", &[("id", &root)])
        .await
        .unwrap();
    assert_eq!(names(&c), ["dev", "ops"]);
    let c = admin
        .call(
            "listDomainChildren",
            &[("id", &root), ("isrecursive", "true")],
        )
        .await
        .unwrap();
    assert_eq!(names(&c), ["dev", "ops", "web"]);

    // A domain administrator acts below its domain only.
    assert_eq!(
        code_of(
            eng_admin
                .call("updateDomain", &[("id", &ops_id), ("name", "x")])
                .await
        ),
        531
    );
    assert_eq!(
        code_of(eng_admin.call("deleteDomain", &[("id", &ops_id)]).await),
        531
    );
    assert_eq!(
        code_of(eng_admin.call("deleteDomain", &[("id", &eng_id)]).await),
        531
    );
    let c = eng_admin.call("listDomainChildren", &[]).await.unwrap();
    assert_eq!(names(&c), ["web"]);

    // Without cleanup a domain with accounts or children stays.
    assert_eq!(
        code_of(admin.call("deleteDomain", &[("id", &eng_id)]).await),
        530
    );
    assert_eq!(
        code_of(admin.call("deleteDomain", &[("id", &root)]).await),
        431
    );
    assert!(works(&web_user).await);
    // An empty one goes.
    let j = admin
        .call("deleteDomain", &[("id", &ops_id)])
        .await
        .unwrap();
    admin
        .wait_job(
            j["jobid"].as_str().unwrap(),
            Duration::from_secs(30),
            |_| {},
        )
        .await
        .unwrap();
    // With cleanup, the tree and its accounts go.
    let j = admin
        .call("deleteDomain", &[("id", &eng_id), ("cleanup", "true")])
        .await
        .unwrap();
    admin
        .wait_job(
            j["jobid"].as_str().unwrap(),
            Duration::from_secs(60),
            |_| {},
        )
        .await
        .unwrap();
    let c = admin
        .call(
            "listDomainChildren",
            &[("id", &root), ("isrecursive", "true")],
        )
        .await
        .unwrap();
    assert!(names(&c).is_empty(), "{c}");
    assert!(!works(&web_user).await);
    assert!(!works(&eng_admin).await);
    let accounts = admin
        .call("listAccounts", &[("listall", "true")])
        .await
        .unwrap();
    let left: Vec<&str> = accounts["account"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(left, ["admin"]);
}

/// Two servers on one PostgreSQL database: a lock, a rule or a deletion made through one
/// holds on the other at its next request, for API keys and sessions alike.
#[tokio::test]
async fn a_change_through_one_server_holds_on_the_other_at_once() {
    let Some(url) = postgres_or_skip("two-server test").await else {
        return;
    };
    let a = TestServer::start_with(Some(url.clone()));
    let admin = a.admin().await;
    let b = TestServer::start_with(Some(url));
    let role = admin
        .call("createRole", &[("name", "Watched"), ("type", "User")])
        .await
        .unwrap()["role"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, uid, on_a) = a.account(&admin, "dora", &[("roleid", &role)]).await;
    let on_b = on_a.with_url(b.url.clone());
    let session_b = Client::login(&b.url, "dora", "pw-123456", None)
        .await
        .unwrap();
    // Warm whatever B might keep.
    for _ in 0..3 {
        assert!(works(&on_b).await && works(&session_b).await);
    }
    // A rule added through A refuses the next request on B.
    admin
        .call(
            "createRolePermission",
            &[
                ("roleid", &role),
                ("rule", "listZones"),
                ("permission", "deny"),
            ],
        )
        .await
        .unwrap();
    assert_eq!(code_of(on_b.call("listZones", &[]).await), 401);
    assert!(on_b.call("listCapabilities", &[]).await.is_ok());
    // A lock through A shuts B's key and session out at once.
    admin.call("lockUser", &[("id", &uid)]).await.unwrap();
    assert!(on_b.call("listCapabilities", &[]).await.is_err());
    assert!(session_b.call("listCapabilities", &[]).await.is_err());
    admin.call("enableUser", &[("id", &uid)]).await.unwrap();
    assert!(on_b.call("listCapabilities", &[]).await.is_ok());
    // A deletion too.
    admin.call("deleteUser", &[("id", &uid)]).await.unwrap();
    assert!(on_b.call("listCapabilities", &[]).await.is_err());
}

/// A lone server caches log-in sessions; a log-out, a lock by an administrator and a lock-out
/// by wrong passwords still end a session at its very next request (no cached session outlives
/// the write that ends it).
#[tokio::test]
async fn cached_sessions_end_at_the_next_request() {
    let s = TestServer::start();
    let admin = s.admin().await;
    let (_aid, uid, _keys) = s.account(&admin, "carol", &[]).await;
    let login = || Client::login(&s.url, "carol", "pw-123456", None);
    let works = |c: &Client| {
        let c = c.clone();
        async move { c.call("listZones", &[]).await.is_ok() }
    };
    // Log-out: the cached session is gone with it.
    let first = login().await.unwrap();
    assert!(works(&first).await && works(&first).await);
    first.logout().await.unwrap();
    assert!(!works(&first).await, "a logged-out session still works");
    // Locked by an administrator.
    let second = login().await.unwrap();
    assert!(works(&second).await);
    admin.call("lockUser", &[("id", &uid)]).await.unwrap();
    assert!(!works(&second).await, "a locked user's session still works");
    admin.call("enableUser", &[("id", &uid)]).await.unwrap();
    // Locked out by wrong passwords (five by default).
    let third = login().await.unwrap();
    assert!(works(&third).await);
    for _ in 0..5 {
        assert!(Client::login(&s.url, "carol", "wrong-pass", None)
            .await
            .is_err());
    }
    assert!(
        !works(&third).await,
        "a locked-out user's session still works"
    );
}
