//! `trellis api`, the verb-noun forms (`trellis list virtualmachines state=Running`),
//! `trellis shell` and `trellis logout`: a CloudMonkey-like client. The profile (URL plus API keys
//! or username and password) comes from flags, `TRELLIS_*` environment variables, or
//! `~/.config/trellis/cli.toml`. A password login is saved in the cache (see `cache.rs`) and
//! reused by later calls until `trellis logout`; API keys, when given, are preferred.

use crate::apis::{self, ApiInfo};
use crate::cache::{self, SavedSession};
use crate::render::{self, Format};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::io::{IsTerminal, Write};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use trellis_client::{Auth, Client, ClientError};

mod shell;

pub use shell::{shell, split_line};

/// Where the server is and who we are.
#[derive(clap::Args, Debug, Clone)]
pub struct ConnArgs {
    /// API endpoint.
    #[arg(long, env = "TRELLIS_URL")]
    url: Option<String>,
    #[arg(long, env = "TRELLIS_API_KEY")]
    api_key: Option<String>,
    #[arg(long, env = "TRELLIS_SECRET_KEY", hide_env_values = true)]
    secret_key: Option<String>,
    #[arg(long, env = "TRELLIS_USERNAME")]
    username: Option<String>,
    #[arg(long, env = "TRELLIS_PASSWORD", hide_env_values = true)]
    password: Option<String>,
    #[arg(long, env = "TRELLIS_DOMAIN")]
    domain: Option<String>,
    /// Profile file (TOML with url, apikey, secretkey, username, password, domain).
    #[arg(long, env = "TRELLIS_CLI_CONFIG")]
    config: Option<std::path::PathBuf>,
}

/// How calls are made and printed.
#[derive(clap::Args, Debug, Clone)]
pub struct CallArgs {
    /// Output format.
    #[arg(long, value_enum, default_value = "json")]
    output: Format,
    /// Return the job id of async commands instead of waiting.
    #[arg(long)]
    no_wait: bool,
    /// How long to wait for async jobs, in seconds.
    #[arg(long, default_value_t = 1800)]
    wait_timeout: u64,
}

#[derive(clap::Args, Debug)]
pub struct ApiArgs {
    /// The API (e.g. listZones, any case), a verb and a noun (list zones), or `help <API>`.
    command: String,
    /// Parameters as key=value (map parameters as details[0].key=value); `filter=a,b` keeps
    /// only those fields in the output.
    params: Vec<String>,
    #[command(flatten)]
    conn: ConnArgs,
    #[command(flatten)]
    call: CallArgs,
}

/// `trellis <verb> <noun> [key=value ...]`: the words clap did not recognise as a subcommand.
#[derive(clap::Parser, Debug)]
#[command(
    name = "trellis",
    disable_help_flag = true,
    disable_version_flag = true
)]
struct VerbArgs {
    words: Vec<String>,
    /// Show the API's parameters instead of calling it.
    #[arg(short = 'h', long)]
    help: bool,
    #[command(flatten)]
    conn: ConnArgs,
    #[command(flatten)]
    call: CallArgs,
}

#[derive(clap::Args, Debug)]
pub struct ShellArgs {
    #[command(flatten)]
    conn: ConnArgs,
    #[command(flatten)]
    call: CallArgs,
}

#[derive(clap::Args, Debug)]
pub struct LogoutArgs {
    #[command(flatten)]
    conn: ConnArgs,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Profile {
    url: Option<String>,
    apikey: Option<String>,
    secretkey: Option<String>,
    username: Option<String>,
    password: Option<String>,
    domain: Option<String>,
}

fn load_profile(a: &ConnArgs) -> anyhow::Result<Profile> {
    let path = a.config.clone().or_else(|| {
        std::env::var_os("HOME")
            .map(|h| std::path::PathBuf::from(h).join(".config/trellis/cli.toml"))
    });
    match path {
        Some(p) if p.exists() => {
            let text = std::fs::read_to_string(&p)
                .map_err(|e| anyhow::anyhow!("cannot read profile {}: {e}", p.display()))?;
            toml::from_str(&text)
                .map_err(|e| anyhow::anyhow!("invalid profile {}: {e}", p.display()))
        }
        Some(p) if a.config.is_some() => {
            Err(anyhow::anyhow!("profile {} does not exist", p.display()))
        }
        _ => Ok(Profile::default()),
    }
}

/// A command that failed: what to tell the user, and the exit status.
///
/// Exit statuses: 1 the CLI could not do it (usage, unknown API, connection, timeout); 2 the
/// server refused the command or its job failed; 3 a custom action ran and reported failure.
#[derive(Debug)]
pub struct Failure {
    pub message: String,
    pub status: u8,
}

impl Failure {
    fn usage(message: impl Into<String>) -> Failure {
        Failure {
            message: message.into(),
            status: 1,
        }
    }

