//! The `trellis` API client as a user drives it from a terminal: the real binary against a real
//! server (`trellis serve` on a free port, fresh database), with its own cache directory. Covers
//! the verb-noun forms, `filter=`, per-API help and suggestions, the output formats with nested
//! fields, the shell fed through a pipe, completion, one saved login reused across calls,
//! `logout`, custom-action failure exit status, and connection error messages.

use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};
use trellis_client::{Auth, Client};

const ADMIN_PASSWORD: &str = "cli-Secret-7";

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_trellis")
}

/// A running `trellis serve` with its own data directory, and a private cache for the CLI.
struct Server {
    child: Child,
    dir: tempfile::TempDir,
    url: String,
}

impl Server {
    fn start() -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        let no_builtins = dir.path().join("no-builtins");
        std::fs::create_dir_all(&no_builtins).unwrap();
        let log = std::fs::File::create(dir.path().join("server.log")).unwrap();
        let mut child = Command::new(bin())
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path().join("data"))
            .arg("--builtin-dir")
            .arg(&no_builtins)
            .env("TRELLIS_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("TRELLIS_LOG", "info,sqlx=warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn trellis serve");
        let mut reader = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        let addr = loop {
            line.clear();
            assert!(
                reader.read_line(&mut line).unwrap_or(0) > 0,
                "server exited before listening"
            );
            if let Some(rest) = line.trim().strip_prefix("Trellis is listening on http://") {
                break rest.to_string();
            }
        };
        std::thread::spawn(move || {
            let mut sink = String::new();
            while reader.read_line(&mut sink).unwrap_or(0) > 0 {
                sink.clear();
            }
        });
        Server {
            child,
            url: format!("http://{addr}/client/api"),
            dir,
        }
    }

    fn cache_dir(&self) -> PathBuf {
        self.dir.path().join("cache")
    }

    /// `trellis <args>` as admin with a password, as a user with TRELLIS_* set would run it.
    fn trellis(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run trellis")
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(bin());
        cmd.args(args)
            .env("TRELLIS_URL", &self.url)
            .env("TRELLIS_USERNAME", "admin")
            .env("TRELLIS_PASSWORD", ADMIN_PASSWORD)
            .env("HOME", self.dir.path())
            .env("XDG_CACHE_HOME", self.cache_dir())
            .env_remove("TRELLIS_API_KEY")
            .env_remove("TRELLIS_SECRET_KEY")
            .env_remove("TRELLIS_DOMAIN")
            .env_remove("TRELLIS_CLI_CONFIG");
        cmd
    }

    /// `trellis <args>` that must succeed; its stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.trellis(args);
        assert!(
            out.status.success(),
            "trellis {args:?} failed ({:?}): {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// `trellis <args>` (JSON output) that must succeed, parsed.
    fn json(&self, args: &[&str]) -> Value {
        let text = self.ok(args);
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
    }

    /// An API-key client for admin (its setup logs in once).
    async fn keys_client(&self) -> Client {
        let s = Client::login(&self.url, "admin", ADMIN_PASSWORD, None)
            .await
            .unwrap();
        let users = s.call("listUsers", &[("username", "admin")]).await.unwrap();
        let id = users["user"][0]["id"].as_str().unwrap().to_string();
        let keys = s.call("registerUserKeys", &[("id", &id)]).await.unwrap();
        s.logout().await.unwrap();
        Client::new(
            &self.url,
            Auth::Keys {
                api_key: keys["userkeys"]["apikey"].as_str().unwrap().into(),
                secret: keys["userkeys"]["secretkey"].as_str().unwrap().into(),
                v3: true,
            },
        )
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn stderr_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn rows(v: &Value, key: &str) -> Vec<Value> {
    v[key].as_array().cloned().unwrap_or_default()
}

#[test]
fn verb_noun_forms_find_the_api_and_api_form_is_unchanged() {
    let s = Server::start();
    // `create zone` → createZone, `list zones` → listZones, any case for the API name.
    let created = s.json(&["create", "zone", "name=vn-1", "dns1=192.0.2.53"]);
    assert_eq!(created["zone"]["name"], "vn-1");
    s.ok(&["api", "createzone", "name=vn-2"]);
    let listed = s.json(&["list", "zones", "name=vn-1"]);
    assert_eq!(listed["count"], 1, "{listed}");
    assert_eq!(listed["zone"][0]["name"], "vn-1");
    let listed = s.json(&["api", "list", "Zones"]);
    assert_eq!(listed["count"], 2, "{listed}");
    // A noun whose API name has several words: listServiceOfferings, runCustomAction.
    let offering = s.json(&[
        "create",
        "serviceoffering",
        "name=tiny",
        "cpunumber=1",
        "cpuspeed=1000",
        "memory=512",
    ]);
    assert_eq!(offering["serviceoffering"]["name"], "tiny");
    assert_eq!(
        s.json(&["list", "serviceofferings", "name=tiny"])["count"],
        1
    );
    let missing = s.trellis(&["run", "customaction", "resourceid=x"]);
    assert_eq!(missing.status.code(), Some(2), "{}", stderr_of(&missing));
    assert!(
        stderr_of(&missing).contains("customactionid"),
        "runCustomAction was called: {}",
        stderr_of(&missing)
    );
    // The original form, exactly as before.
    let v = s.json(&["api", "listZones", "name=vn-2"]);
    assert_eq!(v["zone"][0]["name"], "vn-2");
    let refused = s.trellis(&["api", "createExtension", "type=Orchestrator"]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(stderr_of(&refused).contains("missing parameter name"));
}

#[test]
fn filter_keeps_only_the_named_fields() {
    let s = Server::start();
    s.ok(&["create", "zone", "name=f-1", "dns1=192.0.2.53"]);
    s.ok(&["create", "zone", "name=f-2"]);
    let v = s.json(&["list", "zones", "filter=name,networktype"]);
    assert_eq!(v["count"], 2);
    for zone in rows(&v, "zone") {
        let keys: Vec<&String> = zone.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["name", "networktype"], "{zone}");
    }
    let csv = s.ok(&["list", "zones", "filter=id,name", "--output", "csv"]);
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("id,name"));
    assert_eq!(lines.count(), 2, "{csv}");
    // A single object (create answers) is filtered too.
    let created = s.json(&["create", "zone", "name=f-3", "filter=name"]);
    assert_eq!(created, serde_json::json!({"zone": {"name": "f-3"}}));
}

#[test]
fn help_lists_parameters_and_misspelt_names_get_suggestions() {
    let s = Server::start();
    for args in [
        &["api", "help", "createZone"][..],
        &["help", "create", "zone"],
        &["create", "zone", "--help"],
        &["api", "help", "createzone"],
    ] {
        let text = s.ok(args);
        assert!(text.starts_with("createZone\n"), "{args:?}: {text}");
        let name_line = text
            .lines()
            .find(|l| l.starts_with("name "))
            .unwrap_or_else(|| panic!("no line for parameter name: {text}"));
        let cols: Vec<&str> = name_line.split_whitespace().collect();
        assert_eq!(&cols[..3], ["name", "string", "yes"], "{name_line}");
        assert!(name_line.ends_with("the name of the Zone"), "{name_line}");
        assert!(
            text.lines()
                .any(|l| l.split_whitespace().take(3).collect::<Vec<_>>()
                    == ["dns1", "string", "no"]),
            "{text}"
        );
    }
    // `trellis help` and `trellis help serve` still show the command-line help.
    assert!(s.ok(&["help"]).contains("Usage: trellis"));
    assert!(s.ok(&["help", "serve"]).contains("--data-dir"));
    // Misspellings, in both forms.
    for (args, wanted) in [
        (&["api", "listVirtualMachine"][..], "listVirtualMachines"),
        (&["list", "virtualmachine"], "listVirtualMachines"),
        (&["list", "zone", "name=x"], "listZones"),
        (
            &["help", "deploy", "virtualmachnes"],
            "deployVirtualMachine",
        ),
    ] {
        let out = s.trellis(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = stderr_of(&out);
        assert!(
            err.contains(&format!("did you mean {wanted}")),
            "{args:?}: {err}"
        );
    }
    // A misspelt subcommand is not taken for an API.
    let out = s.trellis(&["serv", "--listen", "127.0.0.1:0"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr_of(&out).trim(),
        "error: unknown command serv: did you mean serve?"
    );
    let out = s.trellis(&["list"]);
    assert!(
        stderr_of(&out).contains("list needs a noun"),
        "{}",
        stderr_of(&out)
    );
}

#[test]
fn connection_errors_say_why() {
    // A port nothing listens on: bind, note the port, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/client/api");
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(bin())
        .args(["list", "zones"])
        .env("TRELLIS_URL", &url)
        .env("TRELLIS_USERNAME", "admin")
        .env("TRELLIS_PASSWORD", "x")
        .env("HOME", dir.path())
        .env("XDG_CACHE_HOME", dir.path())
        .env_remove("TRELLIS_API_KEY")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr_of(&out).trim(),
        format!("error: connection refused: is the server running at {url}?")
    );
    // The right server, the wrong path.
    let s = Server::start();
    let wrong = s.url.replace("/client/api", "/api");
    let out = s
        .command(&["api", "listZones"])
        .env("TRELLIS_URL", &wrong)
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0));
    assert!(
        stderr_of(&out).contains("404: the API path is /client/api"),
        "{}",
        stderr_of(&out)
    );
}

