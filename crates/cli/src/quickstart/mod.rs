//! `trellis quickstart`: a management server ready to run virtual machines on this machine.
//!
//! It starts the server in-process on a data directory (default `./trellis-data`), then seeds it
//! through its own CloudStack API, logged in as `admin`: a zone, a cluster bound to the built-in
//! `Local` extension (QEMU/KVM on this machine) with one host, a small and a medium offering, a
//! template bound to `Local`, and an L2 network. It prints the web console URL, the admin
//! credentials and a `trellis api deployVirtualMachine …` line that works as printed, then serves
//! until Ctrl-C. `--with-sims` also starts the Proxmox VE, MAAS and Hyper-V simulators (on free
//! ports unless `--proxmox-port`, `--maas-port` or `--hyperv-port` pin them) and seeds a cluster,
//! host and template for each of those built-ins. `--vnc-port-base` sets where the VNC ports of
//! Local instances start (the `vnc_port_base` detail of the seeded host).
//!
//! Running it again on the same data directory seeds nothing twice: every seed is looked up by
//! name first, and the admin password is kept in `<data-dir>/quickstart.json` (mode 0600).

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use trellis_client::Client;
use trellis_server::config::ServerConfig;

mod report;
mod seed;

use seed::seed;

/// Names of what quickstart seeds.
pub const ZONE: &str = "quickstart";
pub const LOCAL_CLUSTER: &str = "local";
pub const LOCAL_HOST: &str = "localhost";
pub const SMALL_OFFERING: &str = "Small Instance";
pub const MEDIUM_OFFERING: &str = "Medium Instance";
pub const LOCAL_TEMPLATE: &str = "blank-disk";
pub const NETWORK: &str = "quickstart-l2";
/// The file, in the data directory, holding the admin credentials quickstart chose.
pub const CREDENTIALS_FILE: &str = "quickstart.json";

const ADMIN: &str = "admin";
const LOCAL_BINARY: &str = "trellis-local";

#[derive(clap::Args, Debug, Clone)]
pub struct QuickstartArgs {
    /// Address to listen on.
    #[arg(long, env = "TRELLIS_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Where state lives (database, extensions, the Local extension's VMs).
    #[arg(long, env = "TRELLIS_DATA_DIR", default_value = "./trellis-data")]
    data_dir: PathBuf,
    /// Directory holding the built-in extension binaries; default: next to this executable.
    #[arg(long, env = "TRELLIS_BUILTIN_DIR")]
    builtin_dir: Option<PathBuf>,
    /// Also start the Proxmox VE, MAAS and Hyper-V simulators and seed a cluster for each.
    #[arg(long)]
    with_sims: bool,
    /// Port of the Proxmox VE simulator (with --with-sims) [default: a free port].
    #[arg(long, value_name = "PORT", requires = "with_sims")]
    proxmox_port: Option<u16>,
    /// Port of the MAAS simulator (with --with-sims) [default: a free port].
    #[arg(long, value_name = "PORT", requires = "with_sims")]
    maas_port: Option<u16>,
    /// Port of the Hyper-V (WinRM) simulator (with --with-sims) [default: a free port].
    #[arg(long, value_name = "PORT", requires = "with_sims")]
    hyperv_port: Option<u16>,
    /// First port the VNC servers of Local instances may take (sets the `vnc_port_base` detail
    /// of the seeded host; at least 5900) [default: 5900].
    #[arg(long, value_name = "PORT", value_parser = clap::value_parser!(u16).range(5900..))]
    vnc_port_base: Option<u16>,
}

/// The simulators' ports asked for on the command line (`None`: a free port).
#[derive(Debug, Clone, Copy, Default)]
struct SimPorts {
    proxmox: Option<u16>,
    maas: Option<u16>,
    hyperv: Option<u16>,
}

/// The admin credentials quickstart uses, kept in the data directory.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Credentials {
    username: String,
    password: String,
}

impl Credentials {
    fn path(data_dir: &Path) -> PathBuf {
        data_dir.join(CREDENTIALS_FILE)
    }

    /// The saved credentials, else `TRELLIS_ADMIN_PASSWORD`, else a new random password.
    fn load_or_choose(data_dir: &Path) -> anyhow::Result<Credentials> {
        let path = Credentials::path(data_dir);
        match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text)
                .with_context(|| format!("invalid credentials file {}", path.display())),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                let password = std::env::var("TRELLIS_ADMIN_PASSWORD")
                    .ok()
                    .filter(|p| !p.is_empty())
                    .map(Ok)
                    .unwrap_or_else(random_password)?;
                Ok(Credentials {
                    username: ADMIN.into(),
                    password,
                })
            }
            Err(error) => Err(error).with_context(|| format!("cannot read {}", path.display())),
        }
    }

    fn save(&self, data_dir: &Path) -> anyhow::Result<()> {
        use std::os::unix::fs::OpenOptionsExt;
        let path = Credentials::path(data_dir);
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        file.write_all(serde_json::to_string_pretty(self)?.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))
    }
}

