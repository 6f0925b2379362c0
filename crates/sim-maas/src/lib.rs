//! A simulator of Canonical MAAS's 2.0 REST API, for tests and offline work.
//!
//! It speaks the real protocol, so the built-in MAAS extension (or any MAAS client) cannot tell
//! it from a small MAAS region: `GET/POST /MAAS/api/2.0/machines/`, `…/machines/{system_id}/`,
//! `op=` dispatch from the query string, the form body or an `op-<name>` path suffix, OAuth 1.0
//! with PLAINTEXT or HMAC-SHA1 signatures, and MAAS's status codes and error texts (401, 404, 409,
//! 400 `Unrecognised signature`). State lives in memory.
//!
//! Machines follow MAAS's lifecycle: Ready → Allocated (`allocate`, or implicitly by `deploy`) →
//! Deploying → Deployed; `release` → Releasing → Ready; `power_on`/`power_off` need an owner.
//! Transitions complete after a configurable number of polls (`GET` of the machine, the machine
//! list or `query_power_state`), or only when the test says so ([`SimMode::Explicit`]).
//! Faults are injectable while running: fail the next deploys, fail the next requests with a
//! status, lose the answer to the next request of an operation (after it took effect), answer
//! slowly, or stop answering.
//!
//! The simulator runs on its own thread and runtime, so synchronous and asynchronous tests use it
//! alike; dropping the [`MaasSim`] stops it. [`run`] is the standalone entry point behind
//! `trellis sim maas`.

mod http;
mod machine;
pub mod oauth;
mod state;

pub use machine::{Interface, MachineStatus, PowerState};
pub use oauth::{ApiKey, SignatureMethod};
pub use state::{MachineView, RecordedRequest, SimMode};

use anyhow::Context as _;
use state::{Behaviour, Shared};
use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::sync::oneshot;

/// The API key the simulator accepts unless told otherwise (`consumer:token:secret`).
pub const DEFAULT_API_KEY: &str =
    "TrellisSimConsumer:TrellisSimToken00:TrellisSimSecret000000000000000";

/// The port MAAS listens on.
pub const DEFAULT_PORT: u16 = 5240;

/// The user every request made with the configured key acts as.
pub const SIM_USER: &str = "admin";

/// How to start a simulator.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Where to listen; port 0 picks a free port.
    pub listen: SocketAddr,
    /// How many Ready machines to create.
    pub machines: usize,
    pub api_key: ApiKey,
    pub mode: SimMode,
    /// Polls answered with "Deploying" before the deployment completes.
    pub deploy_polls: u32,
    /// Polls answered with "Releasing" before the machine is Ready again.
    pub release_polls: u32,
    /// Polls answered with the old power state after `power_on`/`power_off` (0: immediate).
    pub power_polls: u32,
    /// The series deployed when a deploy names none.
    pub default_distro_series: String,
}

impl Default for SimConfig {
    fn default() -> SimConfig {
        SimConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            machines: 4,
            api_key: default_api_key(),
            mode: SimMode::Auto,
            deploy_polls: 2,
            release_polls: 1,
            power_polls: 0,
            default_distro_series: "jammy".into(),
        }
    }
}

fn default_api_key() -> ApiKey {
    match DEFAULT_API_KEY.parse() {
        Ok(key) => key,
        Err(_) => unreachable!("the default api key has three parts"),
    }
}

/// Why the simulator did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen on {addr}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start the simulator runtime")]
    Runtime(#[source] std::io::Error),
}

