//! Tenant isolation: what an ordinary account can feed an extension. Two user accounts and an
//! admin against a real server and a bash extension that records its payloads and, on demand,
//! prints them (as an extension that dumps its payload on failure would).

use super::*;
use std::path::PathBuf;

const DUMPER: &str = r#"#!/bin/bash
here="$(cd "$(dirname "$0")" && pwd)"
action=$1; payload=$2
mkdir -p "$here/rec" "$here/state"
name=$(grep -o '"virtualmachinename":"[^"]*"' "$payload" | head -n 1 | sed 's/.*:"//; s/"$//')
cp "$payload" "$here/rec/$(date +%s%N)-$action-$name.json"
[ -f "$here/$action.dump-fail" ] && { cat "$payload"; cat "$payload" >&2; exit 1; }
case "$action" in
  prepare) echo '{}' ;;
  create|start|reboot) echo poweron > "$here/state/$name"; echo '{"status":"success"}' ;;
  stop) echo poweroff > "$here/state/$name"; echo '{"status":"success"}' ;;
  delete) rm -f "$here/state/$name"; echo '{"status":"success"}' ;;
  status)
    if [ -f "$here/state/$name" ]; then echo "{\"status\":\"success\",\"power_state\":\"$(cat "$here/state/$name")\"}"; else echo '{"power_state":"unknown"}'; fi ;;
  statuses)
    out=""; for f in "$here"/state/*; do [ -f "$f" ] || continue; [ -n "$out" ] && out="$out,"; out="$out\"$(basename "$f")\":\"$(cat "$f")\""; done
    echo "{\"status\":\"success\",\"power_state\":{$out}}" ;;
  DumpFail) cat "$payload"; cat "$payload" >&2; exit 1 ;;
  DumpOk) cat "$payload" ;;
  *) echo "unknown action $action" >&2; exit 1 ;;
esac
"#;

pub(super) const EXTENSION_PASSWORD: &str = "Adm1n-Extension-Pass";
pub(super) const HOST_TOKEN: &str = "host-token-0123456789";
pub(super) const MAP_SECRET: &str = "cluster-secret-ABCDEF";

pub(super) struct Env {
    pub(super) s: TestServer,
    pub(super) admin: Client,
    pub(super) ext_id: String,
    pub(super) dir: PathBuf,
    pub(super) zone: String,
    pub(super) offering: String,
    /// Public, registered by the admin, with `External:template_id=9000`.
    pub(super) template: String,
    pub(super) a: Client,
    pub(super) b: Client,
}

fn id(v: &Value) -> String {
    v["id"].as_str().expect("an id").to_string()
}

pub(super) async fn setup() -> Env {
    let s = TestServer::start();
    let admin = s.admin().await;
    let e = admin
        .call(
            "createExtension",
            &[
                ("name", "dumper"),
                ("type", "Orchestrator"),
                ("path", "dumper.sh"),
                ("orchestratorrequirespreparevm", "false"),
                ("details[0].url", "https://orchestrator.example"),
                ("details[0].password", EXTENSION_PASSWORD),
            ],
        )
        .await
        .unwrap()["extension"]
        .clone();
    let path = PathBuf::from(e["path"].as_str().unwrap());
    write_script(&path, DUMPER);
    let ext_id = id(&e);
    admin
        .call(
            "updateConfiguration",
            &[
                ("name", "extension.path.state.check.interval"),
                ("value", "1"),
            ],
        )
        .await
        .unwrap();
    let zone = id(&admin
        .call("createZone", &[("name", "z1"), ("dns1", "192.0.2.53")])
        .await
        .unwrap()["zone"]);
    let cluster = id(&admin
        .call(
            "addCluster",
            &[
                ("zoneid", &zone),
                ("clustername", "c1"),
                ("hypervisor", "External"),
                ("extensionid", &ext_id),
                ("externaldetails[0].region", "eu"),
                ("externaldetails[1].api_secret", MAP_SECRET),
            ],
        )
        .await
        .unwrap()["cluster"][0]);
    admin
        .call(
            "addHost",
            &[
                ("zoneid", &zone),
                ("clusterid", &cluster),
                ("url", "host-1"),
                ("hypervisor", "External"),
                ("username", "External"),
                ("password", "External"),
                ("externaldetails[0].node", "n1"),
                ("externaldetails[1].token", HOST_TOKEN),
            ],
        )
        .await
        .unwrap();
    let offering = id(&admin
        .call(
            "createServiceOffering",
            &[
                ("name", "tiny"),
                ("cpunumber", "1"),
                ("cpuspeed", "1000"),
                ("memory", "512"),
                ("externaldetails[0].storage", "fast"),
            ],
        )
        .await
        .unwrap()["serviceoffering"]);
    let template = id(&admin
        .call(
            "registerTemplate",
            &[
                ("name", "official"),
                ("format", "EXTERNAL"),
                ("hypervisor", "External"),
                ("url", "http://dummy"),
                ("zoneid", &zone),
                ("ispublic", "true"),
                ("extensionid", &ext_id),
                ("externaldetails[0].template_id", "9000"),
            ],
        )
        .await
        .unwrap()["template"][0]);
    let dir = path.parent().unwrap().to_path_buf();
    let a = s.user(&admin, "alice", "0").await;
    let b = s.user(&admin, "bob", "0").await;
    let probe = admin.clone();
    let ext = ext_id.clone();
    wait_for(Duration::from_secs(20), "extension ready", || {
        let c = probe.clone();
        let ext = ext.clone();
        async move {
            (c.call("listExtensions", &[("id", &ext)]).await.ok()?["extension"][0]["pathready"]
                == true)
                .then_some(())
        }
    })
    .await;
    Env {
        s,
        admin,
        ext_id,
        dir,
        zone,
        offering,
        template,
        a,
        b,
    }
}

impl Env {
    /// A deploy as `who` of the public template that is expected to be refused in the request.
    pub(super) async fn try_deploy(
        &self,
        who: &Client,
        name: &str,
    ) -> Result<Value, trellis_client::ClientError> {
        who.call(
            "deployVirtualMachine",
            &[
                ("zoneid", self.zone.as_str()),
                ("serviceofferingid", self.offering.as_str()),
                ("templateid", self.template.as_str()),
                ("name", name),
            ],
        )
        .await
    }

    /// Deploy as `who` with extra parameters; the finished job's VM.
    pub(super) async fn deploy(
        &self,
        who: &Client,
        name: &str,
        template: &str,
        extra: &[(&str, &str)],
    ) -> Result<Value, trellis_client::ClientError> {
        let mut params = vec![
            ("zoneid", self.zone.as_str()),
            ("serviceofferingid", self.offering.as_str()),
            ("templateid", template),
            ("name", name),
        ];
        params.extend_from_slice(extra);
        let r = who.call("deployVirtualMachine", &params).await?;
        who.wait_job(
            r["jobid"].as_str().unwrap(),
            Duration::from_secs(120),
            |_| {},
        )
        .await
        .map(|v| v["virtualmachine"].clone())
    }

    pub(super) async fn run(
        &self,
        who: &Client,
        cmd: &str,
        params: &[(&str, &str)],
    ) -> Result<Value, trellis_client::ClientError> {
        let r = who.call(cmd, params).await?;
        who.wait_job(
            r["jobid"].as_str().unwrap(),
            Duration::from_secs(120),
            |_| {},
        )
        .await
    }

    /// The `create` payloads recorded, all of them or those of one instance (internal name).
    fn created(&self, instance_name: Option<&str>) -> Vec<Value> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.dir.join("rec"))
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        files.sort();
        files
            .into_iter()
            .filter(|p| {
                let f = p.file_name().unwrap().to_string_lossy().to_string();
                f.contains("-create-")
                    && instance_name.is_none_or(|n| f.ends_with(&format!("-{n}.json")))
            })
            .map(|p| serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap())
            .collect()
    }

    async fn template_names(&self, who: &Client, filter: &str) -> Vec<String> {
        let r = who
            .call("listTemplates", &[("templatefilter", filter)])
            .await
            .unwrap();
        r["template"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_string())
            .collect()
    }

    async fn set_user_settable(&self, keys: &str) {
        self.admin
            .call(
                "updateExtension",
                &[
                    ("id", &self.ext_id),
                    ("details[0].url", "https://orchestrator.example"),
                    ("details[0].password", EXTENSION_PASSWORD),
                    ("details[0].user.settable.details", keys),
                ],
            )
            .await
            .unwrap();
    }
}

fn register<'a>(name: &'a str, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut p = vec![
        ("name", name),
        ("format", "EXTERNAL"),
        ("hypervisor", "External"),
        ("url", "http://dummy"),
    ];
    p.extend_from_slice(extra);
    p
}

#[tokio::test(flavor = "multi_thread")]
async fn templates_are_private_featured_is_admin_only_and_binding_is_the_admins() {
    let env = setup().await;
    // Binding a template to an extension is the admin's decision.
    let bound = env
        .b
        .call(
            "registerTemplate",
            &register("mine", &[("extensionid", &env.ext_id)]),
        )
        .await;
    let err = text_of(bound);
    assert!(err.contains("allow.user.template.extension"), "{err}");
    // External details on a tenant's template follow the deploy-time rule (none settable here).
    let with_details = env
        .b
        .call(
            "registerTemplate",
            &register("mine", &[("externaldetails[0].template_id", "105")]),
        )
        .await;
    let err = text_of(with_details);
    assert!(err.contains("'template_id'"), "{err}");
    // Featured needs an admin; public needs the admin's setting.
    let featured = env
        .b
        .call(
            "registerTemplate",
            &register("mine", &[("isfeatured", "true")]),
        )
        .await;
    assert_eq!(code_of(featured), 531);
    let public = env
        .b
        .call(
            "registerTemplate",
            &register("mine", &[("ispublic", "true")]),
        )
        .await;
    match public {
        Err(trellis_client::ClientError::Api { code, text, .. }) => {
            assert_eq!(code, 431, "{text}");
            assert!(text.contains("allow.public.user.templates"), "{text}");
        }
        other => panic!("expected a 431, got {other:?}"),
    }
    // Nothing was registered by the refused calls.
    assert!(env.template_names(&env.b, "self").await.is_empty());

    // B's lookalike template is private: A sees it under no filter.
    env.b
        .call("registerTemplate", &register("official-ubuntu", &[]))
        .await
        .unwrap();
    for filter in [
        "executable",
        "featured",
        "community",
        "self",
        "selfexecutable",
        "sharedexecutable",
    ] {
        let names = env.template_names(&env.a, filter).await;
        assert!(
            !names.contains(&"official-ubuntu".to_string()),
            "A sees B's private template under {filter}: {names:?}"
        );
    }
    assert_eq!(
        env.template_names(&env.a, "executable").await,
        vec!["official"]
    );
    assert_eq!(
        env.template_names(&env.b, "self").await,
        vec!["official-ubuntu"]
    );
    assert!(env
        .template_names(&env.admin, "all")
        .await
        .contains(&"official-ubuntu".to_string()));
    assert_eq!(
        code_of(
            env.a
                .call("listTemplates", &[("templatefilter", "all")])
                .await
        ),
        431
    );
    assert_eq!(
        code_of(
            env.a
                .call("listTemplates", &[("templatefilter", "mine")])
                .await
        ),
        431
    );
    // A cannot deploy B's private template.
    let private = env
        .b
        .call("listTemplates", &[("templatefilter", "self")])
        .await
        .unwrap();
    let b_template = id(&private["template"][0]);
    assert_eq!(
        code_of(env.deploy(&env.a, "steal", &b_template, &[]).await),
        531
    );
    // Counts follow visibility (the filter is applied before paging).
    let page = env
        .a
        .call(
            "listTemplates",
            &[
                ("templatefilter", "executable"),
                ("page", "1"),
                ("pagesize", "1"),
            ],
        )
        .await
        .unwrap();
    assert_eq!(page["count"], 1);

    // With the admin's leave, a public user template is seen by others (community, not featured).
    env.admin
        .call(
            "updateConfiguration",
            &[("name", "allow.public.user.templates"), ("value", "true")],
        )
        .await
        .unwrap();
    env.b
        .call(
            "registerTemplate",
            &register("b-shared", &[("ispublic", "true")]),
        )
        .await
        .unwrap();
    assert!(env
        .template_names(&env.a, "community")
        .await
        .contains(&"b-shared".to_string()));
    assert!(!env
        .template_names(&env.a, "featured")
        .await
        .contains(&"b-shared".to_string()));
    // The admin still registers bound templates with details, featured ones included.
    env.admin
        .call(
            "registerTemplate",
            &register(
                "admin-featured",
                &[
                    ("extensionid", &env.ext_id),
                    ("isfeatured", "true"),
                    ("ispublic", "true"),
                    ("externaldetails[0].template_id", "9001"),
                ],
            ),
        )
        .await
        .unwrap();
    assert_eq!(
        env.template_names(&env.a, "featured").await,
        vec!["admin-featured"]
    );
    drop(env.s);
}

#[tokio::test(flavor = "multi_thread")]
async fn tenants_set_only_declared_keys_and_never_override_the_admin() {
    let env = setup().await;
    let vm_a = env
        .deploy(&env.a, "vm-a", &env.template, &[])
        .await
        .unwrap();
    assert_eq!(vm_a["state"], "Running");
    // B's deploy-time override of an admin key: refused before anything runs, key named.
    for (param, key) in [
        ("externaldetails[0].template_id", "template_id"),
        ("details[0].External:template_id", "template_id"),
        ("externaldetails[0].node", "node"),
    ] {
        let r = env
            .deploy(&env.b, "vm-b", &env.template, &[(param, "105")])
            .await;
        let text = text_of(r);
        assert!(text.contains(&format!("'{key}'")), "{param}: {text}");
        assert!(text.contains("user-settable"), "{param}: {text}");
    }
    assert_eq!(
        env.created(None).len(),
        1,
        "a refused deploy reached the extension"
    );
    let listed = env.b.call("listVirtualMachines", &[]).await.unwrap();
    assert_eq!(listed["count"].as_i64().unwrap_or(0), 0, "{listed}");

    // Declared user-settable: accepted and delivered; still never over an admin level.
    env.set_user_settable("flavor, template_id, node, storage")
        .await;
    let ok = env
        .deploy(
            &env.b,
            "vm-b",
            &env.template,
            &[("externaldetails[0].flavor", "gold")],
        )
        .await
        .unwrap();
    assert_eq!(ok["state"], "Running");
    let created = env.created(ok["instancename"].as_str());
    assert_eq!(
        created[0]["externaldetails"]["virtualmachine"]["flavor"], "gold",
        "{}",
        created[0]
    );
    for (key, level) in [
        ("template_id", "template"),
        ("node", "host"),
        ("storage", "service offering"),
    ] {
        let param = format!("externaldetails[0].{key}");
        let text = text_of(
            env.deploy(&env.b, "vm-b2", &env.template, &[(param.as_str(), "105")])
                .await,
        );
        assert!(
            text.contains(&format!("'{key}' ({level})")) && text.contains("cannot be overridden"),
            "{key}: {text}"
        );
    }
    // updateVirtualMachine details cannot smuggle an External: key either.
    let vm_b = id(&ok);
    let smuggle = env
        .b
        .call(
            "updateVirtualMachine",
            &[("id", &vm_b), ("details[0].External:template_id", "105")],
        )
        .await;
    assert!(text_of(smuggle).contains("'template_id'"));
    let smuggle = env
        .b
        .call(
            "updateVirtualMachine",
            &[("id", &vm_b), ("details[0].External:password", "x")],
        )
        .await;
    assert_eq!(code_of(smuggle), 431);
    // The admin may still override at deploy time.
    let admin_vm = env
        .deploy(
            &env.admin,
            "vm-admin",
            &env.template,
            &[("externaldetails[0].template_id", "9002")],
        )
        .await
        .unwrap();
    assert_eq!(admin_vm["state"], "Running");
    assert_eq!(
        env.created(admin_vm["instancename"].as_str())[0]["externaldetails"]["virtualmachine"]
            ["template_id"],
        "9002"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn extension_output_shown_to_users_never_carries_secrets() {
    let env = setup().await;
    let vm = env
        .deploy(&env.a, "vm-a", &env.template, &[])
        .await
        .unwrap();
    let vmid = id(&vm);
    let mut actions = Vec::new();
    for name in ["DumpFail", "DumpOk"] {
        let a = env
            .admin
            .call(
                "addCustomAction",
                &[
                    ("extensionid", &env.ext_id),
                    ("name", name),
                    ("enabled", "true"),
                    ("allowedroletypes", "User"),
                    ("details[0].action_token", "action-token-XYZ123"),
                    ("parameters[0].name", "newpw"),
                    ("parameters[0].type", "STRING"),
                    ("parameters[0].validationformat", "PASSWORD"),
                ],
            )
            .await
            .unwrap();
        actions.push(id(&a["extensioncustomaction"]));
    }
    let secrets = [
        EXTENSION_PASSWORD,
        HOST_TOKEN,
        MAP_SECRET,
        "action-token-XYZ123",
        "Param-Pass-123",
    ];
    for aid in &actions {
        let r = env
            .run(
                &env.a,
                "runCustomAction",
                &[
                    ("customactionid", aid),
                    ("resourceid", &vmid),
                    ("parameters[0].newpw", "Param-Pass-123"),
                ],
            )
            .await
            .unwrap();
        let shown = r.to_string();
        // The extension did print its whole payload: the masks prove the secrets were there.
        assert!(shown.contains("******"), "{shown}");
        assert!(shown.contains("orchestrator.example"), "{shown}");
        for s in secrets {
            assert!(!shown.contains(s), "{s} leaked to the user: {shown}");
        }
    }
    // The payloads the extension received did carry them (so the check above can fail).
    let rec = std::fs::read_dir(env.dir.join("rec")).unwrap();
    let dumped: String = rec
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains("-DumpFail-"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .collect();
    for s in secrets {
        assert!(dumped.contains(s), "{s} not in the payload");
    }
    // A lifecycle failure's text (the job error) is masked too.
    std::fs::write(env.dir.join("stop.dump-fail"), "").unwrap();
    let failed = env
        .run(&env.a, "stopVirtualMachine", &[("id", &vmid)])
        .await;
    let text = text_of(failed);
    assert!(text.contains("******"), "{text}");
    for s in secrets.iter().take(3) {
        assert!(!text.contains(s), "{s} leaked in the failed job: {text}");
    }
    // Events and async job listings shown to the user do not carry them either.
    let jobs = env.a.call("listAsyncJobs", &[]).await.unwrap().to_string();
    for s in secrets {
        assert!(!jobs.contains(s), "{s} leaked in listAsyncJobs: {jobs}");
    }
}
