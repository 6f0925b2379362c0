//! What a new operator meets in the first hour (issue 17): extension paths that say where they
//! must be and are never filled with the scaffold behind the user's back, upstream's optional
//! `id` of the delete commands, a first start on a busy port that keeps the admin password, the
//! offline password reset, `addHost` credentials delivered to the extension.

use super::*;

#[tokio::test]
async fn extension_paths_name_the_directory_and_are_never_scaffolded_when_given() {
    let s = TestServer::start();
    let c = s.admin().await;
    let root = s.extensions_dir().canonicalize().unwrap();
    let text = text_of(
        c.call(
            "createExtension",
            &[
                ("name", "outside"),
                ("type", "Orchestrator"),
                ("path", "/opt/mine/run.sh"),
            ],
        )
        .await,
    );
    assert!(
        text.contains("outside the extensions directory")
            && (text.contains(&root.display().to_string())
                || text.contains(&s.extensions_dir().display().to_string())),
        "the refusal names the extensions directory: {text}"
    );

    // A given path with no file behind it: registered, not ready, and nothing written there.
    let e = c
        .call(
            "createExtension",
            &[
                ("name", "mine"),
                ("type", "Orchestrator"),
                ("path", "mine/run.sh"),
            ],
        )
        .await
        .unwrap()["extension"]
        .clone();
    let path = std::path::PathBuf::from(e["path"].as_str().unwrap());
    assert!(path.ends_with("mine/run.sh"), "{path:?}");
    assert_eq!(e["pathready"], false, "a missing file is not ready");
    assert!(!path.exists(), "no scaffold written at the user's path");
    // Adding a host (which prepares the path) does not write it either.
    let zone = c
        .call("createZone", &[("name", "z-mine"), ("dns1", "192.0.2.53")])
        .await
        .unwrap()["zone"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let cluster = c
        .call(
            "addCluster",
            &[
                ("zoneid", &zone),
                ("clustername", "c-mine"),
                ("hypervisor", "External"),
                ("extensionid", e["id"].as_str().unwrap()),
            ],
        )
        .await
        .unwrap()["cluster"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let _ = c
        .call(
            "addHost",
            &[
                ("zoneid", &zone),
                ("clusterid", &cluster),
                ("url", "h-mine"),
                ("hypervisor", "External"),
            ],
        )
        .await;
    assert!(!path.exists(), "addHost does not scaffold a given path");
    // Once the user puts their script there, it becomes ready.
    write_script(&path, "#!/bin/sh\necho '{}'\n");
    c.call(
        "updateConfiguration",
        &[
            ("name", "extension.path.state.check.interval"),
            ("value", "1"),
        ],
    )
    .await
    .unwrap();
    let id = e["id"].as_str().unwrap().to_string();
    wait_for(Duration::from_secs(20), "pathready", || {
        let c = c.clone();
        let id = id.clone();
        async move {
            (c.call("listExtensions", &[("id", &id)]).await.ok()?["extension"][0]["pathready"]
                == true)
                .then_some(())
        }
    })
    .await;
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "#!/bin/sh\necho '{}'\n",
        "the user's file is untouched"
    );

    // Without a path the default script is still scaffolded and ready.
    let d = c
        .call(
            "createExtension",
            &[("name", "plain"), ("type", "Orchestrator")],
        )
        .await
        .unwrap()["extension"]
        .clone();
    assert_eq!(d["pathready"], true);
    assert!(std::path::Path::new(d["path"].as_str().unwrap()).is_file());
}

#[tokio::test]
async fn delete_commands_have_an_optional_id_as_upstream() {
    let s = TestServer::start();
    let c = s.admin().await;
    let apis = c.call("listApis", &[]).await.unwrap();
    for name in ["deleteExtension", "deleteCustomAction"] {
        let api = apis["api"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["name"] == name)
            .unwrap_or_else(|| panic!("{name} listed"));
        let id = api["params"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "id")
            .unwrap_or_else(|| panic!("{name} has id"));
        assert_eq!(id["required"], false, "{name} id is optional upstream");
        // Without it: a clear 431 naming the parameter.
        let r = c.call(name, &[]).await;
        let text = text_of(c.call(name, &[]).await);
        assert_eq!(code_of(r), 431, "{name}");
        assert!(text.contains("id"), "{name}: {text}");
    }
}

/// Run `trellis serve` on `listen` with no TRELLIS_ADMIN_PASSWORD; return its stdout up to the
/// listening line (or all of it when it exits), and the child when it is serving.
#[expect(
    clippy::zombie_processes,
    reason = "the serving child is returned to the caller, which stops and waits for it"
)]
fn serve_without_password(
    data_dir: &Path,
    listen: &str,
    log: &Path,
) -> (String, Option<std::process::Child>) {
    let no_builtins = data_dir.with_extension("no-builtins");
    std::fs::create_dir_all(&no_builtins).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_trellis"))
        .args(["serve", "--listen", listen, "--data-dir"])
        .arg(data_dir)
        .arg("--builtin-dir")
        .arg(&no_builtins)
        .env_remove("TRELLIS_ADMIN_PASSWORD")
        .env("TRELLIS_LOG", "info,sqlx=warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::from(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(log)
                .unwrap(),
        ))
        .spawn()
        .unwrap();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut out = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            let _ = child.wait();
            return (out, None);
        }
        out.push_str(&line);
        // The last line of the banner; any password lines come before it.
        if line.contains("New here?") {
            std::thread::spawn(move || {
                let mut sink = String::new();
                while reader.read_line(&mut sink).unwrap_or(0) > 0 {
                    sink.clear();
                }
            });
            return (out, Some(child));
        }
    }
}

