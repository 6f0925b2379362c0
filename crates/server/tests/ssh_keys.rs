//! SSH key pairs and user data end to end, on a server started in this process and driven
//! through the CloudStack client: create/register/list/delete with their errors and owner
//! isolation, key pairs and user data reaching the extension's payload, user data limits.

use md5::Digest;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use trellis_client::{Client, ClientError};
use trellis_server::{Running, ServerConfig};

const ADMIN_PASSWORD: &str = "it-Secret-9";
const USER_PASSWORD: &str = "pw-123456";

/// Made with `ssh-keygen`; the fingerprints are what `ssh-keygen -E md5 -l` printed.
const ED25519: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHg1lKbd9fkDuf19vlX9Ckc9NTSJYtGZtvKTrNDyNsYA test@trellis";
const ED25519_MD5: &str = "b0:9a:38:47:34:1e:0c:fc:2f:e5:53:1b:59:78:d0:ee";
const RSA: &str = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQCwCOdBxIRLgHSQ7i5I03ttdUZB7JC079dNtK6HjeO/kamJnQOceUpw9wXjqeNnQSEazryQrtld1Jri+MtnMUCXlSGyU1CzRL+KHqdrNOoTxzg7K+sXrFh0JBMHK3E5MvOAsp+0QF1OIRUXI42nXyJ3UKfzDLCL/96+bSJD4B+wYOUCRYRvKZrpt4JvKrw1dwVaD9A16/SSRo2VL596h0eOhbJcqCSTmVSfXrYJPppSpLEB3ohDmFrQb8LDt3cgGH3oJpJ8US7/cRpmfHEOCpc0RBF+eBqZv9hUYbv+jufEkN8tB5dg/rlBFhQNOHzGIfRDXnQEEwQ9ATiS5EAhb5vP rsa@trellis";
const RSA_MD5: &str = "21:19:4e:fe:ea:cc:dd:b2:94:18:68:4a:e2:38:58:64";

/// Records every payload as `rec/<ns>-<action>.json` and succeeds.
const RECORDER: &str = r#"#!/bin/bash
here="$(cd "$(dirname "$0")" && pwd)"
mkdir -p "$here/rec"
cp "$2" "$here/rec/$(date +%s%N)-$1.json"
case "$1" in
  status) echo '{"status":"success","power_state":"poweron"}' ;;
  statuses) echo '{"status":"success","power_state":{}}' ;;
  *) echo '{"status":"success"}' ;;
esac
"#;

struct Server {
    running: Option<Running>,
    _dir: tempfile::TempDir,
    url: String,
}

impl Server {
    async fn start() -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        let builtin = dir.path().join("no-builtins");
        std::fs::create_dir_all(&builtin).unwrap();
        let cfg = ServerConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: dir.path().join("data"),
            builtin_dir: Some(builtin),
            admin_password: Some(ADMIN_PASSWORD.into()),
            ..ServerConfig::default()
        };
        let running = trellis_server::start(cfg).await.expect("server starts");
        let url = format!("http://{}/client/api", running.addr);
        Server {
            running: Some(running),
            _dir: dir,
            url,
        }
    }

    async fn admin(&self) -> Client {
        Client::login(&self.url, "admin", ADMIN_PASSWORD, None)
            .await
            .expect("admin login")
    }

    /// A fresh user account (role type User) in ROOT, logged in.
    async fn user(&self, admin: &Client, name: &str) -> Client {
        admin
            .call(
                "createAccount",
                &[
                    ("username", name),
                    ("password", USER_PASSWORD),
                    ("email", "u@example.org"),
                    ("firstname", "F"),
                    ("lastname", "L"),
                    ("accounttype", "0"),
                ],
            )
            .await
            .unwrap();
        Client::login(&self.url, name, USER_PASSWORD, None)
            .await
            .expect("user login")
    }

    async fn stop(mut self) {
        if let Some(r) = self.running.take() {
            r.shutdown().await;
        }
    }
}

