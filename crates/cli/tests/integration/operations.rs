//! Running Trellis for real: https with an operator's certificate, `response=xml` answers read by
//! a real XML parser, logs without colours when stderr is not a terminal, and the defaults shown
//! by `trellis serve --help`.

use super::{bin, TestServer, ADMIN_PASSWORD};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A self-signed certificate for `localhost` and `127.0.0.1`, written as PEM files into `dir`;
/// returns the certificate and key paths and the certificate's PEM.
fn self_signed_files(dir: &Path) -> (PathBuf, PathBuf, String) {
    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .expect("generate a certificate");
    let cert_pem = certified.cert.pem();
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    std::fs::write(&cert, &cert_pem).unwrap();
    std::fs::write(&key, certified.key_pair.serialize_pem()).unwrap();
    (cert, key, cert_pem)
}

/// `trellis serve` with `--tls-cert`/`--tls-key`; killed on drop.
struct HttpsServer {
    child: Child,
    /// Kept for the process's lifetime (data, certificate, log).
    _dir: tempfile::TempDir,
    /// `https://127.0.0.1:<port>/client/api`
    url: String,
    addr: String,
    cert_pem: String,
}

impl HttpsServer {
    fn start() -> HttpsServer {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key, cert_pem) = self_signed_files(dir.path());
        let builtin = dir.path().join("no-builtins");
        std::fs::create_dir_all(&builtin).unwrap();
        let log = std::fs::File::create(dir.path().join("server.log")).unwrap();
        let mut child = Command::new(bin())
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path().join("data"))
            .arg("--builtin-dir")
            .arg(&builtin)
            .arg("--tls-cert")
            .arg(&cert)
            .arg("--tls-key")
            .arg(&key)
            .env("TRELLIS_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("TRELLIS_LOG", "info,sqlx=warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn trellis");
        let mut reader = BufReader::new(child.stdout.take().unwrap());
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut line = String::new();
        let addr = loop {
            line.clear();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                let logs =
                    std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default();
                panic!("server exited before listening (stdout: {line}):\n{logs}");
            }
            if let Some(rest) = line.trim().strip_prefix("Trellis is listening on https://") {
                break rest.to_string();
            }
            assert!(Instant::now() < deadline, "server did not start");
        };
        std::thread::spawn(move || {
            let mut sink = String::new();
            while reader.read_line(&mut sink).unwrap_or(0) > 0 {
                sink.clear();
            }
        });
        HttpsServer {
            child,
            url: format!("https://{addr}/client/api"),
            addr,
            _dir: dir,
            cert_pem,
        }
    }
}