    fn from_client(e: &ClientError, url: &str) -> Failure {
        let message = if e.is_connection_refused() {
            format!("connection refused: is the server running at {url}?")
        } else if e.is_connect() {
            format!("cannot connect to {url}: {}", crate::error_chain(e))
        } else if e.status() == Some(404) {
            format!("404: the API path is /client/api (the URL was {url})")
        } else if let ClientError::Decode { status, .. } = e {
            format!(
                "the server at {url} did not answer as a CloudStack API (HTTP {status}): the API path is /client/api"
            )
        } else {
            crate::error_chain(e)
        };
        let status = match e.code() {
            Some(c) if (400..600).contains(&c) => 2,
            _ => 1,
        };
        Failure { message, status }
    }
}

enum Credentials {
    Keys {
        api_key: String,
        secret: String,
    },
    Password {
        username: String,
        password: Option<String>,
        domain: Option<String>,
    },
    Missing,
}

/// `listApis` as cached on disk.
#[derive(Serialize, Deserialize)]
struct CachedApis {
    fetched: u64,
    apis: Vec<ApiInfo>,
}

/// How long a cached `listApis` is used before it is fetched again (a name not found in it
/// always triggers a fetch).
const APIS_MAX_AGE_SECS: u64 = 24 * 3600;

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A connection to one server as one identity: opened lazily, logged in at most once, with the
/// session and `listApis` cached on disk.
pub struct Connection {
    url: String,
    credentials: Credentials,
    client: Option<Client>,
    /// The client's session came from a login made during the current call.
    logged_in_here: bool,
    apis: Option<Vec<ApiInfo>>,
    apis_fetched_here: bool,
}

impl Connection {
    pub fn from_args(a: &ConnArgs) -> anyhow::Result<Connection> {
        let profile = load_profile(a)?;
        let url = a
            .url
            .clone()
            .or(profile.url)
            .unwrap_or_else(|| "http://127.0.0.1:8080/client/api".into());
        let key = a.api_key.clone().or(profile.apikey);
        let secret = a.secret_key.clone().or(profile.secretkey);
        let username = a.username.clone().or(profile.username);
        let password = a.password.clone().or(profile.password);
        let domain = a.domain.clone().or(profile.domain);
        let credentials = match (key, secret, username) {
            (Some(api_key), Some(secret), _) => Credentials::Keys { api_key, secret },
            (_, _, Some(username)) => Credentials::Password {
                username,
                password,
                domain,
            },
            _ => Credentials::Missing,
        };
        Ok(Connection {
            url,
            credentials,
            client: None,
            logged_in_here: false,
            apis: None,
            apis_fetched_here: false,
        })
    }

    fn cache_key(&self) -> String {
        match &self.credentials {
            Credentials::Keys { api_key, .. } => cache::key_of(&[&self.url, "apikey", api_key]),
            Credentials::Password {
                username, domain, ..
            } => cache::key_of(&[&self.url, "user", username, domain.as_deref().unwrap_or("")]),
            Credentials::Missing => cache::key_of(&[&self.url]),
        }
    }

    fn session_path(&self) -> Option<std::path::PathBuf> {
        cache::path("session", &self.cache_key())
    }

    fn saved_session(&self) -> Option<SavedSession> {
        let Credentials::Password { username, .. } = &self.credentials else {
            return None;
        };
        let saved: SavedSession = cache::load(&self.session_path()?)?;
        (saved.url == self.url && &saved.username == username).then_some(saved)
    }

    async fn login(&mut self) -> Result<(), Failure> {
        let Credentials::Password {
            username,
            password,
            domain,
        } = &self.credentials
        else {
            return Err(Failure::usage("no credentials"));
        };
        let Some(password) = password else {
            return Err(Failure::usage(format!(
                "no saved session for {username} at {}: set TRELLIS_PASSWORD (or a profile) to log in",
                self.url
            )));
        };
        let client = Client::login(&self.url, username, password, domain.as_deref())
            .await
            .map_err(|e| Failure::from_client(&e, &self.url))?;
        if let (Auth::Session { session_key }, Some(jsession_id), Some(path)) =
            (client.auth(), client.jsession_id(), self.session_path())
        {
            let saved = SavedSession {
                url: self.url.clone(),
                username: username.clone(),
                sessionkey: session_key.clone(),
                jsessionid: jsession_id.to_string(),
            };
            if let Err(e) = cache::store(&path, &saved) {
                let _ = writeln!(
                    std::io::stderr(),
                    "warning: cannot save the session in {}: {e}",
                    path.display()
                );
            }
        }
        self.client = Some(client);
        self.logged_in_here = true;
        Ok(())
    }

