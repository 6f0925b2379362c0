//! Extension files kept in the database: every server writes them, a hand change is taken as the
//! stored copy on a lone server and reported with several, `syncExtension` takes a server's files
//! to all the others, `deleteExtension cleanup=true` removes them everywhere, and
//! `importExtension` takes a manifest and an archive over HTTP, checked against its SHA-256.

use super::*;
use std::collections::HashMap;
use std::io::{Read as _, Write as _};
use std::sync::{Arc, Mutex};

/// A static HTTP/1.1 server on loopback: the files it serves can be changed while it runs.
struct Files {
    base: String,
    files: Arc<Mutex<HashMap<String, Vec<u8>>>>,
}

impl Files {
    fn serve() -> Files {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let files: Arc<Mutex<HashMap<String, Vec<u8>>>> = Arc::default();
        let served = files.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut buf = [0u8; 8192];
                let n = stream.read(&mut buf).unwrap_or(0);
                let request = String::from_utf8_lossy(&buf[..n]).to_string();
                let path = request.split_whitespace().nth(1).unwrap_or("/").to_string();
                let body = served.lock().unwrap().get(&path).cloned();
                let head = match &body {
                    Some(b) => format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        b.len()
                    ),
                    None => {
                        "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                            .to_string()
                    }
                };
                let _ = stream.write_all(head.as_bytes());
                if let Some(b) = body {
                    let _ = stream.write_all(&b);
                }
            }
        });
        Files { base, files }
    }

    fn put(&self, path: &str, body: impl Into<Vec<u8>>) {
        self.files
            .lock()
            .unwrap()
            .insert(path.to_string(), body.into());
    }
}

/// A zip archive laid out as GitHub's (everything under one top-level folder).
fn archive(entries: &[(&str, &[u8], u32)]) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    {
        let mut zip = zip::ZipWriter::new(&mut out);
        for (name, content, mode) in entries {
            let options = zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Stored)
                .unix_permissions(*mode);
            zip.start_file(*name, options).unwrap();
            zip.write_all(content).unwrap();
        }
        zip.finish().unwrap();
    }
    out.into_inner()
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    format!("{:x}", sha2::Sha256::digest(bytes))
}

const ENTRY: &[u8] = b"#!/bin/sh\ncase \"$1\" in status) echo '{\"status\":\"success\",\"power_state\":\"poweron\"}';; *) echo '{\"status\":\"success\"}';; esac\n";

fn manifest(name: &str, base: &str, sha: Option<&str>, extra_action: &str) -> String {
    let sha = sha.map(|s| format!("  sha256: {s}\n")).unwrap_or_default();
    format!(
        "apiVersion: v1\nkind: Extension\nmetadata:\n  name: {name}\n  description: Imported for the test\nsource:\n  type: git\n  url: {base}/repo/\n  refs: main\n{sha}spec:\n  type: Orchestrator\n  entrypoint:\n    language: shell\n    path: bin/entry.sh\n  orchestrator:\n    requiresPrepareVm: false\n  details:\n    region: eu\n  customActions:\n    - name: Snap\n      description: Take a snapshot\n      resourcetype: VirtualMachine\n      timeout: 30\n      allowedroletypes: [Admin, User]\n      parameters:\n        - name: label\n          type: STRING\n          required: true\n{extra_action}"
    )
}

async fn extension_named(c: &Client, name: &str) -> Option<Value> {
    let l = c.call("listExtensions", &[("name", name)]).await.unwrap();
    l["extension"].as_array().and_then(|a| a.first().cloned())
}

