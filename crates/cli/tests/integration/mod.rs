//! Shared harness and the per-area test modules.

mod addresses;
mod affinity;
mod api;
mod credentials;
mod exactly_once;
mod extension_files;
mod extensions;
mod faults;
mod first_hour;
mod instances;
mod isolation;
mod jobs;
mod limits;
mod metrics;
mod operations;
mod projects;
mod proxmox;
mod quickstart_ports;
mod registrations;
mod roles;
mod secrets;
mod surface;
mod tenancy;

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use trellis_client::{Auth, Client};

pub const ADMIN_PASSWORD: &str = "it-Secret-9";

/// A running server process.
pub struct TestServer {
    pub child: Option<Child>,
    pub dir: tempfile::TempDir,
    pub addr: String,
    pub url: String,
    pub database_url: Option<String>,
    /// Extra environment of the server process (e.g. a shared `TRELLIS_SECRET_KEY_FILE`).
    pub env: Vec<(String, String)>,
}

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_trellis")
}

impl TestServer {
    pub fn start() -> TestServer {
        TestServer::start_with(None)
    }

    /// Start with an explicit database URL (PostgreSQL legs), else SQLite in the data dir.
    pub fn start_with(database_url: Option<String>) -> TestServer {
        TestServer::start_with_env(database_url, Vec::new())
    }

    /// Start with a database URL and extra environment variables.
    pub fn start_with_env(database_url: Option<String>, env: Vec<(String, String)>) -> TestServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut s = TestServer {
            child: None,
            dir,
            addr: String::new(),
            url: String::new(),
            database_url,
            env,
        };
        s.launch("127.0.0.1:0");
        s
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn extensions_dir(&self) -> PathBuf {
        self.data_dir().join("extensions")
    }