    async fn open(&mut self) -> Result<(), Failure> {
        if self.client.is_some() {
            return Ok(());
        }
        match &self.credentials {
            Credentials::Keys { api_key, secret } => {
                self.client = Some(Client::new(
                    &self.url,
                    Auth::Keys {
                        api_key: api_key.clone(),
                        secret: secret.clone(),
                        v3: true,
                    },
                ));
                Ok(())
            }
            Credentials::Password { .. } => {
                if let Some(saved) = self.saved_session() {
                    if let Ok(client) =
                        Client::resume_session(&self.url, &saved.sessionkey, &saved.jsessionid)
                    {
                        self.client = Some(client);
                        return Ok(());
                    }
                }
                self.login().await
            }
            Credentials::Missing => Err(Failure::usage(
                "no credentials: set TRELLIS_API_KEY and TRELLIS_SECRET_KEY, or TRELLIS_USERNAME and TRELLIS_PASSWORD (or a profile file)",
            )),
        }
    }

    /// Call `command`; a session the server no longer knows (401: saved by an earlier process,
    /// or expired during a long shell) is replaced by one new login and the call repeated once.
    pub async fn call(
        &mut self,
        command: &str,
        params: &[(String, String)],
    ) -> Result<Value, Failure> {
        // A session from a login made for this very call is not replaced: its 401 is real.
        self.logged_in_here = false;
        self.open().await?;
        let client = self.client.as_ref().expect("opened");
        match client.call_owned(command, params).await {
            Err(e)
                if e.is_unauthorized()
                    && !self.logged_in_here
                    && matches!(self.credentials, Credentials::Password { .. }) =>
            {
                if let Some(path) = self.session_path() {
                    cache::remove(&path);
                }
                self.client = None;
                self.login().await?;
                let client = self.client.as_ref().expect("logged in");
                client
                    .call_owned(command, params)
                    .await
                    .map_err(|e| Failure::from_client(&e, &self.url))
            }
            other => other.map_err(|e| Failure::from_client(&e, &self.url)),
        }
    }

    async fn wait_job(&self, jobid: &str, limit: Duration) -> Result<Value, Failure> {
        let client = self.client.as_ref().expect("opened");
        let mut err = std::io::stderr();
        let tty = err.is_terminal();
        let waited = client
            .wait_job(jobid, limit, |elapsed| {
                if tty {
                    let _ = write!(
                        err,
                        "\rwaiting for job {jobid} ... {:.0}s",
                        elapsed.as_secs_f64()
                    );
                    let _ = err.flush();
                }
            })
            .await;
        if tty {
            let _ = writeln!(std::io::stderr());
        }
        waited.map_err(|e| Failure::from_client(&e, &self.url))
    }

    fn apis_path(&self) -> Option<std::path::PathBuf> {
        cache::path("apis", &self.cache_key())
    }

    /// `listApis` from the disk cache whatever its age, without network (for completion).
    pub fn cached_apis(&self) -> Option<Vec<ApiInfo>> {
        let cached: CachedApis = cache::load(&self.apis_path()?)?;
        Some(cached.apis)
    }

    /// The server's APIs: from the cache when fresh, else fetched (and cached).
    pub async fn apis(&mut self, refresh: bool) -> Result<&[ApiInfo], Failure> {
        if self.apis.is_none() && !refresh {
            if let Some(cached) = self
                .apis_path()
                .and_then(|p| cache::load::<CachedApis>(&p))
                .filter(|c| now_secs().saturating_sub(c.fetched) < APIS_MAX_AGE_SECS)
            {
                self.apis = Some(cached.apis);
            }
        }
        if refresh || self.apis.is_none() {
            let answer = self.call("listApis", &[]).await?;
            let list = apis::parse(&answer);
            if let Some(path) = self.apis_path() {
                let _ = cache::store(
                    &path,
                    &CachedApis {
                        fetched: now_secs(),
                        apis: list.clone(),
                    },
                );
            }
            self.apis = Some(list);
            self.apis_fetched_here = true;
        }
        Ok(self.apis.as_deref().unwrap_or_default())
    }