/// The number of USER.LOGIN events so far.
async fn logins(keys: &Client) -> i64 {
    let v = keys
        .call("listEvents", &[("type", "USER.LOGIN"), ("pagesize", "-1")])
        .await
        .unwrap();
    v["count"].as_i64().unwrap_or(0)
}

#[tokio::test]
async fn one_login_is_reused_until_logout() {
    use std::os::unix::fs::PermissionsExt;
    let s = Server::start();
    let keys = s.keys_client().await;
    let before = logins(&keys).await;
    s.ok(&["list", "zones"]);
    s.ok(&["create", "zone", "name=reuse"]);
    s.ok(&["api", "listZones", "--output", "table"]);
    let mut shell = s.command(&["shell"]);
    let mut child = shell
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"list zones\nlist zones name=reuse\n")
        .unwrap();
    assert!(child.wait_with_output().unwrap().status.success());
    assert_eq!(
        logins(&keys).await,
        before + 1,
        "five calls, one USER.LOGIN"
    );
    // The session is saved privately in the cache directory.
    let sessions: Vec<PathBuf> = std::fs::read_dir(s.cache_dir().join("trellis"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("session-")
        })
        .collect();
    assert_eq!(sessions.len(), 1);
    let file = &sessions[0];
    assert_eq!(
        std::fs::metadata(file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    let old = Client::resume_session(
        &s.url,
        saved["sessionkey"].as_str().unwrap(),
        saved["jsessionid"].as_str().unwrap(),
    )
    .unwrap();
    assert!(old.call("listZones", &[]).await.is_ok());
    // A session the server no longer knows: one new login, and the call still succeeds.
    let mut stale = saved.clone();
    stale["sessionkey"] = Value::String("no-such-session".into());
    std::fs::write(file, stale.to_string()).unwrap();
    assert_eq!(s.json(&["list", "zones", "name=reuse"])["count"], 1);
    assert_eq!(logins(&keys).await, before + 2);
    s.ok(&["list", "zones"]);
    assert_eq!(logins(&keys).await, before + 2);
    // logout ends the session on the server and forgets it.
    let now: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    let current = Client::resume_session(
        &s.url,
        now["sessionkey"].as_str().unwrap(),
        now["jsessionid"].as_str().unwrap(),
    )
    .unwrap();
    assert!(s.ok(&["logout"]).contains("logged out admin"));
    assert!(!file.exists());
    let after = current.call("listZones", &[]).await.unwrap_err();
    assert!(after.is_unauthorized(), "{after}");
    assert!(s.ok(&["logout"]).contains("not logged in"));
    // A shell whose session ends while it runs logs in again once.
    let mut shell = s
        .command(&["shell"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = shell.stdin.take().unwrap();
    let mut stdout = BufReader::new(shell.stdout.take().unwrap());
    let mut answer = || {
        let mut text = String::new();
        loop {
            let mut line = String::new();
            assert!(
                stdout.read_line(&mut line).unwrap() > 0,
                "shell ended: {text}"
            );
            text.push_str(&line);
            if line == "}\n" {
                return serde_json::from_str::<Value>(&text).unwrap();
            }
        }
    };
    stdin.write_all(b"list zones name=reuse\n").unwrap();
    assert_eq!(answer()["count"], 1);
    assert_eq!(logins(&keys).await, before + 3);
    assert!(s.ok(&["logout"]).contains("logged out admin"));
    // (`exit` makes a failure end the shell instead of leaving the reader waiting.)
    stdin.write_all(b"list zones name=reuse\nexit\n").unwrap();
    assert_eq!(answer()["count"], 1);
    drop(stdin);
    assert!(shell.wait().unwrap().success());
    assert_eq!(logins(&keys).await, before + 4);
    // API keys, when set, are used instead of a login.
    let Auth::Keys {
        api_key, secret, ..
    } = keys.auth().clone()
    else {
        unreachable!()
    };
    let out = s
        .command(&["list", "zones"])
        .env("TRELLIS_API_KEY", api_key)
        .env("TRELLIS_SECRET_KEY", secret)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(logins(&keys).await, before + 4);
}

#[test]
fn shell_reads_commands_from_a_pipe() {
    let s = Server::start();
    let mut child = s
        .command(&["shell"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let script = "\
# a comment
create zone name=\"shell zone\" dns1=192.0.2.53
api createZone name=plain
list zones filter=name --output csv
set output text
list zones name=plain filter=name,networktype
listVirtualMachine
help list zones
exit
list zones
";
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8(out.stdout.clone()).unwrap();
    let stderr = stderr_of(&out);
    assert!(out.status.success(), "{:?} {stderr}\n{stdout}", out.status);
    assert!(
        stdout.contains("name\nshell zone\nplain\n"),
        "csv with the quoted name: {stdout}"
    );
    assert!(
        stdout.contains("name = plain\nnetworktype = Advanced\n"),
        "text after `set output text`: {stdout}"
    );
    assert!(
        stderr.contains("did you mean listVirtualMachines?"),
        "{stderr}"
    );
    assert!(stdout.contains("showcapacities"), "help: {stdout}");
    assert!(
        !stdout.contains("trellis>"),
        "no prompt without a terminal: {stdout}"
    );
    // Nothing after `exit` ran: the last zone listing would have been JSON.
    assert!(!stdout.contains("\"count\""), "{stdout}");
}

#[test]
fn completion_scripts_complete_verbs_nouns_and_parameters() {
    let s = Server::start();
    // Candidates come from listApis (fetched once, then cached).
    let nouns = s.ok(&["__complete", "--", "list", "virt"]);
    assert_eq!(
        nouns.lines().collect::<Vec<_>>(),
        ["virtualmachines", "virtualmachinesmetrics"]
    );
    let params = s.ok(&["__complete", "--", "create", "zone", "n"]);
    assert_eq!(
        params.lines().collect::<Vec<_>>(),
        ["name=", "networktype="]
    );
    let apis = s.ok(&["__complete", "--", "api", "listVirtualM"]);
    assert_eq!(
        apis.lines().collect::<Vec<_>>(),
        ["listVirtualMachines", "listVirtualMachinesMetrics"]
    );
    assert!(s.cache_dir().join("trellis").read_dir().unwrap().any(|e| e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .starts_with("apis-")));
    // The bash script, run by bash itself.
    let bin_dir = Path::new(bin()).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("bash")
        .arg("-c")
        .arg(
            r#"source <(trellis completion bash)
COMP_LINE="trellis list zones na"; COMP_POINT=${#COMP_LINE}; _trellis; echo "${COMPREPLY[*]}"
COMP_LINE="trellis dep"; COMP_POINT=${#COMP_LINE}; _trellis; echo "${COMPREPLY[*]}"
COMP_LINE="trellis deploy "; COMP_POINT=${#COMP_LINE}; _trellis; echo "${COMPREPLY[*]}""#,
        )
        .env("PATH", &path)
        .env("TRELLIS_URL", &s.url)
        .env("TRELLIS_USERNAME", "admin")
        .env("TRELLIS_PASSWORD", ADMIN_PASSWORD)
        .env("HOME", s.dir.path())
        .env("XDG_CACHE_HOME", s.cache_dir())
        .env_remove("TRELLIS_API_KEY")
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout.clone()).unwrap();
    assert_eq!(
        text.lines().collect::<Vec<_>>(),
        ["name=", "deploy deployVirtualMachine", "virtualmachine"],
        "{}",
        stderr_of(&out)
    );
    // zsh and fish, when installed (compadd is stubbed: zsh runs it only inside a widget).
    let shell_run = |shell: &str, script: &str| -> Option<String> {
        let out = Command::new(shell)
            .arg("-c")
            .arg(script)
            .env("PATH", &path)
            .env("TRELLIS_URL", &s.url)
            .env("TRELLIS_USERNAME", "admin")
            .env("TRELLIS_PASSWORD", ADMIN_PASSWORD)
            .env("HOME", s.dir.path())
            .env("XDG_CACHE_HOME", s.cache_dir())
            .env_remove("TRELLIS_API_KEY")
            .output()
            .ok()?;
        Some(String::from_utf8(out.stdout).unwrap())
    };
    match shell_run(
        "zsh",
        r#"source <(trellis completion zsh); compadd() { print -r -- "compadd $*" }
words=(trellis list zones na); CURRENT=4; _trellis
words=(trellis deploy ""); CURRENT=3; _trellis"#,
    ) {
        Some(text) => assert_eq!(
            text.lines().collect::<Vec<_>>(),
            ["compadd -S  -- name=", "compadd -- virtualmachine"]
        ),
        None => eprintln!("zsh not installed: its completion script is not run"),
    }
    match shell_run(
        "fish",
        r#"trellis completion fish | source; complete -C "trellis list zones na"; complete -C "trellis deploy ""#,
    ) {
        Some(text) => assert_eq!(
            text.lines().collect::<Vec<_>>(),
            ["name=", "virtualmachine"]
        ),
        None => eprintln!("fish not installed: its completion script is not run"),
    }
    let zsh = s.ok(&["completion", "zsh"]);
    assert!(zsh.starts_with("#compdef trellis") && zsh.contains("trellis __complete --"));
    let fish = s.ok(&["completion", "fish"]);
    assert!(fish.contains("complete -c trellis") && fish.contains("trellis __complete --"));
}

/// An extension that succeeds at everything; custom action `Echo` prints JSON details, any
/// other action fails.
const EXTENSION: &str = r#"#!/bin/bash
case "$1" in
  create|start|stop|reboot|delete|prepare) echo '{"status":"success"}' ;;
  status) echo '{"status":"success","power_state":"poweron"}' ;;
  statuses) echo '{"status":"success","power_state":{}}' ;;
  Echo) echo '{"printmessage":"true","message":{"greeting":"hi, there"}}' ;;
  *) echo "unknown action $1" >&2; exit 1 ;;
esac
"#;

fn id_of(v: &Value, pointer: &str) -> String {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no {pointer} in {v}"))
        .to_string()
}

#[test]
fn nested_fields_in_every_format_and_failed_custom_actions_exit_non_zero() {
    use std::os::unix::fs::PermissionsExt;
    let s = Server::start();
    // Set up an External zone with the CLI itself.
    let ext = s.json(&[
        "create",
        "extension",
        "name=cli",
        "type=Orchestrator",
        "path=cli.sh",
    ]);
    let ext_id = id_of(&ext, "/extension/id");
    let script = PathBuf::from(id_of(&ext, "/extension/path"));
    std::fs::create_dir_all(script.parent().unwrap()).unwrap();
    std::fs::write(&script, EXTENSION).unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    s.ok(&[
        "update",
        "configuration",
        "name=extension.path.state.check.interval",
        "value=1",
    ]);
    let zone = id_of(
        &s.json(&["create", "zone", "name=z1", "dns1=192.0.2.53"]),
        "/zone/id",
    );
    let cluster = id_of(
        &s.json(&[
            "add",
            "cluster",
            &format!("zoneid={zone}"),
            "clustername=c1",
            "hypervisor=External",
            &format!("extensionid={ext_id}"),
        ]),
        "/cluster/0/id",
    );
    s.ok(&[
        "add",
        "host",
        &format!("zoneid={zone}"),
        &format!("clusterid={cluster}"),
        "url=host-1",
        "hypervisor=External",
        "username=External",
        "password=External",
    ]);
    let offering = id_of(
        &s.json(&[
            "create",
            "serviceoffering",
            "name=tiny",
            "cpunumber=1",
            "cpuspeed=1000",
            "memory=512",
        ]),
        "/serviceoffering/id",
    );
    let template = id_of(
        &s.json(&[
            "register",
            "template",
            "name=tmpl",
            "format=External",
            "hypervisor=External",
            "url=http://dummy",
            &format!("zoneid={zone}"),
            &format!("extensionid={ext_id}"),
        ]),
        "/template/0/id",
    );
    let l2 = id_of(
        &s.json(&["list", "networkofferings", "guestiptype=L2"]),
        "/networkoffering/0/id",
    );
    let network = id_of(
        &s.json(&[
            "create",
            "network",
            "name=l2",
            &format!("networkofferingid={l2}"),
            &format!("zoneid={zone}"),
            "vlan=1234",
        ]),
        "/network/id",
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while s.json(&["list", "extensions", &format!("id={ext_id}")])["extension"][0]["pathready"]
        != true
    {
        assert!(Instant::now() < deadline, "extension never became ready");
        std::thread::sleep(Duration::from_millis(200));
    }
    // deploy waits for the job and prints the instance with its NIC list.
    let vm = s.json(&[
        "deploy",
        "virtualmachine",
        &format!("zoneid={zone}"),
        &format!("serviceofferingid={offering}"),
        &format!("templateid={template}"),
        &format!("networkids={network}"),
        "name=vm1",
    ]);
    let vm_id = id_of(&vm, "/virtualmachine/id");
    let nic = vm["virtualmachine"]["nic"].clone();
    assert_eq!(nic.as_array().map(Vec::len), Some(1), "{vm}");
    let nic_json = nic.to_string();
    // table: the nic column holds the list as compact JSON.
    let table = s.ok(&["list", "virtualmachines", "--output", "table"]);
    let header = table.lines().next().unwrap();
    assert!(header.split_whitespace().any(|c| c == "nic"), "{header}");
    assert!(table.contains(&nic_json), "{table}");
    // csv: quoted per RFC 4180, and the nested value parses back.
    let csv = s.ok(&[
        "list",
        "virtualmachines",
        "filter=name,nic",
        "--output",
        "csv",
    ]);
    let expected = format!("name,nic\nvm1,\"{}\"\n", nic_json.replace('"', "\"\""));
    assert_eq!(csv, expected);
    // text
    let text = s.ok(&["list", "virtualmachines", "filter=nic", "--output", "text"]);
    assert_eq!(text, format!("nic = {nic_json}\n"));
    // A custom action that succeeds: result.details kept in csv and json.
    let echo = id_of(
        &s.json(&[
            "add",
            "customaction",
            &format!("extensionid={ext_id}"),
            "name=Echo",
            "enabled=true",
        ]),
        "/extensioncustomaction/id",
    );
    let args = [
        "run".to_string(),
        "customaction".into(),
        format!("customactionid={echo}"),
        format!("resourceid={vm_id}"),
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let ran = s.json(&args);
    assert_eq!(ran["customactionresult"]["success"], true);
    let details = ran["customactionresult"]["result"]["details"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(details.contains("hi, there"), "{ran}");
    let mut csv_args = args.clone();
    csv_args.extend(["filter=name,success,result", "--output", "csv"]);
    let csv = s.ok(&csv_args);
    let result_json = ran["customactionresult"]["result"].to_string();
    assert_eq!(
        csv,
        format!(
            "name,success,result\nEcho,true,\"{}\"\n",
            result_json.replace('"', "\"\"")
        )
    );
    // A custom action whose extension fails: success=false, shown, and exit status 3.
    let broken = id_of(
        &s.json(&[
            "add",
            "customaction",
            &format!("extensionid={ext_id}"),
            "name=Broken",
            "enabled=true",
            "errormessage=Failed {{actionName}}",
        ]),
        "/extensioncustomaction/id",
    );
    let out = s.trellis(&[
        "run",
        "customaction",
        &format!("customactionid={broken}"),
        &format!("resourceid={vm_id}"),
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr_of(&out));
    let shown: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shown["customactionresult"]["success"], false);
    assert_eq!(
        stderr_of(&out).trim(),
        "error: custom action Broken failed: Failed Broken"
    );
}
