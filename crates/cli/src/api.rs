//! `trellis api`: a CloudMonkey-like client. The profile (URL plus API keys or username and
//! password) comes from flags, `TRELLIS_*` environment variables, or `~/.config/trellis/cli.toml`.

use serde::Deserialize;
use serde_json::Value;
use std::io::Write;
use std::time::Duration;
use trellis_client::{Auth, Client};

#[derive(clap::Args, Debug)]
pub struct ApiArgs {
    /// The command, e.g. listZones.
    command: String,
    /// Parameters as key=value (map parameters as details[0].key=value).
    params: Vec<String>,
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
    /// Output format.
    #[arg(long, value_enum, default_value = "json")]
    output: Output,
    /// Return the job id of async commands instead of waiting.
    #[arg(long)]
    no_wait: bool,
    /// How long to wait for async jobs, in seconds.
    #[arg(long, default_value_t = 1800)]
    wait_timeout: u64,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy)]
enum Output {
    Json,
    Table,
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

fn load_profile(a: &ApiArgs) -> anyhow::Result<Profile> {
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

pub async fn run(a: ApiArgs) -> anyhow::Result<u8> {
    let profile = load_profile(&a)?;
    let url = a
        .url
        .clone()
        .or(profile.url)
        .unwrap_or_else(|| "http://127.0.0.1:8080/client/api".into());
    let key = a.api_key.clone().or(profile.apikey);
    let secret = a.secret_key.clone().or(profile.secretkey);
    let user = a.username.clone().or(profile.username);
    let pass = a.password.clone().or(profile.password);
    let domain = a.domain.clone().or(profile.domain);
    let client = match (key, secret, user, pass) {
        (Some(k), Some(s), _, _) => Client::new(&url, Auth::Keys { api_key: k, secret: s, v3: true }),
        (_, _, Some(u), Some(p)) => match Client::login(&url, &u, &p, domain.as_deref()).await {
            Ok(c) => c,
            Err(e) => return fail(&e),
        },
        _ => anyhow::bail!("no credentials: set TRELLIS_API_KEY and TRELLIS_SECRET_KEY, or TRELLIS_USERNAME and TRELLIS_PASSWORD (or a profile file)"),
    };
    let mut params = Vec::new();
    for p in &a.params {
        let (k, v) = p
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("expected key=value, got {p}"))?;
        params.push((k.to_string(), v.to_string()));
    }
    let result = match client.call_owned(&a.command, &params).await {
        Ok(r) => r,
        Err(e) => return fail(&e),
    };
    let is_job = result
        .as_object()
        .is_some_and(|m| m.contains_key("jobid") && m.len() <= 2);
    let value = if is_job && !a.no_wait {
        let jobid = result["jobid"].as_str().unwrap_or_default().to_string();
        let mut err = std::io::stderr();
        let tty = std::io::IsTerminal::is_terminal(&err);
        let waited = client
            .wait_job(&jobid, Duration::from_secs(a.wait_timeout), |elapsed| {
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
        match waited {
            Ok(v) => v,
            Err(e) => return fail(&e),
        }
    } else {
        result
    };
    let mut out = std::io::stdout();
    match a.output {
        Output::Json => writeln!(out, "{}", serde_json::to_string_pretty(&value)?)?,
        Output::Table => write!(out, "{}", table(&value))?,
    }
    Ok(0)
}

fn fail(e: &trellis_client::ClientError) -> anyhow::Result<u8> {
    let _ = writeln!(std::io::stderr(), "error: {e}");
    Ok(match e.code() {
        Some(c) if (400..600).contains(&c) => 2,
        _ => 1,
    })
}

/// Render the first list found (or the object) as an aligned text table.
fn table(v: &Value) -> String {
    let rows: Vec<&serde_json::Map<String, Value>> = match v
        .as_object()
        .and_then(|m| m.values().find_map(Value::as_array))
    {
        Some(arr) => arr.iter().filter_map(Value::as_object).collect(),
        None => match v.as_object().and_then(|m| {
            if m.len() == 1 {
                m.values().next().and_then(Value::as_object)
            } else {
                Some(m)
            }
        }) {
            Some(m) => vec![m],
            None => return format!("{v}\n"),
        },
    };
    let mut cols: Vec<String> = Vec::new();
    for r in &rows {
        for (k, val) in r.iter() {
            if !val.is_object() && !val.is_array() && !cols.contains(k) {
                cols.push(k.clone());
            }
        }
    }
    let cell = |r: &serde_json::Map<String, Value>, c: &str| match r.get(c) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(x) => x.to_string(),
    };
    let widths: Vec<usize> = cols
        .iter()
        .map(|c| {
            rows.iter()
                .map(|r| cell(r, c).chars().count())
                .max()
                .unwrap_or(0)
                .max(c.len())
        })
        .collect();
    let mut out = String::new();
    let line = |vals: Vec<String>| {
        vals.iter()
            .zip(&widths)
            .map(|(v, w)| format!("{v:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
            + "\n"
    };
    out.push_str(&line(cols.clone()));
    out.push_str(&line(widths.iter().map(|w| "-".repeat(*w)).collect()));
    for r in &rows {
        out.push_str(&line(cols.iter().map(|c| cell(r, c)).collect()));
    }
    out
}
