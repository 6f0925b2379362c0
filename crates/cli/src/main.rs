//! `trellis`: the management server (`serve`), a CloudStack API client (`api`, the verb-noun
//! forms such as `trellis list zones`, `shell`, `logout`, `completion`), the extension
//! conformance checker (`extension check`), offline maintenance (`admin reset-password`), the
//! simulators (`sim`) and a one-command demo (`quickstart`).

mod admin;
mod api;
mod apis;
mod cache;
mod check;
mod completion;
mod quickstart;
mod render;

use clap::{Parser, Subcommand};
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use trellis_server::config::{ConfigFile, ServerConfig};

#[derive(Parser)]
#[command(
    name = "trellis",
    version,
    about = "Trellis: a CloudStack-compatible management server for extension-orchestrated instances",
    after_help = "API calls also take a verb and a noun: `trellis list virtualmachines state=Running`, `trellis help list virtualmachines`.",
    disable_help_subcommand = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the management server.
    Serve(ServeArgs),
    /// Call the CloudStack API (like CloudMonkey): `trellis api listZones name=zone1`.
    Api(api::ApiArgs),
    /// Read API commands line by line (`list zones`, `help list zones`), one login for all.
    Shell(api::ShellArgs),
    /// End the saved login session of `trellis api` and forget it.
    Logout(api::LogoutArgs),
    /// Print a completion script: `source <(trellis completion bash)`.
    Completion(completion::CompletionArgs),
    /// Completion candidates for the words typed so far (used by the completion scripts).
    #[command(name = "__complete", hide = true)]
    Complete(completion::CompleteArgs),
    /// Offline maintenance with the server stopped: `trellis admin reset-password`.
    #[command(subcommand)]
    Admin(admin::AdminCommand),
    /// Extension author kit.
    #[command(subcommand)]
    Extension(ExtensionCommand),
    /// Run a simulator of a system the built-in extensions drive.
    #[command(subcommand)]
    Sim(SimCommand),
    /// Start a server seeded to run QEMU/KVM instances on this machine, and print how to deploy one.
    Quickstart(quickstart::QuickstartArgs),
    /// `trellis <verb> <noun> [key=value ...]`, `trellis help <verb> <noun>`.
    #[command(external_subcommand)]
    Words(Vec<String>),
}

#[derive(Subcommand)]
enum ExtensionCommand {
    /// Run an executable through every standard action with synthetic payloads and report.
    Check(check::CheckArgs),
}

#[derive(Subcommand)]
enum SimCommand {
    /// A Proxmox VE REST API simulator.
    Proxmox(trellis_sim_proxmox::SimArgs),
    /// A MAAS 2.0 API simulator.
    Maas(trellis_sim_maas::SimArgs),
    /// A WinRM / Hyper-V simulator.
    Hyperv(trellis_sim_hyperv::SimArgs),
}

#[derive(clap::Args, Debug, Clone)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "TRELLIS_LISTEN")]
    listen: Option<SocketAddr>,
    /// Where state lives (SQLite database, extensions directory) [default: ./trellis-data].
    #[arg(long, env = "TRELLIS_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// `sqlite://PATH` or `postgres://...`; default SQLite in the data directory.
    #[arg(long, env = "TRELLIS_DATABASE_URL")]
    database_url: Option<String>,
    /// Extension executables; default `<data-dir>/extensions`.
    #[arg(long, env = "TRELLIS_EXTENSIONS_DIR")]
    extensions_dir: Option<PathBuf>,
    /// Directory holding the built-in extension binaries; default: next to this executable.
    #[arg(long, env = "TRELLIS_BUILTIN_DIR")]
    builtin_dir: Option<PathBuf>,
    /// A TOML configuration file (flags and environment override it) [default: none].
    #[arg(long, env = "TRELLIS_CONFIG")]
    config: Option<PathBuf>,
    /// Log JSON lines instead of text (text has colours only on a terminal; the log filter is
    /// TRELLIS_LOG) [default: text, filter info,sqlx=warn].
    #[arg(long, env = "TRELLIS_JSON_LOGS")]
    json_logs: bool,
    /// The key that seals job secrets (64 hex characters); default `<data-dir>/secret.key`,
    /// created on first start. Servers sharing one PostgreSQL database must share it.
    #[arg(long, env = "TRELLIS_SECRET_KEY_FILE")]
    secret_key_file: Option<PathBuf>,
    /// Serve https with this PEM certificate chain (needs --tls-key) [default: plain http].
    #[arg(long, env = "TRELLIS_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, env = "TRELLIS_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
}

