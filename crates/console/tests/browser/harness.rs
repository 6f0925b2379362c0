//! Processes and utilities for the browser test: a real `trellis serve`, chromedriver driving a
//! headless Chromium, a small CloudStack API client for setup, and page actions (wait, fill,
//! click, screenshot) with failure messages that say what was expected.

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub type TestResult<T = ()> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

pub const ADMIN_PASSWORD: &str = "console-Secret-7";

/// Fail with a message.
pub fn fail<T>(msg: impl Into<String>) -> TestResult<T> {
    Err(msg.into().into())
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("workspace root")
        .to_path_buf()
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|p| {
            if p.is_absolute() {
                p
            } else {
                workspace_root().join(p)
            }
        })
        .unwrap_or_else(|| workspace_root().join("target"))
}

/// Where screenshots go: `TRELLIS_CONSOLE_SCREENSHOTS` (e.g. `docs/screenshots` to refresh the
/// committed ones), else `target/console-screenshots`.
pub fn screenshot_dir() -> PathBuf {
    match std::env::var_os("TRELLIS_CONSOLE_SCREENSHOTS") {
        Some(p) => {
            let p = PathBuf::from(p);
            if p.is_absolute() {
                p
            } else {
                workspace_root().join(p)
            }
        }
        None => target_dir().join("console-screenshots"),
    }
}

/// The first existing executable among an environment override and candidates on PATH.
pub fn find_tool(env: &str, names: &[&str]) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(env) {
        let p = PathBuf::from(p);
        return p.is_file().then_some(p);
    }
    let path = std::env::var_os("PATH")?;
    for dir in std::env::split_paths(&path) {
        for n in names {
            let c = dir.join(n);
            if c.is_file() {
                return Some(c);
            }
        }
    }
    None
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn stop(child: &mut Option<Child>) {
    if let Some(mut c) = child.take() {
        let _ = c.kill();
        let _ = c.wait();
    }
}

/// A running `trellis serve`.
pub struct Server {
    child: Option<Child>,
    pub dir: tempfile::TempDir,
    pub base: String,
}