fn stop(mut child: std::process::Child) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let _ = child.wait();
}

fn trellis_admin(args: &[&str], stdin: Option<&str>) -> std::process::Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_trellis"))
        .arg("admin")
        .args(args)
        .env_remove("TRELLIS_DATA_DIR")
        .env_remove("TRELLIS_DATABASE_URL")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

fn url_of(stdout: &str) -> String {
    let addr = stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("Trellis is listening on http://"))
        .expect("listening line");
    format!("http://{addr}/client/api")
}

fn password_of(stdout: &str) -> Option<String> {
    stdout.lines().find_map(|l| {
        l.split_once("with password: ")
            .map(|(_, p)| p.trim().to_string())
    })
}

#[tokio::test]
async fn a_first_start_on_a_busy_port_keeps_the_admin_password() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log = dir.path().join("server.log");
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy_addr = busy.local_addr().unwrap().to_string();
    let (out, child) = serve_without_password(&data, &busy_addr, &log);
    assert!(child.is_none(), "the port is in use: {out}");
    assert!(
        std::fs::read_to_string(&log)
            .unwrap()
            .contains("cannot bind"),
        "{out}"
    );
    drop(busy);
    // The next start is still the first: the password is generated and shown now.
    let (out, child) = serve_without_password(&data, "127.0.0.1:0", &log);
    let child = child.unwrap_or_else(|| panic!("serving: {out}"));
    let password = password_of(&out).unwrap_or_else(|| {
        panic!("the generated password is shown on the start that binds: {out}")
    });
    assert!(out.contains("trellis admin reset-password"), "{out}");
    Client::login(&url_of(&out), "admin", &password, None)
        .await
        .expect("the shown password logs in");
    stop(child);
}

#[tokio::test]
async fn an_ignored_admin_password_is_warned_about() {
    let mut s = TestServer::start();
    s.terminate();
    s.restart();
    wait_for(Duration::from_secs(20), "warning in the log", || {
        let logs = s.logs();
        async move {
            logs.contains("TRELLIS_ADMIN_PASSWORD is set but the admin account already exists")
                .then_some(())
        }
    })
    .await;
    // Still the first password: the variable changed nothing.
    s.admin_session().await;
}

#[tokio::test]
async fn admin_reset_password_works_offline_and_refuses_while_serving() {
    let mut s = TestServer::start();
    let data = s.data_dir();
    let data_arg = data.to_str().unwrap();
    // While the server runs on this SQLite database: refused, nothing changed.
    let refused = trellis_admin(
        &["reset-password", "--data-dir", data_arg, "--password-stdin"],
        Some("other-Pass-1\n"),
    );
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("in use by another Trellis server"),
        "{stderr}"
    );
    s.admin_session().await;
    // Wrong passwords lock the admin out (incorrect.login.attempts.allowed, 5): the offline
    // reset below is the way back in.
    for _ in 0..5 {
        assert!(Client::login(&s.url, "admin", "wrong", None).await.is_err());
    }
    assert!(Client::login(&s.url, "admin", ADMIN_PASSWORD, None)
        .await
        .is_err());
    // A data directory with no database says so.
    let nowhere = trellis_admin(
        &["reset-password", "--data-dir", "/nonexistent/trellis-data"],
        None,
    );
    assert!(!nowhere.status.success());
    assert!(String::from_utf8_lossy(&nowhere.stderr).contains("no database at"));

    s.terminate();
    let taken = trellis_admin(
        &["reset-password", "--data-dir", data_arg, "--password-stdin"],
        Some("new-Pass-42\n"),
    );
    assert!(
        taken.status.success(),
        "{}",
        String::from_utf8_lossy(&taken.stderr)
    );
    s.restart();
    assert!(Client::login(&s.url, "admin", ADMIN_PASSWORD, None)
        .await
        .is_err());
    Client::login(&s.url, "admin", "new-Pass-42", None)
        .await
        .expect("the password given on stdin logs in");

    s.terminate();
    let generated = trellis_admin(&["reset-password", "--data-dir", data_arg], None);
    assert!(generated.status.success());
    let stdout = String::from_utf8_lossy(&generated.stdout).to_string();
    let password = stdout
        .trim()
        .rsplit_once("reset to: ")
        .map(|(_, p)| p.to_string())
        .unwrap_or_else(|| panic!("{stdout}"));
    s.restart();
    Client::login(&s.url, "admin", &password, None)
        .await
        .expect("the printed password logs in");
}