fn code_of(r: Result<Value, ClientError>) -> (i64, String) {
    match r {
        Ok(v) => panic!("expected an error, got {v}"),
        Err(ClientError::Api { code, text, .. })
        | Err(ClientError::JobFailed { code, text, .. }) => (code, text),
        Err(e) => panic!("expected an API error, got {e}"),
    }
}

fn str_of(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("not a string: {v}"))
        .to_string()
}

/// The MD5 fingerprint of an OpenSSH public key line, computed here.
fn md5_fingerprint(public_key: &str) -> String {
    use base64::Engine;
    let blob = base64::engine::general_purpose::STANDARD
        .decode(public_key.split_whitespace().nth(1).unwrap())
        .unwrap();
    md5::Md5::digest(&blob)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// The OpenSSH public key of a PKCS#1 PEM RSA private key, computed here.
fn openssh_public_of(pem: &str) -> String {
    use base64::Engine;
    use rsa::pkcs1::DecodeRsaPrivateKey;
    use rsa::traits::PublicKeyParts;
    let key = rsa::RsaPrivateKey::from_pkcs1_pem(pem).expect("PKCS#1 PEM");
    let mut blob = Vec::new();
    for part in [
        b"ssh-rsa".to_vec(),
        mpint(&key.e().to_bytes_be()),
        mpint(&key.n().to_bytes_be()),
    ] {
        blob.extend_from_slice(&(part.len() as u32).to_be_bytes());
        blob.extend_from_slice(&part);
    }
    format!(
        "ssh-rsa {}",
        base64::engine::general_purpose::STANDARD.encode(blob)
    )
}

fn mpint(be: &[u8]) -> Vec<u8> {
    let mut v = be.to_vec();
    if v.first().is_some_and(|b| b & 0x80 != 0) {
        v.insert(0, 0);
    }
    v
}

async fn names(c: &Client, params: &[(&str, &str)]) -> Vec<String> {
    let r = c.call("listSSHKeyPairs", params).await.unwrap();
    let mut out: Vec<String> = r["sshkeypair"]
        .as_array()
        .map(|a| a.iter().map(|k| str_of(&k["name"])).collect())
        .unwrap_or_default();
    out.sort();
    assert_eq!(
        r["count"].as_u64().unwrap_or(0) as usize,
        out.len(),
        "count of {params:?}"
    );
    out
}

#[tokio::test]
async fn key_pairs_are_created_registered_listed_and_deleted_per_owner() {
    let s = Server::start().await;
    let admin = s.admin().await;
    let alice = s.user(&admin, "alice").await;
    let bob = s.user(&admin, "bob").await;

    // createSSHKeyPair: a PEM private key, once; the fingerprint is the MD5 of its public key.
    let created = alice
        .call("createSSHKeyPair", &[("name", "gen")])
        .await
        .unwrap()["keypair"]
        .clone();
    let pem = str_of(&created["privatekey"]);
    assert!(pem.starts_with("-----BEGIN RSA PRIVATE KEY-----"), "{pem}");
    let public = openssh_public_of(&pem);
    assert_eq!(str_of(&created["fingerprint"]), md5_fingerprint(&public));
    assert_eq!(created["name"], "gen");
    assert_eq!(created["account"], "alice");
    assert_eq!(created["domain"], "ROOT");
    assert_eq!(created["hasannotations"], false);
    assert!(created["id"].is_string() && created["domainid"].is_string());
    let code = code_of(alice.call("createSSHKeyPair", &[("name", "gen")]).await);
    assert_eq!(
        code,
        (431, "A key pair with name 'gen' already exists.".into())
    );

    // registerSSHKeyPair: the fingerprint ssh-keygen prints; duplicates by name or key refused.
    let registered = alice
        .call(
            "registerSSHKeyPair",
            &[("name", "laptop"), ("publickey", ED25519)],
        )
        .await
        .unwrap()["keypair"]
        .clone();
    assert_eq!(registered["fingerprint"], ED25519_MD5);
    assert!(registered.get("privatekey").is_none());
    let (code, text) = code_of(
        alice
            .call(
                "registerSSHKeyPair",
                &[("name", "laptop"), ("publickey", RSA)],
            )
            .await,
    );
    assert_eq!(code, 431);
    assert!(text.contains("already exists for this account"), "{text}");
    let (code, text) = code_of(
        alice
            .call(
                "registerSSHKeyPair",
                &[("name", "again"), ("publickey", ED25519)],
            )
            .await,
    );
    assert_eq!(code, 431);
    assert!(
        text.starts_with("A key pair with key 'ssh-ed25519 "),
        "{text}"
    );
    for garbage in [
        "not a key",
        "ssh-rsa AAAAnotbase64!!",
        "ssh-ed25519 AAAAC3NzaC1yc2E=",
    ] {
        let (code, text) = code_of(
            alice
                .call(
                    "registerSSHKeyPair",
                    &[("name", "bad"), ("publickey", garbage)],
                )
                .await,
        );
        assert_eq!(code, 431, "{garbage}");
        assert!(text.starts_with("Public key is invalid"), "{text}");
    }
    let (code, _) = code_of(
        alice
            .call(
                "registerSSHKeyPair",
                &[("name", "long"), ("publickey", &"a".repeat(5121))],
            )
            .await,
    );
    assert_eq!(code, 431, "publickey is at most 5120 characters");
    let (code, text) = code_of(
        alice
            .call(
                "registerSSHKeyPair",
                &[
                    ("name", "p"),
                    ("publickey", RSA),
                    ("projectid", &str_of(&created["id"])),
                ],
            )
            .await,
    );
    assert_eq!(code, 431);
    assert!(text.contains("Unable to find project"), "{text}");
    // The same key under another account is fine.
    bob.call(
        "registerSSHKeyPair",
        &[("name", "laptop"), ("publickey", ED25519)],
    )
    .await
    .unwrap();
    bob.call(
        "registerSSHKeyPair",
        &[("name", "work"), ("publickey", RSA)],
    )
    .await
    .unwrap();
    admin
        .call("registerSSHKeyPair", &[("name", "ops"), ("publickey", RSA)])
        .await
        .unwrap();

    // Listing: own key pairs only, whatever listall says, unless an administrator asks.
    assert_eq!(names(&alice, &[]).await, ["gen", "laptop"]);
    assert_eq!(
        names(&alice, &[("listall", "true")]).await,
        ["gen", "laptop"]
    );
    assert_eq!(names(&bob, &[]).await, ["laptop", "work"]);
    assert_eq!(names(&admin, &[]).await, ["ops"]);
    assert_eq!(
        names(&admin, &[("listall", "true")]).await,
        ["gen", "laptop", "laptop", "ops", "work"]
    );
    let root = str_of(&created["domainid"]);
    assert_eq!(
        names(&admin, &[("account", "bob"), ("domainid", &root)]).await,
        ["laptop", "work"]
    );
    assert_eq!(
        names(&alice, &[("account", "alice"), ("domainid", &root)]).await,
        ["gen", "laptop"]
    );
    let (code, _) = code_of(
        alice
            .call(
                "listSSHKeyPairs",
                &[("account", "bob"), ("domainid", &root)],
            )
            .await,
    );
    assert_eq!(code, 531, "a user never sees another account's key pairs");
    let (code, _) = code_of(alice.call("listSSHKeyPairs", &[("account", "bob")]).await);
    assert_eq!(code, 431, "account without domainid");
    // Filters: id, exact name, exact fingerprint, keyword, paging.
    let id = str_of(&registered["id"]);
    assert_eq!(names(&alice, &[("id", &id)]).await, ["laptop"]);
    assert_eq!(names(&bob, &[("id", &id)]).await, Vec::<String>::new());
    assert_eq!(
        names(&alice, &[("name", "lap")]).await,
        Vec::<String>::new()
    );
    assert_eq!(names(&alice, &[("name", "laptop")]).await, ["laptop"]);
    assert_eq!(
        names(&alice, &[("fingerprint", ED25519_MD5)]).await,
        ["laptop"]
    );
    assert_eq!(
        names(&admin, &[("fingerprint", RSA_MD5), ("listall", "true")]).await,
        ["ops", "work"]
    );
    assert_eq!(
        names(&alice, &[("fingerprint", "b0:9a")]).await,
        Vec::<String>::new()
    );
    assert_eq!(names(&alice, &[("keyword", "LAP")]).await, ["laptop"]);
    let page = alice
        .call("listSSHKeyPairs", &[("page", "2"), ("pagesize", "1")])
        .await
        .unwrap();
    assert_eq!(page["count"], 2);
    assert_eq!(page["sshkeypair"].as_array().unwrap().len(), 1);
    let listed = alice
        .call("listSSHKeyPairs", &[("name", "gen")])
        .await
        .unwrap()["sshkeypair"][0]
        .clone();
    assert!(
        listed.get("privatekey").is_none(),
        "the private key is never shown again"
    );
    assert_eq!(listed["fingerprint"], created["fingerprint"]);

    // deleteSSHKeyPair: the owner's, by name; an administrator for an account.
    let (code, text) = code_of(alice.call("deleteSSHKeyPair", &[("name", "work")]).await);
    assert_eq!(code, 431);
    assert!(
        text.contains("A key pair with name 'work' does not exist for account alice"),
        "{text}"
    );
    let ok = alice
        .call("deleteSSHKeyPair", &[("name", "gen")])
        .await
        .unwrap();
    assert_eq!(ok["success"], true);
    admin
        .call(
            "deleteSSHKeyPair",
            &[("name", "work"), ("account", "bob"), ("domainid", &root)],
        )
        .await
        .unwrap();
    let (code, _) = code_of(
        alice
            .call(
                "deleteSSHKeyPair",
                &[("name", "laptop"), ("account", "bob"), ("domainid", &root)],
            )
            .await,
    );
    assert_eq!(code, 531);
    assert_eq!(names(&alice, &[]).await, ["laptop"]);
    assert_eq!(names(&bob, &[]).await, ["laptop"]);
    s.stop().await;
}

fn write_script(path: &Path, body: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, body).unwrap();
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn id_at(v: &Value, path: &[&str]) -> String {
    let mut cur = v;
    for p in path {
        cur = match p.parse::<usize>() {
            Ok(i) => &cur[i],
            Err(_) => &cur[*p],
        };
    }
    str_of(cur)
}

/// A zone with an External cluster and host bound to a recording extension, an offering and
/// a public template.
struct Infra {
    zone: String,
    offering: String,
    template: String,
    dir: PathBuf,
}

async fn infra(admin: &Client) -> Infra {
    let e = admin
        .call(
            "createExtension",
            &[
                ("name", "rec"),
                ("type", "Orchestrator"),
                ("path", "rec.sh"),
            ],
        )
        .await
        .unwrap()["extension"]
        .clone();
    let path = PathBuf::from(str_of(&e["path"]));
    write_script(&path, RECORDER);
    let ext = str_of(&e["id"]);
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
    let zone = id_at(
        &admin
            .call("createZone", &[("name", "z1"), ("dns1", "192.0.2.53")])
            .await
            .unwrap(),
        &["zone", "id"],
    );
    let cluster = id_at(
        &admin
            .call(
                "addCluster",
                &[
                    ("zoneid", &zone),
                    ("clustername", "c1"),
                    ("hypervisor", "External"),
                    ("extensionid", &ext),
                ],
            )
            .await
            .unwrap(),
        &["cluster", "0", "id"],
    );
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
            ],
        )
        .await
        .unwrap();
    let offering = id_at(
        &admin
            .call(
                "createServiceOffering",
                &[
                    ("name", "tiny"),
                    ("cpunumber", "1"),
                    ("cpuspeed", "1000"),
                    ("memory", "512"),
                ],
            )
            .await
            .unwrap(),
        &["serviceoffering", "id"],
    );
    let template = id_at(
        &admin
            .call(
                "registerTemplate",
                &[
                    ("name", "tmpl"),
                    ("format", "External"),
                    ("hypervisor", "External"),
                    ("url", "http://dummy"),
                    ("zoneid", &zone),
                    ("extensionid", &ext),
                    ("ispublic", "true"),
                ],
            )
            .await
            .unwrap(),
        &["template", "0", "id"],
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = admin.call("listExtensions", &[("id", &ext)]).await.unwrap();
        if r["extension"][0]["pathready"] == true {
            break;
        }
        assert!(Instant::now() < deadline, "extension never became ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Infra {
        zone,
        offering,
        template,
        dir: path.parent().unwrap().to_path_buf(),
    }
}