impl Server {
    /// The binary under test: `TRELLIS_BIN`, else `target/debug/trellis`.
    pub fn binary() -> PathBuf {
        std::env::var_os("TRELLIS_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| target_dir().join("debug").join("trellis"))
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn extensions_dir(&self) -> PathBuf {
        self.data_dir().join("extensions")
    }

    pub fn start(prepare: impl FnOnce(&Path)) -> TestResult<Server> {
        let bin = Server::binary();
        if !bin.is_file() {
            return fail(format!(
                "{} does not exist; build it first with `cargo build -p trellis-cli`",
                bin.display()
            ));
        }
        let dir = tempfile::tempdir()?;
        let data = dir.path().join("data");
        std::fs::create_dir_all(data.join("extensions"))?;
        prepare(&data.join("extensions"));
        // No built-in extension binaries: start fast and deterministically.
        let builtin = dir.path().join("no-builtins");
        std::fs::create_dir_all(&builtin)?;
        let log = std::fs::File::create(dir.path().join("server.log"))?;
        let mut child = Command::new(&bin)
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(&data)
            .arg("--builtin-dir")
            .arg(&builtin)
            .env("TRELLIS_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("TRELLIS_LOG", "info,sqlx=warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()?;
        let stdout = child.stdout.take().expect("piped stdout");
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        let addr = loop {
            line.clear();
            if reader.read_line(&mut line)? == 0 {
                let _ = child.kill();
                let _ = child.wait();
                let log =
                    std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default();
                return fail(format!("trellis exited before listening:\n{log}"));
            }
            if let Some(rest) = line.trim().strip_prefix("Trellis is listening on http://") {
                break rest.to_string();
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                return fail("trellis did not start within 60 s");
            }
        };
        std::thread::spawn(move || {
            let mut sink = String::new();
            while reader.read_line(&mut sink).unwrap_or(0) > 0 {
                sink.clear();
            }
        });
        Ok(Server {
            child: Some(child),
            dir,
            base: format!("http://{addr}"),
        })
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

/// chromedriver plus a WebDriver session on a fresh headless Chromium profile.
pub struct Browser {
    child: Option<Child>,
    _profile: tempfile::TempDir,
    pub client: Client,
}

/// Collects uncaught errors, rejected promises and CSP violations into `window.__pageErrors`,
/// installed before any page script runs.
const ERROR_TRAP: &str = "window.__pageErrors = [];\
    window.addEventListener('error', (e) => window.__pageErrors.push('error: ' + e.message));\
    window.addEventListener('unhandledrejection', (e) => window.__pageErrors.push('rejection: ' + (e.reason && e.reason.message || e.reason)));\
    document.addEventListener('securitypolicyviolation', (e) => window.__pageErrors.push('csp: ' + e.violatedDirective + ' ' + e.blockedURI));";

impl Browser {
    pub async fn start(chromedriver: &Path, chromium: &Path) -> TestResult<Browser> {
        let port = free_port();
        let child = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let mut guard = Some(child);
        let profile = tempfile::tempdir()?;
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        let http = reqwest::Client::new();
        loop {
            if let Ok(r) = http.get(format!("{url}/status")).send().await {
                if r.status().is_success() {
                    break;
                }
            }
            if Instant::now() > deadline {
                stop(&mut guard);
                return fail("chromedriver did not answer within 30 s");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": chromium.to_string_lossy(),
                "args": [
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-dev-shm-usage",
                    "--no-first-run",
                    "--hide-scrollbars",
                    "--force-device-scale-factor=1",
                    "--lang=en-US",
                    format!("--user-data-dir={}", profile.path().display()),
                    "--window-size=1280,1000",
                ],
            }),
        );
        let client =
            match ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
                .capabilities(caps)
                .connect(&url)
                .await
            {
                Ok(c) => c,
                Err(e) => {
                    stop(&mut guard);
                    return fail(format!("cannot start a Chromium session: {e}"));
                }
            };
        // Install the error trap through the DevTools protocol (not subject to the page's CSP).
        let session = client.session_id().await?.unwrap_or_default();
        let trap = http
            .post(format!("{url}/session/{session}/goog/cdp/execute"))
            .json(&json!({"cmd": "Page.addScriptToEvaluateOnNewDocument", "params": {"source": ERROR_TRAP}}))
            .send()
            .await;
        if !trap.map(|r| r.status().is_success()).unwrap_or(false) {
            stop(&mut guard);
            return fail("cannot install the page error trap through chromedriver");
        }
        Ok(Browser {
            child: guard,
            _profile: profile,
            client,
        })
    }

    pub async fn close(mut self) {
        let client = self.client.clone();
        let _ = client.close().await;
        stop(&mut self.child);
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

/// A session-authenticated CloudStack API client for test setup (the same contract the console
/// uses: `login`, then `sessionkey` as a parameter plus the cookies).
pub struct Api {
    http: reqwest::Client,
    url: String,
    key: String,
}

impl Api {
    pub async fn login(base: &str, username: &str, password: &str) -> TestResult<Api> {
        let http = reqwest::Client::builder().cookie_store(true).build()?;
        let url = format!("{base}/client/api");
        let r: Value = http
            .post(&url)
            .form(&[
                ("command", "login"),
                ("username", username),
                ("password", password),
                ("response", "json"),
            ])
            .send()
            .await?
            .json()
            .await?;
        let key = r["loginresponse"]["sessionkey"]
            .as_str()
            .ok_or_else(|| format!("login failed: {r}"))?
            .to_string();
        Ok(Api { http, url, key })
    }

    /// Call a command; async commands are waited for and their job result returned.
    pub async fn call(&self, command: &str, params: &[(&str, &str)]) -> TestResult<Value> {
        let mut form: Vec<(&str, &str)> = vec![
            ("command", command),
            ("response", "json"),
            ("sessionkey", &self.key),
        ];
        form.extend_from_slice(params);
        let v: Value = self
            .http
            .post(&self.url)
            .form(&form)
            .send()
            .await?
            .json()
            .await?;
        let inner = v
            .as_object()
            .and_then(|o| o.iter().find(|(k, _)| k.ends_with("response")))
            .map(|(_, v)| v.clone())
            .ok_or_else(|| format!("{command}: unexpected answer {v}"))?;
        if inner.get("errorcode").is_some() {
            return fail(format!("{command} failed: {inner}"));
        }
        // queryAsyncJobResult answers with the job id too: that is the result, not a new job.
        let job = inner
            .get("jobid")
            .and_then(Value::as_str)
            .filter(|_| command != "queryAsyncJobResult");
        if let Some(job) = job {
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                let r = Box::pin(self.call("queryAsyncJobResult", &[("jobid", job)])).await?;
                match r["jobstatus"].as_i64() {
                    Some(1) => return Ok(r["jobresult"].clone()),
                    Some(0) if Instant::now() < deadline => {
                        tokio::time::sleep(Duration::from_millis(200)).await
                    }
                    _ => return fail(format!("{command} job failed: {r}")),
                }
            }
        }
        Ok(inner)
    }
}

/// Page actions around a WebDriver client.
pub struct Page<'a> {
    pub c: &'a Client,
    pub base: String,
    pub shots: PathBuf,
}

const WAIT: Duration = Duration::from_secs(20);

impl Page<'_> {
    pub async fn open(&self, route: &str) -> TestResult {
        self.c.goto(&format!("{}/{route}", self.base)).await?;
        Ok(())
    }

    /// Navigate inside the console (hash route) without reloading the page.
    pub async fn route(&self, route: &str) -> TestResult {
        self.c
            .execute("location.hash = arguments[0];", vec![json!(route)])
            .await?;
        Ok(())
    }

    pub async fn wait(&self, css: &str) -> TestResult<Element> {
        match self
            .c
            .wait()
            .at_most(WAIT)
            .every(Duration::from_millis(100))
            .for_element(Locator::Css(css))
            .await
        {
            Ok(e) => Ok(e),
            Err(e) => fail(format!("no element matching `{css}` appeared: {e}")),
        }
    }

    /// Wait until the element matching `css` contains `text`; returns its full text.
    pub async fn wait_text(&self, css: &str, text: &str) -> TestResult<String> {
        let deadline = Instant::now() + WAIT;
        let mut last = String::new();
        loop {
            if let Ok(els) = self.c.find_all(Locator::Css(css)).await {
                for e in els {
                    if let Ok(t) = e.text().await {
                        if t.contains(text) {
                            return Ok(t);
                        }
                        last = t;
                    }
                }
            }
            if Instant::now() > deadline {
                return fail(format!(
                    "`{css}` never contained {text:?}; last text: {last:?}"
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Wait until nothing matches `css`.
    pub async fn wait_gone(&self, css: &str) -> TestResult {
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            if self.c.find_all(Locator::Css(css)).await?.is_empty() {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        fail(format!("`{css}` did not go away"))
    }

    /// Click the element matching `css`. Lists re-render when a job ends, so an element found
    /// a moment ago may be gone: find it again and retry a few times.
    pub async fn click(&self, css: &str) -> TestResult {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let e = self.wait(css).await?;
            let outcome = async {
                self.c
                    .execute(
                        "arguments[0].scrollIntoView({block: 'center'});",
                        vec![serde_json::to_value(&e)?],
                    )
                    .await?;
                e.click().await?;
                TestResult::Ok(())
            }
            .await;
            match outcome {
                Ok(()) => return Ok(()),
                Err(err) if attempt >= 5 => return fail(format!("cannot click `{css}`: {err}")),
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }

    pub async fn fill(&self, css: &str, value: &str) -> TestResult {
        let e = self.wait(css).await?;
        e.clear().await?;
        e.send_keys(value).await?;
        Ok(())
    }

    pub async fn select(&self, css: &str, value: &str) -> TestResult {
        let e = self.wait(css).await?;
        e.select_by_value(value).await?;
        Ok(())
    }

    /// Choose the first option of a select whose text contains `text`.
    pub async fn select_text(&self, css: &str, text: &str) -> TestResult {
        let sel = self.wait(css).await?;
        let deadline = Instant::now() + WAIT;
        loop {
            for o in sel.find_all(Locator::Css("option")).await? {
                if o.text().await?.contains(text) {
                    let v = o.attr("value").await?.unwrap_or_default();
                    sel.select_by_value(&v).await?;
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                return fail(format!("`{css}` has no option containing {text:?}"));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Set an input's value from script and fire `input`/`change` (for date pickers, whose
    /// keyboard entry depends on the locale).
    pub async fn set_value(&self, css: &str, value: &str) -> TestResult {
        let e = self.wait(css).await?;
        self.c
            .execute(
                "const e = arguments[0]; e.value = arguments[1];\
                 e.dispatchEvent(new Event('input', {bubbles: true}));\
                 e.dispatchEvent(new Event('change', {bubbles: true}));",
                vec![serde_json::to_value(&e)?, json!(value)],
            )
            .await?;
        Ok(())
    }

    pub async fn text(&self, css: &str) -> TestResult<String> {
        Ok(self.wait(css).await?.text().await?)
    }

    pub async fn exists(&self, css: &str) -> TestResult<bool> {
        Ok(!self.c.find_all(Locator::Css(css)).await?.is_empty())
    }

    /// Save a PNG of the viewport as `<name>.png`.
    pub async fn shot(&self, name: &str) -> TestResult {
        // Success toasts of earlier steps would cover the page; errors and jobs stay.
        self.c
            .execute(
                "document.querySelectorAll('.toast-success').forEach((t) => t.remove());",
                vec![],
            )
            .await?;
        tokio::time::sleep(Duration::from_millis(250)).await;
        let png = self.c.screenshot().await?;
        std::fs::create_dir_all(&self.shots)?;
        std::fs::write(self.shots.join(format!("{name}.png")), png)?;
        Ok(())
    }

    /// Fail if the page had uncaught script errors or Content-Security-Policy violations.
    pub async fn no_script_errors(&self) -> TestResult {
        let v = self
            .c
            .execute(
                "return window.__pageErrors || ['error trap missing'];",
                vec![],
            )
            .await?;
        match v.as_array() {
            Some(a) if a.is_empty() => Ok(()),
            _ => fail(format!("the page reported script errors: {v}")),
        }
    }
}