/// A running simulator. Dropping it stops the server.
pub struct MaasSim {
    addr: SocketAddr,
    api_key: ApiKey,
    shared: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl MaasSim {
    /// Bind, then serve on a dedicated thread until dropped.
    pub fn start(config: SimConfig) -> Result<MaasSim, StartError> {
        // Bound here, so that a busy port is reported to the caller (also from within a runtime).
        let listener = std::net::TcpListener::bind(config.listen)
            .and_then(|listener| listener.set_nonblocking(true).map(|()| listener))
            .map_err(|source| StartError::Bind {
                addr: config.listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| StartError::Bind {
            addr: config.listen,
            source,
        })?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(StartError::Runtime)?;
        let behaviour = Behaviour {
            mode: config.mode,
            deploy_polls: config.deploy_polls,
            release_polls: config.release_polls,
            power_polls: config.power_polls,
            default_distro_series: config.default_distro_series.clone(),
        };
        let keys = vec![(config.api_key.clone(), SIM_USER.to_string())];
        let shared = Arc::new(Shared::new(behaviour, keys, config.machines));
        let app = http::router(shared.clone());
        let (shutdown, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(format!("maas-sim-{}", addr.port()))
            .spawn(move || {
                runtime.block_on(async move {
                    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                        return;
                    };
                    let Ok(server) = trellis_simkit::serve_listener(app, listener, false) else {
                        return;
                    };
                    // A send or a dropped sender both mean: stop.
                    let _ = stopped.await;
                    // Drops the connections still in flight (hanging ones too).
                    server.shutdown().await;
                });
            })
            .map_err(StartError::Runtime)?;
        Ok(MaasSim {
            addr,
            api_key: config.api_key,
            shared,
            shutdown: Some(shutdown),
            thread: Some(thread),
        })
    }

    /// The address the simulator listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The MAAS URL to configure clients with, e.g. `http://127.0.0.1:5240/MAAS`.
    pub fn url(&self) -> String {
        format!("http://{}/MAAS", self.addr)
    }

    /// The accepted API key as `consumer:token:secret`.
    pub fn api_key(&self) -> String {
        self.api_key.to_string()
    }

    /// Every machine, in creation order.
    pub fn machines(&self) -> Vec<MachineView> {
        self.shared.machines().iter().map(MachineView::of).collect()
    }

    /// One machine by system id.
    pub fn machine(&self, system_id: &str) -> Option<MachineView> {
        self.shared
            .machines()
            .iter()
            .find(|m| m.system_id == system_id)
            .map(MachineView::of)
    }

    /// Every request served so far (authenticated or not).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.requests()
    }

    /// The next `count` deployments end in "Failed deployment".
    pub fn fail_next_deploys(&self, count: u32) {
        self.shared.faults().fail_deploys = count;
    }

    /// The next `count` authenticated requests are answered with `status` and no effect.
    pub fn fail_next_requests(&self, count: u32, status: u16) {
        let mut faults = self.shared.faults();
        faults.fail_requests = count;
        faults.fail_status = status;
    }

    /// The next request with operation `op` takes effect, but its answer is replaced by
    /// `status` (a proxy timing out after MAAS did the work).
    pub fn lose_next_answer(&self, op: &str, status: u16) {
        self.shared.faults().lose_answer = Some((op.to_string(), status));
    }

    /// Delay every answer by `latency`.
    pub fn set_latency(&self, latency: Duration) {
        self.shared.transport.set_delay(latency);
    }

    /// While set, requests are accepted but never answered.
    pub fn set_unresponsive(&self, unresponsive: bool) {
        self.shared.transport.set_unresponsive(unresponsive);
    }

    /// Complete the machine's pending transitions now. `false` if there is no such machine.
    pub fn advance(&self, system_id: &str) -> bool {
        self.with_machine(system_id, machine::Machine::advance)
    }

    /// Mark a machine Broken, as an operator (or a failed BMC) would.
    pub fn mark_broken(&self, system_id: &str) -> bool {
        self.with_machine(system_id, |machine| {
            machine.mark_broken("marked broken by the test")
        })
    }

    /// Change a machine's power state out of band (someone pressed the button).
    pub fn set_power_state(&self, system_id: &str, power_state: PowerState) -> bool {
        self.with_machine(system_id, |machine| {
            machine.power_state = power_state;
            machine.power_pending = None;
        })
    }

    /// Rename a machine.
    pub fn set_hostname(&self, system_id: &str, hostname: &str) -> bool {
        self.with_machine(system_id, |machine| machine.hostname = hostname.to_string())
    }

    /// Give a machine tags (allocation constraints match on them).
    pub fn set_tags(&self, system_id: &str, tags: &[&str]) -> bool {
        self.with_machine(system_id, |machine| {
            machine.tags = tags.iter().map(|t| t.to_string()).collect()
        })
    }

    fn with_machine(&self, system_id: &str, change: impl FnOnce(&mut machine::Machine)) -> bool {
        let mut machines = self.shared.machines();
        match machines.iter_mut().find(|m| m.system_id == system_id) {
            Some(machine) => {
                change(machine);
                true
            }
            None => false,
        }
    }
}

impl Drop for MaasSim {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Command-line options of `trellis sim maas`.
#[derive(Debug, Clone, clap::Args)]
pub struct SimArgs {
    /// Address to listen on (MAAS uses port 5240).
    #[arg(long, default_value = "127.0.0.1:5240")]
    pub listen: SocketAddr,
    /// Number of Ready machines to create.
    #[arg(long, default_value_t = 4)]
    pub machines: usize,
    /// API key accepted by the simulator, as consumer_key:token_key:token_secret.
    #[arg(long, default_value = DEFAULT_API_KEY)]
    pub apikey: String,
    /// Polls a deployment stays in "Deploying" before it completes.
    #[arg(long, default_value_t = 2)]
    pub deploy_polls: u32,
}

/// Run the simulator until Ctrl-C, printing its URL and API key.
pub async fn run(args: SimArgs) -> anyhow::Result<()> {
    let api_key: ApiKey = args.apikey.parse().context("invalid --apikey")?;
    let config = SimConfig {
        listen: args.listen,
        machines: args.machines,
        api_key,
        deploy_polls: args.deploy_polls,
        ..SimConfig::default()
    };
    let sim = MaasSim::start(config).context("cannot start the maas simulator")?;
    let mut banner = format!(
        "MAAS simulator listening on {}\napi key: {}\nmachines:\n",
        sim.url(),
        sim.api_key()
    );
    for machine in sim.machines() {
        banner.push_str(&format!(
            "  {}  {}  {}  {}\n",
            machine.system_id,
            machine.hostname,
            machine
                .mac_addresses
                .first()
                .map(String::as_str)
                .unwrap_or("-"),
            machine.status.name()
        ));
    }
    banner.push_str("press Ctrl-C to stop\n");
    std::io::stdout()
        .write_all(banner.as_bytes())
        .context("cannot write to stdout")?;
    tokio::signal::ctrl_c()
        .await
        .context("cannot wait for ctrl-c")?;
    tokio::task::spawn_blocking(move || drop(sim))
        .await
        .context("cannot stop the simulator")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        sim: SimArgs,
    }