    /// The API meant by `names` (one API name in any case, or a verb and a noun). `None` when
    /// the server's API list is unavailable and one name was given: it is then used as typed.
    async fn resolve(&mut self, names: &[String]) -> Result<Option<ApiInfo>, Failure> {
        if let Some(extra) = names.get(2) {
            return Err(Failure::usage(format!(
                "unexpected argument {extra}: parameters are key=value"
            )));
        }
        let wanted = names.concat();
        let listed = match self.apis(false).await {
            Ok(list) => list,
            Err(f) if names.len() == 1 && f.status == 2 => return Ok(None),
            Err(f) => return Err(f),
        };
        if let Some(api) = apis::find(listed, &wanted) {
            return Ok(Some(api.clone()));
        }
        if !self.apis_fetched_here {
            if let Some(api) = apis::find(self.apis(true).await?, &wanted) {
                return Ok(Some(api.clone()));
            }
        }
        let listed = self.apis.as_deref().unwrap_or_default();
        let typed = names.join(" ");
        if names.len() == 1 {
            let nouns = apis::nouns(listed, &wanted);
            if !nouns.is_empty() {
                let examples: Vec<String> = nouns
                    .iter()
                    .take(3)
                    .map(|n| format!("trellis {wanted} {n}"))
                    .collect();
                return Err(Failure::usage(format!(
                    "{wanted} needs a noun, e.g. {} (`trellis help {wanted} <noun>` lists the parameters)",
                    examples.join(", ")
                )));
            }
        }
        let suggestions = apis::suggest(listed, &wanted);
        let mut message = format!("unknown API {typed}");
        if !suggestions.is_empty() {
            message.push_str(": ");
            message.push_str(&apis::did_you_mean(&suggestions));
        }
        Err(Failure::usage(message))
    }
}

/// The words of a command: the leading names (no `=`) and the `key=value` parameters.
struct Words {
    names: Vec<String>,
    params: Vec<(String, String)>,
}

/// Split words into the leading names and the `key=value` parameters after them.
fn split_words(words: &[String]) -> Result<Words, Failure> {
    let mut names = Vec::new();
    let mut params = Vec::new();
    for word in words {
        match word.split_once('=') {
            Some((k, v)) => params.push((k.to_string(), v.to_string())),
            None if params.is_empty() => names.push(word.clone()),
            None => {
                return Err(Failure::usage(format!("expected key=value, got {word}")));
            }
        }
    }
    Ok(Words { names, params })
}

/// Run one command given as words (`listZones name=a`, `list zones`, `help list zones`).
pub async fn execute(
    conn: &mut Connection,
    words: &[String],
    call: &CallArgs,
    help: bool,
    out: &mut dyn Write,
) -> Result<(), Failure> {
    let Words { names, params } = split_words(words)?;
    if names.first().is_some_and(|n| n == "help") {
        return print_help(conn, &names[1..], out).await;
    }
    if help {
        return print_help(conn, &names, out).await;
    }
    if names.is_empty() {
        return Err(Failure::usage(
            "expected an API name (listZones) or a verb and a noun (list zones)",
        ));
    }
    let api = conn.resolve(&names).await?;
    let command = api
        .as_ref()
        .map_or_else(|| names[0].clone(), |a| a.name.clone());
    let client_filter = !api.as_ref().is_some_and(|a| a.has_param("filter"));
    let mut fields: Option<Vec<String>> = None;
    let mut sent = Vec::with_capacity(params.len());
    for (k, v) in params {
        if client_filter && k == "filter" {
            fields = Some(
                v.split(',')
                    .map(str::trim)
                    .filter(|f| !f.is_empty())
                    .map(str::to_string)
                    .collect(),
            );
        } else {
            sent.push((k, v));
        }
    }
    let result = conn.call(&command, &sent).await?;
    let is_job = result
        .as_object()
        .is_some_and(|m| m.contains_key("jobid") && m.len() <= 2);
    let value = if is_job && !call.no_wait {
        let jobid = result["jobid"].as_str().unwrap_or_default().to_string();
        conn.wait_job(&jobid, Duration::from_secs(call.wait_timeout))
            .await?
    } else {
        result
    };
    let shown = match &fields {
        Some(f) => render::filter(&value, f),
        None => value.clone(),
    };
    write!(out, "{}", render::render(&shown, call.output))
        .and_then(|()| out.flush())
        .map_err(|e| Failure::usage(format!("cannot write the output: {e}")))?;
    if let Some(r) = value.get("customactionresult") {
        if r.get("success") == Some(&Value::Bool(false)) {
            let name = r.get("name").and_then(Value::as_str).unwrap_or("");
            let message = r
                .pointer("/result/message")
                .and_then(Value::as_str)
                .unwrap_or("no message");
            return Err(Failure {
                message: format!("custom action {name} failed: {message}"),
                status: 3,
            });
        }
    }
    Ok(())
}

async fn print_help(
    conn: &mut Connection,
    names: &[String],
    out: &mut dyn Write,
) -> Result<(), Failure> {
    let text = if names.is_empty() {
        let listed = conn.apis(false).await?;
        format!(
            "usage: trellis <verb> <noun> [name=value ...] [filter=field,...] [--output json|table|csv|text]\n       trellis api <API> [name=value ...]\n       trellis help <verb> <noun> | trellis help <API>\nverbs: {}\n",
            apis::verbs(listed).join(" ")
        )
    } else {
        match conn.resolve(names).await? {
            Some(api) => apis::help(&api),
            None => {
                return Err(Failure::usage(format!(
                    "no help for {}: the server's API list is unavailable",
                    names.join(" ")
                )))
            }
        }
    };
    write!(out, "{text}").map_err(|e| Failure::usage(format!("cannot write the output: {e}")))
}

fn report(result: Result<(), Failure>) -> u8 {
    match result {
        Ok(()) => 0,
        Err(f) => {
            let _ = writeln!(std::io::stderr(), "error: {}", f.message);
            f.status
        }
    }
}

/// `trellis api <command> [k=v ...]`.
pub async fn run(a: ApiArgs) -> anyhow::Result<u8> {
    let mut conn = Connection::from_args(&a.conn)?;
    let mut words = vec![a.command];
    words.extend(a.params);
    let mut out = std::io::stdout();
    Ok(report(
        execute(&mut conn, &words, &a.call, false, &mut out).await,
    ))
}

/// `trellis <verb> <noun> [k=v ...]` (and `trellis <API> ...`, `trellis help ...`).
pub async fn run_words(raw: Vec<String>) -> anyhow::Result<u8> {
    let parsed = match <VerbArgs as clap::Parser>::try_parse_from(
        std::iter::once("trellis".to_string()).chain(raw),
    ) {
        Ok(p) => p,
        Err(e) => {
            let _ = e.print();
            return Ok(2);
        }
    };
    let mut conn = Connection::from_args(&parsed.conn)?;
    let mut out = std::io::stdout();
    Ok(report(
        execute(
            &mut conn,
            &parsed.words,
            &parsed.call,
            parsed.help,
            &mut out,
        )
        .await,
    ))
}

/// `trellis logout`: end the saved session and forget it.
pub async fn logout(a: LogoutArgs) -> anyhow::Result<u8> {
    let conn = Connection::from_args(&a.conn)?;
    let mut out = std::io::stdout();
    let Credentials::Password { username, .. } = &conn.credentials else {
        writeln!(out, "no saved session: API keys need no login")?;
        return Ok(0);
    };
    let Some(saved) = conn.saved_session() else {
        writeln!(out, "not logged in as {username} at {}", conn.url)?;
        return Ok(0);
    };
    if let Some(path) = conn.session_path() {
        cache::remove(&path);
    }
    let client = Client::resume_session(&conn.url, &saved.sessionkey, &saved.jsessionid)
        .map_err(|e| anyhow::anyhow!(crate::error_chain(&e)))?;
    match client.logout().await {
        Ok(_) => {
            writeln!(out, "logged out {username} at {}", conn.url)?;
            Ok(0)
        }
        Err(e) if e.is_connect() => Ok(report(Err(Failure::from_client(&e, &conn.url)))),
        Err(_) => {
            writeln!(
                out,
                "logged out {username} at {} (the session had already ended)",
                conn.url
            )?;
            Ok(0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_split_like_a_shell() {
        assert_eq!(
            split_line(r#"list zones name="a b" x='c"d' e=f\ g"#).unwrap(),
            vec!["list", "zones", "name=a b", "x=c\"d", "e=f g"]
        );
        assert!(split_line("a 'b").is_err());
        assert!(split_line("   ").unwrap().is_empty());
    }
}