#[tokio::test]
async fn import_checks_the_archive_and_creates_everything_or_nothing() {
    let s = TestServer::start();
    let c = s.admin().await;
    let web = Files::serve();
    let zip = archive(&[
        ("repo-main/bin/entry.sh", ENTRY, 0o755),
        ("repo-main/lib/common.sh", b"# shared\n", 0o644),
        ("repo-main/README.md", b"docs\n", 0o644),
        // A file outside the top folder stays as it is (as upstream's unpacking).
        ("NOTICE", b"notice\n", 0o644),
    ]);
    let sha = sha256_hex(&zip);
    web.put("/repo/archive/refs/heads/main.zip", zip.clone());
    let url = format!("{}/imp.yaml", web.base);

    // No checksum anywhere: refused before anything is fetched or created.
    web.put("/imp.yaml", manifest("imp", &web.base, None, ""));
    let (code, text) = refusal(&c.call("importExtension", &[("manifesturl", &url)]).await);
    assert_eq!(code, 431, "{text}");
    assert!(text.contains("SHA-256"), "{text}");
    // A wrong one: refused, naming both digests, nothing created.
    let wrong = "0".repeat(64);
    let (code, text) = refusal(
        &c.call(
            "importExtension",
            &[("manifesturl", &url), ("checksum", &wrong)],
        )
        .await,
    );
    assert_eq!(code, 431, "{text}");
    assert!(text.contains(&sha) && text.contains(&wrong), "{text}");
    assert!(extension_named(&c, "imp").await.is_none());
    // A manifest whose custom action is invalid: the extension made on the way is removed again.
    web.put(
        "/bad.yaml",
        manifest(
            "imp",
            &web.base,
            Some(&sha),
            "    - name: Broken\n      parameters:\n        - name: x\n          type: NOSUCHTYPE\n",
        ),
    );
    let (code, text) = refusal(
        &c.call(
            "importExtension",
            &[("manifesturl", &format!("{}/bad.yaml", web.base))],
        )
        .await,
    );
    assert_eq!(code, 431, "{text}");
    assert!(text.contains("Broken"), "{text}");
    assert!(extension_named(&c, "imp").await.is_none(), "undone whole");
    assert!(
        !s.extensions_dir().join("imp").exists(),
        "no files left behind"
    );

    // The right checksum ({SHA-256} notation as CloudStack's templates take it).
    let r = c
        .call(
            "importExtension",
            &[
                ("manifesturl", &url),
                ("checksum", &format!("{{SHA-256}}{sha}")),
            ],
        )
        .await
        .unwrap();
    let e = &r["extension"];
    assert_eq!(e["name"], "imp");
    assert_eq!(e["description"], "Imported for the test");
    assert_eq!(e["details"]["region"], "eu");
    let root = s.extensions_dir();
    let entry = root.join("imp/bin/entry.sh");
    assert_eq!(e["path"].as_str().unwrap(), entry.to_string_lossy());
    assert_eq!(std::fs::read(&entry).unwrap(), ENTRY);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&entry).unwrap().permissions().mode() & 0o777,
        0o755
    );
    assert_eq!(
        std::fs::read(root.join("imp/lib/common.sh")).unwrap(),
        b"# shared\n"
    );
    assert_eq!(std::fs::read(root.join("imp/NOTICE")).unwrap(), b"notice\n");
    assert_eq!(e["pathready"], true, "{e}");
    let actions = c
        .call(
            "listCustomActions",
            &[("extensionid", e["id"].as_str().unwrap())],
        )
        .await
        .unwrap();
    let a = &actions["extensioncustomaction"][0];
    assert_eq!(a["name"], "Snap", "{actions}");
    assert_eq!(a["timeout"], 30);
    assert_eq!(a["parameters"][0]["name"], "label");
    assert_eq!(a["parameters"][0]["required"], true);
    // The same name again: refused as createExtension refuses it.
    let (code, text) = refusal(
        &c.call(
            "importExtension",
            &[("manifesturl", &url), ("checksum", &sha)],
        )
        .await,
    );
    assert_ne!(code, 0);
    assert!(text.contains("already exists"), "{text}");
    // An archive that reaches outside its folder is refused.
    let evil = archive(&[
        ("repo-main/bin/entry.sh", ENTRY, 0o755),
        ("repo-main/../../escape.sh", b"x", 0o755),
    ]);
    web.put("/repo/archive/refs/heads/main.zip", evil.clone());
    web.put(
        "/evil.yaml",
        manifest("evil", &web.base, Some(&sha256_hex(&evil)), ""),
    );
    let (code, text) = refusal(
        &c.call(
            "importExtension",
            &[("manifesturl", &format!("{}/evil.yaml", web.base))],
        )
        .await,
    );
    assert_eq!(code, 431, "{text}");
    assert!(text.contains("unsafe path"), "{text}");
    assert!(extension_named(&c, "evil").await.is_none());
}