    #[test]
    fn standalone_defaults() {
        let cli = Cli::parse_from(["sim"]);
        assert_eq!(
            cli.sim.listen,
            SocketAddr::from(([127, 0, 0, 1], DEFAULT_PORT))
        );
        assert_eq!(cli.sim.machines, 4);
        assert_eq!(cli.sim.apikey, DEFAULT_API_KEY);
        assert!(cli.sim.apikey.parse::<ApiKey>().is_ok());
        let cli = Cli::parse_from([
            "sim",
            "--listen",
            "0.0.0.0:15240",
            "--machines",
            "9",
            "--apikey",
            "a:b:c",
        ]);
        assert_eq!(
            (
                cli.sim.listen.port(),
                cli.sim.machines,
                cli.sim.apikey.as_str()
            ),
            (15240, 9, "a:b:c")
        );
    }

    #[test]
    fn start_and_stop() {
        let sim = MaasSim::start(SimConfig {
            machines: 3,
            ..SimConfig::default()
        })
        .unwrap();
        assert_ne!(sim.addr().port(), 0);
        assert!(sim.url().ends_with("/MAAS"));
        assert_eq!(sim.machines().len(), 3);
        let id = sim.machines()[0].system_id.clone();
        assert!(sim.mark_broken(&id));
        assert_eq!(sim.machine(&id).unwrap().status, MachineStatus::Broken);
        assert!(!sim.advance("nosuch"));
        drop(sim);
    }

    #[tokio::test]
    async fn starts_and_serves_from_within_a_runtime() {
        let sim = MaasSim::start(SimConfig::default()).unwrap();
        let url = format!("{}/api/version/", sim.url());
        let answer = tokio::task::spawn_blocking(move || {
            use std::io::{Read as _, Write as _};
            let mut stream = std::net::TcpStream::connect(sim.addr()).unwrap();
            let path = url.split_once("/MAAS").unwrap().1;
            write!(
                stream,
                "GET /MAAS{path} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n"
            )
            .unwrap();
            let mut answer = String::new();
            stream.read_to_string(&mut answer).unwrap();
            drop(sim);
            answer
        })
        .await
        .unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.ends_with("2.0"), "{answer}");
    }
}