impl Drop for HttpsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Logs in as admin with `response=json` on a cookie-keeping client; returns the session key.
async fn login(http: &reqwest::Client, url: &str) -> String {
    let answer: serde_json::Value = http
        .post(url)
        .form(&[
            ("command", "login"),
            ("username", "admin"),
            ("password", ADMIN_PASSWORD),
            ("response", "json"),
        ])
        .send()
        .await
        .expect("login request")
        .json()
        .await
        .expect("login answer");
    answer["loginresponse"]["sessionkey"]
        .as_str()
        .unwrap_or_else(|| panic!("no session key in {answer}"))
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_listener_serves_the_api_with_the_given_certificate() {
    let server = HttpsServer::start();
    let trusted = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(server.cert_pem.as_bytes()).unwrap())
        .cookie_store(true)
        .build()
        .unwrap();
    let session = login(&trusted, &server.url).await;
    let zones = trusted
        .get(&server.url)
        .query(&[
            ("command", "listZones"),
            ("response", "json"),
            ("sessionkey", session.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(zones.status(), 200);
    let zones: serde_json::Value = zones.json().await.unwrap();
    assert!(zones.get("listzonesresponse").is_some(), "{zones}");
    // The console and health check are served over https too.
    let health = trusted
        .get(format!("https://{}/healthz", server.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    // A client that does not trust the certificate is refused, and plain http gets no answer.
    let untrusted = reqwest::Client::new();
    assert!(untrusted
        .get(format!("https://{}/healthz", server.addr))
        .send()
        .await
        .is_err());
    let plain = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let plain_answer = plain
        .get(format!("http://{}/healthz", server.addr))
        .send()
        .await;
    assert!(
        plain_answer.is_err(),
        "plain http answered on the https port: {plain_answer:?}"
    );
}

/// GET `params` plus `response=xml` and the session; the status, content type and parsed body.
async fn get_xml(
    http: &reqwest::Client,
    url: &str,
    session: &str,
    params: &[(&str, &str)],
) -> (u16, String, String) {
    let mut query: Vec<(&str, &str)> = params.to_vec();
    query.push(("response", "xml"));
    query.push(("sessionkey", session));
    let answer = http.get(url).query(&query).send().await.unwrap();
    let status = answer.status().as_u16();
    let content_type = answer
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    (status, content_type, answer.text().await.unwrap())
}

/// The text of the first descendant of `node` named `path[0]`, then `path[1]` below it, ….
fn text_at(node: roxmltree::Node<'_, '_>, path: &[&str]) -> Option<String> {
    let mut current = node;
    for name in path {
        current = current.children().find(|c| c.has_tag_name(*name))?;
    }
    current.text().map(str::to_string)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xml_answers_parse_with_cloudstack_element_names() {
    let server = TestServer::start();
    let http = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    let session = login(&http, &server.url).await;

    // An object.
    let (status, content_type, body) = get_xml(
        &http,
        &server.url,
        &session,
        &[("command", "createZone"), ("name", "xml-zone")],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(content_type.starts_with("text/xml"), "{content_type}");
    let doc = roxmltree::Document::parse(&body).expect("createZone xml parses");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "createzoneresponse");
    assert!(root.attribute("cloud-stack-version").is_some());
    assert_eq!(
        text_at(root, &["zone", "name"]).as_deref(),
        Some("xml-zone")
    );
    let zone_id = text_at(root, &["zone", "id"]).expect("zone id");

    // A list: count, then one element per item.
    let (status, _, body) =
        get_xml(&http, &server.url, &session, &[("command", "listZones")]).await;
    assert_eq!(status, 200, "{body}");
    let doc = roxmltree::Document::parse(&body).expect("listZones xml parses");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "listzonesresponse");
    assert_eq!(text_at(root, &["count"]).as_deref(), Some("1"));
    let zones: Vec<_> = root.children().filter(|c| c.has_tag_name("zone")).collect();
    assert_eq!(zones.len(), 1);
    assert_eq!(
        text_at(zones[0], &["id"]).as_deref(),
        Some(zone_id.as_str())
    );

    // An error: the command's response element with errorcode, cserrorcode and errortext.
    let (status, content_type, body) =
        get_xml(&http, &server.url, &session, &[("command", "deleteZone")]).await;
    assert_eq!(status, 431, "{body}");
    assert!(content_type.starts_with("text/xml"), "{content_type}");
    let doc = roxmltree::Document::parse(&body).expect("error xml parses");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "deletezoneresponse");
    assert_eq!(text_at(root, &["errorcode"]).as_deref(), Some("431"));
    assert!(text_at(root, &["cserrorcode"]).is_some());
    assert!(text_at(root, &["errortext"]).is_some_and(|t| t.contains("id")));

    // Success.
    let (status, _, body) = get_xml(
        &http,
        &server.url,
        &session,
        &[("command", "deleteZone"), ("id", zone_id.as_str())],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let doc = roxmltree::Document::parse(&body).expect("deleteZone xml parses");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "deletezoneresponse");
    assert_eq!(text_at(root, &["success"]).as_deref(), Some("true"));

    // Async: the job id, then the job's result through queryAsyncJobResult.
    let admin = server.admin_session().await;
    admin
        .call(
            "createAccount",
            &[
                ("username", "xml-user"),
                ("password", "pw-123456"),
                ("email", "u@example.org"),
                ("firstname", "F"),
                ("lastname", "L"),
                ("accounttype", "0"),
            ],
        )
        .await
        .unwrap();
    let accounts = admin
        .call("listAccounts", &[("name", "xml-user")])
        .await
        .unwrap();
    let account_id = accounts["account"][0]["id"].as_str().unwrap().to_string();
    let (status, _, body) = get_xml(
        &http,
        &server.url,
        &session,
        &[("command", "deleteAccount"), ("id", account_id.as_str())],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let doc = roxmltree::Document::parse(&body).expect("deleteAccount xml parses");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "deleteaccountresponse");
    let job_id = text_at(root, &["jobid"]).expect("job id");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, _, body) = get_xml(
            &http,
            &server.url,
            &session,
            &[
                ("command", "queryAsyncJobResult"),
                ("jobid", job_id.as_str()),
            ],
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let doc = roxmltree::Document::parse(&body).expect("job xml parses");
        let root = doc.root_element();
        assert_eq!(root.tag_name().name(), "queryasyncjobresultresponse");
        assert_eq!(text_at(root, &["jobid"]).as_deref(), Some(job_id.as_str()));
        if text_at(root, &["jobstatus"]).as_deref() == Some("1") {
            assert_eq!(
                text_at(root, &["jobresult", "success"]).as_deref(),
                Some("true"),
                "{body}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "job did not finish: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Without response=xml the answer stays JSON.
    let json = http
        .get(&server.url)
        .query(&[("command", "listZones"), ("sessionkey", session.as_str())])
        .send()
        .await
        .unwrap();
    assert!(json
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/json")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_have_no_colours_when_stderr_is_not_a_terminal() {
    let server = TestServer::start();
    let _admin = server.admin_session().await;
    let logs = server.logs();
    assert!(logs.contains("trellis is serving"), "{logs}");
    assert!(
        !logs.contains('\u{1b}'),
        "ANSI escapes in a log written to a file:\n{logs}"
    );
}

#[test]
fn serve_help_shows_the_defaults() {
    let output = Command::new(bin())
        .args(["serve", "--help"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    for expected in [
        "[default: 127.0.0.1:8080]",
        "[default: ./trellis-data]",
        "--tls-cert",
        "--tls-key",
        "TRELLIS_TLS_CERT",
    ] {
        assert!(help.contains(expected), "{expected} missing from:\n{help}");
    }
}

#[test]
fn https_refuses_a_key_that_does_not_match_the_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, _key, _) = self_signed_files(dir.path());
    let other = dir.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    let (_, other_key, _) = self_signed_files(&other);
    let output = Command::new(bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("data"))
        .arg("--tls-cert")
        .arg(&cert)
        .arg("--tls-key")
        .arg(&other_key)
        .env("TRELLIS_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("cannot set up https") && stderr.contains("key.pem"),
        "{stderr}"
    );
    assert!(
        !dir.path().join("data").exists(),
        "the data directory was created before the certificate was checked"
    );
}