    fn launch(&mut self, listen: &str) {
        let empty_builtin = self.dir.path().join("no-builtins");
        std::fs::create_dir_all(&empty_builtin).unwrap();
        let mut cmd = Command::new(bin());
        cmd.args(["serve", "--listen", listen, "--data-dir"])
            .arg(self.data_dir())
            .arg("--builtin-dir")
            .arg(&empty_builtin);
        if let Some(db) = &self.database_url {
            cmd.args(["--database-url", db]);
        }
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        cmd.env("TRELLIS_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("TRELLIS_LOG", "info,sqlx=warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::from(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(self.dir.path().join("server.log"))
                    .unwrap(),
            ));
        let mut child = cmd.spawn().expect("spawn trellis");
        let stdout = child.stdout.take().unwrap();
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            line.clear();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                panic!("server exited before listening:\n{}", self.logs());
            }
            if let Some(rest) = line.trim().strip_prefix("Trellis is listening on http://") {
                self.addr = rest.to_string();
                break;
            }
            assert!(Instant::now() < deadline, "server did not start");
        }
        // Keep draining stdout so the child never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut sink = String::new();
            while reader.read_line(&mut sink).unwrap_or(0) > 0 {
                sink.clear();
            }
        });
        self.url = format!("http://{}/client/api", self.addr);
        self.child = Some(child);
    }

    /// Kill the process without any shutdown (SIGKILL), as a crash.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Stop gracefully (SIGTERM) and wait.
    pub fn terminate(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(c.id().to_string())
                .status();
            let deadline = Instant::now() + Duration::from_secs(40);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Start again on the same data directory (and the same port).
    pub fn restart(&mut self) {
        let addr = self.addr.clone();
        self.launch(&addr);
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// A session client for admin.
    pub async fn admin_session(&self) -> Client {
        Client::login(&self.url, "admin", ADMIN_PASSWORD, None)
            .await
            .expect("admin login")
    }

    /// An API-key client for admin (v3 signatures).
    pub async fn admin(&self) -> Client {
        let s = self.admin_session().await;
        let users = s.call("listUsers", &[("username", "admin")]).await.unwrap();
        let id = users["user"][0]["id"].as_str().unwrap().to_string();
        let keys = s.call("registerUserKeys", &[("id", &id)]).await.unwrap();
        Client::new(
            &self.url,
            Auth::Keys {
                api_key: keys["userkeys"]["apikey"].as_str().unwrap().into(),
                secret: keys["userkeys"]["secretkey"].as_str().unwrap().into(),
                v3: true,
            },
        )
    }

    /// A fresh account of role type `account_type` (0 user, 2 domain admin) with API keys.
    pub async fn user(&self, admin: &Client, name: &str, account_type: &str) -> Client {
        self.account(admin, name, &[("accounttype", account_type)])
            .await
            .2
    }

    /// An account with one user (password `pw-123456`; a user account unless `extra` gives
    /// `accounttype` or `roleid`) and API keys: its id, its user's id, and a client on the keys.
    pub async fn account(
        &self,
        admin: &Client,
        name: &str,
        extra: &[(&str, &str)],
    ) -> (String, String, Client) {
        let mut params = vec![
            ("username", name),
            ("password", "pw-123456"),
            ("email", "u@example.org"),
            ("firstname", "F"),
            ("lastname", "L"),
        ];
        params.extend_from_slice(extra);
        if !extra
            .iter()
            .any(|(k, _)| *k == "accounttype" || *k == "roleid")
        {
            params.push(("accounttype", "0"));
        }
        let a = admin.call("createAccount", &params).await.unwrap();
        let aid = a["account"]["id"].as_str().unwrap().to_string();
        let uid = a["account"]["user"][0]["id"].as_str().unwrap().to_string();
        let keys = admin
            .call("registerUserKeys", &[("id", &uid)])
            .await
            .unwrap();
        let client = Client::new(
            &self.url,
            Auth::Keys {
                api_key: keys["userkeys"]["apikey"].as_str().unwrap().into(),
                secret: keys["userkeys"]["secretkey"].as_str().unwrap().into(),
                v3: false,
            },
        );
        (aid, uid, client)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Poll `check` until it returns `Some`, or panic after `limit`.
pub async fn wait_for<T, F, Fut>(limit: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    let mut delay = Duration::from_millis(20);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_millis(500));
    }
}

/// Write an executable script.
/// A fresh PostgreSQL schema of its own (its URL) where `TRELLIS_TEST_POSTGRES_URL` is set;
/// else `None`, with a line saying that `what` is skipped.
pub async fn postgres_or_skip(what: &str) -> Option<String> {
    let Some(base) = trellis_store::testing::postgres_url() else {
        eprintln!("TRELLIS_TEST_POSTGRES_URL not set: {what} skipped");
        return None;
    };
    Some(
        trellis_store::testing::isolated_postgres_url(&base)
            .await
            .unwrap(),
    )
}

/// The environment that makes servers sharing a database share the key that seals secrets: a
/// new random key written (0600) in `dir`.
pub fn shared_secret_key(dir: &Path) -> Vec<(String, String)> {
    use std::io::Read as _;
    use std::os::unix::fs::PermissionsExt as _;
    let key_file = dir.join("secret.key");
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .unwrap()
        .read_exact(&mut bytes)
        .unwrap();
    let key: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    std::fs::write(&key_file, key).unwrap();
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    vec![(
        "TRELLIS_SECRET_KEY_FILE".to_string(),
        key_file.display().to_string(),
    )]
}

pub fn write_script(path: &Path, body: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, body).unwrap();
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// The API error code of a failed call.
pub fn code_of(r: Result<Value, trellis_client::ClientError>) -> i64 {
    match r {
        Ok(v) => panic!("expected an error, got {v}"),
        Err(e) => e
            .code()
            .unwrap_or_else(|| panic!("expected an API error, got {e}")),
    }
}

/// The API error code and text of a failed call, without consuming it.
pub fn refusal(r: &Result<Value, trellis_client::ClientError>) -> (i64, String) {
    match r {
        Ok(v) => panic!("expected an error, got {v}"),
        Err(e @ trellis_client::ClientError::Api { text, .. }) => (
            e.code()
                .unwrap_or_else(|| panic!("expected an API error, got {e}")),
            text.clone(),
        ),
        Err(e) => panic!("expected an API error, got {e}"),
    }
}

/// The error text of a failed call.
pub fn text_of(r: Result<Value, trellis_client::ClientError>) -> String {
    match r {
        Ok(v) => panic!("expected an error, got {v}"),
        Err(trellis_client::ClientError::Api { text, .. })
        | Err(trellis_client::ClientError::JobFailed { text, .. }) => text,
        Err(e) => panic!("expected an API error, got {e}"),
    }
}
