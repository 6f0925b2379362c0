//! A simulated Hyper-V host reachable over WinRM, for offline development and tests.
//!
//! The simulator listens on HTTPS at `/wsman` with a throw-away certificate (signed by a
//! throw-away CA whose PEM it hands out), authenticates clients with NTLMv2 against one
//! configured account (bound to the TCP connection, as WinRM does), and implements the remote
//! shell operations of WS-Management: Create, Command, Receive, Signal and Delete, with the
//! SOAP faults Windows sends (operation timeouts on Receive, unknown shells and commands).
//!
//! Commands are `powershell -EncodedCommand …` (other `cmd.exe` command lines get a small
//! stand-in). Scripts run in an interpreter for the PowerShell subset that the Hyper-V
//! extension sends, over an in-memory [`HyperV`] model: switches, files (VHDX, ISO), VMs with
//! generation, memory, processors, state, network adapters with static MAC and access VLAN,
//! Secure Boot, DVD drives and checkpoints. Errors carry Hyper-V's texts and reach stderr as
//! CLIXML, and a failing script exits with 1.
//!
//! Differences from a real host worth knowing: `New-VM` refuses a name that already exists
//! (Hyper-V allows duplicates), `Start-VM` on a running VM fails (Hyper-V only warns), and
//! restoring a checkpoint leaves the VM off (as with production checkpoints).
//!
//! Tests start it on port 0 with [`HyperVSim::start`], inspect and seed the model with
//! [`HyperVSim::model`]/[`HyperVSim::model_mut`], and inject faults with [`HyperVSim::inject`].
//! [`run`] serves it standalone (`trellis sim hyperv`).

mod model;
mod ntlm;
mod ps;
mod server;
mod wsman;

pub use model::{
    normalize_path, Checkpoint, FileEntry, HyperV, NetworkAdapter, Vm, VmState, VmSwitch,
    DEFAULT_DIRECTORIES, DEFAULT_ISOS, DEFAULT_SWITCHES, DEFAULT_TEMPLATES,
};
pub use ps::ScriptOutcome;

use anyhow::Context as _;
use std::collections::HashMap;
use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The default user of the simulated host.
pub const DEFAULT_USER: &str = "Administrator";

/// The default password of the simulated host (documented; it guards nothing real).
pub const DEFAULT_PASSWORD: &str = "Trellis-Sim-1";

/// The computer name the simulated host reports.
pub const DEFAULT_COMPUTER_NAME: &str = "HYPERV-SIM";

/// How to run the simulator.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Where to listen; port 0 picks a free port.
    pub listen: SocketAddr,
    pub user: String,
    pub password: String,
    pub computer_name: String,
    /// More names (DNS or IP) for the server certificate besides localhost and loopback.
    pub extra_certificate_names: Vec<String>,
    /// Refuse NTLM exchanges without a channel binding token (like `CbtHardeningLevel=Strict`).
    pub require_channel_binding: bool,
    /// The initial host; `None` seeds [`HyperV::with_defaults`].
    pub host: Option<HyperV>,
}

impl Default for SimConfig {
    fn default() -> SimConfig {
        SimConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            user: DEFAULT_USER.to_string(),
            password: DEFAULT_PASSWORD.to_string(),
            computer_name: DEFAULT_COMPUTER_NAME.to_string(),
            extra_certificate_names: Vec::new(),
            require_channel_binding: false,
            host: None,
        }
    }
}

/// A fault to inject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// The next invocation of `cmdlet` (e.g. `Start-VM`) fails with `message`.
    FailCmdlet { cmdlet: String, message: String },
    /// The next `n` Receive requests answer with the OperationTimeout fault (0x80338029).
    ReceiveTimeouts(u32),
    /// The next `n` commands never finish: Receive waits out the operation timeout and faults,
    /// until the client signals terminate.
    HangCommands(u32),
}

/// A WS-Management operation seen by the simulator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operation {
    Create,
    Command,
    Receive,
    Signal,
    Delete,
    Other(String),
}

/// One recorded request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    pub operation: Operation,
    /// The authenticated user.
    pub user: String,
    pub shell_id: Option<String>,
    pub command_id: Option<String>,
    /// Command: the command line as received.
    pub command_line: Option<String>,
    /// Command: the decoded PowerShell script, if it was one.
    pub script: Option<String>,
    /// Command: the exit code the command finished with.
    pub exit_code: Option<i32>,
    /// Signal: the signal code URI.
    pub signal: Option<String>,
}