impl Infra {
    fn deploy_params<'a>(&'a self, name: &'a str) -> Vec<(&'a str, &'a str)> {
        vec![
            ("zoneid", &self.zone),
            ("serviceofferingid", &self.offering),
            ("templateid", &self.template),
            ("name", name),
        ]
    }

    async fn deploy(
        &self,
        c: &Client,
        name: &str,
        extra: &[(&str, &str)],
    ) -> Result<Value, ClientError> {
        let mut params = self.deploy_params(name);
        params.extend_from_slice(extra);
        let r = c.call("deployVirtualMachine", &params).await?;
        c.wait_job(&str_of(&r["jobid"]), Duration::from_secs(120), |_| {})
            .await
            .map(|v| v["virtualmachine"].clone())
    }

    /// The last recorded payload of `action` for the instance `uuid`.
    fn payload(&self, action: &str, uuid: &str) -> Value {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.dir.join("rec"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.to_string_lossy().ends_with(&format!("-{action}.json")))
            .collect();
        files.sort();
        files
            .iter()
            .rev()
            .map(|p| serde_json::from_str::<Value>(&std::fs::read_to_string(p).unwrap()).unwrap())
            .find(|v| v["virtualmachineid"] == uuid)
            .unwrap_or_else(|| panic!("no {action} payload for {uuid}"))
    }
}