fn random_password() -> anyhow::Result<String> {
    use std::io::Read as _;
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let mut bytes = [0u8; 20];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut source| source.read_exact(&mut bytes))
        .context("cannot read random bytes for the admin password")?;
    Ok(bytes
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect())
}

fn init_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("TRELLIS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(crate::log_colours())
        .with_writer(std::io::stderr)
        .init();
}

/// Runs quickstart until Ctrl-C.
pub async fn run(args: QuickstartArgs) -> anyhow::Result<u8> {
    init_logs();
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("cannot create {}", args.data_dir.display()))?;
    let data_dir = args
        .data_dir
        .canonicalize()
        .with_context(|| format!("cannot resolve {}", args.data_dir.display()))?;
    let builtin_dir = match &args.builtin_dir {
        Some(dir) => dir.clone(),
        None => std::env::current_exe()
            .context("cannot tell where this executable is")?
            .parent()
            .map(Path::to_path_buf)
            .context("this executable has no directory")?,
    };
    if !builtin_dir.join(LOCAL_BINARY).is_file() {
        anyhow::bail!(
            "the Local extension binary {LOCAL_BINARY} is not in {}; build it next to trellis with: cargo build -p trellis-cli -p trellis-ext-local",
            builtin_dir.display()
        );
    }
    let credentials = Credentials::load_or_choose(&data_dir)?;
    let cfg = ServerConfig {
        listen: args.listen,
        data_dir: data_dir.clone(),
        builtin_dir: Some(builtin_dir.clone()),
        admin_password: Some(credentials.password.clone()),
        ..ServerConfig::default()
    };
    let running = trellis_server::start(cfg)
        .await
        .map_err(|e| anyhow::anyhow!(crate::error_chain(&e)))?;
    let host = match running.addr.ip() {
        ip if ip.is_unspecified() => "127.0.0.1".to_string(),
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        ip => ip.to_string(),
    };
    let base = format!("http://{host}:{}", running.addr.port());
    let api_url = format!("{base}/client/api");
    let sim_ports = args.with_sims.then_some(SimPorts {
        proxmox: args.proxmox_port,
        maas: args.maas_port,
        hyperv: args.hyperv_port,
    });
    let prepared = prepare(
        &api_url,
        &credentials,
        &data_dir,
        sim_ports,
        args.vnc_port_base,
    )
    .await;
    let (seeded, sims) = match prepared {
        Ok(ready) => ready,
        Err(error) => {
            running.shutdown().await;
            return Err(error);
        }
    };
    let report = Report {
        base: &base,
        api_url: &api_url,
        credentials: &credentials,
        data_dir: &args.data_dir,
        builtin_dir: &builtin_dir,
        seeded: &seeded,
        sims: sims.as_ref(),
    };
    let mut out = std::io::stdout();
    out.write_all(report.render().as_bytes())?;
    out.flush()?;
    running.run_until_signal().await;
    if let Some(sims) = sims {
        sims.stop().await;
    }
    Ok(0)
}

/// Logs in, saves the credentials, starts the simulators and seeds.
async fn prepare(
    api_url: &str,
    credentials: &Credentials,
    data_dir: &Path,
    sim_ports: Option<SimPorts>,
    vnc_port_base: Option<u16>,
) -> anyhow::Result<(Seeded, Option<Sims>)> {
    let client = Client::login(api_url, &credentials.username, &credentials.password, None)
        .await
        .with_context(|| {
            format!(
                "cannot log in as {}: if {} was set up without quickstart, set TRELLIS_ADMIN_PASSWORD to its admin password, or use a fresh --data-dir",
                credentials.username,
                data_dir.display()
            )
        })?;
    credentials.save(data_dir)?;
    let sims = match sim_ports {
        Some(ports) => Some(Sims::start(ports).await?),
        None => None,
    };
    let seeded = seed(&client, sims.as_ref(), vnc_port_base).await?;
    Ok((seeded, sims))
}

/// The ids of what was seeded.
#[derive(Debug, Clone)]
struct Seeded {
    zone: String,
    small: String,
    medium: String,
    template: String,
    network: String,
    local_ready: bool,
    sim_clusters: Vec<SimSeed>,
}

#[derive(Debug, Clone)]
struct SimSeed {
    extension: &'static str,
    binary: &'static str,
    cluster: &'static str,
    template: String,
    url: String,
}

/// The simulators of `--with-sims`.
struct Sims {
    proxmox: trellis_sim_proxmox::ProxmoxSim,
    maas: trellis_sim_maas::MaasSim,
    hyperv: trellis_sim_hyperv::HyperVSim,
}