impl RequestRecord {
    pub(crate) fn new(operation: Operation, user: &str) -> RequestRecord {
        RequestRecord {
            operation,
            user: user.to_string(),
            shell_id: None,
            command_id: None,
            command_line: None,
            script: None,
            exit_code: None,
            signal: None,
        }
    }
}

#[derive(Default)]
pub(crate) struct FaultState {
    pub forced_failures: Vec<ps::ForcedFailure>,
    pub receive_timeouts: u32,
    pub hang_commands: u32,
}

pub(crate) struct Inner {
    pub host: HyperV,
    pub shells: HashMap<String, wsman::ShellState>,
    pub faults: FaultState,
    pub log: Vec<RequestRecord>,
    pub auth_failures: Vec<String>,
    pub authentications: usize,
}

pub(crate) struct Shared {
    pub config: SimConfig,
    pub endpoint: String,
    pub certificate_der: Vec<u8>,
    inner: Mutex<Inner>,
}

impl Shared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock only happens in a failing test; keep serving.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn record(&self, record: RequestRecord) {
        self.lock().log.push(record);
    }

    pub(crate) fn auth_failed(&self, reason: String) {
        tracing::debug!(%reason, "ntlm authentication failed");
        self.lock().auth_failures.push(reason);
    }

    pub(crate) fn auth_succeeded(&self) {
        self.lock().authentications += 1;
    }
}

#[cfg(test)]
pub(crate) fn test_shared() -> Arc<Shared> {
    let config = SimConfig::default();
    Arc::new(Shared {
        endpoint: "https://127.0.0.1:5986/wsman".to_string(),
        certificate_der: Vec::new(),
        inner: Mutex::new(Inner {
            host: HyperV::with_defaults(&config.computer_name),
            shells: HashMap::new(),
            faults: FaultState::default(),
            log: Vec::new(),
            auth_failures: Vec::new(),
            authentications: 0,
        }),
        config,
    })
}

