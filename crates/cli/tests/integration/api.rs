//! The CloudStack API contract: bootstrap, signatures, sessions, envelopes, paging, error codes,
//! role-type authorization, async jobs, events, settings.

use super::*;
use trellis_api::signature::{java_urlencode, sign};

fn raw_get(url: &str, pairs: &[(String, String)]) -> (u16, Value, reqwest::header::HeaderMap) {
    let q: String = pairs
        .iter()
        .map(|(k, v)| format!("{}={}", java_urlencode(k), java_urlencode(v)))
        .collect::<Vec<_>>()
        .join("&");
    let r = reqwest::blocking::get(format!("{url}?{q}")).unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let body: Value = serde_json::from_str(&r.text().unwrap()).unwrap_or(Value::Null);
    (status, body, headers)
}

fn keys_of(c: &Client) -> (String, String) {
    match c.auth() {
        Auth::Keys {
            api_key, secret, ..
        } => (api_key.clone(), secret.clone()),
        _ => panic!("not a key client"),
    }
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[tokio::test]
async fn bootstrap_creates_root_roles_admin_and_settings() {
    let s = TestServer::start();
    let admin = s.admin().await;
    let d = admin.call("listDomains", &[]).await.unwrap();
    assert_eq!(d["domain"][0]["name"], "ROOT");
    assert_eq!(d["domain"][0]["path"], "ROOT");
    let roles = admin.call("listRoles", &[]).await.unwrap();
    let types: Vec<&str> = roles["role"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["Admin", "ResourceAdmin", "DomainAdmin", "User"]);
    let accounts = admin
        .call("listAccounts", &[("name", "admin")])
        .await
        .unwrap();
    assert_eq!(accounts["account"][0]["roletype"], "Admin");
    let cfg = admin
        .call(
            "listConfigurations",
            &[("name", "extension.path.state.check.interval")],
        )
        .await
        .unwrap();
    assert_eq!(cfg["configuration"][0]["value"], "60");
    let caps = admin.call("listCapabilities", &[]).await.unwrap();
    assert!(caps["capability"]["extensionspath"]
        .as_str()
        .unwrap()
        .ends_with("extensions"));
    assert_eq!(
        admin.call("listLdapConfigurations", &[]).await.unwrap(),
        serde_json::json!({})
    );
    let nos = admin
        .call("listNetworkOfferings", &[("guestiptype", "L2")])
        .await
        .unwrap();
    assert_eq!(nos["count"], 1, "a default L2 network offering exists");
    let health = reqwest::get(format!("http://{}/healthz", s.addr))
        .await
        .unwrap();
    assert_eq!(health.status().as_u16(), 200);
}

#[tokio::test]
async fn signatures_v1_v3_wrong_expired_missing() {
    let s = TestServer::start();
    let admin = s.admin().await;
    let (key, secret) = keys_of(&admin);
    let url = s.url.clone();
    tokio::task::spawn_blocking(move || {
        // v1
        let mut p = pairs(&[
            ("command", "listZones"),
            ("response", "json"),
            ("apiKey", &key),
            ("name", "web server*1 ä+/"),
        ]);
        let sig = sign(&p, &secret);
        p.push(("signature".into(), sig));
        assert_eq!(raw_get(&url, &p).0, 200);
        // v3
        let mut p = pairs(&[
            ("command", "listZones"),
            ("response", "json"),
            ("apiKey", &key),
            ("signatureVersion", "3"),
            ("expires", "2099-01-01T00:00:00+0000"),
        ]);
        let sig = sign(&p, &secret);
        p.push(("signature".into(), sig));
        assert_eq!(raw_get(&url, &p).0, 200);
        // expired v3
        let mut p = pairs(&[
            ("command", "listZones"),
            ("response", "json"),
            ("apiKey", &key),
            ("signatureVersion", "3"),
            ("expires", "2001-01-01T00:00:00+0000"),
        ]);
        let sig = sign(&p, &secret);
        p.push(("signature".into(), sig));
        let (st, body, _) = raw_get(&url, &p);
        assert_eq!(st, 401);
        assert_eq!(body["listzonesresponse"]["errorcode"], 401);
        // wrong secret
        let mut p = pairs(&[
            ("command", "listZones"),
            ("response", "json"),
            ("apiKey", &key),
        ]);
        let sig = sign(&p, "not-the-secret");
        p.push(("signature".into(), sig));
        let (st, _, headers) = raw_get(&url, &p);
        assert_eq!(st, 401);
        assert!(headers.get("x-description").is_some());
        // missing signature, unknown key, no credentials at all
        assert_eq!(
            raw_get(
                &url,
                &pairs(&[
                    ("command", "listZones"),
                    ("response", "json"),
                    ("apiKey", &key)
                ])
            )
            .0,
            401
        );
        let mut p = pairs(&[
            ("command", "listZones"),
            ("response", "json"),
            ("apiKey", "nobody"),
        ]);
        p.push(("signature".into(), sign(&p, &secret)));
        assert_eq!(raw_get(&url, &p).0, 401);
        assert_eq!(
            raw_get(
                &url,
                &pairs(&[("command", "listZones"), ("response", "json")])
            )
            .0,
            401
        );
        // tampered parameter after signing
        let mut p = pairs(&[
            ("command", "listZones"),
            ("response", "json"),
            ("apiKey", &key),
            ("name", "a"),
        ]);
        let sig = sign(&p, &secret);
        p[3].1 = "b".into();
        p.push(("signature".into(), sig));
        assert_eq!(raw_get(&url, &p).0, 401);
        // unknown command, signed: 401 as CloudStack's verifier answers
        let mut p = pairs(&[
            ("command", "noSuchCommand"),
            ("response", "json"),
            ("apiKey", &key),
        ]);
        p.push(("signature".into(), sign(&p, &secret)));
        let (st, body, _) = raw_get(&url, &p);
        assert_eq!(st, 401);
        assert!(body.get("errorresponse").is_some());
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn sessions_login_cookies_logout() {
    let s = TestServer::start();
    let http = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    // GET login is refused with plain text.
    let r = http
        .get(format!(
            "{}?command=login&username=admin&password=x&response=json",
            s.url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 405);
    assert_eq!(
        r.text().await.unwrap(),
        "Please use HTTP POST to authenticate using this API"
    );
    // Bad password: 531.
    let r = http
        .post(&s.url)
        .form(&[
            ("command", "login"),
            ("username", "admin"),
            ("password", "wrong"),
            ("response", "json"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 531);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["loginresponse"]["errorcode"], 531);
    // Good login sets both cookies and returns the session key.
    let r = http
        .post(&s.url)
        .form(&[
            ("command", "login"),
            ("username", "admin"),
            ("password", ADMIN_PASSWORD),
            ("domain", "/"),
            ("response", "json"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let cookies: Vec<String> = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    assert!(
        cookies.iter().any(|c| c.starts_with("JSESSIONID=")),
        "{cookies:?}"
    );
    assert!(
        cookies
            .iter()
            .any(|c| c.starts_with("sessionkey=") && c.contains("HttpOnly")),
        "{cookies:?}"
    );
    let body: Value = r.json().await.unwrap();
    let key = body["loginresponse"]["sessionkey"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(body["loginresponse"]["type"], "1");
    assert!(body["loginresponse"]["managementserverid"].is_string());
    // Parameter plus cookie works.
    let r = http
        .get(format!(
            "{}?command=listZones&response=json&sessionkey={key}",
            s.url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    // Parameter without the cookie is refused under the default CookieAndParameter.
    let bare = reqwest::Client::new();
    let r = bare
        .get(format!(
            "{}?command=listZones&response=json&sessionkey={key}",
            s.url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    // Unknown command in a session: 432 errorresponse.
    let r = http
        .get(format!(
            "{}?command=noSuchCommand&response=json&sessionkey={key}",
            s.url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 432);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["errorresponse"]["errorcode"], 432);
    // Logout invalidates the session.
    let r = http
        .get(format!(
            "{}?command=logout&response=json&sessionkey={key}",
            s.url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.json::<Value>().await.unwrap()["logoutresponse"]["description"],
        "success"
    );
    let r = http
        .get(format!(
            "{}?command=listZones&response=json&sessionkey={key}",
            s.url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
}

#[tokio::test]
async fn envelopes_paging_and_parameter_errors() {
    let s = TestServer::start();
    let admin = s.admin().await;
    for i in 0..5 {
        admin
            .call("createDomain", &[("name", &format!("d{i}"))])
            .await
            .unwrap();
    }
    // A duplicate name is bad input (431, as upstream), not an internal error.
    let dup = admin.call("createDomain", &[("name", "d0")]).await;
    assert_eq!(code_of(dup), 431);
    let page = admin
        .call("listDomains", &[("page", "2"), ("pagesize", "2")])
        .await
        .unwrap();
    assert_eq!(page["count"], 6, "count is the total, not the page size");
    assert_eq!(page["domain"].as_array().unwrap().len(), 2);
    assert_eq!(
        code_of(admin.call("listDomains", &[("pagesize", "2")]).await),
        431
    );
    assert_eq!(
        code_of(admin.call("listDomains", &[("page", "2")]).await),
        431
    );
    assert_eq!(
        code_of(
            admin
                .call("listDomains", &[("page", "1"), ("pagesize", "100000")])
                .await
        ),
        431
    );
    assert_eq!(
        admin
            .call("listDomains", &[("pagesize", "-1")])
            .await
            .unwrap()["count"],
        6
    );
    let empty = admin
        .call("listExtensions", &[("name", "nothing-here")])
        .await
        .unwrap();
    assert_eq!(
        empty,
        serde_json::json!({}),
        "an empty list is an empty object"
    );
    assert_eq!(
        text_of(
            admin
                .call("createExtension", &[("type", "Orchestrator")])
                .await
        ),
        "Unable to execute API command createextension due to missing parameter name"
    );
    assert_eq!(
        code_of(admin.call("listExtensions", &[("id", "not-a-uuid")]).await),
        431
    );
    assert_eq!(
        code_of(
            admin
                .call(
                    "createExtension",
                    &[
                        ("name", "x"),
                        ("type", "Orchestrator"),
                        ("details[x].a", "b")
                    ]
                )
                .await
        ),
        430
    );
    assert_eq!(
        code_of(admin.call("listZones", &[("name", "a\u{1}b")]).await),
        431
    );
    assert_eq!(
        code_of(
            admin
                .call("createZone", &[("name", &"z".repeat(300))])
                .await
        ),
        431
    );
    // POST works like GET.
    let post = admin.clone().use_post(true);
    assert!(post.call("listZones", &[]).await.is_ok());
}

#[tokio::test]
async fn authorization_by_role_type() {
    let s = TestServer::start();
    let admin = s.admin().await;
    let user = s.user(&admin, "alice", "0").await;
    assert!(user.call("listZones", &[]).await.is_ok());
    assert!(user.call("listCustomActions", &[]).await.is_ok());
    assert_eq!(
        code_of(
            user.call(
                "createExtension",
                &[("name", "x"), ("type", "Orchestrator")]
            )
            .await
        ),
        401
    );
    assert_eq!(code_of(user.call("listExtensions", &[]).await), 401);
    let caps = user.call("listCapabilities", &[]).await.unwrap();
    assert!(
        caps["capability"].get("extensionspath").is_none(),
        "extensionspath is for root admins only"
    );
    let apis = user.call("listApis", &[]).await.unwrap();
    let names: Vec<&str> = apis["api"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"runCustomAction") && !names.contains(&"createExtension"));
    let accounts = user
        .call("listAccounts", &[("listall", "true")])
        .await
        .unwrap();
    assert_eq!(accounts["count"], 1, "users see only their own account");
    let dadmin = s.user(&admin, "dom", "2").await;
    assert_eq!(code_of(dadmin.call("listExtensions", &[]).await), 401);
    assert!(dadmin.call("listDomains", &[]).await.is_ok());
}

#[tokio::test]
async fn async_job_lifecycle_and_events() {
    let s = TestServer::start();
    let admin = s.admin().await;
    let a = admin
        .call(
            "createAccount",
            &[
                ("username", "bob"),
                ("password", "pw-123456"),
                ("email", "b@example.org"),
                ("firstname", "B"),
                ("lastname", "L"),
                ("accounttype", "0"),
            ],
        )
        .await
        .unwrap();
    let id = a["account"]["id"].as_str().unwrap().to_string();
    let r = admin.call("deleteAccount", &[("id", &id)]).await.unwrap();
    let jobid = r["jobid"].as_str().unwrap().to_string();
    let result = admin
        .wait_job(&jobid, Duration::from_secs(30), |_| {})
        .await
        .unwrap();
    assert_eq!(result, serde_json::json!({"success": true}));
    let q = admin
        .call("queryAsyncJobResult", &[("jobid", &jobid)])
        .await
        .unwrap();
    assert_eq!(q["jobstatus"], 1);
    assert_eq!(q["jobresultcode"], 0);
    assert_eq!(q["jobresulttype"], "object");
    assert_eq!(q["jobinstanceid"], id);
    assert!(q["completed"].is_string());
    let jobs = admin.call("listAsyncJobs", &[]).await.unwrap();
    assert!(jobs["asyncjobs"]
        .as_array()
        .unwrap()
        .iter()
        .any(|j| j["jobid"] == jobid));
    // A failing async command gives jobstatus 2 and jobresultcode 530 with the error text.
    let own = admin
        .call("listAccounts", &[("name", "admin")])
        .await
        .unwrap();
    let own_id = own["account"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(
        code_of(admin.call("deleteAccount", &[("id", &own_id)]).await),
        431
    );
    assert_eq!(
        code_of(
            admin
                .call(
                    "queryAsyncJobResult",
                    &[("jobid", "00000000-0000-4000-8000-000000000000")]
                )
                .await
        ),
        431
    );
    let events = admin
        .call("listEvents", &[("type", "ACCOUNT.DELETE")])
        .await
        .unwrap();
    assert_eq!(events["count"], 1);
    assert_eq!(events["event"][0]["resourceid"], id);
}

#[tokio::test]
async fn settings_update_validates_and_applies() {
    let s = TestServer::start();
    let admin = s.admin().await;
    assert_eq!(
        code_of(
            admin
                .call(
                    "updateConfiguration",
                    &[("name", "default.page.size"), ("value", "abc")]
                )
                .await
        ),
        431
    );
    assert_eq!(
        code_of(
            admin
                .call(
                    "updateConfiguration",
                    &[("name", "no.such.setting"), ("value", "1")]
                )
                .await
        ),
        431
    );
    let r = admin
        .call(
            "updateConfiguration",
            &[("name", "default.page.size"), ("value", "2")],
        )
        .await
        .unwrap();
    assert_eq!(r["configuration"]["value"], "2");
    for i in 0..3 {
        admin
            .call("createDomain", &[("name", &format!("p{i}"))])
            .await
            .unwrap();
    }
    let l = admin.call("listDomains", &[]).await.unwrap();
    assert_eq!(
        l["domain"].as_array().unwrap().len(),
        2,
        "the default page size applies"
    );
    assert_eq!(l["count"], 4);
}

#[tokio::test]
async fn state_survives_restart() {
    let mut s = TestServer::start();
    let admin = s.admin().await;
    admin
        .call("createZone", &[("name", "persist")])
        .await
        .unwrap();
    s.terminate();
    s.restart();
    // The API keys and the data are still there after a restart.
    let z = admin
        .call("listZones", &[("name", "persist")])
        .await
        .unwrap();
    assert_eq!(z["count"], 1);
}

#[tokio::test]
async fn cli_api_command_prints_json_and_fails_readably() {
    let s = TestServer::start();
    let out = std::process::Command::new(bin())
        .args(["api", "listZones"])
        .env("TRELLIS_URL", &s.url)
        .env("TRELLIS_USERNAME", "admin")
        .env("TRELLIS_PASSWORD", ADMIN_PASSWORD)
        .env("HOME", s.dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v, serde_json::json!({}));
    let out = std::process::Command::new(bin())
        .args(["api", "createZone", "name=cli-zone", "--output", "table"])
        .env("TRELLIS_URL", &s.url)
        .env("TRELLIS_USERNAME", "admin")
        .env("TRELLIS_PASSWORD", ADMIN_PASSWORD)
        .env("HOME", s.dir.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("cli-zone") && text.lines().next().unwrap().contains("name"),
        "{text}"
    );
    let out = std::process::Command::new(bin())
        .args(["api", "createExtension", "type=Orchestrator"])
        .env("TRELLIS_URL", &s.url)
        .env("TRELLIS_USERNAME", "admin")
        .env("TRELLIS_PASSWORD", ADMIN_PASSWORD)
        .env("HOME", s.dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing parameter name"));
}

#[tokio::test]
async fn postgres_backend_serves_the_same_api() {
    let Some(url) = postgres_or_skip("PostgreSQL server test").await else {
        return;
    };
    let s = TestServer::start_with(Some(url));
    let admin = s.admin().await;
    admin
        .call("createZone", &[("name", "pg-zone")])
        .await
        .unwrap();
    assert_eq!(admin.call("listZones", &[]).await.unwrap()["count"], 1);
    let a = admin
        .call(
            "createAccount",
            &[
                ("username", "pg"),
                ("password", "pw-123456"),
                ("email", "p@example.org"),
                ("firstname", "P"),
                ("lastname", "G"),
                ("accounttype", "0"),
            ],
        )
        .await
        .unwrap();
    let r = admin
        .call(
            "deleteAccount",
            &[("id", a["account"]["id"].as_str().unwrap())],
        )
        .await
        .unwrap();
    admin
        .wait_job(
            r["jobid"].as_str().unwrap(),
            Duration::from_secs(30),
            |_| {},
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn metrics_report_each_reconciler() {
    let s = TestServer::start();
    let url = format!("http://{}/metrics", s.addr);
    let text = reqwest::get(&url).await.unwrap().text().await.unwrap();
    assert!(
        text.contains("trellis_power_sync_last_sweep_seconds "),
        "{text}"
    );
    for task in ["heartbeat", "readiness", "sweeps", "power-sync"] {
        for line in [
            format!("trellis_reconciler_last_run_timestamp_seconds{{task=\"{task}\"}} "),
            format!("trellis_reconciler_last_duration_seconds{{task=\"{task}\"}} "),
            format!("trellis_reconciler_runs_total{{task=\"{task}\",outcome=\"ok\"}} "),
            format!("trellis_reconciler_runs_total{{task=\"{task}\",outcome=\"error\"}} "),
        ] {
            assert!(text.contains(&line), "{line} missing from\n{text}");
        }
    }
    // The heartbeat ticks every 5 s; its first tick shows up as a successful run.
    wait_for(
        Duration::from_secs(30),
        "a heartbeat tick in /metrics",
        || async {
            let text = reqwest::get(&url).await.ok()?.text().await.ok()?;
            let runs = text.lines().find_map(|l| {
                l.strip_prefix("trellis_reconciler_runs_total{task=\"heartbeat\",outcome=\"ok\"} ")
            })?;
            (runs.parse::<u64>().ok()? >= 1).then_some(())
        },
    )
    .await;
}

#[tokio::test]
async fn a_huge_bad_parameter_gets_a_bounded_error() {
    let s = TestServer::start();
    let admin = s.admin().await;
    let (key, secret) = keys_of(&admin);
    let url = s.url.clone();
    tokio::task::spawn_blocking(move || {
        let huge = "z".repeat(1 << 20);
        let mut p = pairs(&[
            ("command", "listZones"),
            ("response", "json"),
            ("apiKey", &key),
            ("id", &huge),
        ]);
        let sig = sign(&p, &secret);
        p.push(("signature".into(), sig));
        let r = reqwest::blocking::Client::new()
            .post(&url)
            .form(&p)
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 431, "bad input is the caller's error");
        let description = r
            .headers()
            .get("x-description")
            .expect("the error is described")
            .len();
        assert!(
            description <= 600,
            "X-Description is bounded: {description} bytes"
        );
        let body: Value = serde_json::from_str(&r.text().unwrap()).unwrap();
        let text = body["listzonesresponse"]["errortext"].as_str().unwrap();
        assert!(
            text.len() < 2200,
            "errortext is bounded: {} bytes",
            text.len()
        );
        assert!(text.contains("id"), "the parameter is named: {text}");
        assert!(text.contains("truncated"), "{text}");
    })
    .await
    .unwrap();
}

/// Fuzzing through HTTP: random parameters (names from each command's catalog entry and beyond,
/// values at the edges) on every list command, signed as the admin. Bad input is the caller's
/// error: never a 5xx. `PROPTEST_CASES` sets the count (256 by default).
#[tokio::test]
async fn random_parameters_on_every_list_command_never_get_a_5xx() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestCaseError, TestRunner};
    let s = TestServer::start();
    let admin = s.admin().await;
    let handle = tokio::runtime::Handle::current();
    let lists: Vec<&'static trellis_api::Command> = trellis_api::catalog::COMMANDS
        .iter()
        .filter(|c| c.name.starts_with("list"))
        .collect();
    let value = prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        Just("-1".to_string()),
        Just(String::new()),
        "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
        "(true|false|maybe)",
        ".{0,40}",
    ];
    let case = (
        proptest::sample::select(lists),
        proptest::collection::vec((any::<prop::sample::Index>(), value), 0..6),
    );
    let tried = tokio::task::spawn_blocking(move || {
        let mut runner = TestRunner::new(Config::default());
        let tried = std::sync::atomic::AtomicU64::new(0);
        runner
            .run(&case, |(cmd, picks)| {
                tried.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let mut params: Vec<(String, String)> = picks
                    .into_iter()
                    .map(|(i, v)| {
                        let name = if cmd.params.is_empty() {
                            "keyword".to_string()
                        } else {
                            i.get(cmd.params).name.to_string()
                        };
                        (name, v.replace(|c: char| c.is_control(), " "))
                    })
                    .collect();
                params.dedup_by(|a, b| a.0 == b.0);
                let borrowed: Vec<(&str, &str)> = params
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                let answer = handle.block_on(admin.call(cmd.name, &borrowed));
                if let Err(e) = answer {
                    let text = e.to_string();
                    if text.contains("errorcode 5") && !text.contains("errorcode 531") {
                        return Err(TestCaseError::fail(format!(
                            "{} {params:?}: {text}",
                            cmd.name
                        )));
                    }
                }
                Ok(())
            })
            .map(|()| tried.into_inner())
    })
    .await
    .unwrap()
    .unwrap_or_else(|e| panic!("{e}"));
    eprintln!("random list calls tried: {tried}");
}

#[tokio::test]
async fn management_servers_are_listed_with_state_version_and_ready_extensions() {
    let s = TestServer::start();
    let admin = s.admin().await;
    let l = admin.call("listManagementServers", &[]).await.unwrap();
    assert_eq!(l["count"], 1);
    let me = &l["managementserver"][0];
    assert_eq!(me["state"], "Up");
    assert_eq!(me["version"], env!("CARGO_PKG_VERSION"));
    assert!(me["lastheartbeat"]
        .as_str()
        .is_some_and(|d| d.contains('T')));
    let id = me["id"].as_str().unwrap().to_string();
    let byid = admin
        .call("listManagementServers", &[("id", &id)])
        .await
        .unwrap();
    assert_eq!(byid["count"], 1);
    let none = admin
        .call("listManagementServers", &[("name", "no-such-server")])
        .await
        .unwrap();
    assert!(none.get("managementserver").is_none(), "{none}");
    // An administrator's command.
    let user = s.user(&admin, "ms-user", "0").await;
    assert_eq!(code_of(user.call("listManagementServers", &[]).await), 401);
}