/// What to seed for one simulator.
struct SimPlan {
    extension: &'static str,
    binary: &'static str,
    cluster: &'static str,
    host: &'static str,
    template: &'static str,
    url: String,
    host_details: Vec<(&'static str, String)>,
    template_details: Vec<(&'static str, &'static str)>,
}

impl Sims {
    async fn start(ports: SimPorts) -> anyhow::Result<Sims> {
        let mut proxmox_config = trellis_sim_proxmox::SimConfig::default();
        proxmox_config.listen.set_port(ports.proxmox.unwrap_or(0));
        let proxmox_listen = proxmox_config.listen;
        let proxmox = tokio::task::spawn_blocking(move || {
            trellis_sim_proxmox::ProxmoxSim::start(proxmox_config)
        })
        .await
        .context("cannot start the proxmox simulator")?
        .with_context(|| format!("cannot start the proxmox simulator on {proxmox_listen}"))?;
        let mut maas_config = trellis_sim_maas::SimConfig::default();
        maas_config.listen.set_port(ports.maas.unwrap_or(0));
        let maas_listen = maas_config.listen;
        let maas = trellis_sim_maas::MaasSim::start(maas_config)
            .with_context(|| format!("cannot start the maas simulator on {maas_listen}"))?;
        let mut hyperv_config = trellis_sim_hyperv::SimConfig::default();
        hyperv_config.listen.set_port(ports.hyperv.unwrap_or(0));
        let hyperv_listen = hyperv_config.listen;
        let hyperv = trellis_sim_hyperv::HyperVSim::start(hyperv_config)
            .await
            .with_context(|| format!("cannot start the hyper-v simulator on {hyperv_listen}"))?;
        Ok(Sims {
            proxmox,
            maas,
            hyperv,
        })
    }

    fn seeds(&self) -> Vec<SimPlan> {
        let proxmox = self.proxmox.config();
        let hyperv_addr = self.hyperv.addr();
        vec![
            SimPlan {
                extension: "Proxmox",
                binary: "trellis-proxmox",
                cluster: "proxmox-sim",
                host: "proxmox-sim",
                template: "ubuntu-2404 (Proxmox simulator)",
                url: self.proxmox.base_url(),
                host_details: vec![
                    ("url", self.proxmox.base_url()),
                    ("user", proxmox.user.clone()),
                    ("token", proxmox.token.clone()),
                    ("secret", proxmox.secret.clone()),
                    ("node", proxmox.node.clone()),
                    ("network_bridge", "vmbr0".into()),
                    ("verify_tls_certificate", "false".into()),
                ],
                template_details: vec![("template_id", "9000")],
            },
            SimPlan {
                extension: "MaaS",
                binary: "trellis-maas",
                cluster: "maas-sim",
                host: "maas-sim",
                template: "jammy (MAAS simulator)",
                url: self.maas.url(),
                host_details: vec![
                    ("endpoint", self.maas.url()),
                    ("apikey", self.maas.api_key()),
                ],
                template_details: vec![("distro_series", "jammy")],
            },
            SimPlan {
                extension: "HyperV",
                binary: "trellis-hyperv",
                cluster: "hyperv-sim",
                host: "hyperv-sim",
                template: "ubuntu-24.04 (Hyper-V simulator)",
                url: self.hyperv.url(),
                host_details: vec![
                    ("url", format!("127.0.0.1:{}", hyperv_addr.port())),
                    ("username", trellis_sim_hyperv::DEFAULT_USER.into()),
                    ("password", trellis_sim_hyperv::DEFAULT_PASSWORD.into()),
                    ("verify_tls_certificate", "false".into()),
                    ("network_switch", "External".into()),
                    ("vhd_path", r"C:\Hyper-V\Virtual Hard Disks".into()),
                    ("vm_path", r"C:\Hyper-V\Virtual Machines".into()),
                    ("image_roots", r"C:\Templates;C:\ISO".into()),
                ],
                template_details: vec![
                    ("template_path", r"C:\Templates\ubuntu-24.04.vhdx"),
                    ("generation", "2"),
                ],
            },
        ]
    }

    async fn stop(self) {
        self.hyperv.shutdown().await;
        let Sims { proxmox, maas, .. } = self;
        let _ = tokio::task::spawn_blocking(move || {
            proxmox.shutdown();
            drop(maas);
        })
        .await;
    }
}

/// What quickstart prints once it is ready.
struct Report<'a> {
    base: &'a str,
    api_url: &'a str,
    credentials: &'a Credentials,
    /// As given on the command line.
    data_dir: &'a Path,
    builtin_dir: &'a Path,
    seeded: &'a Seeded,
    sims: Option<&'a Sims>,
}

#[cfg(test)]
mod tests {
    use super::report::shell_quote;
    use super::seed::id_in;
    use super::*;

    #[test]
    fn shell_quoting() {
        assert_eq!(shell_quote("abc-DEF_1.2"), "abc-DEF_1.2");
        assert_eq!(
            shell_quote("http://127.0.0.1:8080/client/api"),
            "http://127.0.0.1:8080/client/api"
        );
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }

    #[test]
    fn ids_come_from_objects_or_lists() {
        let object = serde_json::json!({"zone": {"id": "z1"}});
        let list = serde_json::json!({"cluster": [{"id": "c1"}]});
        assert_eq!(id_in(&object, "zone").unwrap(), "z1");
        assert_eq!(id_in(&list, "cluster").unwrap(), "c1");
        assert!(id_in(&object, "host").is_err());
    }

    #[test]
    fn random_passwords_are_shell_safe() {
        let password = random_password().unwrap();
        assert_eq!(password.len(), 20);
        assert_eq!(shell_quote(&password), password);
    }
}