/// A running simulator.
pub struct HyperVSim {
    shared: Arc<Shared>,
    addr: SocketAddr,
    ca_pem: String,
    shutdown: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl HyperVSim {
    /// Binds, generates certificates and starts serving.
    pub async fn start(mut config: SimConfig) -> anyhow::Result<HyperVSim> {
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("binding {}", config.listen))?;
        let addr = listener.local_addr().context("reading the bound address")?;
        let certificates = server::certificates(&server::certificate_names(
            addr,
            &config.extra_certificate_names,
        ))?;
        let host = config
            .host
            .take()
            .unwrap_or_else(|| HyperV::with_defaults(&config.computer_name));
        let endpoint = format!("https://{}/wsman", display_addr(addr));
        let shared = Arc::new(Shared {
            config,
            endpoint,
            certificate_der: certificates.leaf_der,
            inner: Mutex::new(Inner {
                host,
                shells: HashMap::new(),
                faults: FaultState::default(),
                log: Vec::new(),
                auth_failures: Vec::new(),
                authentications: 0,
            }),
        });
        let (shutdown, receiver) = watch::channel(false);
        let task = tokio::spawn(server::accept_loop(
            listener,
            certificates.acceptor,
            Arc::clone(&shared),
            receiver,
        ));
        Ok(HyperVSim {
            shared,
            addr,
            ca_pem: certificates.ca_pem,
            shutdown,
            task,
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `https://127.0.0.1:<port>/wsman` (loopback when listening on all interfaces).
    pub fn url(&self) -> String {
        self.shared.endpoint.clone()
    }

    /// PEM of the CA that signed the listener certificate, for clients that verify.
    pub fn ca_certificate_pem(&self) -> &str {
        &self.ca_pem
    }

    pub fn user(&self) -> &str {
        &self.shared.config.user
    }

    pub fn password(&self) -> &str {
        &self.shared.config.password
    }

    /// Reads the host model.
    pub fn model<R>(&self, read: impl FnOnce(&HyperV) -> R) -> R {
        read(&self.shared.lock().host)
    }

    /// Changes the host model (seeding, out-of-band changes).
    pub fn model_mut<R>(&self, change: impl FnOnce(&mut HyperV) -> R) -> R {
        change(&mut self.shared.lock().host)
    }

    /// Injects a fault.
    pub fn inject(&self, fault: Fault) {
        let mut inner = self.shared.lock();
        match fault {
            Fault::FailCmdlet { cmdlet, message } => inner
                .faults
                .forced_failures
                .push(ps::ForcedFailure { cmdlet, message }),
            Fault::ReceiveTimeouts(n) => inner.faults.receive_timeouts += n,
            Fault::HangCommands(n) => inner.faults.hang_commands += n,
        }
    }

    /// Removes all pending faults.
    pub fn clear_faults(&self) {
        self.shared.lock().faults = FaultState::default();
    }

    /// Every request so far, in order.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.shared.lock().log.clone()
    }

    /// The PowerShell scripts run so far, in order.
    pub fn scripts(&self) -> Vec<String> {
        self.shared
            .lock()
            .log
            .iter()
            .filter_map(|r| r.script.clone())
            .collect()
    }

    /// Forgets the recorded requests.
    pub fn clear_requests(&self) {
        self.shared.lock().log.clear();
    }

    /// Why authentications failed so far.
    pub fn auth_failures(&self) -> Vec<String> {
        self.shared.lock().auth_failures.clone()
    }

    /// How many NTLM exchanges succeeded (one per authenticated connection).
    pub fn authentications(&self) -> usize {
        self.shared.lock().authentications
    }

    /// Shells created and not yet deleted.
    pub fn open_shells(&self) -> usize {
        self.shared.lock().shells.len()
    }

    /// Stops serving and waits for the listener to close.
    pub async fn shutdown(self) {
        self.shutdown.send_replace(true);
        let _ = self.task.await;
    }
}

fn display_addr(addr: SocketAddr) -> String {
    match addr {
        SocketAddr::V4(v4) if v4.ip().is_unspecified() => format!("127.0.0.1:{}", v4.port()),
        SocketAddr::V6(v6) if v6.ip().is_unspecified() => format!("[::1]:{}", v6.port()),
        other => other.to_string(),
    }
}

/// Runs a script against a host directly, without WinRM (for unit tests of scripts).
pub fn run_script(host: &mut HyperV, script: &str) -> ScriptOutcome {
    ps::run_script(host, script, &mut Vec::new())
}

/// Command-line options of the standalone simulator (`trellis sim hyperv`).
#[derive(Debug, Clone, clap::Args)]
pub struct SimArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:5986")]
    pub listen: SocketAddr,
    /// The account clients authenticate as (NTLM).
    #[arg(long, default_value = DEFAULT_USER)]
    pub user: String,
    /// The account's password.
    #[arg(long, default_value = DEFAULT_PASSWORD)]
    pub password: String,
}

/// Serves the simulator until Ctrl-C, after printing its URL, credentials and CA certificate.
pub async fn run(args: SimArgs) -> anyhow::Result<()> {
    let config = SimConfig {
        listen: args.listen,
        user: args.user,
        password: args.password,
        ..SimConfig::default()
    };
    let sim = HyperVSim::start(config).await?;
    let templates = DEFAULT_TEMPLATES.join(", ");
    let switches: Vec<&str> = DEFAULT_SWITCHES.iter().map(|(name, _)| *name).collect();
    let banner = format!(
        "Hyper-V simulator (WinRM) listening on {url}\n\
         user: {user}\npassword: {password}\n\
         switches: {switches}\ntemplates: {templates}\nvhd_path: C:\\Hyper-V\\Virtual Hard Disks\n\
         The listener certificate is signed by this CA (trust it, or set verify_tls_certificate=false):\n{ca}\
         Press Ctrl-C to stop.\n",
        url = sim.url(),
        user = sim.user(),
        password = sim.password(),
        switches = switches.join(", "),
        ca = sim.ca_certificate_pem(),
    );
    let mut stdout = std::io::stdout();
    stdout
        .write_all(banner.as_bytes())
        .context("writing to stdout")?;
    stdout.flush().context("writing to stdout")?;
    tokio::signal::ctrl_c()
        .await
        .context("waiting for ctrl-c")?;
    sim.shutdown().await;
    Ok(())
}