/// Two servers on PostgreSQL: the scaffold reaches both, a hand change on one is reported with
/// the server and the file, `syncExtension` from that server makes it everyone's (and is refused
/// through another server), a stale copy elsewhere is replaced and kept aside, and
/// `deleteExtension cleanup=true` removes the files on both.
#[tokio::test]
async fn sync_hand_changes_and_cleanup_across_servers() {
    let Some(url) = postgres_or_skip("two-server test").await else {
        return;
    };
    let a = TestServer::start_with(Some(url.clone()));
    let ca = a.admin().await;
    let b = TestServer::start_with(Some(url));
    let cb = b.admin_session().await;
    ca.call(
        "updateConfiguration",
        &[
            ("name", "extension.path.state.check.interval"),
            ("value", "1"),
        ],
    )
    .await
    .unwrap();
    let e = ca
        .call(
            "createExtension",
            &[("name", "fleet"), ("type", "Orchestrator")],
        )
        .await
        .unwrap()["extension"]
        .clone();
    let id = e["id"].as_str().unwrap().to_string();
    let rel = PathBuf::from(e["path"].as_str().unwrap())
        .strip_prefix(a.extensions_dir())
        .unwrap()
        .to_path_buf();
    let (path_a, path_b) = (a.extensions_dir().join(&rel), b.extensions_dir().join(&rel));
    let ready = |c: &Client, want: bool| {
        let c = c.clone();
        let id = id.clone();
        async move {
            let l = c.call("listExtensions", &[("id", &id)]).await.ok()?;
            (l["extension"][0]["pathready"] == want).then_some(())
        }
    };
    wait_for(Duration::from_secs(30), "ready on both", || {
        ready(&ca, true)
    })
    .await;
    assert_eq!(
        std::fs::read(&path_a).unwrap(),
        std::fs::read(&path_b).unwrap()
    );
    let servers = ca.call("listManagementServers", &[]).await.unwrap();
    let server_of = |logs: &str| {
        servers["managementserver"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap().to_string())
            .find(|sid| logs.contains(&format!("server_id={sid}")))
            .unwrap()
    };
    let (id_a, id_b) = (server_of(&a.logs()), server_of(&b.logs()));

    // Edited by hand on B: reported (not undone), naming B and the file.
    let edited = "#!/bin/sh\necho '{\"status\":\"success\",\"power_state\":\"poweron\"}'\n";
    write_script(&path_b, edited);
    wait_for(Duration::from_secs(30), "not ready after the edit", || {
        ready(&ca, false)
    })
    .await;
    assert_eq!(std::fs::read_to_string(&path_b).unwrap(), edited);
    let alerts = ca.call("listAlerts", &[]).await.unwrap();
    assert!(alerts["alert"]
        .as_array()
        .unwrap()
        .iter()
        .any(|al| al["type"] == 33));
    let events = ca
        .call("listEvents", &[("type", "EXTENSION.PATH.STATE")])
        .await
        .unwrap();
    assert!(
        events.to_string().contains("differs from the stored copy")
            && events.to_string().contains(&id_b),
        "{events}"
    );

    // syncExtension reads the files of the server that receives it.
    let (code, text) = refusal(
        &ca.call(
            "syncExtension",
            &[("id", &id), ("sourcemanagementserverid", &id_b)],
        )
        .await,
    );
    assert_eq!(code, 431, "{text}");
    let r = cb
        .call(
            "syncExtension",
            &[("id", &id), ("sourcemanagementserverid", &id_b)],
        )
        .await
        .unwrap();
    let done = cb
        .wait_job(
            r["jobid"].as_str().unwrap(),
            Duration::from_secs(90),
            |_| {},
        )
        .await
        .unwrap();
    assert_eq!(done["success"], true, "{done}");
    assert_eq!(std::fs::read_to_string(&path_a).unwrap(), edited);
    wait_for(Duration::from_secs(30), "ready again", || ready(&ca, true)).await;

    // A stale edit on A is replaced by a sync from B, and kept aside, not lost.
    write_script(&path_a, "#!/bin/sh\necho stale\n");
    let r = cb
        .call(
            "syncExtension",
            &[
                ("id", &id),
                ("sourcemanagementserverid", &id_b),
                ("targetmanagementserverids", &id_a),
            ],
        )
        .await
        .unwrap();
    cb.wait_job(
        r["jobid"].as_str().unwrap(),
        Duration::from_secs(90),
        |_| {},
    )
    .await
    .unwrap();
    assert_eq!(std::fs::read_to_string(&path_a).unwrap(), edited);
    let mut kept = path_a.as_os_str().to_owned();
    kept.push(".trellis-replaced");
    assert_eq!(
        std::fs::read_to_string(PathBuf::from(kept)).unwrap(),
        "#!/bin/sh\necho stale\n"
    );
    wait_for(Duration::from_secs(30), "ready after the repair", || {
        ready(&cb, true)
    })
    .await;

    // Deleted with cleanup through A: gone here at once, on B within its heartbeat.
    ca.call("deleteExtension", &[("id", &id), ("cleanup", "true")])
        .await
        .unwrap();
    let dir_a = path_a.parent().unwrap().to_path_buf();
    let dir_b = path_b.parent().unwrap().to_path_buf();
    assert!(!dir_a.exists());
    wait_for(Duration::from_secs(30), "removed on B", || {
        let dir_b = dir_b.clone();
        async move { (!dir_b.exists()).then_some(()) }
    })
    .await;
}