impl ServeArgs {
    fn into_config(self) -> anyhow::Result<ServerConfig> {
        let mut cfg = ServerConfig::default();
        if let Some(path) = &self.config {
            let file = ConfigFile::load(path)?;
            file.apply(path, &mut cfg)?;
        }
        if let Some(v) = self.listen {
            cfg.listen = v;
        }
        if let Some(v) = self.data_dir {
            cfg.data_dir = v;
        }
        if let Some(v) = self.database_url {
            cfg.database_url = Some(v);
        }
        if let Some(v) = self.extensions_dir {
            cfg.extensions_dir = Some(v);
        }
        if let Some(v) = self.builtin_dir {
            cfg.builtin_dir = Some(v);
        }
        if self.json_logs {
            cfg.json_logs = true;
        }
        if let Some(v) = self.secret_key_file {
            cfg.secret_key_file = Some(v);
        }
        if let Some(v) = self.tls_cert {
            cfg.tls_cert = Some(v);
        }
        if let Some(v) = self.tls_key {
            cfg.tls_key = Some(v);
        }
        cfg.admin_password = std::env::var("TRELLIS_ADMIN_PASSWORD")
            .ok()
            .filter(|s| !s.is_empty());
        Ok(cfg)
    }
}

/// Whether log lines may carry ANSI colours: only on a terminal, and never with `NO_COLOR` set.
pub fn log_colours() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

fn init_logs(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("TRELLIS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(log_colours())
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let cfg = args.into_config()?;
    init_logs(cfg.json_logs);
    let scheme = if cfg.tls_cert.is_some() {
        "https"
    } else {
        "http"
    };
    let running = trellis_server::start(cfg)
        .await
        .map_err(|e| anyhow::anyhow!(error_chain(&e)))?;
    let mut out = std::io::stdout();
    writeln!(out, "Trellis is listening on {scheme}://{}", running.addr)?;
    writeln!(
        out,
        "  CloudStack API: {scheme}://{}/client/api",
        running.addr
    )?;
    writeln!(out, "  Web console:    {scheme}://{}/", running.addr)?;
    if let Some(p) = &running.generated_admin_password {
        writeln!(
            out,
            "  First start: created user 'admin' with password: {p}"
        )?;
        writeln!(
            out,
            "  (shown once; set TRELLIS_ADMIN_PASSWORD before the first start to choose it;"
        )?;
        writeln!(
            out,
            "  lost it? stop the server and run `trellis admin reset-password --data-dir ...`)"
        )?;
    }
    writeln!(out, "  New here? `trellis quickstart` seeds a ready zone whose instances run as local QEMU VMs.")?;
    out.flush()?;
    running.run_until_signal().await;
    Ok(())
}

/// An error with its sources, `a: b: c`.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(x) = src {
        s.push_str(": ");
        s.push_str(&x.to_string());
        src = x.source();
    }
    s
}

/// `trellis help` and `trellis help <subcommand>` print clap's help; `help` followed by an API
/// is the API's help, handled with the other API words.
fn subcommand_help(words: &[String]) -> Option<anyhow::Result<u8>> {
    use clap::CommandFactory;
    if words.first().map(String::as_str) != Some("help") {
        return None;
    }
    let mut cli = Cli::command();
    let target = match words.get(1) {
        None => Some(&mut cli),
        Some(name) if name != "help" => cli.find_subcommand_mut(name),
        Some(_) => None,
    }?;
    Some(target.print_help().map(|()| 0).map_err(anyhow::Error::from))
}

/// A subcommand one letter away from the first word (`trellis serv`), unless a second word
/// makes it an API verb and noun.
fn misspelt_subcommand(words: &[String]) -> Option<String> {
    use clap::CommandFactory;
    let first = words.first()?;
    let noun_follows = words.get(1).is_some_and(|w| !w.starts_with('-'));
    if noun_follows || first.len() < 4 || first.contains('=') {
        return None;
    }
    Cli::command()
        .get_subcommands()
        .map(|c| c.get_name().to_string())
        .find(|name| !name.starts_with('_') && apis::distance(first, name) <= 1)
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let _ = writeln!(
                std::io::stderr(),
                "trellis: cannot start the async runtime: {e}"
            );
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(async move {
        match cli.command {
            Command::Serve(a) => serve(a).await.map(|_| 0),
            Command::Api(a) => api::run(a).await,
            Command::Shell(a) => api::shell(a).await,
            Command::Logout(a) => api::logout(a).await,
            Command::Completion(a) => completion::script(&a),
            Command::Complete(a) => completion::complete(a).await,
            Command::Words(words) => match subcommand_help(&words) {
                Some(result) => result,
                None => match misspelt_subcommand(&words) {
                    Some(name) => {
                        let _ = writeln!(
                            std::io::stderr(),
                            "error: unknown command {}: did you mean {name}?",
                            words[0]
                        );
                        Ok(2)
                    }
                    None => api::run_words(words).await,
                },
            },
            Command::Admin(a) => admin::run(a).await,
            Command::Extension(ExtensionCommand::Check(a)) => check::run(a).await,
            Command::Quickstart(a) => quickstart::run(a).await,
            Command::Sim(s) => {
                init_logs(false);
                match s {
                    SimCommand::Proxmox(a) => trellis_sim_proxmox::run(a).await,
                    SimCommand::Maas(a) => trellis_sim_maas::run(a).await,
                    SimCommand::Hyperv(a) => trellis_sim_hyperv::run(a).await,
                }
                .map(|_| 0)
            }
        }
    });
    match result {
        Ok(0) => std::process::ExitCode::SUCCESS,
        Ok(code) => std::process::ExitCode::from(code),
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "trellis: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