#[tokio::test]
async fn key_pairs_and_user_data_reach_the_extension() {
    let s = Server::start().await;
    let admin = s.admin().await;
    let infra = infra(&admin).await;
    let alice = s.user(&admin, "alice").await;
    let generated = alice
        .call("createSSHKeyPair", &[("name", "gen")])
        .await
        .unwrap()["keypair"]
        .clone();
    let generated_public = openssh_public_of(&str_of(&generated["privatekey"]));
    alice
        .call(
            "registerSSHKeyPair",
            &[("name", "laptop"), ("publickey", ED25519)],
        )
        .await
        .unwrap();
    // A key pair of another account is not found by name.
    admin
        .call("registerSSHKeyPair", &[("name", "ops"), ("publickey", RSA)])
        .await
        .unwrap();

    // keypair and keypairs together: union, in order, each once.
    let user_data = "I2Nsb3VkLWNvbmZpZwo"; // "#cloud-config\n", unpadded
    let vm = infra
        .deploy(
            &alice,
            "vm1",
            &[
                ("keypair", "laptop"),
                ("keypairs", "gen,laptop"),
                ("userdata", user_data),
            ],
        )
        .await
        .unwrap();
    assert_eq!(vm["keypairs"], "laptop,gen");
    let uuid = str_of(&vm["id"]);
    let create = infra.payload("create", &uuid);
    let details = &create["cloudstack.vm.details"]["details"];
    let laptop = ED25519.rsplit_once(' ').unwrap().0;
    assert_eq!(
        details["SSH.PublicKey"],
        format!("{laptop}\n{generated_public}"),
        "{create}"
    );
    assert_eq!(details["SSH.KeyPairNames"], "laptop,gen");
    assert_eq!(
        create["cloudstack.vm.details"]["userData"], "I2Nsb3VkLWNvbmZpZwo=",
        "user data is passed on in padded base64"
    );
    let listed = alice
        .call("listVirtualMachines", &[("id", &uuid)])
        .await
        .unwrap()["virtualmachine"][0]
        .clone();
    assert_eq!(listed["keypairs"], "laptop,gen");
    assert!(listed["details"].get("SSH.PublicKey").is_none());

    // Deleting a key pair later leaves the instance as it was.
    alice
        .call("deleteSSHKeyPair", &[("name", "laptop")])
        .await
        .unwrap();
    let listed = alice
        .call("listVirtualMachines", &[("id", &uuid)])
        .await
        .unwrap()["virtualmachine"][0]
        .clone();
    assert_eq!(listed["keypairs"], "laptop,gen");
    let job = alice
        .call("stopVirtualMachine", &[("id", &uuid)])
        .await
        .unwrap();
    alice
        .wait_job(&str_of(&job["jobid"]), Duration::from_secs(60), |_| {})
        .await
        .unwrap();
    let stop = infra.payload("stop", &uuid);
    assert_eq!(
        stop["cloudstack.vm.details"]["details"]["SSH.PublicKey"],
        format!("{laptop}\n{generated_public}")
    );
    // updateVirtualMachine neither sets nor clears them.
    let (code, _) = code_of(
        alice
            .call(
                "updateVirtualMachine",
                &[("id", &uuid), ("details[0].SSH.PublicKey", "ssh-rsa AAAA")],
            )
            .await,
    );
    assert_eq!(code, 431);
    alice
        .call(
            "updateVirtualMachine",
            &[("id", &uuid), ("cleanupdetails", "true")],
        )
        .await
        .unwrap();
    let listed = alice
        .call("listVirtualMachines", &[("id", &uuid)])
        .await
        .unwrap()["virtualmachine"][0]
        .clone();
    assert_eq!(listed["keypairs"], "laptop,gen");

    // Unknown names (including another account's) are refused before anything is allocated.
    for name in ["laptop", "ops", "nope"] {
        let (code, text) = code_of(infra.deploy(&alice, "vm2", &[("keypair", name)]).await);
        assert_eq!(
            (code, text),
            (431, format!("Unable to find key pair {name}"))
        );
    }
    let (code, _) = code_of(
        infra
            .deploy(&alice, "vm2", &[("keypairs", "gen,nope")])
            .await,
    );
    assert_eq!(code, 431);
    let (code, _) = code_of(
        infra
            .deploy(
                &alice,
                "vm2",
                &[("details[0].SSH.PublicKey", "ssh-rsa AAAA")],
            )
            .await,
    );
    assert_eq!(code, 431, "the key details come from key pairs only");

    // User data: base64 only, within the request's and the setting's limits.
    let (code, text) = code_of(
        infra
            .deploy(&alice, "vm2", &[("userdata", "not base64!")])
            .await,
    );
    assert_eq!(
        (code, text.as_str()),
        (431, "User data is not base64 encoded")
    );
    let (code, text) = code_of(infra.deploy(&alice, "vm2", &[("userdataid", &uuid)]).await);
    assert_eq!((code, text.as_str()), (431, "userdataid is not supported"));
    let (code, _) = code_of(
        infra
            .deploy(&alice, "vm2", &[("userdatadetails[0].key", "v")])
            .await,
    );
    assert_eq!(code, 431);
    let big = "QUFB".repeat(1100); // 4400 characters
    let (code, text) = code_of(infra.deploy(&alice, "vm2", &[("userdata", &big)]).await);
    assert_eq!(
        (code, text.as_str()),
        (431, "User data is too long for an http GET request")
    );
    let poster = Client::login(&s.url, "alice", USER_PASSWORD, None)
        .await
        .unwrap()
        .use_post(true);
    let vm = infra
        .deploy(&poster, "vm2", &[("userdata", &big)])
        .await
        .expect("POST requests carry more user data");
    assert_eq!(
        infra.payload("create", &str_of(&vm["id"]))["cloudstack.vm.details"]["userData"],
        big.as_str()
    );
    admin
        .call(
            "updateConfiguration",
            &[("name", "vm.userdata.max.length"), ("value", "16")],
        )
        .await
        .unwrap();
    let (code, text) = code_of(
        infra
            .deploy(&alice, "vm3", &[("userdata", "QUFBQUFBQUFBQUFBQUFBQUFB")])
            .await,
    );
    assert_eq!(
        (code, text.as_str()),
        (431, "User data has exceeded configurable max length : 16")
    );
    infra
        .deploy(&alice, "vm3", &[("userdata", "QUFBQQ==")])
        .await
        .unwrap();
    s.stop().await;
}
